/* cli.c: command-line helpers. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
