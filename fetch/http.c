/* http.c: one signed GET on a curl easy handle, and what to make of its result. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "diag.h"
#include "fetch.h"
#include "oauth1.h"

double
fetch_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
fetch_xfer_init(struct fetch_xfer *x)
{
	memset(x, 0, sizeof *x);
	cl_buf_init(&x->body);
	x->total = -1;
	x->retry_after = -1;
}

/* Forgets what the headers of a response said. */
static void
headers_clear(struct fetch_xfer *x)
{
	free(x->link_next);
	free(x->date);
	free(x->www_auth);
	x->link_next = x->date = x->www_auth = NULL;
	x->total = -1;
	x->retry_after = -1;
}

static void
xfer_clear(struct fetch_xfer *x)
{
	headers_clear(x);
	x->status = 0;
	x->overflow = 0;
	x->net = FETCH_NET_OTHER;
	x->os_errno = 0;
	x->errbuf[0] = '\0';
	cl_buf_reset(&x->body);
}

void
fetch_xfer_release(struct fetch_xfer *x)
{
	xfer_clear(x);
	if (x->h)
		curl_easy_cleanup(x->h);
	x->h = NULL;
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	cl_buf_release(&x->body);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct fetch_xfer *x = arg;

	n *= size;
	if ((long long)(x->body.len + n) > x->cap) {
		x->overflow = 1;
		return 0; /* curl stops the transfer: CURLE_WRITE_ERROR */
	}
	cl_buf_add(&x->body, p, n);
	return n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct fetch_xfer *x = arg;
	char *v;

	n *= size;
	/* a new response (after a 1xx, say): forget the last one's headers */
	if (n > 5 && !strncmp(p, "HTTP/", 5))
		headers_clear(x);
	if ((v = fetch_header_value(p, n, "X-Total-Count")) != NULL) {
		x->total = fetch_header_total(v);
		free(v);
	} else if ((v = fetch_header_value(p, n, "Link")) != NULL) {
		char *u = fetch_header_link_next(v);

		if (u) {
			free(x->link_next);
			x->link_next = u;
		}
		free(v);
	} else if ((v = fetch_header_value(p, n, "Retry-After")) != NULL) {
		double ra = fetch_header_retry_after(v, time(NULL));

		if (ra >= 0)
			x->retry_after = ra;
		free(v);
	} else if ((v = fetch_header_value(p, n, "Date")) != NULL) {
		free(x->date);
		x->date = v;
	} else if ((v = fetch_header_value(p, n, "WWW-Authenticate")) != NULL) {
		free(x->www_auth);
		x->www_auth = v;
	}
	return n;
}

int
fetch_xfer_prepare(struct fetch_run *r, struct fetch_xfer *x, const char *url, void *priv)
{
	const struct fetch_opts *o = r->o;
	struct cl_buf auth = CL_BUF_INIT;

	xfer_clear(x);
	x->cap = o->max_body;
	if (!x->h) {
		x->h = curl_easy_init();
		if (!x->h)
			cl_oom();
		curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, 2L);
		curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout);
		curl_easy_setopt(x->h, CURLOPT_TIMEOUT, o->timeout);
		/* a server that sends nothing for a minute is gone, whatever --timeout says */
		curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_TIME, o->timeout < 60 ? o->timeout : 60L);
		curl_easy_setopt(x->h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
		curl_easy_setopt(x->h, CURLOPT_ACCEPT_ENCODING, "");
		curl_easy_setopt(x->h, CURLOPT_USERAGENT, "cl-fetch/" CL_VERSION);
		curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
		curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
		curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
		curl_easy_setopt(x->h, CURLOPT_TCP_KEEPALIVE, 1L);
		/* a page is hundreds of KB: read it in few large pieces, not 16 KB at a time */
		curl_easy_setopt(x->h, CURLOPT_BUFFERSIZE, 256L * 1024);
	}
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, priv);
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	if (o->token_url) {
		if (fetch_oauth2_ensure(r, 0) < 0)
			return -1;
		cl_buf_adds(&auth, "Authorization: Bearer ");
		cl_buf_adds(&auth, r->tok.token);
		x->tok_gen = r->tok.gen;
	} else {
		struct fetch_oauth1 sig = { .consumer_key = o->client_id,
			                    .consumer_secret = o->secret,
			                    .method = FETCH_OAUTH1_HMAC_SHA256,
			                    .timestamp = -1 };

		cl_buf_adds(&auth, "Authorization: ");
		if (fetch_oauth1_sign(&auth, &sig, "GET", url, NULL) < 0) {
			cl_buf_release(&auth);
			fetch_fail(r, "CL090", "cannot sign the request to '%s'", url);
			return -1;
		}
	}
	x->hdrs = curl_slist_append(x->hdrs, auth.p);
	x->hdrs = curl_slist_append(x->hdrs, "Accept: application/json");
	explicit_bzero(auth.p, auth.cap); /* cap 0: nothing of it to wipe */
	cl_buf_release(&auth);
	if (!x->hdrs)
		cl_oom();
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	return 0;
}

/* The server's own words from a OneRoster error body (imsx_description), or NULL. Owned. */
static char *
server_says(const struct fetch_xfer *x)
{
	jv v, d;
	char *s = NULL;

	if (!x->body.len || x->body.len > (1 << 20))
		return NULL;
	v = jv_parse_sized(x->body.p, (int)x->body.len);
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		d = jv_object_get(jv_copy(v), jv_string("imsx_description"));
		if (jv_get_kind(d) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(d)) > 0) {
			const char *t = jv_string_value(d);
			size_t n = strlen(t), i;

			/* one line of printable text, at most 200 bytes */
			s = cl_xmemdup(t, n > 200 ? 200 : n);
			for (i = 0; s[i]; i++)
				if ((unsigned char)s[i] < 0x20)
					s[i] = ' ';
		}
		jv_free(d);
	}
	jv_free(v);
	return s;
}

/* Seconds the server's clock is ahead of ours, from its Date header; 0 when unknown. */
static double
clock_skew(const struct fetch_xfer *x)
{
	time_t t;

	if (!x->date)
		return 0;
	t = curl_getdate(x->date, NULL);
	if (t == -1)
		return 0;
	return difftime(t, time(NULL));
}

enum fetch_outcome
fetch_xfer_outcome(struct fetch_run *r, struct fetch_xfer *x, CURLcode cc, const char *coll,
                   struct cl_buf *why)
{
	char *said = NULL, *url = NULL;
	double skew;

	cl_buf_reset(why);
	if (cc != CURLE_OK) {
		if ((cc == CURLE_WRITE_ERROR && x->overflow) || cc == CURLE_FILESIZE_EXCEEDED) {
			fetch_fail(r, "CL112",
			           "%s: a page is larger than %lld bytes: lower --limit", coll,
			           r->o->max_body);
			return FETCH_OUT_FATAL;
		}
		cl_buf_adds(why, x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
		x->net = fetch_net_class(x->h, cc, why->p, &x->os_errno);
		if (fetch_net_retry(x->net, r->reached))
			return FETCH_OUT_RETRY;
		curl_easy_getinfo(x->h, CURLINFO_EFFECTIVE_URL, &url);
		fetch_net_fail(r, x->net, x->os_errno, url, "endpoint URL", coll, 1, why->p);
		return FETCH_OUT_FATAL;
	}
	r->reached = 1;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status >= 200 && x->status < 300)
		return FETCH_OUT_OK;
	cl_buf_addf(why, "HTTP %ld", x->status);
	if (x->status == 408 || x->status == 429 || x->status >= 500)
		return FETCH_OUT_RETRY;
	said = server_says(x);
	switch (x->status) {
	case 401:
		if (r->o->token_url) {
			free(said);
			return FETCH_OUT_REAUTH;
		}
		skew = clock_skew(x);
		if (fabs(skew) > 240)
			fetch_fail(
			        r, "CL101",
			        "authentication failed (HTTP 401): this computer's clock is %.0f s "
			        "off the server's: set the clock right (NTP)%s%s",
			        -skew, said ? "; the server says: " : "", said ? said : "");
		else
			fetch_fail(r, "CL101",
			           "authentication failed (HTTP 401): check the client key and "
			           "secret%s%s",
			           said ? "; the server says: " : "", said ? said : "");
		break;
	case 403:
		fetch_fail(r, "CL102",
		           "%s: forbidden (HTTP 403): enable the application in Roster Server and "
		           "share the %s with it%s%s",
		           coll, coll, said ? "; the server says: " : "", said ? said : "");
		break;
	case 404:
		fetch_fail(r, "CL103", "%s: not found (HTTP 404): check the endpoint URL '%s'%s%s",
		           coll, r->o->base, said ? "; the server says: " : "", said ? said : "");
		break;
	default:
		if (x->status >= 300 && x->status < 400) {
			fetch_fail(
			        r, "CL103",
			        "%s: the server redirects (HTTP %ld): check the endpoint URL '%s'",
			        coll, x->status, r->o->base);
		} else {
			fetch_fail(r, "CL111", "%s: the server rejected the request (HTTP %ld)%s%s",
			           coll, x->status, said ? ": " : "", said ? said : "");
		}
		break;
	}
	free(said);
	return FETCH_OUT_FATAL;
}

/* A uniform random number in [0, 1). */
static double
uniform(void)
{
	uint32_t v = 0;

	if (fetch_random(&v, sizeof v) < 0)
		v = (uint32_t)rand();
	return (double)v / 4294967296.0;
}

double
fetch_backoff_delay(const struct fetch_opts *o, int attempt, double retry_after)
{
	double base = (double)o->backoff_ms / 1000.0, d;

	/* doubling from the base, at most a minute; jitter spreads the parallel retries */
	d = base * pow(2.0, attempt > 1 ? attempt - 1 : 0);
	if (d > 60)
		d = 60;
	d = d / 2 + d / 2 * uniform();
	if (retry_after > d)
		d = retry_after;
	return d;
}
