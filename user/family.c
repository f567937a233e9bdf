// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "family.h"
#include "proc_user.h"
#include "verify.h"

const struct family_ops *const families[NFAMILIES] = {
	&lifecycle_family,
	&http_family,
	&bus_family,
};

uint32_t family_bounds_ns(const struct config *cfg, __u64 *out, uint32_t max)
{
	uint32_t i;

	for (i = 0; i < (uint32_t)cfg->nbuckets && i < max; i++)
		out[i] = (__u64)(cfg->buckets[i] * 1e9 + 0.5);
	return i;
}

uint32_t family_bus_ports(const struct config *cfg, __u16 *out, uint32_t max)
{
	uint32_t i;

	for (i = 0; i < (uint32_t)cfg->nbus_ports && i < max; i++)
		out[i] = cfg->bus_ports[i];
	return i;
}

int family_share_members(const struct family_env *env, const struct family_ops *f,
			 struct bpf_map *agent_pids, struct bpf_map *member_hint, char *err,
			 size_t errlen)
{
	int ret = proc_share_members(env->proc, agent_pids, member_hint);

	if (ret)
		snprintf(err, errlen, "cannot share the agent maps with the %s probes: %s", f->title,
			 strerror(-ret));
	return ret;
}

int family_load(struct bpf_object_skeleton *s, const struct family_ops *f, char *err,
		size_t errlen)
{
	int ret;

	verify_prepare(*s->obj);
	ret = bpf_object__load_skeleton(s);
	verify_collect(*s->obj, f->name);
	if (ret == -EPERM || ret == -EACCES)
		snprintf(err, errlen, "not permitted to load BPF programs (%s): run as root or with CAP_BPF and CAP_PERFMON (and CAP_SYS_RESOURCE on kernels before 5.11)",
			 strerror(-ret));
	else if (ret)
		snprintf(err, errlen, "cannot load the %s BPF programs: %s (run with AGENTBPF_DEBUG=1 for the verifier log)",
			 f->title, strerror(-ret));
	return ret;
}

int family_attach(struct bpf_object_skeleton *s, const struct family_ops *f, const char *targets,
		  char *err, size_t errlen)
{
	int ret = bpf_object__attach_skeleton(s);

	if (ret)
		snprintf(err, errlen, "cannot attach the %s programs to %s: %s", f->title, targets,
			 strerror(-ret));
	return ret;
}

int family_join_ring(const struct family_env *env, const struct family_ops *f,
		     struct bpf_map *events, ring_buffer_sample_fn cb, void *ctx, char *err,
		     size_t errlen)
{
	int ret;

	if (!env->trace.f || !env->rb)
		return 0;
	ret = ring_buffer__add(env->rb, bpf_map__fd(events), cb, ctx);
	if (ret)
		snprintf(err, errlen, "cannot map the %s trace ring buffer: %s", f->title,
			 strerror(-ret));
	return ret;
}
