/* report.c: the unmatched-users CSV report (report.h). */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"

struct cm_report {
	char *path, *tmp;
	FILE *f;
	struct cl_buf row;
};

void
cm_csv_cell(struct cl_buf *out, const char *s, size_t n)
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

struct cm_report *
cm_report_open(const char *path)
{
	struct cm_report *r = cl_xcalloc(1, sizeof *r);
	struct cl_buf t = CL_BUF_INIT;
	int fd;

	cl_buf_addf(&t, "%s.XXXXXX", path);
	fd = mkstemp(t.p); /* 0600 */
	if (fd < 0 || !(r->f = fdopen(fd, "w"))) {
		cl_diag("CL305", "%s: cannot create the unmatched report:", path);
		if (fd >= 0) {
			unlink(t.p);
			close(fd);
		}
		cl_buf_release(&t);
		free(r);
		return NULL;
	}
	r->tmp = cl_buf_detach(&t, NULL);
	r->path = cl_xstrdup(path);
	return r;
}

void
cm_report_row(struct cm_report *r, const char *const *cells, const size_t *lens, size_t n)
{
	size_t i;

	cl_buf_reset(&r->row);
	for (i = 0; i < n; i++) {
		if (i)
			cl_buf_addc(&r->row, ',');
		cm_csv_cell(&r->row, cells[i], lens[i]);
	}
	cl_buf_add(&r->row, "\r\n", 2);
	fwrite(r->row.p, 1, r->row.len, r->f);
}

static void
report_free(struct cm_report *r)
{
	free(r->path);
	free(r->tmp);
	cl_buf_release(&r->row);
	free(r);
}

int
cm_report_commit(struct cm_report *r)
{
	int bad = ferror(r->f) != 0;

	bad |= fflush(r->f) != 0;
	bad |= fsync(fileno(r->f)) != 0;
	if (fclose(r->f) != 0)
		bad = 1;
	if (bad || rename(r->tmp, r->path) != 0) {
		if (errno == 0)
			errno = EIO;
		cl_diag("CL305", "%s: cannot write the unmatched report:", r->path);
		unlink(r->tmp);
		report_free(r);
		return -1;
	}
	report_free(r);
	return 0;
}

void
cm_report_abort(struct cm_report *r)
{
	if (!r)
		return;
	fclose(r->f);
	unlink(r->tmp);
	report_free(r);
}
