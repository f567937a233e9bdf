// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "mapread.h"

#define MAP_READ_FIRST	128	/* entries of the first buffers */

static int grow(struct map_read *r, size_t ksize, size_t vsize, int nval, uint32_t cap)
{
	void *k = realloc(r->keys, (size_t)cap * ksize);

	if (!k)
		return -ENOMEM;
	r->keys = k;
	k = realloc(r->vals, (size_t)cap * nval * vsize);
	if (!k)
		return -ENOMEM;
	r->vals = k;
	r->cap = cap;
	return 0;
}

/* Batch lookups from the start: appended into r, or handed to fn a batch at a time. */
static int read_batches(int fd, size_t ksize, size_t vsize, int nval, struct map_read *r,
			map_batch_fn fn, void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	char in[64], next[64];	/* batch cursors: keys up to 64 bytes */
	bool first = true, last;
	uint32_t n;
	int ret;

	r->n = 0;
	if (ksize > sizeof(in))
		return -EINVAL;
	if (!r->cap && (ret = grow(r, ksize, vsize, nval, MAP_READ_FIRST)))
		return ret;
	for (;;) {
		if (fn)
			r->n = 0;
		else if (r->cap - r->n < MAP_READ_FIRST &&
			 (ret = grow(r, ksize, vsize, nval, r->cap * 2)))
			return ret;
		n = r->cap - r->n;
		ret = bpf_map_lookup_batch(fd, first ? NULL : in, next,
					   (char *)r->keys + (size_t)r->n * ksize,
					   (char *)r->vals + (size_t)r->n * nval * vsize, &n, &opts);
		if (ret && errno != ENOENT)
			return -errno;
		last = ret != 0;	/* ENOENT: this is the last batch */
		r->n += n;
		if (fn && n)
			fn(ctx, r);
		if (last)
			return 0;
		memcpy(in, next, ksize);
		first = false;
	}
}

int map_read_all(int fd, size_t ksize, size_t vsize, int nval, struct map_read *r)
{
	return read_batches(fd, ksize, vsize, nval, r, NULL, NULL);
}

int map_read_each(int fd, size_t ksize, size_t vsize, int nval, struct map_read *r,
		  map_batch_fn fn, void *ctx)
{
	return read_batches(fd, ksize, vsize, nval, r, fn, ctx);
}

void map_sum_percpu_u64(int fd, uint32_t nkeys, int ncpu, uint64_t *out)
{
	uint64_t vals[ncpu];
	uint32_t k;
	int c;

	memset(out, 0, sizeof(*out) * nkeys);
	for (k = 0; fd >= 0 && k < nkeys; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
}

void map_read_free(struct map_read *r)
{
	free(r->keys);
	free(r->vals);
	memset(r, 0, sizeof(*r));
}
