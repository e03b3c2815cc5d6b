/* stream.c: reading and writing the roster stream. */
#include "stream.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "errors.h"

#define READ_CHUNK ((size_t)1 << 20)

enum { Q_KIND, Q_DATA, Q_ROLE, Q_COMPLETE, Q_VERSION, Q_STAGES, Q_FIXED };

static const char *const fixed_paths[Q_FIXED] = { "kind",     "data",    "data.role",
	                                          "complete", "version", "stages" };

static const char *const kind_names[CL_K_COUNT] = {
	"header", "org",  "academicSession", "course",  "class", "enrollment",
	"user",   "user", "demographic",     "trailer",
};

/* The trailer's "lines" keys: the kinds of record lines, parents apart. */
static const char *const line_keys[CL_K_COUNT] = {
	NULL,         "org",  "academicSession", "course",      "class",
	"enrollment", "user", "parent",          "demographic", NULL,
};

struct cl_reader {
	int fd;
	const char *name;
	size_t max_line;
	char *buf;
	size_t cap, start, end, scanned;
	int eof;
	int state; /* 1 reading, 0 done, -1 failed */
	unsigned long long lineno, bytes;
	enum cl_kind last;
	int upstream_complete;
	unsigned long long seen[CL_K_COUNT]; /* lines read, by kind */
	char lost[256];                      /* why the upstream trailer's lines disagree, or "" */
	const char **paths;
	size_t npaths;
	struct cl_json_query *q;
	struct cl_json_result *res;
	struct cl_stream_err err;
	struct cl_buf scratch;
};

const char *
cl_kind_name(enum cl_kind k)
{
	return k < CL_K_COUNT ? kind_names[k] : "?";
}

struct cl_reader *
cl_reader_new(int fd, const char *name, size_t max_line)
{
	struct cl_reader *r = cl_xcalloc(1, sizeof *r);
	size_t i;

	cl_buf_init(&r->scratch);
	r->fd = fd;
	r->name = name;
	r->max_line = max_line ? max_line : CL_MAX_LINE_DEFAULT;
	r->cap = READ_CHUNK;
	r->buf = cl_xmalloc(r->cap);
	r->state = 1;
	r->upstream_complete = -1;
	r->paths = cl_xreallocarray(NULL, Q_FIXED, sizeof *r->paths);
	for (i = 0; i < Q_FIXED; i++)
		r->paths[i] = fixed_paths[i];
	r->npaths = Q_FIXED;
	return r;
}

void
cl_reader_free(struct cl_reader *r)
{
	if (!r)
		return;
	cl_json_result_free(r->res);
	cl_json_query_free(r->q);
	free(r->paths);
	free(r->buf);
	cl_buf_release(&r->scratch);
	free(r);
}

size_t
cl_reader_want(struct cl_reader *r, const char *path)
{
	size_t i;

	for (i = 0; i < r->npaths; i++)
		if (strcmp(r->paths[i], path) == 0)
			return i;
	r->paths = cl_xreallocarray(r->paths, r->npaths + 1, sizeof *r->paths);
	r->paths[r->npaths] = path;
	return r->npaths++;
}

const struct cl_stream_err *
cl_reader_error(const struct cl_reader *r)
{
	return &r->err;
}

__attribute__((format(printf, 3, 4))) static int
fail(struct cl_reader *r, const char *code, const char *fmt, ...)
{
	va_list ap;
	int n;

	r->state = -1;
	r->err.code = code;
	r->err.lineno = r->lineno;
	if (r->lineno)
		n = snprintf(r->err.msg, sizeof r->err.msg, "%s:%llu: ", r->name, r->lineno);
	else
		n = snprintf(r->err.msg, sizeof r->err.msg, "%s: ", r->name);
	if (n < 0 || (size_t)n >= sizeof r->err.msg)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(r->err.msg + n, sizeof r->err.msg - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Finds the next raw line; 1 found, 0 clean end of input, -1 failed. */
static int
next_raw(struct cl_reader *r, const char **p, size_t *n)
{
	for (;;) {
		char *nl = memchr(r->buf + r->scanned, '\n', r->end - r->scanned);
		ssize_t got;

		if (nl) {
			*p = r->buf + r->start;
			*n = (size_t)(nl - *p);
			r->start = r->scanned = (size_t)(nl - r->buf) + 1;
			r->lineno++;
			if (*n > r->max_line)
				return fail(r, "CL004", "line is %zu bytes, over the limit of %zu",
				            *n, r->max_line);
			return 1;
		}
		r->scanned = r->end;
		if (r->end - r->start > r->max_line) {
			r->lineno++;
			return fail(r, "CL004", "line is over the limit of %zu bytes", r->max_line);
		}
		if (r->eof) {
			if (r->end == r->start)
				return 0;
			r->lineno++;
			return fail(r, "CL003",
			            "the last line has no newline: the stream was cut short");
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->scanned -= r->start;
			r->start = 0;
		}
		if (r->cap - r->end < READ_CHUNK / 2) {
			r->cap *= 2;
			r->buf = cl_xrealloc(r->buf, r->cap);
		}
		do
			got = read(r->fd, r->buf + r->end, r->cap - r->end);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			return fail(r, "CL007", "read error: %s", strerror(errno));
		if (got == 0)
			r->eof = 1;
		r->end += (size_t)got;
		r->bytes += (unsigned long long)got;
	}
}

static int
kind_of(struct cl_reader *r, const struct cl_json_span *k, const struct cl_json_span *role,
        enum cl_kind *out)
{
	const char *v;
	size_t n;
	int i;

	if (!k || k->type != CL_JSON_STRING)
		return -1;
	if (!cl_json_str_raw(k, &v, &n)) {
		cl_buf_reset(&r->scratch);
		cl_json_str(k, &r->scratch);
		v = r->scratch.p;
		n = r->scratch.len;
	}
	for (i = 0; i < CL_K_COUNT; i++) {
		if (i == CL_K_PARENT)
			continue;
		if (strlen(kind_names[i]) == n && memcmp(kind_names[i], v, n) == 0)
			break;
	}
	if (i == CL_K_COUNT)
		return -1;
	*out = (enum cl_kind)i;
	if (*out == CL_K_USER && cl_role_of(role) == CL_ROLE_PARENT)
		*out = CL_K_PARENT;
	return 0;
}

enum cl_role
cl_role_of(const struct cl_json_span *role)
{
	if (cl_json_str_eq(role, "student"))
		return CL_ROLE_STUDENT;
	if (cl_json_str_eq(role, "teacher"))
		return CL_ROLE_TEACHER;
	if (cl_json_str_eq(role, "parent") || cl_json_str_eq(role, "guardian") ||
	    cl_json_str_eq(role, "relative"))
		return CL_ROLE_PARENT;
	return CL_ROLE_OTHER;
}

/* The header names a stream version this build reads, and the stages so far. */
static int
check_header(struct cl_reader *r)
{
	const struct cl_json_span *v = cl_json_result_first(r->res, Q_VERSION),
	                          *st = cl_json_result_first(r->res, Q_STAGES);
	char want[8];

	snprintf(want, sizeof want, "%d", CL_STREAM_VERSION);
	if (!v || v->type != CL_JSON_NUMBER)
		return fail(r, "CL009",
		            "the header has no \"version\" number: not a roster stream");
	if (v->n != strlen(want) || memcmp(v->p, want, v->n) != 0)
		return fail(r, "CL009",
		            "the header says stream version %.*s; this %s reads version %s: "
		            "use the same release of every stage",
		            (int)(v->n < 16 ? v->n : 16), v->p, cl_progname(), want);
	if (!st || st->type != CL_JSON_ARRAY)
		return fail(r, "CL009", "the header has no \"stages\" array");
	return 0;
}

/*
 * The trailer's last stage says how many lines of each kind it wrote
 * ("lines"); what was read must agree, or lines were lost between the
 * stages (a truncated file, a grep in a hand-made pipeline): r->lost says
 * which, and the stream counts as incomplete. A stage that wrote no "lines"
 * (a stream made by hand) is not checked.
 */
static void
check_lines(struct cl_reader *r, const char *p, size_t n)
{
	jv t = jv_parse_sized(p, (int)(n > INT_MAX ? INT_MAX : n)), stages, last, lines, v;
	int i, len;

	r->lost[0] = '\0';
	stages = jv_get_kind(t) == JV_KIND_OBJECT ? jv_object_get(jv_copy(t), jv_string("stages"))
	                                          : jv_invalid();
	len = jv_get_kind(stages) == JV_KIND_ARRAY ? jv_array_length(jv_copy(stages)) : 0;
	last = len > 0 ? jv_array_get(jv_copy(stages), len - 1) : jv_invalid();
	lines = jv_get_kind(last) == JV_KIND_OBJECT
	                ? jv_object_get(jv_copy(last), jv_string("lines"))
	                : jv_invalid();
	for (i = 0; i < CL_K_COUNT && jv_get_kind(lines) == JV_KIND_OBJECT; i++) {
		double want;

		if (!line_keys[i])
			continue;
		v = jv_object_get(jv_copy(lines), jv_string(line_keys[i]));
		want = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0;
		jv_free(v);
		if (want != (double)r->seen[i]) {
			jv tool = jv_object_get(jv_copy(last), jv_string("tool"));

			snprintf(r->lost, sizeof r->lost,
			         "the trailer says %s wrote %.0f %s lines, and %llu arrived: lines "
			         "were "
			         "lost between the stages",
			         jv_get_kind(tool) == JV_KIND_STRING ? jv_string_value(tool)
			                                             : "the stage before",
			         want, line_keys[i], r->seen[i]);
			jv_free(tool);
			break;
		}
	}
	jv_free(lines);
	jv_free(last);
	jv_free(stages);
	jv_free(t);
}

int
cl_reader_next(struct cl_reader *r, struct cl_line *line)
{
	const struct cl_json_span *k, *data;
	struct cl_json_err jerr;
	const char *p = NULL;
	size_t n = 0;
	int rc;

	if (r->state <= 0)
		return r->state;
	if (!r->q) {
		r->q = cl_json_query_new(r->paths, r->npaths);
		if (!r->q)
			return fail(r, "CL090", "internal error: a bad field path");
		r->res = cl_json_result_new(r->q);
	}
	rc = next_raw(r, &p, &n);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (r->lineno == 0)
			return fail(r, "CL003",
			            "the stream is empty: the stage before produced nothing");
		if (r->last != CL_K_TRAILER)
			return fail(r, "CL003", "the stream ended without a trailer after %s",
			            cl_kind_name(r->last));
		r->state = 0;
		return 0;
	}
	if (r->last == CL_K_TRAILER)
		return fail(r, "CL002", "a line after the trailer");
	if (n == 0)
		return fail(r, "CL001", "empty line");
	if (cl_json_scan(r->q, p, n, r->res, &jerr) < 0)
		return fail(r, "CL001", "invalid JSON at byte %zu: %s", jerr.off + 1, jerr.msg);
	k = cl_json_result_first(r->res, Q_KIND);
	if (kind_of(r, k, cl_json_result_first(r->res, Q_ROLE), &line->kind) < 0)
		return fail(r, "CL001", "no known \"kind\"");
	if (r->lineno == 1 && line->kind != CL_K_HEADER)
		return fail(r, "CL009", "the first line is not a header (kind %s)",
		            cl_kind_name(line->kind));
	if (line->kind == CL_K_HEADER && r->lineno != 1)
		return fail(r, "CL002", "a header that is not the first line");
	if (line->kind < r->last)
		return fail(r, "CL002",
		            "%s%s after %s%s (stream order: header, org, academicSession, course, "
		            "class, enrollment, user, parent users, demographic, trailer)",
		            line->kind == CL_K_PARENT ? "parent " : "", cl_kind_name(line->kind),
		            r->last == CL_K_PARENT ? "parent " : "", cl_kind_name(r->last));
	if (line->kind == CL_K_HEADER && check_header(r) < 0)
		return -1;
	data = cl_json_result_first(r->res, Q_DATA);
	if (line->kind != CL_K_HEADER && line->kind != CL_K_TRAILER &&
	    (!data || data->type != CL_JSON_OBJECT))
		return fail(r, "CL001", "%s line without a \"data\" object",
		            cl_kind_name(line->kind));
	if (line->kind == CL_K_TRAILER) {
		const struct cl_json_span *c = cl_json_result_first(r->res, Q_COMPLETE);

		r->upstream_complete = c && c->type == CL_JSON_TRUE;
		check_lines(r, p, n);
		if (r->lost[0])
			r->upstream_complete = 0;
	}
	r->seen[line->kind]++;
	r->last = line->kind;
	line->p = p;
	line->n = n;
	line->lineno = r->lineno;
	return 1;
}

const struct cl_json_span *
cl_reader_field(const struct cl_reader *r, size_t idx)
{
	return cl_json_result_first(r->res, idx);
}

enum cl_role
cl_reader_role(const struct cl_reader *r)
{
	return cl_role_of(cl_json_result_first(r->res, Q_ROLE));
}

const struct cl_json_result *
cl_reader_result(const struct cl_reader *r)
{
	return r->res;
}

unsigned long long
cl_reader_bytes(const struct cl_reader *r)
{
	return r->bytes;
}

const char *
cl_reader_lines_lost(const struct cl_reader *r)
{
	return r->lost[0] ? r->lost : NULL;
}

int
cl_reader_upstream_complete(const struct cl_reader *r)
{
	return r->upstream_complete;
}

/* Stages: header and trailer. */

void
cl_stage_init(struct cl_stage *s, const char *tool)
{
	memset(s, 0, sizeof *s);
	s->tool = tool;
	s->options = jv_object();
	s->counts = jv_object();
	s->more = jv_object();
	s->errors = jv_array();
	s->complete = 1;
	s->upstream = jv_invalid();
	s->upstream_complete = 0;
}

void
cl_stage_release(struct cl_stage *s)
{
	jv_free(s->options);
	jv_free(s->counts);
	jv_free(s->more);
	jv_free(s->errors);
	jv_free(s->upstream);
	s->options = s->counts = s->more = s->errors = s->upstream = jv_invalid();
}

static void
stage_note(struct cl_stage *s, const char *code, const char *fmt, va_list ap)
{
	struct cl_buf msg = CL_BUF_INIT;
	size_t n = strlen(fmt);
	int e = errno;

	cl_buf_vaddf(&msg, fmt, ap);
	if (n > 0 && fmt[n - 1] == ':') /* as cl_diag: the reason follows */
		cl_buf_addf(&msg, " %s", strerror(e));
	cl_diag(code, "%s", msg.p);
	s->errors = jv_array_append(
	        s->errors,
	        jv_object_set(jv_object_set(jv_object(), jv_string("code"), jv_string(code)),
	                      jv_string("message"), jv_string(msg.p)));
	cl_buf_release(&msg);
}

void
cl_stage_vfail(struct cl_stage *s, const char *code, const char *fmt, va_list ap)
{
	stage_note(s, code, fmt, ap);
	s->complete = 0;
	/* the first failure decides; a later failure still outranks a partial */
	if (!s->fatal ||
	    (cl_error_status(s->fatal) <= CL_EX_PARTIAL && cl_error_status(code) > CL_EX_PARTIAL))
		s->fatal = code;
}

void
cl_stage_vwarn(struct cl_stage *s, const char *code, const char *fmt, va_list ap)
{
	stage_note(s, code, fmt, ap);
}

void
cl_stage_fail(struct cl_stage *s, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cl_stage_vfail(s, code, fmt, ap);
	va_end(ap);
}

void
cl_stage_warn(struct cl_stage *s, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cl_stage_vwarn(s, code, fmt, ap);
	va_end(ap);
}

void
cl_stage_fail_read(struct cl_stage *s, const struct cl_reader *r)
{
	cl_stage_fail(s, r->err.code, "%s", r->err.msg);
}

void
cl_stage_wrote(struct cl_stage *s, enum cl_kind k, unsigned long long n)
{
	s->lines[k] += n;
}

void
cl_stage_count(struct cl_stage *s, const char *name, double v)
{
	s->counts = jv_object_set(s->counts, jv_string(name), jv_number(v));
}

/* Writes v as one compact line; consumes v. */
static void
write_jv(FILE *out, jv v)
{
	jv str = jv_dump_string(v, 0);

	cl_write_line(out, jv_string_value(str), (size_t)jv_string_length_bytes(jv_copy(str)));
	jv_free(str);
}

int
cl_stage_write_header(struct cl_stage *s, FILE *out, const struct cl_line *hdr, jv source)
{
	char at[32];
	jv h, stages, me;

	if (hdr) {
		h = jv_parse_sized(hdr->p, (int)(hdr->n > INT_MAX ? INT_MAX : hdr->n));
		if (jv_get_kind(h) != JV_KIND_OBJECT) {
			jv_free(h);
			jv_free(source);
			return -1;
		}
		stages = jv_object_get(jv_copy(h), jv_string("stages"));
		if (jv_get_kind(stages) != JV_KIND_ARRAY) {
			jv_free(stages);
			jv_free(h);
			jv_free(source);
			return -1;
		}
	} else {
		h = jv_object_set(jv_object(), jv_string("kind"), jv_string("header"));
		h = jv_object_set(h, jv_string("version"), jv_number(CL_STREAM_VERSION));
		if (s->delta)
			h = jv_object_set(h, jv_string("delta"), jv_true());
		stages = jv_array();
	}
	cl_iso8601(cl_now(), at);
	me = jv_object_set(jv_object(), jv_string("tool"), jv_string(s->tool));
	me = jv_object_set(me, jv_string("version"), jv_string(CL_VERSION));
	me = jv_object_set(me, jv_string("at"), jv_string(at));
	me = jv_object_set(me, jv_string("options"), jv_copy(s->options));
	h = jv_object_set(h, jv_string("stages"), jv_array_append(stages, me));
	if (jv_is_valid(source))
		h = jv_object_set(h, jv_string("source"), source);
	else
		jv_free(source);
	write_jv(out, h);
	s->header_done = 1;
	return 0;
}

void
cl_stage_take_trailer(struct cl_stage *s, const struct cl_reader *r, const struct cl_line *tr)
{
	jv t = jv_parse_sized(tr->p, (int)(tr->n > INT_MAX ? INT_MAX : tr->n));
	jv stages, complete;

	jv_free(s->upstream);
	s->upstream = jv_array();
	s->upstream_complete = 0;
	if (jv_get_kind(t) == JV_KIND_OBJECT) {
		stages = jv_object_get(jv_copy(t), jv_string("stages"));
		complete = jv_object_get(jv_copy(t), jv_string("complete"));
		if (jv_get_kind(stages) == JV_KIND_ARRAY) {
			jv_free(s->upstream);
			s->upstream = stages;
		} else {
			jv_free(stages);
		}
		s->upstream_complete = jv_get_kind(complete) == JV_KIND_TRUE;
		jv_free(complete);
	}
	jv_free(t);
	if (cl_reader_lines_lost(r))
		cl_stage_fail(s, "CL012", "%s:%llu: %s", r->name, tr->lineno,
		              cl_reader_lines_lost(r));
}

void
cl_stage_write_trailer(struct cl_stage *s, FILE *out)
{
	jv t, me, stages, lines;
	int i;

	if (!s->header_done)
		cl_stage_write_header(s, out, NULL, jv_invalid());
	if (s->first) {
		stages = jv_array();
		s->upstream_complete = 1;
	} else if (!jv_is_valid(s->upstream)) {
		s->complete = 0;
		stages = jv_array();
	} else {
		stages = jv_copy(s->upstream);
	}
	me = jv_object_set(jv_object(), jv_string("tool"), jv_string(s->tool));
	me = jv_object_set(me, jv_string("complete"), jv_bool(s->complete));
	me = jv_object_set(me, jv_string("counts"), jv_copy(s->counts));
	if (s->lines_counted) {
		lines = jv_object();
		for (i = 0; i < CL_K_COUNT; i++)
			if (line_keys[i])
				lines = jv_object_set(lines, jv_string(line_keys[i]),
				                      jv_number((double)s->lines[i]));
		me = jv_object_set(me, jv_string("lines"), lines);
	}
	if (jv_get_kind(s->more) == JV_KIND_OBJECT)
		me = jv_object_merge(me, jv_copy(s->more));
	me = jv_object_set(me, jv_string("errors"), jv_copy(s->errors));
	t = jv_object_set(jv_object(), jv_string("kind"), jv_string("trailer"));
	t = jv_object_set(t, jv_string("complete"), jv_bool(s->complete && s->upstream_complete));
	t = jv_object_set(t, jv_string("stages"), jv_array_append(stages, me));
	write_jv(out, t);
}

int
cl_stage_status(const struct cl_stage *s)
{
	return s->fatal ? cl_error_status(s->fatal) : CL_EX_OK;
}

void
cl_write_line(FILE *out, const char *p, size_t n)
{
	fwrite(p, 1, n, out);
	putc('\n', out);
}

/* stdout: 0 open, 1 closed (checked, or abandoned), -1 closed and it failed */
static int stdout_state;

int
cl_close_stdout(void)
{
	int bad;

	if (stdout_state)
		return stdout_state < 0 ? -1 : 0;
	bad = ferror(stdout);
	errno = 0;
	if (fclose(stdout) != 0 || bad) {
		if (errno == 0)
			errno = EIO;
		cl_diag("CL006", "cannot write the output:");
		stdout_state = -1;
		return -1;
	}
	stdout_state = 1;
	return 0;
}

void
cl_abandon_stdout(void)
{
	if (!stdout_state)
		fclose(stdout);
	stdout_state = 1;
}

/* SOURCE_DATE_EPOCH: 1 and *out set when it is set and valid, 0 when unset, -1 when bad. */
static int
source_date_epoch(time_t *out)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	long long v;

	if (!e || !*e)
		return 0;
	if (cl_parse_num(e, 0, CL_TIME_MAX, &v) < 0)
		return -1;
	*out = (time_t)v;
	return 1;
}

int
cl_check_time_env(void)
{
	time_t t;

	if (source_date_epoch(&t) >= 0)
		return 0;
	return cl_fail("CL011",
	               "SOURCE_DATE_EPOCH '%s' is not a number of seconds from 0 to %lld "
	               "(9999-12-31T23:59:59Z): unset it, or give a time this program can write",
	               getenv("SOURCE_DATE_EPOCH"), (long long)CL_TIME_MAX);
}

time_t
cl_now(void)
{
	time_t t;

	if (source_date_epoch(&t) > 0)
		return t;
	return time(NULL);
}

int
cl_iso8601(time_t t, char *buf)
{
	struct tm tm;

	buf[0] = '\0';
	if (t < 0 || (long long)t > CL_TIME_MAX || !gmtime_r(&t, &tm) ||
	    strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}
