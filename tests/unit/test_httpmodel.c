// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTTP family's scrape-time model (user/httpmodel.c): per-CPU values
 * summed into a series by status, and label sets that route patterns fold
 * into one label value merged, whatever order the map gave them in.
 */
#include <sys/socket.h>
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

static struct http_peer peer4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port,
			      const char *host)
{
	struct http_peer p = { .family = AF_INET, .port = port, .addr = { a, b, c, d } };

	snprintf(p.host, sizeof(p.host), "%s", host);
	return p;
}

static void test_peer_labels(void **state)
{
	struct http_peer p = peer4(10, 0, 0, 7, 8080, "");
	struct http_peer v6 = { .family = AF_INET6, .port = 443, .addr = { 0x20, 0x01, 0x0d, 0xb8,
		[15] = 1 } };
	char out[HTTP_HOST_LEN + 48];

	http_peer_label(&p, out, sizeof(out));
	assert_string_equal(out, "10.0.0.7:8080");
	http_peer_label(&v6, out, sizeof(out));
	assert_string_equal(out, "[2001:db8::1]:443");
	/* The Host named, lowercased; what no host name holds is replaced, not passed on. */
	p = peer4(10, 0, 0, 7, 8080, "API.Example.com:8080");
	http_peer_label(&p, out, sizeof(out));
	assert_string_equal(out, "api.example.com:8080");
	p = peer4(10, 0, 0, 7, 8080, "evil\"}\n{x=\\y");
	http_peer_label(&p, out, sizeof(out));
	assert_string_equal(out, "evil____x__y");
	/* Too small a buffer: cut, terminated. */
	p = peer4(10, 0, 0, 7, 8080, "abcdef");
	http_peer_label(&p, out, 4);
	assert_string_equal(out, "abc");
}

static void test_which_peers_are_this_host(void **state)
{
	uint8_t local[2][16] = { { 192, 168, 1, 5 }, { 0xfe, 0x80, [15] = 9 } };
	struct http_peer p = peer4(127, 0, 0, 1, 80, "");
	struct http_peer v6 = { .family = AF_INET6, .addr = { [15] = 1 } };

	assert_true(http_peer_is_local(&p, NULL, 0));
	p = peer4(127, 1, 2, 3, 80, "");
	assert_true(http_peer_is_local(&p, NULL, 0));
	p = peer4(192, 168, 1, 5, 80, "");
	assert_false(http_peer_is_local(&p, NULL, 0));
	assert_true(http_peer_is_local(&p, (const uint8_t (*)[16])local, 2));
	p = peer4(192, 168, 1, 6, 80, "");
	assert_false(http_peer_is_local(&p, (const uint8_t (*)[16])local, 2));
	/* ::1, and IPv4 that a dual-stack socket mapped into IPv6. */
	assert_true(http_peer_is_local(&v6, NULL, 0));
	v6.addr[15] = 2;
	assert_false(http_peer_is_local(&v6, NULL, 0));
	memset(v6.addr, 0, 16);
	v6.addr[10] = v6.addr[11] = 0xff;
	v6.addr[12] = 127;
	v6.addr[15] = 1;
	assert_true(http_peer_is_local(&v6, NULL, 0));
	v6.addr[12] = 192, v6.addr[13] = 168, v6.addr[14] = 1, v6.addr[15] = 5;
	assert_true(http_peer_is_local(&v6, (const uint8_t (*)[16])local, 2));
	memcpy(v6.addr, local[1], 16);
	assert_true(http_peer_is_local(&v6, (const uint8_t (*)[16])local, 2));
}

static struct http_out_series out(uint32_t agent, const char *peer, uint16_t code, uint8_t status,
				  uint64_t n)
{
	struct http_out_series s = { .agent = agent, .peer = peer, .code = code, .to_agent = -1 };
	struct http_out_stats v = { .count = n, .duration_ns = 10 * n, .ttfb_ns = 2 * n,
				    .ttfb_count = n };

	v.duration_buckets[1] = n;
	v.ttfb_buckets[0] = n;
	http_out_add_cpu(&s, status, &v);
	return s;
}

static void test_peers_with_one_label_are_one_series(void **state)
{
	/* An agent reached as localhost:8001 and as 127.0.0.1:8001: two peer ids, one label. */
	char callee_a[] = "callee", callee_b[] = "callee";
	struct http_out_series v[] = {
		out(1, callee_a, 0, HTTP_SUCCESS, 4),
		out(0, "api.example.com", 0, HTTP_ERROR, 2),
		out(1, "other", 0, HTTP_SUCCESS, 1),
		out(1, callee_b, 0, HTTP_SUCCESS, 3),
		out(1, callee_b, 0, HTTP_TIMEOUT, 1),
	};
	uint32_t n = http_out_merge(v, ARRAY_SIZE(v));

	assert_int_equal(n, 3);
	assert_int_equal(v[0].agent, 0);
	assert_string_equal(v[1].peer, "callee");
	assert_int_equal(v[1].count[HTTP_SUCCESS], 7);
	assert_int_equal(v[1].count[HTTP_TIMEOUT], 1);
	assert_int_equal(v[1].sum.duration_ns, 80);
	assert_int_equal(v[1].sum.ttfb_count, 8);
	assert_int_equal(v[1].sum.duration_buckets[1], 8);
	assert_int_equal(v[1].sum.ttfb_buckets[0], 8);
	assert_string_equal(v[2].peer, "other");
	assert_int_equal(v[2].count[HTTP_SUCCESS], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpus_summed_by_status),
		cmocka_unit_test(test_label_sets_that_fold_together_are_merged),
		cmocka_unit_test(test_unlabelled_series_merge_per_agent),
		cmocka_unit_test(test_peer_labels),
		cmocka_unit_test(test_which_peers_are_this_host),
		cmocka_unit_test(test_peers_with_one_label_are_one_series),
	};

	return cmocka_run_group_tests_name("http model", tests, NULL, NULL);
}
