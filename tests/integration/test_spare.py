"""The spare worker (supervisor/spare.c): one worker started ahead of need
is adopted by the next swap or restart, renamed in ps to its bot, and
replaced; a spare that dies is started again without touching any bot; a
spare of a replaced binary is never adopted.  Every wait is bounded."""

import os
import re
import signal

from bridge import alive, copy_bin, wait_for
from test_reload_bot import chat, chat_factory  # noqa: F401


def argv_of(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a for a in f.read().split(b"\0") if a]


def test_a_swap_adopts_the_spare_and_a_new_one_follows(chat):
    b = chat.bridge
    spare = wait_for(b.spare, timeout=10, what="a spare worker")
    assert argv_of(spare)[1:4] == [b"-g", b"0", b"-s"]
    wait_for(lambda: f"spare worker pid {spare}, idle" in
             b.ctl("status").stdout, timeout=10, what="ctl status shows it")
    old = b.workers()["mattermost:a"]
    r = b.ctl("reload-bot", "mattermost:a", timeout=30)
    assert r.returncode == 0, r.stderr
    # The spare is now bot a's generation 2, and says so in ps.
    assert b.workers()["mattermost:a"] == spare
    assert argv_of(spare)[1:] == [b"-g", b"2", b"-b", b"mattermost:a"]
    assert f"spare pid {spare} adopted as mattermost:a g2" in b.log()
    wait_for(lambda: not alive(old), timeout=15, what="generation 1 gone")
    chat.roundtrip("served by the adopted spare")
    # Its log is the bot's, not a spare's.
    assert "served by the adopted spare" not in b.log("worker-spare.log")
    # A new spare, not the old one.
    new = wait_for(lambda: b.spare() not in (None, spare), timeout=10,
                   what="a new spare") and b.spare()
    assert new != spare and alive(new)


def test_a_crashed_worker_is_replaced_by_the_spare(chat):
    b = chat.bridge
    spare = wait_for(b.spare, timeout=10, what="a spare worker")
    old = b.workers()["mattermost:a"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: b.workers().get("mattermost:a") == spare, timeout=10,
             what="the spare serving bot a")
    # The DM has no cursor yet (docs/architecture.md, "Catch-up after a
    # restart"): post once the new generation is connected.
    wait_for(lambda: b.status().get("mattermost:a", {}).get("state") ==
             "active", timeout=10, what="bot a active again")
    chat.roundtrip("after the crash")
    m = re.search(r"mattermost:a g2 pid (\d+) ready in (\d+) ms", b.log())
    assert m and int(m.group(1)) == spare, b.log()[-3000:]


def test_a_dead_spare_is_started_again_and_no_bot_notices(chat):
    b = chat.bridge
    spare = wait_for(b.spare, timeout=10, what="a spare worker")
    before = b.workers()
    os.kill(spare, signal.SIGKILL)
    wait_for(lambda: b.spare() not in (None, spare), timeout=10,
             what="a new spare")
    assert b.workers() == before
    assert f"spare worker pid {spare} exited" in b.log()
    st = b.status()["mattermost:a"]
    assert st["gen"] == "1" and st["state"] == "active", st
    chat.roundtrip("still here")


def test_a_spare_of_a_replaced_binary_is_not_adopted(chat_factory, tmp_path):
    bindir = copy_bin(tmp_path)
    c = chat_factory(bindir=str(bindir))
    b = c.bridge
    spare = wait_for(b.spare, timeout=10, what="a spare worker")
    # A new binary (same code, other bytes: the digest changes).
    new = bindir / ".worker.new"
    new.write_bytes((bindir / "copilot-bridge-worker").read_bytes() + b"\0")
    new.chmod(0o755)
    os.rename(new, bindir / "copilot-bridge-worker")
    r = b.ctl("reload-bot", "mattermost:a", timeout=30)
    assert r.returncode == 0, r.stderr
    assert b.workers()["mattermost:a"] != spare
    assert f"spare pid {spare} runs a replaced binary" in b.log()
    wait_for(lambda: not alive(spare), timeout=10, what="the stale spare gone")
    c.roundtrip("on the new binary")
