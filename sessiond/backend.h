/*
 * backend: what sessiond needs from a conversation engine.  Two exist:
 * "copilot" (the Copilot runtime over JSON-RPC, copilot.c) and "echo"
 * (built in, echo.c).  Everything is asynchronous and runs in sessiond's
 * libevent loop; no call blocks.
 *
 * A session belongs to one channel.  The backend reports what happens in it
 * through the callbacks in struct backend_events, always with the opaque arg
 * given to open().
 */
#ifndef SESSIOND_BACKEND_H
#define SESSIOND_BACKEND_H

#include <sys/types.h>

#include <event2/event.h>
#include <jansson.h>

struct bsession;			/* a backend's session, opaque */

struct backend_events {
	/* open() finished: session_id on success, or error (NULL on success). */
	void	(*opened)(void *arg, const char *session_id, const char *error);
	/* A piece of the assistant's answer (streaming). */
	void	(*delta)(void *arg, const char *text);
	/* A complete assistant message (replaces the deltas of that message). */
	void	(*message)(void *arg, const char *text);
	/* A tool started: its name and arguments (NULL: none), for the feed. */
	void	(*tool)(void *arg, const char *name, const json_t *arguments);
	/*
	 * The agent asks for permission.  request_id is to be passed back to
	 * answer_permission(); kind is "shell", "write", "read", "url", "mcp",
	 * ...; detail is a one-line description (the command, the path, ...).
	 */
	void	(*permission)(void *arg, const char *request_id, const char *kind,
		    const char *detail, const json_t *request);
	/* The turn ended: the answer is final (aborted: by /stop). */
	void	(*idle)(void *arg, int aborted);
	/* The turn failed; idle follows. */
	void	(*error)(void *arg, const char *message);
	/* The session is gone (runtime died and could not resume it). */
	void	(*lost)(void *arg, const char *why);
	/*
	 * A prompt given to send() that the runtime never took: it died
	 * first.  Reported, in the order sent, before the error and idle
	 * (or lost) that end the turn, so the owner can send it again.
	 */
	void	(*untaken)(void *arg, const char *prompt);
	/*
	 * The runtime calls a hook (hooks.invoke) and its turn waits for the
	 * answer: answer_hook(tok, ...) exactly once, now or later, unless
	 * the session is closed first (close() answers what is left).
	 */
	void	(*hook)(void *arg, void *tok, const char *type,
		    const json_t *input);
	/*
	 * The agent asks the user a question (userInput.request): answer
	 * with answer_input(tok, ...) once, unless the session closes first
	 * (close() answers what is left with an empty answer).
	 */
	void	(*input)(void *arg, void *tok, const char *question,
		    const json_t *choices, int freeform);
	/*
	 * The agent calls one of the tools given in the options' "tools":
	 * answer with answer_tool(request_id, result) once.
	 */
	void	(*tool_call)(void *arg, const char *request_id, const char *name,
		    const json_t *arguments);
	/*
	 * In plan mode the agent asks to leave it and implement its plan
	 * (exitPlanMode.request: summary, planContent, actions,
	 * recommendedAction): answer with answer_plan_exit(tok, ...) once,
	 * unless the session closes first (close() answers "not approved").
	 */
	void	(*plan_exit)(void *arg, void *tok, const json_t *request);
	/* Any other session event, by type (usage, modes, MCP, agents, ...). */
	void	(*event)(void *arg, const char *type, const json_t *data);
};

/* The result of call() and call_global(): result, or error; from the loop. */
typedef void	(*bcall_cb)(void *arg, const json_t *result, const char *error);

/* Per-session options, from the effective channel config. */
struct bsession_opts {
	const char	*channel;	/* platform channel id, for logs */
	const char	*cwd;		/* workingDirectory */
	const char	*model;		/* model id, or NULL for the runtime's default */
	json_t		*provider;	/* BYOK provider object (borrowed), or NULL */
	const char	*agent;		/* custom agent, or NULL */
	/*
	 * More keys of create and resume (borrowed, copied): the reasoning
	 * effort, tools, system message, MCP servers, skills, ...  NULL: none.
	 */
	json_t		*extra;
};

/* The answers to a permission request. */
enum bperm {
	BPERM_REJECT,		/* denied in chat */
	BPERM_APPROVE,		/* approved once */
	BPERM_UNAVAILABLE,	/* nobody can answer (shutting down) */
	BPERM_POLICY		/* denied by the bridge's permission rules */
};

/* What the engine says of itself, for `ctl status`. */
struct backend_info {
	pid_t		 pid;		/* the runtime's, or -1 */
	char		 version[64];	/* "" when unknown */
	char		 auth[128];	/* "<login>", "api-key", "token (file)", "none", "?" */
};

struct backend {
	const char	*name;
	/*
	 * Start the engine (spawn the runtime).  config is sessiond's config;
	 * changed() runs from the loop whenever info() would say something
	 * new (a runtime started, its sign-in was learned).
	 */
	int		(*start)(struct event_base *, json_t *config,
			    void (*changed)(void));
	void		(*info)(struct backend_info *);
	/*
	 * Can a session without a BYOK provider be served?  0 when the
	 * runtime said it is not signed in to GitHub and no token was given;
	 * 1 otherwise (or not known yet: the runtime will say).
	 */
	int		(*signed_in)(void);
	/*
	 * Open a session: resume session_id if not NULL (falling back to a new
	 * session when the runtime no longer knows it), else create one.
	 * Returns NULL only on immediate failure; else opened() follows.
	 */
	struct bsession	*(*open)(const struct bsession_opts *,
			    const char *session_id, const struct backend_events *,
			    void *arg);
	/*
	 * Send a prompt, with attachments (NULL, or an array of
	 * {type:"file", path, displayName}; copied).  immediate: steer the
	 * running turn (mid-turn text).
	 * While the runtime restarts, the prompt waits and goes out once the
	 * session is resumed.
	 */
	int		(*send)(struct bsession *, const char *prompt, int immediate,
			    const json_t *attachments);
	int		(*abort)(struct bsession *);
	int		(*answer_permission)(struct bsession *,
			    const char *request_id, enum bperm);
	/* Answer a hook() call; output (stolen) NULL: no opinion. */
	void		(*answer_hook)(struct bsession *, void *tok, json_t *output);
	/* Answer an input() question (freeform: typed, not a choice). */
	int		(*answer_input)(struct bsession *, void *tok,
			    const char *answer, int freeform);
	/*
	 * Answer a plan_exit(): approved, with the action chosen
	 * ("autopilot", "interactive", "exit_only"), or not, with the user's
	 * feedback (NULL: none) for the agent to revise its plan.
	 */
	int		(*answer_plan_exit)(struct bsession *, void *tok,
			    int approved, const char *action,
			    const char *feedback);
	/* Answer a tool_call(): result (stolen) is its text or {error}. */
	int		(*answer_tool)(struct bsession *, const char *request_id,
			    json_t *result);
	/*
	 * A request of the session (params stolen; its sessionId is added),
	 * or of the engine (NULL session: models.list, session.list, ...).
	 * -1 (cb not called) if it cannot be sent now; else cb runs once,
	 * from the loop, unless the session is closed first.
	 */
	int		(*call)(struct bsession *, const char *method,
			    json_t *params, bcall_cb, void *arg);
	/*
	 * New options for the session (model, provider, extra, ...): they
	 * are sent with every later resume.  reattach: resume it now, same
	 * id and context, so they take effect.
	 */
	int		(*set_opts)(struct bsession *, const struct bsession_opts *,
			    int reattach);
	/*
	 * Hooks changed: let the runtime re-read its own (plugin and user)
	 * hooks for this session.  The session id and context stay.
	 */
	int		(*reload_hooks)(struct bsession *);
	/* The config changed (telemetry reaches the runtime this way). */
	void		(*reconfigure)(json_t *config);
	/*
	 * Release the session (session.detach); no callback after this.
	 * Every session open() returned must be closed exactly once, also
	 * after opened() reported an error, after lost(), and after stop():
	 * those leave it dead but allocated.  close() may be called from
	 * inside one of the session's own callbacks.
	 */
	void		(*close)(struct bsession *);
	/*
	 * Stop the engine: what was queued goes out, then the runtime is
	 * asked to shut down and must exit within a bound.  done(arg) runs
	 * from the loop once it is gone; no session callback runs after
	 * stop() was called.
	 */
	void		(*stop)(void (*done)(void *), void *arg);
};

extern const struct backend	backend_copilot;
extern const struct backend	backend_echo;

/* The pid of the runtime in use, or -1 (logs, status, tests). */
pid_t	 copilot_runtime_pid(void);

#endif
