"""Demo planner agent: a FastAPI service as these teams write them, with no
metrics code at all. Run by uvicorn."""
import asyncio
import random

from fastapi import FastAPI, HTTPException

app = FastAPI()


@app.get("/plan")
async def plan(steps: int = 3):
    await asyncio.sleep(random.uniform(0.02, 0.3))  # thinking
    return {"steps": [f"step {i}" for i in range(steps)]}


@app.post("/plan")
async def plan_post(body: dict):
    await asyncio.sleep(random.uniform(0.05, 0.5))
    return {"ok": True, "size": len(body)}


@app.get("/fail")
async def fail():
    raise HTTPException(status_code=503, detail="model overloaded")
