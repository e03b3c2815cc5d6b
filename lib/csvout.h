/*
 * csvout.h: writing CSV for people: RFC 4180 cells and rows with CRLF line
 * ends, safe to open in a spreadsheet. Every CSV the project writes (cl-match
 * --unmatched, cl-parents' upload files) is made here, so that they quote,
 * neutralise formulas and mark their encoding the same way.
 *
 * A file starts with CL_CSV_BOM unless its program was asked not to
 * (--no-bom): Excel reads a CSV without one in the machine's legacy code page,
 * so "García" shows as "GarcÃ­a"; with it, as UTF-8.
 */
#ifndef CL_CSVOUT_H
#define CL_CSVOUT_H

#include <stddef.h>

#include "buf.h"

/* The UTF-8 byte order mark (U+FEFF), three bytes. */
#define CL_CSV_BOM "\xEF\xBB\xBF"
#define CL_CSV_BOM_LEN 3

/*
 * Appends one cell of n bytes to out: a leading apostrophe when it starts
 * with = + - @ TAB or CR (a spreadsheet would read a formula: the cell then
 * shows as text, apostrophe hidden), quoted when it holds a comma, a quote,
 * CR or LF (quotes doubled). The empty cell is nothing.
 */
void cl_csv_cell(struct cl_buf *out, const char *s, size_t n);

/* Appends n cells (cells[i] of lens[i] bytes) separated by commas, then CRLF. */
void cl_csv_row(struct cl_buf *out, const char *const *cells, const size_t *lens, size_t n);

#endif
