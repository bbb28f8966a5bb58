/*
 * sessiond: every Copilot session, streaming state, hooks and dedup.  It
 * never holds platform tokens: workers do the talking.
 */
#ifndef SESSIOND_SESSIOND_H
#define SESSIOND_SESSIOND_H

#include <sys/queue.h>
#include <sys/types.h>

#include <event2/event.h>
#include <jansson.h>

#include "ipc/ipc.h"

/* A direct link to one worker generation, handed over by ATTACH. */
struct link {
	TAILQ_ENTRY(link)	 entry;
	struct ipc_chan		*chan;
	char			*bot;		/* "platform:name" */
	int			 gen;
	pid_t			 pid;		/* from the worker's HELLO, or 0 */
};
TAILQ_HEAD(linkq, link);

/* Which generation of a bot new outbound work goes to. */
struct route {
	TAILQ_ENTRY(route)	 entry;
	char			*bot;
	int			 gen;
	char			 user_id[64];	/* the bot's platform user id */
	unsigned int		 dups;		/* duplicates dropped since the swap */
	unsigned int		 resent;	/* ops re-sent since the swap */
};
TAILQ_HEAD(routeq, route);

struct backend;

struct sessiond {
	json_t			*config;
	struct linkq		 links;
	struct routeq		 routes;
	const struct backend	*backend;	/* NULL until the first CONFIG */
};

extern struct sessiond	*sd;

#define DEDUP_TTL_MS	(15 * 60 * 1000)	/* > Slack's retry window */
#define MM_POST_MAX	16383			/* Mattermost message length */

enum cmd {
	CMD_NONE,
	CMD_NEW,
	CMD_STOP,
	CMD_RELOAD,
	CMD_RELOAD_CONFIG,
	CMD_RELOAD_BOT,
	CMD_RELOAD_HOOKS,
	CMD_STATUS,
	CMD_HELP,
	CMD_APPROVE,
	CMD_DENY
};

/* The effective config of one channel (static, grace, or a DM). */
struct chan_conf {
	const char	*cwd;
	const char	*model;		/* model id as sent to the runtime */
	json_t		*provider;	/* BYOK provider object, or NULL */
	const char	*agent;
	int		 trigger_all;	/* triggerMode "all" */
	int		 threaded;	/* threadedReplies */
	int		 verbose;
};

typedef void	(*outbound_cb)(void *arg, int ok, const char *post,
		    const char *error);

/* link.c */
int		 link_attach(struct ipc_msg *);
void		 link_route(const char *bot, int gen, const char *user_id);
int		 link_is_bridge_bot(const char *user_id);
void		 link_count(const char *bot, unsigned int dups,
		    unsigned int resent);
struct link	*link_for(const char *bot);
void		 link_free_all(void);

/* outbound.c */
int		 outbound_op(const char *bot, json_t *op, outbound_cb, void *arg);
void		 outbound_done(struct ipc_msg *);
void		 outbound_link_gone(const struct link *);
void		 outbound_flush(const char *bot);
void		 outbound_forget(void *arg);
void		 outbound_free_all(void);

/* stream.c */
struct stream;
struct stream	*stream_new(const char *bot, const char *channel,
		    const char *root, int placeholder);
void		 stream_delta(struct stream *, const char *text);
void		 stream_message(struct stream *, const char *text);
int		 stream_empty(const struct stream *);
void		 stream_finish(struct stream *, const char *error);
void		 stream_post(const char *bot, const char *channel,
		    const char *root, const char *text);

/* channel.c */
void		 chan_inbound(struct link *, json_t *msg);
void		 chan_free_all(void);
void		 chan_config_changed(void);
int		 chan_ctl_reload_hooks(const char *channel, char *msg,
		    size_t len);
int		 chan_conf_get(const char *channel, const char *bot, int is_dm,
		    struct chan_conf *);

/* admin.c */
void		 admin_request(const char *bot, const char *channel,
		    const char *root, enum cmd, const char *arg, json_t *msg);
void		 admin_result(struct ipc_msg *);

/* commands.c */
enum cmd	 cmd_parse(const char *text, char **arg);

/* hookwatch.c */
typedef void	(*hookwatch_cb)(void *owner);
void		 hookwatch_init(struct event_base *);
int		 hookwatch_set(void *owner, char *const *dirs, size_t ndirs,
		    hookwatch_cb);
void		 hookwatch_remove(void *owner);
size_t		 hookwatch_count(void);
void		 hookwatch_shutdown(void);

/* chook.c */
struct hookset;
struct chook {
	struct hookset	*hs;		/* NULL: not loaded */
	char		*cwd;		/* what it was loaded for */
	int		 workspace;	/* allowWorkspaceHooks then */
};
int		 chook_load(struct chook *, void *owner, const char *cwd,
		    hookwatch_cb, char *msg, size_t len);
int		 chook_current(const struct chook *, const char *cwd);
void		 chook_drop(struct chook *, void *owner);
void		 chook_config(json_t *config);

/* rtenv.c */
size_t		 rtenv_secret_names(const json_t *config, const char **names,
		    size_t max);
char		**rtenv_build(const json_t *config);
int		 rtenv_same(char *const *, char *const *);
void		 rtenv_free(char **);

/* dedup.c */
int		 dedup_check(const char *bot, const char *id);
void		 dedup_free(void);

#endif
