/*
 * mcp: the MCP servers of a session, in the Copilot CLI's mcp-config.json
 * format ({"mcpServers": {NAME: {type, command, args, env, cwd, tools,
 * url, headers}}}), from upstream's three sources, merged as upstream
 * merges them (docs/architecture.md, "MCP servers"):
 *
 *   1. installed plugins: every .mcp.json under
 *      ~/.copilot/installed-plugins (the first plugin to name a server
 *      keeps it);
 *   2. the user's ~/.copilot/mcp-config.json, over the plugins;
 *   3. the workspace's <cwd>/mcp-config.json, over both.
 *
 * A local server (no type, "local" or "stdio") gets the working directory
 * as its cwd when it names none, and the workspace's .env variables under
 * its own env.  Only a workspace server's env values expand ${VAR}: from
 * the .env, then our environment, else empty; a variable that holds one of
 * the bridge's own secrets expands to empty.  Every server without tools
 * gets ["*"].
 *
 * The runtime takes a server it cannot read as a reason to never finish a
 * turn (a command that is not a string, args that are not strings, ...),
 * so every entry is checked here and one that is wrong is left out with a
 * warning that says why; keys outside the format are dropped.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "wsconf.h"

#define MCP_PLUGIN_DEPTH	4		/* .mcp.json under installed-plugins */
#define MCP_EXPAND_MAX		(64 * 1024)	/* an expanded env value, bytes */
#define MCP_NAME_MAX		128

/* Is v absent, or an array of strings? */
static int
mcp_strings(const json_t *v)
{
	const json_t	*e;
	size_t		 i;

	if (v == NULL)
		return (1);
	if (!json_is_array(v))
		return (0);
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return (0);
	return (1);
}

/* Is v absent, or an object of strings? */
static int
mcp_string_map(const json_t *v)
{
	const char	*k;
	const json_t	*e;

	if (v == NULL)
		return (1);
	if (!json_is_object(v))
		return (0);
	json_object_foreach((json_t *)v, k, e)
		if (!json_is_string(e))
			return (0);
	return (1);
}

/* A name the runtime takes: not empty, no control character, no '}'. */
static int
mcp_name_ok(const char *name)
{
	const unsigned char	*p;

	if (name[0] == '\0' || strlen(name) > MCP_NAME_MAX)
		return (0);
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '}')
			return (0);
	return (1);
}

static int
mcp_is_local(const json_t *srv)
{
	const char	*t = json_string_value(json_object_get(srv, "type"));

	return (t == NULL || strcmp(t, "local") == 0 || strcmp(t, "stdio") == 0);
}

/* Why the entry cannot be used, or NULL. */
static const char *
mcp_why_bad(const json_t *srv)
{
	const json_t	*t = json_object_get(srv, "type"), *v;
	const char	*ts = json_string_value(t);

	if (!json_is_object(srv))
		return ("not an object");
	if (t != NULL && (ts == NULL || (strcmp(ts, "local") != 0 &&
	    strcmp(ts, "stdio") != 0 && strcmp(ts, "http") != 0 &&
	    strcmp(ts, "sse") != 0)))
		return ("\"type\" is not one of local, stdio, http, sse");
	v = json_object_get(srv, "tools");
	if (!json_is_null(v) && !mcp_strings(v))
		return ("\"tools\" is not an array of strings");
	if (mcp_is_local(srv)) {
		v = json_object_get(srv, "command");
		if (!json_is_string(v) || json_string_length(v) == 0)
			return ("\"command\" is missing or not a string");
		if (!mcp_strings(json_object_get(srv, "args")))
			return ("\"args\" is not an array of strings");
		if (!mcp_string_map(json_object_get(srv, "env")))
			return ("\"env\" is not an object of strings");
		v = json_object_get(srv, "cwd");
		if (v != NULL && !json_is_string(v))
			return ("\"cwd\" is not a string");
		return (NULL);
	}
	v = json_object_get(srv, "url");
	if (!json_is_string(v) || json_string_length(v) == 0)
		return ("\"url\" is missing or not a string");
	if (!mcp_string_map(json_object_get(srv, "headers")))
		return ("\"headers\" is not an object of strings");
	return (NULL);
}

/*
 * The entry as the runtime gets it: the format's keys only, tools ["*"]
 * when none.  NULL: left out (logged), or out of memory (*oom set).
 */
static json_t *
mcp_check(const char *path, const char *name, const json_t *srv, int *oom)
{
	static const char *const keys[] = { "type", "command", "args", "env",
	    "cwd", "url", "headers", "tools" };
	const char	*why, *k;
	const json_t	*v;
	json_t		*out;
	size_t		 i;

	if (!mcp_name_ok(name)) {
		log_warnx("%s: MCP server \"%.64s\": not a usable name, "
		    "skipping it", path, name);
		return (NULL);
	}
	if ((why = mcp_why_bad(srv)) != NULL) {
		log_warnx("%s: MCP server \"%s\": %s, skipping it", path, name,
		    why);
		return (NULL);
	}
	json_object_foreach((json_t *)srv, k, v) {
		for (i = 0; i < nitems(keys); i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (i == nitems(keys))
			log_warnx("%s: MCP server \"%s\": unknown key \"%.64s\" "
			    "ignored", path, name, k);
	}
	if ((out = json_object()) == NULL)
		goto oom;
	for (i = 0; i < nitems(keys); i++)
		if ((v = json_object_get(srv, keys[i])) != NULL &&
		    !json_is_null(v) &&
		    json_object_set_new(out, keys[i], json_deep_copy(v)) == -1)
			goto oom;
	if (json_object_get(out, "tools") == NULL &&
	    json_object_set_new(out, "tools", json_pack("[s]", "*")) == -1)
		goto oom;
	return (out);
oom:
	json_decref(out);
	*oom = 1;
	return (NULL);
}

int
mcp_parse(const char *path, const char *text, size_t len, json_t **servers,
    char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*root, *all, *out, *s;
	const char	*name;
	int		 oom = 0;

	*servers = NULL;
	/* Like JSON.parse, any top-level value is syntactically fine. */
	if ((root = json_loadb(text != NULL ? text : "", text != NULL ? len : 0,
	    JSON_DECODE_ANY, &je)) == NULL) {
		if (json_error_code(&je) == json_error_out_of_memory)
			return (util_err(err, errlen, "out of memory"));
		return (util_err(err, errlen, "%s:%d:%d: %s", path, je.line,
		    je.column, je.text));
	}
	if ((out = json_object()) == NULL) {
		json_decref(root);
		return (util_err(err, errlen, "out of memory"));
	}
	all = json_object_get(root, "mcpServers");
	if (all != NULL && !json_is_object(all))
		log_warnx("%s: \"mcpServers\" is not an object, no servers "
		    "taken from it", path);
	json_object_foreach(json_is_object(all) ? all : NULL, name, s) {
		json_t	*c = mcp_check(path, name, s, &oom);

		if (c != NULL && json_object_set_new(out, name, c) == -1)
			oom = 1;
		if (oom)
			break;
	}
	json_decref(root);
	if (oom) {
		json_decref(out);
		return (util_err(err, errlen, "out of memory"));
	}
	*servers = out;
	return (0);
}

/* Is name one of the bridge's secrets? */
static int
mcp_secret(const struct mcp_where *w, const char *name)
{
	size_t	i;

	for (i = 0; i < w->nsecrets; i++)
		if (strcmp(w->secrets[i], name) == 0)
			return (1);
	return (0);
}

/* What ${name} becomes. */
static const char *
mcp_var(const char *name, const json_t *dotenv, const struct mcp_where *w)
{
	const char	*v;

	if ((v = json_string_value(json_object_get(dotenv, name))) != NULL)
		return (v);
	if (mcp_secret(w, name)) {
		log_warnx("MCP server env: ${%s} names a secret of the bridge; "
		    "it expands to nothing", name);
		return ("");
	}
	if ((v = getenv(name)) == NULL)
		return ("");
	if (!utf8_valid(v, strlen(v))) {
		log_warnx("MCP server env: ${%s} is not UTF-8; it expands to "
		    "nothing", name);
		return ("");
	}
	return (v);
}

static int
mcp_word(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_');
}

/* As JavaScript's value.replace(/\$\{(\w+)\}/g, ...). */
char *
mcp_expand(const char *value, const json_t *dotenv, const struct mcp_where *w)
{
	const char	*p = value, *q, *v;
	char		*out = NULL, name[256];
	size_t		 n = 0, nlen;
	FILE		*f;

	if ((f = open_memstream(&out, &n)) == NULL)
		return (NULL);
	while (*p != '\0') {
		for (q = p + 2; p[0] == '$' && p[1] == '{' && mcp_word(*q); q++)
			;
		nlen = (size_t)(q - p) - 2;
		if (p[0] != '$' || p[1] != '{' || nlen == 0 || *q != '}' ||
		    nlen >= sizeof(name)) {
			(void)fputc(*p++, f);
			continue;
		}
		memcpy(name, p + 2, nlen);
		name[nlen] = '\0';
		v = mcp_var(name, dotenv, w);
		(void)fputs(v, f);
		p = q + 1;
	}
	if (fclose(f) == EOF) {
		free(out);
		return (NULL);
	}
	if (n > MCP_EXPAND_MAX) {
		explicit_bzero(out, n);
		free(out);
		errno = E2BIG;
		return (NULL);
	}
	return (out);
}

/* One file's servers into *servers (NULL: none); -1 on a syntax error. */
static int
mcp_load_file(struct mcpset *ms, const char *path, json_t **servers)
{
	char	*text, err[sizeof(ms->err)];
	size_t	 len;
	int	 rv;

	*servers = NULL;
	if ((rv = wsfile_read(path, MCP_FILE_MAX, &text, &len)) != 1)
		return (rv);
	rv = mcp_parse(path, text, len, servers, err, sizeof(err));
	free(text);
	if (rv == -1) {
		if (strcmp(err, "out of memory") == 0)
			return (-1);
		log_warnx("MCP servers: %s", err);
		if (ms->err[0] == '\0')
			snprintf(ms->err, sizeof(ms->err), "%s", err);
		return (0);
	}
	log_debug("MCP servers: %zu from %s", json_object_size(*servers),
	    path);
	return (0);
}

struct mcp_walk {
	struct mcpset	*ms;
	json_t		*plugins;	/* name -> config, the first wins */
};

/* Each directory under installed-plugins: its .mcp.json, if any. */
static int
mcp_walk_entry(void *arg, const char *dir, const char *name,
    const struct stat *st, int depth)
{
	struct mcp_walk	*w = arg;
	char		*sub, *path;
	json_t		*servers, *s;
	const char	*k;
	int		 rv;

	if (!S_ISDIR(st->st_mode))
		return (0);
	if ((sub = wsfile_join(dir, name)) == NULL)
		return (-1);
	if ((path = wsfile_join(sub, ".mcp.json")) == NULL) {
		free(sub);
		return (-1);
	}
	rv = mcp_load_file(w->ms, path, &servers);
	if (rv == 0 && servers != NULL) {
		rv = wswatch_add(&w->ms->watch, sub, 0);
		json_object_foreach(servers, k, s)
			if (rv == 0 && json_object_get(w->plugins, k) == NULL)
				rv = json_object_set(w->plugins, k, s);
	}
	json_decref(servers);
	free(path);
	free(sub);
	return (rv == -1 ? -1 : 1);
}

/* The plugins' servers into plugins, the user's file's into *user. */
static int
mcp_load_home(struct mcpset *ms, const char *home, json_t *plugins,
    json_t **user)
{
	struct mcp_walk	 w = { ms, plugins };
	char		*copilot, *p = NULL;
	int		 rv = -1;

	if ((copilot = wsfile_join(home, ".copilot")) == NULL)
		return (-1);
	if (wswatch_add(&ms->watch, copilot, 0) == -1 ||
	    (p = wsfile_join(copilot, "installed-plugins")) == NULL ||
	    wswatch_add(&ms->watch, p, 1) == -1 ||
	    wsfile_walk(p, MCP_PLUGIN_DEPTH, mcp_walk_entry, &w) == -1)
		goto done;
	free(p);
	if ((p = wsfile_join(copilot, "mcp-config.json")) == NULL ||
	    mcp_load_file(ms, p, user) == -1)
		goto done;
	rv = 0;
done:
	free(p);
	free(copilot);
	return (rv);
}

/* env: the .env under the server's own (upstream's merge). */
static int
mcp_with_dotenv(json_t *srv, const json_t *dotenv)
{
	json_t	*env;
	int	 rv;

	if (json_object_size(dotenv) == 0)
		return (0);
	if ((env = json_deep_copy(dotenv)) == NULL)
		return (-1);
	rv = json_object_get(srv, "env") == NULL ? 0 :
	    json_object_update(env, json_object_get(srv, "env"));
	if (rv == -1) {
		json_decref(env);
		return (-1);
	}
	return (json_object_set_new(srv, "env", env));
}

/* A user or plugin server in this workspace. */
static int
mcp_global(json_t *srv, const char *cwd, const json_t *dotenv)
{
	if (!mcp_is_local(srv))
		return (0);
	if (cwd != NULL && json_object_get(srv, "cwd") == NULL &&
	    json_object_set_new(srv, "cwd", json_string(cwd)) == -1)
		return (-1);
	return (mcp_with_dotenv(srv, dotenv));
}

/* A workspace server: its env expanded, then the .env under it. */
static int
mcp_workspace(json_t *srv, const char *name, const struct mcp_where *w,
    const json_t *dotenv)
{
	json_t		*env = json_object_get(srv, "env"), *v;
	const char	*k, *s;
	char		*x;

	json_object_foreach(env, k, v) {
		s = json_string_value(v);
		if (strstr(s, "${") == NULL)
			continue;
		if ((x = mcp_expand(s, dotenv, w)) == NULL) {
			if (errno != E2BIG)
				return (-1);
			log_warnx("MCP server \"%s\": env %s is longer than "
			    "%d bytes once expanded; left empty", name, k,
			    MCP_EXPAND_MAX);
			x = strdup("");
		}
		if (x == NULL || json_object_set_new(env, k,
		    json_string(x)) == -1) {
			free(x);
			return (-1);
		}
		explicit_bzero(x, strlen(x));
		free(x);
	}
	if (!mcp_is_local(srv))
		return (0);
	if (w->cwd != NULL && json_object_get(srv, "cwd") == NULL &&
	    json_object_set_new(srv, "cwd", json_string(w->cwd)) == -1)
		return (-1);
	return (mcp_with_dotenv(srv, dotenv));
}

/* Merge global and workspace servers into ms, with where each came from. */
static int
mcp_merge(struct mcpset *ms, const struct mcp_where *w, json_t *global,
    const json_t *user, json_t *ws, const json_t *dotenv)
{
	const char	*k, *src;
	json_t		*s;

	json_object_foreach(global, k, s) {
		src = json_object_get(user, k) != NULL ? "user" : "plugin";
		if (mcp_global(s, w->cwd, dotenv) == -1 ||
		    json_object_set(ms->servers, k, s) == -1 ||
		    json_object_set_new(ms->sources, k, json_string(src)) == -1)
			return (-1);
	}
	json_object_foreach(ws, k, s) {
		src = json_object_get(ms->sources, k) == NULL ? "workspace" :
		    strcmp(json_string_value(json_object_get(ms->sources, k)),
		    "plugin") == 0 ? "workspace (overriding plugin)" :
		    "workspace (overriding user)";
		if (mcp_workspace(s, k, w, dotenv) == -1 ||
		    json_object_set(ms->servers, k, s) == -1 ||
		    json_object_set_new(ms->sources, k, json_string(src)) == -1)
			return (-1);
	}
	return (0);
}

struct mcpset *
mcp_load(const struct mcp_where *w)
{
	struct mcpset	*ms;
	json_t		*global = NULL, *user = NULL, *ws = NULL;
	json_t		*dotenv = NULL;
	char		*p = NULL;
	int		 rv = -1;

	if ((ms = calloc(1, sizeof(*ms))) == NULL)
		return (NULL);
	if ((ms->servers = json_object()) == NULL ||
	    (ms->sources = json_object()) == NULL ||
	    (global = json_object()) == NULL)
		goto done;
	if (w->home != NULL && (mcp_load_home(ms, w->home, global,
	    &user) == -1 || (user != NULL &&
	    json_object_update(global, user) == -1)))
		goto done;
	if (w->cwd != NULL) {
		if ((p = wsfile_join(w->cwd, "mcp-config.json")) == NULL ||
		    wswatch_add(&ms->watch, w->cwd, 0) == -1 ||
		    mcp_load_file(ms, p, &ws) == -1 ||
		    (dotenv = dotenv_load(w->cwd)) == NULL)
			goto done;
	} else if ((dotenv = json_object()) == NULL)
		goto done;
	rv = mcp_merge(ms, w, global, user, ws, dotenv);
done:
	free(p);
	json_decref(global);
	json_decref(user);
	json_decref(ws);
	json_decref(dotenv);
	if (rv == -1) {
		mcp_free(ms);
		return (NULL);
	}
	return (ms);
}

void
mcp_free(struct mcpset *ms)
{
	if (ms == NULL)
		return;
	json_decref(ms->servers);
	json_decref(ms->sources);
	wswatch_free(&ms->watch);
	free(ms);
}
