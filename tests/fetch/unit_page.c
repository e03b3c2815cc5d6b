/* unit_page.c: finding a page's records, and making each a minified stream value. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "page.h"
#include "t.h"

static int
parse(const char *env, const char *body, struct fetch_page_span **sp, size_t *n)
{
	struct fetch_page_parser p;
	size_t cap = 0;
	int rc;

	*n = 0;
	fetch_page_parser_init(&p, env);
	rc = fetch_page_parse(&p, body, strlen(body), sp, n, &cap, NULL);
	fetch_page_parser_release(&p);
	return rc;
}

static void
pages(void)
{
	struct fetch_page_span *sp = NULL;
	size_t n;
	const char *b;

	b = "{\"users\":[{\"sourcedId\":\"1\"},{\"sourcedId\":\"2\",\"x\":[1,{\"y\":2}]}]}";
	CHECK_INT(parse("users", b, &sp, &n), FETCH_PAGE_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK(!strncmp(b + sp[0].off, "{\"sourcedId\":\"1\"}", sp[0].n));
		CHECK_INT(sp[1].n, strlen("{\"sourcedId\":\"2\",\"x\":[1,{\"y\":2}]}"));
	}
	CHECK_INT(parse("users", " {\"users\" : [ ] } \n", &sp, &n), FETCH_PAGE_OK);
	CHECK_INT(n, 0);
	/* the envelope of another collection, or none: an error, never "no data" */
	CHECK_INT(parse("users", "{\"orgs\":[]}", &sp, &n), FETCH_PAGE_NO_ENVELOPE);
	CHECK_INT(parse("users", "{}", &sp, &n), FETCH_PAGE_NO_ENVELOPE);
	CHECK_INT(parse("users", "{\"users\":null}", &sp, &n), FETCH_PAGE_NOT_ARRAY);
	CHECK_INT(parse("users", "{\"users\":{}}", &sp, &n), FETCH_PAGE_NOT_ARRAY);
	CHECK_INT(parse("users", "{\"users\":[1]}", &sp, &n), FETCH_PAGE_NOT_OBJECT);
	/* cut short, or not JSON */
	CHECK_INT(parse("users", "{\"users\":[{\"sourcedId\":\"1\"},{\"sou", &sp, &n),
	          FETCH_PAGE_MALFORMED);
	CHECK_INT(parse("users", "", &sp, &n), FETCH_PAGE_MALFORMED);
	CHECK_INT(parse("users", "<html>502 Bad Gateway</html>", &sp, &n), FETCH_PAGE_MALFORMED);
	CHECK_INT(parse("users", "[]", &sp, &n), FETCH_PAGE_NOT_ENVELOPE);
	CHECK_INT(parse("users", " [{\"users\":[]}]\n", &sp, &n), FETCH_PAGE_NOT_ENVELOPE);
	CHECK_INT(parse("users", "\"users\"", &sp, &n), FETCH_PAGE_NOT_ENVELOPE);
	CHECK_INT(parse("users", "null", &sp, &n), FETCH_PAGE_NOT_ENVELOPE);
	CHECK_INT(parse("users", "[1,", &sp, &n), FETCH_PAGE_MALFORMED);
	CHECK_INT(parse("users", "[] []", &sp, &n), FETCH_PAGE_MALFORMED);
	CHECK_INT(parse("users", "nul", &sp, &n), FETCH_PAGE_MALFORMED);
	CHECK_INT(parse("users", "1,\"v\":2", &sp, &n), FETCH_PAGE_MALFORMED);
	CHECK_INT(parse("users", "1},{\"v\":2", &sp, &n), FETCH_PAGE_MALFORMED);
	CHECK_INT(parse("users", "{\"users\":[]} {}", &sp, &n), FETCH_PAGE_MALFORMED);
	/* the scan finds each record's own sourcedId and role, and which need minifying */
	b = "{\"users\":[{\"sourcedId\":\"u1\",\"role\":\"guardian\",\"agents\":[{\"sourcedId\":"
	    "\"s\",\"role\":\"student\"}]},{\"x\":{\"sourcedId\":\"n\",\"role\":\"parent\"}},"
	    "{\"role\":\"student\",\"name\":\"a b\",\"sourcedId\":\"u3\",\"sourcedId\":\"u4\"}]}";
	CHECK_INT(parse("users", b, &sp, &n), FETCH_PAGE_OK);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_INT(sp[0].id_n, 2);
		CHECK(!strncmp(b + sp[0].off + sp[0].id_off, "u1", 2));
		CHECK_INT(sp[0].parent, 1);
		CHECK_INT(sp[0].compact, 1);
		CHECK_INT(sp[1].id_n, 0);
		CHECK_INT(sp[1].parent, 0);
		CHECK(!strncmp(b + sp[2].off + sp[2].id_off, "u4", 2)); /* the last one, as jq */
		CHECK_INT(sp[2].parent, 0);
		CHECK_INT(sp[2].compact, 1); /* its space is inside a string */
	}
	CHECK_INT(parse("users", "{\"users\":[{\"sourcedId\":\"1\"},\n{\"sourcedId\":\"2\"}]}", &sp,
	                &n),
	          FETCH_PAGE_OK);
	CHECK_INT(n, 2);
	if (n == 2)
		CHECK_INT(sp[0].compact, 0); /* a page with line ends: every record is minified */
	/* spaces between tokens in one record: that one is minified, the others not */
	CHECK_INT(parse("users", "{\"users\":[{\"a\":1},{\"b\": 2}]}", &sp, &n), FETCH_PAGE_OK);
	CHECK_INT(n, 2);
	if (n == 2)
		CHECK(sp[0].compact && !sp[1].compact);
	/* a compact page: every record is, spaces inside strings or not */
	CHECK_INT(parse("users", "{\"users\":[{\"sourcedId\":\"1 2\"},{\"t\":\"\\n\"}]}\r\n", &sp,
	                &n),
	          FETCH_PAGE_OK);
	CHECK_INT(n, 2);
	if (n == 2)
		CHECK(sp[0].compact && sp[1].compact);
	/* a nested "users" key is not the envelope */
	CHECK_INT(parse("users", "{\"data\":{\"users\":[]}}", &sp, &n), FETCH_PAGE_NO_ENVELOPE);
	free(sp);
}

/* fetch_page_minify's output for record in; fetch_page_parse's sourcedId and role of it, as a page
 */
static void
minify_one(const char *in, const char *want, const char *id, int parent)
{
	struct cl_buf b = CL_BUF_INIT, page = CL_BUF_INIT;
	struct fetch_page_span *sp = NULL;
	size_t n;

	fetch_page_minify(&b, in, strlen(in));
	CHECK_STR(b.p, want);
	cl_buf_addf(&page, "{\"users\":[%s]}", in);
	CHECK_INT(parse("users", page.p, &sp, &n), FETCH_PAGE_OK);
	if (n == 1) {
		CHECK_INT(sp[0].compact, !strcmp(in, want));
		CHECK_INT(sp[0].id_n, strlen(id));
		CHECK(!strncmp(page.p + sp[0].off + sp[0].id_off, id, sp[0].id_n));
		CHECK_INT(sp[0].parent, parent);
	} else {
		CHECK_INT(n, 1);
	}
	free(sp);
	cl_buf_release(&page);
	cl_buf_release(&b);
}

static void
minify(void)
{
	struct cl_buf b = CL_BUF_INIT;

	minify_one("{ \"sourcedId\" : \"u 1\" ,\n\t\"role\": \"guardian\", \"name\": \"a \\\" "
	           "b\\\\\" ,"
	           " \"agents\": [ {\"sourcedId\": \"x\", \"role\": \"parent\"} ] }",
	           "{\"sourcedId\":\"u 1\",\"role\":\"guardian\",\"name\":\"a \\\" b\\\\\","
	           "\"agents\":[{\"sourcedId\":\"x\",\"role\":\"parent\"}]}",
	           "u 1", 1);
	/* nested roles and IDs do not count; the record's own do */
	minify_one("{\"agents\":[{\"sourcedId\":\"p\",\"role\":\"parent\"}],\"role\":\"student\","
	           "\"sourcedId\":\"s\"}",
	           "{\"agents\":[{\"sourcedId\":\"p\",\"role\":\"parent\"}],\"role\":\"student\","
	           "\"sourcedId\":\"s\"}",
	           "s", 0);
	/* a value that only looks like the key; a non-string sourcedId; relative */
	minify_one("{\"x\":\"sourcedId\", \"sourcedId\":12,\"role\":\"relative\"}",
	           "{\"x\":\"sourcedId\",\"sourcedId\":12,\"role\":\"relative\"}", "", 1);
	/* strings with escaped quotes and whitespace inside stay as they are */
	minify_one("{ \"sourcedId\":\"a\\\\\" , \"t\" : \" x \\\" y \" }",
	           "{\"sourcedId\":\"a\\\\\",\"t\":\" x \\\" y \"}", "a\\\\", 0);
	/* appended after what the buffer holds */
	cl_buf_adds(&b, "{\"kind\":\"user\",\"data\":");
	fetch_page_minify(&b, "{ \"a\": [ 1 , true ] }", 22);
	CHECK_STR(b.p, "{\"kind\":\"user\",\"data\":{\"a\":[1,true]}");
	cl_buf_release(&b);
}

int
main(void)
{
	pages();
	minify();
	return T_DONE();
}
