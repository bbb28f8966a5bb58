/*
 * agent: see agent.h.
 *
 * A call carries its chain as upstream's InterAgentContext does: the
 * chain's id, the bots visited (the first caller first) and the depth.
 * A call is refused, in upstream's words, when the feature is off, the
 * depth reached interAgent.maxDepth, the target is already in the chain,
 * or the allowlists (canCall of the caller, canBeCalledBy of the target,
 * "*" for any) do not both say yes.  Unlike upstream, the session of a
 * call at the depth limit still has the tool, so a call past the limit
 * gets that reason rather than a tool that is not there.
 *
 * The target's session answers in the target bot's workspace with its
 * model and agent; nobody can answer its permission prompts, so what the
 * rules (the caller's denyTools and grantTools, the target's stored rules
 * "bot:<name>", the caller's channel's, the config's, autopilot if the
 * caller asked) do not allow is denied.  It is stopped (aborted, closed)
 * when the call times out, and with it any call it made.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/db.h"
#include "common/jx.h"
#include "common/log.h"
#include "common/policy.h"
#include "common/utf8.h"
#include "common/util.h"
#include "agent.h"
#include "backend.h"
#include "chan.h"
#include "conf.h"
#include "store.h"
#include "tools.h"

#define AGENT_TIMEOUT_S		60	/* interAgent.defaultTimeout */
#define AGENT_TIMEOUT_MAX_S	300	/* interAgent.maxTimeout */
#define AGENT_DEPTH_MAX		3	/* interAgent.maxDepth */
#define AGENT_SUMMARY		500	/* characters kept of a message, a reply */
#define AGENT_REPLY_MAX		(256 * 1024)	/* bytes of a reply kept */
/* No channel: the bot's own workspace and settings, as a DM of it has. */
#define AGENT_NO_CHANNEL	""

struct acall {
	TAILQ_ENTRY(acall)	 entry;
	struct acall		*parent;	/* the call whose session asked */
	struct chan		*c;		/* else: the channel that asked */
	struct bsession		*caller_bs;	/* the session that asked */
	char			*request_id;	/* its tool call */
	char			*caller, *target, *key;	/* bare names; key */
	char			*agent, *message, *origin;
	char			 chain[37];
	json_t			*visited;	/* the chain, this target last */
	int			 depth;		/* this call's */
	int			 autopilot;
	json_t			*deny, *grant;	/* arrays of tool names */
	struct bsession		*bs;		/* the target's session */
	struct event		*timer;
	uint64_t		 t0_ms;
	int			 timeout_s;
	char			*reply;
	size_t			 reply_len;
	int			 done;
	char			 label[160];	/* for the backend's logs */
};
TAILQ_HEAD(acallq, acall);

static struct acallq	agent_calls = TAILQ_HEAD_INITIALIZER(agent_calls);
static struct event_base *agent_base;
static int		agent_stopping;

static const struct backend_events	agent_events;

/* ---- the config ------------------------------------------------------- */

static const json_t *
agent_conf(void)
{
	return (conf_get() != NULL ? json_object_get(conf_get()->root,
	    "interAgent") : NULL);
}

int
agent_enabled(void)
{
	return (jx_bool(agent_conf(), "enabled", 0));
}

static double
agent_num(const char *key, double def)
{
	const json_t	*v = json_object_get(agent_conf(), key);

	return (json_is_number(v) && json_number_value(v) > 0 ?
	    json_number_value(v) : def);
}

static const char *
agent_bare(const char *key)
{
	const char	*colon = strchr(key, ':');

	return (colon != NULL ? colon + 1 : key);
}

/* The configured bot called name ("b" or "mattermost:b"), or NULL. */
static const char *
agent_bot_key(const char *name)
{
	const struct conf	*c = conf_get();
	size_t			 i;

	for (i = 0; c != NULL && i < c->nbots; i++)
		if (strcmp(c->bots[i].key, name) == 0 ||
		    strcmp(agent_bare(c->bots[i].key), name) == 0)
			return (c->bots[i].key);
	return (NULL);
}

/* Is name in the list (or "*")? */
static int
agent_listed(const json_t *list, const char *name)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(list, i, v)
		if (json_is_string(v) && (strcmp(json_string_value(v), "*") ==
		    0 || strcmp(json_string_value(v), name) == 0))
			return (1);
	return (0);
}

static void
agent_join(const json_t *visited, char *buf, size_t len)
{
	const json_t	*v;
	size_t		 i, o = 0;

	buf[0] = '\0';
	json_array_foreach(visited, i, v)
		if (o < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", i > 0 ?
			    " → " : "", json_string_value(v));
}

/* Upstream's canCall(): NULL if allowed, else why not (in why). */
static const char *
agent_refused(const char *caller, const char *target, const json_t *visited,
    int depth, char *why, size_t len)
{
	const json_t	*allow = json_object_get(agent_conf(), "allow");
	int		 max = (int)agent_num("maxDepth", AGENT_DEPTH_MAX);
	char		 chain[512];

	if (!agent_enabled())
		(void)snprintf(why, len, "Inter-agent communication is "
		    "disabled");
	else if (depth >= max)
		(void)snprintf(why, len, "Call chain depth limit reached (max "
		    "%d)", max);
	else if (agent_listed(visited, target)) {
		agent_join(visited, chain, sizeof(chain));
		(void)snprintf(why, len, "Cycle detected: %s is already in the "
		    "call chain [%s]", target, chain);
	} else if (!json_is_object(allow))
		(void)snprintf(why, len, "No inter-agent allowlist configured");
	else if (!agent_listed(json_object_get(json_object_get(allow, caller),
	    "canCall"), target))
		(void)snprintf(why, len, "%s is not allowed to call %s", caller,
		    target);
	else if (!agent_listed(json_object_get(json_object_get(allow, target),
	    "canBeCalledBy"), caller))
		(void)snprintf(why, len, "%s does not allow calls from %s",
		    target, caller);
	else if (agent_bot_key(target) == NULL)
		(void)snprintf(why, len, "No bot named %s on this bridge",
		    target);
	else
		return (NULL);
	return (why);
}

/* ---- records ------------------------------------------------------------ */

static int
agent_record_apply(struct db *db, void *data)
{
	const json_t		*r = data;
	struct db_agent_call	 c;

	memset(&c, 0, sizeof(c));
	c.caller = jx_str(r, "caller");
	c.target = jx_str(r, "target");
	c.agent = jx_str(r, "agent");
	c.message = jx_str(r, "message");
	c.response = jx_str(r, "response");
	c.duration_ms = jx_int(r, "duration_ms", 0);
	c.success = jx_bool(r, "success", 0);
	c.error = jx_str(r, "error");
	c.chain_id = jx_str(r, "chain_id");
	c.depth = (int)jx_int(r, "depth", 0);
	return (db_add_agent_call(db, &c));
}

static void
agent_record_release(void *data)
{
	json_decref(data);
}

/* A summary: the first AGENT_SUMMARY characters. */
static json_t *
agent_summary(const char *s)
{
	if (s == NULL)
		return (json_null());
	return (json_stringn(s, utf8_cut_chars(s, strlen(s), AGENT_SUMMARY)));
}

static void
agent_record(const char *caller, const char *target, const char *agent,
    const char *message, const char *response, long long ms, int ok,
    const char *error, const char *chain, int depth)
{
	json_t	*r;

	r = json_pack("{s:s,s:s,s:s?,s:o,s:o,s:I,s:b,s:s?,s:s,s:i}", "caller",
	    caller, "target", target, "agent", agent, "message",
	    agent_summary(message), "response", agent_summary(response),
	    "duration_ms", (json_int_t)ms, "success", ok, "error", error,
	    "chain_id", chain, "depth", depth);
	if (r == NULL || store_exec(agent_record_apply, agent_record_release, r,
	    NULL, NULL) == -1)
		log_warnx("ask_agent %s→%s: out of memory: the call is not "
		    "recorded", caller, target);
}

/* ---- answers ------------------------------------------------------------ */

/* The tool's result as upstream gives it: a JSON text. */
static char *
agent_result(int ok, const char *error, const char *text)
{
	json_t	*o;
	char	*s;

	o = ok ? json_pack("{s:b,s:s}", "success", 1, "response", text) :
	    json_pack("{s:b,s:s,s:s}", "success", 0, "error", error, "detail",
	    text);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return (s);
}

/* Answer a tool call of a channel's session or of a call's session. */
static void
agent_answer(struct acall *parent, struct chan *c, struct bsession *caller_bs,
    const char *rid, int ok, const char *error, const char *text)
{
	char	*s = agent_result(ok, error, text);

	if (agent_stopping)
		;
	else if (parent != NULL) {
		if (!parent->done && parent->bs != NULL &&
		    chan_backend()->answer_tool(parent->bs, rid, s != NULL ?
		    json_string(s) : json_pack("{s:s}", "error", "out of "
		    "memory")) == -1)
			log_warnx("ask_agent: cannot answer %s's call", rid);
	} else if (c->bs == caller_bs)
		tools_answer(c, rid, s, s == NULL ? "out of memory" : NULL);
	free(s);
}

static void
agent_free(struct acall *a)
{
	TAILQ_REMOVE(&agent_calls, a, entry);
	if (a->timer != NULL)
		event_free(a->timer);
	if (a->bs != NULL)
		chan_backend()->close(a->bs);
	json_decref(a->visited);
	json_decref(a->deny);
	json_decref(a->grant);
	free(a->request_id);
	free(a->caller);
	free(a->target);
	free(a->key);
	free(a->agent);
	free(a->message);
	free(a->origin);
	free(a->reply);
	free(a);
}

/*
 * The call is over: its session (and every call it made) is stopped, the
 * call recorded, the caller answered.
 */
static void
agent_finish(struct acall *a, int ok, const char *error)
{
	struct acall	*k;
	long long	 ms = (long long)(util_now_ms() - a->t0_ms);

	if (a->done)
		return;
	a->done = 1;
	/* Each finish frees calls of its own: look again from the start. */
	do {
		TAILQ_FOREACH(k, &agent_calls, entry)
			if (k->parent == a && !k->done)
				break;
		if (k != NULL)
			agent_finish(k, 0, "the calling agent's session ended");
	} while (k != NULL);
	if (!ok && a->bs != NULL)
		(void)chan_backend()->abort(a->bs);
	log_info("ask_agent %s→%s: %lld ms, %s", a->caller, a->target, ms, ok ?
	    "answered" : error);
	agent_record(a->caller, a->target, a->agent, a->message, ok ? a->reply :
	    NULL, ms, ok, ok ? NULL : error, a->chain, a->depth);
	agent_answer(a->parent, a->c, a->caller_bs, a->request_id, ok,
	    "ephemeral_session_error", ok ? (a->reply != NULL ? a->reply : "") :
	    error);
	agent_free(a);
}

static void
agent_timeout(int fd, short ev, void *arg)
{
	struct acall	*a = arg;
	char		 why[96];

	(void)snprintf(why, sizeof(why), "Ephemeral session timed out after "
	    "%ds", a->timeout_s);
	agent_finish(a, 0, why);
}

/* ---- the target's session ----------------------------------------------- */

static void
agent_ev_opened(void *arg, const char *sid, const char *error)
{
	struct acall	*a = arg;

	if (error != NULL) {
		agent_finish(a, 0, error);
		return;
	}
	log_info("ask_agent %s→%s: session %s (chain %s, depth %d)", a->caller,
	    a->target, sid, a->chain, a->depth);
	if (chan_backend()->send(a->bs, a->message, 0, NULL) == -1)
		agent_finish(a, 0, "cannot send the message to the target's "
		    "session");
}

/* The reply: the target's messages, one after the other. */
static void
agent_ev_message(void *arg, const char *text)
{
	struct acall	*a = arg;
	size_t		 n = strlen(text);
	char		*r;

	if (a->reply_len + n + 2 > AGENT_REPLY_MAX)
		return;
	if ((r = realloc(a->reply, a->reply_len + n + 3)) == NULL)
		return;
	a->reply = r;
	a->reply_len += (size_t)snprintf(r + a->reply_len, n + 3, "%s%s",
	    a->reply_len > 0 ? "\n\n" : "", text);
}

static void
agent_ev_idle(void *arg, int aborted)
{
	agent_finish(arg, !aborted, aborted ? "the target's session was "
	    "stopped" : NULL);
}

static void
agent_ev_error(void *arg, const char *message)
{
	agent_finish(arg, 0, message);
}

static void
agent_ev_lost(void *arg, const char *why)
{
	agent_finish(arg, 0, why);
}

/* Nobody answers prompts here: the rules decide, else it is denied. */
static void
agent_ev_permission(void *arg, const char *id, const char *kind,
    const char *detail, const json_t *request)
{
	struct acall		*a = arg;
	struct chan_conf	 cc;
	struct policy_decision	 d;
	const char		*tool = jx_str(request, "toolName"), *scopes[3];
	char			 botscope[160];
	enum bperm		 how;

	if (tool == NULL)
		tool = kind;
	(void)snprintf(botscope, sizeof(botscope), "bot:%s", a->target);
	scopes[0] = botscope;
	scopes[1] = a->origin;
	scopes[2] = "global";
	if (conf_channel(AGENT_NO_CHANNEL, a->key, 1, &cc) == -1)
		memset(&cc, 0, sizeof(cc));
	perm_policy(request, kind, cc.cwd, cc.admin, a->autopilot, scopes, 3,
	    &d);
	if (d.source != POLICY_SRC_HARD && agent_listed(a->deny, tool))
		how = BPERM_POLICY;
	else if (d.source != POLICY_SRC_HARD && agent_listed(a->grant, tool) &&
	    d.verdict != POLICY_DENY)
		how = BPERM_APPROVE;
	else
		how = d.verdict == POLICY_ALLOW ? BPERM_APPROVE :
		    d.verdict == POLICY_DENY ? BPERM_POLICY : BPERM_UNAVAILABLE;
	log_info("ask_agent %s→%s: %s %s", a->caller, a->target, tool,
	    how == BPERM_APPROVE ? "allowed" : "denied (nobody to ask)");
	(void)chan_backend()->answer_permission(a->bs, id, how);
}

static void
agent_ev_hook(void *arg, void *tok, const char *type, const json_t *input)
{
	struct acall	*a = arg;

	chan_backend()->answer_hook(a->bs, tok, NULL);
}

static void
agent_ev_input(void *arg, void *tok, const char *question,
    const json_t *choices, int freeform)
{
	struct acall	*a = arg;

	(void)chan_backend()->answer_input(a->bs, tok, "", 1);
}

static void	agent_ask(struct acall *, struct chan *, struct bsession *,
		    const char *, const json_t *);

static void
agent_ev_tool_call(void *arg, const char *rid, const char *name,
    const json_t *args)
{
	struct acall	*a = arg;

	if (strcmp(name, "ask_agent") == 0)
		agent_ask(a, NULL, a->bs, rid, args);
	else
		(void)chan_backend()->answer_tool(a->bs, rid, json_pack("{s:s}",
		    "error", "not available in a call between agents"));
}

static const struct backend_events agent_events = {
	.opened = agent_ev_opened,
	.message = agent_ev_message,
	.permission = agent_ev_permission,
	.idle = agent_ev_idle,
	.error = agent_ev_error,
	.lost = agent_ev_lost,
	.hook = agent_ev_hook,
	.input = agent_ev_input,
	.tool_call = agent_ev_tool_call,
};

/* What the target is told of the call (upstream's words), appended. */
static json_t *
agent_system(const struct acall *a)
{
	const struct conf	*c = conf_get();
	int			 max = (int)agent_num("maxDepth", AGENT_DEPTH_MAX);
	char			*text = NULL, chain[512];
	size_t			 len = 0, i, n = 0;
	FILE			*f;
	json_t			*o;

	if ((f = open_memstream(&text, &len)) == NULL)
		return (NULL);
	agent_join(a->visited, chain, sizeof(chain));
	fprintf(f, "This request is from agent \"%s\". You are responding to an "
	    "inter-agent query, not a direct user message.\nThe originating "
	    "channel is \"%s\".", a->caller, a->origin);
	if (a->depth > 1)
		fprintf(f, "\nCall chain depth: %d. Chain: %s.", a->depth - 1,
		    chain);
	for (i = 0; i < c->nchans; i++) {
		if (strcmp(c->chans[i].served_by, a->key) != 0 ||
		    c->chans[i].cwd == NULL)
			continue;
		fprintf(f, "%s- %s: %s", n++ == 0 ? "\n\nYou have access to the "
		    "following project workspaces:\n" : "\n", c->chans[i].name !=
		    NULL ? c->chans[i].name : c->chans[i].id, c->chans[i].cwd);
	}
	if (a->depth < max)
		fprintf(f, "\n\nYou have the ask_agent tool available for calling "
		    "other agents. Current call chain: %s. Remaining depth: %d.",
		    chain, max - a->depth);
	if (fclose(f) == EOF) {
		free(text);
		return (NULL);
	}
	o = json_pack("{s:s}", "content", text);
	free(text);
	return (o);
}

/* The target's session: its workspace, model and agent, our tool. */
static int
agent_open(struct acall *a)
{
	struct chan_conf	cc;
	struct bsession_opts	o;

	if (conf_channel(AGENT_NO_CHANNEL, a->key, 1, &cc) == -1)
		return (-1);
	memset(&o, 0, sizeof(o));
	(void)snprintf(a->label, sizeof(a->label), "ask_agent %s→%s",
	    a->caller, a->target);
	o.channel = a->label;
	o.cwd = cc.cwd;
	o.model = cc.model;
	o.agent = a->agent != NULL ? a->agent : cc.agent;
	o.provider = chan_provider(cc.provider);
	o.extra = json_pack("{s:b,s:o,s:o*}", "requestUserInput", 0, "tools",
	    tools_decl_one("ask_agent"), "systemMessage", agent_system(a));
	if (o.extra != NULL && cc.effort != NULL)
		(void)json_object_set_new(o.extra, "reasoningEffort",
		    json_string(cc.effort));
	a->bs = chan_backend()->open(&o, NULL, &agent_events, a);
	json_decref(o.provider);
	json_decref(o.extra);
	return (a->bs != NULL ? 0 : -1);
}

/* ---- a call ------------------------------------------------------------- */

static int
agent_fill(struct acall *a, const char *caller, const char *target,
    const json_t *args)
{
	const json_t	*d = json_object_get(args, "denyTools");
	const json_t	*g = json_object_get(args, "grantTools");
	double		 t = agent_num("defaultTimeout", AGENT_TIMEOUT_S);
	double		 max = agent_num("maxTimeout", AGENT_TIMEOUT_MAX_S);

	if (json_is_number(json_object_get(args, "timeout")) &&
	    json_number_value(json_object_get(args, "timeout")) > 0)
		t = json_number_value(json_object_get(args, "timeout"));
	a->timeout_s = (int)(t < max ? t : max);
	if (a->timeout_s < 1)
		a->timeout_s = 1;
	a->autopilot = jx_bool(args, "autopilot", 0);
	a->deny = json_is_array(d) ? json_deep_copy(d) : json_array();
	a->grant = json_is_array(g) ? json_deep_copy(g) : json_array();
	return (a->deny == NULL || a->grant == NULL ||
	    (a->caller = strdup(caller)) == NULL ||
	    (a->target = strdup(target)) == NULL ||
	    (a->key = strdup(agent_bot_key(target))) == NULL ||
	    (a->message = strdup(jx_stre(args, "message"))) == NULL ||
	    (jx_str(args, "agent") != NULL &&
	    (a->agent = strdup(jx_str(args, "agent"))) == NULL) ? -1 : 0);
}

/*
 * A tool call of ask_agent: from a channel's session (parent NULL, c) or
 * from a call's session (parent).
 */
static void
agent_ask(struct acall *parent, struct chan *c, struct bsession *caller_bs,
    const char *rid, const json_t *args)
{
	const char	*target = jx_str(args, "target");
	const char	*caller = parent != NULL ? parent->target :
			    agent_bare(c->bot);
	const json_t	*visited0 = parent != NULL ? parent->visited : NULL;
	int		 depth0 = parent != NULL ? parent->depth : 0;
	struct acall	*a;
	json_t		*top = NULL;
	char		 why[768], chain[37];

	if (target == NULL || jx_str(args, "message") == NULL) {
		agent_answer(parent, c, caller_bs, rid, 0, "tool_error", "target "
		    "and message are required");
		return;
	}
	if (parent != NULL)
		(void)snprintf(chain, sizeof(chain), "%s", parent->chain);
	else if (util_uuid_v4(chain) == -1 ||
	    (top = json_pack("[s]", caller)) == NULL) {
		agent_answer(parent, c, caller_bs, rid, 0, "tool_error", "no "
		    "memory or entropy for a new call chain");
		return;
	}
	if (agent_refused(caller, target, top != NULL ? top : visited0, depth0,
	    why, sizeof(why)) != NULL) {
		log_info("ask_agent %s→%s refused: %s", caller, target, why);
		agent_record(caller, target, jx_str(args, "agent"), jx_str(args,
		    "message"), NULL, 0, 0, why, chain, depth0 + 1);
		agent_answer(parent, c, caller_bs, rid, 0, "not_allowed", why);
		json_decref(top);
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		json_decref(top);
		agent_answer(parent, c, caller_bs, rid, 0, "tool_error",
		    "out of memory");
		return;
	}
	TAILQ_INSERT_TAIL(&agent_calls, a, entry);
	a->parent = parent;
	a->c = c;
	a->caller_bs = caller_bs;
	a->t0_ms = util_now_ms();
	a->depth = depth0 + 1;
	(void)snprintf(a->chain, sizeof(a->chain), "%s", chain);
	a->visited = json_deep_copy(top != NULL ? top : visited0);
	json_decref(top);
	if ((a->request_id = strdup(rid)) == NULL || a->visited == NULL ||
	    json_array_append_new(a->visited, json_string(target)) == -1 ||
	    (a->origin = strdup(parent != NULL ? parent->origin : c->id)) ==
	    NULL || agent_fill(a, caller, target, args) == -1 ||
	    (a->timer = evtimer_new(agent_base, agent_timeout, a)) ==
	    NULL) {
		a->done = 1;
		agent_answer(parent, c, caller_bs, rid, 0, "tool_error",
		    "out of memory");
		agent_free(a);
		return;
	}
	(void)util_timer_ms(a->timer, (uint64_t)a->timeout_s * 1000);
	if (agent_open(a) == -1)
		agent_finish(a, 0, "cannot open a session for the target");
}

void
tool_ask_agent(struct chan *c, const char *request_id, const json_t *args)
{
	agent_ask(NULL, c, c->bs, request_id, args);
}

void
agent_init(struct event_base *base)
{
	agent_base = base;
}

void
agent_shutdown(void)
{
	struct acall	*a;

	agent_stopping = 1;
	while ((a = TAILQ_FIRST(&agent_calls)) != NULL) {
		a->done = 1;
		agent_free(a);
	}
}
