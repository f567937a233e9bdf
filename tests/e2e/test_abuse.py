"""The daemon's HTTP surface under abuse, for real on loopback: 1,000 idle
connections, 200 slowloris clients and 100 clients flooding /metrics
(tests/e2e/abuse.py, from other loopback addresses) while a real
Prometheus scrapes every second: every scrape succeeds, and the daemon's
memory stays bounded."""
import json
import os
import subprocess
import time

from harness import PY, Daemon, check, eq, wait_until
from test_prometheus import Prometheus

ABUSE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "abuse.py")
SECONDS = 120


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def test_every_scrape_answered_under_abuse():
    os.makedirs("/tmp/agentbpf-abuse-rules", exist_ok=True)  # no rules: scrapes only
    with Daemon('agents:\n  - name: a\n    match: {comm: nosuchprocess}\n') as d:
        with Prometheus(f"127.0.0.1:{d.port}", "/tmp/agentbpf-abuse-rules") as prom:
            wait_until(lambda: prom.query('up{job="agentbpf"} == 1'), 20, "first scrape")
            rss_before = status_kb(d.proc.pid, "VmRSS")
            abuse = subprocess.Popen([PY, ABUSE, "127.0.0.1", str(d.port), str(SECONDS)],
                                     stdout=subprocess.PIPE, text=True)
            time.sleep(5)  # the abuse in full swing before the window counts
            start = time.time()
            peak = 0
            while abuse.poll() is None:
                peak = max(peak, status_kb(d.proc.pid, "VmRSS"))
                time.sleep(1)
            took = time.time() - start
            stats = json.loads(abuse.stdout.read())
            window = int(took) - 5
            scrapes = prom.query(f'count_over_time(up{{job="agentbpf"}}[{window}s])')
            ok = prom.query(f'sum_over_time(up{{job="agentbpf"}}[{window}s])')
            n, good = float(scrapes[0]["value"][1]), float(ok[0]["value"][1])
            check(n >= window * 0.9, f"Prometheus scraped about every second: {n} in {window} s")
            eq(good, n, f"scrapes that succeeded during the abuse ({stats})")
            # The abuse was real: connections held, bytes trickled, /metrics flooded.
            check(stats["idle_open"] >= 1000, f"idle connections opened: {stats}")
            check(stats["slow_bytes"] >= 200 * (SECONDS // 5) * 0.8, f"slowloris bytes: {stats}")
            check(stats["flood_ok"] >= 1000, f"flood answered: {stats}")
            check(peak < rss_before + 64 * 1024, f"memory bounded: {rss_before} kB before, peak {peak} kB")
            # After it, the daemon answers as before.
            eq(d.get("/healthz")[0], 200, "healthz after the abuse")
