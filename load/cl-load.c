/* cl-load: not implemented yet. */
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "stream.h"

int
main(int argc, char *argv[])
{
	cl_diag_init(argv[0]);
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: cl-load (not implemented yet: exits 70)\n");
		return 0;
	}
	if (argc > 1 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("cl-load %s\n", CL_VERSION);
		return 0;
	}
	cl_diag("CL090", "not implemented");
	return CL_EX_SOFTWARE;
}
