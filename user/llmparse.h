/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One LLM API call read from its bytes (user/llm.c hands them over): the
 * response's HTTP framing (Content-Length, chunked, gzip), then its body
 * as one JSON document or a stream of server-sent events, each read for
 * the model, the token usage, content deltas and errors. The shapes known:
 * OpenAI chat completions and responses (plain and streamed), Anthropic
 * messages (plain and streamed), Gemini's generateContent; the keys are
 * looked for wherever they appear, so a compatible server's answers read
 * the same. The request's body is read for its model only, for answers
 * that name none (errors). Nothing read is kept past the call but the
 * model's name and the counts.
 */
#ifndef AGENTBPF_LLMPARSE_H
#define AGENTBPF_LLMPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#include "sse.h"
#include "l7/http1.h"

#define LLM_MODEL_LEN	64
#define LLM_HEAD_MAX	8192		/* a response head's bytes */
#define LLM_BODY_MAX	(256 << 10)	/* a plain (not streamed) answer's, decoded */
#define LLM_REQ_MAX	(64 << 10)	/* of a request body, looked at for its model */

enum llm_token_kind { LLM_TOK_INPUT, LLM_TOK_OUTPUT, LLM_TOK_CACHE_READ, LLM_TOK_CACHE_WRITE,
		      LLM_TOK_MAX };

extern const char *const llm_token_kinds[LLM_TOK_MAX];

enum llm_framing { LP_HEAD, LP_LENGTH, LP_CHUNKED, LP_CLOSE, LP_DONE, LP_LOST };

struct llm_parse {
	/* The response's framing. */
	uint8_t framing;		/* enum llm_framing */
	uint16_t code;
	bool chunked, sse, gzip, unknown_encoding;
	char *head;
	size_t head_len;
	uint64_t remaining;		/* LP_LENGTH: body bytes to come */
	struct http_body chunk;		/* LP_CHUNKED: l7/http1.h's state */
	z_stream z;
	bool z_on;
	struct sse events;
	char *body;			/* a plain answer, decoded */
	size_t body_len, body_cap;
	uint64_t body_ts;		/* its first bytes came */
	char *req;			/* the request body's first LLM_REQ_MAX bytes */
	size_t req_len, req_cap;
	uint64_t ts;			/* of the bytes being fed */
	/* What was read. */
	char model[LLM_MODEL_LEN];	/* as the answer names it; "" if not */
	char req_model[LLM_MODEL_LEN];	/* as the request asked */
	long long tokens[LLM_TOK_MAX];	/* the latest usage figures; -1: none */
	uint64_t content_events;	/* documents with content (stream chunks) */
	uint64_t first_token_ns;	/* ts of the first content, 0 if none */
	bool error;			/* the answer was an error, or a stream said one */
	bool cut;			/* bytes were missing, or could not be read */
};

void llm_parse_init(struct llm_parse *p);
/* Bytes of the request's body. */
void llm_parse_request(struct llm_parse *p, const char *b, size_t n);
/* Bytes of the response, head first, that came at ts (CLOCK_BOOTTIME ns). */
void llm_parse_response(struct llm_parse *p, const char *b, size_t n, uint64_t ts);
/* Bytes went missing: nothing after them is read. */
void llm_parse_gap(struct llm_parse *p);
/* The call ended: a plain answer and the request are read now. */
void llm_parse_finish(struct llm_parse *p);
void llm_parse_free(struct llm_parse *p);

/* One JSON document of the answer (an event's data or a whole body), as read. */
void llm_parse_document(struct llm_parse *p, const char *json, size_t len);

#endif
