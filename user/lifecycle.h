/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-agent process lifecycle accounting, fed by kernel events: members
 * starting and exiting, restarts and their reasons, and the resource usage of
 * members that are gone. No BPF here, so the rules can be unit-tested.
 */
#ifndef AGENTBPF_LIFECYCLE_H
#define AGENTBPF_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "expo.h"

enum exit_reason {
	REASON_COMPLETED,	/* exit status 0 */
	REASON_ERROR,		/* exit status != 0 */
	REASON_SIGNAL,		/* killed by a signal */
	REASON_OOM,		/* chosen by the OOM killer */
	REASON_MAX,
};

struct member {
	uint32_t pid;		/* 0 = free slot */
	uint32_t agent;
	uint64_t start_ns;	/* CLOCK_BOOTTIME */
};

/* Live usage summed over an agent's members at scrape time. */
struct agent_usage {
	uint64_t utime_ns, stime_ns;
	uint64_t rchar, wchar;
	uint64_t rss_bytes;
	uint64_t fds;
	uint64_t oldest_start_ns;	/* 0 = no live member */
};

struct agent_stats {
	uint64_t exits[REASON_MAX];
	uint64_t restarts[REASON_MAX];
	int restart_pending;	/* 1 + reason of an exit not yet followed by a start */
	uint32_t live;
	/* Exited members' usage, so the counters keep what they had earned. */
	uint64_t dead_utime_ns, dead_stime_ns, dead_rchar, dead_wchar;
	/* Highest value rendered; a member's usage moving from live to dead is not exact. */
	double shown[4];
};

struct lifecycle {
	int nagents;
	struct agent_stats agents[AGENTBPF_MAX_AGENTS];
	struct member *table;
	uint32_t mask;		/* table size - 1 */
	uint32_t count;
	uint32_t limit;		/* most members tracked at once */
	uint64_t dropped;	/* member starts not tracked because the table was full */
};

const char *exit_reason_name(enum exit_reason r);
/* exit_code is the wait status the kernel stores in task->exit_code. */
enum exit_reason exit_reason_of(int exit_code, bool oom_killed);

int lc_init(struct lifecycle *lc, int nagents, uint32_t limit);
void lc_free(struct lifecycle *lc);
struct member *lc_find(struct lifecycle *lc, uint32_t pid);
/*
 * A process becomes a member. is_new is false for processes found already
 * running at startup: those are not restarts. Returns -1 if the table is full.
 */
int lc_start(struct lifecycle *lc, uint32_t pid, uint32_t agent, uint64_t start_ns, bool is_new);
/* A member exec'd into something that matches another agent. */
void lc_move(struct lifecycle *lc, uint32_t pid, uint32_t agent);
/* Returns false if pid was not a member. */
bool lc_exit(struct lifecycle *lc, uint32_t pid, int exit_code, bool oom_killed,
	     const struct agent_usage *final_usage);
/* Removes a member without counting an exit (e.g. it exec'd into an unmatched image). */
void lc_forget(struct lifecycle *lc, uint32_t pid);

void lc_render(struct lifecycle *lc, const struct config *cfg, struct expo *e,
	       const struct agent_usage *usage, uint64_t boot_to_unix_ns);

#endif
