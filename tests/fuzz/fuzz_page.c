/*
 * fuzz_page: libFuzzer harness for cl-fetch's page parser (fetch/page.c,
 * included below): a page body, copied to an allocation of exactly its
 * size so that ASan catches a read past the end, parsed as a page of users.
 * A broken invariant aborts:
 * - every span lies inside the body, its sourcedId inside the record;
 * - each record, minified, scans again as one JSON object whose sourcedId
 *   is the same bytes (fetch_page_minify changes no string), and a record
 *   said compact is minified to itself;
 * - a body that is not a page gives the same verdict twice (the parser
 *   keeps no state between pages), and FETCH_PAGE_NOT_ENVELOPE comes with
 *   what the body is.
 */
#define _GNU_SOURCE /* memfd_create, in fuzz.h */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../fetch/page.c"
#include "fuzz.h"

static void
check_record(const char *rec, size_t n, const struct fetch_page_span *sp, struct cl_buf *min)
{
	static const char *const id[] = { "sourcedId" };
	struct cl_json_query *q = cl_json_query_new(id, 1);
	struct cl_json_result *r = cl_json_result_new(q);
	const struct cl_json_span *s;

	cl_buf_reset(min);
	fetch_page_minify(min, rec, n);
	if (min->len > n || min->len == 0 || min->p[0] != '{' || min->p[min->len - 1] != '}')
		abort();
	if (sp->compact && (min->len != n || memcmp(min->p, rec, n) != 0))
		abort();
	if (cl_json_scan(q, min->p, min->len, r, NULL) != 0)
		abort();
	if (sp->id_n) {
		s = cl_json_result_first(r, 0);
		if (!s || s->type != CL_JSON_STRING || s->n != sp->id_n + 2 ||
		    memcmp(s->p + 1, rec + sp->id_off, sp->id_n) != 0)
			abort();
	}
	cl_json_result_free(r);
	cl_json_query_free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fetch_page_parser pp;
	static int ready;
	struct fetch_page_span *spans = NULL;
	struct cl_buf min = CL_BUF_INIT;
	const char *where = NULL, *where2 = NULL;
	size_t nspans = 0, cap = 0, nspans2 = 0, i;
	char *p = malloc(size ? size : 1);
	int rc, rc2;

	if (!p)
		return 0;
	if (!ready) {
		fetch_page_parser_init(&pp, "users");
		ready = 1;
	}
	if (size)
		memcpy(p, data, size);
	rc = fetch_page_parse(&pp, p, size, &spans, &nspans, &cap, &where);
	if (rc == FETCH_PAGE_OK) {
		for (i = 0; i < nspans; i++) {
			const struct fetch_page_span *sp = &spans[i];

			if (sp->n < 2 || sp->off > size || sp->n > size - sp->off)
				abort();
			if (sp->id_n && (sp->id_off < 1 || sp->id_off + sp->id_n >= sp->n))
				abort();
			check_record(p + sp->off, sp->n, sp, &min);
		}
	} else {
		if (nspans > 0 && rc != FETCH_PAGE_NOT_OBJECT)
			abort();
		if ((rc == FETCH_PAGE_MALFORMED || rc == FETCH_PAGE_NOT_ENVELOPE) && !where)
			abort();
		rc2 = fetch_page_parse(&pp, p, size, &spans, &nspans2, &cap, &where2);
		if (rc2 != rc || (where && (!where2 || strcmp(where, where2) != 0)))
			abort();
	}
	cl_buf_release(&min);
	free(spans);
	free(p);
	return 0;
}
