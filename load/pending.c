/*
 * pending.c: plan, apply, commit (docs/changeset.md, "Plan, apply, commit").
 *
 * A sync run with --plan writes its change set as usual but, instead of
 * writing the new state into main.records, keeps it beside the state, keyed
 * by its sync id: main.pending (its Sync Details, the generation it was
 * computed from, the last_sync date its commit sets) and main.pending_ops
 * (each record the change set creates or changes, with its hash and
 * fields, and each it deletes, with NULL for both). The staged rows, not a
 * second copy of the whole state: a plan costs what its change set costs.
 *
 * --commit ID copies those rows into main.records, records the sync in the
 * history, and settles; it is refused unless ID is the newest pending sync
 * and the state's generation (meta "generation": every commit and every
 * reset adds one) is the one the plan was computed from, so a commit can
 * only ever write what was diffed against the records it replaces.
 * --discard ID drops the plan and records the night as failed (CL434).
 *
 * A change set that was written and not committed may have reached the
 * target whole, in part or not at all (an applier that failed half-way, a
 * kill between apply and commit). Whatever it touched is "unsure"
 * (main.unsure, and the ops of the syncs still pending): the next sync
 * re-sends each such record as a create (or deletes it if the stream no
 * longer has it), which the ops being idempotent makes harmless.
 */
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "load.h"

/* Runs sql with ?1 bound to a sync id; returns 0, or -1 reported. */
static int
exec_id(struct load *L, const char *sql, long long id)
{
	sqlite3_stmt *s = load_prepare(L, sql);
	int rc;

	if (!s)
		return -1;
	if (sqlite3_bind_parameter_count(s) >= 1)
		sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		load_db_error(L, "updating the state");
		return -1;
	}
	return 0;
}

int
load_record_pending(struct load *L)
{
	jv str = jv_dump_string(load_details(L, 0), 0);
	sqlite3_stmt *s;
	int rc;

	s = load_prepare(L, "INSERT INTO pending(id, base, started, finished, status, details,"
	                    " last_sync, whole) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (!s) {
		jv_free(str);
		return -1;
	}
	sqlite3_bind_int64(s, 1, L->sync.id);
	sqlite3_bind_int64(s, 2, L->sync.generation);
	sqlite3_bind_text(s, 3, L->sync.started, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, L->sync.finished, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, load_status_name(L), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, jv_string_value(str), -1, SQLITE_TRANSIENT);
	/* the date a delta fetch may start from: only a complete stream moves it */
	if (L->stream.complete)
		sqlite3_bind_text(s, 7, L->stream.fetched[0] ? L->stream.fetched : L->sync.started,
		                  -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 8, L->stream.complete && !L->stream.delta);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	jv_free(str);
	if (rc != SQLITE_DONE) {
		load_db_error(L, "recording the pending sync");
		return -1;
	}
	return 0;
}

/*
 * Records the pending syncs that cond (on their id, ?1 is id) selects in
 * the history as failed, with CL434 and message: their change sets were
 * not recorded as applied.
 */
static int
record_failed(struct load *L, const char *cond, long long id, const char *message)
{
	struct cl_buf q = CL_BUF_INIT;
	sqlite3_stmt *s;
	char now[32];
	int rc;

	cl_iso8601(cl_now(), now);
	cl_buf_adds(&q,
	            "INSERT INTO syncs(id, started, finished, status, details)"
	            " SELECT id, started, ?2, 'failed', json_set(details, '$.status', 'failed',"
	            " '$.finished', ?2,"
	            " '$.codes', json_insert(json_extract(details, '$.codes'), '$[#]', 'CL434'),"
	            " '$.errors', json_insert(json_extract(details, '$.errors'), '$[#]',"
	            " json_object('code', 'CL434', 'message', ?3)))"
	            " FROM main.pending WHERE ");
	cl_buf_adds(&q, cond);
	s = load_prepare(L, q.p);
	cl_buf_release(&q);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, message, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (load_done(L, s, rc, "recording a sync that was not applied") < 0)
		return -1;
	return 0;
}

/* Adds the ops of the pending syncs but one (0: all) to main.unsure. */
#define TO_UNSURE                                                                     \
	"INSERT INTO main.unsure(entity, id, fields) SELECT entity, id, fields FROM"  \
	" (SELECT * FROM main.pending_ops WHERE sync <> ?1 ORDER BY sync) WHERE true" \
	" ON CONFLICT (entity, id) DO UPDATE SET fields = coalesce(excluded.fields, fields)"

int
load_settle(struct load *L, long long sync, int whole)
{
	char gen[32];

	/* the others were never committed: failed nights in the history */
	if (exec_id(L, TO_UNSURE, sync) < 0 ||
	    record_failed(L, "id <> ?1", sync,
	                  "the change set was not recorded as applied: a later sync was") < 0)
		return -1;
	/* what this sync sent is known now */
	if (sync && exec_id(L,
	                    "DELETE FROM main.unsure WHERE (entity, id) IN"
	                    " (SELECT entity, id FROM main.pending_ops WHERE sync = ?1)",
	                    sync) < 0)
		return -1;
	if (!sync &&
	    (load_exec(L, LOAD_ST_DEL) < 0 ||
	     load_exec(L, "DELETE FROM main.unsure WHERE EXISTS (SELECT 1 FROM temp.st_rec n"
	                  " WHERE n.entity = unsure.entity AND n.id = unsure.id)"
	                  " OR EXISTS (SELECT 1 FROM temp.st_del d"
	                  " WHERE d.entity = unsure.entity AND d.id = unsure.id)") < 0))
		return -1;
	if (load_exec(L, "DELETE FROM main.pending_ops; DELETE FROM main.pending") < 0)
		return -1;
	snprintf(gen, sizeof gen, "%lld", load_meta_int(L, "generation") + 1);
	if (load_meta_set(L, "generation", gen) < 0)
		return -1;
	/* a reset's re-send is over once a whole stream was committed */
	return whole ? load_meta_set(L, "resend", NULL) : 0;
}

/*
 * The pending sync id: 1 with *whole and *last (owned, or NULL) set when
 * it is one that may be committed or discarded (commit: the newest, from
 * the current generation), else 0 with the error reported.
 */
static int
find_pending(struct load *L, long long id, int commit, int *whole, char **last)
{
	sqlite3_stmt *s =
	        load_prepare(L, "SELECT base, whole, last_sync,"
	                        " (SELECT max(id) FROM pending) FROM pending WHERE id = ?1");
	long long base = 0, newest = 0;
	int rc;

	*last = NULL;
	if (!s)
		return 0;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		base = sqlite3_column_int64(s, 0);
		*whole = sqlite3_column_int(s, 1);
		if (sqlite3_column_type(s, 2) == SQLITE_TEXT)
			*last = cl_xstrdup((const char *)sqlite3_column_text(s, 2));
		newest = sqlite3_column_int64(s, 3);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		load_db_error(L, "reading the pending syncs");
		return 0;
	}
	if (rc == SQLITE_DONE) {
		s = load_prepare(L, "SELECT status FROM syncs WHERE id = ?1");
		if (!s)
			return 0;
		sqlite3_bind_int64(s, 1, id);
		if (sqlite3_step(s) == SQLITE_ROW)
			load_error(L, "CL432",
			           "sync %lld is not pending: it is recorded already (%s)", id,
			           (const char *)sqlite3_column_text(s, 0));
		else
			load_error(L, "CL432", "no pending sync %lld in state '%s' (see --history)",
			           id, L->o.state);
		sqlite3_finalize(s);
		return 0;
	}
	if (commit && newest != id) {
		load_error(
		        L, "CL433",
		        "sync %lld is not the newest pending sync (%lld is): commit that one, or "
		        "discard it and plan again",
		        id, newest);
	} else if (commit && base != load_meta_int(L, "generation")) {
		load_error(L, "CL433",
		           "sync %lld was planned from a state that changed since (a commit or a "
		           "reset): discard it and plan again",
		           id);
	} else {
		return 1;
	}
	free(*last);
	*last = NULL;
	return 0;
}

int
load_commit_pending(struct load *L, long long id)
{
	char *last;
	int whole = 0, rc = -1;

	if (!find_pending(L, id, 1, &whole, &last))
		return -1;
	if (exec_id(L,
	            "INSERT OR REPLACE INTO main.records(entity, id, hash, fields, sync)"
	            " SELECT entity, id, hash, fields, sync FROM main.pending_ops"
	            " WHERE sync = ?1 AND hash IS NOT NULL",
	            id) < 0 ||
	    exec_id(L,
	            "DELETE FROM main.records WHERE (entity, id) IN (SELECT entity, id"
	            " FROM main.pending_ops WHERE sync = ?1 AND hash IS NULL)",
	            id) < 0 ||
	    exec_id(L,
	            "INSERT INTO syncs(id, started, finished, status, details)"
	            " SELECT id, started, finished, status, details FROM pending WHERE id = ?1",
	            id) < 0 ||
	    (last && load_meta_set(L, "last_sync", last) < 0) || load_settle(L, id, whole) < 0)
		goto out;
	rc = 0;
out:
	free(last);
	return rc;
}

int
load_discard_pending(struct load *L, long long id)
{
	char *last;
	int whole;

	if (!find_pending(L, id, 0, &whole, &last))
		return -1;
	free(last);
	/* what it said may have reached the target: re-sent next time */
	if (exec_id(L,
	            "INSERT INTO main.unsure(entity, id, fields) SELECT entity, id, fields"
	            " FROM main.pending_ops WHERE sync = ?1 AND true ON CONFLICT (entity, id)"
	            " DO UPDATE SET fields = coalesce(excluded.fields, fields)",
	            id) < 0)
		return -1;
	if (record_failed(L, "id = ?1", id,
	                  "the change set was not applied: discarded"
	                  " (cl-load --discard)") < 0)
		return -1;
	return exec_id(L, "DELETE FROM main.pending_ops WHERE sync = ?1", id) < 0 ||
	                       exec_id(L, "DELETE FROM main.pending WHERE id = ?1", id) < 0
	               ? -1
	               : 0;
}

/*
 * The sync id (one more than the last recorded or pending), the previous
 * sync (the last recorded) and the generation of the state.
 */
int
load_previous(struct load *L)
{
	sqlite3_stmt *s =
	        load_prepare(L, "SELECT id, finished, status FROM syncs ORDER BY id DESC LIMIT 1");
	char *last;
	int rc;

	if (!s)
		return -1;
	rc = sqlite3_step(s);
	L->sync.id = 1;
	if (rc == SQLITE_ROW) {
		L->sync.id = sqlite3_column_int64(s, 0) + 1;
		jv_free(L->sync.prev);
		L->sync.prev = jv_object_set(jv_object(), jv_string("sync"),
		                             jv_number((double)sqlite3_column_int64(s, 0)));
		L->sync.prev = jv_object_set(L->sync.prev, jv_string("finished"),
		                             jv_string((const char *)sqlite3_column_text(s, 1)));
		L->sync.prev = jv_object_set(L->sync.prev, jv_string("status"),
		                             jv_string((const char *)sqlite3_column_text(s, 2)));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		load_db_error(L, "reading the history");
		return -1;
	}
	last = load_meta_get(L, "last_sync");
	if (jv_get_kind(L->sync.prev) == JV_KIND_OBJECT)
		L->sync.prev = jv_object_set(L->sync.prev, jv_string("last_sync"),
		                             last ? jv_string(last) : jv_null());
	free(last);
	L->sync.generation = load_meta_int(L, "generation");
	s = load_prepare(L, "SELECT max(id) FROM pending");
	if (!s)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) >= L->sync.id)
		L->sync.id = sqlite3_column_int64(s, 0) + 1;
	sqlite3_finalize(s);
	return 0;
}
