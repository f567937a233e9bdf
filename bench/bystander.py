#!/usr/bin/python3
"""A process that is no agent's: one TCP connection over loopback, 16-byte
ping-pong for a while, the client on CPU 0 and the server on CPU 1. What
agentbpf costs it is what every other process on the host pays for the
socket hooks: bench/bpf_profile.py samples it.

Usage: bench/bystander.py SECONDS   (prints "N round trips/s")
"""
import os
import socket
import sys
import time


def main():
    seconds = float(sys.argv[1])
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    server = os.fork()
    if server == 0:
        os.sched_setaffinity(0, {1})
        conn, _ = ls.accept()
        while True:
            b = conn.recv(64)
            if not b:
                os._exit(0)
            conn.sendall(b)
    os.sched_setaffinity(0, {0})
    s = socket.create_connection(ls.getsockname())
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n, msg = 0, b"x" * 16
    start = time.monotonic()
    end = start + seconds
    while True:
        for _ in range(1000):
            s.sendall(msg)
            s.recv(64)
        n += 1000
        if time.monotonic() >= end:
            break
    print(f"{n / (time.monotonic() - start):.0f} round trips/s")
    s.close()
    os.waitpid(server, 0)


if __name__ == "__main__":
    main()
