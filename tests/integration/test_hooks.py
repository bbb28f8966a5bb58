"""hooks.json run by sessiond for the REAL Copilot runtime's hooks.invoke:
/reload hooks and the watcher swap them on a live session (SC-002,
SC-009); broken files, slow and garbage hooks; no watch leaks."""

import json
import os
import re
import signal
import time

import pytest

from bridge import FakeMM, alive, fake_mm_seed, mm_config, wait_for
from llm import RUNTIME, copilot_chat

runtime = pytest.mark.skipif(not os.path.exists(RUNTIME),
                             reason="the Copilot runtime is not installed (make deps)")

DENY = {"permissionDecision": "deny", "permissionDecisionReason": "blocked-by-hook"}
ALLOW = {"permissionDecision": "allow"}


def hooks_file(decision=None, commands=None):
    """A hooks.json whose one preToolUse hook prints decision."""
    if commands is None:
        commands = [{"type": "command", "bash": f"echo '{json.dumps(decision)}'"}]
    return json.dumps({"version": 1, "hooks": {"preToolUse": commands}}, indent=2)


def save(path, text):
    """Save as editors do: a new file renamed over the old."""
    tmp = path.with_name(".hooks.json.swp")
    tmp.write_text(text)
    os.rename(tmp, path)


@pytest.fixture
def hchat(bridge_factory, tmp_path, monkeypatch):
    """A chat whose channel works in a workspace with a hooks.json that
    denies every tool, workspace hooks allowed."""
    ws = tmp_path / "ws"
    (ws / ".github" / "hooks").mkdir(parents=True)
    hooks = ws / ".github" / "hooks" / "hooks.json"
    hooks.write_text(hooks_file(DENY))

    def tweak(cfg, c):
        cfg["channels"][0]["workingDirectory"] = str(ws)
        cfg["defaults"]["allowWorkspaceHooks"] = True
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    c.ws, c.hooks = ws, hooks
    c.llm.script([{"match": "run", "bash": "echo ran-marker"},
                  {"when": "tool", "reply": "Tool output: {tool_result}"}])
    yield c
    c.close()


def answers(chat):
    return [p["message"] for p in chat.bot_posts() if p["message"].startswith("Tool output:")]


def ask_tool(chat, text, n):
    """Say text and return the n-th "Tool output:" answer (1-based)."""
    chat.say(text)
    wait_for(lambda: len(answers(chat)) >= n, timeout=60, step=0.1,
             what=f"answer {n}")
    return answers(chat)[n - 1]


def prompts_seen(chat):
    """Every user text of the last LLM request: the session's context."""
    last = chat.llm.requests()[-1]
    return " ".join(m["content"] if isinstance(m["content"], str) else
                    " ".join(p.get("text", "") for p in m["content"])
                    for m in last["messages"] if m.get("role") == "user")


def reloads(chat, why):
    return len(re.findall(rf"hooks reloaded \({re.escape(why)}\)",
                          chat.bridge.log("sessiond.log")))


@runtime
def test_reload_hooks_turns_a_deny_into_an_allow(hchat):
    first = ask_tool(hchat, "run the first command", 1)
    assert "blocked-by-hook" in first and "ran-marker" not in first, first
    sid = hchat.session_id()
    hchat.hooks.write_text(hooks_file(ALLOW))      # in place: no rename
    hchat.say("/reload hooks")
    hchat.wait_text(lambda t: t == "✅ Hooks reloaded: 1 hook from 1 file")
    second = ask_tool(hchat, "run the second command", 2)
    assert "ran-marker" in second, second
    # The same session, with its earlier turns in the model's context.
    assert hchat.session_id() == sid
    seen = prompts_seen(hchat)
    assert "run the first command" in seen and "run the second command" in seen
    assert not any("Permission Required" in p["message"] for p in hchat.bot_posts())


@runtime
def test_a_save_reloads_within_two_seconds_and_a_burst_reloads_once(hchat):
    assert "blocked-by-hook" in ask_tool(hchat, "run it", 1)
    base = reloads(hchat, "file saved")
    t0 = time.monotonic()
    save(hchat.hooks, hooks_file(ALLOW))
    wait_for(lambda: reloads(hchat, "file saved") == base + 1, timeout=2,
             step=0.02, what="a reload within 2 s of the save")
    assert time.monotonic() - t0 < 2.0
    assert "ran-marker" in ask_tool(hchat, "run it again", 2)
    # Five saves within 300 ms: one reload, after the burst.
    time.sleep(1.0)
    base = reloads(hchat, "file saved")
    for i in range(5):
        save(hchat.hooks, hooks_file(DENY if i % 2 == 0 else ALLOW))
        time.sleep(0.06)
    wait_for(lambda: reloads(hchat, "file saved") == base + 1, timeout=3,
             what="the reload after the burst")
    time.sleep(1.5)
    assert reloads(hchat, "file saved") == base + 1
    # The last save (a deny) is the one in force.
    assert "blocked-by-hook" in ask_tool(hchat, "run it a third time", 3)
    assert not any(p["message"].startswith("✅ Hooks reloaded")
                   for p in hchat.bot_posts())      # silent by default


@runtime
@runtime
def test_a_runtime_without_reload_plugin_hooks_gets_a_resume(
        bridge_factory, tmp_path, monkeypatch):
    """sessions.reloadPluginHooks unknown (an older runtime): the live
    session is re-attached with session.resume; same id, same context."""
    ws = tmp_path / "ws"
    ws.mkdir()
    hooks = ws / "hooks.json"
    hooks.write_text(hooks_file(DENY))
    log = tmp_path / "older-runtime.log"
    monkeypatch.setenv("OLDER_RUNTIME_REAL", RUNTIME)
    monkeypatch.setenv("OLDER_RUNTIME_LOG", str(log))

    def tweak(cfg, c):
        cfg["channels"][0]["workingDirectory"] = str(ws)
        cfg["defaults"]["allowWorkspaceHooks"] = True
        cfg["session"]["runtimePath"] = os.path.join(
            os.path.dirname(__file__), "..", "fakes", "older_runtime.py")
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    try:
        chat.llm.script([{"match": "run", "bash": "echo ran-marker"},
                         {"when": "tool", "reply": "Tool output: {tool_result}"}])
        assert "blocked-by-hook" in ask_tool(chat, "run the first command", 1)
        sid = chat.session_id()
        resumes = log.read_text().count("passed session.resume")
        hooks.write_text(hooks_file(ALLOW))
        chat.say("/reload hooks")
        chat.wait_text(lambda t: t == "✅ Hooks reloaded: 1 hook from 1 file")
        chat.bridge.wait_log(r"has no sessions.reloadPluginHooks; re-attaching "
                             r"session " + sid, name="sessiond.log", timeout=10)
        wait_for(lambda: log.read_text().count("passed session.resume") > resumes,
                 timeout=10, what="session.resume sent on")
        assert "answered sessions.reloadPluginHooks" in log.read_text()
        assert "ran-marker" in ask_tool(chat, "run the second command", 2)
        assert chat.session_id() == sid
        assert "run the first command" in prompts_seen(chat)
    finally:
        chat.close()


def test_a_malformed_file_keeps_the_previous_hooks(hchat):
    assert "blocked-by-hook" in ask_tool(hchat, "run it", 1)
    bad = '{\n  "version": 1,\n  "hooks": { "preToolUse": [ }\n}\n'
    hchat.hooks.write_text(bad)
    hchat.say("/reload hooks")
    post = hchat.wait_text(lambda t: t.startswith("❌"))
    assert re.search(r"hooks\.json:3:\d+: .* — previous hooks kept$", post["message"]), \
        post["message"]
    # The watcher saw it too, and said the same in the log, not in chat.
    hchat.bridge.wait_log(r"hooks not reloaded \(file saved\): .*hooks\.json:3:\d+",
                          name="sessiond.log", timeout=5)
    assert "blocked-by-hook" in ask_tool(hchat, "run it again", 2)


@runtime
def test_a_slow_hook_is_killed_and_garbage_is_ignored(hchat):
    pidfile = hchat.ws / "hook.pid"
    save(hchat.hooks, hooks_file(commands=[
        {"type": "command", "bash": f"echo $$ > {pidfile}; sleep 30", "timeoutSec": 1},
        {"type": "command", "bash": "echo 'this is not json'"},
    ]))
    hchat.say("/reload hooks")
    hchat.wait_text(lambda t: t == "✅ Hooks reloaded: 2 hooks from 1 file")
    t0 = time.monotonic()
    hchat.say("run it")
    # No decision from the hooks: the runtime's own permission prompt follows.
    hchat.wait_text(lambda t: "Permission Required" in t and "ran-marker" in t,
                    timeout=30)
    assert time.monotonic() - t0 < 20
    log = hchat.bridge.log("sessiond.log")
    assert "Hook command timed out after 1s" in log
    assert "this is not json" not in log or "not a JSON object" in log
    assert re.search(r"(?i)not a JSON object|not JSON", log), log[-3000:]
    pid = int(pidfile.read_text())
    wait_for(lambda: not alive(pid), timeout=5, what="the timed-out hook gone")
    hchat.say("/approve")
    wait_for(lambda: answers(hchat), timeout=30, what="the answer")
    assert "ran-marker" in answers(hchat)[0]


@runtime
def test_ask_becomes_a_chat_prompt(hchat):
    save(hchat.hooks, hooks_file({"permissionDecision": "ask",
                                  "permissionDecisionReason": "check-this-one"}))
    hchat.say("/reload hooks")
    hchat.wait_text(lambda t: t.startswith("✅ Hooks reloaded"))
    hchat.say("run it")
    hchat.wait_text(lambda t: "Permission Required" in t and "Tool: **bash**" in t
                    and "check-this-one" in t)
    hchat.say("/approve")
    wait_for(lambda: answers(hchat), timeout=30, what="the answer")
    assert "ran-marker" in answers(hchat)[0]


def test_no_workspace_is_a_clear_error(bridge_factory, tmp_path):
    b = bridge_factory(bots=("a",), start=False)
    fake = bridge_factory.fake
    chan = fake.channel("town-square")["id"]
    b.config["channels"][0].update(id=chan, triggerMode="all",
                                   workingDirectory=str(tmp_path / "missing"))
    b.write_config(b.config)
    b.start()
    bot = fake.user("a")["id"]
    fake.post("alice", chan, "/reload hooks")
    post = wait_for(lambda: next((p for p in fake.control(
        "GET", f"/channels/{chan}/posts")["posts"] if p["user_id"] == bot), None),
        timeout=10, what="the reply")
    assert post["message"].startswith("❌ No workspace for this channel: `"), post
    assert str(tmp_path / "missing") in post["message"]


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


def test_a_hundred_workspaces_leave_no_watch_behind(bridge_factory, tmp_path,
                                                     monkeypatch):
    n = 100
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    seed = fake_mm_seed(bots=("a",))
    seed["channels"] += [{"name": f"ws{i}", "type": "O", "members": "*"}
                         for i in range(n)]
    fake = FakeMM(tmp_path, seed=seed)
    try:
        cfg = mm_config(tmp_path, fake, bots=("a",))
        cfg["defaults"] = {"allowWorkspaceHooks": True}
        base_channels = list(cfg["channels"])
        chans = []
        for i in range(n):
            ws = tmp_path / f"ws{i}"
            (ws / ".github").mkdir(parents=True)
            cid = fake.channel(f"ws{i}")["id"]
            chans.append(cid)
            cfg["channels"].append({"id": cid, "platform": "mattermost",
                                    "workingDirectory": str(ws),
                                    "triggerMode": "all"})
        b = bridge_factory(config=cfg)
        sd = b.sessiond()
        before = inotify_watches(sd)
        for cid in chans:
            fake.post("alice", cid, "hello")
        bot = fake.user("a")["id"]

        def answered():
            return sum(1 for cid in chans if any(
                p["user_id"] == bot for p in fake.control(
                    "GET", f"/channels/{cid}/posts")["posts"]))
        wait_for(lambda: answered() == n, timeout=60, step=0.2,
                 what="every channel answered")
        # Each workspace and its .github, watched once.
        wait_for(lambda: inotify_watches(sd) == before + 2 * n, timeout=10,
                 what=f"{2 * n} watches")
        # Every channel moves to one shared workspace: the 100 go, the
        # shared one is watched once (a removed channel keeps serving until
        # a restart, as upstream, so a workspace goes by moving away).
        shared = tmp_path / "shared"
        shared.mkdir()
        for ch in cfg["channels"][len(base_channels):]:
            ch["workingDirectory"] = str(shared)
        b.write_config(cfg)
        b.signal(signal.SIGHUP)
        wait_for(lambda: inotify_watches(sd) == before + 1, timeout=10,
                 what="only the shared workspace watched")
        time.sleep(1)
        assert inotify_watches(sd) == before + 1
        assert b.sessiond() == sd
    finally:
        fake.stop()


class EchoHooks:
    """The echo backend in town-square, working in a workspace whose
    hooks.json denies, workspace hooks allowed; HOME isolated."""

    def __init__(self, bridge_factory, tmp_path, monkeypatch, extra=None):
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        ws = tmp_path / "ws"
        ws.mkdir()
        self.hooks = ws / "hooks.json"
        self.hooks.write_text(hooks_file(DENY))
        self.b = bridge_factory(bots=("a",), start=False)
        self.fake = bridge_factory.fake
        self.chan = self.fake.channel("town-square")["id"]
        self.b.config["channels"][0].update(id=self.chan, triggerMode="all",
                                            workingDirectory=str(ws))
        self.b.config["defaults"] = {"allowWorkspaceHooks": True}
        self.b.config.update(extra or {})
        self.b.write_config(self.b.config)
        self.b.start()
        self.bot = self.fake.user("a")["id"]

    def bot_texts(self):
        return [p["message"] for p in self.fake.control(
            "GET", f"/channels/{self.chan}/posts")["posts"] if p["user_id"] == self.bot]

    def open_session(self):
        self.fake.post("alice", self.chan, "open the session")
        wait_for(lambda: "open the session" in self.bot_texts(), timeout=10,
                 what="the echo")


def test_ctl_reload_hooks(bridge_factory, tmp_path, monkeypatch):
    e = EchoHooks(bridge_factory, tmp_path, monkeypatch)
    r = e.b.ctl("reload-hooks", e.chan)
    assert r.returncode != 0 and "has had a session" in r.stdout + r.stderr, r
    e.open_session()
    save(e.hooks, hooks_file(commands=[
        {"type": "command", "bash": "true"}, {"type": "command", "bash": "true"}]))
    r = e.b.ctl("reload-hooks", e.chan)
    assert r.returncode == 0, r
    assert "✅ Hooks reloaded: 2 hooks from 1 file" in r.stdout
    e.hooks.write_text('{"hooks": {\n  "preToolUse": [,]\n}}\n')
    r = e.b.ctl("reload-hooks", e.chan)
    assert r.returncode != 0, r
    assert re.search(r"hooks\.json:2:\d+: .* — previous hooks kept", r.stdout + r.stderr), r
    assert e.b.ctl("reload-hooks").returncode != 0          # usage


def test_notify_on_auto_reload_says_it_in_the_channel(bridge_factory, tmp_path,
                                                     monkeypatch):
    e = EchoHooks(bridge_factory, tmp_path, monkeypatch,
                  {"hooks": {"notifyOnAutoReload": True}})
    e.open_session()
    save(e.hooks, hooks_file(ALLOW))
    wait_for(lambda: "✅ Hooks reloaded: 1 hook from 1 file" in e.bot_texts(),
             timeout=5, what="the notice of the auto reload")
    save(e.hooks, "{ broken")
    wait_for(lambda: any(t.startswith("❌") and "hooks.json:1:" in t
                         for t in e.bot_texts()),
             timeout=5, what="the notice of the failed reload")
