/*
 * cmd_info: what the channel runs and how (/status, /config, /context),
 * its toggles (/verbose, /streamer-mode) and its past sessions (/resume),
 * with upstream's replies (docs/commands.md, "Settings and information").
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "backend.h"
#include "chan.h"
#include "chanop.h"
#include "cmd.h"
#include "conf.h"
#include "models.h"
#include "store.h"

#define NONE		"\xe2\x80\x94"	/* upstream's "—": no value */
#define RESUME_SHOWN	10

/* The bot's name: "a" of "mattermost:a". */
static const char *
info_bot_name(const struct chan *c)
{
	const char	*colon = strchr(c->bot, ':');

	return (colon != NULL ? colon + 1 : c->bot);
}

/* "<provider>:<model>" or the model, into buf. */
static const char *
info_model(const struct chan_conf *cc, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", cc->provider_name != NULL ?
	    cc->provider_name : "", cc->provider_name != NULL ? ":" : "",
	    cc->model != NULL ? cc->model : "?");
	return (buf);
}

/* upstream's formatTokens: 109000 -> "109k". */
static void
info_tokens(FILE *f, long long n)
{
	if (n >= 1000)
		fprintf(f, "%lldk", (n + 500) / 1000);
	else
		fprintf(f, "%lld", n);
}

/* The context window of the channel's BYOK model, from the config; 0. */
static long long
info_ctx_window(const struct chan_conf *cc)
{
	const json_t	*e;
	size_t		 i;

	if (cc->provider == NULL || cc->model == NULL)
		return (0);
	json_array_foreach(json_object_get(cc->provider, "models"), i, e)
		if (strcmp(jx_stre(e, "id"), cc->model) == 0 &&
		    jx_int(e, "contextWindow", 0) > 0)
			return (jx_int(e, "contextWindow", 0));
	return (0);
}

/* upstream's formatContextUsage; 0 if the session said nothing yet. */
static int
info_context(FILE *f, const struct chan *c, long long window)
{
	long long	cur, limit;

	if (c->usage == NULL)
		return (0);
	cur = jx_int(c->usage, "currentTokens", 0);
	limit = window > 0 ? window : jx_int(c->usage, "tokenLimit", 0);
	info_tokens(f, cur);
	if (limit <= 0) {
		fputs("/? tokens", f);
		return (1);
	}
	fputc('/', f);
	info_tokens(f, limit);
	fprintf(f, " tokens (%lld%%)", (cur * 100 + limit / 2) / limit);
	return (1);
}

/* Close f, the memory stream of *text, and say what it collected. */
static void
info_say_file(struct chan *c, const char *root, FILE *f, char **text)
{
	if (fclose(f) == 0)
		chan_say(c, root, *text);
	free(*text);
}

/* ---- /status ---------------------------------------------------------------- */

static void
status_reply(struct cmdmodels *m)
{
	static const char *const modes[][2] = { { "plan", "📋 Plan" },
	    { "autopilot", "🤖 Autopilot" } };
	struct chan		*c = m->op.c;
	struct chan_conf	 cc;
	const struct model	*mi;
	const char		*sid, *mode = "🛡️ Interactive";
	char			*text = NULL, buf[512];
	size_t			 len = 0, i;
	FILE			*f;

	if (conf_channel(c->id, c->bot, c->dm, &cc) == -1 ||
	    (f = open_memstream(&text, &len)) == NULL)
		goto done;
	sid = chan_session_id(c);
	mi = models_find(m->ms, cc.model, cc.provider_name);
	for (i = 0; i < nitems(modes); i++)
		if (cc.session_mode != NULL &&
		    strcmp(cc.session_mode, modes[i][0]) == 0)
			mode = modes[i][1];
	/* With threadSessions, which of the channel's sessions this is. */
	fprintf(f, "📊 **Session Status**\n• Session: `%.8s...`%s\n• Model: "
	    "**%s**\n", sid != NULL ? sid : "none", c->thread != NULL ?
	    " (this thread's own)" : cc.thread_sessions ? " (the channel's; "
	    "each thread has its own)" : "", mi != NULL && cmd_streamer() &&
	    models_hidden(mi) ? "Hidden Model" : info_model(&cc, buf,
	    sizeof(buf)));
	if (cc.agent != NULL)
		fprintf(f, "• Agent: **%s**\n", cc.agent);
	else
		fputs("• Agent: Default (Copilot)\n", f);
	fprintf(f, "• Mode: %s\n• Yolo: %s\n• Workspace: `%s`\n• Bot: @%s\n"
	    "• Verbose: %s", mode, cc.autopilot ? "🤠 On" : "🛡️ Off",
	    cc.cwd != NULL ? cc.cwd : "unknown", info_bot_name(c),
	    cc.verbose ? "🔊 On" : "🔇 Off");
	/* Only for a model that supports reasoning effort. */
	if (mi != NULL && mi->efforts != NULL) {
		fprintf(f, "\n• Reasoning effort: 🧠 **%s** (supports: ",
		    cc.effort != NULL ? cc.effort : mi->default_effort != NULL ?
		    mi->default_effort : "default");
		for (i = 0; i < json_array_size(mi->efforts); i++)
			fprintf(f, "%s%s", i > 0 ? ", " : "", json_string_value(
			    json_array_get(mi->efforts, i)) ?: "?");
		fputc(')', f);
	}
	if (c->usage != NULL) {
		fputs("\n• Context: ", f);
		(void)info_context(f, c, mi != NULL && mi->ctx_window > 0 ?
		    mi->ctx_window : info_ctx_window(&cc));
	}
	info_say_file(c, m->op.root, f, &text);
done:
	chanop_free(&m->op);
}

/* /status: the session, model, agent, modes, workspace, context. */
void
cmd_status(struct cmdctx *x)
{
	struct chan_conf	 cc;
	struct cmdmodels	*m;

	if (conf_channel(x->c->id, x->c->bot, x->c->dm, &cc) == -1)
		return;
	if (chan_session_id(x->c) == NULL) {
		/* With threadSessions, the threads may have theirs. */
		cmd_say(x, x->c->thread == NULL && cc.thread_sessions ?
		    "📊 No active session for this channel (each thread has "
		    "its own)." : "📊 No active session for this channel.");
		return;
	}
	if ((m = cmd_models_new(x, status_reply)) == NULL)
		return;
	/* Copilot's models say what efforts they support; BYOK's do not. */
	cmd_models_fetch(m, cc.provider == NULL);
}

/* ---- /context ------------------------------------------------------------- */

void
cmd_context(struct cmdctx *x)
{
	struct chan_conf	 cc;
	char			*text = NULL;
	size_t			 len = 0;
	FILE			*f;

	if (x->c->usage == NULL) {
		cmd_say(x, "📊 Context usage not available yet. Send a message "
		    "first.");
		return;
	}
	if (conf_channel(x->c->id, x->c->bot, x->c->dm, &cc) == -1 ||
	    (f = open_memstream(&text, &len)) == NULL)
		return;
	fputs("📊 **Context:** ", f);
	(void)info_context(f, x->c, info_ctx_window(&cc));
	info_say_file(x->c, x->root, f, &text);
}

/* ---- /config ------------------------------------------------------------------ */

/* upstream's escapeTableCell(). */
static void
config_escape(FILE *f, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '|')
			fputs("\\|", f);
		else if (*v == '\n')
			fputc(' ', f);
		else if (*v == '`')
			fputc('\'', f);
		else
			fputc(*v, f);
	}
}

/* A value in its table cell: in backquotes, or "—" for none. */
static void
config_cell(FILE *f, const char *v)
{
	if (v == NULL) {
		fputs(NONE, f);
		return;
	}
	fputc('`', f);
	config_escape(f, v);
	fputc('`', f);
}

static void
config_row(FILE *f, const char *setting, const char *value, const char *src)
{
	fprintf(f, "\n| %s | ", setting);
	config_cell(f, value);
	fprintf(f, " | %s |", src);
}

/* A source, or "(not set)" when nothing set a setting without a value. */
static const char *
config_src(enum conf_src s, const void *value)
{
	return (value == NULL && s == CONF_SRC_BUILTIN ? "(not set)" :
	    conf_src_name(s));
}

/* disabledSkills, a JSON array, as "a, b" into buf; NULL when none. */
static const char *
config_skills(const char *json, char *buf, size_t len)
{
	json_t	*a = json != NULL ? json_loads(json, 0, NULL) : NULL, *v;
	size_t	 i, n = 0;

	buf[0] = '\0';
	json_array_foreach(a, i, v)
		if (json_is_string(v) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n > 0 ?
			    ", " : "", json_string_value(v));
	json_decref(a);
	return (buf[0] != '\0' ? buf : NULL);
}

static void
config_table(FILE *f, const struct chan *c, const struct chan_conf *cc,
    const char *where)
{
	int	live = c->st == CH_OPEN;
	char	buf[512];

	config_row(f, "model", info_model(cc, buf, sizeof(buf)), live ?
	    conf_src_name(CONF_SRC_SESSION) : conf_src_name(cc->model_src));
	config_row(f, "agent", cc->agent, live && cc->agent != NULL ?
	    conf_src_name(CONF_SRC_SESSION) : config_src(cc->agent_src,
	    cc->agent));
	config_row(f, "triggerMode", cc->trigger_all ? "all" : "mention",
	    conf_src_name(cc->trigger_src));
	config_row(f, "threadedReplies", cc->threaded ? "On" : "Off",
	    conf_src_name(cc->threaded_src));
	config_row(f, "verbose", cc->verbose ? "On" : "Off",
	    conf_src_name(cc->verbose_src));
	config_row(f, "permissionMode", cc->autopilot ? "autopilot" :
	    "interactive", conf_src_name(cc->autopilot_src));
	config_row(f, "reasoningEffort", cc->effort, config_src(cc->effort_src,
	    cc->effort));
	config_row(f, "sessionMode", cc->session_mode != NULL ?
	    cc->session_mode : "interactive", conf_src_name(cc->session_mode !=
	    NULL ? CONF_SRC_PREF : CONF_SRC_BUILTIN));
	if (config_skills(cc->disabled_skills, buf, sizeof(buf)) != NULL)
		config_row(f, "disabledSkills", buf,
		    conf_src_name(CONF_SRC_PREF));
	else
		config_row(f, "disabledSkills", NULL, "(none)");
	config_row(f, "workspace", cc->cwd, cc->cwd != NULL ? where :
	    "(not set)");
	config_row(f, "bot", info_bot_name(c), where);
}

/* /config: each setting's effective value and where it came from. */
void
cmd_config(struct cmdctx *x)
{
	struct chan_conf	 cc;
	const char		*where;
	char			*text = NULL;
	size_t			 len = 0;
	FILE			*f;

	if (conf_channel(x->c->id, x->c->bot, x->c->dm, &cc) == -1 ||
	    (f = open_memstream(&text, &len)) == NULL)
		return;
	where = cc.configured ? "config.json" : "DM (auto-discovered)";
	fputs("⚙️ **Channel Config** — ", f);
	config_escape(f, cc.name != NULL ? cc.name : x->c->id);
	fprintf(f, "\nSource: %s\n\n| Setting | Value | Source |\n"
	    "|:--|:--|:--|", where);
	config_table(f, x->c, &cc, where);
	info_say_file(x->c, x->root, f, &text);
}

/* ---- /verbose, /streamer-mode ----------------------------------------------- */

struct toggle {
	struct chanop	 op;
	int		 on;
	const char	*text[2];	/* off, on */
};

static void
toggle_saved(struct chanop *op, const json_t *result, const char *error)
{
	struct toggle	*t = (struct toggle *)op;

	chanop_saved(op, t->text[t->on]);
	chanop_free(op);
}

/* The new value: the argument as a loose boolean, else the other one. */
static int
toggle_value(const char *arg, int current)
{
	int	b = arg[0] != '\0' ? command_bool(arg) : -1;

	return (b == -1 ? !current : b);
}

/* /verbose [bool]: the channel's tool activity feed. */
void
cmd_verbose(struct cmdctx *x)
{
	struct chan_conf	 cc;
	struct toggle		*t;

	if (conf_channel(x->c->id, x->c->bot, x->c->dm, &cc) == -1 ||
	    (t = (struct toggle *)chanop_new(x->c, x->root, x->msg,
	    sizeof(*t))) == NULL)
		return;
	t->on = toggle_value(x->arg, cc.verbose);
	t->text[0] = "🔇 Verbose mode **disabled** — only final responses "
	    "shown.";
	t->text[1] = "🔊 Verbose mode **enabled** — tool calls will be shown.";
	(void)chanop_pref(&t->op, "verbose", t->on ? "1" : "0");
	chanop_stored(&t->op, toggle_saved);
}

/* /streamer-mode [bool]: the bridge-wide setting. */
void
cmd_streamer_mode(struct cmdctx *x)
{
	struct toggle	*t;

	if ((t = (struct toggle *)chanop_new(x->c, x->root, x->msg,
	    sizeof(*t))) == NULL)
		return;
	t->on = toggle_value(x->arg, cmd_streamer());
	t->text[0] = "📺 **Streamer mode disabled** — all models visible.";
	t->text[1] = "📺 **Streamer mode enabled** — preview and internal "
	    "models are hidden.";
	(void)chanop_setting(&t->op, "streamer_mode", t->on ? "1" : "0");
	chanop_stored(&t->op, toggle_saved);
}

/* ---- /resume ---------------------------------------------------------------- */

/* upstream's formatAge of an ISO 8601 time ("2026-05-20T10:00:00.000Z"). */
static void
resume_age(FILE *f, const char *iso)
{
	struct tm	tm;
	long long	mins;
	time_t		t;

	memset(&tm, 0, sizeof(tm));
	if (iso == NULL || strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) == NULL ||
	    (t = timegm(&tm)) == (time_t)-1) {
		fputs("?", f);
		return;
	}
	mins = ((long long)time(NULL) - (long long)t) / 60;
	if (mins < 1)
		fputs("just now", f);
	else if (mins < 60)
		fprintf(f, "%lldm ago", mins);
	else if (mins < 24 * 60)
		fprintf(f, "%lldh ago", mins / 60);
	else
		fprintf(f, "%lldd ago", mins / (24 * 60));
}

/* A session's summary: its first 60 characters, on one line. */
static void
resume_summary(FILE *f, const char *s)
{
	size_t	n, i;

	if (s == NULL || *s == '\0')
		return;
	n = utf8_cut_chars(s, strlen(s), 60);
	fputs(" — ", f);
	for (i = 0; i < n; i++)
		fputc(s[i] == '\n' || s[i] == '\r' ? ' ' : s[i], f);
}

static void
resume_list(struct chanop *op, const json_t *sessions, const char *current)
{
	const json_t	*s;
	const char	*id;
	char		*text = NULL;
	size_t		 len = 0, i, n = json_array_size(sessions);
	FILE		*f;

	if (n == 0) {
		chanop_say(op, "📋 No past sessions found for this workspace.");
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL)
		return;
	fputs("**Past Sessions** (use `/resume <id>` to reconnect)\n", f);
	json_array_foreach(sessions, i, s) {
		if (i >= RESUME_SHOWN)
			break;
		id = jx_stre(s, "sessionId");
		fprintf(f, "\n• `%.12s` ", id);
		resume_age(f, jx_str(s, "modifiedTime"));
		resume_summary(f, jx_str(s, "summary"));
		if (current != NULL && strcmp(id, current) == 0)
			fputs(" ← current", f);
	}
	if (n > RESUME_SHOWN)
		fprintf(f, "\n\n_…and %zu more_", n - RESUME_SHOWN);
	info_say_file(op->c, op->root, f, &text);
}

/* The sessions whose id starts with the prefix (case-insensitively). */
static void
resume_pick(struct chanop *op, const json_t *sessions)
{
	struct chan	*c = op->c;
	const json_t	*s, *one = NULL;
	const char	*id;
	char		*text = NULL, say[128];
	size_t		 len = 0, i, n = 0, plen = strlen(op->text);
	FILE		*f;

	json_array_foreach(sessions, i, s)
		if (strncasecmp(jx_stre(s, "sessionId"), op->text, plen) == 0) {
			n++;
			one = s;
		}
	if (n == 1) {
		id = jx_stre(one, "sessionId");
		snprintf(say, sizeof(say), "✅ Resumed session `%.8s…`", id);
		log_info("channel %s: /resume %s", op->c->id, id);
		chan_resume(c, id, op->root, say);
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL)
		return;
	if (n == 0)
		fprintf(f, "❌ No session found matching prefix `%s`", op->text);
	else {
		fprintf(f, "⚠️ Ambiguous prefix `%s` — matches multiple "
		    "sessions:", op->text);
		json_array_foreach(sessions, i, s)
			if (strncasecmp(jx_stre(s, "sessionId"), op->text,
			    plen) == 0)
				fprintf(f, "\n• `%.12s`", jx_stre(s,
				    "sessionId"));
		fputs("\nPlease provide a longer prefix.", f);
	}
	info_say_file(op->c, op->root, f, &text);
}

static void
resume_listed(struct chanop *op, const json_t *result, const char *error)
{
	const json_t	*sessions = json_object_get(result, "sessions");
	char		*text;

	if (error != NULL || !json_is_array(sessions)) {
		if (error == NULL)
			error = "the runtime's answer has no sessions";
		log_warnx("channel %s: sessions.list: %s", op->c->id, error);
		if (asprintf(&text, "❌ Failed to %s: %s", op->text[0] == '\0' ?
		    "list sessions" : "resume session", error) != -1) {
			chanop_say(op, text);
			free(text);
		}
	} else if (op->text[0] == '\0')
		resume_list(op, sessions, chan_session_id(op->c));
	else
		resume_pick(op, sessions);
	chanop_free(op);
}

/* /resume [id-prefix]: this workspace's past sessions, or attach one. */
void
cmd_resume(struct cmdctx *x)
{
	const struct backend	*be = chan_backend();
	struct chan_conf	 cc;
	struct chanop		*op;
	json_t			*params;

	if (conf_channel(x->c->id, x->c->bot, x->c->dm, &cc) == -1 ||
	    (op = chanop_new(x->c, x->root, x->msg, 0)) == NULL)
		return;
	if ((op->text = strdup(x->arg)) == NULL) {
		chanop_free(op);
		return;
	}
	params = json_pack("{s:{s:s}}", "filter", "cwd", cc.cwd != NULL ?
	    cc.cwd : "");
	if (be->call == NULL) {
		json_decref(params);
		resume_listed(op, NULL, "this backend keeps no sessions");
	} else if (params == NULL || chanop_engine(op, "sessions.list", params,
	    resume_listed) == -1)
		resume_listed(op, NULL, "the Copilot runtime cannot be asked now");
}
