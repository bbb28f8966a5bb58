"""The session's mode and plan with the real runtime and the fake LLM:
/autopilot, /plan and /implement over the runtime's mode and plan
requests, the "Plan ready" menu of the agent's exit_plan_mode answered by
the next message, /implement yolo taken back when its turn ends, and the
"Plan updated" notice.  The fake LLM can only answer text and tool calls,
so what is checked is what the runtime reports back: the tools it gives
the model in a mode (task_complete in autopilot), the "[[PLAN]]" it puts
before a prompt in plan mode, its tool results, its plan file."""

import json
import os
import sqlite3

import pytest

from bridge import wait_for
from llm import RUNTIME, copilot_chat

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")

PLAN = "# Fix the thing\n\nFirst do A, then B.\n"
PLAN_ON = ("📋 **Plan mode on** — messages will be handled as planning "
           "requests. The agent will create and update a plan before "
           "implementing.\n\nUse `/plan show` to view the plan, `/plan` to "
           "toggle off.")
PLAN_OFF = "📋 **Plan mode off** — back to interactive mode."
AUTOPILOT_ON = ("🤖 **Autopilot enabled** — autonomous agentic loop. Use "
                "`/autopilot` to toggle off.")
YOLO_WARNING = ("\n\n⚠️ Yolo is off — you'll still be prompted for tool "
                "permissions. Use `/yolo` to auto-approve.")
MENU = ("📋 **Plan ready**\n\nFix the thing in two steps\n\nHow would you like "
        "to proceed?\n"
        "1. ▶️ `/implement yolo` — autopilot + yolo (fully autonomous)\n"
        "2. 🚀 `/implement` — autopilot (with permission prompts)\n"
        "3. 🔧 `/implement interactive` — interactive mode\n"
        "4. ❌ `/plan off` — exit plan mode without implementing\n\n"
        "Or just keep chatting to continue refining the plan.")


@pytest.fixture
def chat(bridge_factory, tmp_path, monkeypatch):
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch)
    yield c
    c.close()


def db(chat, sql, args=()):
    with sqlite3.connect(chat.bridge.tmp / "state" / "state.db") as d:
        return d.execute(sql, args).fetchall()


def pref(chat, name):
    rows = db(chat, f"SELECT {name} FROM channel_prefs WHERE channel_id = ?",
              (chat.chan,))
    return rows[0][0] if rows else None


def session_id(chat):
    rows = db(chat, "SELECT session_id FROM channel_sessions WHERE "
                    "channel_id = ?", (chat.chan,))
    return rows[0][0] if rows else None


def plan_path(chat):
    return str(chat.bridge.tmp / "copilot-home" / "session-state" /
               session_id(chat) / "plan.md")


def tools_of(req):
    return {t["function"]["name"] for t in req.get("tools", [])}


def user_texts(req):
    out = []
    for m in req["messages"]:
        if m.get("role") == "user":
            c = m["content"]
            out.append(c if isinstance(c, str) else
                       " ".join(p.get("text", "") for p in c))
    return out


def tool_results(chat):
    return [m["content"] if isinstance(m["content"], str) else json.dumps(
        m["content"]) for r in chat.llm.requests() for m in r["messages"]
        if m.get("role") == "tool"]


def count(chat, text):
    return sum(p["message"] == text for p in chat.bot_posts())


def plan_on(chat):
    """Plan mode for a new session, and the script that writes PLAN and
    asks to leave plan mode (exit_plan_mode), then answers with rest."""
    chat.say("/plan on")
    chat.wait_text(lambda t: t == PLAN_ON, timeout=60)
    assert pref(chat, "session_mode") == "plan"


def planning_script(chat, *rest, exits=1):
    return [{"match": "make a plan", "times": 1, "tool_call": {
                "name": "create", "arguments": {"path": plan_path(chat),
                                                "file_text": PLAN}}},
            {"when": "tool", "match": "make a plan", "times": exits,
             "tool_call": {"name": "exit_plan_mode", "arguments": {
                 "summary": "Fix the thing in two steps"}}},
            *rest]


def test_autopilot_toggles_the_runtime_mode(chat):
    # In autopilot the runtime asks the model again until it calls
    # task_complete (which ends the turn): the answer goes with the call.
    chat.llm.script([{"match": "go", "reply": "finished: {last_user}",
                      "tool_call": {"name": "task_complete",
                                    "arguments": {"summary": "all done"}}}])
    chat.say("/autopilot")
    chat.wait_text(lambda t: t == AUTOPILOT_ON + YOLO_WARNING, timeout=60)
    assert pref(chat, "session_mode") == "autopilot"
    chat.say("go one")
    chat.wait_text(lambda t: t == "finished: go one", timeout=60)
    assert "task_complete" in tools_of(chat.llm.requests()[-1])
    # A new session is put in the channel's mode when it opens.
    sid = session_id(chat)
    chat.say("/new")
    chat.wait_text(lambda t: t == "✅ New session created.", timeout=60)
    assert session_id(chat) != sid
    chat.say("go two")
    chat.wait_text(lambda t: t == "finished: go two", timeout=60)
    assert "task_complete" in tools_of(chat.llm.requests()[-1])
    # And so is a session resumed by a new sessiond.
    chat.kill_sessiond()
    chat.say("go three")
    chat.wait_text(lambda t: t == "finished: go three", timeout=60)
    assert "task_complete" in tools_of(chat.llm.requests()[-1])
    chat.bridge.wait_log(r"session in autopilot mode", name="sessiond.log")
    chat.say("/auto")
    chat.wait_text(lambda t: t == "🛡️ **Autopilot off** — back to interactive "
                   "mode.", timeout=60)
    assert pref(chat, "session_mode") == "interactive"
    chat.say("plain now")
    chat.wait_text(lambda t: t == "echo: plain now", timeout=60)
    assert "task_complete" not in tools_of(chat.llm.requests()[-1])
    # With yolo on, no warning.
    chat.say("/yolo")
    chat.wait_text(lambda t: t.startswith("🤠 **Yolo enabled**"))
    chat.say("/autopilot")
    chat.wait_text(lambda t: t == AUTOPILOT_ON, timeout=60)


def answered_before(chat, answer, reply):
    """The post answer was last edited before the post reply was made: a
    command sent during the turn ran after it."""
    posts = chat.bot_posts()
    a = next(p for p in posts if p["message"] == answer)
    r = next(p for p in posts if p["message"] == reply)
    return a["update_at"] <= r["create_at"]


def test_autopilot_waits_for_the_turn(chat):
    chat.llm.script([{"match": "slow", "reply": "a slow answer in ten pieces",
                      "chunks": 10, "delay": 0.5}])
    chat.say("slow one please")
    chat.wait_text(lambda t: t.startswith("a slow"), timeout=60)
    chat.say("/autopilot")
    reply = chat.wait_text(lambda t: t.startswith(AUTOPILOT_ON), timeout=60)
    assert answered_before(chat, "a slow answer in ten pieces",
                           reply["message"])


def test_plan_ready_then_implement(chat):
    plan_on(chat)
    chat.llm.script(planning_script(
        chat,
        {"when": "any", "times": 1, "reply": "implemented it", "tool_call": {
            "name": "task_complete", "arguments": {"summary": "implemented"}}}))
    chat.say("make a plan for the fix")
    chat.wait_text(lambda t: t == MENU, timeout=60)
    assert user_texts(chat.llm.requests()[0])[-1].endswith(
        "[[PLAN]] make a plan for the fix")
    # The agent waits; /plan show answers meanwhile.
    chat.say("/plan show")
    chat.wait_text(lambda t: t == "📋 **Current Plan**\n\n" + PLAN,
                   timeout=30)
    chat.say("/implement")
    chat.wait_text(lambda t: t == "🚀 **Implementing plan** (autopilot)")
    chat.bridge.wait_log(r"session.task_complete", name="sessiond.log",
                         timeout=60)
    chat.bridge.wait_log(r"turn ended", name="sessiond.log", timeout=30)
    assert any(r.startswith("Plan approved! Exited plan mode.") and
               "autopilot mode" in r for r in tool_results(chat))
    reqs = chat.llm.requests()
    assert "exit_plan_mode" in tools_of(reqs[0])
    assert "task_complete" not in tools_of(reqs[0])
    # The runtime tells the model of the tools of its new mode.
    assert any("New tools available: task_complete" in u and
               "Tools no longer available: exit_plan_mode" in u
               for u in user_texts(reqs[-1]))
    assert pref(chat, "session_mode") == "autopilot"
    assert any(p["message"].startswith("implemented it")
               for p in chat.bot_posts())


def test_plan_feedback_then_off(chat):
    plan_on(chat)
    chat.llm.script(planning_script(
        chat, {"when": "tool", "reply": "left: {tool_result}"}, exits=2))
    chat.say("make a plan please")
    chat.wait_text(lambda t: t == MENU, timeout=60)
    chat.say("also cover the tests")
    wait_for(lambda: count(chat, MENU) == 2, timeout=60, what="the second menu")
    assert any(r.startswith("Plan not approved. User feedback:") and
               "also cover the tests" in r for r in tool_results(chat))
    assert not any("also cover the tests" in u for r in chat.llm.requests()
                   for u in user_texts(r))
    chat.say("/plan off")
    chat.wait_text(lambda t: t == PLAN_OFF, timeout=60)
    chat.wait_text(lambda t: t.startswith("left: Plan approved! Exited plan "
                                          "mode."), timeout=60)
    assert any("without automatic execution" in r for r in tool_results(chat))
    assert pref(chat, "session_mode") == "interactive"
    chat.say("hello again")
    chat.wait_text(lambda t: t == "echo: hello again", timeout=60)
    assert "[[PLAN]]" not in user_texts(chat.llm.requests()[-1])[-1]


def test_implement_yolo_is_taken_back(chat):
    plan_on(chat)
    assert pref(chat, "permission_mode") is None
    chat.llm.script(planning_script(
        chat,
        {"when": "any", "times": 1, "bash": "echo yolo-ran"},
        {"when": "tool", "times": 1, "reply": "all done", "tool_call": {
            "name": "task_complete", "arguments": {"summary": "done"}}}))
    chat.say("make a plan now")
    chat.wait_text(lambda t: t == MENU, timeout=60)
    chat.say("/implement yolo")
    chat.wait_text(lambda t: t == "🚀 **Implementing plan** (autopilot + yolo)")
    chat.wait_text(lambda t: t == "all done", timeout=60)
    assert any("yolo-ran" in r for r in tool_results(chat))
    assert not any("Permission Required" in p["message"]
                   for p in chat.bot_posts())
    wait_for(lambda: pref(chat, "permission_mode") is None, timeout=10,
             what="the permission mode put back")
    chat.bridge.wait_log(r"yolo of the implementation taken back",
                         name="sessiond.log")
    # The channel is asked again.
    chat.llm.script([{"match": "again", "bash": "echo asked-again"},
                     {"when": "tool", "reply": "out: {tool_result}"}])
    chat.say("again please")
    chat.wait_text(lambda t: "Permission Required" in t and "asked-again" in t,
                   timeout=60)
    chat.say("/deny")
    chat.wait_text(lambda t: t.startswith("out:"), timeout=60)


def test_implement_sends_the_plan(chat):
    chat.say("/implement")
    chat.wait_text(lambda t: t == "📋 No plan exists. Create one first with "
                   "`/plan on`.", timeout=60)
    assert pref(chat, "session_mode") == "interactive"
    plan_on(chat)
    chat.llm.script([
        {"match": "make a plan", "times": 1, "tool_call": {
            "name": "create", "arguments": {"path": plan_path(chat),
                                            "file_text": PLAN}}},
        {"when": "tool", "match": "make a plan", "reply": "plan written"},
        {"match": "Implement the following plan", "reply": "on it"}])
    chat.say("make a plan quietly")
    chat.wait_text(lambda t: t == "plan written", timeout=60)
    chat.say("/plan summary")
    chat.wait_text(lambda t: t == "📋 Fix the thing: First do A, then B."
                   "\n\n`/plan show` to view the full plan.")
    chat.say("/implement interactive")
    chat.wait_text(lambda t: t == "🚀 **Implementing plan** (interactive)",
                   timeout=60)
    chat.wait_text(lambda t: t == "on it", timeout=60)
    assert ("Implement the following plan:\n\n" + PLAN.strip()) in \
        user_texts(chat.llm.requests()[-1])[-1]
    assert pref(chat, "session_mode") == "interactive"


def test_plan_commands(chat):
    chat.say("/plan show")
    chat.wait_text(lambda t: t == "📋 No plan exists for this session.",
                   timeout=60)
    chat.say("/plan whatever")
    chat.wait_text(lambda t: t == "⚠️ Usage: `/plan` (toggle), `/plan show`, "
                   "`/plan summary`, `/plan clear`, `/plan on`, `/plan off`")
    chat.say("/plan")
    chat.wait_text(lambda t: t == PLAN_ON, timeout=60)
    chat.say("hello planner")
    chat.wait_text(lambda t: t == "echo: [[PLAN]] hello planner", timeout=60)
    chat.say("/PLAN")
    chat.wait_text(lambda t: t == PLAN_OFF, timeout=60)
    chat.say("/plan clear")
    chat.wait_text(lambda t: t == "📋 Plan cleared.", timeout=60)
    # /plan waits for a running turn.
    chat.llm.script([{"match": "slow", "reply": "slowly answered in ten",
                      "chunks": 10, "delay": 0.5}])
    chat.say("slow please")
    chat.wait_text(lambda t: t.startswith("slowly"), timeout=60)
    chat.say("/plan")
    chat.wait_text(lambda t: t == PLAN_ON and count(chat, PLAN_ON) == 2,
                   timeout=60)
    posts = chat.bot_posts()
    a = next(p for p in posts if p["message"] == "slowly answered in ten")
    assert a["update_at"] <= [p for p in posts if p["message"] == PLAN_ON][-1][
        "create_at"]


def test_existing_plan_told_after_a_restart(chat):
    plan_on(chat)
    chat.llm.script([
        {"match": "make a plan", "times": 1, "tool_call": {
            "name": "create", "arguments": {"path": plan_path(chat),
                                            "file_text": PLAN}}},
        {"when": "tool", "reply": "plan written"}])
    chat.say("make a plan and stop")
    chat.wait_text(lambda t: t == "plan written", timeout=60)
    chat.kill_sessiond()
    chat.say("still there?")
    chat.wait_text(lambda t: t == "📋 **Existing plan found** — Fix the thing: "
                   "First do A, then B.. `/plan show` to review.", timeout=60)
    chat.wait_text(lambda t: t == "echo: [[PLAN]] still there?", timeout=60)


def test_plan_updated_notice(bridge_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAN_RUNTIME_REAL", RUNTIME)

    def tweak(cfg, c):
        cfg["session"]["runtimePath"] = os.path.join(
            os.path.dirname(__file__), "..", "fakes", "plan_runtime.py")
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    try:
        chat.say("PLAN-UPDATE:# Ship it\\nFirst the docs")
        chat.wait_text(lambda t: t == "📋 **Plan updated** — Ship it: First "
                       "the docs. `/plan show` for details.", timeout=60)
        # Changes close together are told once, as the plan is at the end.
        chat.say("PLAN-UPDATE:# One\\nx PLAN-UPDATE:# Two\\ny")
        chat.wait_text(lambda t: t == "📋 **Plan updated** — Two: y. `/plan "
                       "show` for details.", timeout=60)
        chat.say("/plan show")
        chat.wait_text(lambda t: t == "📋 **Current Plan**\n\n# Two\ny")
        assert not any("— One" in p["message"] for p in chat.bot_posts())
        chat.bridge.wait_log(r"event session.plan_changed", name="sessiond.log")
    finally:
        chat.close()
