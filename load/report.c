/*
 * report.c: the begin line, the Sync Details (the end line, --report, the
 * sync record), and the View Log (--history, --show-sync).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "errors.h"
#include "load.h"

void
load_error(struct load *L, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cl_stage_vfail(&L->st, code, fmt, ap);
	va_end(ap);
}

int
load_status(const struct load *L)
{
	return cl_stage_status(&L->st);
}

int
load_failed(const struct load *L)
{
	return load_status(L) > CL_EX_PARTIAL;
}

void
load_put_jv(FILE *out, jv v)
{
	jv s = jv_dump_string(v, 0);

	cl_write_line(out, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
}

static jv
num(long long v)
{
	return jv_number((double)v);
}

static jv
stream_obj(struct load *L)
{
	jv s = jv_object();

	s = jv_object_set(s, jv_string("complete"), jv_bool(L->stream.complete));
	s = jv_object_set(s, jv_string("delta"), jv_bool(L->stream.delta));
	s = jv_object_set(s, jv_string("parents"), jv_bool(L->stream.has_parents));
	return s;
}

jv
load_begin(struct load *L)
{
	jv b = jv_object_set(jv_object(), jv_string("kind"), jv_string("begin"));

	b = jv_object_set(b, jv_string("sync"), num(L->sync.id));
	b = jv_object_set(b, jv_string("started"), jv_string(L->sync.started));
	b = jv_object_set(b, jv_string("dry_run"), jv_bool(L->o.dry_run));
	b = jv_object_set(b, jv_string("previous"), jv_copy(L->sync.prev));
	b = jv_object_set(b, jv_string("stream"),
	                  jv_object_merge(stream_obj(L), jv_copy(L->stream.summary)));
	return b;
}

const char *
load_status_name(struct load *L)
{
	if (load_failed(L))
		return "failed";
	return load_status(L) == CL_EX_PARTIAL ? "partial" : "success";
}

static jv
codes(struct load *L)
{
	jv out = jv_array();
	int i, j, n = jv_array_length(jv_copy(L->st.errors)), dup;

	for (i = 0; i < n; i++) {
		jv c = jv_object_get(jv_array_get(jv_copy(L->st.errors), i), jv_string("code"));

		for (dup = 0, j = 0; j < jv_array_length(jv_copy(out)) && !dup; j++)
			dup = jv_equal(jv_array_get(jv_copy(out), j), jv_copy(c));
		if (dup)
			jv_free(c);
		else
			out = jv_array_append(out, c);
	}
	return out;
}

/* diff.c's account of the deletions; before the diff (a failed sync), an empty one. */
static jv
deletions_details(struct load *L)
{
	jv d = L->tally.deletions;

	if (jv_get_kind(d) == JV_KIND_OBJECT && jv_object_length(jv_copy(d)) > 0)
		return jv_copy(d);
	d = jv_object_set(jv_object(), jv_string("relinks_withheld"), jv_array());
	d = jv_object_set(d, jv_string("explained"), jv_object());
	d = jv_object_set(d, jv_string("unexplained"), jv_object());
	d = jv_object_set(d, jv_string("withheld"), jv_array());
	return jv_object_set(d, jv_string("withheld_unlisted"), jv_number(0));
}

jv
load_details(struct load *L, int with_kind)
{
	jv d = jv_object(), c = jv_object(), e;
	long long imported = L->tally.ent[LOAD_CLASS].created + L->tally.ent[LOAD_CLASS].updated +
	                     L->tally.ent[LOAD_CLASS].unchanged;
	int i;

	if (with_kind)
		d = jv_object_set(d, jv_string("kind"), jv_string("end"));
	d = jv_object_set(d, jv_string("sync"), num(L->sync.id));
	d = jv_object_set(d, jv_string("started"), jv_string(L->sync.started));
	d = jv_object_set(d, jv_string("finished"), jv_string(L->sync.finished));
	d = jv_object_set(d, jv_string("status"), jv_string(load_status_name(L)));
	d = jv_object_set(d, jv_string("dry_run"), jv_bool(L->o.dry_run));
	d = jv_object_set(d, jv_string("stream"), stream_obj(L));
	c = jv_object_set(c, jv_string("unmatched_users"), num(L->tally.unmatched));
	c = jv_object_set(c, jv_string("matched_students"), num(L->tally.matched_students));
	c = jv_object_set(c, jv_string("matched_teachers"), num(L->tally.matched_teachers));
	c = jv_object_set(c, jv_string("matched_other"), num(L->tally.matched_other));
	c = jv_object_set(c, jv_string("matched_role_differs"),
	                  L->tally.role_differs_known ? num(L->tally.role_differs) : jv_null());
	c = jv_object_set(c, jv_string("imported_classes"), num(load_failed(L) ? 0 : imported));
	for (i = 0; i < LOAD_NENT; i++) {
		const struct load_counts *k = &L->tally.ent[i];

		e = jv_object();
		e = jv_object_set(e, jv_string("created"), num(k->created));
		e = jv_object_set(e, jv_string("updated"), num(k->updated));
		e = jv_object_set(e, jv_string("deleted"), num(k->deleted));
		e = jv_object_set(e, jv_string("unchanged"), num(k->unchanged));
		e = jv_object_set(e, jv_string("withheld"), num(k->withheld));
		if (!k->managed)
			e = jv_object_set(e, jv_string("synced"), jv_false());
		c = jv_object_set(c, jv_string(load_model[i].plural), e);
	}
	d = jv_object_set(d, jv_string("counts"), c);
	d = jv_object_set(d, jv_string("unmatched"), jv_copy(L->tally.unmatched_by));
	d = jv_object_set(d, jv_string("skipped"), jv_copy(L->tally.skipped));
	d = jv_object_set(d, jv_string("deletions"), deletions_details(L));
	if (jv_array_length(jv_copy(L->tally.incomplete)) > 0)
		d = jv_object_set(d, jv_string("incomplete_schools"), jv_copy(L->tally.incomplete));
	d = jv_object_set(d, jv_string("codes"), codes(L));
	d = jv_object_set(d, jv_string("errors"), jv_copy(L->st.errors));
	d = jv_object_set(d, jv_string("upstream_codes"), jv_copy(L->stream.upstream_codes));
	return d;
}

int
load_record_sync(struct load *L)
{
	sqlite3_stmt *s;
	jv d = load_details(L, 0), str = jv_dump_string(d, 0);
	int rc;

	s = load_prepare(L, "INSERT INTO syncs(id, started, finished, status, details)"
	                    " VALUES (?1, ?2, ?3, ?4, ?5)");
	if (!s) {
		jv_free(str);
		return -1;
	}
	sqlite3_bind_int64(s, 1, L->sync.id);
	sqlite3_bind_text(s, 2, L->sync.started, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, L->sync.finished, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, load_status_name(L), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, jv_string_value(str), -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	jv_free(str);
	if (rc != SQLITE_DONE) {
		load_db_error(L, "recording the sync");
		return -1;
	}
	/* The date a delta fetch may start from: only a complete stream moves it. */
	if (!load_failed(L) && L->stream.complete &&
	    load_meta_set(L, "last_sync",
	                  L->stream.fetched[0] ? L->stream.fetched : L->sync.started) < 0)
		return -1;
	return 0;
}

int
load_write_report(struct load *L)
{
	struct cl_buf why = CL_BUF_INIT;
	jv s = jv_dump_string(load_details(L, 0), 0);
	int rc = 0;

	fputs(jv_string_value(s), L->sync.report.f);
	putc('\n', L->sync.report.f);
	if (cl_out_commit(&L->sync.report, &why) < 0) {
		load_error(L, "CL430", "--report: %s", why.p);
		rc = -1;
	}
	cl_buf_release(&why);
	jv_free(s);
	return rc;
}

/*
 * The pending syncs, listed with the recorded ones (status "pending"), when
 * the state has them (a state of schema 1 read without migrating has not).
 */
static const char *
pending_sql(struct load *L)
{
	sqlite3_stmt *s = load_prepare(L, "SELECT 1 FROM sqlite_master WHERE name = 'pending'");
	int has;

	if (!s)
		return "";
	has = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return has ? " UNION ALL SELECT id, started, finished, 'pending',"
	             " json_set(details, '$.status', 'pending') FROM pending"
	           : "";
}

int
load_show_history(struct load *L, long n)
{
	sqlite3_stmt *s;
	char sql[1024];
	int rc;

	if (L->state.absent)
		return 0;
	snprintf(sql, sizeof sql,
	         "SELECT json_object('sync', id, 'started', started, 'finished', finished,"
	         " 'status', status,"
	         " 'counts', json(json_extract(details, '$.counts')),"
	         " 'codes', json(json_extract(details, '$.codes')),"
	         " 'upstream_codes', json(json_extract(details, '$.upstream_codes')))"
	         " FROM (SELECT id, started, finished, status, details FROM syncs%s)"
	         " ORDER BY id DESC LIMIT ?1",
	         pending_sql(L));
	s = load_prepare(L, sql);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, n);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cl_write_line(stdout, (const char *)sqlite3_column_text(s, 0),
		              (size_t)sqlite3_column_bytes(s, 0));
	if (load_done(L, s, rc, "reading the history") < 0)
		return -1;
	return 0;
}

int
load_show_sync(struct load *L, long long id)
{
	sqlite3_stmt *s;
	char sql[512];
	int rc;

	if (L->state.absent) {
		load_error(L, "CL431", "no sync %lld: state '%s' has no history", id, L->o.state);
		return -1;
	}
	snprintf(sql, sizeof sql,
	         "SELECT details FROM (SELECT id, started, finished, status, details FROM syncs%s)"
	         " WHERE id = ?1",
	         pending_sql(L));
	s = load_prepare(L, sql);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		cl_write_line(stdout, (const char *)sqlite3_column_text(s, 0),
		              (size_t)sqlite3_column_bytes(s, 0));
	else if (rc == SQLITE_DONE)
		load_error(L, "CL431", "no sync %lld in state '%s' (see --history)", id,
		           L->o.state);
	else
		load_db_error(L, "reading the history");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}
