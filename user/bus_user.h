/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Loader and scrape-time reader of the message-bus probes (bpf/bus.bpf.c). */
#ifndef AGENTBPF_BUS_USER_H
#define AGENTBPF_BUS_USER_H

#include "bus.h"
#include "config.h"
#include "expo.h"
#include "mapread.h"
#include "trace.h"

struct bus_bpf;
struct ring_buffer;
struct proc_tracker;

/* A queue the kernel registered: its name and what the config says of it. */
struct bus_queue_info {
	uint32_t id;
	char name[BUS_QUEUE_LEN * 4 + 1];	/* control bytes written as \xNN */
	uint8_t families;		/* 1 << enum bus_family */
	int64_t depth;
	const struct queue_conf *conf;
	int producer;		/* agent with the most messages produced, -1 none */
	int consumer;		/* agent that consumed the most from it, -1 none */
	int observer;		/* agent whose reply last told its depth, -1 none */
};

/* Consumed messages of one (agent, queue, family) at the previous scrape. */
struct bus_seen {
	struct bus_flow_key key;
	uint32_t used;		/* a slot of the open-addressed table */
	uint64_t consumed;
};

/* One message_bus_messages_total series, kept by the daemon so it never goes back. */
struct bus_series {
	int from;		/* agent index, -1: not known */
	int to;
	const char *type;	/* config type or family name */
	uint64_t count;
};

/* The agent_type a queue's depth was first shown with: a series keeps its labels. */
struct bus_owner {
	uint32_t queue;
	int agent;
};

struct bus_tracker {
	struct bus_bpf *skel;
	const struct config *cfg;
	struct trace_out trace;
	int ncpu;
	struct map_read flows, queues;
	struct bus_queue_info *qinfo;
	uint32_t nqinfo;
	struct bus_seen *seen;
	uint32_t nseen, seen_cap;
	struct bus_series *series;
	uint32_t nseries, series_cap;
	struct bus_owner *owners;
	uint32_t nowners, owners_cap;
};

/*
 * Loads the message-bus programs. With next_fd (the HTTP family's sock_next
 * program array, see enum http_next) they run by tail call from the HTTP
 * programs; with -1 they are attached to the tracepoints themselves.
 */
int bus_tracker_open(struct bus_tracker *t, const struct config *cfg,
		     const struct proc_tracker *proc, int next_fd, struct ring_buffer *rb,
		     struct trace_out trace, const char *btf_path, char *err, size_t errlen);
void bus_tracker_render(struct bus_tracker *t, struct expo *e);
void bus_tracker_drops(struct bus_tracker *t, uint64_t out[BUS_DROP_MAX]);
void bus_tracker_render_maps(struct bus_tracker *t, struct expo *e, bool capacity);
const char *bus_drop_name(enum bus_drop_reason r);
struct bpf_object *bus_tracker_object(struct bus_tracker *t);
void bus_tracker_close(struct bus_tracker *t);

#endif
