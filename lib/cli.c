/* cli.c: command-line helpers. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"

int
cl_usage_error(const char *usage, const char *fmt, ...)
{
	struct cl_buf msg = CL_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	cl_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	cl_diag("CL008", "%s", msg.p);
	cl_buf_release(&msg);
	fputs(usage, stderr);
	return CL_EX_USAGE;
}

int
cl_getopt_error(const char *usage, int c, char *const argv[], const struct option *longopts)
{
	/*
	 * argv[optind - 1] is the option's own word when getopt has finished
	 * with it: always for a long option and for a missing value; an
	 * unknown letter inside a bundle such as -qn is named by optopt alone.
	 */
	const char *arg = argv[optind - 1], *name = arg + 2;
	int dashes = strncmp(arg, "--", 2) == 0;
	size_t n = dashes ? strcspn(name, "=") : 0, i;

	if (c == ':') {
		if (dashes)
			return cl_usage_error(usage, "option '--%.*s' needs a value", (int)n, name);
		return cl_usage_error(usage, "option '-%c' needs a value", optopt);
	}
	if (dashes && optopt == 0)
		return cl_usage_error(usage, "unknown option '--%.*s'", (int)n, name);
	for (i = 0; dashes && longopts[i].name; i++)
		if (longopts[i].val == optopt && longopts[i].has_arg == no_argument &&
		    !strncmp(longopts[i].name, name, n))
			return cl_usage_error(usage, "option '--%s' takes no value",
			                      longopts[i].name);
	if (optopt > ' ' && optopt < 127)
		return cl_usage_error(usage, "unknown option '-%c'", optopt);
	return cl_usage_error(usage, "unknown option '%s'", arg);
}

int
cl_parse_num(const char *s, long long lo, long long hi, long long *out)
{
	long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
