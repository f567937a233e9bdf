"""What the Python benchmarks share: a daemon per measured round, alternating
rounds, and tables of medians against the baseline of the same run (the
machine is noisy: nothing is compared across runs)."""
import os
import shutil
import socket
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
AGENTBPF = os.environ.get("AGENTBPF", os.path.join(REPO, "agentbpf"))
RESULTS = os.environ.get("RESULTS", os.path.join(BENCH, "results"))
PY = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"bench: nothing listens on {port}")


def scrape(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class Daemon:
    """agentbpf with one agent, "bench", matching a cmdline glob. stats: True
    adds --bpf-stats, False leaves them off, None runs a build's defaults."""

    def __init__(self, glob, workdir, stats=True, binary=AGENTBPF, extra_config=""):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = os.path.join(workdir, "agentbpf.yml")
        with open(cfg, "w") as f:
            f.write(f'agents:\n  - name: bench\n    match:\n      cmdline: "{glob}"\n{extra_config}')
        extra = ["--bpf-stats"] if stats else []
        self.stats = stats is not False
        log = os.path.join(workdir, "agentbpf.log")
        with open(log, "w") as err:
            self.proc = subprocess.Popen([binary, "--config", cfg, "--web.listen-address",
                                          f"127.0.0.1:{self.port}", *extra], stderr=err)
        deadline = time.time() + 15
        while time.time() < deadline and self.proc.poll() is None:
            try:
                scrape(self.url)
                return
            except OSError:
                time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        with open(log) as f:
            sys.exit(f"bench: {binary} did not start: {f.read().strip()}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def daemon_variants(glob, workdir, compare, extra_config=""):
    """This build with and without kernel BPF stats, and any --compare builds."""
    v = {"agentbpf": (lambda: Daemon(glob, workdir, extra_config=extra_config),
                      lambda ctx: ctx.stop()),
         "agentbpf, no bpf stats": (lambda: Daemon(glob, workdir, stats=False,
                                                   extra_config=extra_config),
                                    lambda ctx: ctx.stop())}
    for name, binary in compare:
        # Its own defaults: an older build may not know today's flags.
        v[name] = (lambda b=binary: Daemon(glob, workdir, stats=None, binary=b,
                                           extra_config=extra_config),
                   lambda ctx: ctx.stop())
    return v


def require(who, tools):
    """Root and the tools a benchmark runs, or an exit naming the fix."""
    if os.geteuid() != 0:
        sys.exit(f"{who}: needs root to load BPF programs")
    for tool in tools:
        if not shutil.which(tool):
            sys.exit(f"{who}: {tool} missing (make deps)")
    others = running_daemons()
    if others:
        # Its probes would run on every measured call too, in every variant.
        sys.exit(f"{who}: another agentbpf is running (pid {' '.join(others)}): stop it first, "
                 "its probes would be measured with ours")
    os.makedirs(RESULTS, exist_ok=True)


def running_daemons():
    """Pids of live agentbpf processes (zombies have no probes left). This
    script's own daemons are not started yet when require() asks."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
        # Builds under other names (agentbpf-74da08) count too: comm is their file name.
        if comm.startswith("agentbpf") and state != "Z":
            pids.append(pid)
    return pids


def stop_all(procs):
    """Ends what a benchmark started, killing what does not stop."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def tls_files(work):
    """A CA of its own (python3-trustme) and a certificate for localhost in
    work: ca.pem, server.pem (with its chain), server.key."""
    import trustme
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    ca.cert_pem.write_to_path(f"{work}/ca.pem")
    cert.private_key_pem.write_to_path(f"{work}/server.key")
    cert.private_key_and_cert_chain_pem.write_to_path(f"{work}/server.pem")
    return f"{work}/ca.pem"


def write_report(name, text):
    """bench/results/NAME, and the same on stdout."""
    with open(os.path.join(RESULTS, name), "w") as f:
        f.write(text)
    print("\n" + text)


def parse_compare(items):
    out = []
    for c in items:
        name, sep, binary = c.partition("=")
        if not sep or not os.access(binary, os.X_OK):
            sys.exit(f"bench: --compare wants NAME=BINARY with an executable BINARY, not {c!r}")
        out.append((name, binary))
    return out


def bpf_programs(before, after):
    """program -> (runs, nanoseconds) of agentbpf's BPF programs between two scrapes."""
    out = {}
    for key, v in after.items():
        if key.startswith("agentbpf_bpf_program_run_seconds_total{"):
            prog = key.split('"')[1]
            runs = key.replace("run_seconds_total", "runs_total")
            out[prog] = (after.get(runs, 0) - before.get(runs, 0), (v - before.get(key, 0)) * 1e9)
    return out


def run_rounds(variants, rounds, measure, counted, unit="req/s"):
    """variants: name -> (setup, teardown) around each measured round.
    measure(name) -> (rate, p99 seconds or None, operations done);
    counted(before, after) -> operations agentbpf counted between two scrapes, or None."""
    res = {name: {"rps": [], "p99": [], "bpf_ns": [], "lost": [], "progs": []} for name in variants}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            setup, teardown = variants[name]
            ctx = setup()
            before = scrape(ctx.url) if ctx else None
            rate, p99, total = measure(name)
            if ctx:
                time.sleep(0.3)
                after = scrape(ctx.url)
                n = counted(before, after)
                if ctx.stats and total:
                    progs = bpf_programs(before, after)
                    res[name]["bpf_ns"].append(sum(ns for _, ns in progs.values()) / total)
                    res[name]["progs"].append({p: (r / total, ns / total) for p, (r, ns) in progs.items()})
                # Operations still in flight when the client stops may be counted
                # too, so only a shortfall is a loss. None: nothing to compare.
                if n is not None:
                    res[name]["lost"].append(max(0, total - n))
            res[name]["rps"].append(rate)
            if p99 is not None:
                res[name]["p99"].append(p99)
            teardown(ctx)
            p = f"  p99 {p99 * 1e3:7.2f} ms" if p99 is not None else ""
            print(f"  round {r + 1} {name:>22}: {rate:10.0f} {unit}{p}", flush=True)
    return res


def paired(values, base):
    """Median of the round-by-round ratios to the baseline, as a percentage.
    The machine's speed drifts over a run; a round's variants run back to
    back, so their ratio is steadier than a ratio of the runs' medians."""
    return 100 * (statistics.median(v / b for v, b in zip(values, base)) - 1)


def table(title, res, baseline, unit="req/s", per="request"):
    base = res[baseline]
    has_p99 = bool(base["p99"])
    head = f"| variant | {unit} (median) | vs baseline |"
    if has_p99:
        head += " p99 ms (median) | vs baseline |"
    head += f" BPF ns/{per} | {per}s lost |"
    lines = [f"### {title}", "", head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in res.items():
        rps = statistics.median(r["rps"])
        row = f"| {name} | {rps:.0f} | {paired(r['rps'], base['rps']):+.1f}% |"
        if has_p99:
            p99 = statistics.median(r["p99"])
            row += f" {p99 * 1e3:.2f} | {paired(r['p99'], base['p99']):+.1f}% |"
        bpf = f"{statistics.median(r['bpf_ns']):.0f}" if r["bpf_ns"] else "–"
        lost = f"{max(r['lost']):.0f}" if r["lost"] else "–"
        lines.append(row + f" {bpf} | {lost} |")
    # Where the BPF time goes, per program (medians over the rounds).
    for name, r in res.items():
        if not r["progs"]:
            continue
        lines += ["", f"BPF time per {per}, {name}:", "",
                  f"| program | runs/{per} | ns/run | ns/{per} |", "|---|---|---|---|"]
        for prog in sorted(r["progs"][0]):
            runs = statistics.median(p.get(prog, (0, 0))[0] for p in r["progs"])
            ns = statistics.median(p.get(prog, (0, 0))[1] for p in r["progs"])
            if runs >= 0.01:
                lines.append(f"| {prog} | {runs:.2f} | {ns / runs:.0f} | {ns:.0f} |")
    return "\n".join(lines) + "\n"
