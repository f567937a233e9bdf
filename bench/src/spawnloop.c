// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * spawnloop PATH COUNT: fork, exec PATH, wait for it, COUNT times, as fast as
 * possible. Prints "<count> <elapsed_ns> <cpu_ns>" on stdout: wall time of the
 * loop, and CPU time (user + system) of the loop and all its children, which
 * includes the BPF programs run in their context. Exits 1 if any child
 * failed, so a broken round is never counted as a fast one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static unsigned long long cpu_ns(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

int main(int argc, char **argv)
{
	char *const envp[] = { NULL };
	unsigned long long start, end, cpu0, cpu1;
	long i, count;
	int status;
	pid_t pid;

	if (argc != 3 || (count = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: spawnloop PATH COUNT\n");
		return 2;
	}
	char *const cargv[] = { argv[1], NULL };

	cpu0 = cpu_ns(RUSAGE_SELF) + cpu_ns(RUSAGE_CHILDREN);
	start = now_ns();
	for (i = 0; i < count; i++) {
		pid = fork();
		if (pid < 0) {
			perror("spawnloop: fork");
			return 1;
		}
		if (pid == 0) {
			execve(argv[1], cargv, envp);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "spawnloop: child %ld failed (status 0x%x)\n", i, status);
			return 1;
		}
	}
	end = now_ns();
	cpu1 = cpu_ns(RUSAGE_SELF) + cpu_ns(RUSAGE_CHILDREN);
	printf("%ld %llu %llu\n", count, end - start, cpu1 - cpu0);
	return 0;
}
