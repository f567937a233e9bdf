/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The HTTP side: /metrics, /healthz and a landing page on libmicrohttpd. */
#ifndef AGENTBPF_SERVER_H
#define AGENTBPF_SERVER_H

#include "expo.h"

/* Renders a complete scrape into out; called on the server's thread. */
typedef void (*render_fn)(void *ctx, struct strbuf *out, enum expo_format fmt);

struct server;

/* addr is host:port, :port or [v6]:port. err names the fix on failure. */
struct server *server_start(const char *addr, render_fn render, void *ctx,
			    char *err, size_t errlen);
/*
 * The probes are loaded (or have failed): /healthz answers 200 from now on,
 * 503 before, while /metrics is served from the start.
 */
void server_set_ready(struct server *s);
void server_stop(struct server *s);

/* gzip-compresses in into out; returns 0 or -1. */
int gzip_buffer(const char *in, size_t len, struct strbuf *out);

#endif
