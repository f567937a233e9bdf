/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The NATS client protocol's parse step, a function of (connection,
 * window): lines split into tokens, payloads skipped by length.
 * bpf/bus.bpf.c calls it on the bytes of each socket call; it compiles on
 * the host too (tests/unit/test_l7_nats.c).
 */
#ifndef AGENTBPF_L7_NATS_H
#define AGENTBPF_L7_NATS_H

#include "bus_conn.h"

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
		d->num = ch >= '0' && ch <= '9' ? l7_decimal(d->num, ch) : 0;
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

#endif /* AGENTBPF_L7_NATS_H */
