/* buf.h: growable byte buffers and the allocation helpers every program uses. */
#ifndef CL_BUF_H
#define CL_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growable byte buffer, after git's strbuf. Invariants, from init to
 * release: p is never NULL and p[len] is always '\0', so p can be handed to
 * string functions as it is (an empty buffer is ""); len does not count the
 * NUL. cap 0 means p points at a shared empty string that is never written:
 * nothing to free. Initialise with CL_BUF_INIT or cl_buf_init (a zeroed
 * struct is not a buffer); release with cl_buf_release.
 */
struct cl_buf {
	char *p;
	size_t len;
	size_t cap;
};

extern char cl_buf_slop[1]; /* the empty string of every buffer with cap 0 */
#define CL_BUF_INIT               \
	{                         \
		cl_buf_slop, 0, 0 \
	}

void cl_buf_init(struct cl_buf *b);
/* Frees the storage; b is left empty and reusable. */
void cl_buf_release(struct cl_buf *b);
/* Empties b, keeping its storage. */
void cl_buf_reset(struct cl_buf *b);
/* Makes room for n more bytes (plus the NUL). */
void cl_buf_grow(struct cl_buf *b, size_t n);
void cl_buf_add(struct cl_buf *b, const void *p, size_t n);
void cl_buf_addc(struct cl_buf *b, char c);
void cl_buf_adds(struct cl_buf *b, const char *s);
void cl_buf_addf(struct cl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cl_buf_vaddf(struct cl_buf *b, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
/* Returns the buffer's storage (never NULL), owned by the caller; b is left empty. */
char *cl_buf_detach(struct cl_buf *b, size_t *len);

/*
 * Allocation that cannot fail: on failure they print one diagnostic and exit
 * with status 70 (EX_SOFTWARE). Every program allocates through these.
 */
void *cl_xmalloc(size_t n);
void *cl_xcalloc(size_t nmemb, size_t size);
void *cl_xrealloc(void *p, size_t n);
/* Multiplies nmemb by size, exiting 70 on overflow, then reallocates. */
void *cl_xreallocarray(void *p, size_t nmemb, size_t size);
char *cl_xstrdup(const char *s);
char *cl_xmemdup(const void *p, size_t n); /* NUL-terminated copy */

#endif
