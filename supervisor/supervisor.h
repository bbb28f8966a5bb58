/*
 * supervisor: the parent process.  It owns the config, the child table and
 * the per-bot swap; it never talks to a chat platform or to Copilot.
 *
 * One header for the whole program, prototypes grouped by file, so every
 * module boundary is visible in one place.
 */
#ifndef SUPERVISOR_SUPERVISOR_H
#define SUPERVISOR_SUPERVISOR_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdint.h>

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
 * Child lifecycle.  HELLO is not a resting state: a HELLO is answered with
 * CONFIG at once, so the child moves from SPAWNED to CONNECTING.
 */
enum child_state {
	CS_SPAWNED,	/* exec'd, waiting for HELLO */
	CS_CONNECTING,	/* has its config; waiting for READY */
	CS_READY,	/* READY, not routed yet (a swap candidate) */
	CS_ACTIVE,	/* serving */
	CS_DRAINING,	/* told to DRAIN or SHUTDOWN; waiting for exit */
	CS_EXITED,
	CS__MAX
};

enum child_event {
	CE_HELLO,
	CE_READY,
	CE_FAILED,
	CE_DRAINED,
	CE_TIMEOUT,
	CE_EXIT,
	CE__MAX
};

struct bot;

struct child {
	TAILQ_ENTRY(child)	 entry;
	enum child_role		 role;
	struct bot		*bot;		/* NULL for sessiond */
	int			 gen;		/* generation, per bot */
	pid_t			 pid;
	enum child_state	 state;
	struct ipc_chan		*chan;		/* NULL once closed */
	struct event		*timer;		/* hello / handshake / drain / kill */
	uint64_t		 spawned_ms;
	uint64_t		 ready_ms;	/* 0 until READY */
	char			 hash[65];	/* config hash the child reported */
	char			 user_id[64];	/* the bot's platform user id (READY) */
	char			 binary[16];	/* digest of the binary it runs (READY) */
	char			 reason[256];	/* FAILED reason or exit description */
	int			 expected;	/* we asked it to go: not a crash */
	int			 killed;	/* SIGKILL sent */
};
TAILQ_HEAD(childq, child);

/* A completion for an asynchronous admin request (ctl or chat). */
typedef void	(*sup_reply_fn)(void *arg, int ok, const char *text);

struct swap;

struct bot {
	TAILQ_ENTRY(bot)	 entry;
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
	struct event		*restart_ev;	/* pending restart, or NULL */
	uint64_t		 up_ms;		/* when the active child became ready */
	char			 last_reload[320];
	unsigned int		 swap_dups;	/* last swap: duplicates dropped */
	unsigned int		 swap_resent;	/* last swap: ops re-sent */
	struct swap		*swap;		/* reload in progress, or NULL */
};
TAILQ_HEAD(botq, bot);

struct sup {
	struct event_base	*base;
	char			 cfgpath[4096];
	struct cfg		*cfg;
	struct botq		 bots;
	struct childq		 children;	/* every live child */
	struct child		*sessiond;
	struct backoff		 sess_backoff;
	struct event		*sess_restart_ev;
	char			 exedir[4096];
	int			 shutting_down;
	struct event		*shutdown_ev;
	uint64_t		 started_ms;
	unsigned int		 reloads_ok;
	unsigned int		 reloads_failed;
};

extern struct sup	*sup;

/* main.c */
void		 sup_reopen_logs(void);

/* child.c */
struct child	*child_spawn(enum child_role, struct bot *);
void		 child_event(struct child *, enum child_event);
void		 child_send_shutdown(struct child *);
void		 child_drain(struct child *);
void		 child_reap(void);
const char	*child_state_name(enum child_state);
void		 child_attach(struct child *);
void		 child_attach_all(void);
void		 child_route(struct child *);

/* bot.c */
struct bot	*bot_find(const char *key);
struct bot	*bot_get(const char *key);
void		 bot_free(struct bot *);
void		 bot_start(struct bot *);

/* admin.c */
void		 admin_request(struct ipc_msg *);
void		 admin_reload_bot(const char *name, const char *by,
		    sup_reply_fn notice, sup_reply_fn reply, void *arg);

/* swap.c */
int		 swap_start(struct bot *, const char *by, const char *why,
		    sup_reply_fn, void *arg);
void		 swap_child_ready(struct child *);
void		 swap_child_failed(struct child *, const char *reason);
void		 swap_child_exited(struct child *);
void		 swap_cancel_reply(void *arg);
void		 swap_abandon_all(void);

/* reload.c */
json_t		*reload_sessiond_config(const struct cfg *);
int		 reload_config(const char *trigger, char **text);
void		 reload_push(void);

/* watch.c */
int		 watch_start(const char *path);
void		 watch_stop(void);

/* control.c */
int		 control_start(const char *path);
int		 control_answers(const char *path);
void		 control_stop(void);
char		*control_status_text(void);
void		 control_hooks_result(struct ipc_msg *);

/* ctl.c */
int		 ctl_main(const char *sockpath, int argc, char *argv[]);

/* import.c */
int		 import_main(int argc, char *argv[]);

#endif
