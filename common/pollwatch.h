/*
 * pollwatch: notice changes of a file, or of a directory's entries, by
 * stat(2) on a timer, where inotify cannot see them: a network file system
 * (a change made on another host), an overlay or FUSE mount (a change made
 * in a layer or by the host, under the mount), or when the kernel refuses
 * one more inotify watch.  The config's watcher (supervisor/watch.c) and
 * sessiond's (sessiond/dirwatch.c) both use it; docs/architecture.md, "File
 * watching".
 *
 * A file is compared by device, inode, type, size, and mtime and ctime to
 * the nanosecond; stat follows symlinks, so a link swapped to a new target
 * is a change.  A directory is compared by its own device and inode and by
 * each entry's; a subdirectory entry only by its device, inode and type
 * (its contents are not followed, as with inotify).  After a change the path
 * is polled again every POLLWATCH_BURST_MS, POLLWATCH_BURST_N times, so a
 * save that spans a tick keeps pushing the caller's debounce back as
 * inotify's events would: one save, one reload.
 */
#ifndef COMMON_POLLWATCH_H
#define COMMON_POLLWATCH_H

#include <sys/stat.h>

#include <stddef.h>

struct event_base;
struct pollwatch;

enum pollwatch_mode {
	POLLWATCH_AUTO,		/* poll where inotify cannot see */
	POLLWATCH_INOTIFY,
	POLLWATCH_POLL,
};

#define POLLWATCH_INTERVAL_MS	1000	/* watchIntervalMs's default */
#define POLLWATCH_INTERVAL_MIN	100
#define POLLWATCH_INTERVAL_MAX	600000
#define POLLWATCH_BURST_MS	100
#define POLLWATCH_BURST_N	10

/* name: the directory entry that changed; NULL: the path itself. */
typedef void	(*pollwatch_cb)(const char *name, void *arg);

/*
 * Poll path every interval_ms from now on, against what it is now.  NULL
 * (errno set) on failure.  The callback must not free the watch.
 */
struct pollwatch *pollwatch_new(struct event_base *, const char *path,
		    int interval_ms, pollwatch_cb, void *arg);
/* Poll now: the number of changes reported, -1 (errno set) on failure. */
int		 pollwatch_check(struct pollwatch *);
void		 pollwatch_free(struct pollwatch *);

/* Did the file change between two stats?  A directory: was it replaced? */
int		 pollwatch_changed(const struct stat *was, const struct stat *now);

int		 pollwatch_mode_parse(const char *, enum pollwatch_mode *);
const char	*pollwatch_mode_name(enum pollwatch_mode);
/*
 * Should path be polled under mode rather than watched by inotify?  1 with
 * the reason in why ("NFS file system", "watch is \"poll\""), else 0.
 */
int		 pollwatch_wanted(enum pollwatch_mode, const char *path,
		    char *why, size_t len);

#endif
