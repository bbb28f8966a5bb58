/*
 * fleet_summary(): the one text of a platform reload, for ctl and chat;
 * bot_of_platform(): which bots a platform reload concerns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/utf8.h"
#include "supervisor/supervisor.h"

static struct fleet_result
res(const char *key, int ok, int old_gen, int new_gen, uint64_t ms,
    const char *error)
{
	struct fleet_result	r;

	memset(&r, 0, sizeof(r));
	r.key = key;
	r.ok = ok;
	r.old_gen = old_gen;
	r.new_gen = new_gen;
	r.ms = ms;
	snprintf(r.error, sizeof(r.error), "%s", error);
	return (r);
}

static void
test_no_bots(void **state)
{
	size_t	 failed = 99;
	char	*t = fleet_summary("zulip", NULL, 0, 4, 0, &failed);

	assert_non_null(t);
	assert_string_equal(t, "ℹ️ Platform zulip has no bots: nothing to "
	    "reload.");
	assert_int_equal(failed, 0);
	free(t);
}

static void
test_all_ok_each_outcome(void **state)
{
	struct fleet_result	r[4];
	size_t			failed = 99;
	char			*t;

	r[0] = res("mattermost:a", 1, 1, 2, 61, "");
	r[1] = res("mattermost:b", 1, 0, 1, 70, "");
	r[2] = res("mattermost:c", 1, 3, 0, 20, "");
	r[3] = res("mattermost:d", 1, 0, 0, 0, "");
	t = fleet_summary("mattermost", r, 4, 2, 412, &failed);
	assert_non_null(t);
	assert_int_equal(failed, 0);
	assert_string_equal(t,
	    "✅ Reloaded platform mattermost: 4 of 4 bot(s) in 412 ms, at most "
	    "2 at a time\n"
	    "- ✅ mattermost:a: g1 → g2 in 61 ms\n"
	    "- ✅ mattermost:b: started g1 in 70 ms\n"
	    "- ✅ mattermost:c: removed, g3 drained in 20 ms\n"
	    "- ✅ mattermost:d: not in the config, nothing to run");
	free(t);
}

static void
test_failed_first_with_reason(void **state)
{
	struct fleet_result	r[3];
	size_t			failed = 0;
	char			*t;

	r[0] = res("mattermost:a", 1, 1, 2, 61, "");
	r[1] = res("mattermost:b", 0, 1, 1, 812, "401 from /users/me: "
	    "Invalid or expired session,\nplease login again.");
	r[2] = res("mattermost:c", 0, 0, 0, 5, "cannot spawn a worker");
	t = fleet_summary("mattermost", r, 3, 4, 900, &failed);
	assert_non_null(t);
	assert_int_equal(failed, 2);
	/* The reason on one line: its newline is a space. */
	assert_string_equal(t,
	    "⚠️ Reloaded platform mattermost: 1 of 3 bot(s) in 900 ms, at most "
	    "4 at a time; 2 failed\n"
	    "- ❌ mattermost:b: failed in 812 ms, kept g1: 401 from /users/me: "
	    "Invalid or expired session, please login again.\n"
	    "- ❌ mattermost:c: failed in 5 ms, not running: cannot spawn a "
	    "worker\n"
	    "- ✅ mattermost:a: g1 → g2 in 61 ms");
	free(t);
}

static void
test_all_failed(void **state)
{
	struct fleet_result	r[2];
	size_t			failed = 0;
	char			*t;

	r[0] = res("slack:a", 0, 1, 1, 10, "auth.test: invalid_auth");
	r[1] = res("slack:b", 0, 2, 2, 11, "auth.test: invalid_auth");
	t = fleet_summary("slack", r, 2, 1, 25, &failed);
	assert_non_null(t);
	assert_int_equal(failed, 2);
	assert_non_null(strstr(t, "❌ Reload of platform slack failed for all 2 "
	    "bot(s) in 25 ms, at most 1 at a time\n- ❌ slack:a: failed in 10 "
	    "ms, kept g1: auth.test: invalid_auth\n- ❌ slack:b:"));
	free(t);
}

/* A reason is cut on a character boundary, whatever its length. */
static void
test_long_reason_cut(void **state)
{
	struct fleet_result	r;
	char			why[255], *t, *line;
	size_t			failed, i;

	for (i = 0; i + 2 < sizeof(why); i += 2)
		memcpy(why + i, "é", 2);	/* 2 bytes each */
	why[i] = '\0';
	r = res("mattermost:a", 0, 1, 1, 1, why);
	t = fleet_summary("mattermost", &r, 1, 4, 1, &failed);
	assert_non_null(t);
	line = strchr(t, '\n') + 1;
	assert_true(utf8_valid(line, strlen(line)));
	assert_true(strlen(line) < 300);
	assert_non_null(strstr(line, "…"));
	free(t);
}

/* Hundreds of bots: the text stays within one post, the rest is counted. */
static void
test_many_bots_bounded(void **state)
{
	enum { N = 400 };
	struct fleet_result	*r;
	char			(*keys)[32], why[250], *t, *more;
	size_t			failed, i, lines = 0, rest;

	r = calloc(N, sizeof(*r));
	keys = calloc(N, sizeof(*keys));
	assert_non_null(r);
	assert_non_null(keys);
	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	for (i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "mattermost:bot%zu", i);
		r[i] = res(keys[i], i % 2, 1, i % 2 ? 2 : 1, i, why);
	}
	t = fleet_summary("mattermost", r, N, 4, 5000, &failed);
	assert_non_null(t);
	assert_int_equal(failed, N / 2);
	assert_true(strlen(t) <= 12000);
	for (i = 0; t[i] != '\0'; i++)
		lines += t[i] == '\n';
	more = strstr(t, "\n- … and ");
	assert_non_null(more);
	assert_int_equal(sscanf(more, "\n- … and %zu more", &rest), 1);
	/* headline + shown lines + the "more" line */
	assert_int_equal(lines - 1 + rest, N);
	/* The failed ones come first. */
	assert_non_null(strstr(t, "\n- ❌ mattermost:bot0: "));
	free(t);
	free(r);
	free(keys);
}

/* A key is "platform:name", split at its first ':'. */
static void
test_bot_of_platform(void **state)
{
	struct bot	b;

	memset(&b, 0, sizeof(b));
	b.key = "mattermost:a";
	assert_true(bot_of_platform(&b, "mattermost"));
	assert_false(bot_of_platform(&b, "matter"));
	assert_false(bot_of_platform(&b, "mattermostx"));
	assert_false(bot_of_platform(&b, ""));
	b.key = "slack:team:a";
	assert_true(bot_of_platform(&b, "slack"));
	assert_false(bot_of_platform(&b, "slack:team"));
	b.key = "nocolon";
	assert_false(bot_of_platform(&b, "nocolon"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_bots),
		cmocka_unit_test(test_all_ok_each_outcome),
		cmocka_unit_test(test_failed_first_with_reason),
		cmocka_unit_test(test_all_failed),
		cmocka_unit_test(test_long_reason_cut),
		cmocka_unit_test(test_many_bots_bounded),
		cmocka_unit_test(test_bot_of_platform),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
