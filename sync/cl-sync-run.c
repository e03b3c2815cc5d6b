/*
 * cl-sync-run: one night of an integration, supervised (see sync.h).
 *
 *	cl-sync-run --name NAME --run-dir DIR --state FILE [options]
 *	        fetch N ARG... filter N ARG... match N ARG... load N ARG...
 *
 * Each stage's command line is given whole, counted, by scripts/cl-sync,
 * which builds it from the config: cl-sync-run never reads the config.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "diag.h"
#include "errors.h"
#include "stream.h"
#include "sync.h"

static const char usage[] =
        "usage: cl-sync-run --name NAME --run-dir DIR --state FILE [--nights FILE]\n"
        "                   [--tz ZONE] [--trigger scheduled|manual|dry-run] [--apply COMMAND]\n"
        "                   [--export FILE [--export-max-age DAYS]] [--progress | --no-progress]\n"
        "                   [--log-every SECONDS] [--warning CODE]... [--no-check-args]\n"
        "                   [-q] -- fetch N ARG... filter N ARG... match N ARG... load N ARG...\n";

enum {
	OPT_NAME = CL_OPT_LONG,
	OPT_RUN_DIR,
	OPT_STATE,
	OPT_NIGHTS,
	OPT_TZ,
	OPT_TRIGGER,
	OPT_APPLY,
	OPT_EXPORT,
	OPT_EXPORT_AGE,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_NO_CHECK_ARGS,
	OPT_LOG_EVERY,
	OPT_WARNING,
	OPT_FETCH_MODE,
	OPT_FETCH_REASON,
	OPT_SAVE_BASE
};

static const struct cl_opt opts[] = {
	{ OPT_NAME, "name", CL_ARG_REQUIRED, "NAME",
	  "the integration's name (for the Sync Details)" },
	{ OPT_RUN_DIR, "run-dir", CL_ARG_REQUIRED, "DIR",
	  "the run folder: the copies of the stream, the log, the Sync Details" },
	{ OPT_STATE, "state", CL_ARG_REQUIRED, "FILE",
	  "cl-load's state (for --commit and --discard)" },
	{ OPT_NIGHTS, "nights", CL_ARG_REQUIRED, "FILE", "append the night's record to FILE" },
	{ OPT_TZ, "tz", CL_ARG_REQUIRED, "ZONE", "the district's time zone (default UTC)" },
	{ OPT_TRIGGER, "trigger", CL_ARG_REQUIRED, "WHO",
	  "scheduled, manual (the default) or dry-run" },
	{ OPT_APPLY, "apply", CL_ARG_REQUIRED, "COMMAND",
	  "apply the planned change set with sh -c COMMAND, then commit it\n"
	  "(cl-load's arguments must include --plan)" },
	{ OPT_EXPORT, "export", CL_ARG_REQUIRED, "FILE", "the School Manager export (its age)" },
	{ OPT_EXPORT_AGE, "export-max-age", CL_ARG_REQUIRED, "DAYS",
	  "warn (CL541) when the export is older (default 7; 0: never)" },
	{ OPT_PROGRESS, "progress", CL_ARG_NONE, NULL,
	  "a live line per stage on stderr (default: when stderr is a tty)" },
	{ OPT_NO_PROGRESS, "no-progress", CL_ARG_NONE, NULL, "no live lines" },
	{ OPT_LOG_EVERY, "log-every", CL_ARG_REQUIRED, "SECONDS",
	  "a progress line in the log this often while it runs (default 60)" },
	{ OPT_FETCH_MODE, "fetch-mode", CL_ARG_REQUIRED, "MODE",
	  "full or delta, for the Sync Details (the stages say what they do)" },
	{ OPT_FETCH_REASON, "fetch-reason", CL_ARG_REQUIRED, "TEXT", "why this mode tonight" },
	{ OPT_SAVE_BASE, "save-base", CL_ARG_REQUIRED, "FILE.zst",
	  "keep a whole night's stream there, compressed: the next delta's base" },
	{ OPT_WARNING, "warning", CL_ARG_REQUIRED, "CODE",
	  "a code cl-sync found before the night (it is in the log), for the Sync Details" },
	{ 'q', "quiet", CL_ARG_NONE, NULL, "no Sync Details on stdout, even on a terminal" },
	{ OPT_NO_CHECK_ARGS, "no-check-args", CL_ARG_NONE, NULL,
	  "do not ask each stage to check its arguments first" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-sync-run", usage,
	"Runs one night of a cl-sync integration: the four stages in a process group of\n"
	"their own with a tee of each stage's output into the run folder, their stderr into\n"
	"the run's log, then the applier; writes the Sync Details and the night's record.\n"
	"scripts/cl-sync builds its command line from the config.\n",
	opts
};

static int check_args = 1;

static void merge(struct codes *to, const struct codes *from);

/*
 * execvp takes char *const argv[] for historic reasons and never writes
 * the strings: this is the one place a const string becomes one of them.
 */
static char *
arg(const char *s)
{
	union {
		const char *c;
		char *m;
	} u = { s };

	return u.m;
}

static int
options(struct run *r, int argc, char *argv[])
{
	static const char *const stage_word[4] = { "fetch", "filter", "match", "load" };
	struct cl_getopt g;
	int c, i, a;
	long long n;
	int progress = -1;

	r->tz = "UTC";
	r->trigger = "manual";
	r->export_max_age = 7;
	r->log_every = 60;
	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case CL_OPT_EXIT:
			return g.status;
		case OPT_NAME:
			r->name = g.arg;
			break;
		case OPT_RUN_DIR:
			r->dir = g.arg;
			break;
		case OPT_STATE:
			r->state = g.arg;
			break;
		case OPT_NIGHTS:
			r->nights = g.arg;
			break;
		case OPT_TZ:
			r->tz = g.arg;
			break;
		case OPT_TRIGGER:
			if (strcmp(g.arg, "scheduled") != 0 && strcmp(g.arg, "manual") != 0 &&
			    strcmp(g.arg, "dry-run") != 0)
				return cl_usage_error(
				        &cmd, "--trigger '%s' is not scheduled, manual or dry-run",
				        g.arg);
			r->trigger = g.arg;
			break;
		case OPT_APPLY:
			r->apply = g.arg;
			break;
		case OPT_EXPORT:
			r->export_path = g.arg;
			break;
		case OPT_EXPORT_AGE:
			if (cl_parse_num(g.arg, 0, 36500, &n) != 0)
				return cl_usage_error(
				        &cmd, "--export-max-age '%s' is not a number of days",
				        g.arg);
			r->export_max_age = (long)n;
			break;
		case OPT_PROGRESS:
			progress = 1;
			break;
		case OPT_NO_PROGRESS:
			progress = 0;
			break;
		case 'q':
			r->quiet = 1;
			break;
		case OPT_LOG_EVERY:
			if (cl_parse_num(g.arg, 1, 86400, &n) != 0)
				return cl_usage_error(
				        &cmd, "--log-every '%s' is not a number of seconds", g.arg);
			r->log_every = (double)n;
			break;
		case OPT_FETCH_MODE:
			if (strcmp(g.arg, "full") != 0 && strcmp(g.arg, "delta") != 0)
				return cl_usage_error(
				        &cmd, "--fetch-mode '%s' is not full or delta", g.arg);
			r->fetch_mode = g.arg;
			break;
		case OPT_FETCH_REASON:
			r->fetch_reason = g.arg;
			break;
		case OPT_SAVE_BASE:
			r->save_base = g.arg;
			break;
		case OPT_WARNING:
			if (!cl_error_lookup(g.arg))
				return cl_usage_error(
				        &cmd, "--warning '%s' is not a code of the catalog", g.arg);
			codes_add(&r->own, g.arg);
			break;
		case OPT_NO_CHECK_ARGS:
			check_args = 0;
			break;
		default:
			return CL_EX_USAGE;
		}
	}
	if (!r->name || !r->dir || !r->state)
		return cl_usage_error(&cmd, "--name, --run-dir and --state are required");
	/*
	 * The night's temporary files (cl-fetch's and cl-bundle's spools,
	 * cl-match's user lines: 0.6 GB at a million students) go in the run
	 * folder, sized for the night and private, not in a /tmp that may be
	 * small, shared or missing; cl-load puts SQLite's beside the state.
	 */
	if (setenv("TMPDIR", r->dir, 1) != 0)
		cl_oom();
	a = optind;
	/* pre NAME N ARG... (at most 8), then fallback N ARG..., then the stages */
	while (a + 2 < argc && (strcmp(argv[a], "pre") == 0 || strcmp(argv[a], "fallback") == 0)) {
		int pre = strcmp(argv[a], "pre") == 0;
		int at = a + (pre ? 2 : 1);
		char **v;

		if (pre && r->npre == 8)
			return cl_usage_error(&cmd, "more than 8 pre commands");
		if (cl_parse_num(argv[at], 1, 1000, &n) != 0 || at + 1 + n > argc)
			return cl_usage_error(&cmd,
			                      "'%s %s': not a count of the arguments that follow",
			                      argv[a], argv[at]);
		v = cl_xcalloc((size_t)n + 1, sizeof(char *));
		memcpy(v, argv + at + 1, (size_t)n * sizeof(char *));
		if (pre) {
			r->pre_name[r->npre] = argv[a + 1];
			r->pre_argv[r->npre++] = v;
		} else {
			free(r->fallback);
			r->fallback = v;
		}
		a = at + 1 + (int)n;
	}
	for (i = 0; i < 4; i++) {
		if (a + 1 >= argc || strcmp(argv[a], stage_word[i]) != 0)
			return cl_usage_error(&cmd, "expected '%s N ARG...' after the options",
			                      stage_word[i]);
		if (cl_parse_num(argv[a + 1], 1, 1000, &n) != 0 || a + 2 + n > argc)
			return cl_usage_error(&cmd,
			                      "'%s %s': not a count of the arguments that follow",
			                      stage_word[i], argv[a + 1]);
		r->stage_argv[i] = cl_xcalloc((size_t)n + 2, sizeof(char *));
		memcpy(r->stage_argv[i], argv + a + 2, (size_t)n * sizeof(char *));
		a += 2 + (int)n;
	}
	if (a != argc)
		return cl_usage_error(&cmd, "'%s': unexpected after the load stage", argv[a]);
	r->progress = progress >= 0 ? progress : isatty(STDERR_FILENO);
	r->tty_out = isatty(STDOUT_FILENO);
	if (!r->fetch_mode)
		r->fetch_mode = r->npre ? "delta" : "full";
	return -1;
}

/* A command line for the log, quoted for sh where it needs it. */
static void
quoted(struct cl_buf *b, char **argv)
{
	int i;

	for (i = 0; argv[i]; i++) {
		const char *s = argv[i];

		if (i)
			cl_buf_addc(b, ' ');
		if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		                    "_-./=:,+@%") == strlen(s)) {
			cl_buf_adds(b, s);
			continue;
		}
		cl_buf_addc(b, '\'');
		for (; *s; s++) {
			if (*s == '\'')
				cl_buf_adds(b, "'\\''");
			else
				cl_buf_addc(b, *s);
		}
		cl_buf_addc(b, '\'');
	}
}

static void
init_children(struct run *r)
{
	int i;

	for (i = 0; i < NSTAGES; i++) {
		r->stage[i].errfd = -1;
		r->stage[i].errbuf = (struct cl_buf)CL_BUF_INIT;
	}
	for (i = 0; i < 3; i++) {
		r->tee[i].errfd = -1;
		r->tee[i].errbuf = (struct cl_buf)CL_BUF_INIT;
	}
}

/*
 * Each stage checks its own command line (--check-args) before anything
 * runs, so that a value the config allows and a stage does not (a drifted
 * rule) fails the night before it fetches, with the stage's own words.
 */
static int
check_stage_args(struct run *r)
{
	int i, bad = 0;

	for (i = 0; i < 4; i++) {
		struct child *c = &r->stage[i];
		char **argv;
		int n, null;

		for (n = 0; r->stage_argv[i][n]; n++)
			;
		argv = cl_xcalloc((size_t)n + 2, sizeof *argv);
		memcpy(argv, r->stage_argv[i], (size_t)n * sizeof *argv);
		argv[n] = arg("--check-args");
		c->name = r->stage_argv[i][0];
		c->argv = argv;
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0 || sync_command(r, c, null, null) != 0) {
			codes_add(&r->own, "CL514");
			sync_log(r, "CL514: cannot start %s: %s", c->name, strerror(errno));
			bad = 1;
		}
		if (null >= 0)
			close(null);
		sync_wait(r);
		if (child_status(c) != 0 && !bad) {
			bad = 1;
			/* the cause is the config: CL542 first, then the stage's own code */
			if (child_status(c) != 127)
				codes_add(&r->own, "CL542");
			merge(&r->own, &c->codes);
			sync_log(r, "%s refused its arguments (exit status %d)", c->name,
			         child_status(c));
		}
		free(argv);
		cl_buf_release(&c->errbuf);
		memset(c, 0, sizeof *c);
		c->errbuf = (struct cl_buf)CL_BUF_INIT;
		c->errfd = -1;
		if (r->interrupted)
			bad = 1;
	}
	return bad ? -1 : 0;
}

/* The first failure in the pipeline's order that is not the echo of a later one. */
static int
cause_stage(const struct run *r)
{
	int i, j;

	for (i = 0; i < 4; i++) {
		int s = child_status(&r->stage[i]), later = 0;

		if (s < 2)
			continue;
		for (j = i + 1; j < 4; j++) {
			int t = child_status(&r->stage[j]);

			if (t >= 2)
				later = 1;
		}
		for (j = i; j < 3; j++) /* a tee after it that ended first (a full disk) */
			if (child_status(&r->tee[j]) == 2)
				later = 1;
		if (s == 128 + SIGPIPE && later)
			continue;
		return i;
	}
	return -1;
}

static int
first_status(const struct codes *c, int dflt)
{
	int i;

	for (i = 0; i < c->n; i++) {
		int s = cl_error_status(c->code[i]);

		if (s >= 2)
			return s;
	}
	return dflt;
}

static void
merge(struct codes *to, const struct codes *from)
{
	int i;

	for (i = 0; i < from->n; i++)
		codes_add(to, from->code[i]);
}

static char why[512];

static const char *
meaning_of(const struct codes *c)
{
	const struct cl_error_def *e;

	if (!c->n)
		return NULL;
	e = cl_error_lookup(c->code[0]);
	snprintf(why, sizeof why, "%s: %s", c->code[0], e ? e->meaning : "see docs/errors.md");
	return why;
}

static int
run_one(struct run *r, int slot, const char *name, char **argv, const char *in_path,
        const char *out_path)
{
	struct child *c = &r->stage[slot];
	int in, out;

	c->name = name;
	c->argv = argv;
	in = open(in_path, O_RDONLY | O_CLOEXEC);
	out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (in < 0 || out < 0 || sync_command(r, c, in, out) != 0) {
		sync_log(r, "CL514: cannot start %s: %s", name, strerror(errno));
		codes_add(&r->own, "CL514");
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
		return -1;
	}
	close(in);
	close(out);
	sync_wait(r);
	return child_status(c);
}

/*
 * Plan, apply, commit: the applier reads the change set; only when it
 * exits 0 is the sync committed, else it is discarded and the next night
 * sends the same changes again. The report becomes what the history says
 * of the sync.
 */
static void
apply_plan(struct run *r, struct night *n)
{
	char path[4096], out[4096], id[32], tmp[4096];
	char *sh[] = { arg("/bin/sh"), arg("-c"), arg(r->apply), NULL };
	char *commit[] = { arg("cl-load"), arg("--state"), arg(r->state), NULL, id, NULL };
	char *show[] = {
		arg("cl-load"), arg("--state"), arg(r->state), arg("--show-sync"), id, NULL
	};
	int ast, cst;

	snprintf(id, sizeof id, "%lld", n->sync);
	snprintf(path, sizeof path, "%s/changes.ndjson", r->dir);
	snprintf(out, sizeof out, "%s/apply.out", r->dir);
	sync_log(r, "apply: sync %s: %s", id, r->apply);
	ast = run_one(r, STAGE_APPLY, "apply_command", sh, path, out);
	commit[3] = arg(ast == 0 && !r->interrupted ? "--commit" : "--discard");
	cst = run_one(r, STAGE_COMMIT, "cl-load", commit, "/dev/null", "/dev/null");
	if (ast != 0 || r->interrupted) {
		sync_log(r,
		         "apply: the applier exited %d: sync %s discarded, the next sync sends its "
		         "changes again",
		         ast, id);
		if (!r->interrupted)
			codes_add(&n->codes, "CL518");
	} else if (cst != 0) {
		sync_log(r, "apply: cl-load --commit %s exited %d", id, cst);
	} else {
		sync_log(r, "apply: sync %s applied and committed", id);
	}
	snprintf(tmp, sizeof tmp, "%s/report.json.tmp", r->dir);
	if (run_one(r, STAGE_COMMIT, "cl-load", show, "/dev/null", tmp) == 0) {
		snprintf(path, sizeof path, "%s/report.json", r->dir);
		rename(tmp, path);
	} else {
		unlink(tmp);
	}
	if (ast != 0 || cst != 0 || r->interrupted) {
		n->status = "failed";
		merge(&n->codes, &r->stage[STAGE_APPLY].codes);
		merge(&n->codes, &r->stage[STAGE_COMMIT].codes);
	}
}

/* The night's status, codes and exit status, from everything the children left. */
static void
decide(struct run *r, struct night *n)
{
	char rep_status[16] = "";
	long long changes = 0, sync = -1;
	struct codes rep = { 0 };
	int have_report, i, cause, load_st, tee_failed = 0;

	n->dry_run = strcmp(r->trigger, "dry-run") == 0;
	if (r->interrupted)
		codes_add(&n->codes, "CL540");
	for (i = 0; i < 4; i++) {
		merge(&n->codes, &r->stage[i].codes);
		if (i < 3) {
			merge(&n->codes, &r->tee[i].codes);
			if (child_status(&r->tee[i]) == 1 || child_status(&r->tee[i]) == 2)
				tee_failed = 1;
		}
	}
	have_report = sync_report_changes(r->dir, &changes, rep_status, sizeof rep_status, &sync,
	                                  &rep) == 0;
	merge(&n->codes, &rep);
	cause = cause_stage(r);
	if (cause >= 0) {
		int s = child_status(&r->stage[cause]);

		if (s == 126 || s == 127)
			codes_add(&n->codes, "CL513");
		else if (s > 128 && !r->interrupted)
			codes_add(&n->codes, "CL514");
	}
	if (tee_failed)
		codes_add(&n->codes, "CL511");
	merge(&n->codes, &r->own);
	n->sync = have_report ? sync : -1;
	load_st = child_status(&r->stage[STAGE_LOAD]);

	if (!have_report || (load_st != 0 && load_st != 1) || strcmp(rep_status, "failed") == 0)
		n->status = "failed";
	else if (cause >= 0 && cause < STAGE_LOAD && changes == 0)
		n->status = "failed"; /* nothing usable arrived: nothing was applied */
	else if (cause >= 0 || tee_failed || strcmp(rep_status, "partial") == 0)
		n->status = "partial";
	else
		n->status = "success";
	if (r->interrupted && (!have_report || (load_st != 0 && load_st != 1)))
		n->status = "failed";

	if (r->apply && !n->dry_run && !r->interrupted && strcmp(n->status, "failed") != 0 &&
	    n->sync >= 0)
		apply_plan(r, n);
}

static int
night_exit(const struct run *r, struct night *n)
{
	if (strcmp(n->status, "success") == 0)
		return 0;
	if (r->interrupted)
		return cl_error_status("CL540");
	return first_status(&n->codes, strcmp(n->status, "partial") == 0 ? 1 : 70);
}

static int
write_file(const char *dir, const char *name, const struct cl_buf *b)
{
	char path[4096], tmp[4096];
	int fd, rc = 0;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, b->p, b->len) != (ssize_t)b->len)
		rc = -1;
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/*
 * The run folders before this one that finished (they hold night.json)
 * are compressed with zstd: the stream copies are most of a folder and
 * compress about tenfold. The newest run stays plain, for the
 * administrator who looks at last night with grep and jq.
 */
static void
compress_older(struct run *r)
{
	char parent[4096], *slash;

	snprintf(parent, sizeof parent, "%s", r->dir);
	slash = strrchr(parent, '/');
	if (!slash)
		return;
	*slash = '\0';
	{
		char *sh[] = {
			arg("/bin/sh"),
			arg("-c"),
			arg("cd -- \"$1\" || exit 0\n"
			    "command -v zstd >/dev/null || { echo 'cl-sync: zstd is not "
			    "installed: older run folders stay uncompressed' >&2; exit 0; }\n"
			    "for d in */; do d=${d%/}\n"
			    "  [ \"$d\" = \"$2\" ] && continue\n"
			    "  [ -f \"$d/night.json\" ] || continue\n"
			    "  for f in \"$d\"/*.ndjson; do [ -f \"$f\" ] || continue\n"
			    "    zstd -q -T1 --rm -- \"$f\" || exit 1\n"
			    "  done\n"
			    "done\n"),
			arg("cl-sync-compress"),
			parent,
			slash + 1,
			NULL
		};

		if (run_one(r, STAGE_COMMIT, "zstd", sh, "/dev/null", "/dev/null") != 0)
			sync_log(r, "compressing the older run folders failed (see above)");
	}
}

/*
 * A delta night's first steps, each run to its end in order (stdout to
 * /dev/null: they write their own files). When one fails, the night falls
 * back to a full fetch (the fallback command becomes the fetch stage), as
 * a delta that cannot be trusted must not decide anything; its codes are
 * kept for the Sync Details' fetch line, not as the night's errors.
 */
static void
pre_steps(struct run *r, struct cl_buf *reason)
{
	int i;

	for (i = 0; i < r->npre && !r->interrupted; i++) {
		struct child *c = &r->stage[STAGE_COMMIT];
		struct cl_buf q = CL_BUF_INIT;
		int st, k;

		quoted(&q, r->pre_argv[i]);
		sync_log(r, "%s: %s", r->pre_name[i], q.p);
		cl_buf_release(&q);
		c->codes.n = 0;
		st = run_one(r, STAGE_COMMIT, r->pre_name[i], r->pre_argv[i], "/dev/null",
		             "/dev/null");
		if (st == 0)
			continue;
		sync_log(r, "%s exited %d: the delta cannot be trusted tonight", r->pre_name[i],
		         st);
		cl_buf_addf(reason, "%s failed", r->pre_name[i]);
		for (k = 0; k < c->codes.n; k++)
			cl_buf_addf(reason, "%s%s", k ? ", " : ": ", c->codes.code[k]);
		if (r->fallback && !r->interrupted) {
			free(r->stage_argv[STAGE_FETCH]); /* the merge's, which will not run */
			r->stage_argv[STAGE_FETCH] = r->fallback;
			r->fetch_mode = "full";
			sync_log(r, "fetching in full instead (fallback)");
		}
		return;
	}
}

/*
 * The night's whole stream is the next delta's base: kept compressed when
 * the sync was recorded from a complete stream (the report says so).
 */
static void
save_base(struct run *r, const struct night *n)
{
	char src[4096], tmp[4096];
	char *z[] = { arg("zstd"), arg("-q"), arg("-f"), arg("-T1"), src, arg("-o"), tmp, NULL };
	long long changes, sync;
	char status[16];
	struct codes c = { 0 };
	int st;

	if (!r->save_base || n->dry_run || strcmp(n->status, "failed") == 0 || r->interrupted ||
	    sync_report_changes(r->dir, &changes, status, sizeof status, &sync, &c) != 0 ||
	    !sync_report_complete(r->dir))
		return;
	snprintf(src, sizeof src, "%s/fetch.ndjson", r->dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", r->save_base);
	st = run_one(r, STAGE_COMMIT, "zstd", z, "/dev/null", "/dev/null");
	if (st == 0 && rename(tmp, r->save_base) == 0) {
		sync_log(r, "kept this night's stream as the next delta's base: %s", r->save_base);
	} else {
		unlink(tmp);
		sync_log(r,
		         "could not keep this night's stream as the next delta's base (%s): the "
		         "next night fetches in full",
		         r->save_base);
	}
}

/*
 * The night's report for people (cl-report(1)): report.html in the run
 * folder, with the chart of the last nights from --nights. A failure is
 * a line in the log (CL565, and cl-report's own diagnostic above it),
 * never the night's.
 */
static void
write_report(struct run *r)
{
	char out[4096];
	char *av[12];
	int n = 0, st;

	snprintf(out, sizeof out, "%s/report.html", r->dir);
	av[n++] = arg("cl-report");
	av[n++] = arg("--tz");
	av[n++] = arg(r->tz);
	if (r->nights) {
		av[n++] = arg("--nights");
		av[n++] = arg(r->nights);
	}
	av[n++] = arg("-o");
	av[n++] = out;
	av[n++] = arg("--");
	av[n++] = arg(r->dir);
	av[n] = NULL;
	if ((st = run_one(r, STAGE_COMMIT, "cl-report", av, "/dev/null", "/dev/null")) != 0)
		sync_log(r, "CL565: cl-report exited %d: the night has no report.html (see above)",
		         st);
}

/* The export older than --export-max-age days: a warning, never a failure. */
static int
export_stale(const struct run *r)
{
	struct stat st;

	if (!r->export_path || r->export_max_age == 0 || stat(r->export_path, &st) != 0)
		return 0;
	return r->started - st.st_mtime > (time_t)r->export_max_age * 86400;
}

int
main(int argc, char *argv[])
{
	struct run r = { 0 };
	struct night n = { 0 };
	struct cl_buf b = CL_BUF_INIT, reason = CL_BUF_INIT;
	char path[4096];
	int status, i, stale, details_ok, args_ok;

	cl_diag_init(argv[0]);
	r.logfd = -1;
	init_children(&r);
	status = options(&r, argc, argv);
	if (status >= 0)
		goto out;
	n.sync = -1;
	r.started = time(NULL);
	r.t0 = sync_now();
	snprintf(path, sizeof path, "%s/log", r.dir);
	r.logfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (r.logfd < 0) {
		status = cl_fail("CL511", "cannot write '%s':", path);
		goto out;
	}
	if (sync_signals_init() != 0) {
		status = cl_fail("CL090", "cannot set up the signals:");
		goto out;
	}
	sync_log(&r, "cl-sync-run %s (pid %ld): a %s night, %s fetch%s%s", CL_VERSION,
	         (long)getpid(), r.trigger, r.fetch_mode, r.fetch_reason ? ": " : "",
	         r.fetch_reason ? r.fetch_reason : "");
	for (i = 0; i < 4; i++) {
		static const char *const w[4] = { "fetch: ", "filter:", "match: ", "load:  " };

		cl_buf_reset(&b);
		quoted(&b, r.stage_argv[i]);
		sync_log(&r, "%s %s", w[i], b.p);
	}
	if (r.apply)
		sync_log(&r, "apply:  %s (then cl-load --commit, or --discard if it fails)",
		         r.apply);

	/*
	 * The stages check their arguments before anything is asked of the
	 * server. On a delta night the fetch stage is cl-merge of files the
	 * first steps write: the full fetch it falls back to is what carries
	 * the config's values, and is what is checked.
	 */
	args_ok = 1;
	if (check_args) {
		char **fetch = r.stage_argv[STAGE_FETCH];

		if (r.npre && r.fallback)
			r.stage_argv[STAGE_FETCH] = r.fallback;
		args_ok = check_stage_args(&r) == 0;
		r.stage_argv[STAGE_FETCH] = fetch;
	}
	if (args_ok && r.npre)
		pre_steps(&r, &reason);
	if (reason.len)
		r.fetch_reason = reason.p;
	if (args_ok && !r.interrupted) {
		if (sync_pipeline(&r) != 0)
			sync_forward(&r,
			             SIGTERM); /* what started stops: the night cannot be whole */
		sync_wait(&r);
		sync_log(&r,
		         "exit statuses: %s %d, cl-filter %d, cl-match %d, cl-load %d; tee "
		         "%d %d %d",
		         r.stage[0].name ? r.stage[0].name : "cl-fetch", child_status(&r.stage[0]),
		         child_status(&r.stage[1]), child_status(&r.stage[2]),
		         child_status(&r.stage[3]), child_status(&r.tee[0]),
		         child_status(&r.tee[1]), child_status(&r.tee[2]));
	}
	decide(&r, &n);
	stale = export_stale(&r);
	if (stale)
		codes_add(&n.codes, "CL541");
	if (r.interrupted)
		sync_log(&r, "interrupted by SIG%s", sigabbrev_np(r.interrupted));
	r.finished = time(NULL);
	n.exit = night_exit(&r, &n);
	if (strcmp(n.status, "success") != 0 && n.codes.n)
		n.why = meaning_of(&n.codes);
	sync_log(&r, "sync %s; cl-sync exits %d", n.status, n.exit);

	cl_buf_reset(&b);
	sync_details(&r, &n, &b);
	details_ok = write_file(r.dir, "details", &b) == 0;
	if (!details_ok)
		sync_log(&r, "CL511: cannot write %s/details: %s", r.dir, strerror(errno));
	/* On a terminal; and wherever stdout goes when the run folder cannot keep them. */
	if ((r.tty_out && !r.quiet) || !details_ok)
		fwrite(b.p, 1, b.len, stdout);
	cl_buf_reset(&b);
	sync_night_json(&r, &n, &b);
	if (write_file(r.dir, "night.json", &b) != 0)
		sync_log(&r, "CL511: cannot write %s/night.json: %s", r.dir, strerror(errno));
	if (r.nights) {
		int fd = open(r.nights, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		              0600);

		if (fd < 0 || write(fd, b.p, b.len) != (ssize_t)b.len || close(fd) != 0)
			sync_log(&r, "CL511: cannot append to %s: %s", r.nights, strerror(errno));
	}
	save_base(&r, &n);
	if (!r.interrupted) {
		write_report(&r);
		compress_older(&r);
	}
	/* Cron mails what reaches stderr: one line for a night that needs a person. */
	if (strcmp(n.status, "success") != 0)
		fprintf(stderr, "cl-sync: %s: %s%s%s; see %s/details\n", r.name, n.status,
		        n.why ? ": " : "", n.why ? n.why : "", r.dir);
	else if (stale)
		fprintf(stderr, "cl-sync: %s: success, but CL541: %s; see %s/details\n", r.name,
		        cl_error_lookup("CL541")->meaning, r.dir);
	status = n.exit;
out:
	cl_buf_release(&b);
	cl_buf_release(&reason);
	if (r.stage_argv[STAGE_FETCH] == r.fallback)
		r.fallback = NULL; /* freed as the fetch stage */
	for (i = 0; i < 4; i++)
		free(r.stage_argv[i]);
	for (i = 0; i < r.npre; i++)
		free(r.pre_argv[i]);
	free(r.fallback);
	for (i = 0; i < NSTAGES; i++)
		cl_buf_release(&r.stage[i].errbuf);
	for (i = 0; i < 3; i++)
		cl_buf_release(&r.tee[i].errbuf);
	if (r.logfd >= 0)
		close(r.logfd);
	return cl_exit(status);
}
