/*
 * forksrv: our side of the fork server (worker/forksrv.c), one process of
 * the worker binary from which the workers are forked, so that they share
 * its libraries' relocated and initialised pages instead of each making
 * its own (see "The fork server" in docs/architecture.md).
 *
 * It is a saving, never a dependency: when it is not there, not ready yet,
 * runs another binary than the one on disk, or fails to answer, the worker
 * is exec'd as before (child.c) and the fork server is started again, no
 * sooner than its backoff allows.  The exchange is synchronous and short:
 * one FORK with the worker's channel, one FORKED with its pid (two forks in
 * the server), bounded by FORKSRV_TIMEOUT_MS.
 *
 * The forked worker becomes our child through PR_SET_CHILD_SUBREAPER, so
 * its pidwatch and signals are those of any child (and orphans of our
 * other descendants are ours to reap: main.c).
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/pidwatch.h"
#include "common/spawn.h"
#include "common/util.h"
#include "supervisor.h"

/*
 * FORK to FORKED, else it is stopped.  Our loop waits meanwhile: the two
 * forks take well under a millisecond, so this is for a hung server only.
 */
#define FORKSRV_TIMEOUT_MS	250
#define FORKSRV_START_MS	2000	/* at our start, for its HELLO */

struct forksrv {
	struct sup	*sup;
	pid_t		 pid;
	int		 fd;		/* our end of its channel; -1 once stopped */
	int		 ready;		/* it said HELLO */
	struct pidwatch	*pw;
	char		 binary[13];	/* digest of the binary it runs */
};

/*
 * Stop it: with its channel closed it exits; sig, if not 0, hastens it.
 * One that failed is not started again before its backoff has passed.
 */
static void
forksrv_stop(struct forksrv *f, int sig, int failed, const char *why)
{
	struct sup	*sup = f->sup;

	if (sup->forksrv == f)
		sup->forksrv = NULL;
	if (f->fd == -1)
		return;
	if (failed) {
		log_warnx("fork server pid %ld stopped: %s; workers are exec'd "
		    "until another is ready", (long)f->pid, why);
		sup->forksrv_next_ms = util_now_ms() +
		    backoff_next(&sup->forksrv_backoff);
	} else
		log_info("fork server pid %ld stopped: %s", (long)f->pid, why);
	(void)close(f->fd);
	f->fd = -1;
	if (sig != 0 && kill(f->pid, sig) == -1 && errno != ESRCH)
		log_warn("%s: kill %ld", __func__, (long)f->pid);
}

static void
forksrv_exit_cb(pid_t pid, int status, void *arg)
{
	struct forksrv	*f = arg;
	char		 why[64];

	snprintf(why, sizeof(why), "exited (status 0x%x)", status);
	forksrv_stop(f, 0, !f->sup->shutting_down, why);
	pidwatch_free(f->pw);
	free(f);
}

/* Start one, unless there is one, we stop, or its backoff has not passed. */
static void
forksrv_start(struct sup *sup)
{
	struct forksrv	*f;
	struct spawn	 sp;
	char		 path[4200], room[200], **envp;
	char		*argv[] = { "copilot-bridge-worker", "-g", "0", "-z", room,
			    NULL };
	int		 sv[2];

	if (!sup->subreaper || sup->forksrv != NULL || sup->shutting_down ||
	    util_now_ms() < sup->forksrv_next_ms)
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/copilot-bridge-worker",
	    sup->exedir) >= sizeof(path))
		return;
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		log_warn("%s: calloc", __func__);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", __func__);
		free(f);
		return;
	}
	if ((envp = spawn_env_without("NOTIFY_SOCKET")) == NULL) {
		(void)close(sv[0]);
		(void)close(sv[1]);
		free(f);
		return;
	}
	/* Room for each worker's "-g N -b BOT", as a spare's (child.c). */
	memset(room, ' ', sizeof(room) - 1);
	room[sizeof(room) - 1] = '\0';
	memset(&sp, 0, sizeof(sp));
	sp.path = path;
	sp.argv = argv;
	sp.envp = envp;
	sp.chan = sv[1];
	sp.deathsig = SIGTERM;
	child_binary_digest(path, f->binary);
	if (spawn_start(&sp) == -1) {
		free(envp);
		(void)close(sv[0]);
		(void)close(sv[1]);
		free(f);
		return;
	}
	free(envp);
	(void)close(sv[1]);
	f->sup = sup;
	f->pid = sp.pid;
	f->fd = sv[0];
	if ((f->pw = pidwatch_new(sup->base, f->pid, 0, forksrv_exit_cb,
	    f)) == NULL) {
		(void)kill(f->pid, SIGKILL);
		(void)close(f->fd);
		free(f);
		return;
	}
	sup->forksrv = f;
	log_info("fork server pid %ld started (binary %s)", (long)f->pid,
	    f->binary);
}

/* Whether its HELLO came, waiting at most wait_ms for it. */
static int
forksrv_ready(struct forksrv *f, int wait_ms)
{
	struct ipc_msg	m;
	char		why[256];
	int		r;

	if (f->ready)
		return (1);
	if ((r = ipc_read_msg(f->fd, wait_ms, &m, why, sizeof(why))) == 0)
		return (0);
	if (r == 1 && (m.hdr.type != IPC_HELLO ||
	    strcmp(jx_stre(m.body, "role"), "forksrv") != 0)) {
		snprintf(why, sizeof(why), "%s instead of its HELLO",
		    ipc_type_name(m.hdr.type));
		r = -1;
	}
	if (r == 1)
		ipc_msg_clear(&m);
	if (r == -1) {
		forksrv_stop(f, SIGKILL, 1, why);
		return (0);
	}
	f->ready = 1;
	backoff_reset(&f->sup->forksrv_backoff);
	return (1);
}

/*
 * At start-up: become a subreaper and start the fork server, waiting a
 * little for it so the first workers are forked too.  Without it (an old
 * kernel) every worker is exec'd.
 */
void
forksrv_init(struct sup *sup)
{
	backoff_init(&sup->forksrv_backoff, SUP_BACKOFF_BASE_MS,
	    SUP_BACKOFF_MAX_MS);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
		log_warn("cannot become a subreaper; workers are exec'd");
		return;
	}
	sup->subreaper = 1;
	forksrv_start(sup);
	if (sup->forksrv != NULL)
		(void)forksrv_ready(sup->forksrv, FORKSRV_START_MS);
}

/* Its line in `ctl status`. */
void
forksrv_status(struct sup *sup, FILE *f)
{
	struct forksrv	*fs = sup->forksrv;

	if (fs == NULL)
		fprintf(f, "fork server: none, workers are exec'd\n");
	else
		fprintf(f, "fork server pid %ld, %s, binary %s\n", (long)fs->pid,
		    fs->ready ? "ready" : "starting", fs->binary);
}

void
forksrv_shutdown(struct sup *sup)
{
	if (sup->forksrv != NULL)
		forksrv_stop(sup->forksrv, 0, 0, "shutting down");
}

/*
 * A worker forked for channel chan (which it gets as its fd 3) from the
 * fork server running the binary at path: its pid, with the binary's
 * digest in binary; or -1, and the caller execs it.
 */
pid_t
forksrv_fork(struct sup *sup, int chan, const char *path, char binary[13])
{
	struct forksrv	*f = sup->forksrv;
	struct ipc_msg	 m;
	char		 disk[13], why[256];
	long		 pid;
	int		 r;

	if (f == NULL) {
		forksrv_start(sup);
		return (-1);
	}
	if (!forksrv_ready(f, 0))
		return (-1);
	child_binary_digest(path, disk);
	if (strcmp(disk, f->binary) != 0) {
		forksrv_stop(f, 0, 0, "its binary was replaced");
		forksrv_start(sup);
		return (-1);
	}
	if (ipc_write_msg(f->fd, IPC_FORK, json_pack("{s:i}", "parent",
	    (int)getpid()), chan) == -1) {
		forksrv_stop(f, SIGKILL, 1, "cannot send FORK");
		return (-1);
	}
	r = ipc_read_msg(f->fd, FORKSRV_TIMEOUT_MS, &m, why, sizeof(why));
	if (r == 0)
		snprintf(why, sizeof(why), "no answer in %d ms",
		    FORKSRV_TIMEOUT_MS);
	else if (r == 1 && m.hdr.type != IPC_FORKED) {
		snprintf(why, sizeof(why), "%s instead of FORKED",
		    ipc_type_name(m.hdr.type));
		ipc_msg_clear(&m);
		r = -1;
	}
	if (r != 1) {
		forksrv_stop(f, SIGKILL, 1, why);
		return (-1);
	}
	pid = (long)jx_int(m.body, "pid", -1);
	ipc_msg_clear(&m);
	if (pid <= 0) {
		log_warnx("fork server pid %ld could not fork a worker",
		    (long)f->pid);
		return (-1);
	}
	memcpy(binary, f->binary, 13);
	return ((pid_t)pid);
}
