"""An agent that makes HTTPS calls with one of Python's clients, for the TLS
tests: tls_client_agent.py CLIENT URL N [URL N ...] with CLIENT requests,
httpx, httpx_async or aiohttp, trusting the CA in $SSL_CERT_FILE. It imports
its client (so OpenSSL is mapped), makes one call to the first URL if
$WARMUP is set (a connection opened before the daemon), prints "ready",
waits for a line on stdin, makes the calls on one keep-alive connection
pool, prints {"codes": {code: count}, "failed": n} and waits for stdin to
close. With $BODY_BYTES the httpx client POSTs a body that many bytes long."""
import asyncio
import collections
import json
import os
import ssl
import sys

CLIENT = sys.argv[1]
CALLS = [(sys.argv[i], int(sys.argv[i + 1])) for i in range(2, len(sys.argv), 2)]
CA = os.environ["SSL_CERT_FILE"]
TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "30"))


def sync_calls(get, warm):
    seen, failed = collections.Counter(), 0
    if warm:
        get(CALLS[0][0])
    print("ready", flush=True)
    sys.stdin.readline()
    for url, n in CALLS:
        for _ in range(n):
            try:
                seen[get(url)] += 1
            except Exception:  # a timeout or a hang-up: the test counts them
                failed += 1
    return seen, failed


async def async_calls(get, warm):
    seen, failed = collections.Counter(), 0
    if warm:
        await get(CALLS[0][0])
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for url, n in CALLS:
        for _ in range(n):
            try:
                seen[await get(url)] += 1
            except Exception:
                failed += 1
    return seen, failed


def main():
    warm = bool(os.environ.get("WARMUP"))
    if CLIENT == "requests":
        import requests
        s = requests.Session()
        seen, failed = sync_calls(lambda u: s.get(u, verify=CA, timeout=TIMEOUT).status_code, warm)
    elif CLIENT == "httpx":
        import httpx
        c = httpx.Client(verify=CA, timeout=TIMEOUT)
        body = b"b" * int(os.environ.get("BODY_BYTES", "0"))
        seen, failed = sync_calls(lambda u: (c.post(u, content=body) if body else c.get(u)).status_code,
                                  warm)
    elif CLIENT == "httpx_async":
        import httpx

        async def run():
            async with httpx.AsyncClient(verify=CA, timeout=TIMEOUT) as c:
                async def get(u):
                    return (await c.get(u)).status_code
                return await async_calls(get, warm)
        seen, failed = asyncio.run(run())
    elif CLIENT == "aiohttp":
        import aiohttp

        async def run():
            ctx = ssl.create_default_context(cafile=CA)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as s:
                async def get(u):
                    async with s.get(u, ssl=ctx) as r:
                        await r.read()
                        return r.status
                return await async_calls(get, warm)
        seen, failed = asyncio.run(run())
    else:
        sys.exit(f"unknown client {CLIENT}")
    print(json.dumps({"codes": {str(k): v for k, v in seen.items()}, "failed": failed}), flush=True)
    sys.stdin.read()


main()
