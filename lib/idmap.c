/* idmap.c: open addressing with linear probing; keys in one arena. */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"

struct slot {
	uint32_t hash;
	uint32_t off; /* offset of the key in the arena; 0 = empty */
	uint64_t val;
};

struct cl_idmap {
	struct slot *slots;
	size_t mask; /* number of slots - 1 */
	size_t count;
	char *arena; /* [uint32 length][bytes] per key, from offset 1 */
	size_t alen, acap;
};

uint32_t
cl_idmap_hash(const char *p, size_t n)
{
	/* FNV-1a, folded; IDs are short. */
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 32;
	return (uint32_t)h;
}

struct cl_idmap *
cl_idmap_new(void)
{
	struct cl_idmap *m = cl_xcalloc(1, sizeof *m);

	m->mask = 1023;
	m->slots = cl_xcalloc(m->mask + 1, sizeof *m->slots);
	m->acap = 16384;
	m->arena = cl_xmalloc(m->acap);
	m->alen = 1;
	return m;
}

void
cl_idmap_free(struct cl_idmap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m->arena);
	free(m);
}

static int
key_eq(const struct cl_idmap *m, uint32_t off, const char *key, size_t n)
{
	uint32_t len;

	memcpy(&len, m->arena + off, sizeof len);
	return len == n && memcmp(m->arena + off + sizeof len, key, n) == 0;
}

static struct slot *
find(const struct cl_idmap *m, const char *key, size_t n, uint32_t h)
{
	size_t i = h & m->mask;

	for (;;) {
		struct slot *s = &m->slots[i];

		if (s->off == 0 || (s->hash == h && key_eq(m, s->off, key, n)))
			return s;
		i = (i + 1) & m->mask;
	}
}

/* Moves every key into a table of nslots (a power of two). */
static void
resize(struct cl_idmap *m, size_t nslots)
{
	struct slot *old = m->slots;
	size_t oldn = m->mask + 1, i;

	m->mask = nslots - 1;
	m->slots = cl_xcalloc(m->mask + 1, sizeof *m->slots);
	for (i = 0; i < oldn; i++) {
		size_t j;

		if (old[i].off == 0)
			continue;
		j = old[i].hash & m->mask;
		while (m->slots[j].off != 0)
			j = (j + 1) & m->mask;
		m->slots[j] = old[i];
	}
	free(old);
}

void
cl_idmap_prefetch(const struct cl_idmap *m, uint32_t h)
{
#if defined(__GNUC__)
	__builtin_prefetch(&m->slots[h & m->mask], 1);
#else
	(void)m;
	(void)h;
#endif
}

void
cl_idmap_reserve(struct cl_idmap *m, size_t n)
{
	size_t nslots = m->mask + 1;

	/* the load factor stays below 0.7, as cl_idmap_put keeps it */
	while (n * 10 > nslots * 7) {
		if (nslots > SIZE_MAX / 2 / sizeof *m->slots)
			cl_oom();
		nslots *= 2;
	}
	if (nslots != m->mask + 1)
		resize(m, nslots);
}

uint64_t *
cl_idmap_put(struct cl_idmap *m, const char *key, size_t n, int *added)
{
	return cl_idmap_put_hashed(m, key, n, cl_idmap_hash(key, n), added);
}

uint64_t *
cl_idmap_put_hashed(struct cl_idmap *m, const char *key, size_t n, uint32_t h, int *added)
{
	uint32_t len;
	struct slot *s;

	if (added)
		*added = 0;
	s = find(m, key, n, h);
	if (s->off != 0)
		return &s->val;
	if ((m->count + 1) * 10 > (m->mask + 1) * 7) {
		resize(m, (m->mask + 1) * 2);
		s = find(m, key, n, h);
	}
	if (n > UINT32_MAX - sizeof len || m->alen + sizeof len + n > UINT32_MAX)
		cl_oom(); /* 4 GiB of keys: beyond any district */
	while (m->alen + sizeof len + n > m->acap) {
		m->acap *= 2;
		m->arena = cl_xrealloc(m->arena, m->acap);
	}
	len = (uint32_t)n;
	memcpy(m->arena + m->alen, &len, sizeof len);
	if (n)
		memcpy(m->arena + m->alen + sizeof len, key, n);
	s->hash = h;
	s->off = (uint32_t)m->alen;
	s->val = 0;
	m->alen += sizeof len + n;
	m->count++;
	if (added)
		*added = 1;
	return &s->val;
}

uint64_t *
cl_idmap_get(const struct cl_idmap *m, const char *key, size_t n)
{
	struct slot *s = find(m, key, n, cl_idmap_hash(key, n));

	return s->off ? &s->val : NULL;
}

int
cl_idmap_has(const struct cl_idmap *m, const char *key, size_t n)
{
	return cl_idmap_get(m, key, n) != NULL;
}

size_t
cl_idmap_count(const struct cl_idmap *m)
{
	return m->count;
}

size_t
cl_idmap_bytes(const struct cl_idmap *m)
{
	return (m->mask + 1) * sizeof *m->slots + m->acap;
}

int
cl_idmap_next(const struct cl_idmap *m, size_t *iter, const char **key, size_t *n, uint64_t *val)
{
	while (*iter <= m->mask) {
		const struct slot *s = &m->slots[(*iter)++];
		uint32_t len;

		if (s->off == 0)
			continue;
		memcpy(&len, m->arena + s->off, sizeof len);
		*key = m->arena + s->off + sizeof len;
		*n = len;
		if (val)
			*val = s->val;
		return 1;
	}
	return 0;
}
