"""Chat command benchmarks with the echo backend, through the whole tree and
the fake Mattermost, while bob posts 200 messages/s into a DM with the same
bot (each a turn of its own):

/status          a user's "/status" until the bot's reply reaches a
                 WebSocket client (median, p99)
/verbose         a preference write: "/verbose on|off" until its reply,
                 which comes only once the preference is on disk
"""

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from chat import pct, post_trip

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from bridge import Bridge, FakeMM, fake_mm_seed, mm_config, mm_token  # noqa: E402


def summary(lat):
    return {"n": len(lat), "median": round(statistics.median(lat), 3),
            "p99": round(pct(lat, 99), 3), "min": round(min(lat), 3)}


async def load(http, url, dm, rate, stop):
    """bob posts into the DM at rate messages/s until stop is set."""
    sent, t0 = 0, time.perf_counter()
    while not stop.is_set():
        due = t0 + sent / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        async with http.post(f"{url}/_fake/post", json={
                "user": "bob", "channel": dm, "message": f"load {sent}"}) as r:
            await r.read()
        sent += 1
    return sent, time.perf_counter() - t0


async def command_trips(mm, chan, bot_id, dm, n, rate):
    """n round trips of /status, then n of /verbose, under the load."""
    out = {"status": [], "verbose": []}
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"ws://127.0.0.1:{mm.port}/api/v4/websocket",
                                   headers={"Authorization": f"Bearer {mm_token('alice')}"})

        async def trip(text, want):
            return await post_trip(
                http, ws, mm, chan, text,
                lambda p: p["user_id"] == bot_id and p["channel_id"] == chan
                and p["message"].startswith(want))

        await trip("hello", "hello")                   # a session to report
        stop = asyncio.Event()
        loader = asyncio.ensure_future(load(http, mm.url, dm, rate, stop))
        await asyncio.sleep(1.0)                       # the load is steady
        for i in range(n):
            out["status"].append(await trip("/status", "📊 **Session Status**"))
        for i in range(n):
            on = i % 2 == 0
            out["verbose"].append(await trip(
                "/verbose on" if on else "/verbose off",
                "🔊 Verbose mode" if on else "🔇 Verbose mode"))
        stop.set()
        sent, secs = await loader
        await ws.close()
    return out, sent, secs


def bench_commands(n=100, rate=200):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=("alice", "bob")))
        chan = mm.channel("town-square")["id"]
        cfg = mm_config(tmp, mm, bots=("a",),
                        access={"mode": "allowlist", "users": ["alice", "bob"]})
        cfg["logLevel"] = "info"
        cfg["channels"][0].update(id=chan, triggerMode="all", threadedReplies=False)
        b = Bridge(tmp, cfg).start()
        try:
            bot_id = mm.user("a")["id"]
            dm = mm.channel(members=["a", "bob"])["id"]
            lat, sent, secs = asyncio.run(command_trips(mm, chan, bot_id, dm, n,
                                                        rate))
        finally:
            b.stop()
            mm.stop()
    return {
        "status_round_trip_ms": summary(lat["status"]),
        "verbose_round_trip_ms": summary(lat["verbose"]),
        "load": {"messages": sent, "seconds": round(secs, 3),
                 "per_s": round(sent / secs, 1), "goal_per_s": rate},
    }


if __name__ == "__main__":
    print(json.dumps(bench_commands(), indent=2))
