/*
 * copilot: backend_copilot, the Copilot runtime as a child process speaking
 * JSON-RPC over its stdio (docs/copilot-runtime.md is the protocol as
 * observed; docs/architecture.md "Copilot backend" the design).
 *
 * One runtime serves every session.  Requests carry our numeric ids and are
 * matched with their replies, which come back in any order; session.event
 * notifications are dispatched to the session named by sessionId.  If the
 * runtime dies, it is restarted with backoff and every live session is
 * resumed on the new one; a turn in flight at the crash ends with an error.
 *
 * Nothing here blocks the loop except stop(), which is bounded (CP_STOP_MS)
 * and only runs at shutdown.  The runtime's exit is noticed through a
 * pidfd, so no process-wide SIGCHLD handler is needed (see
 * copilot_child_exited() for sharing reaping with one).
 *
 * Teardown after a failure is always deferred to the loop (rt_fail()), so a
 * caller of send() or open() never gets callbacks from inside its own call.
 */
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/spawn.h"
#include "common/util.h"
#include "backend.h"
#include "jsonrpc.h"
#include "sessiond.h"

#define CP_PROTOCOL		3
#define CP_REQUEST_MS		60000	/* per request; a wedged runtime is restarted */
#define CP_CONNECT_MS		20000	/* connect reply after spawn */
#define CP_OPEN_WAIT_MS		60000	/* an open may wait this long for a runtime */
#define CP_STOP_MS		3000	/* stop(): detach, shutdown, exit, else SIGKILL */
#define CP_TICK_MS		1000
#define CP_RESTART_BASE_MS	1000
#define CP_RESTART_MAX_MS	60000
#define CP_STABLE_MS		60000	/* up this long: the next crash starts over */
#define CP_OUT_MAX		(64 * 1024 * 1024)	/* unread input: it is stuck */
#define CP_STDERR_LINE		1024
#define CP_STDERR_READ		(64 * 1024)	/* per wakeup, so it cannot starve us */
#define CP_SUMMARY_MAX		200
#define CP_DETAIL_MAX		2000
#define CP_ID_MAX		128
#define CP_RUNTIME_NAME		"copilot-runtime"

enum bs_state {
	BS_OPENING,		/* create/resume to send or in flight */
	BS_OPEN,
	BS_FAILED,		/* opened() reported an error */
	BS_LOST,		/* lost() reported */
	BS_STOPPED		/* the engine was stopped */
};

/* A hooks.invoke waiting for the channel's answer. */
struct hookreq {
	TAILQ_ENTRY(hookreq)	 entry;
	unsigned int		 gen;		/* the runtime it came from */
	json_t			*id;
};
TAILQ_HEAD(hookreqq, hookreq);

struct bsession {
	TAILQ_ENTRY(bsession)		 entry;
	struct hookreqq			 hookreqs;
	const struct backend_events	*ev;
	void				*arg;
	char				*channel;
	char				*cwd;
	char				*model;
	char				*agent;
	json_t				*provider;	/* own copy: every resume sends it */
	char				*want_id;	/* to resume on the first open */
	char				 id[CP_ID_MAX];	/* "" until an open picks one */
	enum bs_state			 state;
	int				 reopen;	/* open after a runtime restart */
	int				 recreate;	/* reopen by create, same id */
	int				 history;	/* it had a turn: resume or lose it */
	int				 inflight;	/* create/resume pending */
	int				 busy;		/* a turn runs (until session.idle) */
	int				 closed;
	int				 refs;
	unsigned int			 sweep;
	uint64_t			 open_deadline;
};
TAILQ_HEAD(bsessionq, bsession);

struct pending;
typedef void	(*pending_cb)(struct pending *, const json_t *result,
		    const char *error);

struct pending {
	TAILQ_ENTRY(pending)	 entry;
	int64_t			 id;
	uint64_t		 deadline;
	char			 method[64];
	struct bsession		*s;		/* NULL once the session closed */
	pending_cb		 cb;		/* NULL: the reply is dropped */
	int			 gone;		/* failed: the runtime went away */
	int			 resume;	/* session.resume (not create) */
};
TAILQ_HEAD(pendingq, pending);

/* A runtime process, from fork until it is reaped. */
struct rtproc {
	TAILQ_ENTRY(rtproc)	 entry;
	pid_t			 pid;
	int			 pidfd;		/* -1: polled with waitpid */
	struct event		*ev;
};
TAILQ_HEAD(rtprocq, rtproc);

enum rt_state {
	RT_OFF = 0,		/* not started, or stopped */
	RT_CONNECTING,		/* spawned, connect sent */
	RT_READY,
	RT_DOWN			/* waiting for the restart timer */
};

static struct {
	struct event_base	*base;
	enum rt_state		 state;
	char			 path[PATH_MAX];
	struct rtproc		*cur;		/* the runtime we talk to */
	struct rtprocq		 procs;		/* every child not reaped yet */
	struct bufferevent	*in;		/* its stdin */
	struct bufferevent	*out;		/* its stdout */
	int			 infd;		/* rt.in's descriptor */
	int			 outfd;		/* rt.out's descriptor */
	int			 errfd;		/* its stderr */
	struct event		*errev;
	char			 errline[CP_STDERR_LINE];
	size_t			 errlen;
	struct jsonrpc_dec	 dec;
	int64_t			 next_id;
	unsigned int		 gen;		/* bumped on every teardown */
	unsigned int		 sweep;
	int			 failing;
	char			 why[256];
	struct pendingq		 pending;
	struct bsessionq	 sessions;
	struct backoff		 backoff;
	struct event		*down_ev;	/* deferred teardown */
	struct event		*restart_ev;
	struct event		*tick_ev;
	uint64_t		 ready_ms;
	char			 version[64];
	char			**envp;		/* the runtime's environment, or NULL */
	int			 env_pending;	/* envp changed: restart when idle */
	int			 deliberate;	/* the restart was asked for */
	uint64_t		 old_deadline;	/* wait for the old one to exit */
} rt = {
	.infd = -1,
	.outfd = -1,
	.errfd = -1,
	.procs = TAILQ_HEAD_INITIALIZER(rt.procs),
	.pending = TAILQ_HEAD_INITIALIZER(rt.pending),
	.sessions = TAILQ_HEAD_INITIALIZER(rt.sessions),
};

static void	rt_fail(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	rt_read_cb(struct bufferevent *, void *);
static void	rt_bev_event_cb(struct bufferevent *, short, void *);
static void	rt_write_cb(struct bufferevent *, void *);
static void	rt_stderr_cb(int, short, void *);
static void	rt_proc_cb(int, short, void *);
static void	bs_open_send(struct bsession *);

/* -- small helpers --------------------------------------------------------- */

static const char *
jstr(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

static void
bs_hold(struct bsession *s)
{
	s->refs++;
}

static void
bs_free(struct bsession *s)
{
	free(s->channel);
	free(s->cwd);
	free(s->model);
	free(s->agent);
	free(s->want_id);
	json_decref(s->provider);
	free(s);
}

static void
bs_release(struct bsession *s)
{
	if (--s->refs == 0 && s->closed)
		bs_free(s);
}

/* Callbacks only reach a session its owner has not closed. */
#define BS_CALL(s, fn, ...) do {					\
	if (!(s)->closed && (s)->ev->fn != NULL)			\
		(s)->ev->fn((s)->arg, __VA_ARGS__);			\
} while (0)

static const char *
bs_name(const struct bsession *s)
{
	return (s->channel != NULL ? s->channel : "?");
}

/* A UUID v4, as the SDK generates session ids. */
static int
uuid_v4(char out[37])
{
	unsigned char	b[16];
	ssize_t		n;

	n = getrandom(b, sizeof(b), GRND_NONBLOCK);
	if (n != (ssize_t)sizeof(b) && RAND_bytes(b, sizeof(b)) != 1)
		return (-1);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return (0);
}

/*
 * One line, at most max bytes (plus "…" when cut), never cutting a UTF-8
 * sequence; control characters become spaces.  Returns malloc'd text.
 */
static char *
one_line(const char *in, size_t max)
{
	size_t	 n = strlen(in), i, cut = n;
	char	*out;

	if (n > max) {
		cut = max;
		while (cut > 0 && ((unsigned char)in[cut] & 0xc0) == 0x80)
			cut--;
	}
	if ((out = malloc(cut + sizeof("…"))) == NULL)
		return (NULL);
	for (i = 0; i < cut; i++)
		out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? ' ' :
		    in[i];
	out[cut] = '\0';
	if (cut < n)
		strcat(out, "…");
	return (out);
}

static char *
json_one_line(const json_t *j, size_t max)
{
	char	*s, *r;

	if (j == NULL)
		return (strdup(""));
	if (json_is_string(j))
		return (one_line(json_string_value(j), max));
	if ((s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return (NULL);
	r = one_line(s, max);
	free(s);
	return (r);
}

/* -- the runtime binary ---------------------------------------------------- */

/*
 * session.runtimePath, else the default places in order (common/runtime.c);
 * where it looked is logged when it found nothing.
 */
static int
rt_resolve_path(const json_t *config, char *out, size_t len)
{
	const char	*cfg;
	char		 places[4096];

	cfg = jstr(json_object_get(config, "session"), "runtimePath");
	if (runtime_find(cfg, NULL, out, len) != RUNTIME_NONE)
		return (0);
	runtime_places(cfg, NULL, places, sizeof(places));
	log_warnx("no Copilot runtime at %s", places);
	return (-1);
}

/* -- sending ---------------------------------------------------------------- */

static int
rt_connected(void)
{
	return ((rt.state == RT_CONNECTING || rt.state == RT_READY) &&
	    !rt.failing && rt.in != NULL);
}

/* Queue one message (stolen) for the runtime's stdin. */
static int
rt_send(json_t *msg)
{
	struct evbuffer	*ob;
	char		*buf;
	size_t		 len;
	int		 rc;

	if (msg == NULL)
		return (-1);
	if (!rt_connected()) {
		json_decref(msg);
		return (-1);
	}
	buf = jsonrpc_encode(msg, &len);
	json_decref(msg);
	if (buf == NULL) {
		log_warnx("%s: cannot encode a message", __func__);
		return (-1);
	}
	rc = bufferevent_write(rt.in, buf, len);
	free(buf);
	if (rc == -1) {
		rt_fail("cannot queue %zu bytes for its input", len);
		return (-1);
	}
	ob = bufferevent_get_output(rt.in);
	if (evbuffer_get_length(ob) > CP_OUT_MAX) {
		rt_fail("it does not read its input (%zu bytes queued)",
		    evbuffer_get_length(ob));
		return (-1);
	}
	return (0);
}

/* Send a request; cb gets its reply, an error, or gone.  params stolen. */
static struct pending *
rt_request(const char *method, json_t *params, struct bsession *s,
    pending_cb cb, int timeout_ms)
{
	struct pending	*p;
	json_t		*msg;

	if (!rt_connected() || (p = calloc(1, sizeof(*p))) == NULL) {
		json_decref(params);
		return (NULL);
	}
	p->id = ++rt.next_id;
	p->deadline = util_now_ms() + (uint64_t)timeout_ms;
	snprintf(p->method, sizeof(p->method), "%s", method);
	p->s = s;
	p->cb = cb;
	if ((msg = jsonrpc_request(p->id, method, params)) == NULL ||
	    rt_send(msg) == -1) {
		free(p);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&rt.pending, p, entry);
	return (p);
}

/* Complete a pending request: unlink, call back, free. */
static void
pending_done(struct pending *p, const json_t *result, const char *error)
{
	struct bsession	*s = p->s;

	TAILQ_REMOVE(&rt.pending, p, entry);
	if (s != NULL)
		bs_hold(s);
	if (p->cb != NULL)
		p->cb(p, result, error);
	else if (error != NULL && !p->gone)
		log_debug("%s failed: %s", p->method, error);
	if (s != NULL)
		bs_release(s);
	free(p);
}

static void
rt_respond(const json_t *id, json_t *result)
{
	(void)rt_send(jsonrpc_result(id, result));
}

/* Answer a request of runtime generation gen, if it is still the one. */
static void
rt_respond_gen(unsigned int gen, const json_t *id, json_t *result)
{
	if (gen != rt.gen) {
		json_decref(result);
		return;
	}
	rt_respond(id, result);
}

static void
rt_respond_error(const json_t *id, int code, const char *message)
{
	(void)rt_send(jsonrpc_error(id, code, message));
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
	    json_deep_copy(s->provider)) == -1)) {
		json_decref(p);
		return (NULL);
	}
	return (p);
}

/*
 * "Session not found: <id>" (observed), "Session file not found for <id>"
 * (reference).  A bare "not found" is not enough: "model not found" on a
 * resume must not make us start over with an empty history.
 */
static int
not_found(const char *error)
{
	return (error != NULL && strcasestr(error, "not found") != NULL &&
	    strcasestr(error, "session") != NULL);
}

static void
bs_detach_id(const char *id)
{
	(void)rt_request("session.detach", json_pack("{s:s}", "sessionId", id),
	    NULL, NULL, CP_REQUEST_MS);
}

static void
cb_open(struct pending *p, const json_t *result, const char *error)
{
	struct bsession	*s = p->s;
	const char	*id;
	char		 why[512];

	if (s == NULL) {
		/* Closed while opening: let the runtime forget it too. */
		if (error == NULL && (id = jstr(result, "sessionId")) != NULL)
			bs_detach_id(id);
		return;
	}
	s->inflight = 0;
	if (s->state != BS_OPENING)
		return;
	if (error != NULL) {
		if (p->gone)
			return;		/* sent again on the next runtime */
		if (p->resume && !s->reopen && not_found(error)) {
			log_info("%s: session %s is unknown to the runtime; "
			    "creating a new one", bs_name(s), s->id);
			free(s->want_id);
			s->want_id = NULL;
			s->id[0] = '\0';
			bs_open_send(s);
			return;
		}
		/*
		 * The runtime persists nothing before the first turn, so a
		 * session never used is unknown after a restart: nothing is
		 * lost by creating it again under the same id.
		 */
		if (p->resume && s->reopen && !s->history && not_found(error)) {
			log_info("%s: session %s had no turn yet; creating it "
			    "again", bs_name(s), s->id);
			s->recreate = 1;
			bs_open_send(s);
			return;
		}
		if (s->reopen) {
			s->state = BS_LOST;
			snprintf(why, sizeof(why), "cannot resume session %s "
			    "after the Copilot runtime restarted: %s", s->id,
			    error);
			log_warnx("%s: %s", bs_name(s), why);
			BS_CALL(s, lost, why);
			return;
		}
		s->state = BS_FAILED;
		log_warnx("%s: %s failed: %s", bs_name(s), p->method, error);
		BS_CALL(s, opened, NULL, error);
		return;
	}
	if ((id = jstr(result, "sessionId")) != NULL && *id != '\0' &&
	    strlen(id) < sizeof(s->id))
		snprintf(s->id, sizeof(s->id), "%s", id);
	s->state = BS_OPEN;
	if (p->resume)
		s->history = 1;
	s->recreate = 0;
	if (s->reopen) {
		s->reopen = 0;
		log_info("%s: session %s %s on the new runtime", bs_name(s),
		    s->id, p->resume ? "resumed" : "created again");
		return;
	}
	log_info("%s: session %s %s", bs_name(s), s->id,
	    p->resume ? "resumed" : "created");
	BS_CALL(s, opened, s->id, NULL);
}

/* Send the create or resume of a session (the runtime is ready). */
static void
bs_open_send(struct bsession *s)
{
	const char	*resume = NULL;
	char		 uuid[37];
	struct pending	*p;
	json_t		*params;

	if (s->recreate)
		;			/* create again, with the same id */
	else if (s->reopen)
		resume = s->id;
	else if (s->want_id != NULL)
		resume = s->want_id;
	if (resume == NULL && !s->recreate) {
		if (uuid_v4(uuid) == -1) {
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
	p = rt_request(resume != NULL ? "session.resume" : "session.create",
	    params, s, cb_open, CP_REQUEST_MS);
	if (p == NULL)
		return;
	p->resume = resume != NULL;
	s->inflight = 1;
}

/* -- inbound ---------------------------------------------------------------- */

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
static void
rt_hook_invoke(const json_t *id, const json_t *params)
{
	struct bsession	*s = bs_find(jstr(params, "sessionId"));
	const char	*type = jstr(params, "hookType");
	struct hookreq	*h;

	if (s == NULL || type == NULL || s->ev->hook == NULL ||
	    (h = calloc(1, sizeof(*h))) == NULL) {
		rt_respond(id, NULL);		/* {}: no opinion */
		return;
	}
	h->gen = rt.gen;
	h->id = json_deep_copy(id);
	TAILQ_INSERT_TAIL(&s->hookreqs, h, entry);
	bs_hold(s);
	BS_CALL(s, hook, h, type, json_object_get(params, "input"));
	bs_release(s);
}

static void
copilot_answer_hook(struct bsession *s, void *tok, json_t *output)
{
	struct hookreq	*h = tok;
	json_t		*res;

	/* Out of memory on the way is "no opinion" (a null result is {}). */
	if ((res = json_object()) == NULL)
		json_decref(output);
	else if (output != NULL &&
	    json_object_set_new(res, "output", output) == -1) {
		json_decref(res);
		res = NULL;
	}
	rt_respond_gen(h->gen, h->id, res);
	TAILQ_REMOVE(&s->hookreqs, h, entry);
	json_decref(h->id);
	free(h);
}

static void
rt_inbound_request(const json_t *msg)
{
	const char	*method = jstr(msg, "method");
	const json_t	*id = json_object_get(msg, "id");
	char		 text[160];

	if (strcmp(method, "hooks.invoke") == 0) {
		rt_hook_invoke(id, json_object_get(msg, "params"));
		return;
	}
	log_debug("runtime asked %s; not handled", method);
	snprintf(text, sizeof(text), "Unhandled method %s", method);
	rt_respond_error(id, JSONRPC_METHOD_NOT_FOUND, text);
}

/* What to show for a tool: its command, path, url, ... or its arguments. */
static char *
tool_summary(const json_t *args)
{
	static const char *const keys[] = { "command", "path", "file_path",
	    "filePath", "url", "pattern", "query", "prompt", "description" };
	const char	*v;
	size_t		 i;

	if (json_is_object(args))
		for (i = 0; i < nitems(keys); i++)
			if ((v = jstr(args, keys[i])) != NULL && *v != '\0')
				return (one_line(v, CP_SUMMARY_MAX));
	if (args == NULL || (json_is_object(args) &&
	    json_object_size(args) == 0))
		return (strdup(""));
	return (json_one_line(args, CP_SUMMARY_MAX));
}

/* The one-line description of a permission request, by its kind. */
static char *
permission_detail(const char *kind, const json_t *pr)
{
	const char	*v = NULL, *a, *b;
	char		 buf[512];

	if (strcmp(kind, "shell") == 0)
		v = jstr(pr, "fullCommandText");
	else if (strcmp(kind, "write") == 0)
		v = (a = jstr(pr, "fileName")) != NULL ? a :
		    jstr(pr, "resolvedPath");
	else if (strcmp(kind, "read") == 0)
		v = (a = jstr(pr, "path")) != NULL ? a :
		    jstr(pr, "resolvedPath");
	else if (strcmp(kind, "url") == 0)
		v = jstr(pr, "url");
	else if (strcmp(kind, "mcp") == 0) {
		a = jstr(pr, "serverName");
		if ((b = jstr(pr, "toolTitle")) == NULL)
			b = jstr(pr, "toolName");
		snprintf(buf, sizeof(buf), "%s: %s", a != NULL ? a : "?",
		    b != NULL ? b : "?");
		return (one_line(buf, CP_DETAIL_MAX));
	} else if (strcmp(kind, "custom-tool") == 0 ||
	    strcmp(kind, "hook") == 0)
		v = (a = jstr(pr, "hookMessage")) != NULL ? a :
		    jstr(pr, "toolName");
	else if (strcmp(kind, "memory") == 0)
		v = (a = jstr(pr, "fact")) != NULL ? a : jstr(pr, "subject");
	else if (strncmp(kind, "extension-", 10) == 0)
		v = jstr(pr, "extensionName");
	if (v == NULL)
		v = jstr(pr, "intention");
	if (v == NULL)
		return (json_one_line(pr, CP_DETAIL_MAX));
	return (one_line(v, CP_DETAIL_MAX));
}

static void
ev_permission(struct bsession *s, const json_t *data)
{
	const json_t	*pr = json_object_get(data, "permissionRequest");
	const char	*rid = jstr(data, "requestId");
	const char	*kind = jstr(pr, "kind");
	char		*detail;

	/*
	 * Persisted events come back after a resume; a live request only
	 * happens during a turn.  A hook already answered resolvedByHook.
	 */
	if (json_is_true(json_object_get(data, "resolvedByHook")) ||
	    rid == NULL || !s->busy)
		return;
	if (kind == NULL)
		kind = "unknown";
	if ((detail = permission_detail(kind, pr)) == NULL) {
		log_warnx("%s: out of memory; permission %s rejected",
		    bs_name(s), rid);
		(void)rt_request("session.permissions."
		    "handlePendingPermissionRequest", json_pack(
		    "{s:s,s:s,s:{s:s}}", "sessionId", s->id, "requestId", rid,
		    "result", "kind", "reject"), s, NULL, CP_REQUEST_MS);
		return;
	}
	BS_CALL(s, permission, rid, kind, detail);
	free(detail);
}

static void
ev_dispatch(struct bsession *s, const json_t *event)
{
	const char	*type = jstr(event, "type"), *v;
	const json_t	*data = json_object_get(event, "data");
	char		*sum;
	int		 aborted;

	if (type == NULL)
		return;
	if (strcmp(type, "permission.completed") == 0) {
		char	*d = json_dumps(data, JSON_COMPACT);

		log_debug("%s: event %s %s", bs_name(s), type, d != NULL ? d : "");
		free(d);
	} else if (strstr(type, "_delta") == NULL &&
	    strncmp(type, "model.", 6) != 0)
		log_debug("%s: event %s", bs_name(s), type);
	/* Sub-agent streams would interleave with the answer. */
	if ((v = jstr(data, "parentToolCallId")) != NULL && *v != '\0' &&
	    strncmp(type, "assistant.", 10) == 0)
		return;
	if (strcmp(type, "assistant.message_delta") == 0) {
		if ((v = jstr(data, "deltaContent")) != NULL && *v != '\0')
			BS_CALL(s, delta, v);
	} else if (strcmp(type, "assistant.message") == 0) {
		if ((v = jstr(data, "content")) != NULL && *v != '\0')
			BS_CALL(s, message, v);
	} else if (strcmp(type, "tool.execution_start") == 0) {
		v = jstr(data, "toolName");
		if ((sum = tool_summary(json_object_get(data, "arguments"))) ==
		    NULL)
			return;
		BS_CALL(s, tool, v != NULL ? v : "?", sum);
		free(sum);
	} else if (strcmp(type, "permission.requested") == 0)
		ev_permission(s, data);
	else if (strcmp(type, "session.error") == 0) {
		v = jstr(data, "message");
		log_info("%s: session error: %s", bs_name(s),
		    v != NULL ? v : "?");
		if (s->busy)
			BS_CALL(s, error, v != NULL ? v : "unknown error");
	} else if (strcmp(type, "session.idle") == 0) {
		aborted = json_is_true(json_object_get(data, "aborted"));
		if (!s->busy) {
			log_debug("%s: session.idle outside a turn",
			    bs_name(s));
			return;
		}
		s->busy = 0;
		BS_CALL(s, idle, aborted);
	}
	/* Everything else (model.*, hook.*, usage, ...) is not ours. */
}

static void
rt_inbound_notification(const json_t *msg)
{
	const json_t	*params = json_object_get(msg, "params");
	struct bsession	*s;

	if (strcmp(jstr(msg, "method"), "session.event") != 0)
		return;			/* session.lifecycle, host.event, ... */
	if ((s = bs_find(jstr(params, "sessionId"))) == NULL)
		return;
	bs_hold(s);
	ev_dispatch(s, json_object_get(params, "event"));
	bs_release(s);
}

static void
rt_inbound_response(const json_t *msg)
{
	const json_t	*id = json_object_get(msg, "id"), *err;
	struct pending	*p;
	const char	*m;
	char		 text[1024];

	if (!json_is_integer(id))
		goto unknown;
	TAILQ_FOREACH(p, &rt.pending, entry)
		if (p->id == json_integer_value(id))
			break;
	if (p == NULL)
		goto unknown;
	if ((err = json_object_get(msg, "error")) != NULL) {
		m = jstr(err, "message");
		snprintf(text, sizeof(text), "%s", m != NULL ? m :
		    "error without a message");
		pending_done(p, NULL, text);
	} else
		pending_done(p, json_object_get(msg, "result"), NULL);
	return;
unknown:
	log_debug("reply to an unknown request; dropped");
}

static void
rt_dispatch(const json_t *msg)
{
	switch (jsonrpc_classify(msg)) {
	case JSONRPC_REQUEST:
		rt_inbound_request(msg);
		break;
	case JSONRPC_NOTIFICATION:
		rt_inbound_notification(msg);
		break;
	case JSONRPC_RESPONSE:
		rt_inbound_response(msg);
		break;
	default:
		log_warnx("the runtime sent something that is not JSON-RPC; "
		    "ignored");
		break;
	}
}

static void
rt_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v;
	unsigned int		 gen = rt.gen;
	enum jsonrpc_rc		 rc;
	json_t			*msg;
	size_t			 used;
	char			 err[192];

	while (evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		rc = jsonrpc_dec_feed(&rt.dec, v.iov_base, v.iov_len, &used,
		    &msg, err, sizeof(err));
		(void)evbuffer_drain(in, used);
		switch (rc) {
		case JSONRPC_MSG:
			rt_dispatch(msg);
			json_decref(msg);
			break;
		case JSONRPC_SKIP:
			log_warnx("dropped a message from the runtime: %s",
			    err);
			break;
		case JSONRPC_FATAL:
			rt_fail("protocol error: %s", err);
			return;
		case JSONRPC_MORE:
			break;
		}
		/* A callback may have stopped us, or a send failed. */
		if (rt.gen != gen || rt.failing)
			return;
	}
}

static void
rt_write_cb(struct bufferevent *bev, void *arg)
{
}

static void
rt_bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	int	e = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_EOF)
		rt_fail("it closed its %s", bev == rt.out ? "output" : "input");
	else if (what & BEV_EVENT_ERROR)
		rt_fail("%s error: %s", bev == rt.out ? "read" : "write",
		    strerror(e));
}

/* stderr is free text: log it at debug, line by line, bounded. */
static void
rt_stderr_flush(void)
{
	if (rt.errlen == 0)
		return;
	rt.errline[rt.errlen] = '\0';
	log_debug("runtime: %s", rt.errline);
	rt.errlen = 0;
}

static void
rt_stderr_cb(int fd, short ev, void *arg)
{
	char	buf[4096];
	ssize_t	n;
	size_t	total = 0, i;

	while (total < CP_STDERR_READ) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			rt_stderr_flush();
			event_del(rt.errev);
			return;
		}
		total += (size_t)n;
		for (i = 0; i < (size_t)n; i++) {
			if (buf[i] == '\n') {
				rt_stderr_flush();
				continue;
			}
			if (buf[i] == '\r')
				continue;
			if (rt.errlen >= sizeof(rt.errline) - 1)
				rt_stderr_flush();	/* a long line: in pieces */
			rt.errline[rt.errlen++] = (unsigned char)buf[i] <
			    0x20 && buf[i] != '\t' ? '?' : buf[i];
		}
	}
}

/* -- the process ------------------------------------------------------------ */

static void
proc_free(struct rtproc *p)
{
	TAILQ_REMOVE(&rt.procs, p, entry);
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->pidfd != -1)
		(void)close(p->pidfd);
	if (rt.cur == p)
		rt.cur = NULL;
	free(p);
}

static void
proc_exited(struct rtproc *p, int status)
{
	char	st[96];

	util_wait_status(status, st, sizeof(st));
	if (rt.cur == p) {
		rt.cur = NULL;
		rt_fail("runtime pid %ld exited (%s)", (long)p->pid, st);
	} else
		log_info("runtime pid %ld exited (%s)", (long)p->pid, st);
	proc_free(p);
}

/* Reap p if it has exited; 1 if it was reaped. */
static int
proc_reap(struct rtproc *p)
{
	pid_t	r;
	int	status;

	do
		r = waitpid(p->pid, &status, WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		return (0);
	if (r == -1)
		status = -1;		/* ECHILD: another reaper took it */
	proc_exited(p, status);
	return (1);
}

static void
rt_proc_cb(int fd, short ev, void *arg)
{
	(void)proc_reap(arg);
}

static int
rt_spawn(void)
{
	char		*argv[] = { rt.path, "--headless", "--no-auto-update",
			    "--stdio", NULL };
	struct spawn	 sp;
	struct rtproc	*p;
	pid_t		 pid;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_warn("%s: calloc", __func__);
		return (-1);
	}
	p->pidfd = -1;
	memset(&sp, 0, sizeof(sp));
	sp.argv = argv;
	sp.envp = rt.envp;
	sp.deathsig = SIGTERM;
	if (spawn_piped(&sp) == -1) {
		free(p);
		return (-1);
	}
	p->pid = pid = sp.pid;
	TAILQ_INSERT_TAIL(&rt.procs, p, entry);
	rt.cur = p;
	rt.env_pending = 0;		/* it has the current environment */

	/* Its exit, without a process-wide SIGCHLD handler. */
	if ((p->pidfd = pidfd_open(pid, 0)) != -1) {
		p->ev = event_new(rt.base, p->pidfd, EV_READ | EV_PERSIST,
		    rt_proc_cb, p);
		if (p->ev == NULL || event_add(p->ev, NULL) == -1) {
			log_warnx("%s: cannot watch pid %ld; polling it",
			    __func__, (long)pid);
			if (p->ev != NULL)
				event_free(p->ev);
			p->ev = NULL;	/* the tick polls it */
		}
	} else
		log_debug("%s: pidfd_open: %s; polling pid %ld", __func__,
		    strerror(errno), (long)pid);

	/*
	 * We close the descriptors ourselves: libevent finalizes a freed
	 * bufferevent (and would close its fd) only on the next loop pass,
	 * and stop() needs the runtime to see stdin EOF before that.
	 */
	rt.infd = sp.in;
	rt.outfd = sp.out;
	rt.errfd = sp.err;
	if ((rt.in = bufferevent_socket_new(rt.base, rt.infd, 0)) == NULL ||
	    (rt.out = bufferevent_socket_new(rt.base, rt.outfd, 0)) == NULL)
		goto started_fail;
	bufferevent_setcb(rt.in, NULL, rt_write_cb, rt_bev_event_cb, NULL);
	bufferevent_setcb(rt.out, rt_read_cb, NULL, rt_bev_event_cb, NULL);
	bufferevent_setwatermark(rt.out, EV_READ, 0, 1024 * 1024);
	if (bufferevent_enable(rt.in, EV_WRITE) == -1 ||
	    bufferevent_disable(rt.in, EV_READ) == -1 ||
	    bufferevent_enable(rt.out, EV_READ) == -1)
		goto started_fail;
	rt.errlen = 0;
	rt.errev = event_new(rt.base, rt.errfd, EV_READ | EV_PERSIST,
	    rt_stderr_cb, NULL);
	if (rt.errev == NULL || event_add(rt.errev, NULL) == -1)
		goto started_fail;
	jsonrpc_dec_reset(&rt.dec);
	rt.failing = 0;
	rt.state = RT_CONNECTING;
	rt.version[0] = '\0';
	log_info("started %s (pid %ld)", rt.path, (long)pid);
	return (0);

started_fail:
	/* The child runs: rt_down() takes it from here. */
	rt.state = RT_CONNECTING;
	rt_fail("cannot set up its pipes");
	return (0);
}

/* -- connect, teardown, restart --------------------------------------------- */

static void
cb_connect(struct pending *p, const json_t *result, const char *error)
{
	struct bsession	*s;
	json_int_t	 proto;
	const char	*v;

	if (p->gone)
		return;
	if (error != NULL) {
		rt_fail("connect failed: %s", error);
		return;
	}
	proto = json_integer_value(json_object_get(result, "protocolVersion"));
	v = jstr(result, "version");
	snprintf(rt.version, sizeof(rt.version), "%s", v != NULL ? v : "?");
	if (proto != CP_PROTOCOL) {
		log_errorx("Copilot runtime %s speaks protocol %lld; "
		    "copilot-bridge needs %d", rt.path, (long long)proto,
		    CP_PROTOCOL);
		rt_fail("unsupported protocol version %lld", (long long)proto);
		return;
	}
	rt.state = RT_READY;
	rt.ready_ms = util_now_ms();
	log_info("Copilot runtime pid %ld ready (version %s, protocol %d)",
	    rt.cur != NULL ? (long)rt.cur->pid : -1L, rt.version, CP_PROTOCOL);
	TAILQ_FOREACH(s, &rt.sessions, entry)
		if (!s->closed && s->state == BS_OPENING && !s->inflight)
			bs_open_send(s);
}

static int
rt_start_one(void)
{
	if (rt_spawn() == -1)
		return (-1);
	if (!rt.failing && rt_request("connect", json_object(), NULL,
	    cb_connect, CP_CONNECT_MS) == NULL)
		rt_fail("cannot send connect");
	return (0);
}

static void
rt_schedule_restart(void)
{
	uint32_t	delay;
	struct timeval	tv;

	delay = rt.deliberate ? 0 : backoff_next(&rt.backoff);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	rt.state = RT_DOWN;
	if (!rt.deliberate)
		log_warnx("restarting the Copilot runtime in %u ms", delay);
	if (evtimer_add(rt.restart_ev, &tv) == -1)
		log_warnx("%s: cannot arm the restart timer", __func__);
}

/* Close our ends of its pipes; the process, if alive, is killed. */
static void
rt_close_pipes(void)
{
	if (rt.in != NULL)
		bufferevent_free(rt.in);	/* its events are deleted now */
	if (rt.out != NULL)
		bufferevent_free(rt.out);
	rt.in = rt.out = NULL;
	if (rt.infd != -1)
		(void)close(rt.infd);
	if (rt.outfd != -1)
		(void)close(rt.outfd);
	rt.infd = rt.outfd = -1;
	if (rt.errev != NULL) {
		rt_stderr_cb(rt.errfd, EV_READ, NULL);	/* its last words */
		event_free(rt.errev);
		rt.errev = NULL;
	}
	if (rt.errfd != -1)
		(void)close(rt.errfd);
	rt.errfd = -1;
	rt_stderr_flush();
	jsonrpc_dec_reset(&rt.dec);
}

/* Fail every pending request as gone (no callback if quiet). */
static void
rt_fail_pending(const char *why, int quiet)
{
	struct pending	*p;

	while ((p = TAILQ_FIRST(&rt.pending)) != NULL) {
		p->gone = 1;
		if (quiet) {
			TAILQ_REMOVE(&rt.pending, p, entry);
			free(p);
		} else
			pending_done(p, NULL, why);
	}
}

static void
rt_down(void)
{
	struct bsession	*s;
	uint64_t	 now = util_now_ms();

	if (rt.state == RT_OFF || rt.state == RT_DOWN)
		return;
	if (rt.deliberate)
		log_info("restarting the Copilot runtime: %s", rt.why);
	else
		log_warnx("the Copilot runtime failed: %s", rt.why);
	rt.gen++;
	rt_close_pipes();
	if (rt.cur != NULL) {
		/* Asked for: let it exit cleanly (stdin is closed already). */
		if (kill(rt.cur->pid, rt.deliberate ? SIGTERM : SIGKILL) == -1 &&
		    errno != ESRCH)
			log_warn("%s: kill %ld", __func__, (long)rt.cur->pid);
		rt.cur = NULL;		/* reaped by its pidfd event */
	}
	rt.old_deadline = rt.deliberate ? now + CP_STOP_MS : 0;
	if (rt.state == RT_READY && now - rt.ready_ms >= CP_STABLE_MS)
		backoff_reset(&rt.backoff);
	rt.state = RT_DOWN;
	rt.failing = 0;
	rt_fail_pending(rt.why, 0);

	/* Callbacks may close sessions: restart the walk after each. */
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
		BS_CALL(s, error, "the Copilot runtime restarted");
		BS_CALL(s, idle, 1);
		bs_release(s);
		goto again;
	}
	if (rt.state == RT_DOWN)	/* a callback may have stopped us */
		rt_schedule_restart();
}

static void
rt_down_cb(int fd, short ev, void *arg)
{
	rt_down();
}

/* Something is wrong with the runtime: tear it down from the loop. */
static void
rt_fail(const char *fmt, ...)
{
	va_list	ap;

	if (rt.failing || rt.state == RT_OFF || rt.state == RT_DOWN)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(rt.why, sizeof(rt.why), fmt, ap);
	va_end(ap);
	rt.failing = 1;
	event_active(rt.down_ev, EV_TIMEOUT, 1);
}

static void
rt_restart_cb(int fd, short ev, void *arg)
{
	struct timeval	 tv = { 0, 100 * 1000 };
	struct rtproc	*p;

	if (rt.state != RT_DOWN)
		return;
	/*
	 * A restart asked for waits for the old runtime to have written its
	 * sessions out and exited, so the new one resumes them whole.
	 */
	if (!TAILQ_EMPTY(&rt.procs) && rt.old_deadline != 0) {
		if (util_now_ms() < rt.old_deadline) {
			if (evtimer_add(rt.restart_ev, &tv) == -1)
				log_warnx("%s: cannot arm the timer", __func__);
			return;
		}
		TAILQ_FOREACH(p, &rt.procs, entry)
			(void)kill(p->pid, SIGKILL);
	}
	rt.old_deadline = 0;
	rt.deliberate = 0;
	if (rt_start_one() == -1)
		rt_schedule_restart();
}

/*
 * New telemetry settings reach the runtime only through its environment:
 * restart it once no turn runs, so nobody's answer is cut.  Every session
 * is resumed on the new one (rt_down), its context intact.
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

/* Timeouts, open deadlines, and reaping where there is no pidfd. */
static void
rt_tick_cb(int fd, short ev, void *arg)
{
	struct rtproc	*p, *np;
	struct pending	*pd;
	struct bsession	*s;
	uint64_t	 now = util_now_ms();

	for (p = TAILQ_FIRST(&rt.procs); p != NULL; p = np) {
		np = TAILQ_NEXT(p, entry);
		if (p->ev == NULL)
			(void)proc_reap(p);
	}
	rt_env_check();
	TAILQ_FOREACH(pd, &rt.pending, entry)
		if (now >= pd->deadline) {
			rt_fail("no reply to %s (id %lld) in time", pd->method,
			    (long long)pd->id);
			break;
		}
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
		if (s->reopen) {
			s->state = BS_LOST;
			BS_CALL(s, lost,
			    "the Copilot runtime did not come back");
		} else {
			s->state = BS_FAILED;
			BS_CALL(s, opened, NULL,
			    "the Copilot runtime is not available");
		}
		bs_release(s);
		goto again;
	}
}

/* -- the backend ------------------------------------------------------------- */

static void
rt_free_events(void)
{
	if (rt.down_ev != NULL)
		event_free(rt.down_ev);
	if (rt.restart_ev != NULL)
		event_free(rt.restart_ev);
	if (rt.tick_ev != NULL)
		event_free(rt.tick_ev);
	rt.down_ev = rt.restart_ev = rt.tick_ev = NULL;
}

static int
copilot_start(struct event_base *base, json_t *config)
{
	struct timeval	tick = { CP_TICK_MS / 1000,
			    (CP_TICK_MS % 1000) * 1000 };

	if (rt.state != RT_OFF) {
		log_warnx("%s: already started", __func__);
		return (0);
	}
	if (rt_resolve_path(config, rt.path, sizeof(rt.path)) == -1) {
		log_errorx("cannot find the Copilot runtime: set "
		    "session.runtimePath, or put %s on PATH", CP_RUNTIME_NAME);
		return (-1);
	}
	rt.base = base;
	if ((rt.envp = rtenv_build(config)) == NULL)
		log_warnx("out of memory: the Copilot runtime gets our "
		    "environment as it is");
	jsonrpc_dec_init(&rt.dec, 0);
	backoff_init(&rt.backoff, CP_RESTART_BASE_MS, CP_RESTART_MAX_MS);
	rt.down_ev = event_new(base, -1, 0, rt_down_cb, NULL);
	rt.restart_ev = evtimer_new(base, rt_restart_cb, NULL);
	rt.tick_ev = event_new(base, -1, EV_PERSIST, rt_tick_cb, NULL);
	if (rt.down_ev == NULL || rt.restart_ev == NULL || rt.tick_ev == NULL ||
	    event_add(rt.tick_ev, &tick) == -1) {
		log_warnx("%s: cannot set up events", __func__);
		rt_free_events();
		return (-1);
	}
	rt.failing = 0;
	if (rt_start_one() == -1) {
		rt.state = RT_CONNECTING;	/* so the restart path runs */
		rt_schedule_restart();
	}
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
cb_send(struct pending *p, const json_t *result, const char *error)
{
	struct bsession	*s = p->s;

	if (s == NULL || error == NULL || p->gone)
		return;
	log_warnx("%s: session.send failed: %s", bs_name(s), error);
	if (!s->busy)
		return;
	s->busy = 0;
	BS_CALL(s, error, error);
	BS_CALL(s, idle, 0);
}

static int
copilot_send(struct bsession *s, const char *prompt, int immediate)
{
	json_t	*params;

	if (!bs_usable(s) || prompt == NULL)
		return (-1);
	params = json_pack("{s:s,s:s,s:s}", "sessionId", s->id, "prompt",
	    prompt, "mode", immediate ? "immediate" : "enqueue");
	if (rt_request("session.send", params, s, cb_send, CP_REQUEST_MS) ==
	    NULL)
		return (-1);
	s->busy = 1;
	s->history = 1;
	return (0);
}

static void
cb_logged(struct pending *p, const json_t *result, const char *error)
{
	const char	*who = p->s != NULL ? bs_name(p->s) : "?";

	if (p->gone)
		return;
	if (error != NULL)
		log_warnx("%s: %s failed: %s", who, p->method, error);
	else if (json_is_false(json_object_get(result, "success")))
		log_info("%s: %s: the runtime says no (%s)", who, p->method,
		    jstr(result, "error") != NULL ? jstr(result, "error") :
		    "too late?");
}

static int
copilot_abort(struct bsession *s)
{
	if (!bs_usable(s))
		return (-1);
	if (rt_request("session.abort", json_pack("{s:s}", "sessionId", s->id),
	    s, cb_logged, CP_REQUEST_MS) == NULL)
		return (-1);
	return (0);
}

static int
copilot_answer_permission(struct bsession *s, const char *request_id,
    int approve)
{
	json_t	*params;

	if (!bs_usable(s) || request_id == NULL)
		return (-1);
	/*
	 * A reject with feedback makes the runtime call the model again with
	 * the refusal as the tool's result, so the answer says what happened;
	 * without it the turn just ends.
	 */
	params = approve ? json_pack("{s:s,s:s,s:{s:s}}", "sessionId", s->id,
	    "requestId", request_id, "result", "kind", "approve-once") :
	    json_pack("{s:s,s:s,s:{s:s,s:s}}", "sessionId", s->id,
	    "requestId", request_id, "result", "kind", "reject", "feedback",
	    "denied in chat");
	if (rt_request("session.permissions.handlePendingPermissionRequest",
	    params, s, cb_logged, CP_REQUEST_MS) == NULL)
		return (-1);
	return (0);
}

static void
cb_resumed(struct pending *p, const json_t *result, const char *error)
{
	if (p->s != NULL && !p->gone && error != NULL)
		log_warnx("%s: re-attaching after a hooks reload failed: %s",
		    bs_name(p->s), error);
}

/*
 * A runtime without sessions.reloadPluginHooks: re-attach the live session
 * (session.resume, same id), which re-registers it with everything we send.
 */
static void
cb_reload_hooks(struct pending *p, const json_t *result, const char *error)
{
	struct bsession	*s = p->s;
	json_t		*params;

	if (s == NULL || p->gone || error == NULL)
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
	(void)rt_request("session.resume", params, s, cb_resumed,
	    CP_REQUEST_MS);
}

static int
copilot_reload_hooks(struct bsession *s)
{
	if (!bs_usable(s))
		return (-1);
	if (rt_request("sessions.reloadPluginHooks", json_pack("{s:s}",
	    "sessionId", s->id), s, cb_reload_hooks, CP_REQUEST_MS) == NULL)
		return (-1);
	return (0);
}

static void
copilot_close(struct bsession *s)
{
	struct pending	*p;

	if (s == NULL || s->closed)
		return;
	/* A hook still running for it: the runtime waits for an answer. */
	while (!TAILQ_EMPTY(&s->hookreqs))
		copilot_answer_hook(s, TAILQ_FIRST(&s->hookreqs), NULL);
	s->closed = 1;
	if (s->state == BS_OPEN && rt.state == RT_READY && !rt.failing)
		bs_detach_id(s->id);
	TAILQ_FOREACH(p, &rt.pending, entry)
		if (p->s == s)
			p->s = NULL;	/* an open in flight detaches on reply */
	TAILQ_REMOVE(&rt.sessions, s, entry);
	if (s->refs == 0)
		bs_free(s);
}

/* -- stop: bounded and blocking, at shutdown only -------------------------- */

static int
ms_left(uint64_t deadline)
{
	uint64_t	now = util_now_ms();

	return (now >= deadline ? 0 : (int)(deadline - now));
}

/* Write out everything queued for its stdin, until the deadline. */
static int
sync_flush(uint64_t deadline)
{
	struct evbuffer	*ob;
	struct pollfd	 pfd;
	int		 fd;

	if (rt.in == NULL)
		return (-1);
	ob = bufferevent_get_output(rt.in);
	fd = bufferevent_getfd(rt.in);
	while (evbuffer_get_length(ob) > 0) {
		if (evbuffer_write(ob, fd) == -1) {
			if (errno != EAGAIN && errno != EINTR)
				return (-1);
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, ms_left(deadline)) <= 0)
				return (-1);
		}
	}
	return (0);
}

/*
 * Read its stdout until every request in want[] has its reply, EOF, or the
 * deadline.  Hook calls are answered {} (it waits for them); events are
 * not dispatched: no callback runs after stop().
 */
static void
sync_wait(int64_t *want, size_t nwant, uint64_t deadline)
{
	struct evbuffer	*ib;
	struct pollfd	 pfd;
	unsigned char	 buf[16384];
	const unsigned char *p;
	size_t		 left, used, i, missing = nwant;
	ssize_t		 n;
	json_t		*msg;
	const json_t	*id;
	enum jsonrpc_rc	 rc;
	int		 fd;

	if (rt.out == NULL)
		return;
	fd = bufferevent_getfd(rt.out);
	ib = bufferevent_get_input(rt.out);
	while (missing > 0) {
		if (evbuffer_get_length(ib) > 0)
			n = evbuffer_remove(ib, buf, sizeof(buf));
		else {
			pfd.fd = fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, ms_left(deadline)) <= 0)
				return;
			n = read(fd, buf, sizeof(buf));
			if (n == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				return;
		}
		for (p = buf, left = (size_t)n; left > 0;
		    p += used, left -= used) {
			rc = jsonrpc_dec_feed(&rt.dec, p, left, &used, &msg,
			    NULL, 0);
			if (rc == JSONRPC_FATAL)
				return;
			if (rc != JSONRPC_MSG)
				continue;
			switch (jsonrpc_classify(msg)) {
			case JSONRPC_REQUEST:
				id = json_object_get(msg, "id");
				if (strcmp(jstr(msg, "method"),
				    "hooks.invoke") == 0)
					rt_respond(id, NULL);
				else
					rt_respond_error(id,
					    JSONRPC_METHOD_NOT_FOUND,
					    "shutting down");
				(void)sync_flush(deadline);
				break;
			case JSONRPC_RESPONSE:
				id = json_object_get(msg, "id");
				for (i = 0; i < nwant; i++)
					if (json_is_integer(id) && want[i] ==
					    json_integer_value(id)) {
						want[i] = -1;
						missing--;
					}
				break;
			default:
				break;
			}
			json_decref(msg);
		}
		if (ms_left(deadline) == 0)
			return;
	}
}

/* Wait for p to exit until the deadline; 1 if it was reaped. */
static int
sync_reap(struct rtproc *p, uint64_t deadline)
{
	struct pollfd		pfd;
	struct timespec		ts = { 0, 10 * 1000 * 1000 };

	for (;;) {
		if (proc_reap(p))
			return (1);
		if (ms_left(deadline) == 0)
			return (0);
		if (p->pidfd != -1) {
			pfd.fd = p->pidfd;
			pfd.events = POLLIN;
			(void)poll(&pfd, 1, ms_left(deadline));
		} else
			(void)nanosleep(&ts, NULL);
	}
}

static void
copilot_stop(void)
{
	uint64_t	 deadline = util_now_ms() + CP_STOP_MS;
	struct bsession	*s;
	struct pending	*p;
	struct rtproc	*pr;
	int64_t		*want = NULL;
	size_t		 nwant = 0, n = 0;

	if (rt.state == RT_OFF)
		return;
	rt.gen++;
	if (rt_connected() && rt.state == RT_READY) {
		bufferevent_disable(rt.out, EV_READ);
		TAILQ_FOREACH(s, &rt.sessions, entry)
			n++;
		want = calloc(n + 1, sizeof(*want));
		TAILQ_FOREACH(s, &rt.sessions, entry) {
			if (s->closed || s->state != BS_OPEN)
				continue;
			p = rt_request("session.detach", json_pack("{s:s}",
			    "sessionId", s->id), NULL, NULL, CP_REQUEST_MS);
			if (p != NULL && want != NULL)
				want[nwant++] = p->id;
		}
		if (sync_flush(deadline) == 0)
			sync_wait(want, nwant, deadline - CP_STOP_MS / 2);
		nwant = 0;
		p = rt_request("runtime.shutdown", json_object(), NULL, NULL,
		    CP_REQUEST_MS);
		if (p != NULL && want != NULL)
			want[nwant++] = p->id;
		if (sync_flush(deadline) == 0)
			sync_wait(want, nwant, deadline - CP_STOP_MS / 6);
		free(want);
	}
	rt_close_pipes();		/* stdin EOF: it exits */
	rt_fail_pending("stopped", 1);
	TAILQ_FOREACH(s, &rt.sessions, entry) {
		s->state = BS_STOPPED;
		s->busy = 0;
		s->inflight = 0;
	}
	while ((pr = TAILQ_FIRST(&rt.procs)) != NULL) {
		if (pr == rt.cur)
			rt.cur = NULL;	/* an expected exit, not a failure */
		if (sync_reap(pr, deadline))
			continue;
		log_warnx("runtime pid %ld did not exit in %d ms; killing it",
		    (long)pr->pid, CP_STOP_MS);
		(void)kill(pr->pid, SIGKILL);
		if (!sync_reap(pr, util_now_ms() + 1000)) {
			log_warnx("runtime pid %ld not reaped", (long)pr->pid);
			proc_free(pr);
		}
	}
	rt_free_events();
	rtenv_free(rt.envp);
	rt.envp = NULL;
	rt.state = RT_OFF;
	rt.failing = 0;
	log_info("Copilot runtime stopped in %llu ms", (unsigned long long)
	    (util_now_ms() + CP_STOP_MS - deadline));
}

pid_t
copilot_runtime_pid(void)
{
	return (rt.cur != NULL && rt.state != RT_OFF ? rt.cur->pid : -1);
}

int
copilot_child_exited(pid_t pid, int status)
{
	struct rtproc	*p;

	TAILQ_FOREACH(p, &rt.procs, entry)
		if (p->pid == pid) {
			proc_exited(p, status);
			return (1);
		}
	return (0);
}

const struct backend backend_copilot = {
	.name = "copilot",
	.start = copilot_start,
	.open = copilot_open,
	.send = copilot_send,
	.abort = copilot_abort,
	.answer_permission = copilot_answer_permission,
	.answer_hook = copilot_answer_hook,
	.reload_hooks = copilot_reload_hooks,
	.reconfigure = copilot_reconfigure,
	.close = copilot_close,
	.stop = copilot_stop,
};
