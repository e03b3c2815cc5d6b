/*
 * cl-load: reads the matched roster stream, compares it with what the last
 * sync loaded (the state, SQLite), and writes the change set that brings
 * School Manager up to date (docs/changeset.md). The new state and the sync
 * record are committed in one transaction, after the change set was written
 * and flushed: killed at any instant, the state is the old one or the new
 * one, and a rerun writes the same change set. With --plan the new state is
 * kept aside as a pending sync, committed by --commit ID once an applier
 * applied the change set (pending.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "errors.h"
#include "load.h"

static const char usage[] =
        "usage: cl-load --state FILE.db [--dry-run | --plan] [--allow-deletes]\n"
        "               [--allow-relinks] [--max-delete PERCENT] [--rejects FILE]\n"
        "               [--report FILE.json] [FILE]\n"
        "       cl-load --state FILE.db --commit ID | --discard ID\n"
        "       cl-load --state FILE.db --reset | --last-sync | --history [N] | --show-sync ID\n";

enum {
	OPT_RESET = CL_OPT_LONG,
	OPT_LAST,
	OPT_HISTORY,
	OPT_SHOW,
	OPT_PLAN,
	OPT_COMMIT,
	OPT_DISCARD,
	OPT_RELINKS,
	OPT_REJECTS
};

static const struct cl_opt opts[] = {
	{ 's', "state", CL_ARG_REQUIRED, "FILE.db",
	  "the integration's state (created on first use)" },
	{ 'n', "dry-run", CL_ARG_NONE, NULL, "write the change set, change nothing" },
	{ 'a', "allow-deletes", CL_ARG_NONE, NULL,
	  "let deletions the guard would withhold through, once" },
	{ OPT_RELINKS, "allow-relinks", CL_ARG_NONE, NULL,
	  "let School Manager id changes the re-link guard would withhold through, once" },
	{ 'm', "max-delete", CL_ARG_REQUIRED, "PERCENT",
	  "the deletion guard's limit per entity type (10)" },
	{ OPT_REJECTS, "rejects", CL_ARG_REQUIRED, "FILE",
	  "cl-filter's --rejects file: the deletions it explains" },
	{ 'r', "report", CL_ARG_REQUIRED, "FILE.json", "write the Sync Details there (0600)" },
	{ OPT_PLAN, "plan", CL_ARG_NONE, NULL, "write the change set; record the sync as pending" },
	{ OPT_COMMIT, "commit", CL_ARG_REQUIRED, "ID", "record pending sync ID as applied" },
	{ OPT_DISCARD, "discard", CL_ARG_REQUIRED, "ID",
	  "forget pending sync ID: the next sync re-sends it" },
	{ OPT_RESET, "reset", CL_ARG_NONE, NULL,
	  "clear the last sync date; the next sync re-sends every record" },
	{ OPT_LAST, "last-sync", CL_ARG_NONE, NULL, "print the last sync date" },
	{ OPT_HISTORY, "history", CL_ARG_OPTIONAL, "N",
	  "print the last N syncs, newest first (20)" },
	{ OPT_SHOW, "show-sync", CL_ARG_REQUIRED, "ID", "print one sync's Sync Details" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-load", usage,
	"Writes the change set that brings School Manager up to date with the matched\n"
	"roster stream (cl-match's output) in FILE or stdin, and records the sync.\n",
	opts
};

static int
parse_percent(const char *s, double *out)
{
	char *end;
	double v;

	if (!*s || *s == '+' || *s == '-' || *s == ' ')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0 && v <= 100))
		return -1;
	*out = v;
	return 0;
}

/*
 * Reads the command line into L->o. Returns -1 to go on, or the exit status
 * (0 after --help or --version).
 */
static int
parse_options(struct load *L, int argc, char *argv[])
{
	struct load_opts *o = &L->o;
	struct cl_getopt g;
	long long v;
	int c, modes = 0;

	o->max_delete = 10;
	o->history_n = 20;
	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case 's':
			o->state = g.arg;
			break;
		case 'n':
			o->dry_run = 1;
			break;
		case 'a':
			o->allow_deletes = 1;
			break;
		case 'm':
			if (parse_percent(g.arg, &o->max_delete) < 0)
				return cl_usage_error(
				        &cmd,
				        "--max-delete: '%s' is not a percentage from 0 to 100",
				        g.arg);
			break;
		case 'r':
			o->report = g.arg;
			break;
		case OPT_RESET:
			o->mode = LOAD_M_RESET;
			modes++;
			break;
		case OPT_LAST:
			o->mode = LOAD_M_LAST;
			modes++;
			break;
		case OPT_HISTORY:
			o->mode = LOAD_M_HISTORY;
			modes++;
			if (g.arg) {
				if (cl_parse_num(g.arg, 1, 1000000, &v) < 0)
					return cl_usage_error(
					        &cmd, "--history: '%s' is not a count", g.arg);
				o->history_n = (long)v;
			}
			break;
		case OPT_SHOW:
		case OPT_COMMIT:
		case OPT_DISCARD:
			o->mode = c == OPT_SHOW     ? LOAD_M_SHOW
			          : c == OPT_COMMIT ? LOAD_M_COMMIT
			                            : LOAD_M_DISCARD;
			modes++;
			if (cl_parse_num(g.arg, 1, (long long)1 << 53, &o->show_id) < 0)
				return cl_usage_error(&cmd, "--%s: '%s' is not a sync id",
				                      c == OPT_SHOW     ? "show-sync"
				                      : c == OPT_COMMIT ? "commit"
				                                        : "discard",
				                      g.arg);
			break;
		case OPT_PLAN:
			o->plan = 1;
			break;
		case OPT_RELINKS:
			o->allow_relinks = 1;
			break;
		case OPT_REJECTS:
			if (!strcmp(g.arg, "-"))
				return cl_usage_error(&cmd,
				                      "--rejects: '-' is not a file (standard "
				                      "input carries the stream)");
			o->rejects = g.arg;
			break;
		default: /* CL_OPT_EXIT */
			return g.status;
		}
	}
	argc -= optind;
	argv += optind;
	if (!o->state)
		return cl_usage_error(&cmd, "--state is required");
	if (modes > 1)
		return cl_usage_error(&cmd,
		                      "--commit, --discard, --reset, --last-sync, --history and "
		                      "--show-sync exclude each other");
	if (o->plan && o->dry_run)
		return cl_usage_error(&cmd, "--plan and --dry-run exclude each other");
	if (o->mode == LOAD_M_HISTORY && argc == 1 && cl_parse_num(argv[0], 1, 1000000, &v) == 0) {
		o->history_n = (long)v; /* --history N, as well as --history=N */
		argc--;
	}
	if (o->mode != LOAD_M_SYNC && (argc > 0 || o->dry_run || o->plan || o->allow_deletes ||
	                               o->allow_relinks || o->report || o->rejects))
		return cl_usage_error(&cmd,
		                      "--commit, --discard, --reset, --last-sync, --history and "
		                      "--show-sync take no other option or operand");
	if (argc > 1)
		return cl_usage_error(&cmd, "one input at most");
	if (argc == 1 && strcmp(argv[0], "-") != 0)
		o->input = argv[0];
	o->check_args = g.check_args;
	return -1;
}

/*
 * Records this sync: as pending (--plan), or in the history with its
 * records settled (one step). A failed sync is recorded in the history
 * either way, and nothing else.
 */
static int
record(struct load *L)
{
	if (L->o.dry_run)
		return 0;
	if (L->o.plan && !load_failed(L))
		return load_record_pending(L);
	if (load_record_sync(L) < 0)
		return -1;
	return load_failed(L) ? 0 : load_settle(L, 0, L->stream.complete && !L->stream.delta);
}

static int
commit(struct load *L)
{
	if (L->o.dry_run)
		return 0;
	if (load_exec(L, "COMMIT") < 0)
		return -1;
	L->state.in_txn = 0;
	/* a new state's first transaction is written: WAL from now on (state.c);
	 * should another connection hold it off, the next run's open turns it on */
	if (L->state.fresh)
		sqlite3_exec(L->state.db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	L->state.fresh = 0;
	return 0;
}

/*
 * Undoes what the sync did to the state (its changes and its record) and
 * forgets its counts: a failed sync records only that it failed.
 */
static int
undo(struct load *L)
{
	if (L->state.bad || load_exec(L, "ROLLBACK TO work") < 0)
		return -1;
	memset(L->tally.ent, 0, sizeof L->tally.ent);
	L->tally.matched_students = L->tally.matched_teachers = L->tally.matched_other =
	        L->tally.unmatched = 0;
	jv_free(L->tally.unmatched_by);
	L->tally.unmatched_by = jv_object();
	jv_free(L->tally.deletions);
	L->tally.deletions = jv_object();
	jv_free(L->tally.incomplete);
	L->tally.incomplete = jv_array();
	return 0;
}

/* A sync: the pass, the change set, then the commit. */
static void
sync_run(struct load *L)
{
	struct cl_buf why = CL_BUF_INIT;
	int fd = 0, rc, began = 0;

	if (L->o.input && (fd = open(L->o.input, O_RDONLY | O_CLOEXEC)) < 0) {
		load_error(L, "CL007", "cannot open '%s': %s", L->o.input, strerror(errno));
		return;
	}
	/* no output may be an input or the state: asked before anything is read */
	cl_out_note_input_fd(fd);
	cl_out_note_input_path(L->o.state);
	if (cl_out_check_stdout(&why) == CL_OUT_SAME) {
		load_error(L, "CL010", "%s", why.p);
		goto out;
	}
	if (L->o.report && !strcmp(L->o.report, L->o.state)) {
		load_error(L, "CL010", "--report '%s' is the state", L->o.report);
		goto out;
	}
	if (L->o.report && (rc = cl_out_open(&L->sync.report, L->o.report, &why)) != 0) {
		if (rc == CL_OUT_SAME) {
			load_error(L, "CL010", "--report: %s", why.p);
			goto out;
		}
		/* a failed night: recorded as one in the history, nothing applied */
		load_error(L, "CL430", "--report: %s", why.p);
	}
	if (load_state_open(L, !L->o.dry_run, 1) < 0)
		goto out;
	if (load_previous(L) < 0 || load_exec(L, "SAVEPOINT work") < 0)
		goto out;
	rc = load_failed(L) ? -1 : load_index_open(L);
	if (rc == 0)
		rc = load_ingest(L, fd, L->o.input ? L->o.input : "<stdin>");
	if (rc == 0)
		rc = load_join(L);
	if (rc == 0) /* after the trailer: cl-filter put the file in place before writing it */
		rc = load_rejects(L);
	if (rc == 0) {
		load_put_jv(stdout, load_begin(L));
		began = 1;
		rc = load_diff(L, stdout);
	}
	if (rc < 0) {
		/* Nothing applied: only the record of a failed sync is kept. */
		if (!load_failed(L))
			load_error(L, "CL425", "the sync failed");
		if (undo(L) < 0)
			goto out;
		if (!began)
			load_put_jv(stdout, load_begin(L));
	}
	cl_iso8601(cl_now(), L->sync.finished);
	load_put_jv(stdout, load_details(L, 1));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		load_error(L, "CL006", "cannot write the change set: %s", strerror(errno));
		cl_abandon_stdout(); /* reported: cl_exit does not report it again */
		if (load_exec(L, "ROLLBACK TO work") < 0)
			goto out;
	}
	if (record(L) < 0)
		goto out;
	/*
	 * The report is in place before the commit: when it cannot be written,
	 * the sync's changes are not committed, only the record of a failed
	 * night with what it would have done (the change set's exit status says
	 * not to apply it, and the next run writes it again).
	 */
	if (L->sync.report.f && load_write_report(L) < 0 && !L->o.dry_run &&
	    (load_exec(L, "ROLLBACK TO work") < 0 || record(L) < 0))
		goto out;
	if (!L->o.dry_run && (load_exec(L, "RELEASE work") < 0 || commit(L) < 0))
		goto out;
out:
	cl_out_abort(&L->sync.report);
	cl_buf_release(&why);
	if (fd > 0)
		close(fd);
}

/*
 * --check-args: what sync_run checks before it reads anything, without the
 * state (never opened: a check must not create or lock it) or stdout.
 */
static void
check_args(struct load *L)
{
	int fd;

	if (L->o.mode != LOAD_M_SYNC)
		return;
	if (L->o.input) {
		if ((fd = open(L->o.input, O_RDONLY | O_CLOEXEC)) < 0) {
			load_error(L, "CL007", "cannot open '%s': %s", L->o.input, strerror(errno));
			return;
		}
		close(fd);
	}
	if (L->o.report && !strcmp(L->o.report, L->o.state))
		load_error(L, "CL010", "--report '%s' is the state", L->o.report);
}

static void
other_mode(struct load *L)
{
	char *v, gen[32];

	switch (L->o.mode) {
	case LOAD_M_RESET:
		/* re-send everything next time; plans made before cannot be committed */
		if (load_state_open(L, 0, 1) < 0 || L->state.absent)
			return;
		snprintf(gen, sizeof gen, "%lld", load_meta_int(L, "generation") + 1);
		if (load_meta_set(L, "last_sync", NULL) == 0 &&
		    load_meta_set(L, "resend", "1") == 0 &&
		    load_meta_set(L, "generation", gen) == 0)
			commit(L);
		break;
	case LOAD_M_COMMIT:
	case LOAD_M_DISCARD:
		if (load_state_open(L, 0, 1) < 0)
			return;
		if (L->state.absent)
			load_error(L, "CL432", "no pending sync %lld: state '%s' does not exist",
			           L->o.show_id, L->o.state);
		else if ((L->o.mode == LOAD_M_COMMIT ? load_commit_pending(L, L->o.show_id)
		                                     : load_discard_pending(L, L->o.show_id)) == 0)
			commit(L);
		break;
	case LOAD_M_LAST:
		if (load_state_open(L, 0, 0) < 0 || L->state.absent)
			return;
		v = load_meta_get(L, "last_sync");
		if (v)
			printf("%s\n", v);
		free(v);
		break;
	case LOAD_M_HISTORY:
		if (load_state_open(L, 0, 0) == 0)
			load_show_history(L, L->o.history_n);
		break;
	case LOAD_M_SHOW:
		if (load_state_open(L, 0, 0) == 0)
			load_show_sync(L, L->o.show_id);
		break;
	}
}

int
main(int argc, char *argv[])
{
	static char outbuf[1 << 16];
	struct load L;
	int status;

	cl_diag_init(argv[0]);
	load_init(&L);
	status = parse_options(&L, argc, argv);
	if (status >= 0)
		goto out;
	if (L.o.check_args) {
		check_args(&L);
		status = load_status(&L);
		goto out;
	}
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
	if (L.o.mode == LOAD_M_SYNC)
		sync_run(&L);
	else
		other_mode(&L);
	status = load_status(&L);
out:
	status = cl_exit(status);
	load_release(&L);
	return status;
}
