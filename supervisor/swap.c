/*
 * swap: replace one bot's worker without losing a message (see "The swap"
 * in docs/architecture.md).
 *
 * Make before break: generation N keeps serving while N+1 connects; only
 * once N+1 is READY does sessiond route the bot to it, and only then is N
 * drained.  Any failure before that point kills N+1 and leaves N alone.
 * One swap per bot at a time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/otel.h"
#include "common/util.h"
#include "supervisor.h"

enum swap_kind {
	SWAP_REPLACE,	/* N -> N+1 */
	SWAP_ADD,	/* none -> 1 */
	SWAP_REMOVE	/* N -> none */
};

struct swap {
	struct bot	*bot;
	enum swap_kind	 kind;
	char		 by[96];	/* who asked */
	char		 why[128];	/* reasons, e.g. "token,url" */
	sup_reply_fn	 reply;
	void		*arg;
	uint64_t	 t0;
	uint64_t	 t_ready;	/* candidate READY, or 0 */
	/* The phases, CLOCK_MONOTONIC µs, 0 until reached (docs/architecture.md). */
	uint64_t	 t0_us;
	uint64_t	 config_us;	/* the candidate got its CONFIG */
	uint64_t	 start_us;	/* ... its adapter started (it says) */
	uint64_t	 connect_us;	/* ... its platform ready (it says) */
	uint64_t	 ready_us;	/* its READY here */
	uint64_t	 drain_us;	/* routed; the old one told to drain */
	uint64_t	 drained_us;	/* the old one DRAINED */
	struct child	*cand;		/* generation being brought up */
	struct child	*old;		/* generation being drained */
	int		 old_gen;
	int		 new_gen;	/* candidate's generation, 0: none */
	struct otel_span *span;		/* reload.bot, or NULL (telemetry off) */
};

static const char *const swap_kind_names[] = {
	[SWAP_REPLACE] = "replace",
	[SWAP_ADD] = "add",
	[SWAP_REMOVE] = "remove"
};

/* A phase of the swap as a span event, naming the generation it concerns. */
static void
swap_event(struct swap *s, const char *name, int gen)
{
	char	g[16];

	if (s->span == NULL)
		return;
	snprintf(g, sizeof(g), "%d", gen);
	otel_span_event(s->span, name, "generation", g);
}

/* End the reload.bot span: error is NULL on success. */
static void
swap_span_end(struct swap *s, const char *error)
{
	otel_span_str(s->span, "kind", swap_kind_names[s->kind]);
	otel_span_int(s->span, "generation.new", s->new_gen);
	otel_span_status(s->span, error);
	otel_span_end(s->span);
	s->span = NULL;
}

/* A phase's time since the request, µs; -1 if it was not reached. */
static long long
swap_at(const struct swap *s, uint64_t us)
{
	return (us >= s->t0_us ? (long long)(us - s->t0_us) : -1);
}

static void	swap_finish(struct swap *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/*
 * End the swap: one structured log line, the bot's "last reload" for ctl
 * status, and the reply (fmt and its arguments) to whoever asked.  error
 * is NULL on success, else what failed (for the span).
 */
static void
swap_finish(struct swap *s, const char *error, const char *fmt, ...)
{
	struct bot	*b = s->bot;
	char		 text[512], when[32];
	uint64_t	 now = util_now_ms();
	time_t		 t = time(NULL);
	struct tm	 tm;
	va_list		 ap;
	int		 ok = error == NULL;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_info("swap: bot=%s by=%s reason=%s outcome=%s gen=%d->%d "
	    "handshake_ms=%llu total_ms=%llu phases_us=config:%lld,start:%lld,"
	    "connect:%lld,ready:%lld,drain:%lld,drained:%lld,end:%lld", b->key,
	    s->by, s->why, ok ? "ok" : "failed", s->old_gen,
	    b->active != NULL ? b->active->gen : 0,
	    (unsigned long long)(s->t_ready ? s->t_ready - s->t0 : 0),
	    (unsigned long long)(now - s->t0), swap_at(s, s->config_us),
	    swap_at(s, s->start_us), swap_at(s, s->connect_us),
	    swap_at(s, s->ready_us), swap_at(s, s->drain_us),
	    swap_at(s, s->drained_us), swap_at(s, util_now_us()));
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(b->last_reload, sizeof(b->last_reload), "%s %s %llums by %s "
	    "(%s)", when, ok ? "ok" : "failed", (unsigned long long)(now - s->t0),
	    s->by, s->why);
	b->swap_dups = b->swap_resent = 0;	/* sessiond reports them */
	swap_span_end(s, error);
	if (s->reply != NULL)
		s->reply(s->arg, ok, text);
	b->swap = NULL;
	free(s);
	/* A platform reload waits on swaps: its own, and a bot's busy one. */
	if (b->sup->swap_ended != NULL)
		b->sup->swap_ended(b, error);
}

/*
 * Start a swap of bot b.  b->in_config says whether the bot is wanted:
 * present → spawn N+1 (or the first generation), absent → drain and reap.
 * reply is called exactly once, now or later.
 */
int
swap_start(struct bot *b, const char *by, const char *why, sup_reply_fn reply,
    void *arg)
{
	struct swap	*s;
	char		 text[256];

	if (b->swap != NULL) {
		snprintf(text, sizeof(text), "Reload already in progress for %s",
		    b->key);
		if (reply != NULL)
			reply(arg, 0, text);
		return (-1);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		if (reply != NULL)
			reply(arg, 0, "out of memory");
		return (-1);
	}
	s->bot = b;
	s->reply = reply;
	s->arg = arg;
	s->t0 = util_now_ms();
	s->t0_us = util_now_us();
	snprintf(s->by, sizeof(s->by), "%s", by);
	snprintf(s->why, sizeof(s->why), "%s", why);
	b->swap = s;
	s->old_gen = b->active != NULL ? b->active->gen : 0;
	s->span = otel_span_start("reload.bot", NULL);
	otel_span_str(s->span, "bot", b->key);
	otel_span_str(s->span, "by", by);
	otel_span_str(s->span, "reason", why);
	otel_span_int(s->span, "generation.old", s->old_gen);
	log_info("swap: %s of %s requested by %s (%s)", b->in_config ?
	    "reload" : "removal", b->key, by, why);

	if (!b->in_config) {
		s->kind = SWAP_REMOVE;
		if ((s->old = b->active) == NULL) {
			swap_finish(s, NULL, "✅ Removed %s", b->key);
			return (0);
		}
		b->active = NULL;
		swap_event(s, "drain", s->old->gen);
		child_event(s->old, CE_DRAIN);
		return (0);
	}
	/* An operator's reload clears FAILED and any pending restart. */
	b->failed = 0;
	b->ncrashes = 0;
	memset(b->crashes, 0, sizeof(b->crashes));
	backoff_reset(&b->backoff);
	if (evtimer_del(b->restart_ev) == -1)
		log_warnx("%s: cannot cancel the restart of %s", __func__,
		    b->key);
	s->kind = b->active != NULL ? SWAP_REPLACE : SWAP_ADD;
	if ((s->cand = b->candidate = spare_worker(b)) == NULL) {
		swap_finish(s, "cannot spawn a worker", "❌ Reload of %s "
		    "failed: cannot spawn a worker", b->key);
		return (-1);
	}
	s->new_gen = s->cand->gen;
	swap_event(s, "spawn", s->new_gen);
	return (0);
}

/* The candidate is READY: route the bot to it, then drain the old one. */
void
swap_child_ready(struct child *c)
{
	struct bot	*b = c->bot;
	struct swap	*s = b->swap;

	if (s == NULL || s->cand != c)
		return;
	s->t_ready = util_now_ms();
	s->ready_us = util_now_us();
	/* The candidate's own phases, on our clock from its CONFIG. */
	s->config_us = c->config_us;
	if (c->start_us != 0)
		s->start_us = c->config_us + c->start_us;
	if (c->connect_us != 0)
		s->connect_us = c->config_us + c->connect_us;
	swap_event(s, "ready", c->gen);
	s->old = b->active;
	b->active = c;
	b->candidate = NULL;
	b->up_ms = s->t_ready;
	child_event(c, CE_ROUTE);
	swap_event(s, "route", c->gen);
	if (s->old != NULL) {
		s->drain_us = util_now_us();
		swap_event(s, "drain", s->old->gen);
		child_event(s->old, CE_DRAIN);
		return;
	}
	swap_finish(s, NULL, "✅ Added %s in %llu ms (config %.6s)", b->key,
	    (unsigned long long)(s->t_ready - s->t0), c->hash);
}

/* The candidate did not come up: whatever served before serves on. */
static void
swap_failed(struct swap *s, const char *why)
{
	if (s->kind == SWAP_REPLACE)
		swap_finish(s, why, "❌ Reload of %s failed, kept the running "
		    "connection: %s", s->bot->key, why);
	else
		swap_finish(s, why, "❌ Reload of %s failed: %s", s->bot->key,
		    why);
}

/* The candidate failed its handshake: keep generation N serving. */
void
swap_child_failed(struct child *c, const char *reason)
{
	struct bot	*b = c->bot;
	struct swap	*s = b->swap;

	if (s == NULL || s->cand != c)
		return;
	c->expected = 1;
	b->candidate = NULL;
	s->cand = NULL;
	swap_failed(s, reason);
}

/*
 * The old generation is done, DRAINED (it finished all it held and closed
 * its connection; its exit is reaped on its own) or gone without saying
 * so: so is the swap.
 */
static void
swap_old_done(struct swap *s, struct child *c, const char *phase)
{
	struct bot	*b = s->bot;

	s->old = NULL;
	s->drained_us = c->drained_us;
	swap_event(s, phase, c->gen);
	if (s->kind == SWAP_REMOVE) {
		swap_finish(s, NULL, "✅ Removed %s", b->key);
		return;
	}
	swap_finish(s, NULL, "✅ Reloaded %s in %llu ms (config %.6s)", b->key,
	    (unsigned long long)(util_now_ms() - s->t0),
	    b->active != NULL ? b->active->hash : "");
}

void
swap_child_drained(struct child *c)
{
	struct swap	*s = c->bot->swap;

	if (s != NULL && s->old == c)
		swap_old_done(s, c, "drained");
}

/* A child of a bot exited; it may be the candidate or the drained one. */
void
swap_child_exited(struct child *c)
{
	struct bot	*b = c->bot;
	struct swap	*s = b->swap;
	char		 why[300];

	if (s == NULL)
		return;
	if (s->cand == c) {
		s->cand = NULL;
		snprintf(why, sizeof(why), "worker exited during the "
		    "handshake (%s)", c->reason);
		swap_failed(s, why);
		return;
	}
	if (s->old == c)
		swap_old_done(s, c, "reaped");
}

/* The requester went away (a ctl client hung up): drop its reply. */
void
swap_cancel_reply(struct sup *sup, void *arg)
{
	struct bot	*b;

	TAILQ_FOREACH(b, &sup->bots, entry)
		if (b->swap != NULL && b->swap->arg == arg)
			b->swap->reply = NULL;
}

/*
 * The supervisor stops with swaps still going: their spans end as errors,
 * so the collector sees them (nobody is left to get a reply).
 */
void
swap_abandon_all(struct sup *sup)
{
	struct bot	*b;

	TAILQ_FOREACH(b, &sup->bots, entry)
		if (b->swap != NULL)
			swap_span_end(b->swap, "supervisor stopped");
}
