/*
 * bot: the supervisor's table of bots, keyed "platform:name".  A bot
 * outlives its workers: generations, crash counts and the last reload are
 * kept here while workers come and go.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "supervisor.h"

static void	bot_restart_cb(int, short, void *);

struct bot *
bot_find(const char *key)
{
	struct bot	*b;

	TAILQ_FOREACH(b, &sup->bots, entry)
		if (strcmp(b->key, key) == 0)
			return (b);
	return (NULL);
}

/* Find a bot, or add it to the table.  NULL only when out of memory. */
struct bot *
bot_get(const char *key)
{
	struct bot	*b;

	if ((b = bot_find(key)) != NULL)
		return (b);
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return (NULL);
	if ((b->key = strdup(key)) == NULL ||
	    (b->restart_ev = evtimer_new(sup->base, bot_restart_cb, b)) == NULL) {
		free(b->key);
		free(b);
		return (NULL);
	}
	backoff_init(&b->backoff, SUP_BACKOFF_BASE_MS, SUP_BACKOFF_MAX_MS);
	TAILQ_INSERT_TAIL(&sup->bots, b, entry);
	return (b);
}

void
bot_free(struct bot *b)
{
	if (b == NULL)
		return;
	if (b->restart_ev != NULL)
		event_free(b->restart_ev);
	free(b->key);
	free(b);
}

/* Start the bot's worker unless one runs or it is marked FAILED. */
void
bot_start(struct bot *b)
{
	if (b->active != NULL || b->candidate != NULL || b->failed ||
	    !b->in_config || sup->shutting_down)
		return;
	if ((b->active = child_spawn(ROLE_WORKER, b)) == NULL) {
		log_warnx("%s: cannot spawn a worker for %s; retrying", __func__,
		    b->key);
		b->restarts++;
		struct timeval tv = { backoff_next(&b->backoff) / 1000, 0 };
		evtimer_add(b->restart_ev, &tv);
	}
}

static void
bot_restart_cb(int fd, short ev, void *arg)
{
	bot_start(arg);
}
