// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "http_user.h"
#include "util.h"

static const char *const status_names[HTTP_STATUS_MAX] = {
	[HTTP_SUCCESS] = "success",
	[HTTP_ERROR] = "error",
	[HTTP_TIMEOUT] = "timeout",
};

static const char *const method_names[HTTP_M_MAX] = {
	"OTHER", "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE",
};

static const char *const drop_names[HTTP_DROP_MAX] = {
	[HTTP_DROP_PIPELINE_FULL] = "http_pipeline_full",
	[HTTP_DROP_DESYNC] = "http_head_too_long",
	[HTTP_DROP_CONN_EVICTED] = "http_conn_evicted",
	[HTTP_DROP_RINGBUF_FULL] = "http_trace_ringbuf_full",
};

static const double size_bounds[HTTP_SIZE_BUCKETS] = HTTP_SIZE_BOUNDS;

const char *http_drop_name(enum http_drop_reason r)
{
	return r < HTTP_DROP_MAX ? drop_names[r] : "unknown";
}

struct bpf_object *http_tracker_object(struct http_tracker *t)
{
	return t->skel ? t->skel->obj : NULL;
}

static int on_request(void *ctx, void *data, size_t len)
{
	struct http_tracker *t = ctx;
	const struct http_event *e = data;
	char code[8], dur[32], req[24], resp[24];
	char path[HTTP_PATH_LEN + 1];
	struct trace_field f[7];

	if (len < sizeof(*e) || e->agent >= (uint32_t)t->cfg->nagents)
		return 0;
	/* The kernel copies the bytes after the method; the path ends at a space. */
	memcpy(path, e->path, HTTP_PATH_LEN);
	path[HTTP_PATH_LEN] = '\0';
	path[strcspn(path, " \r\n")] = '\0';
	snprintf(code, sizeof(code), "%u", e->code);
	snprintf(dur, sizeof(dur), "%.6f", e->duration_ns / 1e9);
	snprintf(req, sizeof(req), "%llu", (unsigned long long)e->req_bytes);
	snprintf(resp, sizeof(resp), "%llu", (unsigned long long)e->resp_bytes);
	f[0] = (struct trace_field){ "method", method_names[e->method % HTTP_M_MAX], false };
	f[1] = (struct trace_field){ "path", path[0] ? path : "-", false };
	f[2] = (struct trace_field){ "code", code, true };
	f[3] = (struct trace_field){ "status", status_names[e->status % HTTP_STATUS_MAX], false };
	f[4] = (struct trace_field){ "duration_seconds", dur, true };
	f[5] = (struct trace_field){ "request_bytes", req, true };
	f[6] = (struct trace_field){ "response_bytes", resp, true };
	trace_emit(&t->trace, "request", t->cfg->agents[e->agent].name, e->pid, f, ARRAY_SIZE(f));
	return 0;
}

int http_tracker_open(struct http_tracker *t, const struct config *cfg, int agent_pids_fd,
		      struct ring_buffer *rb, struct trace_out trace, const char *btf_path,
		      char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
	int i, ret;

	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->trace = trace;
	t->ncpu = libbpf_num_possible_cpus();
	t->skel = http_bpf__open_opts(&opts);
	if (!t->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open HTTP BPF object: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; i < cfg->nbuckets && i < HTTP_MAX_BUCKETS; i++)
		t->skel->rodata->bounds_ns[i] = (__u64)(cfg->buckets[i] * 1e9 + 0.5);
	t->skel->rodata->nbounds = i;
	t->skel->rodata->trace_requests = trace.f != NULL;
	bpf_map__set_max_entries(t->skel->maps.agent_pids, cfg->max_processes);
	ret = bpf_map__reuse_fd(t->skel->maps.agent_pids, agent_pids_fd);
	if (ret) {
		snprintf(err, errlen, "cannot share the agent map with the HTTP probes: %s", strerror(-ret));
		goto fail;
	}
	ret = http_bpf__load(t->skel);
	if (ret) {
		snprintf(err, errlen, "cannot load the HTTP BPF programs: %s (run with AGENTBPF_DEBUG=1 for the verifier log)",
			 strerror(-ret));
		goto fail;
	}
	ret = http_bpf__attach(t->skel);
	if (ret) {
		snprintf(err, errlen, "cannot attach to the sock_recv_length/sock_send_length tracepoints: %s",
			 strerror(-ret));
		goto fail;
	}
	if (trace.f && rb) {
		ret = ring_buffer__add(rb, bpf_map__fd(t->skel->maps.http_events), on_request, t);
		if (ret) {
			snprintf(err, errlen, "cannot map the HTTP trace ring buffer: %s", strerror(-ret));
			goto fail;
		}
	}
	return 0;
fail:
	http_tracker_close(t);
	return ret;
}

/* Per-agent sums of every series of the agent. */
struct agent_http {
	uint64_t count[HTTP_STATUS_MAX];
	uint64_t duration_ns;
	uint64_t req_bytes, resp_bytes;
	uint64_t duration_buckets[HTTP_MAX_BUCKETS + 1];
	uint64_t req_size_buckets[HTTP_SIZE_BUCKETS + 1];
	uint64_t resp_size_buckets[HTTP_SIZE_BUCKETS + 1];
	uint64_t active;
};

static void add_stats(struct agent_http *a, const struct http_key *k, const struct http_stats *v)
{
	int i;

	a->count[k->status % HTTP_STATUS_MAX] += v->count;
	a->duration_ns += v->duration_ns;
	a->req_bytes += v->req_bytes;
	a->resp_bytes += v->resp_bytes;
	for (i = 0; i <= HTTP_MAX_BUCKETS; i++)
		a->duration_buckets[i] += v->duration_buckets[i];
	for (i = 0; i <= HTTP_SIZE_BUCKETS; i++) {
		a->req_size_buckets[i] += v->req_size_buckets[i];
		a->resp_size_buckets[i] += v->resp_size_buckets[i];
	}
}

/* Reads every series with batch lookups: a few syscalls per scrape. */
static int read_stats(struct http_tracker *t, struct agent_http *agents)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t vsize = sizeof(struct http_stats);
	int fd = bpf_map__fd(t->skel->maps.http_stats);
	uint32_t max = bpf_map__max_entries(t->skel->maps.http_stats);
	struct http_key in, out;
	bool first = true;
	uint32_t n, i;
	int c, ret;

	if (!t->vals) {
		t->keys = calloc(max, sizeof(struct http_key));
		t->vals = calloc((size_t)max * t->ncpu, vsize);
		if (!t->keys || !t->vals)
			return -ENOMEM;
		t->cap = max;
	}
	for (;;) {
		n = t->cap;
		ret = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, t->keys, t->vals, &n, &opts);
		if (ret && errno != ENOENT)
			return -errno;
		for (i = 0; i < n; i++) {
			const struct http_key *k = (const struct http_key *)t->keys + i;

			if (k->agent >= (uint32_t)t->cfg->nagents)
				continue;
			for (c = 0; c < t->ncpu; c++)
				add_stats(&agents[k->agent], k, (const struct http_stats *)
					  ((char *)t->vals + ((size_t)i * t->ncpu + c) * vsize));
		}
		if (ret)	/* ENOENT: that was the last batch */
			return 0;
		in = out;
		first = false;
	}
}

static void read_active(struct http_tracker *t, struct agent_http *agents)
{
	struct http_active vals[t->ncpu];
	int fd = bpf_map__fd(t->skel->maps.http_active);
	uint32_t a;
	int c;

	for (a = 0; a < (uint32_t)t->cfg->nagents; a++) {
		uint64_t started = 0, finished = 0;

		if (bpf_map_lookup_elem(fd, &a, vals))
			continue;
		for (c = 0; c < t->ncpu; c++) {
			started += vals[c].started;
			finished += vals[c].finished;
		}
		agents[a].active = started > finished ? started - finished : 0;
	}
}

void http_tracker_render(struct http_tracker *t, struct expo *e)
{
	const struct config *cfg = t->cfg;
	struct agent_http *agents;
	struct label l[2];
	int a, s;

	agents = calloc(cfg->nagents ? cfg->nagents : 1, sizeof(*agents));
	if (!agents)
		return;
	read_stats(t, agents);
	read_active(t, agents);

	expo_family(e, "agent_requests_total", EXPO_COUNTER,
		    "HTTP requests the agent received, by outcome: error = 5xx or closed without a full response, timeout = 408/504 or the client left before any response.");
	for (a = 0; a < cfg->nagents; a++) {
		l[0] = (struct label){ "agent_type", cfg->agents[a].name };
		for (s = 0; s < HTTP_STATUS_MAX; s++) {
			l[1] = (struct label){ "status", status_names[s] };
			expo_sample(e, l, 2, agents[a].count[s]);
		}
	}

	expo_family(e, "agent_request_duration_seconds", EXPO_HISTOGRAM,
		    "From the read that made a request's first byte available to the agent to the write that handed the last byte of its response to the kernel.");
	for (a = 0; a < cfg->nagents; a++) {
		l[0] = (struct label){ "agent_type", cfg->agents[a].name };
		expo_histogram(e, l, 1, cfg->buckets, agents[a].duration_buckets, cfg->nbuckets,
			       agents[a].duration_buckets[cfg->nbuckets], agents[a].duration_ns / 1e9);
	}

	expo_family(e, "agent_request_size_bytes", EXPO_HISTOGRAM,
		    "Size of the HTTP requests the agent received, head and body.");
	for (a = 0; a < cfg->nagents; a++) {
		l[0] = (struct label){ "agent_type", cfg->agents[a].name };
		expo_histogram(e, l, 1, size_bounds, agents[a].req_size_buckets, HTTP_SIZE_BUCKETS,
			       agents[a].req_size_buckets[HTTP_SIZE_BUCKETS], agents[a].req_bytes);
	}

	expo_family(e, "agent_response_size_bytes", EXPO_HISTOGRAM,
		    "Size of the HTTP responses the agent sent, head and body.");
	for (a = 0; a < cfg->nagents; a++) {
		l[0] = (struct label){ "agent_type", cfg->agents[a].name };
		expo_histogram(e, l, 1, size_bounds, agents[a].resp_size_buckets, HTTP_SIZE_BUCKETS,
			       agents[a].resp_size_buckets[HTTP_SIZE_BUCKETS], agents[a].resp_bytes);
	}

	expo_family(e, "worker_active_requests", EXPO_GAUGE,
		    "HTTP requests the agent has received and not yet answered.");
	for (a = 0; a < cfg->nagents; a++) {
		l[0] = (struct label){ "worker_name", cfg->agents[a].name };
		expo_sample(e, l, 1, agents[a].active);
	}
	free(agents);
}

void http_tracker_drops(struct http_tracker *t, uint64_t out[HTTP_DROP_MAX])
{
	int fd = bpf_map__fd(t->skel->maps.http_drops), c;
	uint64_t vals[t->ncpu];
	uint32_t k;

	memset(out, 0, sizeof(uint64_t) * HTTP_DROP_MAX);
	for (k = 0; k < HTTP_DROP_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (c = 0; c < t->ncpu; c++)
			out[k] += vals[c];
	}
}

void http_tracker_close(struct http_tracker *t)
{
	http_bpf__destroy(t->skel);
	t->skel = NULL;
	free(t->keys);
	free(t->vals);
	t->keys = t->vals = NULL;
}
