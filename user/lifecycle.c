// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lifecycle.h"

static const char *const reason_names[REASON_MAX] = {
	[REASON_COMPLETED] = "completed",
	[REASON_ERROR] = "error",
	[REASON_SIGNAL] = "signal",
	[REASON_OOM] = "oom_killed",
};

const char *exit_reason_name(enum exit_reason r)
{
	return r < REASON_MAX ? reason_names[r] : "unknown";
}

enum exit_reason exit_reason_of(int exit_code, bool oom_killed)
{
	if (oom_killed)
		return REASON_OOM;
	if (exit_code & 0x7f)
		return REASON_SIGNAL;
	return (exit_code >> 8) & 0xff ? REASON_ERROR : REASON_COMPLETED;
}

int lc_init(struct lifecycle *lc, int nagents, uint32_t limit)
{
	uint32_t size = 64;

	memset(lc, 0, sizeof(*lc));
	/* Linear probing stays short below half load. */
	while (size < 2 * limit)
		size <<= 1;
	lc->table = calloc(size, sizeof(*lc->table));
	if (!lc->table)
		return -1;
	lc->mask = size - 1;
	lc->limit = limit;
	lc->nagents = nagents;
	return 0;
}

void lc_free(struct lifecycle *lc)
{
	free(lc->table);
	lc->table = NULL;
}

static uint32_t slot_of(const struct lifecycle *lc, uint32_t pid)
{
	return (pid * 2654435761u) & lc->mask;
}

struct member *lc_find(struct lifecycle *lc, uint32_t pid)
{
	uint32_t i;

	for (i = slot_of(lc, pid); lc->table[i].pid; i = (i + 1) & lc->mask) {
		if (lc->table[i].pid == pid)
			return &lc->table[i];
	}
	return NULL;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void table_remove(struct lifecycle *lc, struct member *m)
{
	uint32_t hole = m - lc->table, i = hole, home;

	for (;;) {
		i = (i + 1) & lc->mask;
		if (!lc->table[i].pid)
			break;
		home = slot_of(lc, lc->table[i].pid);
		/* Move the entry back if its home is not between hole and i. */
		if (((i - home) & lc->mask) >= ((i - hole) & lc->mask)) {
			lc->table[hole] = lc->table[i];
			hole = i;
		}
	}
	lc->table[hole].pid = 0;
	lc->count--;
}

static void take_restart(struct agent_stats *st, struct member *m)
{
	uint8_t r;

	if (!st->npending)
		return;
	r = st->pending[--st->npending];
	st->restarts[r]++;
	m->took_restart = r + 1;
}

/* The start turned out not to be the agent's program: give the exit back. */
static void give_back_restart(struct agent_stats *st, struct member *m)
{
	uint8_t r;

	if (!m->took_restart)
		return;
	r = m->took_restart - 1;
	st->restarts[r]--;
	if (st->npending < LC_PENDING_MAX)
		st->pending[st->npending++] = r;
	m->took_restart = 0;
}

static void push_exit(struct agent_stats *st, enum exit_reason r)
{
	if (st->npending == LC_PENDING_MAX) {
		memmove(st->pending, st->pending + 1, LC_PENDING_MAX - 1);
		st->npending--;
	}
	st->pending[st->npending++] = r;
}

int lc_start(struct lifecycle *lc, uint32_t pid, uint32_t agent, uint64_t start_ns,
	     unsigned int flags)
{
	struct agent_stats *st;
	struct member *m;
	uint32_t i;

	if (agent >= (uint32_t)lc->nagents || !pid)
		return -1;
	st = &lc->agents[agent];
	m = lc_find(lc, pid);
	if (m) {
		/* Seen twice (startup scan racing an event): keep one membership. */
		if (m->agent != agent)
			lc_move(lc, pid, agent);
		return 0;
	}
	if (lc->count >= lc->limit) {
		lc->dropped++;
		return -1;
	}
	for (i = slot_of(lc, pid); lc->table[i].pid; i = (i + 1) & lc->mask)
		;
	m = &lc->table[i];
	*m = (struct member){ .pid = pid, .agent = agent, .start_ns = start_ns,
			      .flags = flags & (LC_NEW | LC_FORKED | LC_HELPER) };
	lc->count++;
	if (flags & LC_HELPER)
		return 0;
	st->live++;
	if (flags & LC_NEW)
		take_restart(st, m);
	return 0;
}

void lc_exec(struct lifecycle *lc, uint32_t pid, int matched)
{
	struct member *m = lc_find(lc, pid);
	struct agent_stats *st;

	if (!m)
		return;
	st = &lc->agents[m->agent];
	if (matched < 0) {
		if ((m->flags & (LC_FORKED | LC_HELPER)) == LC_FORKED) {
			give_back_restart(st, m);
			st->live--;
			m->flags |= LC_HELPER;
		}
		m->flags &= ~LC_FORKED;
		return;
	}
	if (matched >= lc->nagents)
		return;
	if (m->flags & LC_HELPER) {
		/* A helper that execs the agent's program is a new member start. */
		m->agent = matched;
		m->flags = 0;
		lc->agents[matched].live++;
		take_restart(&lc->agents[matched], m);
		return;
	}
	m->flags &= ~LC_FORKED;
	if ((uint32_t)matched != m->agent) {
		/* It starts as the other agent's: its restart is that agent's. */
		give_back_restart(st, m);
		lc_move(lc, pid, matched);
		if (m->flags & LC_NEW)
			take_restart(&lc->agents[matched], m);
	}
}

void lc_move(struct lifecycle *lc, uint32_t pid, uint32_t agent)
{
	struct member *m = lc_find(lc, pid);

	if (!m || m->agent == agent || agent >= (uint32_t)lc->nagents)
		return;
	if (!(m->flags & LC_HELPER)) {
		lc->agents[m->agent].live--;
		lc->agents[agent].live++;
	}
	m->agent = agent;
}

void lc_forget(struct lifecycle *lc, uint32_t pid)
{
	struct member *m = lc_find(lc, pid);

	if (!m)
		return;
	if (!(m->flags & LC_HELPER))
		lc->agents[m->agent].live--;
	table_remove(lc, m);
}

bool lc_exit(struct lifecycle *lc, uint32_t pid, int exit_code, bool oom_killed,
	     const struct agent_usage *final_usage)
{
	struct member *m = lc_find(lc, pid);
	enum exit_reason r = exit_reason_of(exit_code, oom_killed);
	struct agent_stats *st;

	if (!m)
		return false;
	st = &lc->agents[m->agent];
	if (!(m->flags & LC_HELPER)) {
		st->exits[r]++;
		push_exit(st, r);
		st->live--;
	}
	if (final_usage) {
		st->dead_utime_ns += final_usage->utime_ns;
		st->dead_stime_ns += final_usage->stime_ns;
		st->dead_rchar += final_usage->rchar;
		st->dead_wchar += final_usage->wchar;
	}
	table_remove(lc, m);
	return true;
}

void lc_usage_base(struct lifecycle *lc, struct agent_usage *usage)
{
	int i;

	for (i = 0; i < lc->nagents; i++) {
		struct agent_stats *st = &lc->agents[i];

		usage[i] = (struct agent_usage){
			.utime_ns = st->dead_utime_ns, .stime_ns = st->dead_stime_ns,
			.rchar = st->dead_rchar, .wchar = st->dead_wchar,
		};
	}
}

/* Counters must never go down: hold the highest value shown so far. */
static double monotonic(double *shown, double v)
{
	if (v < *shown)
		return *shown;
	*shown = v;
	return v;
}

void lc_render(struct lifecycle *lc, const struct config *cfg, struct expo *e,
	       const struct agent_usage *usage, uint64_t boot_to_unix_ns)
{
	struct label l[3];
	int i, r;

	expo_family(e, "worker_health_status", EXPO_GAUGE,
		    "1 when at least one process of the agent is alive, else 0.");
	for (i = 0; i < lc->nagents; i++) {
		l[0] = (struct label){ "worker_name", cfg->agents[i].name };
		l[1] = (struct label){ "worker_type", cfg->agents[i].type };
		expo_sample(e, l, 2, lc->agents[i].live ? 1 : 0);
	}

	expo_family(e, "worker_restarts_total", EXPO_COUNTER,
		    "Member processes started after a member of the agent ended, by how the previous one ended.");
	for (i = 0; i < lc->nagents; i++) {
		l[0] = (struct label){ "worker_name", cfg->agents[i].name };
		for (r = 0; r < REASON_MAX; r++) {
			l[1] = (struct label){ "reason", reason_names[r] };
			expo_sample(e, l, 2, monotonic(&lc->agents[i].shown_restarts[r],
						       lc->agents[i].restarts[r]));
		}
	}

	expo_family(e, "agent_process_exits_total", EXPO_COUNTER,
		    "Member processes that ended, by reason (exit status from the kernel at process exit).");
	for (i = 0; i < lc->nagents; i++) {
		l[0] = (struct label){ "agent_type", cfg->agents[i].name };
		for (r = 0; r < REASON_MAX; r++) {
			l[1] = (struct label){ "reason", reason_names[r] };
			expo_sample(e, l, 2, lc->agents[i].exits[r]);
		}
	}

	expo_family(e, "agent_processes", EXPO_GAUGE,
		    "Live processes of the agent (its own program and forks of it; not helper children running other programs).");
	for (i = 0; i < lc->nagents; i++) {
		l[0] = (struct label){ "agent_type", cfg->agents[i].name };
		expo_sample(e, l, 1, lc->agents[i].live);
	}

	expo_family(e, "agent_process_start_time_seconds", EXPO_GAUGE,
		    "Start time of the agent's oldest live member process, seconds since the Unix epoch.");
	for (i = 0; i < lc->nagents; i++) {
		if (!usage[i].oldest_start_ns)
			continue;
		l[0] = (struct label){ "agent_type", cfg->agents[i].name };
		expo_sample(e, l, 1, (double)(usage[i].oldest_start_ns + boot_to_unix_ns) / 1e9);
	}

	expo_family(e, "agent_cpu_seconds_total", EXPO_COUNTER,
		    "CPU time of the agent's member processes, live and exited, by mode.");
	for (i = 0; i < lc->nagents; i++) {
		struct agent_stats *st = &lc->agents[i];

		l[0] = (struct label){ "agent_type", cfg->agents[i].name };
		l[1] = (struct label){ "mode", "user" };
		expo_sample(e, l, 2, monotonic(&st->shown[0],
			    usage[i].utime_ns / 1e9));
		l[1] = (struct label){ "mode", "system" };
		expo_sample(e, l, 2, monotonic(&st->shown[1],
			    usage[i].stime_ns / 1e9));
	}

	expo_family(e, "agent_memory_rss_bytes", EXPO_GAUGE,
		    "Resident memory of the agent's live member processes (pages shared between members count once per member).");
	for (i = 0; i < lc->nagents; i++) {
		l[0] = (struct label){ "agent_type", cfg->agents[i].name };
		expo_sample(e, l, 1, usage[i].rss_bytes);
	}

	expo_family(e, "agent_open_fds", EXPO_GAUGE,
		    "Open file descriptors of the agent's live member processes.");
	for (i = 0; i < lc->nagents; i++) {
		l[0] = (struct label){ "agent_type", cfg->agents[i].name };
		expo_sample(e, l, 1, usage[i].fds);
	}

	expo_family(e, "agent_io_bytes_total", EXPO_COUNTER,
		    "Bytes the agent's member processes read or wrote through read/write-family calls (files, sockets, pipes).");
	for (i = 0; i < lc->nagents; i++) {
		struct agent_stats *st = &lc->agents[i];

		l[0] = (struct label){ "agent_type", cfg->agents[i].name };
		l[1] = (struct label){ "direction", "read" };
		expo_sample(e, l, 2, monotonic(&st->shown[2],
			    (double)usage[i].rchar));
		l[1] = (struct label){ "direction", "write" };
		expo_sample(e, l, 2, monotonic(&st->shown[3],
			    (double)usage[i].wchar));
	}
}
