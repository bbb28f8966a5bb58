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

/* The worker's side, recorded. */
static json_int_t	 answered[32];
static int		 answered_ok[32];
static int		 answered_refused[32];
static char		 answered_post[32][32];
static int		 nanswered, nidle, ncleared;
static struct opq_op	*started[32];
static int		 nstarted;

static void
t_done(void *arg, const struct adapter_answer *a)
{
	answered[nanswered] = a->ref;
	answered_ok[nanswered] = a->ok;
	answered_refused[nanswered] = a->token_refused;
	snprintf(answered_post[nanswered], sizeof(answered_post[0]), "%s",
	    a->post != NULL ? a->post : "");
	nanswered++;
}

static const struct adapter_events t_ev = { .outbound_done = t_done };

/* opq_done() with the answer's fields. */
static void
done(struct opq *q, struct opq_op *op, int ok, const char *post,
    const char *err)
{
	struct adapter_answer	a = { .ok = ok, .post = post, .error = err };

	opq_done(q, op, &a);
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

	opq_push(q, b, -1);
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
	struct opq	*q = opq_new(&t_cbs, NULL, &t_ev, sizeof(int), 100);

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
	done(q, started[0], 1, "p1", NULL);
	assert_int_equal(nanswered, 1);
	assert_int_equal(answered[0], 1);
	assert_string_equal(answered_post[0], "p1");
	assert_int_equal(nstarted, 3);
	assert_int_equal(started[2]->ref, 2);
	done(q, started[2], 0, NULL, "boom");
	done(q, started[1], 1, NULL, NULL);
	assert_int_equal(nanswered, 3);
	assert_int_equal(answered[1], 2);
	assert_false(answered_ok[1]);
	assert_int_equal(answered[2], 3);
	assert_int_equal(opq_len(q), 0);
	assert_true(nidle >= 2);
	assert_int_equal(ncleared, 3);
	opq_free(q);
}

/* A lane of a channel runs beside the channel's other ops, in order. */
static void
test_lanes(void **state)
{
	struct opq	*q = opq_new(&t_cbs, NULL, &t_ev, sizeof(int), 100);
	json_t		*b;

	reset();
	push(q, 1, "A", "post");
	b = json_pack("{s:i,s:s,s:s,s:s}", "ref", 2, "channel", "A", "op",
	    "download", "lane", "files");
	opq_push(q, b, -1);
	json_object_set_new(b, "ref", json_integer(3));
	opq_push(q, b, -1);
	json_decref(b);
	push(q, 4, "A", "patch");
	/* The post and the first download run; each lane waits in order. */
	assert_int_equal(nstarted, 2);
	assert_int_equal(started[0]->ref, 1);
	assert_int_equal(started[1]->ref, 2);
	done(q, started[0], 1, "p1", NULL);
	assert_int_equal(nstarted, 3);
	assert_int_equal(started[2]->ref, 4);
	done(q, started[1], 1, NULL, NULL);
	assert_int_equal(nstarted, 4);
	assert_int_equal(started[3]->ref, 3);
	done(q, started[2], 1, NULL, NULL);
	done(q, started[3], 1, NULL, NULL);
	assert_int_equal(nanswered, 4);
	assert_int_equal(opq_len(q), 0);
	opq_free(q);
}

/* A refused token reaches sessiond as such; only a failure carries it. */
static void
test_token_refused_is_carried(void **state)
{
	struct opq		*q = opq_new(&t_cbs, NULL, &t_ev, sizeof(int),
				    100);
	struct adapter_answer	 a = { .ok = 0, .error = "401 from /posts",
				    .token_refused = 1 };

	reset();
	push(q, 1, "A", "post");
	push(q, 2, "A", "post");
	opq_done(q, started[0], &a);
	done(q, started[1], 1, "p2", NULL);
	assert_int_equal(nanswered, 2);
	assert_false(answered_ok[0]);
	assert_true(answered_refused[0]);
	assert_true(answered_ok[1]);
	assert_false(answered_refused[1]);
	opq_free(q);
}

static void
test_no_call_bad_and_full(void **state)
{
	struct opq	*q = opq_new(&t_cbs, NULL, &t_ev, sizeof(int), 2);

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
		cmocka_unit_test(test_lanes),
		cmocka_unit_test(test_token_refused_is_carried),
		cmocka_unit_test(test_no_call_bad_and_full),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
