/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Loader and scrape-time reader of the HTTP request probes (bpf/http.bpf.c). */
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

struct http_tracker {
	struct http_bpf *skel;
	int hook;			/* enum sock_hook its programs use */
	const struct config *cfg;
	struct trace_out trace;
	int ncpu;
	struct map_read batch;	/* batch lookup buffers, kept between scrapes */
	struct route_name *routes;	/* (agent, route id) -> route, filled as ids appear */
	uint32_t routes_mask;
	uint32_t nroutes;		/* slots of routes in use */
	uint32_t stats_entries;		/* label sets in http_stats at the last scrape */
};

/*
 * Loads and attaches; shares the lifecycle family's agent_pids map. With
 * trace.f set, finished requests are printed through rb (the lifecycle
 * family's ring buffer manager, so one poll serves both).
 */
int http_tracker_open(struct http_tracker *t, const struct config *cfg,
		      const struct proc_tracker *proc,
		      struct ring_buffer *rb, struct trace_out trace, const char *btf_path,
		      char *err, size_t errlen);
void http_tracker_render(struct http_tracker *t, struct expo *e);
void http_tracker_drops(struct http_tracker *t, uint64_t out[HTTP_DROP_MAX]);
/* agentbpf_bpf_map_entries/_capacity samples for the HTTP maps. */
void http_tracker_render_maps(struct http_tracker *t, struct expo *e, bool capacity);
const char *http_drop_name(enum http_drop_reason r);
struct bpf_object *http_tracker_object(struct http_tracker *t);
/* The sock_next program array (enum http_next), or -1 when HTTP is off. */
int http_tracker_next_fd(struct http_tracker *t);
/* Requests start when their bytes reach the socket (sk_data_ready), not at their read. */
bool http_tracker_starts_at_arrival(struct http_tracker *t);
void http_tracker_close(struct http_tracker *t);

#endif
