/*
 * load.h: cl-load's parts (state.c, fields.c, ingest.c, diff.c, report.c).
 * Not shared outside load/.
 */
#ifndef LOAD_H
#define LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jv.h>
#include <sqlite3.h>

#include "buf.h"
#include "json.h"
#include "out.h"
#include "stream.h"

/* The state's schema: PRAGMA application_id ("CLLD") and user_version. */
#define LOAD_APP_ID 0x434c4c44
#define LOAD_SCHEMA 3

/*
 * Entity types, in the order of the change set's first phase (the second
 * phase, deletions, runs in the reverse order). The numbers are stored in
 * the state: never renumber.
 */
enum load_ent { LOAD_USER, LOAD_CLASS, LOAD_MEMBER, LOAD_CONTACT, LOAD_REL, LOAD_NENT };

/*
 * index.c: user flags. Roles are stream.h's enum cl_role (CL_ROLE_NONE, 0,
 * for a user only referred to so far). LOAD_U_KIN: a contact the join
 * found a relationship to a linked student for.
 */
enum {
	LOAD_U_STREAM = 1,
	LOAD_U_LINKED = 2,
	LOAD_U_CONTACT = 4,
	LOAD_U_STATE = 8,
	LOAD_U_KIN = 16
};

struct load_index;

/* What became of one entity type in this sync. */
struct load_counts {
	long long staged; /* records of this type the stream holds (after joins) */
	long long old;    /* records of this type in the state before this sync */
	long long created, updated, deleted, unchanged;
	long long withheld; /* deletions not made (incomplete stream, guard, their parent's),
	                       and held_up */
	long long held_up;  /* creates and updates withheld by the re-link guard */
	int managed;        /* 0: not synced this time (no parents in the stream) */
	int guard;          /* 1: the deletion guard tripped */
};

/* The command line. */
struct load_opts {
	const char *state;
	const char *report;
	const char *input;   /* NULL or "-": stdin */
	const char *rejects; /* --rejects: cl-filter's rejects file, or NULL */
	int dry_run;
	int allow_deletes;
	int allow_relinks;
	double max_delete; /* percent */
	int mode;          /* LOAD_M_* */
	int plan;          /* --plan: record the sync as pending, not applied */
	long history_n;
	long long show_id; /* --show-sync, --commit, --discard: the sync id */
	int check_args;    /* --check-args: check, and leave the state alone */
};

enum {
	LOAD_M_SYNC,
	LOAD_M_RESET,
	LOAD_M_LAST,
	LOAD_M_HISTORY,
	LOAD_M_SHOW,
	LOAD_M_COMMIT,
	LOAD_M_DISCARD
};

/* The state database. state.c opens, reports on and closes it; cl-load.c commits. */
struct load_state {
	sqlite3 *db;
	int absent; /* no state (file missing, or empty in a read-only mode): nothing recorded */
	int in_txn; /* a transaction is open (BEGIN IMMEDIATE): closing rolls it back */
	int fresh;  /* a new state, its first transaction not in WAL mode yet (state.c) */
	int bad;    /* a state error was reported (load_db_error): record nothing more */
};

/* This sync and the one before it. cl-load.c writes it (previous(), sync_run). */
struct load_sync {
	struct cl_out report; /* --report, opened before anything is read (lib/out.h) */
	long long id;         /* one more than the last recorded */
	char started[32], finished[32];
	jv prev; /* {"sync","finished","status","last_sync"} of the sync before, or null */
	long long generation; /* meta "generation": bumped by every commit and reset */
};

/* What the pass learned about the stream as a whole. ingest.c writes it; the rest read it. */
struct load_stream {
	jv summary;        /* the header's stages (tool, version, at) and source */
	int complete;      /* the trailer was read and says every stage upstream was complete */
	int delta;         /* the header says the stream holds only changes */
	int has_parents;   /* contacts and relationships are synced (load_ingest decides) */
	int parents_opt;   /* the header's sync_parents: 1 on, -1 off (any stage), 0 unsaid */
	int no_classes;    /* a stage upstream ran with sync_classes false */
	jv upstream_codes; /* the codes the upstream stages reported, each once */
	char fetched[32];  /* the first stage's "at": what --last-sync records */
	char as_of[11];    /* the last stage's "as_of" option (cl-filter's), or "" */
	jv rejects;        /* the trailer's cl-filter stages' "rejects" ({lines, sha256}), array */
};

/*
 * The Sync Details' counts. ingest.c counts the users and what it skipped;
 * index.c counts each entity's staged records and the joins' skips; diff.c
 * the rest of ent[] (old, created... withheld, managed, guard). report.c
 * reads it; a failed sync's run (cl-load.c) zeroes all but skipped.
 */
struct load_tally {
	struct load_counts ent[LOAD_NENT];
	long long matched_students, matched_teachers, matched_other, unmatched;
	long long role_differs; /* cl-match's trailer's matched_role_differs, when known */
	int role_differs_known;
	jv unmatched_by; /* reason -> count */
	jv skipped;      /* what was read and not synced, by reason -> count */
	jv deletions;    /* diff.c: explained, unexplained, withheld (the Sync Details') */
	jv incomplete;   /* schools.c: the incomplete schools (the Sync Details'), array */
};

/* One run: each part's comment says who writes it. */
struct load {
	struct load_opts o;      /* cl-load.c's parse_options; read-only after */
	struct load_state state; /* state.c */
	struct load_index *ix;   /* index.c: the previous state's index and the pass's references */
	struct load_sync sync;   /* cl-load.c */
	struct load_stream stream;    /* ingest.c */
	struct load_tally tally;      /* ingest.c, index.c, diff.c */
	struct load_schools *schools; /* schools.c: each school's users, classes, enrolments */
	struct cl_stage st; /* load_error (report.c): the errors, and so the exit status */
};

/*
 * Reports an error: one diagnostic line and an entry in the report's errors
 * (cl_stage_fail on L->st). The exit status is the catalog's for the codes
 * reported (lib/errors/load.def): the first failure's, a failure (over 1)
 * outranking a partial (1) reported before it.
 */
void load_error(struct load *L, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Reports a SQLite error as the right CL42x code; what names the step. */
void load_db_error(struct load *L, const char *what);
/* The exit status so far: cl_stage_status of the codes reported. */
int load_status(const struct load *L);
/* 1 when a failure (a code whose status is over 1) was reported: nothing is applied. */
int load_failed(const struct load *L);

/*
 * fields.c: the entity model, described once (load_model): each entity's
 * names, ops, id, and its canonical fields in order with where each comes
 * from. The builders, the diff and the state's fields hash are driven by it.
 */

/* Where a field's value comes from. */
enum load_src {
	LOAD_SRC_STR,  /* the stream line's string at path, decoded ("" when absent or not one) */
	LOAD_SRC_LIST, /* the strings at a "[]" path: decoded, sorted, unique, empty ones dropped */
	LOAD_SRC_SM_ID,     /* the School Manager id: the user's match.id (users); the linked user's
	                       (memberships) or the linked student's (relationships) */
	LOAD_SRC_ROLE,      /* memberships: "teacher" when one of the (class, user) enrolments is */
	LOAD_SRC_USER_ROLE, /* users, contacts: the role string every stage reads
	                       (cl_reader_role_name: 1.1's role, or 1.2's primary role) */
};

struct load_field {
	const char *name; /* its key in the canonical object, the change set and the state */
	enum load_src src;
	const char *path; /* STR and LIST: the path in the stream line (json.h syntax); else NULL */
	const char *alt;  /* LIST: a second path whose strings join path's (where OneRoster 1.2
	                     keeps them), or NULL */
};

#define LOAD_FIELDS_MAX 16 /* the most fields an entity has */

struct load_entity {
	const char *name, *plural; /* "membership", "memberships" */
	const char *op[3];         /* create, update, delete: "add", "update", "remove" */
	const char *id_part[2];    /* a composite id's two parts ("class", "user"), or NULL: "id" */
	const struct load_field *field;
	size_t nfield;
};

/* The model, indexed by enum load_ent. */
extern const struct load_entity load_model[LOAD_NENT];

/* What load_build fills a record's fields from. Everything borrowed. */
struct load_vals {
	const struct cl_json_result *r; /* STR, LIST: the stream line's spans */
	const size_t *idx;              /* STR, LIST: per field of the entity, r's path index */
	const char *sm_id;              /* SM_ID */
	size_t sm_n;
	const char *role;                     /* ROLE */
	const size_t *alt_idx;                /* LIST: per field, r's index of its alt path */
	const struct cl_json_span *user_role; /* USER_ROLE: the span, or NULL ("") */
};

/* Writes into f (reset first) the canonical object of an e record from v. */
void load_build(struct cl_buf *f, enum load_ent e, const struct load_vals *v, struct cl_buf *tmp);
/*
 * The hash of the field list: every entity's name and its fields' names, in
 * order. The state records it (state.c); another value at open is a
 * migration.
 */
int64_t load_fields_hash(void);
/*
 * Re-encodes a stored canonical object f of e under the model's field list
 * into out (reset first): a field the model has keeps its stored value
 * (byte for byte), one the object lacks is null (not known), one the model
 * no longer has is dropped. Returns 0, or -1 when f is not a JSON object.
 */
int load_reproject(struct cl_buf *out, enum load_ent e, const char *f, size_t n);

/* The primitives load_build writes with (and unit_fields tests). */

/* Starts the canonical object: b is reset to "{". */
void load_obj_begin(struct cl_buf *b);
/* Ends it with "}". */
void load_obj_end(struct cl_buf *b);
/* Adds "name": the decoded string s re-encoded (not a string or absent: ""). */
void load_put_str(struct cl_buf *b, const char *name, const struct cl_json_span *s,
                  struct cl_buf *tmp);
/* Adds "name": the plain string v (n bytes). */
void load_put_raw_str(struct cl_buf *b, const char *name, const char *v, size_t n);
/*
 * Adds "name": [strings], the path's string spans in r decoded, sorted in
 * byte order, duplicates and empty strings dropped.
 */
void load_put_list(struct cl_buf *b, const char *name, const struct cl_json_result *r, size_t path,
                   struct cl_buf *tmp);
/* No second path (load_put_lists' alt). */
#define LOAD_NO_PATH ((size_t)-1)
/* The same over the spans of two paths together (alt LOAD_NO_PATH: path's only). */
void load_put_lists(struct cl_buf *b, const char *name, const struct cl_json_result *r, size_t path,
                    size_t alt, struct cl_buf *tmp);
/* The first 64 bits of the SHA-256 of p, as a signed number for SQLite. */
int64_t load_hash(const char *p, size_t n);
/*
 * Appends to out "name":{"old":V,"new":V},... for every field of e whose
 * value differs between the canonical objects oldf and newf; returns how
 * many, or -1 when one is not a JSON object. A field absent from one side
 * shows as null; a field whose old value is null (added by a migration, not
 * known) is not a change.
 */
int load_changed(struct cl_buf *out, enum load_ent e, const char *oldf, size_t on, const char *newf,
                 size_t nn);
/* Frees the queries load_changed compiled. */
void load_fields_release(void);

/* state.c: the SQLite state. */

/*
 * Opens the state: checks it is ours (CL421/CL422/CL423), creates it on
 * first use (0600) when create is set, takes the write lock when lock is
 * set (CL424: another cl-load holds it), migrates the schema. Returns 0, or
 * -1 with the error reported.
 */
int load_state_open(struct load *L, int create, int lock);
void load_state_close(struct load *L);
int load_exec(struct load *L, const char *sql);
/*
 * Ends a statement's loop: finalizes s, and when the last step's rc is not
 * SQLITE_DONE reports it (load_db_error, what names the step) and returns
 * -1; else 0.
 */
int load_done(struct load *L, sqlite3_stmt *s, int rc, const char *what);
/* Prepares sql; on failure reports and returns NULL. */
sqlite3_stmt *load_prepare(struct load *L, const char *sql);
/* The meta value for key, owned by the caller, or NULL. */
char *load_meta_get(struct load *L, const char *key);
int load_meta_set(struct load *L, const char *key, const char *value);
/* The meta value for key as a whole number (absent or not one: 0). */
long long load_meta_int(struct load *L, const char *key);

/*
 * pending.c: plan, apply, commit. A planned sync (--plan) keeps in the
 * state what a commit would write; --commit ID writes it, --discard ID
 * forgets it (what it touched is then "unsure": re-sent by the next sync).
 */

/* Records this sync (L->sync.id) as pending: its row and its base generation. */
int load_record_pending(struct load *L);
/*
 * After a sync's records were written to main.records (one step) or a
 * pending sync was committed (sync is its id, 0 for one step): what earlier
 * uncommitted change sets touched and this one did not re-send stays
 * unsure, the pending syncs are dropped, the generation is bumped, and a
 * whole stream (complete, not a delta) ends a reset's re-send.
 */
int load_settle(struct load *L, long long sync, int whole);
/* --commit ID and --discard ID, in the state's write transaction. */
int load_commit_pending(struct load *L, long long id);
int load_discard_pending(struct load *L, long long id);

/* index.c: the previous state's index and the pass's references. */

/* Loads the state's (entity, id) -> hash index; creates temp.st_rec. */
int load_index_open(struct load *L);
void load_index_free(struct load *L);
/* Records of e in the state before this sync. */
long long load_index_old(struct load *L, enum load_ent e);
/*
 * A record of the stream: its fields f (canonical) are hashed and looked up;
 * staged only when new or changed. Counts it in L->c[e].staged.
 */
int load_index_record(struct load *L, enum load_ent e, const char *id, size_t n, const char *f,
                      size_t fn);
/* A class of the stream; returns 1 when it was already seen (a duplicate). */
int load_index_class(struct load *L, const char *id, size_t n);
/*
 * A user (flag LOAD_U_STREAM) or a parent (LOAD_U_CONTACT) of the stream, with
 * its role and School Manager id (sm NULL or smn 0: unmatched); returns 1
 * when it was already seen.
 */
int load_index_user(struct load *L, const char *id, size_t n, int flag, int role, const char *sm,
                    size_t smn);
void load_index_enrol(struct load *L, const char *cls, size_t cn, const char *usr, size_t un,
                      int role);
void load_index_agent(struct load *L, const char *parent, size_t pn, const char *student,
                      size_t sn);
/*
 * After the pass: memberships and relationships from the kept pairs, the
 * pending deletions counted, the staged records indexed.
 */
int load_join(struct load *L);
/*
 * Records of e the stream did not visit, and records an uncommitted change
 * set created that neither the state nor the stream has.
 */
long long load_index_unseen(struct load *L, enum load_ent e);
/* The number of class id in the index (-1: none), for per-class arrays elsewhere. */
long load_index_class_at(struct load *L, const char *id, size_t n);
/* The stream's enrolments (of a student or teacher, with both ids) in class number i. */
long long load_index_enrolments(struct load *L, size_t i);
/*
 * Puts them in temp.st_del(entity, id). why: NULL, or the reason the roster
 * gives for the deletion (explained: not counted by the guard); held: NULL,
 * or the code that withholds it. diff.c fills both; after the decision only
 * the deletions written are left in it (pending.c's settle reads it).
 */
#define LOAD_ST_DEL                                                                            \
	"CREATE TEMP TABLE IF NOT EXISTS st_del(entity INTEGER, id TEXT, why TEXT, held TEXT," \
	" PRIMARY KEY (entity, id)) WITHOUT ROWID"
int load_index_stage_deletes(struct load *L, enum load_ent e);

/*
 * 1 when the state holds e's id (n bytes) and the stream did not: a
 * deletion this sync would make (after load_join).
 */
int load_index_pending(struct load *L, enum load_ent e, const char *id, size_t n);

/*
 * rejects.c: --rejects FILE, read after the pass when the stream is whole:
 * the deletions cl-filter's rejects explain, into temp.st_rej(entity, id,
 * why). Returns 0, or -1 with CL446, CL447 or CL448 reported.
 */
#define LOAD_ST_REJ                                                                 \
	"CREATE TEMP TABLE IF NOT EXISTS st_rej(entity INTEGER, id TEXT, why TEXT," \
	" PRIMARY KEY (entity, id)) WITHOUT ROWID"
int load_rejects(struct load *L);

/* ingest.c: one pass over the stream. */
int load_ingest(struct load *L, int fd, const char *name);

/* diff.c: the change set, written to out, and the new state. */
int load_diff(struct load *L, FILE *out);

/* report.c: the begin line, the Sync Details (end line, report, history). */
jv load_begin(struct load *L);
jv load_details(struct load *L, int with_kind);
const char *load_status_name(struct load *L);
int load_record_sync(struct load *L);
/*
 * Writes the Sync Details into the --report output opened by sync_run and
 * renames it into place (lib/out.h). Returns 0, or -1 after CL430.
 */
int load_write_report(struct load *L);
int load_show_history(struct load *L, long n);
int load_show_sync(struct load *L, long long id);
void load_put_jv(FILE *out, jv v);

/* run.c: a run's struct load, empty (started now), and everything it holds freed. */
void load_init(struct load *L);
void load_release(struct load *L);

/*
 * pending.c: the sync id (one more than the last recorded or pending), the
 * previous sync (the last recorded) and the generation of the state, read
 * before a sync. Returns 0, or -1 with the error reported.
 */
int load_previous(struct load *L);

/*
 * schools.c: per-school completeness. The pass counts each school's users
 * and classes (org, class, user), the index each class's enrolments
 * (load_index_enrolments); load_schools_judge, on
 * a whole stream, lists the incomplete ones in temp.st_incomplete (whose
 * class and membership deletions diff.c withholds, CL449) and the Sync
 * Details, and returns how many (or -1).
 */
struct load_schools;
void load_schools_org(struct load *L, const char *id, size_t n, const char *name, size_t nn);
void load_schools_class(struct load *L, const char *cls, size_t n, const char *school, size_t sn);
void load_schools_user(struct load *L, const char *school, size_t n);
int load_schools_judge(struct load *L);
void load_schools_free(struct load *L);

#endif
