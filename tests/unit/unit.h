/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Helpers shared by the cmocka unit tests; not a test binary itself. */
#ifndef AGENTBPF_UNIT_H
#define AGENTBPF_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Start of the line in out that is exactly line (without its '\n'), or NULL. */
static inline const char *find_line(const char *out, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = out; p && (p = strstr(p, line)); p++) {
		if ((p == out || p[-1] == '\n') && p[n] == '\n')
			return p;
	}
	return NULL;
}

/* Fails the test, showing the whole output, when line is not in out. */
#define assert_has_line(out, line) do {						\
	if (!find_line((out), (line)))						\
		fail_msg("line not found: \"%s\"\n--- output ---\n%s", (line), (out)); \
} while (0)

#define assert_no_line(out, line) do {						\
	if (find_line((out), (line)))						\
		fail_msg("unexpected line: \"%s\"\n--- output ---\n%s", (line), (out)); \
} while (0)

/* Value of the sample whose name and labels are exactly series; fails if absent. */
static inline double sample_value(const char *out, const char *series)
{
	size_t n = strlen(series);
	const char *p;

	for (p = out; (p = strstr(p, series)); p++) {
		if ((p == out || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	fail_msg("series not found: \"%s\"\n--- output ---\n%s", series, out);
	return 0;
}

#endif
