// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <ctype.h>
#include <strings.h>
#include "config.h"
#include "util.h"

/* LLM agents answer in tens of milliseconds to a minute. */
static const double default_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

struct parse_ctx {
	const char *name;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->buckets, default_buckets, sizeof(default_buckets));
	cfg->nbuckets = ARRAY_SIZE(default_buckets);
	cfg->max_processes = AGENTBPF_MAX_PROCS;
	cfg->max_routes = 100;
	cfg->max_peers = 100;
	/* Redis and NATS client ports. */
	cfg->bus_ports[0] = 6379;
	cfg->bus_ports[1] = 4222;
	cfg->nbus_ports = 2;
	cfg->max_queues = 200;
	cfg->max_models = 50;
	cfg->llm_capture_bytes = 1 << 20;
	cfg->llm_capture_rate = 16 << 20;
}

void config_free(struct config *cfg)
{
	int i;

	free(cfg->namespace);
	free(cfg->listen);
	for (i = 0; i < cfg->nroutes; i++)
		free(cfg->routes[i]);
	for (i = 0; i < cfg->nqueues; i++) {
		free(cfg->queues[i].match);
		free(cfg->queues[i].type);
	}
	for (i = 0; i < cfg->nllm_hosts; i++) {
		free(cfg->llm_hosts[i].url);
		free(cfg->llm_hosts[i].provider);
	}
	for (i = 0; i < cfg->nagents; i++) {
		struct agent_conf *a = &cfg->agents[i];

		free(a->name);
		free(a->type);
		free(a->cache_type);
		free(a->match.cmdline);
		free(a->match.comm);
		free(a->match.exe);
		free(a->match.cgroup);
	}
	config_defaults(cfg);
}

__attribute__((format(printf, 3, 4)))
static int fail(struct parse_ctx *c, yaml_node_t *node, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = snprintf(c->err, c->errlen, "%s:%zu: ", c->name,
		     node ? node->start_mark.line + 1 : 1);
	if (n >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *scalar(yaml_node_t *node)
{
	return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static int get_string(struct parse_ctx *c, yaml_node_t *node, const char *key, char **out)
{
	const char *s = scalar(node);

	if (!s)
		return fail(c, node, "%s: expected a string", key);
	if (!*s)
		return fail(c, node, "%s: must not be empty", key);
	free(*out);
	*out = strdup(s);
	return *out ? 0 : fail(c, node, "out of memory");
}

static int get_number(struct parse_ctx *c, yaml_node_t *node, const char *key, double *out)
{
	const char *s = scalar(node);
	char *end;

	if (!s || !*s)
		return fail(c, node, "%s: expected a number", key);
	errno = 0;
	*out = strtod(s, &end);
	if (errno || *end)
		return fail(c, node, "%s: \"%s\" is not a number", key, s);
	return 0;
}

static int get_int(struct parse_ctx *c, yaml_node_t *node, const char *key, long min,
		   long max, int *out)
{
	double v;

	if (get_number(c, node, key, &v))
		return -1;
	if (!(v >= min && v <= max) || v != (long)v)
		return fail(c, node, "%s: must be a whole number from %ld to %ld", key, min, max);
	*out = (int)v;
	return 0;
}

bool config_valid_metric_name(const char *s)
{
	const char *p;

	if (!s || !*s)
		return false;
	for (p = s; *p; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';

		if (!alpha && !(p != s && *p >= '0' && *p <= '9'))
			return false;
	}
	return true;
}

/* key is the key's node: errors about the key itself point at its line. */
typedef int (*pair_fn)(struct parse_ctx *c, yaml_node_t *key, const char *k, yaml_node_t *v,
		       void *arg);

/* Calls fn for each key of a mapping; keys must be strings and unique. */
static int for_each_pair(struct parse_ctx *c, yaml_node_t *map, const char *what,
			 pair_fn fn, void *arg)
{
	yaml_node_pair_t *pair, *prev;

	if (!map || map->type != YAML_MAPPING_NODE)
		return fail(c, map, "%s: expected a mapping of key: value", what);
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *value = yaml_document_get_node(c->doc, pair->value);
		const char *k = scalar(key);

		if (!k)
			return fail(c, key, "%s: keys must be strings", what);
		for (prev = map->data.mapping.pairs.start; prev < pair; prev++) {
			if (!strcmp(scalar(yaml_document_get_node(c->doc, prev->key)), k))
				return fail(c, key, "%s: duplicate key \"%s\"", what, k);
		}
		if (fn(c, key, k, value, arg))
			return -1;
	}
	return 0;
}

static int parse_match(struct parse_ctx *c, yaml_node_t *key, const char *k, yaml_node_t *v,
		           void *arg)
{
	struct agent_match *m = arg;

	if (!strcmp(k, "cmdline"))
		return get_string(c, v, "match.cmdline", &m->cmdline);
	if (!strcmp(k, "comm"))
		return get_string(c, v, "match.comm", &m->comm);
	if (!strcmp(k, "exe"))
		return get_string(c, v, "match.exe", &m->exe);
	if (!strcmp(k, "cgroup"))
		return get_string(c, v, "match.cgroup", &m->cgroup);
	if (!strcmp(k, "port"))
		return get_int(c, v, "match.port", 1, 65535, &m->port);
	return fail(c, key, "match: unknown key \"%s\" (expected cmdline, comm, exe, port or cgroup)", k);
}

static int parse_agent(struct parse_ctx *c, yaml_node_t *key, const char *k, yaml_node_t *v,
		           void *arg)
{
	struct agent_conf *a = arg;

	if (!strcmp(k, "name"))
		return get_string(c, v, "name", &a->name);
	if (!strcmp(k, "type"))
		return get_string(c, v, "type", &a->type);
	if (!strcmp(k, "cache_type"))
		return get_string(c, v, "cache_type", &a->cache_type);
	if (!strcmp(k, "match")) {
		if (for_each_pair(c, v, "match", parse_match, &a->match))
			return -1;
		if (!a->match.cmdline && !a->match.comm && !a->match.exe &&
		    !a->match.cgroup && !a->match.port)
			return fail(c, v, "agent \"%s\": match needs at least one of cmdline, comm, exe, port, cgroup",
				    a->name ? a->name : "?");
		return 0;
	}
	return fail(c, key, "agent: unknown key \"%s\" (expected name, type, cache_type or match)", k);
}

static int parse_agents(struct parse_ctx *c, struct config *cfg, yaml_node_t *seq)
{
	yaml_node_item_t *item;
	int i;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(c, seq, "agents: expected a list of agents");
	for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top; item++) {
		yaml_node_t *node = yaml_document_get_node(c->doc, *item);
		struct agent_conf *a;

		if (cfg->nagents >= AGENTBPF_MAX_AGENTS)
			return fail(c, node, "agents: at most %d agents", AGENTBPF_MAX_AGENTS);
		a = &cfg->agents[cfg->nagents++];
		if (for_each_pair(c, node, "agent", parse_agent, a))
			return -1;
		if (!a->name)
			return fail(c, node, "agent: missing name");
		if (strlen(a->name) > 128)
			return fail(c, node, "agent \"%.20s...\": name longer than 128 bytes", a->name);
		if (!a->match.cmdline && !a->match.comm && !a->match.exe &&
		    !a->match.cgroup && !a->match.port)
			return fail(c, node, "agent \"%s\": missing match (cmdline, comm, exe, port or cgroup)",
				    a->name);
		if (a->match.comm && strlen(a->match.comm) >= PROC_COMM_LEN)
			return fail(c, node, "agent \"%s\": match.comm is longer than the kernel's %d-byte task name",
				    a->name, PROC_COMM_LEN - 1);
		for (i = 0; i < cfg->nagents - 1; i++) {
			if (!strcmp(cfg->agents[i].name, a->name))
				return fail(c, node, "agent \"%s\": name used twice", a->name);
		}
		if (!a->type && !(a->type = strdup(a->name)))
			return fail(c, node, "out of memory");
		if (!a->cache_type && !(a->cache_type = strdup(a->name)))
			return fail(c, node, "out of memory");
	}
	return 0;
}

static int parse_bus_ports(struct parse_ctx *c, struct config *cfg, yaml_node_t *seq)
{
	yaml_node_item_t *item;
	int port;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(c, seq, "bus_ports: expected a list of broker ports like [6379, 4222]");
	cfg->nbus_ports = 0;
	for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top; item++) {
		yaml_node_t *node = yaml_document_get_node(c->doc, *item);

		if (cfg->nbus_ports >= CONFIG_MAX_BUS_PORTS)
			return fail(c, node, "bus_ports: at most %d ports", CONFIG_MAX_BUS_PORTS);
		if (get_int(c, node, "bus_ports", 1, 65535, &port))
			return -1;
		cfg->bus_ports[cfg->nbus_ports++] = port;
	}
	return 0;
}

/* Agent names are resolved after the whole file is read: agents may come later. */
struct queue_parse {
	struct queue_conf *q;
	char *from, *to;
	yaml_node_t *from_node, *to_node;
};

static int parse_queue(struct parse_ctx *c, yaml_node_t *key, const char *k, yaml_node_t *v,
		       void *arg)
{
	struct queue_parse *qp = arg;

	if (!strcmp(k, "match"))
		return get_string(c, v, "queues.match", &qp->q->match);
	if (!strcmp(k, "type")) {
		if (get_string(c, v, "queues.type", &qp->q->type))
			return -1;
		if (strlen(qp->q->type) > 64)
			return fail(c, v, "queues.type: longer than 64 bytes");
		return 0;
	}
	if (!strcmp(k, "from")) {
		qp->from_node = v;
		return get_string(c, v, "queues.from", &qp->from);
	}
	if (!strcmp(k, "to")) {
		qp->to_node = v;
		return get_string(c, v, "queues.to", &qp->to);
	}
	return fail(c, key, "queues: unknown key \"%s\" (expected match, type, from or to)", k);
}

static int agent_index(struct parse_ctx *c, struct config *cfg, yaml_node_t *node,
		       const char *name, const char *what, int *out)
{
	int i;

	*out = -1;
	if (!name)
		return 0;
	for (i = 0; i < cfg->nagents; i++) {
		if (!strcmp(cfg->agents[i].name, name)) {
			*out = i;
			return 0;
		}
	}
	return fail(c, node, "queues.%s: \"%s\" is not the name of an agent", what, name);
}

static int parse_queues(struct parse_ctx *c, struct config *cfg, yaml_node_t *seq)
{
	yaml_node_item_t *item;
	int ret = 0;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(c, seq, "queues: expected a list of {match, from, to, type}");
	for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top; item++) {
		yaml_node_t *node = yaml_document_get_node(c->doc, *item);
		struct queue_parse qp = { 0 };

		if (cfg->nqueues >= CONFIG_MAX_QUEUES)
			return fail(c, node, "queues: at most %d patterns", CONFIG_MAX_QUEUES);
		qp.q = &cfg->queues[cfg->nqueues++];
		ret = for_each_pair(c, node, "queues", parse_queue, &qp);
		if (!ret && !qp.q->match)
			ret = fail(c, node, "queues: missing match (a glob on the key or subject)");
		if (!ret)
			ret = agent_index(c, cfg, qp.from_node, qp.from, "from", &qp.q->from);
		if (!ret)
			ret = agent_index(c, cfg, qp.to_node, qp.to, "to", &qp.q->to);
		free(qp.from);
		free(qp.to);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_buckets(struct parse_ctx *c, struct config *cfg, yaml_node_t *seq)
{
	yaml_node_item_t *item;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(c, seq, "buckets: expected a list of upper bounds in seconds");
	cfg->nbuckets = 0;
	for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top; item++) {
		yaml_node_t *node = yaml_document_get_node(c->doc, *item);
		double v;

		if (cfg->nbuckets >= CONFIG_MAX_BUCKETS)
			return fail(c, node, "buckets: at most %d buckets", CONFIG_MAX_BUCKETS);
		if (get_number(c, node, "buckets", &v))
			return -1;
		if (!(v > 0) || v > 1e6)
			return fail(c, node, "buckets: %g is not a positive number of seconds", v);
		if (cfg->nbuckets && v <= cfg->buckets[cfg->nbuckets - 1])
			return fail(c, node, "buckets: must be strictly ascending (%g after %g)",
				    v, cfg->buckets[cfg->nbuckets - 1]);
		cfg->buckets[cfg->nbuckets++] = v;
	}
	if (!cfg->nbuckets)
		return fail(c, seq, "buckets: list is empty");
	return 0;
}

static int parse_request_labels(struct parse_ctx *c, struct config *cfg, yaml_node_t *seq)
{
	yaml_node_item_t *item;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(c, seq, "request_labels: expected a list of method, route, code");
	for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top; item++) {
		yaml_node_t *node = yaml_document_get_node(c->doc, *item);
		const char *v = scalar(node);

		if (v && !strcmp(v, "method"))
			cfg->label_method = true;
		else if (v && !strcmp(v, "route"))
			cfg->label_route = true;
		else if (v && !strcmp(v, "code"))
			cfg->label_code = true;
		else
			return fail(c, node, "request_labels: \"%s\" is not one of method, route, code",
				    v ? v : "?");
	}
	return 0;
}

static int parse_routes(struct parse_ctx *c, struct config *cfg, yaml_node_t *seq)
{
	yaml_node_item_t *item;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(c, seq, "routes: expected a list of path globs like /v1/chat/*");
	for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top; item++) {
		yaml_node_t *node = yaml_document_get_node(c->doc, *item);

		if (cfg->nroutes >= CONFIG_MAX_ROUTES)
			return fail(c, node, "routes: at most %d patterns", CONFIG_MAX_ROUTES);
		if (get_string(c, node, "routes", &cfg->routes[cfg->nroutes]))
			return -1;
		if (cfg->routes[cfg->nroutes++][0] != '/')
			return fail(c, node, "routes: \"%s\" must start with /", cfg->routes[cfg->nroutes - 1]);
	}
	return 0;
}

static int parse_llm_host(struct parse_ctx *c, yaml_node_t *key, const char *k, yaml_node_t *v,
			  void *arg)
{
	struct llm_host_conf *h = arg;

	if (!strcmp(k, "url"))
		return get_string(c, v, "llm_hosts: url", &h->url);
	if (!strcmp(k, "provider"))
		return get_string(c, v, "llm_hosts: provider", &h->provider);
	return fail(c, key, "llm_hosts: unknown key \"%s\" (expected url and provider)", k);
}

static int parse_llm_hosts(struct parse_ctx *c, struct config *cfg, yaml_node_t *seq)
{
	char names[2][CONFIG_LLM_NAME_LEN], host[CONFIG_LLM_NAME_LEN];
	yaml_node_item_t *item;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(c, seq, "llm_hosts: expected a list of base URLs (https://host[:port]/path) or {url, provider}");
	for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top; item++) {
		yaml_node_t *node = yaml_document_get_node(c->doc, *item);
		struct llm_host_conf *h;

		if (cfg->nllm_hosts >= CONFIG_MAX_LLM_HOSTS)
			return fail(c, node, "llm_hosts: at most %d hosts", CONFIG_MAX_LLM_HOSTS);
		h = &cfg->llm_hosts[cfg->nllm_hosts++];
		if (node->type == YAML_SCALAR_NODE) {
			if (get_string(c, node, "llm_hosts", &h->url))
				return -1;
		} else if (for_each_pair(c, node, "llm_hosts", parse_llm_host, h)) {
			return -1;
		}
		if (!h->url)
			return fail(c, node, "llm_hosts: missing url");
		if (config_llm_names(h->url, names, host) < 0)
			return fail(c, node, "llm_hosts: \"%s\" is not a base URL (http[s]://host[:port][/path]) or host[:port] of at most %d bytes",
				    h->url, CONFIG_LLM_NAME_LEN - 1);
		if (h->provider && strlen(h->provider) > 32)
			return fail(c, node, "llm_hosts: provider \"%.20s...\" is longer than 32 bytes",
				    h->provider);
	}
	return 0;
}

static int parse_top(struct parse_ctx *c, yaml_node_t *key, const char *k, yaml_node_t *v,
		         void *arg)
{
	struct config *cfg = arg;
	char host[256];
	uint16_t port;

	if (!strcmp(k, "namespace")) {
		if (get_string(c, v, "namespace", &cfg->namespace))
			return -1;
		if (!config_valid_metric_name(cfg->namespace))
			return fail(c, v, "namespace: \"%s\" is not a valid metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*)",
				    cfg->namespace);
		return 0;
	}
	if (!strcmp(k, "listen")) {
		if (get_string(c, v, "listen", &cfg->listen))
			return -1;
		if (config_parse_listen(cfg->listen, host, sizeof(host), &port))
			return fail(c, v, "listen: \"%s\" is not host:port, :port or [v6]:port", cfg->listen);
		return 0;
	}
	if (!strcmp(k, "buckets"))
		return parse_buckets(c, cfg, v);
	if (!strcmp(k, "max_processes"))
		return get_int(c, v, "max_processes", 64, 4 << 20, &cfg->max_processes);
	if (!strcmp(k, "agents"))
		return parse_agents(c, cfg, v);
	if (!strcmp(k, "request_labels"))
		return parse_request_labels(c, cfg, v);
	if (!strcmp(k, "max_routes"))
		return get_int(c, v, "max_routes", 1, 10000, &cfg->max_routes);
	if (!strcmp(k, "request_start")) {
		const char *s = scalar(v);

		if (s && !strcmp(s, "arrival"))
			cfg->start_at_read = false;
		else if (s && !strcmp(s, "read"))
			cfg->start_at_read = true;
		else
			return fail(c, v, "request_start: expected arrival (when the request reached the socket, the default) or read (when the agent read it)");
		return 0;
	}
	if (!strcmp(k, "routes"))
		return parse_routes(c, cfg, v);
	if (!strcmp(k, "outbound")) {
		const char *s = scalar(v);

		if (s && !strcmp(s, "true"))
			cfg->outbound_off = false;
		else if (s && !strcmp(s, "false"))
			cfg->outbound_off = true;
		else
			return fail(c, v, "outbound: expected true (follow the HTTP calls agents make, the default) or false");
		return 0;
	}
	if (!strcmp(k, "max_peers"))
		return get_int(c, v, "max_peers", 1, 10000, &cfg->max_peers);
	if (!strcmp(k, "llm")) {
		const char *s = scalar(v);

		if (s && !strcmp(s, "true"))
			cfg->llm_off = false;
		else if (s && !strcmp(s, "false"))
			cfg->llm_off = true;
		else
			return fail(c, v, "llm: expected true (read the agents' calls to llm_hosts for model and tokens, the default) or false");
		return 0;
	}
	if (!strcmp(k, "llm_hosts"))
		return parse_llm_hosts(c, cfg, v);
	if (!strcmp(k, "max_models"))
		return get_int(c, v, "max_models", 1, 1000, &cfg->max_models);
	if (!strcmp(k, "llm_capture_bytes"))
		return get_int(c, v, "llm_capture_bytes", 4096, 64 << 20, &cfg->llm_capture_bytes);
	if (!strcmp(k, "llm_capture_rate"))
		return get_int(c, v, "llm_capture_rate", 65536, 1 << 30, &cfg->llm_capture_rate);
	if (!strcmp(k, "bus_ports"))
		return parse_bus_ports(c, cfg, v);
	if (!strcmp(k, "max_queues"))
		return get_int(c, v, "max_queues", 1, 10000, &cfg->max_queues);
	if (!strcmp(k, "queues")) {
		/* Needs the agents' names: parsed after the rest (see config_parse). */
		return 0;
	}
	return fail(c, key, "unknown key \"%s\" (expected agents, namespace, listen, buckets, max_processes, request_labels, max_routes, routes, request_start, outbound, max_peers, llm, llm_hosts, max_models, llm_capture_bytes, llm_capture_rate, bus_ports, max_queues or queues)", k);
}

int config_parse(struct config *cfg, const char *name, const char *text, size_t len,
		 char *err, size_t errlen)
{
	struct parse_ctx c = { .name = name, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int ret = -1;

	config_defaults(cfg);
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu: %s%s%s", name, parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "invalid YAML",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return -1;
	}
	c.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		snprintf(err, errlen, "%s:1: empty file: expected a mapping with an agents: list", name);
		goto cleanup;
	}
	if (for_each_pair(&c, root, "config", parse_top, cfg))
		goto cleanup;
	{
		yaml_node_pair_t *pair;

		for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
			const char *k = scalar(yaml_document_get_node(&doc, pair->key));

			if (k && !strcmp(k, "queues") &&
			    parse_queues(&c, cfg, yaml_document_get_node(&doc, pair->value)))
				goto cleanup;
		}
	}
	ret = 0;
cleanup:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (ret)
		config_free(cfg);
	return ret;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct strbuf sb;
	char chunk[4096];
	size_t n;
	FILE *f;
	int ret;

	config_defaults(cfg);
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open config: %s", path, strerror(errno));
		return -1;
	}
	sb_init(&sb);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sb_append(&sb, chunk, n);
	fclose(f);
	if (sb.oom) {
		snprintf(err, errlen, "%s: out of memory reading config", path);
		sb_free(&sb);
		return -1;
	}
	ret = config_parse(cfg, path, sb.buf ? sb.buf : "", sb.len, err, errlen);
	sb_free(&sb);
	return ret;
}

static bool cgroup_matches(const char *glob, const char *cgroups)
{
	char line[PATH_MAX];
	const char *p = cgroups, *nl, *path;
	size_t n;

	/* Each line is "hierarchy-id:controllers:path"; any hierarchy may match. */
	while (p && *p) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			path = strchr(line, ':');
			path = path ? strchr(path + 1, ':') : NULL;
			if (path && !fnmatch(glob, path + 1, 0))
				return true;
		}
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static bool agent_matches(const struct agent_match *m, const struct proc_identity *id)
{
	int i;

	if (m->comm && (!id->comm || strcmp(m->comm, id->comm)))
		return false;
	if (m->cmdline && (!id->cmdline || fnmatch(m->cmdline, id->cmdline, 0)))
		return false;
	if (m->exe && (!id->exe || fnmatch(m->exe, id->exe, 0)))
		return false;
	if (m->cgroup && (!id->cgroups || !cgroup_matches(m->cgroup, id->cgroups)))
		return false;
	if (m->port) {
		for (i = 0; i < id->nports; i++) {
			if (id->ports[i] == m->port)
				break;
		}
		if (i == id->nports)
			return false;
	}
	return true;
}

int config_match(const struct config *cfg, const struct proc_identity *id)
{
	int i;

	for (i = 0; i < cfg->nagents; i++) {
		if (agent_matches(&cfg->agents[i].match, id))
			return i;
	}
	return -1;
}

const char *config_route_label(const struct config *cfg, const char *route)
{
	int i;

	for (i = 0; i < cfg->nroutes; i++) {
		if (!fnmatch(cfg->routes[i], route, 0))
			return cfg->routes[i];
	}
	return route;
}

bool config_uses_ports(const struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->nagents; i++) {
		if (cfg->agents[i].match.port)
			return true;
	}
	return false;
}

int config_llm_names(const char *url, char names[2][CONFIG_LLM_NAME_LEN],
		     char host[CONFIG_LLM_NAME_LEN])
{
	const char *p = url, *end;
	bool tls = false, plain = false;
	long port = 0;
	size_t n, i;
	int count = 0;

	if (!strncasecmp(p, "https://", 8)) {
		tls = true;
		p += 8;
	} else if (!strncasecmp(p, "http://", 7)) {
		plain = true;
		p += 7;
	}
	end = p + strcspn(p, "/?#");
	if (*p == '[') {	/* [v6]:port */
		const char *close = memchr(p, ']', end - p);

		if (!close)
			return -1;
		n = close + 1 - p;
		if (close + 1 < end && close[1] != ':')
			return -1;
	} else {
		n = strcspn(p, ":/?#");
	}
	if (!n || n >= CONFIG_LLM_NAME_LEN - 6)
		return -1;
	for (i = 0; i < n; i++) {
		char ch = p[i];

		if (!isalnum((unsigned char)ch) && !strchr(".-_[]:", ch))
			return -1;
		host[i] = tolower((unsigned char)ch);
	}
	host[n] = '\0';
	if (p + n < end) {
		char *stop;

		port = strtol(p + n + 1, &stop, 10);
		if (stop != end || port < 1 || port > 65535)
			return -1;
	}
	/* The port the Host header leaves out is the scheme's. */
	if (port && !((tls && port == 443) || (plain && port == 80)))
		snprintf(names[count++], CONFIG_LLM_NAME_LEN, "%s:%ld", host, port);
	if (!port || tls || (plain && port == 80))
		snprintf(names[count++], CONFIG_LLM_NAME_LEN, "%s", host);
	return count;
}

int config_parse_listen(const char *addr, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *hs = addr, *he;
	char *end;
	long p;

	if (addr[0] == '[') {
		he = strchr(addr, ']');
		if (!he || he[1] != ':')
			return -1;
		hs = addr + 1;
		colon = he + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', colon - addr))
			return -1;
		he = colon;
	}
	if ((size_t)(he - hs) >= hostlen)
		return -1;
	memcpy(host, hs, he - hs);
	host[he - hs] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || p < 1 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

const struct queue_conf *config_queue(const struct config *cfg, const char *name)
{
	int i;

	for (i = 0; i < cfg->nqueues; i++) {
		if (!fnmatch(cfg->queues[i].match, name, 0))
			return &cfg->queues[i];
	}
	return NULL;
}
