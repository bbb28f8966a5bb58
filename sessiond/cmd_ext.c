/*
 * cmd_ext: what a session is given besides the config (docs/commands.md,
 * "MCP servers, skills and agents"): /mcp, /skills (/tools) and its
 * enable|disable, /agents, /agent, /reload mcp, /reload skills.  Replies
 * as upstream's.  What needs the runtime is an operation of the channel
 * (chanop.h), which answers when the runtime did.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "chan.h"
#include "chanop.h"
#include "cmd.h"
#include "conf.h"
#include "hooks.h"
#include "store.h"
#include "tools.h"

#define CMD_EXT_LINE	200	/* bytes of an error or description shown */

/* The channel's effective config, its files loaded; -1 if not served. */
static int
cmd_ext_conf(struct cmdctx *x, struct chan_conf *cc)
{
	if (conf_channel(x->c->id, x->c->bot, x->c->dm, cc) == -1)
		return (-1);
	chanext_attach(x->c, cc->cwd);
	return (0);
}

/* An operation of the command, with data (stolen; NULL: {}). */
static struct chanop *
cmd_ext_op(struct cmdctx *x, json_t *data)
{
	struct chanop	*op;

	if (data == NULL)
		data = json_object();
	if (data == NULL || (op = chanop_new(x->c, x->root, x->msg, 0)) ==
	    NULL) {
		json_decref(data);
		return (NULL);
	}
	op->data = data;
	return (op);
}

/* text on one line, cut, into the stream; "" for NULL. */
static void
cmd_ext_line(FILE *f, const char *text)
{
	char	*l;

	if (text == NULL || (l = utf8_one_line(text, CMD_EXT_LINE)) == NULL)
		return;
	fputs(l, f);
	free(l);
}

/*
 * The text built in f, a memstream of *text, said and freed (the pointer
 * is only set by fclose(), so it is passed by address).
 */
static void
cmd_ext_done(struct chan *c, const char *root, FILE *f, char **text)
{
	if (fclose(f) == EOF) {
		free(*text);
		log_warnx("channel %s: out of memory: a reply is lost", c->id);
		return;
	}
	chan_say(c, root, *text);
	free(*text);
}

/* ---- /mcp ------------------------------------------------------------------ */

static void
cmd_mcp_status(FILE *f, const json_t *st)
{
	const char	*s = jx_str(st, "status");

	if (s == NULL)
		fputs("⚪ not started yet", f);
	else if (strcmp(s, "connected") == 0)
		fputs("🟢 connected", f);
	else if (strcmp(s, "failed") == 0) {
		fputs("🔴 failed: ", f);
		cmd_ext_line(f, jx_str(st, "error")[0] != '\0' ?
		    jx_str(st, "error") : "unknown error");
	} else if (strcmp(s, "pending") == 0)
		fputs("⏳ starting", f);
	else if (strcmp(s, "needs-auth") == 0)
		fputs("🔑 needs authentication", f);
	else
		fprintf(f, "⚪ %s", s);
}

/* Which of upstream's three groups a source is in. */
static int
cmd_mcp_group_of(const char *src)
{
	if (strcmp(src, "plugin") == 0 || strcmp(src, "user") == 0)
		return (0);
	return (strcmp(src, "workspace") == 0 ? 1 : 2);
}

/* The servers of one group, as upstream groups them. */
static void
cmd_mcp_group(FILE *f, const struct wsconf *ws, int group)
{
	static const char *const titles[] = { "**User** (plugin + user config)",
	    "**Workspace**", "**Workspace (overriding user)**" };
	const char	*name, *s;
	const json_t	*v;
	int		 n = 0;

	json_object_foreach(ws->mcp->sources, name, v) {
		s = json_string_value(v);
		if (cmd_mcp_group_of(s) != group)
			continue;
		if (n++ == 0)
			fprintf(f, "%s\n", titles[group]);
		fprintf(f, "• `%s`%s — ", name, strcmp(s, "plugin") == 0 ?
		    " _(plugin)_" : strcmp(s, "workspace (overriding plugin)") ==
		    0 ? " _(over a plugin's)_" : "");
		cmd_mcp_status(f, json_object_get(ws->status, name));
		fputc('\n', f);
	}
	if (n > 0)
		fputc('\n', f);
}

void
cmd_mcp(struct cmdctx *x)
{
	struct chan_conf	 cc;
	const struct wsconf	*ws = &x->c->ws;
	size_t			 len, total;
	char			*text = NULL;
	FILE			*f;

	if (cmd_ext_conf(x, &cc) == -1 || ws->mcp == NULL ||
	    (f = open_memstream(&text, &len)) == NULL)
		return;
	total = json_object_size(ws->mcp->servers);
	if (total == 0)
		fputs("🔌 No MCP servers configured.", f);
	else {
		fputs("🔌 **MCP Servers**\n\n", f);
		cmd_mcp_group(f, ws, 0);
		cmd_mcp_group(f, ws, 1);
		cmd_mcp_group(f, ws, 2);
		fprintf(f, "Total: %zu server(s)", total);
	}
	if (ws->err[0] != '\0') {
		fputs("\n\n⚠️ ", f);
		cmd_ext_line(f, ws->err);
		fputs(" — previous MCP servers kept", f);
	}
	cmd_ext_done(x->c, x->root, f, &text);
}

/* ---- /skills ------------------------------------------------------------- */

/*
 * /skills asks, in turn: the session's skills, each connected MCP
 * server's tools, the runtime's built-in tools; then lists it all.  A step
 * that fails is left out.  The operation's data: {skills, tools: {server:
 * [...]}, builtin, next: the servers still to ask, asked: the one asked}.
 */
static void	cmd_skills_step(struct chanop *);

static const char *
cmd_skills_source(const json_t *s)
{
	const char	*src = jx_stre(s, "source"), *path = jx_stre(s, "path");

	if (strcmp(src, "project") == 0 || strcmp(src, "workspace") == 0)
		return ("workspace");
	if (strcmp(src, "plugin") == 0 || strstr(path, "/installed-plugins/"))
		return ("plugin");
	if (strncmp(src, "personal", 8) == 0 || strcmp(src, "custom") == 0 ||
	    strcmp(src, "user") == 0)
		return ("user");
	return (src);
}

/* Is name in the channel's disabled_skills? */
static int
cmd_skill_disabled(const char *channel, const char *name)
{
	const char	*pref = store_prefs(channel)->disabled_skills;
	json_t		*list, *v;
	size_t		 i;
	int		 yes = 0;

	if (pref == NULL || (list = json_loads(pref, 0, NULL)) == NULL)
		return (0);
	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			yes = 1;
	json_decref(list);
	return (yes);
}

static void
cmd_skills_list(FILE *f, const char *channel, const json_t *skills,
    int disabled)
{
	const json_t	*s;
	size_t		 i;
	int		 n = 0, off;

	json_array_foreach(skills, i, s) {
		off = !jx_bool(s, "enabled", 1) || cmd_skill_disabled(channel,
		    jx_stre(s, "name"));
		if (off != disabled)
			continue;
		if (n++ == 0)
			fputs(disabled ? "🔴 **Disabled Skills**\n" :
			    "🟢 **Active Skills**\n", f);
		fprintf(f, "• `%s`", jx_stre(s, "name"));
		if (jx_stre(s, "description")[0] != '\0') {
			fputs(" — ", f);
			cmd_ext_line(f, jx_str(s, "description"));
		}
		fprintf(f, " _(%s)_\n", cmd_skills_source(s));
	}
	if (n > 0)
		fputc('\n', f);
}

static void
cmd_skills_mcp(FILE *f, const struct wsconf *ws, const json_t *tools)
{
	const char	*name;
	const json_t	*v, *t;
	size_t		 i;

	if (json_object_size(ws->mcp->servers) == 0)
		return;
	fputs("**MCP Servers**\n", f);
	json_object_foreach(ws->mcp->sources, name, v) {
		fprintf(f, "• `%s` _(%s)_ — ", name, json_string_value(v));
		cmd_mcp_status(f, json_object_get(ws->status, name));
		json_array_foreach(json_object_get(tools, name), i, t)
			fprintf(f, "%s`%s`", i == 0 ? ": " : ", ",
			    jx_stre(t, "name"));
		fputc('\n', f);
	}
	fputc('\n', f);
}

static void
cmd_skills_hooks(FILE *f, const struct hookset *hs)
{
	size_t	t;
	int	n = 0;

	for (t = 0; hs != NULL && t < HOOK_NTYPES; t++) {
		if (hs->ncmds[t] == 0)
			continue;
		if (n++ == 0)
			fputs("**Hooks**\n", f);
		fprintf(f, "• `%s`", hook_type_name(t));
		if (hs->ncmds[t] > 1)
			fprintf(f, " (%zu commands)", hs->ncmds[t]);
		fputc('\n', f);
	}
	if (n > 0)
		fputc('\n', f);
}

static void
cmd_skills_tools(FILE *f, const json_t *builtin)
{
	const json_t	*t;
	json_t		*mine;
	size_t		 i;

	if (json_array_size(builtin) > 0) {
		fprintf(f, "**Built-in Tools** (%zu)\n", json_array_size(builtin));
		json_array_foreach(builtin, i, t)
			fprintf(f, "%s`%s`", i == 0 ? "" : ", ", jx_stre(t, "name"));
		fputs("\n\n", f);
	}
	fputs("**Copilot Bridge Tools**", f);
	if ((mine = tools_decl()) != NULL)
		json_array_foreach(mine, i, t)
			fprintf(f, "\n• `%s`", jx_stre(t, "name"));
	json_decref(mine);
}

/* Everything is known: the listing, which ends the operation. */
static void
cmd_skills_show(struct chanop *op)
{
	struct chan	*c = op->c;
	const json_t	*data = op->data;
	const json_t	*skills = json_object_get(data, "skills");
	char		*text = NULL;
	size_t		 len;
	FILE		*f;

	if ((f = open_memstream(&text, &len)) == NULL) {
		chanop_free(op);
		return;
	}
	fputs("🧰 **Skills & Tools**\n\n", f);
	cmd_skills_list(f, c->id, skills, 0);
	cmd_skills_list(f, c->id, skills, 1);
	if (c->ws.mcp != NULL)
		cmd_skills_mcp(f, &c->ws, json_object_get(data, "tools"));
	cmd_skills_hooks(f, c->hooks.hs);
	cmd_skills_tools(f, json_object_get(data, "builtin"));
	if (json_array_size(skills) == 0 && (c->ws.mcp == NULL ||
	    json_object_size(c->ws.mcp->servers) == 0))
		fputs("\n\n_No skills or MCP servers configured. Add skills to "
		    "`~/.copilot/skills/` or MCP servers to "
		    "`~/.copilot/mcp-config.json`._", f);
	cmd_ext_done(c, op->root, f, &text);
	chanop_free(op);
}

static void
cmd_skills_builtin(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL)
		log_debug("channel %s: tools.list: %s", op->c->id, error);
	else
		(void)json_object_set(op->data, "builtin",
		    json_object_get(result, "tools"));
	cmd_skills_show(op);
}

static void
cmd_skills_mcptools(struct chanop *op, const json_t *result,
    const char *error)
{
	const char	*server = jx_str(op->data, "asked");

	if (error != NULL)
		log_debug("channel %s: tools of MCP server %s: %s", op->c->id,
		    server, error);
	else if (server != NULL)
		(void)json_object_set(json_object_get(op->data, "tools"),
		    server, json_object_get(result, "tools"));
	cmd_skills_step(op);
}

/* The next connected server's tools, else the built-in tools. */
static void
cmd_skills_step(struct chanop *op)
{
	json_t	*next = json_object_get(op->data, "next");

	while (json_array_size(next) > 0) {
		(void)json_object_set(op->data, "asked", json_array_get(next,
		    0));
		(void)json_array_remove(next, 0);
		if (chanop_call(op, "session.mcp.listTools", json_pack("{s:s}",
		    "serverName", jx_stre(op->data, "asked")),
		    cmd_skills_mcptools) == 0)
			return;
	}
	if (chanop_engine(op, "tools.list", json_object(),
	    cmd_skills_builtin) == -1)
		cmd_skills_show(op);
}

/* The skills are known: on to the MCP servers' tools. */
static void
cmd_skills_known(struct chanop *op)
{
	json_t		*next = json_array();
	const char	*name;
	const json_t	*st;

	json_object_foreach(op->c->ws.status, name, st)
		if (strcmp(jx_stre(st, "status"), "connected") == 0)
			(void)json_array_append_new(next, json_string(name));
	if (next == NULL || json_object_set_new(op->data, "next", next) == -1 ||
	    json_object_set_new(op->data, "tools", json_object()) == -1) {
		chanop_free(op);
		return;
	}
	cmd_skills_step(op);
}

/* The skills from disk, when the session cannot say. */
static json_t *
cmd_skills_disk(struct chan *c)
{
	struct chan_conf	cc;

	if (conf_channel(c->id, c->bot, c->dm, &cc) == -1)
		return (json_array());
	return (skills_list(getenv("HOME"), cc.cwd));
}

static void	cmd_skills_toggle(struct chanop *);

/* data.skills known: list them, or enable|disable some. */
static void
cmd_skills_then(struct chanop *op)
{
	if (jx_str(op->data, "action") != NULL)
		cmd_skills_toggle(op);
	else
		cmd_skills_known(op);
}

static void
cmd_skills_listed(struct chanop *op, const json_t *result, const char *error)
{
	json_t	*skills = json_object_get(result, "skills");

	if (error != NULL || !json_is_array(skills)) {
		log_debug("channel %s: session.skills.list: %s", op->c->id,
		    error != NULL ? error : "no skills");
		(void)json_object_set_new(op->data, "skills",
		    cmd_skills_disk(op->c));
	} else
		(void)json_object_set(op->data, "skills", skills);
	cmd_skills_then(op);
}

/* data.skills: the session's skills, or the disk's. */
static void
cmd_skills_get(struct chanop *op)
{
	if (chanop_call(op, "session.skills.list", NULL,
	    cmd_skills_listed) == -1)
		cmd_skills_listed(op, NULL, "no session");
}

/* ---- /skills enable|disable --------------------------------------------- */

/* The names of the skills, once each. */
static json_t *
cmd_skill_names(const json_t *skills)
{
	json_t		*names = json_array(), *n;
	const json_t	*s;
	size_t		 i, j;

	json_array_foreach(skills, i, s) {
		if (jx_str(s, "name") == NULL)
			continue;
		json_array_foreach(names, j, n)
			if (strcmp(json_string_value(n), jx_str(s, "name")) == 0)
				break;
		if (j == json_array_size(names))
			(void)json_array_append_new(names, json_string(
			    jx_str(s, "name")));
	}
	return (names);
}

/* The one skill target names: exact (any case), else the only substring. */
static const char *
cmd_skill_match(const json_t *names, const char *target, int *ambiguous)
{
	const json_t	*n;
	const char	*hit = NULL;
	size_t		 i, hits = 0;

	*ambiguous = 0;
	json_array_foreach(names, i, n)
		if (strcasecmp(json_string_value(n), target) == 0)
			return (json_string_value(n));
	json_array_foreach(names, i, n)
		if (strcasestr(json_string_value(n), target) != NULL) {
			hit = json_string_value(n);
			hits++;
		}
	*ambiguous = hits > 1;
	return (hits == 1 ? hit : NULL);
}

/* The channel's disabled skills, as an array to change. */
static json_t *
cmd_skill_pref(const char *channel)
{
	const char	*pref = store_prefs(channel)->disabled_skills;
	json_t		*list = pref != NULL ? json_loads(pref, 0, NULL) : NULL;

	if (!json_is_array(list)) {
		json_decref(list);
		list = json_array();
	}
	return (list);
}

static int
cmd_skill_set(json_t *list, const char *name, int disable)
{
	json_t	*v;
	size_t	 i;

	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			break;
	if (disable && i == json_array_size(list))
		return (json_array_append_new(list, json_string(name)));
	if (!disable && i < json_array_size(list))
		return (json_array_remove(list, i));
	return (0);
}

/*
 * Save the list (a preference, for every later create and resume) and
 * tell the live session of each name; -1 if it cannot be saved.
 */
static int
cmd_skill_save(struct chan *c, json_t *list, const json_t *names, int disable)
{
	const char	*method = disable ? "session.skills.disable" :
			    "session.skills.enable";
	const json_t	*n;
	char		*s;
	size_t		 i;
	int		 rc;

	if ((s = json_dumps(list, JSON_COMPACT)) == NULL)
		return (-1);
	rc = store_set_pref(c->id, "disabled_skills", s, NULL, NULL);
	free(s);
	if (rc == -1)
		return (-1);
	(void)chan_apply(c, 0);
	json_array_foreach(names, i, n)
		chanop_send(c, method, json_pack("{s:O}", "name", n));
	log_info("channel %s: skills %sd: %zu", c->id, disable ? "disable" :
	    "enable", json_array_size(names));
	return (0);
}

/* "all", alone: every skill known is disabled, or none is. */
static void
cmd_skills_all(struct chanop *op, const json_t *names, int disable)
{
	struct chan	*c = op->c;
	json_t	*list, *changed;
	char	 text[128];

	/* Disabling: the names are the new list; enabling: the old one. */
	list = disable ? json_deep_copy(names) : json_array();
	changed = disable ? json_incref((json_t *)names) : cmd_skill_pref(c->id);
	if (list == NULL || changed == NULL ||
	    cmd_skill_save(c, list, changed, disable) == -1)
		chanop_say(op, "❌ Skill command failed — database error.");
	else {
		if (disable)
			snprintf(text, sizeof(text), "🔴 Disabled all %zu skills.",
			    json_array_size(names));
		else
			snprintf(text, sizeof(text), "🟢 Enabled all skills.");
		chanop_say(op, text);
	}
	json_decref(list);
	json_decref(changed);
}

/* The reply: what was changed, what was ambiguous, what matched nothing. */
static void
cmd_skills_reply(struct chanop *op, const json_t *matched,
    const char *ambiguous, const char *missing, int disable)
{
	const json_t	*n;
	char		*text = NULL;
	size_t		 len, i;
	FILE		*f;

	if ((f = open_memstream(&text, &len)) == NULL)
		return;
	json_array_foreach(matched, i, n)
		fprintf(f, "%s`%s`", i == 0 ? (disable ? "🔴 Disabled " :
		    "🟢 Enabled ") : ", ", json_string_value(n));
	if (json_array_size(matched) > 0)
		fputc('.', f);
	if (ambiguous[0] != '\0')
		fprintf(f, "%s⚠️ Ambiguous: %s", json_array_size(matched) > 0 ?
		    " " : "", ambiguous);
	if (missing[0] != '\0')
		fprintf(f, "%s❌ No match: %s", json_array_size(matched) > 0 ||
		    ambiguous[0] != '\0' ? " " : "", missing);
	cmd_ext_done(op->c, op->root, f, &text);
}

/* "target" matches: `a` `b`, for an ambiguous target. */
static void
cmd_skill_ambiguous(FILE *f, const json_t *names, const char *target)
{
	const json_t	*n;
	size_t		 i;

	fprintf(f, "%s\"%s\" matches:", ftell(f) > 0 ? "; " : "", target);
	json_array_foreach(names, i, n)
		if (strcasestr(json_string_value(n), target) != NULL)
			fprintf(f, " `%s`", json_string_value(n));
}

/* Each target, matched against the skills known; the operation ends. */
static void
cmd_skills_toggle(struct chanop *op)
{
	struct chan	*c = op->c;
	const json_t	*data = op->data;
	json_t		*names = cmd_skill_names(json_object_get(data, "skills"));
	json_t		*list = cmd_skill_pref(c->id), *matched = json_array();
	const json_t	*t;
	const char	*name, *target;
	char		*amb = NULL, *miss = NULL;
	size_t		 i, alen, mlen;
	FILE		*af = NULL, *mf = NULL;
	int		 disable = strcmp(jx_stre(data, "action"), "disable") == 0;
	int		 ambiguous, bad;

	if (names == NULL || list == NULL || matched == NULL)
		goto done;
	if (jx_bool(data, "all", 0)) {
		cmd_skills_all(op, names, disable);
		goto done;
	}
	if ((af = open_memstream(&amb, &alen)) == NULL ||
	    (mf = open_memstream(&miss, &mlen)) == NULL)
		goto done;
	json_array_foreach(json_object_get(data, "targets"), i, t) {
		target = json_string_value(t);
		if ((name = cmd_skill_match(names, target, &ambiguous)) != NULL) {
			if (cmd_skill_set(list, name, disable) == -1 ||
			    json_array_append_new(matched, json_string(name)) == -1)
				goto done;
		} else if (ambiguous)
			cmd_skill_ambiguous(af, names, target);
		else
			fprintf(mf, "%s\"%s\"", ftell(mf) > 0 ? ", " : "", target);
	}
	bad = fclose(af) == EOF;
	bad |= fclose(mf) == EOF;
	af = mf = NULL;
	if (bad)
		goto done;
	if (json_array_size(matched) > 0 &&
	    cmd_skill_save(c, list, matched, disable) == -1)
		chanop_say(op, "❌ Skill command failed — database error.");
	else
		cmd_skills_reply(op, matched, amb, miss, disable);
done:
	if (af != NULL)
		(void)fclose(af);
	if (mf != NULL)
		(void)fclose(mf);
	free(amb);
	free(miss);
	json_decref(names);
	json_decref(list);
	json_decref(matched);
	chanop_free(op);
}

/* "enable a b", "disable all": data {action, targets}, or NULL. */
static json_t *
cmd_skills_args(struct cmdctx *x)
{
	const char	*p = x->arg, *w;
	json_t		*data, *targets;
	size_t		 n;

	for (n = 0; p[n] != '\0' && !isspace((unsigned char)p[n]); n++)
		;
	if (!((n == 6 && strncasecmp(p, "enable", 6) == 0) ||
	    (n == 7 && strncasecmp(p, "disable", 7) == 0)))
		return (NULL);
	if ((data = json_object()) == NULL || (targets = json_array()) ==
	    NULL || json_object_set_new(data, "targets", targets) == -1 ||
	    json_object_set_new(data, "action", json_string(n == 6 ? "enable" :
	    "disable")) == -1) {
		json_decref(data);
		return (NULL);
	}
	for (p += n; *p != '\0'; p += n) {
		while (isspace((unsigned char)*p))
			p++;
		for (w = p, n = 0; w[n] != '\0' && !isspace((unsigned char)w[n]);
		    n++)
			;
		if (n > 0 && json_array_append_new(targets, json_stringn(w,
		    n)) == -1) {
			json_decref(data);
			return (NULL);
		}
	}
	if (json_array_size(targets) == 0) {
		json_decref(data);
		return (NULL);
	}
	return (data);
}

void
cmd_skills(struct cmdctx *x)
{
	struct chan_conf	 cc;
	struct chanop		*op;
	json_t			*data, *t;
	size_t			 i;

	if (cmd_ext_conf(x, &cc) == -1)
		return;
	data = cmd_skills_args(x);
	json_array_foreach(json_object_get(data, "targets"), i, t)
		if (strcasecmp(json_string_value(t), "all") == 0) {
			if (json_array_size(json_object_get(data,
			    "targets")) > 1) {
				cmd_say(x, "⚠️ `all` cannot be combined with "
				    "other skill names.");
				json_decref(data);
				return;
			}
			(void)json_object_set_new(data, "all", json_true());
		}
	if ((op = cmd_ext_op(x, data)) != NULL)
		cmd_skills_get(op);
}

/* ---- /agents, /agent --------------------------------------------------- */

/* The first line of the prompt that is not a heading, for /agents. */
static void
cmd_agents_desc(FILE *f, const struct agent *a)
{
	const char	*p = a->prompt, *e;
	char		*line;

	if (a->description[0] != '\0') {
		fputs(" — ", f);
		cmd_ext_line(f, a->description);
		return;
	}
	for (; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, "\n");
		while (p < e && isspace((unsigned char)*p))
			p++;
		if (p == e || *p == '#')
			continue;
		if ((line = strndup(p, (size_t)(e - p))) != NULL) {
			fputs(" — ", f);
			cmd_ext_line(f, line);
			free(line);
		}
		return;
	}
}

void
cmd_agents(struct cmdctx *x)
{
	struct chan_conf	 cc;
	const struct agentset	*as;
	char			*text = NULL;
	size_t			 len, i;
	FILE			*f;

	if (cmd_ext_conf(x, &cc) == -1)
		return;
	if (cc.cwd == NULL) {
		cmd_say(x, "⚠️ No workspace configured for this channel.");
		return;
	}
	if ((as = x->c->ws.agents) == NULL || as->n == 0) {
		cmd_say(x, "No agent definitions found.\nPlace `*.agent.md` "
		    "files in `<workspace>/agents/`, `<workspace>/.github/"
		    "agents/`, `~/.copilot/agents/`, or install a plugin with "
		    "agents.");
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL)
		return;
	fputs("**Available Agents**\n", f);
	for (i = 0; i < as->n; i++) {
		fprintf(f, "\n• **%s** (%s)", as->v[i].name, as->v[i].source);
		cmd_agents_desc(f, &as->v[i]);
		if (cc.agent != NULL && strcmp(cc.agent, as->v[i].name) == 0)
			fputs(" ← current", f);
	}
	if (cc.agent != NULL && agents_find(as, cc.agent) == NULL)
		fprintf(f, "\n\n⚠️ Current agent **%s** has no definition file.",
		    cc.agent);
	cmd_ext_done(x->c, x->root, f, &text);
}

/* The runtime's answer to select or deselect (op->text: the agent). */
static void
cmd_agent_done(struct chanop *op, const json_t *result, const char *error)
{
	const char	*agent = op->text;
	char		 text[256];

	if (agent != NULL)
		snprintf(text, sizeof(text), "✅ Switched to agent **%s**",
		    agent);
	else
		snprintf(text, sizeof(text), "✅ Agent deselected (using "
		    "default Copilot)");
	if (error == NULL)
		chanop_say(op, text);
	else if (agent != NULL && strcasestr(error, "not found") != NULL &&
	    strcasestr(error, "agent") != NULL) {
		/* As upstream: the session does not know it; a new one will. */
		log_info("channel %s: agent %s not in the session; a new "
		    "session takes it", op->c->id, agent);
		chan_new_session(op->c, op->root);
		chanop_say(op, text);
	} else {
		log_warnx("channel %s: switching the agent failed: %s",
		    op->c->id, error);
		chanop_say(op, "❌ Failed to switch agent. Check logs for "
		    "details.");
	}
	chanop_free(op);
}

/*
 * /agent NAME selects a defined agent, /agent alone deselects; both are
 * kept as the channel's preference ("" for none, over the config's), go
 * with every later create and resume, and reach the live session now.
 */
void
cmd_agent(struct cmdctx *x)
{
	struct chan_conf	 cc;
	const struct agentset	*as;
	const char		*name = x->arg[0] != '\0' ? x->arg : NULL;
	struct chanop		*op;
	char			*text = NULL;
	size_t			 len, i;
	FILE			*f;

	if (cmd_ext_conf(x, &cc) == -1)
		return;
	as = x->c->ws.agents;
	if (name != NULL && agents_find(as, name) == NULL) {
		if ((f = open_memstream(&text, &len)) == NULL)
			return;
		fprintf(f, "⚠️ Agent **%s** not found.\n", name);
		for (i = 0; as != NULL && i < as->n; i++)
			fprintf(f, "%s**%s**", i == 0 ? "Available agents: " :
			    ", ", as->v[i].name);
		if (as == NULL || as->n == 0)
			fputs("No agent definitions found.", f);
		cmd_ext_done(x->c, x->root, f, &text);
		return;
	}
	if (store_set_pref(x->c->id, "agent", name != NULL ? name : "", NULL,
	    NULL) == -1) {
		cmd_say(x, "❌ Failed to switch agent. Check logs for details.");
		return;
	}
	(void)chan_apply(x->c, 0);
	if ((op = cmd_ext_op(x, NULL)) == NULL)
		return;
	if (name != NULL && (op->text = strdup(name)) == NULL) {
		chanop_free(op);
		return;
	}
	if (chanop_call(op, name != NULL ? "session.agent.select" :
	    "session.agent.deselect", name != NULL ? json_pack("{s:s}", "name",
	    name) : NULL, cmd_agent_done) == -1)
		/* No live session: the next one opens with it. */
		cmd_agent_done(op, NULL, NULL);
}

/* ---- /reload mcp, /reload skills ---------------------------------------- */

static void
cmd_reload_done(struct chanop *op, const json_t *result, const char *error)
{
	const char	*what = op->flags ? "MCP" : "Skills";
	char		 text[1024];

	if (error != NULL && strcasestr(error, "unhandled method") == NULL &&
	    strcasestr(error, "method not found") == NULL &&
	    strcasestr(error, "session not found") == NULL) {
		log_warnx("channel %s: %s reload failed: %s", op->c->id,
		    op->flags ? "MCP" : "skills", error);
		snprintf(text, sizeof(text), "❌ %s reload failed: %s", what,
		    error);
		chanop_say(op, text);
	} else if (error != NULL && chan_apply(op->c, 1) == -1) {
		/* A runtime without the method: the same session, again. */
		snprintf(text, sizeof(text), "❌ %s reload failed: %s", what,
		    error);
		chanop_say(op, text);
	} else
		chanop_say(op, op->flags ? "✅ MCP servers reloaded." :
		    "✅ Skills reloaded.");
	chanop_free(op);
}

/*
 * Read the files again; what changed reaches the session as a save
 * would.  Then, when nothing about them changed, the runtime's own reload
 * (session.mcp.reload restarts every server; session.skills.reload reads
 * the skills again).
 */
static void
cmd_reload_ext(struct cmdctx *x, int mcp)
{
	struct chanop	*op;
	char		 msg[1024];
	int		 changed;
	int		 opts = mcp ? WSCONF_OPTS : WSCONF_SKILLDIRS;

	changed = chanext_reload(x->c, mcp ? "/reload mcp" : "/reload skills",
	    1, msg, sizeof(msg));
	if (changed == -1 || (mcp && x->c->ws.err[0] != '\0')) {
		cmd_sayf(x, "❌ %s reload failed: %s", mcp ? "MCP" : "Skills",
		    msg + strlen("❌ "));
		return;
	}
	if ((op = cmd_ext_op(x, NULL)) == NULL)
		return;
	op->flags = mcp;
	if ((changed & opts) != 0 || (!mcp && (changed & WSCONF_SKILLS)) ||
	    chanop_call(op, mcp ? "session.mcp.reload" :
	    "session.skills.reload", NULL, cmd_reload_done) == -1)
		/* Applied already, or no live session: it opens with them. */
		cmd_reload_done(op, NULL, NULL);
}

void
cmd_reload_mcp(struct cmdctx *x)
{
	cmd_reload_ext(x, 1);
}

void
cmd_reload_skills(struct cmdctx *x)
{
	cmd_reload_ext(x, 0);
}
