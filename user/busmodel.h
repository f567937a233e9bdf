/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The message-bus family's scrape-time model, apart from the maps it is
 * read from (user/bus.c) so that the unit tests drive it: queue names as
 * label values, who produces and consumes each queue, the message series
 * that never go back, and the agent a queue's depth is shown for.
 */
#ifndef AGENTBPF_BUSMODEL_H
#define AGENTBPF_BUSMODEL_H

#include <stdint.h>
#include "bus.h"
#include "config.h"

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

/* One message_bus_messages_total series, kept so it never goes back. */
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

/* The flows of one scrape as the batch read left them: keys, and ncpu counts each. */
struct bus_flows {
	const struct bus_flow_key *keys;
	const uint64_t *vals;	/* vals[i * ncpu + cpu] */
	uint32_t n;
	int ncpu;
};

struct bus_model {
	const struct config *cfg;
	struct bus_queue_info *qinfo;	/* this scrape's queues, by id */
	uint32_t nqinfo;
	struct bus_seen *seen;
	uint32_t nseen, seen_cap;
	struct bus_series *series;
	uint32_t nseries, series_cap;
	struct bus_owner *owners;	/* by queue id */
	uint32_t nowners, owners_cap;
};

/* "list", "stream", "pubsub", "nats": the message_type of an unconfigured queue. */
const char *bus_family_name(unsigned int family);
/*
 * A key as a label value into out (BUS_QUEUE_LEN * 4 + 1 bytes): bytes that
 * would vanish or merge in a label (NUL and other control bytes) are written
 * as \xNN, so two keys stay two.
 */
void bus_queue_label(char *out, const char *name, unsigned int len);
/* Call once qinfo holds this scrape's queues: sorts them for bus_model_queue(). */
void bus_model_queues_read(struct bus_model *m);
struct bus_queue_info *bus_model_queue(struct bus_model *m, uint32_t id);
/*
 * Each queue's producer and consumer from this scrape's flows: the agent
 * that put the most messages on it, the one that took the most off it.
 */
void bus_model_learn(struct bus_model *m, const struct bus_flows *f);
/* Messages consumed since the last scrape, added to their from/to/type series. */
void bus_model_consumed(struct bus_model *m, const struct bus_flows *f);
/*
 * The agent a queue's depth is shown for: the configured consumer, else the
 * first consumer seen, kept from then on (competing consumers must not make
 * the series flap between them); until a consumer shows up, the producer or
 * the agent that asked the length. -1: none.
 */
int bus_model_owner(struct bus_model *m, const struct bus_queue_info *q);
void bus_model_free(struct bus_model *m);

#endif
