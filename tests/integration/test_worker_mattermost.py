"""The Mattermost worker against the fake Mattermost (tests/fakes/mattermost.py).

Two ways in:
* through the real bridge (bridge_factory + a FakeMM): READY only after the
  WebSocket hello, FAILED on a bad token, inbound, access control and its
  live update;
* the worker binary alone, with this file playing its supervisor (fd 3) and
  sessiond (an ATTACHed link), to drive OUTBOUND, DRAIN and the reconnects
  precisely and to read what it sends to sessiond.
Every wait is bounded."""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from bridge import (BIN, FakeMM, fake_mm_seed, mm_config, mm_token,
                    wait_for)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))

# --- IPC, as ipc/ipc.h frames it ---------------------------------------------

T = {n: i + 1 for i, n in enumerate(
    "HELLO CONFIG READY FAILED ATTACH ROUTE DRAIN DRAINED INBOUND INBOUND_ACK "
    "OUTBOUND OUTBOUND_DONE ADMIN_REQUEST ADMIN_RESULT CONFIG_UPDATE "
    "RELOAD_HOOKS STATUS STATUS_REPLY LOG_REOPEN SHUTDOWN RELINK CURSORS"
    .split())}
NAME = {v: k for k, v in T.items()}
HDR = struct.Struct("=IHHII")


class Peer:
    """One end of a SEQPACKET channel, speaking the bridge's IPC."""

    def __init__(self, sock):
        self.sock = sock
        self.seq = 0
        self.got = []           # every (type name, body) received, in order

    def send(self, type_name, body=None, fd=None):
        data = json.dumps(body if body is not None else {}).encode()
        self.seq += 1
        msg = HDR.pack(1, T[type_name], 1 if fd is not None else 0,
                       self.seq, len(data)) + data
        if fd is None:
            self.sock.send(msg)
        else:
            socket.send_fds(self.sock, [msg], [fd])

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        data, fds, _, _ = socket.recv_fds(self.sock, 256 * 1024, 4)
        for fd in fds:
            os.close(fd)
        if not data:
            raise EOFError("channel closed")
        _, t, _, _, n = HDR.unpack_from(data)
        item = (NAME.get(t, str(t)), json.loads(data[HDR.size:HDR.size + n]))
        self.got.append(item)
        return item

    def expect(self, type_name, timeout=10, pred=None):
        """The next message of that type (others are kept in self.got)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {type_name} within {timeout}s; "
                                     f"got {self.got[-5:]}")
            try:
                t, body = self.recv(left)
            except socket.timeout:
                continue
            if t == type_name and (pred is None or pred(body)):
                return body

    def drain_all(self, timeout=0.3):
        """Everything that arrives within timeout."""
        out = []
        try:
            while True:
                out.append(self.recv(timeout))
        except (socket.timeout, EOFError):
            return out


def worker_config(fake, bot="a", **over):
    cfg = {"platform": "mattermost", "bot": bot, "key": f"mattermost:{bot}",
           "url": fake.url, "token": mm_token(bot), "admin": False,
           "access": {"mode": "open"}, "botAccess": None, "admins": [],
           "channels": [], "reconnectTimeoutMs": 10000, "logLevel": "debug",
           "logDir": None}
    cfg.update(over)
    return cfg


class Worker:
    """copilot-bridge-worker alone: we are its supervisor and its sessiond."""

    def __init__(self, tmp, fake, bot="a", env=None, **over):
        self.config = worker_config(fake, bot, **over)
        sup, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.logpath = tmp / f"worker-{bot}.stderr"
        self.log_f = open(self.logpath, "wb")
        cfd = child.fileno()
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "copilot-bridge-worker"), "-g", "1", "-b",
             f"mattermost:{bot}"], stdin=subprocess.DEVNULL,
            stdout=self.log_f, stderr=self.log_f, pass_fds=(3,),
            preexec_fn=lambda: os.dup2(cfd, 3),
            env=dict(os.environ, **(env or {})))
        child.close()
        self.sup = Peer(sup)
        self.link = None
        hello = self.sup.expect("HELLO", 5)
        assert hello["role"] == "worker"
        self.sup.send("CONFIG", {"config": self.config, "generation": 1})
        self.attach()

    def attach(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sup.send("ATTACH", {"bot": self.config["key"], "generation": 1},
                      fd=theirs.fileno())
        theirs.close()
        self.link = Peer(mine)
        assert self.link.expect("HELLO", 5)["role"] == "worker"

    def ready(self, timeout=10):
        return self.sup.expect("READY", timeout)

    def outbound(self, ref, op, timeout=15, **fields):
        self.link.send("OUTBOUND", dict(ref=ref, op=op, **fields))
        return self.link.expect("OUTBOUND_DONE", timeout,
                                lambda b: b["ref"] == ref)

    def inbound(self, timeout=10, pred=None):
        return self.link.expect("INBOUND", timeout, pred)

    def log(self):
        return self.logpath.read_text(errors="replace")

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout=timeout,
                        what=f"/{pattern}/ in the worker log")

    def wait_exit(self, timeout=10):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log_f.close()
        for p in (self.sup, self.link):
            if p is not None:
                p.sock.close()
        text = self.log()
        for mark in ("ERROR: AddressSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer"):
            assert mark not in text, text[-4000:]


@pytest.fixture
def fake(tmp_path):
    f = FakeMM(tmp_path)
    yield f
    f.stop()


@pytest.fixture
def worker_factory(tmp_path, fake):
    made = []

    def make(**kw):
        w = Worker(tmp_path, kw.pop("fake", fake), **kw)
        made.append(w)
        return w
    yield make
    for w in made:
        w.stop()


def town(fake):
    return fake.channel("town-square")["id"]


# --- the worker alone ------------------------------------------------------------

def test_ready_carries_identity_and_hash(worker_factory, fake):
    w = worker_factory()
    r = w.ready()
    me = fake.user("a")
    assert r["userId"] == me["id"] and r["username"] == "a"
    assert len(r["hash"]) == 64 and r["connectMs"] >= 0
    assert r["postMax"] == 16383     # characters, the platform's fact
    log = w.log()
    assert log.index("websocket: hello") < log.index("ready in")
    assert mm_token("a") not in log
    socks = fake.sockets("a")
    assert len(socks) == 1 and socks[0]["auth"] == "header"


def test_post_becomes_inbound(worker_factory, fake):
    w = worker_factory()
    w.ready()
    p = fake.post("alice", "town-square", "@a: how are you?")
    m = w.inbound(pred=lambda b: b["id"] == p["id"])
    alice = fake.user("alice")
    # When the worker read it (CLOCK_MONOTONIC µs, as time.monotonic_ns()).
    assert 0 < time.monotonic_ns() // 1000 - m.pop("readUs") < 60_000_000, m
    assert m == {"id": p["id"], "channel": town(fake), "bot": "mattermost:a",
                 "user": "alice", "userId": alice["id"],
                 "text": "how are you?", "root": "", "isDM": False,
                 "mentionsBot": True, "createAt": p["create_at"]}
    w.wait_log(r"inbound %s from @alice" % p["id"])


def test_outbound_ops(worker_factory, fake):
    w = worker_factory()
    w.ready()
    ch = town(fake)
    root = fake.post("alice", "town-square", "@a start")
    d = w.outbound(1, "post", channel=ch, root=root["id"], text="⏳ Working...")
    assert d["ok"] is True and len(d["post"]) == 26
    pid = d["post"]
    d = w.outbound(2, "patch", channel=ch, post=pid, text="done <b> & co")
    # The platform's own time on it, and when its answer was read (the
    # worker's CLOCK_MONOTONIC, which this process shares): the bridge's
    # share of a turn is the rest.
    now_us = time.monotonic_ns() // 1000
    assert 0 < d.pop("platformUs") < 60_000_000, d
    assert now_us - 60_000_000 < d.pop("ackUs") <= now_us, d
    assert d == {"ref": 2, "ok": True}
    d = w.outbound(3, "react", channel=ch, post=root["id"], emoji=":thumbsup:")
    assert d["ok"] is True
    d = w.outbound(4, "typing", channel=ch, root=root["id"])
    assert d["ok"] is True
    posts = {p["id"]: p for p in
             fake.control("GET", f"/channels/{ch}/posts")["posts"]}
    assert posts[pid]["message"] == "done <b> & co"
    assert posts[pid]["root_id"] == root["id"]
    assert [h["message"] for h in posts[pid]["history"]] == \
        ["⏳ Working...", "done <b> & co"]
    reacts = fake.api("GET", f"/posts/{root['id']}/reactions", mm_token("a"))[1]
    assert [r["emoji_name"] for r in reacts] == ["thumbsup"]
    d = w.outbound(5, "delete", channel=ch, post=pid)
    assert d["ok"] is True
    assert fake.api("GET", f"/posts/{pid}", mm_token("a"))[0] == 404


def test_outbound_errors_are_answered(worker_factory, fake):
    w = worker_factory()
    w.ready()
    ch = town(fake)
    d = w.outbound(1, "patch", channel=ch, post="x" * 26, text="t")
    assert d["ok"] is False and d["error"].startswith("404 from /posts/")
    assert "tokenRefused" not in d
    d = w.outbound(2, "frobnicate", channel=ch)
    assert d == {"ref": 2, "ok": False, "error": 'unknown op "frobnicate"'}
    d = w.outbound(3, "post", channel="../../users/me", text="t")
    assert d["ok"] is False and "bad channel id" in d["error"]
    d = w.outbound(4, "react", channel=ch, post="x" * 26, emoji="a b")
    assert d["ok"] is False and "emoji" in d["error"]


def test_429_waits_retry_after_and_5xx_gives_up(worker_factory, fake):
    w = worker_factory()
    w.ready()
    ch = town(fake)
    fake.control("POST", "/ratelimit", {"count": 2, "retry_after": 1})
    t0 = time.monotonic()
    d = w.outbound(1, "post", channel=ch, text="after the limit")
    took = time.monotonic() - t0
    assert d["ok"] is True and 1.8 <= took < 6, took
    w.wait_log(r"POST /posts: rate limited; retrying in 1000 ms")
    assert len(fake.requests("POST", "/api/v4/posts")) == 3


def test_ops_of_a_channel_stay_in_order(worker_factory, fake):
    w = worker_factory()
    w.ready()
    ch = town(fake)
    fake.control("POST", "/ratelimit", {"count": 1, "retry_after": 1})
    w.link.send("OUTBOUND", {"ref": 1, "op": "post", "channel": ch,
                             "text": "first"})
    w.link.send("OUTBOUND", {"ref": 2, "op": "post", "channel": ch,
                             "text": "second"})
    done = [w.link.expect("OUTBOUND_DONE", 10) for _ in range(2)]
    assert [d["ref"] for d in done] == [1, 2] and all(d["ok"] for d in done)
    msgs = [p["message"] for p in
            fake.control("GET", f"/channels/{ch}/posts")["posts"]]
    assert msgs[-2:] == ["first", "second"]


def test_bad_token_fails_with_the_401_reason(worker_factory, fake):
    w = worker_factory(token="not-a-valid-token-000000")
    f = w.sup.expect("FAILED", 10)
    assert f["reason"] == ("401 from /users/me: Invalid or expired session, "
                           "please login again.")
    assert w.wait_exit() == 1
    assert not any(t == "READY" for t, _ in w.sup.got)
    assert "not-a-valid-token" not in w.log()


def test_unreachable_server_fails_before_the_deadline(tmp_path, fake,
                                                      worker_factory):
    class Nowhere:
        url = "http://127.0.0.1:9"
    t0 = time.monotonic()
    w = worker_factory(fake=Nowhere, reconnectTimeoutMs=3000)
    f = w.sup.expect("FAILED", 10)
    assert time.monotonic() - t0 < 3.5
    assert "/users/me" in f["reason"] or "no WebSocket hello" in f["reason"]
    assert w.wait_exit() == 1


def test_drop_is_resumed_with_the_same_connection(worker_factory, fake):
    w = worker_factory()
    w.ready()
    p1 = fake.post("alice", "town-square", "one")
    w.inbound(pred=lambda b: b["id"] == p1["id"])
    before = fake.sockets("a")[0]
    fake.control("POST", "/sockets/drop", {"user": "a"})
    p2 = fake.post("alice", "town-square", "two, while away")
    m = w.inbound(pred=lambda b: b["id"] == p2["id"])
    assert m["text"] == "two, while away"
    after = wait_for(lambda: fake.sockets("a"), what="a socket again")[0]
    assert after["socket"] != before["socket"]
    assert after["connection_id"] == before["connection_id"]
    assert after["resume"] in ("replayed", "lossless")
    assert after["query"]["connection_id"] == before["connection_id"]
    w.wait_log(r"websocket: resumed connection %s" % before["connection_id"])
    assert not fake.requests("GET", "/api/v4/channels/")   # no catch-up
    assert [b["id"] for t, b in w.link.drain_all() if t == "INBOUND"] == []


def test_fresh_hello_catches_up_exactly_once(worker_factory, fake):
    w = worker_factory()
    w.ready()
    p1 = fake.post("alice", "town-square", "makes town-square active")
    w.inbound(pred=lambda b: b["id"] == p1["id"])
    old = fake.sockets("a")[0]["connection_id"]
    fake.control("POST", "/sockets/drop", {"user": "a", "forget": True})
    gap = [fake.post("alice", "town-square", f"missed {i}") for i in range(3)]
    got = [w.inbound(pred=lambda b: b["id"] == p["id"]) for p in gap]
    assert [g["text"] for g in got] == ["missed 0", "missed 1", "missed 2"]
    assert all(g["user"] == "alice" for g in got)
    w.wait_log(r"new connection \w+ \(was %s\): events were missed" % old)
    w.wait_log(r"catch-up done: 3 missed post\(s\)")
    assert fake.sockets("a")[0]["connection_id"] != old
    reqs = fake.requests("GET", f"/api/v4/channels/{town(fake)}/posts")
    assert len(reqs) == 1 and "since" in reqs[0]["query"]
    # exactly once: nothing more arrives, and p1 was not sent again
    late = [b["id"] for t, b in w.link.drain_all(1.0) if t == "INBOUND"]
    assert late == []


def test_cursors_catch_up_each_channel_from_its_own(worker_factory, fake):
    """sessiond's cursors far apart: each channel is read from its own,
    less the margin, not every channel from the oldest."""
    w = worker_factory()
    now = int(time.time() * 1000)
    dm = fake.channel(members=["a", "alice"])["id"]
    w.link.send("CURSORS", {"channels": {town(fake): now - 600000,
                                         dm: now - 1000}})
    w.ready()
    w.wait_log(r"catch-up done: 0 missed post\(s\) from 2 channel\(s\)")
    since = {ch: [int(r["query"]["since"]) for r in
                  fake.requests("GET", f"/api/v4/channels/{ch}/posts")]
             for ch in (town(fake), dm)}
    assert since == {town(fake): [now - 600000 - 5000], dm: [now - 1000 - 5000]}


def test_catch_up_reads_a_dm_with_no_cursor(worker_factory, fake):
    """A DM never written in before gets a post while no worker is
    connected: sessiond has no cursor for it, but the server's list of the
    bot's channels says it had a post, so the catch-up reads it, once."""
    dm = fake.channel(members=["a", "bob"])["id"]
    quiet = fake.channel(members=["a", "alice"])["id"]
    missed = fake.post("bob", dm, "posted while no worker ran")
    w = worker_factory()
    w.link.send("CURSORS", {"channels": {
        town(fake): int(time.time() * 1000) - 1000}})
    w.ready()
    got = w.inbound(pred=lambda b: b["id"] == missed["id"])
    assert got["text"] == "posted while no worker ran"
    w.wait_log(r"catch-up done: 1 missed post\(s\) from 2 channel\(s\)")
    assert len(fake.requests("GET", "/api/v4/users/me/channels")) == 1
    # its type came with the list; the DM with no post is not read
    assert fake.requests("GET", f"/api/v4/channels/{dm}/posts")
    assert not fake.requests("GET", f"/api/v4/channels/{quiet}/posts")
    assert not [r for r in fake.requests("GET", f"/api/v4/channels/{dm}")
                if r["path"] == f"/api/v4/channels/{dm}"]
    late = [b["id"] for t, b in w.link.drain_all(1.0) if t == "INBOUND"]
    assert late == []


def test_catch_up_without_the_channel_list(worker_factory, fake):
    """The list of the bot's channels fails: the channels known already are
    still caught up."""
    fake.control("POST", "/config",
                 {"fail_paths": ["/api/v4/users/me/channels"]})
    missed = fake.post("alice", "town-square", "posted while no worker ran")
    w = worker_factory()
    w.link.send("CURSORS", {"channels": {
        town(fake): int(time.time() * 1000) - 1000}})
    w.ready()
    assert w.inbound(pred=lambda b: b["id"] == missed["id"])
    w.wait_log(r"catch-up: cannot list the bot's channels")
    w.wait_log(r"catch-up done: 1 missed post\(s\) from 1 channel\(s\)")


def test_inbound_not_acknowledged_goes_again_on_the_next_link(worker_factory,
                                                              fake):
    """sessiond died before acknowledging a message: the next link gets it
    again (sessiond drops it if it had it after all), once."""
    w = worker_factory()
    w.ready()
    acked = fake.post("alice", "town-square", "acknowledged")
    w.inbound(pred=lambda b: b["id"] == acked["id"])
    w.link.send("INBOUND_ACK", {"id": acked["id"]})
    lost = fake.post("alice", "town-square", "sent as sessiond died")
    w.inbound(pred=lambda b: b["id"] == lost["id"])
    w.link.sock.close()
    w.sup.expect("RELINK", 5)
    waiting = fake.post("alice", "town-square", "posted with no link")
    w.attach()
    got = [b for t, b in w.link.drain_all(1.0) if t == "INBOUND"]
    assert [b["id"] for b in got] == [lost["id"], waiting["id"]]
    assert got[0]["text"] == "sent as sessiond died"
    w.link.send("INBOUND_ACK", {"id": waiting["id"]})
    # Lost on a second link too: dropped, said.
    w.link.sock.close()
    w.sup.expect("RELINK", 5)
    w.attach()
    assert not [b for t, b in w.link.drain_all(0.5) if t == "INBOUND"]
    w.wait_log(r"sessiond did not acknowledge inbound %s on two links; "
               r"dropped" % lost["id"])


def test_missing_ping_reply_means_a_dead_socket(worker_factory, fake):
    w = worker_factory(env={"COPILOT_BRIDGE_TEST_PING_MS": "400"})
    w.ready()
    old = fake.sockets("a")[0]
    fake.control("POST", "/sockets/silence", {"user": "a"})
    p = fake.post("alice", "town-square", "sent into the silence")
    m = w.inbound(timeout=10, pred=lambda b: b["id"] == p["id"])
    assert m["text"] == "sent into the silence"
    w.wait_log(r"no reply to ping \d+ within 400 ms; the connection is dead")
    new = wait_for(lambda: [s for s in fake.sockets("a")
                            if s["socket"] != old["socket"]], what="new socket")
    assert new[0]["connection_id"] == old["connection_id"]


def test_drain_finishes_outbound_then_exits(worker_factory, fake):
    w = worker_factory()
    w.ready()
    ch = town(fake)
    fake.control("POST", "/ratelimit", {"count": 1, "retry_after": 1})
    w.link.send("OUTBOUND", {"ref": 7, "op": "post", "channel": ch,
                             "text": "in flight"})
    time.sleep(0.2)
    w.sup.send("DRAIN", {"timeoutMs": 10000})
    d = w.link.expect("OUTBOUND_DONE", 10)
    assert d["ref"] == 7 and d["ok"] is True
    w.sup.expect("DRAINED", 5)
    assert w.wait_exit() == 0
    assert [t for t, _ in w.link.got].index("OUTBOUND_DONE") >= 0
    wait_for(lambda: not fake.sockets("a"), what="socket closed")


def test_no_inbound_after_drain(worker_factory, fake):
    w = worker_factory()
    w.ready()
    w.sup.send("DRAIN", {"timeoutMs": 10000})
    w.sup.expect("DRAINED", 5)
    fake.post("alice", "town-square", "too late")
    assert w.wait_exit() == 0
    assert not [b for t, b in w.link.drain_all(0.5) if t == "INBOUND"]


def test_shutdown_is_prompt(worker_factory, fake):
    w = worker_factory()
    w.ready()
    t0 = time.monotonic()
    w.sup.send("SHUTDOWN")
    assert w.wait_exit(5) == 0
    assert time.monotonic() - t0 < 2


def test_config_update_changes_access_live(worker_factory, fake):
    w = worker_factory()
    w.ready()
    p = fake.post("bob", "town-square", "first")
    w.inbound(pred=lambda b: b["id"] == p["id"])
    cfg = dict(w.config, access={"mode": "blocklist", "users": ["Bob"]})
    w.sup.send("CONFIG_UPDATE", {"config": cfg})
    # The update and the next post travel on different sockets: post only
    # once the worker has applied it.
    w.wait_log(r"config updated")
    p2 = fake.post("bob", "town-square", "blocked now")
    p3 = fake.post("alice", "town-square", "still fine")
    w.inbound(pred=lambda b: b["id"] == p3["id"])
    w.wait_log(r"drop %s: @bob \(\w+\) may not use this bot" % p2["id"])
    assert p2["id"] not in [b["id"] for t, b in w.link.got if t == "INBOUND"]


def test_own_system_and_dm_posts(worker_factory, fake):
    w = worker_factory()
    w.ready()
    me = fake.user("a")
    own = fake.post("a", "town-square", "my own words")
    sysp = fake.post("alice", "town-square", "alice joined", type="system_join_channel")
    dm = fake.channel(members=["a", "alice"])
    p = fake.post("alice", dm["id"], "just between us")
    m = w.inbound(pred=lambda b: b["id"] == p["id"])
    assert m["isDM"] is True and m["mentionsBot"] is True
    assert m["userId"] != me["id"]
    w.wait_log(r"drop %s: own post" % own["id"])
    w.wait_log(r"drop %s: system post" % sysp["id"])


def test_401_on_rest_is_answered_and_the_worker_serves_on(worker_factory,
                                                          fake):
    w = worker_factory()
    w.ready()
    # Revoked: REST refuses at once, the open socket keeps delivering (D.1).
    fake.control("POST", "/tokens/revoke", {"token": mm_token("a"),
                                            "sockets": "keep"})
    d = w.outbound(1, "post", channel=town(fake), text="refused")
    assert d["ok"] is False
    assert d["error"] == ("401 from /posts: Invalid or expired session, "
                          "please login again.")
    assert d["tokenRefused"] is True
    w.wait_log(r"outbound 1 post failed: 401 from /posts")
    p = fake.post("alice", "town-square", "still listening")
    w.inbound(pred=lambda b: b["id"] == p["id"])
    assert w.proc.poll() is None


# --- an in-process fake, for what its control API cannot do ---------------------

class InProcFake(FakeMM):
    """FakeMattermost in a thread of this process (its documented in-process
    use), so a test can write raw frames and hold back hellos."""

    def __init__(self, seed=None):
        from mattermost import ThreadedFake
        self.t = ThreadedFake(seed=seed or fake_mm_seed())
        self.url, self.port = self.t.url, self.t.port
        self._held = None

    def stop(self):
        self.t.stop()

    def _run(self, coro):
        import asyncio
        return asyncio.run_coroutine_threadsafe(coro, self.t.loop).result(10)

    def send_raw(self, user, text=None, data=None):
        """Write a frame, as it is, to user's sockets."""
        fake = self.t.fake

        async def go():
            for s in list(fake.socks):
                u = fake.users.get(s.wc.user_id if s.wc else "")
                if u and u["username"] == user:
                    if data is not None:
                        await s.ws.send_bytes(data)
                    else:
                        await s.ws.send_str(text)
        self._run(go())

    def hold_hellos(self):
        """Keep back every hello until release_hellos()."""
        fake, self._held = self.t.fake, []
        orig = type(fake)._enqueue

        def enqueue(wc, item):
            if self._held is not None and isinstance(item, tuple) \
                    and item[0] == "hello":
                self._held.append((wc, item))
                return
            orig(fake, wc, item)
        fake._enqueue = enqueue

    def hold_me(self):
        """Keep back every answer to GET /users/me until release_me()."""
        import asyncio
        fake, self._me_gate = self.t.fake, None
        orig = fake.r_user

        async def r_user(request, params, user, raw):
            if params.get("user_id") == "me":
                if self._me_gate is None:
                    self._me_gate = asyncio.Event()
                await self._me_gate.wait()
            return await orig(request, params, user, raw)
        fake.r_user = r_user
        fake.__dict__.pop("_compiled", None)    # routes bind their handlers

    def release_me(self):
        fake = self.t.fake

        async def go():
            if self._me_gate is None:
                import asyncio
                self._me_gate = asyncio.Event()
            self._me_gate.set()
        self._run(go())
        fake.r_user = type(fake).r_user.__get__(fake)

    def release_hellos(self):
        fake, held, self._held = self.t.fake, self._held, None

        async def go():
            for wc, item in held or []:
                type(fake)._enqueue(fake, wc, item)
        self._run(go())


@pytest.fixture
def inproc():
    f = InProcFake()
    yield f
    f.stop()


def test_bad_frames_are_logged_and_survived(worker_factory, inproc):
    w = worker_factory(fake=inproc)
    w.ready()
    inproc.send_raw("a", "this is not JSON")
    inproc.send_raw("a", '{"event": "posted", "data": {"post": "{not json"}, '
                         '"seq": 1}')
    inproc.send_raw("a", '{"event": "posted", "data": {"post": 42}, "seq": 1}')
    inproc.send_raw("a", '[1, 2, 3]')
    inproc.send_raw("a", '{"event": "hello", "data": {}, "seq": 0}')
    inproc.send_raw("a", "x" * (2 * 1024 * 1024))
    inproc.send_raw("a", data=b"\x00\x01binary")
    p = inproc.post("alice", "town-square", "after the garbage")
    w.inbound(pred=lambda b: b["id"] == p["id"])
    log = w.log()
    assert "ignored a bad frame of 16 bytes: not JSON" in log
    assert "posted: data.post is not JSON" in log
    assert "posted without a data.post string" in log
    assert "not a JSON object" in log
    assert "hello without a valid connection_id" in log
    assert re.search(r"dropped a text message of 2097152 bytes", log)
    assert re.search(r"dropped a binary message of 8 bytes", log)
    assert w.proc.poll() is None
    assert len(inproc.sockets("a")) == 1    # never reconnected


def test_no_ready_before_hello(worker_factory, inproc):
    inproc.hold_hellos()
    w = worker_factory(fake=inproc)
    time.sleep(1.5)
    assert not any(t == "READY" for t, _ in w.sup.drain_all(0.1))
    inproc.release_hellos()
    r = w.ready(5)
    assert r["connectMs"] >= 1500


def test_frames_before_users_me_wait_for_it(worker_factory, inproc):
    """/users/me and the WebSocket go out together; what the socket says
    before the worker knows who it is (the hello, a post of its own, a
    user's post) is handled in order once /users/me answers."""
    inproc.hold_me()
    w = worker_factory(fake=inproc)
    wait_for(lambda: inproc.sockets("a"), timeout=10,
             what="the WebSocket open while /users/me waits")
    own = inproc.post("a", "town-square", "my own words")
    p = inproc.post("alice", "town-square", "@a: early bird")
    time.sleep(0.5)
    assert not [t for t, _ in w.sup.drain_all(0.1) if t == "READY"]
    assert not [t for t, _ in w.link.got if t == "INBOUND"]
    inproc.release_me()
    r = w.ready(5)
    assert r["startUs"] > 0 and r["connectUs"] >= 500000, r
    m = w.inbound(pred=lambda b: b["id"] == p["id"])
    assert m["text"] == "early bird"
    w.wait_log(r"drop %s: own post" % own["id"])
    assert own["id"] not in [b["id"] for t, b in w.link.got if t == "INBOUND"]
    log = w.log()
    assert log.index("authenticated as @a") < log.index("ready in")


def test_no_hello_at_all_fails_with_the_reason(worker_factory, inproc):
    inproc.hold_hellos()
    w = worker_factory(fake=inproc, reconnectTimeoutMs=2000)
    f = w.sup.expect("FAILED", 5)
    assert f["reason"].startswith("no WebSocket hello within 1800 ms")
    assert w.wait_exit() == 1


# --- through the real bridge ------------------------------------------------------

TS = re.compile(r"^(\S+) ")


def log_time(text, pattern):
    """The timestamp of the first log line matching pattern."""
    for line in text.splitlines():
        if re.search(pattern, line):
            return TS.match(line).group(1)
    raise AssertionError(f"/{pattern}/ not logged")


@pytest.fixture
def mm_bridge(bridge_factory, tmp_path, fake):
    def make(bots=("a",), access=None, start=True, tokens=None):
        cfg = mm_config(tmp_path, fake, bots=bots, access=access)
        for b, tok in (tokens or {}).items():
            cfg["platforms"]["mattermost"]["bots"][b]["token"] = tok
        b = bridge_factory(config=cfg, start=False)
        if start:
            b.start()
        return b
    return make


def test_bridge_worker_is_active_after_its_hello(mm_bridge, fake):
    b = mm_bridge(bots=("a", "b"))
    st = b.status()
    assert st["mattermost:a"]["state"] == st["mattermost:b"]["state"] == \
        "active"
    for k in ("a", "b"):
        wlog = b.log(f"worker-mattermost-{k}.log")
        hello = log_time(wlog, r"websocket: hello, connection \w{26}")
        ready = log_time(b.log(), rf"mattermost:{k} g1 pid \d+ ready in")
        assert hello <= ready
        assert mm_token(k) not in wlog
    assert {s["username"] for s in fake.sockets()} == {"a", "b"}


def test_bridge_bad_token_is_failed_not_ready(mm_bridge, fake):
    b = mm_bridge(bots=("a", "b"), tokens={"b": "tok-b-wrong-000000"},
                  start=False)
    b.start(wait_ready=False)
    b.wait_log(r"mattermost:b g1 pid \d+ failed: 401 from /users/me: "
               r"Invalid or expired session", timeout=10)
    b.wait_log(r"mattermost:b g1 pid \d+ exited unexpectedly .*restarting in",
               timeout=10)
    b.wait_log(r"mattermost:b g2 pid \d+ failed: 401 from /users/me",
               timeout=10)
    wait_for(lambda: b.status().get("mattermost:a", {}).get("state") ==
             "active", what="mattermost:a active")
    assert b.status()["mattermost:b"]["state"] != "active"
    assert not re.search(r"mattermost:b g\d+ pid \d+ ready", b.log())
    assert "failed: 401 from /users/me" in b.log("worker-mattermost-b.log")
    assert "tok-b-wrong" not in b.all_logs()


def test_bridge_inbound_and_live_access(mm_bridge, fake):
    b = mm_bridge(bots=("a",), access={"mode": "blocklist", "users": ["bob"]})
    wpid = b.workers()["mattermost:a"]
    wlog = "worker-mattermost-a.log"
    p1 = fake.post("bob", "town-square", "@a let me in")
    p2 = fake.post("alice", "town-square", "@a hello")
    b.wait_log(r"inbound %s from @alice" % p2["id"], name=wlog)
    b.wait_log(r"drop %s: @bob \(\w+\) may not use this bot" % p1["id"],
               name=wlog)
    cfg = b.config
    cfg["platforms"]["mattermost"]["access"] = {"mode": "open"}
    b.write_config(cfg)
    b.signal(signal.SIGHUP)
    b.wait_log(r'platform "mattermost": access updated')
    b.wait_log(r"config updated", name=wlog)
    p3 = fake.post("bob", "town-square", "@a and now?")
    b.wait_log(r"inbound %s from @bob" % p3["id"], name=wlog)
    assert b.workers()["mattermost:a"] == wpid


def test_bridge_worker_resumes_after_a_drop(mm_bridge, fake):
    b = mm_bridge(bots=("a",))
    wpid = b.workers()["mattermost:a"]
    conn = fake.sockets("a")[0]["connection_id"]
    fake.control("POST", "/sockets/drop", {"user": "a"})
    p = fake.post("alice", "town-square", "while dropped")
    b.wait_log(r"inbound %s from @alice" % p["id"],
               name="worker-mattermost-a.log", timeout=10)
    b.wait_log(r"websocket: resumed connection %s" % conn,
               name="worker-mattermost-a.log")
    assert b.workers()["mattermost:a"] == wpid
    assert b.status()["mattermost:a"]["state"] == "active"
