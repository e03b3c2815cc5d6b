/*
 * fuzz_filter: cl-filter's whole pass (filter/rules.c, date.c, exclude.c)
 * over an arbitrary stream, with every rule on, as cl-filter's main runs it:
 * each line the reader accepts is judged, every section end is counted, and
 * the counts are built. A crash, a sanitizer report or a verdict outside the
 * reasons aborts. The first byte picks the options, the rest is the stream.
 */
#define _GNU_SOURCE /* memfd_create, in fuzz.h */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../filter/date.c"
#include "../../filter/exclude.c"
#include "../../filter/rules.c"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct filter_opts o;
	struct cl_stage st;
	struct cl_reader *r;
	struct filter *f;
	struct cl_line ln;
	enum cl_kind last = CL_K_HEADER;
	const char *why;
	int fd, rc;
	jv counts;

	if (size < 1)
		return 0;
	memset(&o, 0, sizeof o);
	o.classes = !(data[0] & 1);
	o.enrol_dates = (data[0] >> 1) & 1;
	o.sessions = (data[0] >> 2) & 1;
	o.parents = (data[0] >> 3) & 1;
	o.exclude = cl_idmap_new();
	if (data[0] & 16)
		cl_idmap_put(o.exclude, "s1", 2, NULL);
	if (filter_parse_as_of("2026-11-29", &o.as_of, &why) < 0)
		abort();
	fd = fuzz_fd(data + 1, size - 1);
	if (fd < 0) {
		cl_idmap_free(o.exclude);
		return 0;
	}
	cl_stage_init(&st, "cl-filter");
	r = cl_reader_new(fd, "fuzz", 1 << 16);
	f = filter_new(&o, r);
	while ((rc = cl_reader_next(r, &ln)) > 0) {
		if (ln.kind != last) {
			filter_section_done(f, &st, ln.kind);
			last = ln.kind;
		}
		if (ln.kind == CL_K_HEADER || ln.kind == CL_K_TRAILER)
			continue;
		rc = filter_line(f, &ln);
		if (rc < 0) {
			if (!filter_error(f) || !filter_error_message(f)[0])
				abort();
			break;
		}
		if (rc >= FILTER_COUNT)
			abort();
		if (rc != FILTER_KEEP && !filter_sourced_id(f))
			abort();
		{
			/* a malformed field is named, and rejected exactly when dropped for it */
			const struct filter_malformed *m = filter_malformed(f);
			int bad = rc == FILTER_BAD_DATE || rc == FILTER_BAD_FIELD ||
			          rc == FILTER_BAD_REFERENCE;

			if (m ? !m->field || !m->problem || m->rejected != bad : bad)
				abort();
		}
	}
	counts = filter_counts(f);
	jv_free(counts);
	filter_free(f);
	cl_reader_free(r);
	cl_stage_release(&st);
	cl_idmap_free(o.exclude);
	close(fd);
	return 0;
}
