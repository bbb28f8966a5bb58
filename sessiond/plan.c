/*
 * plan: see plan.h.  The runtime keeps a session's mode (interactive,
 * plan, autopilot) and its plan file; the channel keeps the mode as its
 * preference (session_mode), so a session it opens later (/new, another
 * runtime, another sessiond) is put in it.
 *
 * In plan mode the agent ends its planning with exitPlanMode.request and
 * its turn waits: the channel is shown upstream's "Plan ready" menu, and
 * the next message answers it.  /implement approves (the runtime leaves
 * plan mode and implements in the same turn), /plan off approves leaving
 * without implementing, and plain text goes back to the agent as feedback
 * on the plan.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "chan.h"
#include "chanop.h"
#include "conf.h"
#include "plan.h"
#include "store.h"

struct planstate {
	void		*exit_tok;	/* a request to leave plan mode */
	struct event	*notice;	/* armed: the plan changed */
	struct chan	*c;
	int		 yolo;		/* autopilot until the turn ends */
	char		*yolo_prev;	/* the preference to put back */
	int		 shown;		/* the plan was told since it opened */
};

static struct event_base	*plan_base;

static const char	plan_ready_fmt[] =
    "📋 **Plan ready**\n\n%s\n\nHow would you like to proceed?\n"
    "1. ▶️ `/implement yolo` — autopilot + yolo (fully autonomous)\n"
    "2. 🚀 `/implement` — autopilot (with permission prompts)\n"
    "3. 🔧 `/implement interactive` — interactive mode\n"
    "4. ❌ `/plan off` — exit plan mode without implementing\n\n"
    "Or just keep chatting to continue refining the plan.";

void
plan_init(struct event_base *base)
{
	plan_base = base;
}

static struct planstate *
plan_state(struct chan *c)
{
	if (c->plan == NULL && (c->plan = calloc(1, sizeof(*c->plan))) != NULL)
		c->plan->c = c;
	if (c->plan == NULL)
		log_warnx("channel %s: out of memory", c->id);
	return (c->plan);
}

/* ---- a plan's summary --------------------------------------------------- */

static const char *
plan_skip_space(const char *s, const char *end)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	return (s);
}

static size_t
plan_trim_end(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return (n);
}

/* "a: b" (or the one given) cut to PLAN_SUMMARY_MAX characters, into buf. */
static void
plan_summary_put(char *buf, size_t len, const char *a, size_t na,
    const char *b, size_t nb)
{
	char	 full[(PLAN_SUMMARY_MAX + 1) * 4 * 2 + 8];
	size_t	 n, cut;
	int	 w;

	/* Each part longer than the summary is cut anyway. */
	na = utf8_cut_chars(a, na, PLAN_SUMMARY_MAX + 1);
	nb = utf8_cut_chars(b, nb, PLAN_SUMMARY_MAX + 1);
	if (nb > 0 && na > 0)
		w = snprintf(full, sizeof(full), "%.*s: %.*s", (int)na, a,
		    (int)nb, b);
	else
		w = snprintf(full, sizeof(full), "%.*s", (int)(na > 0 ? na : nb),
		    na > 0 ? a : b);
	n = w < 0 ? 0 : (size_t)w;
	if (utf8_count(full, n) > PLAN_SUMMARY_MAX) {
		cut = utf8_cut_chars(full, n, PLAN_SUMMARY_MAX - 3);
		snprintf(buf, len, "%.*s...", (int)cut, full);
	} else
		snprintf(buf, len, "%.*s", (int)n, full);
}

void
plan_summary(const char *content, char *buf, size_t len)
{
	const char	*p = content != NULL ? content : "", *end, *eol, *t;
	const char	*head = "", *body = "";
	size_t		 nhead = 0, nbody = 0, n;

	end = p + strlen(p);
	for (; p < end && nbody == 0; p = eol + (eol < end)) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		t = plan_skip_space(p, eol);
		if ((n = plan_trim_end(t, (size_t)(eol - t))) == 0)
			continue;
		if (nhead == 0 && *t == '#') {
			/* As upstream: a heading left empty is no heading. */
			while (n > 0 && *t == '#')
				t++, n--;
			head = plan_skip_space(t, t + n);
			nhead = n - (size_t)(head - t);
			continue;
		}
		if (*t != '#') {
			body = t;
			nbody = n;
		}
	}
	if (nhead == 0 && nbody == 0)
		snprintf(buf, len, "(empty plan)");
	else
		plan_summary_put(buf, len, head, nhead, body, nbody);
}

void
plan_say_summary(struct chan *c, const char *root, const char *fmt,
    const char *content)
{
	char	sum[PLAN_SUMMARY_MAX * 4 + 8], *text;

	plan_summary(content, sum, sizeof(sum));
	if (asprintf(&text, fmt, sum) == -1) {
		log_warnx("channel %s: out of memory: a reply is lost", c->id);
		return;
	}
	chan_say(c, root, text);
	free(text);
}

/* ---- the mode of a session that opens ------------------------------------ */

static void	plan_surface(struct chanop *);

static void
plan_surface_read(struct chanop *op, const json_t *result, const char *error)
{
	if (error == NULL && jx_bool(result, "exists", 0) &&
	    jx_str(result, "content") != NULL)
		plan_say_summary(op->c, op->root, "📋 **Existing plan found** — "
		    "%s. `/plan show` to review.", jx_str(result, "content"));
	chanop_free(op);
}

static void
plan_surface_mode(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL || json_string_value(result) == NULL ||
	    strcmp(json_string_value(result), "plan") != 0 ||
	    chanop_call(op, "session.plan.read", NULL, plan_surface_read) == -1)
		chanop_free(op);
}

/* Once after a resume, in plan mode: the plan there is told. */
static void
plan_surface(struct chanop *op)
{
	struct planstate	*ps = op->c->plan;

	if (!op->flags || ps == NULL || ps->shown) {
		chanop_free(op);
		return;
	}
	ps->shown = 1;
	if (chanop_call(op, "session.mode.get", NULL, plan_surface_mode) == -1)
		chanop_free(op);
}

static void
plan_mode_applied(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL)
		log_warnx("channel %s: the session is not in %s mode: %s",
		    op->c->id, op->text, error);
	else
		log_info("channel %s: session in %s mode", op->c->id, op->text);
	plan_surface(op);
}

void
plan_opened(struct chan *c, int resumed)
{
	struct chan_conf	 cc;
	struct chanop		*op;

	if (plan_state(c) == NULL ||
	    (op = chanop_new(c, c->root, NULL, 0)) == NULL)
		return;
	op->flags = resumed;
	if (conf_channel(c->id, c->bot, 1, &cc) == -1 ||
	    cc.session_mode == NULL) {
		plan_surface(op);
		return;
	}
	/* Sent before any prompt, so the first turn runs in the mode. */
	if ((op->text = strdup(cc.session_mode)) == NULL ||
	    chanop_call(op, "session.mode.set", json_pack("{s:s}", "mode",
	    cc.session_mode), plan_mode_applied) == -1) {
		log_warnx("channel %s: the session is not put in %s mode",
		    c->id, cc.session_mode);
		plan_surface(op);
	}
}

/* ---- the plan's changes ------------------------------------------------- */

static void
plan_notice_read(struct chanop *op, const json_t *result, const char *error)
{
	if (error != NULL)
		log_warnx("channel %s: the changed plan cannot be read: %s",
		    op->c->id, error);
	else if (jx_bool(result, "exists", 0) &&
	    jx_str(result, "content") != NULL)
		plan_say_summary(op->c, op->root, "📋 **Plan updated** — %s. "
		    "`/plan show` for details.", jx_str(result, "content"));
	chanop_free(op);
}

static void
plan_notice_cb(int fd, short ev, void *arg)
{
	struct planstate	*ps = arg;
	struct chanop		*op;

	if ((op = chanop_new(ps->c, ps->c->root, NULL, 0)) != NULL &&
	    chanop_call(op, "session.plan.read", NULL, plan_notice_read) == -1)
		chanop_free(op);
}

void
plan_event(struct chan *c, const char *type, const json_t *data)
{
	struct planstate	*ps;
	const char		*op = jx_str(data, "operation");

	if (strcmp(type, "exit_plan_mode.completed") == 0 &&
	    plan_exit_pending(c)) {
		/* Settled without us (the turn was stopped): let it go. */
		(void)plan_exit_answer(c, 0, NULL, NULL);
		return;
	}
	if (strcmp(type, "session.plan_changed") != 0 || op == NULL ||
	    (strcmp(op, "create") != 0 && strcmp(op, "update") != 0) ||
	    (ps = plan_state(c)) == NULL)
		return;
	/* Upstream's debounce: told once the plan is quiet for a while. */
	if (ps->notice == NULL &&
	    (ps->notice = evtimer_new(plan_base, plan_notice_cb, ps)) == NULL) {
		log_warnx("channel %s: out of memory: a plan's change is not "
		    "told", c->id);
		return;
	}
	if (util_timer_ms(ps->notice, PLAN_NOTICE_MS) == -1)
		log_warnx("channel %s: cannot arm a timer: a plan's change is "
		    "not told", c->id);
}

/* ---- leaving plan mode -------------------------------------------------- */

void
plan_exit(struct chan *c, void *tok, const json_t *request)
{
	struct planstate	*ps;
	const char		*sum = jx_str(request, "summary");
	char			*text;

	if ((ps = plan_state(c)) == NULL) {
		(void)chan_backend()->answer_plan_exit(c->bs, tok, 0, NULL,
		    NULL);
		return;
	}
	(void)plan_exit_answer(c, 0, NULL, NULL);	/* an older one: no */
	ps->exit_tok = tok;
	/* The menu comes after what was said so far, not inside it. */
	chan_end_stream(c, NULL);
	if (asprintf(&text, plan_ready_fmt, sum != NULL && *sum != '\0' ? sum :
	    "(no summary provided)") == -1) {
		log_warnx("channel %s: out of memory: the plan waits unseen",
		    c->id);
		return;
	}
	chan_say(c, c->root, text);
	free(text);
}

int
plan_exit_pending(const struct chan *c)
{
	return (c->plan != NULL && c->plan->exit_tok != NULL);
}

int
plan_exit_answer(struct chan *c, int approved, const char *action,
    const char *feedback)
{
	const struct backend	*be = chan_backend();
	void			*tok;

	if (!plan_exit_pending(c))
		return (-1);
	tok = c->plan->exit_tok;
	c->plan->exit_tok = NULL;
	log_info("channel %s: the plan is %s%s%s", c->id, approved ?
	    "approved" : "not approved", action != NULL ? ": " : "",
	    action != NULL ? action : "");
	if (c->bs != NULL && be->answer_plan_exit != NULL)
		(void)be->answer_plan_exit(c->bs, tok, approved, action,
		    feedback);
	return (0);
}

int
plan_feedback(struct chan *c, const char *text)
{
	return (plan_exit_answer(c, 0, NULL, text) == 0);
}

/* ---- yolo for one implementation ----------------------------------------- */

int
plan_yolo(struct chanop *op)
{
	struct planstate	*ps;
	const char		*prev;

	if ((ps = plan_state(op->c)) == NULL)
		return (-1);
	if (!ps->yolo) {
		prev = store_prefs(op->c->id)->permission_mode;
		if (prev != NULL && (ps->yolo_prev = strdup(prev)) == NULL)
			return (-1);
		ps->yolo = 1;
	}
	if (chanop_pref(op, "permission_mode", "autopilot") == -1) {
		plan_yolo_revert(op->c);
		return (-1);
	}
	return (0);
}

void
plan_yolo_revert(struct chan *c)
{
	struct planstate	*ps = c->plan;

	if (ps == NULL || !ps->yolo)
		return;
	ps->yolo = 0;
	if (store_set_pref(c->id, "permission_mode", ps->yolo_prev, NULL,
	    NULL) == -1)
		log_warnx("channel %s: the permission mode stays autopilot: "
		    "the store refused to put %s back", c->id,
		    ps->yolo_prev != NULL ? ps->yolo_prev : "the config's");
	else
		log_info("channel %s: yolo of the implementation taken back "
		    "(%s)", c->id, ps->yolo_prev != NULL ? ps->yolo_prev :
		    "the config's mode");
	free(ps->yolo_prev);
	ps->yolo_prev = NULL;
}

/* ---- the channel's life -------------------------------------------------- */

void
plan_shown(struct chan *c)
{
	struct planstate	*ps = plan_state(c);

	if (ps != NULL)
		ps->shown = 1;
}

void
plan_forget(struct chan *c)
{
	if (c->plan != NULL)
		c->plan->shown = 0;
}

void
plan_idle(struct chan *c)
{
	(void)plan_exit_answer(c, 0, NULL, NULL);
	plan_yolo_revert(c);
}

void
plan_close(struct chan *c)
{
	struct planstate	*ps = c->plan;

	if (ps == NULL)
		return;
	ps->exit_tok = NULL;		/* close() answers it */
	if (ps->notice != NULL)
		(void)evtimer_del(ps->notice);
	plan_yolo_revert(c);
}

void
plan_free(struct chan *c)
{
	struct planstate	*ps = c->plan;

	plan_close(c);
	if (ps == NULL)
		return;
	if (ps->notice != NULL)
		event_free(ps->notice);
	free(ps->yolo_prev);
	free(ps);
	c->plan = NULL;
}
