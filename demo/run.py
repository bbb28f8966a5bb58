#!/usr/bin/python3
"""`make demo`: the bridge on its embedded demo.

Starts the fake Mattermost server on loopback, the bridge with etc/demo.json
(the built-in echo backend, or the real Copilot runtime with the fake LLM when
DEMO_BACKEND=copilot), posts as a user, prints the reply as it streams in,
rotates the bot's token and reloads just that bot live (/reload bot), talks
again, and stops everything.  Every wait is bounded."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("BRIDGE_BIN", TOP / "build" / "bin"))
PY = "/usr/bin/python3"


def say(msg):
    print(f"\033[1m==> {msg}\033[0m", flush=True)


def start_fake(script, tmp, *args):
    portfile = tmp / (Path(script).stem + ".port")
    p = subprocess.Popen([PY, str(TOP / "tests" / "fakes" / script), "--port", "0",
                          "--port-file", str(portfile), *args],
                         stdout=subprocess.DEVNULL, stderr=open(tmp / (Path(script).stem + ".log"), "wb"))
    deadline = time.monotonic() + 15
    while not portfile.exists():
        if time.monotonic() > deadline or p.poll() is not None:
            raise SystemExit(f"{script} did not start")
        time.sleep(0.05)
    return p, int(portfile.read_text())


def control(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_fake{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def bot_posts(port, channel, bot_id):
    posts = control(port, "GET", f"/channels/{channel}/posts")["posts"]
    return [p for p in posts if p["user_id"] == bot_id]


def watch_reply(port, channel, bot_id, seen, timeout=60):
    """Print the bot's new post as it is edited; return its final text."""
    deadline = time.monotonic() + timeout
    shown, last_change = None, time.monotonic()
    while time.monotonic() < deadline:
        mine = [p for p in bot_posts(port, channel, bot_id) if p["id"] not in seen]
        if mine:
            text = mine[-1]["message"]
            if text != shown:
                print(f"    bot: {text!r}", flush=True)
                shown, last_change = text, time.monotonic()
            elif text != "⏳ Working..." and time.monotonic() - last_change > 1.0:
                seen.update(p["id"] for p in mine)
                return text
        time.sleep(0.05)
    raise SystemExit("no reply within the time limit")


def main():
    backend = os.environ.get("DEMO_BACKEND", "echo")
    tmp = Path(tempfile.mkdtemp(prefix="copilot-bridge-demo-"))
    procs = []
    try:
        say("starting the fake Mattermost server (127.0.0.1 only)")
        mm, mm_port = start_fake("mattermost.py", tmp)
        procs.append(mm)
        state = control(mm_port, "GET", "/state")
        users = {u["username"]: u for u in state["users"]}
        chan = next(c for c in state["channels"] if c.get("name") == "town-square")
        cfg = json.loads((TOP / "etc" / "demo.json").read_text())
        cfg["platforms"]["mattermost"]["url"] = f"http://127.0.0.1:{mm_port}"
        cfg["channels"][0]["id"] = chan["id"]
        cfg["channels"][0]["workingDirectory"] = str(tmp)
        cfg["stateDir"] = str(tmp / "state")
        cfg["logDir"] = str(tmp / "logs")
        cfg["session"]["backend"] = backend
        env = dict(os.environ)
        if backend == "copilot":
            say("starting the fake LLM for the real Copilot runtime")
            llm, llm_port = start_fake("openai.py", tmp)
            procs.append(llm)
            cfg["providers"]["fake"]["baseUrl"] = f"http://127.0.0.1:{llm_port}/v1"
            env.update(HOME=str(tmp), COPILOT_HOME=str(tmp / "copilot"), COPILOT_OFFLINE="true")
        cfgpath = tmp / "config.json"
        cfgpath.write_text(json.dumps(cfg, indent=2))

        say(f"starting copilot-bridge ({backend} backend), logs in {tmp / 'logs'}")
        bridge = subprocess.Popen([str(BIN / "copilot-bridge"), "run", "-c", str(cfgpath)],
                                  env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(tmp / "bridge.stderr", "wb"))
        procs.insert(0, bridge)
        ctl = [str(BIN / "copilot-bridge"), "ctl", "-c", str(cfgpath)]
        deadline = time.monotonic() + 20
        while True:
            st = subprocess.run(ctl + ["status"], capture_output=True, text=True)
            if st.returncode == 0 and st.stdout.count(" active ") >= 2:
                break
            if time.monotonic() > deadline:
                raise SystemExit("the bridge did not come up:\n" + st.stdout + st.stderr)
            time.sleep(0.1)
        print(st.stdout, flush=True)

        bot_id = users["bot-a"]["id"]
        seen = {p["id"] for p in bot_posts(mm_port, chan["id"], bot_id)}
        say("alice: Hello, bridge! Tell me about hot reloads.")
        control(mm_port, "POST", "/post", {"user": "alice", "channel": chan["id"],
                                            "message": "Hello, bridge! Tell me about hot reloads."})
        watch_reply(mm_port, chan["id"], bot_id, seen)

        say("rotating the bot's token on the server and in the config file")
        rot = control(mm_port, "POST", "/tokens/rotate", {"user": "bot-a", "sockets": "keep"})
        cfg["platforms"]["mattermost"]["bots"]["copilot"]["token"] = rot["token"]
        tmpcfg = cfgpath.with_suffix(".tmp")
        tmpcfg.write_text(json.dumps(cfg, indent=2))
        os.rename(tmpcfg, cfgpath)
        time.sleep(1)
        say("alice: /reload bot copilot   (only this bot's worker is replaced)")
        control(mm_port, "POST", "/post", {"user": "alice", "channel": chan["id"],
                                            "message": "/reload bot copilot"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            texts = [p["message"] for p in bot_posts(mm_port, chan["id"], bot_id)
                     if p["id"] not in seen]
            if any(t.startswith(("✅", "❌", "⛔")) for t in texts):
                break
            time.sleep(0.1)
        for p in bot_posts(mm_port, chan["id"], bot_id):
            if p["id"] not in seen:
                print(f"    bot: {p['message']!r}", flush=True)
                seen.add(p["id"])
        print(subprocess.run(ctl + ["status"], capture_output=True, text=True).stdout, flush=True)

        say("alice: Still there after the reload?")
        control(mm_port, "POST", "/post", {"user": "alice", "channel": chan["id"],
                                            "message": "Still there after the reload?"})
        watch_reply(mm_port, chan["id"], bot_id, seen)
        say("demo done; stopping")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
