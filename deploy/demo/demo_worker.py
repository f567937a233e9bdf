"""Demo workers that end in the ways real ones do: --flaky crashes with exit 1
after a while, --batch finishes its job and exits 0, --hog allocates until
the OOM killer of its memory-limited cgroup stops it."""
import random
import sys
import time

mode = sys.argv[1]
if mode == "--flaky":
    time.sleep(random.uniform(5, 15))
    print("worker: lost connection to the model API", file=sys.stderr)
    sys.exit(1)
if mode == "--batch":
    time.sleep(random.uniform(2, 6))
    sys.exit(0)
if mode == "--hog":
    time.sleep(20)
    hoard = []
    while True:
        hoard.append(bytearray(8 << 20))
        time.sleep(0.05)
