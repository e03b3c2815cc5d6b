/* test_date: OneRoster dates and date-times as cl-filter, cl-bundle and cl-fetch check them. */
#include <string.h>

#include "date.h"
#include "t.h"

static int
date_ok(const char *s)
{
	return cl_date_check(s, strlen(s), NULL) == 0;
}

static const char *
date_why(const char *s)
{
	const char *why = "";

	cl_date_check(s, strlen(s), &why);
	return why;
}

static int
dt(const char *s, int any_zone)
{
	return cl_datetime_ok(s, strlen(s), any_zone);
}

int
main(void)
{
	CHECK(date_ok("2026-08-01"));
	CHECK(date_ok("2024-02-29")); /* leap year */
	CHECK(date_ok("2000-02-29")); /* divisible by 400 */
	CHECK(!date_ok("1900-02-29"));
	CHECK(!date_ok("2026-02-29"));
	CHECK(!date_ok("2026-04-31"));
	CHECK(!date_ok("2026-8-01"));
	CHECK(!date_ok("2026-08-01T00:00:00Z")); /* a date is 10 bytes */
	CHECK(strcmp(date_why("yesterday"), "not a date of the form YYYY-MM-DD") == 0);
	CHECK(strcmp(date_why("0000-01-01"), "no year 0000") == 0);
	CHECK(strcmp(date_why("2026-13-01"), "no such month") == 0);
	CHECK(strcmp(date_why("2026-02-30"), "no such day in that month") == 0);

	CHECK(dt("2026-08-01T00:00:00Z", 0));
	CHECK(dt("2026-08-01T23:59:60.123Z", 0)); /* a leap second, a fraction */
	CHECK(!dt("2026-08-01T24:00:00Z", 0));
	CHECK(!dt("2026-08-01T00:60:00Z", 0));
	CHECK(!dt("2026-02-30T00:00:00Z", 0));
	CHECK(!dt("2026-08-01T00:00:00.Z", 0));
	CHECK(!dt("2026-08-01T00:00:00", 0));
	CHECK(!dt("2026-08-01T00:00:00+02:00", 0));
	CHECK(dt("2026-08-01T00:00:00+02:00", 1));
	CHECK(dt("2026-08-01T00:00:00.5-05:30", 1));
	CHECK(!dt("2026-08-01T00:00:00+0200", 1));
	CHECK(!dt("2026-08-01T00:00:00Zx", 1));
	return T_DONE();
}
