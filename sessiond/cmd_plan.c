/*
 * cmd_plan: the session's mode and plan, over the runtime's requests
 * (session.mode.get/set, session.plan.read/delete): /autopilot (/auto),
 * /plan [show|view|summary|clear|delete|on|off], /implement
 * [yolo|interactive].  Replies as upstream's (docs/commands.md, "Modes
 * and plans").  A mode set is kept as the channel's session_mode
 * preference; plan.c gives it to every session the channel opens.
 *
 * They act on the channel's session: when none is open, the command waits
 * in the queue while one opens (resumed when the channel has one).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/util.h"
#include "chan.h"
#include "chanop.h"
#include "cmd.h"
#include "conf.h"
#include "plan.h"
#include "store.h"

#define CMD_PLAN_ON	0x01	/* /autopilot: it was off */
#define CMD_PLAN_YOLO	0x02	/* /implement yolo */
#define CMD_PLAN_INTER	0x04	/* /implement interactive */

static const char	cmd_plan_none[] = "📋 No plan exists for this session.";
static const char	cmd_plan_usage[] = "⚠️ Usage: `/plan` (toggle), "
    "`/plan show`, `/plan summary`, `/plan clear`, `/plan on`, `/plan off`";

/*
 * /plan and /implement wait for the running turn, as every command that
 * is not read-only, except while the agent waits for its plan's approval:
 * then they are the answer (1: it waits).
 */
static int
cmd_plan_later(struct cmdctx *x)
{
	struct chan	*c = x->c;

	if (plan_exit_pending(c) || jx_bool(x->msg, "_cmd", 0) ||
	    (!c->busy && c->st != CH_OPENING && json_array_size(c->queue) == 0))
		return (0);
	command_defer(x);
	return (1);
}

/* 1 when the session is open; else the command runs again once it is. */
static int
cmd_plan_session(struct cmdctx *x)
{
	struct chan	*c = x->c;

	if (c->st == CH_OPEN && c->bs != NULL)
		return (1);
	if (json_object_set_new(x->msg, "_cmd", json_true()) == -1 ||
	    json_array_insert(c->queue, 0, x->msg) == -1) {
		cmd_say(x, "❌ Failed: out of memory");
		return (0);
	}
	if (c->st == CH_CLOSED)
		chan_open(c, chan_session_id(c));
	return (0);
}

static void
cmd_plan_fail(struct chanop *op, const char *error)
{
	char	*text;

	if (asprintf(&text, "❌ Failed: %s", error) != -1) {
		chan_say(op->c, op->root, text);
		free(text);
	}
	chanop_free(op);
}

static int
cmd_plan_call(struct chanop *op, const char *method, json_t *params,
    chanop_cb cb)
{
	if (chanop_call(op, method, params, cb) == 0)
		return (0);
	cb(op, NULL, "the session cannot be reached");
	return (-1);
}

/* The session's mode, from session.mode.get or else the preference. */
static const char *
cmd_plan_current(struct chanop *op, const json_t *result, const char *error)
{
	struct chan_conf	cc;
	const char		*m = json_string_value(result);

	if (error == NULL && m != NULL) {
		if (strcmp(m, "plan") == 0)
			return ("plan");
		if (strcmp(m, "autopilot") == 0)
			return ("autopilot");
		return ("interactive");
	}
	log_warnx("channel %s: the session's mode is not known (%s): the "
	    "preference says", op->c->id, error != NULL ? error : "?");
	if (conf_channel(op->c->id, op->c->bot, 1, &cc) == 0 &&
	    cc.session_mode != NULL) {
		if (strcmp(cc.session_mode, "plan") == 0)
			return ("plan");
		if (strcmp(cc.session_mode, "autopilot") == 0)
			return ("autopilot");
	}
	return ("interactive");
}

/* ---- a mode set: the session's, then the channel's preference ----------- */

static void
cmd_plan_mode_saved(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL)
		log_warnx("channel %s: session mode %s set, not saved: %s",
		    op->c->id, op->word, error);
	op->then(op, NULL, NULL);
}

static void
cmd_plan_mode_set(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL) {
		op->then(op, NULL, error);
		return;
	}
	log_info("channel %s: session mode %s", op->c->id, op->word);
	(void)chanop_pref(op, "session_mode", op->word);
	chanop_stored(op, cmd_plan_mode_saved);
}

/* Put the session in mode (a literal); then(op, NULL, error). */
static void
cmd_plan_mode(struct chanop *op, const char *mode, chanop_cb then)
{
	op->word = mode;
	op->then = then;
	(void)cmd_plan_call(op, "session.mode.set", json_pack("{s:s}", "mode",
	    mode), cmd_plan_mode_set);
}

/* ---- /autopilot ------------------------------------------------------------ */

static void
cmd_autopilot_done(struct chanop *op, const json_t *result, const char *error)
{
	struct chan_conf	cc;

	if (error != NULL) {
		cmd_plan_fail(op, error);
		return;
	}
	if (!(op->flags & CMD_PLAN_ON))
		chan_say(op->c, op->root, "🛡️ **Autopilot off** — back to "
		    "interactive mode.");
	else if (conf_channel(op->c->id, op->c->bot, 1, &cc) == 0 &&
	    cc.autopilot)
		chan_say(op->c, op->root, "🤖 **Autopilot enabled** — "
		    "autonomous agentic loop. Use `/autopilot` to toggle off.");
	else
		chan_say(op->c, op->root, "🤖 **Autopilot enabled** — "
		    "autonomous agentic loop. Use `/autopilot` to toggle off."
		    "\n\n⚠️ Yolo is off — you'll still be prompted for tool "
		    "permissions. Use `/yolo` to auto-approve.");
	chanop_free(op);
}

static void
cmd_autopilot_got(struct chanop *op, const json_t *result, const char *error)
{
	if (strcmp(cmd_plan_current(op, result, error), "autopilot") == 0)
		cmd_plan_mode(op, "interactive", cmd_autopilot_done);
	else {
		op->flags |= CMD_PLAN_ON;
		cmd_plan_mode(op, "autopilot", cmd_autopilot_done);
	}
}

/* /autopilot: the session's mode autopilot <-> interactive. */
void
cmd_autopilot(struct cmdctx *x)
{
	struct chanop	*op;

	if (!cmd_plan_session(x) ||
	    (op = chanop_new(x->c, x->root, x->msg, 0)) == NULL)
		return;
	(void)cmd_plan_call(op, "session.mode.get", NULL, cmd_autopilot_got);
}

/* ---- /plan ---------------------------------------------------------------- */

/* The plan of a session.plan.read result, or NULL. */
static const char *
cmd_plan_content(const json_t *result, const char *error)
{
	const char	*s = jx_str(result, "content");

	return (error == NULL && jx_bool(result, "exists", 0) && s != NULL &&
	    *s != '\0' ? s : NULL);
}

static void
cmd_plan_show(struct chanop *op, const json_t *result, const char *error)
{
	const char	*plan = cmd_plan_content(result, error);
	char		*text;

	if (error != NULL)
		log_warnx("channel %s: the plan cannot be read: %s", op->c->id,
		    error);
	if (plan == NULL)
		chan_say(op->c, op->root, cmd_plan_none);
	else if (asprintf(&text, "📋 **Current Plan**\n\n%s", plan) != -1) {
		chan_say(op->c, op->root, text);
		free(text);
	}
	chanop_free(op);
}

static void
cmd_plan_summarized(struct chanop *op, const json_t *result,
    const char *error)
{
	const char	*plan = cmd_plan_content(result, error);

	if (plan == NULL)
		chan_say(op->c, op->root, cmd_plan_none);
	else
		plan_say_summary(op->c, op->root, "📋 %s\n\n`/plan show` to "
		    "view the full plan.", plan);
	chanop_free(op);
}

static void
cmd_plan_cleared(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL)
		log_warnx("channel %s: the plan is not deleted: %s", op->c->id,
		    error);
	chan_say(op->c, op->root, error == NULL ? "📋 Plan cleared." :
	    "📋 No plan to clear.");
	chanop_free(op);
}

static void
cmd_plan_off_done(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL) {
		cmd_plan_fail(op, error);
		return;
	}
	chan_say(op->c, op->root, "📋 **Plan mode off** — back to interactive "
	    "mode.");
	chanop_free(op);
}

static void
cmd_plan_off(struct chanop *op)
{
	/* A plan waiting for approval: leave plan mode, implement nothing. */
	(void)plan_exit_answer(op->c, 1, "exit_only", NULL);
	cmd_plan_mode(op, "interactive", cmd_plan_off_done);
}

static void
cmd_plan_on_read(struct chanop *op, const json_t *result, const char *error)
{
	const char	*plan = cmd_plan_content(result, error);

	plan_shown(op->c);
	if (plan == NULL)
		chan_say(op->c, op->root, "📋 **Plan mode on** — messages will "
		    "be handled as planning requests. The agent will create and "
		    "update a plan before implementing.\n\nUse `/plan show` to "
		    "view the plan, `/plan` to toggle off.");
	else
		plan_say_summary(op->c, op->root, "📋 **Existing plan found** — "
		    "%s\n\n`/plan show` to review the full plan.\n`/plan clear` "
		    "to discard and start fresh.\n\nEntering plan mode with "
		    "existing plan.", plan);
	chanop_free(op);
}

static void
cmd_plan_on_set(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL)
		cmd_plan_fail(op, error);
	else
		(void)cmd_plan_call(op, "session.plan.read", NULL,
		    cmd_plan_on_read);
}

static void
cmd_plan_toggle(struct chanop *op, const json_t *result, const char *error)
{
	if (strcmp(cmd_plan_current(op, result, error), "plan") == 0)
		cmd_plan_off(op);
	else
		cmd_plan_mode(op, "plan", cmd_plan_on_set);
}

void
cmd_plan(struct cmdctx *x)
{
	static const char *const subs[] = { "", "show", "view", "summary",
			    "clear", "delete", "on", "off" };
	struct chanop	*op;
	const char	*sub = x->arg;
	size_t		 i;

	for (i = 0; i < nitems(subs); i++)
		if (strcasecmp(sub, subs[i]) == 0)
			break;
	if (i == nitems(subs)) {
		cmd_say(x, cmd_plan_usage);
		return;
	}
	if (cmd_plan_later(x) || !cmd_plan_session(x) ||
	    (op = chanop_new(x->c, x->root, x->msg, 0)) == NULL)
		return;
	if (strcasecmp(sub, "show") == 0 || strcasecmp(sub, "view") == 0)
		(void)cmd_plan_call(op, "session.plan.read", NULL, cmd_plan_show);
	else if (strcasecmp(sub, "summary") == 0)
		(void)cmd_plan_call(op, "session.plan.read", NULL,
		    cmd_plan_summarized);
	else if (strcasecmp(sub, "clear") == 0 || strcasecmp(sub, "delete") == 0)
		(void)cmd_plan_call(op, "session.plan.delete", NULL,
		    cmd_plan_cleared);
	else if (strcasecmp(sub, "off") == 0)
		cmd_plan_off(op);
	else if (strcasecmp(sub, "on") == 0)
		cmd_plan_mode(op, "plan", cmd_plan_on_set);
	else
		(void)cmd_plan_call(op, "session.mode.get", NULL,
		    cmd_plan_toggle);
}

/* ---- /implement ----------------------------------------------------------- */

static const char *
cmd_implement_label(const struct chanop *op)
{
	if (op->flags & CMD_PLAN_INTER)
		return ("interactive");
	return (op->flags & CMD_PLAN_YOLO ? "autopilot + yolo" : "autopilot");
}

static void
cmd_implement_say(struct chanop *op)
{
	char	*text;

	if (asprintf(&text, "🚀 **Implementing plan** (%s)",
	    cmd_implement_label(op)) != -1) {
		chan_say(op->c, op->root, text);
		free(text);
	}
}

/* The plan goes to the agent as the next prompt, ahead of what waits. */
static void
cmd_implement_go(struct chanop *op, const json_t *result, const char *error)
{
	struct chan	*c = op->c;
	json_t		*m = NULL;
	char		*prompt;

	if (error != NULL)
		log_warnx("channel %s: yolo for the implementation not saved: "
		    "%s", c->id, error);
	if (asprintf(&prompt, "Implement the following plan:\n\n%s",
	    op->text) == -1)
		prompt = NULL;
	if (prompt == NULL || (m = json_deep_copy(op->msg)) == NULL) {
		free(prompt);
		plan_yolo_revert(c);
		cmd_plan_fail(op, "out of memory");
		return;
	}
	(void)json_object_del(m, "_cmd");
	(void)json_object_del(m, "_attachments");
	if (json_object_set_new(m, "text", json_string(prompt)) == -1 ||
	    json_array_insert(c->queue, 0, m) == -1) {
		free(prompt);
		json_decref(m);
		plan_yolo_revert(c);
		cmd_plan_fail(op, "out of memory");
		return;
	}
	free(prompt);
	json_decref(m);
	cmd_implement_say(op);
	chanop_free(op);
	chan_run(c);
}

static void
cmd_implement_none(struct chanop *op, const json_t *result, const char *error)
{
	chan_say(op->c, op->root, "📋 No plan exists. Create one first with "
	    "`/plan on`.");
	chanop_free(op);
}

static void
cmd_implement_read(struct chanop *op, const json_t *result, const char *error)
{
	const char	*plan = cmd_plan_content(result, error);

	if (error != NULL)
		log_warnx("channel %s: the plan cannot be read: %s", op->c->id,
		    error);
	if (plan == NULL) {
		if (op->flags & CMD_PLAN_INTER)
			cmd_implement_none(op, NULL, NULL);
		else		/* the mode goes back to where it was */
			cmd_plan_mode(op, "interactive", cmd_implement_none);
		return;
	}
	if ((op->text = strdup(plan)) == NULL) {
		cmd_plan_fail(op, "out of memory");
		return;
	}
	if (!(op->flags & CMD_PLAN_YOLO))
		cmd_implement_go(op, NULL, NULL);
	else if (plan_yolo(op) == -1) {
		plan_yolo_revert(op->c);
		cmd_plan_fail(op, "the permission mode cannot be saved");
	} else
		chanop_stored(op, cmd_implement_go);
}

static void
cmd_implement_set(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL)
		cmd_plan_fail(op, error);
	else
		(void)cmd_plan_call(op, "session.plan.read", NULL,
		    cmd_implement_read);
}

static void
cmd_implement_saved(struct chanop *op, const json_t *result,
    const char *error)
{
	if (error != NULL)
		log_warnx("channel %s: session mode %s not saved: %s",
		    op->c->id, op->word, error);
	chanop_free(op);
}

static void
cmd_implement_yolo_saved(struct chanop *op, const json_t *result,
    const char *error)
{
	if (error != NULL)
		log_warnx("channel %s: yolo for the implementation not saved: "
		    "%s", op->c->id, error);
	(void)chanop_pref(op, "session_mode", op->word);
	chanop_stored(op, cmd_implement_saved);
}

/*
 * The agent waits for its plan's approval: approve it, with the mode to
 * go on in; the runtime leaves plan mode and implements in the same turn.
 */
static void
cmd_implement_approve(struct chanop *op)
{
	op->word = op->flags & CMD_PLAN_INTER ? "interactive" : "autopilot";
	/* Yolo first: the store's memory changes at once, the write follows. */
	if ((op->flags & CMD_PLAN_YOLO) && plan_yolo(op) == -1) {
		cmd_plan_fail(op, "the permission mode cannot be saved");
		return;
	}
	cmd_implement_say(op);
	(void)plan_exit_answer(op->c, 1, op->word, NULL);
	if (op->flags & CMD_PLAN_YOLO)
		chanop_stored(op, cmd_implement_yolo_saved);
	else {
		(void)chanop_pref(op, "session_mode", op->word);
		chanop_stored(op, cmd_implement_saved);
	}
}

/* /implement [yolo|interactive] */
void
cmd_implement(struct cmdctx *x)
{
	struct chanop	*op;

	if (cmd_plan_later(x) || (!plan_exit_pending(x->c) &&
	    !cmd_plan_session(x)) || (op = chanop_new(x->c, x->root,
	    x->msg, 0)) == NULL)
		return;
	if (strcasecmp(x->arg, "yolo") == 0)
		op->flags |= CMD_PLAN_YOLO;
	else if (strcasecmp(x->arg, "interactive") == 0)
		op->flags |= CMD_PLAN_INTER;
	if (plan_exit_pending(x->c))
		cmd_implement_approve(op);
	else
		cmd_plan_mode(op, op->flags & CMD_PLAN_INTER ? "interactive" :
		    "autopilot", cmd_implement_set);
}
