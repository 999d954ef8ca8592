#!/bin/sh
# test_neon.sh - the AArch64 build under qemu-user (run by `make neon-test`, see mk/neon.mk).
#
# 1. Cross-compiles ./gemma and the test runner into $NEON_BUILD (static executables).
# 2. Disassembles the NEON kernels: the baseline set must hold no instruction beyond ARMv8.0
#    (sdot & co. only in the *_sdot_* kernels), so that it runs on a Cortex-A53/A72.
# 3. Runs the suites under qemu-aarch64 twice, both at once (each emulator is one process):
#    -cpu max (dotprod, so the dispatch picks the "NEON dotprod" set) and -cpu cortex-a72
#    (ARMv8.0: the baseline "NEON" set, and any stray sdot would die with SIGILL). The
#    fixture suite checks the logits with those kernels, the kvcache suite every KV cache
#    type on them (-cpu max: both NEON sets and scalar), the threads suite the worker pool's
#    wake-ups on AArch64's memory model as qemu gives it (a lost wake-up there once hung CI's
#    fixture run for an hour; the suite's stress case found it in 2 of 3 runs before the
#    fix, src/threads.c store_then_load). Suites are named exactly (the
#    runner's "=NAME"): "model" alone also matched mkmodel, whose 700-token prompts took
#    minutes under emulation and test no kernel the simd and fixture suites do not.
#    Each emulator gets NEON_TIMEOUT seconds (default 1200; both take ~3 min here): one that
#    is still running then is stopped and fails with what it printed, so a hang costs this
#    step, not the whole CI run.
# Exits non-zero on any failure. Environment: NEON_BUILD (build-arm64), NEON_QEMU
# (qemu-aarch64), NEON_OBJDUMP (aarch64-linux-gnu-objdump), NEON_SUITES, NEON_BASE_SUITES,
# NEON_TIMEOUT, MAKE.
set -u
cd "$(dirname "$0")/.." || exit 1
NEON_BUILD=${NEON_BUILD:-build-arm64}
NEON_QEMU=${NEON_QEMU:-qemu-aarch64}
NEON_OBJDUMP=${NEON_OBJDUMP:-aarch64-linux-gnu-objdump}
NEON_SUITES=${NEON_SUITES:-neon simd quants panels fixtures kvcache gguf model chat threads}
NEON_BASE_SUITES=${NEON_BASE_SUITES:-neon simd fixtures threads}
NEON_TIMEOUT=${NEON_TIMEOUT:-1200}
MAKE=${MAKE:-make}
unset GEMMA_KERNELS

for tool in "$NEON_QEMU" "$NEON_OBJDUMP"; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL $tool not found (Debian: apt-get install gcc-aarch64-linux-gnu qemu-user)"
    exit 1
  fi
done

echo "# building $NEON_BUILD/gemma and $NEON_BUILD/test_runner for aarch64"
mkdir -p "$NEON_BUILD"
$MAKE -f Makefile -f mk/neon.mk NEON_BUILD="$NEON_BUILD" neon-build >"$NEON_BUILD/build.log" 2>&1 || {
  cat "$NEON_BUILD/build.log"
  echo "FAIL aarch64 cross build (log above)"
  exit 1
}

failed=0

# ---- 2. instruction check: a line per function with its extension-only instructions ----
# Dot products and matrix multiplies need ARMv8.2+ extensions; only the kernels installed by
# kernels_neon_dotprod_install (named *_sdot_*) may use them.
ext='[[:space:]](sdot|udot|usdot|sudot|smmla|ummla|usmmla|bfdot|bfmmla|bfmlal[bt]?)[[:space:]]'
for bin in "$NEON_BUILD/gemma" "$NEON_BUILD/test_runner"; do
  stray=$("$NEON_OBJDUMP" -d --no-show-raw-insn "$bin" | awk -v ext="$ext" '
    /^[0-9a-f]+ <.*>:$/ { fn = $2; next }
    $0 ~ ext && fn !~ /_sdot_/ { n[fn]++ }
    END { for (f in n) print f, n[f] }')
  if [ -n "$stray" ]; then
    echo "FAIL $bin: ARMv8.2+ instructions outside the dotprod kernels:"
    echo "$stray"
    failed=1
  else
    echo "ok   $bin: ARMv8.2+ dot-product instructions only in the *_sdot_* kernels"
  fi
done
n_sdot=$("$NEON_OBJDUMP" -d --no-show-raw-insn "$NEON_BUILD/test_runner" | grep -c '[[:space:]]sdot[[:space:]]')
if [ "$n_sdot" -gt 0 ]; then
  echo "ok   $NEON_BUILD/test_runner: the dotprod kernels use sdot ($n_sdot instructions)"
else
  echo "FAIL $NEON_BUILD/test_runner: no sdot at all (built without dotprod?)"
  failed=1
fi

# ---- 3. the suites under qemu, per emulated CPU ----
# GEMMA_BIN: the CLI cases run ./gemma through qemu with the same CPU.
start_suites() { # cpu, suites...: in the background, its log and exit status in $NEON_BUILD
  cpu=$1
  shift
  wrapper="$NEON_BUILD/gemma-qemu-$cpu"
  printf '#!/bin/sh\nexec %s -cpu %s "%s/gemma" "$@"\n' "$NEON_QEMU" "$cpu" "$PWD/$NEON_BUILD" >"$wrapper"
  chmod +x "$wrapper"
  exact=
  for suite in "$@"; do exact="$exact =$suite"; done
  # shellcheck disable=SC2086  # one word per suite
  { GEMMA_BIN="$wrapper" timeout -k 10 "$NEON_TIMEOUT" $NEON_QEMU -cpu "$cpu" "$NEON_BUILD/test_runner" $exact; \
    echo $? >"$NEON_BUILD/qemu-$cpu.status"; } >"$NEON_BUILD/qemu-$cpu.log" 2>&1 &
}

report_suites() { # cpu, suites...: after start_suites and wait
  cpu=$1
  shift
  log="$NEON_BUILD/qemu-$cpu.log"
  echo "# qemu-aarch64 -cpu $cpu: $*"
  cat "$log"
  status=$(cat "$NEON_BUILD/qemu-$cpu.status" 2>/dev/null || echo 1)
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "FAIL qemu -cpu $cpu: still running after $NEON_TIMEOUT s, stopped (NEON_TIMEOUT)"
    failed=1
  elif [ "$status" -ne 0 ]; then
    echo "FAIL qemu -cpu $cpu: test runner exit status $status"
    failed=1
  fi
  for suite in "$@"; do
    if ! grep -q "^# suite $suite" "$log"; then
      echo "FAIL qemu -cpu $cpu: suite '$suite' did not run (not registered in tests/test_main.c?)"
      failed=1
    fi
  done
}

rm -f "$NEON_BUILD"/qemu-*.status
# shellcheck disable=SC2086  # word splitting of the suite lists is intended
start_suites max $NEON_SUITES
# shellcheck disable=SC2086
start_suites cortex-a72 $NEON_BASE_SUITES
wait
# shellcheck disable=SC2086
report_suites max $NEON_SUITES
# shellcheck disable=SC2086
report_suites cortex-a72 $NEON_BASE_SUITES

if [ "$failed" -eq 0 ]; then
  echo "neon-test: all passed"
else
  echo "neon-test: FAILED"
fi
exit "$failed"
