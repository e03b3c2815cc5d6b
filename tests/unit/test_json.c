/* test_json.c: unit tests for the JSON scanner (lib/json.c) over tricky input. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "t.h"

/* The paths every test scans for, by index. */
enum {
	P_KIND,
	P_SID,
	P_DATA_SID,
	P_USER_SID,
	P_TERMS,
	P_GRADES,
	P_ORGS,
	P_ROLE,
	P_QUOTE,
	P_BSLASH,
	P_EACUTE,
	P_ARR,
	P_DATA,
	NPATHS
};

static const char *const paths[NPATHS] = {
	"kind",
	"sourcedId",
	"data.sourcedId",
	"data.user.sourcedId",
	"data.terms[].sourcedId",
	"data.grades[]",
	"data.orgs",
	"data.role",
	"data.a\"b",
	"data.a\\b",
	"data.\xc3\xa9t\xc3\xa9",
	"m[][]",
	"data",
};

static struct cl_json_query *q;
static struct cl_json_result *r;
static struct cl_json_err e;
static struct cl_buf sb = CL_BUF_INIT;

static int
scan(const char *line)
{
	e.off = (size_t)-1;
	e.msg = NULL;
	return cl_json_scan(q, line, strlen(line), r, &e);
}

/* The decoded i-th string of path, or "(none)" / "(type N)". */
static const char *
str(size_t path, size_t i)
{
	const struct cl_json_span *s;

	if (i >= cl_json_result_count(r, path))
		return "(none)";
	s = cl_json_result_get(r, path, i);
	cl_buf_reset(&sb);
	if (cl_json_str(s, &sb) != 0) {
		cl_buf_addf(&sb, "(type %d)", (int)s->type);
		return sb.p;
	}
	return sb.len ? sb.p : "";
}

/* The raw bytes of the i-th span of path. */
static const char *
raw(size_t path, size_t i)
{
	const struct cl_json_span *s;

	if (i >= cl_json_result_count(r, path))
		return "(none)";
	s = cl_json_result_get(r, path, i);
	cl_buf_reset(&sb);
	cl_buf_add(&sb, s->p, s->n);
	return sb.p;
}

static int
type(size_t path)
{
	const struct cl_json_span *s = cl_json_result_first(r, path);

	return s ? (int)s->type : CL_JSON_NONE;
}

/* The line is invalid, with the given error offset. */
#define BAD(l, o)                                                            \
	do {                                                                 \
		CHECK_INT(scan(l), -1);                                      \
		CHECK_INT(e.off, o);                                         \
		CHECK(e.msg != NULL);                                        \
		CHECK_INT(cl_json_result_count(r, P_KIND), 0);               \
		CHECK_INT(cl_json_scan(NULL, l, strlen(l), NULL, NULL), -1); \
	} while (0)

#define BADMSG(l, o, m)              \
	do {                         \
		BAD(l, o);           \
		CHECK_STR(e.msg, m); \
	} while (0)

#define GOOD(l)                                                                \
	do {                                                                   \
		CHECK_INT(scan(l), 0);                                         \
		if (e.msg)                                                     \
			fprintf(stderr, "  %s at %zu: %s\n", e.msg, e.off, l); \
		CHECK_INT(cl_json_scan(NULL, l, strlen(l), NULL, NULL), 0);    \
	} while (0)

static void
test_escapes(void)
{
	GOOD("{\"kind\":\"us\\\"er\",\"sourcedId\":\"a\\\\b\"}");
	CHECK_STR(str(P_KIND, 0), "us\"er");
	CHECK_STR(str(P_SID, 0), "a\\b");
	CHECK_STR(raw(P_KIND, 0), "\"us\\\"er\"");

	GOOD("{\"kind\":\"caf\\u00e9\",\"sourcedId\":\"\\ud83d\\ude00\"}");
	CHECK_STR(str(P_KIND, 0), "caf\xc3\xa9");
	CHECK_STR(str(P_SID, 0), "\xf0\x9f\x98\x80");
	CHECK(cl_json_str_eq(cl_json_result_first(r, P_KIND), "caf\xc3\xa9"));
	CHECK(!cl_json_str_eq(cl_json_result_first(r, P_KIND), "caf"));
	CHECK(!cl_json_str_eq(cl_json_result_first(r, P_KIND), "caf\xc3\xa9x"));

	/* every simple escape, and \u escapes of ASCII and of control characters */
	GOOD("{\"kind\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u001f\\u0000z\"}");
	CHECK_INT(cl_json_str(cl_json_result_first(r, P_KIND), (cl_buf_reset(&sb), &sb)), 0);
	CHECK_INT(sb.len, 12);
	CHECK(memcmp(sb.p, "\"\\/\b\f\n\r\tA\x1f\0z", 12) == 0);
	CHECK(!cl_json_str_eq(cl_json_result_first(r, P_KIND), "\"\\/\b\f\n\r\tA\x1f"));

	/* lone surrogates are valid syntax; they decode to U+FFFD */
	GOOD("{\"kind\":\"\\ud800\",\"sourcedId\":\"x\\udc00y\\ud83dz\"}");
	CHECK_STR(str(P_KIND, 0), "\xef\xbf\xbd");
	CHECK_STR(str(P_SID, 0), "x\xef\xbf\xbdy\xef\xbf\xbdz");
	/* a high surrogate followed by a non-low one: two characters */
	GOOD("{\"kind\":\"\\ud83d\\u0041\",\"sourcedId\":\"\\ude00\\ud83d\"}");
	CHECK_STR(str(P_KIND, 0), "\xef\xbf\xbd"
	                          "A");
	CHECK_STR(str(P_SID, 0), "\xef\xbf\xbd\xef\xbf\xbd");
	/* the highest code point, upper-case hex */
	GOOD("{\"kind\":\"\\uDBFF\\uDFFF\\u20AC\"}");
	CHECK_STR(str(P_KIND, 0), "\xf4\x8f\xbf\xbf\xe2\x82\xac");

	/* raw UTF-8 of every length, and DEL */
	GOOD("{\"kind\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\xef\xbf\xbf\xf4\x8f\xbf\xbf\"}");
	CHECK_STR(str(P_KIND, 0),
	          "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\xef\xbf\xbf\xf4\x8f\xbf\xbf");

	/* an escaped quote right before the closing one, backslash pairs */
	GOOD("{\"kind\":\"\\\\\",\"sourcedId\":\"\\\\\\\"\"}");
	CHECK_STR(str(P_KIND, 0), "\\");
	CHECK_STR(str(P_SID, 0), "\\\"");
	/* long strings exercise the eight-bytes-at-a-time path at every alignment */
	GOOD("{\"kind\":\"0123456789abcdef0123456789abcdef\\\"0123456789abcdefg\"}");
	CHECK_STR(str(P_KIND, 0), "0123456789abcdef0123456789abcdef\"0123456789abcdefg");
	GOOD("{\"kind\":\"0123456\xc3\xa9"
	     "9abcdef\\n\"}");
	CHECK_STR(str(P_KIND, 0), "0123456\xc3\xa9"
	                          "9abcdef\n");
}

static void
test_str_helpers(void)
{
	const char *v;
	size_t vn;
	struct cl_json_span s;

	GOOD("{\"kind\":\"user\",\"sourcedId\":\"a\\u0062c\",\"data\":{\"role\":7}}");
	CHECK(cl_json_str_eq(cl_json_result_first(r, P_KIND), "user"));
	CHECK(!cl_json_str_eq(cl_json_result_first(r, P_KIND), "use"));
	CHECK(!cl_json_str_eq(cl_json_result_first(r, P_KIND), "users"));
	CHECK(!cl_json_str_eq(cl_json_result_first(r, P_KIND), ""));
	CHECK(cl_json_str_eq(cl_json_result_first(r, P_SID), "abc"));
	CHECK(!cl_json_str_eq(cl_json_result_first(r, P_SID), "ab"));
	CHECK(!cl_json_str_eq(cl_json_result_first(r, P_SID), "a\\u0062c"));
	CHECK(!cl_json_str_eq(cl_json_result_first(r, P_ROLE), "7"));
	CHECK(!cl_json_str_eq(NULL, "x"));
	CHECK(cl_json_str_raw(cl_json_result_first(r, P_KIND), &v, &vn));
	CHECK_INT(vn, 4);
	CHECK(memcmp(v, "user", 4) == 0);
	CHECK(!cl_json_str_raw(cl_json_result_first(r, P_SID), &v, &vn));
	CHECK(!cl_json_str_raw(cl_json_result_first(r, P_ROLE), &v, &vn));
	CHECK(!cl_json_str_raw(NULL, &v, &vn));
	cl_buf_reset(&sb);
	cl_buf_adds(&sb, "keep");
	CHECK_INT(cl_json_str(cl_json_result_first(r, P_ROLE), &sb), -1);
	CHECK_INT(cl_json_str(NULL, &sb), -1);
	CHECK_STR(sb.p, "keep");
	/* cl_json_str appends */
	CHECK_INT(cl_json_str(cl_json_result_first(r, P_KIND), &sb), 0);
	CHECK_STR(sb.p, "keepuser");

	GOOD("{\"kind\":\"\"}");
	CHECK(cl_json_str_eq(cl_json_result_first(r, P_KIND), ""));
	CHECK(cl_json_str_raw(cl_json_result_first(r, P_KIND), &v, &vn));
	CHECK_INT(vn, 0);

	/* a hand-made span with a broken escape decodes without reading past it */
	s.p = "\"a\\u12\"";
	s.n = 7;
	s.type = CL_JSON_STRING;
	cl_buf_reset(&sb);
	CHECK_INT(cl_json_str(&s, &sb), 0);
	CHECK_STR(sb.p, "a\\u12");
}

static void
test_put_str(void)
{
	static const char *const cases[] = {
		"",
		"plain",
		"quote \" backslash \\ slash /",
		"\b\f\n\r\t\x01\x1f\x7f",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"ends with backslash \\",
	};
	struct cl_buf out = CL_BUF_INIT, line = CL_BUF_INIT, dec = CL_BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cl_buf_reset(&out);
		cl_json_put_str(&out, cases[i], strlen(cases[i]));
		cl_buf_reset(&line);
		cl_buf_adds(&line, "{\"kind\":");
		cl_buf_add(&line, out.p, out.len);
		cl_buf_adds(&line, "}");
		GOOD(line.p);
		cl_buf_reset(&dec);
		CHECK_INT(cl_json_str(cl_json_result_first(r, P_KIND), &dec), 0);
		CHECK_STR(dec.p, cases[i]);
		CHECK(cl_json_str_eq(cl_json_result_first(r, P_KIND), cases[i]));
	}
	cl_buf_reset(&out);
	cl_json_put_str(&out, "a\"\\\n\t\x01\x1f", 7);
	CHECK_STR(out.p, "\"a\\\"\\\\\\n\\t\\u0001\\u001f\"");
	/* NUL inside */
	cl_buf_reset(&out);
	cl_json_put_str(&out, "a\0b", 3);
	CHECK_STR(out.p, "\"a\\u0000b\"");
	/* invalid UTF-8 becomes U+FFFD, so the output stays valid JSON */
	cl_buf_reset(&out);
	cl_json_put_str(&out, "x\xff\xc0\xaf\xed\xa0\x80y\xe2\x82", 10);
	CHECK_STR(out.p, "\"x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                 "\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd\"");
	/* appends */
	cl_buf_reset(&out);
	cl_buf_adds(&out, "[");
	cl_json_put_str(&out, "a", 1);
	CHECK_STR(out.p, "[\"a\"");
	cl_buf_release(&out);
	cl_buf_release(&line);
	cl_buf_release(&dec);
}

static void
test_paths(void)
{
	/* the same key at several depths, keys in any order */
	GOOD("{\"data\":{\"user\":{\"sourcedId\":\"U\"},\"sourcedId\":\"D\"},\"sourcedId\":\"T\","
	     "\"kind\":\"enrollment\"}");
	CHECK_STR(str(P_SID, 0), "T");
	CHECK_STR(str(P_DATA_SID, 0), "D");
	CHECK_STR(str(P_USER_SID, 0), "U");
	CHECK_STR(str(P_KIND, 0), "enrollment");
	CHECK_INT(cl_json_result_count(r, P_SID), 1);
	CHECK_INT(type(P_DATA), CL_JSON_OBJECT);
	CHECK_STR(raw(P_DATA, 0), "{\"user\":{\"sourcedId\":\"U\"},\"sourcedId\":\"D\"}");

	/* the same names nested where no path goes */
	GOOD("{\"x\":{\"sourcedId\":\"no\",\"data\":{\"sourcedId\":\"no\"}},\"kind\":\"k\"}");
	CHECK_INT(cl_json_result_count(r, P_SID), 0);
	CHECK_INT(cl_json_result_count(r, P_DATA_SID), 0);
	CHECK_STR(str(P_KIND, 0), "k");

	/* whitespace everywhere */
	GOOD(" \t\r\n{ \"kind\" :\t\"user\" ,\r\n \"data\"\n:\n{ \"terms\" : [ { \"sourcedId\" : "
	     "\"t1\" } "
	     ", { \"sourcedId\":\"t2\"}\t] , \"grades\" : [ ] } } \r\n\t ");
	CHECK_STR(str(P_KIND, 0), "user");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 2);
	CHECK_STR(str(P_TERMS, 0), "t1");
	CHECK_STR(str(P_TERMS, 1), "t2");
	CHECK_INT(cl_json_result_count(r, P_GRADES), 0);

	/* missing: NONE; null and non-strings keep their type */
	GOOD("{\"kind\":null,\"sourcedId\":-1.5e3,\"data\":{\"role\":true,\"orgs\":false}}");
	CHECK_INT(type(P_KIND), CL_JSON_NULL);
	CHECK_INT(type(P_SID), CL_JSON_NUMBER);
	CHECK_STR(raw(P_SID, 0), "-1.5e3");
	CHECK_INT(type(P_ROLE), CL_JSON_TRUE);
	CHECK_INT(type(P_ORGS), CL_JSON_FALSE);
	CHECK_INT(type(P_USER_SID), CL_JSON_NONE);
	CHECK(cl_json_result_first(r, P_USER_SID) == NULL);
	CHECK_STR(str(P_KIND, 0), "(type 1)");

	/* arrays of references: 0, 1, 3 elements, and elements that are not objects */
	GOOD("{\"data\":{\"terms\":[]}}");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 0);
	CHECK_INT(type(P_DATA), CL_JSON_OBJECT);
	GOOD("{\"data\":{\"terms\":[{\"href\":\"h\",\"sourcedId\":\"s1\",\"type\":\"term\"}]}}");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 1);
	CHECK_STR(str(P_TERMS, 0), "s1");
	GOOD("{\"data\":{\"terms\":[{\"sourcedId\":\"a\"},{\"sourcedId\":\"b\"},{\"sourcedId\":"
	     "\"c\"}]}}");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 3);
	CHECK_STR(str(P_TERMS, 0), "a");
	CHECK_STR(str(P_TERMS, 1), "b");
	CHECK_STR(str(P_TERMS, 2), "c");
	GOOD("{\"data\":{\"terms\":[\"x\",{\"sourcedId\":\"a\"},1,null,[{\"sourcedId\":\"no\"}],{},"
	     "{\"sourcedId\":7},{\"sourcedId\":{\"sourcedId\":\"no\"}}]}}");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 3);
	CHECK_STR(str(P_TERMS, 0), "a");
	CHECK_INT(cl_json_result_get(r, P_TERMS, 1)->type, CL_JSON_NUMBER);
	CHECK_INT(cl_json_result_get(r, P_TERMS, 2)->type, CL_JSON_OBJECT);
	CHECK_STR(raw(P_TERMS, 2), "{\"sourcedId\":\"no\"}");

	/* a "[]" path ending at the elements, of any type */
	GOOD("{\"data\":{\"grades\":[\"09\", 10 ,[1,[2]],{\"a\":[]},\"\\u0031\\u0032\"]}}");
	CHECK_INT(cl_json_result_count(r, P_GRADES), 5);
	CHECK_STR(str(P_GRADES, 0), "09");
	CHECK_STR(raw(P_GRADES, 1), "10");
	CHECK_STR(raw(P_GRADES, 2), "[1,[2]]");
	CHECK_INT(cl_json_result_get(r, P_GRADES, 2)->type, CL_JSON_ARRAY);
	CHECK_STR(raw(P_GRADES, 3), "{\"a\":[]}");
	CHECK_STR(str(P_GRADES, 4), "12");

	/* nested "[]" */
	GOOD("{\"m\":[[1,2],3,[],[[4]],{\"a\":1}]}");
	CHECK_INT(cl_json_result_count(r, P_ARR), 3);
	CHECK_STR(raw(P_ARR, 0), "1");
	CHECK_STR(raw(P_ARR, 1), "2");
	CHECK_STR(raw(P_ARR, 2), "[4]");

	/* a path through a non-object or a non-array finds nothing */
	GOOD("{\"data\":\"str\",\"m\":{\"0\":[1]}}");
	CHECK_INT(type(P_DATA), CL_JSON_STRING);
	CHECK_INT(cl_json_result_count(r, P_DATA_SID), 0);
	CHECK_INT(cl_json_result_count(r, P_ARR), 0);
	GOOD("{\"data\":[{\"sourcedId\":\"no\",\"user\":{\"sourcedId\":\"no\"}}]}");
	CHECK_INT(type(P_DATA), CL_JSON_ARRAY);
	CHECK_INT(cl_json_result_count(r, P_DATA_SID), 0);
	CHECK_INT(cl_json_result_count(r, P_USER_SID), 0);
	GOOD("{\"data\":{\"terms\":{\"sourcedId\":\"no\"},\"grades\":\"09\"}}");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 0);
	CHECK_INT(cl_json_result_count(r, P_GRADES), 0);

	/* escaped keys match their decoded value; raw keys match byte for byte */
	GOOD("{\"data\":{\"a\\\"b\":\"q\",\"a\\\\b\":\"bs\",\"\\u00e9t\\u00e9\":\"e\"}}");
	CHECK_STR(str(P_QUOTE, 0), "q");
	CHECK_STR(str(P_BSLASH, 0), "bs");
	CHECK_STR(str(P_EACUTE, 0), "e");
	GOOD("{\"data\":{\"\xc3\xa9t\xc3\xa9\":\"raw\",\"a\\\"b\\\"\":\"no\",\"ab\":\"no\"}}");
	CHECK_STR(str(P_EACUTE, 0), "raw");
	CHECK_INT(cl_json_result_count(r, P_QUOTE), 0);
	GOOD("{\"\\u006bind\":\"escaped key\",\"d\\u0061ta\":{\"r\\u006Fle\":\"r\"}}");
	CHECK_STR(str(P_KIND, 0), "escaped key");
	CHECK_STR(str(P_ROLE, 0), "r");
	/* a key that is a prefix or an extension of a path's key */
	GOOD("{\"kin\":1,\"kinds\":2,\"kind\\u0000\":3,\"Kind\":4}");
	CHECK_INT(cl_json_result_count(r, P_KIND), 0);
}

static void
test_duplicates(void)
{
	/* last occurrence wins, at any depth */
	GOOD("{\"kind\":\"a\",\"kind\":\"b\"}");
	CHECK_INT(cl_json_result_count(r, P_KIND), 1);
	CHECK_STR(str(P_KIND, 0), "b");
	GOOD("{\"kind\":\"a\",\"k\\u0069nd\":\"b\",\"x\":1}");
	CHECK_INT(cl_json_result_count(r, P_KIND), 1);
	CHECK_STR(str(P_KIND, 0), "b");
	GOOD("{\"data\":{\"role\":\"a\",\"user\":{\"sourcedId\":\"u1\",\"sourcedId\":\"u2\"},"
	     "\"role\":\"b\"}}");
	CHECK_STR(str(P_ROLE, 0), "b");
	CHECK_STR(str(P_USER_SID, 0), "u2");
	CHECK_INT(cl_json_result_count(r, P_USER_SID), 1);
	/* a repeated parent drops everything the earlier one found */
	GOOD("{\"data\":{\"role\":\"a\",\"terms\":[{\"sourcedId\":\"t\"}]},\"data\":{\"sourcedId\":"
	     "\"d\"}}");
	CHECK_INT(cl_json_result_count(r, P_ROLE), 0);
	CHECK_INT(cl_json_result_count(r, P_TERMS), 0);
	CHECK_STR(str(P_DATA_SID, 0), "d");
	CHECK_STR(raw(P_DATA, 0), "{\"sourcedId\":\"d\"}");
	GOOD("{\"data\":{\"role\":\"a\"},\"data\":5}");
	CHECK_INT(cl_json_result_count(r, P_ROLE), 0);
	CHECK_INT(type(P_DATA), CL_JSON_NUMBER);
	/* a repeated "[]" key: the spans of its last occurrence */
	GOOD("{\"data\":{\"terms\":[{\"sourcedId\":\"a\"},{\"sourcedId\":\"b\"}],\"role\":\"r\","
	     "\"terms\":[{\"sourcedId\":\"c\"}]}}");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 1);
	CHECK_STR(str(P_TERMS, 0), "c");
	GOOD("{\"data\":{\"terms\":[{\"sourcedId\":\"a\"}],\"terms\":\"none\"}}");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 0);
	/* a repeated key inside one element: the element's last, the others kept */
	GOOD("{\"data\":{\"terms\":[{\"sourcedId\":\"a\",\"sourcedId\":\"b\"},{\"sourcedId\":\"c\"}"
	     ","
	     "{\"sourcedId\":\"d\",\"x\":[],\"sourcedId\":\"e\"}]}}");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 3);
	CHECK_STR(str(P_TERMS, 0), "b");
	CHECK_STR(str(P_TERMS, 1), "c");
	CHECK_STR(str(P_TERMS, 2), "e");
	/* a repeated key whose new value is not found: the old one is dropped */
	GOOD("{\"data\":{\"terms\":[{\"sourcedId\":\"a\",\"sourcedId\":null}]}}");
	CHECK_INT(cl_json_result_count(r, P_TERMS), 1);
	CHECK_INT(cl_json_result_get(r, P_TERMS, 0)->type, CL_JSON_NULL);
	/* the result is cleared between scans */
	GOOD("{\"kind\":\"x\"}");
	GOOD("{}");
	CHECK_INT(cl_json_result_count(r, P_KIND), 0);
	CHECK_INT(cl_json_result_count(r, P_TERMS), 0);
}

static void
test_numbers(void)
{
	static const char *const good[] = {
		"0",
		"-0",
		"1",
		"-1",
		"10",
		"1e5",
		"1E5",
		"1e+5",
		"1e-5",
		"1.5E-3",
		"-0.0e+0",
		"0.5",
		"123456789012345678901234567890",
		"1e999",
		"-9.25e-10",
	};
	static const struct {
		const char *line;
		size_t off;
	} bad[] = {
		{ "{\"a\":01}", 6 },   { "{\"a\":-01}", 7 },  { "{\"a\":00}", 6 },
		{ "{\"a\":1.}", 7 },   { "{\"a\":.5}", 5 },   { "{\"a\":+1}", 5 },
		{ "{\"a\":-}", 6 },    { "{\"a\":--1}", 6 },  { "{\"a\":1e}", 7 },
		{ "{\"a\":1e+}", 8 },  { "{\"a\":1.e5}", 7 }, { "{\"a\":1e5.5}", 8 },
		{ "{\"a\":NaN}", 5 },  { "{\"a\":nan}", 5 },  { "{\"a\":Infinity}", 5 },
		{ "{\"a\":-inf}", 6 }, { "{\"a\":0x10}", 6 }, { "{\"a\":1 2}", 7 },
		{ "{\"a\":-", 6 },     { "{\"a\":1.", 7 },    { "{\"a\":1e", 7 },
		{ "{\"a\":1e-", 8 },
	};
	struct cl_buf line = CL_BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cl_buf_reset(&line);
		cl_buf_addf(&line, "{\"sourcedId\":%s,\"x\":[%s],\"kind\":%s}", good[i], good[i],
		            good[i]);
		GOOD(line.p);
		CHECK_INT(type(P_SID), CL_JSON_NUMBER);
		CHECK_STR(raw(P_SID, 0), good[i]);
		CHECK_STR(raw(P_KIND, 0), good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		BAD(bad[i].line, bad[i].off);
		if (e.off != bad[i].off)
			fprintf(stderr, "  for %s\n", bad[i].line);
	}
	cl_buf_release(&line);
}

static void
test_invalid(void)
{
	struct cl_buf line = CL_BUF_INIT;
	int i;

	/* empty and blank */
	BADMSG("", 0, "empty input");
	BADMSG(" \t\r\n", 4, "empty input");
	CHECK_INT(cl_json_scan(q, NULL, 0, r, &e), -1);
	/* not an object */
	BADMSG("[1,2]", 0, "not a JSON object");
	BADMSG("\"str\"", 0, "not a JSON object");
	BADMSG(" 1", 1, "not a JSON object");
	BADMSG("null", 0, "not a JSON object");
	BADMSG("\xef\xbb\xbf{}", 0, "not a JSON object");
	/* truncated */
	BADMSG("{", 1, "unexpected end of input");
	BADMSG("{\"a\":1", 6, "unexpected end of input");
	BADMSG("{\"a\":1,", 7, "unexpected end of input");
	BADMSG("{\"a\"", 4, "unexpected end of input");
	BADMSG("{\"a\":", 5, "unexpected end of input");
	BADMSG("{\"a\":\"abc", 9, "unexpected end of input");
	BADMSG("{\"a\":\"abc\\", 10, "unexpected end of input");
	BADMSG("{\"a\":\"\\u00", 10, "unexpected end of input");
	BADMSG("{\"a\":[1,2", 9, "unexpected end of input");
	BADMSG("{\"a\":{\"b\":[]}", 13, "unexpected end of input");
	BADMSG("{\"a\":tru", 5, "invalid literal");
	/* structure */
	BADMSG("{\"a\":1,}", 7, "expected a string key");
	BADMSG("{\"a\":[1,]}", 8, "expected a value");
	BADMSG("{\"a\":[,1]}", 6, "expected a value");
	BADMSG("{,}", 1, "expected a string key");
	BADMSG("{\"a\":1,,\"b\":2}", 7, "expected a string key");
	BADMSG("{1:2}", 1, "expected a string key");
	BADMSG("{\"a\" 1}", 5, "expected ':'");
	BADMSG("{\"a\"}", 4, "expected ':'");
	BADMSG("{\"a\"::1}", 5, "expected a value");
	BADMSG("{\"a\":}", 5, "expected a value");
	BADMSG("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'");
	BADMSG("{\"a\":[1 2]}", 8, "expected ',' or ']'");
	BADMSG("{\"a\":[}", 6, "expected a value");
	BADMSG("{\"a\":{]}", 6, "expected a string key");
	BADMSG("{\"a\":[1}", 7, "expected ',' or ']'");
	BADMSG("{\"a\":{\"b\":1]}", 11, "expected ',' or '}'");
	BADMSG("{\"a\":tru}", 5, "invalid literal");
	BADMSG("{\"a\":truex}", 9, "expected ',' or '}'");
	BADMSG("{\"a\":True}", 5, "expected a value");
	BADMSG("{\"a\":nul}", 5, "invalid literal");
	BADMSG("{\"a\":'x'}", 5, "expected a value");
	/* trailing garbage, two objects on a line */
	BADMSG("{\"a\":1} x", 8, "trailing characters after the object");
	BADMSG("{\"a\":1}{\"b\":2}", 7, "trailing characters after the object");
	BADMSG("{} {}", 3, "trailing characters after the object");
	BADMSG("{}}", 2, "trailing characters after the object");
	BADMSG("{}\f", 2, "trailing characters after the object");
	BADMSG("{\f}", 1, "expected a string key");
	BADMSG("{\"a\":\v1}", 5, "expected a value");
	/* strings */
	BADMSG("{\"a\":\"\\x\"}", 6, "invalid escape");
	BADMSG("{\"a\":\"\\'\"}", 6, "invalid escape");
	BADMSG("{\"a\":\"\\U0041\"}", 6, "invalid escape");
	BADMSG("{\"a\":\"\\u12g4\"}", 6, "invalid \\u escape");
	BADMSG("{\"a\":\"\\u12\"}", 6, "invalid \\u escape");
	BADMSG("{\"k\\q\":1}", 3, "invalid escape");
	BADMSG("{\"a\":\"x\ty\"}", 7, "control character in string");
	BADMSG("{\"a\":\"x\ny\"}", 7, "control character in string");
	BADMSG("{\"a\x01\":1}", 3, "control character in string");
	/* invalid UTF-8: stray continuation, overlong, surrogate, > U+10FFFF, truncated */
	BADMSG("{\"a\":\"\xff\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\x80\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xc0\xaf\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xc1\xbf\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xe0\x9f\xbf\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xf0\x8f\xbf\xbf\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xed\xa0\x80\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xed\xbf\xbf\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xf4\x90\x80\x80\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xf5\x80\x80\x80\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"x\xe2\x82\"}", 7, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xc3\"}", 6, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"\xc3", 6, "invalid UTF-8 in string");
	BADMSG("{\"\xc3\xa9\xff\":1}", 4, "invalid UTF-8 in string");
	BADMSG("{\"a\":\"0123456789\xff\"}", 16, "invalid UTF-8 in string");
	/* the edges of valid ranges */
	GOOD("{\"a\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\"}");
	/* a NUL byte is a control character, or garbage */
	CHECK_INT(cl_json_scan(q, "{\"a\":\"\0\"}", 9, r, &e), -1);
	CHECK_INT(e.off, 6);
	CHECK_INT(cl_json_scan(q, "{\"a\":1\0}", 8, r, &e), -1);
	CHECK_INT(e.off, 6);
	CHECK_INT(cl_json_scan(q, "{\"a\":1}\0", 8, r, &e), -1);
	CHECK_INT(e.off, 7);
	/* only the n bytes count: the same line cut short */
	CHECK_INT(cl_json_scan(q, "{\"a\":1}", 6, r, &e), -1);
	CHECK_INT(e.off, 6);
	CHECK_INT(cl_json_scan(q, "{\"a\":1}xyz", 7, r, &e), 0);
	/* err may be NULL */
	CHECK_INT(cl_json_scan(q, "{", 1, r, NULL), -1);

	/* nesting: 512 deep is fine, 513 is not */
	for (i = 0; i < 2; i++) {
		int d, depth = 512 + i;

		/* odd levels are arrays, even ones objects with one member */
		cl_buf_reset(&line);
		cl_buf_adds(&line, "{\"a\":");
		for (d = 1; d < depth; d++)
			cl_buf_adds(&line, d % 2 ? "[" : "{\"k\":");
		for (d = depth - 1; d >= 1; d--)
			cl_buf_adds(&line, d % 2 ? "]" : "}");
		cl_buf_adds(&line, "}");
		if (i == 0) {
			GOOD(line.p);
		} else {
			BADMSG(line.p, 5 + 256 + 255 * 5, "nesting too deep");
		}
	}
	cl_buf_release(&line);
}

static void
test_query(void)
{
	static const char *const badpaths[] = { "",     ".",  "a.", ".a",   "a..b", "a[",
		                                "a[x]", "a]", "[]", "a.[]", "a[]b", "a[]." };
	static const char *const dup[] = { "kind", "data.x", "kind", "data[]", "data" };
	struct cl_json_query *q2;
	struct cl_json_result *r2;
	const char *line;
	size_t i;

	for (i = 0; i < sizeof(badpaths) / sizeof(badpaths[0]); i++) {
		q2 = cl_json_query_new(&badpaths[i], 1);
		CHECK(q2 == NULL);
		if (q2)
			fprintf(stderr, "  accepted path '%s'\n", badpaths[i]);
		cl_json_query_free(q2);
	}
	cl_json_query_free(NULL);
	cl_json_result_free(NULL);

	/* the same path twice: both indexes see the same spans */
	q2 = cl_json_query_new(dup, 5);
	CHECK(q2 != NULL);
	r2 = cl_json_result_new(q2);
	line = "{\"kind\":\"k\",\"data\":[{\"x\":1},2]}";
	CHECK_INT(cl_json_scan(q2, line, strlen(line), r2, &e), 0);
	CHECK_INT(cl_json_result_count(r2, 0), 1);
	CHECK_INT(cl_json_result_count(r2, 2), 1);
	CHECK(cl_json_result_first(r2, 0) == cl_json_result_first(r2, 2));
	CHECK_INT(cl_json_result_count(r2, 1), 0);
	CHECK_INT(cl_json_result_count(r2, 3), 2);
	CHECK_INT(cl_json_result_count(r2, 4), 1);
	CHECK_INT(cl_json_result_first(r2, 4)->type, CL_JSON_ARRAY);
	CHECK_INT(cl_json_result_first(r2, 4)->n, 11);
	/* q may be NULL when r is given */
	CHECK_INT(cl_json_scan(NULL, "{\"kind\":1}", 10, r2, &e), 0);
	CHECK_INT(cl_json_result_count(r2, 0), 1);
	cl_json_result_free(r2);
	cl_json_query_free(q2);

	/* no paths at all */
	q2 = cl_json_query_new(NULL, 0);
	CHECK(q2 != NULL);
	r2 = cl_json_result_new(q2);
	CHECK_INT(cl_json_scan(q2, "{\"kind\":1}", 10, r2, &e), 0);
	cl_json_result_free(r2);
	cl_json_query_free(q2);
}

/* Many "[]" spans: the result grows, then is reused. */
static void
test_growth(void)
{
	struct cl_buf line = CL_BUF_INIT;
	int i, round;

	for (round = 0; round < 2; round++) {
		cl_buf_reset(&line);
		cl_buf_adds(&line, "{\"data\":{\"terms\":[");
		for (i = 0; i < 1000; i++)
			cl_buf_addf(&line, "%s{\"sourcedId\":\"t%d\"}", i ? "," : "", i);
		cl_buf_adds(&line, "]}}");
		GOOD(line.p);
		CHECK_INT(cl_json_result_count(r, P_TERMS), 1000);
		CHECK_STR(str(P_TERMS, 999), "t999");
		CHECK_STR(str(P_TERMS, 0), "t0");
	}
	cl_buf_release(&line);
}

/* Whitespace between the tokens of the object, and only there, is reported. */
static void
test_ws(void)
{
	static const char *const compact[] = {
		"{}",
		" \t{\"a\":[1,{\"b\":\"x y\\n\"}],\"c\":\"\\t\"}\r\n", /* around it, in strings */
		"{\"data\":{\"sourcedId\":\" \",\"terms\":[]}}",
	};
	static const char *const spaced[] = {
		"{ }",
		"{\"a\" :1}",
		"{\"a\": 1}",
		"{\"a\":1 }",
		"{\"a\":[1 ,2]}",
		"{\"a\":[\n1]}",
		"{\"a\":1,\t\"b\":2}",
		"{\"data\":{\"terms\":[ ]}}",
	};
	size_t i;

	for (i = 0; i < sizeof compact / sizeof *compact; i++) {
		CHECK_INT(scan(compact[i]), 0);
		CHECK_INT(cl_json_result_ws(r), 0);
	}
	for (i = 0; i < sizeof spaced / sizeof *spaced; i++) {
		CHECK_INT(scan(spaced[i]), 0);
		CHECK_INT(cl_json_result_ws(r), 1);
	}
	CHECK_INT(scan("{\"a\": 1"), -1); /* a failed scan reports none */
	CHECK_INT(cl_json_result_ws(r), 0);
}

/*
 * Every special byte of a string at every place against the 8- and 16-byte
 * steps of the string skipper: the value of "data.role" is a run of 'x'
 * with one special piece at offset k, the line shifted by a key of m bytes.
 */
static void
test_string_steps(void)
{
	static const struct {
		const char *piece, *decoded; /* decoded NULL: the line is invalid */
		const char *msg;
	} sp[] = {
		{ "\xc3\xa9", "\xc3\xa9", NULL },
		{ "\xe2\x82\xac", "\xe2\x82\xac", NULL },
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", NULL },
		{ "\\n", "\n", NULL },
		{ "\\\"", "\"", NULL },
		{ "\\u00e9", "\xc3\xa9", NULL },
		{ "", "", NULL }, /* the closing quote itself at k */
		{ "\xc3x", NULL, "invalid UTF-8 in string" },
		{ "\x80", NULL, "invalid UTF-8 in string" },
		{ "\x01", NULL, "control character in string" },
		{ "\x1f", NULL, "control character in string" },
		{ "\\q", NULL, "invalid escape" },
	};
	struct cl_buf line = CL_BUF_INIT, want = CL_BUF_INIT;
	size_t i, k, m, bad = 0;

	for (i = 0; i < sizeof sp / sizeof *sp; i++) {
		for (m = 1; m <= 16; m++) {
			for (k = 0; k <= 40; k++) {
				cl_buf_reset(&line);
				cl_buf_reset(&want);
				cl_buf_addf(&line, "{\"%.*s\":0,\"data\":{\"role\":\"", (int)m,
				            "kkkkkkkkkkkkkkkk");
				for (size_t j = 0; j < k; j++) {
					cl_buf_addc(&line, 'x');
					cl_buf_addc(&want, 'x');
				}
				cl_buf_adds(&line, sp[i].piece);
				cl_buf_adds(&line, "yy\"}}");
				if (sp[i].decoded) {
					cl_buf_adds(&want, sp[i].decoded);
					cl_buf_adds(&want, "yy");
					if (scan(line.p) != 0 ||
					    strcmp(str(P_ROLE, 0), want.p) != 0)
						bad++;
				} else if (scan(line.p) != -1 || strcmp(e.msg, sp[i].msg) != 0 ||
				           e.off != m + 22 + k) {
					bad++;
				}
			}
		}
	}
	CHECK_INT(bad, 0);
	cl_buf_release(&line);
	cl_buf_release(&want);
}

int
main(void)
{
	q = cl_json_query_new(paths, NPATHS);
	if (!q) {
		fprintf(stderr, "cannot compile the paths\n");
		return 1;
	}
	r = cl_json_result_new(q);
	test_escapes();
	test_str_helpers();
	test_put_str();
	test_paths();
	test_duplicates();
	test_numbers();
	test_invalid();
	test_query();
	test_growth();
	test_ws();
	test_string_steps();
	cl_json_result_free(r);
	cl_json_query_free(q);
	cl_buf_release(&sb);
	return T_DONE();
}
