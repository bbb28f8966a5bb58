/*
 * route: see route.h.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "link.h"
#include "route.h"

struct route {
	TAILQ_ENTRY(route)	 entry;
	char			*bot;
	int			 gen;
	char			 user_id[64];	/* the bot's platform user id */
	size_t			 post_max;	/* characters; 0: not said */
	unsigned int		 dups;		/* duplicates dropped since the swap */
	unsigned int		 resent;	/* ops re-sent since the swap */
};

static TAILQ_HEAD(, route)	routes = TAILQ_HEAD_INITIALIZER(routes);

static struct route *
route_find(const char *bot)
{
	struct route	*r;

	TAILQ_FOREACH(r, &routes, entry)
		if (strcmp(r->bot, bot) == 0)
			return (r);
	return (NULL);
}

void
route_set(const char *bot, int gen, const char *user_id, size_t post_max)
{
	struct route	*r;

	if ((r = route_find(bot)) == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL ||
		    (r->bot = strdup(bot)) == NULL) {
			free(r);
			log_warnx("%s: out of memory", __func__);
			return;
		}
		TAILQ_INSERT_TAIL(&routes, r, entry);
	}
	log_info("route %s -> g%d (was g%d)", bot, gen, r->gen);
	r->gen = gen;
	r->post_max = post_max;
	snprintf(r->user_id, sizeof(r->user_id), "%s",
	    user_id != NULL ? user_id : "");
}

struct link *
route_link(const char *bot)
{
	struct route	*r = route_find(bot);

	return (r != NULL ? link_find(bot, r->gen) : NULL);
}

size_t
route_post_max(const char *bot)
{
	struct route	*r = route_find(bot);

	return (r != NULL ? r->post_max : 0);
}

/*
 * Posts of this bridge's bots are never prompts: two bots in one channel
 * would otherwise answer each other forever.
 */
int
route_is_bridge_bot(const char *user_id)
{
	struct route	*r;

	if (user_id == NULL || *user_id == '\0')
		return (0);
	TAILQ_FOREACH(r, &routes, entry)
		if (strcmp(r->user_id, user_id) == 0)
			return (1);
	return (0);
}

void
route_count(const char *bot, unsigned int dups, unsigned int resent)
{
	struct route	*r = route_find(bot);

	if (r != NULL) {
		r->dups += dups;
		r->resent += resent;
	}
}

json_t *
route_swap_over(const char *bot, int gen)
{
	struct route	*r = route_find(bot);
	json_t		*stats;

	if (r == NULL || r->gen <= gen)
		return (NULL);
	log_info("swap of %s g%d -> g%d: %u duplicate inbound dropped, "
	    "%u op(s) re-sent", bot, gen, r->gen, r->dups, r->resent);
	stats = json_pack("{s:s,s:i,s:i,s:i}", "bot", bot, "generation", r->gen,
	    "dups", r->dups, "resent", r->resent);
	r->dups = r->resent = 0;
	return (stats);
}

void
route_free_all(void)
{
	struct route	*r;

	while ((r = TAILQ_FIRST(&routes)) != NULL) {
		TAILQ_REMOVE(&routes, r, entry);
		free(r->bot);
		free(r);
	}
}
