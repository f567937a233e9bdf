// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * procfs: argv joining and reading this process's own /proc entries.
 * procfs.c is not in LIB_SRCS (the daemon links it with the BPF side), so
 * it is compiled into this binary directly; it needs only util.o.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "procfs.h"

static char dst[64];

static const char *join(const char *args, size_t len, size_t dstlen)
{
	memset(dst, 'X', sizeof(dst));
	procfs_join_args(dst, dstlen, args, len);
	return dst;
}

/* Joins a string literal's bytes, without the compiler's final NUL. */
#define JOIN(lit, dstlen) join(lit, sizeof(lit) - 1, dstlen)

/* ---- procfs_join_args ---- */

static void test_join_args_spaces_between_arguments(void **state)
{
	assert_string_equal(JOIN("node\0/opt/claude\0--print\0", sizeof(dst)),
			    "node /opt/claude --print");
}

static void test_join_args_single_argument(void **state)
{
	assert_string_equal(JOIN("bash\0", sizeof(dst)), "bash");
}

static void test_join_args_strips_all_trailing_nuls(void **state)
{
	assert_string_equal(JOIN("a\0b\0\0\0", sizeof(dst)), "a b");
}

static void test_join_args_without_final_nul(void **state)
{
	/* argv cut at PROC_ARGS_LEN has no terminating NUL. */
	assert_string_equal(JOIN("python\0-m\0aid", sizeof(dst)), "python -m aid");
}

static void test_join_args_keeps_empty_arguments(void **state)
{
	assert_string_equal(JOIN("a\0\0b\0", sizeof(dst)), "a  b");
}

static void test_join_args_empty(void **state)
{
	assert_string_equal(JOIN("", sizeof(dst)), "");
	assert_string_equal(JOIN("\0\0", sizeof(dst)), "");
}

static void test_join_args_truncates_to_destination(void **state)
{
	assert_string_equal(JOIN("abcdef\0gh\0", 5), "abcd");
	assert_int_equal(dst[5], 'X');
	assert_string_equal(JOIN("abcdef\0", 1), "");
	assert_int_equal(dst[1], 'X');
}

static void test_join_args_as_the_cmdline_matcher_sees_it(void **state)
{
	static const char yml[] = "agents:\n  - name: aider\n    match: {cmdline: \"python* -m aider *\"}\n";
	struct proc_identity id = { 0 };
	struct config cfg;
	char err[128];

	assert_int_equal(config_parse(&cfg, "t.yml", yml, strlen(yml), err, sizeof(err)), 0);
	id.cmdline = JOIN("python3\0-m\0aider\0--model\0x\0", sizeof(dst));
	assert_int_equal(config_match(&cfg, &id), 0);
	config_free(&cfg);
}

/* ---- this process ---- */

static void test_read_info_of_self(void **state)
{
	struct proc_info *info = calloc(1, sizeof(*info));
	char comm[PROC_COMM_LEN];

	assert_non_null(info);
	snprintf(comm, sizeof(comm), "%s", program_invocation_short_name);
	assert_int_equal(procfs_read_info(getpid(), info, true), 0);
	assert_int_equal(info->pid, getpid());
	assert_int_equal(info->ppid, getppid());
	assert_string_equal(info->comm, comm);
	assert_non_null(strstr(info->cmdline, "test_procfs"));
	assert_non_null(strstr(info->exe, "test_procfs"));
	assert_true(info->start_ns > 0);
	assert_non_null(strchr(info->cgroups, ':'));
	free(info);
}

static void test_read_info_of_missing_pid_fails(void **state)
{
	struct proc_info *info = calloc(1, sizeof(*info));

	assert_non_null(info);
	/* Above the kernel's pid_max limit (4194304), so never a live pid. */
	assert_int_equal(procfs_read_info(4194305, info, false), -1);
	free(info);
}

static void test_add_usage_of_self_accumulates(void **state)
{
	struct agent_usage u = { .fds = 100 };

	assert_int_equal(procfs_add_usage(getpid(), 0, &u), 0);
	assert_true(u.rss_bytes > 0);
	assert_true(u.fds > 100);	/* stdout and stderr at least */
	assert_true(u.rchar > 0);
	assert_int_equal(procfs_add_usage(4194305, 0, &u), -1);
}

/* A pid that now belongs to a process started at another time is not ours. */
static void test_add_usage_rejects_reused_pid(void **state)
{
	struct proc_info *info = malloc(sizeof(*info));
	struct agent_usage u = { 0 };

	assert_non_null(info);
	assert_int_equal(procfs_read_info(getpid(), info, false), 0);
	assert_int_equal(procfs_add_usage(getpid(), info->start_ns, &u), 0);
	assert_true(u.rss_bytes > 0);
	memset(&u, 0, sizeof(u));
	assert_int_equal(procfs_add_usage(getpid(), info->start_ns + 5000000000ull, &u), -1);
	assert_int_equal(u.rss_bytes, 0);
	free(info);
}

static void test_ticks_to_ns(void **state)
{
	assert_int_equal(procfs_ticks_to_ns(sysconf(_SC_CLK_TCK)), 1000000000ull);
	assert_int_equal(procfs_ticks_to_ns(0), 0);
}

static void test_ports_of_self_finds_listening_socket(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct listen_table lt;
	uint16_t ports[CONFIG_MAX_PORTS];
	int fd, n, i;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);

	assert_int_equal(procfs_listen_table(&lt, getpid()), 0);
	n = procfs_ports_of(getpid(), &lt, ports, CONFIG_MAX_PORTS);
	for (i = 0; i < n && ports[i] != ntohs(sa.sin_port); i++)
		;
	if (i == n)
		fail_msg("port %u not among %d listening ports", ntohs(sa.sin_port), n);
	procfs_listen_free(&lt);
	assert_null(lt.inode);
	close(fd);
}

/* A pod: a process in a network namespace of its own. */
static void test_listen_table_of_another_network_namespace(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct listen_table lt;
	uint16_t ports[CONFIG_MAX_PORTS];
	int pipefd[2], fd, n;
	uint16_t port = 0;
	pid_t child;

	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* Binds any address: works before lo is up in the new namespace. */
		if (unshare(CLONE_NEWNET) || (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1) ||
		    getsockname(fd, (struct sockaddr *)&sa, &len))
			_exit(1);
		port = ntohs(sa.sin_port);
		if (write(pipefd[1], &port, sizeof(port)) != sizeof(port))
			_exit(1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &port, sizeof(port)) != sizeof(port)) {
		waitpid(child, NULL, 0);
		skip();		/* no CAP_SYS_ADMIN for a network namespace */
	}
	assert_int_not_equal(procfs_netns(child), procfs_netns(getpid()));
	assert_int_not_equal(procfs_netns(child), 0);
	assert_int_equal(procfs_listen_table(&lt, child), 0);
	n = procfs_ports_of(child, &lt, ports, CONFIG_MAX_PORTS);
	procfs_listen_free(&lt);
	/* Read from our own namespace, the child's socket is not listening. */
	assert_int_equal(procfs_listen_table(&lt, getpid()), 0);
	assert_int_equal(procfs_ports_of(child, &lt, ports + 1, CONFIG_MAX_PORTS - 1), 0);
	procfs_listen_free(&lt);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(pipefd[0]);
	assert_int_equal(n, 1);
	assert_int_equal(ports[0], port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join_args_spaces_between_arguments),
		cmocka_unit_test(test_listen_table_of_another_network_namespace),
		cmocka_unit_test(test_join_args_single_argument),
		cmocka_unit_test(test_join_args_strips_all_trailing_nuls),
		cmocka_unit_test(test_join_args_without_final_nul),
		cmocka_unit_test(test_join_args_keeps_empty_arguments),
		cmocka_unit_test(test_join_args_empty),
		cmocka_unit_test(test_join_args_truncates_to_destination),
		cmocka_unit_test(test_join_args_as_the_cmdline_matcher_sees_it),
		cmocka_unit_test(test_read_info_of_self),
		cmocka_unit_test(test_read_info_of_missing_pid_fails),
		cmocka_unit_test(test_add_usage_of_self_accumulates),
		cmocka_unit_test(test_ticks_to_ns),
		cmocka_unit_test(test_add_usage_rejects_reused_pid),
		cmocka_unit_test(test_ports_of_self_finds_listening_socket),
	};

	return cmocka_run_group_tests_name("procfs", tests, NULL, NULL);
}
