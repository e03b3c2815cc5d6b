/*
 * json.c: a single-pass validating scanner over the raw bytes of one JSON
 * object, extracting the spans of a few compiled paths.
 *
 * The paths are compiled into a trie of key segments. While the scanner
 * descends it carries the trie node of the value it is about to read (NULL
 * once no path goes below), so unrelated subtrees are validated and nothing
 * else. Strings, the bulk of every line, are skipped sixteen bytes at a time
 * (SSE2), then eight.
 *
 * Decisions worth knowing (see also tests/unit/test_json_diff.c):
 * - A \u escape of a lone surrogate is accepted, as RFC 8259's grammar
 *   does; cl_json_str decodes it to U+FFFD. Raw bytes must be valid UTF-8:
 *   no overlong forms, no UTF-8-encoded surrogates, nothing above U+10FFFF.
 * - Duplicate keys: the last occurrence wins, for every path below the key,
 *   as with jq. Each object with a trie node gets an epoch; a key's first
 *   occurrence in that object snapshots the span counts of the paths below
 *   it and a repeat restores them, dropping what the earlier one found.
 */
#include "json.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXDEPTH 512

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR 1
#else
#define SWAR 0
#endif

/* x86-64 always has SSE2: strings are skipped sixteen bytes at a time, then eight */
#if defined(__GNUC__) && defined(__SSE2__)
#include <emmintrin.h>
#define SSE2 1
#else
#define SSE2 0
#endif

/*
 * One trie node: a place in the object tree some path reaches. A node is
 * the value of key under its parent, or (key == NULL) every element of its
 * parent's array. kid, sib and elem are indexes into the query's nodes.
 * The slots of the paths at and below this node are [lo, hi); mark is where
 * their counts are snapshotted in the result's marks.
 */
struct node {
	char *key; /* owned */
	size_t keylen;
	int kid;  /* first key child, -1 when none */
	int sib;  /* next key child of the same parent */
	int elem; /* the "[]" child, -1 when none */
	int slot; /* the slot of the path ending here, or -1 */
	int term; /* a path ends here (before slots are numbered) */
	size_t lo, hi, mark;
};

struct cl_json_query {
	struct node *nodes; /* owned; nodes[0] is the top-level object */
	size_t nnodes;
	size_t nslots;
	size_t nmarks;
	size_t npaths;
	size_t *path_slot; /* owned */
};

struct slot {
	struct cl_json_span *v; /* owned */
	size_t n, cap;
};

struct cl_json_result {
	const struct cl_json_query *q; /* borrowed */
	struct slot *slots;            /* owned, q->nslots */
	size_t *marks;                 /* owned, q->nmarks */
	size_t *seen;                  /* owned, per node: the epoch it was last seen in */
	size_t epoch;
	struct cl_buf key; /* a decoded key with escapes */
	int ws;            /* the scan met whitespace inside the object */
};

/* Skips whitespace inside the object, noting that there was some. */
#define SKIP_WS()                                  \
	do {                                       \
		if (s < end && ws[*s]) {           \
			sawws = 1;                 \
			do                         \
				s++;               \
			while (s < end && ws[*s]); \
		}                                  \
	} while (0)

/* A stack frame: one open container. */
struct frame {
	const struct node *node; /* of the container's members, or NULL */
	size_t epoch;            /* of this object, when node is set */
	size_t idx;              /* of the container's own span, when slot >= 0 */
	int slot;
	int obj;
};

/* JSON whitespace. */
static const unsigned char ws[256] = {
	['\t'] = 1,
	['\n'] = 1,
	['\r'] = 1,
	[' '] = 1,
};

/* Bytes that stand for themselves inside a string: printable ASCII but '"' and '\\'. */
/* clang-format off */
static const unsigned char plain[256] = {
#define R8(c) [c] = 1, [c + 1] = 1, [c + 2] = 1, [c + 3] = 1, [c + 4] = 1, [c + 5] = 1, \
	      [c + 6] = 1, [c + 7] = 1
	[0x20] = 1, [0x21] = 1, [0x23] = 1, [0x24] = 1, [0x25] = 1, [0x26] = 1, [0x27] = 1,
	R8(0x28), R8(0x30), R8(0x38), R8(0x40), R8(0x48), R8(0x50),
	[0x58] = 1, [0x59] = 1, [0x5A] = 1, [0x5B] = 1, [0x5D] = 1, [0x5E] = 1, [0x5F] = 1,
	R8(0x60), R8(0x68), R8(0x70), R8(0x78),
#undef R8
};
/* clang-format on */

static const unsigned char digit[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
};

/* Hex digit value plus one; 0 for anything else. */
static const unsigned char hexval[256] = {
	['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
	['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
	['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
	['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* The escape letter for a control character or '"' or '\\', 0 for \u00XX. */
static const char esc_letter[256] = {
	['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',  ['\r'] = 'r',
	['\t'] = 't', ['"'] = '"',  ['\\'] = '\\',
};

/*
 * The length of the valid UTF-8 sequence starting with the non-ASCII byte at
 * s, or 0 when it is not one (overlong, a surrogate, above U+10FFFF,
 * truncated).
 */
static ALWAYS_INLINE size_t
utf8_len(const unsigned char *s, const unsigned char *end)
{
	unsigned c = s[0], lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (c < 0xC2)
		return 0;
	else if (c < 0xE0)
		need = 1;
	else if (c < 0xF0) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if ((size_t)(end - s) <= need)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return need + 1;
}

/*
 * Scans the rest of a string whose opening quote is just before s. Returns
 * the byte after the closing quote and sets *esc when it holds a backslash;
 * on error returns NULL with *at and *msg set.
 */
static ALWAYS_INLINE const unsigned char *
scan_str(const unsigned char *s, const unsigned char *end, int *esc, const unsigned char **at,
         const char **msg)
{
	size_t k;
	int i;

	for (;;) {
#if SSE2
		while (end - s >= 16) {
			const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
			/* signed: below 0x20, and every byte from 0x80 (UTF-8), are less than 0x20
			 */
			const __m128i m =
			        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
			                     _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
			const unsigned bits = (unsigned)_mm_movemask_epi8(m);

			if (bits) {
				s += __builtin_ctz(bits);
				goto special;
			}
			s += 16;
		}
#endif
#if SWAR
		while (end - s >= 8) {
			const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
			uint64_t w, m, x, y;

			memcpy(&w, s, 8);
			x = w ^ 0x22 * ones; /* zero bytes where '"' was */
			y = w ^ 0x5C * ones; /* zero bytes where '\\' was */
			/* the lowest flagged byte is exact: borrows only flag bytes above it */
			m = (w | ((w - 0x20 * ones) & ~w) | ((x - ones) & ~x) | ((y - ones) & ~y)) &
			    high;
			if (m) {
				s += __builtin_ctzll(m) >> 3;
				goto special;
			}
			s += 8;
		}
#endif
		while (s < end && plain[*s])
			s++;
		if (s == end)
			goto eof;
#if SWAR || SSE2
	special:
#endif
		if (*s == '"')
			return s + 1;
		if (*s == '\\') {
			*esc = 1;
			if (end - s < 2)
				goto eof;
			switch (s[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				s += 2;
				break;
			case 'u':
				for (i = 2; i < 6; i++) {
					if (s + i >= end)
						goto eof;
					if (!hexval[s[i]]) {
						*msg = "invalid \\u escape";
						*at = s;
						return NULL;
					}
				}
				s += 6;
				break;
			default:
				*msg = "invalid escape";
				*at = s;
				return NULL;
			}
		} else if (*s < 0x20) {
			*msg = "control character in string";
			*at = s;
			return NULL;
		} else {
			if (!(k = utf8_len(s, end))) {
				*msg = "invalid UTF-8 in string";
				*at = s;
				return NULL;
			}
			s += k;
		}
	}
eof:
	*msg = "unexpected end of input";
	*at = end;
	return NULL;
}

static ALWAYS_INLINE size_t
add_span(struct cl_json_result *r, int slot, const unsigned char *p, size_t n,
         enum cl_json_type type)
{
	struct slot *sl = &r->slots[slot];
	struct cl_json_span *sp;

	if (sl->n == sl->cap) {
		sl->cap = sl->cap ? sl->cap * 2 : 4;
		sl->v = cl_xreallocarray(sl->v, sl->cap, sizeof(*sl->v));
	}
	sp = &sl->v[sl->n];
	sp->p = (const char *)p;
	sp->n = n;
	sp->type = type;
	return sl->n++;
}

static size_t decode_esc(const unsigned char **sp, const unsigned char *end, unsigned char out[4]);

/*
 * The child of parent for the key [k, k+kn) as it appears in the line
 * (escaped when esc), or NULL. A key's first occurrence in the object of
 * epoch snapshots the counts of its paths, a repeat restores them.
 */
static const struct node *
match_key(struct cl_json_result *r, const struct node *parent, size_t epoch, const unsigned char *k,
          size_t kn, int esc)
{
	const struct node *nodes = r->q->nodes, *c;
	size_t i, id;
	int j;

	if (esc) {
		const unsigned char *e = k + kn;
		unsigned char tmp[4];
		size_t m;

		cl_buf_reset(&r->key);
		while (k < e) {
			if (*k == '\\') {
				m = decode_esc(&k, e, tmp);
				cl_buf_add(&r->key, tmp, m);
			} else
				cl_buf_addc(&r->key, (char)*k++);
		}
		k = (const unsigned char *)r->key.p;
		kn = r->key.len;
	}
	for (j = parent->kid; j >= 0; j = c->sib) {
		c = &nodes[j];
		if (c->keylen == kn && (kn == 0 || (unsigned char)c->key[0] == k[0]) &&
		    memcmp(c->key, k, kn) == 0)
			break;
	}
	if (j < 0)
		return NULL;
	id = (size_t)j;
	if (r->seen[id] == epoch) {
		for (i = c->lo; i < c->hi; i++)
			r->slots[i].n = r->marks[c->mark + i - c->lo];
	} else {
		r->seen[id] = epoch;
		for (i = c->lo; i < c->hi; i++)
			r->marks[c->mark + i - c->lo] = r->slots[i].n;
	}
	return c;
}

static void
clear_result(struct cl_json_result *r)
{
	size_t i;

	for (i = 0; i < r->q->nslots; i++)
		r->slots[i].n = 0;
	r->ws = 0;
}

int
cl_json_scan(const struct cl_json_query *q, const char *p, size_t n, struct cl_json_result *r,
             struct cl_json_err *err)
{
	const unsigned char *const begin = (const unsigned char *)p;
	const unsigned char *const end = n ? begin + n : begin; /* p may be NULL when n is 0 */
	const unsigned char *s = begin, *start, *at;
	const struct node *cur = NULL;
	struct frame stack[MAXDEPTH], *f = NULL;
	enum cl_json_type type;
	const char *msg;
	size_t depth = 0;
	int rec, esc, sawws = 0;

	if (r) {
		if (!q)
			q = r->q;
		assert(q == r->q);
		clear_result(r);
		cur = &q->nodes[0];
	}
	while (s < end && ws[*s])
		s++;
	if (s == end) {
		msg = "empty input";
		goto fail;
	}
	if (*s != '{') {
		msg = "not a JSON object";
		goto fail;
	}

value:
	SKIP_WS();
	if (s == end)
		goto eof;
	rec = cur && cur->slot >= 0;
	start = s;
	switch (*s) {
	case '{':
		if (depth == MAXDEPTH) {
			msg = "nesting too deep";
			goto fail;
		}
		f = &stack[depth++];
		f->obj = 1;
		f->slot = -1;
		if (rec) {
			f->slot = cur->slot;
			f->idx = add_span(r, cur->slot, s, 1, CL_JSON_OBJECT);
		}
		f->node = cur && cur->kid >= 0 ? cur : NULL;
		if (f->node)
			f->epoch = ++r->epoch;
		s++;
		SKIP_WS();
		if (s == end)
			goto eof;
		if (*s == '}') {
			s++;
			goto close;
		}
		goto key;
	case '[':
		if (depth == MAXDEPTH) {
			msg = "nesting too deep";
			goto fail;
		}
		f = &stack[depth++];
		f->obj = 0;
		f->slot = -1;
		if (rec) {
			f->slot = cur->slot;
			f->idx = add_span(r, cur->slot, s, 1, CL_JSON_ARRAY);
		}
		f->node = cur && cur->elem >= 0 ? &q->nodes[cur->elem] : NULL;
		s++;
		SKIP_WS();
		if (s == end)
			goto eof;
		if (*s == ']') {
			s++;
			goto close;
		}
		cur = f->node;
		goto value;
	case '"':
		esc = 0;
		if (!(s = scan_str(s + 1, end, &esc, &at, &msg))) {
			s = at;
			goto fail;
		}
		type = CL_JSON_STRING;
		break;
	case 't':
		if (end - s < 4 || memcmp(s, "true", 4) != 0)
			goto badlit;
		s += 4;
		type = CL_JSON_TRUE;
		break;
	case 'f':
		if (end - s < 5 || memcmp(s, "false", 5) != 0)
			goto badlit;
		s += 5;
		type = CL_JSON_FALSE;
		break;
	case 'n':
		if (end - s < 4 || memcmp(s, "null", 4) != 0)
			goto badlit;
		s += 4;
		type = CL_JSON_NULL;
		break;
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		if (*s == '-' && ++s == end)
			goto eof;
		if (*s == '0')
			s++;
		else if (digit[*s])
			while (++s < end && digit[*s])
				;
		else
			goto badnum;
		if (s < end && *s == '.') {
			if (++s == end)
				goto eof;
			if (!digit[*s])
				goto badnum;
			while (++s < end && digit[*s])
				;
		}
		if (s < end && (*s == 'e' || *s == 'E')) {
			if (++s < end && (*s == '+' || *s == '-'))
				s++;
			if (s == end)
				goto eof;
			if (!digit[*s])
				goto badnum;
			while (++s < end && digit[*s])
				;
		}
		type = CL_JSON_NUMBER;
		break;
	default:
		msg = "expected a value";
		goto fail;
	}
	if (rec)
		add_span(r, cur->slot, start, (size_t)(s - start), type);

next:
	if (depth == 0)
		goto done;
	f = &stack[depth - 1];
	SKIP_WS();
	if (s == end)
		goto eof;
	if (*s == ',') {
		s++;
		if (!f->obj) {
			cur = f->node;
			goto value;
		}
		SKIP_WS();
		if (s == end)
			goto eof;
		goto key;
	}
	if (*s == (f->obj ? '}' : ']')) {
		s++;
		goto close;
	}
	msg = f->obj ? "expected ',' or '}'" : "expected ',' or ']'";
	goto fail;

key:
	/* s is at the first byte of a member; f is its object */
	if (*s != '"') {
		msg = "expected a string key";
		goto fail;
	}
	start = ++s;
	esc = 0;
	if (!(s = scan_str(s, end, &esc, &at, &msg))) {
		s = at;
		goto fail;
	}
	cur = f->node ? match_key(r, f->node, f->epoch, start, (size_t)(s - 1 - start), esc) : NULL;
	SKIP_WS();
	if (s == end)
		goto eof;
	if (*s != ':') {
		msg = "expected ':'";
		goto fail;
	}
	s++;
	goto value;

close:
	/* s is just past a closing bracket */
	f = &stack[--depth];
	if (f->slot >= 0) {
		struct cl_json_span *sp = &r->slots[f->slot].v[f->idx];

		sp->n = (size_t)(s - (const unsigned char *)sp->p);
	}
	goto next;

done:
	while (s < end && ws[*s])
		s++;
	if (s != end) {
		msg = "trailing characters after the object";
		goto fail;
	}
	if (r)
		r->ws = sawws;
	return 0;

badlit:
	msg = "invalid literal";
	goto fail;
badnum:
	msg = "invalid number";
	goto fail;
eof:
	msg = "unexpected end of input";
	s = end;
fail:
	if (r)
		clear_result(r);
	if (err) {
		err->off = (size_t)(s - begin);
		err->msg = msg;
	}
	return -1;
}

/* Query compilation. */

static int
new_node(struct cl_json_query *q, size_t *cap)
{
	struct node *nd;

	if (q->nnodes == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		q->nodes = cl_xreallocarray(q->nodes, *cap, sizeof(*q->nodes));
	}
	nd = &q->nodes[q->nnodes];
	memset(nd, 0, sizeof(*nd));
	nd->kid = nd->sib = nd->elem = nd->slot = -1;
	return (int)q->nnodes++;
}

static int
key_child(struct cl_json_query *q, size_t *cap, int parent, const char *k, size_t kn)
{
	int j, c;

	for (j = q->nodes[parent].kid; j >= 0; j = q->nodes[j].sib)
		if (q->nodes[j].keylen == kn && memcmp(q->nodes[j].key, k, kn) == 0)
			return j;
	c = new_node(q, cap);
	q->nodes[c].key = cl_xmemdup(k, kn);
	q->nodes[c].keylen = kn;
	q->nodes[c].sib = q->nodes[parent].kid;
	q->nodes[parent].kid = c;
	return c;
}

static int
elem_child(struct cl_json_query *q, size_t *cap, int parent)
{
	int c;

	if (q->nodes[parent].elem >= 0)
		return q->nodes[parent].elem;
	c = new_node(q, cap);
	q->nodes[parent].elem = c;
	return c;
}

/* Returns the node a path ends at, or -1 when it is malformed. */
static int
add_path(struct cl_json_query *q, size_t *cap, const char *path)
{
	const char *p = path, *k;
	int nd = 0;

	for (;;) {
		for (k = p; *p && *p != '.' && *p != '[' && *p != ']'; p++)
			;
		if (p == k)
			return -1;
		nd = key_child(q, cap, nd, k, (size_t)(p - k));
		while (*p == '[') {
			if (p[1] != ']')
				return -1;
			p += 2;
			nd = elem_child(q, cap, nd);
		}
		if (*p == '\0')
			break;
		if (*p != '.')
			return -1;
		p++;
	}
	q->nodes[nd].term = 1;
	return nd;
}

/* Numbers slots in preorder so that every subtree's slots are a range. */
static void
number(struct cl_json_query *q, int i)
{
	struct node *nd = &q->nodes[i];
	int j;

	nd->lo = q->nslots;
	if (nd->term)
		nd->slot = (int)q->nslots++;
	for (j = nd->kid; j >= 0; j = q->nodes[j].sib)
		number(q, j);
	nd = &q->nodes[i];
	if (nd->elem >= 0)
		number(q, nd->elem);
	nd->hi = q->nslots;
	nd->mark = q->nmarks;
	q->nmarks += nd->hi - nd->lo;
}

struct cl_json_query *
cl_json_query_new(const char *const *paths, size_t npaths)
{
	struct cl_json_query *q = cl_xcalloc(1, sizeof(*q));
	size_t cap = 0, i;
	int *ends = cl_xreallocarray(NULL, npaths ? npaths : 1, sizeof(*ends));

	new_node(q, &cap);
	for (i = 0; i < npaths; i++) {
		if (!paths[i] || (ends[i] = add_path(q, &cap, paths[i])) < 0) {
			free(ends);
			q->npaths = 0;
			cl_json_query_free(q);
			return NULL;
		}
	}
	number(q, 0);
	q->npaths = npaths;
	q->path_slot = cl_xreallocarray(NULL, npaths ? npaths : 1, sizeof(*q->path_slot));
	for (i = 0; i < npaths; i++)
		q->path_slot[i] = (size_t)q->nodes[ends[i]].slot;
	free(ends);
	return q;
}

void
cl_json_query_free(struct cl_json_query *q)
{
	size_t i;

	if (!q)
		return;
	for (i = 0; i < q->nnodes; i++)
		free(q->nodes[i].key);
	free(q->nodes);
	free(q->path_slot);
	free(q);
}

struct cl_json_result *
cl_json_result_new(const struct cl_json_query *q)
{
	struct cl_json_result *r = cl_xcalloc(1, sizeof(*r));

	r->q = q;
	r->slots = cl_xcalloc(q->nslots, sizeof(*r->slots));
	r->marks = cl_xcalloc(q->nmarks, sizeof(*r->marks));
	r->seen = cl_xcalloc(q->nnodes, sizeof(*r->seen));
	cl_buf_init(&r->key);
	return r;
}

void
cl_json_result_free(struct cl_json_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->q->nslots; i++)
		free(r->slots[i].v);
	free(r->slots);
	free(r->marks);
	free(r->seen);
	cl_buf_release(&r->key);
	free(r);
}

size_t
cl_json_result_count(const struct cl_json_result *r, size_t path)
{
	assert(path < r->q->npaths);
	return r->slots[r->q->path_slot[path]].n;
}

const struct cl_json_span *
cl_json_result_get(const struct cl_json_result *r, size_t path, size_t i)
{
	const struct slot *sl;

	assert(path < r->q->npaths);
	sl = &r->slots[r->q->path_slot[path]];
	assert(i < sl->n);
	return &sl->v[i];
}

int
cl_json_result_ws(const struct cl_json_result *r)
{
	return r->ws;
}

const struct cl_json_span *
cl_json_result_first(const struct cl_json_result *r, size_t path)
{
	const struct slot *sl;

	assert(path < r->q->npaths);
	sl = &r->slots[r->q->path_slot[path]];
	return sl->n ? &sl->v[0] : NULL;
}

/* Strings. */

static size_t
put_utf8(unsigned long cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The value of the 4 hex digits at s (s + 4 <= end), or -1. */
static long
hex4(const unsigned char *s, const unsigned char *end)
{
	long v = 0;
	int i;

	if (end - s < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if (!hexval[s[i]])
			return -1;
		v = v << 4 | (hexval[s[i]] - 1);
	}
	return v;
}

/*
 * Decodes the escape at *sp (a backslash) into out, advancing *sp past it;
 * returns the number of bytes written. A malformed escape (impossible in a
 * scanned span) yields the backslash itself.
 */
static size_t
decode_esc(const unsigned char **sp, const unsigned char *end, unsigned char out[4])
{
	const unsigned char *s = *sp;
	long cp, lo;

	if (end - s >= 2) {
		switch (s[1]) {
		case '"':
		case '\\':
		case '/':
			out[0] = s[1];
			break;
		case 'b':
			out[0] = '\b';
			break;
		case 'f':
			out[0] = '\f';
			break;
		case 'n':
			out[0] = '\n';
			break;
		case 'r':
			out[0] = '\r';
			break;
		case 't':
			out[0] = '\t';
			break;
		case 'u':
			if ((cp = hex4(s + 2, end)) < 0)
				goto bad;
			s += 6;
			if (cp >= 0xD800 && cp <= 0xDBFF && end - s >= 6 && s[0] == '\\' &&
			    s[1] == 'u' && (lo = hex4(s + 2, end)) >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10 | (lo - 0xDC00));
				s += 6;
			} else if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD;
			*sp = s;
			return put_utf8((unsigned long)cp, out);
		default:
			goto bad;
		}
		*sp = s + 2;
		return 1;
	}
bad:
	out[0] = '\\';
	*sp = s + 1;
	return 1;
}

/* The bytes between the quotes of a string span, or 0 when s is not one. */
static int
str_body(const struct cl_json_span *s, const unsigned char **b, const unsigned char **e)
{
	if (!s || s->type != CL_JSON_STRING || s->n < 2)
		return 0;
	*b = (const unsigned char *)s->p + 1;
	*e = (const unsigned char *)s->p + s->n - 1;
	return 1;
}

int
cl_json_str(const struct cl_json_span *s, struct cl_buf *out)
{
	const unsigned char *p, *e, *bs;
	unsigned char tmp[4];

	if (!str_body(s, &p, &e))
		return -1;
	cl_buf_grow(out, (size_t)(e - p));
	out->p[out->len] = '\0'; /* cl_buf_grow leaves a new buffer unterminated */
	while (p < e) {
		if (!(bs = memchr(p, '\\', (size_t)(e - p))))
			bs = e;
		cl_buf_add(out, p, (size_t)(bs - p));
		if ((p = bs) < e)
			cl_buf_add(out, tmp, decode_esc(&p, e, tmp));
	}
	return 0;
}

int
cl_json_str_eq(const struct cl_json_span *s, const char *lit)
{
	const unsigned char *p, *e, *bs, *l = (const unsigned char *)lit;
	unsigned char tmp[4];
	size_t ln = strlen(lit), k;

	if (!str_body(s, &p, &e))
		return 0;
	while (p < e) {
		if (!(bs = memchr(p, '\\', (size_t)(e - p))))
			bs = e;
		k = (size_t)(bs - p);
		if (k > ln || memcmp(p, l, k) != 0)
			return 0;
		l += k;
		ln -= k;
		if ((p = bs) < e) {
			k = decode_esc(&p, e, tmp);
			if (k > ln || memcmp(tmp, l, k) != 0)
				return 0;
			l += k;
			ln -= k;
		}
	}
	return ln == 0;
}

int
cl_json_str_raw(const struct cl_json_span *s, const char **v, size_t *vn)
{
	const unsigned char *p, *e;

	if (!str_body(s, &p, &e) || memchr(p, '\\', (size_t)(e - p)))
		return 0;
	*v = (const char *)p;
	*vn = (size_t)(e - p);
	return 1;
}

int
cl_json_strview(const struct cl_json_span *s, struct cl_buf *tmp, struct cl_str *v)
{
	if (!s || s->type != CL_JSON_STRING)
		return -1;
	if (cl_json_str_raw(s, &v->p, &v->n))
		return 0;
	if (cl_json_str_set(s, tmp) < 0)
		return -1;
	v->p = tmp->p;
	v->n = tmp->len;
	return 0;
}

int
cl_json_str_set(const struct cl_json_span *s, struct cl_buf *b)
{
	cl_buf_reset(b);
	if (!s || s->type != CL_JSON_STRING)
		return -1;
	return cl_json_str(s, b);
}

/*
 * Plain bytes are copied in runs; '"', '\\' and control characters are
 * escaped (\n, \t, ... or \u00XX). Valid UTF-8 passes through; a byte that
 * does not start a valid sequence becomes U+FFFD, so the output is always
 * valid JSON.
 */
void
cl_json_put_str(struct cl_buf *out, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str, *e = s + n, *run;
	size_t k;

	cl_buf_grow(out, n + 2);
	cl_buf_addc(out, '"');
	while (s < e) {
		for (run = s; s < e && plain[*s]; s++)
			;
		cl_buf_add(out, run, (size_t)(s - run));
		if (s == e)
			break;
		if (*s >= 0x80) {
			if ((k = utf8_len(s, e))) {
				cl_buf_add(out, s, k);
				s += k;
			} else {
				cl_buf_add(out, "\xEF\xBF\xBD", 3);
				s++;
			}
		} else if (esc_letter[*s]) {
			char e2[2] = { '\\', esc_letter[*s] };

			cl_buf_add(out, e2, 2);
			s++;
		} else {
			char u[6] = { '\\', 'u', '0', '0', hex[*s >> 4], hex[*s & 0xF] };

			cl_buf_add(out, u, 6);
			s++;
		}
	}
	cl_buf_addc(out, '"');
}
