/*
 * plan: a channel's session mode and plan (docs/commands.md, "Modes and
 * plans"): the mode kept as the channel's preference is given to every
 * session it opens; the plan's changes are told in the channel; the
 * agent's request to leave plan mode waits for the channel's answer; a
 * yolo asked for one implementation is taken back when its turn ends.
 */
#ifndef SESSIOND_PLAN_H
#define SESSIOND_PLAN_H

#include <stddef.h>

#include <jansson.h>

struct chan;
struct chanop;
struct event_base;

#define PLAN_NOTICE_MS		3000	/* a plan's changes, told once quiet */
#define PLAN_SUMMARY_MAX	150	/* characters of a plan's summary */

void		 plan_init(struct event_base *);

/* channel.c: the session opened (resumed: the channel's own, again). */
void		 plan_opened(struct chan *, int resumed);
/* channel.c: a session event (session.plan_changed, ...). */
void		 plan_event(struct chan *, const char *type, const json_t *data);
/* channel.c: the agent asks to leave plan mode (the backend's plan_exit). */
void		 plan_exit(struct chan *, void *tok, const json_t *request);
/* channel.c: the turn ended; the session closes; the channel goes. */
void		 plan_idle(struct chan *);
void		 plan_close(struct chan *);
void		 plan_free(struct chan *);

/* A request to leave plan mode waits for the channel's answer. */
int		 plan_exit_pending(const struct chan *);
/* Answer it: approved with action, or not with feedback; -1: none waits. */
int		 plan_exit_answer(struct chan *, int approved, const char *action,
		    const char *feedback);
/* command.c: plain text answers a waiting request (1) as feedback. */
int		 plan_feedback(struct chan *, const char *text);

/*
 * /implement yolo: the permission mode becomes autopilot until the turn
 * ends (or the session closes); then the preference it had comes back.
 * A store write of op (chanop_pref()); -1 when the store refuses it.
 */
int		 plan_yolo(struct chanop *);
void		 plan_yolo_revert(struct chan *);

/*
 * An existing plan is told once after a resume: /plan on tells it itself
 * (plan_shown), /new forgets it was (plan_forget).
 */
void		 plan_shown(struct chan *);
void		 plan_forget(struct chan *);

/*
 * A plan's summary: its first heading and first line of text, "heading:
 * line", cut to PLAN_SUMMARY_MAX characters ("..." ends a cut one), or
 * "(empty plan)".  Pure.
 */
void		 plan_summary(const char *content, char *buf, size_t len);
/* Say fmt, its one %s the summary of the plan content, in the channel. */
void		 plan_say_summary(struct chan *, const char *root,
		    const char *fmt, const char *content);

#endif
