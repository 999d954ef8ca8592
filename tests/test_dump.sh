#!/usr/bin/env bash
# GEMMA_DUMP as a user meets it, through `gemma logits`: the file of the last point holds the
# bytes `gemma logits -o` writes (one batch and --decode), a printed dump shows each asked
# point with its shape and one line per token and nothing else, and a bad name or directory
# stops the run with one line naming the variable. (tests/test_dump.c checks every point's
# values against the steps between them.)
# Prints "ok   dump: name" / "FAIL dump: name" per check (tests/run.sh counts them).
GEMMA=${GEMMA_BIN:-./gemma}
FIX=${GEMMA_FIXTURES:-tests/fixtures}
T=build/tmp/dump-cli
rm -rf "$T"
mkdir -p "$T/d"
M=$FIX/models/gemma4-ple-f32.gguf   # Gemma 4: per-layer embeddings, shared KV, 2 kinds of layer
IDS=2,17,99,4,250,31,7,42

ok()   { echo "ok   dump: $1"; }
fail() { echo "FAIL dump: $1"; shift; for l in "$@"; do echo "    $l"; done; }
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name" "failed: $*" "stderr: $(head -c 600 "$T/err")"; fi
}
# logits ARGS...: `gemma logits -m $M --ids $IDS -o $T/logits.f32 ARGS`, stderr -> $T/err
logits() { "$GEMMA" logits -m "$M" --ids "$IDS" -o "$T/logits.f32" "$@" > "$T/out" 2> "$T/err" < /dev/null; rc=$?; }

# --- files: result_output is the logits file ---
GEMMA_DUMP=result_output,l_out-0 GEMMA_DUMP_DIR=$T/d logits
check "one batch: exit 0" test $rc -eq 0
check "one batch: result_output.f32 has the bytes of gemma logits -o" cmp -s "$T/d/result_output.f32" "$T/logits.f32"
check "one batch: only the points asked for" \
  bash -c "[ \"\$(cd $T/d && ls | tr '\n' ' ')\" = 'l_out-0.f32 result_output.f32 ' ]"
check "one batch: nothing on stderr" test ! -s "$T/err"
cp "$T/logits.f32" "$T/batch.f32"
GEMMA_DUMP=result_output GEMMA_DUMP_DIR=$T/d logits --decode
check "--decode: result_output.f32 (one row per evaluation) has the bytes of gemma logits -o" \
  cmp -s "$T/d/result_output.f32" "$T/logits.f32"
cp "$T/logits.f32" "$T/plain.f32"
logits --decode
check "--decode: the same logits without GEMMA_DUMP" cmp -s "$T/logits.f32" "$T/plain.f32"

# --- printed: a header with the shape, one line per token ---
GEMMA_DUMP=l_out-1,result_norm logits
check "printed: exit 0, the same logits file" bash -c "[ $rc -eq 0 ] && cmp -s $T/logits.f32 $T/batch.f32"
check "printed: a header per point, in the order computed" \
  bash -c "[ \"\$(grep '^gemma dump:' $T/err | cut -d' ' -f3-4 | tr '\n' ' ')\" = 'l_out-1 {64, result_norm {64, ' ]"
check "printed: shape {width, tokens} and positions" \
  grep -qE '^gemma dump: l_out-1 \{64, 8\} positions 0\.\.7 sum -?[0-9]' "$T/err"
check "printed: one line per token, first and last three values" \
  bash -c "[ \$(grep -cE '^  pos [0-7]: \[[^,]+, [^,]+, [^,]+, \.\.\., [^,]+, [^,]+, [^]]+\] sum ' $T/err) -eq 16 ]"
check "printed: nothing else on stderr" bash -c "[ \$(wc -l < $T/err) -eq 18 ]"

# --- errors: exit 1, one line naming the variable ---
GEMMA_DUMP=attn_norm,bogus logits
check "unknown name: exit 1" test $rc -eq 1
check "unknown name: one line naming GEMMA_DUMP, the name and the known ones" \
  bash -c "[ \$(wc -l < $T/err) -eq 1 ] && grep -q \"GEMMA_DUMP: unknown name 'bogus' (known: inp_embd, \" $T/err"
GEMMA_DUMP=l_out-6 logits
check "layer out of range: exit 1 with the model's layers" \
  bash -c "[ $rc -eq 1 ] && grep -q \"GEMMA_DUMP: 'l_out-6': the model has layers 0 .. 5\" $T/err"
GEMMA_DUMP=all GEMMA_DUMP_DIR=$T/missing logits
check "missing directory: exit 1 naming GEMMA_DUMP_DIR" \
  bash -c "[ $rc -eq 1 ] && grep -q \"GEMMA_DUMP_DIR: '$T/missing': No such file or directory\" $T/err"
