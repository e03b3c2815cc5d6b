/* unit_date: cl-filter's dates: --as-of parsing, record dates, "current". */
#include <stdlib.h>

#include "filter.h"
#include "t.h"

static int
as_of_ok(const char *s)
{
	struct cl_day d;
	const char *why = NULL;

	return filter_parse_as_of(s, &d, &why) == 0;
}

/* Reads the date in the JSON value text v (a whole line {"d":v}). */
static const char *
date_of(const char *v, char out[12])
{
	static const char *const paths[] = { "d" };
	struct cl_json_query *q = cl_json_query_new(paths, 1);
	struct cl_json_result *r = cl_json_result_new(q);
	struct cl_buf line = CL_BUF_INIT, tmp = CL_BUF_INIT;
	struct cl_day d;
	const char *ret = out;

	cl_buf_addf(&line, "{\"d\":%s}", v);
	if (cl_json_scan(q, line.p, line.len, r, NULL) < 0 ||
	    filter_read_date(cl_json_result_first(r, 0), &tmp, &d) < 0)
		ret = "error";
	else
		memcpy(out, d.s, 11);
	cl_buf_release(&line);
	cl_buf_release(&tmp);
	cl_json_result_free(r);
	cl_json_query_free(q);
	return ret;
}

static int
cur(const char *b, const char *e, const char *as_of)
{
	struct cl_day db, de, da;

	snprintf(db.s, sizeof db.s, "%s", b);
	snprintf(de.s, sizeof de.s, "%s", e);
	snprintf(da.s, sizeof da.s, "%s", as_of);
	return filter_current(&db, &de, &da);
}

int
main(void)
{
	struct cl_day d;
	char buf[12];

	/* --as-of: strict, real calendar days */
	CHECK(as_of_ok("2026-11-29"));
	CHECK(as_of_ok("2028-02-29"));
	CHECK(as_of_ok("2000-02-29"));
	CHECK(!as_of_ok("1900-02-29"));
	CHECK(!as_of_ok("2026-02-29"));
	CHECK(as_of_ok("2026-12-31"));
	CHECK(!as_of_ok("2026-12-32"));
	CHECK(!as_of_ok("2026-04-31"));
	CHECK(as_of_ok("2026-04-30"));
	CHECK(!as_of_ok("2026-00-10"));
	CHECK(!as_of_ok("2026-13-10"));
	CHECK(!as_of_ok("2026-01-00"));
	CHECK(!as_of_ok("0000-01-01"));
	CHECK(as_of_ok("0001-01-01"));
	CHECK(as_of_ok("9999-12-31"));
	CHECK(!as_of_ok("2026-1-05"));
	CHECK(!as_of_ok("2026-01-05T00:00:00Z"));
	CHECK(!as_of_ok("2026/01/05"));
	CHECK(!as_of_ok(" 2026-01-05"));
	CHECK(!as_of_ok("2026-01-05 "));
	CHECK(!as_of_ok("+026-01-05"));
	CHECK(!as_of_ok(""));
	CHECK(!as_of_ok("today"));

	/* today honours SOURCE_DATE_EPOCH */
	setenv("SOURCE_DATE_EPOCH", "1795975200", 1);
	filter_today(&d);
	CHECK_STR(d.s, "2026-11-29");
	setenv("SOURCE_DATE_EPOCH", "1835481599", 1); /* 2028-02-29T23:59:59Z */
	filter_today(&d);
	CHECK_STR(d.s, "2028-02-29");

	/* record dates */
	CHECK_STR(date_of("\"2026-12-18\"", buf), "2026-12-18");
	CHECK_STR(date_of("\"2026-12-18T23:59:59.000Z\"", buf), "2026-12-18");
	CHECK_STR(date_of("\"2026-12-18T23:59:59-05:00\"", buf), "2026-12-18");
	CHECK_STR(date_of("\"2026-12-18 08:00\"", buf), "2026-12-18");
	CHECK_STR(date_of("\"\\u0032026-12-18\"", buf), "2026-12-18");
	CHECK_STR(date_of("\"\"", buf), "");
	CHECK_STR(date_of("null", buf), "");
	CHECK_STR(date_of("\"12/18/2026\"", buf), "error");
	CHECK_STR(date_of("\"2026-12-1\"", buf), "error");
	CHECK_STR(date_of("\"2026-12-18x\"", buf), "error");
	CHECK_STR(date_of("\" 2026-12-18\"", buf), "error");
	CHECK_STR(date_of("20261218", buf), "error");
	CHECK_STR(date_of("true", buf), "error");
	CHECK_STR(date_of("{}", buf), "error");

	/* current: beginDate inclusive, endDate exclusive, empty ends open */
	CHECK(cur("2026-08-17", "2026-12-18", "2026-08-17"));
	CHECK(cur("2026-08-17", "2026-12-18", "2026-12-17"));
	CHECK(!cur("2026-08-17", "2026-12-18", "2026-12-18"));
	CHECK(!cur("2026-08-17", "2026-12-18", "2026-12-19"));
	CHECK(!cur("2026-08-17", "2026-12-18", "2026-08-16"));
	CHECK(cur("", "2026-12-18", "1999-01-01"));
	CHECK(!cur("", "2026-12-18", "2027-01-01"));
	CHECK(cur("2026-08-17", "", "2099-01-01"));
	CHECK(cur("", "", "2026-11-29"));
	CHECK(!cur("2026-12-18", "2026-08-17", "2026-11-29")); /* ends before it begins */
	CHECK(!cur("2028-02-29", "2028-02-29", "2028-02-29")); /* an empty range */
	CHECK(cur("2028-02-29", "2028-03-01", "2028-02-29"));
	CHECK(!cur("2028-02-29", "2028-03-01", "2028-03-01"));
	return T_DONE();
}
