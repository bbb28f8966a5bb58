/*
 * forksrv: the fork server.  The supervisor starts the worker binary once
 * with "-z ROOM" (supervisor/forksrv.c); it loads and sets up the libraries
 * and then forks every worker from itself on request.  The pages that the
 * dynamic loader relocated and that the libraries' set-up wrote are then
 * shared by all workers (copy on write) instead of being made again by each
 * exec: most of what a worker costs (see "The fork server" in
 * docs/architecture.md).
 *
 * It has no event loop and no threads: it blocks on its channel (fd 3) for
 * FORK, which carries the new worker's channel as its descriptor, and
 * answers FORKED with the worker's pid (-1 if it could not).  The worker is
 * forked twice, so that it becomes a child of the supervisor (a subreaper)
 * and is reaped and signalled like a worker the supervisor started itself.
 * forksrv_serve() returns in the worker, its channel on fd 3 and "-z"
 * turned into "-s": main() goes on as for a spare, which its CONFIG names.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/jx.h"
#include "common/log.h"
#include "ipc/ipc.h"
#include "worker/worker.h"

#define FORKSRV_REPARENT_MS	2000	/* for the supervisor to adopt it */

/* The "-z" among argv, or NULL: then this is no fork server. */
char *
forksrv_flag(int argc, char *argv[])
{
	int	i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-z") == 0)
			return (argv[i]);
	return (NULL);
}

/*
 * In the new worker: once the supervisor is its parent (the middle process
 * has exited), it dies with the supervisor as an exec'd worker does
 * (common/spawn.c), and keeps only its channel, on fd 3.
 */
static void
forksrv_child(int chan, pid_t parent)
{
	struct timespec	ts = { 0, 100 * 1000 };
	int		i;

	for (i = 0; getppid() != parent; i++)
		if (i >= FORKSRV_REPARENT_MS * 10 ||
		    (nanosleep(&ts, NULL) == -1 && errno != EINTR))
			_exit(126);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(126);
	if (dup2(chan, IPC_CHILD_FD) == -1)
		_exit(126);
	(void)close(chan);
}

/*
 * Fork the worker for channel chan.  Returns its pid here, 0 in the worker
 * itself, -1 if it could not be made.
 */
static pid_t
forksrv_fork(int chan, pid_t parent)
{
	pid_t		mid, pid = -1;
	ssize_t		n;
	int		p[2], status;

	if (pipe2(p, O_CLOEXEC) == -1)
		return (-1);
	if ((mid = fork()) == -1) {
		(void)close(p[0]);
		(void)close(p[1]);
		return (-1);
	}
	if (mid == 0) {
		(void)close(p[0]);
		if ((pid = fork()) == 0) {
			(void)close(p[1]);
			forksrv_child(chan, parent);
			return (0);
		}
		n = write(p[1], &pid, sizeof(pid));
		_exit(n == (ssize_t)sizeof(pid) ? 0 : 1);
	}
	(void)close(p[1]);
	while ((n = read(p[0], &pid, sizeof(pid))) == -1 && errno == EINTR)
		;
	(void)close(p[0]);
	/* Reaped, the middle one has handed the worker to the supervisor. */
	while (waitpid(mid, &status, 0) == -1)
		if (errno != EINTR) {
			log_warn("fork server: waitpid %ld", (long)mid);
			break;
		}
	if (n != (ssize_t)sizeof(pid)) {
		if (pid > 0)
			(void)kill(pid, SIGKILL);
		errno = EIO;
		return (-1);
	}
	return (pid);
}

/*
 * Serve FORK until the supervisor closes the channel, then exit.  Returns
 * only in each worker forked.
 */
void
forksrv_serve(int argc, char *argv[])
{
	struct ipc_msg	 m;
	char		 why[256];
	pid_t		 pid;
	int		 r;

	log_init("worker", NULL, 0);
	if (ipc_write_msg(IPC_CHILD_FD, IPC_HELLO, json_pack("{s:i,s:s,s:i}",
	    "proto", IPC_VERSION, "role", "forksrv", "pid", (int)getpid()),
	    -1) == -1)
		fatal("fork server: cannot send HELLO");
	for (;;) {
		if ((r = ipc_read_msg(IPC_CHILD_FD, -1, &m, why,
		    sizeof(why))) != 1) {
			if (strcmp(why, "peer closed the channel") != 0)
				log_warnx("fork server: %s", why);
			exit(0);
		}
		if (m.hdr.type != IPC_FORK || m.fd == -1)
			fatalx("fork server: %s%s from the supervisor",
			    ipc_type_name(m.hdr.type), m.fd == -1 ?
			    " without a descriptor" : "");
		pid = forksrv_fork(m.fd, (pid_t)jx_int(m.body, "parent", 0));
		if (pid == 0) {
			m.fd = -1;	/* on fd 3 now */
			ipc_msg_clear(&m);
			forksrv_flag(argc, argv)[1] = 's';
			return;
		}
		if (pid == -1)
			log_warn("fork server: cannot fork a worker");
		ipc_msg_clear(&m);
		if (ipc_write_msg(IPC_CHILD_FD, IPC_FORKED, json_pack("{s:i}",
		    "pid", (int)pid), -1) == -1)
			fatal("fork server: cannot answer FORK");
	}
}
