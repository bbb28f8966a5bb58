/*
 * pidwatch: the exit of one child process, noticed without a process-wide
 * SIGCHLD handler.  A pidfd becomes readable in the event loop when the
 * child exits; the watch then reaps exactly that pid (waitpid(pid), never
 * waitpid(-1)) and calls back with its wait status.  Without pidfds
 * (kernels before 5.3) the pid is polled with waitpid every
 * PIDWATCH_POLL_MS.
 *
 * The callback runs once, from the loop or from pidwatch_reap(); the watch
 * is disarmed by then and may be freed inside it.  The status is -1 when
 * someone else reaped the pid.
 */
#ifndef COMMON_PIDWATCH_H
#define COMMON_PIDWATCH_H

#include <sys/types.h>

struct event_base;
struct pidwatch;

typedef void	(*pidwatch_cb)(pid_t pid, int status, void *arg);

#define PIDWATCH_POLL		0x01	/* poll with waitpid, no pidfd */
#define PIDWATCH_KILLGROUP	0x02	/* SIGKILL its process group at its exit */
#define PIDWATCH_POLL_MS	100

/* NULL (logged) if the pid cannot be watched. */
struct pidwatch	*pidwatch_new(struct event_base *, pid_t, int flags,
		    pidwatch_cb, void *arg);
/* Reap it now if it has exited: 1 if it has been reaped, else 0. */
int		 pidwatch_reap(struct pidwatch *);
/* Its pidfd, to wait for it with poll(2) outside the loop; -1 if polled. */
int		 pidwatch_fd(const struct pidwatch *);
pid_t		 pidwatch_pid(const struct pidwatch *);
/* Stop watching (the pid is left unreaped if it was not reaped yet). */
void		 pidwatch_free(struct pidwatch *);
/*
 * For a process that is PID 1 (or a subreaper): reap every exited child
 * nobody watches, i.e. orphans re-parented to us, and hand the exit of a
 * watched one to its watch.  Returns how many orphans were reaped.
 */
int		 pidwatch_reap_orphans(void);

#endif
