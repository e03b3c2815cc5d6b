/*
 * bundle.h: what cl-bundle's files share: the CSV reader (csv.c) and the
 * bundle's files, in a folder or a zip (source.c).
 */
#ifndef BUNDLE_H
#define BUNDLE_H

#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include "buf.h"

/* The most bytes one CSV record may hold (a broken quote eats the file). */
#define BUNDLE_MAX_RECORD ((size_t)16 << 20)

/* Reads up to n bytes into buf: the count, 0 at the end, -1 on an error (why set). */
typedef ssize_t (*bundle_read_fn)(void *ctx, char *buf, size_t n);

/*
 * An RFC 4180 reader, as SIS write CSV: a UTF-8 BOM skipped, CRLF or LF,
 * quoted cells with commas, quotes ("") and line ends, blank lines skipped.
 * It counts physical lines, so that a record is named by the line it
 * starts on even when a quoted cell spans several. Strict: a quote inside
 * an unquoted cell, text after a closing quote, an unterminated quote, a
 * NUL byte, bytes that are not UTF-8 and a record over BUNDLE_MAX_RECORD
 * are errors, and the file cannot be read further (its records' bounds
 * are lost).
 */
struct bundle_csv {
	bundle_read_fn rd;
	void *ctx;
	char *in; /* the read buffer */
	size_t ipos, ilen;
	int eof;
	int started;                 /* the BOM was looked for */
	int pending;                 /* a byte put back, or -1 */
	int lone_cr;                 /* a record starts with a CR that ends no line */
	unsigned long long line;     /* the physical line of the next byte */
	unsigned long long rec_line; /* the line the last record started on */
	struct cl_buf cells;         /* the record's cells, each NUL-terminated */
	size_t *off;                 /* cell i starts at cells.p + off[i] */
	size_t *len;                 /* and is len[i] bytes long */
	size_t ncells, cap;
	int io_error;  /* the error was the reader's (why: errno's text) */
	char err[256]; /* after -1: what and where, without the file name */
};

/* Starts a reader over rd(ctx). Release it with bundle_csv_release. */
void bundle_csv_init(struct bundle_csv *c, bundle_read_fn rd, void *ctx);
void bundle_csv_release(struct bundle_csv *c);
/*
 * The next record: 1 (ncells, off, len, rec_line set; cells valid until the
 * next call), 0 at the end of the file, -1 on an error (err says what,
 * with the line and column; io_error set when the reading failed). After
 * -1 it keeps returning -1.
 */
int bundle_csv_next(struct bundle_csv *c);
/* Cell i of the current record, NUL-terminated. Borrowed. */
static inline const char *
bundle_csv_cell(const struct bundle_csv *c, size_t i)
{
	return c->cells.p + c->off[i];
}

/*
 * Appending to a buffer on the hot path of a bundle's millions of cells,
 * inline (cl_buf_add is a call, and a cl_buf_grow call, per byte or run).
 */
static inline void
oadd(struct cl_buf *o, const char *p, size_t n)
{
	if (o->cap - o->len <= n)
		cl_buf_grow(o, n);
	memcpy(o->p + o->len, p, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static inline void
oaddc(struct cl_buf *o, char ch)
{
	if (o->cap - o->len <= 1)
		cl_buf_grow(o, 1);
	o->p[o->len++] = ch;
	o->p[o->len] = '\0';
}

/* The bundle: a folder, or a zip (its files may sit in one folder inside it). */
struct bundle_src {
	const char *path; /* as given; borrowed */
	int zip;          /* 1: a zip read through libarchive */
	char *prefix;     /* zip: the folder inside it the manifest is in ("" or "x/") */
	char **names;     /* zip: every member's name, for bundle_src_has */
	size_t nnames;
	/* the member being read */
	int fd;
	void *a; /* struct archive * */
	const char *cur;
	char why[512];
};

/*
 * Opens the bundle at path: a folder holding manifest.csv, or a zip holding
 * it at its top or in one folder (the first one nearest the top; others, and
 * macOS's __MACOSX/ folder, ignored). Returns 0, or -1 with why set.
 */
int bundle_src_open(struct bundle_src *s, const char *path);
void bundle_src_release(struct bundle_src *s);
/* 1 when the bundle holds the file name (manifest.csv, users.csv), else 0. */
int bundle_src_has(const struct bundle_src *s, const char *name);
/* Opens file name for bundle_src_read. Returns 0, or -1 with why set. */
int bundle_src_begin(struct bundle_src *s, const char *name);
/* A bundle_read_fn over the file begun: ctx is the bundle_src. */
ssize_t bundle_src_read(void *ctx, char *buf, size_t n);
/* Ends the reading of the file begun (nothing when none is). */
void bundle_src_end(struct bundle_src *s);

#endif
