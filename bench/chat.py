"""Chat benchmarks with the echo backend, through the whole tree and the
fake Mattermost:

round trip   a user's post until the bot's final reply edit reaches a
             WebSocket client, one message at a time (median, p99)
throughput   posts per second the bridge takes in (INBOUND taken by
             sessiond, which logs each at debug) with none lost: on
             Mattermost the fake makes the posts first and writes them to
             the bot's socket back to back (/_fake/flood), so the rate is
             the bridge's, not the fake's; each post is a prompt in a DM,
             so the bot answers meanwhile.  The best of three bursts, each
             in a DM of its own, once the bridge has settled.  On
             Slack the fake posts through its control API, from concurrent
             clients: that is the fake's rate.
"""

import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from bridge import Bridge, FakeMM, fake_mm_seed, mm_config, mm_token, wait_for  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def post_trip(http, ws, mm, chan, text, pred):
    """alice posts text; ms until a post or edit pred accepts reaches ws."""
    t0 = time.perf_counter()
    async with http.post(f"{mm.url}/_fake/post", json={
            "user": "alice", "channel": chan, "message": text}) as r:
        await r.read()
    deadline = t0 + 10
    while True:
        msg = await ws.receive(timeout=max(0.01, deadline - time.perf_counter()))
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"websocket: {msg.type}")
        ev = json.loads(msg.data)
        if ev.get("event") not in ("posted", "post_edited"):
            continue
        if pred(json.loads(ev["data"]["post"])):
            return (time.perf_counter() - t0) * 1000


async def round_trips(mm, chan, bot_id, n):
    lat = []
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"ws://127.0.0.1:{mm.port}/api/v4/websocket",
                                   headers={"Authorization": f"Bearer {mm_token('alice')}"})
        for i in range(n):
            want = f"round trip {i}"
            lat.append(await post_trip(
                http, ws, mm, chan, want,
                lambda p: p["user_id"] == bot_id and p["message"] == want))
        await ws.close()
    return lat


async def flood(url, body, n, clients=8):
    """POST body(i) to the fake's /_fake/post for i < n, from clients
    concurrent connections."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
        queue = list(range(n))

        async def worker():
            while queue:
                async with http.post(f"{url}/_fake/post", json=body(queue.pop())) as r:
                    await r.read()
        await asyncio.gather(*(worker() for _ in range(clients)))


def bench_chat(rt_n=200, flood_n=10000):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=("alice",) + BURSTERS))
        chan = mm.channel("town-square")["id"]
        cfg = mm_config(tmp, mm, bots=("a",))
        cfg["logLevel"] = "info"
        cfg["channels"][0].update(id=chan, triggerMode="all", threadedReplies=False)
        b = Bridge(tmp, cfg).start()
        try:
            bot_id = mm.user("a")["id"]
            asyncio.run(round_trips(mm, chan, bot_id, 5))          # warm up
            lat = asyncio.run(round_trips(mm, chan, bot_id, rt_n))
            dms = [mm.channel(members=["a", h])["id"] for h in BURSTERS]
            cfg["logLevel"] = "debug"                # count acknowledged inbound
            b.write_config(cfg)
            b.wait_log(r"config updated", name="sessiond.log")
            runs = [burst(b, mm, dm, h, flood_n) for h, dm in zip(BURSTERS, dms)]
            th = max(runs, key=lambda r: r["posts_per_s"])
            th["runs_posts_per_s"] = [r["posts_per_s"] for r in runs]
            th["lost"] = sum(r["lost"] for r in runs)
        finally:
            b.stop()
            mm.stop()
    return {
        "round_trip_ms": {"n": rt_n, "median": round(statistics.median(lat), 3),
                          "p99": round(pct(lat, 99), 3), "min": round(min(lat), 3)},
        "goal_round_trip_median_ms": 10,
        "throughput": th,
        "goal_posts_per_s": 5000,
    }


BURSTERS = ("bob", "carol", "dave")     # one DM each: every burst a fresh one


def burst(b, mm, chan, user, n):
    """n posts of user's made at once by the fake and written to the bot's
    socket back to back (/_fake/flood), so the fake is not what limits the
    rate: the bridge's posts/s is n over the time from the write until
    sessiond took the last one (its debug line's timestamp)."""
    rx = re.compile(rf"^(\S+) DEBUG sessiond\[\d+\] .* inbound \w+ in \w+ from {user}$",
                    re.M)
    settle(b)
    slog = b.logdir / "sessiond.log"
    off = slog.stat().st_size

    def taken():
        with open(slog, "rb") as f:
            f.seek(off)
            return rx.findall(f.read().decode(errors="replace"))
    r = mm.control("POST", "/flood", {"user": user, "channel": chan, "count": n})
    wait_for(lambda: len(taken()) >= n, timeout=60, step=0.05, what=f"{n} posts taken")
    time.sleep(0.2)
    rows = taken()
    last = max(log_ms(t) for t in rows)
    elapsed = (last - r["written_at_ms"]) / 1000
    return {"posts": n, "accepted": len(rows), "lost": n - len(rows),
            "seconds": round(elapsed, 3), "posts_per_s": round(n / elapsed, 1),
            "generator": "fake /_fake/flood: made first, then one write",
            "fake_build_ms": r["build_ms"]}


def settle(b, quiet=1.0, timeout=120):
    """Wait until the bridge has finished what it was doing (the answers
    to a previous burst): its logs (at debug, every op is a line) stay the
    same size for quiet seconds."""
    def size():
        return sum(p.stat().st_size for p in b.logdir.iterdir())
    deadline = time.monotonic() + timeout
    last, since = size(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the bridge was still busy after {timeout} s")
        time.sleep(0.1)
        now = size()
        if now != last:
            last, since = now, time.monotonic()


def log_ms(ts):
    """A log line's timestamp (2024-01-02T03:04:05.678Z) in epoch ms."""
    d = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return d.timestamp() * 1000


def slack_shown(fake, text):
    """When the fake answered the bot's call that shows text (its clock),
    or None."""
    for r in fake.log():
        if r["method"] in ("chat.postMessage", "chat.update") and r["ok"] and \
                json.loads(r["args"] or "{}").get("text") == text:
            return r["time"]
    return None


def bench_slack(rt_n=200, flood_n=2000):
    """The same two measures on Slack.  The fake Slack has no user-side
    socket: a round trip is read off the fake's own clock, from the user's
    message (its ts) to the fake's answer to the bot's call that carries the
    reply (its request log), so the client's polling for it, in this
    process as the fake is, does not count."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "fakes"))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
    from test_worker_slack import CHAN, Fake, slack_config

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        fake = Fake()
        cfg = slack_config(tmp, fake)
        cfg["logLevel"] = "info"
        b = Bridge(tmp, cfg).start()
        try:
            lat = []
            for i in range(rt_n + 5):
                want = f"round trip {i}"
                ts = float(fake.post(want)["ts"])
                shown = wait_for(lambda: slack_shown(fake, want), timeout=10,
                                 step=0.005, what=f"a reply {want!r}")
                if i >= 5:
                    lat.append((shown - ts) * 1000)
            cfg["logLevel"] = "debug"
            b.write_config(cfg)
            b.wait_log(r"config updated", name="sessiond.log")
            slog = tmp / "logs" / "sessiond.log"
            base = slog.read_text(errors="replace").count(" from U01BOB")
            t0 = time.perf_counter()

            asyncio.run(flood(fake.url, lambda i: {"user": "bob", "channel": CHAN,
                                                   "text": f"flood {i}"}, flood_n))
            posted = time.perf_counter() - t0

            def accepted():
                return slog.read_text(errors="replace").count(" from U01BOB") - base
            wait_for(lambda: accepted() >= flood_n, timeout=60, step=0.01,
                     what=f"{flood_n} Slack posts accepted")
            elapsed = time.perf_counter() - t0
            got = accepted()
        finally:
            b.stop()
            fake.stop()
    return {
        "round_trip_ms": {"n": rt_n, "median": round(statistics.median(lat), 3),
                          "p99": round(pct(lat, 99), 3), "min": round(min(lat), 3),
                          "method": "the fake's clock: user message ts to "
                                    "its answer to the reply's call"},
        "throughput": {"posts": flood_n, "accepted": got, "lost": flood_n - got,
                       "seconds": round(elapsed, 3),
                       "posts_per_s": round(flood_n / elapsed, 1),
                       "fake_post_rate_per_s": round(flood_n / posted, 1)},
    }
