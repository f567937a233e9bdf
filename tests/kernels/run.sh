#!/bin/bash
# tests/kernels/run.sh KVER [options] -- COMMAND...
#
# Boots Debian's generic KVER kernel (6.1 or 6.12, fetched by fetch.sh) under
# qemu-system-x86_64 -accel tcg, with the host's root filesystem shared read-only over
# 9p and made writable by a tmpfs overlay, chroots into it and runs COMMAND from the
# current directory. The guest console streams to stdout; run.sh exits with COMMAND's
# exit status (124 on timeout, 125 when the guest could not run it). See README.md.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=900
MEM=2048
ENV_ARGS=()
RW_DIRS=()
LOG=
PASS_ENV="PATH HOME USER LOGNAME LANG TZ TERM"

say() { printf 'run.sh: %s\n' "$*" >&2; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 125; }

usage() {
	cat >&2 <<'EOF'
usage: tests/kernels/run.sh KVER [options] -- COMMAND [ARG...]
  KVER              6.1 or 6.12 (Debian generic kernels, see fetch.sh)
  --timeout S       kill the guest after S seconds (default 900); exit 124
  --mem MB          guest memory (default 2048)
  --env NAME=VALUE  set a variable for COMMAND (NAME alone: pass the caller's value);
                    passed by default: PATH HOME USER LOGNAME LANG LC_* TZ TERM AGENTBPF_*
  --rw DIR          share host directory DIR read-write at the same path (everything
                    else the guest writes goes to a tmpfs and is lost)
  --log FILE        also save the raw console output to FILE
COMMAND runs as root in a chroot of the host's root fs, cwd = the current directory,
stdin = /dev/null. run.sh exits with its status.
EOF
	exit 2
}

[ $# -ge 1 ] || usage
case $1 in -h|--help) usage ;; esac
KVER=$1
shift
case $KVER in 6.1|6.12) ;; *) say "unknown KVER '$KVER' (supported: 6.1, 6.12)"; usage ;; esac
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
	--timeout=*) TIMEOUT=${1#*=}; shift ;;
	--mem) [ $# -ge 2 ] || usage; MEM=$2; shift 2 ;;
	--mem=*) MEM=${1#*=}; shift ;;
	--env) [ $# -ge 2 ] || usage; ENV_ARGS+=("$2"); shift 2 ;;
	--env=*) ENV_ARGS+=("${1#*=}"); shift ;;
	--rw) [ $# -ge 2 ] || usage; RW_DIRS+=("$2"); shift 2 ;;
	--rw=*) RW_DIRS+=("${1#*=}"); shift ;;
	--log) [ $# -ge 2 ] || usage; LOG=$2; shift 2 ;;
	--log=*) LOG=${1#*=}; shift ;;
	--) shift; break ;;
	-h|--help) usage ;;
	*) say "unexpected argument '$1' (COMMAND goes after --)"; usage ;;
	esac
done
[ $# -ge 1 ] || { say "no COMMAND given"; usage; }
case $TIMEOUT in ''|*[!0-9]*|0) die "--timeout wants a positive number of seconds, got '$TIMEOUT'" ;; esac
case $MEM in ''|*[!0-9]*) die "--mem wants megabytes, got '$MEM'" ;; esac

# --- kernel ---------------------------------------------------------------------------
KDIR=$("$HERE/fetch.sh" "$KVER") || die "tests/kernels/fetch.sh $KVER failed (see above)"
MODROOT=$(ls -d "$KDIR"/lib/modules/*/ 2>/dev/null | head -n1)
[ -n "$MODROOT" ] || die "no lib/modules in $KDIR: remove it and rerun tests/kernels/fetch.sh $KVER"
MODROOT=${MODROOT%/}
KREL=${MODROOT##*/}
VMLINUZ=$KDIR/boot/vmlinuz-$KREL
[ -r "$VMLINUZ" ] || die "$VMLINUZ missing: remove $KDIR and rerun tests/kernels/fetch.sh $KVER"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: apt-get install qemu-system-x86"

# --- initramfs (cached next to the kernel) ---------------------------------------------
# Wanted modules; dependencies come from each module's own depends= (what depmod would
# write to modules.dep; the .deb ships no modules.dep). Built-ins are skipped.
WANT="virtio virtio_ring virtio_pci 9pnet_virtio 9p overlay"

declare -A MODFILE=() BUILTIN=() SEEN=()
MODORDER=()
index_modules() {
	local f n
	while IFS= read -r f; do
		n=${f##*/}
		n=${n%%.ko*}
		MODFILE[${n//-/_}]=$f
	done < <(cd "$MODROOT" && find kernel -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
	if [ -r "$MODROOT/modules.builtin" ]; then
		while IFS= read -r f; do
			n=${f##*/}
			n=${n%.ko}
			BUILTIN[${n//-/_}]=1
		done <"$MODROOT/modules.builtin"
	fi
}
mod_cat() {
	case $1 in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -dcq "$1" ;;
	*.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac
}
resolve() { # DFS: dependencies first
	local n=${1//-/_} dep deps
	[ -z "${SEEN[$n]:-}" ] || return 0
	SEEN[$n]=1
	if [ -n "${BUILTIN[$n]:-}" ]; then
		return 0
	fi
	[ -n "${MODFILE[$n]:-}" ] || die "kernel $KREL has no module '$n' (neither in modules.builtin nor under $MODROOT/kernel)"
	deps=$(mod_cat "$MODROOT/${MODFILE[$n]}" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1)
	for dep in ${deps//,/ }; do
		resolve "$dep"
	done
	MODORDER+=("$n")
}
index_modules
for m in $WANT; do resolve "$m"; done

key=$( {
	cat "$HERE/guest-init.sh"
	echo "$KREL ${MODORDER[*]}"
	sha256sum /bin/busybox
} | sha256sum | cut -c1-16)
INITRD=$KDIR/initramfs-$key.cpio.gz
if [ ! -r "$INITRD" ]; then
	[ -x /bin/busybox ] || die "/bin/busybox missing: apt-get install busybox-static"
	command -v cpio >/dev/null || die "cpio missing: apt-get install cpio"
	if [ ! -w "$KDIR" ]; then
		INITRD=${XDG_CACHE_HOME:-$HOME/.cache}/agentbpf-kernels/$KREL/initramfs-$key.cpio.gz
	fi
fi
if [ ! -r "$INITRD" ]; then
	say "building initramfs for $KREL: modules ${MODORDER[*]:-(all built in)}"
	mkdir -p "${INITRD%/*}"
	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' EXIT
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,lib/modules,lower,ovl,newroot}
	cp /bin/busybox "$stage/bin/busybox"
	cp "$HERE/guest-init.sh" "$stage/init"
	chmod 755 "$stage/init"
	: >"$stage/lib/modules/order"
	for n in "${MODORDER[@]}"; do
		mod_cat "$MODROOT/${MODFILE[$n]}" >"$stage/lib/modules/$n.ko"
		echo "$n" >>"$stage/lib/modules/order"
	done
	[ "$(id -u)" -ne 0 ] || mknod -m 600 "$stage/dev/console" c 5 1
	(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$INITRD.tmp.$$"
	mv "$INITRD.tmp.$$" "$INITRD"
	# Drop initramfs images of older init scripts (not one that a run may be booting now).
	find "${INITRD%/*}" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${INITRD##*/}" -mmin +10 \
		-delete 2>/dev/null || true
	rm -rf "$stage"
	trap - EXIT
fi

# --- per-run files (on the host, read by the guest through the 9p share) -----------------
CWD=$(pwd -P)
case $CWD/ in
/proc/*|/sys/*|/dev/*|/run/*) die "the guest mounts fresh /proc, /sys, /dev and /run: run from a directory outside them (now $CWD)" ;;
esac
TMPFS_TMP=1
case $CWD/ in /tmp/*) TMPFS_TMP=0 ;; esac # keep the host's /tmp visible (overlay) then

RUN=$(mktemp -d "${TMPDIR:-/tmp}/agentbpf-guest.XXXXXX")
chmod 755 "$RUN"
case $RUN in *[!A-Za-z0-9._/+-]*) die "temporary directory '$RUN' has unusual characters: set TMPDIR=/tmp" ;; esac
ID=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
QPID=
cleanup() {
	local p
	if [ -s "$RUN/qemu.pid" ]; then
		p=$(cat "$RUN/qemu.pid")
		if kill -0 "$p" 2>/dev/null && grep -qa qemu "/proc/$p/cmdline" 2>/dev/null; then
			kill "$p" 2>/dev/null || true
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				kill -0 "$p" 2>/dev/null || break
				sleep 0.5
			done
			! kill -0 "$p" 2>/dev/null || kill -9 "$p" 2>/dev/null || true
		fi
	fi
	[ -z "$QPID" ] || kill "$QPID" 2>/dev/null || true
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'say "interrupted: stopping the guest"; exit 130' INT
trap 'say "terminated: stopping the guest"; exit 143' TERM HUP

q() { # POSIX shell single-quoting
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
{
	echo "# written by tests/kernels/run.sh"
	for v in $PASS_ENV $(compgen -e | grep -E "^(LC_|AGENTBPF_)" | grep -v "^AGENTBPF_KERNEL_" || true); do
		[ -z "${!v+x}" ] || echo "export $v=$(q "${!v}")"
	done
	for e in ${ENV_ARGS[@]+"${ENV_ARGS[@]}"}; do
		case $e in
		*=*) n=${e%%=*}; val=${e#*=} ;;
		*) n=$e; [ -n "${!n+x}" ] || die "--env $n: not set in the caller's environment"; val=${!n} ;;
		esac
		case $n in ''|[0-9]*|*[!A-Za-z0-9_]*) die "--env '$e': bad variable name" ;; esac
		echo "export $n=$(q "$val")"
	done
	echo "cd $(q "$CWD") || { echo 'run.sh (guest): cannot cd to $CWD'; exit 125; }"
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	echo
} >"$RUN/cmd.sh"

VIRTFS_RW=()
RW_MOUNTS=
i=0
for d in ${RW_DIRS[@]+"${RW_DIRS[@]}"}; do
	[ -d "$d" ] || die "--rw $d: not a directory"
	d=$(cd "$d" && pwd -P)
	case $d in *[!A-Za-z0-9._/+-]*) die "--rw $d: path has characters the guest cannot take" ;; esac
	VIRTFS_RW+=(-virtfs "local,path=$d,mount_tag=rw$i,security_model=none,multidevs=remap")
	RW_MOUNTS="$RW_MOUNTS rw$i:$d"
	i=$((i + 1))
done
{
	echo "CWD=$(q "$CWD")"
	echo "TMPFS_TMP=$TMPFS_TMP"
	echo "RW_MOUNTS=$(q "$RW_MOUNTS")"
} >"$RUN/guest.conf"

# --- boot ------------------------------------------------------------------------------
# -smp 1: with -smp 2, TCG's cross-CPU code patching oopsed while tracepoints were enabled.
# No mitigations=off: it would change what the BPF verifier does (speculation checks).
APPEND="console=ttyS0 loglevel=3 edd=off panic=-1 agentbpf.id=$ID agentbpf.dir=$RUN"
say "booting $KREL (qemu tcg, timeout ${TIMEOUT}s): $*"
T0=$(date +%s.%N)
{
	timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "$MEM" \
		-display none -serial stdio -monitor none -no-reboot -nic none -pidfile "$RUN/qemu.pid" \
		-kernel "$VMLINUZ" -initrd "$INITRD" -append "$APPEND" \
		-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
		${VIRTFS_RW[@]+"${VIRTFS_RW[@]}"} </dev/null 2>&1 &
	echo $! >"$RUN/timeout.pid"
	wait $! && echo 0 >"$RUN/qemu.rc" || echo $? >"$RUN/qemu.rc"
} | tee "$RUN/console.raw" |
	sed -u -e 's/\r*$//' -e "/^AGENTBPF-GUEST-[A-Z]*=\{0,1\}[0-9]* id=$ID/d" \
		-e "s/AGENTBPF-GUEST-[A-Z]*=\{0,1\}[0-9]* id=$ID.*//" \
		-e '/^\[ *[0-9]*\.[0-9]*\] reboot: Power down$/d' &
PIPE=$!
sleep 0.2
QPID=$(cat "$RUN/timeout.pid" 2>/dev/null || true)

T_START=
while kill -0 "$PIPE" 2>/dev/null; do
	if [ -z "$T_START" ] && grep -qa "AGENTBPF-GUEST-START id=$ID" "$RUN/console.raw"; then
		T_START=$(date +%s.%N)
	fi
	sleep 0.2
done
wait "$PIPE" 2>/dev/null || true
T1=$(date +%s.%N)
QPID=
[ -z "$LOG" ] || cp "$RUN/console.raw" "$LOG"

# --- verdict ---------------------------------------------------------------------------
qrc=$(cat "$RUN/qemu.rc" 2>/dev/null || echo '?')
raw=$(tr -d '\r' <"$RUN/console.raw")
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
marker_field() { # line-prefix field
	printf '%s\n' "$raw" | grep -ao "$1 id=$ID uptime=[0-9.]*" | tail -n1 | sed 's/.*uptime=//'
}
rc=$(printf '%s\n' "$raw" | grep -ao "AGENTBPF-GUEST-EXIT=[0-9]* id=$ID" | tail -n1 | sed 's/AGENTBPF-GUEST-EXIT=\([0-9]*\).*/\1/' || true)

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	say "TIMEOUT: the guest was still running after ${TIMEOUT}s; qemu killed (raise --timeout)"
	exit 124
fi
if [ -n "$rc" ]; then
	up_start=$(marker_field AGENTBPF-GUEST-START)
	up_exit=$(marker_field "AGENTBPF-GUEST-EXIT=$rc")
	timing="total $(secs "$T0" "$T1")s"
	[ -z "$T_START" ] || timing="$timing, qemu start to command $(secs "$T0" "$T_START")s"
	[ -z "$up_start" ] || timing="$timing, guest boot to command ${up_start}s"
	[ -z "$up_start" ] || [ -z "$up_exit" ] || timing="$timing, command $(secs "$up_start" "$up_exit")s"
	say "$KREL: command exited $rc ($timing)"
	exit "$rc"
fi
why=$(printf '%s\n' "$raw" | grep -a "AGENTBPF-GUEST-SETUP-FAILED id=$ID" | tail -n1 | sed 's/.*id=[0-9a-f]*: //' || true)
if [ -n "$why" ]; then
	say "guest setup failed before running the command: $why"
	exit 125
fi
if printf '%s\n' "$raw" | grep -qa 'Kernel panic'; then
	say "the guest kernel panicked (see console output above); qemu exit $qrc"
else
	say "the guest ended without reporting an exit status (qemu exit $qrc); see console output above"
fi
exit 125
