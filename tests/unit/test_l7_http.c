// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTTP parse steps of bpf/l7/http1.h, compiled on the host: start lines
 * (whole, and cut in their first bytes as pipelined requests are), chunked
 * framing fed whole and a byte at a time, route collapsing, head scans
 * (framing headers, pipelined heads, heads cut at every byte), kept
 * layouts and what follows a head.
 */
#include "unit.h"
#include "util.h"
#include "httpdriver.h"

/* The parser's view: exactly len bytes, in a buffer of their own (ASan sees overreads). */
static bool start(const char *text, size_t len, bool resp, uint8_t *method, uint16_t *code)
{
	char *b = malloc(len ? len : 1);
	bool ok;

	memcpy(b, text, len);
	ok = http_message_start(b, len, resp, method, code);
	free(b);
	return ok;
}

static void test_every_method_and_its_length(void **state)
{
	static const struct { const char *line; uint8_t method; uint32_t len; } cases[] = {
		{ "GET / HTTP/1.1\r\n", HTTP_M_GET, 4 },
		{ "POST /v1 HTTP/1.1\r\n", HTTP_M_POST, 5 },
		{ "PUT /x HTTP/1.1\r\n", HTTP_M_PUT, 4 },
		{ "DELETE /x HTTP/1.1\r\n", HTTP_M_DELETE, 7 },
		{ "HEAD / HTTP/1.1\r\n", HTTP_M_HEAD, 5 },
		{ "PATCH /x HTTP/1.1\r\n", HTTP_M_PATCH, 6 },
		{ "OPTIONS * HTTP/1.1\r\n", HTTP_M_OPTIONS, 8 },
		{ "CONNECT h:443 HTTP/1.1\r\n", HTTP_M_CONNECT, 8 },
		{ "TRACE / HTTP/1.1\r\n", HTTP_M_TRACE, 6 },
	};
	uint8_t method;
	uint16_t code;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		method = HTTP_M_OTHER;
		assert_true(start(cases[i].line, strlen(cases[i].line), false, &method, &code));
		assert_int_equal(method, cases[i].method);
		assert_int_equal(http_method_len(method), cases[i].len);
		assert_memory_equal(cases[i].line + cases[i].len - 1, " ", 1);
	}
}

static void test_request_lines_cut_in_their_first_bytes_wait(void **state)
{
	/* A reader's buffer can end a byte into a pipelined request: too short to tell. */
	const char *line = "OPTIONS * HTTP/1.1\r\n";
	uint8_t method;
	uint16_t code;
	size_t len;

	for (len = 0; len < HTTP_START_MIN(false); len++)
		assert_false(start(line, len, false, &method, &code));
	assert_true(start(line, HTTP_START_MIN(false), false, &method, &code));
	assert_int_equal(method, HTTP_M_OPTIONS);
}

static void test_not_a_request(void **state)
{
	static const char *const lines[] = {
		"get / HTTP/1.1\r\n",		/* methods are case-sensitive */
		"GETX / HTTP/1.1\r\n",
		"PROPFIND / HTTP/1.1\r\n",	/* not followed (README) */
		"\x16\x03\x01\x02\x00\x01\x00\x01",	/* a TLS ClientHello */
		"*3\r\n$5\r\nLPUSH\r\n",		/* RESP */
	};
	uint8_t method;
	uint16_t code;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lines); i++)
		assert_false(start(lines[i], strlen(lines[i]), false, &method, &code));
}

static void test_status_lines(void **state)
{
	uint8_t method;
	uint16_t code = 0;

	assert_true(start("HTTP/1.1 200 OK\r\n", 17, true, &method, &code));
	assert_int_equal(code, 200);
	assert_true(start("HTTP/1.0 504 Gateway Timeout\r\n", 30, true, &method, &code));
	assert_int_equal(code, 504);
	/* Cut before the code's last digit: waits. */
	assert_false(start("HTTP/1.1 20", 11, true, &method, &code));
	assert_false(start("HTTP/1.1 2x0 OK\r\n", 17, true, &method, &code));
	assert_false(start("HTTP/2.0 200 OK\r\n", 17, true, &method, &code));
	assert_false(start("GET / HTTP/1.1\r\n", 16, true, &method, &code));
}

static void test_chunked_bodies_end_where_their_framing_says(void **state)
{
	/* Extensions, upper-case hex, a trailer, and a pipelined request behind. */
	static const char body[] = "5;name=v\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
				   "0\r\nX-Trailer: yes\r\n\r\nGET / HTTP/1.1\r\n";
	size_t end = strlen(body) - strlen("GET / HTTP/1.1\r\n");
	size_t piece;
	bool ended;

	/* Whole, and cut at every size: the same end, whatever the read boundaries. */
	for (piece = 1; piece <= HTTP_CHUNK_LINE; piece++) {
		assert_int_equal(frame_chunked(body, strlen(body), piece, &ended), end);
		assert_true(ended);
	}
}

static void test_a_chunked_body_cut_before_its_end_goes_on(void **state)
{
	static const char body[] = "4\r\nwiki\r\n0\r\n";	/* the last CRLF not yet here */
	bool ended;

	assert_int_equal(frame_chunked(body, strlen(body), HTTP_CHUNK_LINE, &ended), strlen(body));
	assert_false(ended);
}

static void test_size_line_state_carries_across_calls(void **state)
{
	struct http_body st = { .chunk_state = CH_SIZE };
	bool ended;

	/* "1f" split as "1" | "f\r\n" */
	assert_int_equal(http_chunk_lines(&st, "1", 1, &ended), 1);
	assert_int_equal(st.chunk_state, CH_SIZE);
	assert_int_equal(http_chunk_lines(&st, "f\r\nxyz", 6, &ended), 3);
	assert_int_equal(st.chunk_state, CH_DATA);
	assert_int_equal(st.remaining, 0x1f + 2);
	assert_false(ended);
}

static const char *route(const char *path, uint32_t *id, bool *cut)
{
	static char out[HTTP_ROUTE_LEN];
	struct http_route_state r;
	uint32_t i, len = strlen(path);

	memset(out, 0, sizeof(out));
	http_route_begin(&r, 0, len);
	for (i = 0; ; i++) {
		if (i >= len) {
			http_route_cut(&r, out);
			break;
		}
		if (http_route_char(&r, out, path[i]))
			break;
	}
	out[r.j & (HTTP_ROUTE_LEN - 1)] = '\0';
	*id = http_route_id(&r);
	*cut = r.cut;
	return out;
}

static void test_ids_collapse_and_the_rest_stays(void **state)
{
	uint32_t id, id2;
	bool cut;

	assert_string_equal(route("/users/42/posts HTTP/1.1", &id, &cut), "/users/{id}/posts");
	assert_false(cut);
	route("/users/43/posts?page=2 HTTP/1.1", &id2, &cut);
	assert_int_equal(id, id2);
	assert_string_equal(route("/o/0f8fad5b-d9cb-469f-a165-70867728950e ", &id, &cut), "/o/{id}");
	assert_string_equal(route("/blob/deadbeef12 ", &id, &cut), "/blob/{id}");
	/* Hex letters alone, or short hex, are words. */
	assert_string_equal(route("/feed/cafe ", &id, &cut), "/feed/cafe");
	assert_string_equal(route("/v1/chat/completions#x", &id, &cut), "/v1/chat/completions");
	assert_true(id >= 2);	/* never HTTP_ROUTE_NONE or HTTP_ROUTE_OTHER */
}

static void test_a_path_cut_by_the_read_is_marked_cut(void **state)
{
	uint32_t id;
	bool cut;

	assert_string_equal(route("/api/ite", &id, &cut), "/api/ite");
	assert_true(cut);
}

static void test_long_and_binary_paths_stay_bounded(void **state)
{
	char path[300];
	uint32_t id;
	bool cut;

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(strlen(route(path, &id, &cut)), HTTP_ROUTE_LEN - 5);
	assert_string_equal(route("/a\x01" "b", &id, &cut), "/a");
	assert_string_equal(route("/\xc3\xa9t\xc3\xa9", &id, &cut), "/");
}

/* ---- heads ---- */

static void test_framing_headers_in_any_case(void **state)
{
	static const struct {
		const char *head;
		uint64_t length;
		bool has_length, chunked;
	} cases[] = {
		{ "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n", 42, true, false },
		{ "POST /a HTTP/1.1\r\ncontent-length:7\r\nHost: x\r\n\r\n", 7, true, false },
		{ "POST /a HTTP/1.1\r\nCONTENT-LENGTH:  \t 1234567\r\n\r\n", 1234567, true, false },
		{ "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 0, false, true },
		{ "POST /a HTTP/1.1\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n", 0, false, true },
		{ "POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0, false, false },
		/* Not the framing headers, though they start alike. */
		{ "GET / HTTP/1.1\r\nContent-Type: text/plain\r\nX-Content-Length: 9\r\n\r\n", 0, false,
		  false },
		/* Bare newlines end lines and the head too. */
		{ "GET / HTTP/1.1\nContent-Length: 3\n\n", 3, true, false },
	};
	struct http_head h;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len = strlen(cases[i].head);
		char *w = window_of(cases[i].head, len, &h);

		scan(&h, w);
		assert_int_equal(h.end, len);
		assert_int_equal(h.content_length, cases[i].length);
		assert_int_equal(h.has_length, cases[i].has_length);
		assert_int_equal(h.chunked, cases[i].chunked);
		assert_int_equal(h.base, strchr(cases[i].head, '\n') - cases[i].head + 1);
		free(w);
	}
}

static void test_pipelined_heads_end_where_each_ends(void **state)
{
	const char *two = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
			  "GET /two HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
	size_t first = strstr(two, "GET /two") - two;
	struct http_head h;
	char *w = window_of(two, strlen(two), &h);

	scan(&h, w);
	assert_int_equal(h.end, first);
	assert_false(h.has_length);
	free(w);
	/* The next step starts a window at the second head, as http_parse_step() does. */
	w = window_of(two + first, strlen(two) - first, &h);
	scan(&h, w);
	assert_int_equal(h.end, strlen(two) - first - 2);
	assert_int_equal(h.content_length, 2);
	free(w);
}

/*
 * A head cut anywhere by the end of a read: the scan stops with the
 * unfinished line at line_start; that line carried into the next window,
 * with what the scan knew, finds the same end and framing as one read.
 */
static void test_a_head_cut_at_every_byte_frames_the_same(void **state)
{
	const char *head = "POST /v1/chat HTTP/1.1\r\nHost: agent:8000\r\n"
			   "User-Agent: python-httpx/0.27\r\nContent-Length: 311\r\n"
			   "Content-Type: application/json\r\n\r\n";
	size_t len = strlen(head), cut;

	for (cut = 1; cut < len; cut++) {
		struct http_head h, next;
		char *w = window_of(head, cut, &h);
		size_t line, keep;
		char *w2;

		scan(&h, w);
		assert_int_equal(h.end, 0);
		line = h.line_start < cut ? h.line_start : cut;
		keep = cut - line;
		assert_true(keep <= HTTP_CARRY);
		/* The carried line, then the rest of the head. */
		w2 = window_of(head + line, len - line, &next);
		next.content_length = h.content_length;
		next.has_length = h.has_length;
		next.chunked = h.chunked;
		next.in_headers = h.in_headers;
		scan(&next, w2);
		assert_int_equal(line + next.end, len);
		assert_int_equal(next.content_length, 311);
		assert_true(next.has_length);
		free(w);
		free(w2);
	}
}

static void test_line_ends_beyond_the_window_wait(void **state)
{
	/* A long header line with no newline in the window: no end, the line is kept. */
	char head[600];
	struct http_head h;
	char *w;

	memset(head, 'a', sizeof(head));
	memcpy(head, "GET / HTTP/1.1\r\nCookie: ", 24);
	w = window_of(head, sizeof(head), &h);
	scan(&h, w);
	assert_int_equal(h.end, 0);
	assert_int_equal(h.line_start, 16);
	free(w);
}

static const char nginx_head[] =
	"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 17:00:00 GMT\r\n"
	"Content-Type: text/html\r\nContent-Length: 1073741824\r\n"
	"Last-Modified: Mon, 07 Dec 2026 16:00:00 GMT\r\nConnection: keep-alive\r\n"
	"ETag: \"6571e1c0-40000000\"\r\nAccept-Ranges: bytes\r\n\r\n";

/* The layout kept from nginx_head, and the window of another head to match against it. */
static char *kept_then(struct http_layout *lay, const char *next, struct http_head *h)
{
	struct http_head first;
	char *w = window_of(nginx_head, strlen(nginx_head), &first);

	scan(&first, w);
	assert_int_equal(first.end, strlen(nginx_head));
	memset(lay, 0, sizeof(*lay));
	http_layout_keep(lay, &first, w);
	assert_int_equal(lay->len, first.end - first.base);
	free(w);
	return window_of(next, strlen(next), h);
}

static void test_a_head_laid_out_alike_is_framed_without_a_scan(void **state)
{
	/*
	 * Another second, and a length of the same width whose last digit
	 * differs: the framing compares the words of each long line's first 16
	 * bytes (its name), and reads the length again. (A digit in the same
	 * word as a name's bytes is compared: a layout that does not match is
	 * only a scan more.)
	 */
	const char *next =
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 17:00:01 GMT\r\n"
		"Content-Type: text/html\r\nContent-Length: 1073741825\r\n"
		"Last-Modified: Mon, 07 Dec 2026 16:00:00 GMT\r\nConnection: keep-alive\r\n"
		"ETag: \"6571e1c0-40000000\"\r\nAccept-Ranges: bytes\r\n\r\n<html>";
	struct http_layout lay;
	struct http_head h;
	char *w = kept_then(&lay, next, &h);

	http_layout_match(&lay, &h, w);
	assert_int_equal(h.end, strlen(next) - strlen("<html>"));
	assert_int_equal(h.content_length, 1073741825);
	assert_true(h.has_length);
	assert_false(h.chunked);
	free(w);
}

static void test_a_head_laid_out_otherwise_is_scanned(void **state)
{
	static const char *const others[] = {
		/* A longer length moves every line end after it. */
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 17:00:01 GMT\r\n"
		"Content-Type: text/html\r\nContent-Length: 10737418240\r\n"
		"Last-Modified: Mon, 07 Dec 2026 16:00:00 GMT\r\nConnection: keep-alive\r\n"
		"ETag: \"6571e1c1-3db\"\r\nAccept-Ranges: bytes\r\n\r\n",
		/* A framing header where another was: the line ends move with it. */
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 17:00:01 GMT\r\n"
		"Content-Type: text/html\r\nContent-Length: 1073741824\r\n"
		"Transfer-Encoding: chunked, xy\r\nConnection: keep-alive\r\n"
		"ETag: \"6571e1c1-3db\"\r\nAccept-Ranges: bytes\r\n\r\n",
		/* The same, every line as long as before: only the name tells. */
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 17:00:01 GMT\r\n"
		"Content-Type: text/html\r\nContent-Length: 1073741824\r\n"
		"Transfer-Encoding: gzip, deflate, br,chunked\r\nConnection: keep-alive\r\n"
		"ETag: \"6571e1c0-40000000\"\r\nAccept-Ranges: bytes\r\n\r\n",
		/* Too short for the kept headers. */
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(others); i++) {
		struct http_layout lay;
		struct http_head h;
		char *w = kept_then(&lay, others[i], &h);

		http_layout_match(&lay, &h, w);
		assert_int_equal(h.end, 0);
		free(w);
	}
}

static void test_what_follows_a_head(void **state)
{
	static const struct {
		bool resp;
		uint8_t req_method;
		uint16_t code;
		uint64_t length;
		bool has_length, chunked;
		uint8_t framing;
	} cases[] = {
		{ false, 0, 0, 0, false, false, HTTP_NO_BODY },
		{ false, 0, 0, 0, true, false, HTTP_NO_BODY },
		{ false, 0, 0, 10, true, false, HTTP_LENGTH },
		{ false, 0, 0, 0, false, true, HTTP_CHUNKS },
		{ true, HTTP_M_GET, 200, 10, true, false, HTTP_LENGTH },
		{ true, HTTP_M_GET, 200, 0, true, false, HTTP_NO_BODY },
		{ true, HTTP_M_GET, 200, 0, false, true, HTTP_CHUNKS },
		{ true, HTTP_M_GET, 200, 0, false, false, HTTP_TO_CLOSE },
		/* A HEAD's response, 204 and 304 have no body whatever they say. */
		{ true, HTTP_M_HEAD, 200, 10, true, false, HTTP_NO_BODY },
		{ true, HTTP_M_GET, 204, 0, false, false, HTTP_NO_BODY },
		{ true, HTTP_M_GET, 304, 10, true, false, HTTP_NO_BODY },
		{ true, HTTP_M_POST, 100, 0, false, false, HTTP_INTERIM },
		{ true, HTTP_M_GET, 101, 0, false, false, HTTP_INTERIM },
		{ true, HTTP_M_OTHER, 500, 0, false, false, HTTP_TO_CLOSE },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct http_head h = {
			.content_length = cases[i].length,
			.has_length = cases[i].has_length,
			.chunked = cases[i].chunked,
		};

		assert_int_equal(http_framing(&h, cases[i].resp, cases[i].req_method, cases[i].code),
				 cases[i].framing);
	}
}

/* The Host header of a head, as the kernel takes it for a call's peer. */
static void check_host(const char *head, const char *want)
{
	struct http_head h;
	char out[HTTP_HOST_LEN];
	char *w = window_of(head, strlen(head), &h);

	assert_int_equal(host_of(w, strlen(head), out), strlen(want));
	assert_string_equal(out, want);
	free(w);
}

static void test_the_host_header_of_a_call(void **state)
{
	check_host("GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n", "api.example.com");
	/* Any case and place, blanks around the value, bare LF line ends. */
	check_host("POST /v1/chat HTTP/1.1\r\nAccept: */*\r\nUser-Agent: x\r\nHOST:\t Api.Example.com:8443 \r\n"
		   "Content-Length: 0\r\n\r\n", "Api.Example.com:8443");
	check_host("GET / HTTP/1.1\nhost:localhost:8001\n\n", "localhost:8001");
	/* Not a Host header: a longer name, one that ends in host, none before the blank line. */
	check_host("GET / HTTP/1.1\r\nHostname: a\r\nX-Host: b\r\n\r\n", "");
	check_host("GET / HTTP/1.0\r\n\r\nHost: body.example\r\n", "");
	/* The request line is no header, whatever it holds. */
	check_host("GET /host: HTTP/1.1\r\n\r\n", "");
	/* Longer than kept: cut, never past the buffer; a value of blanks is none. */
	check_host("GET / HTTP/1.1\r\nHost:   \r\n\r\n", "");
	check_host("GET / HTTP/1.1\r\nHost: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
}

static void test_a_head_cut_anywhere_gives_the_whole_host_or_none(void **state)
{
	static const char head[] = "GET /x HTTP/1.1\r\nAccept: */*\r\nHost: tools.example.test\r\n"
				   "Connection: keep-alive\r\n\r\n";
	const char *value = strstr(head, "tools");
	char out[HTTP_HOST_LEN];
	struct http_head h;
	size_t len;
	unsigned n;
	char *w;

	for (len = 0; len <= strlen(head); len++) {
		w = window_of(head, len, &h);
		n = host_of(w, len, out);
		/* A value whose line did not end within the bytes is not taken. */
		if (len < (size_t)(value - head) + strlen("tools.example.test\r\n"))
			assert_int_equal(n, 0);
		else
			assert_string_equal(out, "tools.example.test");
		free(w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_method_and_its_length),
		cmocka_unit_test(test_request_lines_cut_in_their_first_bytes_wait),
		cmocka_unit_test(test_not_a_request),
		cmocka_unit_test(test_status_lines),
		cmocka_unit_test(test_chunked_bodies_end_where_their_framing_says),
		cmocka_unit_test(test_a_chunked_body_cut_before_its_end_goes_on),
		cmocka_unit_test(test_size_line_state_carries_across_calls),
		cmocka_unit_test(test_ids_collapse_and_the_rest_stays),
		cmocka_unit_test(test_a_path_cut_by_the_read_is_marked_cut),
		cmocka_unit_test(test_long_and_binary_paths_stay_bounded),
		cmocka_unit_test(test_framing_headers_in_any_case),
		cmocka_unit_test(test_pipelined_heads_end_where_each_ends),
		cmocka_unit_test(test_a_head_cut_at_every_byte_frames_the_same),
		cmocka_unit_test(test_line_ends_beyond_the_window_wait),
		cmocka_unit_test(test_a_head_laid_out_alike_is_framed_without_a_scan),
		cmocka_unit_test(test_a_head_laid_out_otherwise_is_scanned),
		cmocka_unit_test(test_what_follows_a_head),
		cmocka_unit_test(test_the_host_header_of_a_call),
		cmocka_unit_test(test_a_head_cut_anywhere_gives_the_whole_host_or_none),
	};

	return cmocka_run_group_tests_name("l7 http", tests, NULL, NULL);
}
