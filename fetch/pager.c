/*
 * pager.c: one collection, page by page. The first page tells the total
 * (X-Total-Count); then a window of --parallel pages is kept in flight on
 * one curl multi handle, refilled as pages finish (curl's 10-at-a-time.c),
 * and pages are written strictly in order: a page that finished early waits
 * in its slot, so at most --parallel page bodies are ever held. Without a
 * total, Link rel="next" is followed one page at a time until a short page.
 *
 * The JSON of a page is checked, and its records written, on one worker
 * thread (worker.c), in the order the main thread hands the pages over, so
 * that curl receives the next pages meanwhile. The main thread keeps every
 * decision (retries, totals, what to request); the worker only reports.
 *
 * Completeness: records are counted per collection (duplicates, which offset
 * drift causes, are dropped by sourcedId: seen.c knows every sourcedId
 * written in a few bytes each, exactly) and checked against the total. A
 * total that changed while paging, or a count that falls short, means
 * records may have been skipped: the collection is read once more (only the
 * records not yet written are written) and, if still short, it is marked
 * incomplete (CL105).
 *
 * Every fetch ends, whatever the server does. A page that brings nothing
 * new (every record on it seen before in this pass: a server that ignores
 * offset sends the first page again and again) ends the pass: it counts as
 * one that may have skipped records, unless the total agrees with what
 * arrived; if the second pass ends the same way, the collection is marked
 * incomplete (CL117). And a pass takes at most --max-pages pages, a
 * collection at most --max-records records (a server that keeps inventing
 * records, with or without a total): reaching either ends the collection,
 * incomplete (CL118, CL119), without a second pass.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "diag.h"
#include "fetch.h"
#include "oauth1.h"
#include "page.h"
#include "seen.h"
#include "worker.h"

const struct fetch_coll_def fetch_colls[FETCH_COLL_COUNT] = {
	{ "orgs", "org", "{\"kind\":\"org\",\"data\":" },
	{ "academicSessions", "academicSession", "{\"kind\":\"academicSession\",\"data\":" },
	{ "courses", "course", "{\"kind\":\"course\",\"data\":" },
	{ "classes", "class", "{\"kind\":\"class\",\"data\":" },
	{ "enrollments", "enrollment", "{\"kind\":\"enrollment\",\"data\":" },
	{ "users", "user", "{\"kind\":\"user\",\"data\":" },
	{ "demographics", "demographic", "{\"kind\":\"demographic\",\"data\":" },
};

/*
 * A page's life: waiting to be (re)sent, in flight, being checked by the
 * worker, whole (waiting for its turn), being written by the worker.
 */
enum pstate { P_FREE, P_WAIT, P_RUN, P_PARSE, P_DONE, P_EMIT };

/* What the worker is asked to do with a page (struct fetch_job's kind). */
enum { JOB_PARSE, JOB_EMIT };

/* An emit job's rc besides 0 and -1 (the output failed: gone or write_error is set). */
#define EMIT_SPOOL_FAILED (-2)
#define EMIT_IDS_FAILED (-3) /* the duplicate check's spool could not be read back */

/* Why a pass ended before its last page (struct crun's stop, a page's halt). */
enum stop { STOP_NONE, STOP_STALL, STOP_PAGES, STOP_RECORDS };

struct crun;

struct page {
	enum pstate state;
	long long idx;    /* the page's number in this pass */
	long long offset; /* its offset */
	char *url;        /* owned */
	struct fetch_xfer x;
	int attempts;
	int reauthed;
	int bad_body; /* the last failure was a body that is not a page */
	double first, not_before;
	struct fetch_page_span *spans;
	size_t nspans, cap;
	struct crun *cr;
	struct fetch_job job;       /* the worker's, while state is P_PARSE or P_EMIT */
	const char *where;          /* a parse job's: what is wrong with the JSON */
	int err;                    /* an emit job's: errno of a failed spool write or read */
	unsigned long long written; /* an emit job's: the collection's records so far */
	enum stop halt;             /* an emit job's: the pass must end (stall or records) */
};

/*
 * What writing a collection needs: the worker's. Emit jobs run one at a
 * time, in order, so they never race each other; the main thread reads or
 * resets it (and frees it) only while no job is in flight (struct
 * fetch_output says when), parse jobs read only pp.
 */
struct emit_state {
	struct fetch_page_parser pp;
	struct fetch_seen *seen;   /* sourcedId -> the pass that wrote it (seen.c) */
	struct cl_buf line, pline; /* a page's lines: all but parents, parents */
	int emit_failed;           /* a write failed: the worker writes no more pages */
	enum stop halt;            /* the pass ended (a stall, --max-records): no more pages */
	uint64_t *hashes;          /* of the sourcedIds of the page being written */
	size_t hcap;
	unsigned long long records, dups, parents, noid, pass_unique;
	unsigned long long pass_dups; /* records that came twice in this pass */
};

/*
 * One collection being read. The main thread owns everything here but em
 * (the worker's) and, while a page is P_PARSE or P_EMIT, that page's job
 * and what its job writes (struct page). pass is written by the main
 * thread between passes only and read by emit jobs.
 */
struct crun {
	struct fetch_run *r;
	enum fetch_coll c;
	struct page *slots;
	long n;              /* the window */
	struct cl_buf query; /* the query after limit and offset: "&filter=..." */
	int pass;
	long long planned, req_next, emit_next;
	long long emit_sub;          /* the next page to hand to the worker for writing */
	long long total, tmin, tmax; /* -1: none */
	long long eff_limit;
	int link_mode;
	char *next_url;        /* link mode: the next page's URL, owned */
	long long next_offset; /* link mode without a Link: the next offset */
	unsigned long long pages, retries, errors;
	enum stop stop;        /* why the pass ended early (a page's halt, --max-pages) */
	long long stop_offset; /* the offset of the page that ended it */
	struct emit_state em;
};

static void parse_job(struct fetch_job *j);
static void emit_job(struct fetch_job *j);

#ifdef FETCH_TRACE_PAGES
static const char *const pstate_names[] = { "free", "wait", "run", "parse", "done", "emit" };
#endif

/*
 * Moves page p to state s: the one place a page's state changes (as curl's
 * mstate() for a transfer), with what entering each state does:
 *   P_FREE   the request forgotten: URL, attempts, body (its storage kept
 *            unless large)
 *   P_WAIT   nothing (the caller has set not_before)
 *   P_RUN    the attempt counted (the first one starts the retry clock)
 *   P_PARSE  the body handed to the worker to check (parse_job)
 *   P_DONE   nothing (page_done took what the page says)
 *   P_EMIT   the page handed to the worker to write (emit_job)
 * Built with -DFETCH_TRACE_PAGES, it traces every change on stderr.
 */
static void
page_state(struct page *p, enum pstate s)
{
#ifdef FETCH_TRACE_PAGES
	fprintf(stderr, "cl-fetch: %s page %lld (offset %lld): %s -> %s\n",
	        fetch_colls[p->cr->c].name, p->idx, p->offset, pstate_names[p->state],
	        pstate_names[s]);
#endif
	p->state = s;
	switch (s) {
	case P_FREE:
		free(p->url);
		p->url = NULL;
		p->attempts = 0;
		p->reauthed = 0;
		p->bad_body = 0;
		p->nspans = 0;
		cl_buf_reset(&p->x.body);
		/* a page body may be large: do not keep its storage for the next one */
		if (p->x.body.cap > ((size_t)4 << 20))
			cl_buf_release(&p->x.body);
		break;
	case P_RUN:
		if (p->attempts == 0)
			p->first = fetch_now_mono();
		p->attempts++;
		break;
	case P_PARSE:
	case P_EMIT:
		/* the job, and what it writes of the page, are the worker's until taken back */
		p->job.fn = s == P_PARSE ? parse_job : emit_job;
		p->job.arg = p;
		p->job.kind = s == P_PARSE ? JOB_PARSE : JOB_EMIT;
		fetch_worker_submit(&p->cr->r->w, &p->job);
		break;
	case P_WAIT:
	case P_DONE:
		break;
	}
}

/* The URL of the page at offset: base/collection?limit=L&offset=O&... Owned. */
static char *
page_url(const struct fetch_run *r, const struct crun *cr, long long offset)
{
	struct cl_buf u = CL_BUF_INIT;

	cl_buf_addf(&u, "%s/%s?limit=%ld&offset=%lld%s", r->o->base, fetch_colls[cr->c].name,
	            r->o->limit, offset, cr->query.p);
	return cl_buf_detach(&u, NULL);
}

/* scheme://host:port of a URL, for comparing origins. Owned, or NULL. */
static char *
origin(const char *url)
{
	CURLU *u = curl_url();
	char *s = NULL, *h = NULL, *p = NULL, *o = NULL;
	struct cl_buf b = CL_BUF_INIT;

	if (!u)
		cl_oom();
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		cl_buf_addf(&b, "%s://%s:%s", s, h, p);
		for (size_t i = 0; i < b.len; i++)
			if (b.p[i] >= 'A' && b.p[i] <= 'Z')
				b.p[i] = (char)(b.p[i] - 'A' + 'a');
		o = cl_buf_detach(&b, NULL);
	}
	curl_free(s);
	curl_free(h);
	curl_free(p);
	curl_url_cleanup(u);
	return o;
}

/* The Link rel="next" URL made absolute against the endpoint, if it stays on its origin. Owned. */
static char *
resolve_next(const struct fetch_run *r, const char *next)
{
	CURLU *u = curl_url();
	char *abs = NULL, *out = NULL, *o1, *o2;

	if (!u)
		cl_oom();
	if (curl_url_set(u, CURLUPART_URL, r->o->base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, next, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &abs, 0) == CURLUE_OK) {
		o1 = origin(r->o->base);
		o2 = origin(abs);
		/* never send a signed request (or a Bearer token) to another server */
		if (o1 && o2 && !strcmp(o1, o2))
			out = cl_xstrdup(abs);
		free(o1);
		free(o2);
	}
	curl_free(abs);
	curl_url_cleanup(u);
	return out;
}

/* Sends page p's request. Returns 0, or -1 after reporting: the run must stop. */
static int
start(struct fetch_run *r, struct crun *cr, struct page *p)
{
	CURLMcode mc;

	if (fetch_xfer_prepare(r, &p->x, p->url, p) < 0)
		return -1;
	mc = curl_multi_add_handle(r->multi, p->x.h);
	if (mc != CURLM_OK) {
		fetch_fail(r, "CL090", "%s: %s", fetch_colls[cr->c].name, curl_multi_strerror(mc));
		return -1;
	}
	page_state(p, P_RUN);
	return 0;
}

static void
note_date(struct fetch_run *r, const struct fetch_xfer *x)
{
	time_t t;
	char iso[32];

	if (r->server_date || !x->date)
		return;
	t = curl_getdate(x->date, NULL);
	if (t == -1)
		return;
	if (cl_iso8601(t, iso) < 0)
		return; /* a Date no ISO 8601 year can name: the start time is ours */
	r->server_date = cl_xstrdup(iso);
}

/* A page came back whole: take what it says about the collection. */
static void
page_done(struct fetch_run *r, struct crun *cr, struct page *p)
{
	long long n = (long long)p->nspans, t = p->x.total;

	note_date(r, &p->x);
	cr->pages++;
	if (t >= 0) {
		if (cr->tmin < 0 || t < cr->tmin)
			cr->tmin = t;
		if (t > cr->tmax)
			cr->tmax = t;
	}
	if (p->idx == 0) {
		if (t >= 0) {
			cr->total = t;
			cr->link_mode = 0;
			cr->eff_limit = r->o->limit;
			/* a server that caps the page size below --limit: page by what it sends */
			if (n > 0 && n < r->o->limit && t > n)
				cr->eff_limit = n;
			/* (t + limit - 1) / limit overflows for a total near LLONG_MAX */
			cr->planned = t > 0 ? t / cr->eff_limit + (t % cr->eff_limit != 0) : 1;
		} else {
			cr->link_mode = 1;
			cr->eff_limit = r->o->limit;
		}
	}
	if (cr->link_mode) {
		free(cr->next_url);
		cr->next_url = NULL;
		cr->next_offset = p->offset + n;
		if (n > 0 && p->x.link_next)
			cr->next_url = resolve_next(r, p->x.link_next);
		if (n > 0 && (cr->next_url || n >= cr->eff_limit))
			cr->planned = p->idx + 2;
	} else if (p->idx == cr->planned - 1 && n >= cr->eff_limit) {
		/* the last page the total promised is full: the server may have more */
		cr->planned++;
	}
	page_state(p, P_DONE);
}

/* Reports a page that failed for good. */
static void
give_up(struct fetch_run *r, struct crun *cr, struct page *p, const char *why)
{
	cr->errors++;
	if (p->bad_body) {
		fetch_fail(r, "CL106",
		           "%s: the page at offset %lld is not a OneRoster page "
		           "after %d attempts: %s",
		           fetch_colls[cr->c].name, p->offset, p->attempts, why);
	} else if (p->x.net != FETCH_NET_OTHER) {
		/* the last attempt had no answer, for a reason with a code of its own */
		struct cl_buf what = CL_BUF_INIT;
		char *url = NULL;

		cl_buf_addf(&what, "%s: the page at offset %lld", fetch_colls[cr->c].name,
		            p->offset);
		curl_easy_getinfo(p->x.h, CURLINFO_EFFECTIVE_URL, &url);
		fetch_net_fail(r, p->x.net, p->x.os_errno, url, "endpoint URL", what.p, p->attempts,
		               why);
		cl_buf_release(&what);
	} else {
		fetch_fail(r, "CL104", "%s: the page at offset %lld failed %d times: %s",
		           fetch_colls[cr->c].name, p->offset, p->attempts, why);
	}
}

/*
 * A request that did not bring a page (out is not FETCH_OUT_OK, why says what
 * happened): retried later, or given up. Returns -1 when the run must stop.
 */
static int
settle(struct fetch_run *r, struct crun *cr, struct page *p, enum fetch_outcome out,
       const char *why)
{
	double now = fetch_now_mono(), delay;

	switch (out) {
	case FETCH_OUT_RETRY:
		delay = fetch_backoff_delay(r->o, p->attempts, p->x.retry_after);
		if (p->attempts > r->o->retries ||
		    now + delay - p->first > (double)r->o->retry_time) {
			give_up(r, cr, p, why);
			return -1;
		}
		cr->retries++;
		if (p->x.retry_after >= 0 && (p->x.status == 429 || p->x.status == 503) &&
		    now + p->x.retry_after > r->hold_until)
			r->hold_until = now + p->x.retry_after;
		p->not_before = now + delay;
		page_state(p, P_WAIT);
		return 0;
	case FETCH_OUT_REAUTH:
		if (p->reauthed) {
			fetch_fail(r, "CL101",
			           "authentication failed (HTTP 401) with a new OAuth 2.0 token: "
			           "check that the client may read the %s",
			           fetch_colls[cr->c].name);
			return -1;
		}
		p->reauthed = 1;
		/* the pages in flight with the same token: only the first gets a new one */
		if (p->x.tok_gen == r->tok.gen && fetch_oauth2_ensure(r, 1) < 0)
			return -1;
		p->attempts--; /* a renewed token is not a retry */
		p->not_before = now;
		page_state(p, P_WAIT);
		return 0;
	default:
		cr->errors++;
		return -1;
	}
}

/* The worker's part of a page: is the body a page of the collection, and where are its records? */
static void
parse_job(struct fetch_job *j)
{
	struct page *p = j->arg;

	p->nspans = 0;
	p->where = NULL;
	j->rc = fetch_page_parse(&p->cr->em.pp, p->x.body.p, p->x.body.len, &p->spans, &p->nspans,
	                         &p->cap, &p->where);
}

/* A request finished (outside curl's callbacks). Returns -1 when the run must stop. */
static int
finish(struct fetch_run *r, struct crun *cr, struct page *p, CURLcode cc)
{
	struct cl_buf why = CL_BUF_INIT;
	enum fetch_outcome out;
	int rc = 0;

	out = fetch_xfer_outcome(r, &p->x, cc, fetch_colls[cr->c].name, &why);
	p->bad_body = 0;
	if (out == FETCH_OUT_OK) {
		/* the body is checked on the worker; parsed() takes it from there */
		page_state(p, P_PARSE);
	} else {
		rc = settle(r, cr, p, out, why.len ? why.p : "?");
	}
	cl_buf_release(&why);
	return rc;
}

/* The worker checked a page's body. Returns -1 when the run must stop. */
static int
parsed(struct fetch_run *r, struct crun *cr, struct page *p)
{
	struct cl_buf why = CL_BUF_INIT;
	int rc;

	switch (p->job.rc) {
	case FETCH_PAGE_OK:
		page_done(r, cr, p);
		return 0;
	case FETCH_PAGE_MALFORMED:
		cl_buf_addf(&why, "malformed JSON (%s)", p->where ? p->where : "?");
		break;
	case FETCH_PAGE_NOT_ENVELOPE:
		cl_buf_addf(&why,
		            "valid JSON, but %s where an object with the \"%s\" key was expected",
		            p->where ? p->where : "not an object", fetch_colls[cr->c].name);
		break;
	case FETCH_PAGE_NO_ENVELOPE:
		cl_buf_addf(&why, "valid JSON, but an object without the \"%s\" key (HTTP %ld)",
		            fetch_colls[cr->c].name, p->x.status);
		break;
	case FETCH_PAGE_NOT_ARRAY:
		cl_buf_addf(&why, "valid JSON, but its \"%s\" is not an array",
		            fetch_colls[cr->c].name);
		break;
	default:
		cl_buf_addf(&why, "valid JSON, but an element of its \"%s\" is not an object",
		            fetch_colls[cr->c].name);
		break;
	}
	p->bad_body = 1;
	rc = settle(r, cr, p, FETCH_OUT_RETRY, why.p);
	cl_buf_release(&why);
	return rc;
}

const char *
fetch_or_name(enum fetch_or v)
{
	return v == FETCH_OR12 ? "1.2" : "1.1";
}

int
fetch_check_output(struct fetch_run *r)
{
	if (r->io.gone || r->io.write_error)
		return -1;
	if (ferror(r->io.out)) {
		if (errno == EPIPE)
			r->io.gone = 1;
		else
			r->io.write_error = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

void
fetch_write_header(struct fetch_run *r)
{
	jv src;
	char iso[32];

	if (r->header_done)
		return;
	if (!r->server_date)
		cl_iso8601(cl_now(), iso);
	src = jv_object_set(jv_object(), jv_string("endpoint"), jv_string(r->o->base));
	src = jv_object_set(src, jv_string("oneroster"), jv_string(fetch_or_name(r->o->version)));
	src = jv_object_set(src, jv_string("started"),
	                    jv_string(r->server_date ? r->server_date : iso));
	/* The top-level "delta" (docs/stream.md) is what cl-load reads: never a
	 * deletion from a stream that holds only changes. */
	r->st.delta = r->o->since != NULL;
	if (r->o->since)
		src = jv_object_set(src, jv_string("since"), jv_string(r->o->since));
	cl_stage_write_header(&r->st, r->io.out, NULL, src);
	r->header_done = 1;
}

/* How many records ahead emit_job asks for the slot of a sourcedId: a cache miss's worth of work.
 */
#define PREFETCH_AHEAD 8

/*
 * The worker's writing of page p: its new records to the output, parents to
 * the spool. rc: 0; -1 when the output failed (gone or write_error set) or
 * an earlier page's writing did; EMIT_SPOOL_FAILED with p->err.
 */
static void
emit_job(struct fetch_job *j)
{
	struct page *p = j->arg;
	struct crun *cr = p->cr;
	struct emit_state *em = &cr->em;
	struct fetch_run *r = cr->r;
	const char *body = p->x.body.p;
	const char *pre = fetch_colls[cr->c].line_pre;
	size_t pre_n = strlen(pre), i;
	size_t fresh = 0; /* records not seen before in this pass */
	int last;         /* the pass that saw a record's sourcedId before, 0: none */
	/* the counts as the page found them: a page that cannot be checked counts nothing */
	unsigned long long c0[] = { em->records, em->dups,        em->parents,
		                    em->noid,    em->pass_unique, em->pass_dups };

	p->halt = STOP_NONE;
	if (em->emit_failed) {
		/* the main thread is told by the job that failed, and stops; never a gap */
		j->rc = -1;
		return;
	}
	if (em->halt) {
		/* a page after the one that ended the pass: the main thread discards it */
		p->written = em->records;
		j->rc = 0;
		return;
	}
	if (p->idx == 0 && p->x.total > 0)
		/* room for the whole collection at once (seen.c believes a total up to a limit) */
		fetch_seen_reserve(em->seen, (unsigned long long)p->x.total < SIZE_MAX
		                                     ? (size_t)p->x.total
		                                     : SIZE_MAX);
	/* the hashes first, so that each record's slot in the set is fetched ahead of its turn */
	fetch_seen_page_begin(em->seen);
	if (p->nspans > em->hcap) {
		em->hcap = p->nspans;
		em->hashes = cl_xreallocarray(em->hashes, em->hcap, sizeof *em->hashes);
	}
	for (i = 0; i < p->nspans; i++) {
		const struct fetch_page_span *sp = &p->spans[i];

		em->hashes[i] = fetch_seen_hash(em->seen, body + sp->off + sp->id_off, sp->id_n);
	}
	/* the page's lines are gathered and written at once: parents apart, to the spool */
	cl_buf_reset(&em->line);
	cl_buf_reset(&em->pline);
	for (i = 0; i < p->nspans; i++) {
		const struct fetch_page_span *sp = &p->spans[i];
		struct cl_buf *to = &em->line;

		if (i + PREFETCH_AHEAD < p->nspans)
			fetch_seen_prefetch(em->seen, em->hashes[i + PREFETCH_AHEAD]);
		if (sp->id_n) {
			last = fetch_seen_put(em->seen, body + sp->off + sp->id_off, sp->id_n,
			                      em->hashes[i], cr->pass);
			if (last < 0)
				goto ids_failed;
			if (last == cr->pass) {
				em->dups++; /* seen twice in this pass: offset drift */
				em->pass_dups++;
				continue;
			}
			if (last > 0) {
				em->pass_unique++; /* written by the pass before */
				fresh++;
				continue;
			}
		}
		fresh++;
		if (em->records >= (unsigned long long)r->o->max_records) {
			/* one record more than the collection may have: the pass ends here */
			em->halt = STOP_RECORDS;
			break;
		}
		if (!sp->id_n)
			em->noid++;
		em->pass_unique++;
		em->records++;
		if (cr->c == FETCH_USERS && sp->parent) {
			em->parents++;
			to = &em->pline;
		}
		cl_buf_add(to, pre, pre_n);
		if (sp->compact) /* as the server sent it: nothing to minify */
			cl_buf_add(to, body + sp->off, sp->n);
		else /* minifying never changes a string's bytes: the sourcedId stays as found */
			fetch_page_minify(to, body + sp->off, sp->n);
		cl_buf_add(to, "}\n", 2);
	}
	if (fetch_seen_page_end(em->seen) < 0)
		goto ids_failed;
	if (em->pline.len > 0 &&
	    fwrite(em->pline.p, 1, em->pline.len, r->io.spool) != em->pline.len) {
		p->err = errno ? errno : EIO;
		em->emit_failed = 1;
		j->rc = EMIT_SPOOL_FAILED;
		return;
	}
	/* a page of records all seen before in this pass: the server is repeating itself */
	if (!em->halt && p->nspans > 0 && fresh == 0)
		em->halt = STOP_STALL;
	p->halt = em->halt;
	if (em->line.len > 0) /* an empty page: nothing to write */
		fwrite(em->line.p, 1, em->line.len, r->io.out);
	/* keep the gathering buffers for the next page unless they grew unusually large */
	if (em->line.cap > ((size_t)8 << 20))
		cl_buf_release(&em->line);
	if (em->pline.cap > ((size_t)8 << 20))
		cl_buf_release(&em->pline);
	p->written = em->records;
	j->rc = fetch_check_output(r);
	if (j->rc < 0)
		em->emit_failed = 1;
	return;
ids_failed:
	/* nothing of the page is written or counted */
	p->err = errno ? errno : EIO;
	em->records = c0[0];
	em->dups = c0[1];
	em->parents = c0[2];
	em->noid = c0[3];
	em->pass_unique = c0[4];
	em->pass_dups = c0[5];
	p->written = em->records;
	em->emit_failed = 1;
	j->rc = EMIT_IDS_FAILED;
}

/* Hands page p, whole and next in order, to the worker for writing. */
static void
emit(struct fetch_run *r, struct page *p)
{
	/* here: the header reads what the main thread learnt of the server */
	fetch_write_header(r);
	page_state(p, P_EMIT);
}

/* The worker wrote page p. Returns -1 when the run must stop. */
static int
wrote(struct fetch_run *r, struct crun *cr, struct page *p)
{
	fetch_progress_update(r->prog, fetch_colls[cr->c].name, p->written, cr->tmax, 0);
	if (p->job.rc == EMIT_SPOOL_FAILED) {
		/* the parents are lost, the output is not: it ends with a trailer that says so
		 * (fetch_flush_spool drops the spool once the worker is done with it) */
		r->spool_failed = 1;
		fetch_fail(r, "CL116", "cannot write the temporary file of parents: %s",
		           strerror(p->err));
		return -1;
	}
	if (p->job.rc == EMIT_IDS_FAILED) {
		fetch_fail(r, "CL116", "cannot read back the temporary file of sourcedIds: %s",
		           strerror(p->err));
		return -1;
	}
	if (p->job.rc < 0)
		return -1;
	if (p->halt && !cr->stop) {
		cr->stop = p->halt;
		cr->stop_offset = p->offset;
	}
	page_state(p, P_FREE);
	cr->emit_next++;
	return 0;
}

/* Stops every request of the collection still in flight. */
static void
abort_all(struct fetch_run *r, struct crun *cr)
{
	long i;

	fetch_worker_drain(&r->w); /* nothing of the worker's may be freed under it */
	for (i = 0; i < cr->n; i++) {
		if (cr->slots[i].state == P_RUN)
			curl_multi_remove_handle(r->multi, cr->slots[i].x.h);
		page_state(&cr->slots[i], P_FREE);
	}
}

static int
multi_failed(struct fetch_run *r, struct crun *cr)
{
	fetch_fail(r, "CL090", "%s: curl's multi interface failed", fetch_colls[cr->c].name);
	return -1;
}

/* One pass over the collection. Returns 0, or -1 when the run must stop. */
static int
pass(struct fetch_run *r, struct crun *cr)
{
	struct page *p;
	struct fetch_job *j;
	CURLMsg *m;
	double now, wake;
	long i;
	int running, left, timeout_ms, busy;

	cr->planned = 1;
	cr->req_next = cr->emit_next = cr->emit_sub = 0;
	cr->total = cr->tmin = cr->tmax = -1;
	cr->eff_limit = r->o->limit;
	cr->link_mode = 0;
	cr->em.pass_unique = cr->em.pass_dups = 0;
	/* the worker is idle between passes: its halt is the main thread's to reset */
	cr->em.halt = cr->stop = STOP_NONE;
	for (;;) {
		if (*r->interrupted) {
			fetch_fail(r, "CL115", "interrupted by a signal");
			return -1;
		}
		now = fetch_now_mono();
		/* retries that are due */
		for (i = 0; i < cr->n && now >= r->hold_until; i++) {
			p = &cr->slots[i];
			if (p->state == P_WAIT && now >= p->not_before) {
				if (start(r, cr, p) < 0)
					return -1;
			}
		}
		/* refill the window: never more than n pages between the next to write and the last
		 */
		while (cr->req_next < cr->planned && cr->req_next < r->o->max_pages &&
		       cr->req_next - cr->emit_next < cr->n && now >= r->hold_until) {
			p = &cr->slots[cr->req_next % cr->n];
			page_state(p, P_FREE);
			p->idx = cr->req_next;
			if (cr->link_mode && cr->next_url) {
				p->url = cr->next_url;
				cr->next_url = NULL;
				p->offset = cr->next_offset;
			} else {
				p->offset =
				        cr->link_mode ? cr->next_offset : p->idx * cr->eff_limit;
				p->url = page_url(r, cr, p->offset);
			}
			if (start(r, cr, p) < 0)
				return -1;
			cr->req_next++;
		}
		/* let curl start what was added and collect what finished */
		if (curl_multi_perform(r->multi, &running) != CURLM_OK)
			return multi_failed(r, cr);
		busy = 0;
		while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
			curl_multi_remove_handle(r->multi, m->easy_handle);
			if (finish(r, cr, p, m->data.result) < 0)
				return -1;
			busy = 1;
		}
		/* what the worker has finished: pages checked, pages written */
		while (!cr->stop && (j = fetch_worker_take(&r->w)) != NULL) {
			p = j->arg;
			if ((j->kind == JOB_PARSE ? parsed(r, cr, p) : wrote(r, cr, p)) < 0)
				return -1;
			busy = 1;
		}
		if (cr->stop) {
			/* a page brought nothing new, or one record too many: the rest is dropped
			 */
			abort_all(r, cr);
			return 0;
		}
		/* hand over for writing, in order, every page that is whole */
		while (cr->emit_sub < cr->req_next &&
		       (p = &cr->slots[cr->emit_sub % cr->n])->state == P_DONE) {
			emit(r, p);
			cr->emit_sub++;
			busy = 1;
		}
		if (cr->emit_next == cr->req_next &&
		    (cr->emit_next >= cr->planned || cr->req_next >= r->o->max_pages)) {
			if (cr->emit_next < cr->planned)
				cr->stop = STOP_PAGES; /* a page more than a pass may take */
			return 0;
		}
		if (busy)
			continue; /* the window has room again, or a retry is due: refill first */
		/* wait for the network, or for the next retry to be due */
		wake = now + 1.0;
		if (r->hold_until > now && r->hold_until < wake)
			wake = r->hold_until;
		for (i = 0; i < cr->n; i++)
			if (cr->slots[i].state == P_WAIT && cr->slots[i].not_before < wake)
				wake = cr->slots[i].not_before;
		timeout_ms = wake > now ? (int)ceil((wake - now) * 1000) : 0;
		if (curl_multi_poll(r->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
			return multi_failed(r, cr);
	}
}

/* Does the pass account for every record? 1 yes, 0 no; warns about a surplus when last. */
static int
accounted(struct fetch_run *r, struct crun *cr, int last)
{
	if (cr->tmax < 0) /* no total to check against: the pages ended short, or repeated */
		return cr->stop != STOP_STALL;
	if (cr->tmin != cr->tmax)
		return 0; /* the collection changed while it was read: records may have moved */
	if ((long long)cr->em.pass_unique == cr->tmax)
		return 1;
	if ((long long)cr->em.pass_unique > cr->tmax) {
		if (!last)
			return 0;
		fetch_warn(r, "CL114",
		           "%s: the server counts %lld records but sent %llu different ones",
		           fetch_colls[cr->c].name, cr->tmax, cr->em.pass_unique);
		return 1;
	}
	return 0;
}

static void
count(struct fetch_run *r, struct crun *cr)
{
	/* the stream kind of each collection's lines (users: parents apart) */
	static const enum cl_kind kind[FETCH_COLL_COUNT] = {
		CL_K_ORG,        CL_K_SESSION, CL_K_COURSE,      CL_K_CLASS,
		CL_K_ENROLLMENT, CL_K_USER,    CL_K_DEMOGRAPHIC,
	};
	jv c = jv_object();

	/* the trailer's "lines": what the next stage checks it read */
	cl_stage_wrote(&r->st, kind[cr->c], cr->em.records - cr->em.parents);
	if (!r->spool_failed)
		cl_stage_wrote(&r->st, CL_K_PARENT, cr->em.parents);

	c = jv_object_set(c, jv_string("records"), jv_number((double)cr->em.records));
	c = jv_object_set(c, jv_string("total"),
	                  cr->tmax >= 0 ? jv_number((double)cr->tmax) : jv_null());
	c = jv_object_set(c, jv_string("pages"), jv_number((double)cr->pages));
	c = jv_object_set(c, jv_string("retries"), jv_number((double)cr->retries));
	c = jv_object_set(c, jv_string("errors"), jv_number((double)cr->errors));
	c = jv_object_set(c, jv_string("duplicates"), jv_number((double)cr->em.dups));
	c = jv_object_set(c, jv_string("passes"), jv_number(cr->pass));
	if (cr->c == FETCH_USERS)
		c = jv_object_set(c, jv_string("parents"), jv_number((double)cr->em.parents));
	if (cr->em.noid)
		c = jv_object_set(c, jv_string("without_sourcedId"),
		                  jv_number((double)cr->em.noid));
	r->counts = jv_object_set(r->counts, jv_string(fetch_colls[cr->c].name), c);
}

/* CL_FETCH_STATS: what the duplicate check cost, one line on stderr. */
static void
stats(struct crun *cr)
{
	struct fetch_seen_stats st;

	fetch_seen_stats(cr->em.seen, &st);
	cl_diag(NULL,
	        "%s: duplicate check: %llu sourcedIds, peak %zu bytes (%.1f a sourcedId); hits "
	        "confirmed by the window %llu, ahead %llu, the spool %llu; collisions %llu; "
	        "exact map: %s",
	        fetch_colls[cr->c].name, st.ids, st.peak,
	        st.ids ? (double)st.peak / (double)st.ids : 0.0, st.window, st.ahead, st.spool,
	        st.collisions, st.exact ? st.exact : "no");
}

/* The collection reached --max-pages or --max-records: it ends here, incomplete. */
static void
limit_reached(struct fetch_run *r, struct crun *cr)
{
	struct cl_buf tot = CL_BUF_INIT;

	if (cr->tmax >= 0)
		cl_buf_addf(&tot, "the server counts %lld", cr->tmax);
	else
		cl_buf_adds(&tot, "the server sent no total");
	cr->errors++;
	if (cr->stop == STOP_PAGES)
		fetch_fail(r, "CL118",
		           "%s: more than --max-pages %lld pages: stopped after %llu records (%s)",
		           fetch_colls[cr->c].name, r->o->max_pages, cr->em.records, tot.p);
	else
		fetch_fail(r, "CL119",
		           "%s: more than --max-records %lld records: stopped after %llu (%s)",
		           fetch_colls[cr->c].name, r->o->max_records, cr->em.records, tot.p);
	cl_buf_release(&tot);
}

/* The second pass did not account for every record either. */
static void
incomplete(struct fetch_run *r, struct crun *cr)
{
	const char *name = fetch_colls[cr->c].name;
	struct cl_buf rep = CL_BUF_INIT;

	cr->errors++;
	if (cr->em.pass_dups)
		cl_buf_addf(&rep, " and %llu repeats of them", cr->em.pass_dups);
	if (cr->stop == STOP_STALL && cr->tmax < 0)
		fetch_fail(r, "CL117",
		           "%s: the page at offset %lld brought only records already sent, even "
		           "after reading the collection again (does the server ignore offset?): "
		           "stopped after %llu records; the server sent no total",
		           name, cr->stop_offset, cr->em.pass_unique);
	else if (cr->stop == STOP_STALL)
		fetch_fail(r, "CL117",
		           "%s: the page at offset %lld brought only records already sent, even "
		           "after reading the collection again (does the server ignore offset?): "
		           "stopped after %llu different records of the %lld it counts",
		           name, cr->stop_offset, cr->em.pass_unique, cr->tmax);
	else if ((long long)cr->em.pass_unique < cr->tmax)
		fetch_fail(r, "CL105",
		           "%s: the server counts %lld records but sent %llu different ones%s, "
		           "even after reading the collection again: %lld missing%s",
		           name, cr->tmax, cr->em.pass_unique, rep.p,
		           cr->tmax - (long long)cr->em.pass_unique,
		           cr->tmin != cr->tmax ? " (the server's count kept changing)" : "");
	else
		fetch_fail(r, "CL105",
		           "%s: the server's count kept changing (from %lld to %lld) and %llu "
		           "different records arrived%s, even after reading the collection "
		           "again: some may be missing",
		           name, cr->tmin, cr->tmax, cr->em.pass_unique, rep.p);
	cl_buf_release(&rep);
}

int
fetch_collection(struct fetch_run *r, enum fetch_coll c)
{
	struct crun cr;
	long i;
	int rc = 0;

	memset(&cr, 0, sizeof cr);
	cr.r = r;
	cr.c = c;
	cr.n = r->o->parallel;
	cr.slots = cl_xcalloc((size_t)cr.n, sizeof *cr.slots);
	for (i = 0; i < cr.n; i++) {
		fetch_xfer_init(&cr.slots[i].x);
		cr.slots[i].cr = &cr;
	}
	cr.em.seen = fetch_seen_new(cr.n);
	fetch_page_parser_init(&cr.em.pp, fetch_colls[c].name);
	cl_buf_init(&cr.query);
	cl_buf_init(&cr.em.line);
	cl_buf_init(&cr.em.pline);
	if (r->o->since) {
		struct cl_buf f = CL_BUF_INIT;

		cl_buf_addf(&f, "dateLastModified>'%s'", r->o->since);
		cl_buf_adds(&cr.query, "&filter=");
		fetch_pct_encode(&cr.query, f.p, f.len);
		cl_buf_release(&f);
	}
	if (r->o->fields) {
		struct cl_buf f = CL_BUF_INIT;

		/* dropping duplicates needs the sourcedId, holding parents back the role */
		cl_buf_adds(&f, r->o->fields);
		if (!strstr(r->o->fields, "sourcedId"))
			cl_buf_adds(&f, ",sourcedId");
		if (c == FETCH_USERS && r->o->version != FETCH_OR12 &&
		    !strstr(r->o->fields, "role"))
			cl_buf_adds(&f, ",role");
		/* 1.2: the primary role of the primaryOrg (lib/role.h) */
		if (c == FETCH_USERS && r->o->version == FETCH_OR12 &&
		    !strstr(r->o->fields, "roles"))
			cl_buf_adds(&f, ",roles");
		if (c == FETCH_USERS && r->o->version == FETCH_OR12 &&
		    !strstr(r->o->fields, "primaryOrg"))
			cl_buf_adds(&f, ",primaryOrg");
		cl_buf_adds(&cr.query, "&fields=");
		fetch_pct_encode(&cr.query, f.p, f.len);
		cl_buf_release(&f);
	}
	fetch_progress_update(r->prog, fetch_colls[c].name, 0, -1, 1);
	for (cr.pass = 1; cr.pass <= 2; cr.pass++) {
		if (pass(r, &cr) < 0) {
			abort_all(r, &cr);
			rc = -1;
			break;
		}
		if (cr.stop == STOP_PAGES || cr.stop == STOP_RECORDS) {
			limit_reached(r, &cr);
			break;
		}
		if (accounted(r, &cr, cr.pass == 2))
			break;
		if (cr.pass == 2)
			incomplete(r, &cr);
	}
	if (cr.pass > 2)
		cr.pass = 2;
	count(r, &cr);
	fetch_progress_update(r->prog, fetch_colls[c].name, cr.em.records, cr.tmax, 1);
	for (i = 0; i < cr.n; i++) {
		page_state(&cr.slots[i], P_FREE);
		free(cr.slots[i].spans);
		fetch_xfer_release(&cr.slots[i].x);
	}
	free(cr.slots);
	free(cr.next_url);
	if (r->o->stats)
		stats(&cr);
	fetch_seen_free(cr.em.seen);
	free(cr.em.hashes);
	fetch_page_parser_release(&cr.em.pp);
	cl_buf_release(&cr.query);
	cl_buf_release(&cr.em.line);
	cl_buf_release(&cr.em.pline);
	return rc;
}

int
fetch_flush_spool(struct fetch_run *r)
{
	char buf[1 << 16];
	size_t n;
	int rc = 0;

	if (!r->io.spool)
		return 0;
	if (r->spool_failed) {
		fclose(r->io.spool);
		r->io.spool = NULL;
		return 0;
	}
	if (fflush(r->io.spool) != 0 || fseek(r->io.spool, 0, SEEK_SET) != 0) {
		rc = -1;
		fetch_fail(r, "CL116", "cannot read back the temporary file of parents: %s",
		           strerror(errno));
	} else if (!r->io.gone && !r->io.write_error) {
		while ((n = fread(buf, 1, sizeof buf, r->io.spool)) > 0) {
			fwrite(buf, 1, n, r->io.out);
			if (fetch_check_output(r) < 0)
				break;
		}
		if (ferror(r->io.spool)) {
			rc = -1;
			fetch_fail(r, "CL116", "cannot read back the temporary file of parents:");
		}
	}
	fclose(r->io.spool);
	r->io.spool = NULL;
	return rc;
}
