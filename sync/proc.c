/*
 * proc.c: the children of a night: the stages, the tees between them, the
 * applier; their process group, their stderr, the signals, the progress.
 *
 * Modelled on git's run-command.c: every child is forked, gets its stdin,
 * stdout and stderr, closes every other descriptor, and execs. Ours add two
 * things git does not need: a process group of the night's own (so that a
 * signal reaches every stage and none reaches the terminal's group behind
 * our back) and PR_SET_PDEATHSIG (so that a supervisor killed with -9 takes
 * its stages with it: a stage must never commit a change set nobody reads).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "sync.h"

static int sigfd = -1;
static sigset_t old_mask;

double
sync_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * INT, TERM, HUP and CHLD are blocked and read from a signalfd in the one
 * poll loop, so that a signal is handled between two reads, never inside
 * one. Children get the mask and dispositions back before they exec.
 */
int
sync_signals_init(void)
{
	sigset_t m;

	sigemptyset(&m);
	sigaddset(&m, SIGINT);
	sigaddset(&m, SIGTERM);
	sigaddset(&m, SIGHUP);
	sigaddset(&m, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &m, &old_mask) != 0)
		return -1;
	signal(SIGPIPE, SIG_IGN); /* a reader that went away is an EPIPE we report */
	sigfd = signalfd(-1, &m, SFD_CLOEXEC | SFD_NONBLOCK);
	return sigfd < 0 ? -1 : 0;
}

void
codes_add(struct codes *c, const char *code)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->code[i], code) == 0)
			return;
	if (c->n < MAX_CODES)
		memcpy(c->code[c->n++], code, 6);
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the log is best effort: the Sync Details say what matters */
		p += w;
		n -= (size_t)w;
	}
}

/* Takes the live display off the terminal, so that a line can be printed. */
static void
undraw(struct run *r)
{
	char s[32];

	if (r->drawn > 0) {
		snprintf(s, sizeof s, "\033[%dA\033[J", r->drawn);
		write_all(STDERR_FILENO, s, strlen(s));
		r->drawn = 0;
	}
}

/* One line of the run's log: a UTC time, then the line as the child wrote it. */
void
sync_log_line(struct run *r, const char *line, size_t n)
{
	char ts[32];
	struct cl_buf b = CL_BUF_INIT;
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	cl_buf_adds(&b, ts);
	cl_buf_add(&b, line, n);
	cl_buf_addc(&b, '\n');
	if (r->logfd >= 0)
		write_all(r->logfd, b.p, b.len);
	if (r->progress) { /* on a terminal the diagnostics show as they come */
		undraw(r);
		write_all(STDERR_FILENO, line, n);
		write_all(STDERR_FILENO, "\n", 1);
	}
	cl_buf_release(&b);
}

void
sync_log(struct run *r, const char *fmt, ...)
{
	struct cl_buf b = CL_BUF_INIT;
	va_list ap;

	cl_buf_adds(&b, "cl-sync: ");
	va_start(ap, fmt);
	cl_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (r->logfd >= 0) { /* cl-sync's own lines go to the log only */
		int p = r->progress;

		r->progress = 0;
		sync_log_line(r, b.p, b.len);
		r->progress = p;
	}
	cl_buf_release(&b);
}

/* "cl-fetch: CL104: users: ..." -> CL104 */
static void
take_code(struct child *c, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n < 48 ? n : 48);
	const char *p;

	if (!colon)
		return;
	p = colon + 1;
	if ((size_t)(p - s) + 7 > n || p[0] != ' ' || p[1] != 'C' || p[2] != 'L')
		return;
	if (p[3] < '0' || p[3] > '9' || p[4] < '0' || p[4] > '9' || p[5] < '0' || p[5] > '9' ||
	    (p[6] != ':' && p[6] != ' '))
		return;
	{
		char code[6];

		memcpy(code, p + 1, 5);
		code[5] = '\0';
		codes_add(&c->codes, code);
	}
}

/*
 * A child's stderr, as it arrives: lines are diagnostics (into the log,
 * with their codes taken), and a segment "\r...\033[K" without a newline
 * is cl-fetch's progress meter (kept as the child's progress, never
 * logged). A line that carries a meter before it keeps what follows the
 * last \r.
 */
static void
take_stderr(struct run *r, struct child *c, int eof)
{
	struct cl_buf *b = &c->errbuf;
	size_t start = 0;

	if (b->len == 0)
		return;
	for (;;) {
		char *p = b->p + start, *nl, *esc;
		size_t n = b->len - start;

		nl = memchr(p, '\n', n);
		esc = memmem(p, nl ? (size_t)(nl - p) : n, "\033[K", 3);
		if (esc && (!nl || esc < nl)) {
			/* a meter (or the meter cleared): the text after the last \r before it */
			char *q = esc;
			size_t k;

			while (q > p && q[-1] != '\r')
				q--;
			k = (size_t)(esc - q);
			if (k >= sizeof c->progress)
				k = sizeof c->progress - 1;
			memcpy(c->progress, q, k);
			c->progress[k] = '\0';
			start += (size_t)(esc + 3 - p);
			continue;
		}
		if (!nl && !(eof && n > 0) && n < 65536)
			break;
		{
			size_t len = nl ? (size_t)(nl - p) : n;
			char *q = p + len;

			while (q > p && q[-1] != '\r')
				q--;
			len -= (size_t)(q - p);
			if (len > 0) {
				take_code(c, q, len);
				sync_log_line(r, q, len);
			}
			start += (size_t)(nl ? nl - p + 1 : (ptrdiff_t)n);
		}
		if (start >= b->len)
			break;
	}
	if (start > 0) {
		memmove(b->p, b->p + start, b->len - start);
		b->len -= start;
	}
}

/* In a child: the signals as they were, death with the parent, the night's group. */
static void
child_setup(struct run *r, pid_t parent)
{
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* the supervisor died before prctl */
		_exit(128 + SIGKILL);
	setpgid(0, r->pgid);
}

static void
child_fds(int in, int out, int err, int extra)
{
	if (in != 0)
		dup2(in, 0);
	if (out != 1)
		dup2(out, 1);
	dup2(err, 2);
	if (extra >= 0) {
		dup2(extra, 3);
		close_range(4, ~0U, 0);
	} else {
		close_range(3, ~0U, 0);
	}
}

static void
msg(int fd, const char *fmt, ...)
{
	char s[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s, sizeof s, fmt, ap);
	va_end(ap);
	if (n > 0)
		write_all(fd, s, (size_t)n < sizeof s ? (size_t)n : sizeof s - 1);
}

/*
 * A tee of ours: stdin to the file (fd 3) and to stdout, counting lines.
 * The file failing (a full disk) is said once, and the stream goes on: a
 * night whose copies are short is still a whole sync (the Sync Details say
 * CL511). The reader going away ends it (exit 3): the stage before it then
 * stops on its own SIGPIPE, as it would in a shell pipeline.
 */
static _Noreturn void
tee_main(const char *file, struct tee_count *cnt)
{
	static char buf[1 << 17];
	int file_ok = 1;

	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		const char *p;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			msg(2, "cl-sync: CL511: cannot read the stream for %s: %s\n", file,
			    strerror(errno));
			_exit(2);
		}
		if (n == 0)
			break;
		for (p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))); p++)
			cnt->lines++;
		cnt->bytes += (uint64_t)n;
		if (file_ok) {
			const char *q = buf;
			size_t left = (size_t)n;

			while (left > 0) {
				ssize_t w = write(3, q, left);

				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					msg(2, "cl-sync: CL511: cannot write %s: %s\n", file,
					    w < 0 ? strerror(errno) : "short write");
					file_ok = 0;
					cnt->failed = 1;
					break;
				}
				q += w;
				left -= (size_t)w;
			}
		}
		{
			const char *q = buf;
			size_t left = (size_t)n;

			while (left > 0) {
				ssize_t w = write(1, q, left);

				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0 && errno == EPIPE)
					_exit(3);
				if (w <= 0) {
					msg(2,
					    "cl-sync: CL511: cannot pass the stream on after %s: "
					    "%s\n",
					    file, strerror(errno));
					_exit(2);
				}
				q += w;
				left -= (size_t)w;
			}
		}
	}
	if (file_ok && close(3) != 0) {
		msg(2, "cl-sync: CL511: cannot write %s: %s\n", file, strerror(errno));
		cnt->failed = 1;
		file_ok = 0;
	}
	_exit(file_ok ? 0 : 1);
}

/*
 * Starts c with stdin in and stdout out (its stderr a pipe to us). A tee
 * (c->argv NULL) copies into file and counts into cnt. The first child of
 * the night makes its process group; the others join it.
 */
static int
child_start(struct run *r, struct child *c, int in, int out, int file, struct tee_count *cnt)
{
	int e[2];
	pid_t parent = getpid(), pid;

	if (pipe2(e, O_CLOEXEC) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(e[0]);
		close(e[1]);
		return -1;
	}
	if (pid == 0) {
		child_setup(r, parent);
		child_fds(in, out, e[1], c->argv ? -1 : file);
		if (!c->argv)
			tee_main(c->name + 4, cnt);
		execvp(c->argv[0], c->argv);
		msg(2, "cl-sync: CL513: cannot run %s: %s\n", c->argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (r->pgid == 0)
		r->pgid = pid;
	setpgid(pid, r->pgid); /* as in the child: whichever runs first */
	close(e[1]);
	fcntl(e[0], F_SETFL, O_NONBLOCK);
	c->pid = pid;
	c->running = 1;
	c->errfd = e[0];
	return 0;
}

static const char *const copy_name[3] = { "fetch.ndjson", "filter.ndjson", "match.ndjson" };
static const char *const tee_name[3] = { "tee fetch.ndjson", "tee filter.ndjson",
	                                 "tee match.ndjson" };

static int
open_out(struct run *r, const char *name)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s", r->dir, name);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/*
 * cl-fetch | tee | cl-filter | tee | cl-match | tee | cl-load > changes:
 * seven children, one process group. Returns 0, or -1 with the cause
 * logged (what started keeps running and is waited for).
 */
int
sync_pipeline(struct run *r)
{
	static const char *const names[4] = { "cl-fetch", "cl-filter", "cl-match", "cl-load" };
	int in, i, rc = 0;

	r->count = mmap(NULL, 3 * sizeof *r->count, PROT_READ | PROT_WRITE,
	                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->count == MAP_FAILED) {
		r->count = NULL;
		codes_add(&r->own, "CL090");
		sync_log(r, "CL090: cannot share the progress counters: %s", strerror(errno));
		return -1;
	}
	memset((void *)r->count, 0, 3 * sizeof *r->count);
	r->pgid = 0; /* a group of the pipeline's own, not the last command's (gone) */
	in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < 4 && in >= 0; i++) {
		struct child *s = &r->stage[i];
		int p[2] = { -1, -1 }, out;

		s->argv = r->stage_argv[i];
		/* the program the stage runs (cl-bundle is a fetch stage too), by its name */
		s->name = strrchr(s->argv[0], '/') ? strrchr(s->argv[0], '/') + 1 : s->argv[0];
		if (!*s->name)
			s->name = names[i];
		if (i < 3) {
			if (pipe2(p, O_CLOEXEC) != 0)
				break;
			out = p[1];
		} else {
			out = open_out(r, "changes.ndjson");
			if (out < 0) {
				codes_add(&r->own, "CL511");
				sync_log(r, "CL511: cannot write %s/changes.ndjson: %s", r->dir,
				         strerror(errno));
				break;
			}
		}
		if (child_start(r, s, in, out, -1, NULL) != 0) {
			close(out);
			if (p[0] >= 0)
				close(p[0]);
			break;
		}
		close(in);
		close(out);
		in = -1;
		if (i < 3) {
			struct child *t = &r->tee[i];
			int q[2], f;

			t->name = tee_name[i];
			f = open_out(r, copy_name[i]);
			if (f < 0) {
				codes_add(&r->own, "CL511");
				sync_log(r, "CL511: cannot write %s/%s: %s", r->dir, copy_name[i],
				         strerror(errno));
				close(p[0]);
				break;
			}
			if (pipe2(q, O_CLOEXEC) != 0 ||
			    child_start(r, t, p[0], q[1], f, &r->count[i]) != 0) {
				close(f);
				close(p[0]);
				break;
			}
			close(f);
			close(p[0]);
			close(q[1]);
			in = q[0];
		}
	}
	if (i < 4) {
		if (!r->own.n) {
			codes_add(&r->own, "CL514");
			sync_log(r, "CL514: cannot start the pipeline: %s", strerror(errno));
		}
		if (in >= 0)
			close(in);
		rc = -1;
	}
	return rc;
}

/* One command (the applier, cl-load --commit) in a process group of its own. */
int
sync_command(struct run *r, struct child *c, int in, int out)
{
	r->pgid = 0;
	return child_start(r, c, in, out, -1, NULL);
}

int
child_status(const struct child *c)
{
	if (!c->pid)
		return -1;
	if (WIFEXITED(c->wstatus))
		return WEXITSTATUS(c->wstatus);
	if (WIFSIGNALED(c->wstatus))
		return 128 + WTERMSIG(c->wstatus);
	return -1;
}

static struct child *
by_pid(struct run *r, pid_t pid)
{
	int i;

	for (i = 0; i < NSTAGES; i++)
		if (r->stage[i].pid == pid)
			return &r->stage[i];
	for (i = 0; i < 3; i++)
		if (r->tee[i].pid == pid)
			return &r->tee[i];
	return NULL;
}

/* The first INT, TERM or HUP is passed on to the night's group; another kills it. */
void
sync_forward(struct run *r, int sig)
{
	if (!r->interrupted)
		r->interrupted = sig;
	else
		sig = SIGKILL;
	if (r->pgid > 0)
		kill(-r->pgid, sig);
}

static void
fmt_count(char *s, size_t n, uint64_t v)
{
	snprintf(s, n, "%llu", (unsigned long long)v);
}

/* Each stage's line of the live display, the progress file and the log's progress lines. */
static void
stage_line(struct run *r, int i, char *s, size_t n)
{
	const struct child *c = &r->stage[i];
	char lines[32] = "0";
	double t = sync_now() - r->t0;

	if (i < 3 && r->count)
		fmt_count(lines, sizeof lines, r->count[i].lines);
	else if (i == 3 && r->count)
		fmt_count(lines, sizeof lines, r->count[2].lines);
	if (!c->pid) {
		snprintf(s, n, "%-10s waiting", c->name ? c->name : "");
		return;
	}
	if (!c->running) {
		int st = child_status(c);

		if (i == 3)
			snprintf(s, n, "%-10s done (exit %d): read %s lines", c->name, st, lines);
		else
			snprintf(s, n, "%-10s done (exit %d): %s lines", c->name, st, lines);
		return;
	}
	if (c->progress[0]) {
		const char *p = c->progress;

		if (strncmp(p, "cl-fetch: ", 10) == 0)
			p += 10;
		snprintf(s, n, "%-10s %s", c->name, p);
	} else if (i == 3) {
		snprintf(s, n, "%-10s read %s lines", c->name, lines);
	} else {
		double rate = t > 0.5 && r->count ? (double)r->count[i].lines / t : 0;

		snprintf(s, n, "%-10s %s lines, %.0f/s", c->name, lines, rate);
	}
}

static void
progress_file(struct run *r)
{
	char path[4096], tmp[4096], s[256];
	struct cl_buf b = CL_BUF_INIT;
	int i, fd;

	for (i = 0; i < 4; i++) {
		stage_line(r, i, s, sizeof s);
		cl_buf_adds(&b, s);
		cl_buf_addc(&b, '\n');
	}
	snprintf(path, sizeof path, "%s/progress", r->dir);
	snprintf(tmp, sizeof tmp, "%s/.progress.tmp", r->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		write_all(fd, b.p, b.len);
		if (close(fd) == 0)
			rename(tmp, path);
		else
			unlink(tmp);
	}
	cl_buf_release(&b);
}

void
sync_draw(struct run *r, int final)
{
	double now = sync_now();
	char s[256];
	int i;

	if (!r->stage[0].pid)
		return;
	if (final || now - r->last_progress_file >= 2) {
		r->last_progress_file = now;
		progress_file(r);
	}
	if (r->last_log_progress == 0)
		r->last_log_progress = now; /* the first line after log_every, not at the start */
	if (!final && now - r->last_log_progress >= r->log_every) {
		struct cl_buf b = CL_BUF_INIT;

		r->last_log_progress = now;
		for (i = 0; i < 4; i++) {
			stage_line(r, i, s, sizeof s);
			if (i)
				cl_buf_adds(&b, "; ");
			cl_buf_adds(&b, s);
		}
		sync_log(r, "progress: %s", b.p);
		cl_buf_release(&b);
	}
	if (!r->progress || (!final && now - r->last_draw < 0.25))
		return;
	r->last_draw = now;
	undraw(r);
	if (final)
		return;
	for (i = 0; i < 4; i++) {
		struct cl_buf b = CL_BUF_INIT;

		stage_line(r, i, s, sizeof s);
		cl_buf_addf(&b, "  %.100s\033[K\n", s);
		write_all(STDERR_FILENO, b.p, b.len);
		cl_buf_release(&b);
	}
	r->drawn = 4;
}

static void
reap(struct run *r)
{
	for (;;) {
		int ws;
		pid_t pid = waitpid(-1, &ws, WNOHANG);
		struct child *c;

		if (pid <= 0)
			return;
		c = by_pid(r, pid);
		if (c) {
			c->wstatus = ws;
			c->running = 0;
			c->ended = sync_now();
		}
	}
}

static int
busy(const struct run *r)
{
	int i;

	for (i = 0; i < NSTAGES; i++)
		if (r->stage[i].running || r->stage[i].errfd >= 0)
			return 1;
	for (i = 0; i < 3; i++)
		if (r->tee[i].running || r->tee[i].errfd >= 0)
			return 1;
	return 0;
}

/*
 * The loop: until every child has ended and closed its stderr, take their
 * stderr, their exits and our signals, and keep the progress current.
 */
void
sync_wait(struct run *r)
{
	while (busy(r)) {
		struct pollfd pf[NSTAGES + 3 + 1];
		struct child *who[NSTAGES + 3 + 1];
		int n = 0, i;

		pf[n].fd = sigfd;
		pf[n].events = POLLIN;
		who[n++] = NULL;
		for (i = 0; i < NSTAGES + 3; i++) {
			struct child *c = i < NSTAGES ? &r->stage[i] : &r->tee[i - NSTAGES];

			if (c->errfd >= 0) {
				pf[n].fd = c->errfd;
				pf[n].events = POLLIN;
				who[n++] = c;
			}
		}
		if (poll(pf, (nfds_t)n, 250) < 0 && errno != EINTR)
			break;
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
				int sig = (int)si.ssi_signo;

				if (sig == SIGCHLD)
					continue;
				sync_log(r, "SIG%s received: stopping every stage%s",
				         sigabbrev_np(sig),
				         r->interrupted ? " (killed: a second signal)" : "");
				sync_forward(r, sig);
			}
		}
		for (i = 1; i < n; i++) {
			struct child *c = who[i];
			char buf[8192];
			ssize_t k;

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			while ((k = read(c->errfd, buf, sizeof buf)) > 0) {
				cl_buf_add(&c->errbuf, buf, (size_t)k);
				take_stderr(r, c, 0);
			}
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
				take_stderr(r, c, 1);
				close(c->errfd);
				c->errfd = -1;
			}
		}
		reap(r);
		sync_draw(r, 0);
	}
	reap(r);
	sync_draw(r, 1);
}
