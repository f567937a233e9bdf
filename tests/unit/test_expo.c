// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Exposition: text format 0.0.4, OpenMetrics 1.0, Accept negotiation. */
#include "unit.h"
#include "expo.h"

static struct strbuf out;
static struct expo e;

static int setup(void **state)
{
	sb_init(&out);
	return 0;
}

static int teardown(void **state)
{
	sb_free(&out);
	return 0;
}

static const char *text(void)
{
	return out.buf ? out.buf : "";
}

static void start(enum expo_format fmt, const char *ns)
{
	expo_init(&e, &out, fmt, ns);
}

/* ---- escaping ---- */

static void test_escape_label_backslash_quote_newline(void **state)
{
	expo_escape_label(&out, "a\\b\"c\nd");
	assert_string_equal(text(), "a\\\\b\\\"c\\nd");
}

static void test_escape_label_plain_value_unchanged(void **state)
{
	expo_escape_label(&out, "claude-code /usr/bin/node {x=1}");
	assert_string_equal(text(), "claude-code /usr/bin/node {x=1}");
}

static void test_sample_label_value_is_escaped(void **state)
{
	struct label l[] = { { "worker_name", "C:\\agents\\\"bob\"\nx" } };

	start(EXPO_TEXT, NULL);
	expo_family(&e, "agent_processes", EXPO_GAUGE, "Live.");
	expo_sample(&e, l, 1, 2);
	assert_has_line(text(), "agent_processes{worker_name=\"C:\\\\agents\\\\\\\"bob\\\"\\nx\"} 2");
}

static void test_sample_null_label_value_is_empty(void **state)
{
	struct label l[] = { { "a", NULL }, { "b", "x" } };

	start(EXPO_TEXT, NULL);
	expo_family(&e, "g", EXPO_GAUGE, "G.");
	expo_sample(&e, l, 2, 1);
	assert_has_line(text(), "g{a=\"\",b=\"x\"} 1");
}

static void test_sample_without_labels_has_no_braces(void **state)
{
	start(EXPO_TEXT, NULL);
	expo_family(&e, "g", EXPO_GAUGE, "G.");
	expo_sample(&e, NULL, 0, 0.5);
	assert_string_equal(text(), "# HELP g G.\n# TYPE g gauge\ng 0.5\n");
}

static void test_help_escaping_text_format(void **state)
{
	start(EXPO_TEXT, NULL);
	expo_family(&e, "g", EXPO_GAUGE, "a\\b \"q\"\nnext");
	/* Text 0.0.4 escapes backslash and newline in HELP, not quotes. */
	assert_has_line(text(), "# HELP g a\\\\b \"q\"\\nnext");
}

static void test_help_escaping_openmetrics(void **state)
{
	start(EXPO_OPENMETRICS, NULL);
	expo_family(&e, "g", EXPO_GAUGE, "a\\b \"q\"\nnext");
	assert_has_line(text(), "# HELP g a\\\\b \\\"q\\\"\\nnext");
}

/* ---- families and types ---- */

static void test_counter_text_keeps_total_everywhere(void **state)
{
	struct label l[] = { { "agent_type", "a" } };

	start(EXPO_TEXT, NULL);
	expo_family(&e, "agent_io_bytes_total", EXPO_COUNTER, "Bytes.");
	expo_sample(&e, l, 1, 42);
	assert_string_equal(text(),
			    "# HELP agent_io_bytes_total Bytes.\n"
			    "# TYPE agent_io_bytes_total counter\n"
			    "agent_io_bytes_total{agent_type=\"a\"} 42\n");
}

static void test_counter_openmetrics_family_drops_total(void **state)
{
	struct label l[] = { { "agent_type", "a" } };

	start(EXPO_OPENMETRICS, NULL);
	expo_family(&e, "agent_io_bytes_total", EXPO_COUNTER, "Bytes.");
	expo_sample(&e, l, 1, 42);
	assert_string_equal(text(),
			    "# HELP agent_io_bytes Bytes.\n"
			    "# TYPE agent_io_bytes counter\n"
			    "agent_io_bytes_total{agent_type=\"a\"} 42\n");
}

static void test_info_text_is_gauge(void **state)
{
	struct label l[] = { { "version", "0.1.0" } };

	start(EXPO_TEXT, NULL);
	expo_family(&e, "agentbpf_build_info", EXPO_INFO, "Build.");
	expo_sample(&e, l, 1, 1);
	assert_string_equal(text(),
			    "# HELP agentbpf_build_info Build.\n"
			    "# TYPE agentbpf_build_info gauge\n"
			    "agentbpf_build_info{version=\"0.1.0\"} 1\n");
}

static void test_info_openmetrics_family_drops_info(void **state)
{
	struct label l[] = { { "version", "0.1.0" } };

	start(EXPO_OPENMETRICS, NULL);
	expo_family(&e, "agentbpf_build_info", EXPO_INFO, "Build.");
	expo_sample(&e, l, 1, 1);
	assert_string_equal(text(),
			    "# HELP agentbpf_build Build.\n"
			    "# TYPE agentbpf_build info\n"
			    "agentbpf_build_info{version=\"0.1.0\"} 1\n");
}

static void test_gauge_openmetrics_name_unchanged(void **state)
{
	start(EXPO_OPENMETRICS, NULL);
	expo_family(&e, "worker_total_things", EXPO_GAUGE, "G.");
	assert_has_line(text(), "# TYPE worker_total_things gauge");
}

static void test_openmetrics_ends_with_eof(void **state)
{
	start(EXPO_OPENMETRICS, NULL);
	expo_family(&e, "g", EXPO_GAUGE, "G.");
	expo_sample(&e, NULL, 0, 1);
	expo_finish(&e);
	assert_string_equal(text(), "# HELP g G.\n# TYPE g gauge\ng 1\n# EOF\n");
}

static void test_text_has_no_eof(void **state)
{
	start(EXPO_TEXT, NULL);
	expo_family(&e, "g", EXPO_GAUGE, "G.");
	expo_sample(&e, NULL, 0, 1);
	expo_finish(&e);
	assert_string_equal(text(), "# HELP g G.\n# TYPE g gauge\ng 1\n");
	assert_null(strstr(text(), "EOF"));
}

/* ---- namespace ---- */

static void test_namespace_prefixes_agent_families(void **state)
{
	start(EXPO_TEXT, "myns");
	expo_family(&e, "agent_processes", EXPO_GAUGE, "Live.");
	expo_sample(&e, NULL, 0, 3);
	assert_string_equal(text(),
			    "# HELP myns_agent_processes Live.\n"
			    "# TYPE myns_agent_processes gauge\n"
			    "myns_agent_processes 3\n");
}

static void test_namespace_prefix_with_openmetrics_counter(void **state)
{
	start(EXPO_OPENMETRICS, "myns");
	expo_family(&e, "worker_restarts_total", EXPO_COUNTER, "R.");
	expo_sample(&e, NULL, 0, 1);
	assert_has_line(text(), "# TYPE myns_worker_restarts counter");
	assert_has_line(text(), "myns_worker_restarts_total 1");
}

static void test_namespace_never_prefixes_agentbpf_names(void **state)
{
	start(EXPO_TEXT, "myns");
	expo_family(&e, "agentbpf_scrape_duration_seconds", EXPO_GAUGE, "S.");
	expo_sample(&e, NULL, 0, 1);
	assert_has_line(text(), "# TYPE agentbpf_scrape_duration_seconds gauge");
	assert_has_line(text(), "agentbpf_scrape_duration_seconds 1");
	assert_null(strstr(text(), "myns"));
}

static void test_empty_or_null_namespace_adds_nothing(void **state)
{
	start(EXPO_TEXT, "");
	expo_family(&e, "agent_processes", EXPO_GAUGE, "L.");
	start(EXPO_TEXT, NULL);
	expo_family(&e, "agent_open_fds", EXPO_GAUGE, "F.");
	assert_string_equal(text(),
			    "# HELP agent_processes L.\n# TYPE agent_processes gauge\n"
			    "# HELP agent_open_fds F.\n# TYPE agent_open_fds gauge\n");
}

/* ---- histograms ---- */

static const double bounds[] = { 0.005, 0.1, 1, 10 };
static const uint64_t counts[] = { 2, 3, 0, 1 };	/* per bucket, not cumulative */

static void render_histogram(enum expo_format fmt)
{
	struct label l[] = { { "agent_type", "a" } };

	start(fmt, NULL);
	expo_family(&e, "agent_request_duration_seconds", EXPO_HISTOGRAM, "Latency.");
	expo_histogram(&e, l, 1, bounds, counts, 4, 4, 12.5);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
	render_histogram(EXPO_TEXT);
	assert_has_line(text(), "agent_request_duration_seconds_bucket{agent_type=\"a\",le=\"0.005\"} 2");
	assert_has_line(text(), "agent_request_duration_seconds_bucket{agent_type=\"a\",le=\"0.1\"} 5");
	assert_has_line(text(), "agent_request_duration_seconds_bucket{agent_type=\"a\",le=\"1\"} 5");
	assert_has_line(text(), "agent_request_duration_seconds_bucket{agent_type=\"a\",le=\"10\"} 6");
}

static void test_histogram_buckets_in_ascending_order(void **state)
{
	const char *le[] = { "le=\"0.005\"", "le=\"0.1\"", "le=\"1\"", "le=\"10\"", "le=\"+Inf\"" };
	const char *prev;
	size_t i;

	render_histogram(EXPO_TEXT);
	prev = text();
	for (i = 0; i < ARRAY_SIZE(le); i++) {
		const char *p = strstr(text(), le[i]);

		assert_non_null(p);
		assert_true(p > prev);
		prev = p;
	}
}

static void test_histogram_inf_bucket_equals_count(void **state)
{
	double inf, count;

	render_histogram(EXPO_TEXT);
	inf = sample_value(text(), "agent_request_duration_seconds_bucket{agent_type=\"a\",le=\"+Inf\"}");
	count = sample_value(text(), "agent_request_duration_seconds_count{agent_type=\"a\"}");
	assert_true(inf == 10);		/* 2 + 3 + 0 + 1 + overflow 4 */
	assert_true(count == inf);
}

static void test_histogram_sum_rendered(void **state)
{
	render_histogram(EXPO_TEXT);
	assert_has_line(text(), "agent_request_duration_seconds_sum{agent_type=\"a\"} 12.5");
}

static void test_histogram_type_line_and_series_count(void **state)
{
	render_histogram(EXPO_OPENMETRICS);
	assert_has_line(text(), "# TYPE agent_request_duration_seconds histogram");
	/* 4 bounds + +Inf + _sum + _count */
	assert_int_equal(e.series, 7);
}

static void test_histogram_without_labels(void **state)
{
	const double b[] = { 1 };
	const uint64_t c[] = { 1 };

	start(EXPO_TEXT, NULL);
	expo_family(&e, "h", EXPO_HISTOGRAM, "H.");
	expo_histogram(&e, NULL, 0, b, c, 1, 0, 0.25);
	assert_string_equal(text(),
			    "# HELP h H.\n# TYPE h histogram\n"
			    "h_bucket{le=\"1\"} 1\n"
			    "h_bucket{le=\"+Inf\"} 1\n"
			    "h_sum 0.25\n"
			    "h_count 1\n");
}

static void test_series_counts_samples(void **state)
{
	start(EXPO_TEXT, NULL);
	expo_family(&e, "g", EXPO_GAUGE, "G.");
	expo_sample(&e, NULL, 0, 1);
	expo_sample(&e, NULL, 0, 2);
	expo_family(&e, "h", EXPO_GAUGE, "H.");
	expo_sample(&e, NULL, 0, 3);
	assert_int_equal(e.series, 3);
}

/* ---- Accept negotiation ---- */

static void test_accept_prometheus_header_wants_openmetrics(void **state)
{
	assert_true(expo_wants_openmetrics(
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
		"text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
}

static void test_accept_text_plain_gets_text(void **state)
{
	assert_false(expo_wants_openmetrics("text/plain"));
	assert_false(expo_wants_openmetrics("text/plain;version=0.0.4;q=1,*/*;q=0.1"));
}

static void test_accept_null_gets_text(void **state)
{
	assert_false(expo_wants_openmetrics(NULL));
	assert_false(expo_wants_openmetrics(""));
	assert_false(expo_wants_openmetrics("*/*"));
}

static void test_accept_openmetrics_q0_is_refused(void **state)
{
	assert_false(expo_wants_openmetrics("application/openmetrics-text;q=0"));
	assert_false(expo_wants_openmetrics("application/openmetrics-text; version=1.0.0; q=0.0, text/plain"));
}

static void test_accept_q0_only_applies_to_its_own_entry(void **state)
{
	assert_true(expo_wants_openmetrics("application/openmetrics-text,text/plain;q=0"));
	assert_true(expo_wants_openmetrics(
		"application/openmetrics-text;version=0.0.1;q=0,application/openmetrics-text;version=1.0.0;q=0.5"));
}

static void test_accept_openmetrics_case_insensitive(void **state)
{
	assert_true(expo_wants_openmetrics("Application/OpenMetrics-Text; version=1.0.0"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_escape_label_backslash_quote_newline),
		T(test_escape_label_plain_value_unchanged),
		T(test_sample_label_value_is_escaped),
		T(test_sample_null_label_value_is_empty),
		T(test_sample_without_labels_has_no_braces),
		T(test_help_escaping_text_format),
		T(test_help_escaping_openmetrics),
		T(test_counter_text_keeps_total_everywhere),
		T(test_counter_openmetrics_family_drops_total),
		T(test_info_text_is_gauge),
		T(test_info_openmetrics_family_drops_info),
		T(test_gauge_openmetrics_name_unchanged),
		T(test_openmetrics_ends_with_eof),
		T(test_text_has_no_eof),
		T(test_namespace_prefixes_agent_families),
		T(test_namespace_prefix_with_openmetrics_counter),
		T(test_namespace_never_prefixes_agentbpf_names),
		T(test_empty_or_null_namespace_adds_nothing),
		T(test_histogram_buckets_are_cumulative),
		T(test_histogram_buckets_in_ascending_order),
		T(test_histogram_inf_bucket_equals_count),
		T(test_histogram_sum_rendered),
		T(test_histogram_type_line_and_series_count),
		T(test_histogram_without_labels),
		T(test_series_counts_samples),
		cmocka_unit_test(test_accept_prometheus_header_wants_openmetrics),
		cmocka_unit_test(test_accept_text_plain_gets_text),
		cmocka_unit_test(test_accept_null_gets_text),
		cmocka_unit_test(test_accept_openmetrics_q0_is_refused),
		cmocka_unit_test(test_accept_q0_only_applies_to_its_own_entry),
		cmocka_unit_test(test_accept_openmetrics_case_insensitive),
	};

	return cmocka_run_group_tests_name("expo", tests, NULL, NULL);
}
