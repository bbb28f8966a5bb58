/*
 * watch: reload when the config file changes.
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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor.h"

static struct {
	int		 fd;
	int		 wd;
	char		 name[NAME_MAX + 1];	/* config file's basename */
	struct event	*ev;
	struct event	*debounce;
} W = { -1, -1, "", NULL, NULL };

static void
watch_fire(int fd, short ev, void *arg)
{
	(void)reload_config("file watch", NULL);
}

static void
watch_read(int fd, short ev, void *arg)
{
	char				 buf[8192]
					    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event	*ie;
	struct timeval			 tv = { 0, SUP_DEBOUNCE_MS * 1000 };
	ssize_t				 n;
	char				*p;
	int				 hit = 0;

	for (;;) {
		n = read(W.fd, buf, sizeof(buf));
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
			    (ie->len > 0 && strcmp(ie->name, W.name) == 0))
				hit = 1;
		}
	}
	if (hit && evtimer_add(W.debounce, &tv) == -1)
		log_warnx("%s: cannot arm the debounce timer", __func__);
}

int
watch_start(const char *path)
{
	char	dir[PATH_MAX], base[PATH_MAX];

	if (strlen(path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(dir, path);
	strcpy(base, path);
	snprintf(W.name, sizeof(W.name), "%s", basename(base));
	if ((W.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return (-1);
	W.wd = inotify_add_watch(W.fd, dirname(dir), IN_CLOSE_WRITE |
	    IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB);
	if (W.wd == -1) {
		watch_stop();
		return (-1);
	}
	W.ev = event_new(sup->base, W.fd, EV_READ | EV_PERSIST, watch_read, NULL);
	W.debounce = evtimer_new(sup->base, watch_fire, NULL);
	if (W.ev == NULL || W.debounce == NULL || event_add(W.ev, NULL) == -1) {
		watch_stop();
		errno = ENOMEM;
		return (-1);
	}
	return (0);
}

void
watch_stop(void)
{
	if (W.ev != NULL)
		event_free(W.ev);
	if (W.debounce != NULL)
		event_free(W.debounce);
	if (W.fd != -1)
		(void)close(W.fd);
	W.ev = W.debounce = NULL;
	W.fd = W.wd = -1;
}
