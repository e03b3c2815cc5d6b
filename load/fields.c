/*
 * fields.c: the canonical encoding of what a record reports, its hash, and
 * the list of fields that changed between two encodings.
 *
 * A record's fields are one minified JSON object with the keys in a fixed
 * order, strings decoded and re-encoded one way (cl_json_put_str), lists
 * sorted and without duplicates. Two records report the same thing exactly
 * when their encodings are the same bytes, so the hash of the encoding
 * decides "unchanged" and a raw byte comparison of one field decides
 * "changed".
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "diag.h"
#include "load.h"

static const char *const user_fields[] = { "sm_id",  "role",       "givenName", "familyName",
	                                   "grades", "identifier", "schools" };
static const char *const class_fields[] = { "title",  "classCode", "course",
	                                    "school", "terms",     "periods" };
static const char *const member_fields[] = { "sm_id", "role" };
static const char *const contact_fields[] = { "role",  "givenName", "familyName",
	                                      "email", "phone",     "sms" };
static const char *const rel_fields[] = { "sm_id" };

static const struct {
	const char *const *names;
	size_t n;
} fields_of[LOAD_NENT] = {
	{ user_fields, sizeof user_fields / sizeof *user_fields },
	{ class_fields, sizeof class_fields / sizeof *class_fields },
	{ member_fields, sizeof member_fields / sizeof *member_fields },
	{ contact_fields, sizeof contact_fields / sizeof *contact_fields },
	{ rel_fields, sizeof rel_fields / sizeof *rel_fields },
};

/* SHA-256 fetched once (a fetch per call takes the provider's locks). */
static EVP_MD *sha256;
static EVP_MD_CTX *mdctx;

/* Compiled once per entity, freed by load_fields_release. */
static struct {
	struct cl_json_query *q;
	struct cl_json_result *a, *b;
} cq[LOAD_NENT];

void
load_obj_begin(struct cl_buf *b)
{
	cl_buf_reset(b);
	cl_buf_addc(b, '{');
}

void
load_obj_end(struct cl_buf *b)
{
	cl_buf_addc(b, '}');
}

static void
put_key(struct cl_buf *b, const char *name)
{
	if (b->len > 1)
		cl_buf_addc(b, ',');
	cl_json_put_str(b, name, strlen(name));
	cl_buf_addc(b, ':');
}

void
load_put_raw_str(struct cl_buf *b, const char *name, const char *v, size_t n)
{
	put_key(b, name);
	cl_json_put_str(b, v, n);
}

void
load_put_str(struct cl_buf *b, const char *name, const struct cl_json_span *s, struct cl_buf *tmp)
{
	struct cl_str v = { "", 0 };

	put_key(b, name);
	cl_json_strview(s, tmp, &v); /* not a string: v stays "" */
	cl_json_put_str(b, v.p, v.n);
}

/* One decoded list element: an offset into the scratch buffer. */
struct elem {
	size_t off, n;
	const char *base;
};

static int
elem_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	size_t n = a->n < b->n ? a->n : b->n;
	int c = memcmp(a->base + a->off, b->base + b->off, n);

	if (c)
		return c;
	return a->n < b->n ? -1 : a->n > b->n;
}

void
load_put_list(struct cl_buf *b, const char *name, const struct cl_json_result *r, size_t path,
              struct cl_buf *tmp)
{
	size_t count = cl_json_result_count(r, path), i, k = 0;
	struct elem small[16], *el = small;

	put_key(b, name);
	cl_buf_addc(b, '[');
	if (count > sizeof small / sizeof *small)
		el = cl_xreallocarray(NULL, count, sizeof *el);
	cl_buf_reset(tmp);
	for (i = 0; i < count; i++) {
		const struct cl_json_span *s = cl_json_result_get(r, path, i);
		size_t at = tmp->len;

		if (!s || s->type != CL_JSON_STRING || cl_json_str(s, tmp) < 0 || tmp->len == at)
			continue;
		el[k].off = at;
		el[k].n = tmp->len - at;
		k++;
	}
	for (i = 0; i < k; i++)
		el[i].base = tmp->p;
	qsort(el, k, sizeof *el, elem_cmp);
	for (i = 0; i < k; i++) {
		if (i > 0 && elem_cmp(&el[i - 1], &el[i]) == 0)
			continue;
		if (b->p[b->len - 1] != '[')
			cl_buf_addc(b, ',');
		cl_json_put_str(b, tmp->p + el[i].off, el[i].n);
	}
	cl_buf_addc(b, ']');
	if (el != small)
		free(el);
}

int64_t
load_hash(const char *p, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	uint64_t h = 0;
	int i;

	if (!sha256 && !(sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)))
		cl_oom();
	if (!mdctx && !(mdctx = EVP_MD_CTX_new()))
		cl_oom();
	if (!EVP_DigestInit_ex2(mdctx, sha256, NULL) || !EVP_DigestUpdate(mdctx, p, n) ||
	    !EVP_DigestFinal_ex(mdctx, md, NULL))
		cl_oom();
	for (i = 0; i < 8; i++)
		h = h << 8 | md[i];
	return (int64_t)h;
}

static void
compile(enum load_ent e)
{
	if (cq[e].q)
		return;
	cq[e].q = cl_json_query_new(fields_of[e].names, fields_of[e].n);
	if (!cq[e].q)
		cl_oom();
	cq[e].a = cl_json_result_new(cq[e].q);
	cq[e].b = cl_json_result_new(cq[e].q);
}

static int
same(const struct cl_json_span *a, const struct cl_json_span *b)
{
	if (!a || !b)
		return a == b;
	return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

static void
put_span(struct cl_buf *out, const struct cl_json_span *s)
{
	if (s)
		cl_buf_add(out, s->p, s->n);
	else
		cl_buf_adds(out, "null");
}

int
load_changed(struct cl_buf *out, enum load_ent e, const char *oldf, size_t on, const char *newf,
             size_t nn)
{
	size_t i;
	int k = 0;

	compile(e);
	if (cl_json_scan(cq[e].q, oldf, on, cq[e].a, NULL) < 0 ||
	    cl_json_scan(cq[e].q, newf, nn, cq[e].b, NULL) < 0)
		return -1;
	for (i = 0; i < fields_of[e].n; i++) {
		const struct cl_json_span *a = cl_json_result_first(cq[e].a, i);
		const struct cl_json_span *b = cl_json_result_first(cq[e].b, i);

		if (same(a, b))
			continue;
		if (k++)
			cl_buf_addc(out, ',');
		cl_json_put_str(out, fields_of[e].names[i], strlen(fields_of[e].names[i]));
		cl_buf_adds(out, ":{\"old\":");
		put_span(out, a);
		cl_buf_adds(out, ",\"new\":");
		put_span(out, b);
		cl_buf_addc(out, '}');
	}
	return k;
}

void
load_fields_release(void)
{
	int e;

	EVP_MD_CTX_free(mdctx);
	EVP_MD_free(sha256);
	mdctx = NULL;
	sha256 = NULL;
	for (e = 0; e < LOAD_NENT; e++) {
		cl_json_result_free(cq[e].a);
		cl_json_result_free(cq[e].b);
		cl_json_query_free(cq[e].q);
		cq[e].q = NULL;
		cq[e].a = cq[e].b = NULL;
	}
}
