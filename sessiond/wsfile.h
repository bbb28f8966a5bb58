/*
 * wsfile: reading what a workspace and the user's ~/.copilot hold (hooks,
 * MCP servers, agents, skills, instructions), the one copy of it: paths,
 * bounded reads of regular files, string lists, and the walk of a
 * directory tree that stops at a symlink loop.
 */
#ifndef SESSIOND_WSFILE_H
#define SESSIOND_WSFILE_H

#include <sys/stat.h>

#include <stddef.h>

/* dir/name, without a doubled slash; NULL when out of memory. */
char	*wsfile_join(const char *dir, const char *name);
int	 wsfile_isdir(const char *path);
/*
 * Read path, a regular file of at most max bytes, into *text (malloc'd,
 * NUL-terminated) and *len.  1: read.  0: nothing read: the file is
 * absent (silently), or is not a regular file, is larger, or cannot be
 * read (logged, "PATH: why, skipping").  -1: out of memory.
 */
int	 wsfile_read(const char *path, size_t max, char **text, size_t *len);

/*
 * The entries of dir but "." and "..", in byte order of their names, into
 * *ents (free with wsfile_scan_free()): how many; 0 when dir cannot be
 * read (logged unless it is absent); -1 when out of memory.
 */
struct dirent;
int	 wsfile_scan(const char *dir, struct dirent ***ents);
void	 wsfile_scan_free(struct dirent **ents, int n);
/* [*s, *s + *n) without the ASCII white space around it. */
void	 wsfile_trim(const char **s, size_t *n);

/* A list of strings, as (char **, size_t). */
int	 wsfile_strv_add(char ***v, size_t *n, const char *s);
void	 wsfile_strv_free(char **v, size_t n);
/* Add dir if it is a directory not in the list yet; -1 only when out of memory. */
int	 wsfile_watch(char ***v, size_t *n, const char *dir);

/*
 * Directories to watch, as a loader of the files gives them: in `dirs`
 * only some names matter (the watcher's owner knows which), in `any`
 * every name does.  wswatch_add() takes only a directory that exists,
 * once; -1 only when out of memory.
 */
struct wswatch {
	char	**dirs;
	size_t	  ndirs;
	char	**any;
	size_t	  nany;
};
int	 wswatch_add(struct wswatch *, const char *dir, int any);
void	 wswatch_free(struct wswatch *);

/*
 * Walk root to maxdepth levels below it, depth first, entries in byte order
 * of their names, symlinks followed but never into a directory already on
 * the path.  fn(arg, dir, name, st, depth) sees each entry (st from stat);
 * for a directory it returns 1 to go into it, 0 not to; -1 stops the walk,
 * which returns -1.  A directory that cannot be read is logged and skipped.
 */
#define WSFILE_DEPTH_MAX	8
typedef int	(*wsfile_walk_fn)(void *arg, const char *dir, const char *name,
		    const struct stat *, int depth);
int	 wsfile_walk(const char *root, int maxdepth, wsfile_walk_fn, void *arg);

#endif
