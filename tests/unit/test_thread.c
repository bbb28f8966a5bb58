/*
 * thread: the thread triggers taken out of a text as upstream's two
 * regular expressions do (its own test cases first, then what the rules
 * say of JavaScript's white space, case, word boundaries and repeats; the
 * expected texts are what upstream's function returns for each input),
 * and the post id a thread is rooted at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sessiond/thread.h"

static const struct {
	const char	*in;
	int		 asked;
	const char	*out;
} cases[] = {
	/* upstream's own test cases */
	{ "hello world", 0, "hello world" },
	{ "summarize this 🧵", 1, "summarize this" },
	{ "reply in thread what do you think?", 1, "what do you think?" },
	{ "Reply In Thread hello", 1, "hello" },
	{ "🧵 check this out", 1, "check this out" },
	{ "🧵", 1, "" },
	{ "🧵 reply in thread do this", 1, "do this" },
	{ "check this🧵.", 1, "check this ." },
	{ "hello :thread:, thanks", 1, "hello , thanks" },
	{ "check this out :thread:", 1, "check this out" },
	{ ":thread: what do you think?", 1, "what do you think?" },
	{ "Can you explain how to reply in thread in Mattermost?", 0,
	    "Can you explain how to reply in thread in Mattermost?" },
	{ "what do you think? reply in thread", 1, "what do you think?" },
	/* the same rules, further */
	{ ":THREAD: loud", 1, "loud" },
	{ "a 🧵🧵 b", 1, "a  b" },
	/* no-break space, ideographic space */
	{ "a\xc2\xa0🧵\xe3\x80\x80" "b", 1, "a b" },
	/* line separators */
	{ "x\xe2\x80\xa8:thread:\xe2\x80\xa8y", 1, "x y" },
	{ "reply in threads please", 0, "reply in threads please" },
	{ "please xreply in thread", 0, "please xreply in thread" },
	{ "reply in thread", 1, "" },
	{ "  reply in thread  ", 1, "" },
	{ "reply in thread reply in thread", 1, "" },
	{ "reply in thread🧵x", 1, "x" },
	{ "héllo 日本 🧵 😀 wörld", 1, "héllo 日本 😀 wörld" },
	{ "e\xcc\x81 :thread: e\xcc\x81", 1, "e\xcc\x81 e\xcc\x81" },
	{ "thread: not a trigger", 0, "thread: not a trigger" },
	{ ":thread without close", 0, ":thread without close" },
	{ "reply  in thread", 0, "reply  in thread" },
	{ "éreply in thread", 1, "é" },
	{ "mid reply in thread text", 0, "mid reply in thread text" },
	/* byte order marks are white space to JavaScript */
	{ "\xef\xbb\xbfreply in thread\xef\xbb\xbf", 1, "" },
	{ "/status 🧵", 1, "/status" },
	{ "🧵 /new", 1, "/new" },
	{ "reply in thread,now", 1, ",now" },
	/* a zero-width space is not white space */
	{ "zero\xe2\x80\x8bwidth 🧵", 1, "zero\xe2\x80\x8bwidth" },
};

static void
t_upstream_rules(void **state)
{
	char	*t;
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_non_null(t = strdup(cases[i].in));
		assert_int_equal(thread_strip(t), cases[i].asked);
		assert_string_equal(t, cases[i].out);
		free(t);
	}
}

/* A text without a trigger is left exactly as it is, white space too. */
static void
t_untouched(void **state)
{
	char	t[] = "  keep\tthis  as it is \n";

	assert_int_equal(thread_strip(t), 0);
	assert_string_equal(t, "  keep\tthis  as it is \n");
}

/* Long text: every trigger goes, the rest stays whole, in one pass. */
static void
t_long(void **state)
{
	const char	*unit = "мир 🧵 ";
	size_t		 n = 20000, ul = strlen(unit), i;
	char		*t;

	assert_non_null(t = malloc(n * ul + 1));
	for (i = 0; i < n; i++)
		memcpy(t + i * ul, unit, ul);
	t[n * ul] = '\0';
	assert_int_equal(thread_strip(t), 1);
	/* "мир 🧵 мир 🧵 ... " -> "мир мир ... мир" */
	assert_int_equal(strlen(t), n * strlen("мир ") - 1);
	for (i = 0; i + 1 < n; i++)
		assert_memory_equal(t + i * strlen("мир "), "мир ",
		    strlen("мир "));
	free(t);
}

static void
t_post(void **state)
{
	assert_string_equal(thread_post("C01GENERAL:1700000000.000100",
	    "C01GENERAL"), "1700000000.000100");
	assert_string_equal(thread_post("abcdefghijklmnopqrstuvwxyz",
	    "zyxwvutsrqponmlkjihgfedcba"), "abcdefghijklmnopqrstuvwxyz");
	assert_string_equal(thread_post("C01OTHER:1.2", "C01GENERAL"),
	    "C01OTHER:1.2");
	assert_string_equal(thread_post("C01GENERAL:", "C01GENERAL"),
	    "C01GENERAL:");
	assert_string_equal(thread_post("C01GENERAL", "C01GENERAL"),
	    "C01GENERAL");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_upstream_rules),
		cmocka_unit_test(t_untouched),
		cmocka_unit_test(t_long),
		cmocka_unit_test(t_post),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
