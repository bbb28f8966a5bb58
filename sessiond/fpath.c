/*
 * fpath: see fpath.h.  Every directory below a working directory is
 * reached with openat(O_NOFOLLOW), so a symlink planted in .temp never
 * leads a download or a sweep elsewhere; a file the agent sends is
 * resolved with realpath() and what is opened is checked again.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/utf8.h"
#include "common/util.h"
#include "fpath.h"

#define FPATH_COPIES_MAX	999	/* "stem-999.ext" is the last try */

/* ------------------------------------------------------------ names */

/* May the character c (of n bytes, valid) stand in a name? */
static int
fpath_char_ok(const char *c, size_t n, uint32_t cp)
{
	if (!utf8_valid(c, n))
		return (0);
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
		return (0);
	return (cp != '/' && cp != '\\');
}

/* The byte length where the extension (".xyz") of s[0..len) starts, or len. */
static size_t
fpath_ext(const char *s, size_t len)
{
	size_t	i = len;

	while (i > 1 && len - i < FPATH_EXT_MAX) {
		i--;
		if (s[i] == '.')
			return (i);
	}
	return (len);
}

void
fpath_sanitize(const char *name, size_t len, char *out, size_t outlen)
{
	char		*buf;
	size_t		 off = 0, o = 0, n, max, ext, stem;
	uint32_t	 cp;
	int		 lead = 1;

	max = outlen - 1 < FPATH_NAME_MAX ? outlen - 1 : FPATH_NAME_MAX;
	/* Each character stays or becomes one '_': never longer. */
	if (len == 0 || (buf = malloc(len)) == NULL) {
		snprintf(out, outlen, "%s", "file");
		return;
	}
	while (off < len) {
		n = utf8_char(name + off, len - off, &cp);
		if (lead && cp == '.')
			buf[o++] = '_';
		else if (!fpath_char_ok(name + off, n, cp))
			buf[o++] = '_';
		else {
			memcpy(buf + o, name + off, n);
			o += n;
		}
		if (cp != '.')
			lead = 0;
		off += n;
	}
	if (o <= max) {
		memcpy(out, buf, o);
		out[o] = '\0';
	} else {
		/* Too long: the stem is cut, the extension kept. */
		if (o - (ext = fpath_ext(buf, o)) >= max)
			ext = o;
		stem = utf8_cut_bytes(buf, ext, max - (o - ext));
		memcpy(out, buf, stem);
		memcpy(out + stem, buf + ext, o - ext);
		out[stem + o - ext] = '\0';
	}
	free(buf);
}

/* ------------------------------------------------------------ .temp */

/* mkdirat + openat of name below dirfd, never through a symlink. */
static int
fpath_subdir(int dirfd, const char *name, char *err, size_t errlen,
    const char *shown)
{
	int	fd;

	if (mkdirat(dirfd, name, 0700) == -1 && errno != EEXIST)
		return (util_err(err, errlen, "cannot create %s: %s", shown,
		    strerror(errno)));
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return (util_err(err, errlen, "cannot open %s: %s", shown,
		    errno == ELOOP || errno == ENOTDIR ? "not a directory (a "
		    "symlink?)" : strerror(errno)));
	return (fd);
}

int
fpath_temp_dir(const char *cwd, const char *channel, char *path,
    size_t pathlen, char *err, size_t errlen)
{
	char	ch[FPATH_NAME_MAX + 1];
	int	cfd, tfd, dfd;
	int	n;

	fpath_sanitize(channel, strlen(channel), ch, sizeof(ch));
	n = snprintf(path, pathlen, "%s/%s/%s", cwd, FPATH_TEMP, ch);
	if (n < 0 || (size_t)n >= pathlen)
		return (util_err(err, errlen, "%s: the path is too long", cwd));
	if ((cfd = open(cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (util_err(err, errlen, "%s: %s", cwd, strerror(errno)));
	tfd = fpath_subdir(cfd, FPATH_TEMP, err, errlen, FPATH_TEMP);
	(void)close(cfd);
	if (tfd == -1)
		return (-1);
	dfd = fpath_subdir(tfd, ch, err, errlen, path);
	(void)close(tfd);
	return (dfd);
}

int
fpath_create(int dirfd, const char *name, size_t len, char *out,
    size_t outlen, char *err, size_t errlen)
{
	char	safe[FPATH_NAME_MAX + 1], stem[FPATH_NAME_MAX + 1];
	size_t	ext, cut;
	int	fd, i;

	fpath_sanitize(name, len, safe, sizeof(safe));
	ext = fpath_ext(safe, strlen(safe));
	for (i = 1; i <= FPATH_COPIES_MAX; i++) {
		if (i == 1)
			snprintf(out, outlen, "%s", safe);
		else {
			/* Room for "-999": the stem gives way. */
			cut = utf8_cut_bytes(safe, ext, FPATH_NAME_MAX - 4 -
			    (strlen(safe) - ext));
			memcpy(stem, safe, cut);
			stem[cut] = '\0';
			snprintf(out, outlen, "%s-%d%s", stem, i, safe + ext);
		}
		fd = openat(dirfd, out, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd != -1)
			return (fd);
		if (errno != EEXIST)
			return (util_err(err, errlen, "cannot create %s: %s",
			    out, strerror(errno)));
	}
	return (util_err(err, errlen, "too many files named %s", safe));
}

/* ------------------------------------------------------------ confinement */

int
fpath_inside(const char *path, const char *dir)
{
	size_t	n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return (path[0] == '/');
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return (strncmp(path, dir, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/'));
}

/* Is real inside cwd or a root, each resolved? */
static int
fpath_allowed(const char *real, const char *cwd, const char *const *roots)
{
	char	r[PATH_MAX];
	size_t	i;

	if (cwd != NULL && realpath(cwd, r) != NULL && fpath_inside(real, r))
		return (1);
	for (i = 0; roots != NULL && roots[i] != NULL; i++)
		if (realpath(roots[i], r) != NULL && fpath_inside(real, r))
			return (1);
	return (0);
}

/* Absolute path with ".", ".." and repeated slashes resolved as text. */
static void
fpath_lexical(const char *in, char *out, size_t len)
{
	size_t	o = 0, n;

	while (*in != '\0') {
		while (*in == '/')
			in++;
		n = strcspn(in, "/");
		if (n == 0 || (n == 1 && in[0] == '.')) {
			in += n;
			continue;
		}
		if (n == 2 && in[0] == '.' && in[1] == '.') {
			while (o > 0 && out[--o] != '/')
				;
		} else if (o + 1 + n < len) {
			out[o++] = '/';
			memcpy(out + o, in, n);
			o += n;
		}
		in += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
}

/* The path the descriptor fd is open on, per /proc; -1 if unknown. */
static int
fpath_fd_path(int fd, char *out, size_t len)
{
	char	link[64];
	ssize_t	n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, out, len - 1)) == -1 || (size_t)n >= len - 1)
		return (-1);
	out[n] = '\0';
	return (0);
}

static int
fpath_fail(enum fpath_why *why, enum fpath_why w, int fd)
{
	*why = w;
	if (fd != -1)
		(void)close(fd);
	return (-1);
}

int
fpath_open_confined(const char *cwd, const char *const *roots,
    const char *path, char *real, size_t reallen, off_t *size,
    enum fpath_why *why, char *err, size_t errlen)
{
	char		 abs[PATH_MAX], rp[PATH_MAX], back[PATH_MAX];
	struct stat	 st, fst;
	int		 fd, n, saved;

	*why = FPATH_OK;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || *path == '\0')
		return (fpath_fail(why, FPATH_NOENT, -1));
	n = path[0] == '/' ? snprintf(abs, sizeof(abs), "%s", path) :
	    snprintf(abs, sizeof(abs), "%s/%s", cwd, path);
	if (n < 0 || (size_t)n >= sizeof(abs))
		return (fpath_fail(why, FPATH_NOENT, -1));
	if (realpath(abs, rp) == NULL) {
		saved = errno;
		/* Outside as written says so, whether it exists or not. */
		fpath_lexical(abs, rp, sizeof(rp));
		if (!fpath_allowed(rp, cwd, roots))
			return (fpath_fail(why, FPATH_OUTSIDE, -1));
		if (saved == EACCES || saved == EIO || saved == ENOMEM) {
			(void)util_err(err, errlen, "%s", strerror(saved));
			return (fpath_fail(why, FPATH_ERROR, -1));
		}
		return (fpath_fail(why, FPATH_NOENT, -1));
	}
	if (!fpath_allowed(rp, cwd, roots))
		return (fpath_fail(why, FPATH_OUTSIDE, -1));
	/* Never open a device or a FIFO: opening one may block or act. */
	if (stat(rp, &st) == -1)
		return (fpath_fail(why, FPATH_NOENT, -1));
	if (!S_ISREG(st.st_mode))
		return (fpath_fail(why, FPATH_NOTREG, -1));
	if ((fd = open(rp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) == -1) {
		(void)util_err(err, errlen, "%s", errno == ELOOP ?
		    "it changed while it was checked" : strerror(errno));
		return (fpath_fail(why, FPATH_ERROR, -1));
	}
	if (fstat(fd, &fst) == -1 || !S_ISREG(fst.st_mode) ||
	    fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
		(void)util_err(err, errlen, "it changed while it was checked");
		return (fpath_fail(why, FPATH_ERROR, fd));
	}
	/* A directory on the way swapped for a symlink meanwhile: */
	if (fpath_fd_path(fd, back, sizeof(back)) == 0 &&
	    strcmp(back, rp) != 0 && !fpath_allowed(back, cwd, roots))
		return (fpath_fail(why, FPATH_OUTSIDE, fd));
	snprintf(real, reallen, "%s", rp);
	*size = fst.st_size;
	return (fd);
}

/* ------------------------------------------------------------ the sweep */

struct fpath_sweep {
	char		**roots;
	size_t		  n, i;		/* the root being swept */
	DIR		 *top;		/* the root's entries */
	DIR		 *sub;		/* a channel directory's */
	char		  subname[NAME_MAX + 1];
	uint64_t	  cutoff_ms;	/* wall clock: older goes */
};

static uint64_t
fpath_wall_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return (0);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

struct fpath_sweep *
fpath_sweep_new(const char *const *roots, size_t n, uint64_t max_age_ms)
{
	struct fpath_sweep	*s;
	uint64_t		 now = fpath_wall_ms();
	size_t			 i;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	if (n > 0 && (s->roots = calloc(n, sizeof(*s->roots))) == NULL) {
		free(s);
		return (NULL);
	}
	for (i = 0; i < n; i++)
		if ((s->roots[s->n++] = strdup(roots[i])) == NULL) {
			fpath_sweep_free(s);
			return (NULL);
		}
	s->cutoff_ms = now > max_age_ms ? now - max_age_ms : 0;
	return (s);
}

void
fpath_sweep_free(struct fpath_sweep *s)
{
	size_t	i;

	if (s == NULL)
		return;
	if (s->sub != NULL)
		(void)closedir(s->sub);
	if (s->top != NULL)
		(void)closedir(s->top);
	for (i = 0; i < s->n; i++)
		free(s->roots[i]);
	free(s->roots);
	free(s);
}

static int
fpath_old(const struct stat *st, uint64_t cutoff_ms)
{
	uint64_t	ms = (uint64_t)st->st_mtim.tv_sec * 1000 +
			    (uint64_t)st->st_mtim.tv_nsec / 1000000;

	return (st->st_mtim.tv_sec >= 0 && ms < cutoff_ms);
}

/*
 * One entry of dir: an old file or symlink goes; in the root, a channel
 * directory is entered (returns 1).
 */
static int
fpath_sweep_entry(struct fpath_sweep *s, DIR *dir, const char *name,
    unsigned int *removed)
{
	struct stat	st;
	int		fd;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return (0);
	if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
	    fpath_old(&st, s->cutoff_ms)) {
		if (unlinkat(dirfd(dir), name, 0) == 0)
			(*removed)++;
		return (0);
	}
	if (dir != s->top || !S_ISDIR(st.st_mode) ||
	    (fd = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (0);
	if ((s->sub = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return (0);
	}
	snprintf(s->subname, sizeof(s->subname), "%s", name);
	return (1);
}

/* A channel directory is done: it goes if it is old and empty. */
static void
fpath_sweep_sub_done(struct fpath_sweep *s)
{
	struct stat	st;

	(void)closedir(s->sub);
	s->sub = NULL;
	if (fstatat(dirfd(s->top), s->subname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) && fpath_old(&st, s->cutoff_ms))
		(void)unlinkat(dirfd(s->top), s->subname, AT_REMOVEDIR);
}

int
fpath_sweep_step(struct fpath_sweep *s, unsigned int budget,
    unsigned int *removed)
{
	struct dirent	*d;
	int		 fd;

	while (budget > 0) {
		budget--;
		if (s->sub != NULL) {
			if ((d = readdir(s->sub)) == NULL)
				fpath_sweep_sub_done(s);
			else
				(void)fpath_sweep_entry(s, s->sub, d->d_name,
				    removed);
		} else if (s->top != NULL) {
			if ((d = readdir(s->top)) == NULL) {
				(void)closedir(s->top);
				s->top = NULL;
				s->i++;
			} else
				(void)fpath_sweep_entry(s, s->top, d->d_name,
				    removed);
		} else if (s->i < s->n) {
			fd = open(s->roots[s->i], O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (fd == -1 || (s->top = fdopendir(fd)) == NULL) {
				if (fd != -1)
					(void)close(fd);
				s->i++;
			}
		} else
			return (0);
	}
	return (s->sub != NULL || s->top != NULL || s->i < s->n);
}
