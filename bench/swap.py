"""Swap benchmark: N `reload-bot` swaps of one bot while users post at a
steady rate; handshake and total swap times from the supervisor's swap
lines, and every message checked for loss and duplicates.  Beside it, the
upstream way of applying a bot change: stop the whole bridge and start it
again, measured as the time the bot is gone."""

import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from bridge import Bridge, FakeMM, fake_mm_seed, mm_config, wait_for  # noqa: E402

SWAP_RX = re.compile(r"swap: bot=mattermost:a .* outcome=(\w+) .*handshake_ms=(\d+) "
                     r"total_ms=(\d+) phases_us=(\S+)")
# Where a swap's time goes, from the request (µs; see "The swap" in
# docs/architecture.md): the candidate has its CONFIG (a spare adopted, or
# spawned and said HELLO), its adapter started (first request sent), its
# platform ready, its READY here, the old generation told to drain, its
# DRAINED, and the swap's end (reply sent).
PHASES = ("config", "start", "connect", "ready", "drain", "drained", "end")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def post_load(mm, chan, rate, sent, stop):
    """alice posts "load N" into chan at rate/s, appending each to sent,
    until stop is set."""
    i = 0
    while not stop.is_set():
        t = time.monotonic()
        mm.post("alice", chan, f"load {i}")
        sent.append(f"load {i}")
        i += 1
        stop.wait(max(0, 1 / rate - (time.monotonic() - t)))


def bot_answers(mm, chan, bot_id):
    """The bot's answers in chan: one per paragraph (steered messages are
    answered in the same turn)."""
    posts = mm.control("GET", f"/channels/{chan}/posts")["posts"]
    return [t for p in posts if p["user_id"] == bot_id
            for t in p["message"].split("\n\n")]


def bench_swap(swaps=50, rate=50):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=("alice",)))
        chan = mm.channel("town-square")["id"]
        bot = mm.user("a")["id"]
        cfg = mm_config(tmp, mm, bots=("a",))
        cfg["logLevel"] = "info"
        cfg["channels"][0].update(id=chan, triggerMode="all", threadedReplies=False)
        b = Bridge(tmp, cfg).start()
        sent, stop = [], threading.Event()
        answers = lambda: bot_answers(mm, chan, bot)  # noqa: E731
        th = threading.Thread(target=post_load, args=(mm, chan, rate, sent, stop))
        th.start()
        try:
            for _ in range(swaps):
                r = b.ctl("reload-bot", "mattermost:a", timeout=60)
                if r.returncode != 0:
                    raise RuntimeError(f"reload-bot failed: {r.stderr}")
            stop.set()
            th.join(10)
            wait_for(lambda: set(sent) <= set(answers()), timeout=60, step=0.2,
                     what="every message answered")
            got = answers()
            lost = [m for m in sent if m not in got]
            dup = [m for m in sent if got.count(m) > 1]
            rows = [m.groups() for m in SWAP_RX.finditer(b.log())]
            hs = [int(h) for ok, h, t, _ in rows if ok == "ok"]
            tot = [int(t) for ok, h, t, _ in rows if ok == "ok"]
            phases = [dict(kv.split(":") for kv in ph.split(","))
                      for ok, _, _, ph in rows if ok == "ok"]
            spares = b.log().count("adopted as mattermost:a")

            # The upstream way: stop everything, start again.
            t0 = time.monotonic()
            b.stop()
            b.start()
            restart_ms = (time.monotonic() - t0) * 1000
        finally:
            stop.set()
            b.stop()
            mm.stop()
    return {
        "swaps": swaps, "load_msgs_per_s": rate, "messages": len(sent),
        "lost": len(lost), "duplicated": len(dup),
        "handshake_ms": {"median": statistics.median(hs), "p99": pct(hs, 99)},
        "total_ms": {"median": statistics.median(tot), "p99": pct(tot, 99)},
        "phases_ms_median": {
            k: round(statistics.median(int(p[k]) for p in phases) / 1000, 2)
            for k in PHASES if all(int(p.get(k, -1)) >= 0 for p in phases)},
        "spare_adopted": spares,
        "goal_total_median_ms": 15, "goal_total_p99_ms": 30,
        "restart_way_downtime_ms": round(restart_ms, 1),
    }
