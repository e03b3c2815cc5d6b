/* export.c: reading the School Manager user export with libcsv (export.h). */
#include "export.h"

#include <csv.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "errors.h"
#include "idmap.h"
#include "json.h"

#define READ_CHUNK ((size_t)64 << 10)
#define NAME_SHOWN 256 /* bytes of a header name kept for messages */

/*
 * Index values: the row's offset in the arena, shifted, two flags, and how
 * many roster users have the address (0, 1, or 2 for two or more).
 */
#define V_DUP ((uint64_t)1)
#define V_MATCHED ((uint64_t)2)
#define V_USERS_SHIFT 2
#define V_USERS ((uint64_t)3 << V_USERS_SHIFT)
#define V_SHIFT 4

/*
 * Row records in the arena: one flags byte, the id, NUL, then the email as
 * written when it differs from its normal form: with REC_CASE only in the case
 * of ASCII letters, a bit mask of its upper-case letters (one bit per byte of
 * the normal form); with REC_EMAIL otherwise, the email itself and a NUL.
 */
#define REC_EMAIL 1
#define REC_CASE 2
#define REC_ROLE_SHIFT 2

/* Spellings, squashed (match_header_squash), best first. */
static const char *const email_names[] = {
	"email",     "emailaddress",     "primaryemail", "primaryemailaddress",
	"useremail", "useremailaddress", "mail",         "emailid",
	NULL,
};
static const char *const id_names[] = {
	"id", "userid", "accountid", "schoolmanagerid", "smid", "smuserid", "useraccountid", NULL,
};
static const char *const role_names[] = {
	"role", "userrole", "type", "usertype", "accounttype", "roletype", NULL,
};

struct match_export {
	const char *path;
	const struct cl_aliases *aliases;
	struct cl_idmap *idx;
	struct cl_buf arena;
	struct match_export_stats st;
	char *col[3]; /* email, id, role headers as written */
	struct cl_buf out_email;
};

/* The reading state, alive only while the file is read. */
struct reader {
	struct match_export *x;
	const struct match_columns *want;
	unsigned long long line;  /* physical line being fed (1-based) */
	unsigned long long start; /* line where the current row started */
	int in_row;
	size_t field, nfields; /* field index in the row; the header's count */
	int header_done;
	long ci[3];    /* email, id, role column indexes; -1 none */
	char **hnames; /* header names as written (the first NAME_SHOWN bytes) */
	struct cl_buf cell[3], key, tmp, last_role;
	enum match_xrole last_xrole;
	int failed; /* an error was reported from a callback: status */
};

static void *
capped_realloc(void *p, size_t n)
{
	if (n > MATCH_CSV_FIELD_MAX + 1)
		return NULL; /* libcsv then halves its request, then fails with CSV_ENOMEM */
	return realloc(p, n);
}

void
match_header_squash(const char *s, size_t n, struct cl_buf *out)
{
	size_t i;

	cl_buf_reset(out);
	cl_buf_grow(out, n);
	out->p[0] = '\0';
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == ' ' || c == '_' || c == '-' || c == '.' || c == '\t')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		cl_buf_addc(out, c);
	}
}

__attribute__((format(printf, 3, 4))) static void
row_error(struct reader *r, unsigned long long line, const char *fmt, ...)
{
	struct cl_buf m = CL_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	cl_buf_vaddf(&m, fmt, ap);
	va_end(ap);
	r->failed = cl_fail("CL302", "%s:%llu: %s", r->x->path, line, m.p);
	cl_buf_release(&m);
}

/*
 * The header names, quoted and comma-separated, for a message: quoted as
 * JSON strings, so that control bytes and broken UTF-8 in a file's first
 * line reach neither the terminal nor the log as they are.
 */
static void
list_headers(const struct reader *r, struct cl_buf *out)
{
	size_t i;

	for (i = 0; i < r->nfields; i++) {
		if (i)
			cl_buf_adds(out, ", ");
		cl_json_put_str(out, r->hnames[i], strlen(r->hnames[i]));
	}
	if (r->nfields == 0)
		cl_buf_adds(out, "none");
}

/* Finds column k (0 email, 1 id, 2 role); returns 0, or -1 after a message. */
static int
find_column(struct reader *r, int k, const char *flag, const char *given, const char *const *names,
            int required)
{
	static const char *const what[] = { "an email", "an id", "a role" };
	struct cl_buf want = CL_BUF_INIT, h = CL_BUF_INIT, list = CL_BUF_INIT;
	const char *one[2] = { NULL, NULL };
	const char *const *names_at = names;
	size_t i, j;
	long hit = -1, again = -1;

	if (given) {
		match_header_squash(given, strlen(given), &want);
		one[0] = want.p;
		names_at = one;
	}
	for (j = 0; names_at[j] && hit < 0; j++) {
		for (i = 0; i < r->nfields; i++) {
			match_header_squash(r->hnames[i], strlen(r->hnames[i]), &h);
			if (strcmp(h.p, names_at[j]) != 0)
				continue;
			if (hit < 0)
				hit = (long)i;
			else if (again < 0)
				again = (long)i;
		}
	}
	r->ci[k] = hit;
	if (hit >= 0 && again >= 0) {
		cl_json_put_str(&list, r->hnames[hit], strlen(r->hnames[hit]));
		cl_diag("CL303",
		        "%s: columns %ld and %ld are both named %s: make the header unique",
		        r->x->path, hit + 1, again + 1, list.p);
	} else if (hit < 0 && (required || given)) {
		list_headers(r, &list);
		if (given)
			cl_diag("CL303", "%s: no column named \"%s\" (%s); the headers are: %s",
			        r->x->path, given, flag, list.p);
		else
			cl_diag("CL303",
			        "%s: no column looks like %s column; the headers are: %s; name it "
			        "with %s",
			        r->x->path, what[k], list.p, flag);
	} else {
		if (hit >= 0)
			r->x->col[k] = cl_xstrdup(r->hnames[hit]);
		hit = 0;
		again = -1;
	}
	cl_buf_release(&want);
	cl_buf_release(&h);
	cl_buf_release(&list);
	return hit >= 0 && again < 0 ? 0 : -1;
}

/*
 * A header that is one column holding semicolons or tabs: the file was saved
 * with another separator (Excel's "CSV" in regions where the decimal mark is
 * a comma, or "Text (Tab delimited)"). Returns 1 after a message.
 */
static int
other_separator(struct reader *r)
{
	struct cl_buf list = CL_BUF_INIT;
	const char *sep;

	if (r->nfields != 1 || (!strchr(r->hnames[0], ';') && !strchr(r->hnames[0], '\t')))
		return 0;
	sep = strchr(r->hnames[0], ';') ? "semicolons" : "tabs";
	list_headers(r, &list);
	r->failed = cl_fail("CL311",
	                    "%s: the columns are separated by %s, not commas (the header is %s): "
	                    "save the export as \"CSV UTF-8 (Comma delimited)\"",
	                    r->x->path, sep, list.p);
	cl_buf_release(&list);
	return 1;
}

static void
header_done(struct reader *r)
{
	r->header_done = 1;
	if (other_separator(r))
		return;
	if (find_column(r, 0, "--email-column", r->want->email, email_names, 1) < 0 ||
	    find_column(r, 1, "--id-column", r->want->id, id_names, 1) < 0 ||
	    find_column(r, 2, "--role-column", r->want->role, role_names, 0) < 0)
		r->failed = cl_error_status("CL303"); /* reported by find_column */
}

static void
trim(struct cl_buf *b)
{
	size_t i = 0, n = b->len;

	if (!b->p)
		return;
	while (i < n && strchr(" \t\r\n\v\f", b->p[i]) && b->p[i])
		i++;
	while (n > i && strchr(" \t\r\n\v\f", b->p[n - 1]) && b->p[n - 1])
		n--;
	if (i > 0)
		memmove(b->p, b->p + i, n - i);
	b->len = n - i;
	b->p[b->len] = '\0';
}

static enum match_xrole
role_of(struct reader *r, struct cl_buf *role)
{
	enum match_xrole x = MATCH_XROLE_UNKNOWN;

	if (r->last_role.p && role->len == r->last_role.len &&
	    memcmp(role->p, r->last_role.p, role->len) == 0)
		return r->last_xrole; /* roles repeat: Student, Teacher, Staff */
	cl_buf_reset(&r->last_role);
	cl_buf_add(&r->last_role, role->p, role->len);
	match_header_squash(role->p, role->len, &r->tmp);
	if (r->tmp.len == 0)
		return r->last_xrole = MATCH_XROLE_UNKNOWN;
	x = MATCH_XROLE_STAFF;
	if (strstr(r->tmp.p, "student") || strcmp(r->tmp.p, "pupil") == 0 ||
	    strcmp(r->tmp.p, "learner") == 0)
		x = MATCH_XROLE_STUDENT;
	r->last_xrole = x;
	return x;
}

/*
 * How to get the email as written (w, wn) back from its normal form (k, kn):
 * returns 0 (they are equal), REC_CASE with the case mask in out, or REC_EMAIL
 * with the email and a NUL in out.
 */
static unsigned char
as_written(const char *k, size_t kn, const char *w, size_t wn, struct cl_buf *out)
{
	size_t i;
	int differ = 0;

	cl_buf_reset(out);
	if (kn == wn) {
		for (i = 0; i < kn; i++) {
			if (k[i] == w[i])
				continue;
			if (!(w[i] >= 'A' && w[i] <= 'Z' && k[i] == w[i] - 'A' + 'a'))
				break;
			differ = 1;
		}
		if (i == kn && !differ)
			return 0;
		if (i == kn) {
			cl_buf_grow(out, (kn + 7) / 8);
			memset(out->p, 0, (kn + 7) / 8);
			for (i = 0; i < kn; i++)
				if (k[i] != w[i])
					out->p[i / 8] = (char)(out->p[i / 8] | 1 << (i % 8));
			out->len = (kn + 7) / 8;
			return REC_CASE;
		}
	}
	cl_buf_add(out, w, wn);
	cl_buf_addc(out, '\0');
	return REC_EMAIL;
}

static void
data_row(struct reader *r)
{
	struct match_export *x = r->x;
	enum cl_email_class c;
	uint64_t *v;
	int added, k;
	unsigned char flags;

	x->st.rows++;
	if (r->field != r->nfields) {
		row_error(r, r->start, "the row has %zu fields, the header has %zu", r->field,
		          r->nfields);
		return;
	}
	for (k = 0; k < 3; k++) {
		if (r->cell[k].len && memchr(r->cell[k].p, '\0', r->cell[k].len)) {
			row_error(r, r->start, "the %s field holds a NUL byte",
			          k == 0   ? "email"
			          : k == 1 ? "id"
			                   : "role");
			return;
		}
		if (!cl_utf8_valid(r->cell[k].p, r->cell[k].len)) {
			row_error(r, r->start,
			          "the %s field is not UTF-8: save the export as \"CSV UTF-8\"",
			          k == 0   ? "email"
			          : k == 1 ? "id"
			                   : "role");
			return;
		}
	}
	trim(&r->cell[0]);
	c = cl_email_norm(x->aliases, r->cell[0].p, r->cell[0].len, &r->key);
	if (c != CL_EMAIL_OK) {
		x->st.no_email++;
		return;
	}
	trim(&r->cell[1]);
	if (r->cell[1].len == 0) {
		x->st.no_id++;
		return;
	}
	v = cl_idmap_put(x->idx, r->key.p, r->key.len, &added);
	if (!added) {
		if (!(*v & V_DUP))
			x->st.dup_rows++; /* the first row of the pair */
		x->st.dup_rows++;
		*v |= V_DUP;
		return;
	}
	*v = (uint64_t)x->arena.len << V_SHIFT;
	flags = (unsigned char)(r->ci[2] >= 0 ? role_of(r, &r->cell[2]) << REC_ROLE_SHIFT : 0);
	flags |= as_written(r->key.p, r->key.len, r->cell[0].p, r->cell[0].len, &r->tmp);
	cl_buf_addc(&x->arena, (char)flags);
	cl_buf_add(&x->arena, r->cell[1].p, r->cell[1].len + 1);
	cl_buf_add(&x->arena, r->tmp.p, r->tmp.len);
}

static void
on_field(void *s, size_t n, void *data)
{
	struct reader *r = data;
	int k;

	if (r->failed)
		return;
	if (!r->in_row) {
		r->in_row = 1;
		r->start = r->line;
	}
	if (!r->header_done) {
		const char *p = s ? s : "";
		struct cl_buf shown = CL_BUF_INIT;

		if (r->field >= MATCH_CSV_COLUMNS_MAX) {
			row_error(r, r->start, "the header has more than %d columns",
			          MATCH_CSV_COLUMNS_MAX);
			return;
		}
		cl_buf_add(&shown, p, n < NAME_SHOWN ? n : NAME_SHOWN);
		trim(&shown);
		r->hnames = cl_xreallocarray(r->hnames, r->field + 1, sizeof *r->hnames);
		r->hnames[r->field] = cl_buf_detach(&shown, NULL);
		r->nfields = ++r->field;
		return;
	}
	for (k = 0; k < 3; k++)
		if (r->ci[k] >= 0 && (size_t)r->ci[k] == r->field)
			cl_buf_add(&r->cell[k], s ? s : "", s ? n : 0);
	r->field++;
}

static void
on_row(int c, void *data)
{
	struct reader *r = data;
	int k;

	(void)c;
	if (r->failed)
		return;
	if (!r->in_row) { /* cannot happen: libcsv ends no row it did not start */
		r->start = r->line;
	}
	if (!r->header_done)
		header_done(r);
	else
		data_row(r);
	for (k = 0; k < 3; k++)
		cl_buf_reset(&r->cell[k]);
	r->field = 0;
	r->in_row = 0;
}

/* Feeds one physical line (or the part of it in this chunk) to libcsv. */
static int
feed(struct reader *r, struct csv_parser *p, const char *s, size_t n)
{
	size_t i, got;

	if (!r->in_row)
		for (i = 0; i < n; i++)
			if (!strchr(" \t\r\n", s[i]) || s[i] == '\0') {
				r->in_row = 1;
				r->start = r->line;
				break;
			}
	got = csv_parse(p, s, n, on_field, on_row, r);
	if (r->failed)
		return -1;
	if (got < n) {
		int e = csv_error(p);

		if (e == CSV_EPARSE)
			row_error(r, r->line,
			          "malformed quoting: a '\"' inside a field that is not quoted, or "
			          "text after a closing quote");
		else
			row_error(r, r->line, "a field is longer than %zu bytes",
			          MATCH_CSV_FIELD_MAX);
		return -1;
	}
	return 0;
}

static int
read_all(struct reader *r, int fd, struct csv_parser *p)
{
	char *buf = cl_xmalloc(READ_CHUNK);
	size_t have = 0, off;
	int first = 1, rc = 0;
	ssize_t got;

	for (;;) {
		do
			got = read(fd, buf + have, READ_CHUNK - have);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			rc = cl_fail("CL301",
			             "%s: cannot read the School Manager export:", r->x->path);
			break;
		}
		have += (size_t)got;
		if (first && got > 0 && have < 3)
			continue; /* need three bytes to see a BOM */
		/* UTF-16 (Excel's "Unicode Text"): a BOM, or a NUL in the first two bytes */
		if (first && have >= 2 &&
		    ((buf[0] == '\xFF' && buf[1] == '\xFE') ||
		     (buf[0] == '\xFE' && buf[1] == '\xFF') || buf[0] == '\0' || buf[1] == '\0')) {
			rc = cl_fail("CL310",
			             "%s: the School Manager export is UTF-16 text, not UTF-8 CSV: "
			             "save it as \"CSV UTF-8 (Comma delimited)\"",
			             r->x->path);
			break;
		}
		off = 0;
		if (first && have >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
			off = 3;
		first = 0;
		while (off < have) {
			const char *nl = memchr(buf + off, '\n', have - off);
			size_t n = nl ? (size_t)(nl - (buf + off)) + 1 : have - off;

			if (feed(r, p, buf + off, n) < 0) {
				rc = r->failed;
				goto out;
			}
			if (nl)
				r->line++;
			off += n;
		}
		have = 0;
		if (got == 0)
			break;
	}
	if (rc == 0) {
		if (csv_fini(p, on_field, on_row, r) != 0) {
			if (!r->failed)
				row_error(r, r->start,
				          "a quoted field that starts in this row is never closed");
			rc = r->failed;
		} else if (r->failed) {
			rc = r->failed;
		} else if (!r->header_done) {
			rc = cl_fail("CL304",
			             "%s: the School Manager export is empty: not even a header",
			             r->x->path);
		}
	}
out:
	free(buf);
	return rc;
}

int
match_export_load(struct match_export **out, const char *path, const struct match_columns *cols,
                  const struct cl_aliases *aliases)
{
	struct match_export *x = cl_xcalloc(1, sizeof *x);
	struct reader r;
	struct csv_parser p;
	int fd, rc, k;
	size_t i;

	*out = NULL;
	x->path = path;
	x->aliases = aliases;
	x->idx = cl_idmap_new();
	cl_buf_init(&x->arena);
	cl_buf_init(&x->out_email);
	memset(&r, 0, sizeof r);
	for (k = 0; k < 3; k++)
		cl_buf_init(&r.cell[k]);
	cl_buf_init(&r.key);
	cl_buf_init(&r.tmp);
	cl_buf_init(&r.last_role);
	r.x = x;
	r.want = cols;
	r.line = 1;
	r.ci[0] = r.ci[1] = r.ci[2] = -1;
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = cl_fail("CL301", "%s: cannot open the School Manager export:", path);
		match_export_free(x);
		return rc;
	}
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
		cl_oom();
	csv_set_realloc_func(&p, capped_realloc);
	rc = read_all(&r, fd, &p);
	csv_free(&p);
	if (fd != STDIN_FILENO)
		close(fd);
	for (i = 0; i < r.nfields; i++)
		free(r.hnames[i]);
	free(r.hnames);
	for (k = 0; k < 3; k++)
		cl_buf_release(&r.cell[k]);
	cl_buf_release(&r.key);
	cl_buf_release(&r.tmp);
	cl_buf_release(&r.last_role);
	if (rc != 0) {
		match_export_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

void
match_export_free(struct match_export *x)
{
	int k;

	if (!x)
		return;
	cl_idmap_free(x->idx);
	cl_buf_release(&x->arena);
	cl_buf_release(&x->out_email);
	for (k = 0; k < 3; k++)
		free(x->col[k]);
	free(x);
}

const char *
match_export_column(const struct match_export *x, char which)
{
	return x->col[which == 'e' ? 0 : which == 'i' ? 1 : 2];
}

enum match_find
match_export_claim(struct match_export *x, const char *key, size_t n, const char **id,
                   const char **email, enum match_xrole *role)
{
	uint64_t *v = cl_idmap_get(x->idx, key, n);
	const char *rec;
	unsigned char flags;

	if (!v)
		return MATCH_FIND_NONE;
	if ((*v & V_USERS) >> V_USERS_SHIFT > 1)
		return MATCH_FIND_ROSTER_DUP;
	if (*v & V_DUP)
		return MATCH_FIND_DUP;
	if (!(*v & V_MATCHED)) {
		*v |= V_MATCHED;
		x->st.matched++;
	}
	rec = x->arena.p + (*v >> V_SHIFT);
	flags = (unsigned char)rec[0];
	*id = rec + 1;
	if (flags & REC_EMAIL) {
		*email = *id + strlen(*id) + 1;
	} else {
		const char *mask = *id + strlen(*id) + 1;
		size_t i;

		cl_buf_reset(&x->out_email);
		cl_buf_add(&x->out_email, key, n);
		if (flags & REC_CASE)
			for (i = 0; i < n; i++)
				if (mask[i / 8] & 1 << (i % 8))
					x->out_email.p[i] = (char)(x->out_email.p[i] - 'a' + 'A');
		*email = x->out_email.p;
	}
	*role = (enum match_xrole)(flags >> REC_ROLE_SHIFT);
	return MATCH_FIND_ONE;
}

int
match_export_count_user(struct match_export *x, const char *key, size_t n)
{
	uint64_t *v = cl_idmap_get(x->idx, key, n);

	if (!v)
		return 0;
	if ((*v & V_USERS) >> V_USERS_SHIFT < 2)
		*v += (uint64_t)1 << V_USERS_SHIFT;
	return 1;
}

const struct match_export_stats *
match_export_stats(const struct match_export *x)
{
	return &x->st;
}

size_t
match_export_bytes(const struct match_export *x)
{
	return cl_idmap_bytes(x->idx) + x->arena.cap;
}
