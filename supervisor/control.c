/*
 * control: the control socket behind `copilot-bridge ctl`.
 *
 * A client sends one JSON line {"cmd": ..., "arg": ...} and gets one JSON
 * line {"ok": bool, "text": ...} back, possibly later (reload-bot waits for
 * the swap, reload-platform for every swap of the platform's bots).  The
 * socket is mode 0600 and the peer's uid is checked with SO_PEERCRED: only
 * our own user (or root) may drive the bridge.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor.h"

#define CTL_LINE_MAX	4096

#define CTL_HOOKS_MS	10000	/* sessiond answers a reload-hooks at once */

struct ctl_conn {
	struct control		*ctl;
	struct bufferevent	*bev;
	int			 waiting;	/* an async reply is pending */
	int			 replied;	/* reply queued: close once sent */
	int64_t			 hooks_ref;	/* reload-hooks sent to sessiond */
	struct event		*hooks_tmo;
	TAILQ_ENTRY(ctl_conn)	 hooks_entry;	/* in ctl->hooks while waiting */
};

struct control {
	struct sup		*sup;
	struct evconnlistener	*lis;
	char			 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	TAILQ_HEAD(, ctl_conn)	 hooks;		/* waiting for HOOKS_RESULT */
	int64_t			 next_ref;
};

static void
ctl_conn_free(struct ctl_conn *cc)
{
	if (cc->hooks_ref != 0)
		TAILQ_REMOVE(&cc->ctl->hooks, cc, hooks_entry);
	if (cc->hooks_tmo != NULL)
		event_free(cc->hooks_tmo);
	if (cc->waiting) {
		swap_cancel_reply(cc->ctl->sup, cc);
		fleet_cancel_reply(cc->ctl->sup, cc);
	}
	bufferevent_free(cc->bev);
	free(cc);
}

static void
ctl_write_done(struct bufferevent *bev, void *arg)
{
	struct ctl_conn	*cc = arg;

	/* libevent also calls this on an idle writable socket: wait for a reply. */
	if (cc->replied && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		ctl_conn_free(cc);
}

static void
ctl_reply(void *arg, int ok, const char *text)
{
	struct ctl_conn	*cc = arg;
	json_t		*j;
	char		*s;

	cc->waiting = 0;
	cc->replied = 1;
	if (cc->hooks_ref != 0)
		TAILQ_REMOVE(&cc->ctl->hooks, cc, hooks_entry);
	cc->hooks_ref = 0;
	if (cc->hooks_tmo != NULL && evtimer_del(cc->hooks_tmo) == -1)
		log_warnx("%s: cannot stop a reload-hooks timer", __func__);
	j = json_pack("{s:b,s:s}", "ok", ok, "text", text != NULL ? text : "");
	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		ctl_conn_free(cc);
		return;
	}
	json_decref(j);
	if (bufferevent_write(cc->bev, s, strlen(s)) == -1 ||
	    bufferevent_write(cc->bev, "\n", 1) == -1) {
		free(s);
		ctl_conn_free(cc);
		return;
	}
	free(s);
}

/* reload-bot, reload-platform: run answers later, or at once. */
static void
ctl_reload_named(struct ctl_conn *cc, const char *name, const char *usage,
    void (*run)(struct sup *, const char *, const char *, sup_reply_fn,
    sup_reply_fn, void *))
{
	if (name == NULL) {
		ctl_reply(cc, 0, usage);
		return;
	}
	cc->waiting = 1;
	run(cc->ctl->sup, name, "ctl", NULL, ctl_reply, cc);
}

static void
ctl_hooks_tmo(int fd, short ev, void *arg)
{
	ctl_reply(arg, 0, "sessiond did not answer");
}

/* sessiond reloads the channel's hooks and answers with HOOKS_RESULT. */
static void
ctl_reload_hooks(struct ctl_conn *cc, const char *channel)
{
	struct control	*ctl = cc->ctl;
	struct sup	*sup = ctl->sup;

	if (channel == NULL) {
		ctl_reply(cc, 0, "usage: ctl reload-hooks CHANNEL");
		return;
	}
	if (sup->sessiond == NULL || sup->sessiond->chan == NULL ||
	    sup->sessiond->state != CS_ACTIVE) {
		ctl_reply(cc, 0, "sessiond is not running");
		return;
	}
	cc->hooks_ref = ++ctl->next_ref;
	TAILQ_INSERT_TAIL(&ctl->hooks, cc, hooks_entry);
	if ((cc->hooks_tmo = evtimer_new(sup->base, ctl_hooks_tmo, cc)) ==
	    NULL || util_timer_ms(cc->hooks_tmo, CTL_HOOKS_MS) == -1 ||
	    ipc_send(sup->sessiond->chan, IPC_RELOAD_HOOKS, json_pack(
	    "{s:I,s:s}", "ref", (json_int_t)cc->hooks_ref, "channel",
	    channel)) == -1) {
		ctl_reply(cc, 0, "cannot ask sessiond");
		return;
	}
	cc->waiting = 1;
}

/* sessiond's answer to a reload-hooks: reply to whoever still waits. */
void
control_hooks_result(struct sup *sup, struct ipc_msg *m)
{
	json_int_t	 ref = jx_int(m->body, "ref", 0);
	struct ctl_conn	*cc;

	if (sup->control == NULL)
		return;
	TAILQ_FOREACH(cc, &sup->control->hooks, hooks_entry)
		if (cc->hooks_ref == ref) {
			ctl_reply(cc, jx_bool(m->body, "ok", 0),
			    jx_str(m->body, "text"));
			return;
		}
}

static void
ctl_dispatch(struct ctl_conn *cc, const char *line)
{
	struct sup	*sup = cc->ctl->sup;
	json_t		*req;
	const char	*cmd, *arg;
	char		*text = NULL;
	int		 ok;

	req = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	cmd = jx_str(req, "cmd");
	arg = jx_str(req, "arg");
	if (cmd == NULL) {
		ctl_reply(cc, 0, "bad request");
	} else if (strcmp(cmd, "status") == 0) {
		text = control_status_text(sup);
		ctl_reply(cc, text != NULL, text != NULL ? text : "out of memory");
	} else if (strcmp(cmd, "reload") == 0) {
		ok = reload_config(sup, "ctl reload", &text) == 0;
		ctl_reply(cc, ok, text != NULL ? text : "out of memory");
	} else if (strcmp(cmd, "reload-bot") == 0) {
		ctl_reload_named(cc, arg, "usage: ctl reload-bot NAME",
		    admin_reload_bot);
	} else if (strcmp(cmd, "reload-platform") == 0) {
		ctl_reload_named(cc, arg, "usage: ctl reload-platform NAME",
		    admin_reload_platform);
	} else if (strcmp(cmd, "reload-hooks") == 0) {
		ctl_reload_hooks(cc, arg);
	} else if (strcmp(cmd, "reopen-logs") == 0) {
		child_reopen_logs(sup);
		ctl_reply(cc, 1, "logs reopened");
	} else
		ctl_reply(cc, 0, "unknown command");
	free(text);
	json_decref(req);
}

static void
ctl_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn	*cc = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 n;

	if (cc->waiting)
		return;
	line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CTL_LINE_MAX)
			ctl_conn_free(cc);
		return;
	}
	if (bufferevent_disable(bev, EV_READ) == -1) {
		free(line);
		ctl_conn_free(cc);
		return;
	}
	ctl_dispatch(cc, line);
	free(line);
}

static void
ctl_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		ctl_conn_free(arg);
}

static void
ctl_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control	*ctl = arg;
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	struct ctl_conn	*cc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    (cred.uid != geteuid() && cred.uid != 0)) {
		log_warnx("control: refused a client (uid %ld)",
		    len == sizeof(cred) ? (long)cred.uid : -1L);
		(void)close(fd);
		return;
	}
	if ((cc = calloc(1, sizeof(*cc))) == NULL ||
	    (cc->bev = bufferevent_socket_new(ctl->sup->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(cc);
		(void)close(fd);
		return;
	}
	cc->ctl = ctl;
	bufferevent_setcb(cc->bev, ctl_read, ctl_write_done, ctl_event, cc);
	bufferevent_setwatermark(cc->bev, EV_READ, 0, CTL_LINE_MAX + 1);
	if (bufferevent_enable(cc->bev, EV_READ | EV_WRITE) == -1) {
		log_warnx("control: cannot read from a client");
		ctl_conn_free(cc);
	}
}

static int
control_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(sun->sun_path, path);
	return (0);
}

/*
 * Does a bridge answer on path?  1 yes, 0 no (nothing listens there), -1
 * cannot tell (errno).
 */
int
control_answers(const char *path)
{
	struct sockaddr_un	sun;
	int			fd, rc;

	if (control_addr(path, &sun) == -1 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	(void)close(fd);
	if (rc == 0)
		return (1);
	return (errno == ENOENT || errno == ECONNREFUSED ? 0 : -1);
}

/*
 * Listen on path.  A stale socket from a previous run is replaced; one that
 * still answers belongs to a running bridge and makes us refuse to start.
 */
struct control *
control_start(struct sup *sup, const char *path)
{
	struct sockaddr_un	 sun;
	struct control		*ctl;
	mode_t			 old;

	if (control_addr(path, &sun) == -1)
		return (NULL);
	if (control_answers(path) == 1) {
		errno = EADDRINUSE;
		return (NULL);
	}
	if (unlink(path) == -1 && errno != ENOENT)
		return (NULL);
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return (NULL);
	ctl->sup = sup;
	TAILQ_INIT(&ctl->hooks);
	strcpy(ctl->path, path);
	old = umask(0177);
	ctl->lis = evconnlistener_new_bind(sup->base, ctl_accept, ctl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sun, sizeof(sun));
	(void)umask(old);
	if (ctl->lis == NULL || chmod(path, 0600) == -1) {
		control_stop(ctl);
		return (NULL);
	}
	return (ctl);
}

/* No new client; the ones being answered keep their connection. */
void
control_stop(struct control *ctl)
{
	if (ctl == NULL)
		return;
	if (ctl->lis != NULL) {
		evconnlistener_free(ctl->lis);
		(void)unlink(ctl->path);
	}
	ctl->lis = NULL;
}

static void
control_fmt_uptime(char *buf, size_t len, uint64_t ms)
{
	uint64_t	s = ms / 1000;

	if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
		    (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
		    (unsigned long long)(s / 60 % 60));
}

static int
control_row(FILE *f, const char *name, const char *state, const struct child *c,
    uint64_t up_ms, unsigned int restarts, const char *last)
{
	char	up[32] = "-", pid[16] = "-", gen[16] = "-";

	if (c != NULL) {
		snprintf(pid, sizeof(pid), "%ld", (long)c->pid);
		snprintf(gen, sizeof(gen), "%d", c->gen);
	}
	if (up_ms != 0)
		control_fmt_uptime(up, sizeof(up), util_now_ms() - up_ms);
	return (fprintf(f, "%-28s %-10s %-4s %-8s %-8s %-8u %s\n", name, state,
	    gen, pid, up, restarts, last != NULL && last[0] != '\0' ? last : "-"));
}

/* The table `ctl status` prints.  Caller frees. */
char *
control_status_text(struct sup *sup)
{
	struct bot	*b;
	const char	*st;
	char		*buf = NULL, last[400];
	size_t		 len = 0;
	FILE		*f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return (NULL);
	fprintf(f, "config %s (%.8s), %u reload(s) ok, %u failed\n",
	    sup->cfgpath, sup->cfg->hash, sup->reloads_ok, sup->reloads_failed);
	if (sup->rt_auth[0] != '\0')
		fprintf(f, "runtime pid %ld, version %s, auth: %s\n", sup->rt_pid,
		    sup->rt_version[0] != '\0' ? sup->rt_version : "?",
		    sup->rt_auth);
	if (sup->spare != NULL)
		fprintf(f, "spare worker pid %ld, %s, binary %s\n",
		    (long)sup->spare->pid, sup->spare->state == CS_SPARE ?
		    "idle" : "starting", sup->spare->binary);
	forksrv_status(sup, f);
	fprintf(f, "%-28s %-10s %-4s %-8s %-8s %-8s %s\n", "BOT", "STATE",
	    "GEN", "PID", "UPTIME", "RESTARTS", "LAST RELOAD");
	control_row(f, "sessiond", sup->sessiond != NULL ?
	    child_state_name(sup->sessiond->state) : "restarting",
	    sup->sessiond, sup->sessiond != NULL ? sup->sessiond->ready_ms : 0,
	    0, "");
	TAILQ_FOREACH(b, &sup->bots, entry) {
		if (b->failed)
			st = "FAILED";
		else if (b->swap != NULL)
			st = "reloading";
		else if (b->active != NULL)
			st = child_state_name(b->active->state);
		else if (!b->in_config)
			st = "removed";
		else if (evtimer_pending(b->restart_ev, NULL))
			st = "backoff";
		else
			st = "stopped";
		if (b->last_reload[0] != '\0')
			snprintf(last, sizeof(last), "%s, overlap: %u dup, %u "
			    "re-sent", b->last_reload, b->swap_dups, b->swap_resent);
		else
			last[0] = '\0';
		control_row(f, b->key, st, b->active, b->active != NULL &&
		    b->active->state == CS_ACTIVE ? b->up_ms : 0, b->restarts,
		    last);
	}
	if (fclose(f) == EOF) {
		free(buf);
		return (NULL);
	}
	return (buf);
}
