"""Hooks benchmarks:

save to applied   a hooks.json saved (renamed over) until sessiond's log line
                  says the channel's hooks were reloaded (the line's own
                  timestamp), over N saves; includes the 500 ms debounce.
                  Goal: median under 700 ms (the seed asks for 2 s).
hook call         the runtime's hooks.invoke received until answered, for a
                  trivial command (echo '{...}'): fork, exec bash, read its
                  output; measured by sessiond, over N tool calls with the
                  real Copilot runtime (skipped when it is not installed).
"""

import datetime
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from bridge import Bridge, FakeMM, fake_mm_seed, mm_config, wait_for  # noqa: E402
from llm import RUNTIME, FakeLLM  # noqa: E402

RELOAD = re.compile(r"^(\S+) INFO .*hooks reloaded \(file saved\)", re.M)
ANSWERED = re.compile(r"hook preToolUse answered in (\d+) us")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def stats(xs):
    return {"n": len(xs), "median": round(statistics.median(xs), 3),
            "p99": round(pct(xs, 99), 3), "min": round(min(xs), 3)}


def hooks_json(decision):
    return json.dumps({"version": 1, "hooks": {"preToolUse": [
        {"type": "command", "bash": f"echo '{json.dumps(decision)}'"}]}})


def save(path, text):
    tmp = path.with_name(".hooks.json.tmp")
    tmp.write_text(text)
    os.rename(tmp, path)


def log_time(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def setup(tmp, backend="echo", llm=None):
    ws = tmp / "ws"
    (ws / ".github" / "hooks").mkdir(parents=True)
    hooks = ws / ".github" / "hooks" / "hooks.json"
    hooks.write_text(hooks_json({"permissionDecision": "allow"}))
    mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=("alice",)))
    chan = mm.channel("town-square")["id"]
    cfg = mm_config(tmp, mm, bots=("a",))
    cfg["channels"][0].update(id=chan, triggerMode="all", threadedReplies=False,
                              workingDirectory=str(ws))
    cfg["defaults"] = {"allowWorkspaceHooks": True}
    cfg["session"] = {"backend": backend}
    if llm is not None:
        cfg["providers"] = {"fake": llm.provider()}
        cfg["defaults"]["model"] = "fake:fake-model"
    return mm, chan, hooks, Bridge(tmp, cfg).start()


def bench_save_to_applied(saves=30):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mm, chan, hooks, b = setup(tmp)
        try:
            bot = mm.user("a")["id"]
            mm.post("alice", chan, "open the session")
            wait_for(lambda: any(p["user_id"] == bot for p in mm.control(
                "GET", f"/channels/{chan}/posts")["posts"]), timeout=10)
            lat = []
            for i in range(saves):
                n = len(RELOAD.findall(b.log("sessiond.log")))
                t0 = time.time()
                save(hooks, hooks_json({"permissionDecision": "allow",
                                        "permissionDecisionReason": f"save {i}"}))
                m = wait_for(lambda: RELOAD.findall(b.log("sessiond.log"))[n:],
                             timeout=5, step=0.01, what="the reload")
                lat.append((log_time(m[0]) - t0) * 1000)
        finally:
            b.stop()
            mm.stop()
    return stats(lat)


def bench_hook_call(calls=30):
    if not os.path.exists(RUNTIME):
        return None
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        saved = {k: os.environ.get(k) for k in ("HOME", "COPILOT_HOME", "COPILOT_OFFLINE")}
        os.environ.update(HOME=str(tmp / "home"), COPILOT_HOME=str(tmp / "ch"),
                          COPILOT_OFFLINE="true")
        (tmp / "home").mkdir()
        llm = FakeLLM(tmp)
        llm.script([{"match": "run", "bash": "echo x"},
                    {"when": "tool", "reply": "done"}])
        mm, chan, hooks, b = setup(tmp, "copilot", llm)
        try:
            bot = mm.user("a")["id"]
            for i in range(calls):
                mm.post("alice", chan, f"run {i}")
                wait_for(lambda: sum(p["user_id"] == bot and p["message"] == "done"
                                     for p in mm.control("GET", f"/channels/{chan}/posts")
                                     ["posts"]) > i, timeout=60, step=0.05)
            us = [int(x) for x in ANSWERED.findall(b.log("sessiond.log"))]
        finally:
            b.stop()
            mm.stop()
            llm.stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return stats([u / 1000 for u in us])


def bench_hooks():
    return {"save_to_applied_ms": bench_save_to_applied(
                int(os.environ.get("BENCH_HOOK_SAVES", "30"))),
            "goal_save_to_applied_median_ms": 700,
            "hook_call_ms": bench_hook_call(int(os.environ.get("BENCH_HOOK_CALLS", "30")))}
