#!/usr/bin/env bash
# Scrape benchmark: cost of serving /metrics with >= 1,000 series.
#
# Agents each match the command line of their own copies of sleep
# ("benchscrape 600 N"), so every agent renders its full set of series. By
# default (SCRAPE_AGENTS=auto) a probe daemon with two agents measures how
# many series one agent adds, and the benchmark configures just enough agents
# for >= 1,000 series (at most 64, the daemon's limit). Two phases on one
# daemon:
#
#   idle    agents configured, no live process: rendering alone
#   loaded  SCRAPE_PROCS (default 256) live processes spread over the agents:
#           the render also reads /proc for each member (CPU, RSS, fds, I/O)
#
# Each phase times SCRAPE_COUNT scrapes over a keep-alive connection, once
# with plain text and once with the headers Prometheus sends (OpenMetrics,
# gzip). Reported: server-side render time (agentbpf_scrape_duration_seconds,
# which each scrape reports for the previous one) and the client round trip,
# median and p99; and the daemon's VmRSS before and after each phase's
# scrapes (growth would be a leak in the render path).
#
# Usage: sudo bench/scrape.sh   (env: SCRAPE_AGENTS, SCRAPE_PROCS, SCRAPE_COUNT)
. "$(dirname "$0")/lib.sh"

AGENTS=${SCRAPE_AGENTS:-auto}
NPROCS=${SCRAPE_PROCS:-256}
COUNT=${SCRAPE_COUNT:-500}
TARGET_MS=10
MIN_SERIES=1000
MAX_AGENTS=64

bench_init scrape
OUT=$RESULTS/scrape.md
SUMMARY=$RESULTS/scrape.env
RAW=$RESULTS/scrape.raw

cp /bin/sleep "$WORK/benchscrape" || die "cannot copy /bin/sleep"
# write_config N: N agents, bench-agent-01 ... matching "benchscrape 600 1" ...
write_config() {
	local a

	{
		echo "agents:"
		for a in $(seq "$1"); do
			printf '  - name: bench-agent-%02d\n    type: bench\n    match:\n      cmdline: "*/benchscrape 600 %d"\n' "$a" "$a"
		done
	} >"$WORK/scrape.yml"
}

if [ "$AGENTS" = auto ]; then
	write_config 2
	daemon_start "$WORK/scrape.yml"
	scrape "$WORK/probe.prom" || die "scrape failed"
	daemon_stop
	per=$(grep -v '^#' "$WORK/probe.prom" | grep -c '"bench-agent-01"')
	base=$(( $(series "$WORK/probe.prom") - 2 * per ))
	[ "$per" -gt 0 ] || die "cannot tell how many series an agent adds"
	AGENTS=$(( (MIN_SERIES - base + per - 1) / per ))
	[ "$AGENTS" -ge 1 ] || AGENTS=1
	if [ "$AGENTS" -gt "$MAX_AGENTS" ]; then
		log "WARNING: $MIN_SERIES series need $AGENTS agents; the daemon allows $MAX_AGENTS"
		AGENTS=$MAX_AGENTS
	fi
	log "one agent adds $per series, the exporter $base: $AGENTS agents"
fi
write_config "$AGENTS"

# run_phase PHASE: both client modes against the running daemon.
run_phase() {
	local phase=$1 mode line

	scrape "$WORK/$phase.prom" || die "scrape failed"
	cp "$WORK/$phase.prom" "$RESULTS/scrape-$phase.prom"
	echo "$phase rss_before_kb=$(awk '$1 == "VmRSS:" { print $2 }' /proc/"$DAEMON_PID"/status)" >>"$RESULTS/scrape.rss"
	for mode in plain prometheus; do
		line=$(timeout 60 "$PY" "$BENCH_DIR/scrape_client.py" "$URL/metrics" "$COUNT" "$mode" "$RAW") ||
			die "scrape client failed ($phase, $mode)"
		echo "$phase $mode $line" >>"$RESULTS/scrape.summary"
		log "$phase $mode: $line"
	done
	echo "$phase rss_after_kb=$(awk '$1 == "VmRSS:" { print $2 }' /proc/"$DAEMON_PID"/status)" >>"$RESULTS/scrape.rss"
}

echo "# $(machine_info); agents=$AGENTS procs=$NPROCS count=$COUNT" >"$RAW"
: >"$RESULTS/scrape.summary"
: >"$RESULTS/scrape.rss"
log "$(machine_info)"
warn_if_busy

daemon_start "$WORK/scrape.yml"
log "phase idle: $AGENTS agents, no live process"
run_phase idle

log "phase loaded: starting $NPROCS processes over $AGENTS agents"
for i in $(seq 0 $((NPROCS - 1))); do
	# "sleep 600 N" sleeps 600 + N s: bounded even if this script is killed -9.
	"$WORK/benchscrape" 600 $((i % AGENTS + 1)) </dev/null >/dev/null 2>&1 &
	CHILD_PIDS+=($!)
done
wait_metric agentbpf_tracked_processes "$NPROCS" 20 ||
	log "WARNING: daemon tracks $(metric "$WORK/last.prom" agentbpf_tracked_processes) of $NPROCS processes"
tracked=$(metric "$WORK/last.prom" agentbpf_tracked_processes)
run_phase loaded
daemon_stop
kill_children

# key VALUE-NAME: a field of a summary line.
{
	echo "| phase | live processes | series | body bytes (text / gzip) | client | render median ms | render p99 ms | round trip median ms | round trip p99 ms |"
	echo "|---|---|---|---|---|---|---|---|---|"
	while read -r phase mode rest; do
		declare -A f=()
		for kv in $rest; do f[${kv%%=*}]=${kv#*=}; done
		procs=0
		[ "$phase" = loaded ] && procs=$tracked
		bytes=${f[bytes_text]}
		[ "$mode" = prometheus ] && bytes="${f[bytes_text]} / ${f[bytes_wire]}"
		echo "| $phase | $procs | ${f[series]} | $bytes | $mode | ${f[render_median_ms]} | ${f[render_p99_ms]} | ${f[rtt_median_ms]} | ${f[rtt_p99_ms]} |"
		for k in series render_median_ms render_p99_ms rtt_median_ms rtt_p99_ms; do
			echo "scrape_${phase}_${mode}_$k=${f[$k]}" >>"$SUMMARY.tmp"
		done
		unset f
	done <"$RESULTS/scrape.summary"
} >"$OUT"
mv "$SUMMARY.tmp" "$SUMMARY"
# Daemon RSS around the 2 x COUNT scrapes of each phase: growth = a leak.
awk '{ split($2, kv, "="); v[$1, kv[1]] = kv[2]; ph[$1] }
	END { for (p in ph) printf "scrape_%s_rss_before_mb=%.1f\nscrape_%s_rss_after_mb=%.1f\n",
		p, v[p, "rss_before_kb"] / 1024, p, v[p, "rss_after_kb"] / 1024 }' "$RESULTS/scrape.rss" >>"$SUMMARY"
{
	echo "scrape_agents=$AGENTS"
	echo "scrape_procs=$tracked"
	echo "scrape_target_ms=$TARGET_MS"
	echo "scrape_min_series=$MIN_SERIES"
} >>"$SUMMARY"

echo
echo "Scrape benchmark: $AGENTS agents, $NPROCS processes in the loaded phase, $COUNT scrapes per row over one keep-alive connection (target render <= $TARGET_MS ms for >= $MIN_SERIES series)"
cat "$OUT"
awk -F= '/_rss_/ { printf "%s %s MB\n", $1, $2 }' "$SUMMARY" | sort
awk -F= -v min="$MIN_SERIES" '/_series=/ && $2 < min { print "WARNING: " $1 " = " $2 " < " min " series"; }' "$SUMMARY"
