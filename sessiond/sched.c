/*
 * sched: see sched.h and docs/schedules.md.
 *
 * Which run is due is decided by the wall clock; how long to wait for it,
 * by the event loop's monotonic timer, re-armed at most every
 * SCHED_WAIT_MAX_MS and at once when the wall clock is set (a timerfd
 * with TFD_TIMER_CANCEL_ON_SET says so).  Each task keeps the instant of
 * its next slot (next_run), and moves it only past a slot it has run or
 * recorded as missed, so a clock that steps back repeats nothing (the
 * slot is still ahead) and one that steps forward skips nothing (the slot
 * is due at once).  Slots passed over together (the bridge was down, the
 * clock jumped) are run once, for the latest, if that is less than
 * scheduler.graceSeconds late; the earlier ones, or all of them past the
 * grace, are recorded as missed.
 *
 * A run is at most once: its slot is saved as taken (the task's next_run
 * moved, or the one-off deleted, and the run recorded "running") before
 * its prompt is queued, so a sessiond killed at any moment never sends
 * it twice.  A run still "running" when sessiond starts ended with it.
 */
#include <sys/queue.h>
#include <sys/timerfd.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/cron.h"
#include "common/db.h"
#include "common/jx.h"
#include "common/log.h"
#include "common/tz.h"
#include "common/utf8.h"
#include "common/util.h"
#include "chan.h"
#include "conf.h"
#include "sched.h"
#include "store.h"

#define SCHED_WAIT_MAX_MS	60000	/* the longest the timer sleeps */
#define SCHED_RUN_STALE_MS	(60LL * 60 * 1000) /* a run never ended */
#define SCHED_ZONES		64	/* zones kept loaded */
#define SCHED_ID_LEN		6
/*
 * Tests only: "ANCHOR_MS:SCALE" makes the scheduler's clock run SCALE
 * times faster than the wall clock from ANCHOR_MS on, so minute slots
 * come seconds apart.  Never set in production; sessiond says so in its
 * log when it is.
 */
#define SCHED_TEST_CLOCK_ENV	"COPILOT_BRIDGE_TEST_CLOCK"

struct task {
	TAILQ_ENTRY(task)	 entry;
	char			*id, *channel, *bot, *prompt;
	char			*cron_expr, *run_at, *tzname;
	char			*created_by, *description, *created_at;
	int			 enabled;
	struct cron		 cron;
	const struct tz		*tz;
	int64_t			 next_ms, last_ms;	/* -1: none */
	long long		 run;			/* in flight, 0: none */
	int64_t			 run_ms;		/* when it started */
};
TAILQ_HEAD(taskq, task);

/* A run whose end is still to be written. */
struct run {
	TAILQ_ENTRY(run)	 entry;
	long long		 id;
	json_t			*row;		/* as db_put_run takes it */
};
TAILQ_HEAD(runq, run);

/* A change's callback, held until the store says how it went. */
struct req {
	sched_done	 done;
	sched_rows	 rows;
	void		*arg;
	json_t		*data;
};

static struct {
	struct event_base	*base;
	struct event		*timer, *step_ev;
	int			 step_fd;
	struct taskq		 tasks;
	struct runq		 runs;
	struct {
		char		*name;
		struct tz	*z;
	}			 zones[SCHED_ZONES];
	size_t			 nzones;
	long long		 run_seq;
	int			 loaded, stopping;
	int64_t			 anchor;	/* the test clock */
	int64_t			 scale;
	json_t			*missed;	/* channel: [what], to be said */
} S = { .step_fd = -1, .scale = 1 };

static void	sched_tick(void);
static void	sched_arm(void);

/* ---- the clock ---------------------------------------------------------- */

int64_t
sched_now_ms(void)
{
	struct timespec	ts;
	int64_t		real;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		fatal("clock_gettime");
	real = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (S.scale == 1)
		return (real);
	return (S.anchor + (real - S.anchor) * S.scale);
}

static void
sched_test_clock(void)
{
	const char	*v = getenv(SCHED_TEST_CLOCK_ENV);
	long long	 anchor, scale;
	char		 tail;

	if (v == NULL || *v == '\0')
		return;
	if (sscanf(v, "%lld:%lld%c", &anchor, &scale, &tail) != 2 ||
	    scale < 1 || scale > 3600 || anchor < 0) {
		log_warnx("%s=%s: not ANCHOR_MS:SCALE; ignored",
		    SCHED_TEST_CLOCK_ENV, v);
		return;
	}
	S.anchor = anchor;
	S.scale = scale;
	log_warnx("%s is set: scheduled tasks run on a clock %lld times "
	    "faster than the wall clock (a test setting, never for production)",
	    SCHED_TEST_CLOCK_ENV, scale);
}

static void
sched_timer_cb(int fd, short ev, void *arg)
{
	sched_tick();
}

/* The wall clock was set: whatever is due now is run now. */
static void
sched_step_cb(int fd, short ev, void *arg)
{
	struct itimerspec	its;
	uint64_t		n;

	if (read(fd, &n, sizeof(n)) == -1 && errno == ECANCELED)
		log_info("scheduler: the wall clock was set; due tasks are "
		    "looked at again");
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = time(NULL) + 10 * 365 * 86400L;
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
	    &its, NULL) == -1)
		log_warn("scheduler: timerfd_settime");
	sched_tick();
}

/* A timerfd that wakes us when the wall clock is set; optional. */
static void
sched_step_watch(void)
{
	if ((S.step_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1 ||
	    (S.step_ev = event_new(S.base, S.step_fd, EV_READ | EV_PERSIST,
	    sched_step_cb, NULL)) == NULL || event_add(S.step_ev, NULL) == -1) {
		log_warn("scheduler: no clock-step watch; a wall-clock step is "
		    "seen within %d s", SCHED_WAIT_MAX_MS / 1000);
		return;
	}
	sched_step_cb(S.step_fd, 0, NULL);
}

/* ---- zones -------------------------------------------------------------- */

static const struct tz *
sched_zone(const char *name, char *err, size_t len)
{
	struct tz	*z;
	size_t		 i;

	for (i = 0; i < S.nzones; i++)
		if (strcmp(S.zones[i].name, name) == 0)
			return (S.zones[i].z);
	if (S.nzones == SCHED_ZONES) {
		(void)util_err(err, len, "too many time zones in use");
		return (NULL);
	}
	if ((z = tz_load(name, err, len)) == NULL)
		return (NULL);
	if ((S.zones[S.nzones].name = strdup(name)) == NULL) {
		tz_free(z);
		(void)util_err(err, len, "out of memory");
		return (NULL);
	}
	S.zones[S.nzones++].z = z;
	return (z);
}

static int64_t
sched_cron_next(const struct task *t, int64_t after_ms)
{
	return (cron_next_ms(&t->cron, t->tz, after_ms));
}

/* ---- tasks in memory ---------------------------------------------------- */

static void
task_free(struct task *t)
{
	free(t->id);
	free(t->channel);
	free(t->bot);
	free(t->prompt);
	free(t->cron_expr);
	free(t->run_at);
	free(t->tzname);
	free(t->created_by);
	free(t->description);
	free(t->created_at);
	free(t);
}

static struct task *
task_find(const char *channel, const char *id)
{
	struct task	*t;

	TAILQ_FOREACH(t, &S.tasks, entry)
		if (strcmp(t->id, id) == 0 && (channel == NULL ||
		    strcmp(t->channel, channel) == 0))
			return (t);
	return (NULL);
}

static int
sched_dup(char **dst, const char *src)
{
	*dst = NULL;
	return (src != NULL && (*dst = strdup(src)) == NULL ? -1 : 0);
}

/* An ISO time of the database, or -1. */
static int64_t
sched_iso(const char *s, const struct tz *z)
{
	int64_t	ms;
	char	err[64];

	if (s == NULL || tz_iso_parse(s, z, &ms, err, sizeof(err)) == -1)
		return (-1);
	return (ms);
}

/*
 * A task from its columns (checked: the expression parses, the zone is
 * known, a one-off's time reads); NULL with err.
 */
static struct task *
task_new(const struct db_task *d, char *err, size_t len)
{
	struct task	*t;
	const struct tz	*utc;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		(void)util_err(err, len, "out of memory");
		return (NULL);
	}
	t->enabled = d->enabled;
	t->last_ms = t->next_ms = -1;
	if (sched_dup(&t->id, d->id) == -1 ||
	    sched_dup(&t->channel, d->channel) == -1 ||
	    sched_dup(&t->bot, d->bot) == -1 ||
	    sched_dup(&t->prompt, d->prompt) == -1 ||
	    sched_dup(&t->cron_expr, d->cron) == -1 ||
	    sched_dup(&t->run_at, d->run_at) == -1 ||
	    sched_dup(&t->tzname, d->timezone != NULL ? d->timezone :
	    "UTC") == -1 || sched_dup(&t->created_by, d->created_by) == -1 ||
	    sched_dup(&t->description, d->description) == -1 ||
	    sched_dup(&t->created_at, d->created_at) == -1) {
		(void)util_err(err, len, "out of memory");
		goto fail;
	}
	if ((t->tz = sched_zone(t->tzname, err, len)) == NULL ||
	    (utc = sched_zone("UTC", err, len)) == NULL)
		goto fail;
	if ((t->cron_expr == NULL) == (t->run_at == NULL)) {
		(void)util_err(err, len, "Provide either cronExpr or runAt, "
		    "not both");
		goto fail;
	}
	if (t->cron_expr != NULL && cron_parse(t->cron_expr, &t->cron, err,
	    len) == -1)
		goto fail;
	if (t->run_at != NULL && (t->next_ms = sched_iso(t->run_at, t->tz)) ==
	    -1) {
		(void)util_err(err, len, "Invalid run_at datetime: %s",
		    t->run_at);
		goto fail;
	}
	t->last_ms = sched_iso(d->last_run, utc);
	if (t->cron_expr != NULL)
		t->next_ms = sched_iso(d->next_run, utc);
	return (t);
fail:
	task_free(t);
	return (NULL);
}

/* The task as db_put_task takes it. */
static json_t *
task_json(const struct task *t)
{
	char	next[32], last[32];

	if (t->next_ms >= 0)
		tz_iso_utc(t->next_ms, next, sizeof(next));
	if (t->last_ms >= 0)
		tz_iso_utc(t->last_ms, last, sizeof(last));
	return (json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s,s:s?,s:s?,s:b,"
	    "s:s?,s:s?,s:s?}", "id", t->id, "channel", t->channel, "bot",
	    t->bot, "prompt", t->prompt, "cron", t->cron_expr, "run_at",
	    t->run_at, "timezone", t->tzname, "created_by", t->created_by,
	    "description", t->description, "enabled", t->enabled,
	    "last_run", t->last_ms >= 0 ? last : NULL, "next_run",
	    t->next_ms >= 0 ? next : NULL, "created_at", t->created_at));
}

static void
sched_view(const struct task *t, struct sched_view *v)
{
	v->id = t->id;
	v->prompt = t->prompt;
	v->cron = t->cron_expr;
	v->run_at = t->run_at;
	v->timezone = t->tzname;
	v->description = t->description;
	v->enabled = t->enabled;
	v->next_ms = t->next_ms;
	v->last_ms = t->last_ms;
	v->tz = t->tz;
}

/* ---- saving ------------------------------------------------------------- */

/* A task's columns from its JSON (task_json()'s, or a loaded row's). */
static void
sched_task_cols(const json_t *o, struct db_task *t)
{
	memset(t, 0, sizeof(*t));
	t->id = jx_str(o, "id");
	t->channel = jx_str(o, "channel");
	t->bot = jx_str(o, "bot");
	t->prompt = jx_str(o, "prompt");
	t->cron = jx_str(o, "cron");
	t->run_at = jx_str(o, "run_at");
	t->timezone = jx_str(o, "timezone");
	t->created_by = jx_str(o, "created_by");
	t->description = jx_str(o, "description");
	t->enabled = jx_bool(o, "enabled", 1);
	t->last_run = jx_str(o, "last_run");
	t->next_run = jx_str(o, "next_run");
	t->created_at = jx_str(o, "created_at");
}

/* The writer's side: w's "run" and "task" (or "del") into the database. */
static int
sched_apply(struct db *db, void *data)
{
	const json_t	*w = data, *o;
	struct db_task	 t;
	struct db_run	 r;

	if ((o = json_object_get(w, "task")) != NULL) {
		sched_task_cols(o, &t);
		if (db_put_task(db, &t) == -1)
			return (-1);
	}
	if (jx_str(w, "del") != NULL && db_del_task(db, jx_str(w, "del")) == -1)
		return (-1);
	if ((o = json_object_get(w, "run")) != NULL) {
		memset(&r, 0, sizeof(r));
		r.id = jx_int(o, "id", 0);
		r.task = jx_str(o, "task");
		r.channel = jx_str(o, "channel");
		r.prompt = jx_str(o, "prompt");
		r.description = jx_str(o, "description");
		r.timezone = jx_str(o, "timezone");
		r.status = jx_str(o, "status");
		r.fired_at = jx_str(o, "fired_at");
		r.error = jx_str(o, "error");
		if (db_put_run(db, &r) == -1)
			return (-1);
	}
	return (0);
}

static void
sched_release(void *data)
{
	struct req	*q = data;

	json_decref(q->data);
	free(q);
}

static int
sched_apply_req(struct db *db, void *data)
{
	return (sched_apply(db, ((struct req *)data)->data));
}

static void
sched_saved(void *arg, int ok, const char *error)
{
	struct req	*q = arg;

	if (!ok)
		log_warnx("scheduler: not saved: %s", error);
	if (!S.stopping && q->done != NULL)
		q->done(q->arg, ok ? NULL : error);
}

/* Save w (stolen); done(arg) when it is (or is not). */
static void
sched_save(json_t *w, sched_done done, void *arg)
{
	struct req	*q;

	if (w == NULL || (q = calloc(1, sizeof(*q))) == NULL) {
		log_warnx("scheduler: out of memory: a change is not saved");
		if (done != NULL)
			done(arg, "out of memory");
		json_decref(w);
		return;
	}
	q->done = done;
	q->arg = arg;
	q->data = json_incref(w);
	/* On failure q and its reference are released; ours is kept. */
	if (store_exec(sched_apply_req, sched_release, q, sched_saved, q) ==
	    -1) {
		log_warnx("scheduler: out of memory: a change is not saved");
		if (done != NULL)
			done(arg, "out of memory");
	}
	json_decref(w);
}

static void
sched_save_task(const struct task *t, sched_done done, void *arg)
{
	sched_save(json_pack("{s:o}", "task", task_json(t)), done, arg);
}

/* ---- runs ---------------------------------------------------------------- */

/* A run's row: status "running", "missed", ... */
static json_t *
run_row(const struct task *t, long long id, const char *status,
    int64_t at_ms, const char *error)
{
	char	at[32];

	tz_sql_utc(at_ms, at, sizeof(at));
	return (json_pack("{s:I,s:s,s:s,s:s,s:s?,s:s,s:s,s:s,s:s?}", "id",
	    (json_int_t)id, "task", t->id, "channel", t->channel, "prompt",
	    t->prompt, "description", t->description, "timezone", t->tzname,
	    "status", status, "fired_at", at, "error", error));
}

static struct run *
run_find(long long id)
{
	struct run	*r;

	TAILQ_FOREACH(r, &S.runs, entry)
		if (r->id == id)
			return (r);
	return (NULL);
}

void
sched_run_error(long long id, const char *error)
{
	struct run	*r = run_find(id);

	if (r != NULL && jx_str(r->row, "error") == NULL &&
	    json_object_set_new(r->row, "error", json_string(error)) == -1)
		log_warnx("scheduler: out of memory: run %lld's error is lost",
		    id);
}

void
sched_run_end(long long id, const char *error)
{
	struct run	*r = run_find(id);
	struct task	*t;

	TAILQ_FOREACH(t, &S.tasks, entry)
		if (t->run == id)
			t->run = 0;
	if (r == NULL)
		return;
	TAILQ_REMOVE(&S.runs, r, entry);
	if (error != NULL && jx_str(r->row, "error") == NULL)
		(void)json_object_set_new(r->row, "error", json_string(error));
	error = jx_str(r->row, "error");
	log_info("scheduler: run %lld of task %s %s%s", id,
	    jx_stre(r->row, "task"), error != NULL ? "failed: " : "ended",
	    error != NULL ? error : "");
	if (json_object_set_new(r->row, "status", json_string(error != NULL ?
	    "error" : "success")) == -1)
		log_warnx("scheduler: out of memory: run %lld stays running", id);
	sched_save(json_pack("{s:o}", "run", r->row), NULL, NULL);
	free(r);
	sched_arm();
}

/*
 * The bot ("platform:name") of a task's bot_name: ours are written so;
 * upstream writes the bare name, which the channel's serving bot or the
 * first bot of that name stands for.
 */
static const char *
sched_bot(const char *bot, const char *channel)
{
	const struct conf	*c = conf_get();
	const char		*colon;
	size_t			 i;

	if (strchr(bot, ':') != NULL || c == NULL)
		return (bot);
	for (i = 0; i < c->nchans; i++)
		if (strcmp(c->chans[i].id, channel) == 0 &&
		    (colon = strchr(c->chans[i].served_by, ':')) != NULL &&
		    strcmp(colon + 1, bot) == 0)
			return (c->chans[i].served_by);
	for (i = 0; i < c->nbots; i++)
		if ((colon = strchr(c->bots[i].key, ':')) != NULL &&
		    strcmp(colon + 1, bot) == 0)
			return (c->bots[i].key);
	return (bot);
}

/* The prompt goes to the channel: a user message in quiet mode. */
static void
sched_enqueue(const json_t *f)
{
	struct chan_conf	 cc;
	struct chan		*c;
	json_t			*m;
	const char		*channel = jx_stre(f, "channel");
	const char		*bot = sched_bot(jx_stre(f, "bot"), channel);
	long long		 run = jx_int(f, "run", 0);
	char			 id[96];

	if (conf_channel(channel, bot, 1, &cc) == -1) {
		sched_run_end(run, "the bot no longer serves this channel");
		return;
	}
	(void)snprintf(id, sizeof(id), "sched-%s-%lld", jx_stre(f, "task"),
	    run);
	if ((c = chan_get(channel, bot)) == NULL ||
	    (m = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:I}", "id", id,
	    "channel", channel, "bot", bot, "user", "scheduler", "text",
	    jx_stre(f, "prompt"), "_root", "", "_quiet", 1, "_run",
	    (json_int_t)run)) == NULL) {
		sched_run_end(run, "out of memory");
		return;
	}
	if (chan_enqueue(c, m) == -1)
		sched_run_end(run, "too many messages waiting in the channel");
	else
		chan_run(c);
	json_decref(m);
}

/* arg: the write, whose "fire" says what to queue. */
static void
sched_fire_saved(void *arg, const char *error)
{
	const json_t	*f = json_object_get(arg, "fire");

	if (error != NULL)
		log_warnx("scheduler: task %s: its run is not saved (%s); it "
		    "runs all the same", jx_stre(f, "task"), error);
	sched_enqueue(f);
}

/*
 * Run t for the slot it is due at: save that it ran (and what comes
 * next), then queue the prompt.  A one-off task is gone after.
 */
static void
sched_fire(struct task *t, int64_t now)
{
	struct run	*r;
	json_t		*w, *f;
	long long	 id = ++S.run_seq;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->row = run_row(t, id, "running", now, NULL)) == NULL ||
	    (f = json_pack("{s:s,s:s,s:s,s:s,s:I}", "task", t->id, "channel",
	    t->channel, "bot", t->bot, "prompt", t->prompt, "run",
	    (json_int_t)id)) == NULL ||
	    (w = json_pack("{s:O,s:o}", "run", r->row, "fire", f)) == NULL) {
		if (r != NULL)
			json_decref(r->row);
		free(r);
		log_warnx("scheduler: out of memory: task %s does not run now",
		    t->id);
		return;
	}
	r->id = id;
	TAILQ_INSERT_TAIL(&S.runs, r, entry);
	log_info("scheduler: task %s runs in %s (run %lld)", t->id, t->channel,
	    id);
	t->last_ms = now;
	if (t->cron_expr == NULL) {
		(void)json_object_set_new(w, "del", json_string(t->id));
		TAILQ_REMOVE(&S.tasks, t, entry);
		task_free(t);
	} else {
		t->run = id;
		t->run_ms = now;
		(void)json_object_set_new(w, "task", task_json(t));
	}
	sched_save(w, sched_fire_saved, w);
}

/* What a missed task is called in the channel's notice. */
static void
sched_note_missed(const struct task *t)
{
	json_t	*a;
	char	 what[256];
	size_t	 n = strlen(t->prompt);

	if (t->description != NULL)
		(void)snprintf(what, sizeof(what), "%s", t->description);
	else
		(void)snprintf(what, sizeof(what), "%.*s", (int)utf8_cut_chars(
		    t->prompt, n, 60), t->prompt);
	if (S.missed == NULL && (S.missed = json_object()) == NULL)
		return;
	if ((a = json_object_get(S.missed, t->channel)) == NULL &&
	    (json_object_set_new(S.missed, t->channel, a = json_array()) ==
	    -1 || a == NULL))
		return;
	(void)json_array_append_new(a, json_pack("{s:s,s:s}", "bot", t->bot,
	    "what", what));
}

/* Upstream's notice of missed tasks, one per channel. */
static void
sched_say_missed(void)
{
	const char	*channel;
	json_t		*a, *m;
	struct chan	*c;
	char		*text = NULL;
	size_t		 len = 0, i;
	FILE		*f;

	json_object_foreach(S.missed, channel, a) {
		if ((f = open_memstream(&text, &len)) == NULL)
			break;
		fprintf(f, "⏰ **Missed %zu scheduled task(s)** while offline:",
		    json_array_size(a));
		json_array_foreach(a, i, m)
			fprintf(f, "\n- %s", jx_stre(m, "what"));
		if (fclose(f) == 0 && (c = chan_get(channel, sched_bot(jx_stre(
		    json_array_get(a, 0), "bot"), channel))) != NULL)
			chan_say(c, "", text);
		free(text);
		text = NULL;
	}
	json_decref(S.missed);
	S.missed = NULL;
}

/* Record that t's slot at due_ms did not run, and why. */
static json_t *
sched_missed_row(const struct task *t, int64_t due_ms, int64_t now,
    const char *why)
{
	char	 when[96], error[256];

	tz_human(due_ms, t->tz, when, sizeof(when));
	(void)snprintf(error, sizeof(error), "Missed the run due %s: %s", when,
	    why);
	log_warnx("scheduler: task %s: %s", t->id, error);
	return (run_row(t, ++S.run_seq, "missed", now, error));
}

/* ---- what is due -------------------------------------------------------- */

static void
sched_due_once(struct task *t, int64_t now, int64_t grace)
{
	json_t	*w;

	if (now - t->next_ms <= grace) {
		sched_fire(t, now);
		return;
	}
	w = json_pack("{s:o,s:s}", "run", sched_missed_row(t, t->next_ms, now,
	    "more than the grace period late"), "del", t->id);
	sched_note_missed(t);
	TAILQ_REMOVE(&S.tasks, t, entry);
	task_free(t);
	sched_save(w, NULL, NULL);
}

/*
 * A recurring task is due: the latest slot passed that is within the
 * grace runs; earlier ones are missed (cron_due()).
 */
static void
sched_due_cron(struct task *t, int64_t now, int64_t grace)
{
	struct cron_due	 d;
	json_t		*miss = NULL;

	cron_due(&t->cron, t->tz, t->next_ms, now, grace, &d);
	if (d.missed != -1) {
		miss = sched_missed_row(t, d.missed, now, d.run == -1 ?
		    "more than the grace period late" : "the runs up to the "
		    "last one due were run once, as that one");
		/* The channel hears of it when nothing runs in its place. */
		if (d.run == -1)
			sched_note_missed(t);
	}
	t->next_ms = d.next;
	if (d.run != -1 && t->run != 0 && now - t->run_ms < SCHED_RUN_STALE_MS) {
		json_decref(miss);
		miss = sched_missed_row(t, d.run, now, "the previous run had "
		    "not finished");
		d.run = -1;
	}
	if (d.run == -1) {
		sched_save(json_pack("{s:o*,s:o}", "run", miss, "task",
		    task_json(t)), NULL, NULL);
		return;
	}
	if (t->run != 0)
		sched_run_end(t->run, "it never finished");
	if (miss != NULL)
		sched_save(json_pack("{s:o}", "run", miss), NULL, NULL);
	sched_fire(t, now);
}

static void
sched_tick(void)
{
	struct task	*t, *nt;
	int64_t		 now = sched_now_ms(), grace = 0;

	if (!S.loaded || S.stopping)
		return;
	if (conf_get() != NULL)
		grace = conf_get()->sched_grace_ms;
	for (t = TAILQ_FIRST(&S.tasks); t != NULL; t = nt) {
		nt = TAILQ_NEXT(t, entry);
		if (!t->enabled || t->next_ms < 0 || t->next_ms > now)
			continue;
		if (t->cron_expr == NULL)
			sched_due_once(t, now, grace);
		else
			sched_due_cron(t, now, grace);
	}
	if (S.missed != NULL)
		sched_say_missed();
	sched_arm();
}

static void
sched_arm(void)
{
	struct task	*t;
	int64_t		 now, next = -1, wait;

	if (S.timer == NULL || S.stopping)
		return;
	TAILQ_FOREACH(t, &S.tasks, entry)
		if (t->enabled && t->next_ms >= 0 && (next == -1 ||
		    t->next_ms < next))
			next = t->next_ms;
	if (next == -1)
		wait = SCHED_WAIT_MAX_MS;
	else {
		now = sched_now_ms();
		wait = next > now ? (next - now + S.scale - 1) / S.scale : 0;
		if (wait > SCHED_WAIT_MAX_MS)
			wait = SCHED_WAIT_MAX_MS;
	}
	if (util_timer_ms(S.timer, (uint64_t)wait) == -1)
		log_warnx("scheduler: cannot arm its timer: tasks wait for "
		    "the next change");
}

/* ---- loading ------------------------------------------------------------ */

static int
sched_load_row(void *arg, const struct db_task *d)
{
	json_t	*a = arg, *o;

	o = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:b,s:s?,"
	    "s:s?,s:s?}", "id", d->id, "channel", d->channel, "bot", d->bot,
	    "prompt", d->prompt, "cron", d->cron, "run_at", d->run_at,
	    "timezone", d->timezone, "created_by", d->created_by,
	    "description", d->description, "enabled", d->enabled, "last_run",
	    d->last_run, "next_run", d->next_run, "created_at", d->created_at);
	return (o == NULL || json_array_append_new(a, o) == -1 ? -1 : 0);
}

static int
sched_load_apply(struct db *db, void *data)
{
	json_t		*d = data;
	long long	 seq;

	if (db_end_runs(db, "interrupted: sessiond stopped during the run") ==
	    -1 || (seq = db_run_seq(db)) == -1)
		return (-1);
	if (json_object_set_new(d, "seq", json_integer(seq)) == -1)
		return (-1);
	return (db_load_tasks(db, sched_load_row, json_object_get(d, "tasks")));
}

static void
sched_load_release(void *data)
{
	json_decref(data);
}

static void
sched_loaded(void *arg, int ok, const char *error)
{
	json_t		*d = arg, *o;
	struct db_task	 r;
	struct task	*t;
	size_t		 i, n = 0;
	char		 err[256];

	if (S.stopping)
		return;
	S.loaded = 1;
	if (!ok) {
		log_warnx("scheduler: no tasks loaded: %s", error);
		sched_tick();
		return;
	}
	S.run_seq = jx_int(d, "seq", 0);
	json_array_foreach(json_object_get(d, "tasks"), i, o) {
		sched_task_cols(o, &r);
		if ((t = task_new(&r, err, sizeof(err))) == NULL) {
			log_warnx("scheduler: task %s is not loaded: %s", r.id,
			    err);
			continue;
		}
		/* A recurring task saved without its next slot: from now. */
		if (t->cron_expr != NULL && t->next_ms < 0)
			t->next_ms = sched_cron_next(t, sched_now_ms());
		TAILQ_INSERT_TAIL(&S.tasks, t, entry);
		n++;
	}
	log_info("scheduler: %zu task(s) loaded", n);
	sched_tick();
}

void
sched_init(struct event_base *base)
{
	json_t	*d;

	S.base = base;
	TAILQ_INIT(&S.tasks);
	TAILQ_INIT(&S.runs);
	sched_test_clock();
	if ((S.timer = evtimer_new(base, sched_timer_cb, NULL)) == NULL)
		fatalx("scheduler: cannot create its timer");
	sched_step_watch();
	if ((d = json_pack("{s:[]}", "tasks")) == NULL ||
	    store_exec(sched_load_apply, sched_load_release, d, sched_loaded,
	    d) == -1)
		fatalx("scheduler: out of memory");
}

void
sched_shutdown(void)
{
	struct task	*t;
	struct run	*r;
	size_t		 i;

	S.stopping = 1;
	if (S.timer != NULL)
		event_free(S.timer);
	if (S.step_ev != NULL)
		event_free(S.step_ev);
	if (S.step_fd != -1)
		(void)close(S.step_fd);
	S.timer = S.step_ev = NULL;
	S.step_fd = -1;
	while ((t = TAILQ_FIRST(&S.tasks)) != NULL) {
		TAILQ_REMOVE(&S.tasks, t, entry);
		task_free(t);
	}
	while ((r = TAILQ_FIRST(&S.runs)) != NULL) {
		TAILQ_REMOVE(&S.runs, r, entry);
		json_decref(r->row);
		free(r);
	}
	for (i = 0; i < S.nzones; i++) {
		free(S.zones[i].name);
		tz_free(S.zones[i].z);
	}
	S.nzones = 0;
	json_decref(S.missed);
	S.missed = NULL;
}

int
sched_stopping(void)
{
	return (S.stopping);
}

/* ---- the API's changes -------------------------------------------------- */

size_t
sched_list(const char *channel, struct sched_view *v, size_t max)
{
	struct task	*t;
	size_t		 n = 0;

	TAILQ_FOREACH(t, &S.tasks, entry)
		if (strcmp(t->channel, channel) == 0) {
			if (n < max)
				sched_view(t, &v[n]);
			n++;
		}
	return (n);
}

/* A short id no task has (upstream's: 6 characters of base64url). */
static int
sched_new_id(char out[SCHED_ID_LEN + 1])
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	unsigned char	 r[SCHED_ID_LEN];
	int		 tries, i;

	for (tries = 0; tries < 16; tries++) {
		if (getentropy(r, sizeof(r)) == -1)
			return (-1);
		for (i = 0; i < SCHED_ID_LEN; i++)
			out[i] = b64[r[i] & 63];
		out[SCHED_ID_LEN] = '\0';
		if (task_find(NULL, out) == NULL)
			return (0);
	}
	return (-1);
}

static int
sched_add_check(const struct sched_new *n, char *err, size_t len)
{
	struct sched_view	 v[1];

	if (!S.loaded)
		return (util_err(err, len, "scheduled tasks are still being "
		    "loaded; try again in a moment"));
	if (n->cron == NULL && n->run_at == NULL)
		return (util_err(err, len, "Either cronExpr or runAt must be "
		    "provided"));
	if (n->cron != NULL && n->run_at != NULL)
		return (util_err(err, len, "Provide either cronExpr or runAt, "
		    "not both"));
	if (strlen(n->prompt) > SCHED_PROMPT_MAX)
		return (util_err(err, len, "the prompt is longer than %d bytes",
		    SCHED_PROMPT_MAX));
	if (sched_list(n->channel, v, 0) >= SCHED_PER_CHANNEL)
		return (util_err(err, len, "this channel has %d tasks already, "
		    "the most it may have", SCHED_PER_CHANNEL));
	return (0);
}

int
sched_add(const struct sched_new *n, struct sched_view *out, sched_done done,
    void *arg, char *err, size_t len)
{
	struct db_task	 d;
	struct task	*t;
	char		 id[SCHED_ID_LEN + 1], created[32];
	int64_t		 now = sched_now_ms();

	if (sched_add_check(n, err, len) == -1)
		return (-1);
	if (sched_new_id(id) == -1)
		return (util_err(err, len, "no random id"));
	tz_sql_utc(now, created, sizeof(created));
	memset(&d, 0, sizeof(d));
	d.id = id;
	d.channel = n->channel;
	d.bot = n->bot;
	d.prompt = n->prompt;
	d.cron = n->cron;
	d.run_at = n->run_at;
	d.timezone = n->timezone;
	d.description = n->description;
	d.created_by = n->created_by;
	d.enabled = 1;
	d.created_at = created;
	if ((t = task_new(&d, err, len)) == NULL)
		return (-1);
	if (t->cron_expr != NULL &&
	    (t->next_ms = sched_cron_next(t, now)) == -1) {
		(void)util_err(err, len, "No execution date was found in the "
		    "next 8 years for \"%s\"", t->cron_expr);
		task_free(t);
		return (-1);
	}
	if (t->cron_expr == NULL && t->next_ms <= now) {
		(void)util_err(err, len, "run_at must be in the future (got %s)",
		    t->run_at);
		task_free(t);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&S.tasks, t, entry);
	log_info("scheduler: task %s created in %s: %s", t->id, t->channel,
	    t->cron_expr != NULL ? t->cron_expr : t->run_at);
	sched_view(t, out);
	sched_save_task(t, done, arg);
	sched_arm();
	return (0);
}

int
sched_change(const char *channel, const char *id, enum sched_op op,
    sched_done done, void *arg)
{
	struct task	*t;

	if ((t = task_find(channel, id)) == NULL)
		return (-1);
	switch (op) {
	case SCHED_CANCEL:
		log_info("scheduler: task %s removed", t->id);
		TAILQ_REMOVE(&S.tasks, t, entry);
		sched_save(json_pack("{s:s}", "del", t->id), done, arg);
		task_free(t);
		break;
	case SCHED_PAUSE:
		log_info("scheduler: task %s paused", t->id);
		t->enabled = 0;
		sched_save_task(t, done, arg);
		break;
	case SCHED_RESUME:
		log_info("scheduler: task %s resumed", t->id);
		t->enabled = 1;
		/* What came due while paused is not run. */
		if (t->cron_expr != NULL)
			t->next_ms = sched_cron_next(t, sched_now_ms());
		sched_save_task(t, done, arg);
		break;
	}
	sched_arm();
	return (0);
}

/* ---- history ------------------------------------------------------------ */

static int
sched_history_row(void *arg, const struct db_run *r)
{
	json_t	*o;

	o = json_pack("{s:s?,s:s,s:s?,s:s?,s:s,s:s,s:s?}", "task", r->task,
	    "prompt", r->prompt, "description", r->description, "timezone",
	    r->timezone, "status", r->status, "fired_at", r->fired_at, "error",
	    r->error);
	return (o == NULL || json_array_append_new(arg, o) == -1 ? -1 : 0);
}

static int
sched_history_apply(struct db *db, void *data)
{
	struct req	*q = data;

	return (db_runs(db, jx_stre(q->data, "channel"), (int)jx_int(q->data,
	    "limit", 10), sched_history_row, json_object_get(q->data, "runs")));
}

static void
sched_history_done(void *arg, int ok, const char *error)
{
	struct req	*q = arg;

	if (!S.stopping)
		q->rows(q->arg, ok ? json_object_get(q->data, "runs") : NULL,
		    ok ? NULL : error);
}

int
sched_history(const char *channel, int limit, sched_rows rows, void *arg)
{
	struct req	*q;

	if (!store_ok() || (q = calloc(1, sizeof(*q))) == NULL)
		return (-1);
	q->rows = rows;
	q->arg = arg;
	if ((q->data = json_pack("{s:s,s:i,s:[]}", "channel", channel, "limit",
	    limit, "runs")) == NULL) {
		free(q);
		return (-1);
	}
	return (store_exec(sched_history_apply, sched_release, q,
	    sched_history_done, q));
}
