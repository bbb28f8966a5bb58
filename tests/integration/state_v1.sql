-- A state.db of schema version 1, written by copilot-bridge before the
-- seen ids (commit 0cb3e35): one answered post in town-square (its cursor
-- set back to 2023, so that it is older than any clock this runs on).
-- tests/integration/test_restart_dedup.py opens it with this version.
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE agent_calls (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  caller_bot TEXT NOT NULL,
  target_bot TEXT NOT NULL,
  target_agent TEXT,
  message_summary TEXT,
  response_summary TEXT,
  duration_ms INTEGER,
  success INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  chain_id TEXT,
  depth INTEGER DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE bridge_cursors (
  channel_id TEXT NOT NULL,
  bot TEXT NOT NULL,
  cursor_ms INTEGER NOT NULL,
  PRIMARY KEY (channel_id, bot)
);
INSERT INTO "bridge_cursors" VALUES('tq4kdky1zf5367zz7kk4cfg3ua','mattermost:a',1700000000000);
CREATE TABLE bridge_session_bots (
  channel_id TEXT PRIMARY KEY REFERENCES channel_sessions(channel_id)
    ON DELETE CASCADE,
  bot TEXT NOT NULL
);
INSERT INTO "bridge_session_bots" VALUES('tq4kdky1zf5367zz7kk4cfg3ua','mattermost:a');
CREATE TABLE bridge_thread_sessions (
  channel_id TEXT NOT NULL,
  thread_root TEXT NOT NULL,
  session_id TEXT NOT NULL,
  bot TEXT,
  created_at TEXT NOT NULL DEFAULT (datetime('now')),
  PRIMARY KEY (channel_id, thread_root)
);
CREATE TABLE channel_prefs (
  channel_id TEXT PRIMARY KEY,
  model TEXT,
  agent TEXT,
  verbose INTEGER,
  trigger_mode TEXT,
  threaded_replies INTEGER,
  permission_mode TEXT,
  reasoning_effort TEXT,
  updated_at TEXT NOT NULL DEFAULT (datetime('now'))
, session_mode TEXT, disabled_skills TEXT, provider TEXT);
CREATE TABLE channel_sessions (
  channel_id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
INSERT INTO "channel_sessions" VALUES('tq4kdky1zf5367zz7kk4cfg3ua','echo-tq4kdky1zf5367zz7kk4cfg3ua-1','2026-12-03 17:00:40');
CREATE TABLE dynamic_channels (
  channel_id TEXT PRIMARY KEY,
  platform TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  bot TEXT,
  working_directory TEXT NOT NULL,
  agent TEXT,
  model TEXT,
  trigger_mode TEXT,
  threaded_replies INTEGER,
  verbose INTEGER,
  is_dm INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (datetime('now')),
  updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE permission_rules (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  scope TEXT NOT NULL DEFAULT 'global',
  tool TEXT NOT NULL,
  command_pattern TEXT NOT NULL DEFAULT '*',
  action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE scheduled_task_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  prompt TEXT NOT NULL,
  description TEXT,
  status TEXT NOT NULL DEFAULT 'success',
  fired_at TEXT NOT NULL DEFAULT (datetime('now')),
  error TEXT
, timezone TEXT NOT NULL DEFAULT 'UTC');
CREATE TABLE scheduled_tasks (
  id TEXT PRIMARY KEY,
  channel_id TEXT NOT NULL,
  bot_name TEXT NOT NULL,
  prompt TEXT NOT NULL,
  cron_expr TEXT,
  run_at TEXT,
  timezone TEXT NOT NULL DEFAULT 'UTC',
  created_by TEXT,
  description TEXT,
  enabled INTEGER NOT NULL DEFAULT 1,
  last_run TEXT,
  next_run TEXT,
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE workspace_overrides (
  bot_name TEXT PRIMARY KEY,
  working_directory TEXT NOT NULL,
  allow_paths TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX idx_perm_scope ON permission_rules(scope);
CREATE INDEX idx_perm_tool ON permission_rules(tool);
CREATE INDEX idx_agent_calls_created ON agent_calls(created_at);
CREATE INDEX idx_agent_calls_chain ON agent_calls(chain_id);
CREATE INDEX idx_sched_channel ON scheduled_tasks(channel_id);
CREATE INDEX idx_sched_enabled ON scheduled_tasks(enabled);
CREATE INDEX idx_sched_hist_task ON scheduled_task_history(task_id);
CREATE INDEX idx_sched_hist_channel ON scheduled_task_history(channel_id);
DELETE FROM "sqlite_sequence";
COMMIT;
