/*
 * rtproc: see rtproc.h.
 *
 * The child gets three pipes on fds 0, 1 and 2 and nothing else (spawn.c),
 * a clean signal mask and PR_SET_PDEATHSIG; if sessiond dies it also sees
 * stdin EOF.  Its exit comes through common/pidwatch.c.  stdin and stdout are non-blocking bufferevents; stderr is
 * free text, logged at debug line by line, lines cut at RTPROC_LINE and at
 * most RTPROC_ERR_READ read per wakeup so it cannot starve the loop.
 */
#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/pidwatch.h"
#include "common/spawn.h"
#include "common/util.h"
#include "rtproc.h"

#define RTPROC_LINE		1024
#define RTPROC_ERR_READ		(64 * 1024)
#define RTPROC_READ_HIGH	(1024 * 1024)	/* stdout read watermark */

/* A runtime process, from fork until it is reaped. */
struct rtp {
	TAILQ_ENTRY(rtp)	 entry;
	pid_t			 pid;
	struct pidwatch		*pw;		/* NULL: left to whoever reaps */
};

static struct {
	struct event_base		*base;
	const struct rtproc_events	*ev;
	TAILQ_HEAD(, rtp)		 procs;		/* every child not reaped */
	struct rtp			*cur;		/* the one we talk to */
	struct bufferevent		*in;		/* its stdin */
	struct bufferevent		*out;		/* its stdout */
	int				 infd, outfd, errfd;
	struct event			*errev;
	char				 errline[RTPROC_LINE];
	size_t				 errlen;
} R = {
	.procs = TAILQ_HEAD_INITIALIZER(R.procs),
	.infd = -1, .outfd = -1, .errfd = -1,
};

void
rtproc_init(struct event_base *base, const struct rtproc_events *ev)
{
	R.base = base;
	R.ev = ev;
}

/* -- stderr ------------------------------------------------------------------ */

static void
rtproc_err_flush(void)
{
	if (R.errlen == 0)
		return;
	R.errline[R.errlen] = '\0';
	log_debug("runtime: %s", R.errline);
	R.errlen = 0;
}

static void
rtproc_err_cb(int fd, short what, void *arg)
{
	char	buf[4096];
	ssize_t	n;
	size_t	total = 0, i;

	while (total < RTPROC_ERR_READ) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			rtproc_err_flush();
			if (event_del(R.errev) == -1)
				log_warnx("%s: event_del failed", __func__);
			return;
		}
		total += (size_t)n;
		for (i = 0; i < (size_t)n; i++) {
			if (buf[i] == '\n') {
				rtproc_err_flush();
				continue;
			}
			if (buf[i] == '\r')
				continue;
			if (R.errlen >= sizeof(R.errline) - 1)
				rtproc_err_flush();	/* a long line: in pieces */
			R.errline[R.errlen++] = (unsigned char)buf[i] <
			    0x20 && buf[i] != '\t' ? '?' : buf[i];
		}
	}
}

/* -- the pipes --------------------------------------------------------------- */

static void
rtproc_read_cb(struct bufferevent *bev, void *arg)
{
	R.ev->readable(bufferevent_get_input(bev));
}

static void
rtproc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	int	e = EVUTIL_SOCKET_ERROR();
	char	why[128];

	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "it closed its %s", bev == R.out ?
		    "output" : "input");
	else if (what & BEV_EVENT_ERROR)
		snprintf(why, sizeof(why), "%s error: %s", bev == R.out ?
		    "read" : "write", strerror(e));
	else
		return;
	R.ev->broken(why);
}

/*
 * We close the descriptors ourselves: libevent finalizes a freed
 * bufferevent (and would close its fd) only on the next loop pass, and a
 * runtime asked to go must see stdin EOF now.
 */
static void
rtproc_close_pipes(void)
{
	if (R.in != NULL)
		bufferevent_free(R.in);
	if (R.out != NULL)
		bufferevent_free(R.out);
	R.in = R.out = NULL;
	if (R.infd != -1)
		(void)close(R.infd);
	if (R.outfd != -1)
		(void)close(R.outfd);
	R.infd = R.outfd = -1;
	if (R.errev != NULL) {
		rtproc_err_cb(R.errfd, EV_READ, NULL);	/* its last words */
		event_free(R.errev);
		R.errev = NULL;
	}
	if (R.errfd != -1)
		(void)close(R.errfd);
	R.errfd = -1;
	rtproc_err_flush();
}

static int
rtproc_pipes(const struct spawn *sp)
{
	R.infd = sp->in;
	R.outfd = sp->out;
	R.errfd = sp->err;
	R.errlen = 0;
	if ((R.in = bufferevent_socket_new(R.base, R.infd, 0)) == NULL ||
	    (R.out = bufferevent_socket_new(R.base, R.outfd, 0)) == NULL)
		return (-1);
	bufferevent_setcb(R.in, NULL, NULL, rtproc_event_cb, NULL);
	bufferevent_setcb(R.out, rtproc_read_cb, NULL, rtproc_event_cb, NULL);
	bufferevent_setwatermark(R.out, EV_READ, 0, RTPROC_READ_HIGH);
	if (bufferevent_enable(R.in, EV_WRITE) == -1 ||
	    bufferevent_disable(R.in, EV_READ) == -1 ||
	    bufferevent_enable(R.out, EV_READ) == -1)
		return (-1);
	R.errev = event_new(R.base, R.errfd, EV_READ | EV_PERSIST,
	    rtproc_err_cb, NULL);
	if (R.errev == NULL || event_add(R.errev, NULL) == -1)
		return (-1);
	return (0);
}

/* -- the processes ----------------------------------------------------------- */

static void
rtproc_free(struct rtp *p)
{
	TAILQ_REMOVE(&R.procs, p, entry);
	pidwatch_free(p->pw);
	if (R.cur == p)
		R.cur = NULL;
	free(p);
}

static void
rtproc_exited(pid_t pid, int status, void *arg)
{
	struct rtp	*p = arg;
	int		 current = R.cur == p;
	char		 st[96];

	util_wait_status(status, st, sizeof(st));
	rtproc_free(p);
	R.ev->exited(pid, st, current);
}

int
rtproc_start(const char *path, char *const envp[])
{
	char		*argv[] = { (char *)path, "--headless", "--no-auto-update",
			    "--stdio", NULL };
	struct spawn	 sp;
	struct rtp	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_warn("%s: calloc", __func__);
		return (-1);
	}
	memset(&sp, 0, sizeof(sp));
	sp.argv = argv;
	sp.envp = envp;
	sp.deathsig = SIGTERM;
	if (spawn_piped(&sp) == -1) {
		free(p);
		return (-1);
	}
	p->pid = sp.pid;
	TAILQ_INSERT_TAIL(&R.procs, p, entry);
	R.cur = p;
	if ((p->pw = pidwatch_new(R.base, p->pid, 0, rtproc_exited, p)) == NULL)
		log_warnx("runtime pid %ld is not watched; its exit is seen "
		    "on its pipes only", (long)p->pid);
	if (rtproc_pipes(&sp) == -1)
		return (1);
	log_info("started %s (pid %ld)", path, (long)p->pid);
	return (0);
}

int
rtproc_write(const void *buf, size_t len)
{
	if (R.in == NULL)
		return (-1);
	return (bufferevent_write(R.in, buf, len));
}

size_t
rtproc_queued(void)
{
	return (R.in != NULL ? evbuffer_get_length(bufferevent_get_output(R.in)) :
	    0);
}

void
rtproc_release(int sig)
{
	rtproc_close_pipes();
	if (R.cur == NULL)
		return;
	if (sig != 0 && kill(R.cur->pid, sig) == -1 && errno != ESRCH)
		log_warn("%s: kill %ld", __func__, (long)R.cur->pid);
	R.cur = NULL;			/* reaped by its watcher */
}

pid_t
rtproc_pid(void)
{
	return (R.cur != NULL ? R.cur->pid : -1);
}

int
rtproc_running(void)
{
	return (!TAILQ_EMPTY(&R.procs));
}

void
rtproc_kill_all(int sig)
{
	struct rtp	*p;

	TAILQ_FOREACH(p, &R.procs, entry)
		(void)kill(p->pid, sig);
}

/* Close the pipes; what still runs stays watched until it is reaped. */
void
rtproc_shutdown(void)
{
	rtproc_close_pipes();
}
