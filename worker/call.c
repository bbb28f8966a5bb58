/*
 * call: a platform HTTP call with its retries (see call.h).
 */
#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/call.h"
#include "worker/platform.h"

#define CALL_HDRS_MAX	4
#define CALL_BACKOFF_MS	250
#define CALL_BACKOFF_MAX_MS 4000

struct call_set {
	struct event_base	*base;
	struct net		*net;
	TAILQ_HEAD(, call)	 calls;
};

struct call {
	TAILQ_ENTRY(call)	 entry;
	struct call_set		*set;
	char			 label[224];
	char			 what[192];
	char			 method[8];
	char			*url;
	char			*body;
	char			*hdrs[CALL_HDRS_MAX + 1];
	int			 tries, max_tries, limited, in_cb;
	call_classify		 classify;
	struct net_source	 source;
	struct net_sink		 sink;
	struct net_opts		 opts;
	struct net_req		*req;
	struct event		*timer;
	struct backoff		 bo;
	call_cb			 cb;
	void			*arg;
};

struct call_set *
call_set_new(struct event_base *base)
{
	struct call_set	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	s->base = base;
	TAILQ_INIT(&s->calls);
	if ((s->net = net_new(base)) == NULL) {
		free(s);
		return (NULL);
	}
	return (s);
}

static void
call_free(struct call *c)
{
	size_t	i;

	TAILQ_REMOVE(&c->set->calls, c, entry);
	net_cancel(c->req);
	if (c->timer != NULL)
		event_free(c->timer);
	for (i = 0; i < CALL_HDRS_MAX && c->hdrs[i] != NULL; i++) {
		explicit_bzero(c->hdrs[i], strlen(c->hdrs[i]));	/* tokens */
		free(c->hdrs[i]);
	}
	free(c->url);
	free(c->body);
	free(c);
}

void
call_set_free(struct call_set *s)
{
	if (s == NULL)
		return;
	while (!TAILQ_EMPTY(&s->calls))
		call_free(TAILQ_FIRST(&s->calls));
	net_free(s->net);
	free(s);
}

void
call_cancel(struct call *c)
{
	if (c != NULL && !c->in_cb)
		call_free(c);
}

static void
call_end(struct call *c, struct call_result *r)
{
	c->in_cb = 1;
	c->cb(r, c->arg);
	json_decref(r->json);
	call_free(c);
}

/* Try again in ms; a timer that cannot be armed ends the call now. */
static void
call_later(struct call *c, uint32_t ms, struct call_result *r)
{
	if (util_timer_ms(c->timer, ms) == 0) {
		json_decref(r->json);
		return;
	}
	log_warnx("%s: cannot arm the retry timer", c->label);
	call_end(c, r);
}

static void
call_done(const struct net_resp *resp, void *arg)
{
	struct call		*c = arg;
	struct call_result	 r;
	enum call_verdict	 v;
	uint32_t		 ms;

	c->req = NULL;
	memset(&r, 0, sizeof(r));
	r.resp = resp;
	r.label = c->label;
	r.what = c->what;
	v = c->classify(&r);
	/* A file over its bound is as large on the next try. */
	if (resp->too_large) {
		v = CALL_FAIL;
		snprintf(r.error, sizeof(r.error), "%s: %s", c->label,
		    resp->error);
	}
	r.ok = v == CALL_OK;
	if (v != CALL_OK && r.error[0] == '\0')
		snprintf(r.error, sizeof(r.error), "%s: failed", c->label);
	/* The error goes into JSON: a character cut by snprintf() goes. */
	r.error[platform_valid_prefix(r.error, strlen(r.error))] = '\0';
	if (v == CALL_RETRY_AFTER && c->limited++ < CALL_LIMITED_MAX) {
		ms = net_retry_after_ms(resp, CALL_RETRY_AFTER_MAX_MS);
		log_warnx("%s: rate limited; retrying in %u ms", c->label, ms);
		call_later(c, ms, &r);
		return;
	}
	if (v == CALL_RETRY && c->tries < c->max_tries) {
		ms = backoff_next(&c->bo);
		log_warnx("%s: %s; try %d of %d in %u ms", c->label,
		    resp->status == 0 ? resp->error : "server error",
		    c->tries + 1, c->max_tries, ms);
		call_later(c, ms, &r);
		return;
	}
	call_end(c, &r);
}

static void
call_send(int fd, short what, void *arg)
{
	struct call		*c = arg;
	struct call_result	 r;
	struct net_resp		 none;

	c->tries++;
	c->req = net_request(c->set->net, c->method, c->url,
	    (const char *const *)c->hdrs, c->body, &c->opts, call_done, c);
	if (c->req != NULL)
		return;
	memset(&r, 0, sizeof(r));
	memset(&none, 0, sizeof(none));
	none.error = "cannot start the request";
	none.body = (char *)"";
	none.retry_after = -1;
	r.resp = &none;
	r.label = c->label;
	r.what = c->what;
	snprintf(r.error, sizeof(r.error), "%s: cannot start the request",
	    c->label);
	if (c->tries < c->max_tries)
		call_later(c, backoff_next(&c->bo), &r);
	else
		call_end(c, &r);
}

struct call *
call_new(struct call_set *s, const struct call_req *req, call_cb cb,
    void *arg)
{
	struct call	*c;
	size_t		 i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->set = s;
	TAILQ_INSERT_TAIL(&s->calls, c, entry);
	c->cb = cb;
	c->arg = arg;
	c->classify = req->classify;
	c->max_tries = req->tries > 0 ? req->tries : 1;
	backoff_init(&c->bo, CALL_BACKOFF_MS, CALL_BACKOFF_MAX_MS);
	snprintf(c->label, sizeof(c->label), "%s", req->label);
	snprintf(c->what, sizeof(c->what), "%s", req->what);
	snprintf(c->method, sizeof(c->method), "%s", req->method);
	c->opts.timeout_ms = req->timeout_ms;
	if (req->source != NULL) {
		c->source = *req->source;
		c->opts.source = &c->source;
	}
	if (req->sink != NULL) {
		c->sink = *req->sink;
		c->opts.sink = &c->sink;
	}
	for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
		if (i == CALL_HDRS_MAX ||
		    (c->hdrs[i] = strdup(req->headers[i])) == NULL)
			goto fail;
	if ((c->url = strdup(req->url)) == NULL ||
	    (req->body != NULL && (c->body = strdup(req->body)) == NULL) ||
	    (c->timer = evtimer_new(s->base, call_send, c)) == NULL ||
	    util_timer_ms(c->timer, 0) == -1)
		goto fail;
	return (c);
fail:
	call_free(c);
	return (NULL);
}
