"""A FastAPI agent with no instrumentation, run by uvicorn, for HTTP tests.
/call and /rawcall make calls of its own, for the outbound tests."""
import asyncio
import collections
import time

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

app = FastAPI()


@app.get("/ok")
async def ok():
    return {"ok": True}


@app.get("/status/{code}")
async def status(code: int):
    return Response(content=b"x" * 10, status_code=code)


@app.get("/sleep/{ms}")
async def sleep(ms: int):
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


@app.get("/block/{ms}")
async def block(ms: int):
    time.sleep(ms / 1000)  # blocks the event loop: other requests wait unread
    return {"blocked_ms": ms}


@app.post("/echo")
async def echo(request: Request):
    body = await request.body()
    return {"received": len(body)}


@app.get("/drip/{n}/{ms}")
async def drip(n: int, ms: int):
    async def parts():
        for i in range(n):
            yield b"drop-%d;" % i
            await asyncio.sleep(ms / 1000)
    return StreamingResponse(parts(), media_type="text/plain")


@app.get("/chunked/{n}")
async def chunked(n: int):
    async def parts():
        for i in range(n):
            yield b"chunk-%d;" % i
    return StreamingResponse(parts(), media_type="text/plain")


@app.get("/call")
async def call(port: int, path: str, n: int = 1, host: str = "", timeout: float = 30.0,
               fresh: bool = False):
    """n calls to 127.0.0.1:port/path with httpx, on one keep-alive
    connection (each on its own with fresh), naming host in the Host header
    if given. Answers the status codes seen, and the calls that failed."""
    import httpx  # here: the agent starts as fast as before (it counts under qemu)

    seen, failed = collections.Counter(), 0
    headers = {"Host": host} if host else {}
    client = httpx.AsyncClient(timeout=timeout)
    try:
        for _ in range(n):
            try:
                if fresh:
                    async with httpx.AsyncClient(timeout=timeout) as one:
                        r = await one.get(f"http://127.0.0.1:{port}{path}", headers=headers)
                else:
                    r = await client.get(f"http://127.0.0.1:{port}{path}", headers=headers)
                seen[r.status_code] += 1
            except httpx.HTTPError:
                failed += 1
                await client.aclose()
                client = httpx.AsyncClient(timeout=timeout)
    finally:
        await client.aclose()
    return {"codes": {str(k): v for k, v in seen.items()}, "failed": failed}


@app.get("/rawcall")
async def rawcall(port: int, path: str):
    """One HTTP/1.0 call without a Host header, read to the close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return {"status_line": data.split(b"\r\n", 1)[0].decode()}
