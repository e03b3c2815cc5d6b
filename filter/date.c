/* date.c: OneRoster dates, compared as YYYY-MM-DD strings. */
#include <string.h>
#include <time.h>

#include "date.h"
#include "filter.h"

static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* 1 when s (at least 10 bytes) starts with the shape YYYY-MM-DD. */
static int
day_shape(const char *s)
{
	return digits(s, 4) && s[4] == '-' && digits(s + 5, 2) && s[7] == '-' && digits(s + 8, 2);
}

int
filter_parse_as_of(const char *s, struct cl_day *d, const char **why)
{
	if (cl_date_check(s, strlen(s), why) < 0)
		return -1;
	memcpy(d->s, s, 10);
	d->s[10] = '\0';
	return 0;
}

void
filter_today(struct cl_day *d)
{
	time_t t = cl_now();
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(d->s, sizeof d->s, "%Y-%m-%d", &tm) != 10)
		memcpy(d->s, "1970-01-01", 11);
}

int
filter_read_date(const struct cl_json_span *s, struct cl_buf *tmp, struct cl_day *d)
{
	struct cl_str v;

	d->s[0] = '\0';
	if (!s || s->type == CL_JSON_NULL)
		return 0;
	if (cl_json_strview(s, tmp, &v) < 0)
		return -1;
	if (v.n == 0)
		return 0;
	if (v.n < 10 || !day_shape(v.p) ||
	    (v.n > 10 && v.p[10] != 'T' && v.p[10] != 't' && v.p[10] != ' '))
		return -1;
	memcpy(d->s, v.p, 10);
	d->s[10] = '\0';
	return 0;
}

int
filter_current(const struct cl_day *begin, const struct cl_day *end, const struct cl_day *as_of)
{
	if (begin->s[0] && memcmp(as_of->s, begin->s, 10) < 0)
		return 0;
	if (end->s[0] && memcmp(as_of->s, end->s, 10) >= 0)
		return 0;
	return 1;
}
