/* errors.c: the error catalog, assembled from lib/errors/\*.def. */
#include "errors.h"

#include <string.h>

#include "diag.h"

/* The cl-sync remedy is optional: CL_ERROR takes 4 or 5 arguments. */
#define CL_REMEDIES(remedy, sync_remedy, ...) remedy, sync_remedy
#define CL_ERROR(code, status, meaning, ...) \
	{ code, status, meaning, CL_REMEDIES(__VA_ARGS__, NULL, NULL) },

static const struct cl_error_def table[] = {
#include "errors/stream.def"
#include "errors/fetch.def"
#include "errors/filter.def"
#include "errors/match.def"
#include "errors/load.def"
#include "errors/sync.def"
};

const struct cl_error_def *
cl_error_lookup(const char *code)
{
	size_t i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strcmp(table[i].code, code) == 0)
			return &table[i];
	return NULL;
}

const struct cl_error_def *
cl_error_table(size_t *n)
{
	*n = sizeof table / sizeof table[0];
	return table;
}

int
cl_error_status(const char *code)
{
	const struct cl_error_def *e = cl_error_lookup(code);

	return e ? e->status : CL_EX_SOFTWARE;
}
