"""Demo workers that end in the ways real ones do: --flaky crashes with exit 1
after a while, --batch finishes its job and exits 0, --hog allocates until
the OOM killer of its memory-limited cgroup stops it. DEMO_FAST=1 (the e2e
test) makes all of them end within a few seconds."""
import os
import random
import sys
import time

fast = os.environ.get("DEMO_FAST") == "1"
mode = sys.argv[1]
if mode == "--flaky":
    time.sleep(random.uniform(1, 3) if fast else random.uniform(5, 15))
    print("worker: lost connection to the model API", file=sys.stderr)
    sys.exit(1)
if mode == "--batch":
    time.sleep(random.uniform(1, 2) if fast else random.uniform(2, 6))
    sys.exit(0)
if mode == "--hog":
    time.sleep(1 if fast else 20)
    hoard = []
    while True:
        hoard.append(b"\x01" * (8 << 20))  # touched, so it is resident
        time.sleep(0.05)
