/*
 * fleet: every bot of one platform swapped make-before-break, at most
 * reloadPlatformConcurrency at a time (`/reload platform NAME`, `ctl
 * reload-platform NAME`; docs/architecture.md, "The platform reload").
 *
 * Each bot goes through the one per-bot swap of swap.c, started here with
 * no reply of its own and awaited through sup->swap_ended, which swap.c
 * calls at the end of every swap: the end of one of ours frees a slot and
 * gives the bot's outcome; the end of anybody's lets a bot that was busy
 * with a swap of its own (a /reload bot, autoReloadBots) have its turn.
 * A bot that fails keeps what served it and does not stop the others.
 *
 * Bots are named by key, never held by pointer across a turn of the loop:
 * one may leave the table meanwhile (removed from the config, its last
 * worker gone).  The summary goes out from the loop, never from inside a
 * swap's callback, so a fleet is freed only where nothing iterates over
 * the list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/otel.h"
#include "common/utf8.h"
#include "common/util.h"
#include "supervisor.h"

/* Bytes of a summary (under every platform's post limit), of a reason in it. */
#define FLEET_SUMMARY_MAX	12000
#define FLEET_WHY_MAX		200

/* A bot's turn. */
enum fleet_state {
	FS_WAITING,	/* for a slot, or for a swap of it already running */
	FS_SWAPPING,	/* its swap runs: it holds a slot */
	FS_DONE,	/* outcome known */
	FS__MAX
};

enum fleet_event {
	FE_START,	/* a slot is free and the bot is not busy: swap it */
	FE_ENDED,	/* its swap ended */
	FE_SKIP,	/* no swap for it: gone, or the supervisor stops */
	FE__MAX
};

/* The only place a bot's state in a fleet changes; -1: no such move. */
static const int fleet_moves[FS__MAX][FE__MAX] = {
	[FS_WAITING] =	{ [FE_START] = FS_SWAPPING, [FE_ENDED] = -1,
			  [FE_SKIP] = FS_DONE },
	[FS_SWAPPING] =	{ [FE_START] = -1, [FE_ENDED] = FS_DONE,
			  [FE_SKIP] = -1 },
	[FS_DONE] =	{ [FE_START] = -1, [FE_ENDED] = -1, [FE_SKIP] = -1 },
};

struct fleet_ent {
	char			*key;
	enum fleet_state	 state;
	int			 waited;	/* "waits for" logged once */
	uint64_t		 t0;
};

struct fleet {
	TAILQ_ENTRY(fleet)	 entry;
	struct sup		*sup;
	char			*platform;
	char			 by[96];	/* who asked */
	char			 why[160];	/* "reload platform NAME" */
	int			 max;		/* swaps at once */
	size_t			 n, running, done;
	int			 pumping;	/* in fleet_pump() */
	int			 again;		/* pump again when it returns */
	int			 finishing;	/* done_ev is active */
	uint64_t		 t0;
	struct fleet_ent	*ents;		/* n, in the bot table order */
	struct fleet_result	*res;		/* n, beside ents */
	struct event		*done_ev;
	sup_reply_fn		 reply;
	void			*arg;
	struct otel_span	*span;		/* reload.platform, or NULL */
};

static void	fleet_done_cb(int, short, void *);

static void
fleet_move(struct fleet *f, size_t i, enum fleet_event ev)
{
	struct fleet_ent	*e = &f->ents[i];
	int			 to = fleet_moves[e->state][ev];

	if (to == -1) {
		log_warnx("%s: %s: no move from state %d on event %d",
		    __func__, e->key, e->state, ev);
		return;
	}
	if (e->state == FS_SWAPPING)
		f->running--;
	if (to == FS_SWAPPING)
		f->running++;
	if (to == FS_DONE)
		f->done++;
	e->state = to;
}

static void
fleet_free(struct fleet *f)
{
	size_t	i;

	if (f == NULL)
		return;
	for (i = 0; f->ents != NULL && i < f->n; i++)
		free(f->ents[i].key);
	free(f->ents);
	free(f->res);
	if (f->done_ev != NULL)
		event_free(f->done_ev);
	otel_span_drop(f->span);
	free(f->platform);
	free(f);
}

/* One bot's line of the summary, without its bullet. */
static void
fleet_line(char *buf, size_t len, const struct fleet_result *r)
{
	char	*why;

	if (!r->ok) {
		why = utf8_one_line(r->error, FLEET_WHY_MAX);
		if (r->new_gen > 0)
			snprintf(buf, len, "❌ %s: failed in %llu ms, kept g%d: "
			    "%s", r->key, (unsigned long long)r->ms,
			    r->new_gen, why != NULL ? why : "?");
		else
			snprintf(buf, len, "❌ %s: failed in %llu ms, not "
			    "running: %s", r->key, (unsigned long long)r->ms,
			    why != NULL ? why : "?");
		free(why);
	} else if (r->old_gen > 0 && r->new_gen > 0)
		snprintf(buf, len, "✅ %s: g%d → g%d in %llu ms", r->key,
		    r->old_gen, r->new_gen, (unsigned long long)r->ms);
	else if (r->new_gen > 0)
		snprintf(buf, len, "✅ %s: started g%d in %llu ms", r->key,
		    r->new_gen, (unsigned long long)r->ms);
	else if (r->old_gen > 0)
		snprintf(buf, len, "✅ %s: removed, g%d drained in %llu ms",
		    r->key, r->old_gen, (unsigned long long)r->ms);
	else
		snprintf(buf, len, "✅ %s: not in the config, nothing to run",
		    r->key);
}

/*
 * The one summary of a platform reload, for ctl and chat alike: a headline,
 * then a line per bot, the failed ones first, cut (with a count of the
 * rest) before FLEET_SUMMARY_MAX bytes so it fits in one post anywhere.
 * *nfailed gets the number of failed bots.  NULL when out of memory.
 */
char *
fleet_summary(const char *platform, const struct fleet_result *r, size_t n,
    int max, uint64_t total_ms, size_t *nfailed)
{
	char		*buf = NULL, line[1024];
	size_t		 len = 0, i, shown = 0, failed = 0;
	FILE		*fp;
	int		 pass, full = 0;

	for (i = 0; i < n; i++)
		failed += !r[i].ok;
	*nfailed = failed;
	if ((fp = open_memstream(&buf, &len)) == NULL)
		return (NULL);
	if (n == 0)
		fprintf(fp, "ℹ️ Platform %s has no bots: nothing to reload.",
		    platform);
	else if (failed == 0)
		fprintf(fp, "✅ Reloaded platform %s: %zu of %zu bot(s) in %llu "
		    "ms, at most %d at a time", platform, n, n,
		    (unsigned long long)total_ms, max);
	else if (failed < n)
		fprintf(fp, "⚠️ Reloaded platform %s: %zu of %zu bot(s) in %llu "
		    "ms, at most %d at a time; %zu failed", platform,
		    n - failed, n, (unsigned long long)total_ms, max, failed);
	else
		fprintf(fp, "❌ Reload of platform %s failed for all %zu bot(s) "
		    "in %llu ms, at most %d at a time", platform, n,
		    (unsigned long long)total_ms, max);
	/* Pass 0 lists the failed bots, pass 1 the others. */
	for (pass = 0; pass < 2 && !full; pass++)
		for (i = 0; i < n && !full; i++) {
			if (r[i].ok != pass)
				continue;
			fleet_line(line, sizeof(line), &r[i]);
			/* 64: room for the "… and N more" line */
			if ((size_t)ftello(fp) + strlen(line) + 64 >
			    FLEET_SUMMARY_MAX) {
				full = 1;
				continue;
			}
			fprintf(fp, "\n- %s", line);
			shown++;
		}
	if (shown < n)
		fprintf(fp, "\n- … and %zu more (each one is in "
		    "supervisor.log)", n - shown);
	if (fclose(fp) == EOF) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

/* The summary goes out from the loop: see the top of this file. */
static void
fleet_done_cb(int fd, short ev, void *arg)
{
	struct fleet	*f = arg;
	struct sup	*sup = f->sup;
	uint64_t	 total = util_now_ms() - f->t0;
	size_t		 failed = 0;
	char		*text, err[64];

	text = fleet_summary(f->platform, f->res, f->n, f->max, total,
	    &failed);
	log_info("reload-platform %s: %zu of %zu bot(s) reloaded, %zu failed, "
	    "in %llu ms", f->platform, f->n - failed, f->n, failed,
	    (unsigned long long)total);
	TAILQ_REMOVE(&sup->fleets, f, entry);
	otel_span_int(f->span, "bots.failed", (int64_t)failed);
	snprintf(err, sizeof(err), "%zu of %zu bot(s) failed", failed, f->n);
	otel_span_status(f->span, failed > 0 ? err : NULL);
	otel_span_end(f->span);
	f->span = NULL;
	if (f->reply != NULL)
		f->reply(f->arg, text != NULL && failed == 0, text != NULL ?
		    text : "❌ Platform reload: out of memory for its summary");
	free(text);
	fleet_free(f);
}

/* Bot i gets no swap: ok says whether that is what the config wants. */
static void
fleet_skip(struct fleet *f, size_t i, struct bot *b, int ok, const char *why)
{
	struct fleet_result	*r = &f->res[i];

	r->ok = ok;
	r->old_gen = r->new_gen = b != NULL && b->active != NULL ?
	    b->active->gen : 0;
	snprintf(r->error, sizeof(r->error), "%s", why);
	fleet_move(f, i, FE_SKIP);
}

/* Start bot i's swap; a slot is free and b has no swap running. */
static void
fleet_swap(struct fleet *f, size_t i, struct bot *b)
{
	struct fleet_ent	*e = &f->ents[i];
	struct fleet_result	*r = &f->res[i];

	e->t0 = util_now_ms();
	r->old_gen = b->active != NULL ? b->active->gen : 0;
	fleet_move(f, i, FE_START);
	log_info("reload-platform %s: swapping %s (%zu of at most %d in "
	    "flight)", f->platform, e->key, f->running, f->max);
	/* A swap that ends at once (no spawn) told fleet_ended() already. */
	if (swap_start(b, f->by, f->why, NULL, NULL) == -1 &&
	    e->state == FS_SWAPPING) {
		/* Refused before a swap existed: no end will come. */
		r->new_gen = r->old_gen;
		r->ms = util_now_ms() - e->t0;
		snprintf(r->error, sizeof(r->error), "its swap could not start "
		    "(out of memory)");
		fleet_move(f, i, FE_ENDED);
	}
}

/* One pass over the waiting bots: start what the slots allow. */
static void
fleet_pass(struct fleet *f)
{
	struct fleet_ent	*e;
	struct bot		*b;
	size_t			 i;

	for (i = 0; i < f->n; i++) {
		e = &f->ents[i];
		if (e->state != FS_WAITING)
			continue;
		b = bot_find(f->sup, e->key);
		if (f->sup->shutting_down) {
			fleet_skip(f, i, b, 0, "the supervisor is stopping");
			continue;
		}
		if (f->running >= (size_t)f->max)
			break;
		if (b == NULL) {	/* removed, its last worker gone */
			fleet_skip(f, i, NULL, 1, "");
			continue;
		}
		if (b->swap != NULL) {
			if (!e->waited)
				log_info("reload-platform %s: %s waits for the "
				    "reload of it already running", f->platform,
				    e->key);
			e->waited = 1;
			continue;
		}
		fleet_swap(f, i, b);
	}
}

/*
 * Fill the free slots.  A swap that fails at once calls back in here
 * (through fleet_ended()) while a pass runs: that asks for another pass
 * instead of nesting one.
 */
static void
fleet_pump(struct fleet *f)
{
	if (f->pumping) {
		f->again = 1;
		return;
	}
	f->pumping = 1;
	do {
		f->again = 0;
		fleet_pass(f);
	} while (f->again);
	f->pumping = 0;
	if (f->done == f->n && !f->finishing) {
		f->finishing = 1;
		event_active(f->done_ev, EV_TIMEOUT, 1);
	}
}

/* sup->swap_ended: any bot's swap ended, ours or another request's. */
static void
fleet_ended(struct bot *b, const char *error)
{
	struct sup		*sup = b->sup;
	struct fleet		*f;
	struct fleet_result	*r;
	size_t			 i;

	TAILQ_FOREACH(f, &sup->fleets, entry)
		for (i = 0; i < f->n; i++) {
			if (f->ents[i].state != FS_SWAPPING ||
			    strcmp(f->ents[i].key, b->key) != 0)
				continue;
			r = &f->res[i];
			r->ok = error == NULL;
			r->new_gen = b->active != NULL ? b->active->gen : 0;
			r->ms = util_now_ms() - f->ents[i].t0;
			snprintf(r->error, sizeof(r->error), "%s",
			    error != NULL ? error : "");
			fleet_move(f, i, FE_ENDED);
		}
	/* A slot is free, or a bot another fleet waits for is. */
	TAILQ_FOREACH(f, &sup->fleets, entry)
		fleet_pump(f);
}

void
fleet_init(struct sup *sup)
{
	TAILQ_INIT(&sup->fleets);
	sup->swap_ended = fleet_ended;
}

/* A bot the platform reload swaps: configured, or removed but running. */
static int
fleet_wants(const struct bot *b, const char *platform)
{
	return (bot_of_platform(b, platform) &&
	    (b->in_config || b->active != NULL));
}

static int
fleet_known(struct sup *sup, const char *platform)
{
	struct bot	*b;

	if (cfg_find_platform(sup->cfg, platform) != NULL)
		return (1);
	TAILQ_FOREACH(b, &sup->bots, entry)
		if (bot_of_platform(b, platform))
			return (1);
	return (0);
}

static void
fleet_unknown(struct sup *sup, const char *platform, sup_reply_fn reply,
    void *arg)
{
	char	 list[1024] = "", *name, *text = NULL;
	size_t	 i;

	for (i = 0; i < sup->cfg->nplatforms; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%s", i > 0 ? ", " : "", sup->cfg->platforms[i].name);
	name = utf8_one_line(platform, 64);
	if (name == NULL || asprintf(&text, "❌ No platform named \"%s\". "
	    "Platforms: %s", name, list[0] != '\0' ? list : "none") == -1)
		text = NULL;
	reply(arg, 0, text != NULL ? text : "❌ No such platform");
	free(text);
	free(name);
}

static struct fleet *
fleet_new(struct sup *sup, const char *platform, const char *by, size_t n)
{
	struct fleet	*f;
	struct bot	*b;
	size_t		 i = 0;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (NULL);
	f->sup = sup;
	f->n = n;
	if ((f->platform = strdup(platform)) == NULL ||
	    (f->ents = calloc(n + 1, sizeof(*f->ents))) == NULL ||
	    (f->res = calloc(n + 1, sizeof(*f->res))) == NULL ||
	    (f->done_ev = evtimer_new(sup->base, fleet_done_cb, f)) == NULL) {
		fleet_free(f);
		return (NULL);
	}
	TAILQ_FOREACH(b, &sup->bots, entry) {
		if (!fleet_wants(b, platform))
			continue;
		if ((f->ents[i].key = strdup(b->key)) == NULL) {
			fleet_free(f);
			return (NULL);
		}
		f->res[i].key = f->ents[i].key;
		i++;
	}
	f->max = sup->cfg->platform_concurrency;
	f->t0 = util_now_ms();
	snprintf(f->by, sizeof(f->by), "%s", by);
	snprintf(f->why, sizeof(f->why), "reload platform %s", platform);
	return (f);
}

/*
 * Swap every bot of platform, at most reloadPlatformConcurrency at a time,
 * with the config in force when each one's turn comes.  reply gets the one
 * summary (ok: no bot failed), now or later; notice, if not NULL, gets
 * "🔄 Reloading platform …" first.  One platform reload per platform.
 */
void
fleet_start(struct sup *sup, const char *platform, const char *by,
    sup_reply_fn notice, sup_reply_fn reply, void *arg)
{
	struct fleet	*f;
	struct bot	*b;
	size_t		 n = 0;
	char		 text[256];

	if (!fleet_known(sup, platform)) {
		fleet_unknown(sup, platform, reply, arg);
		return;
	}
	TAILQ_FOREACH(f, &sup->fleets, entry)
		if (strcmp(f->platform, platform) == 0) {
			snprintf(text, sizeof(text), "Reload already in "
			    "progress for platform %s", platform);
			reply(arg, 0, text);
			return;
		}
	TAILQ_FOREACH(b, &sup->bots, entry)
		n += fleet_wants(b, platform);
	if ((f = fleet_new(sup, platform, by, n)) == NULL) {
		reply(arg, 0, "❌ Platform reload: out of memory");
		return;
	}
	f->reply = reply;
	f->arg = arg;
	f->span = otel_span_start("reload.platform", NULL);
	otel_span_str(f->span, "platform", platform);
	otel_span_str(f->span, "by", by);
	otel_span_int(f->span, "bots", (int64_t)n);
	otel_span_int(f->span, "concurrency", f->max);
	log_info("reload-platform %s: %zu bot(s), at most %d at a time, "
	    "requested by %s", platform, n, f->max, by);
	if (n > 0 && notice != NULL) {
		snprintf(text, sizeof(text), "🔄 Reloading platform %s: %zu "
		    "bot(s), at most %d at a time …", platform, n, f->max);
		notice(arg, 1, text);
	}
	TAILQ_INSERT_TAIL(&sup->fleets, f, entry);
	fleet_pump(f);
}

/* The requester went away (a ctl client hung up): drop its reply. */
void
fleet_cancel_reply(struct sup *sup, void *arg)
{
	struct fleet	*f;

	TAILQ_FOREACH(f, &sup->fleets, entry)
		if (f->arg == arg)
			f->reply = NULL;
}
