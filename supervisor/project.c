/*
 * project: what each child is told of the config, built in one place from
 * the loaded config (as relayd's config_set*): a worker gets its bot's
 * slice with its tokens, sessiond the whole document without any token.
 *
 * Which bot serves a static channel is decided here and only here: its
 * "bot", or, when that is absent or falsy (upstream reads `ch.bot || first
 * bot`, so "bot": "" is no bot), the platform's first bot in sorted order
 * ("default" for the botToken form).  Sessiond reads the answer from each
 * channel's "servedBy"; a worker gets only the channels it serves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "supervisor.h"

/* Set key to val (stolen); remembers any failure in *bad. */
static void
project_set(json_t *obj, const char *key, json_t *val, int *bad)
{
	if (val == NULL || json_object_set_new(obj, key, val) == -1)
		*bad = 1;
}

static json_t *
project_copy_or_null(json_t *v)
{
	return (v != NULL ? json_deep_copy(v) : json_null());
}

/* The "platform:name" of the bot that serves ch. */
static void
project_served_by(const struct cfg *c, const struct cfg_chan *ch, char *buf,
    size_t len)
{
	const char	*bot = ch->bot;
	size_t		 i;

	for (i = 0; bot == NULL && i < c->nbots; i++)
		if (strcmp(c->bots[i].platform, ch->platform) == 0)
			bot = c->bots[i].name;
	snprintf(buf, len, "%s:%s", ch->platform, bot != NULL ? bot :
	    "default");
}

/* Platform admins then bot admins, without repeats. */
static json_t *
project_admins(json_t *plat, json_t *bot)
{
	json_t	*out, *lists[2], *u, *w;
	size_t	 i, j, k;
	int	 dup;

	if ((out = json_array()) == NULL)
		return (NULL);
	lists[0] = plat;
	lists[1] = bot;
	for (i = 0; i < 2; i++)
		json_array_foreach(lists[i], j, u) {
			dup = 0;
			json_array_foreach(out, k, w)
				dup |= json_equal(w, u);
			if (!dup && json_array_append(out, u) == -1) {
				json_decref(out);
				return (NULL);
			}
		}
	return (out);
}

/* Copies of the channels of n served by bot key, appended to out. */
static int
project_chans(const struct cfg *c, const struct cfg_chan *v, size_t n,
    const char *key, json_t *out)
{
	char	by[256];
	size_t	i;

	for (i = 0; i < n; i++) {
		project_served_by(c, &v[i], by, sizeof(by));
		if (strcmp(by, key) != 0)
			continue;
		if (json_array_append_new(out, json_deep_copy(v[i].obj)) == -1)
			return (-1);
	}
	return (0);
}

/* The worker of bot key: its connection, access and channels. */
json_t *
project_worker(const struct cfg *c, const char *key)
{
	const struct cfg_bot		*b;
	const struct cfg_platform	*p;
	json_t				*w, *chans;
	int				 bad = 0, slack;

	if ((b = cfg_find_bot(c, key)) == NULL || (w = json_object()) == NULL)
		return (NULL);
	p = &c->platforms[b->plat];
	slack = strcmp(b->platform, "slack") == 0;
	project_set(w, "platform", json_string(b->platform), &bad);
	project_set(w, "bot", json_string(b->name), &bad);
	project_set(w, "key", json_string(b->key), &bad);
	if (slack)
		project_set(w, "apiUrl", json_string(p->api_url), &bad);
	else
		project_set(w, "url", json_string(b->url), &bad);
	project_set(w, "token", json_string(b->token), &bad);
	if (slack)
		project_set(w, "appToken", json_string(b->app_token), &bad);
	project_set(w, "admin", json_boolean(b->admin), &bad);
	project_set(w, "access", project_copy_or_null(p->access), &bad);
	project_set(w, "botAccess", project_copy_or_null(b->access), &bad);
	project_set(w, "admins", project_admins(p->admins, b->admins), &bad);
	project_set(w, "channels", chans = json_array(), &bad);
	if (!bad && (project_chans(c, c->chans, c->nchans, key, chans) == -1 ||
	    project_chans(c, c->grace_chans, c->ngrace, key, chans) == -1))
		bad = 1;
	project_set(w, "reconnectTimeoutMs",
	    json_integer(c->reconnect_timeout_ms), &bad);
	project_set(w, "logLevel", json_string(log_level_name(c->log_level)),
	    &bad);
	project_set(w, "logDir", c->log_dir != NULL ? json_string(c->log_dir) :
	    json_null(), &bad);
	/*
	 * Each worker exports its own spans.  A telemetry change is
	 * telemetryReloadNeeded, never botReloadNeeded (bot reasons come from
	 * tokens and URLs only), and the worker's config hash is only
	 * reported, never compared, so it may change with it.
	 */
	project_set(w, "telemetry", project_copy_or_null(c->telemetry), &bad);
	if (bad) {
		json_decref(w);
		return (NULL);
	}
	return (w);
}

/* Each channel object of arr (the copies of v[0..n)) says who serves it. */
static int
project_served(const struct cfg *c, const struct cfg_chan *v, size_t n,
    json_t *arr, size_t off)
{
	char	by[256];
	size_t	i;

	for (i = 0; i < n; i++) {
		project_served_by(c, &v[i], by, sizeof(by));
		if (json_object_set_new(json_array_get(arr, off + i),
		    "servedBy", json_string(by)) == -1)
			return (-1);
	}
	return (0);
}

/* Remove every platform and bot token from a copy of the root. */
static void
project_strip_tokens(json_t *root)
{
	json_t		*p, *bot;
	const char	*pk, *bk;

	json_object_foreach(json_object_get(root, "platforms"), pk, p) {
		json_object_del(p, "botToken");
		json_object_foreach(json_object_get(p, "bots"), bk, bot) {
			json_object_del(bot, "token");
			json_object_del(bot, "appToken");
		}
	}
}

/*
 * sessiond: the whole document without platform tokens (sessiond never
 * holds them), paths as resolved (so it needs no ~ expansion of its own),
 * with the channels still in their grace period appended, since they keep
 * being served.
 */
json_t *
project_sessiond(const struct cfg *c)
{
	json_t	*root, *chans;
	size_t	 i;

	if ((root = json_deep_copy(c->root)) == NULL)
		return (NULL);
	project_strip_tokens(root);
	if (json_object_set_new(root, "stateDir",
	    json_string(c->state_dir)) == -1 ||
	    json_object_set_new(root, "logDir", c->log_dir != NULL ?
	    json_string(c->log_dir) : json_null()) == -1)
		goto fail;
	/* Validation made "channels" an array: c->chans are its entries. */
	chans = json_object_get(root, "channels");
	for (i = 0; i < c->ngrace; i++)
		if (json_array_append_new(chans,
		    json_deep_copy(c->grace_chans[i].obj)) == -1)
			goto fail;
	if (json_array_size(chans) != c->nchans + c->ngrace ||
	    project_served(c, c->chans, c->nchans, chans, 0) == -1 ||
	    project_served(c, c->grace_chans, c->ngrace, chans,
	    c->nchans) == -1)
		goto fail;
	return (root);
fail:
	json_decref(root);
	return (NULL);
}
