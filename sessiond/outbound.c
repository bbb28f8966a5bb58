/*
 * outbound: platform calls sessiond asks a worker to make (post, patch,
 * delete, typing, react, download, upload), and their answers.
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
#include <unistd.h>

#include <event2/event.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/ipc.h"
#include "link.h"
#include "outbound.h"
#include "route.h"

#define OUTBOUND_MAX	20000	/* ops waiting, all bots together */
#define OUTBOUND_AUTH_WAIT_MS	30000	/* a refused token waits this long for a new worker */
#define OUTBOUND_AUTH_TICK_MS	1000

struct op {
	TAILQ_ENTRY(op)	 entry;
	uint32_t	 ref;
	char		*bot;
	json_t		*body;		/* the OUTBOUND body, with its ref */
	int		 fd;		/* a file that goes with it, or -1 */
	int		 sent_gen;	/* generation it went to; 0 = not sent */
	int		 denied_gen;	/* generation whose token was refused */
	uint64_t	 denied_ms;	/* when */
	outbound_cb	 cb;
	void		*arg;
};

static TAILQ_HEAD(, op)	ops = TAILQ_HEAD_INITIALIZER(ops);
static size_t		nops;
static uint32_t		next_ref;
static struct event	*auth_timer;	/* expires ops waiting for a new token */
static struct event_base *ob_base;

void
outbound_init(struct event_base *base)
{
	ob_base = base;
}

static void
op_free(struct op *o)
{
	TAILQ_REMOVE(&ops, o, entry);
	nops--;
	json_decref(o->body);
	if (o->fd != -1)
		(void)close(o->fd);
	free(o->bot);
	free(o);
}

static void
op_send(struct op *o)
{
	struct link	*l = route_link(o->bot);

	if (l == NULL || l->gen == o->denied_gen)
		return;		/* sent when the bot is routed again */
	if (link_send_fd(l, IPC_OUTBOUND, json_incref(o->body), o->fd) == 0)
		o->sent_gen = l->gen;
}

int
outbound_op(const char *bot, json_t *op, outbound_cb cb, void *arg)
{
	return (outbound_op_fd(bot, op, -1, cb, arg));
}

int
outbound_op_fd(const char *bot, json_t *op, int fd, outbound_cb cb, void *arg)
{
	struct op	*o;

	if (op == NULL) {
		if (fd != -1)
			(void)close(fd);
		log_warnx("outbound: an op for %s could not be built (out of "
		    "memory, or text that is not UTF-8)", bot);
		return (-1);
	}
	if (nops >= OUTBOUND_MAX) {
		log_warnx("outbound: %zu ops waiting; dropping a %s for %s", nops,
		    jx_stre(op, "op"), bot);
		json_decref(op);
		if (fd != -1)
			(void)close(fd);
		return (-1);
	}
	if ((o = calloc(1, sizeof(*o))) == NULL || (o->bot = strdup(bot)) == NULL) {
		free(o);
		json_decref(op);
		if (fd != -1)
			(void)close(fd);
		log_warnx("outbound: out of memory; a %s for %s is lost",
		    jx_stre(op, "op"), bot);
		return (-1);
	}
	if (++next_ref == 0)
		next_ref = 1;
	o->ref = next_ref;
	o->body = op;
	o->fd = fd;
	o->cb = cb;
	o->arg = arg;
	if (json_object_set_new(op, "ref", json_integer(o->ref)) == -1) {
		log_warnx("outbound: out of memory; a %s for %s is lost",
		    jx_stre(op, "op"), bot);
		json_decref(op);
		if (fd != -1)
			(void)close(fd);
		free(o->bot);
		free(o);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&ops, o, entry);
	nops++;
	op_send(o);
	return (0);
}

static void
op_finish(struct op *o, const struct outbound_result *r)
{
	outbound_cb	 cb = o->cb;
	void		*arg = o->arg;

	op_free(o);
	if (cb != NULL)
		cb(arg, r);
}

/* Ops refused for a token that was never replaced fail now. */
static void
outbound_auth_expire(int fd, short ev, void *arg)
{
	static const struct outbound_result refused = {
		.error = "the platform refused the bot's token"
	};
	struct op	*o, *next;
	uint64_t	 now = util_now_ms();
	int		 waiting = 0;

	for (o = TAILQ_FIRST(&ops); o != NULL; o = next) {
		next = TAILQ_NEXT(o, entry);
		if (o->denied_gen == 0 || o->sent_gen != 0)
			continue;
		if (now - o->denied_ms >= OUTBOUND_AUTH_WAIT_MS)
			op_finish(o, &refused);
		else
			waiting = 1;
	}
	if (waiting && util_timer_ms(auth_timer, OUTBOUND_AUTH_TICK_MS) == -1)
		log_warnx("outbound: cannot arm the token-wait timer");
}

/*
 * A refused token is what a token rotation looks like from the old worker:
 * the op waits for the bot's next generation instead of failing.
 */
static int
op_wait_for_token(struct op *o)
{
	if (o->denied_gen != 0)
		return (0);
	if (auth_timer == NULL &&
	    (auth_timer = evtimer_new(ob_base, outbound_auth_expire, NULL)) == NULL)
		return (0);
	o->denied_gen = o->sent_gen;
	o->denied_ms = util_now_ms();
	o->sent_gen = 0;
	log_info("outbound: %s refused the token of %s g%d; the op waits for "
	    "the next generation", jx_stre(o->body, "op"), o->bot,
	    o->denied_gen);
	if (!evtimer_pending(auth_timer, NULL) &&
	    util_timer_ms(auth_timer, OUTBOUND_AUTH_TICK_MS) == -1)
		log_warnx("outbound: cannot arm the token-wait timer");
	op_send(o);
	return (1);
}

void
outbound_done(json_t *body)
{
	struct outbound_result	 r;
	struct op		*o;
	uint32_t		 ref = (uint32_t)jx_int(body, "ref", 0);
	int			 ok = jx_bool(body, "ok", 0);
	const char		*error = jx_str(body, "error");

	TAILQ_FOREACH(o, &ops, entry)
		if (o->ref == ref)
			break;
	if (o == NULL) {
		log_debug("outbound: OUTBOUND_DONE for unknown ref %u", ref);
		return;
	}
	/* The worker's adapter says whether the token was refused. */
	if (!ok && jx_bool(body, "tokenRefused", 0) && op_wait_for_token(o))
		return;
	r.ok = ok;
	r.post = jx_str(body, "post");
	r.error = error;
	r.platform_us = (uint64_t)jx_int(body, "platformUs", 0);
	r.ack_us = (uint64_t)jx_int(body, "ackUs", 0);
	op_finish(o, &r);
}

void
outbound_link_gone(const char *bot, int gen)
{
	struct op	*o;
	unsigned int	 n = 0;

	TAILQ_FOREACH(o, &ops, entry)
		if (o->sent_gen == gen && strcmp(o->bot, bot) == 0) {
			o->sent_gen = 0;
			n++;
		}
	if (n > 0) {
		log_info("outbound: %u op(s) unanswered by %s g%d; re-sending",
		    n, bot, gen);
		route_count(bot, 0, n);
	}
	outbound_flush(bot);
}

void
outbound_flush(const char *bot)
{
	struct op	*o;

	TAILQ_FOREACH(o, &ops, entry)
		if (o->sent_gen == 0 && strcmp(o->bot, bot) == 0)
			op_send(o);
}

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
	if (auth_timer != NULL)
		event_free(auth_timer);
	auth_timer = NULL;
	while (!TAILQ_EMPTY(&ops))
		op_free(TAILQ_FIRST(&ops));
}
