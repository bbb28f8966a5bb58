/*
 * outbound: platform calls sessiond asks a worker to make (post, patch,
 * delete, typing, react), and their answers.
 *
 * Every op waits here until its OUTBOUND_DONE.  An op goes to the link the
 * bot is routed to now; if that worker generation dies before answering, the
 * op is sent again to whichever generation the bot is routed to next.  Ops
 * leave in the order they were made, which keeps a patch behind the post it
 * patches.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "sessiond.h"

#define OUTBOUND_MAX	20000	/* ops waiting, all bots together */

struct op {
	TAILQ_ENTRY(op)	 entry;
	uint32_t	 ref;
	char		*bot;
	json_t		*body;		/* the OUTBOUND body, with its ref */
	int		 sent_gen;	/* generation it went to; 0 = not sent */
	outbound_cb	 cb;
	void		*arg;
};

static TAILQ_HEAD(, op)	ops = TAILQ_HEAD_INITIALIZER(ops);
static size_t		nops;
static uint32_t		next_ref;

static void
op_free(struct op *o)
{
	TAILQ_REMOVE(&ops, o, entry);
	nops--;
	json_decref(o->body);
	free(o->bot);
	free(o);
}

static void
op_send(struct op *o)
{
	struct link	*l = link_for(o->bot);

	if (l == NULL)
		return;		/* sent when the bot is routed again */
	if (ipc_send(l->chan, IPC_OUTBOUND, json_incref(o->body)) == 0)
		o->sent_gen = l->gen;
}

/*
 * Queue op (an object with "op" and its fields; this function takes the
 * reference) for bot's worker.  cb, if not NULL, gets the result.  Returns
 * -1, without calling cb, when the op cannot even be queued.
 */
int
outbound_op(const char *bot, json_t *op, outbound_cb cb, void *arg)
{
	struct op	*o;

	if (op == NULL)
		return (-1);
	if (nops >= OUTBOUND_MAX) {
		log_warnx("outbound: %zu ops waiting; dropping a %s for %s", nops,
		    json_string_value(json_object_get(op, "op")), bot);
		json_decref(op);
		return (-1);
	}
	if ((o = calloc(1, sizeof(*o))) == NULL || (o->bot = strdup(bot)) == NULL) {
		free(o);
		json_decref(op);
		return (-1);
	}
	if (++next_ref == 0)
		next_ref = 1;
	o->ref = next_ref;
	o->body = op;
	o->cb = cb;
	o->arg = arg;
	if (json_object_set_new(op, "ref", json_integer(o->ref)) == -1) {
		json_decref(op);
		free(o->bot);
		free(o);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&ops, o, entry);
	nops++;
	op_send(o);
	return (0);
}

void
outbound_done(struct ipc_msg *m)
{
	struct op	*o;
	uint32_t	 ref = (uint32_t)json_integer_value(json_object_get(m->body,
			    "ref"));
	outbound_cb	 cb;
	void		*arg;

	TAILQ_FOREACH(o, &ops, entry)
		if (o->ref == ref)
			break;
	if (o == NULL) {
		log_debug("outbound: OUTBOUND_DONE for unknown ref %u", ref);
		return;
	}
	cb = o->cb;
	arg = o->arg;
	op_free(o);
	if (cb != NULL)
		cb(arg, json_is_true(json_object_get(m->body, "ok")),
		    json_string_value(json_object_get(m->body, "post")),
		    json_string_value(json_object_get(m->body, "error")));
}

/* A worker generation is gone: what it never answered goes out again. */
void
outbound_link_gone(const struct link *l)
{
	struct op	*o;
	unsigned int	 n = 0;

	TAILQ_FOREACH(o, &ops, entry)
		if (o->sent_gen == l->gen && strcmp(o->bot, l->bot) == 0) {
			o->sent_gen = 0;
			n++;
		}
	if (n > 0)
		log_info("outbound: %u op(s) unanswered by %s g%d; re-sending",
		    n, l->bot, l->gen);
	outbound_flush(l->bot);
}

/* Send bot's unsent ops, in order, to the generation it is routed to. */
void
outbound_flush(const char *bot)
{
	struct op	*o;

	TAILQ_FOREACH(o, &ops, entry)
		if (o->sent_gen == 0 && strcmp(o->bot, bot) == 0)
			op_send(o);
}

/* arg is going away: its ops still run, but report to nobody. */
void
outbound_forget(void *arg)
{
	struct op	*o;

	TAILQ_FOREACH(o, &ops, entry)
		if (o->arg == arg)
			o->cb = NULL;
}

void
outbound_free_all(void)
{
	while (!TAILQ_EMPTY(&ops))
		op_free(TAILQ_FIRST(&ops));
}
