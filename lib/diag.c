/* diag.c: one-line diagnostics on stderr. */
#include "diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *progname = "cl";
static void (*hook)(void *);
static void *hook_arg;

void
cl_diag_hook(void (*fn)(void *), void *arg)
{
	hook = fn;
	hook_arg = arg;
}

void
cl_diag_init(const char *argv0)
{
	const char *slash;

	if (!argv0 || !*argv0)
		return;
	slash = strrchr(argv0, '/');
	progname = slash ? slash + 1 : argv0;
}

const char *
cl_progname(void)
{
	return progname;
}

void
cl_diag(const char *code, const char *fmt, ...)
{
	int saved = errno;
	size_t n = strlen(fmt);
	va_list ap;

	if (hook)
		hook(hook_arg);
	fprintf(stderr, "%s: ", progname);
	if (code)
		fprintf(stderr, "%s: ", code);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (n > 0 && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
	errno = saved;
}

void
cl_oom(void)
{
	/* No allocation on this path. */
	fprintf(stderr, "%s: CL090: out of memory\n", progname);
	exit(CL_EX_SOFTWARE);
}
