/*
 * details.c: the Sync Details of a night (what School Manager calls them),
 * from cl-load's report and what the supervisor saw; and night.json, the
 * one-line record of the night that cl-sync log, list and the pruning of
 * run folders read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jv.h>

#include "errors.h"
#include "jvget.h"
#include "sync.h"

/* The report, or jv_invalid() when there is none (the sync did not finish). */
static jv
read_report(const char *dir)
{
	char path[4096];
	struct cl_buf b = CL_BUF_INIT;
	char chunk[65536];
	ssize_t n;
	int fd;
	jv v;

	snprintf(path, sizeof path, "%s/report.json", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return jv_invalid();
	while ((n = read(fd, chunk, sizeof chunk)) > 0 && b.len < (64u << 20))
		cl_buf_add(&b, chunk, (size_t)n);
	close(fd);
	v = jv_parse_sized(b.p, (int)b.len);
	cl_buf_release(&b);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return jv_invalid();
	}
	return v;
}

static void
codes_from(jv o, const char *k, struct codes *c)
{
	jv a = cl_jv_get(o, k);
	int i, n = jv_get_kind(a) == JV_KIND_ARRAY ? jv_array_length(jv_copy(a)) : 0;

	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(a), i);

		if (jv_get_kind(s) == JV_KIND_STRING && strlen(jv_string_value(s)) == 5)
			codes_add(c, jv_string_value(s));
		jv_free(s);
	}
	jv_free(a);
}

/*
 * What the report says: its status, its sync, its codes, and how many
 * changes it made (created, updated and deleted of every entity). Returns
 * 0, or -1 when there is no report.
 */
int
sync_report_changes(const char *dir, long long *changes, char *status, size_t statusz,
                    long long *sync, struct codes *codes)
{
	jv r = read_report(dir), counts;
	static const char *const ent[] = { "users", "classes", "memberships", "contacts",
		                           "relationships" };
	size_t i;

	if (!jv_is_valid(r))
		return -1;
	*changes = 0;
	counts = cl_jv_get(r, "counts");
	for (i = 0; i < sizeof ent / sizeof ent[0]; i++) {
		jv e = cl_jv_get(counts, ent[i]);

		*changes += cl_jv_num(e, "created", 0) + cl_jv_num(e, "updated", 0) +
		            cl_jv_num(e, "deleted", 0);
		jv_free(e);
	}
	jv_free(counts);
	cl_jv_str(r, "status", status, statusz);
	{
		jv s = cl_jv_get(r, "sync");

		*sync = jv_get_kind(s) == JV_KIND_NUMBER ? (long long)jv_number_value(s) : -1;
		jv_free(s);
	}
	codes_from(r, "upstream_codes", codes);
	codes_from(r, "codes", codes);
	jv_free(r);
	return 0;
}

/* 1 when the report says the sync read a complete stream. */
int
sync_report_complete(const char *dir)
{
	jv r = read_report(dir), s, c;
	int ok;

	if (!jv_is_valid(r))
		return 0;
	s = cl_jv_get(r, "stream");
	c = cl_jv_get(s, "complete");
	ok = jv_get_kind(c) == JV_KIND_TRUE;
	jv_free(c);
	jv_free(s);
	jv_free(r);
	return ok;
}

/* "2026-11-30 18:00:02 CST (2026-12-01T00:00:02Z)" */
static void
both_times(const struct run *r, time_t t, char *out, size_t n)
{
	char loc[64], utc[32];
	struct tm tm;
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

	setenv("TZ", r->tz, 1);
	tzset();
	localtime_r(&t, &tm);
	strftime(loc, sizeof loc, "%Y-%m-%d %H:%M:%S %Z", &tm);
	if (old) {
		setenv("TZ", old, 1);
		free(old);
	} else {
		unsetenv("TZ");
	}
	tzset();
	gmtime_r(&t, &tm);
	strftime(utc, sizeof utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, n, "%s (%s)", loc, utc);
}

static void
duration(long s, char *out, size_t n)
{
	if (s < 60)
		snprintf(out, n, "%ld s", s);
	else if (s < 3600)
		snprintf(out, n, "%ld min %ld s", s / 60, s % 60);
	else
		snprintf(out, n, "%ld h %ld min", s / 3600, s % 3600 / 60);
}

static void
pad_num(struct cl_buf *b, long long v, int w)
{
	cl_buf_addf(b, "%*lld", w, v);
}

/* "(not-found 3, no-email 1; see unmatched.csv)": an object's members, largest first. */
static void
by_value(struct cl_buf *b, jv o)
{
	int n = 0, i, j;
	struct {
		char k[64];
		long long v;
	} e[32];

	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return;
	jv_object_foreach(o, k, v)
	{
		if (n < 32 && jv_get_kind(v) == JV_KIND_NUMBER) {
			snprintf(e[n].k, sizeof e[n].k, "%s", jv_string_value(k));
			e[n++].v = (long long)jv_number_value(v);
		}
		jv_free(k);
		jv_free(v);
	}
	for (i = 1; i < n; i++) /* stable: largest first, ties in the report's order */
		for (j = i; j > 0 && e[j].v > e[j - 1].v; j--) {
			__typeof__(e[0]) t = e[j];

			e[j] = e[j - 1];
			e[j - 1] = t;
		}
	for (i = 0; i < n; i++)
		cl_buf_addf(b, "%s%s %lld", i ? ", " : "", e[i].k, e[i].v);
}

static long long
sum_values(jv o)
{
	long long s = 0;

	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return 0;
	jv_object_foreach(o, k, v)
	{
		if (jv_get_kind(v) == JV_KIND_NUMBER)
			s += (long long)jv_number_value(v);
		jv_free(k);
		jv_free(v);
	}
	return s;
}

static void
counts_block(struct cl_buf *b, jv rep)
{
	static const char *const ent[] = { "users", "classes", "memberships", "contacts",
		                           "relationships" };
	jv c = cl_jv_get(rep, "counts"), u = cl_jv_get(rep, "unmatched"),
	   sk = cl_jv_get(rep, "skipped");
	jv expl = cl_jv_get(rep, "deletions"), rd = cl_jv_get(c, "matched_role_differs");
	long long st = cl_jv_num(c, "matched_students", 0),
	          te = cl_jv_num(c, "matched_teachers", 0), ot = cl_jv_num(c, "matched_other", 0),
	          un = cl_jv_num(c, "unmatched_users", 0);
	size_t i;

	cl_buf_addf(b,
	            "  Users Read         %lld  (students + teachers + other staff + unmatched)\n",
	            st + te + ot + un);
	cl_buf_addf(b, "  Unmatched Users    %lld", un);
	if (sum_values(u) > 0) {
		cl_buf_adds(b, "  (");
		by_value(b, u);
		cl_buf_adds(b, "; see unmatched.csv)");
	}
	cl_buf_addf(b, "\n  Matched Students   %lld\n", st);
	cl_buf_addf(b, "  Matched Teachers   %lld\n", te);
	cl_buf_addf(b, "  Matched Other      %lld  (other staff)\n", ot);
	if (jv_get_kind(rd) == JV_KIND_NUMBER && jv_number_value(rd) > 0)
		cl_buf_addf(b,
		            "  Role Differs       %lld  (the export role is not the roster role)\n",
		            (long long)jv_number_value(rd));
	if (sum_values(sk) > 0) {
		cl_buf_addf(b, "  Skipped            %lld  (", sum_values(sk));
		by_value(b, sk);
		cl_buf_adds(b, ")\n");
	}
	cl_buf_addf(b, "  Imported Classes   %lld\n", cl_jv_num(c, "imported_classes", 0));
	cl_buf_addf(b, "  Changes            %8s %8s %8s %10s %9s\n", "created", "updated",
	            "deleted", "unchanged", "withheld");
	for (i = 0; i < sizeof ent / sizeof ent[0]; i++) {
		jv e = cl_jv_get(c, ent[i]), synced;

		if (jv_get_kind(e) != JV_KIND_OBJECT) {
			jv_free(e);
			continue;
		}
		synced = cl_jv_get(e, "synced");
		if (jv_get_kind(synced) != JV_KIND_FALSE) {
			cl_buf_addf(b, "    %-17s", ent[i]);
			pad_num(b, cl_jv_num(e, "created", 0), 8);
			cl_buf_addc(b, ' ');
			pad_num(b, cl_jv_num(e, "updated", 0), 8);
			cl_buf_addc(b, ' ');
			pad_num(b, cl_jv_num(e, "deleted", 0), 8);
			cl_buf_addc(b, ' ');
			pad_num(b, cl_jv_num(e, "unchanged", 0), 10);
			cl_buf_addc(b, ' ');
			pad_num(b, cl_jv_num(e, "withheld", 0), 9);
			cl_buf_addc(b, '\n');
		}
		jv_free(synced);
		jv_free(e);
	}
	{
		jv ex = cl_jv_get(expl, "explained");
		int first = 1;

		for (i = 0; i < sizeof ent / sizeof ent[0]; i++) {
			jv e = cl_jv_get(ex, ent[i]);

			if (sum_values(e) > 0) {
				cl_buf_adds(b, first ? "  Explained Deletions "
				                     : "                      ");
				cl_buf_addf(b, "%s: ", ent[i]);
				by_value(b, e);
				cl_buf_addc(b, '\n');
				first = 0;
			}
			jv_free(e);
		}
		jv_free(ex);
	}
	{
		jv inc = cl_jv_get(rep, "incomplete_schools");
		int k, m = jv_get_kind(inc) == JV_KIND_ARRAY ? jv_array_length(jv_copy(inc)) : 0;

		for (k = 0; k < m; k++) {
			jv o = jv_array_get(jv_copy(inc), k);
			char nm[256], id[128], what[32];

			cl_jv_str(o, "name", nm, sizeof nm);
			cl_jv_str(o, "sourcedId", id, sizeof id);
			cl_jv_str(o, "missing", what, sizeof what);
			cl_buf_addf(b,
			            "%s%s (%s): %lld users, no %s (the last sync had %lld): its "
			            "deletions withheld\n",
			            k ? "                     " : "  Incomplete Schools ", nm, id,
			            cl_jv_num(o, "users", 0), what, cl_jv_num(o, "last_sync", 0));
			jv_free(o);
		}
		jv_free(inc);
	}
	jv_free(rd);
	jv_free(expl);
	jv_free(sk);
	jv_free(u);
	jv_free(c);
}

static void
explain(struct cl_buf *b, const char *code)
{
	const struct cl_error_def *e = cl_error_lookup(code);

	if (!e) {
		cl_buf_addf(b, "  %s  (see docs/errors.md)\n", code);
		return;
	}
	/* a remedy that names a program's option, in cl-sync's words instead */
	cl_buf_addf(b, "  %s  %s\n         what to do: %s\n", code, e->meaning,
	            e->sync_remedy ? e->sync_remedy : e->remedy);
}

static void
export_line(const struct run *r, struct cl_buf *b)
{
	struct stat st;
	long days;

	if (!r->export_path)
		return;
	if (stat(r->export_path, &st) != 0) {
		cl_buf_addf(b, "  Export             %s (cannot read it: %s)\n", r->export_path,
		            strerror(errno));
		return;
	}
	days = (long)((r->started - st.st_mtime) / 86400);
	if (days < 0)
		days = 0;
	cl_buf_addf(b, "  Export             %s, %ld day%s old", r->export_path, days,
	            days == 1 ? "" : "s");
	if (r->export_max_age > 0 && days > r->export_max_age)
		cl_buf_addf(b, ": older than export_max_age_days (%ld), refresh it",
		            r->export_max_age);
	cl_buf_addc(b, '\n');
}

int
sync_details(struct run *r, const struct night *n, struct cl_buf *b)
{
	char t[128];
	jv rep = read_report(r->dir);
	int i;

	cl_buf_addf(b, "Sync Details: %s%s\n", r->name,
	            n->dry_run ? " (dry run: nothing recorded)" : "");
	cl_buf_addf(b, "  Status             %s", n->status);
	if (n->why)
		cl_buf_addf(b, " (%s)", n->why);
	cl_buf_addc(b, '\n');
	both_times(r, r->started, t, sizeof t);
	cl_buf_addf(b, "  Started            %s\n", t);
	both_times(r, r->finished, t, sizeof t);
	cl_buf_addf(b, "  Finished           %s\n", t);
	duration((long)(r->finished - r->started), t, sizeof t);
	cl_buf_addf(b, "  Duration           %s\n", t);
	if (n->sync >= 0)
		cl_buf_addf(b, "  Sync               %lld\n", n->sync);
	cl_buf_addf(b, "  Fetch              %s%s%s%s\n", r->fetch_mode,
	            r->fetch_reason ? " (" : "", r->fetch_reason ? r->fetch_reason : "",
	            r->fetch_reason ? ")" : "");
	if (jv_is_valid(rep))
		counts_block(b, rep);
	else
		cl_buf_adds(b, "  (no report: the sync did not finish; see the log)\n");
	export_line(r, b);
	if (n->codes.n) {
		cl_buf_adds(b, "  Errors\n");
		for (i = 0; i < n->codes.n; i++)
			explain(b, n->codes.code[i]);
	} else {
		cl_buf_adds(b, "  Errors             none\n");
	}
	cl_buf_addf(b, "  Run folder         %s\n", r->dir);
	cl_buf_addf(b, "  Log                %s/log\n", r->dir);
	jv_free(rep);
	return 0;
}

static void
put_str(struct cl_buf *b, const char *s)
{
	jv v = jv_dump_string(jv_string(s), 0);

	cl_buf_adds(b, jv_string_value(v));
	jv_free(v);
}

/* The night in one line: see scripts/cl-sync (log, list, the pruning of run folders). */
int
sync_night_json(struct run *r, const struct night *n, struct cl_buf *b)
{
	char s[32], f[32];
	const char *run = strrchr(r->dir, '/');
	struct tm tm;
	int i;

	gmtime_r(&r->started, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	gmtime_r(&r->finished, &tm);
	strftime(f, sizeof f, "%Y-%m-%dT%H:%M:%SZ", &tm);
	cl_buf_adds(b, "{\"integration\":");
	put_str(b, r->name);
	cl_buf_adds(b, ",\"run\":");
	put_str(b, run ? run + 1 : r->dir);
	cl_buf_adds(b, ",\"trigger\":");
	put_str(b, r->trigger);
	cl_buf_adds(b, ",\"status\":");
	put_str(b, n->status);
	cl_buf_adds(b, ",\"fetch_mode\":");
	put_str(b, r->fetch_mode);
	if (r->fetch_reason) {
		cl_buf_adds(b, ",\"fetch_reason\":");
		put_str(b, r->fetch_reason);
	}
	cl_buf_adds(b, ",\"codes\":[");
	for (i = 0; i < n->codes.n; i++)
		cl_buf_addf(b, "%s\"%s\"", i ? "," : "", n->codes.code[i]);
	cl_buf_addf(b, "],\"started\":\"%s\",\"finished\":\"%s\",\"duration_s\":%ld,", s, f,
	            (long)(r->finished - r->started));
	if (n->sync >= 0)
		cl_buf_addf(b, "\"sync\":%lld,", n->sync);
	{
		jv rep = read_report(r->dir);

		if (jv_is_valid(rep)) {
			static const char *const ent[] = { "users", "classes", "memberships",
				                           "contacts", "relationships" };
			jv c = cl_jv_get(rep, "counts");
			long long changes = 0;
			size_t k;

			for (k = 0; k < sizeof ent / sizeof ent[0]; k++) {
				jv e = cl_jv_get(c, ent[k]);

				changes += cl_jv_num(e, "created", 0) + cl_jv_num(e, "updated", 0) +
				           cl_jv_num(e, "deleted", 0);
				jv_free(e);
			}
			/* changes: what cl-report's chart of the last nights shows */
			cl_buf_addf(
			        b,
			        "\"counts\":{\"unmatched_users\":%lld,\"matched_students\":%lld,"
			        "\"matched_teachers\":%lld,\"matched_other\":%lld,"
			        "\"imported_classes\":%lld,\"changes\":%lld},",
			        cl_jv_num(c, "unmatched_users", 0),
			        cl_jv_num(c, "matched_students", 0),
			        cl_jv_num(c, "matched_teachers", 0),
			        cl_jv_num(c, "matched_other", 0),
			        cl_jv_num(c, "imported_classes", 0), changes);
			jv_free(c);
		}
		jv_free(rep);
	}
	cl_buf_addf(b, "\"exit\":%d}\n", n->exit);
	return 0;
}
