/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kubernetes names of a process, from the node alone (no API server): its
 * cgroup path gives the container id and the pod uid; the kubelet's log
 * tree names them: /var/log/containers/POD_NAMESPACE_CONTAINER-ID.log and
 * /var/log/pods/NAMESPACE_POD_UID/.
 */
#ifndef AGENTBPF_KUBE_H
#define AGENTBPF_KUBE_H

#include <stdbool.h>
#include <stdint.h>

#define KUBE_ID_LEN	64	/* container id: 64 hex digits */
#define KUBE_UID_LEN	36	/* pod uid: a UUID */
#define KUBE_NAME_LEN	253	/* Kubernetes object names */

struct kube_names {
	char namespace[KUBE_NAME_LEN + 1];
	char pod[KUBE_NAME_LEN + 1];
	char container[KUBE_NAME_LEN + 1];	/* "" when only the pod is known */
};

/*
 * The container id and pod uid in /proc/PID/cgroup lines, for the cgroupfs
 * and systemd cgroup drivers of containerd, CRI-O and Docker. Either may be
 * left "" (not in a pod). Returns true when a container id was found.
 */
bool kube_ids(const char *cgroups, char id[KUBE_ID_LEN + 1], char uid[KUBE_UID_LEN + 1]);

/*
 * Names from the log tree under root ("/" on a node; a fake tree in the
 * tests): the container's log link first, else the pod's log directory.
 * Returns 0, or -1 when neither is there.
 */
int kube_lookup(const char *root, const char *id, const char *uid, struct kube_names *out);

/* Does root look like a Kubernetes node (a kubelet log tree)? */
bool kube_node(const char *root);

struct kube_entry {
	uint32_t pid;
	uint64_t start_ns;
	int names;		/* index in names, -1: not in a pod */
};

/*
 * Names of the processes seen at each scrape, kept while they live: a
 * process's cgroup and the log tree are read once, when it is first seen.
 */
struct kube_cache {
	const char *root;
	struct kube_names *names;
	int nnames;
	uint32_t names_cap;
	struct kube_entry *ent, *next;	/* by pid: this scrape's, being built */
	uint32_t n, nnext, cap;
};

#define KUBE_MAX_NAMES	4096	/* distinct containers remembered */

void kube_cache_init(struct kube_cache *k, const char *root);
/* Starts a scrape that will ask about at most n processes. */
int kube_cache_begin(struct kube_cache *k, uint32_t n);
/* The names index of a live process (-1: none); call in ascending pid order. */
int kube_cache_get(struct kube_cache *k, uint32_t pid, uint64_t start_ns);
/* Ends the scrape: processes not asked about are forgotten. */
void kube_cache_end(struct kube_cache *k);
void kube_cache_free(struct kube_cache *k);

#endif
