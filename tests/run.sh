#!/bin/sh
# run.sh - the whole suite (`make test`): every suite of the C test runner and every CLI
# script, each a part of its own, TEST_JOBS parts at a time (default 2, CI's cores), then the
# combined summary line "N passed, N failed" and a non-zero exit on any failure.
# Each part writes its own log; the logs are printed whole, in the order of the list below,
# as soon as a part and those before it are done, so a failing part reads as if it ran alone
# (every part's log ends "# exit status N (S s)": where the time went).
# A part that runs longer than TEST_PART_TIMEOUT seconds (default 1800: the slowest part takes
# ~4 min alone and ~12 min under the sanitizers on a loaded machine) is stopped and fails with
# what it printed so far, so a hang costs one part, not the whole CI run's time.
# Environment: GEMMA_BIN (default ./gemma), TEST_RUNNER (default build/test_runner),
# TEST_JOBS, TEST_PART_TIMEOUT. Arguments, if any: suites for the runner (as test_runner takes them), one part.
GEMMA_BIN=${GEMMA_BIN:-./gemma}
TEST_RUNNER=${TEST_RUNNER:-build/test_runner}
export GEMMA_BIN TEST_RUNNER
dir=build/tmp/run

# One part (run by xargs below): "ID runner ARGS..." or "ID script FILE".
if [ "${1:-}" = --part ]; then
  id=$2 kind=$3
  shift 3
  start=$(date +%s)
  limit=${TEST_PART_TIMEOUT:-1800}
  case $kind in
    runner) timeout -k 10 "$limit" "$TEST_RUNNER" "$@" ;;
    *) timeout -k 10 "$limit" bash "$1" ;;
  esac > "$dir/$id.part" 2>&1
  rc=$?
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] &&
    echo "FAIL $kind $*: still running after $limit s, stopped (TEST_PART_TIMEOUT)" >> "$dir/$id.part"
  echo "# exit status $rc ($(($(date +%s) - start)) s)" >> "$dir/$id.part"
  mv "$dir/$id.part" "$dir/$id.log"   # whole, or not there yet
  exit 0
fi

rm -rf "$dir"
mkdir -p "$dir"
log=build/tmp/run.log
: > "$log"

# The parts, the slowest first so that the lanes end together: the scripts, then the
# runner's suites (each alone: --list names them, so a new suite needs no line here).
{
  for script in tests/test_constrained_cli.sh tests/test_bench.sh tests/cli.sh tests/soak.sh tests/test_kernel_paths.sh \
                tests/test_serve_node.sh tests/test_serve.sh tests/test_info.sh tests/test_doc_refs.sh \
                tests/test_dump.sh tests/test_grammar_cli.sh tests/test_fixture_copy.sh; do
    echo "script $script"
  done
  if [ $# -gt 0 ]; then
    echo "runner $*"
  else
    "$TEST_RUNNER" --list | sed 's/^/runner =/'
  fi
} | awk '{ printf "%03d %s\n", NR, $0 }' > "$dir/parts"
grep -q ' runner ' "$dir/parts" || echo "FAIL $TEST_RUNNER --list named no suites" | tee -a "$log"

xargs -P "${TEST_JOBS:-2}" -L 1 sh "$0" --part < "$dir/parts" &
workers=$!
while read -r id kind what; do
  while [ ! -f "$dir/$id.log" ] && kill -0 "$workers" 2> /dev/null; do sleep 0.2; done
  if [ -f "$dir/$id.log" ]; then
    cat "$dir/$id.log"
  else
    echo "FAIL $kind $what: the part did not finish"
  fi
done < "$dir/parts" | tee -a "$log"
wait "$workers"

passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^FAIL' "$log")
skipped=$(grep -c '^skip ' "$log")
# A runner that died (crash, sanitizer abort) without reporting a FAIL still fails the run.
if grep -q '^# exit status [1-9]' "$log" && [ "$failed" -eq 0 ]; then
  echo "FAIL a test program exited with an error (see above)"
  failed=1
fi
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
