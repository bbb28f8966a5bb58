/*
 * plan.c's summary of a plan (upstream's cases, and cuts in the middle of
 * multi-byte text), and the command table's rows of cmd_perm.c and
 * cmd_plan.c: names, aliases, sub-words and when they run mid-turn.
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
#include "sessiond/cmd.h"
#include "sessiond/plan.h"

static const char *
sum(const char *content)
{
	static char	buf[PLAN_SUMMARY_MAX * 4 + 8];

	plan_summary(content, buf, sizeof(buf));
	return (buf);
}

static void
test_summary_upstream(void **state)
{
	char	long_heading[256];

	assert_string_equal(sum("# My Plan\n\nThis is the first line.\n\n"
	    "More details."), "My Plan: This is the first line.");
	assert_string_equal(sum("## Refactor Auth\n\nMove to JWT tokens."),
	    "Refactor Auth: Move to JWT tokens.");
	assert_string_equal(sum("# Plan Title\n\n"), "Plan Title");
	assert_string_equal(sum("Just a plain text plan without headings."),
	    "Just a plain text plan without headings.");
	snprintf(long_heading, sizeof(long_heading), "# %0200d", 0);
	assert_int_equal(strlen(sum(long_heading)), 150);
	assert_string_equal(sum(long_heading) + 147, "...");
	assert_string_equal(sum(""), "(empty plan)");
	assert_string_equal(sum("   "), "(empty plan)");
	assert_string_equal(sum("\n\n"), "(empty plan)");
	assert_string_equal(sum(NULL), "(empty plan)");
	assert_string_equal(sum("# Main\n## Sub\nActual content here."),
	    "Main: Actual content here.");
}

static void
test_summary_edges(void **state)
{
	char		 text[2048];
	const char	*s;
	size_t		 i, n;

	/* Spaces around lines and after the #s go; a bare "#" is no heading. */
	assert_string_equal(sum("  ###   Spaced  \r\n\t body  \n"),
	    "Spaced: body");
	assert_string_equal(sum("#\n## Real\nbody"), "Real: body");
	assert_string_equal(sum("#\n\n"), "(empty plan)");
	/* Text before any heading is the summary; headings after it are not. */
	assert_string_equal(sum("intro line\n# Late heading\n"), "intro line");
	/* A cut counts characters and never splits one. */
	n = 0;
	for (i = 0; i < 200; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "é");
	s = sum(text);
	assert_int_equal(utf8_count(s, strlen(s)), 150);
	assert_true(utf8_valid(s, strlen(s)));
	assert_string_equal(s + strlen(s) - 3, "...");
	/* Heading and body each long: cut together, at 150. */
	snprintf(text, sizeof(text), "# %0300d\n%0300d", 1, 2);
	assert_int_equal(strlen(sum(text)), 150);
	/* Exactly 150 is not cut. */
	snprintf(text, sizeof(text), "%0150d", 3);
	assert_string_equal(sum(text), text);
	/* A small buffer gets what fits. */
	{
		char	small[8];

		plan_summary("# Heading\nbody", small, sizeof(small));
		assert_string_equal(small, "Heading");
	}
}

static void
test_cmd_rows(void **state)
{
	static const struct {
		const char	*text;
		cmd_fn		 run;
		const char	*arg;
		enum cmd_when	 when;
	} cases[] = {
		{ "/rules", cmd_rules, "", CMD_TURN },
		{ "/RULES anything", cmd_rules, "anything", CMD_TURN },
		{ "/rule", cmd_rules, "", CMD_TURN },
		{ "/remember list", cmd_rules, "", CMD_TURN },
		{ "/rules clear", cmd_rules_clear, "", CMD_TURN },
		{ "/rules CLEAR shell(git push) ", cmd_rules_clear,
		    "shell(git push)", CMD_TURN },
		{ "/rule clear mcp:github", cmd_rules_clear, "mcp:github",
		    CMD_TURN },
		{ "/remember clear", cmd_rules_clear, "", CMD_TURN },
		{ "/rules clearly", cmd_rules, "clearly", CMD_TURN },
		{ "/remember", cmd_remember, "", CMD_NOW },
		{ "/remember listing", cmd_remember, "listing", CMD_NOW },
		{ "/yolo", cmd_yolo, "", CMD_SAFE },
		{ "/autopilot", cmd_autopilot, "", CMD_TURN },
		{ "/auto", cmd_autopilot, "", CMD_TURN },
		/* They wait for the turn themselves, unless they answer it. */
		{ "/plan", cmd_plan, "", CMD_NOW },
		{ "/plan show", cmd_plan, "show", CMD_NOW },
		{ "/implement yolo", cmd_implement, "yolo", CMD_NOW },
		{ "/implement", cmd_implement, "", CMD_NOW },
		{ "/planning", NULL, NULL, CMD_NOW },
	};
	const struct cmd_def	*d;
	size_t			 i;
	char			*arg;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = command_parse(cases[i].text, &arg);
		if ((d != NULL ? d->run : NULL) != cases[i].run)
			fail_msg("\"%s\": not the command it is", cases[i].text);
		if (cases[i].arg == NULL) {
			assert_null(arg);
			continue;
		}
		assert_string_equal(arg, cases[i].arg);
		assert_int_equal(d->when, cases[i].when);
		free(arg);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_upstream),
		cmocka_unit_test(test_summary_edges),
		cmocka_unit_test(test_cmd_rows),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
