"""The HTTP calls agents make, measured in the kernel from the same socket
hooks as the requests they serve: a FastAPI agent (httpx) calls another
agent, a server that is no agent's, and one without a Host header. Counts
are exact against what the calling client saw; peers are the agent reached,
else the Host named, else the address; timings land in the buckets the
servers' scripted delays put them in."""
import json
import os
import subprocess
import time
import urllib.request

from harness import AGENTBPF, AGENTS, PY, Daemon, Procs, check, eq, free_port, wait_port, wait_until
from test_http import HTTPSERVER, UVICORN, cfg, start_httpserver, start_uvicorn

STATUSES = ("success", "error", "timeout")
UNMATCHED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unmatched_server.py")


def make_calls(caller_port, **params):
    """Has the FastAPI agent make calls (its /call endpoint); what its client saw."""
    q = "&".join(f"{k}={urllib.request.quote(str(v))}" for k, v in params.items())
    with urllib.request.urlopen(f"http://127.0.0.1:{caller_port}/call?{q}", timeout=60) as r:
        return json.load(r)


def calls(d, agent, peer):
    s = d.scrape()
    return {st: s.get("agent_outbound_requests_total", agent_type=agent, peer=peer, status=st)
            for st in STATUSES}


def wait_calls(d, agent, peer, **expected):
    want = {st: expected.get(st, 0) for st in STATUSES}
    wait_until(lambda: calls(d, agent, peer) == want, 15,
               f"{agent} -> {peer} calls {want} (now {calls(d, agent, peer)})")
    time.sleep(0.3)
    eq(calls(d, agent, peer), want, f"{agent} -> {peer} calls after settling")


def bucket(s, name, le, **labels):
    return s.get(f"{name}_bucket", le=le, **labels)


def test_agent_to_agent_calls_are_exact_edges_with_their_timings():
    caller, callee = free_port(), free_port()
    with Daemon(cfg(UVICORN, HTTPSERVER)) as d, Procs() as ps:
        start_uvicorn(ps, caller, d)
        start_httpserver(ps, callee, d=d)
        seen = {}
        for path, n in (("/status/200", 30), ("/status/503", 7), ("/status/404", 4)):
            r = make_calls(caller, port=callee, path=path, n=n)
            eq(r["failed"], 0, f"calls to {path} failed")
            for code, k in r["codes"].items():
                seen[code] = seen.get(code, 0) + k
        eq(seen, {"200": 30, "503": 7, "404": 4}, "what the caller's client saw")
        # 503 is an error; 404 is the caller's problem, a success of the call.
        wait_calls(d, "fastapi", "pyserver", success=34, error=7)
        s = d.scrape()
        eq(s.get("agent_calls_total", from_agent="fastapi", to_agent="pyserver"), 41, "the edge")
        # The callee counted the same requests, as a server.
        eq(s.get("agent_requests_total", agent_type="pyserver", status="success"), 34, "callee side")
        eq(s.get("agent_requests_total", agent_type="pyserver", status="error"), 7, "callee side")
        eq(s.get("agent_outbound_requests_in_flight", agent_type="fastapi"), 0, "in flight")
        # The test's own calls to the caller are no agent's: no series of theirs.
        check(not any(n == "agent_outbound_requests_total" and dict(l)["agent_type"] == "pyserver"
                      for n, l in s), "the callee made no calls")

        # Timings: a response 300 ms late (time to first byte and duration), and
        # one whose head comes at once and whose body comes 300 ms later.
        labels = {"agent_type": "fastapi", "peer": "pyserver"}
        base_ttfb = bucket(s, "agent_outbound_ttfb_seconds", "0.25", **labels)
        base_dur = bucket(s, "agent_outbound_request_duration_seconds", "0.25", **labels)
        eq(base_ttfb, 41, "fast calls' first bytes within 250 ms")
        make_calls(caller, port=callee, path="/sleep/300")
        make_calls(caller, port=callee, path="/slowbody/300")
        wait_calls(d, "fastapi", "pyserver", success=36, error=7)
        s = d.scrape()
        eq(bucket(s, "agent_outbound_ttfb_seconds", "0.25", **labels), base_ttfb + 1,
           "the slow body's head came at once")
        eq(bucket(s, "agent_outbound_ttfb_seconds", "0.5", **labels), base_ttfb + 2,
           "the late response's first byte came after 300 ms")
        eq(bucket(s, "agent_outbound_request_duration_seconds", "0.25", **labels), base_dur,
           "both slow calls took over 250 ms")
        eq(bucket(s, "agent_outbound_request_duration_seconds", "0.5", **labels), base_dur + 2,
           "and under 500 ms")
        eq(s.get("agent_outbound_ttfb_seconds_count", **labels), 43, "every call had a response")
        check(s.get("agent_outbound_request_size_bytes_sum", **labels) > 43 * 50, "request bytes")
        check(s.get("agent_outbound_response_size_bytes_sum", **labels) > 43 * 50,
              "response bytes")


def test_peers_are_the_host_named_else_the_address_and_bounded():
    caller, plain = free_port(), free_port()
    config = cfg(UVICORN) + "max_peers: 2\n"
    with Daemon(config) as d, Procs() as ps:
        start_uvicorn(ps, caller, d)
        # A server that is no agent's: its peer is what the caller named.
        ps.start([PY, UNMATCHED, str(plain)])
        wait_port(plain)
        r = make_calls(caller, port=plain, path="/ok", n=6, host="Tools.Example.test:8080")
        eq(r["codes"], {"200": 6}, "calls by host name")
        wait_calls(d, "fastapi", "tools.example.test:8080", success=6)
        # No Host header (HTTP/1.0): the address it connected to.
        with urllib.request.urlopen(f"http://127.0.0.1:{caller}/rawcall?port={plain}&path=/ok",
                                    timeout=30) as resp:
            eq(json.load(resp)["status_line"].split()[1], "200", "raw call")
        wait_calls(d, "fastapi", f"127.0.0.1:{plain}", success=1)
        # A third peer is past max_peers: "other", and counted as dropped.
        make_calls(caller, port=plain, path="/ok", n=3, host="third.example.test", fresh=True)
        wait_calls(d, "fastapi", "other", success=3)
        s = d.scrape()
        eq(s.get("agentbpf_events_dropped_total", reason="http_peers_full"), 3,
           "one per connection to a peer past the cap")
        eq(s.get("agentbpf_bpf_map_entries", map="http_peers"), 2, "peers kept")
        check(not any(n == "agent_calls_total" for n, l in s), "no agent was called")


def test_calls_given_up_and_cut_off():
    caller, callee = free_port(), free_port()
    with Daemon(cfg(UVICORN, HTTPSERVER)) as d, Procs() as ps:
        start_uvicorn(ps, caller, d)
        start_httpserver(ps, callee, d=d)
        # The caller gives up after 200 ms on a call that takes 1 s: a timeout.
        r = make_calls(caller, port=callee, path="/sleep/1000", n=2, timeout=0.2)
        eq(r["failed"], 2, "the client timed out")
        # The server closes without a response: an error.
        r = make_calls(caller, port=callee, path="/abort", n=3)
        eq(r["failed"], 3, "the server hung up")
        wait_calls(d, "fastapi", "pyserver", error=3, timeout=2)
        wait_until(lambda: d.value("agent_outbound_requests_in_flight", agent_type="fastapi") == 0,
                   10, "no call left in flight")


def test_outbound_off_leaves_the_calls_alone():
    caller, callee = free_port(), free_port()
    with Daemon(cfg(UVICORN, HTTPSERVER) + "outbound: false\n") as d, Procs() as ps:
        start_uvicorn(ps, caller, d)
        start_httpserver(ps, callee, d=d)
        eq(make_calls(caller, port=callee, path="/ok", n=5)["codes"], {"200": 5}, "calls")
        d.wait_value(5, "agent_requests_total", agent_type="pyserver", status="success")
        s = d.scrape()
        check(not any(n.startswith("agent_outbound") for n, l in s), "no outbound families")


def test_trace_prints_each_call_with_its_peer():
    caller, callee = free_port(), free_port()
    path = f"/tmp/agentbpf-trace-calls-{os.getpid()}.yml"
    with open(path, "w") as f:
        f.write(cfg(UVICORN, HTTPSERVER))
    with Procs() as ps:
        start_uvicorn(ps, caller)
        start_httpserver(ps, callee)
        tr = subprocess.Popen([AGENTBPF, "trace", "--json", "--config", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            check("tracing 2 agents" in tr.stderr.readline(), "trace says it is ready")
            time.sleep(1)
            make_calls(caller, port=callee, path="/status/503", n=2)
            time.sleep(0.5)
            tr.terminate()
            out, err = tr.communicate(timeout=10)
            evs = [json.loads(l) for l in out.splitlines() if '"call"' in l]
            eq([(e["agent"], e["peer"], e["method"], e["path"], e["code"], e["status"])
                for e in evs], [("fastapi", "pyserver", "GET", "/status/503", 503, "error")] * 2,
               f"traced calls ({err})")
            check(all(0 < e["ttfb_seconds"] <= e["duration_seconds"] for e in evs), str(evs))
        finally:
            if tr.poll() is None:
                tr.kill()
            os.unlink(path)
