#!/usr/bin/python3
"""The real Copilot runtime with another client editing a session's plan,
as the Copilot CLI does: the runtime tells of a plan's changes
(session.plan_changed) only when a client writes it through
session.plan.update, never when the agent writes plan.md itself.

Run it as session.runtimePath with PLAN_RUNTIME_REAL naming the real
runtime.  Everything passes through unchanged; a session.send whose prompt
holds "PLAN-UPDATE:" is first preceded by one session.plan.update of that
session per such mark, with the text up to the next mark ("\\n" written as
a backslash and an n is a newline) as the plan, each sent once the runtime
answered the one before (it runs requests side by side, and two writes of
the plan may land in either order); the runtime's answers to those
requests are not passed on.
"""

import os
import subprocess
import sys
import threading

from copilot_rpc import encode, read_frame

MARK = "PLAN-UPDATE:"
ID_PREFIX = "plan-runtime-"


def main():
    child = subprocess.Popen([os.environ["PLAN_RUNTIME_REAL"], *sys.argv[1:]],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = sys.stdout.buffer
    lock = threading.Lock()
    answered = threading.Semaphore(0)
    n = 0

    def write(msg):
        with lock:
            out.write(encode(msg))
            out.flush()

    def pump():     # runtime -> bridge
        while (msg := read_frame(child.stdout)) is not None:
            mid = msg.get("id")
            if "method" not in msg and isinstance(mid, str) and \
                    mid.startswith(ID_PREFIX):
                answered.release()
                continue
            write(msg)
        out.close()
    threading.Thread(target=pump, daemon=True).start()
    while (msg := read_frame(sys.stdin.buffer)) is not None:   # bridge -> runtime
        params = msg.get("params") or {}
        prompt = params.get("prompt") if msg.get("method") == "session.send" \
            else None
        if isinstance(prompt, str) and MARK in prompt:
            for plan in prompt.split(MARK)[1:]:
                n += 1
                child.stdin.write(encode({
                    "jsonrpc": "2.0", "id": f"{ID_PREFIX}{n}",
                    "method": "session.plan.update",
                    "params": {"sessionId": params.get("sessionId"),
                               "content": plan.strip().replace("\\n", "\n")}}))
                child.stdin.flush()
                answered.acquire(timeout=10)
        child.stdin.write(encode(msg))
        child.stdin.flush()
    child.stdin.close()
    child.wait()


if __name__ == "__main__":
    main()
