/*
 * stream.h: the roster stream (docs/stream.md): reading it a line at a time
 * with its kind, line number and order checked, and writing a stage's header
 * and trailer. Lines a stage does not change are written back byte for byte.
 */
#ifndef CL_STREAM_H
#define CL_STREAM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <jv.h>

#include "buf.h"
#include "json.h"

#define CL_VERSION "0.1.0"
#define CL_STREAM_VERSION 1
#define CL_MAX_LINE_DEFAULT ((size_t)64 << 20)

/* Kinds in stream order: a line's kind never ranks below the previous line's. */
enum cl_kind {
	CL_K_HEADER,
	CL_K_ORG,
	CL_K_SESSION, /* "academicSession" */
	CL_K_COURSE,
	CL_K_CLASS,
	CL_K_ENROLLMENT,
	CL_K_USER,   /* a user whose role is not parent/guardian/relative */
	CL_K_PARENT, /* "user" with role parent, guardian or relative */
	CL_K_DEMOGRAPHIC,
	CL_K_TRAILER,
	CL_K_COUNT
};

/* The kind's name as it appears in the stream ("user" for CL_K_PARENT). Static. */
const char *cl_kind_name(enum cl_kind k);

/*
 * A user's role, as every stage reads it from OneRoster 1.1's "role":
 * student, teacher, parent (parent, guardian or relative: the users that
 * come last in the stream), and every other role (administrator, aide,
 * proctor...) or none as other. NONE is for tables that need "no role yet".
 */
enum cl_role { CL_ROLE_NONE, CL_ROLE_STUDENT, CL_ROLE_TEACHER, CL_ROLE_OTHER, CL_ROLE_PARENT };

/* The role a user's "role" span names (NULL or not a string: other). */
enum cl_role cl_role_of(const struct cl_json_span *role);

/* One line of the stream. p is borrowed: valid until the next cl_reader_next. */
struct cl_line {
	const char *p; /* the line's bytes, without its '\n' */
	size_t n;
	unsigned long long lineno; /* 1-based */
	enum cl_kind kind;
};

/* Why reading stopped: code is a catalog code (CL001...), msg says what and where. */
struct cl_stream_err {
	const char *code;
	unsigned long long lineno;
	char msg[512];
};

struct cl_reader;

/*
 * Returns a reader over fd (not closed by the reader). name is used in
 * messages ("<stdin>" or the path; borrowed for the reader's lifetime).
 * max_line 0 means CL_MAX_LINE_DEFAULT.
 */
struct cl_reader *cl_reader_new(int fd, const char *name, size_t max_line);
void cl_reader_free(struct cl_reader *r);

/*
 * Asks the scan of every line to also find path (json.h syntax); returns the
 * index to pass to cl_reader_field / cl_reader_result. Only before the first
 * cl_reader_next. The reader itself always finds "kind", "data" and
 * "data.role".
 */
size_t cl_reader_want(struct cl_reader *r, const char *path);

/*
 * Reads, validates and classifies the next line. Returns 1 with *line
 * filled (the header and the trailer are returned too); 0 after the trailer
 * at the end of the input; -1 on an error (cl_reader_error says which: a
 * malformed line CL001, out of order CL002, no trailer CL003, too long
 * CL004, a read error CL007, no header CL009). After -1 or 0 it keeps
 * returning the same.
 */
int cl_reader_next(struct cl_reader *r, struct cl_line *line);
const struct cl_stream_err *cl_reader_error(const struct cl_reader *r);

/* The first span of a wanted path in the current line, or NULL. Borrowed. */
const struct cl_json_span *cl_reader_field(const struct cl_reader *r, size_t idx);
/* The current line's user role (its "data.role"; other when it has none). */
enum cl_role cl_reader_role(const struct cl_reader *r);
/* All spans of the current line ("[]" paths). Borrowed. */
const struct cl_json_result *cl_reader_result(const struct cl_reader *r);
/* Bytes read so far. */
unsigned long long cl_reader_bytes(const struct cl_reader *r);

/*
 * The upstream trailer: after cl_reader_next returned the trailer line, 1 if
 * it says "complete":true and the lines read agree with the "lines" its last
 * stage says it wrote, 0 otherwise; -1 before any trailer was read.
 */
int cl_reader_upstream_complete(const struct cl_reader *r);
/*
 * After the trailer: why the lines read disagree with what the upstream
 * stage says it wrote (report it as CL012), or NULL when they agree (or the
 * stage said nothing). Borrowed.
 */
const char *cl_reader_lines_lost(const struct cl_reader *r);

/*
 * A stage: what it adds to the header and the trailer. Fill options before
 * the header is written; count, fail and warn as the stage goes.
 * fatal: the code that decides the exit status (cl_stage_fail), or NULL.
 */
struct cl_stage {
	const char *tool;  /* "cl-filter"; borrowed */
	jv options;        /* object: the options it applied (never a secret) */
	jv counts;         /* object: name -> number, or nested objects */
	jv more;           /* object: keys its trailer entry has beside counts ("rejects") */
	jv errors;         /* array of {"code","message"} */
	int complete;      /* 0 once anything it should have done was not done */
	const char *fatal; /* the code that ended the stage early, or NULL */
	int header_done;
	int first;   /* set by the stage that starts a stream (cl-fetch): no upstream */
	int delta;   /* the first stage: the stream holds only changes ("delta":true) */
	jv upstream; /* the upstream trailer's "stages", or jv_invalid() */
	int upstream_complete;
	unsigned long long lines[CL_K_COUNT]; /* lines written, by kind (cl_stage_wrote) */
	int lines_counted; /* set by a stage that counts every record line it writes: the
	                      trailer then says "lines", and the next stage checks them */
};

void cl_stage_init(struct cl_stage *s, const char *tool);
void cl_stage_release(struct cl_stage *s);

/*
 * Reports a problem: one diagnostic line on stderr ("prog: CODE: message"),
 * and an entry in the trailer's errors (a fmt ending in ':' appends the
 * current errno's strerror, as cl_diag does). cl_stage_fail also marks the stage
 * incomplete and, the first time, records code as fatal (it decides the exit
 * status); cl_stage_warn changes neither.
 */
void cl_stage_fail(struct cl_stage *s, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void cl_stage_warn(struct cl_stage *s, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The same with a va_list, for a program's own reporting function. */
void cl_stage_vfail(struct cl_stage *s, const char *code, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
void cl_stage_vwarn(struct cl_stage *s, const char *code, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
/* Reports the reader's error through cl_stage_fail. */
void cl_stage_fail_read(struct cl_stage *s, const struct cl_reader *r);
/*
 * Counts n lines of kind k written (the trailer's "lines", which the next
 * stage checks what it read against). Every stage that writes the stream
 * counts every record line it writes.
 */
void cl_stage_wrote(struct cl_stage *s, enum cl_kind k, unsigned long long n);
/* Sets counts[name] = v. */
void cl_stage_count(struct cl_stage *s, const char *name, double v);

/*
 * Writes the header: the upstream header line hdr (NULL when there was
 * none: a fresh header, as cl-fetch writes, with source when valid) with
 * this stage appended to "stages". source is consumed (jv_invalid() for
 * none). Returns 0, or -1 when hdr is not a valid header (nothing written).
 */
int cl_stage_write_header(struct cl_stage *s, FILE *out, const struct cl_line *hdr, jv source);

/*
 * Takes the upstream trailer line (the reader r returned it) so that its
 * stages are carried into this stage's trailer; lines lost between the
 * stages (cl_reader_lines_lost) fail the stage with CL012.
 */
void cl_stage_take_trailer(struct cl_stage *s, const struct cl_reader *r, const struct cl_line *tr);

/*
 * Writes the trailer, after a header if none was written yet: the upstream
 * stages plus this one, "complete" true only when upstream and this stage
 * both were. When no upstream trailer was taken, the stage is marked
 * incomplete (the caller has already reported why, normally CL003), unless
 * the stage is the first.
 */
void cl_stage_write_trailer(struct cl_stage *s, FILE *out);

/*
 * The exit status the stage ends with, from the catalog: 0, or the status of
 * the first code it failed with (a failure's status, over 1, outranks a
 * partial's 1 that came before it).
 */
int cl_stage_status(const struct cl_stage *s);

/* Writes n bytes and a '\n'. */
void cl_write_line(FILE *out, const char *p, size_t n);

/*
 * Flushes and closes stdout; on failure reports CL006 and returns -1.
 * Programs end with it (through cl_exit) so a full disk is an error, not
 * silence. A second call returns what the first did, reporting nothing.
 */
int cl_close_stdout(void);
/*
 * Closes stdout without checking it: its reader went away (EPIPE), or its
 * failure was reported already. cl_close_stdout then reports nothing.
 */
void cl_abandon_stdout(void);

/* The last time an ISO 8601 date with a four-digit year can name: 9999-12-31T23:59:59Z. */
#define CL_TIME_MAX 253402300799LL

/*
 * Checks SOURCE_DATE_EPOCH (the fixed "now" of reproducible test output):
 * unset, or whole seconds from 0 to CL_TIME_MAX. Returns 0, or the status of
 * the CL011 reported. The skeleton asks before the first option (cli.h).
 */
int cl_check_time_env(void);
/* Now, or SOURCE_DATE_EPOCH when set (and valid: cl_check_time_env). */
time_t cl_now(void);
/*
 * Writes t as 2026-11-29T18:00:02Z into buf (at least 21 bytes). Returns 0,
 * or -1 (buf "") when t is before 1970 or after CL_TIME_MAX.
 */
int cl_iso8601(time_t t, char *buf);

#endif
