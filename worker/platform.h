/*
 * platform: what the platform adapters share: reporting a failure, timers
 * whose failure to arm is never silent, the first connection's deadline,
 * the bearer token header.
 */
#ifndef WORKER_PLATFORM_H
#define WORKER_PLATFORM_H

#include <stdint.h>

#include <jansson.h>

#include "common/backoff.h"
#include "worker/adapter.h"

struct event;
struct event_base;

/*
 * A platform connection's life, the same for every adapter: the first one
 * must say hello within the deadline (else the worker fails, with the last
 * error), and a drop is retried after a backoff (1 s doubling to 30 s).
 */
struct platform_link {
	const struct adapter_events *ev;
	const char	*name;		/* in logs: "websocket" */
	const char	*hello;		/* in the failure: "WebSocket" */
	struct event	*reconnect_ev, *deadline_ev;
	struct backoff	 bo;
	int		 deadline_ms;
	int		 ready;		/* the first hello came */
	char		 last_err[256];
};

int	platform_link_init(struct platform_link *, struct event_base *,
	    const json_t *config, const struct adapter_events *,
	    const char *name, const char *hello,
	    void (*reconnect)(int, short, void *), void *arg);
/* The first connection starts: so does its deadline. */
int	platform_link_start(struct platform_link *);
/* Reconnect after the next backoff. */
void	platform_link_retry(struct platform_link *, const char *why);
/* A hello: the backoff starts over; 1 for the first one (ready). */
int	platform_link_up(struct platform_link *);
/* No more reconnects and no deadline (drain). */
void	platform_link_stop(struct platform_link *);
void	platform_link_free(struct platform_link *);

/*
 * text without the mentions at() finds (its length at p, or 0), each with
 * a ':' or ',' right after it; the spaces around them folded and the ends
 * trimmed; *found (if not NULL) says if there was one.  The caller frees
 * it; NULL when out of memory.
 */
/*
 * The longest prefix of s[0..len) that is valid UTF-8: what a text cut by
 * snprintf() may keep of itself in JSON (jansson refuses the rest).
 */
size_t	platform_valid_prefix(const char *s, size_t len);

/*
 * Append a file to an INBOUND's "files": {id, name, size, mime} and url
 * unless NULL; the name cut to max bytes on a character boundary,
 * "file-<id>" when there is none; size -1 when not known.  -1 when out of
 * memory.
 */
int	platform_file_add(json_t *files, const char *id, const char *name,
	    size_t max, json_int_t size, const char *mime, const char *url);

typedef size_t	(*platform_mention_at)(const char *text, const char *p,
		    const void *arg);
char	*platform_strip_mentions(const char *text, platform_mention_at,
	    const void *arg, int *found);

void	platform_failed(const struct adapter_events *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Arm timer ev in ms; a timer that cannot be armed fails the worker. */
int	platform_arm(const struct adapter_events *, struct event *, uint64_t ms,
	    const char *what);
/* Disarm timer ev; a failure is logged. */
void	platform_disarm(struct event *, const char *what);
/*
 * How long the first connection may take: a little under the
 * supervisor's reconnectTimeoutMs (a tenth, at most 500 ms), so that the
 * worker's reason, not the supervisor's timeout, is what the operator
 * reads.
 */
int	platform_deadline_ms(const json_t *config);
/* "Authorization: Bearer <tok>" into *out; -1 for no usable token. */
int	platform_auth_header(char **out, const char *tok, const char *prefix);

#endif
