/*
 * ingest.c: one pass over the matched roster stream. Each class, user and
 * parent is reduced to its canonical fields and their hash and checked
 * against the previous state's index (index.c): only new and changed
 * records are staged. Enrolments and agent links are kept as pairs of
 * indexes until the users are known (load_join).
 */
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "idmap.h"
#include "load.h"

/* What the pass reads besides the model's fields (load_model's paths). */
enum {
	P_ID,
	P_STATUS,
	P_ROLE,
	P_ECLASS,
	P_EUSER,
	P_AGENTS,
	P_MATCH,
	P_MID,
	P_UNMATCHED,
	P_DELTA,
	P_END,
	P_TYPE,
	P_NAME,
	P_SCHOOL,
	P_ORGS,
	P_N
};

static const char *const paths[P_N] = {
	"data.sourcedId",
	"data.status",
	"data.role",
	"data.class.sourcedId",
	"data.user.sourcedId",
	"data.agents[].sourcedId",
	"match",
	"match.id",
	"unmatched",
	"delta",
	"data.endDate",
	"data.type",
	"data.name",
	"data.school.sourcedId",
	"data.orgs[].sourcedId",
};

struct pass {
	struct load *L;
	struct cl_reader *r;
	size_t idx[P_N];
	size_t fidx[LOAD_NENT][LOAD_FIELDS_MAX]; /* the reader's index of each field's path */
	size_t aidx[LOAD_NENT][LOAD_FIELDS_MAX]; /* and of its alt path */
	struct cl_buf f, tmp, id, a, b;
	const struct cl_line *ln;
	sqlite3_stmt *tbd, *sess; /* temp.st_tbd, main.sessions */
};

static const struct cl_json_span *
field(struct pass *p, int i)
{
	return cl_reader_field(p->r, p->idx[i]);
}

static void
skip(struct load *L, const char *why)
{
	jv n = jv_object_get(jv_copy(L->tally.skipped), jv_string(why));
	double v = jv_get_kind(n) == JV_KIND_NUMBER ? jv_number_value(n) : 0;

	jv_free(n);
	L->tally.skipped = jv_object_set(L->tally.skipped, jv_string(why), jv_number(v + 1));
}

/* The record's id into p->id; reports CL402 and returns -1 without one. */
static int
record_id(struct pass *p)
{
	if (cl_json_str_set(field(p, P_ID), &p->id) == 0 && p->id.len > 0 &&
	    !memchr(p->id.p, 0x1f, p->id.len))
		return 0;
	load_error(p->L, "CL402", "%s:%llu: a %s without a usable sourcedId",
	           p->L->o.input ? p->L->o.input : "<stdin>", p->ln->lineno,
	           cl_kind_name(p->ln->kind));
	return -1;
}

/* 1 when the record is marked tobedeleted (cl-filter drops those; absent here). */
static int
to_be_deleted(struct pass *p)
{
	return cl_json_str_eq(field(p, P_STATUS), "tobedeleted");
}

/*
 * Notes that e's id (n bytes) was marked tobedeleted: its deletion, if the
 * last sync had it, is explained (diff.c). Only what reaches cl-load is
 * known: what cl-filter dropped as tobedeleted arrives as a plain absence.
 */
static int
note_tbd(struct pass *p, enum load_ent e, const char *id, size_t n)
{
	int rc;

	if (!p->tbd && !(p->tbd = load_prepare(p->L, "INSERT OR IGNORE INTO temp.st_tbd"
	                                             " VALUES (?1, ?2)")))
		return -1;
	sqlite3_bind_int(p->tbd, 1, e);
	sqlite3_bind_text(p->tbd, 2, id, (int)n, SQLITE_STATIC);
	rc = sqlite3_step(p->tbd);
	sqlite3_reset(p->tbd);
	if (rc != SQLITE_DONE) {
		load_db_error(p->L, "staging");
		return -1;
	}
	skip(p->L, "tobedeleted");
	return 0;
}

/* 1 when s is a date YYYY-MM-DD (compared as text, as cl-filter compares them). */
static int
is_date(const char *s, size_t n)
{
	size_t i;

	if (n != 10)
		return 0;
	for (i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* An academicSession: its endDate is kept in main.sessions (what explains a class's end). */
static int
do_session(struct pass *p)
{
	int rc;

	if (to_be_deleted(p) || cl_json_str_set(field(p, P_ID), &p->id) < 0 || p->id.len == 0 ||
	    cl_json_str_set(field(p, P_END), &p->a) < 0 || !is_date(p->a.p, p->a.len))
		return 0;
	if (!p->sess && !(p->sess = load_prepare(p->L, "INSERT OR REPLACE INTO main.sessions"
	                                               "(id, ends) VALUES (?1, ?2)")))
		return -1;
	sqlite3_bind_text(p->sess, 1, p->id.p, (int)p->id.len, SQLITE_STATIC);
	sqlite3_bind_text(p->sess, 2, p->a.p, (int)p->a.len, SQLITE_STATIC);
	rc = sqlite3_step(p->sess);
	sqlite3_reset(p->sess);
	if (rc != SQLITE_DONE) {
		load_db_error(p->L, "recording the sessions");
		return -1;
	}
	return 0;
}

/* A duplicate (dup set): the first one wins (CL413). */
static int
duplicate(struct pass *p, enum load_ent e, int dup)
{
	if (!dup)
		return 0;
	load_error(p->L, "CL413",
	           "%s:%llu: %s '%s' appears twice in the stream; the first was used",
	           p->L->o.input ? p->L->o.input : "<stdin>", p->ln->lineno, load_model[e].name,
	           p->id.p);
	skip(p->L, "duplicate");
	return 1;
}

/* Builds the record's fields from the line (sm_id: the School Manager id, if e has one). */
static int
stage_rec(struct pass *p, enum load_ent e, const char *sm_id, size_t sm_n)
{
	struct load_vals v = { cl_reader_result(p->r),   p->fidx[e], sm_id, sm_n, NULL, p->aidx[e],
		               cl_reader_role_name(p->r) };

	load_build(&p->f, e, &v, &p->tmp);
	return load_index_record(p->L, e, p->id.p, p->id.len, p->f.p, p->f.len);
}

/* An org of type school: what its classes, enrolments and users are counted against. */
static int
do_org(struct pass *p)
{
	if (to_be_deleted(p) || cl_json_str_set(field(p, P_ID), &p->id) < 0 || p->id.len == 0 ||
	    !cl_json_str_eq(field(p, P_TYPE), "school"))
		return 0;
	if (cl_json_str_set(field(p, P_NAME), &p->a) < 0)
		cl_buf_reset(&p->a);
	load_schools_org(p->L, p->id.p, p->id.len, p->a.p, p->a.len);
	return 0;
}

static int
do_class(struct pass *p)
{
	if (record_id(p) < 0)
		return -1;
	if (to_be_deleted(p))
		return note_tbd(p, LOAD_CLASS, p->id.p, p->id.len);
	if (duplicate(p, LOAD_CLASS, load_index_class(p->L, p->id.p, p->id.len)))
		return 0;
	if (cl_json_str_set(field(p, P_SCHOOL), &p->a) == 0 && p->a.len > 0)
		load_schools_class(p->L, p->id.p, p->id.len, p->a.p, p->a.len);
	return stage_rec(p, LOAD_CLASS, NULL, 0);
}

static int
do_enrollment(struct pass *p)
{
	const struct cl_json_span *role = field(p, P_ROLE);
	enum cl_role rs;

	if (to_be_deleted(p)) {
		/* the membership it made: "class\x1fuser" */
		if (cl_json_str_set(field(p, P_ECLASS), &p->a) < 0 || p->a.len == 0 ||
		    cl_json_str_set(field(p, P_EUSER), &p->b) < 0 || p->b.len == 0 ||
		    memchr(p->a.p, 0x1f, p->a.len)) {
			skip(p->L, "tobedeleted");
			return 0;
		}
		cl_buf_addc(&p->a, 0x1f);
		cl_buf_add(&p->a, p->b.p, p->b.len);
		return note_tbd(p, LOAD_MEMBER, p->a.p, p->a.len);
	}
	rs = cl_role_of(role);
	if (rs != CL_ROLE_STUDENT && rs != CL_ROLE_TEACHER) {
		skip(p->L, "enrollment-role");
		return 0;
	}
	if (cl_json_str_set(field(p, P_ECLASS), &p->a) < 0 || p->a.len == 0 ||
	    cl_json_str_set(field(p, P_EUSER), &p->b) < 0 || p->b.len == 0 ||
	    memchr(p->a.p, 0x1f, p->a.len)) {
		skip(p->L, "enrollment-incomplete");
		return 0;
	}
	load_index_enrol(p->L, p->a.p, p->a.len, p->b.p, p->b.len, rs);
	return 0;
}

static void
count_unmatched(struct load *L, const struct cl_json_span *why, struct cl_buf *tmp)
{
	jv n;
	double v;

	L->tally.unmatched++;
	if (cl_json_str_set(why, tmp) < 0 || tmp->len == 0)
		cl_buf_adds(tmp, "unknown");
	n = jv_object_get(jv_copy(L->tally.unmatched_by), jv_string(tmp->p));
	v = jv_get_kind(n) == JV_KIND_NUMBER ? jv_number_value(n) : 0;
	jv_free(n);
	L->tally.unmatched_by =
	        jv_object_set(L->tally.unmatched_by, jv_string(tmp->p), jv_number(v + 1));
}

/* Keeps agent links: (parent, student) pairs, whichever side names the other (uses p->b). */
static void
keep_agents(struct pass *p, int self_is_parent)
{
	const struct cl_json_result *r = cl_reader_result(p->r);
	size_t n = cl_json_result_count(r, p->idx[P_AGENTS]), i;

	for (i = 0; i < n; i++) {
		if (cl_json_str_set(cl_json_result_get(r, p->idx[P_AGENTS], i), &p->b) < 0 ||
		    p->b.len == 0)
			continue;
		if (self_is_parent)
			load_index_agent(p->L, p->id.p, p->id.len, p->b.p, p->b.len);
		else
			load_index_agent(p->L, p->b.p, p->b.len, p->id.p, p->id.len);
	}
}

static int
do_user(struct pass *p)
{
	const struct cl_json_span *m = field(p, P_MATCH), *mid;
	struct load *L = p->L;
	int matched, rc;

	if (record_id(p) < 0)
		return -1;
	if (!m) {
		load_error(L, "CL401",
		           "%s:%llu: user '%s' has no \"match\": run cl-match before cl-load",
		           L->o.input ? L->o.input : "<stdin>", p->ln->lineno, p->id.p);
		return -1;
	}
	if (to_be_deleted(p))
		return note_tbd(p, LOAD_USER, p->id.p, p->id.len);
	mid = field(p, P_MID);
	cl_buf_reset(&p->a);
	if (m->type == CL_JSON_OBJECT && mid && mid->type == CL_JSON_NUMBER)
		cl_buf_add(&p->a, mid->p, mid->n);
	else if (m->type == CL_JSON_OBJECT)
		cl_json_str_set(mid, &p->a);
	matched = p->a.len > 0;
	/* 1.1's role or 1.2's primary role (lib/role.h); never CL_ROLE_PARENT: the reader made
	 * those CL_K_PARENT */
	rc = cl_reader_role(p->r);
	if (duplicate(p, LOAD_USER,
	              load_index_user(L, p->id.p, p->id.len, LOAD_U_STREAM, rc, p->a.p, p->a.len)))
		return 0;
	/* Present, matched or not: each of its schools has users. */
	{
		const struct cl_json_result *r = cl_reader_result(p->r);
		size_t k, no = cl_json_result_count(r, p->idx[P_ORGS]);

		for (k = 0; k < no; k++)
			if (cl_json_str_set(cl_json_result_get(r, p->idx[P_ORGS], k), &p->b) == 0 &&
			    p->b.len > 0)
				load_schools_user(L, p->b.p, p->b.len);
	}
	/* A student's agents, linked or not: the join counts what it skips. */
	if (rc == CL_ROLE_STUDENT)
		keep_agents(p, 0);
	if (!matched) {
		count_unmatched(L, field(p, P_UNMATCHED), &p->tmp);
		return 0;
	}
	if (rc == CL_ROLE_STUDENT)
		L->tally.matched_students++;
	else if (rc == CL_ROLE_TEACHER)
		L->tally.matched_teachers++;
	else
		L->tally.matched_other++;
	return stage_rec(p, LOAD_USER, p->a.p, p->a.len);
}

static int
do_parent(struct pass *p)
{
	if (record_id(p) < 0)
		return -1;
	p->L->stream.has_parents = 1;
	if (p->L->stream.parents_opt < 0) {
		skip(p->L, "parent-not-synced"); /* sync_parents off upstream */
		return 0;
	}
	if (to_be_deleted(p))
		return note_tbd(p, LOAD_CONTACT, p->id.p, p->id.len);
	if (duplicate(p, LOAD_CONTACT,
	              load_index_user(p->L, p->id.p, p->id.len, LOAD_U_CONTACT, CL_ROLE_PARENT,
	                              NULL, 0)))
		return 0;
	if (stage_rec(p, LOAD_CONTACT, NULL, 0) < 0)
		return -1;
	keep_agents(p, 1);
	return 0;
}

/* The header's summary: each stage's tool, version and time, and the source. */
static void
do_header(struct pass *p)
{
	struct load *L = p->L;
	jv h = jv_parse_sized(p->ln->p, (int)p->ln->n), stages, out = jv_array(), src;
	int i, n;

	L->stream.delta = field(p, P_DELTA) && field(p, P_DELTA)->type == CL_JSON_TRUE;
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
					snprintf(L->stream.fetched, sizeof L->stream.fetched, "%s",
					         jv_string_value(v));
				o = jv_object_set(o, jv_string(keys[k]), v);
			} else {
				jv_free(v);
			}
		}
		/* Sync Classroom Data off upstream: the stream says nothing
		 * about classes, so they are neither diffed nor deleted. Sync
		 * Parent Data: on, the parents are managed even when none is
		 * left; off (in any stage), they are not. */
		v = jv_object_get(jv_copy(s), jv_string("options"));
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			jv sp = jv_object_get(jv_copy(v), jv_string("sync_parents"));
			jv as = jv_object_get(jv_copy(v), jv_string("as_of"));

			/* cl-filter's "today": what a term's end is judged against */
			if (jv_get_kind(as) == JV_KIND_STRING &&
			    is_date(jv_string_value(as),
			            (size_t)jv_string_length_bytes(jv_copy(as))))
				snprintf(L->stream.as_of, sizeof L->stream.as_of, "%s",
				         jv_string_value(as));
			jv_free(as);

			if (jv_get_kind(sp) == JV_KIND_FALSE)
				L->stream.parents_opt = -1;
			else if (jv_get_kind(sp) == JV_KIND_TRUE && L->stream.parents_opt == 0)
				L->stream.parents_opt = 1;
			jv_free(sp);
			v = jv_object_get(v, jv_string("sync_classes"));
			if (jv_get_kind(v) == JV_KIND_FALSE)
				L->stream.no_classes = 1;
		}
		jv_free(v);
		out = jv_array_append(out, o);
		jv_free(s);
	}
	jv_free(stages);
	jv_free(L->stream.summary);
	L->stream.summary = jv_object_set(jv_object(), jv_string("stages"), out);
	src = jv_object_get(h, jv_string("source"));
	if (jv_get_kind(src) == JV_KIND_OBJECT)
		L->stream.summary = jv_object_set(L->stream.summary, jv_string("source"), src);
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

/* The last cl-match stage's matched_role_differs (only with an export role column). */
static void
role_differs(struct load *L, jv s)
{
	jv t = jv_object_get(jv_copy(s), jv_string("tool")), n = jv_invalid();

	if (jv_get_kind(t) == JV_KIND_STRING && strcmp(jv_string_value(t), "cl-match") == 0) {
		n = jv_object_get(jv_copy(s), jv_string("counts"));
		if (jv_get_kind(n) == JV_KIND_OBJECT)
			n = jv_object_get(n, jv_string("matched_role_differs"));
		L->tally.role_differs_known = jv_get_kind(n) == JV_KIND_NUMBER;
		L->tally.role_differs =
		        L->tally.role_differs_known ? (long long)jv_number_value(n) : 0;
	}
	jv_free(n);
	jv_free(t);
}

/* A cl-filter stage's "rejects" (its --rejects file's lines and digest): rejects.c checks it. */
static void
rejects_entry(struct load *L, jv s)
{
	jv t = jv_object_get(jv_copy(s), jv_string("tool"));
	jv r = jv_object_get(jv_copy(s), jv_string("rejects"));

	if (jv_get_kind(t) == JV_KIND_STRING && strcmp(jv_string_value(t), "cl-filter") == 0 &&
	    jv_get_kind(r) == JV_KIND_OBJECT)
		L->stream.rejects = jv_array_append(L->stream.rejects, jv_copy(r));
	jv_free(r);
	jv_free(t);
}

/* The codes the upstream stages reported, in order, each once; cl-match's counts. */
static void
do_trailer(struct pass *p)
{
	struct load *L = p->L;
	jv t = jv_parse_sized(p->ln->p, (int)p->ln->n), stages;
	int i, j, n, m;

	L->stream.complete = cl_reader_upstream_complete(p->r) == 1;
	if (cl_reader_lines_lost(p->r))
		load_error(L, "CL012", "%s:%llu: %s", L->o.input ? L->o.input : "<stdin>",
		           p->ln->lineno, cl_reader_lines_lost(p->r));
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

		if (jv_get_kind(s) == JV_KIND_OBJECT) {
			role_differs(L, s);
			rejects_entry(L, s);
		}
		m = jv_get_kind(errs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(errs)) : 0;
		for (j = 0; j < m; j++) {
			jv e = jv_array_get(jv_copy(errs), j), code;

			code = jv_get_kind(e) == JV_KIND_OBJECT
			               ? jv_object_get(jv_copy(e), jv_string("code"))
			               : jv_invalid();
			if (jv_get_kind(code) == JV_KIND_STRING &&
			    !has_str(L->stream.upstream_codes, jv_string_value(code)))
				L->stream.upstream_codes =
				        jv_array_append(L->stream.upstream_codes, code);
			else
				jv_free(code);
			jv_free(e);
		}
		jv_free(errs);
		jv_free(s);
	}
	jv_free(stages);
}

static void
pass_init(struct pass *p, struct load *L, int fd, const char *name)
{
	size_t k;
	int i, e;

	memset(p, 0, sizeof *p);
	p->L = L;
	p->r = cl_reader_new(fd, name, 0);
	for (i = 0; i < P_N; i++)
		p->idx[i] = cl_reader_want(p->r, paths[i]);
	for (e = 0; e < LOAD_NENT; e++)
		for (k = 0; k < load_model[e].nfield; k++) {
			if (load_model[e].field[k].path)
				p->fidx[e][k] = cl_reader_want(p->r, load_model[e].field[k].path);
			if (load_model[e].field[k].alt)
				p->aidx[e][k] = cl_reader_want(p->r, load_model[e].field[k].alt);
		}
	cl_buf_init(&p->f);
	cl_buf_init(&p->tmp);
	cl_buf_init(&p->id);
	cl_buf_init(&p->a);
	cl_buf_init(&p->b);
}

static void
pass_release(struct pass *p)
{
	cl_buf_release(&p->f);
	cl_buf_release(&p->tmp);
	cl_buf_release(&p->id);
	cl_buf_release(&p->a);
	cl_buf_release(&p->b);
	sqlite3_finalize(p->tbd);
	sqlite3_finalize(p->sess);
	cl_reader_free(p->r);
}

int
load_ingest(struct load *L, int fd, const char *name)
{
	struct pass p;
	struct cl_line ln;
	int rc, err = 0;

	pass_init(&p, L, fd, name);
	p.ln = &ln;
	while (!err && (rc = cl_reader_next(p.r, &ln)) > 0) {
		switch (ln.kind) {
		case CL_K_HEADER:
			do_header(&p);
			break;
		case CL_K_ORG:
			err = do_org(&p) < 0;
			break;
		case CL_K_SESSION:
			err = do_session(&p) < 0;
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

		load_error(L, e->code, "%s", e->msg);
		err = 1;
	}
	/* The header's sync_parents decides; a stream no stage says it of, its parent lines. */
	if (L->stream.parents_opt != 0)
		L->stream.has_parents = L->stream.parents_opt > 0;
	pass_release(&p);
	return err ? -1 : 0;
}
