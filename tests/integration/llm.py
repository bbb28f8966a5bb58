"""The fake OpenAI-compatible LLM (tests/fakes/openai.py) as a child process,
for tests that run the real Copilot runtime behind the bridge."""

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import urllib.request

from bridge import FakeMM, alive, fake_mm_seed, mm_config, stop_proc, wait_for

FAKE_LLM = os.path.abspath(os.path.join(os.path.dirname(__file__), "..",
                                        "fakes", "openai.py"))
RUNTIME = os.path.abspath(os.path.join(
    os.path.dirname(__file__), "..", "node_modules", "@github",
    "copilot-sdk-linux-x64", "prebuilds", "linux-x64", "copilot-runtime"))


class FakeLLM:
    def __init__(self, tmp, name="fake-llm"):
        self.errlog = open(tmp / f"{name}.log", "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", FAKE_LLM, "--port", "0"],
            stdout=subprocess.PIPE, stderr=self.errlog, stdin=subprocess.DEVNULL)
        r, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("LISTENING "):
            self.stop()
            raise AssertionError(f"fake LLM did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def _call(self, method, path, body=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def script(self, rules):
        self._call("POST", "/_fake/script", rules)

    def requests(self):
        """The chat-completion request bodies received, oldest first."""
        return [r["body"] for r in self._call("GET", "/_fake/requests")["requests"]
                if r["path"].endswith("/chat/completions")]

    def attachments(self):
        """Per chat-completion request, oldest first: the images and
        tagged files its user messages carry (fakes/openai.py)."""
        return [r["attachments"] for r in self._call("GET", "/_fake/requests")["requests"]
                if r["path"].endswith("/chat/completions")]

    def provider(self):
        return {"type": "openai", "baseUrl": self.url, "apiKey": "test-key",
                "models": [{"id": "fake-model"}]}

    def stop(self):
        stop_proc(self.proc)
        self.proc.stdout.close()
        self.errlog.close()


@contextlib.contextmanager
def runtime_env_of(tmp):
    """runtime_env() outside pytest (the benchmarks): os.environ set for
    the block, then as it was."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "COPILOT_HOME": str(tmp / "copilot-home"),
           "COPILOT_OFFLINE": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def bench_config(tmp, mm, llm, chan):
    """Bot "a" answering everyone in chan with the real runtime and the fake
    LLM, logging at info: the benchmarks' bridge."""
    cfg = mm_config(tmp, mm, bots=("a",), access={"mode": "open"})
    cfg["channels"][0].update(id=chan, triggerMode="all", threadedReplies=False)
    cfg["providers"] = {"fake": llm.provider()}
    cfg["defaults"] = {"model": "fake:fake-model"}
    cfg["session"] = {"backend": "copilot"}
    cfg["logLevel"] = "info"
    return cfg


def runtime_env(monkeypatch, tmp):
    """An isolated home for the runtime, offline: it inherits sessiond's env."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COPILOT_HOME", str(tmp / "copilot-home"))
    monkeypatch.setenv("COPILOT_OFFLINE", "true")


class Chat:
    """A bridge with bot "a" in town-square (triggerMode all), the real
    runtime and the fake LLM behind it, and helpers to talk and to read the
    bot's posts."""

    def say(self, text, user="alice"):
        return self.mm.post(user, self.chan, text)

    def bot_posts(self):
        posts = self.mm.control("GET", f"/channels/{self.chan}/posts")["posts"]
        return [p for p in posts if p["user_id"] == self.bot_id]

    def wait_text(self, pred, timeout=30, what="a bot post"):
        return wait_for(lambda: next((p for p in self.bot_posts()
                                      if pred(p["message"])), None),
                        timeout=timeout, step=0.1, what=what)

    def kill_sessiond(self):
        """kill -9 sessiond; back once the supervisor's next one is active."""
        old = self.bridge.sessiond()
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: self.bridge.sessiond() not in (None, old) and
                 self.bridge.status().get("sessiond", {}).get("state") ==
                 "active", timeout=15, what="a new sessiond")
        assert not alive(old)

    def session_id(self):
        """The channel's session: the last one sessiond opened for it
        (/status shows 8 characters of it, as upstream)."""
        before = len(self.bot_posts())
        self.say("/status")
        post = wait_for(lambda: next((p for p in self.bot_posts()[before:]
                                      if p["message"].startswith(
                                          "📊 **Session Status**")), None),
                        timeout=20, step=0.1, what="/status")
        sid = re.findall(rf"channel {self.chan}: session ([0-9a-f-]{{36}}) open",
                         self.bridge.log("sessiond.log"))[-1]
        assert f"• Session: `{sid[:8]}...`" in post["message"]
        return sid

    def close(self):
        self.bridge.stop()
        self.llm.stop()
        self.mm.stop()


def copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak=None):
    """Start a Chat; tweak(cfg, chat) may change the config first."""
    runtime_env(monkeypatch, tmp_path)
    c = Chat()
    c.mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a",),
                                              humans=("alice", "bob")))
    c.llm = FakeLLM(tmp_path)
    c.chan = c.mm.channel("town-square")["id"]
    c.bot_id = c.mm.user("a")["id"]
    cfg = mm_config(tmp_path, c.mm, bots=("a",),
                    access={"mode": "allowlist", "users": ["alice"]})
    cfg["channels"][0].update(id=c.chan, triggerMode="all",
                              threadedReplies=False)
    cfg["platforms"]["mattermost"]["admins"] = ["alice"]
    cfg["providers"] = {"fake": c.llm.provider()}
    cfg["defaults"] = {"model": "fake:fake-model"}
    cfg["session"] = {"backend": "copilot"}
    if tweak is not None:
        tweak(cfg, c)
    c.cfg = cfg
    c.bridge = bridge_factory(config=cfg)
    return c
