/*
 * cl-bundle: reads a OneRoster 1.1 CSV bundle (a folder, or a .zip) and
 * writes the roster stream, as cl-fetch does from the REST API: the same
 * header and trailer, the same stream order, each record in the shape the
 * REST API carries it (cl-bundle(1)).
 *
 * The flow: the manifest first (every file it lists must be there before a
 * line is written), then each file in stream order, one CSV record at a
 * time, turned into one line. users.csv is read once: the parents' lines
 * wait in an unlinked temporary file (0600) and follow the other users, as
 * cl-fetch does, so memory holds one record whatever the bundle's size, and
 * a folder an SIS rewrites during the run cannot give the two halves of the
 * users from two different exports.
 *
 * Broken files stop the stream (the trailer says it is incomplete); a bad
 * cell rejects its record only: it is named with file:line:column, left
 * out, and the stream is incomplete too, so that cl-load withholds the
 * deletions that record's absence would cause.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bundle.h"
#include "cli.h"
#include "date.h"
#include "diag.h"
#include "out.h"
#include "stream.h"

#define OUT_BUF ((size_t)1 << 20)
#define REPORT_MAX 20 /* rejected records named per file; then one line counts the rest */

static const char usage[] = "usage: cl-bundle [-o FILE] BUNDLE\n";

static const struct cl_opt options[] = {
	{ 'o', "output", CL_ARG_REQUIRED, "FILE", "write FILE (mode 0600) instead of stdout" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-bundle", usage,
	"Reads a OneRoster 1.1 CSV bundle (a folder or a .zip holding manifest.csv,\n"
	"orgs.csv, users.csv...) and writes the roster stream to stdout, as cl-fetch\n"
	"writes it from the REST API.\n",
	options
};

/* How a column's cells become JSON. */
enum ctype {
	C_STR,      /* a string, "" when empty */
	C_STATUS,   /* active, tobedeleted or inactive; "active" when empty (a bulk file) */
	C_DATETIME, /* 2026-03-01T18:14:45.000Z; "" when empty */
	C_DATE,     /* 2026-08-17; "" when empty */
	C_BOOL,     /* the string "true" or "false", as 1.1's REST API carries it */
	C_REF,      /* {"sourcedId","type"}; null when empty */
	C_REFS,     /* comma-separated sourcedIds: a list of references */
	C_LIST,     /* comma-separated: a list of strings */
	C_USERIDS   /* {type:id},{type:id}: [{"type","identifier"}] */
};

/* A column of a file, in the REST shape's key order. */
struct col {
	const char *key; /* the REST key */
	const char *csv; /* the CSV header name */
	enum ctype t;
	const char *ref;         /* C_REF, C_REFS: the references' type */
	unsigned char need_col;  /* the header must have it (OneRoster 1.1 CSV: required) */
	unsigned char need_cell; /* a record without it is rejected (the pipeline needs it) */
};

#define COMMON                                                                 \
	{ "sourcedId", "sourcedId", C_STR, NULL, 1, 1 },                       \
	        { "status", "status", C_STATUS, NULL, 0, 0 },                  \
	{                                                                      \
		"dateLastModified", "dateLastModified", C_DATETIME, NULL, 0, 0 \
	}

static const struct col org_cols[] = {
	COMMON,
	{ "name", "name", C_STR, NULL, 1, 0 },
	{ "type", "type", C_STR, NULL, 1, 0 },
	{ "identifier", "identifier", C_STR, NULL, 0, 0 },
	{ "parent", "parentSourcedId", C_REF, "org", 0, 0 },
	{ NULL, NULL, C_STR, NULL, 0, 0 },
};
static const struct col session_cols[] = {
	COMMON,
	{ "title", "title", C_STR, NULL, 1, 0 },
	{ "type", "type", C_STR, NULL, 1, 0 },
	{ "startDate", "startDate", C_DATE, NULL, 1, 0 },
	{ "endDate", "endDate", C_DATE, NULL, 1, 0 },
	{ "parent", "parentSourcedId", C_REF, "academicSession", 0, 0 },
	{ "schoolYear", "schoolYear", C_STR, NULL, 1, 0 },
	{ NULL, NULL, C_STR, NULL, 0, 0 },
};
static const struct col course_cols[] = {
	COMMON,
	{ "title", "title", C_STR, NULL, 1, 0 },
	{ "schoolYear", "schoolYearSourcedId", C_REF, "academicSession", 0, 0 },
	{ "courseCode", "courseCode", C_STR, NULL, 0, 0 },
	{ "grades", "grades", C_LIST, NULL, 0, 0 },
	{ "subjects", "subjects", C_LIST, NULL, 0, 0 },
	{ "org", "orgSourcedId", C_REF, "org", 1, 0 },
	{ "subjectCodes", "subjectCodes", C_LIST, NULL, 0, 0 },
	{ NULL, NULL, C_STR, NULL, 0, 0 },
};
static const struct col class_cols[] = {
	COMMON,
	{ "title", "title", C_STR, NULL, 1, 0 },
	{ "classCode", "classCode", C_STR, NULL, 0, 0 },
	{ "classType", "classType", C_STR, NULL, 1, 0 },
	{ "location", "location", C_STR, NULL, 0, 0 },
	{ "grades", "grades", C_LIST, NULL, 0, 0 },
	{ "subjects", "subjects", C_LIST, NULL, 0, 0 },
	{ "course", "courseSourcedId", C_REF, "course", 1, 0 },
	{ "school", "schoolSourcedId", C_REF, "org", 1, 0 },
	{ "terms", "termSourcedIds", C_REFS, "academicSession", 1, 0 },
	{ "subjectCodes", "subjectCodes", C_LIST, NULL, 0, 0 },
	{ "periods", "periods", C_LIST, NULL, 0, 0 },
	{ NULL, NULL, C_STR, NULL, 0, 0 },
};
static const struct col enrollment_cols[] = {
	COMMON,
	{ "user", "userSourcedId", C_REF, "user", 1, 1 },
	{ "class", "classSourcedId", C_REF, "class", 1, 1 },
	{ "school", "schoolSourcedId", C_REF, "org", 1, 0 },
	{ "role", "role", C_STR, NULL, 1, 1 },
	{ "primary", "primary", C_BOOL, NULL, 0, 0 },
	{ "beginDate", "beginDate", C_DATE, NULL, 0, 0 },
	{ "endDate", "endDate", C_DATE, NULL, 0, 0 },
	{ NULL, NULL, C_STR, NULL, 0, 0 },
};
static const struct col user_cols[] = {
	COMMON,
	{ "username", "username", C_STR, NULL, 1, 0 },
	{ "userIds", "userIds", C_USERIDS, NULL, 0, 0 },
	{ "enabledUser", "enabledUser", C_BOOL, NULL, 1, 0 },
	{ "givenName", "givenName", C_STR, NULL, 1, 0 },
	{ "familyName", "familyName", C_STR, NULL, 1, 0 },
	{ "middleName", "middleName", C_STR, NULL, 0, 0 },
	{ "role", "role", C_STR, NULL, 1, 1 },
	{ "identifier", "identifier", C_STR, NULL, 0, 0 },
	{ "email", "email", C_STR, NULL, 0, 0 },
	{ "sms", "sms", C_STR, NULL, 0, 0 },
	{ "phone", "phone", C_STR, NULL, 0, 0 },
	{ "agents", "agentSourcedIds", C_REFS, "user", 0, 0 },
	{ "orgs", "orgSourcedIds", C_REFS, "org", 1, 0 },
	{ "grades", "grades", C_LIST, NULL, 0, 0 },
	{ "password", "password", C_STR, NULL, 0, 0 },
	{ NULL, NULL, C_STR, NULL, 0, 0 },
};
static const struct col demographic_cols[] = {
	COMMON,
	{ "birthDate", "birthDate", C_DATE, NULL, 0, 0 },
	{ "sex", "sex", C_STR, NULL, 0, 0 },
	{ "americanIndianOrAlaskaNative", "americanIndianOrAlaskaNative", C_BOOL, NULL, 0, 0 },
	{ "asian", "asian", C_BOOL, NULL, 0, 0 },
	{ "blackOrAfricanAmerican", "blackOrAfricanAmerican", C_BOOL, NULL, 0, 0 },
	{ "nativeHawaiianOrOtherPacificIslander", "nativeHawaiianOrOtherPacificIslander", C_BOOL,
	  NULL, 0, 0 },
	{ "white", "white", C_BOOL, NULL, 0, 0 },
	{ "demographicRaceTwoOrMoreRaces", "demographicRaceTwoOrMoreRaces", C_BOOL, NULL, 0, 0 },
	{ "hispanicOrLatinoEthnicity", "hispanicOrLatinoEthnicity", C_BOOL, NULL, 0, 0 },
	{ "countryOfBirthCode", "countryOfBirthCode", C_STR, NULL, 0, 0 },
	{ "stateOfBirthAbbreviation", "stateOfBirthAbbreviation", C_STR, NULL, 0, 0 },
	{ "cityOfBirth", "cityOfBirth", C_STR, NULL, 0, 0 },
	{ "publicSchoolResidenceStatus", "publicSchoolResidenceStatus", C_STR, NULL, 0, 0 },
	{ NULL, NULL, C_STR, NULL, 0, 0 },
};

#define MAX_COLS 24

/* The files cl-bundle reads, in stream order. */
struct file {
	const char *coll; /* "users": the manifest's file.users, users.csv */
	enum cl_kind kind;
	const struct col *cols;
};

static const struct file files[] = {
	{ "orgs", CL_K_ORG, org_cols },
	{ "academicSessions", CL_K_SESSION, session_cols },
	{ "courses", CL_K_COURSE, course_cols },
	{ "classes", CL_K_CLASS, class_cols },
	{ "enrollments", CL_K_ENROLLMENT, enrollment_cols },
	{ "users", CL_K_USER, user_cols },
	{ "demographics", CL_K_DEMOGRAPHIC, demographic_cols },
};

#define NFILES (sizeof files / sizeof files[0])

enum mode { M_UNSET, M_ABSENT, M_BULK, M_DELTA };
static const char *const mode_names[] = { "", "absent", "bulk", "delta" };

/* One run. */
struct run {
	const char *path;   /* the bundle, as given */
	const char *output; /* -o FILE, or NULL */
	int check_args;
	struct bundle_src src;
	enum mode mode[NFILES];
	struct cl_stage st;
	FILE *out;
	FILE *spool; /* the parents, until the other users are written */
	struct cl_buf line, tmp, name;
	int stop; /* a broken file: the stream ends here */
};

/* The cells of a file's header mapped to its columns. */
struct layout {
	int at[MAX_COLS]; /* column i of the spec is cell at[i], or -1 */
	int *meta;        /* metadata.* cells */
	size_t nmeta;
	size_t ncells; /* cells in the header */
	const char *const *hdr;
	char **names; /* the header's names (owned) */
};

static int
parse_options(struct run *R, int argc, char *argv[])
{
	struct cl_getopt g;
	int c;

	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case 'o':
			R->output = g.arg;
			break;
		default: /* CL_OPT_EXIT */
			return g.status;
		}
	}
	if (optind >= argc)
		return cl_usage_error(&cmd, "no BUNDLE: give the bundle's folder or .zip file");
	if (optind + 1 < argc)
		return cl_usage_error(&cmd, "one BUNDLE only: '%s' is one too many",
		                      argv[optind + 1]);
	R->path = argv[optind];
	R->check_args = g.check_args;
	return -1;
}

/* ---- the manifest ---- */

static int manifest_fail(struct run *R, unsigned long long line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
manifest_fail(struct run *R, unsigned long long line, const char *fmt, ...)
{
	struct cl_buf m = CL_BUF_INIT;
	va_list ap;
	int status;

	va_start(ap, fmt);
	cl_buf_vaddf(&m, fmt, ap);
	va_end(ap);
	if (line)
		status = cl_fail("CL131", "%s: manifest.csv:%llu: %s", R->path, line, m.p);
	else
		status = cl_fail("CL131", "%s: manifest.csv: %s", R->path, m.p);
	cl_buf_release(&m);
	return status;
}

/*
 * Reads manifest.csv: propertyName,value rows; oneroster.version 1.1, and
 * file.X bulk, delta or absent for each file cl-bundle reads (the others,
 * lineItems, results..., are not rostering: ignored). Returns 0, or the
 * status of the failure reported.
 */
static int
read_manifest(struct run *R)
{
	struct bundle_csv c;
	int rc, status = 0, have_version = 0;
	size_t i;

	if (!bundle_src_has(&R->src, "manifest.csv"))
		return manifest_fail(R, 0, "no such file: a OneRoster bundle has one");
	if (bundle_src_begin(&R->src, "manifest.csv") < 0)
		return cl_fail("CL130", "%s", R->src.why);
	bundle_csv_init(&c, bundle_src_read, &R->src);
	rc = bundle_csv_next(&c);
	if (rc <= 0) {
		status = rc < 0 ? (c.io_error ? cl_fail("CL136", "%s", R->src.why)
		                              : manifest_fail(R, 0, "%s", c.err))
		                : manifest_fail(R, 0,
		                                "empty: it needs the header propertyName,value");
		goto out;
	}
	if (c.ncells != 2 || strcasecmp(bundle_csv_cell(&c, 0), "propertyName") != 0 ||
	    strcasecmp(bundle_csv_cell(&c, 1), "value") != 0) {
		status = manifest_fail(R, c.rec_line,
		                       "the header is not propertyName,value (OneRoster 1.1 CSV)");
		goto out;
	}
	while ((rc = bundle_csv_next(&c)) > 0) {
		const char *k = bundle_csv_cell(&c, 0), *v;

		if (c.ncells != 2) {
			status = manifest_fail(R, c.rec_line, "%zu cells where a row has 2",
			                       c.ncells);
			goto out;
		}
		v = bundle_csv_cell(&c, 1);
		if (!strcmp(k, "oneroster.version")) {
			if (strcmp(v, "1.1") != 0) {
				status = manifest_fail(R, c.rec_line,
				                       "oneroster.version '%s': cl-bundle reads "
				                       "OneRoster 1.1 bundles",
				                       v);
				goto out;
			}
			have_version = 1;
			continue;
		}
		if (strncmp(k, "file.", 5) != 0)
			continue;
		for (i = 0; i < NFILES; i++)
			if (!strcmp(k + 5, files[i].coll))
				break;
		if (i == NFILES)
			continue;
		if (R->mode[i] != M_UNSET) {
			status = manifest_fail(R, c.rec_line, "a second %s row", k);
			goto out;
		}
		if (!strcasecmp(v, "bulk"))
			R->mode[i] = M_BULK;
		else if (!strcasecmp(v, "delta"))
			R->mode[i] = M_DELTA;
		else if (!strcasecmp(v, "absent"))
			R->mode[i] = M_ABSENT;
		else {
			status = manifest_fail(R, c.rec_line, "%s '%s': not bulk, delta or absent",
			                       k, v);
			goto out;
		}
	}
	if (rc < 0) {
		status = c.io_error ? cl_fail("CL136", "%s", R->src.why)
		                    : manifest_fail(R, 0, "%s", c.err);
		goto out;
	}
	if (!have_version) {
		status = manifest_fail(R, 0, "no oneroster.version row (1.1)");
		goto out;
	}
	for (i = 0; i < NFILES; i++)
		if (R->mode[i] == M_UNSET) {
			status = manifest_fail(R, 0, "no file.%s row (bulk, delta or absent)",
			                       files[i].coll);
			goto out;
		}
	/* every file the manifest promises is there, before a line is written */
	for (i = 0; i < NFILES; i++) {
		cl_buf_reset(&R->name);
		cl_buf_addf(&R->name, "%s.csv", files[i].coll);
		if (R->mode[i] != M_ABSENT && !bundle_src_has(&R->src, R->name.p)) {
			status = cl_fail("CL132",
			                 "%s: manifest.csv says file.%s is %s, but the bundle has "
			                 "no %s%s",
			                 R->path, files[i].coll, mode_names[R->mode[i]],
			                 R->src.zip ? R->src.prefix : "", R->name.p);
			goto out;
		}
	}
out:
	bundle_csv_release(&c);
	bundle_src_end(&R->src);
	return status;
}

/* ---- cells ---- */

#define OLIT(o, lit) oadd((o), "" lit, sizeof(lit) - 1)
#define OSTR(o, str) oadd((o), (str), strlen(str))

/*
 * Appends n bytes of a cell as a JSON string literal. The CSV reader let
 * only UTF-8 through, so bytes from 0x80 up are copied as they are; quotes,
 * backslashes and control characters are escaped (cl_json_put_str's rules,
 * without its per-byte calls).
 */
static void
put_str(struct cl_buf *o, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)str, *e = p + n, *run;
	char *w;

	if (o->cap - o->len <= 6 * n + 2)
		cl_buf_grow(o, 6 * n + 2);
	w = o->p + o->len;
	*w++ = '"';
	while (p < e) {
		for (run = p; p < e && *p >= 0x20 && *p != '"' && *p != '\\'; p++)
			;
		memcpy(w, run, (size_t)(p - run));
		w += p - run;
		if (p == e)
			break;
		*w++ = '\\';
		switch (*p) {
		case '"':
		case '\\':
			*w++ = (char)*p;
			break;
		case '\n':
			*w++ = 'n';
			break;
		case '\r':
			*w++ = 'r';
			break;
		case '\t':
			*w++ = 't';
			break;
		case '\b':
			*w++ = 'b';
			break;
		case '\f':
			*w++ = 'f';
			break;
		default:
			*w++ = 'u';
			*w++ = '0';
			*w++ = '0';
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 0xf];
		}
		p++;
	}
	*w++ = '"';
	o->len = (size_t)(w - o->p);
	o->p[o->len] = '\0';
}
/* 2026-03-01T18:14:45[.fff](Z|+HH:MM|-HH:MM): ISO 8601 as OneRoster's DateTime. */
static int
is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * Calls each item of a comma-separated cell, trimmed, skipping empty ones
 * ("09,,10", a trailing comma). Writes a JSON list of what put makes of
 * each into out.
 */
static void
put_list(struct cl_buf *out, const char *s, size_t n, const char *ref)
{
	size_t i = 0, a, b, k = 0;

	oaddc(out, '[');
	while (i <= n) {
		a = i;
		while (i < n && s[i] != ',')
			i++;
		b = i;
		while (a < b && is_space(s[a]))
			a++;
		while (b > a && is_space(s[b - 1]))
			b--;
		if (b > a) {
			if (k++)
				oaddc(out, ',');
			if (ref) {
				OLIT(out, "{\"sourcedId\":");
				put_str(out, s + a, b - a);
				OLIT(out, ",\"type\":\"");
				OSTR(out, ref);
				OLIT(out, "\"}");
			} else {
				put_str(out, s + a, b - a);
			}
		}
		i++;
	}
	oaddc(out, ']');
}

/*
 * userIds: {type:identifier} pairs separated by commas, as OneRoster 1.1's
 * CSV writes them ("{LDAP:jsmith},{Fed:1234}"). Returns 0, or -1 with why set.
 */
static int
put_userids(struct cl_buf *out, const char *s, size_t n, struct cl_buf *why)
{
	size_t i = 0, k = 0, a, colon, end;

	oaddc(out, '[');
	for (;;) {
		while (i < n && (is_space(s[i]) || s[i] == ','))
			i++;
		if (i >= n)
			break;
		if (s[i] != '{') {
			cl_buf_addf(why, "not {type:identifier} pairs (at byte %zu)", i + 1);
			return -1;
		}
		a = ++i;
		while (i < n && s[i] != '}')
			i++;
		if (i >= n) {
			cl_buf_addf(why, "a '{' at byte %zu is never closed", a);
			return -1;
		}
		end = i++;
		for (colon = a; colon < end && s[colon] != ':'; colon++)
			;
		if (colon == end || colon == a || colon + 1 == end) {
			cl_buf_addf(why, "'{%.*s}' is not {type:identifier}", (int)(end - a),
			            s + a);
			return -1;
		}
		if (k++)
			oaddc(out, ',');
		OLIT(out, "{\"type\":");
		put_str(out, s + a, colon - a);
		OLIT(out, ",\"identifier\":");
		put_str(out, s + colon + 1, end - colon - 1);
		oaddc(out, '}');
		while (i < n && is_space(s[i]))
			i++;
		if (i < n && s[i] != ',') {
			cl_buf_addf(why, "not {type:identifier} pairs (at byte %zu)", i + 1);
			return -1;
		}
	}
	oaddc(out, ']');
	return 0;
}

/* Appends column c's value from cell v (NULL: the column is not in the file). */
static int
put_cell(struct cl_buf *out, const struct col *c, const char *v, size_t n, struct cl_buf *why)
{
	if (!v)
		n = 0;
	switch (c->t) {
	case C_STR:
		put_str(out, v ? v : "", n);
		return 0;
	case C_STATUS:
		if (!n) {
			OLIT(out, "\"active\"");
			return 0;
		}
		if (strcmp(v, "active") != 0 && strcmp(v, "tobedeleted") != 0 &&
		    strcmp(v, "inactive") != 0) {
			OLIT(why, "not active or tobedeleted");
			return -1;
		}
		put_str(out, v, n);
		return 0;
	case C_DATETIME:
		if (n && !cl_datetime_ok(v, n, 1)) {
			OLIT(why, "not a date and time (2026-03-01T18:14:45.000Z)");
			return -1;
		}
		put_str(out, v ? v : "", n);
		return 0;
	case C_DATE:
		if (n && cl_date_check(v, n, NULL) < 0) {
			OLIT(why, "not a date (YYYY-MM-DD)");
			return -1;
		}
		put_str(out, v ? v : "", n);
		return 0;
	case C_BOOL:
		if (!n) {
			OLIT(out, "\"\"");
		} else if (!strcasecmp(v, "true")) {
			OLIT(out, "\"true\"");
		} else if (!strcasecmp(v, "false")) {
			OLIT(out, "\"false\"");
		} else {
			OLIT(why, "not true or false");
			return -1;
		}
		return 0;
	case C_REF: {
		size_t a = 0, b = n;

		while (a < b && is_space(v[a]))
			a++;
		while (b > a && is_space(v[b - 1]))
			b--;
		if (a == b) {
			OLIT(out, "null");
			return 0;
		}
		OLIT(out, "{\"sourcedId\":");
		put_str(out, v + a, b - a);
		OLIT(out, ",\"type\":\"");
		OSTR(out, c->ref);
		OLIT(out, "\"}");
		return 0;
	}
	case C_REFS:
		put_list(out, v ? v : "", n, c->ref);
		return 0;
	case C_LIST:
		put_list(out, v ? v : "", n, NULL);
		return 0;
	case C_USERIDS:
		return put_userids(out, v ? v : "", n, why);
	}
	return 0;
}

/* ---- a file ---- */

static void
layout_release(struct layout *L)
{
	size_t i;

	for (i = 0; i < L->ncells; i++)
		free(L->names[i]);
	free(L->names);
	free(L->meta);
	memset(L, 0, sizeof *L);
}

/*
 * Maps the header's cells to the file's columns, by name (any order; case
 * and surrounding blanks ignored). A required column missing, or a name
 * twice, is a broken file (CL134); a column OneRoster 1.1 does not have is
 * a warning (CL139), and ignored. Returns 0, or -1 after the failure.
 */
static int
layout_of(struct run *R, const struct file *f, const char *fname, struct bundle_csv *c,
          struct layout *L)
{
	size_t i, j, ncols;
	struct cl_buf unknown = CL_BUF_INIT;

	for (ncols = 0; f->cols[ncols].key; ncols++)
		L->at[ncols] = -1;
	L->ncells = c->ncells;
	L->names = cl_xcalloc(c->ncells, sizeof *L->names);
	L->meta = cl_xcalloc(c->ncells, sizeof *L->meta);
	for (i = 0; i < c->ncells; i++) {
		const char *h = bundle_csv_cell(c, i);
		size_t n = c->len[i];

		while (n && is_space(*h)) {
			h++;
			n--;
		}
		while (n && is_space(h[n - 1]))
			n--;
		L->names[i] = cl_xmemdup(h, n);
		for (j = 0; j < i; j++)
			if (*L->names[i] && !strcasecmp(L->names[j], L->names[i])) {
				cl_stage_fail(
				        &R->st, "CL134",
				        "%s:%llu:%zu: the column '%s' is there twice (columns "
				        "%zu and %zu)",
				        fname, c->rec_line, i + 1, L->names[i], j + 1, i + 1);
				goto fail;
			}
		if (!*L->names[i])
			continue; /* a trailing comma: an unnamed, empty column */
		if (!strncasecmp(L->names[i], "metadata.", 9) && L->names[i][9]) {
			L->meta[L->nmeta++] = (int)i;
			continue;
		}
		for (j = 0; j < ncols; j++)
			if (!strcasecmp(f->cols[j].csv, L->names[i]))
				break;
		if (j < ncols)
			L->at[j] = (int)i;
		else
			cl_buf_addf(&unknown, "%s'%s'", unknown.len ? ", " : "", L->names[i]);
	}
	for (j = 0; j < ncols; j++)
		if (f->cols[j].need_col && L->at[j] < 0) {
			cl_stage_fail(&R->st, "CL134",
			              "%s:%llu: no column '%s': OneRoster 1.1 requires it in %s",
			              fname, c->rec_line, f->cols[j].csv, fname);
			goto fail;
		}
	if (unknown.len)
		cl_stage_warn(&R->st, "CL139",
		              "%s:%llu: columns OneRoster 1.1 does not have, ignored: %s", fname,
		              c->rec_line, unknown.p);
	cl_buf_release(&unknown);
	return 0;
fail:
	cl_buf_release(&unknown);
	return -1;
}

/*
 * The line of the current record into R->line. Returns 0, or -1 (the record
 * is rejected) with *col the 1-based cell and why what is wrong.
 */
static int
build(struct run *R, const struct file *f, const struct layout *L, const struct bundle_csv *c,
      size_t *col, struct cl_buf *why)
{
	struct cl_buf *o = &R->line;
	size_t i;

	cl_buf_reset(o);
	OLIT(o, "{\"kind\":\"");
	OSTR(o, cl_kind_name(f->kind));
	OLIT(o, "\",\"data\":{");
	for (i = 0; f->cols[i].key; i++) {
		const struct col *k = &f->cols[i];
		int at = L->at[i];
		const char *v = at >= 0 ? bundle_csv_cell(c, (size_t)at) : NULL;
		size_t n = at >= 0 ? c->len[at] : 0;

		if (k->need_cell && !n) {
			*col = at >= 0 ? (size_t)at + 1 : 0;
			cl_buf_addf(why, "%s is empty: the record needs one", k->csv);
			return -1;
		}
		if (i)
			oaddc(o, ',');
		oaddc(o, '"');
		OSTR(o, k->key);
		OLIT(o, "\":");
		if (put_cell(o, k, v, n, &R->tmp) < 0) {
			*col = (size_t)at + 1;
			cl_buf_addf(why, "%s '%s': %s", k->csv, v, R->tmp.p);
			cl_buf_reset(&R->tmp);
			return -1;
		}
	}
	if (L->nmeta) {
		OLIT(o, ",\"metadata\":{");
		for (i = 0; i < L->nmeta; i++) {
			size_t at = (size_t)L->meta[i];
			const char *name = L->names[at] + 9;

			if (i)
				oaddc(o, ',');
			put_str(o, name, strlen(name));
			oaddc(o, ':');
			put_str(o, bundle_csv_cell(c, at), c->len[at]);
		}
		oaddc(o, '}');
	}
	OLIT(o, "}}\n");
	return 0;
}

static int
parent_role(const char *r)
{
	return !strcmp(r, "parent") || !strcmp(r, "guardian") || !strcmp(r, "relative");
}

static void
write_out(struct run *R, FILE *to, enum cl_kind k)
{
	fwrite(R->line.p, 1, R->line.len, to);
	if (to == R->out)
		cl_stage_wrote(&R->st, k, 1);
}

/* Reads one file of the bundle and writes its records. */
static void
read_file(struct run *R, size_t fi)
{
	const struct file *f = &files[fi];
	struct bundle_csv c;
	struct layout L;
	struct cl_buf why = CL_BUF_INIT, fname = CL_BUF_INIT;
	unsigned long long rows = 0, records = 0, rejected = 0, parents = 0;
	size_t col = 0, role_at = (size_t)-1, i;
	jv counts;
	int rc;

	memset(&L, 0, sizeof L);
	cl_buf_addf(&fname, "%s%s.csv", R->src.zip ? R->src.prefix : "", f->coll);
	if (bundle_src_begin(&R->src, fname.p + (R->src.zip ? strlen(R->src.prefix) : 0)) < 0) {
		cl_stage_fail(&R->st, "CL136", "%s", R->src.why);
		R->stop = 1;
		goto out;
	}
	bundle_csv_init(&c, bundle_src_read, &R->src);
	rc = bundle_csv_next(&c);
	if (rc == 0) {
		cl_stage_fail(&R->st, "CL134",
		              "%s: empty: a file the manifest lists has a header line at least",
		              fname.p);
		R->stop = 1;
		goto done;
	}
	if (rc < 0)
		goto broken;
	if (layout_of(R, f, fname.p, &c, &L) < 0) {
		R->stop = 1;
		goto done;
	}
	if (f->kind == CL_K_USER)
		for (i = 0; f->cols[i].key; i++)
			if (!strcmp(f->cols[i].key, "role"))
				role_at = (size_t)L.at[i];
	while ((rc = bundle_csv_next(&c)) > 0) {
		rows++;
		cl_buf_reset(&why);
		col = 0;
		if (c.ncells != L.ncells) {
			cl_buf_addf(&why, "%zu cells where the header has %zu", c.ncells, L.ncells);
		} else if (build(R, f, &L, &c, &col, &why) == 0) {
			records++;
			if (role_at != (size_t)-1 && parent_role(bundle_csv_cell(&c, role_at))) {
				parents++;
				write_out(R, R->spool, CL_K_PARENT);
			} else {
				write_out(R, R->out, f->kind);
			}
			continue;
		}
		if (++rejected <= REPORT_MAX) {
			const char *id = L.at[0] >= 0 && (size_t)L.at[0] < c.ncells
			                         ? bundle_csv_cell(&c, (size_t)L.at[0])
			                         : "";

			if (col)
				cl_stage_fail(&R->st, "CL135", "%s:%llu:%zu: %s '%s': %s: left out",
				              fname.p, c.rec_line, col, cl_kind_name(f->kind), id,
				              why.p);
			else
				cl_stage_fail(&R->st, "CL135", "%s:%llu: %s '%s': %s: left out",
				              fname.p, c.rec_line, cl_kind_name(f->kind), id,
				              why.p);
		}
	}
	if (rc < 0)
		goto broken;
	goto done;
broken:
	if (c.io_error)
		cl_stage_fail(&R->st, "CL136", "%s", R->src.why);
	else
		cl_stage_fail(&R->st, "CL133", "%s:%s", fname.p, c.err);
	R->stop = 1;
done:
	if (rejected > REPORT_MAX)
		cl_stage_fail(&R->st, "CL135", "%s: %llu more records left out, as above", fname.p,
		              rejected - REPORT_MAX);
	bundle_csv_release(&c);
	bundle_src_end(&R->src);
	counts = jv_object();
	counts = jv_object_set(counts, jv_string("rows"), jv_number((double)rows));
	counts = jv_object_set(counts, jv_string("records"), jv_number((double)records));
	counts = jv_object_set(counts, jv_string("rejected"), jv_number((double)rejected));
	if (f->kind == CL_K_USER)
		counts = jv_object_set(counts, jv_string("parents"), jv_number((double)parents));
	R->st.counts = jv_object_set(R->st.counts, jv_string(f->coll), counts);
out:
	layout_release(&L);
	cl_buf_release(&why);
	cl_buf_release(&fname);
}

/* The parents, after the other users. Returns 0, or -1 after the failure. */
static int
flush_spool(struct run *R)
{
	char buf[1 << 16];
	size_t n;

	if (fflush(R->spool) != 0 || fseek(R->spool, 0, SEEK_SET) != 0) {
		cl_stage_fail(&R->st, "CL137", "cannot write the temporary file of parents:");
		return -1;
	}
	while ((n = fread(buf, 1, sizeof buf, R->spool)) > 0)
		fwrite(buf, 1, n, R->out);
	if (ferror(R->spool)) {
		cl_stage_fail(&R->st, "CL137", "cannot read the temporary file of parents back:");
		return -1;
	}
	return 0;
}

static void
write_header(struct run *R)
{
	jv src = jv_object(), fl = jv_object();
	char iso[32];
	size_t i;

	cl_iso8601(cl_now(), iso);
	src = jv_object_set(src, jv_string("bundle"), jv_string(R->path));
	src = jv_object_set(src, jv_string("oneroster"), jv_string("1.1"));
	src = jv_object_set(src, jv_string("started"), jv_string(iso));
	for (i = 0; i < NFILES; i++) {
		fl = jv_object_set(fl, jv_string(files[i].coll), jv_string(mode_names[R->mode[i]]));
		/* a delta file: the stream holds only changes, and cl-load deletes nothing */
		if (R->mode[i] == M_DELTA)
			R->st.delta = 1;
	}
	src = jv_object_set(src, jv_string("files"), fl);
	cl_stage_write_header(&R->st, R->out, NULL, src);
}

static void
read_all(struct run *R)
{
	const char *dir;
	size_t i;

	for (i = 0; i < NFILES && !R->stop; i++) {
		if (R->mode[i] == M_ABSENT)
			continue;
		if (files[i].kind == CL_K_USER) {
			R->spool = cl_spool_open("cl-bundle", &dir);
			if (!R->spool) {
				cl_stage_fail(&R->st, "CL137",
				              "cannot create a temporary file in '%s' for the "
				              "parents: %s",
				              dir, strerror(errno));
				return;
			}
		}
		read_file(R, i);
		if (files[i].kind == CL_K_USER) {
			/* the parents read before a broken line are written: they are whole */
			unsigned long long n = 0;
			jv u = jv_object_get(jv_copy(R->st.counts), jv_string("users"));

			if (jv_get_kind(u) == JV_KIND_OBJECT) {
				jv p = jv_object_get(u, jv_string("parents"));

				n = jv_get_kind(p) == JV_KIND_NUMBER
				            ? (unsigned long long)jv_number_value(p)
				            : 0;
				jv_free(p);
			} else {
				jv_free(u);
			}
			if (flush_spool(R) < 0)
				R->stop = 1;
			else
				cl_stage_wrote(&R->st, CL_K_PARENT, n);
			fclose(R->spool);
			R->spool = NULL;
		}
	}
}

int
main(int argc, char *argv[])
{
	static char outbuf[OUT_BUF];
	struct run R;
	struct cl_out dst = { 0 };
	struct cl_buf why = CL_BUF_INIT;
	int status, rc;

	cl_diag_init(argv[0]);
	memset(&R, 0, sizeof R);
	cl_stage_init(&R.st, "cl-bundle");
	R.st.first = 1;
	R.st.lines_counted = 1;
	cl_buf_init(&R.line);
	cl_buf_init(&R.tmp);
	cl_buf_init(&R.name);
	R.src.fd = -1;

	if ((status = parse_options(&R, argc, argv)) >= 0)
		goto out;
	if (bundle_src_open(&R.src, R.path) < 0) {
		status = cl_fail("CL130", "%s", R.src.why);
		goto out;
	}
	if ((status = read_manifest(&R)) != 0)
		goto out;
	/* -o, or stdout, must not be the zip or one of the folder's files */
	if (R.src.zip) {
		cl_out_note_input_path(R.path);
	} else {
		size_t i;

		for (i = 0; i <= NFILES; i++) {
			cl_buf_reset(&R.name);
			cl_buf_addf(&R.name, "%s/%s.csv", R.path,
			            i < NFILES ? files[i].coll : "manifest");
			cl_out_note_input_path(R.name.p);
		}
	}
	if (R.check_args) {
		status = CL_EX_OK; /* checked; the data files and the output left alone */
		goto out;
	}
	if (R.output && strcmp(R.output, "-") != 0) {
		if ((rc = cl_out_open(&dst, R.output, &why)) != 0) {
			status = cl_fail(rc == CL_OUT_SAME ? "CL010" : "CL137", "-o: %s", why.p);
			goto out;
		}
		R.out = dst.f;
	} else {
		if (cl_out_check_stdout(&why) == CL_OUT_SAME) {
			status = cl_fail("CL010", "%s", why.p);
			goto out;
		}
		R.out = stdout;
	}
	setvbuf(R.out, outbuf, _IOFBF, OUT_BUF);

	write_header(&R);
	read_all(&R);
	cl_stage_write_trailer(&R.st, R.out);
	status = cl_stage_status(&R.st);
	if (R.out != stdout) {
		if (ferror(R.out)) {
			errno = EIO;
			status = cl_fail("CL006", "cannot write '%s':", R.output);
			cl_out_abort(&dst);
		} else if (cl_out_commit(&dst, &why) < 0) {
			status = cl_fail("CL137", "-o: %s", why.p);
		}
		R.out = NULL;
	}
out:
	cl_out_abort(&dst);
	if (R.spool)
		fclose(R.spool);
	bundle_src_release(&R.src);
	cl_stage_release(&R.st);
	cl_buf_release(&R.line);
	cl_buf_release(&R.tmp);
	cl_buf_release(&R.name);
	cl_buf_release(&why);
	return cl_exit(status);
}
