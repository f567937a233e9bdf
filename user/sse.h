/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Server-sent events (text/event-stream), as the LLM APIs stream their
 * answers: bytes in, one callback per event with its name and its data
 * lines joined. Lines end in LF, CRLF or CR; an event longer than
 * SSE_MAX_EVENT is skipped and counted.
 */
#ifndef AGENTBPF_SSE_H
#define AGENTBPF_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define SSE_MAX_EVENT	(64 << 10)
#define SSE_NAME_LEN	32

typedef void (*sse_event_fn)(void *ctx, const char *name, const char *data, size_t len);

struct sse {
	char *line;		/* the line so far */
	size_t line_len, line_cap;
	char *data;		/* the event's data lines, LF-joined */
	size_t data_len, data_cap;
	char name[SSE_NAME_LEN];
	bool has_data;
	bool line_seen;		/* the line so far has bytes, kept or not */
	bool after_cr;		/* a CR ended the last line: an LF next is part of it */
	bool too_long;		/* the event went past SSE_MAX_EVENT */
	unsigned long skipped;	/* events skipped as too long */
};

/* Feeds n bytes; calls fn for each event they complete. */
void sse_feed(struct sse *s, const char *b, size_t n, sse_event_fn fn, void *ctx);
void sse_free(struct sse *s);

#endif
