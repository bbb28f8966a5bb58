/*
 * runtime: where the Copilot runtime is found, each step of the order in
 * turn, with stub executables in a temporary tree; and util_search_path.
 *
 *	T/src/build/bin				our binaries (exedir)
 *	T/src/build/lib/copilot-bridge/runtime/node_modules/...	installed
 *	T/path/copilot-runtime			on PATH
 *	T/src/tests/node_modules/...		the source tree
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/runtime.h"
#include "common/util.h"

/* Short paths under /tmp: sizes the compiler can see do not overflow. */
static char	 top[64];
static char	 exedir[128], asandir[128], pathdir[128];
static char	 installed[256], onpath[256], tree[256];
static char	*saved_path;

/* A file with mode, its directories made first. */
static void
mkfile(const char *path, mode_t mode)
{
	char	dir[PATH_MAX], *slash;
	int	fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_int_equal(util_mkdir_p(dir, 0755), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	const char	*p = getenv("PATH");

	snprintf(top, sizeof(top), "/tmp/test_runtime.XXXXXX");
	if (mkdtemp(top) == NULL)
		return (-1);
	snprintf(exedir, sizeof(exedir), "%s/src/build/bin", top);
	snprintf(asandir, sizeof(asandir), "%s/src/build/asan/bin", top);
	snprintf(installed, sizeof(installed), "%s/src/build/%s/%s", top,
	    RUNTIME_INSTALL_DIR, RUNTIME_PKG_BIN);
	snprintf(pathdir, sizeof(pathdir), "%s/path", top);
	snprintf(onpath, sizeof(onpath), "%s/%s", pathdir, RUNTIME_NAME);
	snprintf(tree, sizeof(tree), "%s/src/tests/%s", top, RUNTIME_PKG_BIN);
	if (util_mkdir_p(exedir, 0755) == -1 ||
	    util_mkdir_p(asandir, 0755) == -1)
		return (-1);
	saved_path = p != NULL ? strdup(p) : NULL;
	return (0);
}

static int
teardown(void **state)
{
	char	cmd[128];

	if (saved_path != NULL)
		setenv("PATH", saved_path, 1);
	free(saved_path);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return (system(cmd) == 0 ? 0 : -1);
}

static void
test_search_path(void **state)
{
	char	a[128], b[128], env[1024], out[PATH_MAX], want[256];

	/* A directory, then a non-executable file, then the program. */
	snprintf(a, sizeof(a), "%s/sp-a", top);
	snprintf(b, sizeof(b), "%s/sp-b", top);
	snprintf(want, sizeof(want), "%s/prog/x", a);
	assert_int_equal(util_mkdir_p(want, 0755), 0);
	snprintf(want, sizeof(want), "%s/prog", b);
	mkfile(want, 0644);
	snprintf(env, sizeof(env), "::%s/prog:%s::%s:%s", a, a, b, pathdir);
	mkfile(onpath, 0755);
	snprintf(want, sizeof(want), "%s/sp-c/prog", top);
	mkfile(want, 0755);
	setenv("PATH", env, 1);
	assert_int_equal(util_search_path("prog", out, sizeof(out)), -1);
	snprintf(env, sizeof(env), ":%s:%s:%s/sp-c", a, b, top);
	setenv("PATH", env, 1);
	assert_int_equal(util_search_path("prog", out, sizeof(out)), 0);
	assert_string_equal(out, want);
	/* Too small a buffer is not a match. */
	assert_int_equal(util_search_path("prog", out, 8), -1);

	/* An empty entry is not the current directory. */
	assert_int_equal(chdir(top), 0);
	snprintf(want, sizeof(want), "%s/prog", top);
	mkfile(want, 0755);
	setenv("PATH", ":", 1);
	assert_int_equal(util_search_path("prog", out, sizeof(out)), -1);

	/* Unset or empty: the default, where sh lives. */
	unsetenv("PATH");
	assert_int_equal(util_search_path("sh", out, sizeof(out)), 0);
	assert_true(strcmp(out, "/usr/bin/sh") == 0 ||
	    strcmp(out, "/bin/sh") == 0);
	setenv("PATH", "", 1);
	assert_int_equal(util_search_path("sh", out, sizeof(out)), 0);
}

/* Each step of the order, taking away the one that won each time. */
static void
test_order(void **state)
{
	char			 out[PATH_MAX], own[256];
	enum runtime_from	 from;

	mkfile(installed, 0755);
	mkfile(onpath, 0755);
	mkfile(tree, 0755);
	snprintf(own, sizeof(own), "%s/own/my-runtime", top);
	mkfile(own, 0755);
	setenv("PATH", pathdir, 1);

	/* session.runtimePath, a path: before everything. */
	from = runtime_find(own, exedir, out, sizeof(out));
	assert_int_equal(from, RUNTIME_CONFIG);
	assert_string_equal(out, own);
	/* session.runtimePath, a bare name: on PATH. */
	snprintf(own, sizeof(own), "%s/my-runtime", pathdir);
	mkfile(own, 0755);
	assert_int_equal(runtime_find("my-runtime", exedir, out, sizeof(out)),
	    RUNTIME_CONFIG);
	assert_string_equal(out, own);
	/* Set but not there: nothing else is tried. */
	assert_int_equal(runtime_find("no-such-runtime", exedir, out,
	    sizeof(out)), RUNTIME_NONE);
	assert_int_equal(runtime_find("/nonexistent/rt", exedir, out,
	    sizeof(out)), RUNTIME_NONE);

	/* Unset (NULL or ""): the install location, next to our bin/. */
	assert_int_equal(runtime_find(NULL, exedir, out, sizeof(out)),
	    RUNTIME_INSTALLED);
	assert_string_equal(out, installed);
	assert_int_equal(runtime_find("", exedir, out, sizeof(out)),
	    RUNTIME_INSTALLED);

	/* Not executable there: PATH. */
	assert_int_equal(chmod(installed, 0644), 0);
	assert_int_equal(runtime_find(NULL, exedir, out, sizeof(out)),
	    RUNTIME_PATH);
	assert_string_equal(out, onpath);

	/* Not on PATH: the source tree, two levels up from build/bin... */
	setenv("PATH", top, 1);
	assert_int_equal(runtime_find(NULL, exedir, out, sizeof(out)),
	    RUNTIME_TREE);
	assert_string_equal(out, tree);
	/* ...or three from build/asan/bin. */
	assert_int_equal(runtime_find(NULL, asandir, out, sizeof(out)),
	    RUNTIME_TREE);
	assert_string_equal(out, tree);

	/* Nowhere. */
	assert_int_equal(unlink(tree), 0);
	assert_int_equal(runtime_find(NULL, exedir, out, sizeof(out)),
	    RUNTIME_NONE);
	assert_int_equal(runtime_find(NULL, "/", out, sizeof(out)),
	    RUNTIME_NONE);
	/* A buffer too small for the path finds nothing rather than a cut. */
	mkfile(tree, 0755);
	assert_int_equal(runtime_find(NULL, exedir, out, 16), RUNTIME_NONE);
	assert_string_equal(runtime_from_name(RUNTIME_TREE), "the source tree");
}

/* Without exedir: our own executable's directory, build/tests. */
static void
test_own_exedir(void **state)
{
	char	out[PATH_MAX], places[8192], dir[PATH_MAX];

	assert_int_equal(util_exe_dir(dir, sizeof(dir)), 0);
	setenv("PATH", top, 1);
	runtime_places(NULL, NULL, places, sizeof(places));
	assert_non_null(strstr(places, "/" RUNTIME_INSTALL_DIR "/"));
	/* Found or not, it is the same answer as with exedir given. */
	assert_int_equal(runtime_find(NULL, NULL, out, sizeof(out)),
	    runtime_find(NULL, dir, out, sizeof(out)));
}

static void
test_places(void **state)
{
	char	places[8192], want[1024];

	setenv("PATH", "/p1:/p2", 1);
	runtime_places(NULL, exedir, places, sizeof(places));
	snprintf(want, sizeof(want), "%s, %s on PATH (/p1:/p2), %s, "
	    "%s/tests/%s", installed, RUNTIME_NAME, tree, top,
	    RUNTIME_PKG_BIN);
	assert_string_equal(places, want);
	runtime_places("/opt/rt", exedir, places, sizeof(places));
	assert_string_equal(places, "session.runtimePath (/opt/rt)");
	runtime_places("rt", exedir, places, sizeof(places));
	assert_string_equal(places, "session.runtimePath (rt on PATH /p1:/p2)");
	/* The same place is named once. */
	runtime_places(NULL, "/bin", places, sizeof(places));
	snprintf(want, sizeof(want), "/%s/%s, %s on PATH (/p1:/p2), /tests/%s",
	    RUNTIME_INSTALL_DIR, RUNTIME_PKG_BIN, RUNTIME_NAME, RUNTIME_PKG_BIN);
	assert_string_equal(places, want);
	/* Cut, never overrun. */
	runtime_places(NULL, exedir, places, 10);
	assert_int_equal(strlen(places), 9);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_path),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_own_exedir),
		cmocka_unit_test(test_places),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
