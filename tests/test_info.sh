#!/usr/bin/env bash
# CLI checks of `gemma info`: the text report, --tensors, --json (parsed with python3 when
# it exists), vocabulary-only files, hostile strings, and the errors.
# Prints "ok   info: name" / "FAIL info: name" per check (tests/run.sh counts them).
GEMMA=${GEMMA_BIN:-./gemma}
FIX=${GEMMA_FIXTURES:-tests/fixtures}
T=build/tmp/info
mkdir -p "$T"
M=$FIX/models

ok()   { echo "ok   info: $1"; }
fail() { echo "FAIL info: $1"; shift; for l in "$@"; do echo "    $l"; done; }
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name" "failed: $*" "$(head -c 600 "$T/out")"; fi
}
# run ARGS...: stdout -> $T/out, stderr -> $T/err, status -> $rc
run() { "$GEMMA" info "$@" > "$T/out" 2> "$T/err" < /dev/null; rc=$?; }
has() { grep -Eq -- "$1" "$T/out"; }
HAVE_PY=0
command -v python3 > /dev/null 2>&1 && HAVE_PY=1
# json EXPR: evaluate a python expression over the parsed stdout (d); true if it is truthy
json() { python3 -c "import json,sys; d=json.load(open('$T/out')); sys.exit(0 if ($1) else 1)" 2> /dev/null; }

# --- text report ---
run "$M/gemma3-q4_k_m.gguf"
check "Q4_K_M file: exit 0" test $rc -eq 0
check "Q4_K_M file: architecture, layers, variant family" \
  bash -c "grep -Eq '^architecture: +gemma3$' $T/out && grep -Eq '^layers: +2$' $T/out && grep -Eq '^variant: +Gemma 3' $T/out"
check "Q4_K_M file: file type and type mix (Q4_K x12, Q6_K x3, F32 x13)" \
  bash -c "grep -Eq '^file type: +Q4_K - Medium$' $T/out && grep -Eq 'Q4_K +12 tensors' $T/out && grep -Eq 'Q6_K +3 tensors' $T/out && grep -Eq 'F32 +13 tensors' $T/out"
check "Q4_K_M file: hyperparameters (context, width, heads, window pattern)" \
  bash -c "grep -Eq '^context length: +131072$' $T/out && grep -Eq '^embedding width: +256$' $T/out && grep -Eq '^KV heads: +2$' $T/out && grep -Eq '^sliding window: +8 tokens.*pattern SG$' $T/out"
check "Q4_K_M file: vocabulary, chat template, sampling" \
  bash -c "grep -Eq '^vocabulary: +llama .*512 tokens, bos 2 .<bos>., eos 1' $T/out && grep -Eq '^chat template: +yes \([0-9]+ bytes\)$' $T/out && grep -Eq '^sampling: ' $T/out"

run "$M/gemma4-moe-q8_0.gguf"
check "Gemma 4 MoE: experts, per-layer KV heads and head dims" \
  bash -c "grep -Eq '^experts: +8 \(2 used' $T/out && grep -Eq '^KV heads: +2 \(sliding\), 1 \(global\)$' $T/out && grep -Eq '^head dim: +32 \(sliding\), 64 \(global\)$' $T/out"
run "$M/gemma2-f16.gguf"
check "Gemma 2: soft-caps and the default alternating pattern" \
  bash -c "grep -Eq '^soft-capping: +attention 50, final 30$' $T/out && grep -Eq 'pattern SG x2$' $T/out"
run "$M/gemma4-ple-f32.gguf"
check "Gemma 4 E-style: per-layer feed-forward, PLE width, shared KV" \
  bash -c "grep -Eq '^feed-forward: +64 x4, 128 x2$' $T/out && grep -Eq '^per-layer embd: +16' $T/out && grep -Eq '^shared KV: +last 2 layers' $T/out"

# --- --tensors: one line per tensor after the header ---
for f in gemma3-q4_k_m gemma4-moe-f32; do
  run "$M/$f.gguf" --tensors
  want=$(sed -n 's/.* \([0-9][0-9]*\) tensors$/\1/p' "$T/out" | head -1)
  got=$(sed -n '/^tensors: /,$p' "$T/out" | tail -n +2 | grep -c .)
  check "--tensors on $f lists $want tensors" test -n "$want" -a "$got" = "$want"
done
run "$M/gemma3-q4_k_m.gguf" --tensors
check "--tensors line: name, type, shape, bytes, offset" \
  grep -Eq '^ +[0-9]+  blk\.1\.attn_v\.weight +Q6_K +\[256, 128\] +26880 +[0-9]+$' "$T/out"

# --- --json ---
run "$M/gemma4-moe-q8_0.gguf" --json --tensors
check "--json: exit 0, one object" bash -c "[ $rc -eq 0 ] && head -c1 $T/out | grep -q '{'"
if [ $HAVE_PY = 1 ]; then
  check "--json parses (python3 json)" json "True"
  check "--json: architecture, layers, experts, tensors array matches n_tensors" \
    json "d['architecture']=='gemma4' and d['hparams']['n_layer']==4 and d['hparams']['n_expert']==8 and len(d['tensors'])==d['n_tensors']==89"
  check "--json: type mix and file type" \
    json "{t['type']:t['count'] for t in d['tensor_types']}=={'Q8_0':35,'F32':54} and d['file_type']=={'value':7,'name':'Q8_0','guessed':False}"
  check "--json: per-layer values as arrays, uniform ones as numbers" \
    json "d['hparams']['n_head_kv']==[2,2,1,1] and d['hparams']['n_head']==4 and d['hparams']['sliding_layers']==[True,True,False,False]"
  run "$M/gemma3-f32.gguf" --json
  check "--json without --tensors has no tensors key; vocab fields" \
    json "'tensors' not in d and d['vocab']=={'model':'llama','n_tokens':512,'n_merges':0,'bos':2,'eos':1} and d['chat_template']['present']"
else
  echo "skip info: --json parsing (no python3)"
fi

# --- vocabulary-only file ---
run "$FIX/tokenizer/gemma-4.gguf"
check "vocab-only file: exit 0, tokenizer info" \
  bash -c "[ $rc -eq 0 ] && grep -q 'vocabulary-only' $T/out && grep -Eq '^vocabulary: +gemma4 \(BPE\), 262144 tokens, 514906 merges' $T/out"
run "$FIX/tokenizer/gemma-3.gguf" --json --tensors
if [ $HAVE_PY = 1 ]; then
  check "vocab-only file: --json" \
    json "d['vocab_only'] and d['tensors']==[] and d['vocab']['n_tokens']==262144 and d['vocab']['eos']==106 and d['hparams'] is None"
fi

# --- hostile strings, missing file type, sampling defaults (a file made here) ---
if [ $HAVE_PY = 1 ]; then
  python3 - "$T/odd.gguf" <<'EOF'
import struct, sys
def s(b): return struct.pack('<Q', len(b)) + b
kv = []
def add(k, t, v): kv.append(s(k.encode()) + struct.pack('<I', t) + v)
add('general.architecture', 8, s(b'gemma3'))
add('general.name', 8, s(b'odd "name" \\ tab\t nl\n bell\x07 bad\xff end \xe2\x96\x81'))
add('gemma3.block_count', 4, struct.pack('<I', 1))
add('gemma3.embedding_length', 4, struct.pack('<I', 32))
add('general.sampling.temp', 6, struct.pack('<f', 0.5))
add('general.sampling.top_k', 5, struct.pack('<i', 40))
# two F16 tensors and one F32: no general.file_type -> guessed "F16"
tens = [(b'blk.0.attn_q.weight', (32, 2), 1), (b'blk.0.attn_k.weight', (32, 2), 1), (b'output_norm.weight', (32,), 0)]
infos, data, off = b'', b'', 0
for name, ne, ty in tens:
    n = 1
    for x in ne: n *= x
    nb = n * (2 if ty == 1 else 4)
    infos += s(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', x) for x in ne) + struct.pack('<IQ', ty, off)
    data += b'\0' * nb + b'\0' * ((-nb) % 32)
    off += nb + (-nb) % 32
head = b'GGUF' + struct.pack('<IQQ', 3, len(tens), len(kv)) + b''.join(kv) + infos
head += b'\0' * ((-len(head)) % 32)
open(sys.argv[1], 'wb').write(head + data)
EOF
  run "$T/odd.gguf"
  check "odd strings: text output escapes control bytes and invalid UTF-8" \
    bash -c "[ $rc -eq 0 ] && grep -q 'bell\\\\x07 bad\\\\xff end ▁' $T/out && ! grep -q \$'\\x07' $T/out"
  check "no general.file_type: guessed from the most common type" grep -Eq '^file type: +F16 \(guessed' "$T/out"
  check "sampling defaults listed" grep -Eq '^sampling: +temp = 0.5, top_k = 40$' "$T/out"
  run "$T/odd.gguf" --json
  check "odd strings: --json stays valid (escapes, U+FFFD for bad bytes)" \
    json "d['name']=='odd \"name\" \\\\ tab\\t nl\\n bell\\x07 bad\\ufffd end \\u2581' and d['sampling']=={'temp':0.5,'top_k':40} and d['file_type']['guessed']"
fi

# --- errors ---
run "$T/does-not-exist.gguf"
check "missing file: exit 3 with one line naming it" \
  bash -c "[ $rc -eq 3 ] && [ \$(wc -l < $T/err) -eq 1 ] && grep -q 'does-not-exist.gguf' $T/err"
head -c 4096 /dev/urandom > "$T/garbage.gguf"
run "$T/garbage.gguf"
check "garbage file: exit 3 with one line" bash -c "[ $rc -eq 3 ] && [ \$(wc -l < $T/err) -eq 1 ]"
head -c 300000 "$M/gemma3-q4_k_m.gguf" > "$T/truncated.gguf"
run "$T/truncated.gguf"
check "truncated file: exit 3" test $rc -eq 3
run
check "no FILE: usage error (2)" test $rc -eq 2
run "$M/gemma3-f32.gguf" --frobnicate
check "unknown option: usage error (2)" test $rc -eq 2
run --help
check "--help: exit 0, usage on stdout" bash -c "[ $rc -eq 0 ] && grep -q 'usage: gemma info' $T/out"
