/*
 * totals.c: cl-fetch --totals. What the server holds, counted: for each
 * collection one request, limit=1 and filter=status='active', and its
 * X-Total-Count. A delta merged into the last full stream is reconciled
 * against these (cl-merge --totals): a server that forgets to report a
 * deletion still counts the records it holds, and a merged stream that
 * holds more active records than that kept one the server deleted. Active
 * records, because servers differ in whether a full listing holds the
 * records marked tobedeleted: what is not marked is counted the same way
 * on both sides, whichever way the server does it.
 *
 * Each request is a fetch's first page (fetch_xfer_prepare: signed, OAuth
 * 2.0, TLS always verified, the body cap; fetch_xfer_outcome: what an HTTP
 * status means), retried as a page is (--retries, --retry-time, the backoff,
 * Retry-After). The body must be a page of the collection (a proxy's error
 * page with a 200 is retried, then CL106); its records are not read. A
 * server that sends no usable X-Total-Count cannot be reconciled against:
 * CL160, at once (asking again does not make it count).
 *
 * One collection at a time, on the run's multi handle (so that a signal
 * ends the wait within a second). All or nothing: the object is built in
 * memory and written only when every collection is counted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "diag.h"
#include "fetch.h"
#include "oauth1.h"
#include "page.h"

/* The one filter of a count: the records not marked tobedeleted (or inactive). */
#define ACTIVE "status='active'"

/* Waits delay seconds, or less when a signal came. */
static void
pause_for(struct fetch_run *r, double delay)
{
	double until = fetch_now_mono() + delay, left;

	while (!*r->interrupted && (left = until - fetch_now_mono()) > 0)
		usleep((useconds_t)((left < 0.2 ? left : 0.2) * 1e6));
}

/*
 * Runs x's request on the multi handle to its end. Returns curl's result,
 * or -1 after reporting a signal (CL115) or a failure of the multi handle.
 */
static int
perform(struct fetch_run *r, struct fetch_xfer *x, const char *name, CURLcode *cc)
{
	CURLMsg *m;
	int running, left, done = 0;

	if (curl_multi_add_handle(r->multi, x->h) != CURLM_OK) {
		fetch_fail(r, "CL090", "%s: curl's multi interface failed", name);
		return -1;
	}
	while (!done) {
		if (*r->interrupted) {
			curl_multi_remove_handle(r->multi, x->h);
			fetch_fail(r, "CL115", "interrupted by a signal");
			return -1;
		}
		if (curl_multi_perform(r->multi, &running) != CURLM_OK) {
			curl_multi_remove_handle(r->multi, x->h);
			fetch_fail(r, "CL090", "%s: curl's multi interface failed", name);
			return -1;
		}
		while ((m = curl_multi_info_read(r->multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE && m->easy_handle == x->h) {
				*cc = m->data.result;
				done = 1;
			}
		if (!done && curl_multi_poll(r->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			curl_multi_remove_handle(r->multi, x->h);
			fetch_fail(r, "CL090", "%s: curl's multi interface failed", name);
			return -1;
		}
	}
	curl_multi_remove_handle(r->multi, x->h);
	return 0;
}

/* The first answer's Date as the time of the count (as a stream's "started"). */
static void
note_date(struct fetch_run *r, const struct fetch_xfer *x)
{
	time_t t;
	char iso[32];

	if (r->server_date || !x->date || (t = curl_getdate(x->date, NULL)) == -1 ||
	    cl_iso8601(t, iso) < 0)
		return;
	r->server_date = cl_xstrdup(iso);
}

/* A request given up after attempts attempts: why says the last failure. */
static void
give_up(struct fetch_run *r, struct fetch_xfer *x, const char *name, int bad_body, int attempts,
        const char *why)
{
	struct cl_buf what = CL_BUF_INIT;
	char *url = NULL;

	if (bad_body) {
		fetch_fail(r, "CL106",
		           "%s: the count's answer is not a OneRoster page after %d attempts: %s",
		           name, attempts, why);
	} else if (x->net != FETCH_NET_OTHER) {
		cl_buf_addf(&what, "%s: the count", name);
		curl_easy_getinfo(x->h, CURLINFO_EFFECTIVE_URL, &url);
		fetch_net_fail(r, x->net, x->os_errno, url, "endpoint URL", what.p, attempts, why);
	} else {
		fetch_fail(r, "CL104", "%s: the count failed %d times: %s", name, attempts, why);
	}
	cl_buf_release(&what);
}

/* One collection's X-Total-Count into *total. Returns 0, or -1 after reporting. */
static int
count_one(struct fetch_run *r, struct fetch_xfer *x, enum fetch_coll c, long long *total)
{
	const char *name = fetch_colls[c].name;
	struct fetch_page_parser pp;
	struct fetch_page_span *spans = NULL;
	struct cl_buf url = CL_BUF_INIT, why = CL_BUF_INIT;
	size_t nspans = 0, cap = 0;
	const char *where;
	double first = fetch_now_mono(), delay;
	int attempts = 0, reauthed = 0, bad_body, rc = -1, prc;
	enum fetch_outcome out;
	CURLcode cc = CURLE_OK;

	fetch_page_parser_init(&pp, name);
	cl_buf_addf(&url, "%s/%s?limit=1&offset=0&filter=", r->o->base, name);
	fetch_pct_encode(&url, ACTIVE, strlen(ACTIVE));
	for (;;) {
		if (fetch_xfer_prepare(r, x, url.p, NULL) < 0 || perform(r, x, name, &cc) < 0)
			break;
		attempts++;
		bad_body = 0;
		out = fetch_xfer_outcome(r, x, cc, name, &why);
		if (out == FETCH_OUT_OK) {
			note_date(r, x);
			nspans = 0;
			where = NULL;
			prc = fetch_page_parse(&pp, x->body.p, x->body.len, &spans, &nspans, &cap,
			                       &where);
			if (prc == FETCH_PAGE_OK && x->total < 0) {
				fetch_fail(r, "CL160",
				           "%s: the server sent no X-Total-Count (or not a "
				           "number): it "
				           "cannot say how many records it holds",
				           name);
				break;
			}
			if (prc == FETCH_PAGE_OK) {
				*total = x->total;
				rc = 0;
				break;
			}
			bad_body = 1;
			cl_buf_reset(&why);
			if (prc == FETCH_PAGE_MALFORMED)
				cl_buf_addf(&why, "malformed JSON (%s)", where ? where : "?");
			else
				cl_buf_addf(&why,
				            "valid JSON, but not an object with the \"%s\" array",
				            name);
			out = FETCH_OUT_RETRY;
		}
		if (out == FETCH_OUT_REAUTH) {
			if (reauthed) {
				fetch_fail(r, "CL101",
				           "authentication failed (HTTP 401) with a new OAuth 2.0 "
				           "token: check that the client may read the %s",
				           name);
				break;
			}
			reauthed = 1;
			attempts--; /* a renewed token is not a retry */
			if (fetch_oauth2_ensure(r, 1) < 0)
				break;
			continue;
		}
		if (out != FETCH_OUT_RETRY)
			break; /* reported */
		delay = fetch_backoff_delay(r->o, attempts, x->retry_after);
		if (attempts > r->o->retries ||
		    fetch_now_mono() + delay - first > (double)r->o->retry_time) {
			give_up(r, x, name, bad_body, attempts, why.len ? why.p : "?");
			break;
		}
		pause_for(r, delay);
	}
	free(spans);
	fetch_page_parser_release(&pp);
	cl_buf_release(&url);
	cl_buf_release(&why);
	return rc;
}

int
fetch_totals(struct fetch_run *r, jv *totals)
{
	struct fetch_xfer x;
	char iso[32];
	jv counts = jv_object();
	long long n = 0;
	int c, rc = 0;

	*totals = jv_invalid();
	fetch_xfer_init(&x);
	if (r->o->token_url && fetch_oauth2_ensure(r, 0) < 0)
		rc = -1;
	for (c = 0; rc == 0 && c < FETCH_COLL_COUNT; c++) {
		if (!(r->o->collections & (1u << c)))
			continue;
		if (count_one(r, &x, (enum fetch_coll)c, &n) < 0)
			rc = -1;
		else
			counts = jv_object_set(counts, jv_string(fetch_colls[c].name),
			                       jv_number((double)n));
	}
	fetch_xfer_release(&x);
	if (rc < 0) {
		jv_free(counts);
		return -1;
	}
	if (!r->server_date)
		cl_iso8601(cl_now(), iso);
	*totals = jv_object_set(jv_object(), jv_string("endpoint"), jv_string(r->o->base));
	*totals = jv_object_set(*totals, jv_string("started"),
	                        jv_string(r->server_date ? r->server_date : iso));
	*totals = jv_object_merge(*totals, counts);
	return 0;
}
