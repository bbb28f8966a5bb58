"""sessiond's persisted state, <stateDir>/state.db, through the whole tree
with the echo backend (the session id is what matters here): the previous
version's sessions.json migrated, sessions kept across restarts, a damaged
database survived, an upstream state.db imported with `import-state`, and
the event loop kept free of disk syncs."""

import asyncio
import datetime
import json
import os
import re
import sqlite3
import subprocess
import time

import pytest

from bridge import BIN, Bridge, FakeMM, fake_mm_seed, mm_config, wait_for
from conftest import SANITIZER_MARKS

# Upstream copilot-bridge v0.15.0's tables, as its SqliteStateStore creates
# them (CREATE, then its ALTERs).
UPSTREAM_DDL = """
CREATE TABLE channel_sessions (channel_id TEXT PRIMARY KEY, session_id TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE TABLE channel_prefs (channel_id TEXT PRIMARY KEY, model TEXT, agent TEXT,
  verbose INTEGER, trigger_mode TEXT, threaded_replies INTEGER, permission_mode TEXT,
  reasoning_effort TEXT, updated_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE TABLE permission_rules (id INTEGER PRIMARY KEY AUTOINCREMENT,
  scope TEXT NOT NULL DEFAULT 'global', tool TEXT NOT NULL,
  command_pattern TEXT NOT NULL DEFAULT '*',
  action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),
  created_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE TABLE workspace_overrides (bot_name TEXT PRIMARY KEY, working_directory TEXT NOT NULL,
  allow_paths TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE dynamic_channels (channel_id TEXT PRIMARY KEY, platform TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '', bot TEXT, working_directory TEXT NOT NULL, agent TEXT,
  model TEXT, trigger_mode TEXT, threaded_replies INTEGER, verbose INTEGER,
  is_dm INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL DEFAULT (datetime('now')),
  updated_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE TABLE agent_calls (id INTEGER PRIMARY KEY AUTOINCREMENT, caller_bot TEXT NOT NULL,
  target_bot TEXT NOT NULL, target_agent TEXT, message_summary TEXT, response_summary TEXT,
  duration_ms INTEGER, success INTEGER NOT NULL DEFAULT 0, error TEXT, chain_id TEXT,
  depth INTEGER DEFAULT 0, created_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE TABLE scheduled_tasks (id TEXT PRIMARY KEY, channel_id TEXT NOT NULL,
  bot_name TEXT NOT NULL, prompt TEXT NOT NULL, cron_expr TEXT, run_at TEXT,
  timezone TEXT NOT NULL DEFAULT 'UTC', created_by TEXT, description TEXT,
  enabled INTEGER NOT NULL DEFAULT 1, last_run TEXT, next_run TEXT,
  created_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE TABLE scheduled_task_history (id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL, channel_id TEXT NOT NULL, prompt TEXT NOT NULL, description TEXT,
  status TEXT NOT NULL DEFAULT 'success', fired_at TEXT NOT NULL DEFAULT (datetime('now')),
  error TEXT);
ALTER TABLE scheduled_task_history ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE channel_prefs ADD COLUMN session_mode TEXT;
ALTER TABLE channel_prefs ADD COLUMN disabled_skills TEXT;
ALTER TABLE channel_prefs ADD COLUMN provider TEXT;
"""


@pytest.fixture
def chat(bridge_factory, tmp_path):
    """A bridge (not started) with bot a in town-square, answering all."""
    mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a",), humans=("alice", "bob")))

    class Chat:
        pass
    c = Chat()
    c.mm = mm
    c.chan = mm.channel("town-square")["id"]
    c.bot_id = mm.user("a")["id"]
    c.cfg = mm_config(tmp_path, mm, bots=("a",))
    c.cfg["channels"][0].update(id=c.chan, triggerMode="all", threadedReplies=False)
    c.state = tmp_path / "state"
    c.db = c.state / "state.db"
    c.bridge = bridge_factory(config=c.cfg, start=False)

    def bot_posts():
        posts = mm.control("GET", f"/channels/{c.chan}/posts")["posts"]
        return [p for p in posts if p["user_id"] == c.bot_id]

    c.say = lambda text, user="alice": mm.post(user, c.chan, text)
    c.wait_text = lambda pred, timeout=10: wait_for(
        lambda: next((p for p in bot_posts() if pred(p["message"])), None),
        timeout=timeout, step=0.05, what="a bot post")
    c.slog = lambda: c.bridge.log("sessiond.log")
    yield c
    c.bridge.stop()
    mm.stop()


def import_state(chat, *args):
    return subprocess.run(
        [os.path.join(BIN, "copilot-bridge"), "import-state", "-c",
         str(chat.bridge.cfgpath), *args], capture_output=True, text=True,
        timeout=30)


def test_previous_sessions_json_is_migrated_and_resumed(chat):
    chat.state.mkdir()
    cursor = int(time.time() * 1000) - 60000
    (chat.state / "sessions.json").write_text(json.dumps(
        {"version": 1, "channels": {chat.chan: {
            "sessionId": "echo-from-before", "bot": "mattermost:a",
            "cursor": cursor}}}))
    chat.bridge.start()
    chat.say("after the upgrade")
    chat.wait_text(lambda t: t == "after the upgrade")
    slog = chat.slog()
    assert "migrated 1 session(s) and 1 catch-up cursor(s)" in slog
    assert f"channel {chat.chan}: resuming session echo-from-before" in slog
    assert "link mattermost:a g1: 1 channel cursor(s)" in slog
    assert not (chat.state / "sessions.json").exists()
    assert (chat.state / "sessions.json.migrated").exists()
    with sqlite3.connect(chat.db) as db:
        assert db.execute("SELECT session_id FROM channel_sessions WHERE "
                          "channel_id = ?", (chat.chan,)).fetchone() == \
            ("echo-from-before",)
        assert db.execute("SELECT bot FROM bridge_session_bots").fetchone() == \
            ("mattermost:a",)


def test_sessions_are_kept_across_a_restart(chat):
    chat.bridge.start()
    chat.say("first")
    chat.wait_text(lambda t: t == "first")
    sid = re.search(r"session (\S+) open", chat.slog()).group(1)
    chat.bridge.stop()
    assert "state: " in chat.slog() and " not saved; longest " in chat.slog()
    chat.bridge.start()
    chat.say("second")
    chat.wait_text(lambda t: t == "second")
    assert f"resuming session {sid}" in chat.slog()


def test_a_damaged_database_is_reported_and_the_bot_answers(chat):
    chat.state.mkdir()
    junk = b"this is not a database " * 400
    chat.db.write_bytes(junk)
    chat.bridge.start()
    chat.say("still here")
    chat.wait_text(lambda t: t == "still here")
    line = next(ln for ln in chat.slog().splitlines() if "state: " in ln
                and "running without persistence" in ln)
    assert " ERROR " in line
    assert f"{chat.db}: cannot open it: file is not a database" in line
    assert chat.db.read_bytes() == junk
    # The same process keeps serving: another turn, no restart.
    pid = chat.bridge.sessiond()
    chat.say("and again")
    chat.wait_text(lambda t: t == "and again")
    assert chat.bridge.sessiond() == pid


def make_upstream(path, chan):
    db = sqlite3.connect(path)
    db.executescript(UPSTREAM_DDL)
    db.executescript(f"""
        INSERT INTO channel_sessions (channel_id, session_id) VALUES
          ('{chan}', 'echo-upstream-1'), ('other-channel', 'up-2');
        INSERT INTO channel_prefs (channel_id, model, permission_mode) VALUES
          ('{chan}', 'claude-sonnet-4', 'autopilot'),
          ('other-channel', NULL, 'turbo');
        INSERT INTO permission_rules (scope, tool, command_pattern, action) VALUES
          ('global', 'shell', 'git', 'allow'), ('{chan}', 'shell', 'rm', 'deny');
        INSERT INTO settings VALUES ('streamer_mode', 'true');
        INSERT INTO agent_calls (caller_bot, target_bot) VALUES ('a', 'b');
    """)
    db.commit()
    db.close()


def test_import_state_from_upstream(chat, tmp_path):
    up = tmp_path / "upstream-state.db"
    make_upstream(up, chat.chan)

    r = import_state(chat, str(up))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"channel_sessions +2 row\(s\): 2 taken, 0 already here "
                     r"\(kept\), 0 skipped", out), out
    assert re.search(r"channel_prefs +2 row\(s\): 1 taken, 0 already here "
                     r"\(kept\), 1 skipped", out), out
    assert 'skipped other-channel: permission_mode "turbo" is not one of ' \
        "interactive, autopilot" in out
    assert re.search(r"permission_rules +2 row\(s\): 2 taken", out), out
    assert re.search(r"agent_calls +1 row\(s\): not imported", out), out
    assert re.search(r"dynamic_channels +0 row\(s\): 0 taken", out), out

    again = import_state(chat, str(up))
    assert again.returncode == 0, again.stderr
    assert re.search(r"channel_sessions +2 row\(s\): 0 taken, 2 already here",
                     again.stdout), again.stdout
    assert re.search(r"permission_rules +2 row\(s\): 0 taken, 2 already here",
                     again.stdout), again.stdout

    chat.bridge.start()
    busy = import_state(chat, str(up))
    assert busy.returncode == 1
    assert "the bridge is running" in busy.stderr
    assert "--force" in busy.stderr and "in memory" in busy.stderr
    forced = import_state(chat, "--force", str(up))
    assert forced.returncode == 0, forced.stderr

    # The imported session is the channel's: its next message resumes it.
    chat.say("hello from upstream")
    chat.wait_text(lambda t: t == "hello from upstream")
    assert f"channel {chat.chan}: resuming session echo-upstream-1" in chat.slog()

    bad = import_state(chat, "--force", str(tmp_path / "nowhere.db"))
    assert bad.returncode == 1
    assert "nowhere.db: No such file or directory" in bad.stderr
    with sqlite3.connect(chat.db) as db:
        assert db.execute("SELECT count(*) FROM permission_rules").fetchone() == (2,)


def stalls(log, t0, t1):
    """The loop probe's lines logged in (t0, t1] (epoch seconds), each about
    the second before it: (its longest stall in ms, the part of it not
    spent waiting for a CPU, how many such parts were over 5 ms)."""
    out = []
    for ln in log.splitlines():
        m = re.match(r"(\S+) INFO .*loop: longest stall ([0-9.]+) ms, "
                     r"([0-9.]+) ms of it not waiting for a CPU, (\d+) such", ln)
        if not m:
            continue
        ts = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ") \
            .replace(tzinfo=datetime.timezone.utc).timestamp()
        if t0 < ts <= t1:
            out.append((float(m.group(2)), float(m.group(3)),
                        int(m.group(4))))
    return out


async def _flood(url, bodies, clients=8):
    import aiohttp
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=clients)) as http:
        queue = list(bodies)

        async def worker():
            while queue:
                async with http.post(f"{url}/_fake/post", json=queue.pop(0)) as r:
                    await r.read()
        await asyncio.gather(*(worker() for _ in range(clients)))


def burst(tmp, n=500, humans=10):
    """n prompts posted as fast as 8 clients can, spread over DMs with
    `humans` users (each DM's first message opens its session), into a
    bridge running the loop probe (COPILOT_BRIDGE_TEST_LOOP_PROBE must be
    in the environment).  Returns the probe's per-second longest stalls
    during the burst and before it, and the store's writes and
    transactions."""
    names = tuple(f"user{i}" for i in range(humans))
    mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=names))
    cfg = mm_config(tmp, mm, bots=("a",))
    cfg["logLevel"] = "info"
    b = Bridge(tmp, cfg).start()
    try:
        bot = mm.user("a")["id"]
        dms = {h: mm.channel(members=["a", h])["id"] for h in names}
        time.sleep(2.5)                      # idle seconds, for comparison
        t0 = time.time()
        bodies = [{"user": names[i % humans], "channel": dms[names[i % humans]],
                   "message": f"burst {i}"} for i in range(n)]
        asyncio.run(_flood(mm.url, bodies))

        def answered():
            got = set()
            for ch in dms.values():
                for p in mm.control("GET", f"/channels/{ch}/posts")["posts"]:
                    if p["user_id"] == bot:
                        got.update(p["message"].split("\n\n"))
            return sum(1 for body in bodies if body["message"] in got)
        wait_for(lambda: answered() == n, timeout=90, step=0.5,
                 what=f"{n} answers")
        t1 = time.time()
        got = answered()
        time.sleep(1.1)                      # the probe's last line
    finally:
        b.stop()
        mm.stop()
    log = b.log("sessiond.log")
    m = re.search(r"state: (\d+) write\(s\) in (\d+) transaction\(s\)", log)
    return {"prompts": n, "answered": got, "channels": humans,
            "seconds": round(t1 - t0, 2),
            "stalls": stalls(log, t0, t1 + 1),
            "idle_stalls": stalls(log, t0 - 2.5, t0),
            "writes": int(m.group(1)) if m else None,
            "transactions": int(m.group(2)) if m else None,
            "logs": b.all_logs()}


def test_state_writes_do_not_stall_the_loop(tmp_path, monkeypatch):
    """A 500-message burst over 10 DMs with the loop probe on: every
    message answered, the probe reporting, and the cursors saved coalesced
    (few writes, batched in transactions) by the writer thread.  How long
    the loop stalls is a figure of `make bench` (bench/state.py), not an
    assertion here: the machine is shared and ASan runs this too."""
    monkeypatch.setenv("COPILOT_BRIDGE_TEST_LOOP_PROBE", "1")
    r = burst(tmp_path, n=500, humans=10)
    for mark in SANITIZER_MARKS:
        assert mark not in r["logs"], r["logs"][-4000:]
    del r["logs"]
    assert r["answered"] == r["prompts"], r
    assert r["stalls"], "no probe line during the burst"
    # The cursor of every message was saved, coalesced: few writes.
    assert r["writes"] is not None and r["writes"] < 100, r
    assert r["transactions"] <= r["writes"], r
