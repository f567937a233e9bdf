/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prometheus exposition: text format 0.0.4 and OpenMetrics 1.0 from one set
 * of calls, so every collector renders both formats the same way.
 */
#ifndef AGENTBPF_EXPO_H
#define AGENTBPF_EXPO_H

#include "util.h"

enum expo_format {
	EXPO_TEXT,
	EXPO_OPENMETRICS,
};

enum expo_type {
	EXPO_COUNTER,
	EXPO_GAUGE,
	EXPO_HISTOGRAM,
	EXPO_INFO,	/* a gauge of 1 in text format, an info family in OpenMetrics */
};

#define EXPO_CT_TEXT	"text/plain; version=0.0.4; charset=utf-8"
#define EXPO_CT_OM	"application/openmetrics-text; version=1.0.0; charset=utf-8"

struct label {
	const char *name;
	const char *value;
};

struct expo {
	struct strbuf *out;
	enum expo_format fmt;
	const char *ns;		/* prefix for agent families, NULL or "" for none */
	char family[256];	/* full sample name base of the current family */
	enum expo_type type;
	unsigned int series;	/* samples written, for self-metrics */
};

void expo_init(struct expo *e, struct strbuf *out, enum expo_format fmt, const char *ns);
/*
 * Starts a family. name is the sample name as the text format spells it
 * (counters end in _total, info families in _info); the namespace is
 * prefixed unless the name belongs to the exporter itself (agentbpf_*).
 */
void expo_family(struct expo *e, const char *name, enum expo_type type, const char *help);
void expo_sample(struct expo *e, const struct label *labels, int nlabels, double value);
/* counts[i] is the number of observations <= bounds[i] (not cumulative). */
void expo_histogram(struct expo *e, const struct label *labels, int nlabels,
		    const double *bounds, const uint64_t *counts, int nbounds,
		    uint64_t overflow, double sum);
void expo_finish(struct expo *e);

/* Escapes a label value; invalid UTF-8 becomes U+FFFD. */
void expo_escape_label(struct strbuf *sb, const char *v);
/* The same for a JSON string (control characters as \u00XX). */
void expo_escape_json(struct strbuf *sb, const char *v);
bool expo_wants_openmetrics(const char *accept);

#endif
