#!/usr/bin/env bash
# Checks of `gemma bench` (llama-bench's twin): table, JSON, JSONL and CSV layouts, test
# selection (-p/-n/-pg/-d, comma lists), memory bandwidth, and errors. Never asserts speed.
# Prints "ok   bench: name" / "FAIL bench: name" per check (tests/run.sh counts them).
GEMMA=${GEMMA_BIN:-./gemma}
FIX=${GEMMA_FIXTURES:-tests/fixtures}
T=build/tmp/bench
mkdir -p "$T"
M=$FIX/models/gemma3-q8_0.gguf
MOE=$FIX/models/gemma4-moe-q8_0.gguf

ok()   { echo "ok   bench: $1"; }
fail() { echo "FAIL bench: $1"; shift; for l in "$@"; do echo "    $l"; done; }
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name" "failed: $*" "stdout: $(head -c 600 "$T/out")" "stderr: $(head -c 600 "$T/err")"; fi
}
# run ARGS...: stdout -> $T/out, stderr -> $T/err, status -> $rc (stdin: /dev/null)
run() { "$GEMMA" bench "$@" > "$T/out" 2> "$T/err" < /dev/null; rc=$?; }
# table rows (lines starting with "|" after the header and separator)
md_rows() { grep -c '^| ' "$T/out" | awk '{print $1 - 1}'; }
have_py() { command -v python3 > /dev/null 2>&1; }
# py CODE: run python3 on the JSON/CSV in $T/out (skipped checks pass when python3 is absent)
py() { python3 -c "$1" < "$T/out" 2> "$T/pyerr" || { tail -1 "$T/pyerr" > "$T/err"; false; }; }

# --- markdown (the default) ---
run -m "$M" -p 8 -n 4 -r 2 --no-membw
check "md: exit 0" test $rc -eq 0
check "md: llama-bench's header columns" \
  grep -qE '^\| model +\| +size \| +params \| backend +\| threads \| +test \| +t/s \|' "$T/out"
check "md: separator row with llama-bench's alignment" \
  grep -qE '^\| -{30} \| -{9}: \| -{9}: \| -{9,} \| -{6}: \| -{14}: \| -{19}: \|' "$T/out"
check "md: one row per test (pp8, tg4)" \
  bash -c "[ \$(grep -c '^| gemma3 ' $T/out) -eq 2 ] && grep -q ' pp8 |' $T/out && grep -q ' tg4 |' $T/out"
check "md: model column '<arch> <size> <ftype>'" grep -q '^| gemma3 ?B Q8_0 ' "$T/out"
check "md: size in MiB, params in M" grep -qE '\| +[0-9.]+ MiB \| +[0-9.]+ M \|' "$T/out"
check "md: backend is CPU plus the kernel path" grep -qE '\| CPU [^|]+\|' "$T/out"
check "md: t/s as 'mean ± sd'" grep -qE '\| +[0-9]+\.[0-9]{2} ± [0-9]+\.[0-9]{2} \|' "$T/out"
check "md: tg row has the weight bandwidth column" \
  bash -c "grep -q 'weights GB/s' $T/out && grep ' tg4 |' $T/out | grep -qE '\| +[0-9]+\.[0-9]+ \|\$'"
check "md: weights per token and build footer" \
  bash -c "grep -q '^weights read per generated token: [0-9.]* MiB' $T/out && grep -q '^build: ' $T/out"
check "md: nothing on stderr without -v when it is not a terminal" \
  bash -c "! grep -q 'test 1/' $T/err"

run -m "$M" -p 8 -n 0 -r 1 -v
check "-v: progress lines on stderr, not stdout" \
  bash -c "[ $rc -eq 0 ] && grep -q 'test 1/1' $T/err && ! grep -q 'test 1/1' $T/out"
check "-n 0: only the pp test, no bandwidth columns" \
  bash -c "[ \$(grep -c '^| gemma3 ' $T/out) -eq 1 ] && ! grep -q 'weights GB/s' $T/out"

run -m "$M" -p 0 -n 0 -pg 8,4 -r 1
check "-pg 8,4 alone: one 'pp8+tg4' row" \
  bash -c "[ $rc -eq 0 ] && [ \$(grep -c '^| gemma3 ' $T/out) -eq 1 ] && grep -q ' pp8+tg4 |' $T/out"

run -m "$M" -p 4,8 -n 2,3 -t 1,2 -r 1 --no-membw
check "comma lists: 2 pp x 2 tg x 2 thread counts = 8 rows" \
  bash -c "[ $rc -eq 0 ] && [ \$(grep -c '^| gemma3 ' $T/out) -eq 8 ]"
check "comma lists: threads column shows 1 and 2" \
  bash -c "grep -qE '\|       1 \|' $T/out && grep -qE '\|       2 \|' $T/out"

run -m "$M" -p 2-8*2 -n 0 -b 4 -r 1
check "range 2-8*2 = pp2 pp4 pp8; -b adds an n_batch column" \
  bash -c "[ \$(grep -c '^| gemma3 ' $T/out) -eq 3 ] && grep -q ' pp2 |' $T/out && grep -q ' pp8 |' $T/out && grep -q 'n_batch' $T/out"

# -d: the tests after N tokens already in the context (llama-bench's "pp512 @ d4096")
run -m "$M" -p 4 -n 2 -d 0,8 -r 1 --no-membw
check "-d 0,8: pp4, tg2, then 'pp4 @ d8' and 'tg2 @ d8', in llama-bench's order" \
  bash -c "[ $rc -eq 0 ] && [ \"\$(grep '^| gemma3 ' $T/out | awk -F'|' '{gsub(/^ +| +\$/, \"\", \$7); print \$7}' | tr '\n' ,)\" = 'pp4,tg2,pp4 @ d8,tg2 @ d8,' ]"
run -m "$M" -p 0 -n 0 -pg 100,10 -d 64 -r 1 --no-membw
check "-pg 100,10 -d 64: the test column widens to fit 'pp100+tg10 @ d64' (16)" \
  bash -c "[ $rc -eq 0 ] && grep -qE '^\| -{30} \| -{9}: \| -{9}: \| -{9,} \| -{6}: \| -{15}: \| -{19}: \|' $T/out && grep -q '| pp100+tg10 @ d64 |' $T/out"
run -m "$M" -p 4 -n 2 -d 6 -r 1 -o json --no-membw
if have_py; then
  check "-d 6 -o json: n_depth 6 in each object" py '
import json, sys
d = json.load(sys.stdin)
assert [(o["n_prompt"], o["n_gen"], o["n_depth"]) for o in d] == [(4, 0, 6), (0, 2, 6)], d
'
fi
run -m "$M" -p 4 -n 0 -d 2 -r 1 -o csv --no-membw
check "-d 2 -o csv: the n_depth column holds 2" \
  bash -c "awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if (\$i == \"\\\"n_depth\\\"\" || \$i == \"n_depth\") c = i } NR == 2 { gsub(/\"/, \"\", \$c); exit !(c && \$c == 2) }' $T/out"
run -m "$M" -p 4 -d -1
check "-d -1: usage error (exit 2)" test $rc -eq 2

run -m "$M,$MOE" -m "$M" -p 4 -n 0 -r 1
check "-m comma list and repeated -m: 3 models" \
  bash -c "[ $rc -eq 0 ] && [ \$(grep -c '^| gemma3 ' $T/out) -eq 2 ] && [ \$(grep -c '^| gemma4 ' $T/out) -eq 1 ]"

# --- JSON, JSONL, CSV ---
run -m "$M" -p 8 -n 4 -r 2 -o json --no-membw
check "json: exit 0" test $rc -eq 0
if have_py; then
  check "json: array of 2 objects with llama-bench's fields" py '
import json, sys
d = json.load(sys.stdin)
need = "build_commit build_number cpu_info backends model_filename model_type model_size model_n_params n_batch n_threads n_prompt n_gen test_time avg_ns stddev_ns avg_ts stddev_ts samples_ns samples_ts weight_bytes_per_token".split()
assert len(d) == 2, len(d)
for o in d:
    missing = [k for k in need if k not in o]
    assert not missing, missing
    assert len(o["samples_ns"]) == 2 and len(o["samples_ts"]) == 2
    assert o["avg_ts"] > 0 and o["model_size"] > 0 and o["model_n_params"] > 0
assert (d[0]["n_prompt"], d[0]["n_gen"]) == (8, 0) and (d[1]["n_prompt"], d[1]["n_gen"]) == (0, 4)
assert "weight_gbps" in d[1] and "weight_gbps" not in d[0]
assert "membw_gbps" not in d[1]
'
  check "json: weights per token of a dense model ~ its size" py '
import json, sys
o = json.load(sys.stdin)[0]
assert 0.9 * o["model_size"] < o["weight_bytes_per_token"] <= o["model_size"], o
'
else
  check "json: fields present (grep)" bash -c "grep -q '\"samples_ts\"' $T/out && grep -q '\"avg_ts\"' $T/out && grep -q '\"model_type\"' $T/out"
fi

run -m "$MOE" -p 0 -n 2 -r 1 -o json --no-membw
if have_py; then
  check "json: MoE reads only the routed experts' share per token" py '
import json, sys
o = json.load(sys.stdin)[0]
assert 0 < o["weight_bytes_per_token"] < 0.8 * o["model_size"], o
'
fi

run -m "$M" -p 8 -n 4 -r 2 -o jsonl --no-membw
check "jsonl: one object per line" bash -c "[ $rc -eq 0 ] && [ \$(wc -l < $T/out) -eq 2 ] && grep -c '^{.*}\$' $T/out | grep -qx 2"
if have_py; then
  check "jsonl: each line parses" py '
import json, sys
assert [json.loads(l)["n_gen"] for l in sys.stdin] == [0, 4]
'
fi

run -m "$M" -p 8 -n 4 -r 2 -o csv --no-membw
check "csv: header + 2 rows" bash -c "[ $rc -eq 0 ] && [ \$(wc -l < $T/out) -eq 3 ]"
check "csv: header has llama-bench's field names" \
  bash -c "head -1 $T/out | grep -q '^build_commit,build_number,cpu_info,' && head -1 $T/out | grep -q ',n_prompt,n_gen,' && head -1 $T/out | grep -q ',avg_ts,stddev_ts,'"
if have_py; then
  check "csv: rows parse with the header's column count" py '
import csv, sys
rows = list(csv.reader(sys.stdin))
assert len(rows) == 3 and all(len(r) == len(rows[0]) for r in rows), rows
h = rows[0]
assert rows[1][h.index("n_prompt")] == "8" and rows[2][h.index("n_gen")] == "4"
'
fi

# --- -nr: weights repacked at load (0, the default) or in the file's layout (1) ---
run -m "$M" -p 0 -n 2 -r 1 -nr 0,1 -o json --no-membw
check "-nr 0,1: exit 0" test $rc -eq 0
if have_py; then
  check "-nr 0,1 -o json: one result per value, in order, with no_repack" py '
import json, sys
d = json.load(sys.stdin)
assert [o["no_repack"] for o in d] == [0, 1], d
'
fi
run -m "$M" -p 0 -n 2 -r 1 -nr 1 --no-membw -v
check "-nr 1: an nr column holding 1, and -v says the weights stay in the file's layout" \
  bash -c "[ $rc -eq 0 ] && grep -qE '^\| model .*\| nr \|' $T/out && grep ' tg2 |' $T/out | grep -q '|  1 |' && grep -q \"file's layout (not repacked)\" $T/err"
run -m "$M" -p 0 -n 2 -r 1 -nr 2 --no-membw
check "-nr 2: exit 2" test $rc -eq 2

# --- memory bandwidth (measured once here: it streams through a large buffer) ---
run --membw -t 1 -o json
check "--membw alone: exit 0" test $rc -eq 0
if have_py; then
  check "--membw -o json: positive GB/s for 1 thread" py '
import json, sys
d = json.load(sys.stdin)
assert d and all(o["membw_gbps"] > 0 and o["buffer_bytes"] >= 1 << 26 for o in d), d
assert [o["n_threads"] for o in d] == [1], d
'
else
  check "--membw -o json: GB/s field" grep -q '"membw_gbps"' "$T/out"
fi

run -m "$M" -p 0 -n 2 -r 1 -t 1
check "tg with bandwidth measured: '% of membw' column and bandwidth line" \
  bash -c "[ $rc -eq 0 ] && grep -q '% of membw' $T/out && grep ' tg2 |' $T/out | grep -qE '[0-9.]+ % \|\$' && grep -q '^memory read bandwidth: [0-9.]* GB/s with 1 thread' $T/out"
check "the bandwidth line names its page size" grep -q '^memory read bandwidth: .*4 KiB pages' "$T/out"
check "the share is against measurements beside the tg test, and says so" \
  grep -q "each tg row's % of membw is against the better of two measurements right before and after it" "$T/out"
run -m "$M" -p 0 -n 2 -r 1 -t 1 -nr 1 --membw-once
if have_py; then
  check "--membw-once: the tg share is against the start's measurement (1 thread, 4 KiB pages)" py '
import re, sys
out = sys.stdin.read()
row = [l for l in out.splitlines() if " tg2 |" in l][0].split("|")
wg, share = float(row[-3]), float(row[-2].strip().rstrip("%"))
start = float(re.search(r"^memory read bandwidth: ([0-9.]+) GB/s with 1 thread", out, re.M).group(1))
assert abs(share - 100 * wg / start) < 0.11, (share, wg, start)
assert "each tg row" not in out, out
'
fi
run -m "$M" -p 0 -n 2 -r 1 -t 1 -o json
if have_py; then
  check "json: a tg row's membw_gbps is a positive measurement" py 'import json,sys; d=json.load(sys.stdin); assert d[0]["membw_gbps"] > 0, d'
fi
run -m "$M" -p 0 -n 2 --membw-once --no-membw
check "--membw-once with --no-membw: exit 2" test $rc -eq 2

# --- errors ---
run -m "$M" -p 8 --frobnicate
check "unknown flag: exit 2" test $rc -eq 2
check "unknown flag: one line naming it" bash -c "[ \$(wc -l < $T/err) -eq 1 ] && grep -q -- '--frobnicate' $T/err"
run -m "$M" -p abc
check "bad -p value: exit 2" test $rc -eq 2
run -m "$M" -o xml
check "bad -o value: exit 2" test $rc -eq 2
run -m "$M" -r 0
check "-r 0: exit 2" test $rc -eq 2
run -m "$M" -pg 8
check "-pg without TG: exit 2" test $rc -eq 2
run -m "$M" -t
check "missing value: exit 2" test $rc -eq 2
run -p 8
check "no model: exit 2" test $rc -eq 2
run -m "$T/does-not-exist.gguf" -p 8 -n 0 -r 1
check "missing model: exit 3, one line naming the file, nothing on stdout" \
  bash -c "[ $rc -eq 3 ] && [ \$(wc -l < $T/err) -eq 1 ] && grep -q 'does-not-exist.gguf' $T/err && [ ! -s $T/out ]"
run -m "$M" -m "$T/does-not-exist.gguf" -p 8 -n 0 -r 1
check "second model missing: exit 3 before any test runs" bash -c "[ $rc -eq 3 ] && [ ! -s $T/out ]"
head -c 4096 /dev/urandom > "$T/garbage.gguf"
run -m "$T/garbage.gguf" -p 8 -n 0 -r 1
check "garbage model: exit 3" test $rc -eq 3
run --help
check "--help: exit 0 with usage" bash -c "[ $rc -eq 0 ] && grep -q 'usage: gemma bench' $T/out"

# --- KV cache types (-ctk / -ctv), reported as llama-bench's type_k / type_v ---
run -m "$M" -p 8 -n 0 -r 1 -o jsonl
check "jsonl: type_k and type_v f16 by default" bash -c "grep -q '\"type_k\": \"f16\", \"type_v\": \"f16\"' $T/out"
run -m "$M" -p 8 -n 0 -r 1 -ctk f32,q8_0 -ctv bf16 -o jsonl
check "-ctk f32,q8_0 -ctv bf16: one test per type, fields as given" \
  bash -c "[ $rc -eq 0 ] && [ \$(wc -l < $T/out) -eq 2 ] && grep -q '\"type_k\": \"f32\", \"type_v\": \"bf16\"' $T/out && grep -q '\"type_k\": \"q8_0\", \"type_v\": \"bf16\"' $T/out"
run -m "$M" -p 8 -n 0 -r 1 --cache-type-k q8_0 -o json
if have_py; then
  check "json: type_k q8_0, type_v f16" py 'import json,sys; d=json.load(sys.stdin); assert [(r["type_k"], r["type_v"]) for r in d] == [("q8_0", "f16")]'
fi
run -m "$M" -p 8 -n 0 -r 1 -ctk q8_0
check "md: a type_k column when not f16, none for type_v" \
  bash -c "grep -qE '^\| model .*\| type_k \| +test' $T/out && grep -qE '\| q8_0   \| +pp8 \|' $T/out && ! grep -q type_v $T/out"
run -m "$M" -p 8 -n 0 -r 1
check "md: no type columns by default" bash -c "! grep -q type_k $T/out"
run -m "$M" -p 8 -n 0 -r 1 -ctv f16,q5_1
check "-ctv f16,q5_1: usage error naming the choices" bash -c "[ $rc -eq 2 ] && grep -q \"invalid value 'q5_1' for -ctv (f32, f16, bf16 or q8_0)\" $T/err"

# --- a real-time policy with the kernel's RT throttling on: said, once, on stderr ---
run -m "$M" -p 8 -n 0 -r 1
check "no real-time policy: no throttling warning" bash -c "[ $rc -eq 0 ] && ! grep -q 'RT throttling' $T/err"
rt=$(cat /proc/sys/kernel/sched_rt_runtime_us 2>/dev/null || echo -1)
if command -v chrt > /dev/null 2>&1 && chrt -f 1 true 2> /dev/null && [ "$rt" -ge 0 ]; then
  chrt -f 1 "$GEMMA" bench -m "$M" -p 8 -n 0 -r 1 > "$T/out" 2> "$T/err" < /dev/null; rc=$?
  check "under chrt -f with RT throttling on: one warning line, results as usual" \
    bash -c "[ $rc -eq 0 ] && [ \$(grep -c 'real-time policy (SCHED_FIFO) with the kernel.s RT throttling on' $T/err) -eq 1 ] && grep -q ' pp8 |' $T/out"
else
  echo "skip bench: the RT throttling warning (no chrt, no permission for SCHED_FIFO, or throttling off)"
fi
