/*
 * cmd: chat commands (docs/commands.md).  command.c says what a message
 * is and runs a command's handler; the handlers live in cmd_*.c, one file
 * per group, and each has its row in command.c's table.
 */
#ifndef SESSIOND_CMD_H
#define SESSIOND_CMD_H

#include <jansson.h>

#include "chanop.h"

struct chan;

/* What a handler gets. */
struct cmdctx {
	struct chan	*c;
	json_t		*msg;		/* the INBOUND body */
	const char	*root;		/* where replies go (thread root or "") */
	const char	*name;		/* the command, lower-cased, no "/" */
	const char	*arg;		/* the rest, trimmed (after a sub-word) */
};

typedef void	(*cmd_fn)(struct cmdctx *);

/* When a command runs while a turn is running. */
enum cmd_when {
	CMD_NOW,	/* at once (it acts on the turn: /stop, /approve, ...) */
	CMD_SAFE,	/* at once: it only reads or toggles a setting */
	CMD_TURN	/* behind the running turn, in the channel's queue */
};

struct cmd_def {
	const char	*name;
	const char	*sub;		/* required first word of the argument */
	enum cmd_when	 when;
	cmd_fn		 run;
	const char	*usage;		/* for /help; NULL: an alias, not listed */
	const char	*help;		/* one line */
	int		 all;		/* listed by /help all only */
};

/* command.c */
void		 command_init(void);
/* A message for a channel of bot's, past the gate (inbound.c). */
struct chan_conf;
void		 command_inbound(const char *bot, json_t *msg,
		    const struct chan_conf *);
void		 command_reaction(const char *bot, const char *channel,
		    const char *emoji);
const struct cmd_def *command_parse(const char *text, char **arg);
/* The command table, for /help. */
const struct cmd_def *command_table(size_t *n);
/* Queue the command to run between turns (a switch asked mid-turn). */
void		 command_defer(struct cmdctx *);
/* "on/true/yes/1/enable(d)" 1, "off/false/no/0/disable(d)" 0, else -1. */
int		 command_bool(const char *);
void		 cmd_say(struct cmdctx *, const char *text);
void		 cmd_sayf(struct cmdctx *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* cmd_model.c: /model, /reasoning; the model list for other commands */
struct models;
struct cmdmodels {
	struct chanop	 op;		/* its text: the reply */
	void		(*fn)(struct cmdmodels *);
	char		*arg;		/* the command's */
	struct models	*ms;		/* the list, once fetched */
	char		 why[256];	/* why the runtime's models are missing */
	char		*model;		/* /model: the choice (bare id) */
	char		*provider;	/* its provider; NULL: Copilot's */
	char		*level;		/* /reasoning */
};
struct cmdmodels *cmd_models_new(struct cmdctx *,
		    void (*fn)(struct cmdmodels *));
void		 cmd_models_fetch(struct cmdmodels *, int copilot);
void		 cmd_model(struct cmdctx *);
void		 cmd_reasoning(struct cmdctx *);
int		 cmd_streamer(void);

/* cmd_provider.c: /provider */
struct event_base;
void		 cmd_provider_init(struct event_base *);
void		 cmd_provider_free(void);
void		 cmd_provider(struct cmdctx *);

/* cmd_info.c: /status, /config, /context, /verbose, /streamer-mode, /resume */
void		 cmd_status(struct cmdctx *);
void		 cmd_config(struct cmdctx *);
void		 cmd_context(struct cmdctx *);
void		 cmd_verbose(struct cmdctx *);
void		 cmd_streamer_mode(struct cmdctx *);
void		 cmd_resume(struct cmdctx *);

/* cmd_core.c */
void		 cmd_new(struct cmdctx *);
void		 cmd_stop(struct cmdctx *);
void		 cmd_reload(struct cmdctx *);
void		 cmd_reload_config(struct cmdctx *);
void		 cmd_reload_bot(struct cmdctx *);
void		 cmd_reload_platform(struct cmdctx *);
void		 cmd_reload_hooks(struct cmdctx *);
void		 cmd_help(struct cmdctx *);
void		 cmd_approve(struct cmdctx *);
void		 cmd_deny(struct cmdctx *);
void		 cmd_always_approve(struct cmdctx *);
void		 cmd_always_deny(struct cmdctx *);
void		 cmd_remember(struct cmdctx *);

/* cmd_ext.c */
void		 cmd_mcp(struct cmdctx *);
void		 cmd_skills(struct cmdctx *);
void		 cmd_agents(struct cmdctx *);
void		 cmd_agent(struct cmdctx *);
void		 cmd_reload_mcp(struct cmdctx *);
void		 cmd_reload_skills(struct cmdctx *);

/* cmd_perm.c */
void		 cmd_rules(struct cmdctx *);
void		 cmd_rules_clear(struct cmdctx *);
void		 cmd_yolo(struct cmdctx *);

/* cmd_plan.c */
void		 cmd_autopilot(struct cmdctx *);
void		 cmd_plan(struct cmdctx *);
void		 cmd_implement(struct cmdctx *);

/* cmd_sched.c */
void		 cmd_schedule(struct cmdctx *);

#endif
