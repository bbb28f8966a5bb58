/*
 * supervisor: the parent process.  It owns the config, the child table and
 * the per-bot swap; it never talks to a chat platform or to Copilot.
 *
 * One header for the whole program, prototypes grouped by file, so every
 * module boundary is visible in one place.  The files are layered (see
 * tests/layers.conf): main.c and dispatch.c at the top call down into
 * control, admin, reload, swap, bot and sess, which call child.c, which
 * calls project.c and the mechanisms of common/ and ipc/.  A lower file
 * reports upward only through the callbacks it was given (child_hooks,
 * watch's callback).  Every file reaches the process's state through the
 * one struct sup it is handed, never through a global.
 */
#ifndef SUPERVISOR_SUPERVISOR_H
#define SUPERVISOR_SUPERVISOR_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/backoff.h"
#include "common/config.h"
#include "ipc/ipc.h"

#define SUP_CRASH_MAX		5		/* crashes within ... */
#define SUP_CRASH_WINDOW_MS	(10 * 60 * 1000) /* ... this window mark a bot FAILED */
#define SUP_BACKOFF_BASE_MS	1000
#define SUP_BACKOFF_MAX_MS	60000
#define SUP_HELLO_TIMEOUT_MS	5000		/* exec to HELLO */
#define SUP_EXIT_GRACE_MS	2000		/* DRAINED or SHUTDOWN to exit */
#define SUP_SHUTDOWN_MS		5000		/* SIGTERM: children gone within */
#define SUP_DEBOUNCE_MS		500		/* config file watch */

enum child_role {
	ROLE_SESSIOND,
	ROLE_WORKER
};

/*
 * Child lifecycle (docs/architecture.md, "The child state machine").  HELLO
 * is not a resting state: a HELLO is answered with CONFIG at once (a
 * spare's, once it is adopted), so the
 * child moves from SPAWNED to CONNECTING.
 */
enum child_state {
	CS_SPAWNED,	/* exec'd, waiting for HELLO */
	CS_CONNECTING,	/* has its config; waiting for READY */
	CS_READY,	/* a worker's READY, not routed yet */
	CS_ACTIVE,	/* serving */
	CS_DRAINING,	/* told to DRAIN or SHUTDOWN; waiting for exit */
	CS_SPARE,	/* a worker for no bot yet: HELLO said, waiting to be adopted */
	CS_EXITED,
	CS__MAX
};

enum child_event {
	/* from the child */
	CE_HELLO,
	CE_READY,
	CE_FAILED,
	CE_DRAINED,
	/* from the supervisor */
	CE_TIMEOUT,
	CE_EXIT,
	CE_ROUTE,	/* sessiond gets new work for the bot here */
	CE_DRAIN,	/* finish what you hold, then exit */
	CE_SHUTDOWN,	/* stop now */
	CE_ADOPT,	/* a spare gets its bot: CONFIG as after a HELLO */
	CE__MAX
};

struct bot;
struct pidwatch;
struct sup;

struct child {
	TAILQ_ENTRY(child)	 entry;
	struct sup		*sup;
	enum child_role		 role;
	struct bot		*bot;		/* NULL for sessiond */
	int			 gen;		/* generation, per bot */
	pid_t			 pid;
	enum child_state	 state;
	struct ipc_chan		*chan;		/* NULL once closed */
	struct pidwatch		*pw;		/* its exit */
	struct event		*timer;		/* hello / handshake / drain / kill */
	uint64_t		 spawned_ms;
	uint64_t		 ready_ms;	/* 0 until READY */
	/* Phases, CLOCK_MONOTONIC µs (0: not yet), for the swap's log line. */
	uint64_t		 config_us;	/* CONFIG sent */
	uint64_t		 start_us;	/* it says: CONFIG to the adapter started */
	uint64_t		 connect_us;	/* it says: CONFIG to the platform ready */
	uint64_t		 drained_us;	/* DRAINED */
	char			 hash[65];	/* config hash the child reported */
	char			 user_id[64];	/* the bot's platform user id (READY) */
	char			 binary[16];	/* digest of the binary it runs (READY) */
	int			 post_max;	/* its platform's post limit (READY), 0: unsaid */
	char			 reason[256];	/* FAILED reason or exit description */
	int			 expected;	/* we asked it to go: not a crash */
	int			 killed;	/* SIGKILL sent */
	int			 forked;	/* by the fork server, not exec'd */
};
TAILQ_HEAD(childq, child);

/*
 * What child.c reports upward.  msg gets every message but the lifecycle
 * ones (HELLO, READY, FAILED, DRAINED) and returns -1 for one the child
 * had no business sending; ready, failed and drained come after the state
 * changed;
 * exited comes once the child is off the list, before it is freed.
 */
struct child_hooks {
	int	(*msg)(struct child *, struct ipc_msg *);
	void	(*ready)(struct child *);
	void	(*failed)(struct child *);
	void	(*drained)(struct child *);
	void	(*exited)(struct child *);
};

/* A completion for an asynchronous admin request (ctl or chat). */
typedef void	(*sup_reply_fn)(void *arg, int ok, const char *text);

struct swap;

struct bot {
	TAILQ_ENTRY(bot)	 entry;
	struct sup		*sup;
	char			*key;		/* "platform:name" */
	struct child		*active;	/* serving generation, or NULL */
	struct child		*candidate;	/* generation being brought up */
	int			 last_gen;
	int			 in_config;	/* present in the running config */
	int			 failed;	/* too many crashes: not restarted */
	uint64_t		 crashes[SUP_CRASH_MAX]; /* ring of crash times */
	unsigned int		 ncrashes;
	unsigned int		 restarts;	/* unexpected exits, total */
	struct backoff		 backoff;
	struct event		*restart_ev;	/* pending restart */
	uint64_t		 up_ms;		/* when the active child became ready */
	char			 last_reload[320];
	unsigned int		 swap_dups;	/* last swap: duplicates dropped */
	unsigned int		 swap_resent;	/* last swap: ops re-sent */
	struct swap		*swap;		/* reload in progress, or NULL */
};
TAILQ_HEAD(botq, bot);

struct control;
struct watch;
struct fleet;
struct forksrv;
TAILQ_HEAD(fleetq, fleet);

/* The supervisor: one of it, made by main() and handed to every file. */
struct sup {
	struct event_base	*base;
	char			 cfgpath[4096];
	struct cfg		*cfg;
	struct botq		 bots;
	struct childq		 children;	/* every live child */
	struct child		*sessiond;
	struct child		*spare;		/* idle worker for the next bot, or NULL */
	struct event		*spare_ev;	/* its (re)start */
	struct backoff		 spare_backoff;
	const struct child_hooks *hooks;	/* set by dispatch_init() */
	struct backoff		 sess_backoff;
	struct event		*sess_restart_ev;
	struct control		*control;
	struct watch		*watch;
	struct fleetq		 fleets;	/* platform reloads running */
	/*
	 * swap.c tells of every swap's end here (set by fleet_init()); error
	 * is NULL when it succeeded.
	 */
	void			(*swap_ended)(struct bot *, const char *error);
	char			 exedir[4096];
	int			 pid1;		/* we are PID 1: reap orphans */
	int			 subreaper;	/* orphans below us are ours too */
	struct forksrv		*forksrv;	/* NULL: workers are exec'd */
	struct backoff		 forksrv_backoff;
	uint64_t		 forksrv_next_ms; /* no start before */
	int			 shutting_down;
	struct event		*shutdown_ev;
	uint64_t		 started_ms;
	unsigned int		 reloads_ok;
	unsigned int		 reloads_failed;
	/* What sessiond last said of its runtime (RUNTIME), for ctl status. */
	long			 rt_pid;
	char			 rt_version[64];
	char			 rt_auth[128];
};

/* forksrv.c */
void		 forksrv_init(struct sup *);
void		 forksrv_shutdown(struct sup *);
void		 forksrv_status(struct sup *, FILE *);
pid_t		 forksrv_fork(struct sup *, int chan, const char *path,
		    char binary[13]);

/* dispatch.c */
void		 dispatch_init(struct sup *);

/* child.c */
struct child	*child_spawn(struct sup *, enum child_role, struct bot *);
void		 child_event(struct child *, enum child_event);
void		 child_kill(struct child *, int sig, const char *why);
const char	*child_name(const struct child *);
const char	*child_state_name(enum child_state);
void		 child_attach(struct child *);
void		 child_attach_all(struct sup *);
void		 child_route(struct child *);
void		 child_reopen_logs(struct sup *);
struct child	*child_by_pid(struct sup *, pid_t);
int		 child_adopt(struct child *, struct bot *);
int		 child_binary_current(const struct child *);
void		 child_binary_digest(const char *path, char out[13]);

/* spare.c */
int		 spare_init(struct sup *);
void		 spare_refill(struct sup *, uint32_t delay_ms);
struct child	*spare_worker(struct bot *);
void		 spare_exited(struct sup *, struct child *);

/* bot.c */
struct bot	*bot_find(struct sup *, const char *key);
int		 bot_of_platform(const struct bot *, const char *platform);
struct bot	*bot_get(struct sup *, const char *key);
void		 bot_remove(struct bot *);
void		 bot_start(struct bot *);
void		 bot_crashed(struct bot *, struct child *);

/* sess.c */
int		 sess_start(struct sup *);
void		 sess_ready(struct sup *);
void		 sess_exited(struct sup *, struct child *);

/* admin.c */
void		 admin_request(struct sup *, struct ipc_msg *);
void		 admin_reload_bot(struct sup *, const char *name, const char *by,
		    sup_reply_fn notice, sup_reply_fn reply, void *arg);
void		 admin_reload_platform(struct sup *, const char *name,
		    const char *by, sup_reply_fn notice, sup_reply_fn reply,
		    void *arg);

/* fleet.c */
/* One bot's outcome in a platform reload, for fleet_summary(). */
struct fleet_result {
	const char	*key;
	int		 ok;
	int		 old_gen;	/* serving when its turn came, 0: none */
	int		 new_gen;	/* serving when it ended, 0: none */
	uint64_t	 ms;		/* its swap, start to end */
	char		 error[256];	/* why it failed, "" if ok */
};
void		 fleet_init(struct sup *);
void		 fleet_start(struct sup *, const char *platform, const char *by,
		    sup_reply_fn notice, sup_reply_fn reply, void *arg);
void		 fleet_cancel_reply(struct sup *, void *arg);
char		*fleet_summary(const char *platform,
		    const struct fleet_result *, size_t n, int max,
		    uint64_t total_ms, size_t *nfailed);

/* swap.c */
int		 swap_start(struct bot *, const char *by, const char *why,
		    sup_reply_fn, void *arg);
void		 swap_child_ready(struct child *);
void		 swap_child_failed(struct child *, const char *reason);
void		 swap_child_drained(struct child *);
void		 swap_child_exited(struct child *);
void		 swap_cancel_reply(struct sup *, void *arg);
void		 swap_abandon_all(struct sup *);

/* reload.c */
int		 reload_config(struct sup *, const char *trigger, char **text);
void		 reload_push(struct sup *);

/* project.c */
json_t		*project_sessiond(const struct cfg *);
json_t		*project_worker(const struct cfg *, const char *key);

/* watch.c */
struct watch	*watch_start(struct event_base *, const char *path,
		    enum pollwatch_mode, int interval_ms,
		    void (*changed)(void *), void *arg);
void		 watch_config(struct watch *, enum pollwatch_mode,
		    int interval_ms);
void		 watch_stop(struct watch *);

/* control.c */
struct control	*control_start(struct sup *, const char *path);
void		 control_stop(struct control *);
char		*control_status_text(struct sup *);
void		 control_hooks_result(struct sup *, struct ipc_msg *);
int		 control_answers(const char *path);

/* ctl.c */
int		 ctl_main(const char *sockpath, int argc, char *argv[]);

/* import.c */
int		 import_main(int argc, char *argv[]);

#endif
