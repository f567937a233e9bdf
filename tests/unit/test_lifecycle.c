// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Lifecycle: exit reasons, restarts, membership table, rendering. */
#include <signal.h>
#include "unit.h"
#include "lifecycle.h"

#define A	0	/* agent "a", type "ta" */
#define B	1	/* agent "b", type "b" */
#define LIMIT	64
#define EXIT_STATUS(n)	((n) << 8)

static struct lifecycle lc;
static struct config cfg;
static struct strbuf out;
static struct agent_usage usage[2];

static int setup(void **state)
{
	static const char yml[] =
		"agents:\n"
		"  - name: a\n"
		"    type: ta\n"
		"    match: {comm: a}\n"
		"  - name: b\n"
		"    match: {comm: b}\n";
	char err[256];

	if (config_parse(&cfg, "test.yml", yml, strlen(yml), err, sizeof(err)))
		return -1;
	sb_init(&out);
	memset(usage, 0, sizeof(usage));
	return lc_init(&lc, cfg.nagents, LIMIT);
}

static int teardown(void **state)
{
	lc_free(&lc);
	config_free(&cfg);
	sb_free(&out);
	return 0;
}

static const char *render(enum expo_format fmt, const char *ns, uint64_t boot_to_unix_ns)
{
	struct expo e;

	sb_reset(&out);
	expo_init(&e, &out, fmt, ns);
	lc_render(&lc, &cfg, &e, usage, boot_to_unix_ns);
	expo_finish(&e);
	assert_false(out.oom);
	return out.buf;
}

static uint64_t sum(const uint64_t *v)
{
	uint64_t n = 0;
	int r;

	for (r = 0; r < REASON_MAX; r++)
		n += v[r];
	return n;
}

/* ---- exit reasons ---- */

static void test_exit_reason_status_zero_is_completed(void **state)
{
	assert_int_equal(exit_reason_of(0, false), REASON_COMPLETED);
}

static void test_exit_reason_nonzero_status_is_error(void **state)
{
	assert_int_equal(exit_reason_of(EXIT_STATUS(1), false), REASON_ERROR);
	assert_int_equal(exit_reason_of(EXIT_STATUS(255), false), REASON_ERROR);
}

static void test_exit_reason_signal(void **state)
{
	assert_int_equal(exit_reason_of(SIGKILL, false), REASON_SIGNAL);
	assert_int_equal(exit_reason_of(SIGTERM, false), REASON_SIGNAL);
}

static void test_exit_reason_core_dump_is_signal(void **state)
{
	assert_int_equal(exit_reason_of(SIGSEGV | 0x80, false), REASON_SIGNAL);
}

static void test_exit_reason_oom_flag_wins(void **state)
{
	assert_int_equal(exit_reason_of(SIGKILL, true), REASON_OOM);
	assert_int_equal(exit_reason_of(0, true), REASON_OOM);
}

static void test_exit_reason_names(void **state)
{
	assert_string_equal(exit_reason_name(REASON_COMPLETED), "completed");
	assert_string_equal(exit_reason_name(REASON_ERROR), "error");
	assert_string_equal(exit_reason_name(REASON_SIGNAL), "signal");
	assert_string_equal(exit_reason_name(REASON_OOM), "oom_killed");
	assert_string_equal(exit_reason_name(REASON_MAX), "unknown");
}

/* ---- starts, exits, restarts ---- */

static void test_init_sizes_table_for_half_load(void **state)
{
	struct lifecycle big;

	assert_int_equal(lc_init(&big, 1, 10000), 0);
	assert_int_equal(big.mask + 1, 32768);
	assert_int_equal(big.limit, 10000);
	assert_int_equal(big.count, 0);
	lc_free(&big);
	assert_null(big.table);
	assert_true(lc.mask + 1 >= 2 * LIMIT);
}

static void test_first_start_is_not_a_restart(void **state)
{
	assert_int_equal(lc_start(&lc, 100, A, 1, true), 0);
	assert_int_equal(sum(lc.agents[A].restarts), 0);
	assert_int_equal(lc.agents[A].live, 1);
	assert_non_null(lc_find(&lc, 100));
	assert_int_equal(lc_find(&lc, 100)->agent, A);
	assert_int_equal(lc_find(&lc, 100)->start_ns, 1);
}

static void test_crash_loop_counts_each_restart(void **state)
{
	const int n = 5;
	uint32_t pid = 100;
	int i;

	assert_int_equal(lc_start(&lc, pid, A, 0, true), 0);
	for (i = 0; i < n; i++) {
		assert_true(lc_exit(&lc, pid, EXIT_STATUS(1), false, NULL));
		assert_int_equal(lc_start(&lc, ++pid, A, 0, true), 0);
	}
	assert_int_equal(lc.agents[A].exits[REASON_ERROR], n);
	assert_int_equal(lc.agents[A].restarts[REASON_ERROR], n);
	assert_int_equal(sum(lc.agents[A].exits), n);
	assert_int_equal(sum(lc.agents[A].restarts), n);
	assert_int_equal(lc.agents[A].live, 1);
}

/* A pool of n workers all crash, then the supervisor starts n replacements. */
static void test_pool_crash_counts_one_restart_per_replacement(void **state)
{
	const int n = 4;
	int i;

	for (i = 0; i < n; i++)
		assert_int_equal(lc_start(&lc, 100 + i, A, 0, true), 0);
	for (i = 0; i < n; i++)
		assert_true(lc_exit(&lc, 100 + i, EXIT_STATUS(1), false, NULL));
	for (i = 0; i < n; i++)
		assert_int_equal(lc_start(&lc, 200 + i, A, 0, true), 0);
	assert_int_equal(lc.agents[A].exits[REASON_ERROR], n);
	assert_int_equal(lc.agents[A].restarts[REASON_ERROR], n);
}

static void test_restart_reason_is_most_recent_exit(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	lc_start(&lc, 101, A, 0, true);
	assert_true(lc_exit(&lc, 100, EXIT_STATUS(2), false, NULL));
	assert_true(lc_exit(&lc, 101, SIGKILL, true, NULL));
	lc_start(&lc, 102, A, 0, true);
	assert_int_equal(lc.agents[A].restarts[REASON_OOM], 1);
	assert_int_equal(lc.agents[A].restarts[REASON_ERROR], 0);
	assert_int_equal(lc.agents[A].exits[REASON_ERROR], 1);
	assert_int_equal(lc.agents[A].exits[REASON_OOM], 1);
}

static void test_restart_reason_follows_each_exit(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	lc_exit(&lc, 100, 0, false, NULL);
	lc_start(&lc, 101, A, 0, true);
	lc_exit(&lc, 101, SIGTERM, false, NULL);
	lc_start(&lc, 102, A, 0, true);
	assert_int_equal(lc.agents[A].restarts[REASON_COMPLETED], 1);
	assert_int_equal(lc.agents[A].restarts[REASON_SIGNAL], 1);
	assert_int_equal(sum(lc.agents[A].restarts), 2);
}

static void test_one_exit_then_two_starts_is_one_restart(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	lc_exit(&lc, 100, EXIT_STATUS(1), false, NULL);
	lc_start(&lc, 101, A, 0, true);
	lc_start(&lc, 102, A, 0, true);
	assert_int_equal(lc.agents[A].restarts[REASON_ERROR], 1);
	assert_int_equal(sum(lc.agents[A].restarts), 1);
}

static void test_startup_scan_starts_are_never_restarts(void **state)
{
	lc_start(&lc, 100, A, 0, false);
	lc_start(&lc, 101, A, 0, false);
	assert_true(lc_exit(&lc, 100, EXIT_STATUS(1), false, NULL));
	lc_start(&lc, 102, A, 0, false);
	assert_int_equal(sum(lc.agents[A].restarts), 0);
	assert_int_equal(lc.agents[A].exits[REASON_ERROR], 1);
	assert_int_equal(lc.agents[A].live, 2);
}

static void test_restarts_are_per_agent(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	lc_exit(&lc, 100, EXIT_STATUS(1), false, NULL);
	lc_start(&lc, 200, B, 0, true);
	assert_int_equal(sum(lc.agents[B].restarts), 0);
	assert_int_equal(sum(lc.agents[A].restarts), 0);
	lc_start(&lc, 101, A, 0, true);
	assert_int_equal(lc.agents[A].restarts[REASON_ERROR], 1);
}

static void test_exit_of_unknown_pid_changes_nothing(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	assert_false(lc_exit(&lc, 999, EXIT_STATUS(1), false, NULL));
	assert_int_equal(sum(lc.agents[A].exits), 0);
	assert_int_equal(lc.agents[A].live, 1);
	lc_start(&lc, 101, A, 0, true);
	assert_int_equal(sum(lc.agents[A].restarts), 0);
}

static void test_exit_twice_counts_once(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	assert_true(lc_exit(&lc, 100, 0, false, NULL));
	assert_false(lc_exit(&lc, 100, 0, false, NULL));
	assert_int_equal(lc.agents[A].exits[REASON_COMPLETED], 1);
	assert_int_equal(lc.agents[A].live, 0);
}

static void test_start_rejects_bad_agent_and_pid_zero(void **state)
{
	assert_int_equal(lc_start(&lc, 100, 2, 0, true), -1);
	assert_int_equal(lc_start(&lc, 0, A, 0, true), -1);
	assert_int_equal(lc.count, 0);
	assert_int_equal(lc.dropped, 0);
}

static void test_duplicate_start_keeps_one_membership(void **state)
{
	assert_int_equal(lc_start(&lc, 100, A, 0, false), 0);
	assert_int_equal(lc_start(&lc, 100, A, 0, true), 0);
	assert_int_equal(lc.count, 1);
	assert_int_equal(lc.agents[A].live, 1);
}

static void test_duplicate_start_with_other_agent_moves(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	assert_int_equal(lc_start(&lc, 100, B, 0, true), 0);
	assert_int_equal(lc.count, 1);
	assert_int_equal(lc.agents[A].live, 0);
	assert_int_equal(lc.agents[B].live, 1);
	assert_int_equal(lc_find(&lc, 100)->agent, B);
}

static void test_live_count_follows_starts_and_exits(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	lc_start(&lc, 101, A, 0, true);
	lc_start(&lc, 102, A, 0, true);
	assert_int_equal(lc.agents[A].live, 3);
	lc_exit(&lc, 101, 0, false, NULL);
	assert_int_equal(lc.agents[A].live, 2);
	assert_int_equal(lc.count, 2);
	assert_int_equal(lc.agents[B].live, 0);
}

static void test_health_is_one_while_any_member_lives(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	lc_start(&lc, 101, A, 0, true);
	lc_exit(&lc, 100, 0, false, NULL);
	render(EXPO_TEXT, NULL, 0);
	assert_has_line(out.buf, "worker_health_status{worker_name=\"a\",worker_type=\"ta\"} 1");
	assert_has_line(out.buf, "worker_health_status{worker_name=\"b\",worker_type=\"b\"} 0");
	lc_exit(&lc, 101, 0, false, NULL);
	render(EXPO_TEXT, NULL, 0);
	assert_has_line(out.buf, "worker_health_status{worker_name=\"a\",worker_type=\"ta\"} 0");
}

static void test_move_transfers_membership(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	lc_move(&lc, 100, B);
	assert_int_equal(lc.agents[A].live, 0);
	assert_int_equal(lc.agents[B].live, 1);
	assert_int_equal(lc_find(&lc, 100)->agent, B);
	assert_true(lc_exit(&lc, 100, SIGKILL, false, NULL));
	assert_int_equal(lc.agents[B].exits[REASON_SIGNAL], 1);
	assert_int_equal(sum(lc.agents[A].exits), 0);
}

static void test_move_ignores_same_bad_or_unknown(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	lc_move(&lc, 100, A);
	lc_move(&lc, 100, 7);
	lc_move(&lc, 999, B);
	assert_int_equal(lc.agents[A].live, 1);
	assert_int_equal(lc.agents[B].live, 0);
	assert_int_equal(lc_find(&lc, 100)->agent, A);
	assert_null(lc_find(&lc, 999));
}

static void test_forget_removes_without_exit(void **state)
{
	lc_start(&lc, 100, A, 0, true);
	lc_start(&lc, 101, A, 0, true);
	lc_forget(&lc, 100);
	assert_null(lc_find(&lc, 100));
	assert_non_null(lc_find(&lc, 101));
	assert_int_equal(lc.agents[A].live, 1);
	assert_int_equal(lc.count, 1);
	assert_int_equal(sum(lc.agents[A].exits), 0);
	/* Nothing ended, so the next start is not a restart. */
	lc_start(&lc, 102, A, 0, true);
	assert_int_equal(sum(lc.agents[A].restarts), 0);
	lc_forget(&lc, 999);
	assert_int_equal(lc.count, 2);
}

static void test_table_limit_drops_and_recovers(void **state)
{
	struct lifecycle small;
	uint32_t pid;

	assert_int_equal(lc_init(&small, 1, 4), 0);
	for (pid = 1; pid <= 4; pid++)
		assert_int_equal(lc_start(&small, pid, 0, 0, true), 0);
	assert_int_equal(lc_start(&small, 5, 0, 0, true), -1);
	assert_int_equal(lc_start(&small, 6, 0, 0, true), -1);
	assert_int_equal(small.dropped, 2);
	assert_int_equal(small.count, 4);
	assert_int_equal(small.agents[0].live, 4);
	assert_null(lc_find(&small, 5));
	/* A member already tracked is still accepted at the limit. */
	assert_int_equal(lc_start(&small, 3, 0, 0, true), 0);
	assert_int_equal(small.dropped, 2);
	assert_true(lc_exit(&small, 2, 0, false, NULL));
	assert_int_equal(lc_start(&small, 5, 0, 0, true), 0);
	assert_non_null(lc_find(&small, 5));
	lc_free(&small);
}

static void test_exit_accumulates_final_usage(void **state)
{
	struct agent_usage fin = { .utime_ns = 3000000000ull, .stime_ns = 500000000ull,
				   .rchar = 100, .wchar = 7 };

	lc_start(&lc, 100, A, 0, true);
	lc_start(&lc, 101, A, 0, true);
	lc_exit(&lc, 100, 0, false, &fin);
	lc_exit(&lc, 101, 0, false, &fin);
	assert_int_equal(lc.agents[A].dead_utime_ns, 6000000000ull);
	assert_int_equal(lc.agents[A].dead_stime_ns, 1000000000ull);
	assert_int_equal(lc.agents[A].dead_rchar, 200);
	assert_int_equal(lc.agents[A].dead_wchar, 14);
	assert_int_equal(lc.agents[B].dead_utime_ns, 0);
}

/* ---- hash table stress ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rand32(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

static void shuffle(uint32_t *v, size_t n)
{
	size_t i, j;
	uint32_t t;

	for (i = n - 1; i > 0; i--) {
		j = rand32() % (i + 1);
		t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

#define NSTRESS	10000
#define NHOMES	40

/*
 * pid and pid + k * table size share a home slot. Use homes near the end of
 * the table so that probe chains wrap around, then pile many pids onto each.
 */
static void colliding_pids(const struct lifecycle *t, uint32_t *pids, int n)
{
	uint32_t size = t->mask + 1, base[NHOMES], p;
	int nb = 0, i;

	for (p = 1; nb < NHOMES; p++) {
		if (((p * 2654435761u) & t->mask) >= size - 2 * NHOMES)
			base[nb++] = p;
	}
	for (i = 0; i < n; i++)
		pids[i] = base[i % NHOMES] + (uint32_t)(i / NHOMES) * size;
}

static void test_table_stress_colliding_pids(void **state)
{
	static uint32_t pids[NSTRESS], gone[NSTRESS / 2];
	struct lifecycle big;
	struct member *m;
	int i, ngone = 0;

	assert_int_equal(lc_init(&big, 2, NSTRESS), 0);
	colliding_pids(&big, pids, NSTRESS);
	for (i = 0; i < NSTRESS; i++)
		assert_int_equal(lc_start(&big, pids[i], i & 1, i, true), 0);
	assert_int_equal(big.count, NSTRESS);

	shuffle(pids, NSTRESS);
	for (i = 0; i < NSTRESS; i += 2) {
		if (i & 2)
			assert_true(lc_exit(&big, pids[i], 0, false, NULL));
		else
			lc_forget(&big, pids[i]);
		gone[ngone++] = pids[i];
	}
	assert_int_equal(big.count, NSTRESS / 2);
	assert_int_equal(big.agents[0].live + big.agents[1].live, NSTRESS / 2);

	for (i = 1; i < NSTRESS; i += 2) {
		m = lc_find(&big, pids[i]);
		if (!m)
			fail_msg("pid %u lost after removals", pids[i]);
		assert_int_equal(m->pid, pids[i]);
	}
	for (i = 0; i < ngone; i++) {
		if (lc_find(&big, gone[i]))
			fail_msg("removed pid %u still found", gone[i]);
	}

	/* Empty the table the same way: nothing may be left behind. */
	for (i = 1; i < NSTRESS; i += 2)
		assert_true(lc_exit(&big, pids[i], EXIT_STATUS(1), false, NULL));
	assert_int_equal(big.count, 0);
	for (i = 0; i <= (int)big.mask; i++)
		assert_int_equal(big.table[i].pid, 0);
	lc_free(&big);
}

static void test_table_stress_random_pids(void **state)
{
	static uint32_t pids[NSTRESS];
	struct lifecycle big;
	int i, j;

	assert_int_equal(lc_init(&big, 1, NSTRESS), 0);
	for (i = 0; i < NSTRESS; i++) {
		do {
			pids[i] = rand32() % 4194304 + 1;
		} while (lc_find(&big, pids[i]));
		assert_int_equal(lc_start(&big, pids[i], 0, 0, true), 0);
	}
	/* Churn: remove and re-add in random order several times. */
	for (j = 0; j < 3; j++) {
		shuffle(pids, NSTRESS);
		for (i = 0; i < NSTRESS / 2; i++)
			lc_forget(&big, pids[i]);
		for (i = NSTRESS / 2; i < NSTRESS; i++)
			assert_non_null(lc_find(&big, pids[i]));
		for (i = 0; i < NSTRESS / 2; i++) {
			assert_null(lc_find(&big, pids[i]));
			assert_int_equal(lc_start(&big, pids[i], 0, 0, true), 0);
		}
	}
	assert_int_equal(big.count, NSTRESS);
	for (i = 0; i < NSTRESS; i++)
		assert_non_null(lc_find(&big, pids[i]));
	lc_free(&big);
}

/* ---- rendering ---- */

static void crash_loop(uint32_t agent, uint32_t first_pid, int n, int status)
{
	int i;

	lc_start(&lc, first_pid, agent, 0, true);
	for (i = 0; i < n; i++) {
		lc_exit(&lc, first_pid + i, status, false, NULL);
		lc_start(&lc, first_pid + i + 1, agent, 0, true);
	}
}

static void test_render_restarts_and_exits(void **state)
{
	const char *o;

	crash_loop(A, 100, 3, EXIT_STATUS(1));
	o = render(EXPO_TEXT, NULL, 0);
	assert_has_line(o, "# TYPE worker_restarts_total counter");
	assert_has_line(o, "worker_restarts_total{worker_name=\"a\",reason=\"error\"} 3");
	assert_has_line(o, "worker_restarts_total{worker_name=\"a\",reason=\"completed\"} 0");
	assert_has_line(o, "worker_restarts_total{worker_name=\"a\",reason=\"signal\"} 0");
	assert_has_line(o, "worker_restarts_total{worker_name=\"a\",reason=\"oom_killed\"} 0");
	assert_has_line(o, "worker_restarts_total{worker_name=\"b\",reason=\"error\"} 0");
	assert_has_line(o, "agent_process_exits_total{agent_type=\"a\",reason=\"error\"} 3");
	assert_has_line(o, "agent_process_exits_total{agent_type=\"b\",reason=\"error\"} 0");
}

static void test_render_live_processes_and_health(void **state)
{
	const char *o;

	lc_start(&lc, 100, A, 0, true);
	lc_start(&lc, 101, A, 0, true);
	o = render(EXPO_TEXT, NULL, 0);
	assert_has_line(o, "agent_processes{agent_type=\"a\"} 2");
	assert_has_line(o, "agent_processes{agent_type=\"b\"} 0");
	assert_has_line(o, "worker_health_status{worker_name=\"a\",worker_type=\"ta\"} 1");
}

static void test_render_start_time_only_for_live_agents(void **state)
{
	const char *o;

	usage[A].oldest_start_ns = 5000000000ull;
	o = render(EXPO_TEXT, NULL, 1700000000000000000ull);
	assert_has_line(o, "agent_process_start_time_seconds{agent_type=\"a\"} 1700000005");
	assert_null(strstr(o, "agent_process_start_time_seconds{agent_type=\"b\"}"));
}

static void test_render_usage_gauges(void **state)
{
	const char *o;

	usage[B].rss_bytes = 1048576;
	usage[B].fds = 12;
	o = render(EXPO_TEXT, NULL, 0);
	assert_has_line(o, "agent_memory_rss_bytes{agent_type=\"b\"} 1048576");
	assert_has_line(o, "agent_open_fds{agent_type=\"b\"} 12");
	assert_has_line(o, "agent_memory_rss_bytes{agent_type=\"a\"} 0");
}

static void test_render_cpu_and_io_include_dead_members(void **state)
{
	struct agent_usage fin = { .utime_ns = 2000000000ull, .stime_ns = 250000000ull,
				   .rchar = 1000, .wchar = 10 };
	const char *o;

	lc_start(&lc, 100, A, 0, true);
	lc_exit(&lc, 100, 0, false, &fin);
	lc_usage_base(&lc, usage);
	usage[A].utime_ns += 1000000000ull;
	usage[A].stime_ns += 250000000ull;
	usage[A].rchar += 24;
	usage[A].wchar += 5;
	o = render(EXPO_TEXT, NULL, 0);
	assert_has_line(o, "agent_cpu_seconds_total{agent_type=\"a\",mode=\"user\"} 3");
	assert_has_line(o, "agent_cpu_seconds_total{agent_type=\"a\",mode=\"system\"} 0.5");
	assert_has_line(o, "agent_io_bytes_total{agent_type=\"a\",direction=\"read\"} 1024");
	assert_has_line(o, "agent_io_bytes_total{agent_type=\"a\",direction=\"write\"} 15");
}

static void test_render_counters_monotonic_when_live_usage_drops(void **state)
{
	const char *user = "agent_cpu_seconds_total{agent_type=\"a\",mode=\"user\"}";
	const char *sys = "agent_cpu_seconds_total{agent_type=\"a\",mode=\"system\"}";
	const char *rd = "agent_io_bytes_total{agent_type=\"a\",direction=\"read\"}";
	double user1, sys1, rd1;

	lc_start(&lc, 100, A, 0, true);
	usage[A] = (struct agent_usage){ .utime_ns = 5000000000ull, .stime_ns = 2000000000ull,
					 .rchar = 4096 };
	render(EXPO_TEXT, NULL, 0);
	user1 = sample_value(out.buf, user);
	sys1 = sample_value(out.buf, sys);
	rd1 = sample_value(out.buf, rd);
	assert_true(user1 == 5);
	assert_true(sys1 == 2);
	assert_true(rd1 == 4096);

	/*
	 * The member exits; its final usage, read at a different moment than
	 * the live sample, is lower than what was already shown.
	 */
	assert_true(lc_exit(&lc, 100, 0, false, &(struct agent_usage){
		.utime_ns = 4000000000ull, .stime_ns = 1000000000ull, .rchar = 100 }));
	memset(&usage[A], 0, sizeof(usage[A]));
	render(EXPO_TEXT, NULL, 0);
	assert_true(sample_value(out.buf, user) >= user1);
	assert_true(sample_value(out.buf, sys) >= sys1);
	assert_true(sample_value(out.buf, rd) >= rd1);
	assert_true(sample_value(out.buf, user) == 5);

	/* It grows again once the real total passes what was shown. */
	lc_start(&lc, 101, A, 0, true);
	lc_usage_base(&lc, usage);
	usage[A].utime_ns += 3000000000ull;	/* 4 s dead + 3 s live */
	render(EXPO_TEXT, NULL, 0);
	assert_true(sample_value(out.buf, user) == 7);
}

static void test_render_openmetrics_counter_families(void **state)
{
	const char *o;

	crash_loop(A, 100, 2, SIGKILL);
	o = render(EXPO_OPENMETRICS, NULL, 0);
	assert_has_line(o, "# TYPE worker_restarts counter");
	assert_has_line(o, "worker_restarts_total{worker_name=\"a\",reason=\"signal\"} 2");
	assert_has_line(o, "# TYPE agent_cpu_seconds counter");
	assert_has_line(o, "# TYPE agent_processes gauge");
	assert_true(strlen(o) >= 6 && !strcmp(o + strlen(o) - 6, "# EOF\n"));
}

static void test_render_applies_namespace(void **state)
{
	const char *o;

	crash_loop(B, 100, 1, EXIT_STATUS(3));
	o = render(EXPO_TEXT, "myns", 0);
	assert_has_line(o, "myns_worker_restarts_total{worker_name=\"b\",reason=\"error\"} 1");
	assert_has_line(o, "myns_agent_processes{agent_type=\"b\"} 1");
	assert_null(strstr(o, "\nworker_"));
	assert_null(strstr(o, "\nagent_"));
}

/* ---- primaries and helpers ---- */

/* A worker forked by a member (pre-fork server) is a primary: its exit counts. */
static void test_fork_without_exec_is_primary(void **state)
{
	lc_start(&lc, 100, A, 0, LC_NEW);
	lc_start(&lc, 101, A, 0, LC_NEW | LC_FORKED);
	assert_int_equal(lc.agents[A].live, 2);
	assert_true(lc_exit(&lc, 101, EXIT_STATUS(1), false, NULL));
	assert_int_equal(lc.agents[A].exits[REASON_ERROR], 1);
	lc_start(&lc, 102, A, 0, LC_NEW | LC_FORKED);
	assert_int_equal(lc.agents[A].restarts[REASON_ERROR], 1);
}

/* subprocess.run(["git", ...]): fork, exec an unmatched program, exit 1. */
static void test_fork_then_exec_unmatched_is_a_helper(void **state)
{
	lc_start(&lc, 100, A, 0, LC_NEW);
	lc_start(&lc, 101, A, 0, LC_NEW | LC_FORKED);
	lc_exec(&lc, 101, -1);
	assert_true(lc_find(&lc, 101)->flags & LC_HELPER);
	assert_int_equal(lc.agents[A].live, 1);
	assert_true(lc_exit(&lc, 101, EXIT_STATUS(1), false, NULL));
	assert_int_equal(sum(lc.agents[A].exits), 0);
	/* The next tool run is not a restart either. */
	lc_start(&lc, 102, A, 0, LC_NEW | LC_FORKED);
	lc_exec(&lc, 102, -1);
	assert_int_equal(sum(lc.agents[A].restarts), 0);
	assert_null(lc_find(&lc, 101));
}

/* The fork took the pending restart; its exec of a tool gives it back. */
static void test_helper_gives_back_the_restart_its_fork_took(void **state)
{
	lc_start(&lc, 100, A, 0, LC_NEW);
	lc_exit(&lc, 100, SIGKILL, false, NULL);
	lc_start(&lc, 101, A, 0, LC_NEW);	/* the supervisor restarts it */
	assert_int_equal(lc.agents[A].restarts[REASON_SIGNAL], 1);
	lc_exit(&lc, 101, EXIT_STATUS(3), false, NULL);
	lc_start(&lc, 102, A, 0, LC_NEW);
	assert_int_equal(lc.agents[A].restarts[REASON_ERROR], 1);
	lc_exit(&lc, 102, 0, false, NULL);
	/* A leftover child of 102 forks a tool before the next start. */
	lc_start(&lc, 103, A, 0, LC_NEW | LC_FORKED);
	assert_int_equal(lc.agents[A].restarts[REASON_COMPLETED], 1);
	lc_exec(&lc, 103, -1);
	assert_int_equal(lc.agents[A].restarts[REASON_COMPLETED], 0);
	lc_start(&lc, 104, A, 0, LC_NEW);
	assert_int_equal(lc.agents[A].restarts[REASON_COMPLETED], 1);
	assert_int_equal(sum(lc.agents[A].restarts), 3);
}

/* A process that matched on its own stays primary whatever it execs (wrappers). */
static void test_matched_process_exec_unmatched_stays_primary(void **state)
{
	lc_start(&lc, 100, A, 0, LC_NEW);
	lc_exec(&lc, 100, -1);
	assert_false(lc_find(&lc, 100)->flags & LC_HELPER);
	assert_int_equal(lc.agents[A].live, 1);
	lc_exit(&lc, 100, EXIT_STATUS(1), false, NULL);
	assert_int_equal(lc.agents[A].exits[REASON_ERROR], 1);
}

/* A helper that execs the agent's program again is a start of the agent. */
static void test_helper_exec_matched_becomes_primary(void **state)
{
	lc_start(&lc, 100, A, 0, LC_NEW);
	lc_exit(&lc, 100, EXIT_STATUS(1), false, NULL);
	lc_start(&lc, 101, A, 0, LC_HELPER);
	assert_int_equal(lc.agents[A].live, 0);
	lc_exec(&lc, 101, B);
	assert_int_equal(lc_find(&lc, 101)->agent, B);
	assert_int_equal(lc.agents[B].live, 1);
	assert_int_equal(sum(lc.agents[B].restarts), 0);
	lc_start(&lc, 102, A, 0, LC_HELPER);
	lc_exec(&lc, 102, A);
	assert_int_equal(lc.agents[A].live, 1);
	assert_int_equal(lc.agents[A].restarts[REASON_ERROR], 1);
}

/* Restarts never render lower than before, even when a fork's is given back. */
static void test_render_restarts_monotonic_across_give_back(void **state)
{
	const char *out;

	lc_start(&lc, 100, A, 0, LC_NEW);
	lc_exit(&lc, 100, EXIT_STATUS(1), false, NULL);
	lc_start(&lc, 101, A, 0, LC_NEW | LC_FORKED);
	out = render(EXPO_TEXT, NULL, 0);
	assert_has_line(out, "worker_restarts_total{worker_name=\"a\",reason=\"error\"} 1");
	lc_exec(&lc, 101, -1);
	out = render(EXPO_TEXT, NULL, 0);
	assert_has_line(out, "worker_restarts_total{worker_name=\"a\",reason=\"error\"} 1");
}

/* Helpers count for resources but not for health or agent_processes. */
static void test_helpers_do_not_keep_an_agent_healthy(void **state)
{
	const char *out;

	lc_start(&lc, 100, A, 0, LC_HELPER);
	out = render(EXPO_TEXT, NULL, 0);
	assert_has_line(out, "worker_health_status{worker_name=\"a\",worker_type=\"ta\"} 0");
	assert_has_line(out, "agent_processes{agent_type=\"a\"} 0");
	assert_int_equal(lc.count, 1);
	lc_forget(&lc, 100);
	assert_int_equal(lc.count, 0);
	assert_int_equal(lc.agents[A].live, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_reason_status_zero_is_completed),
		cmocka_unit_test(test_exit_reason_nonzero_status_is_error),
		cmocka_unit_test(test_exit_reason_signal),
		cmocka_unit_test(test_exit_reason_core_dump_is_signal),
		cmocka_unit_test(test_exit_reason_oom_flag_wins),
		cmocka_unit_test(test_exit_reason_names),
		T(test_init_sizes_table_for_half_load),
		T(test_first_start_is_not_a_restart),
		T(test_crash_loop_counts_each_restart),
		T(test_pool_crash_counts_one_restart_per_replacement),
		T(test_restart_reason_is_most_recent_exit),
		T(test_restart_reason_follows_each_exit),
		T(test_one_exit_then_two_starts_is_one_restart),
		T(test_startup_scan_starts_are_never_restarts),
		T(test_restarts_are_per_agent),
		T(test_exit_of_unknown_pid_changes_nothing),
		T(test_exit_twice_counts_once),
		T(test_start_rejects_bad_agent_and_pid_zero),
		T(test_duplicate_start_keeps_one_membership),
		T(test_duplicate_start_with_other_agent_moves),
		T(test_live_count_follows_starts_and_exits),
		T(test_health_is_one_while_any_member_lives),
		T(test_move_transfers_membership),
		T(test_move_ignores_same_bad_or_unknown),
		T(test_forget_removes_without_exit),
		T(test_table_limit_drops_and_recovers),
		T(test_exit_accumulates_final_usage),
		cmocka_unit_test(test_table_stress_colliding_pids),
		cmocka_unit_test(test_table_stress_random_pids),
		T(test_render_restarts_and_exits),
		T(test_render_live_processes_and_health),
		T(test_render_start_time_only_for_live_agents),
		T(test_render_usage_gauges),
		T(test_render_cpu_and_io_include_dead_members),
		T(test_render_counters_monotonic_when_live_usage_drops),
		T(test_render_openmetrics_counter_families),
		T(test_render_applies_namespace),
		T(test_fork_without_exec_is_primary),
		T(test_fork_then_exec_unmatched_is_a_helper),
		T(test_helper_gives_back_the_restart_its_fork_took),
		T(test_matched_process_exec_unmatched_stays_primary),
		T(test_helper_exec_matched_becomes_primary),
		T(test_render_restarts_monotonic_across_give_back),
		T(test_helpers_do_not_keep_an_agent_healthy),
	};

	return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
