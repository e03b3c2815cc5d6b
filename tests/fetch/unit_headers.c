/*
 * unit_headers.c: what cl-fetch takes from a response's headers
 * (fetch/headers.c) and from the OAuth 2.0 token endpoint's answer
 * (fetch_oauth2_parse_token): the cases the fuzz harnesses (tests/fuzz/) led to.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "t.h"

static void
totals(void)
{
	CHECK_INT((int)fetch_header_total("285"), 285);
	CHECK_INT((int)fetch_header_total("0"), 0);
	CHECK_INT((int)fetch_header_total("+5"), -1);
	CHECK_INT((int)fetch_header_total("-1"), -1);
	CHECK_INT((int)fetch_header_total(" 5"), -1);
	CHECK_INT((int)fetch_header_total("5x"), -1);
	CHECK_INT((int)fetch_header_total(""), -1);
	CHECK_INT((int)fetch_header_total("99999999999999999999"), -1);
}

static void
retry_after(void)
{
	time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */

	CHECK_INT((int)fetch_header_retry_after("120", now), 120);
	CHECK_INT((int)fetch_header_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now), 60);
	CHECK_INT((int)fetch_header_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), 0);
	CHECK_INT((int)fetch_header_retry_after("soon", now), -1);
	CHECK(fetch_header_retry_after("99999999999999999999", now) > 1e9);
}

static void
links(void)
{
	char *u;

	u = fetch_header_link_next("<http://h/u?offset=10>; rel=\"next\", <http://h/u?offset=0>; "
	                           "rel=\"first\"");
	CHECK_STR(u, "http://h/u?offset=10");
	free(u);
	u = fetch_header_link_next("<a>; rel=\"prev\", <b>; REL=\"last next\"");
	CHECK_STR(u, "b");
	free(u);
	CHECK(fetch_header_link_next("<a>; rel=\"nextpage\"") == NULL);
	CHECK(fetch_header_link_next("<a; rel=\"next\"") == NULL);
}

static void
values(void)
{
	static const char nul[] = "X-Total-Count: 40\0 9\r\n";
	char *v;

	v = fetch_header_value("link:\t <a>; rel=\"next\" \r\n", 25, "Link");
	CHECK_STR(v, "<a>; rel=\"next\"");
	free(v);
	CHECK(fetch_header_value("Linked: x\r\n", 11, "Link") == NULL);
	CHECK(fetch_header_value(nul, sizeof nul - 1, "X-Total-Count") == NULL);
}

static int
token(const char *body, char **tok, double *life)
{
	return fetch_oauth2_parse_token(body, strlen(body), tok, life);
}

static void
tokens(void)
{
	char *t;
	double life;

	CHECK_INT(token("{\"access_token\":\"abc.DEF-_~+/=\",\"expires_in\":600}", &t, &life), 0);
	CHECK_STR(t, "abc.DEF-_~+/=");
	CHECK(life == 600);
	free(t);
	CHECK_INT(token("{\"access_token\":\"abc\"}", &t, &life), 0);
	CHECK(life == 3600);
	free(t);
	/* a token that would add a header of the server's choosing, or cut one short */
	CHECK_INT(token("{\"access_token\":\"t\\r\\nX-Evil: 1\"}", &t, &life), -1);
	CHECK(t == NULL);
	CHECK_INT(token("{\"access_token\":\"a\\u0000b\"}", &t, &life), -1);
	CHECK_INT(token("{\"access_token\":\"a b\"}", &t, &life), -1);
	CHECK_INT(token("{\"access_token\":\"caf\\u00e9\"}", &t, &life), -1);
	CHECK_INT(token("{\"access_token\":\"\"}", &t, &life), -1);
	CHECK_INT(token("{\"access_token\":7}", &t, &life), -1);
	CHECK_INT(token("[{\"access_token\":\"t\"}]", &t, &life), -1);
	CHECK_INT(token("{\"access_token\":\"t\"", &t, &life), -1);
	/* a lifetime that is no lifetime: an hour; one beyond reason: a day */
	CHECK_INT(token("{\"access_token\":\"t\",\"expires_in\":-5}", &t, &life), 0);
	CHECK(life == 3600);
	free(t);
	CHECK_INT(token("{\"access_token\":\"t\",\"expires_in\":0.001}", &t, &life), 0);
	CHECK(life == 3600);
	free(t);
	CHECK_INT(token("{\"access_token\":\"t\",\"expires_in\":1e308}", &t, &life), 0);
	CHECK(life == 86400);
	free(t);
	CHECK_INT(token("{\"access_token\":\"t\",\"expires_in\":\"60\"}", &t, &life), 0);
	CHECK(life == 3600);
	free(t);
}

int
main(void)
{
	values();
	totals();
	retry_after();
	links();
	tokens();
	return T_DONE();
}
