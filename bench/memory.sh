#!/usr/bin/env bash
# Memory benchmark: the daemon's resident memory while it tracks
# MEMORY_PROCS (default 200) long-lived agent processes.
#
# Starts copies of sleep named "benchsleeper" (their comm) and a config that
# matches that comm, then reads VmRSS/VmHWM from /proc/PID/status after the
# processes are tracked and after some scrapes. Two phases:
#
#   events  daemon first, processes started after it (exec events)
#   scan    processes already running when the daemon starts (/proc scan)
#
# Also reported: how much of RSS is the mmap of the event ring buffer (kernel
# memory mapped into the daemon, its 4 MB of data pages mapped twice), and the
# kernel memory charged to the daemon's BPF maps (memlock in
# /proc/PID/fdinfo), which RSS shows only for the ring buffer.
#
# Usage: sudo bench/memory.sh    (env: MEMORY_PROCS, MEMORY_SCRAPES)
. "$(dirname "$0")/lib.sh"

NPROCS=${MEMORY_PROCS:-200}
SCRAPES=${MEMORY_SCRAPES:-20}
TARGET_MB=20

bench_init memory
OUT=$RESULTS/memory.md
SUMMARY=$RESULTS/memory.env
RAW=$RESULTS/memory.raw

cp /bin/sleep "$WORK/benchsleeper" || die "cannot copy /bin/sleep"
cat >"$WORK/memory.yml" <<'EOF'
agents:
  - name: sleepers
    match:
      comm: benchsleeper
EOF

# status_kb FIELD: a field of the daemon's /proc/PID/status, in kB.
status_kb() {
	awk -v f="$1:" '$1 == f { print $2 }' /proc/"$DAEMON_PID"/status
}

# map_memlock_kb: kernel memory charged to the BPF maps the daemon holds.
map_memlock_kb() {
	local f sum=0 m

	for f in /proc/"$DAEMON_PID"/fdinfo/*; do
		grep -q '^map_type:' "$f" 2>/dev/null || continue
		m=$(awk '$1 == "memlock:" { print $2 }' "$f")
		sum=$((sum + ${m:-0}))
	done
	echo $((sum / 1024))
}

# ringbuf_rss_kb: resident pages of the daemon's BPF map mappings (the event
# ring buffer: the kernel maps its data pages twice, so 4 MB shows as 8 MB).
ringbuf_rss_kb() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { bpf = ($6 == "anon_inode:bpf-map") }
		bpf && $1 == "Rss:" { s += $2 } END { print s + 0 }' /proc/"$DAEMON_PID"/smaps
}

start_sleepers() {
	local i

	for i in $(seq "$NPROCS"); do
		# Bounded even if this script were killed -9: 10 minutes at most.
		"$WORK/benchsleeper" 600 </dev/null >/dev/null 2>&1 &
		CHILD_PIDS+=($!)
	done
}

# measure PHASE: waits until all processes are tracked, scrapes, records.
measure() {
	local phase=$1 tracked i key='agent_processes{agent_type="sleepers"}'

	wait_metric "$key" "$NPROCS" 20 ||
		log "WARNING: $phase: daemon tracks $(metric "$WORK/last.prom" "$key") of $NPROCS processes after 20 s"
	tracked=$(metric "$WORK/last.prom" "$key")
	for i in $(seq "$SCRAPES"); do
		scrape "$WORK/scrape.prom" || die "scrape failed"
	done
	sleep 1
	scrape "$WORK/scrape.prom" || die "scrape failed"
	tracked=$(metric "$WORK/scrape.prom" "$key")
	printf '%s %s %s %s %s %s %s %s %s %s\n' "$phase" "$tracked" \
		"$(status_kb VmRSS)" "$(status_kb VmHWM)" "$(status_kb RssAnon)" \
		"$(status_kb RssFile)" "$(status_kb RssShmem)" "$(map_memlock_kb)" \
		"$(dropped "$WORK/scrape.prom")" "$(ringbuf_rss_kb)" >>"$RAW"
	cp "$WORK/scrape.prom" "$RESULTS/memory-$phase.prom"
}

echo "# $(machine_info); procs=$NPROCS" >"$RAW"
echo "# phase tracked VmRSS_kB VmHWM_kB RssAnon_kB RssFile_kB RssShmem_kB bpf_map_memlock_kB dropped ringbuf_rss_kB" >>"$RAW"
log "$(machine_info)"
warn_if_busy

log "phase events: daemon first, then $NPROCS processes"
daemon_start "$WORK/memory.yml"
sleep 0.5
printf 'idle 0 %s %s %s %s %s %s 0 %s\n' "$(status_kb VmRSS)" "$(status_kb VmHWM)" "$(status_kb RssAnon)" \
	"$(status_kb RssFile)" "$(status_kb RssShmem)" "$(map_memlock_kb)" "$(ringbuf_rss_kb)" >>"$RAW"
start_sleepers
measure events
daemon_stop

log "phase scan: $NPROCS processes already running, then the daemon"
daemon_start "$WORK/memory.yml"
measure scan
daemon_stop
kill_children

{
	echo "| phase | tracked processes | VmRSS MB | VmHWM MB | RssAnon MB | RssFile MB | of RSS: ring buffer mapping MB | BPF map kernel memory (memlock) MB | events dropped |"
	echo "|---|---|---|---|---|---|---|---|---|"
	awk '!/^#/ { printf "| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %s |\n",
		$1 == "idle" ? "idle (no agent process yet)" : $1, $2, $3 / 1024, $4 / 1024, $5 / 1024, $6 / 1024, $10 / 1024, $8 / 1024, $9 }' "$RAW"
} >"$OUT"
awk -v n="$NPROCS" '!/^#/ && $1 != "idle" { if ($3 > rss) rss = $3; if ($4 > hwm) hwm = $4; if ($8 > m) m = $8; if ($2 != n) bad++; rb = $10 }
	END { printf "memory_rss_mb=%.1f\nmemory_hwm_mb=%.1f\nmemory_bpf_mb=%.1f\nmemory_ringbuf_mb=%.1f\nmemory_miscount=%d\n", rss / 1024, hwm / 1024, m / 1024, rb / 1024, bad }' "$RAW" >"$SUMMARY"
echo "memory_procs=$NPROCS" >>"$SUMMARY"
echo "memory_target_mb=$TARGET_MB" >>"$SUMMARY"

echo
echo "Memory benchmark: daemon tracking $NPROCS long-lived processes (target VmRSS <= $TARGET_MB MB)"
cat "$OUT"
