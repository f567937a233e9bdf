/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * LLM API calls: the bytes of an agent's calls to the hosts of the config's
 * llm_hosts, handed from bpf/http.bpf.c to the daemon (user/llm.c) through
 * a ring buffer, where the responses are read for model, token usage and
 * time to first token. Of a request only its body leaves the kernel, never
 * its head (Authorization, x-api-key); nothing is copied for any other
 * connection.
 */
#ifndef AGENTBPF_LLM_H
#define AGENTBPF_LLM_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define LLM_CHUNK		4096	/* bytes of one data event */
#define LLM_CHUNKS_PER_CALL	16	/* data events one socket or TLS call may send */
#define LLM_MAX_HOSTS		64	/* ids of llm_hosts' names, to providers */
#define LLM_MAX_PROVIDERS	32
#define LLM_RING_BYTES		(4 << 20)
#define LLM_POLL_MS		100	/* the reader reads the ring this often, woken or not */

enum llm_event_kind {
	LLM_EV_DATA,	/* bytes of a request body or of a response */
	LLM_EV_END,	/* the call ended: its times and status */
};

/* Of the messages, as bpf/http.bpf.c's enum dir. */
enum llm_dir { LLM_DIR_REQ, LLM_DIR_RESP };

/*
 * One event. A call is (pid, conn, seq); its data events come in order, a
 * gap in pos saying bytes were not sent (a cap, a full ring), and its end
 * event last.
 */
struct llm_event {
	__u64 ts_ns;		/* CLOCK_BOOTTIME: the bytes moved, or the call ended */
	__u64 conn;		/* the socket, or the SSL* (with pid) */
	__u64 start_ns;		/* END: the request's first byte */
	__u32 pos;		/* DATA: offset in the call's bytes of that direction;
				 * END: the response's bytes (capped) */
	__u32 seq;		/* the call's number on its connection */
	__u32 pid;
	__u32 agent;
	__u16 len;		/* DATA: bytes in data */
	__u16 code;		/* END: the response's status code, 0 if none */
	__u8 kind;		/* enum llm_event_kind */
	__u8 dir;		/* enum llm_dir */
	__u8 provider;		/* index + 1 into the config's providers */
	__u8 status;		/* END: enum http_status as the kernel framed it */
	char data[LLM_CHUNK];
};

#define LLM_EVENT_HDR	((unsigned long)&((struct llm_event *)0)->data)

/* The bytes sent in the current second, against the config's llm_rate; all sent. */
struct llm_budget {
	__u64 second;
	__u64 bytes;
	__u64 sent;
};

#endif /* AGENTBPF_LLM_H */
