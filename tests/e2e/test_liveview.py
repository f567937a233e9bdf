"""The built-in live view at /: headless Chromium loads it from the real
daemon while a real agent serves requests, runs its script (uPlot from npm,
embedded by the build), and the page must show exactly what the daemon
counted; a screenshot of it is kept for a person to look at."""
import html
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time

from harness import AGENTS, PY, Daemon, Procs, check, eq, free_port, wait_port
from httpclient import Conn, request

CHROMIUM = "/usr/bin/chromium"
SHOT = os.environ.get("AGENTBPF_LIVEVIEW_PNG", "/tmp/agentbpf-liveview.png")


def chromium(url, *args):
    profile = tempfile.mkdtemp(prefix="agentbpf-chromium-")
    try:
        r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", "--window-size=1280,1000",
                            # Timers run on virtual time: several polls of /metrics
                            # (real requests) happen within the budget.
                            "--virtual-time-budget=9000", *args, url],
                           capture_output=True, text=True, timeout=120)
        return r.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def agents_table(dom, table="agents"):
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', dom, re.S).group(1)
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        rows.append([html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)])
    return rows


def test_live_view_shows_the_daemons_counts_and_renders():
    check(os.access(CHROMIUM, os.X_OK), "chromium is installed (make deps)")
    port = free_port()
    cfg = f'agents:\n  - name: webagent\n    match:\n      cmdline: "*httpserver_agent.py {port}*"\n'
    with Daemon(cfg) as d, Procs() as ps:
        ps.start([PY, os.path.join(AGENTS, "httpserver_agent.py"), str(port)])
        d.wait_value(1, "agent_processes", agent_type="webagent")
        wait_port(port)
        with Conn(port) as c:
            for i in range(30):
                c.send(request("GET", "/ok" if i % 3 else "/status/500"))
                c.response()
        d.wait_value(20, "agent_requests_total", agent_type="webagent", status="success")
        eq(d.value("agent_requests_total", agent_type="webagent", status="error"), 10, "errors counted")

        for path, ctype in (("/", "text/html"), ("/app.js", "text/javascript"),
                            ("/uplot.js", "text/javascript"), ("/uplot.css", "text/css")):
            status, hdrs, body = d.get(path)
            eq((status, hdrs["Content-Type"].split(";")[0]), (200, ctype), f"GET {path}")
            check(len(body) > 500, f"{path} has content")

        # More traffic while the page polls, so rates and the heatmap move.
        stop = threading.Event()

        def traffic():
            with Conn(port) as c:
                while not stop.is_set():
                    c.send(request("GET", "/ok"))
                    c.response()
                    time.sleep(0.005)
        t = threading.Thread(target=traffic)
        t.start()
        try:
            dom = chromium(d.url + "/", "--dump-dom")
            chromium(d.url + "/", f"--screenshot={SHOT}")
        finally:
            stop.set()
            t.join()

        polls = int(re.search(r'data-polls="(\d+)"', dom).group(1))
        check(polls >= 3, f"the page polled /metrics several times ({polls})")
        rows = agents_table(dom)
        eq(len(rows), 1, f"one agent row ({rows})")
        name, procs, health, total = rows[0][:4]
        eq((name, procs, health), ("webagent", "1", "up"), "agent, processes, health")
        # The page's total is the daemon's total at its last poll: at least the
        # 30 sent before it loaded, at most what the daemon counts now.
        now = sum(d.value("agent_requests_total", agent_type="webagent", status=s) or 0
                  for s in ("success", "error", "timeout"))
        check(30 <= int(total) <= now, f"requests shown {total}, daemon {now}")
        check(re.search(r'<div id="rate"><div class="uplot', dom), "the rate chart was drawn by uPlot")
        check("cannot read /metrics" not in dom, "no fetch error shown")

        with open(SHOT, "rb") as f:
            png = f.read()
        eq(png[:8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot")
        eq(struct.unpack(">II", png[16:24]), (1280, 1000), "screenshot size")
        check(len(png) > 20000, f"the screenshot is not blank ({len(png)} bytes)")



def test_live_view_says_which_families_are_off():
    """The page as served, fed a scrape of the real daemon in which the HTTP
    family did not load (a static copy of the files and that /metrics): it
    must say so above the tables, not show zeros silently. With every
    family up the notice stays hidden."""
    check(os.access(CHROMIUM, os.X_OK), "chromium is installed (make deps)")
    site = tempfile.mkdtemp(prefix="agentbpf-liveview-")
    cfg = 'agents:\n  - name: webagent\n    match:\n      cmdline: "*no-such-agent*"\n'
    try:
        with Daemon(cfg) as d:
            for path, name in (("/", "index.html"), ("/app.js", "app.js"), ("/uplot.js", "uplot.js"),
                               ("/uplot.css", "uplot.css"), ("/metrics", "metrics")):
                status, _, body = d.get(path)
                eq(status, 200, f"GET {path}")
                with open(os.path.join(site, name), "wb") as f:
                    f.write(body if isinstance(body, bytes) else body.encode())
            dom = chromium(d.url + "/", "--dump-dom")
            check(re.search(r'<p id="off" hidden(="")?>', dom), "no notice while every family runs")
        with open(os.path.join(site, "metrics")) as f:
            text = f.read()
        line = re.search(r'^agentbpf_probe_family_up\{family="http",hook="[^"]+"\} 1$', text, re.M)
        check(line, "the scrape says whether the http family is up")
        with open(os.path.join(site, "metrics"), "w") as f:
            f.write(text.replace(line.group(0), line.group(0)[:-1] + "0"))
        port = free_port()
        with Procs() as ps:
            ps.start([PY, "-m", "http.server", "--bind", "127.0.0.1", "--directory", site, str(port)])
            wait_port(port)
            dom = chromium(f"http://127.0.0.1:{port}/", "--dump-dom")
        notice = re.search(r'<p id="off"( hidden(="")?)?>(.*?)</p>', dom, re.S)
        check(notice and not notice.group(1), f"the notice is shown ({notice and notice.group(0)})")
        check(notice.group(3).startswith("Not measured on this host: http."),
              f"it names the family that is off: {notice.group(3)!r}")
    finally:
        shutil.rmtree(site, ignore_errors=True)


def test_live_view_shows_the_calls_agents_make():
    """A FastAPI agent calls an http.server agent: the page's calls table
    has the pair, with the daemon's count."""
    check(os.access(CHROMIUM, os.X_OK), "chromium is installed (make deps)")
    caller, callee = free_port(), free_port()
    cfg = ('agents:\n  - name: caller\n    match:\n      cmdline: "*uvicorn fastapi_agent:app*"\n'
           f'  - name: callee\n    match:\n      cmdline: "*httpserver_agent.py {callee}*"\n')
    with Daemon(cfg) as d, Procs() as ps:
        ps.start([PY, "-m", "uvicorn", "fastapi_agent:app", "--host", "127.0.0.1", "--port", str(caller),
                  "--log-level", "warning"], cwd=AGENTS)
        ps.start([PY, os.path.join(AGENTS, "httpserver_agent.py"), str(callee)])
        wait_port(caller)
        wait_port(callee)
        d.wait_value(1, "agent_processes", agent_type="caller")
        d.wait_value(1, "agent_processes", agent_type="callee")
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{caller}/call?port={callee}&path=/status/503&n=12",
                                    timeout=30) as r:
            eq(r.status, 200, "the caller made its calls")
        d.wait_value(12, "agent_outbound_requests_total", agent_type="caller", peer="callee",
                     status="error")
        dom = chromium(d.url + "/", "--dump-dom")
        rows = agents_table(dom, "calls")
        eq([r[:2] for r in rows], [["caller → callee", "12"]], f"the calls table ({rows})")


def test_live_view_shows_llm_tokens_and_time_to_first_token():
    """An agent streams LLM answers from a local API: the page's LLM table
    has its calls, tokens and time to first token as the daemon counted."""
    from test_llm import LlmServer, call, config, py_client, run_plan, wait_requests
    check(os.access(CHROMIUM, os.X_OK), "chromium is installed (make deps)")
    with LlmServer(tls=False) as srv, Daemon(config(srv.port, tls=False)) as d:
        plan = [call("openai", "gpt-live", stream=True, include_usage=True,
                     **{"in": 40, "out": 3, "first": 0.3})] * 4
        run_plan(d, "pyagent", py_client(srv, "httpx", plan), tls=False)
        wait_requests(d, "pyagent", "gpt-live-0125", {"success": 4})
        dom = chromium(d.url + "/", "--dump-dom")
        rows = agents_table(dom, "llm")
        eq([r[:7] for r in rows], [["pyagent", "testai", "gpt-live-0125", "4", "0", "160", "12"]],
           f"the LLM table ({rows})")
        # Every first token 300 ms in: both quantiles between 0.25 and 0.5 s.
        for cell in rows[0][8:10]:
            check(cell.endswith(" ms") and 250 <= float(cell[:-3]) <= 500, f"first token {cell}")
