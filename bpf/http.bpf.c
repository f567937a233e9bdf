// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP/1.x server side: every request a matched agent receives, timed from
 * the read that made its first byte available to the agent until the write
 * that hands the last byte of its response to the kernel. Client side: every
 * call an agent makes, from the write of its first request byte until the
 * read that returns the last byte of the response, by peer.
 *
 * Hooks are the sock_recv_length / sock_send_length tracepoints, which fire
 * after each socket recvmsg/sendmsg in the calling task; the syscall's buffer
 * comes from the task's saved registers. No syscall tracepoints: they would
 * put every syscall of every process on the slow path. A process that is not
 * a member leaves after one hash lookup.
 *
 * Each connection carries a framing state per direction (head, then a
 * Content-Length or chunked body, or a body until close) so keep-alive and
 * pipelined requests are each counted once, whatever the read boundaries.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "proc.h"
#include "http.h"
#include "llm.h"
#include "sockio.bpf.h"
#include "l7/http1.h"

#define TCP_CLOSE_WAIT	8

char LICENSE[] SEC("license") = "GPL";

/* Histogram bounds in ns, ascending; set by the loader from the config. */
const volatile __u64 bounds_ns[HTTP_MAX_BUCKETS] = {};
const volatile __u32 nbounds = 0;
const volatile bool label_method = false;
const volatile bool label_code = false;
const volatile bool label_route = false;
/* Distinct routes per agent; the rest count as route "other". */
const volatile __u32 max_routes = 100;
/* `agentbpf trace`: one ring buffer event per finished request. */
const volatile bool trace_requests = false;
/* The agents' own calls (client connections) are followed too. */
const volatile bool outbound = true;
/* Distinct peers of outbound calls; the rest count as peer "other". */
const volatile __u32 max_peers = 100;
/* Remote ports of connections that are not HTTP (the message-bus ports). */
const volatile __u16 other_ports[HTTP_OTHER_PORTS] = {};
_Static_assert(HTTP_OTHER_PORTS == SOCKIO_MAX_PORTS, "remote_port_in() reads SOCKIO_MAX_PORTS ports");
const volatile __u32 nother_ports = 0;
/* LLM calls: their bytes to the daemon, at most llm_call_cap a call each way, llm_rate a second. */
const volatile bool llm_on = false;
const volatile __u32 llm_call_cap = 1 << 20;
const volatile __u64 llm_rate = 16 << 20;

/*
 * A connection's side: the agent answers requests on it (server), makes
 * them (client), or it is no HTTP the agent speaks first or answers.
 */
enum role { ROLE_UNKNOWN, ROLE_SERVER, ROLE_OTHER, ROLE_CLIENT };
/* Of the messages, not of the calls: a client's requests are its writes. */
enum dir { DIR_REQ, DIR_RESP };
enum parse_state {
	P_IDLE,		/* expecting the start of a message */
	P_HEAD,		/* inside a head split across calls (bytes in http_carry) */
	P_START,	/* a message's first bytes, too few to tell (in http_carry) */
	P_BODY,		/* `remaining` body bytes to come */
	P_CHUNKED,	/* chunked body, framed chunk by chunk (enum http_chunk_state) */
	P_CLOSE,	/* response body delimited by the connection's end */
	P_SKIP,		/* lost the framing; resync on a call that starts a message */
};

struct http_dir {
	struct http_body body;	/* P_BODY, P_CHUNKED */
	__u64 msg_start_ns;
	__u64 msg_bytes;
	/* A head seen across several windows or calls: what is known so far. */
	__u64 head_length;	/* Content-Length */
	__u32 head_bytes;	/* head bytes before the carried partial line */
	__u32 route;		/* request's route id, from its first window */
	__u8 route_new;		/* this request registered the route */
	__u8 head_has_length;
	__u8 head_chunked;
	__u8 head_in_headers;	/* the start line is behind us */
	__u8 method;		/* request method, for the response's framing */
	__u8 state;
	__u8 pad[2];
};

struct http_req {
	__u64 start_ns;
	__u64 bytes;
	__u32 seq;
	__u32 route;
	__u8 method;
	__u8 route_new;		/* its route was registered by this request */
	__u8 pad[6];
};

struct http_conn {
	__u64 sk;		/* the socket: key of its carries and trace paths */
	__u32 agent;
	__u32 pid;
	__u8 role;
	__u8 qhead;
	__u8 qlen;
	__u8 resp_cut;		/* a response's framing was lost on the way */
	__u8 undecided;		/* calls seen before the role was known */
	__u8 port_noted;	/* a server's port is in http_server_ports */
	__u16 code;
	__u16 lport;		/* local port, host order */
	__u32 seq;		/* requests seen on this connection */
	__u32 peer;		/* a client's: its peer id, HTTP_PEER_NONE until its first request */
	__u32 netns;		/* inode of the socket's network namespace */
	__u16 dport;		/* remote port, host order */
	__u8 family;
	__u8 tls;		/* an SSL* of OpenSSL's (sk holds it), not a socket */
	__u8 daddr[16];		/* remote address; IPv4 in the first 4 bytes */
	__u8 llm;		/* a call to an llm_hosts host: its provider; else 0 */
	__u8 tls_read;		/* TLS: plaintext read since the last write */
	__u8 pad2[2];
	__u32 tls_wlen;		/* TLS: the last write's length and buffer */
	__u64 tls_wbuf;
	__u32 llm_seq[2];	/* the call whose bytes went to the daemon last, per dir */
	__u32 llm_pos[2];	/* ... and how many of them so far */
	__u64 peer_closed_ns;	/* the client's FIN arrived */
	__u64 data_ready_ns;	/* bytes of a next request became readable */
	__u64 resp_start_ns;
	__u64 last_send_ns;
	struct http_dir dirs[2];
	struct http_req q[HTTP_PIPELINE];
	struct http_layout layout[2];
};

/* sk: a socket, or an SSL* with pad its process (SSL* values repeat across forks). */
struct carry_key {
	__u64 sk;
	__u32 dir;
	__u32 pad;
};

struct carry {
	__u32 len;
	char buf[HTTP_CARRY];
};

struct path_key {
	__u64 sk;
	__u32 seq;
	__u32 pad;
};

/* Framing steps in one recvmsg/sendmsg: a message, or a chunk of one. */
#define HTTP_MSGS_PER_CALL	128

/* The recvmsg or sendmsg being framed. */
struct call {
	struct io io;
	u64 now;	/* read on first use: see clock_of */
	u32 total;	/* bytes of this call */
	u32 off;	/* bytes of this call already framed */
	u32 dir;
	u32 route_new;	/* http_route_of() registered the route */
};

struct scratch {
	char buf[HTTP_WINDOW + 32];	/* the window of l7/http1.h's head steps */
	struct http_route_state route;
	struct http_head head;
	struct call call;
	struct http_peer peer;		/* a peer being registered */
	u32 host_pos, host_len, host_at, host_end;	/* the Host header search */
};

/*
 * Per-connection state in the socket's own storage: found by a pointer
 * dereference instead of a hash lookup (sk_data_ready runs for every socket
 * on the host), and freed with the socket.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct http_conn);
} http_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct carry_key);
	__type(value, struct carry);
} http_carry SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct path_key);
	__type(value, char[HTTP_PATH_LEN]);
} http_paths SEC(".maps");

/* Sized by the loader from the agents and request labels; filled as used. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192);
	__type(key, struct http_key);
	__type(value, struct http_stats);
} http_stats SEC(".maps");

/* Sized by the loader from the agents, max_peers and request labels. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192);
	__type(key, struct http_out_key);
	__type(value, struct http_out_stats);
} http_out_stats SEC(".maps");

/* Peer id -> whom the calls went to; sized by the loader: max_peers. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 100);
	__type(key, u32);
	__type(value, struct http_peer);
} http_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} http_peer_count SEC(".maps");

/* Ports agents answered HTTP on: which agent an outbound call reached. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct http_server_port);
	__type(value, u32);
} http_server_ports SEC(".maps");

/* ---- TLS: OpenSSL's calls, by process and SSL* ---- */

struct tls_key {
	u32 tgid;
	u32 pad;
	u64 ssl;
};

/* An agent's TLS connections on which it made a call. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tls_key);
	__type(value, struct http_conn);
} tls_conns SEC(".maps");

/* The server name an agent's SSL* asked for (SSL_set_tlsext_host_name). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tls_key);
	__type(value, char[HTTP_HOST_LEN]);
} tls_sni SEC(".maps");

/* An SSL_read under way, per thread: where its plaintext goes. */
struct tls_call {
	u64 ssl;
	u64 buf;
	u64 count;		/* SSL_read_ex's size_t *, else 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

/* Sized by the loader: agents * max_routes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 6400);
	__type(key, struct http_route_key);
	__type(value, struct http_route);
} http_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AGENTBPF_MAX_AGENTS);
	__type(key, u32);
	__type(value, u32);
} http_route_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * AGENTBPF_MAX_AGENTS);
	__type(key, u32);
	__type(value, struct http_active);
} http_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HTTP_DROP_MAX);
	__type(key, u32);
	__type(value, u64);
} http_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct scratch);
} http_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} http_events SEC(".maps");

/* ---- LLM calls: their bytes, for the daemon to read (user/llm.c) ---- */

/* Host id (http_host_id) -> provider index + 1; filled by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LLM_MAX_HOSTS);
	__type(key, u32);
	__type(value, u8);
} llm_hosts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LLM_RING_BYTES);
} llm_events SEC(".maps");

/* An event being filled: too big for the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct llm_event);
} llm_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct llm_budget);
} llm_budget SEC(".maps");

/* The bus family's programs (enum http_next), filled by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, HTTP_NEXT_MAX);
	__type(key, u32);
	__type(value, u32);
} sock_next SEC(".maps");

static const u64 size_bounds[HTTP_SIZE_BUCKETS] = HTTP_SIZE_BOUNDS;

/* Initial values for new map entries; too big for the BPF stack. */
static struct http_stats zero_stats;
static struct http_out_stats zero_out_stats;
static struct http_conn zero_conn;
static struct carry zero_carry;

static __always_inline void count_drop(u32 reason)
{
	count_in(&http_drops, reason);
}

static __always_inline u8 status_of(u16 code)
{
	if (code == 408 || code == 504)
		return HTTP_TIMEOUT;
	return code >= 500 ? HTTP_ERROR : HTTP_SUCCESS;
}

static __always_inline u32 size_bucket(u64 v)
{
	u32 i;

	for (i = 0; i < HTTP_SIZE_BUCKETS; i++) {
		if (v <= size_bounds[i])
			return i;
	}
	return HTTP_SIZE_BUCKETS;
}

/*
 * One more request in flight, or one fewer. Tracepoints run with preemption
 * off, so on one CPU only an interrupt can cut into a program: the agent's
 * own calls (task context) add without a locked instruction, which costs
 * more than the rest of a short request's accounting here; the connection's
 * end, which may come in a softirq on top of them, counts apart, atomically.
 */
enum active_change { REQ_STARTED, REQ_FINISHED, REQ_CLOSED };

static __always_inline void active_add(struct http_conn *c, enum active_change what)
{
	u32 slot = c->agent + (c->role == ROLE_CLIENT ? AGENTBPF_MAX_AGENTS : 0);
	struct http_active *act = bpf_map_lookup_elem(&http_active, &slot);

	if (!act)
		return;
	if (what == REQ_CLOSED)
		__sync_fetch_and_add(&act->closed, 1);
	else if (what == REQ_STARTED)
		act->started++;
	else
		act->finished++;
}

/* A route registered by a request that turned out not to deserve a slot. */
static __always_inline void route_release(u32 agent, u32 id)
{
	struct http_route_key rk = { .agent = agent, .id = id };
	u32 *count = bpf_map_lookup_elem(&http_route_count, &rk.agent);

	if (bpf_map_delete_elem(&http_routes, &rk) == 0 && count)
		__sync_fetch_and_add(count, -1);
}

/*
 * A request that registered its route never finished its head (the
 * connection ended, the framing was lost, or it was not followed): the
 * slot goes back, so probes that never finish cannot use up the routes.
 */
static __always_inline void route_abandoned(struct http_conn *c, struct http_dir *d)
{
	if (d->route_new)
		route_release(c->agent, d->route);
	d->route_new = 0;
}

/*
 * How a request ended, for http_answer(): status, code and whether the
 * connection's end decided it, in one argument (a global function has five).
 */
#define ANSWER(status, code, in_close) \
	((u32)(status) | (u32)(code) << 8 | (u32)(in_close) << 24)

/* The latency histogram's bucket of dur ns (nbounds: above every bound). */
static __always_inline u32 duration_bucket(u64 dur)
{
	u32 i;

	for (i = 0; i < HTTP_MAX_BUCKETS && i < nbounds; i++) {
		if (dur <= bounds_ns[i])
			return i;
	}
	return nbounds;
}

/* One finished request or call for `agentbpf trace`. */
static __always_inline void trace_request(struct http_conn *c, struct http_req *r, u8 status,
					  u16 code, u64 end_ns, u64 dur, u64 ttfb, u64 resp_bytes)
{
	struct path_key pk = { .sk = c->sk, .seq = r->seq, .pad = c->tls ? c->pid : 0 };
	struct http_event *e;
	char *path;

	e = bpf_ringbuf_reserve(&http_events, sizeof(*e), 0);
	if (!e) {
		count_drop(HTTP_DROP_RINGBUF_FULL);
		return;
	}
	e->ts_ns = end_ns;
	e->duration_ns = dur;
	e->req_bytes = r->bytes;
	e->resp_bytes = resp_bytes;
	e->pid = c->pid;
	e->agent = c->agent;
	e->code = code;
	e->status = status;
	e->method = r->method;
	e->peer = c->role == ROLE_CLIENT ? c->peer : HTTP_PEER_NONE;
	e->ttfb_ns = ttfb;
	e->path[0] = '\0';
	path = bpf_map_lookup_elem(&http_paths, &pk);
	if (path) {
		bpf_probe_read_kernel(e->path, sizeof(e->path), path);
		bpf_map_delete_elem(&http_paths, &pk);
	}
	bpf_ringbuf_submit(e, 0);
}

/* Bytes of an LLM call on their way to the ring, LLM_CHUNK at a time. */
struct llm_copy {
	u64 buf;
	u32 pos;
	u32 len;
};

/*
 * The reader is woken only when the ring is a quarter full: it reads every
 * LLM_POLL_MS anyway, and a wakeup per event (an SSE chunk per read) cost
 * the host a context switch each.
 */
static __always_inline u64 llm_wakeup(void)
{
	return bpf_ringbuf_query(&llm_events, BPF_RB_AVAIL_DATA) > LLM_RING_BYTES / 4 ?
	       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* One event of up to LLM_CHUNK bytes from k; returns 1 when done. */
static __always_inline long llm_chunk(struct llm_event *e, struct llm_copy *k)
{
	u32 n = k->len > LLM_CHUNK ? LLM_CHUNK : k->len;

	if (!n)
		return 1;
	e->pos = k->pos;
	e->len = n;
	if (bpf_probe_read_user(e->data, clamp_size(n, LLM_CHUNK), (const void *)k->buf))
		return 1;
	if (bpf_ringbuf_output(&llm_events, e, LLM_EVENT_HDR + clamp_size(n, LLM_CHUNK),
			       llm_wakeup())) {
		count_drop(HTTP_DROP_LLM_RING);
		return 1;
	}
	k->buf += n;
	k->pos += n;
	k->len -= n;
	return 0;
}

static long llm_chunk_step(u32 i, void *arg)
{
	struct llm_event *e;
	u32 zero = 0;

	e = bpf_map_lookup_elem(&llm_scratch, &zero);
	return e ? llm_chunk(e, arg) : 1;
}

/*
 * len bytes of an LLM call for the daemon: at the user address buf (0: not
 * readable here), of which avail are in one piece; seq_dir is the call's
 * seq << 1 | its direction. The bytes a cap keeps back still move the
 * position on, so the daemon sees the gap. Global: checked once, for its
 * three callers.
 */
__noinline int llm_capture(struct http_conn *c, u32 seq_dir, u64 buf, u32 len, u32 avail)
{
	u32 zero = 0, dir = seq_dir & 1, seq = seq_dir >> 1, pos;
	struct llm_copy k = { .buf = buf };
	struct llm_budget *b;
	struct llm_event *e;
	u64 now;

	if (!c || !len)
		return 0;
	if (c->llm_seq[dir] != seq) {
		c->llm_seq[dir] = seq;
		c->llm_pos[dir] = 0;
	}
	pos = c->llm_pos[dir];
	c->llm_pos[dir] = pos + len < pos ? ~0u : pos + len;
	if (len > llm_call_cap - pos || pos >= llm_call_cap) {
		count_drop(HTTP_DROP_LLM_CALL_CAP);
		if (pos >= llm_call_cap)
			return 0;
		len = llm_call_cap - pos;
	}
	if (avail < len)
		len = avail;
	if (!buf || !len)
		return 0;
	now = bpf_ktime_get_boot_ns();
	b = bpf_map_lookup_elem(&llm_budget, &zero);
	e = bpf_map_lookup_elem(&llm_scratch, &zero);
	if (!b || !e)
		return 0;
	/* One second's budget for the host: a race at its turn costs a few bytes of slack. */
	if (b->second != now / 1000000000ull) {
		b->second = now / 1000000000ull;
		b->bytes = 0;
	}
	/* What fits is sent: a long answer keeps its head and start. */
	if (b->bytes + len > llm_rate) {
		count_drop(HTTP_DROP_LLM_RATE);
		if (b->bytes >= llm_rate)
			return 0;
		len = llm_rate - b->bytes;
	}
	__sync_fetch_and_add(&b->bytes, len);
	__sync_fetch_and_add(&b->sent, len);
	e->ts_ns = now;
	e->conn = c->sk;
	e->start_ns = 0;
	e->seq = seq;
	e->pid = c->pid;
	e->agent = c->agent;
	e->code = 0;
	e->kind = LLM_EV_DATA;
	e->dir = dir;
	e->provider = c->llm;
	e->status = 0;
	k.pos = pos;
	k.len = len;
	/* Most reads are one chunk (an SSE event, a TLS record): no loop for them. */
	if (!llm_chunk(e, &k) && k.len)
		bpf_loop(LLM_CHUNKS_PER_CALL - 1, llm_chunk_step, &k, 0);
	return 0;
}

/* An LLM call ended: after its last bytes, for the daemon to settle it. */
static __always_inline void llm_end(struct http_conn *c, struct http_req *r, u8 status, u16 code,
				    u64 end_ns, u64 resp_bytes)
{
	struct llm_event *e = bpf_ringbuf_reserve(&llm_events, LLM_EVENT_HDR, 0);

	if (!e) {
		count_drop(HTTP_DROP_LLM_RING);
		return;
	}
	e->ts_ns = end_ns;
	e->conn = c->sk;
	e->start_ns = r->start_ns;
	e->pos = resp_bytes > 0xffffffffull ? 0xffffffff : resp_bytes;
	e->seq = r->seq;
	e->pid = c->pid;
	e->agent = c->agent;
	e->len = 0;
	e->code = code;
	e->kind = LLM_EV_END;
	e->dir = LLM_DIR_RESP;
	e->provider = c->llm;
	e->status = status;
	bpf_ringbuf_submit(e, llm_wakeup());
}

/*
 * An agent's call ended: counted by peer, with its time to the response's
 * first byte when a response began.
 */
static __always_inline void record_call(struct http_conn *c, struct http_req *r, u8 status,
					u16 code, u64 end_ns, u64 resp_bytes)
{
	struct http_out_key key = { .agent = c->agent, .peer = c->peer, .status = status };
	struct http_out_stats *st;
	u64 dur = end_ns > r->start_ns ? end_ns - r->start_ns : 0;
	u64 ttfb = 0;
	u32 i;

	if (c->llm)
		llm_end(c, r, status, code, end_ns, resp_bytes);
	if (label_code)
		key.code = code;
	st = bpf_map_lookup_elem(&http_out_stats, &key);
	if (!st) {
		bpf_map_update_elem(&http_out_stats, &key, &zero_out_stats, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&http_out_stats, &key);
		if (!st) {
			count_drop(HTTP_DROP_SERIES_FULL);
			return;
		}
	}
	st->count++;
	st->duration_ns += dur;
	st->req_bytes += r->bytes;
	st->resp_bytes += resp_bytes;
	i = duration_bucket(dur);
	if (i <= HTTP_MAX_BUCKETS)
		st->duration_buckets[i]++;
	if (code && c->resp_start_ns >= r->start_ns) {
		ttfb = c->resp_start_ns - r->start_ns;
		st->ttfb_ns += ttfb;
		st->ttfb_count++;
		i = duration_bucket(ttfb);
		if (i <= HTTP_MAX_BUCKETS)
			st->ttfb_buckets[i]++;
	}
	i = size_bucket(r->bytes);
	if (i <= HTTP_SIZE_BUCKETS)
		st->req_size_buckets[i]++;
	i = size_bucket(resp_bytes);
	if (i <= HTTP_SIZE_BUCKETS)
		st->resp_size_buckets[i]++;
	if (trace_requests)
		trace_request(c, r, status, code, end_ns, dur, ttfb, resp_bytes);
}

/* A request ended: count it in its series and its histograms. */
static __always_inline void record(struct http_conn *c, struct http_req *r, u8 status,
				   u16 code, u64 end_ns, u64 resp_bytes, bool in_close)
{
	struct http_key key = { .agent = c->agent, .status = status };
	struct http_stats *st;
	u64 dur = end_ns > r->start_ns ? end_ns - r->start_ns : 0;
	u32 i, b;

	active_add(c, in_close ? REQ_CLOSED : REQ_FINISHED);
	if (c->role == ROLE_CLIENT) {
		record_call(c, r, status, code, end_ns, resp_bytes);
		return;
	}

	if (label_code)
		key.code = code;
	if (label_method)
		key.method = r->method;
	key.route = r->route;
	if (r->route_new && code >= 400 && code < 500) {
		/*
		 * A route first seen with a client error is a scanner's probe or a
		 * typo: it gives its slot back and counts as "other", so such
		 * paths cannot use up the agent's routes.
		 */
		route_release(c->agent, r->route);
		key.route = HTTP_ROUTE_OTHER;
	}
	st = bpf_map_lookup_elem(&http_stats, &key);
	if (!st) {
		bpf_map_update_elem(&http_stats, &key, &zero_stats, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&http_stats, &key);
		if (!st) {
			count_drop(HTTP_DROP_SERIES_FULL);
			return;
		}
	}
	b = duration_bucket(dur);
	st->count++;
	st->duration_ns += dur;
	st->req_bytes += r->bytes;
	st->resp_bytes += resp_bytes;
	if (b <= HTTP_MAX_BUCKETS)
		st->duration_buckets[b]++;
	i = size_bucket(r->bytes);
	if (i <= HTTP_SIZE_BUCKETS)
		st->req_size_buckets[i]++;
	i = size_bucket(resp_bytes);
	if (i <= HTTP_SIZE_BUCKETS)
		st->resp_size_buckets[i]++;

	if (trace_requests)
		trace_request(c, r, status, code, end_ns, dur, 0, resp_bytes);
}

static __always_inline struct http_req *queue_front(struct http_conn *c)
{
	if (!c->qlen)
		return NULL;
	return &c->q[c->qhead & (HTTP_PIPELINE - 1)];
}

/*
 * The oldest request on the connection is answered (or given up): counted,
 * and out of the queue. Global, so the verifier checks the accounting once
 * rather than at each of the many places a request can end. how: ANSWER().
 */
__noinline int http_answer(struct http_conn *c, u64 end_ns, u64 resp_bytes, u32 how)
{
	struct http_req *r;

	if (!c || !c->qlen)
		return 0;
	r = &c->q[c->qhead & (HTTP_PIPELINE - 1)];
	record(c, r, how & 0xff, (how >> 8) & 0xffff, end_ns, resp_bytes, how >> 24);
	c->qhead = (c->qhead + 1) & (HTTP_PIPELINE - 1);
	c->qlen--;
	return 0;
}

/* The response in progress ends: it answers the oldest request. */
static __always_inline void response_done(struct http_conn *c, u64 now, u64 bytes,
					  bool in_close)
{
	u8 status = status_of(c->code);

	/* The client had gone before the server began to answer. */
	if (c->role == ROLE_SERVER && c->peer_closed_ns && c->peer_closed_ns <= c->resp_start_ns)
		status = HTTP_TIMEOUT;
	http_answer(c, now, bytes, ANSWER(status, c->code, in_close));
}

/*
 * The connection is ending. A response under way that began before the
 * client went away was cut off: an error, ending with its last write (a
 * timeout is a client gone before the server began to answer, README). The
 * requests behind it get no response.
 */
static __always_inline void abort_requests(struct http_conn *c, u64 now)
{
	struct http_dir *d = &c->dirs[DIR_RESP];
	u8 status = c->peer_closed_ns ? HTTP_TIMEOUT : HTTP_ERROR;
	u64 end = c->peer_closed_ns ? c->peer_closed_ns : now;
	int i;

	/*
	 * A call the server closed on is an error; one the agent gave up on
	 * (its socket ended first: a client-side timeout), a timeout.
	 */
	if (c->role == ROLE_CLIENT) {
		status = c->peer_closed_ns ? HTTP_ERROR : HTTP_TIMEOUT;
		end = now;
	}
	if (c->qlen && (d->state == P_BODY || d->state == P_CHUNKED) &&
	    !(c->role == ROLE_SERVER && c->peer_closed_ns && c->peer_closed_ns <= c->resp_start_ns))
		http_answer(c, c->last_send_ns ? c->last_send_ns : now, d->msg_bytes,
			    ANSWER(c->role == ROLE_CLIENT ? status : HTTP_ERROR, c->code, true));

	for (i = 0; i < HTTP_PIPELINE; i++) {
		if (!c->qlen)
			break;
		http_answer(c, end, 0, ANSWER(status, 0, true));
	}
}

/*
 * What the parse functions work on. Only the pointers are on the stack: the
 * call's own values are in the scratch map, where the global functions
 * below find them through s.
 */
struct parse_ctx {
	struct http_conn *c;
	struct scratch *s;
	struct call *k;		/* &s->call */
};

static __always_inline u64 now_of(struct parse_ctx *x)
{
	return clock_of(&x->k->now);
}

/* Matches the request line or status line in the window; fills method or code. */
static __always_inline bool message_start(struct parse_ctx *x, u32 len, u8 *method, u16 *code)
{
	return http_message_start(x->s->buf, len, x->k->dir == DIR_RESP, method, code);
}

static long route_char(u32 i, void *arg)
{
	struct scratch *s = *(struct scratch **)arg;
	struct http_route_state *r = &s->route;
	char *out = s->buf + HTTP_WINDOW - HTTP_ROUTE_LEN;
	u32 pos = r->start + i;

	if (pos >= r->len) {
		http_route_cut(r, out);
		return 1;
	}
	return http_route_char(r, out, s->buf[pos & HTTP_WINDOW_MASK]);
}

/*
 * The request's route id, registering the route if the agent has room
 * (then s->call.route_new is set). The path starts at path_off of the len
 * bytes in the scratch's buf. Global: verified once, on its own. It looks
 * the scratch up itself: Linux 6.1 takes only map values and the stack,
 * not a global function's memory argument, as a map element to store.
 */
__noinline u32 http_route_of(u32 agent, u32 path_off, u32 len, u32 may_wait)
{
	struct http_route_key key = { .agent = agent };
	struct http_route_state *r;
	struct scratch *s;
	u32 *count, zero = 0;
	char *out;

	s = bpf_map_lookup_elem(&http_scratch, &zero);
	if (!s)
		return HTTP_ROUTE_NONE;
	r = &s->route;
	out = s->buf + HTTP_WINDOW - HTTP_ROUTE_LEN;
	s->call.route_new = 0;
	http_route_begin(r, path_off, len);
	bpf_loop(HTTP_SCRATCH, route_char, &s, 0);
	/* Cut inside the path, with the rest to come: nothing is registered. */
	if (r->cut && may_wait)
		return HTTP_ROUTE_NONE;
	out[r->j & (HTTP_ROUTE_LEN - 1)] = '\0';
	key.id = http_route_id(r);
	if (bpf_map_lookup_elem(&http_routes, &key))
		return key.id;
	count = bpf_map_lookup_elem(&http_route_count, &key.agent);
	if (!count || *count >= max_routes)
		return HTTP_ROUTE_OTHER;
	if (bpf_map_update_elem(&http_routes, &key, out, BPF_NOEXIST) == 0) {
		__sync_fetch_and_add(count, 1);
		s->call.route_new = 1;
	}
	return key.id;
}


static long host_step(u32 i, void *arg)
{
	struct scratch *s = *(struct scratch **)arg;

	return http_host_step(s->buf, s->host_len, &s->host_pos, &s->host_at, &s->host_end);
}

/* Host names in lower case: a peer's id must not depend on how it was spelt. */
static __always_inline void lower_host(char *host)
{
	int i;

	for (i = 0; i < HTTP_HOST_LEN; i++) {
		if (host[i] >= 'A' && host[i] <= 'Z')
			host[i] |= 0x20;
	}
}

/*
 * The Host header of the request head in the scratch's first len bytes,
 * into its peer record. Global: checked once, whatever its caller's state.
 */
__noinline int http_host_take(struct scratch *s, u32 len)
{
	u32 at, n;

	if (!s)
		return 0;
	s->host_pos = 0;
	s->host_len = len;
	s->host_at = 0;
	s->host_end = 0;
	bpf_loop(HTTP_SCRATCH + HTTP_CARRY, host_step, &s, 0);
	if (!s->host_end)
		return 0;
	at = s->host_at;
	n = http_host_trim(s->buf, &at, s->host_end);
	bpf_probe_read_kernel(s->peer.host, clamp_size(n, HTTP_HOST_LEN - 1),
			      s->buf + (at & HTTP_WINDOW_MASK));
	lower_host(s->peer.host);
	return n;
}

/*
 * The peer id of a client connection, from its first request head (the
 * window's first len bytes in the scratch): a hash of its Host header, or
 * of the address it connected to when it sent none. New peers are
 * registered in http_peers up to max_peers; past them it is "other".
 * Global, and it looks the scratch up itself, as http_route_of() does.
 */
__noinline u32 http_peer_of(struct http_conn *c, u32 len)
{
	struct http_peer *p;
	struct scratch *s;
	u32 zero = 0, id, *count;
	u64 h = HTTP_ID_SEED;
	u8 *provider;

	s = bpf_map_lookup_elem(&http_scratch, &zero);
	if (!s || !c)
		return HTTP_PEER_OTHER;
	p = &s->peer;
	__builtin_memset(p, 0, sizeof(*p));
	http_host_take(s, len);
	/* A TLS call's peer is the server name it asked for (SNI), if it did. */
	if (c->tls) {
		struct tls_key k = { .tgid = c->pid, .ssl = c->sk };
		char *sni = bpf_map_lookup_elem(&tls_sni, &k);

		if (sni) {
			__builtin_memset(p->host, 0, sizeof(p->host));
			bpf_probe_read_kernel_str(p->host, sizeof(p->host), sni);
		}
	}
	__builtin_memcpy(p->addr, c->daddr, sizeof(p->addr));
	p->netns = c->netns;
	p->port = c->dport;
	p->family = c->family;
	if (p->host[0]) {
		id = http_host_id(p->host);
	} else {
		h = http_hash_word(h, load8((const char *)p->addr));
		h = http_hash_word(h, load8((const char *)p->addr + 8));
		h = http_hash_word(h, (u64)p->netns << 16 | p->port);
		id = http_id_fold(h);
	}
	/* A host of llm_hosts: the calls' bytes go to the daemon too. */
	if (llm_on && (provider = bpf_map_lookup_elem(&llm_hosts, &id)))
		c->llm = *provider;
	if (bpf_map_lookup_elem(&http_peers, &id))
		return id;
	count = bpf_map_lookup_elem(&http_peer_count, &zero);
	if (!count || *count >= max_peers) {
		count_drop(HTTP_DROP_PEERS_FULL);
		return HTTP_PEER_OTHER;
	}
	if (bpf_map_update_elem(&http_peers, &id, p, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(count, 1);
	return id;
}

/*
 * One line of the head scan (l7/http1.h), checked by the verifier once
 * rather than on every path through the loop. Returns 1 when the scan is over.
 */
__noinline int http_scan_line(struct scratch *s)
{
	if (!s)
		return 1;
	return http_head_line(&s->head, s->buf);
}

/* One step of the head scan: two lines (fewer calls per head). */
static long scan_step(u32 i, void *arg)
{
	struct scratch *s = *(struct scratch **)arg;

	if (http_scan_line(s))
		return 1;
	return http_scan_line(s) ? 1 : 0;
}

static __always_inline void carry_drop(struct parse_ctx *x)
{
	struct carry_key k = { .sk = x->c->sk, .dir = x->k->dir, .pad = x->c->tls ? x->c->pid : 0 };

	bpf_map_delete_elem(&http_carry, &k);
}

/* A message's head is complete: decide how its body is delimited. */
static __always_inline void head_done(struct parse_ctx *x, struct http_head *h, u8 method)
{
	struct http_conn *c = x->c;
	struct http_dir *d = &c->dirs[x->k->dir & 1];
	struct http_req *front = NULL;
	struct http_req *r;
	u8 framing;

	d->msg_bytes = d->head_bytes + h->end;
	if (x->k->dir == DIR_REQ) {
		if (c->qlen >= HTTP_PIPELINE) {
			count_drop(HTTP_DROP_PIPELINE_FULL);
			route_abandoned(c, d);
		} else {
			r = &c->q[(c->qhead + c->qlen) & (HTTP_PIPELINE - 1)];
			r->start_ns = d->msg_start_ns;
			r->bytes = d->msg_bytes;
			r->seq = c->seq;
			r->method = method;
			r->route = d->route;
			r->route_new = d->route_new;
			d->route_new = 0;	/* the request has it now */
			c->qlen++;
			active_add(c, REQ_STARTED);
		}
		c->seq++;
		framing = http_framing(h, false, method, 0);
	} else {
		c->resp_start_ns = d->msg_start_ns;
		front = queue_front(c);
		framing = http_framing(h, true, front ? front->method : HTTP_M_OTHER, c->code);
	}
	switch (framing) {
	case HTTP_CHUNKS:
		d->state = P_CHUNKED;
		d->body.chunk_state = CH_SIZE;
		d->body.remaining = d->body.chunk_ext = d->body.chunk_line = 0;
		break;
	case HTTP_LENGTH:
		d->state = P_BODY;
		d->body.remaining = h->content_length;
		break;
	case HTTP_INTERIM:
		/* The final response follows. 101 switches protocols. */
		d->state = P_IDLE;
		if (c->code == 101) {
			response_done(c, now_of(x), d->msg_bytes, false);
			c->role = ROLE_OTHER;
		}
		break;
	case HTTP_TO_CLOSE:
		/*
		 * A proxy's tunnel (CONNECT answered 2xx) is no call of its own:
		 * the calls inside it are the TLS probes'.
		 */
		if (x->k->dir == DIR_RESP && front && front->method == HTTP_M_CONNECT &&
		    c->code >= 200 && c->code < 300) {
			d->state = P_IDLE;
			response_done(c, now_of(x), d->msg_bytes, false);
			c->role = ROLE_OTHER;
			break;
		}
		d->state = P_CLOSE;
		break;
	default:
		d->state = P_IDLE;
		if (x->k->dir == DIR_RESP)
			response_done(c, now_of(x), d->msg_bytes, false);
	}
}

/* The request/response body ended at the current offset. */
static __always_inline void body_done(struct parse_ctx *x)
{
	struct http_conn *c = x->c;
	struct http_dir *d = &c->dirs[x->k->dir & 1];
	struct http_req *r;

	d->state = P_IDLE;
	if (x->k->dir == DIR_RESP) {
		response_done(c, now_of(x), d->msg_bytes, false);
		return;
	}
	/*
	 * The request just framed is the newest in the queue, if it was queued
	 * (not past a full queue) and not answered yet: the seq tells.
	 */
	if (c->qlen) {
		r = &c->q[(c->qhead + c->qlen - 1) & (HTTP_PIPELINE - 1)];
		if (r->seq == c->seq - 1)
			r->bytes = d->msg_bytes;
	}
}

/*
 * This direction's framing is lost until a call starts a message. A
 * response under way answered the front request: frame() counts it as it
 * stood, or each later response would be paired with the request before
 * its own. Returns what parse_step returns.
 */
static __always_inline long framing_lost(struct parse_ctx *x, struct http_dir *d)
{
	if (x->c->role == ROLE_SERVER)
		count_drop(HTTP_DROP_DESYNC);
	if (x->k->dir == DIR_RESP && d->state != P_IDLE && d->state != P_START && d->state != P_SKIP)
		x->c->resp_cut = 1;
	if (x->k->dir == DIR_REQ)
		route_abandoned(x->c, d);
	d->state = P_SKIP;
	x->k->off = x->k->total;
	return 1;
}

/*
 * Frames a chunked body: chunk data is skipped by count like a
 * Content-Length body; only the short size and trailer lines are read.
 * Returns what parse_step returns.
 */
static __always_inline long chunk_step(struct parse_ctx *x, struct http_dir *d, u32 left)
{
	char b[HTTP_CHUNK_LINE];
	bool ended;
	u32 n, k;

	if (d->body.chunk_state == CH_DATA) {
		if (d->body.remaining > left) {
			d->body.remaining -= left;
			d->msg_bytes += left;
			x->k->off = x->k->total;
			return 1;
		}
		x->k->off += d->body.remaining;
		d->msg_bytes += d->body.remaining;
		d->body.remaining = 0;
		d->body.chunk_state = CH_SIZE;
		return 0;
	}
	if (!x->k->io.buf || x->k->off >= x->k->io.len)
		return framing_lost(x, d);
	n = x->k->io.len - x->k->off;
	if (n > sizeof(b))
		n = sizeof(b);
	if (bpf_probe_read_user(b, clamp_size(n, sizeof(b)), x->k->io.buf + x->k->off))
		return 1;
	k = http_chunk_lines(&d->body, b, n, &ended);
	x->k->off += k;
	d->msg_bytes += k;
	if (ended)
		body_done(x);
	return 0;
}

/* Keeps keep bytes of the window, from from on, for the call to come. */
static __always_inline bool carry_keep(struct parse_ctx *x, struct carry_key *ck, u32 from,
				       u32 keep)
{
	struct carry *nc;

	bpf_map_update_elem(&http_carry, ck, &zero_carry, BPF_ANY);
	nc = bpf_map_lookup_elem(&http_carry, ck);
	if (!nc)
		return false;
	nc->len = keep;
	bpf_probe_read_kernel(nc->buf, clamp_size(keep, HTTP_CARRY),
			      x->s->buf + clamp_size(from, HTTP_SCRATCH + HTTP_CARRY));
	return true;
}

/*
 * A request starts when its bytes became readable, if we saw that, else
 * now: at its first bytes, so not again when they were carried (P_START).
 */
static __always_inline void request_starts(struct parse_ctx *x, struct http_dir *d)
{
	if (d->state != P_START)
		d->msg_start_ns = x->c->data_ready_ns && x->c->role != ROLE_CLIENT ?
				  x->c->data_ready_ns : now_of(x);
}

/*
 * A message start waits for the call to come: its len bytes are carried,
 * and a request's time starts now. Returns false if they cannot be kept.
 */
static __always_inline bool start_waits(struct parse_ctx *x, struct http_dir *d,
					struct carry_key *ck, u32 len)
{
	if (!carry_keep(x, ck, 0, len))
		return false;
	if (x->k->dir == DIR_REQ)
		request_starts(x, d);
	d->state = P_START;
	x->k->off = x->k->total;
	return true;
}

/*
 * Frames one message (or the rest of one) from s->call.off; returns 1 when
 * done. Global: the verifier checks it once, on its own, instead of once
 * per state the loop around it could be in.
 */
__noinline int http_parse_step(struct http_conn *conn, struct scratch *s)
{
	struct parse_ctx ctx = { .c = conn, .s = s }, *x = &ctx;
	struct http_conn *c = conn;
	struct http_dir *d;
	struct carry_key ck;
	struct http_head *h;
	struct scratch *scratch;
	struct carry *cr;
	u32 left, carried = 0, len;
	u64 avail;
	u8 method = 0;
	u16 code = 0;

	if (!c || !s)
		return 1;
	x->k = &s->call;
	d = &c->dirs[x->k->dir & 1];
	ck = (struct carry_key){ .sk = c->sk, .dir = x->k->dir, .pad = c->tls ? c->pid : 0 };
	h = &s->head;
	if (x->k->off >= x->k->total)
		return 1;
	left = x->k->total - x->k->off;
	switch (d->state) {
	case P_BODY:
		/* An LLM request's body after its head in this call (at 0: http_frame's). */
		if (c->llm && x->k->dir == DIR_REQ && x->k->off)
			llm_capture(c, (c->seq - 1) << 1 | DIR_REQ, (u64)x->k->io.buf + x->k->off,
				    d->body.remaining < left ? d->body.remaining : left,
				    x->k->io.len > x->k->off ? x->k->io.len - x->k->off : 0);
		if (d->body.remaining > left) {
			d->body.remaining -= left;
			d->msg_bytes += left;
			x->k->off = x->k->total;
			return 1;
		}
		x->k->off += d->body.remaining;
		d->msg_bytes += d->body.remaining;
		d->body.remaining = 0;
		body_done(x);
		return 0;
	case P_CHUNKED:
		return chunk_step(x, d, left);
	case P_CLOSE:
		d->msg_bytes += left;
		x->k->off = x->k->total;
		return 1;
	}

	/*
	 * A head, parsed in windows of HTTP_SCRATCH bytes. A line cut by the
	 * end of a window (or of a call) is carried into the next one; only
	 * its first HTTP_CARRY bytes matter, the framing headers being short.
	 */
	__builtin_memset(h, 0, sizeof(*h));
	if (d->state == P_HEAD || d->state == P_START) {
		cr = bpf_map_lookup_elem(&http_carry, &ck);
		if (!cr || cr->len > HTTP_CARRY)
			return framing_lost(x, d);
		carried = clamp_size(cr->len, HTTP_CARRY);
		bpf_probe_read_kernel(x->s->buf, clamp_size(carried, HTTP_CARRY), cr->buf);
		if (d->state == P_HEAD) {
			h->content_length = d->head_length;
			h->has_length = d->head_has_length;
			h->chunked = d->head_chunked;
			h->in_headers = d->head_in_headers;
		}
	}
	/* The rest is not in the first buffer. */
	if (!x->k->io.buf || x->k->off >= x->k->io.len)
		return framing_lost(x, d);
	avail = (u64)x->k->io.len - (u64)x->k->off;
	if (avail > HTTP_SCRATCH)
		avail = HTTP_SCRATCH;
	if (carried > HTTP_CARRY)
		return 1;
	avail = clamp_size(avail, HTTP_SCRATCH);
	if (bpf_probe_read_user(x->s->buf + carried, avail, x->k->io.buf + x->k->off))
		return 1;
	len = carried + avail;
	h->len = len;

	if (d->state != P_HEAD) {
		if (!message_start(x, len, &method, &code)) {
			/*
			 * Too few bytes to tell, and the call has no more: a read
			 * or write that ended a few bytes into a message (a
			 * pipelined request cut by the reader's buffer). They wait
			 * for the next call, and a request's time starts now.
			 */
			if (len < HTTP_START_MIN(x->k->dir == DIR_RESP) && x->k->off + avail >= x->k->total &&
			    start_waits(x, d, &ck, len))
				return 1;
			/*
			 * Not a request here. A connection joined mid-message (the
			 * agent was found while it was busy) gets a few calls to show
			 * a message start; other protocols stop costing after that.
			 */
			if (c->role == ROLE_UNKNOWN && ++c->undecided >= 4)
				c->role = ROLE_OTHER;
			d->state = P_SKIP;
			x->k->off = x->k->total;
			return 1;
		}
		d->method = method;
		d->head_bytes = 0;
		d->route = HTTP_ROUTE_NONE;
		if (x->k->dir == DIR_REQ && c->role == ROLE_CLIENT) {
			if (c->peer == HTTP_PEER_NONE)
				c->peer = http_peer_of(c, len);
		} else if (x->k->dir == DIR_REQ) {
			c->role = ROLE_SERVER;
		}
		if (x->k->dir == DIR_REQ) {
			if (trace_requests) {
				/*
				 * The raw bytes after the method, none past the window
				 * (the scratch holds older calls' there); userspace cuts
				 * at the space.
				 */
				struct path_key pk = { .sk = c->sk, .seq = c->seq,
						       .pad = c->tls ? c->pid : 0 };
				u32 sp = http_method_len(method), zero = 0;
				/* A map value to store from, for 6.1: see http_route_of(). */
				struct scratch *sv = bpf_map_lookup_elem(&http_scratch, &zero);
				char *path;

				if (sv) {
					path = sv->buf + HTTP_WINDOW - HTTP_PATH_LEN;
					__builtin_memset(path, 0, HTTP_PATH_LEN);
					bpf_probe_read_kernel(path, clamp_size(len - sp, HTTP_PATH_LEN),
							      sv->buf + (sp & 15));
					bpf_map_update_elem(&http_paths, &pk, path, BPF_ANY);
				}
			}
			d->route_new = 0;
			if (label_route && c->role == ROLE_SERVER) {
				/*
				 * A call that ended inside the path: the route is
				 * taken once the rest arrives, not from the part read.
				 */
				bool may_wait = x->k->off + avail >= x->k->total && len <= HTTP_CARRY;

				d->route = http_route_of(c->agent, http_method_len(method), len, may_wait);
				d->route_new = x->s->call.route_new;
				if (may_wait && x->s->route.cut && start_waits(x, d, &ck, len))
					return 1;
			}
		} else {
			c->code = code;
		}
		/*
		 * A response's start is a call's first byte; to a server it
		 * matters only to tell whether the client had already gone: the
		 * clock is read only then.
		 */
		if (x->k->dir == DIR_REQ)
			request_starts(x, d);
		else if (c->role == ROLE_CLIENT)
			d->msg_start_ns = c->data_ready_ns ? c->data_ready_ns : now_of(x);
		else
			d->msg_start_ns = c->peer_closed_ns ? now_of(x) : 0;
		/*
		 * Only a head that starts here has a start line to compare from
		 * (a head going on may carry nothing: its last piece ended just
		 * after a line). A match sets h->end.
		 */
		h->starts = 1;
		http_layout_match(&c->layout[x->k->dir & 1], h, x->s->buf);
	}

	scratch = x->s;
	if (!h->end) {
		bpf_loop(HTTP_SCRATCH + HTTP_CARRY, scan_step, &scratch, 0);
		if (h->end && h->starts)
			http_layout_keep(&c->layout[x->k->dir & 1], &scratch->head, scratch->buf);
	}
	if (!h->end) {
		/* The head goes on: carry its unfinished line to the next window. */
		u32 line = h->line_start < len ? h->line_start : len;
		u32 keep = len - line;

		if (keep > HTTP_CARRY)
			keep = HTTP_CARRY;
		d->head_bytes += len - keep;
		d->head_length = h->content_length;
		d->head_has_length = h->has_length;
		d->head_chunked = h->chunked;
		d->head_in_headers = h->in_headers;
		if (!carry_keep(x, &ck, line, keep))
			return framing_lost(x, d);
		d->state = P_HEAD;
		x->k->off += len - carried;
		return 0;
	}
	if (carried)
		carry_drop(x);
	x->k->off += h->end - carried;
	head_done(x, h, d->method);
	return 0;
}

static long parse_step(u32 idx, void *arg)
{
	struct parse_ctx *x = arg;

	/* A global function's result is any int to the verifier; a callback's is 0 or 1. */
	return http_parse_step(x->c, x->s) ? 1 : 0;
}

/*
 * The bytes of an LLM call's socket or TLS call for the daemon, before they
 * are framed: a response's all, a request's from its body on (its head,
 * with the API key, stays here). A body that follows its head in the same
 * call is http_parse_step()'s to send.
 */
static __always_inline void llm_take(struct http_conn *c, struct http_dir *d, u32 dir, u32 ret,
				     const char *plain)
{
	struct http_req *front = queue_front(c);
	struct io io = { .buf = plain, .len = ret };
	u32 seq;

	if (dir == DIR_RESP) {
		if (!front)
			return;
		seq = front->seq;
	} else {
		if (d->state != P_BODY)
			return;
		seq = c->seq - 1;
		if ((u64)ret > d->body.remaining)
			ret = d->body.remaining;
	}
	if (!plain)
		find_io(&io, ret);
	llm_capture(c, seq << 1 | (dir & 1), (u64)io.buf, ret, io.len);
}

/*
 * Frames the ret bytes of a call in direction dir on the connection: a
 * socket call's (plain NULL: where they are comes from the syscall's
 * registers), or the plaintext of a TLS call at plain. Inlined in each
 * program: what it calls is checked once either way.
 */
static __always_inline int http_frame(struct http_conn *c, u32 dir, u32 ret, const char *plain,
				      u64 now)
{
	struct parse_ctx ctx = { .c = c }, *x = &ctx;
	struct http_dir *d;
	u32 zero = 0;

	if (!c)
		return 0;
	d = &c->dirs[dir & 1];
	x->s = bpf_map_lookup_elem(&http_scratch, &zero);
	if (!x->s)
		return 0;
	x->k = &x->s->call;
	x->k->now = now;	/* 0: read when first needed */
	x->k->dir = dir & 1;
	x->k->total = ret;
	x->k->off = 0;
	if (c->llm)
		llm_take(c, d, dir, ret, plain);
	/*
	 * The common body call (a sendfile, a large upload's next read) ends
	 * at or before the body's end: count it without looking at its bytes,
	 * and read the clock only if it ends the message.
	 */
	if (d->state == P_BODY && d->body.remaining >= (u64)ret) {
		d->body.remaining -= ret;
		d->msg_bytes += ret;
		if (!d->body.remaining) {
			x->k->off = ret;
			body_done(x);
		}
		return 0;
	}
	if (plain) {
		x->k->io.buf = plain;
		x->k->io.len = ret;
		x->k->io.iovcnt = 0;
		x->k->io.iov = NULL;
	} else {
		find_io(&x->k->io, ret);
	}
	/* A call that does not start a message cannot resync a lost framing. */
	if (d->state == P_SKIP)
		d->state = P_IDLE;
	/*
	 * Nearly every call holds one message, or the end of one: its step is
	 * called directly, the loop runs only for more. Each BPF-to-BPF call
	 * costs here (a return thunk on this kernel's CPUs), and a step
	 * through bpf_loop is two.
	 */
	if (!http_parse_step(c, x->s) && x->k->off < x->k->total)
		bpf_loop(HTTP_MSGS_PER_CALL - 1, parse_step, x, 0);
	/* More messages in one call than we frame: count it, resync later. */
	if (x->k->off < x->k->total && d->state != P_BODY && d->state != P_CLOSE)
		framing_lost(x, d);
	if (dir == DIR_RESP && c->resp_cut) {
		c->resp_cut = 0;
		response_done(c, now_of(x), d->msg_bytes, false);
	}
	/*
	 * A body that goes on past this call ends with its last write, if the
	 * connection's close delimits it or cuts it off.
	 */
	if (dir == DIR_RESP && (d->state == P_CLOSE || d->state == P_BODY || d->state == P_CHUNKED))
		c->last_send_ns = now_of(x);
	return 0;
}

/* The connection of a member process, created on its first TCP read. */
static __always_inline struct http_conn *conn_of(struct sock *sk, bool create)
{
	struct http_conn *c;
	u32 tgid;
	int agent;

	/*
	 * A socket with state is a member's connection: no pid lookup on the
	 * agent's own calls. Other processes' sockets have no storage, so the
	 * lookup below is what every other TCP call on the host pays.
	 */
	c = sk_state(&http_conns, sk);
	if (c || !create)
		return c;
	agent = member_tcp(sk, &tgid);
	if (agent < 0)
		return NULL;
	c = bpf_sk_storage_get(&http_conns, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (c) {
		c->sk = (u64)sk;
		c->agent = agent;
		c->pid = tgid;
		/* Where it goes and from where: a call's peer, a server's port. */
		c->netns = sk->__sk_common.skc_net.net->ns.inum;
		c->lport = sk->__sk_common.skc_num;
		c->dport = bpf_ntohs(sk->__sk_common.skc_dport);
		c->family = sk->__sk_common.skc_family;
		if (c->family == AF_INET6)
			bpf_probe_read_kernel(c->daddr, sizeof(c->daddr),
					      &sk->__sk_common.skc_v6_daddr);
		else
			__builtin_memcpy(c->daddr, &sk->__sk_common.skc_daddr, 4);
	}
	return c;
}

/*
 * A socket recvmsg returned ret. Both hooks below hand their calls here:
 * the sock_recv_length tracepoint, and on kernels without it (before 6.3)
 * fexit on sock_recvmsg, which the tracepoint sits in. Only the tracepoint
 * programs dispatch to the bus family: the kernel lets a program array
 * serve programs of one attach prototype, and sock_recvmsg's is not
 * sock_sendmsg's; with fexit the bus family attaches its own programs.
 */
static __always_inline int on_recv(void *ctx, struct sock *sk, int ret, int flags,
				   bool dispatch)
{
	struct http_conn *c;

	if ((flags & MSG_PEEK) || ret < 0)
		return 0;
	/* An agent's Redis or NATS connection: the bus family's. */
	if (remote_port_in(sk, other_ports, nother_ports)) {
		if (dispatch && ret > 0)
			bpf_tail_call(ctx, &sock_next, HTTP_NEXT_RECV);
		return 0;
	}
	c = conn_of(sk, ret > 0);
	if (!c || c->role == ROLE_OTHER)
		return 0;
	if (ret == 0) {
		/* EOF: the peer is gone (or half-closed). */
		if (!c->peer_closed_ns)
			c->peer_closed_ns = bpf_ktime_get_boot_ns();
		/* A response delimited by the close is complete. */
		if (c->role == ROLE_CLIENT && c->dirs[DIR_RESP].state == P_CLOSE) {
			c->dirs[DIR_RESP].state = P_IDLE;
			response_done(c, c->peer_closed_ns, c->dirs[DIR_RESP].msg_bytes, false);
		}
		return 0;
	}
	/* A client reads responses. */
	http_frame(c, c->role == ROLE_CLIENT ? DIR_RESP : DIR_REQ, ret, NULL, 0);
	/*
	 * Which agent answers on this port, for the calls that reach it: noted
	 * here, from the socket storage (a global function's memory cannot be
	 * stored on 6.1, and a stack copy there cost the verifier 12k more).
	 */
	if (c->role == ROLE_SERVER && !c->port_noted) {
		struct http_server_port sp = { .netns = c->netns, .port = c->lport };

		bpf_map_update_elem(&http_server_ports, &sp, &c->agent, BPF_ANY);
		c->port_noted = 1;
	}
	/* Later data is a later request's, unless it is this one's body. */
	c->data_ready_ns = 0;
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(http_recv, struct sock *sk, int ret, int flags)
{
	return on_recv(ctx, sk, ret, flags, true);
}

SEC("fexit/sock_recvmsg")
int BPF_PROG(http_recv_fexit, struct socket *sock, struct msghdr *msg, int flags, int ret)
{
	return on_recv(ctx, sock->sk, ret, flags, false);
}

/*
 * Data arrived on a socket (softirq, any task). On a server connection that
 * waits for its next request, that is when the request became available to
 * the agent, however long the agent takes to read it.
 */
SEC("tp_btf/sk_data_ready")
int BPF_PROG(http_data_ready, const struct sock *sk)
{
	struct http_conn *c;

	/* Sockets without any BPF storage leave first, the agents' bus connections next. */
	if (!sk->sk_bpf_storage || remote_port_in(sk, other_ports, nother_ports))
		return 0;
	c = sk_state(&http_conns, sk);
	if (!c || c->data_ready_ns)
		return 0;
	/* ... and on a client's, when its response's first bytes came. */
	if ((c->role == ROLE_SERVER && c->dirs[DIR_REQ].state == P_IDLE) ||
	    (c->role == ROLE_CLIENT && c->qlen && c->dirs[DIR_RESP].state == P_IDLE))
		c->data_ready_ns = bpf_ktime_get_boot_ns();
	return 0;
}

/*
 * The agent writes on a connection whose role is not known yet: a response
 * means an HTTP server joined mid-request; a request means the agent is the
 * client, making a call; anything else waits a few calls. Returns whether
 * the write is HTTP to frame.
 */
static __always_inline bool role_of_write(struct http_conn *c, int ret)
{
	struct io io;
	u64 w = 0;
	u16 code;
	u8 m;

	find_io(&io, ret);
	if (!io.buf || io.len < 8 || bpf_probe_read_user(&w, 8, io.buf))
		return false;
	if ((w & 0xffffffffffffffull) == 0x2e312f50545448ull) {	/* "HTTP/1." */
		c->role = ROLE_SERVER;
		return true;
	}
	if (http_message_start((const char *)&w, 8, false, &m, &code)) {
		c->role = outbound ? ROLE_CLIENT : ROLE_OTHER;
		return outbound;
	}
	if (++c->undecided >= 4)
		c->role = ROLE_OTHER;
	return false;
}

/* A socket sendmsg returned ret: as on_recv(). */
static __always_inline int on_send(void *ctx, struct sock *sk, int ret, bool dispatch)
{
	struct http_conn *c;

	if (ret <= 0)
		return 0;
	if (remote_port_in(sk, other_ports, nother_ports)) {
		if (dispatch)
			bpf_tail_call(ctx, &sock_next, HTTP_NEXT_SEND);
		return 0;
	}
	c = conn_of(sk, true);
	if (!c || c->role == ROLE_OTHER)
		return 0;
	if (c->role == ROLE_UNKNOWN && !role_of_write(c, ret))
		return 0;
	/* A client writes requests. */
	http_frame(c, c->role == ROLE_CLIENT ? DIR_REQ : DIR_RESP, ret, NULL, 0);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(http_send, struct sock *sk, int ret, int flags)
{
	return on_send(ctx, sk, ret, true);
}

/*
 * Not sock_sendmsg: net/socket.c's own callers (write, sendto, sendmsg)
 * get it inlined on Debian's 6.1, so its fexit saw no response. tcp_sendmsg
 * is called across files, v4 and v6 alike, with the same arguments since 4.x.
 */
SEC("fexit/tcp_sendmsg")
int BPF_PROG(http_send_fexit, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	return on_send(ctx, sk, ret, false);
}

/* sendfile before 6.5 (nginx's bodies): its bytes are counted, not read. */
SEC("fexit/tcp_sendpage")
int BPF_PROG(http_sendpage_fexit, struct sock *sk, struct page *page, int offset, size_t size,
	     int flags, int ret)
{
	return on_send(ctx, sk, ret, false);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(http_state, const struct sock *sk, int oldstate, int newstate)
{
	struct http_conn *c;

	if (newstate != TCP_CLOSE_WAIT)
		return 0;
	c = sk_state(&http_conns, sk);
	if (c && !c->peer_closed_ns)
		c->peer_closed_ns = bpf_ktime_get_boot_ns();
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(http_destroy, struct sock *sk)
{
	u64 now = bpf_ktime_get_boot_ns();
	struct http_conn *c;

	c = sk_state(&http_conns, sk);
	if (!c)
		return 0;
	route_abandoned(c, &c->dirs[DIR_REQ]);
	if (c->role == ROLE_SERVER || c->role == ROLE_CLIENT) {
		/* A body delimited by the close ended with its last call. */
		if (c->dirs[DIR_RESP].state == P_CLOSE)
			response_done(c, c->last_send_ns, c->dirs[DIR_RESP].msg_bytes, true);
		abort_requests(c, now);
	}
	bpf_sk_storage_delete(&http_conns, sk);
	return 0;
}

/*
 * TLS: uprobes on the OpenSSL each agent maps (libssl, or a binary that
 * has it built in, as Node.js does) see the plaintext of its calls, whether
 * OpenSSL does the socket I/O (a socket BIO) or the program does
 * (memory BIOs: asyncio). The bytes go to the same framing as a socket
 * call's, on a connection state kept per (process, SSL*). Any other process
 * using the library leaves after the membership check. The socket hooks see
 * only ciphertext on these connections and give them up as no HTTP.
 */

/* SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, type, name): the server name asked for. */
#define SSL_CTRL_SET_TLSEXT_HOSTNAME	55

SEC("uprobe")
int BPF_KPROBE(tls_ctrl, void *ssl, int cmd, long larg, const char *name)
{
	struct tls_key k = { .ssl = (u64)ssl };
	char host[HTTP_HOST_LEN] = {};

	if (cmd != SSL_CTRL_SET_TLSEXT_HOSTNAME || !name)
		return 0;
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	if (!member_agent(k.tgid))
		return 0;
	if (bpf_probe_read_user_str(host, sizeof(host), name) > 1) {
		lower_host(host);
		bpf_map_update_elem(&tls_sni, &k, host, BPF_ANY);
	}
	return 0;
}

/*
 * The connection state of an agent's SSL*, created by its first write
 * that starts a request: the agent is the client. Only clients are
 * followed over TLS (a connection upgraded away, 101, is left).
 */
static __always_inline struct http_conn *tls_conn(u32 tgid, u64 ssl, const char *buf, u64 num,
						  bool create)
{
	struct tls_key k = { .tgid = tgid, .ssl = ssl };
	struct http_conn *c;
	u32 *agent;
	u64 w = 0;
	u16 code;
	u8 m;

	c = bpf_map_lookup_elem(&tls_conns, &k);
	if (c || !create || !outbound || num < 8)
		return c && c->role == ROLE_CLIENT ? c : NULL;
	agent = member_agent(tgid);
	if (!agent || *agent >= AGENTBPF_MAX_AGENTS)
		return NULL;
	if (bpf_probe_read_user(&w, 8, buf) ||
	    !http_message_start((const char *)&w, 8, false, &m, &code))
		return NULL;
	bpf_map_update_elem(&tls_conns, &k, &zero_conn, BPF_NOEXIST);
	c = bpf_map_lookup_elem(&tls_conns, &k);
	if (c) {
		c->sk = ssl;
		c->agent = *agent;
		c->pid = tgid;
		c->tls = 1;
		c->role = ROLE_CLIENT;
	}
	return c;
}

/*
 * SSL_write(ssl, buf, num) and SSL_write_ex(ssl, buf, num, written), at
 * entry: the plaintext to be sent, framed now, when the caller is an
 * agent. Taken at the return instead, a write would cost every process
 * that maps the library a second trap (9.9 against 7.3 us per TLS call,
 * docs/BENCHMARKS.md). What that gives up: a write OpenSSL could not finish
 * (SSL_ERROR_WANT_WRITE) is called again with the same bytes and seen
 * twice. A body seen again is no message start and is skipped; only a
 * retried write that starts with a request head would count twice, and
 * heads are written alone and small.
 */
static __always_inline int tls_write_starts(void *ssl, const char *buf, s64 num)
{
	u64 id = bpf_get_current_pid_tgid();
	struct http_conn *c;

	if (num <= 0 || num > 0x7fffffff || !member_agent(id >> 32))
		return 0;
	c = tls_conn(id >> 32, (u64)ssl, buf, num, true);
	if (!c)
		return 0;
	/*
	 * OpenSSL's contract for a write that could not go yet (the handshake
	 * under way, SSL_ERROR_WANT_*): called again with the same buffer and
	 * length. Node writes its first request so, once per handshake step.
	 * A request that would start again from the same bytes, with nothing
	 * read since, is that retry; a body is not compared (a program may
	 * send a file through one buffer).
	 */
	if (c->dirs[DIR_REQ].state == P_IDLE && c->tls_wbuf == (u64)buf && c->tls_wlen == num &&
	    !c->tls_read)
		return 0;
	c->tls_wbuf = (u64)buf;
	c->tls_wlen = num;
	c->tls_read = 0;
	http_frame(c, DIR_REQ, num, buf, 0);
	return 0;
}

/*
 * Both: their first three arguments are alike. num is an int or a size_t:
 * its low 32 bits (an int's register has undefined high bits), under 2 GB.
 */
SEC("uprobe")
int BPF_KPROBE(tls_write, void *ssl, const void *buf, long num)
{
	return tls_write_starts(ssl, buf, (u32)num);
}

/*
 * SSL_read/SSL_read_ex at entry: where the plaintext goes, kept for the
 * return, when the caller is an agent.
 */
static __always_inline int tls_call_starts(void *ssl, const void *buf, void *count)
{
	struct tls_call call = { .ssl = (u64)ssl, .buf = (u64)buf, .count = (u64)count };
	u64 id = bpf_get_current_pid_tgid();

	/* Any other process leaves here. */
	if (!member_agent(id >> 32))
		return 0;
	bpf_map_update_elem(&tls_calls, &id, &call, BPF_ANY);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_read, void *ssl, void *buf, int num)
{
	return tls_call_starts(ssl, buf, NULL);
}

SEC("uprobe")
int BPF_KPROBE(tls_read_ex, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return tls_call_starts(ssl, buf, readbytes);
}

/*
 * The bytes a read moved: SSL_read returns them (<= 0: none), SSL_read_ex
 * 1 with the count at its size_t *.
 */
static __always_inline u64 tls_moved(const struct tls_call *call, int ret)
{
	u64 n = 0;

	if (call->count)
		return ret == 1 && !bpf_probe_read_user(&n, sizeof(n), (void *)call->count) &&
		       n <= 0x7fffffff ? n : 0;
	return ret > 0 ? ret : 0;
}

/*
 * ... and the plaintext read. SSL_read returns 0 when the peer closed the
 * connection (then a response delimited by the close is complete); of
 * SSL_read_ex's 0 nothing tells that apart from "no data yet".
 */
SEC("uretprobe")
int BPF_KRETPROBE(tls_read_ret, int ret)
{
	u64 id = bpf_get_current_pid_tgid(), n;
	struct tls_call *call;
	struct http_conn *c;

	call = bpf_map_lookup_elem(&tls_calls, &id);
	if (!call)
		return 0;
	c = tls_conn(id >> 32, call->ssl, NULL, 0, false);
	n = tls_moved(call, ret);
	if (c && n) {
		c->tls_read = 1;
		http_frame(c, DIR_RESP, n, (const char *)call->buf, 0);
	} else if (c && ret == 0 && !call->count) {
		if (!c->peer_closed_ns)
			c->peer_closed_ns = bpf_ktime_get_boot_ns();
		if (c->dirs[DIR_RESP].state == P_CLOSE) {
			c->dirs[DIR_RESP].state = P_IDLE;
			response_done(c, c->peer_closed_ns, c->dirs[DIR_RESP].msg_bytes, false);
		}
	}
	bpf_map_delete_elem(&tls_calls, &id);
	return 0;
}

/* SSL_free(ssl): the connection's end, as tcp_destroy_sock is a socket's. */
SEC("uprobe")
int BPF_KPROBE(tls_free, void *ssl)
{
	struct tls_key k = { .ssl = (u64)ssl };
	struct http_conn *c;

	k.tgid = bpf_get_current_pid_tgid() >> 32;
	if (!member_agent(k.tgid))
		return 0;
	c = bpf_map_lookup_elem(&tls_conns, &k);
	if (c && c->role == ROLE_CLIENT) {
		if (c->dirs[DIR_RESP].state == P_CLOSE)
			response_done(c, c->last_send_ns, c->dirs[DIR_RESP].msg_bytes, true);
		abort_requests(c, bpf_ktime_get_boot_ns());
	}
	bpf_map_delete_elem(&tls_conns, &k);
	bpf_map_delete_elem(&tls_sni, &k);
	return 0;
}
