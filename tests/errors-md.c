/* errors-md: prints docs/errors.md from the error catalog (make docs). */
#include <stdio.h>

#include "errors.h"

int
main(void)
{
	const struct cl_error_def *t;
	size_t n, i;

	t = cl_error_table(&n);
	printf("# Error catalog\n\n"
	       "Every diagnostic a cl- program prints starts with its program name and one of\n"
	       "these codes: `cl-filter: CL202: ...`. The same codes appear in the trailer of the\n"
	       "roster stream, in cl-load's change set and report, and in cl-sync's Sync Details.\n"
	       "0xx: the roster stream and what every stage shares; 1xx cl-fetch; 2xx cl-filter;\n"
	       "3xx cl-match; 4xx cl-load; 5xx cl-sync. The exit status is the one the program\n"
	       "ends with when this error ends it (see EXIT STATUS in each man page).\n\n"
	       "This file is generated from `lib/errors/*.def` by `make docs`; a test checks it is "
	       "current.\n\n"
	       "| code | exit | meaning | what to do |\n"
	       "|---|---|---|---|\n");
	for (i = 0; i < n; i++)
		printf("| %s | %d | %s | %s |\n", t[i].code, t[i].status, t[i].meaning,
		       t[i].remedy);
	return ferror(stdout) || fclose(stdout) ? 1 : 0;
}
