/*
 * ipc channel: one SOCK_SEQPACKET end driven by libevent, with a send queue.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc.h"

#define IPC_READ_BATCH	64	/* messages per readable event, for fairness */

struct ipc_out {
	TAILQ_ENTRY(ipc_out)	 entry;
	int			 fd;	/* descriptor to pass (our dup), or -1 */
	size_t			 len;
	uint8_t			 buf[];
};

struct ipc_chan {
	int			 fd;
	struct event		*rev;
	struct event		*wev;
	TAILQ_HEAD(, ipc_out)	 outq;
	size_t			 nout;
	size_t			 outbytes;	/* bytes in outq */
	uint32_t		 seq;
	char			 peer[128];
	ipc_msg_cb		 msg_cb;
	ipc_close_cb		 close_cb;
	void			*arg;
	int			 in_cb;		/* inside a callback: defer free */
	int			 dead;		/* closed; waiting to be freed */
	int			 free_me;	/* freed during a callback */
	int			 broken;	/* a send failed: closing in the loop */
	char			 why[128];	/* why it broke */
};

static uint8_t	ipc_rbuf[IPC_HDR_LEN + IPC_BODY_MAX + 1];

static void	ipc_read_cb(int, short, void *);
static void	ipc_write_cb(int, short, void *);
static int	ipc_flush(struct ipc_chan *);
static int	ipc_leave(struct ipc_chan *);

struct ipc_chan *
ipc_chan_new(struct event_base *base, int fd, const char *peer,
    ipc_msg_cb msg_cb, ipc_close_cb close_cb, void *arg)
{
	struct ipc_chan	*ch;

	if (util_set_nonblock(fd) == -1)
		return (NULL);
	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return (NULL);
	ch->fd = fd;
	TAILQ_INIT(&ch->outq);
	snprintf(ch->peer, sizeof(ch->peer), "%s", peer);
	ch->msg_cb = msg_cb;
	ch->close_cb = close_cb;
	ch->arg = arg;
	ch->rev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_read_cb, ch);
	ch->wev = event_new(base, fd, EV_WRITE, ipc_write_cb, ch);
	if (ch->rev == NULL || ch->wev == NULL || event_add(ch->rev, NULL) == -1) {
		if (ch->rev != NULL)
			event_free(ch->rev);
		if (ch->wev != NULL)
			event_free(ch->wev);
		free(ch);
		return (NULL);
	}
	return (ch);
}

void
ipc_chan_set_peer(struct ipc_chan *ch, const char *peer, pid_t pid)
{
	snprintf(ch->peer, sizeof(ch->peer), "%s pid %ld", peer, (long)pid);
}

const char *
ipc_chan_peer(const struct ipc_chan *ch)
{
	return (ch->peer);
}

uint32_t
ipc_last_seq(const struct ipc_chan *ch)
{
	return (ch->seq);
}

size_t
ipc_queued(const struct ipc_chan *ch)
{
	return (ch->nout);
}

/*
 * 1 when messages from the peer wait to be read: it is ahead of us, and a
 * producer of work for it can hold back until we have caught up.
 */
int
ipc_backlog(const struct ipc_chan *ch)
{
	struct pollfd	pfd;

	pfd.fd = ch->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return (!ch->dead && poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & POLLIN) != 0);
}

static void
ipc_drop_queue(struct ipc_chan *ch)
{
	struct ipc_out	*o;

	while ((o = TAILQ_FIRST(&ch->outq)) != NULL) {
		TAILQ_REMOVE(&ch->outq, o, entry);
		if (o->fd != -1)
			(void)close(o->fd);
		free(o);
	}
	ch->nout = 0;
	ch->outbytes = 0;
}

/* Stop all I/O, close the socket and tell the owner, once. */
static void
ipc_shut(struct ipc_chan *ch, const char *why)
{
	if (ch->dead)
		return;
	ch->dead = 1;
	if (event_del(ch->rev) == -1 || event_del(ch->wev) == -1)
		log_warnx("ipc: %s: cannot stop watching the socket", ch->peer);
	ipc_drop_queue(ch);
	(void)close(ch->fd);
	ch->fd = -1;
	if (ch->close_cb != NULL) {
		ch->in_cb++;
		ch->close_cb(ch, why, ch->arg);
		/*
		 * Outside any other callback (a failed send), a free asked for
		 * by close_cb happens now: callers touch ch no more after a -1.
		 */
		(void)ipc_leave(ch);
	}
}

void
ipc_chan_free(struct ipc_chan *ch)
{
	if (ch == NULL)
		return;
	if (ch->in_cb > 0) {
		/* Freed from inside one of its callbacks: finish there. */
		ch->close_cb = NULL;
		ipc_shut(ch, "freed");
		ch->free_me = 1;
		return;
	}
	ch->close_cb = NULL;
	ipc_shut(ch, "freed");
	event_free(ch->rev);
	event_free(ch->wev);
	free(ch);
}

/* Leave a callback; free the channel if that callback asked for it. */
static int
ipc_leave(struct ipc_chan *ch)
{
	if (--ch->in_cb == 0 && ch->free_me) {
		event_free(ch->rev);
		event_free(ch->wev);
		free(ch);
		return (-1);
	}
	return (ch->dead || ch->broken ? -1 : 0);
}

/*
 * One datagram from socket s into buf, with the descriptor that came with
 * it in *fd (-1: none).  Returns its length, 0 when the peer closed, -1 on
 * an error (EAGAIN included: errno says) or a malformed datagram (errno
 * EPROTO, why says).
 */
ssize_t
ipc_recvmsg(int s, void *buf, size_t len, int *fd, int flags, char *why,
    size_t whylen)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
	}		 cmsgbuf;
	ssize_t		 n;
	int		 nfds, i, *fds, saved;

	*fd = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsgbuf.buf;
	mh.msg_controllen = sizeof(cmsgbuf.buf);
	if ((n = recvmsg(s, &mh, flags | MSG_CMSG_CLOEXEC)) == -1) {
		saved = errno;
		snprintf(why, whylen, "recvmsg: %s", strerror(errno));
		errno = saved;
		return (-1);
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		fds = (int *)(void *)CMSG_DATA(cm);
		for (i = 0; i < nfds; i++) {
			if (*fd == -1)
				*fd = fds[i];
			else {
				/* More than one descriptor is never sent. */
				(void)close(fds[i]);
				snprintf(why, whylen, "several descriptors");
				n = -1;
			}
		}
	}
	if (n != -1 && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
		snprintf(why, whylen, "truncated message");
		n = -1;
	}
	if (n == -1 && *fd != -1) {
		(void)close(*fd);
		*fd = -1;
	}
	if (n == -1)
		errno = EPROTO;
	return (n);
}

/*
 * What ipc_recvmsg() gave (n bytes in ipc_rbuf, descriptor fd) as a
 * message: 1, or -1 when the peer closed (n 0) or sent a bad one.
 */
static int
ipc_take(ssize_t n, int fd, struct ipc_msg *msg, char *why, size_t whylen)
{
	if (n == 0)
		snprintf(why, whylen, "peer closed the channel");
	if (n <= 0)
		return (-1);
	if (ipc_decode(ipc_rbuf, (size_t)n, fd, msg, why, whylen) == -1) {
		if (fd != -1)
			(void)close(fd);
		return (-1);
	}
	return (1);
}

/*
 * Receive one datagram.  Returns 1 with a message, 0 when the socket is
 * drained, -1 when the channel was closed (reason in why).
 */
static int
ipc_recv(struct ipc_chan *ch, struct ipc_msg *msg, char *why, size_t whylen)
{
	ssize_t	n;
	int	fd;

	n = ipc_recvmsg(ch->fd, ipc_rbuf, sizeof(ipc_rbuf), &fd, MSG_DONTWAIT,
	    why, whylen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return (0);
	return (ipc_take(n, fd, msg, why, whylen));
}

static void
ipc_read_cb(int fd, short ev, void *arg)
{
	struct ipc_chan	*ch = arg;
	struct ipc_msg	 msg;
	char		 why[256];
	int		 i, r;

	ch->in_cb++;
	for (i = 0; i < IPC_READ_BATCH && !ch->dead; i++) {
		r = ipc_recv(ch, &msg, why, sizeof(why));
		if (r == 0)
			break;
		if (r == -1) {
			if (strcmp(why, "peer closed the channel") == 0)
				log_info("ipc: %s: %s", ch->peer, why);
			else
				log_warnx("ipc: %s: rejected: %s; closing the channel",
				    ch->peer, why);
			ipc_shut(ch, why);
			break;
		}
		ch->msg_cb(ch, &msg, ch->arg);
		ipc_msg_clear(&msg);
	}
	(void)ipc_leave(ch);
}

/*
 * A send failed.  The channel refuses further sends at once, but is closed
 * (close_cb) from the loop, never from inside ipc_send(): the sender may be
 * the owner's own message handler, which must not see its state freed under
 * it.
 */
static void
ipc_fail(struct ipc_chan *ch, const char *why)
{
	if (ch->broken || ch->dead)
		return;
	log_warnx("ipc: %s: %s", ch->peer, why);
	ch->broken = 1;
	snprintf(ch->why, sizeof(ch->why), "%s", why);
	ipc_drop_queue(ch);
	if (event_del(ch->wev) == -1)
		log_warnx("ipc: %s: cannot stop watching the socket", ch->peer);
	event_active(ch->wev, EV_WRITE, 0);
}

static void
ipc_write_cb(int fd, short ev, void *arg)
{
	struct ipc_chan	*ch = arg;

	ch->in_cb++;
	if (ch->broken)
		ipc_shut(ch, ch->why);
	else if (ipc_flush(ch) == 1 && !ch->dead &&
	    event_add(ch->wev, NULL) == -1)
		ipc_shut(ch, "cannot wait for the socket to be writable");
	(void)ipc_leave(ch);
}

/* One datagram out of socket s, with descriptor fd unless it is -1. */
ssize_t
ipc_sendmsg(int s, const void *buf, size_t len, int fd, int flags)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct cmsghdr	*cm;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof(cmsgbuf.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return (sendmsg(s, &mh, flags | MSG_NOSIGNAL));
}

/*
 * Write queued messages until the socket would block.  Returns 0 when the
 * queue is empty, 1 when some remain, -1 when the channel was closed.
 */
static int
ipc_flush(struct ipc_chan *ch)
{
	struct ipc_out	*o;
	char		 why[128];

	while ((o = TAILQ_FIRST(&ch->outq)) != NULL) {
		if (ipc_sendmsg(ch->fd, o->buf, o->len, o->fd,
		    MSG_DONTWAIT) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ENOBUFS)
				return (1);
			snprintf(why, sizeof(why), "sendmsg: %s", strerror(errno));
			ipc_fail(ch, why);
			return (-1);
		}
		TAILQ_REMOVE(&ch->outq, o, entry);
		ch->nout--;
		ch->outbytes -= o->len;
		if (o->fd != -1)
			(void)close(o->fd);
		free(o);
	}
	return (0);
}

/*
 * Queue a message and try to send it now.  Takes the reference to body (so
 * ipc_send(ch, T, json_pack(...)) is safe even when json_pack fails).  fd,
 * if not -1, is duplicated: the caller keeps its own.
 */
int
ipc_send_fd(struct ipc_chan *ch, uint16_t type, json_t *body, int fd)
{
	static uint8_t	 buf[IPC_HDR_LEN + IPC_BODY_MAX];
	struct ipc_out	*o;
	ssize_t		 n;

	if (ch == NULL || ch->dead || ch->broken || body == NULL) {
		json_decref(body);
		return (-1);
	}
	n = ipc_encode(type, ++ch->seq, fd != -1, body, buf, sizeof(buf));
	json_decref(body);
	if (n == -1) {
		log_warnx("ipc: %s: cannot encode %s (too large?)", ch->peer,
		    ipc_type_name(type));
		return (-1);
	}
	if (ch->nout >= IPC_SENDQ_MAX ||
	    ch->outbytes + (size_t)n > IPC_SENDQ_BYTES) {
		ipc_fail(ch, "send queue full; closing the channel");
		return (-1);
	}
	if ((o = malloc(sizeof(*o) + (size_t)n)) == NULL)
		return (-1);
	o->fd = -1;
	if (fd != -1 && (o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		free(o);
		return (-1);
	}
	o->len = (size_t)n;
	memcpy(o->buf, buf, (size_t)n);
	TAILQ_INSERT_TAIL(&ch->outq, o, entry);
	ch->nout++;
	ch->outbytes += o->len;
	switch (ipc_flush(ch)) {
	case -1:
		return (-1);
	case 1:
		/* Queued but never flushed would be a silent loss: close. */
		if (event_add(ch->wev, NULL) == -1) {
			ipc_fail(ch, "cannot wait for the socket to be writable");
			return (-1);
		}
		break;
	}
	return (0);
}

int
ipc_send(struct ipc_chan *ch, uint16_t type, json_t *body)
{
	return (ipc_send_fd(ch, type, body, -1));
}

/*
 * Send everything queued, waiting up to timeout_ms.  For the last words of
 * a process that is about to exit (DRAINED, FAILED).
 */
int
ipc_flush_blocking(struct ipc_chan *ch, int timeout_ms)
{
	struct pollfd	pfd;
	uint64_t	deadline = util_now_ms() + (uint64_t)timeout_ms;
	int		r;

	while (!ch->dead && !ch->broken && (r = ipc_flush(ch)) != 0) {
		if (r == -1)
			return (-1);
		if (util_now_ms() >= deadline)
			return (-1);
		pfd.fd = ch->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, (int)(deadline - util_now_ms())) == -1 &&
		    errno != EINTR)
			return (-1);
	}
	return (ch->dead ? -1 : 0);
}

/*
 * A bare blocking socket (the fork server's, which has no event loop): one
 * message out, with descriptor fd unless -1.  Takes the reference to body.
 */
int
ipc_write_msg(int s, uint16_t type, json_t *body, int fd)
{
	static uint8_t	buf[IPC_HDR_LEN + IPC_BODY_MAX];
	ssize_t		n;

	if (body == NULL)
		return (-1);
	n = ipc_encode(type, 0, fd != -1, body, buf, sizeof(buf));
	json_decref(body);
	if (n == -1)
		return (-1);
	while (ipc_sendmsg(s, buf, (size_t)n, fd, 0) == -1)
		if (errno != EINTR)
			return (-1);
	return (0);
}

/*
 * ... and one message in, waiting at most timeout_ms (-1: for ever).
 * Returns 1 with it, 0 on a timeout, -1 when the peer closed or sent a bad
 * message (why says).
 */
int
ipc_read_msg(int s, int timeout_ms, struct ipc_msg *msg, char *why,
    size_t whylen)
{
	struct pollfd	pfd;
	ssize_t		n;
	int		fd, r;

	pfd.fd = s;
	pfd.events = POLLIN;
	while ((r = poll(&pfd, 1, timeout_ms)) == -1 && errno == EINTR)
		;
	if (r == 0)
		return (0);
	if (r == -1) {
		snprintf(why, whylen, "poll: %s", strerror(errno));
		return (-1);
	}
	while ((n = ipc_recvmsg(s, ipc_rbuf, sizeof(ipc_rbuf), &fd, 0, why,
	    whylen)) == -1 && errno == EINTR)
		;
	return (ipc_take(n, fd, msg, why, whylen));
}
