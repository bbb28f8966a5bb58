/*
 * cmd_sched: /schedule (also /schedules, /tasks) with list, cancel (remove,
 * delete), pause, resume and history (log), as upstream answers them
 * (docs/commands.md).  A change is answered once it is saved.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cron.h"
#include "common/jx.h"
#include "common/log.h"
#include "common/tz.h"
#include "common/utf8.h"
#include "common/util.h"
#include "chan.h"
#include "cmd.h"
#include "sched.h"

#define CMD_SCHED_HISTORY	10	/* runs shown by default */
#define CMD_SCHED_HISTORY_MAX	100

/* A reply waiting for the store (see tool_sched.c for inside/finished). */
struct sreply {
	struct chan	*c;
	char		*root;
	char		*text;		/* said once saved */
	int		 inside, finished, failed;
};

static void
cmd_sched_free(struct sreply *r)
{
	free(r->root);
	free(r->text);
	free(r);
}

static void
cmd_sched_answer(struct sreply *r)
{
	if (!sched_stopping())
		chan_say(r->c, r->root, r->failed ? "❌ Schedule command failed "
		    "— database error." : r->text);
	cmd_sched_free(r);
}

static void
cmd_sched_saved(void *arg, const char *error)
{
	struct sreply	*r = arg;

	r->failed = error != NULL;
	if (r->inside)
		r->finished = 1;
	else
		cmd_sched_answer(r);
}

static struct sreply *
cmd_sched_reply(struct cmdctx *x, const char *text)
{
	struct sreply	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->root = strdup(x->root)) == NULL ||
	    (text != NULL && (r->text = strdup(text)) == NULL)) {
		if (r != NULL)
			free(r->root);
		free(r);
		log_warnx("channel %s: out of memory: a reply is lost", x->c->id);
		return (NULL);
	}
	r->c = x->c;
	r->inside = 1;
	return (r);
}

/* One task as upstream lists it. */
static void
cmd_sched_line(FILE *f, const struct sched_view *v)
{
	char	type[300], when[96];

	if (v->cron != NULL)
		cron_describe(v->cron, type, sizeof(type));
	else
		(void)snprintf(type, sizeof(type), "one-off");
	fprintf(f, "\n\n%s **", v->enabled ? "✅" : "⏸️");
	if (v->description != NULL)
		fprintf(f, "%s", v->description);
	else
		fprintf(f, "%.*s", (int)utf8_cut_chars(v->prompt,
		    strlen(v->prompt), 50), v->prompt);
	fprintf(f, "** — %s\n   ID: `%s`", type, v->id);
	if (v->next_ms >= 0) {
		tz_human(v->next_ms, v->tz, when, sizeof(when));
		fprintf(f, " | Next: %s", when);
	}
	if (v->last_ms >= 0) {
		tz_human(v->last_ms, v->tz, when, sizeof(when));
		fprintf(f, " | Last: %s", when);
	}
}

static void
cmd_sched_list(struct cmdctx *x)
{
	struct sched_view	 v[SCHED_PER_CHANNEL];
	size_t			 n, i, len = 0;
	char			*text = NULL;
	FILE			*f;

	if ((n = sched_list(x->c->id, v, nitems(v))) == 0) {
		cmd_say(x, "📋 No scheduled tasks for this channel.");
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL)
		return;
	fprintf(f, "📋 **Scheduled Tasks**");
	for (i = 0; i < n && i < nitems(v); i++)
		cmd_sched_line(f, &v[i]);
	if (fclose(f) == 0)
		cmd_say(x, text);
	free(text);
}

static void
cmd_sched_change(struct cmdctx *x, const char *verb, const char *id)
{
	static const struct {
		const char	*verb, *usage, *done;
		enum sched_op	 op;
	} ops[] = {
		{ "cancel", "⚠️ Usage: `/schedule cancel <id>`",
		    "🗑️ Task `%s` cancelled.", SCHED_CANCEL },
		{ "pause", "⚠️ Usage: `/schedule pause <id>`",
		    "⏸️ Task `%s` paused.", SCHED_PAUSE },
		{ "resume", "⚠️ Usage: `/schedule resume <id>`",
		    "▶️ Task `%s` resumed.", SCHED_RESUME },
	};
	struct sreply	*r;
	char		 text[256];
	size_t		 i;

	for (i = 0; strcmp(ops[i].verb, verb) != 0; i++)
		;
	if (*id == '\0') {
		cmd_say(x, ops[i].usage);
		return;
	}
	(void)snprintf(text, sizeof(text), ops[i].done, id);
	if ((r = cmd_sched_reply(x, text)) == NULL)
		return;
	if (sched_change(x->c->id, id, ops[i].op, cmd_sched_saved, r) == -1) {
		cmd_sched_free(r);
		cmd_sayf(x, "⚠️ Task `%s` not found.", id);
		return;
	}
	r->inside = 0;
	if (r->finished)
		cmd_sched_answer(r);
}

/* "When" of a run: its time in its task's zone (z, else UTC). */
static void
cmd_sched_when(const json_t *e, const struct tz *z, const struct tz *utc,
    char *buf, size_t len)
{
	char	err[64];
	int64_t	ms;

	if (utc == NULL || tz_iso_parse(jx_stre(e, "fired_at"), utc, &ms, err,
	    sizeof(err)) == -1)
		(void)snprintf(buf, len, "%s", jx_stre(e, "fired_at"));
	else
		tz_human(ms, z != NULL ? z : utc, buf, len);
}

static void
cmd_sched_run_line(FILE *f, const json_t *e, const char *when)
{
	const char	*st = jx_stre(e, "status"), *desc = jx_str(e, "description");
	const char	*prompt = jx_stre(e, "prompt"), *err = jx_str(e, "error");

	fprintf(f, "\n%s ", strcmp(st, "success") == 0 ? "✅" :
	    strcmp(st, "running") == 0 ? "⏳" : "❌");
	if (desc != NULL)
		fprintf(f, "%s", desc);
	else
		fprintf(f, "%.*s", (int)utf8_cut_chars(prompt, strlen(prompt), 40),
		    prompt);
	fprintf(f, " — %s%s%s", when, err != NULL ? " ⚠️ " : "",
	    err != NULL ? err : "");
}

static void
cmd_sched_runs(void *arg, const json_t *runs, const char *error)
{
	struct sreply	*r = arg;
	const json_t	*e;
	const char	*name;
	char		*text = NULL, when[96], zname[128] = "", err[256];
	struct tz	*utc, *z = NULL;
	size_t		 i, len = 0;
	FILE		*f;

	if (runs == NULL || json_array_size(runs) == 0) {
		if (runs == NULL)
			log_warnx("channel %s: /schedule history: %s", r->c->id,
			    error);
		r->failed = runs == NULL;
		free(r->text);
		r->text = strdup("📋 No task history for this channel.");
		cmd_sched_answer(r);
		return;
	}
	utc = tz_load("UTC", err, sizeof(err));
	if ((f = open_memstream(&text, &len)) == NULL) {
		tz_free(utc);
		cmd_sched_free(r);
		return;
	}
	fprintf(f, "📋 **Task History** (last %zu)", json_array_size(runs));
	json_array_foreach(runs, i, e) {
		name = jx_str(e, "timezone") != NULL ? jx_str(e, "timezone") :
		    "UTC";
		if (strcmp(name, zname) != 0) {
			tz_free(z);
			z = tz_load(name, err, sizeof(err));
			(void)snprintf(zname, sizeof(zname), "%s", name);
		}
		cmd_sched_when(e, z, utc, when, sizeof(when));
		cmd_sched_run_line(f, e, when);
	}
	tz_free(z);
	tz_free(utc);
	if (fclose(f) == 0) {
		free(r->text);
		r->text = text;
		text = NULL;
		cmd_sched_answer(r);
	} else
		cmd_sched_free(r);
	free(text);
}

static void
cmd_sched_history(struct cmdctx *x, const char *arg)
{
	struct sreply	*r;
	long		 n = strtol(arg, NULL, 10);

	/* As upstream's parseInt(arg) || 10, kept within bounds. */
	if (n <= 0)
		n = CMD_SCHED_HISTORY;
	if (n > CMD_SCHED_HISTORY_MAX)
		n = CMD_SCHED_HISTORY_MAX;
	if ((r = cmd_sched_reply(x, NULL)) == NULL)
		return;
	r->inside = 0;
	if (sched_history(x->c->id, (int)n, cmd_sched_runs, r) == -1) {
		cmd_sched_free(r);
		cmd_say(x, "❌ Schedule command failed — database error.");
	}
}

void
cmd_schedule(struct cmdctx *x)
{
	const char	*a = x->arg, *rest;
	char		 sub[16];
	size_t		 n;

	for (n = 0; a[n] != '\0' && !isspace((unsigned char)a[n]); n++)
		;
	for (rest = a + n; isspace((unsigned char)*rest); rest++)
		;
	(void)snprintf(sub, sizeof(sub), "%.*s", (int)(n < sizeof(sub) ? n :
	    sizeof(sub) - 1), a);
	if (n >= sizeof(sub))
		sub[0] = '?';
	if (n == 0 || strcasecmp(sub, "list") == 0)
		cmd_sched_list(x);
	else if (strcasecmp(sub, "cancel") == 0 ||
	    strcasecmp(sub, "remove") == 0 || strcasecmp(sub, "delete") == 0)
		cmd_sched_change(x, "cancel", rest);
	else if (strcasecmp(sub, "pause") == 0)
		cmd_sched_change(x, "pause", rest);
	else if (strcasecmp(sub, "resume") == 0)
		cmd_sched_change(x, "resume", rest);
	else if (strcasecmp(sub, "history") == 0 || strcasecmp(sub, "log") == 0)
		cmd_sched_history(x, rest);
	else
		cmd_say(x, "⚠️ Usage: `/schedule [list|cancel|pause|resume|"
		    "history] [id]`");
}
