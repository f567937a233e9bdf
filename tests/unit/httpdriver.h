/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The HTTP parse steps of bpf/l7/http1.h on the host, fed as http.bpf.c
 * feeds them: a head in a window of HTTP_WINDOW + 32 bytes, a chunked body
 * with its lines read and its data skipped by count. The unit tests and
 * the fuzz targets (bench/fuzz/) use them; both define assert_true().
 */
#ifndef AGENTBPF_TEST_HTTPDRIVER_H
#define AGENTBPF_TEST_HTTPDRIVER_H

#include <stdlib.h>
#include "l7/http1.h"

/*
 * A window as http.bpf.c's scratch holds one: HTTP_WINDOW + 32 bytes, len
 * of them used. The rest is not zero, as in the kernel's per-CPU scratch
 * (older calls' bytes): a step that used a byte past len would show.
 */
static char *window_of(const char *text, size_t len, struct http_head *h)
{
	char *w = malloc(HTTP_WINDOW + 32);

	assert_true(len <= HTTP_WINDOW);
	memset(w, '\n', HTTP_WINDOW + 32);
	memcpy(w, text, len);
	memset(h, 0, sizeof(*h));
	h->len = len;
	return w;
}

/* Runs the scan as scan_step() does. Returns the steps taken. */
static unsigned scan(struct http_head *h, const char *w)
{
	unsigned steps = 0;

	while (steps < HTTP_WINDOW && !http_head_line(h, w))
		steps++;
	assert_true(steps < HTTP_WINDOW);
	return steps;
}

/* Feeds text to the chunk framing as a parser would: lines read, data skipped by count. */
static size_t frame_chunked(const char *text, size_t len, size_t piece, bool *ended)
{
	struct http_body st = { .chunk_state = CH_SIZE };
	size_t off = 0;

	*ended = false;
	while (off < len && !*ended) {
		if (st.chunk_state == CH_DATA) {
			size_t skip = st.remaining < len - off ? st.remaining : len - off;

			off += skip;
			st.remaining -= skip;
			if (!st.remaining)
				st.chunk_state = CH_SIZE;
			continue;
		}
		size_t n = len - off;

		if (n > piece)
			n = piece;
		if (n > HTTP_CHUNK_LINE)
			n = HTTP_CHUNK_LINE;
		off += http_chunk_lines(&st, text + off, n, ended);
	}
	return off;
}

/*
 * The Host header of a request head in the window's first len bytes, found
 * as http_host_take() finds it (host_step() under bpf_loop, HTTP_SCRATCH +
 * HTTP_CARRY steps at most) into out (HTTP_HOST_LEN bytes). Returns its length.
 */
static unsigned host_of(const char *w, u32 len, char *out)
{
	u32 pos = 0, value = 0, end = 0, n = 0, steps;

	memset(out, 0, HTTP_HOST_LEN);
	for (steps = 0; steps < HTTP_SCRATCH + HTTP_CARRY; steps++) {
		if (http_host_step(w, len, &pos, &value, &end))
			break;
	}
	assert_true(steps <= len);
	if (end) {
		assert_true(value && value <= end && end < len);
		n = http_host_trim(w, &value, end);
		assert_true(n < HTTP_HOST_LEN && value + n <= len);
		memcpy(out, w + value, n);
	}
	return n;
}

#endif /* AGENTBPF_TEST_HTTPDRIVER_H */
