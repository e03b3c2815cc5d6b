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
 * Index values (one index per match key): the row's offset in the arena,
 * shifted, a flag (another row has the value too; bit 1 is unused), and how
 * many roster users have the value (0, 1, or 2 for two or more).
 */
#define V_DUP ((uint64_t)1)
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
#define REC_ROLE_SHIFT 2 /* two bits */
#define REC_ROLE_MASK 3
#define REC_TAKEN 16  /* matched by a roster user */
#define REC_CLAIM1 32 /* match_export_note_claim: one roster user would take it */
#define REC_CLAIM2 64 /* ... two or more */

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
/* A username key falls back on the email column when none of these is there. */
static const char *const username_names[] = {
	"username",          "login", "loginname",      "userlogin", "loginid", "logonname",
	"userprincipalname", "upn",   "samaccountname", NULL,
};
static const char *const identifier_names[] = {
	"identifier", "sisid",   "sisidentifier", "studentid", "studentnumber",
	"localid",    "staffid", "employeeid",    NULL,
};

struct match_export {
	const char *path;
	const struct cl_aliases *aliases;
	struct cl_idmap *idx;
	struct cl_buf arena;
	struct match_export_stats st;
	char *col[3]; /* email, id, role headers as written */
	struct cl_buf out_email;
	/* the match keys: each one's index (the email key's is idx) and column header */
	const struct match_key *keys;
	size_t nkeys;
	int verbatim; /* rows keep their email as written (several keys, or no email key) */
	int by_email; /* an email key is among the keys: idx is built */
	struct cl_idmap *kidx[MATCH_KEYS_MAX];
	char *kcol[MATCH_KEYS_MAX];
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
	long ci[3];               /* email, id, role column indexes; -1 none */
	long kci[MATCH_KEYS_MAX]; /* each match key's column (the email key's is ci[0]) */
	char **hnames;            /* header names as written (the first NAME_SHOWN bytes) */
	struct cl_buf cell[3], key, tmp, last_role;
	struct cl_buf kcell[MATCH_KEYS_MAX], kkey;
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

/*
 * Finds a column: the one named given, else the first of names (squashed
 * spellings, best first) among the headers; sets *ci (-1: none) and *col
 * (its header as written, owned). Returns 0, or -1 after a message: two
 * columns with the name, or none when given or required.
 */
static int
find_named(struct reader *r, const char *what, const char *flag, const char *given,
           const char *const *names, int required, long *ci, char **col)
{
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
	*ci = hit;
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
			        r->x->path, what, list.p, flag);
	} else {
		if (hit >= 0)
			*col = cl_xstrdup(r->hnames[hit]);
		hit = 0;
		again = -1;
	}
	cl_buf_release(&want);
	cl_buf_release(&h);
	cl_buf_release(&list);
	return hit >= 0 && again < 0 ? 0 : -1;
}

/* Finds column k (0 email, 1 id, 2 role); returns 0, or -1 after a message. */
static int
find_column(struct reader *r, int k, const char *flag, const char *given, const char *const *names,
            int required)
{
	static const char *const what[] = { "an email", "an id", "a role" };

	return find_named(r, what[k], flag, given, names, required, &r->ci[k], &r->x->col[k]);
}

/*
 * Finds the column of every match key but email (which reads the email
 * column): the one --key-column names, else by spelling; a username key
 * falls back on the email column, an identifier or userIds key has none
 * (CL303). Returns 0, or -1 after a message.
 */
static int
find_key_columns(struct reader *r)
{
	struct match_export *x = r->x;
	struct cl_buf flag = CL_BUF_INIT, what = CL_BUF_INIT, sq = CL_BUF_INIT;
	size_t k;
	int rc = 0;

	for (k = 0; k < x->nkeys && rc == 0; k++) {
		const struct match_key *key = &x->keys[k];
		const char *one[2] = { NULL, NULL };
		const char *const *names = one;

		r->kci[k] = -1;
		if (key->kind == MATCH_KEY_EMAIL) {
			r->kci[k] = r->ci[0];
			continue;
		}
		cl_buf_reset(&flag);
		cl_buf_addf(&flag, "--key-column %s=NAME", key->name);
		cl_buf_reset(&what);
		cl_buf_addf(&what, "the %s key's", key->name);
		if (key->kind == MATCH_KEY_USERNAME)
			names = username_names;
		else if (key->kind == MATCH_KEY_IDENTIFIER)
			names = identifier_names;
		else {
			match_header_squash(key->type, strlen(key->type), &sq);
			one[0] = sq.p;
		}
		rc = find_named(r, what.p, flag.p, key->column, names,
		                key->kind != MATCH_KEY_USERNAME, &r->kci[k], &x->kcol[k]);
		if (rc == 0 && r->kci[k] < 0) { /* a username in the email column */
			r->kci[k] = r->ci[0];
			x->kcol[k] = cl_xstrdup(x->col[0]);
		}
	}
	cl_buf_release(&flag);
	cl_buf_release(&what);
	cl_buf_release(&sq);
	return rc;
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
	    find_column(r, 2, "--role-column", r->want->role, role_names, 0) < 0 ||
	    find_key_columns(r) < 0)
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

/* Checks a cell: no NUL, UTF-8. Returns 0, or -1 after a row error. */
static int
cell_ok(struct reader *r, const struct cl_buf *c, const char *what)
{
	if (c->len && memchr(c->p, '\0', c->len)) {
		row_error(r, r->start, "the %s field holds a NUL byte", what);
		return -1;
	}
	if (!cl_utf8_valid(c->p, c->len)) {
		row_error(r, r->start,
		          "the %s field is not UTF-8: save the export as \"CSV UTF-8\"", what);
		return -1;
	}
	return 0;
}

/* Appends the row's record to the arena; returns its offset. */
static size_t
add_row(struct reader *r)
{
	struct match_export *x = r->x;
	size_t off = x->arena.len;
	unsigned char flags;

	flags = (unsigned char)(r->ci[2] >= 0 ? role_of(r, &r->cell[2]) << REC_ROLE_SHIFT : 0);
	if (x->verbatim) {
		flags |= REC_EMAIL;
		cl_buf_reset(&r->tmp);
		cl_buf_add(&r->tmp, r->cell[0].p ? r->cell[0].p : "", r->cell[0].len);
		cl_buf_addc(&r->tmp, '\0');
	} else {
		flags |= as_written(r->key.p, r->key.len, r->cell[0].p, r->cell[0].len, &r->tmp);
	}
	cl_buf_addc(&x->arena, (char)flags);
	cl_buf_add(&x->arena, r->cell[1].p, r->cell[1].len + 1);
	cl_buf_add(&x->arena, r->tmp.p, r->tmp.len);
	return off;
}

/*
 * Indexes value (n bytes) of key k for the row (added to the arena at the
 * first key that indexes it: *off, SIZE_MAX until then).
 */
static void
index_value(struct reader *r, size_t k, const char *value, size_t n, size_t *off)
{
	struct match_export *x = r->x;
	uint64_t *v;
	int added;

	v = cl_idmap_put(x->kidx[k], value, n, &added);
	if (!added) {
		if (x->keys[k].kind == MATCH_KEY_EMAIL) {
			if (!(*v & V_DUP))
				x->st.dup_rows++; /* the first row of the pair */
			x->st.dup_rows++;
		}
		*v |= V_DUP;
		return;
	}
	if (*off == SIZE_MAX)
		*off = add_row(r);
	*v = (uint64_t)*off << V_SHIFT;
}

static void
data_row(struct reader *r)
{
	struct match_export *x = r->x;
	enum cl_email_class c;
	size_t k, off = SIZE_MAX;
	int email_ok;

	x->st.rows++;
	if (r->field != r->nfields) {
		row_error(r, r->start, "the row has %zu fields, the header has %zu", r->field,
		          r->nfields);
		return;
	}
	if (cell_ok(r, &r->cell[0], "email") < 0 || cell_ok(r, &r->cell[1], "id") < 0 ||
	    cell_ok(r, &r->cell[2], "role") < 0)
		return;
	trim(&r->cell[0]);
	c = cl_email_norm(x->aliases, r->cell[0].p, r->cell[0].len, &r->key);
	email_ok = c == CL_EMAIL_OK;
	if (!email_ok) {
		x->st.no_email++;
		if (!x->verbatim)
			return;
	}
	trim(&r->cell[1]);
	if (r->cell[1].len == 0) {
		if (email_ok)
			x->st.no_id++;
		return;
	}
	for (k = 0; k < x->nkeys; k++) {
		const struct cl_buf *cell;

		if (x->keys[k].kind == MATCH_KEY_EMAIL) {
			if (email_ok)
				index_value(r, k, r->key.p, r->key.len, &off);
			continue;
		}
		cell = r->kci[k] == r->ci[0] ? &r->cell[0] : &r->kcell[k];
		if (cell != &r->cell[0] && cell_ok(r, cell, x->keys[k].name) < 0)
			return;
		if (match_key_norm(x->keys[k].kind, x->aliases, cell->p, cell->len, &r->kkey) !=
		    CL_EMAIL_NONE)
			index_value(r, k, r->kkey.p, r->kkey.len, &off);
	}
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
	if (r->x->verbatim)
		for (k = 0; (size_t)k < r->x->nkeys; k++)
			if (r->kci[k] >= 0 && (size_t)r->kci[k] == r->field &&
			    r->kci[k] != r->ci[0])
				cl_buf_add(&r->kcell[k], s ? s : "", s ? n : 0);
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
	for (k = 0; (size_t)k < r->x->nkeys; k++)
		cl_buf_reset(&r->kcell[k]);
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

static const struct match_key email_only = { MATCH_KEY_EMAIL, "email", NULL, NULL };

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
	x->keys = cols->nkeys ? cols->keys : &email_only;
	x->nkeys = cols->nkeys ? cols->nkeys : 1;
	for (i = 0; i < x->nkeys; i++) {
		if (x->keys[i].kind == MATCH_KEY_EMAIL) {
			x->kidx[i] = x->idx;
			x->by_email = 1;
		} else {
			x->kidx[i] = cl_idmap_new();
		}
	}
	x->verbatim = x->nkeys != 1 || !x->by_email;
	memset(&r, 0, sizeof r);
	for (k = 0; k < 3; k++)
		cl_buf_init(&r.cell[k]);
	for (i = 0; i < MATCH_KEYS_MAX; i++) {
		cl_buf_init(&r.kcell[i]);
		r.kci[i] = -1;
	}
	cl_buf_init(&r.kkey);
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
	for (i = 0; i < MATCH_KEYS_MAX; i++)
		cl_buf_release(&r.kcell[i]);
	cl_buf_release(&r.kkey);
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
	size_t i;
	int k;

	if (!x)
		return;
	for (i = 0; i < x->nkeys; i++) {
		if (x->kidx[i] != x->idx)
			cl_idmap_free(x->kidx[i]);
		free(x->kcol[i]);
	}
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

const char *
match_export_key_column(const struct match_export *x, size_t k)
{
	return x->keys[k].kind == MATCH_KEY_EMAIL ? x->col[0] : x->kcol[k];
}

enum match_find
match_export_find(struct match_export *x, size_t k, const char *key, size_t n, size_t *row)
{
	uint64_t *v = cl_idmap_get(x->kidx[k], key, n);

	if (!v)
		return MATCH_FIND_NONE;
	if ((*v & V_USERS) >> V_USERS_SHIFT > 1)
		return MATCH_FIND_ROSTER_DUP;
	if (*v & V_DUP)
		return MATCH_FIND_DUP;
	*row = (size_t)(*v >> V_SHIFT);
	return MATCH_FIND_ONE;
}

void
match_export_take(struct match_export *x, size_t row, const char *key, size_t n, const char **id,
                  const char **email, enum match_xrole *role)
{
	char *rec = x->arena.p + row;
	unsigned char flags = (unsigned char)rec[0];

	if (!(flags & REC_TAKEN)) {
		rec[0] = (char)(flags | REC_TAKEN);
		x->st.matched++;
	}
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
	*role = (enum match_xrole)((flags >> REC_ROLE_SHIFT) & REC_ROLE_MASK);
}

int
match_export_note_claim(struct match_export *x, size_t row)
{
	char *rec = x->arena.p + row;

	if (rec[0] & REC_CLAIM1)
		rec[0] = (char)(rec[0] | REC_CLAIM2);
	else
		rec[0] = (char)(rec[0] | REC_CLAIM1);
	return match_export_claims(x, row);
}

int
match_export_claims(const struct match_export *x, size_t row)
{
	unsigned char flags = (unsigned char)x->arena.p[row];

	return flags & REC_CLAIM2 ? 2 : flags & REC_CLAIM1 ? 1 : 0;
}

enum match_find
match_export_claim(struct match_export *x, const char *key, size_t n, const char **id,
                   const char **email, enum match_xrole *role)
{
	enum match_find f;
	size_t row;

	if ((f = match_export_find(x, 0, key, n, &row)) == MATCH_FIND_ONE)
		match_export_take(x, row, key, n, id, email, role);
	return f;
}

int
match_export_count_user(struct match_export *x, size_t k, const char *key, size_t n)
{
	uint64_t *v = cl_idmap_get(x->kidx[k], key, n);

	if (!v)
		return 0;
	if ((*v & V_USERS) >> V_USERS_SHIFT < 2)
		*v += (uint64_t)1 << V_USERS_SHIFT;
	return 1;
}

enum cl_email_class
match_key_norm(enum match_key_kind kind, const struct cl_aliases *a, const char *s, size_t n,
               struct cl_buf *out)
{
	enum cl_email_class c = cl_email_norm(a, s, n, out);

	if (kind == MATCH_KEY_EMAIL || c == CL_EMAIL_NONE)
		return c;
	return CL_EMAIL_OK;
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
