/*
 * seen.h: cl-fetch's duplicate check for one collection: for a sourcedId,
 * whether it came before and which pass (1 or 2) saw it last, in a few
 * bytes a record, exactly. One per collection, released when it ends; used
 * by one thread (the worker's emit jobs), a page at a time:
 *
 *	fetch_seen_page_begin(s);
 *	for each record: h[i] = fetch_seen_hash(s, id, n);
 *	for each record: fetch_seen_prefetch(s, h[i + 8]); fetch_seen_put(s, id, n, h[i], pass);
 *	fetch_seen_page_end(s);
 *
 * A hash is valid only for the page it was computed in (between
 * fetch_seen_page_begin and fetch_seen_page_end).
 */
#ifndef FETCH_SEEN_H
#define FETCH_SEEN_H

#include <stddef.h>
#include <stdint.h>

struct fetch_seen;

/* How the check stands, for CL_FETCH_STATS and the tests. */
struct fetch_seen_stats {
	unsigned long long ids;        /* different sourcedIds seen */
	size_t bytes, peak;            /* memory held now, and at most */
	unsigned long long window;     /* hits confirmed by the recent pages */
	unsigned long long ahead;      /* second-pass hits confirmed by the first pass's order */
	unsigned long long spool;      /* hits resolved by reading the whole spool */
	unsigned long long collisions; /* hits on another sourcedId's fingerprint */
	const char *exact;             /* NULL, or why the exact map replaced the fingerprints */
};

/*
 * Returns a new check whose window of recent pages rotates every
 * window_pages pages (--parallel: it holds from one to two windows). Its
 * spool is a 0600 temporary file in TMPDIR, unlinked at once; when it
 * cannot be made, the check keeps every sourcedId in memory instead.
 */
struct fetch_seen *fetch_seen_new(long window_pages);
void fetch_seen_free(struct fetch_seen *s);
/* Makes room for n sourcedIds in all. */
void fetch_seen_reserve(struct fetch_seen *s, size_t n);

void fetch_seen_page_begin(struct fetch_seen *s);
uint64_t fetch_seen_hash(const struct fetch_seen *s, const char *id, size_t n);
void fetch_seen_prefetch(const struct fetch_seen *s, uint64_t h);
/*
 * Records that pass (1 or 2) saw id (n bytes, h its hash in this page).
 * Returns the pass that saw it last before, 0 when it never came; -1 with
 * errno set when the spool could not be read back (the answer is unknown).
 */
int fetch_seen_put(struct fetch_seen *s, const char *id, size_t n, uint64_t h, int pass);
/*
 * Appends the page's new sourcedIds to the spool and rotates the window.
 * A spool that cannot be written (a full TMPDIR) makes the check keep every
 * sourcedId in memory from then on. Returns 0, or -1 with errno set when
 * the spool could not be read back for that.
 */
int fetch_seen_page_end(struct fetch_seen *s);

void fetch_seen_stats(const struct fetch_seen *s, struct fetch_seen_stats *st);
/* Tests only: fingerprints of `bits` bits from a fixed key (fetch_seen_new's set still empty). */
void fetch_seen_test_narrow(struct fetch_seen *s, unsigned bits);

#endif
