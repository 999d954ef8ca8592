// chat_page.cjs - the chat page at GET / in headless Chromium (playwright-core driving
// Debian's chromium): the model's name shows, a typed message is sent with Enter, the
// answer appears piece by piece while it streams, and Stop ends it: the page says
// "stopped", Send works again, and the server frees the slot (it cancelled the generation).
//
//   node tests/node/chat_page.cjs BASE_URL CHROMIUM     (tests/test_serve_node.sh runs it)
"use strict";
const path = require("path");
const npm = path.resolve(process.env.GEMMA_NPM || "build/npm", "node_modules");
const { chromium } = require(path.join(npm, "playwright-core"));

const [base, executablePath] = process.argv.slice(2);
let failed = 0;
function check(name, cond, detail) {
  if (cond) console.log("ok   serve-node: page: " + name);
  else { failed++; console.log("FAIL serve-node: page: " + name + "\n    " + JSON.stringify(detail).slice(0, 600)); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function busySlots() { return (await (await fetch(base + "/health")).json()).slots_processing; }

async function main() {
  const browser = await chromium.launch({ executablePath, headless: true,
                                         // no sandbox as root; nothing from outside (the network is closed)
                                         args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                                "--disable-background-networking", "--disable-component-update",
                                                "--disable-sync"] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(base + "/");
    await page.waitForFunction(() => document.getElementById("model").textContent.length > 0, null, { timeout: 20000 });
    check("the page loads and names the model", (await page.textContent("#model")) === "serve-gemma3-tiny-Q4_0");

    await page.fill("#system", "You are terse.");
    await page.fill("#input", "Tell me a long story");
    await page.press("#input", "Enter");
    const answer = "#log .msg:nth-child(2) .content";   // the answer's bubble (class "msg error" on an error)
    await page.waitForFunction((sel) => { const e = document.querySelector(sel); return e && e.textContent.length > 0; },
                               answer, { timeout: 60000 });
    // while it streams: the text grows between looks, and only Stop is enabled
    const lengths = [];
    // (2 s of looks: on a loaded machine a token may take a while, a buffered answer never grows)
    for (let i = 0; i < 8; i++) { lengths.push((await page.textContent(answer)).length); await sleep(250); }
    const grew = lengths.filter((n, i) => i > 0 && n > lengths[i - 1]).length;
    check("the answer appears piece by piece as it streams", grew >= 3, lengths);
    check("while streaming: Send disabled, Stop enabled",
          (await page.isDisabled("#send")) && !(await page.isDisabled("#stop")));
    check("the user's message is shown", (await page.textContent(".msg.user .content")) === "Tell me a long story");
    const shown = await page.getAttribute("#log .msg:nth-child(2)", "class");
    check("the answer is not an error", shown === "msg assistant", { class: shown, text: (await page.textContent(answer)).slice(-300) });

    await page.click("#stop");
    await page.waitForSelector("#log .msg:nth-child(2) .meta", { timeout: 10000 });
    const meta = await page.textContent("#log .msg:nth-child(2) .meta");
    check("Stop ends the answer: 'stopped after ...'", /^stopped after/.test(meta), meta);
    const after = (await page.textContent(answer)).length;
    await sleep(400);
    check("... and no more text arrives", (await page.textContent(answer)).length === after);
    check("Send works again", !(await page.isDisabled("#send")) && (await page.isDisabled("#stop")));
    let busy = -1;
    for (let i = 0; i < 100 && (busy = await busySlots()) !== 0; i++) await sleep(50);
    check("the server cancelled the generation (its slot is free)", busy === 0, { busy });
    check("no script errors on the page", errors.length === 0, errors);
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(failed ? 1 : 0),
            (e) => { console.log("FAIL serve-node: page: " + (e.stack || e)); process.exit(1); });
