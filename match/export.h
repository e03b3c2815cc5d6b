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

/* Column names given on the command line (NULL: find by the usual spellings). */
struct match_columns {
	const char *email, *id, *role;
};

/* An export account's role, when the export has a role column. */
enum match_xrole { MATCH_XROLE_UNKNOWN, MATCH_XROLE_STUDENT, MATCH_XROLE_STAFF };

struct match_export_stats {
	unsigned long long rows;     /* data rows (blank lines are not rows) */
	unsigned long long no_email; /* rows whose email is empty or masked: not indexed */
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

enum match_find {
	MATCH_FIND_NONE,       /* no row has it */
	MATCH_FIND_ROSTER_DUP, /* rows may have it, but two or more roster users do
	                       (match_export_count_user) */
	MATCH_FIND_DUP,        /* two or more rows have it */
	MATCH_FIND_ONE,        /* one row has it, and at most one roster user */
};

/*
 * Looks up a normalised email, in that order of precedence. MATCH_FIND_ONE:
 * the row is marked matched and *id, *email (as written in the export,
 * trimmed; borrowed until the next call) and *role describe it.
 */
enum match_find match_export_claim(struct match_export *x, const char *key, size_t n,
                                   const char **id, const char **email, enum match_xrole *role);

/*
 * Counts a roster user with the normalised email key in the index: returns 1
 * when the export has the address (counted there, saturating at two), 0 when
 * it has not (the caller counts it elsewhere). Roster counts thus cost no
 * memory for the addresses the export has.
 */
int match_export_count_user(struct match_export *x, const char *key, size_t n);

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
