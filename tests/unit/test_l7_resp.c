// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The RESP parse steps of bpf/l7/resp.h, compiled on the host. */
#include "unit.h"
#include "l7/resp.h"
#include "util.h"

/* As bus.bpf.c hands a name over: its first 8 bytes in lower case, its ninth, its length. */
static uint8_t op(const char *name)
{
	char buf[16] = { 0 };
	uint32_t len = strlen(name);

	memcpy(buf, name, len < sizeof(buf) ? len : sizeof(buf));
	return resp_command_op(word_cut(lower8(buf), len), buf[8], len);
}

static void test_command_names_in_any_case(void **state)
{
	static const struct { const char *name; uint8_t op; } cases[] = {
		{ "LPUSH", OP_PUSH }, { "rpush", OP_PUSH }, { "LPushX", OP_PUSH }, { "RPUSHX", OP_PUSH },
		{ "LPOP", OP_POP }, { "RPOP", OP_POP }, { "LMOVE", OP_POP }, { "BLMOVE", OP_POP },
		{ "RPOPLPUSH", OP_POP }, { "BRPOPLPUSH", OP_POP },
		{ "BLPOP", OP_BPOP }, { "BRPOP", OP_BPOP }, { "LLEN", OP_LLEN },
		{ "XADD", OP_XADD }, { "XLEN", OP_XLEN }, { "XREAD", OP_XREAD },
		{ "XREADGROUP", OP_XREAD }, { "XACK", OP_XACK }, { "XPENDING", OP_XPENDING },
		{ "PUBLISH", OP_PUBLISH }, { "SPUBLISH", OP_PUBLISH },
		{ "SUBSCRIBE", OP_SUBSCRIBE }, { "PSUBSCRIBE", OP_SUBSCRIBE },
		{ "ssubscribe", OP_SUBSCRIBE }, { "UNSUBSCRIBE", OP_UNSUBSCRIBE },
		{ "PUNSUBSCRIBE", OP_UNSUBSCRIBE }, { "SUNSUBSCRIBE", OP_UNSUBSCRIBE },
		{ "GET", OP_GET }, { "HGET", OP_GET }, { "GETDEL", OP_GET }, { "GETEX", OP_GET },
		{ "MGET", OP_MGET }, { "HMGET", OP_MGET }, { "EXISTS", OP_EXISTS },
		{ "HEXISTS", OP_HEXISTS }, { "MULTI", OP_MULTI }, { "EXEC", OP_EXEC },
		{ "DISCARD", OP_EXEC }, { "RESET", OP_RESET },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (op(cases[i].name) != cases[i].op)
			fail_msg("%s: op %u, want %u", cases[i].name, op(cases[i].name), cases[i].op);
	}
}

static void test_names_that_only_start_alike_are_other(void **state)
{
	static const char *const names[] = {
		"LPUSHXX", "GETSET", "GETRANGE", "XREADGROUPS", "SUBSCRIBER", "PING", "SET", "",
		"RPOPLPUSHX", "XPENDINGS", "UNSUBSCRIBEALL", "L", "LPUS",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (op(names[i]) != OP_OTHER)
			fail_msg("%s: op %u, want OTHER", names[i], op(names[i]));
	}
}

static void test_queues_belong_to_their_family(void **state)
{
	assert_int_equal(resp_op_family(OP_PUSH), BUS_LIST);
	assert_int_equal(resp_op_family(OP_BPOP), BUS_LIST);
	assert_int_equal(resp_op_family(OP_XREAD), BUS_STREAM);
	assert_int_equal(resp_op_family(OP_XACK), BUS_STREAM);
	assert_int_equal(resp_op_family(OP_PUBLISH), BUS_PUBSUB);
	assert_int_equal(resp_op_family(OP_UNSUBSCRIBE), BUS_PUBSUB);
}

static void test_type_bytes_of_resp2_and_resp3(void **state)
{
	const char *types = "*>~%$=!:+-_,#(";
	int c;

	for (c = 0; c < 256; c++)
		assert_int_equal(resp_type_byte((char)c), c && strchr(types, c) != NULL);
}

static uint32_t bulk(const char *hdr, uint32_t *n)
{
	char buf[8] = { 0 };

	memcpy(buf, hdr, strlen(hdr) < 8 ? strlen(hdr) : 8);
	return resp_short_bulk(load8(buf), n);
}

static void test_short_bulk_headers(void **state)
{
	uint32_t n = 0;

	assert_int_equal(bulk("$5\r\nLPUS", &n), 4);
	assert_int_equal(n, 5);
	assert_int_equal(bulk("$0\r\n\r\n", &n), 4);
	assert_int_equal(n, 0);
	assert_int_equal(bulk("$999\r\nab", &n), 6);
	assert_int_equal(n, 999);
	/* Four digits, no digits, a sign, no LF, another type: the general walk's. */
	assert_int_equal(bulk("$1000\r\na", &n), 0);
	assert_int_equal(bulk("$\r\n", &n), 0);
	assert_int_equal(bulk("$-1\r\n", &n), 0);
	assert_int_equal(bulk("$5\rx", &n), 0);
	assert_int_equal(bulk(":5\r\n", &n), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_names_in_any_case),
		cmocka_unit_test(test_names_that_only_start_alike_are_other),
		cmocka_unit_test(test_queues_belong_to_their_family),
		cmocka_unit_test(test_type_bytes_of_resp2_and_resp3),
		cmocka_unit_test(test_short_bulk_headers),
	};

	return cmocka_run_group_tests_name("l7 resp", tests, NULL, NULL);
}
