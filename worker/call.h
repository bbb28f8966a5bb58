/*
 * call: one platform HTTP call with its retries, over common/net.  A 429
 * is tried again after its Retry-After (at most CALL_RETRY_AFTER_MAX
 * seconds, CALL_LIMITED_MAX times); a 5xx or a transport error after a
 * backoff (250 ms doubling to 4 s) while tries are left.  The first try
 * starts from the loop, never from inside call_new(), and the call ends
 * with exactly one callback, after which it is gone.
 */
#ifndef WORKER_CALL_H
#define WORKER_CALL_H

#include "common/net.h"

#define CALL_RETRY_AFTER_MAX	30	/* seconds we wait on a 429, at most */
#define CALL_LIMITED_MAX	10	/* 429s a call may meet */

struct call;
struct event_base;

/* The last answer; status 0 and error set when there was none. */
typedef void	(*call_cb)(const struct net_resp *, void *arg);

/*
 * method url with headers ("Name: value", NULL-terminated) and body
 * (copied), tried at most tries times; label names it in logs ("POST
 * /posts", "chat.update").  NULL if out of memory.
 */
struct call	*call_new(struct event_base *, struct net *, const char *label,
		    const char *method, const char *url,
		    const char *const *headers, const char *body, int tries,
		    call_cb, void *arg);
/* End it without the callback; a no-op from inside its callback. */
void		 call_cancel(struct call *);

#endif
