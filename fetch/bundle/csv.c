/*
 * csv.c: a small RFC 4180 reader of our own, for the files of a OneRoster
 * CSV bundle. libcsv (cl-match's reader) would parse the same syntax, but it
 * does not say which physical line a record starts on when a quoted cell
 * holds line ends, nor where an unterminated quote opened, and a bundle's
 * diagnostics are file:line:column; it also trims unquoted spaces unless
 * told not to, skips no BOM, and wants every cell copied out of its
 * callback. This reader is one state machine over a read buffer: each cell
 * is copied once into the record's buffer, lines are counted as bytes go
 * by, and the reading function is the bundle's (a file or a zip member), so
 * no file is ever held whole.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

#define IN_SIZE ((size_t)1 << 16)
#define R_EOF (-1)
#define R_ERR (-2)

void
bundle_csv_init(struct bundle_csv *c, bundle_read_fn rd, void *ctx)
{
	memset(c, 0, sizeof *c);
	c->rd = rd;
	c->ctx = ctx;
	c->in = cl_xmalloc(IN_SIZE);
	c->line = 1;
	c->pending = -1;
	cl_buf_init(&c->cells);
}

void
bundle_csv_release(struct bundle_csv *c)
{
	free(c->in);
	free(c->off);
	free(c->len);
	cl_buf_release(&c->cells);
	c->in = NULL;
	c->off = c->len = NULL;
}

/* The next byte, R_EOF, or R_ERR (err set). */
static int
rgetc(struct bundle_csv *c)
{
	ssize_t n;

	if (c->pending >= 0) {
		n = c->pending;
		c->pending = -1;
		return (int)n;
	}
	if (c->ipos < c->ilen)
		return (unsigned char)c->in[c->ipos++];
	if (c->eof)
		return R_EOF;
	for (;;) {
		n = c->rd(c->ctx, c->in, IN_SIZE);
		if (n > 0)
			break;
		if (n == 0) {
			c->eof = 1;
			return R_EOF;
		}
		c->io_error = 1;
		snprintf(c->err, sizeof c->err, "line %llu: cannot read", c->line);
		return R_ERR;
	}
	c->ilen = (size_t)n;
	c->ipos = 1;
	return (unsigned char)c->in[0];
}

/* Puts back one byte rgetc returned: the next rgetc returns it. */
static void
unget(struct bundle_csv *c, int ch)
{
	c->pending = ch;
}

/*
 * Copies the run of ordinary bytes that follows in the read buffer into the
 * cell at once: the bytes the state machine need not look at one by one
 * (in a quoted cell all but a quote, a line end and NUL; in an unquoted one,
 * all but a comma and a quote too). Most of a file goes through here.
 */
static void
run(struct bundle_csv *c, int quoted)
{
	const char *p, *e, *start;

	if (c->pending >= 0)
		return;
	start = p = c->in + c->ipos;
	e = c->in + c->ilen;
	if (quoted)
		while (p < e && *p != '"' && *p != '\n' && *p != '\0')
			p++;
	else
		while (p < e && *p != ',' && *p != '\n' && *p != '\r' && *p != '"' && *p != '\0')
			p++;
	oadd(&c->cells, start, (size_t)(p - start));
	c->ipos += (size_t)(p - start);
}

static void
cell_begin(struct bundle_csv *c)
{
	if (c->ncells == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 32;
		c->off = cl_xreallocarray(c->off, c->cap, sizeof *c->off);
		c->len = cl_xreallocarray(c->len, c->cap, sizeof *c->len);
	}
	c->off[c->ncells] = c->cells.len;
}

static void
cell_end(struct bundle_csv *c)
{
	c->len[c->ncells] = c->cells.len - c->off[c->ncells];
	oaddc(&c->cells, '\0');
	c->ncells++;
}

/* Checks that the record's bytes are UTF-8 (RFC 3629: no overlongs, no surrogates). */
static int
utf8_ok(const unsigned char *p, size_t n, size_t *bad)
{
	size_t i = 0, k, need;
	unsigned v;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			need = 1;
			v = p[i] & 0x1f;
		} else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			need = 2;
			v = p[i] & 0x0f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			need = 3;
			v = p[i] & 0x07;
		} else {
			*bad = i;
			return 0;
		}
		if (i + need >= n) {
			*bad = i;
			return 0;
		}
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80) {
				*bad = i;
				return 0;
			}
			v = (v << 6) | (p[i + k] & 0x3f);
		}
		if ((need == 2 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
		    (need == 3 && (v < 0x10000 || v > 0x10ffff))) {
			*bad = i;
			return 0;
		}
		i += need + 1;
	}
	return 1;
}

static int fail(struct bundle_csv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct bundle_csv *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	c->eof = 1;
	c->ipos = c->ilen = 0;
	return -1;
}

int
bundle_csv_next(struct bundle_csv *c)
{
	unsigned long long qline;
	size_t bad, i;
	int ch;

	if (c->err[0])
		return -1;
	c->ncells = 0;
	cl_buf_reset(&c->cells);
	if (!c->started) {
		/* a UTF-8 BOM, as Excel and many SIS write one */
		c->started = 1;
		if ((ch = rgetc(c)) == 0xef) {
			if (rgetc(c) != 0xbb || rgetc(c) != 0xbf)
				return fail(c,
				            "%llu:1: a byte 0xEF that starts no BOM: the file is "
				            "not UTF-8",
				            c->line);
		} else if (ch >= 0) {
			unget(c, ch);
		} else if (ch == R_ERR) {
			return -1;
		}
	}
	/* blank lines between records are skipped */
	for (;;) {
		ch = rgetc(c);
		if (ch == '\n') {
			c->line++;
			continue;
		}
		if (ch == '\r') {
			int n2 = rgetc(c);

			if (n2 == '\n') {
				c->line++;
				continue;
			}
			if (n2 == R_ERR)
				return -1;
			if (n2 >= 0) {
				/* a lone CR starts the record: data */
				c->rec_line = c->line;
				unget(c, n2);
				c->lone_cr = 1;
				break;
			}
			ch = '\r';
		}
		break;
	}
	if (ch == R_EOF)
		return 0;
	if (ch == R_ERR)
		return -1;
	c->rec_line = c->line;
	if (!c->lone_cr)
		unget(c, ch);
	for (;;) {
		/* one cell */
		cell_begin(c);
		if (c->lone_cr) {
			c->lone_cr = 0;
			ch = '\r';
		} else {
			ch = rgetc(c);
		}
		if (ch == '"') {
			qline = c->line;
			for (;;) {
				ch = rgetc(c);
				if (ch == R_ERR)
					return -1;
				if (ch == R_EOF)
					return fail(
					        c,
					        "%llu:%zu: the quote opened here is never closed "
					        "(the file ends inside it)",
					        qline, c->ncells + 1);
				if (ch == '"') {
					ch = rgetc(c);
					if (ch == '"') {
						oaddc(&c->cells, '"');
						continue;
					}
					break;
				}
				if (ch == '\n')
					c->line++;
				if (ch == 0)
					return fail(c, "%llu:%zu: a NUL byte: the file is not text",
					            c->line, c->ncells + 1);
				oaddc(&c->cells, (char)ch);
				run(c, 1);
				if (c->cells.len > BUNDLE_MAX_RECORD)
					return fail(c,
					            "%llu:%zu: a record over %zu bytes (a quote "
					            "opened here and not closed?)",
					            qline, c->ncells + 1, BUNDLE_MAX_RECORD);
			}
			/* after the closing quote: a comma, a line end, or the end */
			if (ch == '\r') {
				int n2 = rgetc(c);

				if (n2 != '\n')
					return fail(c,
					            "%llu:%zu: text after the closing quote of a "
					            "cell: quote the whole cell and double the "
					            "quotes inside it",
					            c->line, c->ncells + 1);
				ch = '\n';
			}
			if (ch != ',' && ch != '\n' && ch != R_EOF) {
				if (ch == R_ERR)
					return -1;
				return fail(
				        c,
				        "%llu:%zu: text after the closing quote of a cell: quote "
				        "the whole cell and double the quotes inside it",
				        c->line, c->ncells + 1);
			}
		} else {
			for (;; ch = rgetc(c)) {
				if (ch == R_ERR)
					return -1;
				if (ch == ',' || ch == '\n' || ch == R_EOF)
					break;
				if (ch == '\r') {
					int n2 = rgetc(c);

					if (n2 == '\n') {
						ch = '\n';
						break;
					}
					if (n2 >= 0)
						unget(c, n2);
					else if (n2 == R_ERR)
						return -1;
				}
				if (ch == '"')
					return fail(c,
					            "%llu:%zu: a quote inside an unquoted cell: "
					            "quote the whole cell and double the quotes "
					            "inside it",
					            c->line, c->ncells + 1);
				if (ch == 0)
					return fail(c, "%llu:%zu: a NUL byte: the file is not text",
					            c->line, c->ncells + 1);
				oaddc(&c->cells, (char)ch);
				run(c, 0);
				if (c->cells.len > BUNDLE_MAX_RECORD)
					return fail(c, "%llu:%zu: a record over %zu bytes",
					            c->rec_line, c->ncells + 1, BUNDLE_MAX_RECORD);
			}
		}
		cell_end(c);
		if (ch == ',')
			continue;
		if (ch == '\n')
			c->line++;
		break; /* '\n' or the end of the file */
	}
	for (i = 0; i < c->ncells; i++)
		if (!utf8_ok((const unsigned char *)bundle_csv_cell(c, i), c->len[i], &bad))
			return fail(c,
			            "%llu:%zu: bytes that are not UTF-8 (byte %zu of the cell): "
			            "save the file as UTF-8",
			            c->rec_line, i + 1, bad + 1);
	return 1;
}
