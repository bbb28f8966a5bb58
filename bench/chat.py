"""Chat benchmarks with the echo backend, through the whole tree and the
fake Mattermost:

round trip   a user's post until the bot's final reply edit reaches a
             WebSocket client, one message at a time (median, p99)
throughput   posts per second the bridge accepts (INBOUND taken by
             sessiond, which logs each) with none lost, posted into a DM
             by concurrent clients
"""

import asyncio
import json
import statistics
import sys
import tempfile
import time
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


def bench_chat(rt_n=200, flood_n=2000):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=("alice", "bob")))
        chan = mm.channel("town-square")["id"]
        cfg = mm_config(tmp, mm, bots=("a",))
        cfg["logLevel"] = "info"
        cfg["channels"][0].update(id=chan, triggerMode="all", threadedReplies=False)
        b = Bridge(tmp, cfg).start()
        try:
            bot_id = mm.user("a")["id"]
            asyncio.run(round_trips(mm, chan, bot_id, 5))          # warm up
            lat = asyncio.run(round_trips(mm, chan, bot_id, rt_n))
            dm = mm.channel(members=["a", "bob"])["id"]
            cfg["logLevel"] = "debug"                # count acknowledged inbound
            b.write_config(cfg)
            b.wait_log(r"config updated", name="sessiond.log")
            slog = tmp / "logs" / "sessiond.log"
            base = slog.read_text(errors="replace").count(" from bob")
            t0 = time.perf_counter()
            asyncio.run(flood(mm.url, lambda i: {"user": "bob", "channel": dm,
                                                 "message": f"flood {i}"}, flood_n))
            posted = time.perf_counter() - t0

            def accepted():
                return slog.read_text(errors="replace").count(" from bob") - base
            wait_for(lambda: accepted() >= flood_n, timeout=60, step=0.01,
                     what=f"{flood_n} posts accepted")
            elapsed = time.perf_counter() - t0
            got = accepted()
        finally:
            b.stop()
            mm.stop()
    return {
        "round_trip_ms": {"n": rt_n, "median": round(statistics.median(lat), 3),
                          "p99": round(pct(lat, 99), 3), "min": round(min(lat), 3)},
        "goal_round_trip_median_ms": 10,
        "throughput": {"posts": flood_n, "accepted": got, "lost": flood_n - got,
                       "seconds": round(elapsed, 3),
                       "posts_per_s": round(flood_n / elapsed, 1),
                       "fake_post_rate_per_s": round(flood_n / posted, 1)},
        "goal_posts_per_s": 2000,
    }


def bench_slack(rt_n=200, flood_n=2000):
    """The same two measures on Slack.  The fake Slack has no user-side
    socket, so a round trip ends when the control API first shows the final
    text (polled every millisecond): the Mattermost figure, read from a
    WebSocket, is the tighter one."""
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

            def texts():
                return [m["text"] for m in fake.bot_messages()]
            for i in range(rt_n + 5):
                want = f"round trip {i}"
                t0 = time.perf_counter()
                fake.post(want)
                deadline = t0 + 10
                while want not in texts():
                    if time.perf_counter() > deadline:
                        raise RuntimeError("no reply within 10 s")
                    time.sleep(0.001)
                if i >= 5:
                    lat.append((time.perf_counter() - t0) * 1000)
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
                          "method": "control API polled every 1 ms"},
        "throughput": {"posts": flood_n, "accepted": got, "lost": flood_n - got,
                       "seconds": round(elapsed, 3),
                       "posts_per_s": round(flood_n / elapsed, 1),
                       "fake_post_rate_per_s": round(flood_n / posted, 1)},
    }
