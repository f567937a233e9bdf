/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which hook the socket families (http, bus) attach to on this kernel. The
 * sock_recv_length / sock_send_length tracepoints came in Linux 6.3; before
 * them the same calls are caught by fexit on sock_recvmsg / tcp_sendmsg,
 * which the tracepoints sit in. Either way the programs hand the same
 * (socket, bytes, direction) to the same parser.
 */
#ifndef AGENTBPF_SOCKHOOK_H
#define AGENTBPF_SOCKHOOK_H

#include <stdbool.h>

enum sock_hook {
	SOCK_HOOK_TRACEPOINT,	/* tp_btf/sock_recv_length, sock_send_length */
	SOCK_HOOK_FEXIT,	/* fexit/sock_recvmsg, sock_sendmsg */
};

/* The hook to use here: the tracepoints when the kernel has them. */
enum sock_hook sock_hook_choose(void);
struct bpf_program;

/*
 * Loads a family's programs for the hook h and leaves the others out:
 * tp_* are the tracepoint programs, fexit_* those of the fallback.
 */
void sock_hook_select(enum sock_hook h, struct bpf_program *tp_recv, struct bpf_program *tp_send,
		      struct bpf_program *fexit_recv, struct bpf_program *fexit_send);
/* "tp_btf" or "fexit", the value of the hook label. */
const char *sock_hook_name(enum sock_hook h);
/* What the family's programs are attached to, for messages. */
const char *sock_hook_targets(enum sock_hook h);
/*
 * Does the kernel have the tracepoint system:event? Asks tracefs when it is
 * mounted, else the kernel's BTF (parsing it costs ~50 ms).
 */
bool kernel_has_tracepoint(const char *system, const char *event);

#endif
