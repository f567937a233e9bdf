"""A TLS client loop for bench/side_by_side.py: tls_client.py TAG URL CA.
Keeps one keep-alive HTTPS connection (httpx, OpenSSL under Python's ssl)
and, for each number of seconds it reads on stdin, calls URL for that long
and prints its calls per second. Long-lived, so that the daemon of each
round has found it (and probed its OpenSSL) before it is measured; TAG is
in its command line for the config's glob."""
import sys
import time

import httpx

url, ca = sys.argv[2], sys.argv[3]
client = httpx.Client(verify=ca, timeout=30)
client.get(url)
print("ready", flush=True)
for line in sys.stdin:
    seconds, n = float(line), 0
    end = time.monotonic() + seconds
    start = time.monotonic()
    while time.monotonic() < end:
        client.get(url)
        n += 1
    print(f"{n / (time.monotonic() - start):.1f}", flush=True)
