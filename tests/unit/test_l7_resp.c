// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The RESP parser of bpf/l7/resp.h, compiled on the host: command names,
 * type bytes and short bulk headers, then whole exchanges walked as the
 * kernel walks them (tests/unit/busdriver.h), whole and cut at every byte:
 * pipelines, blocking pops, transactions, RESP2 and RESP3 pub/sub pushes,
 * stream deliveries, cache reads, payloads past a window, and what is not RESP.
 */
#include "unit.h"
#include "util.h"
#include "busdriver.h"

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

/* ---- exchanges ---- */

/* LPUSH q v, v one byte. */
#define LPUSH_Q(v)	"*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$1\r\n" v "\r\n"

static const char pushes[] =
	"*3\r\n$5\r\nLPUSH\r\n$4\r\njobs\r\n$2\r\nj1\r\n"
	"*3\r\n$5\r\nRPUSH\r\n$4\r\njobs\r\n$2\r\nj2\r\n"
	"*4\r\n$5\r\nlpush\r\n$4\r\njobs\r\n$2\r\nj3\r\n$2\r\nj4\r\n";
static const char pushed[] = ":1\r\n:2\r\n:4\r\n";

static void pushes_counted(struct bus_conn *c)
{
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(flow_of("jobs", BUS_PRODUCED), 4);
	assert_true(acct.q[queue_named("jobs")].depth_set);
	assert_int_equal(acct.q[queue_named("jobs")].depth, 4);
	assert_int_equal(c->qlen, 0);
	assert_int_equal(acct.drops[BUS_DROP_DESYNC], 0);
}

static void test_a_pipeline_of_pushes_whole_and_cut_at_every_byte(void **state)
{
	assert_int_equal(bus_every_cut(PROTO_REDIS, pushes, pushed, pushes_counted),
			 strlen(pushes) + strlen(pushed) + 1);
}

static void test_replies_pair_with_their_commands_in_order(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_REDIS);

	/*
	 * Five commands in flight before any reply, in four runs: the two
	 * pushes of one element each are one run.
	 */
	bus_feed_str(c, DIR_OUT, pushes);
	bus_feed_str(c, DIR_OUT, "*2\r\n$4\r\nLLEN\r\n$4\r\njobs\r\n");
	bus_feed_str(c, DIR_OUT, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
	assert_int_equal(c->qlen, 4);
	bus_feed_str(c, DIR_IN, ":1\r\n:2\r\n");
	assert_int_equal(flow_of("jobs", BUS_PRODUCED), 1 + 1);
	bus_feed_str(c, DIR_IN, ":4\r\n:9\r\n$-1\r\n");
	assert_int_equal(flow_of("jobs", BUS_PRODUCED), 4);
	assert_int_equal(acct.q[queue_named("jobs")].depth, 9);
	assert_int_equal(acct.hits, 0);
	assert_int_equal(acct.misses, 1);
	assert_int_equal(c->qlen, 0);
	/* A reply nobody asked for: the pairing is gone, and said so. */
	bus_feed_str(c, DIR_IN, ":1\r\n");
	assert_int_equal(c->proto, PROTO_LOST);
	assert_int_equal(acct.drops[BUS_DROP_DESYNC], 1);
	free(c);
}

static const char brpop[] = "*4\r\n$5\r\nBRPOP\r\n$4\r\nhigh\r\n$3\r\nlow\r\n$1\r\n0\r\n";
static const char popped[] = "*2\r\n$3\r\nlow\r\n$4\r\njob1\r\n";

static void pop_from_the_key_named(struct bus_conn *c)
{
	assert_int_equal(flow_of("low", BUS_CONSUMED), 1);
	assert_int_equal(flow_of("high", BUS_CONSUMED), 0);
	assert_int_equal(acct.starts, 1);
	assert_int_equal(c->qlen, 0);
}

static void test_a_blocking_pop_counts_on_the_list_it_took_from(void **state)
{
	struct bus_conn *c;

	bus_every_cut(PROTO_REDIS, brpop, popped, pop_from_the_key_named);
	/* The worker's next command ends its processing; a timeout takes nothing. */
	c = bus_conn_new(PROTO_REDIS);
	bus_feed_str(c, DIR_OUT, brpop);
	bus_feed_str(c, DIR_IN, popped);
	bus_feed_str(c, DIR_OUT, brpop);
	assert_int_equal(acct.dones, 1);
	bus_feed_str(c, DIR_IN, "*-1\r\n");
	assert_int_equal(flow_of("low", BUS_CONSUMED), 1);
	assert_int_equal(acct.starts, 1);
	assert_int_equal(acct.q[queue_named("high")].depth, 0);
	free(c);
}

static const char multi[] = "*1\r\n$5\r\nMULTI\r\n" LPUSH_Q("a")
			    "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" LPUSH_Q("b")
			    "*1\r\n$4\r\nEXEC\r\n";
static const char multi_replies[] = "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
				    "*3\r\n:1\r\n$-1\r\n:2\r\n";

static void transaction_counted_at_exec(struct bus_conn *c)
{
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(flow_of("q", BUS_PRODUCED), 2);
	assert_int_equal(acct.q[queue_named("q")].depth, 2);
	assert_int_equal(acct.misses, 1);
	assert_int_equal(c->qlen, 0);
	assert_int_equal(c->xlen, 0);
	assert_false(c->in_multi);
}

static void test_a_transaction_counts_its_commands_in_exec_s_reply(void **state)
{
	bus_every_cut(PROTO_REDIS, multi, multi_replies, transaction_counted_at_exec);
}

static void test_an_aborted_transaction_counts_nothing(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_REDIS);

	bus_feed_str(c, DIR_OUT, "*1\r\n$5\r\nMULTI\r\n" LPUSH_Q("a")
				 "*1\r\n$5\r\nBOGUS\r\n*1\r\n$4\r\nEXEC\r\n");
	bus_feed_str(c, DIR_IN, "+OK\r\n+QUEUED\r\n-ERR unknown command 'BOGUS'\r\n"
				"-EXECABORT Transaction discarded because of previous errors.\r\n");
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(flow_of("q", BUS_PRODUCED), 0);
	assert_int_equal(c->qlen, 0);
	assert_int_equal(c->xlen, 0);
	/* DISCARD drops what was queued too. */
	bus_feed_str(c, DIR_OUT, "*1\r\n$5\r\nMULTI\r\n" LPUSH_Q("a")
				 "*1\r\n$7\r\nDISCARD\r\n" LPUSH_Q("b"));
	bus_feed_str(c, DIR_IN, "+OK\r\n+QUEUED\r\n+OK\r\n:1\r\n");
	assert_int_equal(flow_of("q", BUS_PRODUCED), 1);
	assert_int_equal(c->qlen, 0);
	free(c);
}

static const char resp3_out[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
				"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n"
				"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
/* Pushes come between the replies, typed '>'; HELLO's reply is a map. */
static const char resp3_in[] = "%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n"
			       ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
			       ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"
			       "$1\r\nv\r\n"
			       ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nagain\r\n";

static void resp3_pushes_counted(struct bus_conn *c)
{
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(flow_of("ch", BUS_CONSUMED), 2);
	assert_int_equal(acct.hits, 1);
	assert_int_equal(c->qlen, 0);
	assert_true(c->resp3);
	/* Messages pushed to a subscriber are no work taken. */
	assert_int_equal(acct.starts, 0);
}

static void test_resp3_pushes_between_replies(void **state)
{
	bus_every_cut(PROTO_REDIS, resp3_out, resp3_in, resp3_pushes_counted);
}

static const char resp2_out[] = "*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n"
				"*1\r\n$4\r\nPING\r\n";
static const char resp2_in[] = "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
			       "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
			       "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nm1\r\n"
			       "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
			       "*4\r\n$8\r\npmessage\r\n$2\r\nb*\r\n$1\r\nb\r\n$2\r\nm2\r\n";

static void resp2_pushes_counted(struct bus_conn *c)
{
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(flow_of("a", BUS_CONSUMED), 1);
	assert_int_equal(flow_of("b", BUS_CONSUMED), 1);
	assert_int_equal(c->qlen, 0);
	assert_true(c->subscribed);
}

static void test_resp2_pushes_confirmations_and_pong(void **state)
{
	bus_every_cut(PROTO_REDIS, resp2_out, resp2_in, resp2_pushes_counted);
}

static const char xread[] = "*7\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$1\r\ng\r\n$1\r\nc\r\n"
			    "$7\r\nSTREAMS\r\n$1\r\ns\r\n$1\r\n>\r\n";
static const char xread_reply[] = "*1\r\n*2\r\n$1\r\ns\r\n*2\r\n"
				  "*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
				  "*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n";

static void stream_entries_counted(struct bus_conn *c)
{
	assert_int_equal(flow_of("s", BUS_CONSUMED), 2);
	assert_int_equal(acct.starts, 1);
	assert_int_equal(c->qlen, 0);
}

static void test_stream_entries_delivered_by_name(void **state)
{
	bus_every_cut(PROTO_REDIS, xread, xread_reply, stream_entries_counted);
}

static void test_cache_reads(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_REDIS);

	bus_feed_str(c, DIR_OUT, "*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
				 "*4\r\n$6\r\nEXISTS\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
				 "*3\r\n$4\r\nHGET\r\n$1\r\nh\r\n$1\r\nf\r\n");
	bus_feed_str(c, DIR_IN, "*3\r\n$1\r\nx\r\n$-1\r\n$1\r\ny\r\n:1\r\n$2\r\nhv\r\n");
	assert_int_equal(acct.hits, 2 + 1 + 1);
	assert_int_equal(acct.misses, 1 + 2);
	assert_int_equal(c->qlen, 0);
	free(c);
}

static void test_a_payload_past_a_window_is_skipped_by_length(void **state)
{
	size_t n = 100000, len;
	char *out = malloc(n + 64);
	struct bus_conn *c = bus_conn_new(PROTO_REDIS);
	size_t cut;

	len = sprintf(out, "*3\r\n$5\r\nLPUSH\r\n$4\r\nbig1\r\n$%zu\r\n", n);
	memset(out + len, 'x', n);
	len += n;
	len += sprintf(out + len, "\r\n");
	bus_feed(c, DIR_OUT, out, len);
	bus_feed_str(c, DIR_IN, ":1\r\n");
	assert_int_equal(flow_of("big1", BUS_PRODUCED), 1);
	free(c);
	/* Cut around the window and the payload's ends. */
	for (cut = 1; cut < len; cut += cut < 600 || cut > len - 600 ? 1 : 997) {
		c = bus_conn_new(PROTO_REDIS);
		bus_feed(c, DIR_OUT, out, cut);
		bus_feed(c, DIR_OUT, out + cut, len - cut);
		bus_feed_str(c, DIR_IN, ":1\r\n");
		assert_int_equal(flow_of("big1", BUS_PRODUCED), 1);
		assert_int_equal(c->qlen, 0);
		free(c);
	}
	free(out);
}

static void test_what_is_not_resp_is_lost_and_counted(void **state)
{
	static const char *const not_resp[] = {
		"HTTP/1.1 200 OK\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",	/* a TLS ClientHello */
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(not_resp); i++) {
		struct bus_conn *c = bus_conn_new(PROTO_REDIS);

		bus_feed_str(c, DIR_OUT, "*1\r\n$4\r\nPING\r\n");
		bus_feed_str(c, DIR_IN, not_resp[i]);
		assert_int_equal(c->proto, PROTO_LOST);
		assert_int_equal(acct.drops[BUS_DROP_DESYNC], 1);
		free(c);
	}
}

static void test_an_empty_key_registers_no_queue(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_REDIS);

	/* Redis takes "" as a key; it names no queue, as in bus.bpf.c. */
	bus_feed_str(c, DIR_OUT, "*3\r\n$5\r\nLPUSH\r\n$0\r\n\r\n$1\r\nx\r\n");
	bus_feed_str(c, DIR_IN, ":1\r\n");
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(acct.nq, 2);
	assert_int_equal(acct.q[BUS_QUEUE_NONE].flows[BUS_PRODUCED], 1);
	assert_int_equal(c->qlen, 0);
	free(c);
}

static void test_numbers_past_64_bits_wrap(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_REDIS);

	/*
	 * Found by bench/fuzz: a RESP3 big number (or a bogus length) takes the
	 * walker's number past 64 bits. It wraps, as in BPF, without undefined
	 * behaviour on the host, and the pairing goes on: the big number
	 * answers DEBUG, the LLEN's reply sets a depth.
	 */
	bus_feed_str(c, DIR_OUT, "*1\r\n$5\r\nDEBUG\r\n*2\r\n$4\r\nLLEN\r\n$1\r\nq\r\n");
	bus_feed_str(c, DIR_IN, "(3492890328409238509324850943850943825024385\r\n:7\r\n");
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(acct.q[queue_named("q")].depth, 7);
	/* A negative number whose magnitude does not fit. */
	bus_feed_str(c, DIR_OUT, "*1\r\n$5\r\nDEBUG\r\n");
	bus_feed_str(c, DIR_IN, ":-9223372036854775808\r\n");
	assert_int_equal(c->qlen, 0);
	/* A RESP3 map's count is doubled (keys and values), past 63 bits too: its elements wait. */
	bus_feed_str(c, DIR_OUT, "*1\r\n$5\r\nDEBUG\r\n");
	bus_feed_str(c, DIR_IN, "%6574006649383434467\r\n");
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(c->qlen, 1);
	free(c);
}

static void test_inline_commands_are_answered_like_any(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_REDIS);

	/* redis-cli's and telnet's: a line, answered; a blank line is not. */
	bus_feed_str(c, DIR_OUT, "PING\r\n\r\nLLEN q\r\n");
	assert_int_equal(c->qlen, 1);
	bus_feed_str(c, DIR_IN, "+PONG\r\n:3\r\n");
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(c->qlen, 0);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_names_in_any_case),
		cmocka_unit_test(test_names_that_only_start_alike_are_other),
		cmocka_unit_test(test_queues_belong_to_their_family),
		cmocka_unit_test(test_type_bytes_of_resp2_and_resp3),
		cmocka_unit_test(test_short_bulk_headers),
		cmocka_unit_test(test_a_pipeline_of_pushes_whole_and_cut_at_every_byte),
		cmocka_unit_test(test_replies_pair_with_their_commands_in_order),
		cmocka_unit_test(test_a_blocking_pop_counts_on_the_list_it_took_from),
		cmocka_unit_test(test_a_transaction_counts_its_commands_in_exec_s_reply),
		cmocka_unit_test(test_an_aborted_transaction_counts_nothing),
		cmocka_unit_test(test_resp3_pushes_between_replies),
		cmocka_unit_test(test_resp2_pushes_confirmations_and_pong),
		cmocka_unit_test(test_stream_entries_delivered_by_name),
		cmocka_unit_test(test_cache_reads),
		cmocka_unit_test(test_a_payload_past_a_window_is_skipped_by_length),
		cmocka_unit_test(test_what_is_not_resp_is_lost_and_counted),
		cmocka_unit_test(test_an_empty_key_registers_no_queue),
		cmocka_unit_test(test_numbers_past_64_bits_wrap),
		cmocka_unit_test(test_inline_commands_are_answered_like_any),
	};

	return cmocka_run_group_tests_name("l7 resp", tests, NULL, NULL);
}
