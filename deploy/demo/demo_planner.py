"""Demo planner agent: a FastAPI service as these teams write them, with no
metrics code at all. Run by uvicorn. POST /plan hands its steps to the
researcher through a Redis list (tasks:research) when DEMO_REDIS_PORT is set."""
import asyncio
import os
import random

from fastapi import FastAPI, HTTPException

app = FastAPI()
_redis = None
if os.environ.get("DEMO_REDIS_PORT"):
    import redis

    _redis = redis.Redis(host="127.0.0.1", port=int(os.environ["DEMO_REDIS_PORT"]),
                         socket_timeout=2)


@app.get("/plan")
async def plan(steps: int = 3):
    await asyncio.sleep(random.uniform(0.02, 0.3))  # thinking
    return {"steps": [f"step {i}" for i in range(steps)]}


@app.post("/plan")
async def plan_post(body: dict):
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
