/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Loader and scrape-time reader of the message-bus probes (bpf/bus.bpf.c),
 * the family bus_family (family.h).
 */
#ifndef AGENTBPF_BUS_USER_H
#define AGENTBPF_BUS_USER_H

#include "bus.h"
#include "busmodel.h"
#include "config.h"
#include "expo.h"
#include "mapread.h"
#include "trace.h"

struct bus_bpf;
struct ring_buffer;
struct proc_tracker;
struct sock_dispatch;

struct bus_tracker {
	struct bus_bpf *skel;
	bool joined;		/* runs from the HTTP programs (sockhook.h) */
	struct sock_dispatch *dispatch;	/* while its programs are in the dispatch map */
	const struct config *cfg;
	struct trace_out trace;
	int ncpu;
	struct map_read flows, queues;
	struct bus_model model;
};

#endif
