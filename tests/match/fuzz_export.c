/*
 * fuzz_export: libFuzzer harness for cl-match's reader of the School Manager
 * export (libcsv, column finding, normalisation, the index). The input is
 * the CSV file, served through a memfd; every email it indexes is looked up
 * again. `make fuzz` builds it with lib/ linked in; match/export.c is
 * included below.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "../../match/export.c"
#include "../fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct match_columns cols = { NULL, NULL, NULL, NULL, 0 };
	struct cl_aliases al;
	struct match_export *x = NULL;
	char path[64];
	int fd = fuzz_fd(data, size);

	if (fd < 0)
		return 0;
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	cl_aliases_init(&al);
	cl_aliases_add(&al, "students.example.org=example.org");
	if (match_export_load(&x, path, &cols, &al) == 0) {
		size_t it = 0, n;
		const char *k, *id, *email;
		uint64_t v;
		enum match_xrole role;

		while (cl_idmap_next(x->idx, &it, &k, &n, &v)) {
			struct cl_buf key = CL_BUF_INIT;

			cl_buf_add(&key, k, n); /* claim may not borrow the index's own key */
			match_export_count_user(x, 0, key.p, key.len);
			match_export_claim(x, key.p, key.len, &id, &email, &role);
			cl_buf_release(&key);
		}
		match_export_free(x);
	}
	cl_aliases_release(&al);
	close(fd);
	return 0;
}
