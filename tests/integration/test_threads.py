"""Threads, on Mattermost and on Slack, through the whole tree (worker,
sessiond, the real Copilot runtime, the fake LLM): a reply follows the
user into a thread; 🧵, :thread: and "reply in thread" ask for a threaded
reply and are taken out of the text; with threadSessions each thread has
a Copilot session of its own (the LLM sees separate histories), without it
the channel has one; /new in a thread renews only that thread's session;
thread sessions survive a sessiond kill -9 and a bridge restart (resumed,
not recreated); idle ones past the bound are detached and resumed."""

import os
import sqlite3
import sys

import pytest

from bridge import wait_for
from llm import RUNTIME, FakeLLM, copilot_chat, runtime_env
from test_long_answers import mixed_text
from test_mattermost_e2e import user_texts
from test_worker_slack import BOT_UID, CHAN, Fake, slack_config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))

from openai import last_user_text  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")


class Chat:
    """What a test does on either platform: say (at the top level or in a
    thread), read the bot's replies as (text, thread root), read the LLM's
    requests and the thread sessions stored."""

    def wait_reply(self, text, root="", timeout=60):
        return wait_for(lambda: (text, root) in self.replies(),
                        timeout=timeout, step=0.1,
                        what=f"the reply {text!r} in thread {root!r}")

    def wait_reply_with(self, part, root="", timeout=60):
        return wait_for(lambda: next((t for t, r in self.replies()
                                      if part in t and r == root), None),
                        timeout=timeout, step=0.1,
                        what=f"a reply with {part!r} in thread {root!r}")

    def request_for(self, text):
        """The LLM request that answered the user text, the last one."""
        return next(r for r in reversed(self.llm.requests())
                    if last_user_text(r["messages"]) == text)

    def thread_sessions(self):
        db = sqlite3.connect(self.statedir / "state.db")
        try:
            return dict(db.execute("SELECT thread_root, session_id FROM "
                                   "bridge_thread_sessions WHERE "
                                   "channel_id = ?", (self.chan,)))
        finally:
            db.close()

    def slog(self):
        return self.bridge.log("sessiond.log")


class MMChat(Chat):
    platform = "mattermost"

    def __init__(self, bridge_factory, tmp, monkeypatch, chan):
        def tweak(cfg, c):
            cfg["channels"][0].update(chan)
        self.c = copilot_chat(bridge_factory, tmp, monkeypatch, tweak)
        self.llm, self.bridge, self.chan = self.c.llm, self.c.bridge, self.c.chan
        self.statedir = tmp / "state"

    def say(self, text, root=None):
        kw = {"root_id": root} if root else {}
        return self.c.mm.post("alice", self.chan, text, **kw)["id"]

    def replies(self):
        return [(p["message"], p["root_id"]) for p in
                sorted(self.c.bot_posts(), key=lambda p: p["create_at"])
                if not p.get("delete_at")]

    def close(self):
        self.c.close()


class SlackChat(Chat):
    platform = "slack"

    def __init__(self, bridge_factory, tmp, monkeypatch, chan):
        runtime_env(monkeypatch, tmp)
        self.fake = Fake()
        self.llm = FakeLLM(tmp)
        cfg = slack_config(tmp, self.fake)
        cfg["channels"][0].update(chan)
        cfg["providers"] = {"fake": self.llm.provider()}
        cfg["defaults"] = {"model": "fake:fake-model"}
        cfg["session"] = {"backend": "copilot"}
        self.chan = CHAN
        self.statedir = tmp / "state"
        self.bridge = bridge_factory(config=cfg)

    def say(self, text, root=None):
        kw = {"thread_ts": root} if root else {}
        return self.fake.post(text, **kw)["ts"]

    def replies(self):
        msgs = sorted(self.fake.bot_messages(), key=lambda m: float(m["ts"]))
        return [(m["text"], m.get("thread_ts") or "") for m in msgs
                if m.get("user") == BOT_UID]

    def close(self):
        self.bridge.stop()
        self.llm.stop()
        self.fake.stop()


@pytest.fixture(params=["mattermost", "slack"])
def make_chat(request, bridge_factory, tmp_path, monkeypatch):
    made = []

    def make(**chan):
        cls = MMChat if request.param == "mattermost" else SlackChat
        made.append(cls(bridge_factory, tmp_path, monkeypatch, chan))
        made[-1].llm.script([])
        return made[-1]
    yield make
    for c in made:
        c.close()


def ask(chat, text, root):
    """Say text in the thread and wait for its echo: what the LLM was
    given with it (the session's history, as user texts)."""
    chat.say(text, root=root)
    chat.wait_reply(f"echo: {text}", root=root)
    return user_texts(chat.request_for(text))


def two_threads(chat):
    """Two threads started at the top level (threadedReplies)."""
    a = chat.say("alpha: remember the apple")
    chat.wait_reply("echo: alpha: remember the apple", root=a)
    b = chat.say("bravo: remember the banana")
    chat.wait_reply("echo: bravo: remember the banana", root=b)
    return a, b


def test_thread_sessions_keep_histories_apart(make_chat):
    chat = make_chat(threadSessions=True, threadedReplies=True)
    a, b = two_threads(chat)
    ra = ask(chat, "alpha two", a)
    rb = ask(chat, "bravo two", b)
    assert "remember the apple" in ra and "banana" not in ra
    assert "remember the banana" in rb and "apple" not in rb
    s = chat.thread_sessions()
    assert set(s) == {a, b} and s[a] != s[b]


def test_without_thread_sessions_the_channel_has_one(make_chat):
    chat = make_chat(threadSessions=False, threadedReplies=True)
    a, b = two_threads(chat)
    ra = ask(chat, "alpha two", a)
    assert "remember the apple" in ra and "remember the banana" in ra
    assert chat.thread_sessions() == {}


def test_reply_follows_the_user_into_a_thread(make_chat):
    chat = make_chat(threadedReplies=False)
    top = chat.say("at the top")
    chat.wait_reply("echo: at the top", root="")
    chat.say("now in a thread", root=top)
    chat.wait_reply("echo: now in a thread", root=top)
    chat.say("/status", root=top)
    chat.wait_reply_with("Session Status", root=top)
    assert "(the channel's" not in chat.replies()[-1][0]
    assert chat.thread_sessions() == {}


def test_thread_triggers(make_chat):
    chat = make_chat(threadedReplies=False)
    p = chat.say("🧵 first question")
    chat.wait_reply("echo: first question", root=p)
    p = chat.say("second :THREAD:")
    chat.wait_reply("echo: second", root=p)
    p = chat.say("Reply in thread third")
    chat.wait_reply("echo: third", root=p)
    # Multibyte text around the trigger arrives whole.
    p = chat.say("héllo 日本語 👩\u200d💻:thread: café")
    chat.wait_reply("echo: héllo 日本語 👩\u200d💻 café", root=p)
    # The phrase mid-sentence is no trigger.
    chat.say("how do I reply in thread here?")
    chat.wait_reply("echo: how do I reply in thread here?", root="")
    # A bare trigger leaves nothing to answer.
    bare = chat.say("🧵")
    chat.say("after the bare one")
    chat.wait_reply("echo: after the bare one", root="")
    assert not any(r == bare for _, r in chat.replies())
    assert not any(last_user_text(r["messages"]) in ("", "🧵")
                   for r in chat.llm.requests())


def test_long_text_with_a_trigger(make_chat):
    chat = make_chat(threadedReplies=False)
    text = mixed_text(12000, 7)
    chat.llm.script([{"match": "end.", "reply": "got it"}])
    p = chat.say(text + " 🧵")
    chat.wait_reply("got it", root=p)
    assert chat.request_for(text) is not None


def test_new_in_a_thread_renews_only_that_thread(make_chat):
    chat = make_chat(threadSessions=True, threadedReplies=True)
    a, b = two_threads(chat)
    before = chat.thread_sessions()
    chat.say("/status", root=a)
    st = chat.wait_reply_with("this thread's own", root=a)
    assert before[a][:8] in st              # /status shows 8 characters
    top = chat.say("/status")
    st = chat.wait_reply_with("each thread has its own",
                              root=top)
    assert before[a][:8] not in st and before[b][:8] not in st
    chat.say("/new", root=a)
    chat.wait_reply("✅ New session created.", root=a)
    assert "apple" not in ask(chat, "alpha again", a)
    assert "remember the banana" in ask(chat, "bravo again", b)
    after = chat.thread_sessions()
    assert after[a] != before[a] and after[b] == before[b]


def test_thread_sessions_survive_a_sessiond_kill_and_a_restart(make_chat):
    chat = make_chat(threadSessions=True, threadedReplies=True)
    a, b = two_threads(chat)
    sids = chat.thread_sessions()
    chat.bridge.kill_sessiond()
    r = ask(chat, "alpha after the kill", a)
    assert "remember the apple" in r and "banana" not in r
    chat.bridge.stop()
    chat.bridge.start()
    r = ask(chat, "bravo after the restart", b)
    assert "remember the banana" in r and "apple" not in r
    for t in (a, b):
        assert f"channel {chat.chan} thread {t}: resuming session " \
            f"{sids[t]}" in chat.slog()
    assert chat.thread_sessions() == sids


def test_idle_thread_sessions_past_the_bound_are_detached(
        bridge_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("COPILOT_BRIDGE_TEST_THREADS_MAX", "2")
    chat = MMChat(bridge_factory, tmp_path, monkeypatch,
                  {"threadSessions": True, "threadedReplies": True})
    try:
        chat.llm.script([])
        a, b = two_threads(chat)
        c = chat.say("charlie: remember the cherry")
        chat.wait_reply("echo: charlie: remember the cherry", root=c)
        sids = chat.thread_sessions()
        wait_for(lambda: f"thread {a}: idle, session detached (2 thread "
                 "sessions at most)" in chat.slog(), what="a detached")
        assert f"thread {b}: idle" not in chat.slog()
        r = ask(chat, "alpha back", a)
        assert "remember the apple" in r and "cherry" not in r
        assert f"thread {a}: resuming session {sids[a]}" in chat.slog()
        assert chat.thread_sessions() == sids
    finally:
        chat.close()
