// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "busmodel.h"
#include "util.h"

/* In enum bus_family's order: BUS_LIST, BUS_STREAM, BUS_PUBSUB, BUS_NATS. */
static const char *const family_names[BUS_FAMILY_MAX] = { "list", "stream", "pubsub", "nats" };
_Static_assert(BUS_LIST == 0 && BUS_NATS == 3 && BUS_FAMILY_MAX == 4, "family_names follows enum bus_family");

const char *bus_family_name(unsigned int family)
{
	return family_names[family % BUS_FAMILY_MAX];
}

void bus_queue_label(char *out, const char *name, unsigned int len)
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

static int cmp_queue(const void *a, const void *b)
{
	uint32_t x = ((const struct bus_queue_info *)a)->id, y = ((const struct bus_queue_info *)b)->id;

	return x < y ? -1 : x > y;
}

void bus_model_queues_read(struct bus_model *m)
{
	qsort(m->qinfo, m->nqinfo, sizeof(*m->qinfo), cmp_queue);
}

struct bus_queue_info *bus_model_queue(struct bus_model *m, uint32_t id)
{
	struct bus_queue_info key = { .id = id };

	return m->nqinfo ? bsearch(&key, m->qinfo, m->nqinfo, sizeof(key), cmp_queue) : NULL;
}

static uint64_t flow_total(const struct bus_flows *f, uint32_t i)
{
	uint64_t sum = 0;
	int c;

	for (c = 0; c < f->ncpu; c++)
		sum += f->vals[(size_t)i * f->ncpu + c];
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
static int seen_grow(struct bus_model *m)
{
	uint32_t cap = m->seen_cap ? m->seen_cap * 2 : 64, i, j;
	struct bus_seen *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (i = 0; i < m->seen_cap; i++) {
		if (!m->seen[i].used)
			continue;
		for (j = flow_hash(&m->seen[i].key) & (cap - 1); tab[j].used; j = (j + 1) & (cap - 1))
			;
		tab[j] = m->seen[i];
	}
	free(m->seen);
	m->seen = tab;
	m->seen_cap = cap;
	return 0;
}

static struct bus_seen *seen_of(struct bus_model *m, const struct bus_flow_key *k)
{
	uint32_t i;

	if (2 * (m->nseen + 1) > m->seen_cap && seen_grow(m))
		return NULL;
	for (i = flow_hash(k) & (m->seen_cap - 1); m->seen[i].used; i = (i + 1) & (m->seen_cap - 1)) {
		if (!memcmp(&m->seen[i].key, k, sizeof(*k)))
			return &m->seen[i];
	}
	m->seen[i] = (struct bus_seen){ .key = *k, .used = 1 };
	m->nseen++;
	return &m->seen[i];
}

static void series_add(struct bus_model *m, int from, int to, const char *type, uint64_t n)
{
	struct bus_series *grown;
	uint32_t i;

	for (i = 0; i < m->nseries; i++) {
		struct bus_series *s = &m->series[i];

		if (s->from == from && s->to == to && !strcmp(s->type, type)) {
			s->count += n;
			return;
		}
	}
	grown = grow_array(m->series, &m->series_cap, m->nseries, sizeof(*grown), 16);
	if (!grown)
		return;
	m->series = grown;
	m->series[m->nseries++] = (struct bus_series){ from, to, type, n };
}

void bus_model_learn(struct bus_model *m, const struct bus_flows *f)
{
	uint64_t *best = calloc(m->nqinfo ? m->nqinfo * 2 : 1, sizeof(*best));
	uint32_t i;

	if (!best)
		return;
	for (i = 0; i < f->n; i++) {
		const struct bus_flow_key *k = &f->keys[i];
		struct bus_queue_info *q = bus_model_queue(m, k->queue);
		uint64_t n = flow_total(f, i);
		size_t slot;

		if (!q || (k->flow != BUS_PRODUCED && k->flow != BUS_CONSUMED))
			continue;
		slot = (size_t)(q - m->qinfo) * 2 + (k->flow == BUS_CONSUMED);
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

void bus_model_consumed(struct bus_model *m, const struct bus_flows *f)
{
	uint32_t i;

	for (i = 0; i < f->n; i++) {
		const struct bus_flow_key *k = &f->keys[i];
		struct bus_queue_info *q;
		struct bus_seen *seen;
		uint64_t n;
		int from;

		if (k->flow != BUS_CONSUMED || k->agent >= (uint32_t)m->cfg->nagents)
			continue;
		n = flow_total(f, i);
		seen = seen_of(m, k);
		if (!seen || n <= seen->consumed)
			continue;
		q = bus_model_queue(m, k->queue);
		from = q && q->conf && q->conf->from >= 0 ? q->conf->from : q ? q->producer : -1;
		series_add(m, from, k->agent,
			   q && q->conf && q->conf->type ? q->conf->type : bus_family_name(k->family),
			   n - seen->consumed);
		seen->consumed = n;
	}
}

int bus_model_owner(struct bus_model *m, const struct bus_queue_info *q)
{
	struct bus_owner *grown;
	uint32_t lo = 0, hi = m->nowners, mid;
	int owner;

	if (q->conf && q->conf->to >= 0)
		return q->conf->to;
	/* Kept in queue order: every queue is looked up at every scrape. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m->owners[mid].queue == q->id)
			return m->owners[mid].agent;
		if (m->owners[mid].queue < q->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (q->consumer < 0)
		return q->producer >= 0 ? q->producer : q->observer;
	owner = q->consumer;
	grown = grow_array(m->owners, &m->owners_cap, m->nowners, sizeof(*grown), 16);
	if (!grown)
		return owner;
	m->owners = grown;
	memmove(&m->owners[lo + 1], &m->owners[lo], (m->nowners - lo) * sizeof(*grown));
	m->owners[lo] = (struct bus_owner){ q->id, owner };
	m->nowners++;
	return owner;
}

void bus_model_free(struct bus_model *m)
{
	free(m->qinfo);
	free(m->seen);
	free(m->series);
	free(m->owners);
	*m = (struct bus_model){ .cfg = m->cfg };
}
