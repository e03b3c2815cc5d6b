/* unit_fields: the canonical encoding of reported fields, its hash, and the changed fields. */
#include <string.h>

#include "load.h"
#include "t.h"

static const char *const paths[] = { "a", "l[]" };

/* Encodes {"a":A,"l":[L...]} from the JSON text j the way ingest.c does. */
static void
encode(const char *j, struct cl_buf *out)
{
	struct cl_json_query *q = cl_json_query_new(paths, 2);
	struct cl_json_result *r = cl_json_result_new(q);
	struct cl_buf tmp = CL_BUF_INIT;

	CHECK(cl_json_scan(q, j, strlen(j), r, NULL) == 0);
	load_obj_begin(out);
	load_put_str(out, "a", cl_json_result_first(r, 0), &tmp);
	load_put_list(out, "l", r, 1, &tmp);
	load_obj_end(out);
	cl_buf_release(&tmp);
	cl_json_result_free(r);
	cl_json_query_free(q);
}

/* load_changed over two NUL-terminated texts. */
static int
changed(struct cl_buf *out, enum load_ent e, const char *o, const char *n)
{
	cl_buf_reset(out);
	return load_changed(out, e, o, strlen(o), n, strlen(n));
}

int
main(void)
{
	struct cl_buf a = CL_BUF_INIT, b = CL_BUF_INIT, c = CL_BUF_INIT;

	/* lists: sorted in byte order, duplicates and empty strings and non-strings dropped */
	encode("{\"a\":\"x\",\"l\":[\"10\",\"09\",\"\",\"10\",7,\"9\"]}", &a);
	CHECK_STR(a.p, "{\"a\":\"x\",\"l\":[\"09\",\"10\",\"9\"]}");
	/* the order of a list and escapes that decode the same change nothing */
	encode("{\"l\":[\"9\",\"10\",\"09\"],\"a\":\"\\u0078\"}", &b);
	CHECK_STR(b.p, a.p);
	CHECK(load_hash(a.p, a.len) == load_hash(b.p, b.len));
	/* absent and non-string scalars are "" */
	encode("{\"a\":null}", &c);
	CHECK_STR(c.p, "{\"a\":\"\",\"l\":[]}");
	encode("{}", &b);
	CHECK_STR(b.p, c.p);
	/* non-ASCII, quotes and control characters survive, re-encoded one way */
	encode("{\"a\":\"Jos\\u00e9 \\\"J\\\"\\t\",\"l\":[\"\xc3\xa9\",\"e\"]}", &b);
	CHECK_STR(b.p, "{\"a\":\"Jos\xc3\xa9 \\\"J\\\"\\t\",\"l\":[\"e\",\"\xc3\xa9\"]}");
	CHECK(load_hash(a.p, a.len) != load_hash(b.p, b.len));
	/* a long list (over the small buffer) */
	encode("{\"l\":[\"q\",\"p\",\"o\",\"n\",\"m\",\"l\",\"k\",\"j\",\"i\",\"h\",\"g\",\"f\","
	       "\"e\","
	       "\"d\",\"c\",\"b\",\"a\",\"a\"]}",
	       &b);
	CHECK_STR(b.p, "{\"a\":\"\",\"l\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\","
	               "\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}");

	/* changed fields: only those that differ, old and new, in field order */
	CHECK(changed(&c, LOAD_MEMBER, "{\"sm_id\":\"1\",\"role\":\"student\"}",
	              "{\"sm_id\":\"2\",\"role\":\"student\"}") == 1);
	CHECK_STR(c.p, "\"sm_id\":{\"old\":\"1\",\"new\":\"2\"}");
	CHECK(changed(&c, LOAD_CLASS, "{\"title\":\"A\",\"terms\":[\"1\"]}",
	              "{\"title\":\"B\",\"terms\":[\"1\",\"2\"],\"periods\":[]}") == 3);
	CHECK_STR(
	        c.p,
	        "\"title\":{\"old\":\"A\",\"new\":\"B\"},\"terms\":{\"old\":[\"1\"],\"new\":[\"1\","
	        "\"2\"]},\"periods\":{\"old\":null,\"new\":[]}");
	cl_buf_reset(&c);
	CHECK(load_changed(&c, LOAD_REL, "{\"sm_id\":\"1\"}", 13, "{\"sm_id\":\"1\"}", 13) == 0);
	CHECK(c.len == 0);

	load_fields_release();
	cl_buf_release(&a);
	cl_buf_release(&b);
	cl_buf_release(&c);
	return t_failures ? 1 : 0;
}
