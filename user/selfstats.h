/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Exporter self-metrics that come from the kernel: BPF program run stats. */
#ifndef AGENTBPF_SELFSTATS_H
#define AGENTBPF_SELFSTATS_H

#include <stdint.h>
#include "expo.h"

struct bpf_object;

/*
 * Turns on the kernel's run-count/run-time accounting for BPF programs for as
 * long as the returned fd is open (costs two clock reads per program run).
 */
int selfstats_enable_bpf_stats(void);
/* agentbpf_bpf_program_runs_total / _run_seconds_total for every program of objs. */
void selfstats_render_programs(struct expo *e, struct bpf_object *const *objs, int nobjs);
void selfstats_render_build_info(struct expo *e);
/*
 * The daemon's own process_* families, as Prometheus client libraries name
 * them: CPU, resident memory, open and maximum fds, start time.
 */
void selfstats_render_process(struct expo *e, uint64_t boot_to_unix_ns);

#endif
