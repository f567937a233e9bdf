"""The Grafana dashboards are importable and consistent: the JSON is what
grafana_dashboards/generate.py writes, every panel and query uses the data
source variable, variables are defined and used, every query is valid PromQL
(promtool), panels do not overlap. That they return data on a real fleet is
tests/e2e/test_prometheus.py's job."""
import glob
import importlib.util
import json
import os
import re
import tempfile

from harness import ROOT, check, eq, run

DIR = os.path.join(ROOT, "grafana_dashboards")
DS = {"type": "prometheus", "uid": "${datasource}"}
EXPECTED = ["agentbpf-exporter.json", "agentbpf-latency.json", "agentbpf-llm.json",
            "agentbpf-message-bus.json", "agentbpf-outbound.json", "agentbpf-overview.json", "agentbpf-requests.json",
            "agentbpf-workers.json"]


def dashboards():
    return {os.path.basename(p): json.load(open(p)) for p in sorted(glob.glob(os.path.join(DIR, "*.json")))}


def test_dashboard_json_is_what_generate_py_writes():
    spec = importlib.util.spec_from_file_location("generate", os.path.join(DIR, "generate.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    rendered = gen.render()
    eq(sorted(rendered), EXPECTED, "dashboards generate.py writes")
    eq(sorted(dashboards()), EXPECTED, "dashboard files in grafana_dashboards/")
    for name, text in rendered.items():
        eq(open(os.path.join(DIR, name)).read() == text, True,
           f"{name} is out of date: run /usr/bin/python3 grafana_dashboards/generate.py")


def test_every_panel_uses_the_datasource_variable_and_defined_variables():
    uids = set()
    for name, d in dashboards().items():
        eq(d["schemaVersion"], 39, f"{name} schemaVersion")
        check(d["uid"] not in uids and len(d["uid"]) <= 40, f"{name} uid {d['uid']} unique, short")
        uids.add(d["uid"])
        check(d["title"].startswith("agentbpf / "), f"{name} title")
        check("agentbpf" in d["tags"], f"{name} tagged for the dashboard links")
        check(d["id"] is None, f"{name} has no instance-specific id")
        variables = {v["name"]: v for v in d["templating"]["list"]}
        ds = variables.get("datasource")
        check(ds and ds["type"] == "datasource" and ds["query"] == "prometheus",
              f"{name}: datasource variable of type datasource/prometheus")
        exprs = []
        ids = set()
        cells = set()
        for p in d["panels"]:
            check(p["id"] not in ids, f"{name}: panel id {p['id']} unique")
            ids.add(p["id"])
            g = p["gridPos"]
            check(g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, f"{name}: {p['title']} within 24 columns")
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    check((x, y) not in cells, f"{name}: {p['title']} overlaps another panel")
                    cells.add((x, y))
            if p["type"] == "row":
                continue
            eq(p["datasource"], DS, f"{name}: {p['title']} datasource")
            check(p["targets"], f"{name}: {p['title']} has queries")
            check(p.get("description"), f"{name}: {p['title']} has a description")
            check("unit" in p["fieldConfig"]["defaults"] or p["type"] in ("heatmap", "table"),
                  f"{name}: {p['title']} has a unit")
            refs = [t["refId"] for t in p["targets"]]
            eq(len(set(refs)), len(refs), f"{name}: {p['title']} refIds unique")
            for t in p["targets"]:
                eq(t["datasource"], DS, f"{name}: {p['title']} query datasource")
                exprs.append(t["expr"])
        used = set(re.findall(r'\$(\w+)', " ".join(exprs))) - {"__rate_interval", "__range", "__interval", "1"}
        eq(sorted(used - set(variables)), [], f"{name}: variables used but not defined")
        eq(sorted(set(variables) - used - {"datasource"}), [], f"{name}: variables defined but not used")
        for v in variables.values():
            if v["type"] == "query":
                eq(v["datasource"], DS, f"{name}: variable {v['name']} datasource")
                check(v["multi"] and v["includeAll"] and v["allValue"] == ".*",
                      f"{name}: {v['name']} multi-select with All")
        if "agent" in variables:
            eq(variables["agent"]["query"]["query"], "label_values(agent_processes, agent_type)",
               f"{name}: agent variable")
    eq(len(uids), len(EXPECTED), "dashboards")


def test_every_query_is_valid_promql():
    rules, n = [], 0
    for name, d in dashboards().items():
        for p in d["panels"]:
            for t in p.get("targets", []):
                expr = t["expr"]
                for var, value in (("$__rate_interval", "1m"), ("$__interval", "15s"), ("$__range", "1h"),
                                   ("$agent", ".*"), ("$instance", ".*")):
                    expr = expr.replace(var, value)
                n += 1
                rules.append(f"      - record: dashboard:query:{n}\n        expr: {json.dumps(expr)}\n")
    check(n >= 60, f"queries: {n}")
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write("groups:\n  - name: dashboards\n    rules:\n" + "".join(rules))
        f.flush()
        r = run(["promtool", "check", "rules", f.name])
        eq(r.returncode, 0, f"promtool check rules on the dashboards' queries: {r.stdout}{r.stderr}")
        check(f"SUCCESS: {n} rules found" in r.stdout, r.stdout)


def test_provisioning_files_point_at_the_dashboards():
    prov = os.path.join(DIR, "provisioning")
    dash = open(os.path.join(prov, "dashboards.yml")).read()
    ds = open(os.path.join(prov, "datasource.yml")).read()
    check("apiVersion: 1" in dash and "type: file" in dash and "path: /var/lib/grafana/dashboards/agentbpf" in dash,
          "dashboard provider")
    check("apiVersion: 1" in ds and "type: prometheus" in ds and "url: http://localhost:9090" in ds,
          "Prometheus data source")
    readme = open(os.path.join(DIR, "README.md")).read()
    for f in EXPECTED + ["provisioning/dashboards.yml", "provisioning/datasource.yml"]:
        check(os.path.basename(f) in readme, f"README mentions {f}")
