/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket-call layer the socket families (http, bus) plug into.
 *
 * Which hook: the sock_recv_length / sock_send_length tracepoints came in
 * Linux 6.3; before them the same calls are caught by fexit on
 * sock_recvmsg / tcp_sendmsg, which the tracepoints sit in. Either way the
 * programs hand the same (socket, bytes, direction) to the same parser.
 *
 * Who runs: with the tracepoints, one family's pair of programs (HTTP's,
 * the dispatcher) runs on every socket call and hands the calls on the bus
 * ports to the next family's (the bus) by a tail call through its program
 * array (slots enum http_next), so each call on the host pays one
 * tracepoint dispatch. With fexit each family attaches its own: the kernel
 * lets a program array serve programs of one attach prototype, and
 * sock_recvmsg's is not tcp_sendmsg's.
 */
#ifndef AGENTBPF_SOCKHOOK_H
#define AGENTBPF_SOCKHOOK_H

#include <stdbool.h>
#include <stdint.h>

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

/* The dispatch between the socket families of one daemon (or check). */
struct sock_dispatch {
	enum sock_hook hook;	/* sock_hook_choose()'s */
	int next_fd;		/* the dispatcher's program array, -1 while none */
};

void sock_dispatch_init(struct sock_dispatch *d);
/* The dispatcher loaded: with the tracepoint hook it runs the next family's programs. */
void sock_dispatch_offer(struct sock_dispatch *d, int prog_array_fd);
/*
 * Will the next family run from the dispatcher? Then its recv and send
 * programs load but are not attached, and sock_dispatch_join() hands them over.
 */
bool sock_dispatch_runs_next(const struct sock_dispatch *d);
int sock_dispatch_join(const struct sock_dispatch *d, struct bpf_program *recv,
		       struct bpf_program *send);
/* Takes the next family's programs out again, or they would run on after it closed. */
void sock_dispatch_leave(const struct sock_dispatch *d);
/* The dispatcher closes: later families attach their own programs. */
void sock_dispatch_withdraw(struct sock_dispatch *d);

#endif
