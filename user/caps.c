// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include "caps.h"
#include "util.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON	38
#endif
#ifndef CAP_BPF
#define CAP_BPF		39
#endif

/* The uprobes' last: without outbound calls nothing is attached later. */
static const struct cap_kept kept[] = {
	{ CAP_SYS_PTRACE, "SYS_PTRACE",
	  "read /proc/PID/exe, maps, io and the fd links of other users' processes as they start" },
	{ CAP_DAC_READ_SEARCH, "DAC_READ_SEARCH",
	  "open /proc/PID/fd and io, and the kubelet's log tree, whatever their modes" },
	{ CAP_BPF, "BPF", "attach the TLS programs to the OpenSSL files agents map later" },
	{ CAP_PERFMON, "PERFMON", "the perf events of those uprobes" },
	{ CAP_SYS_ADMIN, "SYS_ADMIN",
	  "a uprobe's perf_event_open asks for it (on 6.18, CAP_PERFMON alone gets EACCES)" },
};

int caps_keep_list(bool with_uprobes, const struct cap_kept **out)
{
	*out = kept;
	return with_uprobes ? (int)ARRAY_SIZE(kept) : 2;
}

uint64_t caps_keep_mask(bool with_uprobes)
{
	const struct cap_kept *k;
	int i, n = caps_keep_list(with_uprobes, &k);
	uint64_t mask = 0;

	for (i = 0; i < n; i++)
		mask |= 1ull << k[i].cap;
	return mask;
}

uint64_t caps_held(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return 0;
	return (uint64_t)d[1].effective << 32 | d[0].effective;
}

/* Set before the threads are signalled; read by the handler. */
static uint64_t keep_mask;
static int last_cap = 40;
static volatile int acked, failed;

/*
 * The calling thread down to keep_mask: async-signal-safe (raw syscalls).
 * The bounding set first: dropping from it takes CAP_SETPCAP, which the
 * capset after it gives up (without it, EPERM: the set stays as it was).
 */
static int apply(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	uint64_t keep;
	int c;

	if (syscall(SYS_capget, &h, d))
		return -errno;
	keep = keep_mask & ((uint64_t)d[1].permitted << 32 | d[0].permitted);
	for (c = 0; c <= last_cap; c++) {
		if (!(keep >> c & 1))
			prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	d[0].inheritable = d[1].inheritable = 0;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static void on_signal(int sig)
{
	int saved = errno;

	if (apply())
		failed = 1;
	__atomic_add_fetch(&acked, 1, __ATOMIC_SEQ_CST);
	errno = saved;
}

/*
 * Capabilities belong to threads, and the scrape server's and the LLM
 * reader's threads run by now: each is signalled to drop its own, as
 * libcap's psx does.
 */
int caps_drop(bool with_uprobes, char *err, size_t errlen)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	struct timespec pause = { 0, 1000000 };
	pid_t self = syscall(SYS_gettid);
	int sig = SIGRTMIN + 3, n = 0, ret, i;
	char buf[16];
	struct dirent *de;
	DIR *dir;

	keep_mask = caps_keep_mask(with_uprobes);
	if (read_file("/proc/sys/kernel/cap_last_cap", buf, sizeof(buf)) > 0)
		last_cap = atoi(buf);
	acked = failed = 0;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL)) {
		snprintf(err, errlen, "cannot drop capabilities: sigaction: %s", strerror(errno));
		return -errno;
	}
	dir = opendir("/proc/self/task");
	if (!dir) {
		snprintf(err, errlen, "cannot drop capabilities: /proc/self/task: %s", strerror(errno));
		return -errno;
	}
	while ((de = readdir(dir))) {
		pid_t tid = atoi(de->d_name);

		if (tid > 0 && tid != self && !syscall(SYS_tgkill, getpid(), tid, sig))
			n++;
	}
	closedir(dir);
	ret = apply();
	for (i = 0; i < 2000 && __atomic_load_n(&acked, __ATOMIC_SEQ_CST) < n; i++)
		nanosleep(&pause, NULL);
	if (ret)
		snprintf(err, errlen, "cannot drop capabilities: capset: %s", strerror(-ret));
	else if (acked < n || failed)
		snprintf(err, errlen, "cannot drop capabilities: %d of %d other threads did",
			 acked - failed, n);
	return ret ? ret : acked < n || failed ? -EAGAIN : 0;
}
