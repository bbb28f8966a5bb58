/*
 * opq: per-channel ordered queues of outbound ops (see opq.h).
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/jx.h"
#include "worker/opq.h"

#define OPQ_CHANNEL_MAX	80	/* a channel id, and a lane */

struct opq_entry {
	TAILQ_ENTRY(opq_entry)	 entry;
	struct opq_chan		*q;
	struct opq_op		 op;		/* first: opq_done() finds us */
	int			 running;
};

struct opq_chan {
	TAILQ_ENTRY(opq_chan)	 entry;
	TAILQ_HEAD(, opq_entry)	 ops;
	char			 channel[OPQ_CHANNEL_MAX];
};

struct opq {
	const struct opq_cbs	*cb;
	void			*arg;
	const struct adapter_events *ev;
	size_t			 datasize;
	unsigned int		 max, n;
	TAILQ_HEAD(, opq_chan)	 chans;
};

static struct opq_entry *
opq_entry_of(struct opq_op *op)
{
	return ((struct opq_entry *)((char *)op -
	    offsetof(struct opq_entry, op)));
}

static const char *
opq_name(const struct opq_op *op)
{
	const char	*s = jx_str(op->body, "op");

	return (s != NULL ? s : "?");
}

struct opq *
opq_new(const struct opq_cbs *cb, void *arg, const struct adapter_events *ev,
    size_t datasize, unsigned int max)
{
	struct opq	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return (NULL);
	q->cb = cb;
	q->arg = arg;
	q->ev = ev;
	q->datasize = datasize;
	q->max = max;
	TAILQ_INIT(&q->chans);
	return (q);
}

unsigned int
opq_len(const struct opq *q)
{
	return (q->n);
}

static void
opq_entry_free(struct opq *q, struct opq_entry *e)
{
	TAILQ_REMOVE(&e->q->ops, e, entry);
	q->n--;
	if (e->op.data != NULL && q->cb->clear != NULL)
		q->cb->clear(q->arg, &e->op);
	free(e->op.data);
	json_decref(e->op.body);
	if (e->op.fd != -1)
		(void)close(e->op.fd);
	free(e);
}

/* Answer an op (exactly once) and forget it. */
static void
opq_finish(struct opq *q, struct opq_entry *e, const struct adapter_answer *a)
{
	struct adapter_answer	ans = *a;

	ans.ref = e->op.ref;
	if (!ans.ok && ans.error == NULL)
		ans.error = "failed";
	if (ans.ok)
		log_debug("outbound %" PRId64 " %s done%s%s",
		    (int64_t)ans.ref, opq_name(&e->op), ans.post != NULL ?
		    ": " : "", ans.post != NULL ? ans.post : "");
	else
		log_warnx("outbound %" PRId64 " %s failed: %s%s",
		    (int64_t)ans.ref, opq_name(&e->op), ans.error,
		    ans.token_refused ? " (the token was refused)" : "");
	if (ans.ok)
		ans.error = NULL;
	q->ev->outbound_done(q->ev->arg, &ans);
	opq_entry_free(q, e);
}

/* Answer ref at once, without an entry (it never got one). */
static void
opq_refuse(struct opq *q, json_int_t ref, const char *err)
{
	struct adapter_answer	a = { .ref = ref, .error = err };

	log_warnx("outbound %" PRId64 " refused: %s", (int64_t)ref, err);
	q->ev->outbound_done(q->ev->arg, &a);
}

/*
 * Start the first op of c unless it runs; ops that cannot start (or need
 * no call) are answered at once.  An emptied channel queue goes.
 */
static void
opq_run(struct opq *q, struct opq_chan *c)
{
	struct opq_entry	*e;
	struct adapter_answer	 a;
	char			 err[160];
	int			 rc;

	while ((e = TAILQ_FIRST(&c->ops)) != NULL && !e->running) {
		err[0] = '\0';
		if ((rc = q->cb->start(q->arg, &e->op, err, sizeof(err))) == 0) {
			e->running = 1;
			return;
		}
		memset(&a, 0, sizeof(a));
		a.ok = rc == 1;
		a.error = err[0] != '\0' ? err : "cannot start the call";
		opq_finish(q, e, &a);
	}
	if (e == NULL) {
		TAILQ_REMOVE(&q->chans, c, entry);
		free(c);
	}
	q->cb->answered(q->arg);
}

static struct opq_chan *
opq_chan(struct opq *q, const char *channel)
{
	struct opq_chan	*c;

	TAILQ_FOREACH(c, &q->chans, entry)
		if (strcmp(c->channel, channel) == 0)
			return (c);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	snprintf(c->channel, sizeof(c->channel), "%s", channel);
	TAILQ_INIT(&c->ops);
	TAILQ_INSERT_TAIL(&q->chans, c, entry);
	return (c);
}

void
opq_push(struct opq *q, const json_t *body, int fd)
{
	json_int_t		 ref = jx_int(body, "ref", 0);
	const char		*ch = jx_str(body, "channel");
	const char		*lane = jx_str(body, "lane");
	struct opq_chan		*c;
	struct opq_entry	*e = NULL;
	char			 key[OPQ_CHANNEL_MAX];

	if (q->n >= q->max) {
		if (fd != -1)
			(void)close(fd);
		opq_refuse(q, ref, "too many ops queued");
		return;
	}
	snprintf(key, sizeof(key), "%s%s%s", ch != NULL ? ch : "",
	    lane != NULL ? "/" : "", lane != NULL ? lane : "");
	if ((c = opq_chan(q, key)) == NULL ||
	    (e = calloc(1, sizeof(*e))) == NULL || (q->datasize > 0 &&
	    (e->op.data = calloc(1, q->datasize)) == NULL)) {
		free(e);
		if (c != NULL && TAILQ_EMPTY(&c->ops)) {
			TAILQ_REMOVE(&q->chans, c, entry);
			free(c);
		}
		if (fd != -1)
			(void)close(fd);
		opq_refuse(q, ref, "out of memory");
		return;
	}
	e->q = c;
	e->op.ref = ref;
	e->op.fd = fd;
	e->op.body = json_incref((json_t *)body);
	TAILQ_INSERT_TAIL(&c->ops, e, entry);
	q->n++;
	opq_run(q, c);
}

/* op's call is over: answer it and start the next op of its channel. */
void
opq_done(struct opq *q, struct opq_op *op, const struct adapter_answer *a)
{
	struct opq_entry	*e = opq_entry_of(op);
	struct opq_chan		*c = e->q;

	opq_finish(q, e, a);
	opq_run(q, c);
}

/* Forget every op without answering (the worker is going away). */
void
opq_free(struct opq *q)
{
	struct opq_chan	*c;

	if (q == NULL)
		return;
	while ((c = TAILQ_FIRST(&q->chans)) != NULL) {
		while (!TAILQ_EMPTY(&c->ops))
			opq_entry_free(q, TAILQ_FIRST(&c->ops));
		TAILQ_REMOVE(&q->chans, c, entry);
		free(c);
	}
	free(q);
}
