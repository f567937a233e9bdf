// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* agentbpf top: reading a scrape, percentiles, the table. */
#include <math.h>
#include "unit.h"
#include "top.h"

static const char *scrape_at(int step)
{
	/* Two scrapes of the same daemon, one interval apart. */
	static const char *texts[] = {
		"# HELP agent_requests_total x\n"
		"# TYPE agent_requests_total counter\n"
		"agent_requests_total{agent_type=\"planner\",status=\"success\"} 100\n"
		"agent_requests_total{agent_type=\"planner\",status=\"error\"} 0\n"
		"agent_requests_total{agent_type=\"planner\",status=\"timeout\"} 0\n"
		"agent_request_duration_seconds_bucket{agent_type=\"planner\",le=\"0.1\"} 50\n"
		"agent_request_duration_seconds_bucket{agent_type=\"planner\",le=\"1\"} 100\n"
		"agent_request_duration_seconds_bucket{agent_type=\"planner\",le=\"+Inf\"} 100\n"
		"agent_processes{agent_type=\"planner\"} 2\n"
		"worker_active_requests{worker_name=\"planner\"} 1\n"
		"worker_restarts_total{worker_name=\"planner\",reason=\"error\"} 1\n"
		"worker_restarts_total{worker_name=\"planner\",reason=\"oom_killed\"} 1\n"
		"message_bus_messages_total{from_agent=\"planner\",to_agent=\"worker\",message_type=\"list\"} 10\n"
		"message_bus_messages_total{from_agent=\"unknown\",to_agent=\"worker\",message_type=\"list\"} 5\n"
		"agent_outbound_requests_total{agent_type=\"planner\",peer=\"worker\",status=\"success\"} 40\n"
		"agent_llm_tokens_total{agent_type=\"planner\",provider=\"openai\",model=\"m\",kind=\"input\"} 1000\n"
		"agentbpf_build_info{version=\"0.1.0\"} 1\n",

		"agent_requests_total{agent_type=\"planner\",status=\"success\"} 280\n"
		"agent_requests_total{agent_type=\"planner\",status=\"error\"} 15\n"
		"agent_requests_total{agent_type=\"planner\",status=\"timeout\"} 5\n"
		"agent_request_duration_seconds_bucket{agent_type=\"planner\",le=\"0.1\"} 50\n"
		"agent_request_duration_seconds_bucket{agent_type=\"planner\",le=\"1\"} 300\n"
		"agent_request_duration_seconds_bucket{agent_type=\"planner\",le=\"+Inf\"} 300\n"
		"agent_processes{agent_type=\"planner\"} 2\n"
		"worker_active_requests{worker_name=\"planner\"} 3\n"
		"worker_restarts_total{worker_name=\"planner\",reason=\"error\"} 1\n"
		"worker_restarts_total{worker_name=\"planner\",reason=\"oom_killed\"} 1\n"
		"message_bus_messages_total{from_agent=\"planner\",to_agent=\"worker\",message_type=\"list\"} 30\n"
		"message_bus_messages_total{from_agent=\"unknown\",to_agent=\"worker\",message_type=\"list\"} 5\n"
		"agent_outbound_requests_total{agent_type=\"planner\",peer=\"worker\",status=\"success\"} 46\n"
		"agent_outbound_requests_total{agent_type=\"planner\",peer=\"api.example.com\",status=\"error\"} 2\n"
		"agent_llm_tokens_total{agent_type=\"planner\",provider=\"openai\",model=\"m\",kind=\"input\"} 1300\n"
		"agent_llm_tokens_total{agent_type=\"planner\",provider=\"openai\",model=\"m\",kind=\"output\"} 100\n",
	};
	return texts[step];
}

static struct top_snapshot snap[2];

static const struct top_agent *agent_named(const struct top_snapshot *s, const char *name)
{
	int i;

	for (i = 0; i < s->n; i++) {
		if (!strcmp(s->a[i].name, name))
			return &s->a[i];
	}
	return NULL;
}

static void test_parse_folds_each_family_by_agent(void **state)
{
	const struct top_agent *p, *w;

	assert_int_equal(top_parse(scrape_at(0), &snap[0]), 14);
	assert_int_equal(snap[0].n, 2);	/* planner, worker; "unknown" is no row */
	p = agent_named(&snap[0], "planner");
	w = agent_named(&snap[0], "worker");
	assert_non_null(p);
	assert_non_null(w);
	assert_true(p->requests[0] == 100 && p->requests[1] == 0 && p->requests[2] == 0);
	assert_int_equal(p->nbuckets, 3);
	assert_true(p->le[0] == 0.1 && p->le[1] == 1 && isinf(p->le[2]));
	assert_true(p->cum[2] == 100);
	assert_true(p->procs == 2 && p->inflight == 1 && p->restarts == 2);
	assert_true(p->msgs_out == 10 && p->msgs_in == 0);
	assert_true(w->msgs_in == 15 && w->msgs_out == 0);
	assert_true(p->calls[0] == 40 && p->calls[1] == 0);
}

static void test_parse_accepts_a_namespace_and_odd_labels(void **state)
{
	const char *text =
		"insa_agent_processes{agent_type=\"a \\\"quoted\\\" name\"} 4\n"
		"insa_agent_requests_total{status=\"success\",agent_type=\"x,y}\"} 7 1700000000000\n"
		"agent_outbound_requests_total{agent_type=\"x\",status=\"success\"} 9\n"
		"xagent_processes{agent_type=\"x\"} 1\n"
		"agent_processes{agent_type=\"broken\"} not-a-number\n"
		"garbage line without value\n";

	assert_int_equal(top_parse(text, &snap[0]), 3);
	assert_int_equal(snap[0].n, 3);
	/* A call of agent x's is no request of x's. */
	assert_true(agent_named(&snap[0], "x")->calls[0] == 9 &&
		    agent_named(&snap[0], "x")->requests[0] == 0);
	assert_true(agent_named(&snap[0], "a \"quoted\" name")->procs == 4);
	assert_true(agent_named(&snap[0], "x,y}")->requests[0] == 7);
}

static void test_quantile_interpolates_like_promql(void **state)
{
	double le[] = { 0.1, 1, INFINITY }, cum[] = { 50, 100, 100 }, empty[] = { 0, 0, 0 };
	double top[] = { 0, 0, 10 };

	assert_true(fabs(top_quantile(le, cum, 3, 0.5) - 0.1) < 1e-9);
	assert_true(fabs(top_quantile(le, cum, 3, 0.75) - 0.55) < 1e-9);
	assert_true(fabs(top_quantile(le, cum, 3, 0.25) - 0.05) < 1e-9);
	assert_true(isnan(top_quantile(le, empty, 3, 0.5)));
	/* Everything above the last finite bound: that bound is the answer. */
	assert_true(top_quantile(le, top, 3, 0.99) == 1);
}

static void test_render_shows_rates_errors_and_interval_percentiles(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	top_parse(scrape_at(0), &snap[0]);
	top_parse(scrape_at(1), &snap[1]);
	top_render(f, &snap[0], &snap[1], 2.0);
	fclose(f);
	/*
	 * 200 requests in 2 s, 20 of them failed; all 200 took 0.1-1 s, so the
	 * interval's p50 is 550 ms even though half of all requests ever were faster.
	 */
	assert_has_line(out, "AGENT                    PROCS   REQUESTS    REQ/S   ERR%      P50      P95      P99 INFLIGHT RESTARTS  MSG_IN/S MSG_OUT/S  CALLS/S CALL_ERR%  TOK/MIN");
	/* 8 calls in 2 s, 2 of them failed; 400 LLM tokens in 2 s. */
	assert_has_line(out, "planner                      2        300    100.0   10.0  550.0ms  955.0ms  991.0ms        3        2       0.0      10.0      4.0      25.0    12000");
	assert_has_line(out, "worker                       0          0      0.0      -        -        -        -        0        0      10.0       0.0      0.0         -        0");
	free(out);
}

static void test_families_that_are_off_are_said(void **state)
{
	static const char text[] =
		"agentbpf_probe_family_up{family=\"lifecycle\",hook=\"tp_btf\"} 1\n"
		"agentbpf_probe_family_up{family=\"http\",hook=\"fexit\"} 0\n"
		"agentbpf_probe_family_up{family=\"bus\",hook=\"fexit\"} 0\n"
		"agent_processes{agent_type=\"planner\"} 2\n";
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	assert_int_equal(top_parse(text, &snap[0]), 4);
	assert_int_equal(snap[0].noff, 2);
	assert_string_equal(snap[0].off[0], "http");
	assert_string_equal(snap[0].off[1], "bus");
	f = open_memstream(&out, &len);
	top_render(f, NULL, &snap[0], 2.0);
	fclose(f);
	assert_has_line(out, "off: http, bus (not measured: their columns are not zeros; 'agentbpf check' says why)");
	free(out);
	/* All up: no such line. */
	assert_int_equal(top_parse("agentbpf_probe_family_up{family=\"lifecycle\",hook=\"tp_btf\"} 1\n"
				   "agentbpf_probe_family_up{family=\"http\",hook=\"tp_btf\"} 1\n"
				   "agentbpf_probe_family_up{family=\"bus\",hook=\"tp_btf\"} 1\n",
				   &snap[1]), 3);
	assert_int_equal(snap[1].noff, 0);
	out = NULL;
	f = open_memstream(&out, &len);
	top_render(f, NULL, &snap[1], 2.0);
	fclose(f);
	assert_null(strstr(out, "off:"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_folds_each_family_by_agent),
		cmocka_unit_test(test_parse_accepts_a_namespace_and_odd_labels),
		cmocka_unit_test(test_quantile_interpolates_like_promql),
		cmocka_unit_test(test_render_shows_rates_errors_and_interval_percentiles),
		cmocka_unit_test(test_families_that_are_off_are_said),
	};

	return cmocka_run_group_tests_name("top", tests, NULL, NULL);
}
