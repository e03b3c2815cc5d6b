/*
 * rules.c: the School Manager sync rules, decided one line at a time.
 *
 * The stream's order is what makes one pass enough: orgs (which schools are
 * excluded) come before the courses, classes and enrolments that refer to
 * them; sessions (which are current) before classes; classes before their
 * enrolments; enrolments (who has a current one) before the users; the
 * students before the parents linked to them; the users before their
 * demographics. Only IDs and a few flag bits are kept, never a record.
 */
#include <stdlib.h>
#include <string.h>

#include "email.h"
#include "filter.h"

/* orgs: sourcedId -> flags */
#define ORG_SCHOOL 1u
#define ORG_EXCLUDED 2u
/* sessions: sourcedId -> flags (present = in the stream) */
#define SES_CURRENT 1u
/* classes: sourcedId -> flags (present = in the stream) */
#define CLS_KEPT 1u
/* users: sourcedId -> flags (from enrolments, users, students' agents) */
#define U_ENROLLED 1u /* has an enrolment that is not tobedeleted */
#define U_CURRENT 2u  /* ... and one of them is current */
#define U_SEEN 4u     /* its user line was read */
#define U_KEPT 8u     /* ... and kept */
#define U_STUDENT 16u /* a kept student */
#define U_AGENT 32u   /* listed in the agents of a kept student */

enum field {
	F_SID,
	F_STATUS,
	F_TYPE,
	F_IDENT,
	F_START,
	F_BEGIN,
	F_END,
	F_ORG,
	F_SCHOOL,
	F_TERMS,
	F_CLASS,
	F_USER,
	F_ENABLED,
	F_ORGS,
	F_ROLE_ORGS,
	F_AGENTS,
	F_EMAIL,
	F_TERMS_V, /* the values whose type is checked */
	F_ORGS_V,
	F_AGENTS_V,
	F_GRADES_V,
	F_COUNT
};

static const char *const field_paths[F_COUNT] = {
	"data.sourcedId",
	"data.status",
	"data.type",
	"data.identifier",
	"data.startDate",
	"data.beginDate",
	"data.endDate",
	"data.org.sourcedId",
	"data.school.sourcedId",
	"data.terms[].sourcedId",
	"data.class.sourcedId",
	"data.user.sourcedId",
	"data.enabledUser",
	"data.orgs[].sourcedId",
	"data.roles[].org.sourcedId", /* OneRoster 1.2: a user's orgs are its roles' */
	"data.agents[].sourcedId",
	"data.email",
	"data.terms",
	"data.orgs",
	"data.agents",
	"data.grades",
};

static const char *const reason_names[FILTER_COUNT] = {
	"kept",
	"tobedeleted",
	"inactive",
	"bad-date",
	"bad-field",
	"bad-reference",
	"disabled",
	"no-classes",
	"excluded-school",
	"no-current-session",
	"class-dropped",
	"not-current",
	"left",
	"parents-off",
	"parent-no-email",
	"parent-unlinked",
	"user-dropped",
};

static const char *const note_names[N_COUNT] = {
	"class-without-terms",
	"class-terms-not-in-stream",
	"malformed-kept",
};

/* The kinds of records, in stream order, as the counts name them. */
static const enum cl_kind record_kinds[] = {
	CL_K_ORG,        CL_K_SESSION, CL_K_COURSE, CL_K_CLASS,
	CL_K_ENROLLMENT, CL_K_USER,    CL_K_PARENT, CL_K_DEMOGRAPHIC,
};

struct filter {
	const struct filter_opts *o;
	const struct cl_reader *r;
	size_t fld[F_COUNT];
	struct cl_idmap *orgs, *sessions, *classes, *users;
	unsigned long long current_sessions;
	int orgs_done, classes_done;
	unsigned long long kept[CL_K_COUNT];
	unsigned long long dropped[CL_K_COUNT][FILTER_COUNT];
	unsigned long long notes[N_COUNT];
	struct cl_buf tmp[2]; /* decoded strings with escapes */
	const struct cl_json_span *sid;
	struct filter_malformed bad; /* the line's malformed field, if has_bad */
	int has_bad;
	const char *err;
	char errbuf[256];
};

const char *
filter_reason_name(enum filter_reason r)
{
	return r < FILTER_COUNT ? reason_names[r] : "?";
}

const char *
filter_count_kind(enum cl_kind k)
{
	return k == CL_K_PARENT ? "parent" : cl_kind_name(k);
}

struct filter *
filter_new(const struct filter_opts *o, struct cl_reader *r)
{
	struct filter *f = cl_xcalloc(1, sizeof *f);
	size_t i;

	f->o = o;
	f->r = r;
	for (i = 0; i < F_COUNT; i++)
		f->fld[i] = cl_reader_want(r, field_paths[i]);
	f->orgs = cl_idmap_new();
	f->sessions = cl_idmap_new();
	f->classes = cl_idmap_new();
	f->users = cl_idmap_new();
	cl_buf_init(&f->tmp[0]);
	cl_buf_init(&f->tmp[1]);
	return f;
}

void
filter_free(struct filter *f)
{
	if (!f)
		return;
	cl_idmap_free(f->orgs);
	cl_idmap_free(f->sessions);
	cl_idmap_free(f->classes);
	cl_idmap_free(f->users);
	cl_buf_release(&f->tmp[0]);
	cl_buf_release(&f->tmp[1]);
	free(f);
}

const char *
filter_error(const struct filter *f)
{
	return f->err;
}

const struct cl_json_span *
filter_sourced_id(const struct filter *f)
{
	return f->sid;
}

static const struct cl_json_span *
field(const struct filter *f, enum field i)
{
	return cl_reader_field(f->r, f->fld[i]);
}

const struct cl_json_span *
filter_enrolment_class(const struct filter *f)
{
	return field(f, F_CLASS);
}

const struct cl_json_span *
filter_enrolment_user(const struct filter *f)
{
	return field(f, F_USER);
}

static size_t
nfield(const struct filter *f, enum field i)
{
	return cl_json_result_count(cl_reader_result(f->r), f->fld[i]);
}

static const struct cl_json_span *
nth(const struct filter *f, enum field i, size_t k)
{
	return cl_json_result_get(cl_reader_result(f->r), f->fld[i], k);
}

/* 1 when v (n bytes) equals the lower-case lit, ignoring ASCII case. */
static int
ieq(const char *v, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = v[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (lit[i] == '\0' || c != lit[i])
			return 0;
	}
	return lit[n] == '\0';
}

static int
str_ieq(struct filter *f, enum field i, const char *lit)
{
	struct cl_str v;

	return cl_json_strview(field(f, i), &f->tmp[0], &v) == 0 && ieq(v.p, v.n, lit);
}

/* The flags of the ID in the string span s in map m: 0 when absent. */
static uint64_t
flags_of(struct filter *f, struct cl_idmap *m, const struct cl_json_span *s)
{
	const uint64_t *p;
	struct cl_str v;

	if (cl_json_strview(s, &f->tmp[1], &v) < 0)
		return 0;
	p = cl_idmap_get(m, v.p, v.n);
	return p ? *p : 0;
}

/* Sets bits in the flags of the ID in s (a string span) in map m. */
static void
set_flags(struct filter *f, struct cl_idmap *m, const struct cl_json_span *s, uint64_t bits)
{
	struct cl_str v;

	if (cl_json_strview(s, &f->tmp[1], &v) == 0)
		*cl_idmap_put(m, v.p, v.n, NULL) |= bits;
}

static int
fail(struct filter *f, const char *code, const char *msg)
{
	f->err = code;
	snprintf(f->errbuf, sizeof f->errbuf, "%s", msg);
	return -1;
}

const char *
filter_error_message(const struct filter *f)
{
	return f->errbuf;
}

const struct filter_malformed *
filter_malformed(const struct filter *f)
{
	return f->has_bad ? &f->bad : NULL;
}

/*
 * Records a malformed field of the line: the first one, or the first one a
 * rule needs (needed) when an earlier one was not needed.
 */
static void
note_bad(struct filter *f, enum field i, const char *problem, int needed)
{
	if (f->has_bad && (f->bad.rejected || !needed))
		return;
	f->has_bad = 1;
	f->bad.field = strchr(field_paths[i], '.') + 1;
	f->bad.value = field(f, i);
	f->bad.problem = problem;
	f->bad.rejected = needed;
}

/*
 * Reads the two dates of a record (begin, end) into b and e; a date that is
 * not one is noted (needed: a rule reads it) and read as open-ended.
 * Returns 1 when one of them is not a date.
 */
static int
read_dates(struct filter *f, enum field bi, struct cl_day *b, enum field ei, struct cl_day *e,
           int needed)
{
	int bad = 0;

	if (filter_read_date(field(f, bi), &f->tmp[0], b) < 0) {
		note_bad(f, bi, "is not a date (YYYY-MM-DD)", needed);
		b->s[0] = '\0';
		bad = 1;
	}
	if (filter_read_date(field(f, ei), &f->tmp[0], e) < 0) {
		note_bad(f, ei, "is not a date (YYYY-MM-DD)", needed);
		e->s[0] = '\0';
		bad = 1;
	}
	return bad;
}

/* 1 (noted) when the value at i is present and neither null nor a list. */
static int
bad_list(struct filter *f, enum field i, int needed)
{
	const struct cl_json_span *s = field(f, i);

	if (!s || s->type == CL_JSON_NULL || s->type == CL_JSON_ARRAY)
		return 0;
	note_bad(f, i, "is not a list", needed);
	return 1;
}

/*
 * 1 (noted) when the reference whose sourcedId is at i has no non-empty
 * string sourcedId (the reference absent, null, not an object...).
 */
static int
bad_ref(struct filter *f, enum field i)
{
	const struct cl_json_span *s = field(f, i);

	if (s && s->type == CL_JSON_STRING && s->n > 2)
		return 0;
	note_bad(f, i, "is not a non-empty string: the reference is broken", 1);
	return 1;
}

/* FILTER_TOBEDELETED, FILTER_INACTIVE or FILTER_KEEP from the record's status. */
static enum filter_reason
by_status(struct filter *f)
{
	struct cl_str v;

	if (cl_json_strview(field(f, F_STATUS), &f->tmp[0], &v) < 0)
		return FILTER_KEEP;
	if (ieq(v.p, v.n, "tobedeleted"))
		return FILTER_TOBEDELETED;
	if (ieq(v.p, v.n, "inactive"))
		return FILTER_INACTIVE;
	return FILTER_KEEP;
}

/* 1 when the org reference s names an excluded school. */
static int
excluded_ref(struct filter *f, enum field i)
{
	return cl_idmap_count(f->o->exclude) > 0 &&
	       (flags_of(f, f->orgs, field(f, i)) & ORG_EXCLUDED) != 0;
}

/*
 * 1 when every school among the user's orgs is excluded (and there is one):
 * its "orgs" (1.1) and the orgs of its "roles" (1.2).
 */
static int
user_excluded(struct filter *f)
{
	static const enum field lists[] = { F_ORGS, F_ROLE_ORGS };
	size_t i, n, l, schools = 0, excluded = 0;

	if (cl_idmap_count(f->o->exclude) == 0)
		return 0;
	for (l = 0; l < sizeof lists / sizeof *lists; l++) {
		n = nfield(f, lists[l]);
		for (i = 0; i < n; i++) {
			uint64_t fl = flags_of(f, f->orgs, nth(f, lists[l], i));

			if (fl & ORG_SCHOOL) {
				schools++;
				if (fl & ORG_EXCLUDED)
					excluded++;
			}
		}
	}
	return schools > 0 && excluded == schools;
}

/* Marks an exclude ID as used when v names one. */
static int
exclude_hit(struct filter *f, const char *v, size_t n)
{
	uint64_t *p = cl_idmap_get(f->o->exclude, v, n);

	if (!p)
		return 0;
	*p = 1;
	return 1;
}

static enum filter_reason
org(struct filter *f)
{
	enum filter_reason why = by_status(f);
	uint64_t fl = 0;
	struct cl_str v;

	if (!str_ieq(f, F_TYPE, "school"))
		return why;
	fl = ORG_SCHOOL;
	if (cl_idmap_count(f->o->exclude) > 0) {
		int hit = 0;

		if (cl_json_strview(f->sid, &f->tmp[0], &v) == 0)
			hit |= exclude_hit(f, v.p, v.n);
		if (cl_json_strview(field(f, F_IDENT), &f->tmp[0], &v) == 0 && v.n > 0)
			hit |= exclude_hit(f, v.p, v.n);
		if (hit)
			fl |= ORG_EXCLUDED;
	}
	set_flags(f, f->orgs, f->sid, fl);
	if (why == FILTER_KEEP && (fl & ORG_EXCLUDED))
		why = FILTER_EXCLUDED;
	return why;
}

/*
 * A session whose dates cannot be read is rejected under Respect Academic
 * Sessions and left out of the sessions map: its classes judge it as a term
 * that is not in the stream.
 */
static enum filter_reason
session(struct filter *f)
{
	enum filter_reason why = by_status(f);
	struct cl_day b, e;
	uint64_t fl = 0;

	if (why != FILTER_KEEP) {
		if (f->o->sessions)
			set_flags(f, f->sessions, f->sid, 0);
		return why;
	}
	if (read_dates(f, F_START, &b, F_END, &e, f->o->sessions))
		return f->o->sessions ? FILTER_BAD_DATE : FILTER_KEEP;
	if (!f->o->sessions)
		return why;
	if (filter_current(&b, &e, &f->o->as_of)) {
		fl = SES_CURRENT;
		f->current_sessions++;
	}
	set_flags(f, f->sessions, f->sid, fl);
	return why;
}

static enum filter_reason
course(struct filter *f)
{
	enum filter_reason why = by_status(f);

	if (why != FILTER_KEEP)
		return why;
	if (!f->o->classes)
		return FILTER_NO_CLASSES;
	if (excluded_ref(f, F_ORG))
		return FILTER_EXCLUDED;
	return FILTER_KEEP;
}

/* Respect Academic Sessions: FILTER_KEEP or FILTER_NO_SESSION, counting the notes. */
static enum filter_reason
class_terms(struct filter *f)
{
	size_t i, n = nfield(f, F_TERMS), known = 0;

	if (n == 0) {
		f->notes[N_CLASS_NO_TERMS]++;
		return FILTER_KEEP;
	}
	for (i = 0; i < n; i++) {
		const struct cl_json_span *t = nth(f, F_TERMS, i);
		const uint64_t *p;
		struct cl_str v;

		if (cl_json_strview(t, &f->tmp[1], &v) < 0)
			continue;
		p = cl_idmap_get(f->sessions, v.p, v.n);
		if (!p)
			continue;
		if (*p & SES_CURRENT)
			return FILTER_KEEP;
		known++;
	}
	if (known == 0) {
		f->notes[N_CLASS_UNKNOWN_TERMS]++;
		return FILTER_KEEP;
	}
	return FILTER_NO_SESSION;
}

static enum filter_reason
judge_class(struct filter *f)
{
	enum filter_reason why = by_status(f);

	if (why == FILTER_KEEP && !f->o->classes)
		return FILTER_NO_CLASSES;
	if (why == FILTER_KEEP && bad_list(f, F_TERMS_V, f->o->sessions) && f->o->sessions)
		why = FILTER_BAD_FIELD;
	if (why == FILTER_KEEP && excluded_ref(f, F_SCHOOL))
		why = FILTER_EXCLUDED;
	if (why == FILTER_KEEP && f->o->sessions)
		why = class_terms(f);
	if (f->o->classes)
		set_flags(f, f->classes, f->sid, why == FILTER_KEEP ? CLS_KEPT : 0);
	return why;
}

static enum filter_reason
enrollment(struct filter *f)
{
	enum filter_reason why = by_status(f);
	const struct cl_json_span *cls;
	const uint64_t *p;
	struct cl_str v;
	struct cl_day b, e;
	int cur = 1, bad_user, bad_class, bad_dates;

	if (why != FILTER_KEEP)
		return why;
	/* a membership needs both ends: a broken one is rejected whatever the rules */
	bad_user = bad_ref(f, F_USER);
	bad_class = bad_ref(f, F_CLASS);
	bad_dates = read_dates(f, F_BEGIN, &b, F_END, &e, f->o->enrol_dates);
	if (f->o->enrol_dates) {
		/* dates it cannot read never make a student one who left */
		cur = bad_dates || filter_current(&b, &e, &f->o->as_of);
		if (!bad_user)
			set_flags(f, f->users, field(f, F_USER),
			          cur ? U_ENROLLED | U_CURRENT : U_ENROLLED);
	}
	if (!f->o->classes)
		return FILTER_NO_CLASSES;
	if (bad_user || bad_class)
		return FILTER_BAD_REFERENCE;
	if (bad_dates && f->o->enrol_dates)
		return FILTER_BAD_DATE;
	if (excluded_ref(f, F_SCHOOL))
		return FILTER_EXCLUDED;
	cls = field(f, F_CLASS);
	if (cl_json_strview(cls, &f->tmp[1], &v) == 0 && (p = cl_idmap_get(f->classes, v.p, v.n)) &&
	    !(*p & CLS_KEPT))
		return FILTER_CLASS_DROPPED;
	if (!cur)
		return FILTER_NOT_CURRENT;
	return FILTER_KEEP;
}

/*
 * A usable email, judged exactly as cl-match judges one (lib/email.h): not
 * empty once trimmed, not masked or a placeholder.
 */
static int
has_email(struct filter *f)
{
	struct cl_str v;

	if (cl_json_strview(field(f, F_EMAIL), &f->tmp[0], &v) < 0)
		return 0;
	return cl_email_norm(NULL, v.p, v.n, &f->tmp[1]) == CL_EMAIL_OK;
}

static int
disabled(struct filter *f)
{
	const struct cl_json_span *s = field(f, F_ENABLED);

	return s && (s->type == CL_JSON_FALSE || str_ieq(f, F_ENABLED, "false"));
}

static enum filter_reason
user(struct filter *f)
{
	enum filter_reason why = by_status(f);
	uint64_t fl = U_SEEN;
	struct cl_str role;
	/* the role every stage reads (lib/role.h), compared ignoring case as ever */
	int student = cl_json_strview(cl_reader_role_name(f->r), &f->tmp[0], &role) == 0 &&
	              ieq(role.p, role.n, "student");
	int excl = cl_idmap_count(f->o->exclude) > 0;

	(void)bad_list(f, F_GRADES_V, 0);
	(void)bad_list(f, F_AGENTS_V, 0);
	if (why == FILTER_KEEP && bad_list(f, F_ORGS_V, excl) && excl)
		why = FILTER_BAD_FIELD;
	if (why == FILTER_KEEP && disabled(f))
		why = FILTER_DISABLED;
	if (why == FILTER_KEEP && user_excluded(f))
		why = FILTER_EXCLUDED;
	if (why == FILTER_KEEP && student && f->o->enrol_dates) {
		uint64_t e = flags_of(f, f->users, f->sid);

		if ((e & U_ENROLLED) && !(e & U_CURRENT))
			why = FILTER_LEFT;
	}
	if (why == FILTER_KEEP) {
		fl |= U_KEPT;
		if (student) {
			fl |= U_STUDENT;
			if (f->o->parents) {
				size_t i, n = nfield(f, F_AGENTS);

				for (i = 0; i < n; i++)
					set_flags(f, f->users, nth(f, F_AGENTS, i), U_AGENT);
			}
		}
	}
	set_flags(f, f->users, f->sid, fl);
	return why;
}

/* 1 when the parent is linked to a kept student, either way. */
static int
linked(struct filter *f)
{
	size_t i, n;

	if (flags_of(f, f->users, f->sid) & U_AGENT)
		return 1;
	n = nfield(f, F_AGENTS);
	for (i = 0; i < n; i++)
		if (flags_of(f, f->users, nth(f, F_AGENTS, i)) & U_STUDENT)
			return 1;
	return 0;
}

static enum filter_reason
parent(struct filter *f)
{
	enum filter_reason why = by_status(f);
	int excl = cl_idmap_count(f->o->exclude) > 0;

	(void)bad_list(f, F_GRADES_V, 0);
	if (why == FILTER_KEEP && bad_list(f, F_ORGS_V, excl) && excl)
		why = FILTER_BAD_FIELD;
	if (why == FILTER_KEEP && bad_list(f, F_AGENTS_V, f->o->parents) && f->o->parents)
		why = FILTER_BAD_FIELD;
	if (why == FILTER_KEEP && disabled(f))
		why = FILTER_DISABLED;
	if (why == FILTER_KEEP && user_excluded(f))
		why = FILTER_EXCLUDED;
	if (why == FILTER_KEEP && !f->o->parents)
		why = FILTER_PARENTS_OFF;
	if (why == FILTER_KEEP && !has_email(f))
		why = FILTER_PARENT_NO_EMAIL;
	if (why == FILTER_KEEP && !linked(f))
		why = FILTER_PARENT_UNLINKED;
	set_flags(f, f->users, f->sid, why == FILTER_KEEP ? U_SEEN | U_KEPT : U_SEEN);
	return why;
}

static enum filter_reason
demographic(struct filter *f)
{
	enum filter_reason why = by_status(f);
	uint64_t fl;

	if (why != FILTER_KEEP)
		return why;
	fl = flags_of(f, f->users, f->sid);
	if ((fl & U_SEEN) && !(fl & U_KEPT))
		return FILTER_USER_DROPPED;
	return FILTER_KEEP;
}

int
filter_line(struct filter *f, const struct cl_line *ln)
{
	enum filter_reason why;

	f->err = NULL;
	f->has_bad = 0;
	f->sid = field(f, F_SID);
	if (!f->sid || f->sid->type != CL_JSON_STRING)
		return fail(f, "CL207", "a record without a string sourcedId");
	switch (ln->kind) {
	case CL_K_ORG:
		why = org(f);
		break;
	case CL_K_SESSION:
		why = session(f);
		break;
	case CL_K_COURSE:
		why = course(f);
		break;
	case CL_K_CLASS:
		why = judge_class(f);
		break;
	case CL_K_ENROLLMENT:
		why = enrollment(f);
		break;
	case CL_K_USER:
		why = user(f);
		break;
	case CL_K_PARENT:
		why = parent(f);
		break;
	case CL_K_DEMOGRAPHIC:
		why = demographic(f);
		break;
	default:
		return fail(f, "CL090", "internal error: not a record line");
	}
	if (f->err)
		return -1;
	if (f->has_bad) {
		if (why == FILTER_KEEP) {
			f->bad.rejected = 0;
			f->notes[N_MALFORMED_KEPT]++;
		} else if (why == FILTER_BAD_DATE || why == FILTER_BAD_FIELD ||
		           why == FILTER_BAD_REFERENCE) {
			f->bad.rejected = 1;
		} else {
			f->has_bad = 0; /* dropped for another reason: nothing to say */
		}
	}
	if (why == FILTER_KEEP)
		f->kept[ln->kind]++;
	else
		f->dropped[ln->kind][why]++;
	return (int)why;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
filter_section_done(struct filter *f, struct cl_stage *st, enum cl_kind next)
{
	if (!f->orgs_done && next > CL_K_ORG) {
		size_t it = 0, n = 0, k, kn;
		char **ids = NULL;
		const char *key;
		uint64_t val;

		f->orgs_done = 1;
		while (cl_idmap_next(f->o->exclude, &it, &key, &kn, &val))
			if (!val) {
				ids = cl_xreallocarray(ids, n + 1, sizeof *ids);
				ids[n++] = cl_xmemdup(key, kn);
			}
		if (n > 1)
			qsort(ids, n, sizeof *ids, cmp_str);
		for (k = 0; k < n; k++) {
			cl_stage_warn(
			        st, "CL202",
			        "exclude-school '%s' names no school in the stream "
			        "(neither a sourcedId nor an identifier of an org of type school)",
			        ids[k]);
			free(ids[k]);
		}
		free(ids);
	}
	if (!f->classes_done && next > CL_K_CLASS) {
		unsigned long long n = f->dropped[CL_K_CLASS][FILTER_NO_SESSION];

		f->classes_done = 1;
		if (f->o->sessions && f->current_sessions == 0 && n > 0)
			cl_stage_warn(
			        st, "CL203",
			        "no academic session is current on %s: %llu class%s whose terms "
			        "are in the stream dropped (summer, or a rollover in progress?)",
			        f->o->as_of.s, n, n == 1 ? "" : "es");
	}
}

jv
filter_counts(const struct filter *f)
{
	jv kept = jv_object(), dropped = jv_object(), notes = jv_object(), c;
	size_t i, k;

	for (i = 0; i < sizeof record_kinds / sizeof record_kinds[0]; i++) {
		enum cl_kind kd = record_kinds[i];
		jv d = jv_object();
		int any = 0;

		kept = jv_object_set(kept, jv_string(filter_count_kind(kd)),
		                     jv_number((double)f->kept[kd]));
		for (k = 1; k < FILTER_COUNT; k++)
			if (f->dropped[kd][k]) {
				d = jv_object_set(d, jv_string(reason_names[k]),
				                  jv_number((double)f->dropped[kd][k]));
				any = 1;
			}
		if (any)
			dropped = jv_object_set(dropped, jv_string(filter_count_kind(kd)), d);
		else
			jv_free(d);
	}
	for (k = 0; k < N_COUNT; k++)
		notes = jv_object_set(notes, jv_string(note_names[k]),
		                      jv_number((double)f->notes[k]));
	c = jv_object_set(jv_object(), jv_string("kept"), kept);
	c = jv_object_set(c, jv_string("dropped"), dropped);
	return jv_object_set(c, jv_string("notes"), notes);
}
