"""The shipped files are known to work: the example configs load, the
Prometheus config is valid, and make install puts things where it says."""
import os
import tempfile

from harness import AGENTBPF, ROOT, check, eq, run


def test_prometheus_config_is_valid():
    r = run(["promtool", "check", "config", os.path.join(ROOT, "prometheus_config.yml")])
    eq(r.returncode, 0, f"promtool check config: {r.stdout}{r.stderr}")


def test_example_configs_load():
    for cfg in ("deploy/agentbpf.yml", "deploy/demo/demo.yml"):
        r = run([AGENTBPF, "check", "--config", os.path.join(ROOT, cfg)])
        eq(r.returncode, 0, f"check {cfg}: {r.stdout}")
        check("ok    config" in r.stdout, f"{cfg} is valid: {r.stdout}")


def test_make_install_honours_prefix_and_destdir():
    with tempfile.TemporaryDirectory() as dest:
        r = run(["make", "-s", "-C", ROOT, "install", f"DESTDIR={dest}", "PREFIX=/opt/ab"])
        eq(r.returncode, 0, f"make install: {r.stderr}")
        binary = os.path.join(dest, "opt/ab/bin/agentbpf")
        check(os.access(binary, os.X_OK), "installed binary is executable")
        check(os.path.exists(os.path.join(dest, "etc/agentbpf/agentbpf.yml")), "config installed")
        eq(run([binary, "--version"]).stdout, run([AGENTBPF, "--version"]).stdout, "same binary")
