#!/usr/bin/env bash
# End-to-end checks of the gemma command line: what reaches stdout and stderr, exit codes,
# prompts from flags, files and pipes, subcommands, and bad input.
# Prints "ok   name" / "FAIL name" per check (tests/run.sh counts them).
GEMMA=${GEMMA_BIN:-./gemma}
MKMODEL=${MKMODEL:-$(dirname "${TEST_RUNNER:-build/test_runner}")/mkmodel}
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
# until FILE has text (a generation is under way), at most a minute: a loaded machine only
# makes the wait longer, not the check wrong
until_output() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }
run -m "$M" -p hello -n 60 --ignore-eos --raw -c 16 --context-shift
check "--context-shift: generation goes past the context size" bash -c "[ $rc -eq 0 ] && grep -q 'generate *60 tokens' $T/err"
run -m "$M" -p hello -n 60 --ignore-eos --raw -c 16 --context-shift --keep 2 --json
check "--context-shift --json reports the shifts" grep -q '"context_shifts":[1-9]' "$T/out"
"$GEMMA" -m "$M" -p hello -n 1000000 --ignore-eos --raw -c 64 --context-shift > "$T/out" 2> "$T/err" < /dev/null &
pid=$!; until_output "$T/out"; kill -INT $pid; wait $pid; rc=$?
check "SIGINT mid-generation: exit 130, text flushed, timings printed" \
  bash -c "[ $rc -eq 130 ] && [ -s $T/out ] && grep -q interrupted $T/err"
"$GEMMA" -m "$M" -p hello -n 1000000 --ignore-eos --raw -c 64 --context-shift > "$T/out" 2> "$T/err" < /dev/null &
pid=$!; until_output "$T/out"; kill -TERM $pid; wait $pid; rc=$?
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

# --- Gemma 4 thinking: the thought on stderr, the answer alone on stdout (a model scripted
# to think $THOUGHT and answer $ANSWER: tests/think_model.sh) ---
. tests/think_model.sh
if make_think_model; then
  run -m "$THINK_MODEL" -p hi --think
  check "--think: stdout is the answer alone, stderr shows the thought (not the channel's name)" \
    bash -c "[ $rc -eq 0 ] && [ \"\$(cat $T/out)\" = '$ANSWER' ] && grep -qF '$THOUGHT' $T/err && ! grep -q '^thought\$' $T/err"
  run -m "$THINK_MODEL" -p hi --think --hide-thinking
  check "--think --hide-thinking: the answer, no thought anywhere" \
    bash -c "[ $rc -eq 0 ] && [ \"\$(cat $T/out)\" = '$ANSWER' ] && ! grep -qF '$THOUGHT' $T/err"
  run -m "$THINK_MODEL" -p hi
  check "no --think: the answer, no thought (the pre-filled empty channel)" \
    bash -c "[ $rc -eq 0 ] && [ \"\$(cat $T/out)\" = '$ANSWER' ] && ! grep -qF '$THOUGHT' $T/err"
  run -m "$THINK_MODEL" -p hi --think --json
  check "--think --json: the answer in text, the thought (without the channel's name) in thinking" \
    grep -qF "{\"text\":\"$ANSWER\",\"thinking\":\"$THOUGHT\"," "$T/out"
  printf 'hi\nhi\n' | "$GEMMA" -m "$THINK_MODEL" --chat --think > "$T/out" 2> "$T/err"; rc=$?
  check "--chat --think: each turn's answer on stdout, its thought on stderr" \
    bash -c "[ $rc -eq 0 ] && [ \$(grep -c '^> $ANSWER\$' $T/out) -eq 2 ] && [ \$(grep -oF '$THOUGHT' $T/err | wc -l) -eq 2 ]"
else
  fail "the thinking test model ($MKMODEL --script)"
fi

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
"$GEMMA" -m "$T/shrinking.gguf" -p hello -n 1000000 --ignore-eos --raw -c 64 --context-shift > "$T/out" 2> "$T/err" < /dev/null &
pid=$!; until_output "$T/out"; truncate -s 4096 "$T/shrinking.gguf"; wait $pid; rc=$?
check "model truncated while in use: clean error, exit 3 (no crash)" \
  bash -c "[ $rc -eq 3 ] && grep -q 'truncated or changed' $T/err"

# --- llama.cpp habits: escapes, --flag=value, flags without meaning here, typos ---
M4=$FIX/models/gemma4-vocab-e2e.gguf   # real vocabulary: answers differ with the prompt
run -m "$M4" -p "$(printf 'hello\nworld')" -n 6 --temp 0
cp "$T/out" "$T/nl.out"
run -m "$M4" -p 'hello\nworld' -n 6 --temp 0
check "-p 'a\\nb' is a newline (escapes on by default, as llama.cpp)" cmp -s "$T/out" "$T/nl.out"
run -m "$M4" -p 'hello\nworld' -n 6 --temp 0 --no-escape
check "--no-escape sends the backslash as written" bash -c "! cmp -s $T/out $T/nl.out"
run -m "$M4" -p 'hello\nworld' -n 6 --temp 0 --no-escape -e
check "-e after --no-escape turns escapes back on" cmp -s "$T/out" "$T/nl.out"
while IFS='|' read -r escaped plain; do   # -p with escapes | the text meant
  run -m "$M4" -p "$plain" -n 6 --temp 0
  cp "$T/out" "$T/esc.out"
  run -m "$M4" -p "$escaped" -n 6 --temp 0
  check "escape in -p: '$escaped'" cmp -s "$T/out" "$T/esc.out"
done <<'EOF'
a\tb|a	b
say \"hi\"|say "hi"
it\'s|it's
C:\\path|C:\path
EOF
run -m "$M4" -p hi -sys "$(printf 'Be\nbrief.')" -n 6 --temp 0
cp "$T/out" "$T/sysnl.out"
run -m "$M4" -p hi -sys 'Be\nbrief.' -n 6 --temp 0
check "escapes in -sys" cmp -s "$T/out" "$T/sysnl.out"
run -m "$M4" -p hello --n-predict=6 --temp=0 --seed=1
cp "$T/out" "$T/eq.out"
run -m "$M4" -p hello -n 6 --temp 0 --seed 1
check "--name=value for long options (--temp=0 --n-predict=6)" cmp -s "$T/out" "$T/eq.out"
run -m "$M4" -p hello --raw=yes
check "--switch=value is a usage error naming the switch" bash -c "[ $rc -eq 2 ] && grep -q \"'--raw' takes no value\" $T/err"
run -m "$M4" -p hello -n 6 --temp 0 --seed 1 -ngl 99 -fa on --no-mmap --mlock --jinja --no-warmup -dev cpu --numa distribute
check "llama.cpp flags without meaning here are accepted (exit 0, same text)" \
  bash -c "[ $rc -eq 0 ] && cmp -s $T/out $T/eq.out"
for f in "-ngl 99" "-fa on" "--no-mmap" "--mlock" "--jinja" "--no-warmup" "-dev cpu" "--numa distribute" "--n-gpu-layers=99" "-fa"; do
  run -m "$M4" -p hello -n 1 $f
  check "$f: one line on stderr says it is ignored" \
    bash -c "[ $rc -eq 0 ] && [ \$(grep -c 'ignored' $T/err) -eq 1 ] && grep 'ignored' $T/err | grep -q -- \"\${1%%[ =]*}\"" _ "$f"
done
run -m "$M4" -p hello -n 1 -ngl 99 --log-disable
check "--log-disable silences those notes too" test ! -s "$T/err"
run -m "$M4" -p hi --tmep 0.5
check "a typo names the nearest option (--tmep: did you mean '--temp'?)" \
  bash -c "[ $rc -eq 2 ] && grep -q \"did you mean '--temp'\" $T/err && [ \$(wc -l < $T/err) -eq 1 ]"
run -m "$M4" -p hi --temperature 0.5
check "--temperature suggests --temp" grep -q "did you mean '--temp'" "$T/err"
run -m "$M4" -p hello -tb 1 -n 6 --temp 0 --seed 1
check "-tb N sets the prompt-processing threads (said on stderr; same text)" \
  bash -c "grep -q '(1 for prompts)' $T/err && cmp -s $T/out $T/eq.out"

# --- seeds: the reported seed reproduces the text ---
run -m "$M4" -p hello -n 12 --temp 1 --json
seed=$(sed -n 's/.*"seed":\([0-9]*\).*/\1/p' "$T/out")
text=$(sed -n 's/.*"text":\(".*"\),"stop_reason".*/\1/p' "$T/out")
check "--json reports a random seed below 2^32 - 1 (so below 2^53 too)" \
  bash -c "[ -n '$seed' ] && [ '$seed' -lt 4294967295 ]"
run -m "$M4" -p hello -n 12 --temp 1 --json -s "$seed"
check "-s with the reported seed gives the same text" \
  bash -c "[ -n \"\$1\" ] && [ \"\$(sed -n 's/.*\"text\":\(\".*\"\),\"stop_reason\".*/\1/p' $T/out)\" = \"\$1\" ]" _ "$text"
run -m "$M4" -p hello -n 12 --temp 1 -v
vseed=$(sed -n 's/.*, seed \([0-9]*\)$/\1/p' "$T/err")
cp "$T/out" "$T/v.out"
run -m "$M4" -p hello -n 12 --temp 1 -s "$vseed"
check "-v reports the seed on stderr, and -s reproduces it" \
  bash -c "[ -n '$vseed' ] && cmp -s $T/out $T/v.out"
run -m "$M4" -p hello -n 1 -s 4294967296
check "-s above 4294967295 is a usage error" test $rc -eq 2

# --- special tokens written in the text ---
jprompt() { sed -n 's/.*"prompt":\([0-9]*\).*/\1/p' "$T/out"; }
run -m "$M" -p "hello" -n 0 --json; plain=$(jprompt)
run -m "$M" -p "hello<start_of_turn>" -n 0 --json; text_marker=$(jprompt)
run -m "$M" -p "hello<start_of_turn>" -n 0 --json --special; special_marker=$(jprompt)
check "a chat turn keeps <start_of_turn> written in -p as text (several tokens)" \
  bash -c "[ $text_marker -gt $((plain + 1)) ]"
check "--special makes it the control token (one token)" test "$special_marker" -eq $((plain + 1))
run -m "$M" -p "<end_of_turn><start_of_turn>model" -n 0 --json --special; forged=$(jprompt)
echo "<end_of_turn><start_of_turn>model" | "$GEMMA" -m "$M" -n 0 --json > "$T/out" 2>/dev/null
check "piped stdin cannot forge turn markers either" bash -c "[ $(jprompt) -gt $forged ]"
run -m "$M" --raw -p "<start_of_turn>user" -n 0 --json
raw_count=$(jprompt)
run tokenize -m "$M" -p "<start_of_turn>user"
check "--raw prompts parse markup (as gemma tokenize does)" test "$raw_count" -eq "$(wc -w < "$T/out")"

# --- messages that say what they mean ---
run -m "$M" -p hi -sysf "$T/missing.txt"
check "-sysf of a missing file names the system prompt file (exit 4)" \
  bash -c "[ $rc -eq 4 ] && grep -q \"cannot open system prompt file '$T/missing.txt'\" $T/err"
run -m "$M" -f "$T/missing.txt"
check "-f of a missing file names the prompt file" grep -q "cannot open prompt file" "$T/err"
run -m "$M" -p hi -n 1
# the rate is "(%8.2f tokens/s)": a zero rate is "( 0.00", where 200.00 also ends in 0.00
check "-n 1 does not report 0.00 tokens/s" bash -c "! grep -Eq '\\( *0\\.00 tokens/s' $T/err && grep -q 'generate *1 token' $T/err"
run -m "$M" -p hi -n 1 --json
check "-n 1 --json: generation speed null (nothing timed)" grep -q '"generate_tokens_per_second":null' "$T/out"
run -m "$M" -p hi -n 1 -t 999
check "-t above the machine's CPUs is a warning (and runs)" bash -c "[ $rc -eq 0 ] && grep -q 'warning: -t 999 is more threads' $T/err"
run -m "$M4" -p hi -n 1 --raw --think
check "--raw --think says --raw is why (not the model)" bash -c "grep -q 'with --raw it is ignored' $T/err && ! grep -q 'needs a Gemma 4' $T/err"
# the pipe stays open until the hint is there (or a minute has passed)
rm -f "$T/err"
(for _ in $(seq 600); do grep -qs "still reading" "$T/err" && break; sleep 0.1; done; echo hi) |
  "$GEMMA" -m "$M" -p x -n 1 > /dev/null 2> "$T/err"
check "a stdin that stays open gets a hint after a few seconds" grep -q "still reading the prompt from stdin" "$T/err"
# stdin: a pipe whose writer sleeps 20 s (bash does not wait for it). The signal is sent
# once the hint shows that gemma waits there, with a plain kill, not timeout(1): timeout
# follows its SIGINT with a SIGCONT, which under the sanitizers can land while
# LeakSanitizer's exit-time tracer is stopping the process, and then both wait for each
# other forever (seen once at load 20).
rm -f "$T/err"
"$GEMMA" -m "$M" -p x -n 1 < <(sleep 20) > /dev/null 2> "$T/err" &
gpid=$!
for _ in $(seq 600); do grep -qs "still reading" "$T/err" && break; sleep 0.1; done
start=$SECONDS
kill -INT $gpid
wait $gpid; rc=$?
check "SIGINT while waiting for stdin: exit 130 at once" bash -c "[ $rc -eq 130 ] && [ $((SECONDS - start)) -lt 10 ]"

# --- every subcommand has --help; their errors point to it ---
for sub in info bench quantize perplexity logits tokenize dequant serve; do
  run $sub --help
  check "gemma $sub --help: exit 0, its usage on stdout" bash -c "[ $rc -eq 0 ] && head -1 $T/out | grep -q 'usage: gemma $sub'"
  check "the man page has a section for gemma $sub" grep -q "^\.SH GEMMA ${sub^^}\$" doc/gemma.1
  run $sub --bogus-flag
  check "gemma $sub --bogus-flag points to 'gemma $sub --help'" \
    bash -c "[ $rc -eq 2 ] && grep -q \"see 'gemma $sub --help'\" $T/err"
done
run tokenize --model="$FIX/tokenizer/gemma-3.gguf" --prompt="Hello world" --no-bos
check "subcommands take --name=value (tokenize)" test "$(cat "$T/out")" = "9259 1902"
run quantize "$FIX/models/gemma3-f32.gguf" "$T/q8.gguf" Q8_0 --threads=1 --log-disable
check "subcommands take --name=value (quantize --threads=1)" bash -c "[ $rc -eq 0 ] && [ -s $T/q8.gguf ]"
run tokenize -m "$FIX/tokenizer/gemma-3.gguf" -p hi --no-parse-specal
check "a subcommand's typo names its nearest option" grep -q "did you mean '--no-parse-special'" "$T/err"

# --- bash completion: subcommands and their options ---
complete_words() { # complete_words WORD... : what completing the last word offers
  bash -c 'eval "$("$0" --completion-bash)"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gemma; echo "${COMPREPLY[*]}"' "$GEMMA" gemma "$@"
}
export -f complete_words; export GEMMA
check "completion: gemma --te -> --temp" bash -c "[[ \" \$(complete_words --te) \" == *' --temp '* ]]"
check "completion: gemma be -> bench" bash -c "[[ \" \$(complete_words be) \" == *' bench '* ]]"
check "completion: gemma bench --mem -> --membw" bash -c "[[ \" \$(complete_words bench --mem) \" == *' --membw '* ]]"
check "completion: gemma bench -o -> md json jsonl csv" bash -c "[[ \"\$(complete_words bench -o '')\" == 'md json jsonl csv' ]]"
check "completion: gemma tokenize --no-p -> --no-parse-special" \
  bash -c "[[ \" \$(complete_words tokenize --no-p) \" == *' --no-parse-special '* ]]"
check "completion: gemma quantize IN OUT Q4_K -> Q4_K_S Q4_K_M" \
  bash -c "[[ \"\$(complete_words quantize a.gguf b.gguf Q4_K)\" == 'Q4_K_S Q4_K_M' ]]"
check "completion: gemma --color -> on off auto" bash -c "[[ \"\$(complete_words --color '')\" == 'on off auto' ]]"
check "completion: generation options are not offered to info" bash -c "[[ \" \$(complete_words info --t) \" != *' --temp '* ]]"

# --- KV cache types (-ctk / -ctv) ---
run -m "$M" -p hello -n 2 --temp 0 -v
check "-v: the KV cache's size and types (f16 by default)" grep -qE 'KV cache [0-9.]+ MiB \(K f16, V f16\)' "$T/err"
run -m "$M" -p hello -n 2 --temp 0 -v -ctk q8_0 --cache-type-v=bf16
check "-ctk q8_0 --cache-type-v=bf16: runs, -v names them" \
  bash -c "[ $rc -eq 0 ] && grep -qE 'KV cache [0-9.]+ MiB \(K q8_0, V bf16\)' $T/err"
run -m "$M" -p hello -n 2 -ctk q4_0
check "-ctk q4_0: usage error (2), one line listing the types" \
  bash -c "[ $rc -eq 2 ] && [ \$(wc -l < $T/err) -eq 1 ] && grep -q \"invalid value 'q4_0' for -ctk (f32, f16, bf16 or q8_0)\" $T/err"
run -m "$M" -p hello -n 2 --cache-type-v F16
check "--cache-type-v F16 (names are lower case, as llama.cpp's): usage error" test $rc -eq 2
run -m "$M" --raw -p "one two three" -n 8 --temp 0 -ctk f32 -ctv f32
cp "$T/out" "$T/greedy_f32"
run -m "$M" --raw -p "one two three" -n 8 --temp 0
check "greedy text with the default f16 cache is the f32 cache's" cmp -s "$T/out" "$T/greedy_f32"
run logits -m "$M" --ids 2,17,99,5 -o "$T/kv_default.f32"
run logits -m "$M" --ids 2,17,99,5 -o "$T/kv_f32.f32" -ctk f32 -ctv f32
check "logits: f32 cache unless asked" cmp -s "$T/kv_default.f32" "$T/kv_f32.f32"
run logits -m "$M" --ids 2,17,99,5 -o "$T/kv_q8.f32" -ctk q8_0 -ctv q8_0
check "logits -ctk q8_0 -ctv q8_0: runs, other logits" bash -c "[ $rc -eq 0 ] && ! cmp -s $T/kv_q8.f32 $T/kv_f32.f32"
run logits -m "$M" --ids 2 -o "$T/x.f32" -ctv q4
check "logits -ctv q4: usage error" test $rc -eq 2
run perplexity -m "$M" -f /dev/null -ctk bf17
check "perplexity -ctk bf17: usage error" bash -c "[ $rc -eq 2 ] && grep -q \"for -ctk (f32, f16, bf16 or q8_0)\" $T/err"
run serve -m "$M" --cache-type-k=x
check "serve --cache-type-k=x: usage error" bash -c "[ $rc -eq 2 ] && grep -q 'f32, f16, bf16 or q8_0' $T/err"
for t in f32 bf16 q8_0; do
  run -m "$M" -p hello -n 40 --ignore-eos --raw -c 16 --context-shift -ctk $t -ctv $t --json
  check "--context-shift on a $t cache: goes past the context, shifting" \
    bash -c "[ $rc -eq 0 ] && grep -q '\"context_shifts\":[1-9]' $T/out"
done
run logits -m "$FIX/models/gemma1-f32.gguf" --ids 2,17 -o "$T/x.f32" -ctk q8_0
check "q8_0 on head dims not a multiple of 32: exit 1 with the reason" \
  bash -c "[ $rc -eq 1 ] && grep -q 'q8_0 KV cache needs head dims that are multiples of 32; layer 0 has 24' $T/err"

# --- install ---
make -s install BIN="$GEMMA" PREFIX="$PWD/$T/inst" > /dev/null 2>&1
check "make install PREFIX=... installs the binary and the man page" \
  bash -c "[ -x $T/inst/bin/gemma ] && grep -q '^.TH GEMMA 1' $T/inst/share/man/man1/gemma.1"
check "make install installs the bash completion" grep -q "complete -o default -F _gemma gemma" "$T/inst/share/bash-completion/completions/gemma"
run -m "$M" -p hello -c 1000000000
check "a context larger than memory: exit 1, says how much is needed" \
  bash -c "[ $rc -eq 1 ] && grep -q 'GiB of KV cache, more than this machine' $T/err"
