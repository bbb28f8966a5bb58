/*
 * link: see link.h.  During a swap two generations of one bot are linked
 * at once; which of them gets new work is route.c's business.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/jx.h"
#include "common/log.h"
#include "ipc/ipc.h"
#include "link.h"

static TAILQ_HEAD(, link)	 links = TAILQ_HEAD_INITIALIZER(links);
static struct event_base	*link_base;
static const struct link_events	*link_ev;

void
link_init(struct event_base *base, const struct link_events *ev)
{
	link_base = base;
	link_ev = ev;
}

static void
link_free(struct link *l)
{
	link_ev->gone(l);
	TAILQ_REMOVE(&links, l, entry);
	ipc_chan_free(l->chan);
	free(l->bot);
	free(l);
}

static void
link_msg(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct link	*l = arg;

	switch (m->hdr.type) {
	case IPC_HELLO:
		l->pid = (pid_t)jx_int(m->body, "pid", 0);
		ipc_chan_set_peer(ch, l->bot, l->pid);
		log_debug("link %s g%d: worker pid %ld", l->bot, l->gen,
		    (long)l->pid);
		link_ev->hello(l);
		break;
	case IPC_INBOUND:
		link_ev->inbound(l, m->body);
		break;
	case IPC_OUTBOUND_DONE:
		link_ev->done(l, m->body);
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

int
link_attach(int fd, const char *bot, int gen)
{
	struct link	*l;
	char		 peer[160];

	/* A relink of the same generation replaces the old channel. */
	if ((l = link_find(bot, gen)) != NULL)
		link_free(l);
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->bot = strdup(bot)) == NULL) {
		free(l);
		(void)close(fd);
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	l->gen = gen;
	snprintf(peer, sizeof(peer), "worker %s g%d link", bot, gen);
	if ((l->chan = ipc_chan_new(link_base, fd, peer, link_msg,
	    link_closed, l)) == NULL) {
		(void)close(fd);
		free(l->bot);
		free(l);
		log_warnx("%s: cannot set up the link for %s", __func__, bot);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&links, l, entry);
	log_debug("linked to %s g%d", bot, gen);
	return (0);
}

struct link *
link_find(const char *bot, int gen)
{
	struct link	*l;

	TAILQ_FOREACH(l, &links, entry)
		if (l->gen == gen && strcmp(l->bot, bot) == 0)
			return (l);
	return (NULL);
}

int
link_send(struct link *l, int type, json_t *body)
{
	return (ipc_send(l->chan, (uint16_t)type, body));
}

int
link_send_fd(struct link *l, int type, json_t *body, int fd)
{
	return (ipc_send_fd(l->chan, (uint16_t)type, body, fd));
}

void
link_free_all(void)
{
	while (!TAILQ_EMPTY(&links))
		link_free(TAILQ_FIRST(&links));
}
