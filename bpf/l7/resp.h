/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Redis RESP parse steps as functions of bytes and length: which command a
 * name is, a value's type byte, a short bulk string's header. bpf/bus.bpf.c
 * calls them; they compile on the host too (tests/unit/test_l7_resp.c).
 */
#ifndef AGENTBPF_L7_RESP_H
#define AGENTBPF_L7_RESP_H

#include "bus_conn.h"

/* Commands whose replies mean something here. */
enum bus_op {
	OP_OTHER,
	OP_PUSH,	/* LPUSH RPUSH LPUSHX RPUSHX: reply = list length */
	OP_POP,		/* LPOP RPOP LMOVE RPOPLPUSH BLMOVE BRPOPLPUSH: element or nil */
	OP_BPOP,	/* BLPOP BRPOP: [key, element] or nil */
	OP_LLEN,
	OP_XADD,
	OP_XLEN,
	OP_XREAD,	/* XREAD XREADGROUP: entries delivered */
	OP_XACK,
	OP_XPENDING,
	OP_PUBLISH,	/* PUBLISH SPUBLISH */
	OP_SUBSCRIBE,	/* SUBSCRIBE PSUBSCRIBE SSUBSCRIBE: one confirmation per channel */
	OP_UNSUBSCRIBE,
	OP_GET,		/* GET HGET GETDEL GETEX: value = hit, nil = miss */
	OP_MGET,	/* MGET HMGET: per element */
	OP_EXISTS,	/* EXISTS: reply = keys that exist */
	OP_HEXISTS,	/* HEXISTS: 1 or 0 */
	OP_MULTI,
	OP_EXEC,	/* EXEC DISCARD */
	OP_RESET,	/* RESET: no transaction, no subscriptions, RESP2 */
	OP_SKIP,	/* commands past the queue: their replies are counted off unread */
};

/*
 * A command's op from its name: w its first 8 bytes in lower case (cut to
 * len), ninth its ninth byte (any case), len its length.
 */
static __always_inline u8 resp_command_op(u64 w, char ninth, u32 len)
{
	if (len == 10) {
		ninth |= 0x20;
		if (w == W('b', 'r', 'p', 'o', 'p', 'l', 'p', 'u') && ninth == 's')
			return OP_POP;		/* brpoplpush */
		if (w == W('x', 'r', 'e', 'a', 'd', 'g', 'r', 'o') && ninth == 'u')
			return OP_XREAD;	/* xreadgroup */
		if ((w == W('p', 's', 'u', 'b', 's', 'c', 'r', 'i') ||
		     w == W('s', 's', 'u', 'b', 's', 'c', 'r', 'i')) && ninth == 'b')
			return OP_SUBSCRIBE;	/* psubscribe, ssubscribe */
		return OP_OTHER;
	}
	if (len == 9) {
		if (w == W('r', 'p', 'o', 'p', 'l', 'p', 'u', 's'))
			return OP_POP;		/* rpoplpush */
		if (w == W('s', 'u', 'b', 's', 'c', 'r', 'i', 'b'))
			return OP_SUBSCRIBE;
		return OP_OTHER;
	}
	if (len == 11 || len == 12) {
		if (w == W('u', 'n', 's', 'u', 'b', 's', 'c', 'r') ||
		    w == W('p', 'u', 'n', 's', 'u', 'b', 's', 'c') ||
		    w == W('s', 'u', 'n', 's', 'u', 'b', 's', 'c'))
			return OP_UNSUBSCRIBE;
		return OP_OTHER;
	}
	if (len > 8)
		return OP_OTHER;
	switch (w) {
	case W('l', 'p', 'u', 's', 'h', 0, 0, 0):
	case W('r', 'p', 'u', 's', 'h', 0, 0, 0):
	case W('l', 'p', 'u', 's', 'h', 'x', 0, 0):
	case W('r', 'p', 'u', 's', 'h', 'x', 0, 0):
		return OP_PUSH;
	case W('l', 'p', 'o', 'p', 0, 0, 0, 0):
	case W('r', 'p', 'o', 'p', 0, 0, 0, 0):
	case W('l', 'm', 'o', 'v', 'e', 0, 0, 0):
	case W('b', 'l', 'm', 'o', 'v', 'e', 0, 0):
		return OP_POP;
	case W('b', 'l', 'p', 'o', 'p', 0, 0, 0):
	case W('b', 'r', 'p', 'o', 'p', 0, 0, 0):
		return OP_BPOP;
	case W('l', 'l', 'e', 'n', 0, 0, 0, 0):
		return OP_LLEN;
	case W('x', 'a', 'd', 'd', 0, 0, 0, 0):
		return OP_XADD;
	case W('x', 'l', 'e', 'n', 0, 0, 0, 0):
		return OP_XLEN;
	case W('x', 'r', 'e', 'a', 'd', 0, 0, 0):
		return OP_XREAD;
	case W('x', 'a', 'c', 'k', 0, 0, 0, 0):
		return OP_XACK;
	case W('x', 'p', 'e', 'n', 'd', 'i', 'n', 'g'):
		return OP_XPENDING;
	case W('p', 'u', 'b', 'l', 'i', 's', 'h', 0):
	case W('s', 'p', 'u', 'b', 'l', 'i', 's', 'h'):
		return OP_PUBLISH;
	case W('g', 'e', 't', 0, 0, 0, 0, 0):
	case W('h', 'g', 'e', 't', 0, 0, 0, 0):
	case W('g', 'e', 't', 'd', 'e', 'l', 0, 0):
	case W('g', 'e', 't', 'e', 'x', 0, 0, 0):
		return OP_GET;
	case W('m', 'g', 'e', 't', 0, 0, 0, 0):
	case W('h', 'm', 'g', 'e', 't', 0, 0, 0):
		return OP_MGET;
	case W('e', 'x', 'i', 's', 't', 's', 0, 0):
		return OP_EXISTS;
	case W('h', 'e', 'x', 'i', 's', 't', 's', 0):
		return OP_HEXISTS;
	case W('r', 'e', 's', 'e', 't', 0, 0, 0):
		return OP_RESET;
	case W('m', 'u', 'l', 't', 'i', 0, 0, 0):
		return OP_MULTI;
	case W('e', 'x', 'e', 'c', 0, 0, 0, 0):
	case W('d', 'i', 's', 'c', 'a', 'r', 'd', 0):
		return OP_EXEC;
	}
	return OP_OTHER;
}

/* The bus family a command's queue belongs to. */
static __always_inline u8 resp_op_family(u8 op)
{
	switch (op) {
	case OP_XADD:
	case OP_XLEN:
	case OP_XREAD:
	case OP_XACK:
	case OP_XPENDING:
		return BUS_STREAM;
	case OP_PUBLISH:
	case OP_SUBSCRIBE:
	case OP_UNSUBSCRIBE:
		return BUS_PUBSUB;
	}
	return BUS_LIST;
}

/* Is t a RESP2/RESP3 type byte? */
static __always_inline bool resp_type_byte(char t)
{
	switch (t) {
	case '*': case '>': case '~': case '%': case '$': case '=': case '!':
	case ':': case '+': case '-': case '_': case ',': case '#': case '(':
		return true;
	}
	return false;
}

/*
 * A short bulk string's header, "$N\r\n" with N of one to three digits, in
 * the word w. Returns the header's length and N, or 0.
 */
static __always_inline u32 resp_short_bulk(u64 w, u32 *n)
{
	u32 v = 0, k;

	if ((u8)w != '$')
		return 0;
	for (k = 1; k < 5; k++) {
		u8 ch = w >> (k * 8);

		if (ch == '\r')
			break;
		if (ch < '0' || ch > '9')
			return 0;
		v = v * 10 + (ch - '0');
	}
	if (k == 1 || k == 5 || (u8)(w >> ((k + 1) * 8)) != '\n')
		return 0;
	*n = v;
	return k + 2;
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
		else if (depth == d->base + 1u)
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

	/* Unsigned, as BPF computes it: no undefined overflow on the host (bench/fuzz). */
	if (d->neg)
		d->num = (s64)(0 - (u64)d->num);
	n = d->num;

	switch (d->type) {
	case '*':
	case '>':
	case '~':
	case '%':
		if (n < 0)
			return VALUE_NIL;
		if (d->type == '%')
			n = (s64)((u64)n * 2);
		if (depth == d->base && x->w->st.dir == DIR_IN)
			d->map_top = d->type == '%';
		if (depth == 0)
			d->nargs = n;
		/* Stream entries: XREAD's [[stream, entries]], or RESP3's {stream: entries}. */
		if (x->w->st.dir == DIR_IN &&
		    (d->map_top ? depth == d->base + 1u : depth == d->base + 2u))
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
				num = l7_decimal(num, ch);
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

#endif /* AGENTBPF_L7_RESP_H */
