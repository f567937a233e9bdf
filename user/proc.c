// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cgroups.h"
#include "proc.h"
#include "proc_user.h"
#include "proc.skel.h"
#include "procfs.h"
#include "util.h"
#include "family.h"
#include "verify.h"

static const char *const loss_names[LOSS_MAX] = {
	[LOSS_RINGBUF_FULL] = "ringbuf_full",
	[LOSS_PIDMAP_FULL] = "pid_map_full",
	[LOSS_TABLE_FULL] = "member_table_full",
	[LOSS_LATE] = "late_classification",
	[LOSS_EXIT_MISSED] = "exit_missed",
};

const char *proc_loss_name(enum proc_loss l)
{
	return l < LOSS_MAX ? loss_names[l] : "unknown";
}

static void trace_event(struct proc_tracker *t, const char *what, uint32_t pid, uint32_t ppid,
			int agent, const char *detail_key, const char *detail)
{
	struct trace_field f[2];
	char ppidstr[16];
	int n = 1;

	if (!t->trace.f)
		return;
	snprintf(ppidstr, sizeof(ppidstr), "%u", ppid);
	f[0] = (struct trace_field){ "ppid", ppidstr, true };
	if (detail_key)
		f[n++] = (struct trace_field){ detail_key, detail, false };
	trace_emit(&t->trace, what, agent >= 0 ? t->cfg->agents[agent].name : "-", pid, f, n);
}

static void member_hint_add(struct proc_tracker *t, uint32_t pid, int64_t delta)
{
	__atomic_fetch_add(&t->member_hint[pid & MEMBER_HINT_MASK], delta, __ATOMIC_SEQ_CST);
}

/*
 * Makes pid a member of agent in the kernel. As in the BPF programs
 * (member_add()), member_hint counts the entry before it exists; a second
 * round covers an entry that the kernel removed between the two updates.
 */
static void set_kernel_agent(struct proc_tracker *t, uint32_t pid, uint32_t agent)
{
	int fd = bpf_map__fd(t->skel->maps.agent_pids);
	int round;

	for (round = 0; round < 2; round++) {
		member_hint_add(t, pid, 1);
		if (bpf_map_update_elem(fd, &pid, &agent, BPF_NOEXIST) == 0)
			return;
		member_hint_add(t, pid, -1);
		if (errno != EEXIST)
			break;
		if (bpf_map_update_elem(fd, &pid, &agent, BPF_EXIST) == 0)
			return;
		if (errno != ENOENT)
			break;
	}
	t->lc->dropped++;
}

/*
 * Removes pid from the kernel's members at its exit. Normally the kernel
 * did already; an entry still there was re-added by a late classification,
 * or is a new process that got the pid and inherited membership before this
 * exit was read: remembered, so that its fork event puts it back.
 */
static void clear_kernel_agent(struct proc_tracker *t, uint32_t pid)
{
	if (bpf_map_delete_elem(bpf_map__fd(t->skel->maps.agent_pids), &pid))
		return;
	member_hint_add(t, pid, -1);
	t->cleared[t->ncleared++ % PROC_CLEARED_MAX] = pid;
}

static bool was_cleared(struct proc_tracker *t, uint32_t pid)
{
	int i;

	for (i = 0; i < PROC_CLEARED_MAX && i < t->ncleared; i++) {
		if (t->cleared[i] == pid) {
			t->cleared[i] = 0;
			return true;
		}
	}
	return false;
}

static void read_cgroups(struct proc_tracker *t, const struct proc_exec_event *e,
			 char *buf, size_t len)
{
	char path[64];

	/*
	 * The cgroups the kernel saw at exec: /proc/PID/cgroup of a process
	 * that is exiting already shows the root cgroup on v1 hierarchies.
	 * /proc is the fallback for a cgroup created too recently to be known.
	 */
	if (cgroup_paths(&t->cgroups, (const uint64_t *)e->cgroup_ids, PROC_CGROUP_SLOTS, buf, len) == 0)
		return;
	snprintf(path, sizeof(path), "/proc/%u/cgroup", e->hdr.pid);
	if (read_file(path, buf, len) < 0)
		buf[0] = '\0';
}

/* A classification that arrives after the kernel stopped reporting for it. */
static bool classified_late(struct proc_tracker *t, const struct proc_event_hdr *h)
{
	return now_ns(CLOCK_BOOTTIME) - h->ts_ns >= t->window_ns;
}

/*
 * Members classified late, checked once the ring is drained: an exit the
 * kernel did report (within the window) has been handled by then, so a
 * member still listed whose process is gone really lost its exit.
 */
static void check_late(struct proc_tracker *t)
{
	struct member *m;
	int i;

	for (i = 0; i < t->nlate; i++) {
		m = lc_find(t->lc, t->late_pids[i]);
		if (!m)
			continue;
		if (procfs_add_usage(m->pid, m->start_ns, &(struct agent_usage){ 0 })) {
			lc_forget(t->lc, m->pid);
			t->late++;
		} else {
			set_kernel_agent(t, m->pid, m->agent);
		}
	}
	t->nlate = 0;
}

static void on_exec(struct proc_tracker *t, const struct proc_exec_event *e)
{
	char cmdline[PROC_ARGS_LEN + 1], exe[PATH_MAX], comm[PROC_COMM_LEN];
	char cgroups[4096] = "";
	struct proc_identity id = { .cmdline = cmdline, .comm = comm, .exe = e->exe };
	uint32_t pid = e->hdr.pid;
	struct member *m;
	int idx;

	procfs_join_args(cmdline, sizeof(cmdline), e->args,
			 e->args_len < PROC_ARGS_LEN ? e->args_len : PROC_ARGS_LEN);
	memcpy(comm, e->comm, sizeof(comm));
	comm[sizeof(comm) - 1] = '\0';
	/*
	 * The exe matcher sees the path /proc/PID/exe shows, as the startup
	 * scan does; the kernel's copy of the exec'd path if the process is gone.
	 */
	if (t->want_exe) {
		char link[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%u/exe", pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = '\0';
			id.exe = exe;
		} else if (e->exe[0] == '/' && realpath(e->exe, exe)) {
			id.exe = exe;
		}
	}
	if (t->want_cgroups) {
		read_cgroups(t, e, cgroups, sizeof(cgroups));
		id.cgroups = cgroups;
	}
	idx = config_match(t->cfg, &id);

	m = lc_find(t->lc, pid);
	if (m) {
		/* Exec into something no agent claims: the member keeps its agent. */
		lc_exec(t->lc, pid, idx);
		if (idx >= 0)
			set_kernel_agent(t, pid, idx);
		idx = m->agent;
	} else if (idx >= 0) {
		if (lc_start(t->lc, pid, idx, e->hdr.start_ns, LC_NEW)) {
			idx = -1;	/* table full: counted there */
		} else if (classified_late(t, &e->hdr) && t->nlate < PROC_LATE_MAX) {
			t->late_pids[t->nlate++] = pid;
		} else {
			set_kernel_agent(t, pid, idx);
		}
	}
	if (idx >= 0)
		trace_event(t, "exec", pid, e->hdr.ppid, idx, "cmd", cmdline);
}

static void on_fork(struct proc_tracker *t, const struct proc_event_hdr *h)
{
	struct member *parent;
	int agent = -1;

	parent = lc_find(t->lc, h->ppid);
	if (parent) {
		agent = parent->agent;
		if (lc_start(t->lc, h->pid, agent, h->start_ns,
			     LC_NEW | (parent->flags & LC_HELPER ? LC_HELPER : LC_FORKED)) == 0 &&
		    (h->agent != (uint32_t)agent || was_cleared(t, h->pid)))
			set_kernel_agent(t, h->pid, agent);
	}
	if (agent >= 0)
		trace_event(t, "fork", h->pid, h->ppid, agent, NULL, NULL);
}

static void on_exit_event(struct proc_tracker *t, const struct proc_exit_event *e)
{
	struct agent_usage final = {
		.utime_ns = e->utime_ns, .stime_ns = e->stime_ns,
		.rchar = e->rchar, .wchar = e->wchar,
	};
	uint32_t pid = e->hdr.pid;
	enum exit_reason r = exit_reason_of(e->exit_code, e->oom_killed);
	char detail[64];
	struct member *m;
	int agent = -1;

	m = lc_find(t->lc, pid);
	if (!m)
		return;
	agent = m->agent;
	lc_exit(t->lc, pid, e->exit_code, e->oom_killed, &final);
	/* Our classification may have re-added the pid after the kernel's delete. */
	clear_kernel_agent(t, pid);
	if (r == REASON_SIGNAL || r == REASON_OOM)
		snprintf(detail, sizeof(detail), "%s signal=%d lifetime=%.3fs", exit_reason_name(r),
			 e->exit_code & 0x7f, (e->hdr.ts_ns - e->hdr.start_ns) / 1e9);
	else
		snprintf(detail, sizeof(detail), "%s status=%d lifetime=%.3fs", exit_reason_name(r),
			 (e->exit_code >> 8) & 0xff, (e->hdr.ts_ns - e->hdr.start_ns) / 1e9);
	trace_event(t, "exit", pid, e->hdr.ppid, agent, "reason", detail);
}

static void on_listen(struct proc_tracker *t, const struct proc_listen_event *e)
{
	struct proc_info info;
	struct proc_identity id;
	uint16_t port = e->port;
	struct member *m;
	int idx, started = 0;
	char detail[16];

	if (procfs_read_info(e->hdr.pid, &info, t->want_cgroups))
		return;
	id = (struct proc_identity){ info.cmdline, info.comm, info.exe,
				     t->want_cgroups ? info.cgroups : NULL, &port, 1 };
	idx = config_match(t->cfg, &id);
	if (idx < 0)
		return;
	m = lc_find(t->lc, e->hdr.pid);
	/* First match wins: the port may reveal an agent listed earlier. */
	if (m && ((m->flags & LC_HELPER) || (int)m->agent > idx))
		lc_exec(t->lc, e->hdr.pid, idx);
	else if (!m)
		started = lc_start(t->lc, e->hdr.pid, idx, info.start_ns, LC_NEW) == 0;
	m = lc_find(t->lc, e->hdr.pid);
	if (m)
		set_kernel_agent(t, e->hdr.pid, m->agent);
	snprintf(detail, sizeof(detail), "%u", port);
	if (started)
		trace_event(t, "listen", e->hdr.pid, info.ppid, idx, "port", detail);
}

static int handle_event(void *ctx, void *data, size_t len)
{
	struct proc_tracker *t = ctx;
	const struct proc_event_hdr *h = data;

	if (len < sizeof(*h) || h->type > PROC_EV_LISTEN)
		return 0;
	t->events[h->type]++;
	switch (h->type) {
	case PROC_EV_EXEC:
		if (len >= sizeof(struct proc_exec_event))
			on_exec(t, data);
		break;
	case PROC_EV_FORK:
		on_fork(t, h);
		break;
	case PROC_EV_EXIT:
		if (len >= sizeof(struct proc_exit_event))
			on_exit_event(t, data);
		break;
	case PROC_EV_LISTEN:
		if (len >= sizeof(struct proc_listen_event))
			on_listen(t, data);
		break;
	}
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("AGENTBPF_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

int proc_tracker_open(struct proc_tracker *t, const struct config *cfg, struct lifecycle *lc,
		      pthread_mutex_t *lock, const char *btf_path, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
	int i, ret;

	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->lc = lc;
	t->lock = lock;
	t->window_ns = 2000000000ull;
	for (i = 0; i < cfg->nagents; i++) {
		t->want_cgroups |= cfg->agents[i].match.cgroup != NULL;
		t->want_exe |= cfg->agents[i].match.exe != NULL;
	}
	t->want_ports = config_uses_ports(cfg);

	libbpf_set_print(libbpf_quiet);
	t->skel = proc_bpf__open_opts(&opts);
	if (!t->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open BPF object: %s", strerror(-ret));
		return ret;
	}
	t->skel->rodata->watch_listen = t->want_ports;
	t->skel->rodata->want_cgroups = t->want_cgroups;
	t->skel->rodata->classify_window_ns = t->window_ns;
	bpf_map__set_max_entries(t->skel->maps.agent_pids, cfg->max_processes);

	ret = family_load(t->skel->skeleton, &lifecycle_family, err, errlen);
	if (ret)
		goto fail;
	t->member_hint = mmap(NULL, MEMBER_HINT_BYTES, PROT_READ | PROT_WRITE,
			      MAP_SHARED, bpf_map__fd(t->skel->maps.member_hint), 0);
	if (t->member_hint == MAP_FAILED) {
		t->member_hint = NULL;
		ret = -errno;
		snprintf(err, errlen, "cannot map the member hint table: %s", strerror(-ret));
		goto fail;
	}
	ret = family_attach(t->skel->skeleton, &lifecycle_family, "the sched and sock tracepoints",
			    err, errlen);
	if (ret)
		goto fail;
	return 0;
fail:
	proc_tracker_close(t);
	return ret;
}

int proc_share_members(const struct proc_tracker *t, struct bpf_map *agent_pids,
		       struct bpf_map *member_hint)
{
	int ret;

	/* reuse_fd takes the map's sizes from the fd too. */
	ret = bpf_map__reuse_fd(agent_pids, bpf_map__fd(t->skel->maps.agent_pids));
	if (!ret)
		ret = bpf_map__reuse_fd(member_hint, bpf_map__fd(t->skel->maps.member_hint));
	return ret;
}

int proc_tracker_map_events(struct proc_tracker *t, char *err, size_t errlen)
{
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.proc_events), handle_event, t, NULL);
	if (!t->rb) {
		snprintf(err, errlen, "cannot map the event ring buffer: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

struct scan_entry {
	uint32_t pid, ppid;
	int agent;
	uint64_t start_ns;
};

static int cmp_pid(const void *a, const void *b)
{
	const struct scan_entry *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static struct scan_entry *find_entry(struct scan_entry *v, size_t n, uint32_t pid)
{
	struct scan_entry key = { .pid = pid };

	return bsearch(&key, v, n, sizeof(*v), cmp_pid);
}

/*
 * The listening sockets of pid's network namespace, read once per namespace
 * (pods each have their own); a few namespaces are kept at a time.
 */
struct netns_tables {
	uint64_t ns[8];
	struct listen_table lt[8];
	unsigned int next;
};

static const struct listen_table *listen_table_of(struct netns_tables *nt, uint32_t pid)
{
	uint64_t ns = procfs_netns(pid);
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(nt->ns); i++) {
		if (nt->ns[i] == ns && ns)
			return &nt->lt[i];
	}
	i = nt->next++ % ARRAY_SIZE(nt->ns);
	procfs_listen_free(&nt->lt[i]);
	nt->ns[i] = 0;
	if (procfs_listen_table(&nt->lt[i], pid))
		return &nt->lt[i];	/* empty: no ports */
	nt->ns[i] = ns;
	return &nt->lt[i];
}

int proc_tracker_scan(struct proc_tracker *t)
{
	struct netns_tables nt = { 0 };
	struct scan_entry *v = NULL, *p, *anc;
	struct proc_info *info = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	int depth, ret = -1;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return -1;
	info = malloc(sizeof(*info));
	if (!info)
		goto cleanup;
	while ((de = readdir(d))) {
		struct proc_identity id;
		uint32_t pid = strtoul(de->d_name, NULL, 10);

		if (!pid || procfs_read_info(pid, info, t->want_cgroups))
			continue;
		if (t->want_ports)
			info->nports = procfs_ports_of(pid, listen_table_of(&nt, pid), info->ports,
						       CONFIG_MAX_PORTS);
		id = (struct proc_identity){ info->cmdline, info->comm, info->exe,
					     t->want_cgroups ? info->cgroups : NULL,
					     info->ports, info->nports };
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			p = realloc(v, cap * sizeof(*v));
			if (!p)
				goto cleanup;
			v = p;
		}
		v[n++] = (struct scan_entry){ pid, info->ppid, config_match(t->cfg, &id), info->start_ns };
	}
	qsort(v, n, sizeof(*v), cmp_pid);

	pthread_mutex_lock(t->lock);
	for (i = 0; i < n; i++) {
		p = &v[i];
		/* Children inherit the agent of their nearest matched ancestor. */
		for (anc = p, depth = 0; anc && anc->agent < 0 && depth < 64; depth++)
			anc = anc->ppid ? find_entry(v, n, anc->ppid) : NULL;
		if (!anc || anc->agent < 0)
			continue;
		if (lc_start(t->lc, p->pid, anc->agent, p->start_ns, anc == p ? 0 : LC_HELPER) == 0)
			set_kernel_agent(t, p->pid, anc->agent);
	}
	pthread_mutex_unlock(t->lock);
	for (i = 0; i < n; i++) {
		struct member *m = lc_find(t->lc, v[i].pid);

		if (m)
			trace_event(t, "found", v[i].pid, v[i].ppid, m->agent, NULL, NULL);
	}
	ret = 0;
cleanup:
	closedir(d);
	for (i = 0; i < ARRAY_SIZE(nt.lt); i++)
		procfs_listen_free(&nt.lt[i]);
	free(info);
	free(v);
	return ret;
}

int proc_tracker_poll(struct proc_tracker *t, int timeout_ms)
{
	struct epoll_event ev;
	int ret;

	/*
	 * Wait unlocked, then handle everything queued under one lock: a fork
	 * and the exec that follows it are usually handled together, so a
	 * scrape never sees the half-classified state in between.
	 */
	ret = epoll_wait(ring_buffer__epoll_fd(t->rb), &ev, 1, timeout_ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	pthread_mutex_lock(t->lock);
	ret = ring_buffer__consume(t->rb);
	check_late(t);
	pthread_mutex_unlock(t->lock);
	return ret < 0 ? ret : 0;
}

void proc_tracker_losses(struct proc_tracker *t, uint64_t out[LOSS_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), fd, i;
	uint32_t key;
	uint64_t *vals;

	memset(out, 0, sizeof(uint64_t) * LOSS_MAX);
	vals = calloc(ncpu > 0 ? ncpu : 1, sizeof(*vals));
	fd = bpf_map__fd(t->skel->maps.proc_drops);
	for (key = 0; vals && key < DROP_MAX; key++) {
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		for (i = 0; i < ncpu; i++)
			out[key == DROP_RINGBUF_FULL ? LOSS_RINGBUF_FULL : LOSS_PIDMAP_FULL] += vals[i];
	}
	free(vals);
	out[LOSS_TABLE_FULL] = t->lc->dropped;
	out[LOSS_LATE] = t->late;
	out[LOSS_EXIT_MISSED] = t->exits_missed;
}

void proc_tracker_close(struct proc_tracker *t)
{
	if (t->member_hint)
		munmap(t->member_hint, MEMBER_HINT_BYTES);
	t->member_hint = NULL;
	ring_buffer__free(t->rb);
	t->rb = NULL;
	proc_bpf__destroy(t->skel);
	t->skel = NULL;
	cgroup_cache_free(&t->cgroups);
}

/* ---- the lifecycle family's operations (family.h) ---- */

static int lifecycle_open(void *t, const struct family_env *env, char *err, size_t errlen)
{
	return proc_tracker_open(t, env->cfg, env->lc, env->lock, env->btf, err, errlen);
}

static void lifecycle_render_maps(void *p, struct expo *e, bool capacity)
{
	struct proc_tracker *t = p;
	struct label l = { "map", "agent_pids" };

	expo_sample(e, &l, 1, capacity ? (uint64_t)t->cfg->max_processes : t->lc->count);
}

static void lifecycle_drops(void *t, uint64_t *out)
{
	proc_tracker_losses(t, out);
}

static const char *lifecycle_drop_name(int reason)
{
	return proc_loss_name(reason);
}

static struct bpf_object *lifecycle_object(void *p)
{
	struct proc_tracker *t = p;

	return t->skel ? t->skel->obj : NULL;
}

static const char *lifecycle_hook(void)
{
	return "tp_btf";
}

static void lifecycle_describe(void *t, const struct family_env *env, family_say_fn say)
{
	say(FAMILY_OK, "load probes", "lifecycle programs loaded and attached (tp_btf)");
}

static void lifecycle_close(void *t)
{
	proc_tracker_close(t);
}

_Static_assert(LOSS_MAX <= FAMILY_MAX_DROPS, "the daemon renders FAMILY_MAX_DROPS reasons");

const struct family_ops lifecycle_family = {
	.name = "lifecycle", .title = "lifecycle", .off = "agent metrics",
	.size = sizeof(struct proc_tracker), .ndrops = LOSS_MAX, FAMILY_OPS(lifecycle),
};
