"""tests/fakes/otlp.py on its own: what it accepts and records, every kind
of violation it refuses, content types, failure and auth modes, the control
API and the CLI.  The official JS exporter's view is in
tests/conformance/otlp.test.mjs.

    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_fake_otlp.py
"""

import copy
import importlib.util
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

FAKE_PATH = Path(__file__).resolve().parent.parent / "fakes" / "otlp.py"
_spec = importlib.util.spec_from_file_location("fake_otlp", FAKE_PATH)
fo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fo)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = "b7ad6b7169203331"


def request_body(**span_over):
    span = {"traceId": TRACE, "spanId": SPAN, "parentSpanId": PARENT,
            "name": "session.turn", "kind": 1,
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000500000000",
            "attributes": [
                {"key": "s", "value": {"stringValue": "v"}},
                {"key": "i", "value": {"intValue": "-42"}},
                {"key": "b", "value": {"boolValue": True}},
                {"key": "d", "value": {"doubleValue": 1.5}},
                {"key": "a", "value": {"arrayValue": {"values": [
                    {"stringValue": "x"}, {"intValue": 7}]}}},
                {"key": "kv", "value": {"kvlistValue": {"values": [
                    {"key": "in", "value": {"stringValue": "side"}}]}}},
            ],
            "events": [{"timeUnixNano": "1700000000100000000", "name": "tool.start",
                        "attributes": [{"key": "tool", "value": {"stringValue": "bash"}}]}],
            "status": {"code": 2, "message": "boom"}}
    for k, v in span_over.items():
        if v is None:
            span.pop(k, None)
        else:
            span[k] = v
    return {"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "copilot-bridge"}},
            {"key": "copilot_bridge.process", "value": {"stringValue": "worker"}},
            {"key": "copilot_bridge.generation", "value": {"intValue": "3"}}]},
        "scopeSpans": [{"scope": {"name": "copilot-bridge"}, "spans": [span]}]}]}


def post(fake, body, ctype="application/json", headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": ctype, **(headers or {})}
    req = urllib.request.Request(fake.url + "/v1/traces", data=data, headers=h,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


def control(fake, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(fake.url + "/_fake" + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture
def fake():
    with fo.FakeOTLP() as f:
        yield f


def test_accepts_and_flattens(fake):
    status, body, _ = post(fake, request_body())
    assert status == 200 and body == {}
    [s] = fake.spans()
    assert s["traceId"] == TRACE and s["spanId"] == SPAN and s["parentSpanId"] == PARENT
    assert s["name"] == "session.turn" and s["kind"] == 1
    assert s["startTimeUnixNano"] == 1700000000000000000
    assert s["endTimeUnixNano"] == 1700000000500000000
    assert s["attributes"] == {"s": "v", "i": -42, "b": True, "d": 1.5,
                               "a": ["x", 7], "kv": {"in": "side"}}
    assert s["events"] == [{"name": "tool.start", "timeUnixNano": 1700000000100000000,
                            "attributes": {"tool": "bash"}}]
    assert s["status"] == {"code": 2, "message": "boom"}
    assert s["resource"] == {"service.name": "copilot-bridge",
                             "copilot_bridge.process": "worker",
                             "copilot_bridge.generation": 3}
    assert s["scope"] == {"name": "copilot-bridge", "version": ""}
    assert fake.requests == 1 and fake.rejected == []
    assert fake.spans("session.turn") == [s] and fake.spans("other") == []


def test_optional_fields(fake):
    body = request_body(parentSpanId=None, attributes=None, events=None, status=None,
                        startTimeUnixNano=1700000000000000000,
                        endTimeUnixNano=1700000000000000000)
    assert post(fake, body)[0] == 200
    body = request_body(parentSpanId="")
    assert post(fake, body)[0] == 200
    a, b = fake.spans()
    assert a["parentSpanId"] == "" and a["attributes"] == {} and a["events"] == []
    assert a["status"] == {"code": 0, "message": ""}
    assert b["parentSpanId"] == ""


BAD_SPANS = [
    ({"traceId": TRACE[:-1]}, "traceId"),
    ({"traceId": TRACE.upper()}, "lowercase hex"),
    ({"traceId": "0" * 32}, "all zero"),
    ({"spanId": "0" * 16}, "all zero"),
    ({"spanId": SPAN + "00"}, "spanId"),
    ({"parentSpanId": "xyz"}, "parentSpanId"),
    ({"traceId": None}, "traceId is required"),
    ({"name": ""}, "must not be empty"),
    ({"name": 5}, "must be a string"),
    ({"kind": 6}, "kind"),
    ({"kind": "SPAN_KIND_INTERNAL"}, "integer enum"),
    ({"kind": None}, "kind is required"),
    ({"startTimeUnixNano": "12x"}, "decimal"),
    ({"startTimeUnixNano": "0"}, "must not be 0"),
    ({"endTimeUnixNano": "1"}, "before the start"),
    ({"startTimeUnixNano": str(2 ** 64)}, "out of range"),
    ({"attributes": {}}, "must be an array"),
    ({"attributes": [{"key": "k"}]}, "value is required"),
    ({"attributes": [{"key": "k", "value": {}}]}, "exactly one"),
    ({"attributes": [{"key": "k", "value": {"stringValue": 1}}]}, "must be a string"),
    ({"attributes": [{"key": "k", "value": {"intValue": "1.5"}}]}, "decimal"),
    ({"attributes": [{"key": "k", "value": {"intValue": str(2 ** 63)}}]}, "int64"),
    ({"attributes": [{"key": "k", "value": {"boolValue": "true"}}]}, "boolean"),
    ({"attributes": [{"key": "k", "value": {"fooValue": 1}}]}, "unknown field"),
    ({"events": [{"name": "e"}]}, "timeUnixNano is required"),
    ({"events": [{"timeUnixNano": "1", "name": ""}]}, "must not be empty"),
    ({"status": {"code": 3}}, "0..2"),
    ({"status": {"code": 1, "message": 5}}, "must be a string"),
    ({"status": {"code": 1, "extra": 1}}, "unknown field"),
    ({"span_id": SPAN}, "unknown field"),
]


@pytest.mark.parametrize("over,needle", BAD_SPANS)
def test_refuses_bad_span(fake, over, needle):
    status, body, _ = post(fake, request_body(**over))
    assert status == 400, body
    assert body["code"] == 3 and needle in body["message"], body["message"]
    assert fake.spans() == []
    [r] = fake.rejected
    assert r["status"] == 400 and needle in r["error"]


def test_refuses_bad_envelope(fake):
    good = request_body()
    cases = [
        (b"{not json", "not JSON"),
        ([], "must be an object"),
        ({}, "resourceSpans is required"),
        ({"resourceSpans": {}}, "must be an array"),
        ({"resourceSpans": [{"resource": {}}]}, "scopeSpans is required"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]}, "must be an array"),
        ({"resourceSpans": [{"resource": {"attributes": [{"key": 1, "value": {
            "stringValue": "x"}}]}, "scopeSpans": []}]}, "must be a string"),
        ({"resourceSpans": [{"instrumentationLibrarySpans": []}]}, "unknown field"),
        ({**copy.deepcopy(good), "extra": 1}, "unknown field"),
    ]
    for body, needle in cases:
        status, answer, _ = post(fake, body)
        assert status == 400 and needle in answer["message"], (body, answer)
    assert len(fake.rejected) == len(cases)
    assert fake.spans() == []


def test_content_types(fake):
    assert post(fake, b"\x0a\x00", "application/x-protobuf")[0] == 415
    assert post(fake, request_body(), "text/plain")[0] == 415
    assert post(fake, request_body(), "application/json; charset=utf-8")[0] == 200
    assert [r["status"] for r in fake.rejected] == [415, 415]


def test_fail_modes(fake):
    fake.set_fail(503, 2)
    assert post(fake, request_body())[0] == 503
    assert post(fake, request_body())[0] == 503
    assert post(fake, request_body())[0] == 200
    fake.set_fail(429, 1, retry_after=2)
    status, _, headers = post(fake, request_body())
    assert status == 429 and headers.get("Retry-After") == "2"
    fake.set_fail(500, -1)
    assert all(post(fake, request_body())[0] == 500 for _ in range(3))
    state = fake.state()
    assert state["requests"] == 7 and state["failed"] == 6 and state["spans"] == 1
    fake.clear()
    assert post(fake, request_body())[0] == 200
    assert fake.requests == 1


def test_auth(fake):
    fake.set_auth("Bearer sekrit")
    assert post(fake, request_body())[0] == 401
    assert post(fake, request_body(), headers={"Authorization": "Bearer nope"})[0] == 401
    assert post(fake, request_body(), headers={"Authorization": "Bearer sekrit"})[0] == 200
    assert [r["status"] for r in fake.rejected] == [401, 401]
    assert fake.state()["posts"][-1]["headers"]["Authorization"] == "Bearer sekrit"
    fake.set_auth(None)
    assert post(fake, request_body())[0] == 200


def test_control_api(fake):
    post(fake, request_body())
    post(fake, request_body(name="other"))
    assert [s["name"] for s in control(fake, "GET", "/spans")["spans"]] == \
        ["session.turn", "other"]
    assert len(control(fake, "GET", "/spans?name=other")["spans"]) == 1
    assert control(fake, "POST", "/fail", {"status": 500, "count": 1}) == {"ok": True}
    assert post(fake, request_body())[0] == 500
    assert control(fake, "POST", "/auth", {"authorization": "x"}) == {"ok": True}
    assert post(fake, request_body())[0] == 401
    assert control(fake, "POST", "/auth", {"authorization": None}) == {"ok": True}
    state = control(fake, "GET", "/state")
    assert state["requests"] == 4 and state["accepted"] == 2 and state["failed"] == 1
    assert control(fake, "GET", "/rejected")["rejected"][0]["status"] == 401
    control(fake, "POST", "/clear")
    assert control(fake, "GET", "/state")["requests"] == 0
    assert fake.spans() == []


def test_down_is_stopped(fake):
    port = fake.port
    fake.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://127.0.0.1:%d/_fake/state" % port, timeout=2)


def test_cli(tmp_path):
    portfile = tmp_path / "port"
    p = subprocess.Popen([sys.executable, str(FAKE_PATH), "--port", "0",
                          "--port-file", str(portfile), "--require-auth", "Bearer c"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("LISTENING ")
        port = int(line.split()[1])
        assert int(portfile.read_text()) == port

        class F:
            url = "http://127.0.0.1:%d" % port
        assert post(F, request_body())[0] == 401
        assert post(F, request_body(), headers={"Authorization": "Bearer c"})[0] == 200
        assert len(control(F, "GET", "/spans")["spans"]) == 1
    finally:
        p.terminate()
        p.wait(5)
        p.stdout.close()
        p.stderr.close()
