"""Slack through the whole tree with the echo backend: long replies, a
stream of messages across refresh_requested, redelivery after a worker
dies holding an unacked envelope, and Slack beside Mattermost."""

import os
import signal
import threading
import time

import pytest

from bridge import FakeMM, alive, fake_mm_seed, wait_for
from test_worker_slack import BOT_UID, CHAN, Fake, slack_config  # noqa: F401


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.stop()


def answers(fake):
    """Every answer the bot gave: one message may answer several prompts
    (mid-turn messages steer the running turn)."""
    return [t for m in fake.bot_messages() for t in m["text"].split("\n\n")]


def test_long_reply_is_split_at_3900(bridge_factory, fake, tmp_path):
    bridge_factory(config=slack_config(tmp_path, fake))
    text = "abcdefghij" * 500
    fake.post(text)

    def whole():
        msgs = sorted(fake.bot_messages(), key=lambda m: float(m["ts"]))
        return len(msgs) == 2 and "".join(m["text"] for m in msgs) == text and msgs
    msgs = wait_for(whole, timeout=15, what="the reply in two messages")
    assert len(msgs[0]["text"]) == 3900


def test_messages_across_refresh_requested(bridge_factory, fake, tmp_path):
    b = bridge_factory(config=slack_config(tmp_path, fake))
    stop = threading.Event()
    counts = []

    def refresher():
        while not stop.wait(2.0):
            fake.control("POST", "/connections/disconnect",
                         {"reason": "refresh_requested"})

    def sampler():
        while not stop.wait(0.01):
            counts.append(len(fake.connections()))
    threads = [threading.Thread(target=refresher), threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    try:
        for i in range(200):
            fake.post(f"m{i}")
            time.sleep(0.025)
        wait_for(lambda: all(f"m{i}" in answers(fake) for i in range(200)),
                 timeout=30, step=0.2, what="200 answers")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    got = answers(fake)
    for i in range(200):
        assert got.count(f"m{i}") == 1, f"m{i} answered {got.count(f'm{i}')} times"
    # The overlap itself is short; test_worker_slack samples it in-process.
    assert counts and min(counts) >= 1, "a moment with no connection open"
    assert b.log("worker-slack-a.log").count("refresh_requested") >= 2


def test_unacked_envelope_is_redelivered_after_a_worker_dies(bridge_factory,
                                                             fake, tmp_path):
    b = bridge_factory(config=slack_config(tmp_path, fake))
    sess = b.sessiond()
    worker = b.workers()["slack:a"]
    os.kill(sess, signal.SIGSTOP)          # no INBOUND_ACK: no envelope ack
    try:
        fake.post("survive the crash")
        wait_for(lambda: any(d["event_type"] == "message" and not d["acked"]
                             for d in fake.deliveries()["deliveries"]),
                 what="the envelope delivered, not acked")
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: not alive(worker), what="worker gone")
    finally:
        os.kill(sess, signal.SIGCONT)
    wait_for(lambda: b.status().get("slack:a", {}).get("gen") == "2" and
             b.status()["slack:a"]["state"] == "active", timeout=15,
             what="generation 2")
    wait_for(lambda: "survive the crash" in answers(fake), timeout=20,
             what="the answer")
    # The fake redelivers 3 s after the unacked delivery, to whichever
    # connection is open by then: wait for it, then for its answer (none).
    wait_for(lambda: any(x["event_type"] == "message" and x["retry_attempt"] >= 1
                         and x["acked"] for x in fake.deliveries()["deliveries"]),
             timeout=20, what="the redelivery, acked")
    time.sleep(1)
    assert answers(fake).count("survive the crash") == 1


def test_mattermost_and_slack_in_one_bridge(bridge_factory, fake, tmp_path):
    mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a",), humans=("alice",)))
    try:
        cfg = slack_config(tmp_path, fake)
        cfg["platforms"]["mattermost"] = {
            "url": mm.url, "access": {"mode": "open"},
            "bots": {"a": {"token": "tok-a-0123456789"}}}
        town = mm.channel("town-square")["id"]
        cfg["channels"].append({"id": town, "platform": "mattermost", "bot": "a",
                                "workingDirectory": str(tmp_path),
                                "triggerMode": "all", "threadedReplies": False})
        b = bridge_factory(config=cfg)
        assert set(b.workers()) == {"slack:a", "mattermost:a"}
        sess = b.sessiond()
        fake.post("hello slack")
        mm.post("alice", town, "hello mattermost")
        wait_for(lambda: "hello slack" in answers(fake), what="slack answer")
        bot = mm.user("a")["id"]
        wait_for(lambda: any(p["user_id"] == bot and p["message"] == "hello mattermost"
                             for p in mm.control("GET", f"/channels/{town}/posts")["posts"]),
                 what="mattermost answer")
        assert b.sessiond() == sess
    finally:
        mm.stop()
