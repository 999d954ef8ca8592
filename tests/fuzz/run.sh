#!/bin/sh
# run.sh - run one libFuzzer harness for a while on a working copy of its corpus.
#
#   sh tests/fuzz/run.sh NAME SECONDS [BUILD_DIR [FIXTURES_DIR]]     (from the repo root)
#
# The working corpus is BUILD_DIR/corpus/NAME: the committed seeds (tests/fuzz/corpus/NAME)
# plus seeds made from the fixtures (GGUF models and quant files for gguf, the tokenizer
# test strings for tokenizer), plus whatever earlier runs found. Exits non-zero on any
# finding (crash, sanitizer report, leak, timeout, out-of-memory); the reproducer is in
# BUILD_DIR/artifacts/NAME/ and the log in BUILD_DIR/NAME.log. Extra libFuzzer options can
# be passed in FUZZ_ARGS (e.g. FUZZ_ARGS=-jobs=2).
set -u
name=$1
secs=$2
build=${3:-build-fuzz}
fixtures=${4:-tests/fixtures}
root=$(pwd)
case $build in /*) ;; *) build=$root/$build ;; esac
case $fixtures in /*) ;; *) fixtures=$root/$fixtures ;; esac

bin=$build/fuzz_$name
corpus=$build/corpus/$name
artifacts=$build/artifacts/$name
log=$build/$name.log
[ -x "$bin" ] || { echo "fuzz: $bin is not built (make fuzz-build)" >&2; exit 2; }
rm -rf "$artifacts"
mkdir -p "$corpus" "$artifacts"
cp "$root"/tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null

opts="-max_total_time=$secs -print_final_stats=1 -timeout=30 -artifact_prefix=$artifacts/"
[ -f "$root/tests/fuzz/$name.dict" ] && opts="$opts -dict=$root/tests/fuzz/$name.dict"
cwd=$root
if [ ! -d "$fixtures" ]; then
    echo "fuzz: note: no fixtures at $fixtures; using the committed seeds only" >&2
fi
case $name in
gguf)
    # Fixture GGUFs up to 2 MB (the vocabulary-only and e2e files are larger).
    if [ -d "$fixtures" ]; then
        for f in "$fixtures"/quants/*.gguf "$fixtures"/models/*.gguf; do
            [ -f "$f" ] || continue
            [ "$(wc -c < "$f")" -le 2000000 ] && cp "$f" "$corpus/fixture-$(basename "$f")"
        done
    fi
    opts="$opts -max_len=2000000"
    ;;
tokenizer)
    # The harness tokenizes with the fixture vocabularies: nothing to do without them.
    if [ ! -f "$fixtures/tokenizer/gemma-3.gguf" ] || [ ! -f "$fixtures/tokenizer/gemma-4.gguf" ]; then
        echo "fuzz: tokenizer: skipped, no vocabularies in $fixtures/tokenizer"
        exit 0
    fi
    # Each test string of the fixtures' .inp files becomes one seed.
    if [ -d "$fixtures/tokenizer" ]; then
        for f in "$fixtures"/tokenizer/*.inp; do
            [ -f "$f" ] || continue
            awk -v out="$corpus/fixture-$(basename "$f" .inp)-" '
                /^__ggml_vocab_test__$/ { if (n++) close(file); file = sprintf("%s%03d", out, n); printf "" > file; first = 1; next }
                { if (!file) { file = sprintf("%s%03d", out, 0); n = 1 }
                  printf "%s%s", (first ? "" : "\n"), $0 > file; first = 0 }' "$f"
        done
    fi
    ;;
args)
    # The CLI may read and write files named by the fuzzed arguments: run it in an empty
    # scratch directory (the harness also refuses arguments containing '/').
    cwd=$build/args-cwd
    rm -rf "$cwd"
    mkdir -p "$cwd"
    opts="$opts -detect_leaks=0 -close_fd_mask=3"
    ;;
esac

echo "fuzz: $name for ${secs}s on $corpus ($(ls "$corpus" | wc -l) inputs)"
# shellcheck disable=SC2086
(cd "$cwd" && GEMMA_FIXTURES="$fixtures" "$bin" $opts ${FUZZ_ARGS:-} "$corpus") > "$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
if [ $rc -ne 0 ]; then
    echo "fuzz: $name: FINDING (exit $rc) after ${execs:-?} executions; log $log, reproducer:" >&2
    ls "$artifacts" >&2
    grep -m1 -A30 "ERROR\|==ERROR\|runtime error\|deadly signal\|fuzz_.*: " "$log" | head -40 >&2
    exit 1
fi
echo "fuzz: $name: ${execs:-?} executions (${rate:-?} exec/s), no finding; corpus $(ls "$corpus" | wc -l) inputs"
