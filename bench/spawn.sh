#!/usr/bin/env bash
# Spawn benchmark: what agentbpf adds to fork + exec + exit.
#
# A helper (spawnloop) forks, execs a do-nothing program named benchchild
# and waits for it, SPAWN_COUNT times in a row. Each round is timed; rounds of
# these variants alternate in one run, in a rotating order:
#
#   off      no daemon: the baseline
#   match    daemon running, config matches comm "benchchild": every child is
#            classified as an agent process at exec and its exit is counted
#   inherit  daemon running, config matches the parent (comm "spawnloop"):
#            every child is a member from fork on (in-kernel inheritance), so
#            fork, exec and exit all take the member path (the children are
#            "helpers" once they exec benchchild: tracked, not counted as exits)
#   nomatch  daemon running, nothing matches: the cost every other process
#            on the host pays for the exec/fork/exit hooks
#
# Slowdown = median(variant) / median(off) - 1, all from the same run; also
# the median of each round's ratio to the baseline of the same round, CPU
# time (loop + children + daemon) per spawn against the baseline's, and the
# direct cost: daemon CPU + BPF program run time per spawn, as a share of the
# baseline's CPU per spawn. Each daemon round starts a fresh daemon and
# checks its counts afterwards.
#
# SPAWN_CHILD picks benchchild:
#   minimal  (default) static, no libc, one syscall: the worst case, where the
#            hooks are the largest share of a spawn
#   true     a copy of /bin/true: the smallest real (dynamically linked) program
#
# Usage: sudo bench/spawn.sh
#   env: SPAWN_CHILD, SPAWN_COUNT, SPAWN_ROUNDS, SPAWN_VARIANTS
. "$(dirname "$0")/lib.sh"

CHILD=${SPAWN_CHILD:-minimal}
COUNT=${SPAWN_COUNT:-2000}
ROUNDS=${SPAWN_ROUNDS:-10}
read -ra VARIANTS <<<"${SPAWN_VARIANTS:-off match inherit nomatch}"
TARGET_PCT=3
LOOP_TIMEOUT=120

bench_init "spawn-$CHILD"
RAW=$RESULTS/spawn-$CHILD.raw
OUT=$RESULTS/spawn-$CHILD.md
SUMMARY=$RESULTS/spawn-$CHILD.env
[[ " ${VARIANTS[*]} " == *" off "* ]] || die "SPAWN_VARIANTS must include off (the baseline)"

build_c spawnloop spawnloop.c
build_c benchchild-minimal benchchild.c -static -nostdlib -fno-stack-protector -DBENCH_NOSTDLIB
# The child's file name is its comm: the "match" config looks for it.
case $CHILD in
minimal) cp "$BUILD/benchchild-minimal" "$WORK/benchchild" ;;
true)    cp /bin/true "$WORK/benchchild" ;;
*)       die "SPAWN_CHILD must be minimal or true" ;;
esac
"$WORK/benchchild" || die "benchchild does not exit 0"
CHILD_BIN=$WORK/benchchild

cat >"$WORK/match.yml" <<'EOF'
agents:
  - name: spawner
    match:
      comm: benchchild
EOF
cat >"$WORK/inherit.yml" <<'EOF'
agents:
  - name: spawner
    match:
      comm: spawnloop
EOF
cat >"$WORK/nomatch.yml" <<'EOF'
agents:
  - name: other
    match:
      comm: no-such-agent
EOF

# check_round VARIANT: waits for the daemon to account for the round, then
# checks its counts. Prints "ok" or what was wrong; appends BPF stats to RAW.
check_round() {
	local v=$1 r=$2 key want got exec fork exit drops problems=""

	case $v in
	# Each child matches on its own: COUNT primary members, COUNT exits.
	match)   key='agent_process_exits_total{agent_type="spawner",reason="completed"}'; want=$COUNT ;;
	# spawnloop is the one primary member; its children inherit membership at
	# fork and become helpers when they exec benchchild, which the daemon
	# tracks but does not count as exits. All COUNT + 1 exits must be seen.
	inherit) key='agentbpf_events_total{type="exit"}'; want=$((COUNT + 1)) ;;
	# Nothing matches, but every exec still reaches userspace.
	nomatch) key='agentbpf_events_total{type="exec"}'; want=$COUNT ;;
	esac
	wait_metric "$key" "$want" 10
	# The daemon reads events asynchronously: let the last ones in.
	[ "$v" = match ] || { sleep 0.5; scrape "$WORK/last.prom"; }
	got=$(metric "$WORK/last.prom" "$key")
	if [ "$v" = match ]; then
		[ "${got:-0}" = "$want" ] || problems+=" $key=${got:-absent} (want $want)"
	else
		# Other processes exec and exit too (curl for the checks): at least.
		[ "${got:-0}" -ge "$want" ] || problems+=" $key=${got:-absent} (want >= $want)"
	fi
	if [ "$v" = inherit ]; then
		key='agent_process_exits_total{agent_type="spawner",reason="completed"}'
		got=$(metric "$WORK/last.prom" "$key")
		[ "${got:-0}" = 1 ] || problems+=" $key=${got:-absent} (want 1: spawnloop; its children are helpers)"
	fi
	got=$(metric "$WORK/last.prom" 'agentbpf_tracked_processes')
	[ "${got:-0}" = 0 ] || problems+=" tracked_processes=$got (want 0: every process exited)"
	drops=$(dropped "$WORK/last.prom")
	[ "$drops" = 0 ] || problems+=" events_dropped_total=$drops"
	exec=$(metric "$WORK/last.prom" 'agentbpf_events_total{type="exec"}')
	fork=$(metric "$WORK/last.prom" 'agentbpf_events_total{type="fork"}')
	exit=$(metric "$WORK/last.prom" 'agentbpf_events_total{type="exit"}')
	for p in exec fork exit; do
		echo "bpf $r $v $p $(metric "$WORK/last.prom" "agentbpf_bpf_program_runs_total{program=\"handle_$p\"}") $(metric "$WORK/last.prom" "agentbpf_bpf_program_run_seconds_total{program=\"handle_$p\"}")" >>"$RAW"
	done
	echo "events $r $v ${exec:-0} ${fork:-0} ${exit:-0}" >>"$RAW"
	echo "${problems:-ok}"
}

# one_round ROUND VARIANT: times one loop; appends to RAW
# "time ROUND VARIANT WALL_NS CPU_NS" and "cpu ROUND VARIANT DAEMON_CPU_NS".
one_round() {
	local r=$1 v=$2 out ns cpu cpu0 cpu1 cs0 cs1 check busy

	busy=$(foreign_daemons)
	if [ -n "$busy" ]; then
		log "round $r $v: WARNING: other agentbpf running (pid $busy); round marked contaminated"
		echo "contaminated $r $v $busy" >>"$RAW"
	fi
	if [ "$v" != off ]; then
		daemon_start "$WORK/$v.yml"
	fi
	sleep 0.3
	[ -n "$DAEMON_PID" ] && { cpu0=$(cpu_ns "$DAEMON_PID"); cs0=$(ctxsw "$DAEMON_PID"); }
	out=$(timeout "$LOOP_TIMEOUT" "$BUILD/spawnloop" "$CHILD_BIN" "$COUNT") ||
		die "spawn loop failed or exceeded ${LOOP_TIMEOUT}s in round $r ($v)"
	read -r _ ns cpu <<<"$out"
	if [ -n "$DAEMON_PID" ]; then
		cpu1=$(cpu_ns "$DAEMON_PID")
		cs1=$(ctxsw "$DAEMON_PID")
		echo "cpu $r $v $((cpu1 - cpu0)) $((cs1 - cs0))" >>"$RAW"
		check=$(check_round "$v" "$r")
		daemon_stop
		[ "$DAEMON_RC" = 0 ] || check+=" daemon-exit-status=$DAEMON_RC"
		[ "$check" = ok ] || { log "round $r $v: COUNT PROBLEM:$check"; echo "problem $r $v$check" >>"$RAW"; }
	fi
	# Also one that started during the round.
	if [ -z "$busy" ] && [ -n "$(foreign_daemons)" ]; then
		log "round $r $v: WARNING: another agentbpf started during the round; round marked contaminated"
		echo "contaminated $r $v $(foreign_daemons)" >>"$RAW"
	fi
	echo "time $r $v $ns $cpu" >>"$RAW"
	awk -v r="$r" -v v="$v" -v ns="$ns" -v n="$COUNT" \
		'BEGIN { printf "round %d %-8s %8.1f us/spawn\n", r, v, ns / n / 1000 }' >&2
}

: >"$RAW"
echo "# $(machine_info); child=$CHILD count=$COUNT rounds=$ROUNDS" >>"$RAW"
log "$(machine_info)"
warn_if_busy
log "$ROUNDS rounds x ${#VARIANTS[@]} variants (${VARIANTS[*]}), $COUNT spawns each"
# Warm-up, untimed: page cache, first-touch costs.
"$BUILD/spawnloop" "$CHILD_BIN" $((COUNT / 4)) >/dev/null || die "spawnloop does not work"

for r in $(seq "$ROUNDS"); do
	n=${#VARIANTS[@]}
	for i in $(seq 0 $((n - 1))); do
		one_round "$r" "${VARIANTS[$(((i + r - 1) % n))]}"
	done
done

# Medians per variant; per-round ratios against the same round's baseline.
"$PY" - "$RAW" "$CHILD" "$COUNT" "${VARIANTS[@]}" >"$OUT" 3>"$SUMMARY" <<'PYEOF'
import os, statistics, sys
from collections import defaultdict

raw, child, count, variants = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
wall, cpu, dcpu, dcs = defaultdict(dict), defaultdict(dict), defaultdict(dict), defaultdict(dict)
bpf = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
for line in open(raw):
    f = line.split()
    if not f or f[0].startswith("#"):
        continue
    if f[0] == "time":
        wall[f[2]][f[1]] = int(f[3]) / count / 1e3
        cpu[f[2]][f[1]] = int(f[4]) / count / 1e3
    elif f[0] == "cpu":
        dcpu[f[2]][f[1]] = int(f[3]) / count / 1e3
        dcs[f[2]][f[1]] = int(f[4]) / count
    elif f[0] == "bpf" and len(f) == 6:
        bpf[f[2]][f[3]][0] += int(float(f[4]))
        bpf[f[2]][f[3]][1] += float(f[5])

med = statistics.median
summary = os.fdopen(3, "w")
def total_cpu(v, r):
    return cpu[v][r] + dcpu[v].get(r, 0.0)
base_wall = med(wall["off"].values())
base_cpu = med(total_cpu("off", r) for r in wall["off"])
print("| variant | wall µs/spawn, median (min–max) | wall slowdown vs off | per-round wall slowdown, median (min–max) "
      "| CPU µs/spawn, loop+children+daemon | CPU overhead vs off | daemon CPU µs/spawn | BPF µs/spawn | direct cost: daemon + BPF, % of off CPU "
      "| daemon wakeups/spawn | BPF ns/run exec·fork·exit |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for v in variants:
    w = list(wall[v].values())
    c = med(total_cpu(v, r) for r in wall[v])
    paired = [(wall[v][r] / wall["off"][r] - 1) * 100 for r in wall[v] if r in wall["off"]]
    slow = (med(w) / base_wall - 1) * 100
    cover = (c / base_cpu - 1) * 100
    if v == "off":
        cols = ["baseline", "–", "%.1f" % c, "baseline", "–", "–", "–", "–", "–"]
    else:
        runs = bpf[v]
        ns = "·".join("%.0f" % (runs[p][1] / runs[p][0] * 1e9 if runs[p][0] else 0) for p in ("exec", "fork", "exit"))
        # Measured directly rather than as a difference of two noisy totals:
        # the daemon's CPU and the BPF programs' run time, per spawn.
        bpf_us = sum(runs[p][1] for p in runs) / len(wall[v]) / count * 1e6
        daemon_us = med(dcpu[v].values())
        direct = (daemon_us + bpf_us) / base_cpu * 100
        cols = ["%+.1f%%" % slow, "%+.1f%% (%+.1f%% – %+.1f%%)" % (med(paired), min(paired), max(paired)),
                "%.1f" % c, "%+.1f%%" % cover, "%.1f" % daemon_us, "%.1f" % bpf_us,
                "%.1f µs = %.1f%%" % (daemon_us + bpf_us, direct), "%.2f" % med(dcs[v].values()), ns]
    print("| %s | %.1f (%.1f–%.1f) | %s |" % (v, med(w), min(w), max(w), " | ".join(cols)))
    print("spawn_%s_%s_us=%.1f" % (child, v, med(w)), file=summary)
    if v != "off":
        print("spawn_%s_%s_slowdown=%+.1f%%" % (child, v, slow), file=summary)
        print("spawn_%s_%s_paired=%+.1f%%" % (child, v, med(paired)), file=summary)
        print("spawn_%s_%s_cpu_overhead=%+.1f%%" % (child, v, cover), file=summary)
        print("spawn_%s_%s_daemon_us=%.1f" % (child, v, daemon_us), file=summary)
        print("spawn_%s_%s_bpf_us=%.1f" % (child, v, bpf_us), file=summary)
        print("spawn_%s_%s_direct_pct=%.1f%%" % (child, v, direct), file=summary)
        print("spawn_%s_%s_daemon_wakeups=%.2f" % (child, v, med(dcs[v].values())), file=summary)
        for p in ("exec", "fork", "exit"):
            n, t = bpf[v][p]
            print("spawn_%s_%s_bpf_%s_ns=%.0f" % (child, v, p, t / n * 1e9 if n else 0), file=summary)
PYEOF
problems=$(grep -c '^problem' "$RAW")
contaminated=$(grep -c '^contaminated' "$RAW")
{
	echo "spawn_${CHILD}_contaminated=$contaminated"
	echo "spawn_${CHILD}_child=$CHILD"
	echo "spawn_${CHILD}_count=$COUNT"
	echo "spawn_${CHILD}_rounds=$ROUNDS"
	echo "spawn_${CHILD}_problems=$problems"
	echo "spawn_${CHILD}_target_pct=$TARGET_PCT"
} >>"$SUMMARY"

echo
case $CHILD in
minimal) desc="a static no-libc no-op (worst case)" ;;
true)    desc="a copy of /bin/true" ;;
esac
echo "Spawn benchmark: $COUNT × fork+exec+exit of $desc, $ROUNDS alternating rounds per variant (target: match slowdown <= $TARGET_PCT%)"
cat "$OUT"
if [ "$contaminated" != 0 ]; then
	echo
	echo "WARNING: $contaminated round(s) ran while another agentbpf was running; rerun on a quiet machine."
fi
if [ "$problems" != 0 ]; then
	echo
	echo "Daemon count problems in $problems round(s):"
	grep '^problem' "$RAW"
fi
