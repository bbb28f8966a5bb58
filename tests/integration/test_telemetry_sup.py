"""Spans of the supervisor and the workers, as a collector sees them: the
bridge (echo backend, fake Mattermost) exports to the in-process fake OTLP
collector (tests/fakes/otlp.py).  message.inbound from a worker,
reload.bot for a swap with its phases, reload.config for SIGHUP, a file
change and an invalid file, and a telemetry-only change that moves every
exporter to another collector without swapping any worker.  Every wait is
bounded.

    BRIDGE_BIN=$PWD/build/bin /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        tests/integration/test_telemetry_sup.py
"""

import importlib.util
import signal
import time
from pathlib import Path

import pytest

from bridge import FakeMM, fake_mm_seed, mm_config, wait_for

FAKE_OTLP = Path(__file__).resolve().parent.parent / "fakes" / "otlp.py"
_spec = importlib.util.spec_from_file_location("fake_otlp", FAKE_OTLP)
fake_otlp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_otlp)

STATUS_OK, STATUS_ERROR = 1, 2
PHASES = ["spawn", "ready", "route", "drain", "drained"]


@pytest.fixture
def otlp():
    c = fake_otlp.FakeOTLP()
    c.start()
    yield c
    c.stop()


class Chat:
    """Bots a and b on a fake Mattermost, alice an admin, town-square served
    by bot a with triggerMode all; telemetry to the collector given."""

    def __init__(self, bridge_factory, tmp_path, collector):
        self.mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a", "b"),
                                                     humans=("alice", "bob")))
        self.chan = self.mm.channel("town-square")["id"]
        self.bot_id = self.mm.user("a")["id"]
        cfg = mm_config(tmp_path, self.mm, bots=("a", "b"))
        cfg["channels"][0].update(id=self.chan, triggerMode="all",
                                  threadedReplies=False)
        cfg["platforms"]["mattermost"]["admins"] = ["alice"]
        cfg["telemetry"] = {"otlpEndpoint": collector.url,
                            "sourceName": "bridge-test"}
        self.cfg = cfg
        self.bridge = bridge_factory(config=cfg)

    def say(self, text, user="alice"):
        return self.mm.post(user, self.chan, text)

    def bot_posts(self):
        posts = self.mm.control("GET", f"/channels/{self.chan}/posts")["posts"]
        return [p for p in posts if p["user_id"] == self.bot_id]

    def wait_text(self, pred, timeout=20):
        return wait_for(
            lambda: next((p for p in self.bot_posts() if pred(p["message"])), None),
            timeout=timeout, step=0.05, what="a bot post")

    def stop(self):
        self.bridge.stop()
        self.mm.stop()


@pytest.fixture
def chat(bridge_factory, tmp_path, otlp):
    c = Chat(bridge_factory, tmp_path, otlp)
    yield c
    c.stop()


def of_bot_a(post):
    """Bots a and b both see town-square: the span of bot a's worker."""
    return lambda s: (s["attributes"].get("message.id") == post["id"]
                      and s["resource"].get("copilot_bridge.bot") == "mattermost:a")


def wait_span(collector, name, pred=lambda s: True, timeout=10):
    """The first span named name that pred accepts, waiting at most
    timeout s (a batch leaves within OTEL_BATCH_MS)."""
    return wait_for(lambda: next((s for s in collector.spans(name) if pred(s)), None),
                    timeout=timeout, step=0.05, what=f"a {name} span")


def test_inbound_swap_and_sighup_spans(chat, otlp):
    b = chat.bridge
    post = chat.say("hello spans")
    chat.wait_text(lambda t: t == "hello spans")

    # message.inbound: one per chat message, from the worker, ended by the ack.
    sp = wait_span(otlp, "message.inbound",
                   of_bot_a(post))
    assert sp["attributes"]["channel"] == chat.chan, sp
    assert sp["attributes"]["platform"] == "mattermost", sp
    assert sp["parentSpanId"] == "", sp
    res = sp["resource"]
    assert res["copilot_bridge.process"] == "worker", res
    assert res["copilot_bridge.bot"] == "mattermost:a", res
    assert res["copilot_bridge.generation"] == 1, res
    assert res["service.name"] == "bridge-test", res
    assert res["process.pid"] == b.workers()["mattermost:a"], res
    assert sp["status"]["code"] in (0, STATUS_OK), sp

    # /reload bot a: a reload.config (the re-read) and a reload.bot span.
    chat.say("/reload bot a")
    out = chat.wait_text(lambda t: t.startswith(("✅ Reloaded mattermost:a", "❌")),
                         timeout=30)
    assert out["message"].startswith("✅ Reloaded mattermost:a"), out["message"]
    rb = wait_span(otlp, "reload.bot",
                   lambda s: s["attributes"].get("bot") == "mattermost:a")
    a = rb["attributes"]
    assert a["by"] == "@alice" and a["reason"] == "reload bot", a
    assert a["kind"] == "replace", a
    assert a["generation.old"] == 1 and a["generation.new"] == 2, a
    assert rb["status"]["code"] == STATUS_OK, rb
    assert rb["resource"]["copilot_bridge.process"] == "supervisor", rb
    assert "copilot_bridge.bot" not in rb["resource"], rb
    events = [e["name"] for e in rb["events"]]
    assert events == PHASES, events
    gens = {e["name"]: e["attributes"].get("generation") for e in rb["events"]}
    assert gens == {"spawn": "2", "ready": "2", "route": "2", "drain": "1",
                    "drained": "1"}, gens
    times = [e["timeUnixNano"] for e in rb["events"]]
    assert times == sorted(times), rb["events"]
    assert rb["startTimeUnixNano"] <= times[0] and times[-1] <= rb["endTimeUnixNano"]
    rc = wait_span(otlp, "reload.config",
                   lambda s: s["attributes"].get("trigger") == "chat")
    assert rc["attributes"]["by"] == "@alice", rc
    assert rc["attributes"]["outcome"] == "unchanged", rc
    assert rc["status"]["code"] == STATUS_OK, rc

    # Generation 2 exports its spans with its own resource.
    post = chat.say("after the swap")
    chat.wait_text(lambda t: t == "after the swap")
    sp = wait_span(otlp, "message.inbound",
                   of_bot_a(post))
    assert sp["resource"]["copilot_bridge.generation"] == 2, sp["resource"]

    # SIGHUP with the file unchanged.
    b.signal(signal.SIGHUP)
    rc = wait_span(otlp, "reload.config",
                   lambda s: s["attributes"].get("trigger") == "sighup")
    a = rc["attributes"]
    assert a["outcome"] == "unchanged", a
    assert (a["changes"], a["bot_reloads_needed"], a["telemetry_reload_needed"],
            a["restart_needed"]) == (0, 0, 0, 0), a
    assert rc["status"]["code"] == STATUS_OK, rc
    assert rc["resource"]["copilot_bridge.process"] == "supervisor", rc

    # A live change through the file watcher: counted.
    chat.cfg["logLevel"] = "info"
    b.write_config(chat.cfg)
    rc = wait_span(otlp, "reload.config",
                   lambda s: s["attributes"].get("trigger") == "file"
                   and s["attributes"].get("outcome") == "ok")
    assert rc["attributes"]["changes"] >= 1, rc
    assert rc["attributes"]["bot_reloads_needed"] == 0, rc

    # An invalid file: status ERROR with the error text.
    b.write_config(chat.cfg, raw='{"platforms": ')
    rc = wait_span(otlp, "reload.config",
                   lambda s: s["attributes"].get("outcome") == "invalid")
    assert rc["status"]["code"] == STATUS_ERROR, rc
    assert rc["status"]["message"], rc
    assert "bot_reloads_needed" not in rc["attributes"], rc
    b.write_config(chat.cfg)
    wait_span(otlp, "reload.config",
              lambda s: s["attributes"].get("trigger") == "file"
              and s["attributes"].get("outcome") == "unchanged")


def test_telemetry_change_moves_exporters_without_a_swap(chat, otlp):
    b = chat.bridge
    workers = b.workers()
    other = fake_otlp.FakeOTLP()
    other.start()
    try:
        chat.cfg["telemetry"] = {"otlpEndpoint": other.url,
                                 "sourceName": "bridge-test-2",
                                 "authEnv": "CB_TEST_OTEL_AUTH_UNSET"}
        b.write_config(chat.cfg)
        # The reload that moved it is the new collector's first span.
        rc = wait_span(other, "reload.config",
                       lambda s: s["attributes"].get("telemetry_reload_needed") == 1)
        a = rc["attributes"]
        assert a["outcome"] == "ok" and a["bot_reloads_needed"] == 0, a
        assert a["restart_needed"] == 0, a
        assert rc["resource"]["service.name"] == "bridge-test-2", rc
        b.wait_log(r"telemetry reconfigured: " + other.url.replace(".", r"\."),
                   timeout=5)
        # Every worker got it live (CONFIG_UPDATE): same processes, new target.
        post = chat.say("to the new collector")
        chat.wait_text(lambda t: t == "to the new collector")
        sp = wait_span(other, "message.inbound",
                       of_bot_a(post))
        assert sp["resource"]["copilot_bridge.generation"] == 1, sp
        assert sp["resource"]["service.name"] == "bridge-test-2", sp
        assert not otlp.spans("message.inbound") or all(
            s["attributes"].get("message.id") != post["id"]
            for s in otlp.spans("message.inbound"))
        assert b.workers() == workers
        assert not other.spans("reload.bot"), other.spans("reload.bot")
        assert "telemetryReloadNeeded" in b.log()
        assert "botReloadNeeded: " not in b.log()

        # Telemetry off: nothing more is exported, and nothing breaks.
        del chat.cfg["telemetry"]
        b.write_config(chat.cfg)
        b.wait_log(r"telemetry reconfigured: off", timeout=5)
        n = len(other.spans())
        post = chat.say("untraced")
        chat.wait_text(lambda t: t == "untraced")
        time.sleep(1.5)
        assert not [s for s in other.spans("message.inbound")
                    if s["attributes"].get("message.id") == post["id"]]
        assert len(other.spans()) >= n
        assert b.workers() == workers
    finally:
        other.stop()
    # authEnv names an unset variable: warned about, never a header logged.
    assert "CB_TEST_OTEL_AUTH_UNSET is not set" in b.all_logs()
    assert "Authorization:" not in b.all_logs()
