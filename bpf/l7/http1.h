/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x parse steps as functions of (state, bytes, length): the start
 * line, the head's framing headers (and the layout kept to skip the next
 * head's scan), chunked body framing and route collapsing. bpf/http.bpf.c calls
 * them on the bytes of each socket call; they compile on the host too, so
 * tests/unit/test_l7_http.c drives them through the corner cases the
 * end-to-end tests found. Nothing here reads past the length it is given,
 * but for the head steps, which read within their window (HTTP_WINDOW).
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

/* ---- heads ---- */

/*
 * A head is scanned in a window: a buffer of HTTP_WINDOW + 32 bytes whose
 * first h->len hold the message (a carried line, then the call's bytes).
 * Offsets are masked to the window, which is what lets the verifier accept
 * reads at offsets it cannot bound; the 32 bytes past it are for the word
 * loads near its end. Bytes past h->len may be read, never used.
 */
#define HTTP_WINDOW		2048	/* power of two >= HTTP_CARRY + HTTP_SCRATCH */
#define HTTP_WINDOW_MASK	(HTTP_WINDOW - 1)

/*
 * Head scan state. In BPF it lives in the scratch map, not on the stack,
 * so the verifier does not follow every counter value through the loop;
 * so does the route's (struct http_route_state).
 */
struct http_head {
	u32 len;		/* bytes of the window to scan */
	u32 pos;		/* next byte to look at */
	u32 line_start;
	u32 end;		/* offset after the blank line; 0 while not found */
	u64 content_length;
	u8 has_length;
	u8 chunked;
	u8 in_headers;		/* the start line is behind us */
	u8 lengths;		/* Content-Length lines seen */
	u8 starts;		/* the head starts in this window */
	u32 base;		/* where the headers start: after the start line */
	u32 sensitive;		/* as in struct http_layout */
	u32 cl_at, cl_nl;	/* the Content-Length line */
};

/* The value of the Content-Length line [start, nl). */
static __always_inline void http_content_length(struct http_head *h, const char *buf, u32 start,
						u32 nl)
{
	u64 v = 0;
	u32 i, k;

	for (k = 0; k < 24; k++) {
		char d;

		i = start + 15 + k;
		if (i >= nl)
			break;
		d = buf[i & HTTP_WINDOW_MASK];

		if (d == ' ' || d == '\t')
			continue;
		if (d < '0' || d > '9')
			break;
		v = v * 10 + (d - '0');
		h->has_length = true;
	}
	h->content_length = v;
}

/* The head's bytes [from, to) decide its framing: see struct http_layout. */
static __always_inline void http_head_sensitive(struct http_head *h, u32 from, u32 to)
{
	u32 first = from / 8, last = (to - 1) / 8;

	/* Past HTTP_LAYOUT the head is not kept (http_layout_keep): no bit needed. */
	if (last < 32)
		h->sensitive |= ((2u << last) - 1) & ~((1u << first) - 1);
}

/* One header line [start, nl): only the framing headers matter. */
static __always_inline void http_header_line(struct http_head *h, const char *buf, u32 start,
					     u32 nl)
{
	const char *p = buf + (start & HTTP_WINDOW_MASK);

	/* A shorter line is no framing header, and stays shorter while the line ends stay. */
	if (nl - start < 16)
		return;
	http_head_sensitive(h, start - h->base, start - h->base + 16);
	/* "content-length:" and "transfer-encoding:", any case */
	if (lower8(p) == W('c', 'o', 'n', 't', 'e', 'n', 't', '-') &&
	    (lower8(p + 8) & 0x00ffffffffffffffull) == W('l', 'e', 'n', 'g', 't', 'h', ':', 0)) {
		h->lengths++;
		h->cl_at = start - h->base;
		h->cl_nl = nl - h->base;
		http_content_length(h, buf, start, nl);
		return;
	}
	if (lower8(p) == W('t', 'r', 'a', 'n', 's', 'f', 'e', 'r') &&
	    lower8(p + 8) == W('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n')) {
		/* The value ends in "chunked" when the body is chunked. */
		u32 e = buf[(nl - 1) & HTTP_WINDOW_MASK] == '\r' ? nl - 1 : nl;

		http_head_sensitive(h, start - h->base, nl - h->base);
		if (lower8(buf + ((e - 8) & HTTP_WINDOW_MASK)) >> 8 ==
		    W('c', 'h', 'u', 'n', 'k', 'e', 'd', 0))
			h->chunked = true;
	}
}

/*
 * One step of the head scan: skips up to 32 bytes while they hold no
 * newline (the bytes of a header line), then handles one line ending.
 * Returns 1 when the scan is over: h->end is set at the head's end, or the
 * window's bytes ran out inside a line that starts at h->line_start.
 */
static __always_inline int http_head_line(struct http_head *h, const char *buf)
{
	u32 pos = h->pos, nl, start, k;
	u64 w, m = 0;

	if (pos >= h->len)
		return 1;
	for (k = 0; k < 4; k++) {
		w = load8(buf + ((pos + k * 8) & HTTP_WINDOW_MASK));
		m = newline_mask(w);
		if (m)
			break;
	}
	if (k == 4) {
		h->pos = pos + 32;
		return 0;
	}
	nl = pos + k * 8 + first_newline(m);
	if (nl >= h->len)
		return 1;
	h->pos = nl + 1;
	start = h->line_start;
	h->line_start = nl + 1;
	if (!h->in_headers) {
		h->in_headers = 1;	/* the request or status line */
		h->base = nl + 1;
		return 0;
	}
	/* A line of just "\r\n" (or "\n") ends the head. */
	if (nl - start <= 1) {
		h->end = nl + 1;
		return 1;
	}
	http_header_line(h, buf, start, nl);
	return 0;
}

/*
 * What follows a head (RFC 9112 section 6.3): no body, Content-Length
 * bytes, chunks, the bytes up to the connection's close, or for an interim
 * (1xx) response, the final response. req_method is the method of the
 * request a response answers (HEAD's has no body).
 */
enum http_framing { HTTP_NO_BODY, HTTP_LENGTH, HTTP_CHUNKS, HTTP_TO_CLOSE, HTTP_INTERIM };

static __always_inline u8 http_framing(const struct http_head *h, bool resp, u8 req_method,
				       u16 code)
{
	if (!resp)
		return h->chunked ? HTTP_CHUNKS : h->content_length ? HTTP_LENGTH : HTTP_NO_BODY;
	if (code >= 100 && code < 200)
		return HTTP_INTERIM;
	if (req_method == HTTP_M_HEAD || code == 204 || code == 304 ||
	    (h->has_length && !h->content_length))
		return HTTP_NO_BODY;
	if (h->chunked)
		return HTTP_CHUNKS;
	return h->has_length ? HTTP_LENGTH : HTTP_TO_CLOSE;
}

/* ---- the Host header (the agent's own calls) ---- */

/*
 * One step of the search for the Host header of a request head that starts
 * the window (its first len bytes): from *pos to the next line start, or 8
 * bytes on when the word there holds no newline. Once the header is found
 * (*value: the offset after "host:") the steps go on to its line's end
 * (*end: the newline's offset). Returns 1 when the search is over; *end
 * stays 0 when the head or the len bytes ended first. At most len steps.
 */
static __always_inline int http_host_step(const char *buf, u32 len, u32 *pos, u32 *value,
					  u32 *end)
{
	u32 at = *pos, i;
	u64 m;
	char ch;

	if (at >= len)
		return 1;
	m = newline_mask(load8(buf + (at & HTTP_WINDOW_MASK)));
	if (!m) {
		*pos = at + 8;
		return 0;
	}
	i = at + first_newline(m) + 1;
	*pos = i;
	if (*value) {
		/* A newline past len is a byte of an older call's. */
		if (i <= len)
			*end = i - 1;
		return 1;
	}
	if (i >= len)
		return 1;
	ch = buf[i & HTTP_WINDOW_MASK];
	if (ch == '\r' || ch == '\n')
		return 1;	/* the blank line: no Host header */
	if (i + 5 <= len && (lower8(buf + (i & HTTP_WINDOW_MASK)) & 0xffffffffffull) ==
			    W('h', 'o', 's', 't', ':', 0, 0, 0)) {
		*value = i + 5;
		*pos = i + 5;
	}
	return 0;
}

static __always_inline bool http_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * The header value between *from and its line's end: *from moves past up
 * to two leading blanks, and a CR and a blank at its end are left out.
 * Returns its length, at most HTTP_HOST_LEN - 1. Written without loops:
 * the verifier walks each path once.
 */
static __always_inline u32 http_host_trim(const char *buf, u32 *from, u32 end)
{
	u32 f = *from;

	if (f < end && http_blank(buf[f & HTTP_WINDOW_MASK]))
		f++;
	if (f < end && http_blank(buf[f & HTTP_WINDOW_MASK]))
		f++;
	if (end > f && buf[(end - 1) & HTTP_WINDOW_MASK] == '\r')
		end--;
	if (end > f && http_blank(buf[(end - 1) & HTTP_WINDOW_MASK]))
		end--;
	*from = f;
	if (end <= f)
		return 0;
	return end - f < HTTP_HOST_LEN - 1 ? end - f : HTTP_HOST_LEN - 1;
}

/*
 * Peer ids: FNV-1a's constants eight bytes at a time, folded to 32 bits
 * and kept clear of the ids with a meaning of their own (HTTP_PEER_*).
 */
#define HTTP_ID_SEED	0xcbf29ce484222325ull

static __always_inline u64 http_hash_word(u64 h, u64 w)
{
	return (h ^ w) * 0x100000001b3ull;
}

static __always_inline u32 http_id_fold(u64 h)
{
	u32 id = (u32)(h ^ h >> 32);

	return id <= HTTP_PEER_OTHER ? id + 2 : id;
}

/*
 * The id of a peer known by name: its HTTP_HOST_LEN bytes, lowercased and
 * NUL-padded. The daemon finds llm_hosts' ids with it.
 */
static __always_inline u32 http_host_id(const char *host)
{
	u64 h = HTTP_ID_SEED;
	int i;

	for (i = 0; i < HTTP_HOST_LEN / 8; i++)
		h = http_hash_word(h, load8(host + i * 8));
	return http_id_fold(h);
}

/* ---- kept layouts ---- */

/*
 * Header bytes (after the start line) a connection keeps of its last
 * message each way: nginx's response has 223, a Python client's request
 * fewer.
 */
#define HTTP_LAYOUT	256

/* Start lines longer than this are not looked past for a kept layout. */
#define HTTP_LAYOUT_START_LINE	128

/*
 * The headers of the last message a connection saw each way, kept so that
 * the next one, when it differs only where the framing does not look (the
 * start line, a Date, an ETag), is not scanned again: same line ends after
 * the start line, same first 16 bytes of each long header line (its name),
 * same Transfer-Encoding line, and a Content-Length line in the same place,
 * whose value is read again. Offsets count from the start line's end.
 */
struct http_layout {
	__u32 sensitive;	/* bytes the framing reads: bit k for bytes 8k..8k+7 */
	__u16 len;		/* the headers' length; 0 when none is kept */
	__u16 cl_at;		/* its Content-Length line, if cl_nl */
	__u16 cl_nl;
	__u8 chunked;
	__u8 pad;
	char head[HTTP_LAYOUT];
};

/*
 * Frames the head that starts the window (h->len bytes) from what was kept
 * when it is laid out like the connection's last message that way, as far
 * as its framing goes, with the Content-Length read again: it sets h->end.
 * Else h->end stays 0, for the line-by-line scan.
 */
static __always_inline void http_layout_match(const struct http_layout *lay, struct http_head *h,
					      const char *buf)
{
	u32 len = lay->len, base, k, at;
	u64 a, b, m = 0;

	if (!len || len > HTTP_LAYOUT)
		return;
	for (k = 0; k < HTTP_LAYOUT_START_LINE / 8; k++) {
		m = newline_mask(load8(buf + k * 8));
		if (m)
			break;
	}
	if (!m)
		return;
	/*
	 * Through memory: the verifier then goes on with one unknown offset
	 * instead of one per word the newline could be in (the programs grew
	 * past its limit). It is at most HTTP_LAYOUT_START_LINE; the mask
	 * tells the verifier so without a second path.
	 */
	h->base = k * 8 + first_newline(m) + 1;
	base = *(volatile u32 *)&h->base & (2 * HTTP_LAYOUT_START_LINE - 1);
	if (base + len > h->len)
		return;
	for (k = 0; k < HTTP_LAYOUT / 8; k++) {
		at = k * 8;
		if (at >= len)
			break;
		a = load8(buf + ((base + at) & HTTP_WINDOW_MASK));
		b = load8(lay->head + at);
		if (len - at < 8) {
			a = word_cut(a, len - at);
			b = word_cut(b, len - at);
		}
		if (a != b && (((lay->sensitive >> k) & 1) || newline_mask(a) != newline_mask(b)))
			return;
	}
	h->end = base + len;
	h->chunked = lay->chunked;
	if (lay->cl_nl)
		http_content_length(h, buf, base + lay->cl_at, base + lay->cl_nl);
}

/* A head was scanned whole in the window: keep its layout for the next. */
static __always_inline void http_layout_keep(struct http_layout *lay, const struct http_head *h,
					     const char *buf)
{
	u32 len = h->end - h->base;

	lay->len = 0;
	/* Two Content-Length lines: the scan takes the last, keep it simple. */
	if (h->base > HTTP_LAYOUT_START_LINE || len > HTTP_LAYOUT || h->lengths > 1)
		return;
	l7_copy(lay->head, clamp_size(len, HTTP_LAYOUT),
		buf + clamp_size(h->base, HTTP_LAYOUT_START_LINE));
	lay->sensitive = h->sensitive;
	lay->cl_at = h->cl_at;
	lay->cl_nl = h->lengths ? h->cl_nl : 0;
	lay->chunked = h->chunked;
	lay->len = len;
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
