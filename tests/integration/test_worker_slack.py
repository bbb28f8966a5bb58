"""The Slack worker against the fake Slack (tests/fakes/slack.py), through
the real bridge with the echo backend: a reply streamed with
chat.postMessage + chat.update, one reply for the message and the
app_mention of one post, envelopes acked only after sessiond's ack, the
make-before-break refresh, link_disabled, and bad input.  Every wait is
bounded."""

import json
import os
import signal
import sys
import threading
import time
import urllib.request

import pytest

from bridge import wait_for

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))

from slack import ThreadedFake  # noqa: E402

BOT_UID = "U01BRIDGEA"
CHAN = "C01GENERAL"


class Fake:
    """The fake Slack in a thread, driven over its /_fake/ control API."""

    def __init__(self):
        self.t = ThreadedFake()
        self.url = self.t.url

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/_fake" + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def post(self, text, user="alice", channel=CHAN, **kw):
        return self.control("POST", "/post", dict(kw, channel=channel,
                                                  user=user, text=text))

    def messages(self, channel=CHAN):
        return self.control("GET", f"/channels/{channel}/messages")["messages"]

    def bot_messages(self, channel=CHAN):
        return [m for m in self.messages(channel)
                if m.get("user") == BOT_UID and not m.get("deleted")]

    def log(self, method=None):
        return [r for r in self.control("GET", "/log")["requests"]
                if method is None or r["method"] == method]

    def connections(self):
        return self.control("GET", "/connections")["connections"]

    def deliveries(self):
        return self.control("GET", "/deliveries")

    def stop(self):
        self.t.stop()


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.stop()


def slack_config(tmp, fake, access=None):
    return {
        "platforms": {
            "slack": {
                "apiUrl": fake.url + "/api/",
                "access": access or {"mode": "open"},
                "bots": {"a": {"token": "xoxb-1-fake-bridge-a",
                               "appToken": "xapp-1-A01BRIDGEA-1-fake"}},
            }
        },
        "channels": [
            {"id": CHAN, "platform": "slack", "bot": "a",
             "workingDirectory": str(tmp), "triggerMode": "all",
             "threadedReplies": False}
        ],
        "stateDir": str(tmp / "state"),
        "logDir": str(tmp / "logs"),
        "logLevel": "debug",
        "session": {"backend": "echo"},
    }


def reply_with(fake, text, timeout=10):
    """The bot's message whose text is text, once it is there."""
    return wait_for(lambda: next((m for m in fake.bot_messages()
                                  if m["text"] == text), None),
                    timeout=timeout, what=f"a reply {text!r}")


def test_echo_reply_streams_with_post_and_update(bridge_factory, fake,
                                                 tmp_path):
    b = bridge_factory(config=slack_config(tmp_path, fake))
    assert "ready in" in b.log("worker-slack-a.log")
    # READY's postMax: characters of Markdown one post or edit carries.
    assert "posts of 3900 characters" in b.log("worker-slack-a.log")
    fake.post("hello from slack")
    m = reply_with(fake, "hello from slack")
    assert "thread_ts" not in m
    posts = fake.log("chat.postMessage")
    assert posts and all(r["ok"] for r in posts)
    wait_for(lambda: fake.log("chat.update"), what="chat.update")
    # Authorization never leaks into the logs.
    assert "xoxb-1-fake-bridge-a" not in b.all_logs()
    assert "xapp-1-A01BRIDGEA-1-fake" not in b.all_logs()


def test_connections_open_is_asked_beside_auth_test(bridge_factory, fake,
                                                   tmp_path):
    """The app token's apps.connections.open does not wait for auth.test (a
    round trip less at every start); its URL is used once auth.test said
    who the bot is, and not asked for again."""
    fake.control("POST", "/config", {"method_delays": {"auth.test": 0.5}})
    b = bridge_factory(config=slack_config(tmp_path, fake))
    calls = [r["method"] for r in fake.log()
             if r["method"] in ("auth.test", "apps.connections.open")]
    assert calls == ["apps.connections.open", "auth.test"], calls
    log = b.log("worker-slack-a.log")
    assert log.index("authenticated as") < log.index("connection 1: connecting")
    fake.post("after a parallel start")
    reply_with(fake, "after a parallel start")


def test_a_first_url_gone_stale_is_asked_again(bridge_factory, fake,
                                               tmp_path):
    """The URL asked for at start expired while auth.test was slow: the
    socket is refused, a new URL asked for, and the bot works."""
    fake.control("POST", "/config", {"method_delays": {"auth.test": 0.6},
                                     "ticket_ttl": 0.2})
    b = bridge_factory(config=slack_config(tmp_path, fake))
    assert len(fake.log("apps.connections.open")) == 2
    assert "ready in" in b.log("worker-slack-a.log")
    fake.post("after a stale ticket")
    reply_with(fake, "after a stale ticket")


def test_message_and_app_mention_give_one_reply(bridge_factory, fake,
                                                tmp_path):
    b = bridge_factory(config=slack_config(tmp_path, fake))
    fake.post(f"<@{BOT_UID}> ping twice")
    reply_with(fake, "ping twice")
    d = wait_for(lambda: (lambda d: d if len(d["deliveries"]) >= 2 and
                          all(x["acked"] for x in d["deliveries"]) else None)(
        fake.deliveries()), what="both envelopes acked")
    # The user's message and app_mention, and the bot's own posts.
    types = [x["event_type"] for x in d["deliveries"]]
    assert types.count("app_mention") == 1 and "message" in types
    time.sleep(1.0)
    assert len([m for m in fake.bot_messages()
                if m["text"] == "ping twice"]) == 1
    assert len(fake.log("chat.postMessage")) == 1
    assert all(a["result"] == "acked" for a in d["acks"])
    assert b.count_state("active") == 2


def test_envelope_acked_only_after_sessiond(bridge_factory, fake, tmp_path):
    b = bridge_factory(config=slack_config(tmp_path, fake))
    fake.control("POST", "/config", {"ack_timeout": 60})
    sd = b.sessiond()
    os.kill(sd, signal.SIGSTOP)
    try:
        fake.post("wait for sessiond")
        # A post of the bot's own is filtered: acked at once regardless.
        fake.control("POST", "/post", {"channel": CHAN, "bot": "bridge-a",
                                       "text": "own echo"})
        wait_for(lambda: len(fake.deliveries()["deliveries"]) == 2,
                 what="two deliveries")
        wait_for(lambda: any(x["acked"] and x["subtype"] == "" and
                             x["event_type"] == "message" for x in
                             fake.deliveries()["deliveries"]) and
                 sum(x["acked"] for x in fake.deliveries()["deliveries"])
                 == 1, what="the bot's own message acked")
        time.sleep(1.0)
        d = fake.deliveries()["deliveries"]
        assert sum(x["acked"] for x in d) == 1, d
    finally:
        os.kill(sd, signal.SIGCONT)
    wait_for(lambda: all(x["acked"] for x in fake.deliveries()["deliveries"]),
             timeout=5, what="the user's envelope acked after sessiond")
    reply_with(fake, "wait for sessiond")


def test_refresh_requested_makes_before_it_breaks(bridge_factory, fake,
                                                  tmp_path):
    b = bridge_factory(config=slack_config(tmp_path, fake))
    old = [c["id"] for c in fake.connections()]
    assert len(old) == 1
    app = fake.t.fake.apps["A01BRIDGEA"]
    # The fake records every open and close with the count after it: the
    # overlap lasts a few milliseconds, too short to be sampled reliably.
    start = len(app.conn_events)
    fake.control("POST", "/connections/disconnect",
                 {"bot": "bridge-a", "reason": "refresh_requested",
                  "close_after": 5})
    wait_for(lambda: [c["id"] for c in fake.connections()] not in
             ([], old) and len(fake.connections()) == 1, timeout=5,
             what="the old connection replaced")
    counts = [n for (_, _, _, n) in list(app.conn_events)[start:]]
    assert 2 in counts, counts
    assert 0 not in counts, counts
    log = b.log("worker-slack-a.log")
    # The fake counted both when it greeted the new one.
    assert "connection 2: hello (2 connection(s) open)" in log
    assert log.index("connection 2: hello") < \
        log.index("connection 1: closed")
    fake.post("after the refresh")
    reply_with(fake, "after the refresh")
    assert len(fake.log("apps.connections.open")) == 2


def test_link_disabled_fails_the_worker(bridge_factory, fake, tmp_path):
    b = bridge_factory(config=slack_config(tmp_path, fake))
    fake.control("POST", "/connections/disconnect",
                 {"bot": "bridge-a", "reason": "link_disabled",
                  "close_after": 5})
    b.wait_log(r"failed: Slack disabled Socket Mode", name="worker-slack-a.log",
               timeout=5)
    b.wait_log(r"link_disabled", timeout=5)


def test_bad_input_rate_limits_and_errors(bridge_factory, fake, tmp_path):
    b = bridge_factory(config=slack_config(tmp_path, fake))
    # Events to drop: a join, a legacy bot, a hidden edit.
    fake.post("joined", subtype="channel_join")
    fake.control("POST", "/post", {"channel": CHAN, "legacy_bot_id": "B0LEG",
                                   "text": "legacy"})
    m = fake.post("to edit")
    reply_with(fake, "to edit")
    fake.control("POST", "/edit", {"channel": CHAN, "ts": m["ts"],
                                   "text": "edited"})
    # 429s on every chat.postMessage for a while, then it goes through.
    fake.control("POST", "/ratelimit", {"count": 3, "retry_after": 1,
                                        "method": "chat.postMessage"})
    fake.post("rate &amp; <limited>")
    reply_with(fake, "rate & <limited>", timeout=15)
    assert "rate limited" in b.log("worker-slack-a.log")
    wait_for(lambda: all(x["acked"] for x in
                         fake.deliveries()["deliveries"]),
             what="every envelope acked")
    # ok:false everywhere: the bot token revoked, the socket kept.
    fake.control("POST", "/tokens/revoke", {"token": "xoxb-1-fake-bridge-a",
                                            "sockets": "keep"})
    fake.post("nobody can answer this")
    b.wait_log(r"chat\.postMessage: invalid_auth", name="worker-slack-a.log",
               timeout=10)
    time.sleep(0.5)
    assert b.count_state("active") == 2


def test_bad_bot_token_fails(bridge_factory, fake, tmp_path):
    cfg = slack_config(tmp_path, fake)
    cfg["platforms"]["slack"]["bots"]["a"]["token"] = "xoxb-1-wrong"
    b = bridge_factory(config=cfg, start=False)
    b.start(wait_ready=False)
    b.wait_log(r"failed: auth\.test: invalid_auth", name="worker-slack-a.log",
               timeout=10)
    assert "xoxb-1-wrong" not in b.all_logs()


def test_reload_bot_drains_the_old_generation(bridge_factory, fake, tmp_path):
    b = bridge_factory(config=slack_config(tmp_path, fake))
    fake.post("before the swap")
    reply_with(fake, "before the swap")
    r = b.ctl("reload-bot", "slack:a")
    assert r.returncode == 0, r.stdout + r.stderr
    b.wait_log(r"drained", name="worker-slack-a.log", timeout=10)
    wait_for(lambda: len(fake.connections()) == 1, what="one connection")
    fake.post("after the swap")
    reply_with(fake, "after the swap", timeout=15)
    assert len([m for m in fake.bot_messages()
                if m["text"] == "after the swap"]) == 1


def test_access_handles_resolved_privately(bridge_factory, fake, tmp_path):
    cfg = slack_config(tmp_path, fake,
                       access={"mode": "allowlist",
                               "users": ["alice", "nobody"]})
    b = bridge_factory(config=cfg)
    wlog = "worker-slack-a.log"
    fake.post("from alice", user="alice")
    reply_with(fake, "from alice")
    fake.post("from bob", user="bob")
    b.wait_log(r"U01BOB may not use this bot", name=wlog, timeout=5)
    time.sleep(0.5)
    assert not [m for m in fake.bot_messages() if m["text"] == "from bob"]
    assert len(fake.log("users.list")) == 1
    assert "DM discovery: 1 DM(s)" in b.log(wlog)
    assert b.log(wlog).count('"nobody" is no Slack user') == 1
    # An unchanged file: the resolution changed nothing the supervisor sees.
    n = len(b.log())
    b.signal(signal.SIGHUP)
    b.wait_log(r"no effective differences", timeout=5, after=n)
    tail = b.log()[n:]
    assert "Config reloaded" not in tail and "config updated" not in tail
    assert "changes" not in tail
    # A real change is pushed and resolved again: bob by his real name.
    cfg["platforms"]["slack"]["bots"]["a"]["access"] = {
        "mode": "allowlist", "users": ["@Bob Example", "nobody"]}
    b.write_config(cfg)
    n = len(b.log())
    b.signal(signal.SIGHUP)
    b.wait_log(r'bot "slack:a": config updated', timeout=5, after=n)
    wait_for(lambda: len(fake.log("users.list")) == 2, what="users.list again")
    fake.post("bob again", user="bob")
    reply_with(fake, "bob again")
    assert b.log(wlog).count('"nobody" is no Slack user') == 1
