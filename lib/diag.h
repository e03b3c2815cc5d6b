/* diag.h: exit statuses and one-line diagnostics. */
#ifndef CL_DIAG_H
#define CL_DIAG_H

/* Exit statuses (sysexits where one fits). Every man page's EXIT STATUS lists these. */
enum {
	CL_EX_OK = 0,
	CL_EX_PARTIAL = 1,      /* finished, but something was withheld or skipped */
	CL_EX_USAGE = 64,       /* bad command line */
	CL_EX_DATAERR = 65,     /* bad input data */
	CL_EX_NOINPUT = 66,     /* cannot open an input */
	CL_EX_UNAVAILABLE = 69, /* remote service failed after retries */
	CL_EX_SOFTWARE = 70,    /* internal error, out of memory */
	CL_EX_IOERR = 74,       /* I/O error */
	CL_EX_TEMPFAIL = 75,    /* temporary: try later (a lock is held) */
	CL_EX_NOPERM = 77,      /* not permitted (HTTP 401/403) */
	CL_EX_CONFIG = 78       /* configuration error */
};

/* Sets the program name diagnostics start with (the basename of argv0). */
void cl_diag_init(const char *argv0);
const char *cl_progname(void);

/*
 * Prints one line to stderr: "prog: CODE: message". code may be NULL
 * ("prog: message"). When fmt ends in ':' the current errno's strerror is
 * appended after a space, as sbase's eprintf does.
 */
void cl_diag(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Runs fn(arg) before every diagnostic line cl_diag prints (NULL: none):
 * cl-fetch clears its progress line there, so that no message lands on it.
 */
void cl_diag_hook(void (*fn)(void *), void *arg);

/* Out of memory: one diagnostic, exit 70. */
_Noreturn void cl_oom(void);

#endif
