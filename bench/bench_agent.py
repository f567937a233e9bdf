"""A trivial FastAPI agent with no instrumentation: the baseline."""
from fastapi import FastAPI

app = FastAPI()


@app.get("/ok")
async def ok():
    return {"ok": True}
