/*
 * sessiond's pure parts: command parsing, loose booleans and the inbound
 * dedup set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sessiond/cmd.h"
#include "sessiond/sessiond.h"

static void
test_cmd_table(void **state)
{
	static const struct {
		const char	*text;
		cmd_fn		 run;
		const char	*arg;
	} cases[] = {
		{ "/new", cmd_new, "" },
		{ "  /NEW  ", cmd_new, "" },
		{ "/stop", cmd_stop, "" },
		{ "/cancel", cmd_stop, "" },
		{ "/reload", cmd_reload, "" },
		{ "/reload config", cmd_reload_config, "" },
		{ "/reload CONFIG ", cmd_reload_config, "" },
		{ "/reload bot mattermost:a", cmd_reload_bot, "mattermost:a" },
		{ "/reload   bot   a  ", cmd_reload_bot, "a" },
		{ "/reload botany", cmd_reload, "botany" },
		{ "/reload platform mattermost", cmd_reload_platform,
		    "mattermost" },
		{ "/reload PLATFORM  slack ", cmd_reload_platform, "slack" },
		{ "/reload platforms", cmd_reload, "platforms" },
		{ "/status", cmd_status, "" },
		{ "/help all", cmd_help, "all" },
		{ "/approve", cmd_approve, "" },
		{ "/deny", cmd_deny, "" },
		{ "/always approve", cmd_always_approve, "" },
		{ "/always DENY", cmd_always_deny, "" },
		{ "/remember", cmd_remember, "" },
		{ "/always", NULL, NULL },
		{ "/unknown thing", NULL, NULL },
		{ "hello /new", NULL, NULL },
		{ "/", NULL, NULL },
		{ "", NULL, NULL },
		{ "/averyveryverylongcommandnamethatgoesonandon", NULL, NULL },
		{ "//new", NULL, NULL },
	};
	const struct cmd_def	*d;
	size_t			 i;
	char			*arg;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = command_parse(cases[i].text, &arg);
		if ((d != NULL ? d->run : NULL) != cases[i].run)
			fail_msg("\"%s\": not the command it is", cases[i].text);
		if (cases[i].arg == NULL)
			assert_null(arg);
		else
			assert_string_equal(arg, cases[i].arg);
		free(arg);
	}
	assert_non_null(command_parse("/new", NULL));
}

static void
test_loose_booleans(void **state)
{
	assert_int_equal(command_bool("on"), 1);
	assert_int_equal(command_bool("YES"), 1);
	assert_int_equal(command_bool("enabled"), 1);
	assert_int_equal(command_bool("1"), 1);
	assert_int_equal(command_bool("off"), 0);
	assert_int_equal(command_bool("Disable"), 0);
	assert_int_equal(command_bool("0"), 0);
	assert_int_equal(command_bool("maybe"), -1);
	assert_int_equal(command_bool(""), -1);
}

static void
test_dedup_per_bot(void **state)
{
	assert_int_equal(dedup_check("mattermost:a", "p1"), 0);
	assert_int_equal(dedup_check("mattermost:a", "p1"), 1);
	assert_int_equal(dedup_check("mattermost:a", "p1"), 1);
	/* Same id from another bot is another message. */
	assert_int_equal(dedup_check("mattermost:b", "p1"), 0);
	assert_int_equal(dedup_check("mattermost:a", "p2"), 0);
	dedup_free();
}

/* Keys of any length: a long one is hashed like a short one. */
static void
test_dedup_long_ids(void **state)
{
	char	id[600];

	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	assert_int_equal(dedup_check("slack:b", id), 0);
	assert_int_equal(dedup_check("slack:b", id), 1);
	id[300] = 'y';			/* differs past the first 256 bytes */
	assert_int_equal(dedup_check("slack:b", id), 0);
	assert_int_equal(dedup_check("slack:c", id), 0);
	assert_int_equal(dedup_check("slack:b", ""), 0);
	assert_int_equal(dedup_check("slack:b", ""), 1);
	dedup_free();
}

static void
test_dedup_is_bounded(void **state)
{
	char	id[32];
	int	i;

	assert_int_equal(dedup_check("slack:b", "first"), 0);
	for (i = 0; i < 70000; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		assert_int_equal(dedup_check("slack:b", id), 0);
	}
	/* The oldest entry was evicted to make room. */
	assert_int_equal(dedup_check("slack:b", "first"), 0);
	assert_int_equal(dedup_check("slack:b", "m69999"), 1);
	dedup_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_table),
		cmocka_unit_test(test_loose_booleans),
		cmocka_unit_test(test_dedup_per_bot),
		cmocka_unit_test(test_dedup_is_bounded),
		cmocka_unit_test(test_dedup_long_ids),
	};

	return (cmocka_run_group_tests_name("sessiond", tests, NULL, NULL));
}
