// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * AFL++ target: the HTTP parse steps of bpf/l7/http1.h, as http.bpf.c feeds
 * them (tests/unit/httpdriver.h). The input's first byte cuts the rest in
 * two: a head whose layout is kept, and the next head, framed from that
 * layout when it matches; whenever it matches, a scan of the same bytes
 * must frame it alike (end, length, chunked). The whole input is also a
 * chunked body fed in every piece size, which must end at the same place
 * whatever the size, and a path collapsed into a route that must stay
 * printable and within HTTP_ROUTE_LEN. The first head's Host header, as a
 * call's peer takes it, must be a whole line's value within the bytes, and
 * the same with the bytes after the head changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define assert_true(c) do { if (!(c)) abort(); } while (0)
#include "httpdriver.h"

static void heads(const char *a, size_t la, const char *b, size_t lb)
{
	struct http_layout lay = { 0 };
	struct http_head h, again;
	char *w = window_of(a, la, &h);

	scan(&h, w);
	assert_true(h.end <= h.len);
	if (h.end && h.in_headers) {
		assert_true(h.base <= h.end);
		http_layout_keep(&lay, &h, w);
	}
	free(w);
	w = window_of(b, lb, &h);
	http_layout_match(&lay, &h, w);
	if (h.end) {
		char *w2 = window_of(b, lb, &again);

		assert_true(h.end <= h.len);
		scan(&again, w2);
		assert_true(again.end == h.end);
		assert_true(again.chunked == h.chunked);
		assert_true(again.has_length == h.has_length);
		assert_true(again.content_length == h.content_length);
		free(w2);
	}
	free(w);
}

static void chunks(const char *b, size_t len)
{
	bool ended, ended1;
	size_t end = frame_chunked(b, len, HTTP_CHUNK_LINE, &ended), piece;

	assert_true(end <= len);
	for (piece = 1; piece < HTTP_CHUNK_LINE; piece++) {
		assert_true(frame_chunked(b, len, piece, &ended1) == end);
		assert_true(ended1 == ended);
	}
}

static void route(const char *b, size_t len)
{
	struct http_route_state r;
	char out[HTTP_ROUTE_LEN];
	size_t i;

	http_route_begin(&r, 0, len);
	for (i = 0; i < len; i++) {
		if (http_route_char(&r, out, b[i]))
			break;
	}
	if (i == len)
		http_route_cut(&r, out);
	assert_true(r.j < HTTP_ROUTE_LEN);
	for (i = 0; i < r.j; i++)
		assert_true((unsigned char)out[i] > ' ' && (unsigned char)out[i] < 0x7f);
}

static void host(const char *b, size_t len)
{
	struct http_head h;
	char out[HTTP_HOST_LEN], again[HTTP_HOST_LEN];
	char *w = window_of(b, len, &h);
	unsigned n = host_of(w, len, out), i;

	assert_true(n < HTTP_HOST_LEN && out[n] == '\0');
	/* One line's value (a CR inside it is the daemon's to replace). */
	for (i = 0; i < n; i++)
		assert_true(out[i] != '\n');
	/* Bytes past len are another call's: they change nothing. */
	memset(w + len, 'h', HTTP_WINDOW + 32 - len);
	assert_true(host_of(w, len, again) == n && !memcmp(out, again, n));
	free(w);
}

int main(void)
{
	static char in[2 * HTTP_WINDOW + 1];
	size_t len = fread(in, 1, sizeof(in), stdin), cut;
	u8 method;
	u16 code;

	if (len < 1)
		return 0;
	cut = 1 + (unsigned char)in[0] * (len - 1) / 256;
	if (cut - 1 <= HTTP_WINDOW && len - cut <= HTTP_WINDOW)
		heads(in + 1, cut - 1, in + cut, len - cut);
	http_message_start(in + 1, len - 1, in[0] & 1, &method, &code);
	chunks(in + 1, len - 1);
	route(in + 1, len - 1);
	if (len - 1 <= HTTP_WINDOW)
		host(in + 1, len - 1);
	return 0;
}
