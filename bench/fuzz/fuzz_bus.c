// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * AFL++ target: the RESP and NATS parsers of bpf/l7/, walked as the kernel
 * walks them (tests/unit/busdriver.h). The input's first byte picks the
 * protocol; the rest is socket calls, each a direction byte, a 16-bit
 * length and its bytes. They are fed as they come, then again with every
 * call cut in two where its direction byte says: what the parsers report
 * (flows, depths, cache reads, processing, drops, a lost stream) must be
 * the same, as read boundaries must not matter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define assert_true(c) do { if (!(c)) abort(); } while (0)
#define assert_int_equal(a, b) assert_true((a) == (b))
#define fail_msg(...) abort()
#include "busdriver.h"

static void walk(const unsigned char *in, size_t len, bool cut, struct acct *out, u8 *proto)
{
	struct bus_conn *c = bus_conn_new(in[0] & 1 ? PROTO_NATS : PROTO_REDIS);
	size_t off = 1;

	while (off + 3 <= len) {
		int dir = in[off] & 1 ? DIR_IN : DIR_OUT;
		size_t n = in[off + 1] | in[off + 2] << 8, at;

		off += 3;
		if (n > len - off)
			n = len - off;
		at = cut ? (in[off - 3] >> 1) * n / 128 : n;
		bus_feed(c, dir, (const char *)in + off, at);
		bus_feed(c, dir, (const char *)in + off + at, n - at);
		assert_true(c->qlen <= BUS_PIPELINE && c->xlen <= BUS_EXEC_RUNS);
		assert_true(c->dirs[0].depth <= BUS_DEPTH && c->dirs[1].depth <= BUS_DEPTH);
		off += n;
	}
	*out = acct;
	*proto = c->proto;
	free(c);
}

int main(void)
{
	static unsigned char in[1 << 16];
	static struct acct whole, cut;
	size_t len = fread(in, 1, sizeof(in), stdin);
	u8 p1, p2;

	if (len < 1)
		return 0;
	walk(in, len, false, &whole, &p1);
	walk(in, len, true, &cut, &p2);
	assert_true(p1 == p2);
	assert_true(!memcmp(&whole, &cut, sizeof(whole)));
	return 0;
}
