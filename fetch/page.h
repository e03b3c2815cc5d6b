/*
 * page.h: one page of a OneRoster collection: validating its body, finding
 * the records in its envelope array, and turning each into a stream line.
 */
#ifndef FETCH_PAGE_H
#define FETCH_PAGE_H

#include <stddef.h>

#include "buf.h"
#include "json.h"
#include "role.h"

enum fetch_page_rc {
	FETCH_PAGE_OK = 0,
	FETCH_PAGE_MALFORMED = -1,   /* not JSON: cut short, or not JSON at all */
	FETCH_PAGE_NO_ENVELOPE = -2, /* a JSON object without the collection's key */
	FETCH_PAGE_NOT_ARRAY = -3,   /* the key holds something other than an array */
	FETCH_PAGE_NOT_OBJECT = -4,  /* an element of the array is not an object */
	FETCH_PAGE_NOT_ENVELOPE = -5 /* valid JSON, but not an object: a bare array, say */
};

/* Where one record lies in the page body, and what the scan found in it. */
struct fetch_page_span {
	size_t off, n;
	size_t id_off, id_n; /* its sourcedId's bytes, between the quotes, from off; id_n 0: none */
	unsigned char parent;  /* its role (lib/role.h) is parent, guardian or relative */
	unsigned char compact; /* no whitespace outside its strings: it can be copied as it is */
};

/* The parser for one collection's pages (its envelope key). */
struct fetch_page_parser {
	struct cl_json_query *q;
	struct cl_json_result *r;
	size_t role_path[CL_RP_COUNT]; /* the query's index of each path of a role */
	struct cl_json_query *vq; /* a body that is not an object, wrapped in one: is it JSON? */
	struct cl_json_result *vr;
	struct cl_buf wrap;
};

/* Prepares p for pages whose records are in envelope (borrowed during the call). */
void fetch_page_parser_init(struct fetch_page_parser *p, const char *envelope);
void fetch_page_parser_release(struct fetch_page_parser *p);

/*
 * Validates body (n bytes) and appends the span of every element of the
 * envelope array to *spans (a growable array: *nspans used, *cap
 * allocated), with its top-level sourcedId and role as one scan finds them.
 * Returns FETCH_PAGE_OK or a negative enum fetch_page_rc; *where (may be
 * NULL) gets a static message for FETCH_PAGE_MALFORMED, and for
 * FETCH_PAGE_NOT_ENVELOPE what the body is instead ("an array", "a
 * string"...).
 */
int fetch_page_parse(struct fetch_page_parser *p, const char *body, size_t n,
                     struct fetch_page_span **spans, size_t *nspans, size_t *cap,
                     const char **where);

/*
 * Appends the record [p, p+n) (a valid JSON object, as fetch_page_parse
 * found it) to out minified: whitespace outside strings removed, everything
 * else byte for byte (so the sourcedId fetch_page_parse found is the same
 * bytes). A compact record needs none of it: it is copied as it is.
 */
void fetch_page_minify(struct cl_buf *out, const char *p, size_t n);

#endif
