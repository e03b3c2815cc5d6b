/* test_idmap: the ID map against a plain check, through several rehashes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "t.h"

int
main(void)
{
	struct cl_idmap *m = cl_idmap_new();
	char key[32];
	size_t i, n = 200000, iter = 0, seen = 0, kn, bytes;
	const char *k;
	uint64_t v, *p;
	int added;

	CHECK(cl_idmap_get(m, "x", 1) == NULL);
	p = cl_idmap_put(m, "", 0, &added); /* the empty key is a key */
	CHECK(added == 1 && *p == 0);
	*p = 7;
	for (i = 0; i < n; i++) {
		int len = snprintf(key, sizeof key, "%zu", i * 7919);

		p = cl_idmap_put(m, key, (size_t)len, &added);
		CHECK(added == 1);
		*p = i;
	}
	CHECK_INT(cl_idmap_count(m), n + 1);
	for (i = 0; i < n; i++) {
		int len = snprintf(key, sizeof key, "%zu", i * 7919);

		p = cl_idmap_get(m, key, (size_t)len);
		if (!p || *p != i) {
			CHECK(p && *p == i);
			break;
		}
		cl_idmap_put(m, key, (size_t)len, &added);
		if (added) {
			CHECK(!added);
			break;
		}
	}
	CHECK(!cl_idmap_has(m, "17", 2));   /* 17 is not a multiple of 7919 */
	CHECK(!cl_idmap_has(m, "7919", 3)); /* a prefix of a key is not the key */
	CHECK(cl_idmap_has(m, "7919", 4));
	CHECK(*cl_idmap_get(m, "", 0) == 7);
	while (cl_idmap_next(m, &iter, &k, &kn, &v)) {
		seen++;
		if (kn == 0)
			CHECK(v == 7);
	}
	CHECK_INT(seen, n + 1);
	CHECK(cl_idmap_bytes(m) < 16 * 1024 * 1024);
	cl_idmap_free(m);
	cl_idmap_free(NULL);

	/* reserved room, then hashed insertions with prefetching: the same map */
	m = cl_idmap_new();
	cl_idmap_put(m, "a", 1, NULL);
	bytes = cl_idmap_bytes(m);
	cl_idmap_reserve(m, 100000);
	CHECK(cl_idmap_bytes(m) - bytes >= 100000 * 16); /* the slots are there at once */
	bytes = cl_idmap_bytes(m);
	CHECK(cl_idmap_has(m, "a", 1)); /* what was there survives the resize */
	for (i = 0; i < 100000; i++) {
		int len = snprintf(key, sizeof key, "k%zu", i);
		uint32_t h = cl_idmap_hash(key, (size_t)len);

		cl_idmap_prefetch(m, h);
		p = cl_idmap_put_hashed(m, key, (size_t)len, h, &added);
		if (!added) {
			CHECK(added);
			break;
		}
		*p = i + 1;
	}
	CHECK_INT(cl_idmap_count(m), 100001);
	CHECK(*cl_idmap_get(m, "k4242", 5) == 4243);
	p = cl_idmap_put_hashed(m, "k7", 2, cl_idmap_hash("k7", 2), &added);
	CHECK(!added && *p == 8);
	cl_idmap_reserve(m, 10); /* never shrinks */
	CHECK(cl_idmap_bytes(m) >= bytes);
	CHECK(*cl_idmap_get(m, "k99999", 6) == 100000);
	cl_idmap_free(m);
	return T_DONE();
}
