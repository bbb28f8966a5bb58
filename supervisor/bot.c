/*
 * bot: the supervisor's table of bots, keyed "platform:name".  A bot
 * outlives its workers: generations, crash counts and the last reload are
 * kept here while workers come and go.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor.h"

static void	bot_restart_cb(int, short, void *);

struct bot *
bot_find(struct sup *sup, const char *key)
{
	struct bot	*b;

	if (key == NULL)
		return (NULL);
	TAILQ_FOREACH(b, &sup->bots, entry)
		if (strcmp(b->key, key) == 0)
			return (b);
	return (NULL);
}

/* Is b a bot of platform?  A key is "platform:name", split at its first ':'. */
int
bot_of_platform(const struct bot *b, const char *platform)
{
	const char	*colon = strchr(b->key, ':');

	return (colon != NULL && (size_t)(colon - b->key) == strlen(platform) &&
	    strncmp(b->key, platform, strlen(platform)) == 0);
}

/* Find a bot, or add it to the table.  NULL only when out of memory. */
struct bot *
bot_get(struct sup *sup, const char *key)
{
	struct bot	*b;

	if ((b = bot_find(sup, key)) != NULL)
		return (b);
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return (NULL);
	b->sup = sup;
	if ((b->key = strdup(key)) == NULL ||
	    (b->restart_ev = evtimer_new(sup->base, bot_restart_cb, b)) == NULL) {
		free(b->key);
		free(b);
		return (NULL);
	}
	backoff_init(&b->backoff, SUP_BACKOFF_BASE_MS, SUP_BACKOFF_MAX_MS);
	backoff_first_free(&b->backoff);
	TAILQ_INSERT_TAIL(&sup->bots, b, entry);
	return (b);
}

/* Out of the table: a removed bot whose last worker is gone. */
void
bot_remove(struct bot *b)
{
	TAILQ_REMOVE(&b->sup->bots, b, entry);
	event_free(b->restart_ev);
	free(b->key);
	free(b);
}

/*
 * Restart after delay ms.  A timer that cannot be armed would be a restart
 * that silently never happens: the bot is marked FAILED instead, which
 * ctl status shows and a reload-bot clears.
 */
static void
bot_restart_in(struct bot *b, uint32_t delay)
{
	if (util_timer_ms(b->restart_ev, delay) == 0)
		return;
	b->failed = 1;
	log_errorx("%s: FAILED: cannot arm its restart timer; not restarting "
	    "until /reload bot %s", b->key, b->key);
}

/* Start the bot's worker unless one runs or it is marked FAILED. */
void
bot_start(struct bot *b)
{
	uint32_t	delay;

	if (b->active != NULL || b->candidate != NULL || b->failed ||
	    !b->in_config || b->sup->shutting_down)
		return;
	if ((b->active = spare_worker(b)) != NULL)
		return;
	delay = backoff_next(&b->backoff);
	log_warnx("%s: cannot spawn a worker for %s; retrying in %u ms",
	    __func__, b->key, delay);
	b->restarts++;
	bot_restart_in(b, delay);
}

static void
bot_restart_cb(int fd, short ev, void *arg)
{
	bot_start(arg);
}

/* The bot's worker died without being asked: count it and maybe restart. */
void
bot_crashed(struct bot *b, struct child *c)
{
	uint64_t	now = util_now_ms();
	unsigned int	i, recent = 0;
	uint32_t	delay;

	b->restarts++;
	b->crashes[b->ncrashes++ % SUP_CRASH_MAX] = now;
	for (i = 0; i < SUP_CRASH_MAX && i < b->ncrashes; i++)
		if (now - b->crashes[i] < SUP_CRASH_WINDOW_MS)
			recent++;
	if (recent >= SUP_CRASH_MAX) {
		b->failed = 1;
		log_errorx("%s: FAILED: %u crashes within %d minutes (last: %s); "
		    "not restarting until /reload bot %s", b->key, recent,
		    SUP_CRASH_WINDOW_MS / 60000, c->reason, b->key);
		return;
	}
	/* The first crash in the window is restarted at once. */
	if (recent == 1)
		backoff_reset(&b->backoff);
	delay = backoff_next(&b->backoff);
	log_warnx("%s g%d pid %ld exited unexpectedly (%s); restarting in %u ms",
	    b->key, c->gen, (long)c->pid, c->reason, delay);
	bot_restart_in(b, delay);
}
