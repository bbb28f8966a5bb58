"""Many bots on one host: N Mattermost bots (echo backend) on one fake
server, each with a channel of its own (tests/integration/test_scale.py
sets it up and asserts the loose bounds with 50; here the figures).

start        the supervisor's exec until the last worker said READY (the
             workers' READY lines in supervisor.log, by their timestamps);
             goal under 5 s
answer       alice posts once in every bot's channel: until every bot
             answered (each opens a session)
memory       PSS of every bridge process summed (supervisor, sessiond, the
             workers; /proc/PID/smaps_rollup), after every bot answered:
             shared library text is counted once across them, as the
             machine pays it; goal under 300 MB at 200 bots
descriptors  open descriptors (/proc/PID/fd) of the supervisor, sessiond
             and each worker, and inotify watches (/proc/PID/fdinfo);
             again after the swaps, to show none leaked
ctl status   the whole `copilot-bridge ctl status` command (it loads the
             config to find the socket), and the request alone on the
             control socket; goal under 100 ms
reload       `ctl reload` of a live change (one channel's triggerMode):
             load, validate, diff, and CONFIG_UPDATE to sessiond and every
             worker, until the command returns
swap         one bot swapped S times while its channel gets 50 posts/s,
             every post checked for loss and duplicates; goal median
             15 ms, p99 30 ms
"""

import json
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from bridge import Bridge, FakeMM, wait_for  # noqa: E402
from swap import bot_answers, post_load  # noqa: E402
from test_scale import (answer_all, footprint, ready_rows, scale_config,  # noqa: E402
                        scale_seed)

GOALS = {"start_ms": 5000, "pss_mb": 300, "ctl_status_ms": 100,
         "swap_median_ms": 15, "swap_p99_ms": 30}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def log_time(ts):
    """A log line's timestamp (2024-01-02T03:04:05.678Z) as epoch seconds."""
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def start_bridge(tmp, cfg, n, timeout=120):
    """Start the bridge: the ms from exec until the last of the n
    first-generation workers said READY."""
    b = Bridge(tmp, cfg)
    t0 = time.time()
    b.start(wait_ready=False)
    rows = wait_for(lambda: ready_rows(b, n), timeout=timeout, step=0.05,
                    what=f"{n} workers READY")
    last = max(log_time(r[0]) for r in rows)
    spawn = [int(r[3]) for r in rows]
    return b, {"start_to_all_ready_ms": round((last - t0) * 1000, 1),
               "spawn_to_ready_ms": {"median": statistics.median(spawn),
                                     "max": max(spawn)}}


def ctl_status_ms(b, n=20):
    whole, sock = [], []
    path = b.config["stateDir"] + "/control.sock"
    for _ in range(n):
        t0 = time.perf_counter()
        r = b.ctl("status")
        whole.append((time.perf_counter() - t0) * 1000)
        if r.returncode != 0:
            raise RuntimeError(f"ctl status: {r.stderr}")
        t0 = time.perf_counter()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            s.sendall(b'{"cmd":"status"}\n')
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        sock.append((time.perf_counter() - t0) * 1000)
        if not json.loads(buf)["ok"]:
            raise RuntimeError(f"ctl status: {buf!r}")
    return {"command": {"median": round(statistics.median(whole), 2),
                        "max": round(max(whole), 2)},
            "socket": {"median": round(statistics.median(sock), 2),
                       "max": round(max(sock), 2)}}


def reload_ms(b, n=5):
    """ctl reload of a live change, n times: the median and max ms."""
    out = []
    for i in range(n):
        b.config["channels"][-1]["triggerMode"] = "mention" if i % 2 == 0 else "all"
        b.write_config(b.config)
        t0 = time.perf_counter()
        r = b.ctl("reload")
        out.append((time.perf_counter() - t0) * 1000)
        if r.returncode != 0:
            raise RuntimeError(f"ctl reload: {r.stdout} {r.stderr}")
        time.sleep(0.7)     # the file watcher's own reload passes
    return {"median": round(statistics.median(out), 1), "max": round(max(out), 1)}


def swap_under_load(b, mm, chan, bot, swaps, rate=50):
    """swaps reload-bot of bot while its channel gets rate posts/s."""
    key = f"mattermost:{bot}"
    bot_id = mm.user(bot)["id"]
    sent, stop = [], threading.Event()
    answers = lambda: bot_answers(mm, chan, bot_id)  # noqa: E731
    off = len(b.log())
    th = threading.Thread(target=post_load, args=(mm, chan, rate, sent, stop))
    th.start()
    try:
        time.sleep(0.5)
        for _ in range(swaps):
            r = b.ctl("reload-bot", key, timeout=60)
            if r.returncode != 0:
                raise RuntimeError(f"reload-bot failed: {r.stderr}")
            time.sleep(0.2)
    finally:
        stop.set()
        th.join(10)
    wait_for(lambda: set(sent) <= set(answers()), timeout=60, step=0.2,
             what="every message answered")
    got = answers()
    rx = re.compile(rf"swap: bot={key} .* outcome=(\w+) .*handshake_ms=(\d+) "
                    r"total_ms=(\d+)")
    rows = [m.groups() for m in rx.finditer(b.log()[off:])]
    tot = [int(t) for ok, h, t in rows if ok == "ok"]
    hs = [int(h) for ok, h, t in rows if ok == "ok"]
    return {"swaps": swaps, "ok": len(tot), "load_msgs_per_s": rate,
            "messages": len(sent),
            "lost": sum(1 for m in sent if m not in got),
            "duplicated": sum(1 for m in sent if got.count(m) > 1),
            "total_ms": {"median": statistics.median(tot), "p99": pct(tot, 99)},
            "handshake_ms": {"median": statistics.median(hs), "p99": pct(hs, 99)}}


def bench_scale(n, swaps=20):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mm = FakeMM(tmp, seed=scale_seed(n))
        b = None
        try:
            cfg = scale_config(tmp, mm, n)
            b, start = start_bridge(tmp, cfg, n)
            t0 = time.monotonic()
            answer_all(mm, cfg, n)
            answer_s = time.monotonic() - t0
            time.sleep(1)
            before = footprint(b)
            ctl = ctl_status_ms(b)
            rl = reload_ms(b)
            sw = swap_under_load(b, mm, cfg["channels"][0]["id"], "b000", swaps)
            time.sleep(0.5)
            after = footprint(b)
        finally:
            if b is not None:
                b.stop(timeout=30)
            mm.stop()
    return {"bots": n, "start": start, "all_answered_s": round(answer_s, 2),
            "footprint": before, "ctl_status_ms": ctl, "reload_ms": rl, "swap": sw,
            "after_swaps": {"fds": after["fds"],
                            "inotify_watches": after["inotify_watches"],
                            "pss_kb_total": after["pss_kb_total"]},
            "goals": GOALS}


def scale_table(r):
    n, fp, sw = r["bots"], r["footprint"], r["swap"]
    f, w = fp["fds"], fp["inotify_watches"]
    print(f"{f'{n} bots: start to all READY (ms)':34} "
          f"{r['start']['start_to_all_ready_ms']:>10.0f} {'< 5000':>10}")
    print(f"{'  every bot answered once (s)':34} {r['all_answered_s']:>10.2f}")
    print(f"{'  PSS of all processes (MB)':34} {fp['pss_kb_total'] / 1024:>10.1f} "
          f"{'< 300' if n == 200 else '':>10}")
    print(f"{'  PSS per worker (KB)':34} {fp['pss_kb_per_worker']:>10}")
    print(f"{'  ctl status, command (ms)':34} "
          f"{r['ctl_status_ms']['command']['median']:>10.1f} {'< 100':>10}")
    print(f"{'  ctl status, socket (ms)':34} {r['ctl_status_ms']['socket']['median']:>10.1f}")
    print(f"{'  ctl reload, a live change (ms)':34} {r['reload_ms']['median']:>10.1f}")
    print(f"{'  swap total median / p99 (ms)':34} "
          f"{str(sw['total_ms']['median']) + ' / ' + str(sw['total_ms']['p99']):>10} "
          f"{'15 / 30':>10}")
    print(f"{'  swap lost / duplicated':34} "
          f"{str(sw['lost']) + ' / ' + str(sw['duplicated']):>10} {'0 / 0':>10}")
    print(f"{'  fds supervisor / sessiond':34} "
          f"{str(f['supervisor']) + ' / ' + str(f['sessiond']):>10}")
    print(f"{'  fds per worker (max)':34} {f['worker_max']:>10}")
    a = r["after_swaps"]["fds"]
    print(f"{'  fds sup / sessiond after swaps':34} "
          f"{str(a['supervisor']) + ' / ' + str(a['sessiond']):>10}")
    print(f"{'  inotify watches sup / sessiond':34} "
          f"{str(w['supervisor']) + ' / ' + str(w['sessiond']):>10}")


if __name__ == "__main__":
    out = bench_scale(int(sys.argv[1]) if len(sys.argv) > 1 else 200,
                      int(sys.argv[2]) if len(sys.argv) > 2 else 20)
    print(json.dumps(out, indent=2))
    scale_table(out)
