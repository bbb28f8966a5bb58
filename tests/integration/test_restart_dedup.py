"""Nothing answered twice across restarts.  A new worker catches up from
sessiond's cursors, re-reading the last seconds before each (late delivery,
clock skew): what was answered in those seconds must not be answered again
after a full stop and start, a sessiond kill -9 or a worker kill -9; what
was posted while the bridge was down is answered exactly once.  Slack
redelivers an envelope whose ack was lost.  Echo backend; every wait is
bounded.  (docs/architecture.md, "Catch-up after a restart".)"""

import asyncio
import json
import os
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from bridge import FakeMM, alive, fake_mm_seed, mm_config, wait_for
from test_state import _flood
from test_worker_slack import Fake, slack_config

MARGIN_MS = 5000        # IPC_CATCHUP_MARGIN_MS
SEEN_MAX = 256          # sessiond/seen.h


class Chat:
    """Bot a on a fake Mattermost: town-square (triggerMode all) and a DM
    with each human; one bridge, started and stopped by the test."""

    def __init__(self, bridge_factory, tmp_path, humans=("alice", "bob")):
        self.mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a",), humans=humans))
        self.human = humans[0]
        self.town = self.mm.channel("town-square")["id"]
        self.dm = {h: self.mm.channel(members=["a", h])["id"] for h in humans}
        self.bot_id = self.mm.user("a")["id"]
        cfg = mm_config(tmp_path, self.mm, bots=("a",))
        cfg["channels"][0].update(id=self.town, triggerMode="all",
                                  threadedReplies=False)
        cfg["platforms"]["mattermost"]["admins"] = ["alice"]
        self.db = tmp_path / "state" / "state.db"
        self.bridge = bridge_factory(config=cfg, start=False)

    def say(self, text, user=None, chan=None):
        return self.mm.post(user or self.human, chan or self.town, text)

    def answers(self, chans=None):
        """Every answer the bot gave, counted: one post may answer several
        prompts (mid-turn messages steer the running turn)."""
        got = Counter()
        for ch in chans or [self.town, *self.dm.values()]:
            for p in self.mm.control("GET", f"/channels/{ch}/posts")["posts"]:
                if p["user_id"] == self.bot_id:
                    got.update(p["message"].split("\n\n"))
        return got

    def wait_answered(self, texts, timeout=20):
        wait_for(lambda: all(self.answers()[t] >= 1 for t in texts),
                 timeout=timeout, step=0.1, what=f"answers to {len(texts)}")

    def worker_log(self):
        return self.bridge.log("worker-mattermost-a.log")

    def settle(self, mark):
        """The catch-up that follows mark (a worker-log offset) is done, and
        every channel answered a prompt posted after it: channels answer in
        order, so any second answer the catch-up caused is in by then."""
        self.bridge.wait_log(r"catch-up done", "worker-mattermost-a.log",
                             timeout=20, after=mark)
        last = [f"sentinel {n}" for n in range(len(self.dm) + 1)]
        self.say(last[0])
        for t, (h, ch) in zip(last[1:], self.dm.items()):
            self.say(t, user=h, chan=ch)
        self.wait_answered(last)

    def assert_once(self, texts):
        got = self.answers()
        twice = {t: got[t] for t in texts if got[t] != 1}
        assert not twice, f"answered other than once: {twice}"

    def cursor_rows(self):
        if not self.db.exists():
            return []
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return db.execute("SELECT * FROM bridge_cursors").fetchall()
        except sqlite3.OperationalError:       # not created yet
            return []
        finally:
            db.close()

    def seen_rows(self):
        """(channel, cursor, seen ids) of each cursor; None without ids."""
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return db.execute("SELECT channel_id, cursor_ms, seen_ids FROM "
                              "bridge_cursors").fetchall()
        except sqlite3.OperationalError:
            return None
        finally:
            db.close()


@pytest.fixture
def chat(bridge_factory, tmp_path):
    c = Chat(bridge_factory, tmp_path)
    yield c
    c.bridge.stop()
    c.mm.stop()


def test_answered_posts_are_not_answered_again_after_a_restart(chat):
    chat.bridge.start()
    before = [f"before {i}" for i in range(3)]
    for t in before:
        chat.say(t)
    chat.say("dm before", user="bob", chan=chat.dm["bob"])
    chat.wait_answered(before + ["dm before"])
    chat.bridge.stop()
    down = ["while down 1", "while down 2"]
    for t in down:
        chat.say(t)
    chat.say("dm while down", user="bob", chan=chat.dm["bob"])
    mark = len(chat.worker_log())
    chat.bridge.start()
    chat.wait_answered(down + ["dm while down"])
    chat.settle(mark)
    chat.assert_once(before + down + ["dm before", "dm while down"])
    assert "from sessiond's cursors" in chat.worker_log()[mark:]


def test_a_command_is_not_run_again_after_a_restart(chat):
    chat.bridge.start()
    chat.say("/reload bot a")
    wait_for(lambda: any(t.startswith("✅ Reloaded mattermost:a")
                         for t in chat.answers([chat.town])),
             timeout=20, what="the reload's outcome")
    chat.bridge.stop()
    mark = len(chat.worker_log())
    chat.bridge.start()
    chat.settle(mark)
    got = chat.answers([chat.town])
    assert sum(n for t, n in got.items()
               if t.startswith("🔄 Reloading bot")) == 1, got


def test_a_turn_the_stop_cuts_short_is_answered_after_the_restart(chat):
    """A prompt whose turn waits for a permission when the bridge stops was
    never answered: the next start reads it again and answers it."""
    chat.bridge.start()
    chat.say("/echo-permission held over")
    wait_for(lambda: any("Permission Required" in t for t in
                         chat.answers([chat.town])), what="the prompt")
    chat.bridge.stop()
    mark = len(chat.worker_log())
    chat.bridge.start()
    wait_for(lambda: sum(n for t, n in chat.answers([chat.town]).items()
                         if "Permission Required" in t) == 2,
             timeout=20, what="the prompt again")
    chat.say("yes")
    chat.wait_answered(["approved: held over"])
    chat.settle(mark)
    assert chat.answers([chat.town])["approved: held over"] == 1


def test_a_version_1_database_is_brought_forward(chat):
    """state_v1.sql: a state.db written by the version before the seen ids.
    It opens, gains bridge_cursors.seen_ids, keeps its rows, and from then
    on the ids are kept."""
    chat.db.parent.mkdir()
    v1 = sqlite3.connect(chat.db)
    v1.executescript((Path(__file__).parent / "state_v1.sql").read_text())
    v1.close()
    chat.bridge.start()
    slog = chat.bridge.log("sessiond.log")
    assert "schema version 2 (thread sessions, the message ids of each catch-up cursor)" in slog
    assert "schema version 1 " not in slog
    post = chat.say("after the upgrade")
    chat.wait_answered(["after the upgrade"])
    assert f"channel {chat.town}: resuming session echo-{chat.town}-1" in \
        chat.bridge.log("sessiond.log")
    wait_for(lambda: any(row[0] == chat.town and row[3] is not None and
                         post["id"] in row[3] for row in chat.cursor_rows()),
             what="the post's id kept with the cursor")


def test_each_channel_is_read_from_its_own_cursor(chat):
    """Channels whose cursors are far apart: each is re-read from its own
    cursor, not from the oldest one, so a post answered more than the
    margin before its channel's cursor is not read again either."""
    chat.bridge.start()
    chat.say("dm early", user="bob", chan=chat.dm["bob"])
    chat.say("town early")
    chat.wait_answered(["dm early", "town early"])
    time.sleep(MARGIN_MS / 1000 + 1)
    chat.say("town late")
    chat.wait_answered(["town late"])
    chat.bridge.stop()
    mark = len(chat.worker_log())
    chat.bridge.start()
    chat.settle(mark)
    chat.assert_once(["dm early", "town early", "town late"])


def test_sessiond_kill_9(chat):
    chat.bridge.start()
    before = [f"before {i}" for i in range(3)]
    last = [chat.say(t) for t in before][-1]
    chat.wait_answered(before)
    # Saved (a batch at most every 200 ms): the next sessiond sends the
    # cursor and the worker catches up from it.
    wait_for(lambda: any(row[2] >= last["create_at"] for row in
                         chat.cursor_rows()), what="the cursor saved")
    mark = len(chat.worker_log())
    old = chat.bridge.sessiond()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not alive(old), what="sessiond gone")
    chat.say("while sessiond restarts")
    wait_for(lambda: chat.bridge.sessiond() not in (None, old) and
             chat.bridge.status().get("sessiond", {}).get("state") == "active",
             timeout=15, what="a new sessiond")
    chat.wait_answered(["while sessiond restarts"])
    chat.settle(mark)
    chat.assert_once(before + ["while sessiond restarts"])


def test_worker_kill_9(chat):
    chat.bridge.start()
    before = [f"before {i}" for i in range(3)]
    for t in before:
        chat.say(t)
    chat.wait_answered(before)
    mark = len(chat.worker_log())
    old = chat.bridge.workers()["mattermost:a"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not alive(old), what="the worker gone")
    chat.say("while no worker runs")
    wait_for(lambda: chat.bridge.status().get("mattermost:a", {}).get("gen") == "2"
             and chat.bridge.status()["mattermost:a"]["state"] == "active",
             timeout=15, what="generation 2")
    chat.wait_answered(["while no worker runs"])
    chat.settle(mark)
    chat.assert_once(before + ["while no worker runs"])


def test_worker_kill_9_then_a_dm_never_written_in(chat):
    """The first post of a DM reaches only a worker that dies before
    reading it: sessiond has no cursor for that DM, and it is answered all
    the same, once."""
    chat.bridge.start()
    chat.say("before")
    chat.wait_answered(["before"])
    mark = len(chat.worker_log())
    old = chat.bridge.workers()["mattermost:a"]
    os.kill(old, signal.SIGSTOP)
    chat.say("first words in a DM", user="bob", chan=chat.dm["bob"])
    time.sleep(0.3)         # the event is on its way to the stopped worker
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not alive(old), what="the worker gone")
    chat.wait_answered(["first words in a DM"])
    chat.settle(mark)
    chat.assert_once(["before", "first words in a DM"])


def test_a_burst_right_before_a_restart(bridge_factory, tmp_path):
    """Hundreds of prompts over several channels, the bridge stopped as soon
    as the last is answered, more posted while it is down: each answered
    exactly once, and what sessiond keeps per channel stays bounded."""
    humans = tuple(f"user{i}" for i in range(6))
    chat = Chat(bridge_factory, tmp_path, humans=humans)
    try:
        chat.bridge.start()
        chans = [(h, chat.dm[h]) for h in humans] + [("user0", chat.town)]
        burst = [{"user": chans[i % len(chans)][0],
                  "channel": chans[i % len(chans)][1],
                  "message": f"burst {i}"} for i in range(350)]
        asyncio.run(_flood(chat.mm.url, burst))
        texts = [b["message"] for b in burst]
        chat.wait_answered(texts, timeout=90)
        chat.bridge.stop()
        rows = chat.seen_rows()
        down = [f"down {i}" for i in range(len(chans))]
        for t, (h, ch) in zip(down, chans):
            chat.say(t, user=h, chan=ch)
        mark = len(chat.worker_log())
        chat.bridge.start()
        chat.wait_answered(down)
        chat.settle(mark)
        chat.assert_once(texts + down)
        assert rows is not None and len(rows) == len(chans), rows
        for ch, cursor, seen in rows:
            ids = json.loads(seen)
            assert 0 < len(ids) <= SEEN_MAX, (ch, len(ids))
            assert all(cursor - MARGIN_MS <= ms <= cursor for _, ms in ids)
    finally:
        chat.bridge.stop()
        chat.mm.stop()


def test_slack_envelope_redelivered_after_a_restart(bridge_factory, tmp_path):
    """An envelope answered but whose ack Slack never got comes again, to
    the next connection, after the bridge restarted: not answered again."""
    fake = Fake()
    b = bridge_factory(config=slack_config(tmp_path, fake), start=False)
    try:
        b.start()
        fake.control("POST", "/redelivery", {"enabled": False})
        fake.control("POST", "/acks/ignore", {"count": 1})
        fake.post("ack lost")
        wait_for(lambda: "ack lost" in answers(fake), what="the answer")
        wait_for(lambda: any(r["result"] == "ignored" for r in
                             fake.deliveries()["acks"]), what="the lost ack")
        b.stop()
        b.start()
        fake.control("POST", "/redelivery", {"enabled": True})
        wait_for(lambda: any(x["event_type"] == "message" and
                             x["retry_attempt"] >= 1 and x["acked"]
                             for x in fake.deliveries()["deliveries"]),
                 timeout=20, what="the redelivery, acked")
        fake.post("after the restart")
        wait_for(lambda: "after the restart" in answers(fake), what="the answer")
        assert answers(fake).count("ack lost") == 1, answers(fake)
    finally:
        b.stop()
        fake.stop()


def answers(fake):
    return [t for m in fake.bot_messages() for t in m["text"].split("\n\n")]
