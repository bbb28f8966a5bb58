/*
 * chanop: see chanop.h.  Every operation is on one list, with what it
 * waits for: the backend never calls back for a request of a session it
 * closed, answers every request of the engine, and the store drops the
 * callbacks it is told to forget, so the list is how nothing is leaked and
 * nothing runs for a channel that went.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "chan.h"
#include "chanop.h"
#include "store.h"

static TAILQ_HEAD(, chanop)	ops = TAILQ_HEAD_INITIALIZER(ops);

struct chanop *
chanop_new(struct chan *c, const char *root, json_t *msg, size_t size)
{
	struct chanop	*op;

	if (size < sizeof(*op))
		size = sizeof(*op);
	if ((op = calloc(1, size)) == NULL ||
	    (op->root = strdup(root != NULL ? root : "")) == NULL) {
		free(op);
		log_warnx("channel %s: out of memory: a command is dropped",
		    c->id);
		return (NULL);
	}
	op->c = c;
	op->msg = json_incref(msg);
	c->holds++;
	TAILQ_INSERT_TAIL(&ops, op, entry);
	return (op);
}

void
chanop_free(struct chanop *op)
{
	if (op == NULL)
		return;
	if (op->pending > 0)
		store_forget(op);
	if (op->c != NULL)
		op->c->holds--;
	if (op->dtor != NULL)
		op->dtor(op);
	TAILQ_REMOVE(&ops, op, entry);
	json_decref(op->msg);
	json_decref(op->data);
	free(op->root);
	free(op->text);
	free(op);
}

/* ---- requests ------------------------------------------------------------ */

static void
chanop_answered(void *arg, const json_t *result, const char *error)
{
	struct chanop	*op = arg;

	op->wait = CHANOP_IDLE;
	if (op->c == NULL)		/* the channel went meanwhile */
		chanop_free(op);
	else
		op->step(op, result, error);
}

static int
chanop_ask(struct chanop *op, struct bsession *bs, const char *method,
    json_t *params, chanop_cb step)
{
	const struct backend	*be = chan_backend();

	if (be->call == NULL) {
		json_decref(params);
		return (-1);
	}
	op->step = step;
	op->wait = bs != NULL ? CHANOP_SESSION : CHANOP_ENGINE;
	if (be->call(bs, method, params, chanop_answered, op) == -1) {
		op->wait = CHANOP_IDLE;
		return (-1);
	}
	return (0);
}

int
chanop_call(struct chanop *op, const char *method, json_t *params,
    chanop_cb step)
{
	if (op->c->st != CH_OPEN || op->c->bs == NULL) {
		json_decref(params);
		return (-1);
	}
	return (chanop_ask(op, op->c->bs, method, params, step));
}

int
chanop_engine(struct chanop *op, const char *method, json_t *params,
    chanop_cb step)
{
	return (chanop_ask(op, NULL, method, params, step));
}

static void
chanop_logged(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL)
		log_warnx("channel %s: %s failed: %s", op->c->id, op->text,
		    error);
	chanop_free(op);
}

void
chanop_send(struct chan *c, const char *method, json_t *params)
{
	struct chanop	*op;

	if ((op = chanop_new(c, "", NULL, 0)) == NULL ||
	    (op->text = strdup(method)) == NULL) {
		json_decref(params);
		chanop_free(op);
		return;
	}
	if (chanop_call(op, method, params, chanop_logged) == -1)
		chanop_free(op);
}

/* ---- store writes -------------------------------------------------------- */

/* A write failed: the first failure of the writes a step waits for. */
static void
chanop_failed(struct chanop *op, const char *why)
{
	if (op->error[0] == '\0')
		snprintf(op->error, sizeof(op->error), "%s", why);
}

/* A write is issued: a step told of earlier ones hears only of the next. */
static void
chanop_write(struct chanop *op)
{
	if (op->told) {
		op->told = 0;
		op->error[0] = '\0';
	}
}

static int
chanop_issued(struct chanop *op, int rc, const char *what)
{
	char	why[128];

	if (rc == -1) {
		snprintf(why, sizeof(why), "the store refused %s", what);
		chanop_failed(op, why);
		return (-1);
	}
	op->pending++;
	return (0);
}

static void
chanop_written(void *arg, int ok, const char *error)
{
	struct chanop	*op = arg;

	if (!ok)
		chanop_failed(op, error != NULL ? error : "not saved");
	if (--op->pending == 0 && op->wait == CHANOP_STORE) {
		op->wait = CHANOP_IDLE;
		op->told = 1;
		op->step(op, NULL, op->error[0] != '\0' ? op->error : NULL);
	}
}

int
chanop_pref(struct chanop *op, const char *name, const char *value)
{
	chanop_write(op);
	return (chanop_issued(op, store_set_pref(op->c->id, name, value,
	    chanop_written, op), name));
}

int
chanop_setting(struct chanop *op, const char *key, const char *value)
{
	chanop_write(op);
	return (chanop_issued(op, store_set_setting(key, value,
	    chanop_written, op), key));
}

int
chanop_clear_rules(struct chanop *op, const char *tool, const char *pattern,
    size_t *removed)
{
	int	n;

	chanop_write(op);
	n = store_clear_rules(op->c->id, tool, pattern, chanop_written, op);
	if (chanop_issued(op, n == -1 ? -1 : 0, "the rules") == -1)
		return (-1);
	*removed = (size_t)n;
	return (0);
}

void
chanop_stored(struct chanop *op, chanop_cb step)
{
	op->step = step;
	if (op->pending > 0) {
		op->wait = CHANOP_STORE;
		return;
	}
	op->told = 1;
	step(op, NULL, op->error[0] != '\0' ? op->error : NULL);
}

void
chanop_say(struct chanop *op, const char *text)
{
	chan_say(op->c, op->root, text);
}

char *
chanop_outcome(struct chanop *op, const char *text)
{
	char	*t;

	if (op->error[0] == '\0')
		return (strdup(text));
	log_warnx("channel %s: a write failed: %s", op->c->id, op->error);
	if (asprintf(&t, "%s\n⚠️ Not saved (%s): this lasts until the bridge "
	    "restarts.", text, op->error) == -1)
		return (NULL);
	return (t);
}

void
chanop_saved(struct chanop *op, const char *text)
{
	char	*t = chanop_outcome(op, text);

	chanop_say(op, t != NULL ? t : text);
	free(t);
}

/* ---- the channel's life -------------------------------------------------- */

/*
 * The operations of c that can go on no more: those waiting for a request
 * of its session when it closes; all of them when c goes, but one
 * waiting for the engine, whose answer comes anyway and frees it.
 */
static void
chanop_drop(struct chan *c, int gone)
{
	struct chanop	*op, *next;

	for (op = TAILQ_FIRST(&ops); op != NULL; op = next) {
		next = TAILQ_NEXT(op, entry);
		if (op->c != c || (!gone && op->wait != CHANOP_SESSION))
			continue;
		if (op->wait != CHANOP_ENGINE)
			chanop_free(op);
		else {
			c->holds--;
			op->c = NULL;
		}
	}
}

void
chanop_session_closed(struct chan *c)
{
	chanop_drop(c, 0);
}

void
chanop_chan_freed(struct chan *c)
{
	chanop_drop(c, 1);
}
