"""Pod, namespace and container names of agent processes on a Kubernetes
node, without an API server: real processes moved into cgroups laid out the
way the kubelet's container runtimes lay them out (systemd driver on the v2
hierarchy, cgroupfs driver on a v1 one), and a kubelet log tree made here."""
import os
import secrets
import uuid

from harness import AGENTS, PY, Daemon, Procs, eq, remove_cgroup, wait_until

UNIFIED = "/sys/fs/cgroup/unified"
V1 = "/sys/fs/cgroup/pids"


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()


def test_agent_kubernetes_info_names_pods_and_containers():
    root = f"/tmp/agentbpf-kube-e2e-{os.getpid()}"
    cid, uid = secrets.token_hex(32), str(uuid.uuid4())
    cid2, uid2 = secrets.token_hex(32), str(uuid.uuid4())
    # Full names from the container's log link; the second pod only by its log directory.
    touch(f"{root}/var/log/containers/planner-7d9f8_agents_llm-{cid}.log")
    touch(f"{root}/var/log/pods/agents_planner-7d9f8_{uid}/llm/0.log")
    touch(f"{root}/var/log/pods/batch_nightly-x1_{uid2}/job/0.log")
    systemd_cg = (f"{UNIFIED}/kubepods.slice/kubepods-burstable.slice/"
                  f"kubepods-burstable-pod{uid.replace('-', '_')}.slice/cri-containerd-{cid}.scope")
    cgroupfs_cg = f"{V1}/kubepods/besteffort/pod{uid2}/{cid2}"
    made = []
    cfg = ('agents:\n  - name: kubeagent\n    match:\n      cmdline: "*lifecycle_agent.py --tag kube*"\n')
    try:
        for cg in (systemd_cg, cgroupfs_cg):
            os.makedirs(cg, exist_ok=True)
            made.append(cg)
        with Daemon(cfg, extra_args=("--kube.root", root)) as d, Procs() as ps:
            agent = [PY, os.path.join(AGENTS, "lifecycle_agent.py"), "--tag", "kube", "--sleep", "30"]
            a = ps.start(agent)
            b = ps.start(agent)
            c = ps.start(agent)     # stays outside any pod
            for p, cg in ((a, systemd_cg), (b, cgroupfs_cg)):
                with open(f"{cg}/cgroup.procs", "w") as f:
                    f.write(str(p.pid))
            d.wait_value(3, "agent_processes", agent_type="kubeagent")
            info = lambda: sorted(tuple(dict(l)[k] for k in ("namespace", "pod", "container"))
                                  for (n, l), v in d.scrape().items()
                                  if n == "agent_kubernetes_info" and v == 1)
            want = [("agents", "planner-7d9f8", "llm"), ("batch", "nightly-x1", "")]
            wait_until(lambda: info() == want, 10, f"agent_kubernetes_info {want} (now {info()})")
            # A process leaving its pod's container takes its series away.
            b.kill()
            b.wait()
            wait_until(lambda: info() == want[:1], 10, f"info after the batch pod's process ended ({info()})")
            eq(c.poll(), None, "the process outside any pod still runs (and has no series)")
            check_log = d.logtext()
            eq("kubelet log tree" in check_log, True, "the daemon says it found a kubelet log tree")
    finally:
        for cg in reversed(made):
            remove_cgroup(cg)
        for cg in (os.path.dirname(systemd_cg), os.path.dirname(os.path.dirname(systemd_cg)),
                   f"{UNIFIED}/kubepods.slice", os.path.dirname(cgroupfs_cg),
                   f"{V1}/kubepods/besteffort", f"{V1}/kubepods"):
            remove_cgroup(cg)
        os.system(f"rm -rf {root}")


def test_no_kubernetes_family_off_a_node():
    cfg = 'agents:\n  - name: plain\n    match:\n      comm: never-runs\n'
    with Daemon(cfg, extra_args=("--kube.root", "/nonexistent")) as d:
        eq([k for k in d.scrape() if k[0] == "agent_kubernetes_info"], [], "no family off a node")
        eq("# TYPE agent_kubernetes_info" in d.text(), False, "no TYPE line either")
