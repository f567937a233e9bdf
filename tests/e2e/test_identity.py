"""Agent identity beyond the command line: the port and cgroup matchers,
before and after the daemon starts, and `agentbpf trace`."""
import json
import os
import subprocess
import time

from harness import (AGENTBPF, PY, Daemon, Procs, check, eq, free_port, remove_cgroup, run,
                     wait_until)


def http_server(port, tag):
    return [PY, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", "/tmp"]


def test_port_matcher_before_and_after_daemon_start():
    early, late = free_port(), free_port()
    cfg = f"""agents:
  - name: early-port
    match:
      port: {early}
  - name: late-port
    match:
      comm: python3
      port: {late}
"""
    with Procs() as ps:
        ps.start(http_server(early, "early"))
        wait_until(lambda: run(["ss", "-Hltn", f"sport = :{early}"]).stdout.strip(), 5, "early listener")
        with Daemon(cfg) as d:
            eq(d.value("agent_processes", agent_type="early-port"), 1, "listener found at startup")
            p = ps.start(http_server(late, "late"))
            d.wait_value(1, "agent_processes", agent_type="late-port")
            # Both members, one added at listen(): each counted in member_hint.
            d.check_member_hint(members=2)
            p.kill()
            p.wait()
            d.wait_value(1, "agent_process_exits_total", agent_type="late-port", reason="signal")


def _cgroup_dir():
    """A fresh cgroup in some hierarchy: v2 if it is the host's, else v1 pids."""
    name = f"agentbpf-idtest-{os.getpid()}"
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        path = f"/sys/fs/cgroup/{name}"
    else:
        path = f"/sys/fs/cgroup/pids/{name}"
    os.mkdir(path)
    return path


def test_cgroup_matcher_for_long_and_short_lived_processes():
    cg = _cgroup_dir()
    cfg = "agents:\n  - name: boxed\n    match:\n      cgroup: \"/agentbpf-idtest-*\"\n"
    try:
        with Procs() as ps:
            early = ps.start(["/bin/sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec sleep 30"])
            wait_until(lambda: str(early.pid) in open(f"{cg}/cgroup.procs").read().split(), 5,
                       "early process in cgroup")
            with Daemon(cfg) as d:
                eq(d.value("agent_processes", agent_type="boxed"), 1, "cgroup member found at startup")
                # 50 processes that live a moment, each exec'd inside the cgroup.
                script = f"echo $$ > {cg}/cgroup.procs; i=0; while [ $i -lt 50 ]; do /bin/true; i=$((i+1)); done"
                run(["/bin/sh", "-c", script])
                # The sh itself is in the cgroup too, but it exec'd before joining it.
                d.wait_value(50, "agent_process_exits_total", agent_type="boxed", reason="completed")
                run(["/bin/true"])
                time.sleep(0.5)
                eq(d.value("agent_process_exits_total", agent_type="boxed", reason="completed"), 50,
                   "processes outside the cgroup are not members")
    finally:
        remove_cgroup(cg)


def test_trace_prints_one_line_per_event():
    cfg_path = f"/tmp/agentbpf-trace-{os.getpid()}.yml"
    with open(cfg_path, "w") as f:
        f.write("agents:\n  - name: traced\n    match:\n      cmdline: \"*tracedmarker*\"\n")
    tr = subprocess.Popen([AGENTBPF, "trace", "--json", "--config", cfg_path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        check("tracing 1 agents" in tr.stderr.readline(), "trace says it is ready")
        # argv[0] carries the marker; the program is plain sleep.
        subprocess.run(["tracedmarker", "0.1"], executable="/bin/sleep", check=True)
        run(["/bin/sh", "-c", "exit 0"])
        time.sleep(0.5)
        tr.terminate()
        out, err = tr.communicate(timeout=10)
        events = [json.loads(l) for l in out.splitlines()]
        kinds = [(e["event"], e["agent"]) for e in events]
        eq(kinds, [("exec", "traced"), ("exit", "traced")], f"trace events ({err})")
        check(events[1]["reason"].startswith("completed status=0"), events[1]["reason"])
        eq(events[0]["pid"], events[1]["pid"], "same pid")
    finally:
        if tr.poll() is None:
            tr.kill()
        os.unlink(cfg_path)
