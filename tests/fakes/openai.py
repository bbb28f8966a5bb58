#!/usr/bin/python3
"""A scripted, OpenAI-compatible chat-completions endpoint for tests.

Run:    /usr/bin/python3 tests/fakes/openai.py --port 0 [--port-file P] [--script F]
Prints: LISTENING <port>        (bound to 127.0.0.1 only)

Endpoints
  POST /v1/chat/completions   JSON, or SSE when "stream": true
  GET  /v1/models
  POST /_fake/script          replace the script (body: a script, see below)
  GET  /_fake/requests        {"requests": [{"method","path","headers","body",
                              "attachments"}...]}; "attachments" (chat
                              completions) is what the user messages carry:
                              {"images": [{"mime","bytes","sha256"}],
                               "files": [paths in <tagged_files>]}
  POST /_fake/reset           forget requests, restore the start-up script

Script: a JSON list of rules (or {"rules": [...]}).  For each completion
request the first rule that matches is used:
  match     substring of the last user text, case-insensitive (absent: any)
  when      "user" (default: the last message is the user's), "tool" (the
            last message is a tool result) or "any"
  times     how often the rule may fire (absent: unlimited)
and it answers with one of
  reply     text; "{last_user}", "{new_users}" (every user text since the
            last assistant message, joined by " + ") and "{tool_result}"
            are substituted
  chunks    split the text into N stream chunks (default 1)
  delay     seconds between stream chunks (default 0, at most 10)
  tool_call {"name": "bash", "arguments": {...}, "id"?: "call_x"}, or a list
            "tool_calls"; "reply" may accompany it as content.  Any tool the
            request offers can be called: the runtime's (bash, create, ...)
            and the bridge's (send_file, show_file_in_chat, no_reply, ...)
  bash      shorthand: {"bash": "echo hi"} is a bash tool call
  error     {"status": 500, "message": "..."}: an HTTP error in OpenAI's shape
With no matching rule the reply is "echo: <last user text>" for a user turn
and "tool said: <tool result>" after a tool result.

The last user text has leading <tag>...</tag> blocks (the runtime prepends
<current_datetime>) removed before matching and echoing.
"""

import argparse
import asyncio
import base64
import copy
import hashlib
import json
import os
import re
import sys
import threading
import time
import uuid

from aiohttp import web

MAX_BODY = 16 * 1024 * 1024
MAX_KEPT_REQUESTS = 2000
MAX_CHUNKS = 1000
MAX_DELAY = 10.0
MAX_ARG_PIECES = 8
MODEL = "fake-model"

_LEADING_TAGS = re.compile(r"^\s*<([A-Za-z_][\w.-]*)>.*?</\1>\s*", re.S)
_TAGGED_FILES = re.compile(r"<tagged_files>(.*?)</tagged_files>", re.S)
_DATA_URL = re.compile(r"data:([^;,]+);base64,(.*)", re.S)


def _text_of(content):
    """Flatten an OpenAI message content (string or parts list) to text.
    What the runtime adds for attachments is not the user's text: the text
    part naming an image ("Image file at path ...", right before its
    image_url part) and <tagged_files> blocks (see attachments_of())."""
    if content is None:
        return ""
    if isinstance(content, str):
        return _TAGGED_FILES.sub("", content).strip() if "<tagged_files>" in content \
            else content
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict)]
        text = "".join(p.get("text", "") for i, p in enumerate(parts)
                       if p.get("type") == "text" and not (
                           i + 1 < len(parts) and parts[i + 1].get("type") == "image_url"))
        return _TAGGED_FILES.sub("", text).strip() if "<tagged_files>" in text else text
    return str(content)


def attachments_of(body):
    """What the user messages of a chat-completions request carry besides
    their text: images (image_url parts, decoded from their data: URLs) and
    the files the runtime lists in <tagged_files> blocks."""
    images, files = [], []
    messages = body.get("messages") if isinstance(body, dict) else None
    for m in messages if isinstance(messages, list) else []:
        if not isinstance(m, dict) or m.get("role") != "user":
            continue
        c = m.get("content")
        parts = c if isinstance(c, list) else [{"type": "text", "text": c or ""}]
        for p in parts:
            if not isinstance(p, dict):
                continue
            if p.get("type") == "image_url":
                url = str((p.get("image_url") or {}).get("url", ""))
                d = _DATA_URL.match(url)
                if d is None:
                    images.append({"url": url[:200]})
                    continue
                try:
                    data = base64.b64decode(d.group(2))
                except ValueError:
                    data = b""
                images.append({"mime": d.group(1), "bytes": len(data),
                               "sha256": hashlib.sha256(data).hexdigest()})
            elif p.get("type") == "text":
                for block in _TAGGED_FILES.findall(str(p.get("text", ""))):
                    for line in block.splitlines():
                        line = line.strip()
                        if line.startswith("* "):
                            files.append(line[2:].rsplit(" (", 1)[0])
    return {"images": images, "files": files}


def new_user_texts(messages):
    """The user texts after the last assistant message, oldest first."""
    out = []
    for m in reversed(messages):
        if m.get("role") == "assistant":
            break
        if m.get("role") == "user":
            out.append(strip_leading_tags(_text_of(m.get("content"))))
    return list(reversed(out))


def strip_leading_tags(text):
    while True:
        m = _LEADING_TAGS.match(text)
        if not m:
            return text.strip()
        text = text[m.end():]


def last_user_text(messages):
    for m in reversed(messages):
        if m.get("role") == "user":
            return strip_leading_tags(_text_of(m.get("content")))
    return ""


def _split(text, n):
    n = max(1, min(int(n), MAX_CHUNKS, max(1, len(text))))
    size, rem = divmod(len(text), n)
    out, pos = [], 0
    for i in range(n):
        step = size + (1 if i < rem else 0)
        out.append(text[pos:pos + step])
        pos += step
    return out


def _approx_tokens(s):
    return max(1, len(s) // 4)


def parse_script(data):
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError("script must be a list of rule objects")
    return copy.deepcopy(data)


class Reply:
    """What one completion answers: text, tool calls, or an HTTP error."""

    def __init__(self, text="", chunks=1, delay=0.0, tool_calls=(), error=None):
        self.text = text
        self.chunks = chunks
        self.delay = min(max(float(delay), 0.0), MAX_DELAY)
        self.tool_calls = list(tool_calls)
        self.error = error


class FakeOpenAI:
    """The fake. Use start()/stop() from sync code (own thread and loop), or
    build_app() to mount it in an existing aiohttp loop."""

    def __init__(self, script=None, host="127.0.0.1", port=0):
        self.host, self.port = host, port
        self._initial = parse_script(script or [])
        self._lock = threading.Lock()
        self._rules = copy.deepcopy(self._initial)
        self._fired = [0] * len(self._rules)
        self._requests = []
        self._call_seq = 0
        self._thread = None
        self._loop = None
        self._runner = None

    # -- state, safe from any thread ---------------------------------------
    def set_script(self, script):
        rules = parse_script(script)
        with self._lock:
            self._rules, self._fired = rules, [0] * len(rules)

    def reset(self):
        with self._lock:
            self._rules = copy.deepcopy(self._initial)
            self._fired = [0] * len(self._rules)
            self._requests = []

    @property
    def requests(self):
        with self._lock:
            return copy.deepcopy(self._requests)

    def completions(self):
        """Bodies of the chat-completions requests received, in order."""
        return [r["body"] for r in self.requests
                if r["path"].endswith("/chat/completions")]

    def _record(self, request, body):
        keep = {k: v for k, v in request.headers.items()
                if k.lower() in ("authorization", "content-type", "user-agent",
                                 "accept") or k.lower().startswith("x-")}
        rec = {"method": request.method, "path": request.path,
               "headers": keep, "body": body}
        if request.path.endswith("/chat/completions"):
            rec["attachments"] = attachments_of(body)
        with self._lock:
            self._requests.append(rec)
            del self._requests[:-MAX_KEPT_REQUESTS]

    # -- choosing a reply --------------------------------------------------
    def _choose(self, messages):
        last = messages[-1] if messages else {}
        after_tool = last.get("role") == "tool"
        user = last_user_text(messages)
        tool_result = _text_of(last.get("content")) if after_tool else ""
        with self._lock:
            for i, rule in enumerate(self._rules):
                when = rule.get("when", "user")
                if when == "user" and after_tool or when == "tool" and not after_tool:
                    continue
                pat = rule.get("match")
                if pat is not None and str(pat).lower() not in user.lower():
                    continue
                if "times" in rule and self._fired[i] >= int(rule["times"]):
                    continue
                self._fired[i] += 1
                return self._reply_from(rule, user, tool_result,
                                        " + ".join(new_user_texts(messages)))
        if after_tool:
            return Reply("tool said: " + tool_result)
        return Reply("echo: " + user)

    def _reply_from(self, rule, user, tool_result, new_users=""):
        if "error" in rule:
            return Reply(error=rule["error"])
        text = str(rule.get("reply", ""))
        text = (text.replace("{last_user}", user).replace("{new_users}", new_users)
                .replace("{tool_result}", tool_result))
        calls = rule.get("tool_calls") or ([rule["tool_call"]] if "tool_call" in rule else [])
        if "bash" in rule:
            calls = calls + [{"name": "bash", "arguments": {
                "command": rule["bash"], "description": "run a command"}}]
        out = []
        for c in calls:
            self._call_seq += 1
            args = c.get("arguments", {})
            out.append({"id": c.get("id") or "call_fake_%d" % self._call_seq,
                        "name": c["name"],
                        "arguments": args if isinstance(args, str) else json.dumps(args)})
        if not out and "reply" not in rule:
            text = "echo: " + user
        return Reply(text, rule.get("chunks", 1), rule.get("delay", 0), out)

    # -- HTTP ----------------------------------------------------------------
    async def _chat(self, request):
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _oai_error(400, "request body is not JSON")
        self._record(request, body)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _oai_error(400, "'messages' is required")
        reply = self._choose(body["messages"])
        if reply.error:
            return _oai_error(int(reply.error.get("status", 500)),
                              str(reply.error.get("message", "fake error")))
        model = body.get("model") or MODEL
        usage = {"prompt_tokens": _approx_tokens(json.dumps(body["messages"])),
                 "completion_tokens": _approx_tokens(reply.text + "".join(
                     c["arguments"] for c in reply.tool_calls))}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        cid = "chatcmpl-fake-" + uuid.uuid4().hex[:12]
        if body.get("stream"):
            return await self._stream(request, body, reply, model, usage, cid)
        msg = {"role": "assistant", "content": reply.text or None, "refusal": None}
        if reply.tool_calls:
            msg["tool_calls"] = [{"id": c["id"], "type": "function",
                                  "function": {"name": c["name"],
                                               "arguments": c["arguments"]}}
                                 for c in reply.tool_calls]
        return web.json_response({
            "id": cid, "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": msg, "logprobs": None,
                         "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
            "usage": usage})

    async def _stream(self, request, body, reply, model, usage, cid):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        created = int(time.time())

        def chunk(delta, finish=None, with_usage=False):
            c = {"id": cid, "object": "chat.completion.chunk", "created": created,
                 "model": model, "system_fingerprint": "fp_fake",
                 "choices": [{"index": 0, "delta": delta, "logprobs": None,
                              "finish_reason": finish}]}
            if with_usage:
                c["usage"] = None
            return c

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = [chunk({"role": "assistant", "content": "", "refusal": None},
                        with_usage=include_usage)]
        pieces = _split(reply.text, reply.chunks) if reply.text else []
        for p in pieces:
            frames.append(chunk({"content": p}, with_usage=include_usage))
        for i, c in enumerate(reply.tool_calls):
            frames.append(chunk({"tool_calls": [{
                "index": i, "id": c["id"], "type": "function",
                "function": {"name": c["name"], "arguments": ""}}]},
                with_usage=include_usage))
            for piece in _split(c["arguments"], min(MAX_ARG_PIECES, 3)):
                frames.append(chunk({"tool_calls": [{
                    "index": i, "function": {"arguments": piece}}]},
                    with_usage=include_usage))
        frames.append(chunk({}, "tool_calls" if reply.tool_calls else "stop",
                            with_usage=include_usage))
        if include_usage:
            frames.append({"id": cid, "object": "chat.completion.chunk",
                           "created": created, "model": model,
                           "system_fingerprint": "fp_fake", "choices": [],
                           "usage": usage})
        try:
            for i, f in enumerate(frames):
                # Pace only the content chunks: role frame, then pieces.
                if reply.delay and 1 < i <= len(pieces):
                    await asyncio.sleep(reply.delay)
                await resp.write(b"data: " + json.dumps(f).encode() + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the client went away (e.g. an abort): nothing to finish
        return resp

    async def _models(self, request):
        self._record(request, None)
        return web.json_response({"object": "list", "data": [
            {"id": MODEL, "object": "model", "created": 1700000000,
             "owned_by": "fake"}]})

    async def _set_script(self, request):
        try:
            self.set_script(await request.json())
        except ValueError as e:
            return web.json_response({"ok": False, "error": str(e)}, status=400)
        return web.json_response({"ok": True})

    async def _get_requests(self, request):
        return web.json_response({"requests": self.requests})

    async def _reset(self, request):
        self.reset()
        return web.json_response({"ok": True})

    def build_app(self):
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/models", self._models)
        app.router.add_post("/_fake/script", self._set_script)
        app.router.add_get("/_fake/requests", self._get_requests)
        app.router.add_post("/_fake/reset", self._reset)
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

    # -- thread mode for synchronous callers ---------------------------------
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

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("fake openai did not start")
        if err:
            raise err[0]
        return self.port

    def stop(self, timeout=5.0):
        if self._thread:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout)
            self._thread = None

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def _oai_error(status, message):
    return web.json_response({"error": {"message": message, "type": "fake_error",
                                        "param": None, "code": None}}, status=status)


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake OpenAI chat-completions endpoint")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--script")
    a = ap.parse_args(argv)
    script = None
    if a.script:
        with open(a.script, encoding="utf-8") as f:
            script = json.load(f)
    fake = FakeOpenAI(script, port=a.port)

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
