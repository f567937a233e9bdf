/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Least privilege after start: once the probes are loaded and attached,
 * every thread of the daemon gives up the capabilities its later work does
 * not need (effective, permitted, inheritable, ambient and bounding sets),
 * as ebpf_exporter's --capabilities.keep does. What stays, and why, is
 * caps_kept[]; a daemon started with fewer keeps the intersection.
 */
#ifndef AGENTBPF_CAPS_H
#define AGENTBPF_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cap_kept {
	int cap;
	const char *name;
	const char *why;
};

/* What the daemon may keep; with_uprobes: TLS uprobes still go on later. */
int caps_keep_list(bool with_uprobes, const struct cap_kept **out);
/* The bit mask of that list. */
uint64_t caps_keep_mask(bool with_uprobes);

/* The calling thread's effective set. */
uint64_t caps_held(void);

/*
 * Every thread of this process down to the kept set (those it has).
 * Returns 0, or -errno with err naming what failed.
 */
int caps_drop(bool with_uprobes, char *err, size_t errlen);

#endif
