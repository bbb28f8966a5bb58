/*
 * common/db.c: the schema and its migrations, the previous version's
 * sessions.json, importing an upstream state.db, and bad files.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/db.h"

/*
 * Upstream copilot-bridge v0.15.0's SqliteStateStore.initialize(), word for
 * word: its CREATE statements, then the ALTERs it runs on every start (the
 * one for reasoning_effort fails there as a duplicate, as here).
 */
static const char upstream_ddl[] =
"CREATE TABLE IF NOT EXISTS channel_sessions (channel_id TEXT PRIMARY KEY,"
" session_id TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')));"
"CREATE TABLE IF NOT EXISTS channel_prefs (channel_id TEXT PRIMARY KEY,"
" model TEXT, agent TEXT, verbose INTEGER, trigger_mode TEXT,"
" threaded_replies INTEGER, permission_mode TEXT, reasoning_effort TEXT,"
" updated_at TEXT NOT NULL DEFAULT (datetime('now')));"
"CREATE TABLE IF NOT EXISTS permission_rules (id INTEGER PRIMARY KEY"
" AUTOINCREMENT, scope TEXT NOT NULL DEFAULT 'global', tool TEXT NOT NULL,"
" command_pattern TEXT NOT NULL DEFAULT '*', action TEXT NOT NULL CHECK"
" (action IN ('allow', 'deny')), created_at TEXT NOT NULL DEFAULT"
" (datetime('now')));"
"CREATE INDEX IF NOT EXISTS idx_perm_scope ON permission_rules(scope);"
"CREATE INDEX IF NOT EXISTS idx_perm_tool ON permission_rules(tool);"
"CREATE TABLE IF NOT EXISTS workspace_overrides (bot_name TEXT PRIMARY KEY,"
" working_directory TEXT NOT NULL, allow_paths TEXT NOT NULL DEFAULT '[]',"
" created_at TEXT NOT NULL DEFAULT (datetime('now')));"
"CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT"
" NULL);"
"CREATE TABLE IF NOT EXISTS dynamic_channels (channel_id TEXT PRIMARY KEY,"
" platform TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', bot TEXT,"
" working_directory TEXT NOT NULL, agent TEXT, model TEXT, trigger_mode TEXT,"
" threaded_replies INTEGER, verbose INTEGER, is_dm INTEGER NOT NULL DEFAULT 0,"
" created_at TEXT NOT NULL DEFAULT (datetime('now')), updated_at TEXT NOT NULL"
" DEFAULT (datetime('now')));"
"CREATE TABLE IF NOT EXISTS agent_calls (id INTEGER PRIMARY KEY AUTOINCREMENT,"
" caller_bot TEXT NOT NULL, target_bot TEXT NOT NULL, target_agent TEXT,"
" message_summary TEXT, response_summary TEXT, duration_ms INTEGER, success"
" INTEGER NOT NULL DEFAULT 0, error TEXT, chain_id TEXT, depth INTEGER DEFAULT"
" 0, created_at TEXT NOT NULL DEFAULT (datetime('now')));"
"CREATE INDEX IF NOT EXISTS idx_agent_calls_created ON agent_calls(created_at);"
"CREATE INDEX IF NOT EXISTS idx_agent_calls_chain ON agent_calls(chain_id);"
"CREATE TABLE IF NOT EXISTS scheduled_tasks (id TEXT PRIMARY KEY, channel_id"
" TEXT NOT NULL, bot_name TEXT NOT NULL, prompt TEXT NOT NULL, cron_expr TEXT,"
" run_at TEXT, timezone TEXT NOT NULL DEFAULT 'UTC', created_by TEXT,"
" description TEXT, enabled INTEGER NOT NULL DEFAULT 1, last_run TEXT,"
" next_run TEXT, created_at TEXT NOT NULL DEFAULT (datetime('now')));"
"CREATE INDEX IF NOT EXISTS idx_sched_channel ON scheduled_tasks(channel_id);"
"CREATE INDEX IF NOT EXISTS idx_sched_enabled ON scheduled_tasks(enabled);"
"CREATE TABLE IF NOT EXISTS scheduled_task_history (id INTEGER PRIMARY KEY"
" AUTOINCREMENT, task_id TEXT NOT NULL, channel_id TEXT NOT NULL, prompt TEXT"
" NOT NULL, description TEXT, status TEXT NOT NULL DEFAULT 'success', fired_at"
" TEXT NOT NULL DEFAULT (datetime('now')), error TEXT);"
"CREATE INDEX IF NOT EXISTS idx_sched_hist_task ON"
" scheduled_task_history(task_id);"
"CREATE INDEX IF NOT EXISTS idx_sched_hist_channel ON"
" scheduled_task_history(channel_id);"
"ALTER TABLE scheduled_task_history ADD COLUMN timezone TEXT NOT NULL DEFAULT"
" 'UTC';"
"ALTER TABLE channel_prefs ADD COLUMN session_mode TEXT;"
"ALTER TABLE channel_prefs ADD COLUMN disabled_skills TEXT;"
"ALTER TABLE channel_prefs ADD COLUMN provider TEXT;";

/* Upstream's first schema (3428cc3): preferences NOT NULL, fewer columns. */
static const char upstream_first_ddl[] =
"CREATE TABLE channel_sessions (channel_id TEXT PRIMARY KEY, session_id TEXT"
" NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')));"
"CREATE TABLE channel_prefs (channel_id TEXT PRIMARY KEY, model TEXT, agent"
" TEXT, verbose INTEGER NOT NULL DEFAULT 0, trigger_mode TEXT NOT NULL DEFAULT"
" 'mention', threaded_replies INTEGER NOT NULL DEFAULT 1, permission_mode TEXT"
" NOT NULL DEFAULT 'interactive', updated_at TEXT NOT NULL DEFAULT"
" (datetime('now')));"
"CREATE TABLE permission_rules (id INTEGER PRIMARY KEY AUTOINCREMENT, scope"
" TEXT NOT NULL DEFAULT 'global', tool TEXT NOT NULL, command_pattern TEXT NOT"
" NULL DEFAULT '*', action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),"
" created_at TEXT NOT NULL DEFAULT (datetime('now')));"
"CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);";

struct fix {
	char	dir[64];
	char	up[128];	/* an upstream state.db, outside dir */
};

static int
setup(void **state)
{
	struct fix	*f = calloc(1, sizeof(*f));

	if (f == NULL)
		return (-1);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_db.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return (-1);
	}
	snprintf(f->up, sizeof(f->up), "%s-upstream.db", f->dir);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fix	*f = *state;
	char		 cmd[1024];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s-wal' '%s-shm'", f->dir,
	    f->up, f->up, f->up);
	if (system(cmd) != 0)
		return (-1);
	free(f);
	return (0);
}

static sqlite3 *
raw_open(const char *path)
{
	sqlite3	*h = NULL;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	return (h);
}

static void
raw_exec(sqlite3 *h, const char *sql)
{
	char	*err = NULL;

	if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* The first column of the first row of sql, as text ("" if none). */
static char *
raw_get(sqlite3 *h, const char *sql)
{
	static char	 out[1024];
	sqlite3_stmt	*st;

	out[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof(out), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return (out);
}

static char *
state_path(struct fix *f, const char *name)
{
	static char	p[160];

	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	return (p);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static struct db *
open_ok(struct fix *f)
{
	char		 err[DB_ERR_MAX];
	struct db	*db = db_open(f->dir, err, sizeof(err));

	if (db == NULL)
		fail_msg("db_open: %s", err);
	return (db);
}

/* ---- what db_load sees -------------------------------------------------- */

struct seen {
	char	text[8192];
};

static void
seen_add(struct seen *s, const char *fmt, ...)
{
	size_t	n = strlen(s->text);
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(s->text + n, sizeof(s->text) - n, fmt, ap);
	va_end(ap);
}

static int
seen_session(void *arg, const char *ch, const char *thread, const char *bot,
    const char *sid)
{
	seen_add(arg, "session %s/%s %s %s\n", ch, thread ? thread : "-",
	    bot ? bot : "-", sid);
	return (0);
}

static int
seen_cursor(void *arg, const char *ch, const char *bot, long long ms,
    const char *ids)
{
	seen_add(arg, "cursor %s %s %lld%s%s\n", ch, bot, ms, ids ? " " : "",
	    ids ? ids : "");
	return (0);
}

static int
seen_pref(void *arg, const char *ch, const char *col, const char *v)
{
	seen_add(arg, "pref %s %s=%s\n", ch, col, v);
	return (0);
}

static int
seen_rule(void *arg, long long id, const char *scope, const char *tool,
    const char *pattern, const char *action, const char *created)
{
	seen_add(arg, "rule %lld %s %s %s %s\n", id, scope, tool, pattern,
	    action);
	return (0);
}

static int
seen_setting(void *arg, const char *k, const char *v)
{
	seen_add(arg, "setting %s=%s\n", k, v);
	return (0);
}

static int
seen_workspace(void *arg, const char *bot, const char *dir, const char *p)
{
	seen_add(arg, "workspace %s %s %s\n", bot, dir, p);
	return (0);
}

static const char *
load_all(struct db *db)
{
	static struct seen	s;
	struct db_loader	l = { &s, seen_session, seen_cursor, seen_pref,
				    seen_rule, seen_setting, seen_workspace };

	memset(&s, 0, sizeof(s));
	assert_int_equal(db_load(db, &l), 0);
	return (s.text);
}

/* ---- schema ------------------------------------------------------------- */

static const char *const upstream_tables[] = { "channel_sessions",
	"channel_prefs", "permission_rules", "workspace_overrides", "settings",
	"dynamic_channels", "agent_calls", "scheduled_tasks",
	"scheduled_task_history", NULL };

/* name|type|notnull|default|pk of each column, in order. */
static char *
columns(sqlite3 *h, const char *table)
{
	static char	 out[2048];
	sqlite3_stmt	*st;
	size_t		 n = 0;

	assert_int_equal(sqlite3_prepare_v2(h, "SELECT name, type, \"notnull\", "
	    "dflt_value, pk FROM pragma_table_info(?1)", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s|%s|%d|%s|%d;",
		    sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
		    sqlite3_column_int(st, 2), sqlite3_column_text(st, 3) ?
		    (const char *)sqlite3_column_text(st, 3) : "-",
		    sqlite3_column_int(st, 4));
	sqlite3_finalize(st);
	return (out);
}

static void
test_fresh_has_upstreams_tables(void **state)
{
	struct fix	*f = *state;
	struct db	*db = open_ok(f);
	sqlite3		*ours, *up;
	char		 want[2048];
	size_t		 i;

	db_close(db);
	ours = raw_open(state_path(f, DB_FILE));
	up = raw_open(f->up);
	raw_exec(up, upstream_ddl);
	assert_int_equal(atoi(raw_get(ours, "PRAGMA user_version")),
	    DB_VERSION);
	assert_string_equal(raw_get(ours, "PRAGMA journal_mode"), "wal");
	for (i = 0; upstream_tables[i] != NULL; i++) {
		snprintf(want, sizeof(want), "%s", columns(up, upstream_tables[i]));
		assert_true(want[0] != '\0');
		assert_string_equal(columns(ours, upstream_tables[i]), want);
	}
	assert_string_equal(raw_get(ours, "SELECT count(*) FROM sqlite_master "
	    "WHERE name LIKE 'bridge_%'"), "3");
	sqlite3_close(ours);
	sqlite3_close(up);
	/* Opening again migrates nothing and loses nothing. */
	db = open_ok(f);
	assert_int_equal(db_put_session(db, "c1", NULL, "mattermost:a", "s1"), 0);
	db_close(db);
	db = open_ok(f);
	assert_string_equal(load_all(db), "session c1/- mattermost:a s1\n");
	db_close(db);
}

static void
test_newer_schema_is_refused(void **state)
{
	struct fix	*f = *state;
	char		 err[DB_ERR_MAX], want[128];
	sqlite3		*h;

	db_close(open_ok(f));
	h = raw_open(state_path(f, DB_FILE));
	raw_exec(h, "PRAGMA user_version = 7");
	sqlite3_close(h);
	assert_null(db_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, state_path(f, DB_FILE)));
	snprintf(want, sizeof(want), "schema version 7 is newer than this "
	    "copilot-bridge knows (%d)", DB_VERSION);
	assert_non_null(strstr(err, want));
	h = raw_open(state_path(f, DB_FILE));
	assert_string_equal(raw_get(h, "PRAGMA user_version"), "7");
	sqlite3_close(h);
}

static void
test_corrupt_file_is_a_clear_error(void **state)
{
	struct fix	*f = *state;
	char		 err[DB_ERR_MAX], junk[8192];

	memset(junk, 'x', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = '\0';
	write_file(state_path(f, DB_FILE), junk);
	assert_null(db_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, state_path(f, DB_FILE)));
	assert_non_null(strstr(err, "file is not a database"));
}

static void
test_damaged_database_is_a_clear_error(void **state)
{
	struct fix	*f = *state;
	char		 err[DB_ERR_MAX], junk[4096], ch[32];
	struct db	*db = open_ok(f);
	sqlite3		*h;
	int		 fd, i;

	for (i = 0; i < 200; i++) {
		snprintf(ch, sizeof(ch), "channel-%d", i);
		assert_int_equal(db_put_session(db, ch, NULL, "mattermost:a",
		    "a-session-id-long-enough-to-fill-pages"), 0);
	}
	db_close(db);
	h = raw_open(state_path(f, DB_FILE));
	raw_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(h);
	/* Page 3 onwards (the table's pages) overwritten with junk. */
	memset(junk, 0xa5, sizeof(junk));
	assert_true((fd = open(state_path(f, DB_FILE), O_WRONLY)) != -1);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 2 * 4096),
	    (ssize_t)sizeof(junk));
	close(fd);
	assert_null(db_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, state_path(f, DB_FILE)));
	assert_true(strstr(err, "malformed") != NULL ||
	    strstr(err, "damaged") != NULL);
}

static void
test_locked_database_is_a_clear_error(void **state)
{
	struct fix	*f = *state;
	char		 err[DB_ERR_MAX];
	sqlite3		*h;

	/* A database of no version yet, held by another writer. */
	h = raw_open(state_path(f, DB_FILE));
	raw_exec(h, "PRAGMA journal_mode = WAL; CREATE TABLE x (y); "
	    "BEGIN EXCLUSIVE; INSERT INTO x VALUES (1)");
	assert_null(db_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, state_path(f, DB_FILE)));
	assert_non_null(strstr(err, "locked"));
	raw_exec(h, "COMMIT");
	sqlite3_close(h);
}

/* ---- writes and reads --------------------------------------------------- */

static void
test_writes_then_load(void **state)
{
	struct fix	*f = *state;
	struct db	*db = open_ok(f);
	sqlite3		*h;

	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_put_session(db, "c1", NULL, "mattermost:a", "s1"), 0);
	assert_int_equal(db_put_session(db, "c2", NULL, NULL, "s2"), 0);
	assert_int_equal(db_put_session(db, "c1", "root1", "mattermost:a",
	    "t1"), 0);
	assert_int_equal(db_put_cursor(db, "c1", "mattermost:a", 500,
	    "[[\"p1\",500]]"), 0);
	/* An older cursor changes neither the cursor nor its ids. */
	assert_int_equal(db_put_cursor(db, "c1", "mattermost:a", 400,
	    "[[\"p0\",400]]"), 0);
	assert_int_equal(db_put_pref(db, "c1", "verbose", "true"), 0);
	assert_int_equal(db_put_pref(db, "c1", "model", "gpt-x"), 0);
	assert_int_equal(db_put_pref(db, "c1", "disabled_skills", "[\"a\"]"), 0);
	assert_int_equal(db_put_pref(db, "c1", "permission_mode", "turbo"), -1);
	assert_non_null(strstr(db_error(db), "is not one of interactive, "
	    "autopilot"));
	assert_int_equal(db_put_pref(db, "c1", "no_such", "x"), -1);
	assert_int_equal(db_add_rule(db, 5, "global", "shell", "git", "allow",
	    NULL), 0);
	assert_int_equal(db_add_rule(db, 6, "c1", "shell", "rm", "deny", NULL), 0);
	assert_int_equal(db_add_rule(db, 7, "c1", "shell", "rm", "allow",
	    "2024-01-02 03:04:05"), 0);
	assert_int_equal(db_put_setting(db, "streamer_mode", "on"), 0);
	assert_int_equal(db_commit(db), 0);
	assert_string_equal(load_all(db),
	    "session c1/- mattermost:a s1\n"
	    "session c2/- - s2\n"
	    "session c1/root1 mattermost:a t1\n"
	    "cursor c1 mattermost:a 500 [[\"p1\",500]]\n"
	    "pref c1 model=gpt-x\n"
	    "pref c1 verbose=1\n"
	    "pref c1 disabled_skills=[\"a\"]\n"
	    "rule 5 global shell git allow\n"
	    "rule 7 c1 shell rm allow\n"
	    "setting streamer_mode=on\n");
	assert_int_equal(db_rule_seq(db), 7);
	/* Ending a session takes its bot with it; NULL unsets a preference. */
	assert_int_equal(db_put_session(db, "c1", NULL, NULL, NULL), 0);
	assert_int_equal(db_put_session(db, "c1", "root1", NULL, NULL), 0);
	assert_int_equal(db_put_pref(db, "c1", "verbose", NULL), 0);
	assert_int_equal(db_del_rule(db, 5), 0);
	assert_int_equal(db_clear_rules(db, "c1", "shell", NULL), 0);
	assert_int_equal(db_put_setting(db, "streamer_mode", NULL), 0);
	/* The same cursor: the ids are the newer list. */
	assert_int_equal(db_put_cursor(db, "c1", "mattermost:a", 500,
	    "[[\"p1\",500],[\"p2\",500]]"), 0);
	assert_string_equal(load_all(db), "session c2/- - s2\n"
	    "cursor c1 mattermost:a 500 [[\"p1\",500],[\"p2\",500]]\n"
	    "pref c1 model=gpt-x\n"
	    "pref c1 disabled_skills=[\"a\"]\n");
	assert_int_equal(db_rule_seq(db), 7);	/* ids are never reused */
	db_close(db);
	h = raw_open(state_path(f, DB_FILE));
	assert_string_equal(raw_get(h, "SELECT count(*) FROM "
	    "bridge_session_bots"), "0");
	assert_string_equal(raw_get(h, "SELECT typeof(verbose) FROM "
	    "channel_prefs"), "null");
	sqlite3_close(h);
}

static int
seen_task(void *arg, const struct db_task *t)
{
	seen_add(arg, "task %s %s %s %s cron=%s at=%s tz=%s by=%s d=%s on=%d "
	    "last=%s next=%s\n", t->id, t->channel, t->bot, t->prompt,
	    t->cron ? t->cron : "-", t->run_at ? t->run_at : "-", t->timezone,
	    t->created_by ? t->created_by : "-", t->description ?
	    t->description : "-", t->enabled, t->last_run ? t->last_run : "-",
	    t->next_run ? t->next_run : "-");
	return (0);
}

static int
seen_run(void *arg, const struct db_run *r)
{
	seen_add(arg, "run %lld %s %s %s %s %s\n", r->id, r->task, r->status,
	    r->fired_at, r->timezone, r->error ? r->error : "-");
	return (0);
}

/* Scheduled tasks, their runs and the calls between agents. */
static void
test_tasks_runs_and_calls(void **state)
{
	struct fix	*f = *state;
	struct db	*db = open_ok(f);
	struct seen	 s;
	sqlite3		*h;
	struct db_task	 t = { .id = "t1", .channel = "c1", .bot = "mattermost:a",
			    .prompt = "report", .cron = "0 9 * * 1-5",
			    .timezone = "Europe/Paris", .created_by = "u1",
			    .enabled = 1, .next_run = "2026-05-21T07:00:00.000Z" };
	struct db_task	 o = { .id = "t2", .channel = "c1", .bot = "mattermost:a",
			    .prompt = "once", .run_at = "2026-05-21T10:00:00Z",
			    .enabled = 1, .created_at = "2026-01-01 00:00:00" };
	struct db_run	 r = { .id = 1, .task = "t1", .channel = "c1",
			    .prompt = "report", .timezone = "Europe/Paris",
			    .status = "running", .fired_at = "2026-05-21 07:00:00" };
	struct db_agent_call c = { .caller = "a", .target = "b",
			    .message = "q?", .response = "42", .duration_ms = 12,
			    .success = 1, .chain_id = "chain", .depth = 1 };

	assert_int_equal(db_put_task(db, &t), 0);
	assert_int_equal(db_put_task(db, &o), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_load_tasks(db, seen_task, &s), 0);
	assert_string_equal(s.text,
	    "task t2 c1 mattermost:a once cron=- at=2026-05-21T10:00:00Z tz=UTC "
	    "by=- d=- on=1 last=- next=-\n"
	    "task t1 c1 mattermost:a report cron=0 9 * * 1-5 at=- "
	    "tz=Europe/Paris by=u1 d=- on=1 last=- next=2026-05-21T07:00:00.000Z\n");
	/* A change replaces the row, keeping when it was made. */
	t.enabled = 0;
	t.last_run = "2026-05-21T07:00:01.000Z";
	t.next_run = "2026-05-22T07:00:00.000Z";
	t.created_at = "1999-01-01 00:00:00";
	assert_int_equal(db_put_task(db, &t), 0);
	assert_int_equal(db_del_task(db, "t2"), 0);
	assert_int_equal(db_del_task(db, "nosuch"), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_load_tasks(db, seen_task, &s), 0);
	assert_string_equal(s.text, "task t1 c1 mattermost:a report "
	    "cron=0 9 * * 1-5 at=- tz=Europe/Paris by=u1 d=- on=0 "
	    "last=2026-05-21T07:00:01.000Z next=2026-05-22T07:00:00.000Z\n");
	/* Runs: written "running", ended; those left running end as errors. */
	assert_int_equal(db_put_run(db, &r), 0);
	r.status = "success";
	assert_int_equal(db_put_run(db, &r), 0);
	r.id = 2;
	r.status = "running";
	r.fired_at = "2026-05-22 07:00:00";
	assert_int_equal(db_put_run(db, &r), 0);
	r.id = 3;
	r.channel = "c2";
	assert_int_equal(db_put_run(db, &r), 0);
	assert_int_equal(db_end_runs(db, "interrupted"), 0);
	assert_int_equal(db_run_seq(db), 3);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_runs(db, "c1", 10, seen_run, &s), 0);
	assert_string_equal(s.text,
	    "run 2 t1 error 2026-05-22 07:00:00 Europe/Paris interrupted\n"
	    "run 1 t1 success 2026-05-21 07:00:00 Europe/Paris -\n");
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_runs(db, "c1", 1, seen_run, &s), 0);
	assert_non_null(strstr(s.text, "run 2 "));
	assert_null(strstr(s.text, "run 1 "));
	assert_int_equal(db_add_agent_call(db, &c), 0);
	c.success = 0;
	c.response = NULL;
	c.error = "a is not allowed to call b";
	assert_int_equal(db_add_agent_call(db, &c), 0);
	db_close(db);
	h = raw_open(state_path(f, DB_FILE));
	assert_string_equal(raw_get(h, "SELECT created_at FROM scheduled_tasks"),
	    raw_get(h, "SELECT created_at FROM scheduled_tasks WHERE "
	    "created_at != '1999-01-01 00:00:00'"));
	assert_string_equal(raw_get(h, "SELECT group_concat(caller_bot || '>' || "
	    "target_bot || ':' || success || ':' || depth || ':' || "
	    "COALESCE(error, '-'), ',') FROM agent_calls"),
	    "a>b:1:1:-,a>b:0:1:a is not allowed to call b");
	/* A task as upstream writes it is read as it is. */
	raw_exec(h, "INSERT INTO scheduled_tasks (id, channel_id, bot_name, "
	    "prompt, cron_expr, timezone, enabled, next_run) VALUES ('Ab-_9z', "
	    "'c3', 'copilot', 'p', '*/5 * * * *', 'America/Los_Angeles', 1, "
	    "'2026-03-09T15:35:00.000-07:00')");
	sqlite3_close(h);
	db = open_ok(f);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_load_tasks(db, seen_task, &s), 0);
	assert_non_null(strstr(s.text, "task Ab-_9z c3 copilot p cron=*/5 * * * * "
	    "at=- tz=America/Los_Angeles by=- d=- on=1 last=- "
	    "next=2026-03-09T15:35:00.000-07:00\n"));
	db_close(db);
}

static void
test_value_checks(void **state)
{
	static const struct {
		const char	*col, *value;
		int		 ok;
	} cases[] = {
		{ "trigger_mode", "mention", 1 }, { "trigger_mode", "all", 1 },
		{ "trigger_mode", "ALL", 0 }, { "trigger_mode", "", 0 },
		{ "verbose", "1", 1 }, { "verbose", "false", 1 },
		{ "verbose", "yes", 0 }, { "threaded_replies", "2", 0 },
		{ "reasoning_effort", "xhigh", 1 },
		{ "reasoning_effort", "extreme", 0 },
		{ "session_mode", "plan", 1 }, { "session_mode", "yolo", 0 },
		{ "disabled_skills", "[]", 1 }, { "disabled_skills", "[1]", 0 },
		{ "disabled_skills", "{\"a\":1}", 0 },
		{ "disabled_skills", "[\"a\",", 0 },
		{ "model", "", 1 }, { "provider", "openai", 1 },
		{ "model", NULL, 1 },
	};
	char	why[128];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct db_column *c = db_pref_column(cases[i].col);

		assert_non_null(c);
		if ((db_value_check(c, cases[i].value, why, sizeof(why)) == 0) !=
		    cases[i].ok)
			fail_msg("%s=%s: want %s", cases[i].col, cases[i].value,
			    cases[i].ok ? "ok" : "refused");
	}
	assert_null(db_pref_column("updated_at"));
	assert_null(db_pref_column("channel_id"));
	assert_null(db_pref_column(NULL));
}

/* ---- the previous version's sessions.json -------------------------------- */

static void
test_legacy_json_is_migrated_once(void **state)
{
	struct fix	*f = *state;
	struct db	*db;
	struct stat	 sb;

	write_file(state_path(f, DB_LEGACY_FILE),
	    "{\"channels\": {\n"
	    " \"c1\": {\"bot\": \"mattermost:a\", \"cursor\": 1700000000123,"
	    " \"sessionId\": \"sess-1\"},\n"
	    " \"c2\": {\"bot\": \"slack:b\", \"cursor\": 1700000000999,"
	    " \"sessionId\": null},\n"
	    " \"c3\": {\"sessionId\": 42},\n"
	    " \"c4\": {\"bot\": \"mattermost:a\", \"sessionId\": \"sess-4\"}\n"
	    "}, \"version\": 1}\n");
	db = open_ok(f);
	assert_string_equal(load_all(db),
	    "session c1/- mattermost:a sess-1\n"
	    "session c4/- mattermost:a sess-4\n"
	    "cursor c1 mattermost:a 1700000000123\n"
	    "cursor c2 slack:b 1700000000999\n");
	db_close(db);
	assert_int_equal(stat(state_path(f, DB_LEGACY_FILE), &sb), -1);
	assert_int_equal(stat(state_path(f, "sessions.json.migrated"), &sb), 0);
	/* Once: a later session survives the next open. */
	db = open_ok(f);
	assert_int_equal(db_put_session(db, "c1", NULL, "mattermost:a",
	    "sess-new"), 0);
	db_close(db);
	db = open_ok(f);
	assert_non_null(strstr(load_all(db), "session c1/- mattermost:a "
	    "sess-new\n"));
	db_close(db);
}

static void
test_corrupt_legacy_json_is_moved_aside(void **state)
{
	struct fix	*f = *state;
	struct db	*db;
	struct stat	 sb;

	write_file(state_path(f, DB_LEGACY_FILE), "{\"channels\": {\"c1\": ");
	db = open_ok(f);
	assert_string_equal(load_all(db), "");
	db_close(db);
	assert_int_equal(stat(state_path(f, DB_LEGACY_FILE), &sb), -1);
	assert_int_equal(stat(state_path(f, "sessions.json.corrupt"), &sb), 0);
}

static int
count_row(void *arg, const struct db_legacy *l)
{
	(*(int *)arg)++;
	return (0);
}

static void
test_legacy_parser_bad_input(void **state)
{
	static const struct {
		const char	*text;
		int		 rc, rows;
		size_t		 skipped;
	} cases[] = {
		{ "", -1, 0, 0 },
		{ "[]", -1, 0, 0 },
		{ "{}", -1, 0, 0 },
		{ "null", -1, 0, 0 },
		{ "{\"channels\": []}", -1, 0, 0 },
		{ "{\"channels\": {}, \"version\": 2}", -1, 0, 0 },
		{ "{\"channels\": {}, \"version\": \"1\"}", -1, 0, 0 },
		{ "{\"channels\": {}, \"channels\": {}}", -1, 0, 0 },
		{ "{\"channels\": {\"c\": {}}} trailing", -1, 0, 0 },
		{ "{\"channels\": {\"c\": {\"sessionId\": \"\xff\"}}}", -1, 0, 0 },
		{ "{\"channels\": {}}", 0, 0, 0 },
		{ "{\"channels\": {\"c\": {}}}", 0, 1, 0 },
		{ "{\"channels\": {\"c\": []}}", 0, 0, 1 },
		{ "{\"channels\": {\"c\": 1, \"d\": {}}}", 0, 1, 1 },
		{ "{\"channels\": {\"\": {}}}", 0, 0, 1 },
		{ "{\"channels\": {\"c\": {\"sessionId\": 1}}}", 0, 0, 1 },
		{ "{\"channels\": {\"c\": {\"sessionId\": \"\"}}}", 0, 0, 1 },
		{ "{\"channels\": {\"c\": {\"bot\": null}}}", 0, 0, 1 },
		{ "{\"channels\": {\"c\": {\"cursor\": -1}}}", 0, 0, 1 },
		{ "{\"channels\": {\"c\": {\"cursor\": 1.5}}}", 0, 0, 1 },
		{ "{\"channels\": {\"c\": {\"cursor\": \"12\"}}}", 0, 0, 1 },
		{ "{\"channels\": {\"c\": {\"cursor\": 99999999999999999999}}}",
		    -1, 0, 0 },
	};
	char	why[256], big[2048];
	size_t	i, skipped;
	int	rows, rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rows = 0;
		rc = db_legacy_parse(cases[i].text, strlen(cases[i].text),
		    count_row, &rows, &skipped, why, sizeof(why));
		if (rc != cases[i].rc || rows != cases[i].rows ||
		    skipped != cases[i].skipped)
			fail_msg("%s: rc %d rows %d skipped %zu (%s)",
			    cases[i].text, rc, rows, skipped, why);
		if (rc == -1 || skipped > 0)
			assert_true(why[0] != '\0');
	}
	/* A channel id longer than any platform's. */
	snprintf(big, sizeof(big), "{\"channels\": {\"%0300d\": {}}}", 0);
	rows = 0;
	assert_int_equal(db_legacy_parse(big, strlen(big), count_row, &rows,
	    &skipped, why, sizeof(why)), 0);
	assert_int_equal(rows, 0);
	assert_int_equal(skipped, 1);
	/* Deep nesting is refused by the JSON parser, not by a crash. */
	memset(big, '[', sizeof(big));
	assert_int_equal(db_legacy_parse(big, sizeof(big), count_row, &rows,
	    &skipped, why, sizeof(why)), -1);
}

/* ---- an upstream state.db ------------------------------------------------ */

static void
build_upstream(const char *path)
{
	sqlite3	*h = raw_open(path);

	raw_exec(h, "PRAGMA journal_mode = WAL");
	raw_exec(h, upstream_ddl);
	raw_exec(h,
	    "INSERT INTO channel_sessions VALUES ('chA', 'up-sess-A', "
	    " '2025-01-01 10:00:00'), ('chB', 'up-sess-B', '2025-01-02 10:00:00');"
	    "INSERT INTO channel_prefs (channel_id, model, verbose, trigger_mode,"
	    " threaded_replies, permission_mode, reasoning_effort, session_mode,"
	    " disabled_skills, provider) VALUES"
	    " ('chA', 'claude-x', 1, 'all', 0, 'autopilot', 'high', 'plan',"
	    "  '[\"web\"]', 'ollama'),"
	    " ('chB', NULL, NULL, NULL, NULL, 'turbo', NULL, NULL, NULL, NULL),"
	    " ('chC', 'gpt-y', NULL, NULL, NULL, NULL, NULL, NULL, 'nope', NULL);"
	    "INSERT INTO permission_rules (scope, tool, command_pattern, action)"
	    " VALUES ('global', 'shell', 'git', 'allow'),"
	    " ('chA', 'shell', 'rm', 'deny'), ('chA', 'write', '*', 'allow');"
	    "INSERT INTO settings VALUES ('streamer_mode', 'true');"
	    "INSERT INTO workspace_overrides (bot_name, working_directory,"
	    " allow_paths) VALUES ('alice', '/srv/alice', '[\"/data\"]'),"
	    " ('bob', '/srv/bob', 'not json');"
	    "INSERT INTO dynamic_channels (channel_id, platform, name, bot,"
	    " working_directory, is_dm) VALUES"
	    " ('dyn1', 'mattermost', 'proj', 'alice', '/srv/proj', 0),"
	    " ('dyn2', 'discord', 'x', 'alice', '/srv/x', 0);"
	    "INSERT INTO agent_calls (caller_bot, target_bot, success) VALUES"
	    " ('alice', 'bob', 1);"
	    "INSERT INTO scheduled_tasks (id, channel_id, bot_name, prompt,"
	    " cron_expr) VALUES ('task-1', 'chA', 'alice', 'daily report',"
	    " '0 9 * * *');"
	    "INSERT INTO scheduled_task_history (task_id, channel_id, prompt,"
	    " status, fired_at) VALUES"
	    " ('task-1', 'chA', 'daily report', 'success', '2025-02-01 09:00:00'),"
	    " ('task-1', 'chA', 'daily report', 'error', '2025-02-02 09:00:00');");
	sqlite3_close(h);
}

static const struct db_import_table *
table(const struct db_report *r, const char *name)
{
	size_t	i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->t[i].table, name) == 0)
			return (&r->t[i]);
	fail_msg("no %s in the report", name);
	return (NULL);
}

static void
counts(const struct db_report *r, const char *name, unsigned int taken,
    unsigned int kept, unsigned int skipped)
{
	const struct db_import_table	*t = table(r, name);

	if (t->taken != taken || t->kept != kept || t->skipped != skipped)
		fail_msg("%s: %u taken, %u kept, %u skipped; want %u, %u, %u "
		    "(%s)", name, t->taken, t->kept, t->skipped, taken, kept,
		    skipped, t->nwhy > 0 ? t->why[0] : t->note);
}

static void
test_import_upstream(void **state)
{
	struct fix		*f = *state;
	struct db_report	 r;
	char			 err[DB_ERR_MAX];
	struct db		*db;
	sqlite3			*h;
	FILE			*fp;
	char			 out[4096];

	build_upstream(f->up);
	db = open_ok(f);
	/* This bridge already serves chB in another session: kept. */
	assert_int_equal(db_put_session(db, "chB", NULL, "mattermost:a",
	    "ours-B"), 0);
	assert_int_equal(db_import_upstream(db, f->up, &r, err, sizeof(err)), 0);
	counts(&r, "channel_sessions", 1, 1, 0);
	counts(&r, "channel_prefs", 1, 0, 2);
	counts(&r, "permission_rules", 3, 0, 0);
	counts(&r, "settings", 1, 0, 0);
	counts(&r, "workspace_overrides", 1, 0, 1);
	counts(&r, "dynamic_channels", 1, 0, 1);
	counts(&r, "scheduled_tasks", 1, 0, 0);
	counts(&r, "scheduled_task_history", 2, 0, 0);
	counts(&r, "agent_calls", 0, 0, 1);
	assert_non_null(strstr(table(&r, "agent_calls")->note, "not imported"));
	assert_int_equal(table(&r, "channel_prefs")->nwhy, 2);
	fp = fmemopen(out, sizeof(out), "w");
	db_report_print(&r, fp);
	fclose(fp);
	assert_non_null(strstr(out, "chB: permission_mode \"turbo\" is not "
	    "one of interactive, autopilot"));
	assert_non_null(strstr(out, "chC: disabled_skills \"nope\" is not a "
	    "JSON array"));
	assert_non_null(strstr(out, "dyn2: platform \"discord\""));
	db_report_free(&r);
	assert_string_equal(load_all(db),
	    "session chA/- - up-sess-A\n"
	    "session chB/- mattermost:a ours-B\n"
	    "pref chA model=claude-x\n"
	    "pref chA verbose=1\n"
	    "pref chA trigger_mode=all\n"
	    "pref chA threaded_replies=0\n"
	    "pref chA permission_mode=autopilot\n"
	    "pref chA reasoning_effort=high\n"
	    "pref chA session_mode=plan\n"
	    "pref chA disabled_skills=[\"web\"]\n"
	    "pref chA provider=ollama\n"
	    "rule 1 global shell git allow\n"
	    "rule 2 chA shell rm deny\n"
	    "rule 3 chA write * allow\n"
	    "setting streamer_mode=true\n"
	    "workspace alice /srv/alice [\"/data\"]\n");

	/* Idempotent: a second run takes nothing. */
	assert_int_equal(db_import_upstream(db, f->up, &r, err, sizeof(err)), 0);
	counts(&r, "channel_sessions", 0, 2, 0);
	counts(&r, "channel_prefs", 0, 1, 2);
	counts(&r, "permission_rules", 0, 3, 0);
	counts(&r, "settings", 0, 1, 0);
	counts(&r, "workspace_overrides", 0, 1, 1);
	counts(&r, "dynamic_channels", 0, 1, 1);
	counts(&r, "scheduled_tasks", 0, 1, 0);
	counts(&r, "scheduled_task_history", 0, 2, 0);
	db_report_free(&r);
	db_close(db);
	h = raw_open(state_path(f, DB_FILE));
	assert_string_equal(raw_get(h, "SELECT count(*) FROM "
	    "scheduled_task_history"), "2");
	assert_string_equal(raw_get(h, "SELECT created_at FROM channel_sessions "
	    "WHERE channel_id = 'chA'"), "2025-01-01 10:00:00");
	assert_string_equal(raw_get(h, "SELECT cron_expr FROM scheduled_tasks"),
	    "0 9 * * *");
	sqlite3_close(h);
}

static void
test_import_is_all_or_nothing(void **state)
{
	struct fix		*f = *state;
	struct db_report	 r;
	char			 err[DB_ERR_MAX];
	struct db		*db;
	sqlite3			*h;

	build_upstream(f->up);
	db_close(open_ok(f));
	/* The last table's insert fails: nothing of the earlier ones stays. */
	h = raw_open(state_path(f, DB_FILE));
	raw_exec(h, "CREATE TRIGGER boom BEFORE INSERT ON scheduled_task_history "
	    "BEGIN SELECT RAISE(ABORT, 'no room for history'); END");
	sqlite3_close(h);
	db = open_ok(f);
	assert_int_equal(db_import_upstream(db, f->up, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no room for history"));
	assert_non_null(strstr(err, "nothing was imported"));
	assert_string_equal(load_all(db), "");
	db_close(db);
}

static void
test_import_from_older_upstream(void **state)
{
	struct fix		*f = *state;
	struct db_report	 r;
	char			 err[DB_ERR_MAX];
	struct db		*db;
	sqlite3			*h = raw_open(f->up);

	raw_exec(h, upstream_first_ddl);
	raw_exec(h, "INSERT INTO channel_prefs (channel_id, model) VALUES "
	    "('chA', 'm1'); INSERT INTO channel_sessions (channel_id, "
	    "session_id) VALUES ('chA', 's1')");
	sqlite3_close(h);
	db = open_ok(f);
	assert_int_equal(db_import_upstream(db, f->up, &r, err, sizeof(err)), 0);
	counts(&r, "channel_prefs", 1, 0, 0);
	assert_int_equal(table(&r, "dynamic_channels")->present, 0);
	db_report_free(&r);
	/* Its NOT NULL defaults came along as values. */
	assert_string_equal(load_all(db), "session chA/- - s1\n"
	    "pref chA model=m1\npref chA verbose=0\npref chA trigger_mode=mention\n"
	    "pref chA threaded_replies=1\npref chA permission_mode=interactive\n");
	db_close(db);
}

static void
test_upstream_database_in_place_is_adopted(void **state)
{
	struct fix	*f = *state;
	struct db	*db;
	sqlite3		*h;

	/* Upstream's stateDir is ours by default: its state.db is there. */
	h = raw_open(state_path(f, DB_FILE));
	raw_exec(h, upstream_first_ddl);
	raw_exec(h, "INSERT INTO channel_prefs (channel_id) VALUES ('chA'); "
	    "INSERT INTO channel_sessions (channel_id, session_id) VALUES "
	    "('chA', 's1')");
	sqlite3_close(h);
	db = open_ok(f);
	/* Upstream's later columns added, its NOT NULLs dropped. */
	assert_int_equal(db_put_pref(db, "chA", "reasoning_effort", "low"), 0);
	assert_int_equal(db_put_pref(db, "chA", "verbose", NULL), 0);
	assert_string_equal(load_all(db), "session chA/- - s1\n"
	    "pref chA trigger_mode=mention\npref chA threaded_replies=1\n"
	    "pref chA permission_mode=interactive\n"
	    "pref chA reasoning_effort=low\n");
	db_close(db);
	h = raw_open(state_path(f, DB_FILE));
	assert_int_equal(atoi(raw_get(h, "PRAGMA user_version")), DB_VERSION);
	sqlite3_close(h);
}

/*
 * A database of schema version 1 (this bridge before the seen ids: the
 * same tables, bridge_cursors without seen_ids) is brought forward on
 * open, its rows kept.
 */
static void
test_version_1_gains_the_seen_ids(void **state)
{
	struct fix	*f = *state;
	struct db	*db;
	sqlite3		*h;

	db = open_ok(f);
	assert_int_equal(db_put_session(db, "c1", NULL, "mattermost:a", "s1"), 0);
	assert_int_equal(db_put_cursor(db, "c1", "mattermost:a", 700, NULL), 0);
	db_close(db);
	h = raw_open(state_path(f, DB_FILE));
	raw_exec(h, "ALTER TABLE bridge_cursors DROP COLUMN seen_ids; "
	    "PRAGMA user_version = 1");
	assert_string_equal(raw_get(h, "SELECT count(*) FROM "
	    "pragma_table_info('bridge_cursors') WHERE name = 'seen_ids'"), "0");
	sqlite3_close(h);

	db = open_ok(f);
	assert_string_equal(load_all(db), "session c1/- mattermost:a s1\n"
	    "cursor c1 mattermost:a 700\n");
	assert_int_equal(db_put_cursor(db, "c1", "mattermost:a", 800,
	    "[[\"p8\",800]]"), 0);
	assert_string_equal(load_all(db), "session c1/- mattermost:a s1\n"
	    "cursor c1 mattermost:a 800 [[\"p8\",800]]\n");
	db_close(db);
	h = raw_open(state_path(f, DB_FILE));
	assert_int_equal(atoi(raw_get(h, "PRAGMA user_version")), DB_VERSION);
	assert_string_equal(raw_get(h, "SELECT type FROM pragma_table_info("
	    "'bridge_cursors') WHERE name = 'seen_ids'"), "TEXT");
	sqlite3_close(h);
}

/* A version 1 database made before thread sessions gains their table. */
static void
test_version_1_gains_thread_sessions(void **state)
{
	struct fix	*f = *state;
	struct db	*db;
	sqlite3		*h;

	db = open_ok(f);
	db_close(db);
	h = raw_open(state_path(f, DB_FILE));
	raw_exec(h, "DROP TABLE bridge_thread_sessions; "
	    "ALTER TABLE bridge_cursors DROP COLUMN seen_ids; "
	    "PRAGMA user_version = 1");
	sqlite3_close(h);

	db = open_ok(f);
	assert_int_equal(db_put_session(db, "c1", "r1", "mattermost:a", "s1"),
	    0);
	assert_string_equal(load_all(db), "session c1/r1 mattermost:a s1\n");
	db_close(db);
	h = raw_open(state_path(f, DB_FILE));
	assert_int_equal(atoi(raw_get(h, "PRAGMA user_version")), DB_VERSION);
	sqlite3_close(h);
}

static void
test_import_refuses_what_it_cannot_read(void **state)
{
	struct fix		*f = *state;
	struct db_report	 r;
	char			 err[DB_ERR_MAX], path[160];
	struct db		*db = open_ok(f);
	sqlite3			*h;

	snprintf(path, sizeof(path), "%s/none.db", f->dir);
	assert_int_equal(db_import_upstream(db, path, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	write_file(f->up, "this is not a database, it is a text file\n");
	assert_int_equal(db_import_upstream(db, f->up, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, f->up));
	assert_non_null(strstr(err, "file is not a database"));
	unlink(f->up);
	h = raw_open(f->up);
	raw_exec(h, "CREATE TABLE something_else (x)");
	sqlite3_close(h);
	assert_int_equal(db_import_upstream(db, f->up, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a copilot-bridge state database"));
	assert_int_equal(db_import_upstream(db, state_path(f, DB_FILE), &r, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "this bridge's own database"));
	db_close(db);
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fresh_has_upstreams_tables),
		T(test_newer_schema_is_refused),
		T(test_corrupt_file_is_a_clear_error),
		T(test_damaged_database_is_a_clear_error),
		T(test_locked_database_is_a_clear_error),
		T(test_writes_then_load),
		T(test_tasks_runs_and_calls),
		T(test_value_checks),
		T(test_legacy_json_is_migrated_once),
		T(test_corrupt_legacy_json_is_moved_aside),
		T(test_legacy_parser_bad_input),
		T(test_import_upstream),
		T(test_import_is_all_or_nothing),
		T(test_import_from_older_upstream),
		T(test_upstream_database_in_place_is_adopted),
		T(test_version_1_gains_the_seen_ids),
		T(test_version_1_gains_thread_sessions),
		T(test_import_refuses_what_it_cannot_read),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
