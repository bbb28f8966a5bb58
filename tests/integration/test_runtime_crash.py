"""The Copilot runtime dies (kill -9) in the middle of things, and the bridge
stops: nothing a user said is lost or said twice.

After a crash sessiond restarts the runtime and resumes the session; the
messages posted while it restarts, right after, and during the resume are
each answered once, none reaches the LLM twice, no empty or placeholder post
is left, and the session keeps its earlier turns.  The same with the runtime
killed while a permission prompt waits and while a hook runs.  A SIGTERM to
the supervisor ends every process quickly, and the next start answers in the
same session."""

import json
import os
import signal
import sqlite3
import time

import pytest

from bridge import alive, children_of, wait_for
from llm import RUNTIME, copilot_chat

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")

PLACEHOLDER = "⏳ Working..."


@pytest.fixture
def chat(bridge_factory, tmp_path, monkeypatch):
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch)
    yield c
    c.close()


def runtime_pid(chat):
    kids = children_of(chat.bridge.sessiond())
    return next((p for p, argv in kids.items()
                 if argv and argv[0].endswith(b"copilot-runtime")), None)


def user_messages(request):
    out = []
    for m in request["messages"]:
        if m.get("role") != "user":
            continue
        c = m["content"]
        if isinstance(c, list):
            c = " ".join(p.get("text", "") for p in c)
        out.append(c)
    return out


def mentions(request, text):
    return sum(1 for u in user_messages(request) if text in u)


def kill_runtime(chat):
    old = runtime_pid(chat)
    assert old is not None
    os.kill(old, signal.SIGKILL)
    return old


def check_after_crash(chat, words, before="quince"):
    """Each word answered once, in a post of its own; none reached the LLM
    twice; nothing empty or a placeholder; the earlier turn kept."""
    def answers(w, post):
        """How often post answers w: one answer per paragraph, steered
        messages answered together ("echo: a + b")."""
        return sum(1 for part in post.split("\n\n") if part.startswith("echo: ")
                   and w in part[6:].split(" + "))
    for w in words:
        chat.wait_text(lambda t, w=w: answers(w, t) > 0, timeout=60,
                       what=f"the answer to {w}")
    posts = [p["message"] for p in chat.bot_posts() if not p.get("delete_at")]
    for w in words:
        assert sum(answers(w, p) for p in posts) == 1, (w, posts)
    assert not [p for p in posts if p.strip() in ("", PLACEHOLDER)], posts
    last = chat.llm.requests()[-1]
    for w in words:
        assert mentions(last, w) == 1, (w, user_messages(last))
    assert mentions(last, before) == 1, user_messages(last)


def remember(chat):
    chat.llm.script([])
    chat.say("remember quince")
    chat.wait_text(lambda t: t == "echo: remember quince", timeout=60)


ECHO_ALL = {"reply": "echo: {new_users}"}   # steered messages answered too


def test_messages_around_a_runtime_crash(chat):
    remember(chat)
    chat.llm.script([{"match": "slow", "reply": "a slow answer " * 40,
                      "chunks": 40, "delay": 0.2}, ECHO_ALL])
    chat.say("a slow one please")
    chat.wait_text(lambda t: t.startswith("a slow answer"), timeout=60,
                   what="the slow answer streaming")
    old = kill_runtime(chat)
    chat.say("alpha")                       # while it restarts
    wait_for(lambda: runtime_pid(chat) not in (None, old), timeout=15,
             what="a new runtime")
    chat.say("bravo")                       # right after, during the resume
    time.sleep(1.5)
    chat.say("charlie")                     # once it is back
    check_after_crash(chat, ["alpha", "bravo", "charlie"])


def test_runtime_crash_with_a_permission_prompt_waiting(chat):
    remember(chat)
    chat.llm.script([{"match": "files", "bash": "echo never-run"},
                     {"when": "tool", "reply": "tool said {tool_result}"}])
    chat.say("list the files")
    chat.wait_text(lambda t: "Permission Required" in t, timeout=60)
    kill_runtime(chat)
    chat.say("delta")
    check_after_crash(chat, ["delta"])
    assert not [p for p in chat.bot_posts() if "never-run" in p["message"]
                and "Permission" not in p["message"]]


def test_runtime_crash_while_a_hook_runs(bridge_factory, tmp_path, monkeypatch):
    def tweak(cfg, c):
        hooks = tmp_path / "home" / ".copilot"
        hooks.mkdir(parents=True, exist_ok=True)
        (hooks / "hooks.json").write_text(json.dumps({"version": 1, "hooks": {
            "preToolUse": [{"type": "command", "bash": "sleep 3; echo '{}'",
                            "timeoutSec": 10}]}}))
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    try:
        remember(chat)
        chat.llm.script([{"match": "files", "bash": "echo hooked"},
                         {"when": "tool", "reply": "tool said {tool_result}"}])
        chat.say("list the files")
        chat.bridge.wait_log(r"hook preToolUse: running", name="sessiond.log",
                             timeout=60)
        kill_runtime(chat)
        chat.say("echo")
        check_after_crash(chat, ["echo"])
    finally:
        chat.close()


def test_sigterm_mid_turn_is_quick_and_the_session_goes_on(chat):
    remember(chat)
    db = chat.bridge.tmp / "state" / "state.db"
    sid = sqlite3.connect(db).execute(
        "SELECT session_id FROM channel_sessions").fetchone()[0]
    chat.llm.script([{"match": "slow", "reply": "slow " * 200, "chunks": 50,
                      "delay": 0.2}])
    chat.say("a slow one please")
    chat.wait_text(lambda t: t.startswith("slow"), timeout=60)
    procs = [chat.bridge.proc.pid] + list(children_of(chat.bridge.proc.pid))
    procs.append(runtime_pid(chat))
    t0 = time.monotonic()
    chat.bridge.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: not any(alive(p) for p in procs if p), timeout=5,
             step=0.01, what="every process gone")
    took = time.monotonic() - t0
    assert took < 1.0, f"stopping took {took:.2f} s"
    chat.bridge.proc.wait(5)
    chat.bridge.start()
    chat.llm.script([])
    chat.say("what did I ask you to remember?")
    chat.wait_text(lambda t: t.startswith("echo: what did I ask"), timeout=60)
    assert "remember quince" in "\n".join(user_messages(chat.llm.requests()[-1]))
    assert sqlite3.connect(db).execute(
        "SELECT session_id FROM channel_sessions").fetchone()[0] == sid
