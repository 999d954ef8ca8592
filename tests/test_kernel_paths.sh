#!/usr/bin/env bash
# Every fixture on every kernel path this CPU can run or emulate: the runner's fixture and
# batch suites again under each GEMMA_KERNELS set other than the one chosen by default
# (which the plain suites already cover). A set the CPU lacks is skipped with its reason,
# NEON sets are covered under qemu by test_neon.sh (`make neon-test`).
# Prints the runner's "ok"/"FAIL"/"skip" lines tagged with the set (tests/run.sh counts them).
GEMMA=${GEMMA_BIN:-./gemma}
RUNNER=${TEST_RUNNER:-build/test_runner}
default=$("$GEMMA" --version 2> /dev/null | sed -n 's/.*(kernels: \(.*\))$/\1/p')
for set in scalar avx2 avx512 amx amx-emu avx512-emu; do
  banner=$(GEMMA_KERNELS=$set "$GEMMA" --version 2>&1)
  if grep -q 'not supported' <<< "$banner"; then
    echo "skip kernels[$set]: not supported by this CPU"
    continue
  fi
  name=$(sed -n 's/.*(kernels: \(.*\))$/\1/p' <<< "$banner")
  [ "$name" = "$default" ] && continue
  for suite in fixtures batch; do
    # the runner's verdicts tagged with the set; detail lines only under a FAIL
    GEMMA_KERNELS=$set "$RUNNER" "=$suite" 2>&1 |
      awk -v set="$set" '/^(ok|FAIL|skip)/ { bad = /^FAIL/; sub(/^(ok |FAIL|skip)/, "& [" set "]"); print; next }
                          bad && /^ / { print }'
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || echo "FAIL [$set] $suite: the runner exited with $rc"
  done
done
