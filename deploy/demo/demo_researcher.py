"""Demo researcher agent: a plain http.server, no framework, no metrics code.
With a Redis port it also works the tasks:research list the planner fills:
pops a task, looks its topic up in a cache, "researches" a while and hands
the result to the summarizer on tasks:summarize.

  demo_researcher.py HTTP_PORT [REDIS_PORT]"""
import http.server
import random
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(random.uniform(0.01, 0.2))
        status = 404 if self.path.startswith("/missing") else 200
        body = b'{"findings": 3}\n'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def work(port):
    import redis

    # Two connections, as a real worker has: the blocking pops on one, so the
    # time from a delivered task to the next pop is the task's processing time.
    bus = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    kv = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    while True:
        try:
            item = bus.brpop("tasks:research", timeout=2)
            if item is None:
                continue
            topic = item[1].decode().rsplit(":", 1)[-1]
            if kv.get(f"web:{topic}") is None:
                time.sleep(random.uniform(0.05, 0.25))  # fetch the page
                kv.set(f"web:{topic}", "page", ex=30)
            else:
                time.sleep(random.uniform(0.01, 0.05))
            kv.lpush("tasks:summarize", item[1])
        except redis.RedisError:
            time.sleep(1)


if len(sys.argv) > 2:
    threading.Thread(target=work, args=(int(sys.argv[2]),), daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
