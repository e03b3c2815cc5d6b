/*
 * cli.h: the skeleton every program's main() is built on (docs/hacking.md).
 *
 * Options are declared once, in a table that carries each option's letter,
 * long name, value and help line, as git's parse-options does: getopt's
 * optstring and long options, and the --help listing, are made from it.
 * -h/--help, -V/--version and --check-args are added to every table. A
 * main() reads:
 *
 *	cl_diag_init(argv[0]);
 *	status = options(&o, argc, argv);    (cl_getopt_next in a loop)
 *	if (status >= 0)
 *		goto out;                    (--help, --version, a usage error)
 *	... open, process, each failure through a catalog code ...
 *	out:
 *	... free, wipe secrets ...
 *	return cl_exit(status);              (stdout flushed and checked)
 *
 * The exit status comes from the catalog (errors.h): a program reports a
 * failure with its code (cl_stage_fail, cl_fail) and never picks a number.
 */
#ifndef CL_CLI_H
#define CL_CLI_H

#include <getopt.h>
#include <stddef.h>

/* What an option takes. */
enum cl_arg { CL_ARG_NONE, CL_ARG_REQUIRED, CL_ARG_OPTIONAL };

/* Ids at or above this have no short letter. */
#define CL_OPT_LONG 256
/* --check-args's id: no program's table may use it. */
#define CL_OPT_CHECK_ARGS (CL_OPT_LONG + 255)

/* One option of a program. */
struct cl_opt {
	int id;              /* its letter ('a'), or CL_OPT_LONG + n for a long-only option */
	const char *name;    /* its long name without "--"; NULL ends the table */
	enum cl_arg arg;     /* none, required or optional (optional: --name=VALUE only) */
	const char *argname; /* how --help names the value ("FILE"); NULL with CL_ARG_NONE */
	const char *help;    /* one line for --help ('\n' starts an indented next line);
	                        NULL: an alias, not listed */
};

/* A program: what --help, --version and usage errors print. */
struct cl_cmd {
	const char *tool;          /* "cl-filter" */
	const char *usage;         /* "usage: cl-filter [...]\n", the man page's SYNOPSIS */
	const char *about;         /* what it does, for --help: a paragraph ending in '\n' */
	const struct cl_opt *opts; /* the table, without -h and -V */
};

#define CL_OPT_MAX 40 /* the most options a table may have */

/* The state of one pass over a command line. */
struct cl_getopt {
	const struct cl_cmd *cmd; /* borrowed */
	int argc;
	char **argv;
	const char *arg; /* the current option's value (NULL when it has none) */
	int id;          /* the current option's id */
	int status;      /* after CL_OPT_EXIT: the status to exit with */
	/*
	 * --check-args was given: the program checks its command line and
	 * opens the files a run reads, exactly as a run would (the same
	 * codes, messages and statuses), then exits 0 before it reads its
	 * input, writes anything, touches its state or contacts a server.
	 */
	int check_args;
	/* private */
	int env_checked;
	char optstring[2 + 3 * (CL_OPT_MAX + 2) + 1];
	struct option longopts[CL_OPT_MAX + 4];
};

/* cl_getopt_next's answer when the program must end with g->status. */
#define CL_OPT_EXIT (-2)

/* Prepares a pass over argv with cmd's table (borrowed for the pass). */
void cl_getopt_init(struct cl_getopt *g, const struct cl_cmd *cmd, int argc, char *argv[]);

/*
 * The next option: its id, with g->arg set; -1 when the options have ended
 * (the operands are argv[optind..argc-1]). --check-args is not returned: it
 * sets g->check_args, which the program copies. CL_OPT_EXIT after --help or
 * --version (printed on stdout, status 0), a bad command line (reported
 * with the usage on stderr, status 64), or, on the first call, a bad
 * SOURCE_DATE_EPOCH (CL011, cl_check_time_env).
 */
int cl_getopt_next(struct cl_getopt *g);

/*
 * The current option's value as a number of bytes, a whole number from 1
 * (--max-line): 0 with *out set, or the status of the usage error reported.
 */
int cl_getopt_bytes(const struct cl_getopt *g, size_t *out);

/*
 * The current option's value as the name of a side output (--rejects,
 * --unmatched): "-" is refused, since standard output carries the stream.
 * Returns 0 with *out set, or the status of the usage error reported.
 */
int cl_getopt_file(const struct cl_getopt *g, const char **out);

/*
 * After the options: the one input operand, if any. *input is its path, or
 * NULL for standard input (no operand, or "-"). Returns -1 to go on, or the
 * status of the usage error reported (more than one operand).
 */
int cl_getopt_input(const struct cl_getopt *g, const char **input);

/* Prints cmd's usage, then its about text and the option table, on stdout. */
void cl_help(const struct cl_cmd *cmd);

/*
 * Reports a bad command line: one diagnostic ("prog: CL008: message"), then
 * cmd's usage on stderr. Returns CL_EX_USAGE (64), for `return
 * cl_usage_error(&cmd, "...")`.
 */
int cl_usage_error(const struct cl_cmd *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/*
 * Reports a failure outside a stream (before the stage exists, or in a
 * program that writes none): one diagnostic "prog: CODE: message" (a fmt
 * ending in ':' appends strerror, as cl_diag). Returns the code's exit
 * status from the catalog, for `return cl_fail("CL108", "...")`.
 */
int cl_fail(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The end of every main(): flushes and closes stdout. When that fails
 * (CL006 reported, unless it was already), a status that is 0 or 1 becomes
 * 74; a failure decided earlier is kept. Returns the status to exit with.
 * Calling it with stdout already closed by cl_close_stdout is fine.
 */
int cl_exit(int status);

/*
 * Parses s as a whole decimal number in [lo, hi]: digits only (no sign, no
 * space, nothing after). Returns 0 with *out set, or -1.
 */
int cl_parse_num(const char *s, long long lo, long long hi, long long *out);

#endif
