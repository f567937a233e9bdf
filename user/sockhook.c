// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.h"
#include "sockhook.h"

#define TRACEFS_EVENTS	"/sys/kernel/tracing/events"

bool kernel_has_tracepoint(const char *system, const char *event)
{
	char path[256];

	if (access(TRACEFS_EVENTS, F_OK) == 0) {
		snprintf(path, sizeof(path), TRACEFS_EVENTS "/%s/%s", system, event);
		return access(path, F_OK) == 0;
	}
	return libbpf_find_vmlinux_btf_id(event, BPF_TRACE_RAW_TP) >= 0;
}

enum sock_hook sock_hook_choose(void)
{
	static int chosen = -1;

	if (chosen < 0)
		chosen = kernel_has_tracepoint("sock", "sock_recv_length") &&
			 kernel_has_tracepoint("sock", "sock_send_length") ?
			 SOCK_HOOK_TRACEPOINT : SOCK_HOOK_FEXIT;
	return chosen;
}

void sock_hook_select(enum sock_hook h, struct bpf_program *tp_recv, struct bpf_program *tp_send,
		      struct bpf_program *fexit_recv, struct bpf_program *fexit_send)
{
	bpf_program__set_autoload(tp_recv, h == SOCK_HOOK_TRACEPOINT);
	bpf_program__set_autoload(tp_send, h == SOCK_HOOK_TRACEPOINT);
	bpf_program__set_autoload(fexit_recv, h == SOCK_HOOK_FEXIT);
	bpf_program__set_autoload(fexit_send, h == SOCK_HOOK_FEXIT);
}

const char *sock_hook_name(enum sock_hook h)
{
	return h == SOCK_HOOK_FEXIT ? "fexit" : "tp_btf";
}

const char *sock_hook_targets(enum sock_hook h)
{
	return h == SOCK_HOOK_FEXIT ? "fexit on sock_recvmsg/tcp_sendmsg" :
				      "the sock_recv_length/sock_send_length tracepoints";
}

void sock_dispatch_init(struct sock_dispatch *d)
{
	d->hook = sock_hook_choose();
	d->next_fd = -1;
}

void sock_dispatch_offer(struct sock_dispatch *d, int prog_array_fd)
{
	if (d->hook == SOCK_HOOK_TRACEPOINT)
		d->next_fd = prog_array_fd;
}

bool sock_dispatch_runs_next(const struct sock_dispatch *d)
{
	return d->next_fd >= 0;
}

int sock_dispatch_join(const struct sock_dispatch *d, struct bpf_program *recv,
		       struct bpf_program *send)
{
	__u32 slot;
	int fd;

	for (slot = 0; slot < HTTP_NEXT_MAX; slot++) {
		fd = bpf_program__fd(slot == HTTP_NEXT_RECV ? recv : send);
		if (bpf_map_update_elem(d->next_fd, &slot, &fd, BPF_ANY))
			return -errno;
	}
	return 0;
}

void sock_dispatch_leave(const struct sock_dispatch *d)
{
	__u32 slot;

	for (slot = 0; d->next_fd >= 0 && slot < HTTP_NEXT_MAX; slot++)
		bpf_map_delete_elem(d->next_fd, &slot);
}

void sock_dispatch_withdraw(struct sock_dispatch *d)
{
	d->next_fd = -1;
}
