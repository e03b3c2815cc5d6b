/*
 * cl-fetch: reads a district's roster from a OneRoster 1.1 REST server
 * (ClassLink Roster Server) and writes the roster stream to stdout: signed
 * requests, parallel pages written in order, retries, completeness checks.
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
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"
#include "diag.h"
#include "fetch.h"
#include "stream.h"

#define OUT_BUF ((size_t)1 << 20)
#define DEFAULT_COLLECTIONS                                                            \
	((1u << C_ORGS) | (1u << C_SESSIONS) | (1u << C_COURSES) | (1u << C_CLASSES) | \
	 (1u << C_ENROLLMENTS) | (1u << C_USERS))

static const char usage_text[] =
        "usage: cl-fetch [--client-id ID] [--secret-file FILE] [-c LIST] [-l N] [-p N]\n"
        "                [-t SECONDS] [-r N] [--retry-time SECONDS] [--since TIMESTAMP]\n"
        "                [--fields LIST] [--oauth2-token-url URL] [--max-page-bytes N]\n"
        "                [-o FILE] [--progress | --no-progress] ENDPOINT\n";

static const char help_text[] =
        "Reads a district's roster from a OneRoster 1.1 server (ClassLink Roster\n"
        "Server) at ENDPOINT and writes the roster stream to stdout.\n"
        "The client ID comes from --client-id or CL_CLIENT_ID; the secret from\n"
        "CL_CLIENT_SECRET or --secret-file (never from the command line).\n"
        "\n"
        "      --client-id ID           the application's client ID (key)\n"
        "      --secret-file FILE       read the secret from FILE (mode 0600 or stricter)\n"
        "  -c, --collections LIST       comma-separated, or \"all\" (default: orgs,\n"
        "                               academicSessions,courses,classes,enrollments,users)\n"
        "  -l, --limit N                records per page (default 1000, at most 10000)\n"
        "  -p, --parallel N             pages in flight (default 4, at most 64)\n"
        "  -t, --timeout SECONDS        the most one request may take (default 300)\n"
        "  -r, --retries N              retries per request (default 6)\n"
        "      --retry-time SECONDS     the most one request may spend retrying (default 600)\n"
        "      --since TIMESTAMP        only records modified after it (a delta)\n"
        "      --fields LIST            ask the server for these fields only\n"
        "      --oauth2-token-url URL   OAuth 2.0 client credentials instead of OAuth 1.0a\n"
        "      --max-page-bytes N       the largest page body accepted (default 256 MiB)\n"
        "  -o, --output FILE            write FILE (mode 0600) instead of stdout\n"
        "      --progress               a progress line on stderr (default: when a tty)\n"
        "      --no-progress            no progress line\n"
        "  -h, --help                   this help\n"
        "  -V, --version                the version\n"
        "\n"
        "See cl-fetch(1).\n";

enum {
	OPT_CLIENT_ID = 256,
	OPT_SECRET_FILE,
	OPT_RETRY_TIME,
	OPT_SINCE,
	OPT_FIELDS,
	OPT_TOKEN_URL,
	OPT_MAX_PAGE,
	OPT_PROGRESS,
	OPT_NO_PROGRESS
};

static const struct option long_opts[] = {
	{ "client-id", required_argument, NULL, OPT_CLIENT_ID },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "collections", required_argument, NULL, 'c' },
	{ "limit", required_argument, NULL, 'l' },
	{ "parallel", required_argument, NULL, 'p' },
	{ "timeout", required_argument, NULL, 't' },
	{ "retries", required_argument, NULL, 'r' },
	{ "retry-time", required_argument, NULL, OPT_RETRY_TIME },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "fields", required_argument, NULL, OPT_FIELDS },
	{ "oauth2-token-url", required_argument, NULL, OPT_TOKEN_URL },
	{ "max-page-bytes", required_argument, NULL, OPT_MAX_PAGE },
	{ "output", required_argument, NULL, 'o' },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* What the command line says, before it is checked against the world. */
struct args {
	const char *endpoint;
	const char *secret_file;
	int progress; /* -1: when stderr is a tty */
};

static volatile sig_atomic_t interrupted;

/* The worker finished a job: end the main thread's wait for the network. */
static void
wake_main(void *multi)
{
	curl_multi_wakeup(multi);
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
		*mask = (1u << C_COUNT) - 1;
		return 0;
	}
	while (*p) {
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		for (c = 0; c < C_COUNT; c++)
			if (strlen(colls[c].name) == n && !strncmp(colls[c].name, p, n))
				break;
		if (c == C_COUNT)
			return -1;
		*mask |= 1u << c;
		p = *e ? e + 1 : e;
	}
	return *mask ? 0 : -1;
}

static int
digits(const char *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS[.fff]Z: what OneRoster's dateLastModified compares with. */
static int
valid_since(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2))
		return 0;
	if (n == 10)
		return 1;
	if (n < 20 || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
	    s[16] != ':' || !digits(s + 17, 2))
		return 0;
	i = 19;
	if (s[i] == '.') {
		i++;
		if (!digits(s + i, 1))
			return 0;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return s[i] == 'Z' && s[i + 1] == '\0';
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
parse_args(int argc, char *argv[], struct opts *o, struct args *a)
{
	long long v;
	int c;

	while ((c = getopt_long(argc, argv, ":c:l:p:t:r:o:hV", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_CLIENT_ID:
			o->client_id = optarg;
			break;
		case OPT_SECRET_FILE:
			a->secret_file = optarg;
			break;
		case 'c':
			if (parse_collections(optarg, &o->collections) < 0)
				return cl_usage_error(
				        usage_text,
				        "--collections '%s': not a list of OneRoster "
				        "collections (orgs, academicSessions, courses, "
				        "classes, enrollments, users, demographics) or all",
				        optarg);
			break;
		case 'l':
			if (cl_parse_num(optarg, 1, LIMIT_MAX, &v) < 0)
				return cl_usage_error(usage_text,
				                      "--limit '%s': not a number from 1 to %d",
				                      optarg, LIMIT_MAX);
			o->limit = (long)v;
			break;
		case 'p':
			if (cl_parse_num(optarg, 1, PARALLEL_MAX, &v) < 0)
				return cl_usage_error(usage_text,
				                      "--parallel '%s': not a number from 1 to %d",
				                      optarg, PARALLEL_MAX);
			o->parallel = (long)v;
			break;
		case 't':
			if (cl_parse_num(optarg, 1, 86400, &v) < 0)
				return cl_usage_error(
				        usage_text,
				        "--timeout '%s': not a number of seconds from 1 to "
				        "86400",
				        optarg);
			o->timeout = (long)v;
			break;
		case 'r':
			if (cl_parse_num(optarg, 0, 100, &v) < 0)
				return cl_usage_error(usage_text,
				                      "--retries '%s': not a number from 0 to 100",
				                      optarg);
			o->retries = (long)v;
			break;
		case OPT_RETRY_TIME:
			if (cl_parse_num(optarg, 0, 86400, &v) < 0)
				return cl_usage_error(
				        usage_text,
				        "--retry-time '%s': not a number of seconds from 0 "
				        "to 86400",
				        optarg);
			o->retry_time = (long)v;
			break;
		case OPT_SINCE:
			if (!valid_since(optarg))
				return cl_usage_error(
				        usage_text,
				        "--since '%s': not a date (2026-08-01) or a UTC time "
				        "(2026-08-01T00:00:00Z)",
				        optarg);
			o->since = optarg;
			break;
		case OPT_FIELDS:
			if (!valid_fields(optarg))
				return cl_usage_error(
				        usage_text,
				        "--fields '%s': not a comma-separated list of field "
				        "names",
				        optarg);
			o->fields = optarg;
			break;
		case OPT_TOKEN_URL:
			o->token_url = optarg;
			break;
		case OPT_MAX_PAGE:
			if (cl_parse_num(optarg, 1024, (long long)1 << 40, &v) < 0)
				return cl_usage_error(
				        usage_text, "--max-page-bytes '%s': not a number from 1024",
				        optarg);
			o->max_body = v;
			break;
		case 'o':
			o->output = optarg;
			break;
		case OPT_PROGRESS:
			a->progress = 1;
			break;
		case OPT_NO_PROGRESS:
			a->progress = 0;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			return cl_close_stdout() < 0 ? CL_EX_IOERR : CL_EX_OK;
		case 'V':
			printf("cl-fetch %s\n", CL_VERSION);
			return cl_close_stdout() < 0 ? CL_EX_IOERR : CL_EX_OK;
		default: /* ':' or '?' */
			return cl_getopt_error(usage_text, c, argv, long_opts);
		}
	}
	if (optind >= argc)
		return cl_usage_error(usage_text,
		                      "no ENDPOINT: give the OneRoster URL from Roster Server");
	if (optind + 1 < argc)
		return cl_usage_error(usage_text, "one ENDPOINT only: '%s' is one too many",
		                      argv[optind + 1]);
	a->endpoint = argv[optind];
	return -1;
}

static int
loopback(const char *host)
{
	return !strcasecmp(host, "localhost") || !strcmp(host, "127.0.0.1") ||
	       !strcmp(host, "[::1]") || !strcmp(host, "::1");
}

/*
 * Checks a URL the way every request will use it: http(s), no credentials,
 * no query or fragment, plain http only to this computer. what names it in
 * messages. With endpoint set, the path is normalised to end in /v1p1.
 * Returns the URL (owned) or NULL after a diagnostic (*status set).
 */
static char *
check_url(const char *url, const char *what, int endpoint, int *status)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL, *query = NULL, *frag = NULL,
	     *path = NULL, *out = NULL;
	struct cl_buf p = CL_BUF_INIT;

	if (!u)
		cl_oom();
	*status = CL_EX_CONFIG;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		/* never echo it: it may hold a password */
		cl_diag("CL109", "the %s is not a URL (https://...)", what);
		goto out;
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
	if (user || pass) {
		cl_diag("CL109",
		        "the %s holds a user name or password: give the credentials in "
		        "CL_CLIENT_ID and CL_CLIENT_SECRET instead",
		        what);
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
		cl_diag("CL109", "the %s '%s' is not https://", what, url);
		goto out;
	}
	if (query || frag) {
		cl_diag("CL109", "the %s '%s' has a query or fragment: give the URL without it",
		        what, url);
		goto out;
	}
	if (!strcmp(scheme, "http") && !loopback(host)) {
		cl_diag("CL107", "the %s '%s' is plain http to another computer: use https://",
		        what, url);
		goto out;
	}
	if (endpoint) {
		curl_url_get(u, CURLUPART_PATH, &path, 0);
		cl_buf_adds(&p, path ? path : "/");
		while (p.len > 0 && p.p[p.len - 1] == '/')
			p.p[--p.len] = '\0';
		if (p.len < 5 || strcmp(p.p + p.len - 5, "/v1p1") != 0)
			cl_buf_adds(&p, "/v1p1");
		curl_url_set(u, CURLUPART_PATH, p.p, 0);
	}
	{
		char *s = NULL;

		if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
			out = cl_xstrdup(s);
			*status = 0;
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
	return out;
}

/* The secret from --secret-file (like ssh: only its owner may read it) or CL_CLIENT_SECRET. */
static char *
read_secret(const char *file)
{
	char buf[4096];
	struct stat sb;
	ssize_t n;
	size_t len;
	char *s, *nl;
	int fd;

	if (!file) {
		s = getenv("CL_CLIENT_SECRET");
		if (!s || !*s) {
			cl_diag("CL108",
			        "no client secret: set CL_CLIENT_SECRET or give --secret-file "
			        "FILE");
			return NULL;
		}
		return cl_xstrdup(s);
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cl_diag("CL108", "cannot open the secret file '%s':", file);
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		cl_diag("CL108", "the secret file '%s' is not a regular file", file);
		close(fd);
		return NULL;
	}
	if (sb.st_mode & 077) {
		cl_diag("CL108",
		        "the secret file '%s' is open to group or others (mode %04o): chmod 600 "
		        "'%s'",
		        file, (unsigned)(sb.st_mode & 07777), file);
		close(fd);
		return NULL;
	}
	if (sb.st_uid != getuid() && sb.st_uid != 0) {
		cl_diag("CL108", "the secret file '%s' belongs to another user", file);
		close(fd);
		return NULL;
	}
	len = 0;
	while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cl_diag("CL108", "cannot read the secret file '%s':", file);
			close(fd);
			explicit_bzero(buf, sizeof buf);
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	nl = strpbrk(buf, "\r\n");
	if (nl)
		*nl = '\0';
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (!len) {
		cl_diag("CL108", "the secret file '%s' is empty", file);
		return NULL;
	}
	s = cl_xstrdup(buf);
	explicit_bzero(buf, sizeof buf);
	return s;
}

/* Opens -o FILE as a temporary file beside it (0600), renamed into place at the end. */
static FILE *
open_output(const char *path, char **tmp)
{
	struct cl_buf t = CL_BUF_INIT;
	FILE *f;
	int fd;

	cl_buf_addf(&t, "%s.XXXXXX", path);
	fd = mkstemp(t.p); /* mode 0600 */
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		cl_diag("CL116", "cannot create '%s':", t.p);
		if (fd >= 0) {
			close(fd);
			unlink(t.p);
		}
		cl_buf_release(&t);
		return NULL;
	}
	*tmp = cl_buf_detach(&t, NULL);
	return f;
}

/* The temporary file the parents wait in: unlinked at once, so nothing is left behind. */
static FILE *
open_spool(const char **dir)
{
	const char *d = getenv("TMPDIR");
	struct cl_buf t = CL_BUF_INIT;
	FILE *f = NULL;
	int fd, e;

	*dir = d && *d ? d : "/tmp";
	cl_buf_addf(&t, "%s/cl-fetch.XXXXXX", *dir);
	fd = mkstemp(t.p); /* mode 0600 */
	if (fd >= 0) {
		unlink(t.p);
		f = fdopen(fd, "w+");
		if (!f) {
			e = errno;
			close(fd);
			errno = e;
		}
	}
	cl_buf_release(&t);
	return f;
}

static void
stage_options(struct cl_stage *st, const struct opts *o)
{
	jv cs = jv_array();
	int c;

	for (c = 0; c < C_COUNT; c++)
		if (o->collections & (1u << c))
			cs = jv_array_append(cs, jv_string(colls[c].name));
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
}

/* Every collection asked for, in stream order; the parents after the other users. */
static void
fetch_all(struct run *r)
{
	int c;

	if (r->o->token_url && oauth2_ensure(r, 0) < 0)
		return;
	for (c = 0; c < C_COUNT; c++) {
		if (!(r->o->collections & (1u << c)))
			continue;
		if (c == C_USERS) {
			const char *dir;

			r->spool = open_spool(&dir);
			if (!r->spool) {
				r->fatal = CL_EX_IOERR;
				cl_stage_fail(&r->st, "CL116",
				              "cannot create a temporary file in '%s' for the "
				              "parents: %s",
				              dir, strerror(errno));
				return;
			}
		}
		if (fetch_collection(r, (enum coll)c) < 0) {
			if (c == C_USERS)
				flush_spool(r);
			return;
		}
		if (c == C_USERS) {
			flush_spool(r);
			if (check_output(r) < 0 || r->fatal)
				return;
		}
	}
}

int
main(int argc, char *argv[])
{
	static char outbuf[OUT_BUF];
	struct opts o = { .limit = 1000,
		          .parallel = 4,
		          .timeout = 300,
		          .retries = 6,
		          .retry_time = 600,
		          .backoff_ms = 1000,
		          .collections = DEFAULT_COLLECTIONS,
		          .max_body = (long long)256 << 20 };
	struct args a = { NULL, NULL, -1 };
	struct run r;
	struct sigaction sa;
	char *tmp = NULL;
	const char *e;
	int status, url_status;

	cl_diag_init(argv[0]);
	if ((status = parse_args(argc, argv, &o, &a)) >= 0)
		return status;
	if ((e = getenv("CL_FETCH_BACKOFF_MS")) && *e) {
		long long v;

		if (cl_parse_num(e, 0, 600000, &v) < 0)
			return cl_usage_error(
			        usage_text,
			        "CL_FETCH_BACKOFF_MS '%s': not milliseconds from 0 to "
			        "600000",
			        e);
		o.backoff_ms = (long)v;
	}
	o.connect_timeout = o.timeout < 30 ? o.timeout : 30;

	/* the world: URLs, credentials, the output */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cl_diag("CL090", "cannot initialise libcurl");
		return CL_EX_SOFTWARE;
	}
	o.base = check_url(a.endpoint, "endpoint URL", 1, &url_status);
	if (!o.base) {
		curl_global_cleanup();
		return url_status;
	}
	if (o.token_url) {
		char *t = check_url(o.token_url, "token URL", 0, &url_status);

		if (!t) {
			free(o.base);
			curl_global_cleanup();
			return url_status;
		}
		free(t);
	}
	if (!o.client_id)
		o.client_id = getenv("CL_CLIENT_ID");
	if (!o.client_id || !*o.client_id) {
		cl_diag("CL108", "no client ID: give --client-id ID or set CL_CLIENT_ID");
		free(o.base);
		curl_global_cleanup();
		return CL_EX_CONFIG;
	}
	o.secret = read_secret(a.secret_file);
	if (!o.secret) {
		free(o.base);
		curl_global_cleanup();
		return CL_EX_CONFIG;
	}
	o.progress = a.progress >= 0 ? a.progress : isatty(STDERR_FILENO);

	memset(&r, 0, sizeof r);
	r.o = &o;
	r.interrupted = &interrupted;
	r.counts = jv_object();
	if (o.output) {
		r.out = open_output(o.output, &tmp);
		if (!r.out) {
			explicit_bzero(o.secret, strlen(o.secret));
			free(o.secret);
			free(o.base);
			jv_free(r.counts);
			curl_global_cleanup();
			return CL_EX_IOERR;
		}
	} else {
		r.out = stdout;
	}
	/* glibc ignores the size unless it is given the buffer too */
	setvbuf(r.out, outbuf, _IOFBF, OUT_BUF);

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
	if (worker_start(&r.w, wake_main, r.multi) < 0) {
		cl_diag("CL090", "cannot start a thread:");
		return CL_EX_SOFTWARE;
	}
	r.prog = progress_new(o.progress);
	cl_stage_init(&r.st, "cl-fetch");
	r.st.first = 1;
	stage_options(&r.st, &o);

	fetch_all(&r);

	progress_clear(r.prog);
	if (!r.gone && !r.write_error) {
		jv_free(r.st.counts);
		r.st.counts = jv_copy(r.counts);
		write_header(&r);
		cl_stage_write_trailer(&r.st, r.out);
		/* flush here, so that a reader gone by now is told from a full disk */
		if (fflush(r.out) != 0 && errno == EPIPE)
			r.gone = 1;
		check_output(&r);
	}
	if (r.gone)
		status = 128 + SIGPIPE; /* as a filter killed by SIGPIPE: quietly */
	else if (r.fatal)
		status = r.fatal;
	else if (r.partial)
		status = CL_EX_PARTIAL;
	else
		status = CL_EX_OK;
	if (o.output) {
		int bad = r.write_error || ferror(r.out);

		if (fflush(r.out) != 0 || fsync(fileno(r.out)) != 0)
			bad = 1;
		if (fclose(r.out) != 0)
			bad = 1;
		if (bad) {
			cl_diag("CL006", "cannot write '%s'", tmp);
			status = CL_EX_IOERR;
		}
		/* a file is only ever there whole, trailer included; an interrupted run leaves none
		 */
		if (bad || interrupted || rename(tmp, o.output) != 0) {
			if (!bad && !interrupted) {
				cl_diag("CL116", "cannot rename '%s' to '%s':", tmp, o.output);
				status = CL_EX_IOERR;
			}
			unlink(tmp);
		}
	} else if (r.gone) {
		fclose(stdout); /* what is left in the buffer has no reader */
	} else if (r.write_error) {
		errno = r.write_error;
		cl_diag("CL006", "cannot write the output:");
		fclose(stdout);
		status = CL_EX_IOERR;
	} else if (cl_close_stdout() < 0) {
		status = CL_EX_IOERR;
	}

	worker_stop(&r.w);
	progress_free(r.prog);
	curl_multi_cleanup(r.multi);
	oauth2_release(&r.tok);
	free(r.server_date);
	jv_free(r.counts);
	cl_stage_release(&r.st);
	explicit_bzero(o.secret, strlen(o.secret));
	free(o.secret);
	free(o.base);
	free(tmp);
	curl_global_cleanup();
	return status;
}
