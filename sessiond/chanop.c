/*
 * chanop: see chanop.h.  Every operation is on one list, with what it
 * waits for: the backend never calls back for a request of a session it
 * closed, and the store drops the callbacks it is told to forget, so the
 * list is how nothing is leaked and nothing runs for a freed channel.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "chan.h"
#include "chanop.h"
#include "store.h"
#include "stream.h"

enum chanop_wait {
	CHANOP_IDLE,		/* between steps */
	CHANOP_CALL,		/* a request of the session */
	CHANOP_STORE		/* a store write */
};

struct op {
	struct chanop		 pub;		/* first: op is pub */
	TAILQ_ENTRY(op)		 entry;
	enum chanop_wait	 wait;
};

static TAILQ_HEAD(, op)	ops = TAILQ_HEAD_INITIALIZER(ops);

struct chanop *
chanop_new(struct chan *c, const char *root, json_t *msg)
{
	struct op	*o;

	if ((o = calloc(1, sizeof(*o))) == NULL ||
	    (o->pub.root = strdup(root != NULL ? root : "")) == NULL) {
		free(o);
		log_warnx("channel %s: out of memory: a command is dropped",
		    c->id);
		return (NULL);
	}
	o->pub.c = c;
	o->pub.msg = json_incref(msg);
	TAILQ_INSERT_TAIL(&ops, o, entry);
	return (&o->pub);
}

void
chanop_free(struct chanop *op)
{
	struct op	*o = (struct op *)op;

	if (op == NULL)
		return;
	if (o->wait == CHANOP_STORE)
		store_forget(o);
	TAILQ_REMOVE(&ops, o, entry);
	json_decref(op->msg);
	free(op->root);
	free(op->text);
	free(o);
}

static void
chanop_called(void *arg, const json_t *result, const char *error)
{
	struct op	*o = arg;

	o->wait = CHANOP_IDLE;
	o->pub.cb(&o->pub, result, error);
}

int
chanop_call(struct chanop *op, const char *method, json_t *params,
    chanop_cb cb)
{
	struct op		*o = (struct op *)op;
	const struct backend	*be = chan_backend();

	if (op->c->bs == NULL || be->call == NULL) {
		json_decref(params);
		return (-1);
	}
	op->cb = cb;
	o->wait = CHANOP_CALL;
	if (be->call(op->c->bs, method, params, chanop_called, o) == -1) {
		o->wait = CHANOP_IDLE;
		return (-1);
	}
	return (0);
}

static void
chanop_stored(void *arg, int ok, const char *error)
{
	struct op	*o = arg;

	o->wait = CHANOP_IDLE;
	o->pub.cb(&o->pub, NULL, ok ? NULL : error != NULL ? error :
	    "not saved");
}

int
chanop_pref(struct chanop *op, const char *name, const char *value,
    chanop_cb cb)
{
	struct op	*o = (struct op *)op;

	op->cb = cb;
	o->wait = CHANOP_STORE;
	if (store_set_pref(op->c->id, name, value, chanop_stored, o) == -1) {
		o->wait = CHANOP_IDLE;
		return (-1);
	}
	return (0);
}

int
chanop_clear_rules(struct chanop *op, const char *tool, const char *pattern,
    chanop_cb cb, size_t *removed)
{
	struct op	*o = (struct op *)op;
	int		 n;

	op->cb = cb;
	o->wait = CHANOP_STORE;
	if ((n = store_clear_rules(op->c->id, tool, pattern, chanop_stored,
	    o)) == -1) {
		o->wait = CHANOP_IDLE;
		return (-1);
	}
	*removed = (size_t)n;
	return (0);
}

void
chanop_drop(struct chan *c, int all)
{
	struct op	*o, *next;

	for (o = TAILQ_FIRST(&ops); o != NULL; o = next) {
		next = TAILQ_NEXT(o, entry);
		if (o->pub.c == c && (all || o->wait == CHANOP_CALL))
			chanop_free(&o->pub);
	}
}

/* A stream of one message does the splitting, as for the agent's answers. */
void
chanop_say(struct chan *c, const char *root, const char *text)
{
	struct stream	*s;

	if ((s = stream_new(c->bot, c->id, root, 0)) == NULL) {
		log_warnx("channel %s: out of memory: a reply is lost", c->id);
		return;
	}
	stream_message(s, text);
	stream_finish(s, NULL);
}
