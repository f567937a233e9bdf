// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "jsonscan.h"
#include "llmparse.h"
#include "util.h"

const char *const llm_token_kinds[LLM_TOK_MAX] = {
	[LLM_TOK_INPUT] = "input",
	[LLM_TOK_OUTPUT] = "output",
	[LLM_TOK_CACHE_READ] = "cache_read",
	[LLM_TOK_CACHE_WRITE] = "cache_write",
};

void llm_parse_init(struct llm_parse *p)
{
	int i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < LLM_TOK_MAX; i++)
		p->tokens[i] = -1;
}

/* ---- what a document says ---- */

struct reading {
	struct llm_parse *p;
	bool content;
	char *model;		/* where a model name goes */
	bool request;		/* a request body: its model only */
};

static bool key_is(const struct json_str *path, int depth, int i, const char *k)
{
	return i < depth && json_is(path[i], k);
}

/* The usage figure a key names, or -1. */
static int token_kind(const struct json_str *path, int depth, int u)
{
	int rel = depth - u - 1;
	struct json_str k = path[u + 1];

	if (rel == 1) {
		if (json_is(k, "prompt_tokens") || json_is(k, "input_tokens") ||
		    json_is(k, "promptTokenCount"))
			return LLM_TOK_INPUT;
		if (json_is(k, "completion_tokens") || json_is(k, "output_tokens") ||
		    json_is(k, "candidatesTokenCount"))
			return LLM_TOK_OUTPUT;
		if (json_is(k, "cache_read_input_tokens") || json_is(k, "cachedContentTokenCount"))
			return LLM_TOK_CACHE_READ;
		if (json_is(k, "cache_creation_input_tokens"))
			return LLM_TOK_CACHE_WRITE;
	} else if (rel == 2 && (json_is(k, "prompt_tokens_details") ||
				json_is(k, "input_tokens_details")) &&
		   json_is(path[u + 2], "cached_tokens")) {
		return LLM_TOK_CACHE_READ;
	}
	return -1;
}

/* Content in a choice: text, a tool call, reasoning. */
static bool choice_content(const struct json_str *path, int depth, enum json_type type,
			   struct json_str v)
{
	bool delta = key_is(path, depth, 2, "delta") || key_is(path, depth, 2, "message");

	if (depth == 4 && delta && type == JSON_STRING && v.n &&
	    (json_is(path[3], "content") || json_is(path[3], "reasoning_content")))
		return true;
	if (depth == 4 && delta && type == JSON_ARRAY && json_is(path[3], "tool_calls"))
		return true;
	/* The legacy completions API. */
	return depth == 3 && type == JSON_STRING && v.n && json_is(path[2], "text");
}

static void copy_name(char *dst, struct json_str v)
{
	size_t n = v.n < LLM_MODEL_LEN - 1 ? v.n : LLM_MODEL_LEN - 1;

	memcpy(dst, v.p, n);
	dst[n] = '\0';
}

static void visit(void *ctx, const struct json_str *path, int depth, enum json_type type,
		  struct json_str v)
{
	struct reading *r = ctx;
	int u, kind;
	long long n;

	if (depth == 0)
		return;
	/* model, modelVersion (Gemini), message.model and response.model (streams). */
	if (type == JSON_STRING && v.n &&
	    ((depth == 1 && (json_is(path[0], "model") || json_is(path[0], "modelVersion"))) ||
	     (depth == 2 && json_is(path[1], "model") &&
	      (json_is(path[0], "message") || json_is(path[0], "response")))))
		copy_name(r->model, v);
	if (r->request)
		return;
	if (depth == 1 && json_is(path[0], "error") && type != JSON_NULL)
		r->p->error = true;
	if (depth == 1 && json_is(path[0], "type") && type == JSON_STRING) {
		if (json_is(v, "error"))
			r->p->error = true;
		/* Anthropic's and OpenAI responses' stream deltas. */
		if (json_is(v, "content_block_delta") || json_is(v, "response.output_text.delta"))
			r->content = true;
	}
	if (key_is(path, depth, 0, "choices") && choice_content(path, depth, type, v))
		r->content = true;
	/* Anthropic's plain answer; Gemini's candidates. */
	if (type == JSON_STRING && v.n &&
	    ((depth == 3 && json_is(path[0], "content") && json_is(path[2], "text")) ||
	     (depth == 6 && json_is(path[0], "candidates") && json_is(path[2], "content") &&
	      json_is(path[5], "text"))))
		r->content = true;
	if (type != JSON_NUMBER)
		return;
	for (u = 0; u < depth - 1; u++) {
		if (json_is(path[u], "usage") || json_is(path[u], "usageMetadata"))
			break;
	}
	if (u >= depth - 1 || (kind = token_kind(path, depth, u)) < 0)
		return;
	if ((n = json_count(v)) >= 0)
		r->p->tokens[kind] = n;
}

void llm_parse_document(struct llm_parse *p, const char *json, size_t len)
{
	struct reading r = { .p = p, .model = p->model };

	json_walk(json, len, visit, &r);
	if (r.content) {
		p->content_events++;
		if (!p->first_token_ns)
			p->first_token_ns = p->ts;
	}
}

/* ---- the response's body ---- */

static void on_event(void *ctx, const char *name, const char *data, size_t len)
{
	struct llm_parse *p = ctx;

	if (!strcmp(name, "error"))
		p->error = true;
	if (len == 6 && !memcmp(data, "[DONE]", 6))
		return;
	llm_parse_document(p, data, len);
}

/* Decoded body bytes: into the stream of events, or kept to read at the end. */
static void body(struct llm_parse *p, const char *b, size_t n)
{
	if (!n)
		return;
	if (p->sse)
		sse_feed(&p->events, b, n, on_event, p);
	else if (!buf_append(&p->body, &p->body_len, &p->body_cap, LLM_BODY_MAX, b, n))
		p->cut = true;
}

/* Body bytes as they came on the wire: inflated first when the answer is compressed. */
static void content(struct llm_parse *p, const char *b, size_t n)
{
	char out[16384];
	int ret;

	if (n && !p->body_ts)
		p->body_ts = p->ts;
	if (!p->gzip) {
		body(p, b, n);
		return;
	}
	if (!p->z_on) {
		/* gzip or zlib, told by their headers. */
		if (inflateInit2(&p->z, 32 + MAX_WBITS) != Z_OK) {
			p->cut = true;
			p->framing = LP_LOST;
			return;
		}
		p->z_on = true;
	}
	p->z.next_in = (Bytef *)b;
	p->z.avail_in = n;
	do {
		p->z.next_out = (Bytef *)out;
		p->z.avail_out = sizeof(out);
		ret = inflate(&p->z, Z_NO_FLUSH);
		/* What came out before an error is read, however the bytes were cut. */
		body(p, out, sizeof(out) - p->z.avail_out);
		if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
			p->cut = true;
			p->framing = LP_LOST;
			return;
		}
	} while (ret == Z_OK && (p->z.avail_in || !p->z.avail_out));
}

/* The head is whole in p->head: how the body comes. */
static void head_done(struct llm_parse *p)
{
	const char *h = p->head, *end = h + p->head_len, *line, *colon, *v;
	bool has_length = false;
	uint8_t method;
	size_t vn;

	if (p->head_len < HTTP_START_MIN(true) ||
	    !http_message_start(h, p->head_len, true, &method, &p->code)) {
		p->framing = LP_LOST;
		p->cut = true;
		return;
	}
	p->chunked = p->sse = p->gzip = false;
	for (line = memchr(h, '\n', p->head_len); line && line + 1 < end;
	     line = memchr(line + 1, '\n', end - line - 1)) {
		line++;
		colon = memchr(line, ':', end - line);
		if (!colon || memchr(line, '\n', colon - line))
			continue;
		v = colon + 1;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		/* The head ends in an empty line: every value ends in a newline. */
		vn = (const char *)memchr(v, '\n', end - v) - v;
		if (vn && v[vn - 1] == '\r')
			vn--;
#define HEADER(name) ((size_t)(colon - line) == sizeof(name) - 1 && \
		      !strncasecmp(line, name, sizeof(name) - 1))
		if (HEADER("content-length")) {
			p->remaining = 0;
			while (vn-- && *v >= '0' && *v <= '9')
				p->remaining = p->remaining * 10 + (*v++ - '0');
			has_length = true;
		} else if (HEADER("transfer-encoding")) {
			p->chunked = memmem(v, vn, "chunked", 7) != NULL;
		} else if (HEADER("content-encoding")) {
			if ((vn == 4 && !strncasecmp(v, "gzip", 4)) ||
			    (vn == 7 && !strncasecmp(v, "deflate", 7)))
				p->gzip = true;
			else if (!(vn == 8 && !strncasecmp(v, "identity", 8)))
				p->unknown_encoding = true;
		} else if (HEADER("content-type")) {
			p->sse = memmem(v, vn, "text/event-stream", 17) != NULL;
		}
#undef HEADER
	}
	p->head_len = 0;
	if (p->unknown_encoding) {
		/* br, zstd: the call counts, its body is not read. */
		p->framing = LP_LOST;
		p->cut = true;
	} else if (p->code >= 100 && p->code < 200) {
		p->framing = LP_HEAD;	/* the final answer follows */
	} else if (p->code == 204 || p->code == 304) {
		p->framing = LP_DONE;
	} else if (p->chunked) {
		p->framing = LP_CHUNKED;
		memset(&p->chunk, 0, sizeof(p->chunk));
	} else if (has_length) {
		p->framing = p->remaining ? LP_LENGTH : LP_DONE;
	} else {
		p->framing = LP_CLOSE;
	}
}

/* Head bytes, into p->head (LLM_HEAD_MAX); returns how many of b were the head's. */
static size_t head(struct llm_parse *p, const char *b, size_t n)
{
	size_t had = p->head_len, from = had > 3 ? had - 3 : 0, take = n, i;

	if (take > LLM_HEAD_MAX - had)
		take = LLM_HEAD_MAX - had;
	memcpy(p->head + had, b, take);
	p->head_len += take;
	for (i = from; i + 3 < p->head_len; i++) {
		if (!memcmp(p->head + i, "\r\n\r\n", 4)) {
			p->head_len = i + 4;
			head_done(p);
			return i + 4 - had;
		}
	}
	if (p->head_len >= LLM_HEAD_MAX) {
		p->framing = LP_LOST;
		p->cut = true;
		return n;
	}
	return take;
}

void llm_parse_response(struct llm_parse *p, const char *b, size_t n, uint64_t ts)
{
	bool ended;
	size_t k;

	p->ts = ts;
	if (!p->head && !(p->head = malloc(LLM_HEAD_MAX))) {
		p->framing = LP_LOST;
		p->cut = true;
	}
	while (n) {
		switch (p->framing) {
		case LP_HEAD:
			k = head(p, b, n);
			break;
		case LP_LENGTH:
			k = n < p->remaining ? n : p->remaining;
			content(p, b, k);
			p->remaining -= k;
			if (!p->remaining && p->framing == LP_LENGTH)
				p->framing = LP_DONE;
			break;
		case LP_CHUNKED:
			if (p->chunk.chunk_state == CH_DATA) {
				/* The chunk's data, then its CRLF. */
				uint64_t data = p->chunk.remaining > 2 ? p->chunk.remaining - 2 : 0;

				k = n < p->chunk.remaining ? n : p->chunk.remaining;
				content(p, b, k < data ? k : data);
				p->chunk.remaining -= k;
				if (!p->chunk.remaining)
					p->chunk.chunk_state = CH_SIZE;
				break;
			}
			k = http_chunk_lines(&p->chunk, b, n < HTTP_CHUNK_LINE ? n : HTTP_CHUNK_LINE,
					     &ended);
			if (ended)
				p->framing = LP_DONE;
			break;
		case LP_CLOSE:
			k = n;
			content(p, b, n);
			break;
		default:
			return;	/* done, or lost: the rest is not read */
		}
		b += k;
		n -= k;
	}
}

void llm_parse_request(struct llm_parse *p, const char *b, size_t n)
{
	size_t room = LLM_REQ_MAX - p->req_len;

	buf_append(&p->req, &p->req_len, &p->req_cap, LLM_REQ_MAX, b, n < room ? n : room);
}

void llm_parse_gap(struct llm_parse *p)
{
	p->cut = true;
	if (p->framing != LP_DONE)
		p->framing = LP_LOST;
}

void llm_parse_finish(struct llm_parse *p)
{
	struct reading r = { .p = p, .model = p->req_model, .request = true };

	if (!p->sse && p->body_len) {
		/* A plain answer's content all came with its body: its first token, then. */
		p->ts = p->body_ts;
		llm_parse_document(p, p->body, p->body_len);
	}
	if (p->req_len)
		json_walk(p->req, p->req_len, visit, &r);
}

void llm_parse_free(struct llm_parse *p)
{
	if (p->z_on)
		inflateEnd(&p->z);
	sse_free(&p->events);
	free(p->head);
	free(p->body);
	free(p->req);
	memset(p, 0, sizeof(*p));
}
