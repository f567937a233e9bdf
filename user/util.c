// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "util.h"

void sb_init(struct strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void sb_free(struct strbuf *sb)
{
	free(sb->buf);
	sb_init(sb);
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->oom = false;
	if (sb->buf)
		sb->buf[0] = '\0';
}

static bool sb_grow(struct strbuf *sb, size_t extra)
{
	size_t want = sb->len + extra + 1, cap = sb->cap ? sb->cap : 256;
	char *nbuf;

	if (sb->oom)
		return false;
	if (want <= sb->cap)
		return true;
	while (cap < want)
		cap *= 2;
	nbuf = realloc(sb->buf, cap);
	if (!nbuf) {
		sb->oom = true;
		return false;
	}
	sb->buf = nbuf;
	sb->cap = cap;
	return true;
}

void sb_append(struct strbuf *sb, const char *s, size_t n)
{
	if (!sb_grow(sb, n))
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_puts(struct strbuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

void sb_putc(struct strbuf *sb, char c)
{
	sb_append(sb, &c, 1);
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sb_grow(sb, n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, n + 1, fmt, ap);
	va_end(ap);
	sb->len += n;
}

void sb_double(struct strbuf *sb, double v)
{
	char tmp[32];

	if (isnan(v)) {
		sb_puts(sb, "NaN");
		return;
	}
	if (isinf(v)) {
		sb_puts(sb, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
		sb_printf(sb, "%lld", (long long)v);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	sb_puts(sb, tmp);
}

char *sb_steal(struct strbuf *sb, size_t *len)
{
	char *buf = sb->buf;

	if (len)
		*len = sb->len;
	sb_init(sb);
	return buf;
}

void *grow_array(void *v, uint32_t *cap, uint32_t n, size_t size, uint32_t first)
{
	uint32_t want = *cap ? *cap * 2 : first;

	if (n < *cap)
		return v;
	v = realloc(v, (size_t)want * size);
	if (v)
		*cap = want;
	return v;
}

bool buf_append(char **buf, size_t *len, size_t *cap, size_t max, const char *b, size_t n)
{
	size_t want = *len + n + 1, c = *cap ? *cap : 256;
	char *p;

	if (*len + n > max)
		return false;
	if (want > *cap) {
		while (c < want)
			c *= 2;
		if (!(p = realloc(*buf, c)))
			return false;
		*buf = p;
		*cap = c;
	}
	memcpy(*buf + *len, b, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

ssize_t read_file(const char *path, char *buf, size_t max)
{
	ssize_t n, total = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((size_t)total < max - 1) {
		n = read(fd, buf + total, max - 1 - total);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			total = -errno;
			break;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	if (total >= 0)
		buf[total] = '\0';
	return total;
}

uint64_t now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}
