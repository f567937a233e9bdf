// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "procfs.h"
#include "selfstats.h"

int selfstats_enable_bpf_stats(void)
{
	return bpf_enable_stats(BPF_STATS_RUN_TIME);
}

static void for_each_prog(struct expo *e, struct bpf_object *const *objs, int nobjs, bool runtime)
{
	struct bpf_prog_info info;
	struct bpf_program *prog;
	struct label l;
	__u32 len;
	int i;

	for (i = 0; i < nobjs; i++) {
		if (!objs[i])
			continue;
		bpf_object__for_each_program(prog, objs[i]) {
			if (bpf_program__fd(prog) < 0)
				continue;
			memset(&info, 0, sizeof(info));
			len = sizeof(info);
			if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				continue;
			l = (struct label){ "program", bpf_program__name(prog) };
			expo_sample(e, &l, 1, runtime ? info.run_time_ns / 1e9 : (double)info.run_cnt);
		}
	}
}

void selfstats_render_programs(struct expo *e, struct bpf_object *const *objs, int nobjs)
{
	expo_family(e, "agentbpf_bpf_program_runs_total", EXPO_COUNTER,
		    "Times each BPF program ran (kernel bpf stats; 0 unless --bpf-stats or kernel.bpf_stats_enabled).");
	for_each_prog(e, objs, nobjs, false);
	expo_family(e, "agentbpf_bpf_program_run_seconds_total", EXPO_COUNTER,
		    "Time spent in each BPF program (kernel bpf stats; 0 unless --bpf-stats or kernel.bpf_stats_enabled).");
	for_each_prog(e, objs, nobjs, true);
}

void selfstats_render_build_info(struct expo *e)
{
	char libbpf[16];
	struct utsname u;
	struct label l[3];

	snprintf(libbpf, sizeof(libbpf), "%u.%u", libbpf_major_version(), libbpf_minor_version());
	if (uname(&u))
		strcpy(u.release, "unknown");
	l[0] = (struct label){ "version", AGENTBPF_VERSION };
	l[1] = (struct label){ "libbpf", libbpf };
	l[2] = (struct label){ "kernel", u.release };
	expo_family(e, "agentbpf_build_info", EXPO_INFO,
		    "A metric with a constant 1 value labeled by the agentbpf version, the libbpf it was built with and the running kernel.");
	expo_sample(e, l, 3, 1);
}

void selfstats_render_process(struct expo *e, uint64_t boot_to_unix_ns)
{
	struct agent_usage u = { 0 };
	struct proc_info *info = malloc(sizeof(*info));
	struct rlimit rl;

	if (!info)
		return;
	if (procfs_read_info(getpid(), info, false) || procfs_add_usage(getpid(), 0, &u))
		goto cleanup;
	expo_family(e, "process_cpu_seconds_total", EXPO_COUNTER,
		    "Total user and system CPU time spent in seconds.");
	expo_sample(e, NULL, 0, (u.utime_ns + u.stime_ns) / 1e9);
	expo_family(e, "process_resident_memory_bytes", EXPO_GAUGE, "Resident memory size in bytes.");
	expo_sample(e, NULL, 0, u.rss_bytes);
	expo_family(e, "process_open_fds", EXPO_GAUGE, "Number of open file descriptors.");
	expo_sample(e, NULL, 0, u.fds);
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		expo_family(e, "process_max_fds", EXPO_GAUGE, "Maximum number of open file descriptors.");
		expo_sample(e, NULL, 0, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
	}
	expo_family(e, "process_start_time_seconds", EXPO_GAUGE,
		    "Start time of the process since unix epoch in seconds.");
	expo_sample(e, NULL, 0, (boot_to_unix_ns + info->start_ns) / 1e9);
cleanup:
	free(info);
}
