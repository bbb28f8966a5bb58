/*
 * rtrpc: JSON-RPC with the current runtime (framing in jsonrpc.c, bytes
 * through rtproc.c).  Requests carry our numeric ids, which increase and
 * are never reused across restarts; the pending table matches replies by
 * id, in whatever order they come.  Requests and notifications from the
 * runtime go up through the callbacks given to rtrpc_init().
 */
#ifndef SESSIOND_RTRPC_H
#define SESSIOND_RTRPC_H

#include <sys/queue.h>

#include <stdint.h>

#include <jansson.h>

struct evbuffer;
struct rtrpc_req;

/* A request's end: result, or error; req->gone if the runtime went away. */
typedef void	(*rtrpc_cb)(struct rtrpc_req *, const json_t *result,
		    const char *error);

struct rtrpc_req {
	TAILQ_ENTRY(rtrpc_req)	 entry;
	int64_t			 id;
	uint64_t		 deadline;	/* util_now_ms() */
	char			 method[64];
	void			*arg;		/* the caller's; NULL once forgotten */
	void			*ctx;		/* the caller's, never forgotten */
	rtrpc_cb		 cb;		/* NULL: the reply is dropped */
	int			 gone;		/* failed: the runtime went away */
	int			 flag;		/* the caller's */
};

struct rtrpc_events {
	void	(*request)(const json_t *id, const char *method,
		    const json_t *params);
	void	(*notification)(const char *method, const json_t *params);
	/* The stream is broken or the runtime does not read: it must go. */
	void	(*fatal)(const char *why);
	/* Around a request's callback, so it may close what arg is. */
	void	(*hold)(void *arg);
	void	(*release)(void *arg);
};

void		 rtrpc_init(const struct rtrpc_events *);
/* Whether requests may go out now (the runtime is up and not failing). */
void		 rtrpc_set_open(int);
int		 rtrpc_is_open(void);
/* A new runtime: its stream starts from nothing. */
void		 rtrpc_reset(void);
/* Send a request (params stolen); NULL if it could not be sent. */
struct rtrpc_req *rtrpc_request(const char *method, json_t *params, void *arg,
		    rtrpc_cb, int timeout_ms);
void		 rtrpc_respond(const json_t *id, json_t *result);
void		 rtrpc_respond_error(const json_t *id, int code,
		    const char *message);
/* Bytes from the runtime's stdout. */
void		 rtrpc_readable(struct evbuffer *);
/* Every pending request fails as gone, with its callback unless quiet. */
void		 rtrpc_fail_all(const char *why, int quiet);
/* arg goes away: its requests complete without it. */
void		 rtrpc_forget(void *arg);
/* The oldest request past its deadline, or NULL. */
const struct rtrpc_req *rtrpc_overdue(uint64_t now);

#endif
