/*
 * test_out: lib/out.c against real files, a symlink, a FIFO, a private
 * device node (as root), and an output that is also an input.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "out.h"
#include "t.h"

static char dir[256];

static const char *
at(const char *name)
{
	static char p[2][512];
	static int i;

	i ^= 1;
	snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
	return p[i];
}

static void
put(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static char *
slurp(const char *path)
{
	static char b[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(b, 1, sizeof b - 1, f);
	b[n] = '\0';
	fclose(f);
	return b;
}

/* Files in dir, . and .. aside. */
static int
entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static unsigned
mode_of(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 07777) : 0u;
}

int
main(void)
{
	struct cl_buf why = CL_BUF_INIT;
	struct cl_out o;
	struct stat sb;
	int fd, pfd[2];

	snprintf(dir, sizeof dir, "%s/test_out.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	umask(022);

	/* a new file: 0600, and nothing visible under any name until the commit */
	CHECK_INT(cl_out_open(&o, at("new.txt"), &why), 0);
	fputs("hello\n", o.f);
	CHECK_INT(entries(), 0);
	CHECK_INT(cl_out_commit(&o, &why), 0);
	CHECK_STR(slurp(at("new.txt")), "hello\n");
	CHECK_INT(mode_of(at("new.txt")), 0600);
	CHECK_INT(entries(), 1);

	/* replacing a file keeps its mode; abort leaves the old one whole */
	put(at("old.txt"), "old\n", 0644);
	CHECK_INT(cl_out_open(&o, at("old.txt"), &why), 0);
	fputs("half", o.f);
	cl_out_abort(&o);
	CHECK_STR(slurp(at("old.txt")), "old\n");
	CHECK_INT(cl_out_open(&o, at("old.txt"), &why), 0);
	fputs("new\n", o.f);
	CHECK_INT(cl_out_commit(&o, &why), 0);
	CHECK_STR(slurp(at("old.txt")), "new\n");
	CHECK_INT(mode_of(at("old.txt")), 0644);
	CHECK_INT(entries(), 2);

	/* a symlink is refused and its target untouched */
	put(at("target.txt"), "keep\n", 0644);
	CHECK(symlink("target.txt", at("link.txt")) == 0);
	CHECK_INT(cl_out_open(&o, at("link.txt"), &why), CL_OUT_FAIL);
	CHECK(strstr(why.p, "symbolic link") != NULL);
	CHECK_STR(slurp(at("target.txt")), "keep\n");
	CHECK_INT(mode_of(at("target.txt")), 0644);

	/* a folder, and a folder that does not exist */
	CHECK_INT(cl_out_open(&o, dir, &why), CL_OUT_FAIL);
	CHECK_INT(cl_out_open(&o, at("no/such/file"), &why), CL_OUT_FAIL);
	CHECK(strstr(why.p, "No such file") != NULL);

	/* an output that is an input */
	fd = open(at("old.txt"), O_RDONLY);
	cl_out_note_input_fd(fd);
	CHECK_INT(cl_out_open(&o, at("old.txt"), &why), CL_OUT_SAME);
	CHECK_STR(slurp(at("old.txt")), "new\n");
	close(fd);
	cl_out_forget_inputs();
	cl_out_note_input_path(at("new.txt"));
	CHECK_INT(cl_out_open(&o, at("new.txt"), &why), CL_OUT_SAME);
	cl_out_note_input_path(at("absent.db")); /* a state not made yet: nothing */
	CHECK_INT(cl_out_open(&o, at("absent.db"), &why), 0);
	cl_out_abort(&o);
	CHECK(access(at("absent.db"), F_OK) != 0);
	cl_out_forget_inputs();

	/* a FIFO is written in place: still a FIFO, mode untouched */
	CHECK(mkfifo(at("fifo"), 0640) == 0);
	CHECK(pipe(pfd) == 0);
	if (fork() == 0) {
		char b[64] = "";
		int r = open(at("fifo"), O_RDONLY);
		ssize_t n = read(r, b, sizeof b - 1);

		_exit(n == 6 && memcmp(b, "fifo!\n", 6) == 0 ? 0 : 1);
	}
	CHECK_INT(cl_out_open(&o, at("fifo"), &why), 0);
	fputs("fifo!\n", o.f);
	CHECK_INT(cl_out_commit(&o, &why), 0);
	{
		int st = 0;

		wait(&st);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK(lstat(at("fifo"), &sb) == 0 && S_ISFIFO(sb.st_mode));
	CHECK_INT(mode_of(at("fifo")), 0640);
	close(pfd[0]);
	close(pfd[1]);

	/* a character device (a private /dev/null, as root): in place, never replaced */
	if (mknod(at("null"), S_IFCHR | 0666, makedev(1, 3)) == 0) {
		chmod(at("null"), 0666);
		CHECK_INT(cl_out_open(&o, at("null"), &why), 0);
		fputs("gone\n", o.f);
		CHECK_INT(cl_out_commit(&o, &why), 0);
		CHECK(lstat(at("null"), &sb) == 0 && S_ISCHR(sb.st_mode));
		CHECK_INT(mode_of(at("null")), 0666);
		unlink(at("null"));
	} else {
		fprintf(stderr, "test_out: mknod: %s: the device case needs root; skipped\n",
		        strerror(errno));
	}

	/* a stale named temporary file of a process that is gone is swept */
	put(at("new.txt.cl-tmp.999999999.abcdef"), "stale", 0600);
	put(at("new.txt.cl-tmp.1.abcdef"), "pid 1 runs", 0600);
	CHECK_INT(cl_out_open(&o, at("new.txt"), &why), 0);
	cl_out_abort(&o);
	CHECK(access(at("new.txt.cl-tmp.999999999.abcdef"), F_OK) != 0);
	CHECK(access(at("new.txt.cl-tmp.1.abcdef"), F_OK) == 0);

	/* "-" is stdout */
	CHECK_INT(cl_out_open(&o, "-", &why), 0);
	CHECK(o.f == stdout);
	CHECK_INT(cl_out_commit(&o, &why), 0);

	cl_buf_release(&why);
	{
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return T_DONE();
}
