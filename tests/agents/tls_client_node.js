// An agent that makes HTTPS calls with Node's own fetch (undici), for the TLS
// tests: node tls_client_node.js URL N [URL N ...], trusting the CA in
// $NODE_EXTRA_CA_CERTS. Prints "ready", waits for a line on stdin, makes the
// calls (keep-alive), prints {"codes": {code: count}, "failed": n} and waits
// for stdin to close.
const readline = require("readline");

const calls = [];
for (let i = 2; i < process.argv.length; i += 2)
  calls.push([process.argv[i], Number(process.argv[i + 1])]);

const lines = readline.createInterface({ input: process.stdin });
const next = () => new Promise((resolve) => lines.once("line", resolve));

(async () => {
  console.log("ready");
  await next();
  const codes = {};
  let failed = 0;
  for (const [url, n] of calls) {
    for (let k = 0; k < n; k++) {
      try {
        const r = await fetch(url);
        await r.arrayBuffer();
        codes[r.status] = (codes[r.status] || 0) + 1;
      } catch (e) {
        failed++;
      }
    }
  }
  console.log(JSON.stringify({ codes, failed }));
  lines.on("close", () => process.exit(0));
})();
