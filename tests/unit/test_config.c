// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Config: YAML parsing, error positions, matchers, listen addresses. */
#include <unistd.h>
#include "unit.h"
#include "config.h"

#define NAME "test.yml"

static struct config cfg;
static char err[512];

static int parse(const char *text)
{
	err[0] = '\0';
	return config_parse(&cfg, NAME, text, strlen(text), err, sizeof(err));
}

static int teardown(void **state)
{
	config_free(&cfg);
	return 0;
}

/* A failed parse says "test.yml:LINE: ...what..." and leaves only defaults. */
static void check_error(const char *text, int line, const char *what)
{
	char prefix[64];

	assert_int_equal(parse(text), -1);
	snprintf(prefix, sizeof(prefix), NAME ":%d: ", line);
	if (strncmp(err, prefix, strlen(prefix)))
		fail_msg("expected prefix \"%s\", got \"%s\"", prefix, err);
	if (!strstr(err, what))
		fail_msg("expected \"%s\" in \"%s\"", what, err);
	assert_int_equal(cfg.nagents, 0);
	assert_null(cfg.namespace);
	assert_null(cfg.listen);
}

/* ---- valid configs ---- */

static const char full_config[] =
	"# agentbpf config\n"
	"namespace: myns\n"
	"listen: \"127.0.0.1:9200\"\n"
	"buckets: [0.1, 0.5, 2]\n"
	"max_processes: 1000\n"
	"agents:\n"
	"  - name: claude\n"
	"    type: coding\n"
	"    match:\n"
	"      cmdline: \"node */claude*\"\n"
	"      comm: claude\n"
	"      exe: /usr/bin/node\n"
	"      port: 8080\n"
	"      cgroup: \"/agents/*\"\n"
	"  - name: aider\n"
	"    match:\n"
	"      comm: aider\n";

static void test_parse_full_config_top_level(void **state)
{
	assert_int_equal(parse(full_config), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.namespace, "myns");
	assert_string_equal(cfg.listen, "127.0.0.1:9200");
	assert_int_equal(cfg.nbuckets, 3);
	assert_true(cfg.buckets[0] == 0.1);
	assert_true(cfg.buckets[1] == 0.5);
	assert_true(cfg.buckets[2] == 2);
	assert_int_equal(cfg.max_processes, 1000);
	assert_int_equal(cfg.nagents, 2);
}

static void test_parse_full_config_agent_fields(void **state)
{
	const struct agent_conf *a = &cfg.agents[0];

	assert_int_equal(parse(full_config), 0);
	assert_string_equal(a->name, "claude");
	assert_string_equal(a->type, "coding");
	assert_string_equal(a->match.cmdline, "node */claude*");
	assert_string_equal(a->match.comm, "claude");
	assert_string_equal(a->match.exe, "/usr/bin/node");
	assert_int_equal(a->match.port, 8080);
	assert_string_equal(a->match.cgroup, "/agents/*");
}

static void test_parse_type_defaults_to_name(void **state)
{
	const struct agent_conf *a = &cfg.agents[1];

	assert_int_equal(parse(full_config), 0);
	assert_string_equal(a->name, "aider");
	assert_non_null(a->type);
	assert_string_equal(a->type, "aider");
	assert_ptr_not_equal(a->type, a->name);	/* freed separately */
	assert_string_equal(a->match.comm, "aider");
	assert_null(a->match.cmdline);
	assert_null(a->match.exe);
	assert_null(a->match.cgroup);
	assert_int_equal(a->match.port, 0);
}

static void test_parse_defaults_when_absent(void **state)
{
	int i;

	assert_int_equal(parse("agents:\n  - name: a\n    match: {comm: a}\n"), 0);
	assert_null(cfg.namespace);
	assert_null(cfg.listen);
	assert_int_equal(cfg.max_processes, AGENTBPF_MAX_PROCS);
	assert_int_equal(cfg.nbuckets, 13);
	assert_true(cfg.buckets[0] == 0.005);
	assert_true(cfg.buckets[12] == 60);
	for (i = 1; i < cfg.nbuckets; i++)
		assert_true(cfg.buckets[i] > cfg.buckets[i - 1]);
}

static void test_parse_accepts_comm_of_15_bytes(void **state)
{
	assert_int_equal(parse("agents:\n  - name: a\n    match:\n      comm: abcdefghijklmno\n"), 0);
	assert_string_equal(cfg.agents[0].match.comm, "abcdefghijklmno");
}

static void test_parse_accepts_64_agents(void **state)
{
	char text[8192];
	size_t n;
	int i;

	n = snprintf(text, sizeof(text), "agents:\n");
	for (i = 0; i < AGENTBPF_MAX_AGENTS; i++)
		n += snprintf(text + n, sizeof(text) - n, "  - {name: a%d, match: {comm: c}}\n", i);
	assert_int_equal(parse(text), 0);
	assert_int_equal(cfg.nagents, AGENTBPF_MAX_AGENTS);
	assert_string_equal(cfg.agents[63].name, "a63");
}

static void test_parse_port_bounds_accepted(void **state)
{
	assert_int_equal(parse("agents:\n  - name: a\n    match: {port: 1}\n"
			       "  - name: b\n    match: {port: 65535}\n"), 0);
	assert_int_equal(cfg.agents[0].match.port, 1);
	assert_int_equal(cfg.agents[1].match.port, 65535);
}

static void test_load_reads_file(void **state)
{
	char path[] = "/tmp/agentbpf-test-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, full_config, strlen(full_config)), (ssize_t)strlen(full_config));
	close(fd);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(cfg.nagents, 2);
	assert_string_equal(cfg.agents[0].name, "claude");
}

static void test_load_missing_file_fails(void **state)
{
	assert_int_equal(config_load(&cfg, "/nonexistent/agentbpf.yml", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/agentbpf.yml: cannot open config"));
}

/* ---- errors and their line numbers ---- */

static void test_error_unknown_top_level_key(void **state)
{
	check_error("namespace: a\nbogus: 1\n", 2, "unknown key \"bogus\"");
}

/* The key is on line 2; its value starts on line 3. */
static void test_error_unknown_top_level_key_with_block_value_names_key_line(void **state)
{
	check_error("namespace: a\nmetrics:\n  port: 1\n", 2, "unknown key \"metrics\"");
}

static void test_error_unknown_agent_key(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    colour: red\n"
		    "    match: {comm: a}\n", 3, "agent: unknown key \"colour\"");
}

static void test_error_unknown_agent_key_with_block_value_names_key_line(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    labels:\n"
		    "      team: x\n"
		    "    match: {comm: a}\n", 3, "agent: unknown key \"labels\"");
}

static void test_error_unknown_match_key(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    match:\n"
		    "      comm: a\n"
		    "      pid: 1\n", 5, "match: unknown key \"pid\"");
}

static void test_error_duplicate_top_level_key(void **state)
{
	check_error("namespace: a\nlisten: :1\nnamespace: b\n", 3, "duplicate key \"namespace\"");
}

static void test_error_duplicate_match_key(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    match:\n"
		    "      comm: a\n"
		    "      comm: b\n", 5, "match: duplicate key \"comm\"");
}

static void test_error_duplicate_agent_name(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    match: {comm: a}\n"
		    "  - name: b\n"
		    "    match: {comm: b}\n"
		    "  - name: a\n"
		    "    match: {comm: c}\n", 6, "agent \"a\": name used twice");
}

static void test_error_agent_without_match(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    type: t\n", 2, "agent \"a\": missing match");
}

static void test_error_agent_with_empty_match(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    match: {}\n", 3, "agent \"a\": match needs at least one of");
}

static void test_error_agent_missing_name(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    match: {comm: a}\n"
		    "  - type: t\n"
		    "    match: {comm: b}\n", 4, "agent: missing name");
}

static void test_error_agent_empty_name(void **state)
{
	check_error("agents:\n  - name: \"\"\n    match: {comm: a}\n", 2, "name: must not be empty");
}

static void test_error_agent_name_longer_than_128(void **state)
{
	char text[512], name[130];

	memset(name, 'n', 129);
	name[129] = '\0';
	snprintf(text, sizeof(text), "agents:\n  - name: %s\n    match: {comm: a}\n", name);
	check_error(text, 2, "name longer than 128 bytes");
}

static void test_error_comm_longer_than_15_bytes(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    match:\n"
		    "      comm: abcdefghijklmnop\n", 2, "match.comm is longer than the kernel's 15-byte task name");
}

static void test_error_buckets_not_ascending(void **state)
{
	check_error("buckets:\n"
		    "  - 0.1\n"
		    "  - 0.5\n"
		    "  - 0.25\n", 4, "buckets: must be strictly ascending (0.25 after 0.5)");
}

static void test_error_buckets_equal(void **state)
{
	check_error("buckets:\n  - 1\n  - 1\n", 3, "strictly ascending");
}

static void test_error_bucket_negative(void **state)
{
	check_error("buckets:\n  - 0.1\n  - -2\n", 3, "buckets: -2 is not a positive number of seconds");
}

static void test_error_bucket_zero(void **state)
{
	check_error("buckets: [0]\n", 1, "is not a positive number");
}

static void test_error_bucket_not_a_number(void **state)
{
	check_error("buckets:\n  - fast\n", 2, "buckets: \"fast\" is not a number");
}

static void test_error_buckets_empty(void **state)
{
	check_error("namespace: a\nbuckets: []\n", 2, "buckets: list is empty");
}

static void test_error_namespace_starts_with_digit(void **state)
{
	check_error("listen: :1\nnamespace: 9lives\n", 2, "namespace: \"9lives\" is not a valid metric name prefix");
}

static void test_error_namespace_with_dash(void **state)
{
	check_error("namespace: my-ns\n", 1, "is not a valid metric name prefix");
}

static void test_error_listen_without_colon(void **state)
{
	check_error("namespace: a\nlisten: \"9091\"\n", 2, "listen: \"9091\" is not host:port");
}

static void test_error_listen_port_zero(void **state)
{
	check_error("listen: \":0\"\n", 1, "listen: \":0\" is not host:port");
}

static void test_error_match_port_zero(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    match:\n"
		    "      port: 0\n", 4, "match.port: must be a whole number from 1 to 65535");
}

static void test_error_match_port_too_large(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    match:\n"
		    "      port: 65536\n", 4, "match.port: must be a whole number from 1 to 65535");
}

static void test_error_match_port_fractional(void **state)
{
	check_error("agents:\n  - name: a\n    match:\n      port: 80.5\n", 4, "must be a whole number");
}

static void test_error_match_port_not_a_number(void **state)
{
	check_error("agents:\n  - name: a\n    match:\n      port: http\n", 4, "match.port: \"http\" is not a number");
}

static void test_error_max_processes_below_minimum(void **state)
{
	check_error("max_processes: 63\n", 1, "max_processes: must be a whole number from 64 to 4194304");
}

static void test_error_max_processes_huge_number(void **state)
{
	check_error("max_processes: 1e300\n", 1, "max_processes: must be a whole number from 64 to 4194304");
}

static void test_error_invalid_yaml_syntax(void **state)
{
	check_error("namespace: a\nlisten: a: b\n", 2, "mapping values are not allowed");
}

static void test_error_invalid_yaml_bad_indentation(void **state)
{
	check_error("agents:\n"
		    "  - name: a\n"
		    "    match: {comm: a}\n"
		    "namespace: x\n"
		    "  listen: :1\n", 5, "mapping values are not allowed");
}

static void test_error_empty_document(void **state)
{
	check_error("", 1, "empty file");
}

static void test_error_comment_only_document(void **state)
{
	check_error("# nothing here\n\n", 1, "empty file");
}

static void test_error_root_not_a_mapping(void **state)
{
	check_error("- a\n- b\n", 1, "config: expected a mapping");
}

static void test_error_agents_not_a_list(void **state)
{
	check_error("namespace: a\nagents: claude\n", 2, "agents: expected a list of agents");
}

static void test_error_key_not_a_string(void **state)
{
	check_error("namespace: a\n? [x, y]\n: z\n", 2, "config: keys must be strings");
}

static void test_error_more_than_64_agents(void **state)
{
	char text[8192];
	size_t n;
	int i;

	n = snprintf(text, sizeof(text), "agents:\n");
	for (i = 0; i < AGENTBPF_MAX_AGENTS + 1; i++)
		n += snprintf(text + n, sizeof(text) - n, "  - {name: a%d, match: {comm: c}}\n", i);
	/* Agent i is on line i + 2: the 65th on line 66. */
	check_error(text, AGENTBPF_MAX_AGENTS + 2, "agents: at most 64 agents");
}

static void test_error_message_truncated_to_buffer(void **state)
{
	char small[16];

	memset(small, 'x', sizeof(small));
	assert_int_equal(config_parse(&cfg, NAME, "bogus: 1\n", 9, small, sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(strncmp(small, "test.yml:1: ", 12), 0);
}

/* ---- matching ---- */

static const char match_config[] =
	"agents:\n"
	"  - name: claude\n"			/* 0 */
	"    match:\n"
	"      comm: claude\n"
	"      cmdline: \"node */claude *\"\n"
	"  - name: aider\n"			/* 1 */
	"    match:\n"
	"      cmdline: \"python* -m aider*\"\n"
	"  - name: pyexe\n"			/* 2 */
	"    match:\n"
	"      exe: \"/usr/bin/python3*\"\n"
	"  - name: server\n"			/* 3 */
	"    match:\n"
	"      port: 8080\n"
	"  - name: boxed\n"			/* 4 */
	"    match:\n"
	"      cgroup: \"/agents/*\"\n"
	"  - name: anyclaude\n"		/* 5 */
	"    match:\n"
	"      comm: claude\n";

static int setup_match(void **state)
{
	return parse(match_config) ? -1 : 0;
}

static void test_match_first_match_wins(void **state)
{
	struct proc_identity id = { .comm = "claude", .cmdline = "node /opt/claude --print" };

	/* Both claude (0) and anyclaude (5) match. */
	assert_int_equal(config_match(&cfg, &id), 0);
}

static void test_match_requires_all_set_matchers(void **state)
{
	struct proc_identity id = { .comm = "claude", .cmdline = "claude --print" };

	/* comm matches agent 0 but its cmdline glob does not: falls to agent 5. */
	assert_int_equal(config_match(&cfg, &id), 5);
}

static void test_match_none_returns_minus_one(void **state)
{
	struct proc_identity id = { .comm = "bash", .cmdline = "bash -l", .exe = "/bin/bash",
				    .cgroups = "0::/user.slice\n" };

	assert_int_equal(config_match(&cfg, &id), -1);
}

static void test_match_cmdline_glob_on_joined_argv(void **state)
{
	struct proc_identity yes = { .cmdline = "python3.11 -m aider --model x" };
	struct proc_identity no = { .cmdline = "python3 aider.py" };

	assert_int_equal(config_match(&cfg, &yes), 1);
	assert_int_equal(config_match(&cfg, &no), -1);
}

static void test_match_cmdline_glob_must_match_whole_string(void **state)
{
	struct proc_identity id = { .cmdline = "sudo python3 -m aider" };

	assert_int_equal(config_match(&cfg, &id), -1);
}

static void test_match_exe_glob(void **state)
{
	struct proc_identity yes = { .exe = "/usr/bin/python3.11" };
	struct proc_identity no = { .exe = "/usr/local/bin/python3" };

	assert_int_equal(config_match(&cfg, &yes), 2);
	assert_int_equal(config_match(&cfg, &no), -1);
}

static void test_match_comm_is_exact(void **state)
{
	struct proc_identity exact = { .comm = "claude" };
	struct proc_identity longer = { .comm = "claude2" };
	struct proc_identity prefix = { .comm = "claud" };
	struct proc_identity upper = { .comm = "Claude" };

	assert_int_equal(config_match(&cfg, &exact), 5);
	assert_int_equal(config_match(&cfg, &longer), -1);
	assert_int_equal(config_match(&cfg, &prefix), -1);
	assert_int_equal(config_match(&cfg, &upper), -1);
}

static void test_match_port_among_listening_ports(void **state)
{
	const uint16_t ports[] = { 22, 9000, 8080 };
	struct proc_identity id = { .ports = ports, .nports = 3 };

	assert_int_equal(config_match(&cfg, &id), 3);
}

static void test_match_port_absent_from_listening_ports(void **state)
{
	const uint16_t ports[] = { 22, 8081 };
	struct proc_identity id = { .ports = ports, .nports = 2 };
	struct proc_identity none = { .ports = NULL, .nports = 0 };

	assert_int_equal(config_match(&cfg, &id), -1);
	assert_int_equal(config_match(&cfg, &none), -1);
}

static void test_match_cgroup_glob_on_first_line(void **state)
{
	struct proc_identity id = { .cgroups = "12:memory:/agents/a\n0::/\n" };

	assert_int_equal(config_match(&cfg, &id), 4);
}

static void test_match_cgroup_glob_on_any_line(void **state)
{
	struct proc_identity v2 = { .cgroups = "1:name=systemd:/\n0::/agents/b\n" };
	struct proc_identity no_nl = { .cgroups = "0::/agents/c" };

	assert_int_equal(config_match(&cfg, &v2), 4);
	assert_int_equal(config_match(&cfg, &no_nl), 4);
}

static void test_match_cgroup_glob_on_path_only(void **state)
{
	/* The controller field is not part of the path the glob sees. */
	struct proc_identity id = { .cgroups = "3:/agents/x:/user.slice\n0::/system.slice\n" };

	assert_int_equal(config_match(&cfg, &id), -1);
}

static int parse_into(struct config *c, const char *text)
{
	return config_parse(c, NAME, text, strlen(text), err, sizeof(err));
}

static void test_match_null_fields_never_match_set_matchers(void **state)
{
	struct proc_identity no_comm = { .cmdline = "node /x/claude --y" };
	struct proc_identity no_cmdline = { .comm = "aider", .exe = "/usr/bin/node" };
	struct proc_identity nothing = { 0 };

	/* claude needs comm and cmdline, anyclaude comm, aider cmdline. */
	assert_int_equal(config_match(&cfg, &no_comm), -1);
	assert_int_equal(config_match(&cfg, &no_cmdline), -1);
	assert_int_equal(config_match(&cfg, &nothing), -1);
}

static void test_match_each_null_field_defeats_its_matcher(void **state)
{
	const uint16_t ports[] = { 8080 };
	const struct proc_identity full = {
		.comm = "c", .cmdline = "c", .exe = "/c", .cgroups = "0::/\n",
		.ports = ports, .nports = 1,
	};
	struct config all;
	struct proc_identity id;

	assert_int_equal(parse_into(&all, "agents:\n  - name: all\n    match: "
				    "{comm: c, cmdline: \"*\", exe: \"*\", cgroup: \"*\", port: 8080}\n"), 0);
	assert_int_equal(config_match(&all, &full), 0);
	id = full;
	id.comm = NULL;
	assert_int_equal(config_match(&all, &id), -1);
	id = full;
	id.cmdline = NULL;
	assert_int_equal(config_match(&all, &id), -1);
	id = full;
	id.exe = NULL;
	assert_int_equal(config_match(&all, &id), -1);
	id = full;
	id.cgroups = NULL;
	assert_int_equal(config_match(&all, &id), -1);
	id = full;
	id.ports = NULL;
	id.nports = 0;
	assert_int_equal(config_match(&all, &id), -1);
	config_free(&all);
}

static void test_match_unset_matchers_ignore_identity(void **state)
{
	struct proc_identity id = { .comm = "claude", .cmdline = NULL, .exe = NULL, .cgroups = NULL };

	/* anyclaude sets only comm: the NULL fields do not matter. */
	assert_int_equal(config_match(&cfg, &id), 5);
}

static void test_uses_ports(void **state)
{
	struct config nop;

	assert_true(config_uses_ports(&cfg));
	assert_int_equal(parse_into(&nop, "agents: [{name: a, match: {comm: a}}]\n"), 0);
	assert_false(config_uses_ports(&nop));
	config_free(&nop);
}

/* ---- names and listen addresses ---- */

static void test_valid_metric_name(void **state)
{
	assert_true(config_valid_metric_name("a"));
	assert_true(config_valid_metric_name("_agents_1"));
	assert_true(config_valid_metric_name("MyNs"));
	assert_false(config_valid_metric_name(NULL));
	assert_false(config_valid_metric_name(""));
	assert_false(config_valid_metric_name("1a"));
	assert_false(config_valid_metric_name("a-b"));
	assert_false(config_valid_metric_name("a b"));
	assert_false(config_valid_metric_name("a.b"));
}

static void check_listen(const char *addr, const char *want_host, uint16_t want_port)
{
	char host[64] = "unset";
	uint16_t port = 0;

	if (config_parse_listen(addr, host, sizeof(host), &port))
		fail_msg("\"%s\" rejected", addr);
	assert_string_equal(host, want_host);
	assert_int_equal(port, want_port);
}

static void check_listen_rejected(const char *addr)
{
	char host[64];
	uint16_t port = 4242;

	if (!config_parse_listen(addr, host, sizeof(host), &port))
		fail_msg("\"%s\" accepted", addr);
	assert_int_equal(port, 4242);
}

static void test_listen_port_only(void **state)
{
	check_listen(":9091", "", 9091);
}

static void test_listen_ipv4_host(void **state)
{
	check_listen("127.0.0.1:9091", "127.0.0.1", 9091);
}

static void test_listen_ipv6_host(void **state)
{
	check_listen("[::1]:9091", "::1", 9091);
}

static void test_listen_hostname(void **state)
{
	check_listen("localhost:80", "localhost", 80);
}

static void test_listen_port_bounds(void **state)
{
	check_listen(":1", "", 1);
	check_listen(":65535", "", 65535);
}

static void test_listen_rejects_missing_colon(void **state)
{
	check_listen_rejected("9091");
}

static void test_listen_rejects_v6_without_colon(void **state)
{
	check_listen_rejected("[::1]9091");
	check_listen_rejected("[::1");
}

static void test_listen_rejects_port_zero(void **state)
{
	check_listen_rejected(":0");
}

static void test_listen_rejects_port_too_large(void **state)
{
	check_listen_rejected(":70000");
	check_listen_rejected(":65536");
}

static void test_listen_rejects_unbracketed_v6(void **state)
{
	check_listen_rejected("a:b:c");
	check_listen_rejected("::1:9091");
}

static void test_listen_rejects_empty_port(void **state)
{
	check_listen_rejected(":");
	check_listen_rejected("[::1]:");
	check_listen_rejected("");
}

static void test_listen_rejects_junk_port(void **state)
{
	check_listen_rejected(":80x");
	check_listen_rejected(":-80");
}

static void test_listen_rejects_host_longer_than_buffer(void **state)
{
	char host[5];
	uint16_t port;

	assert_int_equal(config_parse_listen("localhost:80", host, sizeof(host), &port), -1);
	assert_int_equal(config_parse_listen("host:80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "host");
}

/* ---- request labels and routes ---- */

static void test_request_labels_default_off(void **state)
{
	assert_int_equal(parse("agents: []\n"), 0);
	assert_false(cfg.label_method);
	assert_false(cfg.label_route);
	assert_false(cfg.label_code);
	assert_int_equal(cfg.max_routes, 100);
	assert_int_equal(cfg.nroutes, 0);
}

static void test_request_labels_parsed(void **state)
{
	assert_int_equal(parse("request_labels: [route, code]\n"
			       "max_routes: 25\n"
			       "routes: [\"/v1/chat/*\", \"/users/*/profile\"]\n"
			       "agents: []\n"), 0);
	assert_false(cfg.label_method);
	assert_true(cfg.label_route);
	assert_true(cfg.label_code);
	assert_int_equal(cfg.max_routes, 25);
	assert_int_equal(cfg.nroutes, 2);
	assert_string_equal(cfg.routes[1], "/users/*/profile");
}

static void test_error_unknown_request_label(void **state)
{
	check_error("agents: []\nrequest_labels:\n  - method\n  - path\n", 4,
		    "request_labels: \"path\" is not one of method, route, code");
}

static void test_error_route_pattern_without_slash(void **state)
{
	check_error("routes: [\"v1/*\"]\n", 1, "routes: \"v1/*\" must start with /");
}

static void test_error_max_routes_out_of_range(void **state)
{
	check_error("max_routes: 0\n", 1, "max_routes: must be a whole number from 1 to 10000");
}

static void test_outbound_default_and_values(void **state)
{
	assert_int_equal(parse("agents: []\n"), 0);
	assert_false(cfg.outbound_off);
	assert_int_equal(cfg.max_peers, 100);
	assert_int_equal(parse("outbound: false\nmax_peers: 7\nagents: []\n"), 0);
	assert_true(cfg.outbound_off);
	assert_int_equal(cfg.max_peers, 7);
	assert_int_equal(parse("outbound: true\nagents: []\n"), 0);
	assert_false(cfg.outbound_off);
	check_error("outbound: maybe\n", 1, "outbound: expected true (follow the HTTP calls agents make, the default) or false");
	check_error("max_peers: 0\n", 1, "max_peers: must be a whole number from 1 to 10000");
}

static void test_request_start_default_and_values(void **state)
{
	assert_int_equal(parse("agents: []\n"), 0);
	assert_false(cfg.start_at_read);
	assert_int_equal(parse("request_start: read\nagents: []\n"), 0);
	assert_true(cfg.start_at_read);
	assert_int_equal(parse("request_start: arrival\nagents: []\n"), 0);
	assert_false(cfg.start_at_read);
}

static void test_error_request_start_unknown(void **state)
{
	check_error("agents: []\nrequest_start: accept\n", 2,
		    "request_start: expected arrival (when the request reached the socket, the default) or read");
}

static void test_route_label_first_matching_pattern(void **state)
{
	assert_int_equal(parse("routes: [\"/v1/chat/*\", \"/v1/*\"]\nagents: []\n"), 0);
	assert_string_equal(config_route_label(&cfg, "/v1/chat/{id}"), "/v1/chat/*");
	assert_string_equal(config_route_label(&cfg, "/v1/models"), "/v1/*");
	assert_string_equal(config_route_label(&cfg, "/health"), "/health");
}

#define T(f) cmocka_unit_test_teardown(f, teardown)
#define M(f) cmocka_unit_test_setup_teardown(f, setup_match, teardown)


/* ---- message bus ---- */

static const char bus_config[] =
	"bus_ports: [6380, 4223]\n"
	"max_queues: 50\n"
	"queues:\n"
	"  - match: \"jobs:*\"\n"
	"    from: planner\n"
	"    to: worker\n"
	"    type: task\n"
	"  - match: \"events\"\n"
	"agents:\n"
	"  - name: planner\n"
	"    cache_type: llm\n"
	"    match: { comm: planner }\n"
	"  - name: worker\n"
	"    match: { comm: worker }\n";

static void test_bus_config_parsed(void **state)
{
	const struct queue_conf *q;

	assert_int_equal(parse(bus_config), 0);
	assert_int_equal(cfg.nbus_ports, 2);
	assert_int_equal(cfg.bus_ports[0], 6380);
	assert_int_equal(cfg.bus_ports[1], 4223);
	assert_int_equal(cfg.max_queues, 50);
	assert_int_equal(cfg.nqueues, 2);
	/* Queues name agents defined after them. */
	q = config_queue(&cfg, "jobs:summarize");
	assert_non_null(q);
	assert_int_equal(q->from, 0);
	assert_int_equal(q->to, 1);
	assert_string_equal(q->type, "task");
	q = config_queue(&cfg, "events");
	assert_non_null(q);
	assert_int_equal(q->from, -1);
	assert_int_equal(q->to, -1);
	assert_null(q->type);
	assert_null(config_queue(&cfg, "other"));
	assert_string_equal(cfg.agents[0].cache_type, "llm");
	assert_string_equal(cfg.agents[1].cache_type, "worker");
}

static void test_bus_defaults(void **state)
{
	assert_int_equal(parse("agents: []\n"), 0);
	assert_int_equal(cfg.nbus_ports, 2);
	assert_int_equal(cfg.bus_ports[0], 6379);
	assert_int_equal(cfg.bus_ports[1], 4222);
	assert_int_equal(cfg.max_queues, 200);
	assert_int_equal(cfg.nqueues, 0);
}

static void test_error_queue_unknown_agent(void **state)
{
	check_error("agents: []\nqueues:\n  - match: a\n    to: nobody\n", 4,
		    "queues.to: \"nobody\" is not the name of an agent");
}

static void test_error_queue_without_match(void **state)
{
	check_error("queues:\n  - type: x\n", 2, "queues: missing match");
}

static void test_error_queue_unknown_key(void **state)
{
	check_error("queues:\n  - match: a\n    color: red\n", 3, "queues: unknown key \"color\"");
}

static void test_error_bus_port_out_of_range(void **state)
{
	check_error("bus_ports: [6379, 70000]\n", 1, "bus_ports: must be a whole number from 1 to 65535");
}

static void test_error_bus_ports_not_a_list(void **state)
{
	check_error("bus_ports: 6379\n", 1, "bus_ports: expected a list");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_full_config_top_level),
		T(test_parse_full_config_agent_fields),
		T(test_parse_type_defaults_to_name),
		T(test_parse_defaults_when_absent),
		T(test_parse_accepts_comm_of_15_bytes),
		T(test_parse_accepts_64_agents),
		T(test_parse_port_bounds_accepted),
		T(test_load_reads_file),
		T(test_load_missing_file_fails),
		T(test_error_unknown_top_level_key),
		T(test_error_unknown_top_level_key_with_block_value_names_key_line),
		T(test_error_unknown_agent_key),
		T(test_error_unknown_agent_key_with_block_value_names_key_line),
		T(test_error_unknown_match_key),
		T(test_error_duplicate_top_level_key),
		T(test_error_duplicate_match_key),
		T(test_error_duplicate_agent_name),
		T(test_error_agent_without_match),
		T(test_error_agent_with_empty_match),
		T(test_error_agent_missing_name),
		T(test_error_agent_empty_name),
		T(test_error_agent_name_longer_than_128),
		T(test_error_comm_longer_than_15_bytes),
		T(test_error_buckets_not_ascending),
		T(test_error_buckets_equal),
		T(test_error_bucket_negative),
		T(test_error_bucket_zero),
		T(test_error_bucket_not_a_number),
		T(test_error_buckets_empty),
		T(test_error_namespace_starts_with_digit),
		T(test_error_namespace_with_dash),
		T(test_error_listen_without_colon),
		T(test_error_listen_port_zero),
		T(test_error_match_port_zero),
		T(test_error_match_port_too_large),
		T(test_error_match_port_fractional),
		T(test_error_match_port_not_a_number),
		T(test_error_max_processes_below_minimum),
		T(test_error_max_processes_huge_number),
		T(test_request_labels_default_off),
		T(test_request_labels_parsed),
		T(test_error_unknown_request_label),
		T(test_error_route_pattern_without_slash),
		T(test_error_max_routes_out_of_range),
		T(test_outbound_default_and_values),
		T(test_request_start_default_and_values),
		T(test_error_request_start_unknown),
		T(test_route_label_first_matching_pattern),
		T(test_error_invalid_yaml_syntax),
		T(test_error_invalid_yaml_bad_indentation),
		T(test_error_empty_document),
		T(test_error_comment_only_document),
		T(test_error_root_not_a_mapping),
		T(test_error_agents_not_a_list),
		T(test_error_key_not_a_string),
		T(test_error_more_than_64_agents),
		T(test_error_message_truncated_to_buffer),
		M(test_match_first_match_wins),
		M(test_match_requires_all_set_matchers),
		M(test_match_none_returns_minus_one),
		M(test_match_cmdline_glob_on_joined_argv),
		M(test_match_cmdline_glob_must_match_whole_string),
		M(test_match_exe_glob),
		M(test_match_comm_is_exact),
		M(test_match_port_among_listening_ports),
		M(test_match_port_absent_from_listening_ports),
		M(test_match_cgroup_glob_on_first_line),
		M(test_match_cgroup_glob_on_any_line),
		M(test_match_cgroup_glob_on_path_only),
		M(test_match_null_fields_never_match_set_matchers),
		M(test_match_each_null_field_defeats_its_matcher),
		M(test_match_unset_matchers_ignore_identity),
		M(test_uses_ports),
		cmocka_unit_test(test_valid_metric_name),
		cmocka_unit_test(test_listen_port_only),
		cmocka_unit_test(test_listen_ipv4_host),
		cmocka_unit_test(test_listen_ipv6_host),
		cmocka_unit_test(test_listen_hostname),
		cmocka_unit_test(test_listen_port_bounds),
		cmocka_unit_test(test_listen_rejects_missing_colon),
		cmocka_unit_test(test_listen_rejects_v6_without_colon),
		cmocka_unit_test(test_listen_rejects_port_zero),
		cmocka_unit_test(test_listen_rejects_port_too_large),
		cmocka_unit_test(test_listen_rejects_unbracketed_v6),
		cmocka_unit_test(test_listen_rejects_empty_port),
		cmocka_unit_test(test_listen_rejects_junk_port),
		cmocka_unit_test(test_listen_rejects_host_longer_than_buffer),
		cmocka_unit_test_teardown(test_bus_config_parsed, teardown),
		cmocka_unit_test_teardown(test_bus_defaults, teardown),
		cmocka_unit_test_teardown(test_error_queue_unknown_agent, teardown),
		cmocka_unit_test_teardown(test_error_queue_without_match, teardown),
		cmocka_unit_test_teardown(test_error_queue_unknown_key, teardown),
		cmocka_unit_test_teardown(test_error_bus_port_out_of_range, teardown),
		cmocka_unit_test_teardown(test_error_bus_ports_not_a_list, teardown),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
