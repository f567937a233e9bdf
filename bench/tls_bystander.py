#!/usr/bin/python3
"""What the TLS uprobes cost.

1. A process that is no agent's and uses the same OpenSSL: a loop of
   SSL_write and SSL_read calls (a client and a server SSLObject talking
   through memory BIOs, no network, no agent) timed without agentbpf and
   with agentbpf probing that library (an agent maps it), rounds
   alternating. The difference per call is the uprobe trap plus the
   programs' membership check, which every TLS call of every process on the
   host pays once an agent maps the library.
2. An agent's HTTPS call: bench/tls_client.py (httpx, keep-alive) as an
   agent, the daemon with --bpf-stats: the TLS programs' run time over the
   calls made. That is the programs alone; the traps are in 1.

Usage: sudo bench/tls_bystander.py [--rounds N] [--seconds S]
Results in bench/results/tls_bystander.md.
"""
import argparse
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import PY, Daemon, tls_files, write_report

LOOP = r'''
import ssl, sys, time
ca, cert, key, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(cert, key)
cctx = ssl.create_default_context(cafile=ca)
cin, cout, sin, sout = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
c = cctx.wrap_bio(cin, cout, server_hostname="localhost")
s = sctx.wrap_bio(sin, sout, server_side=True)
def pump():
    sin.write(cout.read()); cin.write(sout.read())
for _ in range(10):
    for o in (c, s):
        try: o.do_handshake()
        except ssl.SSLWantReadError: pass
    pump()
msg, n = b"x" * 100, 0
end = time.monotonic() + seconds
start = time.monotonic()
while time.monotonic() < end:
    for _ in range(100):
        c.write(msg); pump(); s.read(4096)
        s.write(msg); pump(); c.read(4096)
    n += 100
print(4 * n / (time.monotonic() - start))
'''


def rate(work, seconds):
    """TLS calls per second of the loop (2 writes and 2 reads per exchange), on CPU 0."""
    out = subprocess.run(["taskset", "-c", "0", PY, "-c", LOOP, f"{work}/ca.pem",
                          f"{work}/server.pem", f"{work}/server.key", str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    return float(out)


def bpf_per_call(work, seconds):
    """BPF ns per HTTPS call of an agent, from the kernel's run-time stats."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from benchlib import BENCH, REPO, free_port, scrape, wait_port
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "1", PY, os.path.join(REPO, "tests", "agents",
                                                                      "httpserver_agent.py"),
                               str(port), "--tls", work])
    client = None
    try:
        wait_port(port)
        d = Daemon("*tlsbench-agent*", work, stats=True)
        try:
            client = subprocess.Popen(["taskset", "-c", "0", PY, os.path.join(BENCH, "tls_client.py"),
                                       "tlsbench-agent", f"https://localhost:{port}/ok", f"{work}/ca.pem"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            client.stdout.readline()
            time.sleep(2)  # the library scan finds the new agent
            def tls_ns():
                m = scrape(d.url)
                return sum(v for k, v in m.items()
                           if k.startswith("agentbpf_bpf_program_run_seconds_total") and 'program="tls_' in k)
            before = tls_ns()
            client.stdin.write(f"{seconds}\n")
            client.stdin.flush()
            calls = float(client.stdout.readline()) * seconds
            return (tls_ns() - before) * 1e9 / calls
        finally:
            d.stop()
    finally:
        for p in (client, server):
            if p:
                p.kill()
                p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=4)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="agentbpf-tlsbystander-")
    holder = None
    try:
        tls_files(work)
        # The agent that makes the daemon probe this OpenSSL: a process
        # that has imported ssl and sleeps.
        holder = subprocess.Popen([PY, "-c", "import ssl, time; time.sleep(3600)", "tlsholder"])
        off, on = [], []
        for r in range(a.rounds):
            off.append(rate(work, a.seconds))
            d = Daemon("*tlsholder*", work, stats=False)
            try:
                time.sleep(2)  # the first round of the library scan
                on.append(rate(work, a.seconds))
            finally:
                d.stop()
            print(f"  round {r + 1}: {off[-1]:.0f} calls/s without, {on[-1]:.0f} with the probes",
                  flush=True)
        ns = [1e9 / b - 1e9 / o for o, b in zip(off, on)]
        agent_ns = [bpf_per_call(work, a.seconds) for _ in range(3)]
        report = (f"## TLS bystander ({time.strftime('%Y-%m-%d')}, {os.uname().release}, "
                  f"{a.rounds} rounds of {a.seconds:g} s)\n\n"
                  "| | SSL_read/SSL_write calls per second (median) |\n|---|---|\n"
                  f"| no agentbpf | {statistics.median(off):.0f} |\n"
                  f"| agentbpf probing the library | {statistics.median(on):.0f} |\n\n"
                  f"Cost per TLS call of a process that is no agent's: {statistics.median(ns):.0f} ns "
                  f"(rounds: {', '.join(f'{x:.0f}' for x in ns)}).\n\n"
                  f"BPF time of an agent's HTTPS call (httpx GET, keep-alive; the TLS programs' "
                  f"run time from --bpf-stats over the calls): {statistics.median(agent_ns):.0f} ns "
                  f"(runs: {', '.join(f'{x:.0f}' for x in agent_ns)}).\n")
        write_report("tls_bystander.md", report)
    finally:
        if holder:
            holder.kill()
            holder.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
