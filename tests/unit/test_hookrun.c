/*
 * hookrun: real bash hooks under a real event loop.  Every wait is bounded;
 * each test also checks that done never came from inside hookrun_start and
 * that no descriptor is left behind.  HOOKRUN_TEST_DEBUG=1 shows the log.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "common/log.h"
#include "common/util.h"
#include "sessiond/hooks.h"

#define WAIT_MS		10000

static struct event_base	*base;
static int			 in_start;	/* inside hookrun_start */

struct rec {
	int	 called;
	int	 sync;		/* called from inside hookrun_start */
	json_t	*out;
	uint64_t at;		/* util_now_ms() of the call */
};

/* Per test: a scratch directory and the descriptors open at the start. */
struct fixture {
	char	dir[64];
	int	nfds;
};

static void
tick_cb(int fd, short ev, void *arg)
{
}

/* One pass of the loop, waking up at least every 20 ms. */
static void
loop_once(void)
{
	static struct event	*t;
	struct timeval		 tv = { 0, 20 * 1000 };

	if (t == NULL)
		t = evtimer_new(base, tick_cb, NULL);
	assert_non_null(t);
	evtimer_add(t, &tv);
	event_base_loop(base, EVLOOP_ONCE);
}

/* Run the loop until cond holds or ms pass; the value of cond. */
#define RUN_UNTIL(cond, ms) __extension__ ({				\
	uint64_t _dl = util_now_ms() + (uint64_t)(ms);			\
	int _ok;							\
	while (!(_ok = (cond)) && util_now_ms() < _dl)			\
		loop_once();						\
	_ok;								\
})

static void
run_for(int ms)
{
	uint64_t	deadline = util_now_ms() + (uint64_t)ms;

	(void)RUN_UNTIL(util_now_ms() >= deadline, ms + 100);
}

static int
fd_count(void)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	(void)closedir(d);
	return (n);
}

static int
setup(void **state)
{
	struct fixture	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (-1);
	snprintf(f->dir, sizeof(f->dir), "/tmp/hookrun.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return (-1);
	}
	f->nfds = fd_count();
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return (0);
}

/* Orphans are reaped through the loop, so their pidfds may take a moment. */
static void
assert_no_fd_leak(struct fixture *f)
{
	int	ok = RUN_UNTIL(fd_count() == f->nfds, 3000);

	if (!ok)
		fprintf(stderr, "fds: %d, expected %d\n", fd_count(), f->nfds);
	assert_true(ok);
}

static void
done_cb(void *arg, json_t *out)
{
	struct rec	*r = arg;

	r->called++;
	r->sync |= in_start;
	r->at = util_now_ms();
	json_decref(r->out);
	r->out = out;
}

static struct hookset *
hs_make(enum hook_type t, size_t n)
{
	struct hookset	*hs = hooks_new();

	assert_non_null(hs);
	hs->cmds[t] = calloc(n, sizeof(struct hook_cmd));
	assert_non_null(hs->cmds[t]);
	hs->ncmds[t] = n;
	return (hs);
}

/* Command i of type t; env is NULL or NULL-terminated "K=V". */
static struct hook_cmd *
cmd_set(struct hookset *hs, enum hook_type t, size_t i, const char *script,
    const char *cwd, unsigned int tmo, const char *const *env)
{
	struct hook_cmd	*c = &hs->cmds[t][i];
	size_t		 n = 0, j;

	assert_true(i < hs->ncmds[t]);
	assert_non_null(c->script = strdup(script));
	if (cwd != NULL)
		assert_non_null(c->cwd = strdup(cwd));
	assert_non_null(c->file = strdup("/test/hooks.json"));
	c->timeout_sec = tmo;
	if (env != NULL) {
		while (env[n] != NULL)
			n++;
		assert_non_null(c->env = calloc(n + 1, sizeof(char *)));
		for (j = 0; j < n; j++)
			assert_non_null(c->env[j] = strdup(env[j]));
	}
	return (c);
}

/*
 * Start a run and drop our reference to hs at once: the run must hold its
 * own.  done must not have been called yet.
 */
static struct hookrun *
start(struct hookset *hs, enum hook_type t, const char *input, struct rec *rec)
{
	struct hookrun	*r;
	json_t		*in = NULL;

	if (input != NULL)
		assert_non_null(in = json_loads(input, 0, NULL));
	in_start = 1;
	r = hookrun_start(hs, t, in, done_cb, rec);
	in_start = 0;
	json_decref(in);
	hooks_unref(hs);
	assert_non_null(r);
	assert_int_equal(rec->called, 0);
	return (r);
}

/* Run to completion; assert done came once, from the loop. */
static void
finish(struct rec *rec)
{
	assert_true(RUN_UNTIL(rec->called > 0, WAIT_MS));
	run_for(50);
	assert_int_equal(rec->called, 1);
	assert_int_equal(rec->sync, 0);
}

static void
assert_json(json_t *got, const char *want)
{
	json_t	*w;
	char	*s;

	assert_non_null(w = json_loads(want, 0, NULL));
	assert_non_null(got);
	if (!json_equal(got, w)) {
		s = json_dumps(got, JSON_SORT_KEYS);
		fprintf(stderr, "got %s\nwant %s\n", s, want);
		free(s);
	}
	assert_true(json_equal(got, w));
	json_decref(w);
}

static int
file_exists(const char *dir, const char *name)
{
	char	path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return (access(path, F_OK) == 0);
}

/* The pid a script wrote to dir/name, or -1 until it has. */
static pid_t
read_pid(const char *dir, const char *name)
{
	char	 path[PATH_MAX];
	FILE	*fp;
	long	 pid = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	if (fscanf(fp, "%ld", &pid) != 1)
		pid = -1;
	(void)fclose(fp);
	return ((pid_t)pid);
}

/*
 * Gone, or a zombie: a killed grandchild is reparented to PID 1, which in
 * a container may never reap it.
 */
static int
pid_dead(pid_t pid)
{
	char	 path[64], buf[512], *p;
	FILE	*fp;
	size_t	 n;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return (1);
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return (1);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	(void)fclose(fp);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return (0);
	return (p[2] == 'Z' || p[2] == 'X');
}

/* -- tests --------------------------------------------------------------- */

static void
test_stdin_reaches_script(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_PRE_TOOL_USE, 1);

	cmd_set(hs, HOOK_PRE_TOOL_USE, 0,
	    "read -r l; printf '{\"got\":%s}' \"$l\"", NULL, 5, NULL);
	(void)start(hs, HOOK_PRE_TOOL_USE,
	    "{\"toolName\":\"bash\",\"toolArgs\":{\"cmd\":\"ls\"}}", &rec);
	finish(&rec);
	assert_json(rec.out,
	    "{\"got\":{\"toolName\":\"bash\",\"toolArgs\":{\"cmd\":\"ls\"}}}");
	json_decref(rec.out);
	assert_no_fd_leak(f);
}

static void
test_merge_later_wins(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_POST_TOOL_USE, 3);

	cmd_set(hs, HOOK_POST_TOOL_USE, 0,
	    "printf '{\"a\":1,\"b\":1}'", NULL, 5, NULL);
	cmd_set(hs, HOOK_POST_TOOL_USE, 1, "printf '  \\n'", NULL, 5, NULL);
	cmd_set(hs, HOOK_POST_TOOL_USE, 2,
	    "printf '{\"b\":2,\"c\":{\"d\":3}}\\n'", NULL, 5, NULL);
	(void)start(hs, HOOK_POST_TOOL_USE, "{}", &rec);
	finish(&rec);
	assert_json(rec.out, "{\"a\":1,\"b\":2,\"c\":{\"d\":3}}");
	json_decref(rec.out);
	assert_no_fd_leak(f);
}

/* A decision that ends a preToolUse run: the third command never runs. */
static void
short_circuit(struct fixture *f, const char *decision)
{
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_PRE_TOOL_USE, 3);
	char		 script[256], want[256], touch[PATH_MAX + 64];

	cmd_set(hs, HOOK_PRE_TOOL_USE, 0,
	    "printf '{\"x\":1,\"permissionDecision\":\"allow\"}'", NULL, 5,
	    NULL);
	snprintf(script, sizeof(script), "printf '{\"permissionDecision\":"
	    "\"%s\",\"permissionDecisionReason\":\"r\"}'", decision);
	cmd_set(hs, HOOK_PRE_TOOL_USE, 1, script, NULL, 5, NULL);
	snprintf(touch, sizeof(touch), "touch '%s/ran'; printf '{\"y\":1}'",
	    f->dir);
	cmd_set(hs, HOOK_PRE_TOOL_USE, 2, touch, NULL, 5, NULL);
	(void)start(hs, HOOK_PRE_TOOL_USE, "{}", &rec);
	finish(&rec);
	snprintf(want, sizeof(want), "{\"x\":1,\"permissionDecision\":\"%s\","
	    "\"permissionDecisionReason\":\"r\"}", decision);
	assert_json(rec.out, want);
	json_decref(rec.out);
	run_for(300);
	assert_false(file_exists(f->dir, "ran"));
	assert_no_fd_leak(f);
}

static void
test_pretool_deny_short_circuits(void **state)
{
	short_circuit(*state, "deny");
}

static void
test_pretool_ask_short_circuits(void **state)
{
	short_circuit(*state, "ask");
}

/* Only preToolUse stops early. */
static void
test_deny_other_type_goes_on(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_POST_TOOL_USE, 2);

	cmd_set(hs, HOOK_POST_TOOL_USE, 0,
	    "printf '{\"permissionDecision\":\"deny\"}'", NULL, 5, NULL);
	cmd_set(hs, HOOK_POST_TOOL_USE, 1, "printf '{\"y\":2}'", NULL, 5, NULL);
	(void)start(hs, HOOK_POST_TOOL_USE, "{}", &rec);
	finish(&rec);
	assert_json(rec.out, "{\"permissionDecision\":\"deny\",\"y\":2}");
	json_decref(rec.out);
	assert_no_fd_leak(f);
}

static void
test_timeout_kills_group(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_SESSION_START, 2);
	char		 script[PATH_MAX + 128];
	uint64_t	 t0;
	pid_t		 sh, gc;

	snprintf(script, sizeof(script), "echo $$ > '%s/sh'; "
	    "sleep 30 & echo $! > '%s/gc'; printf '{\"late\":1}'; wait",
	    f->dir, f->dir);
	cmd_set(hs, HOOK_SESSION_START, 0, script, NULL, 1, NULL);
	cmd_set(hs, HOOK_SESSION_START, 1, "printf '{\"after\":1}'", NULL, 5,
	    NULL);
	t0 = util_now_ms();
	(void)start(hs, HOOK_SESSION_START, "{}", &rec);
	finish(&rec);
	assert_true(rec.at - t0 >= 900);
	assert_true(rec.at - t0 < 3000);
	assert_json(rec.out, "{\"after\":1}");	/* not "late" */
	json_decref(rec.out);
	assert_true((sh = read_pid(f->dir, "sh")) > 0);
	assert_true((gc = read_pid(f->dir, "gc")) > 0);
	assert_true(RUN_UNTIL(pid_dead(sh) && pid_dead(gc), 3000));
	assert_no_fd_leak(f);
}

static void
test_nonzero_exit_ignored(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_USER_PROMPT_SUBMITTED, 2);

	cmd_set(hs, HOOK_USER_PROMPT_SUBMITTED, 0,
	    "printf '{\"a\":1}'; echo 'it broke' >&2; exit 3", NULL, 5, NULL);
	cmd_set(hs, HOOK_USER_PROMPT_SUBMITTED, 1, "printf '{\"b\":2}'", NULL,
	    5, NULL);
	(void)start(hs, HOOK_USER_PROMPT_SUBMITTED, "{}", &rec);
	finish(&rec);
	assert_json(rec.out, "{\"b\":2}");
	json_decref(rec.out);
	assert_no_fd_leak(f);
}

static void
test_garbage_ignored(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_SESSION_END, 4);

	cmd_set(hs, HOOK_SESSION_END, 0, "echo not json", NULL, 5, NULL);
	cmd_set(hs, HOOK_SESSION_END, 1, "echo '[1,2]'", NULL, 5, NULL);
	cmd_set(hs, HOOK_SESSION_END, 2, "echo '\"s\"'", NULL, 5, NULL);
	cmd_set(hs, HOOK_SESSION_END, 3, "printf ' \\n\\t '", NULL, 5, NULL);
	(void)start(hs, HOOK_SESSION_END, "{}", &rec);
	finish(&rec);
	assert_null(rec.out);
	assert_no_fd_leak(f);
}

static void
test_cwd(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_PRE_TOOL_USE, 2);
	char		 real[PATH_MAX], want[PATH_MAX + 32], bad[PATH_MAX];

	assert_non_null(realpath(f->dir, real));
	snprintf(bad, sizeof(bad), "%s/missing", f->dir);
	/* A cwd that does not exist fails that command only. */
	cmd_set(hs, HOOK_PRE_TOOL_USE, 0, "printf '{\"bad\":1}'", bad, 5, NULL);
	cmd_set(hs, HOOK_PRE_TOOL_USE, 1,
	    "printf '{\"pwd\":\"%s\"}' \"$(pwd -P)\"", f->dir, 5, NULL);
	(void)start(hs, HOOK_PRE_TOOL_USE, "{}", &rec);
	finish(&rec);
	snprintf(want, sizeof(want), "{\"pwd\":\"%s\"}", real);
	assert_json(rec.out, want);
	json_decref(rec.out);
	assert_no_fd_leak(f);
}

static json_t *
env_run(void)
{
	static const char *const env[] = { "HR_TEST_ADD=v1",
	    "HR_TEST_PLAIN=over", NULL };
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_SESSION_START, 1);

	cmd_set(hs, HOOK_SESSION_START, 0, "printf '{\"secret\":\"%s\","
	    "\"gh\":\"%s\",\"sdk\":\"%s\",\"notify\":\"%s\",\"add\":\"%s\","
	    "\"plain\":\"%s\",\"keep\":\"%s\"}' \"${HR_TEST_SECRET-unset}\" "
	    "\"${GH_TOKEN-unset}\" \"${COPILOT_SDK_AUTH_TOKEN-unset}\" "
	    "\"${NOTIFY_SOCKET-unset}\" \"${HR_TEST_ADD-unset}\" "
	    "\"${HR_TEST_PLAIN-unset}\" \"${HR_TEST_KEEP-unset}\"", NULL, 5,
	    env);
	(void)start(hs, HOOK_SESSION_START, "{}", &rec);
	finish(&rec);
	return (rec.out);
}

static void
test_env(void **state)
{
	struct fixture		*f = *state;
	static const char *const secrets[] = { "HR_TEST_OTHER",
	    "HR_TEST_SECRET" };
	static const char *const other[] = { "HR_TEST_OTHER" };
	json_t			*out;

	assert_int_equal(setenv("HR_TEST_SECRET", "s3cret", 1), 0);
	assert_int_equal(setenv("GH_TOKEN", "ghtok", 1), 0);
	assert_int_equal(setenv("COPILOT_SDK_AUTH_TOKEN", "sdk", 1), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", "/run/x", 1), 0);
	assert_int_equal(setenv("HR_TEST_PLAIN", "mine", 1), 0);
	assert_int_equal(setenv("HR_TEST_KEEP", "kept", 1), 0);
	assert_int_equal(hookrun_set_secrets(secrets, nitems(secrets)), 0);
	out = env_run();
	assert_json(out, "{\"secret\":\"unset\",\"gh\":\"unset\","
	    "\"sdk\":\"unset\",\"notify\":\"unset\",\"add\":\"v1\","
	    "\"plain\":\"over\",\"keep\":\"kept\"}");
	json_decref(out);

	/* The list is replaced, not added to. */
	assert_int_equal(hookrun_set_secrets(other, nitems(other)), 0);
	out = env_run();
	assert_string_equal(json_string_value(json_object_get(out, "secret")),
	    "s3cret");
	assert_string_equal(json_string_value(json_object_get(out, "gh")),
	    "unset");
	json_decref(out);
	assert_int_equal(hookrun_set_secrets(NULL, 0), 0);
	(void)unsetenv("HR_TEST_SECRET");
	(void)unsetenv("GH_TOKEN");
	(void)unsetenv("COPILOT_SDK_AUTH_TOKEN");
	(void)unsetenv("NOTIFY_SOCKET");
	(void)unsetenv("HR_TEST_PLAIN");
	(void)unsetenv("HR_TEST_KEEP");
	assert_no_fd_leak(f);
}

/* Start a hook that sleeps; wait until it and its grandchild are up. */
static struct hookrun *
start_sleeper(struct fixture *f, struct rec *rec, pid_t *sh, pid_t *gc)
{
	struct hookset	*hs = hs_make(HOOK_PRE_TOOL_USE, 2);
	struct hookrun	*r;
	char		 script[PATH_MAX + 128], touch[PATH_MAX + 64];

	snprintf(script, sizeof(script), "sleep 30 & echo $! > '%s/gc.tmp'; "
	    "mv '%s/gc.tmp' '%s/gc'; echo $$ > '%s/sh.tmp'; "
	    "mv '%s/sh.tmp' '%s/sh'; wait", f->dir, f->dir, f->dir, f->dir,
	    f->dir, f->dir);
	cmd_set(hs, HOOK_PRE_TOOL_USE, 0, script, NULL, 20, NULL);
	snprintf(touch, sizeof(touch), "touch '%s/ran'", f->dir);
	cmd_set(hs, HOOK_PRE_TOOL_USE, 1, touch, NULL, 5, NULL);
	r = start(hs, HOOK_PRE_TOOL_USE, "{}", rec);
	assert_true(RUN_UNTIL(read_pid(f->dir, "sh") > 0, WAIT_MS));
	*sh = read_pid(f->dir, "sh");
	*gc = read_pid(f->dir, "gc");
	assert_true(*sh > 0 && *gc > 0);
	assert_false(pid_dead(*sh));
	assert_false(pid_dead(*gc));
	return (r);
}

static void
test_cancel(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookrun	*r;
	pid_t		 sh, gc;

	r = start_sleeper(f, &rec, &sh, &gc);
	hookrun_cancel(r);
	assert_true(RUN_UNTIL(pid_dead(sh) && pid_dead(gc), 3000));
	/* Our own child is reaped by us, not left a zombie. */
	assert_true(RUN_UNTIL(kill(sh, 0) == -1 && errno == ESRCH, 3000));
	run_for(300);
	assert_int_equal(rec.called, 0);
	assert_false(file_exists(f->dir, "ran"));
	assert_no_fd_leak(f);
}

/* Nothing to run: done still comes from the loop, with NULL. */
static void
test_nothing_to_run(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_PRE_TOOL_USE, 1);

	cmd_set(hs, HOOK_PRE_TOOL_USE, 0, "printf '{\"a\":1}'", NULL, 5, NULL);
	(void)start(hs, HOOK_ERROR_OCCURRED, "{}", &rec);
	finish(&rec);
	assert_null(rec.out);
	rec.called = 0;
	(void)start(NULL, HOOK_PRE_TOOL_USE, NULL, &rec);
	finish(&rec);
	assert_null(rec.out);
	assert_no_fd_leak(f);
}

/* More input than a pipe holds, read by one hook and ignored by another. */
static void
test_big_input(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_POST_TOOL_USE, 2);
	char		*big, *in;
	size_t		 n = 300 * 1024;
	json_t		*j;

	assert_non_null(big = malloc(n + 1));
	memset(big, 'x', n);
	big[n] = '\0';
	assert_non_null(j = json_pack("{s:s}", "toolResult", big));
	assert_non_null(in = json_dumps(j, JSON_COMPACT));
	json_decref(j);
	free(big);
	/* Exits at once: our writes meet EPIPE, which must not kill us. */
	cmd_set(hs, HOOK_POST_TOOL_USE, 0, "printf '{\"early\":1}'", NULL, 5,
	    NULL);
	cmd_set(hs, HOOK_POST_TOOL_USE, 1,
	    "n=$(wc -c); printf '{\"n\":%d}' $n", NULL, 5, NULL);
	(void)start(hs, HOOK_POST_TOOL_USE, in, &rec);
	finish(&rec);
	assert_non_null(rec.out);
	assert_int_equal(json_integer_value(json_object_get(rec.out, "n")),
	    strlen(in));
	assert_int_equal(json_integer_value(json_object_get(rec.out, "early")),
	    1);
	free(in);
	json_decref(rec.out);
	assert_no_fd_leak(f);
}

static void
test_output_cap(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_POST_TOOL_USE, 2);

	cmd_set(hs, HOOK_POST_TOOL_USE, 0, "printf '{\"a\":\"'; "
	    "head -c 2000000 /dev/zero | tr '\\0' x; printf '\"}'", NULL, 10,
	    NULL);
	cmd_set(hs, HOOK_POST_TOOL_USE, 1, "printf '{\"b\":1}'", NULL, 5, NULL);
	(void)start(hs, HOOK_POST_TOOL_USE, "{}", &rec);
	finish(&rec);
	assert_json(rec.out, "{\"b\":1}");
	json_decref(rec.out);
	assert_no_fd_leak(f);
}

/* Just under the cap is fine. */
static void
test_output_large_ok(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	struct hookset	*hs = hs_make(HOOK_POST_TOOL_USE, 1);
	const char	*s;

	cmd_set(hs, HOOK_POST_TOOL_USE, 0, "printf '{\"a\":\"'; "
	    "head -c 1000000 /dev/zero | tr '\\0' x; printf '\"}'", NULL, 10,
	    NULL);
	(void)start(hs, HOOK_POST_TOOL_USE, "{}", &rec);
	finish(&rec);
	assert_non_null(s = json_string_value(json_object_get(rec.out, "a")));
	assert_int_equal(strlen(s), 1000000);
	json_decref(rec.out);
	assert_no_fd_leak(f);
}

/* Last: shutdown kills what runs and calls no one. */
static void
test_shutdown(void **state)
{
	struct fixture	*f = *state;
	struct rec	 rec = { 0 };
	pid_t		 sh, gc;

	(void)start_sleeper(f, &rec, &sh, &gc);
	hookrun_shutdown();
	assert_true(RUN_UNTIL(pid_dead(sh) && pid_dead(gc), 3000));
	run_for(300);
	assert_int_equal(rec.called, 0);
	assert_false(file_exists(f->dir, "ran"));
	assert_no_fd_leak(f);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_stdin_reaches_script),
		T(test_merge_later_wins),
		T(test_pretool_deny_short_circuits),
		T(test_pretool_ask_short_circuits),
		T(test_deny_other_type_goes_on),
		T(test_timeout_kills_group),
		T(test_nonzero_exit_ignored),
		T(test_garbage_ignored),
		T(test_cwd),
		T(test_env),
		T(test_cancel),
		T(test_nothing_to_run),
		T(test_big_input),
		T(test_output_cap),
		T(test_output_large_ok),
		T(test_shutdown),
#undef T
	};
	struct event_base	*b;
	int			 rc;

	/* SIGPIPE left at its default: hookrun_init must cope. */
	log_init("test", NULL, 0);
	log_set_level(getenv("HOOKRUN_TEST_DEBUG") != NULL ? LOG_LDEBUG :
	    LOG_LERROR);
	if ((b = event_base_new()) == NULL)
		return (1);
	base = b;
	hookrun_init(base);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	hookrun_shutdown();
	event_base_free(base);
	return (rc);
}
