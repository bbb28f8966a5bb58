#!/usr/bin/python3
"""A small MCP server over stdio for tests (Model Context Protocol,
revisions 2024-11-05, 2025-03-26, 2025-06-18 and 2025-11-25).

Run:    /usr/bin/python3 tests/fakes/mcp_server.py [--name N] [--tool T]...
                 [--exit-at-once] [--log F]

Transport: one JSON-RPC 2.0 message per line on stdin and stdout, UTF-8, no
embedded newlines; stderr is free text.  Requests are answered in order.

  initialize        {protocolVersion, capabilities, clientInfo} ->
                    {protocolVersion, capabilities: {tools: {}},
                    serverInfo: {name, version}, instructions}; the version
                    is the client's if we know it, else our newest
  notifications/initialized, notifications/cancelled, other notifications
                    nothing
  ping              {}
  tools/list        {tools: [{name, description, inputSchema}]}; a cursor
                    we never gave is an error -32602
  tools/call        {name, arguments} -> {content: [{type: "text", text}],
                    isError: false}; an unknown tool is an error -32602
  anything else     error -32601
Before initialize only ping is answered; the rest is an error -32002.

Each --tool T (default "report") is a tool whose text is
  "<server name>/<T> says: <message>; env <K>=<value>; cwd <dir>"
with message and env the call's arguments ("env": a list of variable
names, each "<unset>" if it is not in our environment; with "digest":
true each value is given as "sha256:<hex>" instead, so a secret can be
checked without ever being shown), so a test can see which server ran,
with what environment and in which directory.
--exit-at-once exits with status 3 before reading anything (a server that
fails to start).  --log F appends every message received to F (JSON lines).
"""

import argparse
import hashlib
import json
import os
import sys

VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")


def tool_decl(name):
    return {
        "name": name,
        "description": f"Reports a message back with the server's environment ({name}).",
        "inputSchema": {
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "text to report"},
                "env": {"type": "array", "items": {"type": "string"},
                        "description": "environment variables to report"},
                "digest": {"type": "boolean",
                           "description": "report sha256 digests of the values"},
            },
        },
    }


def tool_text(server, tool, args):
    parts = [f"{server}/{tool} says: {args.get('message', '')}"]
    names = args.get("env") or []
    if isinstance(names, str):
        names = [names]
    for k in names:
        v = os.environ.get(str(k))
        if v is not None and args.get("digest"):
            v = "sha256:" + hashlib.sha256(v.encode()).hexdigest()
        parts.append(f"env {k}={'<unset>' if v is None else v}")
    parts.append(f"cwd {os.getcwd()}")
    return "; ".join(parts)


class Server:
    def __init__(self, name, tools, log):
        self.name, self.tools, self.log = name, tools, log
        self.ready = False

    def error(self, mid, code, message):
        return {"jsonrpc": "2.0", "id": mid,
                "error": {"code": code, "message": message}}

    def result(self, mid, result):
        return {"jsonrpc": "2.0", "id": mid, "result": result}

    def handle(self, msg):
        """The answer to one message, or None (a notification, a reply)."""
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            return self.error(msg.get("id") if isinstance(msg, dict) else None,
                              -32600, "Invalid Request")
        method, mid = msg.get("method"), msg.get("id")
        if method is None:
            return None                     # a reply to us: we ask nothing
        params = msg.get("params") or {}
        if "id" not in msg:
            if method == "notifications/initialized":
                self.ready = True
            return None
        if not isinstance(params, dict):
            return self.error(mid, -32602, "params must be an object")
        if method == "ping":
            return self.result(mid, {})
        if method == "initialize":
            asked = params.get("protocolVersion")
            self.ready = True
            return self.result(mid, {
                "protocolVersion": asked if asked in VERSIONS else VERSIONS[0],
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": self.name, "version": "1.0.0"},
                "instructions": f"Test server {self.name}.",
            })
        if not self.ready:
            return self.error(mid, -32002, "Server not initialized")
        if method == "tools/list":
            if params.get("cursor") is not None:
                return self.error(mid, -32602, "Invalid cursor")
            return self.result(mid, {"tools": [tool_decl(t) for t in self.tools]})
        if method == "tools/call":
            tool, args = params.get("name"), params.get("arguments") or {}
            if tool not in self.tools:
                return self.error(mid, -32602, f"Unknown tool: {tool}")
            if not isinstance(args, dict):
                return self.error(mid, -32602, "arguments must be an object")
            return self.result(mid, {
                "content": [{"type": "text",
                             "text": tool_text(self.name, tool, args)}],
                "isError": False})
        return self.error(mid, -32601, f"Method not found: {method}")

    def run(self, rfile, wfile):
        for line in rfile:
            line = line.strip()
            if not line:
                continue
            if self.log:
                with open(self.log, "a") as f:
                    f.write(line.decode("utf-8", "replace") + "\n")
            try:
                msg = json.loads(line)
            except ValueError:
                out = self.error(None, -32700, "Parse error")
            else:
                if isinstance(msg, list):   # a batch (2025-03-26)
                    out = [a for a in map(self.handle, msg) if a is not None]
                    out = out or None
                else:
                    out = self.handle(msg)
            if out is not None:
                wfile.write(json.dumps(out, separators=(",", ":")).encode() + b"\n")
                wfile.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="fake-mcp")
    ap.add_argument("--tool", action="append")
    ap.add_argument("--exit-at-once", action="store_true")
    ap.add_argument("--log")
    a = ap.parse_args()
    if a.exit_at_once:
        print(f"{a.name}: exiting at once, as asked", file=sys.stderr)
        sys.exit(3)
    print(f"{a.name}: serving on stdio", file=sys.stderr)
    Server(a.name, a.tool or ["report"], a.log).run(sys.stdin.buffer,
                                                    sys.stdout.buffer)


if __name__ == "__main__":
    main()
