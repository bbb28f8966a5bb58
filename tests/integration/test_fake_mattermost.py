"""Fake-only behaviour of tests/fakes/mattermost.py that @mattermost/client
does not exercise: 429s, 401 bodies, websocket auth failures, resumption
buffer limits, token rotation and revocation, the control API and the CLI.

    /usr/bin/python3 -m pytest -q tests/integration/test_fake_mattermost.py
"""

import asyncio
import importlib.util
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType

FAKE_PATH = Path(__file__).resolve().parent.parent / "fakes" / "mattermost.py"
_spec = importlib.util.spec_from_file_location("fake_mattermost", FAKE_PATH)
fm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fm)

BOT = fm.DEFAULT_TOKENS["bot-a"]
ALICE = fm.DEFAULT_TOKENS["alice"]


def run(coro, timeout=8):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@asynccontextmanager
async def server(**kwargs):
    fake = fm.FakeMattermost(**kwargs)
    await fake.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            api = Api(fake, http)
            try:
                yield fake, api
            finally:
                for ws in api.sockets:
                    await ws.close()
    finally:
        await fake.stop()


class Api:
    def __init__(self, fake, http):
        self.fake, self.http, self.url = fake, http, fake.url
        self.sockets = []

    async def rest(self, method, path, token=None, body=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.url + "/api/v4" + path, headers=h,
                                     json=body) as r:
            text = await r.text()
            data = json.loads(text) if r.content_type == "application/json" else text
            return r.status, r.headers, data

    async def ctl(self, method, path, body=None):
        async with self.http.request(method, self.url + "/_fake" + path, json=body) as r:
            data = await r.json()
            assert r.status == 200, data
            return data

    async def ws(self, token=None, query="", **kw):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        ws = await self.http.ws_connect(self.url.replace("http", "ws") + "/api/v4/websocket" + query,
                                        headers=headers, **kw)
        self.sockets.append(ws)
        return ws

    async def post(self, message, user="alice", channel="town-square"):
        return await self.ctl("POST", "/post", {"user": user, "channel": channel, "message": message})


async def recv(ws, timeout=2.0):
    """Next JSON frame, or None when the socket closed."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type == WSMsgType.TEXT:
            return json.loads(msg.data)
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR, WSMsgType.CLOSING):
            return None


async def silent(ws, seconds=0.3):
    """True when nothing arrives for `seconds` (and the socket is still open)."""
    try:
        msg = await asyncio.wait_for(ws.receive(), seconds)
    except asyncio.TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {msg}")


# ---------------------------------------------------------------- REST


def test_429_with_retry_after_and_ratelimit_headers():
    async def scenario():
        async with server() as (fake, api):
            await api.ctl("POST", "/ratelimit", {"count": 2, "retry_after": 3})
            for _ in range(2):
                status, h, body = await api.rest("GET", "/users/me", BOT)
                assert status == 429
                assert h["Retry-After"] == "3"
                assert h["X-Ratelimit-Limit"] == "101"
                assert h["X-Ratelimit-Remaining"] == "0"
                assert h["X-Ratelimit-Reset"] == "3"
                assert h["Content-Type"] == "text/plain; charset=utf-8"
                assert body == "limit exceeded\n"
            status, h, body = await api.rest("GET", "/users/me", BOT)
            assert status == 200 and body["username"] == "bot-a"
            assert "X-Ratelimit-Limit" not in h
            # Headers on every response when "rate limiting is on".
            await api.ctl("POST", "/ratelimit", {"count": 0, "headers": True})
            status, h, _ = await api.rest("GET", "/users/me", BOT)
            assert status == 200 and h["X-Ratelimit-Limit"] == "101" and "Retry-After" not in h
            # 429s spare the websocket upgrade unless asked.
            await api.ctl("POST", "/ratelimit", {"count": 1})
            ws = await api.ws(BOT)
            assert (await recv(ws))["event"] == "hello"
            await ws.close()
            await api.ctl("POST", "/ratelimit", {"count": 1, "websocket": True})
            try:
                await api.ws(BOT)
                raise AssertionError("upgrade should have been refused")
            except aiohttp.WSServerHandshakeError as err:
                assert err.status == 429
    run(scenario())


def test_401_bodies_and_token_locations():
    async def scenario():
        async with server() as (fake, api):
            for token in ("nosuchtokennosuchtoken0000", None):
                status, h, body = await api.rest("GET", "/users/me", token)
                assert status == 401
                assert h["Content-Type"] == "application/json"
                assert list(body) == ["id", "message", "detailed_error", "request_id", "status_code"]
                assert body["id"] == "api.context.session_expired.app_error"
                assert body["status_code"] == 401
            # Schemes are case-insensitive; "Token" works; cookies work.
            for h in ({"Authorization": f"BEARER {BOT}"}, {"Authorization": f"token {BOT}"},
                      {"Cookie": f"MMAUTHTOKEN={BOT}"}):
                status, _, body = await api.rest("GET", "/users/me", headers=h)
                assert status == 200 and body["username"] == "bot-a", h
            # A PAT in the query string is refused.
            status, _, body = await api.rest("GET", f"/users/me?access_token={BOT}")
            assert status == 401 and body["id"] == "api.context.token_provided.app_error"
            # Unknown route, invalid id.
            status, _, body = await api.rest("GET", "/nope", BOT)
            assert status == 404 and body["id"] == "api.context.404.app_error"
            status, _, body = await api.rest("GET", "/users/short", BOT)
            assert status == 400 and body["id"] == "api.context.invalid_url_param.app_error"
            # Go-style escaping in JSON bodies.
            post = await api.post("a <b> & c")
            async with api.http.get(f"{api.url}/api/v4/posts/{post['id']}",
                                    headers={"Authorization": f"Bearer {BOT}"}) as r:
                raw = await r.text()
            assert "\\u003cb\\u003e \\u0026 c" in raw
    run(scenario())


# ----------------------------------------------------------- WebSocket


def test_websocket_authentication_failures_and_router_errors():
    async def scenario():
        async with server(config={"ws_auth_timeout": 0.4}) as (fake, api):
            # Bad header token: upgrade succeeds, no hello, closed at the auth check.
            ws = await api.ws("nosuchtokennosuchtoken0000")
            t0 = time.monotonic()
            assert await recv(ws) is None
            assert 0.3 < time.monotonic() - t0 < 2.0
            # Unauthenticated actions fail; seq 0 gets no seq_reply; bad challenge closes.
            ws = await api.ws()
            await ws.send_json({"seq": 1, "action": "ping"})
            r = await recv(ws)
            assert r["status"] == "FAIL" and r["seq_reply"] == 1
            assert r["error"]["id"] == "api.web_socket_router.not_authenticated.app_error"
            assert r["error"]["status_code"] == 401
            await ws.send_json({"seq": 0, "action": "ping"})
            r = await recv(ws)
            assert r["error"]["id"] == "api.web_socket_router.bad_seq.app_error" and "seq_reply" not in r
            await ws.send_json({"seq": 2, "action": "authentication_challenge",
                                "data": {"token": "nosuchtokennosuchtoken0000"}})
            assert await recv(ws) is None
            # Good challenge: hello, then the reply; unknown action; second challenge ignored.
            ws = await api.ws()
            await ws.send_json({"seq": 1, "action": "authentication_challenge", "data": {"token": BOT}})
            hello = await recv(ws)
            assert hello["event"] == "hello" and hello["seq"] == 0
            assert await recv(ws) == {"status": "OK", "seq_reply": 1}
            await ws.send_json({"seq": 2, "action": "authentication_challenge", "data": {"token": BOT}})
            await ws.send_json({"seq": 3, "action": "frobnicate"})
            r = await recv(ws)
            assert r["seq_reply"] == 3 and r["error"]["id"] == "api.web_socket_router.bad_action.app_error"
            await ws.send_json({"seq": 4, "action": "user_typing", "data": {"channel_id": "x"}})
            assert (await recv(ws))["status"] == "FAIL"
            # Still open after the auth timeout, since it authenticated.
            await asyncio.sleep(0.5)
            await ws.send_json({"seq": 5, "action": "ping"})
            r = await recv(ws)
            assert r["seq_reply"] == 5 and r["data"]["text"] == "pong"
            # Frames over 8 KiB close the socket with 1009.
            await ws.send_str(json.dumps({"seq": 6, "action": "ping", "data": {"x": "y" * 9000}}))
            assert await recv(ws) is None
            assert ws.close_code == 1009
    run(scenario())


def test_server_pings_and_read_deadline():
    async def scenario():
        async with server(config={"ping_interval": 0.15, "pong_wait": 0.5}) as (fake, api):
            alive = await api.ws(BOT)               # aiohttp answers pings
            dead = await api.ws(BOT, autoping=False)
            assert (await recv(alive))["event"] == "hello"
            assert (await recv(dead))["event"] == "hello"
            msg = await asyncio.wait_for(dead.receive(), 1)
            assert msg.type == WSMsgType.PING

            async def dies():
                t0 = time.monotonic()
                assert await recv(dead, 2) is None  # no pong: closed at the read deadline
                return time.monotonic() - t0

            # `alive` answers pings only while it is receiving.
            elapsed, quiet = await asyncio.gather(dies(), silent(alive, 1.0))
            assert quiet and elapsed < 1.0
            await alive.send_json({"seq": 1, "action": "ping"})
            assert (await recv(alive))["seq_reply"] == 1
    run(scenario())


async def _resumable(api, token=BOT):
    ws = await api.ws(token)
    hello = await recv(ws)
    assert hello["event"] == "hello"
    return ws, hello["data"]["connection_id"]


async def _drop(api, conn_id, posts=0):
    """Silence, post `posts` events (sequenced but lost), then drop."""
    await api.ctl("POST", "/sockets/silence", {"connection_id": conn_id})
    for i in range(posts):
        await api.post(f"lost {i}")
    await api.ctl("POST", "/sockets/drop", {"connection_id": conn_id})


def test_resumption_replays_from_a_128_event_dead_queue():
    async def scenario():
        async with server() as (fake, api):
            # 200 events after hello: seqs 1..200; the dead queue keeps 73..200.
            ws, cid = await _resumable(api)
            await _drop(api, cid, posts=200)
            ws = await api.ws(BOT, f"?connection_id={cid}&sequence_number=73")
            seqs = [(await recv(ws))["seq"] for _ in range(128)]
            assert seqs == list(range(73, 201))
            assert await silent(ws, 0.2)
            # Continues at 201 with the same connection id.
            await api.post("after")
            assert (await recv(ws))["seq"] == 201
            state = await api.ctl("GET", "/sockets")
            assert [s["resume"] for s in state["sockets"]] == ["replayed"]
            assert state["sockets"][0]["connection_id"] == cid
            await ws.close()

            # Sequence 72 fell out of the ring: new connection id, hello at seq 0.
            ws, cid = await _resumable(api)
            await _drop(api, cid, posts=200)
            ws = await api.ws(BOT, f"?connection_id={cid}&sequence_number=72")
            hello = await recv(ws)
            assert hello["event"] == "hello" and hello["seq"] == 0
            assert hello["data"]["connection_id"] != cid
            assert await silent(ws, 0.2)
            await ws.close()

            # Lossless: nothing missed, nothing replayed, no hello.
            ws, cid = await _resumable(api)
            await api.post("seen")
            assert (await recv(ws))["seq"] == 1
            await api.ctl("POST", "/sockets/drop", {"connection_id": cid})
            ws = await api.ws(BOT, f"?connection_id={cid}&sequence_number=2")
            assert await silent(ws, 0.2)
            await api.post("next")
            assert (await recv(ws))["seq"] == 2
            assert (await api.ctl("GET", "/sockets"))["sockets"][0]["resume"] == "lossless"
            await ws.close()

            # A sequence number ahead of the server: loss, new hello.
            ws, cid = await _resumable(api)
            await api.ctl("POST", "/sockets/drop", {"connection_id": cid})
            ws = await api.ws(BOT, f"?connection_id={cid}&sequence_number=9")
            assert (await recv(ws))["event"] == "hello"
            await ws.close()
    run(scenario(), timeout=15)


def test_resumption_send_queue_overflow_and_misc_outcomes():
    async def scenario():
        async with server() as (fake, api):
            # Up to 256 events queue while away; they follow the replay.
            ws, cid = await _resumable(api)
            await api.ctl("POST", "/sockets/drop", {"connection_id": cid})
            for i in range(256):
                await api.post(f"away {i}")
            inactive = (await api.ctl("GET", "/sockets"))["inactive"]
            assert [(w["connection_id"], w["queued"]) for w in inactive] == [(cid, 256)]
            ws = await api.ws(BOT, f"?connection_id={cid}&sequence_number=1")
            seqs = [(await recv(ws))["seq"] for _ in range(256)]
            assert seqs == list(range(1, 257))
            await ws.close()

            # The 257th overflows: the connection is dropped and cannot be resumed.
            ws, cid = await _resumable(api)
            await api.ctl("POST", "/sockets/drop", {"connection_id": cid})
            for i in range(257):
                await api.post(f"overflow {i}")
            inactive = (await api.ctl("GET", "/sockets"))["inactive"]
            assert all(w["connection_id"] != cid for w in inactive)
            ws = await api.ws(BOT, f"?connection_id={cid}&sequence_number=1")
            hello = await recv(ws)
            assert hello["event"] == "hello" and hello["data"]["connection_id"] != cid
            await ws.close()

            # A forgotten connection (reaped, server restart) starts afresh.
            ws, cid = await _resumable(api)
            await api.ctl("POST", "/sockets/drop", {"connection_id": cid})
            assert (await api.ctl("POST", "/connections/forget", {"user": "bot-a"}))["count"] >= 1
            ws = await api.ws(BOT, f"?connection_id={cid}&sequence_number=1")
            assert (await recv(ws))["data"]["connection_id"] != cid
            await ws.close()

            # Another user cannot take over a connection id; a malformed id closes the socket.
            ws, cid = await _resumable(api)
            await api.ctl("POST", "/sockets/drop", {"connection_id": cid})
            ws = await api.ws(ALICE, f"?connection_id={cid}&sequence_number=1")
            assert (await recv(ws))["data"]["connection_id"] != cid
            await ws.close()
            ws = await api.ws(BOT, "?connection_id=bad&sequence_number=1")
            assert await recv(ws) is None
            # A challenge-authenticated socket is never resumed.
            ws = await api.ws(query=f"?connection_id={cid}&sequence_number=1")
            await ws.send_json({"seq": 1, "action": "authentication_challenge", "data": {"token": BOT}})
            assert (await recv(ws))["data"]["connection_id"] != cid
            await ws.close()
    run(scenario(), timeout=15)


def test_token_rotate_and_revoke_socket_modes():
    async def scenario():
        async with server() as (fake, api):
            # Rotation (control API): old token 401, its sockets closed, new one works.
            ws = await api.ws(BOT)
            assert (await recv(ws))["event"] == "hello"
            rot = await api.ctl("POST", "/tokens/rotate", {"user": "bot-a"})
            assert rot["old_token"] == BOT and rot["token"] != BOT
            assert (await api.rest("GET", "/users/me", BOT))[0] == 401
            assert (await api.rest("GET", "/users/me", rot["token"]))[2]["username"] == "bot-a"
            assert await recv(ws) is None
            new = rot["token"]

            # REST revoke, default "keep": the socket keeps delivering (D.1)...
            ws, _ = await _resumable(api, new)
            status, _, pats = await api.rest("GET", "/users/me/tokens", new)
            assert status == 200 and [p["is_active"] for p in pats] == [True]
            status, _, _ = await api.rest("POST", "/users/tokens/revoke", new, {"token_id": pats[0]["id"]})
            assert status == 200
            assert (await api.rest("GET", "/users/me", new))[0] == 401
            await api.post("still delivered")
            assert (await recv(ws))["event"] == "posted"
            # ... until its cache is invalidated: silenced, actions FAIL, still open.
            await api.ctl("POST", "/sockets/invalidate", {"user": "bot-a"})
            await api.post("not delivered")
            await ws.send_json({"seq": 1, "action": "ping"})
            r = await recv(ws)
            assert r["status"] == "FAIL"
            assert r["error"]["id"] == "api.web_socket_router.not_authenticated.app_error"
            assert await silent(ws, 0.2)
            await ws.close()

            # Mode "silence" applies at revoke time.
            tok = (await api.ctl("POST", "/tokens", {"user": "bot-a"}))["token"]
            ws, _ = await _resumable(api, tok)
            await api.ctl("POST", "/tokens/revoke", {"token": tok, "sockets": "silence"})
            await api.post("dropped")
            assert await silent(ws, 0.2)
            await ws.close()
    run(scenario())


# ------------------------------------------------------ control API and CLI


def _http(url, method="GET", body=None, token=None):
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_control_api_in_a_thread():
    with fm.ThreadedFake() as t:
        ctl = lambda m, p, b=None: _http(t.url + "/_fake" + p, m, b)  # noqa: E731
        st, bot = ctl("POST", "/users", {"username": "bot-b", "is_bot": True,
                                         "tokens": ["fakebotbtoken0000000000000"]})
        assert st == 200 and bot["is_bot"] and bot["tokens"] == ["fakebotbtoken0000000000000"]
        st, ch = ctl("POST", "/channels", {"name": "ops", "type": "P", "members": ["bot-b", "bob"]})
        assert st == 200 and ch["members"] == ["bot-b", "bob"]
        st, me = _http(t.url + "/api/v4/users/me", token="fakebotbtoken0000000000000")
        assert me["username"] == "bot-b"
        st, p = ctl("POST", "/post", {"user": "bob", "channel": "ops", "message": "v1"})
        ctl("POST", f"/posts/{p['id']}/edit", {"message": "v2"})
        st, posts = ctl("GET", "/channels/ops/posts")
        assert [h["message"] for h in posts["posts"][0]["history"]] == ["v1", "v2"]
        assert ctl("POST", "/post", {"user": "alice", "channel": "ops", "message": "x"})[0] == 403
        st, log = ctl("GET", "/log")
        assert any(r["path"] == "/api/v4/users/me" and r["username"] == "bot-b" for r in log["requests"])
        assert ctl("POST", "/reset")[0] == 200
        st, state = ctl("GET", "/state")
        assert sorted(u["username"] for u in state["users"]) == ["alice", "bob", "bot-a"]
        assert ctl("GET", "/nope")[0] == 404


def test_cli_seed_port_file_and_sigterm(tmp_path):
    seed = {"users": [{"username": "bot-x", "is_bot": True, "tokens": ["fakebotxtoken0000000000000"]},
                      {"username": "bot-y", "is_bot": True, "tokens": ["fakebotytoken0000000000000"]},
                      {"username": "carol", "password": "pw"}],
            "channels": [{"name": "town-square", "members": "*"},
                         {"type": "D", "members": ["bot-x", "carol"]}]}
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(FAKE_PATH), "--port", "0", "--port-file",
                             str(port_file), "--seed", str(tmp_path / "seed.json")],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("LISTENING ")
        port = int(line.split()[1])
        assert int(port_file.read_text()) == port
        url = f"http://127.0.0.1:{port}"
        for name in ("bot-x", "bot-y"):
            st, me = _http(url + "/api/v4/users/me", token=f"fakebot{name[-1]}token0000000000000")
            assert st == 200 and me["username"] == name and me["is_bot"]
        st, chans = _http(url + "/api/v4/users/me/channels", token="fakebotxtoken0000000000000")
        assert sorted(c["type"] for c in chans) == ["D", "O"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_flood_writes_posts_back_to_back_in_order_with_their_seqs():
    async def scenario():
        async with server() as (fake, api):
            ws, cid = await _resumable(api)
            await api.post("before")            # queued the ordinary way: seq 1
            r = await api.ctl("POST", "/flood", {"user": "alice", "channel": "town-square",
                                                 "count": 600, "prefix": "f "})
            assert r["count"] == 600 and r["sockets"] == 1
            got = [await recv(ws) for _ in range(601)]
            assert [e["seq"] for e in got] == list(range(1, 602))
            texts = [json.loads(e["data"]["post"])["message"] for e in got]
            assert texts == ["before"] + [f"f {i}" for i in range(600)]
            assert json.loads(got[-1]["data"]["post"])["id"] == r["last"]
            # More than the 256-event send queue, and the socket still lives.
            await api.post("after")
            assert (await recv(ws))["seq"] == 602
            # Resumable from the dead queue like any other event.
            posts = (await api.ctl("GET", "/channels/town-square/posts"))["posts"]
            assert len(posts) == 602
            for bad in ({"count": 0}, {"count": fm.FLOOD_MAX + 1}, {"count": "9"},
                        {"count": 1, "prefix": 5}):
                async with api.http.post(api.url + "/_fake/flood", json=dict(
                        {"user": "alice", "channel": "town-square"}, **bad)) as resp:
                    assert resp.status == 400, bad
            async with api.http.post(api.url + "/_fake/flood", json={
                    "user": "bob", "channel": "town-square", "count": 1}) as resp:
                assert resp.status == 200
            await ws.close()
    run(scenario(), timeout=20)
