/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The HTTP family's scrape-time model, apart from the maps it is read from
 * (user/http.c) so that the unit tests drive it: the kernel's per-CPU
 * series summed, and label sets that the config's route patterns fold
 * into one label value merged into one series; for the agents' own calls,
 * the peers' labels, and the series of peers that come to one label merged.
 */
#ifndef AGENTBPF_HTTPMODEL_H
#define AGENTBPF_HTTPMODEL_H

#include <stdbool.h>
#include <stddef.h>
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

/* The status label's value: success, error, timeout (enum http_status). */
const char *http_status_name(unsigned int status);

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

/* What an agent's calls to one peer label have seen. */
struct http_out_series {
	uint32_t agent;
	uint16_t code;
	int to_agent;		/* the peer is this agent; -1 when it is none */
	const char *peer;	/* label value */
	uint64_t count[HTTP_STATUS_MAX];
	struct http_out_stats sum;	/* all statuses; its count is unused */
};

void http_out_add(struct http_out_series *a, const struct http_out_series *b);
void http_out_add_cpu(struct http_out_series *a, uint8_t status, const struct http_out_stats *v);
/* Sorts by agent, peer and code and merges the series with the same labels. */
uint32_t http_out_merge(struct http_out_series *v, uint32_t n);

/* Is the peer's address one of this host's: loopback, or one of the n in local? */
bool http_peer_is_local(const struct http_peer *p, const uint8_t (*local)[16], int n);
/*
 * The peer label of a peer that is no agent: its Host header, lowercased,
 * with anything but the characters of a host name and port turned into
 * '_'; else its address and port ("10.0.0.7:8080", "[::1]:8080").
 */
void http_peer_label(const struct http_peer *p, char *out, size_t len);

#endif
