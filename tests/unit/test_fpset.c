/* test_fpset: the fingerprint set: its hash, growth, reserve, and collisions forced. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpset.h"
#include "t.h"

/* The key 00 01 .. 0f of the SipHash paper's test vectors, as two little-endian words. */
#define K0 0x0706050403020100ULL
#define K1 0x0f0e0d0c0b0a0908ULL

int
main(void)
{
	struct cl_fpset *s = cl_fpset_new(), *t = cl_fpset_new();
	char key[32], msg[15];
	size_t i, n = 200000, bytes, miss;
	int len;

	/* SipHash-2-4's published vectors: messages 00, 00 01, ... of length 0 and 15 */
	for (i = 0; i < sizeof msg; i++)
		msg[i] = (char)i;
	cl_fpset_test_hook(t, 64, K0, K1);
	CHECK(cl_fpset_hash(t, msg, 0) == 0x726fdb47dd0e0e31ULL);
	CHECK(cl_fpset_hash(t, msg, 15) == 0xa129ca6149be45e5ULL);
	cl_fpset_free(t);

	/* every set draws its own key: the same ID hashes differently from run to run */
	t = cl_fpset_new();
	CHECK(cl_fpset_hash(s, "S0001", 5) != cl_fpset_hash(t, "S0001", 5));
	CHECK(cl_fpset_hash(s, "S0001", 5) == cl_fpset_hash(s, "S0001", 5));
	cl_fpset_free(t);

	/* growth from 1024 slots through many doublings: everything stays, with its value */
	CHECK(cl_fpset_get(s, cl_fpset_hash(s, "x", 1)) == 0);
	for (i = 0; i < n; i++) {
		len = snprintf(key, sizeof key, "%zu", i * 7919);
		if (cl_fpset_put_hashed(s, cl_fpset_hash(s, key, (size_t)len),
		                        1 + (unsigned)(i % 3)) != 0) {
			CHECK(!"a new key was found");
			break;
		}
	}
	CHECK_INT(cl_fpset_count(s), n);
	for (i = 0; i < n; i++) {
		uint64_t h;

		len = snprintf(key, sizeof key, "%zu", i * 7919);
		h = cl_fpset_hash(s, key, (size_t)len);
		if (cl_fpset_get(s, h) != 1 + i % 3 || cl_fpset_put_hashed(s, h, 3) != 1 + i % 3) {
			CHECK(!"a key lost or its value changed by a resize");
			break;
		}
	}
	cl_fpset_set(s, cl_fpset_hash(s, "0", 1), 2);
	CHECK(cl_fpset_get(s, cl_fpset_hash(s, "0", 1)) == 2);
	CHECK_INT(cl_fpset_count(s), n);
	/* 64-bit fingerprints: keys never put are not found (a false hit is ~2^-40 here) */
	for (i = 0, miss = 0; i < n; i++) {
		len = snprintf(key, sizeof key, "k%zu", i);
		miss += cl_fpset_get(s, cl_fpset_hash(s, key, (size_t)len)) == 0;
	}
	CHECK_INT(miss, n);
	/* 8 bytes a slot, at most 4/5 full, at least 1/5 after a doubling: 10 to 20 bytes a key */
	CHECK(cl_fpset_bytes(s) <= n * 20 + 64);
	cl_fpset_free(s);
	cl_fpset_free(NULL);

	/* reserve: room for n at once (n * 5/4 slots, 10 bytes a key), no resize up to n */
	s = cl_fpset_new();
	cl_fpset_put_hashed(s, cl_fpset_hash(s, "a", 1), 2);
	cl_fpset_reserve(s, 100000);
	bytes = cl_fpset_bytes(s);
	CHECK(bytes >= 100000 * 10 && bytes < 100000 * 10 + 256);
	CHECK(cl_fpset_get(s, cl_fpset_hash(s, "a", 1)) == 2); /* survives the resize */
	for (i = 1; i < 100000; i++) {
		uint64_t h;

		len = snprintf(key, sizeof key, "k%zu", i);
		h = cl_fpset_hash(s, key, (size_t)len);
		cl_fpset_prefetch(s, h);
		cl_fpset_put_hashed(s, h, 1);
	}
	CHECK_INT(cl_fpset_count(s), 100000);
	CHECK_INT(cl_fpset_bytes(s), bytes);
	cl_fpset_reserve(s, 10); /* never shrinks */
	CHECK_INT(cl_fpset_bytes(s), bytes);
	cl_fpset_free(s);

	/*
	 * Collisions forced: 6-bit fingerprints, so that among 200 keys many share
	 * one. A key never put then "hits" the value of another: the set alone
	 * cannot tell them apart, which is why its users check a hit exactly.
	 */
	s = cl_fpset_new();
	cl_fpset_test_hook(s, 6, 1, 2);
	{
		uint64_t hs[200];
		size_t j, hits = 0, fresh = 0;

		for (i = 0; i < 200; i++) {
			len = snprintf(key, sizeof key, "u%zu", i);
			hs[i] = cl_fpset_hash(s, key, (size_t)len);
			CHECK((hs[i] & ((UINT64_C(1) << 58) - 1)) == 0); /* only the top 6 bits */
		}
		for (i = 0; i < 200; i++) {
			unsigned v = cl_fpset_put_hashed(s, hs[i], 1);

			for (j = 0; j < i && hs[j] != hs[i]; j++)
				;
			if (j < i) {
				hits++;
				CHECK(v == 1); /* the earlier key's fingerprint answers */
			} else {
				fresh++;
				CHECK(v == 0);
			}
		}
		CHECK(hits >= 200 - 64);
		CHECK_INT(cl_fpset_count(s), fresh);
	}
	cl_fpset_free(s);
	return T_DONE();
}
