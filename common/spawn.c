/*
 * spawn: see spawn.h.
 *
 * The parent may have threads (libcurl's resolver), so in the child malloc,
 * getenv and stdio could be mid-lock: between fork and exec only
 * async-signal-safe calls are made, on data prepared before fork.  All
 * signals are blocked across fork, so no handler of ours (libevent's, which
 * writes to the parent's wakeup pipe) can run in the child before its
 * dispositions are reset.  A failure in the child shows as exit status 126
 * (setting up) or 127 (exec) and a line on its stderr.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"
#include "util.h"

#define SPAWN_NMAP	(SPAWN_CHAN_FD + 1)
#define SPAWN_FDS_DFLT	65536	/* close() loop bound without close_range */

extern char	**environ;

/* What the child does, all decided before fork. */
struct spawn_plan {
	const char	*path;
	char *const	*envp;
	int		 map[SPAWN_NMAP];	/* its fd i <- our map[i]; -1: keep */
	int		 nmap;			/* it keeps fds below this */
	int		 maxfd;			/* close() loop bound */
	pid_t		 parent;
	int		 nofile_set;		/* put nofile back */
	struct rlimit	 nofile;
};

/* The descriptor limit we were started with, once spawn_raise_nofile() ran. */
static struct rlimit	spawn_nofile0;
static int		spawn_nofile_raised;

static void
spawn_say(const char *a, const char *b)
{
	ssize_t	n;

	n = write(STDERR_FILENO, a, strlen(a));
	n = write(STDERR_FILENO, b, strlen(b));
	n = write(STDERR_FILENO, "\n", 1);
	(void)n;
}

/* Put each mapped descriptor in its place: above the targets first. */
static int
spawn_child_fds(const struct spawn_plan *p)
{
	int	i, hi[SPAWN_NMAP];

	for (i = 0; i < p->nmap; i++)
		if (p->map[i] != -1 &&
		    (hi[i] = fcntl(p->map[i], F_DUPFD, p->nmap)) == -1)
			return (-1);
	for (i = 0; i < p->nmap; i++)
		if (p->map[i] != -1 && dup2(hi[i], i) == -1)
			return (-1);
	if (close_range((unsigned int)p->nmap, ~0U, 0) == -1)
		for (i = p->nmap; i < p->maxfd; i++)
			(void)close(i);
	return (0);
}

static void
spawn_child_signals(void)
{
	struct sigaction	sa;
	sigset_t		none;
	int			i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigemptyset(&sa.sa_mask);
	for (i = 1; i < NSIG; i++)
		if (i != SIGKILL && i != SIGSTOP)
			(void)sigaction(i, &sa, NULL);	/* EINVAL: libc's own */
	(void)sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the child: only async-signal-safe calls from here to exec. */
static void
spawn_child(const struct spawn *s, const struct spawn_plan *p)
{
	if (s->pgrp && setpgid(0, 0) == -1)
		_exit(126);
	if (spawn_child_fds(p) == -1)
		_exit(126);
	if (s->cwd != NULL && chdir(s->cwd) == -1) {
		spawn_say("cannot change directory to ", s->cwd);
		_exit(127);
	}
	/*
	 * Dies with us.  If we are already gone it has been re-parented, so
	 * its parent is no longer the one recorded before fork: it does not
	 * start at all.  A parent that is PID 1 (in a container) is no orphan.
	 */
	if (s->deathsig != 0) {
		if (prctl(PR_SET_PDEATHSIG, s->deathsig) == -1)
			_exit(126);
		if (getppid() != p->parent)
			_exit(126);
	}
	spawn_child_signals();
	/* The limit we were started with (a bare system call, like the rest). */
	if (p->nofile_set && setrlimit(RLIMIT_NOFILE, &p->nofile) == -1)
		_exit(126);
	execve(p->path, s->argv, p->envp);
	spawn_say("cannot execute ", p->path);
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
spawn_raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (-1);
	if (!spawn_nofile_raised) {
		spawn_nofile0 = rl;
		spawn_nofile_raised = 1;
	}
	if (rl.rlim_cur == rl.rlim_max)
		return (0);
	/* An unlimited hard limit is still bounded by fs.nr_open. */
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY ? rl.rlim_max : 1048576;
	return (setrlimit(RLIMIT_NOFILE, &rl));
}

static int
spawn_maxfd(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return (SPAWN_FDS_DFLT);
	return (rl.rlim_cur > INT_MAX ? INT_MAX : (int)rl.rlim_cur);
}

/* Fork with every signal blocked; the parent's mask is back on return. */
static pid_t
spawn_fork(const struct spawn *s, const struct spawn_plan *p)
{
	sigset_t	all, old;
	pid_t		pid;
	int		saved;

	(void)sigfillset(&all);
	if ((errno = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0)
		return (-1);
	if ((pid = fork()) == 0)
		spawn_child(s, p);
	saved = errno;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return (pid);
}

int
spawn_start(struct spawn *s)
{
	struct spawn_plan	 p;
	int			 fds[6] = { -1, -1, -1, -1, -1, -1 }, i;
	pid_t			 pid;

	memset(&p, 0, sizeof(p));
	p.path = s->path != NULL ? s->path : s->argv[0];
	p.envp = s->envp != NULL ? s->envp : environ;
	p.parent = getpid();
	p.maxfd = spawn_maxfd();
	p.nofile_set = spawn_nofile_raised;
	p.nofile = spawn_nofile0;
	for (i = 0; i < SPAWN_NMAP; i++)
		p.map[i] = -1;
	p.nmap = s->chan != -1 ? SPAWN_NMAP : 3;
	p.map[SPAWN_CHAN_FD] = s->chan;
	s->in = s->out = s->err = -1;
	/* fds: stdin (read, write), stdout (read, write), stderr (read, write) */
	if (s->pipes) {
		if (pipe2(fds, O_CLOEXEC) == -1 ||
		    pipe2(fds + 2, O_CLOEXEC) == -1 ||
		    pipe2(fds + 4, O_CLOEXEC) == -1) {
			log_warn("%s: pipe2", __func__);
			spawn_close(fds);
			return (-1);
		}
		p.map[0] = fds[0];
		p.map[1] = fds[3];
		p.map[2] = fds[5];
	}
	if ((pid = spawn_fork(s, &p)) == -1) {
		log_warn("%s: fork", __func__);
		spawn_close(fds);
		return (-1);
	}
	/* Here too, so the group exists before any kill(-pid) of the caller. */
	if (s->pgrp && setpgid(pid, pid) == -1 && errno != EACCES &&
	    errno != ESRCH)
		log_warn("%s: setpgid %ld", __func__, (long)pid);
	s->pid = pid;
	if (!s->pipes)
		return (0);
	s->in = fds[1];
	s->out = fds[2];
	s->err = fds[4];
	fds[1] = fds[2] = fds[4] = -1;
	spawn_close(fds);
	if (util_set_nonblock(s->in) == -1 || util_set_nonblock(s->out) == -1 ||
	    util_set_nonblock(s->err) == -1)
		log_warn("%s: cannot make the pipes non-blocking", __func__);
	return (0);
}

int
spawn_piped(struct spawn *s)
{
	s->pipes = 1;
	s->chan = -1;
	return (spawn_start(s));
}

char **
spawn_env_without(const char *name)
{
	size_t	 n = 0, i, j, len = strlen(name);
	char	**envp;

	while (environ[n] != NULL)
		n++;
	if ((envp = calloc(n + 1, sizeof(*envp))) == NULL)
		return (NULL);
	for (i = j = 0; i < n; i++)
		if (strncmp(environ[i], name, len) != 0 || environ[i][len] != '=')
			envp[j++] = environ[i];
	envp[j] = NULL;
	return (envp);
}
