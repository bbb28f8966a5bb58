/*
 * pollwatch: what a poll reports (size, mtime to the nanosecond, an inode
 * replaced by a rename, a file deleted and created again, a directory's
 * entries) and that nothing is reported without a change.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/pollwatch.h"

#define SEEN_MAX	16

static struct {
	struct event_base	*base;
	char			 dir[64];
	char			 file[128];
	char			*seen[SEEN_MAX];	/* "" for the path itself */
	int			 nseen;
} t;

static void
seen_cb(const char *name, void *arg)
{
	if (t.nseen < SEEN_MAX)
		t.seen[t.nseen] = strdup(name != NULL ? name : "");
	t.nseen++;
}

static void
seen_clear(void)
{
	int	i;

	for (i = 0; i < t.nseen && i < SEEN_MAX; i++)
		free(t.seen[i]);
	t.nseen = 0;
}

static void
put(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	memset(&t, 0, sizeof(t));
	snprintf(t.dir, sizeof(t.dir), "/tmp/pollwatch.XXXXXX");
	if (mkdtemp(t.dir) == NULL || (t.base = event_base_new()) == NULL)
		return (-1);
	snprintf(t.file, sizeof(t.file), "%s/config.json", t.dir);
	put(t.file, "{}\n");
	return (0);
}

static int
teardown(void **state)
{
	char	cmd[128];

	seen_clear();
	event_base_free(t.base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t.dir);
	return (system(cmd) == 0 ? 0 : -1);
}

static void
test_changed_fields(void **state)
{
	struct stat	a, b;

	memset(&a, 0, sizeof(a));
	a.st_mode = S_IFREG | 0644;
	a.st_dev = 1;
	a.st_ino = 2;
	a.st_size = 3;
	b = a;
	assert_false(pollwatch_changed(&a, &b));
	b.st_size = 4;
	assert_true(pollwatch_changed(&a, &b));
	b = a;
	b.st_mtim.tv_nsec = 1;
	assert_true(pollwatch_changed(&a, &b));
	b = a;
	b.st_ctim.tv_nsec = 1;
	assert_true(pollwatch_changed(&a, &b));
	b = a;
	b.st_ino = 9;
	assert_true(pollwatch_changed(&a, &b));
	b = a;
	b.st_dev = 9;
	assert_true(pollwatch_changed(&a, &b));
	b = a;
	b.st_mode = S_IFLNK | 0644;
	assert_true(pollwatch_changed(&a, &b));
	/* A directory: only its identity counts, as for inotify. */
	a.st_mode = b.st_mode = S_IFDIR | 0755;
	b.st_size = 4096;
	b.st_mtim.tv_sec = 5;
	assert_false(pollwatch_changed(&a, &b));
}

static struct pollwatch *
watch(const char *path)
{
	struct pollwatch	*pw;

	pw = pollwatch_new(t.base, path, POLLWATCH_INTERVAL_MS, seen_cb, NULL);
	assert_non_null(pw);
	return (pw);
}

static void
test_no_change(void **state)
{
	struct pollwatch	*pw = watch(t.file);
	struct pollwatch	*pd = watch(t.dir);

	assert_int_equal(pollwatch_check(pw), 0);
	assert_int_equal(pollwatch_check(pd), 0);
	assert_int_equal(pollwatch_check(pw), 0);
	/* Reading is no change. */
	assert_int_equal(access(t.file, R_OK), 0);
	assert_int_equal(pollwatch_check(pw), 0);
	assert_int_equal(t.nseen, 0);
	pollwatch_free(pw);
	pollwatch_free(pd);
}

static void
test_size(void **state)
{
	struct pollwatch	*pw = watch(t.file);

	put(t.file, "{ }\n");
	assert_int_equal(pollwatch_check(pw), 1);
	assert_string_equal(t.seen[0], "");
	assert_int_equal(pollwatch_check(pw), 0);
	pollwatch_free(pw);
}

/* Same size, the mtime moved by one nanosecond. */
static void
test_mtime_ns(void **state)
{
	struct pollwatch	*pw;
	struct timespec		 ts[2];
	struct stat		 st;

	ts[0].tv_sec = ts[1].tv_sec = 1700000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 100;
	assert_int_equal(utimensat(AT_FDCWD, t.file, ts, 0), 0);
	pw = watch(t.file);
	ts[1].tv_nsec = 101;
	assert_int_equal(utimensat(AT_FDCWD, t.file, ts, 0), 0);
	assert_int_equal(stat(t.file, &st), 0);
	assert_int_equal(st.st_mtim.tv_nsec, 101);
	assert_int_equal(pollwatch_check(pw), 1);
	assert_int_equal(pollwatch_check(pw), 0);
	pollwatch_free(pw);
}

/* An editor's save: a new file, same size and mtime, renamed over. */
static void
test_rename_over(void **state)
{
	struct pollwatch	*pw = watch(t.file);
	struct timespec		 ts[2];
	struct stat		 st;
	char			 tmp[160];

	assert_int_equal(stat(t.file, &st), 0);
	snprintf(tmp, sizeof(tmp), "%s/.config.json.tmp", t.dir);
	put(tmp, "{}\n");
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, tmp, ts, 0), 0);
	assert_int_equal(rename(tmp, t.file), 0);
	assert_int_equal(pollwatch_check(pw), 1);
	assert_string_equal(t.seen[0], "");
	assert_int_equal(pollwatch_check(pw), 0);
	pollwatch_free(pw);
}

static void
test_delete_recreate(void **state)
{
	struct pollwatch	*pw = watch(t.file);

	assert_int_equal(unlink(t.file), 0);
	assert_int_equal(pollwatch_check(pw), 1);
	assert_int_equal(pollwatch_check(pw), 0);
	put(t.file, "{}\n");
	assert_int_equal(pollwatch_check(pw), 1);
	assert_int_equal(pollwatch_check(pw), 0);
	assert_int_equal(t.nseen, 2);
	pollwatch_free(pw);
}

/* A directory reports its entries by name; a subdirectory's insides not. */
static void
test_dir_entries(void **state)
{
	struct pollwatch	*pw = watch(t.dir);
	char			 a[160], b[160], sub[160], in[200];

	snprintf(a, sizeof(a), "%s/hooks.json", t.dir);
	snprintf(b, sizeof(b), "%s/other.json", t.dir);
	snprintf(sub, sizeof(sub), "%s/skills", t.dir);
	snprintf(in, sizeof(in), "%s/skills/SKILL.md", t.dir);
	put(a, "{}");
	assert_int_equal(pollwatch_check(pw), 1);
	assert_string_equal(t.seen[0], "hooks.json");
	put(a, "{\"version\":1}");
	assert_int_equal(pollwatch_check(pw), 1);
	assert_string_equal(t.seen[1], "hooks.json");
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(pollwatch_check(pw), 1);
	assert_string_equal(t.seen[2], "skills");
	put(in, "x");
	assert_int_equal(pollwatch_check(pw), 0);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(pollwatch_check(pw), 2);
	assert_string_equal(t.seen[3], "hooks.json");
	assert_string_equal(t.seen[4], "other.json");
	assert_int_equal(unlink(b), 0);
	assert_int_equal(pollwatch_check(pw), 1);
	assert_string_equal(t.seen[5], "other.json");
	assert_int_equal(pollwatch_check(pw), 0);
	pollwatch_free(pw);
}

/* The timer polls by itself; the loop is bounded. */
static void
test_timer(void **state)
{
	struct pollwatch	*pw;
	time_t			 deadline = time(NULL) + 10;

	pw = pollwatch_new(t.base, t.file, POLLWATCH_INTERVAL_MIN, seen_cb,
	    NULL);
	assert_non_null(pw);
	put(t.file, "{\"changed\":true}\n");
	while (t.nseen == 0 && time(NULL) < deadline)
		assert_int_not_equal(event_base_loop(t.base, EVLOOP_ONCE), -1);
	assert_int_equal(t.nseen, 1);
	pollwatch_free(pw);
}

static void
test_mode(void **state)
{
	enum pollwatch_mode	m;
	char			why[64];

	assert_int_equal(pollwatch_mode_parse("auto", &m), 0);
	assert_int_equal(m, POLLWATCH_AUTO);
	assert_int_equal(pollwatch_mode_parse("inotify", &m), 0);
	assert_int_equal(m, POLLWATCH_INOTIFY);
	assert_int_equal(pollwatch_mode_parse("poll", &m), 0);
	assert_int_equal(m, POLLWATCH_POLL);
	assert_int_equal(pollwatch_mode_parse("Poll", &m), -1);
	assert_int_equal(pollwatch_mode_parse(NULL, &m), -1);
	assert_string_equal(pollwatch_mode_name(POLLWATCH_POLL), "poll");
	assert_int_equal(pollwatch_wanted(POLLWATCH_POLL, t.dir, why,
	    sizeof(why)), 1);
	assert_string_equal(why, "watch is \"poll\"");
	assert_int_equal(pollwatch_wanted(POLLWATCH_INOTIFY, t.dir, why,
	    sizeof(why)), 0);
	/* procfs and tmpfs are local: auto leaves them to inotify. */
	assert_int_equal(pollwatch_wanted(POLLWATCH_AUTO, "/proc", why,
	    sizeof(why)), 0);
	if (access("/dev/shm", F_OK) == 0)
		assert_int_equal(pollwatch_wanted(POLLWATCH_AUTO, "/dev/shm",
		    why, sizeof(why)), 0);
}

static void
test_missing_at_start(void **state)
{
	struct pollwatch	*pw;
	char			 p[160];

	snprintf(p, sizeof(p), "%s/later.json", t.dir);
	pw = watch(p);
	assert_int_equal(pollwatch_check(pw), 0);
	put(p, "{}");
	assert_int_equal(pollwatch_check(pw), 1);
	pollwatch_free(pw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changed_fields),
		cmocka_unit_test_setup_teardown(test_no_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mtime_ns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_over, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete_recreate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dir_entries, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_at_start, setup,
		    teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
