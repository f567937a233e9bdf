// SPDX-License-Identifier: GPL-2.0
/*
 * Process lifecycle: who is a member of which agent, and how members end.
 *
 * Userspace classifies every exec (it needs argv, which only exists at exec
 * time for short-lived processes); the kernel handles inheritance on fork so
 * a child is tracked before it can run, and reports member exits with the
 * exit code the parent would see. No syscall tracepoints: exec/fork/exit are
 * scheduler tracepoints that fire once per process, not per syscall.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "proc.h"

#define TCP_LISTEN	10
#define SIGKILL		9
#define ENOENT		2
#define E2BIG		7
#define EEXIST		17

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader: report listen() only when a config matcher uses ports. */
const volatile bool watch_listen = false;
/* Set by the loader when a config matcher uses cgroups. */
const volatile bool want_cgroups = false;
/*
 * How long after its exec a process that is not (yet) a member still has its
 * forks and exit reported: userspace needs that long at most to read the exec
 * event and decide. Later classifications are detected and counted there.
 */
const volatile __u64 classify_window_ns = 2000000000ull;

/* tgid -> CLOCK_BOOTTIME of the exec userspace has not classified yet. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, u64);
} pending_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PROC_RINGBUF_SIZE);
} proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_MAX);
	__type(key, u32);
	__type(value, u64);
} proc_drops SEC(".maps");

/* When the daemon was last woken; racy updates only shift one wakeup. */
static u64 last_wakeup_ns;

/*
 * Waking the daemon for every exec costs each exec a cross-CPU wakeup (an
 * IPI, a VM exit on virtual machines). Wake it at most every
 * PROC_WAKEUP_MIN_NS, so an isolated exec is classified at once and a burst
 * costs one wakeup per interval, and whenever the ring is filling up.
 */
static __always_inline void submit(void *e)
{
	u64 queued = bpf_ringbuf_query(&proc_events, BPF_RB_AVAIL_DATA);
	u64 now = bpf_ktime_get_ns();
	bool wake = queued > PROC_RINGBUF_SIZE / 8 || now - last_wakeup_ns > PROC_WAKEUP_MIN_NS;

	if (wake)
		last_wakeup_ns = now;
	bpf_ringbuf_submit(e, wake ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void count_drop(u32 reason)
{
	u64 *cnt = bpf_map_lookup_elem(&proc_drops, &reason);

	if (cnt)
		(*cnt)++;
}

/* A non-member whose exec userspace may not have classified yet. */
static __always_inline u64 *recent_exec(u32 tgid)
{
	u64 *ts = bpf_map_lookup_elem(&pending_pids, &tgid);

	if (ts && bpf_ktime_get_boot_ns() - *ts < classify_window_ns)
		return ts;
	return NULL;
}

/*
 * The cgroups a process ran in, while it still exists: a matched process may
 * be gone before userspace could read /proc/PID/cgroup.
 */
static __always_inline void read_cgroup_ids(struct task_struct *task, u64 *ids)
{
	u32 off = bpf_core_field_offset(struct css_set, subsys);
	int n = bpf_core_enum_value(enum cgroup_subsys_id, CGROUP_SUBSYS_COUNT);
	struct cgroup_subsys_state *css;
	struct css_set *cs = task->cgroups;
	int i;

	ids[0] = bpf_get_current_cgroup_id();
	for (i = 0; i < PROC_CGROUP_SLOTS - 1; i++) {
		ids[i + 1] = 0;
		if (i >= n)
			continue;
		css = NULL;
		bpf_probe_read_kernel(&css, sizeof(css), (void *)cs + off + i * sizeof(css));
		if (css)
			ids[i + 1] = BPF_CORE_READ(css, cgroup, kn, id);
	}
}

static __always_inline void fill_hdr(struct proc_event_hdr *hdr, u32 type,
				     struct task_struct *task, u32 agent)
{
	hdr->type = type;
	hdr->pid = task->tgid;
	hdr->ppid = task->real_parent->tgid;
	hdr->agent = agent;
	hdr->ts_ns = bpf_ktime_get_boot_ns();
	hdr->start_ns = task->start_boottime;
}

static __always_inline void member_hint_add(u32 tgid, s64 delta)
{
	u64 *hint = member_hint_of(tgid);

	if (hint)
		__sync_fetch_and_add(hint, delta);
}

/*
 * Adds (or re-points) a member, counted in member_hint before it can be
 * found: a socket hook must never see the entry with the hint still 0. An
 * entry already there (left from an exit we missed) is counted already; a
 * second round covers one that the daemon removed in between. The daemon's
 * set_kernel_agent() does the same.
 */
static __always_inline long member_add(u32 tgid, u32 agent)
{
	long err = 0;
	int round;

	for (round = 0; round < 2; round++) {
		member_hint_add(tgid, 1);
		err = bpf_map_update_elem(&agent_pids, &tgid, &agent, BPF_NOEXIST);
		if (!err)
			return 0;
		member_hint_add(tgid, -1);
		if (err != -EEXIST)
			return err;
		err = bpf_map_update_elem(&agent_pids, &tgid, &agent, BPF_EXIST);
		if (err != -ENOENT)
			return err;
	}
	return err;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	u32 tgid = task->tgid;
	u32 agent = AGENT_PENDING;
	struct proc_exec_event *e;
	unsigned long arg_start, arg_end, len;
	u64 now = bpf_ktime_get_boot_ns();
	u32 *cur;

	/*
	 * A member keeps its agent across exec unless userspace re-matches it;
	 * anything else is pending until userspace has looked at its argv.
	 */
	cur = member_agent(tgid);
	if (cur)
		agent = *cur;
	else
		bpf_map_update_elem(&pending_pids, &tgid, &now, BPF_ANY);

	e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count_drop(DROP_RINGBUF_FULL);
		return 0;
	}
	fill_hdr(&e->hdr, PROC_EV_EXEC, task, agent);
	if (want_cgroups)
		read_cgroup_ids(task, e->cgroup_ids);
	else
		__builtin_memset(e->cgroup_ids, 0, sizeof(e->cgroup_ids));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->exe, sizeof(e->exe), bprm->interp);

	arg_start = task->mm->arg_start;
	arg_end = task->mm->arg_end;
	len = arg_end - arg_start;
	if (len > PROC_ARGS_LEN)
		len = PROC_ARGS_LEN;
	if (bpf_probe_read_user(e->args, len, (void *)arg_start))
		len = 0;
	e->args_len = len;
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 ptgid = parent->tgid;
	u32 ctgid = child->tgid;
	struct proc_event_hdr *e;
	u32 *agent, idx;
	u64 *exec_ts;
	long err;

	/* New threads share the parent's tgid and are not new processes. */
	if (child->pid != ctgid)
		return 0;
	agent = member_agent(ptgid);
	if (agent) {
		/* Inherit in-kernel so the child is tracked before it first runs. */
		idx = *agent;
		err = member_add(ctgid, idx);
		if (err == -E2BIG)
			count_drop(DROP_PIDMAP_FULL);
		else if (err)
			idx = AGENT_PENDING;	/* raced with the daemon: it adds the child */
	} else {
		exec_ts = recent_exec(ptgid);
		if (!exec_ts)
			return 0;
		/* Userspace decides once it has classified the parent. */
		idx = AGENT_PENDING;
		bpf_map_update_elem(&pending_pids, &ctgid, exec_ts, BPF_ANY);
	}

	e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count_drop(DROP_RINGBUF_FULL);
		return 0;
	}
	fill_hdr(e, PROC_EV_FORK, child, idx);
	e->ppid = ptgid;
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	u32 tgid = task->tgid;
	struct proc_exit_event *e;
	struct signal_struct *sig;
	u32 *agent, idx;
	s32 code;

	/*
	 * Only the death of the whole thread group ends a process. The last
	 * thread out sees live == 0; when several threads race there, the
	 * atomic delete of the map entry lets exactly one of them report.
	 */
	sig = task->signal;
	if (sig->live.counter != 0)
		return 0;
	agent = member_agent(tgid);
	if (agent) {
		idx = *agent;
		if (bpf_map_delete_elem(&agent_pids, &tgid))
			return 0;
		member_hint_add(tgid, -1);
		bpf_map_delete_elem(&pending_pids, &tgid);
	} else {
		if (!recent_exec(tgid))
			return 0;
		if (bpf_map_delete_elem(&pending_pids, &tgid))
			return 0;
		idx = AGENT_PENDING;
	}

	e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count_drop(DROP_RINGBUF_FULL);
		return 0;
	}
	fill_hdr(&e->hdr, PROC_EV_EXIT, task, idx);
	code = task->exit_code;
	e->exit_code = code;
	/*
	 * oom_mm is set on the victim's signal struct by mark_oom_victim();
	 * a task that was merely marked while already exiting keeps its own
	 * exit code, so only a SIGKILL death counts as an OOM kill.
	 */
	e->oom_killed = sig->oom_mm && (code & 0x7f) == SIGKILL;
	/* Dead threads were folded into signal_struct; add the last one. */
	e->utime_ns = sig->utime + task->utime;
	e->stime_ns = sig->stime + task->stime;
	if (bpf_core_field_exists(task->ioac)) {
		e->rchar = sig->ioac.rchar + task->ioac.rchar;
		e->wchar = sig->ioac.wchar + task->ioac.wchar;
	} else {
		e->rchar = 0;
		e->wchar = 0;
	}
	submit(e);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_listen, const struct sock *sk, int oldstate, int newstate)
{
	struct proc_listen_event *e;
	struct task_struct *task;

	if (!watch_listen || newstate != TCP_LISTEN)
		return 0;
	e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count_drop(DROP_RINGBUF_FULL);
		return 0;
	}
	task = bpf_get_current_task_btf();
	fill_hdr(&e->hdr, PROC_EV_LISTEN, task, AGENT_NONE);
	e->port = sk->__sk_common.skc_num;
	e->pad = 0;
	submit(e);
	return 0;
}
