/*
 * rejects.c: --rejects FILE, what cl-filter dropped and why (its --rejects
 * file), so that a deletion cl-filter already knows the reason for is
 * explained (docs/changeset.md, "Deletions and their safety") instead of
 * arriving as a plain absence the guard counts.
 *
 * The file is read after the stream's trailer (cl-filter puts it in place
 * before it writes its trailer: docs/stream.md), and only when the stream
 * is whole: an incomplete stream or a delta withholds or skips every
 * deletion, and has nothing to explain. It must be the file cl-filter
 * wrote for this stream: its line count and SHA-256 are the ones a
 * cl-filter stage of the trailer states (CL447; none stated: CL448;
 * cannot be read: CL446). Any of them fails the sync: a pipeline put
 * together wrong is fixed before a night is judged by it.
 *
 * What explains a deletion, by the line's kind and reason (cl-filter's
 * reason names are the explained reasons' names):
 *   class       tobedeleted, inactive, no-current-session
 *   enrollment  tobedeleted, inactive, not-current (the membership of its
 *               class and user)
 *   user        tobedeleted, inactive, left (a student whose enrolments
 *               all ended)
 *   user (a parent, by its role)  tobedeleted, inactive
 * Not: excluded-school (a change of the integration's configuration, not
 * of the roster: the night it is made, the guard asks, once), disabled,
 * parent-no-email, parent-unlinked (see students-left, diff.c),
 * class-dropped (a membership follows its class), bad-date, bad-field,
 * bad-reference (a malformed record: a glitch of the source, for the guard
 * to weigh), and the kinds cl-load does not sync (org, academicSession,
 * course, demographic).
 *
 * Memory: only the lines that explain a deletion this sync would make (a
 * record of the state the stream did not have) are kept, in
 * temp.st_rej(entity, id, why); the rest of the file streams past.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "load.h"

enum { R_KIND, R_ID, R_REASON, R_CLASS, R_USER, R_N };

static const char *const paths[R_N] = { "kind", "sourcedId", "reason", "class", "user" };

/* The (kind, reason) pairs that explain a deletion, and of what. */
static const struct {
	const char *kind, *reason;
	enum load_ent e;
} explains[] = {
	{ "class", "tobedeleted", LOAD_CLASS },
	{ "class", "inactive", LOAD_CLASS },
	{ "class", "no-current-session", LOAD_CLASS },
	{ "enrollment", "tobedeleted", LOAD_MEMBER },
	{ "enrollment", "inactive", LOAD_MEMBER },
	{ "enrollment", "not-current", LOAD_MEMBER },
	{ "user", "tobedeleted", LOAD_USER },
	{ "user", "inactive", LOAD_USER },
	{ "user", "left", LOAD_USER },
};

struct rej {
	struct load *L;
	struct cl_json_query *q;
	struct cl_json_result *res;
	sqlite3_stmt *ins;
	struct cl_buf id, part;
};

/* Keeps (e, id) with reason why when its deletion is pending. */
static int
keep(struct rej *r, enum load_ent e, const char *why)
{
	int rc;

	if (!load_index_pending(r->L, e, r->id.p, r->id.len))
		return 0;
	sqlite3_bind_int(r->ins, 1, e);
	sqlite3_bind_text(r->ins, 2, r->id.p, (int)r->id.len, SQLITE_STATIC);
	sqlite3_bind_text(r->ins, 3, why, -1, SQLITE_STATIC);
	rc = sqlite3_step(r->ins);
	sqlite3_reset(r->ins);
	if (rc != SQLITE_DONE) {
		load_db_error(r->L, "staging the rejects");
		return -1;
	}
	return 0;
}

/* One line of the file (n bytes, its newline included). */
static int
line(struct rej *r, const char *p, size_t n)
{
	const struct cl_json_span *kind, *reason;
	size_t i;

	if (cl_json_scan(r->q, p, n, r->res, NULL) < 0)
		return 0; /* not this stream's file: the digest says so at the end */
	kind = cl_json_result_first(r->res, R_KIND);
	reason = cl_json_result_first(r->res, R_REASON);
	for (i = 0; i < sizeof explains / sizeof *explains; i++)
		if (cl_json_str_eq(kind, explains[i].kind) &&
		    cl_json_str_eq(reason, explains[i].reason))
			break;
	if (i == sizeof explains / sizeof *explains)
		return 0;
	if (explains[i].e != LOAD_MEMBER) {
		if (cl_json_str_set(cl_json_result_first(r->res, R_ID), &r->id) < 0 ||
		    r->id.len == 0)
			return 0;
		/* a parent's line is a user's: its deletion is a contact's */
		if (explains[i].e == LOAD_USER &&
		    load_index_pending(r->L, LOAD_CONTACT, r->id.p, r->id.len))
			return keep(r, LOAD_CONTACT, explains[i].reason);
		return keep(r, explains[i].e, explains[i].reason);
	}
	/* a membership is "class\x1fuser" */
	if (cl_json_str_set(cl_json_result_first(r->res, R_CLASS), &r->id) < 0 || r->id.len == 0 ||
	    memchr(r->id.p, 0x1f, r->id.len) ||
	    cl_json_str_set(cl_json_result_first(r->res, R_USER), &r->part) < 0 || r->part.len == 0)
		return 0;
	cl_buf_addc(&r->id, 0x1f);
	cl_buf_add(&r->id, r->part.p, r->part.len);
	return keep(r, LOAD_MEMBER, explains[i].reason);
}

/* 1 when a cl-filter stage of the trailer states lines and hex. */
static int
stated(struct load *L, unsigned long long lines, const char *hex)
{
	int i, n = jv_array_length(jv_copy(L->stream.rejects)), ok = 0;

	for (i = 0; i < n && !ok; i++) {
		jv e = jv_array_get(jv_copy(L->stream.rejects), i);
		jv l = jv_object_get(jv_copy(e), jv_string("lines"));
		jv h = jv_object_get(e, jv_string("sha256"));

		ok = jv_get_kind(l) == JV_KIND_NUMBER && jv_number_value(l) == (double)lines &&
		     jv_get_kind(h) == JV_KIND_STRING && strcmp(jv_string_value(h), hex) == 0;
		jv_free(l);
		jv_free(h);
	}
	return ok;
}

int
load_rejects(struct load *L)
{
	struct rej r = { L, NULL, NULL, NULL, CL_BUF_INIT, CL_BUF_INIT };
	struct cl_digest dg = { NULL, 0 };
	unsigned long long lines = 0;
	char hex[CL_DIGEST_HEX], *p = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f = NULL;
	int rc = -1;

	if (!L->o.rejects || !L->stream.complete || L->stream.delta)
		return 0;
	if (jv_array_length(jv_copy(L->stream.rejects)) == 0) {
		load_error(L, "CL448",
		           "--rejects '%s': the stream's trailer names no rejects file (run "
		           "cl-filter with --rejects '%s' in the same pipeline)",
		           L->o.rejects, L->o.rejects);
		return -1;
	}
	if (!(f = fopen(L->o.rejects, "re"))) {
		load_error(L, "CL446", "--rejects: cannot open '%s': %s", L->o.rejects,
		           strerror(errno));
		return -1;
	}
	r.q = cl_json_query_new(paths, R_N);
	r.res = cl_json_result_new(r.q);
	if (!(r.ins = load_prepare(L, "INSERT OR IGNORE INTO temp.st_rej VALUES (?1, ?2, ?3)")))
		goto out;
	cl_digest_init(&dg);
	errno = 0;
	while ((n = getline(&p, &cap, f)) > 0) {
		cl_digest_add(&dg, p, (size_t)n);
		lines++;
		if (line(&r, p, (size_t)n) < 0)
			goto out;
	}
	if (ferror(f)) {
		load_error(L, "CL446", "--rejects: cannot read '%s': %s", L->o.rejects,
		           strerror(errno ? errno : EIO));
		goto out;
	}
	cl_digest_hex(&dg, hex);
	if (!stated(L, lines, hex)) {
		load_error(
		        L, "CL447",
		        "--rejects '%s' is not the rejects file cl-filter wrote for this stream "
		        "(%llu lines, SHA-256 %.12s...; the trailer states another): a stale file, "
		        "or another run's",
		        L->o.rejects, lines, hex);
		goto out;
	}
	rc = 0;
out:
	cl_digest_release(&dg);
	free(p);
	if (f)
		fclose(f);
	sqlite3_finalize(r.ins);
	cl_json_result_free(r.res);
	cl_json_query_free(r.q);
	cl_buf_release(&r.id);
	cl_buf_release(&r.part);
	return rc;
}
