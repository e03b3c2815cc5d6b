/*
 * load.h: cl-load's parts (state.c, fields.c, ingest.c, diff.c, report.c).
 * Not shared outside load/.
 */
#ifndef LD_LOAD_H
#define LD_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jv.h>
#include <sqlite3.h>

#include "buf.h"
#include "json.h"
#include "stream.h"

/* The state's schema: PRAGMA application_id ("CLLD") and user_version. */
#define LD_APP_ID 0x434c4c44
#define LD_SCHEMA 1

/*
 * Entity types, in the order of the change set's first phase (the second
 * phase, deletions, runs in the reverse order). The numbers are stored in
 * the state: never renumber.
 */
enum ld_ent { LD_USER, LD_CLASS, LD_MEMBER, LD_CONTACT, LD_REL, LD_NENT };

/* index.c: user roles and flags. */
enum { LD_R_STUDENT = 1, LD_R_TEACHER = 2, LD_R_OTHER = 3 };
enum { LD_U_STREAM = 1, LD_U_LINKED = 2, LD_U_CONTACT = 4, LD_U_STATE = 8 };

struct ld_index;

/* What became of one entity type in this sync. */
struct ld_counts {
	long long staged; /* records of this type the stream holds (after joins) */
	long long old;    /* records of this type in the state before this sync */
	long long created, updated, deleted, unchanged;
	long long withheld; /* deletions not made (incomplete stream, guard) */
	int managed;        /* 0: not synced this time (no parents in the stream) */
	int guard;          /* 1: the deletion guard tripped */
};

struct ld_opts {
	const char *state;
	const char *report;
	const char *input; /* NULL or "-": stdin */
	int dry_run;
	int allow_deletes;
	double max_delete; /* percent */
	int mode;          /* LD_M_* */
	long history_n;
	long long show_id;
};

enum { LD_M_SYNC, LD_M_RESET, LD_M_LAST, LD_M_HISTORY, LD_M_SHOW };

/* One run. */
struct ld {
	struct ld_opts o;
	sqlite3 *db;
	struct ld_index *ix;
	int db_absent; /* the state file does not exist (read-only modes) */
	int in_txn;
	int state_bad;  /* a state error was reported: record nothing more */
	long long sync_id;
	char started[32], finished[32];
	jv prev; /* {"sync","finished","last_sync"} of the state before, or null */

	/* the stream */
	jv summary; /* the header's stages (tool, version, at) and source */
	int have_trailer, complete, delta, has_parents;
	int no_classes; /* a stage upstream ran with sync_classes false */
	int failed;     /* the stream could not be read: nothing applied */
	jv upstream_codes;
	char fetched[32]; /* the first stage's "at": what --last-sync records */

	/* counts */
	struct ld_counts c[LD_NENT];
	long long matched_students, matched_teachers, matched_other, unmatched;
	jv unmatched_by;    /* reason -> count */
	jv skipped;         /* what was read and not synced, by reason -> count */
	struct cl_stage st; /* errors (the trailer-style list), diagnostics */
	int status;         /* exit status so far */
};

/* Entity names and op names. Static strings. */
const char *ld_ent_name(enum ld_ent e);
const char *ld_ent_plural(enum ld_ent e);
/* which: 0 create, 1 update, 2 delete. */
const char *ld_op_name(enum ld_ent e, int which);

/*
 * Reports an error: one diagnostic line, an entry in the report's errors,
 * and the exit status raised to the code's (a failure status wins over 1).
 */
void ld_error(struct ld *L, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Reports a SQLite error as the right CL42x code; what names the step. */
void ld_db_error(struct ld *L, const char *what);

/* fields.c: canonical encoding of the fields a record reports, and its hash. */

/* Starts the canonical object: b is reset to "{". */
void ld_obj_begin(struct cl_buf *b);
/* Ends it with "}". */
void ld_obj_end(struct cl_buf *b);
/* Adds "name": the decoded string s re-encoded (not a string or absent: ""). */
void ld_put_str(struct cl_buf *b, const char *name, const struct cl_json_span *s,
                struct cl_buf *tmp);
/* Adds "name": the plain string v (n bytes). */
void ld_put_raw_str(struct cl_buf *b, const char *name, const char *v, size_t n);
/*
 * Adds "name": [strings], the path's string spans in r decoded, sorted in
 * byte order, duplicates and empty strings dropped.
 */
void ld_put_list(struct cl_buf *b, const char *name, const struct cl_json_result *r, size_t path,
                 struct cl_buf *tmp);
/* The first 64 bits of the SHA-256 of p, as a signed number for SQLite. */
int64_t ld_hash(const char *p, size_t n);
/*
 * Appends to out "name":{"old":V,"new":V},... for every field of e whose
 * value differs between the canonical objects oldf and newf; returns how
 * many. A field absent from one side shows as null.
 */
int ld_changed(struct cl_buf *out, enum ld_ent e, const char *oldf, size_t on, const char *newf,
               size_t nn);
/* Frees the queries ld_changed compiled. */
void ld_fields_release(void);

/* state.c: the SQLite state. */

/*
 * Opens the state: checks it is ours (CL421/CL422/CL423), creates it on
 * first use (0600) when create is set, takes the write lock when lock is
 * set (CL424: another cl-load holds it), migrates the schema. Returns 0, or
 * -1 with the error reported.
 */
int ld_state_open(struct ld *L, int create, int lock);
void ld_state_close(struct ld *L);
int ld_exec(struct ld *L, const char *sql);
/* Prepares sql; on failure reports and returns NULL. */
sqlite3_stmt *ld_prepare(struct ld *L, const char *sql);
/* The meta value for key, owned by the caller, or NULL. */
char *ld_meta_get(struct ld *L, const char *key);
int ld_meta_set(struct ld *L, const char *key, const char *value);

/* index.c: the previous state's index and the pass's references. */

/* Loads the state's (entity, id) -> hash index; creates temp.st_rec. */
int ld_index_open(struct ld *L);
void ld_index_free(struct ld *L);
/* Records of e in the state before this sync. */
long long ld_index_old(struct ld *L, enum ld_ent e);
/*
 * A record of the stream: its fields f (canonical) are hashed and looked up;
 * staged only when new or changed. Counts it in L->c[e].staged.
 */
int ld_index_record(struct ld *L, enum ld_ent e, const char *id, size_t n, const char *f,
                    size_t fn);
/* A class of the stream; returns 1 when it was already seen (a duplicate). */
int ld_index_class(struct ld *L, const char *id, size_t n);
/*
 * A user (flag LD_U_STREAM) or a parent (LD_U_CONTACT) of the stream, with
 * its role and School Manager id (sm NULL or smn 0: unmatched); returns 1
 * when it was already seen.
 */
int ld_index_user(struct ld *L, const char *id, size_t n, int flag, int role, const char *sm,
                  size_t smn);
void ld_index_enrol(struct ld *L, const char *cls, size_t cn, const char *usr, size_t un, int role);
void ld_index_agent(struct ld *L, const char *parent, size_t pn, const char *student, size_t sn);
/*
 * After the pass: memberships and relationships from the kept pairs, the
 * pending deletions counted, the staged records indexed.
 */
int ld_join(struct ld *L);
/* Records of e the stream did not visit. */
long long ld_index_unseen(struct ld *L, enum ld_ent e);
/* Puts them in temp.st_del(entity, id). */
int ld_index_stage_deletes(struct ld *L, enum ld_ent e);

/* ingest.c: one pass over the stream. */
int ld_ingest(struct ld *L, int fd, const char *name);

/* diff.c: the change set, written to out, and the new state. */
int ld_diff(struct ld *L, FILE *out);

/* report.c: the begin line, the Sync Details (end line, report, history). */
jv ld_begin(struct ld *L);
jv ld_details(struct ld *L, int with_kind);
const char *ld_status_name(struct ld *L);
int ld_record_sync(struct ld *L);
int ld_write_report(struct ld *L, const char *path);
int ld_show_history(struct ld *L, long n);
int ld_show_sync(struct ld *L, long long id);
void ld_put_jv(FILE *out, jv v);

#endif
