/*
 * stream-cat: the identity stage. It reads a roster stream, checks it as
 * every stage does (lib/stream.c), and writes it back with itself appended
 * to the header and the trailer. Used by the stream tests and by
 * bench/bench-stream as "read + classify + validate + pass-through".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "stream.h"

int
main(int argc, char *argv[])
{
	static char obuf[1 << 20];
	unsigned long long kinds[CL_K_COUNT] = { 0 };
	const char *name = "<stdin>";
	struct cl_reader *r;
	struct cl_stage st;
	struct cl_line ln;
	size_t max = 0;
	int fd = 0, rc, status, k;

	cl_diag_init(argv[0]);
	if (argc > 2 && strcmp(argv[1], "--max-line") == 0) {
		max = (size_t)strtoull(argv[2], NULL, 10);
		argc -= 2;
		argv += 2;
	}
	if (argc > 2) {
		cl_diag("CL008", "usage: stream-cat [--max-line N] [FILE]");
		return CL_EX_USAGE;
	}
	if (argc == 2 && strcmp(argv[1], "-") != 0) {
		name = argv[1];
		if ((fd = open(name, O_RDONLY)) < 0) {
			cl_diag("CL007", "%s:", name);
			return CL_EX_NOINPUT;
		}
	}
	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
	r = cl_reader_new(fd, name, max);
	cl_stage_init(&st, "stream-cat");
	st.lines_counted = 1;
	while ((rc = cl_reader_next(r, &ln)) > 0) {
		kinds[ln.kind]++;
		if (ln.kind == CL_K_HEADER) {
			if (cl_stage_write_header(&st, stdout, &ln, jv_invalid()) < 0) {
				cl_stage_fail(&st, "CL009", "%s:1: the header has no stages", name);
				break;
			}
		} else if (ln.kind == CL_K_TRAILER) {
			cl_stage_take_trailer(&st, r, &ln);
		} else {
			cl_write_line(stdout, ln.p, ln.n);
			cl_stage_wrote(&st, ln.kind, 1);
		}
	}
	if (rc < 0)
		cl_stage_fail_read(&st, r);
	for (k = CL_K_ORG; k < CL_K_TRAILER; k++)
		cl_stage_count(&st, k == CL_K_PARENT ? "parent" : cl_kind_name((enum cl_kind)k),
		               (double)kinds[k]);
	cl_stage_write_trailer(&st, stdout);
	status = cl_stage_status(&st);
	cl_stage_release(&st);
	cl_reader_free(r);
	if (fd > 0)
		close(fd);
	if (cl_close_stdout() < 0 && status == 0)
		status = CL_EX_IOERR;
	return status;
}
