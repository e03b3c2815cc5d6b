/*
 * fuzz_json: libFuzzer harness for the JSON scanner. The input is copied to
 * an allocation of exactly its size, so ASan catches a read past the end. It
 * is scanned with a fixed query (plain, nested and "[]" paths) and every
 * span found is checked and decoded; a broken invariant aborts:
 * - a scan without a result gives the same verdict;
 * - every span lies inside the input and starts as its type says;
 * - a string decodes, compares equal to its decoding, and survives
 *   cl_json_put_str and a second scan unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
	"kind",          "data",  "data.sourcedId", "data.user.sourcedId", "data.terms[].sourcedId",
	"data.grades[]", "a[][]", "data.\xc3\xa9",
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))

static void
check_string(const struct cl_json_span *s, struct cl_buf *dec, struct cl_buf *tmp)
{
	static const char *const one[] = { "k" };
	struct cl_json_query *q;
	struct cl_json_result *r;
	const struct cl_json_span *s2;
	struct cl_buf dec2 = CL_BUF_INIT;
	const char *v;
	size_t vn;

	cl_buf_reset(dec);
	if (cl_json_str(s, dec) != 0)
		abort();
	if (!memchr(dec->p, '\0', dec->len) && !cl_json_str_eq(s, dec->p))
		abort();
	if (cl_json_str_raw(s, &v, &vn) && (vn != dec->len || memcmp(v, dec->p, vn) != 0))
		abort();
	/* written back as JSON, it scans and decodes to the same bytes */
	cl_buf_reset(tmp);
	cl_buf_adds(tmp, "{\"k\":");
	cl_json_put_str(tmp, dec->p, dec->len);
	cl_buf_addc(tmp, '}');
	q = cl_json_query_new(one, 1);
	r = cl_json_result_new(q);
	if (cl_json_scan(q, tmp->p, tmp->len, r, NULL) != 0)
		abort();
	if (!(s2 = cl_json_result_first(r, 0)) || cl_json_str(s2, &dec2) != 0)
		abort();
	if (dec2.len != dec->len || memcmp(dec2.p, dec->p, dec->len) != 0)
		abort();
	cl_buf_release(&dec2);
	cl_json_result_free(r);
	cl_json_query_free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char first[] = {
		[CL_JSON_NULL] = 'n',   [CL_JSON_FALSE] = 'f', [CL_JSON_TRUE] = 't',
		[CL_JSON_STRING] = '"', [CL_JSON_ARRAY] = '[', [CL_JSON_OBJECT] = '{'
	};
	static const char last[] = {
		[CL_JSON_NULL] = 'l',   [CL_JSON_FALSE] = 'e', [CL_JSON_TRUE] = 'e',
		[CL_JSON_STRING] = '"', [CL_JSON_ARRAY] = ']', [CL_JSON_OBJECT] = '}'
	};
	struct cl_buf dec = CL_BUF_INIT, tmp = CL_BUF_INIT;
	struct cl_json_query *q = cl_json_query_new(paths, NPATHS);
	struct cl_json_result *r = cl_json_result_new(q);
	struct cl_json_err err;
	char *p = malloc(size ? size : 1);
	size_t pi, i, n;
	int rc;

	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	rc = cl_json_scan(q, p, size, r, &err);
	if (rc != cl_json_scan(NULL, p, size, NULL, NULL))
		abort();
	if (rc != 0 && (err.off > size || !err.msg))
		abort();
	for (pi = 0; pi < NPATHS; pi++) {
		n = cl_json_result_count(r, pi);
		if (rc != 0 && n != 0)
			abort();
		for (i = 0; i < n; i++) {
			const struct cl_json_span *s = cl_json_result_get(r, pi, i);

			if (s->p < p || s->n == 0 || s->n > size ||
			    (size_t)(s->p - p) > size - s->n)
				abort();
			if (s->type == CL_JSON_NUMBER) {
				if (s->p[0] != '-' && (s->p[0] < '0' || s->p[0] > '9'))
					abort();
			} else if (s->type <= CL_JSON_NONE || s->type > CL_JSON_OBJECT ||
			           s->p[0] != first[s->type] || s->p[s->n - 1] != last[s->type])
				abort();
			if (s->type == CL_JSON_STRING)
				check_string(s, &dec, &tmp);
			else if (cl_json_str(s, &dec) != -1)
				abort();
		}
	}
	cl_buf_release(&dec);
	cl_buf_release(&tmp);
	cl_json_result_free(r);
	cl_json_query_free(q);
	free(p);
	return 0;
}
