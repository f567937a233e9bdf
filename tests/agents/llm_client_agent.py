"""An agent that calls an LLM API with Python's httpx, sync or async, for the
LLM tests:

    llm_client_agent.py httpx|httpx_async BASE_URL

$LLM_PLAN is a JSON list of calls (not in argv, which anyone may read): {"api": "openai"|"anthropic", "model": ...,
"prompt": ..., "stream": bool, "include_usage": bool}. The key comes from
$LLM_API_KEY and goes in both Authorization and x-api-key; the CA from
$SSL_CERT_FILE. Prints "ready", waits for a line on stdin, makes the calls
on one keep-alive connection, prints {"results": [{"status": code,
"chunks": n, "error": bool}]} and waits for stdin to close.
"""
import asyncio
import json
import os
import sys

import httpx

KIND, BASE = sys.argv[1], sys.argv[2].rstrip("/")
PLAN = json.loads(os.environ.get("LLM_PLAN", "[]"))
KEY = os.environ.get("LLM_API_KEY", "none")
HEADERS = {"Authorization": f"Bearer {KEY}", "x-api-key": KEY,
           "anthropic-version": "2023-06-01"}


def request(call):
    body = {"model": call["model"], "max_tokens": 64,
            "messages": [{"role": "user", "content": call["prompt"]}]}
    if call.get("stream"):
        body["stream"] = True
        if call.get("include_usage"):
            body["stream_options"] = {"include_usage": True}
    path = "/v1/messages" if call["api"] == "anthropic" else "/v1/chat/completions"
    return BASE + path, body


def sync_calls(plan):
    results = []
    with httpx.Client(headers=HEADERS, timeout=30) as client:
        for call in plan:
            url, body = request(call)
            try:
                with client.stream("POST", url, json=body) as r:
                    chunks = sum(1 for line in r.iter_lines() if line.startswith("data:"))
                    results.append({"status": r.status_code, "chunks": chunks, "error": False})
            except httpx.HTTPError:
                results.append({"status": 0, "chunks": 0, "error": True})
    return results


async def async_calls(plan):
    results = []
    async with httpx.AsyncClient(headers=HEADERS, timeout=30) as client:
        for call in plan:
            url, body = request(call)
            try:
                async with client.stream("POST", url, json=body) as r:
                    chunks = 0
                    async for line in r.aiter_lines():
                        chunks += line.startswith("data:")
                    results.append({"status": r.status_code, "chunks": chunks, "error": False})
            except httpx.HTTPError:
                results.append({"status": 0, "chunks": 0, "error": True})
    return results


def main():
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        plan = PLAN if line.strip() == "go" else json.loads(line)
        results = sync_calls(plan) if KIND == "httpx" else asyncio.run(async_calls(plan))
        print(json.dumps({"results": results}), flush=True)


if __name__ == "__main__":
    main()
