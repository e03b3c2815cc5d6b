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
#include "stream.h"

/* The state's schema: PRAGMA application_id ("CLLD") and user_version. */
#define LOAD_APP_ID 0x434c4c44
#define LOAD_SCHEMA 1

/*
 * Entity types, in the order of the change set's first phase (the second
 * phase, deletions, runs in the reverse order). The numbers are stored in
 * the state: never renumber.
 */
enum load_ent { LOAD_USER, LOAD_CLASS, LOAD_MEMBER, LOAD_CONTACT, LOAD_REL, LOAD_NENT };

/*
 * index.c: user flags. Roles are stream.h's enum cl_role (CL_ROLE_NONE, 0,
 * for a user only referred to so far).
 */
enum { LOAD_U_STREAM = 1, LOAD_U_LINKED = 2, LOAD_U_CONTACT = 4, LOAD_U_STATE = 8 };

struct load_index;

/* What became of one entity type in this sync. */
struct load_counts {
	long long staged; /* records of this type the stream holds (after joins) */
	long long old;    /* records of this type in the state before this sync */
	long long created, updated, deleted, unchanged;
	long long withheld; /* deletions not made (incomplete stream, guard) */
	int managed;        /* 0: not synced this time (no parents in the stream) */
	int guard;          /* 1: the deletion guard tripped */
};

struct load_opts {
	const char *state;
	const char *report;
	const char *input; /* NULL or "-": stdin */
	int dry_run;
	int allow_deletes;
	double max_delete; /* percent */
	int mode;          /* LOAD_M_* */
	long history_n;
	long long show_id;
};

enum { LOAD_M_SYNC, LOAD_M_RESET, LOAD_M_LAST, LOAD_M_HISTORY, LOAD_M_SHOW };

/* One run. */
struct load {
	struct load_opts o;
	sqlite3 *db;
	struct load_index *ix;
	int db_absent; /* the state file does not exist (read-only modes) */
	int in_txn;
	int state_bad; /* a state error was reported: record nothing more */
	long long sync_id;
	char started[32], finished[32];
	jv prev; /* {"sync","finished","last_sync"} of the state before, or null */

	/* the stream */
	jv summary; /* the header's stages (tool, version, at) and source */
	int have_trailer, complete, delta, has_parents;
	int no_classes; /* a stage upstream ran with sync_classes false */
	jv upstream_codes;
	char fetched[32]; /* the first stage's "at": what --last-sync records */

	/* counts */
	struct load_counts c[LOAD_NENT];
	long long matched_students, matched_teachers, matched_other, unmatched;
	jv unmatched_by;    /* reason -> count */
	jv skipped;         /* what was read and not synced, by reason -> count */
	struct cl_stage st; /* errors (the trailer-style list), diagnostics */
};

/* Entity names and op names. Static strings. */
const char *load_ent_name(enum load_ent e);
const char *load_ent_plural(enum load_ent e);
/* which: 0 create, 1 update, 2 delete. */
const char *load_op_name(enum load_ent e, int which);

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

/* fields.c: canonical encoding of the fields a record reports, and its hash. */

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
/* The first 64 bits of the SHA-256 of p, as a signed number for SQLite. */
int64_t load_hash(const char *p, size_t n);
/*
 * Appends to out "name":{"old":V,"new":V},... for every field of e whose
 * value differs between the canonical objects oldf and newf; returns how
 * many. A field absent from one side shows as null.
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
/* Prepares sql; on failure reports and returns NULL. */
sqlite3_stmt *load_prepare(struct load *L, const char *sql);
/* The meta value for key, owned by the caller, or NULL. */
char *load_meta_get(struct load *L, const char *key);
int load_meta_set(struct load *L, const char *key, const char *value);

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
/* Records of e the stream did not visit. */
long long load_index_unseen(struct load *L, enum load_ent e);
/* Puts them in temp.st_del(entity, id). */
int load_index_stage_deletes(struct load *L, enum load_ent e);

/* ingest.c: one pass over the stream. */
int load_ingest(struct load *L, int fd, const char *name);

/* diff.c: the change set, written to out, and the new state. */
int load_diff(struct load *L, FILE *out);

/* report.c: the begin line, the Sync Details (end line, report, history). */
jv load_begin(struct load *L);
jv load_details(struct load *L, int with_kind);
const char *load_status_name(struct load *L);
int load_record_sync(struct load *L);
int load_write_report(struct load *L, const char *path);
int load_show_history(struct load *L, long n);
int load_show_sync(struct load *L, long long id);
void load_put_jv(FILE *out, jv v);

#endif
