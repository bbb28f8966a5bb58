/*
 * fpath: a name from the chat becomes one safe path component (slashes,
 * NUL, controls, bytes that are not UTF-8, leading dots, "..", very long
 * and multibyte names); .temp/<channel> is made without following a
 * symlink; a second file of the same name gets its own; a file the agent
 * names is opened only when, resolved, it is a regular file inside the
 * working directory or an allowed path (no "..", no symlink out, no
 * device, FIFO or directory); the sweep removes only old files, a
 * bounded number of entries at a time.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>

#include <cmocka.h>

#include "common/utf8.h"
#include "sessiond/fpath.h"

static char	 tmp[64];		/* mkdtemp's, short: paths built on it fit */

static const char *
sane(const char *name, size_t len)
{
	static char	out[FPATH_NAME_MAX + 1];

	fpath_sanitize(name, len, out, sizeof(out));
	return (out);
}

static const char *
sane_s(const char *name)
{
	return (sane(name, strlen(name)));
}

static void
test_sanitize_plain(void **state)
{
	assert_string_equal(sane_s("report.pdf"), "report.pdf");
	assert_string_equal(sane_s("a b (1).txt"), "a b (1).txt");
	assert_string_equal(sane_s(""), "file");
}

static void
test_sanitize_separators(void **state)
{
	assert_string_equal(sane_s("../../etc/passwd"), "___.._etc_passwd");
	assert_string_equal(sane_s("a/b\\c"), "a_b_c");
	assert_string_equal(sane_s(".."), "__");
	assert_string_equal(sane_s("."), "_");
	assert_string_equal(sane_s("/"), "_");
}

static void
test_sanitize_leading_dots(void **state)
{
	assert_string_equal(sane_s(".bashrc"), "_bashrc");
	assert_string_equal(sane_s("...x.y"), "___x.y");
	/* Dots after the first other character stay. */
	assert_string_equal(sane_s("a..b"), "a..b");
}

static void
test_sanitize_nul_and_controls(void **state)
{
	assert_string_equal(sane("a\0b.txt", 7), "a_b.txt");
	assert_string_equal(sane_s("x\ny\r\t\x7f"), "x_y___");
	/* A C1 control (U+0085), encoded. */
	assert_string_equal(sane_s("a\xc2\x85" "b"), "a_b");
}

static void
test_sanitize_bad_utf8(void **state)
{
	const char	*s = sane_s("caf\xe9\xff.txt");

	assert_string_equal(s, "caf__.txt");
	assert_true(utf8_valid(s, strlen(s)));
}

static void
test_sanitize_multibyte(void **state)
{
	/* Kept as they are: é, 日本, an emoji. */
	assert_string_equal(sane_s("r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"
	    " \xf0\x9f\x98\x80.txt"), "r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5"
	    "\xe6\x9c\xac \xf0\x9f\x98\x80.txt");
}

static void
test_sanitize_long(void **state)
{
	char		 name[4000];
	const char	*s;
	size_t		 i, n;

	/* 1000 three-byte characters, then the extension. */
	for (i = 0, n = 0; i < 1000; i++) {
		memcpy(name + n, "\xe6\x97\xa5", 3);
		n += 3;
	}
	memcpy(name + n, ".tar.gz", 8);
	s = sane_s(name);
	assert_true(strlen(s) <= FPATH_NAME_MAX);
	assert_true(utf8_valid(s, strlen(s)));
	assert_string_equal(s + strlen(s) - 3, ".gz");
	/* Cut on a character boundary: the stem is whole characters. */
	assert_int_equal((strlen(s) - 3) % 3, 0);

	/* Long ASCII without an extension is cut at the bound. */
	memset(name, 'a', 3000);
	s = sane(name, 3000);
	assert_int_equal(strlen(s), FPATH_NAME_MAX);
}

static void
test_temp_dir(void **state)
{
	char	path[PATH_MAX], err[256], out[FPATH_NAME_MAX + 1], p[PATH_MAX];
	int	dfd, fd, fd2;

	dfd = fpath_temp_dir(tmp, "C0/../x", path, sizeof(path), err,
	    sizeof(err));
	assert_true(dfd >= 0);
	snprintf(p, sizeof(p), "%s/.temp/C0_.._x", tmp);
	assert_string_equal(path, p);
	fd = fpath_create(dfd, "../../notes.txt", 15, out, sizeof(out), err,
	    sizeof(err));
	assert_true(fd >= 0);
	assert_string_equal(out, "___.._notes.txt");
	fd2 = fpath_create(dfd, "../../notes.txt", 15, out, sizeof(out), err,
	    sizeof(err));
	assert_true(fd2 >= 0);
	assert_string_equal(out, "___.._notes-2.txt");
	close(fd);
	close(fd2);
	close(dfd);
}

static void
test_temp_dir_symlink(void **state)
{
	char	ws[128], link[PATH_MAX], path[PATH_MAX], err[256];

	snprintf(ws, sizeof(ws), "%s/ws2", tmp);
	assert_int_equal(mkdir(ws, 0700), 0);
	snprintf(link, sizeof(link), "%s/.temp", ws);
	/* .temp planted as a symlink to elsewhere: refused. */
	assert_int_equal(symlink("/tmp", link), 0);
	assert_int_equal(fpath_temp_dir(ws, "C1", path, sizeof(path), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Open path as the agent would from tmp/ws with roots; the why. */
static enum fpath_why
open_as_agent(const char *path, const char *const *roots, off_t *size)
{
	char		 ws[PATH_MAX], real[PATH_MAX], err[256];
	enum fpath_why	 why;
	off_t		 sz = -1;
	int		 fd;

	snprintf(ws, sizeof(ws), "%s/ws", tmp);
	fd = fpath_open_confined(ws, roots, path, real, sizeof(real), &sz,
	    &why, err, sizeof(err));
	if (fd != -1) {
		close(fd);
		assert_int_equal(why, FPATH_OK);
	}
	if (size != NULL)
		*size = sz;
	return (why);
}

static void
test_confine(void **state)
{
	char		 p[PATH_MAX], q[PATH_MAX], shared[PATH_MAX];
	const char	*roots[] = { shared, NULL };
	off_t		 size;

	snprintf(p, sizeof(p), "%s/ws", tmp);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/ws/sub", tmp);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/ws/sub/a.txt", tmp);
	write_file(p, "hello");
	snprintf(shared, sizeof(shared), "%s/shared", tmp);
	assert_int_equal(mkdir(shared, 0700), 0);
	snprintf(p, sizeof(p), "%s/shared/s.txt", tmp);
	write_file(p, "s");
	snprintf(p, sizeof(p), "%s/secret.txt", tmp);
	write_file(p, "secret");

	/* Relative, absolute, with a ".." that stays inside. */
	assert_int_equal(open_as_agent("sub/a.txt", NULL, &size), FPATH_OK);
	assert_int_equal(size, 5);
	snprintf(p, sizeof(p), "%s/ws/sub/a.txt", tmp);
	assert_int_equal(open_as_agent(p, NULL, NULL), FPATH_OK);
	assert_int_equal(open_as_agent("sub/../sub/a.txt", NULL, NULL),
	    FPATH_OK);
	/* Out through "..": refused; missing: not found. */
	assert_int_equal(open_as_agent("../secret.txt", NULL, NULL),
	    FPATH_OUTSIDE);
	/* Outside as written, existing or not: outside. */
	assert_int_equal(open_as_agent("../../etc/passwd", NULL, NULL),
	    FPATH_OUTSIDE);
	assert_int_equal(open_as_agent("../../../../../../../../etc/passwd",
	    NULL, NULL), FPATH_OUTSIDE);
	assert_int_equal(open_as_agent("/etc/passwd", NULL, NULL),
	    FPATH_OUTSIDE);
	assert_int_equal(open_as_agent("nope.txt", NULL, NULL), FPATH_NOENT);
	assert_int_equal(open_as_agent("", NULL, NULL), FPATH_NOENT);
	/* An allowed path outside the working directory. */
	snprintf(p, sizeof(p), "%s/shared/s.txt", tmp);
	assert_int_equal(open_as_agent(p, roots, NULL), FPATH_OK);
	assert_int_equal(open_as_agent(p, NULL, NULL), FPATH_OUTSIDE);
	/* A sibling sharing the prefix is not inside ("/ws" vs "/ws-x"). */
	snprintf(q, sizeof(q), "%s/ws-x", tmp);
	assert_int_equal(mkdir(q, 0700), 0);
	snprintf(p, sizeof(p), "%s/ws-x/f", tmp);
	write_file(p, "x");
	assert_int_equal(open_as_agent("../ws-x/f", NULL, NULL),
	    FPATH_OUTSIDE);
}

static void
test_confine_symlinks(void **state)
{
	char	p[PATH_MAX], t[PATH_MAX];

	snprintf(p, sizeof(p), "%s/ws/out", tmp);
	snprintf(t, sizeof(t), "%s/secret.txt", tmp);
	assert_int_equal(symlink(t, p), 0);
	assert_int_equal(open_as_agent("out", NULL, NULL), FPATH_OUTSIDE);
	/* A symlinked directory out, then a file through it. */
	snprintf(p, sizeof(p), "%s/ws/etc", tmp);
	assert_int_equal(symlink("/etc", p), 0);
	assert_int_equal(open_as_agent("etc/passwd", NULL, NULL),
	    FPATH_OUTSIDE);
	/* A symlink that stays inside is fine. */
	snprintf(p, sizeof(p), "%s/ws/in", tmp);
	assert_int_equal(symlink("sub/a.txt", p), 0);
	assert_int_equal(open_as_agent("in", NULL, NULL), FPATH_OK);
	/* A dangling one is not found. */
	snprintf(p, sizeof(p), "%s/ws/dangling", tmp);
	assert_int_equal(symlink("nowhere", p), 0);
	assert_int_equal(open_as_agent("dangling", NULL, NULL), FPATH_NOENT);
}

static void
test_confine_not_regular(void **state)
{
	char		 p[PATH_MAX];
	const char	*all[] = { "/", NULL };

	assert_int_equal(open_as_agent("sub", NULL, NULL), FPATH_NOTREG);
	assert_int_equal(open_as_agent(".", NULL, NULL), FPATH_NOTREG);
	snprintf(p, sizeof(p), "%s/ws/fifo", tmp);
	assert_int_equal(mkfifo(p, 0600), 0);
	/* A FIFO is refused without opening it (which would block). */
	assert_int_equal(open_as_agent("fifo", NULL, NULL), FPATH_NOTREG);
	/* A device, even where everything is allowed. */
	assert_int_equal(open_as_agent("/dev/null", all, NULL), FPATH_NOTREG);
	assert_int_equal(open_as_agent("/dev/null", NULL, NULL),
	    FPATH_OUTSIDE);
}

static void
test_inside(void **state)
{
	assert_true(fpath_inside("/a/b", "/a"));
	assert_true(fpath_inside("/a", "/a"));
	assert_true(fpath_inside("/a/b", "/a/"));
	assert_false(fpath_inside("/ab", "/a"));
	assert_true(fpath_inside("/anything", "/"));
}

static void
set_age(const char *path, time_t ago)
{
	struct timeval	tv[2];

	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= ago;
	tv[1] = tv[0];
	assert_int_equal(lutimes(path, tv), 0);
}

static void
test_sweep(void **state)
{
	char			 root[128], p[PATH_MAX];
	const char		*roots[] = { root, "/nonexistent/.temp" };
	struct fpath_sweep	*s;
	unsigned int		 removed = 0, steps = 0;
	int			 i;

	snprintf(root, sizeof(root), "%s/sw/.temp", tmp);
	snprintf(p, sizeof(p), "%s/sw", tmp);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(mkdir(root, 0700), 0);
	snprintf(p, sizeof(p), "%s/C1", root);
	assert_int_equal(mkdir(p, 0700), 0);
	for (i = 0; i < 20; i++) {
		snprintf(p, sizeof(p), "%s/C1/old%d", root, i);
		write_file(p, "x");
		set_age(p, 3 * 3600);
	}
	snprintf(p, sizeof(p), "%s/C1/new", root);
	write_file(p, "x");
	/* A symlink to a file elsewhere: the link goes, the file stays. */
	snprintf(p, sizeof(p), "%s/C1/link", root);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	set_age(p, 3 * 3600);
	/* A directory deeper down is left alone. */
	snprintf(p, sizeof(p), "%s/C1/deeper", root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/C1/deeper/old", root);
	write_file(p, "x");
	set_age(p, 3 * 3600);

	s = fpath_sweep_new(roots, 2, 3600 * 1000);
	assert_non_null(s);
	/* 5 entries a step: many steps, each bounded. */
	while (fpath_sweep_step(s, 5, &removed) && steps < 1000)
		steps++;
	fpath_sweep_free(s);
	assert_true(steps >= 5);
	assert_int_equal(removed, 21);
	snprintf(p, sizeof(p), "%s/C1/new", root);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/C1/deeper/old", root);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(access("/etc/passwd", F_OK), 0);
	snprintf(p, sizeof(p), "%s/C1/old0", root);
	assert_int_equal(access(p, F_OK), -1);
}

static int
setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test_fpath.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return (-1);
	return (0);
}

static int
teardown(void **state)
{
	char	cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return (system(cmd) == 0 ? 0 : -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize_plain),
		cmocka_unit_test(test_sanitize_separators),
		cmocka_unit_test(test_sanitize_leading_dots),
		cmocka_unit_test(test_sanitize_nul_and_controls),
		cmocka_unit_test(test_sanitize_bad_utf8),
		cmocka_unit_test(test_sanitize_multibyte),
		cmocka_unit_test(test_sanitize_long),
		cmocka_unit_test(test_temp_dir),
		cmocka_unit_test(test_temp_dir_symlink),
		cmocka_unit_test(test_confine),
		cmocka_unit_test(test_confine_symlinks),
		cmocka_unit_test(test_confine_not_regular),
		cmocka_unit_test(test_inside),
		cmocka_unit_test(test_sweep),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
