// openai_client.cjs - `gemma serve` driven by the official `openai` npm package, the way an
// application uses it: models, chat completions (plain, streamed with usage), text
// completions, and the SDK's own errors for a bad key, a bad parameter and a wrong path.
//
//   node tests/node/openai_client.cjs BASE_URL API_KEY [G4_URL [THINK_URL]]
//
// (tests/test_serve_node.sh runs it): G4_URL serves a Gemma 4 model for tools, THINK_URL the
// model of tests/think_model.sh, scripted to think $THOUGHT and answer $ANSWER, for
// message.reasoning_content and delta.reasoning_content.
//
// The package comes from $GEMMA_NPM/node_modules (default build/npm, where .ci/run and the
// wrapper install it). Prints "ok   serve-node: ..." / "FAIL serve-node: ..." per check.
"use strict";
const path = require("path");
const npm = path.resolve(process.env.GEMMA_NPM || "build/npm", "node_modules");
const OpenAI = require(path.join(npm, "openai")).default;

const [base, key, baseG4, baseThink] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0, timeout: 120000 });
let failed = 0;
function check(name, cond, detail) {
  if (cond) console.log("ok   serve-node: openai: " + name);
  else { failed++; console.log("FAIL serve-node: openai: " + name + "\n    " + JSON.stringify(detail).slice(0, 600)); }
}
async function expectError(name, status, fn) {
  try { const r = await fn(); check(name, false, { unexpected: r }); }
  catch (e) { check(name, e instanceof OpenAI.APIError && e.status === status && e.error && e.error.message, { status: e.status, message: e.message }); }
}

async function main() {
  const models = await client.models.list();
  const model = models.data[0] && models.data[0].id;
  check("models.list() names the served model", model === "serve-gemma3-tiny-Q4_0", models.data);

  const messages = [{ role: "system", content: "You answer briefly." }, { role: "user", content: "Say something about the moon" }];
  const plain = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
  const answer = plain.choices[0].message.content;
  check("chat.completions.create: an assistant message with usage",
        plain.object === "chat.completion" && plain.choices[0].message.role === "assistant" && typeof answer === "string" &&
        plain.usage.completion_tokens > 0 && plain.usage.completion_tokens <= 12 &&
        plain.usage.total_tokens === plain.usage.prompt_tokens + plain.usage.completion_tokens, plain);

  const stream = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0, stream: true,
                                                         stream_options: { include_usage: true } });
  let text = "", chunks = 0, usage = null, finish = null, role = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  check("streamed: the same greedy answer in chunks, a finish reason and usage",
        text === answer && chunks >= 3 && role === "assistant" && finish === plain.choices[0].finish_reason &&
        usage && usage.completion_tokens === plain.usage.completion_tokens, { text, answer, chunks, usage, finish });

  const turn2 = await client.chat.completions.create({
    model, max_tokens: 4, temperature: 0,
    messages: [...messages, { role: "assistant", content: answer }, { role: "user", content: "And the sun?" }] });
  check("a conversation's next turn finds its start in the slot's cache",
        turn2.usage.prompt_tokens_details && turn2.usage.prompt_tokens_details.cached_tokens >= plain.usage.prompt_tokens - 1,
        turn2.usage);

  // response_format json_schema, as an application asks for structured output
  const schema = { type: "object", properties: { city: { type: "string", maxLength: 16 }, rank: { type: "integer", minimum: 1, maximum: 10 } },
                   required: ["city", "rank"], additionalProperties: false };
  const structured = await client.chat.completions.create({ model, max_tokens: 60, temperature: 0,
    messages: [{ role: "user", content: "Name a city and rank it" }],
    response_format: { type: "json_schema", json_schema: { name: "city", schema, strict: true } } });
  let parsed = null;
  try { parsed = JSON.parse(structured.choices[0].message.content); } catch (e) { parsed = null; }
  check("response_format json_schema: the content parses and fits the schema",
        parsed && Object.keys(parsed).sort().join() === "city,rank" && typeof parsed.city === "string" &&
        parsed.city.length <= 16 && Number.isInteger(parsed.rank) && parsed.rank >= 1 && parsed.rank <= 10,
        structured.choices[0].message);
  const anyJson = await client.chat.completions.create({ model, max_tokens: 40, messages,
                                                         response_format: { type: "json_object" } });
  let okJson = true;
  try { JSON.parse(anyJson.choices[0].message.content); } catch (e) { okJson = false; }
  check("response_format json_object: the content parses", okJson, anyJson.choices[0].message);

  const comp = await client.completions.create({ model, prompt: "The capital of France is", max_tokens: 5, temperature: 0 });
  check("completions.create: a text completion", comp.object === "text_completion" &&
        typeof comp.choices[0].text === "string" && comp.usage.completion_tokens <= 5, comp);
  const seeded = async () => (await client.completions.create({ model, prompt: "Once", max_tokens: 8, temperature: 1.0, seed: 42 })).choices[0].text;
  const s1 = await seeded(), s2 = await seeded();
  check("a seed makes a sampled completion repeatable", s1 === s2, { s1, s2 });

  const wrong = new OpenAI({ baseURL: base + "/v1", apiKey: "wrong", maxRetries: 0 });
  await expectError("a wrong key: AuthenticationError (401)", 401, () => wrong.models.list());
  await expectError("a bad parameter: BadRequestError (400)", 400,
                    () => client.chat.completions.create({ model, messages, temperature: "hot" }));
  await expectError("an unknown endpoint: NotFoundError (404)", 404, () => client.get("/nothing"));
  if (baseG4) await toolsPart(baseG4);
  if (baseThink) await thinkingPart(baseThink);
}

// Gemma 4 thinking: reasoning_content beside content, as clients of llama-server read it.
async function thinkingPart(baseThink) {
  const g4 = new OpenAI({ baseURL: baseThink + "/v1", apiKey: "none", maxRetries: 0, timeout: 120000 });
  const model = (await g4.models.list()).data[0].id;
  const thought = process.env.THOUGHT, answer = process.env.ANSWER;
  const messages = [{ role: "user", content: "hi" }];
  const r = await g4.chat.completions.create({ model, messages, temperature: 0, reasoning_effort: "high" });
  const m = r.choices[0].message;
  check("thinking: message.reasoning_content is the thought, message.content the answer alone",
        m.reasoning_content === thought && m.content === answer && r.choices[0].finish_reason === "stop", m);

  const stream = await g4.chat.completions.create({ model, messages, temperature: 0, reasoning_effort: "high", stream: true });
  let reasoning = "", content = "", order = "";
  for await (const chunk of stream) {
    const d = chunk.choices[0] && chunk.choices[0].delta;
    if (d && d.reasoning_content) { reasoning += d.reasoning_content; order += "r"; }
    if (d && d.content) { content += d.content; order += "c"; }
  }
  check("thinking streamed: delta.reasoning_content adds up to the thought, delta.content to the answer, thought first",
        reasoning === thought && content === answer && /^r+c+$/.test(order), { reasoning, content, order });

  const off = await g4.chat.completions.create({ model, messages, temperature: 0, reasoning_effort: "none" });
  check("reasoning_effort none: the answer, no reasoning_content",
        off.choices[0].message.content === answer && off.choices[0].message.reasoning_content === undefined, off.choices[0].message);
}

// Tools need Gemma 4's tool-call tokens: a second server on the Gemma 4 model.
async function toolsPart(baseG4) {
  const g4 = new OpenAI({ baseURL: baseG4 + "/v1", apiKey: "none", maxRetries: 0, timeout: 120000 });
  const model = (await g4.models.list()).data[0].id;
  const tools = [{ type: "function", function: { name: "get_weather", description: "The weather in a city",
                   parameters: { type: "object", properties: { city: { type: "string", maxLength: 20 } }, required: ["city"] } } }];
  const messages = [{ role: "user", content: "What is the weather in Rome?" }];
  const r = await g4.chat.completions.create({ model, messages, tools, tool_choice: "required", max_tokens: 80, temperature: 0 });
  const calls = r.choices[0].message.tool_calls || [];
  let args = null;
  try { args = JSON.parse(calls[0].function.arguments); } catch (e) { args = null; }
  check("tools: tool_calls to the declared function with arguments that parse",
        r.choices[0].finish_reason === "tool_calls" && calls.length >= 1 && calls[0].type === "function" &&
        calls[0].function.name === "get_weather" && args && typeof args.city === "string", r.choices[0]);

  const stream = await g4.chat.completions.create({ model, messages, tools, tool_choice: "required", max_tokens: 80,
                                                     temperature: 0, stream: true });
  let streamed = null, finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c && c.delta.tool_calls) streamed = c.delta.tool_calls;
    if (c && c.finish_reason) finish = c.finish_reason;
  }
  check("tools streamed: the same calls in a delta, finish_reason tool_calls",
        finish === "tool_calls" && streamed && streamed[0].function.name === calls[0].function.name &&
        streamed[0].function.arguments === calls[0].function.arguments, { streamed, finish });

  const next = await g4.chat.completions.create({ model, tools, max_tokens: 8, temperature: 0, messages: [
    ...messages, r.choices[0].message, { role: "tool", tool_call_id: calls[0].id, content: JSON.stringify({ celsius: 24 }) }] });
  check("the tool's result sent back: the conversation goes on", next.object === "chat.completion" &&
        ["stop", "length", "tool_calls"].includes(next.choices[0].finish_reason), next.choices[0]);
}

main().then(() => process.exit(failed ? 1 : 0),
            (e) => { console.log("FAIL serve-node: openai: " + (e.stack || e)); process.exit(1); });
