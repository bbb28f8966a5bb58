"""The agent talks to the channel beyond answers, with the real runtime:
it asks the user a question (userInput.request) and the next message is
the answer; it chooses not to reply (the no_reply tool, or a bare
"NO_REPLY") and no post is left, not even the placeholder."""

import os

import pytest

from bridge import wait_for
from llm import RUNTIME, copilot_chat

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")


@pytest.fixture
def chat(bridge_factory, tmp_path, monkeypatch):
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch)
    yield c
    c.close()


def live_posts(chat):
    return [p["message"] for p in chat.bot_posts() if not p.get("delete_at")]


def test_a_question_is_answered_by_the_next_message(chat):
    chat.llm.script([
        {"match": "pick", "tool_call": {"name": "ask_user", "arguments": {
            "question": "Which colour?", "choices": ["red", "green"]}}},
        {"when": "tool", "reply": "you chose: {tool_result}"}])
    chat.say("pick a colour for me")
    chat.wait_text(lambda t: t.startswith("❓ **Copilot needs your input:**")
                   and "Which colour?" in t and "2. green" in t, timeout=60)
    chat.say("2")
    post = chat.wait_text(lambda t: t.startswith("you chose:"), timeout=60)
    assert "green" in post["message"]
    # The answer went to the question, not to the model as a prompt.
    assert not any(m.get("role") == "user" and m.get("content") == "2"
                   for r in chat.llm.requests() for m in r["messages"])


def test_a_free_answer(chat):
    chat.llm.script([
        {"match": "name", "tool_call": {"name": "ask_user", "arguments": {
            "question": "What is your name?"}}},
        {"when": "tool", "reply": "hello {tool_result}"}])
    chat.say("guess my name")
    chat.wait_text(lambda t: "What is your name?" in t and
                   "Reply with your answer." in t, timeout=60)
    chat.say("Rumpelstiltskin")
    chat.wait_text(lambda t: t.startswith("hello") and "Rumpelstiltskin" in t,
                   timeout=60)


def test_no_reply_tool_leaves_no_post(chat):
    chat.llm.script([{"match": "ignore", "tool_call": {"name": "no_reply",
                                                       "arguments": {}}},
                     {"when": "tool", "reply": ""}])
    chat.say("please ignore this one")
    wait_for(lambda: any("no_reply" in str(r) for r in chat.llm.requests()),
             timeout=60, what="the no_reply call")
    chat.bridge.wait_log(r"no reply, as the agent chose", name="sessiond.log",
                         timeout=30)
    wait_for(lambda: live_posts(chat) == [], timeout=10,
             what="the placeholder deleted")
    # The next message is answered as usual.
    chat.say("and now answer")
    chat.wait_text(lambda t: t == "echo: and now answer", timeout=60)


def test_no_reply_text_leaves_no_post(chat):
    chat.llm.script([{"match": "silence", "reply": "NO_REPLY"}])
    chat.say("silence please")
    chat.bridge.wait_log(r"no reply, as the agent chose", name="sessiond.log",
                         timeout=60)
    wait_for(lambda: live_posts(chat) == [], timeout=10,
             what="the placeholder deleted")
