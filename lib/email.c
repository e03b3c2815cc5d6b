/* email.c: normalising and classifying email addresses (email.h). */
#include "email.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct nfc_pair {
	uint32_t a, b, c;
};

#include "nfc-table.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int
is_ascii_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Decodes one UTF-8 sequence at s (n > 0 bytes left); returns its length, or 0 if invalid. */
static size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		c = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		c = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
	    (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

int
cl_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, len;
	uint32_t c;

	for (i = 0; i < n; i += len) {
		if (u[i] < 0x80) {
			len = 1;
			continue;
		}
		if ((len = utf8_decode(u + i, n - i, &c)) == 0)
			return 0;
	}
	return 1;
}

static void
utf8_encode(uint32_t c, struct cl_buf *out)
{
	char b[4];

	if (c < 0x80) {
		cl_buf_addc(out, (char)c);
	} else if (c < 0x800) {
		b[0] = (char)(0xC0 | (c >> 6));
		b[1] = (char)(0x80 | (c & 0x3F));
		cl_buf_add(out, b, 2);
	} else if (c < 0x10000) {
		b[0] = (char)(0xE0 | (c >> 12));
		b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		b[2] = (char)(0x80 | (c & 0x3F));
		cl_buf_add(out, b, 3);
	} else {
		b[0] = (char)(0xF0 | (c >> 18));
		b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
		b[3] = (char)(0x80 | (c & 0x3F));
		cl_buf_add(out, b, 4);
	}
}

static unsigned
ccc(uint32_t c)
{
	return c >= 0x300 && c < 0x370 ? nfc_ccc[c - 0x300] : 0;
}

static int
cmp_pair_ab(const void *k, const void *e)
{
	const struct nfc_pair *x = k, *y = e;

	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	return 0;
}

static int
cmp_pair_c(const void *k, const void *e)
{
	const struct nfc_pair *x = k, *y = e;

	return x->c < y->c ? -1 : x->c > y->c;
}

struct cps {
	uint32_t *v;
	size_t n, cap;
};

static void
cps_push(struct cps *s, uint32_t c)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = cl_xreallocarray(s->v, s->cap, sizeof *s->v);
	}
	s->v[s->n++] = c;
}

/* Canonical decomposition over the table's repertoire (depth is at most 3). */
static void
decompose(uint32_t c, struct cps *s)
{
	struct nfc_pair key = { 0, 0, c };
	const struct nfc_pair *p;
	size_t i;

	for (i = 0; i < NELEM(nfc_singleton); i++)
		if (nfc_singleton[i].a == c) {
			decompose(nfc_singleton[i].c, s);
			return;
		}
	if (c >= 0xC0 && (p = bsearch(&key, nfc_decompose, NELEM(nfc_decompose),
	                              sizeof *nfc_decompose, cmp_pair_c)) != NULL) {
		decompose(p->a, s);
		cps_push(s, p->b);
		return;
	}
	cps_push(s, c);
}

static uint32_t
compose(uint32_t a, uint32_t b)
{
	struct nfc_pair key = { a, b, 0 };
	const struct nfc_pair *p;

	p = bsearch(&key, nfc_compose, NELEM(nfc_compose), sizeof *nfc_compose, cmp_pair_ab);
	return p ? p->c : 0;
}

void
cl_nfc(const char *s, size_t n, struct cl_buf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	struct cps v = { NULL, 0, 0 };
	size_t i, j, len, starter, o;
	unsigned last;
	uint32_t c;

	for (i = 0; i < n; i += len) {
		len = utf8_decode(u + i, n - i, &c);
		if (len == 0) { /* not UTF-8: compare the bytes as given */
			free(v.v);
			cl_buf_add(out, s, n);
			return;
		}
		decompose(c, &v);
	}
	/* Canonical ordering: a stable sort of each run of marks by class. */
	for (i = 1; i < v.n; i++)
		for (j = i; j > 0 && ccc(v.v[j]) != 0 && ccc(v.v[j - 1]) > ccc(v.v[j]); j--) {
			c = v.v[j];
			v.v[j] = v.v[j - 1];
			v.v[j - 1] = c;
		}
	/* Canonical composition (UAX #15): a mark joins the last starter unless blocked. */
	if (v.n > 0) {
		starter = 0;
		last = ccc(v.v[0]) ? 256 : 0;
		for (i = o = 1; i < v.n; i++) {
			unsigned cc = ccc(v.v[i]);
			uint32_t comp = compose(v.v[starter], v.v[i]);

			if (comp && (last < cc || last == 0)) {
				v.v[starter] = comp;
				continue;
			}
			if (cc == 0)
				starter = o;
			last = cc;
			v.v[o++] = v.v[i];
		}
		v.n = o;
	}
	for (i = 0; i < v.n; i++)
		utf8_encode(v.v[i], out);
	free(v.v);
}

static void
lower_ascii(struct cl_buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if (b->p[i] >= 'A' && b->p[i] <= 'Z')
			b->p[i] = (char)(b->p[i] - 'A' + 'a');
}

/*
 * Trims, applies NFC and folds ASCII case; out is emptied first. The result
 * is a fixed point: folding it again changes nothing. NFC comes first, so
 * that canonically equivalent spellings meet (T + combining cedilla is
 * U+0162, a capital that ASCII folding leaves alone); then ASCII case, then
 * NFC again, since a lower-case letter may compose where its capital cannot
 * (J + combining caron has no precomposed form, j + caron is U+01F0). NFC
 * never makes an ASCII capital from what is already NFC (the singletons such
 * as KELVIN SIGN went in the first pass), so the loop ends on its second
 * round at the latest; the bound is a guard.
 */
static void
fold(const char *s, size_t n, struct cl_buf *out)
{
	struct cl_buf t = CL_BUF_INIT;
	size_t i;
	int round;

	cl_buf_reset(out);
	while (n > 0 && is_ascii_space((unsigned char)s[0])) {
		s++;
		n--;
	}
	while (n > 0 && is_ascii_space((unsigned char)s[n - 1]))
		n--;
	cl_buf_grow(out, n);
	for (i = 0; i < n; i++) { /* the common case: ASCII, folded as it is copied */
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80)
			break;
		out->p[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	if (i == n) {
		out->len = n;
		out->p[n] = '\0';
		return;
	}
	cl_nfc(s, n, &t);
	for (round = 0; round < 8; round++) {
		lower_ascii(&t);
		cl_buf_reset(out);
		cl_nfc(t.p, t.len, out);
		if (out->len == t.len && memcmp(out->p, t.p, t.len) == 0)
			break;
		cl_buf_reset(&t);
		cl_buf_add(&t, out->p, out->len);
	}
	cl_buf_release(&t);
}

static const char *const placeholders[] = {
	"redacted", "masked",   "hidden", "private", "withheld", "noemail",     "no-email",
	"no_email", "no.email", "none",   "null",    "nil",      "placeholder", "unknown",
};

static int
placeholder_word(const char *p, size_t n)
{
	size_t i;

	if (n >= 2 && ((p[0] == '[' && p[n - 1] == ']') || (p[0] == '(' && p[n - 1] == ')') ||
	               (p[0] == '<' && p[n - 1] == '>'))) {
		p++;
		n -= 2;
	}
	if (n > sizeof "placeholder" - 1)
		return 0;
	for (i = 0; i < NELEM(placeholders); i++)
		if (strlen(placeholders[i]) == n && memcmp(placeholders[i], p, n) == 0)
			return 1;
	return 0;
}

static int
ends_with(const char *p, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	return n >= k && memcmp(p + n - k, lit, k) == 0;
}

int
cl_email_masked(const char *p, size_t n)
{
	const char *at = NULL, *dom;
	size_t i, ln, dn;

	for (i = 0; i < n; i++)
		if (p[i] == '@')
			at = p + i;
	if (!at)
		return 1;
	ln = (size_t)(at - p);
	dom = at + 1;
	dn = n - ln - 1;
	if (ln == 0 || dn == 0)
		return 1;
	if (memchr(p, '*', n))
		return 1;
	if (placeholder_word(p, ln))
		return 1;
	if ((dn == 7 && memcmp(dom, "invalid", 7) == 0) ||
	    (dn == 8 && memcmp(dom, "redacted", 8) == 0) || ends_with(dom, dn, ".invalid"))
		return 1;
	return 0;
}

enum cl_email_class
cl_email_norm(const struct cl_aliases *a, const char *s, size_t n, struct cl_buf *out)
{
	const char *at;
	size_t i, dn;

	fold(s, n, out);
	if (out->len == 0)
		return CL_EMAIL_NONE;
	if (cl_email_masked(out->p, out->len))
		return CL_EMAIL_MASKED;
	if (!a || a->n == 0)
		return CL_EMAIL_OK;
	for (at = out->p + out->len - 1; *at != '@'; at--) /* there is one: not masked */
		;
	/* at most one alias applies: cl_aliases_add refuses a TO that is some FROM */
	dn = out->len - (size_t)(at + 1 - out->p);
	for (i = 0; i < a->n; i++) {
		if (strlen(a->from[i]) == dn && memcmp(a->from[i], at + 1, dn) == 0) {
			out->len = (size_t)(at + 1 - out->p);
			cl_buf_adds(out, a->to[i]);
			break;
		}
	}
	return CL_EMAIL_OK;
}

void
cl_aliases_init(struct cl_aliases *a)
{
	a->from = a->to = NULL;
	a->n = 0;
}

void
cl_aliases_release(struct cl_aliases *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		free(a->from[i]);
		free(a->to[i]);
	}
	free(a->from);
	free(a->to);
	cl_aliases_init(a);
}

/* A domain as an alias names it: normalised, an optional leading '@' dropped. */
static char *
alias_domain(const char *s, size_t n)
{
	struct cl_buf b = CL_BUF_INIT;
	size_t i;

	if (n > 0 && s[0] == '@') {
		s++;
		n--;
	}
	fold(s, n, &b);
	for (i = 0; i < b.len; i++)
		if (b.p[i] == '@' || b.p[i] == '=' || is_ascii_space((unsigned char)b.p[i]))
			break;
	if (b.len == 0 || i < b.len) {
		cl_buf_release(&b);
		return NULL;
	}
	return cl_buf_detach(&b, NULL);
}

int
cl_aliases_add(struct cl_aliases *a, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *from, *to;
	size_t i;

	if (!eq)
		return -1;
	from = alias_domain(arg, (size_t)(eq - arg));
	to = alias_domain(eq + 1, strlen(eq + 1));
	if (!from || !to) {
		free(from);
		free(to);
		return -1;
	}
	/*
	 * A chain (a=b, b=c) would make normalising not idempotent: x@a becomes
	 * x@b, which is itself an alias's FROM. Refuse it, either way round.
	 */
	for (i = 0; i < a->n; i++)
		if (!strcmp(a->from[i], to) || !strcmp(a->to[i], from) || !strcmp(from, to))
			break;
	if (i < a->n || !strcmp(from, to)) {
		free(from);
		free(to);
		return -2;
	}
	a->from = cl_xreallocarray(a->from, a->n + 1, sizeof *a->from);
	a->to = cl_xreallocarray(a->to, a->n + 1, sizeof *a->to);
	a->from[a->n] = from;
	a->to[a->n] = to;
	a->n++;
	return 0;
}
