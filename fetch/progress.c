/*
 * progress.c: one updating line on stderr: collection, records/total, rate,
 * ETA; and the run's diagnostics, which clear it first.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fetch.h"

struct fetch_progress {
	int on;
	int shown;
	double start, last;
	char coll[32];
};

struct fetch_progress *
fetch_progress_new(int on)
{
	struct fetch_progress *p = cl_xcalloc(1, sizeof *p);

	p->on = on;
	return p;
}

void
fetch_progress_free(struct fetch_progress *p)
{
	if (!p)
		return;
	fetch_progress_clear(p);
	free(p);
}

void
fetch_progress_update(struct fetch_progress *p, const char *coll, unsigned long long n,
                      long long total, int force)
{
	double now, rate;
	char eta[32] = "";

	if (!p || !p->on)
		return;
	now = fetch_now_mono();
	if (strcmp(p->coll, coll) != 0) {
		snprintf(p->coll, sizeof p->coll, "%s", coll);
		p->start = now;
		force = 1;
	}
	if (!force && now - p->last < 0.25)
		return;
	p->last = now;
	rate = now > p->start + 0.001 ? (double)n / (now - p->start) : 0;
	if (total >= 0 && rate > 0 && (long long)n < total) {
		long s = (long)(((double)total - (double)n) / rate + 0.5);

		snprintf(eta, sizeof eta, ", ETA %ld:%02ld", s / 60, s % 60);
	}
	if (total >= 0)
		fprintf(stderr, "\rcl-fetch: %s %llu/%lld, %.0f/s%s\033[K", coll, n, total, rate,
		        eta);
	else
		fprintf(stderr, "\rcl-fetch: %s %llu, %.0f/s\033[K", coll, n, rate);
	fflush(stderr);
	p->shown = 1;
}

void
fetch_progress_clear(struct fetch_progress *p)
{
	int e = errno;

	if (p && p->shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->shown = 0;
	}
	errno = e;
}

void
fetch_fail(struct fetch_run *r, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cl_stage_vfail(&r->st, code, fmt, ap);
	va_end(ap);
}

void
fetch_warn(struct fetch_run *r, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cl_stage_vwarn(&r->st, code, fmt, ap);
	va_end(ap);
}
