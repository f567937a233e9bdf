// SPDX-License-Identifier: GPL-2.0
/*
 * Message-bus client side: what matched agents put on and take off Redis
 * lists, streams and pub/sub channels and NATS subjects, read from their own
 * connections to the broker (which may run anywhere and needs no change).
 *
 * Same hooks as the HTTP family (sock_recv_length / sock_send_length, the
 * buffer from the task's saved registers); when the HTTP programs are loaded
 * these programs run from them by a tail call, so each socket call on the
 * host pays one tracepoint dispatch, and the bus's run time is counted in
 * theirs. A connection is a bus connection
 * when its remote port is one of the configured bus ports; its first bytes
 * tell Redis from NATS. Each direction has a small protocol parser whose
 * state survives any read boundary: RESP values are walked with a stack of
 * open aggregates (bulk payloads skipped by length), NATS lines are split
 * into tokens (payloads skipped by length). Commands wait in a queue of
 * runs of identical commands until their replies come, so a pipeline of a
 * hundred pushes costs one entry.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "proc.h"
#include "bus.h"
#include "sockio.bpf.h"
#include "l7/resp.h"


char LICENSE[] SEC("license") = "GPL";

/* Remote ports (host order) of bus connections; set by the loader. */
const volatile __u16 bus_ports[BUS_MAX_PORTS] = {};
_Static_assert(BUS_MAX_PORTS == SOCKIO_MAX_PORTS, "remote_port_in() reads SOCKIO_MAX_PORTS ports");
const volatile __u32 nports = 0;
const volatile __u32 max_queues = 200;
/* Processing-time bounds in ns, ascending. */
const volatile __u64 bounds_ns[BUS_MAX_BUCKETS] = {};
const volatile __u32 nbounds = 0;
const volatile bool trace_bus = false;


#define BUS_DEPTH	8	/* nesting of RESP aggregates followed */
#define BUS_PIPELINE	32	/* runs of commands awaiting replies */
#define BUS_WINDOW	512	/* bytes of a call parsed at a time */
#define BUS_WINDOWS	1024	/* windows per call: 512 KiB of non-payload bytes */
#define BUS_IOVECS	64	/* steps more for the buffers of a vectored call */
#define BUS_STEPS	1024	/* parser steps per window */

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

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct bus_conn);
} bus_conns SEC(".maps");

/* Sized by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, u32);
	__type(value, struct bus_queue);
} bus_queues SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} bus_queue_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct bus_flow_key);
	__type(value, u64);
} bus_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AGENTBPF_MAX_AGENTS);
	__type(key, u32);
	__type(value, struct bus_agent_stats);
} bus_agents SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BUS_DROP_MAX);
	__type(key, u32);
	__type(value, u64);
} bus_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct window);
} bus_window SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} bus_events SEC(".maps");

static struct bus_queue zero_queue;

static __always_inline void count_drop(u32 reason)
{
	count_in(&bus_drops, reason);
}

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

static __always_inline void store8(char *p, u64 w)
{
	*(u64 *)p = w;	/* unaligned is fine in a map value, as for load8() */
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

/* The "other" queue: names past max_queues, and NATS reply inboxes. */
static __always_inline u32 other_queue(void)
{
	u32 id = BUS_QUEUE_OTHER;
	struct bus_queue *q;

	if (bpf_map_lookup_elem(&bus_queues, &id))
		return id;
	/* Its slot is kept beyond max_queues (the map holds max_queues + 1). */
	bpf_map_update_elem(&bus_queues, &id, &zero_queue, BPF_NOEXIST);
	q = bpf_map_lookup_elem(&bus_queues, &id);
	if (q) {
		__builtin_memcpy(q->name, "other", 5);
		q->name_len = 5;
	}
	return id;
}

static __always_inline bool same_name(const struct bus_queue *q, const char *name, u32 len)
{
	u32 k;

	if (q->name_len != len)
		return false;
	for (k = 0; k < BUS_QUEUE_LEN; k++) {
		if (k >= len)
			break;
		if (q->name[k] != name[k])
			return false;
	}
	return true;
}

/*
 * The registered id of a queue name, or "other" once max_queues are taken.
 * Ids are hashes: a name is checked against the one stored, and a
 * colliding name (chance or malice) probes a few other ids, so no agent can
 * write into another's queue.
 */
static __always_inline u32 queue_id(u32 hash, const char *name, u32 len, u8 family)
{
	u32 zero = 0, *count, id = hash, i;
	struct bus_queue *q;

	count = bpf_map_lookup_elem(&bus_queue_count, &zero);
	if (!count)
		return BUS_QUEUE_OTHER;
	/*
	 * Unrolled: as a loop, clang ends it with a fall-through into its
	 * head, which Linux 6.1's verifier refuses as a back-edge.
	 */
#pragma unroll
	for (i = 0; i < 4; i++) {
		if (id < 2)
			id += 2;
		q = bpf_map_lookup_elem(&bus_queues, &id);
		if (q) {
			if (same_name(q, name, len)) {
				q->families |= 1 << family;
				return id;
			}
			id = id * 2654435761u + 1;
			continue;
		}
		if (*count >= max_queues)
			break;
		if (bpf_map_update_elem(&bus_queues, &id, &zero_queue, BPF_NOEXIST))
			continue;	/* taken meanwhile: look again */
		q = bpf_map_lookup_elem(&bus_queues, &id);
		if (!q)
			break;
		copy_name(q->name, name, len);
		q->name_len = len;
		q->families = 1 << family;
		__sync_fetch_and_add(count, 1);
		return id;
	}
	return other_queue();
}

/*
 * The queue id of a captured name, registered on first sight. A connection
 * mostly talks about one queue: its last answer is kept. Global, so that
 * the verifier checks the probing and the name comparisons once, not at
 * each of the five places a name is looked up and for each way there.
 * name_buf: a pointer to an array, as a global function's pointer argument
 * stands for memory of the size of what it points to.
 */
__noinline u32 bus_queue_of(struct bus_conn *c, u32 hash, const char (*name_buf)[BUS_QUEUE_LEN],
			    u32 len, u32 family)
{
	const char *name = *name_buf;

	if (!c || !name_buf || !len)
		return BUS_QUEUE_NONE;
	if (len > BUS_QUEUE_LEN)
		len = BUS_QUEUE_LEN;
	if (c->last_hash == hash && c->last_len == len && c->last_family == family &&
	    c->last_queue)
		return c->last_queue;
	/*
	 * NATS request/reply inboxes are one subject per request, and the
	 * system's "$" subjects (JetStream's API and acks, $SYS) one per call
	 * or message: not queues.
	 */
	if (family == BUS_NATS &&
	    ((len > 7 && (lower8(name) & 0x00ffffffffffffffull) ==
	      (W('_', 'i', 'n', 'b', 'o', 'x', '.', 0) | 0x20)) || name[0] == '$'))
		return other_queue();
	c->last_hash = hash;
	c->last_len = len;
	c->last_family = family;
	c->last_queue = queue_id(hash, name, len, family);
	return c->last_queue;
}

/* name: at least BUS_QUEUE_LEN bytes. */
static __always_inline u32 queue_of(struct bus_conn *c, u32 hash, const char *name, u32 len,
				    u8 family)
{
	return bus_queue_of(c, hash, (const char (*)[BUS_QUEUE_LEN])name, len, family);
}

static __always_inline void trace_event(struct bus_conn *c, u8 kind, u8 family, u32 queue,
					s64 value, s64 value2, u64 *now)
{
	struct bus_queue *q;
	struct bus_event *e;

	if (!trace_bus)
		return;
	e = bpf_ringbuf_reserve(&bus_events, sizeof(*e), 0);
	if (!e) {
		count_drop(BUS_DROP_RINGBUF_FULL);
		return;
	}
	e->ts_ns = clock_of(now);
	e->value = value;
	e->value2 = value2;
	e->pid = c->pid;
	e->agent = c->agent;
	e->kind = kind;
	e->family = family;
	e->queue[0] = '\0';
	q = bpf_map_lookup_elem(&bus_queues, &queue);
	if (q)
		bpf_probe_read_kernel(e->queue, sizeof(e->queue), q->name);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void flow_add(struct bus_conn *c, u32 queue, u8 family, u8 flow, u64 n,
				     u64 *now)
{
	struct bus_flow_key k = { .agent = c->agent, .queue = queue, .family = family, .flow = flow };
	u64 *v, zero = 0;

	if (!n)
		return;
	v = bpf_map_lookup_elem(&bus_flows, &k);
	if (!v) {
		bpf_map_update_elem(&bus_flows, &k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&bus_flows, &k);
		if (!v) {
			count_drop(BUS_DROP_QUEUES_FULL);
			return;
		}
	}
	*v += n;
	trace_event(c, flow == BUS_PRODUCED ? BUS_EV_PRODUCE :
		    flow == BUS_CONSUMED ? BUS_EV_CONSUME : BUS_EV_ACK, family, queue, n, 0, now);
}

/* delta != 0: move the depth; else set it to value (an exact reading). */
static __always_inline void depth_update(struct bus_conn *c, u32 queue, s64 delta, s64 value,
					 u64 *now)
{
	struct bus_queue *q = bpf_map_lookup_elem(&bus_queues, &queue);

	if (!q || queue == BUS_QUEUE_OTHER)
		return;
	if (delta) {
		__sync_fetch_and_add(&q->depth, delta);
		if (q->depth < 0)
			q->depth = 0;
		return;
	}
	q->depth = value < 0 ? 0 : value;
	q->depth_set = 1;
	q->observer = c->agent;
	trace_event(c, BUS_EV_DEPTH, q->families & (1 << BUS_STREAM) ? BUS_STREAM : BUS_LIST, queue,
		    q->depth, 0, now);
}

/*
 * The agent's stats. The key is copied to the stack: Linux 6.1 takes a map
 * key from the stack or a map value, not from a global function's argument.
 */
static __always_inline struct bus_agent_stats *agent_stats(struct bus_conn *c)
{
	u32 agent = c->agent;

	return bpf_map_lookup_elem(&bus_agents, &agent);
}

static __always_inline void cache_add(struct bus_conn *c, u64 hits, u64 misses, u64 *now)
{
	struct bus_agent_stats *st = agent_stats(c);

	if (!st)
		return;
	st->cache_hits += hits;
	st->cache_misses += misses;
	trace_event(c, BUS_EV_CACHE, 0, BUS_QUEUE_NONE, hits, misses, now);
}

/*
 * A worker took a message (a pop, stream entries, a NATS delivery that is
 * not a reply): its processing runs until its next command. Not a message
 * pushed to a subscriber, which sends nothing after it (README).
 */
static __always_inline void processing_starts(struct bus_conn *c, u64 *now)
{
	c->msg_ns = clock_of(now);
}

/*
 * A consumer that got a message talks to the bus again: it is done with it.
 * Global: the search of the bounds is checked once, not in every step that
 * can begin a command.
 */
__noinline int bus_processing_done(struct bus_conn *c, u64 *now)
{
	struct bus_agent_stats *st;
	u64 dur;
	u32 i, b = nbounds;

	if (!c || !now || !c->msg_ns)
		return 0;
	dur = clock_of(now) > c->msg_ns ? *now - c->msg_ns : 0;
	c->msg_ns = 0;
	st = agent_stats(c);
	if (!st)
		return 0;
	for (i = 0; i < BUS_MAX_BUCKETS && i < nbounds; i++) {
		if (dur <= bounds_ns[i]) {
			b = i;
			break;
		}
	}
	st->proc_count++;
	st->proc_ns += dur;
	if (b <= BUS_MAX_BUCKETS)
		st->proc_buckets[b]++;
	return 0;
}

static __always_inline void processing_done(struct bus_conn *c, u64 *now)
{
	if (c->msg_ns)
		bus_processing_done(c, now);
}

/* ---- commands and replies ---- */


/* The first 8 bytes of a captured word in lower case, cut to its length. */
static __always_inline u64 word_of(struct bus_dir *d)
{
	return word_cut(lower8(d->cap), d->cap_len);
}


/*
 * resp_command_op() as a global function: where it is inlined, the verifier follows
 * each op it can return through the rest of the command's handling.
 */
__noinline int bus_op_of(u64 w, int ninth, u32 len)
{
	return resp_command_op(w, ninth, len);
}


/* Does the command's first key name its queue? XREAD's reply names each stream. */
static __always_inline bool has_queue(u8 op)
{
	return op != OP_OTHER && op != OP_XREAD && op < OP_SUBSCRIBE;
}

/* A command was sent in full: it waits for its reply behind the others. */
static __always_inline void command_done(struct bus_conn *c, struct bus_dir *d, u64 *now)
{
	struct bus_cmd *last;
	u8 op = c->op, all = 0;
	u32 queue = BUS_QUEUE_NONE, i;
	u16 replies = 1, arg = 0;

	switch (op) {
	case OP_PUSH:
		arg = d->nargs > 2 ? (d->nargs - 2 > 65535 ? 65535 : d->nargs - 2) : 0;
		break;
	case OP_EXISTS:
		arg = d->nargs > 1 ? (d->nargs - 1 > 65535 ? 65535 : d->nargs - 1) : 0;
		break;
	case OP_HEXISTS:
		arg = 1;
		break;
	case OP_SUBSCRIBE:
	case OP_UNSUBSCRIBE:
		/* One confirmation per channel; without channels, one per subscription. */
		replies = d->nargs > 2 ? d->nargs - 1 : 1;
		all = op == OP_UNSUBSCRIBE && d->nargs <= 1;
		arg = replies;	/* an error answers the whole command at once */
		break;
	case OP_RESET:
		/*
		 * What follows is not queued. The commands queued so far are
		 * dropped at RESET's reply: their +QUEUED, or EXEC's results,
		 * may still come before it.
		 */
		c->in_multi = 0;
		break;
	}
	if (has_queue(op))
		queue = queue_of(c, c->key, c->key_name, c->key_len, resp_op_family(op));
	if (c->in_multi && op != OP_EXEC && op != OP_MULTI)
		op |= OP_QUEUED;
	if (op == OP_MULTI)
		c->in_multi = 1;
	if (op == OP_EXEC)
		c->in_multi = 0;

	last = c->qlen ? &c->q[(c->qhead + c->qlen - 1) & (BUS_PIPELINE - 1)] : NULL;
	if (last && last->op == op && last->queue == queue && last->arg == arg &&
	    last->all == all && last->count < 60000) {
		last->count += replies;
		return;
	}
	if (c->qlen >= BUS_PIPELINE - 1) {
		/*
		 * More kinds of commands in flight than followed: the last slot
		 * is a run of them whose replies are counted off unread, and
		 * commands sent once the queue has room again go behind it.
		 */
		count_drop(BUS_DROP_PIPELINE_FULL);
		if (last && last->op == OP_SKIP && last->count + replies <= 60000) {
			last->count += replies;
			return;
		}
		if (c->qlen >= BUS_PIPELINE) {
			lose(c);	/* 60,000 replies in flight past the queue */
			return;
		}
		op = OP_SKIP;
		queue = BUS_QUEUE_NONE;
		arg = all = 0;
	}
	i = (c->qhead + c->qlen) & (BUS_PIPELINE - 1);
	c->q[i] = (struct bus_cmd){ .queue = queue, .count = replies, .op = op, .all = all,
				    .arg = arg };
	c->qlen++;
}

/* A pushed pub/sub message: "message"/"smessage" (channel at 1) or "pmessage" (at 2). */
static __always_inline bool pushed_message(struct bus_conn *c)
{
	return (c->r_word_len == 7 && c->r_word == W('m', 'e', 's', 's', 'a', 'g', 'e', 0)) ||
	       (c->r_word_len == 8 && (c->r_word == W('s', 'm', 'e', 's', 's', 'a', 'g', 'e') ||
				       c->r_word == W('p', 'm', 'e', 's', 's', 'a', 'g', 'e')));
}

/* A subscription confirmation: 1 for (p|s)subscribe, 2 for (p|s)unsubscribe, else 0. */
static __always_inline int confirmation(struct bus_conn *c)
{
	u64 w = c->r_word;
	u32 len = c->r_word_len;

	if ((len == 9 && w == W('s', 'u', 'b', 's', 'c', 'r', 'i', 'b')) ||
	    (len == 10 && (w == W('p', 's', 'u', 'b', 's', 'c', 'r', 'i') ||
			   w == W('s', 's', 'u', 'b', 's', 'c', 'r', 'i'))))
		return 1;
	if ((len == 11 && w == W('u', 'n', 's', 'u', 'b', 's', 'c', 'r')) ||
	    (len == 12 && (w == W('p', 'u', 'n', 's', 'u', 'b', 's', 'c') ||
			   w == W('s', 'u', 'n', 's', 'u', 'b', 's', 'c'))))
		return 2;
	return 0;
}

/* What a reply to cmd means for the queues, the cache and the flows. */
static __always_inline void apply_reply(struct bus_conn *c, struct bus_cmd *cmd, u64 *now)
{
	bool agg = c->r_type == '*' || c->r_type == '~' || c->r_type == '%';
	bool nil = c->r_nil;
	u32 queue = cmd->queue;
	u8 op = cmd->op, fam = resp_op_family(op);

	if (c->r_type == '-' || c->r_type == '!')
		return;		/* an error reply changed nothing */
	switch (op) {
	case OP_PUSH:
		if (c->r_type == ':') {
			/* LPUSHX/RPUSHX on a missing list answer 0: nothing pushed. */
			if (c->r_int > 0)
				flow_add(c, queue, fam, BUS_PRODUCED, cmd->arg, now);
			depth_update(c, queue, 0, c->r_int, now);
		}
		break;
	case OP_BPOP:
		/* The key the reply named (r_chan_at 0: captured as the pop's key). */
		if (!c->r_chan_at && c->r_chan_len)
			queue = queue_of(c, c->r_chan, c->r_chan_name, c->r_chan_len, fam);
		/* fall through */
	case OP_POP:
		if (nil) {
			/* Nothing to take: the list is empty (or gone). */
			depth_update(c, queue, 0, 0, now);
		} else {
			/* LPOP key count answers with an array of elements. */
			u64 n = op == OP_POP && agg ? c->r_hits : 1;

			if (n) {	/* LPOP key 0 takes nothing */
				flow_add(c, queue, fam, BUS_CONSUMED, n, now);
				processing_starts(c, now);
				depth_update(c, queue, -(s64)n, 0, now);
			}
		}
		break;
	case OP_LLEN:
	case OP_XLEN:
		if (c->r_type == ':')
			depth_update(c, queue, 0, c->r_int, now);
		break;
	case OP_XADD:
		if (!nil) {
			flow_add(c, queue, fam, BUS_PRODUCED, 1, now);
			depth_update(c, queue, 1, 0, now);
		}
		break;
	case OP_XREAD:
		/* Counted stream by stream as the reply named them (stream_entries). */
		if (c->r_entries)	/* none: a BLOCK that timed out */
			processing_starts(c, now);
		break;
	case OP_XACK:
		if (c->r_type == ':' && c->r_int > 0) {
			flow_add(c, queue, fam, BUS_ACKED, c->r_int, now);
			depth_update(c, queue, -c->r_int, 0, now);
		}
		break;
	case OP_XPENDING:
		/* The summary form starts with the number of pending entries. */
		if (agg && !nil && c->r_hits)
			depth_update(c, queue, 0, c->r_int, now);
		break;
	case OP_PUBLISH:
		if (c->r_type == ':')
			flow_add(c, queue, fam, BUS_PRODUCED, 1, now);
		break;
	case OP_GET:
		if (c->r_type == '$' || c->r_type == '_' || c->r_type == '=')
			cache_add(c, !nil, nil, now);
		break;
	case OP_MGET:
		if (agg && !nil)
			cache_add(c, c->r_hits, c->r_misses, now);
		break;
	case OP_EXISTS:
	case OP_HEXISTS:
		if (c->r_type == ':' && c->r_int >= 0 && c->r_int <= cmd->arg)
			cache_add(c, c->r_int, cmd->arg - c->r_int, now);
		break;
	case OP_RESET:
		c->subscribed = 0;
		c->resp3 = 0;
		/* fall through */
	case OP_MULTI:
		/*
		 * A transaction starts afresh: what an EXEC past the queue left
		 * (its results were counted off unread) is gone.
		 */
		c->xlen = 0;
		c->xfull = 0;
		break;
	}
}

/* One reply of a run used: the run ends with its last. */
static __always_inline bool run_used(struct bus_cmd *cmd)
{
	if (cmd->count > 1) {
		cmd->count--;
		return false;
	}
	return true;
}

/* A command inside MULTI was queued by the server: EXEC will answer it. */
static __always_inline void exec_queue(struct bus_conn *c, struct bus_cmd *cmd)
{
	struct bus_cmd *last;
	u8 op = cmd->op & ~OP_QUEUED;
	u32 i;

	if (c->xlen && !c->xfull) {
		last = &c->xq[(c->xhead + c->xlen - 1) & (BUS_EXEC_RUNS - 1)];
		if (last->op == op && last->queue == cmd->queue && last->arg == cmd->arg &&
		    last->count < 60000) {
			last->count++;
			return;
		}
	}
	if (c->xlen >= BUS_EXEC_RUNS || c->xfull) {
		/*
		 * Too varied a transaction: its results past the first runs are
		 * not interpreted (EXEC's array has them last).
		 */
		count_drop(BUS_DROP_PIPELINE_FULL);
		c->xfull = 1;
		return;
	}
	i = (c->xhead + c->xlen) & (BUS_EXEC_RUNS - 1);
	c->xq[i] = (struct bus_cmd){ .queue = cmd->queue, .count = 1, .op = op, .arg = cmd->arg };
	c->xlen++;
}

/* One element of EXEC's array: the reply to the oldest queued command. */
__noinline int bus_exec_reply_done(struct bus_conn *c, u64 *now)
{
	struct bus_cmd *cmd;

	if (!c || !now || !c->xlen)
		return 0;		/* a result past the runs followed */
	cmd = &c->xq[c->xhead & (BUS_EXEC_RUNS - 1)];
	apply_reply(c, cmd, now);
	if (run_used(cmd)) {
		c->xhead = (c->xhead + 1) & (BUS_EXEC_RUNS - 1);
		c->xlen--;
	}
	return 0;
}

/* PING's answer on a subscribed RESP2 connection: ["pong", message]. */
static __always_inline bool pong_reply(struct bus_conn *c)
{
	return c->r_word_len == 4 && c->r_word == W('p', 'o', 'n', 'g', 0, 0, 0, 0);
}

/* A whole top-level reply (or pushed message) was read. */
static __always_inline void reply_done(struct bus_conn *c, u64 *now)
{
	struct bus_cmd *cmd = c->qlen ? &c->q[c->qhead & (BUS_PIPELINE - 1)] : NULL;
	u32 queue;

	/*
	 * Pushes: RESP3's are typed '>'. RESP2 has them only on a subscribed
	 * connection, as arrays: from the confirmation of its first SUBSCRIBE
	 * on (an array answering a command sent before it is that command's),
	 * and never PING's "pong", which answers the PING.
	 */
	bool push = c->r_type == '>' ||
		    (!c->resp3 && c->r_type == '*' && !pong_reply(c) &&
		     (c->subscribed || (cmd && cmd->op == OP_SUBSCRIBE)));
	int conf = push ? confirmation(c) : 0;

	if (c->r_type == '>')
		c->resp3 = 1;
	if (conf == 1)
		c->subscribed = 1;
	if (push && pushed_message(c)) {
		/* A message pushed to a subscriber comes without a command. */
		queue = queue_of(c, c->r_chan, c->r_chan_name, c->r_chan_len, BUS_PUBSUB);
		flow_add(c, queue, BUS_PUBSUB, BUS_CONSUMED, 1, now);
		return;
	}
	if (conf == 2 && c->r_last_int == 0)
		c->subscribed = 0;	/* no subscription left */
	if (push && !conf)
		return;		/* other pushes (client-side caching invalidations...) */
	if (!cmd) {
		if (conf)
			return;		/* a confirmation for more channels than asked */
		/* A reply nobody asked for: the pairing is gone. */
		lose(c);
		return;
	}
	if (cmd->op == OP_SKIP) {
		/* The reply of a command past the queue. */
	} else if (conf) {
		/* Confirmations answer (un)subscribe commands only, and only theirs. */
		if ((conf == 1 && cmd->op != OP_SUBSCRIBE) || (conf == 2 && cmd->op != OP_UNSUBSCRIBE))
			return;
		/*
		 * More to come: one per subscription, the last says 0 -- or a
		 * single one with no channel (nil) when there was none to drop.
		 */
		if (cmd->all && c->r_last_int != 0 && !c->r_misses)
			return;
	} else if ((cmd->op == OP_SUBSCRIBE || cmd->op == OP_UNSUBSCRIBE) &&
		   (c->r_type == '-' || c->r_type == '!')) {
		/* One error answers the whole command: its other replies never come. */
		if (cmd->count > cmd->arg)
			cmd->count -= cmd->arg - 1;
		else
			cmd->count = 1;
	}
	if (cmd->op & OP_QUEUED) {
		if (c->r_type == '+')
			exec_queue(c, cmd);
	} else if (cmd->op == OP_EXEC) {
		/* EXEC's replies were taken one by one; DISCARD or an abort drops them. */
		c->xlen = 0;
		c->xfull = 0;
	} else if (cmd->op != OP_SKIP) {
		apply_reply(c, cmd, now);
	}
	if (run_used(cmd)) {
		c->qhead = (c->qhead + 1) & (BUS_PIPELINE - 1);
		c->qlen--;
	}
}

/* Is the reply now starting EXEC's array of results? */
static __always_inline bool exec_results(struct bus_conn *c)
{
	return c->qlen && c->q[c->qhead & (BUS_PIPELINE - 1)].op == OP_EXEC && c->xlen;
}

/* ---- the RESP walker ---- */

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

/* The command the reply being read answers, if it is one of op's (a push is not). */
static __always_inline bool answers(struct bus_conn *c, struct bus_dir *d, u8 op)
{
	struct bus_cmd *cmd = NULL;

	if (c->r_type == '>' || (c->r_type == '*' && c->subscribed && !c->resp3))
		return false;
	if (!d->base && c->qlen)
		cmd = &c->q[c->qhead & (BUS_PIPELINE - 1)];
	else if (d->base && c->xlen)
		cmd = &c->xq[c->xhead & (BUS_EXEC_RUNS - 1)];	/* inside EXEC's array */
	return cmd && cmd->op == op;
}

/*
 * A reply to BLPOP/BRPOP: [key, element], the key being the list the
 * element came from, which may be any of the keys the command named (a
 * worker waiting on several queues). Pushes are typed '>' in RESP3, and a
 * RESP2 connection cannot block while it is subscribed.
 */
static __always_inline bool popped_from_key(struct bus_conn *c, struct bus_dir *d)
{
	return c->r_type == '*' && answers(c, d, OP_BPOP);
}

/*
 * Is the bulk string now starting the name of a stream in XREAD's reply?
 * The reply names each stream before its entries: [[stream, entries], ...],
 * or in RESP3 {stream: entries, ...}.
 */
static __always_inline bool stream_name_next(struct bus_conn *c, struct bus_dir *d)
{
	if (d->map_top ? d->depth != d->base + 1 || (d->index & 1) :
			 d->depth != d->base + 2 || d->left[(d->base + 1) & (BUS_DEPTH - 1)] != 2)
		return false;
	return answers(c, d, OP_XREAD);
}

/* Where the element now starting at depth 1 goes, by its index. */
static __always_inline u8 capture_for(struct walk *x)
{
	struct bus_conn *c = x->c;
	struct bus_dir *d = x->d;

	if (x->w->st.dir == DIR_IN && stream_name_next(c, d))
		return CAP_KEY;
	if (d->depth != d->base + 1)
		return CAP_NONE;
	if (x->w->st.dir == DIR_OUT) {
		if (d->index == 0)
			return CAP_WORD;
		return d->index == 1 ? CAP_KEY : CAP_NONE;
	}
	if (d->index == 0)
		return popped_from_key(c, d) ? CAP_KEY : CAP_WORD;
	return d->index == c->r_chan_at ? CAP_KEY : CAP_NONE;
}

/* The key (or channel) a command names; len is at most BUS_QUEUE_LEN. */
static __always_inline void command_key(struct bus_conn *c, const char *name, u32 len)
{
	c->key = name_hash(name, len);
	c->key_len = len;
	copy_name(c->key_name, name, len);
}

/* An element of a command's array, or of a reply's aggregate, is complete. */
static __always_inline void element_done(struct walk *x, bool nil, bool scalar)
{
	struct bus_conn *c = x->c;
	struct bus_dir *d = x->d;
	u8 cap = d->capture;
	u64 w;

	d->capture = CAP_NONE;
	if (x->w->st.dir == DIR_OUT) {
		if (d->index == 0)
			c->op = bus_op_of(word_of(d), d->cap[8], d->cap_len);
		else if (cap == CAP_KEY && c->key == BUS_QUEUE_NONE)
			command_key(c, d->cap, d->cap_len);
		d->index++;
		return;
	}
	if (scalar && d->type == ':')
		c->r_last_int = d->num;
	if (cap == CAP_KEY) {
		/* A push's channel, or the list a blocking pop took from. */
		c->r_chan = name_hash(d->cap, d->cap_len);
		c->r_chan_len = d->cap_len;
		copy_name(c->r_chan_name, d->cap, d->cap_len);
		if (d->index == 0)
			c->r_chan_at = 0;	/* the pop's key: the element after it is data */
	} else if (d->index == 0) {
		w = cap == CAP_WORD ? word_of(d) : 0;
		c->r_word = w;
		c->r_word_len = cap == CAP_WORD ? d->cap_len : 0;
		c->r_chan_at = w == W('p', 'm', 'e', 's', 's', 'a', 'g', 'e') ? 2 : 1;
		if (scalar && d->type == ':')
			c->r_int = d->num;
	}
	if (scalar) {
		if (nil)
			c->r_misses++;
		else
			c->r_hits++;
	}
	d->index++;
}

/* A whole top-level value is complete. */
static __always_inline void top_done(struct walk *x)
{
	struct bus_conn *c = x->c;

	if (x->w->st.dir == DIR_OUT) {
		/* Redis does not answer an empty or null array (inline commands have no type). */
		if (!x->d->nargs && x->d->type)
			return;
		command_done(c, x->d, &x->w->st.now);
		return;
	}
	x->d->base = 0;
	reply_done(c, &x->w->st.now);
}

/* element_done() and top_done() as global functions, for bus_value_done(). */
__noinline int bus_element_done(struct bus_conn *c, struct window *w, int nil, int scalar)
{
	struct walk x;

	if (!c || !w)
		return 0;
	x = walk_of(c, w);
	element_done(&x, nil, scalar);
	return 0;
}

__noinline int bus_top_done(struct bus_conn *c, struct window *w)
{
	struct walk x;

	if (!c || !w)
		return 0;
	x = walk_of(c, w);
	top_done(&x);
	return 0;
}

/* A reply's own value ended: what it says when it is a nil or an integer. */
static __always_inline void reply_value(struct walk *x, int nil, int scalar)
{
	if (x->d->depth == x->d->base && x->w->st.dir == DIR_IN) {
		x->c->r_nil = nil;
		if (scalar && x->d->type == ':')
			x->c->r_int = x->d->num;
	}
}

/*
 * A value ended (a scalar, or an aggregate whose last element ended): close
 * every aggregate it completes. Returns -1 if the nesting is deeper than
 * followed; nil and scalar are flags. Global (see bus_window_step()), and so
 * is the handling it calls, each piece once rather than in each turn of the
 * loop: inlined in it, clang kept so many of their addresses on the stack
 * that the call chain passed the kernel's 512 bytes, and inlined in the
 * steps, all of it made the programs over 100 KB of machine code.
 */
__noinline int bus_value_done(struct bus_conn *c, struct window *w, int nil, int scalar)
{
	struct walk wk, *x = &wk;
	struct bus_dir *d;
	u32 i;

	if (!c || !w)
		return -1;
	wk = walk_of(c, w);
	d = x->d;
	d->state = R_TYPE;
	for (i = 0; i <= BUS_DEPTH; i++) {
		u32 depth = d->depth;

		reply_value(x, nil, scalar);
		if (depth == 0) {
			bus_top_done(x->c, x->w);
			return 0;
		}
		if (depth == d->base)
			bus_exec_reply_done(x->c, &x->w->st.now);	/* an element of EXEC's array */
		else if (depth == d->base + 1)
			bus_element_done(x->c, x->w, nil, scalar);
		if (depth > BUS_DEPTH)
			return -1;
		if (--d->left[(depth - 1) & (BUS_DEPTH - 1)])
			return 0;
		d->depth--;
		nil = 0;
		scalar = 0;
	}
	return 0;
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

/*
 * n entries of the stream XREAD's reply just named (the bulk before them,
 * still in the capture), delivered to this consumer.
 */
static __always_inline void stream_entries(struct walk *x, s64 n)
{
	struct bus_conn *c = x->c;
	struct bus_dir *d = x->d;
	u32 len = d->cap_len < BUS_QUEUE_LEN ? d->cap_len : BUS_QUEUE_LEN;
	u32 queue;

	if (n <= 0 || !len || !answers(c, d, OP_XREAD))
		return;
	c->r_entries += n;
	queue = queue_of(c, name_hash(d->cap, len), d->cap, len, BUS_STREAM);
	flow_add(c, queue, BUS_STREAM, BUS_CONSUMED, n, &x->w->st.now);
}

/* A value's header line is complete: returns what it completed (STEP_*). */
static __always_inline int line_done(struct walk *x)
{
	struct bus_conn *c = x->c;
	struct bus_dir *d = x->d;
	u32 depth = d->depth;
	s64 n;

	if (d->neg)
		d->num = -d->num;
	n = d->num;

	switch (d->type) {
	case '*':
	case '>':
	case '~':
	case '%':
		if (n < 0)
			return VALUE_NIL;
		if (d->type == '%')
			n *= 2;
		if (depth == d->base && x->w->st.dir == DIR_IN)
			d->map_top = d->type == '%';
		if (depth == 0)
			d->nargs = n;
		/* Stream entries: XREAD's [[stream, entries]], or RESP3's {stream: entries}. */
		if (x->w->st.dir == DIR_IN &&
		    (d->map_top ? depth == d->base + 1 : depth == d->base + 2))
			stream_entries(x, n);
		/* EXEC's array: each element is the reply to a queued command. */
		if (depth == 0 && n > 0 && x->w->st.dir == DIR_IN && d->type == '*' && exec_results(c))
			d->base = 1;
		if (n == 0)
			return STEP_VALUE;
		if (depth >= BUS_DEPTH)
			return STEP_LOST;
		d->left[depth & (BUS_DEPTH - 1)] = n;
		d->depth++;
		d->state = R_TYPE;
		return STEP_LINE;
	case '$':
	case '=':
	case '!':
		if (n < 0)
			return VALUE_NIL;
		d->remaining = (u64)n + 2;
		d->capture = capture_for(x);
		d->cap_len = 0;
		d->state = R_BULK;
		return STEP_LINE;
	case '_':
		return VALUE_NIL;
	default:	/* + - : , # ( */
		return VALUE_SCALAR;
	}
}

/* A reply begins: at depth 0, or as an element of EXEC's array. */
static __always_inline void reply_begin(struct walk *x)
{
	struct bus_conn *c = x->c;
	struct bus_dir *d = x->d;

	d->index = 0;
	d->map_top = 0;
	c->r_type = d->type;
	c->r_nil = 0;
	c->r_int = 0;
	c->r_hits = c->r_misses = c->r_entries = 0;
	c->r_word = 0;
	c->r_word_len = 0;
	c->r_last_int = -1;
	c->r_chan_at = 1;
	c->r_chan_len = 0;
}

/* A value begins at depth 0: a new command or reply. */
static __always_inline void top_begin(struct walk *x)
{
	struct bus_conn *c = x->c;
	struct bus_dir *d = x->d;

	d->index = 0;
	d->nargs = 0;
	d->map_top = 0;
	if (x->w->st.dir == DIR_OUT) {
		c->op = OP_OTHER;
		c->key = BUS_QUEUE_NONE;
		c->key_len = 0;
		/* The consumer's next command: it is done with the last message. */
		processing_done(c, &x->w->st.now);
		return;
	}
	reply_begin(x);
}


#define WHOLE_ARGS	5	/* elements of a command taken whole */

/*
 * A whole command in the window, the way clients send nearly all of them:
 * an array of up to WHOLE_ARGS bulk strings, none longer than 999 bytes
 * ("*3\r\n$5\r\nLPUSH\r\n$4\r\njobs\r\n$2\r\nhi\r\n"). Taken in one step
 * instead of one per element, with the same result the element-by-element
 * walk would have: returns STEP_VALUE (bus_value_done() then sends it on),
 * or 0 and changes nothing when the bytes are anything else.
 */
static __always_inline int whole_command(struct walk *x)
{
	struct bus_conn *c = x->c;
	struct bus_dir *d = x->d;
	const char *buf = x->w->buf;
	u32 pos = x->w->st.pos, len = x->w->st.len, p, n, i, hdr, size, data;
	u32 name_at = 0, name_len = 0, key_at = 0, key_len = 0;
	u64 w = load8(buf + (pos & (BUS_WINDOW - 1)));
	u8 op;

	/* "*N\r\n" */
	if ((w & 0xffff00ff) != W('*', 0, '\r', '\n', 0, 0, 0, 0))
		return 0;
	n = (u8)(w >> 8) - '0';
	if (n < 1 || n > WHOLE_ARGS)
		return 0;
	p = pos + 4;
	for (i = 0; i < WHOLE_ARGS; i++) {
		if (i >= n)
			break;
		hdr = resp_short_bulk(load8(buf + (p & (BUS_WINDOW - 1))), &size);
		data = p + hdr;
		if (!hdr || data + size + 2 > len ||
		    buf[(data + size) & (BUS_WINDOW - 1)] != '\r' ||
		    buf[(data + size + 1) & (BUS_WINDOW - 1)] != '\n')
			return 0;
		if (i == 0) {
			name_at = data;
			name_len = size < WORD_CAP ? size : WORD_CAP;
		} else if (i == 1) {
			key_at = data;
			key_len = size < BUS_QUEUE_LEN ? size : BUS_QUEUE_LEN;
		}
		p = data + size + 2;
	}
	name_at &= BUS_WINDOW - 1;
	op = bus_op_of(word_cut(lower8(buf + name_at), name_len), buf[name_at + 8], name_len);

	d->type = '*';
	top_begin(x);
	d->nargs = n;
	c->op = op;
	if (n > 1)
		command_key(c, buf + (key_at & (BUS_WINDOW - 1)), key_len);
	x->w->st.pos = p;
	return STEP_VALUE;
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

/* A value's type byte. Returns -1 when the stream is not RESP. */
static __always_inline int type_part(struct walk *x)
{
	struct bus_dir *d = x->d;
	u32 pos = x->w->st.pos;
	char t = x->w->buf[pos & (BUS_WINDOW - 1)];

	x->w->st.pos = pos + 1;
	if (t == '\r' || t == '\n')
		return 0;
	if (!resp_type_byte(t)) {
		/* An inline command ("PING\r\n"): skipped, answered like any. */
		if (x->w->st.dir == DIR_OUT && d->depth == 0) {
			d->type = 0;
			d->num = t != ' ' && t != '\t';	/* counts the line's non-blank bytes */
			d->state = R_INLINE;
			top_begin(x);
			return 0;
		}
		return -1;
	}
	d->type = t;
	d->num = 0;
	d->neg = 0;
	d->state = R_LINE;
	if (d->depth == 0)
		top_begin(x);
	else if (d->base && d->depth == d->base)
		reply_begin(x);
	return 0;
}

/*
 * The rest of a header or inline line, up to 32 bytes a call. Returns 0
 * when it goes on past the window, else what it completed (STEP_*).
 */
static __always_inline int line_part(struct walk *x)
{
	struct bus_dir *d = x->d;
	const char *buf = x->w->buf;
	u32 pos = x->w->st.pos, len = x->w->st.len, n, k;
	u64 wd, m = 0;

	for (k = 0; k < 4; k++) {
		wd = load8(buf + ((pos + k * 8) & (BUS_WINDOW - 1)));
		m = newline_mask(wd);
		if (m)
			break;
	}
	n = k < 4 ? k * 8 + first_newline(m) : 32;
	if (pos + n > len)
		n = len - pos;
	if (d->state == R_LINE && d->type != '+' && d->type != '-') {
		s64 num = d->num;

		for (k = 0; k < 32; k++) {
			char ch;

			if (k >= n)
				break;
			ch = buf[(pos + k) & (BUS_WINDOW - 1)];
			if (ch >= '0' && ch <= '9')
				num = num * 10 + (ch - '0');
			else if (ch == '-')
				d->neg = 1;
		}
		d->num = num;
	} else if (d->state == R_INLINE && !d->num) {
		for (k = 0; k < 32; k++) {
			char ch;

			if (k >= n)
				break;
			ch = buf[(pos + k) & (BUS_WINDOW - 1)];
			if (ch != ' ' && ch != '\t' && ch != '\r')
				d->num = 1;
		}
	}
	x->w->st.pos = pos + n;
	if (pos + n >= len || buf[(pos + n) & (BUS_WINDOW - 1)] != '\n')
		return 0;
	x->w->st.pos = pos + n + 1;
	if (d->state == R_INLINE) {
		d->state = R_TYPE;
		x->c->op = OP_OTHER;
		/* Redis ignores blank inline lines: no reply to wait for. */
		return d->num ? STEP_VALUE : STEP_LINE;
	}
	return line_done(x);
}

/*
 * One step of the RESP walker: a value's type, its header line and, for a
 * bulk string, its payload as far as the window goes. Returns what it
 * completed (STEP_*), for resp_step() to act on; STEP_STOP when the window
 * is used up or the stream was lost before. Global, like the other steps:
 * see bus_window_step().
 */
__noinline int bus_resp_step(struct bus_conn *c, struct window *w)
{
	struct walk wk, *x = &wk;
	struct bus_dir *d;
	int done = 0;

	if (!c || !w)
		return STEP_STOP;
	wk = walk_of(c, w);
	d = x->d;
	if (x->w->st.pos >= x->w->st.len || x->c->proto == PROTO_LOST)
		return STEP_STOP;
	if (d->state == R_TYPE && !d->depth && x->w->st.dir == DIR_OUT)
		done = whole_command(x);
	if (!done && d->state == R_TYPE && type_part(x) < 0)
		return STEP_LOST;
	if (d->state == R_LINE || d->state == R_INLINE) {
		if (x->w->st.pos >= x->w->st.len)
			return STEP_STOP;
		done = line_part(x);
		if (!done)
			return 0;
	}
	if (!(done & (STEP_VALUE | STEP_LOST)) && d->state == R_BULK &&
	    x->w->st.pos < x->w->st.len)
		done = bulk_part(x);
	return done;
}

/*
 * bus_value_done() is called from here rather than from bus_resp_step() so
 * that the two are never on the stack together: the kernel allows 512 bytes
 * for the frames of a whole chain of calls, program and callbacks included.
 */
static __always_inline long resp_walk(struct walk *x)
{
	int done = bus_resp_step(x->c, x->w);

	if (done & STEP_STOP)
		return 1;
	if ((done & STEP_VALUE) && !x->d->depth) {
		/*
		 * A whole top-level value (a command taken whole, a reply's
		 * integer or status): bus_value_done()'s first turn, without
		 * the call (each costs a return thunk on some CPUs).
		 */
		x->d->state = R_TYPE;
		reply_value(x, !!(done & STEP_NIL), !!(done & STEP_SCALAR));
		bus_top_done(x->c, x->w);
	} else if ((done & STEP_VALUE) &&
		   bus_value_done(x->c, x->w, !!(done & STEP_NIL), !!(done & STEP_SCALAR)) < 0) {
		done = STEP_LOST;
	}
	if (done & STEP_LOST) {
		lose(x->c);
		return 1;
	}
	/* The window's end: stop here rather than in a call more (each costs). */
	return x->w->st.pos >= x->w->st.len;
}

/* A bpf_loop callback; a window's first step calls resp_walk() inlined. */
static long resp_step(u32 i, void *arg)
{
	return resp_walk(arg);
}

/* ---- the NATS line walker ---- */

/*
 * One step of a NATS protocol line ("PUB subject [reply] size", "MSG
 * subject sid [reply] size", HPUB/HMSG with a header size before the total):
 * up to 32 bytes of the line are split into tokens; the operation and the
 * subject are kept, the last number is the payload's size. Payloads are
 * skipped by length like RESP bulk strings.
 */
/*
 * An HMSG's header block has begun (or ended, if shorter): its first bytes
 * tell a status message -- JetStream's "NATS/1.0 408 Request Timeout",
 * "404 No Messages", "100 Idle Heartbeat", flow control -- which is no
 * message, from one.
 */
static __always_inline void nats_held_done(struct walk *x)
{
	struct bus_conn *c = x->c;
	struct bus_dir *d = x->d;

	d->capture = CAP_NONE;
	if (d->cap_len >= 9 && load8(d->cap) == W('N', 'A', 'T', 'S', '/', '1', '.', '0') &&
	    d->cap[8] == ' ')
		return;
	flow_add(c, c->held_queue, BUS_NATS, BUS_CONSUMED, 1, &x->w->st.now);
	if (c->held_work)
		processing_starts(c, &x->w->st.now);
}

/* One step of the NATS walker: a line, or a payload as far as the window goes. */
__noinline int bus_nats_step(struct bus_conn *c, struct window *win)
{
	struct walk wk, *x = &wk;
	struct bus_dir *d;
	const char *buf;
	u32 pos, k;
	bool line_end = false;
	u64 w;

	if (!c || !win)
		return 1;
	wk = walk_of(c, win);
	d = x->d;
	buf = win->buf;
	pos = win->st.pos;
	if (pos >= x->w->st.len || c->proto == PROTO_LOST)
		return 1;
	if (d->state == R_BULK) {
		/* The payload, as RESP's bulk strings: an HMSG's header start is captured. */
		bool done = bulk_part(x);

		if (d->capture && (d->cap_len >= 9 || done))
			nats_held_done(x);
		if (done)
			d->state = R_TYPE;
		return 0;
	}
	if (d->state == R_TYPE) {
		/* A new line. */
		d->state = R_LINE;
		d->tok = 0;
		d->neg = 0;
		d->num = 0;
		d->word = 0;
		d->cap_len = 0;
	}
	for (k = 0; k < 32; k++) {
		char ch;

		if (pos + k >= x->w->st.len)
			break;
		ch = buf[(pos + k) & (BUS_WINDOW - 1)];
		if (ch == '\n') {
			line_end = true;
			k++;
			break;
		}
		if (ch == '\r')
			continue;
		if (ch == ' ' || ch == '\t') {
			d->neg = 0;	/* NATS: not inside a token */
			continue;
		}
		if (!d->neg) {
			d->neg = 1;
			if (d->tok < 200)
				d->tok++;
			d->num = 0;
		}
		if (d->tok == 1) {
			if (d->num < 8)
				d->word |= (u64)(ch | 0x20) << (d->num * 8);
			d->num++;
			continue;
		}
		if (d->tok == 2 && d->cap_len < BUS_QUEUE_LEN) {
			d->cap[d->cap_len & (BUS_QUEUE_LEN - 1)] = ch;
			d->cap_len++;
		}
		d->num = ch >= '0' && ch <= '9' ? d->num * 10 + (ch - '0') : 0;
	}
	x->w->st.pos = pos + k;
	if (!line_end)
		return 0;
	d->state = R_TYPE;
	w = d->word;
	if (w == W('p', 'u', 'b', 0, 0, 0, 0, 0) || w == W('h', 'p', 'u', 'b', 0, 0, 0, 0) ||
	    w == W('m', 's', 'g', 0, 0, 0, 0, 0) || w == W('h', 'm', 's', 'g', 0, 0, 0, 0)) {
		bool out = x->w->st.dir == DIR_OUT;
		bool hmsg = w == W('h', 'm', 's', 'g', 0, 0, 0, 0), work;
		u32 queue;

		if (d->tok < 3 || out != (w == W('p', 'u', 'b', 0, 0, 0, 0, 0) ||
					  w == W('h', 'p', 'u', 'b', 0, 0, 0, 0))) {
			lose(c);
			return 1;
		}
		/* A consumer's next publish (its answer) ends its processing. */
		if (out)
			processing_done(c, &x->w->st.now);
		queue = queue_of(c, name_hash(d->cap, d->cap_len), d->cap, d->cap_len, BUS_NATS);
		/*
		 * A delivery is work unless it is the reply to a request: one in
		 * an inbox with no reply-to of its own. A JetStream pull consumer's
		 * messages come in an inbox with the ack subject as reply-to (MSG
		 * subject sid reply size: 5 tokens; HMSG has one more).
		 */
		work = queue != BUS_QUEUE_OTHER || d->tok == (hmsg ? 6 : 5);
		d->remaining = (u64)d->num + 2;
		d->state = R_BULK;
		if (hmsg) {
			/* Held until its header's first bytes: see nats_held_done(). */
			c->held_queue = queue;
			c->held_work = work;
			d->capture = CAP_WORD;
			d->cap_len = 0;
			return 0;
		}
		/*
		 * A JetStream ack ("$JS.ACK.<stream>...") or flow-control answer
		 * ("$JS.FC.<stream>...") is not a message.
		 */
		if (!out || d->cap_len < 8 ||
		    (load8(d->cap) != W('$', 'J', 'S', '.', 'A', 'C', 'K', '.') &&
		     (load8(d->cap) & 0x00ffffffffffffffull) != W('$', 'J', 'S', '.', 'F', 'C', '.', 0)))
			flow_add(c, queue, BUS_NATS, out ? BUS_PRODUCED : BUS_CONSUMED, 1,
				 &x->w->st.now);
		if (!out && work)
			processing_starts(c, &x->w->st.now);
	}
	return 0;
}

static long nats_step(u32 i, void *arg)
{
	struct walk *x = arg;

	return bus_nats_step(x->c, x->w) ? 1 : 0;
}

/*
 * One step over a call's bytes. When a buffer is used up, the next is
 * taken: the only one of a read/write/send/recv, or the next of a
 * readv/writev/recvmsg/sendmsg. Then payload that nothing captures is
 * skipped by length without reading it, and the next BUS_WINDOW bytes are
 * read and walked. Buffers and windows share one callback so that a call
 * of one short buffer, nearly every call, is a single step.
 *
 * The steps are global functions, each called by its bpf_loop() callback:
 * the verifier checks a global function once, on its own, with its
 * arguments unknown, where it walks a callback or a static function again
 * for every state it is reached in. As callbacks, the steps took the bus
 * programs to 446k instructions to verify on one build of 6.18 and past the
 * kernel's 1M limit on another; as global functions, with what they reach
 * from several places or in loops (bus_value_done() and the handling it
 * calls, bus_queue_of(), bus_op_of(), bus_processing_done()), 73k there and
 * 87k on 6.1. A global function takes at most five arguments, scalars or
 * pointers, and sees a pointer as memory of its type's size that may be
 * NULL, hence the checks; it returns a scalar. So each step takes the
 * connection and the window and rebuilds its struct walk from them.
 */
__noinline int bus_window_step(struct bus_conn *c, struct window *w)
{
	struct walk wk, *x = &wk;
	struct walk_state *st;
	struct bus_dir *d;
	u32 left, avail;

	if (!c || !w)
		return 1;
	wk = walk_of(c, w);
	st = &w->st;
	d = x->d;
	if (x->c->proto == PROTO_LOST)
		return 1;
	if (st->done >= st->total) {
		struct iovec iov = { .iov_base = (void *)st->buf0, .iov_len = st->left };

		if (!st->left || st->k >= st->iovcnt)
			return 1;
		if (st->iov && bpf_probe_read_user(&iov, sizeof(iov), st->iov + st->k)) {
			lose(x->c);
			return 1;
		}
		st->k++;
		st->ubuf = iov.iov_base;
		st->done = 0;
		st->total = iov.iov_len < st->left ? iov.iov_len : st->left;
		st->left -= st->total;
	}
	left = st->total - st->done;
	if (d->state == R_BULK && d->remaining > 2 &&
	    (d->capture == CAP_NONE || d->cap_len >= cap_limit(d))) {
		u64 skip = d->remaining - 2 < left ? d->remaining - 2 : left;

		d->remaining -= skip;
		st->done += skip;
		left -= skip;
	}
	if (left) {
		avail = left > BUS_WINDOW ? BUS_WINDOW : left;
		if (bpf_probe_read_user(x->w->buf, clamp_size(avail, BUS_WINDOW),
					st->ubuf + st->done)) {
			lose(x->c);
			return 1;
		}
		st->pos = 0;
		st->len = avail;
		/*
		 * A window nearly always holds one value or line, or the end of
		 * one: its step is called directly, the loop runs only for more
		 * (each BPF-to-BPF call costs a return thunk on some CPUs, and a
		 * step through bpf_loop is two). The verifier inlines a bpf_loop
		 * (a direct call per step instead of an indirect one) only when
		 * its call site has one callback: the barrier keeps the compiler
		 * from folding the two calls into one with either.
		 */
		if (x->c->proto == PROTO_NATS) {
			if (!bus_nats_step(c, w))
				bpf_loop(BUS_STEPS - 1, nats_step, x, 0);
			barrier();
		} else {
			if (!resp_walk(x))
				bpf_loop(BUS_STEPS - 1, resp_step, x, 0);
		}
		st->done += st->pos;
	}
	/* The call's end: stop here rather than in a step more (each costs). */
	return st->done >= st->total && (!st->left || st->k >= st->iovcnt);
}

static long window_step(u32 i, void *arg)
{
	struct walk *x = arg;

	return bus_window_step(x->c, x->w) ? 1 : 0;
}

static __always_inline void walk_call(struct bus_conn *c, int dir, int ret)
{
	struct bus_dir *d = &c->dirs[dir & 1];
	struct walk x = { .c = c, .d = d };
	u32 zero = 0;
	struct io io;

	find_io(&io, ret);
	if (!io.buf) {
		/* Bytes we cannot see (sendfile, splice): only payload may pass. */
		if (d->state == R_BULK && d->remaining >= (u64)ret + 2)
			d->remaining -= ret;
		else
			lose(c);
		return;
	}
	x.w = bpf_map_lookup_elem(&bus_window, &zero);
	if (!x.w)
		return;
	x.w->st.now = 0;	/* read when something needs it: see clock_of */
	x.w->st.dir = dir;
	x.w->st.left = ret;
	/* Several buffers: asyncio's writelines is a sendmsg of many. */
	x.w->st.iov = io.iovcnt > 1 ? io.iov : NULL;
	x.w->st.iovcnt = io.iovcnt > 1 ? io.iovcnt : 1;
	x.w->st.buf0 = io.buf;
	x.w->st.k = 0;
	x.w->st.done = 0;
	x.w->st.total = 0;
	/* One window is most calls: as for the steps within it. */
	if (!bus_window_step(c, x.w))
		bpf_loop(BUS_WINDOWS + BUS_IOVECS - 1, window_step, &x, 0);
	if (c->proto != PROTO_LOST && (x.w->st.left || x.w->st.done < x.w->st.total))
		lose(c);	/* more windows or buffers than followed */
}

/* ---- connections ---- */

/* A member's connection to a bus port, created on its first call. */
static __always_inline struct bus_conn *conn_of(struct sock *sk, bool create)
{
	struct bus_conn *c;
	u32 tgid;
	int agent;

	/*
	 * The port first: a load from the socket the tracepoint gave us, so
	 * every other socket on the host (an agent's HTTP ones too) leaves here.
	 */
	if (!remote_port_in(sk, bus_ports, nports))
		return NULL;
	c = sk_state(&bus_conns, sk);
	if (c || !create)
		return c;
	agent = member_tcp(sk, &tgid);
	if (agent < 0)
		return NULL;
	c = bpf_sk_storage_get(&bus_conns, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (c) {
		c->agent = agent;
		c->pid = tgid;
	}
	return c;
}

/* The protocol, from the first bytes either side sends. */
static __always_inline void detect(struct bus_conn *c, int dir, int ret)
{
	struct io io;
	u64 w = 0;

	find_io(&io, ret);
	if (!io.buf || !io.len ||
	    bpf_probe_read_user(&w, clamp_size(io.len < 8 ? io.len : 8, 8), io.buf))
		return;
	/* NATS: the server greets with INFO, the client starts with CONNECT. */
	if ((w & 0xffffffffff) == W('I', 'N', 'F', 'O', ' ', 0, 0, 0) ||
	    (w & 0xffffffffffffff) == W('C', 'O', 'N', 'N', 'E', 'C', 'T', 0)) {
		c->proto = PROTO_NATS;
		return;
	}
	/*
	 * RESP: a client's commands are arrays. What the server sends first may
	 * be the rest of a reply to a command sent before agentbpf started:
	 * the client's next command decides.
	 */
	if (dir != DIR_OUT)
		return;
	/*
	 * A NATS client found mid-connection publishes, subscribes or answers
	 * the server's PING (Redis clients never send PONG). A lone PING could
	 * be either: the next call decides.
	 */
	if ((w & 0xffffffff) == W('P', 'U', 'B', ' ', 0, 0, 0, 0) ||
	    (w & 0xffffffff) == W('S', 'U', 'B', ' ', 0, 0, 0, 0) ||
	    (w & 0xffffffffff) == W('H', 'P', 'U', 'B', ' ', 0, 0, 0) ||
	    (w & 0xffffffffffff) == W('U', 'N', 'S', 'U', 'B', ' ', 0, 0) ||
	    (w & 0xffffffffffff) == W('P', 'O', 'N', 'G', '\r', '\n', 0, 0))
		c->proto = PROTO_NATS;
	else if ((char)w == '*')
		c->proto = PROTO_REDIS;
	else
		lose(c);	/* TLS or anything else on a bus port: counted, not followed */
}

static __always_inline void on_call(struct sock *sk, int dir, int ret)
{
	struct bus_conn *c = conn_of(sk, true);

	if (!c || c->proto == PROTO_LOST)
		return;
	if (c->proto == PROTO_UNKNOWN)
		detect(c, dir, ret);
	if (c->proto == PROTO_REDIS || c->proto == PROTO_NATS)
		walk_call(c, dir, ret);
}

/*
 * The same two hooks as the HTTP family (user/sockhook.c): the tracepoints,
 * or before Linux 6.3 fexit on the functions they sit in.
 */
SEC("tp_btf/sock_send_length")
int BPF_PROG(bus_send, struct sock *sk, int ret, int flags)
{
	if (ret > 0)
		on_call(sk, DIR_OUT, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(bus_recv, struct sock *sk, int ret, int flags)
{
	if (ret > 0 && !(flags & MSG_PEEK))
		on_call(sk, DIR_IN, ret);
	return 0;
}

SEC("fexit/tcp_sendmsg")
int BPF_PROG(bus_send_fexit, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	if (ret > 0)
		on_call(sk, DIR_OUT, ret);
	return 0;
}

SEC("fexit/sock_recvmsg")
int BPF_PROG(bus_recv_fexit, struct socket *sock, struct msghdr *msg, int flags, int ret)
{
	if (ret > 0 && !(flags & MSG_PEEK))
		on_call(sock->sk, DIR_IN, ret);
	return 0;
}
