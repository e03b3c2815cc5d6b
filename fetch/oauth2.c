/* oauth2.c: OAuth 2.0 client credentials (RFC 6749 section 4.4): a Bearer token. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jv.h>

#include "diag.h"
#include "fetch.h"
#include "oauth1.h"

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct cl_buf *b = arg;

	n *= size;
	if (b->len + n > (1 << 20))
		return 0;
	cl_buf_add(b, p, n);
	return n;
}

/* One token request. Returns 0 with the token stored, 1 when worth retrying, -1 on a fatal error.
 */
static int
request(struct fetch_run *r, struct cl_buf *why)
{
	const struct fetch_opts *o = r->o;
	struct cl_buf body = CL_BUF_INIT, cred = CL_BUF_INIT, hdr = CL_BUF_INIT;
	struct curl_slist *hl = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;
	CURL *h;
	jv v, tok, exp;
	double life;
	int rc = -1;

	h = curl_easy_init();
	if (!h)
		cl_oom();
	/* RFC 6749 2.3.1: the ID and secret form-encoded, then Basic */
	fetch_pct_encode(&cred, o->client_id, strlen(o->client_id));
	cl_buf_addc(&cred, ':');
	fetch_pct_encode(&cred, o->secret, strlen(o->secret));
	cl_buf_adds(&hdr, "Authorization: Basic ");
	fetch_base64(&hdr, (const unsigned char *)cred.p, cred.len);
	hl = curl_slist_append(hl, hdr.p);
	hl = curl_slist_append(hl, "Accept: application/json");
	if (!hl)
		cl_oom();
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cl-fetch/" CL_VERSION);
	curl_easy_setopt(h, CURLOPT_URL, o->token_url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, "grant_type=client_credentials");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		cl_buf_adds(why, errbuf[0] ? errbuf : curl_easy_strerror(cc));
		rc = 1;
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status == 408 || status == 429 || status >= 500) {
		cl_buf_addf(why, "HTTP %ld", status);
		rc = 1;
		goto out;
	}
	if (status != 200) {
		fetch_fail(r, "CL110", "the token request to '%s' failed (HTTP %ld)%s",
		           o->token_url, status,
		           status == 401 || status == 400 ? ": check the client ID and secret"
		                                          : "");
		goto out;
	}
	v = jv_parse_sized(body.p, (int)body.len);
	tok = jv_invalid();
	exp = jv_invalid();
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		tok = jv_object_get(jv_copy(v), jv_string("access_token"));
		exp = jv_object_get(jv_copy(v), jv_string("expires_in"));
	}
	if (jv_get_kind(tok) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(tok)) > 0) {
		free(r->tok.token);
		r->tok.token = cl_xstrdup(jv_string_value(tok));
		r->tok.gen++;
		/* renew a little early; no expires_in: an hour, and a 401 renews it anyway */
		life = jv_get_kind(exp) == JV_KIND_NUMBER ? jv_number_value(exp) : 3600;
		r->tok.expires = fetch_now_mono() + (life > 60 ? life - 30 : life * 0.8);
		rc = 0;
	} else {
		fetch_fail(r, "CL110", "the token response from '%s' has no access_token",
		           o->token_url);
	}
	jv_free(tok);
	jv_free(exp);
	jv_free(v);
out:
	explicit_bzero(cred.p, cred.cap);
	explicit_bzero(hdr.p, hdr.cap);
	cl_buf_release(&cred);
	cl_buf_release(&hdr);
	cl_buf_release(&body);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	return rc;
}

int
fetch_oauth2_ensure(struct fetch_run *r, int force)
{
	struct cl_buf why = CL_BUF_INIT;
	double start = fetch_now_mono();
	int attempt, rc;

	if (!force && r->tok.token && fetch_now_mono() < r->tok.expires)
		return 0;
	for (attempt = 0;; attempt++) {
		cl_buf_reset(&why);
		rc = request(r, &why);
		if (rc <= 0)
			break;
		if (attempt >= r->o->retries ||
		    fetch_now_mono() - start > (double)r->o->retry_time) {
			fetch_fail(r, "CL104", "the token request to '%s' failed %d times: %s",
			           r->o->token_url, attempt + 1, why.p);
			rc = -1;
			break;
		}
		usleep((useconds_t)(fetch_backoff_delay(r->o, attempt + 1, -1) * 1e6));
	}
	cl_buf_release(&why);
	return rc;
}

void
fetch_oauth2_release(struct fetch_oauth2 *t)
{
	if (t->token) {
		explicit_bzero(t->token, strlen(t->token));
		free(t->token);
	}
	t->token = NULL;
}
