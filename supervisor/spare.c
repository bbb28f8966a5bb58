/*
 * spare: one worker started ahead of need, for no bot, so that a swap or a
 * restart does not wait for exec, the dynamic loader and the libraries'
 * set-up (the bulk of a swap: see "The spare worker" in
 * docs/architecture.md).  The next bot that needs a worker adopts it and a
 * new spare is started a little later, off the swap's path.
 *
 * A spare whose binary was replaced on disk since it started is not
 * adopted: the bot gets a fresh spawn of the new binary, as without a
 * spare, and the stale spare is stopped.
 */
#include "common/log.h"
#include "common/util.h"
#include "supervisor.h"

/* Whether a spare is worth keeping: some bot of the config has a worker. */
static int
spare_wanted(struct sup *sup)
{
	struct bot	*b;

	if (sup->shutting_down)
		return (0);
	TAILQ_FOREACH(b, &sup->bots, entry)
		if (b->in_config)
			return (1);
	return (0);
}

static void
spare_start_cb(int fd, short ev, void *arg)
{
	struct sup	*sup = arg;

	if (sup->spare != NULL || !spare_wanted(sup))
		return;
	if ((sup->spare = child_spawn(sup, ROLE_WORKER, NULL)) == NULL) {
		log_warnx("cannot start a spare worker; the next swap spawns "
		    "its own");
		spare_refill(sup, backoff_next(&sup->spare_backoff));
	}
}

int
spare_init(struct sup *sup)
{
	backoff_init(&sup->spare_backoff, SUP_BACKOFF_BASE_MS,
	    SUP_BACKOFF_MAX_MS);
	sup->spare_ev = evtimer_new(sup->base, spare_start_cb, sup);
	return (sup->spare_ev == NULL ? -1 : 0);
}

/* Start a spare in delay_ms unless one is there or coming. */
void
spare_refill(struct sup *sup, uint32_t delay_ms)
{
	if (sup->spare != NULL || sup->spare_ev == NULL ||
	    evtimer_pending(sup->spare_ev, NULL))
		return;
	if (util_timer_ms(sup->spare_ev, delay_ms) == -1)
		log_warnx("%s: cannot arm the spare's start; swaps spawn their "
		    "own workers", __func__);
}

/*
 * The next generation of bot b: the spare if it runs the binary on disk
 * (idle, or still starting: what it has done is saved) and is still
 * connected, else a new spawn.
 * NULL if neither could be had.
 */
struct child *
spare_worker(struct bot *b)
{
	struct sup	*sup = b->sup;
	struct child	*c = sup->spare;

	/* A spare whose channel closed is dying: its exit refills. */
	if (c != NULL && c->chan != NULL &&
	    (c->state == CS_SPARE || c->state == CS_SPAWNED)) {
		sup->spare = NULL;
		if (child_binary_current(c) && child_adopt(c, b) == 0) {
			backoff_reset(&sup->spare_backoff);
			spare_refill(sup, 0);
			return (c);
		}
		log_info("spare pid %ld runs a replaced binary; stopping it",
		    (long)c->pid);
		c->expected = 1;
		child_event(c, CE_SHUTDOWN);
	}
	spare_refill(sup, 0);
	return (child_spawn(sup, ROLE_WORKER, b));
}

/* The spare exited: asked to (stale, shutdown) or not (then with backoff). */
void
spare_exited(struct sup *sup, struct child *c)
{
	if (sup->spare == c)
		sup->spare = NULL;
	if (c->expected || sup->shutting_down)
		return;
	log_warnx("spare worker pid %ld exited (%s)", (long)c->pid, c->reason);
	spare_refill(sup, backoff_next(&sup->spare_backoff));
}
