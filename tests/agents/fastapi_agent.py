"""A FastAPI agent with no instrumentation, run by uvicorn, for HTTP tests."""
import asyncio
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
