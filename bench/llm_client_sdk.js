// The agent of bench/llm_bench.py --client sdk: the official openai npm
// package (tests/agents/llm) streaming chat completions over HTTPS as fast
// as the server answers, for a while.
//
//   node llm_client_sdk.js BASE_URL SECONDS TOKENS [WAIT]
//
// Waits WAIT seconds first, then prints {"calls", "bytes", "seconds"}
// (bytes: the content streamed, as the SDK hands it over).
const path = require("path");
const OpenAI = require(path.join(__dirname, "..", "tests", "agents", "llm", "node_modules", "openai"));

const [base, seconds, tokens, wait] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "bench", maxRetries: 0 });

(async () => {
  await new Promise((r) => setTimeout(r, Number(wait || 0) * 1000));
  let calls = 0, bytes = 0;
  const start = performance.now();
  while (performance.now() - start < Number(seconds) * 1000) {
    const stream = await client.chat.completions.create({
      model: "bench", stream: true, stream_options: { include_usage: true },
      messages: [{ role: "user", content: `scenario in=100 out=${tokens}` }],
    });
    for await (const chunk of stream)
      bytes += JSON.stringify(chunk).length;
    calls++;
  }
  console.log(JSON.stringify({ calls, bytes, seconds: (performance.now() - start) / 1000 }));
})();
