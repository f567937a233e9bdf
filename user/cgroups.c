// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ftw.h>
#include <stdio.h>
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
	char *path;
};

/* nftw() takes no context pointer. */
static struct cgroup_cache *walking;
static size_t walk_root_len;

static uint32_t slot_of(const struct cgroup_cache *cc, uint64_t id)
{
	return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & cc->mask;
}

static struct cgroup_entry *find_slot(const struct cgroup_cache *cc, uint64_t id)
{
	uint32_t i;

	for (i = slot_of(cc, id); cc->slots[i].id && cc->slots[i].id != id; i = (i + 1) & cc->mask)
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
			*find_slot(cc, old[i].id) = old[i];
	}
	free(old);
	return 0;
}

static void cache_put(struct cgroup_cache *cc, uint64_t id, const char *path)
{
	struct cgroup_entry *e;

	if (!id || cc->count >= MAX_CGROUPS)
		return;
	if ((!cc->slots || 2 * (cc->count + 1) > cc->mask) && grow(cc))
		return;
	e = find_slot(cc, id);
	if (e->id)
		return;
	e->path = strdup(path);
	if (e->path) {
		e->id = id;
		cc->count++;
	}
}

static const char *cache_get(const struct cgroup_cache *cc, uint64_t id)
{
	return cc->slots ? find_slot(cc, id)->path : NULL;
}

static int visit(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = fpath + walk_root_len;

	if (type == FTW_D)
		cache_put(walking, sb->st_ino, *rel ? rel : "/");
	return 0;
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
	char line[1024], mnt[512], fstype[32];
	uint64_t walks = cc->walks + 1;
	FILE *f;

	cgroup_cache_free(cc);
	cc->walks = walks;
	cc->last_walk_ns = now_ns(CLOCK_MONOTONIC);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	walking = cc;
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		/* id parent major:minor root mountpoint options ... - fstype source */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(sep + 3, "%31s", fstype) != 1)
			continue;
		if (strcmp(fstype, "cgroup") && strcmp(fstype, "cgroup2"))
			continue;
		walk_root_len = strlen(mnt);
		nftw(mnt, visit, 16, FTW_PHYS | FTW_MOUNT);
	}
	walking = NULL;
	fclose(f);
}

int cgroup_paths(struct cgroup_cache *cc, const uint64_t *ids, int nids, char *out, size_t len)
{
	size_t n = 0;
	const char *path;
	int i, j, missing = 0;

	for (i = 0; i < nids; i++)
		missing += ids[i] && !cache_get(cc, ids[i]);
	if (missing && now_ns(CLOCK_MONOTONIC) - cc->last_walk_ns > REWALK_INTERVAL_NS)
		rebuild(cc);
	out[0] = '\0';
	for (i = 0; i < nids; i++) {
		if (!ids[i] || !(path = cache_get(cc, ids[i])))
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
		missing += ids[i] && !cache_get(cc, ids[i]);
	return missing ? -1 : 0;
}
