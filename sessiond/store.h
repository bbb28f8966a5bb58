/*
 * store: what sessiond remembers across its restarts, in memory and in
 * <stateDir>/state.db (common/db.c): each channel's (and thread's) Copilot
 * session, the catch-up cursors, channel preferences, stored permission
 * rules, settings and workspace overrides.
 *
 * Reads are answered from memory.  A write changes memory at once and is
 * saved by one writer thread, which gathers what is queued into one
 * transaction: the event loop never waits for the disk.  A write's callback
 * runs on the loop once its transaction committed (ok) or failed, so a
 * command says "saved" only when it is.  If the database cannot be used,
 * the store runs in memory only and every callback reports why.
 *
 * Strings returned point into the store: valid until the next write of the
 * same key, or store_close().
 */
#ifndef SESSIOND_STORE_H
#define SESSIOND_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

/* On the loop: ok once the write is durable; else error says why not. */
typedef void	(*store_cb)(void *arg, int ok, const char *error);

int		 store_open(struct event_base *, const char *state_dir);
void		 store_close(void);
int		 store_ok(void);		/* saving, or memory only */
const char	*store_error(void);		/* why not, or NULL */
void		 store_forget(void *arg);	/* its callbacks are dropped */

/* Sessions: thread NULL is the channel's own; sid NULL ends it. */
const char	*store_session(const char *channel, const char *thread);
int		 store_set_session(const char *channel, const char *thread,
		    const char *bot, const char *sid, store_cb, void *arg);

/*
 * Catch-up cursors: the platform time (ms) of the newest message seen in a
 * channel by a bot, with the ids of the messages seen in the span a
 * catch-up reads again before it (sessiond/seen.h).  Called for every
 * inbound message, so cheap: saved in one write every STORE_CURSOR_MS at
 * most, no callback.  store_unsee() forgets an id (a message no turn
 * answered: the next catch-up reads it again); store_seen_each() hands
 * out the ids of the cursors newer than since_ms, and says how many.
 */
#define STORE_CURSOR_MS	200
void		 store_set_cursor(const char *channel, const char *bot,
		    const char *id, long long ms);
void		 store_unsee(const char *channel, const char *bot,
		    const char *id);
size_t		 store_seen_each(long long since_ms,
		    void (*fn)(const char *bot, const char *id));
json_t		*store_cursors(const char *bot, long long since_ms);

/*
 * Channel preferences, upstream's channel_prefs: NULL or -1 is unset, i.e.
 * "use the config".  Names and values are checked against common/db.h's
 * db_pref_columns (db_value_check() says why a value is refused).
 */
struct store_prefs {
	const char	*model;
	const char	*agent;
	int		 verbose;		/* -1, 0, 1 */
	const char	*trigger_mode;		/* mention, all */
	int		 threaded_replies;	/* -1, 0, 1 */
	const char	*permission_mode;	/* interactive, autopilot */
	const char	*reasoning_effort;	/* low, medium, high, xhigh */
	const char	*session_mode;		/* interactive, plan, autopilot */
	const char	*disabled_skills;	/* a JSON array of names */
	const char	*provider;
};
const struct store_prefs *store_prefs(const char *channel);
int		 store_set_pref(const char *channel, const char *name,
		    const char *value, store_cb, void *arg);

/* Stored permission rules; scope is a channel id or "global". */
struct store_rule {
	long long	 id;
	const char	*scope;
	const char	*tool;
	const char	*pattern;	/* "*": any */
	int		 allow;		/* else deny */
	const char	*created_at;	/* UTC, "YYYY-MM-DD HH:MM:SS" */
};
size_t		 store_rules(const char *scope, const struct store_rule **,
		    size_t max);
long long	 store_add_rule(const char *scope, const char *tool,
		    const char *pattern, int allow, store_cb, void *arg);
int		 store_remove_rule(long long id, store_cb, void *arg);
int		 store_clear_rules(const char *scope, const char *tool,
		    const char *pattern, store_cb, void *arg);

/* Settings (key: value, e.g. streamer_mode) and workspace overrides. */
const char	*store_setting(const char *key);
int		 store_set_setting(const char *key, const char *value,
		    store_cb, void *arg);
struct store_workspace {
	const char	*bot;
	const char	*dir;
	const char	*allow_paths;	/* a JSON array */
};
const struct store_workspace *store_workspace(const char *bot);

/*
 * Writes and reads of their own for other modules (scheduled tasks, the
 * calls between agents): apply runs on the writer thread, in its
 * transaction under a savepoint of its own, with the database of
 * common/db.h; it must not log nor touch the loop's memory, and returns
 * -1 (the reason in db_error()) to undo what it did.  done runs on the
 * loop as for any write (not saved: memory only, or apply failed), then
 * release(data).  -1 (release called) when out of memory.
 */
struct db;
typedef int	(*store_fn)(struct db *, void *data);
int		 store_exec(store_fn apply, void (*release)(void *), void *data,
		    store_cb done, void *arg);

/* How the writer did: for /status, tests and benchmarks. */
struct store_stats {
	uint64_t	 writes;	/* saved */
	uint64_t	 failed;	/* not saved */
	uint64_t	 transactions;
	uint64_t	 max_commit_us;	/* the longest, BEGIN to COMMIT */
};
void		 store_stats(struct store_stats *);

#endif
