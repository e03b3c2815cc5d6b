/* cli.h: what every program's command line shares. */
#ifndef CL_CLI_H
#define CL_CLI_H

/*
 * Reports a bad command line: one diagnostic ("prog: CL008: message"), then
 * the program's usage text (borrowed) on stderr. Returns CL_EX_USAGE (64),
 * for `return cl_usage_error(usage, "...")`.
 */
int cl_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * For getopt_long's ':' (a value missing) and '?' (an option it does not
 * know, or a value given to one that takes none), with optstring starting
 * with ':' so that getopt prints nothing itself: reports it as
 * cl_usage_error does, naming the option as the user spelt it. longopts is
 * the table given to getopt_long. Returns CL_EX_USAGE.
 */
struct option;
int cl_getopt_error(const char *usage, int c, char *const argv[], const struct option *longopts);

/*
 * Parses s as a whole decimal number in [lo, hi]: digits only (no sign, no
 * space, nothing after). Returns 0 with *out set, or -1.
 */
int cl_parse_num(const char *s, long long lo, long long hi, long long *out);

#endif
