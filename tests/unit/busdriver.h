/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The message-bus parsers of bpf/l7/ on the host: the accounting hooks
 * bus.bpf.c gives them on its maps, here on counters a test checks, and a
 * call's bytes fed window by window as bus_window_step() feeds them.
 */
#ifndef AGENTBPF_TEST_BUSDRIVER_H
#define AGENTBPF_TEST_BUSDRIVER_H

#include "l7/resp.h"
#include "l7/nats.h"

#define TEST_QUEUES	16

/* What the parsers reported, by queue name. */
struct acct {
	struct {
		char name[BUS_QUEUE_LEN + 1];
		u8 families;
		u64 flows[BUS_FLOW_MAX];
		s64 depth;
		bool depth_set;
	} q[TEST_QUEUES];
	u32 nq;
	u64 hits, misses;
	u32 starts, dones;	/* processing */
	u64 drops[BUS_DROP_MAX];
};

static struct acct acct;

static __always_inline void count_drop(u32 reason)
{
	if (reason < BUS_DROP_MAX)
		acct.drops[reason]++;
}

/* Ids as the kernel's: not BUS_QUEUE_NONE or BUS_QUEUE_OTHER ("other" is slot 1). */
__noinline u32 bus_queue_of(struct bus_conn *c, u32 hash, const char (*name_buf)[BUS_QUEUE_LEN],
			    u32 len, u32 family)
{
	const char *name = *name_buf;
	u32 i;

	/* As bus.bpf.c's: no name, no queue (its flows land under BUS_QUEUE_NONE). */
	if (!len)
		return BUS_QUEUE_NONE;
	assert_true(len <= BUS_QUEUE_LEN);
	assert_int_equal(hash, name_hash(name, len));
	if (family == BUS_NATS && ((len > 7 && !strncasecmp(name, "_inbox.", 7)) || name[0] == '$'))
		return BUS_QUEUE_OTHER;
	for (i = 2; i < acct.nq; i++) {
		if (strlen(acct.q[i].name) == len && !memcmp(acct.q[i].name, name, len))
			break;
	}
	if (i == acct.nq) {
		assert_true(acct.nq < TEST_QUEUES);
		memcpy(acct.q[i].name, name, len);
		acct.nq++;
	}
	acct.q[i].families |= 1 << family;
	return i;
}

static __always_inline void flow_add(struct bus_conn *c, u32 queue, u8 family, u8 flow, u64 n,
				     u64 *now)
{
	assert_true(queue < acct.nq);
	assert_true(acct.q[queue].families & (1 << family) || queue < 2);
	acct.q[queue].flows[flow] += n;
}

static __always_inline void depth_update(struct bus_conn *c, u32 queue, s64 delta, s64 value,
					 u64 *now)
{
	if (queue == BUS_QUEUE_OTHER || queue == BUS_QUEUE_NONE)
		return;
	if (delta) {
		acct.q[queue].depth += delta;
		if (acct.q[queue].depth < 0)
			acct.q[queue].depth = 0;
		return;
	}
	acct.q[queue].depth = value < 0 ? 0 : value;
	acct.q[queue].depth_set = true;
}

static __always_inline void cache_add(struct bus_conn *c, u64 hits, u64 misses, u64 *now)
{
	acct.hits += hits;
	acct.misses += misses;
}

static __always_inline void processing_starts(struct bus_conn *c, u64 *now)
{
	c->msg_ns = 1;
	acct.starts++;
}

__noinline int bus_processing_done(struct bus_conn *c, u64 *now)
{
	c->msg_ns = 0;
	acct.dones++;
	return 0;
}

/* A connection of the given protocol, and the counters all fresh. */
static struct bus_conn *bus_conn_new(u8 proto)
{
	struct bus_conn *c = calloc(1, sizeof(*c));

	memset(&acct, 0, sizeof(acct));
	strcpy(acct.q[BUS_QUEUE_OTHER].name, "other");
	acct.nq = 2;
	c->proto = proto;
	return c;
}

/* The queue named name's counters; fails when it was never looked up. */
static u32 queue_named(const char *name)
{
	u32 i;

	for (i = 1; i < acct.nq; i++) {
		if (!strcmp(acct.q[i].name, name))
			return i;
	}
	fail_msg("no queue \"%s\"", name);
	return 0;
}

static u64 flow_of(const char *name, u8 flow)
{
	return acct.q[queue_named(name)].flows[flow];
}

/*
 * One socket call of len bytes in direction dir (DIR_OUT: agent to broker),
 * as bus_window_step() walks it: payload skipped by length, then windows of
 * BUS_WINDOW bytes whose steps run until the window is used up. The
 * window's bytes past the call's are not zero, as in the kernel's per-CPU
 * window; the buffer is only as long as the kernel's, so ASan sees more.
 */
static void bus_feed(struct bus_conn *c, int dir, const char *bytes, size_t len)
{
	struct window *w = malloc(sizeof(*w));
	struct walk x = { .c = c };
	size_t done = 0;
	u32 steps;

	memset(w, 0xa5, sizeof(*w));
	memset(&w->st, 0, sizeof(w->st));
	w->st.dir = dir;
	x.w = w;
	x.d = &c->dirs[dir & 1];
	while (done < len && c->proto != PROTO_LOST) {
		u32 left = len - done, avail;

		done += payload_skip(x.d, left);
		if (done == len)
			break;
		left = len - done;
		avail = left > BUS_WINDOW ? BUS_WINDOW : left;
		memcpy(w->buf, bytes + done, avail);
		w->st.pos = 0;
		w->st.len = avail;
		for (steps = 0; steps < 1024; steps++) {
			if (c->proto == PROTO_NATS ? bus_nats_step(c, w) : resp_walk(&x))
				break;
		}
		assert_true(steps < 1024);
		assert_true(w->st.pos <= avail);
		done += w->st.pos;
		if (!w->st.pos && c->proto != PROTO_LOST)
			fail_msg("a window of %u bytes was not walked", avail);
	}
	free(w);
}

static void bus_feed_str(struct bus_conn *c, int dir, const char *text)
{
	bus_feed(c, dir, text, strlen(text));
}

/*
 * The exchange sent and received whole, then again cut in two calls at
 * every byte of each side: check() is handed the connection each time
 * and must find the same. Returns the number of runs.
 */
static unsigned bus_every_cut(u8 proto, const char *out, const char *in,
			      void (*check)(struct bus_conn *c))
{
	size_t lo = strlen(out), li = strlen(in), cut;
	unsigned runs = 0;
	struct bus_conn *c;

	for (cut = 0; cut <= lo + li; cut++) {
		c = bus_conn_new(proto);
		if (cut <= lo) {
			bus_feed(c, DIR_OUT, out, cut);
			bus_feed(c, DIR_OUT, out + cut, lo - cut);
			bus_feed(c, DIR_IN, in, li);
		} else {
			bus_feed(c, DIR_OUT, out, lo);
			bus_feed(c, DIR_IN, in, cut - lo);
			bus_feed(c, DIR_IN, in + cut - lo, li - (cut - lo));
		}
		check(c);
		free(c);
		runs++;
	}
	return runs;
}

#endif /* AGENTBPF_TEST_BUSDRIVER_H */
