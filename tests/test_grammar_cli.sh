#!/usr/bin/env bash
# CLI checks of `gemma grammar`: the GBNF of a schema, of any JSON value and of Gemma 4 tool
# calls; a grammar file checked; a text matched against a grammar; the errors and exit codes.
# Prints "ok   grammar-cli: name" / "FAIL grammar-cli: name" per check (tests/run.sh counts
# them).
GEMMA=${GEMMA_BIN:-./gemma}
T=build/tmp/grammar-cli
mkdir -p "$T"

ok()   { echo "ok   grammar-cli: $1"; }
fail() { echo "FAIL grammar-cli: $1"; shift; for l in "$@"; do echo "    $l"; done; }
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name" "failed: $*" "stdout: $(head -c 400 "$T/out")" \
    "stderr: $(head -c 400 "$T/err")"; fi
}
# run ARGS...: stdout -> $T/out, stderr -> $T/err, status -> $rc
run() { "$GEMMA" grammar "$@" > "$T/out" 2> "$T/err" < /dev/null; rc=$?; }
runin() { local in=$1; shift; "$GEMMA" grammar "$@" > "$T/out" 2> "$T/err" < "$in"; rc=$?; }
has() { grep -Fq -- "$1" "$T/out"; }
err_has() { grep -Fq -- "$1" "$T/err"; }

# --- a JSON schema becomes a grammar, which then matches what the schema allows ---
schema='{"type":"object","properties":{"n":{"type":"integer","minimum":1,"maximum":12},"s":{"type":"string","maxLength":3}},"required":["n"]}'
run --json-schema "$schema"
check "schema: exit 0 and a root rule first" bash -c "[ $rc -eq 0 ] && head -1 $T/out | grep -q '^root ::= '"
check "schema: the bounded integer and string rules" bash -c "grep -q '^root-n ::= ' $T/out && grep -q 'char{0,3}' $T/out"
cp "$T/out" "$T/schema.gbnf"
printf '%s' "$schema" > "$T/schema.json"
run -jf "$T/schema.json"
check "schema from a file (-jf): the same grammar" cmp -s "$T/out" "$T/schema.gbnf"
printf '{"n": 12, "s": "abc"}' > "$T/good.json"
printf '{"n": 13}' > "$T/bad.json"
printf '{"n": 1' > "$T/part.json"
run --grammar-file "$T/schema.gbnf" --match "$T/good.json"
check "--match: a valid instance matches (exit 0)" bash -c "[ $rc -eq 0 ] && grep -qx match $T/out"
run --json-schema "$schema" --match "$T/bad.json"
check "--match: an invalid one does not, and says where (exit 1)" bash -c "[ $rc -eq 1 ] && grep -qx 'no match at byte 7' $T/out"
run --json-schema-file "$T/schema.json" --match "$T/part.json"
check "--match: a prefix is a prefix (exit 1)" bash -c "[ $rc -eq 1 ] && grep -qx prefix $T/out"
runin "$T/good.json" --json-schema "$schema" --match -
check "--match -: the text from stdin" bash -c "[ $rc -eq 0 ] && grep -qx match $T/out"

# --- any JSON value ---
run --format json
check "--format json: the grammar of any value" bash -c "[ $rc -eq 0 ] && head -1 $T/out | grep -qx 'root ::= value'"
printf '[1, {"a": null}, "x", -2.5e3, true]' > "$T/any.json"
run --format json --match "$T/any.json"
check "--format json: any JSON matches" bash -c "[ $rc -eq 0 ] && grep -qx match $T/out"

# --- Gemma 4 tool calls ---
cat > "$T/tools.json" <<'EOF'
[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]
EOF
run --tools "$T/tools.json"
check "--tools: text or calls, a call rule per tool" bash -c "[ $rc -eq 0 ] && grep -q '^root ::= !<|tool_call>\\* tool-call\\*$' $T/out && grep -q '^call-get-weather ::= \"get_weather\" ' $T/out"
run --tools "$T/tools.json" --tools-required
check "--tools-required: calls only" bash -c "[ $rc -eq 0 ] && grep -qx 'root ::= tool-call+' $T/out"
printf '[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"string","format":"email"}}}}}]' > "$T/badtools.json"
run --tools "$T/badtools.json"
check "--tools: an unsupported parameter schema names the tool and the problem" \
  bash -c "[ $rc -eq 1 ] && grep -Fq \"tools: 'f': parameters: json schema: #/properties/x: format 'email' is not supported\" $T/err"

# --- checking a grammar ---
printf 'root ::= item+\nitem ::= [a-z]+ "\\n"\n' > "$T/list.gbnf"
run --grammar-file "$T/list.gbnf"
check "--grammar-file: a valid grammar prints ok" bash -c "[ $rc -eq 0 ] && grep -qx ok $T/out"
printf '# a list\nroot ::= item+\nitem ::= [a-z]+ "\\n"\nbroken ::= (item\n' > "$T/broken.gbnf"
run --grammar-file "$T/broken.gbnf"
c=0; [ $rc -eq 1 ] && err_has "gemma: error: grammar: line 5, column 1: expected ')' for the '(' on line 4, column 12" && c=1
check "--grammar-file: an error with line and column (exit 1)" test $c -eq 1
run --grammar 'expr ::= expr "+" [0-9] | [0-9]' --root expr
check "--grammar: left recursion named (exit 1)" bash -c "[ $rc -eq 1 ] && grep -Fq \"rule 'expr' can reach itself\" $T/err"
run --grammar 'start ::= "x"' --root start
check "--root: another start rule" bash -c "[ $rc -eq 0 ] && grep -qx ok $T/out"

# --- errors ---
run --json-schema '{"type":"string","not":{}}'
check "an unsupported keyword is named (exit 1)" bash -c "[ $rc -eq 1 ] && grep -Fq \"json schema: #: unsupported keyword 'not'\" $T/err"
run --json-schema-file "$T/does-not-exist.json"
check "a missing file is an I/O error (exit 4)" bash -c "[ $rc -eq 4 ] && grep -Fq 'cannot open schema file' $T/err"
run --format yaml
check "an unknown format is a usage error (exit 2)" bash -c "[ $rc -eq 2 ] && grep -Fq \"unknown --format 'yaml'\" $T/err"
run
check "no source is a usage error (exit 2)" bash -c "[ $rc -eq 2 ] && grep -Fq 'give exactly one of' $T/err"
run --format json --grammar x
check "two sources are a usage error (exit 2)" test $rc -eq 2
run --json-schema
check "a missing value is a usage error (exit 2)" bash -c "[ $rc -eq 2 ] && grep -Fq \"option '--json-schema' needs a value\" $T/err"
run --help
check "--help: usage on stdout, exit 0" bash -c "[ $rc -eq 0 ] && grep -q '^usage: gemma grammar' $T/out"
