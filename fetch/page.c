/* page.c: the records of one page body, and each made a minified stream value. */
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "json.h"
#include "page.h"
#include "role.h"

/* The paths of the query: the envelope, its elements, their sourcedId, their role's paths. */
enum { Q_ENV, Q_ELEM, Q_ID, Q_ROLE, Q_COUNT = Q_ROLE + CL_RP_COUNT };

void
fetch_page_parser_init(struct fetch_page_parser *p, const char *envelope)
{
	struct cl_buf b[Q_COUNT];
	const char *paths[Q_COUNT];
	int i;

	for (i = 0; i < Q_COUNT; i++)
		cl_buf_init(&b[i]);
	cl_buf_adds(&b[Q_ENV], envelope);
	cl_buf_addf(&b[Q_ELEM], "%s[]", envelope);
	cl_buf_addf(&b[Q_ID], "%s[].sourcedId", envelope);
	for (i = 0; i < CL_RP_COUNT; i++) {
		cl_buf_addf(&b[Q_ROLE + i], "%s[].%s", envelope, cl_role_suffix[i]);
		p->role_path[i] = Q_ROLE + (size_t)i;
	}
	for (i = 0; i < Q_COUNT; i++)
		paths[i] = b[i].p;
	p->q = cl_json_query_new(paths, Q_COUNT);
	if (!p->q)
		cl_oom(); /* the keys are ours: only allocation can fail */
	p->r = cl_json_result_new(p->q);
	{
		static const char *const v[] = { "v" };

		p->vq = cl_json_query_new(v, 1);
		if (!p->vq)
			cl_oom();
		p->vr = cl_json_result_new(p->vq);
	}
	cl_buf_init(&p->wrap);
	for (i = 0; i < Q_COUNT; i++)
		cl_buf_release(&b[i]);
}

void
fetch_page_parser_release(struct fetch_page_parser *p)
{
	cl_json_result_free(p->r);
	cl_json_query_free(p->q);
	cl_json_result_free(p->vr);
	cl_json_query_free(p->vq);
	cl_buf_release(&p->wrap);
	p->r = p->vr = NULL;
	p->q = p->vq = NULL;
}

static int
ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Is the span v all of body [b, b+n) but its surrounding whitespace? */
static int
whole(const char *b, size_t n, const struct cl_json_span *v)
{
	size_t i = 0, e = n;

	while (i < n && ws(b[i]))
		i++;
	while (e > i && ws(b[e - 1]))
		e--;
	return v->p == b + i && v->n == e - i;
}

/*
 * A body the scanner refused as "not a JSON object": is it JSON all the
 * same (a bare array, a string)? The scanner reads objects only, so the body
 * is scanned again wrapped in one, {"v":BODY}: a copy, on this error path
 * only. Returns what it is ("an array"...), or NULL when it is not JSON.
 */
static const char *
what_json(struct fetch_page_parser *p, const char *body, size_t n)
{
	const struct cl_json_span *v;
	struct cl_json_err err;
	const char *what = NULL;

	cl_buf_reset(&p->wrap);
	cl_buf_adds(&p->wrap, "{\"v\":");
	cl_buf_add(&p->wrap, body, n);
	cl_buf_addc(&p->wrap, '}');
	/* and the value found must be the whole body: 1,"v":2 wrapped is an object too */
	if (cl_json_scan(p->vq, p->wrap.p, p->wrap.len, p->vr, &err) == 0 &&
	    (v = cl_json_result_first(p->vr, 0)) != NULL && whole(p->wrap.p + 5, n, v)) {
		switch (v->type) {
		case CL_JSON_ARRAY:
			what = "an array";
			break;
		case CL_JSON_STRING:
			what = "a string";
			break;
		case CL_JSON_NUMBER:
			what = "a number";
			break;
		case CL_JSON_OBJECT:
			what = "an object"; /* cannot be: the scanner took it */
			break;
		default:
			what = "true, false or null";
			break;
		}
	}
	/* a page body may be large: do not keep its copy */
	if (p->wrap.cap > ((size_t)1 << 20))
		cl_buf_release(&p->wrap);
	return what;
}

int
fetch_page_parse(struct fetch_page_parser *p, const char *body, size_t n,
                 struct fetch_page_span **spans, size_t *nspans, size_t *cap, const char **where)
{
	const struct cl_json_span *env, *e, *f;
	struct cl_json_err err;
	struct cl_role_scan rs;
	size_t i, count, nid, k_id = 0;
	int all, flat;

	if (cl_json_scan(p->q, body, n, p->r, &err) < 0) {
		const char *what = NULL;
		size_t k = 0;

		while (k < n && ws(body[k]))
			k++;
		if (k < n && body[k] != '{' && (what = what_json(p, body, n)) != NULL) {
			if (where)
				*where = what;
			return FETCH_PAGE_NOT_ENVELOPE;
		}
		if (where)
			*where = err.msg;
		return FETCH_PAGE_MALFORMED;
	}
	env = cl_json_result_first(p->r, Q_ENV);
	if (!env)
		return FETCH_PAGE_NO_ENVELOPE;
	if (env->type != CL_JSON_ARRAY)
		return FETCH_PAGE_NOT_ARRAY;
	count = cl_json_result_count(p->r, Q_ELEM);
	nid = cl_json_result_count(p->r, Q_ID);
	cl_role_scan_init(&rs, p->r, p->role_path);
	if (*nspans + count > *cap) {
		*cap = *nspans + count + 16;
		*spans = cl_xreallocarray(*spans, *cap, sizeof **spans);
	}
	/* no whitespace between the page's tokens (as servers send it): every record is compact */
	all = !cl_json_result_ws(p->r);
	/*
	 * Otherwise: raw tabs and line ends cannot be inside a JSON string, so
	 * in a page without them a record without a space is compact as it
	 * stands; the others are minified.
	 */
	flat = all || (!memchr(env->p, '\n', env->n) && !memchr(env->p, '\t', env->n) &&
	               !memchr(env->p, '\r', env->n));
	for (i = 0; i < count; i++) {
		struct fetch_page_span *sp = &(*spans)[*nspans];

		e = cl_json_result_get(p->r, Q_ELEM, i);
		if (e->type != CL_JSON_OBJECT)
			return FETCH_PAGE_NOT_OBJECT;
		sp->off = (size_t)(e->p - body);
		sp->n = e->n;
		sp->id_off = sp->id_n = 0;
		sp->parent = 0;
		/* the fields found lie inside their element, both in order: merge */
		for (; k_id < nid && (f = cl_json_result_get(p->r, Q_ID, k_id))->p < e->p + e->n;
		     k_id++) {
			if (f->p > e->p && f->type == CL_JSON_STRING && f->n > 2) {
				sp->id_off = (size_t)(f->p - e->p) + 1;
				sp->id_n = f->n - 2;
			}
		}
		/* the same rule as every reader of the stream: lib/role.h */
		sp->parent = cl_user_role(&rs, e, NULL) == CL_ROLE_PARENT;
		sp->compact = all || (flat && !memchr(e->p, ' ', e->n));
		(*nspans)++;
	}
	return FETCH_PAGE_OK;
}

/* The end of the string whose opening quote is at p[0] (one past its closing quote). */
static size_t
string_end(const char *p, size_t n)
{
	size_t i = 1;
	const char *q;

	for (;;) {
		q = memchr(p + i, '"', n - i);
		if (!q)
			return n; /* cannot happen in validated JSON */
		i = (size_t)(q - p);
		/* an even number of backslashes before it: the closing quote */
		{
			size_t k = i;

			while (k > 1 && p[k - 1] == '\\')
				k--;
			if ((i - k) % 2 == 0)
				return i + 1;
		}
		i++;
	}
}

/* Bytes that need a look outside strings: whitespace and quotes. */
static const unsigned char special[256] = {
	[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, ['"'] = 1,
};

void
fetch_page_minify(struct cl_buf *out, const char *p, size_t n)
{
	size_t i = 0, e, run;
	char *o;

	/* the output is never longer than the input: write into it directly */
	cl_buf_grow(out, n);
	o = out->p + out->len;
	while (i < n) {
		char c = p[i];

		if (!special[(unsigned char)c]) {
			/* a run of structure, numbers and literals */
			run = i;
			while (run < n && !special[(unsigned char)p[run]])
				run++;
			memcpy(o, p + i, run - i);
			o += run - i;
			i = run;
			continue;
		}
		if (c == '"') {
			e = i + string_end(p + i, n - i);
			memcpy(o, p + i, e - i);
			o += e - i;
			i = e;
		} else {
			i++; /* whitespace */
		}
	}
	out->len = (size_t)(o - out->p);
	out->p[out->len] = '\0';
}
