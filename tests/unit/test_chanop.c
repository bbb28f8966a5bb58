/*
 * sessiond/chanop.c, a channel's work that waits, with channels and a
 * backend as channel.c has them (the backend a fake that keeps requests
 * until the test answers them, and drops a session's at close, as the
 * real one does) and a store in a temporary directory: a step runs only
 * for a live channel; a session closed (/new) or a channel freed while a
 * request is out frees the operation without its step; an engine's answer
 * to a channel that went is swallowed; store writes are reported once
 * durable, or failed, with the reply's "Not saved"; an operation holds a
 * thread session against chan_trim().  Run under ASan with leak
 * detection, a leak or a step for a freed channel fails it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/db.h"
#include "common/util.h"
#include "sessiond/chan.h"
#include "sessiond/chanop.h"
#include "sessiond/sessiond.h"
#include "sessiond/store.h"

/* ---- the fake backend ---------------------------------------------------- */

#define CALLS_MAX	16

struct call {
	struct bsession	*bs;		/* NULL: the engine's */
	char		 method[64];
	bcall_cb	 cb;
	void		*arg;
	int		 live;		/* not answered, not dropped */
};

static struct call	calls[CALLS_MAX];
static size_t		ncalls;
static int		refuse;		/* call() fails */
static char		sess1, sess2;	/* two sessions' handles */

static int
fake_call(struct bsession *bs, const char *method, json_t *params,
    bcall_cb cb, void *arg)
{
	struct call	*k;

	json_decref(params);
	if (refuse || ncalls == CALLS_MAX)
		return (-1);
	k = &calls[ncalls++];
	k->bs = bs;
	snprintf(k->method, sizeof(k->method), "%s", method);
	k->cb = cb;
	k->arg = arg;
	k->live = 1;
	return (0);
}

/* As the real one: a closed session's requests get no answer. */
static void
fake_close(struct bsession *bs)
{
	size_t	i;

	for (i = 0; i < ncalls; i++)
		if (calls[i].bs == bs)
			calls[i].live = 0;
}

static const struct backend fake = {
	.name = "fake",
	.call = fake_call,
	.close = fake_close,
};

/* Answer request i, if it still waits; 1 if it did. */
static int
answer(size_t i, const char *result, const char *error)
{
	json_t	*r;

	if (i >= ncalls || !calls[i].live)
		return (0);
	calls[i].live = 0;
	r = result != NULL ? json_string(result) : NULL;
	calls[i].cb(calls[i].arg, r, error);
	json_decref(r);
	return (1);
}

/* ---- the operations' steps ----------------------------------------------- */

struct probe {
	struct chanop	 op;
	int		 free_in_step;	/* the step ends the operation */
};

static int	steps, dtors;
static char	step_result[128], step_error[256];

static void
probe_dtor(struct chanop *op)
{
	dtors++;
}

static void
probe_step(struct chanop *op, const json_t *result, const char *error)
{
	assert_non_null(op->c);
	steps++;
	snprintf(step_result, sizeof(step_result), "%s",
	    json_string_value(result) ?: "");
	snprintf(step_error, sizeof(step_error), "%s", error ?: "");
	if (((struct probe *)op)->free_in_step)
		chanop_free(op);
}

static struct chanop *
probe_new(struct chan *c, int free_in_step)
{
	struct probe	*p;

	p = (struct probe *)chanop_new(c, "root1", NULL, sizeof(*p));
	assert_non_null(p);
	p->op.dtor = probe_dtor;
	p->free_in_step = free_in_step;
	return (&p->op);
}

/* ---- fixture ------------------------------------------------------------- */

struct fix {
	char			 dir[64];
	struct event_base	*base;
};

static struct event_base	*test_base;

static int
setup(void **state)
{
	struct fix	*f = calloc(1, sizeof(*f));

	if (f == NULL)
		return (-1);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_chanop.XXXXXX");
	if (mkdtemp(f->dir) == NULL || (f->base = event_base_new()) == NULL) {
		free(f);
		return (-1);
	}
	test_base = f->base;
	memset(calls, 0, sizeof(calls));
	ncalls = 0;
	refuse = 0;
	steps = dtors = 0;
	step_result[0] = step_error[0] = '\0';
	chan_init(&fake);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fix	*f = *state;
	char		 cmd[128];

	chan_free_all();
	store_close();
	event_base_free(f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return (-1);
	free(f);
	return (0);
}

/* Run the loop until *flag, at most ms. */
static void
loop_until(const int *flag, int ms)
{
	uint64_t	deadline = util_now_ms() + (uint64_t)ms;
	struct timespec	ts = { 0, 1000000 };

	while (!*flag && util_now_ms() < deadline) {
		event_base_loop(test_base, EVLOOP_NONBLOCK);
		nanosleep(&ts, NULL);
	}
}

/* A channel (or a thread of it) with session bs open. */
static struct chan *
open_chan(const char *thread, char *bs)
{
	struct chan	*c;

	assert_non_null(c = chan_get_thread("C1", thread, "mattermost:a"));
	c->bs = (struct bsession *)bs;
	c->st = CH_OPEN;
	return (c);
}

/* ---- requests ------------------------------------------------------------ */

static void
test_session_request_answered(void **state)
{
	struct chan	*c = open_chan(NULL, &sess1);
	struct chanop	*op = probe_new(c, 1);

	assert_int_equal(c->holds, 1);
	assert_int_equal(chanop_call(op, "session.plan.read", json_object(),
	    probe_step), 0);
	assert_ptr_equal(calls[0].bs, &sess1);
	assert_int_equal(steps, 0);
	assert_true(answer(0, "the plan", NULL));
	assert_int_equal(steps, 1);
	assert_string_equal(step_result, "the plan");
	assert_int_equal(dtors, 1);
	assert_int_equal(c->holds, 0);
}

static void
test_request_not_sent(void **state)
{
	struct chan	*c = open_chan(NULL, &sess1);
	struct chanop	*op = probe_new(c, 1);

	/* No session open: not asked, params released, no step. */
	c->st = CH_OPENING;
	assert_int_equal(chanop_call(op, "session.mode.get", json_pack(
	    "{s:s}", "a", "b"), probe_step), -1);
	c->st = CH_OPEN;
	refuse = 1;
	assert_int_equal(chanop_call(op, "session.mode.get", json_object(),
	    probe_step), -1);
	assert_int_equal(chanop_engine(op, "models.list", NULL, probe_step),
	    -1);
	assert_int_equal(ncalls, 0);
	assert_int_equal(steps, 0);
	chanop_free(op);
	assert_int_equal(dtors, 1);
	assert_int_equal(c->holds, 0);
}

/* /new, /resume, a lost session: its requests' operations go, unheard. */
static void
test_session_replaced(void **state)
{
	struct chan	*c = open_chan(NULL, &sess1);
	struct chanop	*a = probe_new(c, 1), *b = probe_new(c, 1);
	struct chanop	*e = probe_new(c, 1);

	assert_int_equal(chanop_call(a, "session.plan.read", NULL,
	    probe_step), 0);
	assert_int_equal(chanop_engine(e, "session.model.switchTo", NULL,
	    probe_step), 0);
	chan_close_session(c);
	assert_int_equal(dtors, 1);		/* a: its answer never comes */
	assert_false(answer(0, "late", NULL));
	assert_int_equal(c->holds, 2);		/* b (idle) and e go on */
	/* The engine answers whatever the session: e's step runs. */
	assert_true(answer(1, "ok", NULL));
	assert_int_equal(steps, 1);
	/* A new session: requests go to it. */
	c->bs = (struct bsession *)&sess2;
	c->st = CH_OPEN;
	assert_int_equal(chanop_call(b, "session.mode.get", NULL,
	    probe_step), 0);
	assert_ptr_equal(calls[2].bs, &sess2);
	assert_true(answer(2, "plan", NULL));
	assert_int_equal(steps, 2);
	assert_int_equal(dtors, 3);
	assert_int_equal(c->holds, 0);
}

/* A step that closes its own session (/agent's new session) goes on. */
static void
closing_step(struct chanop *op, const json_t *result, const char *error)
{
	steps++;
	chan_close_session(op->c);
	assert_non_null(op->root);
	chanop_free(op);
}

static void
test_step_closes_session(void **state)
{
	struct chan	*c = open_chan(NULL, &sess1);
	struct chanop	*a = probe_new(c, 1), *b = probe_new(c, 1);

	assert_int_equal(chanop_call(a, "session.agent.select", NULL,
	    closing_step), 0);
	assert_int_equal(chanop_call(b, "session.plan.read", NULL,
	    probe_step), 0);
	assert_true(answer(0, NULL, "agent not found"));
	assert_int_equal(steps, 1);
	assert_int_equal(dtors, 2);		/* a by its step, b dropped */
	assert_false(answer(1, "late", NULL));
	assert_int_equal(steps, 1);
	assert_int_equal(c->holds, 0);
}

/* The channel goes (sessiond stops) while its requests are out. */
static void
test_chan_freed(void **state)
{
	struct chan	*c = open_chan(NULL, &sess1);
	struct chanop	*a = probe_new(c, 1), *e = probe_new(c, 1);

	(void)probe_new(c, 1);			/* the caller's own wait */
	assert_int_equal(chanop_call(a, "session.plan.read", NULL,
	    probe_step), 0);
	assert_int_equal(chanop_engine(e, "models.list", NULL, probe_step),
	    0);
	chan_free_all();
	assert_int_equal(dtors, 2);		/* a and the idle one */
	assert_false(answer(0, "late", NULL));
	/* The engine answers anyway: no step, the operation is freed. */
	assert_true(answer(1, "models", NULL));
	assert_int_equal(steps, 0);
	assert_int_equal(dtors, 3);
}

static void
test_send_logged(void **state)
{
	struct chan	*c = open_chan(NULL, &sess1);

	chanop_send(c, "session.skills.reload", NULL);
	chanop_send(c, "session.agent.deselect", NULL);
	assert_int_equal(c->holds, 2);
	assert_string_equal(calls[0].method, "session.skills.reload");
	assert_true(answer(0, NULL, "boom"));
	assert_true(answer(1, "ok", NULL));
	assert_int_equal(c->holds, 0);
	chanop_send(c, "session.skills.reload", NULL);
	c->st = CH_CLOSED;
	chanop_send(c, "session.skills.reload", NULL);	/* not sent */
	assert_int_equal(ncalls, 3);
	chan_close_session(c);
	assert_int_equal(c->holds, 0);
}

/* ---- store writes -------------------------------------------------------- */

static void
test_store_durable(void **state)
{
	struct fix	*f = *state;
	struct chan	*c = open_chan(NULL, &sess1);
	struct chanop	*op = probe_new(c, 0);
	char		*t;

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_int_equal(chanop_pref(op, "verbose", "1"), 0);
	assert_int_equal(chanop_setting(op, "streamer_mode", "1"), 0);
	strcpy(step_error, "unset");
	chanop_stored(op, probe_step);
	assert_int_equal(steps, 0);		/* not before the commit */
	loop_until(&steps, 3000);
	assert_int_equal(steps, 1);
	assert_string_equal(step_error, "");
	assert_int_equal(store_prefs("C1")->verbose, 1);
	assert_non_null(t = chanop_outcome(op, "🔊 Verbose mode"));
	assert_string_equal(t, "🔊 Verbose mode");
	free(t);
	/* Nothing pending: the step runs at once. */
	chanop_stored(op, probe_step);
	assert_int_equal(steps, 2);
	chanop_free(op);
	assert_int_equal(c->holds, 0);
}

static void
test_store_fails(void **state)
{
	struct fix	*f = *state;
	struct chan	*c = open_chan(NULL, &sess1);
	struct chanop	*op = probe_new(c, 0);
	char		 path[128], *t;
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, DB_FILE);
	assert_non_null(fp = fopen(path, "w"));
	fputs("this file is not a database at all\n", fp);
	fclose(fp);
	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_false(store_ok());
	assert_int_equal(chanop_pref(op, "verbose", "1"), 0);
	chanop_stored(op, probe_step);
	loop_until(&steps, 3000);
	assert_int_equal(steps, 1);
	assert_non_null(strstr(step_error, "not saved"));
	assert_non_null(t = chanop_outcome(op, "🔊 Verbose mode"));
	assert_non_null(strstr(t, "🔊 Verbose mode\n⚠️ Not saved ("));
	assert_non_null(strstr(t, "): this lasts until the bridge restarts."));
	free(t);
	/* A later write is told of its own outcome only. */
	assert_int_equal(chanop_pref(op, "nosuch", "1"), -1);
	chanop_stored(op, probe_step);
	assert_int_equal(steps, 2);
	assert_string_equal(step_error, "the store refused nosuch");
	chanop_free(op);
}

static void
test_store_refused(void **state)
{
	struct fix	*f = *state;
	struct chan	*c = open_chan(NULL, &sess1);
	struct chanop	*op = probe_new(c, 1);

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_int_equal(chanop_pref(op, "nosuch", "1"), -1);
	assert_int_equal(chanop_pref(op, "agent", "x"), 0);
	chanop_stored(op, probe_step);
	loop_until(&steps, 3000);
	assert_int_equal(steps, 1);
	assert_string_equal(step_error, "the store refused nosuch");
	assert_int_equal(dtors, 1);
}

/* The channel goes while a write is on its way: its answer is forgotten. */
static void
test_chan_freed_store_pending(void **state)
{
	struct fix	*f = *state;
	struct chan	*c = open_chan(NULL, &sess1);
	struct chanop	*op = probe_new(c, 1);
	size_t		 n;
	int		 never = 0;

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_int_equal(chanop_clear_rules(op, NULL, NULL, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(chanop_pref(op, "verbose", "0"), 0);
	chanop_stored(op, probe_step);
	chan_free_all();
	assert_int_equal(dtors, 1);
	loop_until(&never, 300);
	assert_int_equal(steps, 0);
}

/* ---- threads ------------------------------------------------------------- */

/* Is thread's session the one marked (not trimmed and made again)? */
static int
kept(const char *thread)
{
	struct chan	*c = chan_get_thread("C1", thread, "mattermost:a");

	assert_non_null(c);
	return (c->dm == 42);
}

static void
test_thread_held(void **state)
{
	struct chan	*t1, *t2;
	struct chanop	*op;

	setenv("COPILOT_BRIDGE_TEST_THREADS_MAX", "1", 1);
	chan_init(&fake);
	unsetenv("COPILOT_BRIDGE_TEST_THREADS_MAX");
	t1 = open_chan("T1", &sess1);
	t1->dm = 42;
	op = probe_new(t1, 1);
	assert_int_equal(chanop_call(op, "session.plan.read", NULL,
	    probe_step), 0);
	t2 = chan_get_thread("C1", "T2", "mattermost:a");
	assert_non_null(t2);
	t2->dm = 42;
	/* T1 is the least recently used, but held: T2 goes. */
	chan_trim(NULL);
	assert_true(kept("T1"));
	assert_false(kept("T2"));
	/* The answer finds its channel. */
	assert_true(answer(0, "plan", NULL));
	assert_int_equal(steps, 1);
	assert_int_equal(dtors, 1);
	/* Not held any more: T1, among the least recently used, goes. */
	(void)chan_get_thread("C1", "T3", "mattermost:a");
	chan_trim(NULL);
	assert_false(kept("T1"));
	setenv("COPILOT_BRIDGE_TEST_THREADS_MAX", "32", 1);
	chan_init(&fake);
	unsetenv("COPILOT_BRIDGE_TEST_THREADS_MAX");
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_session_request_answered),
		T(test_request_not_sent),
		T(test_session_replaced),
		T(test_step_closes_session),
		T(test_chan_freed),
		T(test_send_logged),
		T(test_store_durable),
		T(test_store_fails),
		T(test_store_refused),
		T(test_chan_freed_store_pending),
		T(test_thread_held),
	};

	return (cmocka_run_group_tests_name("chanop", tests, NULL, NULL));
}
