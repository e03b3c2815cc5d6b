/*
 * test_stream: the reader over a pipe fed in small, odd-sized chunks, with a
 * line larger than the read buffer, and the line limit at its edges.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "stream.h"
#include "t.h"

static const char head[] = "{\"kind\":\"header\",\"version\":1,\"stages\":[]}\n";
static const char tail[] = "{\"kind\":\"trailer\",\"complete\":true,\"stages\":[]}\n";

/* Forks a writer that sends s in chunks of `chunk` bytes; returns the read end. */
static int
feed(const char *s, size_t n, size_t chunk)
{
	int fd[2];
	pid_t pid;

	if (pipe(fd) < 0)
		exit(2);
	pid = fork();
	if (pid < 0)
		exit(2);
	if (pid == 0) {
		size_t off = 0;

		close(fd[0]);
		while (off < n) {
			size_t k = n - off < chunk ? n - off : chunk;
			ssize_t w = write(fd[1], s + off, k);

			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(fd[1]);
	return fd[0];
}

static void
build(struct cl_buf *b, size_t bigsize)
{
	size_t i;

	cl_buf_adds(b, head);
	for (i = 0; i < 50; i++)
		cl_buf_addf(b,
		            "{\"kind\":\"org\",\"data\":{\"sourcedId\":\"%zu\",\"name\":"
		            "\"\\u00e9cole %zu\"}}\n",
		            i, i);
	cl_buf_adds(b, "{\"kind\":\"class\",\"data\":{\"sourcedId\":\"big\",\"title\":\"");
	for (i = 0; i < bigsize; i++)
		cl_buf_addc(b, (char)('a' + i % 26));
	cl_buf_adds(b, "\",\"terms\":[{\"sourcedId\":\"t1\"},{\"sourcedId\":\"t2\"}]}}\n");
	cl_buf_adds(b,
	            "{\"kind\":\"user\",\"data\":{\"sourcedId\":\"u1\",\"role\":\"student\"}}\n");
	cl_buf_adds(b,
	            "{\"kind\":\"user\",\"data\":{\"sourcedId\":\"p1\",\"role\":\"guardian\"}}\n");
	cl_buf_adds(b, tail);
}

static void
read_all(const char *s, size_t n, size_t chunk, size_t bigsize)
{
	int fd = feed(s, n, chunk), rc, status;
	struct cl_reader *r = cl_reader_new(fd, "<pipe>", 0);
	size_t f_terms = cl_reader_want(r, "data.terms[].sourcedId");
	size_t f_id = cl_reader_want(r, "data.sourcedId");
	unsigned long long lines = 0, bytes = 0;
	struct cl_buf id = CL_BUF_INIT;
	struct cl_line ln;
	int kinds[CL_K_COUNT] = { 0 };

	while ((rc = cl_reader_next(r, &ln)) > 0) {
		lines++;
		bytes += ln.n + 1;
		kinds[ln.kind]++;
		CHECK_INT(ln.lineno, lines);
		if (ln.kind == CL_K_CLASS) {
			CHECK_INT(ln.n, bigsize + 102);
			CHECK_INT(cl_json_result_count(cl_reader_result(r), f_terms), 2);
			cl_buf_reset(&id);
			cl_json_str(cl_reader_field(r, f_id), &id);
			CHECK_STR(id.p, "big");
		}
	}
	CHECK_INT(rc, 0);
	CHECK_INT(cl_reader_next(r, &ln), 0); /* stays at the end */
	CHECK_INT(lines, 55);
	CHECK_INT(bytes, n);
	CHECK_INT(cl_reader_bytes(r), n);
	CHECK_INT(kinds[CL_K_ORG], 50);
	CHECK_INT(kinds[CL_K_USER], 1);
	CHECK_INT(kinds[CL_K_PARENT], 1);
	CHECK_INT(cl_reader_upstream_complete(r), 1);
	cl_buf_release(&id);
	cl_reader_free(r);
	close(fd);
	wait(&status);
}

static void
limit(size_t max, size_t bigsize, int want_rc, const char *want_code)
{
	struct cl_buf b = CL_BUF_INIT;
	struct cl_reader *r;
	struct cl_line ln;
	int fd, rc, status;

	build(&b, bigsize);
	fd = feed(b.p, b.len, 65536);
	r = cl_reader_new(fd, "<pipe>", max);
	while ((rc = cl_reader_next(r, &ln)) > 0)
		;
	CHECK_INT(rc, want_rc);
	if (want_code)
		CHECK_STR(cl_reader_error(r)->code, want_code);
	cl_reader_free(r);
	close(fd);
	wait(&status);
	cl_buf_release(&b);
}

int
main(void)
{
	struct cl_buf b = CL_BUF_INIT, small = CL_BUF_INIT;
	size_t chunks[] = { 4093, 65536, 1 << 20 };
	size_t i, big = 3 << 20; /* three times the reader's first buffer */

	build(&b, big);
	for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
		read_all(b.p, b.len, chunks[i], big);
	build(&small, 3000); /* byte by byte: every line crosses a read */
	read_all(small.p, small.len, 1, 3000);
	read_all(small.p, small.len, 7, 3000);
	cl_buf_release(&small);
	cl_buf_release(&b);
	/* The class line is big + 102 bytes: the limit is inclusive. */
	limit(1000 + 102, 1000, 0, NULL);
	limit(1000 + 101, 1000, -1, "CL004");
	limit(4 << 20, 5 << 20, -1, "CL004"); /* found before the newline arrives */
	{
		char iso[32];

		CHECK_INT(cl_iso8601(0, iso), 0);
		CHECK_STR(iso, "1970-01-01T00:00:00Z");
		CHECK_INT(cl_iso8601((time_t)CL_TIME_MAX, iso), 0);
		CHECK_STR(iso, "9999-12-31T23:59:59Z");
		CHECK_INT(cl_iso8601((time_t)CL_TIME_MAX + 1, iso), -1);
		CHECK_STR(iso, "");
		CHECK_INT(cl_iso8601((time_t)67768036191676800LL, iso), -1);
		CHECK_INT(cl_iso8601(-1, iso), -1);
	}
	return T_DONE();
}
