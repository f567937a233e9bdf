"""Demo "model API": an HTTPS server that speaks OpenAI's chat completions
(plain and streamed), which the planner calls as agents call an LLM
provider. It is no agent (the demo config matches nothing here): what
agentbpf shows of it is the planner's calls, read from the planner's own
OpenSSL, and the config's llm_hosts names it, so the calls are read for
model, tokens and time to first token too. It makes a CA of its own (python3-trustme) and writes the CA's
certificate where the planner reads it.

  demo_llm.py PORT CA_FILE"""
import http.server
import json
import os
import random
import ssl
import sys
import tempfile
import time

import trustme

port, ca_file = int(sys.argv[1]), sys.argv[2]
ca = trustme.CA()
cert = ca.issue_cert("localhost")
ca.cert_pem.write_to_path(ca_file + ".tmp")
os.replace(ca_file + ".tmp", ca_file)


class Handler(http.server.BaseHTTPRequestHandler):
    """OpenAI's chat completions, plain or streamed (SSE), with usage."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        model = req.get("model", "demo") + "-2026-01"
        words = random.randint(3, 12)
        usage = {"prompt_tokens": random.randint(20, 400), "completion_tokens": words,
                 "prompt_tokens_details": {"cached_tokens": random.choice((0, 0, 64))}}
        time.sleep(random.uniform(0.05, 0.4))  # the model thinks
        if random.random() < 0.05:
            return self.send_json(529, {"error": {"message": "overloaded", "type": "server_error"}})
        if not req.get("stream"):
            return self.send_json(200, {"model": model, "choices": [{"message": {"content": "a plan"}}],
                                        "usage": usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with_usage = (req.get("stream_options") or {}).get("include_usage")
        for i in range(words):
            self.event({"model": model, "choices": [{"delta": {"content": f"w{i} "}}]})
            time.sleep(random.uniform(0.005, 0.03))  # one token at a time
        if with_usage:
            self.event({"model": model, "choices": [], "usage": usage})
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def event(self, obj):
        self.chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log_message(self, *args):
        pass


httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
with tempfile.TemporaryDirectory() as d:
    cert.private_key_and_cert_chain_pem.write_to_path(f"{d}/cert.pem")
    ctx.load_cert_chain(f"{d}/cert.pem")
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
