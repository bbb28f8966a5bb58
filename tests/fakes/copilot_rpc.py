#!/usr/bin/python3
"""A small JSON-RPC 2.0 client for the Copilot runtime over its stdio.

Framing is LSP-style: "Content-Length: N\\r\\n\\r\\n" then N bytes of JSON.
A reader thread parses every message from the child's stdout:
  responses       complete the pending request with the same id
  requests        (server -> client, e.g. hooks.invoke) are answered with
                  handlers[method](params) -> result; a handler may raise
                  RpcError; methods without a handler get -32601.
                  Handlers run on the reader thread: they must not call
                  request() (it would wait for a reply nobody reads)
  notifications   are appended to self.notes (session.event,
                  session.lifecycle, host.event, ...)
Everything sent and received is kept in self.transcript as
(seconds, ">>" | "<<", message), the format of the reference transcripts.

    rt = Runtime([binary, "--headless", "--no-auto-update", "--stdio"], env=..., cwd=...)
    rt.request("connect", {})
    sid = rt.request("session.create", {...})["sessionId"]
    mark = rt.mark()
    rt.request("session.send", {"sessionId": sid, "prompt": "hi"})
    events = rt.events_until("session.idle", since=mark, timeout=20)
    rt.close()
"""

import json
import subprocess
import threading
import time


class RpcError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__("%s: %s" % (code, message))
        self.code, self.message, self.data = code, message, data


def encode(msg):
    body = json.dumps(msg, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_frame(stream):
    """One framed message from a binary stream, or None at EOF."""
    length = None
    while True:
        line = stream.readline(8192)
        if not line:
            return None
        line = line.rstrip(b"\r\n")
        if not line:
            if length is None:
                continue  # stray blank line between frames
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = stream.read(length)
    if len(body) < length:
        return None
    return json.loads(body.decode("utf-8"))


class Runtime:
    def __init__(self, argv, env=None, cwd=None, handlers=None):
        self.handlers = dict(handlers or {})
        self.transcript = []
        self.notes = []           # notifications, in arrival order
        self.server_requests = []  # (method, params, our answer)
        self.stderr = bytearray()
        self._t0 = time.monotonic()
        self._cv = threading.Condition()
        self._wlock = threading.Lock()
        self._pending = {}
        self._next_id = 0
        self._eof = False
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=cwd)
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # -- wire --------------------------------------------------------------
    def _log(self, direction, msg):
        self.transcript.append((round(time.monotonic() - self._t0, 3), direction, msg))

    def _send(self, msg):
        with self._wlock:
            self._log(">>", msg)
            self.proc.stdin.write(encode(msg))
            self.proc.stdin.flush()

    def _drain_stderr(self):
        for line in iter(self.proc.stderr.readline, b""):
            if len(self.stderr) < 1 << 20:
                self.stderr += line

    def _read(self):
        try:
            while True:
                msg = read_frame(self.proc.stdout)
                if msg is None:
                    break
                self._log("<<", msg)
                if "method" in msg and "id" in msg:
                    self._answer(msg)
                    continue
                with self._cv:
                    if "method" in msg:
                        self.notes.append(msg)
                    else:
                        self._pending[msg.get("id")] = msg
                    self._cv.notify_all()
        except (ValueError, OSError):
            pass
        finally:
            with self._cv:
                self._eof = True
                self._cv.notify_all()

    def _answer(self, msg):
        method, params = msg["method"], msg.get("params")
        fn = self.handlers.get(method)
        try:
            if fn is None:
                raise RpcError(-32601, "Unhandled method " + method)
            reply = {"jsonrpc": "2.0", "id": msg["id"], "result": fn(params)}
        except RpcError as e:
            reply = {"jsonrpc": "2.0", "id": msg["id"],
                     "error": {"code": e.code, "message": e.message}}
        with self._cv:
            self.server_requests.append((method, params, reply))
            self._cv.notify_all()
        try:
            self._send(reply)
        except OSError:
            pass

    # -- API ---------------------------------------------------------------
    def request(self, method, params=None, timeout=10.0):
        with self._cv:
            self._next_id += 1
            rid = self._next_id
        self._send({"jsonrpc": "2.0", "id": rid, "method": method,
                    "params": {} if params is None else params})
        deadline = time.monotonic() + timeout
        with self._cv:
            while rid not in self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise TimeoutError("%s: no reply (%s)" % (
                        method, "EOF" if self._eof else "timeout"))
                self._cv.wait(left)
            msg = self._pending.pop(rid)
        if "error" in msg:
            e = msg["error"]
            raise RpcError(e.get("code"), e.get("message"), e.get("data"))
        return msg.get("result")

    def notify(self, method, params=None):
        self._send({"jsonrpc": "2.0", "method": method,
                    "params": {} if params is None else params})

    def mark(self):
        """Position in self.notes; pass as since= to look only at later ones."""
        with self._cv:
            return len(self.notes)

    def events(self, since=0, session_id=None):
        """session.event payloads ({type, data, id, ...}) received so far."""
        with self._cv:
            notes = self.notes[since:]
        return [n["params"]["event"] for n in notes
                if n["method"] == "session.event"
                and (session_id is None or n["params"].get("sessionId") == session_id)]

    def wait_event(self, pred, since=0, timeout=20.0):
        """First session event after `since` with pred(event) true.
        pred may be an event type string."""
        if isinstance(pred, str):
            etype = pred
            pred = lambda e: e["type"] == etype  # noqa: E731
        deadline = time.monotonic() + timeout
        with self._cv:
            i = since
            while True:
                while i < len(self.notes):
                    n = self.notes[i]
                    i += 1
                    if n["method"] == "session.event" and pred(n["params"]["event"]):
                        return n["params"]["event"]
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise TimeoutError("no matching event (%s); last types: %s" % (
                        "EOF" if self._eof else "timeout",
                        [e["type"] for e in self._tail_events()]))
                self._cv.wait(left)

    def _tail_events(self, n=15):
        evs = [m["params"]["event"] for m in self.notes[-60:]
               if m["method"] == "session.event"]
        return evs[-n:]

    def events_until(self, etype, since=0, timeout=20.0):
        """All session events after `since` up to and including the first of
        type etype."""
        self.wait_event(etype, since, timeout)
        evs = self.events(since)
        return evs[:[e["type"] for e in evs].index(etype) + 1]

    def close(self, timeout=5.0):
        """Close stdin (the runtime exits at EOF), then TERM, then KILL.
        Returns the exit status."""
        p = self.proc
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.terminate()
        try:
            return p.wait(2)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(2)

    def dump(self, path):
        """Write the transcript as JSON lines ({"t","dir","msg"})."""
        with open(path, "w", encoding="utf-8") as f:
            for t, d, m in self.transcript:
                f.write(json.dumps({"t": t, "dir": d, "msg": m}) + "\n")
