/*
 * cl-merge: a delta night's full picture. Merges a delta stream (cl-fetch
 * --since: only what changed, deletions as status tobedeleted) into the
 * last full stream, and writes a complete roster stream:
 *
 *	cl-fetch --since T ENDPOINT | cl-merge --base last-fetch.ndjson.zst --totals totals.json
 *
 * - a record in the delta replaces the base's record of the same kind and
 *   sourcedId, in the base's place; one marked tobedeleted does too, as the
 *   server sent it, and every stage downstream treats it as removed
 *   (cl-filter drops it, cl-load explains the deletion as tobedeleted);
 * - a record the base lacks goes at the end of its kind's section, in the
 *   delta's order (a user whose role moved between the users and the
 *   parents goes to its new section);
 * - every other line of the base passes through byte for byte.
 *
 * Memory is the delta's (its lines, and a map of its keys), never the
 * district's: the base is read once, streaming.
 *
 * Trust. A server that forgets to report a deletion leaves the base's
 * record in the merge, and nothing in the delta says so. So the merge is
 * complete only when it is reconciled: --totals gives each collection's
 * total as the server counts it (cl-fetch --totals), and the merged
 * stream must hold exactly that many records of each (CL224 otherwise:
 * the trailer says incomplete, cl-load withholds deletions, and cl-sync
 * fetches in full). Without --totals the merge is never complete (CL225).
 * Servers differ in whether a full listing holds the records marked
 * tobedeleted, and in whether a deletion shows as one or as an absence:
 * so what is counted is the records that are not marked (the merged
 * stream's, against the server's count of its active records:
 * cl-fetch --totals asks filter=status='active').
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "diag.h"
#include "idmap.h"
#include "json.h"
#include "out.h"
#include "stream.h"

static const char usage[] = "usage: cl-merge --base FILE [--totals FILE] [--max-line BYTES] "
                            "[DELTA]\n";

enum { OPT_BASE = CL_OPT_LONG, OPT_TOTALS, OPT_MAX_LINE };

static const struct cl_opt opts[] = {
	{ OPT_BASE, "base", CL_ARG_REQUIRED, "FILE",
	  "the last full stream (FILE.zst is read through zstd)" },
	{ OPT_TOTALS, "totals", CL_ARG_REQUIRED, "FILE",
	  "each collection's active records as the server counts them\n"
	  "(cl-fetch --totals):"
	  "\nwithout it the merge is never complete" },
	{ OPT_MAX_LINE, "max-line", CL_ARG_REQUIRED, "BYTES",
	  "the longest line read (default 64 MiB)" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-merge", usage,
	"Merges the delta stream in DELTA or stdin (cl-fetch --since) into the last full\n"
	"stream, and writes the whole roster stream: the delta's records replace the base's,\n"
	"its tobedeleted records remove them, new records go at the end of their kind.\n",
	opts
};

struct opts {
	const char *base, *totals, *input;
	size_t max_line;
	int check_args;
};

/* The collection a kind's records are counted in (users: users and parents). */
static const char *const collection[CL_K_COUNT] = {
	[CL_K_ORG] = "orgs",      [CL_K_SESSION] = "academicSessions", [CL_K_COURSE] = "courses",
	[CL_K_CLASS] = "classes", [CL_K_ENROLLMENT] = "enrollments",   [CL_K_USER] = "users",
	[CL_K_PARENT] = "users",  [CL_K_DEMOGRAPHIC] = "demographics",
};

/* A key's group: users and parents are one (a user may move between them). */
static int
group(enum cl_kind k)
{
	return k == CL_K_PARENT ? CL_K_USER : (int)k;
}

/* One record of the delta. */
struct rec {
	enum cl_kind kind;
	size_t off, n; /* its line in the arena */
	int tbd;       /* status tobedeleted (or inactive, as cl-filter reads it) */
	int used;      /* written in the base's place, or removed from it */
	int moved;     /* it replaced a base record of the other user section */
};

struct delta {
	struct cl_buf arena, key;
	struct rec *rec;
	size_t n, cap;
	struct cl_idmap *by_key; /* group + '\x1f' + sourcedId -> index + 1 */
	struct cl_buf header;    /* the delta's header line */
	int complete;
	jv upstream; /* the delta's trailer line, for its stages */
};

static int
options(struct opts *o, int argc, char *argv[])
{
	struct cl_getopt g;
	int c, rc;

	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case CL_OPT_EXIT:
			return g.status;
		case OPT_BASE:
			o->base = g.arg;
			break;
		case OPT_TOTALS:
			o->totals = g.arg;
			break;
		case OPT_MAX_LINE:
			if ((rc = cl_getopt_bytes(&g, &o->max_line)) != 0)
				return rc;
			break;
		default:
			return CL_EX_USAGE;
		}
	}
	o->check_args = g.check_args;
	if (!o->base)
		return cl_usage_error(&cmd, "--base FILE is required: the last full stream");
	return cl_getopt_input(&g, &o->input);
}

static void
make_key(struct cl_buf *k, enum cl_kind kind, const char *id, size_t n)
{
	cl_buf_reset(k);
	cl_buf_addc(k, (char)('A' + group(kind)));
	cl_buf_addc(k, 0x1f);
	cl_buf_add(k, id, n);
}

static int
is_tbd(const struct cl_json_span *s)
{
	return s && (cl_json_str_eq(s, "tobedeleted") || cl_json_str_eq(s, "inactive"));
}

/*
 * Opens the base: a plain file, or FILE.zst through `zstd -dc` (a child
 * whose pid is *child). Returns the fd, or -1 with errno set.
 */
static int
open_base(const char *path, pid_t *child)
{
	size_t n = strlen(path);
	int p[2];

	*child = 0;
	if (n < 4 || strcmp(path + n - 4, ".zst") != 0)
		return open(path, O_RDONLY | O_CLOEXEC);
	if (access(path, R_OK) != 0 || pipe2(p, O_CLOEXEC) != 0)
		return -1;
	*child = fork();
	if (*child < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (*child == 0) {
		signal(SIGPIPE, SIG_DFL);
		dup2(p[1], 1);
		execlp("zstd", "zstd", "-dcq", "--", path, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	return p[0];
}

/* Reads the whole delta. Returns 0, or -1 with the failure reported. */
static int
read_delta(struct delta *d, struct cl_reader *r, struct cl_stage *st, const char *name)
{
	size_t i_id = cl_reader_want(r, "data.sourcedId");
	size_t i_status = cl_reader_want(r, "data.status");
	size_t i_delta = cl_reader_want(r, "delta");
	struct cl_line ln;
	struct cl_buf id = CL_BUF_INIT;
	int rc;

	while ((rc = cl_reader_next(r, &ln)) > 0) {
		struct rec *x;
		int added = 0;
		uint64_t *v;

		if (ln.kind == CL_K_HEADER) {
			const struct cl_json_span *dl = cl_reader_field(r, i_delta);

			if (!dl || dl->type != CL_JSON_TRUE) {
				cl_stage_fail(st, "CL223",
				              "%s: the input is not a delta (its header has no "
				              "\"delta\":true): a full stream needs no merge",
				              name);
				break;
			}
			cl_buf_add(&d->header, ln.p, ln.n);
			continue;
		}
		if (ln.kind == CL_K_TRAILER) {
			cl_stage_take_trailer(st, r, &ln);
			d->complete = cl_reader_upstream_complete(r) == 1;
			continue;
		}
		if (cl_json_str_set(cl_reader_field(r, i_id), &id) < 0 || id.len == 0) {
			cl_stage_fail(st, "CL226",
			              "%s:%llu: a %s with no sourcedId cannot be merged", name,
			              ln.lineno, cl_kind_name(ln.kind));
			break;
		}
		make_key(&d->key, ln.kind, id.p, id.len);
		v = cl_idmap_put(d->by_key, d->key.p, d->key.len, &added);
		if (!added) { /* the last one the server sent wins */
			x = &d->rec[*v - 1];
		} else {
			if (d->n == d->cap) {
				d->cap = d->cap ? 2 * d->cap : 1024;
				d->rec = cl_xreallocarray(d->rec, d->cap, sizeof *d->rec);
			}
			x = &d->rec[d->n++];
			*v = d->n;
		}
		x->kind = ln.kind;
		x->off = d->arena.len;
		x->n = ln.n;
		x->tbd = is_tbd(cl_reader_field(r, i_status));
		x->used = 0;
		x->moved = 0;
		cl_buf_add(&d->arena, ln.p, ln.n);
	}
	cl_buf_release(&id);
	if (rc < 0) {
		cl_stage_fail_read(st, r);
		return -1;
	}
	return st->fatal ? -1 : 0;
}

/* The merged header: the delta's (tonight's fetch), no longer a delta, and the base it used. */
static int
write_header(struct delta *d, struct cl_stage *st, jv base_source, const char *base_at)
{
	jv h = jv_parse_sized(d->header.p, (int)d->header.len), src;
	struct cl_line ln;
	jv s;
	int rc;

	if (jv_get_kind(h) != JV_KIND_OBJECT) {
		jv_free(h);
		jv_free(base_source);
		return -1;
	}
	h = jv_object_delete(h, jv_string("delta"));
	src = jv_object_get(jv_copy(h), jv_string("source"));
	if (jv_get_kind(src) != JV_KIND_OBJECT) {
		jv_free(src);
		src = jv_object();
	}
	src = jv_object_set(src, jv_string("merged"), jv_true());
	src = jv_object_set(src, jv_string("base_fetched"), jv_string(base_at));
	h = jv_object_set(h, jv_string("source"), src);
	jv_free(base_source);
	s = jv_dump_string(h, 0);
	memset(&ln, 0, sizeof ln);
	ln.p = jv_string_value(s);
	ln.n = strlen(ln.p);
	ln.kind = CL_K_HEADER;
	rc = cl_stage_write_header(st, stdout, &ln, jv_invalid());
	jv_free(s);
	return rc;
}

/*
 * Writes the delta's records of kinds below k that no base line took, in
 * the delta's order: the delta is in stream order, so they are the ones
 * from *next up to the first of kind k or above.
 */
static void
flush_new(struct delta *d, struct cl_stage *st, enum cl_kind k, size_t *next, long long *added,
          long long merged[CL_K_COUNT], long long tbd[CL_K_COUNT])
{
	for (; *next < d->n && d->rec[*next].kind < k; ++*next) {
		struct rec *x = &d->rec[*next];

		if (x->used)
			continue;
		x->used = 1;
		cl_write_line(stdout, d->arena.p + x->off, x->n);
		cl_stage_wrote(st, x->kind, 1);
		merged[x->kind]++;
		if (x->tbd)
			tbd[x->kind]++;
		else if (!x->moved)
			++*added;
	}
}

/* A base from another integration or not a full, whole stream cannot be merged into. */
static int
check_base(struct delta *d, struct cl_stage *st, const struct cl_line *ln, const char *name,
           char *at, size_t atn)
{
	jv h = jv_parse_sized(ln->p, (int)ln->n),
	   dh = jv_parse_sized(d->header.p, (int)d->header.len);
	jv a = jv_getpath(jv_copy(h), JV_ARRAY(jv_string("source"), jv_string("endpoint")));
	jv b = jv_getpath(jv_copy(dh), JV_ARRAY(jv_string("source"), jv_string("endpoint")));
	jv dl = jv_object_get(jv_copy(h), jv_string("delta"));
	jv t = jv_getpath(jv_copy(h), JV_ARRAY(jv_string("stages"), jv_number(0), jv_string("at")));
	int rc = 0;

	snprintf(at, atn, "%s", jv_get_kind(t) == JV_KIND_STRING ? jv_string_value(t) : "");
	if (jv_get_kind(dl) == JV_KIND_TRUE) {
		cl_stage_fail(st, "CL221",
		              "%s: the base is itself a delta: merge into a full fetch", name);
		rc = -1;
	} else if (!jv_equal(jv_copy(a), jv_copy(b))) {
		cl_stage_fail(st, "CL222",
		              "%s: the base was fetched from %s, the delta from %s: another "
		              "integration's stream cannot be merged",
		              name,
		              jv_get_kind(a) == JV_KIND_STRING ? jv_string_value(a) : "(none)",
		              jv_get_kind(b) == JV_KIND_STRING ? jv_string_value(b) : "(none)");
		rc = -1;
	}
	jv_free(t);
	jv_free(dl);
	jv_free(a);
	jv_free(b);
	jv_free(h);
	jv_free(dh);
	return rc;
}

/* The pass over the base: its lines, the delta's in their place, the new ones at their section's
 * end. */
static void
merge(struct delta *d, struct cl_reader *r, struct cl_stage *st, const char *name,
      long long tally[4], long long merged[CL_K_COUNT], long long tbd[CL_K_COUNT],
      int *base_complete)
{
	size_t i_id = cl_reader_want(r, "data.sourcedId"), next = 0;
	size_t i_status = cl_reader_want(r, "data.status");
	struct cl_line ln;
	struct cl_buf id = CL_BUF_INIT;
	enum cl_kind last = CL_K_HEADER;
	char at[64] = "";
	int rc;

	while ((rc = cl_reader_next(r, &ln)) > 0) {
		uint64_t *v;

		if (ln.kind != last && ln.kind != CL_K_HEADER) {
			flush_new(d, st, ln.kind, &next, &tally[2], merged, tbd);
			last = ln.kind;
		}
		if (ln.kind == CL_K_HEADER) {
			if (check_base(d, st, &ln, name, at, sizeof at) < 0 ||
			    write_header(d, st, jv_invalid(), at) < 0) {
				if (!st->fatal)
					cl_stage_fail(st, "CL009",
					              "%s: the delta's header cannot be read",
					              name);
				break;
			}
			continue;
		}
		if (ln.kind == CL_K_TRAILER) {
			*base_complete = cl_reader_upstream_complete(r) == 1;
			continue;
		}
		if (cl_json_str_set(cl_reader_field(r, i_id), &id) == 0 && id.len > 0) {
			make_key(&d->key, ln.kind, id.p, id.len);
			v = cl_idmap_get(d->by_key, d->key.p, d->key.len);
		} else {
			v = NULL;
		}
		if (v) {
			struct rec *x = &d->rec[*v - 1];

			if (x->kind == ln.kind) {
				x->used = 1;
				tally[x->tbd ? 1 : 0]++; /* removed, or replaced */
				cl_write_line(stdout, d->arena.p + x->off, x->n);
				cl_stage_wrote(st, x->kind, 1);
				merged[x->kind]++;
				if (x->tbd)
					tbd[x->kind]++;
				continue;
			}
			/* moved between the users and the parents: written in its new section */
			x->moved = 1;
			tally[0]++;
			continue;
		}
		cl_write_line(stdout, ln.p, ln.n);
		cl_stage_wrote(st, ln.kind, 1);
		merged[ln.kind]++;
		if (is_tbd(cl_reader_field(r, i_status)))
			tbd[ln.kind]++;
		tally[3]++; /* passed through */
	}
	if (rc < 0)
		cl_stage_fail_read(st, r);
	else if (!st->fatal)
		flush_new(d, st, CL_K_TRAILER, &next, &tally[2], merged, tbd);
	cl_buf_release(&id);
}

/*
 * Reconciliation: the merged records of each collection against the
 * server's totals. Returns 1 when every collection agrees, 0 when one
 * does not (reported), -1 when the totals cannot be read (reported).
 */
static int
reconcile(struct cl_stage *st, const char *path, const long long merged[CL_K_COUNT],
          const long long tbd[CL_K_COUNT])
{
	struct cl_buf b = CL_BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok = 1, k;
	jv t;

	if (fd < 0) {
		cl_stage_fail(st, "CL227", "--totals '%s': cannot read it: %s", path,
		              strerror(errno));
		return -1;
	}
	while ((n = read(fd, chunk, sizeof chunk)) > 0 && b.len < (1u << 20))
		cl_buf_add(&b, chunk, (size_t)n);
	close(fd);
	t = jv_parse_sized(b.p, (int)b.len);
	cl_buf_release(&b);
	if (jv_get_kind(t) != JV_KIND_OBJECT) {
		jv_free(t);
		cl_stage_fail(st, "CL227",
		              "--totals '%s': not a JSON object of totals (cl-fetch --totals)",
		              path);
		return -1;
	}
	for (k = CL_K_ORG; k < CL_K_TRAILER; k++) {
		long long have = merged[k] - tbd[k];
		jv v;

		if (k == CL_K_PARENT)
			continue;
		if (k == CL_K_USER)
			have += merged[CL_K_PARENT] - tbd[CL_K_PARENT];
		v = jv_object_get(jv_copy(t), jv_string(collection[k]));
		if (jv_get_kind(v) != JV_KIND_NUMBER) {
			jv_free(v);
			continue; /* a collection not fetched (demographics) */
		}
		if ((long long)jv_number_value(v) != have) {
			cl_stage_fail(
			        st, "CL224",
			        "%s: the merged stream holds %lld active, the server counts %lld: "
			        "a "
			        "deletion the server did not report, or a change it did not send; "
			        "fetch in full",
			        collection[k], have, (long long)jv_number_value(v));
			ok = 0;
		}
		jv_free(v);
	}
	jv_free(t);
	return ok;
}

int
main(int argc, char *argv[])
{
	struct opts o = { 0 };
	struct cl_stage st;
	struct delta d = { CL_BUF_INIT, CL_BUF_INIT, NULL, 0, 0, NULL, CL_BUF_INIT, 0, { 0 } };
	struct cl_reader *rd = NULL, *rb = NULL;
	long long tally[4] = { 0 }, merged[CL_K_COUNT] = { 0 }, tbd[CL_K_COUNT] = { 0 };
	int fd = STDIN_FILENO, bfd = -1, status, base_complete = 0;
	pid_t zchild = 0;

	cl_diag_init(argv[0]);
	cl_stage_init(&st, "cl-merge");
	st.lines_counted = 1;
	d.by_key = cl_idmap_new();
	if ((status = options(&o, argc, argv)) >= 0)
		goto out;
	if (o.input && (fd = open(o.input, O_RDONLY | O_CLOEXEC)) < 0) {
		status = cl_fail("CL007", "cannot open '%s':", o.input);
		goto out;
	}
	if (access(o.base, R_OK) != 0) {
		status = cl_fail("CL220", "--base '%s': cannot read the last full stream:", o.base);
		goto out;
	}
	if (o.totals && access(o.totals, R_OK) != 0) {
		status = cl_fail("CL227", "--totals '%s': cannot read it:", o.totals);
		goto out;
	}
	if (o.check_args) {
		status = CL_EX_OK;
		goto out;
	}
	st.options = jv_object_set(st.options, jv_string("base"), jv_string(o.base));
	st.options = jv_object_set(st.options, jv_string("reconciled"), jv_bool(o.totals != NULL));

	rd = cl_reader_new(fd, o.input ? o.input : "<stdin>", o.max_line);
	if (read_delta(&d, rd, &st, o.input ? o.input : "<stdin>") == 0) {
		bfd = open_base(o.base, &zchild);
		if (bfd < 0) {
			cl_stage_fail(&st, "CL220", "--base '%s': cannot read it:", o.base);
		} else {
			rb = cl_reader_new(bfd, o.base, o.max_line);
			merge(&d, rb, &st, o.base, tally, merged, tbd, &base_complete);
			if (!st.fatal && !base_complete)
				cl_stage_fail(
				        &st, "CL221",
				        "%s: the base is not a whole stream (its trailer says "
				        "incomplete): the merge cannot be trusted",
				        o.base);
		}
	}
	if (!st.fatal && !d.complete)
		st.complete = 0; /* the delta's own trailer says why */
	if (!st.fatal && o.totals)
		reconcile(&st, o.totals, merged, tbd);
	else if (!st.fatal)
		cl_stage_fail(
		        &st, "CL225",
		        "no --totals: the merge is not reconciled with the server's counts, so "
		        "the stream is not complete (deletions are withheld downstream)");
	cl_stage_count(&st, "replaced", (double)tally[0]);
	cl_stage_count(&st, "removed", (double)tally[1]);
	cl_stage_count(&st, "added", (double)tally[2]);
	cl_stage_count(&st, "unchanged", (double)tally[3]);
	cl_stage_count(&st, "delta_records", (double)d.n);
	cl_stage_write_trailer(&st, stdout);
	status = cl_stage_status(&st);
out:
	status = cl_exit(status);
	if (rb)
		cl_reader_free(rb);
	if (rd)
		cl_reader_free(rd);
	if (bfd >= 0)
		close(bfd);
	if (zchild > 0) {
		int ws;

		kill(zchild, SIGTERM);
		waitpid(zchild, &ws, 0);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	cl_buf_release(&d.arena);
	cl_buf_release(&d.key);
	cl_buf_release(&d.header);
	free(d.rec);
	cl_idmap_free(d.by_key);
	cl_stage_release(&st);
	return status;
}
