/*
 * backoff: 1 s doubling to 60 s, each delay within +-20% of nominal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/backoff.h"

static void
test_doubling_with_jitter(void **state)
{
	static const uint32_t	nominal[] = { 1000, 2000, 4000, 8000, 16000,
				    32000, 60000, 60000, 60000 };
	struct backoff		b;
	uint32_t		d;
	size_t			i;
	int			round;

	for (round = 0; round < 200; round++) {
		backoff_init(&b, 1000, 60000);
		for (i = 0; i < sizeof(nominal) / sizeof(nominal[0]); i++) {
			d = backoff_next(&b);
			assert_true(d >= nominal[i] * 8 / 10);
			assert_true(d <= nominal[i] * 12 / 10);
		}
	}
}

static void
test_jitter_spreads(void **state)
{
	struct backoff	b;
	uint32_t	d, lo = UINT32_MAX, hi = 0;
	int		i;

	for (i = 0; i < 500; i++) {
		backoff_init(&b, 1000, 60000);
		d = backoff_next(&b);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(hi - lo > 200);	/* not a constant */
}

static void
test_reset(void **state)
{
	struct backoff	b;

	backoff_init(&b, 1000, 60000);
	(void)backoff_next(&b);
	(void)backoff_next(&b);
	(void)backoff_next(&b);
	backoff_reset(&b);
	assert_true(backoff_next(&b) <= 1200);
}

static void
test_huge_attempts_do_not_overflow(void **state)
{
	struct backoff	b;

	backoff_init(&b, 1000, 60000);
	b.attempt = 4000000000u;
	assert_true(backoff_next(&b) <= 72000);
}

/* first_free: after a reset the first delay is 0, then the doubling. */
static void
test_first_free(void **state)
{
	struct backoff	b;
	uint32_t	d;

	backoff_init(&b, 1000, 60000);
	backoff_first_free(&b);
	assert_int_equal(backoff_next(&b), 0);
	d = backoff_next(&b);
	assert_true(d >= 800 && d <= 1200);
	d = backoff_next(&b);
	assert_true(d >= 1600 && d <= 2400);
	backoff_reset(&b);
	assert_int_equal(backoff_next(&b), 0);
	d = backoff_next(&b);
	assert_true(d >= 800 && d <= 1200);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubling_with_jitter),
		cmocka_unit_test(test_jitter_spreads),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_huge_attempts_do_not_overflow),
		cmocka_unit_test(test_first_free),
	};

	return (cmocka_run_group_tests_name("backoff", tests, NULL, NULL));
}
