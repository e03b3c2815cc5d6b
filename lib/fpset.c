/*
 * fpset.c: open addressing with linear probing over 8-byte slots. A slot's
 * home is the fingerprint scaled to the table (fp * nslots / 2^64, Lemire's
 * "fastrange"), so a table can have any size: reserve(n) makes n * 5/4
 * slots, not the next power of two (10 bytes a key, not up to 20).
 * At a load of 4/5 an absent key probes about 13 slots, two cache lines;
 * the load, not the number of keys, sets the cost of a lookup.
 */
#include "fpset.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"

#define FP_MASK (~(uint64_t)3)
#define START_SLOTS 1024

struct cl_fpset {
	uint64_t *slots; /* fingerprint (top 62 bits) | value (1..3); 0: empty */
	size_t nslots;
	size_t count;
	uint64_t k0, k1; /* the hash's key */
	uint64_t keep;   /* the bits of a hash kept (all but in tests) */
};

static uint64_t
rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t
le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = rotl(v1, 13); \
		v1 ^= v0;          \
		v0 = rotl(v0, 32); \
		v2 += v3;          \
		v3 = rotl(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = rotl(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = rotl(v1, 17); \
		v1 ^= v2;          \
		v2 = rotl(v2, 32); \
	} while (0)

/* SipHash-2-4 (Aumasson and Bernstein), the reference algorithm. */
static uint64_t
siphash(uint64_t k0, uint64_t k1, const unsigned char *p, size_t n)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t m, b = (uint64_t)n << 56;
	const unsigned char *end = p + (n & ~(size_t)7);
	size_t left = n & 7;

	for (; p != end; p += 8) {
		m = le64(p);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	while (left--)
		b |= (uint64_t)p[left] << (8 * left);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* fp * n / 2^64: the home slot of a fingerprint in a table of n slots. */
static size_t
home(uint64_t fp, size_t n)
{
	__extension__ typedef unsigned __int128 u128;

	return (size_t)(((u128)fp * n) >> 64);
}

struct cl_fpset *
cl_fpset_new(void)
{
	struct cl_fpset *s = cl_xcalloc(1, sizeof *s);
	uint64_t k[2];
	size_t got = 0;

	while (got < sizeof k) {
		ssize_t r = getrandom((char *)k + got, sizeof k - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got < sizeof k) {
		/* no getrandom (an old kernel): a key that still changes from run to run */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		k[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)s;
		k[1] = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&ts;
	}
	s->k0 = k[0];
	s->k1 = k[1];
	s->keep = ~(uint64_t)0;
	s->nslots = START_SLOTS;
	s->slots = cl_xcalloc(s->nslots, sizeof *s->slots);
	return s;
}

void
cl_fpset_free(struct cl_fpset *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);
}

uint64_t
cl_fpset_hash(const struct cl_fpset *s, const char *key, size_t n)
{
	return siphash(s->k0, s->k1, (const unsigned char *)key, n) & s->keep;
}

void
cl_fpset_prefetch(const struct cl_fpset *s, uint64_t h)
{
#if defined(__GNUC__)
	__builtin_prefetch(&s->slots[home(h & FP_MASK, s->nslots)], 1);
#else
	(void)s;
	(void)h;
#endif
}

/* The slot of fp, or the empty slot where it would go. */
static uint64_t *
find(const struct cl_fpset *s, uint64_t fp)
{
	size_t i = home(fp, s->nslots);

	for (;;) {
		uint64_t *e = &s->slots[i];

		if (*e == 0 || (*e & FP_MASK) == fp)
			return e;
		if (++i == s->nslots)
			i = 0;
	}
}

/* Moves every fingerprint into a table of n slots. */
static void
resize(struct cl_fpset *s, size_t n)
{
	uint64_t *old = s->slots;
	size_t oldn = s->nslots, i;

	s->slots = cl_xcalloc(n, sizeof *s->slots);
	s->nslots = n;
	for (i = 0; i < oldn; i++)
		if (old[i])
			*find(s, old[i] & FP_MASK) = old[i];
	free(old);
}

void
cl_fpset_reserve(struct cl_fpset *s, size_t n)
{
	size_t want;

	if (n > SIZE_MAX / 8 / sizeof *s->slots)
		cl_oom();
	want = n + n / 4 + 1; /* the load stays at most 4/5, as put keeps it */
	if (want > s->nslots)
		resize(s, want);
}

unsigned
cl_fpset_put_hashed(struct cl_fpset *s, uint64_t h, unsigned val)
{
	uint64_t fp = h & FP_MASK, *e = find(s, fp);

	assert(val >= 1 && val <= 3);
	if (*e)
		return (unsigned)(*e & 3);
	if ((s->count + 1) * 5 > s->nslots * 4) {
		if (s->nslots > SIZE_MAX / 4 / sizeof *s->slots)
			cl_oom();
		resize(s, s->nslots * 2);
		e = find(s, fp);
	}
	*e = fp | (val & 3);
	s->count++;
	return 0;
}

unsigned
cl_fpset_get(const struct cl_fpset *s, uint64_t h)
{
	return (unsigned)(*find(s, h & FP_MASK) & 3);
}

void
cl_fpset_set(struct cl_fpset *s, uint64_t h, unsigned val)
{
	uint64_t fp = h & FP_MASK, *e = find(s, fp);

	assert(val >= 1 && val <= 3);
	if (*e)
		*e = fp | (val & 3);
}

size_t
cl_fpset_count(const struct cl_fpset *s)
{
	return s->count;
}

size_t
cl_fpset_bytes(const struct cl_fpset *s)
{
	return s->nslots * sizeof *s->slots + sizeof *s;
}

void
cl_fpset_test_hook(struct cl_fpset *s, unsigned bits, uint64_t k0, uint64_t k1)
{
	if (bits < 1)
		bits = 1;
	s->keep = bits >= 62 ? ~(uint64_t)0 : ~(uint64_t)0 << (64 - bits);
	s->k0 = k0;
	s->k1 = k1;
}
