/* report.c: the unmatched-users CSV report (report.h). */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "out.h"

/* The report goes through lib/out.h: written whole beside the target, then renamed over it. */
struct match_report {
	struct cl_out out;
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
	int rc;

	cl_buf_init(&r->row);
	if ((rc = cl_out_open(&r->out, path, &r->row)) != 0) {
		*status =
		        cl_fail(rc == CL_OUT_SAME ? "CL010" : "CL305", "--unmatched: %s", r->row.p);
		cl_buf_release(&r->row);
		free(r);
		return NULL;
	}
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
	fwrite(r->row.p, 1, r->row.len, r->out.f);
}

int
match_report_commit(struct match_report *r)
{
	int status = 0;

	if (cl_out_commit(&r->out, &r->row) < 0)
		status = cl_fail("CL305", "--unmatched: %s", r->row.p);
	cl_buf_release(&r->row);
	free(r);
	return status;
}

void
match_report_abort(struct match_report *r)
{
	if (!r)
		return;
	cl_out_abort(&r->out);
	cl_buf_release(&r->row);
	free(r);
}
