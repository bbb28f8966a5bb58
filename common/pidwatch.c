/*
 * pidwatch: see pidwatch.h.
 *
 * Every live watch is on one list, so that a reaper of orphans can tell our
 * own children (whose status their watch needs) from strays: it looks at a
 * zombie with WNOWAIT before it reaps anything.
 */
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "pidwatch.h"
#include "util.h"

#define PIDWATCH_ORPHANS_MAX	1024	/* reaped per call, a bound */

struct pidwatch {
	TAILQ_ENTRY(pidwatch)	 entry;		/* on pw_live until reaped */
	pid_t			 pid;
	int			 flags;
	int			 pidfd;		/* -1: polled */
	int			 done;		/* reaped (or given up) */
	struct event		*ev;
	pidwatch_cb		 cb;
	void			*arg;
};

static TAILQ_HEAD(, pidwatch)	pw_live = TAILQ_HEAD_INITIALIZER(pw_live);

static void
pidwatch_disarm(struct pidwatch *w)
{
	if (w->ev != NULL) {
		if (event_del(w->ev) == -1)
			log_warnx("%s: event_del for pid %ld", __func__,
			    (long)w->pid);
		event_free(w->ev);
		w->ev = NULL;
	}
	if (w->pidfd != -1)
		(void)close(w->pidfd);
	w->pidfd = -1;
	if (!w->done)
		TAILQ_REMOVE(&pw_live, w, entry);
	w->done = 1;
}

/* Has it exited?  1 yes, 0 no, -1 it is not ours to wait for (ECHILD). */
static int
pidwatch_exited(struct pidwatch *w)
{
	siginfo_t	si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG |
	    WNOWAIT) == -1) {
		if (errno != EINTR)
			return (-1);
	}
	return (si.si_pid != 0);
}

int
pidwatch_reap(struct pidwatch *w)
{
	pid_t	r;
	int	status = -1, ex;

	if (w->done)
		return (1);
	if ((ex = pidwatch_exited(w)) == 0)
		return (0);
	if (ex == 1) {
		/*
		 * While the zombie holds its group's id, a kill of the group
		 * cannot reach a recycled pid: stragglers go now.
		 */
		if ((w->flags & PIDWATCH_KILLGROUP) != 0)
			(void)kill(-w->pid, SIGKILL);
		do
			r = waitpid(w->pid, &status, WNOHANG);
		while (r == -1 && errno == EINTR);
		if (r == 0)
			return (0);
		if (r == -1)
			status = -1;
	}
	pidwatch_disarm(w);
	/* Nothing of w is touched after this: the callback may free it. */
	w->cb(w->pid, status, w->arg);
	return (1);
}

static void
pidwatch_event(int fd, short ev, void *arg)
{
	(void)pidwatch_reap(arg);
}

struct pidwatch *
pidwatch_new(struct event_base *base, pid_t pid, int flags, pidwatch_cb cb,
    void *arg)
{
	struct pidwatch	*w;
	struct timeval	 tv = { 0, PIDWATCH_POLL_MS * 1000 };
	int		 rc;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_warn("%s: calloc", __func__);
		return (NULL);
	}
	w->pid = pid;
	w->flags = flags;
	w->cb = cb;
	w->arg = arg;
	w->pidfd = -1;
	if ((flags & PIDWATCH_POLL) == 0 &&
	    (w->pidfd = pidfd_open(pid, 0)) == -1)
		log_debug("%s: pidfd_open %ld: %s; polling it", __func__,
		    (long)pid, strerror(errno));
	if (w->pidfd != -1) {
		w->ev = event_new(base, w->pidfd, EV_READ | EV_PERSIST,
		    pidwatch_event, w);
		rc = w->ev != NULL ? event_add(w->ev, NULL) : -1;
	} else {
		w->ev = event_new(base, -1, EV_PERSIST, pidwatch_event, w);
		rc = w->ev != NULL ? event_add(w->ev, &tv) : -1;
	}
	TAILQ_INSERT_TAIL(&pw_live, w, entry);
	if (rc == -1) {
		log_warnx("%s: cannot watch pid %ld", __func__, (long)pid);
		pidwatch_free(w);
		return (NULL);
	}
	return (w);
}

int
pidwatch_fd(const struct pidwatch *w)
{
	return (w->pidfd);
}

pid_t
pidwatch_pid(const struct pidwatch *w)
{
	return (w->pid);
}

void
pidwatch_free(struct pidwatch *w)
{
	if (w == NULL)
		return;
	pidwatch_disarm(w);
	free(w);
}

static struct pidwatch *
pidwatch_find(pid_t pid)
{
	struct pidwatch	*w;

	TAILQ_FOREACH(w, &pw_live, entry)
		if (w->pid == pid)
			return (w);
	return (NULL);
}

int
pidwatch_reap_orphans(void)
{
	struct pidwatch	*w;
	siginfo_t	 si;
	int		 i, n = 0;

	for (i = 0; i < PIDWATCH_ORPHANS_MAX; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1) {
			if (errno == EINTR)
				continue;
			break;			/* ECHILD: no child at all */
		}
		if (si.si_pid == 0)
			break;			/* none has exited */
		if ((w = pidwatch_find(si.si_pid)) != NULL) {
			if (pidwatch_reap(w) == 0)
				break;		/* cannot happen: it is a zombie */
			continue;
		}
		if (waitpid(si.si_pid, NULL, WNOHANG) == si.si_pid) {
			log_debug("reaped orphan pid %ld", (long)si.si_pid);
			n++;
		}
	}
	return (n);
}
