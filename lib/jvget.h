/*
 * jvget.h: fields of a parsed JSON object (libjq's jv) read with a value for
 * "absent": the Sync Details and night.json that cl-sync-run and cl-report
 * read back. Each borrows o.
 */
#ifndef CL_JVGET_H
#define CL_JVGET_H

#include <stddef.h>

#include <jv.h>

/* o's member k, a new reference: null when o is no object or has no k. */
jv cl_jv_get(jv o, const char *k);
/* The number at path in o, its keys apart by dots ("counts.users.created"), or none. */
long long cl_jv_num(jv o, const char *path, long long none);
/* The string at key k of o, copied into out (n bytes); "" when it is none. */
void cl_jv_str(jv o, const char *k, char *out, size_t n);

#endif
