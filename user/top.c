// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `agentbpf top`: reads a running daemon's /metrics like Prometheus would
 * and shows, per agent, what an operator asks first during an incident:
 * how many processes, how many requests and how fast, how many failing,
 * the latency percentiles of the last interval, what is in flight, restarts
 * and message traffic. One BPF user per host is enough: top is a client.
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "httpmodel.h"
#include "top.h"
#include "util.h"

#define TOP_MAX_BODY	(64 << 20)

enum family {
	F_REQUESTS, F_DURATION_BUCKET, F_PROCESSES, F_ACTIVE, F_RESTARTS, F_MESSAGES, F_FAMILY_UP,
	F_CALLS, F_LLM_TOKENS, F_NONE,
};

/* Families by name after an optional --namespace prefix ("insa_agent_requests_total"). */
static enum family family_of(const char *name, size_t len)
{
	static const struct { const char *suffix; enum family f; } known[] = {
		{ "agent_requests_total", F_REQUESTS },
		{ "agent_request_duration_seconds_bucket", F_DURATION_BUCKET },
		{ "agent_processes", F_PROCESSES },
		{ "worker_active_requests", F_ACTIVE },
		{ "worker_restarts_total", F_RESTARTS },
		{ "message_bus_messages_total", F_MESSAGES },
		{ "agentbpf_probe_family_up", F_FAMILY_UP },
		{ "agent_outbound_requests_total", F_CALLS },
		{ "agent_llm_tokens_total", F_LLM_TOKENS },
	};
	size_t i, n;

	for (i = 0; i < ARRAY_SIZE(known); i++) {
		n = strlen(known[i].suffix);
		if (len >= n && !memcmp(name + len - n, known[i].suffix, n) &&
		    (len == n || name[len - n - 1] == '_'))
			return known[i].f;
	}
	return F_NONE;
}

static const struct top_agent *find(const struct top_snapshot *s, const char *name)
{
	int i;

	for (i = 0; s && i < s->n; i++) {
		if (!strcmp(s->a[i].name, name))
			return &s->a[i];
	}
	return NULL;
}

/* The agent's row, added on first sight. */
static struct top_agent *agent(struct top_snapshot *s, const char *name)
{
	struct top_agent *a = (struct top_agent *)find(s, name);

	if (a || !*name)
		return a;
	if (s->n == TOP_MAX_AGENTS)
		return NULL;
	memset(&s->a[s->n], 0, sizeof(s->a[0]));
	snprintf(s->a[s->n].name, sizeof(s->a[0].name), "%s", name);
	return &s->a[s->n++];
}

/* One label's value out of "{k="v",...}", unescaped into out; "" when absent. */
static void label(const char *labels, const char *end, const char *key, char *out, size_t max)
{
	size_t klen = strlen(key), o = 0;
	const char *p = labels;

	*out = '\0';
	while (p && p < end) {
		while (p < end && (*p == '{' || *p == ',' || *p == ' '))
			p++;
		if (p + klen + 2 <= end && !memcmp(p, key, klen) && p[klen] == '=' && p[klen + 1] == '"') {
			for (p += klen + 2; p < end && *p != '"'; p++) {
				char c = *p;

				if (c == '\\' && p + 1 < end) {
					c = *++p;
					if (c == 'n')
						c = '\n';
				}
				if (o + 1 < max)
					out[o++] = c;
			}
			out[o] = '\0';
			return;
		}
		/* Skip this pair: to the closing quote of its value. */
		p = memchr(p, '"', end - p);
		if (!p)
			return;
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\')
				p++;
		}
		p++;
	}
}

static void fold(struct top_snapshot *s, enum family f, const char *labels, const char *lend,
		 double v)
{
	char name[64], other[32];
	struct top_agent *a;
	size_t i;

	if (f == F_FAMILY_UP) {
		/* A family that is off: its columns read 0 because nothing is measured. */
		if (!v && s->noff < TOP_MAX_OFF)
			label(labels, lend, "family", s->off[s->noff++], sizeof(s->off[0]));
		return;
	}
	label(labels, lend, f == F_ACTIVE || f == F_RESTARTS ? "worker_name" :
	      f == F_MESSAGES ? "to_agent" : "agent_type", name, sizeof(name));
	a = agent(s, name);
	switch (f) {
	case F_REQUESTS:
	case F_CALLS:
		label(labels, lend, "status", other, sizeof(other));
		for (i = 0; a && i < HTTP_STATUS_MAX; i++) {
			if (!strcmp(other, http_status_name(i)))
				(f == F_CALLS ? a->calls : a->requests)[i] += v;
		}
		break;
	case F_DURATION_BUCKET:
		label(labels, lend, "le", other, sizeof(other));
		if (a && a->nbuckets < TOP_MAX_BUCKETS) {
			a->le[a->nbuckets] = strcmp(other, "+Inf") ? strtod(other, NULL) : INFINITY;
			a->cum[a->nbuckets++] = v;
		}
		break;
	case F_LLM_TOKENS:
		if (a)
			a->llm_tokens += v;
		break;
	case F_PROCESSES:
		if (a)
			a->procs += v;
		break;
	case F_ACTIVE:
		if (a)
			a->inflight += v;
		break;
	case F_RESTARTS:
		if (a)
			a->restarts += v;
		break;
	case F_MESSAGES:
		if (a)
			a->msgs_in += v;
		/* "unknown": a producer outside the agents, not a row of its own. */
		label(labels, lend, "from_agent", name, sizeof(name));
		a = strcmp(name, "unknown") ? agent(s, name) : NULL;
		if (a)
			a->msgs_out += v;
		break;
	default:
		break;
	}
}

int top_parse(const char *text, struct top_snapshot *s)
{
	const char *line = text, *nl, *name_end, *lend, *val;
	int used = 0;
	double v;
	char *end;
	enum family f;

	s->n = 0;
	s->noff = 0;
	for (; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line);
		if (*line != '#' && nl > line) {
			name_end = line + strcspn(line, "{ \n");
			f = family_of(line, name_end - line);
			lend = name_end;
			if (*name_end == '{') {
				/* The label set ends at the first '}' outside a quoted value. */
				bool quoted = false;

				for (lend = name_end; lend < nl; lend++) {
					if (*lend == '\\' && quoted)
						lend++;
					else if (*lend == '"')
						quoted = !quoted;
					else if (*lend == '}' && !quoted)
						break;
				}
			}
			val = lend < nl && *lend == '}' ? lend + 1 : lend;
			v = strtod(val, &end);
			if (f != F_NONE && end != val) {
				fold(s, f, name_end, lend, v);
				used++;
			}
		}
		if (!*nl)
			break;
	}
	return used;
}

double top_quantile(const double *le, const double *cum, int n, double q)
{
	double total, rank, lo = 0, below = 0;
	int i;

	if (n < 1 || cum[n - 1] <= 0)
		return NAN;
	total = cum[n - 1];
	rank = q * total;
	for (i = 0; i < n; i++) {
		if (cum[i] >= rank) {
			/* Like PromQL's histogram_quantile: the top bucket answers its lower bound. */
			if (isinf(le[i]))
				return lo;
			if (cum[i] == below)
				return le[i];
			return lo + (le[i] - lo) * (rank - below) / (cum[i] - below);
		}
		lo = le[i];
		below = cum[i];
	}
	return lo;
}

static void duration(char *out, size_t max, double s)
{
	if (isnan(s))
		snprintf(out, max, "-");
	else if (s < 1)
		snprintf(out, max, "%.1fms", s * 1e3);
	else
		snprintf(out, max, "%.2fs", s);
}

struct row {
	const struct top_agent *a;
	double rate;
};

static int by_rate(const void *x, const void *y)
{
	const struct row *a = x, *b = y;

	if (a->rate != b->rate)
		return a->rate < b->rate ? 1 : -1;
	return strcmp(a->a->name, b->a->name);
}

void top_render(FILE *f, const struct top_snapshot *prev, const struct top_snapshot *cur,
		double secs)
{
	struct row rows[TOP_MAX_AGENTS];
	int i, j, n = 0;

	for (i = 0; i < cur->n; i++) {
		const struct top_agent *a = &cur->a[i], *p = find(prev, a->name);
		double now = a->requests[0] + a->requests[1] + a->requests[2];
		double then = p ? p->requests[0] + p->requests[1] + p->requests[2] : now;

		rows[n++] = (struct row){ a, secs > 0 ? (now - then) / secs : 0 };
	}
	qsort(rows, n, sizeof(rows[0]), by_rate);
	fprintf(f, "%-24s %5s %10s %8s %6s %8s %8s %8s %8s %8s %9s %9s %8s %9s %8s\n", "AGENT",
		"PROCS", "REQUESTS", "REQ/S", "ERR%", "P50", "P95", "P99", "INFLIGHT", "RESTARTS",
		"MSG_IN/S", "MSG_OUT/S", "CALLS/S", "CALL_ERR%", "TOK/MIN");
	for (i = 0; i < n; i++) {
		const struct top_agent *a = rows[i].a, *p = find(prev, a->name);
		double delta[TOP_MAX_BUCKETS], total = a->requests[0] + a->requests[1] + a->requests[2];
		double done = 0, failed = 0, in = 0, out = 0, calls = 0, calls_failed = 0, tokens = 0;
		char p50[16], p95[16], p99[16], err[16], call_err[16];

		for (j = 0; j < a->nbuckets; j++)
			delta[j] = a->cum[j] - (p && p->nbuckets == a->nbuckets ? p->cum[j] : 0);
		if (p) {
			done = total - (p->requests[0] + p->requests[1] + p->requests[2]);
			failed = a->requests[1] + a->requests[2] - p->requests[1] - p->requests[2];
			in = (a->msgs_in - p->msgs_in) / secs;
			out = (a->msgs_out - p->msgs_out) / secs;
			calls = a->calls[0] + a->calls[1] + a->calls[2] -
				(p->calls[0] + p->calls[1] + p->calls[2]);
			calls_failed = a->calls[1] + a->calls[2] - p->calls[1] - p->calls[2];
			tokens = (a->llm_tokens - p->llm_tokens) / secs * 60;
		}
		duration(p50, sizeof(p50), top_quantile(a->le, delta, a->nbuckets, 0.50));
		duration(p95, sizeof(p95), top_quantile(a->le, delta, a->nbuckets, 0.95));
		duration(p99, sizeof(p99), top_quantile(a->le, delta, a->nbuckets, 0.99));
		if (done > 0)
			snprintf(err, sizeof(err), "%.1f", 100 * failed / done);
		else
			snprintf(err, sizeof(err), "-");
		if (calls > 0)
			snprintf(call_err, sizeof(call_err), "%.1f", 100 * calls_failed / calls);
		else
			snprintf(call_err, sizeof(call_err), "-");
		fprintf(f, "%-24.24s %5.0f %10.0f %8.1f %6s %8s %8s %8s %8.0f %8.0f %9.1f %9.1f %8.1f %9s %8.0f\n",
			a->name, a->procs, total, rows[i].rate, err, p50, p95, p99, a->inflight,
			a->restarts, in, out, secs > 0 ? calls / secs : 0, call_err, tokens);
	}
	if (cur->noff) {
		fprintf(f, "off:");
		for (i = 0; i < cur->noff; i++)
			fprintf(f, "%s %s", i ? "," : "", cur->off[i]);
		fprintf(f, " (not measured: their columns are not zeros; 'agentbpf check' says why)\n");
	}
}

/* GET /metrics from the daemon; the body in *text (caller frees). */
static int fetch(const char *host, const char *port, char **text, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	struct strbuf sb;
	char buf[65536], *body;
	ssize_t n;
	int fd = -1, ret = -1;

	sb_init(&sb);
	if (getaddrinfo(host, port, &hints, &res)) {
		snprintf(err, errlen, "cannot resolve %s", host);
		goto cleanup;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && !connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	if (fd < 0) {
		snprintf(err, errlen, "no agentbpf daemon answers at %s:%s (%s): start it, or pass --web.listen-address where it listens",
			 host, port, strerror(errno));
		goto cleanup;
	}
	snprintf(buf, sizeof(buf), "GET /metrics HTTP/1.0\r\nHost: %s\r\nAccept: text/plain\r\n\r\n",
		 host);
	if (write(fd, buf, strlen(buf)) < 0) {
		snprintf(err, errlen, "cannot send to %s:%s: %s", host, port, strerror(errno));
		goto cleanup;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0 && sb.len < TOP_MAX_BODY)
		sb_append(&sb, buf, n);
	sb_putc(&sb, '\0');
	if (sb.oom || strncmp(sb.buf, "HTTP/1.", 7) || strncmp(sb.buf + 8, " 200", 4) ||
	    !(body = strstr(sb.buf, "\r\n\r\n"))) {
		snprintf(err, errlen, "%s:%s did not answer /metrics with 200: is it agentbpf?", host, port);
		goto cleanup;
	}
	*text = strdup(body + 4);
	ret = *text ? 0 : -1;
cleanup:
	if (fd >= 0)
		close(fd);
	if (res)
		freeaddrinfo(res);
	sb_free(&sb);
	return ret;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile sig_atomic_t top_stop;

static void on_stop(int sig)
{
	top_stop = 1;
}

int top_run(const char *addr, double interval, int iterations)
{
	struct top_snapshot *snap = calloc(2, sizeof(*snap));
	char host[256], port[8], err[512];
	bool screen = isatty(STDOUT_FILENO) && iterations == 0;
	double t[2] = { 0, 0 };
	int cur = 0, shown = 0, ret = 1;
	uint16_t p;
	char *text;

	if (!snap) {
		fprintf(stderr, "agentbpf top: out of memory\n");
		return 1;
	}
	if (config_parse_listen(addr, host, sizeof(host), &p)) {
		fprintf(stderr, "agentbpf top: --web.listen-address \"%s\" is not host:port, :port or [v6]:port\n",
			addr);
		ret = 2;
		goto cleanup;
	}
	/* Where the daemon listens on every address, ask it on loopback. */
	if (!*host || !strcmp(host, "0.0.0.0"))
		snprintf(host, sizeof(host), "127.0.0.1");
	else if (!strcmp(host, "::"))
		snprintf(host, sizeof(host), "::1");
	snprintf(port, sizeof(port), "%u", p);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	/* Rates need two readings: the first table comes one interval in. */
	for (;;) {
		if (fetch(host, port, &text, err, sizeof(err))) {
			fprintf(stderr, "agentbpf top: %s\n", err);
			goto cleanup;
		}
		top_parse(text, &snap[cur]);
		free(text);
		t[cur] = now_s();
		if (t[!cur] > 0) {
			if (screen)
				fputs("\033[H\033[2J", stdout);
			printf("agentbpf top  %s:%s  last %.1f s%s\n", host, port, t[cur] - t[!cur],
			       screen ? "  (Ctrl-C stops)" : "");
			top_render(stdout, &snap[!cur], &snap[cur], t[cur] - t[!cur]);
			putchar('\n');
			fflush(stdout);
			if (iterations > 0 && ++shown >= iterations)
				break;
		}
		cur = !cur;
		{
			struct timespec ts = { (time_t)interval, (long)((interval - (time_t)interval) * 1e9) };

			while (!top_stop && nanosleep(&ts, &ts) && errno == EINTR)
				;
		}
		if (top_stop)
			break;
	}
	ret = 0;
cleanup:
	free(snap);
	return ret;
}
