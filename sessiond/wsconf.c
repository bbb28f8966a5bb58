/*
 * wsconf: a channel's MCP servers, agents, skills and appended system
 * message, as loaded for its working directory, and the watch on the
 * directories they came from (wsconf.h).  A reload reads everything
 * again and says what changed; the channel applies that to its session
 * (chanext.c).  An MCP file that does not parse keeps the servers in
 * force, as a broken hooks.json keeps the hooks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/util.h"
#include "conf.h"
#include "wsconf.h"

/* The names, in a watched directory, whose change may change a load. */
int
wsconf_match(const char *name)
{
	static const char *const names[] = { "mcp-config.json", ".mcp.json",
	    ".env", "AGENTS.local.md", "SKILL.md", "agents", "skills", ".github",
	    ".agents", ".copilot", "installed-plugins" };
	static const char	suffix[] = ".agent.md";
	size_t			i, n = strlen(name);

	for (i = 0; i < nitems(names); i++)
		if (strcmp(name, names[i]) == 0)
			return (1);
	return (n > sizeof(suffix) - 1 &&
	    strcmp(name + n - (sizeof(suffix) - 1), suffix) == 0);
}

/* Every loader's directories, once each, for dirwatch_set(). */
static int
wsconf_watch(void *owner, const struct wswatch *const *w, size_t nw,
    dirwatch_cb cb)
{
	struct wswatch		 all;
	struct dirwatch_dir	*d = NULL;
	size_t			 i, j, n;
	int			 rc = -1;

	memset(&all, 0, sizeof(all));
	for (i = 0; i < nw; i++) {
		for (j = 0; j < w[i]->nany; j++)
			if (wswatch_add(&all, w[i]->any[j], 1) == -1)
				goto done;
		for (j = 0; j < w[i]->ndirs; j++)
			if (wswatch_add(&all, w[i]->dirs[j], 0) == -1)
				goto done;
	}
	n = all.nany + all.ndirs;
	if (n > 0 && (d = calloc(n, sizeof(*d))) == NULL)
		goto done;
	for (i = 0; i < all.nany; i++)
		d[i].path = all.any[i];
	for (i = 0; i < all.ndirs; i++) {
		d[all.nany + i].path = all.dirs[i];
		d[all.nany + i].match = wsconf_match;
	}
	rc = dirwatch_set(owner, d, n, cb);
done:
	free(d);
	wswatch_free(&all);
	return (rc);
}

/* What a new load changes against the one in force. */
static int
wsconf_diff(const struct wsconf *ws, const struct mcpset *mcp,
    const json_t *custom, const struct skillset *sk, const json_t *sysmsg)
{
	int	d = 0;

	if (ws->cwd == NULL)
		return (WSCONF_OPTS | WSCONF_SKILLS);
	if (!json_equal(ws->mcp->servers, mcp->servers))
		d |= WSCONF_MCP;
	if (!json_equal(ws->custom, custom))
		d |= WSCONF_AGENTS;
	if (!json_equal(ws->skills->dirs, sk->dirs))
		d |= WSCONF_SKILLDIRS;
	if (!json_equal(ws->skills->sig, sk->sig))
		d |= WSCONF_SKILLS;
	if (!json_equal(ws->sysmsg, sysmsg))
		d |= WSCONF_INSTR;
	return (d);
}

/* ms gets the servers of old (its watch stays its own). */
static int
wsconf_keep(struct mcpset *ms, const struct mcpset *old)
{
	json_t	*servers, *sources;

	if ((servers = json_deep_copy(old->servers)) == NULL)
		return (-1);
	if ((sources = json_deep_copy(old->sources)) == NULL) {
		json_decref(servers);
		return (-1);
	}
	json_decref(ms->servers);
	json_decref(ms->sources);
	ms->servers = servers;
	ms->sources = sources;
	return (0);
}

/* A new load, read in full. */
struct wsload {
	struct mcpset	*mcp;
	struct agentset	*agents;
	struct skillset	*sk;
	struct wswatch	 iw;		/* instr.c's directories */
	json_t		*custom;
	json_t		*sysmsg;
	char		*cwd;
};

static void
wsload_free(struct wsload *l)
{
	mcp_free(l->mcp);
	agents_free(l->agents);
	skills_free(l->sk);
	wswatch_free(&l->iw);
	json_decref(l->custom);
	json_decref(l->sysmsg);
	free(l->cwd);
}

/* Read everything for cwd into l; -1 when out of memory. */
static int
wsload_read(struct wsload *l, const char *cwd)
{
	const char		*secrets[256], *home = getenv("HOME");
	struct mcp_where	 mw;

	memset(l, 0, sizeof(*l));
	memset(&mw, 0, sizeof(mw));
	mw.home = home;
	mw.cwd = cwd;
	mw.secrets = secrets;
	mw.nsecrets = conf_get() == NULL ? 0 : rtenv_secret_names(
	    conf_get()->root, secrets, nitems(secrets));
	if ((l->mcp = mcp_load(&mw)) == NULL ||
	    (l->agents = agents_load(home, cwd)) == NULL ||
	    (l->custom = agents_custom(l->agents)) == NULL ||
	    (l->sk = skills_load(home, cwd)) == NULL ||
	    (l->sysmsg = instr_system_message(cwd, &l->iw)) == NULL ||
	    (l->cwd = strdup(cwd != NULL ? cwd : "")) == NULL)
		return (-1);
	return (0);
}

/* l becomes ws's (l is left empty). */
static void
wsload_install(struct wsconf *ws, struct wsload *l)
{
	mcp_free(ws->mcp);
	agents_free(ws->agents);
	skills_free(ws->skills);
	json_decref(ws->custom);
	json_decref(ws->sysmsg);
	free(ws->cwd);
	ws->mcp = l->mcp;
	ws->agents = l->agents;
	ws->skills = l->sk;
	ws->custom = l->custom;
	ws->sysmsg = l->sysmsg;
	ws->cwd = l->cwd;
	l->mcp = NULL;
	l->agents = NULL;
	l->sk = NULL;
	l->custom = l->sysmsg = NULL;
	l->cwd = NULL;
}

int
wsconf_load(struct wsconf *ws, void *owner, const char *cwd, dirwatch_cb cb)
{
	struct wsload		 l;
	const struct wswatch	*w[4];
	int			 changed = -1;

	if (wsload_read(&l, cwd) == -1 ||
	    (ws->status == NULL && (ws->status = json_object()) == NULL))
		goto done;
	/* Reloading the same workspace, the servers in force stay. */
	if (l.mcp->err[0] != '\0' && ws->mcp != NULL &&
	    wsconf_current(ws, cwd) && wsconf_keep(l.mcp, ws->mcp) == -1)
		goto done;
	snprintf(ws->err, sizeof(ws->err), "%s", l.mcp->err);
	changed = wsconf_diff(ws, l.mcp, l.custom, l.sk, l.sysmsg);
	w[0] = &l.mcp->watch;
	w[1] = &l.agents->watch;
	w[2] = &l.sk->watch;
	w[3] = &l.iw;
	if (cb != NULL && wsconf_watch(owner, w, nitems(w), cb) == -1)
		log_warnx("%s: some directories are not watched: saves there "
		    "need /reload mcp or /reload skills", cwd != NULL ? cwd :
		    "~/.copilot");
	wsload_install(ws, &l);
	if (changed != 0)
		ws->gen++;
done:
	wsload_free(&l);
	return (changed);
}

int
wsconf_current(const struct wsconf *ws, const char *cwd)
{
	return (ws->cwd != NULL && strcmp(ws->cwd, cwd != NULL ? cwd : "") ==
	    0);
}

int
wsconf_extra(const struct wsconf *ws, json_t *x)
{
	if (ws->cwd == NULL)
		return (0);
	/*
	 * As upstream: the runtime also finds what the workspace holds
	 * (.github/skills, AGENTS.md); what is given here wins.
	 */
	if (json_object_set_new(x, "enableConfigDiscovery", json_true()) == -1 ||
	    json_object_set(x, "mcpServers", ws->mcp->servers) == -1 ||
	    json_object_set(x, "customAgents", ws->custom) == -1 ||
	    json_object_set(x, "skillDirectories", ws->skills->dirs) == -1 ||
	    json_object_set(x, "systemMessage", ws->sysmsg) == -1)
		return (-1);
	return (0);
}

/* The status of one server, as the runtime says it; logged when it fails. */
static void
wsconf_set_status(struct wsconf *ws, const char *channel, const char *name,
    const char *status, const char *error)
{
	json_t		*old = json_object_get(ws->status, name), *o;
	const char	*was = jx_str(old, "status");

	if (name == NULL || status == NULL)
		return;
	if (strcmp(status, "failed") == 0 && (was == NULL ||
	    strcmp(was, "failed") != 0 || strcmp(jx_stre(old, "error"),
	    error != NULL ? error : "") != 0))
		log_warnx("channel %s: MCP server \"%s\" failed: %s", channel,
		    name, error != NULL ? error : "unknown error");
	else if (was == NULL || strcmp(was, status) != 0)
		log_info("channel %s: MCP server \"%s\": %s", channel, name,
		    status);
	if ((o = json_pack("{s:s,s:s}", "status", status, "error",
	    error != NULL ? error : "")) == NULL ||
	    json_object_set_new(ws->status, name, o) == -1)
		log_warnx("channel %s: out of memory: the status of MCP server "
		    "\"%s\" is not kept", channel, name);
}

void
wsconf_status(struct wsconf *ws, const char *channel, const char *type,
    const json_t *data)
{
	const json_t	*s;
	size_t		 i;

	if (ws->status == NULL)
		return;
	if (strcmp(type, "session.mcp_servers_loaded") == 0) {
		json_array_foreach(json_object_get(data, "servers"), i, s)
			wsconf_set_status(ws, channel, jx_str(s, "name"),
			    jx_str(s, "status"), jx_str(s, "error"));
	} else if (strcmp(type, "session.mcp_server_status_changed") == 0)
		wsconf_set_status(ws, channel, jx_str(data, "serverName"),
		    jx_str(data, "status"), jx_str(data, "error"));
	else if (strcmp(type, "session.mcp_server_removed") == 0)
		(void)json_object_del(ws->status, jx_stre(data, "serverName"));
}

void
wsconf_drop(struct wsconf *ws, void *owner)
{
	dirwatch_remove(owner);
	mcp_free(ws->mcp);
	agents_free(ws->agents);
	skills_free(ws->skills);
	json_decref(ws->custom);
	json_decref(ws->sysmsg);
	json_decref(ws->status);
	free(ws->cwd);
	memset(ws, 0, sizeof(*ws));
}
