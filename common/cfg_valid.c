/*
 * cfg_valid: the validation table.
 *
 * Validation follows upstream's validateAndNormalize() check by check, in
 * the same order and with the same texts, so an operator who moves a file
 * from the Node bridge gets the same first complaint.  Upstream tests
 * JavaScript truthiness ("!p.url") in some places and presence
 * ("!== undefined") in others; cfg_js_truthy() and a NULL test reproduce
 * each.  Where upstream would crash or silently accept a value no part of
 * the bridge can use (a numeric token, a string "bots"), we reject it with
 * a text in the same style.
 *
 * Access and admin lists are normalised in place (trimmed, "@" removed),
 * as upstream does: the document is not a loaded cfg yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_js.h"
#include "cfg_valid.h"
#include "config.h"
#include "policy.h"
#include "pollwatch.h"
#include "tz.h"
#include "util.h"

/* ------------------------------------------------------------ user lists */

/* Upstream's u.trim().replace(/^@/, ''), as a new string. */
static json_t *
cfg_user_norm(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s, *end;
	size_t			 n;

	while ((n = cfg_js_space(p)) > 0)
		p += n;
	end = p;
	while (*p != '\0') {
		if ((n = cfg_js_space(p)) > 0) {
			p += n;
			continue;
		}
		p++;
		end = p;
	}
	p = (const unsigned char *)s;
	while ((n = cfg_js_space(p)) > 0)
		p += n;
	if (p < end && *p == '@')
		p++;
	return (json_stringn((const char *)p, (size_t)(end - p)));
}

static int
cfg_user_empty(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n;

	while ((n = cfg_js_space(p)) > 0)
		p += n;
	return (*p == '\0');
}

/*
 * Check a user list and normalise it in place (the document is not yet a
 * loaded cfg).  Returns 0, 1 for a bad entry, -1 when out of memory.
 */
static int
cfg_userlist(json_t *arr)
{
	json_t	*u, *nu;
	size_t	 i;

	json_array_foreach(arr, i, u) {
		if (!json_is_string(u) || cfg_user_empty(json_string_value(u)))
			return (1);
	}
	json_array_foreach(arr, i, u) {
		if ((nu = cfg_user_norm(json_string_value(u))) == NULL)
			return (-1);
		if (json_array_set_new(arr, i, nu) == -1)
			return (-1);
	}
	return (0);
}


/* ------------------------------------------------------- field predicates */

struct cfg_field {
	const char	*name;
	int		(*ok)(json_t *);
	const char	*msg;
};

static int
cfg_ok_string(json_t *v)
{
	return (json_is_string(v));
}

static int
cfg_ok_nonempty(json_t *v)
{
	return (json_is_string(v) && json_string_length(v) > 0);
}

static int
cfg_ok_bool(json_t *v)
{
	return (json_is_boolean(v));
}

static int
cfg_ok_posnum(json_t *v)
{
	return (json_is_number(v) && json_number_value(v) > 0);
}

static int
cfg_ok_nonnegnum(json_t *v)
{
	return (json_is_number(v) && json_number_value(v) >= 0);
}

static int
cfg_ok_posint(json_t *v)
{
	return (cfg_js_is_int(v) && json_number_value(v) >= 1);
}

static int
cfg_ok_nonnegint(json_t *v)
{
	return (cfg_js_is_int(v) && json_number_value(v) >= 0);
}

static int
cfg_ok_logsize(json_t *v)
{
	return (json_is_number(v) && json_number_value(v) >= 1024);
}

static int
cfg_ok_tier(json_t *v)
{
	double	d;

	if (!cfg_js_is_int(v))
		return (0);
	d = json_number_value(v);
	return (d == 0 || d == 1 || d == 2);
}

static int
cfg_ok_millis(json_t *v)
{
	return (cfg_js_is_int(v) && json_number_value(v) >= 1 &&
	    json_number_value(v) <= CFG_MILLIS_MAX);
}

static int
cfg_ok_exporter(json_t *v)
{
	static const char *const set[] = { "otlp-http", "file", NULL };

	return (cfg_js_str_in(v, set));
}

static int
cfg_ok_wireapi(json_t *v)
{
	static const char *const set[] = { "completions", "responses", NULL };

	return (cfg_js_str_in(v, set));
}

static int
cfg_ok_provtype(json_t *v)
{
	static const char *const set[] = { "openai", "azure", "anthropic",
	    NULL };

	return (cfg_js_str_in(v, set));
}

static int
cfg_ok_backend(json_t *v)
{
	static const char *const set[] = { "copilot", "echo", NULL };

	return (cfg_js_str_in(v, set));
}

static int
cfg_ok_object(json_t *v)
{
	return (json_is_object(v));
}

/* Check each present field of obj; upstream tests "!== undefined". */
static int
cfg_fields(struct cfg_err *e, json_t *obj, const struct cfg_field *f, size_t n)
{
	json_t	*v;
	size_t	 i;

	for (i = 0; i < n; i++) {
		v = json_object_get(obj, f[i].name);
		if (v != NULL && !f[i].ok(v))
			return (cfg_fail(e, "%s", f[i].msg));
	}
	return (0);
}

/* ------------------------------------------------------ platform checks */

static int
cfg_v_userlist(struct cfg_err *e, json_t *arr, const char *p,
    const char *label, const char *what)
{
	switch (cfg_userlist(arr)) {
	case 0:
		return (0);
	case 1:
		return (cfg_fail(e, "%s:%s %s", p, label, what));
	default:
		return (cfg_fail(e, CFG_ENOMEM));
	}
}

static int
cfg_v_access(struct cfg_err *e, const char *p, const char *label, json_t *a)
{
	static const char *const modes[] = { "allowlist", "blocklist", "open",
	    NULL };
	json_t	*users;

	if (a == NULL)
		return (0);
	/* typeof [] is "object" upstream: an array fails on its mode. */
	if (!json_is_object(a) && !json_is_array(a))
		return (cfg_fail(e, "%s:%s access must be an object", p,
		    label));
	if (!cfg_js_str_in(json_object_get(a, "mode"), modes))
		return (cfg_fail(e, "%s:%s access.mode must be one of: "
		    "allowlist, blocklist, open", p, label));
	if ((users = json_object_get(a, "users")) == NULL)
		return (0);
	if (!json_is_array(users))
		return (cfg_fail(e, "%s:%s access.users must be an array", p,
		    label));
	return (cfg_v_userlist(e, users, p, label,
	    "access.users entries must be non-empty strings"));
}

/* New: who may run admin commands; normalised like access.users. */
static int
cfg_v_admins(struct cfg_err *e, const char *p, const char *label, json_t *a)
{
	if (a == NULL)
		return (0);
	if (!json_is_array(a))
		return (cfg_fail(e, "%s:%s admins must be an array of "
		    "non-empty strings", p, label));
	return (cfg_v_userlist(e, a, p, label,
	    "admins must be an array of non-empty strings"));
}

static int
cfg_v_bot(struct cfg_err *e, const char *p, const char *b, json_t *bot,
    int slack)
{
	json_t	*tok = json_object_get(bot, "token");
	json_t	*app = json_object_get(bot, "appToken");

	if (!cfg_js_truthy(tok))
		return (cfg_fail(e, "Platform \"%s\" bot \"%s\" missing "
		    "\"token\"", p, b));
	if (slack && !cfg_js_truthy(app))
		return (cfg_fail(e, "Platform \"%s\" bot \"%s\" missing "
		    "\"appToken\" (required for Socket Mode)", p, b));
	if (cfg_v_access(e, p, b, json_object_get(bot, "access")) == -1 ||
	    cfg_v_admins(e, p, b, json_object_get(bot, "admins")) == -1)
		return (-1);
	if (!json_is_string(tok))
		return (cfg_fail(e, "Platform \"%s\" bot \"%s\" \"token\" must "
		    "be a string", p, b));
	if (slack && !json_is_string(app))
		return (cfg_fail(e, "Platform \"%s\" bot \"%s\" \"appToken\" "
		    "must be a string", p, b));
	return (0);
}

/* What upstream checks before access; then our type checks. */
static int
cfg_v_platform_head(struct cfg_err *e, const char *name, json_t *p, int slack)
{
	json_t	*bots = json_object_get(p, "bots");
	json_t	*url = json_object_get(p, "url");
	json_t	*bt = json_object_get(p, "botToken");

	if (slack) {
		if (!cfg_js_truthy(bots))
			return (cfg_fail(e, "Platform \"slack\" requires "
			    "\"bots\" with bot tokens"));
		return (0);
	}
	if (!cfg_js_truthy(url))
		return (cfg_fail(e, "Platform \"%s\" missing \"url\"", name));
	if (!cfg_js_truthy(bt) && !cfg_js_truthy(bots))
		return (cfg_fail(e, "Platform \"%s\" needs either \"botToken\" "
		    "or \"bots\"", name));
	return (0);
}

static int
cfg_v_platform_types(struct cfg_err *e, const char *name, json_t *p, int slack)
{
	json_t	*v;

	if (slack) {
		v = json_object_get(p, "apiUrl");
		if (v != NULL && !cfg_ok_nonempty(v))
			return (cfg_fail(e, "Platform \"slack\" apiUrl must "
			    "be a non-empty string"));
		return (0);
	}
	if (!json_is_string(json_object_get(p, "url")))
		return (cfg_fail(e, "Platform \"%s\" \"url\" must be a string",
		    name));
	v = json_object_get(p, "botToken");
	if (cfg_js_truthy(v) && !json_is_string(v))
		return (cfg_fail(e, "Platform \"%s\" \"botToken\" must be a "
		    "string", name));
	return (0);
}

/*
 * One entry of "platforms".  A value that is not an object is read as {}:
 * upstream reads its missing fields the same way.
 */
static int
cfg_v_platform(struct cfg_err *e, const char *name, json_t *p)
{
	const char	*bname;
	json_t		*bots, *bot;
	int		 slack = strcmp(name, "slack") == 0;

	if (cfg_v_platform_head(e, name, p, slack) == -1 ||
	    cfg_v_access(e, name, "(platform)",
	    json_object_get(p, "access")) == -1 ||
	    cfg_v_admins(e, name, "(platform)",
	    json_object_get(p, "admins")) == -1 ||
	    cfg_v_platform_types(e, name, p, slack) == -1)
		return (-1);
	bots = json_object_get(p, "bots");
	if (!cfg_js_truthy(bots))
		return (0);
	if (!json_is_object(bots))
		return (cfg_fail(e, "Platform \"%s\" \"bots\" must be an "
		    "object", name));
	json_object_foreach(bots, bname, bot)
		if (cfg_v_bot(e, name, bname, bot, slack) == -1)
			return (-1);
	return (0);
}

/* ------------------------------------------------------ section checks */

static int
cfg_s_platforms(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	const char	*name;
	json_t		*p;

	if (!json_is_object(v))
		return (cfg_fail(e, "Config must have a \"platforms\" object"));
	json_object_foreach(v, name, p)
		if (cfg_v_platform(e, name, p) == -1)
			return (-1);
	return (0);
}

static int
cfg_v_chan_bot(struct cfg_err *e, const char *id, json_t *bot, json_t *plat)
{
	char		 avail[CFG_ERR_MAX];
	const char	*k;
	json_t		*bots = json_object_get(plat, "bots"), *v;
	size_t		 off = 0;
	int		 m;

	if (!cfg_js_truthy(bot))
		return (0);
	if (!json_is_string(bot))
		return (cfg_fail(e, "Channel \"%s\" bot must be a string", id));
	if (!cfg_js_truthy(bots) ||
	    json_object_get(bots, json_string_value(bot)) != NULL)
		return (0);
	avail[0] = '\0';
	json_object_foreach(bots, k, v) {
		m = snprintf(avail + off, sizeof(avail) - off, "%s%s",
		    off > 0 ? ", " : "", k);
		if (m < 0 || (size_t)m >= sizeof(avail) - off)
			break;
		off += (size_t)m;
	}
	return (cfg_fail(e, "Channel \"%s\" references unknown bot \"%s\" "
	    "(available: %s)", id, json_string_value(bot), avail));
}

static int
cfg_v_channel(struct cfg_err *e, json_t *ch, json_t *plats)
{
	json_t		*id = json_object_get(ch, "id");
	json_t		*pl = json_object_get(ch, "platform");
	json_t		*wd = json_object_get(ch, "workingDirectory");
	json_t		*plat, *v;
	const char	*ids;

	if (!cfg_js_truthy(id))
		return (cfg_fail(e, "Each channel must have an \"id\""));
	if (!json_is_string(id))
		return (cfg_fail(e, "Each channel \"id\" must be a string"));
	ids = json_string_value(id);
	if (!cfg_js_truthy(pl))
		return (cfg_fail(e, "Channel \"%s\" missing \"platform\"",
		    ids));
	if (!cfg_js_truthy(wd))
		return (cfg_fail(e, "Channel \"%s\" missing "
		    "\"workingDirectory\"", ids));
	if (!json_is_string(pl))
		return (cfg_fail(e, "Channel \"%s\" platform must be a string",
		    ids));
	if ((plat = json_object_get(plats, json_string_value(pl))) == NULL)
		return (cfg_fail(e, "Channel \"%s\" references unknown "
		    "platform \"%s\"", ids, json_string_value(pl)));
	if (!json_is_string(wd))
		return (cfg_fail(e, "Channel \"%s\" workingDirectory must be a "
		    "string", ids));
	if (cfg_v_chan_bot(e, ids, json_object_get(ch, "bot"), plat) == -1)
		return (-1);
	/* New: a session per thread (not upstream's, so checked). */
	if ((v = json_object_get(ch, "threadSessions")) != NULL &&
	    !json_is_boolean(v))
		return (cfg_fail(e, "Channel \"%s\" threadSessions must be a "
		    "boolean", ids));
	return (0);
}

/* A missing or non-array "channels" becomes [] (DMs are discovered). */
static int
cfg_s_channels(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	json_t	*plats = json_object_get(root, "platforms"), *ch;
	size_t	 i;

	if (!json_is_array(v)) {
		if (json_object_set_new(root, key, json_array()) == -1)
			return (cfg_fail(e, CFG_ENOMEM));
		return (0);
	}
	json_array_foreach(v, i, ch)
		if (cfg_v_channel(e, ch, plats) == -1)
			return (-1);
	return (0);
}

/*
 * Upstream checks nothing of "defaults"; the keys that are ours only are
 * checked.
 */
static int
cfg_s_defaults(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "threadSessions", cfg_ok_bool,
		    "defaults.threadSessions must be a boolean" },
	};

	if (!json_is_object(v))
		return (0);
	return (cfg_fields(e, v, f, nitems(f)));
}

static int
cfg_s_interagent(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "defaultTimeout", cfg_ok_posnum,
		    "interAgent.defaultTimeout must be a positive number" },
		{ "maxTimeout", cfg_ok_posnum,
		    "interAgent.maxTimeout must be a positive number" },
		{ "maxDepth", cfg_ok_posint,
		    "interAgent.maxDepth must be a positive integer" },
	};
	const char	*bot;
	json_t		*allow, *p, *x;

	if (!cfg_js_truthy(v))
		return (0);
	if (!json_is_boolean(json_object_get(v, "enabled")))
		return (cfg_fail(e, "interAgent.enabled must be a boolean"));
	if (cfg_fields(e, v, f, nitems(f)) == -1)
		return (-1);
	if (!cfg_js_truthy(allow = json_object_get(v, "allow")))
		return (0);
	if (!json_is_object(allow))
		return (cfg_fail(e, "interAgent.allow must be an object "
		    "mapping bot names to permissions"));
	json_object_foreach(allow, bot, p) {
		x = json_object_get(p, "canCall");
		if (cfg_js_truthy(x) && !json_is_array(x))
			return (cfg_fail(e, "interAgent.allow.%s.canCall must "
			    "be an array", bot));
		x = json_object_get(p, "canBeCalledBy");
		if (cfg_js_truthy(x) && !json_is_array(x))
			return (cfg_fail(e, "interAgent.allow.%s.canBeCalledBy "
			    "must be an array", bot));
	}
	return (0);
}

/* A "timezone" (of a channel or of defaults): a zone of the tz database. */
static int
cfg_v_timezone(struct cfg_err *e, const char *whose, json_t *v)
{
	struct tz	*z;
	char		 why[512];

	if (v == NULL)
		return (0);
	if (!json_is_string(v))
		return (cfg_fail(e, "%s timezone must be a string (an IANA time "
		    "zone such as \"Europe/Paris\")", whose));
	if ((z = tz_load(json_string_value(v), why, sizeof(why))) == NULL)
		return (cfg_fail(e, "%s timezone: %s", whose, why));
	tz_free(z);
	return (0);
}

/*
 * Scheduled tasks: "scheduler" itself, and the time zone of each channel
 * and of "defaults" their cron expressions are read in (ours, beyond
 * upstream, which has neither).
 */
static int
cfg_s_scheduler(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "graceSeconds", cfg_ok_nonnegnum,
		    "scheduler.graceSeconds must be a non-negative number "
		    "(seconds)" },
	};
	json_t		*ch;
	size_t		 i;
	char		 whose[300];

	if (v != NULL && !json_is_object(v))
		return (cfg_fail(e, "\"scheduler\" must be an object"));
	if (v != NULL && cfg_fields(e, v, f, nitems(f)) == -1)
		return (-1);
	if (cfg_v_timezone(e, "defaults", json_object_get(json_object_get(root,
	    "defaults"), "timezone")) == -1)
		return (-1);
	json_array_foreach(json_object_get(root, "channels"), i, ch) {
		(void)snprintf(whose, sizeof(whose), "Channel \"%s\"",
		    json_string_value(json_object_get(ch, "id")));
		if (cfg_v_timezone(e, whose, json_object_get(ch, "timezone")) ==
		    -1)
			return (-1);
	}
	return (0);
}

/* JavaScript's /[:\s]/ over a provider name. */
static int
cfg_bad_provname(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	if (*p == '\0')
		return (1);
	for (; *p != '\0'; p++)
		if (*p == ':' || cfg_js_space(p) > 0)
			return (1);
	return (0);
}

static int
cfg_v_models(struct cfg_err *e, const char *name, json_t *models)
{
	json_t		*m, *id, *x;
	size_t		 i;

	if (!json_is_array(models) || json_array_size(models) == 0)
		return (cfg_fail(e, "Provider \"%s\" requires a non-empty "
		    "\"models\" array", name));
	json_array_foreach(models, i, m) {
		id = json_object_get(m, "id");
		if (!cfg_js_truthy(id) || !json_is_string(id))
			return (cfg_fail(e, "Provider \"%s\" models entries "
			    "must have a string \"id\"", name));
		x = json_object_get(m, "contextWindow");
		if (x != NULL && !cfg_ok_posint(x))
			return (cfg_fail(e, "Provider \"%s\" model \"%s\" "
			    "contextWindow must be a positive integer", name,
			    json_string_value(id)));
		x = json_object_get(m, "wireApi");
		if (x != NULL && !cfg_ok_wireapi(x))
			return (cfg_fail(e, "Provider \"%s\" model \"%s\" "
			    "wireApi must be \"completions\" or \"responses\"",
			    name, json_string_value(id)));
	}
	return (0);
}

static int
cfg_v_provider_tail(struct cfg_err *e, const char *name, json_t *p)
{
	static const char *const strs[] = { "apiKey", "apiKeyEnv",
	    "bearerToken", "bearerTokenEnv" };
	json_t	*x, *az;
	size_t	 i;

	for (i = 0; i < nitems(strs); i++) {
		x = json_object_get(p, strs[i]);
		if (x != NULL && !json_is_string(x))
			return (cfg_fail(e, "Provider \"%s\" %s must be a "
			    "string", name, strs[i]));
	}
	if ((az = json_object_get(p, "azure")) != NULL) {
		if (!json_is_object(az))
			return (cfg_fail(e, "Provider \"%s\" azure must be an "
			    "object", name));
		x = json_object_get(az, "apiVersion");
		if (x != NULL && !json_is_string(x))
			return (cfg_fail(e, "Provider \"%s\" azure.apiVersion "
			    "must be a string", name));
	}
	x = json_object_get(p, "wireApi");
	if (x != NULL && !cfg_ok_wireapi(x))
		return (cfg_fail(e, "Provider \"%s\" wireApi must be "
		    "\"completions\" or \"responses\"", name));
	return (0);
}

static int
cfg_v_provider(struct cfg_err *e, const char *name, json_t *p)
{
	json_t	*x;

	if (cfg_bad_provname(name))
		return (cfg_fail(e, "Provider name \"%s\" is invalid "
		    "\u2014 must be non-empty and cannot contain ':' or "
		    "whitespace", name));
	if (!json_is_object(p))
		return (cfg_fail(e, "Provider \"%s\" must be an object", name));
	x = json_object_get(p, "type");
	if (x != NULL && !cfg_ok_provtype(x))
		return (cfg_fail(e, "Provider \"%s\" type must be one of: "
		    "openai, azure, anthropic", name));
	x = json_object_get(p, "baseUrl");
	if (!cfg_js_truthy(x) || !json_is_string(x))
		return (cfg_fail(e, "Provider \"%s\" requires a \"baseUrl\" "
		    "string", name));
	if (cfg_v_models(e, name, json_object_get(p, "models")) == -1)
		return (-1);
	return (cfg_v_provider_tail(e, name, p));
}

static int
cfg_s_providers(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	const char	*name;
	json_t		*p;

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"providers\" must be an object mapping "
		    "provider names to configs"));
	json_object_foreach(v, name, p)
		if (cfg_v_provider(e, name, p) == -1)
			return (-1);
	return (0);
}

static int
cfg_s_loglevel(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const char *const set[] = { "debug", "info", "warn", "error",
	    NULL };

	if (v != NULL && !cfg_js_str_in(v, set))
		return (cfg_fail(e, "logLevel must be one of: debug, info, "
		    "warn, error"));
	return (0);
}

static int
cfg_s_logging(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "maxSize", cfg_ok_logsize,
		    "logging.maxSize must be a number >= 1024 (bytes)" },
		{ "maxFiles", cfg_ok_nonnegint,
		    "logging.maxFiles must be a non-negative integer" },
		{ "compress", cfg_ok_bool,
		    "logging.compress must be a boolean" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"logging\" must be an object"));
	return (cfg_fields(e, v, f, nitems(f)));
}

static int
cfg_s_telemetry(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "otlpEndpoint", cfg_ok_string,
		    "telemetry.otlpEndpoint must be a string" },
		{ "exporterType", cfg_ok_exporter,
		    "telemetry.exporterType must be \"otlp-http\" or "
		    "\"file\"" },
		{ "filePath", cfg_ok_string,
		    "telemetry.filePath must be a string" },
		{ "sourceName", cfg_ok_string,
		    "telemetry.sourceName must be a string" },
		{ "captureContent", cfg_ok_bool,
		    "telemetry.captureContent must be a boolean" },
		{ "authEnv", cfg_ok_string,
		    "telemetry.authEnv must be a string (env var name)" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"telemetry\" must be an object"));
	return (cfg_fields(e, v, f, nitems(f)));
}

static int
cfg_s_memory(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "tier", cfg_ok_tier, "memory.tier must be 0, 1, or 2" },
		{ "cloudMemory", cfg_ok_bool,
		    "memory.cloudMemory must be a boolean" },
		{ "consolidation", cfg_ok_object,
		    "memory.consolidation must be an object" },
	};
	static const struct cfg_field fc[] = {
		{ "model", cfg_ok_string,
		    "memory.consolidation.model must be a string" },
		{ "idleMinutes", cfg_ok_nonnegnum,
		    "memory.consolidation.idleMinutes must be a non-negative "
		    "number" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"memory\" must be an object"));
	if (cfg_fields(e, v, f, nitems(f)) == -1)
		return (-1);
	return (cfg_fields(e, json_object_get(v, "consolidation"), fc,
	    nitems(fc)));
}

static int
cfg_s_database(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	if (cfg_js_truthy(v) && !json_is_string(json_object_get(v, "module")))
		return (cfg_fail(e, "database.module must be a string when "
		    "database config is present"));
	return (0);
}

static int
cfg_s_millis(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	if (v != NULL && !cfg_ok_millis(v))
		return (cfg_fail(e, "%s must be an integer between 1 and %d "
		    "(milliseconds)", key, CFG_MILLIS_MAX));
	return (0);
}

static int
cfg_s_concurrency(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	if (v != NULL && (!cfg_js_is_int(v) || json_number_value(v) < 1 ||
	    json_number_value(v) > CFG_CONCURRENCY_MAX))
		return (cfg_fail(e, "%s must be an integer between 1 and %d",
		    key, CFG_CONCURRENCY_MAX));
	return (0);
}

static int
cfg_s_watch(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	enum pollwatch_mode	m;

	if (v != NULL && pollwatch_mode_parse(json_string_value(v), &m) == -1)
		return (cfg_fail(e, "watch must be one of: auto, inotify, poll"));
	return (0);
}

static int
cfg_s_watch_interval(struct cfg_err *e, const char *key, json_t *v,
    json_t *root)
{
	if (v != NULL && (!cfg_js_is_int(v) ||
	    json_number_value(v) < POLLWATCH_INTERVAL_MIN ||
	    json_number_value(v) > POLLWATCH_INTERVAL_MAX))
		return (cfg_fail(e, "%s must be an integer between %d and %d "
		    "(milliseconds)", key, POLLWATCH_INTERVAL_MIN,
		    POLLWATCH_INTERVAL_MAX));
	return (0);
}

static int
cfg_s_bool(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	if (v != NULL && !json_is_boolean(v))
		return (cfg_fail(e, "%s must be a boolean", key));
	return (0);
}

static int
cfg_s_session(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "backend", cfg_ok_backend,
		    "session.backend must be \"copilot\" or \"echo\"" },
		{ "runtimePath", cfg_ok_nonempty,
		    "session.runtimePath must be a non-empty string" },
		{ "githubTokenFile", cfg_ok_nonempty,
		    "session.githubTokenFile must be a non-empty string" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"session\" must be an object"));
	return (cfg_fields(e, v, f, nitems(f)));
}

static int
cfg_s_hooks(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "notifyOnAutoReload", cfg_ok_bool,
		    "hooks.notifyOnAutoReload must be a boolean" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"hooks\" must be an object"));
	return (cfg_fields(e, v, f, nitems(f)));
}

/*
 * The rules as sessiond will read them (common/policy.c), with its texts:
 * a rule sessiond could not parse fails the load, not the next session.
 */
static int
cfg_s_permissions(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	struct policy_config	*pc;

	if (v == NULL)
		return (0);
	if ((pc = policy_config_parse(v, getenv("HOME"), e->buf, e->len)) ==
	    NULL)
		return (-1);
	policy_config_free(pc);
	return (0);
}

static int
cfg_ok_mib(json_t *v)
{
	return (json_is_number(v) && json_number_value(v) > 0 &&
	    json_number_value(v) <= CFG_FILE_MIB_MAX);
}

static int
cfg_ok_hours(json_t *v)
{
	return (json_is_number(v) && json_number_value(v) > 0 &&
	    json_number_value(v) <= CFG_TEMP_HOURS_MAX);
}

/* New: the files that move between the chat and a workspace. */
static int
cfg_s_files(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "maxFileMiB", cfg_ok_mib, "files.maxFileMiB must be a "
		    "number above 0 and at most 4096" },
		{ "maxMessageMiB", cfg_ok_mib, "files.maxMessageMiB must be a "
		    "number above 0 and at most 4096" },
		{ "tempMaxAgeHours", cfg_ok_hours, "files.tempMaxAgeHours must "
		    "be a number above 0 and at most 8760" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"files\" must be an object"));
	return (cfg_fields(e, v, f, nitems(f)));
}

static int
cfg_s_path(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	if (v != NULL && !cfg_ok_nonempty(v))
		return (cfg_fail(e, "%s must be a non-empty string", key));
	return (0);
}

/*
 * Top-level sections in upstream's validation order, then ours.  Keys not
 * listed (defaults, infiniteSessions, _comment...) are not validated, as
 * upstream; permissions are, as sessiond enforces them.
 */
static const struct cfg_section {
	const char	*key;
	int		(*check)(struct cfg_err *, const char *, json_t *,
			    json_t *);
} cfg_sections[] = {
	{ "platforms",			cfg_s_platforms },
	{ "channels",			cfg_s_channels },
	{ "interAgent",			cfg_s_interagent },
	{ "providers",			cfg_s_providers },
	{ "logLevel",			cfg_s_loglevel },
	{ "logging",			cfg_s_logging },
	{ "telemetry",			cfg_s_telemetry },
	{ "memory",			cfg_s_memory },
	{ "database",			cfg_s_database },
	{ "reloadDrainTimeoutMs",	cfg_s_millis },
	{ "reconnectTimeoutMs",		cfg_s_millis },
	{ "autoReloadBots",		cfg_s_bool },
	{ "reloadPlatformConcurrency",	cfg_s_concurrency },
	{ "watch",			cfg_s_watch },
	{ "watchIntervalMs",		cfg_s_watch_interval },
	{ "session",			cfg_s_session },
	{ "hooks",			cfg_s_hooks },
	{ "permissions",		cfg_s_permissions },
	{ "scheduler",			cfg_s_scheduler },
	{ "files",			cfg_s_files },
	{ "stateDir",			cfg_s_path },
	{ "logDir",			cfg_s_path },
	{ "controlSocket",		cfg_s_path },
	{ "defaults",			cfg_s_defaults },
};

int
cfg_valid(struct cfg_err *e, json_t *root)
{
	size_t	i;

	for (i = 0; i < nitems(cfg_sections); i++)
		if (cfg_sections[i].check(e, cfg_sections[i].key,
		    json_object_get(root, cfg_sections[i].key), root) == -1)
			return (-1);
	return (0);
}

