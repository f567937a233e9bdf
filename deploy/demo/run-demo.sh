#!/bin/bash
# Starts agentbpf, a small fleet of demo agents that serve HTTP, call each
# other and a model API over HTTPS, hand work to each other through Redis,
# crash, finish and get OOM-killed, and a
# Prometheus that scrapes agentbpf with the repo's rules and alerts, so
# /metrics, the dashboards and the alerts show real data. Ctrl-C stops
# everything.
#   DEMO_SECONDS=N     stop by itself after N seconds (default: run until Ctrl-C)
#   LISTEN=ADDR        where agentbpf serves (default :9091)
#   PLANNER_PORT, RESEARCHER_PORT   the agents' HTTP ports (8101, 8102)
#   REDIS_PORT         the demo's own redis-server (default: a free port)
#   PROMETHEUS_PORT    Prometheus on 127.0.0.1 (default 9090, else a free port)
#   SCRAPE_INTERVAL    Prometheus' scrape and rule interval (default: the config's 15s)
#   NO_PROMETHEUS=1    do not start Prometheus
#   DEMO_FAST=1        workers crash, finish and blow up within seconds
set -u
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
PY=/usr/bin/python3
LISTEN=${LISTEN:-:9091}
PORT=${LISTEN##*:}
HOST=${LISTEN%:*}
case "$HOST" in "" | "0.0.0.0" | "[::]") HOST=127.0.0.1 ;; esac
PLANNER_PORT=${PLANNER_PORT:-8101}
RESEARCHER_PORT=${RESEARCHER_PORT:-8102}
CG=""
PIDS=()
TMP=""
SLEEPER=""

if [ "$(id -u)" != 0 ]; then
	echo "demo: agentbpf loads BPF programs and needs root: run make run as root" >&2
	exit 1
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing

free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_free() {
	$PY -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# Everything runs in its own session (setsid), so stopping the demo ends each
# child with everything it started (a supervise loop and its worker, uvicorn
# and its workers) by process group, and nothing that is not ours.
start() {
	setsid "$@" &
	PIDS+=($!)
}

# Keeps restarting a worker the way systemd or a supervisor would. The
# command (a shell snippet run in a subshell, ending in exec) comes in the
# environment, so the loop's own command line matches no agent: only the
# worker is the agent's process. The loop's stderr is /dev/null so that bash
# does not report the deaths itself; the worker gets the real one.
supervise() {  # NAME COMMAND
	(
		export SUPERVISE_NAME=$1 SUPERVISE_CMD=$2
		exec setsid bash -c '
			while :; do
				(exec 2>&3 3>&-; eval "$SUPERVISE_CMD")
				rc=$?
				[ $rc -gt 128 ] && echo "demo: $SUPERVISE_NAME killed by signal $((rc - 128))" >&3
				sleep 1
			done' 3>&2 2>/dev/null
	) &
	PIDS+=($!)
}

cleanup() {
	trap - EXIT INT TERM HUP
	local pid i alive
	[ -n "$SLEEPER" ] && kill "$SLEEPER" 2>/dev/null
	for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
	for i in $(seq 50); do
		alive=0
		for pid in "${PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "$CG" ]; then
		for i in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
	fi
	[ -n "$TMP" ] && rm -rf "$TMP"
	echo "demo: stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM HUP

TMP=$(mktemp -d /tmp/agentbpf-demo.XXXXXX)

wait_http() {  # URL what
	for _ in $(seq 100); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "demo: $2 did not come up ($1)" >&2
	return 1
}

# A memory-limited cgroup (v2 if it has the memory controller, else v1).
memory_cgroup() {
	local name=agentbpf-demo-$$
	if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
		CG=/sys/fs/cgroup/$name
		mkdir -p $CG && echo $((96 << 20)) > $CG/memory.max
		[ -e $CG/memory.swap.max ] && echo 0 > $CG/memory.swap.max
	elif [ -d /sys/fs/cgroup/memory ]; then
		CG=/sys/fs/cgroup/memory/$name
		mkdir -p $CG && echo $((96 << 20)) > $CG/memory.limit_in_bytes
		[ -e $CG/memory.memsw.limit_in_bytes ] && echo $((96 << 20)) > $CG/memory.memsw.limit_in_bytes
	fi
}

# The message bus: a throwaway redis-server, nothing saved.
REDIS_PORT=${REDIS_PORT:-$(free_port)}
start redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$TMP" --logfile "$TMP/redis.log"
for i in $(seq 51); do
	[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
	[ "$i" = 51 ] && { echo "demo: redis-server did not start on :$REDIS_PORT ($TMP/redis.log):" >&2; cat "$TMP/redis.log" >&2; exit 1; }
	sleep 0.1
done

# agentbpf with the demo config, told which port the bus is on and where
# the model API will listen (its calls are LLM calls).
LLM_PORT=$(free_port)
sed "s/^bus_ports:.*/bus_ports: [$REDIS_PORT]/" demo.yml > "$TMP/demo.yml"
printf 'llm_hosts:\n  - url: https://localhost:%s/v1\n    provider: demo-llm\n' "$LLM_PORT" >> "$TMP/demo.yml"
start "$ROOT/agentbpf" --config "$TMP/demo.yml" --web.listen-address "$LISTEN"
wait_http "http://$HOST:$PORT/healthz" agentbpf || exit 1

# The model API the planner calls over HTTPS: no agent, a CA of its own.
start $PY demo_llm.py "$LLM_PORT" "$TMP/llm-ca.pem"
for i in $(seq 51); do
	[ -s "$TMP/llm-ca.pem" ] && curl -sf -o /dev/null --cacert "$TMP/llm-ca.pem" -X POST -d '{}' \
		"https://localhost:$LLM_PORT/v1/chat/completions" && break
	[ "$i" = 51 ] && { echo "demo: the model API did not start on :$LLM_PORT" >&2; exit 1; }
	sleep 0.1
done

export DEMO_REDIS_PORT=$REDIS_PORT DEMO_LLM_URL=https://localhost:$LLM_PORT
export DEMO_LLM_CA=$TMP/llm-ca.pem DEMO_RESEARCHER_URL=http://127.0.0.1:$RESEARCHER_PORT
start $PY -m uvicorn demo_planner:app --host 127.0.0.1 --port "$PLANNER_PORT" --log-level warning
start $PY demo_researcher.py "$RESEARCHER_PORT" "$REDIS_PORT"
start $PY demo_summarizer.py "$REDIS_PORT"
supervise flaky-worker "exec $PY demo_worker.py --flaky"
supervise batch-job "exec $PY demo_worker.py --batch"
memory_cgroup
if [ -n "$CG" ]; then
	# Joins the cgroup, then becomes the worker.
	supervise memory-hog "echo \$BASHPID > $CG/cgroup.procs && exec $PY demo_worker.py --hog"
fi
wait_http "http://127.0.0.1:$PLANNER_PORT/plan/1" planner || exit 1

# A little traffic so the agents have something to do: POST /plan queues
# tasks for the researcher, which hands them on to the summarizer.
start bash -c '
	while :; do
		curl -s -o /dev/null "http://127.0.0.1:$1/plan?steps=$((RANDOM % 5))"
		curl -s -o /dev/null -X POST -H "Content-Type: application/json" -d "{\"goal\":\"g$((RANDOM % 8))\"}" "http://127.0.0.1:$1/plan"
		curl -s -o /dev/null "http://127.0.0.1:$1/plan/$RANDOM"
		curl -s -o /dev/null "http://127.0.0.1:$1/fail"
		curl -s -o /dev/null "http://127.0.0.1:$2/search"
		curl -s -o /dev/null "http://127.0.0.1:$2/missing"
		sleep 0.5
	done' traffic "$PLANNER_PORT" "$RESEARCHER_PORT"

# Prometheus with the repo's config, rules and alerts, scraping this daemon.
PROM_URL=""
if [ -z "${NO_PROMETHEUS:-}" ]; then
	if [ -z "${PROMETHEUS_PORT:-}" ]; then
		PROMETHEUS_PORT=9090
		port_free 9090 || PROMETHEUS_PORT=$(free_port)
	fi
	$PY demo_promconfig.py --target "$HOST:$PORT" ${SCRAPE_INTERVAL:+--interval "$SCRAPE_INTERVAL"} \
		"$ROOT/prometheus_config.yml" "$TMP/prometheus.yml" || exit 1
	start prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
		--web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --log.level=warn >"$TMP/prometheus.log" 2>&1
	PROM_URL=http://127.0.0.1:$PROMETHEUS_PORT
	wait_http "$PROM_URL/-/ready" Prometheus || { cat "$TMP/prometheus.log" >&2; exit 1; }
fi

echo "demo: agentbpf serves http://$HOST:$PORT/metrics (live view http://$HOST:$PORT/)"
echo "demo: agents: planner :$PLANNER_PORT (uvicorn), researcher :$RESEARCHER_PORT (http.server), summarizer," \
	"flaky-worker, batch-job${CG:+, memory-hog}; redis-server :$REDIS_PORT; the model API https://localhost:$LLM_PORT (no agent)"
if [ -n "$PROM_URL" ]; then
	echo "demo: Prometheus $PROM_URL  (alerts: $PROM_URL/alerts, rules: $PROM_URL/rules)"
	echo "demo: Grafana: add $PROM_URL as a Prometheus data source and import grafana_dashboards/*.json"
fi
echo "demo: Ctrl-C stops the demo"
if [ -n "${DEMO_SECONDS:-}" ]; then
	sleep "$DEMO_SECONDS" &
	SLEEPER=$!
	wait $SLEEPER
else
	wait
fi
