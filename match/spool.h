/*
 * spool.h: the user lines cl-match holds back until it has seen every user
 * (a duplicate within the roster is only known then). They wait in an
 * unlinked temporary file, never in memory.
 */
#ifndef MATCH_SPOOL_H
#define MATCH_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/* What was decided about a user when it was read. */
struct match_spooled {
	uint8_t cls;  /* enum cl_email_class */
	uint8_t role; /* enum cl_role: student, teacher or other */
};

struct match_spool;

/*
 * Creates the spool: a file made with mkstemp in $TMPDIR (or /tmp), mode
 * 0600, unlinked at once so nothing is left behind whatever happens.
 * Returns NULL with errno set on failure; *dir receives the folder tried.
 */
struct match_spool *match_spool_new(const char **dir);
void match_spool_free(struct match_spool *s);

/* Appends a user line (n bytes) and its normalised email key. Returns 0 or -1 (errno). */
int match_spool_put(struct match_spool *s, const struct match_spooled *rec, const char *line,
                    size_t n, const char *key, size_t kn);

/* Starts reading what was put, from the first record. Returns 0 or -1 (errno). */
int match_spool_rewind(struct match_spool *s);

/*
 * Reads the next record: 1 with the fields set (line and key borrowed
 * until the next call), 0 at the end, -1 on a read error (errno).
 */
int match_spool_get(struct match_spool *s, struct match_spooled *rec, const char **line, size_t *n,
                    const char **key, size_t *kn);

/* Records put so far. */
unsigned long long match_spool_count(const struct match_spool *s);

#endif
