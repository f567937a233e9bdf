"""Demo summarizer: a queue worker with no HTTP and no metrics code. Pops
tasks:summarize, asks its LLM cache, "summarizes" for a while.

  demo_summarizer.py REDIS_PORT"""
import hashlib
import random
import sys
import time

import redis

port = int(sys.argv[1])
bus = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
cache = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
while True:
    try:
        item = bus.brpop("tasks:summarize", timeout=2)
        if item is None:
            continue
        goal = item[1].split(b":", 1)[0]  # the planner's goal: summaries of one goal are cached
        key = "llm:" + hashlib.sha1(goal).hexdigest()[:8]
        if cache.get(key) is None:
            time.sleep(random.uniform(0.1, 0.45))  # the model call
            cache.set(key, "summary", ex=20)
        else:
            time.sleep(random.uniform(0.005, 0.02))
    except redis.RedisError:
        time.sleep(1)
