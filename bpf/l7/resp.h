/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Redis RESP parse steps as functions of bytes and length: which command a
 * name is, a value's type byte, a short bulk string's header. bpf/bus.bpf.c
 * calls them; they compile on the host too (tests/unit/test_l7_resp.c).
 */
#ifndef AGENTBPF_L7_RESP_H
#define AGENTBPF_L7_RESP_H

#include "bytes.h"
#include "bus.h"

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

#endif /* AGENTBPF_L7_RESP_H */
