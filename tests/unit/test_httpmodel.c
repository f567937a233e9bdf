// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTTP family's scrape-time model (user/httpmodel.c): per-CPU values
 * summed into a series by status, and label sets that route patterns fold
 * into one label value merged, whatever order the map gave them in.
 */
#include "unit.h"
#include "httpmodel.h"
#include "util.h"

/* One CPU's value: n requests of dur_ns each, all in duration bucket b. */
static struct http_stats cpu_value(uint64_t n, uint64_t dur_ns, int b)
{
	struct http_stats v = { .count = n, .duration_ns = n * dur_ns, .req_bytes = 100 * n,
				.resp_bytes = 1000 * n };

	v.duration_buckets[b] = n;
	v.req_size_buckets[0] = n;
	v.resp_size_buckets[HTTP_SIZE_BUCKETS] = n;
	return v;
}

static void test_cpus_summed_by_status(void **state)
{
	struct http_series s = { .agent = 1 };
	struct http_stats a = cpu_value(3, 1000, 2), b = cpu_value(5, 2000, HTTP_MAX_BUCKETS);

	http_series_add_cpu(&s, HTTP_SUCCESS, &a);
	http_series_add_cpu(&s, HTTP_SUCCESS, &b);
	http_series_add_cpu(&s, HTTP_ERROR, &a);
	assert_int_equal(s.count[HTTP_SUCCESS], 8);
	assert_int_equal(s.count[HTTP_ERROR], 3);
	assert_int_equal(s.count[HTTP_TIMEOUT], 0);
	assert_int_equal(s.sum.duration_ns, 3000 + 10000 + 3000);
	assert_int_equal(s.sum.duration_buckets[2], 6);
	assert_int_equal(s.sum.duration_buckets[HTTP_MAX_BUCKETS], 5);
	assert_int_equal(s.sum.req_bytes, 1100);
	assert_int_equal(s.sum.req_size_buckets[0], 11);
	assert_int_equal(s.sum.resp_size_buckets[HTTP_SIZE_BUCKETS], 11);
	/* A status out of range (a newer kernel side) lands in a slot, never past the array. */
	http_series_add_cpu(&s, HTTP_STATUS_MAX + HTTP_ERROR, &a);
	assert_int_equal(s.count[HTTP_ERROR], 6);
}

static struct http_series series(uint32_t agent, uint8_t method, uint16_t code, const char *route,
				 uint64_t n)
{
	struct http_series s = { .agent = agent, .method = method, .code = code, .route = route };
	struct http_stats v = cpu_value(n, 1000, 0);

	http_series_add_cpu(&s, HTTP_SUCCESS, &v);
	return s;
}

static void test_label_sets_that_fold_together_are_merged(void **state)
{
	/* Route patterns give /users/{id} and /users/me one label: two kernel series, one here. */
	char users_a[] = "/users/{id}", users_b[] = "/users/{id}";
	struct http_series v[] = {
		series(1, HTTP_M_GET, 200, users_a, 4),
		series(0, HTTP_M_POST, 201, "/orders", 1),
		series(1, HTTP_M_GET, 200, "/health", 2),
		series(1, HTTP_M_GET, 200, users_b, 6),
		series(1, HTTP_M_GET, 404, users_a, 1),
		series(0, HTTP_M_GET, 200, "/orders", 3),
	};
	uint32_t n = http_series_merge(v, ARRAY_SIZE(v));

	assert_int_equal(n, 5);
	/* By agent, then method, code and route. */
	assert_int_equal(v[0].agent, 0);
	assert_int_equal(v[0].method, HTTP_M_GET);
	assert_int_equal(v[1].method, HTTP_M_POST);
	assert_string_equal(v[2].route, "/health");
	assert_string_equal(v[3].route, "/users/{id}");
	assert_int_equal(v[3].code, 200);
	assert_int_equal(v[3].count[HTTP_SUCCESS], 10);
	assert_int_equal(v[3].sum.duration_ns, 10000);
	assert_int_equal(v[3].sum.duration_buckets[0], 10);
	assert_int_equal(v[4].code, 404);
	assert_int_equal(v[4].count[HTTP_SUCCESS], 1);
}

static void test_unlabelled_series_merge_per_agent(void **state)
{
	struct http_series v[] = {
		series(2, 0, 0, NULL, 1), series(0, 0, 0, NULL, 2), series(2, 0, 0, NULL, 3),
	};

	assert_int_equal(http_series_merge(v, ARRAY_SIZE(v)), 2);
	assert_int_equal(v[0].agent, 0);
	assert_int_equal(v[0].count[HTTP_SUCCESS], 2);
	assert_int_equal(v[1].agent, 2);
	assert_int_equal(v[1].count[HTTP_SUCCESS], 4);
	assert_int_equal(http_series_merge(v, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpus_summed_by_status),
		cmocka_unit_test(test_label_sets_that_fold_together_are_merged),
		cmocka_unit_test(test_unlabelled_series_merge_per_agent),
	};

	return cmocka_run_group_tests_name("http model", tests, NULL, NULL);
}
