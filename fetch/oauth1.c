/* oauth1.c: OAuth 1.0a signatures (RFC 5849 section 3.4) for every request. */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "buf.h"
#include "oauth1.h"

/* One request parameter, encoded (RFC 3986) and ready to sort. */
struct param {
	char *name;
	char *value;
};

struct params {
	struct param *v;
	size_t n, cap;
};

void
fetch_pct_encode(struct cl_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	cl_buf_grow(out, n * 3);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out->p[out->len++] = (char)c;
		} else {
			out->p[out->len++] = '%';
			out->p[out->len++] = hex[c >> 4];
			out->p[out->len++] = hex[c & 15];
		}
	}
	out->p[out->len] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes application/x-www-form-urlencoded bytes [p, p+n) into out ('+' is a space). */
static void
form_decode(struct cl_buf *out, const char *p, size_t n)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (p[i] == '+') {
			cl_buf_addc(out, ' ');
		} else if (p[i] == '%' && i + 2 < n &&
		           (hi = hexval((unsigned char)p[i + 1])) >= 0 &&
		           (lo = hexval((unsigned char)p[i + 2])) >= 0) {
			cl_buf_addc(out, (char)(hi << 4 | lo));
			i += 2;
		} else {
			cl_buf_addc(out, p[i]);
		}
	}
}

static void
params_add_enc(struct params *ps, const char *name, size_t nn, const char *value, size_t vn)
{
	struct cl_buf b = CL_BUF_INIT;

	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 16;
		ps->v = cl_xreallocarray(ps->v, ps->cap, sizeof *ps->v);
	}
	fetch_pct_encode(&b, name, nn);
	ps->v[ps->n].name = cl_buf_detach(&b, NULL);
	fetch_pct_encode(&b, value, vn);
	ps->v[ps->n].value = cl_buf_detach(&b, NULL);
	ps->n++;
}

/* Adds the pairs of a form-encoded string (a query or a body), decoded. */
static void
params_add_form(struct params *ps, const char *p, size_t n)
{
	struct cl_buf name = CL_BUF_INIT, value = CL_BUF_INIT;
	const char *end = p + n, *amp, *eq;

	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (!amp)
			amp = end;
		if (amp > p) {
			eq = memchr(p, '=', (size_t)(amp - p));
			cl_buf_reset(&name);
			cl_buf_reset(&value);
			form_decode(&name, p, (size_t)((eq ? eq : amp) - p));
			if (eq)
				form_decode(&value, eq + 1, (size_t)(amp - eq - 1));
			params_add_enc(ps, name.p, name.len, value.p, value.len);
		}
		p = amp + 1;
	}
	cl_buf_release(&name);
	cl_buf_release(&value);
}

static void
params_release(struct params *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++) {
		free(ps->v[i].name);
		free(ps->v[i].value);
	}
	free(ps->v);
	ps->v = NULL;
	ps->n = ps->cap = 0;
}

static int
param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/*
 * Appends the base string URI (RFC 5849 3.4.1.2) of url to out and returns
 * a pointer to its query (after '?', or NULL) with its length in *qn.
 * Returns NULL and sets *bad when url is not an absolute http(s) URL.
 */
static const char *
base_uri(struct cl_buf *out, const char *url, size_t *qn, int *bad)
{
	const char *p = url, *auth, *path, *q, *frag, *at, *colon, *h;
	int https;
	size_t i;

	*bad = 0;
	*qn = 0;
	if (!strncasecmp(p, "https://", 8)) {
		https = 1;
		auth = p + 8;
	} else if (!strncasecmp(p, "http://", 7)) {
		https = 0;
		auth = p + 7;
	} else {
		*bad = 1;
		return NULL;
	}
	frag = strchr(auth, '#');
	if (!frag)
		frag = auth + strlen(auth);
	path = auth + strcspn(auth, "/?#");
	if (path == auth) {
		*bad = 1;
		return NULL;
	}
	/* userinfo is never part of the signed URI */
	at = memchr(auth, '@', (size_t)(path - auth));
	h = at ? at + 1 : auth;
	cl_buf_adds(out, https ? "https://" : "http://");
	/* the port: after the last ':' that is not inside an IPv6 literal */
	colon = NULL;
	for (i = 0; h + i < path; i++) {
		if (h[i] == ':')
			colon = h + i;
		else if (h[i] == ']')
			colon = NULL;
	}
	for (i = 0; h + i < (colon ? colon : path); i++) {
		char c = h[i];

		cl_buf_addc(out, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
	}
	if (colon && colon + 1 < path) {
		size_t pn = (size_t)(path - colon - 1);

		if (!((https && pn == 3 && !memcmp(colon + 1, "443", 3)) ||
		      (!https && pn == 2 && !memcmp(colon + 1, "80", 2))))
			cl_buf_add(out, colon, pn + 1);
	}
	q = memchr(path, '?', (size_t)(frag - path));
	if (*path == '/')
		cl_buf_add(out, path, (size_t)((q ? q : frag) - path));
	else
		cl_buf_addc(out, '/');
	if (!q)
		return NULL;
	*qn = (size_t)(frag - q - 1);
	return q + 1;
}

int
fetch_oauth1_base_string(struct cl_buf *out, const char *method, const char *url, const char *body,
                         const char *const *oauth)
{
	struct cl_buf uri = CL_BUF_INIT, norm = CL_BUF_INIT;
	struct params ps = { NULL, 0, 0 };
	const char *q;
	size_t qn, i;
	int bad;

	q = base_uri(&uri, url, &qn, &bad);
	if (bad) {
		cl_buf_release(&uri);
		return -1;
	}
	if (q)
		params_add_form(&ps, q, qn);
	if (body)
		params_add_form(&ps, body, strlen(body));
	for (i = 0; oauth && oauth[i]; i += 2)
		params_add_enc(&ps, oauth[i], strlen(oauth[i]), oauth[i + 1], strlen(oauth[i + 1]));
	if (ps.n)
		qsort(ps.v, ps.n, sizeof *ps.v, param_cmp);
	for (i = 0; i < ps.n; i++) {
		if (i)
			cl_buf_addc(&norm, '&');
		cl_buf_adds(&norm, ps.v[i].name);
		cl_buf_addc(&norm, '=');
		cl_buf_adds(&norm, ps.v[i].value);
	}
	for (i = 0; method[i]; i++) {
		char c = method[i];

		cl_buf_addc(out, (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c);
	}
	cl_buf_addc(out, '&');
	fetch_pct_encode(out, uri.p, uri.len);
	cl_buf_addc(out, '&');
	fetch_pct_encode(out, norm.p, norm.len);
	params_release(&ps);
	cl_buf_release(&uri);
	cl_buf_release(&norm);
	return 0;
}

int
fetch_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	ssize_t r;

	while (n > 0) {
		r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* no getrandom(2): OpenSSL's generator, seeded from the system */
			return RAND_bytes(p, (int)n) == 1 ? 0 : -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

void
fetch_base64(struct cl_buf *out, const unsigned char *p, size_t n)
{
	cl_buf_grow(out, 4 * ((n + 2) / 3) + 1);
	out->len += (size_t)EVP_EncodeBlock((unsigned char *)out->p + out->len, p, (int)n);
	out->p[out->len] = '\0';
}

static void
header_param(struct cl_buf *out, int *first, const char *name, const char *value)
{
	if (!*first)
		cl_buf_addc(out, ',');
	*first = 0;
	cl_buf_adds(out, name);
	cl_buf_adds(out, "=\"");
	fetch_pct_encode(out, value, strlen(value));
	cl_buf_addc(out, '"');
}

int
fetch_oauth1_sign(struct cl_buf *out, const struct fetch_oauth1 *o, const char *method,
                  const char *url, const char *body)
{
	const char *prot[16];
	char nonce[40], ts[24];
	unsigned char raw[16], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct cl_buf base = CL_BUF_INIT, key = CL_BUF_INIT, sig = CL_BUF_INIT;
	const char *meth = o->method == FETCH_OAUTH1_HMAC_SHA1 ? "HMAC-SHA1" : "HMAC-SHA256";
	size_t n = 0, i;
	int first = 1, rc = -1;

	if (o->nonce) {
		snprintf(nonce, sizeof nonce, "%s", o->nonce);
	} else {
		static const char hex[] = "0123456789abcdef";

		if (fetch_random(raw, sizeof raw) < 0)
			return -1;
		for (i = 0; i < sizeof raw; i++) {
			nonce[2 * i] = hex[raw[i] >> 4];
			nonce[2 * i + 1] = hex[raw[i] & 15];
		}
		nonce[2 * sizeof raw] = '\0';
	}
	/* the real clock: SOURCE_DATE_EPOCH must never reach a signature */
	snprintf(ts, sizeof ts, "%lld", o->timestamp >= 0 ? o->timestamp : (long long)time(NULL));

	prot[n++] = "oauth_consumer_key";
	prot[n++] = o->consumer_key;
	if (o->token) {
		prot[n++] = "oauth_token";
		prot[n++] = o->token;
	}
	prot[n++] = "oauth_signature_method";
	prot[n++] = meth;
	prot[n++] = "oauth_timestamp";
	prot[n++] = ts;
	prot[n++] = "oauth_nonce";
	prot[n++] = nonce;
	if (!o->no_version) {
		prot[n++] = "oauth_version";
		prot[n++] = "1.0";
	}
	prot[n] = NULL;
	if (fetch_oauth1_base_string(&base, method, url, body, prot) < 0)
		goto out;

	fetch_pct_encode(&key, o->consumer_secret, strlen(o->consumer_secret));
	cl_buf_addc(&key, '&');
	if (o->token_secret)
		fetch_pct_encode(&key, o->token_secret, strlen(o->token_secret));
	if (!HMAC(o->method == FETCH_OAUTH1_HMAC_SHA1 ? EVP_sha1() : EVP_sha256(), key.p,
	          (int)key.len, (const unsigned char *)base.p, base.len, mac, &maclen))
		goto out;
	fetch_base64(&sig, mac, maclen);

	cl_buf_adds(out, "OAuth ");
	if (o->realm) {
		cl_buf_adds(out, "realm=\"");
		cl_buf_adds(out, o->realm);
		cl_buf_adds(out, "\"");
		first = 0;
	}
	for (i = 0; i < n; i += 2)
		header_param(out, &first, prot[i], prot[i + 1]);
	header_param(out, &first, "oauth_signature", sig.p);
	rc = 0;
out:
	/* the key holds the secret: wipe it before it goes back to the heap */
	explicit_bzero(key.p, key.cap);
	cl_buf_release(&key);
	cl_buf_release(&base);
	cl_buf_release(&sig);
	explicit_bzero(mac, sizeof mac);
	return rc;
}
