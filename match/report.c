/* report.c: the unmatched-users CSV report (report.h). */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csvout.h"
#include "diag.h"
#include "out.h"

/* The report goes through lib/out.h: written whole beside the target, then renamed over it. */
struct match_report {
	struct cl_out out;
	struct cl_buf row;
};

struct match_report *
match_report_open(const char *path, int bom, int *status)
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
	if (bom)
		fwrite(CL_CSV_BOM, 1, CL_CSV_BOM_LEN, r->out.f);
	return r;
}

void
match_report_row(struct match_report *r, const char *const *cells, const size_t *lens, size_t n)
{
	cl_buf_reset(&r->row);
	cl_csv_row(&r->row, cells, lens, n);
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
