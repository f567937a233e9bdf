/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A probe family as the daemon sees it: one BPF object with its loader and
 * scrape-time reader behind one struct of operations, in the spirit of
 * node_exporter's collector registry. The daemon (run, trace) and check loop
 * over families[]: adding a family is its own files and one line there
 * (and NFAMILIES).
 */
#ifndef AGENTBPF_FAMILY_H
#define AGENTBPF_FAMILY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include "config.h"
#include "expo.h"
#include "trace.h"

struct lifecycle;
struct proc_tracker;
struct sock_dispatch;

/* What every family is opened with. */
struct family_env {
	const struct config *cfg;
	const char *btf;		/* a BTF file to use, or NULL for the kernel's */
	struct lifecycle *lc;		/* the member table the lifecycle family keeps */
	pthread_mutex_t *lock;		/* guards lc against the scrape thread */
	struct proc_tracker *proc;	/* the lifecycle family: membership maps and event ring */
	struct ring_buffer *rb;		/* with trace: the ring other families' events join */
	struct trace_out trace;		/* `agentbpf trace`'s output; .f NULL otherwise */
	struct sock_dispatch *sock;	/* the socket-call layer (sockhook.h) */
};

/* Drop reasons a family may have (each family asserts its own count). */
#define FAMILY_MAX_DROPS	32

/* check's verdicts, in the order of its tags. */
enum family_verdict { FAMILY_OK, FAMILY_INFO, FAMILY_FAIL };

/* check's printer: a verdict, what the line is about, a message. */
typedef void (*family_say_fn)(enum family_verdict v, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct family_ops {
	const char *name;	/* the family label; prefix of its programs' verifier figures */
	const char *title;	/* in messages: "the %s BPF programs" */
	const char *off;	/* what a failed open turns off, for the warning */
	size_t size;		/* of its tracker, the t of the operations */
	int ndrops;		/* its reasons of agentbpf_events_dropped_total, <= FAMILY_MAX_DROPS */
	/* Opens, loads and attaches; err gets one line naming the fix. */
	int (*open)(void *t, const struct family_env *env, char *err, size_t errlen);
	/* Its series of /metrics; NULL for lifecycle, whose the daemon renders with /proc's. */
	void (*render)(void *t, struct expo *e);
	/* agentbpf_bpf_map_entries, or with capacity agentbpf_bpf_map_capacity, samples. */
	void (*render_maps)(void *t, struct expo *e, bool capacity);
	void (*drops)(void *t, uint64_t *out);
	const char *(*drop_name)(int reason);
	struct bpf_object *(*object)(void *t);
	/* The hook label of agentbpf_probe_family_up, loaded or not. */
	const char *(*hook)(void);
	/* check: what was loaded, and how it runs. */
	void (*describe)(void *t, const struct family_env *env, family_say_fn say);
	/*
	 * Optional: work off the scrape path, called by the daemon's main
	 * thread (the one that keeps env->lc) about every PROC_POLL_MS.
	 */
	void (*tick)(void *t, const struct family_env *env);
	void (*close)(void *t);
};

/*
 * The operations of a family whose functions are named prefix_open,
 * prefix_render_maps and so on, for its struct family_ops.
 */
#define FAMILY_OPS(prefix)								\
	.open = prefix##_open, .render_maps = prefix##_render_maps, .drops = prefix##_drops,	\
	.drop_name = prefix##_drop_name, .object = prefix##_object, .hook = prefix##_hook,	\
	.describe = prefix##_describe, .close = prefix##_close

extern const struct family_ops lifecycle_family, http_family, bus_family;

/*
 * In the order they open, render and close. Lifecycle first: it owns the
 * membership maps and the event ring the others use, and only it is
 * required; HTTP before the bus, whose programs it dispatches.
 */
#define NFAMILIES	3
extern const struct family_ops *const families[NFAMILIES];

/* ---- the steps every loader repeats ---- */

/* The config's histogram bounds into a program's bounds_ns (ns); returns how many. */
uint32_t family_bounds_ns(const struct config *cfg, __u64 *out, uint32_t max);
/* The bus ports into a program's port list; returns how many. */
uint32_t family_bus_ports(const struct config *cfg, __u16 *out, uint32_t max);
/* Makes the object use the lifecycle family's membership maps (before loading). */
int family_share_members(const struct family_env *env, const struct family_ops *f,
			 struct bpf_map *agent_pids, struct bpf_map *member_hint, char *err,
			 size_t errlen);
/* Loads, with the verifier's figures kept under the family's name (verify.h). */
int family_load(struct bpf_object_skeleton *s, const struct family_ops *f, char *err,
		size_t errlen);
/* Attaches the programs left to attach to targets (for the message). */
int family_attach(struct bpf_object_skeleton *s, const struct family_ops *f, const char *targets,
		  char *err, size_t errlen);
/* With `agentbpf trace`, the family's event ring joins the lifecycle family's. */
int family_join_ring(const struct family_env *env, const struct family_ops *f,
		     struct bpf_map *events, ring_buffer_sample_fn cb, void *ctx, char *err,
		     size_t errlen);

#endif
