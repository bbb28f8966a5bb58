/*
 * chan: a chat channel as sessiond serves it, shared by the files of the
 * channel layer: channel.c (the session, the queue, turns), perm.c
 * (permission prompts and the agent's questions), command.c (what a
 * message is: a command, an answer, a steer, a prompt) and the command
 * handlers, cmd_*.c.  Nothing outside them includes this.
 */
#ifndef SESSIOND_CHAN_H
#define SESSIOND_CHAN_H

#include <sys/queue.h>

#include <stdint.h>

#include <jansson.h>

#include "backend.h"
#include "hooks.h"
#include "sessiond.h"
#include "wsconf.h"

#define CHAN_QUEUE_MAX	32	/* messages waiting for one channel */
/*
 * Thread sessions (threadSessions) kept at once, in all channels: past it,
 * the least recently used idle one is detached and forgotten when another
 * thread starts talking; its session is resumed when its thread does.
 */
#define CHAN_THREADS_MAX 32

enum chan_state {
	CH_CLOSED,	/* no backend session */
	CH_OPENING,	/* open() called, opened() not yet */
	CH_OPEN
};

/* A hooks.invoke of the channel's session, from start to answer. */
struct hookcall {
	TAILQ_ENTRY(hookcall)	 entry;
	struct chan		*chan;
	void			*tok;		/* the backend's, for the answer */
	enum hook_type		 type;
	struct hookrun		*run;		/* NULL once the commands ran */
	json_t			*output;	/* an "ask" waiting for the user */
	char			 tool[128];	/* preToolUse: the tool's name */
	uint64_t		 t0_us;		/* hooks.invoke received */
};
TAILQ_HEAD(hookcallq, hookcall);

/*
 * A permission prompt: the runtime's request, or a hook's "ask".  Only the
 * first of a channel is shown; answering it shows the next.
 */
struct perm {
	TAILQ_ENTRY(perm)	 entry;
	char			*id;		/* the runtime's requestId */
	struct hookcall		*hook;		/* set: a preToolUse "ask" */
	char			*tool;		/* what the prompt names */
	json_t			*request;	/* permissionRequest, or NULL */
	char			*reason;	/* a hook's reason, or NULL */
	int			 shown;		/* its prompt was posted */
};
TAILQ_HEAD(permq, perm);

/* A question of the agent (userInput.request); the next message answers. */
struct question {
	TAILQ_ENTRY(question)	 entry;
	void			*tok;		/* the backend's */
	json_t			*choices;	/* array of strings, or NULL */
	char			*text;
	int			 shown;
};
TAILQ_HEAD(questionq, question);

/*
 * A channel's session, or with threadSessions one thread's: the key is the
 * channel id and the thread's root post (NULL: the channel's own).
 */
struct chan {
	TAILQ_ENTRY(chan)	 entry;		/* least recently used first */
	char			*id;		/* platform channel id */
	char			*thread;	/* thread root, NULL: the channel */
	char			*bot;		/* "platform:name" serving it */
	enum chan_state		 st;
	struct bsession		*bs;
	int			 busy;		/* a turn is running */
	char			*steer_root;	/* a steering message's thread:
						   the answer's next post goes
						   there (NULL: none) */
	char			*root;		/* thread root of the turn */
	struct stream		*stream;
	struct stream		*feed;		/* the tool activity feed (verbose) */
	json_t			*queue;		/* INBOUND bodies waiting */
	json_t			*sent;		/* those given to the turn */
	struct permq		 perms;		/* pending permission prompts */
	struct questionq	 questions;	/* pending questions of the agent */
	char			*reply_open;	/* said once the session opens */
	int			 no_reply;	/* the turn ends without a post */
	int			 dm;		/* a direct message channel */
	struct chook		 hooks;
	struct hookcallq	 calls;		/* hooks running or asking */
	struct otel_span	*turn;		/* session.turn, while busy */
	json_t			*usage;		/* the last session.usage_info */
	int			 holds;		/* its operations (chanop.h):
						   not forgotten while > 0 */
	struct wsconf		 ws;		/* MCP servers, agents, skills, ... */
	unsigned int		 ws_sent;	/* the ws.gen the session got */
	struct planstate	*plan;		/* plan.c's, or NULL */
	int			 quiet;		/* a scheduled task's turn: nobody
						   waits for it (sched.c) */
	long long		 run;		/* its run, 0: none */
};

/* The command layer above, for a queued command's turn to come. */
struct chan_hooks {
	void	(*command)(struct chan *, json_t *msg);
};

/* channel.c */
void		 chan_init_hooks(const struct chan_hooks *);
const struct backend *chan_backend(void);
struct chan	*chan_get(const char *id, const char *bot);
struct chan	*chan_get_thread(const char *id, const char *thread,
		    const char *bot);
struct chan	*chan_find(const char *id, const char *thread, const char *bot);
struct chan	*chan_prompting(const char *id, const char *bot);
void		 chan_trim(const struct chan *keep);
const char	*chan_session_id(const struct chan *);
void		 chan_hook_decide(struct hookcall *, int approve);
void		 chan_say(struct chan *, const char *root, const char *text);
void		 chan_open(struct chan *, const char *session_id);
void		 chan_close_session(struct chan *);
void		 chan_end_stream(struct chan *, const char *error);
int		 chan_enqueue(struct chan *, json_t *msg);
int		 chan_steer(struct chan *, json_t *msg);
void		 chan_run(struct chan *);
void		 chan_stop_turn(struct chan *);
void		 chan_new_session(struct chan *, const char *root);
void		 chan_reattach(struct chan *, const char *root);
int		 chan_reload_hooks(struct chan *, const char *root,
		    const char *why, int manual, char *msg, size_t len);
int		 chan_apply(struct chan *, int reattach);

/* chanext.c */
void		 chanext_attach(struct chan *, const char *cwd);
int		 chanext_extra(struct chan *, json_t *);
const char	*chanext_agent(struct chan *, const char *agent);
void		 chanext_opened(struct chan *);
void		 chanext_no_agent(struct chan *);
void		 chanext_event(struct chan *, const char *type, const json_t *);
int		 chanext_reload(struct chan *, const char *why, int manual,
		    char *msg, size_t len);
void		 chanext_config_changed(struct chan *);
void		 chanext_drop(struct chan *);
int		 chan_auth_error(const char *message);
void		 chan_hold(struct chan *, const char *why);
void		 chan_open_held(struct chan *, const char *root,
		    const char *say);
void		 chan_resume(struct chan *, const char *session_id,
		    const char *root, const char *say);

/* feed.c */
void		 feed_tool(struct chan *, const char *tool, const json_t *args);
void		 feed_end(struct chan *);
/* A config "providers" entry as the runtime takes it (secrets read now). */
json_t		*chan_provider(const json_t *);

/* perm.c */
struct policy_decision;
/*
 * Decide a permission request as policy.c does, with the stored rules of
 * scopes in that order (a channel, "global", ...).
 */
void		 perm_policy(const json_t *request, const char *kind,
		    const char *cwd, int admin, int autopilot,
		    const char *const *scopes, size_t nscopes,
		    struct policy_decision *);
void		 perm_request(struct chan *, const char *id, const char *kind,
		    const json_t *request);
int		 perm_hook_ask(struct chan *, struct hookcall *,
		    const char *reason);
int		 perm_pending(const struct chan *);
int		 perm_is_hook(const struct chan *);
int		 perm_answer_first(struct chan *, int approve, int remember);
void		 perm_drop_all(struct chan *, int answer, enum bperm);
void		 perm_forget_hooks(struct chan *);
void		 perm_reaction(struct chan *, const char *emoji);
void		 perm_show_next(struct chan *);
void		 perm_question(struct chan *, void *tok, const char *text,
		    const json_t *choices);
int		 perm_questions(const struct chan *);
void		 perm_answer_question(struct chan *, const char *text);
void		 perm_drop_questions(struct chan *);

#endif
