"""ask_agent between the bots of one bridge, with the real runtime and the
fake LLM: bot a's session asks bot b, whose own session (in b's workspace,
told who asks) answers; a call the allowlists do not allow is refused with
upstream's reason; a loop of three bots is cut at interAgent.maxDepth; a
call that takes too long is stopped; every call is in agent_calls."""

import json
import os
import sqlite3

import pytest

from bridge import FakeMM, fake_mm_seed, mm_config, wait_for
from llm import RUNTIME, Chat, FakeLLM, runtime_env

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")


def agents_chat(bridge_factory, tmp_path, monkeypatch, inter):
    """Bots a, b and c; a serves town-square; interAgent as given."""
    runtime_env(monkeypatch, tmp_path)
    c = Chat()
    c.mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a", "b", "c"),
                                              humans=("alice",)))
    c.llm = FakeLLM(tmp_path)
    c.chan = c.mm.channel("town-square")["id"]
    c.bot_id = c.mm.user("a")["id"]
    cfg = mm_config(tmp_path, c.mm, bots=("a", "b", "c"),
                    access={"mode": "allowlist", "users": ["alice"]})
    cfg["channels"][0].update(id=c.chan, triggerMode="all",
                              threadedReplies=False)
    cfg["providers"] = {"fake": c.llm.provider()}
    cfg["defaults"] = {"model": "fake:fake-model"}
    cfg["session"] = {"backend": "copilot"}
    cfg["interAgent"] = inter
    c.cfg = cfg
    c.bridge = bridge_factory(config=cfg)
    return c


def calls(chat):
    con = sqlite3.connect(str(chat.bridge.tmp / "state" / "state.db"),
                          timeout=5)
    try:
        return con.execute(
            "SELECT caller_bot, target_bot, message_summary, "
            "response_summary, success, error, chain_id, depth, duration_ms "
            "FROM agent_calls ORDER BY id").fetchall()
    finally:
        con.close()


def result_of(post, prefix):
    return json.loads(post["message"][len(prefix):])


@pytest.fixture
def pair(bridge_factory, tmp_path, monkeypatch):
    c = agents_chat(bridge_factory, tmp_path, monkeypatch, {
        "enabled": True,
        "allow": {"a": {"canCall": ["b"]}, "b": {"canBeCalledBy": ["*"]},
                  "c": {"canBeCalledBy": ["a"]}}})
    yield c
    c.close()


def test_a_bot_asks_another_and_gets_the_answer(pair):
    chat = pair
    chat.llm.script([
        {"match": "ask b", "times": 1, "tool_call": {
            "name": "ask_agent", "arguments": {
                "target": "b", "message": "what is the answer?"}}},
        {"match": "what is the answer", "reply": "forty-two"},
        {"when": "tool", "times": 1, "reply": "b says: {tool_result}"}])
    chat.say("please ask b")
    post = chat.wait_text(lambda t: t.startswith("b says: "), timeout=120)
    assert result_of(post, "b says: ") == {"success": True,
                                           "response": "forty-two"}
    # b's own session answered: told who asks, in b's workspace.
    reqs = [r for r in chat.llm.requests()
            if "what is the answer?" in json.dumps(r["messages"])]
    system = json.dumps([m for m in reqs[0]["messages"]
                         if m.get("role") == "system"])
    assert 'This request is from agent \\"a\\"' in system
    assert os.path.join("state", "workspaces", "b") in json.dumps(reqs[0])
    # a's session saw neither b's prompt nor its system message.
    assert not any("inter-agent query" in json.dumps(r["messages"]) and
                   "please ask b" in json.dumps(r["messages"])
                   for r in chat.llm.requests())
    rows = wait_for(lambda: calls(chat), timeout=10, what="the call recorded")
    (caller, target, msg, resp, ok, err, chain, depth, ms) = rows[0]
    assert (caller, target, msg, resp, ok, err, depth) == (
        "a", "b", "what is the answer?", "forty-two", 1, None, 1)
    assert len(chain) == 36 and ms >= 0


def test_a_call_the_allowlists_refuse(pair):
    chat = pair
    chat.llm.script([
        {"match": "ask c", "times": 1, "tool_call": {
            "name": "ask_agent", "arguments": {"target": "c",
                                               "message": "hello c"}}},
        {"match": "ask b nicely", "times": 1, "tool_call": {
            "name": "ask_agent", "arguments": {"target": "b",
                                               "message": "call c for me"}}},
        {"match": "call c for me", "times": 1, "tool_call": {
            "name": "ask_agent", "arguments": {"target": "c",
                                               "message": "hello from b"}}},
        {"when": "tool", "reply": "result: {tool_result}"}])
    chat.say("ask c something")
    post = chat.wait_text(lambda t: t.startswith("result: "), timeout=120)
    assert result_of(post, "result: ") == {
        "success": False, "error": "not_allowed",
        "detail": "a is not allowed to call c"}
    # b may be called by anyone, but may call nobody.
    chat.say("ask b nicely")
    post = chat.wait_text(lambda t: t.startswith("result: ") and
                          "b is not" in t, timeout=120)
    inner = result_of(post, "result: ")
    assert inner["success"] is True
    assert "b is not allowed to call c" in inner["response"]
    rows = wait_for(lambda: len(calls(chat)) == 3 and calls(chat),
                    timeout=10, what="three calls recorded")
    assert [(r[0], r[1], r[4], r[7]) for r in rows] == [
        ("a", "c", 0, 1), ("b", "c", 0, 2), ("a", "b", 1, 1)]
    assert rows[0][5] == "a is not allowed to call c"
    assert rows[1][5] == "b is not allowed to call c"
    assert rows[2][5] is None
    assert rows[2][6] == rows[1][6]		# one chain


def test_a_loop_of_three_is_cut_at_max_depth(bridge_factory, tmp_path,
                                             monkeypatch):
    chat = agents_chat(bridge_factory, tmp_path, monkeypatch, {
        "enabled": True, "maxDepth": 2,
        "allow": {b: {"canCall": ["*"], "canBeCalledBy": ["*"]}
                  for b in ("a", "b", "c")}})
    try:
        chat.llm.script([
            {"match": "start the loop", "times": 1, "tool_call": {
                "name": "ask_agent", "arguments": {"target": "b",
                                                   "message": "loop step one"}}},
            {"match": "loop step one", "times": 1, "tool_call": {
                "name": "ask_agent", "arguments": {"target": "c",
                                                   "message": "loop step two"}}},
            {"match": "loop step two", "times": 1, "tool_call": {
                "name": "ask_agent", "arguments": {
                    "target": "a", "message": "loop step three"}}},
            {"when": "tool", "reply": "got: {tool_result}"}])
        chat.say("start the loop")
        post = chat.wait_text(lambda t: t.startswith("got: "), timeout=180)
        assert "Call chain depth limit reached (max 2)" in post["message"]
        rows = wait_for(lambda: len(calls(chat)) == 3 and calls(chat),
                        timeout=10, what="three calls recorded")
        assert [(r[0], r[1], r[4], r[7]) for r in rows] == [
            ("c", "a", 0, 3), ("b", "c", 1, 2), ("a", "b", 1, 1)]
        assert rows[0][5] == "Call chain depth limit reached (max 2)"
        assert len({r[6] for r in rows}) == 1
        # Nobody asked "loop step three": the chain stopped before a.
        assert not any("loop step three" in json.dumps(m)
                       for r in chat.llm.requests() for m in r["messages"]
                       if m.get("role") == "user")
    finally:
        chat.close()


def test_a_call_that_takes_too_long_is_stopped(pair):
    chat = pair
    chat.llm.script([
        {"match": "ask b slowly", "times": 1, "tool_call": {
            "name": "ask_agent", "arguments": {
                "target": "b", "message": "think long", "timeout": 2}}},
        {"match": "think long", "reply": "a b c d e f g h", "chunks": 8,
         "delay": 1},
        {"when": "tool", "times": 1, "reply": "late: {tool_result}"}])
    chat.say("ask b slowly")
    post = chat.wait_text(lambda t: t.startswith("late: "), timeout=120)
    assert result_of(post, "late: ") == {
        "success": False, "error": "ephemeral_session_error",
        "detail": "Ephemeral session timed out after 2s"}
    rows = wait_for(lambda: calls(chat), timeout=10, what="the call recorded")
    assert rows[0][4] == 0 and rows[0][5] == "Ephemeral session timed out after 2s"
    assert 1900 <= rows[0][8] < 30000
    chat.bridge.wait_log(r"ask_agent a→b: \d+ ms, Ephemeral session timed "
                         r"out", name="sessiond.log", timeout=10)
