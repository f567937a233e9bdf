"""The approach agentbpf replaces: the same trivial FastAPI agent as
bench_agent.py, instrumented in-process with prometheus_client HTTP
middleware (request counter and latency histogram, the usual decorators)."""
import time

from fastapi import FastAPI, Request
from prometheus_client import Counter, Histogram

REQUESTS = Counter("agent_requests_total", "Requests", ["agent_type", "status"])
LATENCY = Histogram("agent_request_duration_seconds", "Latency", ["agent_type"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))

app = FastAPI()


@app.middleware("http")
async def measure(request: Request, call_next):
    start = time.perf_counter()
    response = await call_next(request)
    LATENCY.labels("bench").observe(time.perf_counter() - start)
    REQUESTS.labels("bench", "error" if response.status_code >= 500 else "success").inc()
    return response


@app.get("/ok")
async def ok():
    return {"ok": True}
