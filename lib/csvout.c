/* csvout.c: CSV cells and rows for people (csvout.h). */
#include "csvout.h"

#include <string.h>

void
cl_csv_cell(struct cl_buf *out, const char *s, size_t n)
{
	int quote = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
			quote = 1;
	if (quote)
		cl_buf_addc(out, '"');
	if (n > 0 && s[0] != '\0' && strchr("=+-@\t\r", s[0]))
		cl_buf_addc(out, '\'');
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			cl_buf_addc(out, '"');
		cl_buf_addc(out, s[i]);
	}
	if (quote)
		cl_buf_addc(out, '"');
}

void
cl_csv_row(struct cl_buf *out, const char *const *cells, const size_t *lens, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i)
			cl_buf_addc(out, ',');
		cl_csv_cell(out, cells[i], lens[i]);
	}
	cl_buf_add(out, "\r\n", 2);
}
