/*
 * cl-why: "why is this student not in that class?" Follows one user (and
 * optionally one class) through a run folder and prints the story, each
 * statement with the file (and line) it comes from:
 *
 *   fetch.ndjson     fetched or not, from which collection (the user, the
 *                    class and its school, the enrolments of the two)
 *   filter.ndjson    the rules cl-filter applied (its header's options),
 *   rejects.ndjson   and each rule's verdict: kept, or dropped with the
 *                    reason cl-filter wrote (rules are judged in cl-filter's
 *                    order, so the ones before the reason passed)
 *   match.ndjson     matched (the key and the account) or the unmatched reason
 *   changes.ndjson   the change lines that name them
 *   report.json      the sync's status, what cl-load skipped and withheld
 *   the state        what cl-load's state holds now (SQLite, read-only)
 *
 * and, for a membership, why it is or is not there (the first cause, in the
 * pipeline's order). Each file is read once, front to back, in that order;
 * only the lines about the user and the class are kept. The stream files go
 * through the stream reader (lib/stream.h), the others through the JSON
 * scanner. A run folder older than the newest holds NAME.ndjson.zst: those
 * are read through a pipe from zstd -dc (the tool cl-sync already needs;
 * libzstd would be one more build dependency for a read that zstd does as
 * fast, on the other core).
 *
 * The user was given by sourcedId, email or identifier, and users come last
 * in the stream, after the enrolments: the fetch pass resolves the user (and
 * the class: sourcedId, classCode or title) and keeps the enrolments of the
 * candidate classes; the later files are read knowing the sourcedIds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jv.h>
#include <sqlite3.h>

#include "buf.h"
#include "cli.h"
#include "diag.h"
#include "errors.h"
#include "json.h"
#include "stream.h"

#define MAX_LINE ((size_t)64 << 20)
#define LIST_MAX 20 /* the most items of a list the story names one by one */

static const char usage[] = "usage: cl-why --run DIR [--state FILE.db] USER [CLASS]\n";

static const struct cl_opt opts[] = {
	{ 'r', "run", CL_ARG_REQUIRED, "DIR", "the run folder to follow them through (required)" },
	{ 's', "state", CL_ARG_REQUIRED, "FILE.db",
	  "cl-load's state, opened read-only: what it holds now" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-why", usage,
	"Follows USER (sourcedId, email or identifier) and, with CLASS (sourcedId,\n"
	"classCode or title), their membership of it, through a run folder: fetched,\n"
	"filtered, matched, changed, held in the state; every statement names its file.\n",
	opts
};

/* A line kept from a file: its bytes and where it was. */
struct rec {
	char *line;
	unsigned long long lineno;
	char *id;   /* its sourcedId (or what the pass keys it by) */
	char *aux;  /* an enrolment's class; a reject's reason */
	char *aux2; /* an enrolment's user */
};

struct recs {
	struct rec *v;
	size_t n, cap;
};

static void
recs_add(struct recs *r, const char *line, size_t n, unsigned long long lineno, const char *id,
         const char *aux, const char *aux2)
{
	struct rec *e;

	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 8;
		r->v = cl_xreallocarray(r->v, r->cap, sizeof *r->v);
	}
	e = &r->v[r->n++];
	e->line = line ? cl_xmemdup(line, n) : NULL;
	e->lineno = lineno;
	e->id = cl_xstrdup(id ? id : "");
	e->aux = cl_xstrdup(aux ? aux : "");
	e->aux2 = cl_xstrdup(aux2 ? aux2 : "");
}

static void
recs_release(struct recs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].line);
		free(r->v[i].id);
		free(r->v[i].aux);
		free(r->v[i].aux2);
	}
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

static struct rec *
recs_find(const struct recs *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->v[i].id, id) == 0)
			return &r->v[i];
	return NULL;
}

/* One file of the run folder being read: a plain file, or a zstd pipe. */
struct input {
	char name[64]; /* "fetch.ndjson" or "fetch.ndjson.zst", for the story */
	char *path;
	int fd;
	pid_t zstd; /* the decompressor, or 0 */
};

struct why {
	const char *run, *state, *uarg, *carg;
	int check_args;
	/* resolved */
	char *uid;    /* the user's sourcedId: found in the fetch or the state, else uarg */
	char *cid;    /* the class's, or NULL without CLASS */
	char *school; /* the class's school (fetch), or NULL */
	int u_parent; /* the user is a parent (its lines are parent lines, its record a contact) */
	/* fetch.ndjson */
	struct recs f_users, f_classes, f_enrols, f_orgs;
	struct rec *fu, *fc; /* the user's and the class's line, or NULL */
	unsigned long long f_nusers;
	int f_read, f_complete;
	char f_name[64];
	/* filter.ndjson */
	int k_read;
	char k_name[64];
	char *k_header;                               /* its header line: cl-filter's options */
	unsigned long long k_user, k_class, k_school; /* line numbers, 0: not kept */
	struct recs k_enrols; /* kept enrolments of the user (in the class, with CLASS) */
	/* rejects.ndjson */
	int r_read;
	char r_name[64];
	struct recs r_ids;    /* rejects of the user, the class, the orgs (id: "kind/sourcedId") */
	struct recs r_enrols; /* dropped enrolments of the user (in the class) */
	/* match.ndjson */
	int m_read, m_class;
	int m_unmatched; /* cl-match could not match the user */
	char m_name[64];
	struct rec *m_user; /* (owned: m_recs) */
	struct recs m_recs;
	/* changes.ndjson */
	int c_read;
	char c_name[64];
	struct recs c_lines;
	/* report.json */
	jv report;
	/* the story's verdict on a membership, decided as the files are read */
	struct cl_buf verdict;
	struct cl_buf
	        withheld;    /* the membership's removal withheld: the code and what it follows */
	int s_member;        /* the state has the membership: 1, 0, -1 not known */
	int s_user;          /* the state has the user (contact): 1, 0, -1 not known */
	char u_cause[512];   /* why the user did not reach School Manager, or "" */
	char u_withheld[16]; /* the code that withheld the user's deletion, or "" */
	int e_role_other;    /* the enrolment's role is neither student nor teacher */
	int found_anywhere;
};

/* --- the story ---------------------------------------------------------------------- */

static void say(const char *file, unsigned long long line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* One statement: "FILE:LINE: ..." (LINE 0: "FILE: ..."). */
static void
say(const char *file, unsigned long long line, const char *fmt, ...)
{
	va_list ap;

	if (line)
		printf("%s:%llu: ", file, line);
	else
		printf("%s: ", file);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void because(struct why *W, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the membership's verdict, unless an earlier stage already decided it. */
static void
because(struct why *W, const char *fmt, ...)
{
	va_list ap;

	if (W->verdict.len)
		return;
	va_start(ap, fmt);
	cl_buf_vaddf(&W->verdict, fmt, ap);
	va_end(ap);
}

/* --- reading the run folder --------------------------------------------------------- */

/*
 * Opens NAME in the run folder, or NAME.zst through zstd -dc. Returns 1 when
 * it is open, 0 when neither exists, or the status of the failure reported.
 * Without spawn, a .zst is only opened (zstd is not started).
 * The plain file wins: both exist for a moment while zstd --rm compresses.
 */
static int
in_open(const struct why *W, const char *name, struct input *in, int spawn)
{
	struct cl_buf p = CL_BUF_INIT;
	int pfd[2];

	memset(in, 0, sizeof *in);
	in->fd = -1;
	cl_buf_addf(&p, "%s/%s", W->run, name);
	snprintf(in->name, sizeof in->name, "%s", name);
	if ((in->fd = open(p.p, O_RDONLY | O_CLOEXEC)) >= 0) {
		in->path = cl_buf_detach(&p, NULL);
		return 1;
	}
	if (errno != ENOENT) {
		int st = cl_fail("CL550", "cannot open '%s':", p.p);
		cl_buf_release(&p);
		return st;
	}
	cl_buf_adds(&p, ".zst");
	snprintf(in->name, sizeof in->name, "%s.zst", name);
	if (access(p.p, F_OK) != 0) {
		int st = errno == ENOENT ? 0 : cl_fail("CL550", "cannot open '%s':", p.p);
		cl_buf_release(&p);
		return st;
	}
	if ((in->fd = open(p.p, O_RDONLY | O_CLOEXEC)) < 0) {
		int st = cl_fail("CL550", "cannot open '%s':", p.p);
		cl_buf_release(&p);
		return st;
	}
	in->path = cl_buf_detach(&p, NULL);
	if (!spawn) /* --check-args, or the run folder's check: it can be opened */
		return 1;
	if (pipe(pfd) < 0 || fcntl(pfd[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(pfd[1], F_SETFD, FD_CLOEXEC) < 0) {
		close(in->fd);
		in->fd = -1;
		return cl_fail("CL553", "'%s': cannot start zstd:", in->path);
	}
	fflush(stdout);
	if ((in->zstd = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		close(in->fd);
		in->fd = -1;
		return cl_fail("CL553", "'%s': cannot start zstd:", in->path);
	}
	if (in->zstd == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(in->fd, 0);
		dup2(pfd[1], 1);
		if (null >= 0) /* its own message is not ours: CL553 says it */
			dup2(null, 2);
		execlp("zstd", "zstd", "-dcq", NULL);
		_exit(127);
	}
	close(pfd[1]);
	close(in->fd);
	in->fd = pfd[0];
	return 1;
}

/*
 * Closes it; for a zstd pipe, waits for zstd. Returns 0, or the status of CL553 reported when zstd
 * failed on a file read to its end.
 */
static int
in_close(struct input *in, int whole)
{
	int st = 0, ws;

	if (in->fd >= 0)
		close(in->fd);
	in->fd = -1;
	if (in->zstd > 0) {
		/*
		 * Our end is closed: a zstd still writing (the pass stopped early)
		 * dies of SIGPIPE. Not killed: one that failed may close its
		 * output before it exits 1, and its status is what says so.
		 */
		while (waitpid(in->zstd, &ws, 0) < 0 && errno == EINTR)
			;
		/* one that failed on its own says the file is damaged, whole or not */
		if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127)
			st = cl_fail("CL553",
			             "'%s': cannot run zstd to decompress it: is it installed?",
			             in->path);
		else if ((WIFEXITED(ws) && WEXITSTATUS(ws) != 0) || (whole && !WIFEXITED(ws)))
			st = cl_fail("CL553", "'%s': zstd could not decompress it (%s %d)",
			             in->path, WIFEXITED(ws) ? "exit status" : "signal",
			             WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
		in->zstd = 0;
	}
	free(in->path);
	in->path = NULL;
	return st;
}

/* A stream file's reading error, as CL553 with the reader's own code and message. */
static int
stream_fail(const struct input *in, const struct cl_reader *r)
{
	const struct cl_stream_err *e = cl_reader_error(r);

	return cl_fail("CL553", "%s: %s: %s", in->name, e->code, e->msg);
}

/* The decoded string at a span, or "" (into b). */
static const char *
sv(const struct cl_json_span *s, struct cl_buf *b)
{
	if (cl_json_str_set(s, b) < 0)
		cl_buf_reset(b);
	return b->p;
}

/* A string member of a JSON object as a C string: "" when absent or not a string. */
static const char *
js(jv o, const char *key, struct cl_buf *b)
{
	jv v;

	cl_buf_reset(b);
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return b->p;
	v = jv_object_get(jv_copy(o), jv_string(key));
	if (jv_get_kind(v) == JV_KIND_STRING)
		cl_buf_adds(b, jv_string_value(v));
	else if (jv_get_kind(v) == JV_KIND_NUMBER || jv_get_kind(v) == JV_KIND_TRUE ||
	         jv_get_kind(v) == JV_KIND_FALSE) {
		jv d = jv_dump_string(jv_copy(v), 0);
		cl_buf_adds(b, jv_string_value(d));
		jv_free(d);
	}
	jv_free(v);
	return b->p;
}

/* A kept line's "data" (or the line itself when data is NULL). Owned. */
static jv
line_data(const char *line, const char *key)
{
	jv l = jv_parse(line), d;

	if (!key || jv_get_kind(l) != JV_KIND_OBJECT)
		return l;
	d = jv_object_get(l, jv_string(key));
	return d;
}

/* --- fetch.ndjson --------------------------------------------------------------------- */

enum { F_ID, F_EMAIL, F_IDENT, F_CODE, F_TITLE, F_EUSER, F_ECLASS, F_NAME, F_TYPE, F_N };

static const char *const f_paths[F_N] = {
	"data.sourcedId",       "data.email", "data.identifier",
	"data.classCode",       "data.title", "data.user.sourcedId",
	"data.class.sourcedId", "data.name",  "data.type",
};

/* 1 when the email at s equals arg, ignoring ASCII case and blanks around it. */
static int
email_eq(const char *s, const char *arg)
{
	size_t n, m;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	m = strlen(arg);
	return n && n == m && strncasecmp(s, arg, n) == 0;
}

static int
pass_fetch(struct why *W)
{
	struct input in;
	struct cl_reader *r = NULL;
	struct cl_line ln;
	struct cl_buf a = CL_BUF_INIT, b = CL_BUF_INIT, c = CL_BUF_INIT;
	size_t idx[F_N], i;
	int st, rc;

	if ((st = in_open(W, "fetch.ndjson", &in, !W->check_args)) != 1)
		return st;
	snprintf(W->f_name, sizeof W->f_name, "%s", in.name);
	W->f_read = 1;
	r = cl_reader_new(in.fd, in.name, MAX_LINE);
	for (i = 0; i < F_N; i++)
		idx[i] = cl_reader_want(r, f_paths[i]);
	while ((rc = cl_reader_next(r, &ln)) == 1) {
		const char *id = sv(cl_reader_field(r, idx[F_ID]), &a);

		switch (ln.kind) {
		case CL_K_ORG:
			recs_add(&W->f_orgs, ln.p, ln.n, ln.lineno, id,
			         sv(cl_reader_field(r, idx[F_NAME]), &b),
			         sv(cl_reader_field(r, idx[F_TYPE]), &c));
			break;
		case CL_K_CLASS:
			if (W->carg &&
			    (strcmp(id, W->carg) == 0 ||
			     strcmp(sv(cl_reader_field(r, idx[F_CODE]), &b), W->carg) == 0 ||
			     strcmp(sv(cl_reader_field(r, idx[F_TITLE]), &b), W->carg) == 0))
				recs_add(&W->f_classes, ln.p, ln.n, ln.lineno, id, NULL, NULL);
			break;
		case CL_K_ENROLLMENT:
			if (W->f_classes.n &&
			    recs_find(&W->f_classes, sv(cl_reader_field(r, idx[F_ECLASS]), &b)))
				recs_add(&W->f_enrols, ln.p, ln.n, ln.lineno, id, b.p,
				         sv(cl_reader_field(r, idx[F_EUSER]), &c));
			break;
		case CL_K_USER:
		case CL_K_PARENT:
			W->f_nusers++;
			if (strcmp(id, W->uarg) == 0 ||
			    strcmp(sv(cl_reader_field(r, idx[F_IDENT]), &b), W->uarg) == 0 ||
			    (strchr(W->uarg, '@') &&
			     email_eq(sv(cl_reader_field(r, idx[F_EMAIL]), &b), W->uarg)))
				recs_add(&W->f_users, ln.p, ln.n, ln.lineno, id,
				         ln.kind == CL_K_PARENT ? "parent" : "", NULL);
			break;
		case CL_K_TRAILER:
			W->f_complete = cl_reader_upstream_complete(r) == 1;
			break;
		default:
			break;
		}
	}
	/* zstd's failure first: a stream cut short is what a corrupt .zst looks like */
	st = in_close(&in, rc >= 0);
	if (!st && rc < 0)
		st = stream_fail(&in, r);
	cl_reader_free(r);
	rc = 0;
	cl_buf_release(&a);
	cl_buf_release(&b);
	cl_buf_release(&c);
	return st;
}

/* The org's line kept by the fetch pass, or NULL. */
static struct rec *
org_of(const struct why *W, const char *id)
{
	return recs_find(&W->f_orgs, id);
}

/* Appends "ID (Name)" for an org, or just ID. */
static void
add_org(struct cl_buf *o, const struct why *W, const char *id)
{
	struct rec *g = org_of(W, id);

	if (g && g->aux[0])
		cl_buf_addf(o, "%s (%s)", id, g->aux);
	else
		cl_buf_adds(o, id);
}

/* Appends the sourcedIds of an array of references (orgs, terms), ", " between. */
static void
add_refs(struct cl_buf *o, const struct why *W, jv arr, int orgs)
{
	int i, n = jv_get_kind(arr) == JV_KIND_ARRAY ? jv_array_length(jv_copy(arr)) : 0;
	struct cl_buf b = CL_BUF_INIT;

	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(arr), i);

		if (i)
			cl_buf_adds(o, ", ");
		js(e, "sourcedId", &b);
		if (orgs)
			add_org(o, W, b.p);
		else
			cl_buf_adds(o, b.p);
		jv_free(e);
	}
	if (!n)
		cl_buf_adds(o, "none");
	cl_buf_release(&b);
}

/*
 * After the fetch pass: which user and which class were meant. Returns -1
 * to go on, or the status of CL551 (several match: give a sourcedId).
 */
static int
resolve(struct why *W)
{
	struct cl_buf m = CL_BUF_INIT;
	size_t i, n;
	int st;

	if (W->f_users.n > 1 && recs_find(&W->f_users, W->uarg))
		W->fu = recs_find(&W->f_users, W->uarg);
	else if (W->f_users.n == 1)
		W->fu = &W->f_users.v[0];
	else if (W->f_users.n > 1) {
		for (i = 0; i < W->f_users.n && i < LIST_MAX; i++)
			cl_buf_addf(&m, "%s%s (line %llu)", i ? ", " : "", W->f_users.v[i].id,
			            W->f_users.v[i].lineno);
		if (W->f_users.n > LIST_MAX)
			cl_buf_addf(&m, " and %zu more", W->f_users.n - LIST_MAX);
		st = cl_fail("CL551", "user '%s' names %zu users of %s: %s; give a sourcedId",
		             W->uarg, W->f_users.n, W->f_name, m.p);
		cl_buf_release(&m);
		return st;
	}
	if (W->fu) {
		W->uid = cl_xstrdup(W->fu->id);
		W->u_parent = W->fu->aux[0] != '\0';
	}
	if (!W->carg)
		return -1;
	if (W->f_classes.n > 1 && recs_find(&W->f_classes, W->carg))
		W->fc = recs_find(&W->f_classes, W->carg);
	else if (W->f_classes.n == 1)
		W->fc = &W->f_classes.v[0];
	else if (W->f_classes.n > 1) {
		/* a title many classes share: the one the user is enrolled in */
		for (i = n = 0; W->uid && i < W->f_classes.n; i++) {
			size_t j;

			for (j = 0; j < W->f_enrols.n; j++)
				if (strcmp(W->f_enrols.v[j].aux, W->f_classes.v[i].id) == 0 &&
				    strcmp(W->f_enrols.v[j].aux2, W->uid) == 0)
					break;
			if (j < W->f_enrols.n) {
				W->fc = &W->f_classes.v[i];
				n++;
			}
		}
		if (n != 1) {
			for (i = 0; i < W->f_classes.n && i < LIST_MAX; i++)
				cl_buf_addf(&m, "%s%s (line %llu)", i ? ", " : "",
				            W->f_classes.v[i].id, W->f_classes.v[i].lineno);
			if (W->f_classes.n > LIST_MAX)
				cl_buf_addf(&m, " and %zu more", W->f_classes.n - LIST_MAX);
			st = cl_fail("CL551",
			             "class '%s' names %zu classes of %s%s: %s; give a sourcedId",
			             W->carg, W->f_classes.n, W->f_name,
			             n ? ", the user is in several of them" : "", m.p);
			cl_buf_release(&m);
			return st;
		}
	}
	if (W->fc) {
		jv d = line_data(W->fc->line, "data");
		jv s = jv_object_get(jv_copy(d), jv_string("school"));

		W->cid = cl_xstrdup(W->fc->id);
		js(s, "sourcedId", &m);
		W->school = m.len ? cl_xstrdup(m.p) : NULL;
		jv_free(s);
		jv_free(d);
	}
	cl_buf_release(&m);
	return -1;
}

/* --- the state (read first when the fetch does not have the user) -------------------- */

static sqlite3 *
state_open(const struct why *W, int *st)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long app = -1;

	*st = -1;
	if (!W->state)
		return NULL;
	if (sqlite3_open_v2(W->state, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		*st = cl_fail("CL554", "cannot open the state '%s' read-only: %s", W->state,
		              db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		app = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (app != 0x434c4c44) {
		*st = cl_fail("CL554", "'%s' is not a cl-load state%s", W->state,
		              app < 0 ? ": it cannot be read" : "");
		sqlite3_close(db);
		return NULL;
	}
	if (W->check_args) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* The state's record (fields JSON, sync) of entity e and id: 1 found, 0 not, -1 error. */
static int
state_rec(sqlite3 *db, int e, const char *id, struct cl_buf *fields, long long *sync)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT fields, sync FROM records WHERE entity = ?1 AND id = ?2",
	                       -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int(s, 1, e);
	sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		cl_buf_reset(fields);
		if (sqlite3_column_text(s, 0))
			cl_buf_adds(fields, (const char *)sqlite3_column_text(s, 0));
		*sync = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* A user the fetch lacks: the state's user (or contact) by id, or by identifier. */
static void
state_resolve(struct why *W, sqlite3 *db)
{
	sqlite3_stmt *s = NULL;

	if (!db || W->uid)
		return;
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, entity FROM records WHERE entity IN (0, 3) AND"
	                       " (id = ?1 OR json_extract(fields, '$.identifier') = ?1)"
	                       " ORDER BY id = ?1 DESC, entity LIMIT 1",
	                       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, W->uarg, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW) {
			W->uid = cl_xstrdup((const char *)sqlite3_column_text(s, 0));
			W->u_parent = sqlite3_column_int(s, 1) == 3;
		}
	}
	sqlite3_finalize(s);
	if (!W->carg || W->cid)
		return;
	if (sqlite3_prepare_v2(
	            db,
	            "SELECT id FROM records WHERE entity = 1 AND (id = ?1 OR"
	            " json_extract(fields, '$.classCode') = ?1 OR"
	            " json_extract(fields, '$.title') = ?1) ORDER BY id = ?1 DESC LIMIT 1",
	            -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, W->carg, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			W->cid = cl_xstrdup((const char *)sqlite3_column_text(s, 0));
	}
	sqlite3_finalize(s);
}

/* --- telling the fetch ------------------------------------------------------------------ */

static void
tell_fetch(struct why *W)
{
	struct cl_buf o = CL_BUF_INIT, b = CL_BUF_INIT;
	size_t i, n = 0;

	if (!W->f_read) {
		say("fetch.ndjson", 0, "not in the run folder: what was fetched is not known");
		return;
	}
	W->found_anywhere |= W->fu != NULL;
	if (W->fu) {
		jv d = line_data(W->fu->line, "data");
		jv orgs = jv_object_get(jv_copy(d), jv_string("orgs"));

		cl_buf_addf(&o, "fetched from the users collection: %s %s", js(d, "role", &b),
		            W->uid);
		cl_buf_addf(&o, " \"%s", js(d, "givenName", &b));
		cl_buf_addf(&o, " %s\"", js(d, "familyName", &b));
		cl_buf_addf(&o, ", email '%s'", js(d, "email", &b));
		cl_buf_addf(&o, ", identifier '%s'", js(d, "identifier", &b));
		cl_buf_addf(&o, ", status %s", js(d, "status", &b)[0] ? b.p : "(none)");
		cl_buf_addf(&o, ", enabledUser %s", js(d, "enabledUser", &b)[0] ? b.p : "(none)");
		cl_buf_adds(&o, ", orgs ");
		add_refs(&o, W, orgs, 1);
		say(W->f_name, W->fu->lineno, "%s", o.p);
		jv_free(orgs);
		jv_free(d);
	} else {
		say(W->f_name, 0,
		    "no user whose sourcedId, email or identifier is '%s' among the %llu users "
		    "fetched from the users collection%s",
		    W->uarg, W->f_nusers,
		    W->f_complete ? " (its trailer says the fetch was complete)"
		                  : ": the fetch was not complete (its trailer), so the SIS may "
		                    "have it");
	}
	if (!W->carg)
		goto out;
	if (W->fc) {
		jv d = line_data(W->fc->line, "data");
		jv t = jv_object_get(jv_copy(d), jv_string("terms"));

		cl_buf_reset(&o);
		cl_buf_addf(&o, "fetched from the classes collection: class %s \"%s\"", W->cid,
		            js(d, "title", &b));
		cl_buf_addf(&o, ", classCode '%s', school ", js(d, "classCode", &b));
		if (W->school)
			add_org(&o, W, W->school);
		else
			cl_buf_adds(&o, "none");
		cl_buf_adds(&o, ", terms ");
		add_refs(&o, W, t, 0);
		say(W->f_name, W->fc->lineno, "%s", o.p);
		jv_free(t);
		jv_free(d);
	} else {
		say(W->f_name, 0, "no class whose sourcedId, classCode or title is '%s'", W->carg);
		because(W, "the class is not in the fetch: the SIS did not send it");
	}
	if (!W->fc || !W->uid)
		goto out;
	for (i = 0; i < W->f_enrols.n; i++) {
		struct rec *e = &W->f_enrols.v[i];
		jv d;

		if (strcmp(e->aux, W->cid) != 0 || strcmp(e->aux2, W->uid) != 0)
			continue;
		n++;
		d = line_data(e->line, "data");
		js(d, "role", &b);
		if (strcmp(b.p, "student") != 0 && strcmp(b.p, "teacher") != 0)
			W->e_role_other = 1;
		cl_buf_reset(&o);
		cl_buf_addf(&o,
		            "fetched from the enrollments collection: enrolment %s, user %s in "
		            "class %s as %s",
		            e->id, W->uid, W->cid, js(d, "role", &b));
		cl_buf_addf(&o, ", status %s", js(d, "status", &b));
		cl_buf_addf(&o, ", from %s", js(d, "beginDate", &b)[0] ? b.p : "(open)");
		cl_buf_addf(&o, " to %s", js(d, "endDate", &b)[0] ? b.p : "(open)");
		say(W->f_name, e->lineno, "%s", o.p);
		jv_free(d);
	}
	if (!n) {
		say(W->f_name, 0, "no enrolment of user %s in class %s", W->uid, W->cid);
		because(W, "the SIS does not enrol user %s in class %s (no enrolment in %s)",
		        W->uid, W->cid, W->f_name);
	}
out:
	cl_buf_release(&o);
	cl_buf_release(&b);
}

/* --- filter.ndjson and rejects.ndjson ------------------------------------------------- */

static int
pass_filter(struct why *W)
{
	struct input in;
	struct cl_reader *r;
	struct cl_line ln;
	struct cl_buf a = CL_BUF_INIT, b = CL_BUF_INIT, c = CL_BUF_INIT;
	size_t i_id, i_u, i_c;
	int st, rc;

	if ((st = in_open(W, "filter.ndjson", &in, !W->check_args)) != 1)
		return st;
	snprintf(W->k_name, sizeof W->k_name, "%s", in.name);
	W->k_read = 1;
	r = cl_reader_new(in.fd, in.name, MAX_LINE);
	i_id = cl_reader_want(r, "data.sourcedId");
	i_u = cl_reader_want(r, "data.user.sourcedId");
	i_c = cl_reader_want(r, "data.class.sourcedId");
	while ((rc = cl_reader_next(r, &ln)) == 1) {
		const char *id;

		if (ln.kind == CL_K_HEADER) {
			W->k_header = cl_xmemdup(ln.p, ln.n);
			continue;
		}
		id = sv(cl_reader_field(r, i_id), &a);
		switch (ln.kind) {
		case CL_K_ORG:
			if (W->school && strcmp(id, W->school) == 0)
				W->k_school = ln.lineno;
			break;
		case CL_K_CLASS:
			if (W->cid && strcmp(id, W->cid) == 0)
				W->k_class = ln.lineno;
			break;
		case CL_K_ENROLLMENT:
			if (W->uid && strcmp(sv(cl_reader_field(r, i_u), &b), W->uid) == 0 &&
			    (!W->cid || strcmp(sv(cl_reader_field(r, i_c), &c), W->cid) == 0))
				recs_add(&W->k_enrols, NULL, 0, ln.lineno, id,
				         sv(cl_reader_field(r, i_c), &c), NULL);
			break;
		case CL_K_USER:
		case CL_K_PARENT:
			if (W->uid && strcmp(id, W->uid) == 0)
				W->k_user = ln.lineno;
			break;
		default:
			break;
		}
	}
	/* zstd's failure first: a stream cut short is what a corrupt .zst looks like */
	st = in_close(&in, rc >= 0);
	if (!st && rc < 0)
		st = stream_fail(&in, r);
	cl_reader_free(r);
	rc = 0;
	cl_buf_release(&a);
	cl_buf_release(&b);
	cl_buf_release(&c);
	return st;
}

static int
pass_rejects(struct why *W)
{
	static const char *const paths[] = { "kind", "sourcedId", "reason", "class", "user" };
	struct cl_json_query *q = cl_json_query_new(paths, 5);
	struct cl_json_result *res = cl_json_result_new(q);
	struct cl_buf k = CL_BUF_INIT, id = CL_BUF_INIT, why = CL_BUF_INIT, c = CL_BUF_INIT,
	              u = CL_BUF_INIT, key = CL_BUF_INIT;
	struct input in;
	struct cl_json_err err;
	unsigned long long lineno = 0, bad = 0;
	char *line = NULL;
	int rerr;
	size_t cap = 0;
	ssize_t n;
	FILE *f = NULL;
	int st;

	if ((st = in_open(W, "rejects.ndjson", &in, !W->check_args)) != 1)
		goto done;
	st = 0;
	snprintf(W->r_name, sizeof W->r_name, "%s", in.name);
	W->r_read = 1;
	if (!(f = fdopen(in.fd, "r"))) {
		st = cl_fail("CL553", "%s: cannot read it:", in.name);
		in_close(&in, 0);
		goto done;
	}
	in.fd = -1; /* the FILE has it */
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (cl_json_scan(q, line, (size_t)n, res, &err) < 0) {
			bad = lineno;
			break;
		}
		sv(cl_json_result_first(res, 0), &k);
		sv(cl_json_result_first(res, 1), &id);
		sv(cl_json_result_first(res, 2), &why);
		if (strcmp(k.p, "enrollment") == 0) {
			sv(cl_json_result_first(res, 3), &c);
			sv(cl_json_result_first(res, 4), &u);
			if (W->uid && strcmp(u.p, W->uid) == 0 &&
			    (!W->cid || strcmp(c.p, W->cid) == 0))
				recs_add(&W->r_enrols, NULL, 0, lineno, id.p, why.p, c.p);
			continue;
		}
		if ((strcmp(k.p, "user") == 0 && W->uid && strcmp(id.p, W->uid) == 0) ||
		    (strcmp(k.p, "class") == 0 && W->cid && strcmp(id.p, W->cid) == 0) ||
		    strcmp(k.p, "org") == 0) {
			cl_buf_reset(&key);
			cl_buf_addf(&key, "%s/%s", k.p, id.p);
			recs_add(&W->r_ids, NULL, 0, lineno, key.p, why.p, NULL);
		}
	}
	rerr = ferror(f) ? errno : 0;
	fclose(f);
	/* zstd's failure first: a line cut short is what a corrupt .zst looks like */
	if (!(st = in_close(&in, !bad && !rerr))) {
		if (bad)
			st = cl_fail("CL553", "%s:%llu: invalid JSON at byte %zu: %s", in.name, bad,
			             err.off + 1, err.msg);
		else if (rerr)
			st = cl_fail("CL553", "%s: cannot read it: %s", in.name, strerror(rerr));
	}
done:
	free(line);
	cl_json_result_free(res);
	cl_json_query_free(q);
	cl_buf_release(&k);
	cl_buf_release(&id);
	cl_buf_release(&why);
	cl_buf_release(&c);
	cl_buf_release(&u);
	cl_buf_release(&key);
	return st;
}

/* The reject of kind/id, or NULL. */
static struct rec *
reject_of(const struct why *W, const char *kind, const char *id)
{
	struct cl_buf k = CL_BUF_INIT;
	struct rec *r;

	cl_buf_addf(&k, "%s/%s", kind, id);
	r = recs_find(&W->r_ids, k.p);
	cl_buf_release(&k);
	return r;
}

/*
 * cl-filter's rules, in the order it judges them (cl-filter(1), Order of the
 * reasons): a record dropped is named with the first reason that applied, so
 * the rules before it passed, and the ones after it were not reached.
 */
struct rule {
	const char *reasons; /* the reasons this rule gives, space-separated */
	const char *name;    /* the rule, as the integration's options name it */
	const char *option;  /* its key in cl-filter's header options, or NULL: always on */
	const char *meaning; /* what a drop by it means */
};

static const struct rule user_rules[] = {
	{ "tobedeleted inactive", "status", NULL, "the SIS marks the user deleted or inactive" },
	{ "disabled", "enabledUser", NULL, "the SIS disables the user (enabledUser false)" },
	{ "excluded-school", "Exclude Schools", "exclude_schools",
	  "every school of the user is excluded" },
	{ "left", "Respect Enrolment Date", "respect_enrolment_date",
	  "a student with enrolments, none of them current: left, or not started" },
	{ NULL, NULL, NULL, NULL },
};

static const struct rule parent_rules[] = {
	{ "tobedeleted inactive", "status", NULL, "the SIS marks the user deleted or inactive" },
	{ "disabled", "enabledUser", NULL, "the SIS disables the user (enabledUser false)" },
	{ "excluded-school", "Exclude Schools", "exclude_schools",
	  "every school of the user is excluded" },
	{ "parents-off", "Sync Parent Data", "sync_parents", "Sync Parent Data is off" },
	{ "parent-no-email", "parent's email", "sync_parents",
	  "the parent has no usable email (empty or masked)" },
	{ "parent-unlinked", "parent's students", "sync_parents",
	  "the parent is linked to no kept student" },
	{ NULL, NULL, NULL, NULL },
};

static const struct rule class_rules[] = {
	{ "tobedeleted inactive", "status", NULL, "the SIS marks the class deleted or inactive" },
	{ "no-classes", "Sync Classroom Data", "sync_classes", "Sync Classroom Data is off" },
	{ "excluded-school", "Exclude Schools", "exclude_schools", "its school is excluded" },
	{ "no-current-session", "Respect Academic Sessions", "respect_academic_sessions",
	  "none of its terms is current on the as-of date" },
	{ NULL, NULL, NULL, NULL },
};

static const struct rule enrol_rules[] = {
	{ "tobedeleted inactive", "status", NULL,
	  "the SIS marks the enrolment deleted or inactive" },
	{ "no-classes", "Sync Classroom Data", "sync_classes", "Sync Classroom Data is off" },
	{ "excluded-school", "Exclude Schools", "exclude_schools", "its school is excluded" },
	{ "class-dropped", "its class", NULL, "its class was dropped" },
	{ "not-current", "Respect Enrolment Date", "respect_enrolment_date",
	  "not current on the as-of date" },
	{ NULL, NULL, NULL, NULL },
};

/* 1 when the space-separated list has word w. */
static int
has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	while (*list) {
		if (strncmp(list, w, n) == 0 && (list[n] == ' ' || list[n] == '\0'))
			return 1;
		list = strchr(list, ' ');
		if (!list)
			break;
		list++;
	}
	return 0;
}

/* Whether cl-filter ran with the rule on, and how, from its header options. */
static void
rule_state(jv o, const struct rule *ru, struct cl_buf *b)
{
	jv v;

	cl_buf_reset(b);
	if (!ru->option) {
		cl_buf_adds(b, "always on");
		return;
	}
	v = jv_get_kind(o) == JV_KIND_OBJECT ? jv_object_get(jv_copy(o), jv_string(ru->option))
	                                     : jv_invalid();
	switch (jv_get_kind(v)) {
	case JV_KIND_TRUE:
		cl_buf_adds(b, "on");
		break;
	case JV_KIND_ARRAY:
		if (jv_array_length(jv_copy(v)) == 0) {
			cl_buf_adds(b, "off");
		} else {
			jv d = jv_dump_string(jv_copy(v), 0);
			cl_buf_addf(b, "on: %s", jv_string_value(d));
			jv_free(d);
		}
		break;
	case JV_KIND_FALSE:
	case JV_KIND_NULL:
		cl_buf_adds(b, "off");
		break;
	default:
		cl_buf_adds(b, "not in cl-filter's options");
		break;
	}
	jv_free(v);
}

/* cl-filter's options, from filter.ndjson's header (its cl-filter stage). Owned. */
static jv
filter_options(const struct why *W)
{
	jv h, st, o = jv_null();
	int i, n;

	if (!W->k_header)
		return o;
	h = jv_parse(W->k_header);
	st = jv_get_kind(h) == JV_KIND_OBJECT ? jv_object_get(jv_copy(h), jv_string("stages"))
	                                      : jv_invalid();
	n = jv_get_kind(st) == JV_KIND_ARRAY ? jv_array_length(jv_copy(st)) : 0;
	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(st), i);
		jv t = jv_object_get(jv_copy(s), jv_string("tool"));

		if (jv_get_kind(t) == JV_KIND_STRING &&
		    strcmp(jv_string_value(t), "cl-filter") == 0) {
			jv_free(o);
			o = jv_object_get(jv_copy(s), jv_string("options"));
		}
		jv_free(t);
		jv_free(s);
	}
	jv_free(st);
	jv_free(h);
	return o;
}

/*
 * Tells cl-filter's verdict on one record: kept (its line in filter.ndjson),
 * or dropped (its line in rejects.ndjson), then each rule's. Returns 1 when
 * it was dropped.
 */
static int
tell_verdict(struct why *W, jv o, const struct rule *rules, const char *what, const char *id,
             unsigned long long kept, const struct rec *rej)
{
	struct cl_buf b = CL_BUF_INIT, line = CL_BUF_INIT;
	const struct rule *ru;
	int hit = 0;

	if (kept)
		say(W->k_name, kept, "cl-filter kept %s %s", what, id);
	else if (rej)
		say(W->r_name, rej->lineno, "cl-filter dropped %s %s: %s", what, id, rej->aux);
	else if (W->k_read && W->r_read)
		say(W->k_name, 0, "%s %s is neither kept nor in %s: cl-filter never read it", what,
		    id, W->r_name);
	else {
		say(W->k_read ? W->r_name : W->k_name, 0,
		    "not in the run folder: cl-filter's verdict on %s %s is not known", what, id);
		goto out;
	}
	for (ru = rules; ru->reasons; ru++) {
		rule_state(o, ru, &b);
		cl_buf_reset(&line);
		if (!hit && rej && has_word(ru->reasons, rej->aux)) {
			cl_buf_addf(&line, "  %s (%s): dropped it, %s: %s", ru->name, b.p, rej->aux,
			            ru->meaning);
			hit = 1;
		} else if (strcmp(b.p, "off") == 0)
			cl_buf_addf(&line, "  %s: off", ru->name);
		else
			cl_buf_addf(&line, "  %s (%s): %s", ru->name, b.p,
			            hit ? "not reached (cl-filter names the first reason only)"
			                : "passed");
		printf("%s\n", line.p);
	}
	if (rej && !hit)
		printf("  (%s is a reason this version of cl-why does not know)\n", rej->aux);
out:
	cl_buf_release(&b);
	cl_buf_release(&line);
	return !kept && rej;
}

static void
tell_filter(struct why *W)
{
	jv o = filter_options(W);
	struct cl_buf b = CL_BUF_INIT;
	struct rec *rej, *user_rej = NULL;
	size_t i;

	if (W->k_header) {
		js(o, "as_of", &b);
		{
			struct cl_buf t = CL_BUF_INIT;
			cl_buf_addf(&t, "cl-filter ran with as-of %s",
			            b.p[0] ? b.p : "(not given)");
			rule_state(o, &class_rules[1], &b);
			cl_buf_addf(&t, "; Sync Classroom Data %s", b.p);
			rule_state(o, &user_rules[3], &b);
			cl_buf_addf(&t, "; Respect Enrolment Date %s", b.p);
			rule_state(o, &class_rules[3], &b);
			cl_buf_addf(&t, "; Respect Academic Sessions %s", b.p);
			rule_state(o, &user_rules[2], &b);
			cl_buf_addf(&t, "; Exclude Schools %s", b.p);
			rule_state(o, &parent_rules[3], &b);
			cl_buf_addf(&t, "; Sync Parent Data %s", b.p);
			say(W->k_name, 1, "%s", t.p);
			cl_buf_release(&t);
		}
	}
	if (W->uid && (W->fu || W->k_user || reject_of(W, "user", W->uid))) {
		rej = reject_of(W, "user", W->uid);
		if (tell_verdict(W, o, W->u_parent ? parent_rules : user_rules, "user", W->uid,
		                 W->k_user, rej)) {
			if (strcmp(rej->aux, "excluded-school") == 0 && W->fu) {
				jv d = line_data(W->fu->line, "data");
				jv orgs = jv_object_get(jv_copy(d), jv_string("orgs"));
				int j, n = jv_get_kind(orgs) == JV_KIND_ARRAY
				                   ? jv_array_length(jv_copy(orgs))
				                   : 0;

				for (j = 0; j < n; j++) {
					jv e = jv_array_get(jv_copy(orgs), j);
					struct rec *g = reject_of(W, "org", js(e, "sourcedId", &b));

					if (g)
						say(W->r_name, g->lineno,
						    "cl-filter dropped its school %s: %s", b.p,
						    g->aux);
					jv_free(e);
				}
				jv_free(orgs);
				jv_free(d);
			}
			snprintf(W->u_cause, sizeof W->u_cause, "cl-filter dropped %s %s (%s)",
			         W->u_parent ? "parent" : "user", W->uid, rej->aux);
			user_rej = rej; /* the membership's cause after the class's and the
			                   enrolment's */
		}
	}
	if (W->cid && (W->fc || W->k_class || reject_of(W, "class", W->cid))) {
		rej = reject_of(W, "class", W->cid);
		if (tell_verdict(W, o, class_rules, "class", W->cid, W->k_class, rej)) {
			struct rec *g = W->school ? reject_of(W, "org", W->school) : NULL;

			if (g) {
				say(W->r_name, g->lineno, "cl-filter dropped its school %s: %s",
				    W->school, g->aux);
				because(W,
				        "cl-filter dropped class %s with its school %s (%s): the "
				        "class is "
				        "not synced",
				        W->cid, W->school, g->aux);
			} else
				because(W,
				        "cl-filter dropped class %s (%s): the class is not synced",
				        W->cid, rej->aux);
		}
	}
	/* the enrolments: kept ones in filter.ndjson, dropped ones in rejects.ndjson */
	if (W->uid && (W->k_read || W->r_read)) {
		if (!W->cid && (W->k_enrols.n || W->r_enrols.n)) {
			struct cl_buf l = CL_BUF_INIT;

			for (i = 0; i < W->k_enrols.n && i < LIST_MAX; i++)
				cl_buf_addf(&l, "%s%s (line %llu)", i ? ", " : "",
				            W->k_enrols.v[i].aux, W->k_enrols.v[i].lineno);
			if (W->k_enrols.n > LIST_MAX)
				cl_buf_addf(&l, " and %zu more", W->k_enrols.n - LIST_MAX);
			say(W->k_name, 0, "cl-filter kept %zu enrolment%s of user %s%s%s",
			    W->k_enrols.n, W->k_enrols.n == 1 ? "" : "s", W->uid,
			    W->k_enrols.n ? ", in classes " : "", l.p);
			cl_buf_release(&l);
		}
		if (W->cid) {
			for (i = 0; i < W->k_enrols.n; i++)
				say(W->k_name, W->k_enrols.v[i].lineno,
				    "cl-filter kept enrolment %s", W->k_enrols.v[i].id);
		}
		for (i = 0; i < W->r_enrols.n && i < (W->cid ? W->r_enrols.n : LIST_MAX); i++) {
			struct rec *e = &W->r_enrols.v[i];
			const struct rule *ru;

			for (ru = enrol_rules; ru->reasons && !has_word(ru->reasons, e->aux); ru++)
				;
			say(W->r_name, e->lineno,
			    "cl-filter dropped enrolment %s (class %s): %s%s%s", e->id, e->aux2,
			    e->aux, ru->reasons ? ", " : "", ru->reasons ? ru->meaning : "");
			if (W->cid && !W->k_enrols.n)
				because(W, "cl-filter dropped the enrolment (%s): %s", e->aux,
				        ru->reasons ? ru->meaning : e->aux);
		}
		if (!W->cid && W->r_enrols.n > LIST_MAX)
			say(W->r_name, 0, "and %zu more dropped enrolments of user %s",
			    W->r_enrols.n - LIST_MAX, W->uid);
	}
	if (user_rej && W->carg)
		because(W, "cl-filter dropped user %s (%s): no membership without the user", W->uid,
		        user_rej->aux);
	jv_free(o);
	cl_buf_release(&b);
}

/* --- match.ndjson ----------------------------------------------------------------------- */

static int
pass_match(struct why *W)
{
	struct input in;
	struct cl_reader *r;
	struct cl_line ln;
	struct cl_buf a = CL_BUF_INIT;
	size_t i_id;
	int st, rc;

	if ((st = in_open(W, "match.ndjson", &in, !W->check_args)) != 1)
		return st;
	snprintf(W->m_name, sizeof W->m_name, "%s", in.name);
	W->m_read = 1;
	r = cl_reader_new(in.fd, in.name, MAX_LINE);
	i_id = cl_reader_want(r, "data.sourcedId");
	while ((rc = cl_reader_next(r, &ln)) == 1) {
		if (ln.kind == CL_K_CLASS && W->cid &&
		    strcmp(sv(cl_reader_field(r, i_id), &a), W->cid) == 0)
			W->m_class = 1;
		if ((ln.kind == CL_K_USER || ln.kind == CL_K_PARENT) && W->uid &&
		    strcmp(sv(cl_reader_field(r, i_id), &a), W->uid) == 0 && !W->m_user) {
			recs_add(&W->m_recs, ln.p, ln.n, ln.lineno, a.p, NULL, NULL);
			W->m_user = &W->m_recs.v[0];
		}
	}
	/* zstd's failure first: a stream cut short is what a corrupt .zst looks like */
	st = in_close(&in, rc >= 0);
	if (!st && rc < 0)
		st = stream_fail(&in, r);
	cl_reader_free(r);
	rc = 0;
	cl_buf_release(&a);
	return st;
}

static const char *
unmatched_meaning(const char *why)
{
	static const char *const t[][2] = {
		{ "no-email", "the SIS has no email for the user" },
		{ "masked-email", "the SIS's email is masked or a placeholder" },
		{ "not-found", "no School Manager account has this email" },
		{ "duplicate-in-export", "several School Manager accounts have this email" },
		{ "duplicate-in-roster", "several users in the SIS have this email" },
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcmp(t[i][0], why) == 0)
			return t[i][1];
	return "a reason this version of cl-why does not know";
}

static void
tell_match(struct why *W)
{
	struct cl_buf b = CL_BUF_INIT, c = CL_BUF_INIT;
	jv l, m;

	if (!W->uid)
		goto out;
	if (!W->m_read) {
		say("match.ndjson", 0, "not in the run folder: the match is not known");
		goto out;
	}
	if (!W->m_user) {
		say(W->m_name, 0, "user %s is not in it: cl-match never saw the user", W->uid);
		goto out;
	}
	W->found_anywhere = 1;
	if (W->u_parent) {
		say(W->m_name, W->m_user->lineno,
		    "parent %s reaches cl-load: parents are not matched to accounts (a contact)",
		    W->uid);
		goto out;
	}
	l = jv_parse(W->m_user->line);
	m = jv_object_get(jv_copy(l), jv_string("match"));
	if (jv_get_kind(m) == JV_KIND_OBJECT) {
		js(m, "email", &b);
		say(W->m_name, W->m_user->lineno,
		    "cl-match matched user %s by the key '%s' to School Manager account %s", W->uid,
		    b.p, js(m, "id", &c));
	} else {
		js(l, "unmatched", &b);
		W->m_unmatched = 1;
		snprintf(W->u_cause, sizeof W->u_cause, "cl-match could not match user %s: %s (%s)",
		         W->uid, b.p, unmatched_meaning(b.p));
		say(W->m_name, W->m_user->lineno, "cl-match could not match user %s: %s (%s)",
		    W->uid, b.p[0] ? b.p : "no reason given", unmatched_meaning(b.p));
		if (W->carg)
			because(W,
			        "cl-match could not match user %s (%s): cl-load skips the "
			        "enrolment "
			        "(enrollment-user-unmatched)",
			        W->uid, b.p);
	}
	jv_free(m);
	jv_free(l);
out:
	cl_buf_release(&b);
	cl_buf_release(&c);
}

/* --- changes.ndjson ------------------------------------------------------------------------- */

static int
pass_changes(struct why *W)
{
	static const char *const paths[] = { "kind", "entity", "id",     "class",
		                             "user", "parent", "student" };
	struct cl_json_query *q = cl_json_query_new(paths, 7);
	struct cl_json_result *res = cl_json_result_new(q);
	struct cl_buf e = CL_BUF_INIT, x = CL_BUF_INIT, y = CL_BUF_INIT;
	struct input in;
	struct cl_json_err err;
	unsigned long long lineno = 0, bad = 0;
	char *line = NULL;
	int rerr;
	size_t cap = 0;
	ssize_t n;
	FILE *f = NULL;
	int st;

	if ((st = in_open(W, "changes.ndjson", &in, !W->check_args)) != 1)
		goto done;
	st = 0;
	snprintf(W->c_name, sizeof W->c_name, "%s", in.name);
	W->c_read = 1;
	if (!(f = fdopen(in.fd, "r"))) {
		st = cl_fail("CL553", "%s: cannot read it:", in.name);
		in_close(&in, 0);
		goto done;
	}
	in.fd = -1;
	while ((n = getline(&line, &cap, f)) > 0) {
		int hit = 0;

		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (cl_json_scan(q, line, (size_t)n, res, &err) < 0) {
			bad = lineno;
			break;
		}
		if (!cl_json_str_eq(cl_json_result_first(res, 0), "change") || !W->uid)
			continue;
		sv(cl_json_result_first(res, 1), &e);
		if (strcmp(e.p, "user") == 0 || strcmp(e.p, "contact") == 0)
			hit = strcmp(sv(cl_json_result_first(res, 2), &x), W->uid) == 0;
		else if (strcmp(e.p, "class") == 0)
			hit = W->cid && strcmp(sv(cl_json_result_first(res, 2), &x), W->cid) == 0;
		else if (strcmp(e.p, "membership") == 0)
			hit = strcmp(sv(cl_json_result_first(res, 4), &x), W->uid) == 0 &&
			      (!W->cid ||
			       strcmp(sv(cl_json_result_first(res, 3), &y), W->cid) == 0);
		else if (strcmp(e.p, "relationship") == 0)
			hit = !W->cid &&
			      (strcmp(sv(cl_json_result_first(res, 5), &x), W->uid) == 0 ||
			       strcmp(sv(cl_json_result_first(res, 6), &y), W->uid) == 0);
		if (hit)
			recs_add(&W->c_lines, line, (size_t)n, lineno, e.p, NULL, NULL);
	}
	rerr = ferror(f) ? errno : 0;
	fclose(f);
	/* zstd's failure first: a line cut short is what a corrupt .zst looks like */
	if (!(st = in_close(&in, !bad && !rerr))) {
		if (bad)
			st = cl_fail("CL553", "%s:%llu: invalid JSON at byte %zu: %s", in.name, bad,
			             err.off + 1, err.msg);
		else if (rerr)
			st = cl_fail("CL553", "%s: cannot read it: %s", in.name, strerror(rerr));
	}
done:
	free(line);
	cl_json_result_free(res);
	cl_json_query_free(q);
	cl_buf_release(&e);
	cl_buf_release(&x);
	cl_buf_release(&y);
	return st;
}

/* The op of the membership change of the class and user, or NULL. Borrowed (static). */
static const char *
membership_op(const struct why *W, unsigned long long *lineno)
{
	static char op[16];
	struct cl_buf b = CL_BUF_INIT;
	size_t i;

	for (i = 0; i < W->c_lines.n; i++) {
		jv l;

		if (strcmp(W->c_lines.v[i].id, "membership") != 0)
			continue;
		l = jv_parse(W->c_lines.v[i].line);
		snprintf(op, sizeof op, "%s", js(l, "op", &b));
		jv_free(l);
		cl_buf_release(&b);
		*lineno = W->c_lines.v[i].lineno;
		return op;
	}
	cl_buf_release(&b);
	return NULL;
}

static void
tell_changes(struct why *W)
{
	size_t i;

	if (!W->uid)
		return;
	if (!W->c_read) {
		say("changes.ndjson", 0, "not in the run folder: the change set is not known");
		return;
	}
	for (i = 0; i < W->c_lines.n; i++) {
		if (strcmp(W->c_lines.v[i].id, "class") != 0)
			W->found_anywhere = 1;
		say(W->c_name, W->c_lines.v[i].lineno, "%s", W->c_lines.v[i].line);
	}
	if (!W->c_lines.n)
		say(W->c_name, 0, "no change line names user %s%s%s", W->uid,
		    W->cid ? " in class " : "", W->cid ? W->cid : "");
}

/* --- report.json -------------------------------------------------------------------------- */

static int
read_report(struct why *W)
{
	struct cl_buf p = CL_BUF_INIT, t = CL_BUF_INIT;
	char buf[65536];
	size_t n;
	FILE *f;

	W->report = jv_invalid();
	cl_buf_addf(&p, "%s/report.json", W->run);
	if (!(f = fopen(p.p, "r"))) {
		int st = errno == ENOENT ? 0 : cl_fail("CL550", "cannot open '%s':", p.p);
		cl_buf_release(&p);
		return st;
	}
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		cl_buf_add(&t, buf, n);
	fclose(f);
	W->report = jv_parse_sized(t.p, (int)t.len);
	cl_buf_release(&t);
	if (jv_get_kind(W->report) != JV_KIND_OBJECT) {
		jv_free(W->report);
		W->report = jv_invalid();
		n = (size_t)cl_fail("CL553", "'%s' is not a cl-load report (one JSON object)", p.p);
		cl_buf_release(&p);
		return (int)n;
	}
	cl_buf_release(&p);
	return 0;
}

/* The number at report.path1.path2, or -1. */
static double
report_num(const struct why *W, const char *k1, const char *k2)
{
	jv a = jv_object_get(jv_copy(W->report), jv_string(k1)), b;
	double v = -1;

	if (jv_get_kind(a) != JV_KIND_OBJECT) {
		jv_free(a);
		return -1;
	}
	b = jv_object_get(a, jv_string(k2));
	if (jv_get_kind(b) == JV_KIND_NUMBER)
		v = jv_number_value(b);
	jv_free(b);
	return v;
}

static void
tell_report(struct why *W)
{
	struct cl_buf b = CL_BUF_INIT, c = CL_BUF_INIT;
	jv del, w;
	int i, n, any = 0;

	if (jv_get_kind(W->report) != JV_KIND_OBJECT) {
		say("report.json", 0, "not in the run folder: the sync's outcome is not known");
		goto out;
	}
	say("report.json", 0, "sync %s, status %s", js(W->report, "sync", &b),
	    js(W->report, "status", &c));
	if (W->cid && W->uid) {
		double v = report_num(W, "skipped", "enrollment-user-unmatched");

		if (v > 0 && W->m_unmatched)
			say("report.json", 0,
			    "cl-load skipped %g enrolment%s of unmatched users "
			    "(skipped.enrollment-user-unmatched)",
			    v, v == 1 ? "" : "s");
	}
	del = jv_object_get(jv_copy(W->report), jv_string("deletions"));
	w = jv_get_kind(del) == JV_KIND_OBJECT ? jv_object_get(jv_copy(del), jv_string("withheld"))
	                                       : jv_invalid();
	n = jv_get_kind(w) == JV_KIND_ARRAY ? jv_array_length(jv_copy(w)) : 0;
	for (i = 0; i < n && W->uid; i++) {
		jv e = jv_array_get(jv_copy(w), i);
		const char *ent = js(e, "entity", &b);
		int hit = 0;

		if (strcmp(ent, "user") == 0 || strcmp(ent, "contact") == 0) {
			hit = strcmp(js(e, "id", &c), W->uid) == 0;
			if (hit)
				snprintf(W->u_withheld, sizeof W->u_withheld, "%s",
				         js(e, "code", &c));
		} else if (strcmp(ent, "class") == 0)
			hit = W->cid && strcmp(js(e, "id", &c), W->cid) == 0;
		else if (strcmp(ent, "membership") == 0)
			hit = strcmp(js(e, "user", &c), W->uid) == 0 &&
			      (!W->cid || strcmp(js(e, "class", &c), W->cid) == 0);
		else if (strcmp(ent, "relationship") == 0)
			hit = !W->cid && (strcmp(js(e, "student", &c), W->uid) == 0 ||
			                  strcmp(js(e, "parent", &c), W->uid) == 0);
		if (hit) {
			jv d = jv_dump_string(jv_copy(e), 0);

			any = 1;
			say("report.json", 0, "withheld: %s", jv_string_value(d));
			if (W->cid && strcmp(ent, "membership") == 0) {
				struct cl_buf fo = CL_BUF_INIT;

				js(e, "code", &c);
				js(e, "follows", &fo);
				cl_buf_reset(&W->withheld);
				cl_buf_addf(&W->withheld, "%s%s%s", c.p,
				            fo.len ? ", following its withheld " : "", fo.p);
				cl_buf_release(&fo);
			}
			jv_free(d);
		}
		jv_free(e);
	}
	if (W->uid && !any && n)
		say("report.json", 0, "nothing of theirs is among the %d withheld deletions", n);
	jv_free(w);
	jv_free(del);
out:
	cl_buf_release(&b);
	cl_buf_release(&c);
}

/* --- the state ------------------------------------------------------------------------------ */

static void
tell_state(struct why *W, sqlite3 *db)
{
	struct cl_buf f = CL_BUF_INIT, id = CL_BUF_INIT;
	const char *sname = W->state;
	long long sync = 0, last = 0;
	sqlite3_stmt *s = NULL;
	int rc;

	if (!W->state) {
		printf("the state: not given (--state): what it holds is not told\n");
		return;
	}
	if (sqlite3_prepare_v2(db, "SELECT max(id) FROM syncs", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		last = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	{
		struct cl_buf r = CL_BUF_INIT;

		if (jv_get_kind(W->report) == JV_KIND_OBJECT)
			js(W->report, "sync", &r);
		if (r.len && strtoll(r.p, NULL, 10) == last)
			say(sname, 0, "the state now (its newest sync %lld, this run's)", last);
		else
			say(sname, 0, "the state now (its newest sync %lld; this run's is %s)",
			    last, r.len ? r.p : "not known");
		cl_buf_release(&r);
	}
	if (!W->uid)
		goto out;
	rc = state_rec(db, W->u_parent ? 3 : 0, W->uid, &f, &sync);
	W->s_user = rc;
	if (rc == 1) {
		W->found_anywhere = 1;
		say(sname, 0, "%s %s (written by sync %lld): %s", W->u_parent ? "contact" : "user",
		    W->uid, sync, f.p);
	} else if (rc == 0)
		say(sname, 0, "no %s %s: School Manager was not told of %s",
		    W->u_parent ? "contact" : "user", W->uid,
		    W->u_parent ? "this parent" : "this user (not linked)");
	if (W->cid) {
		rc = state_rec(db, 1, W->cid, &f, &sync);
		if (rc == 1)
			say(sname, 0, "class %s (written by sync %lld): %s", W->cid, sync, f.p);
		else if (rc == 0)
			say(sname, 0, "no class %s", W->cid);
		cl_buf_addf(&id, "%s\x1f%s", W->cid, W->uid);
		rc = state_rec(db, 2, id.p, &f, &sync);
		W->s_member = rc;
		if (rc == 1) {
			W->found_anywhere = 1;
			say(sname, 0,
			    "membership of user %s in class %s (written by sync %lld): %s", W->uid,
			    W->cid, sync, f.p);
		} else if (rc == 0)
			say(sname, 0, "no membership of user %s in class %s", W->uid, W->cid);
	} else if (!W->u_parent &&
	           sqlite3_prepare_v2(db,
	                              "SELECT count(*) FROM records WHERE entity = 2 AND"
	                              " substr(id, -length(?1) - 1) = char(31) || ?1",
	                              -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, W->uid, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			say(sname, 0, "%lld membership%s of user %s", sqlite3_column_int64(s, 0),
			    sqlite3_column_int64(s, 0) == 1 ? "" : "s", W->uid);
		sqlite3_finalize(s);
	}
out:
	cl_buf_release(&f);
	cl_buf_release(&id);
}

/* --- the membership's verdict ------------------------------------------------------------------
 */

/* Without CLASS: where the user stands in School Manager, and the first cause. */
static void
tell_verdict_user(struct why *W)
{
	const char *what = W->u_parent ? "a contact" : "linked";
	struct cl_buf b = CL_BUF_INIT;
	unsigned long long l = 0;
	size_t i;

	for (i = 0; i < W->c_lines.n; i++) {
		jv ln;

		if (strcmp(W->c_lines.v[i].id, W->u_parent ? "contact" : "user") != 0)
			continue;
		ln = jv_parse(W->c_lines.v[i].line);
		js(ln, "op", &b);
		jv_free(ln);
		l = W->c_lines.v[i].lineno;
		break;
	}
	printf("so: user %s is ", W->uid);
	if (l && (strcmp(b.p, "unlink") == 0 || strcmp(b.p, "delete") == 0))
		printf("no longer %s in School Manager: this sync %ss it (%s:%llu)\n", what, b.p,
		       W->c_name, l);
	else if (l)
		printf("%s in School Manager: this sync %ss it (%s:%llu)\n", what, b.p, W->c_name,
		       l);
	else if (W->u_withheld[0])
		printf("still %s in School Manager: its %s was withheld (%s)\n", what,
		       W->u_parent ? "deletion" : "unlink", W->u_withheld);
	else if (W->s_user == 1)
		printf("%s in School Manager: unchanged by this sync, the state has it\n", what);
	else if (W->s_user == 0)
		printf("not %s in School Manager: the state does not have it\n", what);
	else
		printf("not %s by this sync (no change line; the state was not given)\n", what);
	if (W->u_cause[0])
		printf("why: %s\n", W->u_cause);
	else if (!W->fu && W->f_read)
		printf("why: the SIS did not send the user (not in %s)\n", W->f_name);
	cl_buf_release(&b);
}

static void
tell_verdict_membership(struct why *W)
{
	unsigned long long l = 0;
	const char *op;
	struct cl_buf so = CL_BUF_INIT;

	if (!W->carg || !W->uid)
		return;
	op = membership_op(W, &l);
	if (!W->verdict.len && W->e_role_other)
		because(W, "the enrolment's role is neither student nor teacher: cl-load skips it "
		           "(enrollment-role)");
	if (!W->verdict.len && W->m_read && !W->m_class)
		because(W,
		        "class %s did not reach cl-load (not in %s): cl-load skips the enrolment "
		        "(enrollment-class-absent)",
		        W->cid, W->m_name);
	cl_buf_addf(&so, "user %s is ", W->uid);
	if (op && (strcmp(op, "add") == 0 || strcmp(op, "update") == 0))
		cl_buf_addf(&so, "in class %s: this sync %ss the membership (%s:%llu)", W->cid,
		            strcmp(op, "add") == 0 ? "add" : "update", W->c_name, l);
	else if (op)
		cl_buf_addf(&so,
		            "no longer in class %s: this sync removes the membership (%s:%llu)",
		            W->cid, W->c_name, l);
	else if (W->withheld.len)
		cl_buf_addf(&so,
		            "still in class %s: the membership's removal was withheld (%s): School "
		            "Manager keeps it until the deletion goes through",
		            W->cid, W->withheld.p);
	else if (W->s_member == 1)
		cl_buf_addf(&so,
		            "in class %s: unchanged by this sync, the state has the membership",
		            W->cid);
	else if (W->s_member == 0)
		cl_buf_addf(&so,
		            "not in class %s: the state has no membership, this sync adds none",
		            W->cid);
	else
		cl_buf_addf(&so,
		            "not added to class %s by this sync (no change line; the state was "
		            "not given)",
		            W->cid);
	printf("so: %s\n", so.p);
	if (W->verdict.len)
		printf("why: %s\n", W->verdict.p);
	cl_buf_release(&so);
}

/* --- main ----------------------------------------------------------------------------------- */

static int
parse_options(struct why *W, int argc, char *argv[])
{
	struct cl_getopt g;
	int c, n;

	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case 'r':
			W->run = g.arg;
			break;
		case 's':
			W->state = g.arg;
			break;
		default: /* CL_OPT_EXIT */
			return g.status;
		}
	}
	W->check_args = g.check_args;
	if (!W->run)
		return cl_usage_error(&cmd, "--run is required");
	n = argc - optind;
	if (n < 1)
		return cl_usage_error(&cmd, "which user? give a sourcedId, email or identifier");
	if (n > 2)
		return cl_usage_error(&cmd, "one user and one class at most, not %d operands", n);
	W->uarg = argv[optind];
	W->carg = n == 2 ? argv[optind + 1] : NULL;
	if (!W->uarg[0] || (W->carg && !W->carg[0]))
		return cl_usage_error(&cmd, "an empty user or class names nothing");
	return -1;
}

/* --check-args: the run folder is one, its stream files can be opened. */
static int
check_run(struct why *W)
{
	static const char *const names[] = { "fetch.ndjson", "filter.ndjson", "rejects.ndjson",
		                             "match.ndjson", "changes.ndjson" };
	struct input in;
	struct stat sb;
	size_t i;
	int st, any = 0;

	if (stat(W->run, &sb) < 0)
		return cl_fail("CL550", "cannot open the run folder '%s':", W->run);
	if (!S_ISDIR(sb.st_mode))
		return cl_fail("CL550", "'%s' is not a run folder (not a folder)", W->run);
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if ((st = in_open(W, names[i], &in, 0)) > 1)
			return st;
		if (st == 1) {
			any = 1;
			in_close(&in, 0);
		}
	}
	if (!any)
		return cl_fail("CL550",
		               "'%s' is not a run folder: it has no fetch, filter, match "
		               "or changes file",
		               W->run);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct why W;
	sqlite3 *db = NULL;
	int status;

	cl_diag_init(argv[0]);
	memset(&W, 0, sizeof W);
	W.report = jv_invalid();
	cl_buf_init(&W.verdict);
	cl_buf_init(&W.withheld);
	W.s_member = -1;
	W.s_user = -1;
	if ((status = parse_options(&W, argc, argv)) >= 0)
		goto out;
	if ((status = check_run(&W)) != 0)
		goto out;
	db = state_open(&W, &status);
	if (status >= 0 || W.check_args) {
		status = status >= 0 ? status : 0;
		goto out;
	}
	status = -1;
	if ((status = pass_fetch(&W)) > 0 || (status = resolve(&W)) >= 0)
		goto out;
	state_resolve(&W, db);
	if (!W.uid) /* in no file: the rest follows the name as given */
		W.uid = cl_xstrdup(W.uarg);
	if (W.carg && !W.cid)
		W.cid = cl_xstrdup(W.carg);
	if ((status = pass_filter(&W)) > 0 || (status = pass_rejects(&W)) > 0 ||
	    (status = pass_match(&W)) > 0 || (status = pass_changes(&W)) > 0 ||
	    (status = read_report(&W)) > 0)
		goto out;
	printf("user %s%s%s, run folder %s\n", W.uarg, W.carg ? ", class " : "",
	       W.carg ? W.carg : "", W.run);
	tell_fetch(&W);
	tell_filter(&W);
	tell_match(&W);
	tell_changes(&W);
	tell_report(&W);
	if (db)
		tell_state(&W, db);
	else
		tell_state(&W, NULL);
	if (W.carg)
		tell_verdict_membership(&W);
	else
		tell_verdict_user(&W);
	status = 0;
	if (!W.found_anywhere && !W.k_user && !reject_of(&W, "user", W.uid))
		status = cl_fail("CL552", "user '%s' is in no file of run folder '%s'%s", W.uarg,
		                 W.run, W.state ? " nor in the state" : "");
out:
	status = cl_exit(status);
	sqlite3_close(db);
	recs_release(&W.f_users);
	recs_release(&W.f_classes);
	recs_release(&W.f_enrols);
	recs_release(&W.f_orgs);
	recs_release(&W.k_enrols);
	recs_release(&W.r_ids);
	recs_release(&W.r_enrols);
	recs_release(&W.m_recs);
	recs_release(&W.c_lines);
	jv_free(W.report);
	cl_buf_release(&W.verdict);
	cl_buf_release(&W.withheld);
	free(W.k_header);
	free(W.uid);
	free(W.cid);
	free(W.school);
	return status;
}
