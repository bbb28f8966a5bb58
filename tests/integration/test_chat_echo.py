"""Chat behaviour through the whole tree with the built-in echo backend:
fast, no runtime needed."""

import signal
import re
import time

import pytest

from bridge import FakeMM, alive, fake_mm_seed, mm_config, wait_for


@pytest.fixture
def chat(bridge_factory, tmp_path):
    mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a", "b"), humans=("alice", "bob")))

    class Chat:
        pass
    c = Chat()
    c.mm = mm
    c.chan = mm.channel("town-square")["id"]
    c.bot_id = mm.user("a")["id"]
    cfg = mm_config(tmp_path, mm, bots=("a", "b"))
    cfg["channels"][0].update(id=c.chan, triggerMode="all", threadedReplies=False)
    cfg["platforms"]["mattermost"]["admins"] = ["alice"]
    c.cfg = cfg
    c.bridge = bridge_factory(config=cfg)

    def bot_posts():
        posts = mm.control("GET", f"/channels/{c.chan}/posts")["posts"]
        return [p for p in posts if p["user_id"] == c.bot_id]

    c.say = lambda text, user="alice": mm.post(user, c.chan, text)
    c.bot_posts = bot_posts
    c.wait_text = lambda pred, timeout=10: wait_for(
        lambda: next((p for p in bot_posts() if pred(p["message"])), None),
        timeout=timeout, step=0.05, what="a bot post")
    yield c
    c.bridge.stop()
    mm.stop()


def test_echo_reply_streams_into_one_post(chat):
    post = chat.say("hello echo")
    reply = chat.wait_text(lambda t: t == "hello echo")
    assert reply["history"][0]["message"] == "⏳ Working..."
    assert reply["root_id"] == ""          # threadedReplies: false
    assert post["id"] != reply["id"]
    assert len(chat.bot_posts()) == 1


TURN = re.compile(r"turn: channel (\w+) bridge_us=(\d+) \(in (\d+), out (\d+), "
                  r"of which the platform (\d+)\) runtime_us=(\d+)")


def test_every_turn_says_the_bridges_share(chat):
    """One "turn:" line per answered prompt: the bridge's time in and out,
    the platform's part of out, the backend's time between (figures for
    `make bench`, bench/turn.py; here only their consistency)."""
    for i in range(3):
        chat.say(f"timed {i}")
        chat.wait_text(lambda t: t == f"timed {i}")
    rows = wait_for(lambda: (lambda r: r if len(r) == 3 else None)(
        TURN.findall(chat.bridge.log("sessiond.log"))), timeout=10,
        what="three turn lines")
    for ch, total, tin, tout, plat, runtime in rows:
        assert ch == chat.chan
        assert int(total) == int(tin) + int(tout) and int(tin) > 0
        assert 0 < int(plat) <= int(tout), rows


def test_posts_of_bridge_bots_are_not_prompts(chat):
    chat.say("I am bot b talking", user="b")
    chat.say("and I am alice")
    chat.wait_text(lambda t: t == "and I am alice")
    time.sleep(0.5)
    assert not any("bot b" in p["message"] for p in chat.bot_posts())
    assert "from a bot of this bridge" in chat.bridge.log("sessiond.log")


def test_commands(chat):
    chat.say("/help")
    chat.wait_text(lambda t: t.startswith("**Commands**"))
    chat.say("/status")
    chat.wait_text(lambda t: t == "📊 No active session for this channel.")
    chat.say("/approve")
    chat.wait_text(lambda t: t == "⚠️ No pending permission request.")
    chat.say("/new")
    chat.wait_text(lambda t: t == "✅ New session created.")
    chat.say("/status")
    chat.wait_text(lambda t: t.startswith("📊 **Session Status**\n• Session: `")
                   and "\n• Bot: @a\n" in t)
    chat.say("/unknowncommand stays text")
    chat.wait_text(lambda t: t == "/unknowncommand stays text")


def test_reload_config_needs_an_admin(chat):
    chat.say("/reload config", user="bob")
    chat.wait_text(lambda t: t == "⛔ Only bridge admins can reload bots.")
    log = chat.bridge.log()
    assert "Config reloaded" not in log and "Config file changed" not in log
    assert not [ln for ln in log.splitlines()
                if "not an admin" in ln and " INFO " not in ln]
    chat.say("/reload bot a", user="bob")
    time.sleep(0.3)
    chat.wait_text(lambda t: t == "⛔ Only bridge admins can reload bots.")
    assert "swap:" not in chat.bridge.log()
    assert len([p for p in chat.bot_posts() if p["message"].startswith("⛔")]) == 2

    chat.cfg["channels"][0]["verbose"] = True
    chat.bridge.write_config(chat.cfg)
    chat.say("/reload config")
    chat.wait_text(lambda t: t.startswith("✅ Config reloaded"))


def test_duplicate_inbound_is_answered_once(chat):
    """Two generations of one bot connected at once both deliver every
    post; sessiond answers once."""
    before = chat.bridge.workers()["mattermost:a"]
    chat.say("/reload bot a")
    chat.wait_text(lambda t: t.startswith("✅ Reloaded mattermost:a"))
    wait_for(lambda: chat.bridge.workers().get("mattermost:a") not in (None, before),
             what="the new generation")
    for i in range(20):
        chat.say(f"message {i}")

    def answered():
        # Mid-turn messages steer the running turn, so one post may answer
        # several: count answers, not posts.
        parts = [t for p in chat.bot_posts() for t in p["message"].split("\n\n")]
        return all(f"message {i}" in parts for i in range(20)) and parts
    parts = wait_for(answered, timeout=15, what="20 answers")
    row = wait_for(lambda: next((ln for ln in chat.bridge.ctl("status").stdout
                                 .splitlines() if ln.startswith("mattermost:a")
                                 and "overlap:" in ln), None),
                   what="the swap in ctl status")
    assert "ok" in row and "by @alice (reload bot)" in row and "re-sent" in row
    for i in range(20):
        assert parts.count(f"message {i}") == 1


def test_token_rotation_with_reload_bot(chat):
    """The bot's token is rotated on the server and in the file; /reload bot
    swaps in a worker with the new token.  The old worker's token is refused
    from then on, so what it could not post goes out through the new one."""
    other = chat.bridge.workers()["mattermost:b"]
    old = chat.bridge.workers()["mattermost:a"]
    chat.say("before the rotation")
    chat.wait_text(lambda t: t == "before the rotation")
    rot = chat.mm.control("POST", "/tokens/rotate", {"user": "a", "sockets": "keep"})
    chat.cfg["platforms"]["mattermost"]["bots"]["a"]["token"] = rot["token"]
    chat.bridge.write_config(chat.cfg)
    chat.say("/reload bot a")
    chat.wait_text(lambda t: t == "🔄 Reloading bot mattermost:a …")
    chat.wait_text(lambda t: t.startswith("✅ Reloaded mattermost:a in "))
    wait_for(lambda: not alive(old), what="old worker gone")
    assert chat.bridge.workers()["mattermost:a"] != old
    assert chat.bridge.workers()["mattermost:b"] == other
    chat.say("after the rotation")
    chat.wait_text(lambda t: t == "after the rotation")
    assert rot["token"] not in chat.bridge.all_logs()


def test_posts_made_while_no_worker_runs_are_caught_up(chat):
    """A worker killed with -9 is restarted at once (the first crash in the
    window costs no backoff); what was posted in between is read from
    sessiond's cursors and answered exactly once."""
    chat.say("before the crash")
    chat.wait_text(lambda t: t == "before the crash")
    old = chat.bridge.workers()["mattermost:a"]
    import os
    import signal as sig
    os.kill(old, sig.SIGKILL)
    wait_for(lambda: not alive(old), what="the worker gone")
    chat.say("during the gap")        # no worker connected for a moment
    wait_for(lambda: chat.bridge.status().get("mattermost:a", {}).get("gen") == "2"
             and chat.bridge.status()["mattermost:a"]["state"] == "active",
             timeout=10, what="generation 2")
    chat.wait_text(lambda t: t == "during the gap")
    chat.say("after the restart")
    chat.wait_text(lambda t: t == "after the restart")
    texts = [p["message"] for p in chat.bot_posts()]
    assert texts.count("during the gap") == 1
    assert "from sessiond's cursors" in chat.bridge.log("worker-mattermost-a.log")
    assert re.search(r"mattermost:a g1 pid \d+ exited unexpectedly .*restarting "
                     r"in 0 ms", chat.bridge.log())


def test_sighup_tells_the_admin_channel_what_needs_a_reload(chat):
    chat.cfg["platforms"]["mattermost"]["bots"]["a"]["admin"] = True
    chat.bridge.write_config(chat.cfg)
    chat.bridge.signal(signal.SIGHUP)
    chat.bridge.wait_log(r'bot "mattermost:a": config updated')
    time.sleep(0.3)
    assert not any(p["message"].startswith("**Config reloaded**")
                   for p in chat.bot_posts())    # nothing needed action
    chat.cfg["platforms"]["mattermost"]["bots"]["b"]["token"] = "tok-b-new-00000"
    chat.bridge.write_config(chat.cfg)
    chat.bridge.signal(signal.SIGHUP)
    post = chat.wait_text(lambda t: t.startswith("**Config reloaded**"))
    assert 'bot "mattermost:b": token changed' in post["message"]
    assert "/reload bot mattermost:b" in post["message"]
