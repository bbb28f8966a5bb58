"""Spans from every process to an OTLP collector (tests/fakes/otlp.py), and
telemetry settings changed live: exporters rebuilt, the runtime restarted
with its new environment, sessions and workers untouched (SC-008)."""

import importlib.util
import json
import os
import signal
import time

import pytest

from bridge import children_of, sanitized, wait_for
from llm import RUNTIME, copilot_chat

_spec = importlib.util.spec_from_file_location("fake_otlp", os.path.join(
    os.path.dirname(__file__), "..", "fakes", "otlp.py"))
fake_otlp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_otlp)


@pytest.fixture
def collectors():
    made = []

    def make(port=0):
        c = fake_otlp.FakeOTLP(port=port)
        c.start()
        made.append(c)
        return c
    yield make
    for c in made:
        c.stop()


def echo_chat(bridge_factory, collector):
    """The echo backend on fake Mattermost, bot "a" answering everything in
    town-square, spans going to collector."""
    b = bridge_factory(bots=("a",), start=False)
    fake = bridge_factory.fake
    chan = fake.channel("town-square")["id"]
    b.config["channels"][0].update(id=chan, triggerMode="all")
    b.config["telemetry"] = {"otlpEndpoint": collector.url, "sourceName": "cb-test"}
    b.write_config(b.config)
    b.start()
    bot = fake.user("a")["id"]

    def answers():
        return [p for p in fake.control("GET", f"/channels/{chan}/posts")["posts"]
                if p["user_id"] == bot]
    return b, fake, chan, answers


def test_a_turn_is_one_trace_from_worker_to_sessiond(bridge_factory, collectors):
    a = collectors()
    b, fake, chan, answers = echo_chat(bridge_factory, a)
    fake.post("alice", chan, "hello spans")
    wait_for(lambda: answers(), timeout=10, what="the answer")
    a.wait_spans(1, timeout=10, name="session.turn")
    turn = a.spans("session.turn")[0]
    inbound = [s for s in a.spans("message.inbound") if s["traceId"] == turn["traceId"]]
    assert len(inbound) == 1, a.spans()
    assert turn["parentSpanId"] == inbound[0]["spanId"]
    res = inbound[0]["resource"]
    assert res["service.name"] == "cb-test"
    assert res["copilot_bridge.process"] == "worker"
    assert res["copilot_bridge.bot"] == "mattermost:a"
    assert res["copilot_bridge.generation"] == 1
    assert turn["resource"]["copilot_bridge.process"] == "sessiond"
    assert turn["attributes"]["channel"] == chan
    assert turn["attributes"]["bot"] == "mattermost:a"
    assert inbound[0]["attributes"]["channel"] == chan
    # A hooks reload is a span of its own.
    r = b.ctl("reload-hooks", chan)
    assert r.returncode == 0, r
    a.wait_spans(1, timeout=10, name="reload.hooks")
    hk = a.spans("reload.hooks")[0]
    assert hk["attributes"]["trigger"] == "ctl reload-hooks"
    assert hk["attributes"]["channel"] == chan
    assert hk["resource"]["copilot_bridge.process"] == "sessiond"
    assert a.rejected == []


def test_a_new_endpoint_takes_effect_without_restarting_anything(
        bridge_factory, collectors):
    a, b2 = collectors(), collectors()
    b, fake, chan, answers = echo_chat(bridge_factory, a)
    fake.post("alice", chan, "one")
    wait_for(lambda: len(answers()) == 1, timeout=10, what="answer 1")
    a.wait_spans(1, timeout=10, name="session.turn")
    pids = dict(b.workers()), b.sessiond()
    b.config["telemetry"]["otlpEndpoint"] = b2.url
    b.write_config(b.config)
    b.signal(signal.SIGHUP)
    b.wait_log(r"telemetry reconfigured", name="sessiond.log", timeout=5)
    time.sleep(0.5)          # let the old exporters drain what they had
    a_before = len(a.spans())
    t0 = time.monotonic()
    fake.post("alice", chan, "two")
    wait_for(lambda: b2.spans("session.turn") and b2.spans("message.inbound"),
             timeout=5, step=0.05, what="spans at the new collector within 5 s")
    assert time.monotonic() - t0 < 5
    time.sleep(1.5)          # one batch period: anything late would be here
    assert len(a.spans()) == a_before, [s["name"] for s in a.spans()[a_before:]]
    assert (dict(b.workers()), b.sessiond()) == pids
    assert len(answers()) == 2


def test_a_failing_or_absent_collector_costs_nothing_but_spans(
        bridge_factory, collectors, tmp_path):
    a = collectors()
    port = a.port
    b, fake, chan, answers = echo_chat(bridge_factory, a)
    a.set_fail(500, count=-1)
    sd = b.sessiond()

    def rss(pid):
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    def converse(text, timeout=10):
        # One at a time: a message arriving mid-turn steers it instead.
        n = len(answers())
        fake.post("alice", chan, text)
        wait_for(lambda: len(answers()) > n, timeout=timeout, step=0.01,
                 what=f"the answer to {text!r}")
    for i in range(20):
        converse(f"warm {i}")
    before = rss(sd)
    for i in range(300):
        converse(f"while failing {i}")
    # Spans wait in a bounded queue (2048, test_otel.c proves the bound):
    # 300 failed turns cost a few hundred KiB at most.  Not measurable under
    # AddressSanitizer, whose quarantine keeps freed memory resident.
    if not sanitized(sd):
        assert rss(sd) - before < 8 * 1024, (before, rss(sd))
    assert a.spans() == []
    # Down altogether, then back on the same port: spans flow again.
    a.stop()
    converse("while down")
    back = collectors(port=port)
    converse("after")
    wait_for(lambda: any(s["name"] == "session.turn" for s in back.spans()),
             timeout=40, step=0.2, what="spans at the collector once it is back")
    assert b.sessiond() == sd


runtime = pytest.mark.skipif(not os.path.exists(RUNTIME),
                             reason="the Copilot runtime is not installed (make deps)")


def runtime_pid(sessiond):
    for pid, argv in children_of(sessiond).items():
        if argv and argv[0].endswith(b"copilot-runtime"):
            return pid
    return None


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)


@runtime
def test_sc008_runtime_restarts_with_the_new_endpoint_and_keeps_context(
        bridge_factory, tmp_path, monkeypatch, collectors):
    a, b2 = collectors(), collectors()
    monkeypatch.setenv("OTLP_TEST_AUTH", "Bearer otlp-secret-1234")
    ws = tmp_path / "ws"
    (ws / ".github" / "hooks").mkdir(parents=True)
    envdump = tmp_path / "hook-env.txt"
    (ws / ".github" / "hooks" / "hooks.json").write_text(json.dumps(
        {"version": 1, "hooks": {"preToolUse": [
            {"type": "command", "bash": f"env > {envdump}; echo '{{\"permissionDecision\":\"allow\"}}'"}]}}))

    def tweak(cfg, c):
        cfg["telemetry"] = {"otlpEndpoint": a.url, "authEnv": "OTLP_TEST_AUTH"}
        cfg["channels"][0]["workingDirectory"] = str(ws)
        cfg["defaults"]["allowWorkspaceHooks"] = True
    chat = copilot_chat(bridge_factory, tmp_path, monkeypatch, tweak)
    try:
        chat.llm.script([{"match": "run", "bash": "echo ran-marker"},
                         {"when": "tool", "reply": "Tool output: {tool_result}"},
                         {"match": "remember", "reply": "I will remember."},
                         {"match": "recall", "reply": "recalled"}])
        chat.say("remember the word zebra-42")
        chat.wait_text(lambda t: t == "I will remember.")
        sd = chat.bridge.sessiond()
        rt = wait_for(lambda: runtime_pid(sd), timeout=10, what="the runtime")
        env = environ_of(rt)
        assert env[b"OTEL_EXPORTER_OTLP_ENDPOINT"] == a.url.encode()
        assert env[b"OTEL_EXPORTER_OTLP_HEADERS"] == b"Authorization=Bearer otlp-secret-1234"
        assert b"OTLP_TEST_AUTH" not in env
        # A hook sees neither the header nor the variable naming it.
        chat.say("run it")
        chat.wait_text(lambda t: t.startswith("Tool output:") and "ran-marker" in t)
        hook_env = envdump.read_text()
        assert "otlp-secret-1234" not in hook_env and "OTLP_TEST_AUTH" not in hook_env
        a.wait_spans(1, timeout=10, name="session.turn")
        workers = dict(chat.bridge.workers())

        cfg = chat.bridge.config
        cfg["telemetry"]["otlpEndpoint"] = b2.url
        chat.bridge.write_config(cfg)
        chat.bridge.signal(signal.SIGHUP)
        new_rt = wait_for(lambda: (p := runtime_pid(sd)) and p != rt and p, timeout=15,
                          what="the runtime restarted")
        assert environ_of(new_rt)[b"OTEL_EXPORTER_OTLP_ENDPOINT"] == b2.url.encode()
        chat.bridge.wait_log(r"session \S+ resumed on the new runtime",
                             name="sessiond.log", timeout=15)
        time.sleep(0.5)
        a_before = len([s for s in a.spans() if s["name"] == "session.turn"])
        t0 = time.monotonic()
        chat.say("recall the word")
        chat.wait_text(lambda t: t == "recalled")
        wait_for(lambda: b2.spans("session.turn"), timeout=5, step=0.05,
                 what="session.turn at the new collector")
        assert time.monotonic() - t0 < 10
        assert len([s for s in a.spans() if s["name"] == "session.turn"]) == a_before
        # The model saw the earlier turn: the session kept its context.
        last = chat.llm.requests()[-1]
        assert "zebra-42" in json.dumps(last["messages"])
        assert dict(chat.bridge.workers()) == workers
        assert chat.bridge.sessiond() == sd
    finally:
        chat.close()
