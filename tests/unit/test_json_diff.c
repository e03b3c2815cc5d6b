/*
 * test_json_diff.c: the JSON scanner (lib/json.c) against libjq 1.6.
 *
 * (a) random JSON objects (a seeded PRNG: keys with escapes and non-ASCII,
 *     nesting, arrays, numbers, strings with every escape), each written
 *     compactly, with ", "/": " separators, with random whitespace, and as
 *     libjq dumps it (compact, pretty, ASCII-only: \u escapes and surrogate
 *     pairs): scanner and libjq must agree that it is valid, and on every
 *     span of every path (decoded strings compared byte for byte; every span
 *     re-parsed by libjq must equal libjq's value at the path).
 * (b) random mutations of those lines (delete, insert, replace a byte, flip
 *     a bit): both must agree on valid/invalid, and on the fields when both
 *     accept.
 * (c) real-shaped OneRoster records in the ClassLink shape.
 *
 * CL_TEST_ITER sets the number of random objects and of mutations (default
 * 6000, under 2 s; 300 when CL_VALGRIND=1, as tests/run sets under
 * valgrind); CL_TEST_SEED the seed.
 *
 * Intentional divergences: libjq 1.6 is more lenient than RFC 8259, and the
 * scanner is strict. Each case is detected precisely and skipped (counted),
 * never by loosening the comparison:
 *  D1 invalid UTF-8 in a string (stray continuation bytes, overlong forms,
 *     UTF-8-encoded surrogates, > U+10FFFF, truncated sequences): libjq
 *     accepts and substitutes U+FFFD; the scanner rejects.
 *  D2 number tokens outside the grammar: libjq reads a token with strtod, so
 *     it accepts 01, -01, 1., .5, +1, 1.e5, nan, NaN, -nan, inf, infinity
 *     (case-insensitive), and a token starting with \v or \f (strtod skips
 *     them: {"a":<VT>-1}); the scanner rejects them. libjq also ends a number
 *     token at a NUL byte (it accepts {"a":1<NUL>} and even {"a":<NUL>} as 0).
 *  D3 a record separator byte (0x1E, RFC 7464) between tokens: libjq skips
 *     some; the scanner rejects it.
 *  D4 a UTF-8 byte order mark before the object: libjq skips it; the
 *     scanner rejects it (the stream reader deals with BOMs).
 *  D5 a \u escape of a high surrogate not followed by one of a low
 *     surrogate: libjq rejects it ("Invalid \uXXXX\uXXXX surrogate pair
 *     escape"); the scanner accepts it, as RFC 8259's grammar does, and
 *     cl_json_str decodes it to U+FFFD. (A lone low surrogate: both accept,
 *     both decode to U+FFFD.)
 *  D6 nesting: libjq 1.6 rejects 256 or more levels, the scanner 513 or more.
 *  D7 raw U+0000 and U+001F in a string: libjq 1.6 accepts these two (its
 *     check is off by one at both ends); the scanner rejects every byte below
 *     0x20.
 * libjq 1.6 also leaks the string when a string follows a value with no
 * separator between ({"a":"x" "y"}: "Expected separator between values");
 * such lines (always invalid JSON) are not given to libjq, so that the
 * valgrind run stays clean: the scanner alone must reject them.
 * Both agree on the rest, including: the other raw control characters in
 * strings (rejected), \f and \v as whitespace (rejected), duplicate keys (the last
 * wins), trailing commas, a second value on the line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>
#include <jv.h>

#include "buf.h"
#include "json.h"
#include "t.h"

enum { D_UTF8, D_NUMTOKEN, D_RS, D_BOM, D_HIGHSURR, D_DEPTH, D_CTRL, NDIV };
static const char *const div_name[NDIV] = {
	"D1 invalid UTF-8",
	"D2 lenient number",
	"D3 record separator",
	"D4 byte order mark",
	"D5 lone high surrogate",
	"D6 depth 256+",
	"D7 raw U+0000 or U+001F in a string",
};
static unsigned long div_count[NDIV];

static const char *const paths[] = {
	"kind",
	"sourcedId",
	"data",
	"data.sourcedId",
	"data.user.sourcedId",
	"data.terms[].sourcedId",
	"data.grades[]",
	"data.orgs[]",
	"data.terms",
	"data.\xc3\xa9t\xc3\xa9",
	"data.a\"b",
	"terms[][]",
	"user.data.kind",
	"grades[].user",
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))

/* A path split into segments, for walking libjq values. */
struct seg {
	const char *key; /* NULL for "[]" */
	size_t keylen;
};
struct jpath {
	struct seg seg[16];
	size_t n;
};

/* A query, its result, and the same paths split for walking libjq values. */
struct set {
	const char *const *names; /* borrowed */
	size_t n;
	struct jpath jp[32];
	struct cl_json_query *q;  /* owned */
	struct cl_json_result *r; /* owned */
};
static unsigned long n_lines, n_valid, n_spans, n_mut, n_mut_valid, n_leaky;
static int shown;

/* xorshift64* */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static unsigned
pick(uint64_t *s, unsigned n)
{
	return (unsigned)(rnd(s) >> 33) % n;
}

static void
split_path(const char *p, struct jpath *jp)
{
	const char *k;

	jp->n = 0;
	for (;;) {
		for (k = p; *p && *p != '.' && *p != '['; p++)
			;
		jp->seg[jp->n].key = k;
		jp->seg[jp->n++].keylen = (size_t)(p - k);
		while (*p == '[') {
			jp->seg[jp->n].key = NULL;
			jp->seg[jp->n++].keylen = 0;
			p += 2;
		}
		if (!*p)
			break;
		p++;
	}
}

/* Appends to *out libjq's values at the path's segments from v. Takes v. */
static void
collect(jv v, const struct seg *sg, size_t ns, jv *out)
{
	jv x;
	int i, n;

	if (ns == 0) {
		*out = jv_array_append(*out, v);
		return;
	}
	if (!sg->key) {
		if (jv_get_kind(v) == JV_KIND_ARRAY) {
			n = jv_array_length(jv_copy(v));
			for (i = 0; i < n; i++)
				collect(jv_array_get(jv_copy(v), i), sg + 1, ns - 1, out);
		}
		jv_free(v);
		return;
	}
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return;
	}
	x = jv_object_get(v, jv_string_sized(sg->key, (int)sg->keylen));
	if (jv_is_valid(x))
		collect(x, sg + 1, ns - 1, out);
	else
		jv_free(x);
}

static enum cl_json_type
type_of(jv_kind k)
{
	switch (k) {
	case JV_KIND_NULL:
		return CL_JSON_NULL;
	case JV_KIND_FALSE:
		return CL_JSON_FALSE;
	case JV_KIND_TRUE:
		return CL_JSON_TRUE;
	case JV_KIND_NUMBER:
		return CL_JSON_NUMBER;
	case JV_KIND_STRING:
		return CL_JSON_STRING;
	case JV_KIND_ARRAY:
		return CL_JSON_ARRAY;
	case JV_KIND_OBJECT:
		return CL_JSON_OBJECT;
	default:
		return CL_JSON_NONE;
	}
}

/* Prints a line with its unprintable bytes escaped, a few times at most. */
static void
show(const char *why, const char *p, size_t n)
{
	size_t i;

	if (shown++ >= 10)
		return;
	fprintf(stderr, "  %s: ", why);
	for (i = 0; i < n && i < 600; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fputc('\n', stderr);
}

/* Compares every path's spans in r with libjq's values in v (borrowed). */
static void
compare_fields(const struct set *st, jv v, const char *line, size_t n)
{
	const struct cl_json_result *r = st->r;
	struct cl_buf dec = CL_BUF_INIT;
	size_t pi, i, cnt;
	int ok = 1;

	for (pi = 0; pi < st->n; pi++) {
		jv want = jv_array();
		int wn;

		collect(jv_copy(v), st->jp[pi].seg, st->jp[pi].n, &want);
		wn = jv_array_length(jv_copy(want));
		cnt = cl_json_result_count(r, pi);
		CHECK_INT(cnt, wn);
		if (cnt != (size_t)wn) {
			fprintf(stderr, "  path %s\n", st->names[pi]);
			ok = 0;
		}
		for (i = 0; i < cnt && i < (size_t)wn; i++) {
			const struct cl_json_span *s = cl_json_result_get(r, pi, i);
			jv w = jv_array_get(jv_copy(want), (int)i), got;
			jv_kind k = jv_get_kind(w);

			n_spans++;
			CHECK_INT(s->type, type_of(k));
			if (s->type != type_of(k))
				ok = 0;
			if (k == JV_KIND_STRING) {
				cl_buf_reset(&dec);
				CHECK_INT(cl_json_str(s, &dec), 0);
				CHECK(dec.len == (size_t)jv_string_length_bytes(jv_copy(w)) &&
				      memcmp(dec.p ? dec.p : "", jv_string_value(w), dec.len) == 0);
				if (dec.len != (size_t)jv_string_length_bytes(jv_copy(w)) ||
				    memcmp(dec.p ? dec.p : "", jv_string_value(w), dec.len) != 0)
					ok = 0;
			}
			/* the span alone, parsed by libjq, is the value at the path */
			got = jv_parse_sized(s->p, (int)s->n);
			CHECK(jv_is_valid(got));
			if (jv_is_valid(got)) {
				int eq = jv_equal(got, jv_copy(w));

				CHECK(eq);
				if (!eq)
					ok = 0;
			} else
				jv_free(got);
			jv_free(w);
		}
		jv_free(want);
	}
	if (!ok)
		show("fields differ", line, n);
	cl_buf_release(&dec);
}

/* libjq's verdict: 1 when the line is one JSON object; *v then holds it. */
static int
jq_object(const char *p, size_t n, jv *v, jv *msg)
{
	*v = jv_parse_sized(p, (int)n);
	*msg = jv_null();
	if (!jv_is_valid(*v)) {
		jv_free(*msg);
		*msg = jv_invalid_get_msg(*v);
		*v = jv_null();
		return 0;
	}
	if (jv_get_kind(*v) != JV_KIND_OBJECT) {
		jv_free(*v);
		*v = jv_null();
		return 0;
	}
	return 1;
}

static int
jq_msg_has(jv msg, const char *what)
{
	return jv_get_kind(msg) == JV_KIND_STRING && strstr(jv_string_value(msg), what);
}

/* Bytes libjq 1.6 reads as part of a literal token (true, 12, nan...). */
static int
jq_tokch(unsigned char c)
{
	return !strchr("[]{},:\" \t\r\n", c) || c == '\0';
}

/* A token strtod-style parsing accepts: [+-] then digits with an optional
 * fraction and exponent, or nan, inf, infinity. */
static int
lenient_number(const unsigned char *s, size_t n)
{
	size_t i = 0, d = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if ((n - i == 3 && (strncasecmp((const char *)s + i, "nan", 3) == 0 ||
	                    strncasecmp((const char *)s + i, "inf", 3) == 0)) ||
	    (n - i == 8 && strncasecmp((const char *)s + i, "infinity", 8) == 0))
		return 1;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		d++;
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			d++;
	if (!d)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

/*
 * D2: the scanner failed at (or just after) a token that libjq reads as a
 * number: the token up to its first NUL byte is empty, or lenient_number
 * after the \v and \f strtod skips.
 */
static int
jq_number_token(const unsigned char *p, size_t n, size_t off)
{
	size_t a, b;

	if (off < n && jq_tokch(p[off]))
		a = off;
	else if (off > 0 && off <= n && jq_tokch(p[off - 1]))
		a = off - 1;
	else
		return 0;
	while (a > 0 && jq_tokch(p[a - 1]))
		a--;
	for (b = a; b < n && jq_tokch(p[b]) && p[b] != '\0'; b++)
		;
	if (b == a)
		return b < n && p[b] == '\0';
	while (a < b && (p[a] == '\v' || p[a] == '\f'))
		a++;
	return lenient_number(p + a, b - a);
}

/* D5: a \u escape of a high surrogate not followed by a low one. */
static int
lone_high_surrogate(const unsigned char *p, size_t n)
{
	size_t i;
	int in = 0;

	for (i = 0; i < n; i++) {
		if (!in) {
			in = p[i] == '"';
			continue;
		}
		if (p[i] == '"') {
			in = 0;
		} else if (p[i] == '\\') {
			if (i + 5 < n && p[i + 1] == 'u') {
				unsigned long h = strtoul((const char[]){ (char)p[i + 2],
				                                          (char)p[i + 3],
				                                          (char)p[i + 4],
				                                          (char)p[i + 5], 0 },
				                          NULL, 16),
				              l = 0;

				if (h >= 0xD800 && h <= 0xDBFF) {
					if (i + 11 < n && p[i + 6] == '\\' && p[i + 7] == 'u')
						l = strtoul((const char[]){ (char)p[i + 8],
						                            (char)p[i + 9],
						                            (char)p[i + 10],
						                            (char)p[i + 11], 0 },
						            NULL, 16);
					if (l < 0xDC00 || l > 0xDFFF)
						return 1;
				}
				i += 5;
			} else
				i++;
		}
	}
	return 0;
}

/*
 * A string token right after a value, as libjq 1.6 tokenises: it leaks that
 * string. Such a line is never valid JSON.
 */
static int
jq_would_leak(const unsigned char *p, size_t n)
{
	size_t i = 0;
	int pending = 0;

	while (i < n) {
		unsigned char c = p[i];

		if (c == '"') {
			if (pending)
				return 1;
			for (i++; i < n && p[i] != '"'; i++)
				if (p[i] == '\\')
					i++;
			i++;
			pending = 1;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
		} else if (c == '[' || c == '{' || c == ',' || c == ':') {
			i++;
			pending = 0;
		} else if (c == ']' || c == '}') {
			i++;
			pending = 1;
		} else {
			while (i < n && jq_tokch(p[i])) /* a literal, NUL bytes included */
				i++;
			pending = 1;
		}
	}
	return 0;
}

/* D6: the deepest nesting of a line the scanner accepted. */
static int
max_depth(const unsigned char *p, size_t n)
{
	size_t i;
	int in = 0, d = 0, m = 0;

	for (i = 0; i < n; i++) {
		if (in) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in = 0;
		} else if (p[i] == '"')
			in = 1;
		else if (p[i] == '{' || p[i] == '[') {
			if (++d > m)
				m = d;
		} else if (p[i] == '}' || p[i] == ']')
			d--;
	}
	return m;
}

/* Which intentional divergence explains a disagreement, or -1. */
static int
divergence(const unsigned char *p, size_t n, int scan_ok, const struct cl_json_err *e, jv msg)
{
	if (!scan_ok) {
		if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
			return D_BOM;
		if (e->off < n && p[e->off] >= 0x80 &&
		    strcmp(e->msg, "invalid UTF-8 in string") == 0)
			return D_UTF8;
		if (e->off < n && p[e->off] == 0x1E)
			return D_RS;
		if (e->off < n && (p[e->off] == 0x00 || p[e->off] == 0x1F) &&
		    strcmp(e->msg, "control character in string") == 0)
			return D_CTRL;
		if (jq_number_token(p, n, e->off))
			return D_NUMTOKEN;
		return -1;
	}
	if (jq_msg_has(msg, "surrogate pair escape") && lone_high_surrogate(p, n))
		return D_HIGHSURR;
	if (jq_msg_has(msg, "Exceeds depth limit") && max_depth(p, n) >= 256)
		return D_DEPTH;
	return -1;
}

/*
 * Scans [p, p+n) (copied to an exact-size allocation, so a read past the end
 * is caught by valgrind and ASan) with both parsers and compares. Returns 1
 * when both accept it.
 */
static int
differ(const struct set *st, const char *line, size_t n, int expect_valid)
{
	char *p = cl_xmalloc(n);
	struct cl_json_err e = { 0, NULL };
	jv v, msg;
	int ok, jok, d, both = 0;

	memcpy(p, line, n);
	ok = cl_json_scan(st->q, p, n, st->r, &e) == 0;
	if (jq_would_leak((const unsigned char *)p, n)) {
		n_leaky++;
		CHECK(!ok);
		if (ok)
			show("scanner accepts a string right after a value", p, n);
		free(p);
		return 0;
	}
	jok = jq_object(p, n, &v, &msg);
	if (ok != jok) {
		d = divergence((const unsigned char *)p, n, ok, &e, msg);
		if (d >= 0) {
			div_count[d]++;
		} else {
			CHECK_INT(ok, jok);
			show(ok ? "scanner accepts, libjq rejects"
			        : "scanner rejects, libjq accepts",
			     p, n);
			if (!ok)
				fprintf(stderr, "  scanner: %s at %zu\n", e.msg, e.off);
			if (jv_get_kind(msg) == JV_KIND_STRING)
				fprintf(stderr, "  libjq: %s\n", jv_string_value(msg));
		}
	} else if (ok) {
		compare_fields(st, v, p, n);
		both = 1;
	}
	if (expect_valid && !ok) {
		CHECK(ok);
		show("generated line rejected", p, n);
		fprintf(stderr, "  scanner: %s at %zu\n", e.msg, e.off);
	}
	jv_free(v);
	jv_free(msg);
	free(p);
	return both;
}

/* The random generator: g->v draws the value, g->w the whitespace. */
struct gen {
	uint64_t v, w;
	int style; /* 0 compact, 1 ", " and ": ", 2 random whitespace */
	struct cl_buf *b;
};

static void
gws(struct gen *g)
{
	static const char wsch[] = " \t\r\n";
	unsigned k;

	if (g->style != 2)
		return;
	for (k = pick(&g->w, 6); k > 3; k--)
		cl_buf_addc(g->b, wsch[pick(&g->w, 4)]);
}

static void
gsep(struct gen *g, char c)
{
	gws(g);
	cl_buf_addc(g->b, c);
	if (g->style == 1 && (c == ',' || c == ':'))
		cl_buf_addc(g->b, ' ');
	gws(g);
}

static void
gutf8(struct cl_buf *b, unsigned long cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xE0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xF0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	cl_buf_add(b, u, n);
}

static void
gstring(struct gen *g)
{
	static const char *const esc[] = {
		"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"
	};
	unsigned n = pick(&g->v, 14), i;
	unsigned long cp;

	cl_buf_addc(g->b, '"');
	for (i = 0; i < n; i++) {
		switch (pick(&g->v, 12)) {
		case 0:
			cl_buf_adds(g->b, esc[pick(&g->v, 8)]);
			break;
		case 1: /* \u escape of a BMP character, not a surrogate; any case */
			do
				cp = pick(&g->v, 0x10000);
			while (cp >= 0xD800 && cp <= 0xDFFF);
			if (pick(&g->v, 4) == 0)
				cp &= 0x7F;
			cl_buf_addf(g->b, pick(&g->v, 2) ? "\\u%04lx" : "\\u%04lX", cp);
			break;
		case 2: /* a surrogate pair, or rarely a lone low surrogate */
			cp = 0x10000 + pick(&g->v, 0x100000);
			if (pick(&g->v, 8) == 0)
				cl_buf_addf(g->b, "\\u%04lx", 0xDC00 + (cp & 0x3FF));
			else
				cl_buf_addf(g->b, "\\u%04lx\\u%04lX",
				            0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + (cp & 0x3FF));
			break;
		case 3: /* raw UTF-8 of 2, 3 or 4 bytes */
			switch (pick(&g->v, 3)) {
			case 0:
				cp = 0x80 + pick(&g->v, 0x780);
				break;
			case 1:
				do
					cp = 0x800 + pick(&g->v, 0xF800);
				while (cp >= 0xD800 && cp <= 0xDFFF);
				break;
			default:
				cp = 0x10000 + pick(&g->v, 0x100000);
				break;
			}
			gutf8(g->b, cp);
			break;
		default: {
			char c = (char)(0x20 + pick(&g->v, 0x5F));

			if (c == '"' || c == '\\')
				c = 'q';
			cl_buf_addc(g->b, c);
			break;
		}
		}
	}
	cl_buf_addc(g->b, '"');
}

static void
gkey(struct gen *g)
{
	/* the names on the paths, some spelled with escapes */
	static const char *const pool[] = {
		"\"kind\"",
		"\"data\"",
		"\"sourcedId\"",
		"\"user\"",
		"\"terms\"",
		"\"grades\"",
		"\"orgs\"",
		"\"\xc3\xa9t\xc3\xa9\"",
		"\"a\\\"b\"",
		"\"s\\u006furcedId\"",
		"\"\\u006bind\"",
		"\"d\\u0061ta\"",
		"\"\\u00e9t\\u00E9\"",
		"\"a\\u0022b\"",
		"\"te\\u0072ms\"",
		"\"sourcedI\"",
		"\"sourcedIds\"",
		"\"a\\\\b\"",
		"\"\"",
	};

	if (pick(&g->v, 8))
		cl_buf_adds(g->b, pool[pick(&g->v, sizeof(pool) / sizeof(pool[0]))]);
	else
		gstring(g);
}

static void
gnumber(struct gen *g)
{
	unsigned k;

	if (pick(&g->v, 3) == 0)
		cl_buf_addc(g->b, '-');
	if (pick(&g->v, 4) == 0)
		cl_buf_addc(g->b, '0');
	else {
		cl_buf_addc(g->b, (char)('1' + pick(&g->v, 9)));
		for (k = pick(&g->v, 8); k > 0; k--)
			cl_buf_addc(g->b, (char)('0' + pick(&g->v, 10)));
	}
	if (pick(&g->v, 3) == 0) {
		cl_buf_addc(g->b, '.');
		for (k = 1 + pick(&g->v, 5); k > 0; k--)
			cl_buf_addc(g->b, (char)('0' + pick(&g->v, 10)));
	}
	if (pick(&g->v, 4) == 0) {
		cl_buf_addc(g->b, pick(&g->v, 2) ? 'e' : 'E');
		k = pick(&g->v, 3);
		if (k)
			cl_buf_addc(g->b, k == 1 ? '+' : '-');
		for (k = 1 + pick(&g->v, 3); k > 0; k--)
			cl_buf_addc(g->b, (char)('0' + pick(&g->v, 10)));
	}
}

static void gvalue(struct gen *g, int depth);

static void
gobject(struct gen *g, int depth, unsigned max)
{
	unsigned n = pick(&g->v, max), i;

	cl_buf_addc(g->b, '{');
	gws(g);
	for (i = 0; i < n; i++) {
		if (i)
			gsep(g, ',');
		gkey(g);
		gsep(g, ':');
		gvalue(g, depth + 1);
	}
	gws(g);
	cl_buf_addc(g->b, '}');
}

static void
gvalue(struct gen *g, int depth)
{
	unsigned n, i, kind = pick(&g->v, 20);

	if (depth < 2 && pick(&g->v, 2))
		kind = 0; /* objects near the top, where the paths go */
	if (depth >= 6 && kind < 9)
		kind += 9;
	if (kind < 5) {
		gobject(g, depth, 7);
	} else if (kind < 9) {
		n = pick(&g->v, 5);
		cl_buf_addc(g->b, '[');
		gws(g);
		for (i = 0; i < n; i++) {
			if (i)
				gsep(g, ',');
			gvalue(g, depth + 1);
		}
		gws(g);
		cl_buf_addc(g->b, ']');
	} else if (kind < 14) {
		gstring(g);
	} else if (kind < 17) {
		gnumber(g);
	} else {
		static const char *const lit[] = { "true", "false", "null" };

		cl_buf_adds(g->b, lit[kind - 17]);
	}
}

/* One random object, written in a style; seed fixes the value. */
static void
generate(struct cl_buf *b, uint64_t seed, int style)
{
	struct gen g;

	g.v = seed;
	g.w = seed ^ 0x9E3779B97F4A7C15ull;
	if (!g.w)
		g.w = 1;
	g.style = style;
	g.b = b;
	cl_buf_reset(b);
	gws(&g);
	gobject(&g, 0, 9);
	gws(&g);
}

/* Scans libjq's own dumps of a line (compact, pretty, ASCII-only). */
static void
dumps(const struct set *st, const char *line, size_t n)
{
	static const int flags[] = { 0, JV_PRINT_PRETTY, JV_PRINT_ASCII,
		                     JV_PRINT_ASCII | JV_PRINT_PRETTY | JV_PRINT_SPACE1 };
	jv v = jv_parse_sized(line, (int)n), d;
	size_t i;

	if (!jv_is_valid(v)) {
		jv_free(v);
		return;
	}
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		d = jv_dump_string(jv_copy(v), flags[i]);
		if (jv_get_kind(d) == JV_KIND_STRING) {
			n_lines++;
			differ(st, jv_string_value(d), (size_t)jv_string_length_bytes(jv_copy(d)),
			       1);
		}
		jv_free(d);
	}
	jv_free(v);
}

static void
test_random(const struct set *st, unsigned long iter, uint64_t seed)
{
	struct cl_buf b = CL_BUF_INIT, m = CL_BUF_INIT;
	static const char interesting[] = "\"\\{}[],: \t\n0123456789-+.eEtrufalsn\x01\x1e\x7f";
	uint64_t s = seed, ms = seed * 31 + 7;
	unsigned long it;
	int style;

	for (it = 0; it < iter; it++) {
		uint64_t vs = rnd(&s) | 1;

		for (style = 0; style < 3; style++) {
			generate(&b, vs, style);
			n_lines++;
			n_valid += (unsigned long)differ(st, b.p, b.len, 1);
		}
		if (it % 8 == 0)
			dumps(st, b.p, b.len);

		/* (b) mutations of one of the writings */
		{
			unsigned k = 1 + pick(&ms, 3);
			size_t pos;
			unsigned char c;

			generate(&b, vs, (int)pick(&ms, 3));
			cl_buf_reset(&m);
			cl_buf_add(&m, b.p, b.len);
			while (k--) {
				pos = m.len ? pick(&ms, (unsigned)m.len) : 0;
				c = pick(&ms, 2) ? (unsigned char)interesting[pick(
				                           &ms, sizeof(interesting) - 1)]
				                 : (unsigned char)pick(&ms, 256);
				switch (pick(&ms, 4)) {
				case 0: /* delete */
					if (m.len) {
						memmove(m.p + pos, m.p + pos + 1, m.len - pos - 1);
						m.len--;
					}
					break;
				case 1: /* insert */
					cl_buf_addc(&m, 0);
					memmove(m.p + pos + 1, m.p + pos, m.len - pos - 1);
					m.p[pos] = (char)c;
					break;
				case 2: /* replace */
					if (m.len)
						m.p[pos] = (char)c;
					break;
				default: /* flip a bit */
					if (m.len)
						m.p[pos] ^= (char)(1u << pick(&ms, 8));
					break;
				}
			}
			n_mut++;
			n_mut_valid += (unsigned long)differ(st, m.p, m.len, 0);
		}
	}
	cl_buf_release(&b);
	cl_buf_release(&m);
}

/* Each known divergence, once, so a change in libjq or the scanner shows. */
static void
test_divergences(const struct set *st)
{
	static const struct {
		const char *line;
		size_t n;
		int div;
	} cases[] = {
		{ "{\"a\":\"\xff\"}", 0, D_UTF8 },
		{ "{\"a\":\"\xc0\xaf\"}", 0, D_UTF8 },
		{ "{\"a\":\"\xed\xa0\x80\"}", 0, D_UTF8 },
		{ "{\"a\":\"\xf4\x90\x80\x80\"}", 0, D_UTF8 },
		{ "{\"a\":01}", 0, D_NUMTOKEN },
		{ "{\"a\":-01}", 0, D_NUMTOKEN },
		{ "{\"a\":1.}", 0, D_NUMTOKEN },
		{ "{\"a\":.5}", 0, D_NUMTOKEN },
		{ "{\"a\":+1}", 0, D_NUMTOKEN },
		{ "{\"a\":1.e5}", 0, D_NUMTOKEN },
		{ "{\"a\":nan}", 0, D_NUMTOKEN },
		{ "{\"a\":NaN}", 0, D_NUMTOKEN },
		{ "{\"a\":-Infinity}", 0, D_NUMTOKEN },
		{ "{\"a\":1\0}", 8, D_NUMTOKEN },
		{ "{\"a\":\0}", 7, D_NUMTOKEN },
		{ "{\"a\":\v-1}", 0, D_NUMTOKEN },
		{ "{\"a\":\"x\x1f\"}", 0, D_CTRL },
		{ "{\"a\0\":1}", 8, D_CTRL },
		{ "{\"a\":1}\x1e", 0, D_RS },
		{ "\xef\xbb\xbf{\"a\":1}", 0, D_BOM },
		{ "{\"a\":\"\\ud800\"}", 0, D_HIGHSURR },
		{ "{\"a\":\"\\ud83d\\u0041\"}", 0, D_HIGHSURR },
		{ "{\"a\":\"\\ude00\\ud83d\"}", 0, D_HIGHSURR },
	};
	unsigned long before[NDIV];
	struct cl_buf deep = CL_BUF_INIT;
	size_t i;
	int d;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].n ? cases[i].n : strlen(cases[i].line);

		memcpy(before, div_count, sizeof(before));
		differ(st, cases[i].line, n, 0);
		CHECK_INT(div_count[cases[i].div], before[cases[i].div] + 1);
	}
	/* 256 levels: libjq rejects, the scanner accepts */
	cl_buf_adds(&deep, "{\"a\":");
	for (d = 1; d < 256; d++)
		cl_buf_addc(&deep, '[');
	for (d = 1; d < 256; d++)
		cl_buf_addc(&deep, ']');
	cl_buf_addc(&deep, '}');
	memcpy(before, div_count, sizeof(before));
	differ(st, deep.p, deep.len, 1);
	CHECK_INT(div_count[D_DEPTH], before[D_DEPTH] + 1);
	cl_buf_release(&deep);
	/* and what both accept or both reject */
	CHECK_INT(differ(st, "{\"a\":\"\\udc00\"}", 14, 1), 1);
	CHECK_INT(differ(st, "{\"a\":\"x\ty\"}", 11, 0), 0);
	CHECK_INT(differ(st, "{\"a\":1,}", 8, 0), 0);
	CHECK_INT(differ(st, "{\"a\":1}\f", 8, 0), 0);
}

static int
set_init(struct set *st, const char *const *names, size_t n)
{
	size_t i;

	st->names = names;
	st->n = n;
	for (i = 0; i < n; i++)
		split_path(names[i], &st->jp[i]);
	st->q = cl_json_query_new(names, n);
	st->r = st->q ? cl_json_result_new(st->q) : NULL;
	return st->q ? 0 : -1;
}

static void
set_release(struct set *st)
{
	cl_json_result_free(st->r);
	cl_json_query_free(st->q);
}

/* (c) OneRoster 1.1 records as ClassLink serves them, wrapped as stream lines. */
static void
test_records(void)
{
	static const char *const rec[] = {
		"{\"kind\": \"user\", \"data\": {\"sourcedId\": \"18125\", \"status\": \"active\", "
		"\"dateLastModified\": \"2019-03-01T18:14:45.000Z\", \"username\": "
		"\"billy.flores\", "
		"\"userIds\": [{\"type\": \"FED\", \"identifier\": \"18125\"}], \"enabledUser\": "
		"\"true\", \"givenName\": \"BILLY\", \"familyName\": \"FLORES\", \"middleName\": "
		"\"DASEAN\", \"role\": \"student\", \"identifier\": \"17580\", \"email\": "
		"\"billy.flores@classlink.k12.nj.us\", \"sms\": \"\", \"phone\": \"\", \"agents\": "
		"[], "
		"\"orgs\": [{\"href\": "
		"\"https://adobe-ca-v2.oneroster.com/ims/oneroster/v1p1/orgs/2\", "
		"\"sourcedId\": \"2\", \"type\": \"org\"}], \"grades\": [\"11\"], \"password\": "
		"\"\"}}",

		"{\"kind\":\"user\",\"data\":{\"sourcedId\":\"T-0042\",\"status\":\"active\","
		"\"dateLastModified\":\"2019-03-01T18:14:45.000Z\",\"username\":\"r.obrien\","
		"\"userIds\":[{\"type\":\"FED\",\"identifier\":\"0042\"},{\"type\":\"SIS\","
		"\"identifier\":\"x\\/"
		"42\"}],\"enabledUser\":\"false\",\"givenName\":\"Ren\\u00e9e\","
		"\"familyName\":\"O'Brien \\\"Bee\\\"\",\"middleName\":\"\",\"role\":\"teacher\","
		"\"identifier\":\"\",\"email\":\"ren\xc3\xa9"
		"e.obrien@example.org\",\"sms\":\"\","
		"\"phone\":\"+1 555 0100\",\"agents\":[{\"href\":\"https://h/users/P1\","
		"\"sourcedId\":\"P1\",\"type\":\"user\"}],\"orgs\":[{\"href\":\"https://h/orgs/2\","
		"\"sourcedId\":\"2\",\"type\":\"org\"},{\"href\":\"https://h/orgs/7\","
		"\"sourcedId\":\"7\",\"type\":\"org\"},{\"href\":\"https://h/orgs/D1\","
		"\"sourcedId\":\"D1\",\"type\":\"org\"}],\"grades\":[],\"password\":\"\"}}",

		"{\"kind\":\"user\",\"data\":{\"sourcedId\":\"P1\",\"status\":\"tobedeleted\","
		"\"enabledUser\":\"true\",\"role\":\"parent\",\"email\":\"\",\"agents\":[{\"href\":"
		"\"https://h/users/18125\",\"sourcedId\":\"18125\",\"type\":\"user\"}],\"orgs\":[],"
		"\"grades\":[\"09\",\"10\"],\"givenName\":\"\\u5f20\",\"familyName\":"
		"\"\\ud83d\\ude00\"}}",

		"{\"kind\":\"class\",\"data\":{\"sourcedId\":\"C-1\",\"status\":\"active\","
		"\"title\":\"Algebra I \\u2013 "
		"P3\",\"classCode\":\"ALG1\",\"classType\":\"scheduled\","
		"\"location\":\"\",\"grades\":[\"09\"],\"subjects\":[\"Math\"],\"course\":{"
		"\"href\":"
		"\"https://h/courses/K1\",\"sourcedId\":\"K1\",\"type\":\"course\"},\"school\":{"
		"\"href\":\"https://h/orgs/2\",\"sourcedId\":\"2\",\"type\":\"org\"},\"terms\":[{"
		"\"href\":\"https://h/terms/"
		"S1\",\"sourcedId\":\"S1\",\"type\":\"academicSession\"},"
		"{\"href\":\"https://h/terms/"
		"S2\",\"sourcedId\":\"S2\",\"type\":\"academicSession\"},"
		"{\"href\":\"https://h/terms/"
		"Y\",\"sourcedId\":\"Y\",\"type\":\"academicSession\"}],"
		"\"periods\":[\"3\"]}}",

		"{\"kind\":\"enrollment\",\"data\":{\"sourcedId\":\"E-9\",\"status\":\"active\","
		"\"user\":{\"href\":\"https://h/users/18125\",\"sourcedId\":\"18125\",\"type\":"
		"\"user\"},\"class\":{\"href\":\"https://h/classes/C-1\",\"sourcedId\":\"C-1\","
		"\"type\":\"class\"},\"school\":{\"href\":\"https://h/orgs/2\",\"sourcedId\":\"2\","
		"\"type\":\"org\"},\"role\":\"student\",\"primary\":\"false\",\"beginDate\":"
		"\"2019-09-01\",\"endDate\":\"\"}}",

		"{\"kind\":\"academicSession\",\"data\":{\"sourcedId\":\"S1\",\"status\":"
		"\"active\","
		"\"title\":\"Fall 2019\",\"type\":\"semester\",\"startDate\":\"2019-09-01\","
		"\"endDate\":\"2020-01-31\",\"parent\":{\"href\":\"https://h/terms/"
		"Y\",\"sourcedId\":"
		"\"Y\",\"type\":\"academicSession\"},\"children\":[],\"schoolYear\":\"2020\"}}",

		"{\"kind\":\"org\",\"data\":{\"sourcedId\":\"2\",\"status\":\"active\",\"name\":"
		"\"Lincoln High School\",\"type\":\"school\",\"identifier\":\"S0002\",\"parent\":{"
		"\"href\":\"https://h/orgs/"
		"D1\",\"sourcedId\":\"D1\",\"type\":\"org\"},\"children\":"
		"null}}",
	};
	static const char *const rpaths[] = {
		"kind",
		"data.sourcedId",
		"data.status",
		"data.enabledUser",
		"data.role",
		"data.email",
		"data.orgs[].sourcedId",
		"data.grades[]",
		"data.terms[].sourcedId",
		"data.user.sourcedId",
		"data.class.sourcedId",
		"data.agents[].sourcedId",
		"data.userIds[].identifier",
		"data.givenName",
		"data.familyName",
		"data.parent.sourcedId",
		"data.children",
		"data.endDate",
	};
	struct set st;
	const struct cl_json_result *r;
	size_t i;

	if (set_init(&st, rpaths, sizeof(rpaths) / sizeof(rpaths[0])) != 0) {
		CHECK(!"the record paths compile");
		return;
	}
	r = st.r;
	for (i = 0; i < sizeof(rec) / sizeof(rec[0]); i++) {
		n_lines++;
		CHECK_INT(differ(&st, rec[i], strlen(rec[i]), 1), 1);
		dumps(&st, rec[i], strlen(rec[i]));
		/* and some fields checked by hand */
		CHECK_INT(cl_json_scan(st.q, rec[i], strlen(rec[i]), st.r, NULL), 0);
		switch (i) {
		case 0:
			CHECK(cl_json_str_eq(cl_json_result_first(r, 0), "user"));
			CHECK(cl_json_str_eq(cl_json_result_first(r, 3), "true"));
			CHECK_INT(cl_json_result_count(r, 6), 1);
			CHECK(cl_json_str_eq(cl_json_result_get(r, 6, 0), "2"));
			CHECK(cl_json_str_eq(cl_json_result_first(r, 7), "11"));
			CHECK(cl_json_str_eq(cl_json_result_first(r, 12), "18125"));
			CHECK_INT(cl_json_result_count(r, 11), 0);
			break;
		case 1:
			CHECK_INT(cl_json_result_count(r, 6), 3);
			CHECK(cl_json_str_eq(cl_json_result_get(r, 6, 2), "D1"));
			CHECK(cl_json_str_eq(cl_json_result_get(r, 12, 1), "x/42"));
			CHECK(cl_json_str_eq(cl_json_result_first(r, 13), "Ren\xc3\xa9"
			                                                  "e"));
			CHECK(cl_json_str_eq(cl_json_result_first(r, 14), "O'Brien \"Bee\""));
			CHECK(cl_json_str_eq(cl_json_result_first(r, 11), "P1"));
			break;
		case 2:
			CHECK(cl_json_str_eq(cl_json_result_first(r, 14), "\xf0\x9f\x98\x80"));
			CHECK_INT(cl_json_result_count(r, 7), 2);
			break;
		case 3:
			CHECK_INT(cl_json_result_count(r, 8), 3);
			CHECK(cl_json_str_eq(cl_json_result_get(r, 8, 1), "S2"));
			break;
		case 4:
			CHECK(cl_json_str_eq(cl_json_result_first(r, 9), "18125"));
			CHECK(cl_json_str_eq(cl_json_result_first(r, 10), "C-1"));
			CHECK(cl_json_str_eq(cl_json_result_first(r, 17), ""));
			break;
		case 6:
			CHECK_INT(cl_json_result_first(r, 16)->type, CL_JSON_NULL);
			CHECK(cl_json_str_eq(cl_json_result_first(r, 15), "D1"));
			break;
		}
	}
	set_release(&st);
}

int
main(void)
{
	const char *e = getenv("CL_TEST_ITER"), *se = getenv("CL_TEST_SEED");
	const char *vg = getenv("CL_VALGRIND");
	unsigned long iter = e && *e ? strtoul(e, NULL, 10) : vg && !strcmp(vg, "1") ? 300 : 6000;
	uint64_t seed = se && *se ? strtoull(se, NULL, 0) : 0x5EED2024u;
	struct set st;
	size_t i;

	if (!seed)
		seed = 1;
	if (set_init(&st, paths, NPATHS) != 0) {
		fprintf(stderr, "cannot compile the paths\n");
		return 1;
	}
	test_divergences(&st);
	test_random(&st, iter, seed);
	test_records();
	set_release(&st);
	fprintf(stderr,
	        "%s: %lu lines (%lu valid), %lu spans compared; %lu mutations (%lu still valid)\n",
	        __FILE__, n_lines, n_valid, n_spans, n_mut, n_mut_valid);
	for (i = 0; i < NDIV; i++)
		fprintf(stderr, "  skipped as %s: %lu\n", div_name[i], div_count[i]);
	fprintf(stderr, "  not given to libjq (it would leak), rejected by the scanner: %lu\n",
	        n_leaky);
	return T_DONE();
}
