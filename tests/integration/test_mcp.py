"""MCP servers, skills, custom agents and the appended instructions, with
the REAL Copilot runtime behind the bridge and the fake LLM
(tests/fakes/openai.py), the MCP server being tests/fakes/mcp_server.py:
upstream's three sources of servers, .env and ${VAR}, what the LLM is
sent, and every one of them reloaded live without losing the session
(docs/architecture.md, "MCP servers, skills, agents, instructions")."""

import json
import os
import re
import signal
import time

import pytest

from bridge import children_of, wait_for
from llm import RUNTIME, copilot_chat

pytestmark = pytest.mark.skipif(
    not os.path.exists(RUNTIME),
    reason="the Copilot runtime is not installed (make deps)")

FAKE_MCP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..",
                                        "fakes", "mcp_server.py"))
SECRET = "dotenv-s3cr3t-value-7f3a"


def server(name, tool="report", **kw):
    """An mcp-config.json entry running the fake server."""
    s = {"command": "/usr/bin/python3",
         "args": [FAKE_MCP, "--name", name, "--tool", tool]}
    s.update(kw)
    return s


def save(path, text):
    """Save as editors do: a new file renamed over the old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".swp")
    tmp.write_text(text)
    os.rename(tmp, path)


def save_servers(path, servers):
    save(path, json.dumps({"mcpServers": servers}, indent=2))


def tool_rule(tool, message="hi", env=None, match="use the tool"):
    args = {"message": message}
    if env:
        args["env"] = env
    return {"match": match, "tool_call": {"name": tool, "arguments": args}}


AFTER_TOOL = {"when": "tool", "reply": "Tool output: {tool_result}"}


def answers(chat):
    return [p["message"] for p in chat.bot_posts()
            if p["message"].startswith("Tool output:")]


def ask(chat, text, n, timeout=60):
    """Say text and return the n-th "Tool output:" answer (1-based)."""
    chat.say(text)
    wait_for(lambda: len(answers(chat)) >= n, timeout=timeout, step=0.1,
             what=f"answer {n}")
    return answers(chat)[n - 1]


def command(chat, text, pred, timeout=20):
    """Say a command and return the first new bot post pred accepts."""
    before = len(chat.bot_posts())
    chat.say(text)
    return wait_for(lambda: next((p["message"] for p in chat.bot_posts()[before:]
                                  if pred(p["message"])), None),
                    timeout=timeout, step=0.1, what=f"the reply to {text}")


def tools_sent(chat):
    """The tool names of the last LLM request."""
    return [t["function"]["name"] for t in chat.llm.requests()[-1].get("tools", [])]


def system_prompt(chat, i=-1):
    return chat.llm.requests()[i]["messages"][0]["content"]


def user_texts(req):
    out = []
    for m in req["messages"]:
        if m.get("role") != "user":
            continue
        c = m["content"]
        out.append(c if isinstance(c, str) else
                   " ".join(p.get("text", "") for p in c))
    return " ".join(out)


@pytest.fixture
def mchat(bridge_factory, tmp_path, monkeypatch):
    """A chat working in tmp/ws, every tool approved (autopilot), its
    HOME isolated and empty."""
    ws = tmp_path / "ws"
    ws.mkdir()

    def tweak(cfg, c):
        cfg["channels"][0]["workingDirectory"] = str(ws)
        cfg["defaults"]["permissionMode"] = "autopilot"
    c = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    c.ws = ws
    c.home = tmp_path / "home"
    yield c
    c.close()


@pytest.mark.parametrize("source", ["user", "plugin", "workspace"])
def test_a_server_from_each_source_is_called(mchat, source):
    ws, home = mchat.ws, mchat.home
    entry = {"srv": server("srv")}
    if source == "user":
        save_servers(home / ".copilot" / "mcp-config.json", entry)
    elif source == "plugin":
        save_servers(home / ".copilot" / "installed-plugins" / "acme" /
                     "tools" / ".mcp.json", entry)
    else:
        save_servers(ws / "mcp-config.json", entry)
    mchat.llm.script([tool_rule("srv-report", "from-" + source), AFTER_TOOL])
    out = ask(mchat, "use the tool", 1)
    # The runtime ran the server in the workspace and called its tool.
    assert f"srv/report says: from-{source}" in out, out
    assert f"cwd {ws}" in out, out
    assert "srv-report" in tools_sent(mchat)
    # The result went back to the LLM as the tool's answer.
    last = mchat.llm.requests()[-1]["messages"]
    assert any(m.get("role") == "tool" and "from-" + source in str(m["content"])
               for m in last)
    post = command(mchat, "/mcp", lambda t: t.startswith("🔌"))
    line = {"user": "**User** (plugin + user config)\n• `srv` — ",
            "plugin": "**User** (plugin + user config)\n• `srv` _(plugin)_ — ",
            "workspace": "**Workspace**\n• `srv` — "}[source]
    assert line + "🟢 connected" in post, post


def proc_environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def descendants(pid):
    """pid -> argv of every live descendant of pid."""
    out, todo = {}, [pid]
    while todo:
        for k, argv in children_of(todo.pop()).items():
            out[k] = argv
            todo.append(k)
    return out


def test_dotenv_and_vars_reach_the_server_and_nothing_else(mchat, monkeypatch):
    import hashlib
    ws = mchat.ws
    (ws / ".env").write_text(f"# secrets\nSECRET_TOKEN=\"{SECRET}\"\n"
                             "PLAIN=plain-value\n")
    save_servers(ws / "mcp-config.json", {"srv": server("srv", env={
        "EXPANDED": "x-${SECRET_TOKEN}-y", "FROM_US": "${HOME}",
        "NOTHING": "${NO_SUCH_VAR_HERE}"})})
    mchat.llm.script([{"match": "use the tool", "tool_call": {
        "name": "srv-report", "arguments": {
            "message": "env", "digest": True,
            "env": ["SECRET_TOKEN", "EXPANDED", "FROM_US", "NOTHING",
                    "PLAIN"]}}}, AFTER_TOOL])
    out = ask(mchat, "use the tool", 1)

    def digest(v):
        return "sha256:" + hashlib.sha256(v.encode()).hexdigest()
    assert f"env SECRET_TOKEN={digest(SECRET)}" in out, out
    assert f"env EXPANDED={digest('x-' + SECRET + '-y')}" in out, out
    assert f"env FROM_US={digest(str(mchat.home))}" in out, out
    assert f"env NOTHING={digest('')}" in out, out
    assert f"env PLAIN={digest('plain-value')}" in out, out
    # The server has it in its environment; no process of the bridge
    # (the runtime included) does, and no log says it.
    procs = descendants(mchat.bridge.proc.pid)
    servers = [p for p, argv in procs.items()
               if any(a.endswith(b"mcp_server.py") for a in argv)]
    assert servers and all(SECRET.encode() in proc_environ(p) for p in servers)
    for pid, argv in list(procs.items()) + [(mchat.bridge.proc.pid, [b"sup"])]:
        if pid in servers:
            continue
        assert SECRET.encode() not in proc_environ(pid), argv
    assert SECRET not in mchat.bridge.all_logs()
    assert SECRET[:12] not in mchat.bridge.all_logs()


def test_a_second_server_saved_is_live_in_the_same_session(mchat):
    ws = mchat.ws
    cfg = ws / "mcp-config.json"
    save_servers(cfg, {"alpha": server("alpha")})
    mchat.llm.script([tool_rule("alpha-report", "first", match="first"),
                      tool_rule("beta-probe", "second", match="second"),
                      tool_rule("alpha-report", "third", match="third"),
                      AFTER_TOOL])
    assert "alpha/report says: first" in ask(mchat, "first: use alpha", 1)
    sid = mchat.session_id()
    log = mchat.bridge.log("sessiond.log")
    t0 = time.monotonic()
    save_servers(cfg, {"alpha": server("alpha"),
                       "beta": server("beta", tool="probe")})
    mchat.bridge.wait_log(r'MCP server "beta": connected', name="sessiond.log",
                          timeout=2, after=len(log))
    assert time.monotonic() - t0 < 2.0
    assert "beta/probe says: second" in ask(mchat, "second: use beta", 2)
    assert "beta-probe" in tools_sent(mchat)
    assert mchat.session_id() == sid
    # The LLM still has the earlier turns.
    assert "first: use alpha" in user_texts(mchat.llm.requests()[-1])
    # A file that does not parse keeps both servers working.
    log = mchat.bridge.log("sessiond.log")
    save(cfg, '{"mcpServers": {\n  "alpha": ,\n}}\n')
    mchat.bridge.wait_log(r"MCP servers not reloaded \(file saved\): .*"
                          r"mcp-config\.json:2:\d+: .* — previous MCP servers "
                          r"kept", name="sessiond.log", timeout=5, after=len(log))
    assert "alpha/report says: third" in ask(mchat, "third: use alpha", 3)
    post = command(mchat, "/mcp", lambda t: t.startswith("🔌"))
    assert "`beta` — 🟢 connected" in post and "mcp-config.json:2:" in post, post
    post = command(mchat, "/reload mcp", lambda t: "reload" in t)
    assert re.match(r"❌ MCP reload failed: .*mcp-config\.json:2:\d+: .* — "
                    r"previous MCP servers kept$", post), post
    assert mchat.session_id() == sid


def test_a_server_that_exits_at_once_is_failed_and_the_session_works(mchat):
    save_servers(mchat.ws / "mcp-config.json", {
        "good": server("good"),
        "broken": server("broken", args=[FAKE_MCP, "--exit-at-once"])})
    mchat.llm.script([tool_rule("good-report", "still fine"), AFTER_TOOL])
    assert "good/report says: still fine" in ask(mchat, "use the tool", 1)
    mchat.bridge.wait_log(r'WARN .*MCP server "broken" failed: .*exit',
                          name="sessiond.log", timeout=10)
    post = command(mchat, "/mcp", lambda t: t.startswith("🔌"))
    assert re.search(r"`broken` — 🔴 failed: .*exit", post), post
    assert "`good` — 🟢 connected" in post, post
    mchat.say("just talk")
    mchat.wait_text(lambda t: t == "echo: just talk")


def skill(ws, name, desc):
    save(ws / ".github" / "skills" / name / "SKILL.md",
         f"---\nname: {name}\ndescription: {desc}\n---\nDo {name} things.\n")


def agent(root, name, desc, prompt):
    save(root / f"{name}.agent.md",
         f"---\ndescription: {desc}\n---\n{prompt}\n")


def llm_blob(chat):
    return json.dumps(chat.llm.requests()[-1])


def turn(chat, text):
    """Say text (no tool) and wait for the echo."""
    chat.say(text)
    chat.wait_text(lambda t: t == "echo: " + text, timeout=60)


def kill_sessiond(chat):
    old = chat.bridge.sessiond()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: chat.bridge.sessiond() not in (None, old), timeout=15,
             what="a new sessiond")
    wait_for(lambda: chat.bridge.count_state("active") == 2, timeout=15,
             what="the new sessiond active")


def test_skills_disable_and_enable_reach_the_llm_and_persist(mchat):
    skill(mchat.ws, "alpha-skill", "ALPHA-SKILL-DESC")
    skill(mchat.ws, "beta-skill", "BETA-SKILL-DESC")
    turn(mchat, "hello")
    assert "ALPHA-SKILL-DESC" in llm_blob(mchat)
    assert "BETA-SKILL-DESC" in llm_blob(mchat)
    post = command(mchat, "/skills", lambda t: t.startswith("🧰"))
    assert "🟢 **Active Skills**" in post and "`alpha-skill` — ALPHA-SKILL-DESC "
    "_(workspace)_" in post, post
    assert "**Built-in Tools**" in post and "`bash`" in post, post
    assert "• `no_reply`" in post, post
    post = command(mchat, "/skills disable alpha", lambda t: "Disabled" in t
                   or "❌" in t or "⚠️" in t)
    assert post == "🔴 Disabled `alpha-skill`.", post
    post = command(mchat, "/skills disable skill nothing-like-it",
                   lambda t: "Ambiguous" in t or "No match" in t)
    assert 'Ambiguous: "skill" matches: `alpha-skill` `beta-skill`' in post
    assert 'No match: "nothing-like-it"' in post, post
    turn(mchat, "after disable")
    assert "ALPHA-SKILL-DESC" not in llm_blob(mchat)
    assert "BETA-SKILL-DESC" in llm_blob(mchat)
    post = command(mchat, "/skills", lambda t: t.startswith("🧰"))
    assert "🔴 **Disabled Skills**\n• `alpha-skill`" in post, post
    sid = mchat.session_id()
    kill_sessiond(mchat)
    turn(mchat, "after restart")
    assert "ALPHA-SKILL-DESC" not in llm_blob(mchat)
    assert "BETA-SKILL-DESC" in llm_blob(mchat)
    assert mchat.session_id() == sid
    post = command(mchat, "/skills enable all", lambda t: "Enabled" in t)
    assert post == "🟢 Enabled all skills.", post
    turn(mchat, "after enable")
    assert "ALPHA-SKILL-DESC" in llm_blob(mchat)
    post = command(mchat, "/skills disable all alpha", lambda t: "⚠️" in t)
    assert post == "⚠️ `all` cannot be combined with other skill names."


def test_agent_select_reaches_the_llm_persists_and_deselects(mchat):
    agent(mchat.ws / "agents", "reviewer", "Reviews code",
          "You are REVIEWER-PROMPT-MARKER.")
    agent(mchat.ws / ".github" / "agents", "writer", "Writes docs",
          "You are WRITER-PROMPT-MARKER.")
    turn(mchat, "hello")
    assert "REVIEWER-PROMPT-MARKER" not in system_prompt(mchat)
    post = command(mchat, "/agents", lambda t: "Agents" in t)
    assert "• **reviewer** (workspace) — Reviews code" in post, post
    assert "• **writer** (workspace) — Writes docs" in post, post
    post = command(mchat, "/agent nobody", lambda t: t.startswith("⚠️"))
    assert post == ("⚠️ Agent **nobody** not found.\nAvailable agents: "
                    "**writer**, **reviewer**"), post
    post = command(mchat, "/agent reviewer", lambda t: t.startswith("✅"))
    assert post == "✅ Switched to agent **reviewer**", post
    sid = mchat.session_id()
    turn(mchat, "as reviewer")
    assert "REVIEWER-PROMPT-MARKER" in system_prompt(mchat)
    post = command(mchat, "/agents", lambda t: "Agents" in t)
    assert "— Reviews code ← current" in post, post
    kill_sessiond(mchat)
    turn(mchat, "after restart")
    assert "REVIEWER-PROMPT-MARKER" in system_prompt(mchat)
    assert mchat.session_id() == sid
    assert "as reviewer" in user_texts(mchat.llm.requests()[-1])
    post = command(mchat, "/agent", lambda t: t.startswith("✅"))
    assert post == "✅ Agent deselected (using default Copilot)", post
    turn(mchat, "no agent")
    assert "REVIEWER-PROMPT-MARKER" not in system_prompt(mchat)
    assert mchat.session_id() == sid


def test_the_configured_agent_is_the_default(bridge_factory, tmp_path,
                                             monkeypatch):
    ws = tmp_path / "ws"
    agent(ws / "agents", "helper", "Helps", "You are HELPER-PROMPT-MARKER.")

    def tweak(cfg, c):
        cfg["channels"][0]["workingDirectory"] = str(ws)
        cfg["channels"][0]["agent"] = "helper"
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    try:
        turn(chat, "hello")
        assert "HELPER-PROMPT-MARKER" in system_prompt(chat)
        # An agent without a definition is left out, not a failed session.
        chat.cfg["channels"][0]["agent"] = "ghost"
        chat.bridge.write_config(chat.cfg)
        chat.bridge.signal(signal.SIGHUP)
        chat.bridge.wait_log(r"config reloaded|✓", timeout=10)
        command(chat, "/reload", lambda t: t.startswith("✅ Session reloaded"))
        turn(chat, "ghost agent")
        assert "HELPER-PROMPT-MARKER" not in system_prompt(chat)
        chat.bridge.wait_log(r'agent "ghost" has no definition',
                             name="sessiond.log")
    finally:
        chat.close()


def test_instructions_agents_and_skills_are_reloaded_on_save(mchat):
    ws = mchat.ws
    (ws / "AGENTS.md").write_text("AGENTS-MD-MARKER: the runtime reads me.\n")
    save(ws / "AGENTS.local.md", "LOCAL-MARKER-ONE\n")
    turn(mchat, "first")
    sysm = system_prompt(mchat)
    assert "AGENTS-MD-MARKER" in sysm
    assert "<bridge_instructions>" in sysm and "no_reply" in sysm
    assert "<local_instructions>\nLOCAL-MARKER-ONE\n</local_instructions>" in sysm
    sid = mchat.session_id()
    log = mchat.bridge.log("sessiond.log")
    save(ws / "AGENTS.local.md", "LOCAL-MARKER-TWO\n")
    agent(ws / "agents", "late", "Came later", "You are LATE-MARKER.")
    skill(ws, "late-skill", "LATE-SKILL-DESC")
    mchat.bridge.wait_log(r"workspace files reloaded \(file saved\)",
                          name="sessiond.log", timeout=5, after=len(log))
    time.sleep(1)   # all three saves seen (one debounce, maybe two)
    turn(mchat, "second")
    sysm = system_prompt(mchat)
    assert "LOCAL-MARKER-TWO" in sysm and "LOCAL-MARKER-ONE" not in sysm
    assert "LATE-SKILL-DESC" in llm_blob(mchat)
    post = command(mchat, "/agent late", lambda t: t.startswith("✅"))
    assert post == "✅ Switched to agent **late**", post
    turn(mchat, "third")
    assert "LATE-MARKER" in system_prompt(mchat)
    assert mchat.session_id() == sid
    assert "first" in user_texts(mchat.llm.requests()[-1])
    assert not any(p["message"].startswith("✅ Reloaded")
                   for p in mchat.bot_posts())      # silent by default


def test_notify_on_auto_reload_and_the_reload_commands(bridge_factory,
                                                       tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()

    def tweak(cfg, c):
        cfg["channels"][0]["workingDirectory"] = str(ws)
        cfg["hooks"] = {"notifyOnAutoReload": True}
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    try:
        turn(chat, "hello")
        save_servers(ws / "mcp-config.json", {"one": server("one")})
        chat.wait_text(lambda t: t == "✅ Reloaded: MCP servers (1)",
                       timeout=10)
        save(ws / "mcp-config.json", "{ broken")
        chat.wait_text(lambda t: t.startswith("❌ ") and
                       "mcp-config.json:1:" in t and
                       t.endswith("— previous MCP servers kept"), timeout=10)
        save_servers(ws / "mcp-config.json", {"one": server("one")})
        post = command(chat, "/reload mcp", lambda t: "MCP" in t)
        assert post == "✅ MCP servers reloaded.", post
        post = command(chat, "/reload skills", lambda t: "kills" in t)
        assert post == "✅ Skills reloaded.", post
    finally:
        chat.close()


def test_a_workspace_server_overrides_the_users(mchat):
    save_servers(mchat.home / ".copilot" / "mcp-config.json",
                 {"srv": server("user-side"), "other": server("other")})
    save_servers(mchat.ws / "mcp-config.json", {"srv": server("ws-side")})
    mchat.llm.script([tool_rule("srv-report", "which"), AFTER_TOOL])
    assert "ws-side/report says: which" in ask(mchat, "use the tool", 1)
    post = command(mchat, "/mcp", lambda t: t.startswith("🔌"))
    assert "**Workspace (overriding user)**\n• `srv`" in post, post
    assert "**User** (plugin + user config)\n• `other`" in post, post
    assert "Total: 2 server(s)" in post, post


def test_skills_and_mcp_are_listed_before_any_session(mchat):
    # The built-in tools come from the runtime: once it runs, not at once.
    mchat.bridge.wait_log(r"Copilot runtime pid \d+ ready", "sessiond.log",
                          timeout=30)
    skill(mchat.ws, "disk-skill", "DISK-SKILL-DESC")
    save_servers(mchat.ws / "mcp-config.json", {"later": server("later")})
    post = command(mchat, "/skills", lambda t: t.startswith("🧰"))
    assert "• `disk-skill` — DISK-SKILL-DESC _(workspace)_" in post, post
    assert "• `later` _(workspace)_ — ⚪ not started yet" in post, post
    assert "**Built-in Tools**" in post, post
    post = command(mchat, "/mcp", lambda t: t.startswith("🔌"))
    assert "**Workspace**\n• `later` — ⚪ not started yet" in post, post
    post = command(mchat, "/agents", lambda t: "agent" in t.lower())
    assert post.startswith("No agent definitions found.\nPlace `*.agent.md`")
    # Nothing asked opened a session.
    assert "No session to reload yet." == command(
        mchat, "/reload", lambda t: "reload" in t.lower())
