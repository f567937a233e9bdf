"""A local LLM API for the tests: OpenAI chat completions (plain and SSE)
and Anthropic messages (plain and SSE), over HTTPS with a CA of the test's
own or over plain HTTP. What it answers is scripted by the words after
"scenario" in the last user message:

  in=N out=N cache_read=N cache_write=N   the usage it reports (out: content chunks)
  first=S gap=S                           seconds before the first content, between chunks
  status=N                                answer with this error status instead
  cut=N                                   close the connection after N content chunks
  usage=0                                 a stream that reports no usage
  gzip=1                                  a plain answer gzip-compressed (if accepted)

The answer names the model asked for with "-0125" appended: the tests tell
a model read from the answer from one read from the request.

    llm_server.py PORT [--tls DIR]   (DIR holds server.pem and server.key)
"""
import gzip
import json
import re
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def scenario(body, anthropic):
    msgs = body.get("messages") or [{}]
    content = msgs[-1].get("content", "")
    if isinstance(content, list):
        content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    words = content.split("scenario", 1)[1] if "scenario" in content else ""
    s = {"in": 10, "out": 3, "cache_read": 0, "cache_write": 0, "first": 0.0, "gap": 0.0,
         "status": 200, "cut": -1, "usage": 1, "gzip": 0}
    for k, v in re.findall(r"(\w+)=([\d.]+)", words):
        if k in s:
            s[k] = float(v) if k in ("first", "gap") else int(v)
    return s


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, code, obj, compress=False):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if compress:
            data = gzip.compress(data)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def event(self, name, obj):
        head = b"event: %s\n" % name.encode() if name else b""
        self.chunk(head + b"data: " + json.dumps(obj).encode() + b"\n\n")

    def cut(self):
        """The connection ends mid-answer, as a crashed or overloaded upstream ends it."""
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        anthropic = self.path.startswith("/v1/messages")
        if not anthropic and not self.path.startswith("/v1/chat/completions"):
            return self.send_json(404, {"error": {"message": "no such API"}})
        s = scenario(body, anthropic)
        model = body.get("model", "") + "-0125"
        if s["status"] != 200:
            if anthropic:
                return self.send_json(s["status"], {"type": "error", "error": {
                    "type": "rate_limit_error" if s["status"] == 429 else "api_error",
                    "message": "scripted"}})
            return self.send_json(s["status"], {"error": {"message": "scripted",
                                                          "type": "server_error", "code": None}})
        if not body.get("stream"):
            time.sleep(s["first"])
            text = "".join(f"tok{i} " for i in range(s["out"]))
            compress = s["gzip"] and "gzip" in self.headers.get("Accept-Encoding", "")
            if anthropic:
                return self.send_json(200, {
                    "id": "msg_1", "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": s["in"], "output_tokens": s["out"],
                              "cache_creation_input_tokens": s["cache_write"],
                              "cache_read_input_tokens": s["cache_read"]}}, compress)
            return self.send_json(200, {
                "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": s["in"], "completion_tokens": s["out"],
                          "total_tokens": s["in"] + s["out"],
                          "prompt_tokens_details": {"cached_tokens": s["cache_read"]}}},
                compress)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if anthropic:
            self.stream_anthropic(s, model)
        else:
            self.stream_openai(s, model, body)

    def deltas(self, s, send):
        """The scripted content deltas: after "first" seconds, "gap" apart; False
        when the script cuts the connection first."""
        time.sleep(s["first"])
        for i in range(s["out"]):
            if i == s["cut"]:
                self.cut()
                return False
            if i:
                time.sleep(s["gap"])
            send(i)
        return True

    def stream_openai(self, s, model, body):
        usage = s["usage"] and (body.get("stream_options") or {}).get("include_usage")
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model}

        def chunk(delta, finish=None, **extra):
            c = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
            if usage:
                c["usage"] = None
            c.update(extra)
            self.event(None, c)

        # The role comes first, with empty content: no token yet.
        chunk({"role": "assistant", "content": ""})
        if not self.deltas(s, lambda i: chunk({"content": f"tok{i} "})):
            return
        chunk({}, "stop")
        if usage:
            self.event(None, dict(base, choices=[], usage={
                "prompt_tokens": s["in"], "completion_tokens": s["out"],
                "total_tokens": s["in"] + s["out"],
                "prompt_tokens_details": {"cached_tokens": s["cache_read"]}}))
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")

    def stream_anthropic(self, s, model):
        self.event("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": s["in"], "output_tokens": 1,
                      "cache_creation_input_tokens": s["cache_write"],
                      "cache_read_input_tokens": s["cache_read"]}}})
        self.event("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}})
        self.event("ping", {"type": "ping"})
        if not self.deltas(s, lambda i: self.event("content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": f"tok{i} "}})):
            return
        self.event("content_block_stop", {"type": "content_block_stop", "index": 0})
        self.event("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                     "usage": {"output_tokens": s["out"]}})
        self.event("message_stop", {"type": "message_stop"})
        self.chunk(b"")


def main():
    port = int(sys.argv[1])
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    if "--tls" in sys.argv:
        d = sys.argv[sys.argv.index("--tls") + 1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{d}/server.pem", f"{d}/server.key")
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
