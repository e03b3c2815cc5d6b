/*
 * fpset.h: a compact set of byte strings (sourcedIds) kept as 64-bit
 * fingerprints, each with a small value (1 to 3), in 8 bytes a slot: the
 * fingerprint's top 62 bits | the value. Nothing of the key itself is kept,
 * so 6 million IDs cost about 60 MB at most, whatever their length.
 *
 * A fingerprint hit is not proof that the key was put before: two keys may
 * share a fingerprint (with n keys, about n^2 / 2^63 pairs do: one in a
 * hundred thousand nights at 6 million). The caller checks a hit exactly
 * (fetch/seen.c does) before acting on it. The hash is keyed with a seed
 * drawn from getrandom(2) for every set, so that a collision on one night
 * does not repeat on the next, and a server cannot choose colliding IDs.
 *
 * Invariants: slots is never NULL; an empty slot is 0 (a value is never 0,
 * so an occupied slot never is); the load stays at most 4/5.
 */
#ifndef CL_FPSET_H
#define CL_FPSET_H

#include <stddef.h>
#include <stdint.h>

struct cl_fpset;

/* Returns a new, empty set with a fresh random key, owned by the caller. */
struct cl_fpset *cl_fpset_new(void);
void cl_fpset_free(struct cl_fpset *s);

/* The keyed 64-bit hash of key (n bytes): SipHash-2-4 with the set's key. */
uint64_t cl_fpset_hash(const struct cl_fpset *s, const char *key, size_t n);
/* A hint that brings h's slot into the cache ahead of use (a page of keys ahead). */
void cl_fpset_prefetch(const struct cl_fpset *s, uint64_t h);
/*
 * Looks up h's fingerprint. Absent: inserts it with val (1 to 3) and
 * returns 0. Present: returns its value, unchanged.
 */
unsigned cl_fpset_put_hashed(struct cl_fpset *s, uint64_t h, unsigned val);
/* The value of h's fingerprint, 0 when absent. */
unsigned cl_fpset_get(const struct cl_fpset *s, uint64_t h);
/* Sets the value (1 to 3) of h's fingerprint, which must be present. */
void cl_fpset_set(struct cl_fpset *s, uint64_t h, unsigned val);
/* Makes room for n fingerprints in all, so that reaching n rehashes nothing. */
void cl_fpset_reserve(struct cl_fpset *s, size_t n);
size_t cl_fpset_count(const struct cl_fpset *s);
/* Bytes the set holds, for memory reports. */
size_t cl_fpset_bytes(const struct cl_fpset *s);

/*
 * Tests only: keeps the top `bits` bits (1 to 64) of every hash the set
 * computes from now on, and sets the key (so that a test can force
 * collisions). Call it on an empty set.
 */
void cl_fpset_test_hook(struct cl_fpset *s, unsigned bits, uint64_t k0, uint64_t k1);

#endif
