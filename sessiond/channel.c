/*
 * channel: one Copilot session per chat channel, and the per-channel queue
 * (chan.h).
 *
 * One turn runs at a time; what a message is (a command, an answer, a
 * steer or a prompt) is command.c's to say, and what waits runs from the
 * queue here.  A session is opened lazily on the first message, resuming
 * the id persisted for the channel, so a sessiond restart keeps every
 * conversation's context.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/otel.h"
#include "common/util.h"
#include "backend.h"
#include "chan.h"
#include "chanop.h"
#include "conf.h"
#include "hooks.h"
#include "outbound.h"
#include "plan.h"
#include "sched.h"
#include "sessiond.h"
#include "store.h"
#include "stream.h"
#include "tools.h"

#define CHAN_THREADS_ENV	"COPILOT_BRIDGE_TEST_THREADS_MAX" /* tests only */

static TAILQ_HEAD(, chan)	chans = TAILQ_HEAD_INITIALIZER(chans);
static const struct backend	*be;	/* the conversation engine */
static size_t			 threads_max = CHAN_THREADS_MAX;
static const struct chan_hooks	*hooks;	/* the command layer's */

static void	chan_turn(struct chan *, json_t *msg);
static int	chan_unauthenticated(struct chan *);
static void	chan_hooks_attach(struct chan *, const char *cwd);
static void	hc_free(struct hookcall *);

static const struct backend_events	chan_events;

static const char	chan_no_auth[] =
    "🔒 **Not authenticated.** The Copilot runtime on the bridge host is not "
    "signed in to GitHub. An operator can put a GitHub token in the file "
    "named by `session.githubTokenFile` (or in the `github-token` systemd "
    "credential) and run `/reload config`, or run `copilot login` as the "
    "service's user. A channel whose model names a BYOK provider "
    "(`provider:model`) works without it.";

static int
chan_is(const struct chan *c, const char *id, const char *thread)
{
	return (strcmp(c->id, id) == 0 && (thread == NULL ? c->thread == NULL :
	    c->thread != NULL && strcmp(c->thread, thread) == 0));
}

/* Nothing runs, waits or asks in c: it may be forgotten. */
static int
chan_idle(const struct chan *c)
{
	return (!c->busy && c->st != CH_OPENING && c->stream == NULL &&
	    c->holds == 0 && json_array_size(c->queue) == 0 &&
	    TAILQ_EMPTY(&c->perms) && TAILQ_EMPTY(&c->questions) &&
	    TAILQ_EMPTY(&c->calls));
}

static void
chan_free(struct chan *c)
{
	TAILQ_REMOVE(&chans, c, entry);
	chanop_chan_freed(c);
	store_forget(c);
	chan_end_stream(c, NULL);
	perm_drop_all(c, 1, BPERM_UNAVAILABLE);
	chan_close_session(c);
	chook_drop(&c->hooks, c);
	chanext_drop(c);
	plan_free(c);
	otel_span_drop(c->turn);
	json_decref(c->queue);
	json_decref(c->sent);
	json_decref(c->usage);
	free(c->reply_open);
	free(c->id);
	free(c->thread);
	free(c->bot);
	free(c->root);
	free(c->steer_root);
	free(c);
}

/*
 * More thread sessions than CHAN_THREADS_MAX: the least recently used idle
 * ones (but keep) are detached and forgotten; the store keeps their ids.
 * Called from the inbound path only, never from inside a channel's
 * callback, so what it frees is on no stack.
 */
void
chan_trim(const struct chan *keep)
{
	struct chan	*c, *next;
	size_t		 n = 0;

	TAILQ_FOREACH(c, &chans, entry)
		if (c->thread != NULL)
			n++;
	for (c = TAILQ_FIRST(&chans); c != NULL && n > threads_max;
	    c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->thread == NULL || c == keep || !chan_idle(c))
			continue;
		log_info("channel %s thread %s: idle, session detached (%zu "
		    "thread sessions at most)", c->id, c->thread, threads_max);
		chan_free(c);
		n--;
	}
}

/*
 * The channel id's session as bot serves it: the channel's own (thread
 * NULL) or a thread's, made on first use.  Each use makes it the most
 * recently used.
 */
struct chan *
chan_get_thread(const char *id, const char *thread, const char *bot)
{
	struct chan	*c;

	TAILQ_FOREACH(c, &chans, entry)
		if (chan_is(c, id, thread))
			break;
	if (c != NULL) {
		if (strcmp(c->bot, bot) != 0) {
			/* The channel moved to another bot by a reload. */
			free(c->bot);
			if ((c->bot = strdup(bot)) == NULL)
				return (NULL);
		}
		TAILQ_REMOVE(&chans, c, entry);
		TAILQ_INSERT_TAIL(&chans, c, entry);
		return (c);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	TAILQ_INIT(&c->perms);
	TAILQ_INIT(&c->questions);
	TAILQ_INIT(&c->calls);
	if ((c->id = strdup(id)) == NULL || (c->bot = strdup(bot)) == NULL ||
	    (thread != NULL && (c->thread = strdup(thread)) == NULL) ||
	    (c->queue = json_array()) == NULL ||
	    (c->sent = json_array()) == NULL) {
		free(c->id);
		free(c->bot);
		free(c->thread);
		json_decref(c->queue);
		free(c);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&chans, c, entry);
	return (c);
}

struct chan *
chan_get(const char *id, const char *bot)
{
	return (chan_get_thread(id, NULL, bot));
}

/* The id of c's session, as stored (NULL: none yet). */
const char *
chan_session_id(const struct chan *c)
{
	return (store_session(c->id, c->thread));
}

void
chan_say(struct chan *c, const char *root, const char *text)
{
	stream_post(c->bot, c->id, root, text);
}

void
chan_init(const struct backend *backend)
{
	const char	*e = getenv(CHAN_THREADS_ENV);
	char		*end;
	unsigned long	 n;

	be = backend;
	if (e == NULL)
		return;
	/* A smaller bound, so tests see it at work with a few threads. */
	errno = 0;
	n = strtoul(e, &end, 10);
	if (errno == 0 && *e != '\0' && *end == '\0' && n >= 1 &&
	    n <= CHAN_THREADS_MAX)
		threads_max = n;
	else
		log_warnx("%s: not a number 1..%d, ignored", CHAN_THREADS_ENV,
		    CHAN_THREADS_MAX);
}

void
chan_init_hooks(const struct chan_hooks *h)
{
	hooks = h;
}

const struct backend *
chan_backend(void)
{
	return (be);
}

/*
 * A provider entry of the config, as the runtime wants it.  Secrets named
 * by environment variable are read now, not stored.  NULL: none, or out
 * of memory (logged).
 */
json_t *
chan_provider(const json_t *p)
{
	static const char *const keys[] = { "baseUrl", "apiKey", "bearerToken",
			    "wireApi", "azure" };
	const char	*k, *env;
	json_t		*o, *v;
	size_t		 i;
	int		 bad;

	if (p == NULL)
		return (NULL);
	if ((o = json_object()) == NULL)
		goto oom;
	bad = json_object_set_new(o, "type", json_string(jx_str(p, "type") ?:
	    "openai"));
	for (i = 0; i < nitems(keys); i++)
		if ((v = json_object_get(p, keys[i])) != NULL)
			bad |= json_object_set(o, keys[i], v);
	if ((k = jx_str(p, "apiKeyEnv")) != NULL && (env = getenv(k)) != NULL)
		bad |= json_object_set_new(o, "apiKey", json_string(env));
	if ((k = jx_str(p, "bearerTokenEnv")) != NULL &&
	    (env = getenv(k)) != NULL)
		bad |= json_object_set_new(o, "bearerToken", json_string(env));
	if (bad == 0)
		return (o);
	json_decref(o);
oom:
	log_warnx("out of memory: the session opens without its provider");
	return (NULL);
}

/*
 * The keys of create and resume beyond the basic ones: what the channel's
 * settings ask of the runtime.  NULL when out of memory (logged).
 */
static json_t *
chan_extra(struct chan *c, const struct chan_conf *cc)
{
	json_t	*x, *skills;
	int	 bad;

	if ((x = json_object()) == NULL)
		goto oom;
	/* MCP servers, agents, skills, the system message (chanext.c). */
	bad = chanext_extra(c, x);
	/* The agent's questions come to the chat (perm.c). */
	bad |= json_object_set_new(x, "requestUserInput", json_true());
	/* Plan mode ends with a request for the channel's approval (plan.c). */
	bad |= json_object_set_new(x, "requestExitPlanMode", json_true());
	bad |= json_object_set_new(x, "tools", tools_decl());
	if (cc->effort != NULL)
		bad |= json_object_set_new(x, "reasoningEffort",
		    json_string(cc->effort));
	if (cc->disabled_skills != NULL &&
	    (skills = json_loads(cc->disabled_skills, 0, NULL)) != NULL)
		bad |= json_object_set_new(x, "disabledSkills", skills);
	if (bad == 0)
		return (x);
	json_decref(x);
oom:
	log_warnx("out of memory: the session opens without its settings");
	return (NULL);
}

/*
 * The options of c's session from the config and the workspace's files;
 * o->provider and o->extra are the caller's to free.  -1: no config.
 */
static int
chan_opts(struct chan *c, struct chan_conf *cc, struct bsession_opts *o)
{
	if (conf_channel(c->id, c->bot, 1, cc) == -1) {
		log_warnx("channel %s: no config for %s", c->id, c->bot);
		return (-1);
	}
	chanext_attach(c, cc->cwd);
	memset(o, 0, sizeof(*o));
	o->channel = c->id;
	o->cwd = cc->cwd;
	o->model = cc->model;
	o->agent = chanext_agent(c, cc->agent);
	o->provider = chan_provider(cc->provider);
	o->extra = chan_extra(c, cc);
	return (0);
}

static void
chan_opts_clear(struct bsession_opts *o)
{
	json_decref(o->provider);
	json_decref(o->extra);
}

void
chan_open(struct chan *c, const char *session_id)
{
	struct chan_conf	cc;
	struct bsession_opts	o;

	if (chan_opts(c, &cc, &o) == -1)
		return;
	chan_hooks_attach(c, cc.cwd);
	c->st = CH_OPENING;
	log_info("channel %s%s%s: %s session %s", c->id, c->thread != NULL ?
	    " thread " : "", c->thread != NULL ? c->thread : "",
	    session_id != NULL ? "resuming" : "creating",
	    session_id != NULL ? session_id : "");
	c->bs = be->open(&o, session_id, &chan_events, c);
	chan_opts_clear(&o);
	if (c->bs == NULL) {
		c->st = CH_CLOSED;
		chan_events.opened(c, NULL, "the backend refused to open a session");
	}
}

/*
 * Give the live session its options again (a preference or a workspace
 * file changed): for its later resumes, and now if reattach (the same
 * session is attached again, context and all).
 */
int
chan_apply(struct chan *c, int reattach)
{
	struct chan_conf	cc;
	struct bsession_opts	o;
	int			rc;

	if (c->bs == NULL || be->set_opts == NULL || chan_opts(c, &cc, &o) ==
	    -1)
		return (-1);
	rc = be->set_opts(c->bs, &o, reattach);
	if (rc == 0 && reattach && o.agent == NULL)
		chanext_no_agent(c);
	chan_opts_clear(&o);
	return (rc);
}

void
chan_close_session(struct chan *c)
{
	/* Hooks and questions still open: the backend answers them at close. */
	perm_forget_hooks(c);
	perm_drop_questions(c);
	while (!TAILQ_EMPTY(&c->calls))
		hc_free(TAILQ_FIRST(&c->calls));
	plan_close(c);
	chanop_session_closed(c);
	if (c->bs != NULL)
		be->close(c->bs);
	c->bs = NULL;
	c->st = CH_CLOSED;
}

/* The turn is over (error: how it failed). */
static void
chan_turn_done(struct chan *c, const char *error)
{
	c->busy = 0;
	if (c->run != 0)
		sched_run_end(c->run, error);
	c->run = 0;
	c->quiet = 0;
	if (error != NULL)
		otel_span_status(c->turn, error);
	otel_span_end(c->turn);
	c->turn = NULL;
}

void
chan_end_stream(struct chan *c, const char *error)
{
	feed_end(c);
	stream_finish(c->stream, error);
	c->stream = NULL;
}

/*
 * The answer so far is final: what follows goes to a post of its own, in
 * the thread of the message that steered the turn.
 */
static void
chan_steer_split(struct chan *c)
{
	if (stream_said(c->stream))
		chan_end_stream(c, NULL);
	free(c->root);
	c->root = c->steer_root;
	c->steer_root = NULL;
}

static struct stream *
chan_stream(struct chan *c)
{
	if (c->stream == NULL && c->busy)
		c->stream = stream_new(c->bot, c->id, c->root, 0);
	return (c->stream);
}

/* ---- hooks ---------------------------------------------------------------- */

static void	chan_hooks_saved(void *);

/* Forget a call without answering it (closing the session answers {}). */
static void
hc_free(struct hookcall *hc)
{
	TAILQ_REMOVE(&hc->chan->calls, hc, entry);
	if (hc->run != NULL)
		hookrun_cancel(hc->run);
	json_decref(hc->output);
	free(hc);
}

static void
hc_answer(struct hookcall *hc, json_t *output)
{
	struct chan	*c = hc->chan;

	log_debug("channel %s: hook %s answered in %llu us", c->id,
	    hook_type_name(hc->type),
	    (unsigned long long)(util_now_us() - hc->t0_us));
	if (c->bs != NULL && be->answer_hook != NULL)
		be->answer_hook(c->bs, hc->tok, output);
	else
		json_decref(output);
	hc_free(hc);
}

/* The user's answer to a preToolUse "ask" (docs/architecture.md, Hooks). */
void
chan_hook_decide(struct hookcall *hc, int approve)
{
	json_t	*o = hc->output;

	hc->output = NULL;
	if (json_object_set_new(o, "permissionDecision",
	    json_string(approve ? "allow" : "deny")) == -1) {
		json_decref(o);
		o = NULL;
	}
	hc_answer(hc, o);
}

static void
hc_done(void *arg, json_t *output)
{
	struct hookcall	*hc = arg;
	const char	*d, *why;

	hc->run = NULL;
	d = json_string_value(json_object_get(output, "permissionDecision"));
	if (hc->type != HOOK_PRE_TOOL_USE || d == NULL || strcmp(d, "ask") != 0) {
		hc_answer(hc, output);
		return;
	}
	hc->output = output;
	why = jx_str(output, "permissionDecisionReason");
	if (perm_hook_ask(hc->chan, hc, why != NULL ? why :
	    "Hook requires confirmation") == -1)
		chan_hook_decide(hc, 0);
}

static void
ev_hook(void *arg, void *tok, const char *type, const json_t *input)
{
	struct chan	*c = arg;
	struct hookset	*hs = c->hooks.hs;
	struct hookcall	*hc;
	int		 t = hook_type_from_name(type);

	if (t == -1 || hs == NULL || hs->ncmds[t] == 0 ||
	    (hc = calloc(1, sizeof(*hc))) == NULL) {
		be->answer_hook(c->bs, tok, NULL);
		return;
	}
	hc->chan = c;
	hc->tok = tok;
	hc->type = t;
	hc->t0_us = util_now_us();
	snprintf(hc->tool, sizeof(hc->tool), "%s", json_string_value(
	    json_object_get(input, "toolName")) ?: "?");
	TAILQ_INSERT_TAIL(&c->calls, hc, entry);
	log_debug("channel %s: hook %s: running %zu command(s)", c->id, type,
	    hs->ncmds[t]);
	if ((hc->run = hookrun_start(hs, t, input, hc_done, hc)) == NULL)
		hc_answer(hc, NULL);
}

/*
 * Re-read the channel's hooks, because of why.  manual (/reload hooks)
 * always answers in the channel; otherwise only if
 * hooks.notifyOnAutoReload.  msg gets the outcome; 0 if reloaded.
 */
int
chan_reload_hooks(struct chan *c, const char *root, const char *why,
    int manual, char *msg, size_t len)
{
	struct chan_conf	 cc;
	uint64_t		 t0 = util_now_ms();
	int			 rc;
	struct otel_span	*span = otel_span_start("reload.hooks", NULL);

	otel_span_str(span, "channel", c->id);
	otel_span_str(span, "trigger", why);
	if (conf_channel(c->id, c->bot, c->dm, &cc) == -1)
		cc.cwd = NULL;
	if ((rc = chook_load(&c->hooks, c, cc.cwd, chan_hooks_saved, msg,
	    len)) == 0) {
		otel_span_int(span, "hooks", (int64_t)hooks_count(c->hooks.hs));
		otel_span_int(span, "files", (int64_t)c->hooks.hs->nfiles);
		log_info("channel %s: hooks reloaded (%s): %zu from %zu files "
		    "in %llu ms", c->id, why, hooks_count(c->hooks.hs),
		    c->hooks.hs->nfiles,
		    (unsigned long long)(util_now_ms() - t0));
		if (c->st == CH_OPEN && be->reload_hooks != NULL)
			(void)be->reload_hooks(c->bs);
	} else {
		log_warnx("channel %s: hooks not reloaded (%s): %s", c->id,
		    why, msg + strlen("❌ "));
		otel_span_status(span, msg + strlen("❌ "));
	}
	otel_span_end(span);
	if (manual || conf_get()->notify_hooks)
		chan_say(c, root, msg);
	return (rc);
}

static void
chan_hooks_saved(void *owner)
{
	char	msg[1536];

	(void)chan_reload_hooks(owner, "", "file saved", 0, msg, sizeof(msg));
}

/* `ctl reload-hooks CHANNEL`: every channel with that id (any bot). */
int
chan_ctl_reload_hooks(const char *id, char *msg, size_t len)
{
	struct chan	*c;
	int		 rc = -1, n = 0;

	TAILQ_FOREACH(c, &chans, entry)
		if (strcmp(c->id, id) == 0) {
			n++;
			rc = chan_reload_hooks(c, "", "ctl reload-hooks", 0,
			    msg, len);
		}
	if (n == 0)
		snprintf(msg, len, "❌ No channel %s has had a session since "
		    "sessiond started: its hooks load with its first message",
		    id);
	return (rc);
}

/* Load the hooks for a session about to open, unless they are current. */
static void
chan_hooks_attach(struct chan *c, const char *cwd)
{
	char	msg[1536];

	if (chook_current(&c->hooks, cwd))
		return;
	if (chook_load(&c->hooks, c, cwd, chan_hooks_saved, msg,
	    sizeof(msg)) == -1)
		log_warnx("channel %s: no hooks: %s", c->id,
		    msg + strlen("❌ "));
	else
		log_debug("channel %s: %zu hooks from %zu files", c->id,
		    hooks_count(c->hooks.hs), c->hooks.hs->nfiles);
}

/*
 * The config changed: a channel no longer configured lets go of its hooks
 * and watches; one whose workingDirectory or allowWorkspaceHooks changed
 * reloads them.
 */
void
chan_config_changed(void)
{
	struct chan		*c;
	struct chan_conf	 cc;
	char			 msg[1536];

	TAILQ_FOREACH(c, &chans, entry) {
		chanext_config_changed(c);
		if (c->hooks.hs == NULL)
			continue;
		if (conf_channel(c->id, c->bot, c->dm, &cc) == -1) {
			log_info("channel %s: no longer configured; its hooks "
			    "are dropped", c->id);
			chook_drop(&c->hooks, c);
		} else if (!chook_current(&c->hooks, cc.cwd))
			(void)chan_reload_hooks(c, "", "config changed", 0,
			    msg, sizeof(msg));
	}
}

/* ---- backend events ---------------------------------------------------- */

static void
ev_opened(void *arg, const char *sid, const char *error)
{
	struct chan	*c = arg;
	const char	*prev;
	char		 text[512];
	int		 resumed;

	if (error != NULL) {
		log_warnx("channel %s: cannot open a session: %s", c->id, error);
		free(c->reply_open);
		c->reply_open = NULL;
		chan_close_session(c);
		snprintf(text, sizeof(text), "❌ Error: cannot start a Copilot "
		    "session: %s", error);
		if (c->busy) {
			chan_end_stream(c, text + strlen("❌ Error: "));
			chan_turn_done(c, error);
		} else
			chan_say(c, c->root, text);
		json_array_clear(c->queue);
		return;
	}
	c->st = CH_OPEN;
	prev = chan_session_id(c);
	resumed = prev != NULL && strcmp(prev, sid) == 0;
	(void)store_set_session(c->id, c->thread, c->bot, sid, NULL, NULL);
	plan_opened(c, resumed);
	log_info("channel %s%s%s: session %s open", c->id, c->thread != NULL ?
	    " thread " : "", c->thread != NULL ? c->thread : "", sid);
	chanext_opened(c);
	if (c->reply_open != NULL) {
		chan_say(c, c->root, c->reply_open);
		free(c->reply_open);
		c->reply_open = NULL;
	}
	chan_run(c);
}

/* Quiet: nothing is shown before the whole message says what it is. */
static void
ev_delta(void *arg, const char *text)
{
	struct chan	*c = arg;

	feed_end(c);
	if (!c->quiet)
		stream_delta(chan_stream(c), text);
}

/* "NO_REPLY" as the whole message: the agent's old way to say nothing. */
static int
chan_is_no_reply(const char *text)
{
	size_t	n;

	while (*text == ' ' || *text == '\n' || *text == '\t')
		text++;
	n = strlen(text);
	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\n' ||
	    text[n - 1] == '\t'))
		n--;
	return (n == 8 && strncmp(text, "NO_REPLY", 8) == 0);
}

static void
ev_message(void *arg, const char *text)
{
	struct chan	*c = arg;

	if (chan_is_no_reply(text)) {
		c->no_reply = 1;
		return;
	}
	feed_end(c);
	stream_message(chan_stream(c), text);
	/* The message a steer came in during is whole now. */
	if (c->steer_root != NULL && text != NULL && *text != '\0')
		chan_steer_split(c);
}

static void
ev_tool(void *arg, const char *name, const json_t *args)
{
	struct chan	*c = arg;

	if (!c->quiet)
		feed_tool(c, name, args);
}

static void
ev_permission(void *arg, const char *id, const char *kind, const char *detail,
    const json_t *request)
{
	feed_end(arg);
	perm_request(arg, id, kind, request);
}

static void
ev_input(void *arg, void *tok, const char *question, const json_t *choices,
    int freeform)
{
	feed_end(arg);
	perm_question(arg, tok, question, choices);
}

static void
ev_plan_exit(void *arg, void *tok, const json_t *request)
{
	plan_exit(arg, tok, request);
}

static void
ev_tool_call(void *arg, const char *request_id, const char *name,
    const json_t *arguments)
{
	tools_call(arg, request_id, name, arguments);
}

/* Other session events: what the channel keeps of them. */
static void
ev_event(void *arg, const char *type, const json_t *data)
{
	struct chan	*c = arg;

	plan_event(c, type, data);
	/* session.usage_info: the context's size, for /context. */
	if (strcmp(type, "session.usage_info") == 0) {
		json_decref(c->usage);
		c->usage = json_deep_copy(data);
	}
	/* MCP servers' status, for /mcp and the log. */
	chanext_event(c, type, data);
}

/* A message the runtime died before taking: it goes again, after the turn. */
static void
ev_untaken(void *arg, const char *prompt)
{
	struct chan	*c = arg;
	json_t		*m;
	size_t		 i;

	json_array_foreach(c->sent, i, m)
		if (!jx_bool(m, "_untaken", 0) &&
		    strcmp(jx_stre(m, "text"), prompt) == 0) {
			if (json_object_set_new(m, "_untaken", json_true()) == -1)
				log_warnx("channel %s: out of memory: a message "
				    "is lost", c->id);
			return;
		}
}

/* The turn is over: what the runtime never took is first in the queue. */
static void
chan_requeue_untaken(struct chan *c)
{
	json_t	*m;
	size_t	 i, n = 0;

	for (i = json_array_size(c->sent); i-- > 0; ) {
		m = json_array_get(c->sent, i);
		if (!jx_bool(m, "_untaken", 0))
			continue;
		(void)json_object_del(m, "_untaken");
		if (json_array_insert(c->queue, 0, m) == -1)
			log_warnx("channel %s: out of memory: message %s is "
			    "lost", c->id, jx_stre(m, "id"));
		else
			n++;
	}
	json_array_clear(c->sent);
	if (n > 0)
		log_info("channel %s: %zu message(s) the runtime never took "
		    "go again", c->id, n);
}

static void
ev_idle(void *arg, int aborted)
{
	struct chan	*c = arg;

	chan_requeue_untaken(c);
	if (c->no_reply) {
		log_info("channel %s: no reply, as the agent chose", c->id);
		feed_end(c);
		stream_discard(c->stream);
		c->stream = NULL;
	} else
		chan_end_stream(c, NULL);
	perm_drop_all(c, 0, BPERM_REJECT);
	plan_idle(c);
	otel_span_int(c->turn, "aborted", aborted);
	chan_turn_done(c, NULL);
	log_debug("channel %s: turn ended%s", c->id, aborted ? " (aborted)" : "");
	chan_run(c);
}

/* The runtime's words for a missing GitHub sign-in. */
int
chan_auth_error(const char *message)
{
	return (strstr(message, "No GitHub OAuth token") != NULL ||
	    strstr(message, "Not authenticated") != NULL);
}

static void
ev_error(void *arg, const char *message)
{
	struct chan	*c = arg;

	if (c->run != 0)
		sched_run_error(c->run, message);
	if (chan_auth_error(message)) {
		otel_span_status(c->turn, message);
		chan_end_stream(c, NULL);
		chan_say(c, c->root, chan_no_auth);
		return;
	}
	otel_span_status(c->turn, message);
	if (c->stream != NULL)
		chan_end_stream(c, message);
	else {
		char	text[1024];

		snprintf(text, sizeof(text), "❌ Error: %s", message);
		chan_say(c, c->root, text);
	}
}

static void
ev_lost(void *arg, const char *why)
{
	struct chan	*c = arg;

	log_warnx("channel %s: session lost: %s", c->id, why);
	chan_close_session(c);
	(void)store_set_session(c->id, c->thread, c->bot, NULL, NULL, NULL);
	chan_requeue_untaken(c);
	if (c->busy) {
		chan_end_stream(c, why);
		chan_turn_done(c, why);
	}
	chan_run(c);
}

static const struct backend_events chan_events = {
	.opened = ev_opened,
	.delta = ev_delta,
	.message = ev_message,
	.tool = ev_tool,
	.permission = ev_permission,
	.idle = ev_idle,
	.error = ev_error,
	.lost = ev_lost,
	.untaken = ev_untaken,
	.hook = ev_hook,
	.input = ev_input,
	.tool_call = ev_tool_call,
	.plan_exit = ev_plan_exit,
	.event = ev_event,
};

/* ---- what commands do ------------------------------------------------------- */

/* /stop: the running turn is aborted (its end comes as idle). */
void
chan_stop_turn(struct chan *c)
{
	if (c->busy && c->bs != NULL)
		(void)be->abort(c->bs);
}

/* The channel lets go of its session (ending its turn, for why). */
static void
chan_let_go(struct chan *c, const char *why)
{
	if (c->busy && c->bs != NULL)
		(void)be->abort(c->bs);
	chan_end_stream(c, NULL);
	perm_drop_all(c, 0, BPERM_REJECT);
	chan_close_session(c);
	if (c->busy)
		chan_turn_done(c, why);
	(void)store_set_session(c->id, c->thread, c->bot, NULL, NULL, NULL);
	plan_forget(c);
}

/* Open session_id (NULL: a new one), saying say once it is open. */
static void
chan_open_saying(struct chan *c, const char *session_id, const char *root,
    const char *say)
{
	free(c->root);
	c->root = strdup(root);
	free(c->reply_open);
	c->reply_open = say != NULL ? strdup(say) : NULL;
	chan_open(c, session_id);
}

/*
 * A new session that must wait for something first (a provider switch
 * waits for its preferences to be durable): the session ends now and the
 * channel holds what comes (as while opening) until chan_open_held().
 */
void
chan_hold(struct chan *c, const char *why)
{
	chan_let_go(c, why);
	c->st = CH_OPENING;
}

/* The held channel opens its new session (unless one opened meanwhile). */
void
chan_open_held(struct chan *c, const char *root, const char *say)
{
	if (c->st != CH_OPENING || c->bs != NULL) {
		chan_say(c, root, say);
		return;
	}
	c->st = CH_CLOSED;
	chan_open_saying(c, NULL, root, say);
}

/* /new: the session ends (its turn too) and a new one opens. */
void
chan_new_session(struct chan *c, const char *root)
{
	chan_let_go(c, "/new");
	json_array_clear(c->queue);
	chan_open_saying(c, NULL, root, "✅ New session created.");
}

/*
 * /resume: the channel attaches session_id, a past session of its working
 * directory; a channel holding it lets go of it first (one session, one
 * channel).  say is said once it is open.
 */
void
chan_resume(struct chan *c, const char *session_id, const char *root,
    const char *say)
{
	struct chan	*o;
	const char	*sid;

	TAILQ_FOREACH(o, &chans, entry) {
		if (o == c || (sid = chan_session_id(o)) == NULL ||
		    strcmp(sid, session_id) != 0)
			continue;
		log_info("channel %s: session %s moves to channel %s", o->id,
		    session_id, c->id);
		chan_let_go(o, "/resume in another channel");
		chan_run(o);
	}
	chan_let_go(c, "/resume");
	chan_open_saying(c, session_id, root, say);
}

/*
 * /reload: the same session is attached again with a fresh config and
 * the workspace's files read again.  A live session is resumed as it is
 * (session.resume of an attached session applies the new options): a
 * detach followed at once by a resume would race the runtime, which may
 * finish the detach after the resume.
 */
void
chan_reattach(struct chan *c, const char *root)
{
	const char	*sid = chan_session_id(c);
	char		 text[256];
	int		 changed;

	if (sid == NULL) {
		chan_say(c, root, "No session to reload yet.");
		return;
	}
	snprintf(text, sizeof(text), "✅ Session reloaded (`%.8s…`). Config "
	    "and AGENTS.md re-read.", sid);
	changed = chanext_reload(c, "/reload", 1, NULL, 0);
	if (c->st == CH_OPEN) {
		/* chanext_reload() re-attached it already if they changed. */
		if ((changed <= 0 || !(changed & WSCONF_OPTS)) &&
		    chan_apply(c, 1) == -1)
			log_warnx("channel %s: cannot re-attach the session",
			    c->id);
	} else if (c->st == CH_CLOSED)
		chan_open(c, sid);
	chan_say(c, root, text);
}

/* ---- the queue ------------------------------------------------------------ */

static void
chan_turn(struct chan *c, json_t *msg)
{
	const char	*text = json_string_value(json_object_get(msg, "text"));
	const char	*root = json_string_value(json_object_get(msg, "_root"));

	free(c->steer_root);
	c->steer_root = NULL;
	free(c->root);
	c->root = strdup(root != NULL ? root : "");
	c->busy = 1;
	c->no_reply = 0;
	c->quiet = jx_bool(msg, "_quiet", 0);
	c->run = jx_int(msg, "_run", 0);
	/* A child of the worker's message.inbound: one trace per message. */
	c->turn = otel_span_start("session.turn", json_string_value(
	    json_object_get(msg, "traceparent")));
	otel_span_str(c->turn, "channel", c->id);
	otel_span_str(c->turn, "bot", c->bot);
	otel_span_str(c->turn, "message.id", json_string_value(
	    json_object_get(msg, "id")));
	otel_span_str(c->turn, "session.id", chan_session_id(c));
	c->stream = stream_new(c->bot, c->id, c->root, !c->quiet);
	json_array_clear(c->sent);
	if (json_array_append(c->sent, msg) == -1)
		log_warnx("channel %s: out of memory: a message lost by a "
		    "runtime crash would not be sent again", c->id);
	if (be->send(c->bs, text, 0, json_object_get(msg, "_attachments")) == -1) {
		chan_end_stream(c, "cannot send the message to Copilot");
		chan_turn_done(c, "cannot send the message to Copilot");
		return;
	}
	stream_turn_times(c->stream, (uint64_t)jx_int(msg, "readUs", 0),
	    util_now_us());
}

/*
 * A model of the runtime's own (no BYOK provider) needs a GitHub sign-in:
 * without one the runtime fails every turn, so the user hears once why.
 */
static int
chan_unauthenticated(struct chan *c)
{
	struct chan_conf	cc;

	if (be->signed_in == NULL || be->signed_in())
		return (0);
	return (conf_channel(c->id, c->bot, c->dm, &cc) == 0 &&
	    cc.provider == NULL);
}

/*
 * Start whatever waits in the queue, if the channel can take it now.  A
 * command (command.c marked it "_cmd") runs between turns, through the
 * command layer's hook.
 */
void
chan_run(struct chan *c)
{
	json_t	*msg;

	while (!c->busy && c->st != CH_OPENING && json_array_size(c->queue) > 0) {
		/* Its files are still coming (files.c): nothing overtakes it. */
		if (jx_bool(json_array_get(c->queue, 0), "_fetching", 0))
			return;
		msg = json_incref(json_array_get(c->queue, 0));
		(void)json_array_remove(c->queue, 0);
		if (jx_bool(msg, "_cmd", 0)) {
			hooks->command(c, msg);
			json_decref(msg);
			continue;
		}
		if (chan_unauthenticated(c)) {
			chan_say(c, jx_str(msg, "_root"), chan_no_auth);
			json_decref(msg);
			continue;
		}
		if (c->st == CH_CLOSED) {
			/* Open first; the message runs once the session is. */
			if (json_array_insert(c->queue, 0, msg) == -1)
				log_warnx("channel %s: out of memory: message "
				    "%s is lost", c->id, jx_stre(msg, "id"));
			json_decref(msg);
			chan_open(c, chan_session_id(c));
			return;
		}
		chan_turn(c, msg);
		json_decref(msg);
	}
}

/* Queue msg behind what waits; -1 (said in the channel) when full. */
int
chan_enqueue(struct chan *c, json_t *msg)
{
	if (json_array_size(c->queue) >= CHAN_QUEUE_MAX) {
		chan_say(c, jx_str(msg, "_root"), "⚠️ Too many messages "
		    "waiting; this one was dropped. Try again when the current "
		    "task is done.");
		return (-1);
	}
	if (json_array_append(c->queue, msg) == -1) {
		log_warnx("channel %s: out of memory: message %s is dropped",
		    c->id, jx_stre(msg, "id"));
		return (-1);
	}
	return (0);
}

/* A reaction of the bot on post (best effort: the worker logs a failure). */
static void
chan_react(struct chan *c, const char *post, const char *emoji)
{
	json_t	*op;

	if ((op = json_pack("{s:s,s:s,s:s,s:s}", "op", "react", "channel",
	    c->id, "post", post, "emoji", emoji)) == NULL) {
		log_warnx("channel %s: out of memory: no %s reaction", c->id,
		    emoji);
		return;
	}
	(void)outbound_op(c->bot, op, NULL, NULL);
}

/*
 * Steer the running turn with msg: 0 when the session took it.  A session
 * that cannot take it now (its runtime restarting) keeps it for later in
 * the backend; -1 means it must wait in the queue instead.
 */
int
chan_steer(struct chan *c, json_t *msg)
{
	if (!c->busy || c->bs == NULL ||
	    be->send(c->bs, jx_stre(msg, "text"), 1,
	    json_object_get(msg, "_attachments")) == -1)
		return (-1);
	(void)json_array_append(c->sent, msg);
	/* Someone joined a scheduled turn: it is theirs to see and answer. */
	c->quiet = 0;
	/*
	 * As upstream (docs/commands.md): ⚡ says the message steered, the
	 * answer so far is final and what follows goes to a post of its own;
	 * a message still streaming is finished first.
	 */
	chan_react(c, jx_stre(msg, "id"), "zap");
	free(c->steer_root);
	if ((c->steer_root = strdup(jx_stre(msg, "_root"))) == NULL)
		log_warnx("channel %s: out of memory: the answer to %s stays "
		    "in the post before it", c->id, jx_stre(msg, "id"));
	else if (stream_said_all(c->stream))
		chan_steer_split(c);
	return (0);
}

/* The channel id of bot's, if it has been served since sessiond started. */
struct chan *
chan_find(const char *id, const char *thread, const char *bot)
{
	struct chan	*c;

	TAILQ_FOREACH(c, &chans, entry)
		if (chan_is(c, id, thread) && strcmp(c->bot, bot) == 0)
			return (c);
	return (NULL);
}

/*
 * The session of channel id (its own or a thread's) with a permission
 * prompt waiting: a reaction answers the first prompt of the channel,
 * whichever post it is on.
 */
struct chan *
chan_prompting(const char *id, const char *bot)
{
	struct chan	*c;

	TAILQ_FOREACH(c, &chans, entry)
		if (strcmp(c->id, id) == 0 && strcmp(c->bot, bot) == 0 &&
		    perm_pending(c))
			return (c);
	return (NULL);
}

/*
 * Stopping: what no turn answered, waiting in a queue or given to the turn
 * the stop cuts short, is taken out of the ids kept with the catch-up
 * cursors, so that the next start reads it again if it is in the span a
 * catch-up re-reads (docs/architecture.md, "Catch-up after a restart").
 */
void
chan_unsee_unanswered(void)
{
	struct chan	*c;
	json_t		*m;
	size_t		 i;

	TAILQ_FOREACH(c, &chans, entry) {
		json_array_foreach(c->queue, i, m)
			store_unsee(c->id, c->bot, jx_str(m, "id"));
		json_array_foreach(c->busy ? c->sent : NULL, i, m)
			store_unsee(c->id, c->bot, jx_str(m, "id"));
	}
}

void
chan_free_all(void)
{
	struct chan	*c;

	while ((c = TAILQ_FIRST(&chans)) != NULL)
		chan_free(c);
}
