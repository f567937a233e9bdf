#!/usr/bin/python3
"""Message-bus overhead benchmark: redis-benchmark (LPUSH and RPOP, one
command per round trip and pipelined 16 deep) run as a matched agent, in
alternating rounds without and with agentbpf; ratios against the baseline
of the same run. Also BPF time per command (kernel BPF stats) and whether
every command was seen (agentbpf's produced + consumed against the count).

Usage: sudo bench/bus_bench.py [--rounds N] [--requests N] [--compare NAME=BINARY ...]
Results in bench/results/bus.md.
"""
import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import (daemon_variants, free_port, parse_compare, require, run_rounds, stop_all,
                      table, wait_port, write_report)


def redis_benchmark(port, test, requests, pipeline):
    """One redis-benchmark run on CPU 0 (redis-server has CPU 1): its rate.
    It starts as a shell named busbench-client, which the daemon classifies
    before it execs redis-benchmark: every command is the agent's."""
    cmd = (f"sleep 0.3; exec redis-benchmark -p {port} -t {test} -n {requests} -c 50 "
           f"-P {pipeline} --csv")
    out = subprocess.run(["taskset", "-c", "0", "sh", "-c", cmd, "busbench-client"],
                         capture_output=True, text=True, timeout=300).stdout
    rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] != "test"]
    if not rows:
        sys.exit(f"bus bench: redis-benchmark printed nothing useful: {out!r}")
    return float(rows[0][1])


def start_redis(procs):
    """redis-server on CPU 1, no persistence. Returns its port."""
    port = free_port()
    procs.append(subprocess.Popen(["taskset", "-c", "1", "redis-server", "--port", str(port),
                                   "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_port(port)
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=BINARY",
                    help="also measure another agentbpf build in the same rounds")
    a = ap.parse_args()
    compare = parse_compare(a.compare)
    require("bus bench", ("redis-server", "redis-benchmark"))
    work = tempfile.mkdtemp(prefix="agentbpf-busbench-")
    procs = []
    tables = []
    try:
        port = start_redis(procs)
        none = (lambda: None, lambda ctx: None)
        variants = {"baseline": none,
                    **daemon_variants("* busbench-client", work, compare,
                                      extra_config=f"bus_ports: [{port}]\n")}
        for pipeline in (1, 16):
            for test in ("lpush", "rpop"):
                print(f"redis-benchmark -t {test} -P {pipeline} -c 50 -n {a.requests} "
                      "(CPU 0), redis-server (CPU 1):", flush=True)

                def measure(name, test=test, pipeline=pipeline):
                    # LPUSH rounds start from an empty list: the depth agentbpf
                    # reports afterwards must be the round's count.
                    subprocess.run(["redis-cli", "-p", str(port), "DEL", "mylist"],
                                   stdout=subprocess.DEVNULL, timeout=30)
                    if test == "rpop":
                        # Something to pop: the list filled before each round.
                        subprocess.run(["redis-benchmark", "-p", str(port), "-t", "lpush", "-n",
                                        str(a.requests + 1000), "-c", "50", "-P", "64", "-q"],
                                       stdout=subprocess.DEVNULL,
                                       timeout=300)
                    return redis_benchmark(port, test, a.requests, pipeline), None, a.requests

                def count(before, after, test=test):
                    if test == "lpush":
                        # LPUSH is not a delivery; its replies set the depth, which
                        # the e2e tests check exactly. Nothing to compare here.
                        return None
                    return sum(v - before.get(k, 0) for k, v in after.items()
                               if k.startswith("message_bus_messages_total{")
                               and 'to_agent="bench"' in k)

                res = run_rounds(variants, a.rounds, measure, count, unit="commands/s")
                tables.append(table(f"{test.upper()}, pipeline {pipeline}", res, "baseline",
                                    unit="commands/s", per="command"))
        report = (f"## Message-bus overhead ({time.strftime('%Y-%m-%d')}, {os.uname().release}, "
                  f"{os.cpu_count()} CPUs, {a.rounds} alternating rounds, {a.requests} commands "
                  "each)\n\n" + "\n".join(tables))
        write_report("bus.md", report)
    finally:
        stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
