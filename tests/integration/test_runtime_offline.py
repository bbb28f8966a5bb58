"""The real Copilot runtime, offline, against tests/fakes/openai.py (BYOK).

Each test gets its own HOME/COPILOT_HOME and working directory under
tmp_path, its own fake LLM, and its own runtime child(ren), which are always
killed at teardown. Transcripts of every runtime are written to tmp_path
(runtime-N.jsonl) for post-mortems. Run:

    /usr/bin/python3 -m pytest -q tests/integration/test_runtime_offline.py

docs/copilot-runtime.md describes the protocol these tests pin down.
"""

import importlib.util
import json
import select
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
FAKES = TESTS / "fakes"
RUNTIME = (TESTS / "node_modules/@github/copilot-sdk-linux-x64/prebuilds/linux-x64"
           / "copilot-runtime")
ARGV = [str(RUNTIME), "--headless", "--no-auto-update", "--stdio"]
MODEL = "fake-model"
TURN_TIMEOUT = 20.0


def _load(name, path):
    # Loaded by path: "openai" must never resolve to an installed package.
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


fake_openai = _load("fake_openai", FAKES / "openai.py")
copilot_rpc = _load("copilot_rpc", FAKES / "copilot_rpc.py")
RpcError = copilot_rpc.RpcError


# -- fixtures -------------------------------------------------------------

@pytest.fixture
def fake():
    f = fake_openai.FakeOpenAI()
    f.start()
    yield f
    f.stop()


@pytest.fixture
def sandbox(tmp_path):
    """(env, workdir): an isolated HOME and COPILOT_HOME, offline."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
           "COPILOT_HOME": str(home / ".copilot"), "COPILOT_OFFLINE": "true",
           "LANG": "C.UTF-8", "TMPDIR": str(tmp_path)}
    return env, str(work)


@pytest.fixture
def spawn(sandbox, tmp_path):
    """spawn(handlers=None) -> a connected Runtime; all are killed at teardown."""
    if not RUNTIME.is_file():
        pytest.skip("Copilot runtime not installed (%s); run `npm ci` in tests/"
                    % RUNTIME)
    env, work = sandbox
    started = []

    def _spawn(handlers=None):
        rt = copilot_rpc.Runtime(ARGV, env=env, cwd=work, handlers=handlers)
        started.append(rt)
        res = rt.request("connect", {}, timeout=10)
        assert res["ok"] is True and res["protocolVersion"] == 3
        return rt

    yield _spawn
    for i, rt in enumerate(started):
        rt.close(timeout=2)
        rt.dump(str(tmp_path / ("runtime-%d.jsonl" % i)))


def create_params(fake, work, sid, **extra):
    p = {"sessionId": sid, "model": MODEL,
         "provider": {"type": "openai", "baseUrl": fake.base_url, "apiKey": "sk-fake"},
         "streaming": True, "requestPermission": True, "workingDirectory": work,
         "envValueMode": "direct"}
    p.update(extra)
    return p


SID = "0b7c2a4e-1f0d-4c55-9a51-5c1e2d3f4a01"


def send(rt, sid, prompt, since=None):
    """session.send; returns the notes mark taken before sending."""
    mark = rt.mark() if since is None else since
    res = rt.request("session.send", {"sessionId": sid, "prompt": prompt})
    assert isinstance(res.get("messageId"), str)
    return mark


def of(events, etype):
    return [e for e in events if e["type"] == etype]


def user_text(msg):
    return fake_openai.strip_leading_tags(fake_openai._text_of(msg.get("content")))


# -- the fake itself ----------------------------------------------------------

def _http(method, url, body=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def test_fake_cli_and_control_api(tmp_path):
    portfile = tmp_path / "port"
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"match": "hello", "reply": "Hi there"}]))
    p = subprocess.Popen([sys.executable, str(FAKES / "openai.py"), "--port", "0",
                          "--port-file", str(portfile), "--script", str(script)],
                         stdout=subprocess.PIPE)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 10)
        assert ready, "fake did not print LISTENING within 10 s"
        word, port = p.stdout.readline().decode().split()
        assert word == "LISTENING" and int(port) > 0
        assert portfile.read_text().strip() == port
        base = "http://127.0.0.1:%s" % port

        def chat(text):
            r = json.loads(_http("POST", base + "/v1/chat/completions", {
                "model": MODEL, "messages": [{"role": "user", "content": text}]}))
            return r["choices"][0]["message"]["content"]

        assert chat("well hello") == "Hi there"
        assert chat("<current_datetime>x</current_datetime>\n\nother") == "echo: other"
        _http("POST", base + "/_fake/script", [{"reply": "scripted", "times": 1}])
        assert chat("a") == "scripted"
        assert chat("b") == "echo: b"
        reqs = json.loads(_http("GET", base + "/_fake/requests"))["requests"]
        assert [user_text(r["body"]["messages"][-1]) for r in reqs] == \
            ["well hello", "other", "a", "b"]
        models = json.loads(_http("GET", base + "/v1/models"))
        assert models["data"][0]["id"] == MODEL
        _http("POST", base + "/_fake/reset", {})
        assert json.loads(_http("GET", base + "/_fake/requests"))["requests"] == []
        assert chat("hello") == "Hi there"  # reset restores the --script
    finally:
        p.kill()
        p.wait(5)


def test_fake_sse_wire_format(fake):
    fake.set_script([{"reply": "abcdef", "chunks": 3,
                      "bash": "echo hi", "times": 1}])
    body = {"model": MODEL, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "x"}]}
    raw = _http("POST", fake.base_url + "/chat/completions", body).decode()
    frames = [f for f in raw.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames)
    assert frames[-1] == "data: [DONE]"
    chunks = [json.loads(f[6:]) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    choice_chunks = [c for c in chunks if c["choices"]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in choice_chunks)
    assert text == "abcdef"
    calls = [tc for c in choice_chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["id"] and calls[0]["function"]["name"] == "bash"
    assert len(calls) >= 3 and all("id" not in tc for tc in calls[1:])
    args = "".join(tc["function"].get("arguments", "") for tc in calls)
    assert json.loads(args)["command"] == "echo hi"
    assert choice_chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


# -- the real runtime ---------------------------------------------------------

def test_connect_and_ping(spawn):
    rt = spawn()
    pong = rt.request("ping", {"message": "probe"})
    assert pong["message"] == "pong: probe" and pong["protocolVersion"] == 3
    assert rt.request("status.get", {})["protocolVersion"] == 3
    with pytest.raises(RpcError) as e:
        rt.request("no.such.method", {})
    assert e.value.code == -32601


def test_create_and_plain_text_turn_streams(spawn, sandbox, fake):
    env, work = sandbox
    text = "Hi there, I am the fake model."
    fake.set_script([{"match": "hello", "reply": text, "chunks": 3, "delay": 0.05}])
    rt = spawn()
    mark = rt.mark()
    res = rt.request("session.create", create_params(fake, work, SID))
    assert res["sessionId"] == SID
    assert res["modelState"]["modelId"] == MODEL
    assert res["workspacePath"].startswith(env["COPILOT_HOME"])
    start = rt.wait_event("session.start", mark)
    assert start["data"]["selectedModel"] == MODEL

    mark = send(rt, SID, "hello")
    evs = rt.events_until("session.idle", mark, TURN_TIMEOUT)
    user = of(evs, "user.message")[0]["data"]
    assert user["content"] == "hello"
    deltas = of(evs, "assistant.message_delta")
    final = of(evs, "assistant.message")
    assert len(final) == 1 and final[0]["data"]["content"] == text
    assert len(deltas) >= 2
    assert "".join(d["data"]["deltaContent"] for d in deltas) == text
    assert {d["data"]["messageId"] for d in deltas} == {final[0]["data"]["messageId"]}
    types = [e["type"] for e in evs]
    assert types.index("assistant.message_start") < types.index("assistant.message_delta")
    assert max(i for i, t in enumerate(types) if t == "assistant.message_delta") \
        < types.index("assistant.message") < types.index("session.idle")
    assert deltas[0].get("ephemeral") is True and of(evs, "session.idle")[0]["ephemeral"]
    assert of(evs, "session.idle")[0]["data"].get("aborted") is not True
    assert not of(evs, "session.error")

    reqs = fake.completions()
    assert len(reqs) == 1 and reqs[0]["stream"] is True
    assert reqs[0]["model"] == MODEL and reqs[0]["messages"][0]["role"] == "system"
    assert user_text(reqs[0]["messages"][-1]) == "hello"
    auth = [r for r in fake.requests if r["path"].endswith("/chat/completions")]
    assert auth[0]["headers"].get("Authorization") == "Bearer sk-fake"


def test_second_turn_carries_history(spawn, sandbox, fake):
    _, work = sandbox
    fake.set_script([{"match": "first", "reply": "reply one"},
                     {"match": "second", "reply": "reply two"}])
    rt = spawn()
    rt.request("session.create", create_params(fake, work, SID))
    for prompt in ("first question", "second question"):
        rt.events_until("session.idle", send(rt, SID, prompt), TURN_TIMEOUT)
    reqs = fake.completions()
    assert len(reqs) == 2
    convo = [(m["role"], user_text(m)) for m in reqs[1]["messages"][1:]]
    assert convo == [("user", "first question"), ("assistant", "reply one"),
                     ("user", "second question")]


def test_tool_call_permission_approved(spawn, sandbox, fake):
    _, work = sandbox
    fake.set_script([{"match": "run", "bash": "echo hi"},
                     {"when": "tool", "reply": "The tool said: {tool_result}"}])
    rt = spawn()
    rt.request("session.create", create_params(fake, work, SID))
    mark = send(rt, SID, "please run it")
    pr = rt.wait_event("permission.requested", mark, TURN_TIMEOUT)
    req = pr["data"]["permissionRequest"]
    assert req["kind"] == "shell" and req["fullCommandText"] == "echo hi"
    assert not pr["data"].get("resolvedByHook")
    ans = rt.request("session.permissions.handlePendingPermissionRequest",
                     {"sessionId": SID, "requestId": pr["data"]["requestId"],
                      "result": {"kind": "approve-once"}})
    assert ans == {"success": True}
    evs = rt.events_until("session.idle", mark, TURN_TIMEOUT)

    done = of(evs, "permission.completed")[0]["data"]
    assert done["requestId"] == pr["data"]["requestId"]
    assert done["result"]["kind"] == "approved"
    start = of(evs, "tool.execution_start")[0]["data"]
    assert start["toolName"] == "bash" and start["arguments"]["command"] == "echo hi"
    complete = of(evs, "tool.execution_complete")[0]["data"]
    assert complete["success"] is True and complete["toolCallId"] == req["toolCallId"]
    assert complete["result"]["content"].startswith("hi\n")
    msgs = [e["data"]["content"] for e in of(evs, "assistant.message")]
    assert msgs[0] == "" and of(evs, "assistant.message")[0]["data"]["toolRequests"]
    assert msgs[-1] == "The tool said: " + complete["result"]["content"]

    reqs = fake.completions()
    assert len(reqs) == 2
    call, result = reqs[1]["messages"][-2:]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["name"] == "bash"
    assert result["role"] == "tool" and result["tool_call_id"] == call["tool_calls"][0]["id"]
    assert result["content"].startswith("hi\n")


def test_tool_call_permission_rejected(spawn, sandbox, fake):
    _, work = sandbox
    fake.set_script([{"match": "run", "bash": "echo hi"},
                     {"when": "tool", "reply": "The tool said: {tool_result}"}])
    rt = spawn()
    rt.request("session.create", create_params(fake, work, SID))
    mark = send(rt, SID, "run it")
    pr = rt.wait_event("permission.requested", mark, TURN_TIMEOUT)
    rt.request("session.permissions.handlePendingPermissionRequest",
               {"sessionId": SID, "requestId": pr["data"]["requestId"],
                "result": {"kind": "reject", "feedback": "not allowed"}})
    evs = rt.events_until("session.idle", mark, TURN_TIMEOUT)
    assert of(evs, "permission.completed")[0]["data"]["result"]["kind"] == \
        "denied-interactively-by-user"
    complete = of(evs, "tool.execution_complete")[0]["data"]
    assert complete["success"] is False and complete["error"]["code"] == "denied"
    assert "not allowed" in of(evs, "assistant.message")[-1]["data"]["content"]


def test_resume_after_restart_keeps_history(spawn, sandbox, fake):
    env, work = sandbox
    fake.set_script([{"match": "remember", "reply": "I will remember 42."}])
    rt = spawn()
    rt.request("session.create", create_params(fake, work, SID))
    rt.events_until("session.idle", send(rt, SID, "remember 42"), TURN_TIMEOUT)
    assert rt.request("session.detach", {"sessionId": SID}) == {"success": True}
    assert rt.request("runtime.shutdown", {}) == {}
    assert rt.close(timeout=5) == 0
    assert (Path(env["COPILOT_HOME"]) / "session-state" / SID / "events.jsonl").is_file()

    rt = spawn()
    with pytest.raises(RpcError) as e:
        rt.request("session.resume", {"sessionId": "00000000-0000-4000-8000-000000000000",
                                      "workingDirectory": work})
    assert e.value.code == -32603 and "not found" in e.value.message.lower()
    mark = rt.mark()
    # The provider is not persisted: resume must carry it again.
    res = rt.request("session.resume", create_params(fake, work, SID))
    assert res["sessionId"] == SID
    resumed = rt.wait_event("session.resume", mark, 10)["data"]
    assert resumed["eventCount"] > 0 and resumed["selectedModel"] == MODEL
    history = rt.request("session.getMessages", {"sessionId": SID})["events"]
    assert [e["data"]["content"] for e in of(history, "user.message")] == ["remember 42"]

    evs = rt.events_until("session.idle", send(rt, SID, "what was it?"), TURN_TIMEOUT)
    assert of(evs, "assistant.message")[-1]["data"]["content"] == "echo: what was it?"
    convo = [(m["role"], user_text(m)) for m in fake.completions()[-1]["messages"][1:]]
    assert convo == [("user", "remember 42"), ("assistant", "I will remember 42."),
                     ("user", "what was it?")]


def test_hooks_invoke(spawn, sandbox, fake):
    _, work = sandbox
    fake.set_script([{"match": "deny", "bash": "echo no"},
                     {"match": "run", "bash": "echo hi"},
                     {"when": "tool", "reply": "done"}])
    calls = []

    def on_hook(params):
        calls.append(params)
        if params["hookType"] == "preToolUse" and params["input"]["toolArgs"]["command"] == "echo no":
            return {"output": {"permissionDecision": "deny",
                               "permissionDecisionReason": "policy"}}
        return {}

    rt = spawn({"hooks.invoke": on_hook})
    rt.request("session.create", create_params(fake, work, SID, hooks=True))
    assert not calls  # nothing is invoked at create time
    mark = send(rt, SID, "run something")
    pr = rt.wait_event("permission.requested", mark, TURN_TIMEOUT)
    rt.request("session.permissions.handlePendingPermissionRequest",
               {"sessionId": SID, "requestId": pr["data"]["requestId"],
                "result": {"kind": "approve-once"}})
    evs = rt.events_until("session.idle", mark, TURN_TIMEOUT)
    assert [c["hookType"] for c in calls] == [
        "userPromptSubmitted", "userPromptTransformed", "sessionStart",
        "preToolUse", "postToolUse", "agentStop", "sessionEnd"]
    by = {c["hookType"]: c for c in calls}
    assert all(c["sessionId"] == SID and c["input"]["cwd"] == work for c in calls)
    assert by["userPromptSubmitted"]["input"]["prompt"] == "run something"
    assert isinstance(by["userPromptSubmitted"]["input"]["timestamp"], int)
    assert by["sessionStart"]["input"]["source"] == "new"
    assert by["preToolUse"]["input"]["toolName"] == "bash"
    assert by["preToolUse"]["input"]["toolArgs"]["command"] == "echo hi"
    assert by["postToolUse"]["input"]["toolResult"]["resultType"] == "success"
    assert by["sessionEnd"]["input"]["reason"] == "complete"
    # The permission prompt comes after preToolUse was answered.
    pre = [i for i, (_, d, m) in enumerate(rt.transcript)
           if d == "<<" and m.get("method") == "hooks.invoke"
           and m["params"]["hookType"] == "preToolUse"][0]
    perm = [i for i, (_, d, m) in enumerate(rt.transcript)
            if d == "<<" and m.get("method") == "session.event"
            and m["params"]["event"]["type"] == "permission.requested"][0]
    assert pre < perm
    assert {e["data"]["hookType"] for e in of(evs, "hook.end")} == set(by)

    # A preToolUse deny: no permission prompt, the tool fails as denied.
    del calls[:]
    mark = send(rt, SID, "deny this")
    evs = rt.events_until("session.idle", mark, TURN_TIMEOUT)
    assert not of(evs, "permission.requested")
    complete = of(evs, "tool.execution_complete")[0]["data"]
    assert complete["success"] is False and complete["error"]["code"] == "denied"
    assert complete["error"]["message"] == "Denied by preToolUse hook: policy"
    assert "sessionStart" not in [c["hookType"] for c in calls]


def test_abort_mid_stream(spawn, sandbox, fake):
    _, work = sandbox
    fake.set_script([{"reply": "one two three four five six", "chunks": 6, "delay": 0.4}])
    rt = spawn()
    rt.request("session.create", create_params(fake, work, SID))
    mark = send(rt, SID, "talk slowly")
    rt.wait_event("assistant.message_delta", mark, TURN_TIMEOUT)
    t0 = time.monotonic()
    assert rt.request("session.abort", {"sessionId": SID}) == {"success": True}
    evs = rt.events_until("session.idle", mark, 10)
    assert time.monotonic() - t0 < 5.0  # generous: loaded CI machines
    assert of(evs, "abort")[0]["data"]["reason"] == "user_initiated"
    assert of(evs, "session.idle")[-1]["data"]["aborted"] is True
    assert not of(evs, "assistant.message")
    # The session stays usable.
    fake.set_script([])
    evs = rt.events_until("session.idle", send(rt, SID, "again"), TURN_TIMEOUT)
    assert of(evs, "assistant.message")[-1]["data"]["content"] == "echo: again"


def test_shutdown_and_stdin_eof(spawn, sandbox, fake):
    _, work = sandbox
    rt = spawn()
    rt.request("session.create", create_params(fake, work, SID))
    assert rt.request("runtime.shutdown", {}) == {}
    assert rt.close(timeout=5) == 0
    rt = spawn()
    assert rt.close(timeout=5) == 0  # stdin EOF alone ends it (else TERM: -15)
