// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Finding a process's OpenSSL in its memory maps (user/tlslib.c). */
#include "unit.h"
#include "tlslib.h"

static void test_libssl_paths_found_once_each(void **state)
{
	static const char maps[] =
		"55d0c2a00000-55d0c2a6b000 r--p 00000000 08:01 1311 /usr/bin/python3.11\n"
		"7f1c0a000000-7f1c0a08a000 r--p 00000000 08:01 4242 /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
		"7f1c0a08a000-7f1c0a10a000 r-xp 0008a000 08:01 4242 /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
		"7f1c0b000000-7f1c0b300000 r--p 00000000 08:01 4243 /usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
		"7f1c0c000000-7f1c0c001000 r-xp 00000000 08:01 777 /opt/venv/lib/python3.11/site-packages/cryptography.libs/libssl-8a4f.so.3\n"
		"7f1c0d000000-7f1c0d001000 r-xp 00000000 08:01 778 /opt/app/lib/libssl.so.1.1 (deleted)\n"
		"7f1c0e000000-7f1c0e001000 rw-p 00000000 00:00 0 \n"
		"7ffd1a000000-7ffd1a021000 rw-p 00000000 00:00 0                          [stack]\n"
		"7f1c0f000000-7f1c0f001000 r-xp 00000000 08:01 779 /home/u/libssl.sound/x.so\n"
		"7f1c10000000-7f1c10001000 r-xp 00000000 08:01 780 /srv/with space/libssl.so.3";
	char out[8][TLS_PATH_LEN];
	int n = tls_libs_in_maps(maps, out, 8);

	assert_int_equal(n, 4);
	assert_string_equal(out[0], "/usr/lib/x86_64-linux-gnu/libssl.so.3");
	/* The copy a wheel bundles. */
	assert_string_equal(out[1], "/opt/venv/lib/python3.11/site-packages/cryptography.libs/libssl-8a4f.so.3");
	/* A deleted file's path is the one it had. */
	assert_string_equal(out[2], "/opt/app/lib/libssl.so.1.1");
	assert_string_equal(out[3], "/srv/with space/libssl.so.3");
}

static void test_bounded_and_empty(void **state)
{
	static const char maps[] =
		"1-2 r-xp 0 08:01 1 /a/libssl.so.3\n"
		"1-2 r-xp 0 08:01 2 /b/libssl.so.3\n"
		"1-2 r-xp 0 08:01 3 /c/libssl.so.3\n";
	char out[2][TLS_PATH_LEN];

	assert_int_equal(tls_libs_in_maps(maps, out, 2), 2);
	assert_string_equal(out[1], "/b/libssl.so.3");
	assert_int_equal(tls_libs_in_maps("", out, 2), 0);
	assert_int_equal(tls_libs_in_maps("garbage without fields", out, 2), 0);
	assert_int_equal(tls_libs_in_maps("1-2 r-xp 0 08:01 3 /x/libssl.so", out, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libssl_paths_found_once_each),
		cmocka_unit_test(test_bounded_and_empty),
	};

	return cmocka_run_group_tests_name("tls libraries", tests, NULL, NULL);
}
