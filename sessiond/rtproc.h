/*
 * rtproc: the Copilot runtime's processes.  One is current (we talk to it
 * over its stdin and stdout); older ones we asked to go are watched until
 * they are reaped (common/pidwatch.c: no process-wide SIGCHLD handler,
 * only our own pids are reaped).
 */
#ifndef SESSIOND_RTPROC_H
#define SESSIOND_RTPROC_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;

struct rtproc_events {
	/* Bytes arrived on the current runtime's stdout. */
	void	(*readable)(struct evbuffer *in);
	/* A pipe of the current runtime broke (EOF, I/O error). */
	void	(*broken)(const char *why);
	/* A runtime was reaped; current: it was the one we talk to. */
	void	(*exited)(pid_t, const char *status, int current);
};

void	 rtproc_init(struct event_base *, const struct rtproc_events *);
/*
 * Start path (stdin, stdout, stderr on pipes; envp NULL: ours) as the
 * current runtime.  0: running with its pipes; 1: running, but its pipes
 * could not be set up (the caller tears it down); -1: not started.
 */
int	 rtproc_start(const char *path, char *const envp[]);
/* Queue bytes for its stdin; -1 when there is no current runtime. */
int	 rtproc_write(const void *, size_t);
/* Bytes queued for its stdin and not yet written. */
size_t	 rtproc_queued(void);
/*
 * Let the current runtime go: close our ends of its pipes (it sees stdin
 * EOF), send it sig (0: none), and keep watching it until it is reaped.
 */
void	 rtproc_release(int sig);
pid_t	 rtproc_pid(void);		/* the current runtime's, or -1 */
int	 rtproc_running(void);		/* processes not reaped yet */
void	 rtproc_kill_all(int sig);
/* Close the pipes; what still runs stays watched until it is reaped. */
void	 rtproc_shutdown(void);

#endif
