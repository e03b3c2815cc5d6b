/*
 * fuzz_load: cl-load's whole sync (load/ but cl-load.c: ingest, index, join,
 * diff, record, commit) over an arbitrary stream, as cl-load.c's sync_run
 * runs it, on a fresh SQLite state per input (a folder under $TMPDIR or
 * /tmp, removed after the input). The first byte picks the runs, the rest
 * is the stream A:
 *
 *   bits 0-1  0: A once; 1: A, then A' (a copy of A with some data lines
 *             dropped and some string values changed, so that the diff runs
 *             against a non-empty state); 2: A twice; 3: A, A', A' again
 *   bit 2     --allow-deletes in the runs after the first
 *   bit 3     --dry-run in the second run
 *   bits 4-5  --max-delete 10, 0, 50, 100
 *   bits 6-7  with the input's length, seeds the copy's changes
 *
 * A crash, a sanitizer report or a broken invariant aborts, after one line
 * on stderr saying which (cl-load's own diagnostics go to /dev/null unless
 * CL_FUZZ_VERBOSE is set). The invariants, from docs/changeset.md:
 *  - every change line is a JSON object: "kind":"change", an "op" of its
 *    entity's three, the entity's id keys as strings, "fields" with exactly
 *    the model's fields (strings, or lists of strings sorted in byte order
 *    without duplicates or empty strings), "changed" exactly on an update,
 *    each {"old","new"} with "new" the field's value and "old" another;
 *  - the order: creates and updates by entity, then deletions in the
 *    reverse entity order, each entity's ids increasing in byte order (a
 *    composite id by its first part, then its second);
 *  - the counts of the end line are the lines written; no deletion from an
 *    incomplete or delta stream or one that lost lines (CL012), none of an
 *    entity not synced; nothing but creates against an empty state; a failed
 *    sync is reported as one;
 *  - the state: what the change sets applied in order say (a create of
 *    what is not there, an update's "old" values and a deletion's fields
 *    what is there), and nothing else, is what the state holds after each
 *    run; a dry run or a failed sync changes nothing;
 *  - the same stream again, after a sync that was committed and withheld
 *    no deletion, writes no change;
 *  - our own state always opens, and the folder holds nothing but it.
 *
 * SQLite syncs the state at each commit: TMPDIR=/dev/shm makes a fuzz run
 * several times faster than a /tmp on disk.
 */
#define _GNU_SOURCE /* memfd_create, in fuzz.h; open_memstream */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../load/diff.c"
#include "../../load/fields.c"
#include "../../load/index.c"
#include "../../load/pending.c"
#include "../../load/ingest.c"
#include "../../load/report.c"
#include "../../load/run.c"
#include "../../load/schools.c"
#include "../../load/state.c"
#include "fuzz.h"

/* cl-load's diagnostics go to /dev/null; the harness's own, and the sanitizers', here. */
static int err_fd = -1;

void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

static void
quiet_init(void)
{
	if (err_fd >= 0 || getenv("CL_FUZZ_VERBOSE"))
		return;
	err_fd = dup(2);
	if (err_fd < 0)
		return;
	if (__sanitizer_set_report_fd)
		__sanitizer_set_report_fd((void *)(intptr_t)err_fd);
}

/* Runs with stderr on /dev/null (fd 2 restored by loud()). */
static void
quiet(void)
{
	int null;

	if (err_fd < 0)
		return;
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 2);
		close(null);
	}
}

static void
loud(void)
{
	if (err_fd >= 0)
		dup2(err_fd, 2);
}

__attribute__((format(printf, 1, 2))) _Noreturn static void
broken(const char *fmt, ...)
{
	va_list ap;

	loud();
	fputs("fuzz_load: invariant broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* The runs' options, from the first byte. */
struct plan {
	int runs;          /* 1 to 3 */
	int second_is_new; /* the second run reads A' (modes 1 and 3) */
	int allow_deletes;
	int dry_second;
	double max_delete;
	uint32_t seed;
};

/* --- the mutated copy ------------------------------------------------------------- */

static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static int
is_key(const uint8_t *p, size_t n, const char *k)
{
	return n == strlen(k) && memcmp(p, k, n) == 0;
}

/*
 * Changes some string values of one line (never "kind"'s or "role"'s: the
 * line would change kind or place): the first letter or digit outside an
 * escape becomes the next one of its class, so the line stays JSON if it was.
 */
static void
mutate_values(uint8_t *p, size_t n, uint32_t *s)
{
	char stack[64]; /* '{' or '[' */
	int depth = 0, in_str = 0, value = 0, done = 0;
	uint8_t prev = 0; /* the last byte outside a string that is not a blank */
	const uint8_t *key = NULL, *str = NULL;
	size_t keyn = 0, i;

	for (i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (in_str) {
			if (c == '\\') {
				i += (i + 1 < n && p[i + 1] == 'u') ? 5 : 1;
				continue;
			}
			if (c == '"') {
				in_str = 0;
				if (!value) {
					key = str;
					keyn = (size_t)(p + i - str);
				}
				prev = '"';
				continue;
			}
			if (value && !done &&
			    ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9'))) {
				done = 1;
				if (c == 'z' || c == 'Z' || c == '9')
					p[i] = (uint8_t)(c - (c == '9' ? 9 : 25));
				else
					p[i] = (uint8_t)(c + 1);
			}
			continue;
		}
		switch (c) {
		case '{':
		case '[':
			if (depth < (int)sizeof stack)
				stack[depth] = (char)c;
			depth++;
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			break;
		case '"': {
			char top = depth > 0 && depth <= (int)sizeof stack ? stack[depth - 1] : 0;

			in_str = 1;
			str = p + i + 1;
			value = (top == '{' && prev == ':') ||
			        (top == '[' && (prev == '[' || prev == ','));
			if (value && key &&
			    (is_key(key, keyn, "kind") || is_key(key, keyn, "role")))
				value = 0;
			/* a value is changed one time in three */
			done = !value || rnd(s) % 3 != 0;
			continue;
		}
		case ' ':
		case '\t':
		case '\r':
			continue;
		default:
			break;
		}
		prev = c;
	}
}

/*
 * A': A with about one data line in eight dropped and one in four changed
 * (mutate_values); the header (the first line) and trailer lines are kept.
 * out holds n bytes; returns the copy's length.
 */
static size_t
mutate(const uint8_t *in, size_t n, uint8_t *out, uint32_t seed)
{
	size_t i = 0, o = 0, line = 0;
	uint32_t s = seed ? seed : 0x9e3779b9;

	while (i < n) {
		const uint8_t *nl = memchr(in + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (in + i)) + 1 : n - i;
		int keep =
		        line == 0 || (len > 18 && memcmp(in + i, "{\"kind\":\"trailer\"", 17) == 0);
		uint32_t r = rnd(&s);

		if (keep || r % 8 != 0) {
			memcpy(out + o, in + i, len);
			if (!keep && r % 4 == 1)
				mutate_values(out + o, len, &s);
			o += len;
		}
		i += len;
		line++;
	}
	return o;
}

/* --- checking a change set ---------------------------------------------------------- */

static int
ent_of(const char *name)
{
	int e;

	for (e = 0; e < LOAD_NENT; e++)
		if (!strcmp(load_model[e].name, name))
			return e;
	return -1;
}

/* memcmp order of two jv strings */
static int
str_cmp(jv a, jv b)
{
	int an = jv_string_length_bytes(jv_copy(a)), bn = jv_string_length_bytes(jv_copy(b));
	int c = memcmp(jv_string_value(a), jv_string_value(b), (size_t)(an < bn ? an : bn));

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

/* o[k] is a string; returns it (owned). */
static jv
get_str(jv o, const char *k, const char *what)
{
	jv v = jv_object_get(jv_copy(o), jv_string(k));

	if (jv_get_kind(v) != JV_KIND_STRING)
		broken("%s: \"%s\" is not a string", what, k);
	return v;
}

/* A field's value: a string, or a list of strings sorted, unique, none empty. */
static void
check_value(jv v, const char *field)
{
	int i, n;

	if (jv_get_kind(v) == JV_KIND_STRING)
		return;
	if (jv_get_kind(v) != JV_KIND_ARRAY)
		broken("field \"%s\" is neither a string nor a list", field);
	n = jv_array_length(jv_copy(v));
	for (i = 0; i < n; i++) {
		jv x = jv_array_get(jv_copy(v), i);

		if (jv_get_kind(x) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(x)) == 0)
			broken("field \"%s\": item %d is not a non-empty string", field, i);
		if (i > 0) {
			jv y = jv_array_get(jv_copy(v), i - 1);

			if (str_cmp(y, x) >= 0)
				broken("field \"%s\": items %d and %d out of order or repeated",
				       field, i - 1, i);
			jv_free(y);
		}
		jv_free(x);
	}
}

/* Where the change set is: the last line's phase, entity and id parts. */
struct order {
	int phase, ent; /* -1 before the first line */
	jv id0, id1;    /* the last id (its parts), or null */
};

/* What one run wrote and did. */
struct result {
	int rc;        /* 0: the diff ran and nothing failed */
	int committed; /* the state now holds this run's changes */
	long long lines[LOAD_NENT][3];
	long long withheld;
};

/*
 * Checks one change line and applies it to the model (key: the entity's
 * digit and its id, value: the fields) when apply is set. Returns which op.
 */
static void
check_line(const char *p, size_t n, struct order *ord, struct result *res, jv *model, int apply,
           int empty_state)
{
	jv l = jv_parse_sized(p, (int)n), v, fields, changed, key, id0, id1 = jv_null(), have;
	const struct load_entity *m;
	int e, which, i, nkeys, c;

	if (jv_get_kind(l) != JV_KIND_OBJECT)
		broken("a change line is not a JSON object: %.*s", (int)(n > 300 ? 300 : n), p);
	v = get_str(l, "kind", "change line");
	if (strcmp(jv_string_value(v), "change") != 0)
		broken("a change line's kind is \"%s\"", jv_string_value(v));
	jv_free(v);
	v = get_str(l, "entity", "change line");
	e = ent_of(jv_string_value(v));
	if (e < 0)
		broken("unknown entity \"%s\"", jv_string_value(v));
	jv_free(v);
	m = &load_model[e];
	v = get_str(l, "op", "change line");
	for (which = 0; which < 3 && strcmp(m->op[which], jv_string_value(v)); which++)
		;
	if (which == 3)
		broken("op \"%s\" is not one of %s's", jv_string_value(v), m->name);
	jv_free(v);
	if (empty_state && which != 0)
		broken("a %s %s against an empty state", m->name, m->op[which]);
	res->lines[e][which]++;
	/* the keys: kind, op, entity, the id's, fields, changed on an update */
	nkeys = 4 + (m->id_part[0] ? 2 : 1) + (which == 1);
	if (jv_object_length(jv_copy(l)) != nkeys)
		broken("%s %s: %d keys, want %d", m->name, m->op[which],
		       jv_object_length(jv_copy(l)), nkeys);
	if (m->id_part[0]) {
		id0 = get_str(l, m->id_part[0], m->name);
		jv_free(id1);
		id1 = get_str(l, m->id_part[1], m->name);
	} else {
		id0 = get_str(l, "id", m->name);
	}
	if (jv_string_length_bytes(jv_copy(id0)) == 0)
		broken("%s %s with an empty id", m->name, m->op[which]);
	/* the order */
	{
		int phase = which == 2;

		if (phase < ord->phase)
			broken("%s %s after a deletion", m->name, m->op[which]);
		if (phase == ord->phase && (phase ? e > ord->ent : e < ord->ent))
			broken("%s %s after a %s", m->name, m->op[which],
			       load_model[ord->ent].name);
		if (phase == ord->phase && e == ord->ent) {
			c = str_cmp(ord->id0, id0);
			if (c == 0 && m->id_part[0])
				c = str_cmp(ord->id1, id1);
			if (c >= 0) {
				jv a = jv_dump_string(jv_copy(ord->id0), 0),
				   b = jv_dump_string(jv_copy(ord->id1), 0),
				   x = jv_dump_string(jv_copy(id0), 0),
				   y = jv_dump_string(jv_copy(id1), 0);

				broken("%s %s: id %s/%s not after %s/%s", m->name, m->op[which],
				       jv_string_value(x), jv_string_value(y), jv_string_value(a),
				       jv_string_value(b));
			}
		}
		ord->phase = phase;
		ord->ent = e;
		jv_free(ord->id0);
		jv_free(ord->id1);
		ord->id0 = jv_copy(id0);
		ord->id1 = jv_copy(id1);
	}
	/* the fields: exactly the model's */
	fields = jv_object_get(jv_copy(l), jv_string("fields"));
	if (jv_get_kind(fields) != JV_KIND_OBJECT ||
	    jv_object_length(jv_copy(fields)) != (int)m->nfield)
		broken("%s %s: \"fields\" is not an object of %zu fields", m->name, m->op[which],
		       m->nfield);
	for (i = 0; i < (int)m->nfield; i++) {
		v = jv_object_get(jv_copy(fields), jv_string(m->field[i].name));
		if (!jv_is_valid(v))
			broken("%s %s: no field \"%s\"", m->name, m->op[which], m->field[i].name);
		check_value(v, m->field[i].name);
		jv_free(v);
	}
	/* the model: the state as the change sets say */
	key = jv_string_fmt("%d", e);
	key = jv_string_concat(key, jv_copy(id0));
	if (m->id_part[0]) {
		key = jv_string_append_buf(key, "\x1f", 1);
		key = jv_string_concat(key, jv_copy(id1));
	}
	have = jv_object_get(jv_copy(*model), jv_copy(key));
	if (which == 0 && jv_is_valid(have))
		broken("%s %s \"%s\": the state has it", m->name, m->op[which],
		       jv_string_value(id0));
	if (which != 0 && !jv_is_valid(have))
		broken("%s %s \"%s\": the state does not have it", m->name, m->op[which],
		       jv_string_value(id0));
	if (which == 2 && !jv_equal(jv_copy(have), jv_copy(fields)))
		broken("%s %s \"%s\": its fields are not the state's", m->name, m->op[which],
		       jv_string_value(id0));
	changed = jv_object_get(jv_copy(l), jv_string("changed"));
	if (which == 1) {
		int k = 0, nc;

		if (jv_get_kind(changed) != JV_KIND_OBJECT ||
		    (nc = jv_object_length(jv_copy(changed))) == 0)
			broken("%s update: \"changed\" is not a non-empty object", m->name);
		for (i = 0; i < (int)m->nfield; i++) {
			const char *f = m->field[i].name;
			jv ch = jv_object_get(jv_copy(changed), jv_string(f)), o, nw;

			if (!jv_is_valid(ch)) {
				jv_free(ch);
				/* unchanged: the state's value is the new one */
				o = jv_object_get(jv_copy(have), jv_string(f));
				nw = jv_object_get(jv_copy(fields), jv_string(f));
				if (!jv_equal(o, nw))
					broken("%s update \"%s\": field \"%s\" changed, not in "
					       "\"changed\"",
					       m->name, jv_string_value(id0), f);
				continue;
			}
			k++;
			if (jv_get_kind(ch) != JV_KIND_OBJECT || jv_object_length(jv_copy(ch)) != 2)
				broken("%s update: changed \"%s\" is not {\"old\",\"new\"}",
				       m->name, f);
			o = jv_object_get(jv_copy(ch), jv_string("old"));
			nw = jv_object_get(jv_copy(ch), jv_string("new"));
			if (jv_equal(jv_copy(o), jv_copy(nw)))
				broken("%s update: changed \"%s\" has old = new", m->name, f);
			if (!jv_equal(jv_copy(nw), jv_object_get(jv_copy(fields), jv_string(f))))
				broken("%s update: changed \"%s\" new is not the field", m->name,
				       f);
			if (!jv_equal(o, jv_object_get(jv_copy(have), jv_string(f))))
				broken("%s update \"%s\": changed \"%s\" old is not the state's",
				       m->name, jv_string_value(id0), f);
			jv_free(nw);
			jv_free(ch);
		}
		if (k != nc)
			broken("%s update: \"changed\" names a field the model lacks", m->name);
	}
	jv_free(changed);
	if (apply) {
		if (which == 2)
			*model = jv_object_delete(*model, jv_copy(key));
		else
			*model = jv_object_set(*model, jv_copy(key), jv_copy(fields));
	}
	jv_free(have);
	jv_free(key);
	jv_free(fields);
	jv_free(id0);
	jv_free(id1);
	jv_free(l);
}

/* The state's records are the model's. */
static void
check_state(const char *path, jv model)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int n = 0, rc;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		broken("state '%s' does not open read-only", path);
	if (sqlite3_prepare_v2(db, "SELECT entity, id, fields FROM records", -1, &s, NULL) !=
	    SQLITE_OK)
		broken("state: %s", sqlite3_errmsg(db));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		jv key = jv_string_fmt("%d", sqlite3_column_int(s, 0)), want, got;

		key = jv_string_append_buf(key, (const char *)sqlite3_column_text(s, 1),
		                           sqlite3_column_bytes(s, 1));
		want = jv_object_get(jv_copy(model), jv_copy(key));
		got = jv_parse_sized((const char *)sqlite3_column_text(s, 2),
		                     sqlite3_column_bytes(s, 2));
		if (!jv_is_valid(want))
			broken("the state has %s, the change sets never created it",
			       jv_string_value(key));
		if (!jv_equal(want, got))
			broken("the state's %s is not what the change sets say",
			       jv_string_value(key));
		jv_free(key);
		n++;
	}
	if (rc != SQLITE_DONE)
		broken("state: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (n != jv_object_length(jv_copy(model)))
		broken("the state has %d records, the change sets say %d", n,
		       jv_object_length(jv_copy(model)));
}

/* --- one run, as cl-load.c's sync_run --------------------------------------------- */

static void
run_init(struct load *L, const char *state, int dry, int allow, double max_delete)
{
	load_init(L);
	L->o.state = state;
	L->o.dry_run = dry;
	L->o.allow_deletes = allow;
	L->o.max_delete = max_delete;
}

static int
has_code(struct load *L, const char *code)
{
	int i, n = jv_array_length(jv_copy(L->st.errors)), found = 0;

	for (i = 0; i < n && !found; i++) {
		jv c = jv_object_get(jv_array_get(jv_copy(L->st.errors), i), jv_string("code"));

		found = jv_get_kind(c) == JV_KIND_STRING && !strcmp(jv_string_value(c), code);
		jv_free(c);
	}
	return found;
}

/*
 * One sync of data on the state at path; checks its change set and applies
 * it to the model when it was committed.
 */
static void
one_run(const char *path, const uint8_t *data, size_t size, int dry, int allow, double max_delete,
        jv *model, struct result *res)
{
	struct load L;
	struct order ord = { -1, -1, jv_null(), jv_null() };
	char *buf = NULL;
	size_t len = 0, at;
	FILE *out;
	int fd, rc, e, empty = jv_object_length(jv_copy(*model)) == 0;
	jv d, v;

	memset(res, 0, sizeof *res);
	run_init(&L, path, dry, allow, max_delete);
	out = open_memstream(&buf, &len);
	fd = fuzz_fd(data, size);
	if (!out || fd < 0)
		abort();
	quiet();
	if (load_state_open(&L, !dry, 1) < 0)
		broken("our own state does not open (%s)", load_status_name(&L));
	if (load_previous(&L) < 0 || load_exec(&L, "SAVEPOINT work") < 0)
		broken("load_previous() or SAVEPOINT failed");
	rc = load_failed(&L) ? -1 : load_index_open(&L);
	if (rc == 0)
		rc = load_ingest(&L, fd, "fuzz");
	if (rc == 0)
		rc = load_join(&L);
	if (rc == 0) {
		v = load_begin(&L);
		if (jv_get_kind(v) != JV_KIND_OBJECT)
			broken("the begin line is not an object");
		jv_free(v);
		rc = load_diff(&L, out);
	}
	if (rc == 0 && load_failed(&L))
		broken("the diff succeeded after a failure (%s)", load_status_name(&L));
	if (rc < 0) {
		if (!load_failed(&L))
			load_error(&L, "CL425", "the sync failed");
		if (L.state.bad || load_exec(&L, "ROLLBACK TO work") < 0)
			broken("ROLLBACK TO work failed after a failed sync");
		memset(L.tally.ent, 0, sizeof L.tally.ent);
	}
	cl_iso8601(cl_now(), L.sync.finished);
	d = load_details(&L, 1);
	v = jv_object_get(jv_copy(d), jv_string("status"));
	if (jv_get_kind(v) != JV_KIND_STRING ||
	    strcmp(jv_string_value(v), rc < 0 ? "failed" : load_status_name(&L)) != 0)
		broken("the end line's status is not the run's");
	jv_free(v);
	jv_free(d);
	if (!dry && load_record_sync(&L) < 0)
		broken("recording the sync failed");
	if (!dry && (load_exec(&L, "RELEASE work") < 0 || load_exec(&L, "COMMIT") < 0))
		broken("the commit failed");
	L.state.in_txn = dry;
	loud();
	if (fclose(out) != 0)
		abort();
	close(fd);
	res->rc = rc;
	res->committed = rc == 0 && !dry;

	/* the change set, line by line */
	for (at = 0; at < len;) {
		const char *nl = memchr(buf + at, '\n', len - at);

		if (!nl)
			broken("the change set does not end with a newline");
		check_line(buf + at, (size_t)(nl - (buf + at)), &ord, res, model, res->committed,
		           empty);
		at = (size_t)(nl - buf) + 1;
	}
	for (e = 0; e < LOAD_NENT && rc == 0; e++) {
		const struct load_counts *c = &L.tally.ent[e];
		const char *nm = load_model[e].plural;

		if (res->lines[e][0] != c->created || res->lines[e][1] != c->updated ||
		    res->lines[e][2] != c->deleted)
			broken("%s: %lld/%lld/%lld lines, counted %lld/%lld/%lld", nm,
			       res->lines[e][0], res->lines[e][1], res->lines[e][2], c->created,
			       c->updated, c->deleted);
		if (c->unchanged < 0 || c->withheld < 0 || c->deleted > c->old)
			broken("%s: counts out of range", nm);
		if (!c->managed && res->lines[e][0] + res->lines[e][1] + res->lines[e][2])
			broken("%s: changes of an entity not synced", nm);
		if ((!L.stream.complete || L.stream.delta || has_code(&L, "CL012")) &&
		    res->lines[e][2])
			broken("%s: deletions from an incomplete or delta stream, or one that lost "
			       "lines",
			       nm);
		if (c->guard && !c->withheld)
			broken("%s: the guard tripped, nothing withheld", nm);
		res->withheld += c->withheld;
	}
	if (rc == 0 && L.stream.delta && !has_code(&L, "CL411"))
		broken("a delta stream without CL411");
	if (rc == 0 && !L.stream.complete && !has_code(&L, "CL410"))
		broken("an incomplete stream without CL410");
	jv_free(ord.id0);
	jv_free(ord.id1);
	free(buf);
	load_release(&L);
	check_state(path, *model);
}

/* Removes the state's files and the folder; anything else in it is a broken invariant. */
static void
cleanup(const char *dir)
{
	static const char *const names[] = { "state.db", "state.db-wal", "state.db-shm",
		                             "state.db-journal" };
	char p[4200];
	size_t i;

	for (i = 0; i < sizeof names / sizeof *names; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	if (rmdir(dir) < 0) {
		DIR *d = opendir(dir);
		struct dirent *de;

		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				broken("cl-load left '%s' beside its state", de->d_name);
		broken("cannot remove '%s': %s", dir, strerror(errno));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const double max_delete[] = { 10, 0, 50, 100 };
	struct plan pl;
	struct result r1, r2, r3;
	const char *tmp = getenv("TMPDIR");
	char dir[4000], path[4200];
	uint8_t *a2 = NULL;
	size_t n2 = 0;
	jv model;

	if (size < 1)
		return 0;
	quiet_init();
	model = jv_object();
	memset(&pl, 0, sizeof pl);
	pl.runs = (data[0] & 3) == 0 ? 1 : (data[0] & 3) == 3 ? 3 : 2;
	pl.second_is_new = (data[0] & 3) == 1 || (data[0] & 3) == 3;
	pl.allow_deletes = (data[0] >> 2) & 1;
	pl.dry_second = (data[0] >> 3) & 1;
	pl.max_delete = max_delete[(data[0] >> 4) & 3];
	pl.seed = (uint32_t)(data[0] >> 6) * 2654435761u ^ (uint32_t)size;
	data++;
	size--;
	snprintf(dir, sizeof dir, "%s/fuzz_load.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof path, "%s/state.db", dir);

	one_run(path, data, size, 0, 0, 10, &model, &r1);
	if (pl.runs >= 2) {
		const uint8_t *in2 = data;

		if (pl.second_is_new) {
			a2 = malloc(size ? size : 1);
			if (!a2)
				abort();
			n2 = mutate(data, size, a2, pl.seed);
			in2 = a2;
		} else {
			n2 = size;
		}
		one_run(path, in2, n2, pl.dry_second, pl.allow_deletes, pl.max_delete, &model, &r2);
		if (!pl.second_is_new && r1.committed && r1.withheld == 0 && r2.rc == 0) {
			int e, k;

			for (e = 0; e < LOAD_NENT; e++)
				for (k = 0; k < 3; k++)
					if (r2.lines[e][k])
						broken("the same stream again: %lld %s %s",
						       r2.lines[e][k], load_model[e].name,
						       load_model[e].op[k]);
		}
		if (pl.runs == 3) {
			int e, k;

			one_run(path, in2, n2, 0, pl.allow_deletes, pl.max_delete, &model, &r3);
			if (r2.committed && r2.withheld == 0 && r3.rc == 0)
				for (e = 0; e < LOAD_NENT; e++)
					for (k = 0; k < 3; k++)
						if (r3.lines[e][k])
							broken("the same stream again: %lld %s %s",
							       r3.lines[e][k], load_model[e].name,
							       load_model[e].op[k]);
		}
	}
	free(a2);
	jv_free(model);
	cleanup(dir);
	return 0;
}
