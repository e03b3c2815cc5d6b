/*
 * cl-match: joins the roster's users to School Manager's accounts by
 * normalised email, annotating each user line with "match" (and
 * "unmatched" with a reason when there is none). Every other line passes
 * through byte for byte. See cl-match.1.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jv.h>

#include "cli.h"
#include "diag.h"
#include "email.h"
#include "export.h"
#include "idmap.h"
#include "out.h"
#include "report.h"
#include "spool.h"
#include "stream.h"

#define OUT_BUF ((size_t)1 << 20)

enum reason {
	WHY_NO_EMAIL,
	WHY_MASKED,
	WHY_NOT_FOUND,
	WHY_DUP_EXPORT,
	WHY_DUP_ROSTER,
	WHY_COUNT,
};

static const char *const reason_name[WHY_COUNT] = {
	"no-email", "masked-email", "not-found", "duplicate-in-export", "duplicate-in-roster",
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
};

struct opts {
	const char *users;
	const char *unmatched;
	const char *input;      /* the stream's path, or NULL: stdin */
	const char *input_name; /* for messages: the path, or "<stdin>" */
	struct match_columns cols;
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
	struct match_report *report;
	struct cl_json_query *q; /* the fields the report needs */
	struct cl_json_result *res;
	struct cl_buf key, tmp, out;
	size_t f_email, f_match, f_unmatched;
	int replayed;
	unsigned long long users, parents, matched[CL_ROLE_OTHER + 1], unmatched[WHY_COUNT],
	        role_differs;
	unsigned long long usable, withheld;
};

static const char usage[] =
        "usage: cl-match --users EXPORT.csv [--email-column NAME] [--id-column NAME]\n"
        "                [--role-column NAME] [--domain-alias FROM=TO]...\n"
        "                [--unmatched REPORT.csv] [--no-bom] [--max-line BYTES] [FILE]\n";

enum { OPT_NO_BOM = CL_OPT_LONG };

static const struct cl_opt options[] = {
	{ 'u', "users", CL_ARG_REQUIRED, "EXPORT.csv",
	  "the School Manager user export (required)" },
	{ 'e', "email-column", CL_ARG_REQUIRED, "NAME",
	  "the export's email column (default: found by name)" },
	{ 'i', "id-column", CL_ARG_REQUIRED, "NAME", "the export's account id column" },
	{ 'r', "role-column", CL_ARG_REQUIRED, "NAME", "the export's role column (optional)" },
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
	                           "Join roster users to School Manager accounts by email.\n",
	                           options };

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
	o->check_args = g.check_args;
	return -1;
}

/* A user line on the first pass: count its email, spool it. */
static int
take_user(struct run *r, const struct cl_line *ln)
{
	const struct cl_json_span *em = cl_reader_field(r->rd, r->f_email);
	struct match_spooled rec;
	const char *dir;
	uint64_t *count;

	if (cl_reader_field(r->rd, r->f_match) || cl_reader_field(r->rd, r->f_unmatched)) {
		cl_stage_fail(&r->st, "CL307",
		              "%s:%llu: the user already has a \"match\": the stream went through "
		              "cl-match before",
		              r->o->input_name, ln->lineno);
		return -1;
	}
	if (!r->spool && !(r->spool = match_spool_new(&dir))) {
		cl_stage_fail(&r->st, "CL306", "cannot create a spool file in %s: %s", dir,
		              strerror(errno));
		return -1;
	}
	r->users++;
	rec.role = (uint8_t)cl_reader_role(r->rd);
	if (cl_json_str_set(em, &r->tmp) < 0) {
		rec.cls = CL_EMAIL_NONE;
		cl_buf_reset(&r->key);
	} else {
		rec.cls = (uint8_t)cl_email_norm(&r->o->aliases, r->tmp.p, r->tmp.len, &r->key);
	}
	if (rec.cls == CL_EMAIL_OK) {
		r->usable++;
		if (!match_export_count_user(r->x, r->key.p, r->key.len)) {
			count = cl_idmap_put(r->roster, r->key.p, r->key.len, NULL);
			if (*count < 2)
				++*count;
		}
	}
	if (match_spool_put(r->spool, &rec, ln->p, ln->n, r->key.p,
	                    rec.cls == CL_EMAIL_OK ? r->key.len : 0) < 0) {
		cl_stage_fail(&r->st, "CL306", "cannot write the spool file in %s: %s",
		              getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", strerror(errno));
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

static void
report_user(struct run *r, const char *line, size_t n, enum reason why)
{
	enum { F_ID, F_ROLE, F_GIVEN, F_FAMILY, F_EMAIL, F_ORGS, NF };
	struct cl_buf cell[NF];
	const char *cells[NF + 2];
	size_t lens[NF + 2], i, k;

	for (i = 0; i < NF; i++)
		cl_buf_init(&cell[i]);
	if (cl_json_scan(r->q, line, n, r->res, NULL) == 0) {
		for (i = 0; i < F_ORGS; i++)
			cl_json_str_set(cl_json_result_first(r->res, i), &cell[i]);
		for (k = 0; k < cl_json_result_count(r->res, F_ORGS); k++) {
			if (cl_json_str_set(cl_json_result_get(r->res, F_ORGS, k), &r->tmp) < 0)
				continue;
			if (cell[F_ORGS].len)
				cl_buf_addc(&cell[F_ORGS], ';');
			cl_buf_add(&cell[F_ORGS], r->tmp.p, r->tmp.len);
		}
	}
	for (i = 0; i < NF; i++) {
		cells[i] = cell[i].p;
		lens[i] = cell[i].len;
	}
	cells[NF] = reason_name[why];
	lens[NF] = strlen(reason_name[why]);
	cells[NF + 1] = reason_todo[why];
	lens[NF + 1] = strlen(reason_todo[why]);
	match_report_row(r->report, cells, lens, NF + 2);
	for (i = 0; i < NF; i++)
		cl_buf_release(&cell[i]);
}

/* The second pass: decide every spooled user and write it out. */
static int
replay(struct run *r)
{
	struct match_spooled rec;
	const char *line, *key, *id, *email;
	size_t n, kn;
	enum match_xrole xrole;
	enum reason why;
	uint64_t *count;
	int rc;

	r->replayed = 1;
	if (!r->spool)
		return 0;
	if (match_spool_rewind(r->spool) < 0)
		goto fail;
	while ((rc = match_spool_get(r->spool, &rec, &line, &n, &key, &kn)) > 0) {
		cl_buf_reset(&r->out);
		if (rec.cls == CL_EMAIL_NONE) {
			why = WHY_NO_EMAIL;
		} else if (rec.cls == CL_EMAIL_MASKED) {
			why = WHY_MASKED;
		} else {
			switch (match_export_claim(r->x, key, kn, &id, &email, &xrole)) {
			case MATCH_FIND_NONE:
				count = cl_idmap_get(r->roster, key, kn);
				why = count && *count > 1 ? WHY_DUP_ROSTER : WHY_NOT_FOUND;
				break;
			case MATCH_FIND_ROSTER_DUP:
				why = WHY_DUP_ROSTER;
				break;
			case MATCH_FIND_DUP:
				why = WHY_DUP_EXPORT;
				break;
			default:
				why = WHY_COUNT;
				r->matched[rec.role]++;
				if ((xrole == MATCH_XROLE_STUDENT && rec.role != CL_ROLE_STUDENT) ||
				    (xrole == MATCH_XROLE_STAFF && rec.role == CL_ROLE_STUDENT))
					r->role_differs++;
				cl_buf_adds(&r->out, ",\"match\":{\"id\":");
				cl_json_put_str(&r->out, id, strlen(id));
				cl_buf_adds(&r->out, ",\"email\":");
				cl_json_put_str(&r->out, email, strlen(email));
				cl_buf_addc(&r->out, '}');
				break;
			}
		}
		if (why != WHY_COUNT) {
			r->unmatched[why]++;
			cl_buf_addf(&r->out, ",\"match\":null,\"unmatched\":\"%s\"",
			            reason_name[why]);
			if (r->report)
				report_user(r, line, n, why);
		}
		write_annotated(line, n, r->out.p, r->out.len);
		cl_stage_wrote(&r->st, CL_K_USER, 1);
	}
	if (rc == 0)
		return 0;
fail:
	cl_stage_fail(&r->st, "CL306", "cannot read back the spool file: %s", strerror(errno));
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
	st->options =
	        jv_object_set(st->options, jv_string("domain_aliases"), jv_copy(r->o->alias_args));
	st->options = jv_object_set(st->options, jv_string("unmatched_report"),
	                            jv_bool(r->report != NULL));
}

static void
set_counts(struct run *r)
{
	const struct match_export_stats *xs = match_export_stats(r->x);
	unsigned long long total = 0;
	jv un = jv_object();
	int i;

	for (i = 0; i < WHY_COUNT; i++) {
		un = jv_object_set(un, jv_string(reason_name[i]),
		                   jv_number((double)r->unmatched[i]));
		total += r->unmatched[i];
	}
	cl_stage_count(&r->st, "users", (double)r->users);
	cl_stage_count(&r->st, "matched_students", (double)r->matched[CL_ROLE_STUDENT]);
	cl_stage_count(&r->st, "matched_teachers", (double)r->matched[CL_ROLE_TEACHER]);
	cl_stage_count(&r->st, "matched_other_staff", (double)r->matched[CL_ROLE_OTHER]);
	cl_stage_count(&r->st, "unmatched_users", (double)total);
	r->st.counts = jv_object_set(r->st.counts, jv_string("unmatched"), un);
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

#define NREPORT 8
static const char *const report_header[NREPORT] = {
	"sourcedId", "role",    "given name", "family name",
	"email",     "schools", "reason",     "what to do",
};
static const size_t report_header_len[NREPORT] = { 9, 4, 10, 11, 5, 7, 6, 10 };

static const char *const report_paths[] = {
	"data.sourcedId",  "data.role",  "data.givenName",
	"data.familyName", "data.email", "data.orgs[].sourcedId",
};

int
main(int argc, char *argv[])
{
	struct opts o;
	static char obuf[OUT_BUF]; /* stdout's, until it is closed */
	struct run r;
	int status, fd = -1;

	cl_diag_init(argv[0]);
	memset(&o, 0, sizeof o);
	cl_aliases_init(&o.aliases);
	o.alias_args = jv_array();
	memset(&r, 0, sizeof r);
	r.o = &o;
	cl_buf_init(&r.key);
	cl_buf_init(&r.tmp);
	cl_buf_init(&r.out);
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
	cl_json_result_free(r.res);
	cl_json_query_free(r.q);
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
