/*
 * json-index.c: stage 1 of the JSON scanner's fast path (see json-index.h).
 *
 * Each block of 64 bytes becomes bit masks, bit i for byte i: quotes,
 * backslashes, control characters, non-ASCII bytes, the structural
 * characters and whitespace. Then, with what the previous block left over:
 * - escaped: the bytes after an odd run of backslashes (a run may span
 *   blocks). Backslashes are rare: found one by one.
 * - in_str: the bytes from an unescaped opening quote up to, not including,
 *   its closing quote: a running XOR of the unescaped quotes.
 * - a control character inside a string is an error; a non-ASCII byte
 *   inside starts a UTF-8 sequence to check (or continues one checked); an
 *   escaped byte inside must be an escape letter, \u with four hex digits.
 * - the tokens: structurals outside strings, unescaped quotes, and the
 *   first byte of each run of other bytes outside strings. A byte that is in
 *   no valid token (a backslash or control character outside a string) is in
 *   such a run, so stage 2 meets it and gives up.
 * Outside strings the escape mask can be wrong (JSON has no escapes there),
 * but only after a backslash outside a string, which stage 2 rejects.
 */
#include "json-index.h"

#include <string.h>

#if CL_JSON_SIMD
#include <immintrin.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Hex digits, for \u escapes. */
static const unsigned char hex[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
};

/* The raw masks of one block. */
struct masks {
	uint64_t quote, bs, ctrl, high, op, ws;
};

static ALWAYS_INLINE uint64_t
bits16(__m128i a, __m128i b, __m128i c, __m128i d)
{
	return (uint64_t)(unsigned)_mm_movemask_epi8(a) |
	       (uint64_t)(unsigned)_mm_movemask_epi8(b) << 16 |
	       (uint64_t)(unsigned)_mm_movemask_epi8(c) << 32 |
	       (uint64_t)(unsigned)_mm_movemask_epi8(d) << 48;
}

/* The masks of 16 bytes, one per lane of m: quote, backslash, control, op, whitespace. */
static ALWAYS_INLINE void
classify16(__m128i v, __m128i m[5])
{
	const __m128i x20 = _mm_set1_epi8(0x20), c1f = _mm_set1_epi8(0x1F);
	/* '[' and ']' are '{' and '}' without bit 5 */
	__m128i lo = _mm_or_si128(v, x20);

	m[0] = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
	m[1] = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
	m[2] = _mm_cmpeq_epi8(_mm_max_epu8(v, c1f), c1f);
	m[3] = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(lo, _mm_set1_epi8('{')),
	                                 _mm_cmpeq_epi8(lo, _mm_set1_epi8('}'))),
	                    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')),
	                                 _mm_cmpeq_epi8(v, _mm_set1_epi8(','))));
	m[4] = _mm_or_si128(
	        _mm_or_si128(_mm_cmpeq_epi8(v, x20), _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))),
	        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')),
	                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))));
}

static ALWAYS_INLINE void
classify_sse2(const unsigned char *s, struct masks *m)
{
	__m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
	__m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
	__m128i v3 = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));
	__m128i a[5], b[5], c[5], d[5];

	classify16(v0, a);
	classify16(v1, b);
	classify16(v2, c);
	classify16(v3, d);
	m->quote = bits16(a[0], b[0], c[0], d[0]);
	m->bs = bits16(a[1], b[1], c[1], d[1]);
	m->ctrl = bits16(a[2], b[2], c[2], d[2]);
	m->op = bits16(a[3], b[3], c[3], d[3]);
	m->ws = bits16(a[4], b[4], c[4], d[4]);
	m->high = bits16(v0, v1, v2, v3);
}

__attribute__((target("avx2"))) static ALWAYS_INLINE uint64_t
bits32(__m256i a, __m256i b)
{
	return (uint64_t)(uint32_t)_mm256_movemask_epi8(a) |
	       (uint64_t)(uint32_t)_mm256_movemask_epi8(b) << 32;
}

__attribute__((target("avx2"))) static ALWAYS_INLINE void
classify32(__m256i v, __m256i m[5])
{
	const __m256i x20 = _mm256_set1_epi8(0x20), c1f = _mm256_set1_epi8(0x1F);
	__m256i lo = _mm256_or_si256(v, x20);

	m[0] = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('"'));
	m[1] = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'));
	m[2] = _mm256_cmpeq_epi8(_mm256_max_epu8(v, c1f), c1f);
	m[3] = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(lo, _mm256_set1_epi8('{')),
	                                       _mm256_cmpeq_epi8(lo, _mm256_set1_epi8('}'))),
	                       _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(':')),
	                                       _mm256_cmpeq_epi8(v, _mm256_set1_epi8(','))));
	m[4] = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, x20),
	                                       _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\t'))),
	                       _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n')),
	                                       _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\r'))));
}

__attribute__((target("avx2"))) static ALWAYS_INLINE void
classify_avx2(const unsigned char *s, struct masks *m)
{
	__m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
	__m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 32));
	__m256i a[5], b[5];

	classify32(v0, a);
	classify32(v1, b);
	m->quote = bits32(a[0], b[0]);
	m->bs = bits32(a[1], b[1]);
	m->ctrl = bits32(a[2], b[2]);
	m->op = bits32(a[3], b[3]);
	m->ws = bits32(a[4], b[4]);
	m->high = bits32(v0, v1);
}

/* Bit i set when an odd number of bits 0..i of x are. */
static ALWAYS_INLINE uint64_t
prefix_xor(uint64_t x)
{
	x ^= x << 1;
	x ^= x << 2;
	x ^= x << 4;
	x ^= x << 8;
	x ^= x << 16;
	x ^= x << 32;
	return x;
}

/* The bytes of the block escaped by a backslash; updates the carry. */
static uint64_t
escaped(struct cl_json_index *ix, uint64_t bs, size_t base)
{
	uint64_t esc = ix->esc, b = bs & ~ix->esc;
	unsigned i;

	if (bs && ix->first_bs == SIZE_MAX)
		ix->first_bs = base + (size_t)__builtin_ctzll(bs);
	ix->esc = 0;
	while (b) {
		i = (unsigned)__builtin_ctzll(b);
		if (i == 63) {
			ix->esc = 1;
			break;
		}
		/* the next byte is escaped, even a backslash */
		esc |= (uint64_t)2 << i;
		b &= ~((uint64_t)3 << i);
	}
	return esc;
}

/* 0 when every escaped byte in m is a valid escape's letter. */
static int
check_escapes(const struct cl_json_index *ix, uint64_t m, size_t base)
{
	const unsigned char *s;
	size_t pos;

	for (; m; m &= m - 1) {
		pos = base + (size_t)__builtin_ctzll(m);
		if (pos >= ix->n)
			return -1;
		s = ix->p + pos;
		switch (*s) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			break;
		case 'u':
			if (ix->n - pos < 5 || !hex[s[1]] || !hex[s[2]] || !hex[s[3]] || !hex[s[4]])
				return -1;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/* 0 when every non-ASCII byte in m starts or continues a valid UTF-8 sequence. */
static int
check_utf8(struct cl_json_index *ix, uint64_t m, size_t base)
{
	size_t pos, k;

	for (; m; m &= m - 1) {
		pos = base + (size_t)__builtin_ctzll(m);
		if (pos < ix->utf8_next)
			continue;
		if (!(k = cl_json_utf8_len(ix->p + pos, ix->p + ix->n)))
			return -1;
		ix->utf8_next = pos + k;
	}
	return 0;
}

/* The number of bits set, without the POPCNT instruction SSE2 lacks. */
static ALWAYS_INLINE unsigned
popcount(uint64_t x)
{
	x -= x >> 1 & 0x5555555555555555u;
	x = (x & 0x3333333333333333u) + (x >> 2 & 0x3333333333333333u);
	x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Fu;
	return (unsigned)((x * 0x0101010101010101u) >> 56);
}

/*
 * Stage 1 on the block at base with masks m: appends its tokens at out and
 * returns the new end, or NULL when the block shows the input invalid. hw:
 * the CPU has POPCNT.
 */
static ALWAYS_INLINE uint32_t *
block(struct cl_json_index *ix, const struct masks *m, size_t base, uint32_t *out, int hw)
{
	uint64_t esc = 0, quote, str, run, tok, lo, pair;
	unsigned cnt, k, j;

	if (m->bs | ix->esc)
		esc = escaped(ix, m->bs, base);
	quote = m->quote & ~esc;
	str = prefix_xor(quote) ^ ix->in_str;
	ix->in_str = (uint64_t)((int64_t)str >> 63);
	if (m->ctrl & str)
		return NULL;
	if ((m->high & str) && check_utf8(ix, m->high & str, base) != 0)
		return NULL;
	if ((esc & str) && check_escapes(ix, esc & str, base) != 0)
		return NULL;
	run = ~(m->ws | m->op | quote | str);
	tok = (m->op & ~str) | quote | (run & ~(run << 1 | ix->run));
	ix->run = run >> 63;
	/*
	 * Eight at a time, past the last one when fewer: bit 63 stands in for
	 * the missing bits, and those slots are overwritten or never read.
	 */
	cnt = hw ? (unsigned)__builtin_popcountll(tok) : popcount(tok);
	for (k = 0; k < cnt; k += 8) {
		/* in pairs: a compiler vectorizing single stores makes them slower */
		for (j = 0; j < 8; j += 2) {
			lo = base + (uint64_t)__builtin_ctzll(tok | (uint64_t)1 << 63);
			tok &= tok - 1;
			pair = lo | (base + (uint64_t)__builtin_ctzll(tok | (uint64_t)1 << 63))
			                    << 32;
			tok &= tok - 1;
			memcpy(out + k + j, &pair, sizeof(pair));
		}
	}
	return out + cnt;
}

/* Classifies one chunk with classify, the SSE2 or AVX2 one. */
static ALWAYS_INLINE void
fill(struct cl_json_index *ix, void (*classify)(const unsigned char *, struct masks *), int hw)
{
	unsigned char pad[64];
	const unsigned char *s;
	uint32_t *out = ix->tok;
	size_t stop = ix->n - ix->off > CL_JSON_INDEX_CHUNK ? ix->off + CL_JSON_INDEX_CHUNK : ix->n;
	struct masks m;

	for (; ix->off < stop; ix->off += 64) {
		s = ix->p + ix->off;
		if (ix->n - ix->off < 64) {
			/* the last block: spaces after the end change nothing */
			memset(pad, ' ', sizeof(pad));
			memcpy(pad, s, ix->n - ix->off);
			s = pad;
		}
		classify(s, &m);
		if (!(out = block(ix, &m, ix->off, out, hw))) {
			ix->bad = 1;
			return;
		}
	}
	*out = CL_JSON_INDEX_END;
	if (ix->off >= ix->n && ix->in_str)
		ix->bad = 1; /* an unterminated string */
}

static void
fill_sse2(struct cl_json_index *ix)
{
	fill(ix, classify_sse2, 0);
}

__attribute__((target("avx2,popcnt,bmi"))) static void
fill_avx2(struct cl_json_index *ix)
{
	fill(ix, classify_avx2, 1);
}

int
cl_json_index_has(enum cl_json_isa isa)
{
	return isa != CL_JSON_ISA_AVX2 ||
	       (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") &&
	        __builtin_cpu_supports("bmi"));
}

int
cl_json_index_init(struct cl_json_index *ix, const unsigned char *p, size_t n, enum cl_json_isa isa)
{
	if (isa == CL_JSON_ISA_AUTO)
		isa = cl_json_index_has(CL_JSON_ISA_AVX2) ? CL_JSON_ISA_AVX2 : CL_JSON_ISA_SSE2;
	if (!cl_json_index_has(isa) || n >= CL_JSON_INDEX_END)
		return -1;
	ix->p = p;
	ix->n = n;
	ix->off = ix->i = ix->utf8_next = 0;
	ix->first_bs = SIZE_MAX;
	ix->in_str = ix->esc = ix->run = 0;
	ix->bad = 0;
	ix->fill = isa == CL_JSON_ISA_AVX2 ? fill_avx2 : fill_sse2;
	ix->tok[0] = CL_JSON_INDEX_END;
	return 0;
}

uint32_t
cl_json_index_refill(struct cl_json_index *ix)
{
	ix->i = 0;
	ix->tok[0] = CL_JSON_INDEX_END;
	while (!ix->bad && ix->off < ix->n) {
		ix->fill(ix);
		if (ix->bad)
			ix->tok[0] = CL_JSON_INDEX_END;
		else if (ix->tok[0] != CL_JSON_INDEX_END)
			return ix->tok[ix->i++];
	}
	return CL_JSON_INDEX_END;
}

#else

int
cl_json_index_has(enum cl_json_isa isa)
{
	(void)isa;
	return 0;
}

int
cl_json_index_init(struct cl_json_index *ix, const unsigned char *p, size_t n, enum cl_json_isa isa)
{
	(void)ix;
	(void)p;
	(void)n;
	(void)isa;
	return -1;
}

uint32_t
cl_json_index_refill(struct cl_json_index *ix)
{
	ix->bad = 1;
	return CL_JSON_INDEX_END;
}

#endif
