/*
 * ingest.c: one pass over the matched roster stream into SQLite staging
 * tables (temporary: they live in the connection's temp database, never in
 * the state). Nothing of the stream is kept in memory but the set of
 * sourcedIds seen, to catch duplicates.
 *
 *   st_rec(entity, id, hash, fields)   users (matched), classes, contacts
 *   st_enr(class, user, role)          enrolments of students and teachers
 *   st_usr(id, sm_id, role)            every non-parent user; sm_id NULL when unmatched
 *   st_agent(parent, student)          agent links, from either side
 *
 * ld_join then makes memberships and relationships from them.
 */
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "idmap.h"
#include "load.h"

enum {
	P_ID,
	P_STATUS,
	P_ROLE,
	P_TITLE,
	P_CODE,
	P_COURSE,
	P_SCHOOL,
	P_TERMS,
	P_PERIODS,
	P_ECLASS,
	P_EUSER,
	P_GIVEN,
	P_FAMILY,
	P_GRADES,
	P_IDENT,
	P_ORGS,
	P_AGENTS,
	P_EMAIL,
	P_PHONE,
	P_SMS,
	P_MATCH,
	P_MID,
	P_UNMATCHED,
	P_DELTA,
	P_N
};

static const char *const paths[P_N] = {
	"data.sourcedId",
	"data.status",
	"data.role",
	"data.title",
	"data.classCode",
	"data.course.sourcedId",
	"data.school.sourcedId",
	"data.terms[].sourcedId",
	"data.periods[]",
	"data.class.sourcedId",
	"data.user.sourcedId",
	"data.givenName",
	"data.familyName",
	"data.grades[]",
	"data.identifier",
	"data.orgs[].sourcedId",
	"data.agents[].sourcedId",
	"data.email",
	"data.phone",
	"data.sms",
	"match",
	"match.id",
	"unmatched",
	"delta",
};

struct pass {
	struct ld *L;
	struct cl_reader *r;
	size_t idx[P_N];
	sqlite3_stmt *ins_rec, *ins_enr, *ins_usr, *ins_agent;
	struct cl_idmap *seen[LD_NENT];
	struct cl_buf f, tmp, id, a, b;
	const struct cl_line *ln;
};

static const struct cl_json_span *
field(struct pass *p, int i)
{
	return cl_reader_field(p->r, p->idx[i]);
}

/* Decodes a string span into b; 0, or -1 when it is absent, not a string or empty. */
static int
str(const struct cl_json_span *s, struct cl_buf *b)
{
	cl_buf_reset(b);
	if (!s || s->type != CL_JSON_STRING || cl_json_str(s, b) < 0 || b->len == 0)
		return -1;
	return 0;
}

static void
skip(struct ld *L, const char *why)
{
	jv n = jv_object_get(jv_copy(L->skipped), jv_string(why));
	double v = jv_get_kind(n) == JV_KIND_NUMBER ? jv_number_value(n) : 0;

	jv_free(n);
	L->skipped = jv_object_set(L->skipped, jv_string(why), jv_number(v + 1));
}

static int
step(struct pass *p, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		ld_db_error(p->L, "staging");
		return -1;
	}
	return 0;
}

static void
bind_buf(sqlite3_stmt *s, int i, const struct cl_buf *b)
{
	sqlite3_bind_text(s, i, b->p, (int)b->len, SQLITE_STATIC);
}

/* The record's id into p->id; reports CL402 and returns -1 without one. */
static int
record_id(struct pass *p)
{
	if (str(field(p, P_ID), &p->id) == 0 && !memchr(p->id.p, 0x1f, p->id.len))
		return 0;
	ld_error(p->L, "CL402", "%s:%llu: a %s without a usable sourcedId",
	         p->L->o.input ? p->L->o.input : "<stdin>", p->ln->lineno,
	         cl_kind_name(p->ln->kind));
	p->L->failed = 1;
	return -1;
}

/* 1 when the record is marked tobedeleted (cl-filter drops those; absent here). */
static int
to_be_deleted(struct pass *p)
{
	return cl_json_str_eq(field(p, P_STATUS), "tobedeleted");
}

/* 1 when the id was seen before for e (the first one wins; CL413). */
static int
duplicate(struct pass *p, enum ld_ent e)
{
	int added;

	cl_idmap_put(p->seen[e], p->id.p, p->id.len, &added);
	if (added)
		return 0;
	ld_error(p->L, "CL413", "%s:%llu: %s '%s' appears twice in the stream; the first was used",
	         p->L->o.input ? p->L->o.input : "<stdin>", p->ln->lineno, ld_ent_name(e), p->id.p);
	skip(p->L, "duplicate");
	return 1;
}

static int
stage_rec(struct pass *p, enum ld_ent e)
{
	sqlite3_stmt *s = p->ins_rec;

	sqlite3_bind_int(s, 1, e);
	bind_buf(s, 2, &p->id);
	sqlite3_bind_int64(s, 3, ld_hash(p->f.p, p->f.len));
	bind_buf(s, 4, &p->f);
	p->L->c[e].staged++;
	return step(p, s);
}

static int
do_class(struct pass *p)
{
	const struct cl_json_result *r = cl_reader_result(p->r);

	if (record_id(p) < 0)
		return -1;
	if (to_be_deleted(p)) {
		skip(p->L, "tobedeleted");
		return 0;
	}
	if (duplicate(p, LD_CLASS))
		return 0;
	ld_obj_begin(&p->f);
	ld_put_str(&p->f, "title", field(p, P_TITLE), &p->tmp);
	ld_put_str(&p->f, "classCode", field(p, P_CODE), &p->tmp);
	ld_put_str(&p->f, "course", field(p, P_COURSE), &p->tmp);
	ld_put_str(&p->f, "school", field(p, P_SCHOOL), &p->tmp);
	ld_put_list(&p->f, "terms", r, p->idx[P_TERMS], &p->tmp);
	ld_put_list(&p->f, "periods", r, p->idx[P_PERIODS], &p->tmp);
	ld_obj_end(&p->f);
	return stage_rec(p, LD_CLASS);
}

static int
do_enrollment(struct pass *p)
{
	const struct cl_json_span *role = field(p, P_ROLE);
	const char *rs;

	if (to_be_deleted(p)) {
		skip(p->L, "tobedeleted");
		return 0;
	}
	if (cl_json_str_eq(role, "student"))
		rs = "student";
	else if (cl_json_str_eq(role, "teacher"))
		rs = "teacher";
	else {
		skip(p->L, "enrollment-role");
		return 0;
	}
	if (str(field(p, P_ECLASS), &p->a) < 0 || str(field(p, P_EUSER), &p->b) < 0 ||
	    memchr(p->a.p, 0x1f, p->a.len)) {
		skip(p->L, "enrollment-incomplete");
		return 0;
	}
	bind_buf(p->ins_enr, 1, &p->a);
	bind_buf(p->ins_enr, 2, &p->b);
	sqlite3_bind_text(p->ins_enr, 3, rs, -1, SQLITE_STATIC);
	return step(p, p->ins_enr);
}

static void
count_unmatched(struct ld *L, const struct cl_json_span *why, struct cl_buf *tmp)
{
	jv n;
	double v;

	L->unmatched++;
	if (str(why, tmp) < 0)
		cl_buf_adds(tmp, "unknown");
	n = jv_object_get(jv_copy(L->unmatched_by), jv_string(tmp->p));
	v = jv_get_kind(n) == JV_KIND_NUMBER ? jv_number_value(n) : 0;
	jv_free(n);
	L->unmatched_by = jv_object_set(L->unmatched_by, jv_string(tmp->p), jv_number(v + 1));
}

/* Stages agent links: (parent, student) pairs, whichever side names the other. */
static int
stage_agents(struct pass *p, int self_is_parent)
{
	const struct cl_json_result *r = cl_reader_result(p->r);
	size_t n = cl_json_result_count(r, p->idx[P_AGENTS]), i;

	for (i = 0; i < n; i++) {
		if (str(cl_json_result_get(r, p->idx[P_AGENTS], i), &p->a) < 0)
			continue;
		bind_buf(p->ins_agent, self_is_parent ? 1 : 2, &p->id);
		bind_buf(p->ins_agent, self_is_parent ? 2 : 1, &p->a);
		if (step(p, p->ins_agent) < 0)
			return -1;
	}
	return 0;
}

static int
do_user(struct pass *p)
{
	const struct cl_json_result *r = cl_reader_result(p->r);
	const struct cl_json_span *m = field(p, P_MATCH), *role = field(p, P_ROLE), *mid;
	struct ld *L = p->L;
	int matched;

	if (record_id(p) < 0)
		return -1;
	if (!m) {
		ld_error(L, "CL401",
		         "%s:%llu: user '%s' has no \"match\": run cl-match before cl-load",
		         L->o.input ? L->o.input : "<stdin>", p->ln->lineno, p->id.p);
		L->failed = 1;
		return -1;
	}
	if (to_be_deleted(p)) {
		skip(L, "tobedeleted");
		return 0;
	}
	if (duplicate(p, LD_USER))
		return 0;
	mid = field(p, P_MID);
	cl_buf_reset(&p->a);
	if (m->type == CL_JSON_OBJECT && mid && mid->type == CL_JSON_NUMBER)
		cl_buf_add(&p->a, mid->p, mid->n);
	else if (m->type == CL_JSON_OBJECT)
		str(mid, &p->a);
	matched = p->a.len > 0;
	str(role, &p->b);
	sqlite3_bind_text(p->ins_usr, 1, p->id.p, (int)p->id.len, SQLITE_STATIC);
	if (matched)
		bind_buf(p->ins_usr, 2, &p->a);
	else
		sqlite3_bind_null(p->ins_usr, 2);
	bind_buf(p->ins_usr, 3, &p->b);
	if (step(p, p->ins_usr) < 0)
		return -1;
	if (!matched) {
		count_unmatched(L, field(p, P_UNMATCHED), &p->tmp);
		return 0;
	}
	if (cl_json_str_eq(role, "student"))
		L->matched_students++;
	else if (cl_json_str_eq(role, "teacher"))
		L->matched_teachers++;
	else
		L->matched_other++;
	ld_obj_begin(&p->f);
	ld_put_raw_str(&p->f, "sm_id", p->a.p, p->a.len);
	ld_put_str(&p->f, "role", role, &p->tmp);
	ld_put_str(&p->f, "givenName", field(p, P_GIVEN), &p->tmp);
	ld_put_str(&p->f, "familyName", field(p, P_FAMILY), &p->tmp);
	ld_put_list(&p->f, "grades", r, p->idx[P_GRADES], &p->tmp);
	ld_put_str(&p->f, "identifier", field(p, P_IDENT), &p->tmp);
	ld_put_list(&p->f, "schools", r, p->idx[P_ORGS], &p->tmp);
	ld_obj_end(&p->f);
	if (stage_rec(p, LD_USER) < 0)
		return -1;
	/* Only a linked student can have a relationship: stage its agents. */
	return cl_json_str_eq(role, "student") ? stage_agents(p, 0) : 0;
}

static int
do_parent(struct pass *p)
{
	if (record_id(p) < 0)
		return -1;
	p->L->has_parents = 1;
	if (to_be_deleted(p)) {
		skip(p->L, "tobedeleted");
		return 0;
	}
	if (duplicate(p, LD_CONTACT))
		return 0;
	ld_obj_begin(&p->f);
	ld_put_str(&p->f, "role", field(p, P_ROLE), &p->tmp);
	ld_put_str(&p->f, "givenName", field(p, P_GIVEN), &p->tmp);
	ld_put_str(&p->f, "familyName", field(p, P_FAMILY), &p->tmp);
	ld_put_str(&p->f, "email", field(p, P_EMAIL), &p->tmp);
	ld_put_str(&p->f, "phone", field(p, P_PHONE), &p->tmp);
	ld_put_str(&p->f, "sms", field(p, P_SMS), &p->tmp);
	ld_obj_end(&p->f);
	if (stage_rec(p, LD_CONTACT) < 0)
		return -1;
	return stage_agents(p, 1);
}

/* The header's summary: each stage's tool, version and time, and the source. */
static void
do_header(struct pass *p)
{
	struct ld *L = p->L;
	jv h = jv_parse_sized(p->ln->p, (int)p->ln->n), stages, out = jv_array(), src;
	int i, n;

	L->delta = field(p, P_DELTA) && field(p, P_DELTA)->type == CL_JSON_TRUE;
	if (jv_get_kind(h) != JV_KIND_OBJECT) {
		jv_free(h);
		jv_free(out);
		return;
	}
	stages = jv_object_get(jv_copy(h), jv_string("stages"));
	n = jv_get_kind(stages) == JV_KIND_ARRAY ? jv_array_length(jv_copy(stages)) : 0;
	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(stages), i), o = jv_object(), v;
		const char *keys[] = { "tool", "version", "at" };
		size_t k;

		if (jv_get_kind(s) != JV_KIND_OBJECT) {
			jv_free(s);
			jv_free(o);
			continue;
		}
		for (k = 0; k < sizeof keys / sizeof *keys; k++) {
			v = jv_object_get(jv_copy(s), jv_string(keys[k]));
			if (jv_get_kind(v) == JV_KIND_STRING) {
				if (i == 0 && k == 2)
					snprintf(L->fetched, sizeof L->fetched, "%s",
					         jv_string_value(v));
				o = jv_object_set(o, jv_string(keys[k]), v);
			} else {
				jv_free(v);
			}
		}
		out = jv_array_append(out, o);
		jv_free(s);
	}
	jv_free(stages);
	jv_free(L->summary);
	L->summary = jv_object_set(jv_object(), jv_string("stages"), out);
	src = jv_object_get(h, jv_string("source"));
	if (jv_get_kind(src) == JV_KIND_OBJECT)
		L->summary = jv_object_set(L->summary, jv_string("source"), src);
	else
		jv_free(src);
}

static int
has_str(jv arr, const char *want)
{
	int i, n = jv_array_length(jv_copy(arr)), eq = 0;

	for (i = 0; i < n && !eq; i++) {
		jv v = jv_array_get(jv_copy(arr), i);

		eq = jv_get_kind(v) == JV_KIND_STRING && strcmp(jv_string_value(v), want) == 0;
		jv_free(v);
	}
	return eq;
}

/* The codes the upstream stages reported, in order, each once. */
static void
do_trailer(struct pass *p)
{
	struct ld *L = p->L;
	jv t = jv_parse_sized(p->ln->p, (int)p->ln->n), stages;
	int i, j, n, m;

	L->have_trailer = 1;
	L->complete = cl_reader_upstream_complete(p->r) == 1;
	if (jv_get_kind(t) != JV_KIND_OBJECT) {
		jv_free(t);
		return;
	}
	stages = jv_object_get(t, jv_string("stages"));
	n = jv_get_kind(stages) == JV_KIND_ARRAY ? jv_array_length(jv_copy(stages)) : 0;
	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(stages), i);
		jv errs = jv_get_kind(s) == JV_KIND_OBJECT
		                  ? jv_object_get(jv_copy(s), jv_string("errors"))
		                  : jv_invalid();

		m = jv_get_kind(errs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(errs)) : 0;
		for (j = 0; j < m; j++) {
			jv e = jv_array_get(jv_copy(errs), j), code;

			code = jv_get_kind(e) == JV_KIND_OBJECT
			               ? jv_object_get(jv_copy(e), jv_string("code"))
			               : jv_invalid();
			if (jv_get_kind(code) == JV_KIND_STRING &&
			    !has_str(L->upstream_codes, jv_string_value(code)))
				L->upstream_codes = jv_array_append(L->upstream_codes, code);
			else
				jv_free(code);
			jv_free(e);
		}
		jv_free(errs);
		jv_free(s);
	}
	jv_free(stages);
}

static int
pass_init(struct pass *p, struct ld *L, int fd, const char *name)
{
	int i;

	memset(p, 0, sizeof *p);
	p->L = L;
	p->r = cl_reader_new(fd, name, 0);
	for (i = 0; i < P_N; i++)
		p->idx[i] = cl_reader_want(p->r, paths[i]);
	for (i = 0; i < LD_NENT; i++)
		p->seen[i] = cl_idmap_new();
	cl_buf_init(&p->f);
	cl_buf_init(&p->tmp);
	cl_buf_init(&p->id);
	cl_buf_init(&p->a);
	cl_buf_init(&p->b);
	if (ld_exec(L,
	            "CREATE TEMP TABLE st_rec(entity INTEGER, id TEXT, hash INTEGER, fields TEXT);"
	            "CREATE TEMP TABLE st_enr(class TEXT, user TEXT, role TEXT);"
	            "CREATE TEMP TABLE st_usr(id TEXT, sm_id TEXT, role TEXT);"
	            "CREATE TEMP TABLE st_agent(parent TEXT, student TEXT);") < 0)
		return -1;
	p->ins_rec = ld_prepare(L, "INSERT INTO st_rec VALUES (?1, ?2, ?3, ?4)");
	p->ins_enr = ld_prepare(L, "INSERT INTO st_enr VALUES (?1, ?2, ?3)");
	p->ins_usr = ld_prepare(L, "INSERT INTO st_usr VALUES (?1, ?2, ?3)");
	p->ins_agent = ld_prepare(L, "INSERT INTO st_agent VALUES (?1, ?2)");
	if (!p->ins_rec || !p->ins_enr || !p->ins_usr || !p->ins_agent)
		return -1;
	return 0;
}

static void
pass_release(struct pass *p)
{
	int i;

	sqlite3_finalize(p->ins_rec);
	sqlite3_finalize(p->ins_enr);
	sqlite3_finalize(p->ins_usr);
	sqlite3_finalize(p->ins_agent);
	for (i = 0; i < LD_NENT; i++)
		cl_idmap_free(p->seen[i]);
	cl_buf_release(&p->f);
	cl_buf_release(&p->tmp);
	cl_buf_release(&p->id);
	cl_buf_release(&p->a);
	cl_buf_release(&p->b);
	cl_reader_free(p->r);
}

int
ld_ingest(struct ld *L, int fd, const char *name)
{
	struct pass p;
	struct cl_line ln;
	int rc, err = 0;

	if (pass_init(&p, L, fd, name) < 0) {
		pass_release(&p);
		return -1;
	}
	p.ln = &ln;
	while (!err && (rc = cl_reader_next(p.r, &ln)) > 0) {
		switch (ln.kind) {
		case CL_K_HEADER:
			do_header(&p);
			break;
		case CL_K_CLASS:
			err = do_class(&p) < 0;
			break;
		case CL_K_ENROLLMENT:
			err = do_enrollment(&p) < 0;
			break;
		case CL_K_USER:
			err = do_user(&p) < 0;
			break;
		case CL_K_PARENT:
			err = do_parent(&p) < 0;
			break;
		case CL_K_TRAILER:
			do_trailer(&p);
			break;
		default:
			break;
		}
	}
	if (!err && rc < 0) {
		const struct cl_stream_err *e = cl_reader_error(p.r);

		ld_error(L, e->code, "%s", e->msg);
		L->failed = 1;
		err = 1;
	}
	pass_release(&p);
	return err ? -1 : 0;
}

/*
 * Memberships and relationships. When the stream is the whole truth, a
 * membership needs its class and a matched user in the stream; when it is
 * not (incomplete or delta), what the stream lacks is taken from the state.
 */
int
ld_join(struct ld *L)
{
	int whole = L->complete && !L->delta;
	sqlite3_stmt *s;

	if (ld_exec(L,
	            "CREATE INDEX temp.st_rec_k ON st_rec(entity, id);"
	            "CREATE TEMP TABLE st_link(id TEXT PRIMARY KEY, sm_id TEXT, role TEXT) "
	            "WITHOUT ROWID;"
	            "INSERT OR IGNORE INTO st_link SELECT id, sm_id, role FROM st_usr "
	            "WHERE sm_id IS NOT NULL;"
	            "CREATE TEMP TABLE st_class(id TEXT PRIMARY KEY) WITHOUT ROWID;"
	            "INSERT OR IGNORE INTO st_class SELECT id FROM st_rec WHERE entity = 1;") < 0)
		return -1;
	if (!whole &&
	    ld_exec(L,
	            "CREATE INDEX temp.st_usr_k ON st_usr(id);"
	            "INSERT OR IGNORE INTO st_link SELECT r.id, json_extract(r.fields, '$.sm_id'),"
	            " json_extract(r.fields, '$.role') FROM main.records r WHERE r.entity = 0"
	            " AND NOT EXISTS (SELECT 1 FROM st_usr u WHERE u.id = r.id);"
	            "INSERT OR IGNORE INTO st_class SELECT id FROM main.records WHERE entity = "
	            "1;") < 0)
		return -1;
	/* Memberships: one per (class, user); teacher wins over student. */
	if (ld_exec(L, "INSERT INTO st_rec SELECT 2, class || char(31) || user, ld_hash(f), f FROM"
	               " (SELECT e.class, e.user, ld_fields(l.sm_id, max(e.role)) AS f"
	               "  FROM st_enr e JOIN st_link l ON l.id = e.user"
	               "  WHERE EXISTS (SELECT 1 FROM st_class c WHERE c.id = e.class)"
	               "  GROUP BY e.class, e.user)") < 0)
		return -1;
	L->c[LD_MEMBER].staged = sqlite3_changes(L->db);
	/* What did not become a membership, and why (per enrolment). */
	s = ld_prepare(L, "SELECT sum(c.id IS NULL),"
	                  " sum(c.id IS NOT NULL AND l.id IS NULL AND u.id IS NOT NULL),"
	                  " sum(c.id IS NOT NULL AND l.id IS NULL AND u.id IS NULL)"
	                  " FROM st_enr e LEFT JOIN st_class c ON c.id = e.class"
	                  " LEFT JOIN st_link l ON l.id = e.user"
	                  " LEFT JOIN st_usr u ON u.id = e.user");
	if (!s)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW) {
		const char *why[] = { "enrollment-class-absent", "enrollment-user-unmatched",
			              "enrollment-user-absent" };
		int i;

		for (i = 0; i < 3; i++)
			if (sqlite3_column_int64(s, i) > 0)
				L->skipped = jv_object_set(
				        L->skipped, jv_string(why[i]),
				        jv_number((double)sqlite3_column_int64(s, i)));
	}
	sqlite3_finalize(s);
	/* Relationships: a contact in the stream and a linked student. */
	if (L->has_parents &&
	    ld_exec(L,
	            "INSERT INTO st_rec SELECT 4, parent || char(31) || student, ld_hash(f), f FROM"
	            " (SELECT a.parent, a.student, ld_fields(l.sm_id) AS f"
	            "  FROM st_agent a JOIN st_link l ON l.id = a.student AND l.role = 'student'"
	            "  WHERE EXISTS (SELECT 1 FROM st_rec c WHERE c.entity = 3 AND c.id = a.parent)"
	            "  GROUP BY a.parent, a.student)") < 0)
		return -1;
	if (L->has_parents)
		L->c[LD_REL].staged = sqlite3_changes(L->db);
	return 0;
}
