"""Writes a runnable copy of prometheus_config.yml for the demo and the tests:
the scrape target is where this agentbpf listens, rule_files are absolute
(or in --rules-dir), intervals optionally shorter. Text edits with checks,
so a change to the config's layout fails here loudly instead of silently
scraping the wrong thing. Standard library only (Debian's /usr/bin/python3).

  demo_promconfig.py [--target HOST:PORT] [--interval 1s] [--rules-dir DIR] SRC DST
"""
import argparse
import os
import re
import sys


def rewrite(text, src_dir, target=None, interval=None, rules_dir=None):
    def sub(pattern, repl, count_expected, what):
        nonlocal text
        text, n = re.subn(pattern, repl, text, flags=re.M)
        if n != count_expected:
            sys.exit(f"demo_promconfig: expected {count_expected} {what} in the config, found {n}")

    if target:
        # Only the static target of the active job (comments start with #).
        sub(r'^(\s+- targets: \[)"localhost:9091"(\])', rf'\g<1>"{target}"\2', 1, "localhost:9091 target")
    if interval:
        sub(r'^(  scrape_interval:) \S+', rf'\1 {interval}', 1, "global scrape_interval")
        sub(r'^(  evaluation_interval:) \S+', rf'\1 {interval}', 1, "global evaluation_interval")
        if re.search(r'^  scrape_timeout:', text, flags=re.M) is None:
            # The timeout may not exceed the interval (default 10s).
            sub(r'^(  scrape_interval: \S+)$', rf'\1\n  scrape_timeout: {interval}', 1, "scrape_interval line")

    def rule_path(m):
        path = m.group(2)
        if rules_dir:
            return m.group(1) + os.path.join(rules_dir, os.path.basename(path))
        return m.group(1) + os.path.normpath(os.path.join(src_dir, path))

    sub(r'^(  - )(deploy/prometheus/\S+\.yml)$', rule_path, 2, "rule_files entries")
    return text


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target")
    p.add_argument("--interval")
    p.add_argument("--rules-dir")
    p.add_argument("src")
    p.add_argument("dst")
    a = p.parse_args()
    with open(a.src) as f:
        text = f.read()
    out = rewrite(text, os.path.dirname(os.path.abspath(a.src)), a.target, a.interval, a.rules_dir)
    with open(a.dst, "w") as f:
        f.write(out)


if __name__ == "__main__":
    main()
