"""A raw HTTP/1.1 client for tests: sends exact bytes and reads responses
framed the way the kernel side must frame them, so tests know the exact
number of requests, statuses and bytes on the wire."""
import random
import socket
import time


class Conn:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        # Each send its own segment, cut where the test cuts it: Nagle
        # would hold a piece back until the last was acknowledged, merging
        # pieces the server should read apart.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def send_fragmented(self, data, seed, smallest, largest):
        """Sends data cut at random places, each piece its own segment."""
        rnd = random.Random(seed)
        i = 0
        while i < len(data):
            n = rnd.randint(smallest, largest)
            self.sock.sendall(data[i:i + n])
            i += n
            time.sleep(0.002)

    def send_cut(self, data, cuts):
        """Sends data in pieces that end at the given offsets, each its own segment."""
        last = 0
        for at in sorted(cuts) + [len(data)]:
            self.sock.sendall(data[last:at])
            last = at
            time.sleep(0.005)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def response(self, head_request=False):
        """(status code, bytes of the whole response on the wire)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n\r\n") + 4
        head, self.buf = self.buf[:i], self.buf[i:]
        lines = head.decode("latin-1").split("\r\n")
        code = int(lines[0].split()[1])
        headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        size = len(head)
        if head_request or code in (204, 304) or 100 <= code < 200:
            return code, size
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        if "content-length" in headers and not chunked:   # chunked wins (RFC 9112 6.3)
            size += len(self._take(int(headers["content-length"])))
        elif chunked:
            while True:
                line = self._line()
                size += len(line)
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    break
                size += len(self._take(n + 2))
            while True:                   # trailer lines, then an empty one
                line = self._line()
                size += len(line)
                if line == b"\r\n":
                    break
        else:
            try:
                while True:
                    self._fill()
            except (EOFError, ConnectionResetError):
                pass
            size += len(self.buf)
            self.buf = b""
        return code, size

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def request(method, path, body=b"", headers=()):
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\n"
    for h in headers:
        head += h + "\r\n"
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body
