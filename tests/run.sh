#!/bin/sh
# Runs the C test runner and the CLI checks, then prints the combined summary line.
# Environment: GEMMA_BIN (default ./gemma), TEST_RUNNER (default build/test_runner).
GEMMA_BIN=${GEMMA_BIN:-./gemma}
TEST_RUNNER=${TEST_RUNNER:-build/test_runner}
export GEMMA_BIN
mkdir -p build/tmp
log=build/tmp/run.log
: > "$log"
{ "$TEST_RUNNER" "$@"; echo "# exit status $?"; } 2>&1 | tee -a "$log"
for script in tests/test_fixture_copy.sh tests/test_doc_refs.sh tests/test_dump.sh tests/cli.sh tests/test_info.sh tests/test_bench.sh \
              tests/test_grammar_cli.sh tests/test_constrained_cli.sh tests/test_serve.sh tests/test_serve_node.sh \
              tests/soak.sh; do
  { bash "$script"; echo "# exit status $?"; } 2>&1 | tee -a "$log"
done
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
