"""Many bots on one host: 50 Mattermost bots on one fake server, started
under a low descriptor limit.  Every worker becomes READY and answers;
descriptors are bounded per process (a worker's do not grow with the
number of bots, the supervisor's and sessiond's grow by a fixed number per
bot), inotify watches do not grow with channels that share a directory,
and memory stays within a loose bound.  bench/scale.py measures the same
with 50 and 200 bots, with timings; here nothing is timed but the bounded
waits."""

import os
import re
import resource
import statistics

from bridge import (Bridge, FakeMM, children_of, fake_mm_seed, mem_kb, mm_config,
                    mm_token, sanitized, wait_for)
from test_hooks import inotify_watches

N = 50
NOFILE = 64           # below what the supervisor needs for N bots
BURST = 5000
TAKEN_RX = re.compile(r" DEBUG sessiond\[\d+\] .*: inbound (\w+) in \w+ from bob$", re.M)
READY_RX = re.compile(r"^(\S+) .* (mattermost:\S+) g(\d+) pid \d+ ready in (\d+) ms",
                      re.M)


def bot_names(n):
    return [f"b{i:03d}" for i in range(n)]


def scale_seed(n):
    """n bot users and alice; each bot has a channel with alice alone, so a
    post reaches one worker, not all of them."""
    bots = bot_names(n)
    users = [{"username": b, "is_bot": True, "tokens": [mm_token(b)]} for b in bots]
    users.append({"username": "alice", "tokens": [mm_token("alice")]})
    chans = [{"name": f"c-{b}", "display_name": f"C {b}", "type": "O",
              "members": [b, "alice"]} for b in bots]
    return {"team": {"name": "test-team", "display_name": "Test Team"},
            "users": users, "channels": chans}


def scale_config(tmp, mm, n):
    """Each bot serves its own channel (triggerMode all); every channel has
    the same working directory."""
    bots = bot_names(n)
    ids = {c["name"]: c["id"] for c in mm.state()["channels"]}
    cfg = mm_config(tmp, mm, bots=bots)
    cfg["logLevel"] = "info"
    # Every session watches the shared workspace's hooks directories.
    (tmp / ".github" / "hooks").mkdir(parents=True, exist_ok=True)
    cfg["defaults"] = {"allowWorkspaceHooks": True}
    cfg["channels"] = [{"id": ids[f"c-{b}"], "platform": "mattermost", "bot": b,
                        "workingDirectory": str(tmp), "triggerMode": "all",
                        "threadedReplies": False} for b in bots]
    return cfg


def ready_rows(b, n):
    """The first generation's READY lines once all n workers said it."""
    rows = [m for m in READY_RX.findall(b.log()) if m[2] == "1"]
    return rows if len({r[1] for r in rows}) >= n else None


def fds(pid):
    """(open descriptors, inotify watches) of pid."""
    return len(os.listdir(f"/proc/{pid}/fd")), inotify_watches(pid)


def nofile(pid):
    """(soft, hard) limit of open files of pid."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError(f"no open-files limit for {pid}")


def processes(b):
    """role -> [pid]: the supervisor, sessiond, the workers, the spare and
    the fork server, the runtime if any (a child of sessiond)."""
    out = {"supervisor": [b.proc.pid], "sessiond": [], "worker": [], "spare": [],
           "forksrv": [p for p in [b.forksrv()] if p], "runtime": []}
    for pid, argv in b.children(spare=True).items():
        name = os.path.basename(argv[0].decode()) if argv else ""
        if name == "copilot-bridge-sessiond":
            out["sessiond"].append(pid)
            out["runtime"] += list(children_of(pid))
        elif name == "copilot-bridge-worker":
            out["spare" if b"-s" in argv else "worker"].append(pid)
    return out


def footprint(b):
    """PSS summed over every bridge process, descriptors and inotify
    watches per process."""
    procs = processes(b)
    mem = {role: [mem_kb(p) for p in pids] for role, pids in procs.items()}
    fd = {role: [fds(p) for p in pids] for role, pids in procs.items()}
    w = fd["worker"]
    return {
        "processes": {r: len(p) for r, p in procs.items()},
        "pss_kb_total": sum(m["pss"] for ms in mem.values() for m in ms),
        "pss_kb": {r: sum(m["pss"] for m in ms) for r, ms in mem.items()},
        "pss_kb_per_worker": round(sum(m["pss"] for m in mem["worker"]) /
                                   max(1, len(mem["worker"]))),
        "rss_kb_worker_median": statistics.median(m["rss"] for m in mem["worker"]),
        "fds": {"supervisor": fd["supervisor"][0][0], "sessiond": fd["sessiond"][0][0],
                "worker_max": max(f[0] for f in w), "worker_min": min(f[0] for f in w)},
        "inotify_watches": {"supervisor": fd["supervisor"][0][1],
                            "sessiond": fd["sessiond"][0][1],
                            "worker_max": max(f[1] for f in w)},
    }


def answer_all(mm, cfg, n, timeout=120):
    """alice posts once in every bot's channel; each bot answers once."""
    bots = bot_names(n)
    chans = [c["id"] for c in cfg["channels"]]
    ids = {u["username"]: u["id"] for u in mm.state()["users"]}
    for b, ch in zip(bots, chans):
        mm.post("alice", ch, f"hello {b}")

    def answered():
        left = 0
        for b, ch in zip(bots, chans):
            posts = mm.control("GET", f"/channels/{ch}/posts")["posts"]
            if not any(p["user_id"] == ids[b] and p["message"] == f"hello {b}"
                       for p in posts):
                left += 1
        return left == 0
    wait_for(answered, timeout=timeout, step=0.5, what=f"{n} bots answered")


def test_50_bots_ready_and_bounded_under_a_low_descriptor_limit(tmp_path):
    mm = FakeMM(tmp_path, seed=scale_seed(N))
    b = None
    try:
        cfg = scale_config(tmp_path, mm, N)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        b = Bridge(tmp_path, cfg)
        b.start(wait_ready=False, preexec_fn=lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (NOFILE, hard)))
        wait_for(lambda: ready_rows(b, N), timeout=120, step=0.1,
                 what=f"{N} workers READY")
        answer_all(mm, cfg, N)
        procs = processes(b)
        assert len(procs["worker"]) == N
        # The supervisor and sessiond hold descriptors per bot: raised.
        assert nofile(b.proc.pid)[0] == hard
        assert nofile(procs["sessiond"][0])[0] == hard
        # Every other child starts with the limit we were given.
        assert {nofile(p)[0] for p in procs["worker"]} == {NOFILE}
        fp = footprint(b)
        f, w = fp["fds"], fp["inotify_watches"]
        assert f["worker_max"] <= 24, fp
        assert f["supervisor"] <= 2 * N + 32, fp
        assert f["sessiond"] <= N + 48, fp
        # The config's directory; the hooks directories of the one
        # workspace every channel shares, once however many channels.
        assert w["supervisor"] == 1 and w["worker_max"] == 0, fp
        assert 3 <= w["sessiond"] <= 6, fp
        if not sanitized(b.proc.pid):
            # Forked workers share the fork server's pages: about 0.4 MB
            # each (exec'd, each had 1.7 MB, and this bound failed).
            assert fp["pss_kb_total"] < N * 1024 + 32 * 1024, fp
        assert "FAILED" not in b.log(), b.log()[-2000:]
    finally:
        if b is not None:
            b.stop(timeout=30)
        mm.stop()


def test_a_burst_of_5000_posts_to_one_bot_is_taken_whole(bridge_factory, tmp_path):
    """The fake writes 5000 posts to the bot's socket at once (each a prompt
    in a DM, answered meanwhile): the worker hands them over at sessiond's
    pace, so neither side's queue on the link overflows (which closes the
    link and loses what it held), and each is taken exactly once."""
    mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a",), humans=("alice", "bob")))
    cfg = mm_config(tmp_path, mm, bots=("a",))
    cfg["logLevel"] = "debug"
    b = bridge_factory(config=cfg)
    try:
        dm = mm.channel(members=["a", "bob"])["id"]
        r = mm.control("POST", "/flood", {"user": "bob", "channel": dm, "count": BURST})

        def taken():
            return TAKEN_RX.findall(b.log("sessiond.log"))
        wait_for(lambda: len(taken()) >= BURST, timeout=180, step=0.5,
                 what=f"{BURST} posts taken")
        ids = taken()
        assert len(ids) == len(set(ids)) == BURST
        bob = mm.user("bob")["id"]
        posts = mm.control("GET", f"/channels/{dm}/posts")["posts"]
        flood = [p["id"] for p in posts if p["user_id"] == bob]
        assert set(ids) == set(flood) and r["last"] in flood
        logs = b.all_logs()
        for bad in ("send queue full", "dropped inbound", "link closed"):
            assert bad not in logs, bad
    finally:
        b.stop()
        mm.stop()
