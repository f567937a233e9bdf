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
 *
 * The parsers are l7/resp.h and l7/nats.h, on the state of l7/bus_conn.h;
 * this file gives them the hooks, the bytes of each call, and the maps their
 * accounting lands in.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "proc.h"
#include "bus.h"
#include "sockio.bpf.h"
#include "l7/resp.h"
#include "l7/nats.h"


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


#define BUS_WINDOWS	1024	/* windows per call: 512 KiB of non-payload bytes */
#define BUS_IOVECS	64	/* steps more for the buffers of a vectored call */
#define BUS_STEPS	1024	/* parser steps per window */

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

/* ---- the accounting the parsers report to (l7/bus_conn.h), on the maps ---- */

static struct bus_queue zero_queue;

static __always_inline void count_drop(u32 reason)
{
	count_in(&bus_drops, reason);
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
	/*
	 * queue_of() has taken the cached answer already. NATS request/reply
	 * inboxes are one subject per request, and the system's "$" subjects
	 * (JetStream's API and acks, $SYS) one per call or message: not queues.
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

/* ---- a call's bytes, window by window, into the parsers ---- */

/* A bpf_loop callback; a window's first step calls resp_walk() inlined. */
static long resp_step(u32 i, void *arg)
{
	return resp_walk(arg);
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
	u32 left, avail, skip;

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
	skip = payload_skip(d, left);
	st->done += skip;
	left -= skip;
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
