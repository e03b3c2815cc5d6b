/*
 * spool.h: the user lines cl-match holds back until it has seen every user
 * (a duplicate within the roster is only known then), given back in order
 * for the second pass. Never in memory; two kinds:
 *
 * - The input itself (match_spool_input), when the stream is a regular
 *   file: nothing is written. The spool remembers where the users begin
 *   (offset and line number) and end, and gives them back by reading the
 *   file again with pread (the first pass's reader owns the file offset).
 *   It keeps nothing about a user: the caller reads the user's role and
 *   keys again from the line (cl-match.c says why). The file must still be
 *   the one the first pass read: its size and modification time are
 *   compared with what they were when it was opened, when the second pass
 *   starts and when it ends, and the users must be where they were.
 * - A temporary file (match_spool_new), when the stream is a pipe: an
 *   unlinked file in $TMPDIR holding each user line, its decision fields
 *   and its normalised key, compressed with zstd (streaming, fast level).
 *
 * Rewinding starts the second pass; it may be rewound again (cl-match reads
 * it twice with several match keys). Nothing may be put after a rewind.
 */
#ifndef MATCH_SPOOL_H
#define MATCH_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* What was decided about a user when it was read. */
struct match_spooled {
	uint8_t cls;  /* enum cl_email_class */
	uint8_t role; /* enum cl_role: student, teacher or other */
};

struct match_spool;

/*
 * Creates a temporary spool: a file made with mkstemp in $TMPDIR (or
 * /tmp), mode 0600, unlinked at once so nothing is left behind whatever
 * happens. Returns NULL with errno set on failure; *dir receives the folder
 * tried (also for a later error: match_spool_dir).
 */
struct match_spool *match_spool_new(const char **dir);

/*
 * Creates a spool over the input: fd (a regular file, not closed by the
 * spool; name for messages), whose first user line starts at byte offset
 * off and is line lineno; st is fstat's answer when the file was opened,
 * before anything was read. max_line caps a line read again.
 */
struct match_spool *match_spool_input(int fd, const char *name, const struct stat *st, off_t off,
                                      unsigned long long lineno, size_t max_line);

void match_spool_free(struct match_spool *s);

/* 1 when get gives back rec and key; 0 for the input, which gives back the line alone. */
int match_spool_keeps_values(const struct match_spool *s);

/* The folder of a temporary spool ("" for the input). */
const char *match_spool_dir(const struct match_spool *s);

/*
 * Appends a user line (n bytes, without its '\n') and its normalised email
 * key. The input spool only counts it: the lines put must be the input's
 * next lines. Returns 0 or -1 (errno).
 */
int match_spool_put(struct match_spool *s, const struct match_spooled *rec, const char *line,
                    size_t n, const char *key, size_t kn);

/*
 * Starts reading what was put, from the first record. Returns 0, -1 on an
 * I/O error (errno), or MATCH_SPOOL_CHANGED (the input changed:
 * match_spool_why says how).
 */
#define MATCH_SPOOL_CHANGED (-2)
int match_spool_rewind(struct match_spool *s);

/*
 * Reads the next record: 1 with the fields set (line and key borrowed
 * until the next call; the input spool sets line and n alone), 0 at the
 * end, -1 on a read error (errno), MATCH_SPOOL_CHANGED when the input
 * changed since the first pass.
 */
int match_spool_get(struct match_spool *s, struct match_spooled *rec, const char **line, size_t *n,
                    const char **key, size_t *kn);

/* Why the input changed ("path:line: ..."), after MATCH_SPOOL_CHANGED. */
const char *match_spool_why(const struct match_spool *s);

/* The caller found the line get gave back is not what the first pass read: sets why. */
void match_spool_changed(struct match_spool *s);

/* Records put so far. */
unsigned long long match_spool_count(const struct match_spool *s);

/* Bytes written to the temporary file so far (compressed; 0 for the input). */
unsigned long long match_spool_bytes(const struct match_spool *s);

#endif
