"""HTTPS calls agents make, read from OpenSSL's plaintext by uprobes on the
library each process maps: Python's requests and httpx (socket BIO),
httpx.AsyncClient and aiohttp (memory BIOs under asyncio), and Node's fetch
(OpenSSL built into the node binary), against a local HTTPS server with its
own CA (trustme). Counts are exact against what the clients saw; the peer is
the server name the client asked for (SNI); timings land in the buckets the
server's delays put them in; processes that are no agent's are not counted."""
import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import AGENTS, PY, Daemon, Procs, check, eq, free_port, wait_port, wait_until
from test_outbound import calls, wait_calls

UNMATCHED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unmatched_server.py")
CLIENT = os.path.join(AGENTS, "tls_client_agent.py")
NODE_CLIENT = os.path.join(AGENTS, "tls_client_node.js")
CONFIG = """agents:
  - name: tlsclient
    match:
      cmdline: "*tls_client_agent.py*"
  - name: nodeclient
    match:
      cmdline: "*tls_client_node.js*"
"""


class TlsServer:
    """An HTTPS server that is no agent's, with a CA of its own."""

    def __enter__(self):
        import trustme
        self.dir = tempfile.mkdtemp(prefix="agentbpf-tls-")
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        cert.private_key_pem.write_to_path(os.path.join(self.dir, "server.key"))
        cert.private_key_and_cert_chain_pem.write_to_path(os.path.join(self.dir, "server.pem"))
        self.ca = os.path.join(self.dir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca)
        self.port = free_port()
        self.procs = Procs().__enter__()
        self.procs.start([PY, UNMATCHED, str(self.port), "--tls", self.dir])
        wait_port(self.port)
        return self

    def url(self, path):
        return f"https://localhost:{self.port}{path}"

    def __exit__(self, *exc):
        self.procs.__exit__(*exc)
        shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    """A client agent process: started, then told to go, then its result."""

    def __init__(self, argv, env):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            self.p.kill()
            raise AssertionError(f"client not ready: {line!r} {self.p.stderr.read()}")

    def go(self, line="go"):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        check(line, f"client result ({self.p.stderr.read() if self.p.poll() is not None else ''})")
        return json.loads(line)

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def python_client_plain():
    """A client agent process that waits (its calls are not the point)."""
    return Client([PY, CLIENT, "httpx"], dict(os.environ))


def python_client(srv, client, *calls_, **env):
    e = dict(os.environ, SSL_CERT_FILE=srv.ca, **env)
    args = []
    for path, n in calls_:
        args += [srv.url(path), str(n)]
    return Client([PY, CLIENT, client, *args], e)


def ready_for(d, agent, c):
    """The daemon knows the client and has its OpenSSL probed."""
    d.wait_value(1, "agent_processes", agent_type=agent)
    wait_until(lambda: (d.value("agentbpf_tls_libraries") or 0) >= 1, 15,
               "the TLS uprobes on an OpenSSL")
    # A round of the library scan covers every member the first time; a
    # new member's file may come a round (1 s) later.
    time.sleep(1.5)


def calls_made(d, agent, c, codes):
    """Tells a started client to go once the daemon is ready for it; its
    codes must be what it saw, with no call failed. Then it is closed."""
    try:
        ready_for(d, agent, c)
        eq(c.go(), {"codes": codes, "failed": 0}, f"{agent} saw")
    finally:
        c.close()


def test_https_calls_of_every_python_client_are_exact_by_sni_peer():
    with TlsServer() as srv, Daemon(CONFIG) as d:
        success = error = 0
        for client in ("requests", "httpx", "httpx_async", "aiohttp"):
            c = python_client(srv, client, ("/status/200", 12), ("/status/503", 3), ("/status/404", 2))
            calls_made(d, "tlsclient", c, {"200": 12, "503": 3, "404": 2})
            success += 14
            error += 3
            # The peer is the name the client asked for (SNI "localhost"), not
            # its Host header ("localhost:PORT").
            wait_calls(d, "tlsclient", "localhost", success=success, error=error)
        s = d.scrape()
        eq(s.get("agent_outbound_ttfb_seconds_count", agent_type="tlsclient", peer="localhost"),
           success + error, "every call had a response")
        check(not any(n == "agent_outbound_requests_total" and dict(l)["peer"] != "localhost"
                      for n, l in s), "no call under another peer")
        check(not any(n == "agent_requests_total" and dict(l)["agent_type"] == "tlsclient" and v
                      for (n, l), v in s.items()), "the ciphertext was taken for no request")


def test_https_timings_land_in_their_buckets():
    with TlsServer() as srv, Daemon(CONFIG) as d:
        c = python_client(srv, "httpx", ("/status/200", 5), ("/sleep/300", 1), ("/slowbody/300", 1))
        calls_made(d, "tlsclient", c, {"200": 7})
        wait_calls(d, "tlsclient", "localhost", success=7)
        s = d.scrape()
        labels = {"agent_type": "tlsclient", "peer": "localhost"}
        b = lambda name, le: s.get(f"{name}_bucket", le=le, **labels)
        eq(b("agent_outbound_ttfb_seconds", "0.25"), 6, "all but the late response's first byte")
        eq(b("agent_outbound_ttfb_seconds", "0.5"), 7, "the late one under 500 ms")
        eq(b("agent_outbound_request_duration_seconds", "0.25"), 5, "the fast calls")
        eq(b("agent_outbound_request_duration_seconds", "0.5"), 7, "both slow calls under 500 ms")


def test_large_bodies_sent_while_the_server_waits_count_once():
    # 24 MiB bodies to a server that waits before reading them: the sockets'
    # buffers fill and the writes block (or are retried by the program
    # after SSL_ERROR_WANT_WRITE): each byte counts once, each call once.
    with TlsServer() as srv, Daemon(CONFIG) as d:
        size = 24 << 20
        c = python_client(srv, "httpx", ("/slowread/500", 3), BODY_BYTES=str(size))
        calls_made(d, "tlsclient", c, {"200": 3})
        wait_calls(d, "tlsclient", "localhost", success=3)
        s = d.scrape()
        labels = {"agent_type": "tlsclient", "peer": "localhost"}
        sent = s.get("agent_outbound_request_size_bytes_sum", **labels)
        check(3 * size < sent < 3 * (size + 1024), f"request bytes {sent}: the bodies once each")
        eq(s.get("agentbpf_events_dropped_total", reason="http_framing_lost"), 0, "framing kept")


def test_node_fetch_calls_are_exact():
    if not shutil.which("node"):
        raise AssertionError("node missing (make deps)")
    with TlsServer() as srv, Daemon(CONFIG) as d:
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=srv.ca)
        c = Client(["node", NODE_CLIENT, srv.url("/status/200"), "9", srv.url("/status/500"), "2"],
                   env)
        calls_made(d, "nodeclient", c, {"200": 9, "500": 2})
        wait_calls(d, "nodeclient", "localhost", success=9, error=2)


def test_a_connection_open_before_the_daemon_counts_from_its_next_call():
    with TlsServer() as srv:
        c = python_client(srv, "requests", ("/status/200", 6), WARMUP="1")
        try:
            with Daemon(CONFIG) as d:
                ready_for(d, "tlsclient", c)
                eq(c.go(), {"codes": {"200": 6}, "failed": 0}, "client saw")
                # Its handshake (the SNI) came before the probes: the peer is
                # the Host header its requests name.
                wait_calls(d, "tlsclient", f"localhost:{srv.port}", success=6)
        finally:
            c.close()


def test_processes_that_are_no_agents_are_not_counted():
    with TlsServer() as srv, Daemon(CONFIG) as d:
        # An agent maps OpenSSL, so the probes are on the library; the same
        # client under a name no agent matches uses it beside it.
        agent = python_client(srv, "httpx", ("/status/200", 3))
        tmp = tempfile.mkdtemp(prefix="agentbpf-bystander-")
        bystander = None
        try:
            ready_for(d, "tlsclient", agent)
            path = os.path.join(tmp, "bystander_client.py")
            shutil.copy(CLIENT, path)
            bystander = Client([PY, path, "httpx", srv.url("/status/200"), "20"],
                               dict(os.environ, SSL_CERT_FILE=srv.ca))
            eq(bystander.go(), {"codes": {"200": 20}, "failed": 0}, "bystander saw")
            eq(agent.go(), {"codes": {"200": 3}, "failed": 0}, "agent saw")
            wait_calls(d, "tlsclient", "localhost", success=3)
            s = d.scrape()
            eq([dict(l)["agent_type"] for (n, l), v in s.items()
                if n == "agent_outbound_requests_total" and v], ["tlsclient"],
               "only the agent's calls are counted")
        finally:
            agent.close()
            if bystander:
                bystander.close()
            shutil.rmtree(tmp, ignore_errors=True)


def test_capabilities_are_dropped_and_calls_still_counted():
    # Once loaded, every thread of the daemon keeps CAP_SYS_PTRACE,
    # CAP_DAC_READ_SEARCH (agents' /proc files), CAP_BPF, CAP_PERFMON and
    # CAP_SYS_ADMIN (uprobes on the OpenSSL agents map later: without
    # CAP_SYS_ADMIN their perf_event_open fails here) and nothing else.
    keep = (1 << 19) | (1 << 2) | (1 << 39) | (1 << 38) | (1 << 21)
    with TlsServer() as srv, Daemon(CONFIG) as d:
        tasks = os.listdir(f"/proc/{d.proc.pid}/task")
        check(len(tasks) >= 3, f"the daemon's threads: {tasks}")
        for tid in tasks:
            status = dict(line.split(":", 1) for line in
                          open(f"/proc/{d.proc.pid}/task/{tid}/status").read().splitlines())
            caps = {k: int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
            eq(caps, {"CapInh": 0, "CapPrm": keep, "CapEff": keep, "CapBnd": keep, "CapAmb": 0},
               f"capabilities of thread {tid} ({status['Name'].strip()})")
        check("capabilities: dropped all but CAP_SYS_PTRACE" in d.logtext(), d.logtext())
        # An agent that starts after the drop: found, its OpenSSL probed, its calls exact.
        c = python_client(srv, "httpx", ("/status/200", 5), ("/status/503", 2))
        calls_made(d, "tlsclient", c, {"200": 5, "503": 2})
        wait_calls(d, "tlsclient", "localhost", success=5, error=2)


def test_without_outbound_calls_the_uprobe_capabilities_go_too():
    with Daemon(CONFIG + "outbound: false\n") as d:
        for tid in os.listdir(f"/proc/{d.proc.pid}/task"):
            status = dict(line.split(":", 1) for line in
                          open(f"/proc/{d.proc.pid}/task/{tid}/status").read().splitlines())
            eq(int(status["CapEff"], 16), (1 << 19) | (1 << 2), f"thread {tid}'s capabilities")
        # Still counting what it is there for: an agent's process found after the drop.
        c = python_client_plain()
        try:
            d.wait_value(1, "agent_processes", agent_type="tlsclient")
        finally:
            c.close()
