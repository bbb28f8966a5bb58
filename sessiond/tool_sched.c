/*
 * tool_sched: the schedule tool (create, list, cancel, pause, resume), with
 * upstream's answers, word for word, over sched.c.  A change is answered
 * once it is saved; one that could not be saved says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/tz.h"
#include "common/utf8.h"
#include "common/util.h"
#include "chan.h"
#include "conf.h"
#include "sched.h"
#include "tools.h"

/*
 * A call waiting for its change to be saved.  The callback may come
 * before sched_add() or sched_change() returns (it could not be saved at
 * all): then it is only noted, and answered on the way out.
 */
struct tcall {
	struct chan	*c;
	struct bsession	*bs;		/* the session that called */
	char		*request_id;
	char		*text;		/* the answer, once saved */
	int		 json;		/* text is a JSON object */
	int		 inside;	/* sched_add() or _change() runs */
	int		 finished;	/* ... and the callback came */
	char		*error;
};

static void
tool_sched_free(struct tcall *t)
{
	free(t->request_id);
	free(t->text);
	free(t->error);
	free(t);
}

static void
tool_sched_answer(struct tcall *t, const char *error)
{
	json_t		*o;
	char		*s = NULL;

	if (!sched_stopping() && t->c->bs == t->bs) {
		if (error == NULL)
			tools_answer(t->c, t->request_id, t->text, NULL);
		else if (t->json && (o = json_loads(t->text, 0, NULL)) != NULL &&
		    json_object_set_new(o, "warning", json_sprintf("not saved "
		    "(%s): the task is lost when the bridge restarts", error)) ==
		    0 && (s = json_dumps(o, JSON_COMPACT)) != NULL) {
			tools_answer(t->c, t->request_id, s, NULL);
			json_decref(o);
		} else
			tools_answer(t->c, t->request_id, t->text, NULL);
	}
	free(s);
	tool_sched_free(t);
}

static void
tool_sched_saved(void *arg, const char *error)
{
	struct tcall	*t = arg;

	if (!t->inside) {
		tool_sched_answer(t, error);
		return;
	}
	t->finished = 1;
	if (error != NULL && (t->error = strdup(error)) == NULL)
		log_warnx("%s: out of memory", __func__);
}

/* sched_add() or sched_change() returned 0: answer if it is all done. */
static void
tool_sched_out(struct tcall *t)
{
	t->inside = 0;
	if (t->finished)
		tool_sched_answer(t, t->error);
}

/* Answer when saved: text (copied), a JSON object if json. */
static struct tcall *
tool_sched_later(struct chan *c, const char *request_id, const char *text,
    int json)
{
	struct tcall	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->request_id = strdup(request_id)) == NULL ||
	    (t->text = strdup(text)) == NULL) {
		if (t != NULL)
			free(t->request_id);
		free(t);
		return (NULL);
	}
	t->c = c;
	t->bs = c->bs;
	t->json = json;
	t->inside = 1;
	return (t);
}

/* Who asked for the turn: the user of the first message given to it. */
static const char *
tool_sched_user(const struct chan *c)
{
	const json_t	*m = json_array_get(c->sent, 0);

	return (jx_str(m, "userId") != NULL ? jx_str(m, "userId") :
	    jx_str(m, "user"));
}

static void
tool_sched_create(struct chan *c, const char *rid, const json_t *a)
{
	struct chan_conf	 cc;
	struct sched_new	 n;
	struct sched_view	 v;
	struct tcall		*t;
	json_t			*o;
	char			 err[512], type[600], next[96], *s;

	if (jx_str(a, "prompt") == NULL || *jx_str(a, "prompt") == '\0') {
		tools_answer(c, rid, "Error: prompt is required for create.",
		    NULL);
		return;
	}
	if (jx_str(a, "cron") == NULL && jx_str(a, "run_at") == NULL) {
		tools_answer(c, rid, "Error: either cron or run_at is required.",
		    NULL);
		return;
	}
	memset(&n, 0, sizeof(n));
	n.channel = c->id;
	n.bot = c->bot;
	n.prompt = jx_str(a, "prompt");
	n.cron = jx_str(a, "cron");
	n.run_at = jx_str(a, "run_at");
	n.description = jx_str(a, "description");
	n.created_by = tool_sched_user(c);
	n.timezone = jx_str(a, "timezone");
	if (n.timezone == NULL)
		n.timezone = conf_channel(c->id, c->bot, 1, &cc) == 0 ?
		    cc.timezone : "UTC";
	if ((t = tool_sched_later(c, rid, "", 1)) == NULL) {
		tools_answer(c, rid, NULL, "out of memory");
		return;
	}
	if (sched_add(&n, &v, tool_sched_saved, t, err, sizeof(err)) == -1) {
		tool_sched_free(t);
		(void)snprintf(type, sizeof(type), "Schedule error: %s", err);
		tools_answer(c, rid, type, NULL);
		return;
	}
	(void)snprintf(type, sizeof(type), v.cron != NULL ? "recurring (%s)" :
	    "one-off (%s)", v.cron != NULL ? v.cron : v.run_at);
	tz_human(v.next_ms, v.tz, next, sizeof(next));
	o = json_pack("{s:b,s:s,s:s,s:s,s:s,s:s?}", "success", 1, "id", v.id,
	    "type", type, "nextRun", next, "timezone", v.timezone,
	    "description", v.description);
	if (o != NULL && (s = json_dumps(o, JSON_COMPACT)) != NULL) {
		free(t->text);
		t->text = s;
	}
	json_decref(o);
	tool_sched_out(t);
}

static void
tool_sched_list(struct chan *c, const char *rid)
{
	struct sched_view	 v[SCHED_PER_CHANNEL];
	json_t			*a, *o;
	size_t			 n, i;
	char			 when[96], desc[256], *s;

	if ((n = sched_list(c->id, v, nitems(v))) == 0) {
		tools_answer(c, rid, "No scheduled tasks for this channel.",
		    NULL);
		return;
	}
	if (n > nitems(v))
		n = nitems(v);
	if ((a = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		if (v[i].description != NULL)
			(void)snprintf(desc, sizeof(desc), "%s", v[i].description);
		else
			(void)snprintf(desc, sizeof(desc), "%.*s",
			    (int)utf8_cut_chars(v[i].prompt, strlen(v[i].prompt),
			    60), v[i].prompt);
		o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "id", v[i].id,
		    "description", desc, "type", v[i].cron != NULL ? "recurring" :
		    "one-off", "schedule", v[i].cron != NULL ? v[i].cron :
		    v[i].run_at, "timezone", v[i].timezone, "enabled",
		    v[i].enabled);
		if (o != NULL && v[i].last_ms >= 0) {
			tz_human(v[i].last_ms, v[i].tz, when, sizeof(when));
			(void)json_object_set_new(o, "lastRun", json_string(when));
		}
		if (o != NULL && v[i].next_ms >= 0) {
			tz_human(v[i].next_ms, v[i].tz, when, sizeof(when));
			(void)json_object_set_new(o, "nextRun", json_string(when));
		}
		if (o == NULL || json_array_append_new(a, o) == -1)
			goto oom;
	}
	if ((s = json_dumps(a, JSON_COMPACT)) == NULL)
		goto oom;
	tools_answer(c, rid, s, NULL);
	free(s);
	json_decref(a);
	return;
oom:
	json_decref(a);
	tools_answer(c, rid, NULL, "out of memory");
}

static void
tool_sched_change(struct chan *c, const char *rid, const char *action,
    const char *id)
{
	static const struct {
		const char	*action, *done, *none;
		enum sched_op	 op;
	} ops[] = {
		{ "cancel", "Task %s cancelled and removed.", "Task %s not found.",
		    SCHED_CANCEL },
		{ "pause", "Task %s paused.", "Task %s not found.", SCHED_PAUSE },
		{ "resume", "Task %s resumed.", "Task %s not found or failed to "
		    "resume.", SCHED_RESUME },
	};
	struct tcall	*t;
	char		 text[512];
	size_t		 i;

	for (i = 0; strcmp(ops[i].action, action) != 0; i++)
		;
	if (id == NULL || *id == '\0') {
		(void)snprintf(text, sizeof(text), "Error: id is required for "
		    "%s.", action);
		tools_answer(c, rid, text, NULL);
		return;
	}
	(void)snprintf(text, sizeof(text), ops[i].done, id);
	if ((t = tool_sched_later(c, rid, text, 0)) == NULL) {
		tools_answer(c, rid, NULL, "out of memory");
		return;
	}
	if (sched_change(c->id, id, ops[i].op, tool_sched_saved, t) == -1) {
		tool_sched_free(t);
		(void)snprintf(text, sizeof(text), ops[i].none, id);
		tools_answer(c, rid, text, NULL);
		return;
	}
	tool_sched_out(t);
}

void
tool_schedule(struct chan *c, const char *request_id, const json_t *args)
{
	const char	*action = jx_stre(args, "action");
	char		 text[256];

	if (strcmp(action, "create") == 0)
		tool_sched_create(c, request_id, args);
	else if (strcmp(action, "list") == 0)
		tool_sched_list(c, request_id);
	else if (strcmp(action, "cancel") == 0 || strcmp(action, "pause") == 0 ||
	    strcmp(action, "resume") == 0)
		tool_sched_change(c, request_id, action, jx_str(args, "id"));
	else {
		(void)snprintf(text, sizeof(text), "Unknown action: %.64s. Use "
		    "create, list, cancel, pause, or resume.", action);
		tools_answer(c, request_id, text, NULL);
	}
}
