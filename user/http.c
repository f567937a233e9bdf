// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <sys/stat.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "http_user.h"
#include "httpmodel.h"
#include "proc_user.h"
#include "sockhook.h"
#include "tlslib.h"
#include "util.h"
#include "family.h"
#include "lifecycle.h"
#include "llm_user.h"

/*
 * Files looked at for OpenSSL: libssl copies and the members' executables
 * (Node.js has it built in), each once.
 */
#define TLS_MAX_FILES		256
/* Probes per file: see tls_attach_file(). */
#define TLS_PROBES		8
/* Members whose maps a round reads, after the first round (which reads all). */
#define TLS_SCAN_PER_ROUND	64
#define TLS_ROUND_NS		1000000000ull
#define TLS_NEW_FILES_PER_ROUND	4

/* A file looked at for OpenSSL, remembered by its device and inode. */
struct tls_file {
	dev_t dev;
	ino_t ino;
};

static const char *const method_names[HTTP_M_MAX] = {
	"OTHER", "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE",
};

static const char *const drop_names[HTTP_DROP_MAX] = {
	[HTTP_DROP_PIPELINE_FULL] = "http_pipeline_full",
	[HTTP_DROP_DESYNC] = "http_framing_lost",
	[HTTP_DROP_RINGBUF_FULL] = "http_trace_ringbuf_full",
	[HTTP_DROP_SERIES_FULL] = "http_series_full",
	[HTTP_DROP_PEERS_FULL] = "http_peers_full",
	[HTTP_DROP_LLM_CALL_CAP] = "llm_call_bytes_capped",
	[HTTP_DROP_LLM_RATE] = "llm_rate_capped",
	[HTTP_DROP_LLM_RING] = "llm_ringbuf_full",
};

static const double size_bounds[HTTP_SIZE_BUCKETS] = HTTP_SIZE_BOUNDS;

/* The kernel's reasons, then the LLM reader's (llmmodel.h). */
static const char *http_drop_name(int r)
{
	if (r >= HTTP_DROP_MAX && r < HTTP_DROP_MAX + LLM_LOSS_MAX)
		return llm_loss_names[r - HTTP_DROP_MAX];
	return r >= 0 && r < HTTP_DROP_MAX ? drop_names[r] : "unknown";
}

static struct bpf_object *http_object(void *p)
{
	struct http_tracker *t = p;

	return t->skel ? t->skel->obj : NULL;
}

/* Requests start when their bytes reach the socket (sk_data_ready), not at their read. */
static bool starts_at_arrival(struct http_tracker *t)
{
	return t->skel && bpf_program__autoload(t->skel->progs.http_data_ready);
}

struct peer_name {
	uint32_t id;		/* 0: free slot */
	struct http_peer peer;
	char label[HTTP_HOST_LEN + 48];	/* when it is no agent */
};

/* The agent that answered HTTP on the peer's port, if the peer is this host; else -1. */
static int peer_agent(struct http_tracker *t, const struct http_peer *p,
		      const uint8_t (*local)[16], int nlocal)
{
	struct http_server_port key = { .netns = p->netns, .port = p->port };
	uint32_t agent;

	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.http_server_ports), &key, &agent) ||
	    agent >= (uint32_t)t->cfg->nagents || !http_peer_is_local(p, local, nlocal))
		return -1;
	return agent;
}

/*
 * This host's addresses, as http_peer_is_local() compares them: an agent
 * that calls another through the host's own address reaches it too.
 */
static int local_addrs(uint8_t (*out)[16], int max)
{
	struct ifaddrs *ifa, *i;
	int n = 0;

	if (getifaddrs(&ifa))
		return 0;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		memset(out[n], 0, 16);
		if (i->ifa_addr->sa_family == AF_INET)
			memcpy(out[n++], &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		else if (i->ifa_addr->sa_family == AF_INET6)
			memcpy(out[n++], &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
	}
	freeifaddrs(ifa);
	return n;
}

/* What the kernel kept of a peer id, read once and then remembered; NULL past the cache. */
static struct peer_name *peer_name(struct http_tracker *t, uint32_t id)
{
	struct peer_name *r;
	uint32_t i;

	if (!t->peers) {
		uint32_t size = 64;

		/* The kernel registers at most max_peers: the table stays half empty. */
		while (size < 2u * t->cfg->max_peers)
			size <<= 1;
		t->peers = calloc(size, sizeof(*t->peers));
		if (!t->peers)
			return NULL;
		t->peers_mask = size - 1;
	}
	for (i = (id * 2654435761u) & t->peers_mask; t->peers[i].id;
	     i = (i + 1) & t->peers_mask) {
		if (t->peers[i].id == id)
			return &t->peers[i];
	}
	r = &t->peers[i];
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.http_peers), &id, &r->peer))
		return NULL;
	r->id = id;
	http_peer_label(&r->peer, r->label, sizeof(r->label));
	return r;
}

/*
 * The peer label of a call's peer id: the agent it reached (*to_agent set),
 * else its host, else its address.
 */
static const char *peer_label(struct http_tracker *t, uint32_t id, const uint8_t (*local)[16],
			      int nlocal, int *to_agent)
{
	struct peer_name *r;

	*to_agent = -1;
	if (id == HTTP_PEER_OTHER || !(r = peer_name(t, id)))
		return "other";
	*to_agent = peer_agent(t, &r->peer, local, nlocal);
	return *to_agent >= 0 ? t->cfg->agents[*to_agent].name : r->label;
}


static int on_request(void *ctx, void *data, size_t len)
{
	struct http_tracker *t = ctx;
	const struct http_event *e = data;
	char code[8], dur[32], req[24], resp[24], ttfb[32];
	char path[HTTP_PATH_LEN + 1];
	struct trace_field f[9];
	uint64_t now;
	int nf = 7, to_agent;

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
	f[3] = (struct trace_field){ "status", http_status_name(e->status), false };
	f[4] = (struct trace_field){ "duration_seconds", dur, true };
	f[5] = (struct trace_field){ "request_bytes", req, true };
	f[6] = (struct trace_field){ "response_bytes", resp, true };
	if (e->peer == HTTP_PEER_NONE) {
		trace_emit(&t->trace, "request", t->cfg->agents[e->agent].name, e->pid, f, nf);
		return 0;
	}
	snprintf(ttfb, sizeof(ttfb), "%.6f", e->ttfb_ns / 1e9);
	/* This host's addresses, read again at most once a second. */
	now = now_ns(CLOCK_MONOTONIC);
	if (now - t->trace_local_ns > 1000000000ull) {
		t->trace_nlocal = local_addrs(t->trace_local, MAX_LOCAL_ADDRS);
		t->trace_local_ns = now;
	}
	f[nf++] = (struct trace_field){ "ttfb_seconds", ttfb, true };
	f[nf++] = (struct trace_field){ "peer", peer_label(t, e->peer,
							   (const uint8_t (*)[16])t->trace_local,
							   t->trace_nlocal, &to_agent), false };
	trace_emit(&t->trace, "call", t->cfg->agents[e->agent].name, e->pid, f, nf);
	return 0;
}

static void http_close(void *p);

static int http_open(void *p, const struct family_env *env, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = env->btf);
	const struct config *cfg = env->cfg;
	struct http_tracker *t = p;
	uint64_t per_agent = 3;
	int ret;

	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->trace = env->trace;
	t->ncpu = libbpf_num_possible_cpus();
	t->skel = http_bpf__open_opts(&opts);
	if (!t->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open HTTP BPF object: %s", strerror(-ret));
		return ret;
	}
	t->skel->rodata->nbounds = family_bounds_ns(cfg, t->skel->rodata->bounds_ns,
						    HTTP_MAX_BUCKETS);
	t->skel->rodata->label_method = cfg->label_method;
	t->skel->rodata->label_code = cfg->label_code;
	t->skel->rodata->label_route = cfg->label_route;
	t->skel->rodata->max_routes = cfg->max_routes;
	t->skel->rodata->outbound = !cfg->outbound_off;
	t->skel->rodata->max_peers = cfg->max_peers;
	/* The bus ports' connections are the bus family's. */
	t->skel->rodata->nother_ports = family_bus_ports(cfg, t->skel->rodata->other_ports,
							 HTTP_OTHER_PORTS);
	/*
	 * sk_data_ready exists since Linux 6.4; without it, or when the config
	 * asks, a request starts at its read.
	 */
	if (cfg->start_at_read || !kernel_has_tracepoint("sock", "sk_data_ready"))
		bpf_program__set_autoload(t->skel->progs.http_data_ready, false);
	sock_hook_select(env->sock->hook, t->skel->progs.http_recv, t->skel->progs.http_send,
			 t->skel->progs.http_recv_fexit, t->skel->progs.http_send_fexit);
	/* tcp_sendpage is gone since 6.5, where sendfile goes through tcp_sendmsg. */
	bpf_program__set_autoload(t->skel->progs.http_sendpage_fexit,
				  env->sock->hook == SOCK_HOOK_FEXIT &&
				  libbpf_find_vmlinux_btf_id("tcp_sendpage", BPF_TRACE_FEXIT) >= 0);
	/* Label sets an agent can have: 3 statuses, times what the labels add. */
	if (cfg->label_route)
		per_agent *= cfg->max_routes + 1;
	if (cfg->label_method)
		per_agent *= 4;
	if (cfg->label_code)
		per_agent *= 8;
	per_agent *= cfg->nagents ? cfg->nagents : 1;
	bpf_map__set_max_entries(t->skel->maps.http_stats,
				 per_agent < 256 ? 256 : per_agent > 65536 ? 65536 : per_agent);
	bpf_map__set_max_entries(t->skel->maps.http_routes,
				 (cfg->nagents ? cfg->nagents : 1) * cfg->max_routes);
	/* Calls: 3 statuses per agent and peer, 8 codes each with a code label. */
	per_agent = 3 * (uint64_t)(cfg->max_peers + 1) * (cfg->label_code ? 8 : 1) *
		    (cfg->nagents ? cfg->nagents : 1);
	bpf_map__set_max_entries(t->skel->maps.http_out_stats,
				 per_agent < 256 ? 256 : per_agent > 65536 ? 65536 : per_agent);
	bpf_map__set_max_entries(t->skel->maps.http_peers, cfg->max_peers);
	t->skel->rodata->trace_requests = env->trace.f != NULL;
	/* LLM calls: their bytes go to the daemon; without them the ring is a page. */
	t->skel->rodata->llm_on = !cfg->outbound_off && !cfg->llm_off;
	t->skel->rodata->llm_call_cap = cfg->llm_capture_bytes;
	t->skel->rodata->llm_rate = cfg->llm_capture_rate;
	if (!t->skel->rodata->llm_on)
		bpf_map__set_max_entries(t->skel->maps.llm_events, 4096);
	/* The TLS uprobes go on files later (http_tick()); without calls, not at all. */
	if (cfg->outbound_off) {
		bpf_program__set_autoload(t->skel->progs.tls_ctrl, false);
		bpf_program__set_autoload(t->skel->progs.tls_write, false);
		bpf_program__set_autoload(t->skel->progs.tls_read, false);
		bpf_program__set_autoload(t->skel->progs.tls_read_ex, false);
		bpf_program__set_autoload(t->skel->progs.tls_read_ret, false);
		bpf_program__set_autoload(t->skel->progs.tls_free, false);
	}
	ret = family_share_members(env, &http_family, t->skel->maps.agent_pids,
				   t->skel->maps.member_hint, err, errlen);
	if (!ret)
		ret = family_load(t->skel->skeleton, &http_family, err, errlen);
	if (!ret)
		ret = family_attach(t->skel->skeleton, &http_family,
				    sock_hook_targets(env->sock->hook), err, errlen);
	if (!ret)
		ret = family_join_ring(env, &http_family, t->skel->maps.http_events, on_request, t,
				       err, errlen);
	if (ret) {
		http_close(t);
		return ret;
	}
	/*
	 * A reader that cannot start leaves the LLM metrics out, said here and
	 * by agentbpf_llm_host_names 0; the rest of the family runs.
	 */
	if (t->skel->rodata->llm_on) {
		t->llm = llm_reader_start(cfg, bpf_map__fd(t->skel->maps.llm_hosts),
					  bpf_map__fd(t->skel->maps.llm_events), env->trace, err,
					  errlen);
		if (!t->llm)
			fprintf(stderr, "agentbpf: warning: %s; LLM call metrics are off\n", err);
	}
	/* TLS probes go on as agents map OpenSSL: http_tick(). */
	if (!cfg->outbound_off) {
		t->tls_files = calloc(TLS_MAX_FILES, sizeof(*t->tls_files));
		t->tls_links = calloc(TLS_MAX_FILES * TLS_PROBES, sizeof(*t->tls_links));
	}
	/* Its programs run the bus family's for the bus ports: see sockhook.h. */
	t->dispatch = env->sock;
	sock_dispatch_offer(env->sock, bpf_map__fd(t->skel->maps.sock_next));
	return 0;
}

struct route_name {
	uint32_t agent, id;	/* id 0: free slot */
	char route[HTTP_ROUTE_LEN + 1];
};

/* The route of an id, read from the kernel once and then remembered. */
static const char *route_name(struct http_tracker *t, uint32_t agent, uint32_t id)
{
	struct http_route_key key = { .agent = agent, .id = id };
	struct http_route val;
	struct route_name *r;
	uint32_t i;

	if (id == HTTP_ROUTE_OTHER)
		return "other";
	if (!t->routes) {
		uint32_t size = 64;

		while (size < 2u * (t->cfg->nagents ? t->cfg->nagents : 1) * t->cfg->max_routes)
			size <<= 1;
		t->routes = calloc(size, sizeof(*t->routes));
		if (!t->routes)
			return "other";
		t->routes_mask = size - 1;
	}
	for (i = (id ^ agent * 2654435761u) & t->routes_mask; t->routes[i].id;
	     i = (i + 1) & t->routes_mask) {
		if (t->routes[i].id == id && t->routes[i].agent == agent)
			return config_route_label(t->cfg, t->routes[i].route);
	}
	/* At most half full (read_series() starts it over): the loop ends. */
	if (2 * (t->nroutes + 1) > t->routes_mask + 1 ||
	    bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.http_routes), &key, &val))
		return "other";
	t->nroutes++;
	r = &t->routes[i];
	r->agent = agent;
	r->id = id;
	memcpy(r->route, val.route, HTTP_ROUTE_LEN);
	r->route[HTTP_ROUTE_LEN] = '\0';
	return config_route_label(t->cfg, r->route);
}

/* Room for need elements in *v, of which there is room for *cap. */
static bool room_for(void **v, uint32_t *cap, uint32_t need, size_t size)
{
	void *grown;

	while (*cap < need) {
		grown = grow_array(*v, cap, *cap, size, need);
		if (!grown)
			return false;
		*v = grown;
	}
	return true;
}

/* Label sets read so far, one series each (CPUs summed). */
struct series_read {
	struct http_tracker *t;
	struct http_series *v;
	uint32_t n, cap;
	bool oom;
};

static void add_batch(void *ctx, const struct map_read *r)
{
	struct series_read *sr = ctx;
	struct http_tracker *t = sr->t;
	size_t vsize = sizeof(struct http_stats);
	uint32_t i;
	int c;

	if (sr->oom || !room_for((void **)&sr->v, &sr->cap, sr->n + r->n, sizeof(*sr->v))) {
		sr->oom = true;
		return;
	}
	for (i = 0; i < r->n; i++) {
		const struct http_key *k = map_read_key(r, sizeof(*k), i);
		struct http_series *s = &sr->v[sr->n];

		if (k->agent >= (uint32_t)t->cfg->nagents)
			continue;
		memset(s, 0, sizeof(*s));
		s->agent = k->agent;
		s->code = k->code;
		s->method = k->method < HTTP_M_MAX ? k->method : HTTP_M_OTHER;
		s->route = k->route ? route_name(t, k->agent, k->route) : NULL;
		for (c = 0; c < t->ncpu; c++)
			http_series_add_cpu(s, k->status, map_read_val(r, vsize, t->ncpu, i, c));
		sr->n++;
	}
}

/*
 * Reads every label set with batch lookups (a few syscalls per scrape), a
 * batch at a time (memory follows the label sets in use), sums the CPUs,
 * and merges label sets that route patterns fold together. Returns the
 * number of series in *out, sorted by agent.
 */
static int read_series(struct http_tracker *t, struct http_series **out)
{
	struct series_read sr = { .t = t };

	/*
	 * Ids of routes the kernel dropped and registered anew pile up in the
	 * name cache: past a quarter full it starts over, here and not while the
	 * series read point into it.
	 */
	if (t->routes && 4 * t->nroutes > t->routes_mask + 1) {
		memset(t->routes, 0, (t->routes_mask + 1) * sizeof(*t->routes));
		t->nroutes = 0;
	}
	map_read_each(bpf_map__fd(t->skel->maps.http_stats), sizeof(struct http_key),
		      sizeof(struct http_stats), t->ncpu, &t->batch, add_batch, &sr);
	t->stats_entries = sr.n;
	*out = sr.v;
	return sr.v ? http_series_merge(sr.v, sr.n) : 0;
}

/* Requests in flight per agent; with calls, the agents' own calls in flight. */
static void read_active(struct http_tracker *t, uint64_t *active, bool calls)
{
	struct http_active vals[t->ncpu];
	int fd = bpf_map__fd(t->skel->maps.http_active);
	uint32_t a, slot;
	int c;

	for (a = 0; a < (uint32_t)t->cfg->nagents; a++) {
		uint64_t started = 0, finished = 0;

		slot = a + (calls ? AGENTBPF_MAX_AGENTS : 0);
		if (bpf_map_lookup_elem(fd, &slot, vals))
			continue;
		for (c = 0; c < t->ncpu; c++) {
			started += vals[c].started;
			finished += vals[c].finished + vals[c].closed;
		}
		active[a] = started > finished ? started - finished : 0;
	}
}

/* agent_type plus the request labels the config asks for. */
static int series_labels(struct http_tracker *t, const struct http_series *s, struct label *l,
			 char *code)
{
	const struct config *cfg = t->cfg;
	int n = 0;

	l[n++] = (struct label){ "agent_type", cfg->agents[s->agent].name };
	if (cfg->label_method)
		l[n++] = (struct label){ "method", method_names[s->method] };
	if (cfg->label_route)
		l[n++] = (struct label){ "route", s->route ? s->route : "other" };
	if (cfg->label_code) {
		snprintf(code, 8, "%u", s->code);
		l[n++] = (struct label){ "code", s->code ? code : "none" };
	}
	return n;
}

/* agent_request_size_bytes or agent_response_size_bytes, per agent. */
static void render_sizes(struct expo *e, const struct config *cfg,
			 const struct http_series *agents, bool response)
{
	struct label l;
	int a;

	if (response)
		expo_family(e, "agent_response_size_bytes", EXPO_HISTOGRAM,
			    "Size of the HTTP responses the agent sent, head and body.");
	else
		expo_family(e, "agent_request_size_bytes", EXPO_HISTOGRAM,
			    "Size of the HTTP requests the agent received, head and body.");
	for (a = 0; a < cfg->nagents; a++) {
		const struct http_stats *st = &agents[a].sum;
		const __u64 *b = response ? st->resp_size_buckets : st->req_size_buckets;

		l = (struct label){ "agent_type", cfg->agents[a].name };
		expo_histogram(e, &l, 1, size_bounds, (const uint64_t *)b, HTTP_SIZE_BUCKETS,
			       b[HTTP_SIZE_BUCKETS], response ? st->resp_bytes : st->req_bytes);
	}
}

/* The agents' calls read so far, one series each (CPUs summed). */
struct out_read {
	struct http_tracker *t;
	struct http_out_series *v;
	uint32_t n, cap;
	bool oom;
	uint8_t local[MAX_LOCAL_ADDRS][16];
	int nlocal;
};

static void add_out_batch(void *ctx, const struct map_read *r)
{
	struct out_read *or = ctx;
	struct http_tracker *t = or->t;
	size_t vsize = sizeof(struct http_out_stats);
	uint32_t i;
	int c;

	if (or->oom || !room_for((void **)&or->v, &or->cap, or->n + r->n, sizeof(*or->v))) {
		or->oom = true;
		return;
	}
	for (i = 0; i < r->n; i++) {
		const struct http_out_key *k = map_read_key(r, sizeof(*k), i);
		struct http_out_series *s = &or->v[or->n];

		if (k->agent >= (uint32_t)t->cfg->nagents)
			continue;
		memset(s, 0, sizeof(*s));
		s->agent = k->agent;
		s->code = k->code;
		s->peer = peer_label(t, k->peer, or->local, or->nlocal, &s->to_agent);
		for (c = 0; c < t->ncpu; c++)
			http_out_add_cpu(s, k->status % HTTP_STATUS_MAX,
					 map_read_val(r, vsize, t->ncpu, i, c));
		or->n++;
	}
}

/*
 * The agents' calls by agent, peer label and code: peers that come to one
 * label (an agent reached as localhost and as 127.0.0.1) merged.
 */
static int read_out_series(struct http_tracker *t, struct http_out_series **out)
{
	struct out_read *or = calloc(1, sizeof(*or));
	int n;

	*out = NULL;
	if (!or)
		return 0;
	or->t = t;
	or->nlocal = local_addrs(or->local, MAX_LOCAL_ADDRS);
	map_read_each(bpf_map__fd(t->skel->maps.http_out_stats), sizeof(struct http_out_key),
		      sizeof(struct http_out_stats), t->ncpu, &t->out_batch, add_out_batch, or);
	t->out_entries = or->n;
	*out = or->v;
	n = or->v ? http_out_merge(or->v, or->n) : 0;
	free(or);
	return n;
}

/* The series of one agent and peer, over their codes: [from, *to). */
static void out_group(const struct http_out_series *v, int n, int from, int *to,
		      struct http_out_series *sum)
{
	int i;

	*sum = v[from];
	for (i = from + 1; i < n && v[i].agent == v[from].agent && !strcmp(v[i].peer, v[from].peer);
	     i++)
		http_out_add(sum, &v[i]);
	*to = i;
}

static void render_calls(struct http_tracker *t, struct expo *e)
{
	const struct config *cfg = t->cfg;
	struct http_out_series *v, g;
	uint64_t *active;
	struct label l[4];
	char code[8];
	int i, j, s, n, k;
	static const struct {
		const char *name, *help;
	} hists[] = {
		{ "agent_outbound_request_duration_seconds",
		  "The agent's HTTP calls, from the write of the request's first byte to the read of the response's last." },
		{ "agent_outbound_ttfb_seconds",
		  "The agent's HTTP calls that got a response, from the write of the request's first byte to the response's first byte reaching the agent's socket." },
		{ "agent_outbound_request_size_bytes",
		  "Size of the HTTP requests the agent sent in its calls, head and body." },
		{ "agent_outbound_response_size_bytes",
		  "Size of the HTTP responses the agent's calls got, head and body." },
	};

	n = read_out_series(t, &v);
	active = calloc(cfg->nagents ? cfg->nagents : 1, sizeof(*active));
	if (!active)
		goto cleanup;
	expo_family(e, "agent_outbound_requests_total", EXPO_COUNTER,
		    "HTTP calls the agent made, by peer (the agent it reached, else the Host it named, else the address) and outcome: error = 5xx or closed by the peer without a full response, timeout = 408/504 or given up by the agent before any response.");
	for (i = 0; i < n; i++) {
		k = 0;
		l[k++] = (struct label){ "agent_type", cfg->agents[v[i].agent].name };
		l[k++] = (struct label){ "peer", v[i].peer };
		if (cfg->label_code) {
			snprintf(code, sizeof(code), "%u", v[i].code);
			l[k++] = (struct label){ "code", v[i].code ? code : "none" };
		}
		for (s = 0; s < HTTP_STATUS_MAX; s++) {
			if (cfg->label_code && !v[i].count[s])
				continue;
			l[k] = (struct label){ "status", http_status_name(s) };
			expo_sample(e, l, k + 1, v[i].count[s]);
		}
	}
	for (k = 0; k < (int)ARRAY_SIZE(hists); k++) {
		expo_family(e, hists[k].name, EXPO_HISTOGRAM, hists[k].help);
		for (i = 0; i < n; i = j) {
			const struct http_out_stats *st = &g.sum;

			out_group(v, n, i, &j, &g);
			l[0] = (struct label){ "agent_type", cfg->agents[g.agent].name };
			l[1] = (struct label){ "peer", g.peer };
			if (k == 0)
				expo_histogram(e, l, 2, cfg->buckets, (const uint64_t *)st->duration_buckets,
					       cfg->nbuckets, st->duration_buckets[cfg->nbuckets],
					       st->duration_ns / 1e9);
			else if (k == 1)
				expo_histogram(e, l, 2, cfg->buckets, (const uint64_t *)st->ttfb_buckets,
					       cfg->nbuckets, st->ttfb_buckets[cfg->nbuckets],
					       st->ttfb_ns / 1e9);
			else
				expo_histogram(e, l, 2, size_bounds,
					       (const uint64_t *)(k == 2 ? st->req_size_buckets :
								  st->resp_size_buckets),
					       HTTP_SIZE_BUCKETS,
					       (k == 2 ? st->req_size_buckets :
							 st->resp_size_buckets)[HTTP_SIZE_BUCKETS],
					       k == 2 ? st->req_bytes : st->resp_bytes);
		}
	}
	expo_family(e, "agent_calls_total", EXPO_COUNTER,
		    "HTTP calls from one agent to another on this host: the agent graph's edges.");
	for (i = 0; i < n; i = j) {
		out_group(v, n, i, &j, &g);
		if (g.to_agent < 0)
			continue;
		l[0] = (struct label){ "from_agent", cfg->agents[g.agent].name };
		l[1] = (struct label){ "to_agent", cfg->agents[g.to_agent].name };
		expo_sample(e, l, 2, g.count[HTTP_SUCCESS] + g.count[HTTP_ERROR] +
			    g.count[HTTP_TIMEOUT]);
	}
	expo_family(e, "agentbpf_tls_libraries", EXPO_GAUGE,
		    "OpenSSL files (libssl, or a binary with OpenSSL built in) the agents map that the TLS uprobes are on: their HTTPS calls are seen.");
	expo_sample(e, NULL, 0, __atomic_load_n(&t->tls_attached, __ATOMIC_RELAXED));
	read_active(t, active, true);
	expo_family(e, "agent_outbound_requests_in_flight", EXPO_GAUGE,
		    "HTTP calls the agent has made and not yet had a full response to.");
	for (i = 0; i < cfg->nagents; i++) {
		l[0] = (struct label){ "agent_type", cfg->agents[i].name };
		expo_sample(e, l, 1, active[i]);
	}
cleanup:
	free(v);
	free(active);
}

static void http_render(void *p, struct expo *e)
{
	struct http_tracker *t = p;
	struct llm_budget budget;
	uint32_t zero = 0;
	const struct config *cfg = t->cfg;
	bool labelled = cfg->label_method || cfg->label_route || cfg->label_code;
	struct http_series *series, *agents;
	uint64_t *active;
	struct label l[6];
	char code[8];
	int a, s, i, n, nl;

	if (!t->skel)	/* not loaded: the families are absent, not zero */
		return;
	n = read_series(t, &series);
	agents = calloc(cfg->nagents ? cfg->nagents : 1, sizeof(*agents));
	active = calloc(cfg->nagents ? cfg->nagents : 1, sizeof(*active));
	if (!agents || !active)
		goto cleanup;
	for (i = 0; i < n; i++)
		http_series_add(&agents[series[i].agent], &series[i]);
	for (a = 0; a < cfg->nagents; a++)
		agents[a].agent = a;
	read_active(t, active, false);

	/* Without request labels every agent has its series from the start. */
	if (!labelled) {
		free(series);
		series = agents;
		n = cfg->nagents;
	}

	expo_family(e, "agent_requests_total", EXPO_COUNTER,
		    "HTTP requests the agent received, by outcome: error = 5xx or closed without a full response, timeout = 408/504 or the client left before any response.");
	for (i = 0; i < n; i++) {
		nl = series_labels(t, &series[i], l, code);
		for (s = 0; s < HTTP_STATUS_MAX; s++) {
			/* With a code label the status follows from it: no zeros. */
			if (cfg->label_code && !series[i].count[s])
				continue;
			l[nl] = (struct label){ "status", http_status_name(s) };
			expo_sample(e, l, nl + 1, series[i].count[s]);
		}
	}

	expo_family(e, "agent_request_duration_seconds", EXPO_HISTOGRAM,
		    "From when a request's first byte was available to the agent (queued on its socket) to the write that handed the last byte of its response to the kernel.");
	for (i = 0; i < n; i++) {
		const struct http_stats *st = &series[i].sum;

		nl = series_labels(t, &series[i], l, code);
		expo_histogram(e, l, nl, cfg->buckets, (const uint64_t *)st->duration_buckets,
			       cfg->nbuckets, st->duration_buckets[cfg->nbuckets], st->duration_ns / 1e9);
	}

	render_sizes(e, cfg, agents, false);
	render_sizes(e, cfg, agents, true);

	expo_family(e, "worker_active_requests", EXPO_GAUGE,
		    "HTTP requests the agent has received and not yet answered.");
	for (a = 0; a < cfg->nagents; a++) {
		l[0] = (struct label){ "worker_name", cfg->agents[a].name };
		expo_sample(e, l, 1, active[a]);
	}
	if (!cfg->outbound_off)
		render_calls(t, e);
	expo_family(e, "agentbpf_llm_host_names", EXPO_GAUGE,
		    "Host names whose calls are read as LLM API calls (llm_hosts and the built-in APIs); 0: LLM call metrics are off.");
	expo_sample(e, NULL, 0, llm_reader_hosts(t->llm, &nl));
	expo_family(e, "agentbpf_llm_captured_bytes_total", EXPO_COUNTER,
		    "Bytes of LLM calls the kernel handed to the daemon (answers, and request bodies for their model); no other connection's bytes are copied.");
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.llm_budget), &zero, &budget))
		budget.sent = 0;
	expo_sample(e, NULL, 0, budget.sent);
	llm_reader_render(t->llm, e);
cleanup:
	if (series != agents)
		free(series);
	free(agents);
	free(active);
}

/* ---- TLS: uprobes on the OpenSSL each agent maps ---- */

/*
 * The TLS programs onto the OpenSSL of the file at path, once per file
 * (its device and inode): a uprobe sees every process that maps it. A file
 * without SSL_write, SSL_read and SSL_free (python3 itself, a binary that
 * has no OpenSSL built in) is remembered as none.
 */
static void tls_attach_file(struct http_tracker *t, const char *path)
{
	struct http_bpf *k = t->skel;
	const struct {
		struct bpf_program *prog;
		const char *func;
		bool ret, required;
	} probes[TLS_PROBES] = {
		{ k->progs.tls_write, "SSL_write", false, true },
		/* Each return probe before its entry probe: no entry without its return. */
		{ k->progs.tls_read_ret, "SSL_read", true, true },
		{ k->progs.tls_read, "SSL_read", false, true },
		{ k->progs.tls_free, "SSL_free", false, true },
		/* OpenSSL 1.1.1 and later. */
		{ k->progs.tls_write, "SSL_write_ex", false, false },
		{ k->progs.tls_read_ret, "SSL_read_ex", true, false },
		{ k->progs.tls_read_ex, "SSL_read_ex", false, false },
		{ k->progs.tls_ctrl, "SSL_ctrl", false, false },
	};
	struct tls_file *f;
	struct bpf_link *l;
	struct stat st;
	int i, first = t->ntls_links;
	bool ret_ok = false;

	if (stat(path, &st))
		return;
	for (i = 0; i < t->ntls_files; i++) {
		if (t->tls_files[i].dev == st.st_dev && t->tls_files[i].ino == st.st_ino)
			return;
	}
	if (!t->tls_new_files)
		return;		/* the next round's */
	t->tls_new_files--;
	if (t->ntls_files == TLS_MAX_FILES) {
		if (!t->tls_full_said)
			fprintf(stderr, "agentbpf: warning: the agents map more than %d distinct executables and OpenSSL libraries; HTTPS calls through %s and later ones are not seen\n",
				TLS_MAX_FILES, path);
		t->tls_full_said = true;
		return;
	}
	f = &t->tls_files[t->ntls_files++];
	*f = (struct tls_file){ .dev = st.st_dev, .ino = st.st_ino };
	for (i = 0; i < TLS_PROBES; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = probes[i].func,
			    .retprobe = probes[i].ret);

		/* An entry probe only with the return probe before it in the table. */
		if (i && !probes[i].ret && probes[i - 1].ret && !ret_ok)
			continue;
		l = bpf_program__attach_uprobe_opts(probes[i].prog, -1, path, 0, &o);
		ret_ok = l != NULL;
		if (l) {
			t->tls_links[t->ntls_links++] = l;
		} else if (probes[i].required) {
			/* Not permitted is the daemon's to fix, not the file's: said once. */
			if ((errno == EACCES || errno == EPERM) && !t->tls_denied_said) {
				fprintf(stderr, "agentbpf: warning: cannot put the TLS uprobes on %s: %s; HTTPS and LLM calls are not seen (uprobes need CAP_SYS_ADMIN besides CAP_BPF and CAP_PERFMON)\n",
					path, strerror(errno));
				t->tls_denied_said = true;
			}
			while (t->ntls_links > first)
				bpf_link__destroy(t->tls_links[--t->ntls_links]);
			return;
		}
	}
	__atomic_add_fetch(&t->tls_attached, 1, __ATOMIC_RELAXED);
}

/* The OpenSSL files pid maps, and its executable (Node.js has OpenSSL built in). */
static void tls_scan(struct http_tracker *t, uint32_t pid)
{
	char line[512], path[TLS_PATH_LEN + 32], lib[1][TLS_PATH_LEN];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	tls_attach_file(t, path);
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (tls_libs_in_maps(line, lib, 1) != 1)
			continue;
		/* Its own mount namespace's file: a container's libssl is not the host's. */
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, lib[0]);
		tls_attach_file(t, path);
	}
	fclose(f);
}

/*
 * The memory maps of TLS_SCAN_PER_ROUND members a round, round the member
 * table: a round every tick until the table has been covered once (the
 * agents already running), then one a second, so a library an agent loads
 * late (Python imports ssl when it first needs it) is found within a few
 * rounds. A file already looked at costs a stat; a new one an ELF parse
 * per probe, so a round attaches to at most TLS_NEW_FILES_PER_ROUND: the
 * main thread also drains the kernel's events.
 */
static void http_tick(void *p, const struct family_env *env)
{
	struct http_tracker *t = p;
	struct lifecycle *lc = env->lc;
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	uint32_t k, slot = t->tls_cursor, n = 0, pids[TLS_SCAN_PER_ROUND];

	if (!t->skel || !t->tls_links || !t->tls_files || now < t->tls_next_ns)
		return;
	/* The pids under the lock (a scrape may forget members); their maps after it. */
	pthread_mutex_lock(env->lock);
	for (k = 0; k <= lc->mask && n < TLS_SCAN_PER_ROUND; k++) {
		slot = (t->tls_cursor + k) & lc->mask;
		if (lc->table[slot].pid)
			pids[n++] = lc->table[slot].pid;
	}
	t->tls_cursor = (slot + 1) & lc->mask;
	t->tls_swept += k;
	pthread_mutex_unlock(env->lock);
	t->tls_new_files = TLS_NEW_FILES_PER_ROUND;
	for (k = 0; k < n; k++)
		tls_scan(t, pids[k]);
	t->tls_next_ns = t->tls_swept > lc->mask ? now + TLS_ROUND_NS : 0;
}

static void http_drops(void *p, uint64_t *out)
{
	struct http_tracker *t = p;

	map_sum_percpu_u64(t->skel ? bpf_map__fd(t->skel->maps.http_drops) : -1, HTTP_DROP_MAX,
			   t->ncpu, out);
	llm_reader_losses(t->llm, out + HTTP_DROP_MAX);
}

static void http_render_maps(void *p, struct expo *e, bool capacity)
{
	struct http_tracker *t = p;
	uint32_t a, count, routes = 0;
	struct label l;
	int fd;

	if (!t->skel)
		return;
	fd = bpf_map__fd(t->skel->maps.http_route_count);
	l = (struct label){ "map", "http_stats" };
	expo_sample(e, &l, 1, capacity ? bpf_map__max_entries(t->skel->maps.http_stats) :
		    t->stats_entries);
	for (a = 0; !capacity && a < (uint32_t)t->cfg->nagents; a++) {
		if (!bpf_map_lookup_elem(fd, &a, &count))
			routes += count;
	}
	l = (struct label){ "map", "http_routes" };
	expo_sample(e, &l, 1, capacity ? bpf_map__max_entries(t->skel->maps.http_routes) : routes);
	l = (struct label){ "map", "http_out_stats" };
	expo_sample(e, &l, 1, capacity ? bpf_map__max_entries(t->skel->maps.http_out_stats) :
		    t->out_entries);
	fd = bpf_map__fd(t->skel->maps.http_peer_count);
	a = 0;
	if (capacity || bpf_map_lookup_elem(fd, &a, &count))
		count = 0;
	l = (struct label){ "map", "http_peers" };
	expo_sample(e, &l, 1, capacity ? bpf_map__max_entries(t->skel->maps.http_peers) : count);
}

static void http_close(void *p)
{
	struct http_tracker *t = p;

	llm_reader_stop(t->llm);
	t->llm = NULL;
	if (t->skel && t->dispatch)
		sock_dispatch_withdraw(t->dispatch);
	t->dispatch = NULL;
	while (t->tls_links && t->ntls_links > 0)
		bpf_link__destroy(t->tls_links[--t->ntls_links]);
	free(t->tls_links);
	t->tls_links = NULL;
	free(t->tls_files);
	t->tls_files = NULL;
	http_bpf__destroy(t->skel);
	t->skel = NULL;
	map_read_free(&t->batch);
	map_read_free(&t->out_batch);
	free(t->routes);
	t->routes = NULL;
	free(t->peers);
	t->peers = NULL;
}

static const char *http_hook(void)
{
	return sock_hook_name(sock_hook_choose());
}

static void http_describe(void *p, const struct family_env *env, family_say_fn say)
{
	struct http_tracker *t = p;
	int n, hosts;

	say(FAMILY_OK, "load probes", "HTTP programs loaded and attached to %s",
	    sock_hook_targets(env->sock->hook));
	say(FAMILY_INFO, "request start", "%s", starts_at_arrival(t) ?
	    "when its bytes reach the socket (sk_data_ready)" :
	    env->cfg->start_at_read ? "at the read that returns it (request_start: read)" :
	    "at the read that returns it (no sk_data_ready before Linux 6.4)");
	if (env->cfg->outbound_off)
		say(FAMILY_INFO, "outbound calls", "off (outbound: false)");
	else
		say(FAMILY_INFO, "outbound calls", "plain HTTP from the socket hooks; HTTPS from uprobes on SSL_write/SSL_read/SSL_ctrl/SSL_free of each OpenSSL the agents map, put on as they map it");
	if (env->cfg->outbound_off || env->cfg->llm_off)
		say(FAMILY_INFO, "LLM calls", "off (%s)", env->cfg->outbound_off ?
		    "outbound: false" : "llm: false");
	else if (!t->llm)
		say(FAMILY_FAIL, "LLM calls", "the reader did not start: LLM call metrics are off");
	else if ((hosts = llm_reader_hosts(t->llm, &n)))
		say(FAMILY_OK, "LLM calls", "calls to %d host names of %d providers are read for model, tokens and time to first token",
		    hosts, n);
}

_Static_assert(HTTP_DROP_MAX + LLM_LOSS_MAX <= FAMILY_MAX_DROPS,
	       "the daemon renders FAMILY_MAX_DROPS reasons");

const struct family_ops http_family = {
	.name = "http", .title = "HTTP", .off = "HTTP request metrics",
	.size = sizeof(struct http_tracker), .ndrops = HTTP_DROP_MAX + LLM_LOSS_MAX, .render = http_render,
	.tick = http_tick, FAMILY_OPS(http),
};
