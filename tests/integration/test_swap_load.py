"""SC-006: no message lost or answered twice while a bot's worker is
replaced, under steady load, on both platforms (echo backend)."""

import threading
import time

import pytest

from bridge import FakeMM, fake_mm_seed, mm_config, wait_for
from test_worker_slack import Fake, slack_config


def run_load(post, n, rate, during):
    """Post n messages at rate/s from a thread while during() runs."""
    sent = []

    def load():
        t0 = time.monotonic()
        for i in range(n):
            post(f"load {i}")
            sent.append(f"load {i}")
            time.sleep(max(0, t0 + (i + 1) / rate - time.monotonic()))
    th = threading.Thread(target=load)
    th.start()
    try:
        during()
    finally:
        th.join(n / rate + 60)
    return sent


def check_all_once(sent, answers, timeout=60):
    wait_for(lambda: set(sent) <= set(answers()), timeout=timeout, step=0.25,
             what="every message answered")
    got = answers()
    lost = [m for m in sent if m not in got]
    twice = [m for m in sent if got.count(m) > 1]
    assert not lost and not twice, f"lost {lost[:5]}, twice {twice[:5]}"


@pytest.fixture
def mm_chat(bridge_factory, tmp_path):
    mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a", "b"), humans=("alice",)))
    chan = mm.channel("town-square")["id"]
    cfg = mm_config(tmp_path, mm, bots=("a", "b"))
    cfg["logLevel"] = "info"
    cfg["channels"][0].update(id=chan, triggerMode="all", threadedReplies=False)
    cfg["platforms"]["mattermost"]["admins"] = ["alice"]
    b = bridge_factory(config=cfg)
    bot = mm.user("a")["id"]

    def answers():
        posts = mm.control("GET", f"/channels/{chan}/posts")["posts"]
        return [t for p in posts if p["user_id"] == bot
                for t in p["message"].split("\n\n")]
    yield mm, chan, cfg, b, answers
    b.stop()
    mm.stop()


def test_100_messages_at_1_per_s_across_a_token_rotation(mm_chat):
    mm, chan, cfg, b, answers = mm_chat
    other = b.workers()["mattermost:b"]

    def rotate():
        time.sleep(30)
        rot = mm.control("POST", "/tokens/rotate", {"user": "a", "sockets": "keep"})
        cfg["platforms"]["mattermost"]["bots"]["a"]["token"] = rot["token"]
        b.write_config(cfg)
        mm.post("alice", chan, "/reload bot a")
        wait_for(lambda: any(t.startswith("✅ Reloaded mattermost:a")
                             for t in answers()), timeout=30, what="reloaded")
    sent = run_load(lambda t: mm.post("alice", chan, t), 100, 1, rotate)
    check_all_once(sent, answers)
    assert b.status()["mattermost:a"]["gen"] == "2"
    assert b.workers()["mattermost:b"] == other


def test_1000_messages_at_50_per_s_across_10_reloads(mm_chat):
    mm, chan, cfg, b, answers = mm_chat

    def reloads():
        for _ in range(10):
            time.sleep(1.5)
            r = b.ctl("reload-bot", "mattermost:a", timeout=60)
            assert r.returncode == 0, r.stderr
    sent = run_load(lambda t: mm.post("alice", chan, t), 1000, 50, reloads)
    check_all_once(sent, answers)
    assert b.status()["mattermost:a"]["gen"] == "11"


def test_slack_1000_messages_at_50_per_s_across_10_reloads(bridge_factory,
                                                           tmp_path):
    fake = Fake()
    try:
        cfg = slack_config(tmp_path, fake)
        cfg["logLevel"] = "info"
        b = bridge_factory(config=cfg)

        def answers():
            return [t for m in fake.bot_messages() for t in m["text"].split("\n\n")]

        def reloads():
            for _ in range(10):
                time.sleep(1.5)
                r = b.ctl("reload-bot", "slack:a", timeout=60)
                assert r.returncode == 0, r.stderr
        sent = run_load(lambda t: fake.post(t), 1000, 50, reloads)
        check_all_once(sent, answers)
        assert b.status()["slack:a"]["gen"] == "11"
    finally:
        fake.stop()
