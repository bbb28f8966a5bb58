/*
 * ws: libwebsockets in one service thread, bridged to the libevent thread.
 * See ws.h for the two directions.  Functions are marked by the thread they
 * run in: "lws thread" ones only from the service thread, the rest only
 * from the libevent thread.  Fields of struct ws_conn are grouped the same
 * way; the "locked" ones are touched with ws->mtx held.
 *
 * A connection is reference-counted (under ws->mtx) because both threads
 * hold it: the libevent side until closed() returned, the lws side while a
 * wsi exists, and each queued command.  The lws side's reference travels
 * to the libevent side inside the CLOSED event, posted from
 * LWS_CALLBACK_WSI_DESTROY, the last callback lws makes for a wsi.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <libwebsockets.h>

#include "common/log.h"
#include "common/util.h"
#include "ws.h"

#define WS_PROTO	"copilot-bridge-ws"
#define WS_HOST_MAX	256
#define WS_PATH_MAX	2048
#define WS_HDR_MAX	8
/*
 * Events delivered per wakeup of the loop.  A burst of thousands of frames
 * is handed over in slices, so the loop reads the sessiond link (its acks
 * and outbound ops) in between rather than letting that queue overflow.
 */
#define WS_DELIVER_BATCH	64

enum ws_ev_kind { WS_EV_OPEN, WS_EV_TEXT, WS_EV_CLOSED, WS_EV_LOG };
enum ws_cmd_kind { WS_CMD_CONNECT, WS_CMD_WRITE, WS_CMD_CLOSE };

struct ws_ev {				/* lws thread -> libevent thread */
	STAILQ_ENTRY(ws_ev)	 entry;
	enum ws_ev_kind		 kind;
	int			 level;	/* WS_EV_LOG */
	struct ws_conn		*conn;
	uint64_t		 at_us;	/* when it was read (WS_EV_TEXT) */
	size_t			 len;
	char			 data[];	/* NUL-terminated */
};

struct ws_cmd {				/* libevent thread -> lws thread */
	STAILQ_ENTRY(ws_cmd)	 entry;
	enum ws_cmd_kind	 kind;
	struct ws_conn		*conn;	/* holds a reference */
};

struct ws_out {				/* a text message waiting to be sent */
	STAILQ_ENTRY(ws_out)	 entry;
	size_t			 len;
	unsigned char		 buf[];	/* LWS_PRE bytes, then the text */
};

struct ws_conn {
	struct ws		*ws;
	int			 refs;		/* locked */
	/* fixed once ws_connect() returns */
	int			 tls, port;
	char			 addr[WS_HOST_MAX];	/* to connect to */
	char			 host[WS_HOST_MAX + 8];	/* Host: header */
	char			 path[WS_PATH_MAX];
	char			*hname[WS_HDR_MAX];	/* "name:" lowercase */
	char			*hvalue[WS_HDR_MAX];
	size_t			 nhdrs;
	/* libevent thread */
	LIST_ENTRY(ws_conn)	 entry;
	struct ws_conn_cbs	 cbs;
	void			*arg;
	int			 gone;		/* closed() was called */
	uint64_t		 read_us;	/* the message being delivered */
	int			 close_asked;
	/* locked */
	STAILQ_HEAD(, ws_out)	 outq;
	size_t			 outbytes;
	int			 abort;		/* close without a handshake */
	/* lws thread */
	struct lws		*wsi;
	int			 lws_ref, established, closing;
	char			*rx;
	size_t			 rxlen, rxcap;
	int			 rx_drop;	/* binary or too big: skip */
	size_t			 rx_total;
	char			 why[192];
};

struct ws {
	struct event_base	*base;
	struct event		*wake;
	struct lws_context	*ctx;
	pthread_t		 thread;
	int			 started, destroying;
	pthread_mutex_t		 mtx;
	/* locked */
	STAILQ_HEAD(, ws_cmd)	 cmds;
	STAILQ_HEAD(, ws_ev)	 evs;
	size_t			 evbytes;
	int			 stop;
	/* libevent thread */
	LIST_HEAD(, ws_conn)	 conns;
	int			(*gate)(void *);
	void			*gate_arg;
};

static struct ws	*ws_the;	/* for lws's process-wide log hook */
static __thread int	 ws_in_service;	/* set in the service thread */

static void
ws_lock(struct ws *ws)
{
	if (pthread_mutex_lock(&ws->mtx) != 0)
		abort();	/* only on a corrupt mutex: nothing to save */
}

static void
ws_unlock(struct ws *ws)
{
	if (pthread_mutex_unlock(&ws->mtx) != 0)
		abort();
}

/* Locked.  Drop a reference; the last one frees the connection. */
static void
ws_conn_unref(struct ws_conn *c)
{
	struct ws_out	*o;
	size_t		 i;

	if (--c->refs > 0)
		return;
	while ((o = STAILQ_FIRST(&c->outq)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->outq, entry);
		free(o);
	}
	for (i = 0; i < c->nhdrs; i++) {
		free(c->hname[i]);
		free(c->hvalue[i]);
	}
	free(c->rx);
	free(c);
}

/* ------------------------------------------------ lws thread -> libevent */

/* Any thread.  Queue an event for the libevent thread and wake it. */
static int
ws_post(struct ws *ws, enum ws_ev_kind kind, int level, struct ws_conn *c,
    const char *data, size_t len)
{
	struct ws_ev	*e;

	if (ws->destroying)
		return (-1);
	ws_lock(ws);
	if (kind == WS_EV_TEXT && ws->evbytes + len > WS_QUEUE_MAX) {
		ws_unlock(ws);
		return (-1);
	}
	if ((e = malloc(sizeof(*e) + len + 1)) == NULL) {
		ws_unlock(ws);
		return (-1);
	}
	e->kind = kind;
	e->level = level;
	e->conn = c;
	e->at_us = util_now_us();
	e->len = len;
	if (len > 0)
		memcpy(e->data, data, len);
	e->data[len] = '\0';
	STAILQ_INSERT_TAIL(&ws->evs, e, entry);
	ws->evbytes += len;
	ws_unlock(ws);
	event_active(ws->wake, EV_READ, 0);
	return (0);
}

static void	ws_postf(struct ws *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
ws_postf(struct ws *ws, int level, const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	(void)ws_post(ws, WS_EV_LOG, level, NULL, buf,
	    (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/*
 * lws's own log lines.  In the service thread they are handed to the
 * libevent thread, which owns the log; elsewhere they are logged at once.
 */
static void
ws_lws_log(int level, const char *line)
{
	char	buf[512];
	size_t	n;

	snprintf(buf, sizeof(buf), "libwebsockets: %s", line);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (ws_the != NULL && ws_in_service)
		(void)ws_post(ws_the, WS_EV_LOG, level == LLL_ERR ? LOG_LERROR :
		    LOG_LWARN, NULL, buf, n);
	else if (level == LLL_ERR)
		log_warnx("%s", buf);
	else
		log_debug("%s", buf);
}

/* ------------------------------------------------------------ lws thread */

/* Hand the lws side's reference to the libevent side, with the reason. */
static void
ws_lws_closed(struct ws_conn *c)
{
	struct ws	*ws = c->ws;

	if (!c->lws_ref)
		return;
	c->lws_ref = 0;
	c->wsi = NULL;
	if (c->why[0] == '\0')
		snprintf(c->why, sizeof(c->why), "connection lost");
	if (ws_post(ws, WS_EV_CLOSED, 0, c, c->why, strlen(c->why)) == -1) {
		ws_lock(ws);
		ws_conn_unref(c);
		ws_unlock(ws);
	}
}

static void
ws_lws_connect(struct ws_conn *c)
{
	struct lws_client_connect_info	 i;
	struct ws			*ws = c->ws;

	memset(&i, 0, sizeof(i));
	i.context = ws->ctx;
	i.address = c->addr;
	i.port = c->port;
	i.ssl_connection = c->tls ? LCCSCF_USE_SSL : 0;
	i.path = c->path;
	i.host = c->host;
	i.local_protocol_name = WS_PROTO;
	i.alpn = "http/1.1";
	i.opaque_user_data = c;
	i.pwsi = &c->wsi;
	ws_lock(ws);
	c->refs++;
	ws_unlock(ws);
	c->lws_ref = 1;
	if (lws_client_connect_via_info(&i) == NULL) {
		/* It may or may not have said why, and destroyed the wsi. */
		if (c->why[0] == '\0')
			snprintf(c->why, sizeof(c->why), "cannot connect to "
			    "%.128s", c->host);
		ws_lws_closed(c);
	}
}

/* Run the commands queued by the libevent thread. */
static void
ws_lws_commands(struct ws *ws)
{
	STAILQ_HEAD(, ws_cmd)	 q = STAILQ_HEAD_INITIALIZER(q);
	struct ws_cmd		*cmd;
	struct ws_conn		*c;
	int			 abort_now;

	ws_lock(ws);
	STAILQ_CONCAT(&q, &ws->cmds);
	ws_unlock(ws);
	while ((cmd = STAILQ_FIRST(&q)) != NULL) {
		STAILQ_REMOVE_HEAD(&q, entry);
		c = cmd->conn;
		switch (cmd->kind) {
		case WS_CMD_CONNECT:
			ws_lws_connect(c);
			break;
		case WS_CMD_WRITE:
			if (c->wsi != NULL && c->established)
				lws_callback_on_writable(c->wsi);
			break;
		case WS_CMD_CLOSE:
			if (c->wsi == NULL)
				break;
			ws_lock(ws);
			abort_now = c->abort;
			ws_unlock(ws);
			c->closing = !abort_now && c->established;
			if (c->closing)
				lws_callback_on_writable(c->wsi);
			else {
				snprintf(c->why, sizeof(c->why), "closed by us");
				lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
				    LWS_TO_KILL_ASYNC);
			}
			break;
		}
		ws_lock(ws);
		ws_conn_unref(c);
		ws_unlock(ws);
		free(cmd);
	}
}

static int
ws_lws_headers(struct ws_conn *c, struct lws *wsi, void *in, size_t len)
{
	unsigned char	**p = in, *end = *p + len;
	size_t		  i;

	for (i = 0; i < c->nhdrs; i++)
		if (lws_add_http_header_by_name(wsi,
		    (const unsigned char *)c->hname[i],
		    (const unsigned char *)c->hvalue[i],
		    (int)strlen(c->hvalue[i]), p, end) != 0)
			return (-1);
	return (0);
}

static int
ws_lws_writeable(struct ws_conn *c, struct lws *wsi)
{
	struct ws	*ws = c->ws;
	struct ws_out	*o;
	int		 more, n;

	ws_lock(ws);
	if ((o = STAILQ_FIRST(&c->outq)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->outq, entry);
		c->outbytes -= o->len;
	}
	more = !STAILQ_EMPTY(&c->outq) || c->closing;
	ws_unlock(ws);
	/* A polite close sends what was queued first (Slack's acks). */
	if (o == NULL && c->closing) {
		snprintf(c->why, sizeof(c->why), "closed by us");
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL,
		    (unsigned char *)"bye", 3);
		return (-1);
	}
	if (o != NULL) {
		n = lws_write(wsi, o->buf + LWS_PRE, o->len, LWS_WRITE_TEXT);
		free(o);
		if (n < 0) {
			snprintf(c->why, sizeof(c->why), "write failed");
			return (-1);
		}
	}
	if (more)
		lws_callback_on_writable(wsi);
	return (0);
}

/* Append a piece of a message; a whole one goes to the libevent thread. */
static int
ws_lws_receive(struct ws_conn *c, struct lws *wsi, const char *in, size_t len)
{
	size_t	 ncap;
	char	*nb;

	c->rx_total += len;
	if (lws_frame_is_binary(wsi))
		c->rx_drop = 1;
	if (!c->rx_drop && c->rxlen + len > WS_MSG_MAX)
		c->rx_drop = 1;
	if (!c->rx_drop && c->rxlen + len > c->rxcap) {
		ncap = c->rxcap > 0 ? c->rxcap : 8192;
		while (ncap < c->rxlen + len)
			ncap *= 2;
		if ((nb = realloc(c->rx, ncap)) == NULL)
			c->rx_drop = 1;
		else {
			c->rx = nb;
			c->rxcap = ncap;
		}
	}
	if (!c->rx_drop) {
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += len;
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return (0);
	if (c->rx_drop)
		ws_postf(c->ws, LOG_LWARN, "ws %s: dropped a %s message of "
		    "%zu bytes (limit %d)", c->host, lws_frame_is_binary(wsi) ?
		    "binary" : "text", c->rx_total, WS_MSG_MAX);
	else if (ws_post(c->ws, WS_EV_TEXT, 0, c, c->rx, c->rxlen) == -1) {
		snprintf(c->why, sizeof(c->why), "inbound queue over %d bytes",
		    WS_QUEUE_MAX);
		return (-1);	/* lws closes it; the owner reconnects */
	}
	c->rxlen = c->rx_total = 0;
	c->rx_drop = 0;
	return (0);
}

static void
ws_lws_peer_close(struct ws_conn *c, const unsigned char *in, size_t len)
{
	int	code = len >= 2 ? (in[0] << 8 | in[1]) : 1005;

	snprintf(c->why, sizeof(c->why), "closed by the server (%d%s%.*s)",
	    code, len > 2 ? " " : "", len > 2 ? (int)(len - 2) : 0,
	    len > 2 ? (const char *)in + 2 : "");
}

static int
ws_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct ws_conn	*c = wsi != NULL ? lws_get_opaque_user_data(wsi) : NULL;

	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		if (ws_the != NULL && !ws_the->destroying)
			ws_lws_commands(ws_the);
		return (0);
	}
	if (c == NULL)
		return (lws_callback_http_dummy(wsi, reason, user, in, len));
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return (ws_lws_headers(c, wsi, in, len));
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(c->why, sizeof(c->why), "connect failed: %s",
		    in != NULL ? (const char *)in : "unknown error");
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->established = 1;
		(void)ws_post(c->ws, WS_EV_OPEN, 0, c, NULL, 0);
		lws_callback_on_writable(wsi);	/* anything sent early */
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return (ws_lws_receive(c, wsi, in, len));
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return (ws_lws_writeable(c, wsi));
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		ws_lws_peer_close(c, in, len);
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		ws_lws_closed(c);
		break;
	default:
		break;
	}
	return (0);
}

static const struct lws_protocols ws_protocols[] = {
	{ WS_PROTO, ws_lws_cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void *
ws_thread_main(void *arg)
{
	struct ws	*ws = arg;
	int		 stop;

	ws_in_service = 1;
	for (;;) {
		ws_lock(ws);
		stop = ws->stop;
		ws_unlock(ws);
		if (stop)
			break;
		if (lws_service(ws->ctx, 0) < 0) {
			ws_postf(ws, LOG_LERROR, "ws: lws_service failed; "
			    "WebSocket service stopped");
			break;
		}
	}
	return (NULL);
}

/* ---------------------------------------------------- libevent thread */

uint64_t
ws_read_us(const struct ws_conn *c)
{
	return (c != NULL ? c->read_us : 0);
}

static void
ws_deliver(struct ws *ws, struct ws_ev *e)
{
	struct ws_conn	*c = e->conn;

	switch (e->kind) {
	case WS_EV_LOG:
		if (e->level >= LOG_LERROR)
			log_errorx("%s", e->data);
		else if (e->level >= LOG_LWARN)
			log_warnx("%s", e->data);
		else
			log_debug("%s", e->data);
		break;
	case WS_EV_OPEN:
		if (!c->gone && c->cbs.open != NULL)
			c->cbs.open(c, c->arg);
		break;
	case WS_EV_TEXT:
		c->read_us = e->at_us;
		if (!c->gone && c->cbs.text != NULL)
			c->cbs.text(c, e->data, e->len, c->arg);
		break;
	case WS_EV_CLOSED:
		c->gone = 1;
		LIST_REMOVE(c, entry);
		if (c->cbs.closed != NULL)
			c->cbs.closed(c, e->data, c->arg);
		ws_lock(ws);
		ws_conn_unref(c);	/* the lws side's, carried here */
		ws_conn_unref(c);	/* ours */
		ws_unlock(ws);
		break;
	}
}

static const struct timeval	ws_now = { 0, 0 };
static const struct timeval	ws_later = { 0, 1000 };

void
ws_set_gate(struct ws *ws, int (*open)(void *), void *arg)
{
	ws->gate = open;
	ws->gate_arg = arg;
}

/* The service thread posted events: deliver them in order. */
static void
ws_wake_cb(int fd, short what, void *arg)
{
	STAILQ_HEAD(, ws_ev)	 q = STAILQ_HEAD_INITIALIZER(q);
	struct ws		*ws = arg;
	struct ws_ev		*e;
	int			 n, more;

	/* Held: asked again shortly (at once if no timer can be armed). */
	if (ws->gate != NULL && !ws->gate(ws->gate_arg) &&
	    event_add(ws->wake, &ws_later) == 0)
		return;
	ws_lock(ws);
	for (n = 0; n < WS_DELIVER_BATCH &&
	    (e = STAILQ_FIRST(&ws->evs)) != NULL; n++) {
		STAILQ_REMOVE_HEAD(&ws->evs, entry);
		ws->evbytes -= e->len;
		STAILQ_INSERT_TAIL(&q, e, entry);
	}
	more = !STAILQ_EMPTY(&ws->evs);
	ws_unlock(ws);
	/*
	 * The rest on the loop's next turn, after it polled: an event made
	 * active from its own callback would run again before any socket is
	 * looked at.  A timer that cannot be armed falls back to that.
	 */
	if (more && event_add(ws->wake, &ws_now) == -1)
		event_active(ws->wake, EV_READ, 0);
	while ((e = STAILQ_FIRST(&q)) != NULL) {
		STAILQ_REMOVE_HEAD(&q, entry);
		ws_deliver(ws, e);
		free(e);
	}
}

static int
ws_start_thread(struct ws *ws)
{
	sigset_t	all, old;
	int		rc;

	/* Signals are the libevent thread's business: block them here. */
	if (sigfillset(&all) == -1 ||
	    pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
		return (-1);
	rc = pthread_create(&ws->thread, NULL, ws_thread_main, ws);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		log_warn("ws: pthread_create");
		return (-1);
	}
	ws->started = 1;
	return (0);
}

/*
 * The WebSocket service: an lws context and its thread.  One per process
 * (lws's log hook is process-wide).
 */
struct ws *
ws_new(struct event_base *base, int tls)
{
	struct lws_context_creation_info	 info;
	struct ws				*ws;

	if (ws_the != NULL || (ws = calloc(1, sizeof(*ws))) == NULL)
		return (NULL);
	if (pthread_mutex_init(&ws->mtx, NULL) != 0) {
		free(ws);
		return (NULL);
	}
	ws->base = base;
	STAILQ_INIT(&ws->cmds);
	STAILQ_INIT(&ws->evs);
	LIST_INIT(&ws->conns);
	ws_the = ws;
	lws_set_log_level(LLL_ERR | LLL_WARN, ws_lws_log);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ws_protocols;
	/*
	 * TLS (and reading the system's CA store, some 10-20 ms at start) only
	 * for a bot that will talk wss://: a plain ws:// bot starts without.
	 */
	info.options = tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	info.gid = -1;
	info.uid = -1;
	info.timeout_secs = 15;		/* connect + TLS + upgrade, each */
	info.connect_timeout_secs = 10;
	/*
	 * lws sizes its descriptor tables by this, else by RLIMIT_NOFILE: at
	 * a limit of 20,000 that is 330 KB per worker, where we have a socket
	 * or two (Slack: the old and the new during a refresh).
	 */
	info.fd_limit_per_thread = 64;
	if ((ws->wake = event_new(base, -1, 0, ws_wake_cb, ws)) == NULL ||
	    (ws->ctx = lws_create_context(&info)) == NULL ||
	    ws_start_thread(ws) == -1) {
		ws_free(ws);
		return (NULL);
	}
	return (ws);
}

/*
 * Stop the service thread and free everything.  No callback runs after
 * this; not to be called from a callback.
 */
void
ws_free(struct ws *ws)
{
	struct ws_cmd	*cmd;
	struct ws_ev	*e;
	struct ws_conn	*c;

	if (ws == NULL)
		return;
	if (ws->started) {
		ws_lock(ws);
		ws->stop = 1;
		ws_unlock(ws);
		lws_cancel_service(ws->ctx);
		if (pthread_join(ws->thread, NULL) != 0)
			log_warnx("ws: cannot join the service thread");
		ws->started = 0;
	}
	ws->destroying = 1;	/* lws callbacks from here on post nothing */
	if (ws->ctx != NULL)
		lws_context_destroy(ws->ctx);
	ws_lock(ws);
	while ((e = STAILQ_FIRST(&ws->evs)) != NULL) {
		STAILQ_REMOVE_HEAD(&ws->evs, entry);
		if (e->kind == WS_EV_CLOSED)
			ws_conn_unref(e->conn);
		free(e);
	}
	while ((cmd = STAILQ_FIRST(&ws->cmds)) != NULL) {
		STAILQ_REMOVE_HEAD(&ws->cmds, entry);
		ws_conn_unref(cmd->conn);
		free(cmd);
	}
	while ((c = LIST_FIRST(&ws->conns)) != NULL) {
		LIST_REMOVE(c, entry);
		c->gone = 1;
		ws_conn_unref(c);
	}
	ws_unlock(ws);
	if (ws->wake != NULL)
		event_free(ws->wake);
	(void)pthread_mutex_destroy(&ws->mtx);
	if (ws_the == ws)
		ws_the = NULL;
	free(ws);
}

/* Locked.  Queue a command holding a reference to c. */
static int
ws_cmd_locked(struct ws_conn *c, enum ws_cmd_kind kind)
{
	struct ws_cmd	*cmd;

	if ((cmd = malloc(sizeof(*cmd))) == NULL)
		return (-1);
	cmd->kind = kind;
	cmd->conn = c;
	c->refs++;
	STAILQ_INSERT_TAIL(&c->ws->cmds, cmd, entry);
	return (0);
}

/*
 * Parse ws://host[:port][/path] or wss://...; the path keeps its query.
 * IPv6 hosts are written in brackets.  0, or -1 for anything else.
 */
int
ws_parse_url(const char *url, int *tls, char *host, size_t hostlen, int *port,
    char *path, size_t pathlen)
{
	const char	*h, *e, *p;
	char		*end;
	long		 n;
	size_t		 hl;

	if (strncasecmp(url, "wss://", 6) == 0) {
		*tls = 1;
		h = url + 6;
	} else if (strncasecmp(url, "ws://", 5) == 0) {
		*tls = 0;
		h = url + 5;
	} else
		return (-1);
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '#')
			return (-1);	/* no spaces, controls or fragment */
	p = h + strcspn(h, "/?");
	if (*h == '[') {
		if ((e = memchr(h, ']', (size_t)(p - h))) == NULL)
			return (-1);
		hl = (size_t)(e - h) - 1;
		h++;
		e++;
	} else {
		e = h + strcspn(h, ":/?");
		hl = (size_t)(e - h);
	}
	if (hl == 0 || hl >= hostlen || memchr(h, '@', hl) != NULL)
		return (-1);
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = *tls ? 443 : 80;
	if (*e == ':') {
		errno = 0;
		n = strtol(e + 1, &end, 10);
		if (errno != 0 || end == e + 1 || end != p || n < 1 ||
		    n > 65535)
			return (-1);
		*port = (int)n;
	} else if (e != p)
		return (-1);
	if (snprintf(path, pathlen, "%s%s", *p == '/' ? "" : "/", p) >=
	    (int)pathlen)
		return (-1);
	return (0);
}

/* "Name: value" -> "name:" and "value", as lws wants them. */
static int
ws_conn_headers(struct ws_conn *c, const char *const *headers)
{
	const char	*colon, *v;
	size_t		 i, n;

	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		if (i >= WS_HDR_MAX ||
		    (colon = strchr(headers[i], ':')) == NULL ||
		    colon == headers[i])
			return (-1);
		n = (size_t)(colon - headers[i]);
		if ((c->hname[i] = malloc(n + 2)) == NULL)
			return (-1);
		c->nhdrs++;
		for (v = headers[i]; v < colon; v++)
			c->hname[i][v - headers[i]] =
			    (char)tolower((unsigned char)*v);
		c->hname[i][n] = ':';
		c->hname[i][n + 1] = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if ((c->hvalue[i] = strdup(v)) == NULL ||
		    strpbrk(v, "\r\n") != NULL)
			return (-1);
	}
	return (0);
}

/*
 * Open a client connection to url with extra upgrade headers ("Name:
 * value", NULL-terminated).  The callbacks follow on the libevent thread:
 * open() then text() for each message, and closed() exactly once, also
 * when the connection never opens.  NULL if it cannot even be queued.
 */
struct ws_conn *
ws_connect(struct ws *ws, const char *url, const char *const *headers,
    const struct ws_conn_cbs *cbs, void *arg)
{
	struct ws_conn	*c;
	int		 rc;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->ws = ws;
	c->refs = 1;
	c->cbs = *cbs;
	c->arg = arg;
	STAILQ_INIT(&c->outq);
	if (ws_parse_url(url, &c->tls, c->addr, sizeof(c->addr), &c->port,
	    c->path, sizeof(c->path)) == -1 ||
	    ws_conn_headers(c, headers) == -1) {
		ws_conn_unref(c);	/* not shared yet: no lock needed */
		return (NULL);
	}
	/* The Host header names the port unless it is the default. */
	if (c->port == (c->tls ? 443 : 80))
		snprintf(c->host, sizeof(c->host), "%s", c->addr);
	else
		snprintf(c->host, sizeof(c->host), "%s:%d", c->addr, c->port);
	ws_lock(ws);
	rc = ws_cmd_locked(c, WS_CMD_CONNECT);
	ws_unlock(ws);
	if (rc == -1) {
		ws_conn_unref(c);
		return (NULL);
	}
	LIST_INSERT_HEAD(&ws->conns, c, entry);
	lws_cancel_service(ws->ctx);
	return (c);
}

/* Queue a text message; -1 if the connection is gone or too far behind. */
int
ws_send(struct ws_conn *c, const char *text, size_t len)
{
	struct ws	*ws = c->ws;
	struct ws_out	*o;

	if (c->gone || c->close_asked)
		return (-1);
	if ((o = malloc(sizeof(*o) + LWS_PRE + len)) == NULL)
		return (-1);
	o->len = len;
	memcpy(o->buf + LWS_PRE, text, len);
	ws_lock(ws);
	if (c->outbytes + len > WS_SEND_MAX ||
	    ws_cmd_locked(c, WS_CMD_WRITE) == -1) {
		ws_unlock(ws);
		free(o);
		return (-1);
	}
	STAILQ_INSERT_TAIL(&c->outq, o, entry);
	c->outbytes += len;
	ws_unlock(ws);
	lws_cancel_service(ws->ctx);
	return (0);
}

/*
 * Close c: politely (a close frame, 1000) or, with now set, by dropping
 * the TCP connection (a dead peer would never answer the close frame).
 * closed() follows.
 */
void
ws_close(struct ws_conn *c, int now)
{
	struct ws	*ws = c->ws;
	int		 rc;

	if (c->gone || (c->close_asked && !now))
		return;
	c->close_asked = 1;
	ws_lock(ws);
	c->abort = now;
	rc = ws_cmd_locked(c, WS_CMD_CLOSE);
	ws_unlock(ws);
	if (rc == -1)
		log_warnx("ws: out of memory closing %s", c->host);
	lws_cancel_service(ws->ctx);
}
