#!/usr/bin/python3
"""A strict OTLP/HTTP JSON trace collector for tests.

Run:    /usr/bin/python3 tests/fakes/otlp.py --port 0 [--port-file P]
            [--require-auth VALUE]
Prints: LISTENING <port>        (bound to 127.0.0.1 only)

Endpoints
  POST /v1/traces         an ExportTraceServiceRequest as JSON (OTLP/HTTP
                          JSON encoding).  200 {} when accepted; 400 with a
                          google.rpc.Status {"code":3,"message":...} naming
                          the first violation; 415 for any other content
                          type (protobuf included); 401 without the required
                          Authorization; or the status set by /_fake/fail.
  GET  /_fake/spans[?name=N]  {"spans": [...]}: accepted spans, flattened
  GET  /_fake/state       {"requests", "accepted", "failed", "spans",
                           "rejected": [...], "posts": [...]}
  GET  /_fake/rejected    {"rejected": [{"status", "error"}...]}
  POST /_fake/clear       forget spans, requests, rejections; fail mode off
  POST /_fake/fail        {"status": 500|429|..., "count": N (-1: until
                          cleared), "retryAfter": seconds?}: the next N
                          exports answer that status and are not recorded
  POST /_fake/auth        {"authorization": "Bearer x"} or null: require it

A flattened span is
  {"traceId", "spanId", "parentSpanId" ("" if none), "name", "kind",
   "startTimeUnixNano", "endTimeUnixNano" (ints), "attributes": {k: v},
   "events": [{"name", "timeUnixNano", "attributes"}], "status": {"code",
   "message"}, "links", "resource": {k: v}, "scope": {"name", "version"}}
with attribute values decoded (intValue -> int, arrayValue -> list, ...).

Validation follows opentelemetry-proto trace/v1 with the OTLP/JSON rules:
lowerCamelCase keys only, unknown keys rejected, ids lowercase hex (trace 32,
span 16, never all zero), 64-bit integers as decimal strings or numbers,
enums as integers.  "down" is simply stop().
"""

import argparse
import asyncio
import copy
import json
import os
import re
import sys
import threading

from aiohttp import web

MAX_BODY = 16 * 1024 * 1024
MAX_KEPT = 20000
U64 = 2 ** 64
I64 = 2 ** 63

_HEX = {16: re.compile(r"^[0-9a-f]{16}$"), 32: re.compile(r"^[0-9a-f]{32}$")}
_DEC = re.compile(r"^-?[0-9]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

VALUE_KEYS = ("stringValue", "boolValue", "intValue", "doubleValue",
              "arrayValue", "kvlistValue", "bytesValue")


class Violation(ValueError):
    pass


def _fail(path, msg):
    raise Violation("%s: %s" % (path, msg))


def _obj(v, path, allowed, required=()):
    if not isinstance(v, dict):
        _fail(path, "must be an object")
    extra = sorted(set(v) - set(allowed))
    if extra:
        _fail(path, "unknown field %r" % extra[0])
    for k in required:
        if k not in v:
            _fail(path, "%s is required" % k)
    return v


def _list(v, path):
    if not isinstance(v, list):
        _fail(path, "must be an array")
    return v


def _str(v, path):
    if not isinstance(v, str):
        _fail(path, "must be a string")
    return v


def _uint(v, path, limit=U64):
    """A (u)int64 as OTLP/JSON allows it: decimal string or JSON integer."""
    if isinstance(v, bool):
        _fail(path, "must be an integer, not a boolean")
    if isinstance(v, str):
        if not _DEC.match(v):
            _fail(path, "must be a decimal integer string, got %r" % v)
        v = int(v)
    elif not isinstance(v, int):
        _fail(path, "must be an integer or a decimal string")
    if not 0 <= v < limit:
        _fail(path, "out of range: %d" % v)
    return v


def _int64(v, path):
    if isinstance(v, bool):
        _fail(path, "must be an integer, not a boolean")
    if isinstance(v, str):
        if not _DEC.match(v):
            _fail(path, "must be a decimal integer string, got %r" % v)
        v = int(v)
    elif not isinstance(v, int):
        _fail(path, "must be an integer or a decimal string")
    if not -I64 <= v < I64:
        _fail(path, "out of int64 range: %d" % v)
    return v


def _enum(v, path, hi):
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(path, "must be an integer enum value")
    if not 0 <= v <= hi:
        _fail(path, "must be 0..%d, got %d" % (hi, v))
    return v


def _id(v, path, nhex, optional=False):
    _str(v, path)
    if optional and v == "":
        return ""
    if not _HEX[nhex].match(v):
        _fail(path, "must be %d lowercase hex digits, got %r" % (nhex, v))
    if set(v) == {"0"}:
        _fail(path, "must not be all zero")
    return v


def any_value(v, path):
    """An AnyValue -> its Python value."""
    _obj(v, path, VALUE_KEYS)
    if len(v) != 1:
        _fail(path, "must hold exactly one of %s" % ", ".join(VALUE_KEYS))
    (k, x), = v.items()
    p = path + "." + k
    if k == "stringValue":
        return _str(x, p)
    if k == "boolValue":
        if not isinstance(x, bool):
            _fail(p, "must be a boolean")
        return x
    if k == "intValue":
        return _int64(x, p)
    if k == "doubleValue":
        if x in ("NaN", "Infinity", "-Infinity"):
            return float(x)
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            _fail(p, "must be a number")
        return float(x)
    if k == "bytesValue":
        if not isinstance(x, str) or not _B64.match(x):
            _fail(p, "must be a base64 string")
        return x
    if k == "arrayValue":
        _obj(x, p, ("values",))
        return [any_value(e, "%s.values[%d]" % (p, i))
                for i, e in enumerate(_list(x.get("values", []), p + ".values"))]
    _obj(x, p, ("values",))
    return attributes(x.get("values", []), p + ".values")


def attributes(v, path):
    """A KeyValue list -> dict."""
    out = {}
    for i, kv in enumerate(_list(v, path)):
        p = "%s[%d]" % (path, i)
        _obj(kv, p, ("key", "value"), ("key", "value"))
        out[_str(kv["key"], p + ".key")] = any_value(kv["value"], p + ".value")
    return out


def _attr_holder(v, path):
    """attributes + droppedAttributesCount of any message that has them."""
    if "droppedAttributesCount" in v:
        _uint(v["droppedAttributesCount"], path + ".droppedAttributesCount", 2 ** 32)
    return attributes(v.get("attributes", []), path + ".attributes")


def resource(v, path):
    _obj(v, path, ("attributes", "droppedAttributesCount", "entityRefs"))
    if "entityRefs" in v:
        _list(v["entityRefs"], path + ".entityRefs")
    return _attr_holder(v, path)


def scope(v, path):
    _obj(v, path, ("name", "version", "attributes", "droppedAttributesCount"))
    out = {"name": _str(v.get("name", ""), path + ".name"),
           "version": _str(v.get("version", ""), path + ".version")}
    _attr_holder(v, path)
    return out


def event(v, path):
    _obj(v, path, ("timeUnixNano", "name", "attributes", "droppedAttributesCount"),
         ("timeUnixNano", "name"))
    name = _str(v["name"], path + ".name")
    if not name:
        _fail(path + ".name", "must not be empty")
    return {"name": name, "timeUnixNano": _uint(v["timeUnixNano"], path + ".timeUnixNano"),
            "attributes": _attr_holder(v, path)}


def link(v, path):
    _obj(v, path, ("traceId", "spanId", "traceState", "attributes",
                   "droppedAttributesCount", "flags"), ("traceId", "spanId"))
    if "traceState" in v:
        _str(v["traceState"], path + ".traceState")
    if "flags" in v:
        _uint(v["flags"], path + ".flags", 2 ** 32)
    return {"traceId": _id(v["traceId"], path + ".traceId", 32),
            "spanId": _id(v["spanId"], path + ".spanId", 16),
            "attributes": _attr_holder(v, path)}


def status(v, path):
    _obj(v, path, ("code", "message"))
    return {"code": _enum(v.get("code", 0), path + ".code", 2),
            "message": _str(v.get("message", ""), path + ".message")}


SPAN_KEYS = ("traceId", "spanId", "traceState", "parentSpanId", "flags", "name",
             "kind", "startTimeUnixNano", "endTimeUnixNano", "attributes",
             "droppedAttributesCount", "events", "droppedEventsCount", "links",
             "droppedLinksCount", "status")
SPAN_REQUIRED = ("traceId", "spanId", "name", "kind", "startTimeUnixNano",
                 "endTimeUnixNano")


def span(v, path):
    _obj(v, path, SPAN_KEYS, SPAN_REQUIRED)
    name = _str(v["name"], path + ".name")
    if not name:
        _fail(path + ".name", "must not be empty")
    start = _uint(v["startTimeUnixNano"], path + ".startTimeUnixNano")
    end = _uint(v["endTimeUnixNano"], path + ".endTimeUnixNano")
    if start == 0:
        _fail(path + ".startTimeUnixNano", "must not be 0")
    if end < start:
        _fail(path + ".endTimeUnixNano", "%d is before the start %d" % (end, start))
    for k in ("droppedEventsCount", "droppedLinksCount", "flags"):
        if k in v:
            _uint(v[k], path + "." + k, 2 ** 32)
    if "traceState" in v:
        _str(v["traceState"], path + ".traceState")
    return {
        "traceId": _id(v["traceId"], path + ".traceId", 32),
        "spanId": _id(v["spanId"], path + ".spanId", 16),
        "parentSpanId": _id(v.get("parentSpanId", ""), path + ".parentSpanId", 16,
                            optional=True),
        "name": name,
        "kind": _enum(v["kind"], path + ".kind", 5),
        "startTimeUnixNano": start,
        "endTimeUnixNano": end,
        "attributes": _attr_holder(v, path),
        "events": [event(e, "%s.events[%d]" % (path, i))
                   for i, e in enumerate(_list(v.get("events", []), path + ".events"))],
        "links": [link(e, "%s.links[%d]" % (path, i))
                  for i, e in enumerate(_list(v.get("links", []), path + ".links"))],
        "status": status(v.get("status", {}), path + ".status"),
    }


def validate(body):
    """An ExportTraceServiceRequest -> its spans, flattened; raises Violation."""
    _obj(body, "request", ("resourceSpans",), ("resourceSpans",))
    out = []
    for i, rs in enumerate(_list(body["resourceSpans"], "resourceSpans")):
        p = "resourceSpans[%d]" % i
        _obj(rs, p, ("resource", "scopeSpans", "schemaUrl"), ("scopeSpans",))
        if "schemaUrl" in rs:
            _str(rs["schemaUrl"], p + ".schemaUrl")
        res = resource(rs.get("resource", {}), p + ".resource")
        for j, ss in enumerate(_list(rs["scopeSpans"], p + ".scopeSpans")):
            q = "%s.scopeSpans[%d]" % (p, j)
            _obj(ss, q, ("scope", "spans", "schemaUrl"), ("spans",))
            if "schemaUrl" in ss:
                _str(ss["schemaUrl"], q + ".schemaUrl")
            sc = scope(ss.get("scope", {}), q + ".scope")
            for k, sp in enumerate(_list(ss["spans"], q + ".spans")):
                flat = span(sp, "%s.spans[%d]" % (q, k))
                flat["resource"] = res
                flat["scope"] = sc
                out.append(flat)
    return out


class FakeOTLP:
    """The fake collector. start()/stop() serve from a daemon thread (for
    pytest); start_async() serves in the caller's loop (the CLI)."""

    def __init__(self, host="127.0.0.1", port=0, require_auth=None):
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._auth = require_auth
        self._thread = self._loop = self._runner = None
        self._reset_locked()

    def _reset_locked(self):
        self._spans, self._rejected, self._posts = [], [], []
        self._requests = self._accepted = self._failed = 0
        self._fail_status, self._fail_count, self._retry_after = None, 0, None

    # -- state, safe from any thread -----------------------------------------
    def spans(self, name=None):
        with self._lock:
            return [copy.deepcopy(s) for s in self._spans
                    if name is None or s["name"] == name]

    def clear(self):
        with self._lock:
            self._reset_locked()

    def set_fail(self, status, count=1, retry_after=None):
        """The next count exports (-1: all until clear()) answer status."""
        with self._lock:
            self._fail_status = int(status) if status else None
            self._fail_count = int(count)
            self._retry_after = retry_after

    def set_auth(self, value):
        with self._lock:
            self._auth = value

    @property
    def requests(self):
        with self._lock:
            return self._requests

    @property
    def rejected(self):
        with self._lock:
            return copy.deepcopy(self._rejected)

    def state(self):
        with self._lock:
            return {"requests": self._requests, "accepted": self._accepted,
                    "failed": self._failed, "spans": len(self._spans),
                    "rejected": copy.deepcopy(self._rejected),
                    "posts": copy.deepcopy(self._posts)}

    def wait_spans(self, n, timeout=10.0, name=None):
        """Block until at least n spans (named name) arrived; returns them."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            got = self.spans(name)
            if len(got) >= n:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError("%d of %d spans after %.1f s" % (len(got), n, timeout))
            time.sleep(0.02)

    # -- HTTP ------------------------------------------------------------------
    def _note(self, request, status, nspans=0, error=None):
        keep = {k: v for k, v in request.headers.items()
                if k.lower() in ("authorization", "content-type", "content-encoding",
                                 "user-agent")}
        with self._lock:
            self._posts.append({"status": status, "headers": keep, "spans": nspans})
            del self._posts[:-MAX_KEPT]
            if error is not None:
                self._rejected.append({"status": status, "error": error})
                del self._rejected[:-MAX_KEPT]

    def _take_failure(self):
        with self._lock:
            self._requests += 1
            if self._fail_status is None or self._fail_count == 0:
                return None, None
            if self._fail_count > 0:
                self._fail_count -= 1
            self._failed += 1
            return self._fail_status, self._retry_after

    async def _export(self, request):
        status, retry_after = self._take_failure()
        if status is not None:
            self._note(request, status)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return _rpc_status(status, 14 if status >= 500 or status == 429 else 3,
                               "fake failure", headers)
        with self._lock:
            auth = self._auth
        if auth is not None and request.headers.get("Authorization") != auth:
            return self._reject(request, 401, 16, "missing or wrong Authorization")
        ctype = request.content_type
        if ctype != "application/json":
            return self._reject(request, 415, 3,
                                "content type %r: only application/json is served" % ctype)
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError) as e:
            return self._reject(request, 400, 3, "body is not JSON: %s" % e)
        try:
            flat = validate(body)
        except Violation as e:
            return self._reject(request, 400, 3, str(e))
        with self._lock:
            self._accepted += 1
            self._spans.extend(flat)
            del self._spans[:-MAX_KEPT]
        self._note(request, 200, len(flat))
        return web.json_response({})

    def _reject(self, request, status, code, msg):
        self._note(request, status, error=msg)
        return _rpc_status(status, code, msg)

    async def _get_spans(self, request):
        return web.json_response({"spans": self.spans(request.query.get("name"))})

    async def _get_state(self, request):
        return web.json_response(self.state())

    async def _get_rejected(self, request):
        return web.json_response({"rejected": self.rejected})

    async def _clear(self, request):
        self.clear()
        return web.json_response({"ok": True})

    async def _set_fail(self, request):
        try:
            b = await request.json()
            self.set_fail(b.get("status"), b.get("count", 1), b.get("retryAfter"))
        except (ValueError, TypeError, AttributeError) as e:
            return web.json_response({"ok": False, "error": str(e)}, status=400)
        return web.json_response({"ok": True})

    async def _set_auth(self, request):
        try:
            b = await request.json()
        except ValueError as e:
            return web.json_response({"ok": False, "error": str(e)}, status=400)
        self.set_auth(b.get("authorization") if isinstance(b, dict) else None)
        return web.json_response({"ok": True})

    def build_app(self):
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/v1/traces", self._export)
        app.router.add_get("/_fake/spans", self._get_spans)
        app.router.add_get("/_fake/state", self._get_state)
        app.router.add_get("/_fake/rejected", self._get_rejected)
        app.router.add_post("/_fake/clear", self._clear)
        app.router.add_post("/_fake/fail", self._set_fail)
        app.router.add_post("/_fake/auth", self._set_auth)
        return app

    async def start_async(self):
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, shutdown_timeout=1.0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self.port

    async def stop_async(self):
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    # -- thread mode for synchronous callers -----------------------------------
    async def _serve_until_stopped(self):
        await self._stopping.wait()
        await self.stop_async()
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in left:
            t.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    def start(self, timeout=10.0):
        """Serve from a daemon thread; returns the port."""
        ready = threading.Event()
        err = []

        def run():
            loop = self._loop = asyncio.new_event_loop()
            self._stopping = asyncio.Event()
            try:
                loop.run_until_complete(self.start_async())
            except Exception as e:  # reported to start()'s caller
                err.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_until_complete(self._serve_until_stopped())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-otlp", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("fake otlp did not start")
        if err:
            raise err[0]
        return self.port

    def stop(self, timeout=5.0):
        if self._thread:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout)
            self._thread = None

    @property
    def url(self):
        """The otlpEndpoint to configure (without /v1/traces)."""
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def _rpc_status(status, code, message, headers=None):
    return web.json_response({"code": code, "message": message}, status=status,
                             headers=headers)


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake OTLP/HTTP JSON trace collector")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--require-auth", help="the Authorization value to demand")
    a = ap.parse_args(argv)
    fake = FakeOTLP(port=a.port, require_auth=a.require_auth)

    async def serve():
        port = await fake.start_async()
        if a.port_file:
            tmp = a.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % port)
            os.replace(tmp, a.port_file)
        print("LISTENING %d" % port, flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
