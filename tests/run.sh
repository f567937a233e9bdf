#!/bin/bash
# The whole suite: cmocka unit tests, then end-to-end tests on the real
# kernel with real processes. Needs root: it loads the real BPF programs.
# Arguments are passed to the e2e runner to select tests by name (and then
# the other kernels are not booted).
set -u
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "tests: need root to load BPF programs: run sudo make test" >&2
	exit 1
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
make -s all test-sdks || exit 1
rc=0
make -s unit || rc=1
/usr/bin/python3 tests/e2e/run.py "$@" || rc=1
# The kernel-dependent cases again on Debian's 6.1 and 6.12, under qemu
# (tests/kernels/README.md); not when a selection of tests was asked for.
if [ $# -eq 0 ]; then
	tests/kernels/suite.sh || rc=1
fi
exit $rc
