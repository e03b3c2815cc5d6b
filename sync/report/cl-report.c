/*
 * cl-report: a night's sync report as one HTML file a principal can read.
 *
 * It reads a run folder (cl-sync(1), RUN FOLDERS) and writes one
 * self-contained page: inline CSS and SVG, no script, no font or image to
 * fetch, and a Content-Security-Policy that forbids both should anything
 * slip through. What it shows, and where each part comes from:
 *
 *   the status in words     night.json (the supervisor's verdict), else
 *                           report.json; the cause from the error catalog
 *   the four counts, what   report.json (cl-load's Sync Details): every
 *   changed                 number carries data-key, its path in it
 *   the unmatched users     unmatched.csv (cl-match), grouped by reason,
 *                           with the remedy cl-match wrote beside each
 *   a table per school      match.ndjson (schools, classes, users and how
 *                           they matched), rejects.ndjson (the schools the
 *                           rules excluded) and fetch.ndjson up to its
 *                           classes (what those schools had)
 *   the last nights         --nights FILE (nights.ndjson: one line a night)
 *
 * A stream may be compressed (NAME.ndjson.zst): it is read through
 * `zstd -dc`. Only the lines a part needs are parsed (orgs, classes,
 * users); the rest are recognised by their first bytes and skipped, so
 * memory holds the schools and the unmatched users, never the stream.
 *
 * Everything that came from the roster or the export is escaped, and set
 * in <bdi> so that a right-to-left name cannot reorder the text around it.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <csv.h>
#include <jv.h>

#include "buf.h"
#include "cli.h"
#include "diag.h"
#include "errors.h"
#include "jvget.h"
#include "out.h"
#include "stream.h"

extern char **environ;

#define MAX_FILE (64u << 20)  /* report.json, night.json, unmatched.csv */
#define MAX_LINE (256u << 20) /* a stream line */
#define LIST_MAX 200          /* unmatched users listed per reason */
#define NIGHTS_MAX 366

static const char usage[] =
        "usage: cl-report [-o FILE] [--tz ZONE] [--nights FILE] [--history N] RUN_FOLDER\n";

enum { OPT_TZ = CL_OPT_LONG, OPT_NIGHTS, OPT_HISTORY };

static const struct cl_opt opts[] = {
	{ 'o', "output", CL_ARG_REQUIRED, "FILE", "write the page to FILE (0600), not stdout" },
	{ OPT_TZ, "tz", CL_ARG_REQUIRED, "ZONE", "the district's time zone (default UTC)" },
	{ OPT_NIGHTS, "nights", CL_ARG_REQUIRED, "FILE",
	  "the integration's nights.ndjson: the chart of the last nights" },
	{ OPT_HISTORY, "history", CL_ARG_REQUIRED, "N", "how many nights the chart shows (14)" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-report", usage,
	"Writes a night's sync report, one self-contained HTML page, from its run folder:\n"
	"the status, the School Manager counts, the changes, the unmatched users, the\n"
	"schools and the last nights.\n",
	opts
};

struct opts {
	const char *dir, *output, *tz, *nights;
	long long history;
	int check_args;
};

struct school {
	char *id, *name, *ident;
	int excluded, in_match;
	long long st_linked, st_unmatched, te_linked, te_unmatched, classes, fetch_classes;
};

struct unmatched {
	char *f[7]; /* sourcedId, role, given, family, email, schools, reason */
};

struct reason {
	char *name, *remedy;
	long long n;
};

struct night_line {
	char run[64], status[16], started[32];
	long long matched, unmatched, changes; /* -1: not known */
};

struct report {
	struct opts o;
	jv rep, night; /* report.json, night.json: jv_invalid() when absent */
	struct school *sc;
	size_t nsc;
	struct unmatched *um;
	size_t num;
	struct reason *rs;
	size_t nrs;
	int have_unmatched, have_match, have_rejects;
	struct night_line *nl;
	size_t nnl;
	struct cl_buf h; /* the page */
	/* reading unmatched.csv */
	char *row[16];
	int col, rows, map[8]; /* um_cols' column numbers, -1 when absent */
};

/* ---- the command line ---- */

static int
tz_ok(const char *z)
{
	char p[4096];
	const char *dir = getenv("TZDIR");
	struct stat st;

	if (!*z || strlen(z) > 255 || *z == '/' || strstr(z, ".."))
		return 0;
	if (strcmp(z, "UTC") == 0)
		return 1;
	snprintf(p, sizeof p, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", z);
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int
parse_options(struct opts *o, int argc, char *argv[])
{
	struct cl_getopt g;
	int c;

	o->tz = "UTC";
	o->history = 14;
	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case 'o':
			o->output = g.arg;
			break;
		case OPT_TZ:
			if (!tz_ok(g.arg))
				return cl_usage_error(&cmd,
				                      "--tz '%s': not a time zone (as in "
				                      "/usr/share/zoneinfo, e.g. America/Chicago)",
				                      g.arg);
			o->tz = g.arg;
			break;
		case OPT_NIGHTS:
			o->nights = g.arg;
			break;
		case OPT_HISTORY:
			if (cl_parse_num(g.arg, 1, NIGHTS_MAX, &o->history) != 0)
				return cl_usage_error(&cmd,
				                      "--history '%s': not a number from 1 to %d",
				                      g.arg, NIGHTS_MAX);
			break;
		default: /* CL_OPT_EXIT */
			return g.status;
		}
	}
	o->check_args = g.check_args;
	if (optind >= argc)
		return cl_usage_error(&cmd, "no run folder");
	if (argc - optind > 1)
		return cl_usage_error(&cmd, "one run folder only");
	o->dir = argv[optind];
	return -1;
}

/* ---- reading the run folder ---- */

/* Reads dir/name whole into b: 1, 0 when it does not exist, -1 on an error (reported). */
static int
slurp(const char *dir, const char *name, struct cl_buf *b)
{
	char path[4096], chunk[65536];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		cl_fail("CL560", "cannot open '%s':", path);
		return -1;
	}
	while ((n = read(fd, chunk, sizeof chunk)) > 0) {
		if (b->len + (size_t)n > MAX_FILE) {
			close(fd);
			cl_fail("CL561", "'%s': larger than %u MiB", path, MAX_FILE >> 20);
			return -1;
		}
		cl_buf_add(b, chunk, (size_t)n);
	}
	close(fd);
	if (n < 0) {
		cl_fail("CL560", "cannot read '%s':", path);
		return -1;
	}
	return 1;
}

/* A JSON object file of the run folder: 0 with *v set (jv_invalid() when absent), or a status. */
static int
read_json(const char *dir, const char *name, jv *v)
{
	struct cl_buf b = CL_BUF_INIT;
	int r = slurp(dir, name, &b);

	*v = jv_invalid();
	if (r < 0) {
		cl_buf_release(&b);
		return cl_error_status("CL561");
	}
	if (r == 0) {
		cl_buf_release(&b);
		return 0;
	}
	*v = jv_parse_sized(b.len ? b.p : "", (int)b.len);
	cl_buf_release(&b);
	if (jv_get_kind(*v) != JV_KIND_OBJECT) {
		jv_free(*v);
		*v = jv_invalid();
		return cl_fail("CL561", "'%s/%s': not a JSON object", dir, name);
	}
	return 0;
}
/* The string at key k of o, copied into out ("" when it is none). */
/* A stream of the run folder, plain or compressed. */
struct src {
	FILE *f;
	pid_t pid; /* zstd's, or 0 */
	char path[4096];
};

/* Opens dir/name, else dir/name.zst through zstd: 1, 0 when neither exists, or -1 (reported). */
static int
src_open(struct src *s, const char *dir, const char *name)
{
	char zstd[] = "zstd", dcq[] = "-dcq", dashes[] = "--";
	char *argv[] = { zstd, dcq, dashes, s->path, NULL };
	posix_spawn_file_actions_t fa;
	int p[2], rc;

	memset(s, 0, sizeof *s);
	snprintf(s->path, sizeof s->path, "%s/%s", dir, name);
	if ((s->f = fopen(s->path, "re")))
		return 1;
	if (errno != ENOENT) {
		cl_fail("CL560", "cannot open '%s':", s->path);
		return -1;
	}
	snprintf(s->path, sizeof s->path, "%s/%s.zst", dir, name);
	if (access(s->path, F_OK) != 0)
		return 0;
	if (access(s->path, R_OK) != 0) {
		cl_fail("CL560", "cannot open '%s':", s->path);
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		cl_fail("CL563", "'%s': cannot make a pipe:", s->path);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	rc = posix_spawnp(&s->pid, "zstd", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		s->pid = 0;
		cl_fail("CL563", "'%s': cannot run zstd: %s", s->path, strerror(rc));
		return -1;
	}
	s->f = fdopen(p[0], "r");
	if (!s->f) {
		close(p[0]);
		cl_fail("CL563", "'%s': fdopen:", s->path);
		return -1;
	}
	return 1;
}

/* Closes s: 0, or -1 when zstd failed (reported; ok 0 says the reading stopped early). */
static int
src_close(struct src *s, int read_all)
{
	int ws = 0, bad = 0;

	if (s->f)
		fclose(s->f);
	s->f = NULL;
	if (s->pid > 0) {
		while (waitpid(s->pid, &ws, 0) < 0 && errno == EINTR)
			;
		s->pid = 0;
		/* a reader that stopped early may have cut zstd off with SIGPIPE */
		bad = read_all ? !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		               : WIFEXITED(ws) && WEXITSTATUS(ws) != 0;
		if (bad) {
			cl_fail("CL563", "'%s': zstd cannot decompress it (exit status %d)",
			        s->path, WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws));
			return -1;
		}
	}
	return 0;
}

static int
kind_is(const char *line, const char *kind)
{
	size_t n = strlen(kind);

	return strncmp(line, "{\"kind\":\"", 9) == 0 && strncmp(line + 9, kind, n) == 0 &&
	       line[9 + n] == '"';
}

static struct school *
school_find(struct report *R, const char *id)
{
	size_t i;

	for (i = 0; i < R->nsc; i++)
		if (strcmp(R->sc[i].id, id) == 0)
			return &R->sc[i];
	return NULL;
}

/* The school org of an org line's data: found or added. */
static struct school *
school_add(struct report *R, jv data)
{
	char id[256], name[1024], ident[256], type[32];
	struct school *s;

	cl_jv_str(data, "sourcedId", id, sizeof id);
	cl_jv_str(data, "type", type, sizeof type);
	if (!*id || strcmp(type, "school") != 0)
		return NULL;
	cl_jv_str(data, "name", name, sizeof name);
	cl_jv_str(data, "identifier", ident, sizeof ident);
	if ((s = school_find(R, id))) {
		if (!*s->name && *name) { /* known from rejects.ndjson by its id only */
			free(s->name);
			free(s->ident);
			s->name = cl_xstrdup(name);
			s->ident = cl_xstrdup(ident);
		}
		return s;
	}
	R->sc = cl_xreallocarray(R->sc, R->nsc + 1, sizeof *R->sc);
	s = &R->sc[R->nsc++];
	memset(s, 0, sizeof *s);
	s->id = cl_xstrdup(id);
	s->name = cl_xstrdup(name);
	s->ident = cl_xstrdup(ident);
	return s;
}

/* The school a class line's data names, or NULL. */
static struct school *
class_school(struct report *R, jv data)
{
	jv sch = cl_jv_get(data, "school");
	char id[256];

	cl_jv_str(sch, "sourcedId", id, sizeof id);
	jv_free(sch);
	return *id ? school_find(R, id) : NULL;
}

/* Parses a stream line into *v: -1 when it is a JSON object, else a status (CL561 reported). */
static int
parse_line(const struct src *s, long long ln, const char *line, size_t n, jv *v)
{
	*v = jv_parse_sized(line, (int)n);
	if (jv_get_kind(*v) != JV_KIND_OBJECT) {
		jv_free(*v);
		*v = jv_invalid();
		return cl_fail("CL561", "%s:%lld: not a JSON object", s->path, ln);
	}
	return -1;
}

static void
count_user(struct report *R, jv line)
{
	jv data = cl_jv_get(line, "data"), orgs = cl_jv_get(data, "orgs"),
	   m = cl_jv_get(line, "match");
	char role[32];
	int i, n, linked = jv_get_kind(m) == JV_KIND_OBJECT, student;

	cl_jv_str(data, "role", role, sizeof role);
	student = strcmp(role, "student") == 0;
	if (student || strcmp(role, "teacher") == 0) {
		n = jv_get_kind(orgs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(orgs)) : 0;
		for (i = 0; i < n; i++) {
			jv org = jv_array_get(jv_copy(orgs), i);
			char id[256];
			struct school *s;

			cl_jv_str(org, "sourcedId", id, sizeof id);
			jv_free(org);
			if (!(s = school_find(R, id)))
				continue;
			if (student)
				*(linked ? &s->st_linked : &s->st_unmatched) += 1;
			else
				*(linked ? &s->te_linked : &s->te_unmatched) += 1;
		}
	}
	jv_free(m);
	jv_free(orgs);
	jv_free(data);
}

/*
 * One pass over a stream: org and class lines always, user lines when
 * users; stops at the first enrollment line when !users (the classes come
 * before it). what: 'm' match.ndjson, 'f' fetch.ndjson.
 */
static int
read_stream(struct report *R, const char *name, int what)
{
	struct src s;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long long ln = 0;
	int r, status = -1, whole = 1;

	if ((r = src_open(&s, R->o.dir, name)) <= 0)
		return r < 0 ? cl_error_status("CL560") : -1;
	if (what == 'm')
		R->have_match = 1;
	while ((n = getline(&line, &cap, s.f)) > 0) {
		jv v, data;

		ln++;
		if ((size_t)n > MAX_LINE) {
			status = cl_fail("CL561", "%s:%lld: a line longer than %u MiB", s.path, ln,
			                 MAX_LINE >> 20);
			break;
		}
		if (what == 'f' && (kind_is(line, "enrollment") || kind_is(line, "user"))) {
			whole = 0;
			break;
		}
		if (!kind_is(line, "org") && !kind_is(line, "class") &&
		    !(what == 'm' && kind_is(line, "user")))
			continue;
		if ((status = parse_line(&s, ln, line, (size_t)n, &v)) >= 0)
			break;
		data = cl_jv_get(v, "data");
		if (kind_is(line, "org")) {
			struct school *sc = school_add(R, data);

			if (sc && what == 'm')
				sc->in_match = 1;
		} else if (kind_is(line, "class")) {
			struct school *sc = class_school(R, data);

			if (sc)
				*(what == 'm' ? &sc->classes : &sc->fetch_classes) += 1;
		} else {
			count_user(R, v);
		}
		jv_free(data);
		jv_free(v);
	}
	if (status < 0 && ferror(s.f))
		status = cl_fail("CL560", "cannot read '%s':", s.path);
	free(line);
	if (src_close(&s, whole && status < 0) != 0 && status < 0)
		status = cl_error_status("CL563");
	return status;
}

/* rejects.ndjson: the schools the rules excluded (their org lines' reason). */
static int
read_rejects(struct report *R)
{
	struct src s;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long long ln = 0;
	int r, status = -1;

	if ((r = src_open(&s, R->o.dir, "rejects.ndjson")) <= 0)
		return r < 0 ? cl_error_status("CL560") : -1;
	R->have_rejects = 1;
	while ((n = getline(&line, &cap, s.f)) > 0) {
		jv v;
		char reason[64], id[256];
		struct school *sc;

		ln++;
		if (!kind_is(line, "org"))
			continue;
		if ((status = parse_line(&s, ln, line, (size_t)n, &v)) >= 0)
			break;
		cl_jv_str(v, "reason", reason, sizeof reason);
		cl_jv_str(v, "sourcedId", id, sizeof id);
		jv_free(v);
		if (strcmp(reason, "excluded-school") != 0)
			continue;
		if (!(sc = school_find(R, id))) {
			R->sc = cl_xreallocarray(R->sc, R->nsc + 1, sizeof *R->sc);
			sc = &R->sc[R->nsc++];
			memset(sc, 0, sizeof *sc);
			sc->id = cl_xstrdup(id);
			sc->name = cl_xstrdup("");
			sc->ident = cl_xstrdup("");
		}
		sc->excluded = 1;
	}
	if (status < 0 && ferror(s.f))
		status = cl_fail("CL560", "cannot read '%s':", s.path);
	free(line);
	if (src_close(&s, status < 0) != 0 && status < 0)
		status = cl_error_status("CL563");
	return status;
}

/* ---- unmatched.csv ---- */

/* unmatched.csv's columns (cl-match(1), --unmatched): the first seven are a user's. */
static const char *const um_cols[8] = { "sourcedid", "role",    "given name", "family name",
	                                "email",     "schools", "reason",     "what to do" };

static void
on_field(void *p, size_t n, void *arg)
{
	struct report *R = arg;

	if (R->col < 16)
		R->row[R->col] = cl_xmemdup(p ? p : "", n);
	R->col++;
}

static struct reason *
reason_of(struct report *R, const char *name)
{
	size_t i;

	for (i = 0; i < R->nrs; i++)
		if (strcmp(R->rs[i].name, name) == 0)
			return &R->rs[i];
	R->rs = cl_xreallocarray(R->rs, R->nrs + 1, sizeof *R->rs);
	memset(&R->rs[R->nrs], 0, sizeof *R->rs);
	R->rs[R->nrs].name = cl_xstrdup(name);
	return &R->rs[R->nrs++];
}

static void
on_row(int c, void *arg)
{
	struct report *R = arg;
	int i, j, n = R->col < 16 ? R->col : 16;

	(void)c;
	if (R->rows++ == 0) { /* the header: columns found by name */
		for (j = 0; j < 8; j++)
			R->map[j] = -1;
		for (i = 0; i < n; i++) {
			const char *h = R->row[i];

			if (i == 0 && strncmp(h, "\xef\xbb\xbf", 3) == 0)
				h += 3; /* a BOM, for Excel */
			for (j = 0; j < 8; j++)
				if (strcasecmp(h, um_cols[j]) == 0)
					R->map[j] = i;
		}
	} else {
		struct unmatched u;
		struct reason *rs;

		for (j = 0; j < 7; j++)
			u.f[j] = cl_xstrdup(R->map[j] >= 0 && R->map[j] < n ? R->row[R->map[j]]
			                                                    : "");
		rs = reason_of(R, u.f[6]);
		rs->n++;
		if (!rs->remedy && R->map[7] >= 0 && R->map[7] < n)
			rs->remedy = cl_xstrdup(R->row[R->map[7]]);
		R->um = cl_xreallocarray(R->um, R->num + 1, sizeof *R->um);
		R->um[R->num++] = u;
	}
	for (i = 0; i < n; i++) {
		free(R->row[i]);
		R->row[i] = NULL;
	}
	R->col = 0;
}

static int
read_unmatched(struct report *R)
{
	struct cl_buf b = CL_BUF_INIT;
	struct csv_parser p;
	int r = slurp(R->o.dir, "unmatched.csv", &b), status = -1, i;

	if (r <= 0) {
		cl_buf_release(&b);
		return r < 0 ? cl_error_status("CL560") : -1;
	}
	R->have_unmatched = 1;
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
		cl_buf_release(&b);
		return cl_fail("CL561", "cannot read unmatched.csv: out of memory");
	}
	if (csv_parse(&p, b.p ? b.p : "", b.len, on_field, on_row, R) != b.len ||
	    csv_fini(&p, on_field, on_row, R) != 0)
		status = cl_fail("CL561", "%s/unmatched.csv:%d: %s", R->o.dir, R->rows + 1,
		                 csv_strerror(csv_error(&p)));
	else if (R->rows > 0 && R->map[6] < 0)
		status = cl_fail("CL561", "%s/unmatched.csv:1: no reason column", R->o.dir);
	csv_free(&p);
	for (i = 0; i < 16; i++) {
		free(R->row[i]);
		R->row[i] = NULL;
	}
	cl_buf_release(&b);
	return status;
}

/* ---- nights.ndjson ---- */

static int
read_nights(struct report *R)
{
	FILE *f = fopen(R->o.nights, "re");
	char *line = NULL;
	size_t cap = 0, keep = (size_t)R->o.history;
	ssize_t n;
	long long ln = 0;
	int status = -1;

	if (!f) {
		if (errno == ENOENT)
			return -1; /* no night yet */
		return cl_fail("CL560", "cannot open '%s':", R->o.nights);
	}
	R->nl = cl_xcalloc(keep, sizeof *R->nl);
	while ((n = getline(&line, &cap, f)) > 0) {
		jv v = jv_parse_sized(line, (int)n), c;
		struct night_line *l;
		long long st, te, ot;

		ln++;
		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			jv_free(v);
			status = cl_fail("CL561", "%s:%lld: not a JSON object", R->o.nights, ln);
			break;
		}
		if (R->nnl == keep) { /* keep the last ones */
			memmove(R->nl, R->nl + 1, (keep - 1) * sizeof *R->nl);
			R->nnl--;
		}
		l = &R->nl[R->nnl++];
		cl_jv_str(v, "run", l->run, sizeof l->run);
		cl_jv_str(v, "status", l->status, sizeof l->status);
		cl_jv_str(v, "started", l->started, sizeof l->started);
		c = cl_jv_get(v, "counts");
		st = cl_jv_num(c, "matched_students", -1);
		te = cl_jv_num(c, "matched_teachers", -1);
		ot = cl_jv_num(c, "matched_other", -1);
		l->matched = st < 0 ? -1 : st + (te > 0 ? te : 0) + (ot > 0 ? ot : 0);
		l->unmatched = cl_jv_num(c, "unmatched_users", -1);
		l->changes = cl_jv_num(c, "changes", -1);
		jv_free(c);
		jv_free(v);
	}
	if (status < 0 && ferror(f))
		status = cl_fail("CL560", "cannot read '%s':", R->o.nights);
	free(line);
	fclose(f);
	return status;
}

/* ---- writing HTML ---- */

/* s escaped for text and attribute values; control characters become U+FFFD. */
static void
esc(struct cl_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			cl_buf_adds(b, "&amp;");
			break;
		case '<':
			cl_buf_adds(b, "&lt;");
			break;
		case '>':
			cl_buf_adds(b, "&gt;");
			break;
		case '"':
			cl_buf_adds(b, "&quot;");
			break;
		case '\'':
			cl_buf_adds(b, "&#39;");
			break;
		default:
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				cl_buf_adds(b, "\xef\xbf\xbd");
			else
				cl_buf_addc(b, (char)c);
		}
	}
}

/* A value from the roster or the export: escaped, isolated (bidi). */
static void
roster(struct cl_buf *b, const char *s)
{
	cl_buf_adds(b, "<bdi>");
	esc(b, s);
	cl_buf_adds(b, "</bdi>");
}

/* 12,345 */
static void
grouped(struct cl_buf *b, long long v)
{
	char d[32];
	int n, i;

	if (v < 0) {
		cl_buf_adds(b, "&minus;");
		v = -v;
	}
	n = snprintf(d, sizeof d, "%lld", v);
	for (i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			cl_buf_addc(b, ',');
		cl_buf_addc(b, d[i]);
	}
}

/* A number of report.json, marked with its path for the tests. */
static void
knum(struct report *R, const char *tag, const char *cls, const char *path)
{
	long long v = cl_jv_num(R->rep, path, -1);

	cl_buf_addf(&R->h, "<%s class=\"%s\" data-key=\"%s\">", tag, cls, path);
	if (v < 0)
		cl_buf_adds(&R->h, "&ndash;");
	else
		grouped(&R->h, v);
	cl_buf_addf(&R->h, "</%s>", tag);
}

/* t in the district's time (the process runs in --tz): fmt as strftime's. */
static void local_time(struct cl_buf *b, time_t t, const char *fmt)
        __attribute__((format(strftime, 3, 0)));

static void
local_time(struct cl_buf *b, time_t t, const char *fmt)
{
	char s[128];
	struct tm tm;

	localtime_r(&t, &tm);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* checked at every call */
	strftime(s, sizeof s, fmt, &tm);
#pragma GCC diagnostic pop
	esc(b, s);
}

/* "2026-11-30T12:13:55Z" as a time, or -1. */
static time_t
utc_of(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	           &tm.tm_min, &tm.tm_sec) != 6)
		return (time_t)-1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

static const char css[] =
        ":root{--ok:#1b7f4b;--okbg:#e8f5ee;--warn:#9a5b00;--warnbg:#fdf3e1;--bad:#b3261e;"
        "--badbg:#fdeceb;--ink:#1f2933;--mute:#5f6b7a;--line:#dde3ea;--bg:#f5f7fa;"
        "--blue:#2f6fb3;--amber:#d08a1c;--violet:#6b55b5}"
        "*{box-sizing:border-box}"
        "body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,"
        "-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif}"
        "main{max-width:960px;margin:0 auto;padding:24px 20px 40px}"
        "header h1{font-size:26px;margin:0 0 2px}"
        "header p{margin:0;color:var(--mute)}"
        "section{background:#fff;border:1px solid var(--line);border-radius:10px;"
        "padding:18px 22px;margin:18px 0}"
        "h2{font-size:18px;margin:0 0 10px}h3{font-size:15px;margin:16px 0 4px}"
        ".status{border-left:8px solid var(--ok);background:var(--okbg)}"
        ".status.partial{border-left-color:var(--warn);background:var(--warnbg)}"
        ".status.failed{border-left-color:var(--bad);background:var(--badbg)}"
        ".status h2{font-size:21px;margin-bottom:4px}"
        ".status p{margin:4px 0}"
        ".cards{display:grid;grid-template-columns:repeat(4,1fr);gap:14px;"
        "background:none;border:0;padding:0}"
        ".card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 16px}"
        ".card .num{display:block;font-size:32px;font-weight:700;line-height:1.2}"
        ".card .label{color:var(--mute);font-size:14px}"
        ".card.attention .num{color:var(--amber)}"
        "table{border-collapse:collapse;width:100%;font-size:14px}"
        "th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;"
        "vertical-align:top}"
        "td.e{overflow-wrap:anywhere}"
        "th{color:var(--mute);font-weight:600;background:#fafbfc}"
        "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
        ".note{color:var(--mute);font-size:13px}"
        ".fix{margin:2px 0 8px;padding:8px 12px;background:var(--warnbg);border-radius:6px}"
        ".tag{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;"
        "background:var(--line);white-space:nowrap}"
        ".tag.excluded{background:var(--warnbg);color:var(--warn)}"
        "summary{cursor:pointer;color:var(--blue);margin:4px 0}"
        "details[open] summary{margin-bottom:6px}"
        "svg{display:block;width:100%;height:auto}"
        "svg text{font:12px system-ui,'DejaVu Sans',Arial,sans-serif;fill:var(--mute)}"
        "footer{color:var(--mute);font-size:12px;margin-top:24px}"
        "@media (max-width:700px){.cards{grid-template-columns:repeat(2,1fr)}}"
        "@media print{body{background:#fff}section,.card{break-inside:avoid}}";

/* The night's status, from night.json or else report.json. */
static void
status_of(struct report *R, char *st, size_t n, char *trigger, size_t tn)
{
	cl_jv_str(R->night, "status", st, n);
	if (!*st)
		cl_jv_str(R->rep, "status", st, n);
	cl_jv_str(R->night, "trigger", trigger, tn);
	if (!*trigger) {
		jv d = cl_jv_get(R->rep, "dry_run");

		snprintf(trigger, tn, "%s", jv_get_kind(d) == JV_KIND_TRUE ? "dry-run" : "");
		jv_free(d);
	}
}

/* The night's codes: night.json's, else report.json's. */
static jv
codes_of(struct report *R)
{
	jv c = cl_jv_get(R->night, "codes");

	if (jv_get_kind(c) != JV_KIND_ARRAY) {
		jv_free(c);
		c = cl_jv_get(R->rep, "codes");
	}
	if (jv_get_kind(c) != JV_KIND_ARRAY) {
		jv_free(c);
		c = jv_array();
	}
	return c;
}

static void
explain_code(struct cl_buf *b, const char *code)
{
	const struct cl_error_def *e = cl_error_lookup(code);

	cl_buf_adds(b, "<p><strong>");
	esc(b, code);
	cl_buf_adds(b, "</strong>: ");
	if (e) {
		esc(b, e->meaning);
		cl_buf_adds(b, ". <em>What to do:</em> ");
		esc(b, e->sync_remedy ? e->sync_remedy : e->remedy);
		cl_buf_addc(b, '.');
	} else {
		cl_buf_adds(b, "see docs/errors.md.");
	}
	cl_buf_adds(b, "</p>\n");
}

static void
sec_status(struct report *R)
{
	char st[16], trig[16];
	jv codes = codes_of(R);
	int i, n = jv_array_length(jv_copy(codes));
	const char *cls, *head;
	long long un = cl_jv_num(R->rep, "counts.unmatched_users", -1);

	status_of(R, st, sizeof st, trig, sizeof trig);
	if (strcmp(st, "success") == 0) {
		cls = "success";
		head = strcmp(trig, "dry-run") == 0
		               ? "Trial run finished: nothing was sent to School Manager"
		               : "The sync worked: School Manager has tonight's roster";
	} else if (strcmp(st, "partial") == 0) {
		cls = "partial";
		head = "The sync finished, but some changes were held back";
	} else {
		cls = "failed";
		head = "The sync failed: nothing was changed in School Manager";
	}
	cl_buf_addf(&R->h, "<section class=\"status %s\" id=\"status\" data-status=\"", cls);
	esc(&R->h, st);
	cl_buf_addf(&R->h, "\">\n<h2>%s</h2>\n", head);
	if (strcmp(cls, "failed") == 0)
		cl_buf_adds(&R->h, "<p>School Manager keeps what the last good sync gave it. The "
		                   "next night tries again; the reason is below.</p>\n");
	else if (strcmp(cls, "partial") == 0)
		cl_buf_adds(&R->h, "<p>What could be synced was. What was held back is safe: the "
		                   "next sync finds it again. The reason is below.</p>\n");
	if (un > 0 && strcmp(cls, "failed") != 0) {
		cl_buf_adds(&R->h, "<p>");
		grouped(&R->h, un);
		cl_buf_addf(&R->h,
		            " user%s could not be matched to a School Manager account and %s not "
		            "in their classes: see <a href=\"#unmatched\">who, and what to "
		            "fix</a>.</p>\n",
		            un == 1 ? "" : "s", un == 1 ? "is" : "are");
	}
	for (i = 0; i < n; i++) {
		jv c = jv_array_get(jv_copy(codes), i);

		if (jv_get_kind(c) == JV_KIND_STRING)
			explain_code(&R->h, jv_string_value(c));
		jv_free(c);
	}
	cl_buf_adds(&R->h, "</section>\n");
	jv_free(codes);
}

static void
card(struct report *R, const char *key, const char *label, int attention)
{
	cl_buf_addf(&R->h, "<div class=\"card%s\">", attention ? " attention" : "");
	knum(R, "span", "num", key);
	cl_buf_addf(&R->h, "<span class=\"label\">%s</span></div>\n", label);
}

static void
sec_counts(struct report *R)
{
	if (!jv_is_valid(R->rep)) {
		cl_buf_adds(&R->h, "<section id=\"counts\"><h2>School Manager counts</h2><p>No "
		                   "counts: the sync did not get far enough to make them (the "
		                   "run folder's log says how far it got).</p></section>\n");
		return;
	}
	cl_buf_adds(&R->h, "<section class=\"cards\" id=\"counts\">\n");
	card(R, "counts.unmatched_users", "Unmatched Users",
	     cl_jv_num(R->rep, "counts.unmatched_users", -1) > 0);
	card(R, "counts.matched_students", "Matched Students", 0);
	card(R, "counts.matched_teachers", "Matched Teachers", 0);
	card(R, "counts.imported_classes", "Imported Classes", 0);
	cl_buf_adds(&R->h, "</section>\n");
}

static void
sec_changes(struct report *R)
{
	static const char *const ent[] = { "users", "classes", "memberships", "contacts",
		                           "relationships" };
	static const char *const words[] = { "Users (accounts linked)", "Classes",
		                             "Class memberships", "Parent contacts",
		                             "Parent&ndash;student links" };
	static const char *const col[] = { "created", "updated", "deleted", "unchanged",
		                           "withheld" };
	long long total = 0, held = 0;
	size_t i, j;
	char k[64], st[16], trig[16];

	if (!jv_is_valid(R->rep))
		return;
	for (i = 0; i < 5; i++)
		for (j = 0; j < 3; j++) {
			snprintf(k, sizeof k, "counts.%s.%s", ent[i], col[j]);
			total += cl_jv_num(R->rep, k, -1) > 0 ? cl_jv_num(R->rep, k, -1) : 0;
		}
	for (i = 0; i < 5; i++) {
		snprintf(k, sizeof k, "counts.%s.withheld", ent[i]);
		held += cl_jv_num(R->rep, k, -1) > 0 ? cl_jv_num(R->rep, k, -1) : 0;
	}
	status_of(R, st, sizeof st, trig, sizeof trig);
	cl_buf_adds(&R->h, "<section id=\"changes\"><h2>What changed</h2>\n<p>");
	if (total == 0) {
		cl_buf_adds(&R->h, "Nothing changed since the last sync.");
	} else {
		grouped(&R->h, total);
		if (strcmp(trig, "dry-run") == 0)
			cl_buf_addf(&R->h,
			            " change%s would go to School Manager (a trial run: none "
			            "was sent).",
			            total == 1 ? "" : "s");
		else if (strcmp(st, "failed") == 0)
			cl_buf_addf(&R->h,
			            " change%s were found but not applied: the next sync sends "
			            "them.",
			            total == 1 ? "" : "s");
		else
			cl_buf_addf(&R->h, " change%s went to School Manager.",
			            total == 1 ? "" : "s");
	}
	if (held > 0) {
		cl_buf_adds(&R->h, " ");
		grouped(&R->h, held);
		cl_buf_adds(&R->h, held == 1 ? " was held back" : " were held back");
		cl_buf_adds(&R->h, " for safety (the reason is at the top); the next sync finds "
		                   "them again.");
	}
	if (strcmp(st, "failed") == 0)
		cl_buf_adds(&R->h, " The numbers are of what arrived before the failure.");
	cl_buf_adds(&R->h, "</p>\n<table><thead><tr><th></th><th class=\"n\">added</th>"
	                   "<th class=\"n\">updated</th><th class=\"n\">removed</th>"
	                   "<th class=\"n\">unchanged</th><th class=\"n\">held back</th></tr>"
	                   "</thead><tbody>\n");
	for (i = 0; i < 5; i++) {
		jv synced;

		snprintf(k, sizeof k, "counts.%s", ent[i]);
		{
			jv c = cl_jv_get(R->rep, "counts");

			synced = cl_jv_get(c, ent[i]);
			jv_free(c);
		}
		if (jv_get_kind(synced) != JV_KIND_OBJECT) {
			jv_free(synced);
			continue;
		}
		{
			jv s = cl_jv_get(synced, "synced");
			int off = jv_get_kind(s) == JV_KIND_FALSE;

			jv_free(s);
			jv_free(synced);
			if (off)
				continue;
		}
		cl_buf_addf(&R->h, "<tr><th>%s</th>", words[i]);
		for (j = 0; j < 5; j++) {
			snprintf(k, sizeof k, "counts.%s.%s", ent[i], col[j]);
			knum(R, "td", "n", k);
		}
		cl_buf_adds(&R->h, "</tr>\n");
	}
	cl_buf_adds(&R->h, "</tbody></table>\n");
	if (cl_jv_num(R->rep, "counts.matched_other", -1) > 0) {
		cl_buf_adds(&R->h, "<p class=\"note\">Also matched: ");
		knum(R, "span", "", "counts.matched_other");
		cl_buf_adds(&R->h, " other staff (aides, administrators).</p>\n");
	}
	cl_buf_adds(&R->h, "</section>\n");
}

/*
 * cl-match's unmatched reasons in words, and what to fix in the words of
 * someone who runs cl-sync (its config keys, not cl-match's options);
 * another reason is shown as its name with unmatched.csv's remedy.
 */
static const struct {
	const char *r, *words, *fix;
} reasons[] = {
	{ "not-found", "No School Manager account has their email",
	  "check the address in the SIS and that the account exists in School Manager (an "
	  "account made since the last user export appears once the export is refreshed); if "
	  "the SIS gives these users another domain, add it to domain_aliases in the "
	  "integration's config" },
	{ "no-email", "No email address in the SIS",
	  "enter the address School Manager has for the account in the SIS" },
	{ "masked-email", "ClassLink hides their email (masked or a placeholder)",
	  "let this app see email addresses in ClassLink's DataGuard settings, or fix the "
	  "address in the SIS" },
	{ "duplicate-in-roster", "Several SIS users share one email",
	  "give each user their own address in the SIS" },
	{ "duplicate-in-export", "Several School Manager accounts share their email",
	  "remove or correct the extra account in School Manager" },
};

static int
reason_index(const char *r)
{
	size_t i;

	for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (strcmp(reasons[i].r, r) == 0)
			return (int)i;
	return -1;
}

/* "2;3" as school names (an org that is no school, the district, left out). */
static void
school_names(struct report *R, const char *ids)
{
	char *copy = cl_xstrdup(ids), *save = NULL, *t;
	int first = 1;

	for (t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		struct school *s = school_find(R, t);

		if (!s) /* the district, or an org that is no school */
			continue;
		cl_buf_adds(&R->h, first ? "" : ", ");
		roster(&R->h, *s->name ? s->name : t);
		first = 0;
	}
	if (first)
		cl_buf_adds(&R->h, "<span class=\"note\">none</span>");
	free(copy);
}

static void
sec_unmatched(struct report *R)
{
	size_t i, j, k;
	struct reason *order;

	cl_buf_adds(&R->h, "<section id=\"unmatched\"><h2>Users who could not be matched</h2>\n");
	if (!R->have_unmatched) {
		cl_buf_adds(&R->h, "<p>The run folder has no unmatched.csv: the night did not get "
		                   "as far as matching.</p></section>\n");
		return;
	}
	if (R->num == 0) {
		cl_buf_adds(&R->h, "<p>Every user was matched to a School Manager account.</p>"
		                   "</section>\n");
		return;
	}
	cl_buf_adds(&R->h, "<p>These users are in the SIS but School Manager has no account "
	                   "the sync could join them to, so they are not in their classes. Fix "
	                   "the email in the SIS or in School Manager; the next night picks the "
	                   "fix up. The full list is <code>unmatched.csv</code> in the run "
	                   "folder.</p>\n");
	order = cl_xcalloc(R->nrs ? R->nrs : 1, sizeof *order);
	memcpy(order, R->rs, R->nrs * sizeof *order);
	for (i = 1; i < R->nrs; i++) /* largest first, ties in the file's order */
		for (j = i; j > 0 && order[j].n > order[j - 1].n; j--) {
			struct reason t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (i = 0; i < R->nrs; i++) {
		int ri = reason_index(order[i].name);
		const char *fix = ri >= 0 ? reasons[ri].fix : order[i].remedy;
		size_t shown = 0;

		cl_buf_adds(&R->h, "<h3>");
		if (ri >= 0)
			cl_buf_adds(&R->h, reasons[ri].words);
		else
			roster(&R->h, order[i].name);
		cl_buf_addf(&R->h, ": <span data-reason=\"");
		esc(&R->h, order[i].name);
		cl_buf_adds(&R->h, "\">");
		grouped(&R->h, order[i].n);
		cl_buf_adds(&R->h, "</span></h3>\n");
		if (fix && *fix) {
			cl_buf_adds(&R->h, "<p class=\"fix\"><strong>What to fix:</strong> ");
			esc(&R->h, fix);
			cl_buf_adds(&R->h, "</p>\n");
		}
		/* a long list folded (no script: <details>), a short one open */
		cl_buf_addf(&R->h, "<details%s><summary>", order[i].n <= 10 ? " open" : "");
		if (order[i].n == 1) {
			cl_buf_adds(&R->h, "The user");
		} else {
			cl_buf_adds(&R->h, order[i].n > LIST_MAX ? "The first " : "The ");
			if (order[i].n > LIST_MAX)
				cl_buf_addf(&R->h, "%d of the ", LIST_MAX);
			grouped(&R->h, order[i].n);
			cl_buf_adds(&R->h, " users");
		}
		cl_buf_adds(
		        &R->h,
		        "</summary>\n<table><thead><tr><th>Name</th><th>Role</th><th>Email in the "
		        "SIS</th><th>School</th><th>SIS id</th></tr></thead><tbody>\n");
		for (k = 0; k < R->num && shown < LIST_MAX; k++) {
			struct unmatched *u = &R->um[k];

			if (strcmp(u->f[6], order[i].name) != 0)
				continue;
			shown++;
			cl_buf_adds(&R->h, "<tr><td>");
			roster(&R->h, u->f[2]);
			cl_buf_addc(&R->h, ' ');
			roster(&R->h, u->f[3]);
			cl_buf_adds(&R->h, "</td><td>");
			roster(&R->h, u->f[1]);
			cl_buf_adds(&R->h, "</td><td class=\"e\">");
			if (*u->f[4])
				roster(&R->h, u->f[4]);
			else
				cl_buf_adds(&R->h, "<span class=\"note\">none</span>");
			cl_buf_adds(&R->h, "</td><td>");
			school_names(R, u->f[5]);
			cl_buf_adds(&R->h, "</td><td>");
			roster(&R->h, u->f[0]);
			cl_buf_adds(&R->h, "</td></tr>\n");
		}
		cl_buf_adds(&R->h, "</tbody></table>\n");
		if ((long long)shown < order[i].n) {
			cl_buf_adds(&R->h, "<p class=\"note\">and ");
			grouped(&R->h, order[i].n - (long long)shown);
			cl_buf_adds(&R->h, " more: see unmatched.csv.</p>\n");
		}
		cl_buf_adds(&R->h, "</details>\n");
	}
	free(order);
	cl_buf_adds(&R->h, "</section>\n");
}

static void
sec_schools(struct report *R)
{
	size_t i;

	cl_buf_adds(&R->h, "<section id=\"schools\"><h2>Schools</h2>\n");
	if (!R->have_match || R->nsc == 0) {
		cl_buf_adds(&R->h, "<p>No schools: the run folder has no matched stream "
		                   "(match.ndjson), or it names no school.</p></section>\n");
		return;
	}
	cl_buf_adds(&R->h,
	            "<table><thead><tr><th>School</th><th class=\"n\">Students linked</th>"
	            "<th class=\"n\">Students unmatched</th><th class=\"n\">Teachers linked</th>"
	            "<th class=\"n\">Teachers unmatched</th><th class=\"n\">Classes imported</th>"
	            "<th>Synced</th></tr></thead><tbody>\n");
	for (i = 0; i < R->nsc; i++) {
		struct school *s = &R->sc[i];

		cl_buf_adds(&R->h, "<tr data-school=\"");
		esc(&R->h, s->id);
		cl_buf_adds(&R->h, "\"><td>");
		roster(&R->h, *s->name ? s->name : s->id);
		if (*s->ident) {
			cl_buf_adds(&R->h, " <span class=\"note\">");
			roster(&R->h, s->ident);
			cl_buf_adds(&R->h, "</span>");
		}
		if (s->excluded) {
			cl_buf_adds(&R->h, "</td><td colspan=\"5\" class=\"note\">Left out by the "
			                   "integration&#39;s exclude_schools setting");
			if (s->fetch_classes > 0) {
				cl_buf_adds(&R->h, ": its ");
				grouped(&R->h, s->fetch_classes);
				cl_buf_addf(&R->h,
				            " class%s and the users only at this school are not "
				            "synced",
				            s->fetch_classes == 1 ? "" : "es");
			}
			cl_buf_adds(&R->h, ".</td><td><span class=\"tag excluded\">excluded</span>"
			                   "</td></tr>\n");
			continue;
		}
		cl_buf_adds(&R->h, "</td><td class=\"n\" data-col=\"students-linked\">");
		grouped(&R->h, s->st_linked);
		cl_buf_adds(&R->h, "</td><td class=\"n\" data-col=\"students-unmatched\">");
		grouped(&R->h, s->st_unmatched);
		cl_buf_adds(&R->h, "</td><td class=\"n\" data-col=\"teachers-linked\">");
		grouped(&R->h, s->te_linked);
		cl_buf_adds(&R->h, "</td><td class=\"n\" data-col=\"teachers-unmatched\">");
		grouped(&R->h, s->te_unmatched);
		cl_buf_adds(&R->h, "</td><td class=\"n\" data-col=\"classes\">");
		grouped(&R->h, s->classes);
		cl_buf_adds(&R->h, "</td><td><span class=\"tag\">yes</span></td></tr>\n");
	}
	cl_buf_adds(&R->h, "</tbody></table>\n<p class=\"note\">A user at several schools is "
	                   "counted at each.</p>\n</section>\n");
}

/* One row of the chart: bars of v[] scaled to its own largest value. */
static void
chart_row(struct report *R, int y, const char *label, const char *color, const char *what,
          const long long *v)
{
	const double x0 = 150, w = 500, hmax = 34;
	double step = w / (double)R->nnl, bw = step * 0.62 > 28 ? 28 : step * 0.62;
	long long max = 0, last = -1;
	size_t i;

	for (i = 0; i < R->nnl; i++)
		if (v[i] > max)
			max = v[i];
	cl_buf_addf(&R->h, "<text x=\"0\" y=\"%d\">%s</text>\n", y + 22, label);
	cl_buf_addf(&R->h,
	            "<line x1=\"%.0f\" y1=\"%d\" x2=\"%.0f\" y2=\"%d\" stroke=\"#dde3ea\"/>\n", x0,
	            y + 36, x0 + w, y + 36);
	for (i = 0; i < R->nnl; i++) {
		double hh;

		if (v[i] < 0)
			continue;
		last = v[i];
		hh = max > 0 ? hmax * (double)v[i] / (double)max : 0;
		if (v[i] > 0 && hh < 2)
			hh = 2;
		cl_buf_addf(&R->h,
		            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" "
		            "fill=\"%s\"><title>",
		            x0 + step * (double)i + (step - bw) / 2, y + 36 - hh, bw, hh, color);
		local_time(&R->h, utc_of(R->nl[i].started), "%a %d %b %H:%M");
		cl_buf_addf(&R->h, ": %lld %s</title></rect>\n", v[i], what);
	}
	if (last >= 0) {
		cl_buf_addf(&R->h, "<text x=\"%.0f\" y=\"%d\" font-weight=\"700\">", x0 + w + 12,
		            y + 22);
		grouped(&R->h, last);
		cl_buf_adds(&R->h, "</text>\n");
	}
}

static void
sec_history(struct report *R)
{
	long long *m, *u, *c;
	size_t i;
	const double x0 = 150, w = 500;
	double step;

	if (!R->o.nights)
		return;
	cl_buf_adds(&R->h, "<section id=\"history\"><h2>The last nights</h2>\n");
	if (R->nnl == 0) {
		cl_buf_adds(&R->h, "<p>No night has finished yet.</p></section>\n");
		return;
	}
	step = w / (double)R->nnl;
	m = cl_xcalloc(R->nnl, sizeof *m);
	u = cl_xcalloc(R->nnl, sizeof *u);
	c = cl_xcalloc(R->nnl, sizeof *c);
	for (i = 0; i < R->nnl; i++) {
		m[i] = R->nl[i].matched;
		u[i] = R->nl[i].unmatched;
		c[i] = R->nl[i].changes;
	}
	cl_buf_addf(&R->h,
	            "<svg viewBox=\"0 0 720 232\" role=\"img\" aria-label=\"the last %zu "
	            "nights: matched and unmatched users, changes and status\">\n",
	            R->nnl);
	chart_row(R, 0, "Matched users", "#2f6fb3", "matched", m);
	chart_row(R, 46, "Unmatched users", "#d08a1c", "unmatched", u);
	chart_row(R, 92, "Changes", "#6b55b5", "changes", c);
	cl_buf_adds(&R->h, "<text x=\"0\" y=\"164\">Status</text>\n");
	for (i = 0; i < R->nnl; i++) {
		const char *col = strcmp(R->nl[i].status, "success") == 0   ? "#1b7f4b"
		                  : strcmp(R->nl[i].status, "partial") == 0 ? "#d08a1c"
		                                                            : "#b3261e";

		cl_buf_addf(&R->h, "<circle cx=\"%.1f\" cy=\"159\" r=\"%.1f\" fill=\"%s\"><title>",
		            x0 + step * ((double)i + 0.5), step * 0.3 < 7 ? step * 0.3 : 7.0, col);
		local_time(&R->h, utc_of(R->nl[i].started), "%a %d %b %H:%M");
		cl_buf_adds(&R->h, ": ");
		esc(&R->h, R->nl[i].status);
		cl_buf_adds(&R->h, "</title></circle>\n");
	}
	/* dates under the first, the middle and the last night */
	for (i = 0; i < R->nnl; i++) {
		if (i != 0 && i != R->nnl - 1 && i != R->nnl / 2)
			continue;
		cl_buf_addf(&R->h, "<text x=\"%.1f\" y=\"196\" text-anchor=\"middle\">",
		            x0 + step * ((double)i + 0.5));
		local_time(&R->h, utc_of(R->nl[i].started), "%d %b");
		cl_buf_adds(&R->h, "</text>\n");
	}
	cl_buf_adds(&R->h,
	            "<circle cx=\"156\" cy=\"220\" r=\"5\" fill=\"#1b7f4b\"/><text x=\"166\" "
	            "y=\"224\">success</text><circle cx=\"236\" cy=\"220\" r=\"5\" "
	            "fill=\"#d08a1c\"/><text x=\"246\" y=\"224\">partial</text><circle "
	            "cx=\"312\" cy=\"220\" r=\"5\" fill=\"#b3261e\"/><text x=\"322\" "
	            "y=\"224\">failed</text>\n</svg>\n");
	cl_buf_adds(&R->h, "<p class=\"note\">Each bar is a night, oldest on the left; the number "
	                   "on the right is the last night's. A night without a bar did not "
	                   "get as far as counting.</p>\n</section>\n");
	free(m);
	free(u);
	free(c);
}

static void
page(struct report *R)
{
	char name[512], run[128], started[32], finished[32];
	const char *slash = strrchr(R->o.dir, '/');
	time_t ts, tf;

	cl_jv_str(R->night, "integration", name, sizeof name);
	cl_jv_str(R->night, "run", run, sizeof run);
	if (!*run) {
		while (slash && slash[1] == '\0' && slash > R->o.dir) /* "dir/" */
			slash--;
		snprintf(run, sizeof run, "%s", slash ? slash + 1 : R->o.dir);
	}
	cl_jv_str(R->night, "started", started, sizeof started);
	if (!*started)
		cl_jv_str(R->rep, "started", started, sizeof started);
	cl_jv_str(R->night, "finished", finished, sizeof finished);
	if (!*finished)
		cl_jv_str(R->rep, "finished", finished, sizeof finished);
	ts = utc_of(started);
	tf = utc_of(finished);

	cl_buf_adds(&R->h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
	                   "'none'; style-src 'unsafe-inline'\">\n<meta name=\"viewport\" "
	                   "content=\"width=device-width, initial-scale=1\">\n"
	                   "<meta name=\"referrer\" content=\"no-referrer\">\n<title>Roster sync");
	if (*name) {
		cl_buf_adds(&R->h, ": ");
		esc(&R->h, name);
	}
	if (ts != (time_t)-1) {
		cl_buf_adds(&R->h, ", ");
		local_time(&R->h, ts, "%d %b %Y");
	}
	cl_buf_addf(&R->h,
	            "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<header>\n"
	            "<h1>Roster sync",
	            css);
	if (*name) {
		cl_buf_adds(&R->h, ": ");
		roster(&R->h, name);
	}
	cl_buf_adds(&R->h, "</h1>\n<p>");
	if (ts != (time_t)-1) {
		cl_buf_adds(&R->h, "The night of ");
		struct tm tm;

		localtime_r(&ts, &tm);
		local_time(&R->h, ts, "%A ");
		cl_buf_addf(&R->h, "%d", tm.tm_mday); /* no leading zero */
		local_time(&R->h, ts, " %B %Y, started at %H:%M %Z");
		if (tf != (time_t)-1) {
			cl_buf_adds(&R->h, ", finished at ");
			local_time(&R->h, tf, "%H:%M %Z");
		}
		cl_buf_adds(&R->h, ". ");
	}
	cl_buf_adds(&R->h, "Run ");
	roster(&R->h, run);
	cl_buf_adds(&R->h, ".</p>\n</header>\n");
	sec_status(R);
	sec_counts(R);
	sec_changes(R);
	sec_schools(R);
	sec_history(R);
	sec_unmatched(R);
	cl_buf_adds(&R->h, "<footer>Made by cl-report " CL_VERSION " from the run folder ");
	roster(&R->h, R->o.dir);
	cl_buf_adds(&R->h, ". Times are ");
	esc(&R->h, R->o.tz);
	cl_buf_adds(&R->h, ". This page holds pupils&#39; personal data: keep it where the run "
	                   "folder is.</footer>\n</main>\n</body>\n</html>\n");
}

int
main(int argc, char *argv[])
{
	struct report R;
	struct cl_out out;
	struct cl_buf why = CL_BUF_INIT;
	struct stat st;
	size_t i, j;
	int status, opened = 0;

	cl_diag_init(argv[0]);
	memset(&R, 0, sizeof R);
	memset(&out, 0, sizeof out);
	R.rep = jv_invalid();
	R.night = jv_invalid();
	R.h = (struct cl_buf)CL_BUF_INIT;
	if ((status = parse_options(&R.o, argc, argv)) >= 0)
		goto out;
	if (stat(R.o.dir, &st) != 0) {
		status = cl_fail("CL560", "cannot read the run folder '%s':", R.o.dir);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		status = cl_fail("CL560", "'%s' is not a folder", R.o.dir);
		goto out;
	}
	if ((status = read_json(R.o.dir, "report.json", &R.rep)) > 0 ||
	    (status = read_json(R.o.dir, "night.json", &R.night)) > 0)
		goto out;
	if (!jv_is_valid(R.rep) && !jv_is_valid(R.night)) {
		status = cl_fail("CL560",
		                 "'%s' holds neither report.json nor night.json: not a "
		                 "night's run folder, or one that never started",
		                 R.o.dir);
		goto out;
	}
	if (R.o.check_args) {
		status = CL_EX_OK; /* the streams not read, nothing written */
		goto out;
	}
	setenv("TZ", R.o.tz, 1);
	tzset();
	if ((status = read_stream(&R, "match.ndjson", 'm')) >= 0 ||
	    (status = read_rejects(&R)) >= 0 || (status = read_unmatched(&R)) >= 0)
		goto out;
	for (i = 0; i < R.nsc; i++)
		if (R.sc[i].excluded)
			break;
	if (i < R.nsc && (status = read_stream(&R, "fetch.ndjson", 'f')) >= 0)
		goto out;
	if (R.o.nights && (status = read_nights(&R)) >= 0)
		goto out;
	page(&R);
	if (cl_out_open(&out, R.o.output ? R.o.output : "-", &why) != 0) {
		status = cl_fail("CL562", "%s", why.p);
		goto out;
	}
	opened = 1;
	fwrite(R.h.p, 1, R.h.len, out.f);
	opened = 0;
	if (cl_out_commit(&out, &why) != 0) {
		status = cl_fail("CL562", "%s", why.p);
		goto out;
	}
	status = CL_EX_OK;
out:
	if (opened)
		cl_out_abort(&out);
	status = cl_exit(status);
	jv_free(R.rep);
	jv_free(R.night);
	for (i = 0; i < R.nsc; i++) {
		free(R.sc[i].id);
		free(R.sc[i].name);
		free(R.sc[i].ident);
	}
	free(R.sc);
	for (i = 0; i < R.num; i++)
		for (j = 0; j < 7; j++)
			free(R.um[i].f[j]);
	free(R.um);
	for (i = 0; i < R.nrs; i++) {
		free(R.rs[i].name);
		free(R.rs[i].remedy);
	}
	free(R.rs);
	free(R.nl);
	cl_buf_release(&R.h);
	cl_buf_release(&why);
	return status;
}
