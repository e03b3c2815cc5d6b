/* digest.c: SHA-256 through OpenSSL's EVP interface (the library cl-load's hashes use). */
#include "digest.h"

#include <openssl/evp.h>

#include "diag.h"

void
cl_digest_init(struct cl_digest *d)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
		cl_oom();
	d->ctx = c;
	d->bytes = 0;
}

void
cl_digest_add(struct cl_digest *d, const void *p, size_t n)
{
	if (n && !EVP_DigestUpdate((EVP_MD_CTX *)d->ctx, p, n))
		cl_oom();
	d->bytes += n;
}

void
cl_digest_hex(struct cl_digest *d, char hex[CL_DIGEST_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0, i;

	if (!EVP_DigestFinal_ex((EVP_MD_CTX *)d->ctx, md, &n) || n != 32)
		cl_oom();
	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = 0;
	cl_digest_release(d);
}

void
cl_digest_release(struct cl_digest *d)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)d->ctx);
	d->ctx = NULL;
}
