/* report.c: the unmatched-users CSV report (report.h). */
#define _GNU_SOURCE /* O_TMPFILE */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"

/*
 * The report is written to an anonymous file in the report's folder
 * (O_TMPFILE): a run killed before the end leaves nothing. At the end it is
 * linked under a temporary name and renamed over the report. Where the file
 * system has no O_TMPFILE, a named temporary file (mkstemp) is used.
 */
struct match_report {
	char *path, *tmp; /* tmp: the temporary name, NULL while anonymous */
	FILE *f;
	struct cl_buf row;
};

void
match_csv_cell(struct cl_buf *out, const char *s, size_t n)
{
	int quote = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
			quote = 1;
	if (quote)
		cl_buf_addc(out, '"');
	if (n > 0 && strchr("=+-@\t\r", s[0]) && s[0] != '\0')
		cl_buf_addc(out, '\'');
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			cl_buf_addc(out, '"');
		cl_buf_addc(out, s[i]);
	}
	if (quote)
		cl_buf_addc(out, '"');
}

struct match_report *
match_report_open(const char *path, int *status)
{
	struct match_report *r = cl_xcalloc(1, sizeof *r);
	struct cl_buf t = CL_BUF_INIT;
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash)
		cl_buf_add(&t, path, (size_t)(slash - path) + (slash == path));
	else
		cl_buf_addc(&t, '.');
	fd = open(t.p, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	cl_buf_reset(&t);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		cl_buf_addf(&t, "%s.XXXXXX", path);
		fd = mkstemp(t.p); /* 0600 */
		if (fd >= 0)
			r->tmp = cl_xstrdup(t.p);
	}
	cl_buf_release(&t);
	cl_buf_init(&r->row);
	if (fd < 0 || fchmod(fd, 0600) != 0 || !(r->f = fdopen(fd, "w"))) {
		*status = cl_fail("CL305", "%s: cannot create the unmatched report:", path);
		if (fd >= 0)
			close(fd);
		if (r->tmp)
			unlink(r->tmp);
		free(r->tmp);
		free(r);
		return NULL;
	}
	r->path = cl_xstrdup(path);
	return r;
}

void
match_report_row(struct match_report *r, const char *const *cells, const size_t *lens, size_t n)
{
	size_t i;

	cl_buf_reset(&r->row);
	for (i = 0; i < n; i++) {
		if (i)
			cl_buf_addc(&r->row, ',');
		match_csv_cell(&r->row, cells[i], lens[i]);
	}
	cl_buf_add(&r->row, "\r\n", 2);
	fwrite(r->row.p, 1, r->row.len, r->f);
}

static void
report_free(struct match_report *r)
{
	free(r->path);
	free(r->tmp);
	cl_buf_release(&r->row);
	free(r);
}

/* Gives the anonymous file a temporary name beside the report. Returns 0 or -1 (errno). */
static int
name_it(struct match_report *r)
{
	struct cl_buf t = CL_BUF_INIT, proc = CL_BUF_INIT;
	int i, rc = -1;

	cl_buf_addf(&proc, "/proc/self/fd/%d", fileno(r->f));
	for (i = 0; i < 100 && rc < 0; i++) {
		cl_buf_reset(&t);
		cl_buf_addf(&t, "%s.%ld.%d", r->path, (long)getpid(), i);
		if (linkat(AT_FDCWD, proc.p, AT_FDCWD, t.p, AT_SYMLINK_FOLLOW) == 0) {
			r->tmp = cl_buf_detach(&t, NULL);
			rc = 0;
		} else if (errno != EEXIST) {
			break;
		}
	}
	cl_buf_release(&t);
	cl_buf_release(&proc);
	return rc;
}

int
match_report_commit(struct match_report *r)
{
	int bad = ferror(r->f) != 0;

	errno = 0;
	bad |= fflush(r->f) != 0;
	bad |= fsync(fileno(r->f)) != 0;
	if (!bad && !r->tmp)
		bad |= name_it(r) != 0;
	if (fclose(r->f) != 0)
		bad = 1;
	if (bad || rename(r->tmp, r->path) != 0) {
		int status;

		if (errno == 0)
			errno = EIO;
		status = cl_fail("CL305", "%s: cannot write the unmatched report:", r->path);
		if (r->tmp)
			unlink(r->tmp);
		report_free(r);
		return status;
	}
	report_free(r);
	return 0;
}

void
match_report_abort(struct match_report *r)
{
	if (!r)
		return;
	fclose(r->f);
	if (r->tmp)
		unlink(r->tmp);
	report_free(r);
}
