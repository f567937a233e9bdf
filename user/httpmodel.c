// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "httpmodel.h"

const char *http_status_name(unsigned int status)
{
	static const char *const names[HTTP_STATUS_MAX] = {
		[HTTP_SUCCESS] = "success",
		[HTTP_ERROR] = "error",
		[HTTP_TIMEOUT] = "timeout",
	};

	return names[status % HTTP_STATUS_MAX];
}

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

/* Sorts n elements of size bytes and adds each to the one before it that cmp finds equal. */
static uint32_t merge_sorted(void *v, uint32_t n, size_t size,
			     int (*cmp)(const void *, const void *),
			     void (*add)(void *, const void *))
{
	char *b = v;
	uint32_t i, w;

	qsort(v, n, size, cmp);
	for (i = 0, w = 0; i < n; i++) {
		if (w && !cmp(b + (w - 1) * size, b + i * size))
			add(b + (w - 1) * size, b + i * size);
		else if (w++ != i)
			memcpy(b + (w - 1) * size, b + i * size, size);
	}
	return w;
}

static void series_add(void *a, const void *b)
{
	http_series_add(a, b);
}

uint32_t http_series_merge(struct http_series *v, uint32_t n)
{
	return merge_sorted(v, n, sizeof(*v), cmp_series, series_add);
}

void http_out_add(struct http_out_series *a, const struct http_out_series *b)
{
	int i;

	for (i = 0; i < HTTP_STATUS_MAX; i++)
		a->count[i] += b->count[i];
	http_out_add_cpu(a, HTTP_STATUS_MAX, &b->sum);
}

/* status HTTP_STATUS_MAX: the sums only (a merged series' count is by status). */
void http_out_add_cpu(struct http_out_series *a, uint8_t status, const struct http_out_stats *v)
{
	struct http_out_stats *s = &a->sum;
	int i;

	if (status != HTTP_STATUS_MAX)
		a->count[status % HTTP_STATUS_MAX] += v->count;
	s->duration_ns += v->duration_ns;
	s->ttfb_ns += v->ttfb_ns;
	s->ttfb_count += v->ttfb_count;
	s->req_bytes += v->req_bytes;
	s->resp_bytes += v->resp_bytes;
	for (i = 0; i <= HTTP_MAX_BUCKETS; i++) {
		s->duration_buckets[i] += v->duration_buckets[i];
		s->ttfb_buckets[i] += v->ttfb_buckets[i];
	}
	for (i = 0; i <= HTTP_SIZE_BUCKETS; i++) {
		s->req_size_buckets[i] += v->req_size_buckets[i];
		s->resp_size_buckets[i] += v->resp_size_buckets[i];
	}
}

static int cmp_out(const void *pa, const void *pb)
{
	const struct http_out_series *a = pa, *b = pb;
	int c;

	if (a->agent != b->agent)
		return a->agent < b->agent ? -1 : 1;
	c = strcmp(a->peer, b->peer);
	if (c)
		return c;
	return a->code - b->code;
}

static void out_add(void *a, const void *b)
{
	http_out_add(a, b);
}

uint32_t http_out_merge(struct http_out_series *v, uint32_t n)
{
	return merge_sorted(v, n, sizeof(*v), cmp_out, out_add);
}

bool http_peer_is_local(const struct http_peer *p, const uint8_t (*local)[16], int n)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t loop6[16] = { [15] = 1 };
	bool v4 = p->family != AF_INET6 || !memcmp(p->addr, v4mapped, sizeof(v4mapped));
	uint8_t a[16] = { 0 };
	int i;

	/* IPv4 in the first 4 bytes, also when a dual-stack socket mapped it. */
	if (v4)
		memcpy(a, p->family == AF_INET6 ? p->addr + 12 : p->addr, 4);
	else
		memcpy(a, p->addr, 16);
	if ((v4 && a[0] == 127) || (!v4 && !memcmp(a, loop6, 16)))
		return true;
	for (i = 0; i < n; i++) {
		if (!memcmp(local[i], a, 16))
			return true;
	}
	return false;
}

void http_peer_label(const struct http_peer *p, char *out, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	size_t i, n;

	if (!len)
		return;
	if (p->host[0]) {
		n = strnlen(p->host, sizeof(p->host));
		for (i = 0; i < n && i + 1 < len; i++) {
			unsigned char ch = p->host[i];

			if (ch >= 'A' && ch <= 'Z')
				ch |= 0x20;
			out[i] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
				 ch == '-' || ch == ':' || ch == '[' || ch == ']' ? ch : '_';
		}
		out[i] = '\0';
		return;
	}
	if (p->family == AF_INET6) {
		inet_ntop(AF_INET6, p->addr, addr, sizeof(addr));
		snprintf(out, len, "[%s]:%u", addr, p->port);
	} else {
		inet_ntop(AF_INET, p->addr, addr, sizeof(addr));
		snprintf(out, len, "%s:%u", addr, p->port);
	}
}
