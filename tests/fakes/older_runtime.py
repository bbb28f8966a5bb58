#!/usr/bin/python3
"""The real Copilot runtime as an older one would look: every method named
in OLDER_RUNTIME_DROP (comma-separated; default sessions.reloadPluginHooks)
is answered with JSON-RPC error -32601 "Unhandled method", as the runtime
answers what it does not know; everything else passes through unchanged.

Run it as session.runtimePath with OLDER_RUNTIME_REAL naming the real
runtime; the methods it answered itself are appended, one per line, to
OLDER_RUNTIME_LOG when set, and so is every other method it passed on.
"""

import json
import os
import subprocess
import sys
import threading

from copilot_rpc import encode, read_frame


def main():
    drop = set(os.environ.get("OLDER_RUNTIME_DROP",
                              "sessions.reloadPluginHooks").split(","))
    log = os.environ.get("OLDER_RUNTIME_LOG")
    child = subprocess.Popen([os.environ["OLDER_RUNTIME_REAL"], *sys.argv[1:]],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = sys.stdout.buffer
    lock = threading.Lock()

    def write(msg):
        with lock:
            out.write(encode(msg))
            out.flush()

    def note(line):
        if log:
            with open(log, "a") as f:
                f.write(line + "\n")

    def pump():     # runtime -> bridge
        while (msg := read_frame(child.stdout)) is not None:
            write(msg)
        out.close()
    threading.Thread(target=pump, daemon=True).start()
    while (msg := read_frame(sys.stdin.buffer)) is not None:   # bridge -> runtime
        method = msg.get("method")
        if method in drop and "id" in msg:
            note("answered " + method)
            write({"jsonrpc": "2.0", "id": msg["id"], "error": {
                "code": -32601, "message": "Unhandled method " + method}})
            continue
        if method is not None:
            note("passed " + method)
        child.stdin.write(encode(msg))
        child.stdin.flush()
    child.stdin.close()
    child.wait()


if __name__ == "__main__":
    main()
