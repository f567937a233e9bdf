#!/usr/bin/env bash
# AFL++ against the host build of the wire parsers (bpf/l7/), with ASan and
# UBSan: fuzz_http (heads, kept layouts against a scan, chunked bodies in
# every piece size, routes), fuzz_bus (RESP and NATS, every call whole and
# cut in two, which must report the same) and fuzz_llm (the daemon's reader
# of LLM answers: framing, gzip, SSE, JSON, read whole or in two),
# fuzz_config (the config loader: a config parses whole or fails with
# file:line) and fuzz_kube (container ids, pod uids, kubelet log names). Installs Debian's afl++ when it is
# missing, builds into bench/build/fuzz/, seeds from bench/fuzz/seeds/TARGET.
#
#   sudo bench/fuzz/run.sh [TARGET ...] [--seconds N]   (default: all, 1800 s each)
#
# Findings land in bench/build/fuzz/TARGET/out/default/{crashes,hangs}; the
# script exits 1 when there is any. Runs one target at a time on one core.
set -u
FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$(dirname "$FUZZ_DIR")")
OUT=$REPO/bench/build/fuzz
seconds=1800
targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=$2; shift 2 ;;
	http|bus|llm|config|kube) targets+=("$1"); shift ;;
	*) echo "usage: $0 [http] [bus] [llm] [config] [kube] [--seconds N]" >&2; exit 2 ;;
	esac
done
[ ${#targets[@]} -eq 0 ] && targets=(http bus llm config kube)

if ! command -v afl-fuzz >/dev/null || ! command -v afl-cc >/dev/null; then
	echo "fuzz: installing Debian's afl++" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q afl++ >/dev/null || {
		echo "fuzz: cannot install afl++ (apt-get install afl++)" >&2; exit 1; }
fi

found=0
for t in "${targets[@]}"; do
	mkdir -p "$OUT/$t"
	AFL_USE_ASAN=1 AFL_USE_UBSAN=1 afl-cc -O1 -g -std=gnu11 -D_GNU_SOURCE -fsigned-char \
		-I"$REPO/include" -I"$REPO/bpf" -I"$REPO/user" -I"$REPO/tests/unit" \
		"$FUZZ_DIR/fuzz_$t.c" -o "$OUT/$t/fuzz_$t" -lz -lyaml 2>"$OUT/$t/build.log" || {
		echo "fuzz: building fuzz_$t failed: $OUT/$t/build.log" >&2; exit 1; }
	rm -rf "$OUT/$t/out"
	echo "fuzz: $t for $seconds s" >&2
	AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
		timeout $((seconds + 60)) afl-fuzz -V "$seconds" -m none -t 1000 \
		-i "$FUZZ_DIR/seeds/$t" -o "$OUT/$t/out" -- "$OUT/$t/fuzz_$t" >"$OUT/$t/afl.log" 2>&1
	status=$?
	stats=$OUT/$t/out/default/fuzzer_stats
	crashes=$(ls "$OUT/$t/out/default/crashes" 2>/dev/null | grep -vc README)
	hangs=$(ls "$OUT/$t/out/default/hangs" 2>/dev/null | grep -vc README)
	execs=$(awk -F: '/^execs_done/ {gsub(/ /, "", $2); print $2}' "$stats" 2>/dev/null)
	paths=$(awk -F: '/^corpus_count/ {gsub(/ /, "", $2); print $2}' "$stats" 2>/dev/null)
	echo "fuzz_$t: ${execs:-0} executions, ${paths:-0} inputs in the corpus, $crashes crashes, $hangs hangs"
	[ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ] && found=1
	# A run that did not fuzz (a seed crashed in the dry run) is no pass.
	if [ "$status" -ne 0 ] || [ "${execs:-0}" -eq 0 ]; then
		echo "fuzz_$t: afl-fuzz exited $status after ${execs:-0} executions: see $OUT/$t/afl.log" >&2
		found=1
	fi
done
exit $found
