/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the kernel's verifier spent on each program: processed instructions
 * and time. Verification cost moves 2-3x between kernel builds, so every
 * program is kept far below the kernel's limit of 1M instructions and the
 * figures are shown by `check` and in /metrics (docs/ARCHITECTURE.md).
 */
#ifndef AGENTBPF_VERIFY_H
#define AGENTBPF_VERIFY_H

#include <stdbool.h>
#include <stdint.h>
#include "expo.h"

/* Processed instructions a program may take here: 15 % of the kernel's limit. */
#define VERIFY_BUDGET		150000
#define VERIFY_MAX_PROGRAMS	64

struct bpf_object;

struct verify_stat {
	char program[64];
	const char *family;
	uint32_t insns;		/* processed instructions; 0 if not reported */
	double seconds;		/* verification time; 0 if not reported */
	bool loaded;
};

/* Before bpf_object__load(): ask the verifier for each program's statistics. */
void verify_prepare(struct bpf_object *obj);
/* After bpf_object__load(), whether it succeeded or not: note the figures. */
void verify_collect(struct bpf_object *obj, const char *family);
/* The programs noted so far, in load order. */
int verify_stats(const struct verify_stat **out);
/* agentbpf_bpf_program_verified_instructions and _verification_seconds. */
void verify_render(struct expo *e);

/*
 * Reads "processed N insns" and "verification time N usec" from a verifier
 * log. Returns 0 if the instruction count was found.
 */
int verify_parse_log(const char *log, uint32_t *insns, double *seconds);

#endif
