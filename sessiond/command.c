/*
 * command: what a message for a channel is, and the chat commands' table
 * (docs/commands.md).
 *
 * As upstream: a command is the trimmed text's first word after "/",
 * lower-cased; the rest, trimmed, is its argument.  A "/word" not in the
 * table is not a command: the text goes to Copilot as typed.
 *
 * In this order: a question of the agent takes the message as its answer;
 * a pending permission prompt is answered by /approve, yes, y, approve,
 * /deny, no, n, deny, /remember, /always approve, /always deny, and any
 * other message denies it and goes on; then a command runs at once (when
 * no turn runs, or when it is one that may run mid-turn) or waits behind
 * the turn; plain text answers the agent's request to leave plan mode
 * (plan.c), steers a running turn, or waits in the queue.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/util.h"
#include "chan.h"
#include "cmd.h"
#include "conf.h"
#include "files.h"
#include "plan.h"
#include "thread.h"

static const struct cmd_def cmd_table[] = {
	{ "new", NULL, CMD_NOW, cmd_new, "/new", "start a new session", 0 },
	{ "stop", NULL, CMD_NOW, cmd_stop, "/stop", "stop the running task "
	    "(also `/cancel`)", 0 },
	{ "cancel", NULL, CMD_NOW, cmd_stop, NULL, NULL, 0 },
	{ "reload", "config", CMD_TURN, cmd_reload_config, "/reload config",
	    "re-read config.json (admins)", 0 },
	{ "reload", "bot", CMD_TURN, cmd_reload_bot, "/reload bot NAME",
	    "replace a bot's worker live (admins)", 0 },
	{ "reload", "platform", CMD_TURN, cmd_reload_platform,
	    "/reload platform NAME", "replace every bot's worker of a platform "
	    "live (admins)", 0 },
	{ "reload", "hooks", CMD_NOW, cmd_reload_hooks, "/reload hooks",
	    "re-read hooks.json", 0 },
	/* cmd_ext.c */
	{ "reload", "mcp", CMD_NOW, cmd_reload_mcp, "/reload mcp",
	    "re-read MCP servers (the session stays)", 0 },
	{ "reload", "skills", CMD_NOW, cmd_reload_skills, "/reload skills",
	    "re-read skills (the session stays)", 0 },
	{ "mcp", NULL, CMD_SAFE, cmd_mcp, "/mcp",
	    "MCP servers, where they come from, their status", 0 },
	{ "skills", NULL, CMD_SAFE, cmd_skills, "/skills",
	    "skills, MCP tools, hooks and built-in tools (also `/tools`)", 0 },
	{ "skills", NULL, CMD_SAFE, cmd_skills, "/skills enable|disable "
	    "NAME...|all", "turn skills on or off for this channel", 1 },
	{ "tools", NULL, CMD_SAFE, cmd_skills, NULL, NULL, 0 },
	{ "agents", NULL, CMD_SAFE, cmd_agents, "/agents",
	    "the custom agents (*.agent.md)", 0 },
	{ "agent", NULL, CMD_TURN, cmd_agent, "/agent [NAME]",
	    "switch the custom agent (none: the default)", 0 },
	{ "reload", NULL, CMD_TURN, cmd_reload, "/reload",
	    "re-attach the session with a fresh config", 0 },
	{ "status", NULL, CMD_SAFE, cmd_status, "/status", "session info", 0 },
	/* cmd_model.c, cmd_provider.c, cmd_info.c */
	{ "model", NULL, CMD_SAFE, cmd_model, "/model [name]",
	    "list models, or switch (fuzzy match; also `/models`)", 0 },
	{ "models", NULL, CMD_SAFE, cmd_model, NULL, NULL, 0 },
	{ "config", NULL, CMD_TURN, cmd_config, "/config",
	    "the channel's effective settings and where each comes from", 0 },
	{ "context", NULL, CMD_SAFE, cmd_context, "/context",
	    "context window usage", 0 },
	{ "verbose", NULL, CMD_SAFE, cmd_verbose, "/verbose [on|off]",
	    "toggle the tool activity feed", 0 },
	{ "resume", NULL, CMD_TURN, cmd_resume, "/resume [id]",
	    "list this workspace's past sessions, or resume one by id prefix",
	    1 },
	{ "reasoning", NULL, CMD_TURN, cmd_reasoning, "/reasoning LEVEL",
	    "set reasoning effort (low, medium, high, xhigh)", 1 },
	{ "provider", NULL, CMD_TURN, cmd_provider, "/provider [test NAME]",
	    "list BYOK providers, or test one (also `/providers`)", 1 },
	{ "providers", NULL, CMD_TURN, cmd_provider, NULL, NULL, 0 },
	{ "streamer-mode", NULL, CMD_SAFE, cmd_streamer_mode,
	    "/streamer-mode [on|off]", "hide preview and internal models "
	    "(also `/on-air`)", 1 },
	{ "on-air", NULL, CMD_SAFE, cmd_streamer_mode, NULL, NULL, 0 },
	{ "help", NULL, CMD_SAFE, cmd_help, "/help [all]", "this list", 0 },
	{ "approve", NULL, CMD_NOW, cmd_approve, "/approve",
	    "allow the pending permission request", 0 },
	{ "deny", NULL, CMD_NOW, cmd_deny, "/deny",
	    "deny the pending permission request", 0 },
	{ "always", "approve", CMD_NOW, cmd_always_approve, "/always approve",
	    "allow it and remember the rule", 0 },
	{ "always", "deny", CMD_NOW, cmd_always_deny, "/always deny",
	    "deny it and remember the rule", 0 },
	/* cmd_perm.c, cmd_plan.c; "/remember list|clear" before "/remember" */
	{ "rules", "clear", CMD_TURN, cmd_rules_clear, "/rules clear [SPEC]",
	    "forget this channel's stored rules (all, or one)", 1 },
	{ "rules", NULL, CMD_TURN, cmd_rules, "/rules",
	    "the permission rules in force", 0 },
	{ "rule", "clear", CMD_TURN, cmd_rules_clear, NULL, NULL, 0 },
	{ "rule", NULL, CMD_TURN, cmd_rules, NULL, NULL, 0 },
	{ "remember", "list", CMD_TURN, cmd_rules, NULL, NULL, 0 },
	{ "remember", "clear", CMD_TURN, cmd_rules_clear, NULL, NULL, 0 },
	{ "yolo", NULL, CMD_SAFE, cmd_yolo, "/yolo",
	    "approve every permission request but the hard-coded denies "
	    "(toggle)", 0 },
	{ "autopilot", NULL, CMD_TURN, cmd_autopilot, "/autopilot",
	    "the agent works on by itself until done (toggle; also `/auto`)",
	    0 },
	{ "auto", NULL, CMD_TURN, cmd_autopilot, NULL, NULL, 0 },
	{ "plan", NULL, CMD_NOW, cmd_plan, "/plan [on|off|show|summary|clear]",
	    "plan mode (toggle), the session's plan", 0 },
	{ "implement", NULL, CMD_NOW, cmd_implement,
	    "/implement [yolo|interactive]", "implement the plan", 0 },
	{ "remember", NULL, CMD_NOW, cmd_remember, NULL, NULL, 0 },
	{ "schedule", NULL, CMD_TURN, cmd_schedule,
	    "/schedule [list|cancel|pause|resume|history] [id|n]",
	    "scheduled tasks (also `/schedules`, `/tasks`)", 0 },
	{ "schedules", NULL, CMD_TURN, cmd_schedule, NULL, NULL, 0 },
	{ "tasks", NULL, CMD_TURN, cmd_schedule, NULL, NULL, 0 },
};

const struct cmd_def *
command_table(size_t *n)
{
	*n = nitems(cmd_table);
	return (cmd_table);
}

static const char *
command_skip_space(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return (s);
}

/* Does arg start with the word w (case-insensitive, then end or space)? */
static const char *
command_word(const char *arg, const char *w)
{
	size_t	n = strlen(w);

	if (strncasecmp(arg, w, n) != 0 ||
	    (arg[n] != '\0' && !isspace((unsigned char)arg[n])))
		return (NULL);
	return (command_skip_space(arg + n));
}

/*
 * The command text is, or NULL.  *arg (if not NULL) gets a malloc'd copy
 * of the argument, trimmed (out of memory: NULL, and no command).
 */
const struct cmd_def *
command_parse(const char *text, char **arg)
{
	const char	*p = command_skip_space(text != NULL ? text : ""), *rest;
	const char	*a;
	char		 name[32];
	size_t		 n, i, len;

	if (arg != NULL)
		*arg = NULL;
	if (*p++ != '/')
		return (NULL);
	for (n = 0; p[n] != '\0' && !isspace((unsigned char)p[n]); n++)
		;
	if (n == 0 || n >= sizeof(name))
		return (NULL);
	for (i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)p[i]);
	name[n] = '\0';
	rest = command_skip_space(p + n);
	for (i = 0; i < nitems(cmd_table); i++) {
		if (strcmp(cmd_table[i].name, name) != 0)
			continue;
		a = rest;
		if (cmd_table[i].sub != NULL &&
		    (a = command_word(rest, cmd_table[i].sub)) == NULL)
			continue;
		if (arg != NULL) {
			len = strlen(a);
			while (len > 0 && isspace((unsigned char)a[len - 1]))
				len--;
			if ((*arg = strndup(a, len)) == NULL)
				return (NULL);
		}
		return (&cmd_table[i]);
	}
	return (NULL);
}

int
command_bool(const char *s)
{
	static const char *const yes[] = { "on", "true", "yes", "1", "enable",
			    "enabled" };
	static const char *const no[] = { "off", "false", "no", "0", "disable",
			    "disabled" };
	size_t	i;

	for (i = 0; i < nitems(yes); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return (1);
	for (i = 0; i < nitems(no); i++)
		if (strcasecmp(s, no[i]) == 0)
			return (0);
	return (-1);
}

void
cmd_say(struct cmdctx *x, const char *text)
{
	chan_say(x->c, x->root, text);
}

void
cmd_sayf(struct cmdctx *x, const char *fmt, ...)
{
	va_list	 ap;
	char	*text;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n == -1) {
		log_warnx("channel %s: out of memory: a reply is lost", x->c->id);
		return;
	}
	chan_say(x->c, x->root, text);
	free(text);
}

/* Run msg's command (def) now. */
static void
command_run(struct chan *c, const struct cmd_def *def, json_t *msg,
    const char *arg)
{
	struct cmdctx	x;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.msg = msg;
	x.root = jx_stre(msg, "_root");
	x.name = def->name;
	x.arg = arg != NULL ? arg : "";
	log_debug("channel %s: /%s%s%s", c->id, def->name, def->sub != NULL ?
	    " " : "", def->sub != NULL ? def->sub : "");
	def->run(&x);
}

void
command_defer(struct cmdctx *x)
{
	if (json_object_set_new(x->msg, "_cmd", json_true()) == -1 ||
	    chan_enqueue(x->c, x->msg) == -1)
		return;
	chan_run(x->c);
}

/* A queued command's turn came (channel.c's hook). */
static void
command_queued(struct chan *c, json_t *msg)
{
	const struct cmd_def	*def;
	char			*arg;

	if ((def = command_parse(jx_str(msg, "text"), &arg)) == NULL)
		return;
	command_run(c, def, msg, arg);
	free(arg);
}

static const struct chan_hooks command_hooks = {
	.command = command_queued,
};

void
command_init(void)
{
	chan_init_hooks(&command_hooks);
}

/*
 * A pending permission prompt takes the words that answer it; anything
 * else denies it and goes on (1: the message was the answer).
 */
static int
command_answers_prompt(struct chan *c, const char *text)
{
	static const struct {
		const char	*word;
		int		 approve, remember;
	} w[] = {
		{ "/approve", 1, 0 }, { "yes", 1, 0 }, { "y", 1, 0 },
		{ "approve", 1, 0 }, { "/deny", 0, 0 }, { "no", 0, 0 },
		{ "n", 0, 0 }, { "deny", 0, 0 }, { "/remember", 1, 1 },
		{ "/always approve", 1, 1 }, { "/always deny", 0, 1 },
	};
	const char	*t = command_skip_space(text);
	char		 lower[32];
	size_t		 i, n = strlen(t);

	if (!perm_pending(c))
		return (0);
	while (n > 0 && isspace((unsigned char)t[n - 1]))
		n--;
	for (i = 0; i < n && i < sizeof(lower) - 1; i++)
		lower[i] = (char)tolower((unsigned char)t[i]);
	lower[i] = '\0';
	for (i = 0; n < sizeof(lower) && i < nitems(w); i++)
		if (strcmp(lower, w[i].word) == 0) {
			(void)perm_answer_first(c, w[i].approve,
			    w[i].remember && !perm_is_hook(c));
			return (1);
		}
	(void)perm_answer_first(c, 0, 0);
	return (0);
}

/*
 * Where m is answered, the one place a message is given its session: its
 * reply root (set as "_root") and the key of its session (*key, pointing
 * into m; NULL: the channel's own).  As upstream, a reply stays in its
 * thread, and a new post starts one when the channel threads its replies
 * or the message asks (🧵, :thread:, "reply in thread", taken out of the
 * text first).  With threadSessions a thread has a session of its own,
 * keyed by its root: a message in a thread goes to the thread's, and so
 * does a new post that starts a thread, unless it is a command (a command
 * at the top level is the channel's).  Returns 0; 1 when nothing is left
 * to answer (a bare trigger); -1 when out of memory.
 */
static int
command_place(json_t *m, const struct chan_conf *cc, const char **key)
{
	const char	*root = jx_str(m, "root"), *reply;
	char		*text;
	int		 asked, top = root == NULL || *root == '\0';

	*key = NULL;
	if ((text = strdup(jx_stre(m, "text"))) == NULL)
		return (-1);
	if ((asked = thread_strip(text)) && json_object_set_new(m, "text",
	    json_string(text)) == -1) {
		free(text);
		return (-1);
	}
	if (asked && *text == '\0' &&
	    json_array_size(json_object_get(m, "files")) == 0) {
		free(text);
		return (1);
	}
	reply = !top ? root : asked || cc->threaded ?
	    thread_post(jx_stre(m, "id"), jx_stre(m, "channel")) : "";
	if (json_object_set_new(m, "_root", json_string(reply)) == -1) {
		free(text);
		return (-1);
	}
	if (cc->thread_sessions && *reply != '\0' &&
	    (!top || command_parse(text, NULL) == NULL))
		*key = jx_str(m, "_root");
	free(text);
	return (0);
}

void
command_inbound(const char *bot, json_t *m, const struct chan_conf *cc)
{
	const char		*id = jx_stre(m, "id"), *key, *text;
	const struct cmd_def	*def;
	struct chan		*c;
	char			*arg;
	int			 rc;

	if ((rc = command_place(m, cc, &key)) == 1) {
		log_debug("inbound %s: only a thread trigger, dropped", id);
		return;
	}
	if (rc == -1 || (c = chan_get_thread(jx_stre(m, "channel"), key,
	    bot)) == NULL) {
		log_warnx("%s: out of memory: message %s is dropped", __func__,
		    id);
		return;
	}
	if (key != NULL)
		chan_trim(c);
	c->dm = cc->dm;
	text = jx_stre(m, "text");
	log_debug("inbound %s in %s%s%s from %s", id, c->id, key != NULL ?
	    " thread " : "", key != NULL ? key : "", jx_stre(m, "user"));
	/* With files: a prompt, queued until they are in (files.c). */
	if (files_inbound(c, m, cc))
		return;
	if (perm_questions(c)) {
		perm_answer_question(c, text);
		return;
	}
	if (command_answers_prompt(c, text))
		return;
	if ((def = command_parse(text, &arg)) != NULL) {
		if (def->when != CMD_TURN || (!c->busy && c->st != CH_OPENING &&
		    json_array_size(c->queue) == 0))
			command_run(c, def, m, arg);
		else if (json_object_set_new(m, "_cmd", json_true()) == 0 &&
		    chan_enqueue(c, m) == 0)
			chan_run(c);
		free(arg);
		return;
	}
	/* The agent waits for its plan's approval: this is feedback on it. */
	if (plan_feedback(c, text))
		return;
	if (chan_steer(c, m) == 0 || chan_enqueue(c, m) == -1)
		return;
	chan_run(c);
}

void
command_reaction(const char *bot, const char *channel, const char *emoji)
{
	struct chan	*c;

	if ((c = chan_prompting(channel, bot)) != NULL)
		perm_reaction(c, emoji);
}
