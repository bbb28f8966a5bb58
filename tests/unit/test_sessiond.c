/*
 * sessiond's pure parts: command parsing and the inbound dedup set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sessiond/sessiond.h"

static void
test_cmd_table(void **state)
{
	static const struct {
		const char	*text;
		enum cmd	 cmd;
		const char	*arg;
	} cases[] = {
		{ "/new", CMD_NEW, "" },
		{ "  /NEW  ", CMD_NEW, "" },
		{ "/stop", CMD_STOP, "" },
		{ "/cancel", CMD_STOP, "" },
		{ "/reload", CMD_RELOAD, "" },
		{ "/reload config", CMD_RELOAD_CONFIG, "" },
		{ "/reload CONFIG ", CMD_RELOAD_CONFIG, "" },
		{ "/reload bot mattermost:a", CMD_RELOAD_BOT, "mattermost:a" },
		{ "/reload   bot   a  ", CMD_RELOAD_BOT, "a" },
		{ "/reload botany", CMD_RELOAD, "botany" },
		{ "/reload mcp", CMD_RELOAD, "mcp" },
		{ "/status", CMD_STATUS, "" },
		{ "/help all", CMD_HELP, "all" },
		{ "/approve", CMD_APPROVE, "" },
		{ "/deny", CMD_DENY, "" },
		{ "/unknown thing", CMD_NONE, NULL },
		{ "hello /new", CMD_NONE, NULL },
		{ "/", CMD_NONE, NULL },
		{ "", CMD_NONE, NULL },
		{ "/averyveryverylongcommandname", CMD_NONE, NULL },
		{ "//new", CMD_NONE, NULL },
	};
	size_t	i;
	char	*arg;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum cmd c = cmd_parse(cases[i].text, &arg);

		if (c != cases[i].cmd)
			fail_msg("\"%s\": command %d, want %d", cases[i].text, c,
			    cases[i].cmd);
		if (cases[i].arg == NULL)
			assert_null(arg);
		else
			assert_string_equal(arg, cases[i].arg);
		free(arg);
	}
	assert_int_equal(cmd_parse("/new", NULL), CMD_NEW);
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
		cmocka_unit_test(test_dedup_per_bot),
		cmocka_unit_test(test_dedup_is_bounded),
	};

	return (cmocka_run_group_tests_name("sessiond", tests, NULL, NULL));
}
