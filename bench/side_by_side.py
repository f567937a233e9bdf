#!/usr/bin/python3
"""Overhead measured side by side: two identical servers (or clients) run at
the same time on the same CPU, one of them an agent that agentbpf measures
and the other no agent's. The machine's speed, which on this VM moves by
±30 % between rounds of a few seconds, is the same for both at every
moment, so the ratio of their rates is steady where a ratio of rounds run
one after the other is not.

  nginx:  two nginx workers on CPU 1 (the scheduler gives each half of
          it), two wrk on CPU 0, one per server.
  uvicorn: the same with two copies of the trivial FastAPI agent of
          http_bench.py.
  redis:  two redis-benchmark clients on CPU 0 (the client is the agent;
          they share that CPU), one redis-server on CPU 1.
  tls:    two HTTPS client loops (httpx, one keep-alive connection each;
          the client is the agent, its calls seen by the OpenSSL uprobes)
          sharing CPU 0, nginx with TLS on CPU 1 (it keeps up: the
          clients' CPU is what limits the rate). nginx maps the same
          libssl, so it pays the probes' traps as any process does.

Each round measures the pair three ways: without agentbpf (the control:
the two should match, and how far they stray is the method's noise), with
agentbpf tracking the first, and with agentbpf tracking the second (so an
asymmetry between the two slots cancels). The agent's loss is
1 - its rate / the other's rate in the same seconds. The other one is not
untouched: it pays what every process on the host pays for the hooks
(bench/bpf_profile.py's bystander workload), so this is the agent's own
cost on top of that, which throughput rounds cannot resolve here.

Usage: sudo bench/side_by_side.py [--rounds N] [--seconds S] [--only nginx|uvicorn|redis|tls]
                                  [--config "request_start: read"]
Results in bench/results/side_by_side.md.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import (BENCH, PY, REPO, Daemon, free_port, require, stop_all, tls_files, wait_port,
                      write_report)
from bus_bench import start_redis
from http_bench import start_nginx, start_uvicorn, wrk


def uvicorn_server(procs, tag):
    """http_bench.py's trivial FastAPI agent; its argv holds tag, which the
    agent's cmdline glob matches."""
    port = free_port()
    start_uvicorn(procs, "bench_agent", port, f"/copy-{tag}")
    wait_port(port)
    return port


def bench_rate(port, seconds, tag):
    """redis-benchmark LPUSH, one command per round trip, on CPU 0 for
    seconds, started as a shell named for tag (what the glob matches): its
    overall rate when it is stopped."""
    cmd = f"exec redis-benchmark -p {port} -t lpush -n 100000000 -c 25 -P 1 -q"
    p = subprocess.Popen(["taskset", "-c", "0", "sh", "-c", cmd, f"sidebyside-{tag}"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(seconds)
    p.terminate()
    out = p.communicate(timeout=30)[0]
    rates = re.findall(r"rps=[\d.]+ \(overall: ([\d.]+)\)", out)
    if not rates:
        sys.exit(f"side by side: redis-benchmark printed nothing useful: {out[-300:]!r}")
    return float(rates[-1])


class TlsClient:
    """bench/tls_client.py on CPU 0, told how long to run each time."""

    def __init__(self, procs, tag, url, ca):
        self.p = subprocess.Popen(["taskset", "-c", "0", PY, os.path.join(BENCH, "tls_client.py"),
                                   f"tlsbench-{tag}", url, ca], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        procs.append(self.p)
        if self.p.stdout.readline().strip() != "ready":
            sys.exit("side by side: the TLS client did not start")

    def rate(self, seconds):
        self.p.stdin.write(f"{seconds}\n")
        self.p.stdin.flush()
        return float(self.p.stdout.readline())


def tls_pair(work, procs):
    """nginx with TLS (a CA of its own) on CPU 1, fast enough that the two
    Python client loops on CPU 0 are what limits the rate, and the loops."""
    tls_files(work)
    port = free_port()
    os.makedirs(f"{work}/tlswww", exist_ok=True)
    with open(f"{work}/tlswww/ok", "w") as f:
        f.write("ok\n")
    with open(f"{work}/nginx-tls.conf", "w") as f:
        f.write(f"""worker_processes 1;
worker_cpu_affinity 10;
pid {work}/nginx-tls.pid;
error_log {work}/nginx-tls.log crit;
events {{ worker_connections 1024; }}
http {{
    access_log off; keepalive_requests 1000000;
    client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
    uwsgi_temp_path {work}; scgi_temp_path {work};
    server {{ listen 127.0.0.1:{port} ssl; root {work}/tlswww;
             ssl_certificate {work}/server.pem; ssl_certificate_key {work}/server.key; }}
}}
""")
    procs.append(subprocess.Popen(["/usr/sbin/nginx", "-c", f"{work}/nginx-tls.conf", "-g",
                                   "daemon off;"]))
    wait_port(port)
    url = f"https://localhost:{port}/ok"
    return [TlsClient(procs, t, url, f"{work}/ca.pem") for t in "ab"]


def together(fns):
    """Runs the measuring functions at the same time; their results in order."""
    out = [None] * len(fns)

    def run(i):
        out[i] = fns[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def measure(title, work, rounds, seconds, pair, glob_of, extra_config=""):
    """pair() -> (rate of slot a, rate of slot b), measured together."""
    print(f"{title}:", flush=True)
    control, loss = [], []
    for r in range(rounds):
        a, b = pair()
        control.append(100 * (a / b - 1))
        print(f"  round {r + 1} no agentbpf:     a {a:10.0f}  b {b:10.0f}  a/b {a / b:.3f}",
              flush=True)
        for slot in ("a", "b"):
            d = Daemon(glob_of(slot), work, stats=False, extra_config=extra_config)
            try:
                a, b = pair()
            finally:
                d.stop()
            agent, other = (a, b) if slot == "a" else (b, a)
            loss.append(100 * (agent / other - 1))
            print(f"  round {r + 1} agent in slot {slot}: a {a:10.0f}  b {b:10.0f}  "
                  f"agent/other {agent / other:.3f}", flush=True)
    spread = statistics.pstdev(control)
    return (f"| {title} | {statistics.median(loss):+.1f} % | {min(loss):+.1f} … {max(loss):+.1f} % "
            f"| {statistics.median(control):+.1f} % (σ {spread:.1f}) |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", choices=("nginx", "uvicorn", "redis", "tls"), help="run one of the pairs")
    ap.add_argument("--config", default="", metavar="YAML",
                    help='more agentbpf config for every round, e.g. "request_start: read"')
    a = ap.parse_args()
    extra = a.config + "\n" if a.config else ""
    require("side by side", ("wrk", "/usr/sbin/nginx", "redis-server", "redis-benchmark"))
    work = tempfile.mkdtemp(prefix="agentbpf-sidebyside-")
    procs = []
    rows = []
    try:
        if a.only in (None, "nginx"):
            pa, pb = (start_nginx(os.path.join(work, t), procs, f"nginx-{t}.conf") for t in "ab")
            rows.append(measure("nginx, small static file (two workers sharing CPU 1)", work,
                                a.rounds, a.seconds,
                                lambda: together([lambda: wrk(pa, a.seconds, 25, "/")[0],
                                                  lambda: wrk(pb, a.seconds, 25, "/")[0]]),
                                lambda slot: f"*nginx-{slot}.conf*", extra_config=extra))
        if a.only in (None, "uvicorn"):
            ua, ub = uvicorn_server(procs, "a"), uvicorn_server(procs, "b")
            rows.append(measure("uvicorn + FastAPI, trivial endpoint (two servers sharing CPU 1)",
                                work, a.rounds, a.seconds,
                                lambda: together([lambda: wrk(ua, a.seconds, 10, "/ok")[0],
                                                  lambda: wrk(ub, a.seconds, 10, "/ok")[0]]),
                                lambda slot: f"*--root-path /copy-{slot}*", extra_config=extra))
        if a.only in (None, "redis"):
            port = start_redis(procs)
            rows.append(measure("redis-benchmark LPUSH, 1 per round trip (two clients sharing CPU 0)",
                                work, a.rounds, a.seconds,
                                lambda: together([lambda: bench_rate(port, a.seconds, "a"),
                                                  lambda: bench_rate(port, a.seconds, "b")]),
                                lambda slot: f"* sidebyside-{slot}",
                                extra_config=extra + f"bus_ports: [{port}]\n"))
        if a.only in (None, "tls"):
            ta, tb = tls_pair(work, procs)

            def tls_rates():
                time.sleep(1.5)  # the daemon's first scan of the agents' OpenSSL
                return together([lambda: ta.rate(a.seconds), lambda: tb.rate(a.seconds)])
            rows.append(measure("HTTPS client loop, httpx keep-alive (two clients sharing CPU 0)",
                                work, a.rounds, a.seconds, tls_rates,
                                lambda slot: f"*tlsbench-{slot}*", extra_config=extra))
        report = (f"## Side by side ({time.strftime('%Y-%m-%d')}, {os.uname().release}, "
                  f"{os.cpu_count()} CPUs, {a.rounds} rounds of {a.seconds} s, no BPF stats"
                  f"{', config: ' + a.config if a.config else ''})\n\n"
                  "| pair | the agent against the other (median) | range | control: a against b, "
                  "no agentbpf (median) |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
        write_report("side_by_side.md", report)
    finally:
        stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
