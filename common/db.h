/*
 * db: the bridge's persisted state, one SQLite database,
 * <stateDir>/state.db.  Synchronous: sessiond calls it from its writer
 * thread only (sessiond/store.c), the supervisor from `import-state`.
 *
 * The tables are upstream copilot-bridge's, with its column names and types,
 * so its state.db is read as it is; what this bridge keeps beyond them is in
 * tables of its own, named bridge_* (docs/architecture.md, "Persisted
 * state").  Every value reaches SQL as a bound parameter.
 *
 * A struct db belongs to one thread at a time.  Functions that may run on a
 * thread other than the log's owner never log: they return -1 and leave
 * the reason in db_error().
 */
#ifndef COMMON_DB_H
#define COMMON_DB_H

#include <stddef.h>
#include <stdio.h>

#define DB_FILE		"state.db"
#define DB_LEGACY_FILE	"sessions.json"	/* the previous version's state */
#define DB_VERSION	2		/* PRAGMA user_version we write */
#define DB_ERR_MAX	1024

struct db;

/*
 * Open (creating it if needed) <dir>/state.db: WAL, foreign keys, a busy
 * timeout, the schema brought to DB_VERSION, and the previous version's
 * sessions.json imported once.  NULL with err "<path>: <reason>" if the
 * file is corrupt, locked, or of a newer schema than we know.
 */
struct db	*db_open(const char *dir, char *err, size_t len);
void		 db_close(struct db *);
const char	*db_path(const struct db *);
const char	*db_error(const struct db *);	/* the last failure */
/* From any thread: make a waiting or running statement give up. */
void		 db_abort(struct db *);

/* A transaction; db_mark/db_undo/db_keep are a savepoint inside it. */
int		 db_begin(struct db *);
int		 db_commit(struct db *);
void		 db_rollback(struct db *);
int		 db_mark(struct db *);
void		 db_undo(struct db *);
int		 db_keep(struct db *);

/*
 * Writes.  A NULL session id, setting value or preference value removes
 * it; thread NULL is the channel's own session.  Cursors only move
 * forward; seen (the ids the cursor covers, text the store reads back,
 * or NULL) is kept with the newest.  A rule with the scope, tool and
 * pattern of an existing one replaces it (as upstream does).
 */
int	 db_put_session(struct db *, const char *channel, const char *thread,
	    const char *bot, const char *sid);
int	 db_put_cursor(struct db *, const char *channel, const char *bot,
	    long long ms, const char *seen);
int	 db_put_pref(struct db *, const char *channel, const char *column,
	    const char *value);
int	 db_add_rule(struct db *, long long id, const char *scope,
	    const char *tool, const char *pattern, const char *action,
	    const char *created_at);
int	 db_del_rule(struct db *, long long id);
int	 db_clear_rules(struct db *, const char *scope, const char *tool,
	    const char *pattern);
int	 db_put_setting(struct db *, const char *key, const char *value);

/*
 * Scheduled tasks (upstream's scheduled_tasks; times as upstream writes
 * them: ISO 8601 in UTC), the runs of tasks (scheduled_task_history; a
 * run is "running" until it ends "success" or "error", or "missed"), and
 * the calls between agents (agent_calls).  A task with an id already
 * there replaces it (created_at kept); so does a run.
 */
struct db_task {
	const char	*id, *channel, *bot, *prompt;
	const char	*cron, *run_at;		/* one of them */
	const char	*timezone, *created_by, *description;
	int		 enabled;
	const char	*last_run, *next_run, *created_at;
};
int	 db_put_task(struct db *, const struct db_task *);
int	 db_del_task(struct db *, const char *id);
int	 db_load_tasks(struct db *, int (*)(void *, const struct db_task *),
	    void *);
struct db_run {
	long long	 id;
	const char	*task, *channel, *prompt, *description, *timezone;
	const char	*status, *fired_at, *error;
};
int	 db_put_run(struct db *, const struct db_run *);
/* A channel's runs, newest first, at most limit. */
int	 db_runs(struct db *, const char *channel, int limit,
	    int (*)(void *, const struct db_run *), void *);
long long db_run_seq(struct db *);		/* the highest run id */
/* Runs still "running" (sessiond stopped under them) end as error. */
int	 db_end_runs(struct db *, const char *error);
struct db_agent_call {
	const char	*caller, *target, *agent;
	const char	*message, *response;	/* summaries */
	long long	 duration_ms;
	int		 success;
	const char	*error, *chain_id;
	int		 depth;
};
int	 db_add_agent_call(struct db *, const struct db_agent_call *);

/* Reads everything the bridge keeps in memory, row by row. */
struct db_loader {
	void	*arg;
	int	(*session)(void *, const char *channel, const char *thread,
		    const char *bot, const char *sid);
	/* seen: as written, unchecked (another program may have); or NULL */
	int	(*cursor)(void *, const char *channel, const char *bot,
		    long long ms, const char *seen);
	/* Once per column that is set (not NULL); booleans as "0"/"1". */
	int	(*pref)(void *, const char *channel, const char *column,
		    const char *value);
	int	(*rule)(void *, long long id, const char *scope,
		    const char *tool, const char *pattern, const char *action,
		    const char *created_at);
	int	(*setting)(void *, const char *key, const char *value);
	int	(*workspace)(void *, const char *bot, const char *dir,
		    const char *allow_paths);
};
int		 db_load(struct db *, const struct db_loader *);
/* The highest rule id ever handed out (ids are never reused). */
long long	 db_rule_seq(struct db *);

/* channel_prefs: its columns, their kinds, their values. */
enum db_kind {
	DB_TEXT,		/* any text */
	DB_ENUM,		/* one of values[] */
	DB_BOOL,		/* 0 or 1 */
	DB_LIST			/* a JSON array of strings */
};
struct db_column {
	const char		*name;
	enum db_kind		 kind;
	const char *const	*values;	/* DB_ENUM */
};
#define DB_NPREF	10
extern const struct db_column	db_pref_columns[DB_NPREF];
const struct db_column	*db_pref_column(const char *name);
/* 0 if value (NULL: unset) suits the column, else -1 and why. */
int	 db_value_check(const struct db_column *, const char *value,
	    char *why, size_t len);

/*
 * The previous version's sessions.json:
 * {"version":1,"channels":{"<id>":{"sessionId":"…"|null,"bot":"…",
 * "cursor":<ms>}}}.  fn is called for each usable channel; an unusable one
 * is counted in *skipped with the first reason in why.  -1 (and why) if the
 * text is not such a document at all.
 */
struct db_legacy {
	const char	*channel;
	const char	*sid;		/* or NULL */
	const char	*bot;		/* or NULL */
	long long	 cursor;	/* 0: none */
};
int	 db_legacy_parse(const char *text, size_t len,
	    int (*fn)(void *, const struct db_legacy *), void *arg,
	    size_t *skipped, char *why, size_t whylen);

/*
 * Import an upstream copilot-bridge state.db, in one transaction: rows
 * whose key is already here are kept as they are (so a second run takes
 * nothing), rows with a value we do not know are skipped and said why.
 */
#define DB_IMPORT_TABLES	9
#define DB_IMPORT_WHY		8	/* reasons kept per table */
struct db_import_table {
	const char	*table;
	int		 present;	/* the source has the table */
	unsigned int	 rows, taken, kept, skipped;
	char		 note[256];	/* about the table as a whole */
	char		*why[DB_IMPORT_WHY];
	unsigned int	 nwhy;
};
struct db_report {
	struct db_import_table	 t[DB_IMPORT_TABLES];
	size_t			 n;
};
int	 db_import_upstream(struct db *, const char *path, struct db_report *,
	    char *err, size_t len);
void	 db_report_print(const struct db_report *, FILE *);
void	 db_report_free(struct db_report *);

#endif
