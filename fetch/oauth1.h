/*
 * oauth1.h: OAuth 1.0a request signing (RFC 5849) as ClassLink's own client
 * libraries do it: HMAC-SHA256 over the RFC 3986 encoded, sorted request
 * parameters (query included), a fresh random nonce, the current time.
 * HMAC-SHA1 is here too, for the RFC's own examples.
 */
#ifndef FETCH_OAUTH1_H
#define FETCH_OAUTH1_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

enum fetch_oauth1_method { FETCH_OAUTH1_HMAC_SHA256, FETCH_OAUTH1_HMAC_SHA1 };

/* What signs a request. Every string is borrowed. */
struct fetch_oauth1 {
	const char *consumer_key;
	const char *consumer_secret;
	const char *token;        /* NULL: none (two-legged, as OneRoster is) */
	const char *token_secret; /* NULL: empty */
	enum fetch_oauth1_method method;
	int no_version;      /* 1: leave oauth_version="1.0" out (the RFC 3.4.1 example) */
	const char *realm;   /* NULL: none; never signed */
	const char *nonce;   /* NULL: a fresh random one (tests fix it) */
	long long timestamp; /* < 0: time(NULL) (never SOURCE_DATE_EPOCH) */
};

/* Appends s (n bytes) percent-encoded as RFC 3986 section 2.1 says: all but ALPHA DIGIT -._~ */
void fetch_pct_encode(struct cl_buf *out, const char *s, size_t n);

/*
 * Appends the signature base string (RFC 5849 section 3.4.1) of a request
 * to out: method, the URL (scheme://host[:port]/path?query, already
 * percent-encoded as sent; the query's parameters are signed), the
 * form-encoded body's parameters (body may be NULL) and the protocol
 * parameters oauth (name=value pairs, unencoded, NULL-terminated list of
 * 2n strings). Returns 0, or -1 when url is not an absolute http(s) URL.
 */
int fetch_oauth1_base_string(struct cl_buf *out, const char *method, const char *url,
                             const char *body, const char *const *oauth);

/*
 * Appends the Authorization header's value ("OAuth oauth_consumer_key=...")
 * for the request to out. Returns 0, or -1 when url is unusable or no
 * random nonce could be had.
 */
int fetch_oauth1_sign(struct cl_buf *out, const struct fetch_oauth1 *o, const char *method,
                      const char *url, const char *body);

/* Fills buf (n bytes) from the kernel's random source. Returns 0 or -1. */
int fetch_random(void *buf, size_t n);

/* Appends the base64 of n bytes at p. */
void fetch_base64(struct cl_buf *out, const unsigned char *p, size_t n);

#endif
