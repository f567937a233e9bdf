#!/bin/bash
# Starts agentbpf and a small fleet of demo agents that serve, crash, finish
# and get OOM-killed, so /metrics shows real data. Ctrl-C stops everything.
#   DEMO_SECONDS=N  stop by itself after N seconds (default: run until Ctrl-C)
#   LISTEN=ADDR     where agentbpf serves (default :9091)
set -u
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
PY=/usr/bin/python3
LISTEN=${LISTEN:-:9091}
PORT=${LISTEN##*:}
CG=""

if [ "$(id -u)" != 0 ]; then
	echo "demo: agentbpf loads BPF programs and needs root: run make run as root" >&2
	exit 1
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing

cleanup() {
	trap - EXIT INT TERM
	kill $(jobs -p) 2>/dev/null
	# Workers started by the supervise loops outlive their loop: end them too.
	pkill -f 'demo_(worker|researcher)\.py|uvicorn demo_planner:app' 2>/dev/null
	wait 2>/dev/null
	[ -n "$CG" ] && rmdir "$CG" 2>/dev/null
	echo "demo: stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Keeps restarting a worker the way systemd or a supervisor would.
supervise() {
	while :; do "$@"; sleep 1; done
}

# A memory-limited cgroup (v2 if it has the memory controller, else v1).
memory_cgroup() {
	if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
		CG=/sys/fs/cgroup/agentbpf-demo
		mkdir -p $CG && echo $((96 << 20)) > $CG/memory.max
	elif [ -d /sys/fs/cgroup/memory ]; then
		CG=/sys/fs/cgroup/memory/agentbpf-demo
		mkdir -p $CG && echo $((96 << 20)) > $CG/memory.limit_in_bytes
	fi
}

"$ROOT/agentbpf" --config demo.yml --web.listen-address "$LISTEN" &
for _ in $(seq 50); do
	curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
	sleep 0.1
done

$PY -m uvicorn demo_planner:app --host 127.0.0.1 --port 8101 --log-level warning &
$PY demo_researcher.py 8102 &
supervise $PY demo_worker.py --flaky &
supervise $PY demo_worker.py --batch &
memory_cgroup
if [ -n "$CG" ]; then
	supervise sh -c "echo \$\$ > $CG/cgroup.procs && exec $PY demo_worker.py --hog" &
fi

# A little traffic so the agents have something to do.
(
	while :; do
		curl -s -o /dev/null "http://127.0.0.1:8101/plan?steps=$((RANDOM % 5))"
		curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"goal":"x"}' http://127.0.0.1:8101/plan
		curl -s -o /dev/null http://127.0.0.1:8101/fail
		curl -s -o /dev/null http://127.0.0.1:8102/search
		curl -s -o /dev/null http://127.0.0.1:8102/missing
		sleep 0.5
	done
) &

echo "demo: agentbpf serves http://127.0.0.1:$PORT/metrics (landing page http://127.0.0.1:$PORT/)"
echo "demo: agents: planner :8101 (uvicorn), researcher :8102 (http.server), flaky-worker, batch-job${CG:+, memory-hog}"
echo "demo: Ctrl-C stops the demo"
if [ -n "${DEMO_SECONDS:-}" ]; then
	sleep "$DEMO_SECONDS"
else
	wait
fi
