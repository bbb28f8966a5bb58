/*
 * ws: WebSocket client connections (ws:// and wss://) for the worker.
 *
 * Debian's libwebsockets 4.1 can neither run on libevent nor be polled from
 * outside, so it runs in ONE service thread of its own.  The two threads
 * meet in a mutex-protected pair of queues:
 *
 *   libevent -> lws: a command is queued, lws_cancel_service() wakes the
 *	service thread, which runs the queue from
 *	LWS_CALLBACK_EVENT_WAIT_CANCELLED; a send asks for
 *	lws_callback_on_writable() and lws_write() happens in WRITEABLE.
 *   lws -> libevent: an event is queued and event_active() wakes the
 *	libevent loop (evthread_use_pthreads() must have been called before
 *	the event base was made).
 *
 * Every callback below runs on the libevent thread; nothing else of ours
 * ever runs in the service thread.  A connection ends with exactly one
 * closed() call, after which it is freed: do not use it after that.
 * A polite ws_close() sends the messages queued before it first.
 */
#ifndef WORKER_WS_H
#define WORKER_WS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ws;
struct ws_conn;

struct ws_conn_cbs {
	void	(*open)(struct ws_conn *, void *arg);
	void	(*text)(struct ws_conn *, const char *msg, size_t len,
		    void *arg);
	void	(*closed)(struct ws_conn *, const char *reason, void *arg);
};

#define WS_MSG_MAX	(1024 * 1024)	/* bigger messages are dropped */
#define WS_QUEUE_MAX	(16 * 1024 * 1024) /* queued inbound bytes; over: close */
#define WS_SEND_MAX	(1024 * 1024)	/* queued outbound bytes per connection */

/* tls: it will connect to wss:// URLs (else ws:// only). */
struct ws	*ws_new(struct event_base *, int tls);
/*
 * open(arg) is asked before each slice of received events is delivered;
 * 0 holds them, and it is asked again a millisecond later.  Held events
 * count against WS_QUEUE_MAX like any other.
 */
void		 ws_set_gate(struct ws *, int (*open)(void *), void *arg);
void		 ws_free(struct ws *);
struct ws_conn	*ws_connect(struct ws *, const char *url,
		    const char *const *headers, const struct ws_conn_cbs *,
		    void *arg);
int		 ws_send(struct ws_conn *, const char *text, size_t len);
void		 ws_close(struct ws_conn *, int now);
/* In a text callback: when the service thread read that message (µs). */
uint64_t	 ws_read_us(const struct ws_conn *);
int		 ws_parse_url(const char *url, int *tls, char *host,
		    size_t hostlen, int *port, char *path, size_t pathlen);

#endif
