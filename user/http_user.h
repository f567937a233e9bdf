/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Loader and scrape-time reader of the HTTP request probes (bpf/http.bpf.c),
 * the family http_family (family.h).
 */
#ifndef AGENTBPF_HTTP_USER_H
#define AGENTBPF_HTTP_USER_H

#include "config.h"
#include "expo.h"
#include "http.h"
#include "mapread.h"
#include "trace.h"

struct http_bpf;
struct ring_buffer;
struct proc_tracker;

struct route_name;
struct peer_name;
struct sock_dispatch;

struct http_tracker {
	struct http_bpf *skel;
	struct sock_dispatch *dispatch;	/* its programs run the next family's */
	const struct config *cfg;
	struct trace_out trace;
	int ncpu;
	struct map_read batch;	/* batch lookup buffers, kept between scrapes */
	struct route_name *routes;	/* (agent, route id) -> route, filled as ids appear */
	uint32_t routes_mask;
	uint32_t nroutes;		/* slots of routes in use */
	uint32_t stats_entries;		/* label sets in http_stats at the last scrape */
	/* The agents' own calls. */
	struct map_read out_batch;
	struct peer_name *peers;	/* peer id -> what the kernel kept, filled as ids appear */
	uint32_t peers_mask;
	uint32_t out_entries;		/* label sets in http_out_stats at the last scrape */
};

#endif
