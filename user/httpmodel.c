// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "httpmodel.h"

static void stats_add(struct http_stats *a, const struct http_stats *b)
{
	int i;

	a->duration_ns += b->duration_ns;
	a->req_bytes += b->req_bytes;
	a->resp_bytes += b->resp_bytes;
	for (i = 0; i <= HTTP_MAX_BUCKETS; i++)
		a->duration_buckets[i] += b->duration_buckets[i];
	for (i = 0; i <= HTTP_SIZE_BUCKETS; i++) {
		a->req_size_buckets[i] += b->req_size_buckets[i];
		a->resp_size_buckets[i] += b->resp_size_buckets[i];
	}
}

void http_series_add(struct http_series *a, const struct http_series *b)
{
	int i;

	for (i = 0; i < HTTP_STATUS_MAX; i++)
		a->count[i] += b->count[i];
	stats_add(&a->sum, &b->sum);
}

void http_series_add_cpu(struct http_series *a, uint8_t status, const struct http_stats *v)
{
	a->count[status % HTTP_STATUS_MAX] += v->count;
	stats_add(&a->sum, v);
}

static int cmp_series(const void *pa, const void *pb)
{
	const struct http_series *a = pa, *b = pb;

	if (a->agent != b->agent)
		return a->agent < b->agent ? -1 : 1;
	if (a->method != b->method)
		return a->method - b->method;
	if (a->code != b->code)
		return a->code - b->code;
	if (a->route != b->route)
		return strcmp(a->route ? a->route : "", b->route ? b->route : "");
	return 0;
}

uint32_t http_series_merge(struct http_series *v, uint32_t n)
{
	uint32_t i, w;

	qsort(v, n, sizeof(*v), cmp_series);
	for (i = 0, w = 0; i < n; i++) {
		if (w && !cmp_series(&v[w - 1], &v[i]))
			http_series_add(&v[w - 1], &v[i]);
		else
			v[w++] = v[i];
	}
	return w;
}
