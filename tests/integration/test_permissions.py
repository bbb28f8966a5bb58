"""Permissions with the real runtime: the fake LLM's "bash" rule makes the
model call the shell tool, the runtime asks the bridge, and sessiond's
policy decides (docs/architecture.md, "Permissions"): the config's rules,
the hard-coded denies that /yolo cannot lift, a change of the rules taking
effect on the next request, stored rules (/always, 💾, 🚫) surviving a
sessiond kill -9 and a bridge restart, and /rules listing and clearing
them."""

import os
import signal
import sqlite3
import time

import pytest

from bridge import wait_for
from llm import RUNTIME, copilot_chat

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")

PROMPT = "🔐 **Permission Required**"


def run_script(command):
    return [{"match": "run", "bash": command},
            {"when": "tool", "reply": "Tool output: {tool_result}"}]


def prompts(chat):
    return [p for p in chat.bot_posts() if p["message"].startswith(PROMPT)]


def answers(chat):
    return [p["message"] for p in chat.bot_posts()
            if p["message"].startswith("Tool output:")]


def ask(chat, command, n):
    """Have the model run command (the n-th answer of the test); return the
    answer's text once it is there."""
    chat.llm.script(run_script(command))
    chat.say(f"run number {n}")
    wait_for(lambda: len(answers(chat)) >= n, timeout=60,
             what=f"answer {n} ({command})")
    return answers(chat)[n - 1]


def db(chat, sql, args=()):
    with sqlite3.connect(chat.bridge.tmp / "state" / "state.db") as d:
        return d.execute(sql, args).fetchall()


def channel_rules(chat):
    return sorted(db(chat, "SELECT tool, command_pattern, action FROM "
                           "permission_rules WHERE scope = ?", (chat.chan,)))


@pytest.fixture
def chat(bridge_factory, tmp_path, monkeypatch):
    def tweak(cfg, c):
        cfg["permissions"] = {"deny": ["shell(rm)"], "allow": ["shell(git)"]}
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    yield c
    c.close()


def test_config_rules_decide_without_a_prompt(chat):
    out = ask(chat, "rm x", 1)
    assert "denied by the bridge's permission rules" in out
    assert prompts(chat) == []
    chat.bridge.wait_log(r"shell denied by the config's rule shell\(rm\)",
                         name="sessiond.log")
    out = ask(chat, "git status", 2)
    assert "rejected" not in out and "denied" not in out
    assert "git" in out.lower()        # git's own words ("not a git repository")
    assert prompts(chat) == []
    chat.bridge.wait_log(r"shell allowed by the config's rule shell\(git\)",
                         name="sessiond.log")
    # Anything else is put to the channel.
    chat.llm.script(run_script("echo unlisted-marker"))
    chat.say("run number 3")
    chat.wait_text(lambda t: t.startswith(PROMPT) and "echo unlisted-marker" in t,
                   timeout=60)
    chat.say("/approve")
    chat.wait_text(lambda t: t.startswith("Tool output: unlisted-marker"),
                   timeout=60)


def test_yolo_approves_all_but_the_hard_denies(chat):
    chat.say("/yolo")
    chat.wait_text(lambda t: t == "🤠 **Yolo enabled** — all permissions "
                   "auto-approved.")
    assert db(chat, "SELECT permission_mode FROM channel_prefs WHERE "
                    "channel_id = ?", (chat.chan,)) == [("autopilot",)]
    # Were the rule ever to fail, GNU rm still refuses "/" by default, and
    # the unknown option makes it stop before it touches anything.
    out = ask(chat, "rm -rf / --no-such-option-here", 1)
    assert "denied by the bridge's permission rules" in out
    chat.bridge.wait_log(r"shell denied by a hard-coded rule shell\(rm -rf /\)",
                         name="sessiond.log")
    out = ask(chat, "ls -d /etc", 2)
    assert "/etc" in out and "denied" not in out
    # Autopilot comes before the config's rules: its deny is skipped.
    out = ask(chat, "rm -f no-such-file-here", 3)
    assert "denied" not in out
    assert prompts(chat) == []
    chat.say("/yolo")
    chat.wait_text(lambda t: t == "🛡️ **Yolo disabled** — permissions will "
                   "require approval.")
    chat.llm.script(run_script("echo after-yolo"))
    chat.say("run number 4")
    chat.wait_text(lambda t: t.startswith(PROMPT) and "echo after-yolo" in t,
                   timeout=60)
    chat.say("/deny")
    wait_for(lambda: len(answers(chat)) >= 4, timeout=60, what="answer 4")


def test_a_rule_change_applies_to_the_next_request(chat):
    chat.llm.script(run_script("touch made-by-the-agent"))
    chat.say("run number 1")
    chat.wait_text(lambda t: t.startswith(PROMPT) and "touch" in t, timeout=60)
    chat.say("/deny")
    wait_for(lambda: len(answers(chat)) >= 1, timeout=60, what="answer 1")
    pids = dict(chat.bridge.children())
    chat.cfg["permissions"]["allow"].append("shell(touch)")
    chat.bridge.write_config(chat.cfg)
    chat.bridge.signal(signal.SIGHUP)
    chat.bridge.wait_log(r"permissions updated", timeout=10)
    time.sleep(0.3)
    ask(chat, "touch made-by-the-agent", 2)
    assert len(prompts(chat)) == 1
    assert (chat.bridge.tmp / "made-by-the-agent").exists()
    assert dict(chat.bridge.children()) == pids      # nothing restarted


def restart_bridge(chat):
    chat.bridge.stop()
    chat.bridge.start()


def test_a_stored_rule_survives_kill_and_restart(chat):
    chat.llm.script(run_script("echo stored-marker"))
    chat.say("run number 1")
    chat.wait_text(lambda t: t.startswith(PROMPT) and "echo stored-marker" in t,
                   timeout=60)
    chat.say("/always approve")
    chat.wait_text(lambda t: t.startswith("Tool output: stored-marker"),
                   timeout=60)
    wait_for(lambda: channel_rules(chat) == [("shell", "echo", "allow")],
             timeout=5, what="the rule in state.db")
    chat.kill_sessiond()
    assert "stored-marker" in ask(chat, "echo stored-marker", 2)
    restart_bridge(chat)
    assert "stored-marker" in ask(chat, "echo stored-marker", 3)
    assert len(prompts(chat)) == 1
    chat.bridge.wait_log(r"shell allowed by a stored rule shell\(echo\)",
                         name="sessiond.log")


def test_reactions_store_rules(chat):
    chat.llm.script(run_script("echo saved-by-reaction"))
    chat.say("run number 1")
    prompt = chat.wait_text(lambda t: t.startswith(PROMPT) and
                            "saved-by-reaction" in t, timeout=60)
    chat.mm.control("POST", "/react", {"user": "alice", "post_id": prompt["id"],
                                       "emoji_name": "floppy_disk"})
    chat.wait_text(lambda t: t == "💾 Approved + remembered via reaction.")
    wait_for(lambda: len(answers(chat)) >= 1, timeout=60, what="answer 1")
    chat.llm.script(run_script("uname -s"))
    chat.say("run number 2")
    prompt = chat.wait_text(lambda t: t.startswith(PROMPT) and "uname" in t,
                            timeout=60)
    chat.mm.control("POST", "/react", {"user": "alice", "post_id": prompt["id"],
                                       "emoji_name": "no_entry_sign"})
    chat.wait_text(lambda t: t == "🚫 Denied + remembered via reaction.")
    wait_for(lambda: len(answers(chat)) >= 2, timeout=60, what="answer 2")
    wait_for(lambda: channel_rules(chat) == [("shell", "echo", "allow"),
                                             ("shell", "uname", "deny")],
             timeout=5, what="both rules in state.db")
    chat.kill_sessiond()
    assert "saved-by-reaction" in ask(chat, "echo saved-by-reaction", 3)
    assert "denied by the bridge's permission rules" in ask(chat, "uname -s", 4)
    assert len(prompts(chat)) == 2


def test_rules_lists_and_clears(chat):
    chat.cfg["permissions"].update(allowPaths=["/srv/shared"],
                                   allowUrls=["example.com"])
    chat.bridge.write_config(chat.cfg)
    chat.bridge.signal(signal.SIGHUP)
    chat.bridge.wait_log(r"permissions updated", timeout=10)
    for n, cmd in ((1, "echo one"), (2, "date -u")):
        chat.llm.script(run_script(cmd))
        chat.say(f"run number {n}")
        chat.wait_text(lambda t, c=cmd: t.startswith(PROMPT) and c in t,
                       timeout=60)
        chat.say("/always approve" if n == 1 else "/always deny")
        wait_for(lambda n=n: len(answers(chat)) >= n, timeout=60,
                 what=f"answer {n}")
    # A rule for every channel, as an upstream import brings them.
    chat.bridge.stop()
    db(chat, "INSERT INTO permission_rules (scope, tool, command_pattern, "
             "action) VALUES ('global', 'mcp:github', '*', 'allow')")
    chat.bridge.start()
    chat.say("/rules")
    listed = chat.wait_text(lambda t: t.startswith("📋 **Permission rules:**"))
    text = listed["message"]
    assert ("**🔒 Hardcoded denies (enforced in all modes including "
            "autopilot):**\n- **deny** `shell(launchctl unload)`\n"
            "- **deny** `shell(rm -rf /)`\n") in text
    assert "- **allow** `read/write in workspace + allowPaths`" in text
    assert ("**⚙️ Config — config.json (skipped in autopilot):**\n"
            "- **deny** `shell(rm)`\n- **allow** `shell(git)`\n"
            "- **allow** `path: /srv/shared`\n- **allow** `url: example.com`"
            ) in text
    assert ("**💾 Stored — this channel (skipped in autopilot):**\n"
            "- **allow** `shell(echo)`\n- **deny** `shell(date)`") in text
    assert ("**💾 Stored — all channels (skipped in autopilot):**\n"
            "- **allow** `mcp:github`") in text
    assert text.index("Hardcoded") < text.index("Config") < \
        text.index("this channel") < text.index("all channels")
    # /remember list and /rule say the same.
    chat.say("/remember list")
    wait_for(lambda: sum(p["message"] == text for p in chat.bot_posts()) == 2,
             timeout=10, what="/remember list")
    chat.say("/rules clear shell(nosuch)")
    chat.wait_text(lambda t: t == "⚠️ No matching rule found for `shell(nosuch)`")
    chat.say("/rules clear shell(date)")
    chat.wait_text(lambda t: t == "🗑️ Removed rule: `shell(date)`")
    # Said once durable: the row is gone when the reply is there.
    assert channel_rules(chat) == [("shell", "echo", "allow")]
    chat.say("/rules clear")
    chat.wait_text(lambda t: t == "🗑️ All permission rules cleared for this "
                   "channel.")
    assert channel_rules(chat) == []
    assert db(chat, "SELECT tool FROM permission_rules WHERE scope = "
                    "'global'") == [("mcp:github",)]
    chat.say("/rule")
    chat.wait_text(lambda t: "**💾 Stored — this channel (skipped in "
                   "autopilot):** _(none)_" in t)
    # The cleared rule no longer answers: the channel is asked again.
    chat.llm.script(run_script("echo one"))
    before = len(chat.bot_posts())      # run 1's prompt is still there
    chat.say("run number 3")
    wait_for(lambda: any(p["message"].startswith(PROMPT) and "echo one" in
                         p["message"] for p in chat.bot_posts()[before:]),
             timeout=60, what="the prompt of run 3")
    chat.say("/approve")
    wait_for(lambda: len(answers(chat)) >= 3, timeout=60, what="answer 3")
