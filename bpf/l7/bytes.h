/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the protocol parsers in bpf/l7/ build on: fixed-width types and
 * word-at-a-time byte tricks. Compiles in BPF (after vmlinux.h) and on the
 * host, where the unit tests and fuzzers drive the same parsers.
 */
#ifndef AGENTBPF_L7_BYTES_H
#define AGENTBPF_L7_BYTES_H

#ifndef __VMLINUX_H__
#include <stdbool.h>
#include <string.h>
#include <linux/types.h>
/* The kernel's own, so that a u64 * is a __u64 * as in BPF. */
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
/* bpf_helpers.h's: the compiler forgets what it knew of v. */
#define barrier_var(v) __asm__ __volatile__("" : "+r"(v))
#endif

/* A size the verifier can prove is at most max, however the compiler folded it. */
static __always_inline u64 clamp_size(u64 v, u64 max)
{
	if (v > max)
		v = max;
	barrier_var(v);
	if (v > max)
		v = 0;
	return v;
}

/* n bytes of parser memory (a map value in BPF) to another place of it. */
static __always_inline void l7_copy(void *dst, u32 n, const void *src)
{
#ifdef __VMLINUX_H__
	bpf_probe_read_kernel(dst, n, src);
#else
	memcpy(dst, src, n);
#endif
}

/*
 * num with the decimal digit ch appended, wrapping past 64 bits as BPF's
 * arithmetic does (a RESP3 big number, a bogus length). Computed unsigned:
 * signed overflow is undefined in C, and the host build's fuzzer found it.
 * Not saturated: a branch in the digit loops cost 15k verified instructions.
 */
static __always_inline s64 l7_decimal(s64 num, char ch)
{
	return (s64)((u64)num * 10 + (u64)(ch - '0'));
}

/* Eight bytes as one little-endian word, to compare with lower8() and the like. */
#define W(a, b, c, d, e, f, g, h) \
	((u64)(a) | (u64)(b) << 8 | (u64)(c) << 16 | (u64)(d) << 24 | \
	 (u64)(e) << 32 | (u64)(f) << 40 | (u64)(g) << 48 | (u64)(h) << 56)

/*
 * Eight bytes at p in one load. BPF C has no unaligned type, so a memcpy
 * becomes eight byte loads and fourteen shifts and ors; x86 and arm64 load
 * an unaligned word at full speed, and the verifier allows it in map values
 * (the scratch buffers), not on the stack. The host build copies, which
 * the sanitizers accept.
 */
static __always_inline u64 load8(const char *p)
{
#ifdef __VMLINUX_H__
	return *(const u64 *)p;
#else
	u64 w;

	memcpy(&w, p, sizeof(w));
	return w;
#endif
}

/* Eight bytes to p in one store, as load8() loads them. */
static __always_inline void store8(char *p, u64 w)
{
#ifdef __VMLINUX_H__
	*(u64 *)p = w;
#else
	memcpy(p, &w, sizeof(w));
#endif
}

/* Eight bytes at p with ASCII letters in lower case (other bytes altered). */
static __always_inline u64 lower8(const char *p)
{
	return load8(p) | 0x2020202020202020ull;
}

/* The first len bytes of a little-endian word (all of it from 8 on). */
static __always_inline u64 word_cut(u64 w, u32 len)
{
	return len < 8 ? w & ((1ull << (len * 8)) - 1) : w;
}

/* 0x80 in each byte of w that is '\n', 0 in the others (no false hits). */
static __always_inline u64 newline_mask(u64 w)
{
	u64 x = w ^ 0x0a0a0a0a0a0a0a0aull;

	return ~(((x & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) | x | 0x7f7f7f7f7f7f7f7full);
}

/*
 * Offset of the first marked byte of a non-zero newline_mask (little
 * endian): the lowest mark is 1 << (8k + 7), and multiplying 1 << 8k by
 * bytes 7..0 brings k to the top byte. No loop, no count-trailing-zeros.
 */
static __always_inline u32 first_newline(u64 m)
{
	return (((m & -m) >> 7) * 0x0001020304050607ull) >> 56;
}

#endif /* AGENTBPF_L7_BYTES_H */
