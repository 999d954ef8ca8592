# Sourced by tests/test_serve.sh and tests/test_serve_node.sh: the test models and starting a
# server. Needs GEMMA, MKMODEL, FIX, T, and a fail() of the including script.

# make_model FILE PRESET VOCAB: a random-weight model of PRESET's shape / 4, two layers, the
# real vocabulary (made once; the same file as test_serve.c's, which tests/run.sh may be making
# at the same time: each maker writes its own .part file and renames it whole)
make_model() {
  [ -f "$1" ] && return 0
  "$MKMODEL" --preset "$2" --type Q4_0 --shrink 4 --layers 2 --vocab "$FIX/tokenizer/$3" -q \
    -o "$1.part.$$" && mv "$1.part.$$" "$1"
}

# start NAME ARGS...: `gemma serve -m $M` in the background, its stderr in $T/NAME.log;
# sets $pid, and $port once it listens (status 1 if it exits or never listens)
start() {
  local name=$1; shift
  rm -f "$T/$name.log"   # not an earlier run's port: the shell may read before the server writes
  "$GEMMA" serve -m "$M" --port 0 -t 1 "$@" > /dev/null 2> "$T/$name.log" &
  pid=$!
  port=
  for _ in $(seq 600); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$T/$name.log" 2> /dev/null)
    [ -n "$port" ] && return 0
    kill -0 $pid 2> /dev/null || return 1
    sleep 0.1
  done
  return 1
}
