/* run.c: one run of cl-load (struct load): what it starts with and what it frees. */
#include <string.h>

#include "load.h"

void
load_init(struct load *L)
{
	memset(L, 0, sizeof *L);
	L->sync.prev = jv_null();
	L->stream.summary = jv_object();
	L->stream.upstream_codes = jv_array();
	L->stream.rejects = jv_array();
	L->tally.unmatched_by = jv_object();
	L->tally.skipped = jv_object();
	L->tally.deletions = jv_object();
	L->tally.incomplete = jv_array();
	cl_stage_init(&L->st, "cl-load");
	cl_iso8601(cl_now(), L->sync.started);
}

void
load_release(struct load *L)
{
	load_index_free(L);
	load_schools_free(L);
	load_state_close(L);
	load_fields_release();
	jv_free(L->sync.prev);
	jv_free(L->stream.summary);
	jv_free(L->stream.upstream_codes);
	jv_free(L->stream.rejects);
	jv_free(L->tally.unmatched_by);
	jv_free(L->tally.skipped);
	jv_free(L->tally.deletions);
	jv_free(L->tally.incomplete);
	cl_stage_release(&L->st);
}
