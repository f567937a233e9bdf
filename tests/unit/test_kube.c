// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kubernetes names from cgroup paths and a fake node's kubelet log tree. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "kube.h"

#define CID "3f1a9c0e5b7d2468ace0123456789abcdef0123456789abcdef0123456789abc"
#define UID "6b2f0c1e-93a4-4c8e-b5d7-0a1b2c3d4e5f"
#define UID_ "6b2f0c1e_93a4_4c8e_b5d7_0a1b2c3d4e5f"

static char root[64];

static void mkpath(const char *rel)
{
	char path[512], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	if (rel[strlen(rel) - 1] == '/')
		return;
	close(open(path, O_CREAT | O_WRONLY, 0644));
}

static int setup(void **state)
{
	strcpy(root, "/tmp/agentbpf-kube-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	/* A node with two pods; one container's log link names it fully. */
	mkpath("var/log/containers/planner-7d9f8_agents_llm-" CID ".log");
	mkpath("var/log/containers/other-pod_kube-system_dns-"
	       "0000000000000000000000000000000000000000000000000000000000000000.log");
	mkpath("var/log/pods/agents_planner-7d9f8_" UID "/llm/0.log");
	mkpath("var/log/pods/batch_nightly-job-x1_11111111-2222-3333-4444-555555555555/job/");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd);
}

static void check_ids(const char *cgroups, const char *want_id, const char *want_uid)
{
	char id[KUBE_ID_LEN + 1], uid[KUBE_UID_LEN + 1];

	assert_int_equal(kube_ids(cgroups, id, uid), want_id[0] != '\0');
	assert_string_equal(id, want_id);
	assert_string_equal(uid, want_uid);
}

static void test_ids_containerd_systemd_driver(void **state)
{
	check_ids("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		  ".slice/cri-containerd-" CID ".scope\n", CID, UID);
}

static void test_ids_crio_and_docker_systemd_driver(void **state)
{
	check_ids("0::/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" CID ".scope\n", CID, UID);
	check_ids("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
		  ".slice/docker-" CID ".scope\n", CID, UID);
}

static void test_ids_cgroupfs_driver_v1_lines(void **state)
{
	check_ids("12:pids:/kubepods/burstable/pod" UID "/" CID "\n"
		  "11:memory:/kubepods/burstable/pod" UID "/" CID "\n"
		  "0::/\n", CID, UID);
}

static void test_ids_not_in_a_pod(void **state)
{
	check_ids("0::/user.slice/user-0.slice/session-1.scope\n", "", "");
	check_ids("0::/system.slice/docker-" CID ".scope\n", CID, "");
	/*
	 * A uid whose last bytes are no hex (found by fuzz_kube): none is
	 * taken from it, not its first bytes unterminated; the next line's is.
	 */
	check_ids("0::/kubepods/podZ6b2f0c1e-93a4-4c8e-b5d7-0a1b2c3d4eZZ/" CID "\n"
		  "1:memory:/kubepods/pod" UID "/" CID "\n", CID, UID);
	check_ids("0::/kubepods/pod6b2f0c1e-93a4-4c8e-b5d7-0a1b2c3d4exx/" CID "\n", CID, "");
	check_ids("", "", "");
	/* Almost ids: one hex digit short, a capital letter, no "pod" prefix. */
	check_ids("0::/kubepods/pod" UID "/" "3f1a9c0e5b7d2468ace0123456789abcdef0123456789abcdef0123456789a\n",
		  "", UID);
	check_ids("0::/kubepods/x" UID "/3F1A9C0E5B7D2468ACE0123456789ABCDEF0123456789ABCDEF0123456789ABC\n",
		  "", "");
	check_ids("garbage without colons\n::\n1:x\n", "", "");
}

static void test_lookup_by_container_log(void **state)
{
	struct kube_names n;

	assert_int_equal(kube_lookup(root, CID, UID, &n), 0);
	assert_string_equal(n.namespace, "agents");
	assert_string_equal(n.pod, "planner-7d9f8");
	assert_string_equal(n.container, "llm");
}

static void test_lookup_falls_back_to_pod_dir(void **state)
{
	struct kube_names n;

	assert_int_equal(kube_lookup(root, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
				     "11111111-2222-3333-4444-555555555555", &n), 0);
	assert_string_equal(n.namespace, "batch");
	assert_string_equal(n.pod, "nightly-job-x1");
	assert_string_equal(n.container, "");
}

static void test_lookup_unknown(void **state)
{
	struct kube_names n;

	assert_int_equal(kube_lookup(root, "", "", &n), -1);
	assert_int_equal(kube_lookup(root, CID "0", "00000000-0000-0000-0000-000000000000", &n), -1);
	assert_int_equal(kube_lookup("/nonexistent-root", CID, UID, &n), -1);
}

static void test_node_detection(void **state)
{
	assert_true(kube_node(root));
	assert_false(kube_node("/nonexistent-root"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_containerd_systemd_driver),
		cmocka_unit_test(test_ids_crio_and_docker_systemd_driver),
		cmocka_unit_test(test_ids_cgroupfs_driver_v1_lines),
		cmocka_unit_test(test_ids_not_in_a_pod),
		cmocka_unit_test(test_lookup_by_container_log),
		cmocka_unit_test(test_lookup_falls_back_to_pod_dir),
		cmocka_unit_test(test_lookup_unknown),
		cmocka_unit_test(test_node_detection),
	};

	return cmocka_run_group_tests_name("kube", tests, setup, teardown);
}
