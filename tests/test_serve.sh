#!/usr/bin/env bash
# `gemma serve` as curl sees it: every endpoint and error status (OpenAI-shaped bodies),
# server-sent events, the API key, response_format (JSON schema, any JSON) and tools with
# tool_choice (on a Gemma 4 model), Gemma 4 thinking as reasoning_content (plain and
# streamed, on a model scripted to think and answer: tests/think_model.sh), /metrics as
# Prometheus text, one log line per request, SIGTERM (a running stream finishes, exit 0),
# 503 when every slot is busy, and a model that cannot be loaded (a clear error before the
# port opens).
# The socket-level checks (streaming over time, robustness, greedy batching): test_serve.c.
# Prints "ok   serve: name" / "FAIL serve: name" per check (tests/run.sh counts them).
GEMMA=${GEMMA_BIN:-./gemma}
MKMODEL=${MKMODEL:-$(dirname "${TEST_RUNNER:-build/test_runner}")/mkmodel}
FIX=${GEMMA_FIXTURES:-tests/fixtures}
T=build/tmp/serve-sh
mkdir -p "$T"
# the model of test_serve.c: Gemma 3 270M's shape / 4, two layers, the real vocabulary
M=build/tmp/serve-gemma3-tiny-Q4_0.gguf

ok()   { echo "ok   serve: $1"; }
fail() { echo "FAIL serve: $1"; shift; for l in "$@"; do echo "    $l"; done; }
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name" "failed: $*" "status: $code" "body: $(head -c 600 "$T/body")"; fi
}
for tool in curl jq; do
  if ! command -v $tool > /dev/null; then
    if [ -n "${GEMMA_CI:-}" ]; then fail "$tool is installed (CI)" "$tool not found"; exit 1; fi
    echo "skip serve: curl checks ($tool not found)"; exit 0
  fi
done
. tests/serve_lib.sh
make_model "$M" gemma3-270m gemma-3.gguf || { fail "the test model ($MKMODEL)"; exit 1; }

# stop: SIGTERM; sets $rc to the exit status (124: still running after 90 s, then killed)
stop() {
  kill -TERM $pid
  for _ in $(seq 900); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done
  if kill -0 $pid 2> /dev/null; then kill -KILL $pid; wait $pid; rc=124; else wait $pid; rc=$?; fi
}
# req METHOD PATH [BODY] [CURL ARGS...]: body -> $T/body, headers -> $T/head, status -> $code
n_requests=0
req() {
  local method=$1 path=$2 data=${3-}; shift 3 2> /dev/null || shift $#
  n_requests=$((n_requests + 1))
  if [ -n "$data" ]; then
    code=$(curl -s -o "$T/body" -D "$T/head" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
           --data-binary "$data" "$@" "http://127.0.0.1:$port$path")
  else
    code=$(curl -s -o "$T/body" -D "$T/head" -w '%{http_code}' -X "$method" "$@" "http://127.0.0.1:$port$path")
  fi
}
KEY=(-H 'Authorization: Bearer sekret')
j() { jq -e "$1" "$T/body" > /dev/null 2>&1; }   # j FILTER: true when FILTER holds on the body
jf() { jq -e "$1" "$2" > /dev/null 2>&1; }       # jf FILTER FILE: ... on a file
jsf() { jq -se "$1" "$2" > /dev/null 2>&1; }     # jsf FILTER FILE: ... on a file of JSON lines
error_is() { j ".error.code == $1 and (.error.message | length > 0) and (.error.type | length > 0)"; }

# --- a model that cannot be loaded ---
head -c 4096 /dev/urandom > "$T/garbage.gguf"
"$GEMMA" serve -m "$T/garbage.gguf" --port 0 > /dev/null 2> "$T/bad.log"; rc=$?
check "a model that cannot be loaded: exit 3, one line naming the file, no port opened" \
  bash -c "[ $rc -eq 3 ] && [ \$(wc -l < $T/bad.log) -eq 1 ] && grep -q garbage.gguf $T/bad.log && ! grep -q listening $T/bad.log"
"$GEMMA" serve --port 0 > /dev/null 2> "$T/bad.log"; rc=$?
check "no -m: usage error (2)" test $rc -eq 2

# --- server A: an API key, small bodies ---
if ! start a --api-key sekret -np 2 -c 512 --max-body 2048 --timeout 60; then
  fail "server starts" "$(cat "$T/a.log")"; exit 1
fi
ok "server starts and logs its port ($port)"

req GET /health
check "GET /health: 200 ok, without the key" bash -c "[ $code = 200 ] && jq -e '.status == \"ok\"' $T/body > /dev/null"
req GET /v1/models
check "GET /v1/models without the key: 401, OpenAI error" bash -c "[ $code = 401 ] && grep -qi '^WWW-Authenticate: Bearer' $T/head"
error_is 401 || fail "401 body" "$(cat "$T/body")"
req GET /v1/models "" -H 'Authorization: Bearer wrong!'
check "a wrong key: 401" test "$code" = 401
req GET /v1/models "" "${KEY[@]}"
check "GET /v1/models: the model listed" j '.object == "list" and .data[0].id == "serve-gemma3-tiny-Q4_0" and .data[0].object == "model"'

chat='{"model":"x","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi there"}],"max_tokens":5,"temperature":0}'
req POST /v1/chat/completions "$chat" "${KEY[@]}"
check "POST /v1/chat/completions: 200, a chat.completion with its answer" \
  j '.object == "chat.completion" and .choices[0].message.role == "assistant" and (.choices[0].message.content | type == "string")'
check "usage: 5 completion tokens (max_tokens 5, finish length), totals add up" \
  j '.usage.completion_tokens == 5 and .choices[0].finish_reason == "length" and .usage.prompt_tokens > 5 and .usage.total_tokens == .usage.prompt_tokens + .usage.completion_tokens'
cp "$T/body" "$T/chat1"
req POST /v1/chat/completions "$chat" "${KEY[@]}"
check "the same request again: the same answer, its prompt found in the slot's cache" \
  bash -c "[ \"\$(jq .choices $T/body)\" = \"\$(jq .choices $T/chat1)\" ] && jq -e '.usage.prompt_tokens_details.cached_tokens > 0' $T/body > /dev/null"

req POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":6,"stream":true,"stream_options":{"include_usage":true}}' "${KEY[@]}" -N
grep '^data: {' "$T/body" | sed 's/^data: //' > "$T/events"
check "stream: text/event-stream, chunks with deltas, a usage chunk, data: [DONE] last" \
  bash -c "grep -qi '^Content-Type: text/event-stream' $T/head &&
           [ \"\$(grep -v '^$' $T/body | tail -1)\" = 'data: [DONE]' ] &&
           jq -se '.[0].choices[0].delta.role == \"assistant\" and (map(select(.object == \"chat.completion.chunk\")) | length) == length and
                   (.[-1].choices | length) == 0 and .[-1].usage.completion_tokens == 6' $T/events > /dev/null"

long=$(printf 'the quick brown fox jumps over the lazy dog %.0s' $(seq 20))
req POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}],\"max_tokens\":3}" "${KEY[@]}"
check "a prompt of several chunks (200 tokens, -b 64): answered" j '.usage.prompt_tokens > 180 and .usage.completion_tokens == 3'
req POST /v1/completions '{"prompt":"Once upon a time","max_tokens":4,"temperature":0}' "${KEY[@]}"
check "POST /v1/completions: a text_completion" \
  j '.object == "text_completion" and (.choices[0].text | type == "string") and .usage.completion_tokens == 4'
req POST /v1/completions '{"prompt":"Once upon a time","max_tokens":4,"stop":["a"],"temperature":0}' "${KEY[@]}"
check "stop strings: the text ends before one" j '(.choices[0].text | contains("a") | not) and .choices[0].finish_reason != null'

req POST /tokenize '{"content":"Hello world"}' "${KEY[@]}"
tokens=$(jq -c .tokens "$T/body")
check "POST /tokenize: token ids" j '(.tokens | length) >= 2 and (.tokens | all(type == "number"))'
req POST /detokenize "{\"tokens\":$tokens}" "${KEY[@]}"
check "POST /detokenize: the text back" j '.content == "Hello world"'

# --- the answer's shape: response_format, as the CLI's --json-schema / --format json ---
schema='{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","age"],"additionalProperties":false}'
req POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"A person\"}],\"max_tokens\":60,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"person\",\"schema\":$schema}}}" "${KEY[@]}"
jq -r '.choices[0].message.content' "$T/body" > "$T/answer" 2> /dev/null
check "response_format json_schema: the answer is JSON of the schema" \
  jf '(keys == ["age","name"]) and (.age | type == "number" and . >= 0 and . <= 120 and floor == .) and (.name | type == "string" and length <= 12)' "$T/answer"
req POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"A person\"}],\"max_tokens\":60,\"stream\":true,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":$schema}}}" "${KEY[@]}" -N
grep '^data: {' "$T/body" | sed 's/^data: //' | jq -j '.choices[0].delta.content // ""' > "$T/answer"
check "... streamed: the deltas put together are JSON of the schema" jf '(keys == ["age","name"])' "$T/answer"
req POST /v1/completions '{"prompt":"Data:","max_tokens":40,"response_format":{"type":"json_object"}}' "${KEY[@]}"
jq -r '.choices[0].text' "$T/body" > "$T/answer" 2> /dev/null
check "response_format json_object on /v1/completions: the text is JSON" jf 'type != null' "$T/answer"
req POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","frobnicate":1}}}}' "${KEY[@]}"
check "an unsupported schema keyword: 400 naming it" \
  bash -c "[ $code = 400 ] && jq -e '.error.param == \"response_format\" and (.error.message | contains(\"frobnicate\"))' $T/body > /dev/null"
req POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"yaml"}}' "${KEY[@]}"
check "an unknown response_format type: 400" test "$code" = 400
req POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}' "${KEY[@]}"
check "tools on a model without tool-call tokens (Gemma 3): 400" \
  bash -c "[ $code = 400 ] && jq -e '.error.param == \"tools\"' $T/body > /dev/null"

# --- error statuses ---
req POST /v1/chat/completions '{"messages":[' "${KEY[@]}"
check "bad JSON: 400" bash -c "[ $code = 400 ] && jq -e '.error.type == \"invalid_request_error\"' $T/body > /dev/null"
req POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"temperature":"hot"}' "${KEY[@]}"
check "a bad parameter: 400 naming it" bash -c "[ $code = 400 ] && jq -e '.error.param == \"temperature\"' $T/body > /dev/null"
req POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":1.5}' "${KEY[@]}"
check "a fractional max_tokens: 400" test "$code" = 400
req POST /v1/chat/completions '{"messages":[]}' "${KEY[@]}"
check "no messages: 400" bash -c "[ $code = 400 ] && jq -e '.error.param == \"messages\"' $T/body > /dev/null"
req POST /v1/completions "{\"prompt\":\"$(printf 'word %.0s' $(seq 600))\",\"max_tokens\":1}" "${KEY[@]}"
check "a body past --max-body: 413" bash -c "[ $code = 413 ] && jq -e '.error.code == 413' $T/body > /dev/null"
req POST /v1/completions "{\"prompt\":\"$(printf 'a b %.0s' $(seq 300))\"}" "${KEY[@]}"
check "a prompt longer than the slot's context: 400" bash -c "[ $code = 400 ] && grep -q context $T/body"
req GET /v1/nothing
check "an unknown path: 404" bash -c "[ $code = 404 ] && jq -e '.error.type == \"not_found_error\"' $T/body > /dev/null"
req GET /v1/chat/completions "" "${KEY[@]}"
check "a wrong method: 405 with Allow" bash -c "[ $code = 405 ] && grep -qi '^Allow:' $T/head"

req GET /
check "GET /: the chat page (HTML, a stop button)" \
  bash -c "[ $code = 200 ] && grep -qi '^Content-Type: text/html' $T/head && grep -qi '<title>' $T/body && grep -qi 'stop' $T/body"

answered=$n_requests
req GET /metrics
# Prometheus text format 0.0.4: comments (# HELP / # TYPE), samples NAME{LABELS} VALUE;
# every sample after its family's TYPE line
check "GET /metrics: Prometheus text, every sample typed" awk '
  /^# HELP [a-z_:][a-z0-9_:]* / { next }
  /^# TYPE [a-z_:][a-z0-9_:]* (counter|gauge)$/ { typed[$3] = 1; next }
  /^[a-z_:][a-z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eE]+$/ {
      name = $1; sub(/\{.*/, "", name); if (!(name in typed)) { print "untyped " name; bad = 1 }; n++; next }
  { print "bad line: " $0; bad = 1 }
  END { exit bad || n < 10 }' "$T/body"
check "/metrics counts the requests answered before it ($answered)" \
  grep -qx "gemma_requests_total $answered" "$T/body"
check "/metrics counts generated tokens (5+5+6+4+4 at least)" \
  awk '$1 == "gemma_tokens_predicted_total" && $2 >= 24 { f = 1 } END { exit !f }' "$T/body"

# --- SIGTERM with a stream running: it finishes, then exit 0 ---
# (400 tokens, so that the stream still runs when the signal lands on a fast machine: 60
# finished between its first event and the signal here; --timeout 60 leaves room for a
# sanitizer build on a loaded machine, where 400 tokens took more than 10 s)
curl -sN -H 'Content-Type: application/json' "${KEY[@]}" "http://127.0.0.1:$port/v1/chat/completions" \
  -d '{"messages":[{"role":"user","content":"Go on"}],"max_tokens":400,"stream":true}' > "$T/long" &
curl_pid=$!
n_requests=$((n_requests + 1))
for _ in $(seq 200); do grep -q '^data: {' "$T/long" && break; sleep 0.05; done
stop
wait $curl_pid
check "SIGTERM: exit 0" test $rc -eq 0
check "SIGTERM: the running stream finished first (all 400 tokens, [DONE])" \
  bash -c "grep -q '^data: \[DONE\]' $T/long && ! grep -q 'shutting down' $T/long &&
           grep -qE 'POST /v1/chat/completions 200, [0-9]+ prompt tokens \([0-9]+ cached\), 400 generated' $T/a.log"
check "SIGTERM: 'shutting down' and 'stopped' logged" \
  bash -c "grep -q 'shutting down: 1 request running' $T/a.log && grep -q 'gemma: stopped' $T/a.log"
lines=$(grep -cE '^gemma: 127\.0\.0\.1:[0-9]+ [A-Z]+ /[^ ]* [0-9]{3}, ' "$T/a.log")
check "one log line per request ($n_requests requests, $lines lines)" test "$lines" -eq "$n_requests"
check "a generation's log line: method, path, status, tokens, time" \
  grep -qE '^gemma: 127\.0\.0\.1:[0-9]+ POST /v1/chat/completions 200, [0-9]+ prompt tokens \([0-9]+ cached\), 5 generated, [0-9]+ ms$' "$T/a.log"

# --- server B: one slot, no queue: busy is 503 ---
if start b -np 1 --queue 0 -c 4096; then
  # The two answers only count while the long stream still runs: on a loaded machine it
  # can end before them (the fixture model is fast), so then the pair is asked again.
  for attempt in 1 2 3; do
    curl -sN "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"Count","max_tokens":4000,"stream":true}' > "$T/long" &
    curl_pid=$!
    for _ in $(seq 200); do grep -q '^data: {' "$T/long" && break; sleep 0.05; done
    req POST /v1/completions '{"prompt":"Me too","max_tokens":2}'
    busy_code=$code; cp "$T/body" "$T/busy_body"
    req GET /health
    running=1; grep -q '^data: \[DONE\]' "$T/long" && running=0
    kill $curl_pid 2> /dev/null; wait $curl_pid 2> /dev/null
    [ $running = 1 ] && break
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/health" -w '%{http_code}' | grep -q 200 && break; sleep 0.05; done
  done
  check "every slot busy and no queue: 503" bash -c "[ $busy_code = 503 ] && jq -e '.error.type == \"unavailable_error\"' $T/busy_body > /dev/null"
  check "... and /health says 503 busy" bash -c "[ $code = 503 ] && jq -e '.status == \"busy\"' $T/body > /dev/null"
  for _ in $(seq 100); do req GET /health; [ "$code" = 200 ] && break; sleep 0.05; done
  check "the client gone, /health is 200 again" test "$code" = 200
  stop
  check "server b: SIGTERM exit 0" test $rc -eq 0
  # a second server on a port in use: a clear error
  start c -np 1 -c 2048 --timeout 0.2
  used=$port
  "$GEMMA" serve -m "$M" --port "$used" > /dev/null 2> "$T/dup.log"; rc=$?
  check "a port in use: an error naming it, non-zero exit" bash -c "[ $rc -ne 0 ] && grep -q ':$used' $T/dup.log"
  # SIGTERM with a stream longer than --timeout: cancelled, and the client is told
  curl -sN "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"Count","max_tokens":2000,"stream":true}' > "$T/long" &
  curl_pid=$!
  for _ in $(seq 200); do grep -q '^data: {' "$T/long" && break; sleep 0.05; done
  stop
  wait $curl_pid
  check "SIGTERM past --timeout: the stream is cancelled with an error event and [DONE], exit 0" \
    bash -c "[ $rc -eq 0 ] && grep -q '^data: {\"error\".*shutting down' $T/long &&
             [ \"\$(grep -v '^$' $T/long | tail -1)\" = 'data: [DONE]' ]"
else
  fail "server b starts" "$(cat "$T/b.log")"
fi

# --- server d: Gemma 4 (shrunk, two layers, the real vocabulary): tools and tool_choice ---
M4=build/tmp/serve-gemma4-tiny-Q4_0.gguf
make_model "$M4" gemma4-e2b gemma-4.gguf || fail "the Gemma 4 test model ($MKMODEL)"
if [ -f "$M4" ] && M=$M4 start d -np 2 -c 1024; then
  tools='[{"type":"function","function":{"name":"get_weather","description":"The weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":20}},"required":["city"]}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string","enum":["UTC","CET"]}},"required":["zone"]}}}]'
  ask='{"role":"user","content":"What is the weather in Paris?"}'
  req POST /v1/chat/completions "{\"messages\":[$ask],\"max_tokens\":80,\"temperature\":0,\"tools\":$tools,\"tool_choice\":\"required\"}"
  cp "$T/body" "$T/calls"
  check "tools, tool_choice required: tool_calls of a declared function with JSON arguments" \
    j '.choices[0].finish_reason == "tool_calls" and .choices[0].message.content == null and
       (.choices[0].message.tool_calls | length >= 1) and .choices[0].message.tool_calls[0].type == "function" and
       (.choices[0].message.tool_calls[0].id | startswith("call_")) and
       (.choices[0].message.tool_calls | all(.function.name == "get_weather" and (.function.arguments | fromjson | .city | type == "string")
                                            or .function.name == "get_time" and (.function.arguments | fromjson | .zone | IN("UTC","CET"))))'
  req POST /v1/chat/completions "{\"messages\":[$ask],\"max_tokens\":80,\"temperature\":0,\"tools\":$tools,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}}"
  check "tool_choice naming a function: only that one is called" \
    j '.choices[0].finish_reason == "tool_calls" and (.choices[0].message.tool_calls | all(.function.name == "get_time"))'
  req POST /v1/chat/completions "{\"messages\":[$ask],\"max_tokens\":80,\"temperature\":0,\"tools\":$tools,\"tool_choice\":\"required\",\"stream\":true}" -N
  grep '^data: {' "$T/body" | sed 's/^data: //' > "$T/events"
  check "streamed: a delta with the tool_calls (index, id, function), then finish_reason tool_calls" \
    jq -se '(map(.choices[0].delta.tool_calls // empty) | .[0][0] | .index == 0 and .type == "function" and (.function.arguments | fromjson | type == "object")) and
            (map(.choices[0].finish_reason // empty) == ["tool_calls"])' "$T/events" > /dev/null
  req POST /v1/chat/completions "{\"messages\":[$ask],\"max_tokens\":12,\"temperature\":0,\"tools\":$tools,\"tool_choice\":\"none\"}"
  check "tool_choice none: no calls" j '.choices[0].finish_reason != "tool_calls" and .choices[0].message.tool_calls == null'
  call=$(jq -c '.choices[0].message' "$T/calls")
  id=$(jq -r '.choices[0].message.tool_calls[0].id' "$T/calls")
  req POST /v1/chat/completions "{\"messages\":[$ask,$call,{\"role\":\"tool\",\"tool_call_id\":\"$id\",\"content\":\"{\\\"temperature\\\":21}\"}],\"max_tokens\":12,\"temperature\":0,\"tools\":$tools}"
  check "the next turn with the tool's result: answered (200, a finish reason)" \
    j '.object == "chat.completion" and (.choices[0].finish_reason | IN("stop","length","tool_calls"))'
  req POST /v1/chat/completions "{\"messages\":[$ask],\"tools\":$tools,\"tool_choice\":\"sometimes\"}"
  check "a bad tool_choice: 400" bash -c "[ $code = 400 ] && jq -e '.error.param == \"tool_choice\"' $T/body > /dev/null"
  req POST /v1/chat/completions "{\"messages\":[$ask],\"tools\":[{\"type\":\"function\",\"function\":{\"parameters\":{}}}]}"
  check "a tool without a name: 400" bash -c "[ $code = 400 ] && jq -e '.error.param == \"tools\"' $T/body > /dev/null"
  stop
  check "server d: SIGTERM exit 0" test $rc -eq 0
else
  fail "server d starts" "$(cat "$T/d.log" 2> /dev/null)"
fi

# --- server e: Gemma 4 thinking as reasoning_content, on a model whose greedy answer is known
# (tests/think_model.sh: it thinks $THOUGHT, then answers $ANSWER) ---
. tests/think_model.sh
make_think_model || fail "the thinking test model ($MKMODEL --script)"
if [ -f "$THINK_MODEL" ] && M=$THINK_MODEL start e -np 1 -c 512 --think; then
  hi='"messages":[{"role":"user","content":"hi"}],"temperature":0'
  req POST /v1/chat/completions "{$hi}"
  check "--think: message.reasoning_content is the thought, message.content the answer alone" \
    j ".choices[0].message.reasoning_content == \"$THOUGHT\" and .choices[0].message.content == \"$ANSWER\" and
       .choices[0].finish_reason == \"stop\""
  req POST /v1/chat/completions "{$hi,\"chat_template_kwargs\":{\"enable_thinking\":false}}"
  check "enable_thinking false: the answer, no reasoning_content" \
    j ".choices[0].message.content == \"$ANSWER\" and (.choices[0].message | has(\"reasoning_content\") | not)"
  req POST /v1/chat/completions "{$hi,\"stream\":true}" -N
  grep '^data: {' "$T/body" | sed 's/^data: //' > "$T/think-events"
  check "streamed: delta.reasoning_content adds up to the thought, delta.content to the answer, thought first" \
    jsf "(map(.choices[0].delta.reasoning_content // empty) | join(\"\")) == \"$THOUGHT\" and
            (map(.choices[0].delta.content // empty) | join(\"\")) == \"$ANSWER\" and
            ([.[] | .choices[0].delta | if (.reasoning_content // \"\") != \"\" then \"r\" elif (.content // \"\") != \"\" then \"c\" else empty end]
             | join(\"\") | test(\"^r+c+\$\")) and (map(.choices[0].finish_reason // empty) == [\"stop\"])" \
    "$T/think-events"
  # the next turn: the earlier answer goes back (its thought cut out by the template)
  req POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"$ANSWER\",\"reasoning_content\":\"$THOUGHT\"},{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0}"
  check "a second turn after a thinking one: thought and answer again" \
    j ".choices[0].message.reasoning_content == \"$THOUGHT\" and .choices[0].message.content == \"$ANSWER\""
  stop
  check "server e: SIGTERM exit 0" test $rc -eq 0
else
  fail "server e starts" "$(cat "$T/e.log" 2> /dev/null)"
fi
