#!/usr/bin/python3
"""Where agentbpf's in-kernel time goes, measured without the kernel's BPF
run-time stats (they add two clock reads to every program run, ~35-40 ns
here, which the stats then count as the program's own time).

perf samples the CPU that does the measured work -- nginx's (CPU 1) under
wrk, and redis-benchmark's (CPU 0: the client is the agent) -- while a
daemon without --bpf-stats tracks it. The samples that land in BPF programs
and the helpers and tracepoint glue they call, over all samples, is the
share of that CPU spent on agentbpf; divided by the operations done in the
same time it is the BPF time per request or command there. All CPUs are
sampled, so the total per request or command includes the other side's
part too (the sk_data_ready run when a request arrives, the peer's own
calls passing the hooks). A third workload is no agent's at all
(bench/bystander.py, a loopback ping-pong): what the hooks cost every other
process on the host. Rounds alternate the
builds (--compare), medians reported; the share is steadier on a noisy VM
than throughput, which moves with the machine.

Usage: sudo bench/bpf_profile.py [--rounds N] [--seconds S] [--compare NAME=BINARY ...] [--only WORD]
Results in bench/results/bpf_profile.md.
"""
import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import AGENTBPF, BENCH, Daemon, parse_compare, require, stop_all, write_report
from bus_bench import redis_benchmark, start_redis
from http_bench import start_nginx

# Kernel symbols that are agentbpf's cost: its programs (bpf_prog_<tag>_<name>),
# the helpers they call and the tracepoint dispatch that runs them.
BPF_SYMBOL = re.compile(r"(bpf_prog_|bpf_trace_run|__bpf_trace_|__traceiter_sock|bpf_sk_storage|"
                        r"bpf_probe_read|copy_from_user_nofault|bpf_task_pt_regs|bpf_loop|"
                        r"htab_|__htab_|bpf_ktime|bpf_get_current|bpf_ringbuf)")


def profile(cpu, seconds, out):
    """perf samples of every CPU for a while. Returns the BPF symbols' samples
    on the working CPU, all samples there, and BPF's CPU-seconds per second
    over all CPUs."""
    subprocess.run(["perf", "record", "-q", "-a", "-o", out, "--", "sleep", str(seconds)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    script = subprocess.run(["perf", "script", "-i", out, "-F", "cpu,ip,sym"], capture_output=True,
                            text=True).stdout
    syms = collections.Counter()
    total = all_total = all_bpf = 0
    cpus = set()
    for line in script.splitlines():
        f = line.split()
        if not f:
            continue
        on = int(f[0].strip("[]"))
        bpf = len(f) > 2 and BPF_SYMBOL.match(f[2]) and not f[2].startswith("bpf_lsm")
        cpus.add(on)
        all_total += 1
        all_bpf += bool(bpf)
        if on != cpu:
            continue
        total += 1
        if bpf:
            syms[re.sub(r"bpf_prog_[0-9a-f]+_", "prog ", f[2])] += 1
    return syms, total, all_bpf / max(all_total, 1) * len(cpus)


def nginx_round(port, cpu_seconds, out):
    """wrk on CPU 0 for cpu_seconds + 2 s; CPU 1 (nginx) profiled in the middle."""
    wrk = subprocess.Popen(["taskset", "-c", "0", "wrk", "-t1", "-c50", f"-d{cpu_seconds + 2}s",
                            f"http://127.0.0.1:{port}/index.html"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    prof = profile(1, cpu_seconds, out)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk.communicate()[0]).group(1))
    return prof, rate


def bystander_round(cpu_seconds, out):
    """bench/bystander.py (no agent's) for cpu_seconds + 2 s; its client's CPU 0 profiled."""
    bench = subprocess.Popen(["/usr/bin/python3", os.path.join(BENCH, "bystander.py"),
                              str(cpu_seconds + 2)], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    prof = profile(0, cpu_seconds, out)
    m = re.search(r"([\d.]+) round trips/s", bench.communicate()[0])
    if not m:
        sys.exit(f"bpf profile: bench/bystander.py failed (exit {bench.returncode})")
    return prof, float(m.group(1))


def redis_round(port, cpu_seconds, out):
    """redis-benchmark LPUSH (the matched agent, CPU 0); CPU 0 profiled while it runs."""
    res = {}
    # redis_benchmark blocks until its commands are done: perf runs beside it.
    t = threading.Thread(target=lambda: res.update(rate=redis_benchmark(port, "lpush", 1500000, 1)))
    t.start()
    time.sleep(1.5)
    prof = profile(0, cpu_seconds, out)
    t.join()
    return prof, res["rate"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=BINARY",
                    help="also profile another agentbpf build (e.g. an older commit)")
    ap.add_argument("--only", metavar="WORD", help="the workloads whose title has WORD (nginx, "
                    "redis, bystander, request_start)")
    a = ap.parse_args()
    builds = [("agentbpf", AGENTBPF)] + parse_compare(a.compare)
    require("bpf profile", ("perf", "wrk", "/usr/sbin/nginx", "redis-server", "redis-benchmark"))
    work = tempfile.mkdtemp(prefix="agentbpf-bpfprofile-")
    procs = []
    try:
        nport = start_nginx(work, procs)
        rport = start_redis(procs)
        scenarios = [
            ("nginx, small static file (CPU 1: nginx)", "request", "*agentbpf-bpfprofile-*", "",
             lambda out: nginx_round(nport, a.seconds, out)),
            ("redis-benchmark LPUSH, 1 per round trip (CPU 0: the client agent)", "command",
             "* busbench-client", f"bus_ports: [{rport}]\n",
             lambda out: redis_round(rport, a.seconds, out)),
            ("a bystander's TCP ping-pong, no agent's (CPU 0: its client)", "round trip",
             "*agentbpf-bpfprofile-*", "", lambda out: bystander_round(a.seconds, out)),
            # An option older builds do not know: this build only.
            ("the same bystander, request_start: read (no sk_data_ready program)", "round trip",
             "*agentbpf-bpfprofile-*", "request_start: read\n",
             lambda out: bystander_round(a.seconds, out)),
            ("nginx again, request_start: read (CPU 1: nginx)", "request",
             "*agentbpf-bpfprofile-*", "request_start: read\n",
             lambda out: nginx_round(nport, a.seconds, out)),
        ]
        only_this_build = {scenarios[-1][0], scenarios[-2][0]}
        if a.only:
            scenarios = [sc for sc in scenarios if a.only in sc[0]]
            if not scenarios:
                sys.exit(f"bpf profile: no workload has {a.only!r} in its title")
        report = [f"## BPF time from perf samples ({time.strftime('%Y-%m-%d')}, {os.uname().release}, "
                  f"{os.cpu_count()} CPUs, {a.rounds} rounds of {a.seconds} s, no BPF stats)\n"]
        for title, per, glob, extra, run in scenarios:
            these = builds[:1] if title in only_this_build else builds
            res = {name: {"share": [], "ns": [], "all_ns": [], "syms": collections.Counter(),
                          "total": 0} for name, _ in these}
            for r in range(a.rounds):
                for name, binary in (these if r % 2 == 0 else list(reversed(these))):
                    d = Daemon(glob, work, stats=None if binary != AGENTBPF else False,
                               binary=binary, extra_config=extra)
                    try:
                        (syms, total, all_cpus), rate = run(os.path.join(work, "perf.data"))
                    finally:
                        d.stop()
                    share = sum(syms.values()) / max(total, 1)
                    res[name]["share"].append(share)
                    res[name]["ns"].append(share * 1e9 / rate)
                    res[name]["all_ns"].append(all_cpus * 1e9 / rate)
                    res[name]["syms"] += syms
                    res[name]["total"] += total
                    print(f"  {title[:30]} round {r + 1} {name}: {100 * share:.2f} % of the CPU, "
                          f"{share * 1e9 / rate:.0f} ns/{per} there, {all_cpus * 1e9 / rate:.0f} "
                          f"on all CPUs, at {rate:.0f}/s", flush=True)
            lines = [f"### {title}", "", f"| build | BPF share of the CPU (median) | BPF ns/{per} there "
                     f"| BPF ns/{per}, all CPUs |", "|---|---|---|---|"]
            for name, r in res.items():
                lines.append(f"| {name} | {100 * statistics.median(r['share']):.2f} % | "
                             f"{statistics.median(r['ns']):.0f} | {statistics.median(r['all_ns']):.0f} |")
            r = res[builds[0][0]]
            per_ns = statistics.median(r["ns"]) / max(sum(r["syms"].values()), 1)
            lines += ["", f"Where it goes ({builds[0][0]}; ns/{per} in proportion to the samples):", "",
                      f"| symbol | ns/{per} |", "|---|---|"]
            for sym, n in r["syms"].most_common(12):
                lines.append(f"| {sym} | {n * per_ns:.0f} |")
            report.append("\n".join(lines) + "\n")
        write_report("bpf_profile.md", "\n".join(report))
    finally:
        stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
