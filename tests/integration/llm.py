"""The fake OpenAI-compatible LLM (tests/fakes/openai.py) as a child process,
for tests that run the real Copilot runtime behind the bridge."""

import json
import os
import select
import subprocess
import urllib.request

from bridge import stop_proc

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

    def provider(self):
        return {"type": "openai", "baseUrl": self.url, "apiKey": "test-key",
                "models": [{"id": "fake-model"}]}

    def stop(self):
        stop_proc(self.proc)
        self.proc.stdout.close()
        self.errlog.close()


def runtime_env(monkeypatch, tmp):
    """An isolated home for the runtime, offline: it inherits sessiond's env."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COPILOT_HOME", str(tmp / "copilot-home"))
    monkeypatch.setenv("COPILOT_OFFLINE", "true")
