/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Message-bus traffic of agents, read from their own client connections to
 * Redis (RESP2/RESP3) and NATS: shared between bpf/bus.bpf.c and
 * user/bus.c. The kernel pairs commands with replies, counts messages
 * produced and delivered per (agent, queue), keeps each queue's depth, the
 * cache hits and misses and the consumers' processing times; userspace reads
 * the maps at scrape time.
 */
#ifndef AGENTBPF_BUS_H
#define AGENTBPF_BUS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define BUS_MAX_PORTS		8	/* server ports that mark a bus connection */
#define BUS_MAX_BUCKETS		32	/* processing-time bounds, from the config */
#define BUS_QUEUE_LEN		64	/* bytes of a key or subject kept as its name */

/* Queue ids with a meaning of their own; others are hashes of the name. */
#define BUS_QUEUE_NONE		0
#define BUS_QUEUE_OTHER		1	/* max_queues reached */

enum bus_family {
	BUS_LIST,	/* Redis lists: LPUSH/RPUSH ... LPOP/RPOP/BLPOP/BRPOP/LMOVE ... */
	BUS_STREAM,	/* Redis streams: XADD, XREAD/XREADGROUP, XACK */
	BUS_PUBSUB,	/* Redis PUBLISH and SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE deliveries */
	BUS_NATS,	/* NATS PUB/HPUB and MSG/HMSG */
	BUS_FAMILY_MAX,
};

enum bus_flow {
	BUS_PRODUCED,	/* messages the agent put on the queue */
	BUS_CONSUMED,	/* messages delivered to the agent from the queue */
	BUS_ACKED,	/* stream entries the agent acknowledged */
	BUS_FLOW_MAX,
};

/* Per-CPU counter of one (agent, queue, family, flow). */
struct bus_flow_key {
	__u32 agent;
	__u32 queue;
	__u8 family;	/* enum bus_family */
	__u8 flow;	/* enum bus_flow */
	__u16 pad;
};

struct bus_queue {
	char name[BUS_QUEUE_LEN];	/* name_len bytes, not NUL-terminated when full */
	__s64 depth;		/* last exact value, moved by the pops/adds/acks since */
	__u32 observer;		/* agent whose reply last set depth */
	__u8 families;		/* 1 << enum bus_family for each family that used the name */
	__u8 depth_set;		/* depth was set from a reply at least once */
	__u8 name_len;
	__u8 pad;
};

/* Per-CPU, per agent. */
struct bus_agent_stats {
	__u64 cache_hits;
	__u64 cache_misses;
	__u64 proc_count;
	__u64 proc_ns;
	__u64 proc_buckets[BUS_MAX_BUCKETS + 1];	/* last: above every bound */
};

enum bus_drop_reason {
	BUS_DROP_DESYNC,	/* a connection's protocol could not be followed */
	BUS_DROP_PIPELINE_FULL,	/* more distinct commands in flight than tracked */
	BUS_DROP_QUEUES_FULL,	/* bus_flows has no room for a new (agent, queue) */
	BUS_DROP_RINGBUF_FULL,	/* trace events */
	BUS_DROP_MAX,
};

enum bus_event_kind {
	BUS_EV_PRODUCE,
	BUS_EV_CONSUME,
	BUS_EV_ACK,
	BUS_EV_DEPTH,
	BUS_EV_CACHE,
};

/* One bus event, sent only while `agentbpf trace` runs. */
struct bus_event {
	__u64 ts_ns;
	__s64 value;		/* messages, depth, or hits */
	__s64 value2;		/* misses for BUS_EV_CACHE */
	__u32 pid;
	__u32 agent;
	__u8 kind;		/* enum bus_event_kind */
	__u8 family;
	__u8 pad[6];
	char queue[BUS_QUEUE_LEN];
};

#endif /* AGENTBPF_BUS_H */
