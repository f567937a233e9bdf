// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include <time.h>
#include "expo.h"
#include "trace.h"
#include "util.h"

/* Prints as is: printable ASCII, no quote or backslash. */
static bool plain_word(const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	if (!*p)
		return false;
	for (; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\')
			return false;
	}
	return true;
}

void trace_emit(const struct trace_out *t, const char *event, const char *agent, uint32_t pid,
		const struct trace_field *fields, int nfields)
{
	struct timespec now;
	struct strbuf sb;
	struct tm tm;
	char ts[16];
	int i;

	if (!t->f)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	sb_init(&sb);
	if (t->json) {
		sb_printf(&sb, "{\"time\":%ld.%03ld,\"event\":\"%s\",\"agent\":\"", (long)now.tv_sec,
			  now.tv_nsec / 1000000, event);
		expo_escape_json(&sb, agent);
		sb_printf(&sb, "\",\"pid\":%u", pid);
		for (i = 0; i < nfields; i++) {
			sb_printf(&sb, ",\"%s\":", fields[i].key);
			if (fields[i].number) {
				sb_puts(&sb, fields[i].value);
			} else {
				sb_putc(&sb, '"');
				expo_escape_json(&sb, fields[i].value);
				sb_putc(&sb, '"');
			}
		}
		sb_puts(&sb, "}\n");
	} else {
		localtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		sb_printf(&sb, "%s.%03ld %-7s %-20s pid=%-7u", ts, now.tv_nsec / 1000000, event,
			  agent, pid);
		for (i = 0; i < nfields; i++) {
			const char *v = fields[i].value;

			sb_printf(&sb, " %s=", fields[i].key);
			/* Quote what would not read as one word on a line. */
			if (!plain_word(v)) {
				sb_putc(&sb, '"');
				expo_escape_json(&sb, v);
				sb_putc(&sb, '"');
			} else {
				sb_puts(&sb, v);
			}
		}
		sb_putc(&sb, '\n');
	}
	if (sb.buf)
		fputs(sb.buf, t->f);
	fflush(t->f);
	sb_free(&sb);
}
