#!/usr/bin/python3
"""HTTP overhead benchmark: throughput and p99 latency under wrk, measured in
one run as alternating rounds, reported as ratios against the baseline of the
same run (the machine is noisy; medians of the rounds).

  nginx (small static file, keep-alive): without agentbpf / tracked by agentbpf
  uvicorn + FastAPI (trivial endpoint): baseline / in-process prometheus_client
  middleware (what agentbpf replaces) / tracked by agentbpf

Also: BPF run time per request (kernel bpf stats) and requests lost at the
highest rate driven (agentbpf's count against the server's responses).
Usage: sudo bench/http_bench.py [--rounds N] [--seconds S] [--only nginx|uvicorn]
       [--compare NAME=BINARY ...]; results in bench/results/http.md.
"""
import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time

from benchlib import (BENCH, PY, daemon_variants, free_port, parse_compare, require, run_rounds,
                      stop_all, table, wait_port, write_report)


def wrk(port, seconds, connections, path):
    # The client on CPU 0, the servers on CPU 1 (see main): less scheduling noise.
    out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
                          "--latency", f"http://127.0.0.1:{port}{path}"], capture_output=True,
                         text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1}[m.group(2)]
    return rps, p99, total


def start_nginx(work, procs, conf="nginx.conf"):
    """nginx on CPU 1: one worker, a small static file, keep-alive, its files
    under work and its config named conf (what a cmdline glob can match).
    Returns its port."""
    nport = free_port()
    os.makedirs(f"{work}/www")
    with open(f"{work}/www/index.html", "w") as f:
        f.write("<html>agent</html>\n" * 8)
    with open(f"{work}/{conf}", "w") as f:
        f.write(f"""worker_processes 1;
worker_cpu_affinity 10;
pid {work}/nginx.pid;
error_log {work}/error.log crit;
events {{ worker_connections 1024; }}
http {{
    access_log off; sendfile on; keepalive_requests 1000000;
    client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
    uwsgi_temp_path {work}; scgi_temp_path {work};
    server {{ listen 127.0.0.1:{nport}; root {work}/www; }}
}}
""")
    procs.append(subprocess.Popen(["/usr/sbin/nginx", "-c", f"{work}/{conf}", "-g", "daemon off;"]))
    wait_port(nport)
    return nport


def start_uvicorn(procs, module, port, root_path):
    """A FastAPI agent of bench/ (module:app) under uvicorn on CPU 1; a cmdline
    glob tells copies apart by root_path. The caller waits for its port."""
    procs.append(subprocess.Popen(["taskset", "-c", "1", PY, "-m", "uvicorn", f"{module}:app",
                                   "--host", "127.0.0.1", "--port", str(port), "--log-level",
                                   "warning", "--no-access-log", "--root-path", root_path],
                                  cwd=BENCH))


def requests_counted(before, after):
    def total(m):
        return sum(v for k, v in m.items() if k.startswith('agent_requests_total{agent_type="bench"'))
    return total(after) - total(before)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", choices=("nginx", "uvicorn"), help="run one of the two servers")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=BINARY",
                    help="also measure another agentbpf build (e.g. an older commit) in the same rounds")
    a = ap.parse_args()
    compare = parse_compare(a.compare)
    require("http bench", ("wrk", "/usr/sbin/nginx"))
    work = tempfile.mkdtemp(prefix="agentbpf-httpbench-")
    procs = []
    try:
        nport = start_nginx(work, procs)
        none = (lambda: None, lambda ctx: None)

        def daemons(glob):
            return daemon_variants(glob, work, compare)

        tables = []
        if a.only != "uvicorn":
            print("nginx (CPU 1), wrk -t1 -c50 (CPU 0), keep-alive:", flush=True)
            res = run_rounds({"baseline": none, **daemons("*agentbpf-httpbench-*")}, a.rounds,
                             lambda n: wrk(nport, a.seconds, 50, "/index.html"), requests_counted)
            tables.append(table("nginx, small static file", res, "baseline"))

        if a.only != "nginx":
            # uvicorn: the same trivial endpoint three ways.
            ports = {"baseline": free_port(), "in-process": free_port(), "agentbpf": free_port()}
            for name, mod in (("baseline", "bench_agent"), ("in-process", "inproc_agent"),
                              ("agentbpf", "bench_agent")):
                # argv carries the variant so only the tracked one matches.
                start_uvicorn(procs, mod, ports[name], f"/variant-{name}")
            for p in ports.values():
                wait_port(p)
            tracked = daemons("*--root-path /variant-agentbpf*")
            for name in tracked:
                ports[name] = ports["agentbpf"]
            print("uvicorn + FastAPI (CPU 1), wrk -t1 -c20 (CPU 0), keep-alive:", flush=True)
            res = run_rounds({"baseline": none, "in-process": none, **tracked}, a.rounds,
                             lambda n: wrk(ports[n], a.seconds, 20, "/ok"), requests_counted)
            tables.append(table("uvicorn + FastAPI, trivial endpoint", res, "baseline"))

        report = (f"## HTTP overhead ({time.strftime('%Y-%m-%d')}, {os.uname().release}, "
                  f"{os.cpu_count()} CPUs, {a.rounds} alternating rounds of {a.seconds} s)\n\n"
                  + "\n".join(tables))
        write_report("http.md", report)
    finally:
        stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
