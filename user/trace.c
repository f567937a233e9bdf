// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include <time.h>
#include "expo.h"
#include "trace.h"
#include "util.h"

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
		/* Label escaping is JSON string escaping for these characters. */
		expo_escape_label(&sb, agent);
		sb_printf(&sb, "\",\"pid\":%u", pid);
		for (i = 0; i < nfields; i++) {
			sb_printf(&sb, ",\"%s\":", fields[i].key);
			if (fields[i].number) {
				sb_puts(&sb, fields[i].value);
			} else {
				sb_putc(&sb, '"');
				expo_escape_label(&sb, fields[i].value);
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
			if (!*v || strpbrk(v, " \t\n\"\\")) {
				sb_putc(&sb, '"');
				expo_escape_label(&sb, v);
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
