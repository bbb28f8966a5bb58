/*
 * sess: the one sessiond child.  It is started with the supervisor and
 * restarted after a crash: at once the first time after it was ready,
 * then with a backoff of 1 s doubling to 60 s; when it is ready, every
 * worker that is up is linked to it again.
 */

#include "common/log.h"
#include "common/util.h"
#include "supervisor.h"

static void
sess_arm(struct sup *sup, uint32_t delay)
{
	/* Without sessiond nothing is served: better stop than limp on. */
	if (util_timer_ms(sup->sess_restart_ev, delay) == -1)
		fatalx("cannot arm sessiond's restart timer");
}

static void
sess_restart_cb(int fd, short ev, void *arg)
{
	struct sup	*sup = arg;

	if (sup->shutting_down || sup->sessiond != NULL)
		return;
	if ((sup->sessiond = child_spawn(sup, ROLE_SESSIOND, NULL)) == NULL) {
		uint32_t delay = backoff_next(&sup->sess_backoff);

		log_warnx("cannot spawn sessiond; retrying in %u ms", delay);
		sess_arm(sup, delay);
	}
}

/* The first sessiond; later ones come from sess_exited(). */
int
sess_start(struct sup *sup)
{
	backoff_init(&sup->sess_backoff, SUP_BACKOFF_BASE_MS,
	    SUP_BACKOFF_MAX_MS);
	backoff_first_free(&sup->sess_backoff);
	if ((sup->sess_restart_ev = evtimer_new(sup->base, sess_restart_cb,
	    sup)) == NULL)
		return (-1);
	sess_restart_cb(-1, 0, sup);
	return (0);
}

void
sess_ready(struct sup *sup)
{
	backoff_reset(&sup->sess_backoff);
	child_attach_all(sup);
}

void
sess_exited(struct sup *sup, struct child *c)
{
	uint32_t	delay;

	if (sup->sessiond == c)
		sup->sessiond = NULL;
	if (c->expected || sup->shutting_down)
		return;
	delay = backoff_next(&sup->sess_backoff);
	log_errorx("sessiond pid %ld exited unexpectedly (%s); restarting in "
	    "%u ms", (long)c->pid, c->reason, delay);
	sess_arm(sup, delay);
}
