/*
 * seen.c: the duplicate check of one collection, in a few bytes a record.
 *
 * Every sourcedId's 64-bit keyed fingerprint is kept with the pass that saw
 * it last (lib/fpset: 8 bytes a slot, about 10 bytes a record); nothing of
 * the sourcedId itself stays in memory. A fingerprint that was never put is
 * a new record for sure. A fingerprint hit is not proof (two sourcedIds may
 * share one), so every hit is checked exactly before a record is dropped or
 * counted as the pass before's, from the cheapest evidence to the dearest:
 *
 *   1. extra: the sourcedIds found to share a fingerprint with another one
 *      (a collision: about one night in 100,000 at 6 million records), each
 *      with its own pass, exactly. Every sourcedId seen is either the owner
 *      of its fingerprint's slot or here, so a sourcedId confirmed seen and
 *      not here has the slot's pass.
 *   2. the window: the sourcedIds of the last --parallel to 2 x --parallel
 *      pages (two exact maps, rotated). Offset drift repeats the records of
 *      the pages just before, so nearly every true duplicate ends here.
 *   3. the second pass only: the first pass's sourcedIds read from the spool
 *      in order, a chunk at a time, a little ahead of the second pass (which
 *      reads the collection in the same order): every record of a second
 *      pass hits, and most are confirmed here without a scan.
 *   4. the spool: every sourcedId seen, appended once per page to an
 *      unlinked 0600 temporary file in TMPDIR, read through for a hit
 *      nothing above explains (a collision, or a repeat from far back).
 *
 * A read of the whole spool costs the collection's size in I/O, so after
 * FAR_MAX of them in one collection (a server that keeps repeating itself
 * from far back, or sends the second pass in another order) the exact map
 * the check used to keep (sourcedId -> pass, cl_idmap: about 80 bytes a
 * record) is built once from the spool and used for the rest of the
 * collection: memory as before, but only on a night the server repeats
 * itself badly. The same happens when the spool cannot be created or
 * written (TMPDIR missing or full): the check stays exact, it only costs
 * memory. Everything is released when the collection ends.
 */
#include "seen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"
#include "fpset.h"
#include "idmap.h"
#include "out.h"

/* Hits resolved by reading the whole spool before the exact map replaces the fingerprints. */
#define FAR_MAX 8
/* The first pass's sourcedIds read ahead at a time in the second (two chunks are kept). */
#define AHEAD_CHUNK 8192
/* The spool is read in pieces of this size (more for a longer sourcedId). */
#define RBUF_MIN ((size_t)64 << 10)
/*
 * The most sourcedIds a collection's total makes room for ahead (a total
 * beyond any district is not believed: the set then grows as records
 * arrive): 84 MB of fingerprints, or 32 MB of exact map.
 */
#define RESERVE_FP ((size_t)1 << 23)
#define RESERVE_EXACT ((size_t)1 << 20)

/* A reader of the spool's sourcedIds ([uint32 n][n bytes] each) from off up to end. */
struct spool_rd {
	off_t off, end; /* the next byte to read from the file; where to stop */
	char *buf;      /* buf[start..len) is read and not yet consumed */
	size_t cap, start, len;
};

struct fetch_seen {
	/* the fingerprints, while exact is NULL */
	struct cl_fpset *fp;     /* fingerprint -> the pass that saw its owner last */
	struct cl_idmap *extra;  /* sourcedIds whose fingerprint another owns -> their pass */
	struct cl_idmap *win[2]; /* the recent pages' sourcedIds: [0] filling, [1] before */
	long win_pages, win_span;
	FILE *spool; /* every sourcedId seen; written and read at offsets through fd */
	int fd;
	off_t spool_len;     /* bytes of whole pages in the spool */
	struct cl_buf pend;  /* the page's new sourcedIds, appended at its end */
	unsigned far;        /* hits resolved by reading the whole spool */
	int pass;            /* the latest pass seen */
	struct spool_rd cur; /* the second pass: the first's sourcedIds, in order */
	struct cl_idmap *ahead[2];
	/* the exact map, once it replaced the fingerprints (or from the start) */
	struct cl_idmap *exact;
	const char *why;
	int page_exact; /* the page's hashes are the exact map's */
	/* figures */
	unsigned long long n_window, n_ahead, n_spool, n_coll;
	size_t peak;
};

static void
rd_init(struct spool_rd *rd, off_t from, off_t end)
{
	memset(rd, 0, sizeof *rd);
	rd->off = from;
	rd->end = end;
}

static void
rd_release(struct spool_rd *rd)
{
	free(rd->buf);
	rd->buf = NULL;
	rd->cap = rd->start = rd->len = 0;
}

/* Makes need bytes readable at buf + start. 1, 0 at the end, -1 with errno. */
static int
rd_fill(int fd, struct spool_rd *rd, size_t need)
{
	while (rd->len - rd->start < need) {
		size_t want;
		ssize_t r;

		if (rd->off >= rd->end)
			return 0;
		if (rd->start > 0) {
			memmove(rd->buf, rd->buf + rd->start, rd->len - rd->start);
			rd->len -= rd->start;
			rd->start = 0;
		}
		if (rd->cap < need || rd->cap == rd->len) {
			size_t cap = rd->cap ? rd->cap * 2 : RBUF_MIN;

			while (cap < need)
				cap *= 2;
			rd->buf = cl_xrealloc(rd->buf, cap);
			rd->cap = cap;
		}
		want = rd->cap - rd->len;
		if ((off_t)want > rd->end - rd->off)
			want = (size_t)(rd->end - rd->off);
		r = pread(fd, rd->buf + rd->len, want, rd->off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO; /* shorter than what was written to it */
			return -1;
		}
		rd->len += (size_t)r;
		rd->off += r;
	}
	return 1;
}

/* The next sourcedId (borrowed until the next call): 1, 0 at the end, -1 with errno. */
static int
rd_next(int fd, struct spool_rd *rd, const char **id, size_t *n)
{
	uint32_t len;
	int rc;

	if ((rc = rd_fill(fd, rd, sizeof len)) <= 0)
		return rc;
	memcpy(&len, rd->buf + rd->start, sizeof len);
	if ((rc = rd_fill(fd, rd, sizeof len + len)) <= 0) {
		if (rc == 0)
			errno = EIO; /* a page is written whole or not counted */
		return -1;
	}
	*id = rd->buf + rd->start + sizeof len;
	*n = len;
	rd->start += sizeof len + len;
	return 1;
}

/* The next sourcedId of buf (the page's pending ones) at *at: 1, or 0 at the end. */
static int
buf_next(const struct cl_buf *b, size_t *at, const char **id, size_t *n)
{
	uint32_t len;

	if (*at >= b->len)
		return 0;
	memcpy(&len, b->p + *at, sizeof len);
	*id = b->p + *at + sizeof len;
	*n = len;
	*at += sizeof len + len;
	return 1;
}

static size_t
bytes_now(const struct fetch_seen *s)
{
	size_t b = sizeof *s + s->pend.cap + s->cur.cap;
	int i;

	if (s->exact)
		b += cl_idmap_bytes(s->exact);
	if (s->fp)
		b += cl_fpset_bytes(s->fp) + cl_idmap_bytes(s->extra);
	for (i = 0; i < 2; i++) {
		if (s->win[i])
			b += cl_idmap_bytes(s->win[i]);
		if (s->ahead[i])
			b += cl_idmap_bytes(s->ahead[i]);
	}
	return b;
}

static void
note_peak(struct fetch_seen *s, size_t more)
{
	size_t b = bytes_now(s) + more;

	if (b > s->peak)
		s->peak = b;
}

/* Frees what the fingerprints need (the spool too). */
static void
drop_fp(struct fetch_seen *s)
{
	int i;

	cl_fpset_free(s->fp);
	cl_idmap_free(s->extra);
	s->fp = NULL;
	s->extra = NULL;
	for (i = 0; i < 2; i++) {
		cl_idmap_free(s->win[i]);
		cl_idmap_free(s->ahead[i]);
		s->win[i] = s->ahead[i] = NULL;
	}
	rd_release(&s->cur);
	cl_buf_release(&s->pend);
	if (s->spool)
		fclose(s->spool);
	s->spool = NULL;
	s->fd = -1;
}

struct fetch_seen *
fetch_seen_new(long window_pages)
{
	struct fetch_seen *s = cl_xcalloc(1, sizeof *s);
	const char *dir;

	s->win_span = window_pages < 1 ? 1 : window_pages;
	s->fd = -1;
	cl_buf_init(&s->pend);
	s->spool = cl_spool_open("cl-fetch-ids", &dir);
	if (!s->spool) {
		s->exact = cl_idmap_new();
		s->why = "tmpdir";
		s->page_exact = 1;
	} else {
		s->fd = fileno(s->spool);
		s->fp = cl_fpset_new();
		s->extra = cl_idmap_new();
		s->win[0] = cl_idmap_new();
	}
	note_peak(s, 0);
	return s;
}

void
fetch_seen_free(struct fetch_seen *s)
{
	if (!s)
		return;
	drop_fp(s);
	cl_idmap_free(s->exact);
	free(s);
}

void
fetch_seen_reserve(struct fetch_seen *s, size_t n)
{
	if (s->exact)
		cl_idmap_reserve(s->exact, n < RESERVE_EXACT ? n : RESERVE_EXACT);
	else
		cl_fpset_reserve(s->fp, n < RESERVE_FP ? n : RESERVE_FP);
	note_peak(s, 0);
}

void
fetch_seen_page_begin(struct fetch_seen *s)
{
	s->page_exact = s->exact != NULL;
}

uint64_t
fetch_seen_hash(const struct fetch_seen *s, const char *id, size_t n)
{
	return s->exact ? cl_idmap_hash(id, n) : cl_fpset_hash(s->fp, id, n);
}

void
fetch_seen_prefetch(const struct fetch_seen *s, uint64_t h)
{
	if (!s->exact)
		cl_fpset_prefetch(s->fp, h);
	else if (s->page_exact)
		cl_idmap_prefetch(s->exact, (uint32_t)h);
}

/* Adds id to m with its pass, as the fingerprints (and extra) know it. */
static void
exact_add(struct fetch_seen *s, struct cl_idmap *m, const char *id, size_t n)
{
	uint64_t *x = cl_idmap_count(s->extra) ? cl_idmap_get(s->extra, id, n) : NULL;

	*cl_idmap_put(m, id, n, NULL) = x ? *x : cl_fpset_get(s->fp, cl_fpset_hash(s->fp, id, n));
}

/*
 * Replaces the fingerprints with the exact map: every sourcedId of the
 * spool and of the page so far, with its pass. Returns 0, or -1 with errno
 * (the spool could not be read back: the fingerprints stay).
 */
static int
to_exact(struct fetch_seen *s, const char *why)
{
	struct cl_idmap *m = cl_idmap_new();
	struct spool_rd rd;
	const char *id;
	size_t n, at = 0;
	int rc;

	cl_idmap_reserve(m, cl_fpset_count(s->fp));
	rd_init(&rd, 0, s->spool_len);
	while ((rc = rd_next(s->fd, &rd, &id, &n)) > 0)
		exact_add(s, m, id, n);
	note_peak(s, cl_idmap_bytes(m) + rd.cap);
	rd_release(&rd);
	if (rc < 0) {
		cl_idmap_free(m);
		return -1;
	}
	while (buf_next(&s->pend, &at, &id, &n))
		exact_add(s, m, id, n);
	drop_fp(s);
	s->exact = m;
	s->why = why;
	note_peak(s, 0);
	return 0;
}

/* The exact map's answer (h: cl_idmap_hash(id, n)). */
static int
put_exact(struct fetch_seen *s, const char *id, size_t n, uint32_t h, int pass)
{
	int added, old;
	uint64_t *v = cl_idmap_put_hashed(s->exact, id, n, h, &added);

	old = added ? 0 : (int)*v;
	*v = (uint64_t)pass;
	return old;
}

static void
window_add(struct fetch_seen *s, const char *id, size_t n)
{
	cl_idmap_put(s->win[0], id, n, NULL);
}

/* A sourcedId never seen before: in the window, and in the spool at the page's end. */
static void
new_id(struct fetch_seen *s, const char *id, size_t n)
{
	uint32_t len = (uint32_t)n;

	if (n > UINT32_MAX)
		cl_oom(); /* a page is far smaller */
	window_add(s, id, n);
	cl_buf_add(&s->pend, &len, sizeof len);
	cl_buf_add(&s->pend, id, n);
}

/* Is id among the first pass's sourcedIds near the second pass's place? 1, 0, -1 with errno. */
static int
in_ahead(struct fetch_seen *s, const char *id, size_t n)
{
	const char *p;
	size_t len, k;
	int i, rc, loaded = 0;

	for (;;) {
		for (i = 0; i < 2; i++)
			if (s->ahead[i] && cl_idmap_has(s->ahead[i], id, n))
				return 1;
		/* one chunk further at most: a sourcedId out of order is left to the spool */
		if (loaded || s->cur.off >= s->cur.end)
			return 0;
		loaded = 1;
		cl_idmap_free(s->ahead[1]);
		s->ahead[1] = s->ahead[0];
		s->ahead[0] = cl_idmap_new();
		for (k = 0; k < AHEAD_CHUNK; k++) {
			if ((rc = rd_next(s->fd, &s->cur, &p, &len)) < 0)
				return -1;
			if (rc == 0)
				break;
			cl_idmap_put(s->ahead[0], p, len, NULL);
		}
		note_peak(s, 0);
	}
}

/* Is id in the spool? 1, 0, -1 with errno. */
static int
in_spool(struct fetch_seen *s, const char *id, size_t n)
{
	struct spool_rd rd;
	const char *p;
	size_t len;
	int rc;

	rd_init(&rd, 0, s->spool_len);
	while ((rc = rd_next(s->fd, &rd, &p, &len)) > 0)
		if (len == n && memcmp(p, id, n) == 0)
			break;
	note_peak(s, rd.cap);
	rd_release(&rd);
	return rc;
}

int
fetch_seen_put(struct fetch_seen *s, const char *id, size_t n, uint64_t h, int pass)
{
	unsigned v;
	uint64_t *x;
	int rc;

	if (pass > s->pass) {
		s->pass = pass;
		/* a new pass starts on a page of its own: the spool holds every page before */
		if (pass == 2 && !s->exact)
			rd_init(&s->cur, 0, s->spool_len);
	}
	if (s->exact)
		return put_exact(s, id, n, s->page_exact ? (uint32_t)h : cl_idmap_hash(id, n),
		                 pass);
	v = cl_fpset_put_hashed(s->fp, h, (unsigned)pass);
	if (v == 0) {
		new_id(s, id, n);
		return 0;
	}
	if (cl_idmap_count(s->extra) && (x = cl_idmap_get(s->extra, id, n)) != NULL) {
		rc = (int)*x;
		*x = (uint64_t)pass;
		window_add(s, id, n);
		return rc;
	}
	if (cl_idmap_has(s->win[0], id, n) || (s->win[1] && cl_idmap_has(s->win[1], id, n))) {
		s->n_window++;
	} else if (pass == 2 && (rc = in_ahead(s, id, n)) != 0) {
		if (rc < 0)
			return -1;
		s->n_ahead++;
	} else if (s->far >= FAR_MAX) {
		/* the ninth far hit: the exact map from now on */
		if (to_exact(s, "spool") < 0)
			return -1;
		return put_exact(s, id, n, cl_idmap_hash(id, n), pass);
	} else {
		s->far++;
		s->n_spool++;
		if ((rc = in_spool(s, id, n)) < 0)
			return -1;
		if (rc == 0) {
			/* another sourcedId's fingerprint: this one is new, and exact from now on
			 */
			s->n_coll++;
			*cl_idmap_put(s->extra, id, n, NULL) = (uint64_t)pass;
			new_id(s, id, n);
			return 0;
		}
	}
	/* seen before, and not in extra: the owner of the fingerprint's slot */
	window_add(s, id, n);
	cl_fpset_set(s->fp, h, (unsigned)pass);
	return (int)v;
}

/* Appends the page's new sourcedIds at spool_len. 0, or -1 with errno. */
static int
spool_write(struct fetch_seen *s)
{
	const char *p = s->pend.p;
	size_t left = s->pend.len;
	off_t at = s->spool_len;

	while (left > 0) {
		ssize_t w = pwrite(s->fd, p, left, at);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		left -= (size_t)w;
		at += w;
	}
	s->spool_len = at;
	return 0;
}

int
fetch_seen_page_end(struct fetch_seen *s)
{
	note_peak(s, 0);
	if (s->exact)
		return 0;
	if (s->pend.len > 0 && spool_write(s) < 0) {
		/* a full TMPDIR: what was written whole, and the page, into the exact map */
		return to_exact(s, "tmpdir");
	}
	cl_buf_reset(&s->pend);
	if (s->pend.cap > ((size_t)1 << 20))
		cl_buf_release(&s->pend);
	if (++s->win_pages >= s->win_span) {
		cl_idmap_free(s->win[1]);
		s->win[1] = s->win[0];
		s->win[0] = cl_idmap_new();
		/* the next window holds about as many: no rehash on the way */
		cl_idmap_reserve(s->win[0], cl_idmap_count(s->win[1]));
		s->win_pages = 0;
	}
	return 0;
}

void
fetch_seen_stats(const struct fetch_seen *s, struct fetch_seen_stats *st)
{
	st->ids = s->exact ? cl_idmap_count(s->exact)
	                   : cl_fpset_count(s->fp) + cl_idmap_count(s->extra);
	st->bytes = bytes_now(s);
	st->peak = s->peak > st->bytes ? s->peak : st->bytes;
	st->window = s->n_window;
	st->ahead = s->n_ahead;
	st->spool = s->n_spool;
	st->collisions = s->n_coll;
	st->exact = s->why;
}

void
fetch_seen_test_narrow(struct fetch_seen *s, unsigned bits)
{
	if (s->fp)
		cl_fpset_test_hook(s->fp, bits, 1, 2);
}
