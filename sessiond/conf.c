/*
 * conf: the effective config of a channel, read from the live config on
 * every message, so a reload applies to the next message without touching
 * any session (upstream §1.11 "live-read semantics").
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "sessiond.h"

#define CONF_DEFAULT_MODEL	"claude-sonnet-4.6"

/*
 * The bot that serves a static channel is decided by the supervisor, which
 * says it in the channel's "servedBy" ("platform:name").
 */
static int
conf_channel_is_ours(json_t *ch, const char *platform, const char *bot)
{
	const char	*by = json_string_value(json_object_get(ch, "servedBy"));
	size_t		 n = strlen(platform);

	return (by != NULL && strncmp(by, platform, n) == 0 && by[n] == ':' &&
	    strcmp(by + n + 1, bot) == 0);
}

static int
conf_streq(json_t *obj, const char *key, const char *want)
{
	const char	*v = json_string_value(json_object_get(obj, key));

	return (v != NULL && strcmp(v, want) == 0);
}

static json_t *
conf_find_channel(const char *id, const char *platform)
{
	json_t	*ch;
	size_t	 i;

	json_array_foreach(json_object_get(sd->config, "channels"), i, ch)
		if (conf_streq(ch, "id", id) && conf_streq(ch, "platform", platform))
			return (ch);
	return (NULL);
}

/* channel's key if set, else defaults' key. */
static json_t *
conf_value(json_t *ch, const char *key)
{
	json_t	*v = json_object_get(ch, key);

	if (v == NULL || json_is_null(v))
		v = json_object_get(json_object_get(sd->config, "defaults"), key);
	return (v);
}

static int
conf_bool(json_t *ch, const char *key, int dflt)
{
	json_t	*v = conf_value(ch, key);

	return (json_is_boolean(v) ? json_is_true(v) : dflt);
}

/*
 * A model written "<provider>:<model>" selects that entry of "providers"
 * straight from the config (upstream needs a /model command for it).
 */
static void
conf_model(const char *model, struct chan_conf *out)
{
	const char	*colon = strchr(model, ':');
	json_t		*prov;
	char		 name[128];
	size_t		 n;

	out->model = model;
	out->provider = NULL;
	if (colon == NULL || (n = (size_t)(colon - model)) >= sizeof(name))
		return;
	memcpy(name, model, n);
	name[n] = '\0';
	prov = json_object_get(json_object_get(sd->config, "providers"), name);
	if (prov == NULL)
		return;
	out->provider = prov;
	out->model = colon + 1;
}

/*
 * Fill out for channel as seen by bot ("platform:name").  Returns -1 when
 * the bot must not answer there: a configured channel of another bot, or an
 * unconfigured channel that is not a DM.
 */
int
chan_conf_get(const char *channel, const char *bot, int is_dm,
    struct chan_conf *out)
{
	static char	 dmdir[4096];
	const char	*colon = strchr(bot, ':'), *sdir, *m;
	char		 platform[64];
	json_t		*ch, *v;
	size_t		 n;

	if (colon == NULL || (n = (size_t)(colon - bot)) >= sizeof(platform))
		return (-1);
	memcpy(platform, bot, n);
	platform[n] = '\0';
	memset(out, 0, sizeof(*out));
	if ((ch = conf_find_channel(channel, platform)) != NULL) {
		if (!conf_channel_is_ours(ch, platform, colon + 1))
			return (-1);
		out->cwd = json_string_value(json_object_get(ch, "workingDirectory"));
		out->trigger_all = json_is_string(json_object_get(ch,
		    "triggerMode")) ? conf_streq(ch, "triggerMode", "all") :
		    conf_streq(json_object_get(sd->config, "defaults"),
		    "triggerMode", "all");
		out->threaded = conf_bool(ch, "threadedReplies", 1);
	} else if (is_dm) {
		/* A DM: always answered, never threaded, in the bot's workspace. */
		sdir = json_string_value(json_object_get(sd->config, "stateDir"));
		snprintf(dmdir, sizeof(dmdir), "%s/workspaces/%s",
		    sdir != NULL ? sdir : ".", colon + 1);
		if (util_mkdir_p(dmdir, 0700) == -1)
			log_warn("cannot create %s", dmdir);
		out->cwd = dmdir;
		out->trigger_all = 1;
		out->threaded = 0;
	} else
		return (-1);
	out->verbose = conf_bool(ch, "verbose", 0);
	/* agent: channel, then the bot's, then defaults (null is a value). */
	if ((v = json_object_get(ch, "agent")) == NULL)
		v = json_object_get(json_object_get(json_object_get(
		    json_object_get(json_object_get(sd->config, "platforms"),
		    platform), "bots"), colon + 1), "agent");
	if (v == NULL)
		v = json_object_get(json_object_get(sd->config, "defaults"),
		    "agent");
	out->agent = json_string_value(v);
	/* model: channel, then the bot's, then defaults. */
	m = json_string_value(json_object_get(ch, "model"));
	if (m == NULL)
		m = json_string_value(json_object_get(json_object_get(
		    json_object_get(json_object_get(json_object_get(sd->config,
		    "platforms"), platform), "bots"), colon + 1), "model"));
	if (m == NULL)
		m = json_string_value(conf_value(NULL, "model"));
	conf_model(m != NULL ? m : CONF_DEFAULT_MODEL, out);
	return (0);
}
