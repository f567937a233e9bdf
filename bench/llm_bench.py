#!/usr/bin/python3
"""What reading LLM calls costs.

An agent (bench/llm_client.py: httpx, keep-alive, HTTPS, reading the bytes
or decoding the events; or bench/llm_client_sdk.js: the openai npm SDK)
streams chat completions from a local server (tests/e2e/llm_server.py, SSE, TOKENS
chunks an answer) as fast as it answers, in rounds that alternate:

  no agentbpf               the baseline
  agentbpf, llm: false      the calls followed as outbound calls only
  agentbpf                  the calls' bytes read for model and tokens too
  agentbpf, bpf stats       the same with --bpf-stats: the programs' time

Per variant: calls per second (the client's loss against the baseline),
the daemon's CPU per call and per MB of streamed answer (its utime +
stime over the round), and the BPF programs' time per call (--bpf-stats,
which costs every run a little: the losses are of the rounds without).
On two cores the client, the server and the daemon's reader share the
machine: the daemon's CPU is the client's loss. The server loads its own
copy of libssl, which no agent maps: like a provider on another host it
pays no uprobe trap (bench/tls_bystander.py measures what a bystander
process on the host pays).

Usage: sudo bench/llm_bench.py [--client raw|parse|sdk] [--rounds N] [--seconds S] [--tokens N]
Results in bench/results/llm-CLIENT.md.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import (BENCH, PY, REPO, Daemon, bpf_programs, free_port, require, scrape,
                      tls_files, wait_port, write_report)

SERVER = os.path.join(REPO, "tests", "e2e", "llm_server.py")
CLIENT = os.path.join(BENCH, "llm_client.py")
SDK_CLIENT = os.path.join(BENCH, "llm_client_sdk.js")
WAIT = 2.5	# the daemon's first library scan covers the new member


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ssl_library():
    """The libssl Python's ssl module loads."""
    import _ssl
    out = subprocess.run(["ldd", _ssl.__file__], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "libssl.so" in line and "=>" in line:
            return line.split("=>")[1].split()[0]
    sys.exit("llm_bench: cannot find the libssl of Python's ssl module")


def loaded(d, timeout=30):
    """Every family loaded (/healthz 200): the verifier's CPU is not the round's."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(d.url + "/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("llm_bench: the daemon did not load its families")


def round_(variant, work, port, ca, a):
    """One round: (calls/s, MB/s, daemon CPU s per call, per MB, BPF ns per call)."""
    d = None
    if variant != "no agentbpf":
        extra = f"llm_hosts:\n  - https://localhost:{port}\n"
        if variant == "agentbpf, llm: false":
            extra += "llm: false\n"
        # Run-time stats cost every program run a clock read or two: only
        # the round that measures the programs has them.
        d = Daemon("*llm_client*", work, extra_config=extra, stats=variant.endswith("stats"))
        loaded(d)
    try:
        before = scrape(d.url) if d else None
        cpu0 = cpu_seconds(d.proc.pid) if d else 0
        base = f"https://localhost:{port}"
        argv = (["node", SDK_CLIENT] if a.client == "sdk" else [PY, CLIENT, a.client])
        out = subprocess.run(argv + [base, str(a.seconds), str(a.tokens), str(WAIT)],
                             capture_output=True, text=True, timeout=a.seconds + 60,
                             env=dict(os.environ, SSL_CERT_FILE=ca, NODE_EXTRA_CA_CERTS=ca))
        if out.returncode:
            sys.exit(f"llm_bench: the client failed: {out.stderr}")
        r = json.loads(out.stdout)
        cpu = bpf = None
        after = {}
        if d:
            time.sleep(0.5)	# the reader's last events
            cpu = cpu_seconds(d.proc.pid) - cpu0
            after = scrape(d.url)
            bpf = sum(ns for _, ns in bpf_programs(before, after).values()) / max(r["calls"], 1)
            if variant != "agentbpf, llm: false":
                counted = sum(v for k, v in after.items()
                              if k.startswith("agent_llm_requests_total{"))
                if counted < r["calls"]:
                    sys.exit(f"llm_bench: {r['calls']} calls made, {counted:.0f} counted")
        # The answers' bytes as they came off TLS: what the kernel copied,
        # when it copies; else the client's count.
        mb = r["bytes"] / 1e6
        copied = after.get("agentbpf_llm_captured_bytes_total", 0) - \
            before.get("agentbpf_llm_captured_bytes_total", 0) if d else 0
        if copied:
            mb = copied / 1e6
        return (r["calls"] / r["seconds"], mb / r["seconds"],
                cpu / r["calls"] if cpu is not None else None,
                cpu / mb if cpu is not None else None, bpf)
    finally:
        if d:
            d.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--tokens", type=int, default=200, help="content chunks per answer")
    ap.add_argument("--client", choices=("raw", "parse", "sdk"), default="parse",
                    help="httpx reading bytes only, httpx decoding the events, the openai npm SDK")
    a = ap.parse_args()
    require("llm_bench", ["node"] if a.client == "sdk" else [])
    work = tempfile.mkdtemp(prefix="agentbpf-llmbench-")
    server = None
    try:
        tls_files(work)
        port = free_port()
        # The server maps its own copy of libssl: the probes go on the file
        # the agent maps, so the server pays no uprobe trap, as a provider
        # on another host would not (bench/tls_bystander.py measures that).
        lib = os.path.join(work, "lib")
        os.makedirs(lib)
        shutil.copy(ssl_library(), lib)
        server = subprocess.Popen([PY, SERVER, str(port), "--tls", work],
                                  env=dict(os.environ, LD_LIBRARY_PATH=lib))
        wait_port(port)
        variants = ["no agentbpf", "agentbpf, llm: false", "agentbpf", "agentbpf, bpf stats"]
        res = {v: [] for v in variants}
        for n in range(a.rounds):
            for v in variants if n % 2 == 0 else reversed(variants):
                res[v].append(round_(v, work, port, f"{work}/ca.pem", a))
                r = res[v][-1]
                print(f"  round {n + 1} {v:>22}: {r[0]:7.1f} calls/s {r[1]:6.2f} MB/s", flush=True)
        med = lambda v, i: statistics.median(x[i] for x in res[v])
        base = med("no agentbpf", 0)
        rows = []
        for v in variants:
            loss = 100 * (1 - med(v, 0) / base)
            cpu = (f"{med(v, 2) * 1e3:.2f} ms | {med(v, 3) * 1e3:.1f} ms"
                   if v != "no agentbpf" else "- | -")
            bpf = f"{med(v, 4) / 1e3:.1f} us" if v.endswith("stats") else "-"
            rows.append(f"| {v} | {med(v, 0):.2f} | {med(v, 1):.3f} | "
                        f"{loss:+.1f} % | {cpu} | {bpf} |")
        report = (f"## LLM calls, client {a.client} ({time.strftime('%Y-%m-%d')}, "
                  f"{os.uname().release}, {a.rounds} rounds of {a.seconds:g} s, "
                  f"{a.tokens} chunks an answer)\n\n"
                  "| variant | calls/s (median) | MB/s streamed | client's loss | daemon CPU per call | "
                  "daemon CPU per MB | BPF per call |\n|---|---|---|---|---|---|---|\n" +
                  "\n".join(rows) + "\n")
        write_report(f"llm-{a.client}.md", report)
    finally:
        if server:
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
