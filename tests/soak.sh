#!/usr/bin/env bash
# Soak: a long generation with context shift on a fixture model. Memory must stay flat after
# warm-up (no growth per token or per shift) and the output must stay valid UTF-8.
# SOAK_TOKENS (default 6000: about 45 context shifts of a 256-token context) sets the
# length; the sanitizer run uses fewer.
GEMMA=${GEMMA_BIN:-./gemma}
FIX=${GEMMA_FIXTURES:-tests/fixtures}
N=${SOAK_TOKENS:-6000}
T=build/tmp/soak
mkdir -p "$T"
M=$FIX/models/gemma4-vocab-e2e.gguf   # real Gemma 4 vocabulary: multi-byte pieces, byte tokens

"$GEMMA" -m "$M" -p "Tell me a long story." -n "$N" --ignore-eos --context-shift -c 256 \
  --temp 1 --seed 7 > "$T/out" 2> "$T/err" < /dev/null &
pid=$!
: > "$T/rss"
while kill -0 $pid 2>/dev/null; do
  awk '/^RssAnon/ {print $2}' /proc/$pid/status >> "$T/rss" 2>/dev/null
  sleep 0.2
done
wait $pid
rc=$?

if [ $rc -eq 0 ] && grep -q "generate *$N tokens" "$T/err"; then
  echo "ok   soak: $N tokens with context shift, exit 0"
else
  echo "FAIL soak: $N tokens with context shift (status $rc)"; tail -3 "$T/err" | sed 's/^/    /'
fi

# Anonymous memory only (RssAnon): the mapped model file's pages come and go with the tokens
# sampled and are no leak. A leak shows as a peak that keeps rising: the highest of the last
# quarter of the samples must be within 2 MiB of the highest of the second quarter (the
# first quarter is warm-up: scratch, the first context shift). Peaks, not single samples: an allocator
# may hand free pages back to the system and take them again (ASan does, every few seconds).
n=$(wc -l < "$T/rss")
if [ "$n" -ge 8 ]; then
  lo=$(sed -n "$((n / 4 + 1)),$((n / 2))p" "$T/rss" | sort -n | tail -1)
  hi=$(tail -n $((n / 4)) "$T/rss" | sort -n | tail -1)
  if [ $((hi - lo)) -le 2048 ]; then
    echo "ok   soak: memory flat after warm-up ($n samples, peak anonymous RSS ${lo} -> ${hi} KiB)"
  else
    echo "FAIL soak: memory grew after warm-up: peak anonymous RSS ${lo} -> ${hi} KiB over $n samples"
  fi
else
  echo "skip soak: too few RSS samples ($n) to judge memory growth"
fi

if command -v iconv > /dev/null; then valid() { iconv -f UTF-8 -t UTF-8 "$1" > /dev/null 2>&1; }
else valid() { python3 -c "open('$1','rb').read().decode('utf-8')" 2>/dev/null; }; fi
if [ -s "$T/out" ] && valid "$T/out"; then
  echo "ok   soak: output is valid UTF-8 ($(wc -c < "$T/out") bytes)"
else
  echo "FAIL soak: output is empty or not valid UTF-8"
fi
