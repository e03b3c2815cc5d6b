/*
 * cl-apply: the reference applier. Applies a change set (cl-load's output,
 * docs/changeset.md) to a local SQLite mirror of what School Manager should
 * hold: linked users, classes, memberships, contacts, relationships. The
 * mirror is what an administrator queries (sqlite3) to see what School
 * Manager was told, the test oracle of the replay test, and the model for
 * an applier of one's own target.
 *
 * The contract it shows (cl-apply(1)):
 *  - all or nothing: the whole change set is applied in one transaction,
 *    only when it is whole (a begin line first, an end line last) and its
 *    end line says it may be applied (not failed, not a dry run);
 *  - every op is idempotent: a create, link, add or update is an upsert of
 *    the record's whole fields (an update's "changed" is informative, never
 *    checked); a delete, unlink or remove of what is not there is nothing;
 *    so re-applying a change set, or one that overlaps an earlier one, is
 *    harmless;
 *  - a dependent record goes with what it depends on (a class's
 *    memberships when it is deleted, a user's memberships and relationships
 *    when it is unlinked, a contact's relationships), as School Manager
 *    does; a membership or relationship whose class, user, contact or
 *    student the mirror lacks cannot be applied (CL443);
 *  - anything it cannot apply is an error with its code and line, and a
 *    non-zero exit: nothing of the change set was applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jv.h>
#include <sqlite3.h>

#include "buf.h"
#include "cli.h"
#include "diag.h"
#include "errors.h"
#include "stream.h"

#define APPLY_APP_ID 0x434c4d52 /* "CLMR" */
#define MAX_LINE (16 << 20)

static const char usage[] = "usage: cl-apply --mirror FILE.db [FILE]\n";

static const struct cl_opt opts[] = {
	{ 'm', "mirror", CL_ARG_REQUIRED, "FILE.db", "the mirror (created on first use, 0600)" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-apply", usage,
	"Applies the change set in FILE or stdin (cl-load's output) to a SQLite mirror of\n"
	"what School Manager should hold, all or nothing; every op is idempotent.\n",
	opts
};

/* One entity of the change set: its table, ops, id columns and fields. */
struct ent {
	const char *name, *table;
	const char *op[3];   /* create, update, delete */
	const char *key[2];  /* id columns (the change line's id keys); key[1] NULL: one */
	const char *col[8];  /* the fields, NULL-terminated */
	const char *need[2]; /* per key: the table it must be in to add ("users"), or NULL */
	const char *cascade; /* on delete: what goes with it */
};

static const struct ent ents[] = {
	{ "user",
	  "users",
	  { "link", "update", "unlink" },
	  { "id", NULL },
	  { "sm_id", "role", "givenName", "familyName", "grades", "identifier", "schools", NULL },
	  { NULL, NULL },
	  "DELETE FROM memberships WHERE \"user\" = ?1;"
	  "DELETE FROM relationships WHERE student = ?1" },
	{ "class",
	  "classes",
	  { "create", "update", "delete" },
	  { "id", NULL },
	  { "title", "classCode", "course", "school", "terms", "periods", NULL },
	  { NULL, NULL },
	  "DELETE FROM memberships WHERE \"class\" = ?1" },
	{ "membership",
	  "memberships",
	  { "add", "update", "remove" },
	  { "class", "user" },
	  { "sm_id", "role", NULL },
	  { "classes", "users" },
	  NULL },
	{ "contact",
	  "contacts",
	  { "create", "update", "delete" },
	  { "id", NULL },
	  { "role", "givenName", "familyName", "email", "phone", "sms", NULL },
	  { NULL, NULL },
	  "DELETE FROM relationships WHERE parent = ?1" },
	{ "relationship",
	  "relationships",
	  { "add", "update", "remove" },
	  { "parent", "student" },
	  { "sm_id", NULL },
	  { "contacts", "users" },
	  NULL },
};

#define NENT (sizeof ents / sizeof ents[0])

/* The compiled statements of one entity. */
struct stmts {
	sqlite3_stmt *upsert, *del, *need[2];
	sqlite3_stmt *cascade[2];
};

struct apply {
	const char *mirror, *input;
	sqlite3 *db;
	struct stmts s[NENT];
	sqlite3_stmt *log;
	long long counts[NENT][3], cascaded;
	long long sync;
	int in_txn;
	int check_args; /* --check-args: the mirror is not opened */
};

static int
parse_options(struct apply *A, int argc, char *argv[])
{
	struct cl_getopt g;
	int c;

	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case 'm':
			A->mirror = g.arg;
			break;
		default: /* CL_OPT_EXIT */
			return g.status;
		}
	}
	if (!A->mirror)
		return cl_usage_error(&cmd, "--mirror is required");
	A->check_args = g.check_args;
	return cl_getopt_input(&g, &A->input);
}

static int
db_fail(struct apply *A, const char *what)
{
	int rc = sqlite3_extended_errcode(A->db) & 0xff;

	return cl_fail(rc == SQLITE_NOTADB || rc == SQLITE_CANTOPEN || rc == SQLITE_READONLY ||
	                               rc == SQLITE_PERM
	                       ? "CL444"
	                       : "CL445",
	               "mirror '%s': %s: %s", A->mirror, what, sqlite3_errmsg(A->db));
}

static sqlite3_stmt *
prep(struct apply *A, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(A->db, sql, -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

/* The mirror's schema (cl-apply(1), MIRROR): lists are stored as JSON arrays. */
static const char schema[] =
        "CREATE TABLE IF NOT EXISTS users(id TEXT PRIMARY KEY, sm_id TEXT, role TEXT,"
        " givenName TEXT, familyName TEXT, grades TEXT, identifier TEXT, schools TEXT);"
        "CREATE TABLE IF NOT EXISTS classes(id TEXT PRIMARY KEY, title TEXT, classCode TEXT,"
        " course TEXT, school TEXT, terms TEXT, periods TEXT);"
        "CREATE TABLE IF NOT EXISTS memberships(\"class\" TEXT, \"user\" TEXT, sm_id TEXT,"
        " role TEXT, PRIMARY KEY (\"class\", \"user\"));"
        "CREATE TABLE IF NOT EXISTS contacts(id TEXT PRIMARY KEY, role TEXT, givenName TEXT,"
        " familyName TEXT, email TEXT, phone TEXT, sms TEXT);"
        "CREATE TABLE IF NOT EXISTS relationships(parent TEXT, student TEXT, sm_id TEXT,"
        " PRIMARY KEY (parent, student));"
        "CREATE TABLE IF NOT EXISTS applied(sync INTEGER PRIMARY KEY, at TEXT NOT NULL,"
        " status TEXT NOT NULL, changes INTEGER NOT NULL);";

/* Opens (creates) the mirror, checks it is one, prepares every statement. */
static int
open_mirror(struct apply *A)
{
	struct cl_buf q = CL_BUF_INIT;
	sqlite3_stmt *s;
	long long app = -1, tables = 0;
	size_t e, i;
	int fd;

	fd = open(A->mirror, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return cl_fail("CL444", "cannot open mirror '%s': %s", A->mirror, strerror(errno));
	close(fd);
	if (sqlite3_open_v2(A->mirror, &A->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return db_fail(A, "open");
	sqlite3_busy_timeout(A->db, 1000);
	if ((s = prep(A, "SELECT (SELECT application_id FROM pragma_application_id),"
	                 " (SELECT count(*) FROM sqlite_master)"))) {
		if (sqlite3_step(s) == SQLITE_ROW) {
			app = sqlite3_column_int64(s, 0);
			tables = sqlite3_column_int64(s, 1);
		}
		sqlite3_finalize(s);
	}
	if (app < 0)
		return db_fail(A, "reading it");
	if (app != APPLY_APP_ID && (app != 0 || tables != 0))
		return cl_fail("CL444",
		               "'%s' is not a cl-apply mirror: the file was left as it was",
		               A->mirror);
	if (sqlite3_exec(A->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(A->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(A, "locking it");
	A->in_txn = 1;
	cl_buf_addf(&q, "PRAGMA application_id = %d;", APPLY_APP_ID);
	cl_buf_adds(&q, schema);
	if (sqlite3_exec(A->db, q.p, NULL, NULL, NULL) != SQLITE_OK) {
		cl_buf_release(&q);
		return db_fail(A, "creating its tables");
	}
	for (e = 0; e < NENT; e++) {
		const struct ent *t = &ents[e];
		struct stmts *st = &A->s[e];
		const char *sep = t->key[1] ? " AND " : "";

		/* INSERT ... ON CONFLICT DO UPDATE: the whole fields, whatever was there */
		cl_buf_reset(&q);
		cl_buf_addf(&q, "INSERT INTO %s(\"%s\"%s%s%s", t->table, t->key[0],
		            t->key[1] ? ", \"" : "", t->key[1] ? t->key[1] : "",
		            t->key[1] ? "\"" : "");
		for (i = 0; t->col[i]; i++)
			cl_buf_addf(&q, ", %s", t->col[i]);
		cl_buf_addf(&q, ") VALUES (?1%s", t->key[1] ? ", ?2" : "");
		for (i = 0; t->col[i]; i++)
			cl_buf_addf(&q, ", json_extract(?3, '$.%s')", t->col[i]);
		cl_buf_addf(&q, ") ON CONFLICT DO UPDATE SET ");
		for (i = 0; t->col[i]; i++)
			cl_buf_addf(&q, "%s%s = excluded.%s", i ? ", " : "", t->col[i], t->col[i]);
		if (!(st->upsert = prep(A, q.p)))
			break;
		cl_buf_reset(&q);
		cl_buf_addf(&q, "DELETE FROM %s WHERE \"%s\" = ?1%s", t->table, t->key[0], sep);
		if (t->key[1])
			cl_buf_addf(&q, "\"%s\" = ?2", t->key[1]);
		if (!(st->del = prep(A, q.p)))
			break;
		for (i = 0; i < 2; i++) {
			if (!t->need[i])
				continue;
			cl_buf_reset(&q);
			cl_buf_addf(&q, "SELECT 1 FROM %s WHERE id = ?1", t->need[i]);
			if (!(st->need[i] = prep(A, q.p)))
				break;
		}
		if (t->cascade) {
			const char *semi = strchr(t->cascade, ';');

			cl_buf_reset(&q);
			cl_buf_add(&q, t->cascade,
			           semi ? (size_t)(semi - t->cascade) : strlen(t->cascade));
			if (!(st->cascade[0] = prep(A, q.p)) ||
			    (semi && !(st->cascade[1] = prep(A, semi + 1))))
				break;
		}
	}
	cl_buf_release(&q);
	if (e < NENT)
		return db_fail(A, "preparing");
	if (!(A->log = prep(A, "INSERT OR REPLACE INTO applied(sync, at, status, changes)"
	                       " VALUES (?1, ?2, ?3, ?4)")))
		return db_fail(A, "preparing");
	return -1;
}

/* A string member of o, or NULL. Borrows o; the string lives as long as o. */
static const char *
str_of(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	const char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jv_string_value(v); /* still owned by o */
	jv_free(v);
	return s;
}

static int
step(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc;
}

/* Applies one change line; returns 0, or the exit status after the error. */
static int
change(struct apply *A, jv o, const char *where)
{
	const char *en = str_of(o, "entity"), *op = str_of(o, "op"), *k[2] = { NULL, NULL };
	jv f = jv_object_get(jv_copy(o), jv_string("fields")), fs = jv_invalid();
	const struct ent *t = NULL;
	struct stmts *st;
	size_t e, w, i;
	int rc = 0;

	for (e = 0; en && e < NENT; e++)
		if (!strcmp(ents[e].name, en))
			break;
	if (!en || e == NENT) {
		rc = cl_fail("CL440", "%s: unknown entity '%s'", where, en ? en : "(none)");
		goto out;
	}
	t = &ents[e];
	st = &A->s[e];
	for (w = 0; op && w < 3; w++)
		if (!strcmp(t->op[w], op))
			break;
	if (!op || w == 3) {
		rc = cl_fail("CL440", "%s: %s: unknown op '%s'", where, en, op ? op : "(none)");
		goto out;
	}
	for (i = 0; i < 2 && t->key[i]; i++)
		if (!(k[i] = str_of(o, t->key[i])) || !*k[i]) {
			rc = cl_fail("CL440", "%s: %s %s: no \"%s\"", where, en, op, t->key[i]);
			goto out;
		}
	if (w == 2) {
		/* gone: itself and what depends on it; absent already is fine */
		for (i = 0; i < 2 && st->cascade[i]; i++) {
			sqlite3_bind_text(st->cascade[i], 1, k[0], -1, SQLITE_STATIC);
			if (step(st->cascade[i]) != SQLITE_DONE)
				goto dberr;
			A->cascaded += sqlite3_changes(A->db);
		}
		sqlite3_bind_text(st->del, 1, k[0], -1, SQLITE_STATIC);
		if (k[1])
			sqlite3_bind_text(st->del, 2, k[1], -1, SQLITE_STATIC);
		if (step(st->del) != SQLITE_DONE)
			goto dberr;
		A->counts[e][w]++;
		goto out;
	}
	if (jv_get_kind(f) != JV_KIND_OBJECT) {
		rc = cl_fail("CL440", "%s: %s %s: no \"fields\" object", where, en, op);
		goto out;
	}
	for (i = 0; i < 2; i++) {
		if (!st->need[i])
			continue;
		sqlite3_bind_text(st->need[i], 1, k[i], -1, SQLITE_STATIC);
		if (step(st->need[i]) != SQLITE_ROW) {
			rc = cl_fail("CL443", "%s: %s %s of %s '%s': the mirror holds no such %s",
			             where, en, op, t->key[i], k[i], t->key[i]);
			goto out;
		}
	}
	fs = jv_dump_string(jv_copy(f), 0);
	sqlite3_bind_text(st->upsert, 1, k[0], -1, SQLITE_STATIC);
	if (k[1])
		sqlite3_bind_text(st->upsert, 2, k[1], -1, SQLITE_STATIC);
	sqlite3_bind_text(st->upsert, 3, jv_string_value(fs), -1, SQLITE_STATIC);
	if (step(st->upsert) != SQLITE_DONE)
		goto dberr;
	A->counts[e][w]++;
	goto out;
dberr:
	rc = db_fail(A, "applying");
out:
	jv_free(fs);
	jv_free(f);
	return rc;
}

/* Reads the change set and applies it; returns 0 or the exit status. */
static int
apply_all(struct apply *A, FILE *in, const char *name)
{
	struct cl_buf where = CL_BUF_INIT;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long long lineno = 0, changes = 0;
	int rc = 0, began = 0, ended = 0;
	char status_name[16] = "";

	while (rc == 0 && (n = getline(&line, &cap, in)) > 0) {
		jv o;
		const char *kind;

		lineno++;
		cl_buf_reset(&where);
		cl_buf_addf(&where, "%s:%lld", name, lineno);
		if (n > MAX_LINE || line[n - 1] != '\n') {
			rc = n > MAX_LINE ? cl_fail("CL440", "%s: line too long", where.p)
			                  : cl_fail("CL441",
			                            "%s: the last line has no newline: cut "
			                            "short",
			                            where.p);
			break;
		}
		o = jv_parse_sized(line, (int)n - 1);
		if (jv_get_kind(o) != JV_KIND_OBJECT || !(kind = str_of(o, "kind"))) {
			rc = cl_fail("CL440", "%s: not a JSON object with a \"kind\"", where.p);
			jv_free(o);
			break;
		}
		if (ended) {
			rc = cl_fail("CL440", "%s: a line after the end line", where.p);
		} else if (!strcmp(kind, "begin")) {
			jv id = jv_object_get(jv_copy(o), jv_string("sync"));

			if (began)
				rc = cl_fail("CL440", "%s: a second begin line", where.p);
			began = 1;
			if (jv_get_kind(id) == JV_KIND_NUMBER)
				A->sync = (long long)jv_number_value(id);
			jv_free(id);
		} else if (!began) {
			rc = cl_fail("CL441", "%s: the change set does not start with a begin line",
			             where.p);
		} else if (!strcmp(kind, "change")) {
			rc = change(A, o, where.p);
			changes++;
		} else if (!strcmp(kind, "end")) {
			const char *status = str_of(o, "status");
			jv dry = jv_object_get(jv_copy(o), jv_string("dry_run"));

			ended = 1;
			if (!status || !strcmp(status, "failed") ||
			    jv_get_kind(dry) == JV_KIND_TRUE)
				rc = cl_fail("CL442",
				             "%s: the change set of sync %lld says not to apply "
				             "it (%s)",
				             where.p, A->sync,
				             jv_get_kind(dry) == JV_KIND_TRUE ? "a dry run"
				                                              : "failed");
			else
				snprintf(status_name, sizeof status_name, "%s", status);
			jv_free(dry);
		} else {
			rc = cl_fail("CL440", "%s: unknown kind '%s'", where.p, kind);
		}
		jv_free(o);
	}
	if (rc == 0 && ferror(in))
		rc = cl_fail("CL007", "cannot read '%s':", name);
	else if (rc == 0 && !ended)
		rc = cl_fail("CL441",
		             "%s: the change set has no end line: cut short, nothing applied",
		             name);
	if (rc == 0) {
		char at[32];

		cl_iso8601(cl_now(), at);
		sqlite3_bind_int64(A->log, 1, A->sync);
		sqlite3_bind_text(A->log, 2, at, -1, SQLITE_STATIC);
		sqlite3_bind_text(A->log, 3, status_name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(A->log, 4, changes);
		if (step(A->log) != SQLITE_DONE ||
		    sqlite3_exec(A->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			rc = db_fail(A, "committing");
		else
			A->in_txn = 0;
	}
	free(line);
	cl_buf_release(&where);
	return rc;
}

/* What was applied, one JSON line on stdout. */
static void
summary(struct apply *A)
{
	size_t e, w;

	printf("{\"sync\":%lld,\"applied\":{", A->sync);
	for (e = 0; e < NENT; e++) {
		printf("%s\"%s\":{", e ? "," : "", ents[e].name);
		for (w = 0; w < 3; w++)
			printf("%s\"%s\":%lld", w ? "," : "", ents[e].op[w], A->counts[e][w]);
		putchar('}');
	}
	printf("},\"cascaded\":%lld}\n", A->cascaded);
}

int
main(int argc, char *argv[])
{
	struct apply A;
	FILE *in = stdin;
	size_t e, i;
	int status;

	cl_diag_init(argv[0]);
	memset(&A, 0, sizeof A);
	if ((status = parse_options(&A, argc, argv)) >= 0)
		goto out;
	if (A.input && !(in = fopen(A.input, "re"))) {
		status = cl_fail("CL007", "cannot open '%s': %s", A.input, strerror(errno));
		goto out;
	}
	if (A.check_args) {
		status = CL_EX_OK; /* the change set not read, the mirror not opened */
		goto out;
	}
	if ((status = open_mirror(&A)) >= 0)
		goto out;
	status = apply_all(&A, in, A.input ? A.input : "<stdin>");
	if (status == 0)
		summary(&A);
out:
	status = cl_exit(status);
	if (in && in != stdin)
		fclose(in);
	for (e = 0; e < NENT; e++) {
		sqlite3_finalize(A.s[e].upsert);
		sqlite3_finalize(A.s[e].del);
		for (i = 0; i < 2; i++) {
			sqlite3_finalize(A.s[e].need[i]);
			sqlite3_finalize(A.s[e].cascade[i]);
		}
	}
	sqlite3_finalize(A.log);
	if (A.db && A.in_txn)
		sqlite3_exec(A.db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(A.db);
	return status;
}
