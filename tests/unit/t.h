/*
 * t.h: the smallest unit-test kit. Each tests/unit/test_*.c (and each
 * tests/<program>/unit_*.c) is one program: it runs its checks, prints every
 * failure as "file:line: what", and exits non-zero when any failed.
 */
#ifndef CL_T_H
#define CL_T_H

#include <stdio.h>
#include <string.h>

static int t_failures;
static int t_checks;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		t_checks++;                                                                      \
		if (!(cond)) {                                                                   \
			t_failures++;                                                            \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                                \
	} while (0)

#define CHECK_STR(got, want)                                                                    \
	do {                                                                                    \
		const char *t_g = (got), *t_w = (want);                                         \
		t_checks++;                                                                     \
		if (!t_g || strcmp(t_g, t_w) != 0) {                                            \
			t_failures++;                                                           \
			fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
			        t_g ? t_g : "(null)", t_w);                                     \
		}                                                                               \
	} while (0)

#define CHECK_INT(got, want)                                                                  \
	do {                                                                                  \
		long long t_g = (long long)(got), t_w = (long long)(want);                    \
		t_checks++;                                                                   \
		if (t_g != t_w) {                                                             \
			t_failures++;                                                         \
			fprintf(stderr, "%s:%d: %s is %lld, want %lld\n", __FILE__, __LINE__, \
			        #got, t_g, t_w);                                              \
		}                                                                             \
	} while (0)

/* Ends main(): prints a one-line summary and returns the exit status. */
#define T_DONE()                                                                        \
	(fprintf(stderr, "%s: %d checks, %d failed\n", __FILE__, t_checks, t_failures), \
	 t_failures ? 1 : 0)

#endif
