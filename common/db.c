/*
 * db: see db.h.  The schema, its migrations, the reads and writes the
 * bridge makes, and the two imports (the previous version's sessions.json,
 * an upstream state.db).
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "log.h"
#include "util.h"
#include "db.h"

#define DB_BUSY_MS	3000	/* how long a write waits for another's lock */
#define DB_BUSY_STEP_MS	5
#define DB_LEGACY_MAX	(16 * 1024 * 1024)
#define DB_ID_MAX	256	/* channel, bot and session ids, in bytes */

/* The statements the bridge runs, prepared once each. */
enum db_sql {
	SQL_SESSION_SET,
	SQL_SESSION_DEL,
	SQL_SESSION_BOT_SET,
	SQL_SESSION_BOT_DEL,
	SQL_THREAD_SET,
	SQL_THREAD_DEL,
	SQL_CURSOR_SET,
	SQL_RULE_DEL_SAME,
	SQL_RULE_ADD,
	SQL_RULE_DEL,
	SQL_RULE_CLEAR,
	SQL_SETTING_SET,
	SQL_SETTING_DEL,
	SQL_N
};

static const char *const db_sql_text[SQL_N] = {
	[SQL_SESSION_SET] = "INSERT INTO channel_sessions (channel_id, "
	    "session_id, created_at) VALUES (?1, ?2, datetime('now')) "
	    "ON CONFLICT(channel_id) DO UPDATE SET session_id = "
	    "excluded.session_id, created_at = excluded.created_at",
	[SQL_SESSION_DEL] = "DELETE FROM channel_sessions WHERE channel_id = ?1",
	[SQL_SESSION_BOT_SET] = "INSERT INTO bridge_session_bots (channel_id, "
	    "bot) VALUES (?1, ?2) ON CONFLICT(channel_id) DO UPDATE SET bot = "
	    "excluded.bot",
	[SQL_SESSION_BOT_DEL] = "DELETE FROM bridge_session_bots WHERE "
	    "channel_id = ?1",
	[SQL_THREAD_SET] = "INSERT INTO bridge_thread_sessions (channel_id, "
	    "thread_root, session_id, bot) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT(channel_id, thread_root) DO UPDATE SET session_id = "
	    "excluded.session_id, bot = excluded.bot",
	[SQL_THREAD_DEL] = "DELETE FROM bridge_thread_sessions WHERE "
	    "channel_id = ?1 AND thread_root = ?2",
	/* The ids go with the newest cursor (SET reads the row as it was). */
	[SQL_CURSOR_SET] = "INSERT INTO bridge_cursors (channel_id, bot, "
	    "cursor_ms, seen_ids) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(channel_id, "
	    "bot) DO UPDATE SET cursor_ms = max(cursor_ms, excluded.cursor_ms), "
	    "seen_ids = CASE WHEN excluded.cursor_ms >= cursor_ms THEN "
	    "excluded.seen_ids ELSE seen_ids END",
	[SQL_RULE_DEL_SAME] = "DELETE FROM permission_rules WHERE scope = ?1 "
	    "AND tool = ?2 AND command_pattern = ?3",
	[SQL_RULE_ADD] = "INSERT INTO permission_rules (id, scope, tool, "
	    "command_pattern, action, created_at) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "COALESCE(?6, datetime('now')))",
	[SQL_RULE_DEL] = "DELETE FROM permission_rules WHERE id = ?1",
	[SQL_RULE_CLEAR] = "DELETE FROM permission_rules WHERE scope = ?1 AND "
	    "(?2 IS NULL OR tool = ?2) AND (?3 IS NULL OR command_pattern = ?3)",
	[SQL_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[SQL_SETTING_DEL] = "DELETE FROM settings WHERE key = ?1",
};

static const char *const db_trigger_modes[] = { "mention", "all", NULL };
static const char *const db_permission_modes[] = { "interactive", "autopilot",
	NULL };
static const char *const db_efforts[] = { "low", "medium", "high", "xhigh",
	NULL };
static const char *const db_session_modes[] = { "interactive", "plan",
	"autopilot", NULL };

/* channel_prefs, in upstream's column order; NULL means "use the config". */
const struct db_column db_pref_columns[DB_NPREF] = {
	{ "model",		DB_TEXT, NULL },
	{ "agent",		DB_TEXT, NULL },
	{ "verbose",		DB_BOOL, NULL },
	{ "trigger_mode",	DB_ENUM, db_trigger_modes },
	{ "threaded_replies",	DB_BOOL, NULL },
	{ "permission_mode",	DB_ENUM, db_permission_modes },
	{ "reasoning_effort",	DB_ENUM, db_efforts },
	{ "session_mode",	DB_ENUM, db_session_modes },
	{ "disabled_skills",	DB_LIST, NULL },
	{ "provider",		DB_TEXT, NULL },
};

struct db {
	sqlite3		*h;
	char		 dir[PATH_MAX];
	char		 path[PATH_MAX + 16];
	char		 err[DB_ERR_MAX];
	atomic_int	 abort;
	sqlite3_stmt	*st[SQL_N];
	sqlite3_stmt	*pref_st[DB_NPREF];
};

/* ---- errors and statements ---------------------------------------------- */

static int
db_fail(struct db *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "<path>: <what>: <SQLite's message>", kept in db->err; returns -1. */
static int
db_fail(struct db *db, const char *fmt, ...)
{
	char	what[512];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	(void)util_err(db->err, sizeof(db->err), "%s: %s%s%s", db->path, what,
	    db->h != NULL ? ": " : "", db->h != NULL ? sqlite3_errmsg(db->h) :
	    "");
	return (-1);
}

const char *
db_error(const struct db *db)
{
	return (db->err);
}

const char *
db_path(const struct db *db)
{
	return (db->path);
}

static int
db_exec(struct db *db, const char *sql)
{
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return (db_fail(db, "%.60s", sql));
	return (0);
}

static sqlite3_stmt *
db_prepare(struct db *db, sqlite3_stmt **slot, const char *sql)
{
	if (*slot == NULL && sqlite3_prepare_v3(db->h, sql, -1,
	    SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
		(void)db_fail(db, "cannot prepare \"%.60s\"", sql);
		*slot = NULL;
	}
	return (*slot);
}

static sqlite3_stmt *
db_stmt(struct db *db, enum db_sql which)
{
	return (db_prepare(db, &db->st[which], db_sql_text[which]));
}

static int
db_bind_str(sqlite3_stmt *st, int i, const char *s)
{
	return (s != NULL ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) :
	    sqlite3_bind_null(st, i));
}

/* Run a write to its end; the statement is reset for its next use. */
static int
db_step(struct db *db, sqlite3_stmt *st)
{
	int	rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		(void)db_fail(db, "cannot write");
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	return (rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1);
}

/*
 * Our own busy handler rather than sqlite3_busy_timeout(): the same bound,
 * but db_abort() ends the wait at once (sessiond's close is bounded).
 */
static int
db_busy(void *arg, int n)
{
	struct db	*db = arg;
	struct timespec	 ts = { 0, DB_BUSY_STEP_MS * 1000000L };

	if (atomic_load(&db->abort) || n >= DB_BUSY_MS / DB_BUSY_STEP_MS)
		return (0);
	(void)nanosleep(&ts, NULL);
	return (1);
}

void
db_abort(struct db *db)
{
	atomic_store(&db->abort, 1);
	sqlite3_interrupt(db->h);
}

/* ---- transactions ----------------------------------------------------- */

/* IMMEDIATE: the write lock is taken (or waited for) here, not mid-way. */
int
db_begin(struct db *db)
{
	return (db_exec(db, "BEGIN IMMEDIATE"));
}

int
db_commit(struct db *db)
{
	return (db_exec(db, "COMMIT"));
}

void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		(void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int
db_mark(struct db *db)
{
	return (db_exec(db, "SAVEPOINT op"));
}

void
db_undo(struct db *db)
{
	(void)sqlite3_exec(db->h, "ROLLBACK TO op; RELEASE op", NULL, NULL,
	    NULL);
}

int
db_keep(struct db *db)
{
	return (db_exec(db, "RELEASE op"));
}

/* ---- the schema ------------------------------------------------------- */

/*
 * Upstream copilot-bridge's tables as its v0.15.0 creates them, word for
 * word, so a database it wrote is one of ours once migrated and an upstream
 * bridge can still read ours.  IF NOT EXISTS: that database may already be
 * the one in stateDir (the same default, ~/.copilot-bridge).
 */
static const char db_upstream_ddl[] =
"CREATE TABLE IF NOT EXISTS channel_sessions (\n"
"  channel_id TEXT PRIMARY KEY,\n"
"  session_id TEXT NOT NULL,\n"
"  created_at TEXT NOT NULL DEFAULT (datetime('now'))\n"
");\n"
"CREATE TABLE IF NOT EXISTS channel_prefs (\n"
"  channel_id TEXT PRIMARY KEY,\n"
"  model TEXT,\n"
"  agent TEXT,\n"
"  verbose INTEGER,\n"
"  trigger_mode TEXT,\n"
"  threaded_replies INTEGER,\n"
"  permission_mode TEXT,\n"
"  reasoning_effort TEXT,\n"
"  updated_at TEXT NOT NULL DEFAULT (datetime('now'))\n"
");\n"
"CREATE TABLE IF NOT EXISTS permission_rules (\n"
"  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
"  scope TEXT NOT NULL DEFAULT 'global',\n"
"  tool TEXT NOT NULL,\n"
"  command_pattern TEXT NOT NULL DEFAULT '*',\n"
"  action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),\n"
"  created_at TEXT NOT NULL DEFAULT (datetime('now'))\n"
");\n"
"CREATE INDEX IF NOT EXISTS idx_perm_scope ON permission_rules(scope);\n"
"CREATE INDEX IF NOT EXISTS idx_perm_tool ON permission_rules(tool);\n"
"CREATE TABLE IF NOT EXISTS workspace_overrides (\n"
"  bot_name TEXT PRIMARY KEY,\n"
"  working_directory TEXT NOT NULL,\n"
"  allow_paths TEXT NOT NULL DEFAULT '[]',\n"
"  created_at TEXT NOT NULL DEFAULT (datetime('now'))\n"
");\n"
"CREATE TABLE IF NOT EXISTS settings (\n"
"  key TEXT PRIMARY KEY,\n"
"  value TEXT NOT NULL\n"
");\n"
"CREATE TABLE IF NOT EXISTS dynamic_channels (\n"
"  channel_id TEXT PRIMARY KEY,\n"
"  platform TEXT NOT NULL,\n"
"  name TEXT NOT NULL DEFAULT '',\n"
"  bot TEXT,\n"
"  working_directory TEXT NOT NULL,\n"
"  agent TEXT,\n"
"  model TEXT,\n"
"  trigger_mode TEXT,\n"
"  threaded_replies INTEGER,\n"
"  verbose INTEGER,\n"
"  is_dm INTEGER NOT NULL DEFAULT 0,\n"
"  created_at TEXT NOT NULL DEFAULT (datetime('now')),\n"
"  updated_at TEXT NOT NULL DEFAULT (datetime('now'))\n"
");\n"
"CREATE TABLE IF NOT EXISTS agent_calls (\n"
"  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
"  caller_bot TEXT NOT NULL,\n"
"  target_bot TEXT NOT NULL,\n"
"  target_agent TEXT,\n"
"  message_summary TEXT,\n"
"  response_summary TEXT,\n"
"  duration_ms INTEGER,\n"
"  success INTEGER NOT NULL DEFAULT 0,\n"
"  error TEXT,\n"
"  chain_id TEXT,\n"
"  depth INTEGER DEFAULT 0,\n"
"  created_at TEXT NOT NULL DEFAULT (datetime('now'))\n"
");\n"
"CREATE INDEX IF NOT EXISTS idx_agent_calls_created ON agent_calls(created_at);\n"
"CREATE INDEX IF NOT EXISTS idx_agent_calls_chain ON agent_calls(chain_id);\n"
"CREATE TABLE IF NOT EXISTS scheduled_tasks (\n"
"  id TEXT PRIMARY KEY,\n"
"  channel_id TEXT NOT NULL,\n"
"  bot_name TEXT NOT NULL,\n"
"  prompt TEXT NOT NULL,\n"
"  cron_expr TEXT,\n"
"  run_at TEXT,\n"
"  timezone TEXT NOT NULL DEFAULT 'UTC',\n"
"  created_by TEXT,\n"
"  description TEXT,\n"
"  enabled INTEGER NOT NULL DEFAULT 1,\n"
"  last_run TEXT,\n"
"  next_run TEXT,\n"
"  created_at TEXT NOT NULL DEFAULT (datetime('now'))\n"
");\n"
"CREATE INDEX IF NOT EXISTS idx_sched_channel ON scheduled_tasks(channel_id);\n"
"CREATE INDEX IF NOT EXISTS idx_sched_enabled ON scheduled_tasks(enabled);\n"
"CREATE TABLE IF NOT EXISTS scheduled_task_history (\n"
"  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
"  task_id TEXT NOT NULL,\n"
"  channel_id TEXT NOT NULL,\n"
"  prompt TEXT NOT NULL,\n"
"  description TEXT,\n"
"  status TEXT NOT NULL DEFAULT 'success',\n"
"  fired_at TEXT NOT NULL DEFAULT (datetime('now')),\n"
"  error TEXT\n"
");\n"
"CREATE INDEX IF NOT EXISTS idx_sched_hist_task ON "
"scheduled_task_history(task_id);\n"
"CREATE INDEX IF NOT EXISTS idx_sched_hist_channel ON "
"scheduled_task_history(channel_id);\n";

/*
 * Columns upstream added to existing databases with ALTER TABLE, in its
 * order: a database from an older upstream gets them here.
 */
static const struct {
	const char	*table, *column, *ddl;
} db_upstream_added[] = {
	{ "channel_prefs", "reasoning_effort",
	    "ALTER TABLE channel_prefs ADD COLUMN reasoning_effort TEXT" },
	{ "scheduled_task_history", "timezone",
	    "ALTER TABLE scheduled_task_history ADD COLUMN timezone TEXT NOT "
	    "NULL DEFAULT 'UTC'" },
	{ "channel_prefs", "session_mode",
	    "ALTER TABLE channel_prefs ADD COLUMN session_mode TEXT" },
	{ "channel_prefs", "disabled_skills",
	    "ALTER TABLE channel_prefs ADD COLUMN disabled_skills TEXT" },
	{ "channel_prefs", "provider",
	    "ALTER TABLE channel_prefs ADD COLUMN provider TEXT" },
};

/*
 * Upstream's first schema made four preferences NOT NULL with defaults, so
 * "unset, use the config" could not be said; it rebuilds such a table
 * without them, and so do we (same columns, same order as a fresh one).
 */
static const char db_prefs_rebuild[] =
"CREATE TABLE channel_prefs_new (channel_id TEXT PRIMARY KEY, model TEXT, "
"agent TEXT, verbose INTEGER, trigger_mode TEXT, threaded_replies INTEGER, "
"permission_mode TEXT, reasoning_effort TEXT, updated_at TEXT NOT NULL "
"DEFAULT (datetime('now')), session_mode TEXT, disabled_skills TEXT, "
"provider TEXT);\n"
"INSERT INTO channel_prefs_new SELECT channel_id, model, agent, verbose, "
"trigger_mode, threaded_replies, permission_mode, reasoning_effort, "
"COALESCE(updated_at, datetime('now')), session_mode, disabled_skills, "
"provider FROM channel_prefs;\n"
"DROP TABLE channel_prefs;\n"
"ALTER TABLE channel_prefs_new RENAME TO channel_prefs;\n";

/*
 * What this bridge keeps beyond upstream, in tables of its own (an upstream
 * bridge ignores them; bridge_: never a name upstream picks):
 * - the bot serving each channel session (gone with the session);
 * - per channel and bot, the platform time (ms) of the newest message seen,
 *   from which a new worker catches up.
 */
static const char db_bridge_ddl[] =
"CREATE TABLE bridge_session_bots (\n"
"  channel_id TEXT PRIMARY KEY REFERENCES channel_sessions(channel_id)\n"
"    ON DELETE CASCADE,\n"
"  bot TEXT NOT NULL\n"
");\n"
"CREATE TABLE bridge_cursors (\n"
"  channel_id TEXT NOT NULL,\n"
"  bot TEXT NOT NULL,\n"
"  cursor_ms INTEGER NOT NULL,\n"
"  PRIMARY KEY (channel_id, bot)\n"
");\n";

/* 1 if the database h has table (column NULL) or table.column, else 0. */
static int
db_has(sqlite3 *h, const char *table, const char *column)
{
	sqlite3_stmt	*st = NULL;
	int		 rc;

	if (sqlite3_prepare_v2(h, column != NULL ? "SELECT 1 FROM "
	    "pragma_table_info(?1) WHERE name = ?2" : "SELECT 1 FROM "
	    "sqlite_master WHERE type = 'table' AND name = ?1", -1, &st,
	    NULL) != SQLITE_OK)
		return (-1);
	(void)db_bind_str(st, 1, table);
	if (column != NULL)
		(void)db_bind_str(st, 2, column);
	rc = sqlite3_step(st);
	(void)sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return (-1);
	return (rc == SQLITE_ROW);
}

static int
db_v1(struct db *db)
{
	sqlite3_stmt	*st = NULL;
	size_t		 i;
	int		 rc, notnull;

	if (db_exec(db, db_upstream_ddl) == -1)
		return (-1);
	for (i = 0; i < nitems(db_upstream_added); i++) {
		if ((rc = db_has(db->h, db_upstream_added[i].table,
		    db_upstream_added[i].column)) == -1)
			return (db_fail(db, "cannot read the columns of %s",
			    db_upstream_added[i].table));
		if (rc == 0 && db_exec(db, db_upstream_added[i].ddl) == -1)
			return (-1);
	}
	if (sqlite3_prepare_v2(db->h, "SELECT count(*) FROM "
	    "pragma_table_info('channel_prefs') WHERE \"notnull\" AND name IN "
	    "('verbose', 'trigger_mode', 'threaded_replies', "
	    "'permission_mode')", -1, &st, NULL) != SQLITE_OK)
		return (db_fail(db, "cannot read the columns of channel_prefs"));
	rc = sqlite3_step(st);
	notnull = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	(void)sqlite3_finalize(st);
	if (notnull == -1)
		return (db_fail(db, "cannot read the columns of channel_prefs"));
	if (notnull > 0 && db_exec(db, db_prefs_rebuild) == -1)
		return (-1);
	return (db_exec(db, db_bridge_ddl));
}

/*
 * Version 2: sessions of a thread rather than of the whole channel (IF NOT
 * EXISTS: some version 1 databases were made with it); and with each
 * catch-up cursor, the ids of the messages seen in the span a catch-up
 * reads again before it (sessiond/seen.h), so that a restart does not
 * answer them again: JSON text, NULL for none.
 */
static const char db_v2_ddl[] =
"CREATE TABLE IF NOT EXISTS bridge_thread_sessions (\n"
"  channel_id TEXT NOT NULL,\n"
"  thread_root TEXT NOT NULL,\n"
"  session_id TEXT NOT NULL,\n"
"  bot TEXT,\n"
"  created_at TEXT NOT NULL DEFAULT (datetime('now')),\n"
"  PRIMARY KEY (channel_id, thread_root)\n"
");\n"
"ALTER TABLE bridge_cursors ADD COLUMN seen_ids TEXT;\n";

static int
db_v2(struct db *db)
{
	return (db_exec(db, db_v2_ddl));
}

/* Each step from one schema version to the next, in order. */
static const struct {
	int		  version;
	const char	 *what;
	int		(*up)(struct db *);
} db_migrations[] = {
	{ 1, "upstream's tables and the bridge's own", db_v1 },
	{ 2, "thread sessions, the message ids of each catch-up cursor",
	    db_v2 },
};

static int
db_user_version(struct db *db)
{
	sqlite3_stmt	*st = NULL;
	int		 v = -1;

	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	(void)sqlite3_finalize(st);
	if (v == -1)
		return (db_fail(db, "cannot read the schema version"));
	return (v);
}

static int
db_migrate(struct db *db)
{
	char	sql[64];
	size_t	i;
	int	v;

	if ((v = db_user_version(db)) == -1)
		return (-1);
	if (v > DB_VERSION) {
		(void)util_err(db->err, sizeof(db->err), "%s: schema version %d "
		    "is newer than this copilot-bridge knows (%d): a newer "
		    "release wrote it; refusing to touch it", db->path, v,
		    DB_VERSION);
		return (-1);
	}
	for (i = 0; i < nitems(db_migrations); i++) {
		if (db_migrations[i].version <= v)
			continue;
		(void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    db_migrations[i].version);
		if (db_begin(db) == -1)
			return (-1);
		if (db_migrations[i].up(db) == -1 || db_exec(db, sql) == -1 ||
		    db_commit(db) == -1) {
			db_rollback(db);
			return (-1);
		}
		log_info("%s: schema version %d (%s)", db->path,
		    db_migrations[i].version, db_migrations[i].what);
	}
	return (0);
}

/* ---- the previous version's sessions.json ------------------------------ */

static int
db_id_ok(const char *s)
{
	return (s != NULL && *s != '\0' && strlen(s) <= DB_ID_MAX);
}

/* One channel's entry; -1 and why if it cannot be used. */
static int
db_legacy_entry(const char *ch, json_t *e, struct db_legacy *l, char *why,
    size_t len)
{
	json_t	*sid, *bot, *cur;

	memset(l, 0, sizeof(*l));
	if (!db_id_ok(ch))
		return (util_err(why, len, "a channel id of %zu bytes",
		    strlen(ch)));
	if (!json_is_object(e))
		return (util_err(why, len, "channel %s: not an object", ch));
	sid = json_object_get(e, "sessionId");
	bot = json_object_get(e, "bot");
	cur = json_object_get(e, "cursor");
	if (sid != NULL && !json_is_null(sid) &&
	    !db_id_ok(json_string_value(sid)))
		return (util_err(why, len, "channel %s: sessionId is not an id",
		    ch));
	if (bot != NULL && !db_id_ok(json_string_value(bot)))
		return (util_err(why, len, "channel %s: bot is not a name", ch));
	if (cur != NULL && (!json_is_integer(cur) ||
	    json_integer_value(cur) < 0))
		return (util_err(why, len, "channel %s: cursor is not a time "
		    "in ms", ch));
	l->channel = ch;
	l->sid = json_string_value(sid);
	l->bot = json_string_value(bot);
	l->cursor = cur != NULL ? json_integer_value(cur) : 0;
	return (0);
}

int
db_legacy_parse(const char *text, size_t len,
    int (*fn)(void *, const struct db_legacy *), void *arg, size_t *skipped,
    char *why, size_t whylen)
{
	json_error_t	 jerr;
	json_t		*root, *chans, *e, *v;
	const char	*ch;
	struct db_legacy l;
	char		 one[256];
	int		 rc = 0;

	*skipped = 0;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL)
		return (util_err(why, whylen, "%d:%d: %s", jerr.line,
		    jerr.column, jerr.text));
	v = json_object_get(root, "version");
	chans = json_object_get(root, "channels");
	if (!json_is_object(chans) || (v != NULL && (!json_is_integer(v) ||
	    json_integer_value(v) != 1))) {
		json_decref(root);
		return (util_err(why, whylen, "not the state of a previous "
		    "version (no \"channels\" object, or a version other "
		    "than 1)"));
	}
	json_object_foreach(chans, ch, e) {
		if (db_legacy_entry(ch, e, &l, one, sizeof(one)) == -1) {
			if ((*skipped)++ == 0 && why != NULL)
				(void)snprintf(why, whylen, "%s", one);
			continue;
		}
		if (fn(arg, &l) == -1) {
			rc = -2;
			break;
		}
	}
	json_decref(root);
	return (rc);
}

struct db_legacy_ctx {
	struct db	*db;
	size_t		 sessions, cursors;
};

static int
db_legacy_row(void *arg, const struct db_legacy *l)
{
	struct db_legacy_ctx	*x = arg;

	/* A null sessionId is a session the channel ended (/new): none. */
	if (db_put_session(x->db, l->channel, NULL, l->bot, l->sid) == -1)
		return (-1);
	x->sessions += l->sid != NULL;
	if (l->cursor > 0 && l->bot != NULL) {
		if (db_put_cursor(x->db, l->channel, l->bot, l->cursor,
		    NULL) == -1)
			return (-1);
		x->cursors++;
	}
	return (0);
}

/*
 * sessions.json, if the previous version left one: imported in one
 * transaction, then renamed *.migrated so it is imported once.  A file
 * that is not such a document is moved aside (*.corrupt), as that version
 * did, and is not an error.
 */
static int
db_legacy_import(struct db *db)
{
	struct db_legacy_ctx	 x = { db, 0, 0 };
	char			 path[PATH_MAX + 32], to[PATH_MAX + 48];
	char			 why[512];
	char			*text;
	size_t			 len, skipped;
	int			 rc;

	(void)snprintf(path, sizeof(path), "%s/%s", db->dir, DB_LEGACY_FILE);
	if ((text = util_read_file(path, DB_LEGACY_MAX, &len)) == NULL) {
		if (errno != ENOENT)
			log_warn("%s: cannot read it; not migrated", path);
		return (0);
	}
	if (db_begin(db) == -1) {
		free(text);
		return (-1);
	}
	rc = db_legacy_parse(text, len, db_legacy_row, &x, &skipped, why,
	    sizeof(why));
	free(text);
	if (rc == -1) {
		db_rollback(db);
		(void)snprintf(to, sizeof(to), "%s.corrupt", path);
		log_warnx("%s: %s; moved aside to %s, nothing migrated", path,
		    why, to);
		if (rename(path, to) == -1)
			log_warn("cannot rename %s", path);
		return (0);
	}
	if (rc == -2 || db_commit(db) == -1) {
		db_rollback(db);
		return (-1);
	}
	(void)snprintf(to, sizeof(to), "%s.migrated", path);
	if (rename(path, to) == -1)
		log_warn("cannot rename %s to %s; it will be migrated again",
		    path, to);
	log_info("%s: migrated %zu session(s) and %zu catch-up cursor(s) into "
	    "%s%s%s%s", path, x.sessions, x.cursors, db->path,
	    skipped > 0 ? "; skipped " : "", skipped > 0 ? why : "",
	    skipped > 1 ? " and more" : "");
	return (0);
}

/* ---- open and close ----------------------------------------------------- */

/* The first line PRAGMA quick_check says: "ok" for a sound database. */
static int
db_check(struct db *db)
{
	sqlite3_stmt	*st = NULL;
	const char	*r;
	int		 rc = -1;

	if (sqlite3_prepare_v2(db->h, "PRAGMA quick_check(1)", -1, &st,
	    NULL) != SQLITE_OK)
		return (db_fail(db, "cannot check it"));
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (r = (const char *)sqlite3_column_text(st, 0)) != NULL) {
		if (strcmp(r, "ok") == 0)
			rc = 0;
		else
			(void)util_err(db->err, sizeof(db->err), "%s: the "
			    "database is damaged: %s", db->path, r);
	} else
		(void)db_fail(db, "cannot check it");
	(void)sqlite3_finalize(st);
	return (rc);
}

static int
db_pragmas(struct db *db)
{
	sqlite3_stmt	*st = NULL;
	const char	*mode;
	int		 rc;

	sqlite3_extended_result_codes(db->h, 1);
	if (sqlite3_busy_handler(db->h, db_busy, db) != SQLITE_OK)
		return (db_fail(db, "cannot set a busy handler"));
	if (db_exec(db, "PRAGMA foreign_keys = ON") == -1)
		return (-1);
	/*
	 * The first read of the file: a file that is not a database fails
	 * here ("file is not a database").  WAL: readers never wait for the
	 * writer, and a commit is one append and one fsync.
	 */
	if (sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK)
		return (db_fail(db, "cannot open it"));
	rc = sqlite3_step(st);
	mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) :
	    NULL;
	if (rc == SQLITE_ROW && (mode == NULL || strcmp(mode, "wal") != 0))
		log_warnx("%s: journal mode %s, not wal (the filesystem?)",
		    db->path, mode != NULL ? mode : "?");
	(void)sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return (db_fail(db, "cannot open it"));
	/*
	 * FULL: every commit is synced, so a write acknowledged after its
	 * commit survives a power loss too (NORMAL, in WAL mode, may lose the
	 * last commits then).  What it costs, one fsync per transaction,
	 * sessiond pays on its writer thread, once per batch of writes.
	 */
	if (db_exec(db, "PRAGMA synchronous = FULL") == -1)
		return (-1);
	return (db_check(db));
}

struct db *
db_open(const char *dir, char *err, size_t len)
{
	struct db	*db;
	int		 rc;

	if ((db = calloc(1, sizeof(*db))) == NULL) {
		(void)util_err(err, len, "%s: out of memory", dir);
		return (NULL);
	}
	(void)snprintf(db->dir, sizeof(db->dir), "%s", dir);
	(void)snprintf(db->path, sizeof(db->path), "%s/%s", dir, DB_FILE);
	atomic_init(&db->abort, 0);
	if (util_mkdir_p(dir, 0700) == -1) {
		(void)util_err(err, len, "%s: cannot create it: %s", dir,
		    strerror(errno));
		free(db);
		return (NULL);
	}
	rc = sqlite3_open_v2(db->path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK)
		(void)db_fail(db, "cannot open it");
	if (rc != SQLITE_OK || db_pragmas(db) == -1 || db_migrate(db) == -1 ||
	    db_legacy_import(db) == -1) {
		(void)util_err(err, len, "%s", db->err);
		db_close(db);
		return (NULL);
	}
	return (db);
}

void
db_close(struct db *db)
{
	size_t	i;

	if (db == NULL)
		return;
	for (i = 0; i < SQL_N; i++)
		(void)sqlite3_finalize(db->st[i]);
	for (i = 0; i < DB_NPREF; i++)
		(void)sqlite3_finalize(db->pref_st[i]);
	if (db->h != NULL && sqlite3_close(db->h) != SQLITE_OK)
		log_warnx("%s: cannot close it: %s", db->path,
		    sqlite3_errmsg(db->h));
	free(db);
}

/* ---- preferences -------------------------------------------------------- */

const struct db_column *
db_pref_column(const char *name)
{
	size_t	i;

	for (i = 0; name != NULL && i < DB_NPREF; i++)
		if (strcmp(db_pref_columns[i].name, name) == 0)
			return (&db_pref_columns[i]);
	return (NULL);
}

static int
db_bool_value(const char *v)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		return (1);
	if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		return (0);
	return (-1);
}

static int
db_list_ok(const char *v)
{
	json_t	*a, *e;
	size_t	 i;
	int	 ok;

	if ((a = json_loads(v, 0, NULL)) == NULL)
		return (0);
	ok = json_is_array(a);
	json_array_foreach(a, i, e)
		ok = ok && json_is_string(e);
	json_decref(a);
	return (ok);
}

int
db_value_check(const struct db_column *c, const char *value, char *why,
    size_t len)
{
	char	 list[128];
	size_t	 i, off = 0;

	if (value == NULL)
		return (0);
	switch (c->kind) {
	case DB_TEXT:
		return (0);
	case DB_BOOL:
		if (db_bool_value(value) != -1)
			return (0);
		return (util_err(why, len, "%s \"%.64s\" is not a boolean",
		    c->name, value));
	case DB_LIST:
		if (db_list_ok(value))
			return (0);
		return (util_err(why, len, "%s \"%.64s\" is not a JSON array "
		    "of strings", c->name, value));
	case DB_ENUM:
		for (i = 0; c->values[i] != NULL; i++)
			if (strcmp(c->values[i], value) == 0)
				return (0);
		list[0] = '\0';
		for (i = 0; c->values[i] != NULL && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off,
			    "%s%s", i > 0 ? ", " : "", c->values[i]);
		return (util_err(why, len, "%s \"%.64s\" is not one of %s",
		    c->name, value, list));
	}
	return (-1);
}

/* ---- writes ------------------------------------------------------------- */

int
db_put_session(struct db *db, const char *channel, const char *thread,
    const char *bot, const char *sid)
{
	sqlite3_stmt	*st;

	if (thread != NULL) {
		if ((st = db_stmt(db, sid != NULL ? SQL_THREAD_SET :
		    SQL_THREAD_DEL)) == NULL)
			return (-1);
		(void)db_bind_str(st, 1, channel);
		(void)db_bind_str(st, 2, thread);
		if (sid != NULL) {
			(void)db_bind_str(st, 3, sid);
			(void)db_bind_str(st, 4, bot);
		}
		return (db_step(db, st));
	}
	if (sid == NULL) {
		/* The bot's row goes with it (ON DELETE CASCADE). */
		if ((st = db_stmt(db, SQL_SESSION_DEL)) == NULL)
			return (-1);
		(void)db_bind_str(st, 1, channel);
		return (db_step(db, st));
	}
	if ((st = db_stmt(db, SQL_SESSION_SET)) == NULL)
		return (-1);
	(void)db_bind_str(st, 1, channel);
	(void)db_bind_str(st, 2, sid);
	if (db_step(db, st) == -1)
		return (-1);
	if ((st = db_stmt(db, bot != NULL ? SQL_SESSION_BOT_SET :
	    SQL_SESSION_BOT_DEL)) == NULL)
		return (-1);
	(void)db_bind_str(st, 1, channel);
	if (bot != NULL)
		(void)db_bind_str(st, 2, bot);
	return (db_step(db, st));
}

int
db_put_cursor(struct db *db, const char *channel, const char *bot,
    long long ms, const char *seen)
{
	sqlite3_stmt	*st;

	if ((st = db_stmt(db, SQL_CURSOR_SET)) == NULL)
		return (-1);
	(void)db_bind_str(st, 1, channel);
	(void)db_bind_str(st, 2, bot);
	(void)sqlite3_bind_int64(st, 3, ms);
	(void)db_bind_str(st, 4, seen);
	return (db_step(db, st));
}

int
db_put_pref(struct db *db, const char *channel, const char *column,
    const char *value)
{
	const struct db_column	*c = db_pref_column(column);
	char			 sql[256], why[160];
	sqlite3_stmt		*st;

	if (c == NULL)
		return (util_err(db->err, sizeof(db->err), "%s: no preference "
		    "%.64s", db->path, column));
	if (db_value_check(c, value, why, sizeof(why)) == -1)
		return (util_err(db->err, sizeof(db->err), "%s: %s", db->path,
		    why));
	/* The column's name is ours (db_pref_columns), never the caller's. */
	(void)snprintf(sql, sizeof(sql), "INSERT INTO channel_prefs "
	    "(channel_id, %s) VALUES (?1, ?2) ON CONFLICT(channel_id) DO "
	    "UPDATE SET %s = excluded.%s, updated_at = datetime('now')",
	    c->name, c->name, c->name);
	if ((st = db_prepare(db, &db->pref_st[c - db_pref_columns], sql)) ==
	    NULL)
		return (-1);
	(void)db_bind_str(st, 1, channel);
	if (value != NULL && c->kind == DB_BOOL)
		(void)sqlite3_bind_int(st, 2, db_bool_value(value));
	else
		(void)db_bind_str(st, 2, value);
	return (db_step(db, st));
}

int
db_add_rule(struct db *db, long long id, const char *scope, const char *tool,
    const char *pattern, const char *action, const char *created_at)
{
	sqlite3_stmt	*st;

	if ((st = db_stmt(db, SQL_RULE_DEL_SAME)) == NULL)
		return (-1);
	(void)db_bind_str(st, 1, scope);
	(void)db_bind_str(st, 2, tool);
	(void)db_bind_str(st, 3, pattern);
	if (db_step(db, st) == -1 || (st = db_stmt(db, SQL_RULE_ADD)) == NULL)
		return (-1);
	(void)sqlite3_bind_int64(st, 1, id);
	(void)db_bind_str(st, 2, scope);
	(void)db_bind_str(st, 3, tool);
	(void)db_bind_str(st, 4, pattern);
	(void)db_bind_str(st, 5, action);
	(void)db_bind_str(st, 6, created_at);
	return (db_step(db, st));
}

int
db_del_rule(struct db *db, long long id)
{
	sqlite3_stmt	*st;

	if ((st = db_stmt(db, SQL_RULE_DEL)) == NULL)
		return (-1);
	(void)sqlite3_bind_int64(st, 1, id);
	return (db_step(db, st));
}

int
db_clear_rules(struct db *db, const char *scope, const char *tool,
    const char *pattern)
{
	sqlite3_stmt	*st;

	if ((st = db_stmt(db, SQL_RULE_CLEAR)) == NULL)
		return (-1);
	(void)db_bind_str(st, 1, scope);
	(void)db_bind_str(st, 2, tool);
	(void)db_bind_str(st, 3, pattern);
	return (db_step(db, st));
}

int
db_put_setting(struct db *db, const char *key, const char *value)
{
	sqlite3_stmt	*st;

	if ((st = db_stmt(db, value != NULL ? SQL_SETTING_SET :
	    SQL_SETTING_DEL)) == NULL)
		return (-1);
	(void)db_bind_str(st, 1, key);
	if (value != NULL)
		(void)db_bind_str(st, 2, value);
	return (db_step(db, st));
}

/* ---- reads -------------------------------------------------------------- */

static const char *
db_col(sqlite3_stmt *st, int i)
{
	return ((const char *)sqlite3_column_text(st, i));
}

/*
 * Run a query and hand each row to fn; -1 if the query or fn failed.
 */
static int
db_rows(struct db *db, const char *sql,
    int (*fn)(const struct db_loader *, sqlite3_stmt *),
    const struct db_loader *l)
{
	sqlite3_stmt	*st = NULL;
	int		 rc;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return (db_fail(db, "cannot read \"%.40s\"", sql));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(l, st) == -1) {
			(void)sqlite3_finalize(st);
			(void)util_err(db->err, sizeof(db->err), "%s: out of "
			    "memory loading it", db->path);
			return (-1);
		}
	(void)sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (db_fail(db, "cannot read \"%.40s\"", sql));
	return (0);
}

static int
db_load_session(const struct db_loader *l, sqlite3_stmt *st)
{
	if (db_col(st, 0) == NULL || db_col(st, 2) == NULL)
		return (0);
	return (l->session(l->arg, db_col(st, 0), db_col(st, 1), db_col(st, 3),
	    db_col(st, 2)));
}

static int
db_load_cursor(const struct db_loader *l, sqlite3_stmt *st)
{
	if (db_col(st, 0) == NULL || db_col(st, 1) == NULL)
		return (0);
	return (l->cursor(l->arg, db_col(st, 0), db_col(st, 1),
	    sqlite3_column_int64(st, 2), db_col(st, 3)));
}

static int
db_load_pref(const struct db_loader *l, sqlite3_stmt *st)
{
	const char	*ch = db_col(st, 0), *v;
	size_t		 i;

	for (i = 0; ch != NULL && i < DB_NPREF; i++) {
		if (sqlite3_column_type(st, (int)i + 1) == SQLITE_NULL)
			continue;
		if (db_pref_columns[i].kind == DB_BOOL)
			v = sqlite3_column_int(st, (int)i + 1) ? "1" : "0";
		else
			v = db_col(st, (int)i + 1);
		if (v != NULL && l->pref(l->arg, ch, db_pref_columns[i].name,
		    v) == -1)
			return (-1);
	}
	return (0);
}

static int
db_load_rule(const struct db_loader *l, sqlite3_stmt *st)
{
	return (l->rule(l->arg, sqlite3_column_int64(st, 0), db_col(st, 1),
	    db_col(st, 2), db_col(st, 3), db_col(st, 4), db_col(st, 5)));
}

static int
db_load_setting(const struct db_loader *l, sqlite3_stmt *st)
{
	return (l->setting(l->arg, db_col(st, 0), db_col(st, 1)));
}

static int
db_load_workspace(const struct db_loader *l, sqlite3_stmt *st)
{
	return (l->workspace(l->arg, db_col(st, 0), db_col(st, 1),
	    db_col(st, 2)));
}

int
db_load(struct db *db, const struct db_loader *l)
{
	/* In a stable order, so what is loaded does not depend on history. */
	static const struct {
		const char	 *sql;
		int		(*fn)(const struct db_loader *, sqlite3_stmt *);
	} q[] = {
		{ "SELECT s.channel_id, "
		    "NULL, s.session_id, b.bot FROM channel_sessions s LEFT JOIN "
		    "bridge_session_bots b USING (channel_id) ORDER BY "
		    "s.channel_id", db_load_session },
		{ "SELECT channel_id, "
		    "thread_root, session_id, bot FROM bridge_thread_sessions "
		    "ORDER BY channel_id, thread_root", db_load_session },
		{ "SELECT channel_id, bot, "
		    "cursor_ms, seen_ids FROM bridge_cursors ORDER BY "
		    "channel_id, bot", db_load_cursor },
		/* channel_prefs' columns in db_pref_columns' order. */
		{ "SELECT channel_id, model, "
		    "agent, verbose, trigger_mode, threaded_replies, "
		    "permission_mode, reasoning_effort, session_mode, "
		    "disabled_skills, provider FROM channel_prefs ORDER BY "
		    "channel_id", db_load_pref },
		{ "SELECT id, scope, tool, "
		    "command_pattern, action, created_at FROM permission_rules "
		    "ORDER BY id", db_load_rule },
		{ "SELECT key, value FROM "
		    "settings ORDER BY key", db_load_setting },
		{ "SELECT bot_name, "
		    "working_directory, allow_paths FROM workspace_overrides "
		    "ORDER BY bot_name", db_load_workspace },
	};
	const int	want[nitems(q)] = { l->session != NULL, l->session != NULL,
			    l->cursor != NULL, l->pref != NULL, l->rule != NULL,
			    l->setting != NULL, l->workspace != NULL };
	size_t		i;

	for (i = 0; i < nitems(q); i++)
		if (want[i] && db_rows(db, q[i].sql, q[i].fn, l) == -1)
			return (-1);
	return (0);
}

long long
db_rule_seq(struct db *db)
{
	sqlite3_stmt	*st = NULL;
	long long	 seq = -1;

	if (sqlite3_prepare_v2(db->h, "SELECT max(COALESCE((SELECT seq FROM "
	    "sqlite_sequence WHERE name = 'permission_rules'), 0), "
	    "COALESCE((SELECT max(id) FROM permission_rules), 0))", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	(void)sqlite3_finalize(st);
	if (seq == -1)
		(void)db_fail(db, "cannot read the rule ids");
	return (seq);
}

/* ---- importing an upstream state.db ------------------------------------ */

#define IMP_NEED	0x1	/* the source table must have the column */
#define IMP_SET		0x2	/* and the row a value in it (not NULL, not "") */

struct imp_col {
	const char		*name;
	unsigned int		 flags;
	enum db_kind		 kind;
	const char *const	*values;	/* DB_ENUM */
};

/*
 * One upstream table: the columns read from the source (a column an older
 * upstream lacks is read as NULL unless IMP_NEED), and the insert into
 * ours, whose ?N is cols[N-1], which does nothing for a key already here.
 */
struct imp_spec {
	const char		*table;
	const struct imp_col	*cols;
	const char		*insert;
	const char		*note;		/* not NULL: not imported, why */
};

static const char *const imp_actions[] = { "allow", "deny", NULL };
static const char *const imp_platforms[] = { "mattermost", "slack", NULL };
static const char *const imp_statuses[] = { "success", "error", NULL };

#define IMP_KEY(n)	{ n, IMP_NEED | IMP_SET, DB_TEXT, NULL }
#define IMP_TEXT(n)	{ n, 0, DB_TEXT, NULL }
#define IMP_BOOL(n)	{ n, 0, DB_BOOL, NULL }

static const struct imp_col imp_sessions[] = {
	IMP_KEY("channel_id"), IMP_KEY("session_id"), IMP_TEXT("created_at"),
	{ NULL, 0, 0, NULL }
};
static const struct imp_col imp_prefs[] = {
	IMP_KEY("channel_id"), IMP_TEXT("model"), IMP_TEXT("agent"),
	IMP_BOOL("verbose"),
	{ "trigger_mode", 0, DB_ENUM, db_trigger_modes },
	IMP_BOOL("threaded_replies"),
	{ "permission_mode", 0, DB_ENUM, db_permission_modes },
	{ "reasoning_effort", 0, DB_ENUM, db_efforts },
	{ "session_mode", 0, DB_ENUM, db_session_modes },
	{ "disabled_skills", 0, DB_LIST, NULL },
	IMP_TEXT("provider"), IMP_TEXT("updated_at"),
	{ NULL, 0, 0, NULL }
};
static const struct imp_col imp_rules[] = {
	IMP_KEY("scope"), IMP_KEY("tool"), IMP_KEY("command_pattern"),
	{ "action", IMP_NEED | IMP_SET, DB_ENUM, imp_actions },
	IMP_TEXT("created_at"),
	{ NULL, 0, 0, NULL }
};
static const struct imp_col imp_settings[] = {
	IMP_KEY("key"), { "value", IMP_NEED, DB_TEXT, NULL },
	{ NULL, 0, 0, NULL }
};
static const struct imp_col imp_workspaces[] = {
	IMP_KEY("bot_name"), IMP_KEY("working_directory"),
	{ "allow_paths", 0, DB_LIST, NULL }, IMP_TEXT("created_at"),
	{ NULL, 0, 0, NULL }
};
static const struct imp_col imp_dynamic[] = {
	IMP_KEY("channel_id"),
	{ "platform", IMP_NEED | IMP_SET, DB_ENUM, imp_platforms },
	IMP_TEXT("name"), IMP_TEXT("bot"), IMP_KEY("working_directory"),
	IMP_TEXT("agent"), IMP_TEXT("model"),
	{ "trigger_mode", 0, DB_ENUM, db_trigger_modes },
	IMP_BOOL("threaded_replies"), IMP_BOOL("verbose"), IMP_BOOL("is_dm"),
	IMP_TEXT("created_at"), IMP_TEXT("updated_at"),
	{ NULL, 0, 0, NULL }
};
static const struct imp_col imp_tasks[] = {
	IMP_KEY("id"), IMP_KEY("channel_id"), IMP_KEY("bot_name"),
	IMP_KEY("prompt"), IMP_TEXT("cron_expr"), IMP_TEXT("run_at"),
	IMP_TEXT("timezone"), IMP_TEXT("created_by"), IMP_TEXT("description"),
	IMP_BOOL("enabled"), IMP_TEXT("last_run"), IMP_TEXT("next_run"),
	IMP_TEXT("created_at"),
	{ NULL, 0, 0, NULL }
};
static const struct imp_col imp_history[] = {
	IMP_KEY("task_id"), IMP_KEY("channel_id"), IMP_KEY("prompt"),
	IMP_TEXT("description"), IMP_TEXT("timezone"),
	{ "status", 0, DB_ENUM, imp_statuses },
	IMP_KEY("fired_at"), IMP_TEXT("error"),
	{ NULL, 0, 0, NULL }
};
static const struct imp_col imp_none[] = { { NULL, 0, 0, NULL } };

/*
 * Keys: upstream's own (a channel, a bot, a setting's key, a task's id);
 * a permission rule by scope, tool and pattern (upstream's replace key,
 * its numeric id being only a row number), a run of a task by task and
 * time.  A key already here is kept as it is: a second import takes
 * nothing, and nothing this bridge has since changed is overwritten.
 */
static const struct imp_spec imp_specs[DB_IMPORT_TABLES] = {
	{ "channel_sessions", imp_sessions,
	    "INSERT INTO channel_sessions (channel_id, session_id, created_at) "
	    "VALUES (?1, ?2, COALESCE(?3, datetime('now'))) "
	    "ON CONFLICT(channel_id) DO NOTHING", NULL },
	{ "channel_prefs", imp_prefs,
	    "INSERT INTO channel_prefs (channel_id, model, agent, verbose, "
	    "trigger_mode, threaded_replies, permission_mode, reasoning_effort, "
	    "session_mode, disabled_skills, provider, updated_at) VALUES (?1, "
	    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, COALESCE(?12, "
	    "datetime('now'))) ON CONFLICT(channel_id) DO NOTHING", NULL },
	{ "permission_rules", imp_rules,
	    "INSERT INTO permission_rules (scope, tool, command_pattern, action, "
	    "created_at) SELECT ?1, ?2, ?3, ?4, COALESCE(?5, datetime('now')) "
	    "WHERE NOT EXISTS (SELECT 1 FROM permission_rules WHERE scope = ?1 "
	    "AND tool = ?2 AND command_pattern = ?3)", NULL },
	{ "settings", imp_settings,
	    "INSERT INTO settings (key, value) VALUES (?1, ?2) "
	    "ON CONFLICT(key) DO NOTHING", NULL },
	{ "workspace_overrides", imp_workspaces,
	    "INSERT INTO workspace_overrides (bot_name, working_directory, "
	    "allow_paths, created_at) VALUES (?1, ?2, COALESCE(?3, '[]'), "
	    "COALESCE(?4, datetime('now'))) ON CONFLICT(bot_name) DO NOTHING",
	    NULL },
	{ "dynamic_channels", imp_dynamic,
	    "INSERT INTO dynamic_channels (channel_id, platform, name, bot, "
	    "working_directory, agent, model, trigger_mode, threaded_replies, "
	    "verbose, is_dm, created_at, updated_at) VALUES (?1, ?2, "
	    "COALESCE(?3, ''), ?4, ?5, ?6, ?7, ?8, ?9, ?10, COALESCE(?11, 0), "
	    "COALESCE(?12, datetime('now')), COALESCE(?13, datetime('now'))) "
	    "ON CONFLICT(channel_id) DO NOTHING", NULL },
	{ "scheduled_tasks", imp_tasks,
	    "INSERT INTO scheduled_tasks (id, channel_id, bot_name, prompt, "
	    "cron_expr, run_at, timezone, created_by, description, enabled, "
	    "last_run, next_run, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	    "COALESCE(?7, 'UTC'), ?8, ?9, COALESCE(?10, 1), ?11, ?12, "
	    "COALESCE(?13, datetime('now'))) ON CONFLICT(id) DO NOTHING", NULL },
	{ "scheduled_task_history", imp_history,
	    "INSERT INTO scheduled_task_history (task_id, channel_id, prompt, "
	    "description, timezone, status, fired_at, error) SELECT ?1, ?2, ?3, "
	    "?4, COALESCE(?5, 'UTC'), COALESCE(?6, 'success'), ?7, ?8 "
	    "WHERE NOT EXISTS (SELECT 1 FROM scheduled_task_history WHERE "
	    "task_id = ?1 AND fired_at = ?7)", NULL },
	{ "agent_calls", imp_none, NULL,
	    "not imported: the other bridge's audit log of calls between its "
	    "agents" },
};

struct imp {
	struct db		*db;
	sqlite3			*src;
	char			 err[DB_ERR_MAX];
};

static int
imp_fail(struct imp *x, sqlite3 *h, const char *path, const char *what)
{
	return (util_err(x->err, sizeof(x->err), "%s: %s: %s", path, what,
	    sqlite3_errmsg(h)));
}

static void
imp_why(struct db_import_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keep the first DB_IMPORT_WHY reasons a table gives. */
static void
imp_why(struct db_import_table *t, const char *fmt, ...)
{
	va_list	ap;

	if (t->nwhy >= DB_IMPORT_WHY)
		return;
	va_start(ap, fmt);
	if (vasprintf(&t->why[t->nwhy], fmt, ap) == -1)
		t->why[t->nwhy] = NULL;
	else
		t->nwhy++;
	va_end(ap);
}

/* 0 if the source row can be taken, else -1 and why (about column i). */
static int
imp_check(const struct imp_col *c, sqlite3_stmt *st, int i, char *why,
    size_t len)
{
	struct db_column	 dc = { c->name, c->kind, c->values };
	int			 type = sqlite3_column_type(st, i);
	const char		*v = db_col(st, i);

	if (type == SQLITE_NULL)
		return ((c->flags & IMP_SET) ? util_err(why, len, "no %s",
		    c->name) : 0);
	if (c->kind == DB_BOOL)
		return (type == SQLITE_INTEGER ? 0 : util_err(why, len,
		    "%s is not 0 or 1", c->name));
	if (type != SQLITE_TEXT || v == NULL)
		return (util_err(why, len, "%s is not text", c->name));
	if ((c->flags & IMP_SET) && *v == '\0')
		return (util_err(why, len, "%s is empty", c->name));
	return (db_value_check(&dc, v, why, len));
}

/* Is each IMP_NEED column there?  1 yes, 0 no (the note says), -1 error. */
static int
imp_columns(struct imp *x, const struct imp_spec *s,
    struct db_import_table *t, const char *path, char *sql, size_t len)
{
	size_t	i, off;
	int	has;

	off = (size_t)snprintf(sql, len, "SELECT ");
	for (i = 0; s->cols[i].name != NULL; i++) {
		if ((has = db_has(x->src, s->table, s->cols[i].name)) == -1)
			return (imp_fail(x, x->src, path, "cannot read it"));
		if (!has && (s->cols[i].flags & IMP_NEED)) {
			(void)snprintf(t->note, sizeof(t->note), "not imported: "
			    "the table has no column %s", s->cols[i].name);
			return (0);
		}
		/* Names from imp_specs, never from the source. */
		off += (size_t)snprintf(sql + off, off < len ? len - off : 0,
		    has ? "%s\"%s\"" : "%sNULL", i > 0 ? ", " : "",
		    s->cols[i].name);
	}
	if (off + 64 >= len)
		return (imp_fail(x, x->src, path, "internal: a query too long"));
	(void)snprintf(sql + off, len - off, " FROM \"%s\"", s->table);
	return (1);
}

static int
imp_count(struct imp *x, const char *table, const char *path,
    unsigned int *n)
{
	sqlite3_stmt	*st = NULL;
	char		 sql[128];
	int		 rc;

	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", table);
	if (sqlite3_prepare_v2(x->src, sql, -1, &st, NULL) != SQLITE_OK)
		return (imp_fail(x, x->src, path, "cannot read it"));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*n = (unsigned int)sqlite3_column_int(st, 0);
	(void)sqlite3_finalize(st);
	return (rc == SQLITE_ROW ? 0 : imp_fail(x, x->src, path,
	    "cannot read it"));
}

/* One row: checked, then inserted unless its key is here already. */
static int
imp_row(struct imp *x, const struct imp_spec *s, struct db_import_table *t,
    sqlite3_stmt *src, sqlite3_stmt *ins)
{
	char	why[256];
	int	i;

	for (i = 0; s->cols[i].name != NULL; i++)
		if (imp_check(&s->cols[i], src, i, why, sizeof(why)) == -1) {
			t->skipped++;
			imp_why(t, "%.64s: %s", db_col(src, 0) != NULL ?
			    db_col(src, 0) : "(no key)", why);
			return (0);
		}
	for (i = 0; s->cols[i].name != NULL; i++)
		(void)sqlite3_bind_value(ins, i + 1, sqlite3_column_value(src, i));
	if (db_step(x->db, ins) == -1) {
		(void)util_err(x->err, sizeof(x->err), "%s", x->db->err);
		return (-1);
	}
	if (sqlite3_changes(x->db->h) > 0)
		t->taken++;
	else
		t->kept++;
	return (0);
}

static int
imp_table(struct imp *x, const struct imp_spec *s, struct db_import_table *t,
    const char *path)
{
	sqlite3_stmt	*src = NULL, *ins = NULL;
	char		 sql[1024];
	int		 rc;

	t->table = s->table;
	if ((rc = db_has(x->src, s->table, NULL)) == -1)
		return (imp_fail(x, x->src, path, "cannot read it"));
	if (rc == 0) {
		(void)snprintf(t->note, sizeof(t->note), "not in the source");
		return (0);
	}
	t->present = 1;
	if (imp_count(x, s->table, path, &t->rows) == -1)
		return (-1);
	if (s->note != NULL || (rc = imp_columns(x, s, t, path, sql,
	    sizeof(sql))) == 0) {
		if (s->note != NULL)
			(void)snprintf(t->note, sizeof(t->note), "%s", s->note);
		t->skipped = t->rows;
		return (0);
	}
	if (rc == -1)
		return (-1);
	if (sqlite3_prepare_v2(x->src, sql, -1, &src, NULL) != SQLITE_OK)
		return (imp_fail(x, x->src, path, "cannot read it"));
	if (sqlite3_prepare_v2(x->db->h, s->insert, -1, &ins, NULL) !=
	    SQLITE_OK) {
		(void)sqlite3_finalize(src);
		return (imp_fail(x, x->db->h, x->db->path, "cannot write"));
	}
	while ((rc = sqlite3_step(src)) == SQLITE_ROW)
		if (imp_row(x, s, t, src, ins) == -1)
			break;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		(void)imp_fail(x, x->src, path, "cannot read it");
	(void)sqlite3_finalize(src);
	(void)sqlite3_finalize(ins);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Is path this bridge's own database?  (Then there is nothing to take.) */
static int
imp_same_file(struct db *db, const char *path)
{
	struct stat	a, b;

	return (stat(path, &a) == 0 && stat(db->path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

int
db_import_upstream(struct db *db, const char *path, struct db_report *r,
    char *err, size_t len)
{
	struct imp	x;
	struct stat	sb;
	size_t		i;
	int		rc = 0, any = 0;

	memset(r, 0, sizeof(*r));
	memset(&x, 0, sizeof(x));
	x.db = db;
	if (stat(path, &sb) == -1)
		return (util_err(err, len, "%s: %s", path, strerror(errno)));
	if (imp_same_file(db, path))
		return (util_err(err, len, "%s is this bridge's own database: "
		    "its upstream tables are the ones in use, nothing to "
		    "import", path));
	if (sqlite3_open_v2(path, &x.src, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		(void)imp_fail(&x, x.src, path, "cannot open it");
		(void)sqlite3_close(x.src);
		return (util_err(err, len, "%s", x.err));
	}
	(void)sqlite3_busy_timeout(x.src, DB_BUSY_MS);
	for (i = 0; i < DB_IMPORT_TABLES && rc == 0; i++)
		if ((rc = db_has(x.src, imp_specs[i].table, NULL)) == 1)
			any = 1;
	if (rc == -1 || !any) {
		if (rc == -1)
			(void)imp_fail(&x, x.src, path, "cannot read it");
		else
			(void)util_err(x.err, sizeof(x.err), "%s: not a "
			    "copilot-bridge state database (none of its tables)",
			    path);
		(void)sqlite3_close(x.src);
		return (util_err(err, len, "%s", x.err));
	}
	if (db_begin(db) == -1) {
		(void)sqlite3_close(x.src);
		return (util_err(err, len, "%s", db->err));
	}
	rc = 0;
	for (i = 0; i < DB_IMPORT_TABLES && rc == 0; i++, r->n++)
		rc = imp_table(&x, &imp_specs[i], &r->t[i], path);
	if (rc == 0 && db_commit(db) == -1) {
		(void)util_err(x.err, sizeof(x.err), "%s", db->err);
		rc = -1;
	}
	if (rc == -1)
		db_rollback(db);
	(void)sqlite3_close(x.src);
	if (rc == -1) {
		db_report_free(r);
		return (util_err(err, len, "%s; nothing was imported", x.err));
	}
	return (0);
}

void
db_report_print(const struct db_report *r, FILE *fp)
{
	const struct db_import_table	*t;
	size_t				 i;
	unsigned int			 j;

	for (i = 0; i < r->n; i++) {
		t = &r->t[i];
		if (!t->present)
			fprintf(fp, "%-24s %s\n", t->table, t->note);
		else if (t->note[0] != '\0')
			fprintf(fp, "%-24s %u row(s): %s\n", t->table, t->rows,
			    t->note);
		else
			fprintf(fp, "%-24s %u row(s): %u taken, %u already "
			    "here (kept), %u skipped\n", t->table, t->rows,
			    t->taken, t->kept, t->skipped);
		for (j = 0; j < t->nwhy; j++)
			fprintf(fp, "    skipped %s\n", t->why[j]);
		if (t->skipped > t->nwhy && t->nwhy > 0)
			fprintf(fp, "    … and %u more\n", t->skipped - t->nwhy);
	}
}

void
db_report_free(struct db_report *r)
{
	size_t		i;
	unsigned int	j;

	for (i = 0; i < DB_IMPORT_TABLES; i++) {
		for (j = 0; j < r->t[i].nwhy; j++)
			free(r->t[i].why[j]);
		r->t[i].nwhy = 0;
	}
}

/* ---- scheduled tasks, their runs, calls between agents ------------------- */

/*
 * Rare writes (a task changed, a run started or ended, a call between two
 * agents): each prepares its statement when it runs rather than keeping
 * one in db_sql.
 */
static int
db_once(struct db *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK)
		return (db_fail(db, "cannot prepare \"%.40s\"", sql));
	return (0);
}

static int
db_once_step(struct db *db, sqlite3_stmt *st)
{
	int	rc = db_step(db, st);

	(void)sqlite3_finalize(st);
	return (rc);
}

int
db_put_task(struct db *db, const struct db_task *t)
{
	sqlite3_stmt	*st;

	if (db_once(db, "INSERT INTO scheduled_tasks (id, channel_id, "
	    "bot_name, prompt, cron_expr, run_at, timezone, created_by, "
	    "description, enabled, last_run, next_run, created_at) VALUES (?1, "
	    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, COALESCE(?13, "
	    "datetime('now'))) ON CONFLICT(id) DO UPDATE SET channel_id = "
	    "excluded.channel_id, bot_name = excluded.bot_name, prompt = "
	    "excluded.prompt, cron_expr = excluded.cron_expr, run_at = "
	    "excluded.run_at, timezone = excluded.timezone, created_by = "
	    "excluded.created_by, description = excluded.description, enabled "
	    "= excluded.enabled, last_run = excluded.last_run, next_run = "
	    "excluded.next_run", &st) == -1)
		return (-1);
	(void)db_bind_str(st, 1, t->id);
	(void)db_bind_str(st, 2, t->channel);
	(void)db_bind_str(st, 3, t->bot);
	(void)db_bind_str(st, 4, t->prompt);
	(void)db_bind_str(st, 5, t->cron);
	(void)db_bind_str(st, 6, t->run_at);
	(void)db_bind_str(st, 7, t->timezone != NULL ? t->timezone : "UTC");
	(void)db_bind_str(st, 8, t->created_by);
	(void)db_bind_str(st, 9, t->description);
	(void)sqlite3_bind_int(st, 10, t->enabled != 0);
	(void)db_bind_str(st, 11, t->last_run);
	(void)db_bind_str(st, 12, t->next_run);
	(void)db_bind_str(st, 13, t->created_at);
	return (db_once_step(db, st));
}

int
db_del_task(struct db *db, const char *id)
{
	sqlite3_stmt	*st;

	if (db_once(db, "DELETE FROM scheduled_tasks WHERE id = ?1", &st) == -1)
		return (-1);
	(void)db_bind_str(st, 1, id);
	return (db_once_step(db, st));
}

int
db_load_tasks(struct db *db, int (*fn)(void *, const struct db_task *),
    void *arg)
{
	sqlite3_stmt	*st;
	struct db_task	 t;
	int		 rc;

	if (db_once(db, "SELECT id, channel_id, bot_name, prompt, cron_expr, "
	    "run_at, timezone, created_by, description, enabled, last_run, "
	    "next_run, created_at FROM scheduled_tasks ORDER BY created_at, id",
	    &st) == -1)
		return (-1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&t, 0, sizeof(t));
		t.id = db_col(st, 0);
		t.channel = db_col(st, 1);
		t.bot = db_col(st, 2);
		t.prompt = db_col(st, 3);
		t.cron = db_col(st, 4);
		t.run_at = db_col(st, 5);
		t.timezone = db_col(st, 6);
		t.created_by = db_col(st, 7);
		t.description = db_col(st, 8);
		t.enabled = sqlite3_column_int(st, 9);
		t.last_run = db_col(st, 10);
		t.next_run = db_col(st, 11);
		t.created_at = db_col(st, 12);
		if (t.id == NULL || t.channel == NULL || t.bot == NULL ||
		    t.prompt == NULL)
			continue;
		if (fn(arg, &t) == -1) {
			(void)sqlite3_finalize(st);
			return (util_err(db->err, sizeof(db->err), "%s: out of "
			    "memory loading the scheduled tasks", db->path));
		}
	}
	(void)sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (db_fail(db, "cannot read the scheduled tasks"));
	return (0);
}

int
db_put_run(struct db *db, const struct db_run *r)
{
	sqlite3_stmt	*st;

	if (db_once(db, "INSERT INTO scheduled_task_history (id, task_id, "
	    "channel_id, prompt, description, timezone, status, fired_at, "
	    "error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, COALESCE(?8, "
	    "datetime('now')), ?9) ON CONFLICT(id) DO UPDATE SET status = "
	    "excluded.status, error = excluded.error", &st) == -1)
		return (-1);
	(void)sqlite3_bind_int64(st, 1, r->id);
	(void)db_bind_str(st, 2, r->task);
	(void)db_bind_str(st, 3, r->channel);
	(void)db_bind_str(st, 4, r->prompt);
	(void)db_bind_str(st, 5, r->description);
	(void)db_bind_str(st, 6, r->timezone != NULL ? r->timezone : "UTC");
	(void)db_bind_str(st, 7, r->status);
	(void)db_bind_str(st, 8, r->fired_at);
	(void)db_bind_str(st, 9, r->error);
	return (db_once_step(db, st));
}

int
db_runs(struct db *db, const char *channel, int limit,
    int (*fn)(void *, const struct db_run *), void *arg)
{
	sqlite3_stmt	*st;
	struct db_run	 r;
	int		 rc;

	if (db_once(db, "SELECT id, task_id, channel_id, prompt, description, "
	    "timezone, status, fired_at, error FROM scheduled_task_history "
	    "WHERE channel_id = ?1 ORDER BY fired_at DESC, id DESC LIMIT ?2",
	    &st) == -1)
		return (-1);
	(void)db_bind_str(st, 1, channel);
	(void)sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.id = sqlite3_column_int64(st, 0);
		r.task = db_col(st, 1);
		r.channel = db_col(st, 2);
		r.prompt = db_col(st, 3);
		r.description = db_col(st, 4);
		r.timezone = db_col(st, 5);
		r.status = db_col(st, 6);
		r.fired_at = db_col(st, 7);
		r.error = db_col(st, 8);
		if (r.prompt == NULL || r.status == NULL || r.fired_at == NULL)
			continue;
		if (fn(arg, &r) == -1) {
			(void)sqlite3_finalize(st);
			return (util_err(db->err, sizeof(db->err), "%s: out of "
			    "memory reading the task history", db->path));
		}
	}
	(void)sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (db_fail(db, "cannot read the task history"));
	return (0);
}

long long
db_run_seq(struct db *db)
{
	sqlite3_stmt	*st;
	long long	 seq = -1;

	if (db_once(db, "SELECT max(COALESCE((SELECT seq FROM sqlite_sequence "
	    "WHERE name = 'scheduled_task_history'), 0), COALESCE((SELECT "
	    "max(id) FROM scheduled_task_history), 0))", &st) == -1)
		return (-1);
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	else
		(void)db_fail(db, "cannot read the task history");
	(void)sqlite3_finalize(st);
	return (seq);
}

int
db_end_runs(struct db *db, const char *error)
{
	sqlite3_stmt	*st;

	if (db_once(db, "UPDATE scheduled_task_history SET status = 'error', "
	    "error = ?1 WHERE status = 'running'", &st) == -1)
		return (-1);
	(void)db_bind_str(st, 1, error);
	return (db_once_step(db, st));
}

int
db_add_agent_call(struct db *db, const struct db_agent_call *c)
{
	sqlite3_stmt	*st;

	if (db_once(db, "INSERT INTO agent_calls (caller_bot, target_bot, "
	    "target_agent, message_summary, response_summary, duration_ms, "
	    "success, error, chain_id, depth) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	    "?7, ?8, ?9, ?10)", &st) == -1)
		return (-1);
	(void)db_bind_str(st, 1, c->caller);
	(void)db_bind_str(st, 2, c->target);
	(void)db_bind_str(st, 3, c->agent);
	(void)db_bind_str(st, 4, c->message);
	(void)db_bind_str(st, 5, c->response);
	(void)sqlite3_bind_int64(st, 6, c->duration_ms);
	(void)sqlite3_bind_int(st, 7, c->success != 0);
	(void)db_bind_str(st, 8, c->error);
	(void)db_bind_str(st, 9, c->chain_id);
	(void)sqlite3_bind_int(st, 10, c->depth);
	return (db_once_step(db, st));
}
