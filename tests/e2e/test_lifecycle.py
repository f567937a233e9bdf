"""Lifecycle metrics from the real kernel: exits and their reasons, restarts,
health, inheritance, agents found at startup, an exit storm and a real OOM
kill in a memory-limited cgroup."""
import os
import signal
import time

from harness import (AGENTS, PY, Daemon, Procs, check, eq, memory_cgroup, named_binary, remove_cgroup,
                     run, wait_until)

AGENT = os.path.join(AGENTS, "lifecycle_agent.py")
REASONS = ("completed", "error", "signal", "oom_killed")


def agent_argv(tag, *args):
    return [PY, AGENT, "--tag", tag, *map(str, args)]


def config(*agents):
    out = "agents:\n"
    for name, match in agents:
        out += f"  - name: {name}\n    type: test-{name}\n    match:\n"
        for k, v in match.items():
            out += f"      {k}: \"{v}\"\n"
    return out


def assert_reasons(d, family, label, name, **expected):
    for r in REASONS:
        want = expected.get(r, 0)
        got = d.value(family, **{label: name, "reason": r})
        eq(got, want, f"{family}{{{label}={name},reason={r}}}")


def test_crash_loop_counts_every_exit_and_restart():
    n = 5
    with Daemon(config(("crashy", {"cmdline": "*--tag crashy*"}))) as d, Procs() as ps:
        # The first start is not a restart.
        eq(run(agent_argv("crashy", "--exit", 1)).returncode, 1, "crashy exit status")
        d.wait_value(1, "agent_process_exits_total", agent_type="crashy", reason="error")
        eq(d.value("worker_restarts_total", worker_name="crashy", reason="error"), 0,
           "restarts after the first start")
        for _ in range(n - 1):
            run(agent_argv("crashy", "--exit", 1))
        # The n-th restart stays up.
        ps.start(agent_argv("crashy", "--sleep", 30))
        d.wait_value(n, "worker_restarts_total", worker_name="crashy", reason="error")
        assert_reasons(d, "agent_process_exits_total", "agent_type", "crashy", error=n)
        assert_reasons(d, "worker_restarts_total", "worker_name", "crashy", error=n)
        d.wait_value(1, "worker_health_status", worker_name="crashy", worker_type="test-crashy")
        eq(d.value("agent_processes", agent_type="crashy"), 1, "live processes")


def test_exit_reasons_signal_completed_and_status():
    cfg = config(("killed", {"cmdline": "*--tag killed*"}),
                 ("done", {"cmdline": "*--tag done*"}),
                 ("segv", {"cmdline": "*--tag segv*"}))
    with Daemon(cfg) as d, Procs() as ps:
        p = ps.start(agent_argv("killed", "--sleep", 30))
        d.wait_value(1, "agent_processes", agent_type="killed")
        p.send_signal(signal.SIGKILL)
        p.wait()
        d.wait_value(1, "agent_process_exits_total", agent_type="killed", reason="signal")
        ps.start(agent_argv("killed", "--sleep", 30))
        d.wait_value(1, "worker_restarts_total", worker_name="killed", reason="signal")
        assert_reasons(d, "agent_process_exits_total", "agent_type", "killed", signal=1)

        run(agent_argv("done"))
        run(agent_argv("done"))
        d.wait_value(2, "agent_process_exits_total", agent_type="done", reason="completed")
        assert_reasons(d, "worker_restarts_total", "worker_name", "done", completed=1)

        eq(run(agent_argv("segv", "--signal", int(signal.SIGSEGV))).returncode,
           -signal.SIGSEGV, "segv agent died of SIGSEGV")
        d.wait_value(1, "agent_process_exits_total", agent_type="segv", reason="signal")
        assert_reasons(d, "agent_process_exits_total", "agent_type", "segv", signal=1)


def test_health_goes_one_zero_one_across_restart():
    with Daemon(config(("flappy", {"cmdline": "*--tag flappy*"}))) as d, Procs() as ps:
        eq(d.value("worker_health_status", worker_name="flappy", worker_type="test-flappy"), 0,
           "health before any process")
        p = ps.start(agent_argv("flappy", "--sleep", 30))
        d.wait_value(1, "worker_health_status", worker_name="flappy", worker_type="test-flappy")
        check(d.value("agent_process_start_time_seconds", agent_type="flappy") is not None,
              "start time series while alive")
        p.terminate()
        p.wait()
        d.wait_value(0, "worker_health_status", worker_name="flappy", worker_type="test-flappy")
        eq(d.value("agent_process_start_time_seconds", agent_type="flappy"), None,
           "start time series once no member is alive")
        ps.start(agent_argv("flappy", "--sleep", 30))
        d.wait_value(1, "worker_health_status", worker_name="flappy", worker_type="test-flappy")
        d.wait_value(1, "worker_restarts_total", worker_name="flappy", reason="signal")


def test_forked_children_inherit_and_are_counted():
    with Daemon(config(("parent", {"cmdline": "*--tag forker*"}))) as d, Procs() as ps:
        # The agent forks 3 children; all 4 are members while they sleep.
        p = ps.start(agent_argv("forker", "--sleep", 3, "--fork-children", 3))
        d.wait_value(4, "agent_processes", agent_type="parent", timeout=5)
        # Children added in the kernel at fork are counted in member_hint too.
        d.check_member_hint(members=4)
        p.wait()
        d.wait_value(4, "agent_process_exits_total", agent_type="parent", reason="completed")
        d.wait_value(0, "agent_processes", agent_type="parent")
        # A child exec'ing something no agent claims stays a member.
        sleep_bin = named_binary("/bin/sleep", "forkerexec")
        p = ps.start(agent_argv("forker", "--exec", sleep_bin, "30"))
        wait_until(lambda: open(f"/proc/{p.pid}/comm").read().strip() == "forkerexec", 5,
                   "agent exec'd into forkerexec")
        d.wait_value(1, "agent_processes", agent_type="parent")
        p.kill()
        p.wait()
        d.wait_value(1, "agent_process_exits_total", agent_type="parent", reason="signal")
        d.check_member_hint()


def test_tools_run_by_an_agent_are_not_restarts():
    with Daemon(config(("shelly", {"cmdline": "*--tag shelly*"}))) as d, Procs() as ps:
        # The agent runs /bin/false 20 times through subprocess, then stays up.
        ps.start(agent_argv("shelly", "--run-tool", 20, "--sleep", 30))
        d.wait_value(1, "agent_processes", agent_type="shelly")
        wait_until(lambda: d.value("agentbpf_events_total", type="exec") >= 21, 10, "tool execs seen")
        time.sleep(0.5)
        assert_reasons(d, "agent_process_exits_total", "agent_type", "shelly")
        assert_reasons(d, "worker_restarts_total", "worker_name", "shelly")
        eq(d.value("agent_processes", agent_type="shelly"), 1, "tools are not agent processes")


def test_exec_into_another_agent_moves_membership():
    sleep_bin = named_binary("/bin/sleep", "rematchb")
    cfg = config(("first", {"cmdline": "*--tag rematch*"}), ("second", {"comm": "rematchb"}))
    with Daemon(cfg) as d, Procs() as ps:
        p = ps.start(agent_argv("rematch", "--sleep", 1, "--exec", sleep_bin, "30"))
        d.wait_value(1, "agent_processes", agent_type="first")
        d.wait_value(1, "agent_processes", agent_type="second")
        eq(d.value("agent_processes", agent_type="first"), 0, "first agent after exec")
        # Re-pointed to the second agent in place: still one member, counted once.
        d.check_member_hint(members=1)
        p.kill()
        p.wait()
        d.wait_value(1, "agent_process_exits_total", agent_type="second", reason="signal")
        assert_reasons(d, "agent_process_exits_total", "agent_type", "first")


def test_agents_running_before_the_daemon_are_found():
    with Procs() as ps:
        p = ps.start(agent_argv("early", "--sleep", 30, "--fork-children", 1))
        wait_until(lambda: len(open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()) == 1,
                   5, "early agent's child")
        time.sleep(0.2)
        with Daemon(config(("early", {"cmdline": "*--tag early*"}))) as d:
            eq(d.value("agent_processes", agent_type="early"), 2, "agent and child found at startup")
            d.check_member_hint(members=2)
            eq(d.value("worker_health_status", worker_name="early", worker_type="test-early"), 1,
               "health of an agent found at startup")
            start = float(open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[19])
            btime = int(next(l for l in open("/proc/stat") if l.startswith("btime")).split()[1])
            expected = btime + start / os.sysconf("SC_CLK_TCK")
            got = d.value("agent_process_start_time_seconds", agent_type="early")
            check(abs(got - expected) < 2, f"start time {got} vs /proc {expected}")
            # Found at startup is not a restart.
            assert_reasons(d, "worker_restarts_total", "worker_name", "early")
            p.kill()
            p.wait()
            d.wait_value(1, "agent_process_exits_total", agent_type="early", reason="signal")
            d.check_member_hint()


def test_unmatched_processes_create_no_series():
    with Daemon(config(("only", {"cmdline": "*--tag onlyme*"}))) as d, Procs() as ps:
        before = d.scrape()
        ps.start(agent_argv("stranger", "--sleep", 30))
        run(agent_argv("stranger2", "--exit", 3))
        run(["/bin/true"])
        time.sleep(1)
        after = d.scrape()
        agent_keys = lambda s: {k for k in s if not k[0].startswith("agentbpf_")}
        eq(agent_keys(after), agent_keys(before), "agent series set")
        for name, labels in agent_keys(after):
            for k, v in labels:
                if k in ("agent_type", "worker_name"):
                    eq(v, "only", f"{name} {k}")
        eq(after.get("agent_process_exits_total", agent_type="only", reason="error"), 0,
           "no exits counted for strangers")
        eq(after.get("agentbpf_tracked_processes"), 0, "tracked processes")


def test_exit_storm_every_exit_counted():
    n = 2000
    stormling = named_binary("/bin/true", "stormling")
    failing = named_binary("/bin/false", "stormfail")
    cfg = config(("storm", {"comm": "stormling"}), ("stormfail", {"comm": "stormfail"}))
    with Daemon(cfg) as d:
        t0 = time.time()
        # One shell loop: fork+exec as fast as this machine can, no Python in between.
        script = f"i=0; while [ $i -lt {n} ]; do {stormling}; {failing}; i=$((i+1)); done"
        eq(run(["/bin/sh", "-c", script], timeout=120).returncode, 0, "storm loop")
        elapsed = time.time() - t0
        d.wait_value(n, "agent_process_exits_total", agent_type="storm", reason="completed",
                     timeout=30)
        d.wait_value(n, "agent_process_exits_total", agent_type="stormfail", reason="error",
                     timeout=30)
        assert_reasons(d, "agent_process_exits_total", "agent_type", "storm", completed=n)
        assert_reasons(d, "worker_restarts_total", "worker_name", "storm", completed=n - 1)
        s = d.scrape()
        for (name, labels), v in s.items():
            if name == "agentbpf_events_dropped_total":
                eq(v, 0, f"dropped events {labels}")
        d.check_member_hint()
        print(f"    {2 * n} processes in {elapsed:.1f}s")



def test_real_oom_kill_in_memory_limited_cgroup():
    cg = memory_cgroup(f"agentbpf-oom-{os.getpid()}")
    try:
        with Daemon(config(("hungry", {"cmdline": "*--tag hungry*"}))) as d:
            # Join the cgroup first, then exec the agent inside it.
            script = f"echo $$ > {cg}/cgroup.procs && exec {PY} {AGENT} --tag hungry --alloc-mb 512"
            r = run(["/bin/sh", "-c", script], timeout=60)
            eq(r.returncode, -signal.SIGKILL, f"hungry agent killed by the OOM killer ({r.stderr})")
            d.wait_value(1, "agent_process_exits_total", agent_type="hungry", reason="oom_killed")
            assert_reasons(d, "agent_process_exits_total", "agent_type", "hungry", oom_killed=1)
            # A later start counts as a restart after an OOM kill.
            run(agent_argv("hungry"))
            d.wait_value(1, "worker_restarts_total", worker_name="hungry", reason="oom_killed")
    finally:
        remove_cgroup(cg)
