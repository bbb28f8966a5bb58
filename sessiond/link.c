/*
 * link: sessiond's direct channels to the workers, and the routing table
 * that says which generation of a bot gets new outbound work.  During a
 * swap two generations of one bot are linked at once; ROUTE moves the bot
 * to the new one while the old one finishes what it holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "sessiond.h"
#include "store.h"

#define LINK_CURSOR_WINDOW_MS	(60LL * 60 * 1000)	/* as the worker's catch-up */

static struct route *
route_find(const char *bot)
{
	struct route	*r;

	TAILQ_FOREACH(r, &sd->routes, entry)
		if (strcmp(r->bot, bot) == 0)
			return (r);
	return (NULL);
}

/* Count what a swap's overlap cost: duplicates dropped, ops re-sent. */
void
link_count(const char *bot, unsigned int dups, unsigned int resent)
{
	struct route	*r = route_find(bot);

	if (r != NULL) {
		r->dups += dups;
		r->resent += resent;
	}
}

/*
 * Unlink l; what its worker never answered goes to the routed generation.
 * When an older generation goes, its swap is over: say what the overlap
 * cost.
 */
static void
link_free(struct link *l)
{
	struct route	*r = route_find(l->bot);

	TAILQ_REMOVE(&sd->links, l, entry);
	outbound_link_gone(l);
	if (r != NULL && r->gen > l->gen) {
		log_info("swap of %s g%d -> g%d: %u duplicate inbound dropped, "
		    "%u op(s) re-sent", l->bot, l->gen, r->gen, r->dups, r->resent);
		(void)ipc_send(proc->parent, IPC_SWAP_STATS, json_pack(
		    "{s:s,s:i,s:i,s:i}", "bot", l->bot, "generation", r->gen,
		    "dups", r->dups, "resent", r->resent));
		r->dups = r->resent = 0;
	}
	ipc_chan_free(l->chan);
	free(l->bot);
	free(l);
}

/*
 * Tell a new worker generation where each of its bot's channels stood, so
 * it catches up what was posted while no worker was connected.
 */
static void
link_send_cursors(struct link *l)
{
	struct timespec	 ts;
	long long	 hour_ago;
	json_t		*c;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return;
	hour_ago = (long long)ts.tv_sec * 1000 - LINK_CURSOR_WINDOW_MS;
	if ((c = store_cursors(l->bot, hour_ago)) == NULL)
		return;
	if (json_object_size(c) == 0) {
		json_decref(c);
		return;
	}
	log_debug("link %s g%d: %zu channel cursor(s)", l->bot, l->gen,
	    json_object_size(c));
	(void)ipc_send(l->chan, IPC_CURSORS, json_pack("{s:o}", "channels", c));
}

static void
link_msg(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct link	*l = arg;

	switch (m->hdr.type) {
	case IPC_HELLO:
		l->pid = (pid_t)json_integer_value(json_object_get(m->body, "pid"));
		ipc_chan_set_peer(ch, l->bot, l->pid);
		log_debug("link %s g%d: worker pid %ld", l->bot, l->gen,
		    (long)l->pid);
		link_send_cursors(l);
		break;
	case IPC_INBOUND:
		chan_inbound(l, m->body);
		break;
	case IPC_OUTBOUND_DONE:
		outbound_done(m);
		break;
	default:
		log_warnx("link %s g%d: unexpected %s; closing the link",
		    l->bot, l->gen, ipc_type_name(m->hdr.type));
		link_free(l);
		break;
	}
}

static void
link_closed(struct ipc_chan *ch, const char *why, void *arg)
{
	struct link	*l = arg;

	log_info("link %s g%d closed: %s", l->bot, l->gen, why);
	link_free(l);
}

/* ATTACH from the supervisor: the descriptor is our end of a new link. */
int
link_attach(struct ipc_msg *m)
{
	struct link	*l;
	const char	*bot = json_string_value(json_object_get(m->body, "bot"));
	int		 gen = (int)json_integer_value(json_object_get(m->body,
			    "generation"));
	char		 peer[160];

	if (m->fd == -1) {
		log_warnx("ATTACH for %s without a descriptor; ignored", bot);
		return (-1);
	}
	/* A relink of the same generation replaces the old channel. */
	TAILQ_FOREACH(l, &sd->links, entry)
		if (l->gen == gen && strcmp(l->bot, bot) == 0) {
			link_free(l);
			break;
		}
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->bot = strdup(bot)) == NULL) {
		free(l);
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	l->gen = gen;
	snprintf(peer, sizeof(peer), "worker %s g%d link", bot, gen);
	if ((l->chan = ipc_chan_new(proc->base, m->fd, peer, link_msg,
	    link_closed, l)) == NULL) {
		free(l->bot);
		free(l);
		log_warnx("%s: cannot set up the link for %s", __func__, bot);
		return (-1);
	}
	m->fd = -1;
	TAILQ_INSERT_TAIL(&sd->links, l, entry);
	log_debug("linked to %s g%d", bot, gen);
	return (0);
}

void
link_route(const char *bot, int gen, const char *user_id)
{
	struct route	*r;

	TAILQ_FOREACH(r, &sd->routes, entry)
		if (strcmp(r->bot, bot) == 0)
			break;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL ||
		    (r->bot = strdup(bot)) == NULL) {
			free(r);
			log_warnx("%s: out of memory", __func__);
			return;
		}
		TAILQ_INSERT_TAIL(&sd->routes, r, entry);
	}
	log_info("route %s -> g%d (was g%d)", bot, gen, r->gen);
	r->gen = gen;
	snprintf(r->user_id, sizeof(r->user_id), "%s",
	    user_id != NULL ? user_id : "");
	outbound_flush(bot);
}

/*
 * Is user_id one of this bridge's bots?  Their posts are never prompts:
 * two bots in one channel would otherwise answer each other forever.
 */
int
link_is_bridge_bot(const char *user_id)
{
	struct route	*r;

	if (user_id == NULL || *user_id == '\0')
		return (0);
	TAILQ_FOREACH(r, &sd->routes, entry)
		if (strcmp(r->user_id, user_id) == 0)
			return (1);
	return (0);
}

/* The link new outbound work for bot goes to, or NULL. */
struct link *
link_for(const char *bot)
{
	struct route	*r;
	struct link	*l;

	TAILQ_FOREACH(r, &sd->routes, entry)
		if (strcmp(r->bot, bot) == 0)
			break;
	if (r == NULL)
		return (NULL);
	TAILQ_FOREACH(l, &sd->links, entry)
		if (l->gen == r->gen && strcmp(l->bot, bot) == 0)
			return (l);
	return (NULL);
}

void
link_free_all(void)
{
	struct route	*r;

	while (!TAILQ_EMPTY(&sd->links))
		link_free(TAILQ_FIRST(&sd->links));
	while ((r = TAILQ_FIRST(&sd->routes)) != NULL) {
		TAILQ_REMOVE(&sd->routes, r, entry);
		free(r->bot);
		free(r);
	}
}
