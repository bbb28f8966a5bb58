"""The config's and the workspace's watchers polling where inotify cannot
see (the `watch` key): forced with "poll", one reload per save, switched
live; and "auto" in a private mount namespace, where a bind mount is seen
by inotify and an overlay (changed in its upper layer from outside the
namespace, which inotify never hears of) is polled."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from bridge import Bridge, wait_for

# Interval (1 s) + the fast polls after a change (10 x 100 ms) + the
# debounce (500 ms): after this long with no further save nothing more may
# come of one.
SETTLE = 3.0


def inotify_fds(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
        except OSError:
            continue
    return n


def inotify_watches(pid):
    """Watches held by pid's inotify descriptors (/proc/PID/fdinfo)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                n += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            continue
    return n


def hooks_file(n):
    """A hooks.json of n harmless preToolUse hooks."""
    return json.dumps({"version": 1, "hooks": {"preToolUse": [
        {"type": "command", "bash": "true"}] * n}}, indent=2)


def rename_save(path, text):
    tmp = path.with_name("." + path.name + ".swp")
    tmp.write_text(text)
    os.rename(tmp, path)


def file_reloads(b):
    return b.log().count("Config reloaded (file watch)")


def hook_reloads(b):
    return len(re.findall(r"hooks reloaded \(file saved\)",
                          b.log("sessiond.log")))


def echo_chat(bridge_factory, tmp_path, monkeypatch, ws, extra):
    """A bot "a" answering with the echo backend in town-square, working in
    ws (whose hooks.json it loads), with extra top-level config keys."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    b = bridge_factory(bots=("a",), start=False)
    fake = bridge_factory.fake
    chan = fake.channel("town-square")["id"]
    b.config["channels"][0].update(id=chan, triggerMode="all",
                                   workingDirectory=str(ws))
    b.config["defaults"] = {"allowWorkspaceHooks": True}
    b.config.update(extra)
    b.write_config(b.config)
    return b, fake, chan


def open_session(fake, chan):
    bot = fake.user("a")["id"]
    fake.post("alice", chan, "open the session")
    wait_for(lambda: any(p["user_id"] == bot and p["message"] ==
                         "open the session" for p in fake.control(
                             "GET", f"/channels/{chan}/posts")["posts"]),
             timeout=10, what="the echo")


def test_poll_forced_one_reload_per_save_and_hooks(bridge_factory, tmp_path,
                                                   monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    hooks = ws / "hooks.json"
    hooks.write_text(hooks_file(1))
    b, fake, chan = echo_chat(bridge_factory, tmp_path, monkeypatch, ws,
                              {"watch": "poll"})
    b.start()
    b.wait_log(r'config watch: polling every 1000 ms \(watch is "poll"\)')
    b.wait_log(r'workspace watch: polling every 1000 ms \(watch is "poll"\)',
               name="sessiond.log")
    # Polled, not watched: the supervisor holds no inotify descriptor.
    assert inotify_fds(b.root_pid()) == 0
    open_session(fake, chan)
    b.wait_log(r"workspace watch: polling \S+/ws every 1000 ms",
               name="sessiond.log")
    sd = b.sessiond()
    assert inotify_watches(sd) == 0

    # Three quick rename-saves of the config: one reload, the last in force.
    before = file_reloads(b)
    cfg = b.config
    for mode in ("mention", "all", "mention"):
        cfg["channels"][0]["triggerMode"] = mode
        b.write_config(cfg)
        time.sleep(0.05)
    wait_for(lambda: file_reloads(b) == before + 1, timeout=10,
             what="the reload of the saves")
    time.sleep(SETTLE)
    assert file_reloads(b) == before + 1
    assert 'triggerMode changed' in b.log()

    # A save written in place (same inode), then one renamed over: each
    # is one reload.
    for i, how in enumerate(("in place", "rename")):
        before = file_reloads(b)
        cfg["channels"][0]["triggerMode"] = "all" if i == 0 else "mention"
        if how == "in place":
            b.cfgpath.write_text(json.dumps(cfg, indent=2))
        else:
            b.write_config(cfg)
        wait_for(lambda: file_reloads(b) == before + 1, timeout=10,
                 what=f"the reload of the save {how}")
        time.sleep(SETTLE)
        assert file_reloads(b) == before + 1, how

    # The hooks file: a save is one reload, to the new set.
    base = hook_reloads(b)
    rename_save(hooks, hooks_file(2))
    wait_for(lambda: hook_reloads(b) == base + 1, timeout=10,
             what="the hooks reload")
    time.sleep(SETTLE)
    assert hook_reloads(b) == base + 1
    assert re.search(r"hooks reloaded \(file saved\): 2 from 1 file",
                     b.log("sessiond.log"))
    assert b.sessiond() == sd


def test_watch_changes_live(bridge_factory, tmp_path, monkeypatch):
    """poll -> inotify -> poll by saves of the file itself: each watcher is
    re-armed, and a save after each switch is still seen."""
    ws = tmp_path / "ws"
    ws.mkdir()
    hooks = ws / "hooks.json"
    hooks.write_text(hooks_file(1))
    b, fake, chan = echo_chat(bridge_factory, tmp_path, monkeypatch, ws,
                              {"watch": "poll", "watchIntervalMs": 200})
    b.start()
    b.wait_log(r'config watch: polling every 200 ms \(watch is "poll"\)')
    open_session(fake, chan)
    sd = b.sessiond()
    cfg = b.config

    cfg["watch"] = "inotify"
    b.write_config(cfg)
    b.wait_log(r'✓ watch: "poll" → "inotify"', timeout=10)
    b.wait_log(r'config watch: inotify \(watch is "inotify"\)')
    b.wait_log(r'workspace watch: inotify \(watch is "inotify"\)',
               name="sessiond.log")
    wait_for(lambda: inotify_watches(sd) > 0, what="sessiond's inotify watch")
    assert inotify_fds(b.root_pid()) == 1
    base = hook_reloads(b)
    rename_save(hooks, hooks_file(3))
    wait_for(lambda: hook_reloads(b) == base + 1, timeout=10,
             what="the hooks reload under inotify")

    cfg["watch"] = "poll"
    cfg["watchIntervalMs"] = 300
    b.write_config(cfg)
    b.wait_log(r'✓ watchIntervalMs: 200 → 300', timeout=10)
    b.wait_log(r'config watch: polling every 300 ms \(watch is "poll"\)')
    wait_for(lambda: inotify_watches(sd) == 0 and
             inotify_fds(b.root_pid()) == 0, what="inotify dropped")
    base = hook_reloads(b)
    rename_save(hooks, hooks_file(1))
    wait_for(lambda: hook_reloads(b) == base + 1, timeout=10,
             what="the hooks reload polled again")
    before = file_reloads(b)
    cfg["channels"][0]["triggerMode"] = "mention"
    b.write_config(cfg)
    wait_for(lambda: file_reloads(b) == before + 1, timeout=10,
             what="a config save polled again")
    assert b.sessiond() == sd


# -------------------------------------------------- private mount namespace

def _can_mount_overlay(tmp):
    """None if unshare + an overlay mount work here, else why not."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare(1)"
    for d in ("l", "u", "w", "m"):
        (tmp / d).mkdir(parents=True)
    r = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "mount", "-t",
         "overlay", "overlay", "-o", f"lowerdir={tmp}/l,upperdir={tmp}/u,"
         f"workdir={tmp}/w", str(tmp / "m")], capture_output=True, text=True,
        timeout=30)
    if r.returncode != 0:
        return f"cannot mount an overlay in a private namespace: {r.stderr.strip()}"
    return None


class NsBridge(Bridge):
    """The supervisor in a private mount namespace (unshare --mount) that
    first runs `mount_sh`; it reads its config at `inside`, which is the
    file `outside` seen from here (where the test writes, in place)."""

    def __init__(self, tmp, config, mount_sh, inside, outside):
        self.mount_sh, self.inside = mount_sh, inside
        super().__init__(tmp, config)
        self.cfgpath = outside          # ctl reads it from out here
        self.write_config(config)

    def write_config(self, config, raw=None):
        """In place (same inode), as a host's editor writing a mounted
        file does: an overlay cannot see a file renamed into its layer."""
        self.config = config
        text = raw if raw is not None else json.dumps(config, indent=2)
        with open(self.cfgpath, "r+" if self.cfgpath.exists() else "w") as f:
            f.write(text)
            f.truncate()

    def start(self, wait_ready=True):
        self.stderr = open(self.tmp / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             self.mount_sh + ' && exec "$0" run -c "$1"',
             os.path.join(self.bindir, "copilot-bridge"), str(self.inside)],
            stdout=self.stderr, stderr=self.stderr, stdin=subprocess.DEVNULL)
        if wait_ready:
            wait_for(lambda: self.count_state("active") == 2, timeout=15,
                     what="sessiond and the worker active")
        return self


def ns_bridge(bridge_factory, tmp_path, monkeypatch, kind, extra=None):
    """A bridge whose config and workspace are under a mount made in its
    own namespace: kind "bind" (a bind mount of a directory of this file
    system) or "overlay" (whose upper layer we change from out here)."""
    probe = _can_mount_overlay(tmp_path / "probe")
    if probe is not None:
        pytest.skip(probe)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ov = tmp_path / "ov"
    for d in ("lower", "upper", "work", "merged"):
        (ov / d).mkdir(parents=True)
    src = ov / "upper"                       # what we change from outside
    inside = ov / "merged"                   # the mount, seen only inside
    if kind == "bind":
        mount_sh = f"mount --bind '{src}' '{inside}'"
    else:
        mount_sh = (f"mount -t overlay overlay -o lowerdir='{ov}/lower',"
                    f"upperdir='{src}',workdir='{ov}/work' '{inside}'")
    (src / "ws").mkdir()
    (src / "ws" / "hooks.json").write_text(hooks_file(1))
    proto = bridge_factory(bots=("a",), start=False)   # the fake, a config
    fake = bridge_factory.fake
    chan = fake.channel("town-square")["id"]
    cfg = proto.config
    cfg["channels"][0].update(id=chan, triggerMode="all",
                              workingDirectory=str(inside / "ws"))
    cfg["defaults"] = {"allowWorkspaceHooks": True}
    cfg.update(extra or {})
    b = NsBridge(tmp_path, cfg, mount_sh, inside / "config.json",
                 src / "config.json")
    return b, fake, chan, src


@pytest.fixture
def ns(bridge_factory):
    made = []

    def make(*a, **kw):
        r = ns_bridge(bridge_factory, *a, **kw)
        made.append(r[0])
        r[0].start()
        return r
    yield make
    for b in made:
        b.stop()


def test_auto_in_a_bind_mount_is_inotify_and_sees_outside_changes(
        ns, tmp_path, monkeypatch):
    """A bind mount shares the inodes of its source: inotify hears a change
    made outside the namespace, so auto keeps inotify there."""
    b, fake, chan, src = ns(tmp_path, monkeypatch, "bind")
    b.wait_log(r"config watch: inotify \(local file system\)")
    assert inotify_fds(b.root_pid()) == 1
    open_session(fake, chan)
    before = file_reloads(b)
    b.config["channels"][0]["triggerMode"] = "mention"
    b.write_config(b.config)
    wait_for(lambda: file_reloads(b) == before + 1, timeout=10,
             what="the reload of a change made outside the namespace")
    base = hook_reloads(b)
    rename_save(src / "ws" / "hooks.json", hooks_file(2))
    wait_for(lambda: hook_reloads(b) == base + 1, timeout=10,
             what="the hooks reload of a change made outside")
    assert "workspace watch: polling /" not in b.log("sessiond.log")


def test_auto_in_an_overlay_polls_and_sees_outside_changes(
        ns, tmp_path, monkeypatch):
    """An overlay is told nothing of a change made in its upper layer
    outside the mount: auto polls there, and the change is applied once."""
    b, fake, chan, src = ns(tmp_path, monkeypatch, "overlay")
    b.wait_log(r"config watch: polling every 1000 ms \(overlay file system\)")
    assert inotify_fds(b.root_pid()) == 0
    open_session(fake, chan)
    b.wait_log(r"workspace watch: polling \S+/merged/ws every 1000 ms "
               r"\(overlay file system\)", name="sessiond.log")
    before = file_reloads(b)
    b.config["channels"][0]["triggerMode"] = "mention"
    b.write_config(b.config)
    wait_for(lambda: file_reloads(b) == before + 1, timeout=10,
             what="the reload of a change made outside the namespace")
    time.sleep(SETTLE)
    assert file_reloads(b) == before + 1
    assert "triggerMode changed" in b.log()
    base = hook_reloads(b)
    hooks = src / "ws" / "hooks.json"
    with open(hooks, "r+") as f:            # in place, as for the config
        f.write(hooks_file(2))
        f.truncate()
    wait_for(lambda: hook_reloads(b) == base + 1, timeout=10,
             what="the hooks reload of a change made outside")
    time.sleep(SETTLE)
    assert hook_reloads(b) == base + 1


def test_inotify_forced_in_an_overlay_misses_outside_changes(
        ns, tmp_path, monkeypatch):
    """Why auto polls an overlay: with inotify forced, the same change made
    outside is not seen by the watcher (SIGHUP still applies it)."""
    b, fake, chan, src = ns(tmp_path, monkeypatch, "overlay",
                            {"watch": "inotify"})
    b.wait_log(r'config watch: inotify \(watch is "inotify"\)')
    before = file_reloads(b)
    b.config["channels"][0]["triggerMode"] = "mention"
    b.write_config(b.config)
    time.sleep(SETTLE)
    assert file_reloads(b) == before
    b.signal(signal.SIGHUP)
    b.wait_log(r"Config reloaded \(SIGHUP\)", timeout=10)
    assert "triggerMode changed" in b.log()
