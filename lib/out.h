/*
 * out.h: every file a program writes goes through here (DESIGN.md, "Secrets
 * and personal data"), so that no output ever clobbers what it points at.
 *
 *   "-"                 standard output
 *   a regular file, or  written to a temporary file in the same folder
 *   nothing yet         (mode 0600, or the mode of the file it replaces) and
 *                       renamed over the target at cl_out_commit, atomically:
 *                       the target is the old file or the whole new one
 *   a FIFO, a device    opened and written in place: never renamed over,
 *   or a terminal       never truncated, never chmodded
 *   a symbolic link     refused, not followed: our outputs hold personal data
 *   a directory         refused
 *
 * The temporary file has no name while it is written where the file system
 * allows (O_TMPFILE), so a killed program leaves nothing; it gets one only
 * for the rename. Elsewhere it is named "TARGET.cl-tmp.PID.XXXXXX", and the
 * next cl_out_open of the same target removes such files whose PID no longer
 * runs.
 *
 * An output may not be an input: cl_out_note_input records each input (and
 * the state), and cl_out_open refuses a target that is the same file (device
 * and inode) with CL_OUT_SAME, before the program reads anything.
 */
#ifndef CL_OUT_H
#define CL_OUT_H

#include <stdio.h>

#include "buf.h"

struct cl_out {
	FILE *f;          /* where to write; stdout for "-" */
	const char *path; /* the target as given; borrowed */
	/* private */
	char *tmp;     /* the temporary file's name, or NULL (none, or still anonymous) */
	int kind;      /* stdout, replace, in place */
	int have_mode; /* the target existed: keep its mode */
	unsigned mode; /* the target's mode */
	char *iobuf;   /* the stream's buffer */
	struct cl_buf scratch;
};

/* What cl_out_open returns besides 0. */
enum { CL_OUT_FAIL = -1, CL_OUT_SAME = -2 };

/*
 * Records an input so that no output may be the same file: an open
 * descriptor (stdin included), or a path (the state, which may not exist
 * yet: nothing is recorded then). Regular files only: two outputs to
 * /dev/null are not the same file in this sense.
 */
void cl_out_note_input_fd(int fd);
void cl_out_note_input_path(const char *path);
/* Forgets every input recorded (for tests and programs run twice in a process). */
void cl_out_forget_inputs(void);

/*
 * CL_OUT_SAME, with why filled, when standard output is the same file as a
 * recorded input (`cl-filter f.ndjson >f.ndjson`: the shell has emptied the
 * input already); else 0. Every stage that writes its stream to stdout asks.
 */
int cl_out_check_stdout(struct cl_buf *why);

/*
 * Opens path for writing, as the table above says. Returns 0; CL_OUT_SAME
 * when the target is the same file as a recorded input (report it as CL010);
 * CL_OUT_FAIL when it cannot be opened (report it with the program's own
 * code). On both failures why holds the message (what and where, strerror
 * included) and o is left released.
 */
int cl_out_open(struct cl_out *o, const char *path, struct cl_buf *why);

/*
 * Finishes the output: flushes and checks it, then, for a file, syncs it,
 * keeps the old file's mode, and renames it over the target. Returns 0, or
 * -1 with why holding the message (the target is then untouched and the
 * temporary file gone). Releases o either way (stdout is left open: the
 * program's cl_exit closes it).
 */
int cl_out_commit(struct cl_out *o, struct cl_buf *why);

/* Gives up: the temporary file is removed, the target untouched. o may be unopened (zeroed). */
void cl_out_abort(struct cl_out *o);

/*
 * A temporary file in $TMPDIR (else /tmp), mode 0600, unlinked at once so
 * that nothing is left behind: where a stage keeps lines it writes later
 * (the parents, which come last). *dir receives the folder, for messages.
 * Returns the file open for writing and reading, or NULL with errno set.
 */
FILE *cl_spool_open(const char *prefix, const char **dir);

#endif
