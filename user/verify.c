// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "util.h"
#include "verify.h"

/* BPF_LOG_STATS: only the summary, a few hundred bytes, whatever the program. */
#define LOG_STATS	4
#define LOG_SIZE	1024

/*
 * Appended by the loading thread while the server's thread may render:
 * an entry is filled before nstats counts it (release/acquire), and never
 * changed after.
 */
static struct verify_stat stats[VERIFY_MAX_PROGRAMS];
static int nstats;

struct pending_log {
	const struct bpf_program *prog;
	char *buf;
};
static struct pending_log pending[VERIFY_MAX_PROGRAMS];
static int npending;

int verify_parse_log(const char *log, uint32_t *insns, double *seconds)
{
	const char *p;
	unsigned long long v;

	*insns = 0;
	*seconds = 0;
	p = strstr(log, "verification time ");
	if (p && sscanf(p, "verification time %llu usec", &v) == 1)
		*seconds = v / 1e6;
	p = strstr(log, "processed ");
	if (!p || sscanf(p, "processed %llu insns", &v) != 1)
		return -1;
	*insns = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return 0;
}

void verify_prepare(struct bpf_object *obj)
{
	struct bpf_program *prog;

	/*
	 * With its own log buffer libbpf does not retry a failed load with the
	 * full log: AGENTBPF_DEBUG keeps libbpf's way (the figures then come
	 * from bpf_prog_info, without the time).
	 */
	if (getenv("AGENTBPF_DEBUG"))
		return;
	bpf_object__for_each_program(prog, obj) {
		char *buf;

		if (!bpf_program__autoload(prog) || npending >= VERIFY_MAX_PROGRAMS)
			continue;
		buf = calloc(1, LOG_SIZE);
		if (!buf)
			continue;
		if (bpf_program__set_log_buf(prog, buf, LOG_SIZE) ||
		    bpf_program__set_log_level(prog, LOG_STATS)) {
			free(buf);
			continue;
		}
		pending[npending++] = (struct pending_log){ prog, buf };
	}
}

static const char *log_of(const struct bpf_program *prog)
{
	int i;

	for (i = 0; i < npending; i++) {
		if (pending[i].prog == prog)
			return pending[i].buf;
	}
	return NULL;
}

void verify_collect(struct bpf_object *obj, const char *family)
{
	struct bpf_program *prog;
	struct bpf_prog_info info;
	struct verify_stat *s;
	const char *log;
	__u32 len;
	int i;

	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog) || nstats >= VERIFY_MAX_PROGRAMS)
			continue;
		s = &stats[nstats];
		memset(s, 0, sizeof(*s));
		snprintf(s->program, sizeof(s->program), "%s", bpf_program__name(prog));
		s->family = family;
		s->loaded = bpf_program__fd(prog) >= 0;
		log = log_of(prog);
		if (log && log[0])
			verify_parse_log(log, &s->insns, &s->seconds);
		if (!s->insns && s->loaded) {
			memset(&info, 0, sizeof(info));
			len = sizeof(info);
			if (!bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				s->insns = info.verified_insns;
		}
		/* A program the load never reached (an earlier one failed) has nothing to show. */
		if (s->loaded || s->insns)
			__atomic_store_n(&nstats, nstats + 1, __ATOMIC_RELEASE);
	}
	for (i = 0; i < npending; i++) {
		bpf_program__set_log_buf((struct bpf_program *)pending[i].prog, NULL, 0);
		free(pending[i].buf);
	}
	npending = 0;
}

int verify_stats(const struct verify_stat **out)
{
	*out = stats;
	return __atomic_load_n(&nstats, __ATOMIC_ACQUIRE);
}

static void render_figure(struct expo *e, const char *name, const char *help, bool time)
{
	const struct verify_stat *st;
	struct label l[2];
	int i, n = verify_stats(&st);

	expo_family(e, name, EXPO_GAUGE, help);
	for (i = 0; i < n; i++) {
		l[0] = (struct label){ "family", st[i].family };
		l[1] = (struct label){ "program", st[i].program };
		expo_sample(e, l, 2, time ? st[i].seconds : st[i].insns);
	}
}

void verify_render(struct expo *e)
{
	render_figure(e, "agentbpf_bpf_program_verified_instructions",
		      "Instructions the kernel's verifier processed to load each BPF program (its limit is 1000000; agentbpf keeps each under 150000).",
		      false);
	render_figure(e, "agentbpf_bpf_program_verification_seconds",
		      "Time the kernel's verifier took to check each BPF program at start-up.", true);
}
