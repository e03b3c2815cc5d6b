/* out.c: outputs that never clobber what they point at (see out.h). */
#define _GNU_SOURCE /* O_TMPFILE, mkostemp */
#include "out.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { K_STDOUT = 1, K_REPLACE, K_INPLACE };

#define MAX_INPUTS 16
#define TMP_MARK ".cl-tmp."

static struct {
	dev_t dev;
	ino_t ino;
	int fd; /* the descriptor it was noted by, or -1 */
} inputs[MAX_INPUTS];
static size_t ninputs;

static void
note(const struct stat *sb, int fd)
{
	if (S_ISREG(sb->st_mode) && ninputs < MAX_INPUTS) {
		inputs[ninputs].dev = sb->st_dev;
		inputs[ninputs].ino = sb->st_ino;
		inputs[ninputs].fd = fd;
		ninputs++;
	}
}

void
cl_out_note_input_fd(int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) == 0)
		note(&sb, fd);
}

void
cl_out_note_input_path(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) == 0)
		note(&sb, -1);
}

void
cl_out_forget_inputs(void)
{
	ninputs = 0;
}

static int
is_input(const struct stat *sb)
{
	size_t i;

	if (!S_ISREG(sb->st_mode))
		return 0;
	for (i = 0; i < ninputs; i++)
		if (inputs[i].dev == sb->st_dev && inputs[i].ino == sb->st_ino)
			return 1;
	return 0;
}

/* The folder of path into b ("." when it has none). */
static void
folder(struct cl_buf *b, const char *path)
{
	const char *slash = strrchr(path, '/');

	cl_buf_reset(b);
	if (slash)
		cl_buf_add(b, path, (size_t)(slash - path) + (slash == path));
	else
		cl_buf_addc(b, '.');
}

/*
 * Removes the named temporary files an earlier process writing path left
 * behind when it was killed: "BASE.cl-tmp.PID.XXXXXX" whose PID is gone.
 */
static void
sweep(const char *path, const char *dir)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	size_t bn = strlen(base), mn = strlen(TMP_MARK);
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid;

		if (strncmp(e->d_name, base, bn) != 0 || strncmp(e->d_name + bn, TMP_MARK, mn) != 0)
			continue;
		pid = strtol(e->d_name + bn + mn, &end, 10);
		if (pid <= 0 || *end != '.' || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/* Adds strerror(e) to why after ": ". */
static void
why_errno(struct cl_buf *why, int e)
{
	cl_buf_addf(why, ": %s", strerror(e));
}

/* The temporary file beside path: anonymous where it can be. Returns its descriptor, or -1. */
static int
open_tmp(struct cl_out *o, struct cl_buf *why)
{
	int fd, e;

	folder(&o->scratch, o->path);
	sweep(o->path, o->scratch.p);
	fd = open(o->scratch.p, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	e = errno;
	if (e != EOPNOTSUPP && e != EISDIR && e != EINVAL) {
		cl_buf_addf(why, "cannot create '%s'", o->path);
		why_errno(why, e);
		return -1;
	}
	cl_buf_reset(&o->scratch);
	cl_buf_addf(&o->scratch, "%s" TMP_MARK "%ld.XXXXXX", o->path, (long)getpid());
	fd = mkostemp(o->scratch.p, O_CLOEXEC); /* mode 0600 */
	if (fd < 0) {
		cl_buf_addf(why, "cannot create '%s'", o->scratch.p);
		why_errno(why, errno);
		return -1;
	}
	o->tmp = cl_xstrdup(o->scratch.p);
	return fd;
}

static void
release(struct cl_out *o)
{
	free(o->tmp);
	cl_buf_release(&o->scratch);
	memset(o, 0, sizeof *o);
}

int
cl_out_check_stdout(struct cl_buf *why)
{
	struct stat sb;

	size_t i;

	cl_buf_reset(why);
	/* stdout was closed, and an input was opened as descriptor 1: writing fails (EBADF) */
	for (i = 0; i < ninputs; i++)
		if (inputs[i].fd == STDOUT_FILENO)
			return 0;
	if (fstat(STDOUT_FILENO, &sb) == 0 && is_input(&sb)) {
		cl_buf_adds(why, "the standard output is also an input: the shell has emptied it; "
		                 "write the output to another file");
		return CL_OUT_SAME;
	}
	return 0;
}

int
cl_out_open(struct cl_out *o, const char *path, struct cl_buf *why)
{
	struct stat sb;
	int fd = -1;

	memset(o, 0, sizeof *o);
	cl_buf_init(&o->scratch);
	o->path = path;
	cl_buf_reset(why);
	if (strcmp(path, "-") == 0) {
		if (cl_out_check_stdout(why) == CL_OUT_SAME) {
			release(o);
			return CL_OUT_SAME;
		}
		o->kind = K_STDOUT;
		o->f = stdout;
		return 0;
	}
	if (!*path) {
		cl_buf_adds(why, "an empty file name");
		release(o);
		return CL_OUT_FAIL;
	}
	if (lstat(path, &sb) == 0) {
		if (S_ISLNK(sb.st_mode)) {
			cl_buf_addf(why,
			            "'%s' is a symbolic link: not followed (the file holds "
			            "personal data); name the file itself",
			            path);
		} else if (S_ISDIR(sb.st_mode)) {
			cl_buf_addf(why, "'%s' is a folder", path);
		} else if (is_input(&sb)) {
			cl_buf_addf(why, "'%s' is also an input: write the output to another file",
			            path);
			release(o);
			return CL_OUT_SAME;
		} else if (S_ISREG(sb.st_mode)) {
			o->kind = K_REPLACE;
			o->have_mode = 1;
			o->mode = sb.st_mode & 07777;
		} else {
			o->kind = K_INPLACE; /* a FIFO, a device, a terminal */
		}
	} else if (errno == ENOENT) {
		o->kind = K_REPLACE;
	} else {
		cl_buf_addf(why, "cannot use '%s'", path);
		why_errno(why, errno);
	}
	if (o->kind == K_REPLACE) {
		fd = open_tmp(o, why);
	} else if (o->kind == K_INPLACE) {
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		if (fd < 0) {
			cl_buf_addf(why, "cannot open '%s'", path);
			why_errno(why, errno);
		}
	}
	if (fd >= 0 && !(o->f = fdopen(fd, "w"))) {
		cl_buf_addf(why, "cannot open '%s'", path);
		why_errno(why, errno);
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		if (o->tmp)
			unlink(o->tmp);
		release(o);
		return CL_OUT_FAIL;
	}
	return 0;
}

/* Gives the anonymous temporary file a name beside the target. Returns 0, or -1 (errno). */
static int
name_tmp(struct cl_out *o)
{
	struct cl_buf proc = CL_BUF_INIT;
	int i, rc = -1;

	cl_buf_addf(&proc, "/proc/self/fd/%d", fileno(o->f));
	for (i = 0; i < 100 && rc < 0; i++) {
		cl_buf_reset(&o->scratch);
		cl_buf_addf(&o->scratch, "%s" TMP_MARK "%ld.%d", o->path, (long)getpid(), i);
		if (linkat(AT_FDCWD, proc.p, AT_FDCWD, o->scratch.p, AT_SYMLINK_FOLLOW) == 0) {
			o->tmp = cl_xstrdup(o->scratch.p);
			rc = 0;
		} else if (errno != EEXIST) {
			break;
		}
	}
	cl_buf_release(&proc);
	return rc;
}

/* Syncs the folder that holds path, so that the rename survives a crash. */
static void
sync_folder(struct cl_out *o)
{
	int fd;

	folder(&o->scratch, o->path);
	fd = open(o->scratch.p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int
cl_out_commit(struct cl_out *o, struct cl_buf *why)
{
	int bad, e = 0, fd;

	cl_buf_reset(why);
	if (o->kind == K_STDOUT) {
		bad = fflush(stdout) != 0 || ferror(stdout);
		if (bad)
			cl_buf_addf(why, "cannot write the output: %s",
			            strerror(errno ? errno : EIO));
		release(o);
		return bad ? -1 : 0;
	}
	errno = 0;
	bad = fflush(o->f) != 0 || ferror(o->f);
	fd = fileno(o->f);
	if (!bad && o->kind == K_REPLACE) {
		bad = fsync(fd) != 0 || fchmod(fd, o->have_mode ? o->mode : 0600) != 0 ||
		      (!o->tmp && name_tmp(o) != 0);
	}
	e = errno;
	if (fclose(o->f) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	o->f = NULL;
	if (!bad && o->kind == K_REPLACE && rename(o->tmp, o->path) != 0) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		cl_buf_addf(why, "cannot write '%s'", o->path);
		why_errno(why, e ? e : EIO);
		if (o->tmp)
			unlink(o->tmp);
	} else if (o->kind == K_REPLACE) {
		sync_folder(o);
	}
	release(o);
	return bad ? -1 : 0;
}

void
cl_out_abort(struct cl_out *o)
{
	if (o->f && o->kind != K_STDOUT)
		fclose(o->f);
	if (o->tmp)
		unlink(o->tmp);
	if (o->kind)
		release(o);
}

FILE *
cl_spool_open(const char *prefix, const char **dir)
{
	const char *d = getenv("TMPDIR");
	struct cl_buf t = CL_BUF_INIT;
	FILE *f = NULL;
	int fd, e;

	*dir = d && *d ? d : "/tmp";
	cl_buf_addf(&t, "%s/%s.XXXXXX", *dir, prefix);
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
