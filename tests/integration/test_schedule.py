"""Scheduled tasks with the real runtime and the fake LLM: the agent calls
the schedule tool, the task fires into its channel like a user message
(quiet: no placeholder), once; a recurring task keeps its slots across a
/reload bot, a sessiond kill -9 and never runs one twice; a run due while
the bridge was stopped runs once at start within the grace period, and is
recorded as missed beyond it; /schedule lists, pauses, resumes and shows
the history.

Minute slots come seconds apart with COPILOT_BRIDGE_TEST_CLOCK, the
scheduler's test clock (a test setting, off in production)."""

import datetime
import json
import os
import re
import signal
import sqlite3
import time

import pytest

from bridge import wait_for
from llm import RUNTIME, copilot_chat

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")


def iso_in(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def db_rows(chat, sql, *args):
    con = sqlite3.connect(str(chat.bridge.tmp / "state" / "state.db"),
                          timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def live(chat):
    return [p["message"] for p in chat.bot_posts() if not p.get("delete_at")]


def count(chat, text):
    return sum(1 for m in live(chat) if m == text)


def warm_up(chat):
    """A first turn, so the session is open before times matter."""
    chat.say("hello")
    chat.wait_text(lambda t: t == "echo: hello", timeout=90)


def create(chat, args, say):
    """The agent creates a task with args; returns the tool's result."""
    chat.llm.script([
        {"match": say, "times": 1, "tool_call": {"name": "schedule",
                                                  "arguments": args}},
        {"when": "tool", "times": 1, "reply": "scheduled: {tool_result}"}])
    before = {p["id"] for p in chat.bot_posts()}
    chat.say(say)
    post = wait_for(lambda: next((p for p in chat.bot_posts()
                                  if p["id"] not in before and
                                  p["message"].startswith("scheduled: ")),
                                 None), timeout=60, step=0.1,
                    what="the tool's result")
    return json.loads(post["message"][len("scheduled: "):])


@pytest.fixture
def chat(bridge_factory, tmp_path, monkeypatch):
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch)
    yield c
    c.close()


def test_a_one_off_task_fires_once(chat):
    warm_up(chat)
    res = create(chat, {"action": "create", "prompt": "one-off ping",
                        "run_at": iso_in(2), "description": "ping"},
                 "schedule a ping")
    assert res["success"] is True and res["type"].startswith("one-off (")
    assert res["timezone"] == "UTC" and res["description"] == "ping"
    chat.wait_text(lambda t: t == "echo: one-off ping", timeout=60)
    time.sleep(3)
    assert count(chat, "echo: one-off ping") == 1
    # Quiet: no "Working..." placeholder was ever posted for it.
    assert not any("Working" in m for m in live(chat)[1:] if "ping" in m)
    wait_for(lambda: db_rows(chat, "SELECT status FROM scheduled_task_history "
                             "WHERE task_id = ?", res["id"]) == [("success",)],
             timeout=30, what="the run recorded as a success")
    assert db_rows(chat, "SELECT id FROM scheduled_tasks") == []
    prompts = [m for r in chat.llm.requests() for m in r["messages"]
               if m.get("role") == "user" and "one-off ping" in str(m)]
    assert len({json.dumps(m) for m in prompts}) == 1


def test_bad_schedules_are_refused_with_the_reason(chat):
    warm_up(chat)
    chat.llm.script([
        {"match": "bad cron", "times": 1, "tool_call": {
            "name": "schedule", "arguments": {"action": "create",
                                              "prompt": "x", "cron": "61 * * * *"}}},
        {"match": "past", "times": 1, "tool_call": {
            "name": "schedule", "arguments": {
                "action": "create", "prompt": "x",
                "run_at": "2001-01-01T00:00:00Z"}}},
        {"match": "bad zone", "times": 1, "tool_call": {
            "name": "schedule", "arguments": {
                "action": "create", "prompt": "x", "cron": "0 9 * * *",
                "timezone": "Mars/Base"}}},
        {"when": "tool", "reply": "result: {tool_result}"}])
    chat.say("bad cron please")
    chat.wait_text(lambda t: t.startswith("result: Schedule error: ") and
                   "out of range" in t, timeout=60)
    chat.say("a time in the past")
    chat.wait_text(lambda t: "run_at must be in the future" in t, timeout=60)
    chat.say("bad zone")
    chat.wait_text(lambda t: "unknown time zone \"Mars/Base\"" in t,
                   timeout=60)
    assert db_rows(chat, "SELECT id FROM scheduled_tasks") == []


def test_schedule_command(chat):
    warm_up(chat)
    res = create(chat, {"action": "create", "prompt": "daily report",
                        "cron": "0 9 * * 1-5", "timezone": "Europe/Paris",
                        "description": "Daily report"}, "every weekday")
    tid = res["id"]
    assert res["type"] == "recurring (0 9 * * 1-5)"
    assert re.search(r" at 9:00 AM CES?T$", res["nextRun"]), res
    chat.say("/schedule")
    chat.wait_text(lambda t: t.startswith("📋 **Scheduled Tasks**") and
                   f"✅ **Daily report** — At 09:00 AM, Monday through "
                   f"Friday\n   ID: `{tid}` | Next: " in t, timeout=30)
    chat.say(f"/schedule pause {tid}")
    chat.wait_text(lambda t: t == f"⏸️ Task `{tid}` paused.", timeout=30)
    assert db_rows(chat, "SELECT enabled FROM scheduled_tasks WHERE id = ?",
                   tid) == [(0,)]
    chat.say("/tasks list")
    chat.wait_text(lambda t: "⏸️ **Daily report**" in t, timeout=30)
    chat.say(f"/schedules resume {tid}")
    chat.wait_text(lambda t: t == f"▶️ Task `{tid}` resumed.", timeout=30)
    assert db_rows(chat, "SELECT enabled FROM scheduled_tasks WHERE id = ?",
                   tid) == [(1,)]
    chat.say("/schedule pause")
    chat.wait_text(lambda t: t == "⚠️ Usage: `/schedule pause <id>`",
                   timeout=30)
    chat.say("/schedule resume nosuch")
    chat.wait_text(lambda t: t == "⚠️ Task `nosuch` not found.", timeout=30)
    chat.say("/schedule frobnicate")
    chat.wait_text(lambda t: t == "⚠️ Usage: `/schedule [list|cancel|pause|"
                   "resume|history] [id]`", timeout=30)
    chat.say("/schedule history")
    chat.wait_text(lambda t: t == "📋 No task history for this channel.",
                   timeout=30)
    # A run, then the history shows it.
    res2 = create(chat, {"action": "create", "prompt": "history ping",
                         "run_at": iso_in(2)}, "once more")
    chat.wait_text(lambda t: t == "echo: history ping", timeout=60)
    wait_for(lambda: db_rows(chat, "SELECT status FROM scheduled_task_history "
                             "WHERE task_id = ?", res2["id"]) == [("success",)],
             timeout=30, what="the run recorded")
    chat.say("/schedule log 5")
    chat.wait_text(lambda t: t.startswith("📋 **Task History** (last 1)\n✅ "
                                          "history ping — "), timeout=30)
    chat.say(f"/schedule delete {tid}")
    chat.wait_text(lambda t: t == f"🗑️ Task `{tid}` cancelled.", timeout=30)
    chat.say("/schedule list")
    chat.wait_text(lambda t: t == "📋 No scheduled tasks for this channel.",
                   timeout=30)
    assert db_rows(chat, "SELECT id FROM scheduled_tasks") == []


@pytest.fixture
def fast_chat(bridge_factory, tmp_path, monkeypatch):
    # A minute of the scheduler's clock is 6 s here.
    monkeypatch.setenv("COPILOT_BRIDGE_TEST_CLOCK",
                       "%d:10" % int(time.time() * 1000))
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch)
    yield c
    c.close()


def runs(chat, tid):
    return db_rows(chat, "SELECT status, fired_at FROM scheduled_task_history "
                   "WHERE task_id = ? ORDER BY id", tid)


def test_a_minute_task_across_reload_and_kill(fast_chat):
    chat = fast_chat
    warm_up(chat)
    res = create(chat, {"action": "create", "prompt": "minute tick",
                        "cron": "* * * * *"}, "every minute")
    tid = res["id"]

    def ran(n):
        return lambda: len([r for r in runs(chat, tid)
                            if r[0] != "missed"]) >= n
    wait_for(ran(1), timeout=60, step=0.2, what="the first run")
    chat.say("/reload bot a")
    chat.wait_text(lambda t: "Reloaded" in t or "reloaded" in t, timeout=60)
    n = len(runs(chat, tid))
    wait_for(ran(n + 1), timeout=60, step=0.2, what="a run after the reload")
    old = chat.bridge.sessiond()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: chat.bridge.sessiond() not in (None, old), timeout=30,
             what="sessiond restarted")
    n = len(runs(chat, tid))
    wait_for(ran(n + 2), timeout=90, step=0.2,
             what="two runs after the kill")
    rows = runs(chat, tid)
    fired = [r[1][:16] for r in rows if r[0] != "missed"]
    # Never two runs in one minute slot of the scheduler's clock.
    assert len(fired) == len(set(fired)), rows
    assert db_rows(chat, "SELECT count(*) FROM scheduled_tasks WHERE id = ?",
                   tid) == [(1,)]


def test_a_run_missed_while_stopped_runs_once_at_start(chat):
    warm_up(chat)
    res = create(chat, {"action": "create", "prompt": "while away",
                        "run_at": iso_in(3)}, "later on")
    chat.bridge.stop()
    time.sleep(5)
    chat.bridge.start()
    chat.wait_text(lambda t: t == "echo: while away", timeout=90)
    wait_for(lambda: runs(chat, res["id"])[:1] == [("success", runs(
        chat, res["id"])[0][1])], timeout=30, what="the run recorded")
    time.sleep(2)
    assert count(chat, "echo: while away") == 1
    assert len(runs(chat, res["id"])) == 1


def test_a_run_missed_beyond_the_grace_is_recorded(bridge_factory, tmp_path,
                                                   monkeypatch):
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch,
                        tweak=lambda cfg, c: cfg.update(
                            scheduler={"graceSeconds": 1}))
    try:
        warm_up(chat)
        res = create(chat, {"action": "create", "prompt": "too late",
                            "run_at": iso_in(3), "description": "Late one"},
                     "soon")
        chat.bridge.stop()
        time.sleep(6)
        chat.bridge.start()
        chat.wait_text(lambda t: t == "⏰ **Missed 1 scheduled task(s)** "
                       "while offline:\n- Late one", timeout=60)
        wait_for(lambda: [r[0] for r in runs(chat, res["id"])] == ["missed"],
                 timeout=30, what="the run recorded as missed")
        assert count(chat, "echo: too late") == 0
        assert db_rows(chat, "SELECT id FROM scheduled_tasks") == []
    finally:
        chat.close()
