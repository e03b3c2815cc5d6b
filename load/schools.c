/*
 * schools.c: per-school completeness (docs/changeset.md, "Incomplete
 * schools"). Some districts' sources hold a school's users but, some
 * nights, none of its classes or none of its enrolments (the SIS export
 * for that school failed, or the school's data was never shared): its
 * classes and memberships would all be deleted, and for a school of a few
 * hundred users among thousands the district-wide guard lets that through.
 *
 * The pass counts, for every org of type school in the stream, its users
 * (by their orgs), its classes (by their school) and its enrolments (by
 * their class's school). A school is incomplete when it has users but no
 * classes while the last sync had classes of it, or classes but no
 * enrolments while the last sync had memberships of them. Its class and
 * membership deletions are withheld (CL449), and the Sync Details name it
 * with what to do: if the source really has nothing of it now, exclude it.
 * A school the source never had classes for (a district office) is not
 * incomplete: nothing of it is lost.
 */
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "load.h"

struct school {
	char *id, *name;
	long long users, classes, enrolments;
};

struct load_schools {
	struct cl_idmap *by_id; /* school sourcedId -> its index + 1 */
	uint32_t *by_class;     /* the index's class number -> its school's index + 1 */
	size_t nclass;
	struct school *s;
	size_t n, cap;
};

static struct load_schools *
schools(struct load *L)
{
	if (!L->schools) {
		L->schools = cl_xcalloc(1, sizeof *L->schools);
		L->schools->by_id = cl_idmap_new();
	}
	return L->schools;
}

static struct school *
find(struct load *L, const char *id, size_t n)
{
	struct load_schools *S = L->schools;
	uint64_t *v;

	if (!S || !(v = cl_idmap_get(S->by_id, id, n)) || *v == 0)
		return NULL;
	return &S->s[*v - 1];
}

void
load_schools_org(struct load *L, const char *id, size_t n, const char *name, size_t nn)
{
	struct load_schools *S = schools(L);
	int added = 0;
	uint64_t *v = cl_idmap_put(S->by_id, id, n, &added);

	if (!added)
		return; /* a duplicate org: the first one counts */
	if (S->n == S->cap) {
		S->cap = S->cap ? 2 * S->cap : 16;
		S->s = cl_xreallocarray(S->s, S->cap, sizeof *S->s);
	}
	memset(&S->s[S->n], 0, sizeof S->s[S->n]);
	S->s[S->n].id = cl_xmemdup(id, n);
	S->s[S->n].name = cl_xmemdup(name, nn);
	*v = ++S->n;
}

void
load_schools_class(struct load *L, const char *cls, size_t n, const char *school, size_t sn)
{
	struct school *s = find(L, school, sn);
	struct load_schools *S = L->schools;
	long c = load_index_class_at(L, cls, n);

	if (!s || c < 0)
		return;
	s->classes++;
	if ((size_t)c >= S->nclass) {
		size_t m = S->nclass ? S->nclass : 1024;

		while (m <= (size_t)c)
			m *= 2;
		S->by_class = cl_xreallocarray(S->by_class, m, sizeof *S->by_class);
		memset(S->by_class + S->nclass, 0, (m - S->nclass) * sizeof *S->by_class);
		S->nclass = m;
	}
	S->by_class[c] = (uint32_t)(s - S->s) + 1;
}

void
load_schools_user(struct load *L, const char *school, size_t n)
{
	struct school *s = find(L, school, n);

	if (s)
		s->users++;
}

static long long
state_count(struct load *L, const char *sql, const char *id)
{
	sqlite3_stmt *q = load_prepare(L, sql);
	long long n = -1;
	int rc;

	if (!q)
		return -1;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW)
		load_db_error(L, "counting a school's records");
	return n;
}

/*
 * After the pass, on a whole stream: finds the incomplete schools, lists
 * them in temp.st_incomplete (what diff.c withholds by) and in the Sync
 * Details, and reports each (CL449). Returns how many, or -1.
 */
int
load_schools_judge(struct load *L)
{
	struct load_schools *S = L->schools;
	size_t i;
	int found = 0;

	if (load_exec(L, "CREATE TEMP TABLE IF NOT EXISTS st_incomplete(id TEXT PRIMARY KEY)"
	                 " WITHOUT ROWID") < 0)
		return -1;
	/* each class's enrolments, counted by the index (not a lookup an enrolment) */
	for (i = 0; S && i < S->nclass; i++)
		if (S->by_class[i])
			S->s[S->by_class[i] - 1].enrolments += load_index_enrolments(L, i);
	for (i = 0; S && i < S->n; i++) {
		struct school *s = &S->s[i];
		long long had = 0;
		const char *what;
		jv o;

		if (s->users == 0 || (s->classes > 0 && s->enrolments > 0))
			continue;
		if (s->classes == 0) {
			had = state_count(L,
			                  "SELECT count(*) FROM main.records WHERE entity = 1"
			                  " AND json_extract(fields, '$.school') = ?1",
			                  s->id);
			what = "classes";
		} else {
			had = state_count(L,
			                  "SELECT count(*) FROM main.records m JOIN main.records c"
			                  " ON c.entity = 1 AND c.id = substr(m.id, 1, instr(m.id,"
			                  " char(31)) - 1) WHERE m.entity = 2"
			                  " AND json_extract(c.fields, '$.school') = ?1",
			                  s->id);
			what = "enrolments";
		}
		if (had < 0)
			return -1;
		if (had == 0)
			continue; /* never had any: nothing of it is lost */
		{
			sqlite3_stmt *q = load_prepare(L, "INSERT OR IGNORE INTO temp.st_incomplete"
			                                  " VALUES (?1)");
			int rc;

			if (!q)
				return -1;
			sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
			rc = sqlite3_step(q);
			sqlite3_finalize(q);
			if (rc != SQLITE_DONE) {
				load_db_error(L, "staging");
				return -1;
			}
		}
		load_error(
		        L, "CL449",
		        "school '%s' (%s) is incomplete: %lld users in the stream but no %s "
		        "(the last sync had %lld %s): its class and membership deletions are "
		        "withheld; if the source really holds none for it now, exclude the school",
		        s->name, s->id, s->users, what, had,
		        s->classes == 0 ? "classes" : "memberships");
		o = jv_object();
		o = jv_object_set(o, jv_string("sourcedId"), jv_string(s->id));
		o = jv_object_set(o, jv_string("name"), jv_string(s->name));
		o = jv_object_set(o, jv_string("users"), jv_number((double)s->users));
		o = jv_object_set(o, jv_string("classes"), jv_number((double)s->classes));
		o = jv_object_set(o, jv_string("enrolments"), jv_number((double)s->enrolments));
		o = jv_object_set(o, jv_string("missing"), jv_string(what));
		o = jv_object_set(o, jv_string("last_sync"), jv_number((double)had));
		L->tally.incomplete = jv_array_append(L->tally.incomplete, o);
		found++;
	}
	return found;
}

void
load_schools_free(struct load *L)
{
	struct load_schools *S = L->schools;
	size_t i;

	if (!S)
		return;
	for (i = 0; i < S->n; i++) {
		free(S->s[i].id);
		free(S->s[i].name);
	}
	free(S->s);
	cl_idmap_free(S->by_id);
	free(S->by_class);
	free(S);
	L->schools = NULL;
}
