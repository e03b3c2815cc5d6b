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
#include <stdlib.h>
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
	c->unchanged = c->staged - c->created - c->updated - c->held_up;
	return 0;
}

/* Runs sql with ?1 bound to e, ?2 to a (NULL: none); returns the changes, or -1 reported. */
static long long
exec_e(struct load *L, const char *sql, int e, const char *a)
{
	sqlite3_stmt *q = load_prepare(L, sql);
	int rc;

	if (!q)
		return -1;
	sqlite3_bind_int(q, 1, e);
	if (sqlite3_bind_parameter_count(q) >= 2 && a)
		sqlite3_bind_text(q, 2, a, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (load_done(L, q, rc, "deciding the deletions") < 0)
		return -1;
	return sqlite3_changes(L->state.db);
}

/* One number from sql with ?1 bound to e, or -1 reported. */
static long long
count_e(struct load *L, const char *sql, int e)
{
	sqlite3_stmt *q = load_prepare(L, sql);
	long long n = -1;

	if (!q)
		return -1;
	sqlite3_bind_int(q, 1, e);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	else
		load_db_error(L, "deciding the deletions");
	sqlite3_finalize(q);
	return n;
}

/* Deletions of e that were decided to go out (held NULL), in id order; the state loses them. */
static int
deletions(struct load *L, FILE *out, enum load_ent e, struct cl_buf *b)
{
	sqlite3_stmt *q;
	long long n = 0;
	int rc;

	/* a record only an uncommitted change set created: the fields it gave */
	q = load_prepare(L, "SELECT d.id, coalesce(r.fields, u.fields) FROM temp.st_del d"
	                    " LEFT JOIN main.records r ON r.entity = d.entity AND r.id = d.id"
	                    " LEFT JOIN temp.st_unsure u ON u.entity = d.entity AND u.id = d.id"
	                    " WHERE d.entity = ?1 AND d.held IS NULL ORDER BY d.id");
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
	if (load_done(L, q, rc, "reading the state") < 0)
		return -1;
	L->tally.ent[e].deleted = n;
	if (L->o.dry_run || n == 0)
		return 0;
	q = load_prepare(L, L->o.plan ? "INSERT OR REPLACE INTO main.pending_ops(sync, entity, id,"
	                                " hash, fields) SELECT ?2, entity, id, NULL, NULL"
	                                " FROM temp.st_del WHERE entity = ?1 AND held IS NULL"
	                              : "DELETE FROM main.records WHERE entity = ?1 AND id IN"
	                                " (SELECT id FROM temp.st_del WHERE entity = ?1"
	                                " AND held IS NULL)");
	if (!q)
		return -1;
	sqlite3_bind_int(q, 1, e);
	if (L->o.plan)
		sqlite3_bind_int64(q, 2, L->sync.id);
	rc = sqlite3_step(q);
	if (load_done(L, q, rc, "writing the state") < 0)
		return -1;
	return 0;
}

/*
 * part/whole as a percentage, as exactly as the limit needs: two decimals,
 * more when two would round onto the other side of the limit (10.04%,
 * 10.001%: never "10.0% over the limit of 10%").
 */
static const char *
pct(char *buf, size_t n, long long part, long long whole, double limit)
{
	double v = whole ? 100.0 * (double)part / (double)whole : 0;
	int over = (double)part * 100.0 > limit * (double)whole, d;

	for (d = 2; d < 9; d++) {
		snprintf(buf, n, "%.*f", d, v);
		if ((strtod(buf, NULL) > limit) == over)
			break;
	}
	return buf;
}

/*
 * The re-link guard. A linked user whose School Manager id changes moves
 * to another account, with its memberships and relationships; a wrong
 * export does that to everyone at once. When more than --max-delete
 * percent of the last sync's users (at least 20) would change sm_id, those
 * users' updates and their memberships' and relationships' adds and
 * updates are withheld (CL415): taken out of temp.st_rec, so neither
 * written nor recorded (the next sync finds them again) and listed in the
 * Sync Details (deletions.relinks_withheld). --allow-relinks lets them
 * through once.
 */
#define RELINK_LIST 1000

static int
relinks(struct load *L)
{
	static const char *const drop[] = {
		"DELETE FROM temp.st_rec WHERE entity = ?1 AND id IN (SELECT id FROM "
		"temp.st_relink)",
		"DELETE FROM temp.st_rec WHERE entity = ?1 AND substr(id, instr(id, char(31)) + 1)"
		" IN (SELECT id FROM temp.st_relink)",
	};
	static const enum load_ent ents[] = { LOAD_USER, LOAD_MEMBER, LOAD_REL };
	struct load_counts *c = &L->tally.ent[LOAD_USER];
	sqlite3_stmt *q;
	jv ids = jv_array();
	long long n, k;
	char p[32];
	size_t i;

	if (load_exec(
	            L,
	            "CREATE TEMP TABLE IF NOT EXISTS st_relink(id TEXT PRIMARY KEY) WITHOUT ROWID;"
	            "INSERT OR IGNORE INTO temp.st_relink SELECT n.id FROM temp.st_rec n"
	            " JOIN main.records o ON o.entity = 0 AND o.id = n.id WHERE n.entity = 0"
	            " AND json_extract(o.fields, '$.sm_id') IS NOT NULL"
	            " AND json_extract(o.fields, '$.sm_id') <> json_extract(n.fields, '$.sm_id')") <
	            0 ||
	    (n = count_e(L, "SELECT count(*) FROM temp.st_relink WHERE ?1 = ?1", 0)) < 0)
		goto fail;
	if (n == 0 || L->o.allow_relinks || c->old < 20 ||
	    (double)n * 100.0 <= L->o.max_delete * (double)c->old)
		goto done;
	load_error(L, "CL415",
	           "re-link guard: %lld of %lld linked users (%s%%) would move to another School "
	           "Manager account, over the limit of %g%%: withheld with their memberships and "
	           "relationships (check the School Manager export; --allow-relinks lets them "
	           "through)",
	           n, c->old, pct(p, sizeof p, n, c->old, L->o.max_delete), L->o.max_delete);
	for (i = 0; i < sizeof ents / sizeof *ents; i++) {
		if ((k = exec_e(L, drop[ents[i] != LOAD_USER], ents[i], NULL)) < 0)
			goto fail;
		L->tally.ent[ents[i]].held_up += k;
	}
	if (!(q = load_prepare(L, "SELECT id FROM temp.st_relink ORDER BY id LIMIT ?1")))
		goto fail;
	sqlite3_bind_int(q, 1, RELINK_LIST);
	while (sqlite3_step(q) == SQLITE_ROW)
		ids = jv_array_append(ids, jv_string((const char *)sqlite3_column_text(q, 0)));
	sqlite3_finalize(q);
done:
	jv_free(L->tally.deletions);
	L->tally.deletions = jv_object_set(jv_object(), jv_string("relinks_withheld"), ids);
	return 0;
fail:
	jv_free(ids);
	return -1;
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
 * Dependent deletions follow their parent (docs/changeset.md, "Deletions
 * and their safety"): a membership is its class's and its user's, a
 * relationship its contact's and its student's. One whose parent's
 * deletion is withheld is withheld with the parent's code (why: the
 * parent's entity); one whose parent is deleted goes with it, explained
 * (why: "class-deleted", "user-unlinked", "contact-deleted"), so that the
 * guard counts the parent once, not again in its dependents.
 */
static const struct {
	enum load_ent e, parent[2];
	const char *gone[2];
} depends[] = {
	{ LOAD_MEMBER, { LOAD_CLASS, LOAD_USER }, { "class-deleted", "user-unlinked" } },
	{ LOAD_REL, { LOAD_CONTACT, LOAD_USER }, { "contact-deleted", "user-unlinked" } },
};

#define PART0 "substr(st_del.id, 1, instr(st_del.id, char(31)) - 1)"
#define PART1 "substr(st_del.id, instr(st_del.id, char(31)) + 1)"

static int
follow(struct load *L, enum load_ent e, int gone)
{
	char sql[512];
	size_t i;
	int k;

	for (i = 0; i < sizeof depends / sizeof *depends; i++) {
		if (depends[i].e != e)
			continue;
		for (k = 0; k < 2 && !gone; k++) {
			enum load_ent pe = depends[i].parent[k];

			snprintf(sql, sizeof sql,
			         "UPDATE temp.st_del SET held = p.held, why = '%s'"
			         " FROM temp.st_del AS p WHERE st_del.entity = ?1"
			         " AND st_del.held IS NULL AND p.entity = %d AND p.id = %s"
			         " AND p.held IS NOT NULL",
			         load_model[pe].name, (int)pe, k ? PART1 : PART0);
			if (exec_e(L, sql, e, NULL) < 0)
				return -1;
		}
		for (k = 0; k < 2 && gone; k++) {
			snprintf(sql, sizeof sql,
			         "UPDATE temp.st_del SET why = '%s' FROM temp.st_del AS p"
			         " WHERE st_del.entity = ?1 AND st_del.held IS NULL"
			         " AND st_del.why IS NULL AND p.entity = %d AND p.id = %s",
			         depends[i].gone[k], (int)depends[i].parent[k], k ? PART1 : PART0);
			if (exec_e(L, sql, e, NULL) < 0)
				return -1;
		}
	}
	return 0;
}

/*
 * Deletions the roster explains (docs/changeset.md): they go out whatever
 * their number and are counted by reason. The as-of date is the stream's
 * (cl-filter's as_of option), else the sync's; a session has ended when
 * its endDate (main.sessions: the last the streams gave) is before it.
 *  - tobedeleted: the record reached cl-load marked so (temp.st_tbd);
 *  - terms-ended: a class all of whose terms (at least one) have ended;
 *  - class-terms-ended: a membership of such a class;
 *  - classes-ended: a user all of whose memberships (at least one) were in
 *    such classes: their enrolments ended with them.
 *  - students-left: a contact all of whose relationships (at least one)
 *    were to students whose unlink goes out explained (graduated, left);
 *  - cl-filter's reasons, from --rejects (temp.st_rej, rejects.c): a
 *    record it dropped as tobedeleted or inactive, a class with no current
 *    session, an enrolment not current, a student who left.
 * A class of a term that has not ended (a school gone from the source) is
 * not explained.
 */
#define ENDED(fields)                                                                 \
	"(json_array_length(" fields ", '$.terms') > 0 AND NOT EXISTS (SELECT 1 FROM" \
	" json_each(" fields ", '$.terms') t WHERE NOT EXISTS (SELECT 1 FROM"         \
	" main.sessions s WHERE s.id = t.value AND s.ends < ?2)))"

static int
explain(struct load *L, enum load_ent e)
{
	char as_of[11];
	sqlite3_stmt *q;
	const char *sql = NULL;
	int rc;

	memcpy(as_of, L->stream.as_of[0] ? L->stream.as_of : L->sync.started, 10);
	as_of[10] = 0;
	if (exec_e(L,
	           "UPDATE temp.st_del SET why = 'tobedeleted' WHERE entity = ?1"
	           " AND held IS NULL AND why IS NULL AND EXISTS (SELECT 1 FROM temp.st_tbd t"
	           " WHERE t.entity = ?1 AND t.id = st_del.id)",
	           e, NULL) < 0)
		return -1;
	if (e == LOAD_CLASS)
		sql = "UPDATE temp.st_del SET why = 'terms-ended' WHERE entity = ?1"
		      " AND held IS NULL AND why IS NULL AND EXISTS (SELECT 1 FROM main.records r"
		      " WHERE r.entity = 1 AND r.id = st_del.id AND " ENDED("r.fields") ")";
	else if (e == LOAD_MEMBER)
		sql = "UPDATE temp.st_del SET why = 'class-terms-ended' WHERE entity = ?1"
		      " AND held IS NULL AND why IS NULL AND EXISTS (SELECT 1 FROM main.records r"
		      " WHERE r.entity = 1 AND r.id = " PART0 " AND " ENDED("r.fields") ")";
	else if (e == LOAD_CONTACT)
		/* users are judged before contacts: their st_del rows are decided */
		sql = "UPDATE temp.st_del SET why = 'students-left' WHERE entity = ?1"
		      " AND held IS NULL AND why IS NULL AND ?2 = ?2 AND EXISTS (SELECT 1 FROM"
		      " main.records r WHERE r.entity = 4 AND r.id > st_del.id || char(31)"
		      " AND r.id < st_del.id || char(32)) AND NOT EXISTS (SELECT 1 FROM"
		      " main.records r WHERE r.entity = 4 AND r.id > st_del.id || char(31)"
		      " AND r.id < st_del.id || char(32) AND NOT EXISTS (SELECT 1 FROM"
		      " temp.st_del u WHERE u.entity = 0 AND u.id = substr(r.id,"
		      " instr(r.id, char(31)) + 1) AND u.held IS NULL AND u.why IS NOT NULL))";
	else if (e == LOAD_USER)
		sql = "UPDATE temp.st_del SET why = 'classes-ended' WHERE entity = ?1"
		      " AND held IS NULL AND why IS NULL AND id IN (SELECT u FROM"
		      " (SELECT substr(m.id, instr(m.id, char(31)) + 1) AS u, "
		      "min(coalesce((SELECT " ENDED(
		              "c.fields") " FROM main.records c WHERE c.entity = 1"
		                          " AND c.id = substr(m.id, 1, instr(m.id, char(31)) - "
		                          "1)), 0)) AS ended"
		                          " FROM main.records m WHERE m.entity = 2 AND "
		                          "substr(m.id, instr(m.id,"
		                          " char(31)) + 1) IN (SELECT id FROM temp.st_del WHERE "
		                          "entity = 0)"
		                          " GROUP BY u) WHERE ended = 1)";
	if (sql) {
		if (!(q = load_prepare(L, sql)))
			return -1;
		sqlite3_bind_int(q, 1, e);
		sqlite3_bind_text(q, 2, as_of, -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		if (load_done(L, q, rc, "explaining the deletions") < 0)
			return -1;
	}
	return exec_e(L,
	              "UPDATE temp.st_del SET why = r.why FROM temp.st_rej r WHERE"
	              " st_del.entity = ?1 AND st_del.held IS NULL AND st_del.why IS NULL"
	              " AND r.entity = ?1 AND r.id = st_del.id",
	              e, NULL) < 0
	               ? -1
	               : 0;
}

/* Withholds e's deletions not decided yet (only the unexplained ones: unexplained) with code. */
static long long
hold(struct load *L, enum load_ent e, const char *code, int unexplained)
{
	return exec_e(L,
	              unexplained ? "UPDATE temp.st_del SET held = ?2 WHERE entity = ?1"
	                            " AND held IS NULL AND why IS NULL"
	                          : "UPDATE temp.st_del SET held = ?2 WHERE entity = ?1"
	                            " AND held IS NULL",
	              e, code);
}

/*
 * Creeping deletions: the limit also applies to e's unexplained deletions
 * of the last CREEP_SYNCS recorded syncs and this one together (the
 * history's deletions.unexplained; a sync run with --allow-deletes ends
 * the window: what it and the syncs before it deleted was let through on
 * purpose), against the records there
 * were before them (this sync's old plus those deletions), so that 9% a
 * night cannot empty a district in a month. Over it, this sync's n
 * unexplained deletions are withheld (CL416). Returns -1 on a state error.
 */
#define CREEP_SYNCS 7

static int
creeping(struct load *L, enum load_ent e, long long n)
{
	struct load_counts *c = &L->tally.ent[e];
	sqlite3_stmt *q;
	long long prior = 0, base;
	char p[32];
	int rc;

	q = load_prepare(L,
	                 "SELECT ifnull(sum(ifnull(json_extract(details, '$.deletions.unexplained.'"
	                 " || ?1), 0)), 0) FROM (SELECT details FROM main.syncs WHERE id >"
	                 " ifnull((SELECT max(id) FROM main.syncs WHERE json_extract(details,"
	                 " '$.deletions.allow_deletes')), 0) ORDER BY id DESC LIMIT ?2)");
	if (!q)
		return -1;
	sqlite3_bind_text(q, 1, load_model[e].plural, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, CREEP_SYNCS);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		prior = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW) {
		load_db_error(L, "reading the history");
		return -1;
	}
	base = c->old + prior;
	if (prior <= 0 || (double)(prior + n) * 100.0 <= L->o.max_delete * (double)base)
		return 0;
	c->guard = 1;
	load_error(L, "CL416",
	           "creeping deletions: %lld %s deleted with no reason the roster gives over the "
	           "last %d syncs, and %lld more now: %lld of %lld (%s%%), over the limit of %g%%: "
	           "this sync's withheld with what depends on them (--allow-deletes lets them "
	           "through)",
	           prior, load_model[e].plural, CREEP_SYNCS, n, prior + n, base,
	           pct(p, sizeof p, prior + n, base, L->o.max_delete), L->o.max_delete);
	return hold(L, e, "CL416", 1) < 0 ? -1 : 0;
}

/*
 * Decides which of e's pending deletions (staged in temp.st_del) go out;
 * reports why not. A stream that is not whole withholds them all (CL410);
 * a match collapse (collapsed) the unexplained ones of what depends on
 * matching (CL414); the guard the unexplained ones when they are more than
 * --max-delete percent of the last sync's records of e (CL412). Explained
 * deletions, and dependents of a deletion that goes out, are not counted.
 */
static int
judge(struct load *L, enum load_ent e, int whole, int collapsed)
{
	struct load_counts *c = &L->tally.ent[e];
	long long n;
	char p[32];

	n = count_e(L, "SELECT count(*) FROM temp.st_del WHERE entity = ?1", e);
	if (n <= 0) { /* nothing pending: no query over the state */
		c->withheld = c->held_up;
		return n < 0 ? -1 : 0;
	}
	/* an incomplete school's first (CL449): its deletions are no school year's */
	if (whole && (e == LOAD_CLASS || e == LOAD_MEMBER) &&
	    exec_e(L,
	           e == LOAD_CLASS
	                   ? "UPDATE temp.st_del SET held = 'CL449' WHERE entity = ?1 AND held IS "
	                     "NULL"
	                     " AND EXISTS (SELECT 1 FROM main.records r WHERE r.entity = 1 AND"
	                     " r.id = st_del.id AND json_extract(r.fields, '$.school') IN"
	                     " (SELECT id FROM temp.st_incomplete))"
	                   : "UPDATE temp.st_del SET held = 'CL449' WHERE entity = ?1 AND held IS "
	                     "NULL"
	                     " AND EXISTS (SELECT 1 FROM main.records r WHERE r.entity = 1 AND"
	                     " r.id = " PART0 " AND json_extract(r.fields, '$.school') IN"
	                     " (SELECT id FROM temp.st_incomplete))",
	           e, NULL) < 0)
		return -1;
	/* a withheld parent first; then the roster's reasons; then a parent that goes */
	if (follow(L, e, 0) < 0 || explain(L, e) < 0 || follow(L, e, 1) < 0)
		return -1;
	if (!whole) {
		if (hold(L, e, "CL410", 0) < 0)
			return -1;
	} else if (collapsed && e != LOAD_CLASS) {
		if (hold(L, e, "CL414", 1) < 0)
			return -1;
	} else {
		n = count_e(L,
		            "SELECT count(*) FROM temp.st_del WHERE entity = ?1"
		            " AND held IS NULL AND why IS NULL",
		            e);
		if (n < 0)
			return -1;
		if (n > 0 && !L->o.allow_deletes && c->old >= 20 &&
		    (double)n * 100.0 <= L->o.max_delete * (double)c->old && creeping(L, e, n))
			return -1;
		if (n > 0 && !L->o.allow_deletes && c->old >= 20 &&
		    (double)n * 100.0 > L->o.max_delete * (double)c->old) {
			c->guard = 1;
			load_error(
			        L, "CL412",
			        "deletion guard: %lld of %lld %s (%s%%) would be deleted with no "
			        "reason the roster gives, over the limit of %g%%: withheld with "
			        "what depends on them (--allow-deletes lets them through)",
			        n, c->old, load_model[e].plural,
			        pct(p, sizeof p, n, c->old, L->o.max_delete), L->o.max_delete);
			if (hold(L, e, "CL412", 1) < 0)
				return -1;
		}
	}
	n = count_e(L, "SELECT count(*) FROM temp.st_del WHERE entity = ?1 AND held IS NOT NULL",
	            e);
	if (n < 0)
		return -1;
	c->withheld = n + c->held_up;
	return 0;
}

/* At most this many withheld deletions are listed in the Sync Details (all are counted). */
#define WITHHELD_LIST 1000

/*
 * The Sync Details' "deletions": the explained deletions by entity and
 * reason, the unexplained ones by entity, and the withheld ones listed
 * (entity, id, the code that withheld them, and the parent they follow).
 */
static int
summarize(struct load *L)
{
	jv d = jv_get_kind(L->tally.deletions) == JV_KIND_OBJECT ? jv_copy(L->tally.deletions)
	                                                         : jv_object();
	jv x = jv_object(), u = jv_object(), w = jv_array();
	sqlite3_stmt *q;
	long long listed = 0, total = 0;
	int rc;

	q = load_prepare(L, "SELECT entity, why, held IS NULL, count(*) FROM temp.st_del"
	                    " GROUP BY entity, why, held IS NULL ORDER BY entity, why");
	if (!q)
		goto fail;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int e = sqlite3_column_int(q, 0);
		long long n = sqlite3_column_int64(q, 3);
		jv name = jv_string(load_model[e].plural), o;

		if (!sqlite3_column_int(q, 2)) {
			total += n;
			jv_free(name);
		} else if (sqlite3_column_type(q, 1) == SQLITE_NULL) {
			u = jv_object_set(u, name, jv_number((double)n));
		} else {
			o = jv_object_get(jv_copy(x), jv_copy(name));
			if (jv_get_kind(o) != JV_KIND_OBJECT) {
				jv_free(o);
				o = jv_object();
			}
			o = jv_object_set(o, jv_string((const char *)sqlite3_column_text(q, 1)),
			                  jv_number((double)n));
			x = jv_object_set(x, name, o);
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		goto db;
	q = load_prepare(L, "SELECT entity, id, held, why FROM temp.st_del"
	                    " WHERE held IS NOT NULL ORDER BY entity, id LIMIT ?1");
	if (!q)
		goto fail;
	sqlite3_bind_int(q, 1, WITHHELD_LIST);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int e = sqlite3_column_int(q, 0);
		const char *id = (const char *)sqlite3_column_text(q, 1), *sep;
		const char *const *part = load_model[e].id_part;
		jv o = jv_object_set(jv_object(), jv_string("entity"),
		                     jv_string(load_model[e].name));

		if (part[0] && (sep = strchr(id, 0x1f))) {
			o = jv_object_set(o, jv_string(part[0]),
			                  jv_string_sized(id, (int)(sep - id)));
			o = jv_object_set(o, jv_string(part[1]), jv_string(sep + 1));
		} else {
			o = jv_object_set(o, jv_string("id"), jv_string(id));
		}
		o = jv_object_set(o, jv_string("code"),
		                  jv_string((const char *)sqlite3_column_text(q, 2)));
		if (sqlite3_column_type(q, 3) != SQLITE_NULL)
			o = jv_object_set(o, jv_string("follows"),
			                  jv_string((const char *)sqlite3_column_text(q, 3)));
		w = jv_array_append(w, o);
		listed++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		goto db;
	d = jv_object_set(d, jv_string("explained"), x);
	d = jv_object_set(d, jv_string("unexplained"), u);
	d = jv_object_set(d, jv_string("withheld"), w);
	d = jv_object_set(d, jv_string("withheld_unlisted"), jv_number((double)(total - listed)));
	if (L->o.allow_deletes) /* not counted by the creeping deletions guard */
		d = jv_object_set(d, jv_string("allow_deletes"), jv_true());
	jv_free(L->tally.deletions);
	L->tally.deletions = d;
	return 0;
db:
	load_db_error(L, "reading the deletions");
fail:
	jv_free(d);
	jv_free(x);
	jv_free(u);
	jv_free(w);
	return -1;
}

/* Parents before their dependents. */
static const enum load_ent judge_order[LOAD_NENT] = { LOAD_USER, LOAD_CLASS, LOAD_CONTACT,
	                                              LOAD_MEMBER, LOAD_REL };

int
load_diff(struct load *L, FILE *out)
{
	struct cl_buf b = CL_BUF_INIT;
	int whole = L->stream.complete && !L->stream.delta, e, i, collapsed;
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
	if (relinks(L) < 0)
		goto fail;
	for (e = 0; e < LOAD_NENT; e++)
		if (L->tally.ent[e].managed && upserts(L, out, e, &b) < 0)
			goto fail;
	if ((collapsed = match_collapsed(L)) < 0)
		goto fail;
	if (whole && !L->stream.no_classes && load_schools_judge(L) < 0)
		goto fail;
	/* absence means nothing in a delta: deletions are not even computed */
	if (load_exec(L, LOAD_ST_DEL) < 0)
		goto fail;
	for (e = 0; e < LOAD_NENT && !L->stream.delta; e++)
		if (L->tally.ent[e].managed && load_index_unseen(L, e) > 0 &&
		    load_index_stage_deletes(L, e) < 0)
			goto fail;
	for (i = 0; i < LOAD_NENT; i++) {
		e = judge_order[i];
		if (L->tally.ent[e].managed && judge(L, e, whole, collapsed) < 0)
			goto fail;
		withheld += L->tally.ent[e].withheld;
	}
	if (L->stream.delta)
		load_error(L, "CL411", "the stream is a delta: deletions are not computed");
	if (!L->stream.complete)
		load_error(L, "CL410", "the stream is incomplete: %lld deletion%s withheld",
		           withheld, withheld == 1 ? "" : "s");
	if (summarize(L) < 0)
		goto fail;
	for (e = LOAD_NENT - 1; e >= 0; e--)
		if (L->tally.ent[e].managed && deletions(L, out, e, &b) < 0)
			goto fail;
	/* only what was sent stays: the settle reads it */
	if (load_exec(L, "DELETE FROM temp.st_del WHERE held IS NOT NULL") < 0)
		goto fail;
	cl_buf_release(&b);
	return 0;
fail:
	cl_buf_release(&b);
	return -1;
}
