/*
 * sync.h: cl-sync-run, the supervisor of one night of an integration.
 *
 * scripts/cl-sync reads the config, takes the lock, makes the run folder
 * and execs cl-sync-run with every stage's command line. cl-sync-run runs
 * the stages as git's run-command.c runs its children: forked and exec'd in
 * a process group of their own, each stage's stdout through a tee of ours
 * into the run folder, each stage's stderr read line by line into the
 * run's log. It forwards INT, TERM and HUP to the group, and every child
 * dies with it (PR_SET_PDEATHSIG), so that nothing commits alone. Then it
 * applies and commits the plan (apply_command), decides the night's status
 * from the stages' exit statuses, their codes and cl-load's report, and
 * writes the Sync Details.
 */
#ifndef CL_SYNC_H
#define CL_SYNC_H

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

enum { STAGE_FETCH, STAGE_FILTER, STAGE_MATCH, STAGE_LOAD, STAGE_APPLY, STAGE_COMMIT, NSTAGES };

#define MAX_CODES 32

/* The codes a child reported, in the order it reported them, each once. */
struct codes {
	int n;
	char code[MAX_CODES][6];
};

/* One child: a stage, a tee of ours, or a one-off command (apply, commit). */
struct child {
	const char *name; /* "cl-fetch", "tee fetch.ndjson" */
	char **argv;      /* NULL for a tee (a fork of ours) */
	pid_t pid;        /* 0: not started */
	int running;
	int wstatus;          /* waitpid's */
	int errfd;            /* the read end of its stderr, or -1 */
	struct cl_buf errbuf; /* a partial line of its stderr */
	char progress[160];   /* its last progress line (cl-fetch's meter) */
	struct codes codes;
	double ended; /* monotonic time it ended */
};

/* What a tee of ours counts while it copies (in memory shared with us). */
struct tee_count {
	volatile uint64_t bytes, lines;
	volatile int failed; /* 1: the file could not be written (the stream went on) */
};

/* The run: set up by main, read by everything. */
struct run {
	const char *name;    /* the integration's name */
	const char *dir;     /* the run folder */
	const char *state;   /* cl-load's state file */
	const char *tz;      /* the district's time zone */
	const char *trigger; /* scheduled, manual, dry-run */
	const char *apply;   /* apply_command, or NULL */
	const char *export_path;
	long export_max_age;
	const char *nights; /* $state_dir/nights.ndjson */
	int quiet, progress, tty_out;
	char **stage_argv[4];
	/* A delta night (cl-sync's fetch_mode): commands that run first, each to its
	   end (the totals, the delta, the merge's check); when one fails, the fetch
	   stage is fallback (a full fetch) instead. */
	int npre;
	const char *pre_name[8];
	char **pre_argv[8];
	char **fallback;
	const char *fetch_mode;   /* "full" or "delta" (as cl-sync decided it) */
	const char *fetch_reason; /* why, in a few words */
	const char *save_base;    /* where a whole night's stream is kept for the next delta */

	int logfd;
	int pgid;
	int interrupted; /* the signal that stopped the night, or 0 */
	time_t started, finished;
	double t0;
	double log_every; /* seconds between the log's progress lines */
	double last_log_progress, last_progress_file, last_draw;
	int drawn; /* lines of the live display on the terminal */
	struct child stage[NSTAGES];
	struct child tee[3];
	struct tee_count *count; /* [3], shared with the tees */
	struct codes own;        /* cl-sync-run's own codes */
};

/* proc.c */
double sync_now(void);
int sync_signals_init(void);
void sync_log(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sync_log_line(struct run *r, const char *line, size_t n);
void codes_add(struct codes *c, const char *code);
int sync_pipeline(struct run *r);
int sync_command(struct run *r, struct child *c, int in, int out);
void sync_wait(struct run *r);
void sync_forward(struct run *r, int sig);
int child_status(const struct child *c); /* exit status, 128+signal, or -1 not run */
void sync_draw(struct run *r, int final);

/* details.c */
struct night {
	const char *status; /* success, partial, failed */
	const char *why;    /* a few words after the status, or NULL */
	int exit;
	struct codes codes;
	long long sync; /* cl-load's sync id, or -1 */
	int dry_run;
};
int sync_details(struct run *r, const struct night *n, struct cl_buf *out);
int sync_night_json(struct run *r, const struct night *n, struct cl_buf *out);
int sync_report_complete(const char *dir);
int sync_report_changes(const char *path, long long *changes, char *status, size_t statusz,
                        long long *sync, struct codes *codes);

#endif
