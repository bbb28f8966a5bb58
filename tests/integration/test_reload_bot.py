"""Per-bot reload ("swap", supervisor/swap.c) through the whole tree with the
echo backend: a bad token keeps generation N, a URL change moves the bot to
another server, non-admins change nothing, one swap per bot at a time (but
different bots in parallel), no reply is left as a placeholder, a worker
binary upgrade, bots added and removed, and a Slack token rotation.  Every
wait is bounded."""

import os
import re
import shutil
import threading

import pytest

from bridge import (FakeMM, alive, copy_bin, fake_mm_seed, mm_config,
                    mm_token, slow_handshakes, wait_for)
from test_worker_slack import BOT_UID, CHAN, Fake, slack_config  # noqa: F401

WORKING = "⏳ Working..."
DENIED = "⛔ Only bridge admins can reload bots."


def worker_pids(bridge, key):
    """Every live worker process of bot key (generations overlap)."""
    out = []
    for pid, argv in bridge.children().items():
        if (argv and argv[0].endswith(b"copilot-bridge-worker")
                and b"-b" in argv and argv[argv.index(b"-b") + 1] == key.encode()):
            out.append(pid)
    return sorted(out)


class Chat:
    """A fake Mattermost with bots and humans alice (admin) and bob, the
    bridge on it, town-square served by bot a with triggerMode all."""

    def __init__(self, bridge_factory, tmp_path, seed_bots=("a", "b"),
                 bots=("a", "b"), bindir=None):
        self.tmp = tmp_path
        self.mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=seed_bots,
                                                     humans=("alice", "bob")))
        self.chan = self.mm.channel("town-square")["id"]
        self.bot_id = self.mm.user("a")["id"]
        cfg = mm_config(tmp_path, self.mm, bots=bots)
        cfg["channels"][0].update(id=self.chan, triggerMode="all",
                                  threadedReplies=False)
        cfg["platforms"]["mattermost"]["admins"] = ["alice"]
        self.cfg = cfg
        self.bridge = bridge_factory(config=cfg, bindir=bindir)

    def say(self, text, user="alice", mm=None):
        return (mm or self.mm).post(user, self.chan, text)

    def bot_posts(self, mm=None):
        posts = (mm or self.mm).control("GET", f"/channels/{self.chan}/posts")["posts"]
        return [p for p in posts if p["user_id"] == self.bot_id]

    def texts(self, mm=None):
        return [p["message"] for p in self.bot_posts(mm)]

    def answers(self, mm=None):
        """Every answer: mid-turn messages steer the running turn, so one
        post may answer several prompts."""
        return [t for p in self.bot_posts(mm) for t in p["message"].split("\n\n")]

    def wait_text(self, pred, timeout=15, mm=None):
        return wait_for(
            lambda: next((p for p in self.bot_posts(mm) if pred(p["message"])), None),
            timeout=timeout, step=0.05, what="a bot post")

    def roundtrip(self, text, mm=None, timeout=15):
        self.say(text, mm=mm)
        return self.wait_text(lambda t: t == text, timeout=timeout, mm=mm)

    def stop(self):
        self.bridge.stop()
        self.mm.stop()


@pytest.fixture
def chat_factory(bridge_factory, tmp_path):
    made = []

    def make(**kw):
        c = Chat(bridge_factory, tmp_path, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.stop()


@pytest.fixture
def chat(chat_factory):
    return chat_factory()


def test_bad_new_token_keeps_the_running_generation(chat):
    b = chat.bridge
    chat.roundtrip("before")
    old = b.workers()["mattermost:a"]
    chat.cfg["platforms"]["mattermost"]["bots"]["a"]["token"] = "tok-a-unknown-999999"
    b.write_config(chat.cfg)
    chat.say("/reload bot a")
    post = chat.wait_text(lambda t: t.startswith("❌ Reload of mattermost:a"),
                          timeout=20)
    assert post["message"].startswith(
        "❌ Reload of mattermost:a failed, kept the running connection:"), post["message"]
    assert "401" in post["message"], post["message"]
    # The candidate is gone, generation 1 still serves.
    wait_for(lambda: worker_pids(b, "mattermost:a") == [old], timeout=10,
             what="only generation 1 left")
    st = b.status()["mattermost:a"]
    assert st["gen"] == "1" and st["state"] == "active" and st["pid"] == str(old), st
    chat.roundtrip("after the failed reload")
    assert b.workers()["mattermost:a"] == old
    assert "tok-a-unknown-999999" not in b.all_logs()


def test_url_change_moves_the_bot_to_another_server(chat, tmp_path):
    b = chat.bridge
    mm2 = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a", "b"), humans=("alice", "bob")),
                 name="fake-mm2")
    try:
        # Ids are derived from names: the configured channel and the bot user
        # are the same on both servers.
        assert mm2.channel("town-square")["id"] == chat.chan
        assert mm2.user("a")["id"] == chat.bot_id
        old = b.workers()["mattermost:a"]
        other = b.workers()["mattermost:b"]
        wait_for(lambda: chat.mm.sockets("a"), what="bot a on the old server")
        chat.cfg["platforms"]["mattermost"]["url"] = mm2.url
        b.write_config(chat.cfg)
        chat.say("/reload bot a")

        def reloaded():
            for m in (chat.mm, mm2):
                for p in chat.bot_posts(m):
                    if p["message"].startswith(("✅ Reloaded mattermost:a", "❌")):
                        return p["message"]
            return None
        text = wait_for(reloaded, timeout=20, what="the reload's outcome")
        assert text.startswith("✅ Reloaded mattermost:a"), text
        wait_for(lambda: not alive(old), timeout=15, what="generation 1 gone")
        wait_for(lambda: not chat.mm.sockets("a"), timeout=10,
                 what="bot a's socket closed on the old server")
        assert mm2.sockets("a"), "bot a has no socket on the new server"
        # Bot b was not touched: still on the old server.
        assert b.workers()["mattermost:b"] == other
        assert chat.mm.sockets("b") and not mm2.sockets("b")
        st = b.status()["mattermost:a"]
        assert st["gen"] == "2" and st["state"] == "active", st
        chat.roundtrip("hello on the new server", mm=mm2)
    finally:
        mm2.stop()


def test_non_admin_changes_nothing(chat):
    b = chat.bridge
    before = sorted(b.children())
    for _ in range(20):
        chat.say("/reload bot a", user="bob")
    wait_for(lambda: chat.texts().count(DENIED) >= 20, timeout=30,
             what="20 refusals")
    chat.roundtrip("sentinel after the refusals")    # everything is processed
    assert chat.texts().count(DENIED) == 20
    assert not any(t.startswith(("🔄", "✅", "❌")) for t in chat.texts())
    assert sorted(b.children()) == before
    assert b.status()["mattermost:a"]["gen"] == "1"
    log = b.log()
    assert "swap:" not in log
    assert log.count("not an admin") == 20
    bad = [ln for ln in b.all_logs().splitlines()
           if re.search(r"\b(WARN|WARNING|ERROR|ERR)\b", ln)
           and ("admin" in ln or "reload" in ln or "bob" in ln)]
    assert not bad, bad


def test_one_swap_per_bot_at_a_time(chat):
    """A second reload of a bot while its swap runs is refused at once.  The
    server is slow to authenticate (2 s), so the first swap certainly lasts:
    a swap by a ready spare takes a few ms, less than two ctl processes'
    start-up jitter."""
    b = chat.bridge
    slow_handshakes(chat.mm)
    results = [None, None]

    def run(i, key):
        results[i] = b.ctl("reload-bot", key, timeout=60)

    first = threading.Thread(target=run, args=(0, "mattermost:a"))
    first.start()
    b.wait_log(r"swap: reload of mattermost:a requested by ctl", timeout=10)
    run(1, "mattermost:a")
    first.join(90)
    assert not first.is_alive()
    out = [(r.returncode, r.stdout.strip(), r.stderr.strip()) for r in results]
    assert out[0][0] == 0 and out[0][1].startswith("✅ Reloaded mattermost:a"), out
    assert out[1] == (1, "", "Reload already in progress for mattermost:a"), out
    wait_for(lambda: len(worker_pids(b, "mattermost:a")) == 1, timeout=15,
             what="one worker for a")
    assert b.status()["mattermost:a"]["gen"] == "2"

    def both(k1, k2):
        ts = [threading.Thread(target=run, args=(0, k1)),
              threading.Thread(target=run, args=(1, k2))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(90)
        assert not any(t.is_alive() for t in ts)
        return [(r.returncode, r.stdout.strip(), r.stderr.strip()) for r in results]

    # Different bots swap concurrently.
    out = both("mattermost:a", "mattermost:b")
    assert out[0][1].startswith("✅ Reloaded mattermost:a") and out[0][0] == 0, out
    assert out[1][1].startswith("✅ Reloaded mattermost:b") and out[1][0] == 0, out
    st = b.status()
    assert st["mattermost:a"]["gen"] == "3" and st["mattermost:b"]["gen"] == "2", st
    chat.roundtrip("after the parallel reloads")


def test_one_swap_per_bot_at_a_time_from_chat(chat):
    chat.say("/reload bot a")
    chat.say("/reload bot a")
    chat.wait_text(lambda t: t.startswith("✅ Reloaded mattermost:a"), timeout=20)
    chat.wait_text(lambda t: t == "Reload already in progress for mattermost:a",
                   timeout=20)
    chat.roundtrip("after the chat reloads")
    texts = chat.texts()
    assert len([t for t in texts if t.startswith("✅ Reloaded")]) == 1, texts
    assert texts.count("Reload already in progress for mattermost:a") == 1, texts


def test_no_reply_is_left_working_across_a_reload(chat):
    b = chat.bridge
    old = b.workers()["mattermost:a"]
    for i in range(10):
        chat.say(f"message {i}")
    chat.say("/reload bot a")
    chat.wait_text(lambda t: t.startswith("✅ Reloaded mattermost:a"), timeout=30)

    def answered():
        parts = chat.answers()
        return all(f"message {i}" in parts for i in range(10)) and parts
    parts = wait_for(answered, timeout=30, step=0.1, what="10 answers")
    for i in range(10):
        assert parts.count(f"message {i}") == 1, parts
    wait_for(lambda: not alive(old), timeout=15, what="generation 1 gone")
    wait_for(lambda: WORKING not in chat.texts(), timeout=10,
             what="no placeholder left")
    chat.roundtrip("after the reload")
    assert WORKING not in chat.texts()


def test_worker_binary_upgrade(chat_factory, tmp_path):
    bindir = copy_bin(tmp_path)
    c = chat_factory(bindir=str(bindir))
    b = c.bridge
    old = b.workers()["mattermost:a"]
    assert os.readlink(f"/proc/{old}/exe") == str(bindir / "copilot-bridge-worker")
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy2(bindir / "copilot-bridge-worker", real / "copilot-bridge-worker")
    marker = tmp_path / "marker"
    wrapper = bindir / ".worker.new"
    wrapper.write_text(f"#!/bin/sh\necho upgraded $3 $4 >> '{marker}'\n"
                       f"exec '{real / 'copilot-bridge-worker'}' \"$@\"\n")
    wrapper.chmod(0o755)
    os.rename(wrapper, bindir / "copilot-bridge-worker")
    assert not marker.exists()
    c.say("/reload bot a")
    c.wait_text(lambda t: t.startswith("✅ Reloaded mattermost:a"), timeout=20)
    # The spare started before the upgrade was not used for it.
    assert "upgraded -b mattermost:a\n" in marker.read_text()
    wait_for(lambda: not alive(old), timeout=15, what="the old worker gone")
    new = b.workers()["mattermost:a"]
    assert new != old
    assert os.readlink(f"/proc/{new}/exe") == str(real / "copilot-bridge-worker")
    st = b.status()["mattermost:a"]
    assert st["gen"] == "2" and st["state"] == "active", st
    c.roundtrip("after the upgrade")
    # Bot b was not reloaded: no second start of a worker for a bot (the
    # new spare, "-s", runs the new binary too, and so does the new fork
    # server, "-z": the old one, of the replaced binary, is stopped).
    starts = marker.read_text().splitlines()
    assert [s for s in starts if s not in ("upgraded -s", "upgraded -z")] == \
        ["upgraded -b mattermost:a"], starts
    assert "upgraded -z" in starts, starts
    srv = wait_for(b.forksrv, timeout=10, what="a fork server")
    assert os.readlink(f"/proc/{srv}/exe") == str(real / "copilot-bridge-worker")


def test_add_and_remove_a_bot(chat_factory):
    c = chat_factory(seed_bots=("a", "b", "c"), bots=("a", "b"))
    b = c.bridge
    assert "mattermost:c" not in b.workers()
    c.cfg["platforms"]["mattermost"]["bots"]["c"] = {"token": mm_token("c")}
    b.write_config(c.cfg)
    c.say("/reload bot c")
    post = c.wait_text(lambda t: t.startswith(("✅ Added mattermost:c", "❌")),
                       timeout=20)
    assert post["message"].startswith("✅ Added mattermost:c"), post["message"]
    wait_for(lambda: b.status().get("mattermost:c", {}).get("state") == "active",
             timeout=10, what="c active")
    assert len(worker_pids(b, "mattermost:c")) == 1
    wait_for(lambda: c.mm.sockets("c"), timeout=10, what="c connected")

    bpid = b.workers()["mattermost:b"]
    del c.cfg["platforms"]["mattermost"]["bots"]["b"]
    b.write_config(c.cfg)
    c.say("/reload bot b")
    post = c.wait_text(lambda t: t.startswith(("✅ Removed mattermost:b", "❌")),
                       timeout=20)
    assert post["message"].startswith("✅ Removed mattermost:b"), post["message"]
    wait_for(lambda: not alive(bpid), timeout=15, what="b's worker gone")
    assert worker_pids(b, "mattermost:b") == []
    st = b.status()
    assert st.get("mattermost:b", {}).get("state") != "active", st
    assert st["mattermost:a"]["gen"] == "1" and st["mattermost:c"]["state"] == "active", st
    wait_for(lambda: not c.mm.sockets("b"), timeout=10, what="b's socket closed")
    c.roundtrip("after add and remove")


def test_slack_token_rotation(bridge_factory, tmp_path):
    fake = Fake()
    b = None
    try:
        cfg = slack_config(tmp_path, fake)
        cfg["platforms"]["slack"]["admins"] = ["U01ALICE"]
        b = bridge_factory(config=cfg)
        old = b.workers()["slack:a"]

        def texts():
            return [m["text"] for m in fake.bot_messages()]

        def wait_text(pred, timeout=20):
            return wait_for(lambda: next((t for t in texts() if pred(t)), None),
                            timeout=timeout, step=0.05, what="a bot message")
        fake.post("before the rotation")
        wait_text(lambda t: t == "before the rotation")
        old_token = cfg["platforms"]["slack"]["bots"]["a"]["token"]
        rot = fake.control("POST", "/tokens/rotate", {"token": old_token})
        assert rot["token"] and rot["token"] != old_token, rot
        cfg["platforms"]["slack"]["bots"]["a"]["token"] = rot["token"]
        b.write_config(cfg)
        fake.post("/reload bot a")
        t = wait_text(lambda t: t.startswith(("✅ Reloaded slack:a", "❌", "⛔")))
        assert t.startswith("✅ Reloaded slack:a"), t
        wait_for(lambda: not alive(old), timeout=15, what="generation 1 gone")
        st = b.status()["slack:a"]
        assert st["gen"] == "2" and st["state"] == "active", st
        fake.post("after the rotation")
        wait_text(lambda t: t == "after the rotation")
        assert rot["token"] not in b.all_logs()
    finally:
        if b is not None:
            b.stop()         # before the fake, so it does not reconnect
        fake.stop()


def test_slack_post_refused_with_the_rotated_token_goes_out_again(bridge_factory,
                                                                   tmp_path):
    """operator-guide.md: "Messages the old worker could not post after the
    token was revoked go out through the new one."  On Slack the refusal is
    `ok:false, invalid_auth` (HTTP 200), not a 401: the "🔄 Reloading bot"
    notice, posted by generation 1 after the rotation, must still appear."""
    fake = Fake()
    b = None
    try:
        cfg = slack_config(tmp_path, fake)
        cfg["platforms"]["slack"]["admins"] = ["U01ALICE"]
        b = bridge_factory(config=cfg)
        old_token = cfg["platforms"]["slack"]["bots"]["a"]["token"]
        rot = fake.control("POST", "/tokens/rotate", {"token": old_token})
        cfg["platforms"]["slack"]["bots"]["a"]["token"] = rot["token"]
        b.write_config(cfg)
        fake.post("/reload bot a")
        wait_for(lambda: any(m["text"].startswith("✅ Reloaded slack:a")
                             for m in fake.bot_messages()),
                 timeout=20, what="the reload's outcome")
        wait_for(lambda: any(m["text"] == "🔄 Reloading bot slack:a …"
                             for m in fake.bot_messages()),
                 timeout=10, what="the notice refused with the old token")
    finally:
        if b is not None:
            b.stop()
        fake.stop()


def test_slack_bad_new_token_keeps_the_running_generation(bridge_factory,
                                                          tmp_path):
    fake = Fake()
    b = None
    try:
        cfg = slack_config(tmp_path, fake)
        cfg["platforms"]["slack"]["admins"] = ["U01ALICE"]
        b = bridge_factory(config=cfg)
        old = b.workers()["slack:a"]
        cfg["platforms"]["slack"]["bots"]["a"]["token"] = "xoxb-nobody-knows-this"
        b.write_config(cfg)
        fake.post("/reload bot a")

        def texts():
            return [m["text"] for m in fake.bot_messages()]
        t = wait_for(lambda: next((t for t in texts() if t.startswith("❌")), None),
                     timeout=20, what="the failure reply")
        assert t.startswith("❌ Reload of slack:a failed, kept the running "
                            "connection:") and "invalid_auth" in t, t
        # The refused candidate may still be exiting: wait until only N runs.
        wait_for(lambda: b.workers().get("slack:a") == old, timeout=10,
                 what="only generation 1 left")
        assert alive(old)
        assert b.status()["slack:a"]["gen"] == "1"
        fake.post("still served")
        wait_for(lambda: "still served" in texts(), timeout=15, what="an answer")
    finally:
        if b is not None:
            b.stop()
        fake.stop()


def test_a_bot_of_a_platform_without_adapter_gets_no_worker(chat):
    """As at start ("No adapter for platform"), a config reload that adds
    a bot of a platform this bridge has no adapter for adds no bot: no
    worker is started for it, and reload-bot does not know it."""
    b = chat.bridge
    chat.cfg["platforms"]["zulip"] = {"url": "http://127.0.0.1:9",
                                      "bots": {"z": {"token": "tok-z"}}}
    b.write_config(chat.cfg)
    r = b.ctl("reload")
    assert r.returncode == 0, r
    assert "zulip:z" not in b.status()
    r = b.ctl("reload-bot", "zulip:z", timeout=30)
    assert r.returncode == 1 and "No bot named" in r.stderr, r
    assert "zulip:z" not in b.workers()
    chat.roundtrip("still served")
