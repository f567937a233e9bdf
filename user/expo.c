// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "expo.h"

void expo_init(struct expo *e, struct strbuf *out, enum expo_format fmt, const char *ns)
{
	memset(e, 0, sizeof(*e));
	e->out = out;
	e->fmt = fmt;
	e->ns = ns;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
	int n, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	/* Overlong 3-byte forms and UTF-16 surrogates are not valid either. */
	if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
		return 0;
	if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
		return 0;
	return n;
}

/*
 * Label values come from configs, argv and the network: Prometheus rejects
 * a whole scrape over one invalid UTF-8 byte, so those become U+FFFD. JSON
 * strings also need their control characters escaped; the text format
 * knows only \\, \" and \n and takes other characters as they are.
 */
static void escape(struct strbuf *sb, const char *v, bool json)
{
	const unsigned char *p = (const unsigned char *)v;
	int n;

	while (*p) {
		switch (*p) {
		case '\\':
			sb_puts(sb, "\\\\");
			break;
		case '"':
			sb_puts(sb, "\\\"");
			break;
		case '\n':
			sb_puts(sb, "\\n");
			break;
		default:
			if (json && (*p < 0x20 || *p == 0x7f)) {
				sb_printf(sb, "\\u%04x", *p);
				break;
			}
			n = utf8_len(p);
			if (!n) {
				sb_puts(sb, "\xef\xbf\xbd");
				break;
			}
			sb_append(sb, (const char *)p, n);
			p += n;
			continue;
		}
		p++;
	}
}

void expo_escape_label(struct strbuf *sb, const char *v)
{
	escape(sb, v, false);
}

void expo_escape_json(struct strbuf *sb, const char *v)
{
	escape(sb, v, true);
}

static void escape_help(struct expo *e, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			sb_puts(e->out, "\\\\");
		else if (*v == '\n')
			sb_puts(e->out, "\\n");
		else if (*v == '"' && e->fmt == EXPO_OPENMETRICS)
			sb_puts(e->out, "\\\"");
		else
			sb_putc(e->out, *v);
	}
}

static const char *type_name(struct expo *e, enum expo_type t)
{
	switch (t) {
	case EXPO_COUNTER:
		return "counter";
	case EXPO_HISTOGRAM:
		return "histogram";
	case EXPO_INFO:
		return e->fmt == EXPO_OPENMETRICS ? "info" : "gauge";
	default:
		return "gauge";
	}
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

void expo_family(struct expo *e, const char *name, enum expo_type type, const char *help)
{
	const char *prefix = "";
	size_t famlen;

	/* The exporter's own families keep their names (agentbpf_*, process_*). */
	if (e->ns && *e->ns && strncmp(name, "agentbpf_", 9) && strncmp(name, "process_", 8))
		prefix = e->ns;
	snprintf(e->family, sizeof(e->family), "%s%s%s", prefix, *prefix ? "_" : "", name);
	e->type = type;

	/* OpenMetrics names the family without the _total / _info suffix. */
	famlen = strlen(e->family);
	if (e->fmt == EXPO_OPENMETRICS) {
		if (type == EXPO_COUNTER && has_suffix(e->family, "_total"))
			famlen -= 6;
		else if (type == EXPO_INFO && has_suffix(e->family, "_info"))
			famlen -= 5;
	}
	sb_puts(e->out, "# HELP ");
	sb_append(e->out, e->family, famlen);
	sb_putc(e->out, ' ');
	escape_help(e, help);
	sb_puts(e->out, "\n# TYPE ");
	sb_append(e->out, e->family, famlen);
	sb_printf(e->out, " %s\n", type_name(e, type));
}

static void write_labels(struct expo *e, const struct label *labels, int nlabels,
			 const char *le)
{
	int i;

	if (!nlabels && !le)
		return;
	sb_putc(e->out, '{');
	for (i = 0; i < nlabels; i++) {
		sb_printf(e->out, "%s%s=\"", i ? "," : "", labels[i].name);
		expo_escape_label(e->out, labels[i].value ? labels[i].value : "");
		sb_putc(e->out, '"');
	}
	if (le) {
		sb_printf(e->out, "%sle=\"%s\"", nlabels ? "," : "", le);
	}
	sb_putc(e->out, '}');
}

static void write_sample(struct expo *e, const char *suffix, const struct label *labels,
			 int nlabels, const char *le, double value)
{
	sb_puts(e->out, e->family);
	sb_puts(e->out, suffix);
	write_labels(e, labels, nlabels, le);
	sb_putc(e->out, ' ');
	sb_double(e->out, value);
	sb_putc(e->out, '\n');
	e->series++;
}

void expo_sample(struct expo *e, const struct label *labels, int nlabels, double value)
{
	write_sample(e, "", labels, nlabels, NULL, value);
}

void expo_histogram(struct expo *e, const struct label *labels, int nlabels,
		    const double *bounds, const uint64_t *counts, int nbounds,
		    uint64_t overflow, double sum)
{
	struct strbuf le;
	uint64_t cum = 0;
	int i;

	sb_init(&le);
	for (i = 0; i < nbounds; i++) {
		cum += counts[i];
		sb_reset(&le);
		sb_double(&le, bounds[i]);
		write_sample(e, "_bucket", labels, nlabels, le.buf, cum);
	}
	cum += overflow;
	write_sample(e, "_bucket", labels, nlabels, "+Inf", cum);
	write_sample(e, "_sum", labels, nlabels, NULL, sum);
	write_sample(e, "_count", labels, nlabels, NULL, cum);
	sb_free(&le);
}

void expo_finish(struct expo *e)
{
	if (e->fmt == EXPO_OPENMETRICS)
		sb_puts(e->out, "# EOF\n");
}

/*
 * OpenMetrics only when the scraper lists it (Prometheus sends
 * "application/openmetrics-text;version=1.0.0,...;q=0.5"); q=0 refuses it.
 */
bool expo_wants_openmetrics(const char *accept)
{
	const char *p, *end, *q;

	if (!accept)
		return false;
	for (p = accept; (p = strcasestr(p, "application/openmetrics-text")); p++) {
		end = strchr(p, ',');
		q = strstr(p, "q=");
		if (q && (!end || q < end)) {
			if (strtod(q + 2, NULL) <= 0)
				continue;
		}
		return true;
	}
	return false;
}
