// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The process the spawn benchmark starts over and over: exits at once.
 * Built static so each spawn costs one fork, one exec and one exit, with no
 * dynamic loader in between; that makes the per-process hook cost as large a
 * share of the total as it can be (worst case for agentbpf).
 */
int main(void)
{
	return 0;
}
