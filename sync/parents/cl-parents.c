/*
 * cl-parents: School Manager's Community "Parent Data Upload" files from
 * what the sync knows of parents. See cl-parents.1.
 *
 * Where the parents come from, one of:
 *  - --state FILE.db: cl-load's state, read-only: the contacts and
 *    relationships the last sync committed, and the linked students they
 *    belong to. Only when that sync synced parents (sync_parents on): a
 *    state whose last sync did not holds no parents, or stale ones (CL321).
 *  - --stream FILE: a matched roster stream (cl-match's output) that kept
 *    its parents (cl-filter --parents), for a district whose change sets
 *    must not carry parents (sis = powerschool: School Manager's ClassLink
 *    integration takes no parent data from PowerSchool). The relationships
 *    are made as cl-load makes them: a parent linked by "agents", from
 *    either side, to a student cl-match matched.
 *
 * Both fill the same three temporary tables (students, parents, links) in
 * an SQLite connection, and the files are written from them, so the two
 * sources cannot disagree on a rule. Memory (the temporary tables spill to
 * disk) grows with the parents and students, never with the stream.
 *
 * The rules checked (cl-parents.1, RULES): every field a row needs is
 * filled (CL323), no two parents share an email address (CL322: none of
 * them is written, never a guess), at most --rows rows a file. Every file
 * is written through lib/out.h (0600, replaced atomically), and all of a
 * run's files are put in place together at the end, only when every one
 * was written whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jv.h>
#include <sqlite3.h>

#include "buf.h"
#include "cli.h"
#include "csvout.h"
#include "diag.h"
#include "email.h"
#include "errors.h"
#include "json.h"
#include "out.h"
#include "stream.h"

#define STATE_APP_ID 0x434c4c44 /* "CLLD": cl-load's state */
#define STATE_VERSION_MAX 3
#define ROWS_DEFAULT 5000
#define ROWS_MAX 20000
#define SHOWN_MAX 20 /* diagnostics of one code before "and N more" */

enum { FMT_SIMPLE = 1, FMT_ONEROSTER = 2 };

struct opts {
	const char *state;  /* --state, or NULL */
	const char *stream; /* --stream ("-": stdin), or NULL */
	const char *dir;    /* the folder the files go to */
	int formats;        /* FMT_* */
	long long rows;     /* data rows a file, at most */
	int no_bom;
	size_t max_line;
	int check_args;
};

/* One file being written: its name in dir and the rows in it. */
struct pfile {
	struct cl_out out;
	char *path;
	unsigned long long rows;
};

/* A format's files, numbered from 1. */
struct fileset {
	const char *stem; /* "parents-simple" */
	struct pfile *v;
	size_t n;
};

/* Everything the run holds, freed in one place. */
struct run {
	struct opts *o;
	sqlite3 *db;
	struct fileset simple, oneroster;
	struct cl_buf row, tmp, why;
	int status;
	unsigned shown[10]; /* diagnostics printed per code CL32x */
	unsigned long long hidden[10];
};

static const char usage[] = "usage: cl-parents --state FILE.db | --stream FILE [--format FORMAT]\n"
                            "                  [--rows N] [--no-bom] [--max-line BYTES] DIR\n";

enum { OPT_NO_BOM = CL_OPT_LONG };

static const struct cl_opt options[] = {
	{ 's', "state", CL_ARG_REQUIRED, "FILE.db",
	  "cl-load's state: the parents the last sync synced (read only)" },
	{ 'i', "stream", CL_ARG_REQUIRED, "FILE",
	  "or a matched roster stream that kept its parents ('-': stdin)" },
	{ 'f', "format", CL_ARG_REQUIRED, "FORMAT", "simple, oneroster or both (default both)" },
	{ 'r', "rows", CL_ARG_REQUIRED, "N",
	  "data rows a file, at most (default 5000, up to 20000)" },
	{ OPT_NO_BOM, "no-bom", CL_ARG_NONE, NULL,
	  "no UTF-8 byte order mark at the start of each file" },
	{ 'm', "max-line", CL_ARG_REQUIRED, "BYTES",
	  "the longest stream line accepted (default 64 MiB)" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-parents", usage,
	"Write School Manager's Community Parent Data Upload files (Simple and OneRoster CSV)\n"
	"into DIR from the parents the sync knows: cl-load's state, or a matched stream.\n",
	options
};

static int
parse_options(struct opts *o, int argc, char *argv[])
{
	struct cl_getopt g;
	int c;

	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case 's':
			o->state = g.arg;
			break;
		case 'i':
			o->stream = g.arg;
			break;
		case 'f':
			if (strcmp(g.arg, "simple") == 0)
				o->formats = FMT_SIMPLE;
			else if (strcmp(g.arg, "oneroster") == 0)
				o->formats = FMT_ONEROSTER;
			else if (strcmp(g.arg, "both") == 0)
				o->formats = FMT_SIMPLE | FMT_ONEROSTER;
			else
				return cl_usage_error(
				        &cmd, "--format '%s': not simple, oneroster or both",
				        g.arg);
			break;
		case 'r':
			if (cl_parse_num(g.arg, 1, ROWS_MAX, &o->rows) < 0)
				return cl_usage_error(
				        &cmd,
				        "--rows '%s': not a number from 1 to %d (School "
				        "Manager takes at most %d rows a file)",
				        g.arg, ROWS_MAX, ROWS_MAX);
			break;
		case OPT_NO_BOM:
			o->no_bom = 1;
			break;
		case 'm':
			if (cl_getopt_bytes(&g, &o->max_line) != 0)
				return CL_EX_USAGE;
			break;
		default: /* CL_OPT_EXIT */
			return g.status;
		}
	}
	if (!o->state == !o->stream)
		return cl_usage_error(&cmd, "give one of --state FILE.db and --stream FILE");
	if (optind != argc - 1)
		return cl_usage_error(&cmd, optind == argc ? "the folder DIR is required"
		                                           : "one folder DIR, not more");
	o->dir = argv[optind];
	o->check_args = g.check_args;
	return -1;
}

/* A rule a record broke: one diagnostic, the first SHOWN_MAX times a code. */
static void rule(struct run *r, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
rule(struct run *r, const char *code, const char *fmt, ...)
{
	int k = code[4] - '0'; /* CL32k */
	va_list ap;
	int st;

	if (r->shown[k] >= SHOWN_MAX) {
		r->hidden[k]++;
		st = cl_error_status(code);
	} else {
		r->shown[k]++;
		va_start(ap, fmt);
		cl_buf_reset(&r->why);
		cl_buf_vaddf(&r->why, fmt, ap);
		va_end(ap);
		st = cl_fail(code, "%s", r->why.p);
	}
	if (st > r->status)
		r->status = st;
}

static void
rules_hidden(struct run *r)
{
	int k;

	for (k = 0; k < 10; k++)
		if (r->hidden[k])
			cl_diag(NULL, "CL32%d: and %llu more like it", k, r->hidden[k]);
}

static int
db_fail(struct run *r, const char *what)
{
	return cl_fail("CL320", "%s: %s: %s", r->o->state ? r->o->state : "temporary tables", what,
	               sqlite3_errmsg(r->db));
}

static sqlite3_stmt *
prep(struct run *r, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

static const char *
col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

/* cl_norm(email): the address as cl-match compares it, or '' when it is not usable. */
static void
sql_norm(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *t = sqlite3_value_text(argv[0]);
	struct cl_buf b = CL_BUF_INIT;

	(void)argc;
	if (t && cl_email_norm(NULL, (const char *)t, (size_t)sqlite3_value_bytes(argv[0]), &b) ==
	                 CL_EMAIL_OK)
		sqlite3_result_text(ctx, b.p, (int)b.len, SQLITE_TRANSIENT);
	else
		sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
	cl_buf_release(&b);
}

static const char schema[] =
        "CREATE TEMP TABLE st(id TEXT PRIMARY KEY, username TEXT NOT NULL DEFAULT '',"
        " given TEXT NOT NULL DEFAULT '', family TEXT NOT NULL DEFAULT '',"
        " identifier TEXT NOT NULL DEFAULT '', schools TEXT NOT NULL DEFAULT '[]',"
        " grades TEXT NOT NULL DEFAULT '[]', ok INTEGER NOT NULL DEFAULT 1);"
        "CREATE TEMP TABLE pa(id TEXT PRIMARY KEY, given TEXT NOT NULL DEFAULT '',"
        " family TEXT NOT NULL DEFAULT '', email TEXT NOT NULL DEFAULT '',"
        " phone TEXT NOT NULL DEFAULT '', sms TEXT NOT NULL DEFAULT '',"
        " norm TEXT NOT NULL DEFAULT '', ok INTEGER NOT NULL DEFAULT 1);"
        "CREATE TEMP TABLE ln(parent TEXT, student TEXT, username TEXT,"
        " PRIMARY KEY (parent, student)) WITHOUT ROWID;"
        "CREATE TEMP TABLE rl(parent TEXT, student TEXT, PRIMARY KEY (parent, student))"
        " WITHOUT ROWID;"
        "CREATE TEMP TABLE infile(student TEXT PRIMARY KEY) WITHOUT ROWID;"
        "CREATE INDEX temp.ln_student ON ln(student);"
        "CREATE INDEX temp.pa_norm ON pa(norm);";

/* Opens the connection: the state read-only as main, or an empty one for a stream. */
static int
open_db(struct run *r)
{
	const char *path = r->o->state ? r->o->state : "";
	int flags = r->o->state ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	struct stat sb;

	if (r->o->state && stat(r->o->state, &sb) < 0)
		return cl_fail("CL320", "%s: cannot open the state:", r->o->state);
	if (r->o->state && !S_ISREG(sb.st_mode))
		return cl_fail("CL320", "%s: the state is not a regular file", r->o->state);
	if (sqlite3_open_v2(path, &r->db, flags, NULL) != SQLITE_OK)
		return db_fail(r, "cannot open the state");
	sqlite3_busy_timeout(r->db, 1000);
	if (sqlite3_create_function(r->db, "cl_norm", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
	                            sql_norm, NULL, NULL) != SQLITE_OK)
		return db_fail(r, "cannot register a function");
	return 0;
}

/* One integer from a query: 0 with *v set, or -1 (the query failed or gave no row). */
static int
query_int(struct run *r, const char *sql, long long *v)
{
	sqlite3_stmt *s = prep(r, sql);
	int rc = -1;

	if (s && sqlite3_step(s) == SQLITE_ROW) {
		*v = sqlite3_column_int64(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

/*
 * Checks the state is cl-load's, of a schema this program reads, and that
 * its last sync synced parents (its Sync Details' stream.parents).
 */
static int
check_state(struct run *r)
{
	long long app, ver, parents;

	if (query_int(r, "PRAGMA application_id", &app) < 0 ||
	    query_int(r, "PRAGMA user_version", &ver) < 0)
		return db_fail(r, "cannot read the state");
	if (app != STATE_APP_ID)
		return cl_fail("CL320", "%s: not a cl-load state", r->o->state);
	if (ver < 1 || ver > STATE_VERSION_MAX)
		return cl_fail("CL320",
		               "%s: a state of schema %lld, which this cl-parents cannot read",
		               r->o->state, ver);
	if (query_int(r,
	              "SELECT ifnull(json_extract(details, '$.stream.parents'), 0) FROM syncs"
	              " WHERE status IN ('success', 'partial') ORDER BY id DESC LIMIT 1",
	              &parents) < 0)
		return cl_fail("CL321",
		               "%s: the state has recorded no sync: no parent has been synced yet",
		               r->o->state);
	if (!parents)
		return cl_fail(
		        "CL321",
		        "%s: the last sync did not sync parents (sync_parents off): the state "
		        "holds none, or an older sync's",
		        r->o->state);
	return 0;
}

/* The state's contacts, relationships and their students into the temporary tables. */
static int
load_state(struct run *r)
{
	static const char sql[] =
	        "INSERT OR IGNORE INTO temp.pa(id, given, family, email, phone, sms)"
	        " SELECT id, ifnull(json_extract(fields, '$.givenName'), ''),"
	        " ifnull(json_extract(fields, '$.familyName'), ''),"
	        " ifnull(json_extract(fields, '$.email'), ''),"
	        " ifnull(json_extract(fields, '$.phone'), ''),"
	        " ifnull(json_extract(fields, '$.sms'), '')"
	        " FROM main.records WHERE entity = 3;"
	        "INSERT OR IGNORE INTO temp.ln(parent, student, username)"
	        " SELECT substr(id, 1, instr(id, char(31)) - 1), substr(id, instr(id, char(31)) + "
	        "1),"
	        " ifnull(json_extract(fields, '$.sm_id'), '')"
	        " FROM main.records WHERE entity = 4 AND instr(id, char(31)) > 0;"
	        "INSERT OR IGNORE INTO temp.st(id, username, given, family, identifier, schools, "
	        "grades)"
	        " SELECT id, ifnull(json_extract(fields, '$.sm_id'), ''),"
	        " ifnull(json_extract(fields, '$.givenName'), ''),"
	        " ifnull(json_extract(fields, '$.familyName'), ''),"
	        " ifnull(json_extract(fields, '$.identifier'), ''),"
	        " ifnull(json_extract(fields, '$.schools'), '[]'),"
	        " ifnull(json_extract(fields, '$.grades'), '[]')"
	        " FROM main.records WHERE entity = 0 AND id IN (SELECT student FROM temp.ln);"
	        /* a relationship's student the users lack: its username from the relationship */
	        "INSERT OR IGNORE INTO temp.st(id, username) SELECT student, min(username)"
	        " FROM temp.ln GROUP BY student;";

	if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(r, "cannot read the records");
	return 0;
}

/* The stream's fields cl-parents reads. */
enum {
	F_ID,
	F_STATUS,
	F_GIVEN,
	F_FAMILY,
	F_EMAIL,
	F_PHONE,
	F_SMS,
	F_IDENT,
	F_MATCH,
	F_MATCH_ID,
	F_AGENTS,
	F_ORGS,
	F_GRADES,
	F_N
};

static const char *const fpaths[F_N] = {
	"data.sourcedId",
	"data.status",
	"data.givenName",
	"data.familyName",
	"data.email",
	"data.phone",
	"data.sms",
	"data.identifier",
	"match",
	"match.id",
	"data.agents[].sourcedId",
	"data.orgs[].sourcedId",
	"data.grades[]",
};

/* A string field of the current line into b ("" when absent or not a string). */
static const char *
fstr(struct cl_reader *rd, const size_t *idx, int f, struct cl_buf *b)
{
	cl_json_str_set(cl_reader_field(rd, idx[f]), b);
	return b->p;
}

/* A list field of the current line as a JSON array of its strings into b. */
static const char *
flist(struct cl_reader *rd, const size_t *idx, int f, struct cl_buf *b, struct cl_buf *tmp)
{
	const struct cl_json_result *res = cl_reader_result(rd);
	size_t i, n = cl_json_result_count(res, idx[f]), k = 0;

	cl_buf_reset(b);
	cl_buf_addc(b, '[');
	for (i = 0; i < n; i++) {
		if (cl_json_str_set(cl_json_result_get(res, idx[f], i), tmp) < 0 || tmp->len == 0)
			continue;
		if (k++)
			cl_buf_addc(b, ',');
		cl_json_put_str(b, tmp->p, tmp->len);
	}
	cl_buf_addc(b, ']');
	return b->p;
}

static void
bind(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

/* Each agent of the current line as a (parent, student) pair into ins. */
static int
agents(struct cl_reader *rd, const size_t *idx, sqlite3_stmt *ins, const char *self,
       int self_parent, struct cl_buf *tmp)
{
	const struct cl_json_result *res = cl_reader_result(rd);
	size_t i, n = cl_json_result_count(res, idx[F_AGENTS]);

	for (i = 0; i < n; i++) {
		if (cl_json_str_set(cl_json_result_get(res, idx[F_AGENTS], i), tmp) < 0 ||
		    tmp->len == 0)
			continue;
		bind(ins, self_parent ? 1 : 2, self);
		bind(ins, self_parent ? 2 : 1, tmp->p);
		if (sqlite3_step(ins) != SQLITE_DONE)
			return -1;
		sqlite3_reset(ins);
	}
	return 0;
}

/* 1 when a stage of the header line says it ran with Sync Parent Data off. */
static int
parents_dropped(const struct cl_line *ln)
{
	jv h = jv_parse_sized(ln->p, (int)ln->n), stages;
	int i, n, off = 0;

	if (jv_get_kind(h) != JV_KIND_OBJECT) {
		jv_free(h);
		return 0;
	}
	stages = jv_object_get(h, jv_string("stages"));
	n = jv_get_kind(stages) == JV_KIND_ARRAY ? jv_array_length(jv_copy(stages)) : 0;
	for (i = 0; i < n && !off; i++) {
		jv st = jv_array_get(jv_copy(stages), i), opt;

		opt = jv_get_kind(st) == JV_KIND_OBJECT ? jv_object_get(st, jv_string("options"))
		                                        : (jv_free(st), jv_null());
		if (jv_get_kind(opt) == JV_KIND_OBJECT) {
			jv sp = jv_object_get(opt, jv_string("sync_parents"));

			off = jv_get_kind(sp) == JV_KIND_FALSE;
			jv_free(sp);
		} else {
			jv_free(opt);
		}
	}
	jv_free(stages);
	return off;
}

/*
 * The stream's matched students and its parents into the temporary tables;
 * the links are made as cl-load makes relationships. Returns 0, or the
 * status of the failure reported.
 */
static int
load_stream(struct run *r, int fd)
{
	const char *name = strcmp(r->o->stream, "-") == 0 ? "<stdin>" : r->o->stream;
	struct cl_reader *rd = cl_reader_new(fd, name, r->o->max_line);
	struct cl_buf v[F_N], tmp = CL_BUF_INIT;
	sqlite3_stmt *ist = NULL, *ipa = NULL, *iln = NULL, *irl = NULL;
	const struct cl_stream_err *e;
	const struct cl_json_span *m, *mid;
	struct cl_line ln;
	size_t idx[F_N];
	int i, rc, status = 0, complete = 0;

	for (i = 0; i < F_N; i++) {
		cl_buf_init(&v[i]);
		idx[i] = cl_reader_want(rd, fpaths[i]);
	}
	ist = prep(r, "INSERT OR IGNORE INTO temp.st(id, username, given, family, identifier,"
	              " schools, grades) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	ipa = prep(r, "INSERT OR IGNORE INTO temp.pa(id, given, family, email, phone, sms)"
	              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	iln = prep(r, "INSERT OR IGNORE INTO temp.ln(parent, student) VALUES (?1, ?2)");
	irl = prep(r, "INSERT OR IGNORE INTO temp.rl(parent, student) VALUES (?1, ?2)");
	if (!ist || !ipa || !iln || !irl) {
		status = db_fail(r, "cannot prepare");
		goto out;
	}
	while ((rc = cl_reader_next(rd, &ln)) > 0) {
		if (ln.kind == CL_K_HEADER && parents_dropped(&ln)) {
			status = cl_fail(
			        "CL321",
			        "%s: a stage dropped the parents (Sync Parent Data off): run "
			        "cl-filter with --parents",
			        name);
			goto out;
		}
		if (ln.kind == CL_K_TRAILER) {
			complete = cl_reader_upstream_complete(rd) == 1;
			continue;
		}
		if (ln.kind != CL_K_USER && ln.kind != CL_K_PARENT)
			continue;
		/* tobedeleted (or legacy inactive) is absent, as cl-load has it */
		fstr(rd, idx, F_STATUS, &v[F_STATUS]);
		if (strcmp(v[F_STATUS].p, "tobedeleted") == 0 ||
		    strcmp(v[F_STATUS].p, "inactive") == 0)
			continue;
		fstr(rd, idx, F_ID, &v[F_ID]);
		if (v[F_ID].len == 0)
			continue;
		if (ln.kind == CL_K_USER) {
			if (cl_reader_role(rd) != CL_ROLE_STUDENT)
				continue;
			if (agents(rd, idx, irl, v[F_ID].p, 0, &tmp) < 0)
				goto dbfail;
			m = cl_reader_field(rd, idx[F_MATCH]);
			mid = cl_reader_field(rd, idx[F_MATCH_ID]);
			if (!m || m->type != CL_JSON_OBJECT || !mid)
				continue; /* not matched: no account to attach parents to */
			if (mid->type == CL_JSON_NUMBER) {
				cl_buf_reset(&v[F_MATCH_ID]);
				cl_buf_add(&v[F_MATCH_ID], mid->p, mid->n);
			} else if (cl_json_str_set(mid, &v[F_MATCH_ID]) < 0) {
				continue;
			}
			bind(ist, 1, v[F_ID].p);
			bind(ist, 2, v[F_MATCH_ID].p);
			bind(ist, 3, fstr(rd, idx, F_GIVEN, &v[F_GIVEN]));
			bind(ist, 4, fstr(rd, idx, F_FAMILY, &v[F_FAMILY]));
			bind(ist, 5, fstr(rd, idx, F_IDENT, &v[F_IDENT]));
			bind(ist, 6, flist(rd, idx, F_ORGS, &v[F_ORGS], &tmp));
			bind(ist, 7, flist(rd, idx, F_GRADES, &v[F_GRADES], &tmp));
			if (sqlite3_step(ist) != SQLITE_DONE)
				goto dbfail;
			sqlite3_reset(ist);
		} else {
			bind(ipa, 1, v[F_ID].p);
			bind(ipa, 2, fstr(rd, idx, F_GIVEN, &v[F_GIVEN]));
			bind(ipa, 3, fstr(rd, idx, F_FAMILY, &v[F_FAMILY]));
			bind(ipa, 4, fstr(rd, idx, F_EMAIL, &v[F_EMAIL]));
			bind(ipa, 5, fstr(rd, idx, F_PHONE, &v[F_PHONE]));
			bind(ipa, 6, fstr(rd, idx, F_SMS, &v[F_SMS]));
			if (sqlite3_step(ipa) != SQLITE_DONE)
				goto dbfail;
			sqlite3_reset(ipa);
			if (agents(rd, idx, iln, v[F_ID].p, 1, &tmp) < 0)
				goto dbfail;
		}
	}
	if (rc < 0) {
		e = cl_reader_error(rd);
		status = cl_fail(e->code, "%s", e->msg);
		goto out;
	}
	if (!complete) {
		status = cl_fail(
		        "CL326",
		        "%s: the stream is not complete (its trailer says so, or lines were "
		        "lost): no file written",
		        name);
		goto out;
	}
	if (sqlite3_exec(r->db,
	                 "INSERT OR IGNORE INTO temp.ln(parent, student)"
	                 " SELECT parent, student FROM temp.rl"
	                 " WHERE parent IN (SELECT id FROM temp.pa);"
	                 "DELETE FROM temp.ln WHERE student NOT IN (SELECT id FROM temp.st)"
	                 " OR parent NOT IN (SELECT id FROM temp.pa);",
	                 NULL, NULL, NULL) != SQLITE_OK)
		goto dbfail;
	goto out;
dbfail:
	status = db_fail(r, "cannot keep the stream's parents");
out:
	sqlite3_finalize(ist);
	sqlite3_finalize(ipa);
	sqlite3_finalize(iln);
	sqlite3_finalize(irl);
	for (i = 0; i < F_N; i++)
		cl_buf_release(&v[i]);
	cl_buf_release(&tmp);
	cl_reader_free(rd);
	return status;
}

/*
 * The rules: a parent without a usable email, a given or a family name,
 * and a student without a username or names, are not written (CL323); the
 * parents that share an address are not written (CL322).
 */
static int
check_rules(struct run *r)
{
	sqlite3_stmt *s;
	const char *what;

	if (sqlite3_exec(r->db,
	                 "UPDATE temp.pa SET email = trim(email, ' ' || char(9, 10, 11, 12, 13)),"
	                 " norm = cl_norm(email);"
	                 "DELETE FROM temp.ln WHERE parent NOT IN (SELECT id FROM temp.pa);"
	                 "DELETE FROM temp.pa WHERE id NOT IN (SELECT parent FROM temp.ln);"
	                 "DELETE FROM temp.st WHERE id NOT IN (SELECT student FROM temp.ln);",
	                 NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(r, "cannot check the rules");
	s = prep(r, "SELECT id, CASE WHEN username = '' THEN 'School Manager username'"
	            " WHEN given = '' THEN 'given name' ELSE 'family name' END FROM temp.st"
	            " WHERE username = '' OR given = '' OR family = '' ORDER BY id");
	while (s && sqlite3_step(s) == SQLITE_ROW)
		rule(r, "CL323", "student '%s' has no %s: its parents' rows for it are not written",
		     col(s, 0), col(s, 1));
	sqlite3_finalize(s);
	s = prep(r, "SELECT id, CASE WHEN email = '' THEN 'email address'"
	            " WHEN norm = '' THEN 'usable email address'"
	            " WHEN given = '' THEN 'given name' ELSE 'family name' END FROM temp.pa"
	            " WHERE norm = '' OR given = '' OR family = '' ORDER BY id");
	while (s && sqlite3_step(s) == SQLITE_ROW)
		rule(r, "CL323", "parent '%s' has no %s: not written", col(s, 0), col(s, 1));
	sqlite3_finalize(s);
	/* a spreadsheet-safe apostrophe (csvout.h) would change the value School Manager matches */
	s = prep(r,
	         "SELECT 'student', id, 'School Manager username', username FROM temp.st"
	         " WHERE ok AND substr(username, 1, 1) IN ('=', '+', '-', '@', char(9), char(13))"
	         " UNION ALL SELECT 'parent', id, 'email address', email FROM temp.pa"
	         " WHERE norm != '' AND substr(email, 1, 1) IN ('=', '+', '-', '@', char(9), "
	         "char(13))"
	         " ORDER BY 1 DESC, 2");
	while (s && sqlite3_step(s) == SQLITE_ROW)
		rule(r, "CL327",
		     "%s '%s': its %s starts with '%c', which a spreadsheet would run as a "
		     "formula: "
		     "not written",
		     col(s, 0), col(s, 1), col(s, 2), col(s, 3)[0]);
	sqlite3_finalize(s);
	s = prep(r, "SELECT (SELECT group_concat('''' || id || '''', ', ') FROM"
	            "  (SELECT id FROM temp.pa p WHERE p.norm = d.norm ORDER BY id)),"
	            " (SELECT group_concat('''' || student || '''', ', ') FROM"
	            "  (SELECT DISTINCT student FROM temp.ln l JOIN temp.pa p ON p.id = l.parent"
	            "   WHERE p.norm = d.norm ORDER BY student))"
	            " FROM (SELECT norm, min(id) AS first FROM temp.pa WHERE norm != ''"
	            " GROUP BY norm HAVING count(*) > 1) d ORDER BY d.first");
	while (s && sqlite3_step(s) == SQLITE_ROW)
		rule(r, "CL322",
		     "parents %s share one email address: none of them is written (their students: "
		     "%s)",
		     col(s, 0), col(s, 1));
	sqlite3_finalize(s);
	what = "UPDATE temp.st SET ok = 0 WHERE username = '' OR given = '' OR family = ''"
	       " OR substr(username, 1, 1) IN ('=', '+', '-', '@', char(9), char(13));"
	       "UPDATE temp.pa SET ok = 0 WHERE norm = '' OR given = '' OR family = ''"
	       " OR substr(email, 1, 1) IN ('=', '+', '-', '@', char(9), char(13))"
	       " OR norm IN (SELECT norm FROM temp.pa GROUP BY norm HAVING count(*) > 1);"
	       /* what is left to write: links between parents and students that are both ok */
	       "DELETE FROM temp.ln WHERE parent IN (SELECT id FROM temp.pa WHERE NOT ok)"
	       " OR student IN (SELECT id FROM temp.st WHERE NOT ok);";
	if (!s || sqlite3_exec(r->db, what, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(r, "cannot check the rules");
	return 0;
}

/* The next file of set fs (DIR/STEM-NNN.csv), with its BOM and header row. */
static struct pfile *
next_file(struct run *r, struct fileset *fs, const char *header)
{
	struct pfile *f;
	int rc;

	fs->v = cl_xreallocarray(fs->v, fs->n + 1, sizeof *fs->v);
	f = &fs->v[fs->n];
	memset(f, 0, sizeof *f);
	cl_buf_reset(&r->tmp);
	cl_buf_addf(&r->tmp, "%s/%s-%03zu.csv", r->o->dir, fs->stem, fs->n + 1);
	f->path = cl_buf_detach(&r->tmp, NULL);
	if ((rc = cl_out_open(&f->out, f->path, &r->why)) != 0) {
		r->status = cl_fail(rc == CL_OUT_SAME ? "CL010" : "CL325", "%s", r->why.p);
		free(f->path);
		return NULL;
	}
	fs->n++;
	if (!r->o->no_bom)
		fwrite(CL_CSV_BOM, 1, CL_CSV_BOM_LEN, f->out.f);
	fputs(header, f->out.f);
	return f;
}

static void
put_row(struct pfile *f, struct cl_buf *row, const char *const *cells, size_t n)
{
	size_t lens[20], i;

	for (i = 0; i < n; i++)
		lens[i] = strlen(cells[i]);
	cl_buf_reset(row);
	cl_csv_row(row, cells, lens, n);
	fwrite(row->p, 1, row->len, f->out.f);
	f->rows++;
}

static const char simple_header[] =
        "StudentUsername,ParentFirstName,ParentLastName,ParentEmail\r\n";

/* The Simple files: one row per parent and student, by parent then student. */
static int
write_simple(struct run *r)
{
	sqlite3_stmt *s = prep(r, "SELECT s.username, p.given, p.family, p.email FROM temp.ln l"
	                          " JOIN temp.pa p ON p.id = l.parent"
	                          " JOIN temp.st s ON s.id = l.student"
	                          " ORDER BY l.parent, l.student");
	struct pfile *f = NULL;
	const char *cells[4];
	int i, rc;

	if (!s) {
		r->status = db_fail(r, "cannot read the parents");
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((!f || f->rows >= (unsigned long long)r->o->rows) &&
		    !(f = next_file(r, &r->simple, simple_header))) {
			sqlite3_finalize(s);
			return -1;
		}
		for (i = 0; i < 4; i++)
			cells[i] = col(s, i);
		put_row(f, &r->row, cells, 4);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		r->status = db_fail(r, "cannot read the parents");
		return -1;
	}
	return 0;
}

static const char oneroster_header[] =
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
        "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,"
        "password\r\n";

enum {
	OR_SOURCEDID,
	OR_STATUS,
	OR_MODIFIED,
	OR_ENABLED,
	OR_ORGS,
	OR_ROLE,
	OR_USERNAME,
	OR_USERIDS,
	OR_GIVEN,
	OR_FAMILY,
	OR_MIDDLE,
	OR_IDENT,
	OR_EMAIL,
	OR_SMS,
	OR_PHONE,
	OR_AGENTS,
	OR_GRADES,
	OR_PASSWORD,
	OR_N
};

/* The OneRoster statements: a parent's students, its schools, a student's parents. */
struct orq {
	sqlite3_stmt *parents, *students, *count, *orgs, *mark, *clear;
};

static void
orq_free(struct orq *q)
{
	sqlite3_finalize(q->parents);
	sqlite3_finalize(q->students);
	sqlite3_finalize(q->count);
	sqlite3_finalize(q->orgs);
	sqlite3_finalize(q->mark);
	sqlite3_finalize(q->clear);
}

/*
 * The OneRoster files: for each parent, in id order, its students that the
 * file does not have yet (role Student), then the parent (role Guardian),
 * so that a file holds every student its guardians name: a parent's rows
 * are never split over two files (CL324 when they cannot fit in one).
 */
static int
write_oneroster(struct run *r)
{
	struct orq q = { 0 };
	struct pfile *f = NULL;
	const char *cells[OR_N];
	struct cl_buf agents_of = CL_BUF_INIT, orgs = CL_BUF_INIT, grades = CL_BUF_INIT;
	long long need;
	int i, rc = 0, fail = 0;

	q.parents = prep(r, "SELECT id, given, family, email, sms, phone FROM temp.pa"
	                    " WHERE id IN (SELECT parent FROM temp.ln) ORDER BY id");
	q.students = prep(r, "SELECT s.id, s.username, s.given, s.family, s.identifier,"
	                     " (SELECT group_concat(value, ',') FROM"
	                     "  (SELECT DISTINCT value FROM json_each(s.schools) ORDER BY value)),"
	                     " (SELECT group_concat(value, ',') FROM"
	                     "  (SELECT DISTINCT value FROM json_each(s.grades) ORDER BY value)),"
	                     " (SELECT group_concat(parent, ',') FROM"
	                     "  (SELECT parent FROM temp.ln m WHERE m.student = s.id"
	                     "   ORDER BY parent)),"
	                     " s.id IN (SELECT student FROM temp.infile)"
	                     " FROM temp.ln l JOIN temp.st s ON s.id = l.student"
	                     " WHERE l.parent = ?1 ORDER BY s.id");
	q.count = prep(r, "SELECT count(*), sum(student NOT IN (SELECT student FROM temp.infile))"
	                  " FROM temp.ln WHERE parent = ?1");
	q.orgs =
	        prep(r, "SELECT group_concat(value, ',') FROM (SELECT DISTINCT j.value AS value"
	                " FROM temp.ln l JOIN temp.st s ON s.id = l.student, json_each(s.schools) j"
	                " WHERE l.parent = ?1 ORDER BY j.value)");
	q.mark = prep(r, "INSERT OR IGNORE INTO temp.infile(student) VALUES (?1)");
	q.clear = prep(r, "DELETE FROM temp.infile");
	if (!q.parents || !q.students || !q.count || !q.orgs || !q.mark || !q.clear) {
		orq_free(&q);
		r->status = db_fail(r, "cannot read the parents");
		return -1;
	}
	while (!fail && (rc = sqlite3_step(q.parents)) == SQLITE_ROW) {
		const char *pid = col(q.parents, 0);

		sqlite3_bind_text(q.count, 1, pid, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q.count) != SQLITE_ROW) {
			fail = 1;
			break;
		}
		need = 1 + sqlite3_column_int64(q.count, 0);
		if (need > r->o->rows) {
			sqlite3_reset(q.count);
			rule(r, "CL324",
			     "parent '%s' and its %lld students make %lld OneRoster rows, more "
			     "than "
			     "--rows %lld: not written to the OneRoster files",
			     pid, need - 1, need, r->o->rows);
			continue;
		}
		if (f)
			need = 1 + sqlite3_column_int64(q.count, 1);
		sqlite3_reset(q.count);
		if (!f || f->rows + (unsigned long long)need > (unsigned long long)r->o->rows) {
			if (!(f = next_file(r, &r->oneroster, oneroster_header))) {
				fail = 2; /* reported */
				break;
			}
			sqlite3_step(q.clear);
			sqlite3_reset(q.clear);
		}
		cl_buf_reset(&agents_of);
		sqlite3_bind_text(q.students, 1, pid, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(q.students) == SQLITE_ROW) {
			const char *sid = col(q.students, 0);

			if (agents_of.len)
				cl_buf_addc(&agents_of, ',');
			cl_buf_adds(&agents_of, sid);
			if (sqlite3_column_int(q.students, 8))
				continue; /* already in this file */
			for (i = 0; i < OR_N; i++)
				cells[i] = "";
			cl_buf_reset(&orgs);
			cl_buf_adds(&orgs, col(q.students, 5));
			cl_buf_reset(&grades);
			cl_buf_adds(&grades, col(q.students, 6));
			cells[OR_SOURCEDID] = sid;
			cells[OR_ENABLED] = "true";
			cells[OR_ORGS] = orgs.p;
			cells[OR_ROLE] = "Student";
			cells[OR_USERNAME] = col(q.students, 1);
			cells[OR_GIVEN] = col(q.students, 2);
			cells[OR_FAMILY] = col(q.students, 3);
			cells[OR_IDENT] = col(q.students, 4);
			cells[OR_AGENTS] = col(q.students, 7);
			cells[OR_GRADES] = grades.p;
			put_row(f, &r->row, cells, OR_N);
			sqlite3_bind_text(q.mark, 1, sid, -1, SQLITE_TRANSIENT);
			sqlite3_step(q.mark);
			sqlite3_reset(q.mark);
		}
		sqlite3_reset(q.students);
		sqlite3_bind_text(q.orgs, 1, pid, -1, SQLITE_TRANSIENT);
		cl_buf_reset(&orgs);
		if (sqlite3_step(q.orgs) == SQLITE_ROW)
			cl_buf_adds(&orgs, col(q.orgs, 0));
		sqlite3_reset(q.orgs);
		for (i = 0; i < OR_N; i++)
			cells[i] = "";
		cells[OR_SOURCEDID] = pid;
		cells[OR_ENABLED] = "true";
		cells[OR_ORGS] = orgs.p;
		cells[OR_ROLE] = "Guardian";
		cells[OR_USERNAME] = col(q.parents, 3);
		cells[OR_GIVEN] = col(q.parents, 1);
		cells[OR_FAMILY] = col(q.parents, 2);
		cells[OR_EMAIL] = col(q.parents, 3);
		cells[OR_SMS] = col(q.parents, 4);
		cells[OR_PHONE] = col(q.parents, 5);
		cells[OR_AGENTS] = agents_of.p;
		put_row(f, &r->row, cells, OR_N);
	}
	orq_free(&q);
	cl_buf_release(&agents_of);
	cl_buf_release(&orgs);
	cl_buf_release(&grades);
	if (fail == 1 || (!fail && rc != SQLITE_DONE))
		r->status = db_fail(r, "cannot read the parents");
	return fail || rc != SQLITE_DONE ? -1 : 0;
}

/*
 * Removes the numbered files of fs's format in DIR past the last one this
 * run wrote (an older, larger run's): they would be uploaded with these.
 */
static void
remove_older(struct run *r, const struct fileset *fs)
{
	size_t stem = strlen(fs->stem), i;
	unsigned long long k;
	struct dirent *de;
	DIR *d;

	if (!(d = opendir(r->o->dir)))
		return;
	while ((de = readdir(d))) {
		const char *n = de->d_name;

		if (strncmp(n, fs->stem, stem) != 0 || n[stem] != '-')
			continue;
		for (i = stem + 1, k = 0; n[i] >= '0' && n[i] <= '9' && k < 1000000; i++)
			k = k * 10 + (unsigned long long)(n[i] - '0');
		if (i == stem + 1 || strcmp(n + i, ".csv") != 0 || k <= fs->n)
			continue;
		cl_buf_reset(&r->tmp);
		cl_buf_addf(&r->tmp, "%s/%s", r->o->dir, n);
		unlink(r->tmp.p);
	}
	closedir(d);
}

/* Puts every file in place, or none; then removes older numbered files past the last. */
static int
commit_files(struct run *r, struct fileset *fs)
{
	size_t i;
	int status = 0;

	for (i = 0; i < fs->n; i++) {
		if (status == 0 && cl_out_commit(&fs->v[i].out, &r->why) < 0)
			status = cl_fail("CL325", "%s", r->why.p);
		else if (status != 0)
			cl_out_abort(&fs->v[i].out);
		else
			printf("%s %llu\n", fs->v[i].path, fs->v[i].rows);
	}
	if (status == 0)
		remove_older(r, fs);
	return status;
}

static void
abort_files(struct fileset *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		cl_out_abort(&fs->v[i].out);
}

static void
free_files(struct fileset *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		free(fs->v[i].path);
	free(fs->v);
}

/* DIR must be a folder this user can write in. */
static int
check_dir(const char *dir)
{
	struct stat sb;

	if (stat(dir, &sb) < 0)
		return cl_fail("CL325", "%s: cannot use the folder:", dir);
	if (!S_ISDIR(sb.st_mode))
		return cl_fail("CL325", "%s: not a folder", dir);
	if (access(dir, W_OK | X_OK) < 0)
		return cl_fail("CL325", "%s: cannot write in the folder:", dir);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct run r;
	int status, fd = -1, st;

	cl_diag_init(argv[0]);
	memset(&o, 0, sizeof o);
	o.formats = FMT_SIMPLE | FMT_ONEROSTER;
	o.rows = ROWS_DEFAULT;
	memset(&r, 0, sizeof r);
	r.o = &o;
	r.simple.stem = "parents-simple";
	r.oneroster.stem = "parents-oneroster";
	cl_buf_init(&r.row);
	cl_buf_init(&r.tmp);
	cl_buf_init(&r.why);

	if ((status = parse_options(&o, argc, argv)) >= 0)
		goto out;
	if (o.stream && strcmp(o.stream, "-") == 0) {
		fd = STDIN_FILENO;
	} else if (o.stream && (fd = open(o.stream, O_RDONLY | O_CLOEXEC)) < 0) {
		status = cl_fail("CL007", "%s: cannot open the roster stream:", o.stream);
		goto out;
	}
	if ((status = open_db(&r)) != 0 || (o.state && (status = check_state(&r)) != 0))
		goto out;
	if ((status = check_dir(o.dir)) != 0 || o.check_args)
		goto out;
	if (o.state)
		cl_out_note_input_path(o.state);
	else
		cl_out_note_input_fd(fd);
	/* one transaction: the state read from one snapshot, the temporary tables never synced */
	if (sqlite3_exec(r.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(r.db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		status = db_fail(&r, "cannot make the temporary tables");
		goto out;
	}
	if ((status = o.state ? load_state(&r) : load_stream(&r, fd)) != 0)
		goto out;
	if ((status = check_rules(&r)) != 0)
		goto out;
	if (((o.formats & FMT_SIMPLE) && write_simple(&r) < 0) ||
	    ((o.formats & FMT_ONEROSTER) && write_oneroster(&r) < 0)) {
		status = r.status;
		goto out;
	}
	rules_hidden(&r);
	status = r.status;
	if (((o.formats & FMT_SIMPLE) && (st = commit_files(&r, &r.simple)) != 0) ||
	    ((o.formats & FMT_ONEROSTER) && (st = commit_files(&r, &r.oneroster)) != 0))
		status = st;
out:
	abort_files(&r.simple); /* what was not committed */
	abort_files(&r.oneroster);
	status = cl_exit(status);
	free_files(&r.simple);
	free_files(&r.oneroster);
	sqlite3_close(r.db);
	cl_buf_release(&r.row);
	cl_buf_release(&r.tmp);
	cl_buf_release(&r.why);
	if (fd > STDIN_FILENO)
		close(fd);
	return status;
}
