/*
 * hookrun: the commands of hooks.json, run for one hooks.invoke
 * (docs/architecture.md, "Hooks").  The commands of one type run one after the other,
 * each as `bash -c SCRIPT` in a process group of its own, with the input
 * JSON on stdin and a result JSON object expected on stdout.  Results are
 * shallow-merged; for preToolUse a "deny" or "ask" ends the run early.
 *
 * Nothing blocks the loop: the pipes are non-blocking, a child's exit is
 * noticed by common/pidwatch.c (so there is no SIGCHLD handler, and only
 * our own pids are ever waited for), and the timeout is a timer.  A child
 * we stop caring about (timeout, oversized output, cancel) is SIGKILLed
 * with its whole group and becomes an orphan: its watch stays alive only
 * to reap it.  The watch kills the group once more when the child exits,
 * while the zombie still holds the group's id.
 */
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/log.h"
#include "common/pidwatch.h"
#include "common/spawn.h"
#include "common/util.h"
#include "hooks.h"

#define HR_OUT_MAX	(1024 * 1024)	/* more stdout than this: killed */
#define HR_ERR_KEEP	4096		/* stderr kept for the log line */
#define HR_LOG_SCRIPT	200		/* script text shown in a log line */
#define HR_LOG_STDERR	512		/* stderr text shown in a log line */

extern char **environ;

struct hookproc {
	TAILQ_ENTRY(hookproc)	 entry;		/* hr.orphans */
	struct hookrun		*run;		/* NULL: orphan, only to reap */
	const struct hook_cmd	*cmd;		/* in run->hs, which we hold */
	pid_t			 pid;		/* also its process group */
	struct pidwatch		*pw;		/* NULL once reaped */
	int			 reaped;
	int			 status;	/* -1: reaped by someone else */
	int			 fd_in, fd_out, fd_err;
	struct event		*ev_in, *ev_out, *ev_err, *ev_tmo;
	size_t			 in_off;
	char			*out;
	size_t			 outlen, outcap;
	char			 err[HR_ERR_KEEP];
	size_t			 errlen;
};

struct hookrun {
	TAILQ_ENTRY(hookrun)	 entry;		/* hr.runs */
	struct hookset		*hs;		/* our reference */
	enum hook_type		 type;
	size_t			 next;		/* next command to start */
	char			*input;		/* JSON text for each stdin */
	size_t			 inlen;
	json_t			*merged;	/* NULL until a result */
	struct hookproc		*cur;
	struct event		*step;		/* first start, off the caller */
	hookrun_cb		 done;
	void			*arg;
};

TAILQ_HEAD(hookrun_list, hookrun);
TAILQ_HEAD(hookproc_list, hookproc);

static struct {
	struct event_base	*base;
	struct hookrun_list	 runs;
	struct hookproc_list	 orphans;
	char			**secrets;
	size_t			 nsecrets;
} hr = {
	.runs = TAILQ_HEAD_INITIALIZER(hr.runs),
	.orphans = TAILQ_HEAD_INITIALIZER(hr.orphans),
};

/*
 * Never handed to a hook, whatever the config says: systemd's and the
 * runtime's handles, and the tokens every GitHub tool picks up by itself.
 */
static const char *const hr_hidden_always[] = {
	"NOTIFY_SOCKET", "COPILOT_SDK_AUTH_TOKEN", "COPILOT_GITHUB_TOKEN",
	"GH_TOKEN", "GITHUB_TOKEN", "OTEL_EXPORTER_OTLP_HEADERS",
	"LISTEN_FDS", "LISTEN_PID",
};

static void	run_next(struct hookrun *);

/* -- helpers ----------------------------------------------------------------- */

/*
 * The first len bytes of s as one log line: a multi-line script or stderr
 * must not break the one-event-per-line format.
 */
static const char *
hr_oneline(const char *s, size_t len, size_t max, char *buf, size_t buflen)
{
	size_t	i, n = 0;

	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	for (i = 0; i < len && i < max && n + 4 < buflen; i++)
		buf[n++] = iscntrl((unsigned char)s[i]) ? ' ' : s[i];
	if (i < len && n + 4 <= buflen) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return (buf);
}

static const char *
hr_script(const struct hook_cmd *cmd, char *buf, size_t len)
{
	const char	*s = cmd->script != NULL ? cmd->script : "";

	return (hr_oneline(s, strlen(s), HR_LOG_SCRIPT, buf, len));
}

/* 1 if the variable "NAME=value" must not reach a hook. */
static int
hr_hidden(const char *kv)
{
	size_t	i, n = strcspn(kv, "=");

	for (i = 0; i < nitems(hr_hidden_always); i++)
		if (strlen(hr_hidden_always[i]) == n &&
		    memcmp(hr_hidden_always[i], kv, n) == 0)
			return (1);
	for (i = 0; i < hr.nsecrets; i++)
		if (strlen(hr.secrets[i]) == n &&
		    memcmp(hr.secrets[i], kv, n) == 0)
			return (1);
	return (0);
}

/*
 * The child's environment, built before fork because the child may not
 * allocate.  The strings are borrowed from environ and cmd->env, which
 * stay put until the fork is done.
 */
static char **
hr_envp(const struct hook_cmd *cmd)
{
	size_t	 ne = 0, nc = 0, n = 0, i, j, klen;
	char	**v;

	while (environ != NULL && environ[ne] != NULL)
		ne++;
	while (cmd->env != NULL && cmd->env[nc] != NULL)
		nc++;
	if ((v = calloc(ne + nc + 1, sizeof(*v))) == NULL)
		return (NULL);
	for (i = 0; i < ne; i++)
		if (strchr(environ[i], '=') != NULL && !hr_hidden(environ[i]))
			v[n++] = environ[i];
	for (i = 0; i < nc; i++) {
		if (strchr(cmd->env[i], '=') == NULL)
			continue;
		klen = strcspn(cmd->env[i], "=") + 1;	/* with the '=' */
		for (j = 0; j < n; j++)
			if (strncmp(v[j], cmd->env[i], klen) == 0)
				break;
		v[j] = cmd->env[i];
		if (j == n)
			n++;
	}
	v[n] = NULL;
	return (v);
}

/*
 * The interpreter.  PowerShell 7, the only one on Linux, installs itself
 * as pwsh; upstream runs "powershell", so that comes first.
 */
static int
hr_program(const struct hook_cmd *cmd, char *buf, size_t len)
{
	if (!cmd->powershell) {
		snprintf(buf, len, "/bin/bash");
		return (0);
	}
	if (util_search_path("powershell", buf, len) == 0 ||
	    util_search_path("pwsh", buf, len) == 0)
		return (0);
	return (-1);
}

/* -- one process --------------------------------------------------------------- */

static void
hp_close(int *fd, struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
	if (*fd != -1)
		(void)close(*fd);
	*fd = -1;
}

/* Its pipes, timer and output; the watch stays while it is unreaped. */
static void
hp_close_io(struct hookproc *p)
{
	hp_close(&p->fd_in, &p->ev_in);
	hp_close(&p->fd_out, &p->ev_out);
	hp_close(&p->fd_err, &p->ev_err);
	if (p->ev_tmo != NULL)
		event_free(p->ev_tmo);
	p->ev_tmo = NULL;
	free(p->out);
	p->out = NULL;
	p->outlen = p->outcap = 0;
}

static void
hp_free(struct hookproc *p)
{
	hp_close_io(p);
	pidwatch_free(p->pw);
	free(p);
}

/*
 * Kill p's whole group and forget its output.  The zombie is reaped later
 * by its watch: waiting here would block the loop.
 */
static void
hp_abandon(struct hookproc *p)
{
	if (!p->reaped && kill(-p->pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("%s: kill %ld", __func__, (long)p->pid);
	hp_close_io(p);
	p->run = NULL;
	if (p->reaped || p->pw == NULL) {
		/* Unwatched (out of memory): left to init when we exit. */
		hp_free(p);
		return;
	}
	TAILQ_INSERT_TAIL(&hr.orphans, p, entry);
}

/* Stop the current command of its run and go on with the next one. */
static void
hp_give_up(struct hookproc *p)
{
	struct hookrun	*r = p->run;

	r->cur = NULL;
	hp_abandon(p);
	run_next(r);
}

/* The command's result object, or NULL (with upstream's warning). */
static json_t *
hp_result(struct hookproc *p)
{
	char		 st[64], sc[HR_LOG_SCRIPT + 8], er[HR_LOG_STDERR + 8];
	json_t		*res;
	size_t		 i;

	if (p->status == -1 || !WIFEXITED(p->status) ||
	    WEXITSTATUS(p->status) != 0) {
		util_wait_status(p->status, st, sizeof(st));
		log_warnx("Hook command failed (%s): %s%s%s", st,
		    hr_script(p->cmd, sc, sizeof(sc)), p->errlen > 0 ? ": " : "",
		    hr_oneline(p->err, p->errlen, HR_LOG_STDERR, er,
		    sizeof(er)));
		return (NULL);
	}
	for (i = 0; i < p->outlen; i++)
		if (!isspace((unsigned char)p->out[i]))
			break;
	if (i == p->outlen)
		return (NULL);		/* no opinion */
	res = json_loadb(p->out, p->outlen, JSON_DECODE_ANY, NULL);
	if (res == NULL || !json_is_object(res)) {
		log_warnx("Hook command output is not a JSON object (%s): %s",
		    p->cmd->file != NULL ? p->cmd->file : "?",
		    hr_script(p->cmd, sc, sizeof(sc)));
		json_decref(res);
		return (NULL);
	}
	return (res);
}

static void	run_finish(struct hookrun *);
static int	run_merge(struct hookrun *, json_t *);

/* Done once the process is reaped and both its outputs are at EOF. */
static void
hp_check_done(struct hookproc *p)
{
	struct hookrun	*r = p->run;
	json_t		*res;

	if (!p->reaped || p->fd_out != -1 || p->fd_err != -1)
		return;
	res = hp_result(p);
	r->cur = NULL;
	hp_free(p);
	if (res != NULL && run_merge(r, res))
		run_finish(r);
	else
		run_next(r);
}

/* -- its events -------------------------------------------------------------- */

static void
hp_exited(pid_t pid, int status, void *arg)
{
	struct hookproc	*p = arg;

	p->reaped = 1;
	p->status = status;
	pidwatch_free(p->pw);
	p->pw = NULL;
	hp_close(&p->fd_in, &p->ev_in);		/* nobody reads it now */
	if (p->run == NULL) {
		TAILQ_REMOVE(&hr.orphans, p, entry);
		hp_free(p);
		return;
	}
	hp_check_done(p);
}

static void
hp_in_cb(int fd, short ev, void *arg)
{
	struct hookproc	*p = arg;
	struct hookrun	*r = p->run;
	ssize_t		 n;

	n = write(fd, r->input + p->in_off, r->inlen - p->in_off);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		/* EPIPE: the hook does not read its input; that is fine. */
		if (errno != EPIPE)
			log_debug("%s: write: %s", __func__, strerror(errno));
		hp_close(&p->fd_in, &p->ev_in);
		return;
	}
	p->in_off += (size_t)n;
	if (p->in_off == r->inlen)
		hp_close(&p->fd_in, &p->ev_in);		/* EOF for the hook */
}

static int
hp_grow(struct hookproc *p)
{
	size_t	 cap;
	char	*n;

	if (p->outlen < p->outcap)
		return (0);
	cap = p->outcap == 0 ? 4096 : p->outcap * 2;
	if (cap > HR_OUT_MAX + 1)
		cap = HR_OUT_MAX + 1;	/* one more byte tells "too much" */
	if ((n = realloc(p->out, cap)) == NULL)
		return (-1);
	p->out = n;
	p->outcap = cap;
	return (0);
}

static void
hp_out_cb(int fd, short ev, void *arg)
{
	struct hookproc	*p = arg;
	char		 sc[HR_LOG_SCRIPT + 8];
	ssize_t		 n;

	if (hp_grow(p) == -1) {
		log_warnx("%s: out of memory for a hook's output: %s", __func__,
		    hr_script(p->cmd, sc, sizeof(sc)));
		hp_give_up(p);
		return;
	}
	n = read(fd, p->out + p->outlen, p->outcap - p->outlen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1)
			log_warn("%s: read", __func__);
		hp_close(&p->fd_out, &p->ev_out);
		hp_check_done(p);
		return;
	}
	p->outlen += (size_t)n;
	if (p->outlen > HR_OUT_MAX) {
		log_warnx("Hook command output exceeds %d bytes; killed: %s",
		    HR_OUT_MAX, hr_script(p->cmd, sc, sizeof(sc)));
		hp_give_up(p);
	}
}

static void
hp_err_cb(int fd, short ev, void *arg)
{
	struct hookproc	*p = arg;
	char		 buf[HR_ERR_KEEP];
	size_t		 keep;
	ssize_t		 n;

	n = read(fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		hp_close(&p->fd_err, &p->ev_err);
		hp_check_done(p);
		return;
	}
	/* The start says what went wrong; the rest is dropped. */
	keep = sizeof(p->err) - p->errlen;
	if (keep > (size_t)n)
		keep = (size_t)n;
	memcpy(p->err + p->errlen, buf, keep);
	p->errlen += keep;
}

static unsigned int
hp_timeout(const struct hook_cmd *cmd)
{
	return (cmd->timeout_sec > 0 ? cmd->timeout_sec : HOOK_TIMEOUT_SEC);
}

static void
hp_tmo_cb(int fd, short ev, void *arg)
{
	struct hookproc	*p = arg;
	char		 sc[HR_LOG_SCRIPT + 8];

	log_warnx("Hook command timed out after %us: %s", hp_timeout(p->cmd),
	    hr_script(p->cmd, sc, sizeof(sc)));
	hp_give_up(p);
}

/* -- spawning ------------------------------------------------------------------ */

static int
hp_watch(struct hookproc *p, size_t inlen)
{
	struct timeval	tv = { hp_timeout(p->cmd), 0 };

	if ((p->pw = pidwatch_new(hr.base, p->pid, PIDWATCH_KILLGROUP,
	    hp_exited, p)) == NULL)
		return (-1);
	if (inlen == 0)
		hp_close(&p->fd_in, &p->ev_in);
	else if ((p->ev_in = event_new(hr.base, p->fd_in, EV_WRITE |
	    EV_PERSIST, hp_in_cb, p)) == NULL || event_add(p->ev_in, NULL) == -1)
		return (-1);
	if ((p->ev_out = event_new(hr.base, p->fd_out, EV_READ | EV_PERSIST,
	    hp_out_cb, p)) == NULL || event_add(p->ev_out, NULL) == -1 ||
	    (p->ev_err = event_new(hr.base, p->fd_err, EV_READ | EV_PERSIST,
	    hp_err_cb, p)) == NULL || event_add(p->ev_err, NULL) == -1 ||
	    (p->ev_tmo = evtimer_new(hr.base, hp_tmo_cb, p)) == NULL ||
	    evtimer_add(p->ev_tmo, &tv) == -1)
		return (-1);
	return (0);
}

/* Start cmd as r's current process; -1 (logged) if it could not be. */
static int
hp_spawn(struct hookrun *r, const struct hook_cmd *cmd)
{
	char		 prog[PATH_MAX], sc[HR_LOG_SCRIPT + 8];
	char		*argv[4], **envp;
	struct hookproc	*p;
	struct spawn	 sp;

	if (hr_program(cmd, prog, sizeof(prog)) == -1) {
		log_warnx("Hook command not run, no powershell in PATH: %s",
		    hr_script(cmd, sc, sizeof(sc)));
		return (-1);
	}
	argv[0] = prog;
	argv[1] = "-c";
	argv[2] = cmd->script != NULL ? cmd->script : "";
	argv[3] = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (envp = hr_envp(cmd)) == NULL) {
		log_warn("%s: calloc", __func__);
		free(p);
		return (-1);
	}
	p->run = r;
	p->cmd = cmd;
	p->fd_in = p->fd_out = p->fd_err = -1;
	memset(&sp, 0, sizeof(sp));
	sp.argv = argv;
	sp.envp = envp;
	sp.cwd = cmd->cwd;
	sp.pgrp = 1;		/* the timeout kills grandchildren too */
	sp.deathsig = SIGKILL;
	if (spawn_piped(&sp) == -1) {
		free(envp);
		free(p);
		return (-1);
	}
	free(envp);
	p->pid = sp.pid;
	p->fd_in = sp.in;
	p->fd_out = sp.out;
	p->fd_err = sp.err;
	if (hp_watch(p, r->inlen) == -1) {
		log_warnx("%s: cannot watch hook pid %ld; killed", __func__,
		    (long)p->pid);
		hp_abandon(p);
		return (-1);
	}
	log_debug("hook %s: pid %ld: %s", hook_type_name(r->type),
	    (long)p->pid, hr_script(cmd, sc, sizeof(sc)));
	r->cur = p;
	return (0);
}

/* -- runs -------------------------------------------------------------------- */

static void
run_free(struct hookrun *r)
{
	if (r->cur != NULL)
		hp_abandon(r->cur);
	if (r->step != NULL)
		event_free(r->step);
	free(r->input);
	json_decref(r->merged);
	hooks_unref(r->hs);
	free(r);
}

/* Hand the result over; r is gone before done runs, so done may do anything. */
static void
run_finish(struct hookrun *r)
{
	hookrun_cb	 done = r->done;
	void		*arg = r->arg;
	json_t		*out = r->merged;

	TAILQ_REMOVE(&hr.runs, r, entry);
	r->merged = NULL;
	run_free(r);
	done(arg, out);
}

/* Merge one result (ours now); 1 if it ends a preToolUse run. */
static int
run_merge(struct hookrun *r, json_t *res)
{
	const char	*d;
	int		 stop;

	d = json_string_value(json_object_get(res, "permissionDecision"));
	stop = r->type == HOOK_PRE_TOOL_USE && d != NULL &&
	    (strcmp(d, "deny") == 0 || strcmp(d, "ask") == 0);
	if (r->merged == NULL) {
		r->merged = res;
		return (stop);
	}
	if (json_object_update(r->merged, res) == -1)
		log_warnx("%s: out of memory merging hook results", __func__);
	json_decref(res);
	return (stop);
}

/* Start the next command that can start, or finish. */
static void
run_next(struct hookrun *r)
{
	size_t	n = 0;

	if (r->hs != NULL && (unsigned int)r->type < HOOK_NTYPES)
		n = r->hs->ncmds[r->type];
	while (r->next < n)
		if (hp_spawn(r, &r->hs->cmds[r->type][r->next++]) == 0)
			return;
	run_finish(r);
}

static void
run_step_cb(int fd, short ev, void *arg)
{
	run_next(arg);
}

/* -- API ---------------------------------------------------------------------- */

void
hookrun_init(struct event_base *base)
{
	struct sigaction	sa;

	hr.base = base;
	/*
	 * A hook that exits without reading its stdin makes our write fail
	 * with SIGPIPE.  sessiond ignores SIGPIPE already (proc_init); this
	 * makes sure of it wherever hookrun runs, since the default action
	 * would kill the whole daemon.
	 */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		log_warn("%s: signal", __func__);
}

static void
hr_free_secrets(void)
{
	size_t	i;

	for (i = 0; i < hr.nsecrets; i++)
		free(hr.secrets[i]);
	free(hr.secrets);
	hr.secrets = NULL;
	hr.nsecrets = 0;
}

/* Replace the list; on failure (-1) the previous one stays. */
int
hookrun_set_secrets(const char *const *names, size_t n)
{
	char	**v;
	size_t	  i;

	if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
		log_warn("%s: calloc", __func__);
		return (-1);
	}
	for (i = 0; i < n; i++)
		if ((v[i] = strdup(names[i])) == NULL) {
			log_warn("%s: strdup", __func__);
			while (i > 0)
				free(v[--i]);
			free(v);
			return (-1);
		}
	hr_free_secrets();
	hr.secrets = v;
	hr.nsecrets = n;
	return (0);
}

/*
 * NULL (logged) only when out of memory or before hookrun_init; done is
 * then never called.  Even with nothing to run, done comes from the loop.
 */
struct hookrun *
hookrun_start(struct hookset *hs, enum hook_type type, const json_t *input,
    hookrun_cb done, void *arg)
{
	struct timeval	 zero = { 0, 0 };
	struct hookrun	*r;

	if (hr.base == NULL) {
		log_warnx("%s: hookrun_init was not called", __func__);
		return (NULL);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warn("%s: calloc", __func__);
		return (NULL);
	}
	r->type = type;
	r->done = done;
	r->arg = arg;
	if ((input != NULL && (r->input = json_dumps(input,
	    JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) ||
	    (r->step = evtimer_new(hr.base, run_step_cb, r)) == NULL ||
	    evtimer_add(r->step, &zero) == -1) {
		log_warnx("%s: out of memory", __func__);
		run_free(r);
		return (NULL);
	}
	r->inlen = r->input != NULL ? strlen(r->input) : 0;
	r->hs = hooks_ref(hs);
	TAILQ_INSERT_TAIL(&hr.runs, r, entry);
	return (r);
}

void
hookrun_cancel(struct hookrun *r)
{
	if (r == NULL)
		return;
	TAILQ_REMOVE(&hr.runs, r, entry);
	run_free(r);
}

/*
 * At exit.  Orphans not reaped by now are left to init (or our parent's
 * subreaper) when we exit: waiting for them would delay the shutdown.
 */
void
hookrun_shutdown(void)
{
	struct hookproc	*p;

	while (!TAILQ_EMPTY(&hr.runs))
		hookrun_cancel(TAILQ_FIRST(&hr.runs));
	while ((p = TAILQ_FIRST(&hr.orphans)) != NULL) {
		(void)kill(-p->pid, SIGKILL);
		if (p->pw != NULL && pidwatch_reap(p->pw) == 1)
			continue;	/* hp_exited() took it off and freed it */
		TAILQ_REMOVE(&hr.orphans, p, entry);
		hp_free(p);
	}
	hr_free_secrets();
}
