// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The process the spawn benchmark starts over and over: exits 0 at once.
 *
 * Built static with no C library (-nostdlib): the exec maps one small file
 * and the process makes exactly one system call, exit. A spawn is then little
 * more than the kernel's fork, exec and exit, which makes agentbpf's
 * per-process hook cost as large a share of it as it can be: the worst case.
 * (glibc's static start-up alone costs ~130 us on a VM, mostly in CPUID
 * traps, and varies with the host.) Other architectures fall back to a plain
 * main() built with -static.
 */
#if defined(__x86_64__) && defined(BENCH_NOSTDLIB)
void _start(void)
{
	__asm__ volatile("mov $60, %%eax\n\t"	/* SYS_exit */
			 "xor %%edi, %%edi\n\t"
			 "syscall" ::: "rax", "rdi", "rcx", "r11", "memory");
	__builtin_unreachable();
}
#elif defined(__aarch64__) && defined(BENCH_NOSTDLIB)
void _start(void)
{
	__asm__ volatile("mov x8, #93\n\t"	/* SYS_exit */
			 "mov x0, #0\n\t"
			 "svc #0" ::: "x0", "x8", "memory");
	__builtin_unreachable();
}
#else
int main(void)
{
	return 0;
}
#endif
