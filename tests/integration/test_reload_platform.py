"""The platform reload (supervisor/fleet.c): `ctl reload-platform NAME` and
`/reload platform NAME` swap every bot of a platform make-before-break, at
most reloadPlatformConcurrency at a time, and answer with one summary.  A
bot that fails keeps its generation and does not stop the others; a bot
busy with a swap of its own waits for it; a second reload of the same
platform is refused; nothing is lost or answered twice under load.  Every
wait is bounded."""

import os
import re
import signal
import subprocess
import threading

import pytest

from bridge import (FakeMM, alive, fake_mm_seed, mm_config,
                    slow_handshakes, wait_for)
from test_swap_load import check_all_once, run_load

BOTS = ("a", "b", "c", "d", "e", "f")
KEYS = [f"mattermost:{b}" for b in BOTS]
DENIED = "⛔ Only bridge admins can reload bots."
HEAD_OK = re.compile(r"^✅ Reloaded platform mattermost: 6 of 6 bot\(s\) in "
                     r"\d+ ms, at most 2 at a time$")
LINE_OK = re.compile(r"^- ✅ (mattermost:[a-f]): g(\d+) → g(\d+) in \d+ ms$")


class Fleet:
    """A fake Mattermost with six bots, alice (platform admin), bob and
    carol (an admin of bot a only); town-square is served by bot a."""

    def __init__(self, bridge_factory, tmp_path, bindir=None, telemetry=None):
        self.mm = FakeMM(tmp_path, seed=fake_mm_seed(
            bots=BOTS, humans=("alice", "bob", "carol")))
        self.chan = self.mm.channel("town-square")["id"]
        self.bot_id = self.mm.user("a")["id"]
        cfg = mm_config(tmp_path, self.mm, bots=BOTS)
        cfg["logLevel"] = "info"
        cfg["reloadPlatformConcurrency"] = 2
        cfg["channels"][0].update(id=self.chan, triggerMode="all",
                                  threadedReplies=False)
        cfg["platforms"]["mattermost"]["admins"] = ["alice"]
        cfg["platforms"]["mattermost"]["bots"]["a"]["admins"] = ["carol"]
        # A platform without bots.
        cfg["platforms"]["zulip"] = {"url": "http://127.0.0.1:9", "bots": {},
                                     "admins": ["alice"]}
        if telemetry is not None:
            cfg["telemetry"] = telemetry
        self.cfg = cfg
        self.bridge = bridge_factory(config=cfg, bindir=bindir)

    def say(self, text, user="alice"):
        return self.mm.post(user, self.chan, text)

    def texts(self):
        posts = self.mm.control("GET", f"/channels/{self.chan}/posts")["posts"]
        return [p["message"] for p in posts if p["user_id"] == self.bot_id]

    def answers(self):
        return [t for m in self.texts() for t in m.split("\n\n")]

    def wait_text(self, pred, timeout=30):
        return wait_for(lambda: next((t for t in self.texts() if pred(t)), None),
                        timeout=timeout, step=0.05, what="a bot post")

    def roundtrip(self, text):
        self.say(text)
        self.wait_text(lambda t: t == text)

    def gens(self):
        st = self.bridge.status()
        return {k: (st[k]["state"], st[k]["gen"]) for k in KEYS}

    def stop(self):
        self.bridge.stop()
        self.mm.stop()


@pytest.fixture
def fleet_factory(bridge_factory, tmp_path):
    made = []

    def make(**kw):
        f = Fleet(bridge_factory, tmp_path, **kw)
        made.append(f)
        return f
    yield make
    for f in made:
        f.stop()


@pytest.fixture
def fleet(fleet_factory):
    return fleet_factory()


def platform_swaps(log, platform="mattermost"):
    """The platform reload's swaps in the supervisor's log, in order: the
    most in flight at once, and how many started and ended.  The log of one
    process is in the order things happened."""
    inflight = top = started = ended = 0
    for line in log.splitlines():
        if re.search(rf"swap: reload of \S+ requested by .* \(reload platform "
                     rf"{platform}\)$", line):
            inflight += 1
            started += 1
            top = max(top, inflight)
        elif re.search(rf"swap: bot=\S+ by=.* reason=reload platform "
                       rf"{platform} outcome=", line):
            inflight -= 1
            ended += 1
            assert inflight >= 0, line
    return top, started, ended


def summary_lines(text):
    lines = text.rstrip("\n").split("\n")
    return lines[0], lines[1:]


def test_six_bots_two_at_a_time(fleet):
    b = fleet.bridge
    old = b.workers()
    assert fleet.gens() == {k: ("active", "1") for k in KEYS}
    r = b.ctl("reload-platform", "mattermost", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    head, lines = summary_lines(r.stdout)
    assert HEAD_OK.match(head), head
    assert len(lines) == 6, r.stdout
    got = {}
    for ln in lines:
        m = LINE_OK.match(ln)
        assert m, ln
        got[m.group(1)] = (m.group(2), m.group(3))
    assert got == {k: ("1", "2") for k in KEYS}, got
    top, started, ended = platform_swaps(b.log())
    assert (top, started, ended) == (2, 6, 6), (top, started, ended)
    assert len(re.findall(r"reload-platform mattermost: swapping ", b.log())) == 6
    for k in KEYS:
        wait_for(lambda: not alive(old[k]), timeout=15, what=f"{k} g1 gone")
    assert fleet.gens() == {k: ("active", "2") for k in KEYS}
    fleet.roundtrip("after the platform reload")

    # Again: every bot is swapped whether its config changed or not.
    r = b.ctl("reload-platform", "mattermost", timeout=120)
    assert r.returncode == 0, r.stderr
    assert fleet.gens() == {k: ("active", "3") for k in KEYS}


def test_url_change_moves_every_bot_to_the_new_server(fleet, tmp_path):
    """The seed's case: the platform's URL changed, one command moves all
    its bots."""
    b = fleet.bridge
    mm2 = FakeMM(tmp_path, seed=fake_mm_seed(bots=BOTS, humans=("alice",)),
                 name="fake-mm2")
    try:
        assert mm2.channel("town-square")["id"] == fleet.chan
        wait_for(lambda: len({s["username"] for s in fleet.mm.sockets()}) == 6,
                 timeout=10, what="six bots on the old server")
        fleet.cfg["platforms"]["mattermost"]["url"] = mm2.url
        b.write_config(fleet.cfg)
        b.wait_log(r"⚠ botReloadNeeded: or run /reload platform mattermost "
                   r"\(or copilot-bridge ctl reload-platform mattermost\)")
        assert b.log().count("or run /reload platform") == 1
        r = b.ctl("reload-platform", "mattermost", timeout=120)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert HEAD_OK.match(summary_lines(r.stdout)[0]), r.stdout
        wait_for(lambda: not fleet.mm.sockets(), timeout=15,
                 what="no socket left on the old server")
        assert {s["username"] for s in mm2.sockets()} == set(BOTS)
        mm2.post("alice", fleet.chan, "hello on the new server")
        wait_for(lambda: any(p["message"] == "hello on the new server"
                             and p["user_id"] == fleet.bot_id for p in
                             mm2.control("GET", f"/channels/{fleet.chan}/posts")["posts"]),
                 timeout=15, what="the answer on the new server")
    finally:
        mm2.stop()


def test_platform_span(fleet_factory):
    from test_telemetry_sup import STATUS_ERROR, fake_otlp, wait_span
    otlp = fake_otlp.FakeOTLP()
    otlp.start()
    try:
        fleet = fleet_factory(telemetry={"otlpEndpoint": otlp.url})
        b = fleet.bridge
        fleet.cfg["platforms"]["mattermost"]["bots"]["d"]["token"] = "tok-d-unknown-999999"
        b.write_config(fleet.cfg)
        r = b.ctl("reload-platform", "mattermost", timeout=120)
        assert r.returncode == 1, r
        sp = wait_span(otlp, "reload.platform")
        a = sp["attributes"]
        assert a["platform"] == "mattermost" and a["by"] == "ctl", a
        assert (a["bots"], a["concurrency"], a["bots.failed"]) == (6, 2, 1), a
        assert sp["status"]["code"] == STATUS_ERROR, sp
        assert sp["status"]["message"] == "1 of 6 bot(s) failed", sp
        wait_for(lambda: len(otlp.spans("reload.bot")) == 6, timeout=10,
                 what="six reload.bot spans")
        bots = otlp.spans("reload.bot")
        assert {s["attributes"]["reason"] for s in bots} == {"reload platform mattermost"}
        assert sorted(s["attributes"]["bot"] for s in bots) == KEYS
        for s in bots:
            assert sp["startTimeUnixNano"] <= s["startTimeUnixNano"]
            assert s["endTimeUnixNano"] <= sp["endTimeUnixNano"]
    finally:
        otlp.stop()


def test_one_failing_bot_keeps_its_generation(fleet):
    b = fleet.bridge
    old_b = b.workers()["mattermost:b"]
    fleet.cfg["platforms"]["mattermost"]["bots"]["b"]["token"] = "tok-b-unknown-999999"
    b.write_config(fleet.cfg)
    r = b.ctl("reload-platform", "mattermost", timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    head, lines = summary_lines(r.stderr)
    assert re.match(r"^⚠️ Reloaded platform mattermost: 5 of 6 bot\(s\) in \d+ "
                    r"ms, at most 2 at a time; 1 failed$", head), head
    # The failed bot first, with its reason; the others swapped.
    assert re.match(r"^- ❌ mattermost:b: failed in \d+ ms, kept g1: 401 from "
                    r"/users/me: ", lines[0]), lines[0]
    ok = sorted(LINE_OK.match(ln).group(1) for ln in lines[1:])
    assert ok == [k for k in KEYS if k != "mattermost:b"], lines
    wait_for(lambda: len([p for p, a in b.children().items()
                          if b"mattermost:b" in a]) == 1,
             timeout=10, what="b's candidate gone")
    assert b.workers()["mattermost:b"] == old_b
    gens = fleet.gens()
    assert gens.pop("mattermost:b") == ("active", "1")
    assert gens == {k: ("active", "2") for k in KEYS if k != "mattermost:b"}
    assert "tok-b-unknown-999999" not in b.all_logs()
    fleet.roundtrip("after the partial reload")


def test_no_message_lost_or_doubled_across_platform_reloads(fleet):
    b = fleet.bridge

    def reloads():
        for _ in range(3):
            threading.Event().wait(2)
            r = b.ctl("reload-platform", "mattermost", timeout=120)
            assert r.returncode == 0, r.stderr
    sent = run_load(lambda t: fleet.say(t), 400, 50, reloads)
    check_all_once(sent, fleet.answers)
    assert fleet.gens() == {k: ("active", "4") for k in KEYS}
    top, started, ended = platform_swaps(b.log())
    assert top <= 2 and started == ended == 18, (top, started, ended)


def test_chat_admins_summary_and_refusals(fleet):
    b = fleet.bridge
    before = sorted(b.children())
    # bob is nobody's admin; carol is bot a's only: neither may reload all.
    fleet.say("/reload platform mattermost", user="bob")
    fleet.say("/reload platform mattermost", user="carol")
    wait_for(lambda: fleet.texts().count(DENIED) == 2, timeout=20,
             what="two refusals")
    fleet.roundtrip("sentinel after the refusals")
    assert sorted(b.children()) == before
    assert "reload-platform" not in b.log() and "swap:" not in b.log()
    assert b.log().count("is not an admin of platform mattermost") == 2

    # Unknown platform, and no name: the same text as ctl's.
    fleet.say("/reload platform nosuch")
    t = fleet.wait_text(lambda t: t.startswith("❌ No platform named"))
    assert t == '❌ No platform named "nosuch". Platforms: mattermost, zulip', t
    r = b.ctl("reload-platform", "nosuch")
    assert r.returncode == 1 and r.stderr.strip() == t, r
    fleet.say("/reload platform")
    fleet.wait_text(lambda t: t == "Usage: `/reload platform NAME`")

    # A platform without bots.
    fleet.say("/reload platform zulip")
    t = fleet.wait_text(lambda t: t.startswith("ℹ️"))
    assert t == "ℹ️ Platform zulip has no bots: nothing to reload.", t
    r = b.ctl("reload-platform", "zulip")
    assert r.returncode == 0 and r.stdout.strip() == t, r

    # alice: a notice, then the one summary, in ctl's format.
    fleet.say("/reload platform mattermost")
    fleet.wait_text(lambda t: t == "🔄 Reloading platform mattermost: 6 "
                    "bot(s), at most 2 at a time …")
    t = fleet.wait_text(lambda t: t.startswith("✅ Reloaded platform"))
    head, lines = summary_lines(t)
    assert HEAD_OK.match(head), head
    assert sorted(LINE_OK.match(ln).group(1) for ln in lines) == KEYS, lines
    assert fleet.gens() == {k: ("active", "2") for k in KEYS}
    assert len([x for x in fleet.texts() if x.startswith("✅ Reloaded platform")]) == 1
    fleet.roundtrip("after the chat reload")


def test_busy_bot_waits_second_reload_refused_crash_and_config_change(
        fleet_factory, tmp_path):
    fleet = fleet_factory()
    b = fleet.bridge
    slow_handshakes(fleet.mm)
    results = {}

    def run(name, *args):
        results[name] = b.ctl(*args, timeout=120)

    # Bot a is busy with a swap of its own when the platform reload starts.
    t_bot = threading.Thread(target=run, args=("bot", "reload-bot", "mattermost:a"))
    t_bot.start()
    b.wait_log(r"swap: reload of mattermost:a requested by ctl", timeout=10)
    t_plat = threading.Thread(target=run, args=("plat", "reload-platform",
                                                "mattermost"))
    t_plat.start()
    b.wait_log(r"reload-platform mattermost: swapping ", timeout=10)
    # A second reload of the same platform is refused at once.
    r = b.ctl("reload-platform", "mattermost", timeout=30)
    assert r.returncode == 1, r
    assert r.stderr.strip() == "Reload already in progress for platform mattermost"
    # Bot e's worker crashes while e waits for its turn: it is restarted
    # (generation 2) and swapped all the same.
    e_old = b.workers()["mattermost:e"]
    os.kill(e_old, signal.SIGKILL)
    # A config change while it runs: f is swapped with the config in
    # force at its turn, a token the server refuses.
    fleet.cfg["platforms"]["mattermost"]["bots"]["f"]["token"] = "tok-f-unknown-999999"
    b.write_config(fleet.cfg)
    t_bot.join(120)
    t_plat.join(120)
    assert not t_bot.is_alive() and not t_plat.is_alive()
    assert results["bot"].returncode == 0, results["bot"]
    assert results["bot"].stdout.startswith("✅ Reloaded mattermost:a"), results["bot"]
    plat = results["plat"]
    assert plat.returncode == 1, plat
    head, lines = summary_lines(plat.stderr)
    assert head.startswith("⚠️ Reloaded platform mattermost: 5 of 6 bot(s)"), head
    assert re.match(r"^- ❌ mattermost:f: failed in \d+ ms, kept g1: 401 from ",
                    lines[0]), lines
    got = {m.group(1): (m.group(2), m.group(3))
           for m in map(LINE_OK.match, lines[1:])}
    assert got == {"mattermost:a": ("2", "3"), "mattermost:b": ("1", "2"),
                   "mattermost:c": ("1", "2"), "mattermost:d": ("1", "2"),
                   "mattermost:e": ("2", "3")}, lines
    log = b.log()
    assert "reload-platform mattermost: mattermost:a waits for the reload of " \
           "it already running" in log
    assert re.search(r"mattermost:e g1 pid \d+ exited unexpectedly", log)
    top, started, ended = platform_swaps(log)
    assert top == 2 and started == ended == 6, (top, started, ended)
    gens = fleet.gens()
    assert gens["mattermost:f"] == ("active", "1"), gens
    assert gens["mattermost:a"] == gens["mattermost:e"] == ("active", "3"), gens

    # A ctl that hangs up: the platform reload runs to its end all the same.
    done = re.compile(r"reload-platform mattermost: 5 of 6 bot\(s\) reloaded")
    assert len(done.findall(b.log())) == 1
    p = subprocess.Popen([os.path.join(b.bindir, "copilot-bridge"), "ctl",
                          "-c", str(b.cfgpath), "reload-platform", "mattermost"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: len(re.findall(r"swapping mattermost:b ", b.log())) == 2,
             timeout=10, what="the second run started")
    p.kill()
    p.wait(5)
    wait_for(lambda: len(done.findall(b.log())) == 2, timeout=60,
             what="the second run's end")
    slow_handshakes(fleet.mm, 0)
    gens = fleet.gens()
    assert gens["mattermost:b"] == ("active", "3"), gens
    fleet.roundtrip("after it all")
