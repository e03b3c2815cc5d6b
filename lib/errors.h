/* errors.h: the catalog of CLnnn error codes, with meaning, remedy and exit status. */
#ifndef CL_ERRORS_H
#define CL_ERRORS_H

#include <stddef.h>

/*
 * One entry per code. The entries live in lib/errors/<area>.def, one file per
 * range (0xx stream, 1xx fetch, 2xx filter, 3xx match, 4xx load, 5xx
 * cl-sync); docs/errors.md is generated from them (make docs) and a test
 * checks both that it is current and that every code the source uses is here.
 * An entry reads CL_ERROR(code, status, meaning, remedy) or, when the remedy
 * names a program's option, CL_ERROR(code, status, meaning, remedy,
 * sync_remedy); tests/lib/t-sync-remedies checks that every such entry
 * below 5xx has one.
 */
struct cl_error_def {
	const char *code;    /* "CL003" */
	int status;          /* the exit status a program uses when this ends it */
	const char *meaning; /* one line: what happened */
	const char *remedy;  /* one line: what the administrator should do */
	/*
	 * The remedy in cl-sync's words (its config keys and commands), for a
	 * remedy that names a program's option a cl-sync user cannot set; NULL
	 * when the remedy serves both. docs/errors.md lists them apart.
	 */
	const char *sync_remedy;
};

/* Returns the entry for code, or NULL. Borrowed, static storage. */
const struct cl_error_def *cl_error_lookup(const char *code);
/* The exit status a program ends with when code ends it; 70 for a code not in the catalog. */
int cl_error_status(const char *code);
/* Returns the whole table, sorted by code; *n receives its length. */
const struct cl_error_def *cl_error_table(size_t *n);

#endif
