/*
 * spawn: real children, looked at from outside through /proc once they
 * have exec'd /bin/sleep: their descriptors, signal mask and dispositions,
 * environment, process group and directory.  Every wait is bounded.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/spawn.h"
#include "common/util.h"

#define WAIT_MS		5000
#define LEAK_FD		57	/* held by the parent without O_CLOEXEC */

static char	*sleep_argv[] = { "/bin/sleep", "30", NULL };

static void
nap(void)
{
	struct timespec	ts = { 0, 5 * 1000 * 1000 };

	(void)nanosleep(&ts, NULL);
}

/*
 * Wait until pid sleeps in /bin/sleep: exec has finished (its exe, argv
 * and environment are the new program's) and it waits in nanosleep.
 */
static void
wait_exec(pid_t pid)
{
	char		 path[64], buf[PATH_MAX], st[512];
	ssize_t		 n;
	uint64_t	 end = util_now_ms() + WAIT_MS;
	int		 fd;
	char		*p;

	for (;;) {
		snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
		n = readlink(path, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
		st[0] = '\0';
		if ((fd = open(path, O_RDONLY)) != -1) {
			n = read(fd, st, sizeof(st) - 1);
			st[n > 0 ? n : 0] = '\0';
			(void)close(fd);
		}
		if (strstr(buf, "sleep") != NULL &&
		    (p = strrchr(st, ')')) != NULL && p[1] == ' ' && p[2] == 'S')
			return;
		assert_true(util_now_ms() < end);
		nap();
	}
}

/* Its open descriptors as a bit set (fds below 64). */
static uint64_t
fds_of(pid_t pid)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*e;
	uint64_t	 set = 0;
	long		 fd;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		fd = strtol(e->d_name, NULL, 10);
		assert_true(fd < 64);
		set |= 1ULL << fd;
	}
	closedir(d);
	return (set);
}

/* A "Key:\tvalue" line of /proc/PID/status, as hex. */
static unsigned long long
status_hex(pid_t pid, const char *key)
{
	char			 path[64], line[256];
	FILE			*f;
	unsigned long long	 v = ~0ULL;
	size_t			 n = strlen(key);

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	return (v);
}

static int
reap(pid_t pid)
{
	int	status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return (status);
}

static void
kill_reap(pid_t pid)
{
	(void)kill(pid, SIGKILL);
	assert_true(WIFSIGNALED(reap(pid)));
}

static void
spawn_init(struct spawn *sp, char **argv)
{
	memset(sp, 0, sizeof(*sp));
	sp->argv = argv;
	sp->chan = -1;
	sp->in = sp->out = sp->err = -1;
}

static int
leak_fd(void)
{
	int	fd;

	assert_true((fd = open("/dev/null", O_RDONLY)) != -1);
	assert_int_equal(dup2(fd, LEAK_FD), LEAK_FD);
	(void)close(fd);
	return (LEAK_FD);
}

/* A piped child has its three pipes and nothing else. */
static void
test_piped_fds(void **state)
{
	struct spawn	sp;
	int		leak = leak_fd();

	spawn_init(&sp, sleep_argv);
	assert_int_equal(spawn_piped(&sp), 0);
	wait_exec(sp.pid);
	assert_int_equal(fds_of(sp.pid), 0x7);
	assert_true(sp.in > 2 && sp.out > 2 && sp.err > 2);
	assert_int_equal(fcntl(sp.in, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(fcntl(sp.out, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	kill_reap(sp.pid);
	(void)close(sp.in);
	(void)close(sp.out);
	(void)close(sp.err);
	(void)close(leak);
}

/*
 * A supervisor's child: our stdio, its channel on fd 3 (whatever our
 * number for it), nothing else.
 */
static void
test_chan_fds(void **state)
{
	struct spawn	sp;
	int		sv[2], leak = leak_fd(), hi;
	char		path[64], a[64], b[64];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	/* Far from 3, so the move is seen. */
	assert_true((hi = fcntl(sv[1], F_DUPFD_CLOEXEC, 40)) >= 40);
	spawn_init(&sp, sleep_argv);
	sp.chan = hi;
	assert_int_equal(spawn_start(&sp), 0);
	assert_int_equal(sp.in, -1);
	wait_exec(sp.pid);
	assert_int_equal(fds_of(sp.pid), 0xf);
	/* fd 3 is the other end of our socket. */
	snprintf(path, sizeof(path), "/proc/%ld/fd/3", (long)sp.pid);
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_true(readlink(path, a, sizeof(a) - 1) > 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", hi);
	assert_true(readlink(path, b, sizeof(b) - 1) > 0);
	assert_string_equal(a, b);
	kill_reap(sp.pid);
	(void)close(sv[0]);
	(void)close(sv[1]);
	(void)close(hi);
	(void)close(leak);
}

/* The channel may already be fd 3 in the parent (and close-on-exec). */
static void
test_chan_already_fd3(void **state)
{
	struct spawn	sp;
	int		sv[2], saved = -1;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	if (sv[1] != 3) {
		saved = fcntl(3, F_DUPFD_CLOEXEC, 10);	/* -1 if 3 was free */
		assert_int_equal(dup3(sv[1], 3, O_CLOEXEC), 3);
	}
	spawn_init(&sp, sleep_argv);
	sp.chan = 3;
	assert_int_equal(spawn_start(&sp), 0);
	wait_exec(sp.pid);
	assert_int_equal(fds_of(sp.pid), 0xf);
	kill_reap(sp.pid);
	(void)close(sv[0]);
	(void)close(sv[1]);
	if (sv[1] != 3) {
		(void)close(3);
		if (saved != -1) {
			assert_int_equal(dup2(saved, 3), 3);
			(void)close(saved);
		}
	}
}

static void
test_signals_clean(void **state)
{
	struct spawn	sp;
	sigset_t	set, old;
	struct sigaction sa, osa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGPIPE, &sa, &osa), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
	spawn_init(&sp, sleep_argv);
	assert_int_equal(spawn_start(&sp), 0);
	/* Our mask is ours again. */
	assert_int_equal(sigprocmask(SIG_SETMASK, NULL, &set), 0);
	assert_true(sigismember(&set, SIGUSR1));
	assert_false(sigismember(&set, SIGTERM));
	wait_exec(sp.pid);
	assert_int_equal(status_hex(sp.pid, "SigBlk"), 0);
	/*
	 * Signals 32 and 33 are the C library's own: its sigaction() refuses
	 * them (whoever started us, make for one, may have ignored them) and
	 * every program's libc sets them up itself.
	 */
	assert_int_equal(status_hex(sp.pid, "SigIgn") & ~0x180000000ULL, 0);
	kill_reap(sp.pid);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	assert_int_equal(sigaction(SIGPIPE, &osa, NULL), 0);
}

static void
test_env_dir_group(void **state)
{
	struct spawn	 sp;
	char		 path[64], buf[8192], cwd[PATH_MAX];
	char		**envp;
	ssize_t		 n;
	int		 fd;
	FILE		*f;
	long		 pgrp = 0;

	assert_int_equal(setenv("SPAWN_TEST_SECRET", "s3cr3t", 1), 0);
	assert_int_equal(setenv("SPAWN_TEST_KEEP", "yes", 1), 0);
	assert_non_null(envp = spawn_env_without("SPAWN_TEST_SECRET"));
	spawn_init(&sp, sleep_argv);
	sp.envp = envp;
	sp.cwd = "/tmp";
	sp.pgrp = 1;
	assert_int_equal(spawn_start(&sp), 0);
	free(envp);
	wait_exec(sp.pid);
	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)sp.pid);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	assert_true(n > 0);
	assert_null(memmem(buf, (size_t)n, "SPAWN_TEST_SECRET", 17));
	assert_non_null(memmem(buf, (size_t)n, "SPAWN_TEST_KEEP=yes", 19));
	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)sp.pid);
	n = readlink(path, cwd, sizeof(cwd) - 1);
	assert_true(n > 0);
	cwd[n] = '\0';
	assert_string_equal(cwd, "/tmp");
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)sp.pid);
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(fscanf(f, "%*d (%*[^)]) %*c %*d %ld", &pgrp), 1);
	fclose(f);
	assert_int_equal(pgrp, sp.pid);
	kill_reap(sp.pid);
	unsetenv("SPAWN_TEST_SECRET");
	unsetenv("SPAWN_TEST_KEEP");
}

static void
test_exec_failure(void **state)
{
	char		*argv[] = { "/nonexistent/prog", NULL };
	struct spawn	 sp;
	char		 buf[256];
	ssize_t		 n;
	int		 status;

	spawn_init(&sp, argv);
	assert_int_equal(spawn_piped(&sp), 0);
	status = reap(sp.pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 127);
	n = read(sp.err, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "cannot execute /nonexistent/prog"));
	(void)close(sp.in);
	(void)close(sp.out);
	(void)close(sp.err);
}

/* path wins over argv[0], which is only the name the child sees. */
static void
test_path_and_name(void **state)
{
	char		*argv[] = { "my-name", "30", NULL };
	struct spawn	 sp;
	char		 path[64], buf[256];
	ssize_t		 n;
	int		 fd;

	spawn_init(&sp, argv);
	sp.path = "/bin/sleep";
	assert_int_equal(spawn_start(&sp), 0);
	wait_exec(sp.pid);
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)sp.pid);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	n = read(fd, buf, sizeof(buf));
	(void)close(fd);
	assert_true(n > 8);
	assert_string_equal(buf, "my-name");
	kill_reap(sp.pid);
}

/*
 * deathsig: a child whose parent dies gets the signal.  The intermediate
 * parent spawns and exits; we are a subreaper, so the orphan comes to us
 * and its status shows the signal.
 */
static void
test_deathsig(void **state)
{
	struct spawn	 sp;
	pid_t		 mid, kid;
	int		 p[2], status;
	uint64_t	 end = util_now_ms() + WAIT_MS;

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe(p), 0);
	if ((mid = fork()) == 0) {
		spawn_init(&sp, sleep_argv);
		sp.deathsig = SIGKILL;
		if (spawn_start(&sp) == -1)
			_exit(1);
		wait_exec(sp.pid);
		if (write(p[1], &sp.pid, sizeof(sp.pid)) != sizeof(sp.pid))
			_exit(1);
		_exit(0);
	}
	assert_true(mid > 0);
	assert_int_equal(read(p[0], &kid, sizeof(kid)), sizeof(kid));
	status = reap(mid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	while (waitpid(kid, &status, WNOHANG) == 0) {
		assert_true(util_now_ms() < end);
		nap();
	}
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	(void)close(p[0]);
	(void)close(p[1]);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/* The output of a piped child arrives, and its stdin is a pipe. */
static void
test_piped_io(void **state)
{
	char		*argv[] = { "/bin/sh", "-c", "read x; echo \"out:$x\"; "
			    "echo err >&2", NULL };
	struct spawn	 sp;
	char		 buf[64];
	ssize_t		 n;
	size_t		 len = 0;
	int		 status;
	uint64_t	 end = util_now_ms() + WAIT_MS;

	spawn_init(&sp, argv);
	assert_int_equal(spawn_piped(&sp), 0);
	assert_int_equal(write(sp.in, "hi\n", 3), 3);
	(void)close(sp.in);
	status = reap(sp.pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	while (len < 7) {
		n = read(sp.out, buf + len, sizeof(buf) - 1 - len);
		if (n > 0)
			len += (size_t)n;
		else
			assert_true(util_now_ms() < end);
	}
	buf[len] = '\0';
	assert_string_equal(buf, "out:hi\n");
	n = read(sp.err, buf, sizeof(buf) - 1);
	assert_int_equal(n, 4);
	(void)close(sp.out);
	(void)close(sp.err);
}

/* "Max open files" soft limit of pid. */
static long
nofile_of(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 v = -1;

	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Max open files", 14) == 0)
			v = strtol(line + 14, NULL, 10);
	fclose(f);
	return (v);
}

/*
 * We raise our descriptor limit to the hard one; a child starts with the
 * limit we were started with.  (Last: it changes this process.)
 */
static void
test_raise_nofile(void **state)
{
	struct rlimit	rl;
	struct spawn	sp;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= 256)
		skip();
	rl.rlim_cur = 256;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(spawn_raise_nofile(), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_true(rl.rlim_cur > 256 && (rl.rlim_cur == rl.rlim_max ||
	    rl.rlim_max == RLIM_INFINITY));
	assert_int_equal(spawn_raise_nofile(), 0);	/* again: no change */
	spawn_init(&sp, sleep_argv);
	assert_int_equal(spawn_start(&sp), 0);
	wait_exec(sp.pid);
	assert_int_equal(nofile_of(sp.pid), 256);
	kill_reap(sp.pid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_piped_fds),
		cmocka_unit_test(test_chan_fds),
		cmocka_unit_test(test_chan_already_fd3),
		cmocka_unit_test(test_signals_clean),
		cmocka_unit_test(test_env_dir_group),
		cmocka_unit_test(test_exec_failure),
		cmocka_unit_test(test_path_and_name),
		cmocka_unit_test(test_deathsig),
		cmocka_unit_test(test_piped_io),
		cmocka_unit_test(test_raise_nofile),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
