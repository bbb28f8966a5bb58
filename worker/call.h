/*
 * call: one platform HTTP call with its retries, over common/net, the one
 * copy both adapters use.  What an answer means is the platform's, so the
 * adapter gives a classifier that reads it and says:
 *
 *   CALL_OK           done;
 *   CALL_RETRY_AFTER  rate limited: tried again after the answer's
 *                     Retry-After (net_retry_after_ms(), at most
 *                     CALL_RETRY_AFTER_MAX_MS), CALL_LIMITED_MAX times;
 *   CALL_RETRY        a passing failure (5xx, transport): tried again after
 *                     a backoff (250 ms doubling to 4 s) while tries last;
 *   CALL_FAIL         failed for good;
 *
 * and, for any verdict but CALL_OK, fills in why (error) and whether the
 * platform refused the bot's token (token_refused).  When retries run out
 * the last answer's error stands.  The first try starts from the loop,
 * never from inside call_new(), and a call ends with exactly one callback,
 * after which it is gone.  A call_set holds an adapter's calls, so that
 * stopping the adapter ends them all without callbacks.
 */
#ifndef WORKER_CALL_H
#define WORKER_CALL_H

#include <stddef.h>

#include <jansson.h>

#include "common/net.h"

#define CALL_RETRY_AFTER_MAX_MS	30000	/* the longest wait on a 429 */
#define CALL_LIMITED_MAX	10	/* 429s a call may meet */
#define CALL_ERR_MAX		384

struct call;
struct call_set;
struct event_base;

enum call_verdict {
	CALL_OK,
	CALL_RETRY_AFTER,
	CALL_RETRY,
	CALL_FAIL
};

struct call_result {
	const struct net_resp	*resp;		/* the answer; status 0: none */
	json_t			*json;		/* the classifier's parse, or NULL */
	const char		*label;		/* the request's label and what */
	const char		*what;
	int			 ok;		/* the verdict was CALL_OK */
	int			 token_refused;
	char			 error[CALL_ERR_MAX];
};

typedef enum call_verdict (*call_classify)(struct call_result *);
typedef void	(*call_cb)(const struct call_result *, void *arg);

struct call_req {
	const char		*method;	/* "GET", "POST", ... */
	const char		*url;
	const char *const	*headers;	/* "Name: value", NULL-terminated */
	const char		*body;		/* or NULL */
	const char		*label;		/* in logs: "POST /posts" */
	const char		*what;		/* for the classifier: "/posts" */
	int			 tries;		/* on CALL_RETRY verdicts */
	call_classify		 classify;
	/*
	 * A file moved by the call (common/net.h), each try from its start;
	 * the caller keeps the descriptor open until the callback.  A sink
	 * whose bound is passed fails the call at once (no retry).
	 */
	const struct net_source	*source;
	const struct net_sink	*sink;
	long			 timeout_ms;	/* 0: NET_TIMEOUT_MS */
};

struct call_set	*call_set_new(struct event_base *);
/* Ends every call of the set without its callback. */
void		 call_set_free(struct call_set *);
/* Everything in req is copied.  NULL if out of memory. */
struct call	*call_new(struct call_set *, const struct call_req *, call_cb,
		    void *arg);
/* End it without the callback; a no-op from inside its callback. */
void		 call_cancel(struct call *);

#endif
