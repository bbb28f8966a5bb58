/*
 * copilot: backend_copilot, the Copilot runtime as a child process speaking
 * JSON-RPC over its stdio (docs/copilot-runtime.md is the protocol as
 * observed; docs/architecture.md "Copilot backend" the design).
 *
 * One runtime serves every session.  This file keeps the runtime's life (a
 * table of states and events: nothing changes its state outside it) and
 * the sessions; the process is rtproc.c, the requests rtrpc.c, the mapping
 * of session events cpevent.c.  If the runtime dies, it is restarted with
 * backoff and every live session is resumed on the new one; a turn in
 * flight at the crash ends with an error.
 *
 * Teardown after a failure is always deferred to the loop (rt_fail()), so a
 * caller of send() or open() never gets callbacks from inside its own call.
 * Nothing here blocks the loop except stop(), which is bounded (CP_STOP_MS)
 * and only runs at shutdown.
 */
#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/backoff.h"
#include "common/jx.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/util.h"
#include "copilot.h"
#include "jsonrpc.h"
#include "rtproc.h"
#include "rtrpc.h"
#include "sessiond.h"

#define CP_PROTOCOL		3
#define CP_CONNECT_MS		20000	/* connect reply after spawn */
#define CP_OPEN_WAIT_MS		60000	/* an open may wait this long for a runtime */
#define CP_STOP_MS		400	/* stop(): shutdown and exit, else SIGKILL */
#define CP_KILL_WAIT_MS		200	/* ... and its exit after SIGKILL */
#define CP_RESTART_WAIT_MS	3000	/* a restart asked for: the old one's exit */
#define CP_TOKEN_MAX		4096	/* a GitHub token file, at most */
#define CP_CRED_NAME		"github-token"	/* systemd's LoadCredential= */
#define CP_TICK_MS		1000
#define CP_RESTART_BASE_MS	1000
#define CP_RESTART_MAX_MS	60000
#define CP_STABLE_MS		60000	/* up this long: the next crash starts over */

enum rt_state {
	RT_OFF = 0,		/* not started, or stopped */
	RT_CONNECTING,		/* spawned, connect sent */
	RT_READY,
	RT_DOWN,		/* torn down, waiting for the restart timer */
	RT_STOPPING,		/* stop(): waiting for every runtime to exit */
	RT__MAX
};

enum rt_event {
	RTE_START,		/* start(), or the restart timer */
	RTE_CONNECTED,		/* connect answered with our protocol */
	RTE_DOWN,		/* a failure, deferred to the loop */
	RTE_STOP,		/* stop() */
	RTE_GONE,		/* stopping, and no runtime is left */
	RTE_DEADLINE,		/* stopping, and one did not exit in time */
	RTE__MAX
};

static void	rt_a_start(void);
static void	rt_a_ready(void);
static void	rt_a_down(void);
static void	rt_a_stop(void);
static void	rt_a_kill(void);
static void	rt_a_stopped(void);

/* The runtime's life: an event with no entry is ignored. */
static const struct {
	enum rt_state	  next;
	void		(*fn)(void);
} rt_fsm[RT__MAX][RTE__MAX] = {
	[RT_OFF] = {
		[RTE_START] = { RT_CONNECTING, rt_a_start },
	},
	[RT_CONNECTING] = {
		[RTE_CONNECTED] = { RT_READY, rt_a_ready },
		[RTE_DOWN] = { RT_DOWN, rt_a_down },
		[RTE_STOP] = { RT_STOPPING, rt_a_stop },
	},
	[RT_READY] = {
		[RTE_DOWN] = { RT_DOWN, rt_a_down },
		[RTE_STOP] = { RT_STOPPING, rt_a_stop },
	},
	[RT_DOWN] = {
		[RTE_START] = { RT_CONNECTING, rt_a_start },
		[RTE_STOP] = { RT_STOPPING, rt_a_stop },
	},
	[RT_STOPPING] = {
		[RTE_GONE] = { RT_OFF, rt_a_stopped },
		[RTE_DEADLINE] = { RT_STOPPING, rt_a_kill },
	},
};

static const char *const rt_state_names[RT__MAX] = {
	"off", "connecting", "ready", "down", "stopping"
};
static const char *const rt_event_names[RTE__MAX] = {
	"start", "connected", "down", "stop", "gone", "deadline"
};

TAILQ_HEAD(bsessionq, bsession);

static struct {
	struct event_base	*base;
	enum rt_state		 state;
	char			 path[PATH_MAX];
	unsigned int		 gen;		/* bumped on every teardown */
	unsigned int		 sweep;
	int			 failing;	/* a teardown is scheduled */
	char			 why[256];
	struct bsessionq	 sessions;
	struct backoff		 backoff;
	struct event		*down_ev;	/* deferred teardown */
	struct event		*idle_ev;	/* deferred idle(1) of aborts */
	struct event		*restart_ev;
	struct event		*tick_ev;
	struct event		*stop_ev;	/* stop()'s deadline */
	struct event		*done_ev;	/* stop()'s end, from the loop */
	void			(*done)(void *);
	void			*done_arg;
	int			 killed;	/* stopping: SIGKILL sent */
	uint64_t		 stop_t0;
	uint64_t		 ready_ms;
	char			 version[64];
	char			**envp;		/* the runtime's environment, or NULL */
	void			(*changed)(void);	/* info() says something new */
	char			*token;		/* GitHub token for non-BYOK sessions */
	const char		*token_src;	/* "file", "credential" */
	int			 auth_known;	/* auth.getStatus answered */
	int			 auth_ok;
	char			 auth_who[96];	/* login, else the auth type */
	int			 env_pending;	/* envp changed: restart when idle */
	int			 deliberate;	/* the restart was asked for */
	uint64_t		 old_deadline;	/* wait for the old one to exit */
} rt = {
	.sessions = TAILQ_HEAD_INITIALIZER(rt.sessions),
};

static void	rt_fail(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	bs_open_send(struct bsession *);
static void	rt_idle_cb(int, short, void *);

static void
rt_event(enum rt_event ev)
{
	enum rt_state	from = rt.state;

	if (rt_fsm[from][ev].fn == NULL) {
		log_debug("runtime: %s in state %s; nothing to do",
		    rt_event_names[ev], rt_state_names[from]);
		return;
	}
	log_debug("runtime: %s: %s -> %s", rt_event_names[ev],
	    rt_state_names[from], rt_state_names[rt_fsm[from][ev].next]);
	rt.state = rt_fsm[from][ev].next;
	rt_fsm[from][ev].fn();
}

/* -- sessions ---------------------------------------------------------------- */

static void
bs_hold(struct bsession *s)
{
	s->refs++;
}

static void
bs_free(struct bsession *s)
{
	bprompt_free_all(&s->outq);
	bprompt_free_all(&s->sent);
	free(s->channel);
	free(s->cwd);
	free(s->model);
	free(s->agent);
	free(s->want_id);
	json_decref(s->provider);
	json_decref(s->extra);
	free(s);
}

static void
bs_release(struct bsession *s)
{
	if (--s->refs == 0 && s->closed)
		bs_free(s);
}

static void
rt_hold(void *arg)
{
	bs_hold(arg);
}

static void
rt_release(void *arg)
{
	bs_release(arg);
}

/* -- the runtime binary ------------------------------------------------------ */

/*
 * session.runtimePath, else the default places in order (common/runtime.c);
 * where it looked is logged when it found nothing.
 */
static int
rt_resolve_path(const json_t *config, char *out, size_t len)
{
	const char	*cfg;
	char		 places[4096];

	cfg = jx_str(json_object_get(config, "session"), "runtimePath");
	if (runtime_find(cfg, NULL, out, len) != RUNTIME_NONE)
		return (0);
	runtime_places(cfg, NULL, places, sizeof(places));
	log_errorx("cannot find the Copilot runtime: looked at %s; install it "
	    "with copilot-bridge-install-runtime or set session.runtimePath",
	    places);
	return (-1);
}

/* -- signing in ---------------------------------------------------------------- */

static void
rt_token_clear(void)
{
	if (rt.token != NULL) {
		explicit_bzero(rt.token, strlen(rt.token));
		free(rt.token);
	}
	rt.token = NULL;
	rt.token_src = NULL;
}

/*
 * The GitHub token for sessions without a BYOK provider: session.
 * githubTokenFile, else systemd's credential (LoadCredential=github-token:
 * ...).  It goes to the runtime only inside create and resume, over its
 * stdin: never in an argv, an environment or a log line.
 */
static void
rt_token_load(const json_t *config)
{
	const char	*file = jx_str(json_object_get(config, "session"),
			    "githubTokenFile"), *cred = getenv("CREDENTIALS_DIRECTORY");
	char		 path[PATH_MAX], *t;
	size_t		 len;

	rt_token_clear();
	if (file != NULL)
		snprintf(path, sizeof(path), "%s", file);
	else if (cred != NULL && *cred != '\0' &&
	    (size_t)snprintf(path, sizeof(path), "%s/%s", cred, CP_CRED_NAME) <
	    sizeof(path) && access(path, F_OK) == 0)
		file = path;
	if (file == NULL)
		return;
	if ((t = util_read_file(path, CP_TOKEN_MAX, &len)) == NULL) {
		log_warnx("cannot read the GitHub token from %s: %s", path,
		    strerror(errno));
		return;
	}
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' ||
	    t[len - 1] == ' ' || t[len - 1] == '\t'))
		t[--len] = '\0';
	if (len == 0 || strlen(t) != len) {
		log_warnx("%s holds no GitHub token", path);
		explicit_bzero(t, len);
		free(t);
		return;
	}
	rt.token = t;
	rt.token_src = jx_str(json_object_get(config, "session"),
	    "githubTokenFile") != NULL ? "file" : "credential";
	log_info("a GitHub token from %s (%s) is used for sessions without a "
	    "BYOK provider", path, rt.token_src);
}

static void
rt_changed(void)
{
	if (rt.changed != NULL)
		rt.changed();
}

static void
cb_auth(struct rtrpc_req *r, const json_t *result, const char *error)
{
	const char	*who;

	if (r->gone)
		return;
	rt.auth_known = 1;
	rt.auth_ok = error == NULL && jx_bool(result, "isAuthenticated", 0);
	who = jx_str(result, "login");
	if (who == NULL)
		who = jx_str(result, "authType");
	snprintf(rt.auth_who, sizeof(rt.auth_who), "%s", rt.auth_ok &&
	    who != NULL ? who : "");
	if (error != NULL)
		log_warnx("auth.getStatus failed: %s", error);
	else if (rt.auth_ok)
		log_info("the Copilot runtime is signed in to GitHub (%s)",
		    rt.auth_who[0] != '\0' ? rt.auth_who : "?");
	else
		log_info("the Copilot runtime is not signed in to GitHub%s",
		    rt.token != NULL ? "; sessions without a BYOK provider use "
		    "the configured token" : "");
	rt_changed();
}

static void
copilot_info(struct backend_info *bi)
{
	bi->pid = copilot_runtime_pid();
	snprintf(bi->version, sizeof(bi->version), "%s",
	    rt.state == RT_READY ? rt.version : "");
	if (rt.auth_ok)
		snprintf(bi->auth, sizeof(bi->auth), "%s", rt.auth_who[0] != '\0' ?
		    rt.auth_who : "signed in");
	else if (rt.token != NULL)
		snprintf(bi->auth, sizeof(bi->auth), "token (%s)", rt.token_src);
	else
		snprintf(bi->auth, sizeof(bi->auth), "%s", rt.auth_known ?
		    "none" : "?");
}

static int
copilot_signed_in(void)
{
	return (!rt.auth_known || rt.auth_ok || rt.token != NULL);
}

/* -- session options -------------------------------------------------------- */

/* create and resume take the same keys: the runtime keeps no provider. */
static json_t *
bs_params(const struct bsession *s, const char *id)
{
	json_t	*p;

	/*
	 * sessiond runs hooks.json itself (hooks.invoke), honouring
	 * allowWorkspaceHooks; the runtime's own reading of the workspace's
	 * .github/hooks would run those a second time, unasked.
	 */
	p = json_pack("{s:s,s:b,s:b,s:b,s:b,s:s}", "sessionId", id,
	    "streaming", 1, "requestPermission", 1, "hooks", 1,
	    "enableFileHooks", 0, "envValueMode", "direct");
	if (p == NULL)
		return (NULL);
	if ((s->cwd != NULL && json_object_set_new(p, "workingDirectory",
	    json_string(s->cwd)) == -1) ||
	    (s->model != NULL && json_object_set_new(p, "model",
	    json_string(s->model)) == -1) ||
	    (s->agent != NULL && json_object_set_new(p, "agent",
	    json_string(s->agent)) == -1) ||
	    (s->provider != NULL && json_object_set_new(p, "provider",
	    json_deep_copy(s->provider)) == -1) ||
	    (s->provider == NULL && rt.token != NULL &&
	    json_object_set_new(p, "gitHubToken", json_string(rt.token)) == -1) ||
	    (s->extra != NULL && json_object_update_missing(p, s->extra) == -1)) {
		json_decref(p);
		return (NULL);
	}
	return (p);
}

/*
 * "Session not found: <id>" (observed), "Session file not found for <id>"
 * (docs/copilot-runtime.md).  A bare "not found" is not enough: "model not
 * found" on a resume must not make us start over with an empty history,
 * and neither must "session construction failed: Custom agent 'x' not
 * found".
 */
static int
bs_not_found(const char *error)
{
	return (error != NULL && (strcasestr(error, "session not found") !=
	    NULL || strcasestr(error, "session file not found") != NULL ||
	    strcasestr(error, "session_not_found") != NULL));
}

static void
bs_detach_id(const char *id)
{
	(void)rtrpc_request("session.detach", json_pack("{s:s}", "sessionId",
	    id), NULL, NULL, CP_REQUEST_MS);
}

/* -- prompts ------------------------------------------------------------------ */

static void	cb_send(struct rtrpc_req *, const json_t *, const char *);

/* Put p (taken off whatever list it was on) on the runtime's stdin. */
static int
bs_send_now(struct bsession *s, struct bprompt *p)
{
	struct rtrpc_req	*r;

	r = rtrpc_request("session.send", json_pack("{s:s,s:s,s:s,s:O*}",
	    "sessionId", s->id, "prompt", p->text, "mode", p->immediate ?
	    "immediate" : "enqueue", "attachments", p->attachments), s, cb_send,
	    CP_REQUEST_MS);
	if (r == NULL)
		return (-1);
	p->seq = ++s->next_seq;
	r->flag = p->seq;
	TAILQ_INSERT_TAIL(&s->sent, p, entry);
	s->history = 1;
	return (0);
}

/* Resumed on a new runtime: what send() kept meanwhile goes out, in order. */
static void
bs_flush_outq(struct bsession *s)
{
	struct bprompt	*p;

	while ((p = TAILQ_FIRST(&s->outq)) != NULL) {
		TAILQ_REMOVE(&s->outq, p, entry);
		if (bs_send_now(s, p) == -1) {
			log_warnx("%s: a prompt kept over the restart cannot be "
			    "sent", bs_name(s));
			BS_CALL(s, untaken, p->text);
			free(p->text);
			free(p);
		}
	}
}

/*
 * The runtime died: what it was given and never took is handed back to
 * the owner, and so is what waited to be sent (when the session is lost).
 */
static void
bs_report_untaken(struct bsession *s, int with_outq)
{
	struct bprompt	*p;

	while ((p = TAILQ_FIRST(&s->sent)) != NULL) {
		log_info("%s: the runtime died before it took a prompt; it goes "
		    "back to the channel", bs_name(s));
		BS_CALL(s, untaken, p->text);
		bprompt_free(&s->sent, p);
	}
	while (with_outq && (p = TAILQ_FIRST(&s->outq)) != NULL) {
		BS_CALL(s, untaken, p->text);
		bprompt_free(&s->outq, p);
	}
}

/* The session cannot be resumed: its prompts go back, then lost(). */
static void
bs_lose(struct bsession *s, const char *why)
{
	s->state = BS_LOST;
	s->busy = 0;
	bs_report_untaken(s, 1);
	BS_CALL(s, lost, why);
}

/* An open failed; 1 if it was dealt with by trying again. */
static int
bs_open_retry(struct bsession *s, struct rtrpc_req *r, const char *error)
{
	if (r->flag && !s->reopen && bs_not_found(error)) {
		log_info("%s: session %s is unknown to the runtime; "
		    "creating a new one", bs_name(s), s->id);
		free(s->want_id);
		s->want_id = NULL;
		s->id[0] = '\0';
		bs_open_send(s);
		return (1);
	}
	/*
	 * The runtime persists nothing before the first turn, so a session
	 * never used is unknown after a restart: nothing is lost by creating
	 * it again under the same id.
	 */
	if (r->flag && s->reopen && !s->history && bs_not_found(error)) {
		log_info("%s: session %s had no turn yet; creating it again",
		    bs_name(s), s->id);
		s->recreate = 1;
		bs_open_send(s);
		return (1);
	}
	return (0);
}

static void
bs_open_failed(struct bsession *s, struct rtrpc_req *r, const char *error)
{
	char	why[512];

	if (r->gone || bs_open_retry(s, r, error))
		return;		/* a gone request is sent again on the next runtime */
	if (s->reopen) {
		snprintf(why, sizeof(why), "cannot resume session %s after the "
		    "Copilot runtime restarted: %s", s->id, error);
		log_warnx("%s: %s", bs_name(s), why);
		bs_lose(s, why);
		return;
	}
	s->state = BS_FAILED;
	log_warnx("%s: %s failed: %s", bs_name(s), r->method, error);
	BS_CALL(s, opened, NULL, error);
}

static void
cb_open(struct rtrpc_req *r, const json_t *result, const char *error)
{
	struct bsession	*s = r->arg;
	const char	*id;

	if (s == NULL) {
		/* Closed while opening: let the runtime forget it too. */
		if (error == NULL && (id = jx_str(result, "sessionId")) != NULL)
			bs_detach_id(id);
		return;
	}
	s->inflight = 0;
	if (s->state != BS_OPENING)
		return;
	if (error != NULL) {
		bs_open_failed(s, r, error);
		return;
	}
	if ((id = jx_str(result, "sessionId")) != NULL && *id != '\0' &&
	    strlen(id) < sizeof(s->id))
		snprintf(s->id, sizeof(s->id), "%s", id);
	s->state = BS_OPEN;
	if (r->flag)
		s->history = 1;
	s->recreate = 0;
	if (s->reopen) {
		s->reopen = 0;
		log_info("%s: session %s %s on the new runtime", bs_name(s),
		    s->id, r->flag ? "resumed" : "created again");
		bs_flush_outq(s);
		return;
	}
	log_info("%s: session %s %s", bs_name(s), s->id,
	    r->flag ? "resumed" : "created");
	BS_CALL(s, opened, s->id, NULL);
}

/* Send the create or resume of a session (the runtime is ready). */
static void
bs_open_send(struct bsession *s)
{
	const char		*resume = NULL;
	char			 uuid[37];
	struct rtrpc_req	*r;
	json_t			*params;

	if (s->recreate)
		;			/* create again, with the same id */
	else if (s->reopen)
		resume = s->id;
	else if (s->want_id != NULL)
		resume = s->want_id;
	if (resume == NULL && !s->recreate) {
		if (util_uuid_v4(uuid) == -1) {
			log_warnx("%s: no randomness for a session id",
			    bs_name(s));
			return;		/* retried by the tick, or times out */
		}
		snprintf(s->id, sizeof(s->id), "%s", uuid);
	} else if (resume != NULL && resume != s->id)
		snprintf(s->id, sizeof(s->id), "%s", resume);
	if ((params = bs_params(s, s->id)) == NULL) {
		log_warnx("%s: out of memory", bs_name(s));
		return;
	}
	r = rtrpc_request(resume != NULL ? "session.resume" : "session.create",
	    params, s, cb_open, CP_REQUEST_MS);
	if (r == NULL)
		return;
	r->flag = resume != NULL;
	s->inflight = 1;
}

/* -- what the runtime sends ------------------------------------------------- */

static struct bsession *
bs_find(const char *id)
{
	struct bsession	*s;

	if (id == NULL)
		return (NULL);
	TAILQ_FOREACH(s, &rt.sessions, entry)
		if (!s->closed && s->state == BS_OPEN && strcmp(s->id, id) == 0)
			return (s);
	return (NULL);
}

/*
 * hooks.invoke: the runtime's turn waits for the answer, which the channel
 * gives through answer_hook(), maybe much later (it runs commands).  An
 * answer meant for a runtime that has died since is dropped: the next one
 * numbers its requests from 1 again.
 */
/* The answer for a request nobody can answer now. */
static json_t *
rt_no_answer(enum waitreq_kind kind)
{
	if (kind == WAIT_INPUT)
		return (json_pack("{s:s,s:b}", "answer", "", "wasFreeform", 1));
	if (kind == WAIT_PLAN)
		return (json_pack("{s:b}", "approved", 0));
	return (NULL);				/* {}: no opinion */
}

/* A request of the runtime for s's owner to answer later; NULL: answered. */
static struct hookreq *
rt_wait(struct bsession *s, const json_t *id, enum waitreq_kind kind, int can)
{
	struct hookreq	*h;

	if (s == NULL || !can || (h = calloc(1, sizeof(*h))) == NULL)
		goto none;
	if ((h->id = json_deep_copy(id)) == NULL) {
		free(h);
		goto none;
	}
	h->kind = kind;
	h->gen = rt.gen;
	TAILQ_INSERT_TAIL(&s->hookreqs, h, entry);
	return (h);
none:
	rtrpc_respond(id, rt_no_answer(kind));
	return (NULL);
}

/* Answer a waiting request, if the runtime that asked is still ours. */
static void
rt_answer(struct bsession *s, struct hookreq *h, json_t *result)
{
	if (h->gen == rt.gen)
		rtrpc_respond(h->id, result);
	else
		json_decref(result);
	TAILQ_REMOVE(&s->hookreqs, h, entry);
	json_decref(h->id);
	free(h);
}

static void
rt_hook_invoke(const json_t *id, const json_t *params)
{
	struct bsession	*s = bs_find(jx_str(params, "sessionId"));
	const char	*type = jx_str(params, "hookType");
	struct hookreq	*h;

	if ((h = rt_wait(s, id, WAIT_HOOK, s != NULL && type != NULL &&
	    s->ev->hook != NULL)) == NULL)
		return;
	bs_hold(s);
	BS_CALL(s, hook, h, type, json_object_get(params, "input"));
	bs_release(s);
}

/* userInput.request: a question for the user; the next message answers. */
static void
rt_user_input(const json_t *id, const json_t *params)
{
	struct bsession	*s = bs_find(jx_str(params, "sessionId"));
	struct hookreq	*h;

	if ((h = rt_wait(s, id, WAIT_INPUT, s != NULL &&
	    s->ev->input != NULL)) == NULL)
		return;
	bs_hold(s);
	BS_CALL(s, input, h, jx_stre(params, "question"),
	    json_object_get(params, "choices"), jx_bool(params,
	    "allowFreeform", 1));
	bs_release(s);
}

/* exitPlanMode.request: the plan waits for the user's approval. */
static void
rt_plan_exit(const json_t *id, const json_t *params)
{
	struct bsession	*s = bs_find(jx_str(params, "sessionId"));
	struct hookreq	*h;

	if ((h = rt_wait(s, id, WAIT_PLAN, s != NULL &&
	    s->ev->plan_exit != NULL)) == NULL)
		return;
	bs_hold(s);
	BS_CALL(s, plan_exit, h, params);
	bs_release(s);
}

static void
rt_request_cb(const json_t *id, const char *method, const json_t *params)
{
	char	text[160];

	if (strcmp(method, "hooks.invoke") == 0) {
		rt_hook_invoke(id, params);
		return;
	}
	if (strcmp(method, "userInput.request") == 0) {
		rt_user_input(id, params);
		return;
	}
	if (strcmp(method, "exitPlanMode.request") == 0) {
		rt_plan_exit(id, params);
		return;
	}
	log_debug("runtime asked %s; not handled", method);
	snprintf(text, sizeof(text), "Unhandled method %s", method);
	rtrpc_respond_error(id, JSONRPC_METHOD_NOT_FOUND, text);
}

static void
rt_notification_cb(const char *method, const json_t *params)
{
	struct bsession	*s;

	if (strcmp(method, "session.event") != 0)
		return;			/* session.lifecycle, host.event, ... */
	if ((s = bs_find(jx_str(params, "sessionId"))) == NULL)
		return;
	bs_hold(s);
	cpevent_dispatch(s, json_object_get(params, "event"));
	bs_release(s);
}

static void
rt_fatal_cb(const char *why)
{
	rt_fail("%s", why);
}

static const struct rtrpc_events rt_rpc_events = {
	.request = rt_request_cb,
	.notification = rt_notification_cb,
	.fatal = rt_fatal_cb,
	.hold = rt_hold,
	.release = rt_release,
};

static void
rt_readable_cb(struct evbuffer *in)
{
	rtrpc_readable(in);
}

static void
rt_broken_cb(const char *why)
{
	rt_fail("%s", why);
}

static void
rt_exited_cb(pid_t pid, const char *status, int current)
{
	if (current)
		rt_fail("runtime pid %ld exited (%s)", (long)pid, status);
	else
		log_info("runtime pid %ld exited (%s)", (long)pid, status);
	if (rt.state == RT_STOPPING && !rtproc_running())
		rt_event(RTE_GONE);
}

static const struct rtproc_events rt_proc_events = {
	.readable = rt_readable_cb,
	.broken = rt_broken_cb,
	.exited = rt_exited_cb,
};

/* -- the runtime's life -------------------------------------------------------- */

static void
cb_connect(struct rtrpc_req *r, const json_t *result, const char *error)
{
	json_int_t	 proto;
	const char	*v;

	if (r->gone)
		return;
	if (error != NULL) {
		rt_fail("connect failed: %s", error);
		return;
	}
	proto = jx_int(result, "protocolVersion", 0);
	v = jx_str(result, "version");
	snprintf(rt.version, sizeof(rt.version), "%s", v != NULL ? v : "?");
	if (proto != CP_PROTOCOL) {
		log_errorx("Copilot runtime %s speaks protocol %lld; "
		    "copilot-bridge needs %d", rt.path, (long long)proto,
		    CP_PROTOCOL);
		rt_fail("unsupported protocol version %lld", (long long)proto);
		return;
	}
	rt_event(RTE_CONNECTED);
}

static void
rt_schedule_restart(void)
{
	uint32_t	delay = rt.deliberate ? 0 : backoff_next(&rt.backoff);

	if (!rt.deliberate)
		log_warnx("restarting the Copilot runtime in %u ms", delay);
	if (util_timer_ms(rt.restart_ev, delay) == -1)
		log_warnx("%s: cannot arm the restart timer: the runtime "
		    "stays down", __func__);
}

/* RTE_START: spawn and connect; a spawn that fails is a failure. */
static void
rt_a_start(void)
{
	int	rc;

	rt.old_deadline = 0;
	rt.deliberate = 0;
	rt.failing = 0;
	rt.version[0] = '\0';
	rtrpc_reset();
	if ((rc = rtproc_start(rt.path, rt.envp)) == -1) {
		rt_fail("cannot start %s", rt.path);
		return;
	}
	rt.env_pending = 0;		/* it has the current environment */
	rtrpc_set_open(rc == 0);
	if (rc == 1)
		rt_fail("cannot set up its pipes");
	else if (rtrpc_request("connect", json_object(), NULL, cb_connect,
	    CP_CONNECT_MS) == NULL)
		rt_fail("cannot send connect");
}

static void
rt_a_ready(void)
{
	struct bsession	*s;

	rt.ready_ms = util_now_ms();
	log_info("Copilot runtime pid %ld ready (version %s, protocol %d)",
	    (long)rtproc_pid(), rt.version, CP_PROTOCOL);
	rt.auth_known = 0;
	if (rtrpc_request("auth.getStatus", json_object(), NULL, cb_auth,
	    CP_REQUEST_MS) == NULL)
		log_warnx("cannot ask the runtime whether it is signed in");
	rt_changed();
	TAILQ_FOREACH(s, &rt.sessions, entry)
		if (!s->closed && s->state == BS_OPENING && !s->inflight)
			bs_open_send(s);
}

/*
 * A turn in flight ends with an error, and every open session is opened
 * again once the next runtime is up.  Callbacks may close sessions: the
 * walk restarts after each.
 */
static void
rt_sessions_down(uint64_t now)
{
	struct bsession	*s;

	rt.sweep++;
again:
	TAILQ_FOREACH(s, &rt.sessions, entry) {
		if (s->sweep == rt.sweep || s->closed)
			continue;
		s->sweep = rt.sweep;
		if (s->state == BS_OPEN) {
			s->state = BS_OPENING;
			s->reopen = 1;
			s->open_deadline = now + CP_OPEN_WAIT_MS;
		}
		if (!s->busy)
			continue;
		s->busy = 0;
		bs_hold(s);
		bs_report_untaken(s, 0);
		if (TAILQ_EMPTY(&s->outq)) {
			BS_CALL(s, error, "the Copilot runtime restarted");
			BS_CALL(s, idle, 1);
		} else
			s->busy = 1;	/* the turn waits for the resume */
		bs_release(s);
		goto again;
	}
}

/* RTE_DOWN: tear the runtime down; the restart timer brings the next. */
static void
rt_a_down(void)
{
	uint64_t	now = util_now_ms();

	if (rt.deliberate)
		log_info("restarting the Copilot runtime: %s", rt.why);
	else
		log_warnx("the Copilot runtime failed: %s", rt.why);
	rt.gen++;
	rtrpc_set_open(0);
	/* Asked for: let it exit cleanly (stdin is closed first). */
	rtproc_release(rt.deliberate ? SIGTERM : SIGKILL);
	rtrpc_reset();
	rt.old_deadline = rt.deliberate ? now + CP_RESTART_WAIT_MS : 0;
	if (rt.ready_ms != 0 && now - rt.ready_ms >= CP_STABLE_MS)
		backoff_reset(&rt.backoff);
	rt.ready_ms = 0;
	rt.failing = 0;
	rtrpc_fail_all(rt.why, 0);
	rt_sessions_down(now);
	if (rt.state == RT_DOWN)	/* a callback may have stopped us */
		rt_schedule_restart();
}

static void
rt_down_cb(int fd, short ev, void *arg)
{
	rt_event(RTE_DOWN);
}

/* Something is wrong with the runtime: tear it down from the loop. */
static void
rt_fail(const char *fmt, ...)
{
	va_list	ap;

	if (rt.failing || rt.state == RT_OFF || rt.state == RT_DOWN ||
	    rt.state == RT_STOPPING)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(rt.why, sizeof(rt.why), fmt, ap);
	va_end(ap);
	rt.failing = 1;
	rtrpc_set_open(0);
	event_active(rt.down_ev, EV_TIMEOUT, 1);
}

static void
rt_restart_cb(int fd, short ev, void *arg)
{
	if (rt.state != RT_DOWN)
		return;
	/*
	 * A restart asked for waits for the old runtime to have written its
	 * sessions out and exited, so the new one resumes them whole.
	 */
	if (rtproc_running() && rt.old_deadline != 0) {
		if (util_now_ms() < rt.old_deadline) {
			if (util_timer_ms(rt.restart_ev, 100) == -1)
				log_warnx("%s: cannot arm the timer", __func__);
			return;
		}
		rtproc_kill_all(SIGKILL);
	}
	rt_event(RTE_START);
}

/*
 * New telemetry settings reach the runtime only through its environment:
 * restart it once no turn runs, so nobody's answer is cut.  Every session
 * is resumed on the new one, its context intact.
 */
static void
rt_env_check(void)
{
	struct bsession	*s;

	if (!rt.env_pending || rt.state != RT_READY || rt.failing)
		return;
	TAILQ_FOREACH(s, &rt.sessions, entry)
		if (!s->closed && (s->busy || s->inflight ||
		    !TAILQ_EMPTY(&s->hookreqs)))
			return;
	rt.env_pending = 0;
	rt.deliberate = 1;
	backoff_reset(&rt.backoff);
	rt_fail("its environment changed (telemetry settings)");
}

static void
copilot_reconfigure(json_t *config)
{
	char	**env;

	if (rt.state == RT_OFF)
		return;
	rt_token_load(config);
	rt_changed();
	if ((env = rtenv_build(config)) == NULL) {
		log_warnx("out of memory: the Copilot runtime keeps its "
		    "environment");
		return;
	}
	if (rtenv_same(env, rt.envp)) {
		rtenv_free(env);
		return;
	}
	rtenv_free(rt.envp);
	rt.envp = env;
	rt.env_pending = 1;
	log_info("the Copilot runtime's environment changed; it restarts "
	    "once no turn runs");
	rt_env_check();
}

/* Opens that waited too long fail; an open that could not be sent is retried. */
static void
rt_tick_opens(uint64_t now)
{
	struct bsession	*s;

	rt.sweep++;
again:
	TAILQ_FOREACH(s, &rt.sessions, entry) {
		if (s->sweep == rt.sweep || s->closed)
			continue;
		s->sweep = rt.sweep;
		if (s->state != BS_OPENING || s->inflight)
			continue;
		if (rt.state == RT_READY && !rt.failing) {
			bs_open_send(s);	/* a retry after ENOMEM */
			if (s->inflight)
				continue;
		}
		if (now < s->open_deadline)
			continue;
		bs_hold(s);
		if (s->reopen)
			bs_lose(s, "the Copilot runtime did not come back");
		else {
			s->state = BS_FAILED;
			BS_CALL(s, opened, NULL,
			    "the Copilot runtime is not available");
		}
		bs_release(s);
		goto again;
	}
}

/* Request timeouts and open deadlines. */
static void
rt_tick_cb(int fd, short ev, void *arg)
{
	const struct rtrpc_req	*r;
	uint64_t		 now = util_now_ms();

	rt_env_check();
	if ((r = rtrpc_overdue(now)) != NULL)
		rt_fail("no reply to %s (id %lld) in time", r->method,
		    (long long)r->id);
	rt_tick_opens(now);
}

/* -- the backend ------------------------------------------------------------- */

static void
rt_free_events(void)
{
	if (rt.down_ev != NULL)
		event_free(rt.down_ev);
	if (rt.idle_ev != NULL)
		event_free(rt.idle_ev);
	rt.idle_ev = NULL;
	if (rt.restart_ev != NULL)
		event_free(rt.restart_ev);
	if (rt.tick_ev != NULL)
		event_free(rt.tick_ev);
	rt.down_ev = rt.restart_ev = rt.tick_ev = NULL;
}

static int
copilot_start(struct event_base *base, json_t *config, void (*changed)(void))
{
	if (rt.state != RT_OFF) {
		log_warnx("%s: already started", __func__);
		return (0);
	}
	if (rt_resolve_path(config, rt.path, sizeof(rt.path)) == -1)
		return (-1);
	rt.base = base;
	rt.changed = changed;
	rt_token_load(config);
	if ((rt.envp = rtenv_build(config)) == NULL)
		log_warnx("out of memory: the Copilot runtime gets our "
		    "environment as it is");
	rtproc_init(base, &rt_proc_events);
	rtrpc_init(&rt_rpc_events);
	backoff_init(&rt.backoff, CP_RESTART_BASE_MS, CP_RESTART_MAX_MS);
	backoff_first_free(&rt.backoff);
	rt.down_ev = event_new(base, -1, 0, rt_down_cb, NULL);
	rt.idle_ev = event_new(base, -1, 0, rt_idle_cb, NULL);
	rt.restart_ev = evtimer_new(base, rt_restart_cb, NULL);
	rt.tick_ev = event_new(base, -1, EV_PERSIST, rt_tick_cb, NULL);
	if (rt.down_ev == NULL || rt.idle_ev == NULL || rt.restart_ev == NULL ||
	    rt.tick_ev == NULL ||
	    util_timer_ms(rt.tick_ev, CP_TICK_MS) == -1) {
		log_warnx("%s: cannot set up events", __func__);
		rt_free_events();
		return (-1);
	}
	rt_event(RTE_START);
	return (0);
}

static struct bsession *
copilot_open(const struct bsession_opts *o, const char *session_id,
    const struct backend_events *ev, void *arg)
{
	struct bsession	*s;

	if (rt.state == RT_OFF || ev == NULL || o == NULL)
		return (NULL);
	if (session_id != NULL && (*session_id == '\0' ||
	    strlen(session_id) >= CP_ID_MAX))
		return (NULL);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	TAILQ_INIT(&s->hookreqs);
	TAILQ_INIT(&s->outq);
	TAILQ_INIT(&s->sent);
	s->ev = ev;
	s->arg = arg;
	s->state = BS_OPENING;
	s->open_deadline = util_now_ms() + CP_OPEN_WAIT_MS;
	if ((o->channel != NULL && (s->channel = strdup(o->channel)) == NULL) ||
	    (o->cwd != NULL && (s->cwd = strdup(o->cwd)) == NULL) ||
	    (o->model != NULL && (s->model = strdup(o->model)) == NULL) ||
	    (o->agent != NULL && (s->agent = strdup(o->agent)) == NULL) ||
	    (o->provider != NULL &&
	    (s->provider = json_deep_copy(o->provider)) == NULL) ||
	    (o->extra != NULL && (s->extra = json_deep_copy(o->extra)) == NULL) ||
	    (session_id != NULL && (s->want_id = strdup(session_id)) == NULL)) {
		bs_free(s);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&rt.sessions, s, entry);
	if (rt.state == RT_READY && !rt.failing)
		bs_open_send(s);
	return (s);
}

static int
bs_usable(const struct bsession *s)
{
	return (s != NULL && !s->closed && s->state == BS_OPEN &&
	    rt.state == RT_READY && !rt.failing);
}

static void
cb_send(struct rtrpc_req *r, const json_t *result, const char *error)
{
	struct bsession	*s = r->arg;
	struct bprompt	*p;

	if (s == NULL || r->gone)
		return;		/* gone: still "sent", handed back at the crash */
	TAILQ_FOREACH(p, &s->sent, entry)
		if (p->seq == r->flag)
			break;
	if (error == NULL) {
		if (p != NULL && p->msgid[0] == '\0')
			snprintf(p->msgid, sizeof(p->msgid), "%s",
			    jx_stre(result, "messageId"));
		return;
	}
	if (p != NULL)
		bprompt_free(&s->sent, p);
	log_warnx("%s: session.send failed: %s", bs_name(s), error);
	if (!s->busy)
		return;
	s->busy = 0;
	BS_CALL(s, error, error);
	BS_CALL(s, idle, 0);
}

/*
 * A session whose runtime is restarting keeps the prompt and sends it once
 * resumed: the turn has begun for the owner already.
 */
static int
copilot_send(struct bsession *s, const char *prompt, int immediate,
    const json_t *attachments)
{
	struct bprompt	*p;

	if (s == NULL || s->closed || prompt == NULL)
		return (-1);
	if (!bs_usable(s) && !(s->state == BS_OPENING && s->reopen))
		return (-1);
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->text = strdup(prompt)) == NULL) {
		free(p);
		return (-1);
	}
	if (attachments != NULL &&
	    (p->attachments = json_deep_copy(attachments)) == NULL) {
		free(p->text);
		free(p);
		return (-1);
	}
	p->immediate = immediate;
	if (!bs_usable(s)) {
		log_info("%s: the runtime is restarting; the prompt waits for "
		    "the session to be resumed", bs_name(s));
		TAILQ_INSERT_TAIL(&s->outq, p, entry);
	} else if (bs_send_now(s, p) == -1) {
		json_decref(p->attachments);
		free(p->text);
		free(p);
		return (-1);
	}
	s->busy = 1;
	return (0);
}

static void
cb_logged(struct rtrpc_req *r, const json_t *result, const char *error)
{
	const char	*who = r->arg != NULL ? bs_name(r->arg) : "?";

	if (r->gone)
		return;
	if (error != NULL)
		log_warnx("%s: %s failed: %s", who, r->method, error);
	else if (json_is_false(json_object_get(result, "success")))
		log_info("%s: %s: the runtime says no (%s)", who, r->method,
		    jx_str(result, "error") != NULL ? jx_str(result, "error") :
		    "too late?");
}

/* idle(1) for the sessions whose turn was aborted while resuming. */
static void
rt_idle_cb(int fd, short what, void *arg)
{
	struct bsession	*s;

	rt.sweep++;
again:
	TAILQ_FOREACH(s, &rt.sessions, entry) {
		if (s->sweep == rt.sweep || s->closed || !s->idle_due)
			continue;
		s->sweep = rt.sweep;
		s->idle_due = 0;
		bs_hold(s);
		BS_CALL(s, idle, 1);
		bs_release(s);
		goto again;
	}
}

/*
 * A turn that only waits for the session to be resumed ends here: its
 * prompts are dropped, and idle(1) comes from the loop.
 */
static int
copilot_abort(struct bsession *s)
{
	if (s != NULL && !s->closed && s->state == BS_OPENING && s->reopen &&
	    s->busy) {
		bprompt_free_all(&s->outq);
		s->busy = 0;
		s->idle_due = 1;
		event_active(rt.idle_ev, EV_READ, 1);
		return (0);
	}
	if (!bs_usable(s))
		return (-1);
	if (rtrpc_request("session.abort", json_pack("{s:s}", "sessionId",
	    s->id), s, cb_logged, CP_REQUEST_MS) == NULL)
		return (-1);
	return (0);
}

static int
copilot_answer_permission(struct bsession *s, const char *request_id,
    enum bperm answer)
{
	json_t	*params;

	if (!bs_usable(s) || request_id == NULL)
		return (-1);
	/*
	 * A reject with feedback makes the runtime call the model again with
	 * the refusal as the tool's result, so the answer says what happened;
	 * without it the turn just ends.
	 */
	if (answer == BPERM_REJECT || answer == BPERM_POLICY)
		params = json_pack("{s:s,s:s,s:{s:s,s:s}}", "sessionId", s->id,
		    "requestId", request_id, "result", "kind", "reject",
		    "feedback", answer == BPERM_REJECT ? "denied in chat" :
		    "denied by the bridge's permission rules");
	else
		params = json_pack("{s:s,s:s,s:{s:s}}", "sessionId", s->id,
		    "requestId", request_id, "result", "kind",
		    answer == BPERM_APPROVE ? "approve-once" :
		    "user-not-available");
	if (rtrpc_request("session.permissions.handlePendingPermissionRequest",
	    params, s, cb_logged, CP_REQUEST_MS) == NULL)
		return (-1);
	return (0);
}

static void
copilot_answer_hook(struct bsession *s, void *tok, json_t *output)
{
	json_t		*res;

	/* Out of memory on the way is "no opinion" (a null result is {}). */
	if ((res = json_object()) == NULL)
		json_decref(output);
	else if (output != NULL &&
	    json_object_set_new(res, "output", output) == -1) {
		json_decref(res);
		res = NULL;
	}
	rt_answer(s, tok, res);
}

static int
copilot_answer_input(struct bsession *s, void *tok, const char *answer,
    int freeform)
{
	json_t	*res;

	if ((res = json_pack("{s:s,s:b}", "answer", answer != NULL ? answer :
	    "", "wasFreeform", freeform)) == NULL)
		res = rt_no_answer(WAIT_INPUT);
	rt_answer(s, tok, res);
	return (0);
}

static int
copilot_answer_plan_exit(struct bsession *s, void *tok, int approved,
    const char *action, const char *feedback)
{
	json_t	*res;

	if ((res = json_pack("{s:b}", "approved", approved)) == NULL ||
	    (action != NULL && json_object_set_new(res, "selectedAction",
	    json_string(action)) == -1) ||
	    (feedback != NULL && json_object_set_new(res, "feedback",
	    json_string(feedback)) == -1)) {
		json_decref(res);
		res = rt_no_answer(WAIT_PLAN);
	}
	rt_answer(s, tok, res);
	return (0);
}

static int
copilot_answer_tool(struct bsession *s, const char *request_id,
    json_t *result)
{
	json_t	*params;
	int	 bad;

	if (!bs_usable(s) || request_id == NULL || result == NULL) {
		json_decref(result);
		return (-1);
	}
	if ((params = json_pack("{s:s,s:s}", "sessionId", s->id, "requestId",
	    request_id)) == NULL) {
		json_decref(result);
		return (-1);
	}
	if (jx_str(result, "error") != NULL)
		bad = json_object_set(params, "error", json_object_get(result,
		    "error"));
	else
		bad = json_object_set(params, "result", result);
	json_decref(result);
	if (bad == -1 || rtrpc_request("session.tools.handlePendingToolCall",
	    params, s, cb_logged, CP_REQUEST_MS) == NULL)
		return (-1);
	return (0);
}

/* call(): the caller's callback and argument, for the request's end. */
struct bcall {
	bcall_cb	 cb;
	void		*arg;
	int		 session;	/* a session's request */
};

static void
cb_call(struct rtrpc_req *r, const json_t *result, const char *error)
{
	struct bcall	*c = r->ctx;

	/* A session closed meanwhile hears nothing more. */
	if (!c->session || r->arg != NULL)
		c->cb(c->arg, result, r->gone && error != NULL ?
		    "the Copilot runtime restarted" : error);
	free(c);
}

static int
copilot_call(struct bsession *s, const char *method, json_t *params,
    bcall_cb cb, void *arg)
{
	struct bcall		*c;
	struct rtrpc_req	*r;

	if (params == NULL)
		params = json_object();
	if (params == NULL || cb == NULL || (s != NULL && !bs_usable(s)) ||
	    (s == NULL && (rt.state != RT_READY || rt.failing)) ||
	    (s != NULL && json_object_set_new(params, "sessionId",
	    json_string(s->id)) == -1) || (c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(params);
		return (-1);
	}
	/*
	 * models.list lists what the signed-in account may use; without a
	 * sign-in, the configured token is that account (the schema's
	 * ModelsListRequest.gitHubToken).
	 */
	if (s == NULL && rt.token != NULL && !rt.auth_ok &&
	    strcmp(method, "models.list") == 0 && json_object_set_new(params,
	    "gitHubToken", json_string(rt.token)) == -1) {
		free(c);
		json_decref(params);
		return (-1);
	}
	c->cb = cb;
	c->arg = arg;
	c->session = s != NULL;
	if ((r = rtrpc_request(method, params, s, cb_call, CP_REQUEST_MS)) ==
	    NULL) {
		free(c);
		return (-1);
	}
	r->ctx = c;
	return (0);
}

static void
cb_resumed(struct rtrpc_req *r, const json_t *result, const char *error)
{
	if (r->arg != NULL && !r->gone && error != NULL)
		log_warnx("%s: re-attaching the session failed: %s",
		    bs_name(r->arg), error);
}

/*
 * A runtime without sessions.reloadPluginHooks: re-attach the live session
 * (session.resume, same id), which re-registers it with everything we send.
 */
static void
cb_reload_hooks(struct rtrpc_req *r, const json_t *result, const char *error)
{
	struct bsession	*s = r->arg;
	json_t		*params;

	if (s == NULL || r->gone || error == NULL)
		return;
	if (strcasestr(error, "unhandled method") == NULL &&
	    strcasestr(error, "method not found") == NULL) {
		log_warnx("%s: sessions.reloadPluginHooks failed: %s",
		    bs_name(s), error);
		return;
	}
	log_info("%s: the runtime has no sessions.reloadPluginHooks; "
	    "re-attaching session %s", bs_name(s), s->id);
	if (!bs_usable(s) || (params = bs_params(s, s->id)) == NULL)
		return;
	(void)rtrpc_request("session.resume", params, s, cb_resumed,
	    CP_REQUEST_MS);
}

static int
copilot_reload_hooks(struct bsession *s)
{
	if (!bs_usable(s))
		return (-1);
	if (rtrpc_request("sessions.reloadPluginHooks", json_pack("{s:s}",
	    "sessionId", s->id), s, cb_reload_hooks, CP_REQUEST_MS) == NULL)
		return (-1);
	return (0);
}

/* Replace a string option; -1 only when out of memory. */
static int
bs_set_str(char **slot, const char *v)
{
	char	*n = NULL;

	if (v != NULL && (n = strdup(v)) == NULL)
		return (-1);
	free(*slot);
	*slot = n;
	return (0);
}

static int
copilot_set_opts(struct bsession *s, const struct bsession_opts *o,
    int reattach)
{
	json_t	*prov = NULL, *extra = NULL, *params;

	if (s == NULL || s->closed || o == NULL)
		return (-1);
	if ((o->provider != NULL && (prov = json_deep_copy(o->provider)) ==
	    NULL) || (o->extra != NULL && (extra = json_deep_copy(o->extra)) ==
	    NULL) || bs_set_str(&s->cwd, o->cwd) == -1 ||
	    bs_set_str(&s->model, o->model) == -1 ||
	    bs_set_str(&s->agent, o->agent) == -1) {
		json_decref(prov);
		json_decref(extra);
		return (-1);
	}
	json_decref(s->provider);
	s->provider = prov;
	json_decref(s->extra);
	s->extra = extra;
	if (!reattach)
		return (0);
	/* Re-attached under the same id: the context stays, options apply. */
	if (!bs_usable(s) || (params = bs_params(s, s->id)) == NULL ||
	    rtrpc_request("session.resume", params, s, cb_resumed,
	    CP_REQUEST_MS) == NULL)
		return (-1);
	return (0);
}

static void
copilot_close(struct bsession *s)
{
	if (s == NULL || s->closed)
		return;
	/* A hook or a question still open: the runtime waits for an answer. */
	while (!TAILQ_EMPTY(&s->hookreqs))
		rt_answer(s, TAILQ_FIRST(&s->hookreqs), rt_no_answer(
		    TAILQ_FIRST(&s->hookreqs)->kind));
	s->closed = 1;
	if (s->state == BS_OPEN && rt.state == RT_READY && !rt.failing)
		bs_detach_id(s->id);
	rtrpc_forget(s);	/* an open in flight detaches on its reply */
	TAILQ_REMOVE(&rt.sessions, s, entry);
	if (s->refs == 0)
		bs_free(s);
}

/* -- stop ----------------------------------------------------------------- */

static void
rt_free_stop_events(void)
{
	if (rt.stop_ev != NULL)
		event_free(rt.stop_ev);
	rt.stop_ev = NULL;
}

/* Its answer to runtime.shutdown: stdin EOF, and it exits. */
static void
cb_shutdown(struct rtrpc_req *r, const json_t *result, const char *error)
{
	if (rt.state == RT_STOPPING)
		rtproc_release(0);
}

/*
 * RTE_STOP: no session hears anything more.  What is queued goes out (the
 * channels answered their permission prompts and detached their sessions
 * before), then runtime.shutdown, then stdin EOF; a runtime not ready is
 * asked with SIGTERM.  The runtime keeps every session on disk: the next
 * start resumes them.
 */
static void
rt_a_stop(void)
{
	struct bsession	*s;

	rt.gen++;
	rt.stop_t0 = util_now_ms();
	rt.killed = 0;
	TAILQ_FOREACH(s, &rt.sessions, entry) {
		s->state = BS_STOPPED;
		s->busy = 0;
		s->inflight = 0;
	}
	if (!rtrpc_is_open() || rt.ready_ms == 0 ||
	    rtrpc_request("runtime.shutdown", json_object(), NULL, cb_shutdown,
	    CP_STOP_MS) == NULL)
		rtproc_release(SIGTERM);
	if (!rtproc_running()) {
		event_active(rt.stop_ev, EV_READ, 1);	/* nothing to wait for */
		return;
	}
	if (util_timer_ms(rt.stop_ev, CP_STOP_MS) == -1)
		log_warnx("%s: cannot arm the stop timer", __func__);
}

/* RTE_DEADLINE: it did not exit in time. */
static void
rt_a_kill(void)
{
	if (rt.killed) {
		log_warnx("the Copilot runtime is still not reaped; going on");
		rt_event(RTE_GONE);
		return;
	}
	log_warnx("the Copilot runtime did not exit within %d ms; killing it",
	    CP_STOP_MS);
	rt.killed = 1;
	rtproc_kill_all(SIGKILL);
	if (util_timer_ms(rt.stop_ev, CP_KILL_WAIT_MS) == -1)
		rt_event(RTE_GONE);
}

static void
rt_done_cb(int fd, short ev, void *arg)
{
	event_free(rt.done_ev);
	rt.done_ev = NULL;
	if (rt.done != NULL)
		rt.done(rt.done_arg);
}

/* RTE_GONE: everything is released; stop()'s caller hears it from the loop. */
static void
rt_a_stopped(void)
{
	rtrpc_set_open(0);
	rtproc_shutdown();
	rtrpc_fail_all("stopped", 1);
	rt_free_events();
	rt_free_stop_events();
	rtenv_free(rt.envp);
	rt.envp = NULL;
	rt_token_clear();
	rt.failing = 0;
	rt.ready_ms = 0;
	log_info("Copilot runtime stopped in %llu ms", (unsigned long long)
	    (util_now_ms() - rt.stop_t0));
	event_active(rt.done_ev, EV_READ, 1);
}

static void
rt_stop_cb(int fd, short what, void *arg)
{
	rt_event(what & EV_TIMEOUT ? RTE_DEADLINE : RTE_GONE);
}

static void
copilot_stop(void (*done)(void *), void *arg)
{
	if (rt.state == RT_OFF || rt.state == RT_STOPPING) {
		if (rt.state == RT_OFF && done != NULL)
			done(arg);	/* never started: no loop to run it */
		return;
	}
	rt.done = done;
	rt.done_arg = arg;
	if ((rt.stop_ev = event_new(rt.base, -1, 0, rt_stop_cb, NULL)) == NULL ||
	    (rt.done_ev = event_new(rt.base, -1, 0, rt_done_cb, NULL)) == NULL)
		fatalx("%s: cannot set up the stop events", __func__);
	rt_event(RTE_STOP);
}

pid_t
copilot_runtime_pid(void)
{
	return (rt.state != RT_OFF ? rtproc_pid() : -1);
}

const struct backend backend_copilot = {
	.name = "copilot",
	.start = copilot_start,
	.info = copilot_info,
	.signed_in = copilot_signed_in,
	.open = copilot_open,
	.send = copilot_send,
	.abort = copilot_abort,
	.answer_permission = copilot_answer_permission,
	.answer_hook = copilot_answer_hook,
	.answer_input = copilot_answer_input,
	.answer_plan_exit = copilot_answer_plan_exit,
	.answer_tool = copilot_answer_tool,
	.call = copilot_call,
	.set_opts = copilot_set_opts,
	.reload_hooks = copilot_reload_hooks,
	.reconfigure = copilot_reconfigure,
	.close = copilot_close,
	.stop = copilot_stop,
};
