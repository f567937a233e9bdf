// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * AFL++ target: the daemon's LLM call readers (user/llmparse.c, sse.c,
 * jsonscan.c) on an answer as it comes off the wire. The input's first byte
 * cuts the rest in two reads; fed whole or in two, the answer must read the
 * same (framing, status, model, tokens, content, errors). The same bytes
 * are also a request body and a JSON document walked on their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonscan.c"
#include "sse.c"
#include "llmparse.c"
#include "util.c"

#define assert_true(c) do { if (!(c)) abort(); } while (0)

static void count(void *ctx, const struct json_str *path, int depth, enum json_type type,
		  struct json_str v)
{
	assert_true(depth >= 0 && depth <= JSON_MAX_DEPTH);
	(*(int *)ctx)++;
}

static void read_answer(struct llm_parse *p, const char *b, size_t len, size_t cut)
{
	llm_parse_init(p);
	llm_parse_request(p, b, len);
	llm_parse_response(p, b, cut, 1);
	llm_parse_response(p, b + cut, len - cut, 1);
	llm_parse_finish(p);
}

int main(void)
{
	static char in[1 << 16];
	size_t len = fread(in, 1, sizeof(in), stdin), cut;
	struct llm_parse whole, split;
	int k, visited = 0;

	if (len < 1)
		return 0;
	cut = (unsigned char)in[0] * (len - 1) / 256;
	read_answer(&whole, in + 1, len - 1, len - 1);
	read_answer(&split, in + 1, len - 1, cut);
	assert_true(whole.framing == split.framing && whole.code == split.code);
	assert_true(!strcmp(whole.model, split.model) && !strcmp(whole.req_model, split.req_model));
	assert_true(whole.content_events == split.content_events && whole.error == split.error);
	for (k = 0; k < LLM_TOK_MAX; k++)
		assert_true(whole.tokens[k] == split.tokens[k]);
	assert_true(strlen(whole.model) < LLM_MODEL_LEN);
	llm_parse_free(&whole);
	llm_parse_free(&split);
	json_walk(in + 1, len - 1, count, &visited);
	return 0;
}
