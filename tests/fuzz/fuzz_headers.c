/*
 * fuzz_headers: libFuzzer harness for cl-fetch's response header parsers
 * (fetch/headers.c, included below). The first byte picks the parser, the
 * rest is the input: 'L' a Link value, 'R' a Retry-After value, 'T' an
 * X-Total-Count value, anything else a raw header line (as curl hands it
 * over, not NUL-terminated) given to fetch_header_value and then, by its
 * name, to the parser of that header. A broken invariant aborts:
 * - fetch_header_value's value is a trimmed substring of the line;
 * - Link's next URL is the bytes between a '<' and the next '>' of the value;
 * - Retry-After is -1 or a number of seconds >= 0 (never NaN);
 * - X-Total-Count is -1 or the value's digits.
 */
#define _GNU_SOURCE /* memfd_create, in fuzz.h */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../fetch/headers.c"
#include "fuzz.h"

static void
check_link(const char *v)
{
	char *u = fetch_header_link_next(v), *needle;
	size_t n;

	if (!u)
		return;
	/* the URL is a run of bytes found between '<' and '>' in the value */
	n = strlen(u);
	if (strchr(u, '>') || !(needle = malloc(n + 3)))
		abort();
	needle[0] = '<';
	memcpy(needle + 1, u, n);
	memcpy(needle + 1 + n, ">", 2);
	if (!strstr(v, needle))
		abort();
	free(needle);
	free(u);
}

static void
check_retry(const char *v)
{
	double d = fetch_header_retry_after(v, (time_t)1795975200);

	if (isnan(d) || (d < 0 && d != -1))
		abort();
}

static void
check_total(const char *v)
{
	long long t = fetch_header_total(v);

	if (t < -1 || (t >= 0 && (*v < '0' || *v > '9')))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "X-Total-Count", "Link", "Retry-After", "Date" };
	char *s, *line, *v;
	size_t i;

	if (size < 1)
		return 0;
	s = malloc(size);
	line = malloc(size - 1 ? size - 1 : 1);
	if (!s || !line)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	memcpy(line, data + 1, size - 1);
	switch (data[0]) {
	case 'L':
		check_link(s);
		break;
	case 'R':
		check_retry(s);
		break;
	case 'T':
		check_total(s);
		break;
	default:
		for (i = 0; i < sizeof names / sizeof names[0]; i++) {
			v = fetch_header_value(line, size - 1, names[i]);
			if (!v)
				continue;
			if (v[0] == ' ' || v[0] == '\t' ||
			    (v[0] && strchr(" \t\r\n", v[strlen(v) - 1])))
				abort();
			if (i == 0)
				check_total(v);
			else if (i == 1)
				check_link(v);
			else if (i == 2)
				check_retry(v);
			free(v);
		}
		break;
	}
	free(line);
	free(s);
	return 0;
}
