/*
 * fuzz_csv: libFuzzer harness for cl-bundle's CSV reader (fetch/bundle/csv.c,
 * included below). Any bytes are read twice: in one read, and a byte per
 * read (every buffer boundary falls everywhere: a CR before its LF, a quote
 * before its double, a BOM split in three). Both readings must give the same
 * records, cells, line numbers and error, and every cell must be UTF-8.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../fetch/bundle/csv.c"
#include "../fuzz/fuzz.h"

struct feed {
	const uint8_t *p;
	size_t n, pos, step;
};

static ssize_t
feed_read(void *ctx, char *buf, size_t n)
{
	struct feed *f = ctx;
	size_t k = f->n - f->pos;

	if (k > n)
		k = n;
	if (k > f->step)
		k = f->step;
	memcpy(buf, f->p + f->pos, k);
	f->pos += k;
	return (ssize_t)k;
}

/* Every record of the input, serialised: line, cells (length-prefixed), then the error. */
static void
read_all(const uint8_t *data, size_t size, size_t step, struct cl_buf *out)
{
	struct feed f = { data, size, 0, step };
	struct bundle_csv c;
	size_t i, bad;
	int rc;

	bundle_csv_init(&c, feed_read, &f);
	while ((rc = bundle_csv_next(&c)) > 0) {
		cl_buf_addf(out, "@%llu:%zu", c.rec_line, c.ncells);
		for (i = 0; i < c.ncells; i++) {
			if (!utf8_ok((const unsigned char *)bundle_csv_cell(&c, i), c.len[i],
			             &bad) ||
			    strlen(bundle_csv_cell(&c, i)) != c.len[i])
				abort();
			cl_buf_addf(out, "|%zu:", c.len[i]);
			cl_buf_add(out, bundle_csv_cell(&c, i), c.len[i]);
		}
	}
	cl_buf_addf(out, "#%d %s", rc, rc < 0 ? c.err : "");
	if (bundle_csv_next(&c) != rc) /* the end, or the error, stays */
		abort();
	bundle_csv_release(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_buf whole = CL_BUF_INIT, bytes = CL_BUF_INIT;

	read_all(data, size, (size_t)-1, &whole);
	read_all(data, size, 1, &bytes);
	if (whole.len != bytes.len || memcmp(whole.p, bytes.p, whole.len) != 0)
		abort();
	cl_buf_release(&whole);
	cl_buf_release(&bytes);
	return 0;
}
