/*
 * fuzz_email: the email normal form is a fixed point. For any bytes x,
 * cl_email_norm(cl_email_norm(x)) equals cl_email_norm(x), with and without
 * domain aliases, and the class does not change: two addresses that match
 * once match whichever side was normalised first (the roster's and the
 * export's go through it separately).
 */
#define _GNU_SOURCE /* memfd_create, in fuzz.h */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "email.h"
#include "fuzz.h"

static void
check(const struct cl_aliases *a, const uint8_t *data, size_t size)
{
	struct cl_buf once = CL_BUF_INIT, twice = CL_BUF_INIT;
	enum cl_email_class c1, c2;

	c1 = cl_email_norm(a, (const char *)data, size, &once);
	c2 = cl_email_norm(a, once.p, once.len, &twice);
	if (c1 != c2 || once.len != twice.len || memcmp(once.p, twice.p, once.len) != 0)
		abort();
	cl_buf_release(&once);
	cl_buf_release(&twice);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cl_aliases al;
	static int ready;

	if (!ready) {
		cl_aliases_init(&al);
		cl_aliases_add(&al, "students.example.org=example.org");
		cl_aliases_add(&al, "\xC3\xA9"
		                    "cole.fr=ecole.fr");
		ready = 1;
	}
	check(NULL, data, size);
	check(&al, data, size);
	return 0;
}
