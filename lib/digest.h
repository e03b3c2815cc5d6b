/*
 * digest.h: the SHA-256 of what a program writes or reads, in pieces, as
 * 64 lower-case hex digits. cl-filter states its --rejects file's digest in
 * its trailer; cl-load checks the file it is given against it (the file is
 * the one written for this stream, and whole).
 */
#ifndef CL_DIGEST_H
#define CL_DIGEST_H

#include <stddef.h>

struct cl_digest {
	void *ctx; /* private: OpenSSL's EVP_MD_CTX, or NULL once finished */
	unsigned long long bytes;
};

#define CL_DIGEST_HEX 65 /* 64 hex digits and a NUL */

/* Starts a digest (an allocation failure exits 70). */
void cl_digest_init(struct cl_digest *d);
/* Adds n bytes of p. */
void cl_digest_add(struct cl_digest *d, const void *p, size_t n);
/* Finishes it: hex gets the 64 digits; d is released. */
void cl_digest_hex(struct cl_digest *d, char hex[CL_DIGEST_HEX]);
/* Releases an unfinished digest (a finished or zeroed one: nothing). */
void cl_digest_release(struct cl_digest *d);

#endif
