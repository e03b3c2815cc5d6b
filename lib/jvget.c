/* jvget.c: fields of a parsed JSON object (jvget.h). */
#include "jvget.h"

#include <stdio.h>
#include <string.h>

jv
cl_jv_get(jv o, const char *k)
{
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return jv_null();
	return jv_object_get(jv_copy(o), jv_string(k));
}

long long
cl_jv_num(jv o, const char *path, long long none)
{
	char k[64];
	const char *p = path, *dot;
	jv v = jv_copy(o), next;
	long long n;

	while (p) {
		dot = strchr(p, '.');
		snprintf(k, sizeof k, "%.*s", dot ? (int)(dot - p) : (int)strlen(p), p);
		next = cl_jv_get(v, k);
		jv_free(v);
		v = next;
		p = dot ? dot + 1 : NULL;
	}
	n = jv_get_kind(v) == JV_KIND_NUMBER ? (long long)jv_number_value(v) : none;
	jv_free(v);
	return n;
}

void
cl_jv_str(jv o, const char *k, char *out, size_t n)
{
	jv v = cl_jv_get(o, k);

	snprintf(out, n, "%s", jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "");
	jv_free(v);
}
