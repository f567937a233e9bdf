/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x requests that agents receive, and the calls they make, measured
 * in the kernel: shared between bpf/http.bpf.c and user/http.c. The kernel
 * frames requests and responses on each connection (Content-Length,
 * chunked, no-body statuses, pipelining), times each request and buckets it
 * in per-CPU maps; userspace only reads the maps at scrape time.
 */
#ifndef AGENTBPF_HTTP_H
#define AGENTBPF_HTTP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define HTTP_MAX_BUCKETS	32	/* latency bounds, from the config */
#define HTTP_SIZE_BUCKETS	10	/* fixed size bounds, see http_size_bounds */
#define HTTP_PIPELINE		16	/* requests queued on one connection */
#define HTTP_CARRY		256	/* a message head split across reads */
#define HTTP_SCRATCH		1024	/* bytes of one read parsed at a time */
#define HTTP_PATH_LEN		64
#define HTTP_ROUTE_LEN		64
#define HTTP_OTHER_PORTS	8	/* remote ports left to other families (the bus's) */
#define HTTP_HOST_LEN		64	/* a Host header's value kept for a peer's label */

/*
 * Slots of the HTTP object's sock_next program array: the message-bus
 * family's programs for the same two tracepoints. The HTTP programs are the
 * ones attached and hand connections to the bus ports over by a tail call,
 * so a socket call on the host runs one program, not one per family.
 */
enum http_next {
	HTTP_NEXT_RECV,
	HTTP_NEXT_SEND,
	HTTP_NEXT_MAX,
};

/* Route ids with a meaning of their own; others are hashes of the route. */
#define HTTP_ROUTE_NONE		0	/* route label not asked for */
#define HTTP_ROUTE_OTHER	1	/* the agent already has max_routes routes */

enum http_status {
	HTTP_SUCCESS,
	HTTP_ERROR,	/* 5xx, or the server closed without a full response */
	HTTP_TIMEOUT,	/* 408/504, or the client went away before any response */
	HTTP_STATUS_MAX,
};

enum http_method {
	HTTP_M_OTHER,
	HTTP_M_GET,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_HEAD,
	HTTP_M_PATCH,
	HTTP_M_OPTIONS,
	HTTP_M_CONNECT,
	HTTP_M_TRACE,
	HTTP_M_MAX,
};

/* Peer ids with a meaning of their own; others are keys of http_peers. */
#define HTTP_PEER_NONE		0	/* a request the agent received */
#define HTTP_PEER_OTHER		1	/* past max_peers */

/* Upper bounds of the request/response size histograms, bytes. */
#define HTTP_SIZE_BOUNDS { 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, \
			   4194304, 16777216 }

/* Request label set of one series; fields not asked for by the config are 0. */
struct http_key {
	__u32 agent;
	__u16 code;
	__u8 status;		/* enum http_status */
	__u8 method;		/* enum http_method */
	__u32 route;		/* HTTP_ROUTE_* or a key of http_routes */
	__u32 pad;
};

/* Route id -> the route: the path without query, ids collapsed to {id}. */
struct http_route_key {
	__u32 agent;
	__u32 id;
};

struct http_route {
	char route[HTTP_ROUTE_LEN];
};

/* Per-CPU value of one series. */
struct http_stats {
	__u64 count;
	__u64 duration_ns;
	__u64 req_bytes;
	__u64 resp_bytes;
	__u64 duration_buckets[HTTP_MAX_BUCKETS + 1];	/* last: above every bound */
	__u64 req_size_buckets[HTTP_SIZE_BUCKETS + 1];
	__u64 resp_size_buckets[HTTP_SIZE_BUCKETS + 1];
};

/* Label set of an outbound call's series: an agent's call to a peer. */
struct http_out_key {
	__u32 agent;
	__u32 peer;		/* HTTP_PEER_OTHER or a key of http_peers */
	__u16 code;		/* with request_labels code, else 0 */
	__u8 status;		/* enum http_status */
	__u8 pad;
	__u32 pad2;
};

/*
 * Whom a client connection called, as its first request showed: the
 * address it connected to and the Host header it sent. The peer's id is a
 * hash of the host, or of the address when the request had none.
 */
struct http_peer {
	__u8 addr[16];		/* IPv4: the first 4 bytes */
	__u32 netns;		/* inode of the caller's network namespace */
	__u16 port;		/* host order */
	__u8 family;		/* AF_INET or AF_INET6 */
	__u8 pad;
	char host[HTTP_HOST_LEN];	/* SNI or Host, lowercased, NUL-terminated; "" if none */
};

/* The agent that answered HTTP on a port of a network namespace. */
struct http_server_port {
	__u32 netns;
	__u16 port;
	__u16 pad;
};

/* Per-CPU value of one outbound series. */
struct http_out_stats {
	__u64 count;
	__u64 duration_ns;
	__u64 ttfb_ns;
	__u64 ttfb_count;	/* calls that got a response head */
	__u64 req_bytes;
	__u64 resp_bytes;
	__u64 duration_buckets[HTTP_MAX_BUCKETS + 1];
	__u64 ttfb_buckets[HTTP_MAX_BUCKETS + 1];
	__u64 req_size_buckets[HTTP_SIZE_BUCKETS + 1];
	__u64 resp_size_buckets[HTTP_SIZE_BUCKETS + 1];
};

/*
 * Requests started and finished per agent; in flight = started - finished
 * - closed. The agent's outbound calls count at agent + AGENTBPF_MAX_AGENTS.
 */
struct http_active {
	__u64 started;
	__u64 finished;		/* by the agent's own send/recv calls (task context) */
	__u64 closed;		/* by the connection's end (may be a softirq) */
};

/* Why a request could not be followed; indexes the http_drops map. */
enum http_drop_reason {
	HTTP_DROP_PIPELINE_FULL,	/* more than HTTP_PIPELINE requests awaiting responses */
	HTTP_DROP_DESYNC,		/* framing lost: a head longer than HTTP_CARRY split
					 * across reads, or too many messages in one call */
	HTTP_DROP_RINGBUF_FULL,		/* trace events */
	HTTP_DROP_SERIES_FULL,		/* http_stats has no room for a new label set */
	HTTP_DROP_PEERS_FULL,		/* a connection to a peer past max_peers: peer="other" */
	HTTP_DROP_LLM_CALL_CAP,		/* an LLM call's bytes past llm_call_cap, not sent */
	HTTP_DROP_LLM_RATE,		/* LLM call bytes past llm_rate in a second, not sent */
	HTTP_DROP_LLM_RING,		/* LLM call bytes or ends lost to a full ring */
	HTTP_DROP_MAX,
};

/* One finished request or call, sent only while `agentbpf trace` runs. */
struct http_event {
	__u64 ts_ns;		/* CLOCK_BOOTTIME at the last response byte */
	__u64 duration_ns;
	__u64 req_bytes;
	__u64 resp_bytes;
	__u32 pid;
	__u32 agent;
	__u16 code;
	__u8 status;
	__u8 method;
	__u32 peer;		/* HTTP_PEER_NONE: a request the agent received; else a call's */
	__u64 ttfb_ns;		/* a call's time to its response's first byte */
	char path[HTTP_PATH_LEN];
};

#endif /* AGENTBPF_HTTP_H */
