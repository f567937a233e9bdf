// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The verifier's statistics as the kernel prints them (BPF_LOG_STATS). */
#include "unit.h"
#include "verify.h"

static void test_stats_of_a_loaded_program(void **state)
{
	/* Linux 6.18's summary of a program that loaded. */
	const char *log = "verification time 71234 usec\n"
			  "stack depth 48+120+0+64\n"
			  "processed 66321 insns (limit 1000000) max_states_per_insn 41 "
			  "total_states 1806 peak_states 840 mark_read 0\n";
	uint32_t insns;
	double s;

	assert_int_equal(verify_parse_log(log, &insns, &s), 0);
	assert_int_equal(insns, 66321);
	assert_true(s > 0.071233 && s < 0.071235);
}

static void test_stats_of_a_rejected_program(void **state)
{
	/* Rejected at the limit: the count is one past it. */
	const char *log = "BPF program is too large. processed 1000001 insns\n"
			  "verification time 38111222 usec\n"
			  "processed 1000001 insns (limit 1000000) max_states_per_insn 254\n";
	uint32_t insns;
	double s;

	assert_int_equal(verify_parse_log(log, &insns, &s), 0);
	assert_int_equal(insns, 1000001);
	assert_true(s > 38.1 && s < 38.2);
}

static void test_no_figures_in_the_log(void **state)
{
	uint32_t insns = 7;
	double s = 7;

	assert_int_equal(verify_parse_log("", &insns, &s), -1);
	assert_int_equal(insns, 0);
	assert_true(s == 0);
	/* The time alone (a log cut short) is kept; the count is not invented. */
	assert_int_equal(verify_parse_log("verification time 12 usec\nprocessed x", &insns, &s), -1);
	assert_int_equal(insns, 0);
	assert_true(s > 0.0000119 && s < 0.0000121);
}

static void test_counts_past_32_bits_saturate(void **state)
{
	uint32_t insns;
	double s;

	assert_int_equal(verify_parse_log("processed 99999999999 insns", &insns, &s), 0);
	assert_int_equal(insns, UINT32_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_of_a_loaded_program),
		cmocka_unit_test(test_stats_of_a_rejected_program),
		cmocka_unit_test(test_no_figures_in_the_log),
		cmocka_unit_test(test_counts_past_32_bits_saturate),
	};

	return cmocka_run_group_tests_name("verify", tests, NULL, NULL);
}
