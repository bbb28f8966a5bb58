/*
 * opq: ops of one channel run one at a time and in order, channels run side
 * by side, every op is answered exactly once (ok, failed, nothing to call,
 * too many), and freeing the queue answers nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "worker/opq.h"
#include "worker/worker.h"

/* The worker's side, recorded. */
static json_int_t	 answered[32];
static int		 answered_ok[32];
static char		 answered_post[32][32];
static int		 nanswered, nidle, ncleared;
static struct opq_op	*started[32];
static int		 nstarted;

void	worker_ready(const char *u, const char *n) { }
void	worker_failed(const char *fmt, ...) { }
void	worker_inbound(json_t *m) { json_decref(m); }
void	worker_drained(void) { }

void
worker_outbound_done(json_int_t ref, int ok, const char *post,
    const char *err)
{
	answered[nanswered] = ref;
	answered_ok[nanswered] = ok;
	snprintf(answered_post[nanswered], sizeof(answered_post[0]), "%s",
	    post != NULL ? post : "");
	nanswered++;
}

/* "typing" needs no call, "bad" cannot start, anything else runs. */
static int
t_start(void *arg, struct opq_op *op, char *err, size_t len)
{
	const char	*name = json_string_value(json_object_get(op->body, "op"));

	if (strcmp(name, "typing") == 0)
		return (1);
	if (strcmp(name, "bad") == 0) {
		snprintf(err, len, "bad op");
		return (-1);
	}
	*(int *)op->data = 42;
	started[nstarted++] = op;
	return (0);
}

static void
t_clear(void *arg, struct opq_op *op)
{
	ncleared++;
}

static void
t_answered(void *arg)
{
	nidle++;
}

static const struct opq_cbs t_cbs = { t_start, t_clear, t_answered };

static void
push(struct opq *q, int ref, const char *channel, const char *op)
{
	json_t	*b = json_pack("{s:i,s:s,s:s}", "ref", ref, "channel", channel,
		    "op", op);

	opq_push(q, b);
	json_decref(b);
}

static void
reset(void)
{
	nanswered = nidle = ncleared = nstarted = 0;
}

static void
test_order_per_channel(void **state)
{
	struct opq	*q = opq_new(&t_cbs, NULL, sizeof(int), 100);

	reset();
	push(q, 1, "A", "post");
	push(q, 2, "A", "patch");
	push(q, 3, "B", "post");
	/* A's second op waits for its first; B runs beside A. */
	assert_int_equal(nstarted, 2);
	assert_int_equal(started[0]->ref, 1);
	assert_int_equal(started[1]->ref, 3);
	assert_int_equal(*(int *)started[0]->data, 42);
	assert_int_equal(opq_len(q), 3);
	opq_done(q, started[0], 1, "p1", NULL);
	assert_int_equal(nanswered, 1);
	assert_int_equal(answered[0], 1);
	assert_string_equal(answered_post[0], "p1");
	assert_int_equal(nstarted, 3);
	assert_int_equal(started[2]->ref, 2);
	opq_done(q, started[2], 0, NULL, "boom");
	opq_done(q, started[1], 1, NULL, NULL);
	assert_int_equal(nanswered, 3);
	assert_int_equal(answered[1], 2);
	assert_false(answered_ok[1]);
	assert_int_equal(answered[2], 3);
	assert_int_equal(opq_len(q), 0);
	assert_true(nidle >= 2);
	assert_int_equal(ncleared, 3);
	opq_free(q);
}

static void
test_no_call_bad_and_full(void **state)
{
	struct opq	*q = opq_new(&t_cbs, NULL, sizeof(int), 2);

	reset();
	push(q, 1, "A", "typing");	/* answered ok at once */
	push(q, 2, "A", "bad");		/* answered failed at once */
	assert_int_equal(nanswered, 2);
	assert_true(answered_ok[0]);
	assert_false(answered_ok[1]);
	push(q, 3, "A", "post");
	push(q, 4, "A", "post");
	push(q, 5, "A", "post");	/* over the limit of 2 */
	assert_int_equal(nanswered, 3);
	assert_int_equal(answered[2], 5);
	assert_false(answered_ok[2]);
	assert_int_equal(opq_len(q), 2);
	/* Freed with ops in it: nothing more is answered. */
	opq_free(q);
	assert_int_equal(nanswered, 3);
	assert_int_equal(ncleared, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_per_channel),
		cmocka_unit_test(test_no_call_bad_and_full),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
