"""Fake-only behaviour of tests/fakes/slack.py that @slack/web-api and
@slack/socket-mode do not exercise: body encodings and token errors, 429/5xx
toggles, tickets, the 10-connection limit, redelivery bounds and routing,
ack toggles, disconnect frames, connection lifetime, token rotation, event
routing rules, the control API and the CLI.

    /usr/bin/python3 -m pytest -q tests/integration/test_fake_slack.py
"""

import asyncio
import importlib.util
import json
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType

FAKE_PATH = Path(__file__).resolve().parent.parent / "fakes" / "slack.py"
_spec = importlib.util.spec_from_file_location("fake_slack", FAKE_PATH)
fs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fs)

BOT_A = fs.DEFAULT_SEED["bots"][0]
BOT_B = fs.DEFAULT_SEED["bots"][1]
XOXB_A, XAPP_A = BOT_A["bot_tokens"][0], BOT_A["app_tokens"][0]
XAPP_B = BOT_B["app_tokens"][0]


def run(coro, timeout=8):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Api:
    def __init__(self, fake, http):
        self.fake, self.http, self.url = fake, http, fake.url
        self.sockets = []

    async def call(self, method, token=None, data=None, json_body=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        async with self.http.post(f"{self.url}/api/{method}", data=data, json=json_body,
                                  headers=h) as r:
            return r.status, await r.json(), r.headers

    async def ok(self, method, token=XOXB_A, **data):
        status, body, _ = await self.call(method, token, data=data)
        assert status == 200 and body["ok"], body
        return body

    async def control(self, method, path, body=None, expect=200):
        async with self.http.request(method, f"{self.url}/_fake{path}", json=body) as r:
            out = await r.json()
            assert r.status == expect, (r.status, out)
            return out

    async def connect(self, token=XAPP_A, autoping=True, hello=True):
        body = await self.ok("apps.connections.open", token)
        ws = await self.http.ws_connect(body["url"], autoping=autoping)
        ws.url = body["url"]
        self.watch(ws)
        if hello:
            h = await self.frame(ws)
            assert h["type"] == "hello", h
            ws.hello = h
        return ws

    def watch(self, ws):
        """Read ws in the background into ws.q, so several sockets can be awaited at once."""
        ws.q = asyncio.Queue()

        async def reader():
            while True:
                msg = await ws.receive()
                ws.q.put_nowait(msg)
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                    return
        ws.reader = asyncio.ensure_future(reader())
        self.sockets.append(ws)
        return ws

    @staticmethod
    async def frame(ws, timeout=3.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await asyncio.wait_for(ws.q.get(), max(0.001, deadline - loop.time()))
            if msg.type == WSMsgType.TEXT:
                return json.loads(msg.data)
            if msg.type in (WSMsgType.PING, WSMsgType.PONG):
                continue
            return msg          # CLOSE / CLOSED / ERROR

    async def any_frame(self, wss, timeout=3.0):
        """(ws, frame) for the first of several sockets that has a text frame."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for ws in wss:
                while not ws.q.empty():
                    msg = ws.q.get_nowait()
                    if msg.type == WSMsgType.TEXT:
                        return ws, json.loads(msg.data)
            await asyncio.sleep(0.01)
        raise asyncio.TimeoutError()

    async def no_frame(self, ws, wait=0.3):
        try:
            f = await self.frame(ws, wait)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected frame {f}")

    async def post(self, user, channel, text, **kw):
        return await self.control("POST", "/post", dict(user=user, channel=channel, text=text, **kw))


@asynccontextmanager
async def server(**kwargs):
    fake = fs.FakeSlack(**kwargs)
    await fake.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            api = Api(fake, http)
            try:
                yield fake, api
            finally:
                for ws in api.sockets:
                    if getattr(ws, "reader", None):
                        ws.reader.cancel()
                    await ws.close()
    finally:
        await fake.stop()


FAST = {"ack_timeout": 0.2, "balance": "round_robin"}

# ---------------------------------------------------------------- Web API


def test_bodies_tokens_and_errors():
    async def t():
        async with server() as (fake, api):
            assert fake.runner.addresses[0][0] == "127.0.0.1"
            # JSON with and without charset; form; token as a form field.
            s, b, h = await api.call("chat.postMessage", XOXB_A, json_body={"channel": "C01GENERAL", "text": "j"})
            assert b["ok"] and b["warning"] == "missing_charset"
            assert h["Content-Type"].startswith("application/json")
            s, b, _ = await api.call("chat.postMessage", XOXB_A, data=json.dumps(
                {"channel": "C01GENERAL", "text": "j2"}),
                headers={"Content-Type": "application/json; charset=utf-8"})
            assert b["ok"] and "warning" not in b
            s, b, _ = await api.call("auth.test", data={"token": XOXB_A})
            assert b["ok"] and b["user_id"] == BOT_A["user_id"]
            # Errors are HTTP 200 with ok:false.
            for method, token, data, err in [
                ("auth.test", None, None, "not_authed"),
                ("auth.test", "xoxb-wrong", None, "invalid_auth"),
                ("chat.postMessage", XAPP_A, {"channel": "C01GENERAL", "text": "x"}, "not_allowed_token_type"),
                ("apps.connections.open", XOXB_A, None, "not_allowed_token_type"),
                ("chat.postMessage", XOXB_A, {"channel": "D01ALICEB", "text": "x"}, "channel_not_found"),
                ("chat.postMessage", XOXB_A, {"channel": "C01GENERAL", "text": "x" * 40001}, "msg_too_long"),
                ("chat.update", XOXB_A, {"channel": "C01GENERAL", "ts": "1.2", "text": "x"}, "message_not_found"),
                ("conversations.list", XOXB_A, {"types": "bogus"}, "invalid_types"),
            ]:
                s, b, _ = await api.call(method, token, data=data)
                assert (s, b["ok"], b["error"]) == (200, False, err), (method, b)
            # apps.connections.open only takes the header.
            s, b, _ = await api.call("apps.connections.open", data={"token": XAPP_A})
            assert b["error"] == "not_authed"
            s, b, _ = await api.call("no.suchMethod", XOXB_A)
            assert s == 404 and b["error"] == "unknown_method"
            # Posting to a user id opens (creates) the app's DM with them.
            b = await api.ok("chat.postMessage", channel="U01BOB", text="dm")
            assert b["channel"].startswith("D")
            again = await api.ok("chat.postMessage", channel="U01BOB", text="dm2")
            assert again["channel"] == b["channel"]
            log = (await api.control("GET", "/log"))["requests"]
            assert all("xoxb" not in r["args"] for r in log)
    run(t())


def test_ratelimit_and_5xx_toggles():
    async def t():
        async with server() as (fake, api):
            await api.control("POST", "/ratelimit", {"count": 2, "retry_after": 7, "method": "chat.postMessage"})
            s, b, _ = await api.call("auth.test", XOXB_A)
            assert s == 200 and b["ok"], "other methods are not limited"
            for _ in range(2):
                s, b, h = await api.call("chat.postMessage", XOXB_A, data={"channel": "C01GENERAL", "text": "x"})
                assert (s, b, h["Retry-After"]) == (429, {"ok": False, "error": "ratelimited"}, "7")
            s, b, _ = await api.call("chat.postMessage", XOXB_A, data={"channel": "C01GENERAL", "text": "x"})
            assert s == 200 and b["ok"]
            await api.control("POST", "/ratelimit", {"count": 1, "status": 503})
            s, b, h = await api.call("auth.test", XOXB_A)
            assert s == 503 and "Retry-After" not in h
            await api.control("POST", "/ratelimit", {"count": 1, "status": 418}, expect=400)
    run(t())


def test_pagination_and_message_shapes():
    async def t():
        async with server() as (fake, api):
            b = await api.ok("users.list", limit="3")
            assert len(b["members"]) == 3 and b["response_metadata"]["next_cursor"]
            b2 = await api.ok("users.list", limit="3", cursor=b["response_metadata"]["next_cursor"])
            assert len(b2["members"]) == 1 and b2["response_metadata"]["next_cursor"] == ""
            s, b, _ = await api.call("users.list", XOXB_A, data={"cursor": "!!"})
            assert b["error"] == "invalid_cursor"
            # Thread replies point at the root; replies to replies join the root's thread.
            root = await api.post("alice", "general", "root")
            r1 = await api.ok("chat.postMessage", channel="C01GENERAL", text="r1", thread_ts=root["ts"])
            r2 = await api.ok("chat.postMessage", channel="C01GENERAL", text="r2", thread_ts=r1["ts"])
            assert r1["message"]["thread_ts"] == root["ts"] == r2["message"]["thread_ts"]
            assert r1["message"]["parent_user_id"] == "U01ALICE"
            msgs = (await api.control("GET", "/channels/C01GENERAL/messages"))["messages"]
            assert [m["ts"] for m in msgs] == [root["ts"], r1["ts"], r2["ts"]]
            assert msgs[0]["reply_count"] == 2
            await api.control("GET", "/channels/nope/messages", expect=404)
    run(t())


# ------------------------------------------------------------ Socket Mode


def test_hello_tickets_and_connection_limit():
    async def t():
        async with server(config={"ticket_ttl": 0.3}) as (fake, api):
            socks = []
            for i in range(10):
                ws = await api.connect()
                assert ws.hello["num_connections"] == i + 1
                assert ws.hello["connection_info"] == {"app_id": BOT_A["app_id"]}
                assert ws.hello["debug_info"]["approximate_connection_time"] == 3600
                socks.append(ws)
            # The 11th: disconnect too_many_websockets, then closed.
            ws = await api.connect(hello=False)
            f = await api.frame(ws)
            assert f["type"] == "disconnect" and f["reason"] == "too_many_websockets"
            assert (await api.frame(ws)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
            # Another app has its own limit.
            wb = await api.connect(XAPP_B)
            assert wb.hello["num_connections"] == 1
            conns = (await api.control("GET", "/connections"))["connections"]
            assert len(conns) == 11
            # Tickets: single-use, and short-lived.
            for bad in (socks[0].url, socks[0].url.split("?")[0] + "?ticket=nope"):
                try:
                    await api.http.ws_connect(bad)
                    raise AssertionError("reused ticket connected")
                except aiohttp.WSServerHandshakeError as err:
                    assert err.status == 401
            body = await api.ok("apps.connections.open", XAPP_A)
            await asyncio.sleep(0.4)
            try:
                await api.http.ws_connect(body["url"])
                raise AssertionError("expired ticket connected")
            except aiohttp.WSServerHandshakeError as err:
                assert err.status == 401
            # debug_reconnects shortens the announced lifetime.
            await socks.pop().close()
            body = await api.ok("apps.connections.open", XAPP_A)
            ws = api.watch(await api.http.ws_connect(body["url"] + "&debug_reconnects=true"))
            assert (await api.frame(ws))["debug_info"]["approximate_connection_time"] == 360
    run(t())


def test_redelivery_is_bounded_to_three_retries():
    async def t():
        async with server(config=FAST) as (fake, api):
            ws = await api.connect()
            await api.post("bob", "general", "never acked")
            got = [await api.frame(ws, 2) for _ in range(4)]
            assert [g["retry_attempt"] for g in got] == [0, 1, 2, 3]
            assert [g["retry_reason"] for g in got] == ["", "timeout", "timeout", "timeout"]
            assert len({g["payload"]["event_id"] for g in got}) == 1
            assert len({g["envelope_id"] for g in got}) == 4, "new envelope_id per retry (default)"
            await api.no_frame(ws, 0.5)
            env = (await api.control("GET", "/envelopes?bot=bridge-a"))["bridge-a"]
            assert env["unacked"] == [] and env["gave_up"][0]["why"] == "retries_exhausted"
            # retry_envelope_id "same"; max_retries 1.
            await api.control("POST", "/config", {"retry_envelope_id": "same", "max_retries": 1})
            await api.post("bob", "general", "again")
            a, b = await api.frame(ws, 2), await api.frame(ws, 2)
            assert a["envelope_id"] == b["envelope_id"] and b["retry_attempt"] == 1
            await api.no_frame(ws, 0.5)
            await api.control("POST", "/config", {"max_retries": 4}, expect=400)
    run(t())


def test_each_event_to_one_connection_and_redelivery_to_another():
    async def t():
        async with server(config=FAST) as (fake, api):
            a, b = await api.connect(), await api.connect()
            await api.post("alice", "general", "one")   # round robin: to a
            fa = await api.frame(a)
            await api.no_frame(b, 0.1)
            # a dies without acking: the retry lands on b.
            drop = await api.control("POST", "/connections/drop", {"connection": "conn-1"})
            assert drop["count"] == 1
            fb = await api.frame(b, 2)
            assert fb["payload"]["event_id"] == fa["payload"]["event_id"]
            assert fb["retry_attempt"] == 1 and fb["retry_reason"] == "timeout"
            await b.send_json({"envelope_id": fb["envelope_id"]})
            # An ack on the wrong socket does not count.
            c = await api.connect()
            await api.post("alice", "general", "two")
            ws, f = await api.any_frame([b, c])
            await (c if ws is b else b).send_json({"envelope_id": f["envelope_id"]})
            await asyncio.sleep(0.05)
            acks = (await api.control("GET", "/deliveries"))["acks"]
            assert acks[-1]["result"] == "wrong_socket" and acks[-1]["has_payload"] is False
            ws, f = await api.any_frame([b, c], 1.0)
            assert f["retry_attempt"] == 1
            await ws.send_json({"envelope_id": f["envelope_id"], "payload": {}})
            await asyncio.sleep(0.3)
            assert (await api.control("GET", "/envelopes"))["bridge-a"]["unacked"] == []
    run(t())


def test_ack_and_redelivery_toggles_and_pending_queue():
    async def t():
        async with server(config=FAST) as (fake, api):
            # Events while no connection is open wait, then follow the hello.
            await api.post("alice", "general", "early")
            env = (await api.control("GET", "/envelopes"))["bridge-a"]
            assert len(env["pending"]) == 1
            ws = await api.connect()
            f = await api.frame(ws)
            assert f["payload"]["event"]["text"] == "early"
            # Ignore the next ack: it is redelivered though the client acked.
            await api.control("POST", "/acks/ignore", {"count": 1})
            await ws.send_json({"envelope_id": f["envelope_id"], "payload": {}})
            f2 = await api.frame(ws, 2)
            assert f2["retry_attempt"] == 1
            await ws.send_json({"envelope_id": f2["envelope_id"]})
            await api.no_frame(ws, 0.4)
            results = [a["result"] for a in (await api.control("GET", "/deliveries"))["acks"]]
            assert results == ["ignored", "acked"]
            # Redelivery paused: the envelope stays unacked until resumed.
            await api.control("POST", "/redelivery", {"enabled": False})
            await api.post("alice", "general", "paused")
            f3 = await api.frame(ws)
            await api.no_frame(ws, 0.5)
            un = (await api.control("GET", "/envelopes"))["bridge-a"]["unacked"]
            assert [u["envelope_id"] for u in un] == [f3["envelope_id"]]
            await api.control("POST", "/redelivery", {"enabled": True})
            assert (await api.frame(ws, 2))["retry_attempt"] == 1
            # Stray frames are logged, not fatal.
            await ws.send_str("not json")
            await ws.send_json({"envelope_id": "no-such"})
            await asyncio.sleep(0.05)
            results = [a["result"] for a in (await api.control("GET", "/deliveries"))["acks"]][-2:]
            assert results == ["not_an_ack", "unknown"]
    run(t())


def test_disconnect_frames_lifetime_and_pings():
    async def t():
        async with server(config={"ping_interval": 0.2, "disconnect_close_after": 0.1}) as (fake, api):
            ws = await api.connect(autoping=False)
            msg = await asyncio.wait_for(ws.q.get(), 2)
            assert msg.type == WSMsgType.PING, "server pings"
            await ws.pong(msg.data)
            r = await api.control("POST", "/connections/disconnect", {"reason": "warning", "close_after": 0.2})
            assert r["count"] == 1
            f = await api.frame(ws)
            assert f == {"type": "disconnect", "reason": "warning", "debug_info": f["debug_info"]}
            assert "host" in f["debug_info"]
            closed = await api.frame(ws, 2)
            assert closed.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
            await api.control("POST", "/connections/disconnect", {"reason": "bogus"}, expect=400)
            # Connection lifetime: refresh_requested, then closed.
            await api.control("POST", "/config", {"connection_time": 0.4})
            ws2 = await api.connect()
            f = await api.frame(ws2, 2)
            assert f["type"] == "disconnect" and f["reason"] == "refresh_requested"
            assert (await api.frame(ws2, 2)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
            frames = (await api.control("GET", "/deliveries"))["frames"]
            assert [x["reason"] for x in frames] == ["warning", "refresh_requested"]
    run(t())


def test_token_rotation():
    async def t():
        async with server(config=FAST) as (fake, api):
            ws = await api.connect()
            rot = await api.control("POST", "/tokens/rotate", {"token": XAPP_A})
            new = rot["token"]
            assert new.startswith("xapp-") and rot["connections"] == ["conn-1"]
            s, b, _ = await api.call("apps.connections.open", XAPP_A)
            assert b["error"] == "invalid_auth"
            # "keep": the old socket still delivers; the new token connects too.
            ws2 = await api.connect(new)
            assert ws2.hello["num_connections"] == 2
            conns = (await api.control("GET", "/connections"))["connections"]
            assert [c["token"] for c in conns] == [XAPP_A, new]
            # "disconnect": sockets of the revoked token get a disconnect frame.
            await api.control("POST", "/tokens/revoke", {"token": new, "sockets": "disconnect",
                                                          "reason": "link_disabled", "close_after": 0})
            f = await api.frame(ws2)
            assert f["reason"] == "link_disabled"
            await api.no_frame(ws, 0.2)
            # Bot tokens: rotate, and choose the error the old one gets.
            rot = await api.control("POST", "/tokens/rotate", {"token": XOXB_A, "error": "token_expired",
                                                                "new_token": "xoxb-new-a"})
            s, b, _ = await api.call("auth.test", XOXB_A)
            assert b["error"] == "token_expired"
            assert (await api.ok("auth.test", "xoxb-new-a"))["bot_id"] == BOT_A["bot_id"]
            await api.control("POST", "/tokens/rotate", {"token": XOXB_A}, expect=404)
            added = await api.control("POST", "/tokens", {"bot": "bridge-b", "kind": "app"})
            wb = await api.connect(added["token"])
            assert wb.hello["connection_info"]["app_id"] == BOT_B["app_id"]
    run(t())


def test_event_routing():
    async def t():
        async with server(config=FAST) as (fake, api):
            a, b = await api.connect(XAPP_A), await api.connect(XAPP_B)

            async def drain(ws):
                out = []
                while True:
                    try:
                        f = await api.frame(ws, 0.15)
                    except asyncio.TimeoutError:
                        return out
                    await ws.send_json({"envelope_id": f["envelope_id"]})
                    out.append(f["payload"]["event"])

            async def both():
                return await asyncio.gather(drain(a), drain(b))

            # A user mentions both bots in #general: each gets message + its own app_mention.
            await api.post("alice", "general", f"<@{BOT_A['user_id']}> and <@{BOT_B['user_id']}|b>")
            ea, eb = await both()
            assert sorted(e["type"] for e in ea) == ["app_mention", "message"]
            assert sorted(e["type"] for e in eb) == ["app_mention", "message"]
            # Private channel ops: only bridge-a is a member.
            await api.post("alice", "ops", f"<@{BOT_B['user_id']}> ops")
            ea, eb = await both()
            assert [(e["type"], e["channel_type"]) for e in ea] == [("message", "group")]
            assert eb == []
            # A DM mentioning the bot: message (im) only, no app_mention.
            await api.post("alice", "D01ALICEA", f"<@{BOT_A['user_id']}> dm")
            assert [(e["type"], e["channel_type"]) for e in (await both())[0]] == [("message", "im")]
            # The bot's own post mentioning itself: message with bot_id, no app_mention.
            await api.ok("chat.postMessage", channel="C01GENERAL", text=f"<@{BOT_A['user_id']}>")
            ea, _ = await both()
            assert [e["type"] for e in ea] == ["message"] and ea[0]["bot_id"] == BOT_A["bot_id"]
            # Legacy integration bot: subtype bot_message, no user.
            await api.post(None, "general", "legacy", legacy_bot_id="B0LEGACY", username="ci")
            e = (await both())[0][0]
            assert e["subtype"] == "bot_message" and e["bot_id"] == "B0LEGACY" and "user" not in e
            # Thread reply fields; edits and deletes from the control API.
            root = await api.post("alice", "general", "root")
            reply = await api.post("bob", "general", "reply", thread_ts=root["ts"])
            await api.control("POST", "/edit", {"channel": "general", "ts": reply["ts"], "text": "new"})
            await api.control("POST", "/delete", {"channel": "general", "ts": root["ts"]})
            ea, _ = await both()
            assert ea[1]["thread_ts"] == root["ts"] and ea[1]["parent_user_id"] == "U01ALICE"
            assert ea[2]["subtype"] == "message_changed" and ea[2]["hidden"] is True
            assert ea[2]["message"]["edited"]["user"] == "U01BOB"
            assert ea[3]["subtype"] == "message_deleted" and ea[3]["deleted_ts"] == root["ts"]
            # Non-members cannot post; unknown users/channels are 404.
            await api.control("POST", "/post", {"user": "bob", "channel": "ops", "text": "x"}, expect=403)
            await api.control("POST", "/post", {"user": "nobody", "channel": "general", "text": "x"},
                              expect=404)
    run(t())


def test_files_in_events_uploads_and_downloads():
    async def t():
        async with server(config=FAST) as (fake, api):
            a = await api.connect(XAPP_A)
            # A user's file_share: message and app_mention both carry the files.
            await api.post("alice", "general", f"<@{BOT_A['user_id']}> look", files=[
                {"name": "a.txt", "content": "alpha"},
                {"name": "b.bin", "content_b64": "AAEC", "file_access": "check_file_info"}])
            evs = []
            for _ in range(2):
                f = await api.frame(a)
                await a.send_json({"envelope_id": f["envelope_id"]})
                evs.append(f["payload"]["event"])
            assert sorted(e["type"] for e in evs) == ["app_mention", "message"]
            msg = next(e for e in evs if e["type"] == "message")
            assert msg["subtype"] == "file_share" and msg["upload"] is True
            full, bare = msg["files"]
            assert full["name"] == "a.txt" and full["size"] == 5 and full["mimetype"] == "text/plain"
            assert full["url_private_download"].startswith(fake.url + "/files-pri/")
            assert bare == {"id": bare["id"], "mode": "file_access",
                            "file_access": "check_file_info", "created": 0, "timestamp": 0,
                            "user": ""}
            assert next(e for e in evs if e["type"] == "app_mention")["files"] == msg["files"]
            # url_private: the bot token of a member gets the bytes, anything else the login page.
            get = api.http.get
            async with get(full["url_private"], headers={"Authorization": f"Bearer {XOXB_A}"},
                           allow_redirects=False) as r:
                assert r.status == 200 and await r.read() == b"alpha"
            async with get(full["url_private"], allow_redirects=False) as r:
                assert r.status == 302 and "slack.com" in r.headers["Location"]
            async with get(full["url_private"], allow_redirects=False,
                           headers={"Authorization": f"Bearer {XAPP_A}"}) as r:
                assert r.status == 302
            info = await api.ok("files.info", file=bare["id"])
            assert info["file"]["name"] == "b.bin" and info["file"]["size"] == 3
            downloads = (await api.control("GET", "/downloads"))["downloads"]
            assert [d["status"] for d in downloads] == [200, 302, 302]
            # bridge-b is not in #ops: a file shared there is not its to see.
            await api.post("alice", "ops", "secret", files=[{"name": "s.txt", "content": "s"}])
            sfile = next(f for f in (await api.control("GET", "/files"))["files"]
                         if f["name"] == "s.txt")
            status, body, _ = await api.call("files.info", BOT_B["bot_tokens"][0],
                                             data={"file": sfile["id"]})
            assert body == {"ok": False, "error": "file_not_found"}
            # A raw upload body (not multipart) is taken as the file's bytes.
            up = await api.ok("files.getUploadURLExternal", filename="raw.txt", length=4)
            async with api.http.post(up["upload_url"], data=b"rawb",
                                     headers={"Content-Type": "application/octet-stream"}) as r:
                assert r.status == 200 and await r.text() == "OK - 4"
            done = await api.ok("files.completeUploadExternal",
                                files=json.dumps([{"id": up["file_id"], "title": "Raw"}]))
            assert done["files"][0]["id"] == up["file_id"] and "shares" not in done["files"][0]
            kept = next(f for f in (await api.control("GET", "/files"))["files"]
                        if f["id"] == up["file_id"])
            assert kept["size"] == 4 and kept["title"] == "Raw" and kept["channels"] == []
            # An upload URL is good for one file: completed, it is gone.
            async with api.http.post(up["upload_url"], data=b"x") as r:
                assert r.status == 404
            status, body, _ = await api.call("files.getUploadURLExternal", XOXB_A,
                                             data={"filename": "x", "length": "0"})
            assert body["error"] == "invalid_arguments"
            # Files are posted by users, not by bots through the control API.
            await api.control("POST", "/post", {"bot": "bridge-a", "channel": "general",
                                                "text": "x", "files": []}, expect=400)
    run(t())


def test_seed_reset_and_control_errors():
    async def t():
        seed = {"team": {"name": "Acme", "domain": "acme"},
                "users": [{"name": "carol"}],
                "bots": [{"name": "b1", "events": ["message"]}]}
        async with server(seed=seed) as (fake, api):
            st = await api.control("GET", "/state")
            assert [u["name"] for u in st["users"]] == ["carol"]
            bot = st["bots"][0]
            assert bot["user_id"].startswith("U") and bot["app_id"].startswith("A")
            assert bot["bot_tokens"][0].startswith("xoxb-") and bot["app_tokens"][0].startswith("xapp-")
            assert [c["name"] for c in st["channels"]] == ["general"]
            ws = await api.connect(bot["app_tokens"][0])
            await api.post("carol", "general", f"<@{bot['user_id']}>")
            f = await api.frame(ws)
            assert f["payload"]["event"]["type"] == "message"
            await api.no_frame(ws, 0.3)   # not subscribed to app_mention
            await api.control("POST", "/reset", {"seed": {"channels": [{"type": "im", "members": ["x"]}]}},
                              expect=400)
            assert (await api.control("GET", "/state"))["bots"][0]["name"] == "b1", "old seed kept"
            st = await api.control("POST", "/reset", {"seed": fs.DEFAULT_SEED})
            assert [b["name"] for b in st["bots"]] == ["bridge-a", "bridge-b"]
            assert (await api.control("GET", "/connections"))["connections"] == []
            await api.control("GET", "/nope", expect=404)
            await api.control("POST", "/config", {"nope": 1}, expect=400)
            await api.control("POST", "/config", {"balance": "sticky"}, expect=400)
    run(t())


# -------------------------------------------------------------------- CLI


def test_cli_port_file_sigterm_and_bad_seed(tmp_path):
    pf = tmp_path / "port"
    p = subprocess.Popen([sys.executable, str(FAKE_PATH), "--port", "0", "--port-file", str(pf),
                          "--ack-timeout", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline().decode()
        assert line.startswith("LISTENING ")
        port = int(line.split()[1])
        assert int(pf.read_text()) == port

        async def check():
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/_fake/state") as r:
                    st = await r.json()
                    assert st["config"]["ack_timeout"] == 0.5
        run(check())
        p.send_signal(signal.SIGTERM)
        assert p.wait(5) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    bad = tmp_path / "seed.json"
    bad.write_text(json.dumps({"channels": [{"type": "weird", "name": "x"}]}))
    r = subprocess.run([sys.executable, str(FAKE_PATH), "--port", "0", "--seed", str(bad)],
                       capture_output=True, timeout=10)
    assert r.returncode == 2 and b"bad seed" in r.stderr
