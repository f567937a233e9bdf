/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the message-bus parsers (resp.h, nats.h) share: a connection's
 * commands awaiting replies and the parse state of its two directions, the
 * window of bytes a step reads, payload bytes skipped or captured, and the
 * accounting the parsers report to. The accounting (queues, flows, depths,
 * cache, processing times, drops) is defined by whoever includes them:
 * bpf/bus.bpf.c with its maps, tests/unit/busdriver.h with counters that
 * test_l7_resp.c, test_l7_nats.c and bench/fuzz/fuzz_bus.c check.
 */
#ifndef AGENTBPF_L7_BUS_CONN_H
#define AGENTBPF_L7_BUS_CONN_H

#include "bytes.h"
#include "bus.h"
#ifndef __VMLINUX_H__
#include <sys/uio.h>
#endif

#define BUS_DEPTH	8	/* nesting of RESP aggregates followed */
#define BUS_PIPELINE	32	/* runs of commands awaiting replies */
#define BUS_WINDOW	512	/* bytes of a call parsed at a time */

enum bus_proto { PROTO_UNKNOWN, PROTO_REDIS, PROTO_NATS, PROTO_LOST };
enum bus_dir_id { DIR_OUT, DIR_IN };	/* agent -> broker, broker -> agent */

enum bus_rstate {
	R_TYPE,		/* expecting a RESP type byte (or a NATS line) */
	R_LINE,		/* inside a header/simple line, up to '\n' */
	R_BULK,		/* `remaining` payload bytes, CRLF included */
	R_INLINE,	/* an inline command or a line that is skipped */
};

/* What the bytes of the current bulk string are to us. */
enum bus_capture { CAP_NONE, CAP_WORD, CAP_KEY };
#define WORD_CAP	16	/* bytes of a CAP_WORD kept (the longest name told apart has 12) */


/* A command sent inside MULTI: its reply is +QUEUED, its result comes in EXEC's. */
#define OP_QUEUED	0x80
#define BUS_EXEC_RUNS	8	/* runs of commands a transaction's EXEC answers */

/* A run of identical commands awaiting their replies. */
struct bus_cmd {
	__u32 queue;
	__u16 count;	/* replies still expected */
	__u8 op;
	__u8 all;	/* UNSUBSCRIBE of everything: confirmations until a count of 0 */
	__u16 arg;	/* values pushed, or keys asked (EXISTS) */
	__u16 pad;
};

struct bus_dir {
	__u64 remaining;
	__s64 num;		/* number of the current line */
	__u32 left[BUS_DEPTH];	/* elements to come per open aggregate */
	__u32 index;		/* elements of the top-level aggregate done */
	__u32 nargs;		/* elements of the top-level aggregate */
	__u32 cap_len;
	__u8 depth;
	__u8 state;
	__u8 type;		/* type byte of the current line */
	__u8 neg;
	__u8 capture;		/* enum capture of the current bulk */
	__u8 map_top;		/* top-level value is a RESP3 map */
	__u8 tok;		/* NATS: token of the line being read */
	__u8 base;		/* depth of a reply: 1 inside EXEC's array of replies */
	/* Captured bytes, written a word at a time: room for a word past the end. */
	char cap[BUS_QUEUE_LEN + 8];
	__u64 word;		/* NATS: the line's operation, lower case */
};

struct bus_conn {
	__u32 agent;
	__u32 pid;
	__u8 proto;
	__u8 subscribed;	/* a SUBSCRIBE was confirmed: deliveries come unasked */
	__u8 in_multi;
	__u8 qhead;
	__u8 qlen;
	__u8 xhead;		/* commands queued by MULTI, answered by EXEC */
	__u8 xlen;
	__u8 op;		/* command being sent */
	__u8 xfull;		/* the transaction's commands after BUS_EXEC_RUNS runs: not followed */
	__u8 last_family;	/* of the last queue name looked up */
	__u8 held_work;		/* NATS: the held delivery starts a processing time */
	__u8 pad;
	__u64 msg_ns;		/* a message was delivered; processing runs */
	__u32 last_hash;	/* the last queue name looked up, and its id */
	__u32 last_queue;
	__u32 last_len;
	__u32 pad3;
	/* The command being sent. */
	__u32 key;		/* queue id of its key, BUS_QUEUE_NONE if none yet */
	__u32 key_len;
	char key_name[BUS_QUEUE_LEN];
	/* The reply being read. */
	__s64 r_int;		/* integer reply, or the first integer element */
	__u32 r_hits;		/* non-nil elements at depth 1 */
	__u32 r_misses;		/* nil elements at depth 1 */
	__u32 r_entries;	/* stream entries delivered (XREAD*) */
	__u32 r_chan;		/* pub/sub channel of a pushed message */
	__u64 r_word;		/* first element's first bytes, lower case */
	__u8 r_type;		/* type byte of the top-level value */
	__u8 r_nil;
	__u8 r_chan_at;		/* element index of the channel */
	__u8 r_chan_len;
	__u8 r_word_len;
	__u8 resp3;		/* the server sent RESP3 pushes: arrays are never pushes */
	__u8 pad2[2];
	__s64 r_last_int;	/* the last integer element (a confirmation's count) */
	__u32 held_queue;	/* NATS: queue of an HMSG held until its header's start */
	__u32 pad4;
	char r_chan_name[BUS_QUEUE_LEN];
	struct bus_dir dirs[2];
	struct bus_cmd q[BUS_PIPELINE];
	struct bus_cmd xq[BUS_EXEC_RUNS];
};

/*
 * The walker's position. It lives in the per-CPU window map, not on the
 * stack, so the verifier does not follow every value through the loops.
 */
struct walk_state {
	__u64 now;
	const char *ubuf;	/* the buffer's bytes in user memory */
	const struct iovec *iov;	/* the call's buffers, for vectored calls */
	const char *buf0;	/* the only buffer of other calls */
	__u32 iovcnt;
	__u32 k;		/* buffers taken */
	__u32 left;		/* bytes of the call in buffers not taken yet */
	__u32 dir;
	__u32 pos;		/* next byte of the window */
	__u32 len;		/* bytes in the window */
	__u32 done;		/* bytes of the buffer walked */
	__u32 total;		/* bytes of the buffer readable at ubuf */
};

struct window {
	char buf[BUS_WINDOW + 64];
	struct walk_state st;
};

struct walk {
	struct bus_conn *c;
	struct bus_dir *d;
	struct window *w;
};

/*
 * The walker's pointers, for a global function given only the connection
 * and the window (see bus_window_step()).
 */
static __always_inline struct walk walk_of(struct bus_conn *c, struct window *w)
{
	return (struct walk){ .c = c, .d = &c->dirs[w->st.dir & 1], .w = w };
}

/* What a step of the walker completed, for resp_step()'s call of bus_value_done(). */
#define STEP_LINE	1	/* a header line ended */
#define STEP_VALUE	2	/* a value ended */
#define STEP_NIL	4	/* ... a nil one */
#define STEP_SCALAR	8	/* ... a scalar */
#define STEP_LOST	16	/* the stream is not RESP, or nests deeper than followed */
#define STEP_STOP	32	/* the window is used up, or the stream was lost before */

#define VALUE_SCALAR	(STEP_VALUE | STEP_SCALAR)
#define VALUE_NIL	(STEP_VALUE | STEP_NIL | STEP_SCALAR)

/* ---- the accounting, defined by the includer ---- */

static __always_inline void count_drop(u32 reason);
/*
 * The registered id of a queue name (len at most BUS_QUEUE_LEN, the array
 * BUS_QUEUE_LEN bytes), BUS_QUEUE_OTHER past the cap.
 */
__noinline u32 bus_queue_of(struct bus_conn *c, u32 hash, const char (*name_buf)[BUS_QUEUE_LEN],
			    u32 len, u32 family);
static __always_inline void flow_add(struct bus_conn *c, u32 queue, u8 family, u8 flow, u64 n,
				     u64 *now);
/* delta != 0: move the depth; else set it to value (an exact reading). */
static __always_inline void depth_update(struct bus_conn *c, u32 queue, s64 delta, s64 value,
					 u64 *now);
static __always_inline void cache_add(struct bus_conn *c, u64 hits, u64 misses, u64 *now);
/* A worker took a message: its processing runs until its next command. */
static __always_inline void processing_starts(struct bus_conn *c, u64 *now);
/* ... and it is done with it. */
__noinline int bus_processing_done(struct bus_conn *c, u64 *now);

static __always_inline void lose(struct bus_conn *c)
{
	c->proto = PROTO_LOST;
	count_drop(BUS_DROP_DESYNC);
}

/* The first len bytes of the word at p. */
static __always_inline u64 word_part(const char *p, u32 len)
{
	return word_cut(load8(p), len);
}

/*
 * A captured name's hash, once the name is complete: a word at a time, and
 * the same wherever the windows of a call cut the name.
 */
static __always_inline u32 name_hash(const char *name, u32 len)
{
	u64 h = len;
	u32 k;

	for (k = 0; k < BUS_QUEUE_LEN; k += 8) {
		if (k >= len)
			break;
		h = (h ^ word_part(name + k, len - k)) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return h ^ (h >> 32);
}

/* A name into a BUS_QUEUE_LEN-byte field, zero past its length: eight word moves. */
static __always_inline void copy_name(char *dst, const char *src, u32 len)
{
	u32 k;

	for (k = 0; k < BUS_QUEUE_LEN; k += 8)
		store8(dst + k, k < len ? word_part(src + k, len - k) : 0);
}

/*
 * name: at least BUS_QUEUE_LEN bytes. A connection mostly talks about one
 * queue: bus_queue_of()'s last answer is taken here, without the call
 * (each costs a return thunk on some CPUs).
 */
static __always_inline u32 queue_of(struct bus_conn *c, u32 hash, const char *name, u32 len,
				    u8 family)
{
	if (len && len <= BUS_QUEUE_LEN && c->last_queue && c->last_hash == hash &&
	    c->last_len == len && c->last_family == family)
		return c->last_queue;
	return bus_queue_of(c, hash, (const char (*)[BUS_QUEUE_LEN])name, len, family);
}

static __always_inline void processing_done(struct bus_conn *c, u64 *now)
{
	if (c->msg_ns)
		bus_processing_done(c, now);
}

/* Command names and reply kinds need WORD_CAP bytes; keys and channels their name. */
static __always_inline u32 cap_limit(struct bus_dir *d)
{
	return d->capture == CAP_WORD ? WORD_CAP : BUS_QUEUE_LEN;
}

/*
 * Bulk payload bytes in the window: captured if wanted, else just counted.
 * Returns VALUE_SCALAR when the string ended, else 0.
 */
static __always_inline int bulk_part(struct walk *x)
{
	struct bus_dir *d = x->d;
	const char *buf = x->w->buf;
	u32 pos = x->w->st.pos, n = x->w->st.len - pos, k;

	if (d->remaining < n)
		n = d->remaining;
	if (d->capture && d->cap_len < cap_limit(d) && d->remaining > 2) {
		u32 want = d->remaining - 2 < n ? d->remaining - 2 : n;
		u32 at = d->cap_len;

		if (want > cap_limit(d) - at)
			want = cap_limit(d) - at;
		/* A word at a time; what a last word brings past the name, its length cuts off. */
		for (k = 0; k < BUS_QUEUE_LEN; k += 8) {
			if (k >= want)
				break;
			store8(d->cap + ((at + k) & (BUS_QUEUE_LEN - 1)),
			       load8(buf + ((pos + k) & (BUS_WINDOW - 1))));
		}
		d->cap_len = at + want;
	}
	x->w->st.pos = pos + n;
	d->remaining -= n;
	return d->remaining ? 0 : VALUE_SCALAR;
}

/*
 * Payload that nothing captures, skipped by length without reading it: of
 * the left bytes of a call, how many to pass over before the next window.
 * Its CRLF (RESP's, NATS's) is left for the walk, which checks it.
 */
static __always_inline u32 payload_skip(struct bus_dir *d, u32 left)
{
	u64 skip;

	if (d->state != R_BULK || d->remaining <= 2 ||
	    (d->capture != CAP_NONE && d->cap_len < cap_limit(d)))
		return 0;
	skip = d->remaining - 2 < left ? d->remaining - 2 : left;
	d->remaining -= skip;
	return skip;
}

#endif /* AGENTBPF_L7_BUS_CONN_H */
