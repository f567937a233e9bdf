/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A JSON walker for the LLM APIs' bodies and stream events: it visits each
 * value with the keys that lead to it, without building anything. It
 * tolerates a document cut short (a stream cut mid-way, a capped body):
 * what came before the cut is visited. Strings are handed over raw, with
 * their escapes.
 */
#ifndef AGENTBPF_JSONSCAN_H
#define AGENTBPF_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH	16

enum json_type { JSON_STRING, JSON_NUMBER, JSON_TRUE, JSON_FALSE, JSON_NULL, JSON_OBJECT,
		 JSON_ARRAY };

struct json_str {
	const char *p;
	size_t n;
};

/*
 * One value: path[0..depth) are the keys that lead to it (an array's
 * elements have the key ""); at depth 0 it is the document itself. An
 * object or array is visited at its start, with v empty, then its members.
 */
typedef void (*json_visit_fn)(void *ctx, const struct json_str *path, int depth,
			      enum json_type type, struct json_str v);

/*
 * Walks buf[0..len). Returns 0 for one whole document, 1 when it was cut
 * short, -1 when malformed or deeper than JSON_MAX_DEPTH (the values
 * before that point were visited).
 */
int json_walk(const char *buf, size_t len, json_visit_fn visit, void *ctx);

/* Is s the key k? */
bool json_is(struct json_str s, const char *k);
/* s as a whole number >= 0, or -1. */
long long json_count(struct json_str s);

#endif
