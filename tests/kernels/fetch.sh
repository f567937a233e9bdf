#!/bin/bash
# tests/kernels/fetch.sh KVER — make a Debian generic kernel available for qemu tests.
#
#   KVER = 6.1   newest linux-image-6.1.0-N-amd64-unsigned of bookworm (+security/updates)
#   KVER = 6.12  newest linux-image-6.12.*+deb12-amd64-unsigned of bookworm-backports
#
# Idempotent. Makes sure qemu-system-x86, busybox-static, cpio and xz-utils are installed,
# picks the package by asking apt-cache (the choice is printed on stderr), fetches it with
# `apt-get download` (never installed) and unpacks it with `dpkg-deb -x` into
#   ${AGENTBPF_KERNEL_CACHE:-/var/cache/agentbpf-kernels}/<abi>/      (e.g. 6.1.0-57-amd64)
# and prints that directory (the only line on stdout). <cache>/<KVER> is a symlink to the
# newest one fetched. Set AGENTBPF_KERNEL_PKG=linux-image-...-unsigned to pin a package.
# Network: only Debian's archive, through apt-get.
set -eu

CACHE=${AGENTBPF_KERNEL_CACHE:-/var/cache/agentbpf-kernels}
BACKPORTS_LIST=/etc/apt/sources.list.d/agentbpf-bookworm-backports.list
TOOLS_PKGS="qemu-system-x86 busybox-static cpio xz-utils"

say() { printf 'fetch.sh: %s\n' "$*" >&2; }
die() { printf 'fetch.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
	cat >&2 <<'EOF'
usage: tests/kernels/fetch.sh KVER        (KVER: 6.1 or 6.12)
Prints the directory holding the unpacked kernel (boot/vmlinuz-*, lib/modules/*).
Env: AGENTBPF_KERNEL_CACHE (default /var/cache/agentbpf-kernels),
     AGENTBPF_KERNEL_PKG (pin a linux-image-*-unsigned package name).
EOF
	exit 2
}

[ $# -eq 1 ] || usage
KVER=$1
case $KVER in
6.1)  PATTERN='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ; NEED_BACKPORTS=0 ;;
6.12) PATTERN='^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' ; NEED_BACKPORTS=1 ;;
-h|--help) usage ;;
*) die "unknown KVER '$KVER' (supported: 6.1, 6.12)" ;;
esac

as_root() {
	[ "$(id -u)" -eq 0 ] || die "$1 needs root: run 'sudo $0 $KVER' once"
}

APT_UPDATED=0
apt_update() {
	[ $APT_UPDATED -eq 0 ] || return 0
	as_root "apt-get update"
	say "apt-get update"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
		die "apt-get update failed: check network access to the Debian mirror in /etc/apt/sources.list{,.d}"
	APT_UPDATED=1
}

# --- 1. host tools ---------------------------------------------------------------------
missing=
for p in $TOOLS_PKGS; do
	st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
	as_root "installing$missing"
	say "installing$missing"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2; then
		apt_update
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2 ||
			die "could not install$missing: run 'apt-get update && apt-get install$missing'"
	fi
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found after installing qemu-system-x86"
[ -x /bin/busybox ] || die "/bin/busybox missing: apt-get install --reinstall busybox-static"

# --- 2. choose the package -------------------------------------------------------------
has_backports() {
	grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/
}
# The mirror apt already uses for bookworm (deb822 .sources or one-line lists).
bookworm_uri() {
	{
		awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null
		awk '$1 == "deb" { for (i = 2; i < NF; i++) if ($(i+1) == "bookworm" && $i !~ /^\[/) { print $i; exit } }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | head -n 1
}
add_backports() {
	as_root "adding bookworm-backports to apt's sources"
	say "adding $BACKPORTS_LIST"
	# Same mirror and keyring as the main bookworm source.
	local opt= uri
	uri=$(bookworm_uri)
	[ -n "$uri" ] || die "no bookworm source in /etc/apt/sources.list{,.d}: add bookworm-backports to apt's sources by hand"
	[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] &&
		opt='[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] '
	echo "deb ${opt}$uri bookworm-backports main" >"$BACKPORTS_LIST"
	APT_UPDATED=0
	apt_update
}

# Newest package name matching PATTERN that has an installable candidate.
choose_pkg() {
	local p cand
	for p in $(apt-cache search --names-only "$PATTERN" 2>/dev/null | awk '{print $1}' | sort -rV); do
		cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
		if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
			echo "$p $cand"
			return 0
		fi
	done
	return 1
}

if [ -n "${AGENTBPF_KERNEL_PKG:-}" ]; then
	PKG=$AGENTBPF_KERNEL_PKG
	PKGVER=$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
	if [ -z "$PKGVER" ] || [ "$PKGVER" = "(none)" ]; then
		apt_update
		PKGVER=$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
	fi
	[ -n "$PKGVER" ] && [ "$PKGVER" != "(none)" ] ||
		die "AGENTBPF_KERNEL_PKG=$PKG is not known to apt (apt-cache policy $PKG)"
	say "using pinned $PKG $PKGVER"
else
	if ! sel=$(choose_pkg); then
		# 6.12 comes from bookworm-backports (newer builds also reach bookworm-security).
		if [ $NEED_BACKPORTS -eq 1 ] && ! has_backports; then
			add_backports
		else
			apt_update
		fi
		sel=$(choose_pkg) || die "no package matching $PATTERN in apt's lists; check 'apt-cache search linux-image-$KVER' and your apt sources"
	fi
	PKG=${sel% *}
	PKGVER=${sel#* }
	say "kernel $KVER: chose $PKG $PKGVER (newest matching $PATTERN)"
fi

ABI=${PKG#linux-image-}
ABI=${ABI%-unsigned}
DEST=$CACHE/$ABI

# --- 3. download + unpack (skipped when already cached) --------------------------------
cached_ok() {
	[ -f "$1/.complete" ] && ls "$1"/boot/vmlinuz-* >/dev/null 2>&1
}
# Sets OLD to an earlier unpacked kernel for KVER (same ABI first), if any.
use_cached() {
	OLD=
	if cached_ok "$DEST"; then
		OLD=$DEST
	elif [ -L "$CACHE/$KVER" ] && cached_ok "$CACHE/$KVER"; then
		OLD=$(readlink -f "$CACHE/$KVER")
	fi
	[ -n "$OLD" ]
}

if cached_ok "$DEST" && [ "$(cat "$DEST/.complete")" = "$PKG $PKGVER" ]; then
	:
elif cached_ok "$DEST" && [ -n "${AGENTBPF_KERNEL_PKG:-}" ]; then
	: # pinned: any cached build of that ABI will do
elif [ "$(id -u)" -ne 0 ] && use_cached; then
	say "warning: $PKG $PKGVER is not cached and downloading needs root; using the cached $OLD"
	echo "$OLD"
	exit 0
else
	as_root "downloading $PKG"
	mkdir -p "$CACHE"
	tmp=$(mktemp -d "$CACHE/.dl.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download drops privileges to _apt: let it write there.
	chmod 755 "$CACHE" "$tmp"
	chown _apt "$tmp" 2>/dev/null || true
	say "apt-get download $PKG=$PKGVER"
	if ! (cd "$tmp" && apt-get download -q "$PKG=$PKGVER" >&2); then
		apt_update
		PKGVER=$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
		if ! (cd "$tmp" && apt-get download -q "$PKG=$PKGVER" >&2); then
			# Offline? Fall back to what a previous run unpacked.
			if use_cached; then
				say "warning: download of $PKG failed; using the cached $OLD"
				echo "$OLD"
				exit 0
			fi
			die "apt-get download $PKG failed: check network access to the Debian mirror ('apt-get update')"
		fi
	fi
	deb=$(ls "$tmp"/*.deb)
	say "unpacking $(basename "$deb") into $DEST"
	rm -rf "$tmp/x"
	dpkg-deb -x "$deb" "$tmp/x"
	ls "$tmp"/x/boot/vmlinuz-* >/dev/null 2>&1 || die "$deb has no boot/vmlinuz-*: not a kernel image package?"
	echo "$PKG $PKGVER" >"$tmp/x/.complete"
	rm -rf "$DEST.old"
	[ ! -e "$DEST" ] || mv "$DEST" "$DEST.old"
	mv "$tmp/x" "$DEST"
	rm -rf "$DEST.old"
	rm -rf "$tmp"
	trap - EXIT
	FETCHED=1
fi

# <cache>/<KVER> -> newest fetched (used as an offline fallback).
if [ -w "$CACHE" ] && [ "$(readlink "$CACHE/$KVER" 2>/dev/null)" != "$ABI" ]; then
	ln -sfn "$ABI" "$CACHE/$KVER.tmp.$$" && mv -T "$CACHE/$KVER.tmp.$$" "$CACHE/$KVER"
fi
[ "${FETCHED:-0}" -eq 0 ] || say "kernel $KVER: $PKG $(cut -d' ' -f2 "$DEST/.complete") unpacked in $DEST"
echo "$DEST"
