/*
 * diff.c: the change set, and the new state written beside it in the run's
 * transaction (committed by the caller only after stdout was flushed).
 *
 * Order (docs/changeset.md): first the creates and updates, entity by
 * entity (users, classes, memberships, contacts, relationships); then the
 * deletions in the reverse entity order; within one entity, by id in byte
 * order (a composite id sorts by its first part, then its second).
 *
 * Where the new state goes: main.records itself in one step (committed
 * after the change set was written); with --plan, main.pending_ops keyed
 * by the sync id (an upsert: hash and fields; a deletion: both NULL), which
 * --commit copies into main.records without reading the stream again.
 * Keeping the staged rows rather than a second copy of the whole state
 * costs a plan what the change set costs, not what the district costs.
 *
 * A record flagged for re-sending (after --reset, or touched by a change
 * set that was never committed) is written as a create, whatever its hash.
 */
#include <string.h>

#include "diag.h"
#include "load.h"

static void
put_id(struct cl_buf *b, enum load_ent e, const char *id, size_t n)
{
	const char *const *part = load_model[e].id_part;
	const char *sep;

	if (!part[0] || !(sep = memchr(id, 0x1f, n))) {
		cl_buf_adds(b, ",\"id\":");
		cl_json_put_str(b, id, n);
		return;
	}
	cl_buf_addf(b, ",\"%s\":", part[0]);
	cl_json_put_str(b, id, (size_t)(sep - id));
	cl_buf_addf(b, ",\"%s\":", part[1]);
	cl_json_put_str(b, sep + 1, n - (size_t)(sep - id) - 1);
}

/* Starts a change line: {"kind":"change","op":...,"entity":...,ids. */
static void
line_begin(struct cl_buf *b, enum load_ent e, int which, const char *id, size_t n)
{
	cl_buf_reset(b);
	cl_buf_addf(b, "{\"kind\":\"change\",\"op\":\"%s\",\"entity\":\"%s\"",
	            load_model[e].op[which], load_model[e].name);
	put_id(b, e, id, n);
}

static const char *
col(sqlite3_stmt *s, int i, size_t *n)
{
	const char *p = (const char *)sqlite3_column_text(s, i);

	*n = (size_t)sqlite3_column_bytes(s, i);
	return p;
}

/* Creates and updates of e; the state gets each new or changed record. */
static int
upserts(struct load *L, FILE *out, enum load_ent e, struct cl_buf *b)
{
	sqlite3_stmt *q, *w = NULL;
	struct load_counts *c = &L->tally.ent[e];
	int rc;

	q = load_prepare(L,
	                 "SELECT n.id, n.fields, o.fields, n.hash, n.resend FROM temp.st_rec n"
	                 " LEFT JOIN main.records o ON o.entity = n.entity AND o.id = n.id"
	                 " WHERE n.entity = ?1 AND (n.resend OR o.hash IS NULL OR o.hash <> n.hash)"
	                 " ORDER BY n.id");
	if (!q)
		return -1;
	if (!L->o.dry_run &&
	    !(w = load_prepare(L, L->o.plan
	                                  ? "INSERT OR REPLACE INTO main.pending_ops(entity, id,"
	                                    " hash, fields, sync) VALUES (?1, ?2, ?3, ?4, ?5)"
	                                  : "INSERT OR REPLACE INTO main.records(entity, id,"
	                                    " hash, fields, sync) VALUES (?1, ?2, ?3, ?4, ?5)"))) {
		sqlite3_finalize(q);
		return -1;
	}
	sqlite3_bind_int(q, 1, e);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		size_t idn, fn, on;
		const char *id = col(q, 0, &idn), *f = col(q, 1, &fn), *of = col(q, 2, &on);
		int which = sqlite3_column_type(q, 2) == SQLITE_NULL || sqlite3_column_int(q, 4)
		                    ? 0
		                    : 1;

		line_begin(b, e, which, id, idn);
		cl_buf_adds(b, ",\"fields\":");
		cl_buf_add(b, f, fn);
		if (which == 1) {
			size_t at;

			cl_buf_adds(b, ",\"changed\":{");
			at = b->len;
			if (load_changed(b, e, of, on, f, fn) <= 0) {
				/* Same fields under another hash (an older encoding): no change. */
				b->len = at;
				which = -1;
			}
			cl_buf_addc(b, '}');
		}
		cl_buf_addc(b, '}');
		if (which >= 0) {
			cl_write_line(out, b->p, b->len);
			if (which == 0)
				c->created++;
			else
				c->updated++;
		}
		if (w) {
			sqlite3_bind_int(w, 1, e);
			sqlite3_bind_text(w, 2, id, (int)idn, SQLITE_TRANSIENT);
			sqlite3_bind_int64(w, 3, sqlite3_column_int64(q, 3));
			sqlite3_bind_text(w, 4, f, (int)fn, SQLITE_TRANSIENT);
			sqlite3_bind_int64(w, 5, L->sync.id);
			if (sqlite3_step(w) != SQLITE_DONE) {
				load_db_error(L, "writing the state");
				sqlite3_reset(w);
				rc = -1;
				break;
			}
			sqlite3_reset(w);
		}
	}
	if (rc != SQLITE_DONE && rc != -1)
		load_db_error(L, "reading the state");
	sqlite3_finalize(q);
	sqlite3_finalize(w);
	if (rc != SQLITE_DONE)
		return -1;
	c->unchanged = c->staged - c->created - c->updated;
	return 0;
}

/* Deletions of e: what the stream did not visit, in id order; the state loses them. */
static int
deletions(struct load *L, FILE *out, enum load_ent e, struct cl_buf *b)
{
	sqlite3_stmt *q;
	long long n = 0;
	int rc;

	if (load_index_stage_deletes(L, e) < 0)
		return -1;
	/* a record only an uncommitted change set created: the fields it gave */
	q = load_prepare(L, "SELECT d.id, coalesce(r.fields, u.fields) FROM temp.st_del d"
	                    " LEFT JOIN main.records r ON r.entity = d.entity AND r.id = d.id"
	                    " LEFT JOIN temp.st_unsure u ON u.entity = d.entity AND u.id = d.id"
	                    " WHERE d.entity = ?1 ORDER BY d.id");
	if (!q)
		return -1;
	sqlite3_bind_int(q, 1, e);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		size_t idn, fn;
		const char *id = col(q, 0, &idn), *f = col(q, 1, &fn);

		line_begin(b, e, 2, id, idn);
		cl_buf_adds(b, ",\"fields\":");
		cl_buf_add(b, f, fn);
		cl_buf_addc(b, '}');
		cl_write_line(out, b->p, b->len);
		n++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		load_db_error(L, "reading the state");
		return -1;
	}
	L->tally.ent[e].deleted = n;
	if (L->o.dry_run)
		return 0;
	q = load_prepare(L, L->o.plan ? "INSERT OR REPLACE INTO main.pending_ops(sync, entity, id,"
	                                " hash, fields) SELECT ?2, entity, id, NULL, NULL"
	                                " FROM temp.st_del WHERE entity = ?1"
	                              : "DELETE FROM main.records WHERE entity = ?1 AND id IN"
	                                " (SELECT id FROM temp.st_del WHERE entity = ?1)");
	if (!q)
		return -1;
	sqlite3_bind_int(q, 1, e);
	if (L->o.plan)
		sqlite3_bind_int64(q, 2, L->sync.id);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		load_db_error(L, "writing the state");
		return -1;
	}
	return 0;
}

/*
 * The match collapse guard. The matched share (linked users over the users
 * of the stream, parents aside) is compared with the last sync's: the last
 * success or partial of a complete, full stream with at least COLLAPSE_MIN
 * users that did not trip this guard itself (so a collapse that lasts is
 * still one). More than COLLAPSE_FALL points down, or under COLLAPSE_FIRST
 * percent with no such sync, trips it (CL414). A sync with fewer than
 * COLLAPSE_MIN users, a delta and --allow-deletes are not judged.
 */
#define COLLAPSE_MIN 20
#define COLLAPSE_FALL 20
#define COLLAPSE_FIRST 50

static int
match_collapsed(struct load *L)
{
	const struct load_tally *t = &L->tally;
	long long m = t->matched_students + t->matched_teachers + t->matched_other;
	long long u = m + t->unmatched, pm = 0, pu = 0, pid = 0;
	sqlite3_stmt *q;
	int rc;

	if (L->stream.delta || L->o.allow_deletes || u < COLLAPSE_MIN)
		return 0;
	q = load_prepare(
	        L, "SELECT id, m, m + n FROM (SELECT id, details,"
	           " ifnull(json_extract(details, '$.counts.matched_students'), 0)"
	           " + ifnull(json_extract(details, '$.counts.matched_teachers'), 0)"
	           " + ifnull(json_extract(details, '$.counts.matched_other'), 0) AS m,"
	           " ifnull(json_extract(details, '$.counts.unmatched_users'), 0) AS n"
	           " FROM main.syncs WHERE status IN ('success', 'partial')"
	           " AND json_extract(details, '$.stream.complete') = 1"
	           " AND json_extract(details, '$.stream.delta') = 0)"
	           " WHERE m + n >= ?1 AND NOT EXISTS (SELECT 1 FROM json_each(details, '$.codes')"
	           " WHERE value = 'CL414') ORDER BY id DESC LIMIT 1");
	if (!q)
		return -1;
	sqlite3_bind_int(q, 1, COLLAPSE_MIN);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		pid = sqlite3_column_int64(q, 0);
		pm = sqlite3_column_int64(q, 1);
		pu = sqlite3_column_int64(q, 2);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		load_db_error(L, "reading the history");
		return -1;
	}
	/* In integers: pm/pu - m/u > FALL/100, m/u < FIRST/100. */
	if (pid > 0 && (pm * u - m * pu) * 100 > COLLAPSE_FALL * pu * u)
		load_error(
		        L, "CL414",
		        "match collapse: %lld of %lld users (%.1f%%) matched a School Manager "
		        "account, down from %.1f%% at sync %lld: check the School Manager export "
		        "and its email column (unlinks withheld; --allow-deletes lets them "
		        "through)",
		        m, u, 100.0 * (double)m / (double)u, 100.0 * (double)pm / (double)pu, pid);
	else if (pid == 0 && m * 100 < COLLAPSE_FIRST * u)
		load_error(L, "CL414",
		           "match collapse: %lld of %lld users (%.1f%%) matched a School Manager "
		           "account, under %d%% with no earlier sync to compare: check the School "
		           "Manager export and its email column (unlinks withheld; --allow-deletes "
		           "lets them through)",
		           m, u, 100.0 * (double)m / (double)u, COLLAPSE_FIRST);
	else
		return 0;
	return 1;
}

/*
 * Decides whether e's deletions go out; reports why not. collapsed: the
 * match collapse guard tripped, so what depends on matching (unlinks,
 * memberships, contacts, relationships) is withheld.
 */
static int
may_delete(struct load *L, enum load_ent e, long long pending, int whole, int collapsed)
{
	struct load_counts *c = &L->tally.ent[e];

	if (pending <= 0)
		return 0;
	if (L->stream.delta)
		return 0; /* absence means nothing in a delta: not even withheld */
	if (!whole || (collapsed && e != LOAD_CLASS)) {
		c->withheld = pending;
		return 0;
	}
	if (!L->o.allow_deletes && c->old >= 20 &&
	    (double)pending * 100.0 > L->o.max_delete * (double)c->old) {
		c->withheld = pending;
		c->guard = 1;
		load_error(
		        L, "CL412",
		        "deletion guard: %lld of %lld %s (%.1f%%) would be deleted, over the limit "
		        "of %g%%: withheld (--allow-deletes lets them through)",
		        pending, c->old, load_model[e].plural,
		        (double)pending * 100.0 / (double)c->old, L->o.max_delete);
		return 0;
	}
	return 1;
}

int
load_diff(struct load *L, FILE *out)
{
	struct cl_buf b = CL_BUF_INIT;
	int whole = L->stream.complete && !L->stream.delta, e, ok[LOAD_NENT] = { 0 }, collapsed;
	long long withheld = 0;

	for (e = 0; e < LOAD_NENT; e++) {
		if (e == LOAD_CONTACT || e == LOAD_REL)
			L->tally.ent[e].managed = L->stream.has_parents;
		else if (e == LOAD_CLASS || e == LOAD_MEMBER)
			L->tally.ent[e].managed = !L->stream.no_classes;
		else
			L->tally.ent[e].managed = 1;
		L->tally.ent[e].old = load_index_old(L, e);
	}
	for (e = 0; e < LOAD_NENT; e++)
		if (L->tally.ent[e].managed && upserts(L, out, e, &b) < 0)
			goto fail;
	if ((collapsed = match_collapsed(L)) < 0)
		goto fail;
	for (e = 0; e < LOAD_NENT; e++) {
		struct load_counts *c = &L->tally.ent[e];

		if (c->managed)
			ok[e] = may_delete(L, e, load_index_unseen(L, e), whole, collapsed);
		withheld += c->withheld;
	}
	if (L->stream.delta)
		load_error(L, "CL411", "the stream is a delta: deletions are not computed");
	if (!L->stream.complete)
		load_error(L, "CL410", "the stream is incomplete: %lld deletion%s withheld",
		           withheld, withheld == 1 ? "" : "s");
	for (e = LOAD_NENT - 1; e >= 0; e--)
		if (ok[e] && deletions(L, out, e, &b) < 0)
			goto fail;
	cl_buf_release(&b);
	return 0;
fail:
	cl_buf_release(&b);
	return -1;
}
