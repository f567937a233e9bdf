/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Process lifecycle probe family: shared between bpf/proc.bpf.c and
 * user/proc.c. The kernel keeps pid -> agent membership current and reports
 * the rare events (exec, fork of a member, exit of a member, listen) through
 * one ring buffer; everything per-request lives in other families.
 */
#ifndef AGENTBPF_PROC_H
#define AGENTBPF_PROC_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AGENTBPF_MAX_AGENTS	64
/* Default capacity of agent_pids; the loader resizes it from the config. */
#define AGENTBPF_MAX_PROCS	32768
/* Slots of member_hint: twice the default capacity keeps most of them 0. */
#define MEMBER_HINT_SLOTS	65536
#define MEMBER_HINT_MASK	(MEMBER_HINT_SLOTS - 1)
#define MEMBER_HINT_BYTES	(MEMBER_HINT_SLOTS * 8)	/* u64 counts */

/*
 * Event agent for a process that exec'd recently and is not a member (yet):
 * userspace decides from its own table, since it classified the exec first.
 * This is how a matched process that lives a millisecond is still counted.
 */
#define AGENT_PENDING		0xffffffffu
#define AGENT_NONE		0xfffffffeu

/*
 * Event ring: the daemon is woken at most every PROC_WAKEUP_MIN_NS (at once
 * after a quiet spell) or when an eighth of the ring is full, and drains it
 * every PROC_POLL_MS, so a burst of execs costs a few wakeups, not one each.
 */
#define PROC_RINGBUF_SIZE	(2 << 20)
#define PROC_POLL_MS		100
#define PROC_WAKEUP_MIN_NS	10000000ull

#define PROC_COMM_LEN		16
#define PROC_ARGS_LEN		512
#define PROC_EXE_LEN		256
/* cgroup ids of a new image: [0] the v2 cgroup, then one per v1 controller. */
#define PROC_CGROUP_SLOTS	16

enum proc_event_type {
	PROC_EV_EXEC = 1,
	PROC_EV_FORK,
	PROC_EV_EXIT,
	PROC_EV_LISTEN,
};

/* Why an event could not be delivered; indexes the proc_drops map. */
enum proc_drop_reason {
	DROP_RINGBUF_FULL,	/* bpf_ringbuf_reserve failed */
	DROP_PIDMAP_FULL,	/* agent_pids had no room for a new member */
	DROP_MAX,
};

struct proc_event_hdr {
	__u32 type;
	__u32 pid;		/* thread group id */
	__u32 ppid;		/* parent's thread group id */
	__u32 agent;		/* agent index, AGENT_PENDING or AGENT_NONE */
	__u64 ts_ns;		/* CLOCK_BOOTTIME of the event */
	__u64 start_ns;		/* task start, CLOCK_BOOTTIME */
};

struct proc_exec_event {
	struct proc_event_hdr hdr;
	/* kernfs ids (= inode numbers in cgroupfs); zeros unless cgroup matchers exist */
	__u64 cgroup_ids[PROC_CGROUP_SLOTS];
	__u32 args_len;		/* bytes of argv in args, NUL separated */
	char comm[PROC_COMM_LEN];
	char exe[PROC_EXE_LEN];	/* binprm interp: the file actually run */
	char args[PROC_ARGS_LEN];
};

struct proc_exit_event {
	struct proc_event_hdr hdr;
	__s32 exit_code;	/* wait status: status << 8 | signal */
	__u32 oom_killed;	/* chosen by the OOM killer and died of SIGKILL */
	__u64 utime_ns;
	__u64 stime_ns;
	__u64 rchar;
	__u64 wchar;
};

#ifdef __bpf__
/*
 * tgid -> agent index of every member process. Owned by the lifecycle
 * family; the other families' objects declare it through this header and
 * the loader makes them share the lifecycle object's map (reuse_fd).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AGENTBPF_MAX_PROCS);
	__type(key, u32);
	__type(value, u32);
} agent_pids SEC(".maps");

/*
 * member_hint[tgid & MEMBER_HINT_MASK]: how many members have a tgid ending
 * in those bits, never fewer than there are (raised before a member is added
 * to agent_pids, lowered after it is removed). A 0 turns a process away with
 * one array load, which the verifier inlines, where a hash lookup is a
 * helper call plus hashing: what every socket call and spawn of the host's
 * other processes pays. Shared like agent_pids; userspace maps it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, MEMBER_HINT_SLOTS);
	__type(key, u32);
	__type(value, u64);	/* a mapped array's values are 8-byte aligned anyway */
} member_hint SEC(".maps");

static __always_inline u64 *member_hint_of(u32 tgid)
{
	u32 slot = tgid & MEMBER_HINT_MASK;

	return bpf_map_lookup_elem(&member_hint, &slot);
}

/* The agent index of a member process, NULL for all others. */
static __always_inline u32 *member_agent(u32 tgid)
{
	u64 *hint = member_hint_of(tgid);

	if (!hint || !*hint)
		return NULL;
	return bpf_map_lookup_elem(&agent_pids, &tgid);
}
#endif

struct proc_listen_event {
	struct proc_event_hdr hdr;
	__u32 port;
	__u32 pad;
};

#endif /* AGENTBPF_PROC_H */
