/*
 * child: spawning, supervising and reaping sessiond and the workers.
 *
 * Each child walks the table-driven state machine below (states x events,
 * as s6-supervise does), and its state changes nowhere else.  An event with
 * no entry in the table is a protocol violation: the child is logged and
 * killed, the supervisor carries on.  What the child's life means to the
 * rest of the supervisor (a swap, a crash count, an admin request) is not
 * decided here: it is reported upward through sup->hooks.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

typedef void	(*child_action)(struct child *);

static void	ca_hello(struct child *);
static void	ca_spare(struct child *);
static void	ca_ready(struct child *);
static void	ca_failed(struct child *);
static void	ca_drained(struct child *);
static void	ca_timeout(struct child *);
static void	ca_exit(struct child *);
static void	ca_route(struct child *);
static void	ca_drain(struct child *);
static void	ca_shutdown(struct child *);
static void	ca_ignore(struct child *);

static const child_action child_fsm[CS__MAX][CE__MAX] = {
	[CS_SPAWNED] = {
		[CE_HELLO] = ca_hello,
		[CE_FAILED] = ca_failed,
		[CE_TIMEOUT] = ca_timeout,
		[CE_EXIT] = ca_exit,
		[CE_DRAIN] = ca_drain,
		[CE_SHUTDOWN] = ca_shutdown,
	},
	[CS_CONNECTING] = {
		[CE_READY] = ca_ready,
		[CE_FAILED] = ca_failed,
		[CE_TIMEOUT] = ca_timeout,
		[CE_EXIT] = ca_exit,
		[CE_DRAIN] = ca_drain,
		[CE_SHUTDOWN] = ca_shutdown,
	},
	[CS_READY] = {
		[CE_FAILED] = ca_failed,
		[CE_TIMEOUT] = ca_timeout,
		[CE_EXIT] = ca_exit,
		[CE_ROUTE] = ca_route,
		[CE_DRAIN] = ca_drain,
		[CE_SHUTDOWN] = ca_shutdown,
	},
	[CS_ACTIVE] = {
		[CE_FAILED] = ca_failed,
		[CE_TIMEOUT] = ca_timeout,	/* after our SIGTERM */
		[CE_EXIT] = ca_exit,
		[CE_DRAIN] = ca_drain,
		[CE_SHUTDOWN] = ca_shutdown,
	},
	[CS_DRAINING] = {
		[CE_READY] = NULL,	/* late READY of a cancelled candidate */
		[CE_FAILED] = ca_failed,
		[CE_DRAINED] = ca_drained,
		[CE_TIMEOUT] = ca_timeout,
		[CE_EXIT] = ca_exit,
		[CE_DRAIN] = ca_ignore,
		[CE_SHUTDOWN] = ca_shutdown,
	},
	[CS_SPARE] = {
		[CE_ADOPT] = ca_hello,
		[CE_FAILED] = ca_failed,
		[CE_EXIT] = ca_exit,
		[CE_DRAIN] = ca_shutdown,	/* nothing to drain */
		[CE_SHUTDOWN] = ca_shutdown,
	},
	[CS_EXITED] = { 0 },
};

static const char *const child_state_names[CS__MAX] = {
	"spawned", "connecting", "ready", "active", "draining", "spare",
	"exited"
};
static const char *const child_event_names[CE__MAX] = {
	"HELLO", "READY", "FAILED", "DRAINED", "timeout", "exit", "ROUTE",
	"DRAIN", "SHUTDOWN", "ADOPT"
};

static void	child_msg(struct ipc_chan *, struct ipc_msg *, void *);
static void	child_closed(struct ipc_chan *, const char *, void *);
static void	child_timer_cb(int, short, void *);
static void	child_exit_cb(pid_t, int, void *);

const char *
child_state_name(enum child_state s)
{
	return (s < CS__MAX ? child_state_names[s] : "?");
}

const char *
child_name(const struct child *c)
{
	if (c->role == ROLE_SESSIOND)
		return ("sessiond");
	return (c->bot != NULL ? c->bot->key : "spare");
}

static void
child_disarm(struct child *c)
{
	if (evtimer_del(c->timer) == -1)
		log_warnx("%s: cannot stop the timer of %s g%d", __func__,
		    child_name(c), c->gen);
}

static void
child_arm(struct child *c, int ms)
{
	child_disarm(c);
	if (util_timer_ms(c->timer, (uint64_t)ms) == -1)
		log_errorx("%s: cannot arm the timer of %s g%d: nothing will "
		    "time out for it", __func__, child_name(c), c->gen);
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

/* ------------------------------------------------------------ spawning */

/*
 * The first 12 hex digits of the SHA-256 of the binary at path, for logs
 * and ctl status (an upgrade shows).  Computed when the file changed since
 * the last spawn (device, inode, size, mtime), not for every spawn: a
 * worker's start-up does not read its own executable.
 */
void
child_binary_digest(const char *path, char out[13])
{
	static struct {
		char		path[4200];
		struct stat	st;
		char		digest[13];
	} cache[2];
	struct stat	 st;
	char		*buf, hex[65];
	size_t		 i, len;

	snprintf(out, 13, "unknown");
	if (stat(path, &st) == -1)
		return;
	for (i = 0; i < nitems(cache); i++)
		if (strcmp(cache[i].path, path) == 0)
			break;
	if (i == nitems(cache)) {
		for (i = 0; i < nitems(cache) && cache[i].path[0] != '\0'; i++)
			;
		if (i == nitems(cache))
			i = 0;
		snprintf(cache[i].path, sizeof(cache[i].path), "%s", path);
		cache[i].digest[0] = '\0';
	} else if (cache[i].digest[0] != '\0' &&
	    cache[i].st.st_dev == st.st_dev && cache[i].st.st_ino == st.st_ino &&
	    cache[i].st.st_size == st.st_size &&
	    cache[i].st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    cache[i].st.st_mtim.tv_nsec == st.st_mtim.tv_nsec) {
		memcpy(out, cache[i].digest, 13);
		return;
	}
	if ((buf = util_read_file(path, 256 * 1024 * 1024, &len)) == NULL)
		return;
	if (util_sha256_hex(buf, len, hex) == 0) {
		memcpy(cache[i].digest, hex, 12);
		cache[i].digest[12] = '\0';
		cache[i].st = st;
		memcpy(out, cache[i].digest, 13);
	}
	free(buf);
}

/*
 * Its argv (identity, never secrets) and our environment without
 * NOTIFY_SOCKET: only the supervisor talks to systemd.  Built before fork.
 */
/* The child's executable, beside our own; -1 if the path is too long. */
static int
child_path(const struct child *c, char *path, size_t len)
{
	size_t	n;

	n = (size_t)snprintf(path, len, "%s/%s", c->sup->exedir,
	    c->role == ROLE_SESSIOND ? "copilot-bridge-sessiond" :
	    "copilot-bridge-worker");
	return (n >= len ? -1 : 0);
}

/* Whether the binary on disk is still the one this child runs. */
int
child_binary_current(const struct child *c)
{
	char	path[4200], digest[13];

	if (child_path(c, path, sizeof(path)) == -1)
		return (0);
	child_binary_digest(path, digest);
	return (strcmp(digest, "unknown") != 0 &&
	    strcmp(digest, c->binary) == 0);
}

static int
child_exec(struct child *c, int chan)
{
	char		 path[4200], gen[16], room[200];
	const char	*name;
	char		*argv[6], **envp;
	struct spawn	 sp;
	int		 rc;

	if (child_path(c, path, sizeof(path)) == -1)
		return (-1);
	/* A worker is forked if it can be (a spare, named by its CONFIG). */
	if (c->role == ROLE_WORKER &&
	    (c->pid = forksrv_fork(c->sup, chan, path, c->binary)) > 0) {
		c->forked = 1;
		return (0);
	}
	if ((envp = spawn_env_without("NOTIFY_SOCKET")) == NULL)
		return (-1);
	name = strrchr(path, '/') + 1;
	snprintf(gen, sizeof(gen), "%d", c->gen);
	argv[0] = (char *)name;
	argv[1] = "-g";
	argv[2] = gen;
	argv[3] = NULL;
	argv[5] = NULL;
	if (c->bot != NULL) {
		argv[3] = "-b";
		argv[4] = c->bot->key;
	} else if (c->role == ROLE_WORKER) {
		/* A spare: room to rewrite its argv as "-g N -b BOT" later. */
		memset(room, ' ', sizeof(room) - 1);
		room[sizeof(room) - 1] = '\0';
		argv[3] = "-s";
		argv[4] = room;
	}
	memset(&sp, 0, sizeof(sp));
	sp.path = path;
	sp.argv = argv;
	sp.envp = envp;
	sp.chan = chan;
	/* A supervisor killed with SIGKILL must not leave orphans serving. */
	sp.deathsig = SIGTERM;
	rc = spawn_start(&sp);
	free(envp);
	c->pid = sp.pid;
	if (rc == 0 && c->role == ROLE_WORKER)
		child_binary_digest(path, c->binary);
	return (rc);
}

/* Its channel to us; a child we cannot talk to is killed at once. */
static void
child_open_chan(struct child *c, int fd)
{
	char	peer[160];

	c->chan = ipc_chan_new(c->sup->base, fd, child_name(c), child_msg,
	    child_closed, c);
	if (c->chan == NULL) {
		log_warnx("%s: cannot set up the channel of pid %ld", __func__,
		    (long)c->pid);
		(void)close(fd);
		child_kill(c, SIGKILL, "no channel");
		return;
	}
	snprintf(peer, sizeof(peer), "%s g%d", child_name(c), c->gen);
	ipc_chan_set_peer(c->chan, peer, c->pid);
}

static void
child_free(struct child *c)
{
	if (c->timer != NULL)
		event_free(c->timer);
	pidwatch_free(c->pw);
	free(c);
}

/*
 * Fork and exec a child from the directory of our own executable, so a
 * binary replaced on disk is what the next spawn runs.  Its channel is fd 3.
 */
struct child *
child_spawn(struct sup *sup, enum child_role role, struct bot *bot)
{
	struct child	*c;
	int		 sv[2];

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("%s: calloc", __func__);
		return (NULL);
	}
	c->sup = sup;
	c->role = role;
	c->bot = bot;
	c->gen = bot != NULL ? bot->last_gen + 1 : 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", __func__);
		free(c);
		return (NULL);
	}
	if ((c->timer = evtimer_new(sup->base, child_timer_cb, c)) == NULL ||
	    child_exec(c, sv[1]) == -1) {
		log_warnx("%s: cannot start %s", __func__, child_name(c));
		(void)close(sv[0]);
		(void)close(sv[1]);
		child_free(c);
		return (NULL);
	}
	(void)close(sv[1]);
	if ((c->pw = pidwatch_new(sup->base, c->pid, 0, child_exit_cb,
	    c)) == NULL) {
		/* Unwatched, it could never be reaped: take it back now. */
		(void)kill(c->pid, SIGKILL);
		(void)waitpid(c->pid, NULL, 0);
		(void)close(sv[0]);
		child_free(c);
		return (NULL);
	}
	if (bot != NULL)
		bot->last_gen = c->gen;
	c->state = CS_SPAWNED;
	c->spawned_ms = util_now_ms();
	TAILQ_INSERT_TAIL(&sup->children, c, entry);
	child_open_chan(c, sv[0]);
	child_arm(c, SUP_HELLO_TIMEOUT_MS);
	log_info("%s %s g%d pid %ld", c->forked ? "forked" : "spawned",
	    child_name(c), c->gen, (long)c->pid);
	return (c);
}

void
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

/*
 * Give a spare to bot b as its next generation: from here it is that bot's
 * worker.  An idle one gets its config now, as after a HELLO; one still
 * starting gets it at its HELLO.
 */
int
child_adopt(struct child *c, struct bot *b)
{
	char	peer[160];

	if ((c->state != CS_SPARE && c->state != CS_SPAWNED) || c->bot != NULL ||
	    c->chan == NULL)
		return (-1);
	c->bot = b;
	c->gen = b->last_gen + 1;
	b->last_gen = c->gen;
	c->spawned_ms = util_now_ms();
	snprintf(peer, sizeof(peer), "%s g%d", b->key, c->gen);
	ipc_chan_set_peer(c->chan, peer, c->pid);
	log_info("spare pid %ld adopted as %s g%d%s", (long)c->pid, b->key,
	    c->gen, c->state == CS_SPAWNED ? " (still starting)" : "");
	if (c->state == CS_SPARE)
		child_event(c, CE_ADOPT);
	return (0);
}

/* ------------------------------------------------------------ links */

/*
 * Give sessiond and a worker a private link, so inbound and outbound
 * traffic never passes through the supervisor.  Each gets one end with an
 * ATTACH message.
 */
void
child_attach(struct child *w)
{
	struct child	*s = w->sup->sessiond;
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

/*
 * Route the bot to this generation in sessiond.  The worker's post limit
 * goes with it, so sessiond holds no platform constant; an older worker
 * that did not say it gets none.
 */
void
child_route(struct child *w)
{
	struct child	*s = w->sup->sessiond;
	json_t		*body;

	if (s == NULL || s->state != CS_ACTIVE)
		return;
	body = json_pack("{s:s,s:i,s:s}", "bot", w->bot->key, "generation",
	    w->gen, "userId", w->user_id);
	if (body != NULL && w->post_max > 0 && json_object_set_new(body,
	    "postMax", json_integer(w->post_max)) == -1) {
		json_decref(body);
		body = NULL;
	}
	if (ipc_send(s->chan, IPC_ROUTE, body) == -1)
		log_warnx("%s: cannot route %s to g%d", __func__, w->bot->key,
		    w->gen);
}

/* sessiond (re)started: link and route every worker that is up. */
void
child_attach_all(struct sup *sup)
{
	struct child	*c;

	TAILQ_FOREACH(c, &sup->children, entry) {
		if (c->role != ROLE_WORKER || c->state == CS_SPAWNED ||
		    c->state == CS_SPARE || c->state == CS_EXITED)
			continue;
		child_attach(c);
		if (c->state == CS_ACTIVE)
			child_route(c);
	}
}

/* SIGUSR1 or ctl reopen-logs: our log, then every child's. */
void
child_reopen_logs(struct sup *sup)
{
	struct child	*c;

	if (log_reopen() == -1)
		log_warn("cannot reopen %s", log_path());
	TAILQ_FOREACH(c, &sup->children, entry)
		if (c->chan != NULL)
			(void)ipc_send(c->chan, IPC_LOG_REOPEN, json_object());
	log_info("logs reopened");
}

/* ------------------------------------------------------------ actions */

/* HELLO, or a spare's adoption: its config, with the bot it serves. */
static void
ca_hello(struct child *c)
{
	struct sup	*sup = c->sup;
	json_t		*conf;

	if (c->role == ROLE_WORKER && c->bot == NULL) {
		ca_spare(c);
		return;
	}
	conf = c->role == ROLE_SESSIOND ? project_sessiond(sup->cfg) :
	    project_worker(sup->cfg, c->bot->key);
	if (conf == NULL) {
		child_kill(c, SIGKILL, "no config for this child");
		return;
	}
	if (ipc_send(c->chan, IPC_CONFIG, json_pack("{s:o,s:i,s:s?}",
	    "config", conf, "generation", c->gen, "bot", c->bot != NULL ?
	    c->bot->key : NULL)) == -1) {
		child_kill(c, SIGKILL, "cannot send its config");
		return;
	}
	c->config_us = util_now_us();
	c->state = CS_CONNECTING;
	child_arm(c, c->role == ROLE_WORKER ? sup->cfg->reconnect_timeout_ms :
	    SUP_HELLO_TIMEOUT_MS);
	if (c->role == ROLE_WORKER)
		child_attach(c);
}

/* A spare waits, without a timer, for a bot to need it. */
static void
ca_spare(struct child *c)
{
	child_disarm(c);
	c->state = CS_SPARE;
	log_info("spare worker pid %ld up in %llu ms (binary %s)",
	    (long)c->pid, (unsigned long long)(util_now_ms() - c->spawned_ms),
	    c->binary);
}

/* sessiond serves at once; a worker waits for its ROUTE. */
static void
ca_ready(struct child *c)
{
	child_disarm(c);
	c->ready_ms = util_now_ms();
	log_info("%s g%d pid %ld ready in %llu ms (config %.8s, binary %s)",
	    child_name(c), c->gen, (long)c->pid,
	    (unsigned long long)(c->ready_ms - c->spawned_ms), c->hash,
	    c->binary[0] != '\0' ? c->binary : "-");
	c->state = c->role == ROLE_SESSIOND ? CS_ACTIVE : CS_READY;
	c->sup->hooks->ready(c);
}

static void
ca_route(struct child *c)
{
	c->state = CS_ACTIVE;
	child_route(c);
}

static void
ca_failed(struct child *c)
{
	log_warnx("%s g%d pid %ld failed: %s", child_name(c), c->gen,
	    (long)c->pid, c->reason);
	c->sup->hooks->failed(c);
	child_kill(c, SIGTERM, NULL);
}

static void
ca_drained(struct child *c)
{
	c->drained_us = util_now_us();
	log_info("%s g%d pid %ld drained", child_name(c), c->gen, (long)c->pid);
	child_arm(c, SUP_EXIT_GRACE_MS);
	c->sup->hooks->drained(c);
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
		    c->role == ROLE_WORKER ?
		    c->sup->cfg->reconnect_timeout_ms : SUP_HELLO_TIMEOUT_MS);
		break;
	default:
		child_kill(c, SIGKILL, "did not exit in time");
		return;
	}
	snprintf(c->reason, sizeof(c->reason), "%s", why);
	ca_failed(c);
}

/* Stop reading events, finish what it holds, then exit. */
static void
ca_drain(struct child *c)
{
	int	ms = c->sup->cfg->drain_timeout_ms;

	c->expected = 1;
	c->state = CS_DRAINING;
	if (ipc_send(c->chan, IPC_DRAIN, json_pack("{s:i}", "timeoutMs",
	    ms)) == -1)
		child_kill(c, SIGTERM, NULL);
	child_arm(c, ms + SUP_EXIT_GRACE_MS);
}

/* Stop now; it is reaped when it exits or killed by its timer. */
static void
ca_shutdown(struct child *c)
{
	c->expected = 1;
	c->state = CS_DRAINING;
	if (ipc_send(c->chan, IPC_SHUTDOWN, json_object()) == -1)
		child_kill(c, SIGTERM, NULL);
	child_arm(c, SUP_SHUTDOWN_MS);
}

static void
ca_ignore(struct child *c)
{
}

static void
ca_exit(struct child *c)
{
	struct sup	*sup = c->sup;

	c->state = CS_EXITED;
	child_disarm(c);
	TAILQ_REMOVE(&sup->children, c, entry);
	if (c->chan != NULL) {
		ipc_chan_free(c->chan);
		c->chan = NULL;
	}
	sup->hooks->exited(c);
	child_free(c);
}

/* ------------------------------------------------------------ events */

static void
child_timer_cb(int fd, short ev, void *arg)
{
	child_event(arg, CE_TIMEOUT);
}

/* A duration a child reports, in µs: 0 if absent or nonsense. */
static uint64_t
child_us(const json_t *body, const char *key)
{
	json_int_t	n = jx_int(body, key, 0);

	return (n > 0 && n < 3600LL * 1000000 ? (uint64_t)n : 0);
}

/* The lifecycle messages; the others are the upper layers' business. */
static void
child_msg(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct child	*c = arg;
	const char	*want = c->role == ROLE_SESSIOND ? "sessiond" : "worker";
	json_int_t	 n;

	switch (m->hdr.type) {
	case IPC_HELLO:
		if (jx_int(m->body, "proto", -1) != IPC_VERSION ||
		    strcmp(jx_stre(m->body, "role"), want) != 0) {
			log_warnx("%s: HELLO with protocol %lld role %s; "
			    "expected %d %s", ipc_chan_peer(ch),
			    (long long)jx_int(m->body, "proto", -1),
			    jx_stre(m->body, "role"), IPC_VERSION, want);
			child_kill(c, SIGKILL, "protocol mismatch");
			return;
		}
		child_event(c, CE_HELLO);
		return;
	case IPC_READY:
		snprintf(c->hash, sizeof(c->hash), "%s", jx_stre(m->body,
		    "hash"));
		snprintf(c->user_id, sizeof(c->user_id), "%s",
		    jx_stre(m->body, "userId"));
		n = jx_int(m->body, "postMax", 0);
		c->post_max = n > 0 && n <= IPC_BODY_MAX ? (int)n : 0;
		c->start_us = child_us(m->body, "startUs");
		c->connect_us = child_us(m->body, "connectUs");
		child_event(c, CE_READY);
		return;
	case IPC_FAILED:
		snprintf(c->reason, sizeof(c->reason), "%s", jx_stre(m->body,
		    "reason"));
		child_event(c, CE_FAILED);
		return;
	case IPC_DRAINED:
		child_event(c, CE_DRAINED);
		return;
	}
	if (c->sup->hooks->msg(c, m) == -1) {
		log_warnx("%s: unexpected %s; closing the channel",
		    ipc_chan_peer(ch), ipc_type_name(m->hdr.type));
		child_kill(c, SIGKILL, "unexpected message");
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

	if (status == -1)
		snprintf(st, sizeof(st), "reaped elsewhere");
	else if (WIFEXITED(status))
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

/* Its pidwatch reaped it. */
static void
child_exit_cb(pid_t pid, int status, void *arg)
{
	struct child	*c = arg;

	child_describe_exit(c, status);
	child_event(c, CE_EXIT);
}
