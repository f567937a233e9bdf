// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTTP parse steps of bpf/l7/http1.h, compiled on the host: start lines
 * (whole, and cut in their first bytes as pipelined requests are), chunked
 * framing fed whole and a byte at a time, and route collapsing.
 */
#include "unit.h"
#include "l7/http1.h"
#include "util.h"

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
	};

	return cmocka_run_group_tests_name("l7 http", tests, NULL, NULL);
}
