/*
 * cl-match: joins the roster's users to School Manager's accounts by
 * normalised email (or by an ordered list of match keys: email, username,
 * identifier, userIds:TYPE), annotating each user line with "match" (and
 * "unmatched" with a reason, and the key it failed on, when there is
 * none). Every other line passes through byte for byte. See cl-match.1.
 *
 * A user is decided only once every user was seen (a duplicate may come
 * last), so the users are read twice (spool.h). A stream in a regular file
 * is read again from the file: nothing is written, and the second pass
 * reads each user's role and keys again from its line (reread_values). A
 * piped stream is spooled to a compressed temporary file: with email alone
 * (the default) each user line with its normalised email; with other keys
 * the line alone, its keys read again on the way back (key_values). With
 * several keys the users are replayed twice: once to count, per account,
 * the users that would take it (two users reaching one account by
 * different keys are refused as a duplicate), once to decide and write.
 *
 * Why the file's second pass keeps nothing about a user (measured on the
 * 100,000-student district, 105,020 users, 74 MB of user lines): reading a
 * user's role and email again costs 0.065 s of CPU, a tenth of cl-match's
 * 0.6 s; keeping them instead (class, role, the key) would be a 6 MB spool
 * in TMPDIR (60 MB at a million students), as large as the whole spool
 * compressed, and a TMPDIR the run needs. Reading the file again costs what
 * the plain spool of 80 MB did (0.60 s of CPU for the run, against 0.57 s
 * when the spool stayed in the page cache) and writes nothing.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jv.h>

#include "cli.h"
#include "diag.h"
#include "email.h"
#include "export.h"
#include "idmap.h"
#include "out.h"
#include "report.h"
#include "role.h"
#include "spool.h"
#include "stream.h"

#define OUT_BUF ((size_t)1 << 20)

enum reason {
	WHY_NO_EMAIL,
	WHY_MASKED,
	WHY_NOT_FOUND,
	WHY_DUP_EXPORT,
	WHY_DUP_ROSTER,
	WHY_NO_USERNAME,
	WHY_NO_IDENTIFIER,
	WHY_NO_USER_ID,
	WHY_COUNT,
};

static const char *const reason_name[WHY_COUNT] = {
	"no-email",    "masked-email",  "not-found",  "duplicate-in-export", "duplicate-in-roster",
	"no-username", "no-identifier", "no-user-id",
};

static const char *const reason_todo[WHY_COUNT] = {
	"the SIS has no email for this user: enter the address School Manager has for the "
	"account in the SIS",
	"ClassLink sends a masked or placeholder email: let this app see email addresses in "
	"ClassLink's DataGuard settings, or fix the address in the SIS",
	"no School Manager account has this email: check the address in the SIS and that the "
	"account exists in School Manager; if the SIS uses another domain, add --domain-alias",
	"several School Manager accounts have this email: remove or correct the extra account in "
	"School Manager",
	"several users in the SIS have this email: give each user their own address in the SIS",
	"the SIS has no username for this user: enter it in the SIS, or match on another key",
	"the SIS has no identifier for this user: enter it in the SIS, or match on another key",
	"the SIS has no userIds entry of this type for this user: enter it in the SIS, or match "
	"on another key",
};

/* The most --key-column options. */
#define KEY_COLUMNS_MAX 16

/* The fields key_values reads from a user line (kq), and from a userIds entry (idq). */
enum { KQ_EMAIL, KQ_USERNAME, KQ_IDENTIFIER, KQ_USERIDS, KQ_COUNT };
static const char *const key_paths[KQ_COUNT] = {
	"data.email",
	"data.username",
	"data.identifier",
	"data.userIds[]",
};
static const char *const userid_paths[] = { "type", "identifier" };

/*
 * The fields the second pass reads again from a user line when the spool
 * is the input itself (it keeps nothing about a user): its kind, its role
 * (as the reader finds it: lib/role.h) and its email.
 */
enum { VQ_KIND, VQ_EMAIL, VQ_DATA, VQ_ROLE, VQ_COUNT = VQ_ROLE + CL_RP_COUNT };
static const char *const value_paths[VQ_COUNT] = {
	"kind",
	"data.email",
	"data",
	"data.role",
	"data.roles[]",
	"data.roles[].roleType",
	"data.roles[].role",
	"data.roles[].org.sourcedId",
	"data.primaryOrg.sourcedId",
};

/* A user's value for one key: its class and its normal form (borrowed). */
struct key_value {
	int cls; /* enum cl_email_class */
	const char *p;
	size_t n;
};

struct opts {
	const char *users;
	const char *unmatched;
	const char *input;      /* the stream's path, or NULL: stdin */
	const char *input_name; /* for messages: the path, or "<stdin>" */
	struct match_columns cols;
	struct match_key keys[MATCH_KEYS_MAX];
	char *keys_arg; /* --match-keys, copied: the keys' names point into it */
	struct {
		const char *key, *col;
	} key_cols[KEY_COLUMNS_MAX]; /* --key-column KEY=NAME, split */
	size_t nkey_cols;
	char *key_col_args[KEY_COLUMNS_MAX];
	struct cl_aliases aliases;
	jv alias_args;
	size_t max_line;
	int no_bom;     /* --no-bom: the report without a byte order mark */
	int check_args; /* --check-args: stop once the inputs are open and the export read */
};

/* Everything the run holds, freed in one place. */
struct run {
	struct opts *o;
	struct cl_stage st;
	struct cl_reader *rd;
	struct match_export *x;
	struct cl_idmap *roster; /* emails the export lacks -> users with it (saturates at 2) */
	struct match_spool *spool;
	/* a regular file is read twice, not spooled: its fd, its state when opened */
	int in_fd, seekable;
	struct stat in_st;
	off_t off, line_off;      /* the input's offset after the line read, and of its start */
	struct cl_json_query *vq; /* value_paths, when the users are read again */
	struct cl_json_result *vres;
	struct match_report *report;
	struct cl_json_query *q; /* the fields the report needs */
	struct cl_json_result *res;
	struct cl_buf key, tmp, out, todo;
	size_t f_email, f_match, f_unmatched;
	int replayed;
	unsigned long long users, parents, matched[CL_ROLE_OTHER + 1], unmatched[WHY_COUNT],
	        role_differs;
	unsigned long long usable, withheld;
	/* the match keys: more than email alone is "multi" */
	int multi, claims_known;
	struct key_value kv[MATCH_KEYS_MAX];
	struct cl_buf kbuf[MATCH_KEYS_MAX];
	struct cl_idmap *roster_k[MATCH_KEYS_MAX]; /* as roster, per key (roster_k[0] is roster) */
	struct cl_json_query *kq, *idq;
	struct cl_json_result *kres, *idres;
	unsigned long long matched_by[MATCH_KEYS_MAX], unmatched_by[MATCH_KEYS_MAX][WHY_COUNT];
};

static const char usage[] =
        "usage: cl-match --users EXPORT.csv [--email-column NAME] [--id-column NAME]\n"
        "                [--role-column NAME] [--match-keys KEY[,KEY]...]\n"
        "                [--key-column KEY=NAME]... [--domain-alias FROM=TO]...\n"
        "                [--unmatched REPORT.csv] [--no-bom] [--max-line BYTES] [FILE]\n";

enum { OPT_NO_BOM = CL_OPT_LONG };

static const struct cl_opt options[] = {
	{ 'u', "users", CL_ARG_REQUIRED, "EXPORT.csv",
	  "the School Manager user export (required)" },
	{ 'e', "email-column", CL_ARG_REQUIRED, "NAME",
	  "the export's email column (default: found by name)" },
	{ 'i', "id-column", CL_ARG_REQUIRED, "NAME", "the export's account id column" },
	{ 'r', "role-column", CL_ARG_REQUIRED, "NAME", "the export's role column (optional)" },
	{ 'k', "match-keys", CL_ARG_REQUIRED, "KEY,...",
	  "match on these keys in order: email, username, identifier, userIds:TYPE "
	  "(default email)" },
	{ 'K', "key-column", CL_ARG_REQUIRED, "KEY=NAME",
	  "the export column a match key is matched against (repeatable)" },
	{ 'a', "domain-alias", CL_ARG_REQUIRED, "FROM=TO",
	  "treat addresses at FROM as at TO (repeatable)" },
	{ 'o', "unmatched", CL_ARG_REQUIRED, "REPORT.csv",
	  "write the users that matched no account" },
	{ OPT_NO_BOM, "no-bom", CL_ARG_NONE, NULL,
	  "no UTF-8 byte order mark at the start of the report (Excel needs it)" },
	{ 'm', "max-line", CL_ARG_REQUIRED, "BYTES",
	  "the longest stream line accepted (default 64 MiB)" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = { "cl-match", usage,
	                           "Join roster users to School Manager accounts by email, or by\n"
	                           "an ordered list of match keys.\n",
	                           options };

/* Trims ASCII spaces at both ends of s in place; returns s. */
static char *
trim_spaces(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* Reads --match-keys into o->keys. Returns 0, or a usage error's status. */
static int
parse_keys(struct opts *o, const char *arg)
{
	char *p, *item, *save = NULL;
	size_t i;

	free(o->keys_arg);
	o->keys_arg = cl_xstrdup(arg);
	o->cols.nkeys = 0;
	for (p = o->keys_arg; (item = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		struct match_key k = { MATCH_KEY_EMAIL, NULL, NULL, NULL };

		item = trim_spaces(item);
		k.name = item;
		if (strcmp(item, "email") == 0)
			k.kind = MATCH_KEY_EMAIL;
		else if (strcmp(item, "username") == 0)
			k.kind = MATCH_KEY_USERNAME;
		else if (strcmp(item, "identifier") == 0)
			k.kind = MATCH_KEY_IDENTIFIER;
		else if (strncmp(item, "userIds:", 8) == 0 && item[8] != '\0') {
			k.kind = MATCH_KEY_USERIDS;
			k.type = item + 8;
		} else
			return cl_usage_error(&cmd,
			                      "--match-keys: '%s' is not a key (email, username, "
			                      "identifier, userIds:TYPE)",
			                      item);
		for (i = 0; i < o->cols.nkeys; i++)
			if (strcmp(o->keys[i].name, k.name) == 0)
				return cl_usage_error(&cmd, "--match-keys: '%s' is there twice",
				                      item);
		if (o->cols.nkeys == MATCH_KEYS_MAX)
			return cl_usage_error(&cmd, "--match-keys: more than %d keys",
			                      MATCH_KEYS_MAX);
		o->keys[o->cols.nkeys++] = k;
	}
	if (o->cols.nkeys == 0)
		return cl_usage_error(&cmd, "--match-keys needs at least one key");
	return 0;
}

/* Gives every --key-column to its key. Returns 0, or a usage error's status. */
static int
resolve_key_columns(struct opts *o)
{
	size_t i, k;

	for (i = 0; i < o->nkey_cols; i++) {
		for (k = 0; k < o->cols.nkeys; k++)
			if (strcmp(o->keys[k].name, o->key_cols[i].key) == 0)
				break;
		if (k == o->cols.nkeys)
			return cl_usage_error(&cmd,
			                      "--key-column '%s=%s': '%s' is not one of the "
			                      "--match-keys",
			                      o->key_cols[i].key, o->key_cols[i].col,
			                      o->key_cols[i].key);
		if (o->keys[k].kind == MATCH_KEY_EMAIL)
			return cl_usage_error(&cmd,
			                      "--key-column '%s=%s': the email key reads the "
			                      "email column: name it with --email-column",
			                      o->key_cols[i].key, o->key_cols[i].col);
		o->keys[k].column = o->key_cols[i].col;
	}
	return 0;
}

/* Reads the command line into o. Returns -1 to go on, or the status to exit with. */
static int
parse_options(struct opts *o, int argc, char *argv[])
{
	struct cl_getopt g;
	int c, rc;

	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case 'u':
			o->users = g.arg;
			break;
		case 'e':
			o->cols.email = g.arg;
			break;
		case 'i':
			o->cols.id = g.arg;
			break;
		case 'r':
			o->cols.role = g.arg;
			break;
		case 'k':
			if ((rc = parse_keys(o, g.arg)) != 0)
				return rc;
			break;
		case 'K': {
			char *eq;

			if (o->nkey_cols == KEY_COLUMNS_MAX)
				return cl_usage_error(&cmd, "--key-column: more than %d",
				                      KEY_COLUMNS_MAX);
			o->key_col_args[o->nkey_cols] = cl_xstrdup(g.arg); /* freed at out: */
			eq = strchr(o->key_col_args[o->nkey_cols], '=');
			if (!eq || eq == o->key_col_args[o->nkey_cols] || !eq[1]) {
				o->nkey_cols++;
				return cl_usage_error(&cmd, "--key-column '%s' is not KEY=NAME",
				                      g.arg);
			}
			*eq = '\0';
			o->key_cols[o->nkey_cols].key = o->key_col_args[o->nkey_cols];
			o->key_cols[o->nkey_cols].col = eq + 1;
			o->nkey_cols++;
			break;
		}
		case 'a':
			if ((rc = cl_aliases_add(&o->aliases, g.arg)) == -2)
				return cl_usage_error(
				        &cmd,
				        "--domain-alias '%s' makes a chain of aliases: "
				        "map every domain straight to the one School "
				        "Manager uses",
				        g.arg);
			if (rc < 0)
				return cl_usage_error(
				        &cmd, "--domain-alias '%s' is not FROM=TO (two domains)",
				        g.arg);
			o->alias_args = jv_array_append(o->alias_args, jv_string(g.arg));
			break;
		case 'o':
			if (cl_getopt_file(&g, &o->unmatched) != 0)
				return CL_EX_USAGE;
			break;
		case OPT_NO_BOM:
			o->no_bom = 1;
			break;
		case 'm':
			if (cl_getopt_bytes(&g, &o->max_line) != 0)
				return CL_EX_USAGE;
			break;
		default: /* CL_OPT_EXIT */
			return g.status;
		}
	}
	if ((c = cl_getopt_input(&g, &o->input)) >= 0)
		return c;
	o->input_name = o->input ? o->input : "<stdin>";
	if (!o->users)
		return cl_usage_error(&cmd, "--users EXPORT.csv is required");
	if (strcmp(o->users, "-") == 0 && !o->input)
		return cl_usage_error(&cmd,
		                      "the export and the stream cannot both be standard input");
	if ((o->cols.email && !*o->cols.email) || (o->cols.id && !*o->cols.id) ||
	    (o->cols.role && !*o->cols.role))
		return cl_usage_error(&cmd, "a column name cannot be empty");
	if (o->cols.nkeys == 0) {
		o->keys[0].kind = MATCH_KEY_EMAIL;
		o->keys[0].name = "email";
		o->cols.nkeys = 1;
	}
	o->cols.keys = o->keys;
	if ((rc = resolve_key_columns(o)) != 0)
		return rc;
	o->check_args = g.check_args;
	return -1;
}

/* 1 when the n bytes at v equal the NUL-terminated lit, ignoring ASCII case. */
static int
ieq(const char *v, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char a = v[i], b = lit[i];

		if (b == '\0')
			return 0;
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return 0;
	}
	return lit[n] == '\0';
}

/* The identifier of the user's first userIds entry of type (ASCII case ignored), or NULL. */
static const struct cl_json_span *
user_id_of(struct run *r, const char *type)
{
	size_t i, n = cl_json_result_count(r->kres, KQ_USERIDS);

	for (i = 0; i < n; i++) {
		const struct cl_json_span *e = cl_json_result_get(r->kres, KQ_USERIDS, i);
		struct cl_str t;

		if (e->type != CL_JSON_OBJECT ||
		    cl_json_scan(r->idq, e->p, e->n, r->idres, NULL) < 0)
			continue;
		if (cl_json_strview(cl_json_result_first(r->idres, 0), &r->tmp, &t) == 0 &&
		    ieq(t.p, t.n, type))
			return cl_json_result_first(r->idres, 1);
	}
	return NULL;
}

/* Reads a user line's value for every match key into r->kv (several keys). */
static void
key_values(struct run *r, const char *line, size_t n)
{
	const struct match_columns *c = &r->o->cols;
	size_t k;

	if (cl_json_scan(r->kq, line, n, r->kres, NULL) < 0) { /* the reader checked it */
		for (k = 0; k < c->nkeys; k++)
			r->kv[k].cls = CL_EMAIL_NONE;
		return;
	}
	for (k = 0; k < c->nkeys; k++) {
		const struct match_key *key = &c->keys[k];
		const struct cl_json_span *v;

		switch (key->kind) {
		case MATCH_KEY_EMAIL:
			v = cl_json_result_first(r->kres, KQ_EMAIL);
			break;
		case MATCH_KEY_USERNAME:
			v = cl_json_result_first(r->kres, KQ_USERNAME);
			break;
		case MATCH_KEY_IDENTIFIER:
			v = cl_json_result_first(r->kres, KQ_IDENTIFIER);
			break;
		default:
			v = user_id_of(r, key->type);
			break;
		}
		cl_buf_reset(&r->kbuf[k]);
		if (cl_json_str_set(v, &r->tmp) < 0)
			r->kv[k].cls = CL_EMAIL_NONE;
		else
			r->kv[k].cls = (int)match_key_norm(key->kind, &r->o->aliases, r->tmp.p,
			                                   r->tmp.len, &r->kbuf[k]);
		r->kv[k].p = r->kbuf[k].p ? r->kbuf[k].p : "";
		r->kv[k].n = r->kbuf[k].len;
	}
}

/* Counts a roster user with value (p, n) of key k: in the export's index, else in roster_k. */
static void
count_roster(struct run *r, size_t k, const char *p, size_t n)
{
	uint64_t *count;

	if (match_export_count_user(r->x, k, p, n))
		return;
	count = cl_idmap_put(r->roster_k[k], p, n, NULL);
	if (*count < 2)
		++*count;
}

/* A user line on the first pass: count its email (its keys), spool it. */
static int
take_user(struct run *r, const struct cl_line *ln)
{
	const struct cl_json_span *em = cl_reader_field(r->rd, r->f_email);
	struct match_spooled rec;
	const char *dir;

	if (cl_reader_field(r->rd, r->f_match) || cl_reader_field(r->rd, r->f_unmatched)) {
		cl_stage_fail(&r->st, "CL307",
		              "%s:%llu: the user already has a \"match\": the stream went through "
		              "cl-match before",
		              r->o->input_name, ln->lineno);
		return -1;
	}
	if (!r->spool && r->seekable)
		r->spool = match_spool_input(r->in_fd, r->o->input_name, &r->in_st, r->line_off,
		                             ln->lineno,
		                             r->o->max_line ? r->o->max_line : CL_MAX_LINE_DEFAULT);
	if (!r->spool && !(r->spool = match_spool_new(&dir))) {
		cl_stage_fail(&r->st, "CL306", "cannot create a spool file in %s: %s", dir,
		              strerror(errno));
		return -1;
	}
	r->users++;
	rec.role = (uint8_t)cl_reader_role(r->rd);
	if (r->multi) {
		size_t k;
		int usable = 0;

		key_values(r, ln->p, ln->n);
		for (k = 0; k < r->o->cols.nkeys; k++)
			if (r->kv[k].cls == CL_EMAIL_OK) {
				usable = 1;
				count_roster(r, k, r->kv[k].p, r->kv[k].n);
			}
		r->usable += (unsigned long long)usable;
		rec.cls = (uint8_t)r->kv[0].cls;
		cl_buf_reset(&r->key);
	} else if (cl_json_str_set(em, &r->tmp) < 0) {
		rec.cls = CL_EMAIL_NONE;
		cl_buf_reset(&r->key);
	} else {
		rec.cls = (uint8_t)cl_email_norm(&r->o->aliases, r->tmp.p, r->tmp.len, &r->key);
	}
	if (!r->multi && rec.cls == CL_EMAIL_OK) {
		r->usable++;
		count_roster(r, 0, r->key.p, r->key.len);
	}
	if (match_spool_put(r->spool, &rec, ln->p, ln->n, r->key.p,
	                    !r->multi && rec.cls == CL_EMAIL_OK ? r->key.len : 0) < 0) {
		cl_stage_fail(&r->st, "CL306", "cannot write the spool file in %s: %s",
		              match_spool_dir(r->spool), strerror(errno));
		return -1;
	}
	return 0;
}

/* Writes the line with extra (starting with ',') inserted before its closing brace. */
static void
write_annotated(const char *p, size_t n, const char *extra, size_t en)
{
	size_t end = n;

	while (end > 0 && p[end - 1] != '}')
		end--;
	/* the reader checked the line is one JSON object: end > 0 */
	fwrite(p, 1, end - 1, stdout);
	fwrite(extra, 1, en, stdout);
	fwrite(p + end - 1, 1, n - end + 1, stdout);
	putc('\n', stdout);
}

/* The report's columns (report_paths' first NF), then what the role needs. */
enum { F_ID, F_ROLE, F_GIVEN, F_FAMILY, F_EMAIL, F_ORGS, NF };
enum { F_DATA = NF, F_ROLES, F_ROLE_TYPE, F_ROLE_NAME, F_ROLE_ORG, F_PRIMARY };

/* Appends the school s to the cell's ';'-separated list, unless it is there already. */
static void
add_school(struct cl_buf *cell, const struct cl_buf *s)
{
	const char *p = cell->p, *e;

	if (!s->len || memchr(s->p, ';', s->len))
		goto add;
	while (p && p < cell->p + cell->len) {
		e = memchr(p, ';', (size_t)(cell->p + cell->len - p));
		if (!e)
			e = cell->p + cell->len;
		if ((size_t)(e - p) == s->len && !memcmp(p, s->p, s->len))
			return;
		p = e + 1;
	}
add:
	if (cell->len)
		cl_buf_addc(cell, ';');
	cl_buf_add(cell, s->p, s->len);
}

/* What to do about a user unmatched for why on key k, into r->todo. */
static const char *
todo_of(struct run *r, enum reason why, size_t k)
{
	const struct match_key *key = &r->o->cols.keys[k];
	const char *col = match_export_key_column(r->x, k);

	cl_buf_reset(&r->todo);
	if (key->kind == MATCH_KEY_EMAIL || why < WHY_NOT_FOUND || why > WHY_DUP_ROSTER)
		cl_buf_adds(&r->todo, reason_todo[why]);
	else if (why == WHY_NOT_FOUND)
		cl_buf_addf(&r->todo,
		            "no School Manager account has this %s in the export's \"%s\" column: "
		            "check the value in the SIS and that the account exists in School "
		            "Manager",
		            key->name, col);
	else if (why == WHY_DUP_EXPORT)
		cl_buf_addf(&r->todo,
		            "several School Manager accounts have this %s in the export's \"%s\" "
		            "column: remove or correct the extra account in School Manager",
		            key->name, col);
	else
		cl_buf_addf(&r->todo,
		            "several users in the SIS have this %s, or reach the same account by "
		            "different keys: give each user their own in the SIS",
		            key->name);
	return r->todo.p;
}

static void
report_user(struct run *r, const char *line, size_t n, enum reason why, size_t key)
{
	static const size_t role_path[CL_RP_COUNT] = { F_ROLE,      F_ROLES,    F_ROLE_TYPE,
		                                       F_ROLE_NAME, F_ROLE_ORG, F_PRIMARY };
	static const size_t orgs[] = { F_ORGS, F_PRIMARY, F_ROLE_ORG };
	struct cl_buf cell[NF];
	const char *cells[NF + 4];
	size_t lens[NF + 4], i, k, l;

	for (i = 0; i < NF; i++)
		cl_buf_init(&cell[i]);
	if (cl_json_scan(r->q, line, n, r->res, NULL) == 0) {
		const struct cl_json_span *data = cl_json_result_first(r->res, F_DATA),
		                          *role = NULL;
		struct cl_role_scan rs;

		for (i = 0; i < F_ORGS; i++)
			cl_json_str_set(cl_json_result_first(r->res, i), &cell[i]);
		/* the role every stage reads: 1.1's role or 1.2's primary (lib/role.h) */
		cl_role_scan_init(&rs, r->res, role_path);
		if (data && data->type == CL_JSON_OBJECT)
			cl_user_role(&rs, data, &role);
		cl_json_str_set(role, &cell[F_ROLE]);
		/* the user's orgs (1.1), or its primaryOrg and its roles' orgs (1.2), each once */
		for (l = 0; l < sizeof orgs / sizeof *orgs; l++)
			for (k = 0; k < cl_json_result_count(r->res, orgs[l]); k++)
				if (cl_json_str_set(cl_json_result_get(r->res, orgs[l], k),
				                    &r->tmp) == 0)
					add_school(&cell[F_ORGS], &r->tmp);
	}
	for (i = 0; i < NF; i++) {
		cells[i] = cell[i].p;
		lens[i] = cell[i].len;
	}
	cells[NF] = r->o->cols.keys[key].name;
	lens[NF] = strlen(cells[NF]);
	cells[NF + 1] = r->kv[key].cls == CL_EMAIL_OK ? r->kv[key].p : "";
	lens[NF + 1] = r->kv[key].cls == CL_EMAIL_OK ? r->kv[key].n : 0;
	cells[NF + 2] = reason_name[why];
	lens[NF + 2] = strlen(reason_name[why]);
	cells[NF + 3] = todo_of(r, why, key);
	lens[NF + 3] = r->todo.len;
	match_report_row(r->report, cells, lens, NF + 4);
	for (i = 0; i < NF; i++)
		cl_buf_release(&cell[i]);
}

/* The reason a user with no value on key k fails on it. */
static enum reason
no_value(const struct match_key *key)
{
	switch (key->kind) {
	case MATCH_KEY_USERNAME:
		return WHY_NO_USERNAME;
	case MATCH_KEY_IDENTIFIER:
		return WHY_NO_IDENTIFIER;
	case MATCH_KEY_USERIDS:
		return WHY_NO_USER_ID;
	default:
		return WHY_NO_EMAIL;
	}
}

/*
 * Decides a user from its values r->kv: tries the keys in order; the first
 * found in the export matches (WHY_COUNT, *row set) unless it is ambiguous
 * there, in the roster, or (once the claims are known) because another user
 * takes the same account by another key: refused on that key. When no key
 * matches, the user failed on the first key not found, else the first
 * masked, else the first. *key_at is the key decided on.
 */
static enum reason
decide(struct run *r, size_t *key_at, size_t *row)
{
	const struct match_columns *c = &r->o->cols;
	enum reason best = WHY_NO_EMAIL, cand;
	int rank = -1, crank;
	uint64_t *count;
	size_t k;

	for (k = 0; k < c->nkeys; k++) {
		const struct key_value *v = &r->kv[k];

		if (v->cls == CL_EMAIL_NONE) {
			cand = no_value(&c->keys[k]);
			crank = 0;
		} else if (v->cls == CL_EMAIL_MASKED) {
			cand = WHY_MASKED;
			crank = 1;
		} else {
			*key_at = k;
			switch (match_export_find(r->x, k, v->p, v->n, row)) {
			case MATCH_FIND_NONE:
				count = cl_idmap_get(r->roster_k[k], v->p, v->n);
				if (count && *count > 1)
					return WHY_DUP_ROSTER;
				cand = WHY_NOT_FOUND;
				crank = 2;
				break;
			case MATCH_FIND_ROSTER_DUP:
				return WHY_DUP_ROSTER;
			case MATCH_FIND_DUP:
				return WHY_DUP_EXPORT;
			default:
				if (r->claims_known && match_export_claims(r->x, *row) > 1)
					return WHY_DUP_ROSTER;
				return WHY_COUNT;
			}
		}
		if (crank > rank) { /* the first key of the best rank */
			rank = crank;
			best = cand;
			*key_at = k;
		}
	}
	return best;
}

/*
 * A user line read again from the input: its role and (one key) its email,
 * found as the first pass found them. Returns 0, or MATCH_SPOOL_CHANGED
 * when the line is not a user's any more (the file changed).
 */
static int
reread_values(struct run *r, struct match_spooled *rec, const char *line, size_t n)
{
	static const size_t role_path[CL_RP_COUNT] = { VQ_ROLE,     VQ_ROLE + 1, VQ_ROLE + 2,
		                                       VQ_ROLE + 3, VQ_ROLE + 4, VQ_ROLE + 5 };
	const struct cl_json_span *data;
	struct cl_role_scan rs;
	enum cl_role role;

	if (cl_json_scan(r->vq, line, n, r->vres, NULL) < 0 ||
	    !cl_json_str_eq(cl_json_result_first(r->vres, VQ_KIND), "user") ||
	    !(data = cl_json_result_first(r->vres, VQ_DATA)) || data->type != CL_JSON_OBJECT)
		return MATCH_SPOOL_CHANGED;
	cl_role_scan_init(&rs, r->vres, role_path);
	role = cl_user_role(&rs, data, NULL);
	if (role == CL_ROLE_PARENT)
		return MATCH_SPOOL_CHANGED;
	rec->role = (uint8_t)(role == CL_ROLE_NONE ? CL_ROLE_OTHER : role);
	if (r->multi)
		return 0;
	cl_buf_reset(&r->key);
	if (cl_json_str_set(cl_json_result_first(r->vres, VQ_EMAIL), &r->tmp) < 0)
		rec->cls = CL_EMAIL_NONE;
	else
		rec->cls = (uint8_t)cl_email_norm(&r->o->aliases, r->tmp.p, r->tmp.len, &r->key);
	r->kv[0].cls = rec->cls;
	r->kv[0].p = r->key.p;
	r->kv[0].n = r->key.len;
	return 0;
}

/*
 * The user's values: read again from the line when the spool is the input
 * (reread_values), else its email from the spool (one key); several keys
 * are read again from the line (key_values). Returns 0 or
 * MATCH_SPOOL_CHANGED.
 */
static int
spooled_values(struct run *r, struct match_spooled *rec, const char *line, size_t n,
               const char *key, size_t kn)
{
	if (!match_spool_keeps_values(r->spool)) {
		if (reread_values(r, rec, line, n) < 0) {
			match_spool_changed(r->spool);
			return MATCH_SPOOL_CHANGED;
		}
		if (!r->multi)
			return 0;
	}
	if (r->multi) {
		key_values(r, line, n);
		return 0;
	}
	r->kv[0].cls = rec->cls;
	r->kv[0].p = key;
	r->kv[0].n = kn;
	return 0;
}

/* Reports a failed read of the spool (rc from match_spool_get or _rewind). */
static void
spool_failed(struct run *r, int rc)
{
	if (rc == MATCH_SPOOL_CHANGED)
		cl_stage_fail(&r->st, "CL328", "%s", match_spool_why(r->spool));
	else if (!match_spool_keeps_values(r->spool))
		cl_stage_fail(&r->st, "CL007", "%s: cannot read the users again: %s",
		              r->o->input_name, strerror(errno));
	else
		cl_stage_fail(&r->st, "CL306", "cannot read back the spool file in %s: %s",
		              match_spool_dir(r->spool), strerror(errno));
}

/*
 * Several keys: counts, per account, the users that would take it, so that
 * two users reaching one account by different keys are both refused.
 */
static int
count_claims(struct run *r)
{
	struct match_spooled rec;
	const char *line, *key;
	size_t n, kn, k, row;
	int rc;

	while ((rc = match_spool_get(r->spool, &rec, &line, &n, &key, &kn)) > 0) {
		if ((rc = spooled_values(r, &rec, line, n, key, kn)) < 0)
			return rc;
		if (decide(r, &k, &row) == WHY_COUNT)
			match_export_note_claim(r->x, row);
	}
	r->claims_known = 1;
	return rc < 0 ? rc : match_spool_rewind(r->spool);
}

/* The second pass: decide every spooled user and write it out. */
static int
replay(struct run *r)
{
	struct match_spooled rec;
	const char *line, *key, *id, *email, *kname;
	size_t n, kn, k, row;
	enum match_xrole xrole;
	enum reason why;
	int rc;

	r->replayed = 1;
	if (!r->spool)
		return 0;
	if ((rc = match_spool_rewind(r->spool)) < 0) {
		if (rc == MATCH_SPOOL_CHANGED || !match_spool_keeps_values(r->spool))
			spool_failed(r, rc);
		else /* the last of the compressed spool is written at the rewind */
			cl_stage_fail(&r->st, "CL306", "cannot write the spool file in %s: %s",
			              match_spool_dir(r->spool), strerror(errno));
		return -1;
	}
	if (r->multi && (rc = count_claims(r)) < 0)
		goto fail;
	while ((rc = match_spool_get(r->spool, &rec, &line, &n, &key, &kn)) > 0) {
		cl_buf_reset(&r->out);
		if ((rc = spooled_values(r, &rec, line, n, key, kn)) < 0)
			goto fail;
		why = decide(r, &k, &row);
		kname = r->o->cols.keys[k].name;
		if (why == WHY_COUNT) {
			match_export_take(r->x, row, r->kv[k].p, r->kv[k].n, &id, &email, &xrole);
			r->matched[rec.role]++;
			r->matched_by[k]++;
			if ((xrole == MATCH_XROLE_STUDENT && rec.role != CL_ROLE_STUDENT) ||
			    (xrole == MATCH_XROLE_STAFF && rec.role == CL_ROLE_STUDENT))
				r->role_differs++;
			cl_buf_adds(&r->out, ",\"match\":{\"id\":");
			cl_json_put_str(&r->out, id, strlen(id));
			cl_buf_adds(&r->out, ",\"email\":");
			cl_json_put_str(&r->out, email, strlen(email));
			cl_buf_adds(&r->out, ",\"key\":");
			cl_json_put_str(&r->out, kname, strlen(kname));
			cl_buf_addc(&r->out, '}');
		} else {
			r->unmatched[why]++;
			r->unmatched_by[k][why]++;
			cl_buf_addf(&r->out,
			            ",\"match\":null,\"unmatched\":\"%s\",\"unmatched_key\":",
			            reason_name[why]);
			cl_json_put_str(&r->out, kname, strlen(kname));
			if (r->report)
				report_user(r, line, n, why, k);
		}
		write_annotated(line, n, r->out.p, r->out.len);
		cl_stage_wrote(&r->st, CL_K_USER, 1);
	}
	if (rc == 0)
		return 0;
fail:
	spool_failed(r, rc);
	return -1;
}

static void
set_options(struct run *r)
{
	struct cl_stage *st = &r->st;
	const char *col;

	st->options = jv_object_set(st->options, jv_string("users"), jv_string(r->o->users));
	st->options = jv_object_set(st->options, jv_string("email_column"),
	                            jv_string(match_export_column(r->x, 'e')));
	st->options = jv_object_set(st->options, jv_string("id_column"),
	                            jv_string(match_export_column(r->x, 'i')));
	col = match_export_column(r->x, 'r');
	st->options = jv_object_set(st->options, jv_string("role_column"),
	                            col ? jv_string(col) : jv_null());
	{
		jv keys = jv_array(), kcols = jv_object();
		size_t k;

		for (k = 0; k < r->o->cols.nkeys; k++) {
			keys = jv_array_append(keys, jv_string(r->o->cols.keys[k].name));
			kcols = jv_object_set(kcols, jv_string(r->o->cols.keys[k].name),
			                      jv_string(match_export_key_column(r->x, k)));
		}
		st->options = jv_object_set(st->options, jv_string("match_keys"), keys);
		st->options = jv_object_set(st->options, jv_string("key_columns"), kcols);
	}
	st->options =
	        jv_object_set(st->options, jv_string("domain_aliases"), jv_copy(r->o->alias_args));
	st->options = jv_object_set(st->options, jv_string("unmatched_report"),
	                            jv_bool(r->report != NULL));
}

static void
set_counts(struct run *r)
{
	const struct match_export_stats *xs = match_export_stats(r->x);
	const struct match_columns *c = &r->o->cols;
	unsigned long long total = 0;
	jv un = jv_object(), mk = jv_object(), uk = jv_object();
	size_t k;
	int i, kinds[MATCH_KEY_USERIDS + 1] = { 0 };

	for (k = 0; k < c->nkeys; k++)
		kinds[c->keys[k].kind] = 1;
	for (i = 0; i < WHY_COUNT; i++) {
		if ((i == WHY_NO_USERNAME && !kinds[MATCH_KEY_USERNAME]) ||
		    (i == WHY_NO_IDENTIFIER && !kinds[MATCH_KEY_IDENTIFIER]) ||
		    (i == WHY_NO_USER_ID && !kinds[MATCH_KEY_USERIDS]))
			continue; /* a reason no key in use can give */
		un = jv_object_set(un, jv_string(reason_name[i]),
		                   jv_number((double)r->unmatched[i]));
		total += r->unmatched[i];
	}
	for (k = 0; k < c->nkeys; k++) {
		jv by = jv_object();

		mk = jv_object_set(mk, jv_string(c->keys[k].name),
		                   jv_number((double)r->matched_by[k]));
		for (i = 0; i < WHY_COUNT; i++)
			if (r->unmatched_by[k][i])
				by = jv_object_set(by, jv_string(reason_name[i]),
				                   jv_number((double)r->unmatched_by[k][i]));
		uk = jv_object_set(uk, jv_string(c->keys[k].name), by);
	}
	cl_stage_count(&r->st, "users", (double)r->users);
	cl_stage_count(&r->st, "matched_students", (double)r->matched[CL_ROLE_STUDENT]);
	cl_stage_count(&r->st, "matched_teachers", (double)r->matched[CL_ROLE_TEACHER]);
	cl_stage_count(&r->st, "matched_other_staff", (double)r->matched[CL_ROLE_OTHER]);
	cl_stage_count(&r->st, "unmatched_users", (double)total);
	r->st.counts = jv_object_set(r->st.counts, jv_string("unmatched"), un);
	r->st.counts = jv_object_set(r->st.counts, jv_string("matched_by_key"), mk);
	r->st.counts = jv_object_set(r->st.counts, jv_string("unmatched_by_key"), uk);
	cl_stage_count(&r->st, "parents", (double)r->parents);
	if (r->withheld)
		cl_stage_count(&r->st, "users_withheld", (double)r->withheld);
	cl_stage_count(&r->st, "export_rows", (double)xs->rows);
	cl_stage_count(&r->st, "export_rows_unmatched", (double)(xs->rows - xs->matched));
	cl_stage_count(&r->st, "export_rows_no_email", (double)xs->no_email);
	cl_stage_count(&r->st, "export_rows_no_id", (double)xs->no_id);
	cl_stage_count(&r->st, "export_rows_duplicate", (double)xs->dup_rows);
	if (match_export_column(r->x, 'r'))
		cl_stage_count(&r->st, "matched_role_differs", (double)r->role_differs);
}

static int
process(struct run *r)
{
	struct cl_line ln;
	int rc;

	while ((rc = cl_reader_next(r->rd, &ln)) > 0) {
		r->line_off = r->off;
		r->off += (off_t)ln.n + 1; /* the reader's lines: the bytes before a '\n' */
		if (ln.kind > CL_K_USER && !r->replayed && replay(r) < 0)
			return -1;
		switch (ln.kind) {
		case CL_K_HEADER:
			if (cl_stage_write_header(&r->st, stdout, &ln, jv_invalid()) < 0) {
				cl_stage_fail(&r->st, "CL009", "%s:%llu: the header is not valid",
				              r->o->input_name, ln.lineno);
				return -1;
			}
			break;
		case CL_K_USER:
			if (take_user(r, &ln) < 0)
				return -1;
			break;
		case CL_K_TRAILER:
			cl_stage_take_trailer(&r->st, r->rd, &ln);
			break;
		case CL_K_PARENT:
			r->parents++;
			cl_write_line(stdout, ln.p, ln.n);
			cl_stage_wrote(&r->st, ln.kind, 1);
			break;
		default:
			cl_write_line(stdout, ln.p, ln.n);
			cl_stage_wrote(&r->st, ln.kind, 1);
			break;
		}
	}
	if (rc < 0) {
		cl_stage_fail_read(&r->st, r->rd);
		if (!r->replayed && r->spool && match_spool_count(r->spool) > 0) {
			r->withheld = match_spool_count(r->spool);
			cl_stage_warn(&r->st, "CL308",
			              "the stream stopped among the users: their %llu lines are "
			              "withheld, since a duplicate email may be in what is missing",
			              match_spool_count(r->spool));
		}
		return -1;
	}
	if (r->usable > 0 &&
	    r->matched[CL_ROLE_STUDENT] + r->matched[CL_ROLE_TEACHER] + r->matched[CL_ROLE_OTHER] ==
	            0)
		cl_stage_warn(&r->st, "CL309",
		              "no user matched a School Manager account: is \"%s\" the export's "
		              "email column, and are --domain-alias options needed?",
		              match_export_column(r->x, 'e'));
	return 0;
}

#define NREPORT 10
static const char *const report_header[NREPORT] = {
	"sourcedId", "role", "given name", "family name", "email",
	"schools",   "key",  "value",      "reason",      "what to do",
};
static const size_t report_header_len[NREPORT] = { 9, 4, 10, 11, 5, 7, 3, 5, 6, 10 };

static const char *const report_paths[] = {
	"data.sourcedId",
	"data.role",
	"data.givenName",
	"data.familyName",
	"data.email",
	"data.orgs[].sourcedId",
	"data", /* F_DATA...: a 1.2 user's role and orgs */
	"data.roles[]",
	"data.roles[].roleType",
	"data.roles[].role",
	"data.roles[].org.sourcedId",
	"data.primaryOrg.sourcedId",
};

int
main(int argc, char *argv[])
{
	struct opts o;
	static char obuf[OUT_BUF]; /* stdout's, until it is closed */
	struct run r;
	int status, fd = -1;
	size_t i;

	cl_diag_init(argv[0]);
	memset(&o, 0, sizeof o);
	cl_aliases_init(&o.aliases);
	o.alias_args = jv_array();
	memset(&r, 0, sizeof r);
	r.o = &o;
	cl_buf_init(&r.key);
	cl_buf_init(&r.tmp);
	cl_buf_init(&r.out);
	cl_buf_init(&r.todo);
	for (i = 0; i < MATCH_KEYS_MAX; i++)
		cl_buf_init(&r.kbuf[i]);
	cl_stage_init(&r.st, "cl-match");
	r.st.lines_counted = 1;

	if ((status = parse_options(&o, argc, argv)) >= 0)
		goto out;
	if (!o.input) {
		fd = STDIN_FILENO;
	} else if ((fd = open(o.input, O_RDONLY | O_CLOEXEC)) < 0) {
		status = cl_fail("CL007", "%s: cannot open the roster stream:", o.input);
		goto out;
	}
	if (o.check_args) {
		/*
		 * The export is read whole, as a run reads it before the stream:
		 * its columns are the ones the options name (CL303), its format
		 * is CSV UTF-8 (CL310, CL311). Not from stdin, which is not read.
		 */
		status = strcmp(o.users, "-") != 0
		                 ? match_export_load(&r.x, o.users, &o.cols, &o.aliases)
		                 : CL_EX_OK;
		goto out;
	}
	/* no output may be an input: asked before anything is read */
	cl_out_note_input_fd(fd);
	if (strcmp(o.users, "-") == 0)
		cl_out_note_input_fd(STDIN_FILENO);
	else
		cl_out_note_input_path(o.users);
	if (cl_out_check_stdout(&r.tmp) == CL_OUT_SAME) {
		status = cl_fail("CL010", "%s", r.tmp.p);
		goto out;
	}
	/*
	 * A regular file is read twice rather than spooled (spool.h); its
	 * state now, before anything is read, is what it must still be then.
	 */
	if (fstat(fd, &r.in_st) == 0 && S_ISREG(r.in_st.st_mode) &&
	    (r.off = lseek(fd, 0, SEEK_CUR)) >= 0) {
		r.seekable = 1;
		r.in_fd = fd;
	}
	if (o.unmatched) {
		if (!(r.report = match_report_open(o.unmatched, !o.no_bom, &status)))
			goto out;
		match_report_row(r.report, report_header, report_header_len, NREPORT);
	}
	if ((status = match_export_load(&r.x, o.users, &o.cols, &o.aliases)) != 0)
		goto out;
	r.q = cl_json_query_new(report_paths, sizeof report_paths / sizeof report_paths[0]);
	if (!r.q)
		cl_oom();
	r.res = cl_json_result_new(r.q);
	r.roster = cl_idmap_new();
	r.multi = o.cols.nkeys != 1 || o.cols.keys[0].kind != MATCH_KEY_EMAIL;
	for (i = 0; i < o.cols.nkeys; i++)
		r.roster_k[i] = i == 0 ? r.roster : cl_idmap_new();
	if (r.multi) {
		r.kq = cl_json_query_new(key_paths, KQ_COUNT);
		r.idq = cl_json_query_new(userid_paths, 2);
		if (!r.kq || !r.idq)
			cl_oom();
		r.kres = cl_json_result_new(r.kq);
		r.idres = cl_json_result_new(r.idq);
	}
	if (r.seekable) {
		if (!(r.vq = cl_json_query_new(value_paths, VQ_COUNT)))
			cl_oom();
		r.vres = cl_json_result_new(r.vq);
	}
	r.rd = cl_reader_new(fd, o.input_name, o.max_line);
	r.f_email = cl_reader_want(r.rd, "data.email");
	r.f_match = cl_reader_want(r.rd, "match");
	r.f_unmatched = cl_reader_want(r.rd, "unmatched");
	setvbuf(stdout, obuf, _IOFBF, OUT_BUF); /* glibc ignores the size without a buffer */
	set_options(&r);

	process(&r);
	set_counts(&r);
	cl_stage_write_trailer(&r.st, stdout);
	status = cl_stage_status(&r.st);
out:
	status = cl_exit(status);
	/* the report is only ever there whole, from a run that succeeded */
	if (r.report && !r.st.fatal && status == CL_EX_OK)
		status = match_report_commit(r.report);
	else
		match_report_abort(r.report);
	cl_reader_free(r.rd);
	match_spool_free(r.spool);
	match_export_free(r.x);
	cl_idmap_free(r.roster);
	for (i = 1; i < MATCH_KEYS_MAX; i++)
		cl_idmap_free(r.roster_k[i]);
	cl_json_result_free(r.res);
	cl_json_query_free(r.q);
	cl_json_result_free(r.kres);
	cl_json_result_free(r.idres);
	cl_json_query_free(r.kq);
	cl_json_query_free(r.idq);
	cl_json_result_free(r.vres);
	cl_json_query_free(r.vq);
	for (i = 0; i < MATCH_KEYS_MAX; i++)
		cl_buf_release(&r.kbuf[i]);
	for (i = 0; i < o.nkey_cols; i++)
		free(o.key_col_args[i]);
	free(o.keys_arg);
	cl_buf_release(&r.todo);
	cl_buf_release(&r.key);
	cl_buf_release(&r.tmp);
	cl_buf_release(&r.out);
	cl_stage_release(&r.st);
	cl_aliases_release(&o.aliases);
	jv_free(o.alias_args);
	if (fd > STDIN_FILENO)
		close(fd);
	return status;
}
