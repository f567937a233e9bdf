/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The LLM calls' model, apart from the ring it is fed from (user/llm.c) so
 * that the unit tests drive it with events: the providers and host names
 * from the config, the calls under way (each an llm_parse), and the series
 * by agent, provider and model that finished calls add to.
 */
#ifndef AGENTBPF_LLMMODEL_H
#define AGENTBPF_LLMMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "expo.h"
#include "http.h"
#include "llm.h"
#include "llmparse.h"

#define LLM_MAX_CALLS		128	/* calls read at once; more are counted, not read */
#define LLM_IDLE_NS		(600ull * 1000000000ull)	/* a call this quiet is given up */
#define LLM_PROVIDER_LEN	CONFIG_LLM_NAME_LEN

/* The host names whose calls are LLM calls, and their providers. */
struct llm_hosts {
	char providers[LLM_MAX_PROVIDERS][LLM_PROVIDER_LEN];
	int nproviders;
	struct {
		char name[CONFIG_LLM_NAME_LEN];
		uint8_t provider;	/* index + 1 */
	} hosts[LLM_MAX_HOSTS];
	int nhosts;
};

/* The built-in hosts and the config's; -1 with err when they do not fit. */
int llm_hosts_build(struct llm_hosts *h, const struct config *cfg, char *err, size_t errlen);

/* Why call bytes or calls were not read (agentbpf_events_dropped_total). */
enum llm_loss {
	LLM_LOSS_CALLS_FULL,	/* more than LLM_MAX_CALLS at once: read as empty */
	LLM_LOSS_GAP,		/* bytes missing in a call (a cap, a full ring): read up to there */
	LLM_LOSS_IDLE,		/* a call with no end for LLM_IDLE_NS */
	LLM_LOSS_MAX,
};

extern const char *const llm_loss_names[LLM_LOSS_MAX];

/* A call as it ends, for `agentbpf trace`. */
struct llm_done {
	uint32_t agent, pid;
	const char *provider, *model;
	uint8_t status;		/* enum http_status */
	uint16_t code;
	long long tokens[LLM_TOK_MAX];	/* -1: not given */
	uint64_t estimated;	/* content chunks of a stream without usage */
	double duration_s, ttft_s;	/* ttft_s < 0: no content */
};

typedef void (*llm_done_fn)(void *ctx, const struct llm_done *d);

struct llm_call {
	bool used;
	uint32_t pid, seq, agent;
	uint64_t conn;
	uint8_t provider;
	uint32_t pos[2];	/* bytes each way read so far */
	uint64_t last_ns;	/* CLOCK_BOOTTIME of its last event */
	struct llm_parse p;
};

struct llm_series {
	uint32_t agent;
	uint8_t provider;	/* index + 1 */
	int model;		/* index into models; max_models: "other" */
	uint64_t requests[HTTP_STATUS_MAX];
	uint64_t tokens[LLM_TOK_MAX];
	uint64_t estimated;
	struct llm_hist {
		uint64_t buckets[CONFIG_MAX_BUCKETS + 1];	/* the last: above every bound */
		double sum;
	} ttft, duration;
};

struct llm_model {
	const struct config *cfg;
	struct llm_hosts hosts;
	struct llm_call calls[LLM_MAX_CALLS];
	struct llm_series *series;
	uint32_t nseries, series_cap;
	char (*models)[LLM_MODEL_LEN];	/* max_models names */
	int nmodels;
	uint64_t losses[LLM_LOSS_MAX];
	llm_done_fn on_done;
	void *done_ctx;
};

int llm_model_init(struct llm_model *m, const struct config *cfg, char *err, size_t errlen);
/* One event of the ring, of size bytes. */
void llm_model_event(struct llm_model *m, const struct llm_event *e, size_t size);
/* Calls quiet since before now - LLM_IDLE_NS are given up. */
void llm_model_expire(struct llm_model *m, uint64_t now_ns);
void llm_model_render(const struct llm_model *m, struct expo *e);
void llm_model_free(struct llm_model *m);

#endif
