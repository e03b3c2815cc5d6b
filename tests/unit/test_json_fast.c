/*
 * test_json_fast.c: the scanner's fast path (lib/json-index.c and stage 2
 * in lib/json.c) against its scalar scanner, through test_json_fast.h:
 * (a) (see fast_scan) every scan below, with and without a result;
 * (b) lines made to put what stage 1 carries from one 64-byte block to the
 *     next on a boundary: strings, escapes, backslash runs of every length,
 *     UTF-8 sequences, control bytes, numbers and literals, at every offset
 *     around 64 and 128, and around the 4096-byte chunks;
 * (c) every truncation of a record, and every byte of it replaced by each of
 *     a set of troublemakers;
 * (d) nesting at and past the limit, duplicate keys, escaped keys on a path;
 * (e) random mutations (a seeded PRNG) of records and of a long page.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json-index.h"
#include "json.h"
#include "t.h"

/*
 * fast_scan() returns what the scalar scanner (the reference) does, and
 * checks on the way that cl_json_scan and the fast path alone (with each
 * stage 1 the CPU has) give the same verdict, the same spans in every slot,
 * and (cl_json_scan) the same error offset and message. The fast path must
 * take every valid input and no invalid one.
 */
static unsigned long fast_scans, fast_taken;

/* Shows the input of a failed check, escaped, the first 300 bytes. */
static void
fast_show(const char *why, const char *p, size_t n)
{
	size_t i;

	fprintf(stderr, "  %s (%zu bytes): ", why, n);
	for (i = 0; i < n && i < 300; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7F && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fputc('\n', stderr);
}

static int
fast_scan(const struct cl_json_query *q, const char *p, size_t n, struct cl_json_result *r,
          struct cl_json_err *err)
{
	const struct cl_json_query *rq = q ? q : r ? cl_json_result_query(r) : NULL;
	struct cl_json_result *ra = r ? cl_json_result_new(rq) : NULL;
	struct cl_json_result *rf = r ? cl_json_result_new(rq) : NULL;
	struct cl_json_err es = { 0, NULL }, ea = { 0, NULL };
	int rs, rc, isa, f0 = t_failures;

	rs = cl_json_scan_scalar(q, p, n, r, &es);
	rc = cl_json_scan(q, p, n, ra, &ea);
	CHECK_INT(rc, rs);
	if (rs != 0 && rc != 0) {
		CHECK_INT(ea.off, es.off);
		CHECK_STR(ea.msg, es.msg);
	}
	if (r)
		CHECK(cl_json_result_same(r, ra));
	fast_scans++;
	for (isa = CL_JSON_ISA_SSE2; isa <= CL_JSON_ISA_AVX2; isa++) {
		if (!cl_json_index_has((enum cl_json_isa)isa))
			continue;
		rc = cl_json_scan_fast(q, p, n, rf, (enum cl_json_isa)isa);
		CHECK_INT(rc, rs);
		if (r)
			CHECK(cl_json_result_same(r, rf));
		fast_taken += rc == 0;
	}
	if (t_failures != f0)
		fast_show(rs == 0 ? "fast vs scalar, valid" : "fast vs scalar, invalid", p, n);
	if (err && rs != 0)
		*err = es;
	cl_json_result_free(ra);
	cl_json_result_free(rf);
	return rs;
}

static const char *const fpaths[] = {
	"users", "users[]", "users[].sourcedId", "users[].role", "kind", "data.a\\b", "data.x[]",
};
#define NFPATHS (sizeof(fpaths) / sizeof(fpaths[0]))

static struct cl_json_query *fq;
static struct cl_json_result *fr;

/* Scans [p, p+n) copied to an exact allocation, with and without a result. */
static int
check(const char *p, size_t n)
{
	char *c = cl_xmalloc(n ? n : 1);
	struct cl_json_err err;
	int rc;

	if (n)
		memcpy(c, p, n);
	rc = fast_scan(fq, c, n, fr, &err);
	CHECK_INT(fast_scan(NULL, c, n, NULL, NULL), rc);
	free(c);
	return rc;
}

static int
check_buf(const struct cl_buf *b)
{
	return check(b->p, b->len);
}

static const char rec[] =
        "{\"sourcedId\":\"32940\",\"status\":\"active\",\"dateLastModified\":"
        "\"2026-02-06T07:22:04.000Z\",\"username\":\"mason.graham2\",\"userIds\":[{\"type\":"
        "\"FED\",\"identifier\":\"32940\"}],\"enabledUser\":true,\"givenName\":\"Ma\\u00e9son\","
        "\"familyName\":\"Gr\xc3\xa4ham\",\"middleName\":null,\"role\":\"aide\",\"n\":-12.5e+3,"
        "\"email\":\"m\\\"g\\\\@x.org\",\"agents\":[],\"orgs\":[{\"href\":\"https://x/orgs/35\","
        "\"sourcedId\":\"35\",\"type\":\"org\"}],\"grades\":[0,1.5,false],\"e\":{}}";

/* {"users":[<rec>]} with the record's bytes as given. */
static void
page(struct cl_buf *b, const char *one, size_t n, int copies)
{
	int i;

	cl_buf_reset(b);
	cl_buf_adds(b, "{\"users\":[");
	for (i = 0; i < copies; i++) {
		if (i)
			cl_buf_addc(b, ',');
		cl_buf_add(b, one, n);
	}
	cl_buf_adds(b, "]}");
}

/* (b) a payload inside a string value, or as a value, at every offset near the boundaries. */
static void
test_boundaries(void)
{
	static const char *const in_str[] = {
		"\\\"",
		"\\\\",
		"\\\\\\\"",
		"\\u00e9",
		"\\uD83D\\uDE00",
		"\\u12",
		"\\x",
		"\\",
		"\xc3\xa9",
		"\xe2\x82\xac",
		"\xf0\x9f\x98\x80",
		"\xc3",
		"\xe2\x82",
		"\xed\xa0\x80",
		"\xc0\xaf",
		"\xf4\x90\x80\x80",
		"\x80",
		"\x01",
		"\x1f",
		"\t",
		"\x7f",
		" ",
		"{}[],:",
		"\"",
	};
	static const char *const as_value[] = {
		"0",   "-0",      "12.5e-3", "1e",   "01",    "-",    "1.",       "true",
		"tru", "truex",   "false",   "null", "nul",   "1x",   "\"\"",     "[]",
		"{}",  "[1,2]",   "[1 2]",   "x",    "\\",    "\x01", "\xc3\xa9", "1\"a\"",
		"[,]", "{\"a\"}", "-a",      "2E+9", "0.0e0", "1 ",
	};
	struct cl_buf b = CL_BUF_INIT;
	size_t i, k, base;
	int m;

	for (base = 0; base <= 4096; base += 4096 - 128) {
		for (k = base + 40; k < base + 140; k++) {
			for (i = 0; i < sizeof(in_str) / sizeof(in_str[0]); i++) {
				/* {"users":"xxx<payload>yyy"}, the payload starting at byte k */
				cl_buf_reset(&b);
				cl_buf_adds(&b, "{\"users\":\"");
				while (b.len < k)
					cl_buf_addc(&b, 'x');
				cl_buf_adds(&b, in_str[i]);
				cl_buf_adds(&b, "yy\"}");
				check_buf(&b);
				/* unterminated */
				b.len -= 2;
				check_buf(&b);
			}
			for (i = 0; i < sizeof(as_value) / sizeof(as_value[0]); i++) {
				/* {"users":[1,1,...,<value>, 2]} */
				cl_buf_reset(&b);
				cl_buf_adds(&b, "{\"users\":[");
				while (b.len + 2 < k)
					cl_buf_adds(&b, "1,");
				while (b.len < k)
					cl_buf_addc(&b, ' ');
				cl_buf_adds(&b, as_value[i]);
				cl_buf_adds(&b, ", 2]}");
				check_buf(&b);
				/* the value last in the input */
				cl_buf_reset(&b);
				cl_buf_adds(&b, "{\"users\":");
				while (b.len < k)
					cl_buf_addc(&b, ' ');
				cl_buf_adds(&b, as_value[i]);
				check_buf(&b);
				cl_buf_addc(&b, '}');
				check_buf(&b);
			}
		}
	}
	/* backslash runs of every length ending on every byte near a boundary */
	for (k = 50; k < 140; k++) {
		for (m = 1; m <= 70; m++) {
			cl_buf_reset(&b);
			cl_buf_adds(&b, "{\"users\":\"");
			while (b.len + (size_t)m < k)
				cl_buf_addc(&b, 'x');
			for (i = 0; i < (size_t)m; i++)
				cl_buf_addc(&b, '\\');
			cl_buf_adds(&b, "\"}");
			check_buf(&b);
			cl_buf_adds(&b, "\"}");
			check_buf(&b);
			b.len -= 4;
			cl_buf_adds(&b, "n\"}");
			check_buf(&b);
		}
	}
	/* strings spanning blocks and chunks */
	for (k = 1; k < 9000; k += k < 200 ? 1 : 61) {
		cl_buf_reset(&b);
		cl_buf_adds(&b, "{\"users\":[\"");
		for (i = 0; i < k; i++)
			cl_buf_addc(&b, (char)('a' + i % 26));
		cl_buf_adds(&b, "\",{\"sourcedId\":\"");
		for (i = 0; i < k; i++)
			cl_buf_adds(&b, i % 7 ? "\xc3\xa9" : "\\n");
		cl_buf_adds(&b, "\"}]}");
		CHECK_INT(check_buf(&b), 0);
	}
	cl_buf_release(&b);
}

/* (c) truncations and replaced bytes of a page of one record. */
static void
test_mutations(void)
{
	static const char bytes[] = { '"', '\\',   '{',    '}',    '[',    ']',    ':',
		                      ',', ' ',    '\n',   'x',    '0',    '-',    'e',
		                      '.', '\x01', '\x1f', '\x80', '\xc3', '\xff', 'u' };
	struct cl_buf b = CL_BUF_INIT;
	size_t i, j, n;

	page(&b, rec, sizeof(rec) - 1, 1);
	CHECK_INT(check_buf(&b), 0);
	n = b.len;
	for (i = 0; i <= n; i++)
		check(b.p, i);
	for (i = 0; i < n; i++) {
		for (j = 0; j < sizeof(bytes); j++) {
			char c = b.p[i];

			b.p[i] = bytes[j];
			check_buf(&b);
			b.p[i] = c;
		}
	}
	cl_buf_release(&b);
}

/* (d) depth, duplicates, escaped keys, the edges of the input. */
static void
test_shapes(void)
{
	static const char *const lines[] = {
		"",
		" ",
		"{}",
		" \t\r\n{ } \n",
		"\xef\xbb\xbf{}",
		"[]",
		"{}{}",
		"{} x",
		"{\"users\":1,\"users\":[{\"sourcedId\":\"a\"}],\"users\":[{\"sourcedId\":\"b\","
		"\"role\":1,"
		"\"sourcedId\":\"c\"},{\"role\":\"r\"}]}",
		"{\"users\":[{\"sourcedId\":\"a\"}],\"users\":2}",
		"{\"us\\u0065rs\":[{\"sourced\\u0049d\":\"x\",\"r\\u006fle\":[]}]}",
		"{\"data\":{\"a\\\\b\":1,\"a\\b\":2,\"x\":[1,{},[]]}}",
		"{\"data\":{\"a\\\\b\":1,\"a\\\\b\":2,\"x\":[1,{},[]],\"x\":[3]}}",
		"{\"kind\":\"a\",\"kind\":\"b\"}",
		"{\"users\":[1,2,],\"x\":1}",
		"{\"users\":[1,2]\"x\":1}",
		"{\"users\" 1}",
		"{\"users\"::1}",
		"{,}",
		"{\"a\":1,}",
		"{\"a\"}",
		"{1:2}",
		"{\"a\":[}",
		"{\"a\":{]}",
	};
	struct cl_buf b = CL_BUF_INIT;
	size_t i, d;
	int obj;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		check(lines[i], strlen(lines[i]));
	CHECK_INT(fast_scan(fq, NULL, 0, fr, NULL), -1);
	for (obj = 0; obj < 2; obj++) {
		for (d = 509; d <= 514; d++) {
			cl_buf_reset(&b);
			for (i = 0; i < d; i++)
				cl_buf_adds(&b, obj ? "{\"users\":" : i ? "[" : "{\"users\":");
			cl_buf_addc(&b, '1');
			for (i = d; i > 0; i--)
				cl_buf_addc(&b, obj || i == 1 ? '}' : ']');
			check_buf(&b);
			b.len--;
			check_buf(&b);
		}
	}
	cl_buf_release(&b);
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* (e) random mutations of one record, and of a page of 60 records (16 KB). */
static void
test_random(unsigned long iter)
{
	static const char bytes[] = "\"\\{}[]:, \nx0-e.\x01\x1f\x80\xc3\xe2\xf0\xffu";
	struct cl_buf b = CL_BUF_INIT;
	uint64_t s = 0x5EED2025u;
	unsigned long it;
	size_t pos, k, nm;
	int copies;

	for (it = 0; it < iter; it++) {
		copies = it % 8 == 0 ? 60 : 1;
		page(&b, rec, sizeof(rec) - 1, copies);
		for (nm = 1 + rnd(&s) % 3; nm > 0; nm--) {
			pos = rnd(&s) % b.len;
			switch (rnd(&s) % 4) {
			case 0: /* replace */
				b.p[pos] = bytes[rnd(&s) % (sizeof(bytes) - 1)];
				break;
			case 1: /* insert */
				cl_buf_addc(&b, 0);
				memmove(b.p + pos + 1, b.p + pos, b.len - pos - 1);
				b.p[pos] = bytes[rnd(&s) % (sizeof(bytes) - 1)];
				break;
			case 2: /* delete */
				memmove(b.p + pos, b.p + pos + 1, b.len - pos - 1);
				b.len--;
				break;
			default: /* a run of backslashes */
				for (k = 1 + rnd(&s) % 70; k > 0 && pos < b.len; k--)
					b.p[pos++] = '\\';
				break;
			}
		}
		check_buf(&b);
	}
	cl_buf_release(&b);
}

int
main(void)
{
	const char *it = getenv("CL_TEST_ITER"), *vg = getenv("CL_VALGRIND");
	unsigned long iter = it && *it                ? strtoul(it, NULL, 10)
	                     : vg && !strcmp(vg, "1") ? 300
	                                              : 6000;

	fq = cl_json_query_new(fpaths, NFPATHS);
	if (!fq) {
		fprintf(stderr, "cannot compile the paths\n");
		return 1;
	}
	fr = cl_json_result_new(fq);
	test_boundaries();
	test_mutations();
	test_shapes();
	test_random(iter);
	cl_json_result_free(fr);
	cl_json_query_free(fq);
	fprintf(stderr, "%s: %lu scans compared, the fast path took %lu\n", __FILE__, fast_scans,
	        fast_taken);
	return T_DONE();
}
