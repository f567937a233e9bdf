#!/bin/busybox sh
# /init of the agentbpf test initramfs (built by tests/kernels/run.sh; see README.md).
#
# Loads the modules listed in /lib/modules/order, mounts the host's root (9p, read-only)
# under a tmpfs-backed overlay at /newroot, mounts the usual API filesystems in it,
# brings up lo, then chroots and runs the host-written /run/agentbpf/cmd.sh with the
# console as stdout/stderr and /dev/null as stdin. Reports back on the console:
#   AGENTBPF-GUEST-START id=<id> uptime=<s>
#   AGENTBPF-GUEST-EXIT=<rc> id=<id> uptime=<s>
#   AGENTBPF-GUEST-SETUP-FAILED id=<id>: <what>
# and powers off. Kernel command line: agentbpf.id=<id> agentbpf.dir=<host run dir>.
set -eu
ID=unknown
STAGE="early setup"
# Any unexpected failure: report it and power off (pid 1 exiting would panic the kernel).
trap 'echo "AGENTBPF-GUEST-SETUP-FAILED id=$ID: /init failed during: $STAGE"; poweroff -f' EXIT
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
exec </dev/console >/dev/console 2>&1

DIR=
for a in $(cat /proc/cmdline); do
	case $a in
	agentbpf.id=*) ID=${a#*=} ;;
	agentbpf.dir=*) DIR=${a#*=} ;;
	esac
done

up() { cut -d' ' -f1 /proc/uptime; }

fail() {
	trap - EXIT
	echo "AGENTBPF-GUEST-SETUP-FAILED id=$ID: $*"
	poweroff -f
	sleep 10
}

STAGE="loading modules"
while read -r m; do
	[ -n "$m" ] || continue
	insmod "/lib/modules/$m.ko" || fail "insmod $m failed"
done </lib/modules/order

STAGE="mounting the root"
mkdir -p /lower /ovl /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /lower ||
	mount -t 9p -o trans=virtio,version=9p2000.L,ro host /lower ||
	fail "mounting the host's root over 9p (mount_tag=host) failed"
[ -n "$DIR" ] && [ -r "/lower$DIR/guest.conf" ] || fail "no $DIR/guest.conf in the 9p share"
# guest.conf sets: CWD, TMPFS_TMP (1/0), RW_MOUNTS ("tag:path ...")
# shellcheck disable=SC1090
. "/lower$DIR/guest.conf"

mount -t tmpfs -o mode=0755 tmpfs /ovl || fail "tmpfs for the overlay"
mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/ovl/upper,workdir=/ovl/work /newroot ||
	fail "overlay (9p lower, tmpfs upper) failed"

R=/newroot
mnt() { # type target [options]
	mkdir -p "$R$2" 2>/dev/null || true
	mount -t "$1" ${3:+-o "$3"} "$1" "$R$2" || fail "mount -t $1 $2 failed"
}
mnt proc /proc
mnt sysfs /sys
mnt devtmpfs /dev
mnt devpts /dev/pts newinstance,ptmxmode=0666
mnt tmpfs /dev/shm mode=1777
mnt tracefs /sys/kernel/tracing
mount -t debugfs debugfs "$R/sys/kernel/debug" 2>/dev/null || true
mnt bpf /sys/fs/bpf mode=0700
mnt cgroup2 /sys/fs/cgroup
mnt tmpfs /run mode=0755
if [ "$TMPFS_TMP" = 1 ]; then mnt tmpfs /tmp mode=1777; fi
for t in $RW_MOUNTS; do
	mkdir -p "$R${t#*:}" 2>/dev/null || true
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 "${t%%:*}" "$R${t#*:}" ||
		fail "mounting ${t#*:} read-write (9p tag ${t%%:*}) failed"
done

ip link set lo up || ifconfig lo 127.0.0.1 up || fail "bringing up lo failed"
STAGE="network and command setup"
[ ! -r "$R/etc/hostname" ] || hostname "$(cat "$R/etc/hostname")" || true

mkdir -p "$R/run/agentbpf"
cp "/lower$DIR/cmd.sh" "$R/run/agentbpf/cmd.sh" || fail "copying cmd.sh"

echo "AGENTBPF-GUEST-START id=$ID uptime=$(up)"
rc=0
env -i /bin/busybox chroot "$R" /bin/sh /run/agentbpf/cmd.sh </dev/null || rc=$?
trap - EXIT
echo "AGENTBPF-GUEST-EXIT=$rc id=$ID uptime=$(up)"
for t in $RW_MOUNTS; do umount "$R${t#*:}" 2>/dev/null || true; done
sync
poweroff -f
sleep 10
