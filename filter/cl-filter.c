/*
 * cl-filter: drops from the roster stream what the School Manager sync must
 * not see (the integration's rules), in one streaming pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "digest.h"
#include "errors.h"
#include "filter.h"
#include "out.h"
#include "stream.h"

#define OUT_BUF ((size_t)1 << 20)
/* Malformed records named one a line (CL210, CL211); the rest are counted (CL212). */
#define MALFORMED_SHOWN 20
/* The longest value a diagnostic quotes, in bytes. */
#define VALUE_SHOWN 60

struct opts {
	struct filter_opts f;
	const char *as_of;   /* as given, or NULL: today */
	const char *rejects; /* --rejects FILE, or NULL */
	const char *input;   /* FILE operand, or NULL: stdin */
	size_t max_line;
	int check_args; /* --check-args: stop once the inputs are open */
};

static const char usage[] =
        "usage: cl-filter [--as-of DATE] [--no-classes] [--respect-enrolment-date]\n"
        "                 [--respect-academic-sessions] [--exclude-school ID]...\n"
        "                 [--exclude-schools-file FILE]... [--parents] [--rejects FILE]\n"
        "                 [--max-line BYTES] [FILE]\n";

enum { OPT_MAX_LINE = CL_OPT_LONG };

static const struct cl_opt options[] = {
	{ 'a', "as-of", CL_ARG_REQUIRED, "DATE",
	  "judge dates as of DATE (YYYY-MM-DD; default today, UTC)" },
	{ 'C', "no-classes", CL_ARG_NONE, NULL,
	  "Sync Classroom Data off: drop courses, classes, enrolments" },
	{ 'e', "respect-enrolment-date", CL_ARG_NONE, NULL,
	  "drop enrolments not current, and students who left" },
	{ 'e', "respect-enrollment-date", CL_ARG_NONE, NULL, NULL },
	{ 's', "respect-academic-sessions", CL_ARG_NONE, NULL,
	  "drop classes none of whose terms is current" },
	{ 'x', "exclude-school", CL_ARG_REQUIRED, "ID",
	  "drop the school with this sourcedId or identifier" },
	{ 'X', "exclude-schools-file", CL_ARG_REQUIRED, "FILE",
	  "the same for every ID in FILE (one a line, # comments)" },
	{ 'p', "parents", CL_ARG_NONE, NULL,
	  "Sync Parent Data: keep parents linked to kept students" },
	{ 'r', "rejects", CL_ARG_REQUIRED, "FILE",
	  "write every dropped record's kind, sourcedId, reason" },
	{ OPT_MAX_LINE, "max-line", CL_ARG_REQUIRED, "BYTES",
	  "the longest line accepted (default 64 MiB)" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-filter", usage,
	"Drops from the roster stream (FILE or stdin) what the School Manager sync\n"
	"must not see, and writes the rest to stdout unchanged.\n",
	options
};

/*
 * Reads the command line into o. Returns -1 to go on, or the exit status
 * (0 after --help or --version).
 */
static int
parse_options(struct opts *o, int argc, char *argv[])
{
	struct cl_getopt g;
	const char *why;
	int c;

	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case 'a':
			o->as_of = g.arg;
			break;
		case 'C':
			o->f.classes = 0;
			break;
		case 'e':
			o->f.enrol_dates = 1;
			break;
		case 's':
			o->f.sessions = 1;
			break;
		case 'x':
			if (*g.arg == '\0')
				return cl_usage_error(&cmd,
				                      "--exclude-school needs a non-empty ID");
			cl_idmap_put(o->f.exclude, g.arg, strlen(g.arg), NULL);
			break;
		case 'X': {
			unsigned long line;

			if (filter_read_exclude_file(g.arg, o->f.exclude, &line) < 0) {
				if (errno == EILSEQ)
					return cl_fail("CL204",
					               "%s:%lu: a NUL byte: not a text file", g.arg,
					               line);
				return cl_fail("CL204",
				               "cannot read the exclude-schools file '%s':", g.arg);
			}
			cl_out_note_input_path(g.arg);
			break;
		}
		case 'p':
			o->f.parents = 1;
			break;
		case 'r':
			if (cl_getopt_file(&g, &o->rejects) != 0)
				return CL_EX_USAGE;
			break;
		case OPT_MAX_LINE:
			if (cl_getopt_bytes(&g, &o->max_line) != 0)
				return CL_EX_USAGE;
			break;
		default: /* CL_OPT_EXIT */
			return g.status;
		}
	}
	if ((c = cl_getopt_input(&g, &o->input)) >= 0)
		return c;
	if (o->as_of) {
		if (filter_parse_as_of(o->as_of, &o->f.as_of, &why) < 0) {
			cl_diag("CL201", "--as-of '%s': %s", o->as_of, why);
			fputs(usage, stderr);
			return CL_EX_USAGE;
		}
	} else {
		filter_today(&o->f.as_of);
	}
	o->check_args = g.check_args;
	return -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The options as the header records them: the config keys of DESIGN.md. */
static jv
options_jv(const struct opts *o)
{
	jv j = jv_object(), ids = jv_array();
	const char *key;
	size_t it = 0, n, i, count = 0;
	uint64_t val;
	char **v = NULL;

	while (cl_idmap_next(o->f.exclude, &it, &key, &n, &val)) {
		v = cl_xreallocarray(v, count + 1, sizeof *v);
		v[count++] = cl_xmemdup(key, n);
	}
	if (count > 1)
		qsort(v, count, sizeof *v, cmp_str);
	for (i = 0; i < count; i++) {
		ids = jv_array_append(ids, jv_string(v[i]));
		free(v[i]);
	}
	free(v);
	j = jv_object_set(j, jv_string("as_of"), jv_string(o->f.as_of.s));
	j = jv_object_set(j, jv_string("sync_classes"), jv_bool(o->f.classes));
	j = jv_object_set(j, jv_string("respect_enrolment_date"), jv_bool(o->f.enrol_dates));
	j = jv_object_set(j, jv_string("respect_academic_sessions"), jv_bool(o->f.sessions));
	j = jv_object_set(j, jv_string("exclude_schools"), ids);
	return jv_object_set(j, jv_string("sync_parents"), jv_bool(o->f.parents));
}

/*
 * The --rejects file: every dropped record's kind, sourcedId and reason (an
 * enrolment's class and user too: what cl-load names a membership by), and
 * the digest of what was written, which the trailer states (cl-load checks
 * the file it is given against it).
 */
struct rejects {
	struct cl_out out;
	struct cl_buf line;
	struct cl_digest dg;
	unsigned long long lines;
};

/* Adds ,"key":<the string span s> to b when s is a string. */
static void
put_ref(struct cl_buf *b, const char *key, const struct cl_json_span *s)
{
	if (!s || s->type != CL_JSON_STRING)
		return;
	cl_buf_addf(b, ",\"%s\":", key);
	cl_buf_add(b, s->p, s->n);
}

static void
write_reject(struct rejects *rj, enum cl_kind k, const struct filter *f, enum filter_reason why)
{
	const struct cl_json_span *sid = filter_sourced_id(f);
	struct cl_buf *b = &rj->line;

	cl_buf_reset(b);
	cl_buf_addf(b, "{\"kind\":\"%s\",\"sourcedId\":", cl_kind_name(k));
	cl_buf_add(b, sid->p, sid->n);
	cl_buf_addf(b, ",\"reason\":\"%s\"", filter_reason_name(why));
	if (k == CL_K_ENROLLMENT) {
		put_ref(b, "class", filter_enrolment_class(f));
		put_ref(b, "user", filter_enrolment_user(f));
	}
	cl_buf_adds(b, "}\n");
	cl_digest_add(&rj->dg, b->p, b->len);
	fwrite(b->p, 1, b->len, rj->out.f);
	rj->lines++;
}

/*
 * Puts the rejects file in place before the trailer is written, so that a
 * stage downstream that has read the trailer finds the whole file (cl-load
 * --rejects in the same pipeline), and says in this stage's trailer entry
 * what it holds: "rejects":{"lines":N,"sha256":HEX}. Only the rejects of a
 * stream read to its end (complete or not) replace the old file; a failed
 * stage leaves the old one, and its trailer names none.
 */
static void
finish_rejects(struct rejects *rj, struct cl_stage *st)
{
	struct cl_buf why = CL_BUF_INIT;
	char hex[CL_DIGEST_HEX];
	jv o;

	if (!rj->out.f)
		return;
	if (cl_stage_status(st) > CL_EX_PARTIAL) {
		cl_out_abort(&rj->out);
		return;
	}
	if (cl_out_commit(&rj->out, &why) < 0) {
		cl_stage_fail(st, "CL205", "--rejects: %s", why.p);
		cl_buf_release(&why);
		return;
	}
	cl_buf_release(&why);
	cl_digest_hex(&rj->dg, hex);
	o = jv_object_set(jv_object(), jv_string("lines"), jv_number((double)rj->lines));
	o = jv_object_set(o, jv_string("sha256"), jv_string(hex));
	st->more = jv_object_set(st->more, jv_string("rejects"), o);
}

/* Malformed records seen: named, and not named (past MALFORMED_SHOWN). */
struct malformed_count {
	unsigned long long shown, rejected, kept;
};

/*
 * Names one malformed record on stderr and in the trailer (CL210 rejected,
 * CL211 kept): its kind, sourcedId, field and value (raw JSON, cut at
 * VALUE_SHOWN bytes on a character boundary), up to MALFORMED_SHOWN records.
 */
static void
report_malformed(const struct opts *o, struct cl_stage *st, const struct cl_line *ln,
                 const struct cl_json_span *sid, const struct filter_malformed *m,
                 enum filter_reason why, struct malformed_count *mc)
{
	const struct cl_json_span *v = m->value;
	size_t n = v ? v->n : 0;
	int cut = 0;

	if (mc->shown >= MALFORMED_SHOWN) {
		if (m->rejected)
			mc->rejected++;
		else
			mc->kept++;
		return;
	}
	mc->shown++;
	if (n > VALUE_SHOWN) {
		n = VALUE_SHOWN;
		while (n > 0 && ((unsigned char)v->p[n] & 0xC0) == 0x80)
			n--;
		cut = 1;
	}
	if (m->rejected)
		cl_stage_warn(st, "CL210", "%s:%llu: %s %.*s: %s %.*s%s %s: rejected (%s)",
		              o->input ? o->input : "<stdin>", ln->lineno, cl_kind_name(ln->kind),
		              (int)sid->n, sid->p, m->field, v ? (int)n : 8, v ? v->p : "(absent)",
		              cut ? "..." : "", m->problem, filter_reason_name(why));
	else
		cl_stage_warn(st, "CL211",
		              "%s:%llu: %s %.*s: %s %.*s%s %s: kept (no rule reads it)",
		              o->input ? o->input : "<stdin>", ln->lineno, cl_kind_name(ln->kind),
		              (int)sid->n, sid->p, m->field, v ? (int)n : 8, v ? v->p : "(absent)",
		              cut ? "..." : "", m->problem);
}

/* The streaming pass: reads every line, writes the kept ones. */
static void
run(struct opts *o, struct cl_reader *r, struct filter *f, struct cl_stage *st, struct rejects *rj)
{
	enum cl_kind last = CL_K_HEADER;
	const struct filter_malformed *m;
	struct malformed_count mc = { 0, 0, 0 };
	struct cl_line ln;
	unsigned long long n = 0;
	int rc, why;

	while ((rc = cl_reader_next(r, &ln)) > 0) {
		if (ln.kind != last) {
			filter_section_done(f, st, ln.kind);
			last = ln.kind;
		}
		if (ln.kind == CL_K_HEADER) {
			if (cl_stage_write_header(st, stdout, &ln, jv_invalid()) < 0) {
				cl_stage_fail(st, "CL009",
				              "%s:%llu: the header has no \"stages\" array",
				              o->input ? o->input : "<stdin>", ln.lineno);
				return;
			}
			continue;
		}
		if (ln.kind == CL_K_TRAILER) {
			cl_stage_take_trailer(st, r, &ln);
			continue;
		}
		why = filter_line(f, &ln);
		if (why < 0) {
			cl_stage_fail(st, filter_error(f), "%s:%llu: %s",
			              o->input ? o->input : "<stdin>", ln.lineno,
			              filter_error_message(f));
			return;
		}
		if ((m = filter_malformed(f)) != NULL)
			report_malformed(o, st, &ln, filter_sourced_id(f), m,
			                 (enum filter_reason)why, &mc);
		if (why == FILTER_KEEP) {
			cl_write_line(stdout, ln.p, ln.n);
			cl_stage_wrote(st, ln.kind, 1);
		} else if (rj->out.f)
			write_reject(rj, ln.kind, f, (enum filter_reason)why);
		if ((++n & 0xfff) == 0 && ferror(stdout))
			return; /* cl_close_stdout reports it */
	}
	if (rc < 0)
		cl_stage_fail_read(st, r);
	if (mc.rejected + mc.kept > 0)
		cl_stage_warn(st, "CL212",
		              "%llu more malformed records not named (%llu rejected, %llu kept): "
		              "the trailer's counts have them all, --rejects names the rejected",
		              mc.rejected + mc.kept, mc.rejected, mc.kept);
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct cl_stage st;
	struct cl_reader *r = NULL;
	struct filter *f = NULL;
	struct rejects rj = { { 0 }, CL_BUF_INIT, { 0 }, 0 };
	struct cl_buf why = CL_BUF_INIT;
	char *outbuf = NULL;
	int fd = STDIN_FILENO, status, rc;

	cl_diag_init(argv[0]);
	memset(&o, 0, sizeof o);
	o.f.classes = 1;
	o.f.exclude = cl_idmap_new();
	cl_stage_init(&st, "cl-filter");
	st.lines_counted = 1;

	if ((status = parse_options(&o, argc, argv)) >= 0)
		goto out;

	if (o.input && (fd = open(o.input, O_RDONLY | O_CLOEXEC)) < 0) {
		status = cl_fail("CL007", "cannot open '%s':", o.input);
		goto out;
	}
	if (o.check_args) {
		status = CL_EX_OK; /* nothing read from the input, nothing written */
		goto out;
	}
	cl_out_note_input_fd(fd);
	if (cl_out_check_stdout(&why) == CL_OUT_SAME) {
		status = cl_fail("CL010", "%s", why.p);
		goto out;
	}
	if (o.rejects && (rc = cl_out_open(&rj.out, o.rejects, &why)) != 0) {
		status = cl_fail(rc == CL_OUT_SAME ? "CL010" : "CL205", "--rejects: %s", why.p);
		goto out;
	}
	if (rj.out.f)
		cl_digest_init(&rj.dg);
	outbuf = cl_xmalloc(OUT_BUF);
	setvbuf(stdout, outbuf, _IOFBF, OUT_BUF);

	r = cl_reader_new(fd, o.input ? o.input : "<stdin>", o.max_line);
	f = filter_new(&o.f, r);
	jv_free(st.options);
	st.options = options_jv(&o);

	run(&o, r, f, &st, &rj);

	finish_rejects(&rj, &st);
	jv_free(st.counts);
	st.counts = filter_counts(f);
	cl_stage_write_trailer(&st, stdout);
	status = cl_stage_status(&st);
out:
	status = cl_exit(status);
	cl_out_abort(&rj.out);
	cl_digest_release(&rj.dg);
	cl_buf_release(&rj.line);
	cl_buf_release(&why);
	if (fd != STDIN_FILENO)
		close(fd);
	filter_free(f);
	cl_reader_free(r);
	cl_stage_release(&st);
	cl_idmap_free(o.f.exclude);
	free(outbuf);
	return status;
}
