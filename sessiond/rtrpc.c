/*
 * rtrpc: see rtrpc.h.  More than RTRPC_OUT_MAX queued for the runtime's
 * stdin means it is stuck, and it is failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/util.h"
#include "jsonrpc.h"
#include "rtproc.h"
#include "rtrpc.h"

#define RTRPC_OUT_MAX	(64 * 1024 * 1024)	/* unread input: it is stuck */

static struct {
	const struct rtrpc_events	*ev;
	TAILQ_HEAD(, rtrpc_req)		 pending;
	struct jsonrpc_dec		 dec;
	int64_t				 next_id;
	unsigned int			 epoch;		/* bumped on every reset */
	int				 open;
} P = {
	.pending = TAILQ_HEAD_INITIALIZER(P.pending),
};

void
rtrpc_init(const struct rtrpc_events *ev)
{
	P.ev = ev;
	jsonrpc_dec_init(&P.dec, 0);
}

void
rtrpc_set_open(int open)
{
	P.open = open;
}

int
rtrpc_is_open(void)
{
	return (P.open);
}

void
rtrpc_reset(void)
{
	jsonrpc_dec_reset(&P.dec);
	P.epoch++;
}

/* Queue one message (stolen) for the runtime's stdin. */
static int
rtrpc_send(json_t *msg)
{
	char	*buf;
	size_t	 len;
	int	 rc;
	char	 why[96];

	if (msg == NULL)
		return (-1);
	if (!P.open) {
		json_decref(msg);
		return (-1);
	}
	buf = jsonrpc_encode(msg, &len);
	json_decref(msg);
	if (buf == NULL) {
		log_warnx("%s: cannot encode a message", __func__);
		return (-1);
	}
	rc = rtproc_write(buf, len);
	free(buf);
	if (rc == -1) {
		snprintf(why, sizeof(why), "cannot queue %zu bytes for its "
		    "input", len);
		P.ev->fatal(why);
		return (-1);
	}
	if (rtproc_queued() > RTRPC_OUT_MAX) {
		snprintf(why, sizeof(why), "it does not read its input (%zu "
		    "bytes queued)", rtproc_queued());
		P.ev->fatal(why);
		return (-1);
	}
	return (0);
}

struct rtrpc_req *
rtrpc_request(const char *method, json_t *params, void *arg, rtrpc_cb cb,
    int timeout_ms)
{
	struct rtrpc_req	*r;
	json_t			*msg;

	if (!P.open || (r = calloc(1, sizeof(*r))) == NULL) {
		json_decref(params);
		return (NULL);
	}
	r->id = ++P.next_id;
	r->deadline = util_now_ms() + (uint64_t)timeout_ms;
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->arg = arg;
	r->cb = cb;
	if ((msg = jsonrpc_request(r->id, method, params)) == NULL ||
	    rtrpc_send(msg) == -1) {
		free(r);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&P.pending, r, entry);
	return (r);
}

void
rtrpc_respond(const json_t *id, json_t *result)
{
	(void)rtrpc_send(jsonrpc_result(id, result));
}

void
rtrpc_respond_error(const json_t *id, int code, const char *message)
{
	(void)rtrpc_send(jsonrpc_error(id, code, message));
}

/* Complete a pending request: unlink, call back, free. */
static void
rtrpc_done(struct rtrpc_req *r, const json_t *result, const char *error)
{
	void	*arg = r->arg;

	TAILQ_REMOVE(&P.pending, r, entry);
	if (arg != NULL)
		P.ev->hold(arg);
	if (r->cb != NULL)
		r->cb(r, result, error);
	else if (error != NULL && !r->gone)
		log_debug("%s failed: %s", r->method, error);
	if (arg != NULL)
		P.ev->release(arg);
	free(r);
}

static void
rtrpc_response(const json_t *msg)
{
	const json_t		*id = json_object_get(msg, "id"), *err;
	struct rtrpc_req	*r = NULL;
	char			 text[1024];

	if (json_is_integer(id))
		TAILQ_FOREACH(r, &P.pending, entry)
			if (r->id == json_integer_value(id))
				break;
	if (!json_is_integer(id) || r == NULL) {
		log_debug("reply to an unknown request; dropped");
		return;
	}
	if ((err = json_object_get(msg, "error")) != NULL) {
		snprintf(text, sizeof(text), "%s", jx_str(err, "message") != NULL ?
		    jx_str(err, "message") : "error without a message");
		rtrpc_done(r, NULL, text);
	} else
		rtrpc_done(r, json_object_get(msg, "result"), NULL);
}

static void
rtrpc_dispatch(const json_t *msg)
{
	switch (jsonrpc_classify(msg)) {
	case JSONRPC_REQUEST:
		P.ev->request(json_object_get(msg, "id"), jx_str(msg, "method"),
		    json_object_get(msg, "params"));
		break;
	case JSONRPC_NOTIFICATION:
		P.ev->notification(jx_str(msg, "method"),
		    json_object_get(msg, "params"));
		break;
	case JSONRPC_RESPONSE:
		rtrpc_response(msg);
		break;
	default:
		log_warnx("the runtime sent something that is not JSON-RPC; "
		    "ignored");
		break;
	}
}

void
rtrpc_readable(struct evbuffer *in)
{
	struct evbuffer_iovec	 v;
	unsigned int		 epoch = P.epoch;
	enum jsonrpc_rc		 rc;
	json_t			*msg;
	size_t			 used;
	char			 err[192], why[224];

	while (evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		rc = jsonrpc_dec_feed(&P.dec, v.iov_base, v.iov_len, &used,
		    &msg, err, sizeof(err));
		(void)evbuffer_drain(in, used);
		switch (rc) {
		case JSONRPC_MSG:
			rtrpc_dispatch(msg);
			json_decref(msg);
			break;
		case JSONRPC_SKIP:
			log_warnx("dropped a message from the runtime: %s",
			    err);
			break;
		case JSONRPC_FATAL:
			snprintf(why, sizeof(why), "protocol error: %s", err);
			P.ev->fatal(why);
			return;
		case JSONRPC_MORE:
			break;
		}
		/* A callback may have stopped us, or a send failed. */
		if (P.epoch != epoch || !P.open)
			return;
	}
}

void
rtrpc_fail_all(const char *why, int quiet)
{
	struct rtrpc_req	*r;

	while ((r = TAILQ_FIRST(&P.pending)) != NULL) {
		r->gone = 1;
		if (quiet) {
			TAILQ_REMOVE(&P.pending, r, entry);
			free(r);
		} else
			rtrpc_done(r, NULL, why);
	}
}

void
rtrpc_forget(void *arg)
{
	struct rtrpc_req	*r;

	TAILQ_FOREACH(r, &P.pending, entry)
		if (r->arg == arg)
			r->arg = NULL;
}

const struct rtrpc_req *
rtrpc_overdue(uint64_t now)
{
	struct rtrpc_req	*r;

	TAILQ_FOREACH(r, &P.pending, entry)
		if (now >= r->deadline)
			return (r);
	return (NULL);
}
