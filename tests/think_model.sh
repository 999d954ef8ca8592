# Sourced by tests/cli.sh, tests/test_serve.sh and tests/test_serve_node.sh: a Gemma 4 model
# that thinks and answers what we say it does. A random-weight model says random tokens, so
# this one is written by `mkmodel --script` (zero layers, a one-hot embedding and an output
# head that maps each token to the next): after the generation prompt's last token ("\n" of
# "<|turn>model\n") greedy decoding opens the thought channel, thinks $THOUGHT, closes it and
# answers $ANSWER; without thinking the prompt ends in the pre-filled empty channel's
# <channel|>, which leads straight to the answer. Needs MKMODEL and FIX.
THOUGHT='The user says hi.'
ANSWER='Hello there!'
THINK_MODEL=build/tmp/think-gemma4-script.gguf

# make_think_model: write $THINK_MODEL once (each maker its own .part file, renamed whole:
# the scripts run in parallel)
make_think_model() {
  [ -f "$THINK_MODEL" ] && return 0
  mkdir -p "$(dirname "$THINK_MODEL")"
  "$MKMODEL" --preset gemma4-e2b --type Q4_0 --shrink 16 --layers 1 --vocab "$FIX/tokenizer/gemma-4.gguf" -q \
    --script "$(printf '\n<|channel>thought\n%s<channel|>%s<turn|>' "$THOUGHT" "$ANSWER")" \
    -o "$THINK_MODEL.part.$$" && mv "$THINK_MODEL.part.$$" "$THINK_MODEL"
}
