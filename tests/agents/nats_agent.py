"""A NATS test agent speaking the client text protocol itself (Debian has
no Python NATS client; the protocol is a few lines of text).

  nats_agent.py ROLE PORT pub SUBJECT N [acked]
                                             PUB N messages once told to;
                                             acked: each with a reply-to,
                                             as JetStream delivers to a pull
                                             consumer's inbox (its reply-to,
                                             $JS.ACK.<...>, is the server's
                                             to send, not a client's)
  nats_agent.py ROLE PORT sub SUBJECT QUEUE [ack]
                                             SUB in a queue group; prints
                                             "ready", counts MSGs until told
                                             to report; with ack, answers
                                             each with a JetStream-style ack
                                             (PUB $JS.ACK.<...> , a subject
                                             of its own each time)

Like bus_agent.py: it connects, waits for a line on stdin, acts, prints one
JSON line, and waits for another line before exiting.
"""
import json
import select
import socket
import sys


class Nats:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        info = self.line()
        assert info.startswith(b"INFO "), info
        self.s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
                       b'"name":"agentbpf-test"}\r\n')
        self.statuses = 0
        self.flush()

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("server closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def flush(self):
        """PING and wait for its PONG: everything sent before was processed."""
        self.s.sendall(b"PING\r\n")
        while self.line() != b"PONG":
            pass

    def messages(self, until_pong=False):
        """Reads what has arrived (with until_pong, up to a PONG); returns the
        MSGs and HMSGs in it that are messages (status-only HMSGs,
        "NATS/1.0 100 ...", counted apart)."""
        n = 0
        while b"\r\n" in self.buf or until_pong:
            line = self.line()
            if line == b"PONG" and until_pong:
                break
            if line.startswith((b"MSG ", b"HMSG ")):
                size = int(line.split()[-1])
                while len(self.buf) < size + 2:
                    self.buf += self.s.recv(65536)
                status = line.startswith(b"HMSG ") and self.buf.startswith(b"NATS/1.0 ")
                self.buf = self.buf[size + 2:]
                self.statuses += status
                n += not status
            elif line == b"PING":
                self.s.sendall(b"PONG\r\n")
        return n


def main():
    _, port, action, subject, arg, *mode = sys.argv[1:]
    n = Nats(int(port))
    sys.stdin.readline()
    out = {}
    if action == "pub":
        count = int(arg)
        for i in range(count):
            payload = f"task-{i}".encode()
            reply = b" tasks.acks.%d" % i if mode == ["acked"] else b""
            if mode == ["headers"]:
                # Messages with headers, and every fourth a status-only one
                # as JetStream sends (an idle heartbeat).
                status = i % 4 == 3
                hdr = b"NATS/1.0 100 Idle Heartbeat\r\n\r\n" if status else b"NATS/1.0\r\nTask: %d\r\n\r\n" % i
                body = b"" if status else payload
                n.s.sendall(b"HPUB %s %d %d\r\n%s%s\r\n" % (subject.encode(), len(hdr), len(hdr) + len(body),
                                                              hdr, body))
                continue
            n.s.sendall(b"PUB %s%s %d\r\n%s\r\n" % (subject.encode(), reply, len(payload),
                                                      payload))
        n.flush()
        out["published"] = count
    else:
        n.s.sendall(b"SUB %s %s 1\r\n" % (subject.encode(), arg.encode()))
        n.flush()
        print(json.dumps({"ready": True}), flush=True)
        got = 0
        while True:
            r, _, _ = select.select([n.s, sys.stdin], [], [], 10)
            if n.s in r:
                data = n.s.recv(65536)
                if not data:
                    break
                n.buf += data
                new = n.messages()
                if mode == ["ack"]:
                    n.s.sendall(b"".join(b"PUB $JS.ACK.tasks.%s.1.%d.%d.0.0 4\r\n+ACK\r\n"
                                         % (arg.encode(), got + i, got + i) for i in range(new)))
                got += new
            if sys.stdin in r:
                sys.stdin.readline()
                # The publisher's flush returned once the server routed its
                # messages, not once they reached us (a slow guest showed
                # it): the server answers our PING after every delivery it
                # queued for us before it.
                n.s.sendall(b"PING\r\n")
                got += n.messages(until_pong=True)
                break
        out["received"] = got
        out["statuses"] = n.statuses
    print(json.dumps(out), flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    main()
