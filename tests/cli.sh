#!/usr/bin/env bash
# End-to-end checks of the gemma command line: what reaches stdout and stderr, exit codes,
# prompts from flags, files and pipes, subcommands, and bad input.
# Prints "ok   name" / "FAIL name" per check (tests/run.sh counts them).
GEMMA=${GEMMA_BIN:-./gemma}
FIX=${GEMMA_FIXTURES:-tests/fixtures}
T=build/tmp/cli
mkdir -p "$T"
M=$FIX/models/gemma3-q8_0.gguf

ok()   { echo "ok   cli: $1"; }
fail() { echo "FAIL cli: $1"; shift; for l in "$@"; do echo "    $l"; done; }
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name" "failed: $*"; fi
}
lines() { wc -l < "$1" | tr -d ' '; }

# run ARGS...: stdout -> $T/out, stderr -> $T/err, status -> $rc (stdin: /dev/null)
run() { "$GEMMA" "$@" > "$T/out" 2> "$T/err" < /dev/null; rc=$?; }

# --- help, version, usage errors ---
run --help
check "--help exits 0 and prints usage" test $rc -eq 0 -a -s "$T/out"
grep -q "usage: gemma" "$T/out" || fail "--help text" "$(head -3 "$T/out")"
run --version
check "--version names the kernel path" grep -q "kernels:" "$T/out"
run
check "no arguments is a usage error (2)" test $rc -eq 2
run -m "$M" -p hi --frobnicate
check "unknown flag: exit 2" test $rc -eq 2
check "unknown flag: one-line message naming it, with a hint" \
  bash -c "[ \$(wc -l < $T/err) -eq 1 ] && grep -q -- '--frobnicate' $T/err && grep -q -- '--help' $T/err"
run -m "$M" -p hi -n abc
check "bad -n value: exit 2" test $rc -eq 2
run -m "$M" -p hi --temp
check "missing value: exit 2" test $rc -eq 2
run -m "$M"
check "no prompt and no stdin text: usage error" test $rc -eq 2

# --- model file errors ---
run -m "$T/does-not-exist.gguf" -p hi
check "missing model: exit 3" test $rc -eq 3
check "missing model: one line naming the file" \
  bash -c "[ \$(wc -l < $T/err) -eq 1 ] && grep -q 'does-not-exist.gguf' $T/err"
head -c 100000 "$M" > "$T/truncated.gguf"
run -m "$T/truncated.gguf" -p hi
check "truncated model: exit 3 with one line" bash -c "[ $rc -eq 3 ] && [ \$(wc -l < $T/err) -eq 1 ]"
head -c 4096 /dev/urandom > "$T/garbage.gguf"
run -m "$T/garbage.gguf" -p hi
check "garbage file: exit 3" test $rc -eq 3
run -m "$FIX/tokenizer/gemma-3.gguf" -p hi
check "vocabulary-only file as a model: exit 3" test $rc -eq 3
grep -q "gemma-3.gguf" "$T/err" || fail "vocab-only error names the file" "$(cat "$T/err")"

# --- generation: stdout has only the generated text ---
run -m "$M" -p hello -n 8 --temp 0
cp "$T/out" "$T/hello.out"
check "-p hello -n 8 --temp 0: exit 0" test $rc -eq 0
check "generated text on stdout" test -s "$T/out"
check "stdout has no log lines" bash -c "! grep -q 'gemma:' $T/out"
check "stderr has the load summary and timings" \
  bash -c "grep -q 'loaded gemma3' $T/err && grep -q 'tokens/s' $T/err"
check "-n 8 generates 8 tokens" grep -q "generate *8 tokens" "$T/err"
echo hello | "$GEMMA" -m "$M" -n 8 --temp 0 > "$T/out" 2> "$T/err"; rc=$?
check "echo hello | gemma: same text as -p hello" cmp -s "$T/out" "$T/hello.out"
printf 'hello\n' > "$T/prompt.txt"
run -m "$M" -f "$T/prompt.txt" -n 8 --temp 0
check "-f FILE (trailing newline dropped): same text" cmp -s "$T/out" "$T/hello.out"
"$GEMMA" -m "$M" -f - -n 8 --temp 0 < "$T/prompt.txt" > "$T/out" 2> "$T/err"
check "-f - reads stdin" cmp -s "$T/out" "$T/hello.out"
run -m "$M" -p hello -n 8 --temp 0 --log-disable
check "--log-disable: empty stderr" test ! -s "$T/err"
check "--log-disable: same stdout" cmp -s "$T/out" "$T/hello.out"
run -m "$M" -p hello -n 8 --temp 0 --display-prompt
check "--display-prompt echoes the prompt first" \
  bash -c "[ \"\$(head -c 5 $T/out)\" = hello ] && [ \"\$(tail -c +6 $T/out)\" = \"\$(cat $T/hello.out)\" ]"
printf 'some notes' | "$GEMMA" -m "$M" -p "Summarize" -n 4 --temp 0 > "$T/out" 2>/dev/null
"$GEMMA" -m "$M" -p "$(printf 'some notes\n\nSummarize')" -n 4 --temp 0 > "$T/out2" 2>/dev/null < /dev/null
check "piped stdin + -p = stdin, blank line, -p" cmp -s "$T/out" "$T/out2"
run -m "$M" -p hello -n 0
check "-n 0 prints nothing and exits 0" bash -c "[ $rc -eq 0 ] && [ ! -s $T/out ]"
run -m "$M" -p hello -n 6 --seed 42 --temp 1
cp "$T/out" "$T/seed1"
run -m "$M" -p hello -n 6 --seed 42 --temp 1
check "same seed, same text" cmp -s "$T/out" "$T/seed1"
run -m "$M" -p hello -n 200 --ignore-eos -c 16 --raw
check "context full stops cleanly (exit 0, message)" bash -c "[ $rc -eq 0 ] && grep -q 'context full' $T/err"
run -m "$M" -p "$(printf 'word %.0s' $(seq 1 50))" -c 8
check "prompt longer than the context: exit 1 with a message" \
  bash -c "[ $rc -eq 1 ] && grep -q 'longer than the context' $T/err"

# --- a reader that goes away ---
( "$GEMMA" -m "$M" -p hello -n 64 --ignore-eos --temp 0 2>/dev/null; echo $? > "$T/status" ) | head -c 1 > /dev/null
check "stdout closed early (| head -c 1): exit 0" test "$(cat "$T/status")" = 0

# --- subcommands ---
run logits -m "$M" --ids 2,17,99 -o "$T/l.f32"
check "logits: 3 rows of 512 floats" bash -c "[ $rc -eq 0 ] && [ \$(stat -c %s $T/l.f32) -eq $((3*512*4)) ]"
run logits -m "$M" --ids 2,17,99 -o "$T/ld.f32" --decode
check "logits --decode: same size" test "$(stat -c %s "$T/ld.f32")" -eq $((3*512*4))
run logits -m "$M" --ids 2,99999 -o "$T/bad.f32"
check "logits: out-of-range id is an error" test $rc -ne 0
run tokenize -m "$FIX/tokenizer/gemma-3.gguf" -p "Hello world" --no-bos
check "tokenize 'Hello world' (gemma-3)" test "$(cat "$T/out")" = "9259 1902"
run tokenize -m "$FIX/tokenizer/gemma-3.gguf" -p "<start_of_turn>user"
check "tokenize parses special tokens and adds BOS" test "$(cat "$T/out")" = "2 105 2364"
run tokenize -m "$FIX/tokenizer/gemma-3.gguf" -p "<start_of_turn>" --no-bos --no-parse-special
check "tokenize --no-parse-special keeps control text as text" bash -c "[ \"\$(cat $T/out)\" != 105 ]"
run dequant -m "$FIX/quants/Q8_0.gguf" --tensor t -o "$T/q8.f32"
check "dequant Q8_0 is bit-exact" cmp -s "$T/q8.f32" "$FIX/quants/Q8_0.f32"
run dequant -m "$FIX/quants/Q8_0.gguf" --tensor nope -o "$T/x.f32"
check "dequant: unknown tensor is an error" test $rc -eq 3

# --- chat formatting, scripts ---
run -m "$M" -p hello -n 8 --temp 0 --raw
cp "$T/out" "$T/raw.out"
check "--raw is plain completion (differs from the chat-wrapped answer)" bash -c "! cmp -s $T/raw.out $T/hello.out"
run -m "$M" -p "<start_of_turn>user
hello<end_of_turn>
<start_of_turn>model
" -n 8 --temp 0 --raw
check "-p is wrapped as one user turn (same as writing the turn by hand with --raw)" cmp -s "$T/out" "$T/hello.out"
run -m "$M" -p hello -sys "Be brief." -n 8 --temp 0
cp "$T/out" "$T/sys.out"
run -m "$M" -p "<start_of_turn>user
Be brief.

hello<end_of_turn>
<start_of_turn>model
" -n 8 --temp 0 --raw
check "-sys is folded into the first user turn" cmp -s "$T/out" "$T/sys.out"
printf 'Be brief.\n' > "$T/sys.txt"
run -m "$M" -p hello -sysf "$T/sys.txt" -n 8 --temp 0
check "-sysf FILE equals -sys TEXT" cmp -s "$T/out" "$T/sys.out"
run -m "$M" -p hello -n 8 --temp 0 --json
check "--json: exit 0, one line" bash -c "[ $rc -eq 0 ] && [ \$(wc -l < $T/out) -eq 1 ]"
check "--json: has text, token counts, timings and stop reason" \
  bash -c "grep -q '\"text\":' $T/out && grep -q '\"generated\":8' $T/out && grep -q '\"stop_reason\":\"limit\"' $T/out && grep -q '\"prompt_tokens_per_second\"' $T/out"
if command -v python3 >/dev/null; then
  check "--json parses and its text equals the streamed text" python3 -c "
import json,sys
d=json.load(open('$T/out')); t=open('$T/hello.out','rb').read().decode('utf-8','replace')
sys.exit(0 if d['text']==t else 1)"
fi
run -m "$M" -p hello -n 24 --temp 0 --raw --ignore-eos
cp "$T/out" "$T/long.out"
R=$(head -c 12 "$T/long.out" | tail -c 3)
if [ -n "$R" ]; then
  run -m "$M" -p hello -n 24 --temp 0 --raw --ignore-eos -r "$R"
  full=$(cat "$T/long.out"); want=${full%%"$R"*}
  check "-r STR stops before STR and does not print it" bash -c "[ \"\$(cat $T/out)\" = \"\$1\" ] && grep -q 'reverse prompt' $T/err" _ "$want"
fi
run -m "$M" -p hello -n 60 --ignore-eos --raw -c 16 --context-shift
check "--context-shift: generation goes past the context size" bash -c "[ $rc -eq 0 ] && grep -q 'generate *60 tokens' $T/err"
run -m "$M" -p hello -n 60 --ignore-eos --raw -c 16 --context-shift --keep 2 --json
check "--context-shift --json reports the shifts" grep -q '"context_shifts":[1-9]' "$T/out"
"$GEMMA" -m "$M" -p hello -n 1000000 --ignore-eos --raw -c 64 --context-shift > "$T/out" 2> "$T/err" < /dev/null &
pid=$!; sleep 1; kill -INT $pid; wait $pid; rc=$?
check "SIGINT mid-generation: exit 130, text flushed, timings printed" \
  bash -c "[ $rc -eq 130 ] && [ -s $T/out ] && grep -q interrupted $T/err"
"$GEMMA" -m "$M" -p hello -n 1000000 --ignore-eos --raw -c 64 --context-shift > "$T/out" 2> "$T/err" < /dev/null &
pid=$!; sleep 1; kill -TERM $pid; wait $pid; rc=$?
check "SIGTERM mid-generation: exit 143" test $rc -eq 143
run -m "$M" -p hello -n 4 -v
check "-v prints a memory report" grep -q "memory: model" "$T/err"
check "-v says which weights were repacked at load" grep -qE "repacked [0-9]+ weight matrices \(Q8_0_R16|file's layout \(not repacked\)" "$T/err"
run -m "$M" -p hello -n 4 -v -nr
check "-nr (--no-repack): the weights stay in the file's layout" grep -q "file's layout (not repacked)" "$T/err"
run --completion-bash
check "--completion-bash prints a completion function" grep -q "complete -o default -F _gemma gemma" "$T/out"
run -m "$M" --think -p hello -n 4
check "--think on a non-Gemma-4 model warns and runs" bash -c "[ $rc -eq 0 ] && grep -q 'think' $T/err"
run -m "$M" --color sometimes -p hi
check "bad --color value: exit 2" test $rc -eq 2

# --- hostile runtime input ---
head -c 3000 /dev/urandom > "$T/garbage.txt"
run -m "$M" -f "$T/garbage.txt" -n 4 --raw
check "binary garbage as the prompt: exit 0" test $rc -eq 0
printf 'caf\xc3\xa9 \xff\xfe broken \xe2\x82 utf-8\x00 with a NUL' > "$T/bad-utf8.txt"
run -m "$M" -f "$T/bad-utf8.txt" -n 4 --raw
check "invalid UTF-8 and NUL bytes in the prompt: exit 0" test $rc -eq 0
printf '' > "$T/empty.txt"
run -m "$M" -f "$T/empty.txt" -n 4 --raw
check "empty prompt file with --raw: BOS only, exit 0" test $rc -eq 0
cp "$M" "$T/shrinking.gguf"
"$GEMMA" -m "$T/shrinking.gguf" -p hello -n 1000000 --ignore-eos --raw -c 64 --context-shift > /dev/null 2> "$T/err" < /dev/null &
pid=$!; sleep 0.5; truncate -s 4096 "$T/shrinking.gguf"; wait $pid; rc=$?
check "model truncated while in use: clean error, exit 3 (no crash)" \
  bash -c "[ $rc -eq 3 ] && grep -q 'truncated or changed' $T/err"

# --- install ---
make -s install BIN="$GEMMA" PREFIX="$PWD/$T/inst" > /dev/null 2>&1
check "make install PREFIX=... installs the binary and the man page" \
  bash -c "[ -x $T/inst/bin/gemma ] && grep -q '^.TH GEMMA 1' $T/inst/share/man/man1/gemma.1"
run -m "$M" -p hello -c 1000000000
check "a context larger than memory: exit 1, says how much is needed" \
  bash -c "[ $rc -eq 1 ] && grep -q 'GiB of KV cache, more than this machine' $T/err"
