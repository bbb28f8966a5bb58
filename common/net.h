/*
 * net: asynchronous HTTP(S) requests with libcurl's multi-socket API driven
 * by a libevent loop (the pattern of curl's hiperfifo example): a worker's
 * platform calls, every process's span exports.
 * Nothing here blocks and nothing runs in another thread.
 *
 * A request ends exactly once: its callback gets the status, the headers a
 * platform client needs (Retry-After, Content-Type) and the body, bounded
 * by the caller's limit.  net_cancel() ends it without the callback.
 */
#ifndef COMMON_NET_H
#define COMMON_NET_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct net;
struct net_req;

struct net_resp {
	long		 status;	/* HTTP status; 0 = no response */
	const char	*error;		/* transport error text, or NULL */
	char		*body;		/* NUL-terminated, never NULL */
	size_t		 bodylen;
	long		 retry_after;	/* Retry-After in seconds, or -1 */
	char		 ctype[64];	/* Content-Type, or "" */
	uint64_t	 ms;		/* time taken */
	uint64_t	 us;		/* ... in µs */
};

typedef void	(*net_cb)(const struct net_resp *, void *arg);

struct net_opts {
	long		 timeout_ms;	/* whole request; 0 = NET_TIMEOUT_MS */
	long		 connect_ms;	/* 0 = NET_CONNECT_MS (at most timeout) */
	size_t		 max_body;	/* 0 = NET_BODY_MAX */
};

#define NET_TIMEOUT_MS		30000
#define NET_CONNECT_MS		10000
#define NET_BODY_MAX		(4 * 1024 * 1024)

struct net	*net_new(struct event_base *);
void		 net_free(struct net *);
struct net_req	*net_request(struct net *, const char *method, const char *url,
		    const char *const *headers, const char *body,
		    const struct net_opts *, net_cb, void *arg);
void		 net_cancel(struct net_req *);
long		 net_request_sync(const char *method, const char *url,
		    const char *const *headers, const char *body,
		    const struct net_opts *);
unsigned int	 net_pending(const struct net *);
long		 net_parse_retry_after(const char *value);
/*
 * How long an answer asking to slow down (429, 503) wants us to wait: its
 * Retry-After (seconds or an HTTP date), NET_RETRY_AFTER_MS without one,
 * at most max_ms.  The one rule for every platform call and span export.
 */
uint32_t	 net_retry_after_ms(const struct net_resp *, uint32_t max_ms);

#define NET_RETRY_AFTER_MS	1000	/* a 429 without Retry-After */

#endif
