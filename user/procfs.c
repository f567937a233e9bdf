// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "procfs.h"
#include "util.h"

uint64_t procfs_ticks_to_ns(uint64_t ticks)
{
	static long hz;

	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	return ticks * (1000000000ull / hz);
}

void procfs_join_args(char *dst, size_t dstlen, const char *args, size_t len)
{
	size_t i, n = 0;

	/* argv ends in a NUL; everything before it separates arguments. */
	while (len && args[len - 1] == '\0')
		len--;
	for (i = 0; i < len && n + 1 < dstlen; i++)
		dst[n++] = args[i] ? args[i] : ' ';
	dst[n] = '\0';
}

/* Fields of /proc/PID/stat after the comm, which may hold spaces and parens. */
static char *stat_fields(uint32_t pid, char *buf, size_t len)
{
	char path[64], *p;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	if (read_file(path, buf, len) <= 0)
		return NULL;
	p = strrchr(buf, ')');
	return p && p[1] ? p + 2 : NULL;
}

int procfs_read_info(uint32_t pid, struct proc_info *info, bool want_cgroups)
{
	char path[64], buf[1024], args[PROC_ARGS_LEN];
	unsigned long long start;
	ssize_t n;
	char *f;
	int ppid;

	memset(info, 0, sizeof(*info));
	info->pid = pid;
	f = stat_fields(pid, buf, sizeof(buf));
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itrealvalue starttime */
	if (!f || sscanf(f, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			 &ppid, &start) != 2)
		return -1;
	info->ppid = ppid;
	info->start_ns = procfs_ticks_to_ns(start);

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	if (read_file(path, info->comm, sizeof(info->comm)) > 0)
		info->comm[strcspn(info->comm, "\n")] = '\0';

	/* Same first PROC_ARGS_LEN bytes the kernel hands over at exec. */
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	n = read_file(path, args, sizeof(args));
	if (n > 0)
		procfs_join_args(info->cmdline, sizeof(info->cmdline), args, n);

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, info->exe, sizeof(info->exe) - 1);
	info->exe[n > 0 ? n : 0] = '\0';

	if (want_cgroups) {
		snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
		if (read_file(path, info->cgroups, sizeof(info->cgroups)) < 0)
			info->cgroups[0] = '\0';
	}
	return 0;
}

static int count_fds(uint32_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

int procfs_add_usage(uint32_t pid, uint64_t start_ns, struct agent_usage *u)
{
	unsigned long long utime, stime, rss, start;
	uint64_t tick = procfs_ticks_to_ns(1);
	char path[64], buf[1024], *p;
	static long page;
	char *f;

	if (!page)
		page = sysconf(_SC_PAGESIZE);
	f = stat_fields(pid, buf, sizeof(buf));
	/* ... utime(14) stime(15) ... starttime(22) ... rss(24), counted after comm */
	if (!f || sscanf(f, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %*u %llu",
			 &utime, &stime, &start, &rss) != 4)
		return -1;
	/* The kernel's start time in ns against /proc's in clock ticks. */
	if (start_ns && (start_ns / tick > start + 1 || start_ns / tick + 1 < start))
		return -1;
	u->utime_ns += procfs_ticks_to_ns(utime);
	u->stime_ns += procfs_ticks_to_ns(stime);
	u->rss_bytes += rss * page;

	snprintf(path, sizeof(path), "/proc/%u/io", pid);
	if (read_file(path, buf, sizeof(buf)) > 0) {
		if ((p = strstr(buf, "rchar: ")))
			u->rchar += strtoull(p + 7, NULL, 10);
		if ((p = strstr(buf, "wchar: ")))
			u->wchar += strtoull(p + 7, NULL, 10);
	}
	u->fds += count_fds(pid);
	return 0;
}

static int listen_add(struct listen_table *lt, uint64_t inode, uint16_t port)
{
	void *a, *b;

	if (lt->n == lt->cap) {
		int cap = lt->cap ? lt->cap * 2 : 64;

		a = realloc(lt->inode, cap * sizeof(*lt->inode));
		if (!a)
			return -1;
		lt->inode = a;
		b = realloc(lt->port, cap * sizeof(*lt->port));
		if (!b)
			return -1;
		lt->port = b;
		lt->cap = cap;
	}
	lt->inode[lt->n] = inode;
	lt->port[lt->n++] = port;
	return 0;
}

int procfs_listen_table(struct listen_table *lt, uint32_t pid)
{
	static const char *const files[] = { "tcp", "tcp6" };
	char line[512], path[64];
	unsigned int i, port, state;
	unsigned long long inode;
	FILE *f;

	memset(lt, 0, sizeof(*lt));
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		/* The process's own network namespace: a pod's is not the daemon's. */
		snprintf(path, sizeof(path), "/proc/%u/net/%s", pid, files[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			/* sl local_address rem_address st ... uid timeout inode */
			if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %llu",
				   &port, &state, &inode) != 3)
				continue;
			if (state == 0x0A && listen_add(lt, inode, port)) {
				fclose(f);
				return -1;
			}
		}
		fclose(f);
	}
	return 0;
}

uint64_t procfs_netns(uint32_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	return stat(path, &st) ? 0 : st.st_ino;
}

void procfs_listen_free(struct listen_table *lt)
{
	free(lt->inode);
	free(lt->port);
	memset(lt, 0, sizeof(*lt));
}

int procfs_ports_of(uint32_t pid, const struct listen_table *lt, uint16_t *ports, int max)
{
	char path[64], link[64];
	unsigned long long inode;
	struct dirent *de;
	int n = 0, i, j;
	ssize_t len;
	DIR *d;

	if (!lt->n)
		return 0;
	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		if (de->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%llu]", &inode) != 1)
			continue;
		for (i = 0; i < lt->n; i++) {
			if (lt->inode[i] != inode)
				continue;
			for (j = 0; j < n && ports[j] != lt->port[i]; j++)
				;
			if (j == n)
				ports[n++] = lt->port[i];
		}
	}
	closedir(d);
	return n;
}
