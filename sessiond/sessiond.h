/*
 * sessiond: every Copilot session, streaming state, hooks and dedup.  It
 * never holds platform tokens: workers do the talking.
 *
 * Prototypes of the modules without a header of their own, grouped by
 * file.  The layers, from the top: main.c (dispatch), channel.c, admin.c
 * and chook.c, conf.c, stream.c, outbound.c, route.c, link.c; the backends
 * and the pure modules below (tests/layers.conf).
 */
#ifndef SESSIOND_SESSIOND_H
#define SESSIOND_SESSIOND_H

#include <sys/queue.h>
#include <sys/types.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/pollwatch.h"
#include "ipc/ipc.h"

#define DEDUP_TTL_MS	(15 * 60 * 1000)	/* > Slack's retry window */


/* channel.c */
struct backend;
void		 chan_init(const struct backend *);
void		 chan_free_all(void);
void		 chan_unsee_unanswered(void);
void		 chan_config_changed(void);
int		 chan_ctl_reload_hooks(const char *channel, char *msg,
		    size_t len);

/* admin.c */
void		 admin_init(struct ipc_chan *parent);
void		 admin_request(const char *bot, const char *channel,
		    const char *root, const char *cmd, const char *arg,
		    json_t *msg);
void		 admin_result(json_t *body);
void		 admin_free_all(void);


/* dirwatch.c */
typedef void	(*dirwatch_cb)(void *owner);
/* Does a change of this name in the directory matter to the owner? */
typedef int	(*dirwatch_match)(const char *name);
struct dirwatch_dir {
	const char	*path;
	dirwatch_match	 match;		/* NULL: every name */
};
void		 dirwatch_init(struct event_base *);
void		 dirwatch_config(enum pollwatch_mode, int interval_ms);
int		 dirwatch_set(void *owner, const struct dirwatch_dir *,
		    size_t ndirs, dirwatch_cb);
void		 dirwatch_remove(void *owner);
size_t		 dirwatch_count(void);
void		 dirwatch_shutdown(void);

/* chook.c */
struct hookset;
struct chook {
	struct hookset	*hs;		/* NULL: not loaded */
	char		*cwd;		/* what it was loaded for */
	int		 workspace;	/* allowWorkspaceHooks then */
};
int		 chook_load(struct chook *, void *owner, const char *cwd,
		    dirwatch_cb, char *msg, size_t len);
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
