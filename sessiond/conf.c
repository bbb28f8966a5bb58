/*
 * conf: see conf.h.  The settings of a channel resolve as upstream's
 * getChannelConfig does (docs/configuration.md): the channel's own value,
 * then its bot's (model, agent), then "defaults", then the built-in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/policy.h"
#include "common/util.h"
#include "conf.h"
#include "store.h"

#define CONF_DEFAULT_MODEL	"claude-sonnet-4.6"
#define CONF_SCHED_GRACE_S	3600	/* scheduler.graceSeconds */

static struct conf	*conf_now;

/* As upstream's /config names them (a channel's entry: its file). */
static const char *const conf_src_names[] = {
	[CONF_SRC_BUILTIN] = "built-in",
	[CONF_SRC_DEFAULTS] = "defaults",
	[CONF_SRC_BOT] = "bot default",
	[CONF_SRC_CHANNEL] = "config.json",
	[CONF_SRC_PREF] = "channel prefs",
	[CONF_SRC_SESSION] = "session (active)",
};

const char *
conf_src_name(enum conf_src s)
{
	return (s < nitems(conf_src_names) ? conf_src_names[s] : "?");
}

/* A string member copied, or NULL; -1 only when out of memory. */
static int
conf_dup(const json_t *o, const char *key, char **out)
{
	const char	*s = jx_str(o, key);

	*out = NULL;
	if (s == NULL)
		return (0);
	return ((*out = strdup(s)) == NULL ? -1 : 0);
}

/* "agent": absent, null (a value: no agent), or a name. */
static int
conf_agent(const json_t *o, int *has, char **out)
{
	*has = json_object_get(o, "agent") != NULL;
	return (conf_dup(o, "agent", out));
}

static int
conf_tri(const json_t *o, const char *key)
{
	const json_t	*v = json_object_get(o, key);

	return (json_is_boolean(v) ? json_is_true(v) : CONF_UNSET);
}

static int
conf_trigger(const json_t *o)
{
	const char	*t = jx_str(o, "triggerMode");

	return (t == NULL ? CONF_UNSET : strcmp(t, "all") == 0);
}

static int
conf_chan_cmp(const void *a, const void *b)
{
	const struct conf_channel	*x = a, *y = b;
	int				 c = strcmp(x->id, y->id);

	return (c != 0 ? c : strcmp(x->platform, y->platform));
}

static int
conf_bot_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct conf_bot *)a)->key,
	    ((const struct conf_bot *)b)->key));
}

/*
 * The bot serving a channel with no usable "servedBy" (a projection from a
 * supervisor that does not resolve it): its "bot", else the platform's
 * first bot by name, else "default" (a platform with a botToken).
 */
static char *
conf_served_by(const json_t *root, const json_t *ch, const char *platform)
{
	const json_t	*bots, *v;
	const char	*b, *k, *first = NULL;
	char		*out;

	if ((b = jx_str(ch, "servedBy")) != NULL)
		return (strdup(b));
	if ((b = jx_str(ch, "bot")) == NULL || *b == '\0') {
		bots = json_object_get(json_object_get(json_object_get(root,
		    "platforms"), platform), "bots");
		json_object_foreach((json_t *)bots, k, v)
			if (first == NULL || strcmp(k, first) < 0)
				first = k;
		b = first != NULL ? first : "default";
	}
	if (asprintf(&out, "%s:%s", platform, b) == -1)
		return (NULL);
	return (out);
}

static int
conf_parse_channel(const json_t *root, const json_t *ch,
    struct conf_channel *c)
{
	const char	*id = jx_str(ch, "id"), *plat = jx_str(ch, "platform");

	if (id == NULL || plat == NULL)
		return (1);		/* not a channel we can serve: skipped */
	if ((c->id = strdup(id)) == NULL || (c->platform = strdup(plat)) == NULL ||
	    (c->served_by = conf_served_by(root, ch, plat)) == NULL ||
	    conf_dup(ch, "name", &c->name) == -1 ||
	    conf_dup(ch, "workingDirectory", &c->cwd) == -1 ||
	    conf_dup(ch, "model", &c->model) == -1 ||
	    conf_dup(ch, "timezone", &c->timezone) == -1 ||
	    conf_agent(ch, &c->has_agent, &c->agent) == -1)
		return (-1);
	c->trigger_all = conf_trigger(ch);
	c->threaded = conf_tri(ch, "threadedReplies");
	c->thread_sessions = conf_tri(ch, "threadSessions");
	c->verbose = conf_tri(ch, "verbose");
	return (0);
}

static int
conf_parse_channels(struct conf *c)
{
	const json_t	*chans = json_object_get(c->root, "channels"), *ch;
	size_t		 i;
	int		 rc;

	if (json_array_size(chans) == 0)
		return (0);
	if ((c->chans = calloc(json_array_size(chans), sizeof(*c->chans))) ==
	    NULL)
		return (-1);
	json_array_foreach((json_t *)chans, i, ch) {
		/* Counted first, so conf_free() sees a half-parsed entry. */
		rc = conf_parse_channel(c->root, ch, &c->chans[c->nchans++]);
		if (rc == -1)
			return (-1);
		if (rc == 1)
			c->nchans--;	/* skipped before anything was kept */
	}
	qsort(c->chans, c->nchans, sizeof(*c->chans), conf_chan_cmp);
	return (0);
}

static int
conf_parse_bots(struct conf *c)
{
	const json_t	*plats = json_object_get(c->root, "platforms"), *p, *b;
	const char	*pk, *bk;
	size_t		 n = 0;
	struct conf_bot	*cb;

	json_object_foreach((json_t *)plats, pk, p)
		n += json_object_size(json_object_get(p, "bots"));
	if (n == 0)
		return (0);
	if ((c->bots = calloc(n, sizeof(*c->bots))) == NULL)
		return (-1);
	json_object_foreach((json_t *)plats, pk, p) {
		json_object_foreach(json_object_get(p, "bots"), bk, b) {
			cb = &c->bots[c->nbots++];
			if (asprintf(&cb->key, "%s:%s", pk, bk) == -1) {
				cb->key = NULL;
				return (-1);
			}
			if (conf_dup(b, "model", &cb->model) == -1 ||
			    conf_agent(b, &cb->has_agent, &cb->agent) == -1)
				return (-1);
			cb->admin = jx_bool(b, "admin", 0);
		}
	}
	qsort(c->bots, c->nbots, sizeof(*c->bots), conf_bot_cmp);
	return (0);
}

static int
conf_parse_defaults(struct conf *c)
{
	const json_t		*d = json_object_get(c->root, "defaults");
	struct conf_defaults	*cd = &c->defaults;
	const char		*pm = jx_str(d, "permissionMode");

	if (conf_dup(d, "model", &cd->model) == -1 ||
	    conf_dup(d, "timezone", &cd->timezone) == -1 ||
	    conf_agent(d, &cd->has_agent, &cd->agent) == -1)
		return (-1);
	cd->trigger_all = conf_trigger(d);
	cd->threaded = conf_tri(d, "threadedReplies");
	cd->thread_sessions = conf_tri(d, "threadSessions");
	cd->verbose = conf_tri(d, "verbose");
	cd->autopilot = pm == NULL ? CONF_UNSET : strcmp(pm, "autopilot") == 0;
	cd->workspace_hooks = jx_bool(d, "allowWorkspaceHooks", 0);
	return (0);
}

/* A positive number of a unit (the validator bounds it), else def. */
static uint64_t
conf_amount(const json_t *o, const char *key, double def, double unit)
{
	const json_t	*v = json_object_get(o, key);
	double		 d = json_is_number(v) && json_number_value(v) > 0 ?
			    json_number_value(v) : def;

	return ((uint64_t)(d * unit));
}

static void
conf_parse_files(struct conf *c)
{
	const json_t	*f = json_object_get(c->root, "files");

	c->files.max_file = conf_amount(f, "maxFileMiB",
	    CONF_FILE_MIB_DEFAULT, 1024.0 * 1024);
	c->files.max_message = conf_amount(f, "maxMessageMiB",
	    CONF_FILE_MIB_DEFAULT, 1024.0 * 1024);
	c->files.temp_max_age_ms = conf_amount(f, "tempMaxAgeHours",
	    CONF_TEMP_HOURS_DEFAULT, 3600.0 * 1000);
}

struct conf *
conf_parse(json_t *root, char *err, size_t len)
{
	struct conf	*c;
	const json_t	*g;

	if (!json_is_object(root)) {
		(void)util_err(err, len, "the config is not an object");
		return (NULL);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		(void)util_err(err, len, "out of memory");
		return (NULL);
	}
	c->root = json_incref(root);
	c->providers = json_object_get(root, "providers");
	c->telemetry = json_object_get(root, "telemetry");
	c->notify_hooks = jx_bool(json_object_get(root, "hooks"),
	    "notifyOnAutoReload", 0);
	g = json_object_get(json_object_get(root, "scheduler"), "graceSeconds");
	c->sched_grace_ms = json_is_number(g) ? (long long)(json_number_value(g) *
	    1000) : CONF_SCHED_GRACE_S * 1000LL;
	conf_parse_files(c);
	if (json_object_get(root, "permissions") != NULL &&
	    (c->policy = policy_config_parse(json_object_get(root,
	    "permissions"), getenv("HOME"), err, len)) == NULL) {
		conf_free(c);
		return (NULL);
	}
	if (conf_parse_channels(c) == -1 || conf_parse_bots(c) == -1 ||
	    conf_parse_defaults(c) == -1 ||
	    (c->state_dir = strdup(jx_str(root, "stateDir") != NULL ?
	    jx_str(root, "stateDir") : ".")) == NULL ||
	    (c->backend = strdup(jx_str(json_object_get(root, "session"),
	    "backend") != NULL ? jx_str(json_object_get(root, "session"),
	    "backend") : "copilot")) == NULL) {
		conf_free(c);
		(void)util_err(err, len, "out of memory");
		return (NULL);
	}
	return (c);
}

void
conf_free(struct conf *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nchans; i++) {
		free(c->chans[i].id);
		free(c->chans[i].platform);
		free(c->chans[i].served_by);
		free(c->chans[i].name);
		free(c->chans[i].cwd);
		free(c->chans[i].model);
		free(c->chans[i].agent);
		free(c->chans[i].timezone);
	}
	for (i = 0; i < c->nbots; i++) {
		free(c->bots[i].key);
		free(c->bots[i].model);
		free(c->bots[i].agent);
	}
	free(c->chans);
	free(c->bots);
	free(c->defaults.model);
	free(c->defaults.agent);
	free(c->defaults.timezone);
	free(c->state_dir);
	free(c->backend);
	policy_config_free(c->policy);
	json_decref(c->root);
	free(c);
}

void
conf_set(struct conf *c)
{
	conf_free(conf_now);
	conf_now = c;
}

const struct conf *
conf_get(void)
{
	return (conf_now);
}

static const struct conf_channel *
conf_find_channel(const struct conf *c, const char *id, const char *platform)
{
	struct conf_channel	key = { .id = (char *)id,
				    .platform = (char *)platform };

	if (c->nchans == 0)
		return (NULL);
	return (bsearch(&key, c->chans, c->nchans, sizeof(*c->chans),
	    conf_chan_cmp));
}

static const struct conf_bot *
conf_find_bot(const struct conf *c, const char *key)
{
	struct conf_bot	k = { .key = (char *)key };

	if (c->nbots == 0)
		return (NULL);
	return (bsearch(&k, c->bots, c->nbots, sizeof(*c->bots), conf_bot_cmp));
}

/*
 * A model written "<provider>:<model>" selects that entry of "providers"
 * straight from the config.
 */
static void
conf_model(const struct conf *c, const char *model, struct chan_conf *out)
{
	const char	*colon = strchr(model, ':');
	const json_t	*prov;
	const char	*k;

	out->model = model;
	out->provider = NULL;
	out->provider_name = NULL;
	if (colon == NULL)
		return;
	json_object_foreach((json_t *)c->providers, k, prov)
		if (strlen(k) == (size_t)(colon - model) &&
		    strncmp(k, model, (size_t)(colon - model)) == 0) {
			out->provider = prov;
			out->provider_name = k;
			out->model = colon + 1;
			return;
		}
}

/* The first set of channel, default, built-in for a tri-state setting. */
static void
conf_pick(int ch, int def, int builtin, int *v, enum conf_src *src)
{
	if (ch != CONF_UNSET) {
		*v = ch;
		*src = CONF_SRC_CHANNEL;
	} else if (def != CONF_UNSET) {
		*v = def;
		*src = CONF_SRC_DEFAULTS;
	} else {
		*v = builtin;
		*src = CONF_SRC_BUILTIN;
	}
}

/* agent: channel, then the bot's, then defaults (null is a value). */
static void
conf_pick_agent(const struct conf *c, const struct conf_channel *ch,
    const struct conf_bot *b, struct chan_conf *out)
{
	if (ch != NULL && ch->has_agent) {
		out->agent = ch->agent;
		out->agent_src = CONF_SRC_CHANNEL;
	} else if (b != NULL && b->has_agent) {
		out->agent = b->agent;
		out->agent_src = CONF_SRC_BOT;
	} else {
		out->agent = c->defaults.agent;
		out->agent_src = c->defaults.has_agent ? CONF_SRC_DEFAULTS :
		    CONF_SRC_BUILTIN;
	}
}

/* model: channel, then the bot's, then defaults, then the built-in. */
static void
conf_pick_model(const struct conf *c, const struct conf_channel *ch,
    const struct conf_bot *b, struct chan_conf *out)
{
	const char	*m;

	if (ch != NULL && ch->model != NULL) {
		m = ch->model;
		out->model_src = CONF_SRC_CHANNEL;
	} else if (b != NULL && b->model != NULL) {
		m = b->model;
		out->model_src = CONF_SRC_BOT;
	} else if (c->defaults.model != NULL) {
		m = c->defaults.model;
		out->model_src = CONF_SRC_DEFAULTS;
	} else {
		m = CONF_DEFAULT_MODEL;
		out->model_src = CONF_SRC_BUILTIN;
	}
	conf_model(c, m, out);
}

/* The channel's stored preferences (/model, /verbose, /yolo, ...). */
static void
conf_prefs(const struct conf *c, const char *channel, struct chan_conf *out)
{
	const struct store_prefs	*p = store_prefs(channel);
	const json_t			*prov;

	if (p->model != NULL) {
		out->model = p->model;
		out->provider = NULL;
		out->provider_name = NULL;
		if (p->provider != NULL && (prov = json_object_get(c->providers,
		    p->provider)) != NULL) {
			out->provider = prov;
			out->provider_name = p->provider;
		}
		out->model_src = CONF_SRC_PREF;
	}
	if (p->agent != NULL) {
		/* "": /agent without a name, no agent over the config's. */
		out->agent = p->agent[0] != '\0' ? p->agent : NULL;
		out->agent_src = CONF_SRC_PREF;
	}
	if (p->verbose != -1) {
		out->verbose = p->verbose;
		out->verbose_src = CONF_SRC_PREF;
	}
	if (p->trigger_mode != NULL) {
		out->trigger_all = strcmp(p->trigger_mode, "all") == 0;
		out->trigger_src = CONF_SRC_PREF;
	}
	if (p->threaded_replies != -1 && !out->dm) {
		out->threaded = p->threaded_replies;
		out->threaded_src = CONF_SRC_PREF;
	}
	if (p->permission_mode != NULL) {
		out->autopilot = strcmp(p->permission_mode, "autopilot") == 0;
		out->autopilot_src = CONF_SRC_PREF;
	}
	if (p->reasoning_effort != NULL) {
		out->effort = p->reasoning_effort;
		out->effort_src = CONF_SRC_PREF;
	}
	out->session_mode = p->session_mode;
	out->disabled_skills = p->disabled_skills;
}

int
conf_channel(const char *channel, const char *bot, int is_dm,
    struct chan_conf *out)
{
	const struct conf		*c = conf_now;
	const struct conf_channel	*ch;
	const char			*colon = strchr(bot, ':');
	char				 platform[64];
	size_t				 n;

	memset(out, 0, sizeof(*out));
	if (c == NULL || colon == NULL ||
	    (n = (size_t)(colon - bot)) >= sizeof(platform))
		return (-1);
	memcpy(platform, bot, n);
	platform[n] = '\0';
	if ((ch = conf_find_channel(c, channel, platform)) != NULL) {
		if (strcmp(ch->served_by, bot) != 0)
			return (-1);
		out->name = ch->name;
		out->configured = 1;
		out->cwd = ch->cwd;
		conf_pick(ch->trigger_all, c->defaults.trigger_all, 0,
		    &out->trigger_all, &out->trigger_src);
		conf_pick(ch->threaded, c->defaults.threaded, 1,
		    &out->threaded, &out->threaded_src);
	} else if (is_dm) {
		/* A DM: always answered, never threaded, in the bot's workspace. */
		snprintf(out->dmdir, sizeof(out->dmdir), "%s/workspaces/%s",
		    c->state_dir, colon + 1);
		if (util_mkdir_p(out->dmdir, 0700) == -1)
			log_warn("cannot create %s", out->dmdir);
		out->cwd = out->dmdir;
		out->dm = 1;
		out->trigger_all = 1;
		out->threaded = 0;
		out->trigger_src = out->threaded_src = CONF_SRC_BUILTIN;
	} else
		return (-1);
	conf_pick(ch != NULL ? ch->verbose : CONF_UNSET, c->defaults.verbose,
	    0, &out->verbose, &out->verbose_src);
	/* Not upstream's: a DM's threads follow the defaults too. */
	conf_pick(ch != NULL ? ch->thread_sessions : CONF_UNSET,
	    c->defaults.thread_sessions, 0, &out->thread_sessions,
	    &out->thread_sessions_src);
	/* permissionMode has no per-channel config key (a preference only). */
	conf_pick(CONF_UNSET, c->defaults.autopilot, 0, &out->autopilot,
	    &out->autopilot_src);
	out->timezone = ch != NULL && ch->timezone != NULL ? ch->timezone :
	    c->defaults.timezone != NULL ? c->defaults.timezone : "UTC";
	conf_pick_agent(c, ch, conf_find_bot(c, bot), out);
	conf_pick_model(c, ch, conf_find_bot(c, bot), out);
	out->admin = conf_find_bot(c, bot) != NULL && conf_find_bot(c, bot)->admin;
	conf_prefs(c, channel, out);
	return (0);
}
