// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* strbuf, sb_double, read_file. */
#include <errno.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include "unit.h"
#include "util.h"

static struct strbuf sb;

static int setup(void **state)
{
	sb_init(&sb);
	return 0;
}

static int teardown(void **state)
{
	sb_free(&sb);
	return 0;
}

static const char *dbl(double v)
{
	sb_reset(&sb);
	sb_double(&sb, v);
	return sb.buf;
}

/* ---- strbuf ---- */

static void test_sb_init_is_empty(void **state)
{
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_false(sb.oom);
}

static void test_sb_puts_putc_printf_append(void **state)
{
	sb_puts(&sb, "ab");
	sb_putc(&sb, 'c');
	sb_printf(&sb, "-%d-%s", 42, "x");
	sb_append(&sb, "yz!!", 2);
	assert_string_equal(sb.buf, "abc-42-xyz");
	assert_int_equal(sb.len, 10);
}

static void test_sb_grows_past_initial_capacity(void **state)
{
	int i;

	for (i = 0; i < 1000; i++)
		sb_printf(&sb, "%03d,", i);
	assert_int_equal(sb.len, 4000);
	assert_true(sb.cap > sb.len);
	assert_int_equal(strlen(sb.buf), 4000);
	assert_int_equal(strncmp(sb.buf, "000,001,", 8), 0);
	assert_string_equal(sb.buf + 3996, "999,");
}

static void test_sb_append_keeps_embedded_bytes(void **state)
{
	sb_append(&sb, "a\0b", 3);
	assert_int_equal(sb.len, 3);
	assert_int_equal(memcmp(sb.buf, "a\0b", 4), 0);
}

static void test_sb_reset_empties_but_keeps_buffer(void **state)
{
	char *buf;

	sb_puts(&sb, "hello");
	buf = sb.buf;
	sb_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.buf, "");
	sb_puts(&sb, "x");
	assert_ptr_equal(sb.buf, buf);
	assert_string_equal(sb.buf, "x");
}

static void test_sb_reset_on_unused_buffer(void **state)
{
	sb_reset(&sb);
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
}

static void test_sb_steal_transfers_ownership(void **state)
{
	size_t len = 0;
	char *s;

	sb_puts(&sb, "owned");
	s = sb_steal(&sb, &len);
	assert_string_equal(s, "owned");
	assert_int_equal(len, 5);
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 0);
	free(s);
}

static void test_sb_printf_empty_result(void **state)
{
	sb_printf(&sb, "%s", "");
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.buf, "");
}

/* ---- sb_double ---- */

static void test_double_integers_have_no_decimal_point(void **state)
{
	assert_string_equal(dbl(0), "0");
	assert_string_equal(dbl(1), "1");
	assert_string_equal(dbl(42), "42");
	assert_string_equal(dbl(-7), "-7");
	assert_string_equal(dbl(1048576), "1048576");
	assert_string_equal(dbl(999999999999999.0), "999999999999999");
}

static void test_double_negative_zero_is_zero(void **state)
{
	assert_string_equal(dbl(-0.0), "0");
}

static void test_double_bucket_bounds(void **state)
{
	assert_string_equal(dbl(0.005), "0.005");
	assert_string_equal(dbl(0.025), "0.025");
	assert_string_equal(dbl(0.1), "0.1");
	assert_string_equal(dbl(2.5), "2.5");
}

static void test_double_infinities_and_nan(void **state)
{
	assert_string_equal(dbl(INFINITY), "+Inf");
	assert_string_equal(dbl(-INFINITY), "-Inf");
	assert_string_equal(dbl(NAN), "NaN");
}

static void test_double_needs_17_digits_to_round_trip(void **state)
{
	double v = 0.1 + 0.2;

	assert_string_equal(dbl(v), "0.30000000000000004");
	assert_true(strtod(sb.buf, NULL) == v);
}

static void test_double_large_values_use_exponent(void **state)
{
	assert_string_equal(dbl(1e15), "1e+15");
	assert_string_equal(dbl(1e20), "1e+20");
	assert_true(strtod(dbl(123456789012345678.0), NULL) == 123456789012345678.0);
}

static void test_double_round_trips(void **state)
{
	const double v[] = { 1.0 / 3, 1e-9, 6.02214076e23, 0.000123, 4503599627370497.0, -2.5e-300 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		if (strtod(dbl(v[i]), NULL) != v[i])
			fail_msg("%.17g rendered as %s", v[i], sb.buf);
	}
}

static void test_double_appends(void **state)
{
	sb_puts(&sb, "x ");
	sb_double(&sb, 0.5);
	assert_string_equal(sb.buf, "x 0.5");
}

/* ---- read_file ---- */

#define TMP_TEMPLATE "/tmp/agentbpf-util-XXXXXX"

static void write_tmp(char *path, const char *data)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void test_read_file_whole(void **state)
{
	char buf[64], path[] = TMP_TEMPLATE;

	write_tmp(path, "12:memory:/a\n0::/\n");
	assert_int_equal(read_file(path, buf, sizeof(buf)), 18);
	assert_string_equal(buf, "12:memory:/a\n0::/\n");
	unlink(path);
}

static void test_read_file_truncates_to_max_minus_one(void **state)
{
	char buf[5], path[] = TMP_TEMPLATE;

	write_tmp(path, "abcdefgh");
	assert_int_equal(read_file(path, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "abcd");
	unlink(path);
}

static void test_read_file_missing_returns_minus_errno(void **state)
{
	char buf[8];

	assert_int_equal(read_file("/nonexistent/agentbpf", buf, sizeof(buf)), -ENOENT);
}

static void test_read_file_proc(void **state)
{
	char buf[64], want[32];
	ssize_t n;

	/* /proc files report size 0: read_file must read until EOF. */
	n = read_file("/proc/self/stat", buf, sizeof(buf));
	snprintf(want, sizeof(want), "%d (", getpid());
	assert_true(n > 0);
	assert_int_equal(strncmp(buf, want, strlen(want)), 0);
}

static void test_grow_array_doubles_only_when_full(void **state)
{
	uint32_t cap = 0, i;
	int *v = NULL, *g;

	for (i = 0; i < 40; i++) {
		g = grow_array(v, &cap, i, sizeof(*v), 16);
		assert_non_null(g);
		v = g;
		v[i] = i;
		assert_int_equal(cap, i < 16 ? 16 : i < 32 ? 32 : 64);
	}
	for (i = 0; i < 40; i++)
		assert_int_equal(v[i], i);
	/* Room left: the same array back, capacity untouched. */
	assert_ptr_equal(grow_array(v, &cap, 40, sizeof(*v), 16), v);
	assert_int_equal(cap, 64);
	free(v);
}

static void test_now_ns_monotonic(void **state)
{
	uint64_t a = now_ns(CLOCK_MONOTONIC), b = now_ns(CLOCK_MONOTONIC);

	assert_true(a > 0);
	assert_true(b >= a);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_sb_init_is_empty),
		T(test_sb_puts_putc_printf_append),
		T(test_sb_grows_past_initial_capacity),
		T(test_sb_append_keeps_embedded_bytes),
		T(test_sb_reset_empties_but_keeps_buffer),
		T(test_sb_reset_on_unused_buffer),
		T(test_sb_steal_transfers_ownership),
		T(test_sb_printf_empty_result),
		T(test_double_integers_have_no_decimal_point),
		T(test_double_negative_zero_is_zero),
		T(test_double_bucket_bounds),
		T(test_double_infinities_and_nan),
		T(test_double_needs_17_digits_to_round_trip),
		T(test_double_large_values_use_exponent),
		T(test_double_round_trips),
		T(test_double_appends),
		cmocka_unit_test(test_read_file_whole),
		cmocka_unit_test(test_read_file_truncates_to_max_minus_one),
		cmocka_unit_test(test_read_file_missing_returns_minus_errno),
		cmocka_unit_test(test_read_file_proc),
		cmocka_unit_test(test_grow_array_doubles_only_when_full),
		cmocka_unit_test(test_now_ns_monotonic),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
