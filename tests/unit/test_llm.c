// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The LLM call readers (user/jsonscan.c, sse.c, llmparse.c, llmmodel.c):
 * the answers of OpenAI's and Anthropic's APIs as they come off the wire,
 * fed in every split, compressed, cut and malformed. Built with ASan and
 * UBSan: these read bytes from the agents' traffic.
 */
#include <zlib.h>
#include "unit.h"
#include "config.h"
#include "expo.h"
#include "jsonscan.h"
#include "llmmodel.h"
#include "llmparse.h"
#include "sse.h"
#include "util.h"

/* ---- JSON ---- */

struct seen {
	char log[4096];
};

static void record(void *ctx, const struct json_str *path, int depth, enum json_type type,
		   struct json_str v)
{
	struct seen *s = ctx;
	size_t n = strlen(s->log);
	int i;

	for (i = 0; i < depth; i++)
		n += snprintf(s->log + n, sizeof(s->log) - n, "%.*s.", (int)path[i].n, path[i].p);
	snprintf(s->log + n, sizeof(s->log) - n, "%d=%.*s;", type, (int)v.n, v.p);
}

static void test_json_paths_and_raw_strings(void **state)
{
	const char *doc = "{\"a\": {\"b\": [1, \"x\\\"y\"], \"c\": null}, \"d\": true}";
	struct seen s = { "" };

	assert_int_equal(json_walk(doc, strlen(doc), record, &s), 0);
	assert_string_equal(s.log, "5=;a.5=;a.b.6=;a.b..1=1;a.b..0=x\\\"y;a.c.4=null;d.2=true;");
}

static void test_json_cut_short_visits_what_came(void **state)
{
	const char *doc = "{\"model\": \"m1\", \"usage\": {\"prompt_tokens\": 12";
	struct seen s = { "" };
	size_t i;

	assert_int_equal(json_walk(doc, strlen(doc), record, &s), 1);
	/* The number at the cut may be the start of a longer one: not visited. */
	assert_string_equal(s.log, "5=;model.0=m1;usage.5=;");
	/* No prefix of a document crashes or reads past it. */
	for (i = 0; i <= strlen(doc); i++) {
		memset(&s, 0, sizeof(s));
		assert_true(json_walk(doc, i, record, &s) >= 0 || i == 0);
	}
}

static void test_json_malformed_and_deep(void **state)
{
	char deep[64];
	struct seen s = { "" };

	assert_int_equal(json_walk("{\"a\" 1}", 7, record, &s), -1);
	assert_int_equal(json_walk("[1,,2]", 6, record, &s), -1);
	assert_int_equal(json_walk("[1,]", 4, record, &s), -1);
	assert_int_equal(json_walk("{\"a\":1,}", 8, record, &s), -1);
	assert_int_equal(json_walk("[1 2]", 5, record, &s), -1);
	assert_int_equal(json_walk("[1,", 3, record, &s), 1);
	assert_int_equal(json_walk("{} x", 4, record, &s), -1);
	assert_int_equal(json_walk("\"a\x01\"", 4, record, &s), -1);
	memset(deep, '[', sizeof(deep));
	assert_int_equal(json_walk(deep, sizeof(deep), record, &s), -1);
	assert_int_equal(json_count((struct json_str){ "123", 3 }), 123);
	assert_int_equal(json_count((struct json_str){ "1.5", 3 }), -1);
	assert_int_equal(json_count((struct json_str){ "-4", 2 }), -1);
}

/* ---- server-sent events ---- */

struct events {
	char log[4096];
	int n;
};

static void on_event(void *ctx, const char *name, const char *data, size_t len)
{
	struct events *e = ctx;
	size_t n = strlen(e->log);

	snprintf(e->log + n, sizeof(e->log) - n, "[%s|%.*s]", name, (int)len, data);
	e->n++;
}

static void test_sse_any_split_gives_the_same_events(void **state)
{
	const char *wire = ": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\n"
			   "data: one\ndata: two\n\nevent: ping\rdata:x\r\rdata: last\n\n";
	const char *want = "[message_start|{\"a\":1}][|one\ntwo][ping|x][|last]";
	size_t len = strlen(wire), cut, i;

	for (cut = 0; cut <= len; cut++) {
		struct events e = { "", 0 };
		struct sse s = { 0 };

		sse_feed(&s, wire, cut, on_event, &e);
		sse_feed(&s, wire + cut, len - cut, on_event, &e);
		assert_string_equal(e.log, want);
		sse_free(&s);
	}
	{
		struct events e = { "", 0 };
		struct sse s = { 0 };

		for (i = 0; i < len; i++)
			sse_feed(&s, wire + i, 1, on_event, &e);
		assert_string_equal(e.log, want);
		sse_free(&s);
	}
}

static void test_sse_event_past_the_cap_is_skipped(void **state)
{
	size_t big = SSE_MAX_EVENT + 100;
	char *line = malloc(big);
	struct events e = { "", 0 };
	struct sse s = { 0 };

	memset(line, 'x', big);
	memcpy(line, "data: ", 6);
	sse_feed(&s, line, big, on_event, &e);
	sse_feed(&s, "\n\ndata: after\n\n", 15, on_event, &e);
	assert_string_equal(e.log, "[|after]");
	assert_int_equal(s.skipped, 1);
	sse_free(&s);
	free(line);
}

/* ---- one call's answer ---- */

/* body as a chunked HTTP/1.1 answer of the given content type, into out. */
static size_t chunked(char *out, size_t cap, const char *type, const char *const *pieces)
{
	size_t n = snprintf(out, cap, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n", type);
	int i;

	for (i = 0; pieces[i]; i++)
		n += snprintf(out + n, cap - n, "%zx;ext=1\r\n%s\r\n", strlen(pieces[i]), pieces[i]);
	n += snprintf(out + n, cap - n, "0\r\nx-trailer: 1\r\n\r\n");
	return n;
}

static const char *const openai_stream[] = {
	"data: {\"model\":\"gpt-x-1\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n",
	"data: {\"model\":\"gpt-x-1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\n\n"
	"data: {\"model\":\"gpt-x-1\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}],\"usage\":null}\n\n",
	"data: {\"model\":\"gpt-x-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":17,\"completion_tokens\":2,"
	"\"prompt_tokens_details\":{\"cached_tokens\":5}}}\n\ndata: [DONE]\n\n",
	NULL,
};

static void test_openai_stream_in_every_split(void **state)
{
	char wire[4096];
	size_t len = chunked(wire, sizeof(wire), "text/event-stream; charset=utf-8", openai_stream);
	size_t cut;

	for (cut = 0; cut <= len; cut++) {
		struct llm_parse p;

		llm_parse_init(&p);
		llm_parse_response(&p, wire, cut, 100);
		llm_parse_response(&p, wire + cut, len - cut, 200);
		llm_parse_finish(&p);
		assert_int_equal(p.code, 200);
		assert_int_equal(p.framing, LP_DONE);
		assert_string_equal(p.model, "gpt-x-1");
		assert_int_equal(p.tokens[LLM_TOK_INPUT], 17);
		assert_int_equal(p.tokens[LLM_TOK_OUTPUT], 2);
		assert_int_equal(p.tokens[LLM_TOK_CACHE_READ], 5);
		assert_int_equal(p.tokens[LLM_TOK_CACHE_WRITE], -1);
		/* The role chunk's empty content is no token. */
		assert_int_equal(p.content_events, 2);
		/* The first content came with the bytes at 200 unless it was whole by the cut. */
		assert_int_equal(p.first_token_ns, strstr(wire, "\"Hel\"}}],\"usage\":null}\n\n") +
			strlen("\"Hel\"}}],\"usage\":null}\n\n") <= wire + cut ? 100 : 200);
		assert_false(p.cut || p.error);
		llm_parse_free(&p);
	}
}

static void test_anthropic_stream_running_output(void **state)
{
	static const char *const events[] = {
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\","
		"\"usage\":{\"input_tokens\":300,\"output_tokens\":1,\"cache_creation_input_tokens\":40,"
		"\"cache_read_input_tokens\":100}}}\n\n",
		"event: ping\ndata: {\"type\": \"ping\"}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
		"\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n",
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		NULL,
	};
	char wire[4096];
	size_t len = chunked(wire, sizeof(wire), "text/event-stream", events);
	struct llm_parse p;

	llm_parse_init(&p);
	llm_parse_response(&p, wire, len, 7);
	llm_parse_finish(&p);
	assert_string_equal(p.model, "claude-x");
	assert_int_equal(p.tokens[LLM_TOK_INPUT], 300);
	assert_int_equal(p.tokens[LLM_TOK_OUTPUT], 9);
	assert_int_equal(p.tokens[LLM_TOK_CACHE_READ], 100);
	assert_int_equal(p.tokens[LLM_TOK_CACHE_WRITE], 40);
	assert_int_equal(p.content_events, 1);
	assert_int_equal(p.first_token_ns, 7);
	llm_parse_free(&p);
}

static void test_plain_gzip_answer_after_continue(void **state)
{
	const char *json = "{\"id\":\"x\",\"model\":\"gpt-z\",\"choices\":[{\"message\":{\"content\":\"ok\"}}],"
			   "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3}}";
	unsigned char gz[512];
	char wire[1024];
	z_stream z = { 0 };
	size_t len, i;
	struct llm_parse p;

	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)json;
	z.avail_in = strlen(json);
	z.next_out = gz;
	z.avail_out = sizeof(gz);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	len = snprintf(wire, sizeof(wire), "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
		       "content-encoding: gzip\r\nContent-Length: %lu\r\n\r\n", z.total_out);
	memcpy(wire + len, gz, z.total_out);
	len += z.total_out;
	llm_parse_init(&p);
	/* A byte at a time: the head's end and the inflater's input in pieces. */
	for (i = 0; i < len; i++)
		llm_parse_response(&p, wire + i, 1, 50 + i);
	llm_parse_finish(&p);
	assert_int_equal(p.framing, LP_DONE);
	assert_string_equal(p.model, "gpt-z");
	assert_int_equal(p.tokens[LLM_TOK_INPUT], 11);
	assert_int_equal(p.tokens[LLM_TOK_OUTPUT], 3);
	assert_int_equal(p.content_events, 1);
	/* A plain answer's first token: its body's first byte. */
	assert_int_equal(p.first_token_ns, 50 + len - z.total_out);
	llm_parse_free(&p);
}

/*
 * A close-delimited gzip answer whose deflate data goes bad mid-way (found
 * by fuzz_llm): what inflated before the damage is read, in one read or in
 * two. It came out of the same inflate() call that found the damage, and
 * was dropped with it.
 */
static void test_gzip_damaged_mid_way_reads_what_came_before(void **state)
{
	static const char wire[] =
		"\x48\x54\x54\x50\x2f\x31\x2e\x31\x20\x32\x30\x30\x20\x4f\x4b\x0d\x0a\x43"
		"\x6f\x6e\x74\x65\x6e\x74\x2d\x45\x6e\x63\x6f\x64\x69\x6e\x67\x3a\x20\x67"
		"\x7a\x69\x70\x0d\x0a\x43\x6f\x6e\x74\x7f\x6e\x74\x2d\x4c\x6a\x6e\x67\x74"
		"\x68\x3a\x20\x31\x30\x36\x0d\x0a\x0d\x0a\x1f\x8b\x08\x00\xfa\x50\x17\x6b"
		"\x02\xff\x45\x8c\x41\x0a\x80\x30\x0c\x04\xbf\x52\x72\xf6\xa2\x47\xbf\x22"
		"\x22\x52\x83\x16\x9b\xa4\xd8\x08\x42\xe9\xdf\x4d\x2f\x7a\xdc\xd9\xd9\x2d"
		"\x40\xb2\x61\x84\xd1\x01\x41\xe7\xc0\x1f\x12\x3c\x66\xcb\x53\x01\xc2\x9c"
		"\xd7\x1d\x2d\x14\xf0\xc2\x8a\xac\x4d\x7c\xa0\x10\xfe\xf9\x50\xeb\x0b\x64"
		"\xad\xba\xda\x71\x00\x00\x00";
	size_t cut, len = sizeof(wire) - 1;
	struct llm_parse p;

	for (cut = 0; cut <= len; cut++) {
		llm_parse_init(&p);
		llm_parse_response(&p, wire, cut, 1);
		llm_parse_response(&p, wire + cut, len - cut, 2);
		llm_parse_finish(&p);
		assert_true(p.cut);
		assert_string_equal(p.model, "m");
		llm_parse_free(&p);
	}
}

static void test_errors_cuts_and_unknown_encodings(void **state)
{
	const char *err = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 38\r\n\r\n"
			  "{\"error\":{\"message\":\"slow down\"}}    ";
	const char *br = "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\nabcd";
	const char *req = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"model\":\"asked-m\",\"stream\":true}";
	char wire[4096];
	size_t len = chunked(wire, sizeof(wire), "text/event-stream", openai_stream);
	struct llm_parse p;

	llm_parse_init(&p);
	llm_parse_request(&p, req, strlen(req));
	llm_parse_response(&p, err, strlen(err), 1);
	llm_parse_finish(&p);
	assert_int_equal(p.code, 429);
	assert_true(p.error);
	assert_string_equal(p.model, "");
	assert_string_equal(p.req_model, "asked-m");
	llm_parse_free(&p);

	llm_parse_init(&p);
	llm_parse_response(&p, br, strlen(br), 1);
	llm_parse_finish(&p);
	assert_true(p.cut);
	assert_int_equal(p.content_events, 0);
	llm_parse_free(&p);

	/* Bytes missing after the first content: what came before counts, nothing after. */
	llm_parse_init(&p);
	llm_parse_response(&p, wire, strstr(wire, "\"lo\"") - wire, 1);
	llm_parse_gap(&p);
	llm_parse_response(&p, strstr(wire, "\"lo\""), len - (strstr(wire, "\"lo\"") - wire), 2);
	llm_parse_finish(&p);
	assert_true(p.cut);
	assert_int_equal(p.content_events, 1);
	assert_int_equal(p.tokens[LLM_TOK_OUTPUT], -1);
	llm_parse_free(&p);

	/* Garbage instead of a status line. */
	llm_parse_init(&p);
	llm_parse_response(&p, "SSH-2.0-OpenSSH\r\n\r\n", 19, 1);
	llm_parse_finish(&p);
	assert_true(p.cut);
	llm_parse_free(&p);
}

/* ---- the model: events to series ---- */

static struct config cfg;

static int setup(void **state)
{
	char err[256];
	const char *yaml = "agents:\n  - name: a\n    match: {comm: a}\n"
			   "llm_hosts:\n  - url: https://llm.local:8443/v1\n    provider: local\n"
			   "  - http://127.0.0.1:8000\nmax_models: 2\n";

	assert_int_equal(config_parse(&cfg, "t.yml", yaml, strlen(yaml), err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	config_free(&cfg);
	return 0;
}

static void send_event(struct llm_model *m, uint8_t kind, uint8_t dir, uint32_t seq, uint32_t pos,
		       const char *data, size_t len, uint64_t ts, uint16_t code, uint8_t status)
{
	static struct llm_event e;

	memset(&e, 0, LLM_EVENT_HDR);
	e.kind = kind;
	e.dir = dir;
	e.seq = seq;
	e.pos = pos;
	e.len = len;
	e.ts_ns = ts;
	e.start_ns = 1000000000;
	e.conn = 0xabc;
	e.pid = 42;
	e.provider = 1;
	e.code = code;
	e.status = status;
	if (len)
		memcpy(e.data, data, len);
	llm_model_event(m, &e, LLM_EVENT_HDR + len);
}

static void test_hosts_from_config_and_builtins(void **state)
{
	struct llm_hosts h;
	char err[128];

	assert_int_equal(llm_hosts_build(&h, &cfg, err, sizeof(err)), 0);
	/* https: host:port and the server name; http: host:port; then the public APIs. */
	assert_string_equal(h.hosts[0].name, "llm.local:8443");
	assert_string_equal(h.hosts[1].name, "llm.local");
	assert_string_equal(h.hosts[2].name, "127.0.0.1:8000");
	assert_string_equal(h.hosts[3].name, "api.openai.com");
	assert_int_equal(h.nhosts, 8);
	assert_string_equal(h.providers[h.hosts[0].provider - 1], "local");
	assert_string_equal(h.providers[h.hosts[2].provider - 1], "127.0.0.1");
	assert_string_equal(h.providers[h.hosts[3].provider - 1], "openai");
	assert_string_equal(h.providers[h.hosts[4].provider - 1], "anthropic");
}

static void test_calls_to_series(void **state)
{
	char wire[4096], err[128], *out;
	size_t len = chunked(wire, sizeof(wire), "text/event-stream", openai_stream);
	const char *e429 = "HTTP/1.1 429 x\r\nContent-Length: 2\r\n\r\n{}";
	const char *req = "{\"model\":\"asked\"}";
	struct llm_model m;
	struct strbuf sb;
	struct expo e;

	assert_int_equal(llm_model_init(&m, &cfg, err, sizeof(err)), 0);
	/* A streamed call, its answer in two events 0.3 s apart, then its end. */
	send_event(&m, LLM_EV_DATA, LLM_DIR_RESP, 0, 0, wire, 200, 1200000000, 0, 0);
	send_event(&m, LLM_EV_DATA, LLM_DIR_RESP, 0, 200, wire + 200, len - 200, 1300000000, 0, 0);
	send_event(&m, LLM_EV_END, LLM_DIR_RESP, 0, len, NULL, 0, 1400000000, 200, HTTP_SUCCESS);
	/* A 429 names no model: the request's. */
	send_event(&m, LLM_EV_DATA, LLM_DIR_REQ, 1, 0, req, strlen(req), 1500000000, 0, 0);
	send_event(&m, LLM_EV_DATA, LLM_DIR_RESP, 1, 0, e429, strlen(e429), 1600000000, 0, 0);
	send_event(&m, LLM_EV_END, LLM_DIR_RESP, 1, 0, NULL, 0, 1600000000, 429, HTTP_SUCCESS);
	/* An answer cut mid-way that the kernel saw as the agent's close: an error. */
	send_event(&m, LLM_EV_DATA, LLM_DIR_RESP, 2, 0, wire, strstr(wire, "\"lo\"") - wire,
		   1700000000, 0, 0);
	send_event(&m, LLM_EV_END, LLM_DIR_RESP, 2, 0, NULL, 0, 1800000000, 200, HTTP_TIMEOUT);
	/* A call whose bytes were all held back: counted, model unknown; past max_models. */
	send_event(&m, LLM_EV_END, LLM_DIR_RESP, 3, 0, NULL, 0, 1800000000, 200, HTTP_SUCCESS);
	/* Bytes of a call that skip ahead: counted as missing. */
	send_event(&m, LLM_EV_DATA, LLM_DIR_RESP, 4, 10, wire, 10, 1900000000, 0, 0);
	assert_int_equal(m.losses[LLM_LOSS_GAP], 1);
	llm_model_expire(&m, 1900000000 + LLM_IDLE_NS + 1);
	assert_int_equal(m.losses[LLM_LOSS_IDLE], 1);

	sb_init(&sb);
	expo_init(&e, &sb, EXPO_TEXT, NULL);
	llm_model_render(&m, &e);
	expo_finish(&e);
	out = sb.buf;
	assert_has_line(out, "agent_llm_requests_total{agent_type=\"a\",provider=\"local\",model=\"gpt-x-1\",status=\"success\"} 1");
	assert_has_line(out, "agent_llm_requests_total{agent_type=\"a\",provider=\"local\",model=\"gpt-x-1\",status=\"error\"} 1");
	assert_has_line(out, "agent_llm_requests_total{agent_type=\"a\",provider=\"local\",model=\"asked\",status=\"error\"} 1");
	assert_has_line(out, "agent_llm_requests_total{agent_type=\"a\",provider=\"local\",model=\"other\",status=\"success\"} 1");
	assert_has_line(out, "agent_llm_tokens_total{agent_type=\"a\",provider=\"local\",model=\"gpt-x-1\",kind=\"input\"} 17");
	assert_has_line(out, "agent_llm_tokens_total{agent_type=\"a\",provider=\"local\",model=\"gpt-x-1\",kind=\"cache_read\"} 5");
	/* The cut stream reported no usage: its one content chunk is estimated. */
	assert_has_line(out, "agent_llm_output_tokens_estimated_total{agent_type=\"a\",provider=\"local\",model=\"gpt-x-1\"} 1");
	/* First tokens 0.3 s (the second event's) and 0.7 s after the requests' start. */
	assert_has_line(out, "agent_llm_time_to_first_token_seconds_bucket{agent_type=\"a\",provider=\"local\",model=\"gpt-x-1\",le=\"0.25\"} 0");
	assert_has_line(out, "agent_llm_time_to_first_token_seconds_bucket{agent_type=\"a\",provider=\"local\",model=\"gpt-x-1\",le=\"0.5\"} 1");
	assert_has_line(out, "agent_llm_time_to_first_token_seconds_bucket{agent_type=\"a\",provider=\"local\",model=\"gpt-x-1\",le=\"1\"} 2");
	assert_has_line(out, "agent_llm_request_duration_seconds_count{agent_type=\"a\",provider=\"local\",model=\"gpt-x-1\"} 2");
	sb_free(&sb);
	llm_model_free(&m);
}

static void test_config_llm_names(void **state)
{
	char names[2][CONFIG_LLM_NAME_LEN], host[CONFIG_LLM_NAME_LEN];

	assert_int_equal(config_llm_names("https://API.OpenAI.com/v1", names, host), 1);
	assert_string_equal(names[0], "api.openai.com");
	assert_int_equal(config_llm_names("https://h:443", names, host), 1);
	assert_string_equal(names[0], "h");
	assert_int_equal(config_llm_names("http://h:80/v1", names, host), 1);
	assert_string_equal(names[0], "h");
	assert_int_equal(config_llm_names("http://10.0.0.5:8000/v1", names, host), 1);
	assert_string_equal(names[0], "10.0.0.5:8000");
	assert_int_equal(config_llm_names("https://h:8443/", names, host), 2);
	assert_string_equal(names[0], "h:8443");
	assert_string_equal(names[1], "h");
	assert_string_equal(host, "h");
	assert_int_equal(config_llm_names("vllm:9000", names, host), 1);
	assert_string_equal(names[0], "vllm:9000");
	assert_int_equal(config_llm_names("[::1]:8000", names, host), 1);
	assert_string_equal(names[0], "[::1]:8000");
	assert_int_equal(config_llm_names("https://", names, host), -1);
	assert_int_equal(config_llm_names("https://h:0", names, host), -1);
	assert_int_equal(config_llm_names("https://h:99999", names, host), -1);
	assert_int_equal(config_llm_names("https://h:12x/", names, host), -1);
	assert_int_equal(config_llm_names("https://a b/", names, host), -1);
}

static void test_config_llm_errors(void **state)
{
	struct config c;
	char err[256];
	const char *bad[][2] = {
		{ "llm_hosts: [\"https://:9\"]\n", "t.yml:1: llm_hosts: \"https://:9\" is not a base URL" },
		{ "llm_hosts:\n  - {url: https://x, color: red}\n", "t.yml:2: llm_hosts: unknown key \"color\"" },
		{ "llm_hosts:\n  - {provider: p}\n", "t.yml:2: llm_hosts: missing url" },
		{ "llm: maybe\n", "t.yml:1: llm: expected true" },
		{ "max_models: 0\n", "t.yml:1: max_models: must be a whole number from 1 to 1000" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(config_parse(&c, "t.yml", bad[i][0], strlen(bad[i][0]), err,
					      sizeof(err)), -1);
		if (strncmp(err, bad[i][1], strlen(bad[i][1])))
			fail_msg("config %zu: \"%s\" does not start with \"%s\"", i, err, bad[i][1]);
		config_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_paths_and_raw_strings),
		cmocka_unit_test(test_json_cut_short_visits_what_came),
		cmocka_unit_test(test_json_malformed_and_deep),
		cmocka_unit_test(test_sse_any_split_gives_the_same_events),
		cmocka_unit_test(test_sse_event_past_the_cap_is_skipped),
		cmocka_unit_test(test_openai_stream_in_every_split),
		cmocka_unit_test(test_anthropic_stream_running_output),
		cmocka_unit_test(test_plain_gzip_answer_after_continue),
		cmocka_unit_test(test_gzip_damaged_mid_way_reads_what_came_before),
		cmocka_unit_test(test_errors_cuts_and_unknown_encodings),
		cmocka_unit_test(test_hosts_from_config_and_builtins),
		cmocka_unit_test(test_calls_to_series),
		cmocka_unit_test(test_config_llm_names),
		cmocka_unit_test(test_config_llm_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
