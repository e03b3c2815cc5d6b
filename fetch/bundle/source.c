/*
 * source.c: the files of a bundle, in a folder or in a zip. A zip is read
 * through libarchive one member at a time: to read a member the archive is
 * opened again and its entries are passed over until the member's (with a
 * seekable file libarchive's zip reader takes the central directory and
 * skips the others' data without reading it), so a member is never held in
 * memory or unpacked to disk. The zip's members may sit in one folder (an
 * SIS that zips the folder it wrote): the folder manifest.csv is in, nearest
 * the top, is the bundle's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "bundle.h"
#include "diag.h"

#define ZIP_BLOCK 65536

static struct archive *
zip_open(struct bundle_src *s)
{
	struct archive *a = archive_read_new();

	if (!a)
		cl_oom();
	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, s->path, ZIP_BLOCK) != ARCHIVE_OK) {
		snprintf(s->why, sizeof s->why, "'%s' is not a zip file: %s", s->path,
		         archive_error_string(a) ? archive_error_string(a) : "unreadable");
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* Ignored members: macOS's resource forks. */
static int
ignored(const char *name)
{
	const char *b = strrchr(name, '/');

	b = b ? b + 1 : name;
	return !strncmp(name, "__MACOSX/", 9) || !strncmp(b, "._", 2);
}

static int
depth(const char *name)
{
	int d = 0;

	for (; *name; name++)
		d += *name == '/';
	return d;
}

/* Lists the zip's members and finds the folder of its manifest.csv. */
static int
zip_scan(struct bundle_src *s)
{
	struct archive *a = zip_open(s);
	struct archive_entry *e;
	const char *best = NULL;
	size_t cap = 0, i;
	int rc, bd = 0, ties = 0;

	if (!a)
		return -1;
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
		const char *n = archive_entry_pathname(e);

		if (!n || ignored(n) || archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (s->nnames == cap) {
			cap = cap ? 2 * cap : 16;
			s->names = cl_xreallocarray(s->names, cap, sizeof *s->names);
		}
		s->names[s->nnames++] = cl_xstrdup(n);
	}
	if (rc != ARCHIVE_EOF) {
		snprintf(s->why, sizeof s->why, "cannot read the zip '%s': %s", s->path,
		         archive_error_string(a) ? archive_error_string(a) : "unreadable");
		archive_read_free(a);
		return -1;
	}
	archive_read_free(a);
	for (i = 0; i < s->nnames; i++) {
		const char *n = s->names[i], *b = strrchr(n, '/');

		if (strcmp(b ? b + 1 : n, "manifest.csv") != 0)
			continue;
		if (!best || depth(n) < bd) {
			best = n;
			bd = depth(n);
			ties = 0;
		} else if (depth(n) == bd) {
			ties++;
		}
	}
	if (!best) {
		snprintf(s->why, sizeof s->why,
		         "the zip '%s' holds no manifest.csv: a OneRoster bundle has one", s->path);
		return -1;
	}
	if (ties) {
		snprintf(s->why, sizeof s->why,
		         "the zip '%s' holds several manifest.csv in folders side by side: zip "
		         "one bundle at a time",
		         s->path);
		return -1;
	}
	s->prefix = cl_xmemdup(best, strlen(best) - strlen("manifest.csv"));
	return 0;
}

int
bundle_src_open(struct bundle_src *s, const char *path)
{
	struct stat sb;

	memset(s, 0, sizeof *s);
	s->path = path;
	s->fd = -1;
	if (stat(path, &sb) < 0) {
		snprintf(s->why, sizeof s->why, "cannot open the bundle '%s': %s", path,
		         strerror(errno));
		return -1;
	}
	if (S_ISDIR(sb.st_mode))
		return 0;
	if (!S_ISREG(sb.st_mode)) {
		snprintf(s->why, sizeof s->why,
		         "the bundle '%s' is neither a folder nor a zip file", path);
		return -1;
	}
	s->zip = 1;
	return zip_scan(s);
}

void
bundle_src_release(struct bundle_src *s)
{
	size_t i;

	bundle_src_end(s);
	for (i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	free(s->prefix);
	s->names = NULL;
	s->prefix = NULL;
	s->nnames = 0;
}

int
bundle_src_has(const struct bundle_src *s, const char *name)
{
	struct cl_buf p = CL_BUF_INIT;
	struct stat sb;
	size_t i;
	int has = 0;

	if (s->zip) {
		cl_buf_addf(&p, "%s%s", s->prefix, name);
		for (i = 0; i < s->nnames && !has; i++)
			has = !strcmp(s->names[i], p.p);
	} else {
		cl_buf_addf(&p, "%s/%s", s->path, name);
		has = stat(p.p, &sb) == 0 && S_ISREG(sb.st_mode);
	}
	cl_buf_release(&p);
	return has;
}

int
bundle_src_begin(struct bundle_src *s, const char *name)
{
	struct cl_buf p = CL_BUF_INIT;
	struct archive_entry *e;
	struct archive *a;
	int rc, status = -1;

	bundle_src_end(s);
	s->cur = name;
	if (!s->zip) {
		cl_buf_addf(&p, "%s/%s", s->path, name);
		s->fd = open(p.p, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0)
			snprintf(s->why, sizeof s->why, "cannot open '%s': %s", p.p,
			         strerror(errno));
		else
			status = 0;
		cl_buf_release(&p);
		return status;
	}
	if (!(a = zip_open(s)))
		return -1;
	cl_buf_addf(&p, "%s%s", s->prefix, name);
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
		const char *n = archive_entry_pathname(e);

		if (n && !strcmp(n, p.p) && archive_entry_filetype(e) == AE_IFREG) {
			s->a = a;
			cl_buf_release(&p);
			return 0;
		}
	}
	if (rc == ARCHIVE_EOF)
		snprintf(s->why, sizeof s->why, "the zip '%s' no longer holds '%s'", s->path, p.p);
	else
		snprintf(s->why, sizeof s->why, "cannot read the zip '%s': %s", s->path,
		         archive_error_string(a) ? archive_error_string(a) : "unreadable");
	archive_read_free(a);
	cl_buf_release(&p);
	return -1;
}

ssize_t
bundle_src_read(void *ctx, char *buf, size_t n)
{
	struct bundle_src *s = ctx;
	ssize_t r;

	if (!s->zip) {
		do
			r = read(s->fd, buf, n);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			snprintf(s->why, sizeof s->why, "cannot read '%s/%s': %s", s->path, s->cur,
			         strerror(errno));
		return r;
	}
	r = archive_read_data(s->a, buf, n);
	if (r < 0) {
		snprintf(s->why, sizeof s->why, "cannot read '%s%s' in the zip '%s': %s", s->prefix,
		         s->cur, s->path,
		         archive_error_string(s->a) ? archive_error_string(s->a) : "unreadable");
		return -1;
	}
	return r;
}

void
bundle_src_end(struct bundle_src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->a)
		archive_read_free(s->a);
	s->a = NULL;
}
