"""A stand-in agent process for lifecycle tests. It does one thing and ends
the way it is told to: exit with a status, die of a signal, run out of
memory, fork children, or exec another program. --tag makes its command line
distinctive so a test's config can match it."""
import argparse
import os
import signal
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--tag", required=True)
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--exit", type=int, default=0)
p.add_argument("--signal", type=int, default=0)
p.add_argument("--alloc-mb", type=int, default=0, help="allocate and touch this much memory")
p.add_argument("--fork-children", type=int, default=0, help="fork children that sleep as long as we do")
p.add_argument("--run-tool", type=int, default=0, help="run /bin/false this many times first")
p.add_argument("--exec", nargs=argparse.REMAINDER, help="exec this argv after --sleep")
a = p.parse_args()

import subprocess
for _ in range(a.run_tool):
    subprocess.run(["/bin/false"])

children = []
for _ in range(a.fork_children):
    pid = os.fork()
    if pid == 0:
        time.sleep(a.sleep)
        os._exit(0)
    children.append(pid)
if a.sleep:
    time.sleep(a.sleep)
for pid in children:
    os.waitpid(pid, 0)
if a.exec:
    os.execv(a.exec[0], a.exec)
if a.alloc_mb:
    chunks = []
    for _ in range(a.alloc_mb):
        chunks.append(bytearray(1 << 20))  # bytearray zero-fills: pages are touched
if a.signal:
    os.kill(os.getpid(), a.signal)
    time.sleep(5)
sys.exit(a.exit)
