// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "tlslib.h"

/* The pathname of a maps line ("addr perms offset dev inode   path"), or NULL. */
static const char *path_of(const char *line, const char *end, size_t *len)
{
	const char *p = line;
	int field;

	/* Past five fields and the blanks after them. */
	for (field = 0; field < 5; field++) {
		while (p < end && *p != ' ')
			p++;
		while (p < end && *p == ' ')
			p++;
	}
	if (p >= end || *p != '/')
		return NULL;
	*len = end - p;
	/* A file replaced since it was mapped. */
	if (*len > 10 && !memcmp(end - 10, " (deleted)", 10))
		*len -= 10;
	return p;
}

/* "libssl.so.3", and the copies wheels bundle ("libssl-8a4f2b1c.so.3"). */
static bool is_libssl(const char *path, size_t len)
{
	const char *base = path + len, *p;

	while (base > path && base[-1] != '/')
		base--;
	if ((size_t)(path + len - base) < 9 || memcmp(base, "libssl", 6) ||
	    (base[6] != '.' && base[6] != '-'))
		return false;
	for (p = base + 6; p + 3 <= path + len; p++) {
		if (!memcmp(p, ".so", 3))
			return true;
	}
	return false;
}

int tls_libs_in_maps(const char *maps, char (*out)[TLS_PATH_LEN], int max)
{
	const char *line = maps, *end, *path;
	size_t len;
	int n = 0, i;

	for (; line && *line && n < max; line = *end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		path = path_of(line, end, &len);
		if (!path || len >= TLS_PATH_LEN || !is_libssl(path, len))
			continue;
		for (i = 0; i < n; i++) {
			if (strlen(out[i]) == len && !memcmp(out[i], path, len))
				break;
		}
		if (i < n)
			continue;
		memcpy(out[n], path, len);
		out[n++][len] = '\0';
	}
	return n;
}
