"""The fork server (worker/forksrv.c, supervisor/forksrv.c): the workers
are forked from one process of the worker binary and share its pages; it
is a saving, never a dependency: killed or hung, the workers are exec'd
and it comes back.  Every wait is bounded."""

import os
import re
import signal
import time

import pytest

from bridge import alive, children_of, mem_kb, sanitized, wait_for
from test_reload_bot import Chat


@pytest.fixture
def chat(bridge_factory, tmp_path):
    c = Chat(bridge_factory, tmp_path, seed_bots=("a", "b", "c"),
             bots=("a", "b", "c"))
    yield c
    c.stop()


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def reload_a(b):
    r = b.ctl("reload-bot", "mattermost:a", timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("✅ Reloaded mattermost:a"), r
    return b.status()["mattermost:a"]["gen"]


def test_workers_are_forked_children_of_the_supervisor(chat):
    b = chat.bridge
    srv = wait_for(b.forksrv, timeout=10, what="the fork server")
    log = b.log()
    for bot in ("a", "b", "c"):
        assert re.search(rf"forked mattermost:{bot} g1 pid \d+", log), log
    workers = b.workers()
    assert len(workers) == 3
    for key, pid in workers.items():
        # Re-parented from the fork server's middle process to us.
        assert ppid(pid) == b.proc.pid, key
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        assert cmd[1:5] == [b"-g", b"1", b"-b", key.encode()], cmd
    assert ppid(srv) == b.proc.pid
    out = b.ctl("status").stdout
    assert re.search(rf"^fork server pid {srv}, ready, binary [0-9a-f]{{12}}$",
                     out, re.M), out
    if not sanitized(b.proc.pid):
        # Its relocated libraries are the fork server's pages, shared:
        # an exec'd worker has about 1.6 MB of its own, a forked one 0.4.
        private = sorted(mem_kb(p)["private"] for p in workers.values())
        assert private[1] < 1024, private
    chat.roundtrip("forked and answering")


def test_a_killed_fork_server_costs_a_swap_nothing(chat):
    b = chat.bridge
    srv = wait_for(b.forksrv, timeout=10, what="the fork server")
    os.kill(srv, signal.SIGKILL)
    b.wait_log(rf"fork server pid {srv} stopped: exited", timeout=10)
    after = b.log().index(f"fork server pid {srv} stopped: exited")
    # The spare takes the swap; the next spare is exec'd.
    assert reload_a(b) == "2"
    b.wait_log(r"spawned spare g0 pid \d+", after=after)
    chat.roundtrip("after the fork server died")
    # It comes back (after its backoff, started by a spawn), and the
    # workers are forked again.
    deadline = time.monotonic() + 30
    for _ in range(20):
        if re.search(r"forked \S+ g\d+ pid", b.log()[after:]):
            break
        assert time.monotonic() < deadline, "no worker forked again"
        time.sleep(0.5)
        reload_a(b)
    else:
        pytest.fail("no worker forked again")
    new = wait_for(b.forksrv, timeout=10, what="a new fork server")
    assert new != srv
    assert f"fork server pid {new}, ready" in b.ctl("status").stdout
    chat.roundtrip("forked again")


def test_a_hung_fork_server_is_replaced_and_the_worker_execd(chat):
    b = chat.bridge
    srv = wait_for(b.forksrv, timeout=10, what="the fork server")
    os.kill(srv, signal.SIGSTOP)
    try:
        assert reload_a(b) == "2"
    finally:
        if alive(srv):
            os.kill(srv, signal.SIGCONT)
    # The spare took the swap; its successor's FORK went unanswered.
    b.wait_log(rf"fork server pid {srv} stopped: no answer in 250 ms")
    b.wait_log(r"spawned spare g0 pid \d+")
    wait_for(lambda: not alive(srv), timeout=10, what="the hung server gone")
    chat.roundtrip("after the hung fork server")


def test_a_supervisor_killed_takes_every_process_with_it(chat):
    b = chat.bridge
    wait_for(b.forksrv, timeout=10, what="the fork server")
    wait_for(b.spare, timeout=10, what="a spare worker")
    kids = list(children_of(b.proc.pid))
    assert len(kids) == 6, kids     # sessiond, 3 workers, spare, fork server
    os.kill(b.proc.pid, signal.SIGKILL)
    b.proc.wait(10)
    wait_for(lambda: not any(alive(k) for k in kids), timeout=10,
             what="every child gone with the supervisor")
