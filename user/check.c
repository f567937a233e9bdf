// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/capability.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "check.h"
#include "config.h"
#include "family.h"
#include "lifecycle.h"
#include "sockhook.h"
#include "verify.h"
#include "caps.h"

#define TRACEFS "/sys/kernel/tracing"

/* Short names of the verdicts the families' lines use too. */
#define OK	FAMILY_OK
#define INFO	FAMILY_INFO
#define FAIL	FAMILY_FAIL

__attribute__((format(printf, 3, 4)))
static void line(enum family_verdict v, const char *what, const char *fmt, ...)
{
	static const char *const tags[] = { "ok  ", "info", "FAIL" };
	va_list ap;

	printf("%s  %-22s ", tags[v], what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* What the daemon keeps of its capabilities once its probes are attached. */
static void caps_lines(bool with_uprobes)
{
	const struct cap_kept *k;
	int i, n = caps_keep_list(with_uprobes, &k);

	for (i = 0; i < n; i++)
		line(INFO, "capabilities", "after start keeps CAP_%s: %s", k[i].name, k[i].why);
	line(INFO, "capabilities", "after start drops every other one, in every thread");
}

/*
 * The verifier's figures for the programs loaded since the last call: a
 * program over the budget loads here but may be refused by another build
 * of the kernel (verification cost moves 2-3x between builds).
 */
static void verifier_lines(int *shown)
{
	const struct verify_stat *st;
	int i, n = verify_stats(&st);

	for (i = *shown; i < n; i++) {
		bool over = st[i].insns > VERIFY_BUDGET;

		line(over || !st[i].loaded ? FAIL : OK, "verifier", "%s/%s: %u instructions (budget %u), %.2f s%s",
		     st[i].family, st[i].program, st[i].insns, VERIFY_BUDGET, st[i].seconds,
		     !st[i].loaded ? ", not loaded" : over ? ", over budget: may be rejected on other kernels" : "");
	}
	*shown = n;
}

static bool has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int agentbpf_check(const char *config_path, bool config_given, const char *btf_path)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2] = { 0 };
	static const char *const tps[] = {
		"sched/sched_process_exec", "sched/sched_process_fork",
		"sched/sched_process_exit", "sock/inet_sock_set_state",
		"sock/sock_recv_length", "sock/sock_send_length",
		"tcp/tcp_destroy_sock", "oom/mark_victim",
	};
	struct config cfg;
	struct lifecycle lc = { 0 };
	void *fam[NFAMILIES] = { 0 };
	bool up[NFAMILIES] = { 0 };
	struct sock_dispatch sock;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char err[512], path[256];
	struct utsname u;
	bool privileged, fatal = false, cfg_ok = false;
	unsigned int i;
	int fd, f, shown = 0;

	uname(&u);
	line(INFO, "kernel", "%s %s", u.release, u.machine);

	if (access(btf_path, R_OK) == 0) {
		line(OK, "BTF", "%s", btf_path);
	} else {
		line(FAIL, "BTF", "%s missing: use a kernel with CONFIG_DEBUG_INFO_BTF=y or pass --btf FILE", btf_path);
		fatal = true;
	}

	syscall(SYS_capget, &hdr, caps);
	privileged = has_cap(caps, CAP_SYS_ADMIN) ||
		     (has_cap(caps, CAP_BPF) && has_cap(caps, CAP_PERFMON));
	if (privileged) {
		line(OK, "privileges", "%s", geteuid() == 0 ? "root" : "CAP_BPF and CAP_PERFMON");
		/* Not fatal: some figures are missing without them. */
		if (!has_cap(caps, CAP_SYS_PTRACE))
			line(INFO, "privileges", "no CAP_SYS_PTRACE: other users' processes cannot be matched by exe, nor found at startup");
		if (!has_cap(caps, CAP_DAC_READ_SEARCH))
			line(INFO, "privileges", "no CAP_DAC_READ_SEARCH: open fds and I/O of other users' processes read as 0");
		if (!has_cap(caps, CAP_SYS_ADMIN))
			line(INFO, "privileges", "no CAP_SYS_ADMIN: the TLS uprobes cannot attach, so HTTPS and LLM calls are not seen");
	} else {
		line(FAIL, "privileges", "need root, or CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (and CAP_SYS_RESOURCE on kernels before 5.11)");
		fatal = true;
	}

	if (!exists(TRACEFS "/events") && privileged)
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	if (exists(TRACEFS "/events")) {
		line(OK, "tracefs", "%s", TRACEFS);
		for (i = 0; i < ARRAY_SIZE(tps); i++) {
			snprintf(path, sizeof(path), TRACEFS "/events/%s", tps[i]);
			/* The socket families have a second hook for kernels before 6.3. */
			bool fallback = strstr(tps[i], "_length") != NULL;

			line(exists(path) ? OK : fallback ? INFO : FAIL, "tracepoint", "%s%s", tps[i],
			     exists(path) ? "" : fallback ? " missing (before Linux 6.3): HTTP and message-bus programs use fexit on sock_recvmsg/tcp_sendmsg" :
			     " missing");
			fatal |= !exists(path) && i < 3;
		}
	} else {
		line(INFO, "tracefs", "not mounted (mount -t tracefs tracefs " TRACEFS "); tp_btf does not need it");
	}

	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, 4096, NULL);
	line(fd >= 0 ? OK : FAIL, "ring buffer", "%s", fd >= 0 ? "BPF_MAP_TYPE_RINGBUF" : strerror(errno));
	fatal |= fd < 0;
	if (fd >= 0)
		close(fd);

	line(exists("/sys/bus/event_source/devices/uprobe/type") ? OK : FAIL, "uprobes", "%s",
	     exists("/sys/bus/event_source/devices/uprobe/type") ? "available (TLS and USDT probes)" :
	     "unavailable (CONFIG_UPROBE_EVENTS): TLS traffic will not be seen");
	line(INFO, "kprobes", "%s", exists("/sys/bus/event_source/devices/kprobe/type") ?
	     "available (not used)" : "unavailable (not needed: agentbpf uses tracepoints and uprobes)");
	line(INFO, "fentry/fexit", "%s", sock_hook_choose() == SOCK_HOOK_FEXIT ?
	     "used for socket calls (this kernel has no sock_recv_length/sock_send_length)" :
	     "not used (the sock_recv_length/sock_send_length tracepoints are here)");

	fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	line(fd >= 0 ? OK : INFO, "bpf stats", "%s", fd >= 0 ? "run count and time per program" :
	     "unavailable: agentbpf_bpf_program_* stay 0");
	if (fd >= 0)
		close(fd);

	if (exists("/sys/fs/cgroup/cgroup.controllers"))
		line(INFO, "cgroups", "v2 (unified) at /sys/fs/cgroup");
	else
		line(INFO, "cgroups", "v1%s", exists("/sys/fs/cgroup/unified/cgroup.controllers") ?
		     " with v2 at /sys/fs/cgroup/unified (hybrid)" : "");

	if (!exists(config_path) && !config_given) {
		line(INFO, "config", "%s absent: pass --config FILE", config_path);
		config_defaults(&cfg);
	} else if (config_load(&cfg, config_path, err, sizeof(err))) {
		line(FAIL, "config", "%s", err);
		fatal = true;
	} else {
		line(OK, "config", "%s: %d agents", config_path, cfg.nagents);
		cfg_ok = true;
	}
	caps_lines(!cfg.outbound_off);

	/*
	 * The real thing: load and attach every family as the daemon does, in
	 * its order, then let go. With trace events on: the costlier build of
	 * the programs, the one `agentbpf trace` loads (no ring is mapped here).
	 * Without the lifecycle family the others cannot load.
	 */
	if (!fatal) {
		struct family_env env;

		if (!cfg_ok)
			config_defaults(&cfg);
		lc_init(&lc, cfg.nagents, 64);
		sock_dispatch_init(&sock);
		env = (struct family_env){
			.cfg = &cfg,
			.btf = strcmp(btf_path, "/sys/kernel/btf/vmlinux") ? btf_path : NULL,
			.lc = &lc,
			.lock = &lock,
			.trace = { stdout, false },
			.sock = &sock,
		};
		for (f = 0; f < NFAMILIES && (f == 0 || up[0]); f++) {
			fam[f] = calloc(1, families[f]->size);
			up[f] = fam[f] && !families[f]->open(fam[f], &env, err, sizeof(err));
			if (f == 0)
				env.proc = fam[0];
			verifier_lines(&shown);
			if (up[f]) {
				families[f]->describe(fam[f], &env, line);
			} else {
				line(FAIL, "load probes", "%s", fam[f] ? err : "out of memory");
				fatal = true;
			}
		}
		for (f = NFAMILIES - 1; f >= 0; f--) {
			if (up[f])
				families[f]->close(fam[f]);
			free(fam[f]);
		}
		lc_free(&lc);
	}
	config_free(&cfg);
	printf("%s\n", fatal ? "agentbpf cannot run here: fix the FAIL lines above" :
	       "agentbpf can run here");
	return fatal ? 1 : 0;
}
