/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The daemon's side of the LLM calls (include/llm.h): a thread that reads
 * the HTTP object's llm_events ring into the model (llmmodel.h), off the
 * main loop and the scrape; part of the HTTP family, whose programs send
 * the bytes.
 */
#ifndef AGENTBPF_LLM_USER_H
#define AGENTBPF_LLM_USER_H

#include <stdint.h>
#include "config.h"
#include "expo.h"
#include "llmmodel.h"
#include "trace.h"

struct llm_reader;

/*
 * Fills the kernel's host table (map fd hosts_fd) and starts reading the
 * ring ring_fd. Returns NULL with err on failure.
 */
struct llm_reader *llm_reader_start(const struct config *cfg, int hosts_fd, int ring_fd,
				    struct trace_out trace, char *err, size_t errlen);
void llm_reader_render(struct llm_reader *r, struct expo *e);
void llm_reader_losses(struct llm_reader *r, uint64_t out[LLM_LOSS_MAX]);
/* Host names looked for and providers, for check. */
int llm_reader_hosts(struct llm_reader *r, int *nproviders);
void llm_reader_stop(struct llm_reader *r);

#endif
