/*
 * config: loading and building; see config.h.
 *
 * The file is parsed, validated whole (cfg_valid.c), then built into the
 * typed struct cfg the supervisor reads.  Numbers are converted only
 * within the range validation allowed, so no value of the file overflows.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_js.h"
#include "cfg_valid.h"
#include "config.h"
#include "util.h"

#define CFG_STATE_DIR		"~/.copilot-bridge"

/* ------------------------------------------------------------- paths */

static const char *
cfg_home(void)
{
	const char	*h;
	struct passwd	*pw;

	if ((h = getenv("HOME")) != NULL && *h != '\0')
		return (h);
	if ((pw = getpwuid(getuid())) != NULL && pw->pw_dir != NULL &&
	    *pw->pw_dir != '\0')
		return (pw->pw_dir);
	return (NULL);
}

/* Expand a leading "~" or "~/"; anything else is copied. */
static int
cfg_expand(struct cfg_err *e, const char *key, const char *s, char **out)
{
	const char	*home;

	if (s[0] != '~' || (s[1] != '\0' && s[1] != '/')) {
		if ((*out = strdup(s)) == NULL)
			return (cfg_fail(e, CFG_ENOMEM));
		return (0);
	}
	if ((home = cfg_home()) == NULL)
		return (cfg_fail(e, "%s: cannot expand \"~\": HOME is not set",
		    key));
	if (asprintf(out, "%s%s", home, s + 1) == -1) {
		*out = NULL;
		return (cfg_fail(e, CFG_ENOMEM));
	}
	return (0);
}


/* ------------------------------------------------------------- building */

static char *
cfg_strip_slash(const char *s)
{
	size_t	n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		n--;
	return (strndup(s, n));
}

/* Slack's apiUrl, to which method names are appended: one '/' at its end. */
static char *
cfg_api_url(json_t *p)
{
	json_t		*v = json_object_get(p, "apiUrl");
	const char	*s = v != NULL ? json_string_value(v) :
			    CFG_DEFAULT_SLACK_API;
	char		*t, *u;

	if (s == NULL || (t = cfg_strip_slash(s)) == NULL)
		return (NULL);
	if (asprintf(&u, "%s/", t) == -1)
		u = NULL;
	free(t);
	return (u);
}

static int
cfg_platform_add(struct cfg *c, const char *name, json_t *p)
{
	struct cfg_platform	*np, *pl;

	np = reallocarray(c->platforms, c->nplatforms + 1, sizeof(*np));
	if (np == NULL)
		return (-1);
	c->platforms = np;
	pl = &c->platforms[c->nplatforms++];
	memset(pl, 0, sizeof(*pl));
	pl->access = json_object_get(p, "access");
	pl->admins = json_object_get(p, "admins");
	if ((pl->name = strdup(name)) == NULL)
		return (-1);
	if (strcmp(name, "slack") == 0 && (pl->api_url = cfg_api_url(p)) == NULL)
		return (-1);
	return (0);
}

/* A bot of the platform last added; bot is NULL for the botToken form. */
static int
cfg_bot_add(struct cfg *c, const char *name, json_t *p, json_t *bot)
{
	struct cfg_bot	*nb, *b;
	const char	*plat = c->platforms[c->nplatforms - 1].name;
	json_t		*tok;
	int		 slack = strcmp(plat, "slack") == 0;

	if ((nb = reallocarray(c->bots, c->nbots + 1, sizeof(*nb))) == NULL)
		return (-1);
	c->bots = nb;
	b = &c->bots[c->nbots];
	memset(b, 0, sizeof(*b));
	c->nbots++;
	b->plat = c->nplatforms - 1;
	b->obj = bot;
	b->access = json_object_get(bot, "access");
	b->admins = json_object_get(bot, "admins");
	tok = bot != NULL ? json_object_get(bot, "token") :
	    json_object_get(p, "botToken");
	b->admin = cfg_js_truthy(json_object_get(bot, "admin"));
	b->has_adapter = slack || strcmp(plat, "mattermost") == 0;
	if ((b->platform = strdup(plat)) == NULL ||
	    (b->name = strdup(name)) == NULL ||
	    (b->token = strdup(json_string_value(tok))) == NULL)
		return (-1);
	if (asprintf(&b->key, "%s:%s", plat, name) == -1) {
		b->key = NULL;
		return (-1);
	}
	if (slack) {
		b->app_token = strdup(json_string_value(json_object_get(bot,
		    "appToken")));
		return (b->app_token == NULL ? -1 : 0);
	}
	b->url = cfg_strip_slash(json_string_value(json_object_get(p, "url")));
	return (b->url == NULL ? -1 : 0);
}

/* platforms[] sorted; bots[] in platform order, then bot order, sorted. */
static int
cfg_build_bots(struct cfg *c)
{
	struct cfg_js_keys	 pk = { NULL, 0 }, bk = { NULL, 0 };
	json_t			*plats, *p, *bots;
	size_t			 i, j;
	int			 rc = -1;

	plats = json_object_get(c->root, "platforms");
	if (cfg_js_keys(plats, NULL, &pk) == -1)
		return (-1);
	for (i = 0; i < pk.n; i++) {
		p = json_object_get(plats, pk.v[i]);
		if (cfg_platform_add(c, pk.v[i], p) == -1)
			goto out;
		bots = json_object_get(p, "bots");
		if (!cfg_js_truthy(bots)) {
			if (cfg_bot_add(c, "default", p, NULL) == -1)
				goto out;
			continue;
		}
		if (cfg_js_keys(bots, NULL, &bk) == -1)
			goto out;
		for (j = 0; j < bk.n; j++)
			if (cfg_bot_add(c, bk.v[j], p,
			    json_object_get(bots, bk.v[j])) == -1)
				goto out;
		free(bk.v);
		bk.v = NULL;
	}
	rc = 0;
out:
	free(bk.v);
	free(pk.v);
	return (rc);
}

/*
 * The typed view of an array of validated channel objects.  A "bot" that
 * is not a non-empty string (upstream's falsy "bot") is no bot at all.
 */
static int
cfg_build_chans(json_t *arr, struct cfg_chan **out, size_t *n)
{
	struct cfg_chan	*v;
	json_t		*ch, *b;
	size_t		 i;

	*out = NULL;
	*n = 0;
	if (json_array_size(arr) == 0)
		return (0);
	if ((v = calloc(json_array_size(arr), sizeof(*v))) == NULL)
		return (-1);
	json_array_foreach(arr, i, ch) {
		v[i].obj = ch;
		v[i].id = json_string_value(json_object_get(ch, "id"));
		v[i].platform = json_string_value(json_object_get(ch,
		    "platform"));
		b = json_object_get(ch, "bot");
		v[i].bot = json_string_length(b) > 0 ? json_string_value(b) :
		    NULL;
		v[i].is_dm = json_is_true(json_object_get(ch, "isDM"));
	}
	*out = v;
	*n = json_array_size(arr);
	return (0);
}

static int
cfg_build_paths(struct cfg *c, struct cfg_err *e)
{
	json_t		*v;
	const char	*sd;

	v = json_object_get(c->root, "stateDir");
	sd = v != NULL ? json_string_value(v) : CFG_STATE_DIR;
	if (cfg_expand(e, "stateDir", sd, &c->state_dir) == -1)
		return (-1);
	if ((v = json_object_get(c->root, "logDir")) != NULL &&
	    cfg_expand(e, "logDir", json_string_value(v), &c->log_dir) == -1)
		return (-1);
	if ((v = json_object_get(c->root, "controlSocket")) != NULL)
		return (cfg_expand(e, "controlSocket", json_string_value(v),
		    &c->control_socket));
	if (asprintf(&c->control_socket, "%s/control.sock", c->state_dir) ==
	    -1) {
		c->control_socket = NULL;
		return (cfg_fail(e, CFG_ENOMEM));
	}
	return (0);
}

/*
 * The control socket a config file names, even when the file does not
 * validate: `ctl reload` must reach the running bridge to report what is
 * wrong with the file it was just given.  Falls back to the default under
 * the default stateDir when the file cannot be parsed at all.
 */
int
cfg_control_socket_hint(const char *path, char *out, size_t len)
{
	struct cfg	 c;
	struct cfg_err	 e = { NULL, 0 };
	json_t		*root;
	int		 rc = -1;

	memset(&c, 0, sizeof(c));
	root = path != NULL ? json_load_file(path, 0, NULL) : NULL;
	c.root = json_is_object(root) ? root : NULL;
	if (c.root != NULL) {
		/* Keep only well-typed keys: the hint must not fail on them. */
		if (!json_is_string(json_object_get(root, "stateDir")))
			json_object_del(root, "stateDir");
		if (!json_is_string(json_object_get(root, "controlSocket")))
			json_object_del(root, "controlSocket");
		json_object_del(root, "logDir");
	} else
		c.root = json_object();
	if (c.root != NULL && cfg_build_paths(&c, &e) == 0 &&
	    (size_t)snprintf(out, len, "%s", c.control_socket) < len)
		rc = 0;
	free(c.state_dir);
	free(c.log_dir);
	free(c.control_socket);
	json_decref(c.root);
	return (rc);
}

/* A milliseconds setting: validated already, converted within its range. */
static int
cfg_millis(json_t *root, const char *key, int dflt)
{
	json_t	*v = json_object_get(root, key);
	int	 ms;

	if (v == NULL || cfg_js_int(v, 1, CFG_MILLIS_MAX, &ms) == -1)
		return (dflt);
	return (ms);
}

static int
cfg_build(struct cfg *c, struct cfg_err *e)
{
	json_t	*v;
	char	*s;
	int	 rc;

	c->log_level = LOG_LINFO;
	if ((v = json_object_get(c->root, "logLevel")) != NULL)
		(void)log_parse_level(json_string_value(v), &c->log_level);
	c->drain_timeout_ms = cfg_millis(c->root, "reloadDrainTimeoutMs",
	    CFG_DEFAULT_DRAIN_MS);
	c->reconnect_timeout_ms = cfg_millis(c->root, "reconnectTimeoutMs",
	    CFG_DEFAULT_RECONNECT_MS);
	c->auto_reload_bots = json_is_true(json_object_get(c->root,
	    "autoReloadBots"));
	if ((v = json_object_get(c->root, "reloadPlatformConcurrency")) ==
	    NULL || cfg_js_int(v, 1, CFG_CONCURRENCY_MAX,
	    &c->platform_concurrency) == -1)
		c->platform_concurrency = CFG_DEFAULT_CONCURRENCY;
	if (pollwatch_mode_parse(json_string_value(json_object_get(c->root,
	    "watch")), &c->watch_mode) == -1)
		c->watch_mode = POLLWATCH_AUTO;
	if ((v = json_object_get(c->root, "watchIntervalMs")) == NULL ||
	    cfg_js_int(v, POLLWATCH_INTERVAL_MIN, POLLWATCH_INTERVAL_MAX,
	    &c->watch_interval_ms) == -1)
		c->watch_interval_ms = POLLWATCH_INTERVAL_MS;
	c->telemetry = json_object_get(c->root, "telemetry");
	if (cfg_build_paths(c, e) == -1)
		return (-1);
	if (cfg_build_bots(c) == -1 ||
	    cfg_build_chans(json_object_get(c->root, "channels"), &c->chans,
	    &c->nchans) == -1)
		return (cfg_fail(e, CFG_ENOMEM));
	if ((s = json_dumps(c->root, JSON_SORT_KEYS | JSON_COMPACT)) == NULL)
		return (cfg_fail(e, CFG_ENOMEM));
	rc = util_sha256_hex(s, strlen(s), c->hash);
	free(s);
	if (rc == -1)
		return (cfg_fail(e, "cannot hash the configuration"));
	return (0);
}

/* ----------------------------------------------------------- public: load */

/*
 * A complaint cut by its buffer ends on a whole UTF-8 character, so it
 * can go into JSON (a ctl or chat reply) as it is.
 */
static void
cfg_err_tidy(char *err, size_t errlen)
{
	size_t	n, lead, want;

	if (err == NULL || errlen == 0 || (n = strlen(err)) == 0)
		return;
	lead = n;
	while (lead > 0 && n - lead < 4 &&
	    ((unsigned char)err[lead - 1] & 0xc0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	lead--;		/* the last character's first byte */
	want = ((unsigned char)err[lead] & 0xe0) == 0xc0 ? 2 :
	    ((unsigned char)err[lead] & 0xf0) == 0xe0 ? 3 :
	    ((unsigned char)err[lead] & 0xf8) == 0xf0 ? 4 : 1;
	if (n - lead < want)
		err[lead] = '\0';
}

static int
cfg_copy_path(char *out, size_t len, const char *a, const char *b)
{
	int	n;

	n = snprintf(out, len, "%s%s", a, b);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

int
cfg_resolve_path(const char *arg, char *out, size_t len)
{
	char		 cand[PATH_MAX], cwd[PATH_MAX];
	const char	*env, *home;

	if (arg != NULL)
		return (cfg_copy_path(out, len, arg, ""));
	if ((env = getenv("COPILOT_BRIDGE_CONFIG")) != NULL && *env != '\0')
		return (cfg_copy_path(out, len, env, ""));
	if ((home = cfg_home()) != NULL &&
	    cfg_copy_path(cand, sizeof(cand), home,
	    "/.copilot-bridge/config.json") == 0 && access(cand, F_OK) == 0)
		return (cfg_copy_path(out, len, cand, ""));
	/* Absolute, so the watcher and reloads do not depend on our cwd. */
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return (-1);
	return (cfg_copy_path(out, len, cwd, "/config.json"));
}

static struct cfg	*cfg_parse1(const char *, size_t, const char *,
			    struct cfg_err *);

struct cfg *
cfg_load(const char *path, char *err, size_t errlen)
{
	struct cfg_err	 e = { err, errlen };
	struct cfg	*c;
	char		*buf;
	size_t		 len;

	if ((buf = util_read_file(path, CFG_FILE_MAX, &len)) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			cfg_fail(&e, "Config file not found: %s. Copy "
			    "config.sample.json to config.json and edit it.",
			    path);
		else if (errno == EFBIG)
			cfg_fail(&e, "%s: file is larger than %d bytes", path,
			    CFG_FILE_MAX);
		else
			cfg_fail(&e, "%s: %s", path, strerror(errno));
		cfg_err_tidy(err, errlen);
		return (NULL);
	}
	c = cfg_parse1(buf, len, path, &e);
	free(buf);
	if (c == NULL)
		cfg_err_tidy(err, errlen);
	return (c);
}

struct cfg *
cfg_parse(const char *buf, size_t len, const char *path, char *err,
    size_t errlen)
{
	struct cfg_err	 e = { err, errlen };
	struct cfg	*c;

	if ((c = cfg_parse1(buf, len, path, &e)) == NULL)
		cfg_err_tidy(err, errlen);
	return (c);
}

static struct cfg *
cfg_parse1(const char *buf, size_t len, const char *path, struct cfg_err *ep)
{
	struct cfg_err	 e = *ep;
	struct cfg	*c;
	json_error_t	 je;
	json_t		*root;

	if (buf == NULL)
		buf = "";
	/* Any top-level value parses; a non-object fails like upstream's. */
	if ((root = json_loadb(buf, len, JSON_DECODE_ANY, &je)) == NULL) {
		if (path != NULL)
			cfg_fail(&e, "%s:%d:%d: %s", path, je.line, je.column,
			    je.text);
		else
			cfg_fail(&e, "%d:%d: %s", je.line, je.column, je.text);
		return (NULL);
	}
	if (!json_is_object(root)) {
		json_decref(root);
		cfg_fail(&e, "Config must have a \"platforms\" object");
		return (NULL);
	}
	if (cfg_valid(&e, root) == -1) {
		json_decref(root);
		return (NULL);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(root);
		cfg_fail(&e, CFG_ENOMEM);
		return (NULL);
	}
	c->root = root;
	if ((c->grace = json_array()) == NULL ||
	    (path != NULL && (c->path = strdup(path)) == NULL)) {
		cfg_fail(&e, CFG_ENOMEM);
		cfg_free(c);
		return (NULL);
	}
	if (cfg_build(c, &e) == -1) {
		cfg_free(c);
		return (NULL);
	}
	if (e.buf != NULL && e.len > 0)
		e.buf[0] = '\0';
	return (c);
}

void
cfg_free(struct cfg *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nbots; i++) {
		free(c->bots[i].platform);
		free(c->bots[i].name);
		free(c->bots[i].key);
		free(c->bots[i].token);
		free(c->bots[i].app_token);
		free(c->bots[i].url);
	}
	free(c->bots);
	for (i = 0; i < c->nplatforms; i++) {
		free(c->platforms[i].name);
		free(c->platforms[i].api_url);
	}
	free(c->platforms);
	free(c->chans);
	free(c->grace_chans);
	json_decref(c->root);
	json_decref(c->grace);
	free(c->path);
	free(c->state_dir);
	free(c->log_dir);
	free(c->control_socket);
	free(c);
}

const struct cfg_bot *
cfg_find_bot(const struct cfg *c, const char *key)
{
	size_t	i;

	if (c == NULL || key == NULL)
		return (NULL);
	for (i = 0; i < c->nbots; i++)
		if (strcmp(c->bots[i].key, key) == 0)
			return (&c->bots[i]);
	return (NULL);
}

const struct cfg_platform *
cfg_find_platform(const struct cfg *c, const char *name)
{
	size_t	i;

	if (c == NULL || name == NULL)
		return (NULL);
	for (i = 0; i < c->nplatforms; i++)
		if (strcmp(c->platforms[i].name, name) == 0)
			return (&c->platforms[i]);
	return (NULL);
}

/* ------------------------------------------------------------ grace */

static int
cfg_has_channel(json_t *arr, json_t *id)
{
	json_t	*ch;
	size_t	 i;

	json_array_foreach(arr, i, ch)
		if (cfg_js_eq(json_object_get(ch, "id"), id))
			return (1);
	return (0);
}

/* Append copies of src's channels that are in neither avoid nor dst. */
static int
cfg_grace_add(json_t *dst, json_t *src, json_t *avoid)
{
	json_t	*ch, *id;
	size_t	 i;

	json_array_foreach(src, i, ch) {
		id = json_object_get(ch, "id");
		if (cfg_has_channel(avoid, id) || cfg_has_channel(dst, id))
			continue;
		if (json_array_append_new(dst, json_deep_copy(ch)) == -1)
			return (-1);
	}
	return (0);
}

/*
 * Static channels removed from the file keep serving until restart, as
 * upstream; they live in grace, outside the root, so the next diff of the
 * same file does not report them again (upstream's repeated report).
 */
int
cfg_carry_grace(struct cfg *newc, const struct cfg *oldc)
{
	struct cfg_chan	*gc;
	json_t		*g, *nch;
	size_t		 n;

	if (newc == NULL || oldc == NULL)
		return (0);
	nch = json_object_get(newc->root, "channels");
	if ((g = json_array()) == NULL ||
	    cfg_grace_add(g, oldc->grace, nch) == -1 ||
	    cfg_grace_add(g, json_object_get(oldc->root, "channels"),
	    nch) == -1 || cfg_build_chans(g, &gc, &n) == -1) {
		json_decref(g);
		return (-1);
	}
	json_decref(newc->grace);
	free(newc->grace_chans);
	newc->grace = g;
	newc->grace_chans = gc;
	newc->ngrace = n;
	return (0);
}

