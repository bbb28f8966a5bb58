#!/usr/bin/python3
"""A fake Mattermost server (API v4 + WebSocket) for copilot-bridge tests.

Protocol facts follow /work/shared/reference/platforms.md §A, §C and §D.1
(the Mattermost server's api4, platform/web_conn.go and web_hub.go).  The
official `@mattermost/client` conformance tests in tests/conformance/ prove
that it is faithful; docs/testing.md ("Fake Mattermost") documents the CLI,
the seed file and the `/_fake/...` control API.

    /usr/bin/python3 tests/fakes/mattermost.py --port 0 [--port-file PATH] [--seed FILE]

It binds 127.0.0.1 only, prints `LISTENING <port>` and runs until SIGTERM or
SIGINT.  In-process use:

    fake = FakeMattermost()
    port = await fake.start()
    ...
    await fake.stop()

Every buffer is bounded (see the *_MAX constants).
"""

import argparse
import asyncio
import base64
import hashlib
import json
import mimetypes
import os
import re
import resource
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from collections import OrderedDict, deque

from aiohttp import WSMsgType, web

# --- Constants taken from the server (platform/web_conn.go, model) ----------

SERVER_VERSION = "10.5.0"
BUILD_NUMBER = "0"
CONFIG_HASH = hashlib.md5(b"copilot-bridge fake mattermost").hexdigest()
FULL_VERSION = f"{SERVER_VERSION}.{BUILD_NUMBER}.{CONFIG_HASH}.false"
DEAD_QUEUE_SIZE = 128          # deadQueueSize
SEND_QUEUE_SIZE = 256          # sendQueueSize
SOCKET_MAX_MESSAGE = 8 * 1024  # model.SocketMaxMessageSizeKb
MAX_POST_RUNES = 16383         # model.PostMessageMaxRunesV2

# --- Fake-only bounds ---------------------------------------------------------

POSTS_MAX = 20000
HISTORY_MAX = 100
LOG_MAX = 1000
LOG_BODY_MAX = 4096
SOCKETS_MAX = 1024             # a bridge of hundreds of bots on one server
FLOOD_MAX = 20000               # posts of one /_fake/flood (POSTS_MAX)
INACTIVE_CONNS_MAX = 256
OBJECTS_MAX = 2000              # users, channels, tokens, sessions created at run time
FILES_BYTES_MAX = 64 * 1024 * 1024
REQUEST_MAX = 32 * 1024 * 1024

DEFAULT_CONFIG = {
    # What a socket does when the token that opened it is revoked (D.1):
    # "keep" = keeps delivering (the real server on the revoking node),
    # "silence" = stays open, no events, actions FAIL not_authenticated,
    # "close" = TCP closed (fake-only convenience).
    "revoke_sockets": "keep",
    "ws_auth_timeout": 5.0,     # authCheckInterval
    "ping_interval": 60.0,      # pingInterval
    "pong_wait": 100.0,         # pongWaitTime (read deadline, extended by pongs only)
    "reap_after": 300.0,        # inactive connections are forgotten after this
    "ratelimit_headers": False,  # X-Ratelimit-* on every response
    "ratelimit_websocket": False,  # 429s also hit the websocket upgrade
    "me_delay": 0.0,            # seconds before GET /users/me answers (a slow server)
    "fail_paths": [],           # REST paths answered 500 (a failing server)
}

DEFAULT_TOKENS = {
    "bot-a": "fakebotatoken0000000000000",
    "alice": "fakealicetoken000000000000",
    "bob": "fakebobtoken00000000000000",
}
for _t in DEFAULT_TOKENS.values():
    assert len(_t) == 26

DEFAULT_SEED = {
    "team": {"name": "test-team", "display_name": "Test Team"},
    "users": [
        {"username": "bot-a", "is_bot": True, "tokens": [DEFAULT_TOKENS["bot-a"]]},
        {"username": "alice", "admin": True, "password": "alice-password",
         "tokens": [DEFAULT_TOKENS["alice"]]},
        {"username": "bob", "password": "bob-password", "tokens": [DEFAULT_TOKENS["bob"]]},
    ],
    "channels": [
        {"name": "town-square", "display_name": "Town Square", "type": "O", "members": "*"},
        {"type": "D", "members": ["bot-a", "alice"]},
    ],
}

# --- Helpers ----------------------------------------------------------------

_STD32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_MM32 = "ybndrfg8ejkmcpqxot1uwisza345h769"  # model.NewId's encoding
_TO_MM32 = str.maketrans(_STD32, _MM32)


def new_id(seed=None):
    """A 26-character Mattermost id; deterministic when `seed` is given."""
    raw = hashlib.sha256(seed.encode()).digest()[:16] if seed else secrets.token_bytes(16)
    return base64.b32encode(raw).decode().rstrip("=").translate(_TO_MM32)[:26]


def valid_id(value):
    return isinstance(value, str) and len(value) == 26 and all(c.isalnum() for c in value)


def gojson(obj):
    """JSON as Go's encoding/json writes it: compact, UTF-8, <>& and U+2028/9 escaped."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def gomap(value):
    """Go marshals maps with sorted keys; apply that to free-form maps."""
    if isinstance(value, dict):
        return {k: gomap(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [gomap(v) for v in value]
    return value


def utf8(text):
    return text.encode("utf-8", "replace")


class ApiError(Exception):
    def __init__(self, status, err_id, message, detailed=""):
        super().__init__(message)
        self.status, self.err_id, self.message, self.detailed = status, err_id, message, detailed


def e401():
    return ApiError(401, "api.context.session_expired.app_error",
                    "Invalid or expired session, please login again.")


def e403():
    return ApiError(403, "api.context.permissions.app_error",
                    "You do not have the appropriate permissions.")


def e_param(name):
    return ApiError(400, "api.context.invalid_param.app_error", f"Invalid {name} parameter.")


def e_body(name):
    return ApiError(400, "api.context.invalid_body_param.app_error",
                    f"Invalid or missing {name} in request body.")


def e_url(name):
    return ApiError(400, "api.context.invalid_url_param.app_error",
                    f"Invalid or missing {name} parameter in request URL.")


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


# --- WebSocket state -----------------------------------------------------------


class WebConn:
    """platform.WebConn: what survives a disconnect (queues, sequence)."""

    def __init__(self, connection_id):
        self.connection_id = connection_id
        self.user_id = ""
        self.session_token = ""     # "" = not authenticated
        self.sequence = 0           # next event seq
        self.dead = deque(maxlen=DEAD_QUEUE_SIZE)  # (seq, frame) of sent events
        self.send = deque()         # events/replies not yet written (<= SEND_QUEUE_SIZE)
        self.wake = asyncio.Event()
        self.reuse_count = 0
        self.registered = False
        self.active = False
        self.sock = None
        self.inactive_since = 0.0

    def has_msg_loss(self):
        if not self.dead:
            return False
        return self.dead[-1][0] != self.sequence - 1

    def dead_index(self, seq):
        for i, (s, _) in enumerate(self.dead):
            if s == seq:
                return i
        return None


class Sock:
    """One TCP WebSocket connection."""

    def __init__(self, sid, ws, transport, query, auth):
        self.id = sid
        self.ws = ws
        self.transport = transport
        self.query = query
        self.auth = auth            # "header" | "challenge" | None
        self.wc = None
        self.silenced = False
        self.detached = False
        self.resume = ""            # "", "replayed", "lossless", "new_connection"
        self.read_deadline = 0.0
        self.tasks = []

    async def write(self, text):
        if self.silenced or self.detached:
            return
        await self.ws.send_str(text)

    def close_tcp(self, abrupt=False):
        tr = self.transport
        if tr is None or tr.is_closing():
            return
        if abrupt:
            sk = tr.get_extra_info("socket")
            if sk is not None:
                try:
                    sk.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            tr.abort()
        else:
            tr.close()


# --- The fake ------------------------------------------------------------------


class FakeMattermost:
    def __init__(self, seed=None, port=0, config=None, verbose=False):
        self.seed = json.loads(json.dumps(seed if seed is not None else DEFAULT_SEED))
        self.port = port
        self.verbose = verbose
        self.config = dict(DEFAULT_CONFIG)
        if config:
            self.update_config(config)
        self.runner = None
        self.site = None
        self.socks = set()
        self.hub = {}               # connection_id -> WebConn (registered, active or not)
        self._sock_serial = 0
        self._housekeeper = None
        self._capture = None        # /_fake/flood: events held back, not queued
        self._last_ms = 0
        self._reset_state()

    # ---- lifecycle

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    async def start(self):
        app = web.Application(client_max_size=REQUEST_MAX)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        self.site = web.TCPSite(self.runner, "127.0.0.1", self.port, shutdown_timeout=0.5)
        await self.site.start()
        self.port = self.runner.addresses[0][1]
        self._housekeeper = asyncio.ensure_future(self._housekeeping())
        return self.port

    async def stop(self):
        if self._housekeeper:
            self._housekeeper.cancel()
            self._housekeeper = None
        for sock in list(self.socks):
            sock.close_tcp(abrupt=True)
            self._detach(sock)
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    def _log(self, *args):
        if self.verbose:
            print("fake-mm:", *args, file=sys.stderr, flush=True)

    async def _housekeeping(self):
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for cid, wc in list(self.hub.items()):
                if not wc.active and now - wc.inactive_since > self.config["reap_after"]:
                    self.hub.pop(cid, None)

    # ---- state

    def _reset_state(self):
        for sock in list(self.socks):
            sock.close_tcp(abrupt=True)
            self._detach(sock)
        self.hub.clear()
        self.users = OrderedDict()      # id -> user
        self.passwords = {}
        self.teams = OrderedDict()
        self.team_members = {}          # team_id -> {user_id: None}
        self.channels = OrderedDict()
        self.channel_members = {}       # channel_id -> {user_id: None}
        self.posts = OrderedDict()
        self.channel_posts = {}         # channel_id -> [post_id]
        self.replies = {}               # root_id -> [post_id]
        self.history = {}               # post_id -> [{message, edit_at, update_at}]
        self.reactions = {}             # post_id -> OrderedDict((user, emoji) -> reaction)
        self.files = OrderedDict()      # file_id -> (info, bytes)
        self.files_bytes = 0
        self.pats = OrderedDict()       # token_id -> {id, token, user_id, description, is_active}
        self.sessions = {}              # token -> {"user_id", "kind", "token_id"}
        self.ratelimit = {"count": 0, "retry_after": 1}
        self.requests_log = deque(maxlen=LOG_MAX)
        self.ws_log = deque(maxlen=LOG_MAX)
        self._apply_seed(self.seed)

    def _apply_seed(self, seed):
        if not isinstance(seed, dict):
            raise ValueError("seed must be a JSON object")
        team = seed.get("team", DEFAULT_SEED["team"])
        users = seed.get("users")
        channels = seed.get("channels")
        if users is None:
            users = DEFAULT_SEED["users"]
            if channels is None:
                channels = DEFAULT_SEED["channels"]
        if channels is None:
            channels = [DEFAULT_SEED["channels"][0]]
        self.team = self._create_team(team.get("name", "test-team"),
                                      team.get("display_name", "Test Team"), team.get("id"))
        for u in users:
            self._create_user_from_spec(u)
        for c in channels:
            self._create_channel_from_spec(c)

    def _now(self):
        ms = int(time.time() * 1000)
        self._last_ms = ms if ms > self._last_ms else self._last_ms + 1
        return self._last_ms

    def _check_capacity(self, table):
        if len(table) >= OBJECTS_MAX:
            raise ControlError(507, "fake capacity reached")

    def _create_team(self, name, display_name, tid=None):
        now = self._now()
        team = {"id": tid or new_id("team:" + name), "create_at": now, "update_at": now,
                "delete_at": 0, "display_name": display_name, "name": name, "description": "",
                "email": "", "type": "O", "company_name": "", "allowed_domains": "",
                "invite_id": new_id("invite:" + name), "allow_open_invite": True,
                "scheme_id": None, "group_constrained": None, "policy_id": None}
        self.teams[team["id"]] = team
        self.team_members[team["id"]] = {}
        return team

    def _create_user_from_spec(self, spec):
        if isinstance(spec, str):
            spec = {"username": spec}
        username = spec.get("username")
        if not isinstance(username, str) or not re.fullmatch(r"[a-z][a-z0-9._-]{0,63}", username):
            raise ControlError(400, f"invalid username {username!r}")
        if self._user_by_name(username):
            raise ControlError(400, f"user {username} exists")
        self._check_capacity(self.users)
        now = self._now()
        uid = spec.get("id") or new_id("user:" + username)
        is_bot = bool(spec.get("is_bot", False))
        roles = spec.get("roles") or ("system_admin system_user" if spec.get("admin") else "system_user")
        user = {"id": uid, "create_at": now, "update_at": now, "delete_at": 0,
                "username": username, "auth_data": "", "auth_service": "",
                "email": spec.get("email", f"{username}@example.test"), "nickname": "",
                "first_name": spec.get("first_name", ""), "last_name": spec.get("last_name", ""),
                "position": "", "roles": roles, "locale": "en",
                "timezone": {"automaticTimezone": "", "manualTimezone": "",
                             "useAutomaticTimezone": "true"},
                "is_bot": is_bot}
        if is_bot:
            user["bot_description"] = spec.get("description", "")
        self.users[uid] = user
        if not is_bot and spec.get("password"):
            self.passwords[uid] = spec["password"]
        self.team_members[self.team["id"]][uid] = None
        for tok in spec.get("tokens", []):
            if isinstance(tok, str):
                tok = {"token": tok}
            self._create_pat(uid, tok.get("description", "seeded"), tok.get("token"), tok.get("id"))
        return user

    def _create_channel_from_spec(self, spec):
        ctype = spec.get("type", "O")
        members = spec.get("members", [])
        if members == "*":
            members = [u["username"] for u in self.users.values()]
        uids = []
        for m in members:
            u = self._user_ref(m)
            if u is None:
                raise ControlError(400, f"unknown member {m!r}")
            uids.append(u["id"])
        if ctype == "D":
            if len(uids) != 2:
                raise ControlError(400, "a DM needs exactly two members")
            return self._direct_channel(uids[0], uids[1], spec.get("id"))
        if ctype == "G":
            return self._group_channel(uids, spec.get("id"))
        if ctype not in ("O", "P"):
            raise ControlError(400, f"bad channel type {ctype!r}")
        name = spec.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
            raise ControlError(400, f"invalid channel name {name!r}")
        if self._channel_by_name(self.team["id"], name):
            raise ControlError(400, f"channel {name} exists")
        ch = self._new_channel(self.team["id"], ctype, name, spec.get("display_name", name),
                               uids[0] if uids else "", spec.get("id"))
        for uid in uids:
            self.channel_members[ch["id"]][uid] = None
        return ch

    def _new_channel(self, team_id, ctype, name, display_name, creator, cid=None):
        self._check_capacity(self.channels)
        now = self._now()
        ch = {"id": cid or new_id(f"channel:{team_id}:{name}"), "create_at": now,
              "update_at": now, "delete_at": 0, "team_id": team_id, "type": ctype,
              "display_name": display_name, "name": name, "header": "", "purpose": "",
              "last_post_at": 0, "total_msg_count": 0, "extra_update_at": 0,
              "creator_id": creator, "scheme_id": None, "props": None,
              "group_constrained": None, "shared": None, "total_msg_count_root": 0,
              "policy_id": None, "last_root_post_at": 0}
        self.channels[ch["id"]] = ch
        self.channel_members[ch["id"]] = {}
        self.channel_posts[ch["id"]] = []
        return ch

    def _direct_channel(self, a, b, cid=None):
        x, y = sorted((a, b))
        name = f"{x}__{y}"
        for ch in self.channels.values():
            if ch["type"] == "D" and ch["name"] == name:
                return ch
        ch = self._new_channel("", "D", name, "", a, cid)
        self.channel_members[ch["id"]][x] = None
        self.channel_members[ch["id"]][y] = None
        self._emit("direct_added", {"creator_id": a, "teammate_id": b}, channel_id=ch["id"])
        return ch

    def _group_channel(self, uids, cid=None):
        uids = sorted(set(uids))
        if len(uids) < 3:
            raise ControlError(400, "a group message needs at least three members")
        name = hashlib.sha1(",".join(uids).encode()).hexdigest()
        for ch in self.channels.values():
            if ch["type"] == "G" and ch["name"] == name:
                return ch
        display = ", ".join(sorted(self.users[u]["username"] for u in uids))
        ch = self._new_channel("", "G", name, display, uids[0], cid)
        for u in uids:
            self.channel_members[ch["id"]][u] = None
        return ch

    def _create_pat(self, user_id, description, token=None, token_id=None):
        self._check_capacity(self.pats)
        token = token or new_id()
        if token in self.sessions:
            raise ControlError(400, "token value already in use")
        pat = {"id": token_id or new_id(), "token": token, "user_id": user_id,
               "description": description or "", "is_active": True}
        self.pats[pat["id"]] = pat
        self.sessions[token] = {"user_id": user_id, "kind": "pat", "token_id": pat["id"]}
        return pat

    def _revoke_token(self, token, sockets=None):
        """Delete a session (PAT or login) and apply the socket policy."""
        sess = self.sessions.pop(token, None)
        if sess and sess.get("token_id"):
            self.pats.pop(sess["token_id"], None)
        mode = sockets or self.config["revoke_sockets"]
        for wc in list(self.hub.values()):
            if wc.session_token != token:
                continue
            if mode == "silence":
                wc.session_token = ""
            elif mode == "close":
                wc.session_token = ""
                if wc.sock:
                    wc.sock.close_tcp()
        # Sockets not yet registered (challenge pending) cannot hold the token.
        return sess

    def _session_user(self, token):
        sess = self.sessions.get(token)
        if not sess:
            return None
        if sess.get("token_id"):
            pat = self.pats.get(sess["token_id"])
            if not pat or not pat["is_active"]:
                return None
        return self.users.get(sess["user_id"])

    # ---- lookups

    def _user_by_name(self, name):
        for u in self.users.values():
            if u["username"] == name:
                return u
        return None

    def _user_ref(self, ref):
        if not isinstance(ref, str):
            return None
        ref = ref.lstrip("@")
        return self.users.get(ref) or self._user_by_name(ref)

    def _channel_by_name(self, team_id, name):
        for ch in self.channels.values():
            if ch["team_id"] == team_id and ch["name"] == name:
                return ch
        return None

    def _channel_ref(self, ref):
        if not isinstance(ref, str):
            return None
        return self.channels.get(ref) or self._channel_by_name(self.team["id"], ref)

    def _is_admin(self, user):
        return "system_admin" in user["roles"].split()

    def _is_member(self, channel_id, user_id):
        return user_id in self.channel_members.get(channel_id, {})

    def _can_read_channel(self, user, ch):
        if self._is_member(ch["id"], user["id"]) or self._is_admin(user):
            return True
        return ch["type"] == "O" and user["id"] in self.team_members.get(ch["team_id"], {})

    # ---- serialisation

    def _post_json(self, post):
        root = post["root_id"] or post["id"]
        replies = [self.posts[r] for r in self.replies.get(root, []) if r in self.posts]
        live = [r for r in replies if not r["delete_at"]]
        out = OrderedDict()
        for k in ("id", "create_at", "update_at", "edit_at", "delete_at", "is_pinned",
                  "user_id", "channel_id", "root_id", "original_id", "message", "type"):
            out[k] = post[k]
        out["props"] = gomap(post["props"])
        out["hashtags"] = post["hashtags"]
        if post["file_ids"]:
            out["file_ids"] = list(post["file_ids"])
        out["pending_post_id"] = post["pending_post_id"]
        if post["has_reactions"]:
            out["has_reactions"] = True
        out["reply_count"] = len(live)
        out["last_reply_at"] = max((r["create_at"] for r in live), default=0)
        out["participants"] = None
        meta = {}
        if post["file_ids"]:
            meta["files"] = [self.files[f][0] for f in post["file_ids"] if f in self.files]
        reacts = list(self.reactions.get(post["id"], {}).values())
        if reacts:
            meta["reactions"] = reacts
        out["metadata"] = meta
        return out

    def _post_list(self, posts):
        posts = sorted(posts, key=lambda p: p["create_at"], reverse=True)
        return OrderedDict([
            ("order", [p["id"] for p in posts]),
            ("posts", {p["id"]: self._post_json(p) for p in posts}),
            ("next_post_id", ""), ("prev_post_id", ""), ("has_next", False),
            ("first_inaccessible_post_time", 0)])

    @staticmethod
    def _frame(event, data, broadcast, seq):
        # The hub's pre-serialised form (spaces after the colons).
        return '{"event": %s, "data": %s, "broadcast": %s, "seq": %d}' % (
            gojson(event), gojson(gomap(data)), gojson(broadcast), seq)

    @staticmethod
    def _broadcast(channel_id="", user_id="", team_id="", omit_users=None):
        return OrderedDict([("omit_users", omit_users), ("user_id", user_id),
                            ("channel_id", channel_id), ("team_id", team_id),
                            ("connection_id", ""), ("omit_connection_id", "")])

    # ---- HTTP plumbing

    def _json(self, obj, status=200, headers=None):
        h = {"Content-Type": "application/json", "X-Request-Id": new_id(),
             "X-Version-Id": FULL_VERSION}
        if headers:
            h.update(headers)
        return web.Response(body=utf8(gojson(obj)), status=status, headers=h)

    def _error(self, err):
        body = OrderedDict([("id", err.err_id), ("message", err.message),
                            ("detailed_error", err.detailed), ("request_id", new_id()),
                            ("status_code", err.status)])
        return self._json(body, err.status)

    def _ratelimit_headers(self, limited):
        rl = self.ratelimit
        h = {"X-Ratelimit-Limit": "101",
             "X-Ratelimit-Remaining": "0" if limited else "100",
             "X-Ratelimit-Reset": str(rl["retry_after"] if limited else 0)}
        if limited:
            h["Retry-After"] = str(rl["retry_after"])
        return h

    async def _dispatch(self, request):
        path = request.path
        if path.startswith("/_fake/") or path == "/_fake":
            return await self._control(request)
        if not path.startswith("/api/v4/"):
            return self._error(ApiError(404, "api.context.404.app_error",
                                        "Sorry, we could not find the page."))
        sub = path[len("/api/v4"):]
        is_ws = sub in ("/websocket", "/websocket/")
        rl_headers = None
        if self.ratelimit["count"] > 0 and (not is_ws or self.config["ratelimit_websocket"]):
            self.ratelimit["count"] -= 1
            self._log_request(request, 429, None, None)
            h = self._ratelimit_headers(True)
            h["X-Content-Type-Options"] = "nosniff"
            return web.Response(body=b"limit exceeded\n", status=429, headers={
                **h, "Content-Type": "text/plain; charset=utf-8"})
        if self.config["ratelimit_headers"]:
            rl_headers = self._ratelimit_headers(False)
        if is_ws:
            return await self._websocket(request)
        body_text = None
        user = None
        try:
            if path in self.config["fail_paths"]:
                raise ApiError(500, "api.fake.fail_paths", "Failing as configured.")
            handler, params, auth = self._route(request.method, sub)
            if auth:
                user = self._authenticate(request)
            raw = b""
            if request.content_type != "multipart/form-data" and request.can_read_body:
                raw = await request.read()     # bounded by client_max_size
                body_text = raw[:LOG_BODY_MAX].decode("utf-8", "replace") if raw else None
            resp = await handler(request, params, user, raw)
        except ApiError as err:
            resp = self._error(err)
        except ControlError as err:
            resp = self._error(ApiError(err.status, "api.fake.error", err.message))
        except (TypeError, ValueError, KeyError, AttributeError):
            # A body of the wrong shape (the server's JSON decoding would refuse it).
            resp = self._error(e_body("body"))
        if rl_headers:
            resp.headers.update(rl_headers)
        self._log_request(request, resp.status, user, body_text)
        return resp

    def _log_request(self, request, status, user, body_text):
        self.requests_log.append(OrderedDict([
            ("time", int(time.time() * 1000)), ("method", request.method),
            ("path", request.path), ("query", dict(request.query)), ("status", status),
            ("user_id", user["id"] if user else ""),
            ("username", user["username"] if user else ""), ("body", body_text)]))

    def _parse_token(self, request):
        """app.ParseAuthTokenFromRequest: cookie, then header, then query string."""
        cookie = request.cookies.get("MMAUTHTOKEN")
        if cookie:
            return cookie, "cookie"
        auth = request.headers.get("Authorization", "")
        if len(auth) > 6 and auth[:6].upper() == "BEARER":
            return auth[7:], "header"
        if len(auth) > 5 and auth[:5].lower() == "token":
            return auth[6:], "header"
        q = request.query.get("access_token")
        if q:
            return q, "query"
        return "", ""

    def _authenticate(self, request, required=True):
        token, where = self._parse_token(request)
        if not token:
            if required:
                raise e401()
            return None
        user = self._session_user(token)
        if user is None:
            if required:
                raise e401()
            return None
        if where == "query":
            # Only OAuth tokens may come in the query string; the fake has none.
            raise ApiError(401, "api.context.token_provided.app_error",
                           "Session is not OAuth but token was provided in the query string.")
        request["mm_token"] = token
        return user

    @staticmethod
    def _body(raw, kind=dict, name="body"):
        try:
            val = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            raise e_body(name)
        if not isinstance(val, kind):
            raise e_body(name)
        return val

    # ---- REST routes

    def _routes(self):
        U = r"(?P<user_id>[A-Za-z0-9]+)"
        C = r"(?P<channel_id>[A-Za-z0-9]+)"
        P = r"(?P<post_id>[A-Za-z0-9]+)"
        T = r"(?P<team_id>[A-Za-z0-9]+)"
        return [
            ("GET", r"/system/ping", self.r_ping, False),
            ("POST", r"/users/login", self.r_login, False),
            ("POST", r"/users/logout", self.r_logout, True),
            ("POST", r"/users/ids", self.r_users_by_ids, True),
            ("POST", r"/users/usernames", self.r_users_by_names, True),
            ("POST", r"/users/tokens/revoke", self.r_token_revoke, True),
            ("POST", r"/users/tokens/disable", self.r_token_disable, True),
            ("POST", r"/users/tokens/enable", self.r_token_enable, True),
            ("GET", r"/users/tokens/(?P<token_id>[A-Za-z0-9]+)", self.r_token_get, True),
            ("GET", r"/users/username/(?P<username>[^/]+)", self.r_user_by_name, True),
            ("GET", "/users/" + U, self.r_user, True),
            ("GET", "/users/" + U + "/teams", self.r_user_teams, True),
            ("GET", "/users/" + U + "/channels", self.r_user_channels, True),
            ("GET", "/users/" + U + "/teams/" + T + "/channels", self.r_user_team_channels, True),
            ("POST", "/users/" + U + "/typing", self.r_typing, True),
            ("POST", "/users/" + U + "/tokens", self.r_token_create, True),
            ("GET", "/users/" + U + "/tokens", self.r_token_list, True),
            ("DELETE", "/users/" + U + "/posts/" + P + r"/reactions/(?P<emoji>[^/]+)",
             self.r_reaction_delete, True),
            ("GET", "/teams/" + T, self.r_team, True),
            ("GET", r"/teams/name/(?P<team_name>[^/]+)", self.r_team_by_name, True),
            ("POST", "/teams/" + T + "/members", self.r_team_member_add, True),
            ("GET", "/teams/" + T + r"/channels/name/(?P<name>[^/]+)", self.r_channel_by_name, True),
            ("GET", r"/teams/name/(?P<team_name>[^/]+)/channels/name/(?P<name>[^/]+)",
             self.r_channel_by_team_name, True),
            ("POST", r"/channels", self.r_channel_create, True),
            ("POST", r"/channels/direct", self.r_channel_direct, True),
            ("GET", "/channels/" + C, self.r_channel, True),
            ("GET", "/channels/" + C + "/posts", self.r_channel_posts, True),
            ("GET", "/channels/" + C + "/members", self.r_channel_members, True),
            ("POST", "/channels/" + C + "/members", self.r_channel_member_add, True),
            ("POST", r"/posts", self.r_post_create, True),
            ("GET", "/posts/" + P, self.r_post_get, True),
            ("PUT", "/posts/" + P + "/patch", self.r_post_patch, True),
            ("PUT", "/posts/" + P, self.r_post_update, True),
            ("DELETE", "/posts/" + P, self.r_post_delete, True),
            ("GET", "/posts/" + P + "/thread", self.r_post_thread, True),
            ("GET", "/posts/" + P + "/reactions", self.r_post_reactions, True),
            ("POST", r"/reactions", self.r_reaction_add, True),
            ("POST", r"/files", self.r_file_upload, True),
            ("GET", r"/files/(?P<file_id>[A-Za-z0-9]+)", self.r_file_get, True),
            ("GET", r"/files/(?P<file_id>[A-Za-z0-9]+)/info", self.r_file_info, True),
        ]

    def _route(self, method, sub):
        if not hasattr(self, "_compiled"):
            self._compiled = [(m, re.compile(p), h, a) for m, p, h, a in self._routes()]
        path_matched = False
        for m, rx, h, a in self._compiled:
            mt = rx.fullmatch(sub)
            if not mt:
                continue
            path_matched = True
            if m == method:
                return h, mt.groupdict(), a
        if path_matched:
            raise ApiError(405, "api.context.405.app_error", "Method not allowed.")
        raise ApiError(404, "api.context.404.app_error", "Sorry, we could not find the page.")

    def _path_user(self, params, me):
        uid = params["user_id"]
        if uid == "me":
            return me
        if not valid_id(uid):
            raise e_url("user_id")
        user = self.users.get(uid)
        if user is None:
            raise ApiError(404, "app.user.missing_account.const", "Unable to find the user.")
        return user

    def _path_channel(self, params, me, need_member=False):
        cid = params["channel_id"]
        if not valid_id(cid):
            raise e_url("channel_id")
        ch = self.channels.get(cid)
        if ch is None:
            if self._is_admin(me):
                raise ApiError(404, "app.channel.get.existing.app_error",
                               "Unable to find the existing channel.")
            raise e403()
        if need_member and not (self._is_member(cid, me["id"]) or self._is_admin(me)):
            raise e403()
        if not self._can_read_channel(me, ch):
            raise e403()
        return ch

    def _path_post(self, params, me, include_deleted=False):
        pid = params["post_id"]
        if not valid_id(pid):
            raise e_url("post_id")
        post = self.posts.get(pid)
        if post is None or (post["delete_at"] and not include_deleted):
            raise ApiError(404, "app.post.get.app_error", "Unable to get the post.")
        if not self._can_read_channel(me, self.channels[post["channel_id"]]):
            raise e403()
        return post

    def _path_team(self, params, me):
        tid = params["team_id"]
        if not valid_id(tid):
            raise e_url("team_id")
        team = self.teams.get(tid)
        if team is None:
            raise ApiError(404, "app.team.get.find.app_error", "Unable to find the existing team.")
        if me["id"] not in self.team_members[tid] and not self._is_admin(me):
            raise e403()
        return team

    async def r_ping(self, req, p, me, raw):
        return self._json(OrderedDict([("ActiveSearchBackend", "database"), ("status", "OK")]))

    async def r_login(self, req, p, me, raw):
        body = self._body(raw)
        login_id, password = body.get("login_id"), body.get("password")
        user = None
        if isinstance(login_id, str):
            user = self._user_by_name(login_id) or next(
                (u for u in self.users.values() if u["email"] == login_id), None)
        if user is not None and user["is_bot"]:
            raise ApiError(401, "api.user.login.bot_login_forbidden.app_error",
                           "Bot login is forbidden.")
        if user is None or not isinstance(password, str) or self.passwords.get(user["id"]) != password:
            raise ApiError(401, "api.user.login.invalid_credentials_email_username",
                           "Enter a valid email or username and/or password.")
        if len(self.sessions) >= OBJECTS_MAX:
            raise ControlError(507, "too many sessions")
        token = new_id()
        self.sessions[token] = {"user_id": user["id"], "kind": "session", "token_id": None}
        resp = self._json(user, headers={"Token": token})
        resp.set_cookie("MMAUTHTOKEN", token, path="/", httponly=True)
        resp.set_cookie("MMUSERID", user["id"], path="/")
        resp.set_cookie("MMCSRF", new_id(), path="/")
        return resp

    async def r_logout(self, req, p, me, raw):
        token = req.get("mm_token")
        sess = self.sessions.get(token)
        if sess and sess["kind"] == "session":
            self._revoke_token(token)
        return self._json({"status": "OK"})

    async def r_user(self, req, p, me, raw):
        if p["user_id"] == "me" and self.config["me_delay"] > 0:
            await asyncio.sleep(self.config["me_delay"])
        return self._json(self._path_user(p, me))

    async def r_user_by_name(self, req, p, me, raw):
        user = self._user_by_name(p["username"])
        if user is None:
            raise ApiError(404, "app.user.get_by_username.app_error",
                           "Unable to find an existing account matching your username for this team.")
        return self._json(user)

    async def r_users_by_ids(self, req, p, me, raw):
        ids = self._body(raw, list, "user_ids")
        return self._json([self.users[i] for i in ids if isinstance(i, str) and i in self.users])

    async def r_users_by_names(self, req, p, me, raw):
        names = self._body(raw, list, "usernames")
        return self._json([u for u in self.users.values() if u["username"] in names])

    async def r_user_teams(self, req, p, me, raw):
        user = self._path_user(p, me)
        if user is not me and not self._is_admin(me):
            raise e403()
        return self._json([t for tid, t in self.teams.items() if user["id"] in self.team_members[tid]])

    def _user_channels(self, user, team_id=None):
        out = []
        for cid, ch in self.channels.items():
            if user["id"] not in self.channel_members[cid]:
                continue
            if team_id is not None and ch["team_id"] not in ("", team_id):
                continue
            out.append(ch)
        return out

    async def r_user_channels(self, req, p, me, raw):
        user = self._path_user(p, me)
        if user is not me and not self._is_admin(me):
            raise e403()
        return self._json(self._user_channels(user))

    async def r_user_team_channels(self, req, p, me, raw):
        user = self._path_user(p, me)
        team = self._path_team(p, me)
        if user is not me and not self._is_admin(me):
            raise e403()
        return self._json(self._user_channels(user, team["id"]))

    async def r_typing(self, req, p, me, raw):
        user = self._path_user(p, me)
        if user is not me:
            raise e403()
        body = self._body(raw)
        cid = body.get("channel_id")
        if not valid_id(cid) or cid not in self.channels:
            raise e_body("channel_id")
        if not self._is_member(cid, me["id"]):
            raise e403()
        parent = body.get("parent_id", "")
        self._emit_typing(me["id"], cid, parent if isinstance(parent, str) else "")
        return self._json({"status": "OK"})

    async def r_token_create(self, req, p, me, raw):
        user = self._path_user(p, me)
        if user is not me and not self._is_admin(me):
            raise e403()
        body = self._body(raw)
        desc = body.get("description")
        if not isinstance(desc, str) or not desc:
            raise ApiError(400, "model.user_access_token.is_valid.description.app_error",
                           "Invalid description, must be 255 or less characters.")
        try:
            pat = self._create_pat(user["id"], desc)
        except ControlError as err:
            raise ApiError(err.status, "api.fake.error", err.message)
        return self._json(OrderedDict([("id", pat["id"]), ("token", pat["token"]),
                                       ("user_id", pat["user_id"]),
                                       ("description", pat["description"]),
                                       ("is_active", True)]))

    def _pat_public(self, pat):
        return OrderedDict([("id", pat["id"]), ("user_id", pat["user_id"]),
                            ("description", pat["description"]),
                            ("is_active", pat["is_active"])])

    async def r_token_list(self, req, p, me, raw):
        user = self._path_user(p, me)
        if user is not me and not self._is_admin(me):
            raise e403()
        return self._json([self._pat_public(t) for t in self.pats.values()
                           if t["user_id"] == user["id"]])

    def _pat_for(self, me, token_id):
        pat = self.pats.get(token_id) if isinstance(token_id, str) else None
        if pat is None:
            raise ApiError(404, "app.user_access_token.get_by_user.app_error",
                           "Unable to get user access token.")
        if pat["user_id"] != me["id"] and not self._is_admin(me):
            raise e403()
        return pat

    async def r_token_get(self, req, p, me, raw):
        return self._json(self._pat_public(self._pat_for(me, p["token_id"])))

    async def r_token_revoke(self, req, p, me, raw):
        pat = self._pat_for(me, self._body(raw).get("token_id"))
        self._revoke_token(pat["token"])
        return self._json({"status": "OK"})

    async def r_token_disable(self, req, p, me, raw):
        pat = self._pat_for(me, self._body(raw).get("token_id"))
        pat["is_active"] = False
        return self._json({"status": "OK"})

    async def r_token_enable(self, req, p, me, raw):
        pat = self._pat_for(me, self._body(raw).get("token_id"))
        pat["is_active"] = True
        return self._json({"status": "OK"})

    async def r_team(self, req, p, me, raw):
        return self._json(self._path_team(p, me))

    def _team_named(self, name, me):
        for tid, t in self.teams.items():
            if t["name"] == name:
                if me["id"] not in self.team_members[tid] and not self._is_admin(me):
                    raise e403()
                return t
        raise ApiError(404, "app.team.get_by_name.missing.app_error",
                       "Unable to find the existing team.")

    async def r_team_by_name(self, req, p, me, raw):
        return self._json(self._team_named(p["team_name"], me))

    async def r_team_member_add(self, req, p, me, raw):
        team = self._path_team(p, me)
        body = self._body(raw)
        user = self.users.get(body.get("user_id")) if isinstance(body.get("user_id"), str) else None
        if user is None:
            raise e_body("user_id")
        self.team_members[team["id"]][user["id"]] = None
        return self._json(OrderedDict([("team_id", team["id"]), ("user_id", user["id"]),
                                       ("roles", "team_user"), ("delete_at", 0),
                                       ("scheme_guest", False), ("scheme_user", True),
                                       ("scheme_admin", False)]), 201)

    def _channel_named(self, team, name, me, include_deleted):
        ch = self._channel_by_name(team["id"], name)
        if ch is None or (ch["delete_at"] and not include_deleted):
            raise ApiError(404, "app.channel.get_by_name.missing.app_error",
                           "Channel does not exist.")
        if not self._can_read_channel(me, ch):
            raise e403()
        return ch

    async def r_channel_by_name(self, req, p, me, raw):
        team = self._path_team(p, me)
        inc = req.query.get("include_deleted") == "true"
        return self._json(self._channel_named(team, p["name"], me, inc))

    async def r_channel_by_team_name(self, req, p, me, raw):
        team = self._team_named(p["team_name"], me)
        inc = req.query.get("include_deleted") == "true"
        return self._json(self._channel_named(team, p["name"], me, inc))

    async def r_channel_create(self, req, p, me, raw):
        body = self._body(raw, name="channel")
        team_id, name, ctype = body.get("team_id"), body.get("name"), body.get("type", "O")
        if team_id not in self.teams:
            raise e_body("team_id")
        if me["id"] not in self.team_members[team_id] and not self._is_admin(me):
            raise e403()
        if ctype not in ("O", "P"):
            raise ApiError(400, "model.channel.is_valid.type.app_error", "Invalid type.")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
            raise ApiError(400, "model.channel.is_valid.name.app_error", "Invalid channel name.")
        if self._channel_by_name(team_id, name):
            raise ApiError(400, "store.sql_channel.save_channel.exists.app_error",
                           "A channel with that name already exists on the same team.")
        display = body.get("display_name") or name
        try:
            ch = self._new_channel(team_id, ctype, name, display, me["id"])
        except ControlError as err:
            raise ApiError(err.status, "api.fake.error", err.message)
        self.channel_members[ch["id"]][me["id"]] = None
        return self._json(ch, 201)

    async def r_channel_direct(self, req, p, me, raw):
        ids = self._body(raw, list, "user_ids")
        if len(ids) != 2 or not all(isinstance(i, str) and i in self.users for i in ids):
            raise e_body("user_ids")
        if me["id"] not in ids and not self._is_admin(me):
            raise e403()
        try:
            ch = self._direct_channel(ids[0], ids[1])
        except ControlError as err:
            raise ApiError(err.status, "api.fake.error", err.message)
        return self._json(ch, 201)

    async def r_channel(self, req, p, me, raw):
        return self._json(self._path_channel(p, me))

    async def r_channel_members(self, req, p, me, raw):
        ch = self._path_channel(p, me)
        return self._json([self._member_json(ch["id"], u) for u in self.channel_members[ch["id"]]])

    def _member_json(self, cid, uid):
        return OrderedDict([("channel_id", cid), ("user_id", uid), ("roles", "channel_user"),
                            ("last_viewed_at", 0), ("msg_count", 0), ("mention_count", 0),
                            ("notify_props", {"desktop": "default", "mark_unread": "all"}),
                            ("last_update_at", self._now()), ("scheme_guest", False),
                            ("scheme_user", True), ("scheme_admin", False)])

    async def r_channel_member_add(self, req, p, me, raw):
        ch = self._path_channel(p, me)
        body = self._body(raw)
        uid = body.get("user_id")
        user = self.users.get(uid) if isinstance(uid, str) else None
        if user is None:
            raise e_body("user_id")
        if ch["type"] in ("D", "G"):
            raise ApiError(400, "api.channel.add_user_to_channel.type.app_error",
                           "Can not add user to this channel type.")
        if ch["type"] == "P" and not (self._is_member(ch["id"], me["id"]) or self._is_admin(me)):
            raise e403()
        if user["id"] not in self.team_members.get(ch["team_id"], {}):
            raise ApiError(404, "app.team.get_member.missing.app_error",
                           "No team member found for that user ID and team ID.")
        if not self._is_member(ch["id"], user["id"]):
            self._add_member(ch, user, actor=me, system_post=True)
        return self._json(self._member_json(ch["id"], user["id"]), 201)

    def _add_member(self, ch, user, actor=None, system_post=False):
        self.channel_members[ch["id"]][user["id"]] = None
        self._emit("user_added", {"team_id": ch["team_id"], "user_id": user["id"]},
                   channel_id=ch["id"])
        if system_post:
            if actor is None or actor["id"] == user["id"]:
                msg, ptype = f"@{user['username']} joined the channel.", "system_join_channel"
                props = {"username": user["username"]}
            else:
                msg = f"@{user['username']} added to the channel by @{actor['username']}."
                ptype = "system_add_to_channel"
                props = {"addedUserId": user["id"], "addedUsername": user["username"],
                         "userId": actor["id"], "username": actor["username"]}
            self._create_post(actor or user, ch, msg, ptype=ptype, props=props)

    async def r_channel_posts(self, req, p, me, raw):
        ch = self._path_channel(p, me)
        q = req.query
        all_posts = [self.posts[i] for i in self.channel_posts[ch["id"]] if i in self.posts]
        skip_threads = q.get("skipFetchThreads") == "true"
        if "since" in q:
            try:
                since = int(q["since"])
            except ValueError:
                raise e_param("since")
            changed = [x for x in all_posts if x["update_at"] > since][-1000:]
            ids = {x["id"] for x in changed}
            if not skip_threads:
                for x in list(changed):
                    r = x["root_id"]
                    if r and r not in ids and r in self.posts:
                        ids.add(r)
                        changed.append(self.posts[r])
            return self._json(self._post_list(changed))
        try:
            page = int(q.get("page", 0))
            per_page = min(max(int(q.get("per_page", 60)), 1), 200)
        except ValueError:
            raise e_param("page")
        live = [x for x in all_posts if not x["delete_at"]]
        live.sort(key=lambda x: x["create_at"], reverse=True)
        return self._json(self._post_list(live[page * per_page:(page + 1) * per_page]))

    async def r_post_create(self, req, p, me, raw):
        body = self._body(raw, name="post")
        cid = body.get("channel_id")
        ch = self.channels.get(cid) if isinstance(cid, str) else None
        if ch is None or not self._is_member(ch["id"], me["id"]):
            raise e403()
        message = body.get("message", "")
        root_id = body.get("root_id", "") or ""
        props = body.get("props") or {}
        file_ids = body.get("file_ids") or []
        if not isinstance(message, str) or not isinstance(root_id, str) \
                or not isinstance(props, dict) or not isinstance(file_ids, list):
            raise e_body("post")
        set_online = req.query.get("set_online", "true") != "false"
        post = self._create_post(me, ch, message, root_id=root_id, props=props,
                                 file_ids=file_ids, set_online=set_online,
                                 pending_post_id=body.get("pending_post_id", "") or "")
        return self._json(self._post_json(post), 201)

    async def r_post_get(self, req, p, me, raw):
        return self._json(self._post_json(self._path_post(p, me)))

    async def r_post_thread(self, req, p, me, raw):
        post = self._path_post(p, me)
        root = self.posts.get(post["root_id"]) if post["root_id"] else post
        items = [root] + [self.posts[r] for r in self.replies.get(root["id"], [])
                          if r in self.posts and not self.posts[r]["delete_at"]]
        return self._json(self._post_list(items))

    def _check_edit(self, me, post):
        if post["user_id"] != me["id"] and not self._is_admin(me):
            raise e403()

    async def r_post_patch(self, req, p, me, raw):
        post = self._path_post(p, me)
        self._check_edit(me, post)
        body = self._body(raw, name="patch")
        self._patch_post(post, body)
        return self._json(self._post_json(post))

    async def r_post_update(self, req, p, me, raw):
        post = self._path_post(p, me)
        self._check_edit(me, post)
        body = self._body(raw, name="post")
        if body.get("id") not in (None, post["id"]):
            raise e_body("id")
        self._patch_post(post, {k: body[k] for k in ("message", "props", "file_ids", "is_pinned")
                                if k in body})
        return self._json(self._post_json(post))

    async def r_post_delete(self, req, p, me, raw):
        post = self._path_post(p, me)
        self._check_edit(me, post)
        self._delete_post(post, me)
        return self._json({"status": "OK"})

    async def r_post_reactions(self, req, p, me, raw):
        post = self._path_post(p, me)
        return self._json(list(self.reactions.get(post["id"], {}).values()))

    async def r_reaction_add(self, req, p, me, raw):
        body = self._body(raw, name="reaction")
        if body.get("user_id") != me["id"]:
            raise e403()
        post = self.posts.get(body.get("post_id")) if isinstance(body.get("post_id"), str) else None
        if post is None or post["delete_at"]:
            raise e_body("post_id")
        if not self._is_member(post["channel_id"], me["id"]):
            raise e403()
        emoji = body.get("emoji_name")
        if not isinstance(emoji, str) or not re.fullmatch(r"[a-z0-9_+-]{1,64}", emoji):
            raise ApiError(400, "model.reaction.is_valid.emoji_name.app_error",
                           "Invalid emoji name.")
        return self._json(self._add_reaction(me, post, emoji))

    async def r_reaction_delete(self, req, p, me, raw):
        user = self._path_user(p, me)
        if user is not me:
            raise e403()
        post = self._path_post(p, me)
        self._remove_reaction(me, post, p["emoji"])
        return self._json({"status": "OK"})

    async def r_file_upload(self, req, p, me, raw):
        if req.content_type != "multipart/form-data":
            raise ApiError(400, "api.file.upload_file.incorrect_number_of_files.app_error",
                           "Unable to upload files. Incorrect number of files specified.")
        reader = await req.multipart()
        channel_id = req.query.get("channel_id")
        client_ids, parts = [], []
        budget = [REQUEST_MAX]

        async def read_part(part):
            buf = bytearray()
            while True:
                chunk = await part.read_chunk(65536)
                if not chunk:
                    return bytes(buf)
                buf += chunk
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise ApiError(413, "api.file.upload_file.too_large_detailed.app_error",
                                   "Unable to upload file. File is too large.")

        while True:
            part = await reader.next()
            if part is None:
                break
            data = await read_part(part)
            if part.name == "channel_id":
                channel_id = data.decode("utf-8", "replace").strip()
            elif part.name == "client_ids":
                client_ids.append(data.decode("utf-8", "replace").strip())
            elif part.name == "files":
                parts.append((part.filename or "file", data, part.headers.get("Content-Type", "")))
        ch = self.channels.get(channel_id) if channel_id else None
        if ch is None:
            raise e_param("channel_id")
        if not self._is_member(ch["id"], me["id"]):
            raise e403()
        if not parts:
            raise ApiError(400, "api.file.upload_file.incorrect_number_of_files.app_error",
                           "Unable to upload files. Incorrect number of files specified.")
        infos = [self._store_file(me, ch, name, data, ctype) for name, data, ctype in parts]
        return self._json(OrderedDict([("file_infos", infos), ("client_ids", client_ids)]), 201)

    def _store_file(self, user, ch, name, data, ctype=""):
        if self.files_bytes + len(data) > FILES_BYTES_MAX:
            raise ApiError(413, "api.file.upload_file.too_large_detailed.app_error",
                           "Unable to upload file. File is too large.")
        now = self._now()
        ext = name.rsplit(".", 1)[1].lower() if "." in name else ""
        mime = mimetypes.guess_type(name)[0] or ctype or ""
        info = OrderedDict([("id", new_id()), ("user_id", user["id"]), ("channel_id", ch["id"]),
                            ("post_id", ""), ("create_at", now), ("update_at", now),
                            ("delete_at", 0), ("name", name), ("extension", ext),
                            ("size", len(data)), ("mime_type", mime), ("width", 0),
                            ("height", 0), ("has_preview_image", False), ("mini_preview", None),
                            ("remote_id", ""), ("archived", False)])
        self.files[info["id"]] = (info, bytes(data))
        self.files_bytes += len(data)
        return info

    def _file_for(self, p, me):
        fid = p["file_id"]
        if not valid_id(fid) or fid not in self.files:
            raise ApiError(404, "app.file_info.get.app_error", "Unable to get the file info.")
        info, data = self.files[fid]
        if info["user_id"] != me["id"] and not self._can_read_channel(me, self.channels[info["channel_id"]]):
            raise e403()
        return info, data

    async def r_file_get(self, req, p, me, raw):
        info, data = self._file_for(p, me)
        name = info["name"].replace('"', "")
        return web.Response(body=data, headers={
            "Content-Type": info["mime_type"] or "application/octet-stream",
            "Content-Disposition": f'attachment;filename="{name}"',
            "X-Content-Type-Options": "nosniff", "X-Request-Id": new_id(),
            "X-Version-Id": FULL_VERSION})

    async def r_file_info(self, req, p, me, raw):
        return self._json(self._file_for(p, me)[0])

    # ---- domain operations (REST and control API share them)

    def _mentions(self, sender, ch, message):
        members = self.channel_members[ch["id"]]
        out = []
        if ch["type"] in ("D", "G"):
            out = [u for u in members if u != sender["id"]]
        words = re.findall(r"@([a-z0-9][a-z0-9._-]*)", message.lower())
        for w in words:
            w2 = w.rstrip("._-")
            if w2 in ("channel", "all", "here"):
                out.extend(u for u in members if u != sender["id"])
                continue
            u = self._user_by_name(w) or self._user_by_name(w2)
            if u and u["id"] in members and u["id"] != sender["id"]:
                out.append(u["id"])
        seen, res = set(), []
        for u in out:
            if u not in seen:
                seen.add(u)
                res.append(u)
        return res

    def _create_post(self, user, ch, message, root_id="", props=None, file_ids=(),
                     ptype="", set_online=True, pending_post_id=""):
        if len(message) > MAX_POST_RUNES:
            raise ApiError(400, "model.post.is_valid.message_length.app_error",
                           "Message property is longer than the maximum permitted "
                           f"length of {MAX_POST_RUNES} characters.")
        if root_id:
            root = self.posts.get(root_id)
            if root is None or root["channel_id"] != ch["id"] or root["root_id"] or root["delete_at"]:
                raise ApiError(400, "api.post.create_post.root_id.app_error",
                               "Invalid RootId parameter.")
        files = []
        for f in file_ids:
            if not isinstance(f, str) or f not in self.files or self.files[f][0]["post_id"]:
                raise e_body("file_ids")
            files.append(self.files[f][0])
        props = dict(props or {})
        if user["is_bot"]:
            props["from_bot"] = "true"
        now = self._now()
        post = {"id": new_id(), "create_at": now, "update_at": now, "edit_at": 0,
                "delete_at": 0, "is_pinned": False, "user_id": user["id"],
                "channel_id": ch["id"], "root_id": root_id, "original_id": "",
                "message": message, "type": ptype, "props": props,
                "hashtags": " ".join(re.findall(r"(?<![\w#])#[A-Za-z][\w.-]{2,}", message)),
                "file_ids": list(file_ids), "pending_post_id": pending_post_id,
                "has_reactions": False}
        for info in files:
            info["post_id"] = post["id"]
        self.posts[post["id"]] = post
        self.channel_posts[ch["id"]].append(post["id"])
        self.history[post["id"]] = [{"message": message, "edit_at": 0, "update_at": now}]
        if root_id:
            self.replies.setdefault(root_id, []).append(post["id"])
            self.posts[root_id]["update_at"] = now
        ch["last_post_at"] = now
        ch["total_msg_count"] += 1
        if not root_id:
            ch["last_root_post_at"] = now
            ch["total_msg_count_root"] += 1
        self._trim_posts()
        # The `posted` event.
        data = {"channel_display_name": f"@{user['username']}" if ch["type"] == "D"
                else ch["display_name"],
                "channel_name": ch["name"], "channel_type": ch["type"],
                "post": gojson(self._post_json(post)),
                "sender_name": "System" if ptype.startswith("system_") else f"@{user['username']}",
                "set_online": set_online, "team_id": ch["team_id"]}
        mentions = self._mentions(user, ch, message)
        if mentions:
            data["mentions"] = gojson(mentions)
        if any(i["mime_type"].startswith("image/") for i in files):
            data["image"] = "true"
        if any(not i["mime_type"].startswith("image/") for i in files):
            data["otherFile"] = "true"
        self._emit("posted", data, channel_id=ch["id"])
        return post

    def _trim_posts(self):
        while len(self.posts) > POSTS_MAX:
            pid, post = self.posts.popitem(last=False)
            lst = self.channel_posts.get(post["channel_id"])
            if lst and pid in lst:
                lst.remove(pid)
            self.history.pop(pid, None)
            self.reactions.pop(pid, None)
            self.replies.pop(pid, None)

    def _patch_post(self, post, body):
        now = self._now()
        if "message" in body:
            msg = body["message"]
            if not isinstance(msg, str):
                raise e_body("message")
            if len(msg) > MAX_POST_RUNES:
                raise ApiError(400, "model.post.is_valid.message_length.app_error",
                               "Message property is longer than the maximum permitted length.")
            post["message"] = msg
            post["edit_at"] = now
        if "props" in body:
            if not isinstance(body["props"], dict):
                raise e_body("props")
            post["props"] = dict(body["props"])
        if "is_pinned" in body:
            post["is_pinned"] = bool(body["is_pinned"])
        if "file_ids" in body and isinstance(body["file_ids"], list):
            post["file_ids"] = [f for f in body["file_ids"] if f in self.files]
        post["update_at"] = now
        hist = self.history.setdefault(post["id"], [])
        hist.append({"message": post["message"], "edit_at": post["edit_at"], "update_at": now})
        del hist[:-HISTORY_MAX]
        self._emit("post_edited", {"post": gojson(self._post_json(post))},
                   channel_id=post["channel_id"])

    def _delete_post(self, post, actor):
        now = self._now()
        targets = [post] + [self.posts[r] for r in self.replies.get(post["id"], [])
                            if r in self.posts and not self.posts[r]["delete_at"]]
        for t in targets:
            t["delete_at"] = now
            t["update_at"] = now
        data = {"post": gojson(self._post_json(post))}
        if actor and actor["id"] != post["user_id"]:
            data["delete_by"] = actor["id"]
        self._emit("post_deleted", data, channel_id=post["channel_id"])

    def _reaction_json(self, r):
        return OrderedDict([("user_id", r["user_id"]), ("post_id", r["post_id"]),
                            ("emoji_name", r["emoji_name"]), ("create_at", r["create_at"]),
                            ("update_at", r["update_at"]), ("delete_at", 0),
                            ("remote_id", ""), ("channel_id", r["channel_id"])])

    def _add_reaction(self, user, post, emoji):
        reacts = self.reactions.setdefault(post["id"], OrderedDict())
        key = (user["id"], emoji)
        if key in reacts:
            return reacts[key]
        if len(reacts) >= 500:
            raise ApiError(400, "app.reaction.save.save.too_many_reactions", "Too many reactions.")
        now = self._now()
        r = self._reaction_json({"user_id": user["id"], "post_id": post["id"],
                                 "emoji_name": emoji, "create_at": now, "update_at": now,
                                 "channel_id": post["channel_id"]})
        reacts[key] = r
        post["has_reactions"] = True
        post["update_at"] = now
        self._emit("reaction_added", {"reaction": gojson(r)}, channel_id=post["channel_id"])
        return r

    def _remove_reaction(self, user, post, emoji):
        reacts = self.reactions.get(post["id"], {})
        r = reacts.pop((user["id"], emoji), None)
        if r is None:
            return
        now = self._now()
        post["has_reactions"] = bool(reacts)
        post["update_at"] = now
        gone = dict(r)
        gone["delete_at"] = now
        self._emit("reaction_removed", {"reaction": gojson(gone)}, channel_id=post["channel_id"])

    def _emit_typing(self, user_id, channel_id, parent_id):
        self._emit("typing", {"parent_id": parent_id, "user_id": user_id},
                   channel_id=channel_id, omit_users={user_id: True})

    # ---- WebSocket hub

    def _emit(self, event, data, channel_id="", user_id="", omit_users=None):
        evt = (event, data, self._broadcast(channel_id=channel_id, user_id=user_id,
                                            omit_users=omit_users))
        members = self.channel_members.get(channel_id, {}) if channel_id else None
        for wc in list(self.hub.values()):
            if not wc.session_token:   # !IsAuthenticated(): no events
                continue
            if user_id and wc.user_id != user_id:
                continue
            if members is not None and wc.user_id not in members:
                continue
            if omit_users and wc.user_id in omit_users:
                continue
            if self._capture is not None:
                self._capture.append((wc, evt))
            else:
                self._enqueue(wc, evt)

    def _enqueue(self, wc, item):
        if len(wc.send) >= SEND_QUEUE_SIZE:
            # The hub drops a connection whose queue is full; it cannot be resumed.
            self._log("send queue full, dropping", wc.connection_id)
            self.hub.pop(wc.connection_id, None)
            wc.registered = False
            if wc.sock:
                wc.sock.close_tcp()
            return
        wc.send.append(item)
        wc.wake.set()

    @staticmethod
    def _ws_frame(text):
        """One unmasked text frame (RFC 6455 5.2), as a server sends it."""
        b = utf8(text)
        n = len(b)
        if n < 126:
            return bytes((0x81, n)) + b
        if n < 65536:
            return struct.pack("!BBH", 0x81, 126, n) + b
        return struct.pack("!BBQ", 0x81, 127, n) + b

    async def _flood(self, body):
        """POST /_fake/flood: `count` posts by `user` in `channel`, all made
        first, then each socket's frames written back to back in one write.
        The posting rate is then the socket's, not this server's: a load
        generator that outruns the client under test.  Events keep their seq
        and enter the dead queue as usual; a connection with no socket gets
        them through its queue (which may overflow)."""
        user = self._user_arg(body)
        ch = self._channel_arg(body.get("channel"))
        count, prefix = body.get("count"), body.get("prefix", "flood ")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= FLOOD_MAX:
            raise ControlError(400, f"count must be 1..{FLOOD_MAX}")
        if not isinstance(prefix, str):
            raise ControlError(400, "prefix must be a string")
        if not self._is_member(ch["id"], user["id"]):
            raise ControlError(403, f"{user['username']} is not a member of {ch['name']}")
        t0 = time.monotonic()
        self._capture = []
        try:
            posts = [self._create_post(user, ch, f"{prefix}{i}")["id"] for i in range(count)]
        finally:
            held, self._capture = self._capture, None
        per = OrderedDict()
        for wc, evt in held:
            per.setdefault(wc, []).append(evt)
        # What is already queued for a socket goes first (seq order).
        deadline = time.monotonic() + 5
        while any(wc.send and wc.sock for wc in per) and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        built = time.monotonic()
        written = 0
        for wc, evts in per.items():
            sock = wc.sock
            if sock is None or sock.detached or wc.send:
                for evt in evts:
                    self._enqueue(wc, evt)
                continue
            blob = []
            for name, data, bc in evts:
                frame = self._frame(name, data, bc, wc.sequence)
                wc.dead.append((wc.sequence, frame))
                wc.sequence += 1
                blob.append(self._ws_frame(frame))
            if not sock.silenced and sock.transport is not None and not sock.transport.is_closing():
                sock.transport.write(b"".join(blob))
                written += 1
        return {"count": count, "first": posts[0], "last": posts[-1], "sockets": written,
                "build_ms": round((built - t0) * 1000, 1),
                "write_ms": round((time.monotonic() - built) * 1000, 1),
                "written_at_ms": int(time.time() * 1000)}

    def _reply(self, wc, seq, data=None, error=None):
        resp = OrderedDict([("status", "FAIL" if error else "OK")])
        if seq:
            resp["seq_reply"] = seq
        if data is not None:
            resp["data"] = gomap(data)
        if error is not None:
            resp["error"] = OrderedDict([("id", error[0]), ("message", error[1]),
                                         ("detailed_error", ""), ("status_code", error[2])])
        self._enqueue(wc, gojson(resp) + "\n")   # json.Encoder adds a newline

    def _hello(self, wc):
        data = {"connection_id": wc.connection_id, "server_hostname": "fake-mattermost",
                "server_version": FULL_VERSION}
        return ("hello", data, self._broadcast(user_id=wc.user_id))

    def _register(self, wc):
        wc.registered = True
        wc.active = True
        self.hub[wc.connection_id] = wc
        if wc.reuse_count == 0:
            self._enqueue(wc, self._hello(wc))
        inactive = [w for w in self.hub.values() if not w.active]
        if len(inactive) > INACTIVE_CONNS_MAX:
            inactive.sort(key=lambda w: w.inactive_since)
            for w in inactive[:len(inactive) - INACTIVE_CONNS_MAX]:
                self.hub.pop(w.connection_id, None)

    def _check_conn(self, user_id, connection_id):
        wc = self.hub.get(connection_id)
        if wc is None or wc.active or wc.user_id != user_id:
            return None
        del self.hub[connection_id]
        wc.reuse_count += 1
        return wc

    async def _websocket(self, request):
        token, where = self._parse_token(request)
        user = self._session_user(token) if token else None
        if user is not None and where == "query":
            return self._error(ApiError(401, "api.context.token_provided.app_error",
                                        "Session is not OAuth but token was provided in the query string."))
        if request.method != "GET":
            return self._error(ApiError(405, "api.context.405.app_error", "Method not allowed."))
        ws = web.WebSocketResponse(autoping=False, max_msg_size=SOCKET_MAX_MESSAGE,
                                   compress=False, timeout=1.0)
        if not ws.can_prepare(request).ok:
            return self._error(ApiError(400, "api.web_socket.connect.upgrade.app_error",
                                        "Failed to upgrade websocket connection."))
        if len(self.socks) >= SOCKETS_MAX:
            return self._error(ApiError(503, "api.fake.too_many_sockets", "Too many sockets."))
        await ws.prepare(request)
        self._sock_serial += 1
        sock = Sock(self._sock_serial, ws, request.transport, dict(request.query),
                    "header" if user else None)
        self.socks.add(sock)
        self._log_request(request, 101, user, None)
        try:
            q = request.query
            conn_id = q.get("connection_id", "")
            wc = None
            if conn_id and user is not None:
                seq_s = q.get("sequence_number", "")
                if not valid_id(conn_id) or not re.fullmatch(r"-?\d+", seq_s):
                    # PopulateWebConnConfig failed: ws.Close() without a close frame.
                    sock.close_tcp()
                    return ws
                wc = self._check_conn(user["id"], conn_id)
                if wc is not None:
                    wc.sequence = int(seq_s)
            if wc is None:
                wc = WebConn(new_id())
            sock.wc = wc
            wc.sock = sock
            if user is not None:
                wc.user_id = user["id"]
                wc.session_token = token
                self._register(wc)
            loop = asyncio.get_event_loop()
            sock.read_deadline = loop.time() + self.config["pong_wait"]
            sock.tasks = [asyncio.ensure_future(self._write_pump(sock, wc)),
                          asyncio.ensure_future(self._keepalive(sock, wc))]
            await self._read_pump(sock, wc)
        except ConnectionError:
            pass
        finally:
            self._detach(sock)
        return ws

    def _detach(self, sock):
        if sock.detached:
            return
        sock.detached = True
        self.socks.discard(sock)
        me = asyncio.current_task() if asyncio.get_event_loop().is_running() else None
        for t in sock.tasks:
            if t is not me:
                t.cancel()
        sock.close_tcp()
        wc = sock.wc
        if wc is not None and wc.sock is sock:
            wc.sock = None
            wc.active = False
            wc.inactive_since = time.monotonic()

    async def _read_pump(self, sock, wc):
        ws = sock.ws
        loop = asyncio.get_event_loop()
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.PING:
                if not sock.silenced:
                    await ws.pong(msg.data)
                continue
            if msg.type == WSMsgType.PONG:
                sock.read_deadline = loop.time() + self.config["pong_wait"]
                continue
            if msg.type == WSMsgType.TEXT:
                try:
                    req = json.loads(msg.data)
                except ValueError:
                    return
                if not isinstance(req, dict) or not await self._route_ws(sock, wc, req):
                    return
                continue
            # BINARY (msgpack is not supported by the fake), CLOSE, ERROR, CLOSED.
            return

    async def _route_ws(self, sock, wc, req):
        """platform.WebSocketRouter.ServeWebSocket. False = close the socket."""
        action, seq, data = req.get("action"), req.get("seq", 0), req.get("data")
        if seq is None:
            seq = 0
        if not isinstance(seq, int) or isinstance(seq, bool) or (
                data is not None and not isinstance(data, dict)) or (
                action is not None and not isinstance(action, str)):
            return False    # a decode error ends the read pump
        data = data or {}
        logged = {} if action == "authentication_challenge" else data   # no tokens in the log
        self.ws_log.append(OrderedDict([("time", int(time.time() * 1000)), ("socket", sock.id),
                                        ("connection_id", wc.connection_id),
                                        ("user_id", wc.user_id), ("action", action),
                                        ("seq", seq), ("data", logged)]))
        if not action:
            self._reply(wc, seq, error=("api.web_socket_router.no_action.app_error",
                                        "No websocket action.", 400))
            return True
        if seq <= 0:
            self._reply(wc, seq, error=("api.web_socket_router.bad_seq.app_error",
                                        "Invalid sequence for WebSocket message.", 400))
            return True
        if action == "authentication_challenge":
            if wc.session_token:
                return True     # silently ignored
            token = data.get("token")
            user = self._session_user(token) if isinstance(token, str) else None
            if user is None:
                sock.close_tcp()
                return False
            if sock.auth is None:
                sock.auth = "challenge"
            wc.user_id = user["id"]
            wc.session_token = token
            if not wc.registered:
                self._register(wc)
            self._reply(wc, seq)
            return True
        if not wc.session_token:
            self._reply(wc, seq, error=("api.web_socket_router.not_authenticated.app_error",
                                        "No session is authenticated on this connection.", 401))
            return True
        if action == "ping":
            self._reply(wc, seq, {"text": "pong", "version": SERVER_VERSION,
                                  "server_time": int(time.time() * 1000), "node_id": ""})
        elif action == "user_typing":
            cid = data.get("channel_id")
            parent = data.get("parent_id", "")
            if not valid_id(cid) or cid not in self.channels:
                self._reply(wc, seq, error=("api.websocket_handler.invalid_param.app_error",
                                            "Invalid channel_id parameter.", 400))
            elif not self._is_member(cid, wc.user_id):
                self._reply(wc, seq, error=("api.context.permissions.app_error",
                                            "You do not have the appropriate permissions.", 403))
            else:
                self._emit_typing(wc.user_id, cid, parent if isinstance(parent, str) else "")
                self._reply(wc, seq)
        elif action in ("get_statuses",):
            self._reply(wc, seq, {u: "online" for u in self.users})
        elif action == "get_statuses_by_ids":
            ids = data.get("user_ids")
            if not isinstance(ids, list) or not ids:
                self._reply(wc, seq, error=("api.websocket_handler.invalid_param.app_error",
                                            "Invalid user_ids parameter.", 400))
            else:
                self._reply(wc, seq, {u: "online" for u in ids if u in self.users})
        elif action in ("presence", "user_update_active_status"):
            self._reply(wc, seq)
        else:
            self._reply(wc, seq, error=("api.web_socket_router.bad_action.app_error",
                                        "Unknown websocket action.", 501))
        return True

    async def _write_pump(self, sock, wc):
        """platform.WebConn.writePump: resume logic, then the send queue."""
        try:
            if wc.sequence != 0:
                idx = wc.dead_index(wc.sequence)
                if idx is not None:
                    sock.resume = "replayed"
                    for s, frame in list(wc.dead)[idx:]:
                        await sock.write(frame)
                        wc.sequence = s + 1
                elif wc.has_msg_loss():
                    sock.resume = "new_connection"
                    wc.dead.clear()
                    old = wc.connection_id
                    wc.connection_id = new_id()
                    if self.hub.get(old) is wc:
                        del self.hub[old]
                        self.hub[wc.connection_id] = wc
                    wc.sequence = 0
                    name, data, bc = self._hello(wc)
                    frame = self._frame(name, data, bc, 0)
                    wc.dead.append((0, frame))
                    wc.sequence = 1
                    await sock.write(frame)
                else:
                    sock.resume = "lossless"
            while True:
                while not wc.send:
                    wc.wake.clear()
                    await wc.wake.wait()
                item = wc.send.popleft()
                if isinstance(item, tuple):
                    frame = self._frame(item[0], item[1], item[2], wc.sequence)
                    wc.dead.append((wc.sequence, frame))
                    wc.sequence += 1
                else:
                    frame = item
                await sock.write(frame)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # write failure: the socket is gone
            self._log("write pump ended:", repr(exc))
            sock.close_tcp()

    async def _keepalive(self, sock, wc):
        loop = asyncio.get_event_loop()
        start = loop.time()
        auth_deadline = start + self.config["ws_auth_timeout"]
        auth_checked = False
        next_ping = start + self.config["ping_interval"]
        try:
            while True:
                now = loop.time()
                if not auth_checked and now >= auth_deadline:
                    auth_checked = True
                    if not wc.session_token:
                        sock.close_tcp()
                        return
                if now >= sock.read_deadline:
                    sock.close_tcp()
                    return
                if now >= next_ping:
                    next_ping = now + self.config["ping_interval"]
                    if not sock.silenced:
                        await sock.ws.ping()
                wake = min(sock.read_deadline, next_ping,
                           auth_deadline if not auth_checked else next_ping)
                await asyncio.sleep(max(0.01, min(0.5, wake - now)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log("keepalive ended:", repr(exc))
            sock.close_tcp()

    # ---- control API (/_fake/...)

    def update_config(self, cfg):
        for k, v in cfg.items():
            if k not in DEFAULT_CONFIG:
                raise ControlError(400, f"unknown config key {k!r}")
            if k == "revoke_sockets" and v not in ("keep", "silence", "close"):
                raise ControlError(400, "revoke_sockets must be keep, silence or close")
            if isinstance(DEFAULT_CONFIG[k], list):
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise ControlError(400, f"{k} must be a list of strings")
                v = list(v)
            elif isinstance(DEFAULT_CONFIG[k], bool):
                if not isinstance(v, bool):
                    raise ControlError(400, f"{k} must be a boolean")
            elif isinstance(DEFAULT_CONFIG[k], float):
                low_ok = k == "me_delay" and v == 0
                if not isinstance(v, (int, float)) or isinstance(v, bool) or (v <= 0 and not low_ok):
                    raise ControlError(400, f"{k} must be a positive number")
                v = float(v)
            self.config[k] = v

    def _socket_json(self, sock):
        wc = sock.wc
        user = self.users.get(wc.user_id) if wc else None
        return OrderedDict([("socket", sock.id),
                            ("connection_id", wc.connection_id if wc else ""),
                            ("user_id", wc.user_id if wc else ""),
                            ("username", user["username"] if user else ""),
                            ("authenticated", bool(wc and wc.session_token)),
                            ("auth", sock.auth), ("silenced", sock.silenced),
                            ("next_seq", wc.sequence if wc else 0),
                            ("resume", sock.resume), ("query", sock.query)])

    def _match_socks(self, flt):
        out = []
        for sock in sorted(self.socks, key=lambda s: s.id):
            wc = sock.wc
            if "socket" in flt and sock.id != flt["socket"]:
                continue
            if "connection_id" in flt and (not wc or wc.connection_id != flt["connection_id"]):
                continue
            if "user" in flt:
                u = self._user_ref(flt["user"])
                if u is None or not wc or wc.user_id != u["id"]:
                    continue
            out.append(sock)
        return out

    def _match_inactive(self, flt):
        out = []
        for wc in self.hub.values():
            if wc.active:
                continue
            if "connection_id" in flt and wc.connection_id != flt["connection_id"]:
                continue
            if "user" in flt:
                u = self._user_ref(flt["user"])
                if u is None or wc.user_id != u["id"]:
                    continue
            out.append(wc)
        return out

    def _user_arg(self, body, key="user"):
        u = self._user_ref(body.get(key))
        if u is None:
            raise ControlError(404, f"unknown user {body.get(key)!r}")
        return u

    def _channel_arg(self, ref):
        ch = self._channel_ref(ref)
        if ch is None:
            raise ControlError(404, f"unknown channel {ref!r}")
        return ch

    def _post_arg(self, pid):
        post = self.posts.get(pid) if isinstance(pid, str) else None
        if post is None:
            raise ControlError(404, f"unknown post {pid!r}")
        return post

    def _state(self):
        return OrderedDict([
            ("url", self.url), ("team", self.team),
            ("users", [dict(u, tokens=[t["token"] for t in self.pats.values()
                                       if t["user_id"] == u["id"] and t["is_active"]],
                            password=self.passwords.get(u["id"], ""))
                       for u in self.users.values()]),
            ("channels", [dict(c, members=[self.users[m]["username"]
                                           for m in self.channel_members[c["id"]]])
                          for c in self.channels.values()]),
            ("config", self.config), ("ratelimit", self.ratelimit)])

    async def _control(self, request):
        try:
            raw = await request.read() if request.can_read_body else b""
            try:
                body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            except (ValueError, UnicodeDecodeError):
                raise ControlError(400, "body is not JSON")
            if not isinstance(body, dict):
                raise ControlError(400, "body must be a JSON object")
            result = self._control_route(request.method, request.path[len("/_fake"):],
                                         body, request.query)
            if asyncio.iscoroutine(result):
                result = await result
            return self._json(result)
        except ControlError as err:
            return self._json({"error": err.message}, err.status)
        except ApiError as err:
            return self._json({"error": err.message, "id": err.err_id}, err.status)
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            return self._json({"error": f"bad request: {err!r}"}, 400)

    def _control_route(self, method, path, body, query):
        m = re.fullmatch(r"/channels/([^/]+)/(posts|members)", path)
        if method == "GET" and path == "/state":
            return self._state()
        if method == "POST" and path == "/reset":
            old = self.seed
            if "seed" in body:
                self.seed = json.loads(json.dumps(body["seed"]))
            try:
                self._reset_state()
            except (ControlError, ValueError, TypeError, KeyError, AttributeError) as err:
                self.seed = old
                self._reset_state()
                raise ControlError(400, f"bad seed: {err}")
            return self._state()
        if method == "POST" and path == "/config":
            self.update_config(body)
            return self.config
        if method == "POST" and path == "/users":
            user = self._create_user_from_spec(body)
            for cref in body.get("channels", ["town-square"]):
                ch = self._channel_ref(cref)
                if ch is not None:
                    self.channel_members[ch["id"]][user["id"]] = None
            return dict(user, tokens=[t["token"] for t in self.pats.values()
                                      if t["user_id"] == user["id"]])
        if method == "POST" and path == "/channels":
            ch = self._create_channel_from_spec(body)
            return dict(ch, members=[self.users[u]["username"] for u in self.channel_members[ch["id"]]])
        if m and method == "POST" and m.group(2) == "members":
            ch = self._channel_arg(m.group(1))
            user = self._user_arg(body)
            if not self._is_member(ch["id"], user["id"]):
                self._add_member(ch, user, system_post=bool(body.get("system_post")))
            return {"status": "OK"}
        if m and method == "GET" and m.group(2) == "posts":
            ch = self._channel_arg(m.group(1))
            out = []
            for pid in self.channel_posts[ch["id"]]:
                if pid in self.posts:
                    pj = dict(self._post_json(self.posts[pid]))
                    pj["history"] = self.history.get(pid, [])
                    out.append(pj)
            return {"channel_id": ch["id"], "posts": out}
        if method == "POST" and path == "/tokens":
            user = self._user_arg(body)
            pat = self._create_pat(user["id"], body.get("description", "control"), body.get("token"))
            return dict(pat)
        if method == "POST" and path in ("/tokens/revoke", "/tokens/rotate"):
            mode = body.get("sockets", "close" if path.endswith("rotate") else None)
            if mode not in (None, "keep", "silence", "close"):
                raise ControlError(400, "sockets must be keep, silence or close")
            token = body.get("token")
            if token is None and "user" in body:
                user = self._user_arg(body)
                pats = [t for t in self.pats.values() if t["user_id"] == user["id"]]
                if not pats:
                    raise ControlError(404, "user has no token")
                token = pats[0]["token"]
            sess = self.sessions.get(token) if isinstance(token, str) else None
            if sess is None:
                raise ControlError(404, "unknown token")
            old_id = sess.get("token_id")
            self._revoke_token(token, mode)
            if path.endswith("revoke"):
                return {"status": "OK", "revoked": token}
            pat = self._create_pat(sess["user_id"], body.get("description", "rotated"),
                                   body.get("new_token"))
            return dict(pat, old_token=token, old_id=old_id)
        if method == "POST" and path == "/post":
            user = self._user_arg(body)
            ch = self._channel_arg(body.get("channel"))
            if not self._is_member(ch["id"], user["id"]):
                raise ControlError(403, f"{user['username']} is not a member of {ch['name']}")
            file_ids = []
            for f in body.get("files", []):
                content = f.get("content_b64")
                data = base64.b64decode(content) if content else utf8(f.get("content", ""))
                file_ids.append(self._store_file(user, ch, f.get("name", "file.txt"), data,
                                                 f.get("mime_type", ""))["id"])
            message = body.get("message", "")
            if not isinstance(message, str):
                raise ControlError(400, "message must be a string")
            post = self._create_post(user, ch, message, root_id=body.get("root_id", ""),
                                     props=body.get("props"), file_ids=file_ids,
                                     ptype=body.get("type", ""))
            return self._post_json(post)
        pm = re.fullmatch(r"/posts/([^/]+)/(edit|delete)", path)
        if pm and method == "POST":
            post = self._post_arg(pm.group(1))
            actor = self._user_ref(body.get("user", "")) or self.users[post["user_id"]]
            if pm.group(2) == "edit":
                self._patch_post(post, {"message": body.get("message", "")})
            else:
                self._delete_post(post, actor)
            return self._post_json(post)
        if method == "POST" and path == "/react":
            user = self._user_arg(body)
            post = self._post_arg(body.get("post_id"))
            emoji = body.get("emoji_name")
            if not isinstance(emoji, str) or not emoji:
                raise ControlError(400, "emoji_name required")
            if body.get("remove"):
                self._remove_reaction(user, post, emoji)
                return {"status": "OK"}
            return self._add_reaction(user, post, emoji)
        if method == "POST" and path == "/typing":
            user = self._user_arg(body)
            ch = self._channel_arg(body.get("channel"))
            self._emit_typing(user["id"], ch["id"], body.get("parent_id", ""))
            return {"status": "OK"}
        if method == "POST" and path == "/flood":
            return self._flood(body)
        if method == "GET" and path == "/sockets":
            return {"sockets": [self._socket_json(s) for s in sorted(self.socks, key=lambda s: s.id)],
                    "inactive": [OrderedDict([("connection_id", w.connection_id),
                                              ("user_id", w.user_id),
                                              ("queued", len(w.send)), ("dead", len(w.dead)),
                                              ("next_seq", w.sequence)])
                                 for w in self.hub.values() if not w.active]}
        if method == "POST" and path in ("/sockets/drop", "/sockets/silence", "/sockets/close",
                                         "/sockets/invalidate"):
            socks = self._match_socks(body)
            for sock in socks:
                if path.endswith("drop"):
                    sock.close_tcp(abrupt=True)
                    self._detach(sock)
                    if body.get("forget") and sock.wc is not None:
                        self.hub.pop(sock.wc.connection_id, None)
                        sock.wc.registered = False
                elif path.endswith("silence"):
                    sock.silenced = bool(body.get("silenced", True))
                elif path.endswith("close"):
                    asyncio.ensure_future(sock.ws.close(code=int(body.get("code", 1000))))
                else:
                    wc = sock.wc
                    if wc and wc.session_token and self._session_user(wc.session_token) is None:
                        wc.session_token = ""
            return {"count": len(socks), "sockets": [s.id for s in socks]}
        if method == "POST" and path == "/connections/forget":
            gone = self._match_inactive(body)
            for wc in gone:
                self.hub.pop(wc.connection_id, None)
                wc.registered = False
            return {"count": len(gone)}
        if method == "POST" and path == "/ratelimit":
            count, ra = body.get("count", 0), body.get("retry_after", 1)
            if not isinstance(count, int) or count < 0 or not isinstance(ra, int) or ra < 0:
                raise ControlError(400, "count and retry_after must be non-negative integers")
            self.ratelimit = {"count": count, "retry_after": ra}
            for k in ("headers", "websocket"):
                if k in body:
                    self.update_config({"ratelimit_" + k: body[k]})
            return self.ratelimit
        if method == "GET" and path == "/log":
            return {"requests": list(self.requests_log), "ws_actions": list(self.ws_log)}
        if method == "POST" and path == "/log/clear":
            self.requests_log.clear()
            self.ws_log.clear()
            return {"status": "OK"}
        raise ControlError(404, f"no control endpoint {method} {path}")


# --- Running it in a thread (for synchronous tests) -------------------------------


class ThreadedFake:
    """Runs a FakeMattermost on its own event loop in a daemon thread."""

    def __init__(self, **kwargs):
        self.fake = FakeMattermost(**kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)
        self.url = self.fake.url

    def stop(self):
        if self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# --- CLI --------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Mattermost server for tests (127.0.0.1 only).")
    ap.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    ap.add_argument("--port-file", help="write the bound port to this file")
    ap.add_argument("--seed", help="JSON seed file (team, users, channels)")
    ap.add_argument("--revoke-sockets", choices=("keep", "silence", "close"))
    ap.add_argument("--ws-auth-timeout", type=float)
    ap.add_argument("--ping-interval", type=float)
    ap.add_argument("--pong-wait", type=float)
    ap.add_argument("--reap-after", type=float)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    config = {k: v for k, v in (("revoke_sockets", args.revoke_sockets),
                                ("ws_auth_timeout", args.ws_auth_timeout),
                                ("ping_interval", args.ping_interval),
                                ("pong_wait", args.pong_wait),
                                ("reap_after", args.reap_after)) if v is not None}

    # Up to SOCKETS_MAX sockets, more than a soft limit of 1024 allows.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass

    async def run():
        try:
            seed = None
            if args.seed:
                with open(args.seed, encoding="utf-8") as fh:
                    seed = json.load(fh)
            fake = FakeMattermost(seed=seed, port=args.port, config=config, verbose=args.verbose)
        except (OSError, ControlError, ValueError, TypeError, KeyError, AttributeError) as err:
            print(f"fake-mm: bad seed or config: {err}", file=sys.stderr)
            return 2
        port = await fake.start()
        if args.port_file:
            tmp = args.port_file + ".tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(f"{port}\n")
            os.replace(tmp, args.port_file)
        print(f"LISTENING {port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await fake.stop()
        return 0

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
