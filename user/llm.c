// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "httpmodel.h"
#include "llm_user.h"
#include "util.h"


struct llm_reader {
	struct llm_model model;		/* under lock */
	pthread_mutex_t lock;
	pthread_t thread;
	struct ring_buffer *rb;
	struct trace_out trace;
	volatile int stop;
	bool running;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct llm_reader *r = ctx;
	pthread_mutex_lock(&r->lock);
	llm_model_event(&r->model, data, size);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* `agentbpf trace`: model, tokens and timings only, never the bytes. */
static void on_done(void *ctx, const struct llm_done *d)
{
	struct llm_reader *r = ctx;
	char tok[LLM_TOK_MAX][24], key[LLM_TOK_MAX][32], code[8], dur[32], ttft[32], est[24];
	struct trace_field f[12];
	int n = 0, k;

	if (!r->trace.f)
		return;
	snprintf(code, sizeof(code), "%u", d->code);
	snprintf(dur, sizeof(dur), "%.6f", d->duration_s);
	f[n++] = (struct trace_field){ "provider", d->provider, false };
	f[n++] = (struct trace_field){ "model", d->model, false };
	f[n++] = (struct trace_field){ "status", http_status_name(d->status), false };
	f[n++] = (struct trace_field){ "code", code, true };
	f[n++] = (struct trace_field){ "duration_seconds", dur, true };
	if (d->ttft_s >= 0) {
		snprintf(ttft, sizeof(ttft), "%.6f", d->ttft_s);
		f[n++] = (struct trace_field){ "ttft_seconds", ttft, true };
	}
	for (k = 0; k < LLM_TOK_MAX; k++) {
		if (d->tokens[k] < 0)
			continue;
		snprintf(tok[k], sizeof(tok[k]), "%lld", d->tokens[k]);
		snprintf(key[k], sizeof(key[k]), "%s_tokens", llm_token_kinds[k]);
		f[n++] = (struct trace_field){ key[k], tok[k], true };
	}
	if (d->estimated) {
		snprintf(est, sizeof(est), "%llu", (unsigned long long)d->estimated);
		f[n++] = (struct trace_field){ "output_tokens_estimated", est, true };
	}
	trace_emit(&r->trace, "llm", r->model.cfg->agents[d->agent].name, d->pid, f, n);
}

static void *reader_main(void *arg)
{
	struct llm_reader *r = arg;
	uint64_t last_expire = 0, now;

	struct epoll_event ev;

	/*
	 * The kernel wakes this thread only when the ring fills up (a wakeup an
	 * event cost a context switch each): it reads every LLM_POLL_MS.
	 */
	while (!r->stop) {
		if (epoll_wait(ring_buffer__epoll_fd(r->rb), &ev, 1, LLM_POLL_MS) < 0 && errno != EINTR)
			break;
		if (ring_buffer__consume(r->rb) < 0)
			break;
		now = now_ns(CLOCK_BOOTTIME);
		if (now - last_expire > 10ull * 1000000000ull) {
			pthread_mutex_lock(&r->lock);
			llm_model_expire(&r->model, now);
			pthread_mutex_unlock(&r->lock);
			last_expire = now;
		}
	}
	return NULL;
}

struct llm_reader *llm_reader_start(const struct config *cfg, int hosts_fd, int ring_fd,
				    struct trace_out trace, char *err, size_t errlen)
{
	struct llm_reader *r = calloc(1, sizeof(*r));
	uint32_t id;
	int i, ret;

	if (!r) {
		snprintf(err, errlen, "out of memory for the LLM call reader");
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->trace = trace;
	if (llm_model_init(&r->model, cfg, err, errlen))
		goto fail;
	r->model.on_done = on_done;
	r->model.done_ctx = r;
	for (i = 0; i < r->model.hosts.nhosts; i++) {
		char name[HTTP_HOST_LEN] = { 0 };

		snprintf(name, sizeof(name), "%s", r->model.hosts.hosts[i].name);
		id = http_host_id(name);
		if (bpf_map_update_elem(hosts_fd, &id, &r->model.hosts.hosts[i].provider, BPF_ANY)) {
			snprintf(err, errlen, "cannot fill the LLM host table: %s", strerror(errno));
			goto fail;
		}
	}
	r->rb = ring_buffer__new(ring_fd, on_event, r, NULL);
	if (!r->rb) {
		snprintf(err, errlen, "cannot map the LLM call ring buffer: %s", strerror(errno));
		goto fail;
	}
	ret = pthread_create(&r->thread, NULL, reader_main, r);
	if (ret) {
		snprintf(err, errlen, "cannot start the LLM call reader: %s", strerror(ret));
		goto fail;
	}
	r->running = true;
	return r;
fail:
	llm_reader_stop(r);
	return NULL;
}

void llm_reader_render(struct llm_reader *r, struct expo *e)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	llm_model_render(&r->model, e);
	pthread_mutex_unlock(&r->lock);
}

void llm_reader_losses(struct llm_reader *r, uint64_t out[LLM_LOSS_MAX])
{
	memset(out, 0, sizeof(uint64_t) * LLM_LOSS_MAX);
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	memcpy(out, r->model.losses, sizeof(uint64_t) * LLM_LOSS_MAX);
	pthread_mutex_unlock(&r->lock);
}

int llm_reader_hosts(struct llm_reader *r, int *nproviders)
{
	*nproviders = r ? r->model.hosts.nproviders : 0;
	return r ? r->model.hosts.nhosts : 0;
}

void llm_reader_stop(struct llm_reader *r)
{
	if (!r)
		return;
	r->stop = 1;
	if (r->running)
		pthread_join(r->thread, NULL);
	ring_buffer__free(r->rb);
	llm_model_free(&r->model);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
