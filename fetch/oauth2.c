/*
 * oauth2.c: OAuth 2.0 client credentials (RFC 6749 section 4.4): a Bearer
 * token. The token endpoint's answer is checked before it is used: the
 * token goes into a request header, so it must be one visible ASCII word
 * (a token with a line end in it would add headers of the server's
 * choosing), and its lifetime a number of seconds within reason.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "diag.h"
#include "json.h"
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

/* The longest a token is believed to last, and the lifetime when the answer gives none. */
#define LIFE_MAX 86400.0
#define LIFE_DEFAULT 3600.0

int
fetch_oauth2_parse_token(const char *body, size_t n, char **token, double *life)
{
	static const char *const paths[] = { "access_token", "expires_in" };
	struct cl_json_query *q = cl_json_query_new(paths, 2);
	struct cl_json_result *res;
	const struct cl_json_span *tok, *exp;
	struct cl_buf t = CL_BUF_INIT;
	size_t i;
	int rc = -1;

	*token = NULL;
	*life = LIFE_DEFAULT;
	if (!q)
		cl_oom();
	res = cl_json_result_new(q);
	/* the project's scanner, not libjq: jq 1.6 leaks on some malformed input */
	if (cl_json_scan(q, body, n, res, NULL) == 0) {
		tok = cl_json_result_first(res, 0);
		exp = cl_json_result_first(res, 1);
		if (tok && tok->type == CL_JSON_STRING && cl_json_str(tok, &t) == 0 && t.len > 0) {
			for (i = 0; i < t.len; i++)
				if (t.p[i] < 0x21 ||
				    t.p[i] > 0x7e) /* NUL, space, line end, non-ASCII */
					break;
			if (i == t.len) {
				*token = cl_buf_detach(&t, NULL);
				rc = 0;
			}
		}
		/* no expires_in, or nonsense: an hour (a 401 renews the token anyway) */
		if (exp && exp->type == CL_JSON_NUMBER && exp->n < 64) {
			char num[64];
			double e;

			memcpy(num, exp->p, exp->n);
			num[exp->n] = '\0';
			e = strtod(num, NULL);
			if (e >= 1 && e <= LIFE_MAX)
				*life = e;
			else if (e > LIFE_MAX)
				*life = LIFE_MAX;
		}
	}
	explicit_bzero(t.p, t.cap);
	cl_buf_release(&t);
	cl_json_result_free(res);
	cl_json_query_free(q);
	return rc;
}

/*
 * One token request. Returns 0 with the token stored, 1 when worth retrying
 * (*net and *os_errno say what the network did: http.c), -1 on a fatal error.
 */
static int
request(struct fetch_run *r, struct cl_buf *why, enum fetch_net *net, long *os_errno)
{
	const struct fetch_opts *o = r->o;
	struct cl_buf body = CL_BUF_INIT, cred = CL_BUF_INIT, hdr = CL_BUF_INIT, form = CL_BUF_INIT;
	struct curl_slist *hl = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;
	CURL *h;
	char *tok;
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
	cl_buf_adds(&form, "grant_type=client_credentials");
	if (o->version == FETCH_OR12) {
		/* the 1.2 binding's scopes (1EdTech Security Framework): read-only rostering,
		 * and demographics when they are asked for */
		struct cl_buf sc = CL_BUF_INIT;

		cl_buf_adds(&sc, FETCH_OR12_SCOPE "roster-core.readonly");
		if (o->collections & (1u << FETCH_DEMOGRAPHICS))
			cl_buf_adds(&sc, " " FETCH_OR12_SCOPE "roster-demographics.readonly");
		cl_buf_adds(&form, "&scope=");
		fetch_pct_encode(&form, sc.p, sc.len);
		cl_buf_release(&sc);
	}
	curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, form.p);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(h);
	*net = FETCH_NET_OTHER;
	*os_errno = 0;
	if (cc != CURLE_OK) {
		cl_buf_adds(why, errbuf[0] ? errbuf : curl_easy_strerror(cc));
		*net = fetch_net_class(h, cc, why->p, os_errno);
		rc = 1;
		if (!fetch_net_retry(*net, r->reached)) {
			fetch_net_fail(r, *net, *os_errno, o->token_url, "token URL",
			               "the token request", 1, why->p);
			rc = -1;
		}
		goto out;
	}
	r->reached = 1;
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
	if (fetch_oauth2_parse_token(body.p, body.len, &tok, &life) == 0) {
		fetch_oauth2_release(&r->tok);
		r->tok.token = tok;
		r->tok.gen++;
		/* renew a little early */
		r->tok.expires = fetch_now_mono() + (life > 60 ? life - 30 : life * 0.8);
		rc = 0;
	} else {
		fetch_fail(r, "CL110",
		           "the token response from '%s' has no usable access_token (one word "
		           "of visible ASCII)",
		           o->token_url);
	}
out:
	explicit_bzero(cred.p, cred.cap);
	explicit_bzero(hdr.p, hdr.cap);
	cl_buf_release(&cred);
	cl_buf_release(&hdr);
	cl_buf_release(&body);
	cl_buf_release(&form);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	return rc;
}

int
fetch_oauth2_ensure(struct fetch_run *r, int force)
{
	struct cl_buf why = CL_BUF_INIT;
	double start = fetch_now_mono();
	enum fetch_net net;
	long os_errno;
	int attempt, rc;

	if (!force && r->tok.token && fetch_now_mono() < r->tok.expires)
		return 0;
	for (attempt = 0;; attempt++) {
		cl_buf_reset(&why);
		rc = request(r, &why, &net, &os_errno);
		if (rc <= 0)
			break;
		if (attempt >= r->o->retries ||
		    fetch_now_mono() - start > (double)r->o->retry_time) {
			if (net != FETCH_NET_OTHER)
				fetch_net_fail(r, net, os_errno, r->o->token_url, "token URL",
				               "the token request", attempt + 1, why.p);
			else
				fetch_fail(r, "CL104",
				           "the token request to '%s' failed %d times: %s",
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
