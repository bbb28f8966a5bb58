/*
 * Unit tests for sessiond/hooks.c: the hooks.json format (docs/architecture.md,
 * "Hooks"), its warnings, syntax errors with line and column, discovery order
 * in a scratch $HOME and workspace, the watch list and refcounts.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "sessiond/hooks.h"

static char	 T_root[64];	/* mkdtemp scratch; "" when none */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	chmod(path, 0700);	/* undo the unreadable-file test */
	return (remove(path));
}

static int
teardown(void **state)
{
	if (T_root[0] != '\0')
		nftw(T_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	T_root[0] = '\0';
	return (0);
}

static int
setup(void **state)
{
	strcpy(T_root, "/tmp/test_hooks.XXXXXX");
	assert_non_null(mkdtemp(T_root));
	return (0);
}

/* T_root/rel, in a static ring so a test can hold a few at once. */
static const char *
tpath(const char *rel)
{
	static char	 ring[8][PATH_MAX];
	static int	 next;
	char		*p = ring[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", T_root, rel);
	return (p);
}

static void
put(const char *rel, const char *text)
{
	char	 dir[PATH_MAX], *slash;
	FILE	*fp;

	snprintf(dir, sizeof(dir), "%s", tpath(rel));
	slash = strrchr(dir, '/');
	*slash = '\0';
	assert_int_equal(util_mkdir_p(dir, 0700), 0);
	assert_non_null(fp = fopen(tpath(rel), "w"));
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* A hooks.json with one preToolUse command whose script is name. */
static void
put_one(const char *rel, const char *name)
{
	char	buf[256];

	snprintf(buf, sizeof(buf), "{\"hooks\":{\"preToolUse\":[{\"type\":"
	    "\"command\",\"bash\":\"%s\"}]}}", name);
	put(rel, buf);
}

static struct hookset *
parse_ok(const char *path, const char *text)
{
	struct hookset	*hs;
	char		 err[256] = "";

	assert_non_null(hs = hooks_new());
	if (hooks_parse(hs, path, text, strlen(text), err, sizeof(err)) != 0)
		fail_msg("parse failed: %s", err);
	return (hs);
}

static const char valid[] =
    "{ \"version\": 1, \"hooks\": {\n"
    " \"preToolUse\": [\n"
    "  { \"type\": \"command\", \"bash\": \"./guard.sh\", \"cwd\": \".\",\n"
    "    \"timeoutSec\": 10, \"env\": { \"K\": \"V\", \"E\": \"\" } },\n"
    "  { \"type\": \"command\", \"bash\": \"b2\", \"powershell\": \"p2\",\n"
    "    \"cwd\": \"../other/./x/\", \"extra\": true }\n"
    " ],\n"
    " \"sessionEnd\": [ { \"type\": \"command\", \"powershell\": \"ps\",\n"
    "    \"cwd\": \"/abs/dir\", \"timeoutSec\": 0.5 } ],\n"
    " \"errorOccurred\": []\n"
    "} }\n";

static void
test_parse_valid(void **state)
{
	struct hookset	*hs = parse_ok("/etc/hk/hooks.json", valid);
	struct hook_cmd	*c;

	assert_int_equal(hooks_count(hs), 3);
	assert_int_equal(hs->ncmds[HOOK_PRE_TOOL_USE], 2);
	assert_int_equal(hs->ncmds[HOOK_SESSION_END], 1);
	assert_int_equal(hs->ncmds[HOOK_ERROR_OCCURRED], 0);
	assert_int_equal(hs->nfiles, 0);
	c = &hs->cmds[HOOK_PRE_TOOL_USE][0];
	assert_string_equal(c->script, "./guard.sh");
	assert_int_equal(c->powershell, 0);
	assert_string_equal(c->cwd, "/etc/hk");
	assert_int_equal(c->timeout_sec, 10);
	assert_string_equal(c->file, "/etc/hk/hooks.json");
	assert_non_null(c->env);
	assert_string_equal(c->env[0], "K=V");
	assert_string_equal(c->env[1], "E=");
	assert_null(c->env[2]);
	c = &hs->cmds[HOOK_PRE_TOOL_USE][1];
	assert_string_equal(c->script, "b2");	/* bash wins */
	assert_int_equal(c->powershell, 0);
	assert_string_equal(c->cwd, "/etc/other/x");
	assert_int_equal(c->timeout_sec, HOOK_TIMEOUT_SEC);
	assert_null(c->env);
	c = &hs->cmds[HOOK_SESSION_END][0];
	assert_string_equal(c->script, "ps");
	assert_int_equal(c->powershell, 1);
	assert_string_equal(c->cwd, "/abs/dir");
	assert_int_equal(c->timeout_sec, 1);
	hooks_unref(hs);
}

static void
test_parse_skips(void **state)
{
	struct hookset	*hs;
	struct hook_cmd	*c;

	hs = parse_ok("/w/hooks.json", "{\"hooks\":{"
	    "\"bogus\":[{\"type\":\"command\",\"bash\":\"x\"}],"
	    "\"preToolUse\":{\"type\":\"command\",\"bash\":\"x\"},"
	    "\"postToolUse\":[1,null,\"s\",{\"type\":\"prompt\",\"bash\":\"x\"},"
	    "{\"bash\":\"no type\"},{\"type\":\"command\",\"bash\":\"\"},"
	    "{\"type\":\"command\",\"bash\":7,\"powershell\":\"\"},"
	    "{\"type\":\"command\",\"bash\":\"kept\",\"timeoutSec\":-3,"
	    "\"cwd\":5,\"env\":{\"A=B\":\"x\",\"\":\"y\",\"N\":1,\"OK\":\"1\"}},"
	    "{\"type\":\"command\",\"bash\":\"t\",\"timeoutSec\":\"9\","
	    "\"env\":[]}],"
	    "\"sessionStart\":[{\"type\":\"command\",\"bash\":\"s\","
	    "\"timeoutSec\":0}]}}");
	assert_int_equal(hooks_count(hs), 3);
	assert_int_equal(hs->ncmds[HOOK_PRE_TOOL_USE], 0);
	assert_int_equal(hs->ncmds[HOOK_POST_TOOL_USE], 2);
	c = &hs->cmds[HOOK_POST_TOOL_USE][0];
	assert_string_equal(c->script, "kept");
	assert_int_equal(c->timeout_sec, HOOK_TIMEOUT_SEC);
	assert_string_equal(c->cwd, "/w");
	assert_string_equal(c->env[0], "OK=1");
	assert_null(c->env[1]);
	c = &hs->cmds[HOOK_POST_TOOL_USE][1];
	assert_string_equal(c->script, "t");
	assert_int_equal(c->timeout_sec, HOOK_TIMEOUT_SEC);
	assert_null(c->env);
	assert_int_equal(hs->cmds[HOOK_SESSION_START][0].timeout_sec,
	    HOOK_TIMEOUT_SEC);
	hooks_unref(hs);
}

/* Wrong shapes at the top are a warning and no commands, not an error. */
static void
test_parse_bad_top(void **state)
{
	static const char *const texts[] = {
		"[]", "\"str\"", "42", "null", "{}", "{\"version\":1}",
		"{\"hooks\":[]}", "{\"hooks\":\"preToolUse\"}", "{\"hooks\":{}}",
	};
	struct hookset	*hs;
	size_t		 i;

	for (i = 0; i < nitems(texts); i++) {
		hs = parse_ok("/x/hooks.json", texts[i]);
		assert_int_equal(hooks_count(hs), 0);
		hooks_unref(hs);
	}
}

static void
test_parse_syntax_error(void **state)
{
	static const char bad[] =
	    "{\"hooks\": {\n"
	    "  \"preToolUse\": [\n"
	    "    {\"type\": \"command\", \"bash\": \"x\",}\n"
	    "  ]\n"
	    "}}\n";
	struct hookset	*hs = parse_ok("/p/hooks.json", valid);
	char		 err[256] = "";

	assert_int_equal(hooks_parse(hs, "/p/hooks.json", bad, strlen(bad),
	    err, sizeof(err)), -1);
	assert_string_equal(err,
	    "/p/hooks.json:3:37: string or '}' expected near '}'");
	/* hs is as it was. */
	assert_int_equal(hooks_count(hs), 3);
	assert_int_equal(hs->ncmds[HOOK_PRE_TOOL_USE], 2);
	err[0] = '\0';
	assert_int_equal(hooks_parse(hs, "/p/hooks.json", "", 0, err,
	    sizeof(err)), -1);
	assert_true(strncmp(err, "/p/hooks.json:1:0: ", 19) == 0);
	assert_int_equal(hooks_parse(hs, "/p/hooks.json", "{\"a\":\0}", 7,
	    err, sizeof(err)), -1);
	assert_int_equal(hooks_count(hs), 3);
	hooks_unref(hs);
}

/* A second file appends after the first. */
static void
test_parse_appends(void **state)
{
	struct hookset	*hs = parse_ok("/a/hooks.json", valid);
	char		 err[256];
	const char	*two = "{\"hooks\":{\"preToolUse\":[{\"type\":"
	    "\"command\",\"bash\":\"last\"}]}}";

	assert_int_equal(hooks_parse(hs, "/b/hooks.json", two, strlen(two),
	    err, sizeof(err)), 0);
	assert_int_equal(hs->ncmds[HOOK_PRE_TOOL_USE], 3);
	assert_string_equal(hs->cmds[HOOK_PRE_TOOL_USE][0].script,
	    "./guard.sh");
	assert_string_equal(hs->cmds[HOOK_PRE_TOOL_USE][2].script, "last");
	assert_string_equal(hs->cmds[HOOK_PRE_TOOL_USE][2].cwd, "/b");
	assert_int_equal(hs->ncmds[HOOK_SESSION_END], 1);
	hooks_unref(hs);
}

static void
test_refcount(void **state)
{
	struct hookset	*hs = parse_ok("/a/hooks.json", valid);

	assert_int_equal(hs->refs, 1);
	assert_ptr_equal(hooks_ref(hs), hs);
	assert_ptr_equal(hooks_ref(hs), hs);
	assert_int_equal(hs->refs, 3);
	hooks_unref(hs);
	hooks_unref(hs);
	assert_int_equal(hs->refs, 1);
	assert_int_equal(hooks_count(hs), 3);
	hooks_unref(hs);	/* freed: ASan reports a leak otherwise */
	assert_null(hooks_ref(NULL));
	hooks_unref(NULL);
	assert_int_equal(hooks_count(NULL), 0);
	assert_int_equal(hook_type_from_name("sessionEnd"), HOOK_SESSION_END);
	assert_int_equal(hook_type_from_name("SessionEnd"), -1);
	assert_int_equal(hook_type_from_name(NULL), -1);
	assert_string_equal(hook_type_name(HOOK_USER_PROMPT_SUBMITTED),
	    "userPromptSubmitted");
}

/* The scripts of preToolUse, space-separated, to compare in one go. */
static const char *
scripts(const struct hookset *hs)
{
	static char	 buf[1024];
	size_t		 i;

	buf[0] = '\0';
	for (i = 0; i < hs->ncmds[HOOK_PRE_TOOL_USE]; i++) {
		if (i > 0)
			strcat(buf, " ");
		strcat(buf, hs->cmds[HOOK_PRE_TOOL_USE][i].script);
	}
	return (buf);
}

/* A scratch $HOME with plugins and a user file, and a workspace. */
static void
make_tree(void)
{
	put_one("home/.copilot/installed-plugins/b/hooks.json", "pb");
	put_one("home/.copilot/installed-plugins/a/x/hooks.json", "pax");
	put_one("home/.copilot/installed-plugins/a/hooks.json", "pa");
	put_one("home/.copilot/installed-plugins/a/1/2/hooks.json", "pa12");
	put_one("home/.copilot/installed-plugins/a/1/2/3/hooks.json", "deep");
	put_one("home/.copilot/installed-plugins/a/x/other.json", "other");
	put_one("home/.copilot/hooks.json", "user");
	put_one("ws/hooks.json", "w3");
	put_one("ws/.github/hooks.json", "w2");
	put_one("ws/.github/hooks/hooks.json", "w1");
	/* A loop back to installed-plugins must not repeat anything. */
	assert_int_equal(symlink("..", tpath(
	    "home/.copilot/installed-plugins/b/loop")), 0);
}

static void
test_load_order(void **state)
{
	struct hooks_where	 w = { NULL, NULL, 1 };
	struct hookset		*hs;
	char			 err[256] = "", home[PATH_MAX], ws[PATH_MAX];
	static const char *const files[] = {
		"home/.copilot/installed-plugins/a/1/2/hooks.json",
		"home/.copilot/installed-plugins/a/hooks.json",
		"home/.copilot/installed-plugins/a/x/hooks.json",
		"home/.copilot/installed-plugins/b/hooks.json",
		"home/.copilot/hooks.json",
		"ws/.github/hooks/hooks.json",
		"ws/.github/hooks.json",
		"ws/hooks.json",
	};
	static const char *const dirs[] = {
		"home/.copilot",
		"home/.copilot/installed-plugins/a/1/2",
		"home/.copilot/installed-plugins/a",
		"home/.copilot/installed-plugins/a/x",
		"home/.copilot/installed-plugins/b",
		"ws", "ws/.github", "ws/.github/hooks",
	};
	size_t			 i;

	make_tree();
	snprintf(home, sizeof(home), "%s", tpath("home"));
	snprintf(ws, sizeof(ws), "%s", tpath("ws"));
	w.home = home;
	w.cwd = ws;
	if ((hs = hooks_load(&w, err, sizeof(err))) == NULL)
		fail_msg("load failed: %s", err);
	assert_string_equal(scripts(hs), "pa12 pa pax pb user w1 w2 w3");
	assert_int_equal(hs->nfiles, nitems(files));
	for (i = 0; i < nitems(files); i++)
		assert_string_equal(hs->files[i], tpath(files[i]));
	assert_int_equal(hs->ndirs, nitems(dirs));
	for (i = 0; i < nitems(dirs); i++)
		assert_string_equal(hs->dirs[i], tpath(dirs[i]));
	assert_string_equal(hs->cmds[HOOK_PRE_TOOL_USE][4].cwd,
	    tpath("home/.copilot"));
	assert_string_equal(hs->cmds[HOOK_PRE_TOOL_USE][5].cwd,
	    tpath("ws/.github/hooks"));
	hooks_unref(hs);
}

static void
test_load_no_workspace(void **state)
{
	struct hooks_where	 w = { NULL, NULL, 0 };
	struct hookset		*hs;
	char			 err[256] = "", home[PATH_MAX], ws[PATH_MAX];

	make_tree();
	snprintf(home, sizeof(home), "%s", tpath("home"));
	snprintf(ws, sizeof(ws), "%s", tpath("ws"));
	w.home = home;
	w.cwd = ws;
	assert_non_null(hs = hooks_load(&w, err, sizeof(err)));
	assert_string_equal(scripts(hs), "pa12 pa pax pb user");
	assert_int_equal(hs->nfiles, 5);
	assert_int_equal(hs->ndirs, 5);
	assert_string_equal(hs->dirs[4],
	    tpath("home/.copilot/installed-plugins/b"));
	hooks_unref(hs);

	/* No $HOME: only the workspace, and nothing at all without it. */
	w.home = NULL;
	w.workspace = 1;
	assert_non_null(hs = hooks_load(&w, err, sizeof(err)));
	assert_string_equal(scripts(hs), "w1 w2 w3");
	assert_int_equal(hs->ndirs, 3);
	assert_string_equal(hs->dirs[0], ws);
	hooks_unref(hs);
	w.cwd = NULL;
	assert_non_null(hs = hooks_load(&w, err, sizeof(err)));
	assert_int_equal(hooks_count(hs), 0);
	assert_int_equal(hs->nfiles + hs->ndirs, 0);
	hooks_unref(hs);
}

/* Nothing there at all: an empty table, and the dirs that do exist. */
static void
test_load_empty(void **state)
{
	struct hooks_where	 w = { NULL, NULL, 1 };
	struct hookset		*hs;
	char			 err[256] = "", ws[PATH_MAX];

	assert_int_equal(mkdir(tpath("ws"), 0700), 0);
	snprintf(ws, sizeof(ws), "%s", tpath("ws"));
	w.home = tpath("nohome");
	w.cwd = ws;
	assert_non_null(hs = hooks_load(&w, err, sizeof(err)));
	assert_int_equal(hooks_count(hs), 0);
	assert_int_equal(hs->nfiles, 0);
	assert_int_equal(hs->ndirs, 1);
	assert_string_equal(hs->dirs[0], ws);
	hooks_unref(hs);
}

static void
test_load_syntax_error(void **state)
{
	struct hooks_where	 w = { NULL, NULL, 1 };
	char			 err[256] = "", want[PATH_MAX + 64], ws[PATH_MAX];

	put_one("home/.copilot/hooks.json", "user");
	put("ws/.github/hooks.json", "{\n\n  \"hooks\": ]\n}\n");
	snprintf(ws, sizeof(ws), "%s", tpath("ws"));
	w.home = tpath("home");
	w.cwd = ws;
	assert_null(hooks_load(&w, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:3:12: unexpected token near ']'",
	    tpath("ws/.github/hooks.json"));
	assert_string_equal(err, want);
}

/* Too big, unreadable and not-a-file candidates are skipped. */
static void
test_load_skips(void **state)
{
	struct hooks_where	 w = { NULL, NULL, 1 };
	struct hookset		*hs;
	char			 err[256] = "", *big, ws[PATH_MAX];
	size_t			 n = 1024 * 1024 + 1;

	assert_non_null(big = malloc(n + 1));
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	put("ws/hooks.json", big);
	free(big);
	put_one("ws/.github/hooks.json", "kept");
	put_one("ws/.github/hooks/hooks.json", "unreadable");
	assert_int_equal(chmod(tpath("ws/.github/hooks/hooks.json"), 0), 0);
	assert_int_equal(mkdir(tpath("home"), 0700), 0);
	assert_int_equal(mkdir(tpath("home/.copilot"), 0700), 0);
	assert_int_equal(mkdir(tpath("home/.copilot/hooks.json"), 0700), 0);
	snprintf(ws, sizeof(ws), "%s", tpath("ws"));
	w.home = tpath("home");
	w.cwd = ws;
	assert_non_null(hs = hooks_load(&w, err, sizeof(err)));
	/* root reads a mode 0 file anyway. */
	assert_string_equal(scripts(hs),
	    geteuid() == 0 ? "unreadable kept" : "kept");
	assert_int_equal(hs->nfiles, geteuid() == 0 ? 2 : 1);
	assert_string_equal(hs->files[hs->nfiles - 1],
	    tpath("ws/.github/hooks.json"));
	hooks_unref(hs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_skips),
		cmocka_unit_test(test_parse_bad_top),
		cmocka_unit_test(test_parse_syntax_error),
		cmocka_unit_test(test_parse_appends),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test_setup_teardown(test_load_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_no_workspace, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_syntax_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_skips, setup,
		    teardown),
	};

	return (cmocka_run_group_tests_name("hooks", tests, NULL, NULL));
}
