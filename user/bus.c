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
#include "verify.h"

static const char *const family_names[BUS_FAMILY_MAX] = {
	[BUS_LIST] = "list",
	[BUS_STREAM] = "stream",
	[BUS_PUBSUB] = "pubsub",
	[BUS_NATS] = "nats",
};

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

const char *bus_drop_name(enum bus_drop_reason r)
{
	return r < BUS_DROP_MAX ? drop_names[r] : "unknown";
}

struct bpf_object *bus_tracker_object(struct bus_tracker *t)
{
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
		f[n++] = (struct trace_field){ "family", family_names[e->family % BUS_FAMILY_MAX], false };
		f[n++] = (struct trace_field){ "queue", queue[0] ? queue : "-", false };
		f[n++] = (struct trace_field){ e->kind == BUS_EV_DEPTH ? "depth" : "messages", value, true };
	}
	trace_emit(&t->trace, "bus", t->cfg->agents[e->agent].name, e->pid, f, n);
	return 0;
}

/* The bus program for a slot of the HTTP family's dispatch map (enum http_next). */
static struct bpf_program *dispatched(struct bus_tracker *t, __u32 slot)
{
	return slot == HTTP_NEXT_RECV ? t->skel->progs.bus_recv : t->skel->progs.bus_send;
}

static int join_http_dispatch(struct bus_tracker *t, int next_fd)
{
	__u32 slot, fd;

	for (slot = 0; slot < HTTP_NEXT_MAX; slot++) {
		fd = bpf_program__fd(dispatched(t, slot));
		if (bpf_map_update_elem(next_fd, &slot, &fd, BPF_ANY))
			return -errno;
	}
	return 0;
}

int bus_tracker_open(struct bus_tracker *t, const struct config *cfg,
		     const struct proc_tracker *proc, int next_fd, struct ring_buffer *rb,
		     struct trace_out trace, const char *btf_path, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
	uint32_t agents = cfg->nagents ? cfg->nagents : 1;
	int i, ret;

	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->trace = trace;
	t->ncpu = libbpf_num_possible_cpus();
	t->skel = bus_bpf__open_opts(&opts);
	if (!t->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open message-bus BPF object: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; i < cfg->nbus_ports && i < BUS_MAX_PORTS; i++)
		t->skel->rodata->bus_ports[i] = cfg->bus_ports[i];
	t->skel->rodata->nports = i;
	for (i = 0; i < cfg->nbuckets && i < BUS_MAX_BUCKETS; i++)
		t->skel->rodata->bounds_ns[i] = (__u64)(cfg->buckets[i] * 1e9 + 0.5);
	t->skel->rodata->nbounds = i;
	t->skel->rodata->max_queues = cfg->max_queues;
	t->skel->rodata->trace_bus = trace.f != NULL;
	/* Every queue plus "other"; flows: each agent may produce, consume and ack on each. */
	bpf_map__set_max_entries(t->skel->maps.bus_queues, cfg->max_queues + 1);
	{
		/* A name may serve two families (a list and a channel): room for both. */
		uint64_t flows = (uint64_t)(cfg->max_queues + 1) * BUS_FLOW_MAX * agents * 2;

		bpf_map__set_max_entries(t->skel->maps.bus_flows, flows > 65536 ? 65536 : flows);
	}
	ret = proc_share_members(proc, t->skel->maps.agent_pids, t->skel->maps.member_hint);
	if (ret) {
		snprintf(err, errlen, "cannot share the agent maps with the message-bus probes: %s",
			 strerror(-ret));
		goto fail;
	}
	sock_hook_select(sock_hook_choose(), t->skel->progs.bus_recv, t->skel->progs.bus_send,
			 t->skel->progs.bus_recv_fexit, t->skel->progs.bus_send_fexit);
	for (i = 0; next_fd >= 0 && i < HTTP_NEXT_MAX; i++)
		bpf_program__set_autoattach(dispatched(t, i), false);
	verify_prepare(t->skel->obj);
	ret = bus_bpf__load(t->skel);
	verify_collect(t->skel->obj, "bus");
	if (ret) {
		snprintf(err, errlen, "cannot load the message-bus BPF programs: %s (run with AGENTBPF_DEBUG=1 for the verifier log)",
			 strerror(-ret));
		goto fail;
	}
	if (next_fd >= 0) {
		ret = join_http_dispatch(t, next_fd);
		if (ret) {
			snprintf(err, errlen, "cannot hand the message-bus programs to the HTTP programs' dispatch map: %s",
				 strerror(-ret));
			goto fail;
		}
	}
	ret = bus_bpf__attach(t->skel);
	if (ret) {
		snprintf(err, errlen, "cannot attach the message-bus programs to %s: %s",
			 sock_hook_targets(sock_hook_choose()), strerror(-ret));
		goto fail;
	}
	if (trace.f && rb) {
		ret = ring_buffer__add(rb, bpf_map__fd(t->skel->maps.bus_events), on_event, t);
		if (ret) {
			snprintf(err, errlen, "cannot map the message-bus trace ring buffer: %s",
				 strerror(-ret));
			goto fail;
		}
	}
	return 0;
fail:
	if (next_fd >= 0) {
		/* The dispatch map holds the programs: take them out, or they would run on. */
		__u32 slot;

		for (slot = 0; slot < HTTP_NEXT_MAX; slot++)
			bpf_map_delete_elem(next_fd, &slot);
	}
	bus_tracker_close(t);
	return ret;
}

static int cmp_queue(const void *a, const void *b)
{
	uint32_t x = ((const struct bus_queue_info *)a)->id, y = ((const struct bus_queue_info *)b)->id;

	return x < y ? -1 : x > y;
}

static struct bus_queue_info *queue_info(struct bus_tracker *t, uint32_t id)
{
	struct bus_queue_info key = { .id = id };

	return t->nqinfo ? bsearch(&key, t->qinfo, t->nqinfo, sizeof(key), cmp_queue) : NULL;
}

/*
 * A key as a label value: bytes that would vanish or merge in a label
 * (NUL and other control bytes) are written as \xNN, so two keys stay two.
 */
static void queue_label(char *out, const char *name, unsigned int len)
{
	unsigned int i;

	if (len > BUS_QUEUE_LEN)
		len = BUS_QUEUE_LEN;
	for (i = 0; i < len; i++) {
		unsigned char ch = name[i];

		if (ch < 0x20 || ch == 0x7f)
			out += sprintf(out, "\\x%02x", ch);
		else
			*out++ = ch;
	}
	*out = '\0';
}

/* The registered queues, with their names and config. */
static void read_queues(struct bus_tracker *t)
{
	struct bus_queue_info *grown;
	uint32_t i;

	t->nqinfo = 0;
	map_read_all(bpf_map__fd(t->skel->maps.bus_queues), sizeof(uint32_t),
		     sizeof(struct bus_queue), 1, &t->queues);
	grown = realloc(t->qinfo, (t->queues.n ? t->queues.n : 1) * sizeof(*grown));
	if (!grown)
		return;
	t->qinfo = grown;
	for (i = 0; i < t->queues.n; i++) {
		const struct bus_queue *q = map_read_val(&t->queues, sizeof(*q), 1, i, 0);
		struct bus_queue_info *qi = &t->qinfo[i];

		qi->id = *(uint32_t *)map_read_key(&t->queues, sizeof(uint32_t), i);
		queue_label(qi->name, q->name, q->name_len);
		qi->families = q->families;
		qi->depth = q->depth;
		qi->conf = qi->id == BUS_QUEUE_OTHER ? NULL : config_queue(t->cfg, qi->name);
		qi->producer = qi->consumer = -1;
		qi->observer = q->depth_set && q->observer < (uint32_t)t->cfg->nagents ? (int)q->observer : -1;
	}
	t->nqinfo = t->queues.n;
	qsort(t->qinfo, t->nqinfo, sizeof(*t->qinfo), cmp_queue);
}

static uint64_t flow_total(struct bus_tracker *t, uint32_t i)
{
	uint64_t sum = 0;
	int c;

	for (c = 0; c < t->ncpu; c++)
		sum += *(uint64_t *)map_read_val(&t->flows, sizeof(uint64_t), t->ncpu, i, c);
	return sum;
}

static uint32_t flow_hash(const struct bus_flow_key *k)
{
	uint32_t h = k->agent * 2654435761u ^ k->queue * 2246822519u ^ (k->family << 8 | k->flow);

	return h ^ h >> 15;
}

/*
 * The flows' last totals, open-addressed and doubled at half full: a scrape
 * looks up every consumed flow (up to 65,536) in it.
 */
static int seen_grow(struct bus_tracker *t)
{
	uint32_t cap = t->seen_cap ? t->seen_cap * 2 : 64, i, j;
	struct bus_seen *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (i = 0; i < t->seen_cap; i++) {
		if (!t->seen[i].used)
			continue;
		for (j = flow_hash(&t->seen[i].key) & (cap - 1); tab[j].used; j = (j + 1) & (cap - 1))
			;
		tab[j] = t->seen[i];
	}
	free(t->seen);
	t->seen = tab;
	t->seen_cap = cap;
	return 0;
}

static struct bus_seen *seen_of(struct bus_tracker *t, const struct bus_flow_key *k)
{
	uint32_t i;

	if (2 * (t->nseen + 1) > t->seen_cap && seen_grow(t))
		return NULL;
	for (i = flow_hash(k) & (t->seen_cap - 1); t->seen[i].used; i = (i + 1) & (t->seen_cap - 1)) {
		if (!memcmp(&t->seen[i].key, k, sizeof(*k)))
			return &t->seen[i];
	}
	t->seen[i] = (struct bus_seen){ .key = *k, .used = 1 };
	t->nseen++;
	return &t->seen[i];
}

static void series_add(struct bus_tracker *t, int from, int to, const char *type, uint64_t n)
{
	struct bus_series *grown;
	uint32_t i;

	for (i = 0; i < t->nseries; i++) {
		struct bus_series *s = &t->series[i];

		if (s->from == from && s->to == to && !strcmp(s->type, type)) {
			s->count += n;
			return;
		}
	}
	grown = grow_array(t->series, &t->series_cap, t->nseries, sizeof(*grown), 16);
	if (!grown)
		return;
	t->series = grown;
	t->series[t->nseries++] = (struct bus_series){ from, to, type, n };
}

/*
 * Who produces and who consumes each queue, from the counters: the agent
 * that put the most messages on it, the one that took the most off it.
 */
static void learn_agents(struct bus_tracker *t)
{
	uint64_t *best = calloc(t->nqinfo ? t->nqinfo * 2 : 1, sizeof(*best));
	uint32_t i;

	if (!best)
		return;
	for (i = 0; i < t->flows.n; i++) {
		const struct bus_flow_key *k = map_read_key(&t->flows, sizeof(*k), i);
		struct bus_queue_info *q = queue_info(t, k->queue);
		uint64_t n = flow_total(t, i);
		size_t slot;

		if (!q || (k->flow != BUS_PRODUCED && k->flow != BUS_CONSUMED))
			continue;
		slot = (size_t)(q - t->qinfo) * 2 + (k->flow == BUS_CONSUMED);
		if (n > best[slot]) {
			best[slot] = n;
			if (k->flow == BUS_PRODUCED)
				q->producer = k->agent;
			else
				q->consumer = k->agent;
		}
	}
	free(best);
}

/* Messages consumed since the last scrape, added to their from/to/type series. */
static void account_consumed(struct bus_tracker *t)
{
	uint32_t i;

	for (i = 0; i < t->flows.n; i++) {
		const struct bus_flow_key *k = map_read_key(&t->flows, sizeof(*k), i);
		struct bus_queue_info *q;
		struct bus_seen *seen;
		uint64_t n;
		int from;

		if (k->flow != BUS_CONSUMED || k->agent >= (uint32_t)t->cfg->nagents)
			continue;
		n = flow_total(t, i);
		seen = seen_of(t, k);
		if (!seen || n <= seen->consumed)
			continue;
		q = queue_info(t, k->queue);
		from = q && q->conf && q->conf->from >= 0 ? q->conf->from : q ? q->producer : -1;
		series_add(t, from, k->agent,
			   q && q->conf && q->conf->type ? q->conf->type :
			   family_names[k->family % BUS_FAMILY_MAX], n - seen->consumed);
		seen->consumed = n;
	}
}

/*
 * The agent a queue's depth is shown for: the configured consumer, else the
 * first consumer seen, kept from then on (competing consumers must not make
 * the series flap between them); until a consumer shows up, the producer or
 * the agent that asked the length.
 */
static int queue_owner(struct bus_tracker *t, const struct bus_queue_info *q)
{
	struct bus_owner *grown;
	uint32_t lo = 0, hi = t->nowners, mid;
	int owner;

	if (q->conf && q->conf->to >= 0)
		return q->conf->to;
	/* Kept in queue order: every queue is looked up at every scrape. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (t->owners[mid].queue == q->id)
			return t->owners[mid].agent;
		if (t->owners[mid].queue < q->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (q->consumer < 0)
		return q->producer >= 0 ? q->producer : q->observer;
	owner = q->consumer;
	grown = grow_array(t->owners, &t->owners_cap, t->nowners, sizeof(*grown), 16);
	if (!grown)
		return owner;
	t->owners = grown;
	memmove(&t->owners[lo + 1], &t->owners[lo], (t->nowners - lo) * sizeof(*grown));
	t->owners[lo] = (struct bus_owner){ q->id, owner };
	t->nowners++;
	return owner;
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

void bus_tracker_render(struct bus_tracker *t, struct expo *e)
{
	const struct config *cfg = t->cfg;
	struct bus_agent_stats *sum = NULL, vals[t->ncpu];
	struct label l[3];
	uint32_t i, a;
	int c, b;

	if (!t->skel)	/* not loaded: the families are absent, not zero */
		return;
	read_queues(t);
	map_read_all(bpf_map__fd(t->skel->maps.bus_flows), sizeof(struct bus_flow_key),
		     sizeof(uint64_t), t->ncpu, &t->flows);
	learn_agents(t);
	account_consumed(t);

	expo_family(e, "message_bus_messages_total", EXPO_COUNTER,
		    "Messages delivered to a consuming agent (list pops, stream entries read, pub/sub and NATS deliveries), by the agent that produced them (configured, or the queue's main producer; unknown if none was seen).");
	for (i = 0; i < t->nseries; i++) {
		l[0] = (struct label){ "from_agent", agent_name(cfg, t->series[i].from) };
		l[1] = (struct label){ "to_agent", agent_name(cfg, t->series[i].to) };
		l[2] = (struct label){ "message_type", t->series[i].type };
		expo_sample(e, l, 3, t->series[i].count);
	}

	expo_family(e, "message_bus_queue_depth", EXPO_GAUGE,
		    "Messages waiting in a Redis list or stream: the last length a reply told (LPUSH/RPUSH/LLEN/XLEN/XPENDING), moved by the pops, XADDs and XACKs seen since; a stream never measured so is the produced-acknowledged balance. agent_type is the queue's configured consumer (queues: to:), else the first consumer seen (it then stays), else its producer.");
	for (i = 0; i < t->nqinfo; i++) {
		const struct bus_queue_info *q = &t->qinfo[i];
		int owner;

		if (q->id == BUS_QUEUE_OTHER || !(q->families & (1 << BUS_LIST | 1 << BUS_STREAM)))
			continue;
		owner = queue_owner(t, q);
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

void bus_tracker_drops(struct bus_tracker *t, uint64_t out[BUS_DROP_MAX])
{
	map_sum_percpu_u64(t->skel ? bpf_map__fd(t->skel->maps.bus_drops) : -1, BUS_DROP_MAX,
			   t->ncpu, out);
}

void bus_tracker_render_maps(struct bus_tracker *t, struct expo *e, bool capacity)
{
	struct label l;

	if (!t->skel)
		return;
	l = (struct label){ "map", "bus_queues" };
	expo_sample(e, &l, 1, capacity ? bpf_map__max_entries(t->skel->maps.bus_queues) : t->nqinfo);
	l = (struct label){ "map", "bus_flows" };
	expo_sample(e, &l, 1, capacity ? bpf_map__max_entries(t->skel->maps.bus_flows) : t->flows.n);
}

void bus_tracker_close(struct bus_tracker *t)
{
	bus_bpf__destroy(t->skel);
	t->skel = NULL;
	map_read_free(&t->flows);
	map_read_free(&t->queues);
	free(t->qinfo);
	free(t->seen);
	free(t->series);
	free(t->owners);
	t->owners = NULL;
	t->nowners = t->owners_cap = 0;
	t->qinfo = NULL;
	t->seen = NULL;
	t->series = NULL;
	t->nqinfo = t->nseen = t->seen_cap = t->nseries = 0;
}
