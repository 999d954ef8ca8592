#!/usr/bin/env bash
# `gemma serve` against real clients: the official `openai` npm package
# (tests/node/openai_client.cjs) and the chat page in headless Chromium through
# playwright-core (tests/node/chat_page.cjs), on the random-weight model of test_serve.c.
# The npm packages go to $GEMMA_NPM (default build/npm, ignored by git); .ci/run installs
# them (tests/test_serve_node.sh --install), and this script does when they are missing. Without node (or chromium for the page)
# the checks are skipped with the reason, except under CI (GEMMA_CI set), where it fails.
# Prints "ok   serve-node: name" / "FAIL serve-node: name" per check.
GEMMA=${GEMMA_BIN:-./gemma}
MKMODEL=${MKMODEL:-$(dirname "${TEST_RUNNER:-build/test_runner}")/mkmodel}
FIX=${GEMMA_FIXTURES:-tests/fixtures}
export GEMMA_NPM=${GEMMA_NPM:-build/npm}
NPM_PACKAGES="openai@6.49.0 playwright-core@1.65.2"
T=build/tmp/serve-node
mkdir -p "$T"
M=build/tmp/serve-gemma3-tiny-Q4_0.gguf

fail() { echo "FAIL serve-node: $1"; shift; for l in "$@"; do echo "    $l"; done; }
missing() { # missing WHAT: skip locally, fail under CI
  if [ -n "${GEMMA_CI:-}" ]; then fail "$1 is installed (CI must have it)"; exit 1; fi
  echo "skip serve-node: $1 not found"
}
if ! command -v node > /dev/null; then missing node; exit 0; fi
if [ "${1-}" = --install ] || [ ! -d "$GEMMA_NPM/node_modules/openai" ] || [ ! -d "$GEMMA_NPM/node_modules/playwright-core" ]; then
  npm install --prefix "$GEMMA_NPM" --no-audit --no-fund --loglevel=error $NPM_PACKAGES > "$T/npm.log" 2>&1 ||
    { fail "npm install $NPM_PACKAGES" "$(tail -5 "$T/npm.log")"; exit 1; }
fi
[ "${1-}" = --install ] && exit 0   # .ci/run: only the packages
. tests/serve_lib.sh
make_model "$M" gemma3-270m gemma-3.gguf || { fail "the test model ($MKMODEL)"; exit 1; }

stop() { # SIGTERM; $rc the exit status
  kill -TERM $pid
  for _ in $(seq 300); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done
  if kill -0 $pid 2> /dev/null; then kill -KILL $pid; wait $pid; rc=124; else wait $pid; rc=$?; fi
  [ $rc -eq 0 ] && echo "ok   serve-node: $1: the server exits 0 at SIGTERM" || fail "$1: server exit status $rc" "$(tail -5 "$T/$1.log")"
}

# tools need Gemma 4's tool-call tokens: a second server on a Gemma 4 model of that shape;
# reasoning_content a third, on the model scripted to think (tests/think_model.sh)
M4=build/tmp/serve-gemma4-tiny-Q4_0.gguf
make_model "$M4" gemma4-e2b gemma-4.gguf || { fail "the Gemma 4 test model ($MKMODEL)"; exit 1; }
. tests/think_model.sh
make_think_model || { fail "the thinking test model ($MKMODEL --script)"; exit 1; }
export THOUGHT ANSWER
if M=$M4 start openai4 -np 1 -c 1024 && pid4=$pid port4=$port && M=$THINK_MODEL start think -np 1 -c 512; then
  pid_think=$pid port_think=$port
  if start openai --api-key sekret -np 2 -c 1024; then
    node tests/node/openai_client.cjs "http://127.0.0.1:$port" sekret "http://127.0.0.1:$port4" "http://127.0.0.1:$port_think"
    stop openai
  else
    fail "openai: server starts" "$(cat "$T/openai.log")"
  fi
  pid=$pid_think
  stop think
  pid=$pid4
  stop openai4
else
  fail "openai: the Gemma 4 servers start" "$(cat "$T/openai4.log" "$T/think.log" 2> /dev/null)"
  [ -n "${pid4-}" ] && kill -TERM "$pid4" "$pid" 2> /dev/null
fi

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
if [ -z "$CHROMIUM" ]; then missing chromium; exit 0; fi
# no max_tokens from the page: -n makes the answer long enough to stop while it streams
if start page -np 1 -c 4096 -n 4000; then
  node tests/node/chat_page.cjs "http://127.0.0.1:$port" "$CHROMIUM"
  stop page
else
  fail "page: server starts" "$(cat "$T/page.log")"
fi
