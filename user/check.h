/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef AGENTBPF_CHECK_H
#define AGENTBPF_CHECK_H

#include <stdbool.h>

/* `agentbpf check`: one line per requirement; returns the exit status. */
int agentbpf_check(const char *config_path, bool config_given, const char *btf_path);

#endif
