/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a process's OpenSSL is: the libssl files its memory maps name.
 * Pure text parsing, apart from the uprobes user/http.c attaches to them,
 * so that the unit tests drive it.
 */
#ifndef AGENTBPF_TLSLIB_H
#define AGENTBPF_TLSLIB_H

#define TLS_PATH_LEN	256

/*
 * The distinct paths of libssl files ("libssl.so.3", or a copy a wheel
 * bundles, "libssl-8a4f2b1c.so.3") in
 * the text of a /proc/PID/maps, up to max of them. Returns how many.
 */
int tls_libs_in_maps(const char *maps, char (*out)[TLS_PATH_LEN], int max);

#endif
