/*
 * perm: the runtime's permission requests and questions, per channel
 * (docs/architecture.md "Permissions").
 *
 * A request is decided by common/policy.c in this order: hard-coded
 * denies, bridge tools, the channel's autopilot, the config's rules, the
 * stored rules; only what none of them decides is put to the user.  Those
 * prompts wait in a queue per channel and only the first is shown;
 * answering it (/approve, /deny, /always approve|deny, a reaction, a new
 * message) shows the next.  "Always" stores the rules policy_remember()
 * makes, scoped to the channel, before answering.
 *
 * The agent's questions (userInput.request) wait the same way; the next
 * message of the channel is the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/policy.h"
#include "common/utf8.h"
#include "common/util.h"
#include "chan.h"
#include "conf.h"
#include "store.h"

#define PERM_STORED_MAX	512		/* stored rules one decision reads */
#define PERM_CMD_SHOWN	500		/* characters of a command in a prompt */

/* The bridge's own tools, approved without a prompt. */
static const char *const perm_bridge_tools[] = {
	"send_file", "show_file_in_chat", "ask_agent", "schedule",
	"fetch_copilot_bridge_documentation", "no_reply",
};

static void	perm_show_question(struct chan *, const struct question *);

static void
perm_free(struct chan *c, struct perm *p)
{
	TAILQ_REMOVE(&c->perms, p, entry);
	free(p->id);
	free(p->tool);
	free(p->reason);
	json_decref(p->request);
	free(p);
}

static int
perm_is_bridge_tool(const char *name)
{
	size_t	i;

	for (i = 0; name != NULL && i < nitems(perm_bridge_tools); i++)
		if (strcmp(name, perm_bridge_tools[i]) == 0)
			return (1);
	return (0);
}

/* The request as policy.c reads it; strings point into request. */
static void
perm_policy_request(const json_t *request, const char *kind,
    const struct chan_conf *cc, struct policy_request *req)
{
	memset(req, 0, sizeof(*req));
	req->kind = kind;
	req->command = jx_str(request, "fullCommandText");
	if ((req->path = jx_str(request, "fileName")) == NULL)
		req->path = jx_str(request, "path");
	req->resolved_path = jx_str(request, "resolvedPath");
	req->url = jx_str(request, "url");
	req->server = jx_str(request, "serverName");
	req->tool = jx_str(request, "toolName");
	req->cwd = cc->cwd;
	req->admin = cc->admin;
}

/* The stored rules of each scope in turn, each newest first. */
static size_t
perm_stored(const char *const *scopes, size_t nscopes, struct policy_rule *out,
    size_t max)
{
	const struct store_rule	*v[PERM_STORED_MAX];
	size_t			 n = 0, k, i, s;

	for (s = 0; s < nscopes; s++) {
		k = store_rules(scopes[s], v, nitems(v));
		if (k > nitems(v))
			k = nitems(v);
		for (i = k; i-- > 0 && n < max; n++) {
			out[n].tool = v[i]->tool;
			out[n].pattern = v[i]->pattern;
			out[n].allow = v[i]->allow;
		}
	}
	return (n);
}

void
perm_policy(const json_t *request, const char *kind, const char *cwd,
    int admin, int autopilot, const char *const *scopes, size_t nscopes,
    struct policy_decision *d)
{
	struct chan_conf	 cc;
	struct policy_request	 req;
	struct policy_rule	 stored[PERM_STORED_MAX];
	size_t			 n;

	memset(&cc, 0, sizeof(cc));
	cc.cwd = cwd;
	cc.admin = admin;
	perm_policy_request(request, kind, &cc, &req);
	n = perm_stored(scopes, nscopes, stored, nitems(stored));
	policy_decide(&req, conf_get()->policy, autopilot, stored, n,
	    perm_is_bridge_tool(req.tool), d);
}

/* Decide a request without the user: 1 when decided (and answered). */
static int
perm_decide(struct chan *c, const char *id, const char *kind,
    const json_t *request)
{
	const struct backend	*be = chan_backend();
	const char		*scopes[2] = { c->id, "global" };
	struct chan_conf	 cc;
	struct policy_decision	 d;

	if (conf_channel(c->id, c->bot, 1, &cc) == -1)
		return (0);
	perm_policy(request, kind, cc.cwd, cc.admin, cc.autopilot, scopes,
	    nitems(scopes), &d);
	if (d.verdict == POLICY_ASK)
		return (0);
	log_info("channel %s: %s %s by %s%s%s", c->id, kind,
	    d.verdict == POLICY_ALLOW ? "allowed" : "denied",
	    d.source == POLICY_SRC_HARD ? "a hard-coded rule" :
	    d.source == POLICY_SRC_BRIDGE ? "the bridge (its own tool)" :
	    d.source == POLICY_SRC_AUTOPILOT ? "autopilot" :
	    d.source == POLICY_SRC_CONFIG ? "the config's rule" : "a stored rule",
	    d.rule[0] != '\0' ? " " : "", d.rule);
	if (c->bs != NULL)
		(void)be->answer_permission(c->bs, id, d.verdict == POLICY_ALLOW ?
		    BPERM_APPROVE : BPERM_POLICY);
	return (1);
}

/* The prompt, as upstream words it (docs/commands.md). */
static void
perm_prompt(struct chan *c, const struct perm *p)
{
	const json_t	*r = p->request;
	const char	*v, *server = jx_str(r, "serverName");
	char		*text = NULL, cmd[PERM_CMD_SHOWN * 4 + 8];
	size_t		 len = 0, cut;
	FILE		*f;

	if ((f = open_memstream(&text, &len)) == NULL)
		return;
	fprintf(f, "🔐 **Permission Required**\n\n");
	if (p->reason != NULL)
		fprintf(f, "%s\n\n", p->reason);
	fprintf(f, "Tool: **%s**\n", p->tool);
	if ((v = jx_str(r, "intention")) != NULL)
		fprintf(f, "Intent: %s\n", v);
	if ((v = jx_str(r, "fullCommandText")) != NULL ||
	    (v = jx_str(r, "command")) != NULL) {
		cut = utf8_cut_chars(v, strlen(v), PERM_CMD_SHOWN);
		snprintf(cmd, sizeof(cmd), "%.*s%s", (int)cut, v,
		    cut < strlen(v) ? "..." : "");
		fprintf(f, "```\n%s\n```\n", cmd);
	}
	if ((v = jx_str(r, "path")) != NULL || (v = jx_str(r, "fileName")) != NULL)
		fprintf(f, "Path: `%s`\n", v);
	if ((v = jx_str(r, "url")) != NULL)
		fprintf(f, "URL: %s\n", v);
	if ((v = jx_str(r, "description")) != NULL)
		fprintf(f, "Description: %s\n", v);
	if (server != NULL)
		fprintf(f, "MCP Server: **%s**\n", server);
	if ((v = jx_str(r, "toolName")) != NULL && strcmp(v, p->tool) != 0)
		fprintf(f, "MCP Tool: **%s**\n", v);
	fprintf(f, "\n");
	if (p->hook != NULL)
		fprintf(f, "Reply `/approve` or `/deny`\n"
		    "React: 👍 approve · 👎 deny");
	else if (server != NULL)
		fprintf(f, "Reply `/approve` or `/deny` (`/always approve` or "
		    "`/always deny` to persist for all **%s** tools)\n"
		    "React: 👍 approve · 👎 deny · 💾 always approve · 🚫 always "
		    "deny", server);
	else
		fprintf(f, "Reply `/approve` or `/deny` (`/always approve` or "
		    "`/always deny` to persist)\n"
		    "React: 👍 approve · 👎 deny · 💾 always approve · 🚫 always "
		    "deny");
	if (fclose(f) == EOF) {
		free(text);
		return;
	}
	chan_say(c, c->root, text);
	free(text);
}

/* Show the first prompt or question not shown yet: one at a time. */
void
perm_show_next(struct chan *c)
{
	struct perm	*p = TAILQ_FIRST(&c->perms);
	struct question	*q = TAILQ_FIRST(&c->questions);

	if (p != NULL && !p->shown) {
		/* The prompt comes after what was said so far, not inside it. */
		chan_end_stream(c, NULL);
		p->shown = 1;
		perm_prompt(c, p);
	} else if (p == NULL && q != NULL && !q->shown) {
		chan_end_stream(c, NULL);
		q->shown = 1;
		perm_show_question(c, q);
	}
}

static struct perm *
perm_add(struct chan *c, const char *id, const char *tool,
    const json_t *request, struct hookcall *hc, const char *reason)
{
	struct perm	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	TAILQ_INSERT_TAIL(&c->perms, p, entry);
	p->hook = hc;
	p->request = request != NULL ? json_deep_copy(request) : NULL;
	if ((id != NULL && (p->id = strdup(id)) == NULL) ||
	    (p->tool = strdup(tool)) == NULL ||
	    (reason != NULL && (p->reason = strdup(reason)) == NULL) ||
	    (request != NULL && p->request == NULL)) {
		perm_free(c, p);
		return (NULL);
	}
	perm_show_next(c);
	return (p);
}

void
perm_request(struct chan *c, const char *id, const char *kind,
    const json_t *request)
{
	const char	*tool = jx_str(request, "toolName");

	if (perm_decide(c, id, kind, request))
		return;
	/* A scheduled task runs unattended: what no rule allows is denied. */
	if (c->quiet) {
		log_info("channel %s: %s denied: a scheduled task runs with "
		    "nobody to ask", c->id, tool != NULL ? tool : kind);
		if (c->bs != NULL)
			(void)chan_backend()->answer_permission(c->bs, id,
			    BPERM_REJECT);
		return;
	}
	if (perm_add(c, id, tool != NULL ? tool : kind, request, NULL,
	    NULL) == NULL && c->bs != NULL) {
		log_warnx("channel %s: out of memory: permission %s denied",
		    c->id, id);
		(void)chan_backend()->answer_permission(c->bs, id, BPERM_REJECT);
	}
}

/* A preToolUse hook said "ask": 0, or -1 (the caller denies). */
int
perm_hook_ask(struct chan *c, struct hookcall *hc, const char *reason)
{
	if (c->quiet) {
		log_info("channel %s: a hook's question denied: a scheduled "
		    "task runs with nobody to ask", c->id);
		return (-1);
	}
	return (perm_add(c, NULL, hc->tool, NULL, hc, reason) != NULL ? 0 : -1);
}

int
perm_pending(const struct chan *c)
{
	return (!TAILQ_EMPTY(&c->perms));
}

int
perm_is_hook(const struct chan *c)
{
	return (!TAILQ_EMPTY(&c->perms) && TAILQ_FIRST(&c->perms)->hook != NULL);
}

/* Store the rules "always" means for p (the channel's scope). */
static void
perm_remember(struct chan *c, const struct perm *p, int allow)
{
	struct chan_conf	 cc;
	struct policy_request	 req;
	struct policy_rule	*rules = NULL;
	size_t			 n = 0, i;

	if (p->request == NULL || conf_channel(c->id, c->bot, 1, &cc) == -1)
		return;
	perm_policy_request(p->request, jx_stre(p->request, "kind"), &cc, &req);
	if (policy_remember(&req, allow, &rules, &n) == -1) {
		log_warnx("channel %s: this request cannot be remembered",
		    c->id);
		return;
	}
	for (i = 0; i < n; i++) {
		(void)store_clear_rules(c->id, rules[i].tool, rules[i].pattern,
		    NULL, NULL);
		if (store_add_rule(c->id, rules[i].tool, rules[i].pattern, allow,
		    NULL, NULL) == -1)
			log_warnx("channel %s: a rule could not be stored",
			    c->id);
	}
	log_info("channel %s: %zu rule(s) remembered (%s)", c->id, n,
	    allow ? "allow" : "deny");
	free(rules);
}

/*
 * Answer the first prompt (remember: and store the rule); -1 if there is
 * none.  A hook's "ask" is never remembered.
 */
int
perm_answer_first(struct chan *c, int approve, int remember)
{
	struct perm	*p = TAILQ_FIRST(&c->perms);

	if (p == NULL || c->bs == NULL)
		return (-1);
	if (p->hook != NULL)
		chan_hook_decide(p->hook, approve);
	else {
		if (remember)
			perm_remember(c, p, approve);
		(void)chan_backend()->answer_permission(c->bs, p->id, approve ?
		    BPERM_APPROVE : BPERM_REJECT);
	}
	perm_free(c, p);
	perm_show_next(c);
	return (0);
}

/*
 * End every prompt: answered how (a hook's "ask" is denied), or with
 * !answer just forgotten (the turn is over, nobody waits).
 */
void
perm_drop_all(struct chan *c, int answer, enum bperm how)
{
	struct perm	*p;

	while ((p = TAILQ_FIRST(&c->perms)) != NULL) {
		if (p->hook != NULL && answer)
			chan_hook_decide(p->hook, 0);
		else if (answer && c->bs != NULL)
			(void)chan_backend()->answer_permission(c->bs, p->id, how);
		perm_free(c, p);
	}
}

/* The session closes: hooks' asks go (the backend answers them {}). */
void
perm_forget_hooks(struct chan *c)
{
	struct perm	*p, *np;

	for (p = TAILQ_FIRST(&c->perms); p != NULL; p = np) {
		np = TAILQ_NEXT(p, entry);
		if (p->hook != NULL)
			perm_free(c, p);
	}
}

/*
 * A reaction answers the channel's first prompt, whichever post it is on:
 * 👍 approve, 👎 deny, 💾 approve and remember, 🚫 deny and remember.
 */
void
perm_reaction(struct chan *c, const char *emoji)
{
	static const struct {
		const char	*emoji;
		int		 approve, remember;
		const char	*said, *said_hook;
	} r[] = {
		{ "+1", 1, 0, "✅ Approved via reaction.", NULL },
		{ "thumbsup", 1, 0, "✅ Approved via reaction.", NULL },
		{ "-1", 0, 0, "❌ Denied via reaction.", NULL },
		{ "thumbsdown", 0, 0, "❌ Denied via reaction.", NULL },
		{ "floppy_disk", 1, 1, "💾 Approved + remembered via reaction.",
		    "✅ Approved via reaction." },
		{ "no_entry_sign", 0, 1, "🚫 Denied + remembered via reaction.",
		    "❌ Denied via reaction." },
	};
	size_t	i;
	int	hook = perm_is_hook(c);

	for (i = 0; i < nitems(r); i++)
		if (strcmp(emoji, r[i].emoji) == 0)
			break;
	if (i == nitems(r) || perm_answer_first(c, r[i].approve,
	    r[i].remember && !hook) == -1)
		return;
	chan_say(c, c->root, hook && r[i].said_hook != NULL ? r[i].said_hook :
	    r[i].said);
}

/* ---- the agent's questions ------------------------------------------------ */

static void
perm_show_question(struct chan *c, const struct question *q)
{
	char	*text = NULL;
	size_t	 len = 0, i;
	FILE	*f;

	if ((f = open_memstream(&text, &len)) == NULL)
		return;
	fprintf(f, "❓ **Copilot needs your input:**\n\n%s\n\n", q->text);
	if (json_array_size(q->choices) > 0) {
		for (i = 0; i < json_array_size(q->choices); i++)
			fprintf(f, "%zu. %s\n", i + 1, json_string_value(
			    json_array_get(q->choices, i)) ?: "");
		fprintf(f, "\nReply with a number or type your answer.");
	} else
		fprintf(f, "Reply with your answer.");
	if (fclose(f) == EOF) {
		free(text);
		return;
	}
	chan_say(c, c->root, text);
	free(text);
}

static void
perm_question_free(struct chan *c, struct question *q)
{
	TAILQ_REMOVE(&c->questions, q, entry);
	json_decref(q->choices);
	free(q->text);
	free(q);
}

void
perm_question(struct chan *c, void *tok, const char *text,
    const json_t *choices)
{
	struct question	*q;

	if (c->quiet) {
		log_info("channel %s: a question of the agent answered empty: "
		    "a scheduled task runs with nobody to ask", c->id);
		(void)chan_backend()->answer_input(c->bs, tok, "", 1);
		return;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL || (q->text = strdup(text)) ==
	    NULL) {
		free(q);
		(void)chan_backend()->answer_input(c->bs, tok, "", 1);
		return;
	}
	q->tok = tok;
	q->choices = json_is_array(choices) ? json_deep_copy(choices) : NULL;
	TAILQ_INSERT_TAIL(&c->questions, q, entry);
	perm_show_next(c);
}

int
perm_questions(const struct chan *c)
{
	return (!TAILQ_EMPTY(&c->questions));
}

/* The message answers the first question: a choice's number, or text. */
void
perm_answer_question(struct chan *c, const char *text)
{
	struct question	*q = TAILQ_FIRST(&c->questions);
	const char	*answer = text;
	char		*end;
	long		 n;
	int		 freeform = 1;

	if (q == NULL)
		return;
	n = strtol(text, &end, 10);
	if (end != text && *end == '\0' && n >= 1 &&
	    (size_t)n <= json_array_size(q->choices)) {
		answer = json_string_value(json_array_get(q->choices,
		    (size_t)n - 1)) ?: text;
		freeform = 0;
	}
	if (c->bs != NULL)
		(void)chan_backend()->answer_input(c->bs, q->tok, answer,
		    freeform);
	perm_question_free(c, q);
	perm_show_next(c);
}

/* The session goes: its questions are answered by close() (empty). */
void
perm_drop_questions(struct chan *c)
{
	while (!TAILQ_EMPTY(&c->questions))
		perm_question_free(c, TAILQ_FIRST(&c->questions));
}
