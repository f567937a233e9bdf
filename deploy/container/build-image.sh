#!/bin/sh
# Builds the agentbpf container image with buildah, from scratch: no base
# image, no registry. The image holds the daemon, exactly the shared
# libraries `ldd` lists for it (and the dynamic loader), and the default
# config at /etc/agentbpf/agentbpf.yml. Needs root (buildah with the vfs
# storage driver, no fuse or overlay needed).
#
#   deploy/container/build-image.sh [-t TAG] [-b BINARY] [-c CONFIG] [-o DEST]
#
#   -t TAG     image name (default localhost/agentbpf:VERSION)
#   -b BINARY  the daemon (default ./agentbpf, built with make if missing)
#   -c CONFIG  default config baked in (default deploy/agentbpf.yml)
#   -o DEST    also push the image there, as buildah push names it:
#              oci-archive:agentbpf.tar, docker-archive:agentbpf.tar, oci:DIR
#
# BUILDAH_OPTS (default "--storage-driver vfs") go before every buildah
# subcommand, e.g. "--storage-driver vfs --root DIR --runroot DIR" for a
# private image store. Prints the image id last.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILDAH_OPTS=${BUILDAH_OPTS:---storage-driver vfs}
TAG='' BINARY='' CONFIG="$ROOT/deploy/agentbpf.yml" DEST=''
while getopts t:b:c:o: opt; do
	case $opt in
	t) TAG=$OPTARG ;;
	b) BINARY=$OPTARG ;;
	c) CONFIG=$OPTARG ;;
	o) DEST=$OPTARG ;;
	*) sed -n '8,20p' "$0" >&2; exit 2 ;;
	esac
done
if [ -z "$BINARY" ]; then
	BINARY="$ROOT/agentbpf"
	[ -x "$BINARY" ] || make -s -C "$ROOT" agentbpf
fi
[ -x "$BINARY" ] || { echo "build-image: $BINARY is not an executable" >&2; exit 1; }
[ -r "$CONFIG" ] || { echo "build-image: cannot read $CONFIG" >&2; exit 1; }
VERSION=$("$BINARY" --version | awk '{print $NF; exit}')
TAG=${TAG:-localhost/agentbpf:$VERSION}

# shellcheck disable=SC2086
bah() { buildah $BUILDAH_OPTS "$@"; }

ctr=$(bah from --quiet scratch)
trap 'bah umount "$ctr" >/dev/null 2>&1 || true; bah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(bah mount "$ctr")

install -D -m 0755 "$BINARY" "$mnt/usr/local/bin/agentbpf"
install -D -m 0644 "$CONFIG" "$mnt/etc/agentbpf/agentbpf.yml"
# Each library where the loader will look for it (the path ldd shows), as a
# regular file; and the loader at the binary's PT_INTERP path.
ldd "$BINARY" | awk '/=> \// {print $3} /^\t\/[^ ]+ \(0x/ {print $1}' | while read -r lib; do
	install -D -m 0755 "$(readlink -f "$lib")" "$mnt$lib"
done
interp=$(readelf -l "$BINARY" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
[ -f "$mnt$interp" ] || { echo "build-image: loader $interp not copied" >&2; exit 1; }
# ld.so finds the libraries by its built-in default paths; a cache is faster.
ldconfig -r "$mnt" 2>/dev/null || true
mkdir -p "$mnt/tmp" "$mnt/proc" "$mnt/sys" "$mnt/dev"

bah config \
	--entrypoint '["/usr/local/bin/agentbpf"]' \
	--cmd '["--config", "/etc/agentbpf/agentbpf.yml"]' \
	--port 9091/tcp \
	--user 0:0 \
	--workingdir / \
	--env PATH=/usr/local/bin \
	--label org.opencontainers.image.title=agentbpf \
	--label org.opencontainers.image.description="BPF metrics for AI agents, served for Prometheus on :9091" \
	--label org.opencontainers.image.version="$VERSION" \
	"$ctr"
bah umount "$ctr" >/dev/null
id=$(bah commit --quiet --format oci --rm "$ctr" "$TAG")
trap - EXIT
[ -z "$DEST" ] || bah push --quiet "$TAG" "$DEST"
echo "$id"
