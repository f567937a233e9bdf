/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef AGENTBPF_UTIL_H
#define AGENTBPF_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Growable byte buffer; a failed allocation sets oom and drops further writes. */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool oom;
};

void sb_init(struct strbuf *sb);
void sb_free(struct strbuf *sb);
void sb_reset(struct strbuf *sb);
void sb_append(struct strbuf *sb, const char *s, size_t n);
void sb_puts(struct strbuf *sb, const char *s);
void sb_putc(struct strbuf *sb, char c);
__attribute__((format(printf, 2, 3)))
void sb_printf(struct strbuf *sb, const char *fmt, ...);
/* Shortest decimal that reads back as the same double; Prometheus spellings of inf/nan. */
void sb_double(struct strbuf *sb, double v);
/* Transfers ownership of the buffer to the caller; sb is left empty. */
char *sb_steal(struct strbuf *sb, size_t *len);

/*
 * A growable array of *cap elements of size bytes, with room for the one at
 * index n: doubled (from first) when full. Returns the array, or NULL when
 * out of memory, with the old array and *cap left as they were.
 */
void *grow_array(void *v, uint32_t *cap, uint32_t n, size_t size, uint32_t first);

/*
 * n bytes onto *buf (*len of them used, *cap allocated), grown by doubling,
 * NUL-terminated, at most max bytes used. False, with nothing added, past
 * max or out of memory.
 */
bool buf_append(char **buf, size_t *len, size_t *cap, size_t max, const char *b, size_t n);

/* Reads at most max-1 bytes of a (proc) file; returns bytes read or -errno. */
ssize_t read_file(const char *path, char *buf, size_t max);

uint64_t now_ns(int clock);

#endif
