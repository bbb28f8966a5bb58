/*
 * dispatch: what a child's messages and lifecycle mean, at the top of the
 * supervisor (as relayd's parent_dispatch_*): child.c runs each child's
 * state table and reports here; from here the calls go down to the swap,
 * the bot table, sessiond's restarts, admin requests and the control
 * socket.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "supervisor.h"

/* A counter from a peer, as an unsigned int however large it says it is. */
static unsigned int
dispatch_count(const json_t *body, const char *key)
{
	json_int_t	n = jx_int(body, key, 0);

	return (n < 0 ? 0 : n > UINT_MAX ? UINT_MAX : (unsigned int)n);
}

/* SWAP_STATS: what the last swap's overlap cost, for ctl status. */
static void
dispatch_swap_stats(struct sup *sup, struct ipc_msg *m)
{
	struct bot	*b;

	if ((b = bot_find(sup, jx_stre(m->body, "bot"))) == NULL)
		return;
	b->swap_dups = dispatch_count(m->body, "dups");
	b->swap_resent = dispatch_count(m->body, "resent");
}

/* RUNTIME: sessiond's runtime, as it says, for ctl status. */
static void
dispatch_runtime(struct sup *sup, struct ipc_msg *m)
{
	sup->rt_pid = (long)jx_int(m->body, "pid", -1);
	snprintf(sup->rt_version, sizeof(sup->rt_version), "%s",
	    jx_stre(m->body, "version"));
	snprintf(sup->rt_auth, sizeof(sup->rt_auth), "%s",
	    jx_stre(m->body, "auth"));
}

static int
dispatch_sessiond(struct child *c, struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case IPC_RUNTIME:
		dispatch_runtime(c->sup, m);
		return (0);
	case IPC_SWAP_STATS:
		dispatch_swap_stats(c->sup, m);
		return (0);
	case IPC_ADMIN_REQUEST:
		admin_request(c->sup, m);
		return (0);
	case IPC_HOOKS_RESULT:
		control_hooks_result(c->sup, m);
		return (0);
	}
	return (-1);
}

static int
dispatch_worker(struct child *c, struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case IPC_RELINK:
		/* Its sessiond link closed while sessiond lives on: relink. */
		log_info("%s g%d asks for a new sessiond link", c->bot->key,
		    c->gen);
		child_attach(c);
		if (c->state == CS_ACTIVE)
			child_route(c);
		return (0);
	}
	return (-1);
}

static int
dispatch_msg(struct child *c, struct ipc_msg *m)
{
	return (c->role == ROLE_SESSIOND ? dispatch_sessiond(c, m) :
	    dispatch_worker(c, m));
}

/* A swap candidate waits for its swap; any other worker serves at once. */
static void
dispatch_ready(struct child *c)
{
	if (c->role == ROLE_SESSIOND) {
		sess_ready(c->sup);
		return;
	}
	if (c->bot->candidate == c) {
		swap_child_ready(c);
		return;
	}
	c->bot->up_ms = c->ready_ms;
	child_event(c, CE_ROUTE);
}

static void
dispatch_failed(struct child *c)
{
	if (c->role == ROLE_WORKER && c->bot != NULL &&
	    c->bot->candidate == c)
		swap_child_failed(c, c->reason);
}

static void
dispatch_drained(struct child *c)
{
	if (c->role == ROLE_WORKER && c->bot != NULL)
		swap_child_drained(c);
}

static void
dispatch_worker_exited(struct sup *sup, struct child *c)
{
	struct bot	*b = c->bot;
	int		 was_candidate = b->candidate == c;

	if (was_candidate)
		b->candidate = NULL;
	if (b->active == c)
		b->active = NULL;
	swap_child_exited(c);
	if (!c->expected && !sup->shutting_down && !was_candidate)
		bot_crashed(b, c);
	else
		log_info("%s g%d pid %ld exited (%s)", b->key, c->gen,
		    (long)c->pid, c->reason);
	if (!b->in_config && b->active == NULL && b->candidate == NULL &&
	    b->swap == NULL && !sup->shutting_down)
		bot_remove(b);
}

static void
dispatch_exited(struct child *c)
{
	struct sup	*sup = c->sup;

	if (c->role == ROLE_SESSIOND)
		sess_exited(sup, c);
	else if (c->bot == NULL)
		spare_exited(sup, c);
	else
		dispatch_worker_exited(sup, c);
	if (sup->shutting_down && TAILQ_EMPTY(&sup->children) &&
	    event_base_loopexit(sup->base, NULL) == -1)
		log_warnx("%s: event_base_loopexit failed", __func__);
}

static const struct child_hooks dispatch_hooks = {
	.msg = dispatch_msg,
	.ready = dispatch_ready,
	.failed = dispatch_failed,
	.drained = dispatch_drained,
	.exited = dispatch_exited,
};

void
dispatch_init(struct sup *sup)
{
	sup->hooks = &dispatch_hooks;
	fleet_init(sup);	/* hears of every swap's end */
}
