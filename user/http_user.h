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
#include <stdbool.h>

struct http_bpf;
struct ring_buffer;
struct proc_tracker;

struct route_name;
struct peer_name;
struct tls_file;
struct sock_dispatch;
struct llm_reader;

/* This host's addresses kept to tell which peers are local. */
#define MAX_LOCAL_ADDRS	64

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
	/* TLS: the OpenSSL files the agents map, and the uprobes on them. */
	struct tls_file *tls_files;
	int ntls_files;
	int tls_attached;		/* files with the uprobes on; read by the scrape */
	struct bpf_link **tls_links;
	int ntls_links;
	uint32_t tls_cursor;		/* the next member slot to look at */
	uint64_t tls_next_ns;		/* CLOCK_MONOTONIC of the next round */
	uint64_t tls_swept;		/* member slots looked at so far */
	int tls_new_files;		/* new files this round may still try */
	bool tls_full_said;		/* the warning that TLS_MAX_FILES is reached */
	bool tls_denied_said;		/* the warning that uprobes are not permitted */
	struct llm_reader *llm;		/* LLM calls' bytes read; NULL when off */
	/* `agentbpf trace`: this host's addresses, for the calls' peers. */
	uint8_t trace_local[MAX_LOCAL_ADDRS][16];
	int trace_nlocal;
	uint64_t trace_local_ns;
};

#endif
