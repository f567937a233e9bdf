/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading /proc: identity of processes found at startup, usage at scrape time. */
#ifndef AGENTBPF_PROCFS_H
#define AGENTBPF_PROCFS_H

#include <limits.h>
#include <stdint.h>
#include "config.h"
#include "lifecycle.h"

struct proc_info {
	uint32_t pid;
	uint32_t ppid;
	uint64_t start_ns;		/* CLOCK_BOOTTIME */
	char comm[PROC_COMM_LEN];
	char cmdline[PROC_ARGS_LEN + 1];
	char exe[PATH_MAX];
	char cgroups[4096];
	uint16_t ports[CONFIG_MAX_PORTS];
	int nports;
};

/* Joins NUL-separated argv with spaces, as the cmdline matcher sees it. */
void procfs_join_args(char *dst, size_t dstlen, const char *args, size_t len);
/* Fills identity from /proc/PID; want_cgroups reads /proc/PID/cgroup. */
int procfs_read_info(uint32_t pid, struct proc_info *info, bool want_cgroups);
/*
 * Adds the live usage of one process to u; returns -1 if it is gone or if
 * the pid now belongs to a process started at another time than start_ns.
 */
int procfs_add_usage(uint32_t pid, uint64_t start_ns, struct agent_usage *u);

/* inode -> port of the host's listening TCP sockets (v4 and v6). */
struct listen_table {
	uint64_t *inode;
	uint16_t *port;
	int n, cap;
};
/* The listening sockets of PID's network namespace. */
int procfs_listen_table(struct listen_table *lt, uint32_t pid);
/* Inode of PID's network namespace, 0 if unknown. */
uint64_t procfs_netns(uint32_t pid);
void procfs_listen_free(struct listen_table *lt);
/* Listening ports among PID's open sockets. */
int procfs_ports_of(uint32_t pid, const struct listen_table *lt, uint16_t *ports, int max);

uint64_t procfs_ticks_to_ns(uint64_t ticks);

#endif
