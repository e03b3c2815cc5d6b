/*
 * unit_seen: cl-fetch's duplicate check (fetch/seen.c) against the exact
 * map it replaces (sourcedId -> the pass that saw it last), record by
 * record, down each of its paths: offset drift confirmed by the window, a
 * second pass confirmed by the first pass's order, repeats from far back
 * read from the spool and then the exact map, fingerprint collisions forced
 * with narrow fingerprints, a TMPDIR that is missing or full.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "idmap.h"
#include "seen.h"
#include "t.h"

struct drv {
	struct fetch_seen *s;
	struct cl_idmap *ref; /* the old check: sourcedId -> the pass that saw it last */
	unsigned long long wrong;
};

static void
drv_init(struct drv *d, long window, unsigned bits)
{
	d->s = fetch_seen_new(window);
	if (bits)
		fetch_seen_test_narrow(d->s, bits);
	d->ref = cl_idmap_new();
	d->wrong = 0;
}

static void
drv_free(struct drv *d)
{
	fetch_seen_free(d->s);
	cl_idmap_free(d->ref);
}

/* One page of records (their sourcedIds id-N, N from ids[]) in pass `pass`, each checked. */
static void
page(struct drv *d, const long *ids, size_t n, int pass)
{
	char(*key)[16] = calloc(n ? n : 1, sizeof *key);
	uint64_t *h = calloc(n ? n : 1, sizeof *h);
	size_t i;

	if (!key || !h)
		abort();
	fetch_seen_page_begin(d->s);
	for (i = 0; i < n; i++) {
		snprintf(key[i], sizeof key[i], "id-%06ld", ids[i]);
		h[i] = fetch_seen_hash(d->s, key[i], strlen(key[i]));
	}
	for (i = 0; i < n; i++) {
		size_t len = strlen(key[i]);
		int added, got, want;
		uint64_t *v;

		if (i + 8 < n)
			fetch_seen_prefetch(d->s, h[i + 8]);
		got = fetch_seen_put(d->s, key[i], len, h[i], pass);
		v = cl_idmap_put(d->ref, key[i], len, &added);
		want = added ? 0 : (int)*v;
		*v = (uint64_t)pass;
		if (got != want) {
			if (d->wrong++ < 5)
				fprintf(stderr, "%s: pass %d: got %d, want %d\n", key[i], pass, got,
				        want);
		}
	}
	CHECK(fetch_seen_page_end(d->s) == 0);
	free(key);
	free(h);
}

/* Pages of `limit` records from ids[0..n). */
static void
pages(struct drv *d, const long *ids, size_t n, size_t limit, int pass)
{
	size_t i;

	for (i = 0; i < n; i += limit)
		page(d, ids + i, n - i < limit ? n - i : limit, pass);
}

static long *
seq(size_t n)
{
	long *a = malloc(n * sizeof *a);
	size_t i;

	if (!a)
		abort();
	for (i = 0; i < n; i++)
		a[i] = (long)i;
	return a;
}

int
main(void)
{
	struct drv d;
	struct fetch_seen_stats st;
	long *ids = seq(6000), rep[40];
	size_t i;

	/* 1. offset drift: each page repeats the last 3 records of the one before */
	drv_init(&d, 4, 0);
	for (i = 0; i < 50; i++) {
		long pg[23];
		size_t j;

		for (j = 0; j < 23; j++)
			pg[j] = (long)(i * 20 + j) - 3;
		page(&d, i ? pg : pg + 3, i ? 23 : 20, 1);
	}
	fetch_seen_stats(d.s, &st);
	CHECK_INT(d.wrong, 0);
	CHECK_INT(st.ids, 1000);
	CHECK_INT(st.window, 49 * 3);
	CHECK_INT(st.spool + st.ahead + st.collisions, 0);
	CHECK(st.exact == NULL);
	CHECK(st.peak > 0 && st.peak < 200000);
	drv_free(&d);

	/* 2. a second pass in the first's order, a record gone and two new: ahead, no scan */
	drv_init(&d, 4, 0);
	pages(&d, ids, 5000, 100, 1);
	ids[1234] = 5000;
	ids[4321] = 5001;
	ids[4999] = 5002;
	pages(&d, ids, 5000, 100, 2);
	fetch_seen_stats(d.s, &st);
	CHECK_INT(d.wrong, 0);
	CHECK_INT(st.ahead, 4997);
	CHECK_INT(st.spool, 0);
	CHECK(st.exact == NULL);
	drv_free(&d);
	free(ids);
	ids = seq(6000);

	/* 3. repeats from far back: eight read from the spool, the ninth builds the exact map */
	drv_init(&d, 2, 0);
	pages(&d, ids, 3000, 100, 1);
	for (i = 0; i < 5; i++)
		rep[i] = (long)i * 7;
	page(&d, rep, 5, 1); /* five far repeats */
	fetch_seen_stats(d.s, &st);
	CHECK_INT(st.spool, 5);
	CHECK_INT(st.collisions, 0);
	CHECK(st.exact == NULL);
	for (i = 0; i < 10; i++)
		rep[i] = 3000 + (long)i * 2; /* new and far-back mixed in one page */
	for (i = 10; i < 20; i++)
		rep[i] = (long)i * 11;
	page(&d, rep, 20, 1);
	fetch_seen_stats(d.s, &st);
	CHECK_INT(st.spool, 8);
	CHECK(st.exact && !strcmp(st.exact, "spool"));
	pages(&d, ids + 3000, 1000, 100, 1);
	pages(&d, ids, 4000, 100, 2); /* the second pass on the exact map */
	fetch_seen_stats(d.s, &st);
	CHECK_INT(d.wrong, 0);
	CHECK_INT(st.ids, 4000);
	drv_free(&d);

	/*
	 * 4. collisions forced: 20-bit fingerprints for 3000 sourcedIds make a
	 * few pairs share one. The newcomer of a pair is a new record (the
	 * spool says so) and exact from then on; drift repeats and a second
	 * pass find each of the pair with its own pass.
	 */
	drv_init(&d, 4, 20);
	pages(&d, ids, 3000, 100, 1);
	fetch_seen_stats(d.s, &st);
	CHECK(st.collisions >= 1 && st.collisions <= 8);
	CHECK_INT(st.spool, st.collisions);
	CHECK(st.exact == NULL);
	for (i = 0; i < 40; i++)
		rep[i] = 2960 + (long)i; /* the last page repeated: drift */
	page(&d, rep, 40, 1);
	pages(&d, ids, 3000, 100, 2);
	fetch_seen_stats(d.s, &st);
	CHECK_INT(d.wrong, 0);
	CHECK(st.exact == NULL);
	CHECK_INT(st.ids, 3000);
	drv_free(&d);

	/* 5. fingerprints of 8 bits: nearly every record collides; the exact map soon takes over */
	drv_init(&d, 2, 8);
	pages(&d, ids, 2000, 50, 1);
	for (i = 0; i < 40; i++)
		rep[i] = (long)(i * 37 % 2000);
	page(&d, rep, 40, 1);
	pages(&d, ids, 2000, 50, 2);
	fetch_seen_stats(d.s, &st);
	CHECK_INT(d.wrong, 0);
	CHECK(st.exact && !strcmp(st.exact, "spool"));
	CHECK_INT(st.ids, 2000);
	drv_free(&d);

	/* 6. TMPDIR missing: the exact map from the start */
	setenv("TMPDIR", "/nonexistent/cl-fetch-test", 1);
	drv_init(&d, 2, 0);
	pages(&d, ids, 1000, 100, 1);
	page(&d, rep, 40, 1);
	pages(&d, ids, 1000, 100, 2);
	fetch_seen_stats(d.s, &st);
	CHECK_INT(d.wrong, 0);
	CHECK(st.exact && !strcmp(st.exact, "tmpdir"));
	drv_free(&d);
	unsetenv("TMPDIR");

	/*
	 * 7. TMPDIR full (a file size limit, SIGXFSZ ignored as a full disk gives
	 * ENOSPC): the spool's first pages and the failing one make the exact map.
	 */
	{
		struct rlimit old, lim;

		signal(SIGXFSZ, SIG_IGN);
		drv_init(&d, 2, 0);
		CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
		lim = old;
		lim.rlim_cur = 5000; /* about 3 pages of 100 sourcedIds of 13 bytes */
		CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
		pages(&d, ids, 1000, 100, 1);
		CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
		fetch_seen_stats(d.s, &st);
		CHECK(st.exact && !strcmp(st.exact, "tmpdir"));
		for (i = 0; i < 40; i++)
			rep[i] = (long)i * 25; /* from every page, before and after the failure */
		page(&d, rep, 40, 1);
		pages(&d, ids, 1000, 100, 2);
		fetch_seen_stats(d.s, &st);
		CHECK_INT(d.wrong, 0);
		CHECK_INT(st.ids, 1000);
		drv_free(&d);
	}

	/* 8. a sourcedId longer than the spool's read buffer, found there from far back */
	drv_init(&d, 1, 0);
	{
		static char big[200000];
		uint64_t h;

		memset(big, 'x', sizeof big);
		fetch_seen_page_begin(d.s);
		h = fetch_seen_hash(d.s, big, sizeof big);
		CHECK(fetch_seen_put(d.s, big, sizeof big, h, 1) == 0);
		CHECK(fetch_seen_page_end(d.s) == 0);
		pages(&d, ids, 300, 100, 1);
		fetch_seen_page_begin(d.s);
		h = fetch_seen_hash(d.s, big, sizeof big);
		CHECK(fetch_seen_put(d.s, big, sizeof big, h, 1) == 1);
		CHECK(fetch_seen_page_end(d.s) == 0);
		fetch_seen_stats(d.s, &st);
		CHECK_INT(st.spool, 1);
	}
	drv_free(&d);
	fetch_seen_free(NULL);
	free(ids);
	return T_DONE();
}
