// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * AFL++ target: the config loader (user/config.c) on any YAML. A config
 * either parses, and then every agent has a name and a matcher and every
 * llm_hosts entry gives names, or fails with one "file:line: " message;
 * either way config_free() leaves nothing behind (ASan's leak check).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.c"
#include "util.c"

#define assert_true(c) do { if (!(c)) abort(); } while (0)

int main(void)
{
	static char in[1 << 16];
	char names[2][CONFIG_LLM_NAME_LEN], host[CONFIG_LLM_NAME_LEN], err[512];
	size_t len = fread(in, 1, sizeof(in), stdin);
	struct config cfg;
	int i;

	if (config_parse(&cfg, "fuzz.yml", in, len, err, sizeof(err))) {
		assert_true(!strncmp(err, "fuzz.yml:", 9) && strlen(err) < sizeof(err));
		return 0;
	}
	for (i = 0; i < cfg.nagents; i++)
		assert_true(cfg.agents[i].name && cfg.agents[i].type && cfg.agents[i].cache_type);
	for (i = 0; i < cfg.nllm_hosts; i++)
		assert_true(config_llm_names(cfg.llm_hosts[i].url, names, host) > 0);
	for (i = 1; i < cfg.nbuckets; i++)
		assert_true(cfg.buckets[i] > cfg.buckets[i - 1]);
	config_free(&cfg);
	return 0;
}
