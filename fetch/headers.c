/*
 * headers.c: what a response's headers say, each parsed from the bytes a
 * server sent: X-Total-Count, Link rel="next" (RFC 8288) and Retry-After
 * (RFC 9110: seconds or an HTTP date). Pure functions, so that a fuzzer
 * (tests/fuzz/fuzz_headers.c) can reach them without a network.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "diag.h"
#include "fetch.h"

char *
fetch_header_value(const char *p, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n <= k || p[k] != ':' || strncasecmp(p, name, k) != 0)
		return NULL;
	/* a NUL is never in a field (RFC 9110 5.5): as a C string the value would end there */
	if (memchr(p, '\0', n))
		return NULL;
	p += k + 1;
	n -= k + 1;
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return cl_xmemdup(p, n);
}

char *
fetch_header_link_next(const char *v)
{
	const char *p = v, *lt, *gt, *end;

	while ((lt = strchr(p, '<')) != NULL) {
		gt = strchr(lt, '>');
		if (!gt)
			return NULL;
		end = strchr(gt, ',');
		if (!end)
			end = gt + strlen(gt);
		/* the parameters between '>' and the next entry */
		{
			char *params = cl_xmemdup(gt + 1, (size_t)(end - gt - 1));
			char *q = params;
			int next = 0;

			for (; *q; q++)
				if (*q >= 'A' && *q <= 'Z')
					*q = (char)(*q - 'A' + 'a');
			q = strstr(params, "rel=");
			if (q) {
				q += 4;
				if (*q == '"')
					q++;
				/* rel may list several types */
				while (*q && *q != '"' && *q != ';') {
					if (!strncmp(q, "next", 4) &&
					    (q[4] == '"' || q[4] == ' ' || q[4] == ';' || !q[4]))
						next = 1;
					q += strcspn(q, " \";");
					while (*q == ' ')
						q++;
				}
			}
			free(params);
			if (next)
				return cl_xmemdup(lt + 1, (size_t)(gt - lt - 1));
		}
		p = end;
	}
	return NULL;
}

long long
fetch_header_total(const char *v)
{
	char *end;
	long long t;

	/* digits only: strtoll alone would take a sign and leading spaces */
	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	t = strtoll(v, &end, 10);
	return (errno || *end || t < 0) ? -1 : t;
}

double
fetch_header_retry_after(const char *v, time_t now)
{
	char *end;
	long s;
	time_t t;

	if (*v >= '0' && *v <= '9') {
		errno = 0;
		s = strtol(v, &end, 10);
		if (!*end)
			return errno == ERANGE ? (double)LONG_MAX : (double)s;
	}
	t = curl_getdate(v, NULL);
	if (t == -1)
		return -1;
	return difftime(t, now) > 0 ? difftime(t, now) : 0;
}
