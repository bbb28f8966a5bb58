/*
 * admin: commands that change the bridge itself, from chat (relayed by
 * sessiond as ADMIN_REQUEST) or from ctl.
 *
 * Authorisation happens here, before anything else: a user who is not in
 * the admins of the bot concerned (for a platform, of every bot of it)
 * gets one line back and nothing else happens: no config read, no spawn,
 * nothing logged above info.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jx.h"
#include "common/log.h"
#include "supervisor.h"

#define ADMIN_DENIED	"⛔ Only bridge admins can reload bots."

/* A pending chat request: where its answers go. */
struct admin_ctx {
	struct sup	*sup;
	json_int_t	 ref;		/* sessiond's, echoed as it came */
};

static int
admin_listed(json_t *list, const char *user, const char *user_id)
{
	json_t		*v;
	const char	*s;
	size_t		 i;

	json_array_foreach(list, i, v) {
		if ((s = json_string_value(v)) == NULL)
			continue;
		if ((user != NULL && strcasecmp(s, user) == 0) ||
		    (user_id != NULL && strcasecmp(s, user_id) == 0))
			return (1);
	}
	return (0);
}

/*
 * Is user an admin of bot key ("platform:name"), at either level?  The
 * platform's admins count even for a bot no longer in the config.
 */
static int
admin_is_admin(struct sup *sup, const char *key, const char *user,
    const char *user_id)
{
	const struct cfg_platform	*p;
	const struct cfg_bot		*b;
	const char			*colon = strchr(key, ':');
	char				 plat[64];
	size_t				 n;

	if (colon == NULL || (n = (size_t)(colon - key)) >= sizeof(plat))
		return (0);
	memcpy(plat, key, n);
	plat[n] = '\0';
	if ((p = cfg_find_platform(sup->cfg, plat)) == NULL)
		return (0);
	b = cfg_find_bot(sup->cfg, key);
	return (admin_listed(p->admins, user, user_id) ||
	    (b != NULL && admin_listed(b->admins, user, user_id)));
}

/*
 * Is user an admin of every bot of platform (a platform's admins are)?
 * For a platform without bots, its own admins.  -1: no such platform.
 */
static int
admin_is_platform_admin(struct sup *sup, const char *platform,
    const char *user, const char *user_id)
{
	const struct cfg_platform	*p;
	struct bot			*b;
	int				 n = 0;

	TAILQ_FOREACH(b, &sup->bots, entry) {
		if (!bot_of_platform(b, platform))
			continue;
		if (!admin_is_admin(sup, b->key, user, user_id))
			return (0);
		n++;
	}
	if (n > 0)
		return (1);
	if ((p = cfg_find_platform(sup->cfg, platform)) == NULL)
		return (-1);
	return (admin_listed(p->admins, user, user_id));
}

/*
 * Resolve "a" or "mattermost:a" among the bots of the running config and
 * the bots still running.  Returns the key, or NULL with why filled in.
 */
static const char *
admin_resolve(struct sup *sup, const char *name, char *why, size_t len)
{
	struct bot	*b;
	const char	*found = NULL, *colon;
	char		 list[1024] = "";
	int		 n = 0;

	TAILQ_FOREACH(b, &sup->bots, entry) {
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%s", list[0] ? ", " : "", b->key);
		colon = strchr(b->key, ':');
		if (strcmp(b->key, name) == 0 ||
		    (strchr(name, ':') == NULL && strcmp(colon + 1, name) == 0)) {
			found = b->key;
			n++;
		}
	}
	if (n == 1)
		return (found);
	if (n == 0)
		snprintf(why, len, "❌ No bot named \"%s\". Bots: %s", name,
		    list[0] ? list : "none");
	else {
		list[0] = '\0';
		TAILQ_FOREACH(b, &sup->bots, entry)
			if (strcmp(strchr(b->key, ':') + 1, name) == 0)
				snprintf(list + strlen(list), sizeof(list) -
				    strlen(list), "%s`%s`", list[0] ? ", " : "",
				    b->key);
		snprintf(why, len, "⚠️ \"%s\" is ambiguous: use one of %s", name,
		    list);
	}
	return (NULL);
}

/* Re-read the config first: -1, with the error replied, if it is refused. */
static int
admin_reread(struct sup *sup, const char *by, sup_reply_fn reply, void *arg)
{
	char	*text = NULL;

	if (reload_config(sup, by, &text) == -1) {
		reply(arg, 0, text != NULL ? text : "❌ Config reload failed");
		free(text);
		return (-1);
	}
	free(text);
	return (0);
}

/*
 * Reload one bot: re-read and validate the config (an invalid file changes
 * nothing), then swap the bot's worker.  reply gets the outcome; notice,
 * if not NULL, gets "🔄 Reloading bot …" first.  Used by chat and ctl.
 */
void
admin_reload_bot(struct sup *sup, const char *name, const char *by,
    sup_reply_fn notice, sup_reply_fn reply, void *arg)
{
	const char	*key;
	struct bot	*b;
	char		 why[1200];

	if (admin_reread(sup, by, reply, arg) == -1)
		return;
	/* Resolved after the re-read, so a bot just added is found. */
	if ((key = admin_resolve(sup, name, why, sizeof(why))) == NULL) {
		reply(arg, 0, why);
		return;
	}
	b = bot_find(sup, key);
	if (b->swap == NULL && notice != NULL) {
		snprintf(why, sizeof(why), "🔄 Reloading bot %s …", key);
		notice(arg, 1, why);
	}
	(void)swap_start(b, by, "reload bot", reply, arg);
}

/*
 * Reload every bot of a platform: re-read and validate the config (an
 * invalid file changes nothing), then swap its bots a few at a time
 * (fleet.c).  reply gets the one summary; notice, if not NULL, gets
 * "🔄 Reloading platform …" first.  Used by chat and ctl.
 */
void
admin_reload_platform(struct sup *sup, const char *name, const char *by,
    sup_reply_fn notice, sup_reply_fn reply, void *arg)
{
	if (admin_reread(sup, by, reply, arg) == 0)
		fleet_start(sup, name, by, notice, reply, arg);
}

static void
admin_send(struct sup *sup, json_int_t ref, int ok, const char *text,
    int final)
{
	if (sup->sessiond == NULL || sup->sessiond->chan == NULL) {
		log_warnx("admin: no sessiond to answer request %lld: %s",
		    (long long)ref, text);
		return;
	}
	(void)ipc_send(sup->sessiond->chan, IPC_ADMIN_RESULT, json_pack(
	    "{s:I,s:b,s:s,s:b}", "ref", ref, "ok", ok, "text", text, "final",
	    final));
}

static void
admin_chat_notice(void *arg, int ok, const char *text)
{
	struct admin_ctx	*ctx = arg;

	admin_send(ctx->sup, ctx->ref, ok, text, 0);
}

static void
admin_chat_reply(void *arg, int ok, const char *text)
{
	struct admin_ctx	*ctx = arg;

	admin_send(ctx->sup, ctx->ref, ok, text, 1);
	free(ctx);
}

/*
 * May user run cmd?  target gets what was judged, for the log.  A platform
 * or bot named that exists is judged; otherwise the bot asked through,
 * whose admins then hear what is wrong with the name.
 */
static int
admin_allowed(struct sup *sup, const char *cmd, const char *arg,
    const char *user, const char *uid, const char *via, char *target,
    size_t len)
{
	const char	*key;
	char		 why[1200];
	int		 ok;

	if (strcmp(cmd, "reload platform") == 0 && *arg != '\0' &&
	    (ok = admin_is_platform_admin(sup, arg, user, uid)) != -1) {
		snprintf(target, len, "platform %s", arg);
		return (ok);
	}
	key = via;
	if (strcmp(cmd, "reload bot") == 0 && *arg != '\0' &&
	    (key = admin_resolve(sup, arg, why, sizeof(why))) == NULL)
		key = via;
	snprintf(target, len, "%s", key);
	return (admin_is_admin(sup, key, user, uid));
}

/* ADMIN_REQUEST from sessiond: /reload config, bot or platform in a chat. */
void
admin_request(struct sup *sup, struct ipc_msg *m)
{
	json_int_t	 ref = jx_int(m->body, "ref", 0);
	const char	*cmd = jx_stre(m->body, "cmd");
	const char	*arg = jx_stre(m->body, "arg");
	const char	*user = jx_str(m->body, "user");
	const char	*uid = jx_str(m->body, "userId");
	const char	*via = jx_stre(m->body, "bot");
	struct admin_ctx *ctx;
	char		 by[160], target[160];
	int		 platform = strcmp(cmd, "reload platform") == 0;

	if (!admin_allowed(sup, cmd, arg, user, uid, via, target,
	    sizeof(target))) {
		log_info("admin: %s (%s) is not an admin of %s: refused \"%s %s\"",
		    user != NULL ? user : "?", uid != NULL ? uid : "?", target,
		    cmd, arg);
		admin_send(sup, ref, 0, ADMIN_DENIED, 1);
		return;
	}
	snprintf(by, sizeof(by), "@%s", user != NULL ? user : "?");
	if (strcmp(cmd, "reload config") == 0) {
		char	*text = NULL;

		admin_send(sup, ref, 1, "🔄 Reloading config...", 0);
		(void)reload_config(sup, by, &text);
		admin_send(sup, ref, text != NULL, text != NULL ? text :
		    "❌ Config reload failed: out of memory", 1);
		free(text);
		return;
	}
	if ((!platform && strcmp(cmd, "reload bot") != 0) || *arg == '\0') {
		admin_send(sup, ref, 0, platform ? "Usage: `/reload platform "
		    "NAME`" : "Usage: `/reload bot NAME`", 1);
		return;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		admin_send(sup, ref, 0, "❌ out of memory", 1);
		return;
	}
	ctx->sup = sup;
	ctx->ref = ref;
	if (platform)
		admin_reload_platform(sup, arg, by, admin_chat_notice,
		    admin_chat_reply, ctx);
	else
		admin_reload_bot(sup, arg, by, admin_chat_notice,
		    admin_chat_reply, ctx);
}
