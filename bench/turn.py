"""The bridge's own share of a turn, with the real Copilot runtime and the
fake LLM: N prompts, one at a time, each answered, and sessiond's "turn:"
line for each (sessiond/stream.c): "in", from the worker reading the post
to session.send written to the runtime; "out", from the runtime's last
complete message to the platform's answer to the edit that shows it, of
which the platform's own time (the fake's, measured by the worker's HTTP
client); the runtime's time (with the LLM's) between.  Medians; the goal,
under 2 ms, is for in + out.

Beside it, the fake platform alone: the same edit sent to it by a client of
this script, once per turn's spacing (the runtime's median time, which is how
long the fake sleeps between a turn's placeholder and its final edit), with
no bridge running.  A process that slept that long answers several times
slower than a busy one on this kind of machine; this says how much of the
platform's part is the fake's own."""

import http.client
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from bridge import Bridge, FakeMM, fake_mm_seed, mm_token, wait_for  # noqa: E402
from llm import RUNTIME, FakeLLM, bench_config, runtime_env_of  # noqa: E402

TURN_RX = re.compile(r"turn: channel \S+ bridge_us=(\d+) \(in (\d+), out (\d+), "
                     r"of which the platform (\d+)\) runtime_us=(\d+)")


def turns(tmp, n):
    with runtime_env_of(tmp):
        mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=("alice",)))
        llm = FakeLLM(tmp)
        try:
            rows = one_by_one(tmp, mm, llm, n)
            gap = statistics.median(r[4] for r in rows) / 1e6
            return rows, fake_alone(mm, min(n, 100), gap)
        finally:
            llm.stop()
            mm.stop()


def one_by_one(tmp, mm, llm, n):
    chan, bot = mm.channel("town-square")["id"], mm.user("a")["id"]
    b = Bridge(tmp, bench_config(tmp, mm, llm, chan)).start()
    try:
        # Waiting reads sessiond's log, never the fake: a client polling
        # the fake would share its one thread with the worker's edits and
        # count in the platform's time.
        for i in range(n + 1):              # the first opens the session
            mm.post("alice", chan, f"turn {i}")
            wait_for(lambda: len(TURN_RX.findall(b.log("sessiond.log"))) > i,
                     timeout=60, step=0.01, what=f"turn {i} answered")
        texts = " ".join(p["message"] for p in mm.control(
            "GET", f"/channels/{chan}/posts")["posts"] if p["user_id"] == bot)
        missing = [i for i in range(n + 1) if not re.search(rf"\bturn {i}\b", texts)]
        if missing:
            raise RuntimeError(f"turns not answered: {missing[:5]}")
        rows = [tuple(map(int, m)) for m in TURN_RX.findall(b.log("sessiond.log"))]
        return rows[1:]
    finally:
        b.stop()


def fake_alone(mm, n, gap):
    """The fake's answer times (µs) to n edits of one post, one every gap
    seconds, on one kept-alive connection as the worker's are."""
    chan = mm.channel("town-square")["id"]
    c = http.client.HTTPConnection("127.0.0.1", mm.port, timeout=10)
    hdrs = {"Authorization": f"Bearer {mm_token('a')}",
            "Content-Type": "application/json"}
    try:
        c.request("POST", "/api/v4/posts",
                  json.dumps({"channel_id": chan, "message": "alone"}), hdrs)
        post = json.loads(c.getresponse().read())["id"]
        us = []
        for i in range(n):
            time.sleep(gap)
            t = time.monotonic_ns()
            c.request("PUT", f"/api/v4/posts/{post}/patch",
                      json.dumps({"message": f"alone {i}"}), hdrs)
            if c.getresponse().read() == b"":
                raise RuntimeError("the fake did not answer an edit")
            us.append((time.monotonic_ns() - t) // 1000)
        return us
    finally:
        c.close()


def bench_turn(n=100):
    if not os.path.exists(RUNTIME):
        return None
    with tempfile.TemporaryDirectory() as d:
        rows, alone = turns(Path(d), n)

    def med(xs):
        return round(statistics.median(xs) / 1000, 3)
    return {
        "turns": len(rows),
        "bridge_ms_median": med([r[0] for r in rows]),
        "in_ms_median": med([r[1] for r in rows]),
        "out_ms_median": med([r[2] for r in rows]),
        "platform_ms_median": med([r[3] for r in rows]),
        "bridge_less_platform_ms_median": med([r[0] - r[3] for r in rows]),
        "runtime_ms_median": med([r[4] for r in rows]),
        "fake_platform_alone_ms_median": med(alone),
        "goal_bridge_ms": 2,
    }


if __name__ == "__main__":
    print(json.dumps(bench_turn(int(sys.argv[1]) if len(sys.argv) > 1 else 100),
                     indent=2))
