"""A user talks to a bot on (fake) Mattermost and Copilot answers through the
whole tree: worker, sessiond, the REAL Copilot runtime, the fake LLM."""

import os
import signal
import sqlite3
import time

import pytest

from bridge import alive, wait_for
from llm import RUNTIME, copilot_chat

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")


@pytest.fixture
def chat(bridge_factory, tmp_path, monkeypatch):
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch)
    yield c
    c.close()


def user_texts(request):
    out = []
    for m in request["messages"]:
        if m.get("role") == "user":
            content = m["content"]
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content)
            out.append(content)
    return "\n".join(out)


def test_streamed_answer(chat):
    chat.llm.script([{"match": "hello", "reply": "Hi! Streaming this answer in "
                      "several pieces for you.", "chunks": 6, "delay": 0.25}])
    chat.say("hello bridge")
    final = "Hi! Streaming this answer in several pieces for you."
    post = chat.wait_text(lambda t: t == final, what="the final answer")
    history = [h["message"] for h in post.get("history", [])]
    assert history and history[0] == "⏳ Working..."
    assert len(history) >= 2, history      # placeholder + at least one edit
    assert any(h not in ("⏳ Working...", final) for h in history), history
    assert len(chat.bot_posts()) == 1


def test_a_message_mid_turn_steers_into_a_post_of_its_own(chat):
    first = "The first answer, streamed in several pieces for you."
    chat.llm.script([{"match": "slow", "reply": first, "chunks": 8,
                      "delay": 0.3},
                     {"match": "also", "reply": "The second answer."}])
    chat.say("slow one please")
    chat.wait_text(lambda t: t.startswith("The first") and t != first,
                   what="the first answer streaming")
    steer = chat.say("also this")["id"]
    chat.wait_text(lambda t: t == "The second answer.", timeout=30,
                   what="the second answer")
    # The answer that was streaming ends whole in its own post; the
    # steered message's answer is another; ⚡ marks the steered message.
    texts = [p["message"] for p in chat.bot_posts()]
    assert texts == [first, "The second answer."], texts
    posts = chat.mm.control("GET", f"/channels/{chat.chan}/posts")["posts"]
    mine = next(p for p in posts if p["id"] == steer)
    reacts = [(r["user_id"], r["emoji_name"])
              for r in mine.get("metadata", {}).get("reactions", [])]
    assert reacts == [(chat.bot_id, "zap")], reacts


def test_permission_approve(chat):
    chat.llm.script([{"match": "list", "bash": "echo approved-marker"},
                     {"when": "tool", "reply": "Tool output: {tool_result}"}])
    chat.say("please list the files")
    chat.wait_text(lambda t: "Permission Required" in t and "echo approved-marker" in t)
    chat.say("/approve")
    chat.wait_text(lambda t: t.startswith("Tool output: approved-marker"),
                   what="the answer after approval")


def test_permission_deny(chat):
    chat.llm.script([{"match": "list", "bash": "echo denied-marker"},
                     {"when": "tool", "reply": "Tool output: {tool_result}"}])
    chat.say("please list the files")
    chat.wait_text(lambda t: "Permission Required" in t)
    chat.say("/deny")
    post = chat.wait_text(lambda t: t.startswith("Tool output:"))
    assert "rejected" in post["message"] and "denied in chat" in post["message"]
    assert "denied-marker\n" not in post["message"]


def test_context_survives_worker_kill(chat):
    chat.llm.script([])
    chat.say("first message: remember kumquat")
    chat.wait_text(lambda t: t == "echo: first message: remember kumquat")
    old = chat.bridge.workers()["mattermost:a"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: chat.bridge.workers().get("mattermost:a") not in (None, old)
             and chat.bridge.status().get("mattermost:a", {}).get("state") == "active",
             timeout=15, what="a new worker")
    chat.say("second message")
    chat.wait_text(lambda t: t == "echo: second message")
    last = chat.llm.requests()[-1]
    assert "remember kumquat" in user_texts(last)
    replies = [p["message"] for p in chat.bot_posts()]
    assert replies.count("echo: second message") == 1
    assert replies.count("echo: first message: remember kumquat") == 1


def test_context_survives_sessiond_kill(chat):
    chat.llm.script([])
    chat.say("alpha: remember the tangerine")
    chat.wait_text(lambda t: t == "echo: alpha: remember the tangerine")
    chat.bridge.kill_sessiond()
    chat.say("beta")
    chat.wait_text(lambda t: t == "echo: beta", timeout=45)
    assert "remember the tangerine" in user_texts(chat.llm.requests()[-1])
    assert "resuming session" in chat.bridge.log("sessiond.log")


def test_access_control_is_live(chat):
    chat.llm.script([])
    chat.say("hello from bob", user="bob")
    chat.say("hello from alice")
    chat.wait_text(lambda t: t == "echo: hello from alice")
    assert not any("bob" in p["message"] for p in chat.bot_posts())
    pids = dict(chat.bridge.children())
    chat.cfg["platforms"]["mattermost"]["access"]["users"].append("bob")
    chat.bridge.write_config(chat.cfg)
    chat.bridge.signal(signal.SIGHUP)
    chat.bridge.wait_log(r"platform \"mattermost\": access updated")
    time.sleep(0.3)
    chat.say("bob again", user="bob")
    chat.wait_text(lambda t: t == "echo: bob again")
    assert dict(chat.bridge.children()) == pids


def test_permission_by_reaction(chat):
    chat.llm.script([{"match": "list", "bash": "echo reaction-marker"},
                     {"when": "tool", "reply": "Tool output: {tool_result}"}])
    chat.say("please list the files")
    prompt = chat.wait_text(lambda t: "Permission Required" in t)
    chat.mm.control("POST", "/react", {"user": "bob", "post_id": prompt["id"],
                                       "emoji_name": "+1"})     # bob may not
    time.sleep(1)
    assert not any(p["message"].startswith("✅") for p in chat.bot_posts())
    chat.mm.control("POST", "/react", {"user": "alice", "post_id": prompt["id"],
                                       "emoji_name": "+1"})
    chat.wait_text(lambda t: t == "✅ Approved via reaction.")
    chat.wait_text(lambda t: t.startswith("Tool output: reaction-marker"))


def test_long_answer_is_split_and_model_from_the_bot(chat):
    """A reply longer than a Mattermost post continues in a second post; the
    bot's own "model" (provider:model) selects the BYOK entry."""
    chat.cfg["defaults"] = {"model": "nosuch:model"}
    chat.cfg["platforms"]["mattermost"]["bots"]["a"]["model"] = "fake:fake-model"
    chat.bridge.write_config(chat.cfg)
    chat.bridge.signal(signal.SIGHUP)
    chat.bridge.wait_log(r'defaults.model')
    text = ("0123456789" * 2000)[:20000]
    chat.llm.script([{"match": "long", "reply": text, "chunks": 4}])
    chat.say("a long one please")
    first = chat.wait_text(lambda t: len(t) == 16383)
    rest = chat.wait_text(lambda t: t == text[16383:])
    assert first["message"] + rest["message"] == text
    assert chat.llm.requests()[-1]["model"] == "fake-model"


def stored_session(chat):
    """The channel's session id in state.db (sessiond/store.c)."""
    with sqlite3.connect(chat.bridge.tmp / "state" / "state.db") as db:
        row = db.execute("SELECT session_id FROM channel_sessions WHERE "
                         "channel_id = ?", (chat.chan,)).fetchone()
    return row[0] if row else None


def test_session_keeps_its_context_across_a_token_rotation(chat):
    """SC-001 with the real runtime: the bot's token is rotated and its
    worker replaced; the Copilot session of the channel is the same one."""
    chat.llm.script([])
    chat.say("remember the persimmon")
    chat.wait_text(lambda t: t == "echo: remember the persimmon")
    sid = stored_session(chat)
    assert sid is not None
    old = chat.bridge.workers()["mattermost:a"]
    rot = chat.mm.control("POST", "/tokens/rotate", {"user": "a", "sockets": "keep"})
    chat.cfg["platforms"]["mattermost"]["bots"]["a"]["token"] = rot["token"]
    chat.bridge.write_config(chat.cfg)
    chat.say("/reload bot a")
    chat.wait_text(lambda t: t.startswith("✅ Reloaded mattermost:a"))
    wait_for(lambda: not alive(old), what="generation 1 gone")
    chat.say("and now?")
    chat.wait_text(lambda t: t == "echo: and now?")
    assert "remember the persimmon" in user_texts(chat.llm.requests()[-1])
    assert stored_session(chat) == sid
