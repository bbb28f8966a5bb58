/*
 * call: a platform HTTP call with its retries (see call.h), shared by the
 * Mattermost and Slack adapters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/backoff.h"
#include "common/log.h"
#include "call.h"

#define CALL_HDRS_MAX	4

struct call {
	struct net		*net;
	char			 label[224];
	char			 method[8];
	char			*url;
	char			*body;
	char			*hdrs[CALL_HDRS_MAX + 1];
	int			 tries, max_tries, limited, in_cb;
	struct net_req		*req;
	struct event		*timer;
	struct backoff		 bo;
	call_cb			 cb;
	void			*arg;
};

static void
call_free(struct call *c)
{
	size_t	i;

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
call_cancel(struct call *c)
{
	if (c != NULL && !c->in_cb)
		call_free(c);
}

static void
call_later(struct call *c, uint32_t ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	if (evtimer_add(c->timer, &tv) == -1)
		log_warnx("%s: cannot arm a timer", c->label);
}

static void
call_end(struct call *c, const struct net_resp *r)
{
	c->in_cb = 1;
	c->cb(r, c->arg);
	call_free(c);
}

static void
call_done(const struct net_resp *r, void *arg)
{
	struct call	*c = arg;
	long		 ra;
	uint32_t	 ms;

	c->req = NULL;
	if (r->status == 429 && c->limited++ < CALL_LIMITED_MAX) {
		ra = r->retry_after < 0 ? 1 : r->retry_after;
		ms = (uint32_t)(ra < CALL_RETRY_AFTER_MAX ? ra :
		    CALL_RETRY_AFTER_MAX) * 1000;
		log_warnx("%s: rate limited; retrying in %u ms", c->label, ms);
		call_later(c, ms);
		return;
	}
	if ((r->status == 0 || r->status >= 500) && c->tries < c->max_tries) {
		ms = backoff_next(&c->bo);
		log_warnx("%s: %s; try %d of %d in %u ms", c->label,
		    r->status == 0 ? r->error : "server error", c->tries + 1,
		    c->max_tries, ms);
		call_later(c, ms);
		return;
	}
	call_end(c, r);
}

static void
call_send(int fd, short what, void *arg)
{
	struct call	*c = arg;
	struct net_resp	 r;

	c->tries++;
	c->req = net_request(c->net, c->method, c->url,
	    (const char *const *)c->hdrs, c->body, NULL, call_done, c);
	if (c->req != NULL)
		return;
	if (c->tries < c->max_tries) {
		call_later(c, backoff_next(&c->bo));
		return;
	}
	memset(&r, 0, sizeof(r));
	r.error = "cannot start the request";
	r.body = "";
	r.retry_after = -1;
	call_end(c, &r);
}

struct call *
call_new(struct event_base *base, struct net *net, const char *label,
    const char *method, const char *url, const char *const *headers,
    const char *body, int tries, call_cb cb, void *arg)
{
	struct call	*c;
	size_t		 i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->net = net;
	c->cb = cb;
	c->arg = arg;
	c->max_tries = tries;
	backoff_init(&c->bo, 250, 4000);
	snprintf(c->label, sizeof(c->label), "%s", label);
	snprintf(c->method, sizeof(c->method), "%s", method);
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		if (i == CALL_HDRS_MAX ||
		    (c->hdrs[i] = strdup(headers[i])) == NULL)
			goto fail;
	if ((c->url = strdup(url)) == NULL ||
	    (body != NULL && (c->body = strdup(body)) == NULL) ||
	    (c->timer = evtimer_new(base, call_send, c)) == NULL)
		goto fail;
	call_later(c, 0);
	return (c);
fail:
	call_free(c);
	return (NULL);
}
