// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bus.skel.h"
#include "http.h"
#include "bus_user.h"
#include "proc_user.h"
#include "util.h"
#include "sockhook.h"
#include "family.h"

static const char *const drop_names[BUS_DROP_MAX] = {
	[BUS_DROP_DESYNC] = "bus_protocol_lost",
	[BUS_DROP_PIPELINE_FULL] = "bus_pipeline_full",
	[BUS_DROP_QUEUES_FULL] = "bus_series_full",
	[BUS_DROP_RINGBUF_FULL] = "bus_trace_ringbuf_full",
};

static const char *const event_names[] = {
	[BUS_EV_PRODUCE] = "produce",
	[BUS_EV_CONSUME] = "consume",
	[BUS_EV_ACK] = "ack",
	[BUS_EV_DEPTH] = "depth",
	[BUS_EV_CACHE] = "cache",
};

static const char *bus_drop_name(int r)
{
	return r >= 0 && r < BUS_DROP_MAX ? drop_names[r] : "unknown";
}

static struct bpf_object *bus_object(void *p)
{
	struct bus_tracker *t = p;

	return t->skel ? t->skel->obj : NULL;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct bus_tracker *t = ctx;
	const struct bus_event *e = data;
	char queue[BUS_QUEUE_LEN + 1], value[24], value2[24];
	struct trace_field f[5];
	int n = 0;

	if (len < sizeof(*e) || e->agent >= (uint32_t)t->cfg->nagents ||
	    e->kind >= ARRAY_SIZE(event_names))
		return 0;
	memcpy(queue, e->queue, BUS_QUEUE_LEN);
	queue[BUS_QUEUE_LEN] = '\0';
	snprintf(value, sizeof(value), "%lld", (long long)e->value);
	snprintf(value2, sizeof(value2), "%lld", (long long)e->value2);
	f[n++] = (struct trace_field){ "kind", event_names[e->kind], false };
	if (e->kind == BUS_EV_CACHE) {
		f[n++] = (struct trace_field){ "hits", value, true };
		f[n++] = (struct trace_field){ "misses", value2, true };
	} else {
		f[n++] = (struct trace_field){ "family", bus_family_name(e->family), false };
		f[n++] = (struct trace_field){ "queue", queue[0] ? queue : "-", false };
		f[n++] = (struct trace_field){ e->kind == BUS_EV_DEPTH ? "depth" : "messages", value, true };
	}
	trace_emit(&t->trace, "bus", t->cfg->agents[e->agent].name, e->pid, f, n);
	return 0;
}

static void bus_close(void *p);

static int bus_open(void *p, const struct family_env *env, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = env->btf);
	const struct config *cfg = env->cfg;
	uint32_t agents = cfg->nagents ? cfg->nagents : 1;
	struct bus_tracker *t = p;
	/* A name may serve two families (a list and a channel): room for both. */
	uint64_t flows = (uint64_t)(cfg->max_queues + 1) * BUS_FLOW_MAX * agents * 2;
	int ret;

	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->model.cfg = cfg;
	t->trace = env->trace;
	t->ncpu = libbpf_num_possible_cpus();
	t->skel = bus_bpf__open_opts(&opts);
	if (!t->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open message-bus BPF object: %s", strerror(-ret));
		return ret;
	}
	t->skel->rodata->nports = family_bus_ports(cfg, t->skel->rodata->bus_ports, BUS_MAX_PORTS);
	t->skel->rodata->nbounds = family_bounds_ns(cfg, t->skel->rodata->bounds_ns,
						    BUS_MAX_BUCKETS);
	t->skel->rodata->max_queues = cfg->max_queues;
	t->skel->rodata->trace_bus = env->trace.f != NULL;
	/* Every queue plus "other"; flows: each agent may produce, consume and ack on each. */
	bpf_map__set_max_entries(t->skel->maps.bus_queues, cfg->max_queues + 1);
	bpf_map__set_max_entries(t->skel->maps.bus_flows, flows > 65536 ? 65536 : flows);
	sock_hook_select(env->sock->hook, t->skel->progs.bus_recv, t->skel->progs.bus_send,
			 t->skel->progs.bus_recv_fexit, t->skel->progs.bus_send_fexit);
	/* Run by the HTTP programs for the bus ports (sockhook.h), or attached here. */
	t->joined = sock_dispatch_runs_next(env->sock);
	bpf_program__set_autoattach(t->skel->progs.bus_recv, !t->joined);
	bpf_program__set_autoattach(t->skel->progs.bus_send, !t->joined);
	ret = family_share_members(env, &bus_family, t->skel->maps.agent_pids,
				   t->skel->maps.member_hint, err, errlen);
	if (!ret)
		ret = family_load(t->skel->skeleton, &bus_family, err, errlen);
	if (!ret && t->joined) {
		t->dispatch = env->sock;
		ret = sock_dispatch_join(env->sock, t->skel->progs.bus_recv, t->skel->progs.bus_send);
		if (ret)
			snprintf(err, errlen, "cannot hand the message-bus programs to the HTTP programs' dispatch map: %s",
				 strerror(-ret));
	}
	if (!ret)
		ret = family_attach(t->skel->skeleton, &bus_family, sock_hook_targets(env->sock->hook),
				    err, errlen);
	if (!ret)
		ret = family_join_ring(env, &bus_family, t->skel->maps.bus_events, on_event, t, err,
				       errlen);
	if (ret)
		bus_close(t);
	return ret;
}

/* The registered queues, with their names and config. */
static void read_queues(struct bus_tracker *t)
{
	struct bus_model *m = &t->model;
	struct bus_queue_info *grown;
	uint32_t i;

	m->nqinfo = 0;
	map_read_all(bpf_map__fd(t->skel->maps.bus_queues), sizeof(uint32_t),
		     sizeof(struct bus_queue), 1, &t->queues);
	grown = realloc(m->qinfo, (t->queues.n ? t->queues.n : 1) * sizeof(*grown));
	if (!grown)
		return;
	m->qinfo = grown;
	for (i = 0; i < t->queues.n; i++) {
		const struct bus_queue *q = map_read_val(&t->queues, sizeof(*q), 1, i, 0);
		struct bus_queue_info *qi = &m->qinfo[i];

		qi->id = *(uint32_t *)map_read_key(&t->queues, sizeof(uint32_t), i);
		bus_queue_label(qi->name, q->name, q->name_len);
		qi->families = q->families;
		qi->depth = q->depth;
		qi->conf = qi->id == BUS_QUEUE_OTHER ? NULL : config_queue(t->cfg, qi->name);
		qi->producer = qi->consumer = -1;
		qi->observer = q->depth_set && q->observer < (uint32_t)t->cfg->nagents ? (int)q->observer : -1;
	}
	m->nqinfo = t->queues.n;
	bus_model_queues_read(m);
}

static const char *agent_name(const struct config *cfg, int i)
{
	return i >= 0 && i < cfg->nagents ? cfg->agents[i].name : "unknown";
}

static void render_cache(struct bus_tracker *t, struct expo *e, const struct bus_agent_stats *sum,
			 bool hits)
{
	const struct config *cfg = t->cfg;
	struct label l;
	int a, b;

	if (hits)
		expo_family(e, "cache_hits_total", EXPO_COUNTER,
			    "Redis reads (GET, HGET, MGET/HMGET per key, EXISTS/HEXISTS per key) that found a value.");
	else
		expo_family(e, "cache_misses_total", EXPO_COUNTER,
			    "Redis reads (GET, HGET, MGET/HMGET per key, EXISTS/HEXISTS per key) that found nothing.");
	/* Agents may share a cache_type: one series each, summed. */
	for (a = 0; a < cfg->nagents; a++) {
		uint64_t v = 0;

		for (b = 0; b < a && strcmp(cfg->agents[b].cache_type, cfg->agents[a].cache_type); b++)
			;
		if (b < a)
			continue;
		for (b = a; b < cfg->nagents; b++) {
			if (!strcmp(cfg->agents[b].cache_type, cfg->agents[a].cache_type))
				v += hits ? sum[b].cache_hits : sum[b].cache_misses;
		}
		l = (struct label){ "cache_type", cfg->agents[a].cache_type };
		expo_sample(e, &l, 1, v);
	}
}

static void bus_render(void *p, struct expo *e)
{
	struct bus_tracker *t = p;
	const struct config *cfg = t->cfg;
	struct bus_agent_stats *sum = NULL, vals[t->ncpu];
	struct bus_model *m = &t->model;
	struct bus_flows flows;
	struct label l[3];
	uint32_t i, a;
	int c, b;

	if (!t->skel)	/* not loaded: the families are absent, not zero */
		return;
	read_queues(t);
	map_read_all(bpf_map__fd(t->skel->maps.bus_flows), sizeof(struct bus_flow_key),
		     sizeof(uint64_t), t->ncpu, &t->flows);
	flows = (struct bus_flows){ t->flows.keys, t->flows.vals, t->flows.n, t->ncpu };
	bus_model_learn(&t->model, &flows);
	bus_model_consumed(&t->model, &flows);

	expo_family(e, "message_bus_messages_total", EXPO_COUNTER,
		    "Messages delivered to a consuming agent (list pops, stream entries read, pub/sub and NATS deliveries), by the agent that produced them (configured, or the queue's main producer; unknown if none was seen).");
	for (i = 0; i < m->nseries; i++) {
		l[0] = (struct label){ "from_agent", agent_name(cfg, m->series[i].from) };
		l[1] = (struct label){ "to_agent", agent_name(cfg, m->series[i].to) };
		l[2] = (struct label){ "message_type", m->series[i].type };
		expo_sample(e, l, 3, m->series[i].count);
	}

	expo_family(e, "message_bus_queue_depth", EXPO_GAUGE,
		    "Messages waiting in a Redis list or stream: the last length a reply told (LPUSH/RPUSH/LLEN/XLEN/XPENDING), moved by the pops, XADDs and XACKs seen since; a stream never measured so is the produced-acknowledged balance. agent_type is the queue's configured consumer (queues: to:), else the first consumer seen (it then stays), else its producer.");
	for (i = 0; i < m->nqinfo; i++) {
		const struct bus_queue_info *q = &m->qinfo[i];
		int owner;

		if (q->id == BUS_QUEUE_OTHER || !(q->families & (1 << BUS_LIST | 1 << BUS_STREAM)))
			continue;
		owner = bus_model_owner(m, q);
		if (owner < 0)
			continue;
		l[0] = (struct label){ "agent_type", agent_name(cfg, owner) };
		l[1] = (struct label){ "queue", q->name };
		expo_sample(e, l, 2, q->depth);
	}

	sum = calloc(cfg->nagents ? cfg->nagents : 1, sizeof(*sum));
	if (!sum)
		return;
	for (a = 0; a < (uint32_t)cfg->nagents; a++) {
		if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.bus_agents), &a, vals))
			continue;
		for (c = 0; c < t->ncpu; c++) {
			sum[a].cache_hits += vals[c].cache_hits;
			sum[a].cache_misses += vals[c].cache_misses;
			sum[a].proc_count += vals[c].proc_count;
			sum[a].proc_ns += vals[c].proc_ns;
			for (b = 0; b <= BUS_MAX_BUCKETS; b++)
				sum[a].proc_buckets[b] += vals[c].proc_buckets[b];
		}
	}
	expo_family(e, "message_bus_processing_duration_seconds", EXPO_HISTOGRAM,
		    "From a message delivered to a consuming agent to that connection's next command to the bus (its next pop or ack).");
	for (a = 0; a < (uint32_t)cfg->nagents; a++) {
		l[0] = (struct label){ "agent_type", cfg->agents[a].name };
		expo_histogram(e, l, 1, cfg->buckets, (const uint64_t *)sum[a].proc_buckets,
			       cfg->nbuckets, sum[a].proc_buckets[cfg->nbuckets], sum[a].proc_ns / 1e9);
	}
	render_cache(t, e, sum, true);
	render_cache(t, e, sum, false);
	free(sum);
}

static void bus_drops(void *p, uint64_t *out)
{
	struct bus_tracker *t = p;

	map_sum_percpu_u64(t->skel ? bpf_map__fd(t->skel->maps.bus_drops) : -1, BUS_DROP_MAX,
			   t->ncpu, out);
}

static void bus_render_maps(void *p, struct expo *e, bool capacity)
{
	struct bus_tracker *t = p;
	struct label l;

	if (!t->skel)
		return;
	l = (struct label){ "map", "bus_queues" };
	expo_sample(e, &l, 1, capacity ? bpf_map__max_entries(t->skel->maps.bus_queues) :
		    t->model.nqinfo);
	l = (struct label){ "map", "bus_flows" };
	expo_sample(e, &l, 1, capacity ? bpf_map__max_entries(t->skel->maps.bus_flows) : t->flows.n);
}

static void bus_close(void *p)
{
	struct bus_tracker *t = p;

	/* The dispatch map holds the programs: take them out, or they would run on. */
	if (t->dispatch)
		sock_dispatch_leave(t->dispatch);
	t->dispatch = NULL;
	bus_bpf__destroy(t->skel);
	t->skel = NULL;
	map_read_free(&t->flows);
	map_read_free(&t->queues);
	bus_model_free(&t->model);
}

static const char *bus_hook(void)
{
	return sock_hook_name(sock_hook_choose());
}

static void bus_describe(void *p, const struct family_env *env, family_say_fn say)
{
	struct bus_tracker *t = p;

	say(FAMILY_OK, "load probes", "%s", t->joined ?
	    "message-bus programs loaded, run by the HTTP programs for the bus ports" :
	    "message-bus programs loaded and attached to their own hooks");
}

_Static_assert(BUS_DROP_MAX <= FAMILY_MAX_DROPS, "the daemon renders FAMILY_MAX_DROPS reasons");

const struct family_ops bus_family = {
	.name = "bus", .title = "message-bus", .off = "message-bus metrics",
	.size = sizeof(struct bus_tracker), .ndrops = BUS_DROP_MAX, .render = bus_render,
	FAMILY_OPS(bus),
};
