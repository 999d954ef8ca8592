// openai_client.cjs - `gemma serve` driven by the official `openai` npm package, the way an
// application uses it: models, chat completions (plain, streamed with usage), text
// completions, and the SDK's own errors for a bad key, a bad parameter and a wrong path.
//
//   node tests/node/openai_client.cjs BASE_URL API_KEY     (tests/test_serve_node.sh runs it)
//
// The package comes from $GEMMA_NPM/node_modules (default build/npm, where .ci/run and the
// wrapper install it). Prints "ok   serve-node: ..." / "FAIL serve-node: ..." per check.
"use strict";
const path = require("path");
const npm = path.resolve(process.env.GEMMA_NPM || "build/npm", "node_modules");
const OpenAI = require(path.join(npm, "openai")).default;

const [base, key] = process.argv.slice(2);
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
}

main().then(() => process.exit(failed ? 1 : 0),
            (e) => { console.log("FAIL serve-node: openai: " + (e.stack || e)); process.exit(1); });
