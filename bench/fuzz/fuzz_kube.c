// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * AFL++ target: the Kubernetes name parsers (user/kube.c) on any input: the
 * container id and pod uid of /proc/PID/cgroup lines, and the kubelet's
 * log file and pod directory names. An id found is 64 hex digits, a uid a
 * UUID's 36 bytes; names taken are non-empty, bounded and hold no '_'
 * where the format separates by it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kube.c"
#include "util.c"

#define assert_true(c) do { if (!(c)) abort(); } while (0)

int main(void)
{
	static char in[1 << 14];
	size_t len = fread(in, 1, sizeof(in) - 1, stdin);
	char id[KUBE_ID_LEN + 1], uid[KUBE_UID_LEN + 1];
	struct kube_names n;
	size_t i;

	in[len] = '\0';
	if (kube_ids(in, id, uid)) {
		assert_true(strlen(id) == KUBE_ID_LEN);
		for (i = 0; i < KUBE_ID_LEN; i++)
			assert_true(strchr("0123456789abcdef", id[i]));
	}
	assert_true(!uid[0] || strlen(uid) == KUBE_UID_LEN);
	/* The input's first line as a file name, against the ids it holds. */
	in[strcspn(in, "\n")] = '\0';
	if (id[0] && from_container_log(in, id, &n)) {
		assert_true(n.pod[0] && n.namespace[0] && n.container[0]);
		assert_true(!strchr(n.pod, '_') && !strchr(n.namespace, '_'));
	}
	if (uid[0] && from_pod_dir(in, uid, &n))
		assert_true(n.namespace[0] && n.pod[0] && !strchr(n.namespace, '_'));
	return 0;
}
