#!/usr/bin/python3
"""Start-up: how long after its exec the daemon serves /metrics, and a
complete /metrics (every family up, every running agent process counted),
with 200 agent processes running and with none (the baseline of the same
run); and what the kernel's verifier spent on each program (the daemon's
agentbpf_bpf_program_verified_instructions / _verification_seconds).

Usage: sudo bench/startup.py [--rounds N] [--processes N]
Results in bench/results/startup.md.
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from benchlib import AGENTBPF, free_port, require, stop_all, write_report

FAMILIES = ("lifecycle", "http", "bus")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return None, ""


def complete(body, processes):
    up = all(f'agentbpf_probe_family_up{{family="{f}",' in body and
             [l for l in body.splitlines()
              if l.startswith(f'agentbpf_probe_family_up{{family="{f}",') and l.endswith(" 1")]
             for f in FAMILIES)
    return up and f'agent_processes{{agent_type="sleeper"}} {processes}\n' in body


def one_start(cfg, processes):
    """Seconds from exec to: first /metrics, /healthz 200, complete /metrics."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    proc = subprocess.Popen([AGENTBPF, "--config", cfg, "--web.listen-address",
                             f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    first = healthy = full = None
    body = ""
    try:
        while time.monotonic() - t0 < 60 and proc.poll() is None:
            status, body = get(url + "/metrics")
            now = time.monotonic() - t0
            if status == 200 and first is None:
                first = now
            if healthy is None and get(url + "/healthz")[0] == 200:
                healthy = time.monotonic() - t0
            if status == 200 and complete(body, processes):
                full = now
                break
            time.sleep(0.002)
    finally:
        stop_all([proc])
    if full is None:
        raise SystemExit(f"startup: the daemon never served a complete /metrics:\n{body[-2000:]}")
    return first, healthy or full, full, body


def verifier_rows(body):
    rows = {}
    for line in body.splitlines():
        for name, col in (("agentbpf_bpf_program_verified_instructions{", 0),
                          ("agentbpf_bpf_program_verification_seconds{", 1)):
            if line.startswith(name):
                labels, value = line[len(name):].rsplit("} ", 1)
                key = tuple(kv.split("=", 1)[1].strip('"') for kv in labels.split(","))
                rows.setdefault(key, [0, 0])[col] = float(value)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--processes", type=int, default=200)
    a = ap.parse_args()
    require("startup", [])
    work = tempfile.mkdtemp(prefix="agentbpf-startup-")
    cfg = os.path.join(work, "agentbpf.yml")
    with open(cfg, "w") as f:
        f.write('agents:\n  - name: sleeper\n    match: {cmdline: "sleep 3600*"}\n'
                '  - name: api\n    match: {cmdline: "*uvicorn*"}\n')
    results = {0: [], a.processes: []}
    body = ""
    sleepers = []
    try:
        # Alternate the two cases, so that the machine's drift hits both alike.
        for _ in range(a.rounds):
            for n in (0, a.processes):
                while len(sleepers) < n:
                    sleepers.append(subprocess.Popen(["sleep", "3600"]))
                while len(sleepers) > n:
                    stop_all([sleepers.pop()])
                first, healthy, full, body = one_start(cfg, n)
                results[n].append((first, healthy, full))
    finally:
        stop_all(sleepers)

    def med(n, i):
        return statistics.median(r[i] for r in results[n])

    lines = [f"# Start-up ({a.rounds} alternating rounds; kernel {os.uname().release})", "",
             "| processes running | first /metrics | /healthz 200 | complete /metrics (median) | worst |",
             "|---|---|---|---|---|"]
    for n in results:
        lines.append(f"| {n} | {med(n, 0) * 1000:.0f} ms | {med(n, 1) * 1000:.0f} ms | "
                     f"{med(n, 2) * 1000:.0f} ms | {max(r[2] for r in results[n]) * 1000:.0f} ms |")
    lines += ["", f"Complete with {a.processes} processes against none: "
              f"{med(a.processes, 2) / med(0, 2):.2f}x. Target: complete within 1 s "
              f"with 200 processes.", "",
              "| family | program | verified instructions | verification time |", "|---|---|---|---|"]
    for (family, prog), (insns, secs) in verifier_rows(body).items():
        lines.append(f"| {family} | {prog} | {insns:,.0f} | {secs * 1000:.1f} ms |")
    write_report("startup.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
