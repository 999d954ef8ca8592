#!/bin/sh
# test_fixture_copy.sh - tests/fixtures is a byte-identical copy of the project's ground
# truth (../shared/fixtures, made by independent implementations; never regenerated here).
# Where that original sits beside the checkout (development machines, CI), every file must
# match it exactly and no file may be missing or extra.
cd "$(dirname "$0")/.." || exit 1
orig=${GEMMA_FIXTURES_ORIGINAL:-../shared/fixtures}
if [ ! -d "$orig" ]; then
  echo "skip fixtures copy: no $orig beside the checkout to compare tests/fixtures with"
  exit 0
fi
if out=$(diff -r "$orig" tests/fixtures 2>&1); then
  n=$(find tests/fixtures -type f | wc -l)
  echo "ok   fixtures copy: tests/fixtures is byte-identical to $orig ($n files)"
else
  echo "FAIL fixtures copy: tests/fixtures differs from $orig:"
  echo "$out" | head -20
  exit 1
fi
