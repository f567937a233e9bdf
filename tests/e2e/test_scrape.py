"""A real scrape, checked the way Prometheus would: promtool, both formats,
gzip, the families and label sets of the metric contract, and the HTTP
surface (/healthz, landing page, 404, 405, IPv6)."""
import gzip
import os
import re
import subprocess
import urllib.request

from harness import AGENTS, PY, Daemon, Procs, check, eq, parse_metrics

CFG = """namespace: insa
agents:
  - name: scraped
    type: planner
    match:
      cmdline: "*--tag scraped*"
  - name: "odd \\"name\\" \\\\ here"
    match:
      comm: never-runs
"""

LIFECYCLE = {
    "insa_worker_health_status": ("gauge", {"worker_name", "worker_type"}),
    "insa_worker_restarts_total": ("counter", {"worker_name", "reason"}),
    "insa_agent_process_exits_total": ("counter", {"agent_type", "reason"}),
    "insa_agent_processes": ("gauge", {"agent_type"}),
    "insa_agent_process_start_time_seconds": ("gauge", {"agent_type"}),
    "insa_agent_cpu_seconds_total": ("counter", {"agent_type", "mode"}),
    "insa_agent_memory_rss_bytes": ("gauge", {"agent_type"}),
    "insa_agent_open_fds": ("gauge", {"agent_type"}),
    "insa_agent_io_bytes_total": ("counter", {"agent_type", "direction"}),
    "agentbpf_build_info": ("gauge", {"version", "libbpf", "kernel"}),
    "agentbpf_scrape_duration_seconds": ("gauge", set()),
    "agentbpf_tracked_processes": ("gauge", set()),
    "agentbpf_bpf_map_entries": ("gauge", {"map"}),
    "agentbpf_bpf_map_capacity": ("gauge", {"map"}),
    "agentbpf_events_dropped_total": ("counter", {"reason"}),
    "agentbpf_bpf_program_runs_total": ("counter", {"program"}),
    "agentbpf_bpf_program_run_seconds_total": ("counter", {"program"}),
    "agentbpf_bpf_program_verified_instructions": ("gauge", {"family", "program"}),
    "agentbpf_bpf_program_verification_seconds": ("gauge", {"family", "program"}),
    "agentbpf_probe_family_up": ("gauge", {"family", "hook"}),
    # The daemon's own, named as client libraries name them (never prefixed).
    "process_cpu_seconds_total": ("counter", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_open_fds": ("gauge", set()),
    "process_max_fds": ("gauge", set()),
    "process_start_time_seconds": ("gauge", set()),
}


def types_of(text):
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def helps_of(text):
    return set(re.findall(r"^# HELP (\S+) ", text, re.M))


def with_agent(fn):
    with Daemon(CFG) as d, Procs() as ps:
        ps.start([PY, os.path.join(AGENTS, "lifecycle_agent.py"), "--tag", "scraped", "--sleep", "30"])
        d.wait_value(1, "insa_agent_processes", agent_type="scraped")
        fn(d)


def test_promtool_check_metrics_passes_on_a_real_scrape():
    def body(d):
        text = d.text()
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        eq(r.returncode, 0, f"promtool check metrics: {r.stdout}{r.stderr}")
        eq(r.stdout + r.stderr, "", "promtool has no complaint")
    with_agent(body)


def test_text_format_families_and_label_sets():
    def body(d):
        status, hdrs, raw = d.get("/metrics")
        eq(hdrs["Content-Type"], "text/plain; version=0.0.4; charset=utf-8", "content type")
        text = raw.decode()
        types = types_of(text)
        samples = parse_metrics(text)
        for fam, (typ, labels) in LIFECYCLE.items():
            eq(types.get(fam), typ, f"TYPE of {fam}")
            check(fam in helps_of(text), f"HELP of {fam}")
            got = [set(dict(l)) for (n, l) in samples if n == fam]
            check(got, f"samples of {fam}")
            for g in got:
                eq(g, labels, f"label names of {fam}")
        for fam in types:
            check(fam in helps_of(text), f"HELP on every family ({fam})")
        # Label values with quotes and backslashes come back intact.
        odd = 'odd "name" \\ here'
        names = {dict(l).get("worker_name") for (n, l) in samples if n == "insa_worker_health_status"}
        eq(names, {"scraped", odd.replace("\\", "\\\\").replace('"', '\\"')}, "escaped worker names")
        check(not text.rstrip().endswith("# EOF"), "text format has no # EOF")
    with_agent(body)


def test_openmetrics_and_gzip():
    def body(d):
        accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                  "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        status, hdrs, raw = d.get("/metrics", {"Accept": accept})
        eq(status, 200, "OpenMetrics status")
        check(hdrs["Content-Type"].startswith("application/openmetrics-text; version=1.0.0"),
              hdrs["Content-Type"])
        om = raw.decode()
        check(om.endswith("# EOF\n"), "OpenMetrics ends with # EOF")
        types = types_of(om)
        eq(types.get("insa_worker_restarts"), "counter", "OM counter family name has no _total")
        eq(types.get("agentbpf_build"), "info", "build info is an info family")
        samples = parse_metrics(om)
        check(("insa_worker_restarts_total", (("reason", "error"), ("worker_name", "scraped"))) in samples,
              "OM counter sample keeps _total")
        # gzip, both formats, decodes to a valid scrape with the same series.
        status, hdrs, gz = d.get("/metrics", {"Accept-Encoding": "gzip", "Accept": accept})
        eq(hdrs.get("Content-Encoding"), "gzip", "gzip when asked")
        om2 = gzip.decompress(gz).decode()
        eq(set(parse_metrics(om2)), set(samples), "gzip OpenMetrics series")
        status, hdrs, gz = d.get("/metrics", {"Accept-Encoding": "gzip"})
        eq(hdrs.get("Content-Encoding"), "gzip", "gzip text")
        r = subprocess.run(["promtool", "check", "metrics"], input=gzip.decompress(gz).decode(),
                           capture_output=True, text=True)
        eq(r.returncode, 0, f"promtool on gzip text: {r.stderr}")
        status, hdrs, plain = d.get("/metrics", {"Accept-Encoding": "gzip;q=0, identity"})
        eq(hdrs.get("Content-Encoding"), None, "no gzip when refused")
    with_agent(body)


def test_http_surface():
    with Daemon(CFG) as d:
        status, hdrs, body = d.get("/healthz")
        eq((status, body), (200, b"ok\n"), "/healthz")
        status, hdrs, body = d.get("/")
        eq(status, 200, "landing page")
        check(b'href="/metrics"' in body, "landing page links /metrics")
        eq(d.get("/nope")[0], 404, "unknown path")
        status, hdrs, body = d.get("/metrics", method="POST")
        eq(status, 405, "POST /metrics")
        eq(hdrs.get("Allow"), "GET, HEAD", "Allow header")
        status, hdrs, body = d.get("/metrics", method="HEAD")
        eq((status, body), (200, b""), "HEAD /metrics")


def test_ipv6_and_dual_stack_listen():
    cfg = "agents:\n  - name: a\n    match:\n      comm: x\n"
    with Daemon(cfg, listen="[::1]:0") as d:
        eq(d.get("/healthz")[0], 200, "IPv6-only /healthz")
    # ":port" listens on every address, v6 and v4 alike.
    with Daemon(cfg, listen=":0") as d:
        for host in ("127.0.0.1", "[::1]"):
            with urllib.request.urlopen(f"http://{host}:{d.port}/healthz", timeout=5) as r:
                eq(r.read(), b"ok\n", f"dual-stack /healthz on {host}")


def test_namespace_flag_overrides_config():
    with Daemon(CFG, ["--namespace", "other"]) as d:
        s = d.scrape()
        check(s.get("other_agent_processes", agent_type="scraped") is not None, "flag namespace used")
        check(s.get("insa_agent_processes", agent_type="scraped") is None, "config namespace overridden")
        check(s.get("agentbpf_tracked_processes") is not None, "self metrics never prefixed")


def test_families_say_they_run_on_which_hook():
    # Every family is up once /healthz answers, on the hook this kernel has
    # (fexit before 6.3), and each program shows what its verification cost.
    with Daemon(CFG) as d:
        sc = d.scrape()
        up = sc.series("agentbpf_probe_family_up")
        eq(sorted(dict(k)["family"] for k in up), ["bus", "http", "lifecycle"], "families")
        tracepoints = os.path.exists("/sys/kernel/tracing/events/sock/sock_recv_length")
        for labels, value in up.items():
            lab = dict(labels)
            eq(value, 1, f"{lab['family']} up")
            want = "tp_btf" if lab["family"] == "lifecycle" or tracepoints else "fexit"
            eq(lab["hook"], want, f"{lab['family']} hook")
        insns = {dict(k)["program"]: v for k, v in
                 sc.series("agentbpf_bpf_program_verified_instructions").items()}
        recv = "http_recv" if tracepoints else "http_recv_fexit"
        check(0 < insns.get(recv, 0) <= 150000, f"{recv} verified instructions: {insns}")
        check(0 < insns.get("handle_exec", 0) <= 150000, f"handle_exec: {insns}")
