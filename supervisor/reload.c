/*
 * reload: the one config reload path.  SIGHUP, the file watcher,
 * `ctl reload` and `/reload config` all end here.
 *
 * Validate first; on any error the running config stays untouched.  A
 * valid config is applied whole: live changes are pushed to sessiond and the
 * workers, botReloadNeeded is advised (or swapped when autoReloadBots),
 * telemetryReloadNeeded and restartNeeded are reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/otel.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "supervisor.h"

/* Tell sessiond and every worker about the live part of the config. */
void
reload_push(struct sup *sup)
{
	struct child	*c;
	json_t		*j;

	TAILQ_FOREACH(c, &sup->children, entry) {
		if (c->chan == NULL || c->state == CS_SPAWNED ||
		    c->state == CS_SPARE || c->state == CS_DRAINING)
			continue;
		if (c->role == ROLE_SESSIOND)
			j = project_sessiond(sup->cfg);
		else if (cfg_find_bot(sup->cfg, c->bot->key) != NULL)
			j = project_worker(sup->cfg, c->bot->key);
		else
			continue;	/* removed bot: keeps its last config */
		if (j == NULL || ipc_send(c->chan, IPC_CONFIG_UPDATE,
		    json_pack("{s:o}", "config", j)) == -1)
			log_warnx("%s: cannot update %s g%d", __func__,
			    child_name(c), c->gen);
	}
}

/*
 * A platform's address is every one of its bots': advise the platform
 * reload once per platform whose url (or apiUrl) changed.  The bots are
 * sorted by key, so a platform's are together.
 */
static void
reload_log_platforms(const struct cfg_diff *d)
{
	const char	*key, *prev = NULL;
	size_t		 i, j, n, pn = 0;

	for (i = 0; i < d->nbots; i++) {
		key = d->bots[i].key;
		n = strcspn(key, ":");
		for (j = 0; j < d->bots[i].reasons.n; j++)
			if (strcmp(d->bots[i].reasons.v[j], "url") == 0)
				break;
		if (j == d->bots[i].reasons.n ||
		    (prev != NULL && n == pn && strncmp(key, prev, n) == 0))
			continue;
		log_warnx("  ⚠ botReloadNeeded: or run /reload platform %.*s "
		    "(or copilot-bridge ctl reload-platform %.*s) to apply the "
		    "new address to every bot of it", (int)n, key, (int)n, key);
		prev = key;
		pn = n;
	}
}

static void
reload_log(struct sup *sup, const char *trigger, const struct cfg_diff *d)
{
	size_t	i, j;

	if (cfg_diff_empty(d)) {
		log_debug("Config file changed but no effective differences "
		    "(%s)", trigger);
		return;
	}
	log_info("Config reloaded (%s): %zu change(s), %zu botReloadNeeded, "
	    "telemetryReloadNeeded=%s, %zu restartNeeded", trigger,
	    d->changes.n, d->nbots, d->telemetry ? "yes" : "no", d->restart.n);
	for (i = 0; i < d->changes.n; i++)
		log_info("  ✓ %s", d->changes.v[i]);
	for (i = 0; i < d->nbots; i++) {
		for (j = 0; j < d->bots[i].texts.n; j++)
			log_warnx("  ⚠ botReloadNeeded: %s", d->bots[i].texts.v[j]);
		if (!sup->cfg->auto_reload_bots)
			log_warnx("  ⚠ botReloadNeeded: run /reload bot %s "
			    "(or copilot-bridge ctl reload-bot %s) to apply",
			    d->bots[i].key, d->bots[i].key);
	}
	if (!sup->cfg->auto_reload_bots)
		reload_log_platforms(d);
	if (d->telemetry)
		log_warnx("  ⚠ telemetryReloadNeeded: telemetry config changed");
	for (i = 0; i < d->restart.n; i++)
		log_warnx("  ⚠ restartNeeded: %s", d->restart.v[i]);
}

/*
 * Tell the admins in chat, as upstream does: for every admin bot, its
 * first configured channel that names it as its "bot" and is not a DM gets
 * the reload's "needs action" items, only when there are some.
 */
static void
reload_notify_admins(struct sup *sup, const struct cfg_diff *d)
{
	const struct cfg_bot	*b;
	const struct cfg_chan	*ch;
	char			*text = NULL, *md;
	const char		*blk;
	size_t			 i, j;

	if ((d->nbots == 0 && d->restart.n == 0) || sup->sessiond == NULL ||
	    sup->sessiond->chan == NULL || (md = cfg_diff_markdown(d)) == NULL)
		return;
	/* The actionable blocks of the /reload config reply. */
	blk = strstr(md, "**Bot reload needed:**");
	if (blk == NULL)
		blk = strstr(md, "**Restart needed:**");
	if (blk == NULL || asprintf(&text, "**Config reloaded** with changes "
	    "that need action:\n%s", blk) == -1) {
		free(md);
		return;
	}
	free(md);
	for (i = 0; i < sup->cfg->nbots; i++) {
		b = &sup->cfg->bots[i];
		if (!b->admin)
			continue;
		for (j = 0; j < sup->cfg->nchans; j++) {
			ch = &sup->cfg->chans[j];
			if (ch->bot == NULL || strcmp(ch->bot, b->name) != 0 ||
			    strcmp(ch->platform, b->platform) != 0 || ch->is_dm)
				continue;
			(void)ipc_send(sup->sessiond->chan, IPC_NOTIFY,
			    json_pack("{s:s,s:s,s:s}", "bot", b->key, "channel",
			    ch->id, "text", text));
			break;
		}
	}
	free(text);
}

static void
reload_auto_reply(void *arg, int ok, const char *text)
{
	if (ok)
		log_info("autoReloadBots: %s", text);
	else
		log_warnx("autoReloadBots: %s", text);
}

/* Mark which bots the new config wants; swap the changed ones if asked. */
static void
reload_bots(struct sup *sup, const struct cfg_diff *d)
{
	struct bot	*b;
	size_t		 i, j;
	char		 why[128];

	/* A bot of a platform without an adapter has no worker, as at start. */
	TAILQ_FOREACH(b, &sup->bots, entry)
		b->in_config = 0;
	for (i = 0; i < sup->cfg->nbots; i++)
		if (sup->cfg->bots[i].has_adapter &&
		    (b = bot_get(sup, sup->cfg->bots[i].key)) != NULL)
			b->in_config = 1;
	if (!sup->cfg->auto_reload_bots)
		return;
	for (i = 0; i < d->nbots; i++) {
		if ((b = bot_find(sup, d->bots[i].key)) == NULL)
			continue;
		why[0] = '\0';
		for (j = 0; j < d->bots[i].reasons.n; j++)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
			    "%s%s", j ? "," : "", d->bots[i].reasons.v[j]);
		(void)swap_start(b, "autoReloadBots", why, reload_auto_reply,
		    NULL);
	}
}

/* The span's trigger: one word per way into reload_config(). */
static const char *
reload_trigger_name(const char *trigger)
{
	if (strcmp(trigger, "SIGHUP") == 0)
		return ("sighup");
	if (strcmp(trigger, "file watch") == 0)
		return ("file");
	if (strncmp(trigger, "ctl", 3) == 0)
		return ("ctl");
	if (trigger[0] == '@')
		return ("chat");	/* /reload config or /reload bot */
	return (trigger);
}

/* End the reload.config span; d is NULL when the file was refused. */
static void
reload_span_end(struct otel_span *sp, const char *outcome,
    const struct cfg_diff *d, const char *err)
{
	otel_span_str(sp, "outcome", outcome);
	if (d != NULL) {
		otel_span_int(sp, "changes", (int64_t)d->changes.n);
		otel_span_int(sp, "bot_reloads_needed", (int64_t)d->nbots);
		otel_span_int(sp, "telemetry_reload_needed", d->telemetry != 0);
		otel_span_int(sp, "restart_needed", (int64_t)d->restart.n);
	}
	otel_span_status(sp, err);
	otel_span_end(sp);
}

static struct otel_span *
reload_span_start(const char *trigger)
{
	struct otel_span	*sp = otel_span_start("reload.config", NULL);

	otel_span_str(sp, "trigger", reload_trigger_name(trigger));
	otel_span_str(sp, "by", trigger);
	return (sp);
}

/*
 * Load and diff the file.  NULL, with the complaint in err and the span's
 * outcome in *outcome, when it cannot be put in force.
 */
static struct cfg *
reload_load(struct sup *sup, struct cfg_diff **dp, char *err, size_t len,
    const char **outcome)
{
	struct cfg	*newc;

	*dp = NULL;
	*outcome = "invalid";
	if ((newc = cfg_load(sup->cfgpath, err, len)) == NULL)
		return (NULL);
	/* Without its grace channels the new config would drop some. */
	if ((*dp = cfg_diff(sup->cfg, newc)) == NULL ||
	    cfg_carry_grace(newc, sup->cfg) == -1) {
		snprintf(err, len, "out of memory");
		*outcome = "error";
		cfg_diff_free(*dp);
		*dp = NULL;
		cfg_free(newc);
		return (NULL);
	}
	return (newc);
}

static int
reload_refused(struct sup *sup, const char *trigger, const char *err,
    const char *outcome, struct otel_span *sp, char **text)
{
	sup->reloads_failed++;
	log_errorx("Config reload failed (%s): %s — keeping existing config",
	    trigger, err);
	(void)sd_notify_status("READY=1", "config reload failed: %s", err);
	if (text != NULL &&
	    asprintf(text, "❌ Config reload failed: %s\nExisting config is "
	    "unchanged.", err) == -1)
		*text = NULL;
	reload_span_end(sp, outcome, NULL, err);
	return (-1);
}

/* Put newc in force: our log, telemetry, the bots, the children. */
static void
reload_install(struct sup *sup, struct cfg *newc, const struct cfg_diff *d,
    const char *trigger, struct otel_span **sp, int replied)
{
	struct cfg	*oldc = sup->cfg;

	sup->cfg = newc;
	log_set_level(newc->log_level);
	if ((newc->log_dir == NULL) != (oldc->log_dir == NULL) ||
	    (newc->log_dir != NULL && strcmp(newc->log_dir, oldc->log_dir) != 0))
		if (log_open(newc->log_dir, "supervisor.log") == -1)
			log_warn("cannot open %s/supervisor.log", newc->log_dir);
	reload_log(sup, trigger, d);
	watch_config(sup->watch, newc->watch_mode, newc->watch_interval_ms);
	/* Before any swap starts, so its reload.bot span has an exporter. */
	if (otel_apply(sup->base, newc->telemetry, "supervisor", NULL, 0) &&
	    *sp == NULL)
		*sp = reload_span_start(trigger);  /* telemetry just came on */
	reload_bots(sup, d);
	if (!replied)	/* watcher and SIGHUP: the admins hear of it in chat */
		reload_notify_admins(sup, d);
	/* A telemetry change is in the diff: it reaches every worker too. */
	if (!cfg_diff_empty(d))
		reload_push(sup);
	cfg_free(oldc);
}

/*
 * Reload the config file.  Returns 0 when the new config is in force, -1
 * when it was rejected.  *text, if text is not NULL, gets the markdown
 * reply for the requester (caller frees).  systemd hears RELOADING=1 and,
 * whatever happens, READY=1.
 */
int
reload_config(struct sup *sup, const char *trigger, char **text)
{
	struct cfg		*newc;
	struct cfg_diff		*d;
	struct otel_span	*sp;
	char			 err[CFG_ERR_MAX], state[64];
	const char		*outcome;
	uint64_t		 t0 = util_now_us();

	if (text != NULL)
		*text = NULL;
	sp = reload_span_start(trigger);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)t0);
	(void)sd_notify_status(state, "reloading config (%s)", trigger);
	if ((newc = reload_load(sup, &d, err, sizeof(err), &outcome)) == NULL)
		return (reload_refused(sup, trigger, err, outcome, sp, text));
	reload_install(sup, newc, d, trigger, &sp, text != NULL);
	sup->reloads_ok++;
	if (text != NULL)
		*text = cfg_diff_markdown(d);
	log_debug("reload (%s) applied in %llu us", trigger,
	    (unsigned long long)(util_now_us() - t0));
	reload_span_end(sp, cfg_diff_empty(d) ? "unchanged" : "ok", d, NULL);
	cfg_diff_free(d);
	(void)sd_notify_status("READY=1", "running, config %.8s", newc->hash);
	return (0);
}
