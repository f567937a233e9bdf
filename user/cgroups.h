/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgroup kernfs id -> path, for processes that are gone before their
 * /proc/PID/cgroup could be read. Ids are per hierarchy on cgroup v1, so the
 * cache is keyed by (hierarchy mount, id): slot 0 of an exec event is the
 * v2 cgroup, slot i + 1 the cgroup of controller i (the order of
 * /proc/cgroups). Built by walking the host's cgroup mounts; rebuilt when an
 * id is not known (a cgroup created since).
 */
#ifndef AGENTBPF_CGROUPS_H
#define AGENTBPF_CGROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "proc.h"

#define CGROUP_MAX_MOUNTS	32
/* The id slots of an exec event (include/proc.h). */
#define CGROUP_MAX_SLOTS	PROC_CGROUP_SLOTS

struct cgroup_entry;

struct cgroup_cache {
	struct cgroup_entry *slots;
	uint32_t mask;
	uint32_t count;
	int slot_mount[CGROUP_MAX_SLOTS];	/* hierarchy mount of each id slot, -1: none */
	uint64_t last_walk_ns;	/* CLOCK_MONOTONIC of the last rebuild */
	uint64_t walks;
};

/*
 * Writes "0::PATH\n" per known id (the /proc/PID/cgroup layout the matcher
 * reads) into out. Unknown ids trigger at most one rebuild per 100 ms;
 * returns -1 if some id stayed unknown.
 */
int cgroup_paths(struct cgroup_cache *cc, const uint64_t *ids, int nids, char *out, size_t len);
void cgroup_cache_free(struct cgroup_cache *cc);

#endif
