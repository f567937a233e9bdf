// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The NATS parser of bpf/l7/nats.h, compiled on the host and walked as the
 * kernel walks it (tests/unit/busdriver.h), whole and cut at every byte:
 * publishes, deliveries and the processing between them, request/reply
 * inboxes, JetStream's acks and pull deliveries, HMSG headers and status
 * messages, and a stream that is not NATS.
 */
#include "unit.h"
#include "util.h"
#include "busdriver.h"

static const char pubs[] = "CONNECT {\"verbose\":false}\r\nPING\r\n"
			   "PUB jobs 5\r\nhello\r\nPUB jobs _INBOX.r1 0\r\n\r\n"
			   "HPUB jobs 12 17\r\nNATS/1.0\r\n\r\nhello\r\n";
static const char pubs_in[] = "INFO {\"server_id\":\"x\"}\r\nPONG\r\n+OK\r\n";

static void publishes_counted(struct bus_conn *c)
{
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(flow_of("jobs", BUS_PRODUCED), 3);
	assert_int_equal(flow_of("jobs", BUS_CONSUMED), 0);
}

static void test_publishes_whole_and_cut_at_every_byte(void **state)
{
	assert_int_equal(bus_every_cut(PROTO_NATS, pubs, pubs_in, publishes_counted),
			 strlen(pubs) + strlen(pubs_in) + 1);
}

static const char sub[] = "SUB jobs workers 1\r\n";
static const char deliveries[] = "MSG jobs 1 5\r\nhello\r\nMSG jobs 1 _INBOX.r9 3\r\nabc\r\n";

static void deliveries_counted(struct bus_conn *c)
{
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(flow_of("jobs", BUS_CONSUMED), 2);
	/* Each delivery on a subject is work taken: its processing starts. */
	assert_int_equal(acct.starts, 2);
}

static void test_deliveries_whole_and_cut_at_every_byte(void **state)
{
	bus_every_cut(PROTO_NATS, sub, deliveries, deliveries_counted);
}

static void test_processing_runs_from_a_delivery_to_the_next_publish(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_NATS);

	bus_feed_str(c, DIR_OUT, sub);
	bus_feed_str(c, DIR_IN, "MSG jobs 1 _INBOX.r9 5\r\nhello\r\n");
	assert_int_equal(acct.starts, 1);
	assert_int_equal(acct.dones, 0);
	/* The answer to the request: a publish to its inbox, which is no queue. */
	bus_feed_str(c, DIR_OUT, "PUB _INBOX.r9 2\r\nok\r\n");
	assert_int_equal(acct.dones, 1);
	assert_int_equal(acct.q[BUS_QUEUE_OTHER].flows[BUS_PRODUCED], 1);
	free(c);
}

static void test_a_reply_in_an_inbox_is_no_work(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_NATS);

	/* A requester's answer: MSG inbox sid size, no reply-to of its own. */
	bus_feed_str(c, DIR_OUT, "SUB _INBOX.abc.* 2\r\nPUB svc _INBOX.abc.1 2\r\nhi\r\n");
	bus_feed_str(c, DIR_IN, "MSG _INBOX.abc.1 2 2\r\nok\r\n");
	assert_int_equal(acct.q[BUS_QUEUE_OTHER].flows[BUS_CONSUMED], 1);
	assert_int_equal(acct.starts, 0);
	/* A JetStream pull consumer's message: in an inbox, with the ack subject as reply-to. */
	bus_feed_str(c, DIR_IN, "MSG _INBOX.abc.2 2 $JS.ACK.orders.c.1.5.5.1700000000.0 3\r\n"
				"job\r\n");
	assert_int_equal(acct.q[BUS_QUEUE_OTHER].flows[BUS_CONSUMED], 2);
	assert_int_equal(acct.starts, 1);
	/* Its ack is no message. */
	bus_feed_str(c, DIR_OUT, "PUB $JS.ACK.orders.c.1.5.5.1700000000.0 0\r\n\r\n");
	assert_int_equal(acct.q[BUS_QUEUE_OTHER].flows[BUS_PRODUCED], 0);
	assert_int_equal(flow_of("svc", BUS_PRODUCED), 1);
	free(c);
}

static void test_hmsg_status_messages_are_not_messages(void **state)
{
	static const struct {
		const char *headers;
		unsigned counted;
	} cases[] = {
		{ "NATS/1.0\r\nTrace: 1\r\n\r\n", 1 },
		{ "NATS/1.0 408 Request Timeout\r\n\r\n", 0 },
		{ "NATS/1.0 404 No Messages\r\n\r\n", 0 },
		{ "NATS/1.0 100 Idle Heartbeat\r\n\r\n", 0 },
		/* Shorter than the status prefix: a message. */
		{ "NATS/1\r\n\r\n", 1 },
	};
	char buf[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t h = strlen(cases[i].headers), cut;

		snprintf(buf, sizeof(buf), "HMSG jobs 1 %zu %zu\r\n%sdata\r\n", h, h + 4,
			 cases[i].headers);
		for (cut = 0; cut <= strlen(buf); cut++) {
			struct bus_conn *c = bus_conn_new(PROTO_NATS);

			bus_feed(c, DIR_IN, buf, cut);
			bus_feed(c, DIR_IN, buf + cut, strlen(buf) - cut);
			assert_int_not_equal(c->proto, PROTO_LOST);
			if (flow_of("jobs", BUS_CONSUMED) != cases[i].counted)
				fail_msg("%s cut at %zu: %llu consumed, want %u",
					 cases[i].headers, cut, (unsigned long long)flow_of("jobs", BUS_CONSUMED),
					 cases[i].counted);
			assert_int_equal(acct.starts, cases[i].counted);
			free(c);
		}
	}
}

static void test_a_large_payload_is_skipped_by_length(void **state)
{
	size_t n = 70000, len;
	char *in = malloc(n + 64);
	struct bus_conn *c = bus_conn_new(PROTO_NATS);

	len = sprintf(in, "MSG big 1 %zu\r\n", n);
	memset(in + len, 'P', n);	/* "PUB ..." lookalikes inside are payload */
	memcpy(in + len + 1000, "\r\nPUB x 1\r\n", 11);
	len += n;
	len += sprintf(in + len, "\r\nMSG big 1 1\r\nz\r\n");
	bus_feed(c, DIR_IN, in, len);
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(flow_of("big", BUS_CONSUMED), 2);
	assert_int_equal(acct.nq, 3);	/* none, other, big: no "x" */
	free(c);
	free(in);
}

static void test_a_size_past_64_bits_wraps(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_NATS);

	/*
	 * Found by bench/fuzz: the size overflowed a signed number, undefined
	 * on the host. It wraps as in BPF: 123456789012345678901234567890 is
	 * 14083847773837265618 modulo 2^64, its payload as long as that.
	 */
	bus_feed_str(c, DIR_IN, "MSG jobs 1 123456789012345678901234567890\r\nhello");
	assert_int_not_equal(c->proto, PROTO_LOST);
	assert_int_equal(flow_of("jobs", BUS_CONSUMED), 1);
	assert_int_equal(c->dirs[DIR_IN].state, R_BULK);
	assert_true(c->dirs[DIR_IN].remaining == 14083847773837265618ull + 2 - 5);
	free(c);
}

static void test_operations_the_wrong_way_lose_the_stream(void **state)
{
	struct bus_conn *c = bus_conn_new(PROTO_NATS);

	/* A client does not send MSG: whatever this is, it is not followed. */
	bus_feed_str(c, DIR_OUT, "MSG jobs 1 5\r\nhello\r\n");
	assert_int_equal(c->proto, PROTO_LOST);
	assert_int_equal(acct.drops[BUS_DROP_DESYNC], 1);
	free(c);
	c = bus_conn_new(PROTO_NATS);
	/* Too few tokens for a publish. */
	bus_feed_str(c, DIR_OUT, "PUB jobs\r\n");
	assert_int_equal(c->proto, PROTO_LOST);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publishes_whole_and_cut_at_every_byte),
		cmocka_unit_test(test_deliveries_whole_and_cut_at_every_byte),
		cmocka_unit_test(test_processing_runs_from_a_delivery_to_the_next_publish),
		cmocka_unit_test(test_a_reply_in_an_inbox_is_no_work),
		cmocka_unit_test(test_hmsg_status_messages_are_not_messages),
		cmocka_unit_test(test_a_large_payload_is_skipped_by_length),
		cmocka_unit_test(test_a_size_past_64_bits_wraps),
		cmocka_unit_test(test_operations_the_wrong_way_lose_the_stream),
	};

	return cmocka_run_group_tests_name("l7 nats", tests, NULL, NULL);
}
