/*
 * sessiond/seen.c: the ids a catch-up cursor covers.  Kept by time within
 * the cursor's span, at most SEEN_MAX (the oldest go), written as JSON and
 * read back with every malformed input refused.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipc/ipc.h"
#include "sessiond/seen.h"

#define T0	1700000000000LL
#define M	IPC_CATCHUP_MARGIN_MS

/* "id@ms,..." oldest first. */
static const char *
dump(const struct seen *s)
{
	static char	out[8192];
	size_t		i, n = 0;

	out[0] = '\0';
	for (i = 0; i < s->n && n < sizeof(out); i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s@%lld",
		    i ? "," : "", s->v[i].id, s->v[i].ms - T0);
	return (out);
}

static void
test_add_keeps_the_span_in_order(void **state)
{
	struct seen	s = { 0 };
	char		long_id[SEEN_ID_MAX + 2];
	int		ev;

	assert_int_equal(seen_add(&s, "b", T0 + 20, T0 + 20, &ev), 1);
	assert_int_equal(ev, 0);
	assert_int_equal(seen_add(&s, "a", T0 + 10, T0 + 20, &ev), 1);
	assert_int_equal(seen_add(&s, "c", T0 + 20, T0 + 20, &ev), 1);
	assert_int_equal(seen_add(&s, "a", T0 + 20, T0 + 20, &ev), 0);
	/* At the edge of the span: kept; before it: not. */
	assert_int_equal(seen_add(&s, "edge", T0 + 20 - M, T0 + 20, &ev), 1);
	assert_int_equal(seen_add(&s, "old", T0 + 19 - M, T0 + 20, &ev), 0);
	assert_int_equal(seen_add(&s, "", T0, T0, &ev), 0);
	assert_int_equal(seen_add(&s, NULL, T0, T0, &ev), 0);
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(seen_add(&s, long_id, T0, T0 + 20, &ev), 0);
	long_id[SEEN_ID_MAX] = '\0';
	assert_int_equal(seen_add(&s, long_id, T0, T0 + 20, &ev), 1);
	assert_int_equal(seen_del(&s, long_id), 1);
	assert_string_equal(dump(&s), "edge@-4980,a@10,b@20,c@20");
	assert_true(seen_has(&s, "b"));
	assert_false(seen_has(&s, "old"));
	assert_int_equal(seen_del(&s, "b"), 1);
	assert_int_equal(seen_del(&s, "b"), 0);
	assert_string_equal(dump(&s), "edge@-4980,a@10,c@20");
	/* The cursor moves: what falls out of its span goes. */
	assert_int_equal(seen_trim(&s, T0 + 15 + M), 2);
	assert_string_equal(dump(&s), "c@20");
	assert_int_equal(seen_trim(&s, T0 + 15 + M), 0);
	seen_free(&s);
	assert_int_equal(s.n, 0);
	assert_null(s.v);
}

static void
test_full_list_drops_the_oldest(void **state)
{
	struct seen	s = { 0 };
	char		id[32];
	int		i, ev;

	for (i = 0; i < SEEN_MAX; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		assert_int_equal(seen_add(&s, id, T0 + i, T0 + SEEN_MAX, &ev),
		    1);
		assert_int_equal(ev, 0);
	}
	assert_int_equal(s.n, SEEN_MAX);
	assert_int_equal(seen_add(&s, "new", T0 + SEEN_MAX, T0 + SEEN_MAX,
	    &ev), 1);
	assert_int_equal(ev, 1);
	assert_int_equal(s.n, SEEN_MAX);
	assert_false(seen_has(&s, "m0"));
	assert_true(seen_has(&s, "m1") && seen_has(&s, "new"));
	/* Older than all it would displace: not taken, but said. */
	assert_int_equal(seen_add(&s, "older", T0, T0 + SEEN_MAX, &ev), 0);
	assert_int_equal(ev, 1);
	assert_false(seen_has(&s, "older"));
	seen_free(&s);
}

static void
test_text_reads_back(void **state)
{
	struct seen	s = { 0 }, r = { 0 };
	char		why[256], *text;
	int		ev;

	text = seen_text(&s);
	assert_string_equal(text, "[]");
	free(text);
	assert_int_equal(seen_add(&s, "C01:1700000000.000100", T0, T0, &ev), 1);
	assert_int_equal(seen_add(&s, "q\"uote\\", T0 - 5, T0, &ev), 1);
	assert_non_null(text = seen_text(&s));
	assert_string_equal(text, "[[\"q\\\"uote\\\\\",1699999999995],"
	    "[\"C01:1700000000.000100\",1700000000000]]");
	assert_int_equal(seen_parse(&r, text, T0, why, sizeof(why)), 0);
	assert_string_equal(dump(&r), dump(&s));
	seen_free(&r);
	/* Read for a later cursor: what its span no longer covers is left. */
	assert_int_equal(seen_parse(&r, text, T0 + M, why, sizeof(why)), 0);
	assert_string_equal(dump(&r), "C01:1700000000.000100@0");
	seen_free(&r);
	free(text);
	seen_free(&s);
}

static void
test_parse_refuses_bad_input(void **state)
{
	static const struct {
		const char	*text;
		const char	*why;
	} bad[] = {
		{ "", "not JSON" },
		{ "nope", "not JSON" },
		{ "[[\"a\",1]", "not JSON" },
		{ "{}", "not a JSON array" },
		{ "\"a\"", "not JSON" },
		{ "[]x", "not JSON" },
		{ "[1]", "entry 0 is not" },
		{ "[[\"a\"]]", "entry 0 is not" },
		{ "[[\"a\",1,2]]", "entry 0 is not" },
		{ "[[1,\"a\"]]", "entry 0 is not" },
		{ "[[\"a\",1.0]]", "entry 0 is not" },
		{ "[[\"a\",true]]", "entry 0 is not" },
		{ "[[\"a\",null]]", "entry 0 is not" },
		{ "[[\"a\",5],[\"b\"]]", "entry 1 is not" },
		{ "[[\"\",5]]", "an id of 0 bytes" },
		{ "[[\"a\\u0000b\",5]]", "not JSON" },
		{ "[[\"a\",0]]", "time 0 is not in" },
		{ "[[\"a\",-7]]", "time -7 is not in" },
		{ "[[\"a\",1700000000001]]", "is not in (0, 1700000000000]" },
		{ "[[\"a\",99999999999999999999999]]", "not JSON" },
	};
	struct seen	s = { 0 };
	char		why[256], *big, *longid;
	size_t		i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (seen_parse(&s, bad[i].text, T0, why, sizeof(why)) != -1)
			fail_msg("%s: taken", bad[i].text);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("%s: \"%s\", not \"%s\"", bad[i].text, why,
			    bad[i].why);
		assert_int_equal(s.n, 0);
		assert_null(s.v);
	}
	/* Longer than any list kept: refused before it is parsed. */
	assert_non_null(big = malloc(SEEN_TEXT_MAX + 2));
	memset(big, ' ', SEEN_TEXT_MAX + 1);
	big[0] = '[';
	big[SEEN_TEXT_MAX] = ']';
	big[SEEN_TEXT_MAX + 1] = '\0';
	assert_int_equal(seen_parse(&s, big, T0, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "bytes, more than"));
	free(big);
	/* An id too long. */
	assert_non_null(longid = malloc(SEEN_ID_MAX + 32));
	snprintf(longid, SEEN_ID_MAX + 32, "[[\"%0*d\",5]]", SEEN_ID_MAX + 1, 0);
	assert_int_equal(seen_parse(&s, longid, T0, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "an id of 257 bytes"));
	free(longid);
	/* No reason wanted: still refused. */
	assert_int_equal(seen_parse(&s, "x", T0, NULL, 0), -1);
	/* Duplicates and more than SEEN_MAX are no error: the newest kept. */
	assert_int_equal(seen_parse(&s, "[[\"a\",5],[\"a\",6],[\"b\",7]]", 10,
	    why, sizeof(why)), 0);
	assert_int_equal(s.n, 2);
	seen_free(&s);
	assert_non_null(big = malloc(32 * (SEEN_MAX + 10)));
	n = (size_t)snprintf(big, 2, "[");
	for (i = 0; i < SEEN_MAX + 10; i++)
		n += (size_t)snprintf(big + n, 32, "%s[\"m%zu\",%zu]",
		    i ? "," : "", i, 100 + i);
	(void)snprintf(big + n, 2, "]");
	assert_int_equal(seen_parse(&s, big, 100 + SEEN_MAX + 10, why,
	    sizeof(why)), 0);
	assert_int_equal(s.n, SEEN_MAX);
	assert_false(seen_has(&s, "m9"));
	assert_true(seen_has(&s, "m10"));
	free(big);
	seen_free(&s);
}

static void
test_extreme_cursors(void **state)
{
	struct seen	s = { 0 };
	char		why[128];
	int		ev;

	/* A cursor read from a damaged row: no overflow, nothing kept. */
	assert_int_equal(seen_add(&s, "a", 1, LLONG_MIN, &ev), 1);
	assert_int_equal(seen_trim(&s, LLONG_MIN), 0);
	assert_int_equal(seen_trim(&s, LLONG_MAX), 1);
	assert_int_equal(seen_parse(&s, "[[\"a\",5]]", LLONG_MIN, why,
	    sizeof(why)), -1);
	assert_int_equal(seen_parse(&s, "[[\"a\",5]]", LLONG_MAX, why,
	    sizeof(why)), 0);
	assert_int_equal(s.n, 0);
	seen_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_keeps_the_span_in_order),
		cmocka_unit_test(test_full_list_drops_the_oldest),
		cmocka_unit_test(test_text_reads_back),
		cmocka_unit_test(test_parse_refuses_bad_input),
		cmocka_unit_test(test_extreme_cursors),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
