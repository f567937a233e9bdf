/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `agentbpf trace` output: one line (or JSON object) per event, any family. */
#ifndef AGENTBPF_TRACE_H
#define AGENTBPF_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct trace_field {
	const char *key;
	const char *value;
	bool number;		/* JSON: emit unquoted */
};

struct trace_out {
	FILE *f;		/* NULL: tracing off */
	bool json;
};

void trace_emit(const struct trace_out *t, const char *event, const char *agent, uint32_t pid,
		const struct trace_field *fields, int nfields);

#endif
