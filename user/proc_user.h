/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Loader and event handling of the process lifecycle probes (bpf/proc.bpf.c). */
#ifndef AGENTBPF_PROC_USER_H
#define AGENTBPF_PROC_USER_H

#include <pthread.h>
#include <stdio.h>
#include "cgroups.h"
#include "config.h"
#include "lifecycle.h"
#include "trace.h"

struct proc_bpf;
struct ring_buffer;
struct bpf_map;

enum proc_loss {
	LOSS_RINGBUF_FULL,	/* kernel could not queue an event */
	LOSS_PIDMAP_FULL,	/* kernel could not track an inherited member */
	LOSS_TABLE_FULL,	/* more members than max_processes */
	LOSS_LATE,		/* exec classified after its process had already ended */
	LOSS_EXIT_MISSED,	/* a member vanished without an exit event */
	LOSS_MAX,
};

#define PROC_LATE_MAX	256
#define PROC_CLEARED_MAX	64

struct proc_tracker {
	struct proc_bpf *skel;
	struct ring_buffer *rb;
	const struct config *cfg;
	struct lifecycle *lc;
	pthread_mutex_t *lock;	/* guards lc against the scrape thread */
	bool want_cgroups, want_ports, want_exe;
	struct cgroup_cache cgroups;	/* ids of exec events -> paths */
	uint64_t window_ns;
	uint64_t events[PROC_EV_LISTEN + 1];
	uint64_t late;
	uint64_t exits_missed;
	uint32_t late_pids[PROC_LATE_MAX];	/* classified late, checked after the drain */
	int nlate;
	struct trace_out trace;	/* `agentbpf trace`: one line per lifecycle event */
	uint64_t *member_hint;	/* the kernel's member_hint, mapped */
	uint32_t cleared[PROC_CLEARED_MAX];	/* pids whose entry an exit removed */
	int ncleared;
};

/* Opens, loads and attaches. err gets one line naming the fix on failure. */
int proc_tracker_open(struct proc_tracker *t, const struct config *cfg, struct lifecycle *lc,
		      pthread_mutex_t *lock, const char *btf_path, char *err, size_t errlen);
/*
 * Maps the event ring into the daemon (t->rb). Events wait in the kernel
 * until then. Its PROC_RINGBUF_SIZE is resident at once, and counted twice
 * (the data pages are mapped twice for reads across the wrap).
 */
int proc_tracker_map_events(struct proc_tracker *t, char *err, size_t errlen);
/*
 * Makes another family's object use the lifecycle object's membership maps
 * (agent_pids, member_hint). Call between opening and loading it.
 */
int proc_share_members(const struct proc_tracker *t, struct bpf_map *agent_pids,
		       struct bpf_map *member_hint);
/* Finds agents that were running before the daemon started. */
int proc_tracker_scan(struct proc_tracker *t);
int proc_tracker_poll(struct proc_tracker *t, int timeout_ms);
void proc_tracker_losses(struct proc_tracker *t, uint64_t out[LOSS_MAX]);
void proc_tracker_close(struct proc_tracker *t);
const char *proc_loss_name(enum proc_loss l);

#endif
