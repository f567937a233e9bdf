"""A plain http.server agent (HTTP/1.1, keep-alive) for HTTP tests. Paths:
/ok and /any/...,  /status/N, /sleep/MS, /slowbody/MS (its body MS after its head), /chunked/N (chunked body), /bigheaders (a 4 KiB
response head), /close (body until the
connection closes, no Content-Length), /abort (closes without a response),
/layout/X (raw responses laid out alike, see LAYOUTS), /cutstart/N (a response
written in two pieces, the first N bytes long), /chunkedvec (a chunked response
in one sendmsg of five buffers);
--single serves one connection at a time; --tls DIR serves HTTPS (DIR/server.pem, server.key);
POST reads a Content-Length body and answers with its size (POST /slowread/MS
first waits MS); HEAD answers
like GET without a body."""
import http.server
import sys
import time

# Raw responses whose heads have the same line ends, for the head layout the
# kernel side keeps per connection: what may differ without a new scan (a
# Content-Length value, the status code) and what must not pass for the same
# (a header name, a line end moved by one, a header made of the tail of a
# longer one; with Content-Length, Transfer-Encoding decides, as RFC 9112 says).
PAD = b"X-Pad-Header-Name: chunked\r\n"  # as long as "Transfer-Encoding: chunked"
LONG = b"X-Long-Padding-Header: " + b"p" * 40 + b"\r\n"
SPLIT = b"X-Long-Padding-Header: " + b"p" * 8 + b"\r\nTransfer-Encoding: chunked\r\nX:\r\n"
assert len(LONG) == len(SPLIT)
LAYOUTS = {
    "a": b"HTTP/1.1 200 OK\r\n" + PAD + b"Content-Length: 10\r\n\r\n" + b"a" * 10,
    "b": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Content-Leng: 10\r\n\r\n"
          b"a\r\n" + b"b" * 10 + b"\r\n0\r\n\r\n"),
    "c": b"HTTP/1.1 200 OK\r\n" + PAD + b"Content-Length: 12\r\n\r\n" + b"c" * 12,
    "d": b"HTTP/1.1 204 OK\r\n" + PAD + b"Content-Length: 10\r\n\r\n",
    "e": (b"HTTP/1.1 200 OK\r\nX-Pad-Header-Name: chunke\r\nContent-Length: 11\r\n\r\n"
          + b"e" * 11),
    "f": b"HTTP/1.1 200 OK\r\n" + LONG + b"Content-Length: 10\r\n\r\n" + b"f" * 10,
    "g": (b"HTTP/1.1 200 OK\r\n" + SPLIT + b"Content-Length: 10\r\n\r\n"
          b"a\r\n" + b"g" * 10 + b"\r\n0\r\n\r\n"),
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are separate writes

    def reply(self, code, body, head_only=False):
        self.send_response(code)
        if code in (204, 304):  # no body, no Content-Length
            self.end_headers()
            return
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def route(self, head_only=False):
        parts = self.path.split("/")
        if self.path == "/ok" or self.path.startswith("/any/"):
            return self.reply(200, b"ok\n", head_only)
        if parts[1] == "status":
            return self.reply(int(parts[2]), b"status\n", head_only)
        if parts[1] == "layout":
            self.wfile.write(LAYOUTS[parts[2]])
            return
        if self.path == "/chunkedvec":  # Node.js's way: head, size line, data, CRLF in one writev
            self.wfile.flush()
            self.connection.sendmsg([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                                     b"5\r\n", b"hello", b"\r\n", b"0\r\n\r\n"])
            return
        if parts[1] == "cutstart":  # a response written in two pieces, the first N bytes
            raw, n = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", int(parts[2])
            self.wfile.write(raw[:n])
            time.sleep(0.01)
            self.wfile.write(raw[n:])
            return
        if parts[1] == "sleep":
            time.sleep(int(parts[2]) / 1000)
            return self.reply(200, b"slept\n", head_only)
        if parts[1] == "slowbody":  # the head at once, the body MS later
            body = b"slow body\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            time.sleep(int(parts[2]) / 1000)
            self.wfile.write(body)
            return
        if parts[1] == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(int(parts[2])):
                data = b"part %d\n" % i
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/chunkedodd":  # extensions, a split last chunk, trailers
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            self.wfile.write(b"5;name=value\r\nhello\r\n")
            self.wfile.write(b"1a\r\n" + b"z" * 26 + b"\r\n0\r")
            self.wfile.write(b"\nX-Checksum: 42\r\n")
            self.wfile.write(b"\r\n")
            return
        if self.path == "/bigheaders":  # a response head of several KiB
            self.send_response(200)
            for i in range(40):
                self.send_header("Set-Cookie", f"c{i}=" + "v" * 100)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")
            return
        if self.path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until close\n" * 100)
            self.close_connection = True
            return
        if self.path == "/abort":
            self.close_connection = True
            return
        return self.reply(404, b"no\n", head_only)

    def do_GET(self):
        self.route()

    def do_HEAD(self):
        self.route(head_only=True)

    def do_POST(self):
        if self.path.startswith("/slowread/"):  # the body read MS later: the sender waits
            time.sleep(int(self.path.split("/")[2]) / 1000)
        n = int(self.headers.get("Content-Length", 0))
        left = n
        while left:
            left -= len(self.rfile.read(min(left, 65536)))
        self.reply(200, b"%d\n" % n)

    def log_message(self, *args):
        pass


# --single: one request at a time, so others wait in their sockets.
server = http.server.HTTPServer if "--single" in sys.argv else http.server.ThreadingHTTPServer
httpd = server(("127.0.0.1", int(sys.argv[1])), Handler)
# --tls DIR: HTTPS, with DIR/server.pem (its chain) and DIR/server.key.
if "--tls" in sys.argv:
    import os
    import ssl
    certs = sys.argv[sys.argv.index("--tls") + 1]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(certs, "server.pem"), os.path.join(certs, "server.key"))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
