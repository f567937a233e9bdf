"""LLM API calls read from the agents' TLS plaintext (and plain HTTP): the
official openai and @anthropic-ai/sdk npm packages run by Node, and Python's
httpx sync and async, against a local server (llm_server.py) that speaks
OpenAI's chat completions and Anthropic's messages with scripted usage,
delays, errors and cut streams. Requests, token sums and time to first
token are exact against the script; nothing of a prompt or a key leaves
the kernel or the daemon."""
import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import AGENTS, PY, ROOT, Daemon, Procs, check, eq, free_port, wait_port, wait_until
from test_tls import Client, ready_for

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llm_server.py")
PY_CLIENT = os.path.join(AGENTS, "llm_client_agent.py")
SDK_DIR = os.path.join(AGENTS, "llm")
SDK_CLIENT = os.path.join(SDK_DIR, "sdk_client.js")
SECRET = "sk-agentbpf-SECRET-5f0c2d9e"
SENTINEL = "PROMPT-SENTINEL-7a41"


def config(port, tls=True, extra=""):
    scheme = "https://localhost" if tls else "http://127.0.0.1"
    return f"""agents:
  - name: pyagent
    match:
      cmdline: "*llm_client_agent.py*"
  - name: nodeagent
    match:
      cmdline: "*sdk_client.js*"
llm_hosts:
  - url: {scheme}:{port}/v1
    provider: testai
{extra}"""


class LlmServer:
    """llm_server.py, no agent's, over HTTPS with a CA of its own or plain HTTP."""

    def __init__(self, tls=True, port=None):
        self.tls, self.port = tls, port

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="agentbpf-llm-")
        self.port = self.port or free_port()
        args = [PY, SERVER, str(self.port)]
        if self.tls:
            import trustme
            ca = trustme.CA()
            cert = ca.issue_cert("localhost", "127.0.0.1")
            cert.private_key_pem.write_to_path(os.path.join(self.dir, "server.key"))
            cert.private_key_and_cert_chain_pem.write_to_path(
                os.path.join(self.dir, "server.pem"))
            self.ca = os.path.join(self.dir, "ca.pem")
            ca.cert_pem.write_to_path(self.ca)
            args += ["--tls", self.dir]
        self.procs = Procs().__enter__()
        self.procs.start(args)
        wait_port(self.port)
        return self

    @property
    def base(self):
        return f"https://localhost:{self.port}" if self.tls else f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.procs.__exit__(*exc)
        shutil.rmtree(self.dir, ignore_errors=True)


def prompt(**script):
    """A user message with the sentinel and the server's script."""
    words = " ".join(f"{k}={v}" for k, v in script.items())
    return f"{SENTINEL} tell me something. scenario {words}"


def call(api, model, stream=False, include_usage=False, **script):
    return {"api": api, "model": model, "stream": stream, "include_usage": include_usage,
            "prompt": prompt(**script)}


def env_for(srv, plan):
    e = dict(os.environ, LLM_API_KEY=SECRET, LLM_PLAN=json.dumps(plan))
    if srv.tls:
        e.update(SSL_CERT_FILE=srv.ca, NODE_EXTRA_CA_CERTS=srv.ca)
    return e


def py_client(srv, kind, plan):
    return Client([PY, PY_CLIENT, kind, srv.base], env_for(srv, plan))


def sdk_client(srv, plan):
    if not os.path.isdir(os.path.join(SDK_DIR, "node_modules")):
        raise AssertionError(f"{SDK_DIR}/node_modules missing (make deps runs npm ci there)")
    return Client(["node", SDK_CLIENT, srv.base], env_for(srv, plan))


def run_plan(d, agent, client, tls=True):
    """The client makes its calls once the daemon is ready for it; returns its results."""
    try:
        if tls:
            ready_for(d, agent, client)
        else:
            d.wait_value(1, "agent_processes", agent_type=agent)
        return client.go()["results"]
    finally:
        client.close()


def requests_of(d, agent, model, status):
    return d.value("agent_llm_requests_total", agent_type=agent, provider="testai", model=model,
                   status=status) or 0


def wait_requests(d, agent, model, want, timeout=15):
    """Waits until the agent's calls by status are want (a dict), then holds."""
    def now():
        return {s: requests_of(d, agent, model, s) for s in ("success", "error", "timeout")}
    full = dict({"success": 0, "error": 0, "timeout": 0}, **want)
    wait_until(lambda: now() == full, timeout, f"LLM calls of {agent}/{model} == {full} "
               f"(now {now()})")
    time.sleep(0.3)
    eq(now(), full, f"LLM calls of {agent}/{model} after settling")


def tokens(d, agent, model, kind):
    return d.value("agent_llm_tokens_total", agent_type=agent, provider="testai", model=model,
                   kind=kind) or 0


def test_openai_sdk_plain_and_streamed_usage_is_exact():
    with LlmServer() as srv, Daemon(config(srv.port)) as d:
        plan = ([call("openai", "gpt-t", **{"in": 120, "out": 4, "cache_read": 30})] * 3 +
                [call("openai", "gpt-t", stream=True, include_usage=True,
                      **{"in": 200, "out": 6, "cache_read": 50})] * 4)
        res = run_plan(d, "nodeagent", sdk_client(srv, plan))
        check(all(not r["error"] for r in res), f"the SDK saw errors: {res}")
        # The model as the answer names it, not as asked.
        wait_requests(d, "nodeagent", "gpt-t-0125", {"success": 7})
        eq(tokens(d, "nodeagent", "gpt-t-0125", "input"), 3 * 120 + 4 * 200, "input tokens")
        eq(tokens(d, "nodeagent", "gpt-t-0125", "output"), 3 * 4 + 4 * 6, "output tokens")
        eq(tokens(d, "nodeagent", "gpt-t-0125", "cache_read"), 3 * 30 + 4 * 50, "cached")
        eq(tokens(d, "nodeagent", "gpt-t-0125", "cache_write"), 0, "OpenAI reports none")
        eq(d.value("agent_llm_output_tokens_estimated_total", agent_type="nodeagent",
                   provider="testai", model="gpt-t-0125"), 0, "every call had usage")
        eq(d.value("agent_llm_requests_total", agent_type="nodeagent", provider="testai",
                   model="gpt-t", status="success"), None, "no series under the asked name")
        # Node writes its first request once per handshake step: one call.
        eq(d.value("agent_outbound_requests_total", agent_type="nodeagent", peer="localhost",
                   status="success"), 7, "the calls, each once")


def test_anthropic_sdk_stream_counts_input_cache_and_running_output():
    with LlmServer() as srv, Daemon(config(srv.port)) as d:
        plan = ([call("anthropic", "claude-t", stream=True,
                      **{"in": 300, "out": 5, "cache_read": 100, "cache_write": 40})] * 3 +
                [call("anthropic", "claude-t", **{"in": 50, "out": 2, "cache_write": 7})] * 2)
        res = run_plan(d, "nodeagent", sdk_client(srv, plan))
        check(all(not r["error"] for r in res), f"the SDK saw errors: {res}")
        wait_requests(d, "nodeagent", "claude-t-0125", {"success": 5})
        # message_start's input and cache figures; message_delta's running output.
        eq(tokens(d, "nodeagent", "claude-t-0125", "input"), 3 * 300 + 2 * 50, "input")
        eq(tokens(d, "nodeagent", "claude-t-0125", "output"), 3 * 5 + 2 * 2, "output")
        eq(tokens(d, "nodeagent", "claude-t-0125", "cache_read"), 3 * 100, "cache read")
        eq(tokens(d, "nodeagent", "claude-t-0125", "cache_write"), 3 * 40 + 2 * 7, "cache write")
        # A scrape with LLM series, checked as Prometheus would.
        r = subprocess.run(["promtool", "check", "metrics"], input=d.text(), capture_output=True,
                           text=True)
        eq((r.returncode, r.stdout + r.stderr), (0, ""), "promtool check metrics")


def test_errors_and_a_cut_stream_count_as_errors_with_the_tokens_seen():
    with LlmServer() as srv, Daemon(config(srv.port)) as d:
        plan = [call("openai", "gpt-e", status=429), call("openai", "gpt-e", status=500),
                call("anthropic", "claude-e", status=429),
                # Anthropic's stream cut after 2 of 6 deltas: message_start's
                # input counted, the output as far as the stream said (1).
                call("anthropic", "claude-e", stream=True, **{"in": 77, "out": 6, "cut": 2}),
                call("openai", "gpt-e", stream=True, include_usage=True,
                     **{"in": 9, "out": 3})]
        res = run_plan(d, "nodeagent", sdk_client(srv, plan))
        eq([r["error"] for r in res], [True, True, True, True, False], f"what the SDK saw: {res}")
        # The errors name no model: the request's is used.
        wait_requests(d, "nodeagent", "gpt-e", {"error": 2})
        wait_requests(d, "nodeagent", "claude-e", {"error": 1})
        wait_requests(d, "nodeagent", "claude-e-0125", {"error": 1})
        wait_requests(d, "nodeagent", "gpt-e-0125", {"success": 1})
        eq(tokens(d, "nodeagent", "claude-e-0125", "input"), 77, "the cut stream's input")
        eq(tokens(d, "nodeagent", "claude-e-0125", "output"), 1, "its output as last reported")


def test_httpx_sync_and_async_streams_without_usage_are_estimated():
    with LlmServer() as srv, Daemon(config(srv.port)) as d:
        for kind in ("httpx", "httpx_async"):
            plan = [call("openai", "gpt-p", stream=True, **{"in": 5, "out": 7})] * 2 + \
                   [call("openai", "gpt-p", **{"in": 11, "out": 3, "gzip": 1})] + \
                   [call("anthropic", "claude-p", stream=True, **{"in": 8, "out": 4})]
            res = run_plan(d, "pyagent", py_client(srv, kind, plan))
            eq([r["status"] for r in res], [200] * 4, f"{kind} saw")
        wait_requests(d, "pyagent", "gpt-p-0125", {"success": 6})
        wait_requests(d, "pyagent", "claude-p-0125", {"success": 2})
        # Streams without stream_options.include_usage: their content chunks, estimated.
        eq(d.value("agent_llm_output_tokens_estimated_total", agent_type="pyagent",
                   provider="testai", model="gpt-p-0125"), 2 * 2 * 7, "estimated output")
        # The gzip-compressed plain answers' usage.
        eq(tokens(d, "pyagent", "gpt-p-0125", "input"), 2 * 11, "input of the plain answers")
        eq(tokens(d, "pyagent", "gpt-p-0125", "output"), 2 * 3, "output of the plain answers")
        eq(tokens(d, "pyagent", "claude-p-0125", "output"), 2 * 4, "Anthropic's output")


def test_time_to_first_token_lands_in_its_bucket():
    with LlmServer() as srv, Daemon(config(srv.port)) as d:
        plan = [call("openai", "gpt-f", stream=True, include_usage=True,
                     **{"out": 3, "first": 0.3, "gap": 0.1})] * 3
        run_plan(d, "pyagent", py_client(srv, "httpx", plan))
        wait_requests(d, "pyagent", "gpt-f-0125", {"success": 3})
        s = d.scrape()
        lab = {"agent_type": "pyagent", "provider": "testai", "model": "gpt-f-0125"}
        ttft = lambda le: s.get("agent_llm_time_to_first_token_seconds_bucket", le=le, **lab)
        dur = lambda le: s.get("agent_llm_request_duration_seconds_bucket", le=le, **lab)
        # The role chunk comes at once with no content: the first token 300 ms in.
        eq(ttft("0.25"), 0, "no first token before the scripted 300 ms")
        eq(ttft("0.5"), 3, "every first token by 500 ms")
        eq(dur("0.25"), 0, "the calls took 500 ms")
        eq(dur("1"), 3, "under a second")


def test_plain_http_base_url_is_read_too():
    with LlmServer(tls=False) as srv, Daemon(config(srv.port, tls=False)) as d:
        plan = [call("openai", "local-t", stream=True, include_usage=True,
                     **{"in": 13, "out": 2})] * 5
        run_plan(d, "pyagent", py_client(srv, "httpx", plan), tls=False)
        wait_requests(d, "pyagent", "local-t-0125", {"success": 5})
        eq(tokens(d, "pyagent", "local-t-0125", "input"), 5 * 13, "input")
        eq(tokens(d, "pyagent", "local-t-0125", "output"), 5 * 2, "output")


def test_no_prompt_or_key_leaves_the_daemon():
    # Every output of the daemon: /metrics (text and OpenMetrics, which the
    # live view reads too), the log, and `agentbpf trace` in text and JSON.
    with LlmServer() as srv:
        plan = [call("openai", "gpt-s", stream=True, include_usage=True),
                call("anthropic", "claude-s", stream=True), call("openai", "gpt-s", status=429)]
        outputs = []
        for args in (["--json"], []):
            with tempfile.TemporaryDirectory() as tmp:
                cfg = os.path.join(tmp, "agentbpf.yml")
                with open(cfg, "w") as f:
                    f.write(config(srv.port))
                out = open(os.path.join(tmp, "trace.out"), "w+")
                tr = subprocess.Popen([os.path.join(ROOT, "agentbpf"), "trace", "--config", cfg,
                                       *args], stdout=out, stderr=subprocess.STDOUT)
                try:
                    wait_until(lambda: "tracing" in open(out.name).read(), 30, "trace started")
                    c = sdk_client(srv, plan)
                    try:
                        # The first library scan covers the new member within a second.
                        time.sleep(2.5)
                        c.go()
                    finally:
                        c.close()
                    wait_until(lambda: open(out.name).read().count("llm") >= 3, 15,
                               "three llm lines in the trace")
                finally:
                    tr.terminate()
                    tr.wait(10)
                text = open(out.name).read()
                outputs.append(text)
                check("gpt-s-0125" in text and "output_tokens" in text,
                      f"the trace shows the model and tokens: {text[-2000:]}")
        with Daemon(config(srv.port)) as d:
            run_plan(d, "nodeagent", sdk_client(srv, plan))
            wait_requests(d, "nodeagent", "gpt-s", {"error": 1})
            outputs += [d.text(), d.text({"Accept": "application/openmetrics-text"}),
                        d.logtext()]
        for text in outputs:
            for secret in (SECRET, SENTINEL, "tok0", "tell me something"):
                check(secret not in text, f"{secret!r} leaked into an output")


def test_only_calls_to_llm_hosts_are_copied_and_the_caps_are_counted():
    with LlmServer(tls=False) as llm, LlmServer(tls=False) as other, \
            Daemon(config(llm.port, tls=False, extra="llm_capture_bytes: 4096\n")) as d:
        # Calls to a host llm_hosts does not name: counted as calls, not copied.
        plan = [call("openai", "gpt-o", stream=True, include_usage=True, out=50)] * 5
        run_plan(d, "pyagent", py_client(other, "httpx", plan), tls=False)
        d.wait_value(5, "agent_outbound_requests_total", agent_type="pyagent",
                     peer=f"127.0.0.1:{other.port}", status="success")
        eq(d.value("agentbpf_llm_captured_bytes_total"), 0, "bytes copied of other calls")
        check(not any(n.startswith("agent_llm_requests") for n, _ in d.scrape()), "no LLM series")
        # An answer of about 21 KB to a host that is named: its first 4 KiB are read.
        run_plan(d, "pyagent", py_client(llm, "httpx", [call("openai", "gpt-cap", out=3000)]),
                 tls=False)
        wait_requests(d, "pyagent", "gpt-cap-0125", {"success": 1})
        check(d.value("agentbpf_events_dropped_total", reason="llm_call_bytes_capped") >= 1,
              "the bytes past the cap are counted as dropped")
        # The usage comes at the answer's end, past the cap: none is made up.
        eq(tokens(d, "pyagent", "gpt-cap-0125", "output"), 0, "output tokens past the cap")
        sent = d.value("agentbpf_llm_captured_bytes_total")
        check(4096 <= sent <= 4096 + 4096, f"bytes copied: {sent} (the answer's 4 KiB and the request body)")


def test_the_rate_cap_counts_what_it_holds_back():
    with LlmServer(tls=False) as srv, \
            Daemon(config(srv.port, tls=False, extra="llm_capture_rate: 65536\n")) as d:
        # About 210 KB of answer within a second: past 64 KiB it is not copied.
        run_plan(d, "pyagent", py_client(srv, "httpx", [call("openai", "gpt-rate", out=30000)]),
                 tls=False)
        wait_requests(d, "pyagent", "gpt-rate-0125", {"success": 1})
        check(d.value("agentbpf_events_dropped_total", reason="llm_rate_capped") >= 1,
              "the bytes past the rate are counted as dropped")
        check(d.value("agentbpf_llm_captured_bytes_total") <= 2 * 65536, "copied within the rate")
