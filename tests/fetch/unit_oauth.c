/*
 * unit_oauth.c: the OAuth 1.0a signer against RFC 5849's own examples
 * (HMAC-SHA1) and HMAC-SHA256 vectors computed once with python3-oauthlib
 * 3.2.2 (oauthlib.oauth1.Client, signature_method=SIGNATURE_HMAC_SHA256,
 * fixed nonce and timestamp). tests/fetch/t-oauthlib compares live.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "oauth1.h"
#include "t.h"

/* The oauth_signature="..." of an Authorization value, percent-decoded. */
static char *
signature_of(const char *auth)
{
	const char *p = strstr(auth, "oauth_signature=\"");
	struct cl_buf b = CL_BUF_INIT;
	const char *e;

	if (!p)
		return cl_xstrdup("");
	p += strlen("oauth_signature=\"");
	e = strchr(p, '"');
	for (; p < e; p++) {
		if (*p == '%' && p + 2 < e) {
			char hex[3] = { p[1], p[2], 0 };

			cl_buf_addc(&b, (char)strtol(hex, NULL, 16));
			p += 2;
		} else {
			cl_buf_addc(&b, *p);
		}
	}
	return cl_buf_detach(&b, NULL);
}

static void
pct(void)
{
	struct cl_buf b = CL_BUF_INIT;

	fetch_pct_encode(&b, "abcXYZ019-._~", 13);
	CHECK_STR(b.p, "abcXYZ019-._~");
	cl_buf_reset(&b);
	{
		const char *s = "status='active' +*/&=%\xc3\xa9";
		fetch_pct_encode(&b, s, strlen(s));
	}
	CHECK_STR(b.p, "status%3D%27active%27%20%2B%2A%2F%26%3D%25%C3%A9");
	cl_buf_release(&b);
}

/* RFC 5849 section 3.4.1.1: the example signature base string. */
static void
rfc_base_string(void)
{
	static const char *const prot[] = { "oauth_consumer_key",
		                            "9djdj82h48djs9d2",
		                            "oauth_token",
		                            "kkk9d7dh3k39sjv7",
		                            "oauth_signature_method",
		                            "HMAC-SHA1",
		                            "oauth_timestamp",
		                            "137131201",
		                            "oauth_nonce",
		                            "7d8f3e4a",
		                            NULL };
	struct cl_buf b = CL_BUF_INIT;

	CHECK_INT(fetch_oauth1_base_string(
	                  &b, "POST", "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
	                  "c2&a3=2+q", prot),
	          0);
	CHECK_STR(b.p, "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q"
	               "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_"
	               "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m"
	               "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk"
	               "9d7dh3k39sjv7");
	/* 3.4.1.2: scheme and host lower-case, default port dropped, query and fragment out */
	cl_buf_reset(&b);
	CHECK_INT(fetch_oauth1_base_string(&b, "get", "HTTP://EXAMPLE.COM:80/r%20v/X?id=123#frag",
	                                   NULL, NULL),
	          0);
	CHECK_STR(b.p, "GET&http%3A%2F%2Fexample.com%2Fr%2520v%2FX&id%3D123");
	cl_buf_reset(&b);
	CHECK_INT(fetch_oauth1_base_string(&b, "GET", "https://www.example.net:8080/?q=1", NULL,
	                                   NULL),
	          0);
	CHECK_STR(b.p, "GET&https%3A%2F%2Fwww.example.net%3A8080%2F&q%3D1");
	cl_buf_reset(&b);
	CHECK_INT(fetch_oauth1_base_string(&b, "GET", "https://[::1]:443/x", NULL, NULL), 0);
	CHECK_STR(b.p, "GET&https%3A%2F%2F%5B%3A%3A1%5D%2Fx&");
	cl_buf_reset(&b);
	CHECK_INT(fetch_oauth1_base_string(&b, "GET", "ftp://example.com/", NULL, NULL), -1);
	CHECK_INT(fetch_oauth1_base_string(&b, "GET", "example.com/x", NULL, NULL), -1);
	cl_buf_release(&b);
}

/* RFC 5849 section 1.2: the photos request, HMAC-SHA1. */
static void
rfc_photos(void)
{
	struct fetch_oauth1 o = { .consumer_key = "dpf43f3p2l4k3l03",
		                  .consumer_secret = "kd94hf93k423kf44",
		                  .token = "nnch734d00sl2jdk",
		                  .token_secret = "pfkkdhi9sl3r4s00",
		                  .method = FETCH_OAUTH1_HMAC_SHA1,
		                  .no_version = 1,
		                  .realm = "Photos",
		                  .nonce = "chapoH",
		                  .timestamp = 137131202 };
	struct cl_buf b = CL_BUF_INIT;
	char *sig;

	CHECK_INT(fetch_oauth1_sign(
	                  &b, &o, "GET",
	                  "http://photos.example.net/photos?file=vacation.jpg&size=original", NULL),
	          0);
	sig = signature_of(b.p);
	CHECK_STR(sig, "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
	free(sig);
	CHECK(!strncmp(b.p, "OAuth realm=\"Photos\",oauth_consumer_key=\"dpf43f3p2l4k3l03\",", 59));
	/* oauthlib signs the same request with oauth_version="1.0" */
	o.no_version = 0;
	cl_buf_reset(&b);
	CHECK_INT(fetch_oauth1_sign(
	                  &b, &o, "GET",
	                  "http://photos.example.net/photos?file=vacation.jpg&size=original", NULL),
	          0);
	sig = signature_of(b.p);
	CHECK_STR(sig, "1IAE9RzK+DqSqVTdQ/0zWANXVzs=");
	free(sig);
	cl_buf_release(&b);
}

/* HMAC-SHA256, as oauthlib 3.2.2 computed them. */
static void
sha256_vectors(void)
{
	static const struct {
		const char *key, *secret, *url, *nonce;
		long long ts;
		const char *sig;
	} v[] = {
		{ "key1", "secret1",
		  "https://example-ca-v2.oneroster.com/ims/oneroster/v1p1/"
		  "users?limit=1000&offset=0",
		  "0123456789abcdef0123456789abcdef", 1795975200,
		  "X/jZ00trbCWhirQOmBU6B140ANYLlRz5UPRKgFvK77o=" },
		{ "key1", "secret1",
		  "https://example-ca-v2.oneroster.com/ims/oneroster/v1p1/"
		  "users?limit=100&offset=200&filter=status%3D%27active%27",
		  "nonce2", 1700000000, "JMWs7ssNWA/c9qN4yRtb/kvpfyaqzKaADD7HU9wsMMM=" },
		{ "c0nsumer", "s3cr&t+ with spaces/\xc3\xa9",
		  "http://127.0.0.1:8080/ims/oneroster/v1p1/enrollments?filter=dateLastModified%3E%"
		  "272026-01-01T00%3A00%3A00Z%27&limit=10000&offset=0",
		  "abc", 1800000000, "VurndArd9CzXpR+9zuLNScL5TLvlxQDjc97VZiV+KsU=" },
		{ "K", "S",
		  "https://Example.COM:443/ims/oneroster/v1p1/"
		  "orgs?fields=sourcedId%2Cname&sort=sourcedId&limit=5",
		  "n~-._", 1, "xjUqWV5oJ4ZQ2mjPzFGYdsRS2txiq3n49Mq+UT46+R8=" },
	};
	struct cl_buf b = CL_BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct fetch_oauth1 o = { .consumer_key = v[i].key,
			                  .consumer_secret = v[i].secret,
			                  .method = FETCH_OAUTH1_HMAC_SHA256,
			                  .nonce = v[i].nonce,
			                  .timestamp = v[i].ts };
		char *sig;

		cl_buf_reset(&b);
		CHECK_INT(fetch_oauth1_sign(&b, &o, "GET", v[i].url, NULL), 0);
		sig = signature_of(b.p);
		CHECK_STR(sig, v[i].sig);
		free(sig);
		CHECK(strstr(b.p, "oauth_signature_method=\"HMAC-SHA256\"") != NULL);
		CHECK(strstr(b.p, "oauth_version=\"1.0\"") != NULL);
	}
	cl_buf_release(&b);
}

/* A fresh nonce each time, from the real clock whatever SOURCE_DATE_EPOCH says. */
static void
fresh(void)
{
	struct fetch_oauth1 o = { .consumer_key = "k", .consumer_secret = "s", .timestamp = -1 };
	struct cl_buf a = CL_BUF_INIT, b = CL_BUF_INIT;
	const char *ts;
	long long t;

	setenv("SOURCE_DATE_EPOCH", "1000", 1);
	CHECK_INT(fetch_oauth1_sign(&a, &o, "GET", "https://h/x", NULL), 0);
	CHECK_INT(fetch_oauth1_sign(&b, &o, "GET", "https://h/x", NULL), 0);
	CHECK(strcmp(a.p, b.p) != 0);
	ts = strstr(a.p, "oauth_timestamp=\"");
	CHECK(ts != NULL);
	if (ts) {
		t = atoll(ts + strlen("oauth_timestamp=\""));
		CHECK(t > 1700000000LL);
		CHECK(llabs(t - (long long)time(NULL)) < 5);
	}
	CHECK(strstr(a.p, "oauth_nonce=\"") != NULL);
	cl_buf_release(&a);
	cl_buf_release(&b);
}

static void
base64(void)
{
	struct cl_buf b = CL_BUF_INIT;

	fetch_base64(&b, (const unsigned char *)"foobar", 6);
	CHECK_STR(b.p, "Zm9vYmFy");
	cl_buf_reset(&b);
	fetch_base64(&b, (const unsigned char *)"fo", 2);
	CHECK_STR(b.p, "Zm8=");
	cl_buf_release(&b);
}

int
main(void)
{
	pct();
	rfc_base_string();
	rfc_photos();
	sha256_vectors();
	fresh();
	base64();
	return T_DONE();
}
