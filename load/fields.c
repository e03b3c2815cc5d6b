/*
 * fields.c: the entity model, described once: each entity's names, ops and
 * id, and its canonical fields in order with where each one comes from
 * (load_model). The builders (ingest.c for the stream's records, index.c
 * for the joined ones) fill a record's fields from it, the diff
 * (load_changed) walks it, and its names hash into the state
 * (load_fields_hash, state.c) so that a state written with another field
 * list is migrated instead of reporting every record "updated".
 *
 * A record's fields are one minified JSON object with the keys in the
 * model's order, strings decoded and re-encoded one way (cl_json_put_str),
 * lists sorted and without duplicates. Two records report the same thing
 * exactly when their encodings are the same bytes, so the hash of the
 * encoding decides "unchanged" and a raw byte comparison of one field
 * decides "changed". The builders never write null: a null in the state is
 * a field a migration added, whose value was not known (load_reproject).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "diag.h"
#include "load.h"

static const struct load_field user_fields[] = {
	{ "sm_id", LOAD_SRC_SM_ID, NULL, NULL },
	{ "role", LOAD_SRC_USER_ROLE, NULL, NULL },
	{ "givenName", LOAD_SRC_STR, "data.givenName", NULL },
	{ "familyName", LOAD_SRC_STR, "data.familyName", NULL },
	{ "grades", LOAD_SRC_LIST, "data.grades[]", NULL },
	{ "identifier", LOAD_SRC_STR, "data.identifier", NULL },
	/* 1.1 lists a user's orgs; 1.2 names one in each of its roles */
	{ "schools", LOAD_SRC_LIST, "data.orgs[].sourcedId", "data.roles[].org.sourcedId" },
};
static const struct load_field class_fields[] = {
	{ "title", LOAD_SRC_STR, "data.title", NULL },
	{ "classCode", LOAD_SRC_STR, "data.classCode", NULL },
	{ "course", LOAD_SRC_STR, "data.course.sourcedId", NULL },
	{ "school", LOAD_SRC_STR, "data.school.sourcedId", NULL },
	{ "terms", LOAD_SRC_LIST, "data.terms[].sourcedId", NULL },
	{ "periods", LOAD_SRC_LIST, "data.periods[]", NULL },
};
static const struct load_field member_fields[] = {
	{ "sm_id", LOAD_SRC_SM_ID, NULL, NULL },
	{ "role", LOAD_SRC_ROLE, NULL, NULL },
};
static const struct load_field contact_fields[] = {
	{ "role", LOAD_SRC_USER_ROLE, NULL, NULL },
	{ "givenName", LOAD_SRC_STR, "data.givenName", NULL },
	{ "familyName", LOAD_SRC_STR, "data.familyName", NULL },
	{ "email", LOAD_SRC_STR, "data.email", NULL },
	{ "phone", LOAD_SRC_STR, "data.phone", NULL },
	{ "sms", LOAD_SRC_STR, "data.sms", NULL },
};
static const struct load_field rel_fields[] = {
	{ "sm_id", LOAD_SRC_SM_ID, NULL, NULL },
};

#define FIELDS(a) a, sizeof a / sizeof *a
#define FITS(a) _Static_assert(sizeof a / sizeof *a <= LOAD_FIELDS_MAX, #a " over LOAD_FIELDS_MAX")
FITS(user_fields);
FITS(class_fields);
FITS(member_fields);
FITS(contact_fields);
FITS(rel_fields);

const struct load_entity load_model[LOAD_NENT] = {
	[LOAD_USER] = { "user",
	                "users",
	                { "link", "update", "unlink" },
	                { NULL, NULL },
	                FIELDS(user_fields) },
	[LOAD_CLASS] = { "class",
	                 "classes",
	                 { "create", "update", "delete" },
	                 { NULL, NULL },
	                 FIELDS(class_fields) },
	[LOAD_MEMBER] = { "membership",
	                  "memberships",
	                  { "add", "update", "remove" },
	                  { "class", "user" },
	                  FIELDS(member_fields) },
	[LOAD_CONTACT] = { "contact",
	                   "contacts",
	                   { "create", "update", "delete" },
	                   { NULL, NULL },
	                   FIELDS(contact_fields) },
	[LOAD_REL] = { "relationship",
	               "relationships",
	               { "add", "update", "remove" },
	               { "parent", "student" },
	               FIELDS(rel_fields) },
};

/* SHA-256 fetched once (a fetch per call takes the provider's locks). */
static EVP_MD *sha256;
static EVP_MD_CTX *mdctx;

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
	load_put_lists(b, name, r, path, LOAD_NO_PATH, tmp);
}

void
load_put_lists(struct cl_buf *b, const char *name, const struct cl_json_result *r, size_t path,
               size_t alt, struct cl_buf *tmp)
{
	size_t n1 = cl_json_result_count(r, path), i, k = 0;
	size_t count = n1 + (alt != LOAD_NO_PATH ? cl_json_result_count(r, alt) : 0);
	struct elem small[16], *el = small;

	put_key(b, name);
	cl_buf_addc(b, '[');
	if (count > sizeof small / sizeof *small)
		el = cl_xreallocarray(NULL, count, sizeof *el);
	cl_buf_reset(tmp);
	for (i = 0; i < count; i++) {
		const struct cl_json_span *s = i < n1 ? cl_json_result_get(r, path, i)
		                                      : cl_json_result_get(r, alt, i - n1);
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

void
load_build(struct cl_buf *f, enum load_ent e, const struct load_vals *v, struct cl_buf *tmp)
{
	const struct load_entity *m = &load_model[e];
	size_t i;

	load_obj_begin(f);
	for (i = 0; i < m->nfield; i++) {
		const struct load_field *fd = &m->field[i];

		switch (fd->src) {
		case LOAD_SRC_STR:
			load_put_str(f, fd->name, cl_json_result_first(v->r, v->idx[i]), tmp);
			break;
		case LOAD_SRC_LIST:
			load_put_lists(f, fd->name, v->r, v->idx[i],
			               fd->alt && v->alt_idx ? v->alt_idx[i] : LOAD_NO_PATH, tmp);
			break;
		case LOAD_SRC_USER_ROLE:
			load_put_str(f, fd->name, v->user_role, tmp);
			break;
		case LOAD_SRC_SM_ID:
			load_put_raw_str(f, fd->name, v->sm_id, v->sm_n);
			break;
		case LOAD_SRC_ROLE:
			load_put_raw_str(f, fd->name, v->role, strlen(v->role));
			break;
		}
	}
	load_obj_end(f);
}

int64_t
load_fields_hash(void)
{
	struct cl_buf b = CL_BUF_INIT;
	int64_t h;
	size_t i;
	int e;

	for (e = 0; e < LOAD_NENT; e++) {
		cl_buf_adds(&b, load_model[e].name);
		for (i = 0; i < load_model[e].nfield; i++) {
			cl_buf_addc(&b, i ? ',' : ':');
			cl_buf_adds(&b, load_model[e].field[i].name);
		}
		cl_buf_addc(&b, '\n');
	}
	h = load_hash(b.p, b.len);
	cl_buf_release(&b);
	return h;
}

/* Compiled once per entity (a path per field name), freed by load_fields_release. */
static struct {
	struct cl_json_query *q;
	struct cl_json_result *a, *b;
} cq[LOAD_NENT];

static void
compile(enum load_ent e)
{
	const char *names[LOAD_FIELDS_MAX];
	size_t i;

	if (cq[e].q)
		return;
	for (i = 0; i < load_model[e].nfield; i++)
		names[i] = load_model[e].field[i].name;
	cq[e].q = cl_json_query_new(names, load_model[e].nfield);
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
	const struct load_entity *m = &load_model[e];
	size_t i;
	int k = 0;

	compile(e);
	if (cl_json_scan(cq[e].q, oldf, on, cq[e].a, NULL) < 0 ||
	    cl_json_scan(cq[e].q, newf, nn, cq[e].b, NULL) < 0)
		return -1;
	for (i = 0; i < m->nfield; i++) {
		const struct cl_json_span *a = cl_json_result_first(cq[e].a, i);
		const struct cl_json_span *b = cl_json_result_first(cq[e].b, i);

		if (same(a, b))
			continue;
		if (a && a->type == CL_JSON_NULL)
			continue; /* added by a migration: its old value is not known */
		if (k++)
			cl_buf_addc(out, ',');
		cl_json_put_str(out, m->field[i].name, strlen(m->field[i].name));
		cl_buf_adds(out, ":{\"old\":");
		put_span(out, a);
		cl_buf_adds(out, ",\"new\":");
		put_span(out, b);
		cl_buf_addc(out, '}');
	}
	return k;
}

int
load_reproject(struct cl_buf *out, enum load_ent e, const char *f, size_t n)
{
	const struct load_entity *m = &load_model[e];
	size_t i;

	compile(e);
	if (cl_json_scan(cq[e].q, f, n, cq[e].a, NULL) < 0)
		return -1;
	load_obj_begin(out);
	for (i = 0; i < m->nfield; i++) {
		const struct cl_json_span *s = cl_json_result_first(cq[e].a, i);

		put_key(out, m->field[i].name);
		put_span(out, s);
	}
	load_obj_end(out);
	return 0;
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
