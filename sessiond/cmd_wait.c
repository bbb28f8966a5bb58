/*
 * cmd_wait: a command whose reply waits for something (the store's commit,
 * the runtime's answer, an HTTP request).  What it needs of its channel is
 * copied, never a pointer to the channel: the channel may be gone by the
 * time the answer comes (sessiond stopping), and then nothing is said.
 *
 * Preferences and settings a command stores are acknowledged once they
 * are durable (docs/architecture.md, "Acknowledged means durable"): the
 * command issues its writes, then cmd_wait_go(); its next step runs once
 * every write committed or failed, and cmd_wait_saved() tells the reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "chan.h"
#include "cmd.h"
#include "store.h"

struct cmdwait *
cmd_wait_new(struct cmdctx *x, size_t size)
{
	struct cmdwait	*w;

	if (size < sizeof(*w) || (w = calloc(1, size)) == NULL)
		goto oom;
	w->msg = json_incref(x->msg);
	if ((w->chan = strdup(x->c->id)) == NULL ||
	    (x->c->thread != NULL && (w->thread = strdup(x->c->thread)) ==
	    NULL) ||
	    (w->bot = strdup(x->c->bot)) == NULL ||
	    (w->root = strdup(x->root)) == NULL ||
	    (w->arg = strdup(x->arg)) == NULL) {
		cmd_wait_free(w);
		goto oom;
	}
	return (w);
oom:
	log_warnx("channel %s: out of memory: /%s is not answered", x->c->id,
	    x->name);
	return (NULL);
}

void
cmd_wait_free(struct cmdwait *w)
{
	if (w == NULL)
		return;
	if (w->dtor != NULL)
		w->dtor(w);
	json_decref(w->msg);
	free(w->chan);
	free(w->thread);
	free(w->bot);
	free(w->root);
	free(w->arg);
	free(w);
}

struct chan *
cmd_wait_chan(const struct cmdwait *w)
{
	return (chan_find(w->chan, w->thread, w->bot));
}

void
cmd_wait_say(struct cmdwait *w, const char *text)
{
	struct chan	*c = cmd_wait_chan(w);

	if (c != NULL)
		chan_say(c, w->root, text);
}

/* The channel's command context again (for command_defer()). */
int
cmd_wait_ctx(struct cmdwait *w, const char *name, struct cmdctx *x)
{
	memset(x, 0, sizeof(*x));
	if ((x->c = cmd_wait_chan(w)) == NULL)
		return (-1);
	x->msg = w->msg;
	x->root = w->root;
	x->name = name;
	x->arg = w->arg;
	return (0);
}

static void
cmd_wait_stored(void *arg, int ok, const char *error)
{
	struct cmdwait	*w = arg;

	if (!ok && w->error[0] == '\0')
		snprintf(w->error, sizeof(w->error), "%s", error != NULL ?
		    error : "?");
	if (--w->pending == 0 && w->then != NULL)
		w->then(w);
}

static void
cmd_wait_refused(struct cmdwait *w, const char *what)
{
	if (w->error[0] == '\0')
		snprintf(w->error, sizeof(w->error), "the store refused %s",
		    what);
}

void
cmd_wait_pref(struct cmdwait *w, const char *name, const char *value)
{
	if (store_set_pref(w->chan, name, value, cmd_wait_stored, w) == -1)
		cmd_wait_refused(w, name);
	else
		w->pending++;
}

void
cmd_wait_setting(struct cmdwait *w, const char *key, const char *value)
{
	if (store_set_setting(key, value, cmd_wait_stored, w) == -1)
		cmd_wait_refused(w, key);
	else
		w->pending++;
}

/* Every write is issued: then(w) runs once they are all done. */
void
cmd_wait_go(struct cmdwait *w, void (*then)(struct cmdwait *))
{
	w->then = then;
	if (w->pending == 0)
		then(w);
}

/* text, and what was not saved if something was not; NULL out of memory. */
char *
cmd_wait_outcome(struct cmdwait *w, const char *text)
{
	char	*t;

	if (w->error[0] == '\0')
		return (strdup(text));
	log_warnx("channel %s: a preference was not saved: %s", w->chan,
	    w->error);
	if (asprintf(&t, "%s\n⚠️ Not saved (%s): this lasts until the bridge "
	    "restarts.", text, w->error) == -1)
		return (NULL);
	return (t);
}

void
cmd_wait_saved(struct cmdwait *w, const char *text)
{
	char	*t = cmd_wait_outcome(w, text);

	cmd_wait_say(w, t != NULL ? t : text);
	free(t);
}
