"""/model, /provider, /reasoning, /verbose, /streamer-mode, /config,
/context, /status and /resume with the real runtime and the fake LLM:
each reply's text and its effect (what the fake LLM is asked, what the
store keeps), a model choice that survives /reload bot, a sessiond
SIGKILL and a bridge restart, a provider switch that starts a new
session, and /provider test bounded in time without stopping sessiond
from answering."""

import os
import re
import signal
import socket
import sqlite3
import time

import pytest

from bridge import wait_for
from llm import RUNTIME, copilot_chat

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")


def two_providers(cfg, c):
    """fake: two models; fake2 (the same fake LLM): another."""
    cfg["providers"]["fake"]["models"] = [{"id": "fake-model"},
                                          {"id": "fake-model-2"}]
    cfg["providers"]["fake2"] = {"type": "openai", "baseUrl": c.llm.url,
                                 "apiKey": "other-key",
                                 "models": [{"id": "other-model",
                                             "name": "Other Model"}]}


@pytest.fixture
def chat(bridge_factory, tmp_path, monkeypatch):
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch, two_providers)
    c.db = tmp_path / "state" / "state.db"
    yield c
    c.close()


def posts_after(chat, n):
    return [p["message"] for p in chat.bot_posts()[n:]]


def reply_to(chat, text, pred, timeout=30, what=None):
    """Say text; the first bot post after it that pred accepts."""
    n = len(chat.bot_posts())
    chat.say(text)
    return wait_for(lambda: next((t for t in posts_after(chat, n) if pred(t)),
                                 None), timeout=timeout, step=0.1,
                    what=what or f"the answer to {text!r}")


def turn(chat, text, timeout=60):
    """A prompt answered by the fake's echo; the model it was asked of."""
    reply_to(chat, text, lambda t: t == f"echo: {text}", timeout=timeout)
    req = next(r for r in reversed(chat.llm.requests())
               if any(m.get("role") == "user" and text in str(m.get("content"))
                      for m in r["messages"]))
    return req


def users(req):
    return " ".join(str(m.get("content")) for m in req["messages"]
                    if m.get("role") == "user")


def prefs(chat):
    with sqlite3.connect(chat.db) as db:
        return db.execute("SELECT model, provider, reasoning_effort, verbose "
                          "FROM channel_prefs WHERE channel_id = ?",
                          (chat.chan,)).fetchone()


def test_model_list_switch_and_back_survives_reloads_and_crashes(chat):
    assert turn(chat, "hello")["model"] == "fake-model"

    listing = reply_to(chat, "/model", lambda t: "Available Models" in t)
    assert "**fake**\n\n| Model | |\n|:------|:--|\n" \
        "| `fake:fake-model` | <- current |\n| `fake:fake-model-2` | |" in listing
    assert "**fake2**" in listing and "`fake2:other-model`" in listing
    assert "↳ Use `/model <provider>` to filter (fake, fake2)" in listing
    # Not signed in to GitHub: only the BYOK models, and the reply says so.
    assert "GitHub Copilot's models are not listed (the Copilot runtime on " \
        "the bridge host is not signed in to GitHub)" in listing
    assert "**GitHub Copilot**" not in listing
    only = reply_to(chat, "/models FAKE2", lambda t: "Models: fake2" in t)
    assert "`fake2:other-model`" in only and "fake-model" not in only

    sid = re.findall(r"session (\S+) open", chat.bridge.log("sessiond.log"))[-1]
    assert reply_to(chat, "/model fake-model-2", lambda t: "Switched" in t) == \
        "✅ Switched to **fake-model-2** (`fake:fake-model-2`)"
    assert prefs(chat)[:2] == ("fake-model-2", "fake")
    req = turn(chat, "second")
    assert req["model"] == "fake-model-2"
    assert "hello" in users(req)            # the same session, its context
    assert re.findall(r"session (\S+) open",
                      chat.bridge.log("sessiond.log"))[-1] == sid
    assert "model switched to fake:fake-model-2" in chat.bridge.log("sessiond.log")

    # /reload bot: the worker is replaced, the choice stays.
    reply_to(chat, "/reload bot a", lambda t: t.startswith("✅ Reloaded"),
             timeout=30)
    assert turn(chat, "third")["model"] == "fake-model-2"

    # sessiond killed: its successor reads the preference from state.db.
    old = chat.bridge.sessiond()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: chat.bridge.sessiond() not in (None, old), timeout=15,
             what="a new sessiond")
    req = turn(chat, "fourth", timeout=90)
    assert req["model"] == "fake-model-2"
    assert "hello" in users(req)

    # The whole bridge restarted.  The worker's catch-up re-reads the 5 s
    # before sessiond's cursor and a new sessiond has no dedup memory:
    # those posts are answered again.  Only a harmless one is left there.
    time.sleep(5.5)
    reply_to(chat, "/context", lambda t: t.startswith("📊"))
    chat.bridge.stop()
    chat.bridge.start()
    assert turn(chat, "fifth", timeout=90)["model"] == "fake-model-2"

    assert reply_to(chat, "/model fake-model", lambda t: "Switched" in t) == \
        "✅ Switched to **fake-model** (`fake:fake-model`)"
    req = turn(chat, "sixth")
    assert req["model"] == "fake-model" and "fifth" in users(req)
    assert prefs(chat)[:2] == ("fake-model", "fake")


def test_another_provider_starts_a_new_session(chat):
    assert turn(chat, "remember this")["model"] == "fake-model"
    text = reply_to(chat, "/model fake2:other", lambda t: "Switched" in t)
    assert text == "✅ Switched to **Other Model** (`fake2:other-model`)\n" \
        "🆕 New session: another provider needs one (the conversation " \
        "starts over)."
    assert prefs(chat)[:2] == ("other-model", "fake2")
    req = turn(chat, "after the switch")
    assert req["model"] == "other-model"
    assert "remember this" not in users(req)
    auth = [r["headers"].get("Authorization") for r in
            chat.llm._call("GET", "/_fake/requests")["requests"]
            if r["path"].endswith("/chat/completions")]
    assert auth[-1] == "Bearer other-key"
    # Unknown names, and an empty provider prefix.
    assert reply_to(chat, "/model nothing-like-it", lambda t: "Unknown" in t) == \
        "⚠️ Unknown model \"nothing-like-it\". Use `/model` to see available " \
        "models.\n⚠️ GitHub Copilot's models are not listed (the Copilot " \
        "runtime on the bridge host is not signed in to GitHub): only the " \
        "BYOK providers' models are."
    assert reply_to(chat, "/model fake:", lambda t: "Please" in t) == \
        "⚠️ Please specify a model name after the provider prefix."


def test_a_switch_waits_for_the_turn_and_the_listing_does_not(chat):
    chat.llm.script([{"match": "slow", "reply": "slow answer", "chunks": 4,
                      "delay": 1.0}])
    n = len(chat.bot_posts())
    chat.say("slow please")
    wait_for(lambda: any("slow please" in users(r) for r in chat.llm.requests()),
             timeout=60, what="the slow turn")
    chat.say("/model")
    chat.say("/model fake-model-2")
    wait_for(lambda: any("Available Models" in t for t in posts_after(chat, n)),
             timeout=10, what="the listing mid-turn")
    texts = wait_for(lambda: (lambda ts: ts if any("Switched" in t for t in ts)
                              else None)(posts_after(chat, n)), timeout=60,
                     what="the switch")
    done = next(i for i, t in enumerate(texts) if t == "slow answer")
    listed = next(i for i, t in enumerate(texts) if "Available Models" in t)
    switched = next(i for i, t in enumerate(texts) if "Switched" in t)
    # The placeholder became the answer in place: the listing came after
    # it was posted but while it ran; the switch after the turn ended.
    assert switched > done and switched > listed
    log = chat.bridge.log("sessiond.log")
    assert log.index("turn ended") < log.index("model switched to")


def test_reasoning_reaches_the_runtime(chat):
    assert reply_to(chat, "/reasoning", lambda t: "reasoning" in t) == \
        "🧠 Current reasoning effort: **default**\nUsage: " \
        "`/reasoning <low|medium|high|xhigh>`"
    assert reply_to(chat, "/reasoning extreme", lambda t: "Invalid" in t) == \
        "⚠️ Invalid reasoning effort. Valid values: `low`, `medium`, " \
        "`high`, `xhigh`"
    # No session yet: saved, applied at create.
    assert reply_to(chat, "/reasoning LOW", lambda t: "low" in t) == \
        "🧠 Reasoning effort set to **low**. Will apply when a session starts."
    assert turn(chat, "one").get("reasoning_effort") == "low"
    # A live session: switched in place (session.model.switchTo).
    assert reply_to(chat, "/reasoning high", lambda t: "high" in t) == \
        "🧠 Reasoning effort set to **high**."
    req = turn(chat, "two")
    assert req.get("reasoning_effort") == "high" and "one" in users(req)
    assert prefs(chat)[2] == "high"
    assert reply_to(chat, "/reasoning", lambda t: "Current" in t).startswith(
        "🧠 Current reasoning effort: **high**")
    # A runtime restart resumes the session with it.
    os.kill(chat.bridge.sessiond(), signal.SIGKILL)
    wait_for(lambda: chat.bridge.sessiond() is not None, timeout=15,
             what="a new sessiond")
    assert turn(chat, "three", timeout=90).get("reasoning_effort") == "high"


def hanging_server():
    """A port that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_provider_list_and_test(bridge_factory, tmp_path, monkeypatch):
    hang = hanging_server()
    dead = dead_port()
    monkeypatch.setenv("HANG_KEY", "secret-from-env")

    def tweak(cfg, c):
        two_providers(cfg, c)
        cfg["providers"]["dead"] = {"baseUrl": f"http://127.0.0.1:{dead}/v1",
                                    "models": [{"id": "m"}]}
        cfg["providers"]["lost"] = {
            "baseUrl": f"http://127.0.0.1:{c.llm.port}/nowhere",
            "bearerToken": "bt", "models": [{"id": "m"}]}
        cfg["providers"]["hang"] = {
            "baseUrl": f"http://127.0.0.1:{hang.getsockname()[1]}/v1/",
            "apiKeyEnv": "HANG_KEY", "models": [{"id": "m"}]}
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    try:
        listing = reply_to(chat, "/providers", lambda t: "Providers" in t)
        assert listing.startswith(
            "**Configured Providers**\n\n**fake**\n  URL: `" + chat.llm.url +
            "`\n  Type: openai · Auth: apiKey (inline) · Models: 2\n"
            "  Models: `fake-model`, `fake-model-2`\n\n")
        assert "**hang**\n  URL: `http://127.0.0.1:%d/v1/`\n  Type: openai · " \
            "Auth: apiKeyEnv: HANG_KEY · Models: 1" % hang.getsockname()[1] \
            in listing
        assert listing.endswith(
            "↳ Use `/provider test <name>` to test connectivity\n↳ Use "
            "`/model <provider>:<model>` to switch to a provider model")

        ok = reply_to(chat, "/provider test FAKE", lambda t: "reachable" in t)
        assert re.fullmatch(
            r'✅ Provider "fake" is reachable \(\d+ms\)\n  URL: `' +
            re.escape(chat.llm.url) + r'/models`\n  Remote models: 1\n'
            r'  Configured: `fake-model`, `fake-model-2`\n'
            r'  ⚠️ Not found on remote: `fake-model-2`', ok), ok
        got = [r for r in chat.llm._call("GET", "/_fake/requests")["requests"]
               if r["path"] == "/v1/models"]
        assert got[-1]["headers"]["Authorization"] == "Bearer test-key"
        assert any(t == '🔄 Testing provider "fake"...'
                   for t in posts_after(chat, 0))

        refused = reply_to(chat, "/provider test dead",
                           lambda t: t.startswith("❌"))
        assert refused == f'❌ Provider "dead" connection refused\n  URL: ' \
            f'`http://127.0.0.1:{dead}/v1/models`\n  Is the service running?'

        assert reply_to(chat, "/provider test lost",
                        lambda t: t.startswith("❌")) == \
            '❌ Provider "lost" returned HTTP 404 Not Found\n  URL: ' \
            f'`http://127.0.0.1:{chat.llm.port}/nowhere/models`'

        # A provider that never answers: bounded, and sessiond answers
        # everything else meanwhile.
        n = len(chat.bot_posts())
        t0 = time.monotonic()
        chat.say("/provider test hang")
        wait_for(lambda: '🔄 Testing provider "hang"...' in posts_after(chat, n),
                 timeout=10, what="the test's start")
        chat.say("/status")
        chat.say("/context")
        wait_for(lambda: any(t.startswith("📊") for t in posts_after(chat, n)),
                 timeout=5, what="/status while the test runs")
        out = wait_for(lambda: next((t for t in posts_after(chat, n)
                                     if "timed out" in t), None),
                       timeout=20, what="the timeout")
        took = time.monotonic() - t0
        assert out == '❌ Provider "hang" timed out after 10s\n  URL: ' \
            f'`http://127.0.0.1:{hang.getsockname()[1]}/v1/models`'
        assert 9.5 <= took < 16, took
        texts = posts_after(chat, n)
        assert texts.index(out) > max(i for i, t in enumerate(texts)
                                      if t.startswith("📊"))
        assert "secret-from-env" not in chat.bridge.all_logs()

        assert reply_to(chat, "/provider test nope", lambda t: "Unknown" in t) \
            == '⚠️ Unknown provider "nope". Configured: fake, fake2, dead, ' \
            'lost, hang'
        assert reply_to(chat, "/provider add x", lambda t: "managed" in t) == \
            "Providers are managed in `config.json` under the `\"providers\"` " \
            "key.\n↳ Edit the file, then `/reload config`: it applies live."
        assert reply_to(chat, "/provider frob", lambda t: "Unknown" in t) == \
            "⚠️ Unknown subcommand. Usage:\n  `/provider` — list providers\n" \
            "  `/provider test <name>` — test connectivity\n" \
            "  `/model <provider>:<model>` — switch model"
    finally:
        chat.close()
        hang.close()


def test_verbose_feed_config_context_status_streamer(chat, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("line one\nline two\n")

    before = reply_to(chat, "/config", lambda t: "Channel Config" in t)
    assert "| model | `fake:fake-model` | defaults |" in before
    assert "| verbose | `Off` | built-in |" in before
    assert "| triggerMode | `all` | config.json |" in before
    assert "| reasoningEffort | — | (not set) |" in before
    assert reply_to(chat, "/context", lambda t: "Context" in t) == \
        "📊 Context usage not available yet. Send a message first."
    assert reply_to(chat, "/status", lambda t: "📊" in t) == \
        "📊 No active session for this channel."

    assert reply_to(chat, "/verbose", lambda t: "Verbose" in t) == \
        "🔊 Verbose mode **enabled** — tool calls will be shown."
    assert reply_to(chat, "/verbose yes", lambda t: "Verbose" in t) == \
        "🔊 Verbose mode **enabled** — tool calls will be shown."
    assert prefs(chat)[3] == 1
    path = str(ws / "notes.txt")
    chat.llm.script([{"match": "read", "tool_call": {
        "name": "view", "arguments": {"path": path}}},
        {"when": "tool", "reply": "read it"}])
    n = len(chat.bot_posts())
    chat.say("read the notes")
    chat.wait_text(lambda t: t == "read it", timeout=60)
    short = ".../" + "/".join(path.split("/")[-3:])
    feed = wait_for(lambda: next((t for t in posts_after(chat, n)
                                  if t.startswith("🔧")), None), timeout=10,
                    what="the activity feed")
    assert feed == f"🔧 **view** `{short}`"

    after = reply_to(chat, "/config", lambda t: "Channel Config" in t)
    assert after.startswith(f"⚙️ **Channel Config** — {chat.chan}\n"
                            "Source: config.json\n\n"
                            "| Setting | Value | Source |\n|:--|:--|:--|\n")
    assert "| model | `fake:fake-model` | session (active) |" in after
    assert "| verbose | `On` | channel prefs |" in after
    assert "| bot | `a` | config.json |" in after

    ctx = reply_to(chat, "/context", lambda t: "Context" in t)
    assert re.fullmatch(r"📊 \*\*Context:\*\* \d+k?/\d+k tokens \(\d+%\)", ctx), ctx
    status = reply_to(chat, "/status", lambda t: "Status" in t)
    sid = re.findall(r"session (\S+) open", chat.bridge.log("sessiond.log"))[-1]
    assert status.startswith(
        f"📊 **Session Status**\n• Session: `{sid[:8]}...`\n"
        "• Model: **fake:fake-model**\n• Agent: Default (Copilot)\n"
        "• Mode: 🛡️ Interactive\n• Yolo: 🛡️ Off\n• Workspace: `")
    assert "\n• Bot: @a\n• Verbose: 🔊 On\n• Context: " in status

    assert reply_to(chat, "/verbose off", lambda t: "Verbose" in t) == \
        "🔇 Verbose mode **disabled** — only final responses shown."
    n = len(chat.bot_posts())
    chat.llm.script([{"match": "again", "tool_call": {
        "name": "view", "arguments": {"path": path}}},
        {"when": "tool", "reply": "read again"}])
    chat.say("read again")
    chat.wait_text(lambda t: t == "read again", timeout=60)
    assert not any(t.startswith("🔧") for t in posts_after(chat, n))

    assert reply_to(chat, "/streamer-mode", lambda t: "Streamer" in t) == \
        "📺 **Streamer mode enabled** — preview and internal models are hidden."
    assert reply_to(chat, "/on-air off", lambda t: "Streamer" in t) == \
        "📺 **Streamer mode disabled** — all models visible."
    with sqlite3.connect(chat.db) as db:
        assert db.execute("SELECT value FROM settings WHERE key = "
                          "'streamer_mode'").fetchone() == ("0",)


def test_resume(chat):
    # Sessions are the runtime's to list: once it runs, not at once.
    chat.bridge.wait_log(r"Copilot runtime pid \d+ ready", "sessiond.log",
                         timeout=30)
    assert reply_to(chat, "/resume", lambda t: "session" in t.lower()) == \
        "📋 No past sessions found for this workspace."
    turn(chat, "the first session")
    first = re.findall(r"session (\S+) open", chat.bridge.log("sessiond.log"))[-1]
    reply_to(chat, "/new", lambda t: t == "✅ New session created.")
    turn(chat, "the second session")
    second = re.findall(r"session (\S+) open", chat.bridge.log("sessiond.log"))[-1]
    assert first != second

    listing = reply_to(chat, "/resume", lambda t: "Past Sessions" in t)
    assert listing.startswith("**Past Sessions** (use `/resume <id>` to "
                              "reconnect)\n\n")
    assert f"• `{second[:12]}` just now — " in listing
    assert re.search(rf"• `{second[:12]}` .*← current", listing)
    assert f"• `{first[:12]}` " in listing

    assert reply_to(chat, "/resume zzz", lambda t: "❌" in t) == \
        "❌ No session found matching prefix `zzz`"
    assert reply_to(chat, f"/resume {first[:6].upper()}",
                    lambda t: "Resumed" in t) == \
        f"✅ Resumed session `{first[:8]}…`"
    req = turn(chat, "back again")
    assert "the first session" in users(req)
    assert "the second session" not in users(req)
    with sqlite3.connect(chat.db) as db:
        wait_for(lambda: db.execute(
            "SELECT session_id FROM channel_sessions WHERE channel_id = ?",
            (chat.chan,)).fetchone() == (first,), what="the session kept")
