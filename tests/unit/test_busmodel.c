// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The message-bus family's scrape-time model (user/busmodel.c): queue
 * names as label values, producers and consumers learned from the flows,
 * message series that never go back, and the agent a queue's depth stays
 * with.
 */
#include "unit.h"
#include "busmodel.h"

#define W	0	/* agent "web" */
#define K	1	/* agent "worker" */
#define R	2	/* agent "reporter" */
#define NCPU	2

static struct config cfg;
static struct bus_model m;

/* This scrape's flows, CPU counts split unevenly: the model sums them. */
static struct bus_flow_key keys[64];
static uint64_t vals[64 * NCPU];
static struct bus_flows flows;

static int setup(void **state)
{
	static const char yml[] =
		"agents:\n"
		"  - name: web\n"
		"    match: {comm: web}\n"
		"  - name: worker\n"
		"    match: {comm: worker}\n"
		"  - name: reporter\n"
		"    match: {comm: reporter}\n"
		"queues:\n"
		"  - match: \"jobs:*\"\n"
		"    type: job\n"
		"    from: web\n"
		"    to: worker\n";
	char err[256];

	memset(&m, 0, sizeof(m));
	memset(keys, 0, sizeof(keys));
	memset(vals, 0, sizeof(vals));
	memset(&flows, 0, sizeof(flows));
	if (config_parse(&cfg, "test.yml", yml, strlen(yml), err, sizeof(err)))
		return -1;
	m.cfg = &cfg;
	return 0;
}

static int teardown(void **state)
{
	bus_model_free(&m);
	config_free(&cfg);
	return 0;
}

/* The queues the kernel registered this scrape, as read_queues() fills them. */
static void queues(const uint32_t *ids, const char *const *names, unsigned n)
{
	unsigned i;

	m.qinfo = realloc(m.qinfo, n * sizeof(*m.qinfo));
	for (i = 0; i < n; i++) {
		struct bus_queue_info *q = &m.qinfo[i];

		memset(q, 0, sizeof(*q));
		q->id = ids[i];
		bus_queue_label(q->name, names[i], strlen(names[i]));
		q->conf = config_queue(&cfg, q->name);
		q->families = 1 << BUS_LIST;
		q->producer = q->consumer = q->observer = -1;
	}
	m.nqinfo = n;
	bus_model_queues_read(&m);
}

static void flow(unsigned i, uint32_t agent, uint32_t queue, uint8_t fl, uint64_t total)
{
	keys[i] = (struct bus_flow_key){ .agent = agent, .queue = queue, .family = BUS_LIST,
					 .flow = fl };
	vals[i * NCPU] = total / 3;
	vals[i * NCPU + 1] = total - total / 3;
	if (flows.n < i + 1)
		flows.n = i + 1;
}

static void scrape(void)
{
	flows.keys = keys;
	flows.vals = vals;
	flows.ncpu = NCPU;
	bus_model_learn(&m, &flows);
	bus_model_consumed(&m, &flows);
}

static const struct bus_series *series(int from, int to, const char *type)
{
	uint32_t i;

	for (i = 0; i < m.nseries; i++) {
		if (m.series[i].from == from && m.series[i].to == to && !strcmp(m.series[i].type, type))
			return &m.series[i];
	}
	fail_msg("no series from %d to %d of type %s", from, to, type);
	return NULL;
}

static void test_queue_names_as_label_values(void **state)
{
	char out[BUS_QUEUE_LEN * 4 + 1], long_name[100];

	bus_queue_label(out, "jobs:high", 9);
	assert_string_equal(out, "jobs:high");
	/* A NUL, a tab and DEL would vanish or merge two keys into one label. */
	bus_queue_label(out, "a\0b\tc\x7f", 6);
	assert_string_equal(out, "a\\x00b\\x09c\\x7f");
	/* UTF-8 stays as it is. */
	bus_queue_label(out, "fila-ç", strlen("fila-ç"));
	assert_string_equal(out, "fila-ç");
	/* At most BUS_QUEUE_LEN bytes of a name, and room for all of them escaped. */
	memset(long_name, '\x01', sizeof(long_name));
	bus_queue_label(out, long_name, sizeof(long_name));
	assert_int_equal(strlen(out), BUS_QUEUE_LEN * 4);
	assert_string_equal(bus_family_name(BUS_NATS), "nats");
	assert_string_equal(bus_family_name(BUS_STREAM), "stream");
}

static void test_producer_and_consumer_are_the_busiest(void **state)
{
	static const uint32_t ids[] = { 900, 7, 5000 };
	static const char *const names[] = { "reports", "emails", "other-q" };
	struct bus_queue_info *q;

	queues(ids, names, 3);
	flow(0, W, 7, BUS_PRODUCED, 10);
	flow(1, R, 7, BUS_PRODUCED, 30);
	flow(2, K, 7, BUS_CONSUMED, 25);
	flow(3, W, 7, BUS_CONSUMED, 5);
	/* Acks say nothing of who consumes. */
	flow(4, R, 7, BUS_ACKED, 1000);
	/* A flow of a queue the scrape did not read (registered since) is skipped. */
	flow(5, W, 31337, BUS_PRODUCED, 50);
	scrape();
	q = bus_model_queue(&m, 7);
	assert_non_null(q);
	assert_string_equal(q->name, "emails");
	assert_int_equal(q->producer, R);
	assert_int_equal(q->consumer, K);
	assert_null(bus_model_queue(&m, 31337));
	q = bus_model_queue(&m, 900);
	assert_int_equal(q->producer, -1);
	assert_int_equal(q->consumer, -1);
}

static void test_messages_series_add_what_was_consumed_since(void **state)
{
	static const uint32_t ids[] = { 7, 8 };
	static const char *const names[] = { "emails", "jobs:low" };

	queues(ids, names, 2);
	flow(0, R, 7, BUS_PRODUCED, 10);
	flow(1, K, 7, BUS_CONSUMED, 4);
	flow(2, K, 8, BUS_CONSUMED, 3);
	scrape();
	/* Unconfigured: from the learned producer, typed by the command family. */
	assert_int_equal(series(R, K, "list")->count, 4);
	/* Configured (jobs:*): from and type from the config. */
	assert_int_equal(series(W, K, "job")->count, 3);

	/* The next scrape adds only what came since. */
	flow(1, K, 7, BUS_CONSUMED, 9);
	flow(2, K, 8, BUS_CONSUMED, 3);
	scrape();
	assert_int_equal(series(R, K, "list")->count, 9);
	assert_int_equal(series(W, K, "job")->count, 3);

	/*
	 * A flow that went back (its entry was evicted and counts again from
	 * 0) adds nothing until it passes what was seen: the series never
	 * goes back and never counts twice.
	 */
	flow(1, K, 7, BUS_CONSUMED, 2);
	scrape();
	assert_int_equal(series(R, K, "list")->count, 9);
	flow(1, K, 7, BUS_CONSUMED, 12);
	scrape();
	assert_int_equal(series(R, K, "list")->count, 12);
	assert_int_equal(m.nseries, 2);
}

static void test_consumers_without_a_producer_seen(void **state)
{
	static const uint32_t ids[] = { 7 };
	static const char *const names[] = { "emails" };

	queues(ids, names, 1);
	flow(0, K, 7, BUS_CONSUMED, 2);
	/* An agent index past the config's (a reload shrank it) is not counted. */
	flow(1, 40, 7, BUS_CONSUMED, 5);
	scrape();
	assert_int_equal(series(-1, K, "list")->count, 2);
	assert_int_equal(m.nseries, 1);
}

static void test_many_flows_across_scrapes(void **state)
{
	static uint32_t ids[1];
	static const char *const names[] = { "q" };
	unsigned round, i;

	queues(ids, names, 1);
	/* More distinct flows than the seen table starts with: it grows, keeping its totals. */
	for (round = 1; round <= 3; round++) {
		struct bus_flow_key k[300];
		uint64_t v[300 * NCPU];
		struct bus_flows f = { k, v, 300, NCPU };

		for (i = 0; i < 300; i++) {
			k[i] = (struct bus_flow_key){ .agent = i % 3, .queue = 1000 + i, .flow = BUS_CONSUMED };
			v[i * NCPU] = round * (i + 1);
			v[i * NCPU + 1] = 0;
		}
		bus_model_consumed(&m, &f);
	}
	assert_int_equal(m.nseen, 300);
	/* Three series (one per agent), each the sum of its flows' last totals. */
	assert_int_equal(m.nseries, 3);
	for (i = 0; i < 3; i++) {
		uint64_t want = 0;
		unsigned j;

		for (j = i; j < 300; j += 3)
			want += 3 * (j + 1);
		assert_int_equal(series(-1, i, "list")->count, want);
	}
}

static void test_depth_stays_with_its_first_consumer(void **state)
{
	static const uint32_t ids[] = { 7, 8, 9, 10 };
	static const char *const names[] = { "emails", "jobs:x", "reports", "idle" };
	struct bus_queue_info *q;

	queues(ids, names, 4);
	/* Before any consumer: the producer, else whoever asked the length. */
	flow(0, R, 9, BUS_PRODUCED, 1);
	scrape();
	assert_int_equal(bus_model_owner(&m, bus_model_queue(&m, 9)), R);
	q = bus_model_queue(&m, 10);
	assert_int_equal(bus_model_owner(&m, q), -1);
	q->observer = W;
	assert_int_equal(bus_model_owner(&m, q), W);

	/* The configured consumer, whatever the flows say. */
	flow(1, R, 8, BUS_CONSUMED, 100);
	scrape();
	assert_int_equal(bus_model_owner(&m, bus_model_queue(&m, 8)), K);

	/* The first consumer seen keeps it, though another consumes more later. */
	flow(2, K, 7, BUS_CONSUMED, 1);
	scrape();
	assert_int_equal(bus_model_owner(&m, bus_model_queue(&m, 7)), K);
	flow(3, W, 7, BUS_CONSUMED, 50);
	queues(ids, names, 4);		/* the next scrape reads the queues afresh */
	scrape();
	assert_int_equal(bus_model_queue(&m, 7)->consumer, W);
	assert_int_equal(bus_model_owner(&m, bus_model_queue(&m, 7)), K);
}

static void test_owners_of_many_queues(void **state)
{
	static uint32_t ids[200];
	static const char *names[200];
	static char text[200][8];
	unsigned i;

	/* Ids in no order, as hashes are: the owners are kept sorted to be found again. */
	for (i = 0; i < 200; i++) {
		ids[i] = (i * 2654435761u) % 100000 + 2;
		snprintf(text[i], sizeof(text[i]), "q%u", i);
		names[i] = text[i];
	}
	queues(ids, names, 200);
	for (i = 0; i < 200; i++) {
		struct bus_queue_info *q = bus_model_queue(&m, ids[i]);

		q->consumer = i % 3;
		assert_int_equal(bus_model_owner(&m, q), (int)(i % 3));
	}
	assert_int_equal(m.nowners, 200);
	for (i = 0; i < 200; i++) {
		struct bus_queue_info *q = bus_model_queue(&m, ids[i]);

		q->consumer = (i + 1) % 3;
		assert_int_equal(bus_model_owner(&m, q), (int)(i % 3));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue_names_as_label_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_producer_and_consumer_are_the_busiest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_messages_series_add_what_was_consumed_since, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_consumers_without_a_producer_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_flows_across_scrapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_stays_with_its_first_consumer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owners_of_many_queues, setup, teardown),
	};

	return cmocka_run_group_tests_name("bus model", tests, NULL, NULL);
}
