/*
 * index.c: what the pass keeps in memory, all of it growing with the number
 * of IDs, none with the stream's size:
 *
 *  - the previous state's index: (entity, id) -> hash of its fields, loaded
 *    from the state in one scan; a record of the stream whose hash is there
 *    costs nothing more, and every entry the stream did not visit is a
 *    pending deletion;
 *  - classes and users by index (an ID map to a small array), so that the
 *    enrolments (which come before the users in the stream) and the agent
 *    links (before the parents) can be kept as pairs of 32-bit indexes and
 *    joined once the users are known.
 *
 * Only new and changed records go to SQLite (temp.st_rec), to be sorted
 * into the change set's order and written to the state.
 */
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "idmap.h"
#include "load.h"

/*
 * The low bits of an old entry's value are flags; the rest is its hash
 * (compared without them). SEEN: the stream visited it. RESEND: it is
 * written out as a create whatever its hash: after --reset (meta "resend"),
 * or when a change set that was written but never committed touched it
 * (main.unsure, and the ops of the syncs still pending): the target may or
 * may not hold what that change set said, so the next one says it again.
 */
#define SEEN 1ULL
#define RESEND 2ULL
#define FLAGS (SEEN | RESEND)

struct ref {
	uint32_t off, len;       /* the sourcedId in the arena */
	uint32_t sm_off, sm_len; /* users: the School Manager id in the arena */
	uint8_t flags, role;
};

struct refs {
	struct cl_idmap *map; /* sourcedId -> index + 1 */
	struct ref *v;
	size_t n, cap;
	struct cl_buf arena;
};

struct enr {
	uint32_t c, u;
	uint8_t role;
};

struct pair {
	uint32_t p, s;
};

struct load_index {
	struct cl_idmap *old;
	long long old_n[LOAD_NENT], unseen[LOAD_NENT];
	struct refs cls, usr;
	struct enr *enr;
	size_t nenr, capenr;
	struct pair *pairs;
	size_t npairs, cappairs;
	sqlite3_stmt *ins;
	struct cl_buf key, f, tmp;
};

static void
refs_init(struct refs *r)
{
	memset(r, 0, sizeof *r);
	r->map = cl_idmap_new();
	cl_buf_init(&r->arena);
	cl_buf_addc(&r->arena, 0);
}

static void
refs_release(struct refs *r)
{
	cl_idmap_free(r->map);
	free(r->v);
	cl_buf_release(&r->arena);
}

static uint32_t
arena_add(struct refs *r, const char *p, size_t n)
{
	uint32_t off = (uint32_t)r->arena.len;

	if (r->arena.len + n >= UINT32_MAX)
		cl_oom();
	cl_buf_add(&r->arena, p, n);
	return off;
}

/* The index of id, added when new. */
static uint32_t
refs_get(struct refs *r, const char *id, size_t n)
{
	int added;
	uint64_t *v = cl_idmap_put(r->map, id, n, &added);

	if (!added)
		return (uint32_t)(*v - 1);
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->v = cl_xreallocarray(r->v, r->cap, sizeof *r->v);
	}
	memset(&r->v[r->n], 0, sizeof r->v[r->n]);
	r->v[r->n].off = arena_add(r, id, n);
	r->v[r->n].len = (uint32_t)n;
	*v = ++r->n;
	return (uint32_t)(r->n - 1);
}

static const char *
refs_id(const struct refs *r, uint32_t i, size_t *n)
{
	*n = r->v[i].len;
	return r->arena.p + r->v[i].off;
}

static void
old_key(struct cl_buf *k, enum load_ent e, const char *id, size_t n)
{
	cl_buf_reset(k);
	cl_buf_addc(k, (char)('0' + e));
	cl_buf_add(k, id, n);
}

/*
 * temp.st_unsure(entity, id, fields): what change sets that were written
 * but not committed touched (main.unsure: discarded ones; main.pending_ops:
 * the syncs still pending), with the fields the newest of them gave (NULL
 * for a deletion). Each is re-sent (RESEND); one the state does not hold
 * and the stream lacks is deleted (load_join counts it, diff.c writes it).
 */
/*
 * A state row (entity, id, ...) of statement s: its key into x->key.
 * Returns the entity, or -1 for a number that names none.
 */
static int
row_key(struct load_index *x, sqlite3_stmt *s)
{
	int e = sqlite3_column_int(s, 0);

	if (e < 0 || e >= LOAD_NENT)
		return -1;
	old_key(&x->key, e, (const char *)sqlite3_column_text(s, 1),
	        (size_t)sqlite3_column_bytes(s, 1));
	return e;
}

static int
unsure(struct load *L)
{
	struct load_index *x = L->ix;
	sqlite3_stmt *s;
	uint64_t *v;
	int rc;

	if (load_exec(L, "CREATE TEMP TABLE st_unsure(entity INTEGER, id TEXT, fields TEXT,"
	                 " PRIMARY KEY (entity, id)) WITHOUT ROWID;"
	                 "INSERT INTO temp.st_unsure SELECT entity, id, fields FROM main.unsure"
	                 " UNION ALL SELECT entity, id, fields FROM"
	                 " (SELECT * FROM main.pending_ops ORDER BY sync) WHERE true"
	                 " ON CONFLICT (entity, id) DO UPDATE"
	                 " SET fields = coalesce(excluded.fields, fields)") < 0 ||
	    !(s = load_prepare(L, "SELECT entity, id FROM temp.st_unsure")))
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (row_key(x, s) >= 0 && (v = cl_idmap_get(x->old, x->key.p, x->key.len)))
			*v |= RESEND;
	return load_done(L, s, rc, "reading the state");
}

int
load_index_open(struct load *L)
{
	struct load_index *x = cl_xcalloc(1, sizeof *x);
	uint64_t resend = load_meta_int(L, "resend") ? RESEND : 0;
	sqlite3_stmt *s;
	int rc;

	L->ix = x;
	x->old = cl_idmap_new();
	refs_init(&x->cls);
	refs_init(&x->usr);
	cl_buf_init(&x->key);
	cl_buf_init(&x->f);
	cl_buf_init(&x->tmp);
	if (load_exec(L, "CREATE TEMP TABLE st_rec(entity INTEGER, id TEXT, hash INTEGER, "
	                 "fields TEXT, resend INTEGER);"
	                 "CREATE TEMP TABLE st_tbd(entity INTEGER, id TEXT,"
	                 " PRIMARY KEY (entity, id)) WITHOUT ROWID;" LOAD_ST_REJ) < 0 ||
	    !(x->ins = load_prepare(L, "INSERT INTO st_rec VALUES (?1, ?2, ?3, ?4, ?5)")))
		return -1;
	s = load_prepare(L, "SELECT entity, id, hash FROM main.records");
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int e = row_key(x, s);

		if (e < 0)
			continue;
		*cl_idmap_put(x->old, x->key.p, x->key.len, NULL) =
		        ((uint64_t)sqlite3_column_int64(s, 2) & ~FLAGS) | resend;
		x->old_n[e]++;
	}
	if (load_done(L, s, rc, "reading the state") < 0)
		return -1;
	return unsure(L);
}

void
load_index_free(struct load *L)
{
	struct load_index *x = L->ix;

	if (!x)
		return;
	sqlite3_finalize(x->ins);
	cl_idmap_free(x->old);
	refs_release(&x->cls);
	refs_release(&x->usr);
	free(x->enr);
	free(x->pairs);
	cl_buf_release(&x->key);
	cl_buf_release(&x->f);
	cl_buf_release(&x->tmp);
	free(x);
	L->ix = NULL;
}

long long
load_index_old(struct load *L, enum load_ent e)
{
	return L->ix->old_n[e];
}

int
load_index_record(struct load *L, enum load_ent e, const char *id, size_t n, const char *f,
                  size_t fn)
{
	struct load_index *x = L->ix;
	int64_t h = load_hash(f, fn);
	uint64_t *v;
	int rc;

	L->tally.ent[e].staged++;
	old_key(&x->key, e, id, n);
	v = cl_idmap_get(x->old, x->key.p, x->key.len);
	if (v) {
		*v |= SEEN;
		if (!(*v & RESEND) && (*v & ~FLAGS) == ((uint64_t)h & ~FLAGS))
			return 0;
	}
	sqlite3_bind_int(x->ins, 1, e);
	sqlite3_bind_text(x->ins, 2, id, (int)n, SQLITE_STATIC);
	sqlite3_bind_int64(x->ins, 3, h);
	sqlite3_bind_text(x->ins, 4, f, (int)fn, SQLITE_STATIC);
	sqlite3_bind_int(x->ins, 5, v && (*v & RESEND));
	rc = sqlite3_step(x->ins);
	sqlite3_reset(x->ins);
	if (rc != SQLITE_DONE) {
		load_db_error(L, "staging");
		return -1;
	}
	return 0;
}

int
load_index_class(struct load *L, const char *id, size_t n)
{
	struct load_index *x = L->ix;
	uint32_t i = refs_get(&x->cls, id, n);

	if (x->cls.v[i].flags & LOAD_U_STREAM)
		return 1;
	x->cls.v[i].flags |= LOAD_U_STREAM;
	return 0;
}

int
load_index_user(struct load *L, const char *id, size_t n, int flag, int role, const char *sm,
                size_t smn)
{
	struct load_index *x = L->ix;
	uint32_t i = refs_get(&x->usr, id, n);
	struct ref *r = &x->usr.v[i];

	if (r->flags & (LOAD_U_STREAM | LOAD_U_CONTACT))
		return 1;
	r->flags |= (uint8_t)flag;
	r->role = (uint8_t)role;
	if (sm && smn) {
		r->sm_off = arena_add(&x->usr, sm, smn);
		r = &x->usr.v[i];
		r->sm_len = (uint32_t)smn;
		r->flags |= LOAD_U_LINKED;
	}
	return 0;
}

void
load_index_enrol(struct load *L, const char *cls, size_t cn, const char *usr, size_t un, int role)
{
	struct load_index *x = L->ix;
	uint32_t c = refs_get(&x->cls, cls, cn), u = refs_get(&x->usr, usr, un);

	if (x->nenr == x->capenr) {
		x->capenr = x->capenr ? x->capenr * 2 : 4096;
		x->enr = cl_xreallocarray(x->enr, x->capenr, sizeof *x->enr);
	}
	x->enr[x->nenr].c = c;
	x->enr[x->nenr].u = u;
	x->enr[x->nenr++].role = (uint8_t)role;
}

void
load_index_agent(struct load *L, const char *parent, size_t pn, const char *student, size_t sn)
{
	struct load_index *x = L->ix;
	uint32_t p = refs_get(&x->usr, parent, pn), s = refs_get(&x->usr, student, sn);

	if (x->npairs == x->cappairs) {
		x->cappairs = x->cappairs ? x->cappairs * 2 : 4096;
		x->pairs = cl_xreallocarray(x->pairs, x->cappairs, sizeof *x->pairs);
	}
	x->pairs[x->npairs].p = p;
	x->pairs[x->npairs++].s = s;
}

static int
enr_cmp(const void *a, const void *b)
{
	const struct enr *x = a, *y = b;

	if (x->c != y->c)
		return x->c < y->c ? -1 : 1;
	return x->u < y->u ? -1 : x->u > y->u;
}

static int
pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	return x->s < y->s ? -1 : x->s > y->s;
}

/* An enrolment's role as a membership reports it (only students' and teachers' are kept). */
static const char *const role_names[] = {
	[CL_ROLE_STUDENT] = "student", [CL_ROLE_TEACHER] = "teacher"
};

/*
 * When the stream is not the whole truth (incomplete, delta), a user it
 * lacks but the state has linked keeps its link for the joins.
 */
static int
from_state(struct load *L, sqlite3_stmt *q, uint32_t i)
{
	struct load_index *x = L->ix;
	struct ref *r = &x->usr.v[i];
	static const char *const paths[] = { "sm_id", "role" };
	struct cl_json_query *jq;
	struct cl_json_result *res;
	size_t n;
	const char *id = refs_id(&x->usr, i, &n);
	int rc;

	r->flags |= LOAD_U_STATE;
	old_key(&x->key, LOAD_USER, id, n);
	if (!cl_idmap_has(x->old, x->key.p, x->key.len))
		return 0;
	sqlite3_bind_text(q, 1, id, (int)n, SQLITE_TRANSIENT);
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(q);
		if (rc == SQLITE_DONE)
			return 0;
		load_db_error(L, "reading the state");
		return -1;
	}
	jq = cl_json_query_new(paths, 2);
	res = cl_json_result_new(jq);
	if (cl_json_scan(jq, (const char *)sqlite3_column_text(q, 0),
	                 (size_t)sqlite3_column_bytes(q, 0), res, NULL) == 0) {
		if (cl_json_str_set(cl_json_result_first(res, 0), &x->tmp) == 0 && x->tmp.len) {
			uint32_t off = arena_add(&x->usr, x->tmp.p, x->tmp.len);

			r = &x->usr.v[i];
			r->sm_off = off;
			r->sm_len = (uint32_t)x->tmp.len;
			r->flags |= LOAD_U_LINKED;
			r->role = (uint8_t)cl_role_of(cl_json_result_first(res, 1));
		}
	}
	cl_json_result_free(res);
	cl_json_query_free(jq);
	sqlite3_reset(q);
	return 0;
}

static int
class_ok(struct load *L, uint32_t c, int whole)
{
	struct load_index *x = L->ix;
	size_t n;
	const char *id;

	if (x->cls.v[c].flags & LOAD_U_STREAM)
		return 1;
	if (whole)
		return 0;
	id = refs_id(&x->cls, c, &n);
	old_key(&x->key, LOAD_CLASS, id, n);
	return cl_idmap_has(x->old, x->key.p, x->key.len);
}

static void
skip_add(struct load *L, const char *why, long long n)
{
	if (n > 0)
		L->tally.skipped =
		        jv_object_set(L->tally.skipped, jv_string(why), jv_number((double)n));
}

/* The composite id "a\x1fb" of two refs into x->tmp. */
static void
composite(struct load_index *x, const struct refs *ra, uint32_t a, const struct refs *rb,
          uint32_t b)
{
	size_t n;
	const char *p = refs_id(ra, a, &n);

	cl_buf_reset(&x->tmp);
	cl_buf_add(&x->tmp, p, n);
	cl_buf_addc(&x->tmp, 0x1f);
	p = refs_id(rb, b, &n);
	cl_buf_add(&x->tmp, p, n);
}

/*
 * A parent with no relationship to a linked student is not a contact: its
 * record (staged by the pass) is dropped, and a contact of the last sync
 * with its id is left unseen, so deleted. Counted under skipped.
 */
static int
no_kin(struct load *L)
{
	struct load_index *x = L->ix;
	sqlite3_stmt *d = NULL;
	long long n = 0;
	uint64_t *v;
	size_t i, len;
	const char *id;
	int rc = SQLITE_DONE;

	for (i = 0; i < x->usr.n && rc == SQLITE_DONE; i++) {
		if ((x->usr.v[i].flags & (LOAD_U_CONTACT | LOAD_U_KIN)) != LOAD_U_CONTACT)
			continue;
		if (!d && !(d = load_prepare(L, "DELETE FROM temp.st_rec WHERE entity = ?1"
		                                " AND id = ?2")))
			return -1;
		id = refs_id(&x->usr, (uint32_t)i, &len);
		old_key(&x->key, LOAD_CONTACT, id, len);
		if ((v = cl_idmap_get(x->old, x->key.p, x->key.len)))
			*v &= ~SEEN;
		sqlite3_bind_int(d, 1, LOAD_CONTACT);
		sqlite3_bind_text(d, 2, id, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(d);
		sqlite3_reset(d);
		L->tally.ent[LOAD_CONTACT].staged--;
		n++;
	}
	if (load_done(L, d, rc, "staging") < 0)
		return -1;
	skip_add(L, "parent-no-linked-student", n);
	return 0;
}

/* What an uncommitted change set created that the state and the stream lack. */
#define UNSURE_GONE                                         \
	" FROM temp.st_unsure u WHERE u.fields IS NOT NULL" \
	" AND NOT EXISTS (SELECT 1 FROM main.records r"     \
	" WHERE r.entity = u.entity AND r.id = u.id)"       \
	" AND NOT EXISTS (SELECT 1 FROM temp.st_rec n WHERE n.entity = u.entity AND n.id = u.id)"

/* Counts them among the pending deletions. */
static int
unsure_gone(struct load *L)
{
	sqlite3_stmt *s =
	        load_prepare(L, "SELECT u.entity, count(*)" UNSURE_GONE " GROUP BY u.entity");
	int rc;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int e = sqlite3_column_int(s, 0);

		if (e >= 0 && e < LOAD_NENT)
			L->ix->unseen[e] += sqlite3_column_int64(s, 1);
	}
	if (load_done(L, s, rc, "reading the state") < 0)
		return -1;
	return 0;
}

int
load_join(struct load *L)
{
	struct load_index *x = L->ix;
	int whole = L->stream.complete && !L->stream.delta;
	long long cls_absent = 0, unmatched = 0, absent = 0;
	struct load_vals vals = { NULL, NULL, NULL, 0, NULL }; /* memberships, relationships */
	sqlite3_stmt *q = NULL;
	size_t i, j, iter = 0;
	const char *k;
	uint64_t v;

	if (!whole) {
		q = load_prepare(L, "SELECT fields FROM main.records WHERE entity = 0 AND id = ?1");
		if (!q)
			return -1;
		for (i = 0; i < x->usr.n; i++)
			if (!(x->usr.v[i].flags &
			      (LOAD_U_STREAM | LOAD_U_CONTACT | LOAD_U_STATE)) &&
			    from_state(L, q, (uint32_t)i) < 0) {
				sqlite3_finalize(q);
				return -1;
			}
		sqlite3_finalize(q);
	}
	/* Memberships: one per (class, user); a teacher enrolment wins. */
	if (x->nenr > 0) /* qsort's base may not be NULL, even for nothing */
		qsort(x->enr, x->nenr, sizeof *x->enr, enr_cmp);
	for (i = 0; i < x->nenr; i = j) {
		const struct ref *u = &x->usr.v[x->enr[i].u];
		int role = x->enr[i].role;

		for (j = i + 1;
		     j < x->nenr && x->enr[j].c == x->enr[i].c && x->enr[j].u == x->enr[i].u; j++)
			if (x->enr[j].role == CL_ROLE_TEACHER)
				role = CL_ROLE_TEACHER;
		if (!class_ok(L, x->enr[i].c, whole)) {
			cls_absent += (long long)(j - i);
			continue;
		}
		if (!(u->flags & LOAD_U_LINKED)) {
			if (u->flags & LOAD_U_STREAM)
				unmatched += (long long)(j - i);
			else
				absent += (long long)(j - i);
			continue;
		}
		vals.sm_id = x->usr.arena.p + u->sm_off;
		vals.sm_n = u->sm_len;
		vals.role = role_names[role];
		load_build(&x->f, LOAD_MEMBER, &vals, &x->tmp);
		composite(x, &x->cls, x->enr[i].c, &x->usr, x->enr[i].u);
		if (load_index_record(L, LOAD_MEMBER, x->tmp.p, x->tmp.len, x->f.p, x->f.len) < 0)
			return -1;
	}
	skip_add(L, "enrollment-class-absent", cls_absent);
	skip_add(L, "enrollment-user-unmatched", unmatched);
	skip_add(L, "enrollment-user-absent", absent);
	/*
	 * Relationships: a contact in the stream and a linked student. One to
	 * an unmatched student, or to one the stream lacks, is skipped; a
	 * contact left with no relationship is no contact (unstaged below).
	 */
	if (L->stream.has_parents) {
		if (x->npairs > 0)
			qsort(x->pairs, x->npairs, sizeof *x->pairs, pair_cmp);
		unmatched = absent = 0;
		for (i = 0; i < x->npairs; i++) {
			struct ref *p = &x->usr.v[x->pairs[i].p];
			const struct ref *s = &x->usr.v[x->pairs[i].s];

			if (i > 0 && pair_cmp(&x->pairs[i - 1], &x->pairs[i]) == 0)
				continue;
			if (!(p->flags & LOAD_U_CONTACT))
				continue;
			if (!(s->flags & LOAD_U_LINKED)) {
				if (s->flags & LOAD_U_STREAM)
					unmatched += s->role == CL_ROLE_STUDENT;
				else if (!(s->flags & LOAD_U_CONTACT))
					absent++;
				continue;
			}
			if (s->role != CL_ROLE_STUDENT)
				continue;
			p->flags |= LOAD_U_KIN;
			vals.sm_id = x->usr.arena.p + s->sm_off;
			vals.sm_n = s->sm_len;
			vals.role = NULL;
			load_build(&x->f, LOAD_REL, &vals, &x->tmp);
			composite(x, &x->usr, x->pairs[i].p, &x->usr, x->pairs[i].s);
			if (load_index_record(L, LOAD_REL, x->tmp.p, x->tmp.len, x->f.p, x->f.len) <
			    0)
				return -1;
		}
		skip_add(L, "relationship-unmatched-student", unmatched);
		skip_add(L, "relationship-student-absent", absent);
	}
	if (load_exec(L, "CREATE INDEX temp.st_rec_k ON st_rec(entity, id)") < 0 ||
	    (L->stream.has_parents && no_kin(L) < 0))
		return -1;
	/* What the stream did not visit: pending deletions. */
	while (cl_idmap_next(x->old, &iter, &k, &i, &v))
		if (!(v & SEEN) && i > 0 && k[0] >= '0' && k[0] < '0' + LOAD_NENT)
			x->unseen[k[0] - '0']++;
	return unsure_gone(L);
}

int
load_index_pending(struct load *L, enum load_ent e, const char *id, size_t n)
{
	struct load_index *x = L->ix;
	const uint64_t *v;

	old_key(&x->key, e, id, n);
	v = cl_idmap_get(x->old, x->key.p, x->key.len);
	return v && !(*v & SEEN);
}

long long
load_index_unseen(struct load *L, enum load_ent e)
{
	return L->ix->unseen[e];
}

int
load_index_stage_deletes(struct load *L, enum load_ent e)
{
	struct load_index *x = L->ix;
	sqlite3_stmt *s;
	size_t iter = 0, n;
	const char *k;
	uint64_t v;
	int rc = SQLITE_DONE;

	if (load_exec(L, LOAD_ST_DEL) < 0)
		return -1;
	s = load_prepare(L, "INSERT OR IGNORE INTO st_del(entity, id) VALUES (?1, ?2)");
	if (!s)
		return -1;
	while (rc == SQLITE_DONE && cl_idmap_next(x->old, &iter, &k, &n, &v)) {
		if ((v & SEEN) || n == 0 || k[0] != '0' + (char)e)
			continue;
		sqlite3_bind_int(s, 1, e);
		sqlite3_bind_text(s, 2, k + 1, (int)(n - 1), SQLITE_STATIC);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
	}
	if (load_done(L, s, rc, "staging") < 0)
		return -1;
	s = load_prepare(
	        L, "INSERT OR IGNORE INTO st_del(entity, id) SELECT u.entity, u.id" UNSURE_GONE
	           " AND u.entity = ?1");
	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, e);
	rc = sqlite3_step(s);
	if (load_done(L, s, rc, "staging") < 0)
		return -1;
	return 0;
}
