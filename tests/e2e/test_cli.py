"""The daemon's command line: bad configs, missing privileges, missing BTF,
a busy port and `agentbpf check` give one clear line and the promised exit
status; `agentbpf top` shows a running daemon's numbers."""
import os
import re
import socket
import tempfile

from harness import AGENTBPF, Daemon, Procs, check, eq, free_port, run
from httpclient import Conn, request
from test_http import HTTPSERVER, cfg, start_httpserver, wait_counts

GOOD = "agents:\n  - name: a\n    match:\n      comm: nomatchcomm\n"


def write(text):
    fd, path = tempfile.mkstemp(suffix=".yml", prefix="agentbpf-cfg-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def run_daemon(*args, **kw):
    return run([AGENTBPF, *args], timeout=20, **kw)


def test_bad_config_names_file_and_line_and_exits_2():
    cases = [
        ("agents:\n  - name: a\n    match:\n      comm: x\n  - name: a\n    match:\n      comm: y\n",
         ":5: agent \"a\": name used twice"),
        ("agents:\n  - name: a\n    match:\n      colour: red\n", ":4: match: unknown key \"colour\""),
        ("agents:\n  - name: a\n    match: {}\n", ":3: agent \"a\": match needs at least one of"),
        ("buckets: [1, 0.5]\nagents: []\n", ":1: buckets: must be strictly ascending"),
        ("agents:\n  - name: a\n    match:\n      port: 99999\n", ":4: match.port: must be a whole number from 1 to 65535"),
        ("namespace: 9lives\nagents: []\n", ":1: namespace: \"9lives\" is not a valid metric name prefix"),
        ("agents:\n  - name: [unclosed\n", ":3: "),
        ("agnets: []\n", ":1: unknown key \"agnets\""),
    ]
    for text, want in cases:
        path = write(text)
        try:
            r = run_daemon("--config", path, "--web.listen-address", f"127.0.0.1:{free_port()}")
            eq(r.returncode, 2, f"exit status for {text!r}")
            line = r.stderr.strip()
            check(line.startswith(f"agentbpf: {path}:"), f"error names the file: {line!r}")
            check(want in line, f"error {line!r} should contain {want!r}")
            eq(len(r.stderr.strip().splitlines()), 1, "one line of error")
        finally:
            os.unlink(path)


def test_missing_config_and_bad_flags_exit_2():
    r = run_daemon("--config", "/nonexistent/agentbpf.yml")
    eq(r.returncode, 2, "missing config exit status")
    check("/nonexistent/agentbpf.yml: cannot open config: No such file or directory" in r.stderr, r.stderr)
    path = write(GOOD)
    try:
        r = run_daemon("--config", path, "--web.listen-address", "9091")
        eq(r.returncode, 2, "bad listen address exit status")
        check("--web.listen-address \"9091\" is not host:port" in r.stderr, r.stderr)
        r = run_daemon("--config", path, "--namespace", "bad-ns")
        eq(r.returncode, 2, "bad namespace exit status")
        r = run_daemon("--bogus")
        eq(r.returncode, 2, "unknown flag exit status")
        check("--help" in r.stderr, "unknown flag points at --help")
        r = run_daemon("frobnicate")
        eq(r.returncode, 2, "unknown command exit status")
    finally:
        os.unlink(path)


def test_help_and_version():
    r = run_daemon("--help")
    eq(r.returncode, 0, "--help exit status")
    for word in ("--config", "--web.listen-address", "--namespace", "check", "trace", ":9091"):
        check(word in r.stdout, f"--help mentions {word}")
    r = run_daemon("--version")
    eq(r.returncode, 0, "--version exit status")
    check(r.stdout.startswith("agentbpf "), r.stdout)


def test_missing_privileges_exit_1_naming_the_fix():
    path = write(GOOD)
    os.chmod(path, 0o644)
    try:
        r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", AGENTBPF, "--config", path,
                 "--web.listen-address", f"127.0.0.1:{free_port()}"], timeout=20)
        eq(r.returncode, 1, f"unprivileged exit status ({r.stderr})")
        check("not permitted to load BPF programs" in r.stderr and "run as root or with CAP_BPF" in r.stderr,
              r.stderr)
        r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", AGENTBPF, "check", "--config", path],
                timeout=20)
        eq(r.returncode, 1, "unprivileged check exit status")
        check("FAIL  privileges" in r.stdout, r.stdout)
    finally:
        os.unlink(path)


def test_missing_btf_exit_1_naming_the_fix():
    path = write(GOOD)
    try:
        r = run_daemon("--config", path, "--btf", "/nonexistent/vmlinux")
        eq(r.returncode, 1, "missing BTF exit status")
        check("kernel BTF not found at /nonexistent/vmlinux" in r.stderr and "CONFIG_DEBUG_INFO_BTF" in r.stderr,
              r.stderr)
    finally:
        os.unlink(path)


def test_port_in_use_exit_1():
    path = write(GOOD)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        r = run_daemon("--config", path, "--web.listen-address", f"127.0.0.1:{port}")
        eq(r.returncode, 1, "busy port exit status")
        check(f"cannot listen on 127.0.0.1:{port}" in r.stderr, r.stderr)
    finally:
        s.close()
        os.unlink(path)


def test_check_reports_and_loads_probes():
    path = write(GOOD)
    try:
        r = run_daemon("check", "--config", path)
        eq(r.returncode, 0, f"check exit status ({r.stdout})")
        for want in ("ok    BTF", "ok    privileges", "ok    ring buffer", "ok    load probes",
                     "info  kprobes", "info  fentry/fexit", "ok    config", "agentbpf can run here"):
            check(want in r.stdout, f"check output lacks {want!r}:\n{r.stdout}")
        bad = write("agents: 3\n")
        r = run_daemon("check", "--config", bad)
        os.unlink(bad)
        eq(r.returncode, 1, "check with a bad config")
        check("FAIL  config" in r.stdout and ":1: agents: expected a list" in r.stdout, r.stdout)
    finally:
        os.unlink(path)


def test_top_shows_the_daemons_counts_and_rates():
    # agentbpf top reads a running daemon: a real agent, real requests, and
    # the table's numbers checked against what the client did.
    port = free_port()
    with Daemon(cfg(HTTPSERVER)) as d, Procs() as ps:
        start_httpserver(ps, port, d=d)
        with Conn(port) as c:
            for i in range(40):
                c.send(request("GET", "/ok" if i % 4 else "/status/500"))
                c.response()
        wait_counts(d, "pyserver", success=30, error=10)
        r = run([AGENTBPF, "top", "--web.listen-address", d.url.split("//")[1],
                 "--interval", "0.5", "--iterations", "2"], timeout=20)
        eq(r.returncode, 0, f"top exit status ({r.stderr})")
        tables = r.stdout.split("agentbpf top ")[1:]
        eq(len(tables), 2, f"two tables printed:\n{r.stdout}")
        row = next((l.split() for l in tables[-1].splitlines() if l.startswith("pyserver ")), None)
        check(row is not None, f"a row for the agent:\n{r.stdout}")
        eq(row[1:4], ["1", "40", "0.0"], "PROCS, REQUESTS (all statuses), REQ/S once idle")
        eq(row[8], "0", "in flight once idle")
    r = run([AGENTBPF, "top", "--web.listen-address", f"127.0.0.1:{free_port()}",
             "--iterations", "1"], timeout=20)
    eq(r.returncode, 1, "top with no daemon there")
    check("no agentbpf daemon answers at 127.0.0.1:" in r.stderr and "--web.listen-address" in r.stderr,
          f"the error names the fix: {r.stderr!r}")
    r = run([AGENTBPF, "top", "--interval", "0"], timeout=20)
    eq(r.returncode, 2, "a bad --interval is a usage error")


# Every option at its most expensive for the verifier: all request labels,
# the largest caps, eight bus ports, 32 buckets (check loads with trace on).
COSTLIEST = """
request_labels: [method, route, code]
max_routes: 10000
max_queues: 10000
bus_ports: [6379, 4222, 6380, 6381, 4223, 4224, 6382, 6383]
buckets: [%s]
agents:
  - name: a
    match: {comm: nosuchprocess}
""" % ", ".join(str(0.001 * (i + 1)) for i in range(32))

VERIFIER_LINE = re.compile(r"^(ok  |FAIL)  verifier +(\w+)/(\w+): (\d+) instructions "
                           r"\(budget (\d+)\), ([\d.]+) s", re.M)


def test_every_program_verifies_within_budget():
    # Verification cost moves 2-3x between builds of one kernel: every
    # program keeps to 15 % of the verifier's 1M-instruction limit, with
    # every option on, and check shows each one's figures.
    path = write(COSTLIEST)
    try:
        r = run_daemon("check", "--config", path)
        eq(r.returncode, 0, f"check exit status:\n{r.stdout}")
        seen = {}
        for tag, family, prog, insns, budget, _ in VERIFIER_LINE.findall(r.stdout):
            eq(int(budget), 150000, "budget")
            check(0 < int(insns) <= 150000 and tag == "ok  ",
                  f"{family}/{prog} verified in {insns} instructions, over the 150000 budget")
            seen[prog] = int(insns)
        # The socket programs of whichever hook this kernel has (fexit before 6.3).
        for prog in ("handle_exec", "handle_fork", "handle_exit", "http_recv", "http_send",
                     "http_destroy", "bus_send", "bus_recv"):
            check(prog in seen or prog + "_fexit" in seen,
                  f"check shows no verifier figures for {prog}:\n{r.stdout}")
        print("verified instructions:", seen)
    finally:
        os.unlink(path)
