/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the socket probe families (http, bus) share: whose connection a
 * socket is, where a recvmsg or sendmsg's bytes are in user memory, and
 * byte tricks for scanning them. Include after proc.h (member_agent()).
 */
#ifndef AGENTBPF_SOCKIO_BPF_H
#define AGENTBPF_SOCKIO_BPF_H

#include <bpf/bpf_endian.h>
#include "l7/bytes.h"

#define MSG_PEEK	2
#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6

/*
 * The state a family keeps in a socket's storage, if it has any. Most
 * sockets on a host have no BPF storage at all: a plain load of the pointer
 * spares them the helper call.
 */
static __always_inline void *sk_state(void *map, const struct sock *sk)
{
	if (!sk->sk_bpf_storage)
		return NULL;
	return bpf_sk_storage_get(map, (struct sock *)sk, NULL, 0);
}

/* The clock of a call (~30 ns here), read once and only if a value needs it. */
static __always_inline u64 clock_of(u64 *now)
{
	if (!*now)
		*now = bpf_ktime_get_boot_ns();
	return *now;
}

/* One more in a family's per-CPU array of drop counters. */
static __always_inline void count_in(void *map, u32 reason)
{
	u64 *cnt = bpf_map_lookup_elem(map, &reason);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

#define SOCKIO_MAX_PORTS	8

/* Is the socket's remote port (host order) one of the first n of ports? */
static __always_inline bool remote_port_in(const struct sock *sk, const volatile __u16 *ports,
					   u32 n)
{
	u16 port = bpf_ntohs(sk->__sk_common.skc_dport);
	int i;

	for (i = 0; i < SOCKIO_MAX_PORTS; i++) {
		if (i >= n)
			break;
		if (ports[i] == port)
			return true;
	}
	return false;
}

/*
 * The agent of the calling task when it is a member and sk is a TCP socket
 * (v4 or v6), else -1: what a family checks before giving a connection
 * state. *tgid is the caller's process.
 */
static __always_inline int member_tcp(const struct sock *sk, u32 *tgid)
{
	u32 *agent;
	u16 family;

	*tgid = bpf_get_current_pid_tgid() >> 32;
	agent = member_agent(*tgid);
	if (!agent || *agent >= AGENTBPF_MAX_AGENTS)
		return -1;
	family = sk->__sk_common.skc_family;
	if (sk->sk_protocol != IPPROTO_TCP || (family != AF_INET && family != AF_INET6))
		return -1;
	return *agent;
}

/* Where the bytes of this recvmsg/sendmsg are in user memory. */
struct io {
	const char *buf;	/* the first (or only) buffer */
	u32 len;		/* readable bytes at buf */
	u32 iovcnt;		/* readv/writev/recvmsg/sendmsg: buffers at iov */
	const struct iovec *iov;
};

#if defined(__TARGET_ARCH_x86)
#define NR_READ 0
#define NR_WRITE 1
#define NR_READV 19
#define NR_WRITEV 20
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47
/* regs is a trusted kernel pointer: plain (CO-RE relocated) loads, no helper calls. */
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define SYSCALL_ARG2(regs) ((regs)->si)
#define SYSCALL_ARG3(regs) ((regs)->dx)
#elif defined(__TARGET_ARCH_arm64)
#define NR_READ 63
#define NR_WRITE 64
#define NR_READV 65
#define NR_WRITEV 66
#define NR_SENDTO 206
#define NR_RECVFROM 207
#define NR_SENDMSG 211
#define NR_RECVMSG 212
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define SYSCALL_ARG2(regs) ((regs)->regs[1])
#define SYSCALL_ARG3(regs) ((regs)->regs[2])
#endif

/*
 * Inlined (a call costs a return thunk on some CPUs), so it keeps to 32
 * bytes of stack: Linux 6.1 refuses call chains over 512 bytes, and this
 * sits in the frame of the parse's outermost function.
 */
static __always_inline void find_io(struct io *io, int ret)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	long nr = SYSCALL_NR(regs);
	unsigned long arg = SYSCALL_ARG2(regs);
	unsigned long cnt = SYSCALL_ARG3(regs);
	const struct iovec *iovp;
	/* Of a msghdr only where its buffers are: msg_iov, msg_iovlen. */
	struct {
		const struct iovec *iov;
		u64 iovlen;
	} msg;
	struct iovec iov;

	io->buf = NULL;
	io->len = 0;
	io->iovcnt = 0;
	io->iov = NULL;
	switch (nr) {
	case NR_READ:
	case NR_WRITE:
	case NR_RECVFROM:
	case NR_SENDTO:
		io->buf = (const char *)arg;
		io->len = ret;
		return;
	case NR_READV:
	case NR_WRITEV:
		iovp = (const struct iovec *)arg;
		break;
	case NR_RECVMSG:
	case NR_SENDMSG:
		if (bpf_probe_read_user(&msg, sizeof(msg),
					(void *)arg + offsetof(struct user_msghdr, msg_iov)))
			return;
		iovp = msg.iov;
		cnt = msg.iovlen;
		break;
	default:
		/* sendfile, splice: the bytes are not in user memory. */
		return;
	}
	if (!iovp || !cnt || bpf_probe_read_user(&iov, sizeof(iov), iovp))
		return;
	io->iov = iovp;
	io->iovcnt = cnt;
	io->buf = iov.iov_base;
	io->len = iov.iov_len < (u64)ret ? iov.iov_len : (u32)ret;
}

#endif /* AGENTBPF_SOCKIO_BPF_H */
