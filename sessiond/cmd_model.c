/*
 * cmd_model: /model (/models) and /reasoning, with upstream's replies
 * (docs/commands.md, "Models and providers").
 *
 * The list is the runtime's models (models.list, which needs a GitHub
 * sign-in) and each BYOK provider's configured models as
 * "<provider>:<id>".  A switch within the provider the channel uses goes
 * to the live session (session.model.switchTo), which keeps its context;
 * a switch to another provider (or between Copilot and a provider) needs
 * a new session, which the reply says.  The choice is the channel's
 * preference (model, provider), acknowledged once durable, so it holds
 * across /reload bot, a sessiond crash and a restart.  While a turn runs
 * the listing answers at once and a switch waits for the turn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/util.h"
#include "backend.h"
#include "chan.h"
#include "chanop.h"
#include "cmd.h"
#include "conf.h"
#include "models.h"
#include "store.h"

#define MODEL_NO_AUTH	"the Copilot runtime on the bridge host is not " \
			"signed in to GitHub"

/* Streamer mode (the global setting): preview and internal models hidden. */
int
cmd_streamer(void)
{
	const char	*v = store_setting("streamer_mode");

	return (v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0));
}

static void
cmd_models_dtor(struct chanop *op)
{
	struct cmdmodels	*m = (struct cmdmodels *)op;

	models_free(m->ms);
	free(m->arg);
	free(m->level);
	free(m->model);
	free(m->provider);
}

static void
cmd_models_fetched(struct chanop *op, const json_t *result, const char *error)
{
	struct cmdmodels	*m = (struct cmdmodels *)op;
	const struct conf	*cf = conf_get();

	if (error != NULL) {
		log_debug("channel %s: models.list: %s", op->c->id, error);
		snprintf(m->why, sizeof(m->why), "%s", chan_auth_error(error) ?
		    MODEL_NO_AUTH : error);
	}
	if ((m->ms = models_build(error == NULL ? result : NULL,
	    cf != NULL ? cf->providers : NULL)) == NULL) {
		log_warnx("channel %s: out of memory: the model list is lost",
		    op->c->id);
		chanop_free(op);
		return;
	}
	m->fn(m);
}

/* A command that runs fn once it has the model list (cmd_models_fetch). */
struct cmdmodels *
cmd_models_new(struct cmdctx *x, void (*fn)(struct cmdmodels *))
{
	struct cmdmodels	*m;

	if ((m = (struct cmdmodels *)chanop_new(x->c, x->root, x->msg,
	    sizeof(*m))) == NULL)
		return (NULL);
	m->op.dtor = cmd_models_dtor;
	m->fn = fn;
	if ((m->arg = strdup(x->arg)) == NULL) {
		log_warnx("channel %s: out of memory: /%s is not answered",
		    x->c->id, x->name);
		chanop_free(&m->op);
		return (NULL);
	}
	return (m);
}

/*
 * Run m's fn with the model list: the runtime's (when copilot) and the BYOK
 * providers'.  A runtime that is not signed in is not asked.
 */
void
cmd_models_fetch(struct cmdmodels *m, int copilot)
{
	const struct backend	*be = chan_backend();

	if (!copilot)
		cmd_models_fetched(&m->op, NULL, NULL);
	else if (be->signed_in != NULL && !be->signed_in())
		cmd_models_fetched(&m->op, NULL, "Not authenticated");
	else if (chanop_engine(&m->op, "models.list", NULL,
	    cmd_models_fetched) == -1)
		cmd_models_fetched(&m->op, NULL, "the Copilot runtime cannot "
		    "be asked now");
}

/* Why Copilot's models are missing, as a line for the reply ("" if not). */
static void
model_note(const struct cmdmodels *m, char *buf, size_t len)
{
	buf[0] = '\0';
	if (m->why[0] != '\0' && models_copilot_count(m->ms) == 0)
		snprintf(buf, len, "\n⚠️ GitHub Copilot's models are not listed "
		    "(%s): only the BYOK providers' models are.", m->why);
}

/* ---- the listing ------------------------------------------------------------ */

static void
model_list(struct cmdmodels *m)
{
	struct chan		*c = m->op.c;
	struct chan_conf	 cc;
	const char		*filter = NULL;
	char			 note[512], *text;
	size_t			 i, n = 0;

	if (conf_channel(c->id, c->bot, c->dm, &cc) == -1)
		goto done;
	model_note(m, note, sizeof(note));
	if (m->arg[0] != '\0' &&
	    (filter = models_provider(m->ms, m->arg)) != NULL)
		for (i = 0; i < m->ms->n; i++)
			n += m->ms->v[i].provider != -1 && strcmp(m->ms->providers[
			    m->ms->v[i].provider], filter) == 0;
	if (m->ms->n == 0) {
		if (m->why[0] == '\0')
			chanop_say(&m->op, "⚠️ Model list not available.");
		else if (asprintf(&text, "⚠️ Model list not available: %s.",
		    m->why) != -1) {
			chanop_say(&m->op, text);
			free(text);
		}
		goto done;
	}
	if (filter != NULL && n == 0) {
		if (asprintf(&text, "⚠️ No models found for provider \"%s\".",
		    filter) != -1) {
			chanop_say(&m->op, text);
			free(text);
		}
		goto done;
	}
	if ((text = models_listing(m->ms, cc.model, cc.provider_name, filter,
	    cmd_streamer())) == NULL)
		goto done;
	if (filter == NULL && note[0] != '\0') {
		char	*t;

		if (asprintf(&t, "%s%s", text, note) != -1) {
			free(text);
			text = t;
		}
	}
	chanop_say(&m->op, text);
	free(text);
done:
	chanop_free(&m->op);
}

/* ---- the switch ----------------------------------------------------------- */

static int
same(const char *a, const char *b)
{
	return ((a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0));
}

/* A provider model's wireApi, else the provider's (upstream's rule). */
static const char *
model_wire(const char *provider, const char *model)
{
	const json_t	*p, *e;
	size_t		 i;

	if (provider == NULL || conf_get() == NULL ||
	    (p = json_object_get(conf_get()->providers, provider)) == NULL)
		return (NULL);
	json_array_foreach(json_object_get(p, "models"), i, e)
		if (model != NULL && strcmp(jx_stre(e, "id"), model) == 0 &&
		    jx_str(e, "wireApi") != NULL)
			return (jx_str(e, "wireApi"));
	return (jx_str(p, "wireApi"));
}

static void
model_saved(struct chanop *op, const json_t *result, const char *error)
{
	chanop_saved(op, op->text);
	chanop_free(op);
}

/* The preferences are durable: the held channel opens its new session. */
static void
model_reopen(struct chanop *op, const json_t *result, const char *error)
{
	char	*t = chanop_outcome(op, op->text);

	chan_open_held(op->c, op->root, t != NULL ? t : op->text);
	free(t);
	chanop_free(op);
}

static void
model_store(struct cmdmodels *m)
{
	(void)chanop_pref(&m->op, "model", m->model);
	(void)chanop_pref(&m->op, "provider", m->provider);
}

static void
model_switched(struct chanop *op, const json_t *result, const char *error)
{
	struct cmdmodels	*m = (struct cmdmodels *)op;

	if (error != NULL) {
		log_warnx("channel %s: session.model.switchTo %s: %s",
		    m->op.c->id, m->model, error);
		chanop_say(&m->op, "❌ Failed to switch model. Check logs for "
		    "details.");
		chanop_free(&m->op);
		return;
	}
	log_info("channel %s: model switched to %s%s%s", m->op.c->id,
	    m->provider != NULL ? m->provider : "", m->provider != NULL ?
	    ":" : "", m->model);
	model_store(m);
	/* A resume after a runtime restart asks for the new model too. */
	(void)chan_apply(op->c, 0);
	chanop_stored(op, model_saved);
}

/*
 * Apply the choice: the same provider switches the live session; another
 * provider (or another wire API) ends it, and a new one opens once the
 * preferences are durable.  m->model, m->provider, m->op.text are set.
 */
static void
model_apply(struct cmdmodels *m, struct chan *c)
{
	struct chan_conf	 cc;
	const char		*sid;
	char			*t;
	json_t			*params;

	if (conf_channel(c->id, c->bot, c->dm, &cc) == -1) {
		chanop_free(&m->op);
		return;
	}
	if (!same(cc.provider_name, m->provider) || (m->provider != NULL &&
	    !same(model_wire(m->provider, cc.model), model_wire(m->provider,
	    m->model)))) {
		log_info("channel %s: provider %s -> %s: a new session",
		    c->id, cc.provider_name != NULL ? cc.provider_name :
		    "copilot", m->provider != NULL ? m->provider : "copilot");
		if (asprintf(&t, "%s\n🆕 New session: %s needs one (the "
		    "conversation starts over).", m->op.text, !same(
		    cc.provider_name, m->provider) ? "another provider" :
		    "another wire API") != -1) {
			free(m->op.text);
			m->op.text = t;
		}
		chan_hold(c, "/model");
		model_store(m);
		chanop_stored(&m->op, model_reopen);
		return;
	}
	if (c->st == CH_OPEN && (sid = chan_session_id(c)) != NULL &&
	    (params = json_pack("{s:s,s:s}", "sessionId", sid, "modelId",
	    m->model)) != NULL) {
		/* The engine's call, not the session's: it always answers. */
		if (chanop_engine(&m->op, "session.model.switchTo", params,
		    model_switched) == 0)
			return;
		log_info("channel %s: the runtime cannot be asked now; the "
		    "session resumes with the new model", c->id);
	}
	/* No live session (or no runtime now): it resumes with the model. */
	model_store(m);
	(void)chan_apply(c, 0);
	chanop_stored(&m->op, model_saved);
}

/* "✅ Switched to …" and what else matched. */
static char *
model_reply(const struct models_match *r, int streamer)
{
	char	*text = NULL;
	size_t	 len = 0, i;
	int	 any = 0;
	FILE	*f;

	if ((f = open_memstream(&text, &len)) == NULL)
		return (NULL);
	if (streamer && models_hidden(r->model))
		fputs("✅ Switched to a hidden model", f);
	else
		fprintf(f, "✅ Switched to **%s** (`%s`)", r->model->name,
		    r->model->id);
	for (i = 0; i < r->nalt; i++) {
		if (streamer && models_hidden(r->alt[i]))
			continue;
		fprintf(f, "%s`%s` (%s)", any++ ? ", " : "\n↳ Also matched: ",
		    r->alt[i]->id, r->alt[i]->name);
	}
	if (fclose(f) == EOF) {
		free(text);
		return (NULL);
	}
	return (text);
}

/* With no model list, upstream's best effort: "[provider:]model" as typed. */
static int
model_as_typed(struct cmdmodels *m)
{
	const char	*arg = m->arg, *colon = strchr(arg, ':');
	const char	*prov = NULL;
	char		 pfx[128];

	if (colon != NULL && colon > arg && (size_t)(colon - arg) < sizeof(pfx)) {
		snprintf(pfx, sizeof(pfx), "%.*s", (int)(colon - arg), arg);
		prov = models_provider(m->ms, pfx);
	}
	if ((m->model = strdup(prov != NULL ? colon + 1 : arg)) == NULL ||
	    (prov != NULL && (m->provider = strdup(prov)) == NULL) ||
	    asprintf(&m->op.text, "🔄 Switching model to **%s**...",
	    arg) == -1) {
		m->op.text = NULL;
		return (-1);
	}
	return (0);
}

static void
model_switch(struct cmdmodels *m)
{
	struct chan		*c = m->op.c;
	struct models_match	 r;
	struct cmdctx		 x;
	const char		*prov;
	char			 note[512], *t;

	if (c->busy || c->st == CH_OPENING) {
		/* A turn started meanwhile: the switch waits for it. */
		memset(&x, 0, sizeof(x));
		x.c = c;
		x.msg = m->op.msg;
		x.root = m->op.root;
		x.name = "model";
		x.arg = m->arg;
		command_defer(&x);
		goto done;
	}
	if (m->ms->n == 0) {
		if (model_as_typed(m) == -1)
			goto done;
		model_apply(m, c);
		return;
	}
	models_resolve(m->ms, m->arg, &r);
	if (r.model == NULL) {
		/* An unknown name may be one of the models not listed. */
		note[0] = '\0';
		if (strstr(r.error, "Unknown model") != NULL)
			model_note(m, note, sizeof(note));
		if (asprintf(&t, "%s%s", r.error, note) != -1) {
			chanop_say(&m->op, t);
			free(t);
		}
		goto done;
	}
	prov = r.model->provider >= 0 ? m->ms->providers[r.model->provider] :
	    NULL;
	if ((m->model = strdup(prov != NULL ? r.model->id + strlen(prov) + 1 :
	    r.model->id)) == NULL || (prov != NULL &&
	    (m->provider = strdup(prov)) == NULL) ||
	    (m->op.text = model_reply(&r, cmd_streamer())) == NULL)
		goto done;
	model_apply(m, c);
	return;
done:
	chanop_free(&m->op);
}

/*
 * /model: the listing (or one provider's) at once, even mid-turn; a switch
 * waits for the running turn.
 */
void
cmd_model(struct cmdctx *x)
{
	const char		*k = NULL;
	const json_t		*providers = conf_get() != NULL ?
				    conf_get()->providers : NULL;
	json_t			*v;
	struct cmdmodels	*m;

	if (x->arg[0] != '\0')
		json_object_foreach((json_t *)providers, k, v)
			if (strcasecmp(k, x->arg) == 0)
				break;
	if (x->arg[0] == '\0' || k != NULL) {
		/* One provider's listing needs nothing of the runtime. */
		if ((m = cmd_models_new(x, model_list)) != NULL)
			cmd_models_fetch(m, x->arg[0] == '\0');
		return;
	}
	if (x->c->busy || x->c->st == CH_OPENING) {
		command_defer(x);
		return;
	}
	if ((m = cmd_models_new(x, model_switch)) != NULL)
		cmd_models_fetch(m, 1);
}

/* ---- /reasoning ------------------------------------------------------------- */

static const char *const model_efforts[] = { "low", "medium", "high", "xhigh" };

static void
reasoning_set(struct chanop *op, const json_t *result, const char *error)
{
	struct cmdmodels	*m = (struct cmdmodels *)op;
	char			*t;

	if (error != NULL) {
		log_warnx("channel %s: reasoning effort %s: %s", m->op.c->id,
		    m->level, error);
		if (asprintf(&t, "🧠 Reasoning effort saved as **%s** but RPC "
		    "failed. Use `/reload` to apply.", m->level) == -1)
			t = NULL;
	} else {
		(void)chan_apply(op->c, 0);
		if (asprintf(&t, "🧠 Reasoning effort set to **%s**.",
		    m->level) == -1)
			t = NULL;
	}
	if (t != NULL) {
		chanop_saved(op, t);
		free(t);
	}
	chanop_free(op);
}

/* The preference is durable: the live session gets it, if there is one. */
static void
reasoning_saved(struct chanop *op, const json_t *result, const char *error)
{
	struct cmdmodels	*m = (struct cmdmodels *)op;
	struct chan		*c = op->c;
	struct chan_conf	 cc;
	const char		*sid;
	json_t			*params;
	char			*t;

	if (c->st == CH_OPEN && c->bs != NULL &&
	    (sid = chan_session_id(c)) != NULL &&
	    conf_channel(c->id, c->bot, c->dm, &cc) == 0) {
		params = json_pack("{s:s,s:s,s:s}", "sessionId", sid, "modelId",
		    cc.model, "reasoningEffort", m->level);
		if (params != NULL && chanop_engine(op,
		    "session.model.switchTo", params, reasoning_set) == 0)
			return;
		reasoning_set(op, NULL, "the request cannot be sent");
		return;
	}
	if (asprintf(&t, "🧠 Reasoning effort set to **%s**. Will apply when "
	    "a session starts.", m->level) != -1) {
		chanop_saved(op, t);
		free(t);
	}
	chanop_free(op);
}

static void
reasoning_check(struct cmdmodels *m)
{
	struct chan		*c = m->op.c;
	struct chan_conf	 cc;
	const struct model	*mi;
	const json_t		*e;
	size_t			 i;
	char			*t;
	int			 ok = 0;

	if (conf_channel(c->id, c->bot, c->dm, &cc) == -1) {
		chanop_free(&m->op);
		return;
	}
	if ((mi = models_find(m->ms, cc.model, cc.provider_name)) != NULL &&
	    mi->efforts != NULL) {
		json_array_foreach(mi->efforts, i, e)
			ok |= strcmp(json_string_value(e) ?: "", m->level) == 0;
		if (!ok) {
			if (asprintf(&t, "⚠️ Model %s%s%s does not support "
			    "reasoning effort.\nSupported models include Opus "
			    "and other reasoning-capable models.",
			    cmd_streamer() && models_hidden(mi) ? "" : "**",
			    cmd_streamer() && models_hidden(mi) ?
			    "the current model" : cc.model, cmd_streamer() &&
			    models_hidden(mi) ? "" : "**") != -1) {
				chanop_say(&m->op, t);
				free(t);
			}
			chanop_free(&m->op);
			return;
		}
	}
	(void)chanop_pref(&m->op, "reasoning_effort", m->level);
	chanop_stored(&m->op, reasoning_saved);
}

/* /reasoning LEVEL: the channel's preference, applied to the live session. */
void
cmd_reasoning(struct cmdctx *x)
{
	struct chan_conf	 cc;
	struct cmdmodels	*m;
	size_t			 i;

	if (conf_channel(x->c->id, x->c->bot, x->c->dm, &cc) == -1)
		return;
	if (x->arg[0] == '\0') {
		cmd_sayf(x, "🧠 Current reasoning effort: **%s**\nUsage: "
		    "`/reasoning <low|medium|high|xhigh>`", cc.effort != NULL ?
		    cc.effort : "default");
		return;
	}
	for (i = 0; i < nitems(model_efforts); i++)
		if (strcasecmp(x->arg, model_efforts[i]) == 0)
			break;
	if (i == nitems(model_efforts)) {
		cmd_say(x, "⚠️ Invalid reasoning effort. Valid values: `low`, "
		    "`medium`, `high`, `xhigh`");
		return;
	}
	if ((m = cmd_models_new(x, reasoning_check)) == NULL)
		return;
	if ((m->level = strdup(model_efforts[i])) == NULL) {
		chanop_free(&m->op);
		return;
	}
	/* Only Copilot's models say which efforts they support. */
	cmd_models_fetch(m, cc.provider == NULL);
}
