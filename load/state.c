/*
 * state.c: the state file. SQLite, WAL, created on first use (0600), with
 * PRAGMA application_id marking it as ours and PRAGMA user_version its
 * schema; one migration function per version step. One writer at a time:
 * BEGIN IMMEDIATE at the start of a run holds the write lock until the
 * commit, so a second cl-load stops at once with CL424 (exit 75).
 *
 * A file that is not ours is never written: it is checked before anything
 * that could write (journal mode, schema) runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "load.h"

#define BUSY_MS 1000

void
load_db_error(struct load *L, const char *what)
{
	int rc = sqlite3_extended_errcode(L->state.db) & 0xff;
	const char *msg = sqlite3_errmsg(L->state.db);

	L->state.bad = 1;

	switch (rc) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		load_error(L, "CL424", "state '%s' is in use by another cl-load (%s): try later",
		           L->o.state, what);
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		load_error(L, "CL422", "state '%s' is damaged (%s: %s)", L->o.state, what, msg);
		break;
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		load_error(L, "CL420", "state '%s' cannot be written (%s: %s)", L->o.state, what,
		           msg);
		break;
	case SQLITE_NOMEM:
		cl_oom();
	default:
		load_error(L, "CL425", "state '%s': %s: %s", L->o.state, what, msg);
	}
}

int
load_exec(struct load *L, const char *sql)
{
	if (sqlite3_exec(L->state.db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		load_db_error(L, "updating the state");
		return -1;
	}
	return 0;
}

sqlite3_stmt *
load_prepare(struct load *L, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(L->state.db, sql, -1, &s, NULL) != SQLITE_OK) {
		load_db_error(L, "prepare");
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

/* One integer from a query, or -1 with the error reported. */
static long long
query_int(struct load *L, const char *sql)
{
	sqlite3_stmt *s = load_prepare(L, sql);
	long long v = -1;

	if (!s)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		load_db_error(L, "reading the state");
	sqlite3_finalize(s);
	return v;
}

char *
load_meta_get(struct load *L, const char *key)
{
	sqlite3_stmt *s = load_prepare(L, "SELECT value FROM meta WHERE key = ?1");
	char *v = NULL;

	if (!s)
		return NULL;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_TEXT)
		v = cl_xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return v;
}

int
load_meta_set(struct load *L, const char *key, const char *value)
{
	sqlite3_stmt *s =
	        load_prepare(L, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)");
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	rc = sqlite3_step(s);
	if (load_done(L, s, rc, "meta") < 0)
		return -1;
	return 0;
}

long long
load_meta_int(struct load *L, const char *key)
{
	char *v = load_meta_get(L, key);
	long long n = v ? strtoll(v, NULL, 10) : 0;

	free(v);
	return n;
}

/* Schema steps: migrate[v] takes a state at version v to v + 1. */
static int
migrate_0(struct load *L)
{
	char sql[128];

	snprintf(sql, sizeof sql, "PRAGMA application_id = %d", LOAD_APP_ID);
	return load_exec(L, sql) < 0 ||
	                       load_exec(L, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) "
	                                    "WITHOUT ROWID;"
	                                    "CREATE TABLE records("
	                                    " entity INTEGER NOT NULL,"
	                                    " id TEXT NOT NULL,"
	                                    " hash INTEGER NOT NULL,"
	                                    " fields TEXT NOT NULL,"
	                                    " sync INTEGER NOT NULL,"
	                                    " PRIMARY KEY (entity, id)) WITHOUT ROWID;"
	                                    "CREATE TABLE syncs("
	                                    " id INTEGER PRIMARY KEY,"
	                                    " started TEXT NOT NULL,"
	                                    " finished TEXT,"
	                                    " status TEXT NOT NULL,"
	                                    " details TEXT NOT NULL);") < 0
	               ? -1
	               : 0;
}

/*
 * Version 2: plan, apply, commit (pending.c). A pending sync is a row of
 * pending (what its Sync Details and the history will say, the generation
 * it was computed from, the last_sync date its commit sets, whether its
 * stream was whole) and its ops in pending_ops (hash and fields; a deletion
 * has NULL for both). unsure holds what a change set that was written but
 * never committed touched, re-sent by the next sync. meta "generation"
 * (absent: 0) counts the commits and resets; meta "resend" (1: re-send
 * every record) is set by --reset.
 */
static int
migrate_1(struct load *L)
{
	return load_exec(L, "CREATE TABLE pending("
	                    " id INTEGER PRIMARY KEY,"
	                    " base INTEGER NOT NULL,"
	                    " started TEXT NOT NULL,"
	                    " finished TEXT,"
	                    " status TEXT NOT NULL,"
	                    " details TEXT NOT NULL,"
	                    " last_sync TEXT,"
	                    " whole INTEGER NOT NULL);"
	                    "CREATE TABLE pending_ops("
	                    " sync INTEGER NOT NULL,"
	                    " entity INTEGER NOT NULL,"
	                    " id TEXT NOT NULL,"
	                    " hash INTEGER,"
	                    " fields TEXT,"
	                    " PRIMARY KEY (sync, entity, id)) WITHOUT ROWID;"
	                    "CREATE TABLE unsure("
	                    " entity INTEGER NOT NULL,"
	                    " id TEXT NOT NULL,"
	                    " fields TEXT,"
	                    " PRIMARY KEY (entity, id)) WITHOUT ROWID;");
}

/*
 * Version 3: what explains a deletion (diff.c). sessions: each
 * academicSession's endDate as the streams gave it (the last one seen), so
 * that a class gone from the stream after its terms ended is known to have
 * ended even when the stream no longer has its sessions either.
 */
static int
migrate_2(struct load *L)
{
	return load_exec(L, "CREATE TABLE sessions("
	                    " id TEXT PRIMARY KEY,"
	                    " ends TEXT NOT NULL) WITHOUT ROWID;");
}

static int (*const migrate[LOAD_SCHEMA])(struct load *) = { migrate_0, migrate_1, migrate_2 };

static int
migrate_all(struct load *L)
{
	long long v = query_int(L, "PRAGMA user_version");
	char sql[64];

	if (v < 0)
		return -1;
	if (v > LOAD_SCHEMA) {
		load_error(L, "CL423", "state '%s' has schema version %lld; this cl-load knows %d",
		           L->o.state, v, LOAD_SCHEMA);
		return -1;
	}
	for (; v < LOAD_SCHEMA; v++) {
		if (migrate[v](L) < 0)
			return -1;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", v + 1);
		if (load_exec(L, sql) < 0)
			return -1;
	}
	return 0;
}

/*
 * The field list the state's records are encoded with: meta "fields_hash",
 * load_fields_hash() in hex. Another value (a field added, removed, renamed
 * or moved in load_model), or none (a state from before the key: checked
 * once), is a migration of the records, made here in the run's transaction:
 *
 * Each record is re-encoded under the current list (load_reproject): a
 * field still in the list keeps its stored value byte for byte, a field no
 * longer in it is dropped, a field added is null ("not known": the builders
 * never write null), and its hash is recomputed from that encoding.
 *  - Left as they were, the records would all be reported "updated" the
 *    next night: the stream's encoding has the added field, the stored one
 *    lacks it, so the hashes differ and the field shows as changed.
 *  - The hash the next night will compute cannot be made here: the added
 *    field's value is in the stream, not in the state.
 *  - Re-encoded, a record that only lost a field is unchanged next night
 *    (its encoding is the stream's, byte for byte). A record with an added
 *    field has a hash no stream record has, so it is staged; load_changed
 *    does not count a field whose old value is null, so no op is written
 *    unless a known field really changed, and the state gets the record's
 *    whole encoding (diff.c, "same fields under another hash"). The one
 *    trace: a record deleted before that shows its added field as null in
 *    the delete op's fields.
 * A record whose re-encoding is the bytes it has is not rewritten: a state
 * written with the same list costs one read of the records.
 */
static int
migrate_fields(struct load *L)
{
	struct cl_buf f = CL_BUF_INIT;
	sqlite3_stmt *q = NULL, *w = NULL;
	char want[17], *have;
	int rc, ret = -1;

	snprintf(want, sizeof want, "%016llx", (unsigned long long)load_fields_hash());
	have = load_meta_get(L, "fields_hash");
	rc = have && strcmp(have, want) == 0;
	free(have);
	if (rc)
		return 0;
	if (load_exec(L, "CREATE TEMP TABLE migrated(entity INTEGER, id TEXT, hash INTEGER, "
	                 "fields TEXT)") < 0 ||
	    !(q = load_prepare(L, "SELECT entity, id, fields FROM main.records")) ||
	    !(w = load_prepare(L, "INSERT INTO temp.migrated VALUES (?1, ?2, ?3, ?4)")))
		goto out;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int e = sqlite3_column_int(q, 0);
		const char *p = (const char *)sqlite3_column_text(q, 2);
		size_t n = (size_t)sqlite3_column_bytes(q, 2);

		if (e < 0 || e >= LOAD_NENT || !p || load_reproject(&f, e, p, n) < 0 ||
		    (f.len == n && memcmp(f.p, p, n) == 0))
			continue;
		sqlite3_bind_int(w, 1, e);
		sqlite3_bind_text(w, 2, (const char *)sqlite3_column_text(q, 1),
		                  sqlite3_column_bytes(q, 1), SQLITE_TRANSIENT);
		sqlite3_bind_int64(w, 3, load_hash(f.p, f.len));
		sqlite3_bind_text(w, 4, f.p, (int)f.len, SQLITE_STATIC);
		rc = sqlite3_step(w);
		sqlite3_reset(w);
		if (rc != SQLITE_DONE)
			break;
	}
	if (rc != SQLITE_DONE) {
		load_db_error(L, "migrating the records to this field list");
		goto out;
	}
	if (load_exec(L, "UPDATE main.records AS r SET hash = m.hash, fields = m.fields"
	                 " FROM temp.migrated AS m WHERE r.entity = m.entity AND r.id = m.id;"
	                 "DROP TABLE temp.migrated") < 0)
		goto out;
	ret = load_meta_set(L, "fields_hash", want);
out:
	sqlite3_finalize(q);
	sqlite3_finalize(w);
	cl_buf_release(&f);
	return ret;
}

/* CL_LOAD_TRACE=1: each statement's time on stderr (for benchmarks). */
static int
trace(unsigned type, void *ctx, void *p, void *x)
{
	(void)ctx;
	if (type == SQLITE_TRACE_PROFILE && *(const sqlite3_int64 *)x > 50000000) {
		char *sql = sqlite3_expanded_sql(p);

		fprintf(stderr, "cl-load: trace: %.3f s: %.200s\n",
		        (double)*(const sqlite3_int64 *)x / 1e9, sql ? sql : "?");
		sqlite3_free(sql);
	}
	return 0;
}

/* Checks what is at the path before SQLite touches it: 1 absent, 0 a file to open, -1 error. */
static int
precheck(struct load *L, int *empty)
{
	struct stat sb;
	char head[16];
	ssize_t n;
	int fd;

	*empty = 0;
	if (stat(L->o.state, &sb) < 0) {
		if (errno == ENOENT)
			return 1;
		load_error(L, "CL420", "state '%s': %s", L->o.state, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		load_error(L, "CL420", "state '%s' is not a regular file", L->o.state);
		return -1;
	}
	if (sb.st_size == 0) {
		*empty = 1;
		return 0;
	}
	fd = open(L->o.state, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		load_error(L, "CL420", "state '%s': %s", L->o.state, strerror(errno));
		return -1;
	}
	n = read(fd, head, sizeof head);
	close(fd);
	if (n != (ssize_t)sizeof head || memcmp(head, "SQLite format 3", 16) != 0) {
		load_error(L, "CL421", "state '%s' is not a cl-load state (not an SQLite database)",
		           L->o.state);
		return -1;
	}
	if (sb.st_size < 512) {
		load_error(L, "CL422", "state '%s' is damaged (%lld bytes: cut short)", L->o.state,
		           (long long)sb.st_size);
		return -1;
	}
	return 0;
}

/* 1 when the open database is ours, 0 when it is new (empty), -1 foreign or error. */
static int
identify(struct load *L)
{
	long long app = query_int(L, "PRAGMA application_id"), tables;

	if (app < 0)
		return -1;
	if (app == LOAD_APP_ID) {
		long long v = query_int(L, "PRAGMA user_version");

		if (v < 0)
			return -1;
		if (v > LOAD_SCHEMA) {
			load_error(L, "CL423",
			           "state '%s' has schema version %lld; this cl-load knows %d",
			           L->o.state, v, LOAD_SCHEMA);
			return -1;
		}
		return 1;
	}
	tables = query_int(L, "SELECT count(*) FROM sqlite_master");
	if (tables < 0)
		return -1;
	if (app == 0 && tables == 0)
		return 0;
	load_error(L, "CL421", "state '%s' is not a cl-load state (an SQLite database of %s)",
	           L->o.state, app ? "another application" : "another program");
	return -1;
}

/*
 * The state holds children's names and memberships: a state that group or
 * others may read (a copy restored under umask 022, say) is made 0600 before
 * cl-load writes it. SQLite gives its -wal and -shm files the same mode.
 */
static int
private_mode(struct load *L)
{
	struct stat sb;

	if (stat(L->o.state, &sb) < 0) {
		load_error(L, "CL420", "state '%s': %s", L->o.state, strerror(errno));
		return -1;
	}
	if ((sb.st_mode & 077) && chmod(L->o.state, sb.st_mode & 0700) < 0) {
		load_error(L, "CL420", "state '%s' has mode %04o and cannot be made 0600: %s",
		           L->o.state, (unsigned)(sb.st_mode & 07777), strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * SQLite's temporary files (its staging tables and sorts once they outgrow
 * their cache: 0.6 GB on a first night at a million students) go in the
 * state's folder, never in /var/tmp or TMPDIR: that folder is the one sized
 * for this integration, and a small /var/tmp must not fail the night. Set
 * before the first connection, as SQLite requires of sqlite3_temp_directory;
 * a folder that cannot be resolved (a dry run with no state) leaves SQLite's
 * default.
 */
static void
temp_beside(const char *state)
{
	char *dir = cl_xcalloc(1, strlen(state) + 2), *slash, *real;

	strcpy(dir, state);
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = 0;
	else
		*slash = 0;
	real = realpath(dir, NULL);
	if (real) {
		sqlite3_free(sqlite3_temp_directory);
		sqlite3_temp_directory = sqlite3_mprintf("%s", real);
		if (!sqlite3_temp_directory)
			cl_oom();
	}
	free(real);
	free(dir);
}

int
load_state_open(struct load *L, int create, int lock)
{
	int empty = 0, rc, fd, flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	const char *path = L->o.state;
	int ours;

	rc = precheck(L, &empty);
	if (rc < 0)
		return -1;
	if (rc == 1 && !create) {
		/* Nothing there: read-only modes see an empty state; a dry run uses memory. */
		L->state.absent = 1;
		if (!lock)
			return 0;
		path = ":memory:";
		flags |= SQLITE_OPEN_MEMORY;
	} else if (rc == 1) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			load_error(L, "CL420", "cannot create state '%s': %s", path,
			           strerror(errno));
			return -1;
		}
		if (fd >= 0)
			close(fd);
		empty = 1;
	}
	temp_beside(L->o.state);
	if (sqlite3_open_v2(path, &L->state.db, flags, NULL) != SQLITE_OK) {
		if (L->state.db)
			load_db_error(L, "open");
		else
			cl_oom();
		return -1;
	}
	sqlite3_extended_result_codes(L->state.db, 1);
	sqlite3_busy_timeout(L->state.db, BUSY_MS);
	if (getenv("CL_LOAD_TRACE"))
		sqlite3_trace_v2(L->state.db, SQLITE_TRACE_PROFILE, trace, NULL);
	ours = identify(L);
	if (ours < 0)
		return -1;
	/*
	 * A new state: 2 KiB pages. A sync rewrites the pages its changed
	 * records are in (twice: the WAL, then the checkpoint), and at 2 KiB a
	 * changed record rewrites less. Measured at 100,000 students (bench/
	 * bench-merge's district and its next night, gen.py mutate --percent 1: 6,700
	 * records): 1 KiB pages 35 MB written, 2 KiB 28 MB, 4 KiB (SQLite's
	 * default) 35 MB, 8 KiB 60 MB; the first night wrote the same at every
	 * size (1 KiB pages cost the kernel a whole 4 KiB page a write).
	 */
	if (ours == 0 && create && !L->o.dry_run && !L->state.absent &&
	    load_exec(L, "PRAGMA page_size = 2048") < 0)
		return -1;
	/*
	 * WAL, so that cl-why, cl-report and --history read while a sync
	 * writes, except for a new state's first transaction: its pages are all
	 * new, and SQLite's rollback journal keeps only what a page held before
	 * (nothing), where the WAL would hold every page once more before the
	 * checkpoint copies it (a whole state: 1 GB more written on a first night
	 * at a million students). commit() turns WAL on once it is there.
	 */
	L->state.fresh = ours == 0 && create && !L->o.dry_run && !L->state.absent;
	if (ours == 1 && create && !L->o.dry_run && !L->state.absent &&
	    load_exec(L, "PRAGMA journal_mode = WAL") < 0)
		return -1;
	(void)empty;
	/*
	 * SQLite's page caches: 2 MiB each (SQLite's default), not more. Every
	 * pass over the state is in key order (the scans, the merge, the writes
	 * in id order: diff.c's upserts) and the staging tables are read once,
	 * so a larger cache buys nothing: at a million students a first night
	 * took 55 s with 2 MiB and 62 s with 8 MiB (noise: another benchmark
	 * ran), an unchanged one 16.5 s and 19.7 s; it only adds to the peak
	 * (32 + 64 MiB were a third of it).
	 */
	if (load_exec(L, "PRAGMA cache_size = -2048; PRAGMA temp.cache_size = -2048") < 0)
		return -1;
	if (lock) {
		if (load_exec(L, "BEGIN IMMEDIATE") < 0)
			return -1;
		L->state.in_txn = 1;
		if (migrate_all(L) < 0 || migrate_fields(L) < 0)
			return -1;
		if (!L->o.dry_run && !L->state.absent && private_mode(L) < 0)
			return -1;
	} else if (ours == 0) {
		/* An empty database in a read-only mode: nothing recorded yet. */
		L->state.absent = 1;
	}
	return 0;
}

void
load_state_close(struct load *L)
{
	if (!L->state.db)
		return;
	if (L->state.in_txn)
		sqlite3_exec(L->state.db, "ROLLBACK", NULL, NULL, NULL);
	L->state.in_txn = 0;
	sqlite3_close_v2(L->state.db);
	L->state.db = NULL;
	sqlite3_free(sqlite3_temp_directory);
	sqlite3_temp_directory = NULL;
}

int
load_done(struct load *L, sqlite3_stmt *s, int rc, const char *what)
{
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		load_db_error(L, what);
		return -1;
	}
	return 0;
}
