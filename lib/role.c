/* role.c: a user record's role from OneRoster 1.1's "role" or 1.2's "roles" (role.h). */
#include "role.h"

#include <string.h>

const char *const cl_role_suffix[CL_RP_COUNT] = {
	"role",
	"roles[]",
	"roles[].roleType",
	"roles[].role",
	"roles[].org.sourcedId",
	"primaryOrg.sourcedId",
};

void
cl_role_scan_init(struct cl_role_scan *s, const struct cl_json_result *r,
                  const size_t path[CL_RP_COUNT])
{
	s->r = r;
	memcpy(s->path, path, sizeof s->path);
	memset(s->next, 0, sizeof s->next);
}

/*
 * The next span of path k that lies inside [lo, hi), or NULL when the next
 * one lies at or after hi (it belongs to a later record). Spans before lo
 * (outside every record asked about) are passed over.
 */
static const struct cl_json_span *
take(struct cl_role_scan *s, int k, const char *lo, const char *hi)
{
	size_t n = cl_json_result_count(s->r, s->path[k]);
	const struct cl_json_span *v;

	while (s->next[k] < n) {
		v = cl_json_result_get(s->r, s->path[k], s->next[k]);
		if (v->p >= hi)
			return NULL;
		s->next[k]++;
		if (v->p >= lo)
			return v;
	}
	return NULL;
}

static int
same_bytes(const struct cl_json_span *a, const struct cl_json_span *b)
{
	return a && b && a->type == CL_JSON_STRING && b->type == CL_JSON_STRING && a->n == b->n &&
	       memcmp(a->p, b->p, a->n) == 0;
}

enum cl_role
cl_user_role(struct cl_role_scan *s, const struct cl_json_span *rec,
             const struct cl_json_span **name)
{
	const char *lo = rec->p, *hi = rec->p + rec->n;
	const struct cl_json_span *role = NULL, *primary = NULL, *e, *v, *chosen = NULL;
	const struct cl_json_span *at_primary = NULL, *first_primary = NULL, *first = NULL;
	int k;

	/* the 1.1 role and the primaryOrg: at most one each in a record */
	while ((v = take(s, CL_RP_ROLE, lo, hi)) != NULL)
		role = v;
	while ((v = take(s, CL_RP_PRIMARY, lo, hi)) != NULL)
		primary = v;
	/* each element of roles, with the fields that lie inside it */
	while ((e = take(s, CL_RP_ROLES, lo, hi)) != NULL) {
		const struct cl_json_span *f[CL_RP_COUNT] = { NULL };

		for (k = CL_RP_ROLE_TYPE; k <= CL_RP_ROLE_ORG; k++)
			while ((v = take(s, k, e->p, e->p + e->n)) != NULL)
				f[k] = v;
		if (e->type != CL_JSON_OBJECT || !f[CL_RP_ROLE_NAME] ||
		    f[CL_RP_ROLE_NAME]->type != CL_JSON_STRING)
			continue;
		if (!first)
			first = f[CL_RP_ROLE_NAME];
		if (!cl_json_str_eq(f[CL_RP_ROLE_TYPE], "primary"))
			continue;
		if (!first_primary)
			first_primary = f[CL_RP_ROLE_NAME];
		if (!at_primary && same_bytes(f[CL_RP_ROLE_ORG], primary))
			at_primary = f[CL_RP_ROLE_NAME];
	}
	/* fields of roles elements that lie outside one (cannot be): passed over */
	for (k = CL_RP_ROLE_TYPE; k <= CL_RP_ROLE_ORG; k++)
		while (take(s, k, lo, hi) != NULL)
			;
	chosen = at_primary ? at_primary : first_primary ? first_primary : first ? first : role;
	if (chosen && chosen->type != CL_JSON_STRING)
		chosen = NULL;
	if (name)
		*name = chosen;
	return cl_role_of(chosen);
}
