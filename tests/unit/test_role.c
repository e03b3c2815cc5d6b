/*
 * test_role: cl_user_role's rule (lib/role.h) on single records, the way a
 * stream reader asks, and on a page of records one pass reads, the way
 * cl-fetch asks: 1.1's role; 1.2's primary role at the primaryOrg, else the
 * first primary, else the first; elements that are not roles.
 */
#include <string.h>

#include "buf.h"
#include "role.h"
#include "t.h"

/* The role chosen for the one record at "data" in j, and its name ("" for none). */
static enum cl_role
one(const char *j, struct cl_buf *name)
{
	const char *paths[1 + CL_RP_COUNT];
	struct cl_buf b[CL_RP_COUNT];
	size_t idx[CL_RP_COUNT];
	struct cl_json_query *q;
	struct cl_json_result *r;
	struct cl_role_scan s;
	const struct cl_json_span *n = NULL;
	enum cl_role role = CL_ROLE_NONE;
	int i;

	paths[0] = "data";
	for (i = 0; i < CL_RP_COUNT; i++) {
		cl_buf_init(&b[i]);
		cl_buf_addf(&b[i], "data.%s", cl_role_suffix[i]);
		paths[1 + i] = b[i].p;
		idx[i] = 1 + (size_t)i;
	}
	q = cl_json_query_new(paths, 1 + CL_RP_COUNT);
	r = cl_json_result_new(q);
	cl_buf_reset(name);
	if (cl_json_scan(q, j, strlen(j), r, NULL) == 0) {
		cl_role_scan_init(&s, r, idx);
		role = cl_user_role(&s, cl_json_result_first(r, 0), &n);
		if (n)
			cl_json_str(n, name);
	}
	cl_json_result_free(r);
	cl_json_query_free(q);
	for (i = 0; i < CL_RP_COUNT; i++)
		cl_buf_release(&b[i]);
	return role;
}

#define ORG(id) "{\"href\":\"\",\"sourcedId\":\"" id "\",\"type\":\"org\"}"
#define ROLE(type, role, org) \
	"{\"roleType\":\"" type "\",\"role\":\"" role "\",\"org\":" ORG(org) "}"

static void
records(void)
{
	struct cl_buf n = CL_BUF_INIT;

	/* 1.1 */
	CHECK_INT(one("{\"data\":{\"role\":\"student\"}}", &n), CL_ROLE_STUDENT);
	CHECK_STR(n.p, "student");
	CHECK_INT(one("{\"data\":{\"role\":\"guardian\"}}", &n), CL_ROLE_PARENT);
	CHECK_INT(one("{\"data\":{\"role\":\"aide\"}}", &n), CL_ROLE_OTHER);
	CHECK_INT(one("{\"data\":{\"sourcedId\":\"1\"}}", &n), CL_ROLE_OTHER);
	CHECK_STR(n.p, "");
	CHECK_INT(one("{\"data\":{\"role\":7}}", &n), CL_ROLE_OTHER);
	CHECK_STR(n.p, "");
	/* 1.2: one primary role */
	CHECK_INT(one("{\"data\":{\"roles\":[" ROLE("primary", "teacher", "2") "]}}", &n),
	          CL_ROLE_TEACHER);
	/* a secondary role listed first is not the role */
	CHECK_INT(one("{\"data\":{\"roles\":[" ROLE("secondary", "aide", "2") "," ROLE(
	                      "primary", "guardian", "2") "],\"primaryOrg\":" ORG("2") "}}",
	              &n),
	          CL_ROLE_PARENT);
	CHECK_STR(n.p, "guardian");
	/* two primaries: the one at the primaryOrg, wherever primaryOrg lies in the record */
	CHECK_INT(one("{\"data\":{\"roles\":[" ROLE("primary", "aide", "3") "," ROLE(
	                      "primary", "student", "2") "],\"primaryOrg\":" ORG("2") "}}",
	              &n),
	          CL_ROLE_STUDENT);
	CHECK_INT(one("{\"data\":{\"primaryOrg\":" ORG("2") ",\"roles\":[" ROLE(
	                      "primary", "aide", "3") "," ROLE("primary", "student", "2") "]}}",
	              &n),
	          CL_ROLE_STUDENT);
	/* no primary at the primaryOrg (or none given): the first primary */
	CHECK_INT(one("{\"data\":{\"roles\":[" ROLE("secondary", "student", "2") "," ROLE(
	                      "primary", "teacher",
	                      "3") "," ROLE("primary", "aide", "2") "],"
	                                                            "\"primaryOrg\":" ORG("9") "}}",
	              &n),
	          CL_ROLE_TEACHER);
	CHECK_INT(one("{\"data\":{\"roles\":[" ROLE("primary", "teacher", "3") "," ROLE(
	                      "primary", "aide", "2") "],\"primaryOrg\":null}}",
	              &n),
	          CL_ROLE_TEACHER);
	/* no primary at all: the first role */
	CHECK_INT(one("{\"data\":{\"roles\":[" ROLE("secondary", "relative", "3") "," ROLE(
	                      "secondary", "student", "2") "]}}",
	              &n),
	          CL_ROLE_PARENT);
	CHECK_STR(n.p, "relative");
	/* roles wins over role; roles naming nothing leaves role */
	CHECK_INT(one("{\"data\":{\"role\":\"teacher\",\"roles\":[" ROLE("primary", "student",
	                                                                 "2") "]}}",
	              &n),
	          CL_ROLE_STUDENT);
	CHECK_INT(one("{\"data\":{\"role\":\"teacher\",\"roles\":[]}}", &n), CL_ROLE_TEACHER);
	CHECK_INT(one("{\"data\":{\"role\":\"teacher\",\"roles\":[\"student\",7,{\"roleType\":"
	              "\"primary\"},{\"roleType\":\"primary\",\"role\":3}]}}",
	              &n),
	          CL_ROLE_TEACHER);
	CHECK_INT(one("{\"data\":{\"role\":\"teacher\",\"roles\":\"student\"}}", &n),
	          CL_ROLE_TEACHER);
	/* a role's fields belong to their element only: a roleType in the next one is not its */
	CHECK_INT(one("{\"data\":{\"roles\":[{\"role\":\"aide\"},{\"roleType\":\"primary\","
	              "\"role\":\"student\"}]}}",
	              &n),
	          CL_ROLE_STUDENT);
	/* an escaped role string is decoded */
	CHECK_INT(one("{\"data\":{\"roles\":[{\"roleType\":\"prim\\u0061ry\",\"role\":"
	              "\"p\\u0061rent\"}]}}",
	              &n),
	          CL_ROLE_PARENT);
	CHECK_STR(n.p, "parent");
	cl_buf_release(&n);
}

/* A page of users, each asked in turn on one pass (as fetch/page.c does). */
static void
page(void)
{
	/* one record a line */
	/* clang-format off */
	static const char body[] =
	        "{\"users\":["
	        "{\"sourcedId\":\"a\",\"role\":\"guardian\"},"
	        "{\"sourcedId\":\"b\",\"roles\":[" ROLE("secondary", "guardian", "2") "," ROLE("primary", "student", "2") "],\"primaryOrg\":" ORG("2") "},"
	        "{\"sourcedId\":\"c\"},"
	        "{\"sourcedId\":\"d\",\"roles\":[" ROLE("primary", "teacher", "3") "," ROLE("primary", "parent", "2") "],\"primaryOrg\":" ORG("2") "},"
	        "{\"sourcedId\":\"e\",\"roles\":[{\"role\":\"relative\"}]},"
	        "{\"sourcedId\":\"f\",\"role\":\"teacher\"}"
	        "]}";
	/* clang-format on */
	static const enum cl_role want[] = { CL_ROLE_PARENT, CL_ROLE_STUDENT, CL_ROLE_OTHER,
		                             CL_ROLE_PARENT, CL_ROLE_PARENT,  CL_ROLE_TEACHER };
	const char *paths[1 + CL_RP_COUNT];
	struct cl_buf b[CL_RP_COUNT];
	size_t idx[CL_RP_COUNT], i, n;
	struct cl_json_query *q;
	struct cl_json_result *r;
	struct cl_role_scan s;
	int k;

	paths[0] = "users[]";
	for (k = 0; k < CL_RP_COUNT; k++) {
		cl_buf_init(&b[k]);
		cl_buf_addf(&b[k], "users[].%s", cl_role_suffix[k]);
		paths[1 + k] = b[k].p;
		idx[k] = 1 + (size_t)k;
	}
	q = cl_json_query_new(paths, 1 + CL_RP_COUNT);
	r = cl_json_result_new(q);
	CHECK(cl_json_scan(q, body, sizeof body - 1, r, NULL) == 0);
	cl_role_scan_init(&s, r, idx);
	n = cl_json_result_count(r, 0);
	CHECK_INT(n, sizeof want / sizeof *want);
	for (i = 0; i < n && i < sizeof want / sizeof *want; i++)
		CHECK_INT(cl_user_role(&s, cl_json_result_get(r, 0, i), NULL), want[i]);
	cl_json_result_free(r);
	cl_json_query_free(q);
	for (k = 0; k < CL_RP_COUNT; k++)
		cl_buf_release(&b[k]);
}

int
main(void)
{
	records();
	page();
	return T_DONE();
}
