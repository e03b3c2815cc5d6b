/*
 * json-index.h: internal to the JSON scanner (lib/json.c) and its tests; not
 * part of the public API (json.h is).
 *
 * The scanner's fast path works in two stages, as simdjson does. Stage 1
 * (json-index.c) reads the input 64 bytes at a time with SIMD compares and
 * bit arithmetic: it finds the strings (quotes, backslash runs, which bytes
 * are inside), checks their contents (no control character, valid escapes,
 * valid UTF-8) and lists the positions of the tokens: every structural
 * character {}[]:, outside strings, every unescaped quote (opening and
 * closing) and the first byte of every other run of non-whitespace bytes
 * outside strings (a number, a literal, or junk). Stage 2 (json.c) reads the
 * grammar from those tokens alone. The list is made a chunk at a time as
 * stage 2 asks for more, so it stays small and in cache whatever the input.
 *
 * Anything stage 1 or 2 does not accept sends the scan to the scalar scanner,
 * which finds the error and its message; the fast path is only ever a faster
 * way to the same result. x86-64 only (SSE2, and AVX2 when the CPU has it).
 */
#ifndef CL_JSON_INDEX_H
#define CL_JSON_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CL_JSON_SIMD 1
#else
#define CL_JSON_SIMD 0
#endif

/* Input bytes per refill of the token list: 64 blocks of 64. */
#define CL_JSON_INDEX_CHUNK 4096
/* After the last token of a refill, and once the input is done or invalid. */
#define CL_JSON_INDEX_END UINT32_MAX

/* Which stage 1 to use. */
enum cl_json_isa {
	CL_JSON_ISA_AUTO, /* the best the CPU has */
	CL_JSON_ISA_SSE2,
	CL_JSON_ISA_AVX2
};

/*
 * Stage 1's state over one input, which must be shorter than
 * CL_JSON_INDEX_END bytes. About 17 KB: made on the stack per scan.
 */
struct cl_json_index {
	const unsigned char *p; /* borrowed: the input */
	size_t n;
	size_t off;       /* the next block to classify */
	size_t i;         /* the next token to hand out from tok */
	size_t utf8_next; /* the byte after the last UTF-8 sequence checked */
	size_t first_bs;  /* the position of the first backslash seen, or SIZE_MAX */
	uint64_t in_str;  /* all ones when the last block ended inside a string */
	uint64_t esc;     /* 1 when the last block ended with an escaping backslash */
	uint64_t run;     /* 1 when the last block ended inside a scalar run */
	int bad;          /* the input is not valid JSON */
	void (*fill)(struct cl_json_index *);
	/* positions, then CL_JSON_INDEX_END; room for 64 more at a block's end */
	uint32_t tok[CL_JSON_INDEX_CHUNK + 64 + 1];
};

/* 1 when stage 1 can run with isa on this machine. */
int cl_json_index_has(enum cl_json_isa isa);
/* Starts stage 1 over [p, p+n), n < CL_JSON_INDEX_END. Returns 0, or -1 when isa is unavailable. */
int cl_json_index_init(struct cl_json_index *ix, const unsigned char *p, size_t n,
                       enum cl_json_isa isa);
/*
 * Classifies the next chunk: returns its first token, or CL_JSON_INDEX_END
 * at the end of the input or when it is invalid (ix->bad).
 */
uint32_t cl_json_index_refill(struct cl_json_index *ix);

/*
 * The position of the next token, or CL_JSON_INDEX_END; *tp is the reader's
 * place in ix->tok, in a local so that it stays in a register.
 */
static inline uint32_t
cl_json_index_next(struct cl_json_index *ix, const uint32_t **tp)
{
	uint32_t t = *(*tp)++;

	if (__builtin_expect(t == CL_JSON_INDEX_END, 0)) {
		t = cl_json_index_refill(ix);
		*tp = ix->tok + ix->i;
	}
	return t;
}

/*
 * The length of the valid UTF-8 sequence starting with the non-ASCII byte at
 * s, or 0 when it is not one (overlong, a surrogate, above U+10FFFF,
 * truncated).
 */
static inline size_t
cl_json_utf8_len(const unsigned char *s, const unsigned char *end)
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
 * For tests only (tests/unit/test_json_fast*.c, tests/fuzz/fuzz_json.c):
 * the two scanners behind cl_json_scan, to compare them.
 */
/* The scalar scanner alone, the reference: what cl_json_scan does without a fast path. */
int cl_json_scan_scalar(const struct cl_json_query *q, const char *p, size_t n,
                        struct cl_json_result *r, struct cl_json_err *err);
/*
 * The fast path alone with stage 1 on isa: 0 as cl_json_scan would, or -1
 * when it gives up (invalid input, too large, isa unavailable; r cleared).
 */
int cl_json_scan_fast(const struct cl_json_query *q, const char *p, size_t n,
                      struct cl_json_result *r, enum cl_json_isa isa);
/* The query r was made for. */
const struct cl_json_query *cl_json_result_query(const struct cl_json_result *r);
/* 1 when two results of one query hold the same spans in every slot. */
int cl_json_result_same(const struct cl_json_result *a, const struct cl_json_result *b);

#endif
