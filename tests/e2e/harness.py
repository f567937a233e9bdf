"""Real-kernel end-to-end test harness: starts the real daemon with a real
config, real processes, and reads real scrapes. Standard library only, so it
runs under Debian's /usr/bin/python3 with nothing else installed."""
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENTBPF = os.path.join(ROOT, "agentbpf")
PY = "/usr/bin/python3"
AGENTS = os.path.join(ROOT, "tests", "agents")


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise TestFailure(f"{what}: expected {expected!r}, got {actual!r}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, what="condition", interval=0.05):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise TestFailure(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, (("label","value"),...)): float} from text or OpenMetrics."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise TestFailure(f"unparsable sample line: {line!r}")
        labels = tuple(sorted(_LABEL.findall(m.group(3) or "")))
        key = (m.group(1), labels)
        if key in out:
            raise TestFailure(f"duplicate series: {line!r}")
        out[key] = float(m.group(4))
    return out


class Scrape(dict):
    def get(self, name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return dict.get(self, key)

    def series(self, name):
        return {k[1]: v for k, v in self.items() if k[0] == name}


class Service:
    """A long-running process of a test (self.proc) with a log file (self.log)
    in a directory of its own (self.dir): stopped with SIGTERM (SIGKILL after
    15 s), its directory removed, also when the test fails."""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wait_port(port, timeout=None):
    # Under qemu's TCG (tests/kernels) programs start ten times as slowly.
    timeout = timeout or float(os.environ.get("AGENTBPF_E2E_START_S", 15))
    """Waits until something accepts connections on a loopback port."""
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    wait_until(up, timeout, f"a server on port {port}")


def v2_has_memory(v2="/sys/fs/cgroup"):
    """Is /sys/fs/cgroup a v2 hierarchy with the memory controller (else: v1's)?"""
    return os.path.exists(f"{v2}/cgroup.controllers") and "memory" in open(f"{v2}/cgroup.controllers").read()


def memory_cgroup(name, limit=64 << 20):
    """A memory-limited cgroup without swap: v2 if it has the memory controller, else v1."""
    v2 = "/sys/fs/cgroup"
    if v2_has_memory(v2):
        # A root without systemd (a bare initramfs) has the controller off below it.
        if "memory" not in open(f"{v2}/cgroup.subtree_control").read().split():
            open(f"{v2}/cgroup.subtree_control", "w").write("+memory")
        path = f"{v2}/{name}"
        os.mkdir(path)
        open(f"{path}/memory.max", "w").write(str(limit))
        if os.path.exists(f"{path}/memory.swap.max"):
            open(f"{path}/memory.swap.max", "w").write("0")
        return path
    path = f"/sys/fs/cgroup/memory/{name}"
    os.mkdir(path)
    open(f"{path}/memory.limit_in_bytes", "w").write(str(limit))
    if os.path.exists(f"{path}/memory.memsw.limit_in_bytes"):
        open(f"{path}/memory.memsw.limit_in_bytes", "w").write(str(limit))
    return path


class Daemon(Service):
    """The real agentbpf with a real config, on a free loopback port."""

    def __init__(self, config_yaml, extra_args=(), listen=None):
        self.dir = tempfile.mkdtemp(prefix="agentbpf-e2e-")
        self.config = os.path.join(self.dir, "agentbpf.yml")
        with open(self.config, "w") as f:
            f.write(config_yaml)
        self.port = free_port()
        listen = listen or f"127.0.0.1:{self.port}"
        host = listen.rsplit(":", 1)[0] or "127.0.0.1"
        self.url = f"http://{host}:{self.port}"
        self.log = open(os.path.join(self.dir, "daemon.log"), "w+")
        self.proc = subprocess.Popen(
            [AGENTBPF, "--config", self.config, "--web.listen-address",
             listen.rsplit(":", 1)[0] + f":{self.port}", *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            # Under qemu's TCG (tests/kernels) verification takes ten times as long.
            wait_until(self._healthy, float(os.environ.get("AGENTBPF_E2E_START_S", 15)),
                       "daemon /healthz")
        except TestFailure:
            log = self.logtext()
            self.stop()
            raise TestFailure("daemon did not start: " + log)

    def _healthy(self):
        if self.proc.poll() is not None:
            raise TestFailure(f"daemon exited with {self.proc.returncode}: {self.logtext()}")
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def logtext(self):
        if not self.log.closed:
            self.log.flush()
        try:
            with open(self.log.name) as f:
                return f.read()
        except OSError:
            return "(no log)"

    def get(self, path, headers=None, method="GET"):
        req = urllib.request.Request(self.url + path, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def text(self, headers=None):
        status, hdrs, body = self.get("/metrics", headers)
        eq(status, 200, "/metrics status")
        if hdrs.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body.decode()

    def scrape(self):
        return Scrape(parse_metrics(self.text()))

    def value(self, name, **labels):
        return self.scrape().get(name, **labels)

    def wait_value(self, expected, name, timeout=15, **labels):
        """Waits for a series to reach expected, then checks it stays there."""
        wait_until(lambda: self.value(name, **labels) == expected, timeout,
                   f"{name}{labels} == {expected} (now {self.value(name, **labels)})")
        time.sleep(0.3)
        eq(self.value(name, **labels), expected, f"{name}{labels} after settling")

    def member_tables(self):
        """The kernel's agent_pids keys and member_hint counts (non-zero
        slots). Two dumps one after the other: call it while membership
        holds still."""
        def newest(name):
            out = self.bpftool_json("map", "dump", "id", str(self.newest_map_id(name)))
            # With BTF, bpftool gives the typed values under "formatted".
            return [e.get("formatted", e) for e in out]
        pids = {e["key"] for e in newest("agent_pids")}
        hint = {e["key"]: e["value"] for e in newest("member_hint") if e["value"]}
        return pids, hint

    @staticmethod
    def bpftool_json(*args):
        return json.loads(subprocess.run(["bpftool", "-j", *args], check=True,
                                         capture_output=True, text=True).stdout)

    def newest_map_id(self, name):
        """The id of the newest map of that name: this daemon's, the tests
        running one daemon at a time (this bpftool shows no owner pids)."""
        ids = [m["id"] for m in self.bpftool_json("map", "show") if m.get("name") == name]
        check(ids, f"no BPF map {name} loaded")
        return max(ids)

    def programs_using(self, map_name):
        """Names of the loaded programs that use this daemon's map map_name."""
        map_id = self.newest_map_id(map_name)
        return {p.get("name", "") for p in self.bpftool_json("prog", "show")
                if map_id in p.get("map_ids", [])}

    def check_member_hint(self, members=None):
        """member_hint counts exactly the members in each slot: none missed
        (a member the socket hooks would turn away), none leaked. With
        members, agent_pids holds that many, in the same reading."""
        pids, hint = self.member_tables()
        if members is not None:
            eq(len(pids), members, "members in agent_pids")
        want = {}
        for pid in pids:
            want[pid & 0xffff] = want.get(pid & 0xffff, 0) + 1
        eq(hint, want, "member_hint slots vs agent_pids")



def remove_cgroup(path):
    """rmdir a test cgroup once the kernel has let go of its last task."""
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.1)


def named_binary(src, name):
    """A copy of a binary under a distinctive name, so its comm is unique."""
    d = tempfile.mkdtemp(prefix="agentbpf-bin-")
    path = os.path.join(d, name)
    shutil.copy(src, path)
    return path


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)


class Procs:
    """Processes a test starts; all are killed at the end, whatever happens."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        # A session of its own: its children (nginx's workers, a shell's
        # commands) are killed with it and not left behind.
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if p.poll() is None:
                p.kill()
            p.wait()
