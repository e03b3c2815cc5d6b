/*
 * role.h: a user record's role, whichever OneRoster version wrote it.
 *
 * OneRoster 1.1 gives a user one "role". OneRoster 1.2 gives it "roles", a
 * list of {"roleType":"primary"|"secondary","role":...,"org":{...}}, one or
 * more per org, and a "primaryOrg". Every stage that asks a user's role asks
 * cl_user_role, so that the stream's order (parents last: cl-fetch writes
 * it, lib/stream.c checks it) and every rule downstream (cl-filter's
 * students and parents, cl-match's counts, cl-load's role field) agree.
 *
 * The rule, for a record with a "roles" list that names a role:
 *   1. the primary role whose org is the user's primaryOrg;
 *   2. else the first primary role;
 *   3. else the first role in the list.
 * A record without such a list (1.1) has its "role". A record with both
 * (a server that writes 1.1 and 1.2 fields) is read as 1.2. Orgs compare as
 * the sourcedId strings' bytes as sent.
 *
 * The scan is a pass over spans the JSON scanner found (json.h): the caller
 * asks its query for the CL_RP_COUNT paths, under the prefix its records
 * lie at ("data" for a stream line, "users[]" for a page of users), and
 * hands each record's span over in order; cursors make a page of records
 * one pass.
 */
#ifndef CL_ROLE_H
#define CL_ROLE_H

#include <stddef.h>

#include "json.h"
#include "stream.h"

/* The paths a role needs, relative to the record (cl_role_suffix). */
enum cl_role_path {
	CL_RP_ROLE,      /* role: 1.1 */
	CL_RP_ROLES,     /* roles[]: 1.2, each an object */
	CL_RP_ROLE_TYPE, /* roles[].roleType */
	CL_RP_ROLE_NAME, /* roles[].role */
	CL_RP_ROLE_ORG,  /* roles[].org.sourcedId */
	CL_RP_PRIMARY,   /* primaryOrg.sourcedId */
	CL_RP_COUNT
};

/* "role", "roles[]", ...: append to the records' prefix and a dot. Static. */
extern const char *const cl_role_suffix[CL_RP_COUNT];

/* A pass over one scan's records. Fill it with cl_role_scan_init. */
struct cl_role_scan {
	const struct cl_json_result *r; /* borrowed */
	size_t path[CL_RP_COUNT];       /* the query's index of each path */
	size_t next[CL_RP_COUNT];       /* the first span of each path not yet passed */
};

/* Starts a pass over r, whose query holds the paths at the indexes path (copied). */
void cl_role_scan_init(struct cl_role_scan *s, const struct cl_json_result *r,
                       const size_t path[CL_RP_COUNT]);

/*
 * The role of the record whose span is rec (an object in the scanned
 * text), by the rule above; records must come in the order they lie in the
 * text, each once. *name (may be NULL) receives the span of the role string
 * chosen (borrowed), or NULL when the record names none (role other).
 */
enum cl_role cl_user_role(struct cl_role_scan *s, const struct cl_json_span *rec,
                          const struct cl_json_span **name);

#endif
