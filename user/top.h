/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `agentbpf top`: a live per-agent table read from a running daemon's
 * /metrics (no second set of BPF programs), rates and latency percentiles
 * over each refresh interval.
 */
#ifndef AGENTBPF_TOP_H
#define AGENTBPF_TOP_H

#include <stdio.h>

#define TOP_MAX_AGENTS	128
#define TOP_MAX_BUCKETS	40

struct top_agent {
	char name[64];
	double procs;
	double inflight;
	double restarts;
	double requests[3];	/* success, error, timeout */
	double le[TOP_MAX_BUCKETS];	/* request duration bucket bounds, ascending */
	double cum[TOP_MAX_BUCKETS];	/* cumulative counts */
	int nbuckets;
	double msgs_in, msgs_out;	/* message_bus_messages_total as to_agent / from_agent */
	double calls[3];	/* agent_outbound_requests_total: success, error, timeout */
	double llm_tokens;	/* agent_llm_tokens_total, every kind */
};

#define TOP_MAX_OFF	8

struct top_snapshot {
	struct top_agent a[TOP_MAX_AGENTS];
	int n;
	char off[TOP_MAX_OFF][32];	/* probe families that are not running */
	int noff;
};

/* Folds a Prometheus text exposition into s (zeroed first). Returns samples used. */
int top_parse(const char *text, struct top_snapshot *s);
/* The q-quantile of a cumulative histogram, interpolated in its bucket; NAN if empty. */
double top_quantile(const double *le, const double *cum, int n, double q);
/* The table for the interval between two snapshots secs apart. */
void top_render(FILE *f, const struct top_snapshot *prev, const struct top_snapshot *cur,
		double secs);
/*
 * Polls http://addr/metrics every interval seconds and prints the table;
 * iterations > 0 stops after that many tables. Returns an exit status.
 */
int top_run(const char *addr, double interval, int iterations);

#endif
