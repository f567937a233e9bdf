#!/usr/bin/python3
"""Times scrapes of agentbpf's /metrics over one keep-alive connection.

Usage: scrape_client.py URL COUNT MODE RAWFILE
  MODE plain       no Accept headers: Prometheus text format, uncompressed
  MODE prometheus  the headers Prometheus sends: OpenMetrics preferred, gzip

Client round trip: request sent to last body byte read, per scrape.
Server render: agentbpf_scrape_duration_seconds, which each scrape reports
for the previous one, so COUNT scrapes give COUNT - 1 render samples.
Prints one line of key=value pairs; writes one line per scrape to RAWFILE.
Standard library only: run it with /usr/bin/python3.
"""
import gzip
import http.client
import math
import statistics
import sys
import time
import urllib.parse

PROM_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
WARMUP = 5


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def main():
    url, count, mode, rawfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    u = urllib.parse.urlsplit(url)
    headers = PROM_HEADERS if mode == "prometheus" else {}
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    rtt, render, series, wire, text = [], [], [], [], []
    deadline = time.monotonic() + 50
    for i in range(WARMUP + count):
        t0 = time.perf_counter_ns()
        conn.request("GET", u.path or "/metrics", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        t1 = time.perf_counter_ns()
        if resp.status != 200:
            sys.exit("scrape %d: HTTP %d" % (i, resp.status))
        if resp.getheader("Content-Encoding") == "gzip":
            plain = gzip.decompress(body)
        else:
            plain = body
        dur = None
        n = 0
        for line in plain.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            n += 1
            if line.startswith("agentbpf_scrape_duration_seconds "):
                dur = float(line.split()[1])
        if i >= WARMUP:
            rtt.append((t1 - t0) / 1e6)
            series.append(n)
            wire.append(len(body))
            text.append(len(plain))
            # This body reports the render time of the scrape before it.
            if i > WARMUP and dur is not None:
                render.append(dur * 1e3)
        if time.monotonic() > deadline:
            sys.exit("scrapes took over 50 s; stopping")
    conn.close()
    with open(rawfile, "a") as f:
        for i, r in enumerate(rtt):
            f.write("%s %d rtt_ms=%.4f render_prev_ms=%s series=%d bytes=%d\n" % (
                mode, i, r, "%.4f" % render[i - 1] if 0 < i <= len(render) else "-",
                series[i], wire[i]))
    print("series=%d bytes_text=%d bytes_wire=%d n=%d rtt_median_ms=%.3f rtt_p99_ms=%.3f "
          "render_median_ms=%.3f render_p99_ms=%.3f render_max_ms=%.3f" % (
              statistics.median(series), statistics.median(text), statistics.median(wire),
              len(rtt), statistics.median(rtt), pct(rtt, 99),
              statistics.median(render), pct(render, 99), max(render)))


if __name__ == "__main__":
    main()
