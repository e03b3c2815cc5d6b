/*
 * filter.h: cl-filter's private interfaces (not shared with other programs).
 *
 *   date.c      OneRoster dates: the --as-of date, a record's date, "current"
 *   exclude.c   the --exclude-school IDs and the --exclude-schools-file list
 *   rules.c     the sync rules: one decision per line, the ID sets, the counts
 */
#ifndef CL_FILTER_H
#define CL_FILTER_H

#include <stddef.h>
#include <stdio.h>

#include <jv.h>

#include "buf.h"
#include "idmap.h"
#include "json.h"
#include "stream.h"

/* date.c */

/* A day as the 10 bytes YYYY-MM-DD plus a NUL; "" when open-ended. */
struct cl_day {
	char s[11];
};

/*
 * Parses an --as-of value: exactly YYYY-MM-DD naming a real calendar day
 * (years 0001-9999, leap years by the Gregorian rule). Returns 0, or -1
 * with *why set to a static reason.
 */
int filter_parse_as_of(const char *s, struct cl_day *d, const char **why);

/* Today (cl_now(), so SOURCE_DATE_EPOCH) in UTC. */
void filter_today(struct cl_day *d);

/*
 * Reads a record's date from its span: a string whose first 10 bytes are
 * YYYY-MM-DD (a full ISO timestamp is cut to its day), or "" / null / absent
 * (open-ended: d->s is ""). Escapes are decoded first (tmp is scratch).
 * Returns 0, or -1 when the value is not a date.
 */
int filter_read_date(const struct cl_json_span *s, struct cl_buf *tmp, struct cl_day *d);

/*
 * 1 when as_of lies in [begin, end): beginDate/startDate inclusive, endDate
 * exclusive (the OneRoster information model; SIS send the day after the
 * last day); an empty end is open on that side.
 */
int filter_current(const struct cl_day *begin, const struct cl_day *end,
                   const struct cl_day *as_of);

/* exclude.c */

/*
 * Adds the IDs of an exclude-schools file to set: one ID per line; blank
 * lines, lines starting with '#' and a '#' comment after white space are
 * ignored; white space around an ID, a CR before the newline and a UTF-8
 * BOM are removed. Returns 0, or -1 with errno set (the caller reports).
 * A NUL byte in the file is EILSEQ, with *lineno the line it is on.
 */
int filter_read_exclude_file(const char *path, struct cl_idmap *set, unsigned long *lineno);

/* rules.c */

enum filter_reason {
	FILTER_KEEP,
	FILTER_TOBEDELETED,
	FILTER_INACTIVE,
	FILTER_BAD_DATE,      /* a date a rule needs is not a date */
	FILTER_BAD_FIELD,     /* a field a rule needs has the wrong type */
	FILTER_BAD_REFERENCE, /* a reference the record cannot do without is broken */
	FILTER_DISABLED,
	FILTER_NO_CLASSES,
	FILTER_EXCLUDED,
	FILTER_NO_SESSION,
	FILTER_CLASS_DROPPED,
	FILTER_NOT_CURRENT,
	FILTER_LEFT,
	FILTER_PARENTS_OFF,
	FILTER_PARENT_NO_EMAIL,
	FILTER_PARENT_UNLINKED,
	FILTER_USER_DROPPED,
	FILTER_COUNT
};

/* The stable name of a reason ("tobedeleted", "left"...). Static. */
const char *filter_reason_name(enum filter_reason r);

/* Notes: kept records that a rule could not judge, counted. */
enum filter_note { N_CLASS_NO_TERMS, N_CLASS_UNKNOWN_TERMS, N_MALFORMED_KEPT, N_COUNT };

/*
 * What was wrong with the last line filter_line judged, when something was:
 * the field (its name in data, static), its value (the raw JSON span, or
 * NULL when absent) and what is wrong with it (static). rejected is 1 when
 * the record was dropped for it (FILTER_BAD_*), 0 when it was kept because
 * no rule needs the field (counted as the note malformed-kept).
 */
struct filter_malformed {
	const char *field;
	const struct cl_json_span *value;
	const char *problem;
	int rejected;
};

struct filter_opts {
	struct cl_day as_of;
	int classes;     /* Sync Classroom Data (on unless --no-classes) */
	int enrol_dates; /* Respect Enrolment Date */
	int sessions;    /* Respect Academic Sessions */
	int parents;     /* Sync Parent Data */
	struct cl_idmap
	        *exclude; /* IDs to exclude (sourcedId or identifier); value 1 once matched */
};

struct filter;

/*
 * Returns a new filter over o (borrowed; its exclude set is updated) that
 * reads its fields from r: call before the reader's first line.
 */
struct filter *filter_new(const struct filter_opts *o, struct cl_reader *r);
void filter_free(struct filter *f);

/*
 * Decides one record line (not the header or trailer) the reader just
 * returned: FILTER_KEEP or the reason it is dropped; updates the ID sets and the
 * counts. A record with a malformed field is judged alone (filter_malformed
 * says what): rejected (FILTER_BAD_*) when a rule needs the field, else
 * kept. Returns -1 only when the record is unusable (no sourcedId):
 * filter_error says why.
 */
int filter_line(struct filter *f, const struct cl_line *ln);
/*
 * The malformed field of the last line filter_line judged, or NULL when it
 * had none. Borrowed: valid until the next filter_line.
 */
const struct filter_malformed *filter_malformed(const struct filter *f);
/* The code (CL207) and message of the last -1 from filter_line. */
const char *filter_error(const struct filter *f);
const char *filter_error_message(const struct filter *f);

/* The record's sourcedId span, valid after filter_line for the same line. */
const struct cl_json_span *filter_sourced_id(const struct filter *f);
/*
 * An enrolment's class and user sourcedId spans (NULL when absent), valid
 * after filter_line for the same line.
 */
const struct cl_json_span *filter_enrolment_class(const struct filter *f);
const struct cl_json_span *filter_enrolment_user(const struct filter *f);

/*
 * Called when the reader moves past a section (a line of a later kind, or
 * the trailer): reports CL202 (an exclude ID that named no school) after
 * the orgs and CL203 (no current session, and classes dropped for it) after
 * the classes, once each.
 */
void filter_section_done(struct filter *f, struct cl_stage *st, enum cl_kind next);

/* The counts object for the trailer (owned by the caller). */
jv filter_counts(const struct filter *f);

/* The counts' kind name of a line's kind: "parent" for CL_K_PARENT. Static. */
const char *filter_count_kind(enum cl_kind k);

#endif
