/*
 * cl-fetch: reads a district's roster from a OneRoster 1.1 or 1.2 REST
 * server (ClassLink Roster Server) and writes the roster stream to stdout:
 * signed requests, parallel pages written in order, retries, completeness
 * checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <curl/curl.h>

#include "cli.h"
#include "date.h"
#include "diag.h"
#include "fetch.h"
#include "out.h"
#include "stream.h"

#define OUT_BUF ((size_t)1 << 20)
#define DEFAULT_COLLECTIONS                                                    \
	((1u << FETCH_ORGS) | (1u << FETCH_SESSIONS) | (1u << FETCH_COURSES) | \
	 (1u << FETCH_CLASSES) | (1u << FETCH_ENROLLMENTS) | (1u << FETCH_USERS))

static const char usage[] =
        "usage: cl-fetch [--client-id ID] [--secret-file FILE] [-c LIST] [-l N] [-p N]\n"
        "                [-t SECONDS] [-r N] [--retry-time SECONDS] [--since TIMESTAMP]\n"
        "                [--fields LIST] [--oauth2-token-url URL] [--oneroster VERSION]\n"
        "                [--max-page-bytes N] [--max-pages N] [--max-records N] [-o FILE]\n"
        "                [--progress | --no-progress] ENDPOINT\n"
        "       cl-fetch --totals [--client-id ID] [--secret-file FILE] [-c LIST]\n"
        "                [-t SECONDS] [-r N] [--retry-time SECONDS]\n"
        "                [--oauth2-token-url URL] [--oneroster VERSION] [-o FILE] ENDPOINT\n";

enum {
	OPT_CLIENT_ID = CL_OPT_LONG,
	OPT_SECRET_FILE,
	OPT_RETRY_TIME,
	OPT_SINCE,
	OPT_FIELDS,
	OPT_TOKEN_URL,
	OPT_ONEROSTER,
	OPT_MAX_PAGE,
	OPT_MAX_PAGES,
	OPT_MAX_RECORDS,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_TOTALS
};

static const struct cl_opt options[] = {
	{ OPT_CLIENT_ID, "client-id", CL_ARG_REQUIRED, "ID", "the application's client ID (key)" },
	{ OPT_SECRET_FILE, "secret-file", CL_ARG_REQUIRED, "FILE",
	  "read the secret from FILE (mode 0600 or stricter)" },
	{ 'c', "collections", CL_ARG_REQUIRED, "LIST",
	  "comma-separated, or \"all\" (default: orgs,\n"
	  "academicSessions,courses,classes,enrollments,users)" },
	{ 'l', "limit", CL_ARG_REQUIRED, "N", "records per page (default 1000, at most 10000)" },
	{ 'p', "parallel", CL_ARG_REQUIRED, "N", "pages in flight (default 4, at most 64)" },
	{ 't', "timeout", CL_ARG_REQUIRED, "SECONDS",
	  "the most one request may take (default 300)" },
	{ 'r', "retries", CL_ARG_REQUIRED, "N", "retries per request (default 6)" },
	{ OPT_RETRY_TIME, "retry-time", CL_ARG_REQUIRED, "SECONDS",
	  "the most one request may spend retrying (default 600)" },
	{ OPT_SINCE, "since", CL_ARG_REQUIRED, "TIMESTAMP",
	  "only records modified after it (a delta)" },
	{ OPT_FIELDS, "fields", CL_ARG_REQUIRED, "LIST", "ask the server for these fields only" },
	{ OPT_TOKEN_URL, "oauth2-token-url", CL_ARG_REQUIRED, "URL",
	  "OAuth 2.0 client credentials instead of OAuth 1.0a" },
	{ OPT_ONEROSTER, "oneroster", CL_ARG_REQUIRED, "VERSION",
	  "1.1 or 1.2 (default: 1.2 when ENDPOINT's path ends\nin /v1p2, else 1.1); 1.2 takes "
	  "OAuth 2.0" },
	{ OPT_MAX_PAGE, "max-page-bytes", CL_ARG_REQUIRED, "N",
	  "the largest page body accepted (default 256 MiB)" },
	{ OPT_MAX_PAGES, "max-pages", CL_ARG_REQUIRED, "N",
	  "pages one reading of a collection may take\n(default 1000000)" },
	{ OPT_MAX_RECORDS, "max-records", CL_ARG_REQUIRED, "N",
	  "records one collection may have (default 30000000)" },
	{ 'o', "output", CL_ARG_REQUIRED, "FILE", "write FILE (mode 0600) instead of stdout" },
	{ OPT_PROGRESS, "progress", CL_ARG_NONE, NULL,
	  "a progress line on stderr (default: when a tty)" },
	{ OPT_NO_PROGRESS, "no-progress", CL_ARG_NONE, NULL, "no progress line" },
	{ OPT_TOTALS, "totals", CL_ARG_NONE, NULL,
	  "write each collection's count (X-Total-Count) as one\n"
	  "JSON object instead of the stream" },
	{ 0, NULL, CL_ARG_NONE, NULL, NULL },
};

static const struct cl_cmd cmd = {
	"cl-fetch", usage,
	"Reads a district's roster from a OneRoster 1.1 or 1.2 server (ClassLink\n"
	"Roster Server) at ENDPOINT and writes the roster stream to stdout.\n"
	"The client ID comes from --client-id or CL_CLIENT_ID; the secret from\n"
	"CL_CLIENT_SECRET or --secret-file (never from the command line).\n",
	options
};

/* What the command line says, before it is checked against the world. */
struct args {
	const char *endpoint;
	const char *secret_file;
	int progress;   /* -1: when stderr is a tty */
	int check_args; /* --check-args: stop before the output and the server */
};

static volatile sig_atomic_t interrupted;

/* The worker finished a job: end the main thread's wait for the network. */
static void
wake_main(void *multi)
{
	curl_multi_wakeup(multi);
}

static void
clear_progress(void *prog)
{
	fetch_progress_clear(prog);
}

static void
on_signal(int sig)
{
	interrupted = sig;
}

static int
parse_collections(const char *s, unsigned *mask)
{
	const char *p = s, *e;
	size_t n;
	int c;

	*mask = 0;
	if (!strcmp(s, "all")) {
		*mask = (1u << FETCH_COLL_COUNT) - 1;
		return 0;
	}
	while (*p) {
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		for (c = 0; c < FETCH_COLL_COUNT; c++)
			if (strlen(fetch_colls[c].name) == n && !strncmp(fetch_colls[c].name, p, n))
				break;
		if (c == FETCH_COLL_COUNT)
			return -1;
		*mask |= 1u << c;
		p = *e ? e + 1 : e;
	}
	return *mask ? 0 : -1;
}

/* YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS[.fff]Z: what OneRoster's dateLastModified compares with. */
static int
valid_since(const char *s)
{
	size_t n = strlen(s);

	return n == 10 ? cl_date_check(s, n, NULL) == 0 : cl_datetime_ok(s, n, 0);
}

static int
valid_fields(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == ','))
			return 0;
	return 1;
}

/* Returns -1 to go on, or the exit status (0 after --help or --version). */
static int
parse_options(struct fetch_opts *o, struct args *a, int argc, char *argv[])
{
	struct cl_getopt g;
	long long v;
	int c;

	cl_getopt_init(&g, &cmd, argc, argv);
	while ((c = cl_getopt_next(&g)) != -1) {
		switch (c) {
		case OPT_CLIENT_ID:
			o->client_id = g.arg;
			break;
		case OPT_SECRET_FILE:
			a->secret_file = g.arg;
			break;
		case 'c':
			if (parse_collections(g.arg, &o->collections) < 0)
				return cl_usage_error(
				        &cmd,
				        "--collections '%s': not a list of OneRoster "
				        "collections (orgs, academicSessions, courses, "
				        "classes, enrollments, users, demographics) or all",
				        g.arg);
			break;
		case 'l':
			if (cl_parse_num(g.arg, 1, FETCH_LIMIT_MAX, &v) < 0)
				return cl_usage_error(&cmd,
				                      "--limit '%s': not a number from 1 to %d",
				                      g.arg, FETCH_LIMIT_MAX);
			o->limit = (long)v;
			break;
		case 'p':
			if (cl_parse_num(g.arg, 1, FETCH_PARALLEL_MAX, &v) < 0)
				return cl_usage_error(&cmd,
				                      "--parallel '%s': not a number from 1 to %d",
				                      g.arg, FETCH_PARALLEL_MAX);
			o->parallel = (long)v;
			break;
		case 't':
			if (cl_parse_num(g.arg, 1, 86400, &v) < 0)
				return cl_usage_error(
				        &cmd,
				        "--timeout '%s': not a number of seconds from 1 to "
				        "86400",
				        g.arg);
			o->timeout = (long)v;
			break;
		case 'r':
			if (cl_parse_num(g.arg, 0, 100, &v) < 0)
				return cl_usage_error(
				        &cmd, "--retries '%s': not a number from 0 to 100", g.arg);
			o->retries = (long)v;
			break;
		case OPT_RETRY_TIME:
			if (cl_parse_num(g.arg, 0, 86400, &v) < 0)
				return cl_usage_error(
				        &cmd,
				        "--retry-time '%s': not a number of seconds from 0 "
				        "to 86400",
				        g.arg);
			o->retry_time = (long)v;
			break;
		case OPT_SINCE:
			if (!valid_since(g.arg))
				return cl_usage_error(
				        &cmd,
				        "--since '%s': not a date (2026-08-01) or a UTC time "
				        "(2026-08-01T00:00:00Z)",
				        g.arg);
			o->since = g.arg;
			break;
		case OPT_FIELDS:
			if (!valid_fields(g.arg))
				return cl_usage_error(
				        &cmd,
				        "--fields '%s': not a comma-separated list of field "
				        "names",
				        g.arg);
			o->fields = g.arg;
			break;
		case OPT_TOKEN_URL:
			o->token_url = g.arg;
			break;
		case OPT_ONEROSTER:
			if (!strcmp(g.arg, "1.1"))
				o->version = FETCH_OR11;
			else if (!strcmp(g.arg, "1.2"))
				o->version = FETCH_OR12;
			else
				return cl_usage_error(&cmd, "--oneroster '%s': not 1.1 or 1.2",
				                      g.arg);
			break;
		case OPT_MAX_PAGE:
			if (cl_parse_num(g.arg, 1024, (long long)1 << 40, &v) < 0)
				return cl_usage_error(
				        &cmd, "--max-page-bytes '%s': not a number from 1024",
				        g.arg);
			o->max_body = v;
			break;
		case OPT_MAX_PAGES:
			if (cl_parse_num(g.arg, 1, FETCH_MAX_PAGES_DEFAULT * 1000, &v) < 0)
				return cl_usage_error(
				        &cmd, "--max-pages '%s': not a number from 1 to %lld",
				        g.arg, FETCH_MAX_PAGES_DEFAULT * 1000);
			o->max_pages = v;
			break;
		case OPT_MAX_RECORDS:
			if (cl_parse_num(g.arg, 1, FETCH_MAX_RECORDS_DEFAULT * 1000, &v) < 0)
				return cl_usage_error(
				        &cmd, "--max-records '%s': not a number from 1 to %lld",
				        g.arg, FETCH_MAX_RECORDS_DEFAULT * 1000);
			o->max_records = v;
			break;
		case 'o':
			o->output = g.arg;
			break;
		case OPT_PROGRESS:
			a->progress = 1;
			break;
		case OPT_NO_PROGRESS:
			a->progress = 0;
			break;
		case OPT_TOTALS:
			o->totals = 1;
			break;
		default: /* CL_OPT_EXIT */
			return g.status;
		}
	}
	if (optind >= argc)
		return cl_usage_error(&cmd,
		                      "no ENDPOINT: give the OneRoster URL from Roster Server");
	if (optind + 1 < argc)
		return cl_usage_error(&cmd, "one ENDPOINT only: '%s' is one too many",
		                      argv[optind + 1]);
	a->endpoint = argv[optind];
	a->check_args = g.check_args;
	if (o->totals && (o->since || o->fields))
		return cl_usage_error(&cmd, "--totals counts whole collections: no %s",
		                      o->since ? "--since" : "--fields");
	return -1;
}

static int
loopback(const char *host)
{
	return !strcasecmp(host, "localhost") || !strcmp(host, "127.0.0.1") ||
	       !strcmp(host, "[::1]") || !strcmp(host, "::1");
}

/* Does the path [p, p+n) end in the component /tail? */
static int
ends_in(const char *p, size_t n, const char *tail)
{
	size_t t = strlen(tail);

	return n > t && p[n - t - 1] == '/' && !memcmp(p + n - t, tail, t);
}

/*
 * The endpoint's path, trailing slashes dropped, made to end in the
 * version's base (docs: cl-fetch(1), ENDPOINT): 1.1's .../v1p1, 1.2's
 * .../rostering/v1p2 (only /v1p2 after .../rostering). A path that ends in one version's base names
 * that version: *version (FETCH_OR_AUTO: none asked) becomes it, or the two disagree (CL125).
 * Returns 0, or the status reported.
 */
static int
endpoint_path(struct cl_buf *p, const char *url, enum fetch_or *version)
{
	enum fetch_or said = FETCH_OR_AUTO;

	while (p->len > 0 && p->p[p->len - 1] == '/')
		p->p[--p->len] = '\0';
	if (ends_in(p->p, p->len, "v1p1"))
		said = FETCH_OR11;
	else if (ends_in(p->p, p->len, "v1p2"))
		said = FETCH_OR12;
	if (said != FETCH_OR_AUTO && *version != FETCH_OR_AUTO && said != *version)
		return cl_fail("CL125",
		               "the endpoint URL '%s' is a OneRoster %s path, and --oneroster "
		               "asks for %s",
		               url, said == FETCH_OR11 ? "1.1 (v1p1)" : "1.2 (v1p2)",
		               *version == FETCH_OR11 ? "1.1" : "1.2");
	if (*version == FETCH_OR_AUTO)
		*version = said != FETCH_OR_AUTO ? said : FETCH_OR11;
	if (said == FETCH_OR_AUTO && *version == FETCH_OR12)
		/* ".../ims/oneroster/rostering" has the service already */
		cl_buf_adds(p, ends_in(p->p, p->len, "rostering") ? "/v1p2" : "/rostering/v1p2");
	else if (said == FETCH_OR_AUTO)
		cl_buf_adds(p, "/v1p1");
	return 0;
}

/*
 * Checks a URL the way every request will use it: http(s), no credentials,
 * no query or fragment, plain http only to this computer. what names it in
 * messages. With version set (the endpoint), the path is normalised to end
 * in the version's base, and *version decided (endpoint_path). Returns 0
 * with *out set to the URL (owned), or the exit status after a diagnostic.
 */
static int
check_url(const char *url, const char *what, enum fetch_or *version, char **out)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL, *query = NULL, *frag = NULL,
	     *path = NULL;
	struct cl_buf p = CL_BUF_INIT;
	int status;

	if (!u)
		cl_oom();
	*out = NULL;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		/* never echo it: it may hold a password */
		status = cl_fail("CL109", "the %s is not a URL (https://...)", what);
		goto out;
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
	if (user || pass) {
		status = cl_fail("CL109",
		                 "the %s holds a user name or password: give the credentials in "
		                 "CL_CLIENT_ID and CL_CLIENT_SECRET instead",
		                 what);
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
		status = cl_fail("CL109", "the %s '%s' is not https://", what, url);
		goto out;
	}
	if (query || frag) {
		status = cl_fail("CL109",
		                 "the %s '%s' has a query or fragment: give the URL without it",
		                 what, url);
		goto out;
	}
	if (!strcmp(scheme, "http") && !loopback(host)) {
		status = cl_fail("CL107",
		                 "the %s '%s' is plain http to another computer: use https://",
		                 what, url);
		goto out;
	}
	if (version) {
		curl_url_get(u, CURLUPART_PATH, &path, 0);
		cl_buf_adds(&p, path ? path : "/");
		if ((status = endpoint_path(&p, url, version)) != 0)
			goto out;
		curl_url_set(u, CURLUPART_PATH, p.p, 0);
	}
	{
		char *s = NULL;

		if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
			*out = cl_xstrdup(s);
			status = 0;
		} else {
			status = cl_fail("CL109", "the %s is not a URL (https://...)", what);
		}
		curl_free(s);
	}
out:
	cl_buf_release(&p);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_free(query);
	curl_free(frag);
	curl_free(path);
	curl_url_cleanup(u);
	return status;
}

/*
 * A process that holds the client secret leaves no core file, and no other
 * process of its user may read its memory (ptrace, /proc/PID/mem) or its
 * environment: a core limit of 0, and not dumpable (Linux), before the
 * secret is read. Returns 0, or the status of the failure reported.
 */
static int
no_core(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		return cl_fail("CL090", "cannot turn core files off:");
#ifdef __linux__
	if (prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) < 0)
		return cl_fail("CL090", "cannot make the process undumpable:");
#endif
	return 0;
}

/*
 * The secret from --secret-file (like ssh: only its owner may read it) or
 * CL_CLIENT_SECRET. Returns 0 with *out set (owned, to be wiped), or the exit
 * status after a diagnostic.
 */
static int
read_secret(const char *file, char **out)
{
	char buf[4096];
	struct stat sb;
	ssize_t n;
	size_t len = 0;
	char *s, *nl;
	int fd = -1, status = 0;

	*out = NULL;
	if (!file) {
		s = getenv("CL_CLIENT_SECRET");
		if (!s || !*s)
			return cl_fail("CL108", "no client secret: set CL_CLIENT_SECRET or give "
			                        "--secret-file FILE");
		*out = cl_xstrdup(s);
		return 0;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cl_fail("CL108", "cannot open the secret file '%s':", file);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		status = cl_fail("CL108", "the secret file '%s' is not a regular file", file);
		goto out;
	}
	if (sb.st_mode & 077) {
		status = cl_fail("CL108",
		                 "the secret file '%s' is open to group or others (mode %04o): "
		                 "chmod 600 '%s'",
		                 file, (unsigned)(sb.st_mode & 07777), file);
		goto out;
	}
	if (sb.st_uid != getuid() && sb.st_uid != 0) {
		status = cl_fail("CL108", "the secret file '%s' belongs to another user", file);
		goto out;
	}
	while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			status = cl_fail("CL108", "cannot read the secret file '%s':", file);
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	nl = strpbrk(buf, "\r\n");
	if (nl)
		*nl = '\0';
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (!len) {
		status = cl_fail("CL108", "the secret file '%s' is empty", file);
		goto out;
	}
	*out = cl_xstrdup(buf);
out:
	close(fd);
	explicit_bzero(buf, sizeof buf);
	return status;
}

/*
 * Opens -o FILE through lib/out.h: written beside FILE and renamed over it
 * at the end (a FIFO or a device in place). Returns 0, or the status of the
 * failure reported (CL010 when FILE is an input, the secret file).
 */
static int
open_output(const char *path, struct cl_out *dst)
{
	struct cl_buf why = CL_BUF_INIT;
	int rc = cl_out_open(dst, path, &why), status = 0;

	if (rc != 0)
		status = cl_fail(rc == CL_OUT_SAME ? "CL010" : "CL116", "-o: %s", why.p);
	cl_buf_release(&why);
	return status;
}

static void
stage_options(struct cl_stage *st, const struct fetch_opts *o)
{
	jv cs = jv_array();
	int c;

	for (c = 0; c < FETCH_COLL_COUNT; c++)
		if (o->collections & (1u << c))
			cs = jv_array_append(cs, jv_string(fetch_colls[c].name));
	st->options = jv_object_set(st->options, jv_string("collections"), cs);
	st->options = jv_object_set(st->options, jv_string("limit"), jv_number((double)o->limit));
	st->options =
	        jv_object_set(st->options, jv_string("parallel"), jv_number((double)o->parallel));
	st->options =
	        jv_object_set(st->options, jv_string("timeout"), jv_number((double)o->timeout));
	st->options =
	        jv_object_set(st->options, jv_string("retries"), jv_number((double)o->retries));
	st->options = jv_object_set(st->options, jv_string("auth"),
	                            jv_string(o->token_url ? "oauth2" : "oauth1"));
	if (o->since)
		st->options = jv_object_set(st->options, jv_string("since"), jv_string(o->since));
	if (o->fields)
		st->options = jv_object_set(st->options, jv_string("fields"), jv_string(o->fields));
	/* the limits, when they are not the defaults (a run told to stop early says so) */
	if (o->max_pages != FETCH_MAX_PAGES_DEFAULT)
		st->options = jv_object_set(st->options, jv_string("max_pages"),
		                            jv_number((double)o->max_pages));
	if (o->max_records != FETCH_MAX_RECORDS_DEFAULT)
		st->options = jv_object_set(st->options, jv_string("max_records"),
		                            jv_number((double)o->max_records));
}

/* Every collection asked for, in stream order; the parents after the other users. */
static void
fetch_all(struct fetch_run *r)
{
	int c;

	if (r->o->token_url && fetch_oauth2_ensure(r, 0) < 0)
		return;
	for (c = 0; c < FETCH_COLL_COUNT; c++) {
		if (!(r->o->collections & (1u << c)))
			continue;
		if (c == FETCH_USERS) {
			const char *dir;

			r->io.spool = cl_spool_open("cl-fetch", &dir);
			if (!r->io.spool) {
				fetch_fail(r, "CL116",
				           "cannot create a temporary file in '%s' for the "
				           "parents: %s",
				           dir, strerror(errno));
				return;
			}
		}
		if (fetch_collection(r, (enum fetch_coll)c) < 0) {
			if (c == FETCH_USERS)
				fetch_flush_spool(r);
			return;
		}
		if (c == FETCH_USERS && (fetch_flush_spool(r) < 0 || fetch_check_output(r) < 0))
			return;
	}
}

/*
 * Finishes -o FILE: renamed into place only when it was written whole and
 * the run was not interrupted (an interrupted run leaves the old file, or
 * none). Returns status, or the status of a failure.
 */
static int
close_output(struct fetch_run *r, struct cl_out *dst, int status)
{
	struct cl_buf why = CL_BUF_INIT;

	if (r->io.write_error || ferror(r->io.out)) {
		errno = r->io.write_error ? r->io.write_error : EIO;
		status = cl_fail("CL006", "cannot write '%s':", dst->path);
		cl_out_abort(dst);
	} else if (*r->interrupted) {
		cl_out_abort(dst);
	} else if (cl_out_commit(dst, &why) < 0) {
		status = cl_fail("CL116", "-o: %s", why.p);
	}
	r->io.out = NULL;
	cl_buf_release(&why);
	/* stdout was never written: nothing of it to check */
	cl_abandon_stdout();
	return status;
}

/*
 * Ends the stream: the header if no page wrote it, the trailer, then the
 * output checked (dst: -o FILE when it is a file, or NULL for stdout).
 * Returns the exit status.
 */
static int
end_stream(struct fetch_run *r, struct cl_out *dst)
{
	int status;

	fetch_progress_clear(r->prog);
	if (!r->io.gone && !r->io.write_error) {
		jv_free(r->st.counts);
		r->st.counts = jv_copy(r->counts);
		fetch_write_header(r);
		cl_stage_write_trailer(&r->st, r->io.out);
		/* flush here, so that a reader gone by now is told from a full disk */
		if (fflush(r->io.out) != 0 && errno == EPIPE)
			r->io.gone = 1;
		fetch_check_output(r);
	}
	status = cl_stage_status(&r->st);
	if (r->io.gone)
		status = 128 + SIGPIPE; /* as a filter killed by SIGPIPE: quietly */
	if (dst)
		return close_output(r, dst, status);
	if (r->io.gone) {
		cl_abandon_stdout(); /* what is left in the buffer has no reader */
	} else if (r->io.write_error) {
		errno = r->io.write_error;
		status = cl_fail("CL006", "cannot write the output:");
		cl_abandon_stdout();
	}
	return status;
}

/*
 * --totals: the counts, as one line of JSON, written only when every
 * collection was counted (dst: -o FILE, or NULL for stdout). Returns the
 * exit status.
 */
static int
write_totals(struct fetch_run *r, struct cl_out *dst)
{
	jv t;
	int status;

	if (fetch_totals(r, &t) < 0) {
		jv_free(t);
		if (dst) { /* -o FILE: the old file stays, or none */
			cl_out_abort(dst);
			r->io.out = NULL;
			cl_abandon_stdout();
		}
		return cl_stage_status(&r->st);
	}
	t = jv_dump_string(t, 0);
	fprintf(r->io.out, "%s\n", jv_string_value(t));
	jv_free(t);
	if (fflush(r->io.out) != 0 && errno == EPIPE)
		r->io.gone = 1;
	fetch_check_output(r);
	status = cl_stage_status(&r->st);
	if (r->io.gone)
		status = 128 + SIGPIPE;
	if (dst)
		return close_output(r, dst, status);
	if (r->io.gone) {
		cl_abandon_stdout();
	} else if (r->io.write_error) {
		errno = r->io.write_error;
		status = cl_fail("CL006", "cannot write the output:");
		cl_abandon_stdout();
	}
	return status;
}

int
main(int argc, char *argv[])
{
	static char outbuf[OUT_BUF];
	struct fetch_opts o = { .limit = 1000,
		                .parallel = 4,
		                .timeout = 300,
		                .retries = 6,
		                .retry_time = 600,
		                .backoff_ms = 1000,
		                .collections = DEFAULT_COLLECTIONS,
		                .max_body = (long long)256 << 20,
		                .max_pages = FETCH_MAX_PAGES_DEFAULT,
		                .max_records = FETCH_MAX_RECORDS_DEFAULT };
	struct args a = { NULL, NULL, -1, 0 };
	struct fetch_run r;
	struct sigaction sa;
	struct cl_out dst = { 0 };
	const char *e;
	int status, curl_up = 0, worker_up = 0;

	cl_diag_init(argv[0]);
	memset(&r, 0, sizeof r);
	r.o = &o;
	r.interrupted = &interrupted;
	r.counts = jv_object();
	cl_stage_init(&r.st, "cl-fetch");
	r.st.first = 1;
	r.st.lines_counted = 1;

	if ((status = parse_options(&o, &a, argc, argv)) >= 0)
		goto out;
	o.stats = (e = getenv("CL_FETCH_STATS")) && *e && strcmp(e, "0") != 0;
	if ((e = getenv("CL_FETCH_BACKOFF_MS")) && *e) {
		long long v;

		if (cl_parse_num(e, 0, 600000, &v) < 0) {
			status = cl_usage_error(&cmd,
			                        "CL_FETCH_BACKOFF_MS '%s': not milliseconds from 0 "
			                        "to 600000",
			                        e);
			goto out;
		}
		o.backoff_ms = (long)v;
	}
	o.connect_timeout = o.timeout < 30 ? o.timeout : 30;
	if ((status = no_core()) != 0)
		goto out;

	/* the world: URLs, credentials, the output */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		status = cl_fail("CL090", "cannot initialise libcurl");
		goto out;
	}
	curl_up = 1;
	if ((status = check_url(a.endpoint, "endpoint URL", &o.version, &o.base)) != 0)
		goto out;
	if (o.version == FETCH_OR12 && !o.token_url) {
		status = cl_fail("CL126",
		                 "OneRoster 1.2 takes OAuth 2.0 only, and no --oauth2-token-url "
		                 "was given: give the server's token endpoint");
		goto out;
	}
	if (o.token_url) {
		char *t;

		status = check_url(o.token_url, "token URL", NULL, &t);
		free(t);
		if (status)
			goto out;
	}
	if (!o.client_id)
		o.client_id = getenv("CL_CLIENT_ID");
	if (!o.client_id || !*o.client_id) {
		status = cl_fail("CL108", "no client ID: give --client-id ID or set CL_CLIENT_ID");
		goto out;
	}
	if ((status = read_secret(a.secret_file, &o.secret)) != 0)
		goto out;
	if (a.secret_file)
		cl_out_note_input_path(a.secret_file); /* -o must not replace it */
	if (a.check_args) {
		status = CL_EX_OK; /* checked; -o and the server left alone */
		goto out;
	}
	o.progress = a.progress >= 0 ? a.progress : isatty(STDERR_FILENO);
	if (!o.output)
		r.io.out = stdout;
	else if ((status = open_output(o.output, &dst)) != 0)
		goto out;
	else
		r.io.out = dst.f; /* stdout for -o - */
	/* glibc ignores the size unless it is given the buffer too */
	setvbuf(r.io.out, outbuf, _IOFBF, OUT_BUF);

	/* libcurl does not want SIGPIPE; a reader that went away shows as EPIPE */
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	r.multi = curl_multi_init();
	if (!r.multi)
		cl_oom();
	curl_multi_setopt(r.multi, CURLMOPT_MAX_HOST_CONNECTIONS, o.parallel);
	curl_multi_setopt(r.multi, CURLMOPT_MAXCONNECTS, o.parallel + 2);
	if (fetch_worker_start(&r.w, wake_main, r.multi) < 0) {
		status = cl_fail("CL090", "cannot start a thread:");
		goto out;
	}
	worker_up = 1;
	r.prog = fetch_progress_new(o.progress);
	cl_diag_hook(clear_progress, r.prog); /* no diagnostic lands on the progress line */
	stage_options(&r.st, &o);

	if (o.totals) {
		status = write_totals(&r, r.io.out != stdout ? &dst : NULL);
	} else {
		fetch_all(&r);
		status = end_stream(&r, r.io.out != stdout ? &dst : NULL);
	}
out:
	if (worker_up)
		fetch_worker_stop(&r.w);
	cl_out_abort(&dst); /* -o FILE, given up before the end: the old file stays */
	cl_diag_hook(NULL, NULL);
	fetch_progress_free(r.prog);
	if (r.multi)
		curl_multi_cleanup(r.multi);
	fetch_oauth2_release(&r.tok);
	free(r.server_date);
	jv_free(r.counts);
	cl_stage_release(&r.st);
	if (o.secret) {
		explicit_bzero(o.secret, strlen(o.secret));
		free(o.secret);
	}
	free(o.base);
	if (curl_up)
		curl_global_cleanup();
	return cl_exit(status);
}
