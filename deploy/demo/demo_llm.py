"""Demo "model API": an HTTPS server the planner calls, as agents call an
LLM provider. It is no agent (the demo config matches nothing here): what
agentbpf shows of it is the planner's calls, read from the planner's own
OpenSSL. It makes a CA of its own (python3-trustme) and writes the CA's
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
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(random.uniform(0.05, 0.4))  # the model thinks
        overloaded = random.random() < 0.05
        body = json.dumps({"error": "overloaded"} if overloaded else
                          {"choices": [{"message": {"content": "a plan"}}],
                           "usage": {"prompt_tokens": 12, "completion_tokens": 5}}).encode()
        self.send_response(529 if overloaded else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
with tempfile.TemporaryDirectory() as d:
    cert.private_key_and_cert_chain_pem.write_to_path(f"{d}/cert.pem")
    ctx.load_cert_chain(f"{d}/cert.pem")
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
