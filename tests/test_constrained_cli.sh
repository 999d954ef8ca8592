#!/usr/bin/env bash
# End-to-end checks of constrained output through the command line, on random-weight models
# (which left alone write garbage, so every well-formed output is the constraint's doing):
# for many seeds, --format json output parses, -j output validates against its schema (an
# independent validator below, and the engine's matcher), --grammar output is a sentence of
# the grammar; forced Gemma 4 tool calls parse into a declared tool's arguments; a tool
# result given back continues the answer with exactly the template's markup; the chat asks
# for results; the errors and exit codes; the timings.
# Prints "ok   constrained-cli: name" / "FAIL constrained-cli: name" per check.
GEMMA=${GEMMA_BIN:-./gemma}
FIX=${GEMMA_FIXTURES:-tests/fixtures}
MKMODEL=${MKMODEL:-build/mkmodel}
T=build/tmp/constrained-cli
mkdir -p "$T"
G3=$FIX/models/gemma3-q8_0.gguf
G4=$FIX/models/gemma4-vocab-e2e.gguf     # real Gemma 4 vocabulary, tool tokens
SEEDS=${CONSTRAINED_SEEDS:-10}

ok()   { echo "ok   constrained-cli: $1"; }
fail() { echo "FAIL constrained-cli: $1"; shift; for l in "$@"; do echo "    $l"; done; }
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name" "failed: $*" "stdout: $(head -c 300 "$T/out")" \
    "stderr: $(head -c 300 "$T/err")"; fi
}
run() { "$GEMMA" "$@" > "$T/out" 2> "$T/err" < /dev/null; rc=$?; }
one_line_err() { [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q '^gemma: error: ' "$T/err"; }

if ! command -v python3 > /dev/null; then
  echo "skip constrained-cli: python3 is needed to parse and validate the outputs"
  exit 0
fi

# A JSON Schema validator for the keywords the schemas below use, independent of the engine.
cat > "$T/validate.py" <<'EOF'
import json, re, sys
def ok(s, v, root):
    if '$ref' in s:
        return ok(root['$defs'][s['$ref'].split('/')[-1]], v, root)
    if 'anyOf' in s and not any(ok(x, v, root) for x in s['anyOf']): return False
    if 'const' in s and v != s['const']: return False
    if 'enum' in s and v not in s['enum']: return False
    t = s.get('type')
    if isinstance(t, list):   # "type": ["string", "null"]: any of them
        return any(ok(dict(s, type=x), v, root) for x in t)
    types = {'object': dict, 'array': list, 'string': str, 'boolean': bool, 'null': type(None)}
    if t in types and not isinstance(v, types[t]): return False
    if t == 'integer' and (not isinstance(v, int) or isinstance(v, bool)): return False
    if t == 'number' and (not isinstance(v, (int, float)) or isinstance(v, bool)): return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if 'minimum' in s and v < s['minimum']: return False
        if 'maximum' in s and v > s['maximum']: return False
    if isinstance(v, str):
        if len(v) < s.get('minLength', 0) or len(v) > s.get('maxLength', 1 << 30): return False
        if 'pattern' in s and not re.fullmatch(s['pattern'].strip('^$'), v): return False
        if s.get('format') == 'date' and not re.fullmatch(r'\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])', v): return False
    if isinstance(v, list):
        if len(v) < s.get('minItems', 0) or len(v) > s.get('maxItems', 1 << 30): return False
        if 'items' in s and not all(ok(s['items'], x, root) for x in v): return False
    if isinstance(v, dict):
        props = s.get('properties', {})
        if any(k not in v for k in s.get('required', [])): return False
        for k, x in v.items():
            if k in props:
                if not ok(props[k], x, root): return False
            elif s.get('additionalProperties') is False: return False
    return True
schema = json.load(open(sys.argv[1]))
value = json.loads(open(sys.argv[2], encoding='utf-8').read())
sys.exit(0 if ok(schema, value, schema) else 1)
EOF
parses() { python3 -c 'import json,sys; json.loads(open(sys.argv[1], encoding="utf-8").read())' "$1" 2>/dev/null; }
valid() { python3 "$T/validate.py" "$1" "$2"; }   # valid SCHEMA-FILE VALUE-FILE
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$T/out" "$1"; }

# A Gemma 3 model with the real 262,144-token vocabulary (mkmodel, cut to one thin layer).
G3V=$T/gemma3-vocab.gguf
if [ -x "$MKMODEL" ] && [ ! -s "$G3V" ]; then
  "$MKMODEL" --preset gemma3-270m --vocab "$FIX/tokenizer/gemma-3.gguf" --layers 1 --shrink 8 \
    --type Q8_0 -q -o "$G3V" || rm -f "$G3V"
fi
MODELS="$FIX/models/gemma1-f32.gguf $FIX/models/gemma2-f16.gguf $G3 $FIX/models/gemma4-dense-bf16.gguf $G4"
[ -s "$G3V" ] && MODELS="$MODELS $G3V"
small() { case "$1" in *vocab*) echo $((SEEDS / 3 + 1));; *) echo "$SEEDS";; esac; }

# --- --format json: every output parses, on every generation ---
for m in $MODELS; do
  bad=""; n=$(small "$m")
  for s in $(seq 1 "$n"); do
    "$GEMMA" -m "$m" -p "Describe a cat as JSON." --format json -n 40 --temp 1.2 -s "$s" --log-disable \
      > "$T/any.$s" 2> "$T/err" < /dev/null || bad="$bad $s(exit)"
    parses "$T/any.$s" || bad="$bad $s"
  done
  check "--format json on $(basename "$m"): $n seeds, every output parses" test -z "$bad"
  [ -n "$bad" ] && echo "    bad seeds:$bad; e.g. $(head -c 200 "$T/any.${bad%%(*}" 2>/dev/null)"
done

# --- -j / -jf: every output validates against its schema ---
schemas=(
  '{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":120},"tags":{"type":"array","items":{"type":"string","enum":["a","b","c"]},"minItems":1,"maxItems":3}},"required":["name","age"],"additionalProperties":false}'
  '{"type":"array","items":{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"number"}},"required":["ok"]},"maxItems":3}'
  '{"anyOf":[{"type":"object","properties":{"kind":{"const":"date"},"d":{"type":"string","format":"date"}},"required":["kind","d"]},{"type":"object","properties":{"kind":{"const":"code"},"c":{"type":"string","pattern":"^[A-Z]{2}[0-9]{3}$"}},"required":["kind","c"]}]}'
  '{"$defs":{"pt":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x","y"]}},"type":"object","properties":{"from":{"$ref":"#/$defs/pt"},"to":{"$ref":"#/$defs/pt"},"note":{"type":["string","null"]}},"required":["from","to"]}'
)
i=0
for sc in "${schemas[@]}"; do
  i=$((i + 1)); printf '%s' "$sc" > "$T/schema$i.json"
  for m in $G3 $G4; do
    bad=""; n=$(small "$m")
    for s in $(seq 1 "$n"); do
      "$GEMMA" -m "$m" -p "Answer in JSON." -jf "$T/schema$i.json" -n 80 -s "$s" --log-disable \
        > "$T/val.$s" 2> "$T/err" < /dev/null || bad="$bad $s(exit)"
      valid "$T/schema$i.json" "$T/val.$s" 2>/dev/null || bad="$bad $s"
      "$GEMMA" grammar -jf "$T/schema$i.json" --match "$T/val.$s" 2>/dev/null | grep -qx match || bad="$bad $s(match)"
    done
    check "-jf schema $i on $(basename "$m"): $n seeds, every output validates" test -z "$bad"
    [ -n "$bad" ] && echo "    bad seeds:$bad; e.g. $(head -c 200 "$T/val.${bad%%(*}" 2>/dev/null)"
  done
done
run -m "$G3" -p hi -j "${schemas[0]}" -n 60 -s 3 --json
check "-j SCHEMA (inline) with --json: the text validates, the stop reason is named" \
  bash -c "python3 -c 'import json; print(json.load(open(\"$T/out\"))[\"text\"], end=\"\")' > $T/text && python3 $T/validate.py $T/schema1.json $T/text && grep -Eq '\"stop_reason\":\"(eos|limit)\"' $T/out"

# --- --grammar / --grammar-file: every output is a sentence of the grammar ---
cat > "$T/list.gbnf" <<'EOF'
# a shopping list: one to four items, each on its own line
root ::= item{1,4}
item ::= "- " [a-z]{2,10} (" x" [1-9])? "\n"
EOF
printf 'root ::= expr\nexpr ::= term (("+" | "-") term)*\nterm ::= [0-9]+ | "(" expr ")"\n' > "$T/expr.gbnf"
printf 'root ::= [α-ω]{3,8} "!"\n' > "$T/greek.gbnf"
for g in list expr greek; do
  for m in $G3 $G4; do
    bad=""; n=$(small "$m")
    for s in $(seq 1 "$n"); do
      "$GEMMA" -m "$m" -p "Go." --grammar-file "$T/$g.gbnf" -n 40 -s "$s" --log-disable \
        > "$T/gr.$s" 2> "$T/err" < /dev/null || bad="$bad $s(exit)"
      "$GEMMA" grammar --grammar-file "$T/$g.gbnf" --match "$T/gr.$s" 2>/dev/null | grep -qx match || bad="$bad $s"
    done
    check "--grammar-file $g.gbnf on $(basename "$m"): $n seeds, every output matches" test -z "$bad"
    [ -n "$bad" ] && echo "    bad seeds:$bad; e.g. $(head -c 200 "$T/gr.${bad%%(*}" 2>/dev/null)"
  done
done
run -m "$G3" -p hi --grammar-file "$T/list.gbnf" -n 40 -s 5
check "the list grammar's output, checked by a regular expression too" \
  python3 -c "import re,sys; sys.exit(0 if re.fullmatch(r'(- [a-z]{2,10}( x[1-9])?\n){1,4}', open('$T/out').read()) else 1)"
run -m "$G3" -p hi --grammar 'root ::= "yes" | "no"' -n 10 -s 1 --json
check "--grammar TEXT: yes or no" bash -c "grep -Eq '\"text\":\"(yes|no)\"' $T/out"
run -m "$G3" -p hi --grammar 'root ::= "yes" | "no"' --ignore-eos -n 10 -s 1 --json
check "--ignore-eos: stops when the grammar is done (stop reason grammar_done)" \
  bash -c "grep -Eq '\"text\":\"(yes|no)\"' $T/out && grep -q '\"stop_reason\":\"grammar_done\"' $T/out"
run -m "$G3" -p hi --format json -n 5 -s 2 --json
check "a tight -n: the output is still a whole JSON value" \
  python3 -c "import json; d=json.load(open('$T/out')); json.loads(d['text']); assert 1 <= d['tokens']['generated'] <= 5"
# this model's tokens are mostly single bytes and schema 1's shortest instance
# ({"name":"","age":0}) takes about 18 of them: -n 20 leaves almost no room to spare
bad=""
for n in 20 22 26; do
  for s in $(seq 1 "$SEEDS"); do
    "$GEMMA" -m "$G3" -p hi -jf "$T/schema1.json" -n "$n" -s "$s" --log-disable > "$T/val.$s" 2> "$T/err" < /dev/null
    valid "$T/schema1.json" "$T/val.$s" 2>/dev/null || bad="$bad -n$n:$s"
  done
done
check "a tight -n with a schema: every output still validates (-n 20, 22, 26; $SEEDS seeds)" test -z "$bad"
[ -n "$bad" ] && echo "    bad:$bad"
run -m "$G3" -p hi --format json -c 24 -n 100 -s 2 --json
check "a small context: the output is still a whole JSON value" \
  bash -c "python3 -c 'import json; json.loads(json.load(open(\"$T/out\"))[\"text\"])'"
run -m "$G4" -p hi --format json --think -n 40 -s 4 --json
check "--think: the answer after the (optional) thought still parses" \
  bash -c "[ $rc -eq 0 ] && python3 -c 'import json; json.loads(json.load(open(\"$T/out\"))[\"text\"])'"

# --- timings ---
run -m "$G3" -p hi --format json -n 20 -s 1 --json
check "--json timings: sampling time per token and the grammar's share" \
  python3 -c "import json; t=json.load(open('$T/out'))['timings']; assert t['sample_ms'] >= t['grammar_ms'] > 0 and t['sample_ms_per_token'] > 0 and t['grammar_checks'] > 0 and 'grammar_fallbacks' in t"
run -m "$G3" -p hi -n 20 -s 1 --json
check "--json timings without a grammar: no grammar time" \
  python3 -c "import json; t=json.load(open('$T/out'))['timings']; assert t['sample_ms'] > 0 and t['grammar_ms'] == 0 and t['grammar_checks'] == 0"
run -m "$G3" -p hi --format json -n 20 -s 1 -v
check "-v: a sampling line with ms/token, its share of generation and the grammar's work" \
  grep -Eq 'gemma: sampling +[0-9]+ tokens in .* ms/token, [0-9.]+ % of generation\); grammar [0-9.]+ ms' "$T/err"

# --- Gemma 4 tool calls ---
cat > "$T/tools.json" <<'EOF'
[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name","maxLength":20},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city"]}}},
 {"type":"function","function":{"name":"set_alarm","description":"Set an alarm.","parameters":{"type":"object","properties":{"time":{"type":"string","pattern":"^[0-2][0-9]:[0-5][0-9]$"},"repeat":{"type":"boolean"}},"required":["time"]}}}]
EOF
python3 -c "import json; [json.dump(t['function']['parameters'], open('$T/params.'+t['function']['name']+'.json','w')) for t in json.load(open('$T/tools.json'))]"
# on the real vocabulary and on the 512-token one (whose tokens are mostly single bytes, so a
# call takes many steps and the budget matters)
for m in $G4 $FIX/models/gemma4-dense-bf16.gguf; do
  bad=""; calls=$T/call.$(basename "$m" .gguf)
  for s in $(seq 1 $((SEEDS / 2 + 1))); do
    "$GEMMA" -m "$m" -p "What is the weather in Paris?" --tools "$T/tools.json" --tool-choice required \
      -n 60 -s "$s" --log-disable > "$calls.$s" 2> "$T/err" < /dev/null || bad="$bad $s(exit)"
    [ "$(wc -l < "$calls.$s")" -ge 1 ] || bad="$bad $s(none)"
    while IFS= read -r line; do
      printf '%s' "$line" > "$T/line"
      name=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert set(d) == {"name","arguments"}; print(d["name"])' "$T/line" 2>/dev/null)
      python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["arguments"], open(sys.argv[2],"w"))' "$T/line" "$T/args" 2>/dev/null
      if [ -z "$name" ] || [ ! -f "$T/params.$name.json" ] || ! valid "$T/params.$name.json" "$T/args"; then bad="$bad $s"; fi
    done < "$calls.$s"
  done
  check "--tool-choice required on $(basename "$m"): every call line names a declared tool, its arguments valid ($((SEEDS / 2 + 1)) seeds)" test -z "$bad"
  [ -n "$bad" ] && echo "    bad seeds:$bad; e.g. $(head -c 200 "$calls.${bad%%(*}" 2>/dev/null)"
done
run -m "$G4" -p "What is the weather in Paris?" --tools "$T/tools.json" --tool-choice required -n 60 -s 1 --json
check "--tools --json: stop reason tool_calls, the calls in \"tool_calls\", as on stdout, no text" \
  python3 -c "
import json; d=json.load(open('$T/out')); assert d['stop_reason'] == 'tool_calls' and d['text'] == ''
assert [json.dumps(c, separators=(',',':'), ensure_ascii=False) for c in d['tool_calls']] == open('$T/call.gemma4-vocab-e2e.1', encoding='utf-8').read().splitlines()"
run -m "$G4" -p "Hello!" --tools "$T/tools.json" --tool-choice none -n 30 -s 1 --json
check "--tool-choice none: no calls" python3 -c "import json; d=json.load(open('$T/out')); assert d['tool_calls'] == [] and d['stop_reason'] != 'tool_calls'"
bad=""
for s in 1 2 3; do
  run -m "$G4" -p "What is the weather in Paris?" --tools "$T/tools.json" -n 40 -s "$s" --json
  python3 -c "
import json; d=json.load(open('$T/out')); assert (d['stop_reason'] == 'tool_calls') == (len(d['tool_calls']) > 0)" || bad="$bad $s"
done
check "--tool-choice auto: stop reason tool_calls exactly when there are calls" test -z "$bad"

# a round trip: the call, then its result given back; the model goes on in the same turn
call=$(head -1 "$T/call.gemma4-vocab-e2e.1")
run -m "$G4" -p "What is the weather in Paris?" --tools "$T/tools.json" --tool-choice required \
  --tool-call "$call" --tool-response '{"temp": 21, "sky": "clear"}' -n 12 -s 1 --json
check "--tool-call + --tool-response: the answer continues (after results: no call forced)" \
  python3 -c "import json; d=json.load(open('$T/out')); assert d['tokens']['generated'] > 0 and d['text'] != '' and d['stop_reason'] in ('eos','limit','tool_calls')"
# what the model was given is exactly the template's markup: the same as a --raw prompt
# written out by hand (doc/chat.md#tool-calls)
cat > "$T/weather1.json" <<'EOF'
[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}}}]
EOF
printf '%s' '{"sky":"clear","temp":21}' > "$T/result.json"
run -m "$G4" -p "Weather in Paris?" --tools "$T/weather1.json" --tool-call '{"name":"get_weather","arguments":{"city":"Paris"}}' \
  --tool-response "$T/result.json" -n 12 --temp 0 --json
cp "$T/out" "$T/replay.json"
Q='<|"|>'
printf '%s' "<|turn>system
<|tool>declaration:get_weather{description:${Q}Current weather for a city.${Q},parameters:{properties:{city:{description:${Q}City name${Q},type:${Q}STRING${Q}}},required:[${Q}city${Q}],type:${Q}OBJECT${Q}}}<tool|><turn|>
<|turn>user
Weather in Paris?<turn|>
<|turn>model
<|channel>thought
<channel|><|tool_call>call:get_weather{city:${Q}Paris${Q}}<tool_call|><|tool_response>response:get_weather{sky:${Q}clear${Q},temp:21}<tool_response|><|channel>thought
<channel|>" > "$T/rendered.txt"
run -m "$G4" --raw -f "$T/rendered.txt" -n 12 --temp 0 --json
check "the replayed exchange is the template's markup: same prompt tokens and answer as --raw" \
  python3 -c "
import json; a=json.load(open('$T/replay.json')); b=json.load(open('$T/out'))
assert a['tokens']['prompt'] == b['tokens']['prompt'] and a['text'] == b['text'] and a['tokens']['generated'] > 0, (a, b)"
# two calls in one answer, then their results; an OpenAI-style call; calls from a file
printf '%s\n%s\n' '{"name":"get_weather","arguments":{"city":"Paris"}}' '{"name":"set_alarm","arguments":{"time":"07:30"}}' > "$T/calls.jsonl"
run -m "$G4" -p "Weather, then an alarm" --tools "$T/tools.json" --tool-call "$T/calls.jsonl" \
  --tool-response '{"temp":21}' --tool-response '{"ok":true}' -n 8 -s 1 --json
check "--tool-call FILE of two call lines, answered by two results" \
  python3 -c "import json; d=json.load(open('$T/out')); assert $rc == 0 and 1 <= d['tokens']['generated'] <= 8"
run -m "$G4" -p "Weather?" --tools "$T/tools.json" \
  --tool-call '{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}' \
  --tool-response '"snow"' -n 4 -s 1
check "an OpenAI-style call and a plain JSON string result are accepted" test $rc -eq 0

# the chat: a call is shown, its result asked for, the model goes on
printf 'What is the weather in Paris?\nnot json\n{"temp": 21}\n/tool-response {"x": 1}\n/bye\n' \
  | "$GEMMA" -m "$G4" -cnv --tools "$T/tools.json" --tool-choice required -n 30 -s 1 --log-disable > "$T/out" 2> "$T/err"
rc=$?
check "chat: the call shown as a JSON line, the result asked for by the tool's name" \
  bash -c "[ $rc -eq 0 ] && grep -q '^> tool call: {\"name\":\"' $T/out && grep -Eq '^(get_weather|set_alarm)> ' $T/out"
check "chat: a result that is not JSON is refused and asked for again" grep -q '(not a result: tool response for' "$T/out"
check "chat: /tool-response with no call waiting says so" grep -q '(no tool call is waiting for a result)' "$T/out"
printf 'What is the weather in Paris?\n/skip\n/bye\n' \
  | "$GEMMA" -m "$G4" -cnv --tools "$T/tools.json" --tool-choice required -n 30 -s 1 --log-disable > "$T/out" 2> "$T/err"
check "chat: /skip leaves the calls unanswered" grep -q '(the tool calls stay unanswered)' "$T/out"

# --- errors: one clear line each, the right exit code, before the model is loaded ---
run -m "$G3" -p hi --format json --grammar 'root ::= "x"'
check "two constraints: usage error (2) naming both" bash -c "[ $rc -eq 2 ] && grep -q -- '--format and --grammar' $T/err"
check "two constraints: one line" one_line_err
run -m "$T/no-model.gguf" -p hi -j '{"type":"string","not":{}}'
check "an unsupported schema keyword is named, before the model is opened (2)" \
  bash -c "[ $rc -eq 2 ] && grep -Fq \"gemma: error: --json-schema: json schema: #: unsupported keyword 'not'\" $T/err"
check "unsupported keyword: one line" one_line_err
printf '{"type": "object", "properties": {' > "$T/broken.json"
run -m "$G3" -p hi -jf "$T/broken.json"
check "a schema file that is not JSON: usage error (2) naming the file" \
  bash -c "[ $rc -eq 2 ] && grep -Fq \"$T/broken.json: json schema: \" $T/err"
check "bad schema file: one line" one_line_err
run -m "$G3" -p hi -jf "$T/missing.json"
check "a missing schema file: I/O error (4)" bash -c "[ $rc -eq 4 ] && grep -Fq \"cannot open schema file '$T/missing.json'\" $T/err"
printf 'root ::= item+\nitem ::= ("a" | "b"\n' > "$T/bad.gbnf"
run -m "$G3" -p hi --grammar-file "$T/bad.gbnf"
check "a grammar error: line and column, exit 2" \
  bash -c "[ $rc -eq 2 ] && grep -Eq \"$T/bad.gbnf: grammar: line [0-9]+, column [0-9]+: \" $T/err"
check "grammar error: one line" one_line_err
run -m "$G3" -p hi --tools "$T/tools.json"
check "--tools on Gemma 3: model error (3) saying it has no tool-call tokens" \
  bash -c "[ $rc -eq 3 ] && grep -Fq 'has no tool-call tokens: --tools needs a Gemma 4 model' $T/err"
check "--tools on Gemma 3: one line" bash -c "[ \$(grep -c 'gemma: error' $T/err) -eq 1 ]"
for m in gemma1-f32 gemma2-f16; do
  run -m "$FIX/models/$m.gguf" -p hi --tools "$T/tools.json"
  check "--tools on $m: model error (3), one line" \
    bash -c "[ $rc -eq 3 ] && grep -Fq 'has no tool-call tokens: --tools needs a Gemma 4 model' $T/err && [ \$(grep -c 'gemma: error' $T/err) -eq 1 ]"
done
run -m "$G3" -p hi --grammar-file "$T/missing.gbnf"
check "a missing grammar file: I/O error (4) naming it" \
  bash -c "[ $rc -eq 4 ] && grep -Fq \"cannot open grammar file '$T/missing.gbnf'\" $T/err && [ \$(wc -l < $T/err) -eq 1 ]"
printf '[{"type":"function"' > "$T/badtools.json"
run -m "$G4" -p hi --tools "$T/badtools.json"
check "a tools file that is not JSON: usage error (2) naming the file, line and column" \
  bash -c "[ $rc -eq 2 ] && grep -Eq \"^gemma: error: $T/badtools.json: tools: json: line 1, column [0-9]+: \" $T/err"
check "bad tools file: one line" one_line_err
printf '[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string","not":{}}}}}}]' > "$T/badtools2.json"
run -m "$G4" -p hi --tools "$T/badtools2.json"
check "a tool whose parameters use an unsupported keyword: usage error (2) naming file, tool and keyword" \
  bash -c "[ $rc -eq 2 ] && grep -Fq \"$T/badtools2.json: tools: 'f': parameters: json schema: #/properties/a: unsupported keyword 'not'\" $T/err"
check "unsupported keyword in a tool: one line" one_line_err
run -m "$G3" -p hi --format yaml
check "--format yaml: usage error (2)" bash -c "[ $rc -eq 2 ] && grep -Fq \"unknown --format 'yaml'\" $T/err"
run -m "$G4" -p hi --tool-choice required
check "--tool-choice without --tools: usage error (2)" test $rc -eq 2
run -m "$G4" -p hi --tools "$T/tools.json" --tool-choice maybe
check "--tool-choice maybe: usage error (2)" test $rc -eq 2
run -m "$G4" -p hi --tools "$T/tools.json" --raw
check "--tools with --raw: usage error (2)" test $rc -eq 2
run -m "$G4" -p hi --tools "$T/tools.json" --tool-response '{}'
check "--tool-response without a call: usage error (2)" \
  bash -c "[ $rc -eq 2 ] && grep -Fq 'every --tool-call before it already has its result' $T/err"
run -m "$G4" -p hi --tools "$T/tools.json" --tool-call "$call"
check "--tool-call without its result: usage error (2) naming the tool" \
  bash -c "[ $rc -eq 2 ] && grep -Eq \"the tool call '(get_weather|set_alarm)' has no --tool-response\" $T/err"
run -m "$G4" -p hi --tools "$T/tools.json" --tool-call '{"name":"launch","arguments":{}}' --tool-response '{}'
check "--tool-call to an undeclared tool: usage error (2)" \
  bash -c "[ $rc -eq 2 ] && grep -Fq \"'launch' is not one of the declared tools\" $T/err"
run -m "$G4" -p hi --tools "$T/tools.json" --tool-call '{"name":"get_weather","arguments":{}}' --tool-response '{}'
check "a call whose arguments miss a required one: usage error (2)" \
  bash -c "[ $rc -eq 2 ] && grep -Fq \"the required property 'city' is missing\" $T/err"
run -m "$G4" -p hi --tools "$T/tools.json" --tool-call '{"name":"get_weather","arguments":{"city":"x"}}' --tool-response '{x}'
check "a result that is not JSON: usage error (2)" \
  bash -c "[ $rc -eq 2 ] && grep -Fq \"tool response for 'get_weather': json:\" $T/err"
run -m "$G3" -p hi --grammar 'root ::= "a" [\uD800-\uDFFF]' -n 10 -s 1 --json
check "a grammar no token can continue: stop reason no_token, an error (1)" \
  bash -c "[ $rc -eq 1 ] && grep -q '\"stop_reason\":\"no_token\"' $T/out && grep -q 'the grammar allows no token' $T/err"
