/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef AGENTBPF_CONFIG_H
#define AGENTBPF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include "proc.h"

#define CONFIG_MAX_BUCKETS	32
#define CONFIG_MAX_PORTS	16
#define CONFIG_MAX_ROUTES	32	/* route patterns */
#define CONFIG_MAX_BUS_PORTS	8
#define CONFIG_MAX_QUEUES	32	/* queue patterns */
#define CONFIG_MAX_LLM_HOSTS	32	/* llm_hosts added to the built-in ones */
#define CONFIG_LLM_NAME_LEN	64	/* a host name as the Host header or SNI shows it */

/* Every field that is set must match (AND); unset fields match anything. */
struct agent_match {
	char *cmdline;		/* glob on the space-joined argv */
	char *comm;		/* exact task name (first 15 bytes) */
	char *exe;		/* glob on the executable's path */
	char *cgroup;		/* glob on any of the process's cgroup paths */
	int port;		/* a TCP port the process listens on; 0 = unset */
};

struct agent_conf {
	char *name;		/* label value of agent_type / worker_name */
	char *type;		/* label value of worker_type; defaults to name */
	char *cache_type;	/* label value of cache_hits_total; defaults to name */
	struct agent_match match;
};

/* A queue, stream, channel or subject pattern and what is known of it. */
struct queue_conf {
	char *match;		/* glob on the key or subject */
	char *type;		/* message_type; NULL: the command family */
	int from;		/* producing agent's index, -1: learned */
	int to;			/* consuming agent's index, -1: learned */
};

/* An LLM API the agents call: a base URL (or host[:port]) and the provider label. */
struct llm_host_conf {
	char *url;
	char *provider;		/* NULL: the built-in name of a known host, else the host */
};

struct config {
	char *namespace;
	char *listen;
	double buckets[CONFIG_MAX_BUCKETS];
	int nbuckets;
	int max_processes;
	/* request_labels: extra labels of agent_requests_total and the duration histogram */
	bool label_method, label_route, label_code;
	int max_routes;		/* distinct routes per agent before route="other" */
	/*
	 * Where a request's duration starts: when its bytes were queued on the
	 * socket (a hook on every socket's data arrival, host-wide), or at the
	 * read that returns them (no such hook; time spent unread is not seen).
	 */
	bool start_at_read;
	/* The agents' own HTTP calls (client connections), by peer. */
	bool outbound_off;
	int max_peers;		/* distinct peers before peer="other" */
	char *routes[CONFIG_MAX_ROUTES];	/* globs; a matching route is labelled by its glob */
	int nroutes;
	struct agent_conf agents[AGENTBPF_MAX_AGENTS];
	int nagents;
	/* Message bus: remote ports of broker connections, queues kept apart. */
	uint16_t bus_ports[CONFIG_MAX_BUS_PORTS];
	int nbus_ports;
	int max_queues;
	struct queue_conf queues[CONFIG_MAX_QUEUES];
	int nqueues;
	/* LLM API calls: to the built-in hosts and these, read for model and tokens. */
	bool llm_off;
	struct llm_host_conf llm_hosts[CONFIG_MAX_LLM_HOSTS];
	int nllm_hosts;
	int max_models;		/* distinct model names before model="other" */
	int llm_capture_bytes;	/* of one call, each way, handed to the daemon */
	int llm_capture_rate;	/* bytes a second, host-wide */
};

/* What the matchers look at; fields may be NULL when unknown. */
struct proc_identity {
	const char *cmdline;	/* argv joined with spaces */
	const char *comm;
	const char *exe;
	const char *cgroups;	/* /proc/PID/cgroup lines: "id:controllers:path\n"... */
	const uint16_t *ports;	/* listening ports */
	int nports;
};

void config_defaults(struct config *cfg);
/*
 * Parses YAML. On error returns -1 and writes "file:line: what is wrong"
 * into err; cfg is then left with defaults only.
 */
int config_parse(struct config *cfg, const char *name, const char *text, size_t len,
		 char *err, size_t errlen);
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
void config_free(struct config *cfg);

/* Index of the first agent whose matchers all match, or -1. */
int config_match(const struct config *cfg, const struct proc_identity *id);
bool config_uses_ports(const struct config *cfg);
/* The route label of a collapsed route: the first matching pattern, or itself. */
const char *config_route_label(const struct config *cfg, const char *route);
bool config_valid_metric_name(const char *s);
/* The first queue pattern matching a key or subject, or NULL. */
const struct queue_conf *config_queue(const struct config *cfg, const char *name);
/*
 * The names an LLM API's calls show (lowercased, as the Host header or the
 * TLS server name has them) from its base URL or host[:port]: host:port
 * unless the port is the scheme's default, and the bare host for https
 * (whose server name has no port). Into names[0..2); returns how many, or
 * -1 if url is no URL. host gets the host alone.
 */
int config_llm_names(const char *url, char names[2][CONFIG_LLM_NAME_LEN],
		     char host[CONFIG_LLM_NAME_LEN]);
/* Parses "host:port", ":port", "[v6]:port"; returns 0 or -1. */
int config_parse_listen(const char *addr, char *host, size_t hostlen, uint16_t *port);

#endif
