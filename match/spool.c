/* spool.c: an unlinked temporary file of user lines (spool.h). */
#include "spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

#define SPOOL_BUF ((size_t)1 << 20)

struct rec_head {
	uint64_t n;
	uint32_t kn;
	struct match_spooled r;
};

struct match_spool {
	FILE *f;
	char *iobuf;
	struct cl_buf data;
	unsigned long long count;
};

struct match_spool *
match_spool_new(const char **dir)
{
	const char *t = getenv("TMPDIR");
	struct cl_buf path = CL_BUF_INIT;
	struct match_spool *s;
	int fd, saved;

	if (!t || !*t)
		t = "/tmp";
	*dir = t;
	cl_buf_addf(&path, "%s/cl-match.XXXXXX", t);
	fd = mkstemp(path.p); /* mode 0600 */
	if (fd < 0) {
		saved = errno;
		cl_buf_release(&path);
		errno = saved;
		return NULL;
	}
	unlink(path.p);
	cl_buf_release(&path);
	s = cl_xcalloc(1, sizeof *s);
	cl_buf_init(&s->data);
	s->f = fdopen(fd, "w+");
	if (!s->f) {
		saved = errno;
		close(fd);
		free(s);
		errno = saved;
		return NULL;
	}
	s->iobuf = cl_xmalloc(SPOOL_BUF);
	setvbuf(s->f, s->iobuf, _IOFBF, SPOOL_BUF);
	return s;
}

void
match_spool_free(struct match_spool *s)
{
	if (!s)
		return;
	fclose(s->f);
	free(s->iobuf);
	cl_buf_release(&s->data);
	free(s);
}

int
match_spool_put(struct match_spool *s, const struct match_spooled *rec, const char *line, size_t n,
                const char *key, size_t kn)
{
	struct rec_head h;

	memset(&h, 0, sizeof h);
	h.n = n;
	h.kn = (uint32_t)kn;
	h.r = *rec;
	if (fwrite(&h, sizeof h, 1, s->f) != 1 || fwrite(line, 1, n, s->f) != n ||
	    (kn && fwrite(key, 1, kn, s->f) != kn)) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	s->count++;
	return 0;
}

int
match_spool_rewind(struct match_spool *s)
{
	if (fflush(s->f) != 0)
		return -1;
	errno = 0;
	rewind(s->f);
	return errno ? -1 : 0;
}

int
match_spool_get(struct match_spool *s, struct match_spooled *rec, const char **line, size_t *n,
                const char **key, size_t *kn)
{
	struct rec_head h;
	size_t want;

	if (fread(&h, sizeof h, 1, s->f) != 1) {
		if (ferror(s->f))
			return -1;
		return 0;
	}
	want = (size_t)h.n + h.kn;
	cl_buf_reset(&s->data);
	cl_buf_grow(&s->data, want);
	if (fread(s->data.p, 1, want, s->f) != want) {
		if (!ferror(s->f))
			errno = EIO; /* truncated: someone else wrote to it */
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

unsigned long long
match_spool_count(const struct match_spool *s)
{
	return s->count;
}
