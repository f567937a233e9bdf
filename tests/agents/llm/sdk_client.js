// An agent that calls an LLM API with the official SDKs (openai and
// @anthropic-ai/sdk from npm), for the LLM tests:
//
//   node sdk_client.js BASE_URL
//
// $LLM_PLAN is a JSON list of calls (not in argv, which anyone may read): {"api": "openai"|"anthropic", "model",
// "prompt", "stream", "include_usage"}. The key comes from $LLM_API_KEY, the
// CA from $NODE_EXTRA_CA_CERTS; no retries, so each call is one request.
// Prints "ready", waits for a line on stdin, makes the calls, prints
// {"results": [{"status", "chunks", "error"}]} and waits for stdin to close.
const readline = require("readline");
const OpenAI = require("openai");
const Anthropic = require("@anthropic-ai/sdk");

const base = process.argv[2].replace(/\/$/, "");
const plan = JSON.parse(process.env.LLM_PLAN);
const apiKey = process.env.LLM_API_KEY || "none";
const openai = new OpenAI({ baseURL: base + "/v1", apiKey, maxRetries: 0, timeout: 30000 });
const anthropic = new Anthropic({ baseURL: base, apiKey, maxRetries: 0, timeout: 30000 });

const lines = readline.createInterface({ input: process.stdin });
const next = () => new Promise((resolve) => lines.once("line", resolve));

async function call(c) {
  const messages = [{ role: "user", content: c.prompt }];
  let chunks = 0;
  if (c.api === "anthropic") {
    const params = { model: c.model, max_tokens: 64, messages };
    if (!c.stream) {
      await anthropic.messages.create(params);
      return { status: 200, chunks: 0, error: false };
    }
    const stream = await anthropic.messages.create({ ...params, stream: true });
    for await (const ev of stream) chunks++;
    return { status: 200, chunks, error: false };
  }
  const params = { model: c.model, messages };
  if (!c.stream) {
    await openai.chat.completions.create(params);
    return { status: 200, chunks: 0, error: false };
  }
  if (c.include_usage) params.stream_options = { include_usage: true };
  const stream = await openai.chat.completions.create({ ...params, stream: true });
  for await (const chunk of stream) chunks++;
  return { status: 200, chunks, error: false };
}

(async () => {
  console.log("ready");
  await next();
  const results = [];
  for (const c of plan) {
    try {
      results.push(await call(c));
    } catch (e) {
      results.push({ status: e.status || 0, chunks: 0, error: true });
    }
  }
  console.log(JSON.stringify({ results }));
  lines.on("close", () => process.exit(0));
})();
