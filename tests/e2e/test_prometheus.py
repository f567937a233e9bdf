"""The Prometheus side, against the real daemon and Debian's Prometheus:
the shipped config and rules pass promtool (including their unit tests), the
demo fleet of `make run` gives data to every dashboard query and recording
rule, and every alert rule fires on a real condition made by real processes
(crash loop, OOM kill, stalled consumer, ...) and nothing else fires."""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from test_llm import LlmServer
from test_tls import Client
from harness import (AGENTS, PY, ROOT, Daemon, Procs, Service, TestFailure, check, eq, free_port,
                     memory_cgroup, named_binary, remove_cgroup, run, wait_until)

CONFIG = os.path.join(ROOT, "prometheus_config.yml")
RULES_DIR = os.path.join(ROOT, "deploy", "prometheus")
ALERTS = os.path.join(RULES_DIR, "alerts.yml")
RECORDING = os.path.join(RULES_DIR, "recording_rules.yml")
PROMTESTS = os.path.join(ROOT, "tests", "prometheus")
DASHBOARDS = os.path.join(ROOT, "grafana_dashboards")
DEMO = os.path.join(ROOT, "deploy", "demo")
PROMCONFIG = os.path.join(DEMO, "demo_promconfig.py")
LIFECYCLE_AGENT = os.path.join(AGENTS, "lifecycle_agent.py")
HTTP_AGENT = os.path.join(AGENTS, "httpserver_agent.py")
LLM_AGENT = os.path.join(AGENTS, "llm_client_agent.py")

# What dashboard variables and Grafana's interval macros become in the queries.
SUBSTITUTIONS = {"$__rate_interval": "30s", "$__interval": "15s", "$__range": "10m",
                 "$agent": ".*", "$instance": ".*"}


def rule_names(path, kind):
    """The alert or record names in a rule file (no YAML module needed)."""
    return re.findall(rf'^\s*- {kind}: (\S+)\s*$', open(path).read(), flags=re.M)


def dashboard_exprs():
    """[(dashboard file, panel title, expr with variables substituted)]."""
    out = []
    for path in sorted(glob.glob(os.path.join(DASHBOARDS, "*.json"))):
        for panel in json.load(open(path))["panels"]:
            for t in panel.get("targets", []):
                expr = t["expr"]
                for var, value in SUBSTITUTIONS.items():
                    expr = expr.replace(var, value)
                check("$" not in expr.replace("$1", ""), f"unsubstituted variable in {expr}")
                out.append((os.path.basename(path), panel["title"], expr))
    return out


class PromAPI:
    """Prometheus' HTTP API."""

    def __init__(self, url):
        self.url = url

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.load(e)
        if body.get("status") != "success":
            raise TestFailure(f"Prometheus {path} {params}: {body.get('error')}")
        return body["data"]

    def query(self, expr):
        data = self.api("query", query=expr)
        eq(data["resultType"], "vector", f"result type of {expr}")
        return data["result"]


class Prometheus(PromAPI, Service):
    """Debian's Prometheus with a copy of prometheus_config.yml: 1 s scrape and
    rule intervals, this test's daemon as target, a temporary TSDB, a free port."""

    def __init__(self, target, rules_dir):
        self.dir = tempfile.mkdtemp(prefix="agentbpf-prom-")
        self.config = os.path.join(self.dir, "prometheus.yml")
        r = run([PY, PROMCONFIG, "--target", target, "--interval", "1s", "--rules-dir", rules_dir,
                 CONFIG, self.config])
        eq(r.returncode, 0, f"demo_promconfig.py: {r.stderr}")
        self.port = free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={self.config}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, 30, "Prometheus ready")
        except TestFailure:
            self.stop()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise TestFailure(f"prometheus exited: {self.logtext()}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def logtext(self):
        self.log.flush()
        return open(self.log.name).read()

    def reload(self, groups):
        """SIGHUP, then waits until the rules API lists these groups."""
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: set(groups) <= {g["name"] for g in self.api("rules")["groups"]}, 15,
                   f"rule groups {groups} loaded")



# ------------------------------------------------------------------ promtool

def test_promtool_check_config_and_rules():
    r = run(["promtool", "check", "config", CONFIG])
    eq(r.returncode, 0, f"promtool check config: {r.stdout}{r.stderr}")
    check("SUCCESS: 2 rule files found" in r.stdout, f"both rule files referenced: {r.stdout}")
    r = run(["promtool", "check", "rules", RECORDING, ALERTS])
    eq(r.returncode, 0, f"promtool check rules: {r.stdout}{r.stderr}")
    # The commented Kubernetes example, uncommented, is valid configuration.
    # Debian's Prometheus is built without Kubernetes discovery, so its
    # kubernetes_sd_configs block is swapped for a static target (same
    # indentation) and promtool checks the rest: job, relabel rules, regexes.
    text = open(CONFIG).read()
    start = text.index("  # - job_name: agentbpf")
    k8s = "\n".join(line[4:] if line.startswith("  # ") else line[3:]
                    for line in text[start:].splitlines() if line.strip())
    sd = re.search(r'^  kubernetes_sd_configs:\n    - role: pod\n(      .*\n)+', k8s + "\n", flags=re.M)
    check(sd and "label: app.kubernetes.io/name=agentbpf" in sd.group(0), f"pod discovery: {k8s}")
    k8s = k8s.replace(sd.group(0).rstrip("\n"), '  static_configs:\n    - targets: ["10.0.0.1:9091"]')
    check("replacement: ${1}:9091" in k8s and "regex: agentbpf" in k8s, f"relabeling: {k8s}")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k8s.yml")
        with open(path, "w") as f:
            f.write("scrape_configs:\n  " + k8s.replace("\n", "\n  ") + "\n")
        r = run(["promtool", "check", "config", path])
        eq(r.returncode, 0, f"the Kubernetes example: {r.stdout}{r.stderr}\n{open(path).read()}")


def test_promtool_unit_tests_cover_every_rule():
    tests = sorted(glob.glob(os.path.join(PROMTESTS, "*.yml")))
    r = run(["promtool", "test", "rules", *tests])
    eq(r.returncode, 0, f"promtool test rules: {r.stdout}{r.stderr}")
    eq(r.stdout.count("SUCCESS"), len(tests), f"every test file passes: {r.stdout}")
    text = "".join(open(t).read() for t in tests)
    alerts = rule_names(ALERTS, "alert")
    eq(len(alerts), 14, f"alert rules {alerts}")
    tested = set(re.findall(r'alertname: (\S+)', text))
    eq(sorted(set(alerts) - tested), [], "alerts without a promtool test")
    # Each alert is tested firing (exp_alerts with labels) and not firing.
    for a in alerts:
        blocks = re.findall(rf'alertname: {a}\n        exp_alerts:( \[\])?', text)
        check(("" in blocks) and (" []" in blocks), f"{a} tested both firing and silent: {blocks}")
    records = rule_names(RECORDING, "record")
    exprs = "".join(re.findall(r'- expr: (.*)', text))
    eq(sorted(r for r in records if r not in exprs), [], "recording rules without a promtool test")


# ------------------------------------------------------------------ demo fleet

def proc_stat(pid):
    """(state, ppid, start time) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1]), int(fields[19])


def descendants(pid):
    """{(pid, start time)} of every process below pid."""
    children = {}
    for path in glob.glob("/proc/[0-9]*"):
        st = proc_stat(path[6:])
        if st:
            children.setdefault(st[1], []).append((int(path[6:]), st[2]))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c[0])
    return out


def alive(proc):
    """The same process (pid and start time) still runs: pids get reused."""
    st = proc_stat(proc[0])
    return st is not None and st[0] != "Z" and st[2] == proc[1]


def finite(result):
    return [s for s in result if s["value"][1] not in ("NaN", "+Inf", "-Inf")]


def test_demo_fleet_feeds_every_dashboard_query_and_recording_rule():
    ports = {k: free_port() for k in ("LISTEN", "PLANNER_PORT", "RESEARCHER_PORT", "PROMETHEUS_PORT")}
    env = dict(os.environ, DEMO_FAST="1", SCRAPE_INTERVAL="1s", DEMO_SECONDS="300",
               LISTEN=f"127.0.0.1:{ports['LISTEN']}",
               **{k: str(v) for k, v in ports.items() if k != "LISTEN"})
    exprs = dashboard_exprs()
    check(len(exprs) >= 60, f"dashboard queries found: {len(exprs)}")
    queries = [(f"{d}: {title}", e) for d, title, e in exprs]
    queries += [(f"recording rule {r}", r) for r in rule_names(RECORDING, "record")]
    log = tempfile.TemporaryFile(mode="w+")
    # SIGINT as a terminal's shell leaves it (a test runner started in the
    # background may have it ignored, and bash cannot trap an ignored signal).
    demo = subprocess.Popen(["bash", os.path.join(DEMO, "run-demo.sh")], env=env, stdout=log,
                            stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    prom_url = f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}"
    seen_pids, hog_cgroups = set(), set()

    def observe():
        """Notes the demo's processes and the memory cgroups they run in."""
        for proc in descendants(demo.pid) - seen_pids:
            seen_pids.add(proc)
            try:
                for line in open(f"/proc/{proc[0]}/cgroup"):
                    if "agentbpf-demo-" in line:
                        hog_cgroups.add(line.strip().split(":", 2)[2])
            except OSError:
                pass
    try:
        def ready():
            if demo.poll() is not None:
                log.seek(0)
                raise TestFailure(f"run-demo.sh exited with {demo.returncode}: {log.read()}")
            log.flush()
            log.seek(0)
            return "demo: Ctrl-C stops the demo" in log.read()
        wait_until(ready, 60, "demo up")
        log.seek(0)
        out = log.read()
        check(f"Prometheus {prom_url}" in out, f"the demo prints Prometheus' URL: {out}")
        prom = PromAPI(prom_url)  # the demo's own Prometheus

        empty = {}

        def all_have_data():
            observe()
            empty.clear()
            for what, expr in queries:
                if not finite(prom.query(expr)):
                    empty[what] = expr
            return not empty
        t0 = time.time()
        try:
            wait_until(all_have_data, 120, "every query has data", interval=2)
        except TestFailure:
            raise TestFailure(f"{len(empty)} queries without data: " +
                              "; ".join(f"{w}: {e}" for w, e in empty.items()))
        print(f"    {len(queries)} queries all had data {time.time() - t0:.0f}s after the demo was up")

        # The demo really does what the dashboards show.
        def value(expr):
            r = prom.query(expr)
            return float(r[0]["value"][1]) if r else None

        def positive(expr, what):
            wait_until(lambda: observe() or (value(expr) or 0) > 0, 30, what, interval=1)
        positive('sum(worker_restarts_total{worker_name="memory-hog",reason="oom_killed"})',
                 "memory-hog OOM-killed and restarted")
        positive('sum(worker_restarts_total{worker_name="flaky-worker",reason="error"})',
                 "flaky-worker restarted after crashing")
        positive('sum(worker_restarts_total{worker_name="batch-job",reason="completed"})',
                 "batch-job restarted after completing")
        positive('agent:requests_error_ratio:rate5m{agent_type="planner"} > 0.1', "planner's 503s")
        for frm, to in (("planner", "researcher"), ("researcher", "summarizer")):
            positive(f'sum(message_bus_messages_total{{from_agent="{frm}",to_agent="{to}",message_type="task"}})',
                     f"tasks {frm} -> {to}")
        for cache in ("web_cache", "llm_cache"):
            positive(f'cache_hits_total{{cache_type="{cache}"}}', f"{cache} hits")
            positive(f'cache_misses_total{{cache_type="{cache}"}}', f"{cache} misses")
        positive('count(agent_requests_total{agent_type="planner",route="/plan/{id}"})', "route ids collapsed")
        positive('sum(agent_llm_tokens_total{agent_type="planner",provider="demo-llm",kind="output"})',
                 "the planner's LLM tokens, read from its HTTPS calls")
        positive('sum(agent_llm_output_tokens_estimated_total{agent_type="planner"})',
                 "streams without usage estimated")
        positive('max(max_over_time(message_bus_queue_depth{queue="tasks:summarize"}[1m]))',
                 "tasks wait for the summarizer")
        eq(value('sum(agentbpf_events_dropped_total)'), 0, "events dropped by the demo's daemon")
        eq(value('up{job="agentbpf"}'), 1, "the demo's daemon is scraped")
    finally:
        observe()
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            rc = demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
            rc = "timeout"
        leftover = [p for p in seen_pids if alive(p)]
        if rc != 0 and leftover:
            # The script failed to clean up: end what it started (its children
            # lead their own process groups), so nothing outlives the test.
            time.sleep(5)
            for pid, _ in [p for p in seen_pids if alive(p)]:
                try:
                    if os.getpgid(pid) == pid:
                        os.killpg(pid, signal.SIGKILL)
                    else:
                        os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for cg in hog_cgroups:
                for root in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup"):
                    if os.path.isdir(root + cg):
                        remove_cgroup(root + cg)
        log.seek(0)
        out = log.read()
        log.close()
    eq(rc, 0, f"run-demo.sh exit status after SIGINT: {out[-2000:]}")
    check(out.rstrip().endswith("demo: stopped"), f"demo stopped: {out[-500:]}")
    check(len(seen_pids) >= 10, f"demo processes seen: {len(seen_pids)}")
    check(hog_cgroups, "the memory hog ran in its own memory cgroup")
    wait_until(lambda: not [p for p in seen_pids if alive(p)], 10, "every demo process gone")
    for cg in hog_cgroups:
        check(not os.path.exists(f"/sys/fs/cgroup/memory{cg}") and not os.path.exists(f"/sys/fs/cgroup{cg}"),
              f"demo cgroup {cg} removed")


# ------------------------------------------------------------------ alerts on real conditions

BUS_AGENT = r'''
"""A Redis-using agent the test drives over stdin: push KEY N (one pipeline),
pop KEY N PAUSE (BRPOP N times, PAUSE s each), llen KEY. Answers "ok X"."""
import sys, time
import redis
role, port = sys.argv[1], int(sys.argv[2])
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
print("ready", flush=True)
for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "push":
        p = r.pipeline(transaction=False)
        for i in range(int(args[1])):
            p.lpush(args[0], f"{role}-{i}")
        out = p.execute()[-1]
    elif cmd == "pop":
        out = 0
        while out < int(args[1]) and r.brpop(args[0], timeout=5) is not None:
            out += 1
            time.sleep(float(args[2]))
    elif cmd == "llen":
        out = r.llen(args[0])
    print(f"ok {out}", flush=True)
'''


class BusAgent:
    def __init__(self, ps, script, role, port):
        self.proc = ps.start([PY, script, role, str(port)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        eq(self.proc.stdout.readline().strip(), "ready", f"bus agent {role} started")

    def send(self, *cmd):
        self.proc.stdin.write(" ".join(map(str, cmd)) + "\n")
        self.proc.stdin.flush()

    def reply(self):
        line = self.proc.stdout.readline().split()
        eq(line[:1], ["ok"], "bus agent reply")
        return int(line[1])

    def do(self, *cmd):
        self.send(*cmd)
        return self.reply()


def fast_alert_rules(text):
    """The alert rules as the e2e test loads them (see alerts.yml's header)."""
    n_alerts = len(re.findall(r'^\s*- alert: ', text, flags=re.M))
    text, n = re.subn(r'^(\s+for:) \S+$', r'\1 0s', text, flags=re.M)
    eq(n, n_alerts, "every alert has a for:")
    text, n = re.subn(r'\[(10|15)m\]', '[20s]', text)
    check(n >= 6, f"range windows shortened: {n}")
    # The time to first token's baseline: 40 s that ended 30 s ago.
    text, n = re.subn(r'\[1h\] offset 1h', '[40s] offset 30s', text)
    eq(n, 1, "LlmTimeToFirstTokenRegressed's baseline window")
    text, n = re.subn(r'agentbpf_scrape_duration_seconds > 1$', 'agentbpf_scrape_duration_seconds > 0',
                      text, flags=re.M)
    eq(n, 1, "AgentbpfScrapeSlow threshold")
    return text


KEY_LABELS = ("worker_name", "agent_type", "queue", "reason", "map", "peer", "provider", "model")


def alert_key(labels):
    return (labels["alertname"],) + tuple(f"{k}={labels[k]}" for k in KEY_LABELS if k in labels)


def http_get(port, path, timeout=30):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code



def llm_call(model, **script):
    return {"api": "openai", "model": model, "stream": True, "include_usage": True,
            "prompt": "scenario " + " ".join(f"{k}={v}" for k, v in script.items())}


def llm_calls(client, plan):
    res = client.go(json.dumps(plan))["results"]
    eq([r["error"] for r in res], [False] * len(plan), f"LLM calls made: {res}")


def test_every_alert_fires_on_a_real_condition():
    tag = f"promalert{os.getpid()}"
    work = tempfile.mkdtemp(prefix="agentbpf-alerts-")
    bus_script = os.path.join(work, "promtest_bus.py")
    with open(bus_script, "w") as f:
        f.write(BUS_AGENT)
    rules = os.path.join(work, "rules")
    os.mkdir(rules)
    shutil.copy(RECORDING, rules)
    with open(os.path.join(rules, "alerts.yml"), "w") as f:
        f.write("groups: []\n")  # the alerts come once Prometheus has scraped
    filler_comm = f"pfill{os.getpid() % 100000}"
    filler = named_binary("/bin/sleep", filler_comm)
    flaky_port, slow_port, caller_port = free_port(), free_port(), free_port()
    redis_port = free_port()
    redis_proc = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cg = memory_cgroup(f"agentbpf-promtest-{os.getpid()}")
    agents = [
        ("crashy", {"cmdline": f"*--tag {tag}-crashy*"}),
        ("hungry", {"cmdline": f"*--tag {tag}-hungry*"}),
        ("victim", {"cmdline": f"*--tag {tag}-victim*"}),
        ("flakyapi", {"cmdline": f"*httpserver_agent.py {flaky_port}*"}),
        ("slowapi", {"cmdline": f"*httpserver_agent.py {slow_port}*"}),
        ("caller", {"cmdline": f"*fastapi_agent:app --host 127.0.0.1 --port {caller_port}*"}),
        ("filler", {"comm": filler_comm}),
    ] + [(role, {"cmdline": f"*promtest_bus.py {tag}-{role} *"})
         for role in ("producer", "consumer", "firehose", "drainer")]
    llm_port = free_port()
    agents.append(("llmcaller", {"cmdline": f"*llm_client_agent.py httpx http://127.0.0.1:{llm_port}*"}))
    cfg = (f"max_processes: 64\nbus_ports: [{redis_port}]\n"
           f"llm_hosts:\n  - url: http://127.0.0.1:{llm_port}/v1\n    provider: flakyllm\nagents:\n")
    for name, match in agents:
        cfg += f"  - name: {name}\n    match:\n"
        cfg += "".join(f'      {k}: "{v}"\n' for k, v in match.items())
    try:
        wait_until(lambda: run(["redis-cli", "-p", str(redis_port), "PING"]).stdout.strip() == "PONG",
                   10, "redis-server up")
        with Daemon(cfg) as d, Procs() as ps, LlmServer(tls=False, port=llm_port):
            # The fleet, each agent classified before Prometheus looks.
            lifecycle = lambda who, *a: [PY, LIFECYCLE_AGENT, "--tag", f"{tag}-{who}", *map(str, a)]
            ps.start(lifecycle("crashy", "--sleep", 300))
            ps.start(lifecycle("hungry", "--sleep", 300))
            victim = ps.start(lifecycle("victim", "--sleep", 300))
            ps.start([PY, HTTP_AGENT, str(flaky_port)])
            ps.start([PY, HTTP_AGENT, str(slow_port)])
            ps.start([PY, "-m", "uvicorn", "fastapi_agent:app", "--host", "127.0.0.1", "--port",
                      str(caller_port), "--log-level", "warning"], cwd=AGENTS)
            fillers = [ps.start([filler, "300"])]
            llm = [Client([PY, LLM_AGENT, "httpx", f"http://127.0.0.1:{llm_port}"], dict(os.environ))
                   for _ in range(2)]
            bus = {role: BusAgent(ps, bus_script, f"{tag}-{role}", redis_port)
                   for role in ("producer", "consumer", "firehose", "drainer")}
            for name, _ in agents:
                d.wait_value(len(llm) if name == "llmcaller" else 1, "agent_processes",
                             agent_type=name)
            wait_until(lambda: http_get(flaky_port, "/ok") == 200 and http_get(slow_port, "/ok") == 200
                       and http_get(caller_port, "/ok") == 200, 10, "HTTP agents up")
            # The consumer has worked the tasks queue, then stalls (stays alive, pops nothing).
            eq(bus["producer"].do("push", "tasks", 5), 5, "tasks pushed")
            eq(bus["consumer"].do("pop", "tasks", 5, 0), 5, "tasks popped")
            eq(bus["consumer"].do("llen", "tasks"), 0, "tasks drained")
            d.wait_value(5, "message_bus_messages_total", from_agent="producer", to_agent="consumer",
                         message_type="list")
            d.wait_value(0, "message_bus_queue_depth", agent_type="consumer", queue="tasks")

            # caller's first failing call to flakyapi, so that its series exist
            # when Prometheus first scrapes: a new series' first sample is no
            # increase, and the burst below must be one.
            eq(http_get(caller_port, f"/call?port={flaky_port}&path=/status/503&n=1"), 200,
               "caller's first call")
            d.wait_value(1, "agent_outbound_requests_total", agent_type="caller", peer="flakyapi",
                         status="error")
            # llmcaller's first calls, a success and a 429, for the same reason.
            llm_calls(llm[1], [llm_call("errm"), llm_call("errm", status=429)])
            d.wait_value(1, "agent_llm_requests_total", agent_type="llmcaller", provider="flakyllm",
                         model="errm", status="error")

            with Prometheus(f"127.0.0.1:{d.port}", rules) as prom:
                wait_until(lambda: prom.query('up{job="agentbpf"} == 1'), 20, "first scrape")
                with open(os.path.join(rules, "alerts.yml"), "w") as f:
                    f.write(fast_alert_rules(open(ALERTS).read()))
                prom.reload(["agentbpf-agents", "agentbpf-llm", "agentbpf-message-bus",
                             "agentbpf-exporter"])
                # First tokens at once for 75 s (the rule's baseline is 40 s that
                # ended 30 s ago), then 1.5 s in (p95 2.4 s, past the 1 s floor).
                ttft_t0, ttft_stop = time.time(), threading.Event()

                def first_tokens():
                    while not ttft_stop.is_set():
                        slow = time.time() - ttft_t0 > 75
                        llm_calls(llm[0], [llm_call("ttftm", first=1.5 if slow else 0)])
                        time.sleep(0 if slow else 0.5)
                ttft = threading.Thread(target=first_tokens)
                ttft.start()

                seen = {}

                def poll():
                    for a in prom.api("alerts")["alerts"]:
                        if a["state"] == "firing":
                            seen.setdefault(alert_key(a["labels"]), a)
                    return seen

                # Crash loop: six crashes in a row, each restarted (5 restarts > 3).
                for _ in range(6):
                    eq(run(lifecycle("crashy", "--exit", 1)).returncode, 1, "crashy exits 1")
                # OOM: a process of hungry allocates past its cgroup's 64 MiB.
                r = run(["/bin/sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec "
                         + " ".join(lifecycle("hungry", "--alloc-mb", 512))])
                eq(r.returncode, -signal.SIGKILL, f"hungry OOM-killed ({r.stderr})")
                # Down: victim's only process dies.
                victim.kill()
                victim.wait()
                # Errors: half of flakyapi's answers are 503.
                for i in range(40):
                    http_get(flaky_port, "/status/503" if i % 2 else "/ok")
                # A failing peer: every call caller makes to flakyapi gets a 503.
                eq(http_get(caller_port, f"/call?port={flaky_port}&path=/status/503&n=20"), 200,
                   "caller made its calls")
                # A failing LLM provider: 100 answers of 429 against a success a second.
                llm_calls(llm[1], [llm_call("errm", status=429)] * 100)
                # Slow: every slowapi request takes 6 s (p95 9.75 s > 5 s).
                slow = [threading.Thread(target=http_get, args=(slow_port, "/sleep/6000")) for _ in range(3)]
                for t in slow:
                    t.start()
                # Dropped events: 20 pipelined requests on one connection (16 is the limit).
                with socket.create_connection(("127.0.0.1", flaky_port)) as s:
                    s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
                    time.sleep(0.5)
                # Stalled consumer: new tasks, and the consumer pops none of them.
                eq(bus["producer"].do("push", "tasks", 20), 20, "tasks pushed to the stalled consumer")
                # Backlog: drainer pops while firehose pushes faster. The drainer's
                # deliveries reach Prometheus first, as an increase: a new series'
                # first sample is no increase, and with for: 0s one evaluation in
                # between would show the drainer as stalled.
                bus["drainer"].send("pop", "backlog", 300, 0.02)
                delivered = 'message_bus_messages_total{to_agent="drainer"}'
                bus["firehose"].do("push", "backlog", 5)
                wait_until(lambda: prom.query(delivered), 30, "drainer's deliveries scraped")
                bus["firehose"].do("push", "backlog", 5)
                wait_until(lambda: prom.query(f"increase({delivered}[10m]) > 0"), 30,
                           "drainer's deliveries increasing in Prometheus")
                bus["firehose"].do("push", "backlog", 1100)
                time.sleep(2)
                check(bus["firehose"].do("push", "backlog", 600) > 1000, "backlog over 1000")
                # BPF map nearly full: members of filler until agent_pids is over 90% of max_processes.
                def entries():
                    return d.value("agentbpf_bpf_map_entries", map="agent_pids")
                eq(d.value("agentbpf_bpf_map_capacity", map="agent_pids"), 64, "agent_pids capacity")
                while entries() / 64 <= 0.9:
                    before = entries()
                    check(len(fillers) < 64, "filling agent_pids")
                    fillers.append(ps.start([filler, "300"]))
                    wait_until(lambda: entries() > before, 5, "filler tracked")
                for t in slow:
                    t.join()

                expected = {
                    ("AgentCrashLooping", "worker_name=crashy"),
                    ("AgentOOMKilled", "agent_type=hungry"),
                    ("AgentDown", "worker_name=victim"),
                    ("AgentHighErrorRatio", "agent_type=flakyapi"),
                    ("AgentOutboundPeerFailing", "agent_type=caller", "peer=flakyapi"),
                    ("AgentHighLatencyP95", "agent_type=slowapi"),
                    ("MessageConsumerStalled", "agent_type=consumer", "queue=tasks"),
                    ("MessageQueueBacklogGrowing", "agent_type=drainer", "queue=backlog"),
                    ("AgentbpfEventsDropped", "reason=http_pipeline_full"),
                    ("AgentbpfBpfMapNearlyFull", "map=agent_pids"),
                    ("AgentbpfScrapeSlow",),
                    ("LlmProviderErrors", "provider=flakyllm"),
                    ("LlmTimeToFirstTokenRegressed", "provider=flakyllm", "model=ttftm-0125"),
                }
                try:
                    wait_until(lambda: expected <= set(poll()),
                               max(45, ttft_t0 + 140 - time.time()), "every alert firing",
                               interval=0.5)
                except TestFailure:
                    raise TestFailure(f"not firing: {sorted(expected - set(seen))}; firing: {sorted(seen)}")
                finally:
                    ttft_stop.set()
                    ttft.join()
                eq(bus["drainer"].reply(), 300, "drainer popped")
                # Exporter down: the daemon stops, the next scrape fails.
                d.stop()
                expected.add(("AgentbpfDown",))
                wait_until(lambda: ("AgentbpfDown",) in poll(), 20, "AgentbpfDown firing", interval=0.5)
                poll()
                eq(sorted(seen), sorted(expected), "alerts that fired")
                # The ALERTS series says the same, and annotations name what fired.
                fired = {alert_key(s["metric"]) for s in
                         prom.query('max_over_time(ALERTS{alertstate="firing"}[10m])')}
                eq(sorted(fired), sorted(expected), "ALERTS series that fired")
                for key, a in seen.items():
                    summary = a["annotations"]["summary"]
                    if len(key) > 1:
                        check(key[-1].split("=", 1)[1] in summary, f"{key}: summary names it: {summary!r}")
                    check(a["annotations"]["description"] and "{{" not in summary + a["annotations"]["description"],
                          f"{key} annotations rendered: {a['annotations']}")
                    check(a["labels"]["severity"] in ("warning", "critical"), f"{key} severity")
    finally:
        for c in llm if "llm" in locals() else ():
            c.close()
        redis_proc.terminate()
        redis_proc.wait(10)
        remove_cgroup(cg)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(os.path.dirname(filler), ignore_errors=True)
