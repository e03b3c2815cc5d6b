/*
 * json.h: a fast scanner over the raw bytes of one JSON text.
 *
 * It validates that a line is exactly one well-formed JSON object (full RFC
 * 8259 syntax, UTF-8 checked, no tree built) and, in the same pass, finds the
 * few fields a rule needs by path. libjq stays the library for full JSON
 * values (headers, trailers, user jq expressions).
 *
 * It is stricter than libjq 1.6, which accepts invalid UTF-8, numbers such
 * as 01, 1., .5, +1 and nan, raw U+0000 and U+001F in strings, and a BOM;
 * the scanner rejects them all. It accepts a \u escape of a lone surrogate
 * (RFC 8259's grammar allows it; libjq rejects a lone high one). The list,
 * each case tested: tests/unit/test_json_diff.c.
 */
#ifndef CL_JSON_H
#define CL_JSON_H

#include <stddef.h>

#include "buf.h"

enum cl_json_type {
	CL_JSON_NONE = 0, /* not found */
	CL_JSON_NULL,
	CL_JSON_FALSE,
	CL_JSON_TRUE,
	CL_JSON_NUMBER,
	CL_JSON_STRING,
	CL_JSON_ARRAY,
	CL_JSON_OBJECT
};

/*
 * A value found in a scanned line: p points at its first byte in the line
 * (the opening quote of a string, '[' or '{' of a container), n is its raw
 * length. Borrowed: valid while the line's bytes are.
 */
struct cl_json_span {
	const char *p;
	size_t n;
	enum cl_json_type type;
};

/* Where and why a scan failed: a 0-based byte offset and a static message. */
struct cl_json_err {
	size_t off;
	const char *msg;
};

/*
 * A set of paths compiled once. A path is dot-separated object keys from the
 * top-level object; "[]" after a key means every element of that array:
 *   "kind", "data.role", "data.user.sourcedId",
 *   "data.terms[].sourcedId", "data.orgs[].sourcedId", "data.grades[]".
 * Returns a new query owned by the caller, or NULL if a path is malformed.
 */
struct cl_json_query *cl_json_query_new(const char *const *paths, size_t npaths);
void cl_json_query_free(struct cl_json_query *q);

/*
 * What one scan found, per path index (the order given to
 * cl_json_query_new). A path without "[]" yields at most one span: the last
 * occurrence when a key repeats (as jq does). A "[]" path yields one span per
 * matching array element, in order (for a repeated key, those of its last
 * occurrence). A path through a value of the wrong type yields nothing.
 * Reused across lines: each scan clears it first.
 */
struct cl_json_result *cl_json_result_new(const struct cl_json_query *q);
void cl_json_result_free(struct cl_json_result *r);
size_t cl_json_result_count(const struct cl_json_result *r, size_t path);
/* The i-th span of path; i < count. Borrowed. */
const struct cl_json_span *cl_json_result_get(const struct cl_json_result *r, size_t path,
                                              size_t i);
/* The first span of path, or NULL when there is none. Borrowed. */
const struct cl_json_span *cl_json_result_first(const struct cl_json_result *r, size_t path);
/*
 * 1 when the last scan met whitespace between the tokens of the object (not
 * before or after it, not inside strings): 0 means its bytes are as compact
 * as JSON can be.
 */
int cl_json_result_ws(const struct cl_json_result *r);

/*
 * Validates that [p, p+n) is exactly one JSON object, optionally surrounded
 * by JSON whitespace, and fills r (which may be NULL: validate only) with
 * the spans of q's paths (q may be NULL when r is). Nesting deeper than 512
 * is an error. Returns 0, or -1 with *err filled (err may be NULL).
 */
int cl_json_scan(const struct cl_json_query *q, const char *p, size_t n, struct cl_json_result *r,
                 struct cl_json_err *err);

/*
 * Appends the decoded value of a string span to out (escapes decoded, \u
 * surrogate pairs as UTF-8; a lone surrogate becomes U+FFFD). Returns 0, or
 * -1 when s is NULL or not a string (out unchanged).
 */
int cl_json_str(const struct cl_json_span *s, struct cl_buf *out);
/* 1 when s is a string whose decoded value equals the NUL-terminated lit. */
int cl_json_str_eq(const struct cl_json_span *s, const char *lit);
/*
 * The bytes between the quotes of a string span that has no backslash, for
 * zero-copy use: returns 1 and sets *v, *vn; returns 0 when s is not a
 * string or holds an escape (decode with cl_json_str then).
 */
int cl_json_str_raw(const struct cl_json_span *s, const char **v, size_t *vn);

/* A view of a string's bytes: borrowed, not NUL-terminated. */
struct cl_str {
	const char *p;
	size_t n;
};

/*
 * The value of a string span as a view: its raw bytes when it holds no
 * escape (borrowed from the line), else decoded into tmp (reset first;
 * borrowed from tmp). Returns 0 with *v set, or -1 when s is NULL or not a
 * string.
 */
int cl_json_strview(const struct cl_json_span *s, struct cl_buf *tmp, struct cl_str *v);
/*
 * The decoded value of a string span into b, reset first (b is "" on -1).
 * Returns 0, or -1 when s is NULL or not a string.
 */
int cl_json_str_set(const struct cl_json_span *s, struct cl_buf *b);

/*
 * Appends the n bytes of UTF-8 at s to out as a JSON string literal, quotes
 * included. A byte that does not start a valid UTF-8 sequence is written as
 * U+FFFD, so the output is always valid JSON.
 */
void cl_json_put_str(struct cl_buf *out, const char *s, size_t n);

#endif
