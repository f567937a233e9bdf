#!/usr/bin/python3
"""The agent of bench/llm_bench.py: streamed chat completions over HTTPS
(httpx, keep-alive) as fast as the server answers, for a while.

    llm_client.py raw|parse BASE_URL SECONDS TOKENS [WAIT]

raw reads the bytes and nothing else (the least a client does, so the
probes' share is the largest); parse splits the events and decodes each
one's JSON, as the SDKs do. Waits WAIT seconds first (the daemon finds it
and probes its OpenSSL), then prints {"calls": n, "bytes": answer bytes,
"seconds": s}."""
import json
import sys
import time

import httpx

mode, base, seconds, tokens = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
time.sleep(float(sys.argv[5]) if len(sys.argv) > 5 else 0)
body = {"model": "bench", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": f"scenario in=100 out={tokens}"}]}
calls = got = 0
with httpx.Client(timeout=30) as c:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        with c.stream("POST", base + "/v1/chat/completions", json=body) as r:
            if mode == "raw":
                for chunk in r.iter_raw():
                    got += len(chunk)
            else:
                for line in r.iter_lines():
                    got += len(line)
                    if line.startswith("data: {"):
                        json.loads(line[6:])
        calls += 1
    elapsed = time.monotonic() - start
print(json.dumps({"calls": calls, "bytes": got, "seconds": elapsed}))
