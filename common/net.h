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

#include <sys/types.h>

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
	uint64_t	 sunk;		/* bytes written to the sink */
	int		 too_large;	/* the sink's bound was passed */
};

typedef void	(*net_cb)(const struct net_resp *, void *arg);

/*
 * A request body read from a file: size bytes from offset 0 (read again
 * from 0 on every try), sent raw, or as the part field (with filename) of
 * a multipart form whose other parts are fields: name, value, ..., NULL.
 */
struct net_source {
	int		 fd;
	off_t		 size;
	const char	*field;		/* NULL: the raw body */
	const char	*filename;
	const char *const *fields;
};

/*
 * A 2xx answer's body written to a file from offset 0 (truncated first,
 * on every try), at most max bytes: one more fails the request with
 * too_large.  Any other answer's body is read as usual (max_body).
 */
struct net_sink {
	int		 fd;
	uint64_t	 max;
};

struct net_opts {
	long		 timeout_ms;	/* whole request; 0 = NET_TIMEOUT_MS */
	long		 connect_ms;	/* 0 = NET_CONNECT_MS (at most timeout) */
	size_t		 max_body;	/* 0 = NET_BODY_MAX */
	const struct net_source *source; /* the body, from a file; or NULL */
	const struct net_sink *sink;	/* the answer, into a file; or NULL */
};

#define NET_TIMEOUT_MS		30000
#define NET_CONNECT_MS		10000
#define NET_BODY_MAX		(4 * 1024 * 1024)
/* A file transfer that moves less than this for that long is dropped. */
#define NET_LOW_SPEED_BPS	1024
#define NET_LOW_SPEED_S		60

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
