/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The HTTP family's scrape-time model, apart from the maps it is read from
 * (user/http.c) so that the unit tests drive it: the kernel's per-CPU
 * series summed, and label sets that the config's route patterns fold
 * into one label value merged into one series.
 */
#ifndef AGENTBPF_HTTPMODEL_H
#define AGENTBPF_HTTPMODEL_H

#include <stdint.h>
#include "http.h"

/* What one label set has seen: by status, and its histograms. */
struct http_series {
	uint32_t agent;
	uint16_t code;
	uint8_t method;
	const char *route;	/* label value; NULL when routes are not labelled */
	uint64_t count[HTTP_STATUS_MAX];
	struct http_stats sum;	/* all statuses; its count is unused */
};

/* b's counts and sums into a. */
void http_series_add(struct http_series *a, const struct http_series *b);
/* One CPU's value of a kernel series, whose key carries the status. */
void http_series_add_cpu(struct http_series *a, uint8_t status, const struct http_stats *v);
/*
 * Sorts the n series by agent, method, code and route label, and merges
 * those with the same labels (route patterns map several routes to one
 * label value). Returns how many remain, at the front of v.
 */
uint32_t http_series_merge(struct http_series *v, uint32_t n);

#endif
