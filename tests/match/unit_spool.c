/*
 * unit_spool: cl-match's spools (match/spool.h). The compressed temporary
 * file gives back, twice, exactly what was put: 200,000 records of every
 * size from empty to 300 bytes, and lines of 1.5 and 3 MB (one of them
 * incompressible) across the 1 MiB buffers. The input spool gives back the
 * users' lines from the file and reports a file changed in size or
 * modification time, or users that are not where they were.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "spool.h"
#include "t.h"

#define NREC 200000

static uint64_t rng;

static uint32_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

/* Record i's line (into b), key and fields, the same for the same i. */
static void
record(size_t i, struct cl_buf *b, struct cl_buf *k, struct match_spooled *r)
{
	size_t n, j;

	rng = 0x9e3779b97f4a7c15ULL * (i + 1);
	cl_buf_reset(b);
	cl_buf_reset(k);
	n = i == 777 ? (size_t)1500000 : i == 150000 ? (size_t)3000000 : next() % 301;
	cl_buf_grow(b, n);
	for (j = 0; j < n; j++)
		b->p[j] = i == 150000 ? (char)next() : (char)('a' + (j + i) % 26);
	b->len = n;
	b->p[n] = '\0';
	if (i % 5)
		cl_buf_addf(k, "user%zu@example.org", i);
	r->cls = (uint8_t)(i % 3);
	r->role = (uint8_t)(1 + i % 3);
}

static int
read_all(struct match_spool *s, struct cl_buf *b, struct cl_buf *k)
{
	struct match_spooled r, want;
	const char *line, *key;
	size_t n, kn, i = 0;
	int rc, bad = 0;

	while ((rc = match_spool_get(s, &r, &line, &n, &key, &kn)) > 0) {
		record(i++, b, k, &want);
		if (n != b->len || memcmp(line, b->p, n) != 0 || kn != k->len ||
		    memcmp(key, k->p, kn) != 0 || r.cls != want.cls || r.role != want.role)
			bad++;
	}
	CHECK_INT(rc, 0);
	CHECK_INT(i, NREC);
	return bad;
}

static void
temporary_spool(void)
{
	struct cl_buf b = CL_BUF_INIT, k = CL_BUF_INIT;
	struct match_spooled r;
	struct match_spool *s;
	const char *dir;
	size_t i;
	int put_fail = 0;

	s = match_spool_new(&dir);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(match_spool_keeps_values(s));
	for (i = 0; i < NREC; i++) {
		record(i, &b, &k, &r);
		if (match_spool_put(s, &r, b.p, b.len, k.p, k.len) < 0)
			put_fail++;
	}
	CHECK_INT(put_fail, 0);
	CHECK_INT(match_spool_count(s), NREC);
	CHECK_INT(match_spool_rewind(s), 0);
	/* compressed: the incompressible 3 MB and a fraction of the rest */
	CHECK(match_spool_bytes(s) > 3000000 && match_spool_bytes(s) < 6000000);
	CHECK_INT(read_all(s, &b, &k), 0);
	CHECK_INT(match_spool_rewind(s), 0);
	CHECK_INT(read_all(s, &b, &k), 0);
	match_spool_free(s);
	cl_buf_release(&b);
	cl_buf_release(&k);
}

/* Writes text to path; returns an fd open on it for reading, and its stat. */
static int
make_file(const char *path, const char *text, struct stat *st)
{
	FILE *f = fopen(path, "w");
	int fd;

	fputs(text, f);
	fclose(f);
	fd = open(path, O_RDONLY);
	fstat(fd, st);
	return fd;
}

static void
input_spool(void)
{
	static const char text[] = "{\"kind\":\"header\"}\nuser one\n\nuser three\n{\"trailer\"}\n";
	struct match_spooled r = { 0, 0 };
	struct match_spool *s;
	struct timespec ts[2];
	struct stat st;
	const char *line, *key;
	size_t n, kn;
	int fd;

	fd = make_file("in.ndjson", text, &st);
	s = match_spool_input(fd, "in.ndjson", &st, 18, 2, 1 << 20);
	CHECK(!match_spool_keeps_values(s));
	match_spool_put(s, &r, "user one", 8, NULL, 0);
	match_spool_put(s, &r, "", 0, NULL, 0);
	match_spool_put(s, &r, "user three", 10, NULL, 0);
	CHECK_INT(match_spool_bytes(s), 0);
	CHECK_INT(match_spool_rewind(s), 0);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK(n == 8 && memcmp(line, "user one", 8) == 0);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK_INT(n, 0);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK(n == 10 && memcmp(line, "user three", 10) == 0);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 0);
	/* read twice */
	CHECK_INT(match_spool_rewind(s), 0);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK(n == 8 && memcmp(line, "user one", 8) == 0);
	/* the modification time changes: at the end of the pass, and at a rewind */
	ts[0].tv_sec = ts[1].tv_sec = 1000000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	futimens(fd, ts);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), MATCH_SPOOL_CHANGED);
	CHECK_STR(match_spool_why(s),
	          "in.ndjson: the file changed while cl-match read it (its size or modification "
	          "time is not what it was when it was opened)");
	CHECK_INT(match_spool_rewind(s), MATCH_SPOOL_CHANGED);
	match_spool_free(s);
	close(fd);

	/* the same users, then users that are not where they were */
	fd = make_file("in.ndjson", text, &st);
	s = match_spool_input(fd, "in.ndjson", &st, 18, 2, 1 << 20);
	match_spool_put(s, &r, "user one", 8, NULL, 0);
	match_spool_put(s, &r, "", 0, NULL, 0);
	CHECK_INT(match_spool_rewind(s), 0);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 0);
	match_spool_free(s);
	s = match_spool_input(fd, "in.ndjson", &st, 18, 2, 1 << 20);
	match_spool_put(s, &r, "user one", 8, NULL, 0);
	match_spool_put(s, &r, "user 2", 6, NULL, 0); /* as long as the next two lines */
	CHECK_INT(match_spool_rewind(s), 0);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), MATCH_SPOOL_CHANGED);
	CHECK_STR(match_spool_why(s), "in.ndjson:4: the file changed while cl-match read it (the "
	                              "users are not where they were)");
	match_spool_free(s);
	s = match_spool_input(fd, "in.ndjson", &st, 18, 2, 1 << 20);
	match_spool_put(s, &r, "user one and more", 17, NULL, 0); /* past the next '\n' */
	CHECK_INT(match_spool_rewind(s), 0);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), 1);
	CHECK_INT(n, 8);
	CHECK_INT(match_spool_get(s, &r, &line, &n, &key, &kn), MATCH_SPOOL_CHANGED);
	match_spool_free(s);
	close(fd);
	unlink("in.ndjson");
}

int
main(void)
{
	const char *tmp = getenv("CL_TMP"); /* tests/run's scratch folder */

	if (tmp && chdir(tmp) != 0)
		return 1;
	temporary_spool();
	input_spool();
	return T_DONE();
}
