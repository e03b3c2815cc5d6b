/*
 * report.h: the unmatched-users report (--unmatched FILE.csv): RFC 4180
 * CSV with CRLF line ends, safe to open in a spreadsheet (lib/csvout.h), a
 * UTF-8 byte order mark first unless --no-bom, written through
 * lib/out.h (a new file 0600, replaced whole at the end: a failed run never
 * leaves half a report; a symlink refused; an input refused with CL010).
 */
#ifndef MATCH_REPORT_H
#define MATCH_REPORT_H

#include <stddef.h>

#include "buf.h"

struct match_report;

/*
 * Starts the report that will replace path (cl_out_open), with the byte
 * order mark first when bom is not 0. Returns NULL after
 * a diagnostic (CL305, or CL010 when path is an input), *status set to the
 * code's exit status, when it cannot be created.
 */
struct match_report *match_report_open(const char *path, int bom, int *status);

/* Writes one row of n cells (cells[i] of lens[i] bytes). */
void match_report_row(struct match_report *r, const char *const *cells, const size_t *lens,
                      size_t n);

/*
 * Flushes, syncs and renames the report into place, then frees r. Returns 0,
 * or after a diagnostic (CL305, the temporary file removed) the code's exit
 * status.
 */
int match_report_commit(struct match_report *r);
/* Removes the temporary file and frees r; an older report at path stays as it was. */
void match_report_abort(struct match_report *r);

#endif
