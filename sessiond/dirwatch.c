/*
 * dirwatch: notice saves of the files a channel's session is built from
 * (hooks.json, mcp-config.json, *.agent.md, skills, AGENTS.local.md) and
 * tell their owners, once per burst.
 *
 * One inotify descriptor for sessiond.  A directory is watched once however
 * many owners use it (refcounted by watch descriptor, so two paths to one
 * directory share it too), and the watch goes when the last owner using it
 * lets go: creating and dropping workspaces leaks nothing.  Directories are
 * watched, not files, because editors save by writing a new file and
 * renaming it over the old one, which a watch on the file would lose.  An
 * owner says, per directory, which names in it matter to it.
 *
 * Each owner has a trailing debounce timer: every relevant event pushes it
 * back DIRWATCH_DEBOUNCE_MS, so a burst of writes is one reload.
 *
 * Where inotify cannot see a change (the config's `watch`, and
 * common/pollwatch.h) a directory is polled instead; a polled directory
 * reports changed entries by name as inotify does, and is shared by device
 * and inode as a watched one is by watch descriptor.  A change of `watch` or
 * `watchIntervalMs` marks every directory stale and takes each owner's
 * directories again under the new settings, new before old as in
 * dirwatch_set().
 */
#include <sys/inotify.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/pollwatch.h"
#include "common/util.h"
#include "sessiond.h"

#define DIRWATCH_DEBOUNCE_MS	500
#define DIRWATCH_MASK		(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
				IN_CREATE | IN_DELETE | IN_DELETE_SELF | \
				IN_MOVE_SELF | IN_ONLYDIR)

struct hw_dir {
	TAILQ_ENTRY(hw_dir)	 entry;
	int			 wd;		/* -1: polled, or the kernel dropped it */
	struct pollwatch	*pw;		/* polled: by this */
	dev_t			 dev;		/* polled: which directory */
	ino_t			 ino;
	int			 stale;		/* armed before a change of watch */
	int			 refs;
	char			*path;		/* the first path it was added by */
};

struct hw_sub {
	TAILQ_ENTRY(hw_sub)	 entry;
	void			*owner;
	dirwatch_cb		 cb;
	struct hw_dir		**dirs;
	dirwatch_match		*match;		/* per dir; NULL: every name */
	size_t			 ndirs;
	struct event		*timer;
};

static struct {
	struct event_base	*base;
	int			 fd;
	struct event		*ev;
	enum pollwatch_mode	 mode;
	int			 interval_ms;
	int			 configured;	/* dirwatch_config() was called */
	TAILQ_HEAD(, hw_dir)	 dirs;
	TAILQ_HEAD(, hw_sub)	 subs;
} hw = {
	.fd = -1,
	.mode = POLLWATCH_AUTO,
	.interval_ms = POLLWATCH_INTERVAL_MS,
	.dirs = TAILQ_HEAD_INITIALIZER(hw.dirs),
	.subs = TAILQ_HEAD_INITIALIZER(hw.subs),
};

static void
hw_fire(struct hw_sub *s)
{
	struct timeval	tv = { DIRWATCH_DEBOUNCE_MS / 1000,
			    (DIRWATCH_DEBOUNCE_MS % 1000) * 1000 };

	if (event_add(s->timer, &tv) == -1)
		log_warnx("dirwatch: cannot arm a timer");
}

/* Tell the owners of d to whom the change of name (NULL: d) matters. */
static void
hw_fire_dir(const struct hw_dir *d, const char *name)
{
	struct hw_sub	*s;
	size_t		 i;

	TAILQ_FOREACH(s, &hw.subs, entry)
		for (i = 0; i < s->ndirs; i++)
			if (s->dirs[i] == d && (name == NULL ||
			    s->match[i] == NULL || s->match[i](name))) {
				hw_fire(s);
				break;
			}
}

static struct hw_dir *
hw_dir_by_wd(int wd)
{
	struct hw_dir	*d;

	TAILQ_FOREACH(d, &hw.dirs, entry)
		if (d->wd == wd)
			return (d);
	return (NULL);
}

static void
hw_read_cb(int fd, short what, void *arg)
{
	char			 buf[16 * (sizeof(struct inotify_event) +
				    NAME_MAX + 1)]
				    __attribute__((aligned(__alignof__(struct
				    inotify_event))));
	const struct inotify_event *ie;
	struct hw_dir		*d;
	struct hw_sub		*s;
	ssize_t			 n;
	char			*p;

	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("dirwatch: read");
			return;
		}
		if (n == 0)
			return;
		for (p = buf; p < buf + n;
		    p += sizeof(struct inotify_event) + ie->len) {
			ie = (const struct inotify_event *)p;
			if (ie->mask & IN_Q_OVERFLOW) {
				log_info("dirwatch: events lost; reloading "
				    "every watched channel's hooks");
				TAILQ_FOREACH(s, &hw.subs, entry)
					hw_fire(s);
				continue;
			}
			if ((d = hw_dir_by_wd(ie->wd)) == NULL)
				continue;
			if (ie->mask & IN_IGNORED)
				d->wd = -1;	/* removed, or its fs went */
			hw_fire_dir(d, (ie->mask & IN_IGNORED) ||
			    ie->len == 0 ? NULL : ie->name);
		}
	}
}

static int
hw_open(void)
{
	if (hw.fd != -1)
		return (0);
	if ((hw.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return (-1);
	hw.ev = event_new(hw.base, hw.fd, EV_READ | EV_PERSIST, hw_read_cb,
	    NULL);
	if (hw.ev == NULL || event_add(hw.ev, NULL) == -1) {
		if (hw.ev != NULL)
			event_free(hw.ev);
		hw.ev = NULL;
		(void)close(hw.fd);
		hw.fd = -1;
		errno = ENOMEM;
		return (-1);
	}
	return (0);
}

static struct hw_dir *
hw_dir_new(const char *path)
{
	struct hw_dir	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->path = strdup(path)) == NULL) {
		free(d);
		return (NULL);
	}
	d->wd = -1;
	d->refs = 1;
	TAILQ_INSERT_TAIL(&hw.dirs, d, entry);
	return (d);
}

static void	hw_dir_put(struct hw_dir *);

static void
hw_polled(const char *name, void *arg)
{
	hw_fire_dir(arg, name);
}

/* A directory polled, shared with an owner polling the same one. */
static struct hw_dir *
hw_dir_poll(const char *path, const char *why)
{
	struct hw_dir	*d;
	struct stat	 st;

	if (stat(path, &st) == -1) {
		log_warn("dirwatch: cannot watch %s", path);
		return (NULL);
	}
	TAILQ_FOREACH(d, &hw.dirs, entry)
		if (d->pw != NULL && !d->stale && d->dev == st.st_dev &&
		    d->ino == st.st_ino) {
			d->refs++;
			return (d);
		}
	if ((d = hw_dir_new(path)) == NULL)
		return (NULL);
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	if ((d->pw = pollwatch_new(hw.base, path, hw.interval_ms, hw_polled,
	    d)) == NULL) {
		log_warn("dirwatch: cannot poll %s", path);
		hw_dir_put(d);
		return (NULL);
	}
	log_info("workspace watch: polling %s every %d ms (%s)", path,
	    hw.interval_ms, why);
	return (d);
}

/* A directory watched by inotify, or polled where it cannot see. */
static struct hw_dir *
hw_dir_get(const char *path)
{
	struct hw_dir	*d;
	char		 why[128];
	int		 wd;

	if (pollwatch_wanted(hw.mode, path, why, sizeof(why)))
		return (hw_dir_poll(path, why));
	if (hw_open() == -1 ||
	    (wd = inotify_add_watch(hw.fd, path, DIRWATCH_MASK)) == -1) {
		if (hw.mode == POLLWATCH_INOTIFY) {
			log_warn("dirwatch: cannot watch %s", path);
			return (NULL);
		}
		snprintf(why, sizeof(why), "inotify: %s", strerror(errno));
		return (hw_dir_poll(path, why));
	}
	if ((d = hw_dir_by_wd(wd)) != NULL) {
		if (!d->stale) {
			d->refs++;
			return (d);
		}
		d->wd = -1;	/* the kernel's one watch passes to the new */
	}
	if ((d = hw_dir_new(path)) == NULL) {
		(void)inotify_rm_watch(hw.fd, wd);
		return (NULL);
	}
	d->wd = wd;
	log_debug("workspace watch: inotify on %s", path);
	return (d);
}

static void
hw_dir_put(struct hw_dir *d)
{
	if (--d->refs > 0)
		return;
	/* EINVAL: the kernel dropped it already (IN_IGNORED on its way). */
	if (d->wd != -1 && inotify_rm_watch(hw.fd, d->wd) == -1 &&
	    errno != EINVAL)
		log_warn("dirwatch: inotify_rm_watch %s", d->path);
	pollwatch_free(d->pw);
	TAILQ_REMOVE(&hw.dirs, d, entry);
	free(d->path);
	free(d);
}

static void
hw_timer_cb(int fd, short what, void *arg)
{
	struct hw_sub	*s = arg;

	s->cb(s->owner);
}

static struct hw_sub *
hw_sub_find(const void *owner)
{
	struct hw_sub	*s;

	TAILQ_FOREACH(s, &hw.subs, entry)
		if (s->owner == owner)
			return (s);
	return (NULL);
}

void
dirwatch_init(struct event_base *base)
{
	hw.base = base;
}

/*
 * Watch dirs for owner, replacing what it watched.  The new watches are
 * taken before the old are dropped, so a directory in both is never
 * unwatched in between.  -1 (logged) if any could not be watched; the
 * others are.
 */
int
dirwatch_set(void *owner, const struct dirwatch_dir *dirs, size_t ndirs,
    dirwatch_cb cb)
{
	struct hw_sub	*s;
	struct hw_dir	**nd = NULL, **od;
	dirwatch_match	*nm = NULL;
	size_t		 i, n = 0, on;
	int		 rc = 0;

	if (hw.base == NULL)
		return (-1);
	if ((s = hw_sub_find(owner)) == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL ||
		    (s->timer = evtimer_new(hw.base, hw_timer_cb, s)) == NULL) {
			free(s);
			return (-1);
		}
		s->owner = owner;
		TAILQ_INSERT_TAIL(&hw.subs, s, entry);
	}
	s->cb = cb;
	if (ndirs > 0 && ((nd = calloc(ndirs, sizeof(*nd))) == NULL ||
	    (nm = calloc(ndirs, sizeof(*nm))) == NULL)) {
		free(nd);
		return (-1);
	}
	for (i = 0; i < ndirs; i++)
		if ((nd[n] = hw_dir_get(dirs[i].path)) != NULL)
			nm[n++] = dirs[i].match;
		else
			rc = -1;
	od = s->dirs;
	on = s->ndirs;
	free(s->match);
	s->dirs = nd;
	s->match = nm;
	s->ndirs = n;
	for (i = 0; i < on; i++)
		hw_dir_put(od[i]);
	free(od);
	return (rc);
}

/* Take s's directories again under the current settings. */
static void
hw_sub_rearm(struct hw_sub *s)
{
	struct dirwatch_dir	*d;
	size_t			 i, n = s->ndirs;

	if (n == 0)
		return;
	if ((d = calloc(n, sizeof(*d))) == NULL) {
		log_warnx("dirwatch: out of memory; an owner keeps its old "
		    "watches");
		return;
	}
	for (i = 0; i < n; i++) {
		d[i].path = s->dirs[i]->path;	/* alive until put, after */
		d[i].match = s->match[i];
	}
	(void)dirwatch_set(s->owner, d, n, s->cb);
	free(d);
}

/*
 * The config's watch and watchIntervalMs.  A change re-arms every directory:
 * the old are marked stale, so that no lookup shares them, and each owner
 * takes its directories again.
 */
void
dirwatch_config(enum pollwatch_mode mode, int interval_ms)
{
	struct hw_dir	*d;
	struct hw_sub	*s;

	if (hw.configured && mode == hw.mode && interval_ms == hw.interval_ms)
		return;
	hw.configured = 1;
	hw.mode = mode;
	hw.interval_ms = interval_ms;
	if (mode == POLLWATCH_POLL)
		log_info("workspace watch: polling every %d ms (watch is "
		    "\"poll\")", interval_ms);
	else if (mode == POLLWATCH_INOTIFY)
		log_info("workspace watch: inotify (watch is \"inotify\")");
	else
		log_info("workspace watch: inotify, polling every %d ms where "
		    "the file system is remote or inotify refuses (watch is "
		    "\"auto\")", interval_ms);
	TAILQ_FOREACH(d, &hw.dirs, entry)
		d->stale = 1;
	TAILQ_FOREACH(s, &hw.subs, entry)
		hw_sub_rearm(s);
}

void
dirwatch_remove(void *owner)
{
	struct hw_sub	*s;
	size_t		 i;

	if ((s = hw_sub_find(owner)) == NULL)
		return;
	TAILQ_REMOVE(&hw.subs, s, entry);
	for (i = 0; i < s->ndirs; i++)
		hw_dir_put(s->dirs[i]);
	free(s->dirs);
	free(s->match);
	event_free(s->timer);
	free(s);
}

size_t
dirwatch_count(void)
{
	struct hw_dir	*d;
	size_t		 n = 0;

	TAILQ_FOREACH(d, &hw.dirs, entry)
		n++;
	return (n);
}

void
dirwatch_shutdown(void)
{
	while (!TAILQ_EMPTY(&hw.subs))
		dirwatch_remove(TAILQ_FIRST(&hw.subs)->owner);
	if (hw.ev != NULL)
		event_free(hw.ev);
	hw.ev = NULL;
	if (hw.fd != -1)
		(void)close(hw.fd);
	hw.fd = -1;
}
