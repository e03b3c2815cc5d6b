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
	printf("\n## In cl-sync\n\n"
	       "Where the remedy above names a program's option, which a cl-sync user does not\n"
	       "set, this is what to do in cl-sync's words: its config keys and commands. A code\n"
	       "that is not listed here has one remedy for both. A script takes a code's line\n"
	       "with one awk (the table's cells hold no `|`):\n\n"
	       "    awk -F ' [|] ' -v c=CL104 '/^## /{s=/cl-sync/} s && $1==\"| \" c "
	       "{sub(/ [|]$/, \"\", $2); print $2}' docs/errors.md\n\n"
	       "| code | what to do in cl-sync |\n"
	       "|---|---|\n");
	for (i = 0; i < n; i++)
		if (t[i].sync_remedy)
			printf("| %s | %s |\n", t[i].code, t[i].sync_remedy);
	return ferror(stdout) || fclose(stdout) ? 1 : 0;
}
