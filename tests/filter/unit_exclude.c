/* unit_exclude: reading an --exclude-schools-file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "filter.h"
#include "t.h"

static char path[4096];

/* Writes n bytes to the scratch file and reads it into a new set. */
static struct cl_idmap *
read_list(const char *text, size_t n, int *rc, unsigned long *line)
{
	struct cl_idmap *set = cl_idmap_new();
	FILE *fp = fopen(path, "wb");

	fwrite(text, 1, n, fp);
	fclose(fp);
	*rc = filter_read_exclude_file(path, set, line);
	return set;
}

#define HAS(set, s) cl_idmap_has(set, s, strlen(s))

int
main(void)
{
	const char *tmp = getenv("CL_TMP");
	static const char text[] = "\xef\xbb\xbf# closed schools\r\n"
	                           "\r\n"
	                           "  0042  \r\n"
	                           "LHS # Lincoln High\n"
	                           "\t#0099 commented out\n"
	                           "A#B\n"
	                           "last-no-newline";
	static const char nul[] = "0042\n00\0"
	                          "43\n";
	struct cl_idmap *set;
	unsigned long line;
	int rc;

	snprintf(path, sizeof path, "%s/list.txt", tmp ? tmp : "/tmp");

	set = read_list(text, sizeof text - 1, &rc, &line);
	CHECK_INT(rc, 0);
	CHECK_INT(line, 7);
	CHECK_INT(cl_idmap_count(set), 4);
	CHECK(HAS(set, "0042"));
	CHECK(HAS(set, "LHS"));
	CHECK(HAS(set, "A#B")); /* a '#' inside an ID is part of it */
	CHECK(HAS(set, "last-no-newline"));
	CHECK(!HAS(set, "0099"));
	CHECK(!HAS(set, "#0099 commented out"));
	cl_idmap_free(set);

	set = read_list("", 0, &rc, &line);
	CHECK_INT(rc, 0);
	CHECK_INT(cl_idmap_count(set), 0);
	cl_idmap_free(set);

	set = read_list(nul, sizeof nul - 1, &rc, &line);
	CHECK_INT(rc, -1);
	CHECK_INT(errno, EILSEQ);
	CHECK_INT(line, 2);
	cl_idmap_free(set);

	unlink(path);
	set = cl_idmap_new();
	CHECK_INT(filter_read_exclude_file(path, set, &line), -1);
	CHECK_INT(errno, ENOENT);
	cl_idmap_free(set);
	return T_DONE();
}
