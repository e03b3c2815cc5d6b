/*
 * idmap.h: a compact hash map from byte-string keys (sourcedIds, emails) to
 * 64-bit values; with the values ignored it is the ID set every stage keeps.
 * Keys are copied into one arena; a slot is 16 bytes, so a million IDs of
 * 20 bytes cost about 60 MB at most.
 */
#ifndef CL_IDMAP_H
#define CL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct cl_idmap;

/* Returns a new, empty map owned by the caller. */
struct cl_idmap *cl_idmap_new(void);
void cl_idmap_free(struct cl_idmap *m);

/*
 * Inserts key (n bytes, copied) if absent with value 0. Returns a pointer to
 * the key's value, valid until the next insertion; *added (may be NULL) is
 * set to 1 when the key was new.
 */
uint64_t *cl_idmap_put(struct cl_idmap *m, const char *key, size_t n, int *added);
/*
 * For many insertions in a row (a page of records): the key's hash, a hint
 * that brings its slot into the cache ahead of use, and cl_idmap_put with
 * the hash already known. h must be cl_idmap_hash(key, n).
 */
uint32_t cl_idmap_hash(const char *key, size_t n);
void cl_idmap_prefetch(const struct cl_idmap *m, uint32_t h);
uint64_t *cl_idmap_put_hashed(struct cl_idmap *m, const char *key, size_t n, uint32_t h,
                              int *added);
/* Makes room for n keys in all, so that reaching n rehashes nothing. */
void cl_idmap_reserve(struct cl_idmap *m, size_t n);
/* Returns a pointer to key's value, or NULL when absent. Borrowed. */
uint64_t *cl_idmap_get(const struct cl_idmap *m, const char *key, size_t n);
/* 1 when key is present. */
int cl_idmap_has(const struct cl_idmap *m, const char *key, size_t n);
size_t cl_idmap_count(const struct cl_idmap *m);
/* Bytes the map holds (slots and arena), for memory reports. */
size_t cl_idmap_bytes(const struct cl_idmap *m);

/*
 * Iterates in slot order (not insertion order): start with *iter = 0; returns
 * 1 with the entry's key (borrowed, not NUL-terminated) and value, 0 at the end.
 */
int cl_idmap_next(const struct cl_idmap *m, size_t *iter, const char **key, size_t *n,
                  uint64_t *val);

#endif
