/*
 * spawn: fork and exec a child on three pipes.
 *
 * Between fork and exec only async-signal-safe calls are made: the parent
 * may have threads (libcurl's resolver), so malloc could be mid-lock.  An
 * exec failure shows as exit status 127 and a line on the child's stderr.
 */
#include <sys/prctl.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"
#include "util.h"

extern char	**environ;

static void
spawn_say(const char *a, const char *b)
{
	ssize_t	n;

	n = write(STDERR_FILENO, a, strlen(a));
	n = write(STDERR_FILENO, b, strlen(b));
	n = write(STDERR_FILENO, "\n", 1);
	(void)n;
}

static void
spawn_child(const struct spawn *s, int fds[3], pid_t parent)
{
	sigset_t	none;
	int		i, hi[3];

	if (s->pgrp)
		(void)setpgid(0, 0);
	/* Above 2 first, so no dup2 clobbers another's source. */
	for (i = 0; i < 3; i++)
		if ((hi[i] = fcntl(fds[i], F_DUPFD, 3)) == -1)
			_exit(126);
	for (i = 0; i < 3; i++)
		if (dup2(hi[i], i) == -1)
			_exit(126);
	if (s->cwd != NULL && chdir(s->cwd) == -1) {
		spawn_say("cannot change directory to ", s->cwd);
		_exit(127);
	}
	if (close_range(3, ~0U, 0) == -1)
		for (i = 3; i < 4096; i++)
			(void)close(i);
	/* Dies with us; if we are already gone, do not start at all. */
	if (s->deathsig != 0) {
		(void)prctl(PR_SET_PDEATHSIG, s->deathsig);
		if (getppid() != parent)
			_exit(127);
	}
	(void)sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	for (i = 1; i < NSIG; i++)
		if (i != SIGKILL && i != SIGSTOP)
			(void)signal(i, SIG_DFL);
	execve(s->argv[0], s->argv, s->envp != NULL ? s->envp : environ);
	spawn_say("cannot execute ", s->argv[0]);
	_exit(127);
}

static void
spawn_close(int p[6])
{
	int	i;

	for (i = 0; i < 6; i++)
		if (p[i] != -1)
			(void)close(p[i]);
}

int
spawn_piped(struct spawn *s)
{
	int	p[6] = { -1, -1, -1, -1, -1, -1 }, child[3];
	pid_t	pid, self = getpid();

	/* p: stdin (read, write), stdout (read, write), stderr (read, write) */
	if (pipe2(p, O_CLOEXEC) == -1 || pipe2(p + 2, O_CLOEXEC) == -1 ||
	    pipe2(p + 4, O_CLOEXEC) == -1) {
		log_warn("%s: pipe2", __func__);
		spawn_close(p);
		return (-1);
	}
	child[0] = p[0];
	child[1] = p[3];
	child[2] = p[5];
	switch (pid = fork()) {
	case -1:
		log_warn("%s: fork", __func__);
		spawn_close(p);
		return (-1);
	case 0:
		spawn_child(s, child, self);
		/* NOTREACHED */
	}
	/* Here too, so the group exists before any kill(-pid) of the caller. */
	if (s->pgrp)
		(void)setpgid(pid, pid);
	s->pid = pid;
	s->in = p[1];
	s->out = p[2];
	s->err = p[4];
	p[1] = p[2] = p[4] = -1;
	spawn_close(p);
	if (util_set_nonblock(s->in) == -1 || util_set_nonblock(s->out) == -1 ||
	    util_set_nonblock(s->err) == -1)
		log_warn("%s: cannot make the pipes non-blocking", __func__);
	return (0);
}
