"""The supervisor's children as the system sees them: which descriptors they
inherit, the supervisor as PID 1 of a PID namespace (a container), and which
bot serves a channel."""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from bridge import (Bridge, FakeMM, base_config, children_of, copy_bin,
                    fake_mm_seed, mm_config, wait_for)


def zombies_of(pid):
    """Pids of the zombie children of pid."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        kids = f.read().split()
    out = []
    for k in kids:
        try:
            with open(f"/proc/{k}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    out.append(int(k))
        except OSError:
            continue
    return out


def fd_targets(pid):
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
    return out


def echo_chat(tmp_path, bots=("a", "b")):
    """A fake Mattermost and a config whose town-square answers every post."""
    mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=bots, humans=("alice",)))
    cfg = mm_config(tmp_path, mm, bots=bots)
    chan = mm.channel("town-square")["id"]
    cfg["channels"][0].update(id=chan, triggerMode="all",
                              threadedReplies=False)
    return mm, cfg, chan


def bot_texts(mm, chan, bot):
    uid = mm.user(bot)["id"]
    posts = mm.control("GET", f"/channels/{chan}/posts")["posts"]
    return [p["message"] for p in posts if p["user_id"] == uid]


def test_children_inherit_no_stray_descriptor(bridge_factory, tmp_path):
    """The supervisor holds a descriptor without O_CLOEXEC (inherited from
    whoever started it); none of its children has it (the spare worker and
    the fork server included), and each has its channel on fd 3."""
    bindir = copy_bin(tmp_path)
    marker = tmp_path / "inherited-marker"
    marker.write_text("x")
    real = bindir / "copilot-bridge.real"
    os.rename(bindir / "copilot-bridge", real)
    wrapper = bindir / "copilot-bridge"
    wrapper.write_text(f"#!/bin/sh\nexec 7<'{marker}'\nexec '{real}' \"$@\"\n")
    wrapper.chmod(0o755)
    b = bridge_factory(bindir=str(bindir))
    sup_fds = fd_targets(b.proc.pid)
    assert sup_fds.get(7) == str(marker), sup_fds
    wait_for(lambda: b.spare() is not None, timeout=10, what="a spare worker")
    kids = b.children(spare=True)
    assert len(kids) == 5, kids             # sessiond, 3 workers, the spare
    srv = wait_for(b.forksrv, timeout=10, what="the fork server")
    for pid in [*kids, srv]:
        fds = fd_targets(pid)
        assert str(marker) not in fds.values(), (pid, fds)
        assert fds[3].startswith("socket:"), (pid, fds)


def test_channel_with_empty_bot_is_served_by_the_first_bot(bridge_factory,
                                                          tmp_path):
    """"bot": "" is no bot (upstream's falsy test): the platform's first bot
    serves the channel, and only that one answers."""
    mm, cfg, chan = echo_chat(tmp_path)
    cfg["channels"][0]["bot"] = ""
    try:
        bridge_factory(config=cfg)
        mm.post("alice", chan, "who serves this")
        wait_for(lambda: "who serves this" in bot_texts(mm, chan, "a"),
                 timeout=10, what="bot a answers")
        time.sleep(0.5)
        assert bot_texts(mm, chan, "b") == []
    finally:
        mm.stop()


class Pid1Bridge(Bridge):
    """The supervisor as PID 1 of a new PID namespace (unshare), as in a
    container; self.pid is its pid as we see it."""

    def start(self, wait_ready=True):
        self.stderr = open(self.tmp / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc",
             os.path.join(self.bindir, "copilot-bridge"), "run", "-c",
             str(self.cfgpath)], stdout=self.stderr, stderr=self.stderr,
            stdin=subprocess.DEVNULL)
        self.pid = wait_for(lambda: next(iter(children_of(self.proc.pid)),
                                         None), what="the supervisor")
        if wait_ready:
            wait_for(lambda: self.count_state("active") == 3, timeout=10,
                     what="all children active")
        return self

    def root_pid(self):
        return self.pid

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                os.kill(self.pid, signal.SIGKILL)  # takes the namespace along
                self.proc.wait(5)
            self.stderr.close()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None
                    or shutil.which("nsenter") is None,
                    reason="needs root, unshare and nsenter")
def test_supervisor_as_pid1(tmp_path):
    """PID 1 of a PID namespace: its children start (a child does not take
    its parent being PID 1 for being orphaned), bots answer, a worker killed
    with SIGKILL is restarted, and an orphan re-parented to it is reaped."""
    mm, cfg, chan = echo_chat(tmp_path)
    b = Pid1Bridge(tmp_path, cfg)
    try:
        b.start()
        with open(f"/proc/{b.pid}/status") as f:
            nspid = next(l for l in f if l.startswith("NSpid:")).split()
        assert nspid[-1] == "1", nspid
        assert "as PID 1" in b.log()

        mm.post("alice", chan, "hello from pid 1")
        wait_for(lambda: "hello from pid 1" in bot_texts(mm, chan, "a"),
                 timeout=10, what="an answer")

        old = b.workers()["mattermost:b"]
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: b.status().get("mattermost:b", {}).get("gen") == "2"
                 and b.status()["mattermost:b"]["state"] == "active",
                 timeout=8, what="mattermost:b restarted as g2")
        assert b.workers()["mattermost:b"] != old

        # An orphan: its shell exits at once, so it is re-parented to the
        # namespace's PID 1, which must reap it when it exits.
        r = subprocess.run(["nsenter", "--target", str(b.pid), "--pid",
                            "/bin/sh", "-c", "sleep 1 </dev/null >/dev/null 2>&1 & echo $!"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: any(a and a[0].endswith(b"sleep")
                             for a in b.children().values()),
                 timeout=5, what="the orphan re-parented to the supervisor")
        wait_for(lambda: not any(a and a[0].endswith(b"sleep")
                                 for a in b.children().values())
                 and not zombies_of(b.pid), timeout=5,
                 what="the orphan reaped")
        b.wait_log(r"reaped orphan pid \d+")
        assert not zombies_of(b.pid)
        assert b.status()["sessiond"]["state"] == "active"
    finally:
        b.stop()
        mm.stop()


# A stand-in for sessiond and the workers: it speaks the supervisor's
# channel (docs/ipc.md) on fd 3 and writes down every message it gets.
# Worker mattermost:a says postMax in READY, mattermost:b (an older worker)
# does not.
FAKE_CHILD = r"""#!/usr/bin/python3
import json, os, socket, struct, sys
role = "worker" if "-b" in sys.argv else "sessiond"
bot = sys.argv[sys.argv.index("-b") + 1] if role == "worker" else None
s = socket.socket(fileno=3)
seq = 0
def send(t, body):
    global seq
    seq += 1
    b = json.dumps(body).encode()
    s.send(struct.pack("=IHHII", 1, t, 0, seq, len(b)) + b)
send(1, {"proto": 1, "role": role, "pid": os.getpid()})
while True:
    data, anc, _, _ = s.recvmsg(1 << 17, socket.CMSG_SPACE(16))
    if not data:
        break
    for _, _, fds in anc:
        for i in range(0, len(fds), 4):
            os.close(int.from_bytes(fds[i:i + 4], sys.byteorder))
    _, t, _, _, n = struct.unpack("=IHHII", data[:16])
    body = json.loads(data[16:16 + n])
    with open(os.environ["FAKE_CHILD_LOG"], "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "role": role, "type": t,
                            "body": body}) + "\n")
    if t == 2:                                  # CONFIG
        ready = {"hash": "0" * 64}
        if role == "worker":
            ready["userId"] = "u-" + bot
            if bot == "mattermost:a":
                ready["postMax"] = 16383
        send(3, ready)                          # READY
    elif t == 7:                                # DRAIN
        send(8, {})                             # DRAINED
        break
    elif t == 20:                               # SHUTDOWN
        break
"""

IPC_ROUTE = 6


def test_route_carries_the_workers_post_max(bridge_factory, tmp_path):
    """The post limit a worker says in READY goes with every ROUTE of it to
    sessiond: at its start, after a swap and after sessiond restarts; a
    worker that said none is routed without one."""
    bindir = copy_bin(tmp_path)
    for name in ("copilot-bridge-worker", "copilot-bridge-sessiond"):
        (bindir / name).unlink()
        (bindir / name).write_text(FAKE_CHILD)
        (bindir / name).chmod(0o755)
    log = tmp_path / "fake-children.jsonl"
    os.environ["FAKE_CHILD_LOG"] = str(log)
    try:
        b = bridge_factory(config=base_config(tmp_path, bots=("a", "b")),
                           bindir=str(bindir))
    finally:
        del os.environ["FAKE_CHILD_LOG"]

    def routes():
        out = []
        for line in log.read_text().splitlines():
            m = json.loads(line)
            if m["role"] == "sessiond" and m["type"] == IPC_ROUTE:
                out.append(m["body"])
        return out

    def route_of(bot, gen):
        return next((r for r in routes() if r["bot"] == bot
                     and r["generation"] == gen), None)
    a = wait_for(lambda: route_of("mattermost:a", 1), what="ROUTE of a")
    assert a["postMax"] == 16383 and a["userId"] == "u-mattermost:a", a
    b1 = wait_for(lambda: route_of("mattermost:b", 1), what="ROUTE of b")
    assert "postMax" not in b1, b1

    r = b.ctl("reload-bot", "mattermost:a")
    assert r.returncode == 0, r.stderr
    assert route_of("mattermost:a", 2)["postMax"] == 16383

    before = len(routes())
    os.kill(int(b.status()["sessiond"]["pid"]), signal.SIGKILL)
    wait_for(lambda: len(routes()) >= before + 2, timeout=10,
             what="the workers routed to the new sessiond")
    again = routes()[before:]
    assert {r["bot"]: r.get("postMax") for r in again} == \
        {"mattermost:a": 16383, "mattermost:b": None}, again
