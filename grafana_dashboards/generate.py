#!/usr/bin/python3
"""Writes the agentbpf Grafana dashboards (agentbpf-*.json next to this file).

The JSON files are what you import; this script is their source, so every
dashboard gets the same data source and agent variables, units and links.
Edit it and run `/usr/bin/python3 grafana_dashboards/generate.py`;
tests/e2e/test_dashboards.py fails when the JSON and this script disagree.
Standard library only."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
AGENT = '"$agent"'  # used as agent_type=~$agent, worker_name=~$agent, to_agent=~$agent
SCHEMA_VERSION = 39


class Dashboard:
    def __init__(self, uid, title, description, instance_var=False, agent_var=True):
        self.uid, self.title, self.description = uid, title, description
        self.instance_var, self.agent_var = instance_var, agent_var
        self.panels = []
        self.x = self.y = self.row_h = 0
        self.next_id = 1

    def add(self, panel, w, h):
        """Places panels left to right, wrapping at 24 columns."""
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title):
        if self.x:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0

    def json(self):
        variables = [{
            "name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "includeAll": False,
            "multi": False, "options": [], "refresh": 1, "regex": "", "skipUrlSync": False,
        }]
        if self.instance_var:
            variables.append(query_var("instance", "Host (instance)",
                                       'label_values(agentbpf_build_info, instance)'))
        if self.agent_var:
            variables.append(query_var("agent", "Agent", "label_values(agent_processes, agent_type)"))
        return {
            "__requires": [
                {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
                {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            ],
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard"}]},
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "id": None,
            "links": [{"asDropdown": True, "icon": "external link", "includeVars": True,
                       "keepTime": True, "tags": ["agentbpf"], "targetBlank": False,
                       "title": "agentbpf", "type": "dashboards"}],
            "panels": self.panels,
            "refresh": "30s",
            "schemaVersion": SCHEMA_VERSION,
            "tags": ["agentbpf", "ai-agents"],
            "templating": {"list": variables},
            "time": {"from": "now-1h", "to": "now"},
            "timepicker": {},
            "timezone": "",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "",
        }


def query_var(name, label, query):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "includeAll": True, "allValue": ".*", "multi": True, "hide": 0,
        "options": [], "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1,
    }


def target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "editorMode": "code", "expr": expr, "legendFormat": legend or "__auto",
         "range": not instant, "instant": instant, "refId": ref}
    if fmt != "time_series":
        t["format"] = fmt
    return t


def thresholds(*steps):
    """steps: (value, color) after the base color: thresholds("green", (0.05, "red"))."""
    base, *rest = steps
    return {"mode": "absolute",
            "steps": [{"color": base, "value": None}] + [{"color": c, "value": v} for v, c in rest]}


def field_config(unit, th=None, min=None, max=None, decimals=None, custom=None, mappings=None):
    d = {"unit": unit, "thresholds": th or thresholds("green"), "color": {"mode": "palette-classic"}}
    if min is not None:
        d["min"] = min
    if max is not None:
        d["max"] = max
    if decimals is not None:
        d["decimals"] = decimals
    if custom is not None:
        d["custom"] = custom
    d["mappings"] = mappings or []
    return {"defaults": d, "overrides": []}


def timeseries(title, description, targets, unit, th=None, stack=False, bars=False, min=0, max=None,
               show_thresholds=False, axis_label=""):
    custom = {
        "drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": 60 if bars else 10,
        "gradientMode": "none", "showPoints": "never", "spanNulls": False,
        "axisLabel": axis_label, "axisPlacement": "auto",
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line+area" if show_thresholds else "off"},
    }
    fc = field_config(unit, th, min=min, max=max, custom=custom)
    if show_thresholds:
        fc["defaults"]["color"] = {"mode": "palette-classic"}
    return {"type": "timeseries", "title": title, "description": description, "datasource": DS,
            "targets": targets, "fieldConfig": fc,
            "options": {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                                   "calcs": ["mean", "max", "lastNotNull"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title, description, expr, unit, th=None, decimals=None, mappings=None, color_mode="value"):
    fc = field_config(unit, th, decimals=decimals, mappings=mappings)
    fc["defaults"]["color"] = {"mode": "thresholds"}
    return {"type": "stat", "title": title, "description": description, "datasource": DS,
            "targets": [target(expr)], "fieldConfig": fc,
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": color_mode, "graphMode": "area", "justifyMode": "auto",
                        "orientation": "auto", "textMode": "auto"}}


def bargauge(title, description, targets, unit, th=None, min=0, max=None):
    fc = field_config(unit, th, min=min, max=max)
    fc["defaults"]["color"] = {"mode": "thresholds"}
    return {"type": "bargauge", "title": title, "description": description, "datasource": DS,
            "targets": targets, "fieldConfig": fc,
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                        "minVizHeight": 10, "minVizWidth": 0, "valueMode": "color"}}


HEALTH_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "down", "color": "red", "index": 0},
    "1": {"text": "up", "color": "green", "index": 1}}}]


def state_timeline(title, description, targets):
    fc = field_config("none", thresholds("red", (1, "green")), mappings=HEALTH_MAPPINGS,
                      custom={"fillOpacity": 80, "lineWidth": 0})
    fc["defaults"]["color"] = {"mode": "thresholds"}
    return {"type": "state-timeline", "title": title, "description": description, "datasource": DS,
            "targets": targets, "fieldConfig": fc,
            "options": {"showValue": "never", "mergeValues": True, "alignValue": "left",
                        "rowHeight": 0.8, "legend": {"showLegend": False, "displayMode": "list",
                                                     "placement": "bottom"},
                        "tooltip": {"mode": "single", "sort": "none"}}}


def heatmap(title, description, expr, unit):
    return {"type": "heatmap", "title": title, "description": description, "datasource": DS,
            "targets": [target(expr, "{{le}}", fmt="heatmap")],
            "fieldConfig": {"defaults": {"custom": {"hideFrom": {"legend": False, "tooltip": False,
                                                                 "viz": False},
                                                    "scaleDistribution": {"type": "linear"}}},
                            "overrides": []},
            "options": {"calculate": False, "cellGap": 1, "yAxis": {"axisPlacement": "left", "unit": unit},
                        "rowsFrame": {"layout": "auto"},
                        "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential",
                                  "exponent": 0.5, "fill": "dark-orange", "steps": 64, "reverse": False},
                        "cellValues": {"unit": "short"}, "filterValues": {"le": 1e-9},
                        "legend": {"show": True},
                        "tooltip": {"show": True, "yHistogram": True},
                        "exemplars": {"color": "rgba(255,0,255,0.7)"}}}


def table(title, description, targets, columns):
    """columns: [(refId, header, unit)]; instant queries joined on their labels."""
    overrides = [{"matcher": {"id": "byName", "options": header},
                  "properties": [{"id": "unit", "value": unit}]} for _, header, unit in columns]
    rename = {f"Value #{ref}": header for ref, header, _ in columns}
    return {"type": "table", "title": title, "description": description, "datasource": DS,
            "targets": targets,
            "transformations": [
                {"id": "merge", "options": {}},
                {"id": "organize", "options": {"excludeByName": {"Time": True},
                                               "renameByName": rename}}],
            "fieldConfig": {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}},
                                         "thresholds": thresholds("green"), "mappings": []},
                            "overrides": overrides},
            "options": {"showHeader": True, "cellHeight": "sm",
                        "footer": {"show": False, "reducer": ["sum"], "countRows": False}}}


def rate(metric, matchers, by=None, window="$__rate_interval", fn="rate"):
    sel = f"{metric}{{{matchers}}}" if matchers else metric
    inner = f"{fn}({sel}[{window}])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


A = f'agent_type=~{AGENT}'
W = f'worker_name=~{AGENT}'

# ---------------------------------------------------------------- overview
def overview():
    d = Dashboard("agentbpf-overview", "agentbpf / Overview",
                  "AI agents measured by agentbpf: health, traffic, errors, latency, restarts and "
                  "the message bus at a glance. Select agents with the Agent variable.")
    d.add(stat("Agents up", "Agents with at least one live process (worker_health_status), summed over hosts.",
               f"sum(worker_health_status{{{W}}})", "none", thresholds("green")), 4, 4)
    d.add(stat("Agents down", "Agents with no live process, batch jobs (worker_type=\"job\") excepted. "
               "The AgentDown alert fires after 5 minutes.",
               f'count(worker_health_status{{{W},worker_type!="job"}} == 0) or vector(0)', "none",
               thresholds("green", (1, "red"))), 4, 4)
    d.add(stat("Requests/s", "HTTP requests the selected agents received per second.",
               rate("agent_requests_total", A), "reqps"), 4, 4)
    d.add(stat("Error ratio", "Share of requests that failed: 5xx, or closed without a full response.",
               "(" + rate("agent_requests_total", A + ',status="error"') + " or vector(0)) / " +
               rate("agent_requests_total", A),
               "percentunit", thresholds("green", (0.01, "orange"), (0.05, "red")), decimals=2), 4, 4)
    d.add(stat("p95 latency", "95th percentile of request duration over all selected agents.",
               f'histogram_quantile(0.95, {rate("agent_request_duration_seconds_bucket", A, "le")})', "s",
               thresholds("green", (2.5, "orange"), (5, "red"))), 4, 4)
    d.add(stat("Restarts", "Restarts of the selected agents in the time range, any reason (by reason: "
               "the Workers dashboard).",
               rate("worker_restarts_total", W, window="$__range", fn="increase"), "none",
               thresholds("green", (1, "orange"), (10, "red")), decimals=0), 4, 4)

    d.add(state_timeline("Agent health", "1 (up) while at least one process of the agent is alive.",
                         [target(f"worker_health_status{{{W}}}", "{{worker_name}}")]), 12, 8)
    d.add(timeseries("Requests/s by agent", "HTTP requests received per second.",
                     [target(rate("agent_requests_total", A, "agent_type"), "{{agent_type}}")], "reqps"), 12, 8)

    d.add(table("Agents", "Per agent over all hosts. Rates, error ratio and p95 are the 5-minute recording "
                "rules (deploy/prometheus/recording_rules.yml); restarts cover the time range.",
                [target(f"sum by (agent_type) (agent_processes{{{A}}})", ref="A", instant=True, fmt="table"),
                 target(f'sum by (agent_type) (label_replace(worker_health_status{{{W}}}, "agent_type", "$1", '
                        f'"worker_name", "(.*)"))', ref="B", instant=True, fmt="table"),
                 target(f"agent:requests:rate5m{{{A}}}", ref="C", instant=True, fmt="table"),
                 target(f"agent:requests_error_ratio:rate5m{{{A}}}", ref="D", instant=True, fmt="table"),
                 target(f"agent:request_duration_seconds:p95{{{A}}}", ref="E", instant=True, fmt="table"),
                 target(f'sum by (agent_type) (label_replace(increase(worker_restarts_total{{{W}}}[$__range]), '
                        f'"agent_type", "$1", "worker_name", "(.*)"))', ref="F", instant=True, fmt="table"),
                 target(f"sum by (agent_type) (agent_memory_rss_bytes{{{A}}})", ref="G", instant=True,
                        fmt="table")],
                [("A", "Processes", "none"), ("B", "Up (hosts)", "none"), ("C", "Requests/s", "reqps"),
                 ("D", "Error ratio", "percentunit"), ("E", "p95 latency", "s"),
                 ("F", "Restarts", "none"), ("G", "Memory", "bytes")]), 24, 8)

    d.add(timeseries("Error ratio by agent", "agent:requests_error_ratio:rate5m. The AgentHighErrorRatio "
                     "alert fires above 5% for 10 minutes.",
                     [target(f"agent:requests_error_ratio:rate5m{{{A}}}", "{{agent_type}}")], "percentunit",
                     thresholds("green", (0.05, "red")), max=1, show_thresholds=True), 8, 8)
    d.add(timeseries("p95 latency by agent", "agent:request_duration_seconds:p95. The AgentHighLatencyP95 "
                     "alert fires above 5s for 10 minutes.",
                     [target(f"agent:request_duration_seconds:p95{{{A}}}", "{{agent_type}}")], "s",
                     thresholds("green", (5, "red")), show_thresholds=True), 8, 8)
    d.add(timeseries("Messages/s producer → consumer", "Messages delivered to consuming agents (list pops, "
                     "stream reads, pub/sub and NATS deliveries), filtered on the consumer.",
                     [target(rate("message_bus_messages_total", f"to_agent=~{AGENT}", "from_agent, to_agent"),
                             "{{from_agent}} → {{to_agent}}")], "short", axis_label="messages/s"), 8, 8)
    return d


# ---------------------------------------------------------------- requests
def requests():
    d = Dashboard("agentbpf-requests", "agentbpf / Requests",
                  "HTTP requests the agents serve, seen by agentbpf in the kernel: rate by outcome, "
                  "errors, timeouts, in-flight, routes and codes (with request_labels), sizes.")
    d.add(timeseries("Requests/s by agent and outcome", "status: success (4xx included), error (5xx or "
                     "closed without a full response), timeout (408/504 or the client left first).",
                     [target(rate("agent_requests_total", A, "agent_type, status"),
                             "{{agent_type}} {{status}}")], "reqps", stack=True), 12, 8)
    d.add(timeseries("In-flight requests", "Requests received and not yet answered (worker_active_requests).",
                     [target(f"sum by (worker_name) (worker_active_requests{{{W}}})", "{{worker_name}}")],
                     "short"), 12, 8)
    d.add(timeseries("Error ratio", "agent:requests_error_ratio:rate5m (5-minute window).",
                     [target(f"agent:requests_error_ratio:rate5m{{{A}}}", "{{agent_type}}")], "percentunit",
                     thresholds("green", (0.05, "red")), max=1, show_thresholds=True), 12, 8)
    d.add(timeseries("Timeout ratio", "agent:requests_timeout_ratio:rate5m: 408/504 answers and clients "
                     "that gave up before the agent answered.",
                     [target(f"agent:requests_timeout_ratio:rate5m{{{A}}}", "{{agent_type}}")], "percentunit",
                     max=1), 12, 8)

    d.row("Routes and status codes (request_labels: [method, route, code] in agentbpf.yml)")
    d.add(timeseries("Requests/s by status code", "Needs request_labels with code; empty otherwise.",
                     [target(rate("agent_requests_total", A + ',code!=""', "agent_type, code"),
                             "{{agent_type}} {{code}}")], "reqps", stack=True), 12, 8)
    d.add(bargauge("Top routes by request rate", "The 15 busiest routes now; ids in paths are collapsed "
                   "to {id}, rare and probed routes fold into \"other\".",
                   [target("topk(15, " + rate("agent_requests_total", A + ',route!=""', "agent_type, method, route") + ")",
                           "{{agent_type}} {{method}} {{route}}", instant=True)], "reqps"), 12, 8)
    d.add(timeseries("p95 latency by route", "95th percentile per route (needs request_labels with route).",
                     [target("histogram_quantile(0.95, " +
                             rate("agent_request_duration_seconds_bucket", A + ',route!=""', "agent_type, route, le") + ")",
                             "{{agent_type}} {{route}}")], "s"), 12, 8)
    d.add(timeseries("Errors/s by route", "5xx and aborted responses per route.",
                     [target(rate("agent_requests_total", A + ',route!="",status="error"', "agent_type, route"),
                             "{{agent_type}} {{route}}")], "reqps"), 12, 8)

    d.row("Sizes (bytes on the wire, head and body)")
    for what, metric in (("Request", "agent_request_size_bytes"), ("Response", "agent_response_size_bytes")):
        d.add(timeseries(f"{what} size p50 / p95", f"{what} size percentiles per agent.",
                         [target(f'histogram_quantile(0.5, {rate(metric + "_bucket", A, "agent_type, le")})',
                                 "{{agent_type}} p50", "A"),
                          target(f'histogram_quantile(0.95, {rate(metric + "_bucket", A, "agent_type, le")})',
                                 "{{agent_type}} p95", "B")], "bytes"), 8, 8)
    d.add(timeseries("Bytes/s received and sent", "Request bytes in and response bytes out per agent.",
                     [target(rate("agent_request_size_bytes_sum", A, "agent_type"), "{{agent_type}} in", "A"),
                      target(rate("agent_response_size_bytes_sum", A, "agent_type"), "{{agent_type}} out", "B")],
                     "Bps"), 8, 8)
    return d


# ---------------------------------------------------------------- latency
def latency():
    d = Dashboard("agentbpf-latency", "agentbpf / Latency",
                  "Request latency per agent: from the request's first byte available to the agent to "
                  "the last response byte handed to the kernel, so time spent waiting unread counts.")
    for q, th in (("p50", None), ("p95", 5), ("p99", None)):
        d.add(timeseries(f"{q} latency by agent", f"agent:request_duration_seconds:{q} (recording rule, "
                         "5-minute window)." + (" AgentHighLatencyP95 fires above 5s." if th else ""),
                         [target(f"agent:request_duration_seconds:{q}{{{A}}}", "{{agent_type}}")], "s",
                         thresholds("green", (th, "red")) if th else None, show_thresholds=bool(th)), 8, 8)
    d.add(heatmap("Request duration heatmap", "Requests per duration bucket and time "
                  "(agent_request_duration_seconds_bucket, all selected agents). A band moving up is all "
                  "requests slowing; a second band is a slow tail.",
                  f'{rate("agent_request_duration_seconds_bucket", A, "le", fn="increase")}', "s"), 24, 10)
    d.add(timeseries("Mean latency by agent", "agent:request_duration_seconds:mean5m.",
                     [target(f"agent:request_duration_seconds:mean5m{{{A}}}", "{{agent_type}}")], "s"), 8, 8)
    d.add(timeseries("p95 latency, short window", "95th percentile over the dashboard's rate interval: "
                     "reacts faster than the 5-minute recording rule.",
                     [target(f'histogram_quantile(0.95, {rate("agent_request_duration_seconds_bucket", A, "agent_type, le")})',
                             "{{agent_type}}")], "s"), 8, 8)
    d.add(timeseries("Requests faster than 1s", "Share of requests that took at most 1 second (bucket "
                     "le=\"1\" of the default buckets).",
                     [target(rate("agent_request_duration_seconds_bucket", A + ',le="1"', "agent_type") + " / " +
                             rate("agent_request_duration_seconds_count", A, "agent_type"),
                             "{{agent_type}}")], "percentunit", min=0, max=1), 8, 8)
    return d


# ---------------------------------------------------------------- message bus
def message_bus():
    d = Dashboard("agentbpf-message-bus", "agentbpf / Message bus",
                  "Redis and NATS traffic between agents, seen from the agents' own connections: "
                  "throughput producer → consumer, queue depth, processing time, cache.")
    d.add(timeseries("Messages/s producer → consumer", "Deliveries to the consuming agent (to_agent, "
                     "filtered by Agent); from_agent is the queue's producer, unknown if outside the agents.",
                     [target(rate("message_bus_messages_total", f"to_agent=~{AGENT}", "from_agent, to_agent"),
                             "{{from_agent}} → {{to_agent}}")], "short", axis_label="messages/s"), 12, 8)
    d.add(timeseries("Messages/s by type", "message_type: the queues: entry's type, else list, stream, "
                     "pubsub or nats.",
                     [target(rate("message_bus_messages_total", f"to_agent=~{AGENT}", "message_type"),
                             "{{message_type}}")], "short", stack=True, axis_label="messages/s"), 12, 8)
    d.add(timeseries("Queue depth", "Messages waiting per Redis list or stream (agent_type: its consumer, "
                     "else its producer). MessageQueueBacklogGrowing fires above 1000 and rising; "
                     "MessageConsumerStalled when it rises and its consumer gets nothing.",
                     [target(f"sum by (agent_type, queue) (message_bus_queue_depth{{{A}}})",
                             "{{queue}} ({{agent_type}})")], "short",
                     thresholds("green", (1000, "red")), show_thresholds=True), 12, 8)
    d.add(bargauge("Flows now (5m rate)", "agent:message_bus_messages:rate5m: producer → consumer.",
                   [target(f"agent:message_bus_messages:rate5m{{to_agent=~{AGENT}}}",
                           "{{from_agent}} → {{to_agent}}", instant=True)], "short"), 12, 8)
    d.add(timeseries("Processing time p50 / p95 by consumer", "From a message delivered to the consumer "
                     "to its next command on that connection (recording rules, 5-minute window).",
                     [target(f"agent:message_bus_processing_duration_seconds:p50{{{A}}}", "{{agent_type}} p50", "A"),
                      target(f"agent:message_bus_processing_duration_seconds:p95{{{A}}}", "{{agent_type}} p95", "B")],
                     "s"), 12, 8)
    d.add(heatmap("Processing time heatmap", "Messages per processing-time bucket and time.",
                  rate("message_bus_processing_duration_seconds_bucket", A, "le", fn="increase"), "s"), 12, 8)
    d.row("Cache (GET-family lookups; cache_type is the agent's cache_type:, default its name)")
    d.add(timeseries("Cache hit ratio", "cache:hit_ratio:rate5m per cache_type.",
                     [target("cache:hit_ratio:rate5m", "{{cache_type}}")], "percentunit", min=0, max=1), 12, 8)
    d.add(timeseries("Cache lookups/s", "Hits and misses per cache_type.",
                     [target(rate("cache_hits_total", "", "cache_type"), "{{cache_type}} hits", "A"),
                      target(rate("cache_misses_total", "", "cache_type"), "{{cache_type}} misses", "B")],
                     "short", axis_label="lookups/s"), 12, 8)
    return d


# ---------------------------------------------------------------- outbound
def outbound():
    d = Dashboard("agentbpf-outbound", "agentbpf / Outbound calls",
                  "The HTTP and HTTPS calls agents make (LLM APIs, tools, other agents), seen by agentbpf "
                  "from the agents' own sockets and OpenSSL: rate, errors and latency by agent and peer, "
                  "and the agent graph.")
    d.add(timeseries("Calls/s by agent and peer", "peer: the agent reached on this host, else the host "
                     "named (TLS SNI or Host), else ip:port; \"other\" past max_peers.",
                     [target(rate("agent_outbound_requests_total", A, "agent_type, peer"),
                             "{{agent_type}} → {{peer}}")], "reqps", stack=True), 12, 8)
    d.add(timeseries("Error ratio by agent and peer", "agent_peer:outbound_error_ratio:rate5m: 5xx, or "
                     "the peer hung up without a full response. AgentOutboundPeerFailing fires above 10%.",
                     [target(f"agent_peer:outbound_error_ratio:rate5m{{{A}}}", "{{agent_type}} → {{peer}}")],
                     "percentunit", thresholds("green", (0.1, "red")), max=1, show_thresholds=True), 12, 8)
    d.add(timeseries("p95 call duration", "agent_peer:outbound_request_duration_seconds:p95: from the "
                     "request's first byte written to the response's last byte read.",
                     [target(f"agent_peer:outbound_request_duration_seconds:p95{{{A}}}",
                             "{{agent_type}} → {{peer}}")], "s"), 12, 8)
    d.add(timeseries("p95 time to first byte", "agent_peer:outbound_ttfb_seconds:p95: from the "
                     "request's first byte written to the response's first byte (an LLM's time to "
                     "first token, for a streamed answer).",
                     [target(f"agent_peer:outbound_ttfb_seconds:p95{{{A}}}", "{{agent_type}} → {{peer}}")],
                     "s"), 12, 8)
    d.add(table("Agent graph", "Calls per second between agents on the same hosts "
                "(agent:calls:rate5m): who calls whom.",
                [target(f"agent:calls:rate5m{{from_agent=~{AGENT}}}", ref="A", instant=True, fmt="table")],
                [("A", "Calls/s", "reqps")]), 12, 8)
    d.add(timeseries("Errors and timeouts/s by peer", "Calls that failed (error) or that the agent gave "
                     "up on (timeout), per peer.",
                     [target(rate("agent_outbound_requests_total", A + ',status!="success"', "peer, status"),
                             "{{peer}} {{status}}")], "reqps"), 12, 8)
    d.add(timeseries("Calls in flight", "agent_outbound_requests_in_flight: calls made and not yet "
                     "answered in full.",
                     [target(f"sum by (agent_type) (agent_outbound_requests_in_flight{{{A}}})",
                             "{{agent_type}}")], "short"), 12, 8)
    d.add(timeseries("Bytes/s sent and received in calls", "Request bytes out and response bytes in "
                     "per agent (head and body).",
                     [target(rate("agent_outbound_request_size_bytes_sum", A, "agent_type"),
                             "{{agent_type}} out", "A"),
                      target(rate("agent_outbound_response_size_bytes_sum", A, "agent_type"),
                             "{{agent_type}} in", "B")], "Bps"), 12, 8)
    return d


# ---------------------------------------------------------------- LLM calls
def llm():
    d = Dashboard("agentbpf-llm", "agentbpf / LLM calls",
                  "The agents' calls to LLM APIs (the config's llm_hosts and the public APIs), read by "
                  "agentbpf from the calls' own plaintext: tokens by agent and model, time to first "
                  "token, and errors by provider. Prompts and answers are never kept.")
    d.add(timeseries("Tokens/min by agent and model", "agent_llm_tokens_total, every kind (input, "
                     "output, cache_read, cache_write) as the provider's usage reports them.",
                     [target(rate("agent_llm_tokens_total", A, "agent_type, model") + " * 60",
                             "{{agent_type}} {{model}}")], "short", stack=True), 12, 8)
    d.add(timeseries("Tokens/min by kind", "agent_model:llm_tokens:rate5m by kind: input, output, and "
                     "the prompt cache's reads and writes.",
                     [target(f"sum by (kind) (agent_model:llm_tokens:rate5m{{{A}}}) * 60", "{{kind}}")],
                     "short", stack=True), 12, 8)
    d.add(timeseries("Time to first token, p50 and p95", "agent_model:llm_time_to_first_token_seconds: "
                     "from the request's first byte written to the read that brought the first content. "
                     "LlmTimeToFirstTokenRegressed fires when a model's p95 doubles.",
                     [target(f"agent_model:llm_time_to_first_token_seconds:p50{{{A}}}",
                             "p50 {{agent_type}} {{model}}", "A"),
                      target(f"agent_model:llm_time_to_first_token_seconds:p95{{{A}}}",
                             "p95 {{agent_type}} {{model}}", "B")], "s"), 12, 8)
    d.add(timeseries("Error ratio by provider", "provider:llm_error_ratio:rate5m: an HTTP status >= 400 "
                     "(429 included), an error event, or an answer cut off. LlmProviderErrors fires above "
                     "10%.",
                     [target("provider:llm_error_ratio:rate5m", "{{provider}}")],
                     "percentunit", thresholds("green", (0.1, "red")), max=1, show_thresholds=True), 12, 8)
    d.add(timeseries("Calls/s by provider and outcome", "agent_llm_requests_total: success, error, or "
                     "timeout (the agent gave up before the answer began).",
                     [target(rate("agent_llm_requests_total", A, "provider, status"),
                             "{{provider}} {{status}}")], "reqps", stack=True), 12, 8)
    d.add(timeseries("p95 call duration by model", "agent_llm_request_duration_seconds: request's "
                     "first byte to the answer's last.",
                     [target("histogram_quantile(0.95, " +
                             rate("agent_llm_request_duration_seconds_bucket", A, "model, le") + ")",
                             "{{model}}")], "s"), 12, 8)
    d.add(table("Agents and models", "Per agent and model, now: calls per second, tokens per minute "
                "and the p95 time to first token.",
                [target(rate("agent_llm_requests_total", A, "agent_type, model", window="5m"),
                        ref="A", instant=True, fmt="table"),
                 target(f"sum by (agent_type, model) (agent_model:llm_tokens:rate5m{{{A}}}) * 60",
                        ref="B", instant=True, fmt="table"),
                 target(f"agent_model:llm_time_to_first_token_seconds:p95{{{A}}}", ref="C",
                        instant=True, fmt="table")],
                [("A", "Calls/s", "reqps"), ("B", "Tokens/min", "short"), ("C", "p95 first token", "s")]),
          12, 8)
    d.add(timeseries("Estimated output tokens/min and bytes not read", "Streams that reported no usage "
                     "count their content chunks as an estimate; capture drops "
                     "(agentbpf_events_dropped_total{reason=~\"llm_.*\"}) mean some calls were read in "
                     "part.",
                     [target(rate("agent_llm_output_tokens_estimated_total", A, "agent_type") + " * 60",
                             "{{agent_type}} estimated", "A"),
                      target(rate("agentbpf_events_dropped_total", 'reason=~"llm_.*"', "reason"),
                             "{{reason}} /s", "B")], "short"), 12, 8)
    return d


# ---------------------------------------------------------------- workers
def workers():
    d = Dashboard("agentbpf-workers", "agentbpf / Workers",
                  "Agent processes: health, restarts and exits by reason (completed, error, signal, "
                  "oom_killed), CPU, memory, file descriptors, I/O.")
    d.add(state_timeline("Health", "1 (up) while at least one process of the agent is alive.",
                         [target(f"worker_health_status{{{W}}}", "{{worker_name}}")]), 16, 8)
    d.add(bargauge("Uptime of the oldest process", "Now minus the start of the agent's oldest live process.",
                   [target(f"time() - min by (agent_type) (agent_process_start_time_seconds{{{A}}})",
                           "{{agent_type}}", instant=True)], "s"), 8, 8)
    d.add(timeseries("Restarts by reason", "A new process started after one of the agent's ended; reason "
                     "is how that one ended. AgentCrashLooping fires on more than 3 (not completed) in 10m.",
                     [target(f'{rate("worker_restarts_total", W, "worker_name, reason", fn="increase")} > 0',
                             "{{worker_name}} {{reason}}")], "short", bars=True, stack=True), 12, 8)
    d.add(timeseries("Exits by reason", "Agent processes that ended, by how: completed (exit 0), error "
                     "(exit ≠ 0), signal, oom_killed.",
                     [target(f'{rate("agent_process_exits_total", A, "agent_type, reason", fn="increase")} > 0',
                             "{{agent_type}} {{reason}}")], "short", bars=True, stack=True), 12, 8)
    d.add(bargauge("OOM kills in the time range", "Processes chosen by the kernel's OOM killer "
                   "(AgentOOMKilled alert).",
                   [target(rate("agent_process_exits_total", A + ',reason="oom_killed"', "agent_type",
                                window="$__range", fn="increase"), "{{agent_type}}", instant=True)],
                   "none", thresholds("green", (1, "red"))), 8, 8)
    d.add(bargauge("Restarts in the time range", "By agent and reason.",
                   [target(f'{rate("worker_restarts_total", W, "worker_name, reason", window="$__range", fn="increase")} > 0',
                           "{{worker_name}} {{reason}}", instant=True)], "none",
                   thresholds("green", (3, "orange"), (10, "red"))), 8, 8)
    d.add(timeseries("Live processes", "Processes of the agent's own program (helpers it runs excluded).",
                     [target(f"sum by (agent_type) (agent_processes{{{A}}})", "{{agent_type}}")], "short"), 8, 8)
    d.add(timeseries("CPU", "CPU cores used (user + system), live and exited processes.",
                     [target(rate("agent_cpu_seconds_total", A, "agent_type, mode"), "{{agent_type}} {{mode}}")],
                     "short", stack=True, axis_label="cores"), 12, 8)
    d.add(timeseries("Memory (RSS)", "Resident memory of the agent's live processes.",
                     [target(f"sum by (agent_type) (agent_memory_rss_bytes{{{A}}})", "{{agent_type}}")],
                     "bytes"), 12, 8)
    d.add(timeseries("Open file descriptors", "Open fds of the agent's live processes.",
                     [target(f"sum by (agent_type) (agent_open_fds{{{A}}})", "{{agent_type}}")], "short"), 12, 8)
    d.add(timeseries("I/O", "Bytes through read/write-family calls (files, sockets, pipes).",
                     [target(rate("agent_io_bytes_total", A, "agent_type, direction"),
                             "{{agent_type}} {{direction}}")], "Bps"), 12, 8)
    return d


# ---------------------------------------------------------------- exporter
def exporter():
    I = 'instance=~"$instance"'
    d = Dashboard("agentbpf-exporter", "agentbpf / Exporter health",
                  "agentbpf itself, per host: scrapes, render time, BPF maps, kernel events, dropped "
                  "events, BPF program cost.", instance_var=True, agent_var=False)
    d.add(state_timeline("Scrape target up", "Prometheus' up for job agentbpf. AgentbpfDown fires after 2m.",
                         [target(f'up{{job="agentbpf",{I}}}', "{{instance}}")]), 12, 6)
    d.add(table("Build", "agentbpf_build_info: version, libbpf, kernel per host.",
                [target(f"agentbpf_build_info{{{I}}}", ref="A", instant=True, fmt="table")],
                [("A", "Value", "none")]), 12, 6)
    d.add(timeseries("Render time of /metrics", "agentbpf_scrape_duration_seconds (the previous scrape). "
                     "AgentbpfScrapeSlow fires above 1s for 10 minutes.",
                     [target(f"agentbpf_scrape_duration_seconds{{{I}}}", "{{instance}}")], "s",
                     thresholds("green", (1, "red"))), 8, 8)
    d.add(timeseries("Scrape duration and samples", "Prometheus' own view: scrape_duration_seconds and "
                     "the series count of each scrape.",
                     [target(f'scrape_duration_seconds{{job="agentbpf",{I}}}', "{{instance}} duration", "A"),
                      target(f'scrape_samples_scraped{{job="agentbpf",{I}}}', "{{instance}} samples", "B")],
                     "s"), 8, 8)
    d.add(timeseries("Tracked processes", "Processes attributed to a configured agent (agentbpf_tracked_processes).",
                     [target(f"agentbpf_tracked_processes{{{I}}}", "{{instance}}")], "short"), 8, 8)
    d.add(bargauge("BPF map fill", "Entries over capacity per map. AgentbpfBpfMapNearlyFull fires above 90%.",
                   [target(f"agentbpf_bpf_map_entries{{{I}}} / agentbpf_bpf_map_capacity{{{I}}}",
                           "{{instance}} {{map}}", instant=True)], "percentunit",
                   thresholds("green", (0.8, "orange"), (0.9, "red")), max=1), 12, 8)
    d.add(timeseries("Kernel events/s", "exec, fork, exit and listen events the daemon received.",
                     [target(rate("agentbpf_events_total", I, "instance, type"), "{{instance}} {{type}}")],
                     "short", axis_label="events/s"), 12, 8)
    d.add(stat("Events dropped in the time range", "Any drop means some counts are low; see the "
               "AgentbpfEventsDropped alert for what each reason means.",
               rate("agentbpf_events_dropped_total", I, window="$__range", fn="increase"), "none",
               thresholds("green", (1, "red")), decimals=0), 6, 8)
    d.add(timeseries("Dropped events by reason", "agentbpf_events_dropped_total by reason.",
                     [target(rate("agentbpf_events_dropped_total", I, "instance, reason", fn="increase"),
                             "{{instance}} {{reason}}")], "short", bars=True), 18, 8)
    d.add(timeseries("BPF program CPU", "Share of one CPU spent in each BPF program. Needs --bpf-stats "
                     "(or kernel.bpf_stats_enabled=1); 0 otherwise.",
                     [target(rate("agentbpf_bpf_program_run_seconds_total", I, "program"), "{{program}}")],
                     "percentunit", stack=True), 12, 8)
    d.add(timeseries("BPF program runs/s", "Runs of each BPF program (same condition as above).",
                     [target(rate("agentbpf_bpf_program_runs_total", I, "program"), "{{program}}")], "short",
                     axis_label="runs/s"), 12, 8)
    d.add(timeseries("Scrapes/s", "Scrapes of /metrics the daemon served (all scrapers).",
                     [target(rate("agentbpf_scrapes_total", I, "instance"), "{{instance}}")], "short"), 12, 6)
    return d


DASHBOARDS = [overview, requests, latency, outbound, llm, message_bus, workers, exporter]


def render():
    """{file name: JSON text} for every dashboard."""
    out = {}
    for make in DASHBOARDS:
        d = make()
        out[f"{d.uid}.json"] = json.dumps(d.json(), indent=2, ensure_ascii=False) + "\n"
    return out


def main():
    for name, text in render().items():
        with open(os.path.join(HERE, name), "w") as f:
            f.write(text)
        print(f"wrote grafana_dashboards/{name}")


if __name__ == "__main__":
    sys.exit(main())
