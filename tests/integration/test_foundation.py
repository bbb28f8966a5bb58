"""The process tree, crash restarts, reload triggers and shutdown, driven
through the real binaries (issue: foundation)."""

import json
import os
import signal
import socket
import stat
import subprocess
import time

from bridge import (BIN, alive, base_config, copy_bin, pidfd_getfd,
                    seqpacket_fds, wait_for)


def test_three_bots_one_sessiond_three_workers(bridge):
    kids = bridge.children()
    names = sorted(os.path.basename(a[0]).decode() for a in kids.values())
    assert names == ["copilot-bridge-sessiond"] + ["copilot-bridge-worker"] * 3
    st = bridge.status()
    assert set(st) == {"sessiond", "mattermost:a", "mattermost:b", "mattermost:c"}
    assert all(r["state"] == "active" for r in st.values()), st
    assert {int(st[k]["pid"]) for k in st if k != "sessiond"} == \
        set(bridge.workers().values())
    for k in ("a", "b", "c"):
        assert (bridge.logdir / f"worker-mattermost-{k}.log").exists()
    assert "READY" not in bridge.log("sessiond.log") or True
    # secrets never in argv or in a child's environment
    for pid, argv in kids.items():
        assert not any(b"tok-" in a for a in argv)
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert b"tok-" not in f.read()


def test_control_socket_is_private(bridge):
    path = bridge.tmp / "state" / "control.sock"
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_kill_9_worker_is_restarted_others_untouched(bridge):
    before = bridge.workers()
    sess = bridge.sessiond()
    os.kill(before["mattermost:b"], signal.SIGKILL)

    def restarted():
        st = bridge.status().get("mattermost:b", {})
        return st.get("state") == "active" and st.get("gen") == "2" and st
    st = wait_for(restarted, timeout=8, what="mattermost:b restarted as g2")
    after = bridge.workers()
    assert after["mattermost:b"] != before["mattermost:b"]
    assert int(st["pid"]) == after["mattermost:b"]
    assert st["restarts"] == "1"
    assert after["mattermost:a"] == before["mattermost:a"]
    assert after["mattermost:c"] == before["mattermost:c"]
    assert bridge.sessiond() == sess
    assert "exited unexpectedly" in bridge.log()


def test_worker_that_always_exits_ends_failed(bridge_factory, tmp_path):
    bindir = copy_bin(tmp_path)
    worker = bindir / "copilot-bridge-worker"
    worker.unlink()
    worker.write_text("#!/bin/sh\nexit 3\n")
    worker.chmod(0o755)
    b = bridge_factory(config=base_config(tmp_path, bots=("a",)),
                       bindir=str(bindir), start=False)
    b.start(wait_ready=False)
    # 1 + 2 + 4 + 8 s of backoff (+-20%) between the five crashes
    wait_for(lambda: b.status().get("mattermost:a", {}).get("state") == "FAILED",
             timeout=30, step=0.2, what="mattermost:a FAILED")
    assert b.status()["mattermost:a"]["restarts"] == "5"
    assert "FAILED: 5 crashes within 10 minutes" in b.log()
    n = b.log().count("spawned mattermost:a")
    time.sleep(1.5)
    assert b.log().count("spawned mattermost:a") == n  # no more restarts
    assert b.status()["sessiond"]["state"] == "active"


def test_sighup_applies_trigger_mode_without_restarts(bridge):
    pids = dict(bridge.children())
    cfg = bridge.config
    cfg["channels"][0]["triggerMode"] = "all"
    bridge.write_config(cfg)
    t0 = time.monotonic()
    bridge.signal(signal.SIGHUP)
    bridge.wait_log(r'✓ channel "ch1": triggerMode changed', timeout=1)
    assert time.monotonic() - t0 < 1.0
    bridge.wait_log(r"config updated", name="sessiond.log", timeout=1)
    assert dict(bridge.children()) == pids


def test_sighup_token_change_is_bot_reload_needed(bridge):
    pids = dict(bridge.children())
    cfg = bridge.config
    cfg["platforms"]["mattermost"]["bots"]["b"]["token"] = "tok-rotated-99999"
    bridge.write_config(cfg)
    bridge.signal(signal.SIGHUP)
    bridge.wait_log(r'⚠ botReloadNeeded: bot "mattermost:b": token changed')
    bridge.wait_log(r"run /reload bot mattermost:b")
    log = bridge.log()
    assert "restartNeeded: " not in log.replace("0 restartNeeded", "")
    assert "tok-rotated" not in bridge.all_logs()
    time.sleep(0.3)
    assert dict(bridge.children()) == pids


def test_sighup_broken_json_keeps_config(bridge):
    pids = dict(bridge.children())
    good = json.loads(json.dumps(bridge.config))
    bridge.write_config(None, raw='{\n  "platforms": {\n    "mattermost": ,\n}\n')
    bridge.signal(signal.SIGHUP)
    m = bridge.wait_log(r"Config reload failed \(SIGHUP\): .*config\.json:(\d+):(\d+): .* — keeping existing config")
    assert m.group(1) == "3"
    assert dict(bridge.children()) == pids
    # a later valid config applies
    cfg = good
    cfg["channels"][0]["verbose"] = True
    bridge.write_config(cfg)
    bridge.signal(signal.SIGHUP)
    bridge.wait_log(r'✓ channel "ch1": verbose changed')
    assert dict(bridge.children()) == pids


def test_rename_save_triggers_exactly_one_reload(bridge):
    before = bridge.log().count("Config reloaded (file watch)")
    cfg = bridge.config
    for mode in ("all", "mention", "all"):     # three quick saves
        cfg["channels"][0]["triggerMode"] = mode
        bridge.write_config(cfg)
        time.sleep(0.05)
    bridge.wait_log(r"Config reloaded \(file watch\)", timeout=3)
    time.sleep(1.0)
    assert bridge.log().count("Config reloaded (file watch)") == before + 1


def test_ctl_reload_prints_result(bridge):
    r = bridge.ctl("reload")
    assert r.returncode == 0 and "no changes detected" in r.stdout
    cfg = bridge.config
    cfg["channels"][0]["triggerMode"] = "all"
    cfg["platforms"]["mattermost"]["url"] = "http://127.0.0.1:10"
    bridge.write_config(cfg)
    r = bridge.ctl("reload")
    assert r.returncode == 0, r.stderr
    assert "**Applied:**" in r.stdout and "triggerMode" in r.stdout
    assert "/reload bot mattermost:a" in r.stdout
    # An invalid file still names its socket: the bridge reports the error.
    cfg["platforms"]["mattermost"]["url"] = ""
    bridge.write_config(cfg)
    r = bridge.ctl("reload")
    assert r.returncode == 1
    assert '❌ Config reload failed: Platform "mattermost" missing "url"' in r.stderr
    # A file that is not even JSON cannot name it: -s reaches the bridge.
    bridge.write_config(None, raw="{")
    r = subprocess.run([os.path.join(BIN, "copilot-bridge"), "ctl", "-s",
                        str(bridge.tmp / "state" / "control.sock"), "reload"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stdout
    assert "❌ Config reload failed" in r.stderr and "config.json:1:" in r.stderr
    assert "Existing config is unchanged." in r.stderr


def test_run_check(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(base_config(tmp_path)))
    r = subprocess.run([os.path.join(BIN, "copilot-bridge"), "run", "--check",
                        "-c", str(good)], capture_output=True, text=True)
    assert r.returncode == 0 and "successful" in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"platforms": {"mattermost": {"bots": {}}}}')
    r = subprocess.run([os.path.join(BIN, "copilot-bridge"), "run", "--check",
                        "-c", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert 'Platform "mattermost" missing "url"' in r.stderr


def test_sigterm_stops_everything(bridge):
    kids = list(bridge.children())
    t0 = time.monotonic()
    bridge.signal(signal.SIGTERM)
    bridge.proc.wait(10)
    assert time.monotonic() - t0 < 7
    assert bridge.proc.returncode == 0
    assert not any(alive(k) for k in kids)
    assert not (bridge.tmp / "state" / "control.sock").exists()


def test_sigusr1_reopens_logs(bridge):
    log = bridge.logdir / "supervisor.log"
    wlog = bridge.logdir / "worker-mattermost-a.log"
    os.rename(log, str(log) + ".1")
    os.rename(wlog, str(wlog) + ".1")
    bridge.signal(signal.SIGUSR1)
    wait_for(lambda: log.exists() and wlog.exists(), what="logs reopened")
    r = bridge.ctl("reopen-logs")
    assert r.returncode == 0


def test_garbage_on_a_link_is_rejected_and_sessiond_survives(bridge):
    sess = bridge.sessiond()
    wpid = bridge.workers()["mattermost:a"]
    links = seqpacket_fds(wpid)
    assert len(links) == 1, links
    fd = pidfd_getfd(wpid, links[0])
    s = socket.socket(fileno=fd)
    try:
        s.send(b"\x01\x00\x00\x00garbage!garbage!")
    finally:
        s.close()
    bridge.wait_log(r"rejected: .*closing the channel", name="sessiond.log")
    bridge.wait_log(r"mattermost:a g1 asks for a new sessiond link")
    wait_for(lambda: bridge.log("sessiond.log").count("linked to mattermost:a g1") >= 2,
             what="relinked")
    assert bridge.sessiond() == sess and alive(sess)
    assert bridge.workers()["mattermost:a"] == wpid
    assert bridge.status()["mattermost:a"]["state"] == "active"


def notified_bridge(bridge_factory, tmp_path):
    """A bridge started under a notify socket of ours, as systemd would:
    (bridge, the socket, a function returning the next datagram)."""
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    os.environ["NOTIFY_SOCKET"] = path
    try:
        b = bridge_factory()
    finally:
        del os.environ["NOTIFY_SOCKET"]
    return b, s, lambda: s.recv(65536).decode()


def test_sd_notify_protocol(bridge_factory, tmp_path):
    """READY=1 at start, RELOADING=1 with MONOTONIC_USEC then READY=1 on a
    reload, STOPPING=1 on SIGTERM, as systemd's Type=notify expects."""
    b, s, recv = notified_bridge(bridge_factory, tmp_path)
    assert recv().startswith("READY=1")
    b.signal(signal.SIGHUP)
    msg = recv()
    assert msg.startswith("RELOADING=1\nMONOTONIC_USEC=")
    usec = int(msg.split("MONOTONIC_USEC=")[1].split("\n")[0])
    assert abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 5
    assert recv().startswith("READY=1")
    # children never talk to systemd
    for pid in b.children():
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert b"NOTIFY_SOCKET" not in f.read()
    b.signal(signal.SIGTERM)
    assert recv().startswith("STOPPING=1")
    s.close()


def test_sd_notify_ready_after_a_long_config_error(bridge_factory, tmp_path):
    """A config error of 4 KiB (multi-byte text) on `ctl reload`: systemd
    still sees RELOADING=1 and then READY=1, so the unit is never left
    "reloading"; ctl gets the whole error."""
    b, s, recv = notified_bridge(bridge_factory, tmp_path)
    assert recv().startswith("READY=1")
    name = "é" * 2048

    def reload_pair(ready):
        msg = recv()
        assert msg.startswith("RELOADING=1\nMONOTONIC_USEC="), msg[:80]
        msg = recv()
        assert msg.startswith("READY=1\nSTATUS=" + ready), msg[:80]
        status = msg.split("\nSTATUS=", 1)[1]
        assert "\n" not in status and len(status.encode()) <= 1024
    cfg = json.loads(json.dumps(b.config))
    cfg["channels"][0]["platform"] = name
    b.write_config(cfg)
    # The file watcher's reload first, then ours.
    b.wait_log(r"Config reload failed \(file watch\)")
    reload_pair("config reload failed: ")
    r = b.ctl("reload")
    assert r.returncode == 1
    assert f'references unknown platform "{name}"' in r.stderr
    reload_pair("config reload failed: Channel ")
    # The running config stays, and a good file reloads as before.
    cfg["channels"][0]["platform"] = "mattermost"
    b.write_config(cfg)
    b.wait_log(r"Config reloaded \(file watch\)|no effective differences")
    reload_pair("running, config ")
    s.close()


def test_auto_reload_bots_swaps_only_the_changed_bot(bridge_factory, tmp_path):
    b = bridge_factory(start=False)
    cfg = b.config
    cfg["autoReloadBots"] = True
    b.write_config(cfg)
    b.start()
    bridge_factory.fake.control("POST", "/tokens", {"user": "c",
                                                    "token": "tok-c-rotated-000"})
    before = b.workers()
    sess = b.sessiond()
    cfg["platforms"]["mattermost"]["bots"]["c"]["token"] = "tok-c-rotated-000"
    b.write_config(cfg)
    b.signal(signal.SIGHUP)
    b.wait_log(r"swap: bot=mattermost:c by=autoReloadBots reason=token "
               r"outcome=ok gen=1->2")
    after = b.workers()
    assert after["mattermost:c"] != before["mattermost:c"]
    # The swap ends once the old generation has drained; its exit follows.
    wait_for(lambda: not alive(before["mattermost:c"]), timeout=10,
             what="the old generation gone")
    assert after["mattermost:a"] == before["mattermost:a"]
    assert after["mattermost:b"] == before["mattermost:b"]
    assert b.sessiond() == sess
    assert b.status()["mattermost:c"]["gen"] == "2"
    # the new generation is the one sessiond routes to
    b.wait_log(r"route mattermost:c -> g2 \(was g1\)", name="sessiond.log")


def test_ctl_reload_bot_and_unknown_bot(bridge):
    before = bridge.workers()
    r = bridge.ctl("reload-bot", "mattermost:b")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("✅ Reloaded mattermost:b in ")
    after = bridge.workers()
    assert after["mattermost:b"] != before["mattermost:b"]
    assert after["mattermost:a"] == before["mattermost:a"]
    r = bridge.ctl("reload-bot", "mattermost:zzz")
    assert r.returncode == 1 and 'No bot named "mattermost:zzz"' in r.stderr
