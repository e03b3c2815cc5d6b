/* buf.c: growable byte buffers and allocation helpers. */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

char cl_buf_slop[1];

void
cl_buf_init(struct cl_buf *b)
{
	b->p = cl_buf_slop;
	b->len = 0;
	b->cap = 0;
}

void
cl_buf_release(struct cl_buf *b)
{
	if (b->cap)
		free(b->p);
	cl_buf_init(b);
}

void
cl_buf_reset(struct cl_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->p[0] = '\0';
}

void
cl_buf_grow(struct cl_buf *b, size_t n)
{
	size_t need, cap;

	if (n > SIZE_MAX - b->len - 1)
		cl_oom();
	need = b->len + n + 1;
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->p = cl_xrealloc(b->cap ? b->p : NULL, cap);
	b->cap = cap;
	b->p[b->len] = '\0';
}

void
cl_buf_add(struct cl_buf *b, const void *p, size_t n)
{
	cl_buf_grow(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
cl_buf_addc(struct cl_buf *b, char c)
{
	cl_buf_grow(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

void
cl_buf_adds(struct cl_buf *b, const char *s)
{
	cl_buf_add(b, s, strlen(s));
}

void
cl_buf_vaddf(struct cl_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		cl_oom();
	cl_buf_grow(b, (size_t)n);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
cl_buf_addf(struct cl_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cl_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

char *
cl_buf_detach(struct cl_buf *b, size_t *len)
{
	char *p;

	if (!b->cap)
		cl_buf_grow(b, 0);
	p = b->p;
	if (len)
		*len = b->len;
	cl_buf_init(b);
	return p;
}

void *
cl_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		cl_oom();
	return p;
}

void *
cl_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		cl_oom();
	return p;
}

void *
cl_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		cl_oom();
	return p;
}

void *
cl_xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		cl_oom();
	return cl_xrealloc(p, nmemb * size);
}

char *
cl_xstrdup(const char *s)
{
	return cl_xmemdup(s, strlen(s));
}

char *
cl_xmemdup(const void *p, size_t n)
{
	char *s = cl_xmalloc(n + 1);

	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}
