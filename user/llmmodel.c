// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "httpmodel.h"
#include "llmmodel.h"
#include "util.h"

const char *const llm_loss_names[LLM_LOSS_MAX] = {
	[LLM_LOSS_CALLS_FULL] = "llm_calls_full",
	[LLM_LOSS_GAP] = "llm_bytes_missing",
	[LLM_LOSS_IDLE] = "llm_call_idle",
};

/* The public APIs, always looked for (the config adds its own). */
static const struct {
	const char *url, *provider;
} builtin_hosts[] = {
	{ "https://api.openai.com", "openai" },
	{ "https://api.anthropic.com", "anthropic" },
	{ "https://generativelanguage.googleapis.com", "gemini" },
	{ "https://api.mistral.ai", "mistral" },
	{ "https://api.groq.com", "groq" },
};

static int provider_index(struct llm_hosts *h, const char *name)
{
	int i;

	for (i = 0; i < h->nproviders; i++) {
		if (!strcmp(h->providers[i], name))
			return i;
	}
	if (h->nproviders >= LLM_MAX_PROVIDERS)
		return -1;
	snprintf(h->providers[h->nproviders], LLM_PROVIDER_LEN, "%s", name);
	return h->nproviders++;
}

/* A URL's names onto the table; a name listed before keeps its provider. */
static int add_url(struct llm_hosts *h, const char *url, const char *provider, char *err,
		   size_t errlen)
{
	char names[2][CONFIG_LLM_NAME_LEN], host[CONFIG_LLM_NAME_LEN];
	int n = config_llm_names(url, names, host), i, j, p;
	size_t k;

	if (n < 0) {
		snprintf(err, errlen, "llm_hosts: \"%s\" is not a base URL", url);
		return -1;
	}
	/* Unnamed: a built-in host's provider, else the host itself. */
	for (k = 0; !provider && k < sizeof(builtin_hosts) / sizeof(builtin_hosts[0]); k++) {
		if (!strcmp(builtin_hosts[k].url + 8, host))
			provider = builtin_hosts[k].provider;
	}
	p = provider_index(h, provider ? provider : host);
	if (p < 0) {
		snprintf(err, errlen, "llm_hosts: more than %d providers", LLM_MAX_PROVIDERS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < h->nhosts && strcmp(h->hosts[j].name, names[i]); j++)
			;
		if (j < h->nhosts)
			continue;
		if (h->nhosts >= LLM_MAX_HOSTS) {
			snprintf(err, errlen, "llm_hosts: more than %d host names", LLM_MAX_HOSTS);
			return -1;
		}
		memcpy(h->hosts[h->nhosts].name, names[i], CONFIG_LLM_NAME_LEN);
		h->hosts[h->nhosts++].provider = p + 1;
	}
	return 0;
}

int llm_hosts_build(struct llm_hosts *h, const struct config *cfg, char *err, size_t errlen)
{
	size_t k;
	int i;

	memset(h, 0, sizeof(*h));
	/* The config's first: a name it gives a provider of its own keeps it. */
	for (i = 0; i < cfg->nllm_hosts; i++) {
		if (add_url(h, cfg->llm_hosts[i].url, cfg->llm_hosts[i].provider, err, errlen))
			return -1;
	}
	for (k = 0; k < sizeof(builtin_hosts) / sizeof(builtin_hosts[0]); k++) {
		if (add_url(h, builtin_hosts[k].url, builtin_hosts[k].provider, err, errlen))
			return -1;
	}
	return 0;
}

int llm_model_init(struct llm_model *m, const struct config *cfg, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	if (llm_hosts_build(&m->hosts, cfg, err, errlen))
		return -1;
	m->models = calloc(cfg->max_models, sizeof(*m->models));
	if (!m->models) {
		snprintf(err, errlen, "out of memory for %d model names", cfg->max_models);
		return -1;
	}
	return 0;
}

static void call_drop(struct llm_call *c)
{
	llm_parse_free(&c->p);
	c->used = false;
}

/* The call of an event: found by (pid, conn), or begun; NULL if there is no room. */
static struct llm_call *call_of(struct llm_model *m, const struct llm_event *e, bool create)
{
	struct llm_call *free_slot = NULL, *c;
	int i;

	for (i = 0; i < LLM_MAX_CALLS; i++) {
		c = &m->calls[i];
		if (!c->used) {
			if (!free_slot)
				free_slot = c;
			continue;
		}
		if (c->pid != e->pid || c->conn != e->conn)
			continue;
		if (c->seq == e->seq)
			return c;
		/* The connection's next call: the last one's end was lost. */
		call_drop(c);
		free_slot = c;
		break;
	}
	if (!create)
		return NULL;
	if (!free_slot) {
		m->losses[LLM_LOSS_CALLS_FULL]++;
		return NULL;
	}
	c = free_slot;
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->pid = e->pid;
	c->conn = e->conn;
	c->seq = e->seq;
	c->agent = e->agent;
	c->provider = e->provider;
	llm_parse_init(&c->p);
	return c;
}

static void data(struct llm_model *m, const struct llm_event *e)
{
	struct llm_call *c = call_of(m, e, true);
	uint32_t dir = e->dir & 1;

	if (!c)
		return;
	c->last_ns = e->ts_ns;
	if (e->pos != c->pos[dir]) {
		/* Bytes between were not sent: the request's are not needed, the answer stops here. */
		m->losses[LLM_LOSS_GAP]++;
		if (dir == LLM_DIR_RESP)
			llm_parse_gap(&c->p);
	}
	c->pos[dir] = e->pos + e->len;
	if (dir == LLM_DIR_REQ)
		llm_parse_request(&c->p, e->data, e->len);
	else
		llm_parse_response(&c->p, e->data, e->len, e->ts_ns);
}

/* The model label's index: a name seen before, a new one while there is room, else "other". */
static int model_index(struct llm_model *m, const char *name)
{
	int i;

	for (i = 0; i < m->nmodels; i++) {
		if (!strcmp(m->models[i], name))
			return i;
	}
	if (m->nmodels >= m->cfg->max_models)
		return m->cfg->max_models;
	snprintf(m->models[m->nmodels], LLM_MODEL_LEN, "%s", name);
	return m->nmodels++;
}

static const char *model_name(const struct llm_model *m, int i)
{
	return i < m->nmodels ? m->models[i] : "other";
}

static struct llm_series *series_of(struct llm_model *m, uint32_t agent, uint8_t provider,
				    int model)
{
	struct llm_series *s;
	uint32_t i;

	for (i = 0; i < m->nseries; i++) {
		s = &m->series[i];
		if (s->agent == agent && s->provider == provider && s->model == model)
			return s;
	}
	if (!(s = grow_array(m->series, &m->series_cap, m->nseries, sizeof(*s), 16)))
		return NULL;
	m->series = s;
	s = &m->series[m->nseries++];
	memset(s, 0, sizeof(*s));
	s->agent = agent;
	s->provider = provider;
	s->model = model;
	return s;
}

static void observe(const struct config *cfg, struct llm_hist *h, double v)
{
	int i;

	for (i = 0; i < cfg->nbuckets && v > cfg->buckets[i]; i++)
		;
	h->buckets[i]++;
	h->sum += v;
}

static void end(struct llm_model *m, const struct llm_event *e)
{
	struct llm_call *c = call_of(m, e, false);
	struct llm_parse empty, *p = &empty;
	struct llm_done d = { .agent = e->agent, .pid = e->pid, .code = e->code, .ttft_s = -1 };
	struct llm_series *s;
	const char *model;
	int k;

	if (c)
		p = &c->p;
	else
		llm_parse_init(&empty);
	llm_parse_finish(p);
	/* 429 and the like are errors to whoever waits for tokens; a stream may say one too. */
	d.status = e->status % HTTP_STATUS_MAX;
	if (d.status == HTTP_SUCCESS && (e->code >= 400 || p->error))
		d.status = HTTP_ERROR;
	/*
	 * An answer that began and did not finish: the kernel cannot always
	 * tell who ended a TLS connection (Node and SSL_read_ex leave the
	 * closing read unseen), and either way the tokens stopped coming.
	 */
	if (d.status == HTTP_TIMEOUT && e->code)
		d.status = HTTP_ERROR;
	model = p->model[0] ? p->model : p->req_model[0] ? p->req_model : "unknown";
	if (e->agent >= (uint32_t)m->cfg->nagents || !e->provider ||
	    e->provider > m->hosts.nproviders)
		goto cleanup;
	s = series_of(m, e->agent, e->provider, model_index(m, model));
	if (!s)
		goto cleanup;
	d.provider = m->hosts.providers[e->provider - 1];
	d.model = model_name(m, s->model);
	s->requests[d.status]++;
	for (k = 0; k < LLM_TOK_MAX; k++) {
		d.tokens[k] = p->tokens[k];
		if (p->tokens[k] > 0)
			s->tokens[k] += p->tokens[k];
	}
	if (p->tokens[LLM_TOK_OUTPUT] < 0 && p->sse) {
		d.estimated = p->content_events;
		s->estimated += p->content_events;
	}
	d.duration_s = e->ts_ns > e->start_ns ? (e->ts_ns - e->start_ns) / 1e9 : 0;
	observe(m->cfg, &s->duration, d.duration_s);
	if (p->first_token_ns && p->first_token_ns >= e->start_ns) {
		d.ttft_s = (p->first_token_ns - e->start_ns) / 1e9;
		observe(m->cfg, &s->ttft, d.ttft_s);
	}
	if (m->on_done)
		m->on_done(m->done_ctx, &d);
cleanup:
	if (c)
		call_drop(c);
	else
		llm_parse_free(&empty);
}

void llm_model_event(struct llm_model *m, const struct llm_event *e, size_t size)
{
	if (size < LLM_EVENT_HDR)
		return;
	if (e->kind == LLM_EV_DATA && e->len <= LLM_CHUNK && size >= LLM_EVENT_HDR + e->len)
		data(m, e);
	else if (e->kind == LLM_EV_END)
		end(m, e);
}

void llm_model_expire(struct llm_model *m, uint64_t now_ns)
{
	int i;

	for (i = 0; i < LLM_MAX_CALLS; i++) {
		if (m->calls[i].used && m->calls[i].last_ns + LLM_IDLE_NS < now_ns) {
			call_drop(&m->calls[i]);
			m->losses[LLM_LOSS_IDLE]++;
		}
	}
}

static int labels(const struct llm_model *m, const struct llm_series *s, struct label *l)
{
	l[0] = (struct label){ "agent_type", m->cfg->agents[s->agent].name };
	l[1] = (struct label){ "provider", m->hosts.providers[s->provider - 1] };
	l[2] = (struct label){ "model", model_name(m, s->model) };
	return 3;
}

/* A histogram family: the struct llm_hist at offset in each series. */
static void render_hist(const struct llm_model *m, struct expo *e, const char *name,
			const char *help, size_t offset)
{
	const struct config *cfg = m->cfg;
	const struct llm_hist *h;
	struct label l[3];
	uint32_t i;
	int n;

	expo_family(e, name, EXPO_HISTOGRAM, help);
	for (i = 0; i < m->nseries; i++) {
		h = (const struct llm_hist *)((const char *)&m->series[i] + offset);
		n = labels(m, &m->series[i], l);
		expo_histogram(e, l, n, cfg->buckets, h->buckets, cfg->nbuckets,
			       h->buckets[cfg->nbuckets], h->sum);
	}
}

void llm_model_render(const struct llm_model *m, struct expo *e)
{
	struct label l[4];
	uint32_t i;
	int k, n;

	expo_family(e, "agent_llm_requests_total", EXPO_COUNTER,
		    "LLM API calls by provider and model (as the answer names it, else as asked; \"other\" past max_models): error = an HTTP status >= 400 (429 included), an error event, or an answer cut off; timeout = the agent gave up before the answer began.");
	for (i = 0; i < m->nseries; i++) {
		n = labels(m, &m->series[i], l);
		for (k = 0; k < HTTP_STATUS_MAX; k++) {
			l[n] = (struct label){ "status", http_status_name(k) };
			expo_sample(e, l, n + 1, m->series[i].requests[k]);
		}
	}
	expo_family(e, "agent_llm_tokens_total", EXPO_COUNTER,
		    "Tokens as the provider's usage reports them: input, output, cache_read and cache_write (Anthropic's input excludes cached tokens, OpenAI's includes them).");
	for (i = 0; i < m->nseries; i++) {
		n = labels(m, &m->series[i], l);
		for (k = 0; k < LLM_TOK_MAX; k++) {
			l[n] = (struct label){ "kind", llm_token_kinds[k] };
			expo_sample(e, l, n + 1, m->series[i].tokens[k]);
		}
	}
	expo_family(e, "agent_llm_output_tokens_estimated_total", EXPO_COUNTER,
		    "An estimate: content chunks of streamed answers that reported no usage (about one token each).");
	for (i = 0; i < m->nseries; i++) {
		n = labels(m, &m->series[i], l);
		expo_sample(e, l, n, m->series[i].estimated);
	}
	render_hist(m, e, "agent_llm_time_to_first_token_seconds",
		    "From the request's first byte written to the read that brought the first content (a streamed delta; a plain answer's body).",
		    offsetof(struct llm_series, ttft));
	render_hist(m, e, "agent_llm_request_duration_seconds",
		    "From the request's first byte written to the read of the answer's last byte (or the connection's end).",
		    offsetof(struct llm_series, duration));
}

void llm_model_free(struct llm_model *m)
{
	int i;

	for (i = 0; i < LLM_MAX_CALLS; i++) {
		if (m->calls[i].used)
			call_drop(&m->calls[i]);
	}
	free(m->series);
	free(m->models);
	m->series = NULL;
	m->models = NULL;
}
