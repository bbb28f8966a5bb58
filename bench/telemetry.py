"""Telemetry overhead: the echo round trip (a user's post until the bot's
reply reaches a WebSocket client, as in chat.py) with spans exported to a
collector (tests/fakes/otlp.py) and without, in one run, alternating
blocks so that machine noise falls on both.  Goal: under 5 % overhead.
"""

import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bridge import Bridge, FakeMM, fake_mm_seed, mm_config  # noqa: E402
from chat import pct, round_trips  # noqa: E402


class Collector:
    """The fake collector in its own process, so its work does not compete
    with the measuring client for this interpreter."""

    def __init__(self, tmp):
        import select
        import subprocess
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(Path(__file__).resolve().parent.parent /
                                     "tests" / "fakes" / "otlp.py"), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        r, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"fake otlp did not start: {line!r}")
        self.url = "http://127.0.0.1:%d" % int(line.split()[1])

    def spans(self):
        import json
        import urllib.request
        with urllib.request.urlopen(self.url + "/_fake/state", timeout=10) as r:
            return json.loads(r.read())["spans"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)
        self.proc.stdout.close()


def bridge(tmp, collector):
    mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=("alice", "bob")))
    chan = mm.channel("town-square")["id"]
    cfg = mm_config(tmp, mm, bots=("a",))
    cfg["logLevel"] = "info"
    cfg["channels"][0].update(id=chan, triggerMode="all", threadedReplies=False)
    if collector is not None:
        cfg["telemetry"] = {"otlpEndpoint": collector.url}
    return mm, chan, Bridge(tmp, cfg).start()


def bench_telemetry(n=200, blocks=4):
    lat = {"off": [], "on": []}
    col = Collector(Path(tempfile.gettempdir()))
    try:
        for i in range(blocks):
            mode = "off" if i % 2 == 0 else "on"
            with tempfile.TemporaryDirectory() as d:
                mm, chan, b = bridge(Path(d), col if mode == "on" else None)
                try:
                    bot = mm.user("a")["id"]
                    asyncio.run(round_trips(mm, chan, bot, 5))      # warm up
                    lat[mode] += asyncio.run(round_trips(mm, chan, bot,
                                                         n // (blocks // 2)))
                finally:
                    b.stop()
                    mm.stop()
        spans = col.spans()
    finally:
        col.stop()
    med = {k: statistics.median(v) for k, v in lat.items()}
    return {
        "round_trip_ms": {k: {"n": len(v), "median": round(med[k], 3),
                              "p99": round(pct(v, 99), 3)} for k, v in lat.items()},
        "overhead_pct": round((med["on"] / med["off"] - 1) * 100, 1),
        "spans_received": spans,
        "goal_overhead_pct": 5,
    }
