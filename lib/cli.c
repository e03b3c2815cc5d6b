/* cli.c: the program skeleton: the option table, --help, usage errors, the exit. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "errors.h"
#include "stream.h"

/* Every table ends with these two. */
static const struct cl_opt std_opts[] = {
	{ 'h', "help", CL_ARG_NONE, NULL, "this help" },
	{ 'V', "version", CL_ARG_NONE, NULL, "the version" },
	{ CL_OPT_CHECK_ARGS, "check-args", CL_ARG_NONE, NULL,
	  "check the command line and the files a run reads, then exit" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};
#define STD_OPTS (sizeof std_opts / sizeof std_opts[0] - 1)

static const struct cl_opt *
opt_at(const struct cl_cmd *cmd, size_t i, size_t n)
{
	return i < n ? &cmd->opts[i] : &std_opts[i - n];
}

static size_t
count_opts(const struct cl_cmd *cmd)
{
	size_t n = 0;

	while (cmd->opts[n].name)
		n++;
	return n;
}

void
cl_getopt_init(struct cl_getopt *g, const struct cl_cmd *cmd, int argc, char *argv[])
{
	size_t n = count_opts(cmd), i, k = 0, j = 0;
	static const int has[] = { no_argument, required_argument, optional_argument };

	/* a table too long for the buffers is a programming error, caught by every test */
	if (n > CL_OPT_MAX)
		abort();
	memset(g, 0, sizeof *g);
	g->cmd = cmd;
	g->argc = argc;
	g->argv = argv;
	g->optstring[k++] = ':'; /* report a missing value ourselves */
	for (i = 0; i < n + STD_OPTS; i++) {
		const struct cl_opt *o = opt_at(cmd, i, n);

		g->longopts[j++] = (struct option){ o->name, has[o->arg], NULL, o->id };
		if (o->id >= CL_OPT_LONG || !o->help)
			continue; /* long only, or an alias of a letter listed elsewhere */
		g->optstring[k++] = (char)o->id;
		if (o->arg != CL_ARG_NONE)
			g->optstring[k++] = ':';
		if (o->arg == CL_ARG_OPTIONAL)
			g->optstring[k++] = ':';
	}
	g->optstring[k] = '\0';
	g->longopts[j] = (struct option){ NULL, 0, NULL, 0 };
	optind = 1;
}

/*
 * For getopt_long's ':' (a value missing) and '?' (an option it does not
 * know, or a value given to one that takes none): reports it naming the
 * option as the user spelt it.
 */
static int
getopt_error(const struct cl_getopt *g, int c)
{
	/*
	 * argv[optind - 1] is the option's own word when getopt has finished
	 * with it: always for a long option and for a missing value; an
	 * unknown letter inside a bundle such as -qn is named by optopt alone.
	 */
	const char *arg = g->argv[optind - 1], *name = arg + 2;
	int dashes = strncmp(arg, "--", 2) == 0;
	size_t n = dashes ? strcspn(name, "=") : 0, i;
	const struct option *lo = g->longopts;

	if (c == ':') {
		if (dashes)
			return cl_usage_error(g->cmd, "option '--%.*s' needs a value", (int)n,
			                      name);
		return cl_usage_error(g->cmd, "option '-%c' needs a value", optopt);
	}
	if (dashes && optopt == 0)
		return cl_usage_error(g->cmd, "unknown option '--%.*s'", (int)n, name);
	for (i = 0; dashes && lo[i].name; i++)
		if (lo[i].val == optopt && lo[i].has_arg == no_argument &&
		    !strncmp(lo[i].name, name, n))
			return cl_usage_error(g->cmd, "option '--%s' takes no value", lo[i].name);
	if (optopt > ' ' && optopt < 127)
		return cl_usage_error(g->cmd, "unknown option '-%c'", optopt);
	return cl_usage_error(g->cmd, "unknown option '%s'", arg);
}

int
cl_getopt_next(struct cl_getopt *g)
{
	int c;

	if (!g->env_checked) {
		g->env_checked = 1;
		if ((g->status = cl_check_time_env()) != 0)
			return CL_OPT_EXIT;
	}
	/* --check-args is the skeleton's: noted, and the next option is the program's */
	while ((c = getopt_long(g->argc, g->argv, g->optstring, g->longopts, NULL)) ==
	       CL_OPT_CHECK_ARGS)
		g->check_args = 1;

	g->arg = optarg;
	g->id = c;
	switch (c) {
	case 'h':
		cl_help(g->cmd);
		g->status = CL_EX_OK;
		return CL_OPT_EXIT;
	case 'V':
		printf("%s %s\n", g->cmd->tool, CL_VERSION);
		g->status = CL_EX_OK;
		return CL_OPT_EXIT;
	case ':':
	case '?':
		g->status = getopt_error(g, c);
		return CL_OPT_EXIT;
	default:
		return c;
	}
}

/* The current option's long name, for messages. */
static const char *
opt_name(const struct cl_getopt *g)
{
	const struct option *lo;

	for (lo = g->longopts; lo->name && lo->val != g->id; lo++)
		;
	return lo->name ? lo->name : "?";
}

int
cl_getopt_bytes(const struct cl_getopt *g, size_t *out)
{
	long long v;

	if (cl_parse_num(g->arg, 1, LLONG_MAX, &v) == 0 && (unsigned long long)v <= SIZE_MAX) {
		*out = (size_t)v;
		return 0;
	}
	return cl_usage_error(g->cmd, "--%s '%s' is not a positive number of bytes", opt_name(g),
	                      g->arg);
}

int
cl_getopt_file(const struct cl_getopt *g, const char **out)
{
	if (strcmp(g->arg, "-") == 0)
		return cl_usage_error(g->cmd,
		                      "--%s -: the standard output carries the stream; name a file",
		                      opt_name(g));
	*out = g->arg;
	return 0;
}

int
cl_getopt_input(const struct cl_getopt *g, const char **input)
{
	int n = g->argc - optind;

	*input = NULL;
	if (n > 1)
		return cl_usage_error(g->cmd, "one input at most, not %d", n);
	if (n == 1 && strcmp(g->argv[optind], "-") != 0)
		*input = g->argv[optind];
	return -1;
}

/* The option's left column: "  -a, --as-of DATE" or "      --max-line BYTES". */
static void
opt_label(struct cl_buf *b, const struct cl_opt *o)
{
	cl_buf_reset(b);
	if (o->id < CL_OPT_LONG)
		cl_buf_addf(b, "  -%c, --%s", o->id, o->name);
	else
		cl_buf_addf(b, "      --%s", o->name);
	if (o->arg == CL_ARG_REQUIRED)
		cl_buf_addf(b, " %s", o->argname);
	else if (o->arg == CL_ARG_OPTIONAL)
		cl_buf_addf(b, " [%s]", o->argname);
}

void
cl_help(const struct cl_cmd *cmd)
{
	size_t n = count_opts(cmd), i, width = 0;
	struct cl_buf b = CL_BUF_INIT;
	const char *h, *nl;

	for (i = 0; i < n + STD_OPTS; i++) {
		if (!opt_at(cmd, i, n)->help)
			continue;
		opt_label(&b, opt_at(cmd, i, n));
		if (b.len > width)
			width = b.len;
	}
	width += 2;
	printf("%s\n%s\n", cmd->usage, cmd->about);
	for (i = 0; i < n + STD_OPTS; i++) {
		const struct cl_opt *o = opt_at(cmd, i, n);

		if (!o->help)
			continue;
		opt_label(&b, o);
		printf("%-*s", (int)width, b.p);
		for (h = o->help; (nl = strchr(h, '\n')); h = nl + 1)
			printf("%.*s\n%*s", (int)(nl - h), h, (int)width, "");
		printf("%s\n", h);
	}
	printf("\nSee %s(1).\n", cmd->tool);
	cl_buf_release(&b);
}

int
cl_usage_error(const struct cl_cmd *cmd, const char *fmt, ...)
{
	struct cl_buf msg = CL_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	cl_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	cl_diag("CL008", "%s", msg.p);
	cl_buf_release(&msg);
	fputs(cmd->usage, stderr);
	return CL_EX_USAGE;
}

int
cl_fail(const char *code, const char *fmt, ...)
{
	struct cl_buf msg = CL_BUF_INIT;
	size_t n = strlen(fmt);
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	cl_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	if (n > 0 && fmt[n - 1] == ':')
		cl_buf_addf(&msg, " %s", strerror(saved));
	cl_diag(code, "%s", msg.p);
	cl_buf_release(&msg);
	errno = saved;
	return cl_error_status(code);
}

int
cl_exit(int status)
{
	if (cl_close_stdout() < 0 && status <= CL_EX_PARTIAL)
		status = CL_EX_IOERR;
	return status;
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
