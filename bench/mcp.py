"""MCP benchmarks, with the real Copilot runtime (skipped when it is not
installed) and the fake MCP server (tests/fakes/mcp_server.py):

save to applied    a workspace mcp-config.json saved (renamed over) with one
                   server swapped for a new one, until sessiond's log says the
                   channel's files were reloaded and the live session was
                   given them (the line's own timestamp), over N saves;
                   includes the 500 ms debounce.  Goal: median under 700 ms.
save to connected  the same save until the runtime reports the new server
                   connected (it starts a python process): what a user waits
                   for before the new tool can be called.
tool turn          a message whose answer needs one tool call until the answer
                   is posted, the tool an MCP server's (the runtime calls the
                   server; sessiond decides the permission) or the built-in
                   bash, over N turns each; the difference is the MCP path.
"""

import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from bridge import Bridge, FakeMM, fake_mm_seed, mm_config, wait_for  # noqa: E402
from llm import RUNTIME, FakeLLM  # noqa: E402
from hooks import log_time, stats  # noqa: E402

FAKE_MCP = str(Path(__file__).resolve().parent.parent / "tests" / "fakes" /
               "mcp_server.py")
RELOADED = re.compile(r"^(\S+) INFO .*workspace files reloaded \(file saved\)"
                      r".*changed 0x[0-9a-f]*[13579bdf]\b", re.M)


def server(name, tool="report"):
    return {"command": "/usr/bin/python3",
            "args": [FAKE_MCP, "--name", name, "--tool", tool]}


def save(path, servers):
    tmp = path.with_name(".mcp-config.json.tmp")
    tmp.write_text(json.dumps({"mcpServers": servers}))
    os.rename(tmp, path)


class Env:
    """A bridge in a scratch HOME with the runtime, the fake LLM and a
    channel working in ws, every tool allowed."""

    def __init__(self, tmp):
        self.saved = {k: os.environ.get(k) for k in
                      ("HOME", "COPILOT_HOME", "COPILOT_OFFLINE")}
        os.environ.update(HOME=str(tmp / "home"), COPILOT_HOME=str(tmp / "ch"),
                          COPILOT_OFFLINE="true")
        (tmp / "home").mkdir()
        self.ws = tmp / "ws"
        self.ws.mkdir()
        self.cfgfile = self.ws / "mcp-config.json"
        save(self.cfgfile, {"srv": server("srv")})
        self.llm = FakeLLM(tmp)
        self.mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",), humans=("alice",)))
        self.chan = self.mm.channel("town-square")["id"]
        self.bot = self.mm.user("a")["id"]
        cfg = mm_config(tmp, self.mm, bots=("a",))
        cfg["channels"][0].update(id=self.chan, triggerMode="all",
                                  threadedReplies=False,
                                  workingDirectory=str(self.ws))
        cfg["providers"] = {"fake": self.llm.provider()}
        cfg["defaults"] = {"model": "fake:fake-model",
                           "permissionMode": "autopilot"}
        cfg["session"] = {"backend": "copilot"}
        self.b = Bridge(tmp, cfg).start()

    def answers(self, prefix):
        return sum(p["user_id"] == self.bot and p["message"].startswith(prefix)
                   for p in self.mm.control("GET", f"/channels/{self.chan}/posts")
                   ["posts"])

    def turn(self, text, prefix):
        n = self.answers(prefix)
        t0 = time.monotonic()
        self.mm.post("alice", self.chan, text)
        wait_for(lambda: self.answers(prefix) > n, timeout=60, step=0.01,
                 what=f"the answer to {text}")
        return (time.monotonic() - t0) * 1000

    def close(self):
        self.b.stop()
        self.mm.stop()
        self.llm.stop()
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def bench_saves(env, saves):
    applied, connected = [], []
    for i in range(saves):
        log = env.b.log("sessiond.log")
        n = len(RELOADED.findall(log))
        name = f"s{i}"
        t0 = time.time()
        save(env.cfgfile, {"srv": server("srv"), name: server(name)})
        m = wait_for(lambda: RELOADED.findall(env.b.log("sessiond.log"))[n:],
                     timeout=5, step=0.01, what="the reload")
        applied.append((log_time(m[0]) - t0) * 1000)
        rx = re.compile(r'^(\S+) INFO .*MCP server "' + name + '": connected', re.M)
        c = wait_for(lambda: rx.findall(env.b.log("sessiond.log")), timeout=10,
                     step=0.01, what=f"{name} connected")
        connected.append((log_time(c[0]) - t0) * 1000)
    return stats(applied), stats(connected)


def bench_tools(env, turns):
    env.llm.script([
        {"match": "mcp", "tool_call": {"name": "srv-report",
                                       "arguments": {"message": "x"}}},
        {"match": "bash", "bash": "echo x"},
        {"when": "tool", "reply": "Tool output: {tool_result}"}])
    mcp, builtin = [], []
    env.turn("mcp warm-up", "Tool output:")
    for i in range(turns):
        mcp.append(env.turn(f"mcp {i}", "Tool output:"))
        builtin.append(env.turn(f"bash {i}", "Tool output:"))
    return {"mcp": stats(mcp), "builtin": stats(builtin),
            "mcp_minus_builtin_median": round(statistics.median(mcp) -
                                              statistics.median(builtin), 3)}


def bench_mcp():
    if not os.path.exists(RUNTIME):
        return None
    with tempfile.TemporaryDirectory() as d:
        env = Env(Path(d))
        try:
            env.turn("hello", "echo: hello")       # the session, MCP started
            applied, connected = bench_saves(
                env, int(os.environ.get("BENCH_MCP_SAVES", "30")))
            tools = bench_tools(env, int(os.environ.get("BENCH_MCP_TURNS", "20")))
        finally:
            env.close()
    return {"save_to_applied_ms": applied, "save_to_connected_ms": connected,
            "goal_save_to_applied_median_ms": 700, "tool_turn_ms": tools}


if __name__ == "__main__":
    print(json.dumps(bench_mcp(), indent=2))
