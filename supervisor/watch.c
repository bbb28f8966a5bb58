/*
 * watch: notice when the config file changes; the caller reloads.
 *
 * We watch the file's directory, not the file: editors save by writing a
 * new file and renaming it over the old one, which a watch on the old inode
 * would never see.  Events for the file's name re-arm a 500 ms trailing
 * debounce, so one save (often several events) is one reload.  inotify can
 * miss changes on some container bind mounts: SIGHUP and `ctl reload` are
 * always there.
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
#include "common/util.h"
#include "supervisor.h"

struct watch {
	int		 fd;
	int		 wd;
	char		 name[NAME_MAX + 1];	/* config file's basename */
	struct event	*ev;
	struct event	*debounce;
	void		(*changed)(void *);
	void		*arg;
};

static void
watch_fire(int fd, short ev, void *arg)
{
	struct watch	*w = arg;

	w->changed(w->arg);
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
	if (hit && util_timer_ms(w->debounce, SUP_DEBOUNCE_MS) == -1)
		log_warnx("%s: cannot arm the debounce timer", __func__);
}

/* Call changed(arg) after a change of path; NULL (errno set) on failure. */
struct watch *
watch_start(struct event_base *base, const char *path,
    void (*changed)(void *), void *arg)
{
	char		 dir[PATH_MAX], base_name[PATH_MAX];
	struct watch	*w;

	if (strlen(path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return (NULL);
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return (NULL);
	w->wd = -1;
	w->changed = changed;
	w->arg = arg;
	strcpy(dir, path);
	strcpy(base_name, path);
	snprintf(w->name, sizeof(w->name), "%s", basename(base_name));
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		free(w);
		return (NULL);
	}
	w->wd = inotify_add_watch(w->fd, dirname(dir), IN_CLOSE_WRITE |
	    IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB);
	if (w->wd == -1) {
		watch_stop(w);
		return (NULL);
	}
	w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, watch_read, w);
	w->debounce = evtimer_new(base, watch_fire, w);
	if (w->ev == NULL || w->debounce == NULL || event_add(w->ev, NULL) == -1) {
		watch_stop(w);
		errno = ENOMEM;
		return (NULL);
	}
	return (w);
}

void
watch_stop(struct watch *w)
{
	if (w == NULL)
		return;
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->debounce != NULL)
		event_free(w->debounce);
	if (w->fd != -1)
		(void)close(w->fd);
	free(w);
}
