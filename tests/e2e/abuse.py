"""Misbehaving clients of an agentbpf daemon, for test_abuse.py:
abuse.py HOST PORT SECONDS. From other loopback addresses than 127.0.0.1
(where the test's Prometheus scrapes from), for SECONDS:
  - 1,000 idle connections (20 from each of 50 addresses), opened again
    when the server closes them;
  - 200 slowloris clients (10 from each of 20 addresses) trickling a
    request head one byte every 5 s;
  - 100 clients (10 from each of 10 addresses) requesting /metrics as fast
    as they can.
Prints one JSON line: what each kind managed."""
import asyncio
import json
import resource
import sys
import time

HOST, PORT, SECONDS = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
stats = {"idle_open": 0, "idle_refused": 0, "slow_bytes": 0, "slow_closed": 0,
         "flood_ok": 0, "flood_failed": 0}


async def connect(src):
    return await asyncio.open_connection(HOST, PORT, local_addr=(src, 0))


async def idle(src, end):
    while time.monotonic() < end:
        try:
            r, w = await connect(src)
            stats["idle_open"] += 1
            try:
                await asyncio.wait_for(r.read(1), end - time.monotonic())
            except (asyncio.TimeoutError, OSError):
                pass
            w.close()
        except OSError:
            stats["idle_refused"] += 1
            await asyncio.sleep(0.5)


async def slowloris(src, end):
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000
    while time.monotonic() < end:
        try:
            r, w = await connect(src)
            for b in head:
                if time.monotonic() >= end:
                    break
                w.write(bytes([b]))
                await w.drain()
                stats["slow_bytes"] += 1
                await asyncio.sleep(5)
            w.close()
        except OSError:
            stats["slow_closed"] += 1
            await asyncio.sleep(1)


async def flood(src, end):
    while time.monotonic() < end:
        try:
            r, w = await connect(src)
            w.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            await w.drain()
            data = await asyncio.wait_for(r.read(), 10)
            stats["flood_ok" if data.startswith(b"HTTP/1.1 200") else "flood_failed"] += 1
            w.close()
        except (OSError, asyncio.TimeoutError):
            stats["flood_failed"] += 1
            await asyncio.sleep(0.1)


async def main():
    end = time.monotonic() + SECONDS
    tasks = []
    for a in range(50):
        tasks += [idle(f"127.0.1.{a + 1}", end) for _ in range(20)]
    for a in range(20):
        tasks += [slowloris(f"127.0.2.{a + 1}", end) for _ in range(10)]
    for a in range(10):
        tasks += [flood(f"127.0.3.{a + 1}", end) for _ in range(10)]
    await asyncio.gather(*tasks)


resource.setrlimit(resource.RLIMIT_NOFILE, (16384, 16384))
asyncio.run(main())
print(json.dumps(stats), flush=True)
