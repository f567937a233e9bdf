# shellcheck shell=bash
# Shared by the agentbpf benchmarks; sourced, not run. Everything started
# through these helpers is stopped by the EXIT trap, whatever way the script
# ends (normal exit, error, Ctrl-C, SIGTERM from run.sh's time limit).

set -u

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# AGENTBPF: the binary under test (default: this tree's, built by make);
# AGENTBPF_COMMIT: what it was built from, for the record.
AGENTBPF=${AGENTBPF:-$REPO/agentbpf}
RESULTS=${RESULTS:-$BENCH_DIR/results}
BUILD=$BENCH_DIR/build
# The python3 first on PATH may be another build; the client needs only the
# standard library of Debian's.
PY=/usr/bin/python3

BENCH_NAME=bench
WORK=""
PORT=""
DAEMON_PID=""
DAEMON_LOG=""
DAEMON_RC=0
CHILD_PIDS=()

# Loopback only: never through a proxy from the environment.
http_get() { curl -sf --max-time 5 --noproxy '*' "$@"; }

log() { echo "[$BENCH_NAME] $*" >&2; }
die() { echo "[$BENCH_NAME] error: $*" >&2; exit 1; }

cleanup() {
	local rc=$?

	trap - EXIT INT TERM
	daemon_stop
	kill_children
	[ -n "$WORK" ] && rm -rf "$WORK"
	exit "$rc"
}

# bench_init NAME: checks, results dir, scratch dir, traps, a free port.
bench_init() {
	BENCH_NAME=$1
	[ "$(id -u)" = 0 ] || die "needs root to load BPF programs: sudo $0"
	command -v curl >/dev/null || die "curl not found (make deps)"
	[ -x "$PY" ] || die "$PY not found"
	if [ ! -x "$AGENTBPF" ]; then
		log "building agentbpf (make)"
		make -C "$REPO" >/dev/null || die "make failed"
	fi
	mkdir -p "$RESULTS" "$BUILD" || die "cannot create $RESULTS"
	WORK=$(mktemp -d /tmp/agentbpf-bench.XXXXXX) || die "mktemp failed"
	DAEMON_LOG=$WORK/daemon.log
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	PORT=$(free_port) || die "no free port in 19090-19189"
	URL=http://127.0.0.1:$PORT
}

free_port() {
	local p

	for p in $(seq 19090 19189); do
		if [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# build_c OUT SRC [CFLAGS...]: compiles a helper into bench/build when stale.
build_c() {
	local out=$BUILD/$1 src=$BENCH_DIR/src/$2

	shift 2
	if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
		gcc -O2 -Wall "$@" -o "$out" "$src" || die "cannot compile $src"
	fi
}

# daemon_start CONFIG: runs agentbpf on loopback; returns once /healthz answers.
# With --bpf-stats: the BPF time per event is part of what is reported.
daemon_start() {
	local i

	"$AGENTBPF" --config "$1" --web.listen-address "127.0.0.1:$PORT" --bpf-stats >"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	for i in $(seq 200); do
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			wait "$DAEMON_PID"
			local rc=$?
			DAEMON_PID=""
			cat "$DAEMON_LOG" >&2
			die "agentbpf exited at startup (status $rc)"
		fi
		http_get "$URL/healthz" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "agentbpf did not answer on $URL within 10 s"
}

# daemon_stop: SIGTERM, then SIGKILL after 5 s. Sets DAEMON_RC to the exit
# status and warns when it is not a clean 0 (a daemon problem worth
# reporting). Not in a subshell: wait only works on our own children.
daemon_stop() {
	local i rc

	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		log "WARNING: agentbpf did not stop within 5 s of SIGTERM; killing it"
		kill -KILL "$DAEMON_PID" 2>/dev/null
	fi
	wait "$DAEMON_PID" 2>/dev/null
	rc=$?
	DAEMON_PID=""
	DAEMON_RC=$rc
	if [ "$rc" != 0 ]; then
		log "WARNING: agentbpf exited with status $rc; log:"
		cat "$DAEMON_LOG" >&2
	fi
	return 0
}

kill_children() {
	[ ${#CHILD_PIDS[@]} -gt 0 ] || return 0
	kill "${CHILD_PIDS[@]}" 2>/dev/null
	wait "${CHILD_PIDS[@]}" 2>/dev/null
	CHILD_PIDS=()
}

# scrape FILE: one plain-text scrape of /metrics.
scrape() {
	http_get "$URL/metrics" -o "$1"
}

# metric FILE 'name{labels}': the sample's value, empty if absent.
metric() {
	awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# series FILE: samples in a scrape (lines that are not comments).
series() {
	grep -cv '^#' "$1"
}

# dropped FILE: sum of agentbpf_events_dropped_total over all reasons.
dropped() {
	awk '/^agentbpf_events_dropped_total/ { s += $2 } END { print s + 0 }' "$1"
}

# wait_metric 'name{labels}' VALUE [TIMEOUT_S]: polls until the sample is at
# least VALUE; leaves the last scrape in $WORK/last.prom. 0 if reached.
wait_metric() {
	local deadline=$(( $(date +%s) + ${3:-10} )) v

	while :; do
		if scrape "$WORK/last.prom"; then
			v=$(metric "$WORK/last.prom" "$1")
			[ -n "$v" ] && awk -v a="$v" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }' && return 0
		fi
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# cpu_ns PID: CPU time of all the process's threads, in ns (schedstat).
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# ctxsw PID: voluntary context switches of all the process's threads (how
# often it went to sleep waiting, i.e. roughly how often it was woken).
ctxsw() {
	cat /proc/"$1"/task/*/status 2>/dev/null | awk '$1 == "voluntary_ctxt_switches:" { s += $2 } END { print s + 0 }'
}

# stats: reads numbers on stdin, prints "n median p99 min max" (nearest rank).
stats() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (!NR) { print "0 nan nan nan nan"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			r = int(0.99 * NR); if (r < 0.99 * NR) r++
			printf "%d %.6g %.6g %.6g %.6g\n", NR, m, v[r], v[1], v[NR]
		}'
}

# foreign_daemons: pids of agentbpf instances this script did not start. Their
# probes run on every exec/fork/exit too and would contaminate a baseline.
foreign_daemons() {
	pgrep -x agentbpf | grep -vx "${DAEMON_PID:-0}" | tr '\n' ' ' | sed 's/ $//'
}

# warn_if_busy: says so when other agentbpf instances or load are present.
warn_if_busy() {
	local f

	f=$(foreign_daemons)
	[ -z "$f" ] || log "WARNING: other agentbpf instances are running (pid $f): figures are contaminated"
	awk -v n="$(nproc)" '$1 > n / 2 { exit 1 }' /proc/loadavg ||
		log "WARNING: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs: the machine is busy"
	[ -z "$f" ]
}

# machine_info: one line describing where the figures come from.
machine_info() {
	local commit

	if [ "$AGENTBPF" = "$REPO/agentbpf" ]; then
		commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
		# Uncommitted changes to the daemon: the figures are not those of HEAD.
		[ -n "$(git -C "$REPO" status --porcelain -- bpf include user Makefile 2>/dev/null)" ] && commit+="+dirty"
	else
		commit="$AGENTBPF${AGENTBPF_COMMIT:+ ($AGENTBPF_COMMIT)}"
	fi
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) kernel $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), agentbpf $($AGENTBPF --version | awk '{ print $2 }') @ $commit"
}
