/*
 * fuzz_stream: libFuzzer harness for the roster-stream reader. The input is
 * served through a memfd so the reader's own buffering (reads, moves,
 * growth, the line limit) runs as it does on a pipe; every field of every
 * line it accepts is decoded.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "buf.h"
#include "stream.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_buf out = CL_BUF_INIT;
	struct cl_reader *r;
	struct cl_line ln;
	size_t f_id, f_terms, i;
	int fd = fuzz_fd(data, size);

	if (fd < 0)
		return 0;
	r = cl_reader_new(fd, "fuzz", 4096);
	f_id = cl_reader_want(r, "data.sourcedId");
	f_terms = cl_reader_want(r, "data.terms[].sourcedId");
	while (cl_reader_next(r, &ln) > 0) {
		const struct cl_json_result *res = cl_reader_result(r);

		cl_json_str(cl_reader_field(r, f_id), &out);
		for (i = 0; i < cl_json_result_count(res, f_terms); i++)
			cl_json_str(cl_json_result_get(res, f_terms, i), &out);
		cl_buf_reset(&out);
	}
	cl_reader_free(r);
	cl_buf_release(&out);
	close(fd);
	return 0;
}
