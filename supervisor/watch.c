/*
 * watch: notice when the config file changes; the caller reloads.
 *
 * With inotify we watch the file's directory, not the file: editors save by
 * writing a new file and renaming it over the old one, which a watch on the
 * old inode would never see.  Where inotify cannot see a change (the config
 * `watch` key, common/pollwatch.h) the file itself is polled instead; stat
 * follows symlinks, so a mounted ConfigMap's swapped link is seen too.
 * Either way each change re-arms a 500 ms trailing debounce, so one save
 * (often several events) is one reload.  SIGHUP and `ctl reload` are always
 * there.
 */
#include <sys/inotify.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pollwatch.h"
#include "common/util.h"
#include "supervisor.h"

struct watch {
	struct event_base	*base;
	char			 path[PATH_MAX];
	char			 name[NAME_MAX + 1];	/* its basename */
	enum pollwatch_mode	 mode;
	int			 interval_ms;
	int			 fd;		/* inotify, or -1 */
	struct event		*ev;		/* on fd */
	struct pollwatch	*pw;		/* or polled */
	struct event		*debounce;
	void			(*changed)(void *);
	void			*arg;
};

static void
watch_fire(int fd, short ev, void *arg)
{
	struct watch	*w = arg;

	w->changed(w->arg);
}

static void
watch_hit(struct watch *w)
{
	if (util_timer_ms(w->debounce, SUP_DEBOUNCE_MS) == -1)
		log_warnx("%s: cannot arm the debounce timer", __func__);
}

static void
watch_read(int fd, short ev, void *arg)
{
	char				 buf[8192]
					    __attribute__((aligned(__alignof__(struct inotify_event))));
	struct watch			*w = arg;
	const struct inotify_event	*ie;
	ssize_t				 n;
	char				*p;
	int				 hit = 0;

	for (;;) {
		n = read(w->fd, buf, sizeof(buf));
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("%s: read", __func__);
			break;
		}
		if (n == 0)
			break;
		for (p = buf; p < buf + n; p += sizeof(*ie) + ie->len) {
			ie = (const struct inotify_event *)(void *)p;
			if ((ie->mask & IN_Q_OVERFLOW) != 0 ||
			    (ie->len > 0 && strcmp(ie->name, w->name) == 0))
				hit = 1;
		}
	}
	if (hit)
		watch_hit(w);
}

static void
watch_polled(const char *name, void *arg)
{
	watch_hit(arg);
}

static void
watch_disarm(struct watch *w)
{
	if (w->ev != NULL)
		event_free(w->ev);
	w->ev = NULL;
	if (w->fd != -1)
		(void)close(w->fd);
	w->fd = -1;
	pollwatch_free(w->pw);
	w->pw = NULL;
}

/* An inotify watch on the file's directory; -1 (errno set) if refused. */
static int
watch_inotify(struct watch *w)
{
	char	dir[PATH_MAX];
	int	saved;

	(void)strcpy(dir, w->path);	/* same size */
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return (-1);
	if (inotify_add_watch(w->fd, dirname(dir), IN_CLOSE_WRITE |
	    IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) == -1) {
		saved = errno;
		watch_disarm(w);
		errno = saved;
		return (-1);
	}
	w->ev = event_new(w->base, w->fd, EV_READ | EV_PERSIST, watch_read, w);
	if (w->ev == NULL || event_add(w->ev, NULL) == -1) {
		watch_disarm(w);
		errno = ENOMEM;
		return (-1);
	}
	return (0);
}

static void
watch_poll(struct watch *w, const char *why)
{
	if ((w->pw = pollwatch_new(w->base, w->path, w->interval_ms,
	    watch_polled, w)) == NULL)
		log_warn("cannot poll %s for changes; use SIGHUP or ctl "
		    "reload", w->path);
	else
		log_info("config watch: polling every %d ms (%s)",
		    w->interval_ms, why);
}

/* Watch by the mode: poll where inotify cannot see, or when it refuses. */
static void
watch_arm(struct watch *w)
{
	char	why[128];

	if (pollwatch_wanted(w->mode, w->path, why, sizeof(why))) {
		watch_poll(w, why);
		return;
	}
	if (watch_inotify(w) == 0) {
		log_info("config watch: inotify (%s)", w->mode ==
		    POLLWATCH_AUTO ? "local file system" : "watch is \"inotify\"");
		return;
	}
	if (w->mode == POLLWATCH_INOTIFY) {
		log_warn("cannot watch %s for changes; use SIGHUP or ctl reload",
		    w->path);
		return;
	}
	snprintf(why, sizeof(why), "inotify: %s", strerror(errno));
	watch_poll(w, why);
}

/* Call changed(arg) after a change of path; NULL (errno set) on failure. */
struct watch *
watch_start(struct event_base *base, const char *path,
    enum pollwatch_mode mode, int interval_ms, void (*changed)(void *),
    void *arg)
{
	char		 base_name[PATH_MAX];
	struct watch	*w;

	if (strlen(path) >= sizeof(w->path)) {
		errno = ENAMETOOLONG;
		return (NULL);
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return (NULL);
	w->base = base;
	w->fd = -1;
	w->mode = mode;
	w->interval_ms = interval_ms;
	w->changed = changed;
	w->arg = arg;
	(void)strcpy(w->path, path);
	(void)strcpy(base_name, path);
	snprintf(w->name, sizeof(w->name), "%s", basename(base_name));
	if ((w->debounce = evtimer_new(base, watch_fire, w)) == NULL) {
		free(w);
		errno = ENOMEM;
		return (NULL);
	}
	watch_arm(w);
	return (w);
}

/*
 * The config's watch settings, after a reload: a changed mode or interval
 * re-arms the watch.  Safe from the debounce's callback, which stays.
 */
void
watch_config(struct watch *w, enum pollwatch_mode mode, int interval_ms)
{
	if (w == NULL || (w->mode == mode && w->interval_ms == interval_ms))
		return;
	w->mode = mode;
	w->interval_ms = interval_ms;
	watch_disarm(w);
	watch_arm(w);
}

void
watch_stop(struct watch *w)
{
	if (w == NULL)
		return;
	watch_disarm(w);
	if (w->debounce != NULL)
		event_free(w->debounce);
	free(w);
}
