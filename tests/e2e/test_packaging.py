"""The deployment bundle, proven against the real thing: the systemd unit is
verified by systemd-analyze and the daemon runs under the unit's own
sandbox (its user, capabilities, read-only filesystem, syscall filter),
each of whose four capabilities is shown to be needed; the container image
is built with buildah, unpacked from its OCI layout and its root filesystem
run read-only with exactly the DaemonSet's capabilities, mounts, user, args
and memory limit, read from the manifest; the manifests decode losslessly
into the Kubernetes API types and agree with what the tests ran. Every run
measures real agents on the host: exact request counts, processes, fds, I/O.

Also a script: `test_packaging.py --runner SPEC` is the launcher those runs
use (mounts, chroot, uid, capabilities, no_new_privs, seccomp, then exec)."""
import ctypes
import errno
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import (AGENTBPF, PY, ROOT, Procs, Scrape, Service, TestFailure, check, eq,  # noqa: E402
                     free_port, parse_metrics, remove_cgroup, run, v2_has_memory, wait_port,
                     wait_until)

UNIT = os.path.join(ROOT, "deploy", "systemd", "agentbpf.service")
K8S = os.path.join(ROOT, "deploy", "kubernetes")
BUILD_IMAGE = os.path.join(ROOT, "deploy", "container", "build-image.sh")
THIS = os.path.abspath(__file__)

# linux/capability.h, in order: the bit number is the index.
CAP_NAMES = ["chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
             "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
             "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
             "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
             "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
             "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
             "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"]


def cap_number(name):
    """CAP_BPF (systemd) or BPF (Kubernetes) -> 39."""
    n = name.lower()
    return CAP_NAMES.index(n[4:] if n.startswith("cap_") else n)


def cap_mask(caps):
    return sum(1 << c for c in caps)


# ---------------------------------------------------------------- the runner
# Runs as root in the namespaces `unshare` made, builds the mounts, enters the
# root, drops to the spec's identity and capabilities, then execs.

PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_CLEAR_ALL = 47, 2, 4


def _mount(*args):
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"mount {' '.join(args)}: {r.stderr.strip()}")


def _mountpoints():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            out.append((mp, fields[5].split(",")))
    return out


def _under(path, top):
    return top == "/" or path == top or path.startswith(top.rstrip("/") + "/")


def _ro_tree(top, skip=()):
    """Read-only remount of top and every mount below it, skipping the
    subtrees in skip and mounts already read-only."""
    for mp, opts in _mountpoints():
        if _under(mp, top) and "ro" not in opts and not any(_under(mp, s) for s in skip):
            _mount("-o", "remount,bind,ro", mp)


def _make_dev(path):
    """A private /dev: tmpfs with the usual character devices."""
    _mount("-t", "tmpfs", "-o", "mode=755,nosuid,noexec", "tmpfs", path)
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                               ("urandom", 1, 9), ("tty", 5, 0)):
        os.mknod(os.path.join(path, name), 0o20666, os.makedev(major, minor))
        os.chmod(os.path.join(path, name), 0o666)
    for d in ("pts", "shm"):
        os.mkdir(os.path.join(path, d))
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", os.path.join(path, "shm"))


def _do_mount(m):
    op = m["op"]
    if op == "mkdir":
        os.makedirs(m["path"], exist_ok=True)
    elif op == "bind":
        _mount("--rbind" if m.get("recursive") else "--bind", m["src"], m["dst"])
        if m.get("ro"):
            _ro_tree(m["dst"])
    elif op == "fs":
        _mount("-t", m["type"], "-o", m.get("options", "defaults"), m["type"], m["dst"])
    elif op == "overlay":
        _mount("-t", "overlay", "-o", "lowerdir=" + ":".join(m["lower"]), "overlay", m["dst"])
    elif op == "ro_tree":
        _ro_tree(m["dst"], m.get("skip", ()))
    elif op == "inaccessible":
        if os.path.isdir(m["dst"]):
            _mount("-t", "tmpfs", "-o", "ro,mode=000,nosuid,nodev,noexec", "tmpfs", m["dst"])
        elif os.path.exists(m["dst"]):
            _mount("--bind", "/dev/null", m["dst"])
    elif op == "dev":
        _make_dev(m["dst"])
    else:
        raise RuntimeError(f"unknown mount op {op}")


def _capset(libc, effective, permitted, inheritable):
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)      # _LINUX_CAPABILITY_VERSION_3
    data = (ctypes.c_uint32 * 6)()
    for i, mask in enumerate((effective, permitted, inheritable)):
        data[i] = mask & 0xffffffff
        data[3 + i] = mask >> 32
    if libc.capset(header, data):
        raise OSError(ctypes.get_errno(), "capset")


def _seccomp(spec):
    """The filter systemd builds from SystemCallFilter= and friends."""
    import seccomp
    default = seccomp.ERRNO(spec["errno"]) if spec.get("errno") else seccomp.KILL_PROCESS
    f = seccomp.SyscallFilter(defaction=default)
    allow = set(spec["allow"])
    cond = {}                           # syscall -> list of conditional allow rules
    if spec.get("families") is not None:
        allow.discard("socket")
        cond["socket"] = [[seccomp.Arg(0, seccomp.EQ, fam)] for fam in spec["families"]]
    if spec.get("mdwe"):
        w, x = 0x2, 0x4                 # PROT_WRITE, PROT_EXEC
        for name in ("mmap", "mprotect", "pkey_mprotect", "shmat"):
            allow.discard(name)
        cond["mmap"] = [[seccomp.Arg(2, seccomp.MASKED_EQ, w | x, v)] for v in (0, w, x)]
        cond["mprotect"] = [[seccomp.Arg(2, seccomp.MASKED_EQ, x, 0)]]
        cond["pkey_mprotect"] = [[seccomp.Arg(2, seccomp.MASKED_EQ, x, 0)]]
        cond["shmat"] = [[seccomp.Arg(2, seccomp.MASKED_EQ, 0o100000, 0)]]   # SHM_EXEC
    if spec.get("restrict_namespaces"):
        ns = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000
        for name in ("unshare", "setns", "clone", "clone3"):
            allow.discard(name)
        cond["clone"] = [[seccomp.Arg(0, seccomp.MASKED_EQ, ns, 0)]]
        f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")   # so glibc falls back to clone
    if spec.get("lock_personality"):
        allow.discard("personality")
        cond["personality"] = [[seccomp.Arg(0, seccomp.EQ, v)] for v in (0, 0xffffffff)]
    for name in sorted(allow):
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass                        # a name of another architecture
    for name, rules in cond.items():
        if name in spec["allow"]:
            for args in rules:
                f.add_rule(seccomp.ALLOW, name, *args)
    f.load()


def runner(spec):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

    def prctl(*a):
        a = list(a) + [0] * (5 - len(a))
        if libc.prctl(*a) < 0:
            raise OSError(ctypes.get_errno(), f"prctl{tuple(a)}")

    for cg in spec.get("cgroups", []):
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    for m in spec["mounts"]:
        _do_mount(m)
    if spec.get("lo_up"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last_cap = int(f.read())
    if spec.get("chroot"):
        os.chroot(spec["chroot"])
    os.chdir(spec.get("cwd") or "/")
    keep = cap_mask(spec["caps"])
    for c in range(last_cap + 1):
        if not keep >> c & 1:
            prctl(PR_CAPBSET_DROP, c)
    uid, gid = spec["uid"], spec["gid"]
    prctl(PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _capset(libc, keep, keep, keep if spec["ambient"] else 0)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    if spec["ambient"]:
        for c in spec["caps"]:
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c)
    if spec.get("umask") is not None:
        os.umask(spec["umask"])
    if spec.get("nnp"):
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    if spec.get("seccomp"):
        _seccomp(spec["seccomp"])
    os.execve(spec["argv"][0], spec["argv"], spec["env"])


# ---------------------------------------------------------------- helpers

def ns_prefix(netns):
    """unshare(1) for a private mount namespace (and the pod's namespaces)."""
    return ["unshare", "-m", "--propagation", "private"] + (["-n", "-u", "-i"] if netns else [])


class Sandboxed(Service):
    """The daemon started through the runner; stopped and cleaned up on exit."""

    def __init__(self, spec, netns=False):
        self.dir = tempfile.mkdtemp(prefix="agentbpf-pkg-run-")
        self.spec_path = os.path.join(self.dir, "spec.json")
        with open(self.spec_path, "w") as f:
            json.dump(spec, f)
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen([*ns_prefix(netns), PY, THIS, "--runner", self.spec_path],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.netns = netns

    @property
    def pid(self):
        return self.proc.pid

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def get(self, port, path):
        """(status, body) of an HTTP GET on 127.0.0.1:port in the daemon's
        network namespace (the pod's own, like the kubelet's probes)."""
        code = ("import sys,urllib.request,urllib.error\n"
                "try:\n"
                f" r=urllib.request.urlopen('http://127.0.0.1:{port}{path}',timeout=10)\n"
                " s,b=r.status,r.read()\n"
                "except urllib.error.HTTPError as e:\n s,b=e.code,e.read()\n"
                "sys.stdout.write(str(s)+'\\n'+b.decode())\n")
        argv = [PY, "-c", code]
        if self.netns:
            argv = ["nsenter", "-t", str(self.pid), "-n", *argv]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        if r.returncode:
            raise OSError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "fetch failed")
        status, _, body = r.stdout.partition("\n")
        return int(status), body

    def wait_healthy(self, port, path="/healthz", timeout=20):
        def ok():
            if self.proc.poll() is not None:
                return "exited"
            try:
                return self.get(port, path)[0] == 200
            except OSError:
                return False
        st = wait_until(ok, timeout, f"daemon {path} on :{port}", interval=0.2)
        if st == "exited":
            raise TestFailure(f"daemon exited with {self.proc.returncode}: {self.logtext()}")

    def scrape(self, port):
        status, body = self.get(port, "/metrics")
        eq(status, 200, "/metrics status")
        return Scrape(parse_metrics(body))

    def status(self):
        with open(f"/proc/{self.pid}/status") as f:
            return dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)

    def mounts(self):
        """{mount point: options} as the daemon sees them (the last mount wins)."""
        out = {}
        with open(f"/proc/{self.pid}/mountinfo") as f:
            for line in f:
                fields = line.split()
                out[fields[4]] = fields[5].split(",")
        return out




class Agents:
    """Two http.server agents on the host, started before the daemon (so the
    daemon finds them in its /proc scan): one as root with every capability,
    one as another user (nobody). Reading their exe, fds and io is what
    CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH are for."""
    REQUESTS = {"root": 7, "user": 5}

    def __init__(self, ps, tag):
        self.tmp = tempfile.mkdtemp(prefix=f"agentbpf-pkg-{tag}-")
        os.chmod(self.tmp, 0o755)
        self.agents = {}
        for who, pre in (("root", []),
                         ("user", ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])):
            d = os.path.join(self.tmp, f"{tag}-{who}")
            os.mkdir(d)
            os.chmod(d, 0o755)
            port = free_port()
            p = ps.start([*pre, PY, "-m", "http.server", "--bind", "127.0.0.1", "--directory", d,
                          str(port)])
            wait_port(port)
            self.agents[who] = {"name": f"pkg-{who}", "proc": p, "port": port,
                                "glob": f"*http.server*--directory {d} *"}

    def config(self):
        return [{"name": a["name"], "match": {"cmdline": a["glob"], "exe": "/usr/bin/python3*"}}
                for a in self.agents.values()]

    def send_requests(self):
        from httpclient import Conn, request
        for who, a in self.agents.items():
            for _ in range(self.REQUESTS[who]):
                with Conn(a["port"]) as c:
                    c.send(request("GET", "/"))
                    eq(c.response()[0], 200, f"{who} agent status")

    def mismatches(self, s):
        """Where the scrape differs from the truth read from /proc here."""
        out = []
        for who, a in self.agents.items():
            pid, t = a["proc"].pid, a["name"]
            with open(f"/proc/{pid}/io") as f:
                io = dict(line.split(": ") for line in f.read().splitlines())
            truth = {("agent_processes", ()): 1,
                     ("agent_requests_total", (("status", "success"),)): self.REQUESTS[who],
                     ("agent_open_fds", ()): len(os.listdir(f"/proc/{pid}/fd")),
                     ("agent_io_bytes_total", (("direction", "read"),)): int(io["rchar"]),
                     ("agent_io_bytes_total", (("direction", "write"),)): int(io["wchar"])}
            for (name, labels), want in truth.items():
                got = s.get(name, agent_type=t, **dict(labels))
                if got != want:
                    out.append(f"{name}{{agent_type={t},{dict(labels)}}} = {got}, truth {want}")
        return out

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def assert_measures(d, agents, port):
    """Exact request counts, processes, fds and I/O of both agents."""
    agents.send_requests()
    wait_until(lambda: not agents.mismatches(d.scrape(port)), 15,
               "metrics equal to the truth", interval=0.3)
    time.sleep(0.5)
    eq(agents.mismatches(d.scrape(port)), [], "metrics after settling")


def status_caps(st):
    return {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


# ---------------------------------------------------------------- systemd

def unit_settings(path=UNIT):
    """{(section, key): [values]} of a unit file."""
    out, section = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, v = line.split("=", 1)
            out.setdefault((section, k.strip()), []).append(v.strip())
    return out


# What the service manager does that a test outside systemd leaves out; the
# rest of the [Service] section is emulated by unit_spec(), and a directive
# in neither list fails the test until someone decides which it is.
NOT_EMULATED = {
    "Type", "Restart", "RestartSec", "RestartPreventExitStatus", "TimeoutStopSec",  # lifecycle
    "ProtectKernelModules",   # drops CAP_SYS_MODULE (not in the set), hides /usr/lib/modules
    "ProtectClock",           # denies clock_settime/adjtimex, which the daemon never calls
    "ProtectHostname",        # a UTS namespace
    "RestrictRealtime",       # denies SCHED_FIFO/RR, never asked for
    "RestrictSUIDSGID",       # denies setting suid bits, never done
    "RemoveIPC",              # cleanup of SysV IPC at stop
    "LimitMEMLOCK",           # only kernels < 5.11 charge BPF maps to it
}


def systemd_syscalls(group, seen=None):
    """A SystemCallFilter= group expanded by systemd itself."""
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    r = run(["systemd-analyze", "syscall-filter", "--no-pager", group])
    eq(r.returncode, 0, f"systemd-analyze syscall-filter {group}: {r.stderr}")
    out = set()
    for line in r.stdout.splitlines()[1:]:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        out |= systemd_syscalls(name, seen) if name.startswith("@") else {name}
    return out


def dynamic_uid():
    """A free uid in systemd's DynamicUser= range."""
    used = set()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                used.add(os.stat(f"/proc/{p}").st_uid)
            except OSError:
                pass
    for uid in range(61184 + os.getpid() % 4000, 65520):
        if uid not in used:
            return uid
    raise TestFailure("no free uid in 61184..65519")


def unit_spec(settings, stage, caps=None):
    """A runner spec doing what systemd does with the unit's [Service]."""
    svc = {k: v for (s, k), v in settings.items() if s == "Service"}
    unknown = set(svc) - NOT_EMULATED - {
        "ExecStart", "DynamicUser", "CapabilityBoundingSet", "AmbientCapabilities",
        "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
        "ProtectKernelTunables", "ProtectControlGroups", "ProtectKernelLogs", "UMask",
        "SystemCallFilter", "SystemCallErrorNumber", "SystemCallArchitectures",
        "RestrictAddressFamilies", "MemoryDenyWriteExecute", "LockPersonality",
        "RestrictNamespaces"}
    eq(sorted(unknown), [], "unit directives neither emulated nor known to need no emulation")

    def one(key, default=None):
        return svc[key][-1] if key in svc else default

    def yes(key):
        return one(key, "no") in ("yes", "true", "1", "on")

    argv = one("ExecStart").split()
    binary = argv[0]
    bset = {cap_number(c) for c in one("CapabilityBoundingSet").split()}
    ambient = {cap_number(c) for c in one("AmbientCapabilities").split()}
    if caps is not None:                 # a reduced set, to show each one is needed
        bset &= set(caps)
        ambient &= set(caps)
    check(yes("DynamicUser"), "the unit runs as a dynamic user")
    eq(ambient, bset, "ambient capabilities are the whole bounding set")
    uid = dynamic_uid()

    mounts = [
        # make install put the binary and config where the unit says: show
        # the host that tree without writing to it.
        {"op": "overlay", "dst": os.path.dirname(binary),
         "lower": [stage + os.path.dirname(binary), os.path.dirname(binary)]},
        {"op": "overlay", "dst": "/etc", "lower": [stage + "/etc", "/etc"]},
    ]
    eq(one("ProtectSystem"), "strict", "ProtectSystem")
    mounts.append({"op": "ro_tree", "dst": "/", "skip": ["/proc", "/sys", "/dev"]})
    if one("ProtectHome") in ("yes", "true"):
        mounts += [{"op": "inaccessible", "dst": d} for d in ("/home", "/root", "/run/user")]
    if yes("PrivateTmp"):
        mounts += [{"op": "fs", "type": "tmpfs", "dst": d, "options": "mode=1777,nosuid,nodev"}
                   for d in ("/tmp", "/var/tmp")]
    if yes("PrivateDevices"):
        mounts.append({"op": "dev", "dst": "/dev"})
    if yes("ProtectKernelTunables"):
        mounts += [{"op": "bind", "src": "/proc/sys", "dst": "/proc/sys", "ro": True},
                   {"op": "inaccessible", "dst": "/proc/kallsyms"},
                   {"op": "inaccessible", "dst": "/proc/kcore"},
                   {"op": "ro_tree", "dst": "/sys"}]
    if yes("ProtectControlGroups"):
        mounts.append({"op": "ro_tree", "dst": "/sys/fs/cgroup"})
    if yes("ProtectKernelLogs"):
        mounts.append({"op": "inaccessible", "dst": "/proc/kmsg"})

    filt = None
    if "SystemCallFilter" in svc:
        allow = set()
        for value in svc["SystemCallFilter"]:
            check(not value.startswith("~"), "the filter is an allow list")
            for name in value.split():
                allow |= systemd_syscalls(name) if name.startswith("@") else {name}
        allow |= systemd_syscalls("@default")    # systemd adds it to every allow list
        eq(one("SystemCallArchitectures"), "native", "SystemCallArchitectures")
        filt = {"allow": sorted(allow),
                "errno": getattr(errno, one("SystemCallErrorNumber")) if "SystemCallErrorNumber" in svc else None,
                "families": [{"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16}[fam]
                             for fam in one("RestrictAddressFamilies").split()]
                if "RestrictAddressFamilies" in svc else None,
                "mdwe": yes("MemoryDenyWriteExecute"),
                "restrict_namespaces": yes("RestrictNamespaces"),
                "lock_personality": yes("LockPersonality")}
    return {"mounts": mounts, "uid": uid, "gid": uid, "caps": sorted(bset), "ambient": True,
            "nnp": yes("NoNewPrivileges"), "umask": int(one("UMask", "0022"), 8),
            "seccomp": filt, "argv": argv, "env": {"PATH": "/usr/local/bin:/usr/bin:/bin"}}


def install_stage(settings, config):
    """make install into a staging tree, at the unit's paths, with the test's
    config in place of the example one."""
    svc = {k: v for (s, k), v in settings.items() if s == "Service"}
    argv = svc["ExecStart"][-1].split()
    binary, cfg = argv[0], argv[argv.index("--config") + 1]
    check(binary.endswith("/bin/agentbpf"), f"ExecStart binary {binary}")
    stage = tempfile.mkdtemp(prefix="agentbpf-pkg-stage-")
    os.chmod(stage, 0o755)
    r = run(["make", "-s", "-C", ROOT, "install", f"DESTDIR={stage}",
             f"PREFIX={os.path.dirname(os.path.dirname(binary))}",
             f"SYSCONFDIR={os.path.dirname(os.path.dirname(cfg))}"])
    eq(r.returncode, 0, f"make install: {r.stderr}")
    check(os.access(stage + binary, os.X_OK), f"make install puts the binary at {binary}")
    check(os.path.isfile(stage + cfg), f"make install puts the config at {cfg}")
    with open(stage + cfg, "w") as f:
        f.write(config)
    os.chmod(stage + cfg, 0o644)
    return stage


def test_systemd_unit_verifies_clean():
    with tempfile.TemporaryDirectory() as d:
        # The unit names the installed path; verify needs an executable there.
        with open(UNIT) as f:
            text = f.read()
        check(re.search(r"^ExecStart=/usr/local/bin/agentbpf ", text, re.M), "ExecStart path")
        copy = os.path.join(d, "agentbpf.service")
        with open(copy, "w") as f:
            f.write(text.replace("ExecStart=/usr/local/bin/agentbpf ", f"ExecStart={AGENTBPF} "))
        r = run(["systemd-analyze", "verify", copy])
        eq((r.returncode, r.stdout + r.stderr), (0, ""), "systemd-analyze verify")
        r = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", copy])
        m = re.search(r"Overall exposure level for agentbpf.service: ([0-9.]+) (\w+)", r.stdout)
        check(m, f"systemd-analyze security: {r.stdout[-300:]}{r.stderr}")
        print(f"    systemd-analyze security: exposure {m.group(1)} {m.group(2)}")
        check(float(m.group(1)) <= 2.5, f"exposure {m.group(1)} within 2.5")


def _unit_run(settings, agents, port, caps=None):
    import yaml
    config = yaml.safe_dump({"listen": f"127.0.0.1:{port}", "agents": agents.config()})
    stage = install_stage(settings, config)
    try:
        return Sandboxed(unit_spec(settings, stage, caps)), stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def test_daemon_under_the_units_sandbox_measures_agents():
    settings = unit_settings()
    with Procs() as ps:
        agents = Agents(ps, f"u{os.getpid()}")
        port = free_port()
        d, stage = _unit_run(settings, agents, port)
        try:
            with d:
                d.wait_healthy(port)
                st = d.status()
                mask = cap_mask({cap_number(c) for c in
                                 settings[("Service", "CapabilityBoundingSet")][-1].split()})
                # The unit's four; the daemon clears the inherited and ambient
                # sets once up (it starts no program: user/caps.c).
                eq(status_caps(st), {"CapInh": 0, "CapPrm": mask, "CapEff": mask,
                                     "CapBnd": mask, "CapAmb": 0}, "daemon capabilities")
                check(st["Uid"].split()[0] != "0" and int(st["Uid"].split()[0]) >= 61184,
                      f"dynamic uid, not root: {st['Uid']}")
                eq(st["NoNewPrivs"].strip(), "1", "NoNewPrivs")
                eq(st["Seccomp"].strip(), "2", "seccomp filter mode")
                mounts = d.mounts()
                for mp in ("/", "/etc", "/usr/local/bin", "/sys", "/sys/fs/cgroup/unified", "/proc/sys"):
                    if mp in mounts:
                        check("ro" in mounts[mp], f"{mp} read-only for the daemon: {mounts[mp]}")
                check("ro" in mounts["/"] and "rw" in mounts["/tmp"], "strict system, private /tmp")
                assert_measures(d, agents, port)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            agents.cleanup()


def test_each_unit_capability_is_needed():
    """Without any one of them the daemon either cannot load its programs or
    serves wrong numbers about the agents."""
    settings = unit_settings()
    caps = [cap_number(c) for c in settings[("Service", "CapabilityBoundingSet")][-1].split()]
    with Procs() as ps:
        agents = Agents(ps, f"n{os.getpid()}")
        try:
            for drop in caps:
                port = free_port()
                d, stage = _unit_run(settings, agents, port, [c for c in caps if c != drop])
                try:
                    with d:
                        what = f"without CAP_{CAP_NAMES[drop].upper()}"
                        try:
                            d.wait_healthy(port)
                        except TestFailure as e:
                            eq(d.proc.returncode, 1, f"{what}: exit status ({e})")
                            check("not permitted to load BPF programs" in d.logtext(),
                                  f"{what}: {d.logtext()}")
                            print(f"    {what}: exits 1, cannot load BPF programs")
                            continue
                        agents.send_requests()
                        time.sleep(2)
                        wrong = agents.mismatches(d.scrape(port))
                        check(wrong, f"{what}: metrics are all right, so it is not needed")
                        print(f"    {what}: {wrong[0]}")
                finally:
                    shutil.rmtree(stage, ignore_errors=True)
        finally:
            agents.cleanup()


# ---------------------------------------------------------------- Kubernetes

def manifests():
    """{kind: document} of every file in deploy/kubernetes, and the files."""
    import yaml
    docs, files = {}, {}
    for name in sorted(os.listdir(K8S)):
        if not name.endswith(".yaml") or name == "kustomization.yaml":
            continue
        with open(os.path.join(K8S, name)) as f:
            for doc in yaml.safe_load_all(f):
                check(doc is not None, f"{name}: empty document")
                check(doc["kind"] not in docs, f"{name}: a second {doc['kind']}")
                docs[doc["kind"]] = doc
                files[doc["kind"]] = name
    return docs, files


def daemonset_container(ds):
    containers = ds["spec"]["template"]["spec"]["containers"]
    eq(len(containers), 1, "one container")
    return containers[0]


def named_port(container, port):
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


def _diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: unknown field" for k in a if k not in b]
        return out + [d for k in a if k in b for d in _diff(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} read as {b!r}"]


def test_manifests_validate_and_agree_with_the_unit():
    import yaml
    from kubernetes.client import ApiClient
    docs, files = manifests()
    eq(sorted(docs), ["ConfigMap", "DaemonSet", "Namespace", "Service", "ServiceMonitor"], "kinds")
    api = ApiClient()

    class Response:
        def __init__(self, doc):
            self.data = json.dumps(doc)

    for kind, doc in docs.items():
        for key in ("apiVersion", "kind", "metadata"):
            check(key in doc, f"{files[kind]}: no {key}")
        check(doc["metadata"].get("name"), f"{files[kind]}: no metadata.name")
        if kind == "ServiceMonitor":
            continue
        # The API types of the Kubernetes Python client: an unknown or
        # misspelt field is dropped, a wrong type converted or refused, so a
        # lossless round trip is a schema check without a cluster.
        obj = api.deserialize(Response(doc), "V1" + kind)
        eq(_diff(doc, api.sanitize_for_serialization(obj)), [], f"{files[kind]} against V1{kind}")
    # kustomize (inside kubectl, offline) builds the bundle. kubectl is not
    # a Debian package here (Debian's kubernetes-client would clash with it).
    if shutil.which("kubectl"):
        r = run(["kubectl", "kustomize", K8S])
        eq(r.returncode, 0, f"kubectl kustomize: {r.stderr}")
        built = {d["kind"]: d for d in yaml.safe_load_all(r.stdout)}
        eq(sorted(built), ["ConfigMap", "DaemonSet", "Namespace", "Service"], "kustomize output")
        for kind, doc in built.items():
            eq(doc, docs[kind], f"kustomize keeps {kind} as written")
    else:
        print("    NOTE: no kubectl on this machine: kustomization.yaml not built")

    ns = docs["Namespace"]["metadata"]["name"]
    for kind, doc in docs.items():
        if kind != "Namespace":
            eq(doc["metadata"].get("namespace"), ns, f"{kind} namespace")
    ds = docs["DaemonSet"]
    pod = ds["spec"]["template"]["spec"]
    c = daemonset_container(ds)
    sc = c["securityContext"]
    eq(pod.get("hostPID"), True, "hostPID")
    eq(pod.get("hostNetwork", False), False, "own network namespace")
    eq((sc["privileged"], sc["allowPrivilegeEscalation"], sc["readOnlyRootFilesystem"]),
       (False, False, True), "privileged, allowPrivilegeEscalation, readOnlyRootFilesystem")
    eq(sc["capabilities"]["drop"], ["ALL"], "drops every capability")
    unit = {cap_number(x) for x in unit_settings()[("Service", "CapabilityBoundingSet")][-1].split()}
    eq({cap_number(x) for x in sc["capabilities"]["add"]}, unit,
       "the DaemonSet's capabilities are the unit's")
    eq(pod["tolerations"], [{"operator": "Exists"}], "tolerates every taint")
    eq(ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items(),
       True, "selector matches the pod labels")
    for kind in ("requests", "limits"):
        check({"cpu", "memory"} <= set(c["resources"][kind]), f"cpu and memory {kind}")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        g = c[probe]["httpGet"]
        eq((g["path"], named_port(c, g["port"])), ("/healthz", 9091), f"{probe}")
    # The mounts: config from the ConfigMap, the host's paths read-only.
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    eq(sorted(mounts), ["/etc/agentbpf", "/sys/fs/cgroup", "/sys/kernel/btf", "/var/log/containers",
                        "/var/log/pods"], "mount paths")
    for path, m in mounts.items():
        eq(m.get("readOnly"), True, f"{path} read-only")
    eq(vols[mounts["/etc/agentbpf"]["name"]]["configMap"]["name"], docs["ConfigMap"]["metadata"]["name"],
       "config volume is the ConfigMap")
    for path in ("/sys/fs/cgroup", "/sys/kernel/btf", "/var/log/pods", "/var/log/containers"):
        eq(vols[mounts[path]["name"]]["hostPath"]["path"], path, f"{path} is the host's")
    check(c["args"][c["args"].index("--config") + 1].startswith("/etc/agentbpf/"), "config path")
    # The image tag is the daemon's version.
    version = run([AGENTBPF, "--version"]).stdout.split()[-1]
    eq(c["image"].rsplit(":", 1)[1], version, "image tag")
    # The ConfigMap's config loads.
    cfgname = c["args"][c["args"].index("--config") + 1].rsplit("/", 1)[1]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write(docs["ConfigMap"]["data"][cfgname])
        f.flush()
        r = run([AGENTBPF, "check", "--config", f.name])
        check("ok    config" in r.stdout, f"ConfigMap config: {r.stdout}")
    listen = yaml.safe_load(docs["ConfigMap"]["data"][cfgname]).get("listen", ":9091")
    eq(int(listen.rsplit(":", 1)[1]), c["ports"][0]["containerPort"], "config listens on the containerPort")
    # Service and ServiceMonitor select the pods and the port.
    svc, sm = docs["Service"], docs["ServiceMonitor"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    check(svc["spec"]["selector"].items() <= labels.items(), "Service selects the DaemonSet's pods")
    sp = svc["spec"]["ports"][0]
    eq((sp["port"], named_port(c, sp["targetPort"])), (9091, 9091), "Service port")
    eq(sm["apiVersion"], "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
    check(sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items(),
          "ServiceMonitor selects the Service")
    eq(sm["spec"]["namespaceSelector"]["matchNames"], [ns], "ServiceMonitor namespace")
    ep = sm["spec"]["endpoints"][0]
    eq((ep["port"], ep["path"]), (sp["name"], "/metrics"), "ServiceMonitor endpoint")


# ---------------------------------------------------------------- the image

def parse_quantity(q):
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "k": 1000, "M": 10 ** 6, "G": 10 ** 9}
    for u, mult in units.items():
        if str(q).endswith(u):
            return int(float(str(q)[:-len(u)]) * mult)
    if str(q).endswith("m"):
        return float(str(q)[:-1]) / 1000
    return float(q)


class Image:
    """The image built by build-image.sh in a private buildah store, pushed
    to an OCI layout and unpacked; everything removed at exit."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="agentbpf-pkg-image-")
        self.opts = f"--storage-driver vfs --root {self.dir}/storage --runroot {self.dir}/run"
        self.tag = f"localhost/agentbpf-test:{os.getpid()}"
        self.oci = os.path.join(self.dir, "oci")
        # buildah push keeps a blob-info cache there whatever --root says.
        self.made_cache = not os.path.exists("/var/lib/containers")

    def buildah(self, *args):
        return run(["buildah", *self.opts.split(), *args], timeout=300)

    def build(self):
        t0 = time.time()
        r = run([BUILD_IMAGE, "-t", self.tag, "-o", f"oci:{self.oci}"], timeout=600,
                env=dict(os.environ, BUILDAH_OPTS=self.opts))
        eq(r.returncode, 0, f"build-image.sh: {r.stdout}{r.stderr}")
        self.id = r.stdout.split()[-1]
        print(f"    image built in {time.time() - t0:.1f}s")

    def blob(self, digest):
        return os.path.join(self.oci, "blobs", *digest.split(":"))

    def unpack(self):
        """Checks the layout's digests and unpacks the layers into a rootfs."""
        def load(digest):
            with open(self.blob(digest), "rb") as f:
                data = f.read()
            eq("sha256:" + hashlib.sha256(data).hexdigest(), digest, "blob digest")
            return data
        index = json.load(open(os.path.join(self.oci, "index.json")))
        eq(len(index["manifests"]), 1, "one manifest")
        manifest = json.loads(load(index["manifests"][0]["digest"]))
        self.config = json.loads(load(manifest["config"]["digest"]))
        self.rootfs = os.path.join(self.dir, "rootfs")
        os.mkdir(self.rootfs)
        self.files, size = {}, 0
        for layer, diff_id in zip(manifest["layers"], self.config["rootfs"]["diff_ids"]):
            data = load(layer["digest"])
            size += len(data)
            tar = gzip.decompress(data) if "gzip" in layer["mediaType"] else data
            eq("sha256:" + hashlib.sha256(tar).hexdigest(), diff_id, "layer diff_id")
            path = os.path.join(self.dir, "layer.tar")
            with open(path, "wb") as f:
                f.write(tar)
            with tarfile.open(path) as t:
                for m in t.getmembers():
                    check(".wh." not in m.name, f"no whiteouts: {m.name}")
                    if m.isfile():
                        self.files[os.path.normpath(m.name)] = m
                t.extractall(self.rootfs, numeric_owner=True)
            os.unlink(path)
        self.size = size
        print(f"    image: {len(manifest['layers'])} layer(s), {size / 1e6:.1f} MB compressed")

    def cleanup(self):
        r = self.buildah("rmi", "--all", "--force")
        containers = self.buildah("containers", "--quiet").stdout.split()
        for c in containers:
            self.buildah("rm", c)
        for mp, _ in reversed(_mountpoints()):
            if _under(mp, self.dir):
                subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.made_cache:
            shutil.rmtree("/var/lib/containers", ignore_errors=True)
        return r


def pod_spec(ds, image, config_dir, cgroups, empties, node):
    """A runner spec doing what the kubelet and runtime do with the
    DaemonSet's pod, for the image's root filesystem. node maps host paths
    to stand-ins (the kubelet's log tree, which this host has not got)."""
    pod = ds["spec"]["template"]["spec"]
    c = daemonset_container(ds)
    sc = c["securityContext"]
    root = image.rootfs
    check(pod["hostPID"], "hostPID: /proc is the host's")
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = [{"op": "bind", "src": root, "dst": root}]
    mounts += [{"op": "mkdir", "path": root + p} for p in ("/proc", "/sys", "/dev")]
    mounts += [{"op": "mkdir", "path": root + m["mountPath"]} for m in c["volumeMounts"]
               if not m["mountPath"].startswith("/sys/")]
    # What the runtime always provides: proc (the host's PID namespace, so
    # every process), with its masked and read-only paths, sysfs read-only,
    # a small /dev.
    mounts.append({"op": "fs", "type": "proc", "dst": root + "/proc", "options": "nosuid,nodev,noexec"})
    for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/acpi",
              "/proc/scsi", "/proc/latency_stats"):
        if os.path.exists(p):
            mounts.append({"op": "inaccessible", "dst": root + p})
    for p in ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"):
        if os.path.exists(p):
            mounts.append({"op": "bind", "src": root + p, "dst": root + p, "ro": True})
    mounts.append({"op": "fs", "type": "sysfs", "dst": root + "/sys", "options": "ro,nosuid,nodev,noexec"})
    mounts.append({"op": "dev", "dst": root + "/dev"})
    # The pod's volumes.
    for m in c["volumeMounts"]:
        v = vols[m["name"]]
        dst = root + m["mountPath"]
        if "configMap" in v:
            eq(v["configMap"]["name"], "agentbpf", "ConfigMap volume")
            src = config_dir
        else:
            hp = v["hostPath"]
            src = hp["path"]
            if src in node:
                src = node[src]
            elif not os.path.exists(src):
                # The kubelet creates it on a node; here it is not ours to make.
                eq(hp.get("type"), "DirectoryOrCreate", f"{src} missing on this host")
                src = tempfile.mkdtemp(prefix="agentbpf-pkg-hostpath-")
                empties.append(src)
            else:
                eq(hp.get("type"), "Directory", f"hostPath {src} type")
        mounts.append({"op": "bind", "src": src, "dst": dst, "recursive": True,
                       "ro": m.get("readOnly", False)})
    if sc["readOnlyRootFilesystem"]:
        mounts.append({"op": "ro_tree", "dst": root, "skip": [root + "/" + p for p in
                                                              ("proc", "sys", "dev")] +
                       [root + m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")]})
    cfg = image.config["config"]
    argv = c.get("command") or cfg["Entrypoint"]
    argv = argv + (c.get("args") if "args" in c else cfg.get("Cmd", []))
    env = dict(e.split("=", 1) for e in cfg.get("Env", []))
    env.update({e["name"]: e["value"] for e in c.get("env", [])})
    argv = [argv[0]] + argv[1:]
    check(not sc["privileged"], "not privileged")
    check("ALL" in sc["capabilities"]["drop"], "drops every capability")
    return {"mounts": mounts, "lo_up": not pod.get("hostNetwork", False), "chroot": root,
            "cwd": cfg.get("WorkingDir") or "/", "cgroups": cgroups,
            "uid": sc.get("runAsUser", 0), "gid": sc.get("runAsGroup", 0),
            "caps": sorted(cap_number(x) for x in sc["capabilities"]["add"]), "ambient": False,
            "nnp": not sc["allowPrivilegeEscalation"], "seccomp": None, "argv": argv, "env": env}


def limited_cgroup(limits):
    """A cgroup with the container's memory and CPU limits (v2 where the
    memory controller is, else v1), like the runtime's."""
    name = f"agentbpf-pkg-{os.getpid()}"
    mem = int(parse_quantity(limits["memory"]))
    cpu = parse_quantity(limits["cpu"])
    v2 = "/sys/fs/cgroup"
    if v2_has_memory(v2):
        path = f"{v2}/{name}"
        os.mkdir(path)
        open(f"{path}/memory.max", "w").write(str(mem))
        if os.path.exists(f"{path}/cpu.max"):
            open(f"{path}/cpu.max", "w").write(f"{int(cpu * 100000)} 100000")
        return [path], path
    mpath, cpath = f"/sys/fs/cgroup/memory/{name}", f"/sys/fs/cgroup/cpu/{name}"
    os.mkdir(mpath)
    open(f"{mpath}/memory.limit_in_bytes", "w").write(str(mem))
    paths = [mpath]
    if os.path.isdir("/sys/fs/cgroup/cpu"):
        os.mkdir(cpath)
        open(f"{cpath}/cpu.cfs_period_us", "w").write("100000")
        open(f"{cpath}/cpu.cfs_quota_us", "w").write(str(int(cpu * 100000)))
        paths.append(cpath)
    return paths, mpath


FAKE_POD = ("agents", "pkg-user-7d9f8", "llm")


def fake_pod(pid, empties):
    """Moves pid into a pod container's cgroup laid out as the kubelet's
    cgroupfs driver does, and makes the kubelet's log tree naming it. Returns
    {host path: stand-in} and the cgroups made, innermost first."""
    import secrets
    import uuid
    cid, uid = secrets.token_hex(32), str(uuid.uuid4())
    ns, pod, container = FAKE_POD
    tree = tempfile.mkdtemp(prefix="agentbpf-pkg-node-")
    empties.append(tree)
    os.chmod(tree, 0o755)
    for path in (f"{tree}/containers/{pod}_{ns}_{container}-{cid}.log",
                 f"{tree}/pods/{ns}_{pod}_{uid}/{container}/0.log"):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()
    if os.path.isdir("/sys/fs/cgroup/pids"):
        base = "/sys/fs/cgroup/pids"
    elif os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        base = "/sys/fs/cgroup"
    else:
        base = "/sys/fs/cgroup/unified"
    made = []
    path = base
    for part in (f"kubepods-{os.getpid()}", "besteffort", f"pod{uid}", cid):
        path = os.path.join(path, part)
        if not os.path.isdir(path):
            os.mkdir(path)
            made.append(path)
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    return {"/var/log/pods": f"{tree}/pods", "/var/log/containers": f"{tree}/containers"}, made[::-1]


def memory_usage(path, files):
    for f in files:
        if os.path.exists(os.path.join(path, f)):
            return int(open(os.path.join(path, f)).read())
    return None


def test_image_builds_and_runs_as_the_daemonset_says():
    import yaml
    docs, _ = manifests()
    ds, cm = docs["DaemonSet"], docs["ConfigMap"]
    c = daemonset_container(ds)
    image = Image()
    empties, cgroups, cgroups_made = [], [], []
    try:
        image.build()
        image.unpack()
        # Exactly the daemon, its libraries, the loader and the config.
        ldd = run(["ldd", AGENTBPF]).stdout
        libs = set(re.findall(r"=> (/\S+) \(", ldd)) | set(re.findall(r"^\s+(/\S+) \(", ldd, re.M))
        want = {p.lstrip("/") for p in libs} | {"usr/local/bin/agentbpf", "etc/agentbpf/agentbpf.yml",
                                                 "etc/ld.so.cache"}
        eq(sorted(image.files), sorted(want), "files in the image")
        for path, src in (("usr/local/bin/agentbpf", AGENTBPF),
                          ("etc/agentbpf/agentbpf.yml", os.path.join(ROOT, "deploy", "agentbpf.yml"))):
            with open(os.path.join(image.rootfs, path), "rb") as a, open(src, "rb") as b:
                check(a.read() == b.read(), f"{path} is {src}")
        cfg = image.config["config"]
        eq(list(cfg["ExposedPorts"]), [f"{c['ports'][0]['containerPort']}/tcp"], "exposed port")
        eq(cfg["Entrypoint"], ["/usr/local/bin/agentbpf"], "entrypoint")
        eq(image.config["os"], "linux", "image os")

        with Procs() as ps:
            agents = Agents(ps, f"k{os.getpid()}")
            try:
                # The ConfigMap's config, with agents that match ours.
                config = yaml.safe_load(cm["data"]["agentbpf.yml"])
                config["agents"] = agents.config()
                config_dir = tempfile.mkdtemp(prefix="agentbpf-pkg-configmap-")
                empties.append(config_dir)
                os.chmod(config_dir, 0o755)
                with open(os.path.join(config_dir, "agentbpf.yml"), "w") as f:
                    yaml.safe_dump(config, f)
                cgroups, memcg = limited_cgroup(c["resources"]["limits"])
                port = named_port(c, c["livenessProbe"]["httpGet"]["port"])
                # A kubelet log tree and a pod cgroup (cgroupfs driver layout)
                # for the user agent: agent_kubernetes_info names its pod
                # through the DaemonSet's /var/log mounts.
                node, pod_cgs = fake_pod(agents.agents["user"]["proc"].pid, empties)
                cgroups_made.extend(pod_cgs)
                t0 = time.time()
                with Sandboxed(pod_spec(ds, image, config_dir, cgroups, empties, node), netns=True) as d:
                    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                        g = c[probe]["httpGet"]
                        d.wait_healthy(named_port(c, g["port"]), g["path"])
                    ready = time.time() - t0
                    print(f"    ready in {ready:.1f}s under the CPU limit {c['resources']['limits']['cpu']}")
                    budget = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
                    check(ready < budget / 4, f"ready ({ready:.1f}s) well within the startup probe's {budget}s")
                    st = d.status()
                    mask = cap_mask(cap_number(x) for x in c["securityContext"]["capabilities"]["add"])
                    eq(status_caps(st), {"CapInh": 0, "CapPrm": mask, "CapEff": mask, "CapBnd": mask,
                                         "CapAmb": 0}, "daemon capabilities")
                    eq(st["Uid"].split()[0], str(c["securityContext"]["runAsUser"]), "uid")
                    eq(st["NoNewPrivs"].strip(), "1", "no_new_privs")
                    eq(os.readlink(f"/proc/{d.pid}/root"), image.rootfs, "root is the image's rootfs")
                    mounts = d.mounts()
                    for mp in ["/"] + [m["mountPath"] for m in c["volumeMounts"]]:
                        check(mp in mounts and "ro" in mounts[mp], f"{mp} mounted read-only: {mounts.get(mp)}")
                    with open(f"/proc/{d.pid}/root/etc/agentbpf/agentbpf.yml") as f:
                        eq(yaml.safe_load(f)["agents"], agents.config(), "the daemon reads the ConfigMap")
                    check(os.readlink(f"/proc/{d.pid}/ns/net") != os.readlink("/proc/self/ns/net"),
                          "the pod's own network namespace")
                    assert_measures(d, agents, port)
                    s = d.scrape(port)
                    eq(s.get("agentbpf_events_dropped_total", reason="ringbuf_full"), 0, "no drops")
                    eq({dict(l)["agent_type"]: (dict(l)["namespace"], dict(l)["pod"], dict(l)["container"])
                        for l, v in s.series("agent_kubernetes_info").items() if v == 1},
                       {"pkg-user": FAKE_POD}, "agent_kubernetes_info")
                    now = memory_usage(memcg, ("memory.current", "memory.usage_in_bytes"))
                peak = memory_usage(memcg, ("memory.peak", "memory.max_usage_in_bytes"))
                if peak is not None and now is not None:
                    print(f"    memory in the pod's cgroup: {now / 2 ** 20:.1f} MiB serving, peak "
                          f"{peak / 2 ** 20:.1f} MiB (verifying the BPF programs), limit {c['resources']['limits']['memory']}")
            finally:
                agents.cleanup()
    finally:
        image.cleanup()
        for p in cgroups + cgroups_made:
            remove_cgroup(p)
        for p in empties:
            shutil.rmtree(p, ignore_errors=True)
        check(not os.path.exists(image.dir), "image store removed")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--runner":
        with open(sys.argv[2]) as f:
            runner(json.load(f))
    else:
        sys.exit("usage: test_packaging.py --runner SPEC.json (the tests run through tests/e2e/run.py)")
