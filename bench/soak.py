#!/usr/bin/python3
"""make soak: the bridge under steady load and steady disturbance for
SOAK_MINUTES (default 30), echo backend, two Mattermost bots on the fake.

load         20 posts a second in all, alternately in each bot's channel
swap         every 10 s a `ctl reload-bot`, the bots in turn
kill -9      every 60 s the serving worker of a bot (in turn) is killed;
             the supervisor restarts it and it catches up
hooks save   every 30 s the workspace's hooks.json, which both channels
             use, is saved (renamed over)
telemetry    every 5 min the telemetry settings change (the file exporter
             moves to another file); a run shorter than 10 min changes them
             once, half-way

Every 2 s the RSS and open descriptors of the supervisor, sessiond and
each bot's serving worker are sampled.  At the end: every post answered
exactly once (the answers as a WebSocket client sees them, merged with
what the fake still holds), and each series flat: the median of its last
quarter within 10 % of the median of its first (descriptors: or within
2).  It prints a table, writes bench/results/soak.json and exits 1 if a
check failed.  Not part of make check or CI.
"""

import asyncio
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from bridge import (Bridge, FakeMM, fake_mm_seed, mm_config, mm_token,  # noqa: E402
                    wait_for)
from conftest import SANITIZER_MARKS  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BOTS = ("a", "b")
RATE = 20               # posts a second, both bots together
SAMPLE_S = 2
SWAP_S, KILL_S, HOOKS_S, TELEMETRY_S = 10, 60, 30, 300
SWAP_RX = re.compile(r"swap: bot=(\S+) .* outcome=(\w+) .*total_ms=(\d+)")


def hooks_json(n):
    return json.dumps({"version": 1, "hooks": {"preToolUse": [
        {"type": "command", "bash": f"echo '{{\"save\": {n}}}'"}]}})


def save(path, text):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.rename(tmp, path)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Observer:
    """alice's WebSocket, in a thread: the last text of every post the bots
    make or edit, by post id."""

    def __init__(self, mm, bot_ids):
        self.mm, self.bot_ids = mm, set(bot_ids)
        self.texts, self.lock = {}, threading.Lock()
        self.error = None
        self.loop = asyncio.new_event_loop()
        self.stop_ev = None
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(self.run(),), daemon=True)
        self.thread.start()

    async def run(self):
        self.stop_ev = asyncio.Event()
        try:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(
                    f"ws://127.0.0.1:{self.mm.port}/api/v4/websocket",
                    headers={"Authorization": f"Bearer {mm_token('alice')}"},
                    heartbeat=None)
                while not self.stop_ev.is_set():
                    try:
                        msg = await ws.receive(timeout=0.5)
                    except asyncio.TimeoutError:
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        raise RuntimeError(f"observer's socket: {msg.type}")
                    ev = json.loads(msg.data)
                    if ev.get("event") not in ("posted", "post_edited"):
                        continue
                    post = json.loads(ev["data"]["post"])
                    if post["user_id"] in self.bot_ids:
                        with self.lock:
                            self.texts[post["id"]] = post["message"]
                await ws.close()
        except Exception as e:     # reported, and the check then fails
            self.error = repr(e)

    def stop(self):
        if self.stop_ev is not None:
            self.loop.call_soon_threadsafe(self.stop_ev.set)
        self.thread.join(10)

    def snapshot(self):
        with self.lock:
            return dict(self.texts)


class Load:
    """RATE posts a second, in each bot's channel in turn, from a thread."""

    def __init__(self, mm, chans):
        self.mm, self.chans = mm, chans
        self.sent, self.errors = [], 0
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        t0, i = time.monotonic(), 0
        while not self.stop_ev.is_set():
            bot = BOTS[i % len(BOTS)]
            text = f"soak {bot} {i}"
            try:
                self.mm.post("alice", self.chans[bot], text)
                self.sent.append(text)
            except Exception:
                self.errors += 1
            i += 1
            self.stop_ev.wait(max(0, t0 + i / RATE - time.monotonic()))

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)


def flat(series, slack=0):
    """Last quarter's median within 10 % (or slack) of the first's."""
    if len(series) < 8:
        return {"first": None, "last": None, "flat": None}
    q = len(series) // 4
    first, last = statistics.median(series[:q]), statistics.median(series[-q:])
    ok = abs(last - first) <= max(0.10 * first, slack)
    return {"first": first, "last": last, "flat": ok,
            "min": min(series), "max": max(series)}


def schedule(duration):
    """(time, kind, index) of every disturbance, in time order."""
    ev = [(t, "swap", i) for i, t in enumerate(range(SWAP_S, duration, SWAP_S))]
    ev += [(t, "kill", i) for i, t in enumerate(range(KILL_S, duration, KILL_S))]
    ev += [(t, "hooks", i) for i, t in enumerate(range(HOOKS_S, duration, HOOKS_S))]
    tel = list(range(TELEMETRY_S, duration, TELEMETRY_S))
    if duration < 2 * TELEMETRY_S:
        tel = [duration // 2]
    ev += [(t + 1, "telemetry", i) for i, t in enumerate(tel)]
    order = {"hooks": 0, "telemetry": 1, "swap": 2, "kill": 3}
    return sorted(ev, key=lambda e: (e[0], order[e[1]]))


class Soak:
    def __init__(self, tmp, minutes):
        self.tmp, self.duration = tmp, int(minutes * 60)
        self.ws = tmp / "ws"
        (self.ws / ".github" / "hooks").mkdir(parents=True)
        self.hooks = self.ws / ".github" / "hooks" / "hooks.json"
        save(self.hooks, hooks_json(0))
        self.mm = FakeMM(tmp, seed=fake_mm_seed(bots=BOTS, humans=("alice",)))
        st = self.mm.state()
        self.chans = {}
        for bot in BOTS:
            ch = self.mm.control("POST", "/channels", {
                "name": f"soak-{bot}", "display_name": f"Soak {bot}", "type": "O",
                "members": [bot, "alice"]})
            self.chans[bot] = ch["id"]
        self.bot_ids = [u["id"] for u in st["users"] if u["username"] in BOTS]
        cfg = mm_config(tmp, self.mm, bots=BOTS)
        cfg["logLevel"] = "info"
        cfg["defaults"] = {"allowWorkspaceHooks": True}
        cfg["channels"] = [{"id": self.chans[bot], "platform": "mattermost", "bot": bot,
                            "workingDirectory": str(self.ws), "triggerMode": "all",
                            "threadedReplies": False} for bot in BOTS]
        cfg["telemetry"] = {"exporterType": "file", "filePath": str(tmp / "spans-0.jsonl")}
        self.cfg = cfg
        self.b = Bridge(tmp, cfg)
        self.samples = {"t": [], "supervisor": {"rss": [], "fds": []},
                        "sessiond": {"rss": [], "fds": []}}
        for bot in BOTS:
            self.samples[f"worker {bot}"] = {"rss": [], "fds": []}
        self.done = {"swap": [], "kill": [], "hooks": 0, "telemetry": 0}

    def serving(self):
        """bot -> pid of its serving worker (ctl status)."""
        st = self.b.status()
        return {bot: int(st[f"mattermost:{bot}"]["pid"]) for bot in BOTS
                if st.get(f"mattermost:{bot}", {}).get("state") == "active"}

    def sample(self, t):
        try:
            pids = {"supervisor": self.b.proc.pid, "sessiond": self.b.sessiond()}
            for bot, pid in self.serving().items():
                pids[f"worker {bot}"] = pid
            got = {k: (rss_kb(p), nfds(p)) for k, p in pids.items() if p}
        except (OSError, ValueError, KeyError):
            return          # a process changed under us: the next sample
        self.samples["t"].append(round(t, 1))
        for k, (rss, fd) in got.items():
            self.samples[k]["rss"].append(rss)
            self.samples[k]["fds"].append(fd)

    def act(self, kind, i):
        bot = BOTS[i % len(BOTS)]
        key = f"mattermost:{bot}"
        if kind == "swap":
            r = self.b.ctl("reload-bot", key, timeout=60)
            self.done["swap"].append(r.returncode == 0)
        elif kind == "kill":
            before = self.serving().get(bot)
            if before is None:
                self.done["kill"].append(None)
                return
            t0 = time.monotonic()
            os.kill(before, signal.SIGKILL)
            try:
                wait_for(lambda: self.serving().get(bot) not in (None, before),
                         timeout=15, step=0.01, what=f"{key} restarted")
                self.done["kill"].append(round((time.monotonic() - t0) * 1000))
            except AssertionError:
                self.done["kill"].append(None)
        elif kind == "hooks":
            save(self.hooks, hooks_json(i + 1))
            self.done["hooks"] += 1
        elif kind == "telemetry":
            self.cfg["telemetry"]["filePath"] = str(self.tmp / f"spans-{i + 1}.jsonl")
            self.b.write_config(self.cfg)
            self.done["telemetry"] += 1

    def run(self):
        self.b.start()
        obs = Observer(self.mm, self.bot_ids)
        time.sleep(0.5)
        load = Load(self.mm, self.chans)
        t0 = time.monotonic()
        events = schedule(self.duration)
        next_sample = 0.0
        try:
            while True:
                now = time.monotonic() - t0
                if now >= self.duration:
                    break
                if now >= next_sample:
                    self.sample(now)
                    next_sample += SAMPLE_S
                    continue
                if events and now >= events[0][0]:
                    _, kind, i = events.pop(0)
                    self.act(kind, i)
                    continue
                due = min(next_sample, events[0][0] if events else self.duration)
                time.sleep(max(0.0, min(due, self.duration) - now))
        finally:
            load.stop()
        return self.finish(obs, load)

    def answers(self, obs):
        """Every answered post text, once per time it was answered."""
        texts = obs.snapshot()
        for ch in self.chans.values():
            for p in self.mm.control("GET", f"/channels/{ch}/posts")["posts"]:
                if p["user_id"] in self.bot_ids:
                    texts[p["id"]] = p["message"]
        return [t for m in texts.values() for t in m.split("\n\n")]

    def finish(self, obs, load):
        sent = load.sent
        try:
            wait_for(lambda: set(sent) <= set(self.answers(obs)), timeout=120,
                     step=1, what="every post answered")
        except AssertionError:
            pass
        got = self.answers(obs)
        obs.stop()
        counts = {}
        for t in got:
            counts[t] = counts.get(t, 0) + 1
        lost = [m for m in sent if m not in counts]
        dup = [m for m in sent if counts.get(m, 0) > 1]
        log = self.b.log()
        swaps = [m.groups() for m in SWAP_RX.finditer(log)]
        reloads = len(re.findall(r"hooks reloaded \(file saved\)", self.b.log("sessiond.log")))
        self.b.stop(timeout=30)
        self.mm.stop()
        logs = self.b.all_logs()
        series = {k: {"rss_kb": flat(v["rss"]), "fds": flat(v["fds"], slack=2)}
                  for k, v in self.samples.items() if k != "t"}
        kills = self.done["kill"]
        checks = {
            "no post lost": not lost,
            "no post answered twice": not dup,
            "the observer saw everything": obs.error is None,
            "every swap ok": all(self.done["swap"]),
            "every killed worker restarted": all(k is not None for k in kills),
            "RSS flat": all(s["rss_kb"]["flat"] is not False for s in series.values()),
            "descriptors flat": all(s["fds"]["flat"] is not False for s in series.values()),
            "no sanitizer report": not any(m in logs for m in SANITIZER_MARKS),
            "no bot FAILED": "FAILED:" not in log,
        }
        return {
            "minutes": self.duration / 60, "rate_posts_per_s": RATE, "bots": len(BOTS),
            "posts": len(sent), "post_errors": load.errors,
            "lost": len(lost), "duplicated": len(dup),
            "lost_sample": lost[:5], "duplicated_sample": dup[:5],
            "observer_error": obs.error,
            "swaps": {"asked": len(self.done["swap"]),
                      "ok": sum(1 for s in self.done["swap"] if s),
                      "total_ms_median": statistics.median(
                          [int(t) for _, ok, t in swaps if ok == "ok"] or [0])},
            "kills": {"n": len(kills),
                      "restart_ms": [k for k in kills if k is not None]},
            "hooks_saves": self.done["hooks"], "hooks_reloads": reloads,
            "telemetry_changes": self.done["telemetry"],
            "samples": len(self.samples["t"]),
            "series": series, "sampled": self.samples, "checks": checks, "pass": all(checks.values()),
        }


def table(r):
    print(f"{'soak':34} {'value':>16}")
    print(f"{'minutes, posts/s, bots':34} "
          f"{str(r['minutes']) + ', ' + str(r['rate_posts_per_s']) + ', ' + str(r['bots']):>16}")
    print(f"{'posts':34} {r['posts']:>16}")
    print(f"{'lost / duplicated':34} {str(r['lost']) + ' / ' + str(r['duplicated']):>16}")
    sw = r["swaps"]
    print(f"{'swaps ok / asked':34} {str(sw['ok']) + ' / ' + str(sw['asked']):>16}")
    print(f"{'  swap total median (ms)':34} {sw['total_ms_median']:>16}")
    k = r["kills"]
    print(f"{'kill -9, restarted':34} {str(len(k['restart_ms'])) + ' / ' + str(k['n']):>16}")
    if k["restart_ms"]:
        print(f"{'  kill to serving again, max (ms)':34} {max(k['restart_ms']):>16}")
    print(f"{'hooks saves / channel reloads':34} "
          f"{str(r['hooks_saves']) + ' / ' + str(r['hooks_reloads']):>16}")
    print(f"{'telemetry changes':34} {r['telemetry_changes']:>16}")
    for name, s in r["series"].items():
        for what in ("rss_kb", "fds"):
            f = s[what]
            if f["first"] is None:
                continue
            label = f"{name} {'RSS KB' if what == 'rss_kb' else 'fds'} 1st / last q"
            print(f"{label:34} {str(round(f['first'])) + ' / ' + str(round(f['last'])):>16} "
                  f"{'flat' if f['flat'] else 'NOT FLAT'}")
    for name, ok in r["checks"].items():
        if not ok:
            print(f"FAILED: {name}")
    print(f"{'result':34} {'pass' if r['pass'] else 'FAIL':>16}")


def main():
    minutes = float(os.environ.get("SOAK_MINUTES", "30"))
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        r = Soak(Path(d), minutes).run()
    (RESULTS / "soak.json").write_text(json.dumps(r, indent=2) + "\n")
    table(r)
    print(f"results: {RESULTS}/soak.json")
    return 0 if r["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
