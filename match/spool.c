/*
 * spool.c: where cl-match's users wait for the second pass (spool.h): the
 * input read again, or a zstd-compressed temporary file.
 *
 * The temporary file holds, per user, a fixed head (the line's and the
 * key's lengths, the email's class, the role), the line and the key, as
 * one zstd frame written with the streaming API and read back the same
 * way; both sides work through 1 MiB buffers so that the file sees large
 * writes and reads. Level 1 (SPOOL_LEVEL), measured on the 100,000-student
 * district (105,020 users, 80.3 MB spooled plain): level 1 writes 6.8 MB
 * (12x smaller) for 0.09 s more CPU than the plain spool (0.73 s against
 * 0.64 s); level 3 writes 6.6 MB for 0.19 s more; levels -1 and -3 write
 * 7.8 and 9.2 MB for 0.06-0.07 s more: level 1 is the knee.
 */
#include "spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "buf.h"
#include "diag.h"
#include "out.h"

#define SPOOL_BUF ((size_t)1 << 20)
#define SPOOL_LEVEL 1

struct rec_head {
	uint64_t n;
	uint32_t kn;
	struct match_spooled r;
};

struct match_spool {
	int input; /* 1: the input itself; 0: a temporary file */
	unsigned long long count;
	struct cl_buf data; /* the record given back (temporary file) */

	/* the temporary file */
	FILE *f;
	int fd;
	const char *dir;
	ZSTD_CCtx *cc; /* while writing; freed at the first rewind */
	ZSTD_DCtx *dc;
	char *zbuf;        /* compressed bytes: cc's output, then dc's input */
	size_t zpos, zend; /* writing: zbuf[0, zpos) to write; reading: zbuf[zpos, zend) unread */
	char *plain;       /* reading: decompressed bytes, plain[ppos, pend) not given yet */
	size_t ppos, pend;
	int frame_done;
	unsigned long long bytes;

	/* the input */
	int in_fd;
	const char *name;
	struct stat st;   /* when it was opened */
	off_t first, end; /* the users' bytes */
	off_t rpos;       /* where the next pread reads */
	char *rbuf;       /* rbuf[rstart, rend) read and not given yet */
	size_t rcap, rstart, rend, max_line;
	unsigned long long first_line, got;
	char why[512];
};

static struct match_spool *
spool_alloc(void)
{
	struct match_spool *s = cl_xcalloc(1, sizeof *s);

	cl_buf_init(&s->data);
	s->fd = -1;
	s->in_fd = -1;
	s->dir = "";
	return s;
}

struct match_spool *
match_spool_new(const char **dir)
{
	FILE *f = cl_spool_open("cl-match", dir);
	struct match_spool *s;

	if (!f)
		return NULL;
	s = spool_alloc();
	s->f = f;
	s->fd = fileno(f); /* written and read through the fd alone, in SPOOL_BUF pieces */
	s->dir = *dir;
	s->cc = ZSTD_createCCtx();
	s->dc = ZSTD_createDCtx();
	if (!s->cc || !s->dc ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(s->cc, ZSTD_c_compressionLevel, SPOOL_LEVEL)))
		cl_oom();
	s->zbuf = cl_xmalloc(SPOOL_BUF);
	s->plain = cl_xmalloc(SPOOL_BUF);
	return s;
}

struct match_spool *
match_spool_input(int fd, const char *name, const struct stat *st, off_t off,
                  unsigned long long lineno, size_t max_line)
{
	struct match_spool *s = spool_alloc();

	s->input = 1;
	s->in_fd = fd;
	s->name = name;
	s->st = *st;
	s->first = s->end = off;
	s->first_line = lineno;
	s->max_line = max_line;
	s->rcap = SPOOL_BUF;
	s->rbuf = cl_xmalloc(s->rcap);
	return s;
}

void
match_spool_free(struct match_spool *s)
{
	if (!s)
		return;
	if (s->f)
		fclose(s->f);
	ZSTD_freeCCtx(s->cc);
	ZSTD_freeDCtx(s->dc);
	free(s->zbuf);
	free(s->plain);
	free(s->rbuf);
	cl_buf_release(&s->data);
	free(s);
}

int
match_spool_keeps_values(const struct match_spool *s)
{
	return !s->input;
}

const char *
match_spool_dir(const struct match_spool *s)
{
	return s->dir;
}

const char *
match_spool_why(const struct match_spool *s)
{
	return s->why;
}

void
match_spool_changed(struct match_spool *s)
{
	snprintf(s->why, sizeof s->why,
	         "%s:%llu: the file changed while cl-match read it (the line is not the user "
	         "it was)",
	         s->name, s->first_line + s->got - 1);
}

unsigned long long
match_spool_count(const struct match_spool *s)
{
	return s->count;
}

unsigned long long
match_spool_bytes(const struct match_spool *s)
{
	return s->bytes;
}

/* Writes zbuf[0, zpos) to the file. Returns 0 or -1 (errno). */
static int
zflush(struct match_spool *s)
{
	size_t off = 0;

	while (off < s->zpos) {
		ssize_t w = write(s->fd, s->zbuf + off, s->zpos - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		off += (size_t)w;
	}
	s->bytes += s->zpos;
	s->zpos = 0;
	return 0;
}

/* Compresses n bytes (or, with end, finishes the frame). Returns 0 or -1 (errno). */
static int
zput(struct match_spool *s, const void *p, size_t n, int end)
{
	ZSTD_inBuffer in = { p, n, 0 };

	for (;;) {
		ZSTD_outBuffer out = { s->zbuf, SPOOL_BUF, s->zpos };
		size_t rc =
		        ZSTD_compressStream2(s->cc, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);

		if (ZSTD_isError(rc)) {
			errno = EIO;
			return -1;
		}
		s->zpos = out.pos;
		if ((s->zpos == SPOOL_BUF || (end && rc == 0)) && zflush(s) < 0)
			return -1;
		if (end ? rc == 0 : in.pos == in.size)
			return 0;
	}
}

int
match_spool_put(struct match_spool *s, const struct match_spooled *rec, const char *line, size_t n,
                const char *key, size_t kn)
{
	struct rec_head h;

	if (s->input) {
		s->end += (off_t)n + 1;
		s->count++;
		return 0;
	}
	memset(&h, 0, sizeof h);
	h.n = n;
	h.kn = (uint32_t)kn;
	h.r = *rec;
	if (zput(s, &h, sizeof h, 0) < 0 || zput(s, line, n, 0) < 0 ||
	    (kn && zput(s, key, kn, 0) < 0))
		return -1;
	s->count++;
	return 0;
}

/* The input is as it was when it was opened; else says so in why. */
static int
input_same(struct match_spool *s)
{
	struct stat now;

	if (fstat(s->in_fd, &now) < 0)
		return -1;
	if (now.st_size == s->st.st_size && now.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec)
		return 0;
	snprintf(s->why, sizeof s->why,
	         "%s: the file changed while cl-match read it (its size or modification time "
	         "is not what it was when it was opened)",
	         s->name);
	return MATCH_SPOOL_CHANGED;
}

int
match_spool_rewind(struct match_spool *s)
{
	if (s->input) {
		s->rpos = s->first;
		s->rstart = s->rend = 0;
		s->got = 0;
		return input_same(s);
	}
	if (s->cc) {
		if (zput(s, NULL, 0, 1) < 0)
			return -1;
		ZSTD_freeCCtx(s->cc);
		s->cc = NULL;
	}
	if (lseek(s->fd, 0, SEEK_SET) < 0)
		return -1;
	ZSTD_DCtx_reset(s->dc, ZSTD_reset_session_only);
	s->zpos = s->zend = 0;
	s->ppos = s->pend = 0;
	s->frame_done = 0;
	return 0;
}

/* Decompresses more into plain. Returns 1, 0 at the frame's end, -1 (errno). */
static int
zfill(struct match_spool *s)
{
	ZSTD_outBuffer out = { s->plain, SPOOL_BUF, 0 };

	while (!s->frame_done) {
		ZSTD_inBuffer in = { s->zbuf, s->zend, s->zpos };
		size_t rc = ZSTD_decompressStream(s->dc, &out, &in);
		ssize_t got;

		if (ZSTD_isError(rc)) {
			errno = EIO; /* damaged: someone else wrote to it */
			return -1;
		}
		s->zpos = in.pos;
		if (rc == 0)
			s->frame_done = 1;
		if (out.pos > 0)
			break;
		if (s->frame_done || s->zpos < s->zend)
			continue;
		do
			got = read(s->fd, s->zbuf, SPOOL_BUF);
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			if (got == 0)
				errno = EIO; /* truncated */
			return -1;
		}
		s->zpos = 0;
		s->zend = (size_t)got;
	}
	s->ppos = 0;
	s->pend = out.pos;
	return out.pos > 0;
}

/* Copies the next n bytes to dst. Returns the bytes copied (fewer at the end), or -1. */
static ssize_t
zread(struct match_spool *s, char *dst, size_t n)
{
	size_t got = 0, k;
	int rc;

	while (got < n) {
		if (s->ppos == s->pend) {
			if ((rc = zfill(s)) < 0)
				return -1;
			if (rc == 0)
				break;
		}
		k = s->pend - s->ppos < n - got ? s->pend - s->ppos : n - got;
		memcpy(dst + got, s->plain + s->ppos, k);
		s->ppos += k;
		got += k;
	}
	return (ssize_t)got;
}

/* The input: the next user line, read again. */
static int
input_get(struct match_spool *s, const char **line, size_t *n)
{
	char *nl;
	ssize_t got;
	size_t want;

	if (s->got == s->count) {
		if (s->rstart != s->rend || s->rpos != s->end) {
			snprintf(s->why, sizeof s->why,
			         "%s:%llu: the file changed while cl-match read it (the users are "
			         "not where they were)",
			         s->name, s->first_line + s->got);
			return MATCH_SPOOL_CHANGED;
		}
		return input_same(s);
	}
	while (!(nl = memchr(s->rbuf + s->rstart, '\n', s->rend - s->rstart))) {
		if (s->rend - s->rstart > s->max_line || s->rpos == s->end) {
			snprintf(s->why, sizeof s->why,
			         "%s:%llu: the file changed while cl-match read it (the users are "
			         "not where they were)",
			         s->name, s->first_line + s->got);
			return MATCH_SPOOL_CHANGED;
		}
		if (s->rstart > 0) {
			memmove(s->rbuf, s->rbuf + s->rstart, s->rend - s->rstart);
			s->rend -= s->rstart;
			s->rstart = 0;
		}
		if (s->rcap - s->rend < SPOOL_BUF / 2) {
			s->rcap *= 2;
			s->rbuf = cl_xrealloc(s->rbuf, s->rcap);
		}
		want = s->rcap - s->rend;
		if ((off_t)want > s->end - s->rpos)
			want = (size_t)(s->end - s->rpos);
		do
			got = pread(s->in_fd, s->rbuf + s->rend, want, s->rpos);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			return -1;
		if (got == 0) {
			snprintf(s->why, sizeof s->why,
			         "%s:%llu: the file changed while cl-match read it (it is shorter)",
			         s->name, s->first_line + s->got);
			return MATCH_SPOOL_CHANGED;
		}
		s->rend += (size_t)got;
		s->rpos += got;
	}
	*line = s->rbuf + s->rstart;
	*n = (size_t)(nl - *line);
	s->rstart = (size_t)(nl - s->rbuf) + 1;
	s->got++;
	return 1;
}

int
match_spool_get(struct match_spool *s, struct match_spooled *rec, const char **line, size_t *n,
                const char **key, size_t *kn)
{
	struct rec_head h;
	size_t want;
	ssize_t got;

	if (s->input) {
		*key = "";
		*kn = 0;
		memset(rec, 0, sizeof *rec);
		return input_get(s, line, n);
	}
	got = zread(s, (char *)&h, sizeof h);
	if (got == 0)
		return 0;
	if (got < 0)
		return -1;
	if ((size_t)got < sizeof h) {
		errno = EIO; /* truncated */
		return -1;
	}
	want = (size_t)h.n + h.kn;
	cl_buf_reset(&s->data);
	cl_buf_grow(&s->data, want);
	got = zread(s, s->data.p, want);
	if (got < 0)
		return -1;
	if ((size_t)got != want) {
		errno = EIO;
		return -1;
	}
	s->data.len = want;
	s->data.p[want] = '\0';
	*rec = h.r;
	*line = s->data.p;
	*n = (size_t)h.n;
	*key = s->data.p + h.n;
	*kn = h.kn;
	return 1;
}
