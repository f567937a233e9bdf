// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ftw.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cgroups.h"
#include "util.h"

#define REWALK_INTERVAL_NS	100000000ull
/* Bounds the cache on hosts with very many cgroups. */
#define MAX_CGROUPS		(1u << 18)

struct cgroup_entry {
	uint64_t id;		/* 0 = free */
	int mount;		/* which hierarchy the id belongs to */
	char *path;
};

/* nftw() takes no context pointer. */
static struct cgroup_cache *walking;
static size_t walk_root_len;
static int walk_mount;

static uint32_t slot_of(const struct cgroup_cache *cc, uint64_t id, int mount)
{
	return (uint32_t)(((id ^ ((uint64_t)mount << 48)) * 0x9E3779B97F4A7C15ull) >> 32) & cc->mask;
}

static struct cgroup_entry *find_slot(const struct cgroup_cache *cc, uint64_t id, int mount)
{
	uint32_t i;

	for (i = slot_of(cc, id, mount);
	     cc->slots[i].id && (cc->slots[i].id != id || cc->slots[i].mount != mount);
	     i = (i + 1) & cc->mask)
		;
	return &cc->slots[i];
}

/* Doubles the table; entries keep their strings. */
static int grow(struct cgroup_cache *cc)
{
	struct cgroup_entry *old = cc->slots;
	uint32_t i, oldsize = old ? cc->mask + 1 : 0, size = old ? 2 * oldsize : 1024;

	cc->slots = calloc(size, sizeof(*cc->slots));
	if (!cc->slots) {
		cc->slots = old;
		return -1;
	}
	cc->mask = size - 1;
	for (i = 0; i < oldsize; i++) {
		if (old[i].id)
			*find_slot(cc, old[i].id, old[i].mount) = old[i];
	}
	free(old);
	return 0;
}

static void cache_put(struct cgroup_cache *cc, uint64_t id, int mount, const char *path)
{
	struct cgroup_entry *e;

	if (!id || cc->count >= MAX_CGROUPS)
		return;
	if ((!cc->slots || 2 * (cc->count + 1) > cc->mask) && grow(cc))
		return;
	e = find_slot(cc, id, mount);
	if (e->id)
		return;
	e->path = strdup(path);
	if (e->path) {
		e->id = id;
		e->mount = mount;
		cc->count++;
	}
}

static const char *cache_get(const struct cgroup_cache *cc, int slot, uint64_t id)
{
	int mount = slot < CGROUP_MAX_SLOTS ? cc->slot_mount[slot] : -1;

	if (!cc->slots || mount < 0)
		return NULL;
	return find_slot(cc, id, mount)->path;
}

static int visit(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = fpath + walk_root_len;

	if (type == FTW_D)
		cache_put(walking, sb->st_ino, walk_mount, *rel ? rel : "/");
	return 0;
}

/*
 * Controller names in kernel order (/proc/cgroups lists them by id) and the
 * v1 hierarchy each is on (0: the v2 hierarchy, or none).
 */
static int read_controllers(char names[][32], int *hierarchy, int max)
{
	char line[256];
	int n = 0;
	FILE *f = fopen("/proc/cgroups", "re");

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		if (sscanf(line, "%31s %d", names[n], &hierarchy[n]) == 2)
			n++;
	}
	fclose(f);
	return n;
}

/* Points the id slots of the controllers a mount carries at that mount. */
static void map_slots(struct cgroup_cache *cc, int mount, bool v2, const char *opts,
		      char names[][32], const int *hierarchy, int ncontrollers)
{
	char buf[512], *tok, *save = NULL;
	int k;

	if (v2) {
		if (cc->slot_mount[0] < 0)
			cc->slot_mount[0] = mount;
		for (k = 0; k < ncontrollers && k + 1 < CGROUP_MAX_SLOTS; k++) {
			if (!hierarchy[k] && cc->slot_mount[k + 1] < 0)
				cc->slot_mount[k + 1] = mount;
		}
		return;
	}
	snprintf(buf, sizeof(buf), "%s", opts);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (k = 0; k < ncontrollers && k + 1 < CGROUP_MAX_SLOTS; k++) {
			if (!strcmp(tok, names[k]) && cc->slot_mount[k + 1] < 0)
				cc->slot_mount[k + 1] = mount;
		}
	}
}

void cgroup_cache_free(struct cgroup_cache *cc)
{
	uint32_t i;

	for (i = 0; cc->slots && i <= cc->mask; i++)
		free(cc->slots[i].path);
	free(cc->slots);
	memset(cc, 0, sizeof(*cc));
}

static void rebuild(struct cgroup_cache *cc)
{
	char line[1024], mnt[512], fstype[32], opts[512], names[CGROUP_MAX_SLOTS][32];
	int hierarchy[CGROUP_MAX_SLOTS], ncontrollers, mount = 0, i;
	uint64_t walks = cc->walks + 1;
	FILE *f;

	cgroup_cache_free(cc);
	cc->walks = walks;
	cc->last_walk_ns = now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < CGROUP_MAX_SLOTS; i++)
		cc->slot_mount[i] = -1;
	ncontrollers = read_controllers(names, hierarchy, CGROUP_MAX_SLOTS - 1);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	walking = cc;
	while (fgets(line, sizeof(line), f) && mount < CGROUP_MAX_MOUNTS) {
		const char *sep = strstr(line, " - ");

		/* id parent major:minor root mountpoint options ... - fstype source superopts */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(sep + 3, "%31s %*s %511s", fstype, opts) < 1)
			continue;
		if (strcmp(fstype, "cgroup") && strcmp(fstype, "cgroup2"))
			continue;
		map_slots(cc, mount, !strcmp(fstype, "cgroup2"), opts, names, hierarchy, ncontrollers);
		walk_root_len = strlen(mnt);
		walk_mount = mount++;
		nftw(mnt, visit, 16, FTW_PHYS | FTW_MOUNT);
	}
	walking = NULL;
	fclose(f);
}

/* Known, or nothing to know: no id, or a controller no mount carries. */
static bool resolvable(const struct cgroup_cache *cc, int slot, uint64_t id)
{
	if (!id || slot >= CGROUP_MAX_SLOTS)
		return true;
	if (cc->slots && cc->slot_mount[slot] < 0)
		return true;
	return cache_get(cc, slot, id) != NULL;
}

int cgroup_paths(struct cgroup_cache *cc, const uint64_t *ids, int nids, char *out, size_t len)
{
	size_t n = 0;
	const char *path;
	int i, j, missing = 0;

	for (i = 0; i < nids; i++)
		missing += !resolvable(cc, i, ids[i]);
	if (missing && now_ns(CLOCK_MONOTONIC) - cc->last_walk_ns > REWALK_INTERVAL_NS)
		rebuild(cc);
	out[0] = '\0';
	for (i = 0; i < nids; i++) {
		if (!ids[i] || !(path = cache_get(cc, i, ids[i])))
			continue;
		for (j = 0; j < i && ids[j] != ids[i]; j++)
			;
		if (j < i)
			continue;
		n += snprintf(out + n, n < len ? len - n : 0, "0::%s\n", path);
		if (n >= len) {
			out[len - 1] = '\0';
			break;
		}
	}
	for (i = 0, missing = 0; i < nids; i++)
		missing += !resolvable(cc, i, ids[i]);
	return missing ? -1 : 0;
}
