// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "kube.h"
#include "util.h"

static bool is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/*
 * One path component: "cri-containerd-ID.scope", "crio-ID.scope",
 * "docker-ID.scope" (systemd driver) or a bare "ID" (cgroupfs driver).
 */
static bool component_id(const char *c, size_t n, char id[KUBE_ID_LEN + 1])
{
	static const char *const prefixes[] = { "cri-containerd-", "crio-", "docker-", "containerd-" };
	size_t i, p;

	if (n > 6 && !memcmp(c + n - 6, ".scope", 6))
		n -= 6;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		p = strlen(prefixes[i]);
		if (n > p && !memcmp(c, prefixes[i], p)) {
			c += p;
			n -= p;
			break;
		}
	}
	if (n != KUBE_ID_LEN || !is_hex(c, n))
		return false;
	memcpy(id, c, n);
	id[n] = '\0';
	return true;
}

/*
 * "pod<uid>" (cgroupfs) or "kubepods-<qos>-pod<uid>.slice" (systemd, with
 * '_' for '-' in the uid).
 */
static bool component_uid(const char *c, size_t n, char uid[KUBE_UID_LEN + 1])
{
	const char *p = NULL;
	size_t i;

	if (n > 6 && !memcmp(c + n - 6, ".slice", 6))
		n -= 6;
	for (i = 0; i + 3 <= n; i++) {
		if (!memcmp(c + i, "pod", 3) && (i == 0 || c[i - 1] == '-'))
			p = c + i + 3;
	}
	if (!p || (size_t)(c + n - p) != KUBE_UID_LEN)
		return false;
	/* Checked whole before any byte is kept: a uid half written is none. */
	for (i = 0; i < KUBE_UID_LEN; i++) {
		if (!(p[i] == '-' || p[i] == '_' || is_hex(&p[i], 1)))
			return false;
	}
	for (i = 0; i < KUBE_UID_LEN; i++)
		uid[i] = p[i] == '_' ? '-' : p[i];
	uid[KUBE_UID_LEN] = '\0';
	return true;
}

bool kube_ids(const char *cgroups, char id[KUBE_ID_LEN + 1], char uid[KUBE_UID_LEN + 1])
{
	const char *p, *end, *c;

	id[0] = uid[0] = '\0';
	for (p = cgroups; p && *p; p = end + (*end == '\n')) {
		end = strchrnul(p, '\n');
		/* "hierarchy:controllers:path": the path after the second ':' */
		c = memchr(p, ':', end - p);
		c = c ? memchr(c + 1, ':', end - c - 1) : NULL;
		if (!c)
			continue;
		for (c++; c < end;) {
			const char *next = memchr(c, '/', end - c);
			size_t n = (next ? next : end) - c;

			if (!id[0])
				component_id(c, n, id);
			if (!uid[0])
				component_uid(c, n, uid);
			c += n + 1;
		}
		if (id[0] && uid[0])
			break;
	}
	return id[0] != '\0';
}

/* Copies [s, s + n) into a name buffer; false if it does not fit or is empty. */
static bool take(char *dst, const char *s, size_t n)
{
	if (!n || n > KUBE_NAME_LEN)
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

/* POD_NAMESPACE_CONTAINER-ID.log: names never hold '_'. */
static bool from_container_log(const char *name, const char *id, struct kube_names *out)
{
	size_t len = strlen(name), idlen = strlen(id);
	const char *u1, *u2, *tail;

	if (len < idlen + 6 || strcmp(name + len - 4, ".log") ||
	    memcmp(name + len - 4 - idlen, id, idlen) || name[len - 5 - idlen] != '-')
		return false;
	tail = name + len - 5 - idlen;
	u1 = memchr(name, '_', tail - name);
	u2 = u1 ? memchr(u1 + 1, '_', tail - u1 - 1) : NULL;
	return u2 && take(out->pod, name, u1 - name) &&
	       take(out->namespace, u1 + 1, u2 - u1 - 1) &&
	       take(out->container, u2 + 1, tail - u2 - 1);
}

/* NAMESPACE_POD_UID */
static bool from_pod_dir(const char *name, const char *uid, struct kube_names *out)
{
	size_t len = strlen(name), ulen = strlen(uid);
	const char *u1, *tail;

	if (len < ulen + 4 || strcmp(name + len - ulen, uid) || name[len - ulen - 1] != '_')
		return false;
	tail = name + len - ulen - 1;
	u1 = memchr(name, '_', tail - name);
	out->container[0] = '\0';
	return u1 && take(out->namespace, name, u1 - name) && take(out->pod, u1 + 1, tail - u1 - 1);
}

static int scan(const char *dir, const char *key,
		bool (*parse)(const char *, const char *, struct kube_names *),
		struct kube_names *out)
{
	struct dirent *de;
	int ret = -1;
	DIR *d;

	if (!key[0] || !(d = opendir(dir)))
		return -1;
	while ((de = readdir(d))) {
		if (parse(de->d_name, key, out)) {
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

int kube_lookup(const char *root, const char *id, const char *uid, struct kube_names *out)
{
	char dir[4096];

	memset(out, 0, sizeof(*out));
	snprintf(dir, sizeof(dir), "%s/var/log/containers", root);
	if (!scan(dir, id, from_container_log, out))
		return 0;
	snprintf(dir, sizeof(dir), "%s/var/log/pods", root);
	return scan(dir, uid, from_pod_dir, out);
}

bool kube_node(const char *root)
{
	char dir[4096];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/var/log/pods", root);
	return !stat(dir, &st) && S_ISDIR(st.st_mode);
}

void kube_cache_init(struct kube_cache *k, const char *root)
{
	memset(k, 0, sizeof(*k));
	k->root = root;
}

int kube_cache_begin(struct kube_cache *k, uint32_t n)
{
	struct kube_entry *e;

	if (n > k->cap) {
		e = realloc(k->next, n * sizeof(*e));
		if (!e)
			return -1;
		k->next = e;
		e = realloc(k->ent, n * sizeof(*e));
		if (!e)
			return -1;
		k->ent = e;
		k->cap = n;
	}
	k->nnext = 0;
	return 0;
}

static int names_index(struct kube_cache *k, const struct kube_names *n)
{
	struct kube_names *grown;
	int i;

	for (i = 0; i < k->nnames; i++) {
		if (!memcmp(&k->names[i], n, sizeof(*n)))
			return i;
	}
	if (k->nnames >= KUBE_MAX_NAMES)
		return -1;
	grown = grow_array(k->names, &k->names_cap, k->nnames, sizeof(*grown), 16);
	if (!grown)
		return -1;
	k->names = grown;
	k->names[k->nnames] = *n;
	return k->nnames++;
}

static int resolve(struct kube_cache *k, uint32_t pid)
{
	char path[64], cgroups[4096], id[KUBE_ID_LEN + 1], uid[KUBE_UID_LEN + 1];
	struct kube_names n;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	if (read_file(path, cgroups, sizeof(cgroups)) < 0)
		return -1;
	kube_ids(cgroups, id, uid);
	if ((!id[0] && !uid[0]) || kube_lookup(k->root, id, uid, &n))
		return -1;
	return names_index(k, &n);
}

int kube_cache_get(struct kube_cache *k, uint32_t pid, uint64_t start_ns)
{
	uint32_t lo = 0, hi = k->n, mid;
	int names = -2;

	if (k->nnext >= k->cap)
		return -1;
	/* The previous scrape's entries are sorted by pid. */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (k->ent[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < k->n && k->ent[lo].pid == pid && k->ent[lo].start_ns == start_ns)
		names = k->ent[lo].names;
	if (names == -2)
		names = resolve(k, pid);
	k->next[k->nnext++] = (struct kube_entry){ pid, start_ns, names };
	return names;
}

void kube_cache_end(struct kube_cache *k)
{
	struct kube_entry *t = k->ent;

	k->ent = k->next;
	k->next = t;
	k->n = k->nnext;
}

void kube_cache_free(struct kube_cache *k)
{
	free(k->names);
	free(k->ent);
	free(k->next);
	memset(k, 0, sizeof(*k));
}
