/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Whole-map reads at scrape time: a few batch syscalls instead of one per entry. */
#ifndef AGENTBPF_MAPREAD_H
#define AGENTBPF_MAPREAD_H

#include <stddef.h>
#include <stdint.h>

struct map_read {
	void *keys;
	void *vals;	/* nval values of vsize bytes per entry (nval = CPUs for per-CPU maps) */
	uint32_t n;	/* entries read */
	uint32_t cap;	/* entries the buffers hold */
};

/*
 * Reads every entry of the hash map fd into r (its buffers grow as needed
 * and are kept for the next read). Returns 0, or -errno with r->n entries
 * read before the failure.
 */
int map_read_all(int fd, size_t ksize, size_t vsize, int nval, struct map_read *r);

/* One batch of entries: r->n of them in r's buffers. */
typedef void (*map_batch_fn)(void *ctx, const struct map_read *r);
/*
 * The same, one batch at a time through r's buffers, reused: for maps whose
 * values are large (per-CPU histograms), memory stays at one batch.
 */
int map_read_each(int fd, size_t ksize, size_t vsize, int nval, struct map_read *r,
		  map_batch_fn fn, void *ctx);
void map_read_free(struct map_read *r);

/* out[k] = the sum over the CPUs of key k of a per-CPU array of u64, k < nkeys. */
void map_sum_percpu_u64(int fd, uint32_t nkeys, int ncpu, uint64_t *out);

static inline void *map_read_key(const struct map_read *r, size_t ksize, uint32_t i)
{
	return (char *)r->keys + (size_t)i * ksize;
}

/* Value j (CPU j of a per-CPU map) of entry i. */
static inline void *map_read_val(const struct map_read *r, size_t vsize, int nval, uint32_t i, int j)
{
	return (char *)r->vals + ((size_t)i * nval + j) * vsize;
}

#endif
