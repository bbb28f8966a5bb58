"""Stopping the bridge with the real Copilot runtime mid-turn: SIGTERM to
the supervisor until every bridge process and the runtime are gone (the
goal: under 500 ms), over N runs, each with a session streaming an
answer from the fake LLM."""

import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from bridge import Bridge, FakeMM, alive, children_of, fake_mm_seed, wait_for  # noqa: E402
from llm import RUNTIME, FakeLLM, bench_config, runtime_env_of  # noqa: E402


def one_stop(tmp):
    with runtime_env_of(tmp):
        mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=("alice",)))
        llm = FakeLLM(tmp)
        try:
            return stop_mid_turn(tmp, mm, llm)
        finally:
            llm.stop()
            mm.stop()


def stop_mid_turn(tmp, mm, llm):
    chan, bot = mm.channel("town-square")["id"], mm.user("a")["id"]
    b = Bridge(tmp, bench_config(tmp, mm, llm, chan)).start()
    llm.script([{"match": "slow", "reply": "slow " * 200, "chunks": 50,
                 "delay": 0.2}])
    mm.post("alice", chan, "a slow one please")
    wait_for(lambda: any(p["message"].startswith("slow") for p in
                         mm.control("GET", f"/channels/{chan}/posts")["posts"]
                         if p["user_id"] == bot), timeout=60, step=0.05)
    sd = b.sessiond()
    procs = [b.proc.pid] + list(children_of(b.proc.pid)) + list(children_of(sd))
    t0 = time.monotonic()
    b.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: not any(alive(p) for p in procs), timeout=10, step=0.002)
    took = (time.monotonic() - t0) * 1000
    b.proc.wait(5)
    return took


def bench_stop(n=10):
    if not os.path.exists(RUNTIME):
        return None
    ms = []
    for _ in range(n):
        with tempfile.TemporaryDirectory() as d:
            ms.append(one_stop(Path(d)))
    ms.sort()
    return {"runs": n, "sigterm_to_all_gone_ms": {
        "median": round(statistics.median(ms), 1), "max": round(ms[-1], 1),
        "min": round(ms[0], 1)}, "goal_ms": 500}


if __name__ == "__main__":
    import json
    print(json.dumps(bench_stop(), indent=2))
