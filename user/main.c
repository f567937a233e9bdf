// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * agentbpf: per-agent metrics from the kernel. One daemon per host loads the
 * BPF probes, keeps the pid -> agent table, and serves /metrics.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "check.h"
#include "config.h"
#include "expo.h"
#include "family.h"
#include "caps.h"
#include "kube.h"
#include "lifecycle.h"
#include "proc.h"
#include "proc.skel.h"
#include "top.h"
#include "sockhook.h"
#include "verify.h"
#include "proc_user.h"
#include "procfs.h"
#include "selfstats.h"
#include "server.h"

#define DEFAULT_CONFIG	"/etc/agentbpf/agentbpf.yml"
#define DEFAULT_LISTEN	":9091"
#define DEFAULT_BTF	"/sys/kernel/btf/vmlinux"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* How long a vanished member may wait for its exit event. */
#define VANISHED_GRACE_NS	5000000000ull

struct options {
	const char *command;
	const char *config;
	const char *listen;
	const char *namespace;
	const char *btf;
	bool config_given;
	bool bpf_stats;
	bool json;
	const char *kube_root;
	double interval;	/* top */
	int iterations;		/* top: tables to print, 0 = until stopped */
};

struct app {
	struct options opt;
	struct config cfg;
	pthread_mutex_t lock;
	struct lifecycle lc;
	/* Each family's tracker (families[]); the first is the lifecycle family's. */
	void *fam[NFAMILIES];
	struct proc_tracker *proc;
	/*
	 * The socket families load while /metrics is already served: a scrape
	 * reads them (under lock) only once they are up.
	 */
	bool up[NFAMILIES];
	struct sock_dispatch sock;
	uint64_t boot_to_unix_ns;
	uint64_t scrapes;
	double last_scrape_s;
	struct member *snap;	/* scrape-time copy of the member table */
	struct kube_cache kube;
	bool kube_on;		/* the node has a kubelet log tree */
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: agentbpf [COMMAND] [OPTIONS]\n"
		"\n"
		"Per-agent request, lifecycle and message-bus metrics measured in the kernel\n"
		"with BPF, with no change to the agents. Needs root (or CAP_BPF, CAP_PERFMON,\n"
		"CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH) and a kernel with BTF.\n"
		"\n"
		"Commands:\n"
		"  run            serve /metrics (default)\n"
		"  check          report what this kernel and config support; exit 1 if agentbpf cannot run\n"
		"  trace          print one line per agent process event, HTTP request and bus event\n"
		"  top            live per-agent table (requests, errors, latency percentiles, in\n"
		"                 flight, restarts, messages) from the daemon at --web.listen-address\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE               agents and settings (default " DEFAULT_CONFIG ")\n"
		"  -l, --web.listen-address ADDR   where /metrics is served: host:port, :port or\n"
		"                                  [v6]:port (default " DEFAULT_LISTEN ")\n"
		"  -n, --namespace NS              prefix for metric families, e.g. NS_agent_requests_total\n"
		"      --btf FILE                  kernel BTF to use instead of " DEFAULT_BTF "\n"
		"      --bpf-stats                 enable the kernel's BPF run-time accounting for the\n"
		"                                  agentbpf_bpf_program_* metrics (two clock reads per\n"
		"                                  program run, host-wide while agentbpf runs)\n"
		"      --kube.root DIR             where the kubelet's log tree is (DIR/var/log/pods,\n"
		"                                  DIR/var/log/containers; default /): names the pods\n"
		"                                  and containers of agent processes when it exists\n"
		"      --json                      trace: one JSON object per line\n"
		"      --interval SECONDS          top: refresh period (default 2)\n"
		"      --iterations N              top: print N tables and exit (default: until Ctrl-C)\n"
		"  -h, --help                      this help\n"
		"  -V, --version                   print the version\n"
		"\n"
		"Flags override the config file. Exit status: 0 ok, 1 cannot run here\n"
		"(privileges, BTF, address in use), 2 bad usage or config.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "web.listen-address", required_argument, NULL, 'l' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "btf", required_argument, NULL, 'b' },
		{ "bpf-stats", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "kube.root", required_argument, NULL, 'k' },
		{ "interval", required_argument, NULL, 'i' },
		{ "iterations", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	char *end;
	int c;

	*o = (struct options){ .command = "run", .config = DEFAULT_CONFIG, .btf = DEFAULT_BTF,
			       .kube_root = "/", .interval = 2 };
	if (argc > 1 && argv[1][0] != '-') {
		o->command = argv[1];
		argc--;
		argv++;
	}
	while ((c = getopt_long(argc, argv, "c:l:n:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			o->config_given = true;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 'n':
			o->namespace = optarg;
			break;
		case 'b':
			o->btf = optarg;
			break;
		case 's':
			o->bpf_stats = true;
			break;
		case 'k':
			o->kube_root = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'i':
			o->interval = strtod(optarg, &end);
			if (*end || !(o->interval >= 0.1 && o->interval <= 3600)) {
				fprintf(stderr, "agentbpf: --interval \"%s\" is not a number of seconds from 0.1 to 3600\n",
					optarg);
				return -1;
			}
			break;
		case 'I':
			o->iterations = (int)strtol(optarg, &end, 10);
			if (*end || o->iterations < 1) {
				fprintf(stderr, "agentbpf: --iterations \"%s\" is not a positive number\n", optarg);
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("agentbpf %s\n", AGENTBPF_VERSION);
			exit(0);
		default:
			fprintf(stderr, "Try 'agentbpf --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "agentbpf: unexpected argument \"%s\"; try 'agentbpf --help'\n", argv[optind]);
		return -1;
	}
	if (strcmp(o->command, "run") && strcmp(o->command, "check") && strcmp(o->command, "trace") &&
	    strcmp(o->command, "top")) {
		fprintf(stderr, "agentbpf: unknown command \"%s\" (expected run, check, trace or top)\n",
			o->command);
		return -1;
	}
	return 0;
}

/* Loads the config and applies flag overrides; prints the error itself. */
static int load_config(const struct options *o, struct config *cfg)
{
	char err[512];
	char host[256];
	uint16_t port;

	if (access(o->config, F_OK) && !o->config_given) {
		fprintf(stderr, "agentbpf: no config at %s: pass --config FILE (see deploy/agentbpf.yml)\n",
			o->config);
		return -1;
	}
	if (config_load(cfg, o->config, err, sizeof(err))) {
		fprintf(stderr, "agentbpf: %s\n", err);
		return -1;
	}
	if (o->namespace) {
		if (*o->namespace && !config_valid_metric_name(o->namespace)) {
			fprintf(stderr, "agentbpf: --namespace \"%s\" is not a valid metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*)\n",
				o->namespace);
			return -1;
		}
		free(cfg->namespace);
		cfg->namespace = strdup(o->namespace);
	}
	if (o->listen) {
		if (config_parse_listen(o->listen, host, sizeof(host), &port)) {
			fprintf(stderr, "agentbpf: --web.listen-address \"%s\" is not host:port, :port or [v6]:port\n",
				o->listen);
			return -1;
		}
		free(cfg->listen);
		cfg->listen = strdup(o->listen);
	}
	if (!cfg->listen)
		cfg->listen = strdup(DEFAULT_LISTEN);
	return cfg->listen ? 0 : -1;
}

/* The family's tracker when it is up, else NULL. */
static void *family_up(struct app *app, int i)
{
	return app->up[i] ? app->fam[i] : NULL;
}

static void render_self(struct app *app, struct expo *e)
{
	static const char *const ev_names[] = { NULL, "exec", "fork", "exit", "listen" };
	struct bpf_object *objs[NFAMILIES];
	uint64_t drops[FAMILY_MAX_DROPS];
	struct label l[2];
	int i, k;

	selfstats_render_build_info(e);
	selfstats_render_process(e, app->boot_to_unix_ns);

	expo_family(e, "agentbpf_scrape_duration_seconds", EXPO_GAUGE,
		    "Time the previous scrape of /metrics took to render.");
	expo_sample(e, NULL, 0, app->last_scrape_s);
	expo_family(e, "agentbpf_scrapes_total", EXPO_COUNTER, "Scrapes of /metrics served.");
	expo_sample(e, NULL, 0, app->scrapes);

	expo_family(e, "agentbpf_tracked_processes", EXPO_GAUGE,
		    "Processes currently attributed to a configured agent.");
	expo_sample(e, NULL, 0, app->lc.count);

	expo_family(e, "agentbpf_bpf_map_entries", EXPO_GAUGE, "Entries in a BPF map.");
	for (i = 0; i < NFAMILIES; i++) {
		if (family_up(app, i))
			families[i]->render_maps(app->fam[i], e, false);
	}
	expo_family(e, "agentbpf_bpf_map_capacity", EXPO_GAUGE,
		    "Maximum entries of a BPF map; when entries reach it, events are dropped.");
	for (i = 0; i < NFAMILIES; i++) {
		if (family_up(app, i))
			families[i]->render_maps(app->fam[i], e, true);
	}

	expo_family(e, "agentbpf_events_total", EXPO_COUNTER,
		    "Kernel events received by the daemon, by type.");
	for (i = PROC_EV_EXEC; i <= PROC_EV_LISTEN; i++) {
		l[0] = (struct label){ "type", ev_names[i] };
		expo_sample(e, l, 1, app->proc->events[i]);
	}

	/* Every reason of every family, 0 for one that is off. */
	expo_family(e, "agentbpf_events_dropped_total", EXPO_COUNTER,
		    "Events that could not be accounted, by reason; any increase means some counts are low.");
	for (i = 0; i < NFAMILIES; i++) {
		memset(drops, 0, sizeof(drops));
		if (family_up(app, i))
			families[i]->drops(app->fam[i], drops);
		for (k = 0; k < families[i]->ndrops; k++) {
			l[0] = (struct label){ "reason", families[i]->drop_name(k) };
			expo_sample(e, l, 1, drops[k]);
		}
	}

	for (i = 0; i < NFAMILIES; i++)
		objs[i] = family_up(app, i) ? families[i]->object(app->fam[i]) : NULL;
	selfstats_render_programs(e, objs, NFAMILIES);
	verify_render(e);

	/* A family that did not load says so here, not by silent zeros. */
	expo_family(e, "agentbpf_probe_family_up", EXPO_GAUGE,
		    "1 when a probe family's programs are loaded and attached, 0 when it is off (the daemon's log and `agentbpf check` say why); hook: what its programs are attached to.");
	for (i = 0; i < NFAMILIES; i++) {
		l[0] = (struct label){ "family", families[i]->name };
		l[1] = (struct label){ "hook", families[i]->hook() };
		expo_sample(e, l, 2, objs[i] != NULL);
	}
}

/*
 * A member whose process is gone (or whose pid now names another process)
 * normally has its exit event on the way. One still listed a few seconds
 * later lost it: forget it, so health and counts do not keep a ghost.
 */
static void forget_vanished(struct app *app, uint32_t n)
{
	uint64_t now = now_ns(CLOCK_BOOTTIME);
	struct member *m;
	uint32_t i;

	for (i = 0; i < n; i++) {
		m = lc_find(&app->lc, app->snap[i].pid);
		if (!m || m->start_ns != app->snap[i].start_ns)
			continue;
		if (!app->snap[i].gone_ns) {
			m->gone_ns = 0;
		} else if (!m->gone_ns) {
			m->gone_ns = now;
		} else if (now - m->gone_ns > VANISHED_GRACE_NS) {
			lc_forget(&app->lc, m->pid);
			app->proc->exits_missed++;
		}
	}
}

static int cmp_member_pid(const void *a, const void *b)
{
	uint32_t x = ((const struct member *)a)->pid, y = ((const struct member *)b)->pid;

	return x < y ? -1 : x > y;
}

/* agent_kubernetes_info: one series per (agent, container) with live members. */
static void render_kube(struct app *app, struct expo *e, uint32_t n)
{
	const struct kube_names *k;
	struct label l[4];
	uint32_t i, j;
	int *idx;

	if (!app->kube_on || kube_cache_begin(&app->kube, n) || !(idx = calloc(n + 1, sizeof(*idx))))
		return;
	for (i = 0; i < n; i++)
		idx[i] = app->snap[i].gone_ns ? -1 :
			 kube_cache_get(&app->kube, app->snap[i].pid, app->snap[i].start_ns);
	kube_cache_end(&app->kube);
	expo_family(e, "agent_kubernetes_info", EXPO_GAUGE,
		    "1 for each pod and container an agent's live processes run in, named from the node's cgroups and kubelet log tree (no API server).");
	for (i = 0; i < n; i++) {
		if (idx[i] < 0)
			continue;
		for (j = 0; j < i; j++) {
			if (idx[j] == idx[i] && app->snap[j].agent == app->snap[i].agent)
				break;
		}
		if (j < i)
			continue;
		k = &app->kube.names[idx[i]];
		l[0] = (struct label){ "agent_type", app->cfg.agents[app->snap[i].agent].name };
		l[1] = (struct label){ "namespace", k->namespace };
		l[2] = (struct label){ "pod", k->pod };
		l[3] = (struct label){ "container", k->container };
		expo_sample(e, l, 4, 1);
	}
	free(idx);
}

static void render(void *ctx, struct strbuf *out, enum expo_format fmt)
{
	struct app *app = ctx;
	struct agent_usage usage[AGENTBPF_MAX_AGENTS] = { 0 };
	uint64_t start = now_ns(CLOCK_MONOTONIC);
	uint32_t i, n = 0;
	struct expo e;

	/* Copy the members, read /proc without holding the lock, then render. */
	pthread_mutex_lock(&app->lock);
	lc_usage_base(&app->lc, usage);
	for (i = 0; i <= app->lc.mask; i++) {
		if (app->lc.table[i].pid)
			app->snap[n++] = app->lc.table[i];
	}
	pthread_mutex_unlock(&app->lock);
	qsort(app->snap, n, sizeof(*app->snap), cmp_member_pid);
	for (i = 0; i < n; i++) {
		struct agent_usage *u = &usage[app->snap[i].agent];

		if (procfs_add_usage(app->snap[i].pid, app->snap[i].start_ns, u)) {
			app->snap[i].gone_ns = 1;	/* checked under the lock below */
			continue;
		}
		app->snap[i].gone_ns = 0;
		if (!u->oldest_start_ns || app->snap[i].start_ns < u->oldest_start_ns)
			u->oldest_start_ns = app->snap[i].start_ns;
	}

	expo_init(&e, out, fmt, app->cfg.namespace);
	pthread_mutex_lock(&app->lock);
	forget_vanished(app, n);
	/* The lifecycle family's series come with /proc's figures: from here. */
	lc_render(&app->lc, &app->cfg, &e, usage, app->boot_to_unix_ns);
	for (i = 0; i < NFAMILIES; i++) {
		if (family_up(app, i) && families[i]->render)
			families[i]->render(app->fam[i], &e);
	}
	render_kube(app, &e, n);
	render_self(app, &e);
	app->scrapes++;
	pthread_mutex_unlock(&app->lock);
	expo_finish(&e);
	app->last_scrape_s = (now_ns(CLOCK_MONOTONIC) - start) / 1e9;
}

static int check_btf(const char *path)
{
	if (access(path, R_OK) == 0)
		return 0;
	fprintf(stderr, "agentbpf: kernel BTF not found at %s: run on a kernel built with CONFIG_DEBUG_INFO_BTF=y or pass --btf FILE\n",
		path);
	return -1;
}

/* What every family is opened with. */
static struct family_env family_env(struct app *app)
{
	return (struct family_env){
		.cfg = &app->cfg,
		.btf = strcmp(app->opt.btf, DEFAULT_BTF) ? app->opt.btf : NULL,
		.lc = &app->lc,
		.lock = &app->lock,
		.proc = app->proc,
		.rb = app->proc->rb,
		.trace = app->proc->trace,
		.sock = &app->sock,
	};
}

/*
 * The families after lifecycle, published to the scrape under the lock
 * once up. Each may fail on its own: lifecycle metrics need only the
 * scheduler tracepoints.
 */
static void open_socket_families(struct app *app)
{
	struct family_env env = family_env(app);
	char err[512];
	bool up;
	int i;

	for (i = 1; i < NFAMILIES; i++) {
		up = !families[i]->open(app->fam[i], &env, err, sizeof(err));
		if (!up)
			fprintf(stderr, "agentbpf: warning: %s; %s are off\n", err, families[i]->off);
		pthread_mutex_lock(&app->lock);
		app->up[i] = up;
		pthread_mutex_unlock(&app->lock);
	}
}

/*
 * Descriptors for the server's connections (up to 4096, see server.c) on
 * top of the maps and links: the soft limit goes up to the hard one, at
 * most 16384. A lower hard limit only means fewer connections.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < 16384 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < 16384 ? rl.rlim_max : 16384;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Everything is loaded and attached: the daemon keeps only what its later
 * work needs (caps.h), before /healthz says it is ready, and says which
 * and why into msg (logged after the line that says it runs).
 */
static void drop_capabilities(struct app *app, struct strbuf *msg)
{
	bool uprobes = !app->cfg.outbound_off;
	const struct cap_kept *k;
	int i, shown = 0, n = caps_keep_list(uprobes, &k);
	char err[256];
	uint64_t held;

	if (caps_drop(uprobes, err, sizeof(err))) {
		sb_printf(msg, "agentbpf: warning: %s; the daemon keeps the capabilities it started with\n",
			  err);
		return;
	}
	held = caps_held();
	sb_puts(msg, "agentbpf: capabilities: dropped all but");
	for (i = 0; i < n; i++) {
		if (held >> k[i].cap & 1)
			sb_printf(msg, "%s CAP_%s (%s)", shown++ ? "," : "", k[i].name, k[i].why);
	}
	sb_puts(msg, shown ? "\n" : " none\n");
}

static int run(struct app *app, bool trace)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct server *srv = NULL;
	int i, stats_fd = -1, ret = EXIT_RUNTIME;
	struct family_env env;
	struct strbuf caps_msg;
	char err[512];

	if (check_btf(app->opt.btf))
		return EXIT_RUNTIME;
	if (lc_init(&app->lc, app->cfg.nagents, app->cfg.max_processes) ||
	    !(app->snap = calloc(app->cfg.max_processes, sizeof(*app->snap)))) {
		fprintf(stderr, "agentbpf: out of memory for %d processes (lower max_processes)\n",
			app->cfg.max_processes);
		return EXIT_RUNTIME;
	}
	for (i = 0; i < NFAMILIES; i++) {
		if (!(app->fam[i] = calloc(1, families[i]->size))) {
			fprintf(stderr, "agentbpf: out of memory\n");
			goto cleanup;
		}
	}
	app->proc = app->fam[0];
	raise_fd_limit();
	sock_dispatch_init(&app->sock);
	app->boot_to_unix_ns = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_BOOTTIME);
	env = family_env(app);
	if (families[0]->open(app->fam[0], &env, err, sizeof(err))) {
		fprintf(stderr, "agentbpf: %s\n", err);
		goto cleanup;
	}
	app->up[0] = true;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	kube_cache_init(&app->kube, app->opt.kube_root);
	app->kube_on = kube_node(app->opt.kube_root);
	if (app->kube_on)
		fprintf(stderr, "agentbpf: kubelet log tree under %s: agent_kubernetes_info names pods\n",
			app->opt.kube_root);
	/* The ring holds the events that come meanwhile: none is lost to the scan. */
	if (proc_tracker_scan(app->proc))
		fprintf(stderr, "agentbpf: warning: cannot scan /proc; agents started before the daemon are missed\n");
	if (trace) {
		app->proc->trace = (struct trace_out){ stdout, app->opt.json };
		/* The HTTP and bus trace rings are polled with it: it comes first. */
		if (proc_tracker_map_events(app->proc, err, sizeof(err))) {
			fprintf(stderr, "agentbpf: %s\n", err);
			goto cleanup;
		}
	} else {
		/*
		 * Served from here on, before the socket families load: one
		 * that loads slowly (the verifier on a slow or old kernel)
		 * holds back neither the server nor the lifecycle metrics, and
		 * agentbpf_probe_family_up says what runs. /healthz answers
		 * 200 once every family has loaded or failed.
		 */
		srv = server_start(app->cfg.listen, render, app, err, sizeof(err));
		if (!srv) {
			fprintf(stderr, "agentbpf: %s\n", err);
			goto cleanup;
		}
	}
	open_socket_families(app);
	/*
	 * The daemon maps its event ring only now: each object load above holds
	 * the kernel's BTF twice for a moment (libbpf), and the ring's 4 MB of
	 * resident mapping on top of that was the daemon's peak memory.
	 */
	if (!app->proc->rb && proc_tracker_map_events(app->proc, err, sizeof(err))) {
		fprintf(stderr, "agentbpf: %s\n", err);
		goto cleanup;
	}
	if (app->opt.bpf_stats && !trace) {
		stats_fd = selfstats_enable_bpf_stats();
		if (stats_fd < 0)
			fprintf(stderr, "agentbpf: warning: cannot enable BPF run-time stats (%s); program run metrics stay 0\n",
				strerror(errno));
	}
	sb_init(&caps_msg);
	drop_capabilities(app, &caps_msg);
	if (trace) {
		fprintf(stderr, "agentbpf %s: tracing %d agents; Ctrl-C stops\n", AGENTBPF_VERSION,
			app->cfg.nagents);
	} else {
		server_set_ready(srv);
		fprintf(stderr, "agentbpf %s: serving /metrics on %s; %d agents, %u processes found\n",
			AGENTBPF_VERSION, app->cfg.listen, app->cfg.nagents, app->lc.count);
	}
	if (caps_msg.buf)
		fputs(caps_msg.buf, stderr);
	sb_free(&caps_msg);
	env = family_env(app);
	while (!stopping) {
		if (proc_tracker_poll(app->proc, PROC_POLL_MS) < 0) {
			fprintf(stderr, "agentbpf: reading kernel events failed: %s\n", strerror(errno));
			goto cleanup;
		}
		for (i = 0; i < NFAMILIES; i++) {
			if (app->up[i] && families[i]->tick)
				families[i]->tick(app->fam[i], &env);
		}
	}
	ret = 0;
cleanup:
	server_stop(srv);
	/* Lifecycle last: the others use its maps. */
	for (i = NFAMILIES - 1; i >= 0; i--) {
		if (app->up[i])
			families[i]->close(app->fam[i]);
		free(app->fam[i]);
	}
	if (stats_fd >= 0)
		close(stats_fd);
	lc_free(&app->lc);
	kube_cache_free(&app->kube);
	free(app->snap);
	return ret;
}

/* top asks the daemon where it listens: the flag, else the config's listen:, else the default. */
static int top_command(const struct options *o)
{
	struct config cfg = { 0 };
	const char *addr = o->listen;
	char err[512];
	int ret;

	if (!addr && !access(o->config, R_OK) && !config_load(&cfg, o->config, err, sizeof(err)))
		addr = cfg.listen;
	ret = top_run(addr ? addr : DEFAULT_LISTEN, o->interval, o->iterations);
	config_free(&cfg);
	return ret;
}

int main(int argc, char **argv)
{
	static struct app app;
	int ret;

	if (parse_args(argc, argv, &app.opt))
		return EXIT_USAGE;
	pthread_mutex_init(&app.lock, NULL);
	if (!strcmp(app.opt.command, "top"))
		return top_command(&app.opt);
	if (!strcmp(app.opt.command, "check")) {
		ret = agentbpf_check(app.opt.config, app.opt.config_given, app.opt.btf);
		return ret;
	}
	if (load_config(&app.opt, &app.cfg))
		return EXIT_USAGE;
	if (!app.cfg.nagents)
		fprintf(stderr, "agentbpf: warning: %s lists no agents; only exporter metrics will be served\n",
			app.opt.config);
	ret = run(&app, !strcmp(app.opt.command, "trace"));
	config_free(&app.cfg);
	return ret;
}
