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
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
AGENTBPF = os.environ.get("AGENTBPF", os.path.join(REPO, "agentbpf"))
RESULTS = os.environ.get("RESULTS", os.path.join(BENCH, "results"))
PY = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"http bench: nothing listens on {port}")


def scrape(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class Daemon:
    def __init__(self, glob, workdir, stats=True, binary=AGENTBPF):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = os.path.join(workdir, "agentbpf.yml")
        with open(cfg, "w") as f:
            f.write(f'agents:\n  - name: bench\n    match:\n      cmdline: "{glob}"\n')
        extra = ["--bpf-stats"] if stats else []
        self.stats = stats is not False  # None: a build's defaults; stats reach /metrics if it has them
        self.proc = subprocess.Popen([binary, "--config", cfg, "--web.listen-address",
                                      f"127.0.0.1:{self.port}", *extra], stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                scrape(self.url)
                return
            except OSError:
                time.sleep(0.1)
        sys.exit("http bench: agentbpf did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


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


def bpf_per_request(before, after, requests):
    ns = 0.0
    for prog in ("http_recv", "http_send", "http_data_ready", "http_state", "http_destroy"):
        key = f'agentbpf_bpf_program_run_seconds_total{{program="{prog}"}}'
        ns += (after.get(key, 0) - before.get(key, 0)) * 1e9
    return ns / requests if requests else 0.0


def requests_counted(m):
    return sum(v for k, v in m.items() if k.startswith('agent_requests_total{agent_type="bench"'))


def run_rounds(variants, rounds, seconds, connections, port, path):
    """variants: name -> (setup, teardown) around each measured round."""
    res = {name: {"rps": [], "p99": [], "bpf_ns": [], "lost": []} for name in variants}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            setup, teardown = variants[name]
            ctx = setup()
            before = scrape(ctx.url) if ctx else None
            rps, p99, total = wrk(port(name), seconds, connections, path)
            if ctx:
                time.sleep(0.3)
                after = scrape(ctx.url)
                counted = requests_counted(after) - requests_counted(before)
                if ctx.stats:
                    res[name]["bpf_ns"].append(bpf_per_request(before, after, counted))
                # wrk counts responses it read; requests still in flight when it
                # stops were answered or aborted, so agentbpf may count more.
                res[name]["lost"].append(max(0, total - counted))
            res[name]["rps"].append(rps)
            res[name]["p99"].append(p99)
            teardown(ctx)
            print(f"  round {r + 1} {name:>10}: {rps:10.0f} req/s  p99 {p99 * 1e3:7.2f} ms", flush=True)
    return res


def table(title, res, baseline):
    base_rps = statistics.median(res[baseline]["rps"])
    base_p99 = statistics.median(res[baseline]["p99"])
    lines = [f"### {title}", "",
             "| variant | req/s (median) | vs baseline | p99 ms (median) | vs baseline | BPF ns/request | requests lost |",
             "|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        rps, p99 = statistics.median(r["rps"]), statistics.median(r["p99"])
        bpf = f"{statistics.median(r['bpf_ns']):.0f}" if r["bpf_ns"] else "–"
        lost = f"{max(r['lost'])}" if r["lost"] else "–"
        lines.append(f"| {name} | {rps:.0f} | {100 * (rps / base_rps - 1):+.1f}% | {p99 * 1e3:.2f} | "
                     f"{100 * (p99 / base_p99 - 1):+.1f}% | {bpf} | {lost} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", choices=("nginx", "uvicorn"), help="run one of the two servers")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=BINARY",
                    help="also measure another agentbpf build (e.g. an older commit) in the same rounds")
    a = ap.parse_args()
    compare = []
    for c in a.compare:
        name, sep, binary = c.partition("=")
        if not sep or not os.access(binary, os.X_OK):
            sys.exit(f"http bench: --compare wants NAME=BINARY with an executable BINARY, not {c!r}")
        compare.append((name, binary))
    if os.geteuid() != 0:
        sys.exit("http bench: needs root to load BPF programs")
    for tool in ("wrk", "/usr/sbin/nginx"):
        if not shutil.which(tool):
            sys.exit(f"http bench: {tool} missing (make deps)")
    os.makedirs(RESULTS, exist_ok=True)
    work = tempfile.mkdtemp(prefix="agentbpf-httpbench-")
    procs = []
    try:
        # nginx: one worker, a small static file, keep-alive.
        nport = free_port()
        os.makedirs(f"{work}/www")
        with open(f"{work}/www/index.html", "w") as f:
            f.write("<html>agent</html>\n" * 8)
        with open(f"{work}/nginx.conf", "w") as f:
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
        procs.append(subprocess.Popen(["/usr/sbin/nginx", "-c", f"{work}/nginx.conf", "-g", "daemon off;"]))
        wait_port(nport)
        none = (lambda: None, lambda ctx: None)

        def daemons(glob):
            """The tracked variants: this build with and without kernel BPF stats
            (they cost every program run two clock reads), and any --compare build."""
            v = {"agentbpf": (lambda: Daemon(glob, work), lambda ctx: ctx.stop()),
                 "agentbpf, no bpf stats": (lambda: Daemon(glob, work, stats=False),
                                            lambda ctx: ctx.stop())}
            for name, binary in compare:
                # Its own defaults: an older build may not know today's flags.
                v[name] = (lambda b=binary: Daemon(glob, work, stats=None, binary=b),
                           lambda ctx: ctx.stop())
            return v

        tables = []
        if a.only != "uvicorn":
            print("nginx (CPU 1), wrk -t1 -c50 (CPU 0), keep-alive:", flush=True)
            res = run_rounds({"baseline": none, **daemons("*agentbpf-httpbench-*")},
                             a.rounds, a.seconds, 50, lambda n: nport, "/index.html")
            tables.append(table("nginx, small static file", res, "baseline"))

        if a.only != "nginx":
            # uvicorn: the same trivial endpoint three ways.
            ports = {"baseline": free_port(), "in-process": free_port(), "agentbpf": free_port()}
            for name, mod in (("baseline", "bench_agent"), ("in-process", "inproc_agent"),
                              ("agentbpf", "bench_agent")):
                # argv carries the variant so only the tracked one matches.
                procs.append(subprocess.Popen(["taskset", "-c", "1", PY, "-m", "uvicorn",
                                               f"{mod}:app", "--host", "127.0.0.1",
                                               "--port", str(ports[name]), "--log-level", "warning",
                                               "--no-access-log", "--root-path", f"/variant-{name}"],
                                              cwd=BENCH))
            for p in ports.values():
                wait_port(p)
            tracked = daemons("*--root-path /variant-agentbpf*")
            for name in tracked:
                ports[name] = ports["agentbpf"]
            print("uvicorn + FastAPI (CPU 1), wrk -t1 -c20 (CPU 0), keep-alive:", flush=True)
            res = run_rounds({"baseline": none, "in-process": none, **tracked}, a.rounds, a.seconds,
                             20, lambda n: ports[n], "/ok")
            tables.append(table("uvicorn + FastAPI, trivial endpoint", res, "baseline"))

        report = (f"## HTTP overhead ({time.strftime('%Y-%m-%d')}, {os.uname().release}, "
                  f"{os.cpu_count()} CPUs, {a.rounds} alternating rounds of {a.seconds} s)\n\n"
                  + "\n".join(tables))
        with open(os.path.join(RESULTS, "http.md"), "w") as f:
            f.write(report)
        print("\n" + report)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
