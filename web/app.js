// agentbpf live view: polls the daemon's own /metrics, keeps a few minutes of
// history in the browser, and derives rates and percentiles from counter and
// histogram deltas the way PromQL's rate() and histogram_quantile() do.
"use strict";

const POLL_MS = 2000;
const KEEP = 150;			// points of history: 5 minutes
const REASONS = ["completed", "error", "signal", "oom_killed"];

// ---- Prometheus text format ----

function parseLabels(s) {
  const out = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(s)))
    out[m[1]] = m[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
  return out;
}

// name -> [{labels, value}]; families are found whatever the namespace prefix.
function parseMetrics(text) {
  const fams = new Map();
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#")
      continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m)
      continue;
    if (!fams.has(m[1]))
      fams.set(m[1], []);
    fams.get(m[1]).push({ labels: m[2] ? parseLabels(m[2]) : {}, value: parseFloat(m[3]) });
  }
  return fams;
}

function family(fams, suffix) {
  for (const [name, samples] of fams)
    if (name === suffix || name.endsWith("_" + suffix))
      return samples;
  return [];
}

// ---- one scrape, reduced to what the page shows ----

function snapshot(fams, t) {
  const s = { t, agents: new Map(), queues: new Map(), restarts: new Map(), calls: new Map(),
              llm: new Map() };
  const agent = (name) => {
    if (!s.agents.has(name))
      s.agents.set(name, { procs: 0, health: 0, active: 0, req: { success: 0, error: 0, timeout: 0 },
                           buckets: [], count: 0 });
    return s.agents.get(name);
  };
  for (const x of family(fams, "agent_processes"))
    agent(x.labels.agent_type).procs = x.value;
  for (const x of family(fams, "worker_health_status"))
    agent(x.labels.worker_name).health = x.value;
  for (const x of family(fams, "worker_active_requests"))
    agent(x.labels.worker_name).active = x.value;
  for (const x of family(fams, "agent_requests_total")) {
    const a = agent(x.labels.agent_type);
    a.req[x.labels.status] = (a.req[x.labels.status] || 0) + x.value;
  }
  for (const x of family(fams, "agent_request_duration_seconds_bucket")) {
    const le = x.labels.le === "+Inf" ? Infinity : parseFloat(x.labels.le);
    const a = agent(x.labels.agent_type);
    const b = a.buckets.find((b) => b.le === le);
    if (b)
      b.count += x.value;	// request labels split an agent's series: sum them
    else
      a.buckets.push({ le, count: x.value });
  }
  for (const a of s.agents.values())
    a.buckets.sort((x, y) => x.le - y.le);
  for (const x of family(fams, "worker_restarts_total")) {
    if (!s.restarts.has(x.labels.worker_name))
      s.restarts.set(x.labels.worker_name, {});
    s.restarts.get(x.labels.worker_name)[x.labels.reason] = x.value;
  }
  for (const x of family(fams, "message_bus_queue_depth"))
    s.queues.set(`${x.labels.queue} (${x.labels.agent_type})`, x.value);
  // The calls agents make, per agent and peer (codes, if labelled, summed).
  const call = (l) => {
    const k = `${l.agent_type} → ${l.peer}`;
    if (!s.calls.has(k))
      s.calls.set(k, { req: { success: 0, error: 0, timeout: 0 }, buckets: [], ttfb: [] });
    return s.calls.get(k);
  };
  for (const x of family(fams, "agent_outbound_requests_total")) {
    const c = call(x.labels);
    c.req[x.labels.status] = (c.req[x.labels.status] || 0) + x.value;
  }
  for (const [name, key] of [["agent_outbound_request_duration_seconds_bucket", "buckets"],
                             ["agent_outbound_ttfb_seconds_bucket", "ttfb"]]) {
    for (const x of family(fams, name)) {
      const le = x.labels.le === "+Inf" ? Infinity : parseFloat(x.labels.le);
      call(x.labels)[key].push({ le, count: x.value });
    }
  }
  for (const c of s.calls.values()) {
    c.buckets.sort((x, y) => x.le - y.le);
    c.ttfb.sort((x, y) => x.le - y.le);
  }
  // LLM calls, per agent, provider and model.
  const llm = (l) => {
    const k = `${l.agent_type}\t${l.provider}\t${l.model}`;
    if (!s.llm.has(k))
      s.llm.set(k, { req: { success: 0, error: 0, timeout: 0 }, tokens: {}, ttft: [] });
    return s.llm.get(k);
  };
  for (const x of family(fams, "agent_llm_requests_total"))
    llm(x.labels).req[x.labels.status] = x.value;
  for (const x of family(fams, "agent_llm_tokens_total"))
    llm(x.labels).tokens[x.labels.kind] = x.value;
  for (const x of family(fams, "agent_llm_time_to_first_token_seconds_bucket"))
    llm(x.labels).ttft.push({ le: x.labels.le === "+Inf" ? Infinity : parseFloat(x.labels.le),
                              count: x.value });
  for (const m of s.llm.values())
    m.ttft.sort((x, y) => x.le - y.le);
  return s;
}

// histogram_quantile over the bucket deltas of one interval.
function quantile(q, buckets) {
  const total = buckets.length ? buckets[buckets.length - 1].count : 0;
  if (!total)
    return null;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity)
        return prevLe;
      return prevLe + (b.le - prevLe) * (rank - prevCount) / Math.max(b.count - prevCount, 1e-9);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

function deltaBuckets(cur, prev) {
  return cur.map((b, i) => ({ le: b.le, count: Math.max(0, b.count - ((prev && prev[i]) ? prev[i].count : 0)) }));
}

// ---- state and rendering ----

const history = [];		// derived points: { t, rate: {agent: r}, p95: {agent: s}, heat: {agent: [n per bucket]}, queues }
let last = null;
const charts = {};

function fmtSeconds(v) {
  if (v === null || v === undefined || !isFinite(v))
    return "–";
  return v < 1 ? (v * 1000).toFixed(v < 0.01 ? 2 : 0) + " ms" : v.toFixed(2) + " s";
}

function fmtRate(v) {
  return v === undefined ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(0);
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls)
    td.className = cls;
  return td;
}

function fillTable(id, rows, cols, empty) {
  const body = document.querySelector(`#${id} tbody`);
  body.textContent = "";
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(empty, "empty");
    td.colSpan = cols;
    tr.appendChild(td);
    body.appendChild(tr);
    return;
  }
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const c of r)
      tr.appendChild(Array.isArray(c) ? cell(c[0], c[1]) : cell(String(c)));
    body.appendChild(tr);
  }
}

function lineChart(id, title, seriesNames, data) {
  const el = document.getElementById(id);
  const key = seriesNames.join("\u0000");
  if (!charts[id] || charts[id].key !== key) {
    if (charts[id])
      charts[id].plot.destroy();
    el.textContent = "";
    if (!seriesNames.length) {
      el.innerHTML = '<p class="empty">no data yet</p>';
      charts[id] = { key, plot: { destroy() {}, setData() {} } };
      return;
    }
    const palette = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#57606a"];
    const opts = {
      width: Math.max(el.clientWidth, 480), height: 220, title,
      series: [{}].concat(seriesNames.map((n, i) => ({ label: n, stroke: palette[i % palette.length], width: 2 }))),
      axes: [{}, { size: 60 }],
    };
    charts[id] = { key, plot: new uPlot(opts, data, el) };
    return;
  }
  charts[id].plot.setData(data);
}

function drawHeatmap() {
  const canvas = document.getElementById("heatmap");
  const ctx = canvas.getContext("2d");
  const name = document.getElementById("heatagent").value;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const cols = history.map((h) => h.heat[name]).filter(Boolean);
  if (!cols.length || !last || !last.agents.get(name))
    return;
  const bounds = last.agents.get(name).buckets.map((b) => b.le);
  const rows = bounds.length, w = canvas.width / KEEP, left = canvas.width - cols.length * w;
  const labelW = 70, h = canvas.height / rows;
  const max = Math.max(1, ...cols.flat());
  cols.forEach((col, x) => {
    col.forEach((n, y) => {
      if (!n)
        return;
      const k = Math.sqrt(n / max);
      ctx.fillStyle = `rgba(207, 34, 46, ${0.15 + 0.85 * k})`;
      ctx.fillRect(Math.max(labelW, left + x * w), canvas.height - (y + 1) * h, Math.ceil(w), Math.ceil(h));
    });
  });
  ctx.fillStyle = "#57606a";
  ctx.font = "11px system-ui, sans-serif";
  bounds.forEach((le, y) => {
    if (y % Math.ceil(rows / 8) === 0)
      ctx.fillText(le === Infinity ? "> last" : "≤ " + fmtSeconds(le), 2, canvas.height - y * h - 3);
  });
}

function render(s) {
  const prev = last;
  const dt = prev ? (s.t - prev.t) / 1000 : 0;
  const point = { t: s.t / 1000, rate: {}, p95: {}, heat: {}, queues: {} };
  const rows = [];
  for (const [name, a] of [...s.agents].sort()) {
    const p = prev && prev.agents.get(name);
    const d = (k) => (p && dt > 0 ? Math.max(0, (a.req[k] || 0) - (p.req[k] || 0)) / dt : undefined);
    const delta = p ? deltaBuckets(a.buckets, p.buckets) : [];
    const rate = d("success") === undefined ? undefined : d("success") + d("error") + d("timeout");
    const restarts = s.restarts.get(name) || {};
    const nrestarts = REASONS.reduce((n, r) => n + (restarts[r] || 0), 0);
    point.rate[name] = rate === undefined ? null : rate;
    point.p95[name] = quantile(0.95, delta);
    point.heat[name] = delta.map((b, i) => b.count - (i ? delta[i - 1].count : 0));
    const total = a.req.success + a.req.error + a.req.timeout;
    rows.push([name, a.procs, a.health ? ["up", "up"] : ["down", "down"], total, fmtRate(rate), fmtRate(d("error")),
               fmtRate(d("timeout")), fmtSeconds(quantile(0.5, delta)), fmtSeconds(point.p95[name]),
               fmtSeconds(quantile(0.99, delta)), a.active, nrestarts]);
  }
  for (const [q, v] of s.queues)
    point.queues[q] = v;
  fillTable("agents", rows, 12, "no agents configured");
  const calls = [];
  for (const [key, c] of [...s.calls].sort()) {
    const p = prev && prev.calls.get(key);
    const d = (k) => (p && dt > 0 ? Math.max(0, (c.req[k] || 0) - (p.req[k] || 0)) / dt : undefined);
    const rate = d("success") === undefined ? undefined : d("success") + d("error") + d("timeout");
    calls.push([key, c.req.success + c.req.error + c.req.timeout, fmtRate(rate), fmtRate(d("error")),
                fmtRate(d("timeout")), fmtSeconds(quantile(0.95, p ? deltaBuckets(c.buckets, p.buckets) : [])),
                fmtSeconds(quantile(0.95, p ? deltaBuckets(c.ttfb, p.ttfb) : []))]);
  }
  fillTable("calls", calls, 7, "no calls yet");
  // Tokens per minute over the last interval; first-token quantiles since the daemon started.
  const llmRows = [];
  for (const [key, m] of [...s.llm].sort()) {
    const p = prev && prev.llm.get(key);
    const sum = (t) => Object.values(t).reduce((a, b) => a + b, 0);
    const perMin = p && dt > 0 ? Math.max(0, sum(m.tokens) - sum(p.tokens)) / dt * 60 : undefined;
    llmRows.push([...key.split("\t"), m.req.success + m.req.error + m.req.timeout, m.req.error,
                  m.tokens.input || 0, m.tokens.output || 0,
                  perMin === undefined ? "–" : perMin.toFixed(0),
                  fmtSeconds(quantile(0.5, m.ttft)), fmtSeconds(quantile(0.95, m.ttft))]);
  }
  fillTable("llm", llmRows, 10, "no LLM calls yet");
  fillTable("restarts", [...s.restarts].filter(([, r]) => REASONS.some((x) => r[x]))
    .map(([name, r]) => [name, ...REASONS.map((x) => r[x] || 0)]), 5, "no restarts");

  if (prev) {
    history.push(point);
    if (history.length > KEEP)
      history.shift();
  }
  last = s;
  const names = [...s.agents.keys()].sort();
  const sel = document.getElementById("heatagent");
  if ([...sel.options].map((o) => o.value).join() !== names.join()) {
    const keep = sel.value;
    sel.textContent = "";
    for (const n of names)
      sel.add(new Option(n, n, false, n === keep));
  }
  const xs = history.map((h) => h.t);
  lineChart("rate", "", names, [xs, ...names.map((n) => history.map((h) => h.rate[n]))]);
  lineChart("p95", "", names, [xs, ...names.map((n) => history.map((h) => h.p95[n]))]);
  const queues = [...s.queues.keys()].sort();
  lineChart("queues", "", queues, [xs, ...queues.map((q) => history.map((h) => (q in h.queues ? h.queues[q] : null)))]);
  drawHeatmap();
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const r = await fetch("/metrics", { cache: "no-store" });
    if (!r.ok)
      throw new Error(`HTTP ${r.status}`);
    const fams = parseMetrics(await r.text());
    const info = family(fams, "agentbpf_build_info")[0];
    if (info)
      document.getElementById("version").textContent = info.labels.version;
    // A probe family that did not load: its columns are not measured, not zero.
    const off = family(fams, "agentbpf_probe_family_up").filter((x) => x.value === 0)
      .map((x) => x.labels.family);
    const banner = document.getElementById("off");
    banner.hidden = !off.length;
    banner.textContent = off.length ? `Not measured on this host: ${off.join(", ")}. ` +
      "Their figures are absent, not zero; `agentbpf check` and the daemon's log say why." : "";
    render(snapshot(fams, Date.now()));
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.polls = String((parseInt(document.body.dataset.polls || "0", 10)) + 1);
  } catch (e) {
    status.textContent = `cannot read /metrics: ${e.message}`;
  }
  setTimeout(poll, POLL_MS);
}

document.getElementById("heatagent").addEventListener("change", drawHeatmap);
poll();
