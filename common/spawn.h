/*
 * spawn: fork and exec a child, the one way every process of the bridge
 * starts another: the supervisor its children (with their channel on fd 3),
 * sessiond the Copilot runtime and hook commands (on three pipes).
 *
 * Everything the child needs (its environment above all) is built before
 * fork; between fork and exec only async-signal-safe calls are made.  The
 * child has exactly the descriptors it is meant to have, a clean signal
 * mask, default signal dispositions and, with deathsig, PR_SET_PDEATHSIG
 * checked against the parent recorded before fork.
 */
#ifndef COMMON_SPAWN_H
#define COMMON_SPAWN_H

#include <sys/types.h>

#define SPAWN_CHAN_FD	3	/* where spawn.chan lands in the child */

struct spawn {
	const char	*path;		/* NULL: argv[0] */
	char *const	*argv;
	char *const	*envp;		/* NULL: ours */
	const char	*cwd;		/* NULL: ours */
	int		 pgrp;		/* its own process group */
	int		 deathsig;	/* sent to it when we die; 0: none */
	int		 pipes;		/* stdin, stdout, stderr on pipes; else ours */
	int		 chan;		/* -1, or a descriptor that becomes its fd 3 */
	/* Out: with pipes, our ends (non-blocking, close-on-exec); the pid. */
	int		 in, out, err;
	pid_t		 pid;
};

/* 0, or -1 (logged, nothing left open) if it could not be started. */
int	 spawn_start(struct spawn *);
/* spawn_start() with pipes and no channel. */
int	 spawn_piped(struct spawn *);
/*
 * Raise our soft limit of open descriptors to the hard one: the supervisor
 * holds two per child and sessiond one link per worker, so hundreds of bots
 * pass systemd's default soft limit of 1024.  Every child still starts with
 * the limit we were started with (programs that are not ours may use
 * select(), which sees no descriptor above 1023).  -1 with errno if the
 * limit could not be read or raised.
 */
int	 spawn_raise_nofile(void);
/*
 * Our environment without the variable name, for envp: an array to free()
 * whose strings are environ's (valid while the environment is unchanged).
 * NULL when out of memory.
 */
char	**spawn_env_without(const char *name);

#endif
