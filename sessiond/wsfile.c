/*
 * wsfile: see wsfile.h.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "wsfile.h"

char *
wsfile_join(const char *dir, const char *name)
{
	size_t	 n = strlen(dir);
	char	*p;

	/* "/" or a $HOME with a trailing slash must not give "//x". */
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (asprintf(&p, "%.*s%s%s", (int)n, dir,
	    n > 0 && dir[n - 1] == '/' ? "" : "/", name) == -1)
		return (NULL);
	return (p);
}

int
wsfile_isdir(const char *path)
{
	struct stat	st;

	return (path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

int
wsfile_read(const char *path, size_t max, char **text, size_t *len)
{
	struct stat	 st;

	*text = NULL;
	*len = 0;
	if (stat(path, &st) == -1) {
		if (errno != ENOENT && errno != ENOTDIR)
			log_warnx("%s: %s, skipping", path, strerror(errno));
		return (0);
	}
	/* A FIFO would block the loop; a directory is not a file. */
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s: not a regular file, skipping", path);
		return (0);
	}
	if ((size_t)st.st_size > max) {
		log_warnx("%s: larger than %zu bytes, skipping", path, max);
		return (0);
	}
	if ((*text = util_read_file(path, max, len)) == NULL) {
		if (errno == ENOMEM)
			return (-1);
		/* Gone since the stat is as good as never there. */
		if (errno != ENOENT)
			log_warnx("%s: %s, skipping", path, strerror(errno));
		return (0);
	}
	return (1);
}

static int
wsfile_skipdots(const struct dirent *d)
{
	return (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0);
}

/* By bytes, not strcoll(): the order must not depend on the locale. */
static int
wsfile_cmp(const struct dirent **a, const struct dirent **b)
{
	return (strcmp((*a)->d_name, (*b)->d_name));
}

int
wsfile_scan(const char *dir, struct dirent ***ents)
{
	int	n;

	if ((n = scandir(dir, ents, wsfile_skipdots, wsfile_cmp)) == -1) {
		*ents = NULL;
		if (errno == ENOMEM)
			return (-1);
		if (errno != ENOENT && errno != ENOTDIR)
			log_warnx("%s: %s, skipping", dir, strerror(errno));
		return (0);
	}
	return (n);
}

void
wsfile_scan_free(struct dirent **ents, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
}

static int
wsfile_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f');
}

void
wsfile_trim(const char **s, size_t *n)
{
	while (*n > 0 && wsfile_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && wsfile_space((*s)[*n - 1]))
		(*n)--;
}

int
wsfile_strv_add(char ***v, size_t *n, const char *s)
{
	char	**nv, *d;

	if ((d = strdup(s)) == NULL)
		return (-1);
	if ((nv = reallocarray(*v, *n + 1, sizeof(*nv))) == NULL) {
		free(d);
		return (-1);
	}
	nv[(*n)++] = d;
	*v = nv;
	return (0);
}

void
wsfile_strv_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
wsfile_watch(char ***v, size_t *n, const char *dir)
{
	size_t	i;

	if (!wsfile_isdir(dir))
		return (0);
	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], dir) == 0)
			return (0);
	return (wsfile_strv_add(v, n, dir));
}

int
wswatch_add(struct wswatch *w, const char *dir, int any)
{
	size_t	i;

	if (!wsfile_isdir(dir))
		return (0);
	for (i = 0; i < w->nany; i++)
		if (strcmp(w->any[i], dir) == 0)
			return (0);
	for (i = 0; i < w->ndirs; i++)
		if (strcmp(w->dirs[i], dir) == 0) {
			if (!any)
				return (0);
			/* Every name now matters there. */
			free(w->dirs[i]);
			w->dirs[i] = w->dirs[--w->ndirs];
			break;
		}
	return (any ? wsfile_strv_add(&w->any, &w->nany, dir) :
	    wsfile_strv_add(&w->dirs, &w->ndirs, dir));
}

void
wswatch_free(struct wswatch *w)
{
	wsfile_strv_free(w->dirs, w->ndirs);
	wsfile_strv_free(w->any, w->nany);
	memset(w, 0, sizeof(*w));
}

/* The directories on the walk's current path, to stop at a symlink loop. */
struct wsfile_walk {
	wsfile_walk_fn	 fn;
	void		*arg;
	int		 maxdepth;
	dev_t		 dev[WSFILE_DEPTH_MAX + 1];
	ino_t		 ino[WSFILE_DEPTH_MAX + 1];
};

static int	wsfile_walk_dir(struct wsfile_walk *, const char *, int);

static int
wsfile_walk_entry(struct wsfile_walk *w, const char *dir, const char *name,
    int depth)
{
	struct stat	 st;
	char		*path;
	int		 i, rv = 0;

	if ((path = wsfile_join(dir, name)) == NULL)
		return (-1);
	/* stat, not lstat: plugins may well be symlinked into place. */
	if (stat(path, &st) == -1)
		goto done;
	if (S_ISDIR(st.st_mode))
		for (i = 0; i <= depth; i++)
			if (w->dev[i] == st.st_dev && w->ino[i] == st.st_ino)
				goto done;
	if ((rv = w->fn(w->arg, dir, name, &st, depth)) == 1) {
		rv = 0;
		if (S_ISDIR(st.st_mode) && depth < w->maxdepth)
			rv = wsfile_walk_dir(w, path, depth + 1);
	}
done:
	free(path);
	return (rv == -1 ? -1 : 0);
}

static int
wsfile_walk_dir(struct wsfile_walk *w, const char *dir, int depth)
{
	struct dirent	**ents;
	struct stat	 st;
	int		 i, n, rv = 0;

	if (stat(dir, &st) == -1)
		return (0);
	w->dev[depth] = st.st_dev;
	w->ino[depth] = st.st_ino;
	if ((n = wsfile_scan(dir, &ents)) <= 0)
		return (n);
	for (i = 0; i < n && rv == 0; i++)
		rv = wsfile_walk_entry(w, dir, ents[i]->d_name, depth);
	wsfile_scan_free(ents, n);
	return (rv);
}

int
wsfile_walk(const char *root, int maxdepth, wsfile_walk_fn fn, void *arg)
{
	struct wsfile_walk	w;

	memset(&w, 0, sizeof(w));
	w.fn = fn;
	w.arg = arg;
	w.maxdepth = maxdepth < WSFILE_DEPTH_MAX ? maxdepth : WSFILE_DEPTH_MAX;
	return (wsfile_walk_dir(&w, root, 0));
}
