// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "sse.h"
#include "util.h"

static void reset_event(struct sse *s)
{
	s->data_len = 0;
	s->name[0] = '\0';
	s->has_data = false;
	s->too_long = false;
}

/* A whole line: a field of the event, or the blank line that ends it. */
static void line_done(struct sse *s, sse_event_fn fn, void *ctx)
{
	const char *l = s->line ? s->line : "", *colon, *v;
	size_t n = s->line_len, field, vlen;
	bool blank = !s->line_seen;

	s->line_len = 0;
	s->line_seen = false;
	if (blank) {
		if (s->too_long)
			s->skipped++;
		else if (s->has_data)
			fn(ctx, s->name, s->data ? s->data : "", s->data_len);
		reset_event(s);
		return;
	}
	if (l[0] == ':' || s->too_long)
		return;	/* a comment (a keep-alive), or an event already given up */
	colon = memchr(l, ':', n);
	field = colon ? (size_t)(colon - l) : n;
	v = colon ? colon + 1 : l + n;
	vlen = n - (v - l);
	if (vlen && *v == ' ') {
		v++;
		vlen--;
	}
	if (field == 4 && !memcmp(l, "data", 4)) {
		if ((s->has_data &&
		     !buf_append(&s->data, &s->data_len, &s->data_cap, SSE_MAX_EVENT, "\n", 1)) ||
		    !buf_append(&s->data, &s->data_len, &s->data_cap, SSE_MAX_EVENT, v, vlen))
			s->too_long = true;
		s->has_data = true;
	} else if (field == 5 && !memcmp(l, "event", 5)) {
		if (vlen >= SSE_NAME_LEN)
			vlen = SSE_NAME_LEN - 1;
		memcpy(s->name, v, vlen);
		s->name[vlen] = '\0';
	}
}

void sse_feed(struct sse *s, const char *b, size_t n, sse_event_fn fn, void *ctx)
{
	size_t i = 0, start;

	while (i < n) {
		if (s->after_cr && b[i] == '\n') {
			i++;
			s->after_cr = false;
			continue;
		}
		s->after_cr = false;
		start = i;
		while (i < n && b[i] != '\n' && b[i] != '\r')
			i++;
		/* A line past the cap gives its event up; its bytes are not kept. */
		if (i > start) {
			s->line_seen = true;
			if (!s->too_long &&
			    !buf_append(&s->line, &s->line_len, &s->line_cap, SSE_MAX_EVENT, b + start,
					i - start))
				s->too_long = true;
		}
		if (i == n)
			break;
		s->after_cr = b[i] == '\r';
		i++;
		line_done(s, fn, ctx);
	}
}

void sse_free(struct sse *s)
{
	free(s->line);
	free(s->data);
	memset(s, 0, sizeof(*s));
}
