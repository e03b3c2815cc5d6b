/*
 * fetch.h: what cl-fetch's files share: the options, the collections, the
 * run's state, and the functions each file offers the others.
 */
#ifndef FETCH_FETCH_H
#define FETCH_FETCH_H

#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <curl/curl.h>
#include <jv.h>

#include "buf.h"
#include "stream.h"
#include "worker.h"

/* The collections in stream order (DESIGN.md). */
enum fetch_coll {
	FETCH_ORGS,
	FETCH_SESSIONS,
	FETCH_COURSES,
	FETCH_CLASSES,
	FETCH_ENROLLMENTS,
	FETCH_USERS,
	FETCH_DEMOGRAPHICS,
	FETCH_COLL_COUNT
};

struct fetch_coll_def {
	const char *name;     /* the path and the envelope key: "academicSessions" */
	const char *kind;     /* the stream kind: "academicSession" */
	const char *line_pre; /* "{\"kind\":\"academicSession\",\"data\":" */
};
extern const struct fetch_coll_def fetch_colls[FETCH_COLL_COUNT];

#define FETCH_LIMIT_MAX 10000
#define FETCH_PARALLEL_MAX 64
/*
 * The defaults of --max-pages and --max-records: what no district reaches.
 * The largest collection of the largest (New York City, about 1,000,000
 * students) is its enrollments, about 10,000,000: 10,000 pages at the
 * default --limit, 100,000 from a server that caps pages at 100. Thirty
 * million records hold at most 600 MB of fingerprints (fetch/seen.c) and
 * about 900 MB of sourcedIds in TMPDIR; when the check falls back to the
 * exact map, about 2.3 GB of sourcedIds in memory, well below the ID map's
 * 4 GiB of keys (lib/idmap.c). Beyond that, the server is making records up.
 */
#define FETCH_MAX_PAGES_DEFAULT 1000000LL
#define FETCH_MAX_RECORDS_DEFAULT 30000000LL

/* The OneRoster version spoken (--oneroster, or the endpoint's path). */
enum fetch_or {
	FETCH_OR_AUTO, /* not decided yet: the endpoint's path decides */
	FETCH_OR11,
	FETCH_OR12
};
/* The prefix of OneRoster 1.2's OAuth 2.0 scopes (oauth2.c asks for rostering's). */
#define FETCH_OR12_SCOPE "https://purl.imsglobal.org/spec/or/v1p2/scope/"
/* "1.1" or "1.2": the header's source.oneroster. Static. */
const char *fetch_or_name(enum fetch_or v);

struct fetch_opts {
	char *base;            /* the endpoint, normalised: ".../ims/oneroster/v1p1" or
	                          ".../ims/oneroster/rostering/v1p2"; owned */
	enum fetch_or version; /* FETCH_OR11 or FETCH_OR12 once the endpoint is checked */
	const char *client_id; /* borrowed from argv or the environment */
	char *secret;          /* owned, wiped at exit; never printed */
	unsigned collections;  /* bit per enum fetch_coll */
	long limit;            /* page size */
	long parallel;         /* pages in flight */
	long timeout;          /* seconds, per request */
	long connect_timeout;  /* seconds */
	long retries;          /* attempts after the first, per request */
	long retry_time;       /* seconds: the most a request may spend being retried */
	long backoff_ms;       /* the first retry's delay (CL_FETCH_BACKOFF_MS) */
	int stats;             /* CL_FETCH_STATS: what the duplicate check cost, on stderr */
	const char *since;     /* --since, or NULL */
	const char *fields;    /* --fields, or NULL */
	const char *token_url; /* --oauth2-token-url, or NULL: OAuth 1.0a */
	const char *output;    /* -o, or NULL: stdout */
	int progress;          /* show the progress line */
	long long max_body;    /* bytes a page body may have */
	long long max_pages;   /* pages one reading of a collection may take */
	long long max_records; /* records written for one collection */
	int totals;            /* --totals: count each collection instead of fetching it */
};

/* OAuth 2.0 client credentials: the current token. */
struct fetch_oauth2 {
	char *token; /* owned, or NULL */
	double expires;
	unsigned gen; /* counts the tokens fetched */
};

struct fetch_progress;

/*
 * The output: the one part of the run both threads touch. No lock of its
 * own guards it: the worker's queue (worker.h) decides whose turn it is.
 * The worker, inside an emit job (pager.c), writes out and spool and sets
 * gone or write_error (fetch_check_output); the main thread writes, reads,
 * opens or closes any of them only while no emit job is in flight: before
 * it submits the first one, after fetch_worker_take gave the last one back,
 * or after fetch_worker_drain. Submitting and taking back both hold the
 * queue's mutex, so each side's writes happen before the other's reads.
 */
struct fetch_output {
	FILE *out;       /* stdout, or -o's temporary file */
	FILE *spool;     /* parents, until the users are all out; NULL outside users */
	int gone;        /* the reader of stdout went away (EPIPE) */
	int write_error; /* errno: the output could not be written (not EPIPE) */
};

/*
 * The run: one per process. o is read by both threads and never written
 * once the worker has started. io is shared as its comment says. w is the
 * worker itself (its queue has its own lock). Every other field is the main
 * thread's (main, the pager, http.c, oauth2.c): the worker never touches
 * them. What the worker owns lies in pager.c, per collection.
 */
struct fetch_run {
	const struct fetch_opts *o;
	struct fetch_output io;
	struct fetch_worker w; /* checks and writes pages while curl receives */

	/* the main thread's */
	CURLM *multi;
	struct cl_stage st;
	int spool_failed; /* writing the spool failed: its parents are lost */
	int header_done;
	char *server_date; /* the first response's Date, ISO 8601; owned */
	struct fetch_oauth2 tok;
	struct fetch_progress *prog;
	volatile sig_atomic_t *interrupted;
	double hold_until; /* no new request before this (a 429's Retry-After) */
	int reached;       /* an HTTP answer came: the host names resolve (fetch_net_retry) */
	jv counts;         /* the trailer's per-collection counts */
};

/* Monotonic seconds. */
double fetch_now_mono(void);

/*
 * What a request that got no HTTP answer ran into, when the network's
 * failure has a code and a remedy of its own (http.c, fetch_net_class).
 */
enum fetch_net {
	FETCH_NET_OTHER,   /* a timeout, a connection cut, or an answer came: CL104 */
	FETCH_NET_DNS,     /* the host name does not resolve: CL120 */
	FETCH_NET_TLS,     /* the TLS handshake failed (https to a plain-http port): CL121 */
	FETCH_NET_REFUSED, /* connection refused, host or network unreachable: CL122 */
	FETCH_NET_CERT     /* the certificate could not be verified: CL113 */
};

/* http.c: one request on an easy handle. */
struct fetch_xfer {
	CURL *h;
	struct cl_buf body;
	struct curl_slist *hdrs;
	long status;
	long long total;    /* X-Total-Count, -1 when absent */
	char *link_next;    /* Link: rel="next", owned, or NULL */
	double retry_after; /* seconds, -1 when absent */
	char *date;         /* Date, owned, or NULL */
	char *www_auth;     /* WWW-Authenticate, owned, or NULL */
	long long cap;
	int overflow;
	unsigned tok_gen;   /* the OAuth 2.0 token it was sent with */
	enum fetch_net net; /* the last attempt's failure, when it had no answer */
	long os_errno;      /* the socket's errno then (ECONNREFUSED...), or 0 */
	char errbuf[CURL_ERROR_SIZE];
};

void fetch_xfer_init(struct fetch_xfer *x);
void fetch_xfer_release(struct fetch_xfer *x);
/*
 * Prepares x for a GET of url, signed for this attempt (a fresh nonce and
 * timestamp every time). Returns 0, or -1 after reporting (cl_stage_fail).
 */
int fetch_xfer_prepare(struct fetch_run *r, struct fetch_xfer *x, const char *url, void *priv);

/* What became of a finished request. */
enum fetch_outcome {
	FETCH_OUT_OK,
	FETCH_OUT_RETRY,  /* worth another attempt */
	FETCH_OUT_REAUTH, /* OAuth 2.0: a 401; get a new token and try again */
	FETCH_OUT_FATAL   /* reported; the run stops */
};
/*
 * Decides from curl's result and the HTTP status. why receives a short
 * description for messages ("HTTP 503", "timed out"). Fatal outcomes are
 * reported here (cl_stage_fail) for the collection named coll.
 */
enum fetch_outcome fetch_xfer_outcome(struct fetch_run *r, struct fetch_xfer *x, CURLcode cc,
                                      const char *coll, struct cl_buf *why);
/*
 * The class of curl's result cc on handle h (errbuf: its error buffer);
 * *os_errno receives the socket's errno, 0 when none.
 */
enum fetch_net fetch_net_class(CURL *h, CURLcode cc, const char *errbuf, long *os_errno);
/* Whether a failure of class k is worth another attempt (reached: r->reached). */
int fetch_net_retry(enum fetch_net k, int reached);
/*
 * Reports, with k's code, a request to url (borrowed) given up after
 * attempts attempts: what names the request ("orgs: the page at offset 0"),
 * url_name the URL's role ("endpoint URL", "token URL"), why is curl's words.
 */
void fetch_net_fail(struct fetch_run *r, enum fetch_net k, long os_errno, const char *url,
                    const char *url_name, const char *what, int attempts, const char *why);
/* The delay before retry number attempt (1-based), honouring Retry-After. */
double fetch_backoff_delay(const struct fetch_opts *o, int attempt, double retry_after);

/* headers.c: a response's headers. Each takes a header's value, trimmed (borrowed). */
/*
 * The value of header line [p, p+n) when its name is name, trimmed; NULL
 * otherwise, or when the line holds a NUL. Owned.
 */
char *fetch_header_value(const char *p, size_t n, const char *name);
/* X-Total-Count: the count, or -1 when it is not a number. */
long long fetch_header_total(const char *v);
/* Link: the URL of its rel="next" entry, as written (relative or not), or NULL. Owned. */
char *fetch_header_link_next(const char *v);
/* Retry-After: seconds to wait from now (0 for a date past), or -1 when it is neither form. */
double fetch_header_retry_after(const char *v, time_t now);

/* oauth2.c */
/*
 * The token endpoint's answer (RFC 6749 section 5.1), body n bytes
 * (borrowed). Returns 0 with *token (owned: one word of visible ASCII) and
 * *life (seconds, from 1 to a day; an hour when the answer gives none), or
 * -1 (*token NULL) when it holds no usable access_token.
 */
int fetch_oauth2_parse_token(const char *body, size_t n, char **token, double *life);
/* Gets a token if there is none or it is about to expire. Returns 0, or -1 after reporting. */
int fetch_oauth2_ensure(struct fetch_run *r, int force);
void fetch_oauth2_release(struct fetch_oauth2 *t);

/* pager.c: one collection, all its pages, in order. Returns 0, or -1 when the run must stop. */
int fetch_collection(struct fetch_run *r, enum fetch_coll c);
/* Writes the parents held back so far. Returns 0, or -1 after reporting a failure of the spool. */
int fetch_flush_spool(struct fetch_run *r);
/* Writes the header once (with the source and the server's Date when known). */
void fetch_write_header(struct fetch_run *r);
/*
 * Checks the output after writing: sets io.gone or io.write_error. Returns
 * -1 when writing must stop. Called by whichever thread has the output's
 * turn (struct fetch_output).
 */
int fetch_check_output(struct fetch_run *r);

/* totals.c */
/*
 * --totals: each collection asked for, its active records counted by the
 * server (one request, limit=1, filter=status='active': its
 * X-Total-Count). Returns 0 with *totals (owned) {"endpoint","started",
 * "<collection>":N...} in stream order, or -1 after reporting (*totals
 * invalid): a server without X-Total-Count is CL160.
 */
int fetch_totals(struct fetch_run *r, jv *totals);

/* progress.c */
struct fetch_progress *fetch_progress_new(int on);
void fetch_progress_free(struct fetch_progress *p);
void fetch_progress_update(struct fetch_progress *p, const char *coll, unsigned long long n,
                           long long total, int force);
/* Clears the line, if one is shown (errno is kept). */
void fetch_progress_clear(struct fetch_progress *p);
/*
 * Report a failure (cl_stage_fail: it may decide the exit status) or a
 * warning (cl_stage_warn) of the run, main thread only. The progress line
 * is cleared first (cl-fetch.c hooks fetch_progress_clear into every
 * diagnostic: lib/diag.h), so that the diagnostic is a line of its own.
 */
void fetch_fail(struct fetch_run *r, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void fetch_warn(struct fetch_run *r, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
