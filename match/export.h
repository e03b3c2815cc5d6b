/*
 * export.h: the School Manager user export (CSV) as an index from
 * normalised email to account: the only thing cl-match holds in memory
 * besides the roster's email counts.
 */
#ifndef MATCH_EXPORT_H
#define MATCH_EXPORT_H

#include <stddef.h>

#include "email.h"

/* The longest field the CSV reader accepts (its buffer is capped at this). */
#define MATCH_CSV_FIELD_MAX ((size_t)1 << 20)
/* The most columns a header may have. */
#define MATCH_CSV_COLUMNS_MAX 4096

/* The most match keys (--match-keys). */
#define MATCH_KEYS_MAX 8

/* What a match key reads on the roster side. */
enum match_key_kind {
	MATCH_KEY_EMAIL,
	MATCH_KEY_USERNAME,
	MATCH_KEY_IDENTIFIER,
	MATCH_KEY_USERIDS
};

/* One match key: its kind, its name as given ("userIds:FED"), its column. */
struct match_key {
	enum match_key_kind kind;
	const char *name;   /* borrowed */
	const char *type;   /* MATCH_KEY_USERIDS: the userIds type after the colon; borrowed */
	const char *column; /* the export column named for it (--key-column), or NULL */
};

/*
 * Column names given on the command line (NULL: find by the usual
 * spellings), and the match keys in order (keys[0] first; nkeys >= 1).
 */
struct match_columns {
	const char *email, *id, *role;
	const struct match_key *keys;
	size_t nkeys;
};

/* An export account's role, when the export has a role column. */
enum match_xrole { MATCH_XROLE_UNKNOWN, MATCH_XROLE_STUDENT, MATCH_XROLE_STAFF };

struct match_export_stats {
	unsigned long long rows;     /* data rows (blank lines are not rows) */
	unsigned long long no_email; /* rows whose email is empty or masked (not indexed by it) */
	unsigned long long no_id;    /* rows with an email but an empty id: not indexed */
	unsigned long long dup_rows; /* rows whose email another row has too */
	unsigned long long matched;  /* rows claimed by a roster user */
};

struct match_export;

/*
 * Reads the export at path ("-" is standard input) into a new index,
 * normalising emails with aliases (borrowed for the index's lifetime).
 * Returns 0 with *out set, or an exit status (the diagnostic printed, with
 * the code CL301-CL304) and *out NULL. The column names found go in
 * *email_col etc. when not NULL (borrowed from the index).
 */
int match_export_load(struct match_export **out, const char *path, const struct match_columns *cols,
                      const struct cl_aliases *aliases);
void match_export_free(struct match_export *x);

/* The headers it chose, as they are written in the file. Borrowed. */
const char *match_export_column(const struct match_export *x, char which); /* 'e', 'i', 'r' */
/* The header of match key k's column, as written in the file. Borrowed. */
const char *match_export_key_column(const struct match_export *x, size_t k);

/*
 * Normalises a value of match key kind (n bytes at s) into out, as both
 * sides are normalised: an email through cl_email_norm (its class
 * returned); any other key trimmed, NFC, ASCII letters folded and a domain
 * aliased as cl_email_norm does, CL_EMAIL_NONE when empty, else
 * CL_EMAIL_OK (a username need not be an address).
 */
enum cl_email_class match_key_norm(enum match_key_kind kind, const struct cl_aliases *a,
                                   const char *s, size_t n, struct cl_buf *out);

enum match_find {
	MATCH_FIND_NONE,       /* no row has it */
	MATCH_FIND_ROSTER_DUP, /* rows may have it, but two or more roster users do
	                       (match_export_count_user) */
	MATCH_FIND_DUP,        /* two or more rows have it */
	MATCH_FIND_ONE,        /* one row has it, and at most one roster user */
};

/*
 * Looks up a normalised value of match key k, in that order of precedence;
 * no side effect. MATCH_FIND_ONE sets *row, the row's handle for the calls
 * below.
 */
enum match_find match_export_find(struct match_export *x, size_t k, const char *key, size_t n,
                                  size_t *row);
/*
 * Marks the row matched; *id, *email (as written in the export, trimmed;
 * borrowed until the next call) and *role describe it. key is the
 * normalised value the row was found by (its email's, under one key).
 */
void match_export_take(struct match_export *x, size_t row, const char *key, size_t n,
                       const char **id, const char **email, enum match_xrole *role);
/*
 * Counts one more roster user that would take the row (saturating at two)
 * and returns the count: two users that reach one account by different
 * keys make it ambiguous.
 */
int match_export_note_claim(struct match_export *x, size_t row);
int match_export_claims(const struct match_export *x, size_t row);

/* match_export_find and match_export_take on key 0 (an email key) together. */
enum match_find match_export_claim(struct match_export *x, const char *key, size_t n,
                                   const char **id, const char **email, enum match_xrole *role);

/*
 * Counts a roster user with the normalised value key of match key k in its
 * index: returns 1 when the export has the value (counted there, saturating
 * at two), 0 when it has not (the caller counts it elsewhere). Roster
 * counts thus cost no memory for the values the export has.
 */
int match_export_count_user(struct match_export *x, size_t k, const char *key, size_t n);

const struct match_export_stats *match_export_stats(const struct match_export *x);
/* Bytes the index holds, for the trailer. */
size_t match_export_bytes(const struct match_export *x);

/*
 * How a header names a column, for comparing with the spellings: ASCII
 * letters folded, and spaces, '_', '-' and '.' dropped ("E-mail Address"
 * becomes "emailaddress"). Appends to out (emptied first).
 */
void match_header_squash(const char *s, size_t n, struct cl_buf *out);

#endif
