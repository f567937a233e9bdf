/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x parse steps as functions of (state, bytes, length): the start
 * line, chunked body framing and route collapsing. bpf/http.bpf.c calls
 * them on the bytes of each socket call; they compile on the host too, so
 * tests/unit/test_l7_http.c drives them through the corner cases the
 * end-to-end tests found. Nothing here reads past the length it is given.
 */
#ifndef AGENTBPF_L7_HTTP1_H
#define AGENTBPF_L7_HTTP1_H

#include "bytes.h"
#include "http.h"

/* Bytes http_message_start() needs: "OPTIONS " is the longest method; "HTTP/1.x NNN". */
#define HTTP_START_MIN(resp)	((resp) ? 12 : 8)

/*
 * Is b[0..len) the start of a request line (resp false) or a status line?
 * Fills *method or *code. False also when len is too short to tell.
 */
static __always_inline bool http_message_start(const char *b, u32 len, bool resp, u8 *method,
					       u16 *code)
{
	u64 w;

	if (len < 8)
		return false;
	w = load8(b);
	if (resp) {
		u16 v = 0;
		int i;

		/* "HTTP/1.x NNN" */
		if ((w & 0xffffffffffffull) != 0x312f50545448ull /* HTTP/1 */ || len < 12)
			return false;
		for (i = 9; i < 12; i++) {
			char d = b[i];

			if (d < '0' || d > '9')
				return false;
			v = v * 10 + (d - '0');
		}
		*code = v;
		return true;
	}
	if ((w & 0xffffffff) == 0x20544547)		/* "GET " */
		*method = HTTP_M_GET;
	else if ((w & 0xffffffffff) == 0x2054534f50)	/* "POST " */
		*method = HTTP_M_POST;
	else if ((w & 0xffffffff) == 0x20545550)	/* "PUT " */
		*method = HTTP_M_PUT;
	else if ((w & 0xffffffffffffff) == 0x204554454c4544)	/* "DELETE " */
		*method = HTTP_M_DELETE;
	else if ((w & 0xffffffffff) == 0x2044414548)	/* "HEAD " */
		*method = HTTP_M_HEAD;
	else if ((w & 0xffffffffffff) == 0x204843544150)	/* "PATCH " */
		*method = HTTP_M_PATCH;
	else if (w == 0x20534e4f4954504full)		/* "OPTIONS " */
		*method = HTTP_M_OPTIONS;
	else if (w == 0x205443454e4e4f43ull)		/* "CONNECT " */
		*method = HTTP_M_CONNECT;
	else if ((w & 0xffffffffffff) == 0x204543415254)	/* "TRACE " */
		*method = HTTP_M_TRACE;
	else
		return false;
	return true;
}

/* Length of "METHOD " for a recognised method. */
static __always_inline u32 http_method_len(u8 method)
{
	switch (method) {
	case HTTP_M_GET:
	case HTTP_M_PUT:
		return 4;
	case HTTP_M_POST:
	case HTTP_M_HEAD:
		return 5;
	case HTTP_M_PATCH:
	case HTTP_M_TRACE:
		return 6;
	case HTTP_M_DELETE:
		return 7;
	default:
		return 8;
	}
}

/* ---- chunked bodies ---- */

enum http_chunk_state {
	CH_SIZE,	/* in a chunk-size line (hex size, maybe ;extensions) */
	CH_DATA,	/* `remaining` bytes of chunk data and its CRLF */
	CH_TRAILER,	/* after the last chunk: trailer lines up to an empty one */
};

/* A body's framing: Content-Length bytes to come, or where a chunked one is. */
struct http_body {
	__u64 remaining;	/* body bytes, or the chunk's data and CRLF */
	__u8 chunk_state;	/* enum http_chunk_state */
	__u8 chunk_ext;		/* past the size, in ;extensions */
	__u8 chunk_line;	/* bytes of the current trailer line */
	__u8 pad[5];
};

/* Bytes of size or trailer lines read per step: they are short. */
#define HTTP_CHUNK_LINE	32

/*
 * Reads chunk-size or trailer line bytes from b[0..n) (n at most
 * HTTP_CHUNK_LINE), up to the end of the line that changes the state: a
 * size line's end (then CH_DATA, or CH_TRAILER after the last chunk) or
 * the empty trailer line that ends the body (*ended). Returns the bytes
 * consumed. Chunk data itself is skipped by count, never read.
 */
static __always_inline u32 http_chunk_lines(struct http_body *st, const char *b, u32 n,
					    bool *ended)
{
	u32 k;

	*ended = false;
	for (k = 0; k < HTTP_CHUNK_LINE; k++) {
		char ch;

		if (k >= n)
			break;
		ch = b[k];
		if (st->chunk_state == CH_SIZE) {
			if (ch == '\n') {
				if (st->remaining) {
					st->remaining += 2;	/* the data's CRLF */
					st->chunk_state = CH_DATA;
				} else {
					st->chunk_state = CH_TRAILER;
					st->chunk_line = 0;
				}
				st->chunk_ext = 0;
				return k + 1;
			}
			if (ch == ';')
				st->chunk_ext = 1;
			if (st->chunk_ext || ch == '\r' || ch == ' ' || ch == '\t')
				continue;
			st->remaining = st->remaining * 16 +
				(ch >= '0' && ch <= '9' ? ch - '0' : ((ch | 0x20) - 'a' + 10) & 15);
			continue;
		}
		/* CH_TRAILER: the first empty line ends the message. */
		if (ch == '\n') {
			if (!st->chunk_line) {
				*ended = true;
				return k + 1;
			}
			st->chunk_line = 0;
		} else if (ch != '\r') {
			st->chunk_line = 1;
		}
	}
	return k;
}

/* ---- routes ---- */

/* Route collapsing state, one request path at a time. */
struct http_route_state {
	u32 start;		/* offset of the path in the bytes */
	u32 len;		/* bytes available */
	u32 j;			/* bytes written to the route */
	u32 seg_out;		/* where the current segment starts in the route */
	u32 seg_len, digits, hexes, dashes;
	u32 hash, seg_hash;	/* FNV-1a of the route, and of it before the segment */
	u32 cut;		/* the bytes ended inside the path */
};

static __always_inline u32 fnv(u32 h, char c)
{
	return (h ^ (u8)c) * 16777619u;
}

/* Starts a route: its bytes will be at b[path_off..len). */
static __always_inline void http_route_begin(struct http_route_state *r, u32 path_off, u32 len)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->start = path_off;
	r->len = len;
	r->hash = r->seg_hash = 2166136261u;
}

/*
 * Numbers, UUIDs and long hex strings are ids, not routes: /users/42/posts
 * and /users/43/posts are one route, /users/{id}/posts.
 */
static __always_inline void http_route_segment_end(struct http_route_state *r, char *out)
{
	bool id = r->seg_len && (r->digits == r->seg_len ||
		  (r->seg_len == 36 && r->dashes == 4 && r->hexes == 32) ||
		  (r->seg_len >= 8 && r->hexes == r->seg_len && r->digits));
	u32 j;

	if (!id)
		return;
	j = r->seg_out;
	out[j & (HTTP_ROUTE_LEN - 1)] = '{';
	out[(j + 1) & (HTTP_ROUTE_LEN - 1)] = 'i';
	out[(j + 2) & (HTTP_ROUTE_LEN - 1)] = 'd';
	out[(j + 3) & (HTTP_ROUTE_LEN - 1)] = '}';
	r->j = j + 4;
	r->hash = fnv(fnv(fnv(fnv(r->seg_hash, '{'), 'i'), 'd'), '}');
}

/*
 * One byte c of the path into the route out[HTTP_ROUTE_LEN]. Returns 1 when
 * the route is complete: the path ended (a space, '?', '#', a byte that is
 * not printable ASCII) or the route is full.
 */
static __always_inline int http_route_char(struct http_route_state *r, char *out, char c)
{
	/* Printable ASCII only: a route is a label value, and bytes past it are not a path. */
	if ((u8)c <= ' ' || (u8)c >= 0x7f || c == '?' || c == '#' || r->j >= HTTP_ROUTE_LEN - 5) {
		http_route_segment_end(r, out);
		return 1;
	}
	if (c == '/') {
		http_route_segment_end(r, out);
		out[r->j & (HTTP_ROUTE_LEN - 1)] = '/';
		r->j++;
		r->seg_out = r->j;
		r->seg_len = r->digits = r->hexes = r->dashes = 0;
		r->hash = fnv(r->hash, '/');
		r->seg_hash = r->hash;
		return 0;
	}
	r->seg_len++;
	r->digits += c >= '0' && c <= '9';
	r->hexes += (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
	r->dashes += c == '-';
	out[r->j & (HTTP_ROUTE_LEN - 1)] = c;
	r->j++;
	r->hash = fnv(r->hash, c);
	return 0;
}

/* The bytes ended inside the path: the route so far, marked cut. */
static __always_inline void http_route_cut(struct http_route_state *r, char *out)
{
	r->cut = 1;
	http_route_segment_end(r, out);
}

/* The route's id: its hash, kept clear of the ids with a meaning (HTTP_ROUTE_*). */
static __always_inline u32 http_route_id(const struct http_route_state *r)
{
	return r->hash < 2 ? r->hash + 2 : r->hash;
}

#endif /* AGENTBPF_L7_HTTP1_H */
