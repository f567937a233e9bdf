#!/bin/sh
# Installs from Debian's archive whatever building, testing and the demo need
# and is not installed yet. Run as root; does nothing when all is present.
set -e
PKGS="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libmicrohttpd-dev
libyaml-dev libcmocka-dev pkg-config curl procps iproute2 util-linux
prometheus python3 python3-fastapi python3-uvicorn python3-redis python3-httpx
python3-prometheus-client python3-trustme python3-aiohttp python3-requests
redis-server nats-server nginx-light wrk linux-perf
xxd chromium
buildah systemd python3-yaml python3-seccomp python3-kubernetes
qemu-system-x86 busybox-static cpio xz-utils"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# The build vendors the live view's JS library with npm; a Node.js that
# bundles npm (not Debian's packaging) is fine as it is.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing — run as root (sudo make deps)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Services must not start on their own: tests start their own instances.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends $missing >/dev/null
