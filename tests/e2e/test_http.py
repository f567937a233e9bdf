"""HTTP requests measured in the kernel, against real servers (uvicorn +
FastAPI, http.server, nginx) driven by real clients: exact counts by
status, keep-alive, pipelining, latency buckets, sizes, in-flight, client
timeouts, server aborts, garbage, and agents that must not mix."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from harness import (AGENTBPF, AGENTS, PY, Daemon, Procs, check, eq, free_port, wait_port,
                     wait_until)
from httpclient import Conn, request

STATUSES = ("success", "error", "timeout")



def start_uvicorn(ps, port, d=None):
    ps.start([PY, "-m", "uvicorn", "fastapi_agent:app", "--host", "127.0.0.1", "--port", str(port),
              "--log-level", "warning"], cwd=AGENTS)
    wait_port(port)
    if d:  # the daemon has classified it: its first request is measured
        d.wait_value(1, "agent_processes", agent_type="fastapi")


def start_httpserver(ps, port, script="httpserver_agent.py", *args, d=None):
    ps.start([PY, os.path.join(AGENTS, script), str(port), *args])
    wait_port(port)
    if d:
        d.wait_value(1, "agent_processes", agent_type="pyserver")


def cfg(*agents):
    out = "agents:\n"
    for name, glob in agents:
        out += f"  - name: {name}\n    match:\n      cmdline: \"{glob}\"\n"
    return out


UVICORN = ("fastapi", "*uvicorn fastapi_agent:app*")
HTTPSERVER = ("pyserver", "*httpserver_agent.py*")


def counts(d, agent):
    s = d.scrape()
    return {st: s.get("agent_requests_total", agent_type=agent, status=st) for st in STATUSES}


def wait_counts(d, agent, wait=15, **expected):
    want = {st: expected.get(st, 0) for st in STATUSES}
    wait_until(lambda: counts(d, agent) == want, wait,
               f"{agent} requests {want} (now {counts(d, agent)})")
    time.sleep(0.3)
    eq(counts(d, agent), want, f"{agent} requests after settling")


def no_http_drops(d):
    for (name, labels), v in d.scrape().items():
        if name == "agentbpf_events_dropped_total" and dict(labels)["reason"].startswith("http"):
            eq(v, 0, f"dropped {labels}")


def exact_sizes(d, agent, requests, responses):
    """Each request counted once as a success, with its own and its
    response's exact size in bytes, and nothing dropped."""
    wait_counts(d, agent, success=len(requests))
    s = d.scrape()
    eq(s.get("agent_request_size_bytes_sum", agent_type=agent), sum(requests), "request bytes")
    eq(s.get("agent_response_size_bytes_sum", agent_type=agent), sum(responses), "response bytes")
    no_http_drops(d)


def test_fastapi_counts_by_status_class():
    port = free_port()
    with Daemon(cfg(UVICORN)) as d, Procs() as ps:
        start_uvicorn(ps, port, d)
        plan = [("/ok", 30), ("/status/404", 7), ("/status/500", 5), ("/status/503", 4),
                ("/status/408", 3), ("/status/504", 2)]
        with Conn(port) as c:
            for path, n in plan:
                for _ in range(n):
                    c.send(request("GET", path))
                    c.response()
        # And one connection per request.
        for _ in range(10):
            with Conn(port) as c:
                c.send(request("GET", "/ok"))
                eq(c.response()[0], 200, "status")
        wait_counts(d, "fastapi", success=47, error=9, timeout=5)
        no_http_drops(d)


def test_keepalive_1000_requests_on_one_connection():
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        with Conn(port) as c:
            for _ in range(1000):
                c.send(request("GET", "/ok"))
                eq(c.response()[0], 200, "status")
        wait_counts(d, "pyserver", success=1000)
        eq(d.value("agent_request_duration_seconds_count", agent_type="pyserver"), 1000,
           "histogram count")
        no_http_drops(d)


def test_pipelined_requests_each_counted():
    ports = (free_port(), free_port())
    with Daemon(cfg(UVICORN, HTTPSERVER)) as d, Procs() as ps:
        start_uvicorn(ps, ports[0], d)
        start_httpserver(ps, ports[1], d=d)
        for agent, port in zip(("fastapi", "pyserver"), ports):
            batch = b"".join(request("GET", "/ok") for _ in range(10))
            with Conn(port) as c:
                c.send(batch)                       # ten requests in one send
                for _ in range(10):
                    eq(c.response()[0], 200, "pipelined status")
                # Ten more, cut into fragments that split heads across reads.
                c.send_fragmented(batch, seed=7, smallest=1, largest=40)
                for _ in range(10):
                    eq(c.response()[0], 200, "fragmented pipelined status")
            wait_counts(d, agent, success=20)
        no_http_drops(d)


def test_latency_lands_in_the_right_buckets():
    port = free_port()
    with Daemon(cfg(UVICORN)) as d, Procs() as ps:
        start_uvicorn(ps, port, d)
        measured = []
        with Conn(port) as c:
            for ms, n in ((50, 10), (200, 5), (1000, 2)):
                for _ in range(n):
                    t0 = time.monotonic()
                    c.send(request("GET", f"/sleep/{ms}"))
                    c.response()
                    measured.append(time.monotonic() - t0)
        wait_counts(d, "fastapi", success=17)
        s = d.scrape()
        le = lambda b: s.get("agent_request_duration_seconds_bucket", agent_type="fastapi", le=b)
        eq([le(b) for b in ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")],
           [0, 10, 15, 15, 15, 17, 17], "cumulative buckets")
        total = s.get("agent_request_duration_seconds_sum", agent_type="fastapi")
        true_mean = sum(measured) / len(measured)
        check(abs(total / 17 - true_mean) <= 0.05 * true_mean,
              f"mean {total / 17:.4f}s vs client-measured {true_mean:.4f}s")


def blocked_loop_buckets(d_cfg):
    """A request that waits unread behind a blocked event loop: the duration
    buckets, how long the client saw it take, and whether the daemon loaded
    its sk_data_ready program."""
    port = free_port()
    with Daemon(d_cfg) as d, Procs() as ps:
        start_uvicorn(ps, port, d)
        arrival_hook = "http_data_ready" in d.programs_using("http_conns")
        with Conn(port) as a, Conn(port) as b:
            b.send(request("GET", "/ok"))
            b.response()
            # A blocks the event loop for 1 s; B's next request waits unread.
            a.send(request("GET", "/block/1000"))
            time.sleep(0.1)
            t0 = time.monotonic()
            b.send(request("GET", "/ok"))
            b.response()
            waited = time.monotonic() - t0
            a.response()
        wait_counts(d, "fastapi", success=3)
        s = d.scrape()
        le = lambda b: s.get("agent_request_duration_seconds_bucket", agent_type="fastapi", le=b)
        return (le("0.25"), le("0.5"), le("1"), le("+Inf")), waited, arrival_hook


def test_time_waiting_to_be_read_counts_in_the_duration():
    buckets, waited, arrival_hook = blocked_loop_buckets(cfg(UVICORN))
    check(arrival_hook, "the sk_data_ready program is loaded by default")
    # The first /ok was fast; the second spent ~0.9 s waiting to be read;
    # /block/1000 itself took just over 1 s.
    eq(buckets, (1, 1, 2, 3), f"buckets (client saw the second /ok take {waited:.2f}s)")


def test_request_start_read_leaves_the_wait_out():
    buckets, waited, arrival_hook = blocked_loop_buckets("request_start: read\n" + cfg(UVICORN))
    # No hook on every socket's data arrival: other processes do not pay for it.
    check(not arrival_hook, "no sk_data_ready program with request_start: read")
    # Timed from its read, the second /ok is as fast as the first.
    eq(buckets, (2, 2, 2, 3), f"buckets (client saw the second /ok take {waited:.2f}s)")


def test_request_and_response_sizes():
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        reqs = [request("POST", "/echo", b""), request("POST", "/echo", b"a" * 1024),
                request("POST", "/echo", os.urandom(1 << 20))]
        reqs += [request("GET", "/chunked/50"), request("HEAD", "/ok"), request("GET", "/status/204"),
                 request("GET", "/status/304")]
        resp_sizes = []
        with Conn(port) as c:
            for r in reqs:
                c.send(r)
                resp_sizes.append(c.response(head_request=r.startswith(b"HEAD"))[1])
        # Body until close, no Content-Length.
        with Conn(port) as c:
            c.send(request("GET", "/close"))
            resp_sizes.append(c.response()[1])
            reqs.append(request("GET", "/close"))
        n = len(reqs)
        wait_counts(d, "pyserver", success=n)
        s = d.scrape()
        eq(s.get("agent_request_size_bytes_sum", agent_type="pyserver"), sum(map(len, reqs)),
           "request bytes")
        eq(s.get("agent_response_size_bytes_sum", agent_type="pyserver"), sum(resp_sizes),
           "response bytes")
        bounds = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216]
        for fam, sizes in (("agent_request_size_bytes", list(map(len, reqs))),
                           ("agent_response_size_bytes", resp_sizes)):
            for b in bounds:
                eq(s.get(f"{fam}_bucket", agent_type="pyserver", le=str(b)),
                   sum(1 for x in sizes if x <= b), f"{fam} le={b}")


def test_heads_larger_than_a_read_window():
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        token = "Authorization: Bearer " + "j" * 3000      # a JWT-sized header
        cookie = "Cookie: " + "; ".join(f"k{i}=" + "x" * 60 for i in range(30))
        reqs = [request("GET", "/ok", headers=[token, cookie]) for _ in range(5)]
        reqs += [request("POST", "/echo", b"z" * 5000, headers=[token]) for _ in range(3)]
        reqs += [request("GET", "/bigheaders") for _ in range(5)]
        sizes = []
        with Conn(port) as c:
            for r in reqs:
                c.send(r)
                sizes.append(c.response()[1])
            # The same big head again, in fragments that cut lines anywhere.
            big = request("GET", "/ok", headers=[token, cookie])
            c.send_fragmented(big, seed=3, smallest=100, largest=900)
            sizes.append(c.response()[1])
            reqs.append(big)
        exact_sizes(d, "pyserver", [len(r) for r in reqs], sizes)


def test_heads_cut_where_the_scan_looks():
    # Reads that end exactly where the head scan makes its decisions: inside
    # "Content-Length", inside its value, before the blank line, between its
    # CR and LF. Each request's size (head + body) must come out exact.
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        sent = []
        with Conn(port) as c:
            for body_len in (123, 7, 4096):
                r = request("POST", "/echo", b"b" * body_len)
                head_end = r.index(b"\r\n\r\n")
                cl = r.index(b"Content-Length")
                for cuts in ([cl + 3], [cl + 15], [cl + 17], [head_end + 2], [head_end + 3],
                             [cl + 8, head_end + 1, head_end + 3]):
                    c.send_cut(r, cuts)
                    eq(c.response()[0], 200, f"status, cut at {cuts}")
                    sent.append(len(r))
        wait_counts(d, "pyserver", success=len(sent))
        eq(d.value("agent_request_size_bytes_sum", agent_type="pyserver"), sum(sent),
           "request bytes, heads cut at every decision point")
        no_http_drops(d)


def test_message_starts_cut_in_their_first_bytes():
    # Reads and writes that end a few bytes into a request or status line,
    # too few to tell a message from anything else: the bytes wait for the
    # next call. Each request counted once, with its exact size.
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        sent, got = [], []
        with Conn(port) as c:
            for cut in (1, 3, 5, 7):
                r = request("GET", "/ok")
                c.send_cut(r, [cut])
                code, size = c.response()
                eq(code, 200, f"request cut after {cut} bytes")
                sent.append(len(r))
                got.append(size)
            for cut in (1, 5, 9, 11):
                r = request("GET", f"/cutstart/{cut}")
                c.send(r)
                code, size = c.response()
                eq(code, 200, f"response cut after {cut} bytes")
                sent.append(len(r))
                got.append(size)
        exact_sizes(d, "pyserver", sent, got)


def test_a_response_framed_past_a_writev_first_buffer_keeps_the_pairing():
    # A chunked response whose size lines are in later buffers of one
    # sendmsg: its framing is lost there (counted), yet it answered its
    # request, and the next response on the connection is the next request's.
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        with Conn(port) as c:
            c.send(request("GET", "/chunkedvec"))
            eq(c.response()[0], 200, "chunked in one sendmsg")
            c.send(request("GET", "/sleep/300"))
            eq(c.response()[0], 200, "the next request")
        wait_counts(d, "pyserver", success=2)
        eq(d.value("agentbpf_events_dropped_total", reason="http_framing_lost"), 1,
           "the lost framing is counted")
        # The second request's own duration, not the first's request to the second's response.
        eq(d.value("agent_request_duration_seconds_bucket", agent_type="pyserver", le="0.25"), 1,
           "one fast request")
        eq(d.value("agent_request_duration_seconds_bucket", agent_type="pyserver", le="0.5"), 2,
           "and the 300 ms one")


def test_responses_laid_out_alike_are_framed_each_by_its_own_head():
    # The kernel side skips the scan of a response head laid out like the
    # connection's last one. These heads share their line ends: a chunked one
    # whose header names differ from a Content-Length one's, a new
    # Content-Length value, a 204, a line end moved by one, a chunked one
    # whose Transfer-Encoding line is made of another's tail. Each response's
    # bytes must come out exact, and the framing never lost.
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        order = "abacdaeabbccafgfgg"
        sizes, codes = [], []
        with Conn(port) as c:
            for name in order:
                c.send(request("GET", f"/layout/{name}"))
                code, size = c.response()
                codes.append(code)
                sizes.append(size)
            c.send(request("GET", "/ok"))   # after them, one more the usual way
            code, size = c.response()
            codes.append(code)
            sizes.append(size)
        eq(codes.count(204), order.count("d"), "the client saw the 204s")
        wait_counts(d, "pyserver", success=len(sizes))
        eq(d.value("agent_response_size_bytes_sum", agent_type="pyserver"), sum(sizes),
           "response bytes on one connection")
        no_http_drops(d)
        # The same, each response alone on its connection: nothing kept to compare.
        alone = 0
        for name in "abcdefg":
            with Conn(port) as c:
                c.send(request("GET", f"/layout/{name}"))
                alone += c.response()[1]
        wait_counts(d, "pyserver", success=len(sizes) + 7)
        eq(d.value("agent_response_size_bytes_sum", agent_type="pyserver"), sum(sizes) + alone,
           "response bytes, each framed by its own head")


def test_requests_laid_out_alike_are_framed_each_by_its_own_head():
    # The same for requests, whose start lines differ in length (the kept
    # layout counts from the start line's end): a chunked request whose
    # header names differ from a Content-Length one's, a new Content-Length
    # value, and a head cut right after its start line, whose next piece
    # would match the kept layout if its first line were taken for a start
    # line. Request bytes must come out exact.
    pad = "X-Pad-Header-Name: chunked"          # as long as "Transfer-Encoding: chunked"
    chunked = b"a\r\n" + b"b" * 10 + b"\r\n0\r\n\r\n"
    reqs = [
        (b"POST /echo HTTP/1.1\r\nHost: t\r\n%s\r\nContent-Length: 10\r\n\r\n" % pad.encode())
        + b"a" * 10,
        b"POST /echo?x=1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"X-Content-Leng: 10\r\n\r\n" + chunked,
        (b"POST /echo?abc=123 HTTP/1.1\r\nHost: t\r\n%s\r\nContent-Length: 12\r\n\r\n"
         % pad.encode()) + b"c" * 12,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nHost: t\r\nX-A: 1\r\n\r\nhello",
    ]
    port = free_port()
    with Daemon(cfg(UVICORN)) as d, Procs() as ps:
        start_uvicorn(ps, port, d)
        sent = []
        with Conn(port) as c:
            for i in (0, 1, 0, 2, 1, 1, 2, 0, 3, 4, 3, 4):
                if i == 4:
                    c.send_cut(reqs[i], [reqs[i].index(b"\n") + 1])
                else:
                    c.send(reqs[i])
                eq(c.response()[0], 200, f"request {i}")
                sent.append(len(reqs[i]))
        wait_counts(d, "fastapi", success=len(sent))
        eq(d.value("agent_request_size_bytes_sum", agent_type="fastapi"), sum(sent),
           "request bytes on one connection")
        no_http_drops(d)


def test_chunked_bodies_framed_chunk_by_chunk():
    ports = (free_port(), free_port())
    with Daemon(cfg(HTTPSERVER, UVICORN)) as d, Procs() as ps:
        start_httpserver(ps, ports[0], d=d)
        start_uvicorn(ps, ports[1], d)
        sizes = []
        with Conn(ports[0]) as c:
            for path in ("/chunkedodd", "/ok") * 5:
                c.send(request("GET", path))
                sizes.append(c.response()[1])
        wait_counts(d, "pyserver", success=10)
        eq(d.value("agent_response_size_bytes_sum", agent_type="pyserver"), sum(sizes),
           "chunked response bytes, trailers included")
        # A chunked request body, and a request pipelined right behind it.
        body = b"7;x=y\r\nchunked\r\n3\r\nabc\r\n0\r\n\r\n"
        post = (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + body)
        with Conn(ports[1]) as c:
            c.send(post + request("GET", "/ok"))
            eq(c.response()[0], 200, "uvicorn read the chunked body")
            eq(c.response()[0], 200, "the pipelined request")
        wait_counts(d, "fastapi", success=2)
        eq(d.value("agent_request_size_bytes_sum", agent_type="fastapi"),
           len(post) + len(request("GET", "/ok")), "chunked request bytes")
        no_http_drops(d)


def test_in_flight_gauge_follows_concurrent_requests():
    port = free_port()
    with Daemon(cfg(UVICORN)) as d, Procs() as ps:
        start_uvicorn(ps, port, d)
        n = 5

        def slow():
            with Conn(port) as c:
                c.send(request("GET", "/sleep/2500"))
                c.response()
        threads = [threading.Thread(target=slow) for _ in range(n)]
        for t in threads:
            t.start()
        d.wait_value(n, "worker_active_requests", timeout=2, worker_name="fastapi")
        for t in threads:
            t.join()
        d.wait_value(0, "worker_active_requests", worker_name="fastapi")
        wait_counts(d, "fastapi", success=n)


def test_client_timeout_and_server_abort():
    ports = (free_port(), free_port())
    with Daemon(cfg(UVICORN, HTTPSERVER)) as d, Procs() as ps:
        start_uvicorn(ps, ports[0], d)
        start_httpserver(ps, ports[1], d=d)
        for port in ports:
            # The client gives up after 0.3 s; the handler answers after 1.5 s.
            c = Conn(port, timeout=0.3)
            c.send(request("GET", "/sleep/1500"))
            try:
                c.response()
                raise AssertionError("expected a client timeout")
            except socket.timeout:
                pass
            c.close()
        # http.server closes the connection without answering.
        with Conn(ports[1]) as c:
            c.send(request("GET", "/abort"))
            try:
                c.response()
            except (EOFError, ConnectionResetError):
                pass
        # The client hangs up (its FIN) in the middle of a streamed response:
        # cut off, not a timeout, since the server had begun to answer.
        with Conn(ports[0]) as c:
            c.send(request("GET", "/drip/50/100"))
            got = c.sock.recv(4096)
            check(got.startswith(b"HTTP/1.1 200"), f"the stream began: {got[:40]!r}")
            time.sleep(0.25)
            c.sock.shutdown(socket.SHUT_WR)
            c.sock.settimeout(5)
            while c.sock.recv(4096):
                pass
        wait_counts(d, "fastapi", timeout=1, error=1)
        wait_counts(d, "pyserver", timeout=1, error=1)


def test_agents_never_mix_and_unmatched_servers_create_nothing():
    ports = (free_port(), free_port(), free_port())
    with Daemon(cfg(UVICORN, HTTPSERVER)) as d, Procs() as ps:
        start_uvicorn(ps, ports[0], d)
        start_httpserver(ps, ports[1], d=d)
        start_httpserver(ps, ports[2], "../e2e/unmatched_server.py")
        for port, n in zip(ports, (3, 5, 7)):
            with Conn(port) as c:
                for _ in range(n):
                    c.send(request("GET", "/ok"))
                    c.response()
        wait_counts(d, "fastapi", success=3)
        wait_counts(d, "pyserver", success=5)
        for (name, labels), v in d.scrape().items():
            for k, val in labels:
                if k in ("agent_type", "worker_name"):
                    check(val in ("fastapi", "pyserver"), f"series for {val}: {name}")


def test_garbage_and_truncated_requests_do_not_disturb_counts():
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        junk = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200),
                b"GARBAGE\r\n\r\n", os.urandom(4096), b"GET /ok HTTP/1.1\r\nHo",
                b"\r\n\r\n\r\n", b"POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort"]
        for j in junk:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(j)
            time.sleep(0.05)
            s.close()
        with Conn(port) as c:
            for _ in range(20):
                c.send(request("GET", "/ok"))
                c.response()
        time.sleep(0.5)
        got = counts(d, "pyserver")
        eq(got["success"], 20 + 0, f"good requests counted exactly ({got})")
        # The truncated POST never got its body: the server drops it unanswered.
        check(got["error"] + got["timeout"] <= 1, f"at most the truncated POST is an abort: {got}")
        eq(d.get("/healthz")[0], 200, "daemon alive")


def test_nginx_keepalive_sendfile_head_and_statuses():
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="agentbpf-nginx-")
    try:
        os.makedirs(f"{tmp}/www")
        with open(f"{tmp}/www/big.bin", "wb") as f:
            f.write(os.urandom(1 << 20))
        with open(f"{tmp}/www/small.txt", "w") as f:
            f.write("hello\n")
        conf = f"""worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 10000;
    client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        location = /s204 {{ return 204; }}
        location = /s500 {{ return 500; }}
        location = /s504 {{ return 504; }}
    }}
}}
"""
        with open(f"{tmp}/nginx.conf", "w") as f:
            f.write(conf)
        with Daemon(cfg(("nginx", "*agentbpf-nginx-*"))) as d, Procs() as ps:
            ps.start(["/usr/sbin/nginx", "-c", f"{tmp}/nginx.conf", "-g", "daemon off;"])
            wait_port(port)
            d.wait_value(2, "agent_processes", agent_type="nginx")    # master and worker
            sizes = 0
            with Conn(port) as c:
                for _ in range(200):
                    c.send(request("GET", "/small.txt"))
                    sizes += c.response()[1]
                for _ in range(5):
                    c.send(request("GET", "/big.bin"))
                    code, n = c.response()
                    eq(code, 200, "big file")
                    sizes += n
            # nginx closes the connection after some error statuses: one each.
            for path, head in (("/small.txt", True), ("/missing", False), ("/s204", False),
                               ("/s500", False), ("/s504", False)):
                with Conn(port) as c:
                    c.send(request("HEAD" if head else "GET", path))
                    sizes += c.response(head_request=head)[1]
            wait_counts(d, "nginx", success=208, error=1, timeout=1)
            eq(d.value("agent_response_size_bytes_sum", agent_type="nginx"), sizes,
               "response bytes, sendfile included")
            no_http_drops(d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_trace_prints_each_request():
    port = free_port()
    path = f"/tmp/agentbpf-trace-http-{os.getpid()}.yml"
    with open(path, "w") as f:
        f.write(cfg(HTTPSERVER))
    with Procs() as ps:
        start_httpserver(ps, port)
        tr = subprocess.Popen([AGENTBPF, "trace", "--json", "--config", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            check("tracing 1 agents" in tr.stderr.readline(), "trace says it is ready")
            with Conn(port) as c:
                for p in ("/ok", "/status/503", "/missing"):
                    c.send(request("GET", p))
                    c.response()
            time.sleep(0.5)
            tr.terminate()
            out, err = tr.communicate(timeout=10)
            reqs = [json.loads(l) for l in out.splitlines() if '"request"' in l]
            eq([(r["method"], r["path"], r["code"], r["status"]) for r in reqs],
               [("GET", "/ok", 200, "success"), ("GET", "/status/503", 503, "error"),
                ("GET", "/missing", 404, "success")], f"traced requests ({err})")
            check(all(r["agent"] == "pyserver" and r["duration_seconds"] > 0 for r in reqs), str(reqs))
        finally:
            if tr.poll() is None:
                tr.kill()
            os.unlink(path)


def test_route_labels_collapse_ids_apply_patterns_and_cap():
    port = free_port()
    config = """request_labels: [method, route, code]
max_routes: 6
routes: ["/any/sha/*"]
""" + cfg(HTTPSERVER)
    with Daemon(config) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        paths = ["/any/users/42/posts", "/any/users/43/posts",
                 "/any/a/550e8400-e29b-41d4-a716-446655440000", "/any/sha/deadbeef1234",
                 "/ok?q=1", "/ok", "/status/500", "/chat/abc", "/chat/def"]
        paths += [f"/extra{i}" for i in range(5)] + ["/any/r1", "/any/r2", "/any/r3"]
        with Conn(port) as c:
            for p in paths:
                c.send(request("GET", p))
                c.response()
        wait_until(lambda: sum(d.scrape().series("agent_requests_total").values()) == len(paths), 10,
                   "all requests counted")
        got = {(dict(l)["route"], dict(l)["code"], dict(l)["status"]): v
               for l, v in d.scrape().series("agent_requests_total").items()}
        # Ids collapse; a glob folds further; routes first seen with a 4xx
        # (http.server's 404s here) do not take a slot; the 7th route is "other".
        eq(got, {("/any/users/{id}/posts", "200", "success"): 2,
                 ("/any/a/{id}", "200", "success"): 1,
                 ("/any/sha/*", "200", "success"): 1,
                 ("/ok", "200", "success"): 1,
                 ("/status/{id}", "500", "error"): 1,
                 ("/any/r1", "200", "success"): 1,
                 ("other", "404", "success"): 8,
                 ("other", "200", "success"): 2}, "series by route")


def test_requests_that_never_finish_their_head_give_their_route_back():
    # Probes that send a request line and never end the head (the client
    # goes away) must not use up the agent's routes.
    port = free_port()
    config = "request_labels: [route]\nmax_routes: 3\n" + cfg(HTTPSERVER)
    with Daemon(config) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        for i in range(10):
            with Conn(port) as c:
                c.send(b"GET /probe%d HTTP/1.1\r\nHost: x\r\n" % i)
                c.sock.shutdown(socket.SHUT_WR)
                while c.sock.recv(4096):    # the server closes on the EOF
                    pass
        time.sleep(0.3)     # its sockets' last ACKs: then they are destroyed
        with Conn(port) as c:
            for p in ("/any/r1", "/any/r2", "/any/r3"):
                c.send(request("GET", p))
                eq(c.response()[0], 200, p)
        wait_until(lambda: sum(d.scrape().series("agent_requests_total").values()) == 3, 10,
                   "the three requests counted")
        got = {dict(l)["route"]: v for l, v in d.scrape().series("agent_requests_total").items() if v}
        eq(got, {"/any/r1": 1, "/any/r2": 1, "/any/r3": 1}, "routes after ten unfinished probes")


def test_route_of_a_request_line_cut_inside_its_path():
    # The read ends inside the path: the route (and the traced path) come
    # from the whole path once the rest arrives, not from the part read.
    port = free_port()
    config = "request_labels: [route]\n" + cfg(HTTPSERVER)
    with Daemon(config) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        r = request("GET", "/any/users/42/posts")
        with Conn(port) as c:
            for cut in (6, 12, 18, r.index(b" HTTP")):
                c.send_cut(r, [cut])
                eq(c.response()[0], 200, f"request cut after {cut} bytes")
        wait_until(lambda: sum(d.scrape().series("agent_requests_total").values()) == 4, 10,
                   "all requests counted")
        got = {(dict(l)["route"], dict(l)["status"]): v
               for l, v in d.scrape().series("agent_requests_total").items() if v}
        eq(got, {("/any/users/{id}/posts", "success"): 4}, "one route, from the whole path")
        no_http_drops(d)


def test_cardinality_bounded_under_100000_distinct_paths():
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="agentbpf-nginx-")
    try:
        with open(f"{tmp}/nginx.conf", "w") as f:
            f.write(f"""worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log crit;
events {{ worker_connections 64; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
    server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok"; }} }}
}}
""")
        config = "request_labels: [route]\nmax_routes: 100\n" + cfg(("nginx", "*agentbpf-nginx-*"))
        with Daemon(config) as d, Procs() as ps:
            ps.start(["/usr/sbin/nginx", "-c", f"{tmp}/nginx.conf", "-g", "daemon off;"])
            wait_port(port)
            d.wait_value(2, "agent_processes", agent_type="nginx")    # master and worker
            n, batch = 100000, 16     # pipelined 16 deep, the most followed per connection
            with Conn(port) as c:
                for b in range(0, n, batch):
                    c.send(b"".join(request("GET", f"/page/p{b + i}x") for i in range(batch)))
                    for _ in range(batch):
                        c.response()
            total = lambda: sum(d.scrape().series("agent_requests_total").values())
            wait_until(lambda: total() == n, 20, f"all 100,000 requests counted (now {total()})")
            series = d.scrape().series("agent_requests_total")
            routes = {dict(l)["route"] for l in series}
            eq(len(routes), 101, "100 routes and other")
            eq(series[(("agent_type", "nginx"), ("route", "other"), ("status", "success"))], n - 100,
               "overflow requests under route=other")
            text = d.text()
            check(len(text.splitlines()) < 6000, f"scrape stays small ({len(text.splitlines())} lines)")
            rss = int(next(l for l in open(f"/proc/{d.proc.pid}/status") if l.startswith("VmRSS")).split()[1])
            check(rss < 40 * 1024, f"daemon RSS {rss} kB")
            no_http_drops(d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_connections_open_before_the_daemon_are_measured():
    port = free_port()
    with Procs() as ps:
        start_httpserver(ps, port)
        with Conn(port) as c:
            for _ in range(5):           # before agentbpf runs: not counted
                c.send(request("GET", "/ok"))
                c.response()
            with Daemon(cfg(HTTPSERVER)) as d:
                for _ in range(50):
                    c.send(request("GET", "/ok"))
                    c.response()
                wait_counts(d, "pyserver", success=50)


def test_pipelining_deeper_than_followed_is_counted_as_dropped():
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        get = request("GET", "/ok")
        with Conn(port) as c:
            # The last, not followed, has a body: its size is nobody's.
            c.send(get * 19 + request("POST", "/echo", b"p" * 1000))
            for _ in range(20):
                c.response()
        wait_counts(d, "pyserver", success=16)
        eq(d.value("agentbpf_events_dropped_total", reason="http_pipeline_full"), 4,
           "requests beyond the followed depth are counted as dropped")
        eq(d.value("agent_request_size_bytes_sum", agent_type="pyserver"), 16 * len(get),
           "the followed requests' sizes")
