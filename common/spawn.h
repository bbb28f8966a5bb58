/*
 * spawn: fork and exec a child on three pipes, the one way sessiond starts
 * the Copilot runtime and hook commands.
 */
#ifndef COMMON_SPAWN_H
#define COMMON_SPAWN_H

#include <sys/types.h>

struct spawn {
	char *const	*argv;		/* argv[0] is the path */
	char *const	*envp;		/* NULL: ours */
	const char	*cwd;		/* NULL: ours */
	int		 pgrp;		/* its own process group */
	int		 deathsig;	/* sent to it when we die */
	/* Out: our ends, non-blocking and close-on-exec; the pid. */
	int		 in, out, err;
	pid_t		 pid;
};

/* 0, or -1 (logged, nothing left open) if it could not be started. */
int	spawn_piped(struct spawn *);

#endif
