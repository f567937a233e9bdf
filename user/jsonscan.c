// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "jsonscan.h"

struct walker {
	const char *b;
	size_t n, i;
	json_visit_fn visit;
	void *ctx;
	struct json_str path[JSON_MAX_DEPTH];
};

/* Results of the steps: as json_walk()'s. */
#define J_OK	0
#define J_CUT	1
#define J_BAD	-1

static void skip_blanks(struct walker *w)
{
	while (w->i < w->n && (w->b[w->i] == ' ' || w->b[w->i] == '\t' || w->b[w->i] == '\n' ||
			       w->b[w->i] == '\r'))
		w->i++;
}

/* At a '"': the string's raw bytes into *out. */
static int string(struct walker *w, struct json_str *out)
{
	size_t start = ++w->i;

	while (w->i < w->n) {
		unsigned char c = w->b[w->i];

		if (c == '\\') {
			w->i += 2;
			continue;
		}
		if (c == '"') {
			*out = (struct json_str){ w->b + start, w->i - start };
			w->i++;
			return J_OK;
		}
		if (c < 0x20)
			return J_BAD;
		w->i++;
	}
	w->i = w->n;
	return J_CUT;
}

static int literal(struct walker *w, const char *word, enum json_type type, int depth)
{
	size_t len = strlen(word), have = w->n - w->i;

	if (have < len)
		return memcmp(w->b + w->i, word, have) ? J_BAD : J_CUT;
	if (memcmp(w->b + w->i, word, len))
		return J_BAD;
	w->visit(w->ctx, w->path, depth, type, (struct json_str){ w->b + w->i, len });
	w->i += len;
	return J_OK;
}

static int number(struct walker *w, int depth)
{
	size_t start = w->i;

	while (w->i < w->n && strchr("+-0123456789.eE", w->b[w->i]))
		w->i++;
	/* Digits up to the end may be the first of more: not a value yet. */
	if (w->i == w->n && depth)
		return J_CUT;
	w->visit(w->ctx, w->path, depth, JSON_NUMBER, (struct json_str){ w->b + start,
									 w->i - start });
	return J_OK;
}

static int value(struct walker *w, int depth);

/* At '{' or '[': the members, each visited under its key ("" in an array). */
static int container(struct walker *w, int depth, bool object)
{
	struct json_str key = { "", 0 };
	char close = object ? '}' : ']';
	int r, n;

	w->visit(w->ctx, w->path, depth, object ? JSON_OBJECT : JSON_ARRAY,
		 (struct json_str){ w->b + w->i, 0 });
	if (depth >= JSON_MAX_DEPTH)
		return J_BAD;
	w->i++;
	for (n = 0;; n++) {
		skip_blanks(w);
		if (w->i >= w->n)
			return J_CUT;
		if (w->b[w->i] == close) {
			w->i++;
			return J_OK;
		}
		/* A member after the first comes after a comma. */
		if (n) {
			if (w->b[w->i] != ',')
				return J_BAD;
			w->i++;
			skip_blanks(w);
			if (w->i >= w->n)
				return J_CUT;
		}
		if (object) {
			if (w->b[w->i] != '"')
				return J_BAD;
			if ((r = string(w, &key)))
				return r;
			skip_blanks(w);
			if (w->i >= w->n)
				return J_CUT;
			if (w->b[w->i] != ':')
				return J_BAD;
			w->i++;
		}
		w->path[depth] = key;
		if ((r = value(w, depth + 1)))
			return r;
	}
}

static int value(struct walker *w, int depth)
{
	struct json_str s;
	int r;

	skip_blanks(w);
	if (w->i >= w->n)
		return J_CUT;
	switch (w->b[w->i]) {
	case '{':
		return container(w, depth, true);
	case '[':
		return container(w, depth, false);
	case '"':
		if ((r = string(w, &s)))
			return r;
		w->visit(w->ctx, w->path, depth, JSON_STRING, s);
		return J_OK;
	case 't':
		return literal(w, "true", JSON_TRUE, depth);
	case 'f':
		return literal(w, "false", JSON_FALSE, depth);
	case 'n':
		return literal(w, "null", JSON_NULL, depth);
	default:
		if (w->b[w->i] == '-' || (w->b[w->i] >= '0' && w->b[w->i] <= '9'))
			return number(w, depth);
		return J_BAD;
	}
}

int json_walk(const char *buf, size_t len, json_visit_fn visit, void *ctx)
{
	struct walker w = { .b = buf, .n = len, .visit = visit, .ctx = ctx };
	int r = value(&w, 0);

	if (r)
		return r;
	skip_blanks(&w);
	return w.i < w.n ? J_BAD : J_OK;
}

bool json_is(struct json_str s, const char *k)
{
	return s.n == strlen(k) && !memcmp(s.p, k, s.n);
}

long long json_count(struct json_str s)
{
	long long v = 0;
	size_t i;

	if (!s.n || s.n > 18)
		return -1;
	for (i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	return v;
}
