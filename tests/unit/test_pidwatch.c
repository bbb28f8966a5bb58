/*
 * pidwatch: real children under a real event loop, watched by pidfd and by
 * polling.  Every wait is bounded.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/pidwatch.h"
#include "common/spawn.h"
#include "common/util.h"

#define WAIT_MS		5000

static struct event_base	*base;

struct rec {
	int		 calls;
	pid_t		 pid;
	int		 status;
	struct pidwatch	*w;		/* freed in the callback if set */
};

static void
on_exit_cb(pid_t pid, int status, void *arg)
{
	struct rec	*r = arg;

	r->calls++;
	r->pid = pid;
	r->status = status;
	if (r->w != NULL) {
		pidwatch_free(r->w);
		r->w = NULL;
	}
}

static void
tick_cb(int fd, short ev, void *arg)
{
}

/* Run the loop until r has been called back, at most WAIT_MS. */
static void
loop_until(struct rec *r)
{
	struct event	*t;
	struct timeval	 tv = { 0, 20 * 1000 };
	uint64_t	 end = util_now_ms() + WAIT_MS;

	assert_non_null(t = event_new(base, -1, EV_PERSIST, tick_cb, NULL));
	assert_int_equal(event_add(t, &tv), 0);
	while (r->calls == 0) {
		assert_true(util_now_ms() < end);
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
	}
	event_free(t);
}

/* Has this kernel (or valgrind) pidfd_open()? */
static int
pidfd_ok(void)
{
	int	fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	if (fd == -1)
		return (0);
	(void)close(fd);
	return (1);
}

static pid_t
run(const char *script, int pgrp)
{
	char		*argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	struct spawn	 sp;

	memset(&sp, 0, sizeof(sp));
	sp.argv = argv;
	sp.chan = -1;
	sp.pgrp = pgrp;
	assert_int_equal(spawn_start(&sp), 0);
	return (sp.pid);
}

static int
setup(void **state)
{
	base = event_base_new();
	return (base == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	event_base_free(base);
	base = NULL;
	return (0);
}

static void
exit_status(int flags)
{
	struct rec	r = { 0 };
	pid_t		pid = run("exit 3", 0);

	r.w = pidwatch_new(base, pid, flags, on_exit_cb, &r);
	assert_non_null(r.w);
	assert_int_equal(pidwatch_pid(r.w), pid);
	if (flags & PIDWATCH_POLL)
		assert_int_equal(pidwatch_fd(r.w), -1);
	else if (pidfd_ok())
		assert_true(pidwatch_fd(r.w) >= 0);
	loop_until(&r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.pid, pid);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 3);
	assert_null(r.w);			/* freed inside the callback */
	/* Reaped: nothing is left to wait for. */
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void
test_pidfd(void **state)
{
	exit_status(0);
}

static void
test_poll(void **state)
{
	exit_status(PIDWATCH_POLL);
}

/* A signal shows in the status; pidwatch_reap() from outside the loop. */
static void
test_reap_now(void **state)
{
	struct rec	 r = { 0 };
	struct pidwatch	*w;
	pid_t		 pid = run("exec sleep 30", 0);
	siginfo_t	 si;

	assert_non_null(w = pidwatch_new(base, pid, 0, on_exit_cb, &r));
	assert_int_equal(pidwatch_reap(w), 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(pidwatch_reap(w), 1);
	assert_int_equal(r.calls, 1);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGKILL);
	/* Once only, however often it is asked. */
	assert_int_equal(pidwatch_reap(w), 1);
	assert_int_equal(r.calls, 1);
	pidwatch_free(w);
}

/* Someone else reaped it: the watch still ends, with status -1. */
static void
test_reaped_elsewhere(void **state)
{
	struct rec	r = { 0 };
	pid_t		pid = run("exit 0", 0);

	r.w = pidwatch_new(base, pid, 0, on_exit_cb, &r);
	assert_non_null(r.w);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	loop_until(&r);
	assert_int_equal(r.status, -1);
}

/* Freed before the exit: no callback, nothing left armed. */
static void
test_free_early(void **state)
{
	struct rec	 r = { 0 };
	struct pidwatch	*w;
	pid_t		 pid = run("exit 0", 0);
	int		 status;

	assert_non_null(w = pidwatch_new(base, pid, 0, on_exit_cb, &r));
	pidwatch_free(w);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	assert_int_equal(r.calls, 0);
}

/* Is pid gone (reaped by us, here: we are its subreaper)? */
static int
wait_gone(pid_t pid, int *status)
{
	uint64_t	end = util_now_ms() + WAIT_MS;
	struct timespec	ts = { 0, 5 * 1000 * 1000 };
	pid_t		r;

	while ((r = waitpid(pid, status, WNOHANG)) == 0) {
		if (util_now_ms() >= end)
			return (0);
		(void)nanosleep(&ts, NULL);
	}
	return (r == pid);
}

/*
 * sh -c "<cmd> & echo $!; exit 0" in its own group: the pid of the shell,
 * and in *bg the pid of what it left running.  Not spawn: the script writes
 * to a pipe of ours, which spawn would close.
 */
static pid_t
sh_bg(const char *cmd, pid_t *bg)
{
	char	script[128], buf[32];
	int	p[2];
	pid_t	pid;
	ssize_t	n;

	assert_int_equal(pipe(p), 0);
	snprintf(script, sizeof(script), "%s & echo $! >&%d; exit 0", cmd,
	    p[1]);
	if ((pid = fork()) == 0) {
		(void)setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	(void)setpgid(pid, pid);
	(void)close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	(void)close(p[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	*bg = (pid_t)strtol(buf, NULL, 10);
	assert_true(*bg > 0);
	return (pid);
}

/*
 * KILLGROUP: what the child left running in its group dies with it.  We
 * are a subreaper, so the straggler comes to us and we see how it died.
 */
static void
test_killgroup(void **state)
{
	struct rec	r = { 0 };
	pid_t		pid, straggler;
	int		status;

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	pid = sh_bg("sleep 30", &straggler);
	r.w = pidwatch_new(base, pid, PIDWATCH_KILLGROUP, on_exit_cb, &r);
	assert_non_null(r.w);
	loop_until(&r);
	assert_true(WIFEXITED(r.status));
	assert_true(wait_gone(straggler, &status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/*
 * As a reaper of orphans: a stray is reaped and counted, a watched child's
 * exit goes to its watch with its status.
 */
static void
test_orphans(void **state)
{
	struct rec	 r = { 0 };
	struct pidwatch	*w;
	pid_t		 pid, orphan;
	siginfo_t	 si;
	uint64_t	 end = util_now_ms() + WAIT_MS;

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	pid = sh_bg("sleep 0.2", &orphan);
	/* The shell is ours and watched; its sleep becomes an orphan of ours. */
	assert_non_null(w = pidwatch_new(base, pid, 0, on_exit_cb, &r));
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)orphan, &si, WEXITED | WNOWAIT),
	    0);
	/* Both are zombies now. */
	assert_int_equal(pidwatch_reap_orphans(), 1);
	assert_int_equal(r.calls, 1);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	assert_int_equal(waitpid(orphan, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	/* Nothing left: no child at all. */
	while (pidwatch_reap_orphans() != 0)
		assert_true(util_now_ms() < end);
	pidwatch_free(w);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pidfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reap_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reaped_elsewhere, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_early, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_killgroup, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_orphans, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
