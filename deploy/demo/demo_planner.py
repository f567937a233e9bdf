"""Demo planner agent: a FastAPI service as these teams write them, with no
metrics code at all. Run by uvicorn. POST /plan asks the model API
(DEMO_LLM_URL over HTTPS, trusting DEMO_LLM_CA) and hands its steps to the
researcher through a Redis list (tasks:research) when DEMO_REDIS_PORT is
set; GET /plan asks the researcher (DEMO_RESEARCHER_URL) over HTTP."""
import asyncio
import os
import random

import httpx
from fastapi import FastAPI, HTTPException

app = FastAPI()
_calls = None


def calls():
    """One keep-alive client for the agent's calls, made on first use."""
    global _calls
    if _calls is None:
        ca = os.environ.get("DEMO_LLM_CA")
        _calls = httpx.AsyncClient(timeout=5, verify=ca if ca and os.path.exists(ca) else True)
    return _calls
_redis = None
if os.environ.get("DEMO_REDIS_PORT"):
    import redis

    _redis = redis.Redis(host="127.0.0.1", port=int(os.environ["DEMO_REDIS_PORT"]),
                         socket_timeout=2)


@app.get("/plan")
async def plan(steps: int = 3):
    await asyncio.sleep(random.uniform(0.02, 0.3))  # thinking
    if os.environ.get("DEMO_RESEARCHER_URL"):
        try:
            await calls().get(os.environ["DEMO_RESEARCHER_URL"] + "/search?q=plan")
        except httpx.HTTPError:
            pass
    return {"steps": [f"step {i}" for i in range(steps)]}


@app.post("/plan")
async def plan_post(body: dict):
    if os.environ.get("DEMO_LLM_URL"):
        # Two models; most answers streamed, some of those without usage.
        req = {"model": random.choice(("demo-small", "demo-large")),
               "messages": [{"role": "user", "content": "plan"}]}
        if random.random() < 0.7:
            req["stream"] = True
            if random.random() < 0.8:
                req["stream_options"] = {"include_usage": True}
        try:
            async with calls().stream("POST", os.environ["DEMO_LLM_URL"] + "/v1/chat/completions",
                                      json=req) as r:
                async for _ in r.aiter_bytes():
                    pass
        except httpx.HTTPError:
            pass
    else:
        await asyncio.sleep(random.uniform(0.05, 0.5))
    steps = [f"{body.get('goal', 'x')}:{i}:{random.randrange(12)}" for i in range(random.randint(1, 5))]
    if _redis is not None:
        try:
            _redis.lpush("tasks:research", *steps)
        except redis.RedisError:
            pass  # the demo goes on without its bus
    return {"ok": True, "queued": len(steps)}


@app.get("/plan/{plan_id}")
async def plan_get(plan_id: int):
    await asyncio.sleep(random.uniform(0.01, 0.05))
    return {"id": plan_id}


@app.get("/fail")
async def fail():
    raise HTTPException(status_code=503, detail="model overloaded")
