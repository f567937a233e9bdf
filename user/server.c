// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <microhttpd.h>
#include <zlib.h>
#include "config.h"
#include "server.h"

/*
 * What keeps scrapes answered while other clients misbehave (idle
 * connections, heads trickled a byte at a time, a flood of /metrics): a
 * client address holds at most PER_ADDRESS_CONNECTIONS connections, so no
 * one address can take the slots; the slots are many (epoll, not select),
 * each with a small memory pool; a connection idle for
 * CONNECTION_TIMEOUT_S goes; renders run one at a time in the server's
 * thread, so a flood costs at most that thread's CPU and waits its turn.
 */
#define MAX_CONNECTIONS		4096
#define PER_ADDRESS_CONNECTIONS	32
#define CONNECTION_TIMEOUT_S	10
#define CONNECTION_MEMORY	(16 * 1024)
#define LISTEN_BACKLOG		1024
#define SERVER_LIMITS							\
	MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,		\
	MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)PER_ADDRESS_CONNECTIONS, \
	MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,	\
	MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,		\
	MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)LISTEN_BACKLOG

struct server {
	struct MHD_Daemon *mhd;
	render_fn render;
	void *ctx;
	bool ready;		/* every probe family has loaded or failed: /healthz */
};

/* The live view (web/, embedded by the build): page, script, and uPlot from npm. */
extern const unsigned char web_index_html[], web_app_js[], web_uplot_js[], web_uplot_css[];
extern const unsigned int web_index_html_len, web_app_js_len, web_uplot_js_len, web_uplot_css_len;

static const struct asset {
	const char *path;
	const char *type;
	const unsigned char *data;
	const unsigned int *len;
} assets[] = {
	{ "/", "text/html; charset=utf-8", web_index_html, &web_index_html_len },
	{ "/app.js", "text/javascript; charset=utf-8", web_app_js, &web_app_js_len },
	{ "/uplot.js", "text/javascript; charset=utf-8", web_uplot_js, &web_uplot_js_len },
	{ "/uplot.css", "text/css; charset=utf-8", web_uplot_css, &web_uplot_css_len },
};

int gzip_buffer(const char *in, size_t len, struct strbuf *out)
{
	z_stream zs = { 0 };
	size_t bound;
	int ret;

	/* windowBits 15 + 16 asks zlib for a gzip header and trailer. */
	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&zs, len);
	sb_free(out);
	out->buf = malloc(bound + 1);
	if (!out->buf) {
		deflateEnd(&zs);
		return -1;
	}
	out->cap = bound + 1;
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = (Bytef *)out->buf;
	zs.avail_out = bound;
	ret = deflate(&zs, Z_FINISH);
	out->len = zs.total_out;
	deflateEnd(&zs);
	return ret == Z_STREAM_END ? 0 : -1;
}

static bool accepts_gzip(const char *ae)
{
	const char *p;

	if (!ae)
		return false;
	for (p = ae; (p = strcasestr(p, "gzip")); p += 4) {
		const char *end = strchr(p, ','), *q = strstr(p, "q=");

		if (q && (!end || q < end) && strtod(q + 2, NULL) <= 0)
			continue;
		return true;
	}
	return false;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *type, void *body, size_t len, enum MHD_ResponseMemoryMode mode,
			     const char *encoding)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, body, mode);
	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (encoding)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, encoding);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result serve_metrics(struct server *s, struct MHD_Connection *conn)
{
	const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_ACCEPT_ENCODING);
	enum expo_format fmt = expo_wants_openmetrics(accept) ? EXPO_OPENMETRICS : EXPO_TEXT;
	const char *type = fmt == EXPO_OPENMETRICS ? EXPO_CT_OM : EXPO_CT_TEXT;
	struct strbuf body, gz;
	size_t len;
	char *buf;

	sb_init(&body);
	s->render(s->ctx, &body, fmt);
	if (body.oom) {
		sb_free(&body);
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
			     "out of memory\n", 14, MHD_RESPMEM_PERSISTENT, NULL);
	}
	if (accepts_gzip(ae)) {
		sb_init(&gz);
		if (gzip_buffer(body.buf, body.len, &gz) == 0) {
			sb_free(&body);
			buf = sb_steal(&gz, &len);
			return reply(conn, MHD_HTTP_OK, type, buf, len, MHD_RESPMEM_MUST_FREE, "gzip");
		}
		sb_free(&gz);
	}
	buf = sb_steal(&body, &len);
	return reply(conn, MHD_HTTP_OK, type, buf ? buf : strdup(""), len, MHD_RESPMEM_MUST_FREE, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	static const char not_found[] = "404 not found: try /metrics\n";
	static const char not_allowed[] = "405 method not allowed: use GET\n";
	static const char loading[] = "loading the probes: /metrics shows the families already up\n";
	struct server *s = cls;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", (void *)not_allowed,
			     sizeof(not_allowed) - 1, MHD_RESPMEM_PERSISTENT, NULL);
	if (!strcmp(url, "/metrics"))
		return serve_metrics(s, conn);
	if (!strcmp(url, "/healthz")) {
		if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE))
			return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
				     (void *)loading, sizeof(loading) - 1, MHD_RESPMEM_PERSISTENT, NULL);
		return reply(conn, MHD_HTTP_OK, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT, NULL);
	}
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		if (!strcmp(url, assets[i].path))
			return reply(conn, MHD_HTTP_OK, assets[i].type, (void *)assets[i].data,
				     *assets[i].len, MHD_RESPMEM_PERSISTENT, NULL);
	}
	return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", (void *)not_found,
		     sizeof(not_found) - 1, MHD_RESPMEM_PERSISTENT, NULL);
}

struct server *server_start(const char *addr, render_fn render, void *ctx,
			    char *err, size_t errlen)
{
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	struct sockaddr_storage ss = { 0 };
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char host[256], portstr[8];
	struct server *s;
	uint16_t port;
	int gai;

	if (config_parse_listen(addr, host, sizeof(host), &port)) {
		snprintf(err, errlen, "invalid listen address \"%s\": use host:port, :port or [v6]:port", addr);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->render = render;
	s->ctx = ctx;
	if (!*host) {
		/* All addresses, v6 and v4 on one socket; v4 alone if the host has no v6. */
		s->mhd = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, port, NULL, NULL, handle, s,
					  SERVER_LIMITS, MHD_OPTION_END);
		if (!s->mhd)
			s->mhd = MHD_start_daemon(flags, port, NULL, NULL, handle, s,
						  SERVER_LIMITS, MHD_OPTION_END);
	} else {
		snprintf(portstr, sizeof(portstr), "%u", port);
		gai = getaddrinfo(host, portstr, &hints, &ai);
		if (gai) {
			snprintf(err, errlen, "cannot resolve listen host \"%s\": %s", host, gai_strerror(gai));
			free(s);
			return NULL;
		}
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		if (ai->ai_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		freeaddrinfo(ai);
		s->mhd = MHD_start_daemon(flags, port, NULL, NULL, handle, s,
					  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					  SERVER_LIMITS, MHD_OPTION_END);
	}
	if (!s->mhd) {
		snprintf(err, errlen, "cannot listen on %s: port in use or address not local (choose another with --web.listen-address)",
			 addr);
		free(s);
		return NULL;
	}
	return s;
}

void server_set_ready(struct server *s)
{
	if (s)
		__atomic_store_n(&s->ready, true, __ATOMIC_RELEASE);
}

void server_stop(struct server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd);
	free(s);
}
