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

/* lc_start flags */
#define LC_NEW		1	/* started while the daemon ran: may be a restart */
#define LC_FORKED	2	/* forked from a member: primary until it execs another program */
#define LC_HELPER	4	/* a member's child running another program */

/*
 * A member is either primary (the agent's own program, or a fork of it) or
 * a helper (a child that exec'd some other program: a tool run through
 * subprocess). Helpers count for resource usage only, so an agent shelling
 * out to git does not look like a crash-looping worker.
 */
struct member {
	uint32_t pid;		/* 0 = free slot */
	uint16_t agent;
	uint8_t flags;		/* LC_NEW, LC_FORKED, LC_HELPER */
	uint8_t took_restart;	/* 1 + reason of the restart its start counted, 0 = none */
	uint64_t start_ns;	/* CLOCK_BOOTTIME */
	uint64_t gone_ns;	/* CLOCK_BOOTTIME a scrape first found it gone; 0 = alive */
};

/* Live usage summed over an agent's members at scrape time. */
struct agent_usage {
	uint64_t utime_ns, stime_ns;
	uint64_t rchar, wchar;
	uint64_t rss_bytes;
	uint64_t fds;
	uint64_t oldest_start_ns;	/* 0 = no live member */
};

#define LC_PENDING_MAX	32

struct agent_stats {
	uint64_t exits[REASON_MAX];
	uint64_t restarts[REASON_MAX];
	/*
	 * Reasons of exits not yet followed by a start, most recent last; a
	 * start takes the most recent. Bounded: the oldest fall off.
	 */
	uint8_t pending[LC_PENDING_MAX];
	uint32_t npending;
	uint32_t live;		/* primary members alive */
	/* Exited members' usage, so the counters keep what they had earned. */
	uint64_t dead_utime_ns, dead_stime_ns, dead_rchar, dead_wchar;
	/*
	 * Highest value rendered: a member's usage moving from live to dead is
	 * not exact, and a fork's restart is taken back if it turns out a helper.
	 */
	double shown[4];
	double shown_restarts[REASON_MAX];
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
 * A process becomes a member. flags: LC_NEW unless it was found already
 * running at startup (those are not restarts), LC_FORKED for a member's
 * fork, LC_HELPER for a child found at startup running another program.
 * Returns -1 if the table is full.
 */
int lc_start(struct lifecycle *lc, uint32_t pid, uint32_t agent, uint64_t start_ns,
	     unsigned int flags);
/*
 * A member exec'd: matched is the agent its new image matches, or -1. A
 * fork that execs an unmatched program becomes a helper; a process that
 * matched on its own stays primary whatever it execs.
 */
void lc_exec(struct lifecycle *lc, uint32_t pid, int matched);
/* A member exec'd into something that matches another agent. */
void lc_move(struct lifecycle *lc, uint32_t pid, uint32_t agent);
/* Returns false if pid was not a member. */
bool lc_exit(struct lifecycle *lc, uint32_t pid, int exit_code, bool oom_killed,
	     const struct agent_usage *final_usage);
/* Removes a member without counting an exit (e.g. it exec'd into an unmatched image). */
void lc_forget(struct lifecycle *lc, uint32_t pid);

/*
 * Starts a scrape's usage with what exited members used. Take it under the
 * same lock as the member list, then add the live members from /proc: a
 * member then counts either as exited or as live, never as both.
 */
void lc_usage_base(struct lifecycle *lc, struct agent_usage *usage);
/* usage: from lc_usage_base plus the live members. */
void lc_render(struct lifecycle *lc, const struct config *cfg, struct expo *e,
	       const struct agent_usage *usage, uint64_t boot_to_unix_ns);

#endif
