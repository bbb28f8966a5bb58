/*
 * child: spawning, supervising and reaping sessiond and the workers.
 *
 * Each child walks the table-driven state machine below (states x events,
 * as s6-supervise does).  An event with no entry in the table is a protocol
 * violation: the child is logged and killed, the supervisor carries on.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor.h"

typedef void	(*child_action)(struct child *);

static void	ca_hello(struct child *);
static void	ca_ready(struct child *);
static void	ca_failed(struct child *);
static void	ca_drained(struct child *);
static void	ca_timeout(struct child *);
static void	ca_exit(struct child *);

static const child_action child_fsm[CS__MAX][CE__MAX] = {
	[CS_SPAWNED] = {
		[CE_HELLO] = ca_hello,
		[CE_FAILED] = ca_failed,
		[CE_TIMEOUT] = ca_timeout,
		[CE_EXIT] = ca_exit,
	},
	[CS_CONNECTING] = {
		[CE_READY] = ca_ready,
		[CE_FAILED] = ca_failed,
		[CE_TIMEOUT] = ca_timeout,
		[CE_EXIT] = ca_exit,
	},
	[CS_READY] = {
		[CE_FAILED] = ca_failed,
		[CE_TIMEOUT] = ca_timeout,
		[CE_EXIT] = ca_exit,
	},
	[CS_ACTIVE] = {
		[CE_FAILED] = ca_failed,
		[CE_EXIT] = ca_exit,
	},
	[CS_DRAINING] = {
		[CE_READY] = NULL,	/* late READY of a cancelled candidate */
		[CE_FAILED] = ca_failed,
		[CE_DRAINED] = ca_drained,
		[CE_TIMEOUT] = ca_timeout,
		[CE_EXIT] = ca_exit,
	},
	[CS_EXITED] = { 0 },
};

static const char *const child_state_names[CS__MAX] = {
	"spawned", "connecting", "ready", "active", "draining", "exited"
};
static const char *const child_event_names[CE__MAX] = {
	"HELLO", "READY", "FAILED", "DRAINED", "timeout", "exit"
};

static void	child_msg(struct ipc_chan *, struct ipc_msg *, void *);
static void	child_closed(struct ipc_chan *, const char *, void *);
static void	child_timer_cb(int, short, void *);
static void	child_kill(struct child *, int sig, const char *why);

const char *
child_state_name(enum child_state s)
{
	return (s < CS__MAX ? child_state_names[s] : "?");
}

static const char *
child_name(const struct child *c)
{
	return (c->role == ROLE_SESSIOND ? "sessiond" : c->bot->key);
}

static void
child_arm(struct child *c, int ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_del(c->timer);
	if (evtimer_add(c->timer, &tv) == -1)
		log_warnx("%s: cannot arm timer for %s", __func__, child_name(c));
}

void
child_event(struct child *c, enum child_event ev)
{
	child_action	fn = child_fsm[c->state][ev];

	log_debug("%s g%d pid %ld: %s in state %s", child_name(c), c->gen,
	    (long)c->pid, child_event_names[ev], child_state_names[c->state]);
	if (fn != NULL) {
		fn(c);
		return;
	}
	if (c->state == CS_EXITED)
		return;
	log_warnx("%s g%d pid %ld: unexpected %s in state %s; killing it",
	    child_name(c), c->gen, (long)c->pid, child_event_names[ev],
	    child_state_names[c->state]);
	child_kill(c, SIGKILL, "protocol violation");
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void
child_exec(const char *path, int fd, char *const argv[])
{
	sigset_t	all;

	if (fd == IPC_CHILD_FD) {
		if (util_set_cloexec(fd, 0) == -1)
			_exit(126);
	} else if (dup2(fd, IPC_CHILD_FD) == -1)
		_exit(126);
	/* A supervisor killed with SIGKILL must not leave orphans serving. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(126);
	(void)sigemptyset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
	(void)signal(SIGPIPE, SIG_DFL);
	(void)unsetenv("NOTIFY_SOCKET");	/* only the supervisor talks to systemd */
	execv(path, argv);
	_exit(127);
}

/*
 * Fork and exec a child from the directory of our own executable, so a
 * binary replaced on disk is what the next spawn runs.  Its channel is fd 3;
 * its identity (not its secrets) is in argv.
 */
struct child *
child_spawn(enum child_role role, struct bot *bot)
{
	struct child	*c;
	char		 path[4200], gen[16];
	char		*argv[6];
	int		 sv[2];
	pid_t		 pid;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("%s: calloc", __func__);
		return (NULL);
	}
	c->role = role;
	c->bot = bot;
	c->gen = bot != NULL ? ++bot->last_gen : 0;
	snprintf(path, sizeof(path), "%s/%s", sup->exedir,
	    role == ROLE_SESSIOND ? "copilot-bridge-sessiond" :
	    "copilot-bridge-worker");
	snprintf(gen, sizeof(gen), "%d", c->gen);
	argv[0] = role == ROLE_SESSIOND ? "copilot-bridge-sessiond" :
	    "copilot-bridge-worker";
	argv[1] = "-g";
	argv[2] = gen;
	argv[3] = bot != NULL ? "-b" : NULL;
	argv[4] = bot != NULL ? bot->key : NULL;
	argv[5] = NULL;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", __func__);
		free(c);
		return (NULL);
	}
	if ((c->timer = evtimer_new(sup->base, child_timer_cb, c)) == NULL) {
		log_warnx("%s: evtimer_new", __func__);
		goto fail;
	}
	switch (pid = fork()) {
	case -1:
		log_warn("%s: fork", __func__);
		goto fail;
	case 0:
		child_exec(path, sv[1], argv);
		/* NOTREACHED */
	}
	(void)close(sv[1]);
	sv[1] = -1;
	c->pid = pid;
	c->state = CS_SPAWNED;
	c->spawned_ms = util_now_ms();
	c->chan = ipc_chan_new(sup->base, sv[0], child_name(c), child_msg,
	    child_closed, c);
	if (c->chan == NULL) {
		log_warnx("%s: cannot set up the channel of pid %ld", __func__,
		    (long)pid);
		(void)close(sv[0]);
		(void)kill(pid, SIGKILL);
	} else {
		char	peer[160];

		snprintf(peer, sizeof(peer), "%s g%d", child_name(c), c->gen);
		ipc_chan_set_peer(c->chan, peer, pid);
	}
	TAILQ_INSERT_TAIL(&sup->children, c, entry);
	child_arm(c, SUP_HELLO_TIMEOUT_MS);
	log_info("spawned %s g%d pid %ld", child_name(c), c->gen, (long)pid);
	return (c);
fail:
	(void)close(sv[0]);
	if (sv[1] != -1)
		(void)close(sv[1]);
	if (c->timer != NULL)
		event_free(c->timer);
	if (bot != NULL)
		bot->last_gen--;
	free(c);
	return (NULL);
}

static void
child_kill(struct child *c, int sig, const char *why)
{
	if (c->state == CS_EXITED || c->pid <= 0)
		return;
	if (why != NULL && c->reason[0] == '\0')
		snprintf(c->reason, sizeof(c->reason), "%s", why);
	if (sig == SIGKILL)
		c->killed = 1;
	if (kill(c->pid, sig) == -1 && errno != ESRCH)
		log_warn("%s: kill %ld", __func__, (long)c->pid);
	if (sig != SIGKILL)
		child_arm(c, SUP_EXIT_GRACE_MS);
}

/* Tell a child to stop; it is reaped by SIGCHLD or killed by its timer. */
void
child_send_shutdown(struct child *c)
{
	if (c->state == CS_EXITED)
		return;
	c->expected = 1;
	c->state = CS_DRAINING;
	if (ipc_send(c->chan, IPC_SHUTDOWN, json_object()) == -1)
		child_kill(c, SIGTERM, NULL);
	child_arm(c, SUP_SHUTDOWN_MS);
}

/* Make a worker stop reading events and finish what it holds, then exit. */
void
child_drain(struct child *c)
{
	int	ms = sup->cfg->drain_timeout_ms;

	if (c->state == CS_EXITED || c->state == CS_DRAINING)
		return;
	c->expected = 1;
	c->state = CS_DRAINING;
	if (ipc_send(c->chan, IPC_DRAIN, json_pack("{s:i}", "timeoutMs", ms)) == -1)
		child_kill(c, SIGTERM, NULL);
	child_arm(c, ms + SUP_EXIT_GRACE_MS);
}

/*
 * Give sessiond and a worker a private link, so inbound and outbound
 * traffic never passes through the supervisor.  Each gets one end with an
 * ATTACH message.
 */
void
child_attach(struct child *w)
{
	struct child	*s = sup->sessiond;
	int		 sv[2];

	if (s == NULL || s->state != CS_ACTIVE || w->chan == NULL)
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair for %s", __func__, w->bot->key);
		return;
	}
	if (ipc_send_fd(s->chan, IPC_ATTACH, json_pack("{s:s,s:i}", "bot",
	    w->bot->key, "generation", w->gen), sv[0]) == -1 ||
	    ipc_send_fd(w->chan, IPC_ATTACH, json_pack("{s:s,s:i}", "bot",
	    w->bot->key, "generation", w->gen), sv[1]) == -1)
		log_warnx("%s: cannot attach %s g%d", __func__, w->bot->key,
		    w->gen);
	(void)close(sv[0]);
	(void)close(sv[1]);
}

void
child_route(struct child *w)
{
	if (sup->sessiond == NULL || sup->sessiond->state != CS_ACTIVE)
		return;
	(void)ipc_send(sup->sessiond->chan, IPC_ROUTE, json_pack("{s:s,s:i,s:s}",
	    "bot", w->bot->key, "generation", w->gen, "userId", w->user_id));
}

/* sessiond (re)started: link and route every worker that is up. */
void
child_attach_all(void)
{
	struct child	*c;

	TAILQ_FOREACH(c, &sup->children, entry) {
		if (c->role != ROLE_WORKER || c->state == CS_SPAWNED ||
		    c->state == CS_EXITED)
			continue;
		child_attach(c);
		if (c->state == CS_ACTIVE)
			child_route(c);
	}
}

static json_t *
child_config(struct child *c)
{
	const struct cfg_bot	*b;

	if (c->role == ROLE_SESSIOND)
		return (reload_sessiond_config(sup->cfg));
	if ((b = cfg_find_bot(sup->cfg, c->bot->key)) == NULL)
		return (NULL);
	return (cfg_worker_json(sup->cfg, b));
}

static void
ca_hello(struct child *c)
{
	json_t	*conf;

	if ((conf = child_config(c)) == NULL) {
		child_kill(c, SIGKILL, "no config for this child");
		return;
	}
	if (ipc_send(c->chan, IPC_CONFIG, json_pack("{s:o,s:i}", "config",
	    conf, "generation", c->gen)) == -1) {
		child_kill(c, SIGKILL, "cannot send its config");
		return;
	}
	c->state = CS_CONNECTING;
	child_arm(c, c->role == ROLE_WORKER ? sup->cfg->reconnect_timeout_ms :
	    SUP_HELLO_TIMEOUT_MS);
	if (c->role == ROLE_WORKER)
		child_attach(c);
}

static void
ca_ready(struct child *c)
{
	evtimer_del(c->timer);
	c->ready_ms = util_now_ms();
	log_info("%s g%d pid %ld ready in %llu ms (config %.8s, binary %s)",
	    child_name(c), c->gen, (long)c->pid,
	    (unsigned long long)(c->ready_ms - c->spawned_ms), c->hash,
	    c->binary[0] != '\0' ? c->binary : "-");
	if (c->role == ROLE_SESSIOND) {
		c->state = CS_ACTIVE;
		backoff_reset(&sup->sess_backoff);
		child_attach_all();
		return;
	}
	if (c->bot->candidate == c) {
		c->state = CS_READY;
		swap_child_ready(c);
		return;
	}
	c->state = CS_ACTIVE;
	c->bot->up_ms = c->ready_ms;
	child_route(c);
}

static void
ca_failed(struct child *c)
{
	log_warnx("%s g%d pid %ld failed: %s", child_name(c), c->gen,
	    (long)c->pid, c->reason);
	if (c->role == ROLE_WORKER && c->bot->candidate == c)
		swap_child_failed(c, c->reason);
	child_kill(c, SIGTERM, NULL);
}

static void
ca_drained(struct child *c)
{
	log_info("%s g%d pid %ld drained", child_name(c), c->gen, (long)c->pid);
	child_arm(c, SUP_EXIT_GRACE_MS);
}

static void
ca_timeout(struct child *c)
{
	char	why[128];

	switch (c->state) {
	case CS_SPAWNED:
		snprintf(why, sizeof(why), "no HELLO within %d ms",
		    SUP_HELLO_TIMEOUT_MS);
		break;
	case CS_CONNECTING:
		snprintf(why, sizeof(why), "not ready within %d ms",
		    c->role == ROLE_WORKER ? sup->cfg->reconnect_timeout_ms :
		    SUP_HELLO_TIMEOUT_MS);
		break;
	default:
		child_kill(c, SIGKILL, "did not exit in time");
		return;
	}
	snprintf(c->reason, sizeof(c->reason), "%s", why);
	ca_failed(c);
}

/* The bot's worker died without being asked: count it and maybe restart. */
static void
bot_crashed(struct bot *b, struct child *c)
{
	uint64_t	now = util_now_ms();
	unsigned int	i, recent = 0;
	uint32_t	delay;
	struct timeval	tv;

	b->restarts++;
	b->crashes[b->ncrashes++ % SUP_CRASH_MAX] = now;
	for (i = 0; i < SUP_CRASH_MAX && i < b->ncrashes; i++)
		if (now - b->crashes[i] < SUP_CRASH_WINDOW_MS)
			recent++;
	if (recent >= SUP_CRASH_MAX) {
		b->failed = 1;
		log_errorx("%s: FAILED: %u crashes within %d minutes (last: %s); "
		    "not restarting until /reload bot %s", b->key, recent,
		    SUP_CRASH_WINDOW_MS / 60000, c->reason, b->key);
		return;
	}
	delay = backoff_next(&b->backoff);
	log_warnx("%s g%d pid %ld exited unexpectedly (%s); restarting in %u ms",
	    b->key, c->gen, (long)c->pid, c->reason, delay);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	if (b->restart_ev != NULL)
		evtimer_add(b->restart_ev, &tv);
}

static void
sessiond_crashed(struct child *c)
{
	uint32_t	delay = backoff_next(&sup->sess_backoff);
	struct timeval	tv = { delay / 1000, (delay % 1000) * 1000 };

	log_errorx("sessiond pid %ld exited unexpectedly (%s); restarting in %u ms",
	    (long)c->pid, c->reason, delay);
	evtimer_add(sup->sess_restart_ev, &tv);
}

static void
ca_exit(struct child *c)
{
	struct bot	*b = c->bot;
	int		 was_candidate, was_active;

	c->state = CS_EXITED;
	evtimer_del(c->timer);
	TAILQ_REMOVE(&sup->children, c, entry);
	if (c->chan != NULL) {
		ipc_chan_free(c->chan);
		c->chan = NULL;
	}
	if (c->role == ROLE_SESSIOND) {
		if (sup->sessiond == c)
			sup->sessiond = NULL;
		if (!c->expected && !sup->shutting_down)
			sessiond_crashed(c);
	} else {
		was_candidate = b->candidate == c;
		was_active = b->active == c;
		if (was_candidate)
			b->candidate = NULL;
		if (was_active)
			b->active = NULL;
		swap_child_exited(c);
		if (!c->expected && !sup->shutting_down && !was_candidate)
			bot_crashed(b, c);
		else
			log_info("%s g%d pid %ld exited (%s)", b->key, c->gen,
			    (long)c->pid, c->reason);
		if (!b->in_config && b->active == NULL && b->candidate == NULL &&
		    b->swap == NULL && !sup->shutting_down) {
			TAILQ_REMOVE(&sup->bots, b, entry);
			bot_free(b);
		}
	}
	event_free(c->timer);
	free(c);
	if (sup->shutting_down && TAILQ_EMPTY(&sup->children))
		event_base_loopexit(sup->base, NULL);
}

static void
child_timer_cb(int fd, short ev, void *arg)
{
	child_event(arg, CE_TIMEOUT);
}

static void
child_msg(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct child	*c = arg;
	struct bot	*b;
	const char	*s;

	switch (m->hdr.type) {
	case IPC_HELLO:
		s = json_string_value(json_object_get(m->body, "role"));
		if (json_integer_value(json_object_get(m->body, "proto")) !=
		    IPC_VERSION || strcmp(s, c->role == ROLE_SESSIOND ?
		    "sessiond" : "worker") != 0) {
			log_warnx("%s: HELLO with protocol %lld role %s; "
			    "expected %d %s", ipc_chan_peer(ch),
			    json_integer_value(json_object_get(m->body, "proto")),
			    s, IPC_VERSION, c->role == ROLE_SESSIOND ?
			    "sessiond" : "worker");
			child_kill(c, SIGKILL, "protocol mismatch");
			return;
		}
		child_event(c, CE_HELLO);
		break;
	case IPC_READY:
		snprintf(c->hash, sizeof(c->hash), "%s",
		    json_string_value(json_object_get(m->body, "hash")));
		s = json_string_value(json_object_get(m->body, "userId"));
		snprintf(c->user_id, sizeof(c->user_id), "%s", s != NULL ? s : "");
		s = json_string_value(json_object_get(m->body, "binary"));
		snprintf(c->binary, sizeof(c->binary), "%s", s != NULL ? s : "-");
		child_event(c, CE_READY);
		break;
	case IPC_FAILED:
		snprintf(c->reason, sizeof(c->reason), "%s",
		    json_string_value(json_object_get(m->body, "reason")));
		child_event(c, CE_FAILED);
		break;
	case IPC_DRAINED:
		child_event(c, CE_DRAINED);
		break;
	case IPC_SWAP_STATS:
		if (c->role != ROLE_SESSIOND)
			goto unexpected;
		if ((b = bot_find(json_string_value(json_object_get(m->body,
		    "bot")))) != NULL) {
			b->swap_dups = (unsigned int)json_integer_value(
			    json_object_get(m->body, "dups"));
			b->swap_resent = (unsigned int)json_integer_value(
			    json_object_get(m->body, "resent"));
		}
		break;
	case IPC_ADMIN_REQUEST:
		if (c->role != ROLE_SESSIOND)
			goto unexpected;
		admin_request(m);
		break;
	case IPC_HOOKS_RESULT:
		if (c->role != ROLE_SESSIOND)
			goto unexpected;
		control_hooks_result(m);
		break;
	case IPC_RELINK:
		/* Its sessiond link closed while sessiond lives on: relink. */
		if (c->role != ROLE_WORKER)
			goto unexpected;
		log_info("%s g%d asks for a new sessiond link", c->bot->key,
		    c->gen);
		child_attach(c);
		if (c->state == CS_ACTIVE)
			child_route(c);
		break;
	default:
	unexpected:
		log_warnx("%s: unexpected %s; closing the channel",
		    ipc_chan_peer(ch), ipc_type_name(m->hdr.type));
		child_kill(c, SIGKILL, "unexpected message");
		break;
	}
}

/*
 * The channel is gone.  A child we cannot talk to cannot be supervised, so
 * unless it is on its way out anyway, it is stopped (and then restarted).
 */
static void
child_closed(struct ipc_chan *ch, const char *why, void *arg)
{
	struct child	*c = arg;

	ipc_chan_free(ch);
	c->chan = NULL;
	if (c->state != CS_DRAINING && c->state != CS_EXITED)
		child_kill(c, SIGTERM, why);
}

static void
child_describe_exit(struct child *c, int status)
{
	char	st[96];
	size_t	n;

	if (WIFEXITED(status))
		snprintf(st, sizeof(st), "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(st, sizeof(st), "killed by signal %d%s",
		    WTERMSIG(status), c->killed ? " (by us)" : "");
	else
		snprintf(st, sizeof(st), "status 0x%x", status);
	n = strlen(c->reason);
	snprintf(c->reason + n, sizeof(c->reason) - n, "%s%s",
	    n > 0 ? "; " : "", st);
}

/* SIGCHLD: reap every exited child. */
void
child_reap(void)
{
	struct child	*c;
	pid_t		 pid;
	int		 status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		TAILQ_FOREACH(c, &sup->children, entry)
			if (c->pid == pid)
				break;
		if (c == NULL) {
			log_debug("%s: reaped unknown pid %ld", __func__,
			    (long)pid);
			continue;
		}
		child_describe_exit(c, status);
		child_event(c, CE_EXIT);
	}
}
