/* exclude.c: the list of schools to exclude, from a file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "filter.h"

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Adds the ID on one line (without its '\n') to set, if there is one. */
static void
add_line(struct cl_idmap *set, char *p, size_t n)
{
	size_t i, e;

	for (i = 0; i < n; i++)
		if (p[i] == '#' && (i == 0 || is_space(p[i - 1])))
			break;
	e = i;
	i = 0;
	while (i < e && is_space(p[i]))
		i++;
	while (e > i && is_space(p[e - 1]))
		e--;
	if (e > i)
		cl_idmap_put(set, p + i, e - i, NULL);
}

int
filter_read_exclude_file(const char *path, struct cl_idmap *set, unsigned long *lineno)
{
	struct cl_buf line = CL_BUF_INIT;
	FILE *fp;
	int c, err = 0;

	*lineno = 0;
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	for (;;) {
		c = getc(fp);
		if (c == EOF || c == '\n') {
			if (c == '\n' || line.len > 0) {
				char *p = line.p;
				size_t n = line.len;

				++*lineno;
				if (*lineno == 1 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
					p += 3;
					n -= 3;
				}
				if (n)
					add_line(set, p, n);
			}
			cl_buf_reset(&line);
			if (c == EOF)
				break;
			continue;
		}
		if (c == '\0') {
			++*lineno;
			err = EILSEQ;
			break;
		}
		cl_buf_addc(&line, (char)c);
	}
	if (!err && ferror(fp))
		err = errno ? errno : EIO;
	cl_buf_release(&line);
	if (fclose(fp) != 0 && !err)
		err = errno;
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}
