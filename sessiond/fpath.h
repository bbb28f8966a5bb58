/*
 * fpath: the file system side of the files that move between the chat and
 * a workspace (docs/architecture.md, "Files"): a safe name for a file the
 * chat sends, the workspace's .temp/<channel>/ directory and a new file in
 * it, the confinement of a file the agent sends, and the removal of old
 * temporary files, a bounded step at a time.  No globals; nothing here
 * knows of channels or the config.
 */
#ifndef SESSIOND_FPATH_H
#define SESSIOND_FPATH_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define FPATH_NAME_MAX	200	/* bytes of a stored file's name */
#define FPATH_EXT_MAX	16	/* bytes of an extension kept when cutting */
#define FPATH_TEMP	".temp"	/* under the working directory */

/*
 * name[0..len) as one safe path component of at most FPATH_NAME_MAX
 * bytes: '/', '\', NUL and other control characters and bytes that are
 * not UTF-8 become '_', leading dots too (no hidden file, no "." or
 * ".."); a long name is cut on a character boundary keeping its
 * extension; an empty one is "file".  out has room for
 * FPATH_NAME_MAX + 1 bytes.
 */
void	 fpath_sanitize(const char *name, size_t len, char *out,
	    size_t outlen);

/*
 * The directory <cwd>/.temp/<channel> (channel sanitised), made 0700 if
 * missing, reached without following a symlink below cwd: its descriptor,
 * and its path in path.  -1 with err.
 */
int	 fpath_temp_dir(const char *cwd, const char *channel, char *path,
	    size_t pathlen, char *err, size_t errlen);

/*
 * A new file (0600, read-write) in dirfd named name (sanitised), or
 * "stem-2.ext", "stem-3.ext", ... if that exists: its descriptor, and its
 * name in out (FPATH_NAME_MAX + 1 bytes or more).  -1 with err.
 */
int	 fpath_create(int dirfd, const char *name, size_t len, char *out,
	    size_t outlen, char *err, size_t errlen);

enum fpath_why {
	FPATH_OK,
	FPATH_NOENT,		/* no such file */
	FPATH_OUTSIDE,		/* outside every root, once resolved */
	FPATH_NOTREG,		/* a directory, device, FIFO, socket */
	FPATH_ERROR		/* anything else: err says */
};

/*
 * Open path (absolute, or relative to cwd) for reading if the file it
 * names, every symlink and ".." resolved, is a regular file inside cwd or
 * one of roots (NULL-terminated; a root that does not resolve is
 * skipped).  What is checked is what is opened: the descriptor's own
 * path is checked again.  Returns the descriptor (its real path in real,
 * its size in *size), or -1 with *why (and err).
 */
int	 fpath_open_confined(const char *cwd, const char *const *roots,
	    const char *path, char *real, size_t reallen, off_t *size,
	    enum fpath_why *why, char *err, size_t errlen);

/* Is path inside dir (both absolute and resolved)? "/" holds everything. */
int	 fpath_inside(const char *path, const char *dir);

/*
 * A sweep of temporary files: the regular files and symlinks in
 * <root>/<channel>/ (and in <root> itself) last changed more than
 * max_age_ms ago are removed, and so is an emptied channel directory.
 * Nothing is followed and nothing deeper is touched.
 */
struct fpath_sweep;

/* roots: paths of .temp directories (copied); NULL if out of memory. */
struct fpath_sweep *fpath_sweep_new(const char *const *roots, size_t n,
	    uint64_t max_age_ms);
/*
 * Look at no more than budget directory entries; *removed counts what
 * went.  1 while entries remain, 0 once the sweep is done.
 */
int	 fpath_sweep_step(struct fpath_sweep *, unsigned int budget,
	    unsigned int *removed);
void	 fpath_sweep_free(struct fpath_sweep *);

#endif
