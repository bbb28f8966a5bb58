"""Signing in to GitHub: the real Copilot runtime offline, with no GitHub
identity, answers a BYOK channel and gives a channel with one of its own
models one clear "Not authenticated" reply; ctl status says who the runtime
is signed in as.  A token given in session.githubTokenFile or as a systemd
credential is used, and never appears in an argv, an environment (of a
bridge process, the runtime or a hook) or a log."""

import json
import os

import pytest

from bridge import children_of, wait_for
from llm import RUNTIME, copilot_chat

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")

SECRET = "ghp_SECRETsecretSECRET0123456789abcdef"


def dm_of(chat):
    return next(c["id"] for c in chat.mm.state()["channels"]
                if c["type"] == "D" and "a" in c["members"] and
                "alice" in c["members"])


def posts_in(chat, chan):
    posts = chat.mm.control("GET", f"/channels/{chan}/posts")["posts"]
    return [p["message"] for p in posts
            if p["user_id"] == chat.bot_id and not p.get("delete_at")]


def own_model(cfg, c):
    """town-square runs a model of the runtime's own; the DM, the defaults'
    BYOK one."""
    cfg["channels"][0]["model"] = "gpt-4.1"


def test_not_signed_in(bridge_factory, tmp_path, monkeypatch):
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch, own_model)
    try:
        wait_for(lambda: "auth: none" in chat.bridge.ctl("status").stdout,
                 timeout=30, what="ctl status saying auth: none")
        chat.llm.script([])
        chat.say("hello there")
        chat.wait_text(lambda t: t.startswith("🔒 **Not authenticated.**"),
                       timeout=30)
        dm = dm_of(chat)
        chat.mm.post("alice", dm, "and in private?")
        wait_for(lambda: "echo: and in private?" in posts_in(chat, dm),
                 timeout=60, what="the BYOK answer")
        # One clear reply, not a stack of errors.
        mine = posts_in(chat, chat.chan)
        assert len(mine) == 1, mine
        status = chat.bridge.ctl("status").stdout
        assert "runtime pid" in status and "version 1." in status, status
    finally:
        chat.close()


def leaks(pid):
    """Where SECRET shows in /proc/pid: its argv or its environment."""
    out = []
    for name in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                if SECRET.encode() in f.read():
                    out.append(f"{pid} {name}")
        except OSError:
            pass
    return out


def token_setup(tmp_path, how):
    def tweak(cfg, c):
        own_model(cfg, c)
        tok = tmp_path / "gh-token"
        tok.write_text(SECRET + "\n")
        tok.chmod(0o600)
        if how == "file":
            cfg["session"]["githubTokenFile"] = str(tok)
        hooks = tmp_path / "home" / ".copilot"
        hooks.mkdir(parents=True, exist_ok=True)
        (hooks / "hooks.json").write_text(json.dumps({"version": 1, "hooks": {
            "userPromptSubmitted": [{"type": "command", "bash":
                                     f"env > {tmp_path}/hook-env.txt; echo '{{}}'"}]}}))
    return tweak


@pytest.mark.parametrize("how", ["file", "credential"])
def test_a_token_is_used_and_never_shown(bridge_factory, tmp_path, monkeypatch,
                                         how):
    if how == "credential":
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / "github-token").write_text(SECRET)
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch,
                        token_setup(tmp_path, how))
    try:
        wait_for(lambda: f"auth: token ({how})" in chat.bridge.ctl("status").stdout,
                 timeout=30, what=f"ctl status saying auth: token ({how})")
        chat.llm.script([])
        dm = dm_of(chat)
        chat.mm.post("alice", dm, "a BYOK question")
        wait_for(lambda: "echo: a BYOK question" in posts_in(chat, dm),
                 timeout=60, what="the BYOK answer")
        wait_for(lambda: (tmp_path / "hook-env.txt").exists(), timeout=10,
                 what="the hook's environment")
        # Its own model: the runtime gets the token and, offline, fails
        # to check it with GitHub; the reply says so without the token.
        chat.say("a question for the runtime's own model")
        chat.wait_text(lambda t: t.startswith("❌"), timeout=60)
        procs = [chat.bridge.proc.pid] + list(children_of(chat.bridge.proc.pid))
        procs += list(children_of(chat.bridge.sessiond()))
        found = [w for p in procs for w in leaks(p)]
        assert found == [], found
        assert SECRET not in (tmp_path / "hook-env.txt").read_text()
        assert SECRET not in chat.bridge.all_logs()
        assert SECRET not in (tmp_path / "stderr.log").read_text()
        assert all(SECRET not in m for m in posts_in(chat, chat.chan))
        assert all(SECRET not in json.dumps(r) for r in chat.llm.requests())
    finally:
        chat.close()
