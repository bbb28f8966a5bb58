#!/usr/bin/python3
"""A fake Slack (Web API + Socket Mode) for copilot-bridge tests.

Protocol facts follow /work/shared/reference/platforms.md §B, §C and §D.2.
The official `@slack/web-api` and `@slack/socket-mode` conformance tests in
tests/conformance/slack.test.mjs prove that it is faithful; docs/testing.md
("Fake Slack") documents the CLI, the seed and the `/_fake/...` control API.

    /usr/bin/python3 tests/fakes/slack.py --port 0 [--port-file PATH] [--seed FILE]

It binds 127.0.0.1 only, prints `LISTENING <port>` and runs until SIGTERM or
SIGINT (exit 0).  In-process use:

    fake = FakeSlack()
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
import random
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from urllib.parse import parse_qsl, quote

from aiohttp import WSMsgType, web

# --- Slack facts (platforms.md §B) ------------------------------------------------

CONNECTIONS_PER_APP = 10       # "up to 10 open Socket Mode connections" per app
MAX_RETRIES = 3                # retry_attempt 1, 2, 3 then give up
MSG_TEXT_MAX = 40000           # chat.postMessage msg_too_long
REACTIONS_MAX = 23             # too_many_reactions (unique emoji per message)

# --- Fake-only bounds -------------------------------------------------------------

SOCKETS_MAX = 100              # all apps together
OUT_QUEUE_MAX = 1000           # frames waiting to be written on one socket
PENDING_MAX = 1000             # envelopes per app waiting for any connection
UNACKED_MAX = 1000             # envelopes per app waiting for an ack
TICKETS_MAX = 256
MESSAGES_PER_CHANNEL_MAX = 5000
HISTORY_MAX = 50
OBJECTS_MAX = 1000             # users, bots, channels, tokens
LOG_MAX = 1000
LOG_ARGS_MAX = 2048
REVOKED_MAX = 1000
REQUEST_MAX = 1024 * 1024
UPLOAD_MAX = 32 * 1024 * 1024  # one file's bytes at an upload URL
FILES_BYTES_MAX = 64 * 1024 * 1024  # every file kept, together
UPLOADS_MAX = 256              # upload URLs handed out and not completed
WS_MESSAGE_MAX = 64 * 1024
PAGE_MAX = 1000

DEFAULT_CONFIG = {
    "ack_timeout": 3.0,          # seconds before an unacked envelope is redelivered
    "max_retries": 3,            # 0..3 redeliveries (Slack: 3)
    "retry_delays": [0.0, 0.0, 0.0],  # extra wait before retry 1, 2, 3 (Events API: ~0, 60, 300)
    "redelivery": True,          # False pauses redelivery (envelopes stay unacked)
    "retry_envelope_id": "new",  # "new" | "same" envelope_id on a redelivery ([unverified])
    "balance": "random",         # "random" | "round_robin": which connection gets an envelope
    "ack_any_socket": False,     # True accepts an ack on another connection of the same app
    "ping_interval": 10.0,       # server WebSocket pings (the SDK wants < 30 s)
    "connection_time": 3600.0,   # approximate_connection_time; 360 with debug_reconnects=true
    "ticket_ttl": 60.0,          # seconds an apps.connections.open URL stays usable
    "warning_close_after": 10.0,  # a "warning" disconnect closes the socket this much later
    "disconnect_close_after": 1.0,  # other disconnect reasons
    "method_delays": {},         # {"auth.test": 1.0}: seconds before a method answers
}

DEFAULT_SEED = {
    "team": {"id": "T01FAKE", "name": "Fake Workspace", "domain": "fake-workspace"},
    "users": [
        {"id": "U01ALICE", "name": "alice", "real_name": "Alice Example"},
        {"id": "U01BOB", "name": "bob", "real_name": "Bob Example"},
    ],
    "bots": [
        {"name": "bridge-a", "user_id": "U01BRIDGEA", "bot_id": "B01BRIDGEA",
         "app_id": "A01BRIDGEA", "bot_tokens": ["xoxb-1-fake-bridge-a"],
         "app_tokens": ["xapp-1-A01BRIDGEA-1-fake"]},
        {"name": "bridge-b", "user_id": "U01BRIDGEB", "bot_id": "B01BRIDGEB",
         "app_id": "A01BRIDGEB", "bot_tokens": ["xoxb-1-fake-bridge-b"],
         "app_tokens": ["xapp-1-A01BRIDGEB-1-fake"]},
    ],
    "channels": [
        {"id": "C01GENERAL", "name": "general", "type": "channel", "members": "*"},
        {"id": "C01RANDOM", "name": "random", "type": "channel",
         "members": ["alice", "bob"]},
        {"id": "G01OPS", "name": "ops", "type": "group", "members": ["alice", "bridge-a"]},
        {"id": "D01ALICEA", "type": "im", "members": ["alice", "bridge-a"]},
        {"id": "D01ALICEB", "type": "im", "members": ["alice", "bridge-b"]},
    ],
}

CHANNEL_TYPES = {  # seed type -> (conversations.list type, event channel_type, id prefix)
    "channel": ("public_channel", "channel", "C"),
    "group": ("private_channel", "group", "G"),
    "im": ("im", "im", "D"),
    "mpim": ("mpim", "mpim", "G"),
}
DISCONNECT_REASONS = ("warning", "refresh_requested", "link_disabled", "too_many_websockets")
BOT_EVENTS = ("message", "app_mention", "reaction_added")
MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def derived_id(prefix, name):
    """A Slack-looking id (prefix + 10 of [A-Z2-7]) derived from a name."""
    raw = hashlib.sha256(f"{prefix}:{name}".encode()).digest()
    return prefix + base64.b32encode(raw).decode()[:10]


class SlackError(Exception):
    """A Web API error: HTTP 200 with {"ok": false, "error": code}."""

    def __init__(self, code, status=200, extra=None):
        super().__init__(code)
        self.code, self.status, self.extra = code, status, extra or {}


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def _cursor(offset):
    return base64.b64encode(f"offset:{offset}".encode()).decode() if offset else ""


def _page(items, args):
    """Slack cursor pagination: limit + cursor -> (items, next_cursor)."""
    try:
        limit = int(args.get("limit") or 0)
    except (TypeError, ValueError):
        raise SlackError("invalid_limit")
    if limit < 0:
        raise SlackError("invalid_limit")
    limit = min(limit or 100, PAGE_MAX)
    cur = args.get("cursor") or ""
    offset = 0
    if cur:
        try:
            m = re.fullmatch(r"offset:(\d+)", base64.b64decode(cur, validate=True).decode())
        except (ValueError, UnicodeDecodeError):
            m = None
        if not m:
            raise SlackError("invalid_cursor")
        offset = int(m.group(1))
    chunk = items[offset:offset + limit]
    nxt = offset + limit if offset + limit < len(items) else 0
    return chunk, _cursor(nxt)


class Conn:
    """One Socket Mode WebSocket connection."""

    def __init__(self, cid, app_id, token, ws, transport, debug_reconnects):
        self.id = cid
        self.app_id = app_id
        self.token = token
        self.ws = ws
        self.transport = transport
        self.debug_reconnects = debug_reconnects
        self.opened_at = time.time()
        self.ready = False           # hello written
        self.detached = False
        self.closing = ""            # disconnect reason sent, if any
        self.out = deque()
        self.wake = asyncio.Event()
        self.delivered = 0
        self.acked = 0
        self.warned = False
        self.tasks = []

    def send(self, obj):
        if self.detached:
            return False
        if len(self.out) >= OUT_QUEUE_MAX:
            return False
        self.out.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        self.wake.set()
        return True

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


class App:
    """A Slack app with its bot user; the unit of Socket Mode delivery."""

    def __init__(self, spec):
        self.name = spec["name"]
        self.user_id = spec["user_id"]
        self.bot_id = spec["bot_id"]
        self.app_id = spec["app_id"]
        self.events = set(spec.get("events", ("message", "app_mention")))
        self.conns = OrderedDict()   # conn id -> Conn
        # (time, "open"|"close", conn id, connections open after it): the
        # record of every change, so an overlap is seen however short.
        self.conn_events = deque(maxlen=LOG_MAX)
        self.pending = deque()       # envelopes waiting for a connection
        self.unacked = OrderedDict()  # envelope_id -> {"env", "conn", "deadline", "sent_at"}
        self.retry_wait = []         # [(due, env)] scheduled redeliveries
        self.rr = 0
        self.dropped = 0             # pending overflow
        self.gave_up = deque(maxlen=LOG_MAX)  # envelopes whose retries ran out


class FakeSlack:
    def __init__(self, seed=None, port=0, config=None, verbose=False):
        self.seed = json.loads(json.dumps(seed if seed is not None else DEFAULT_SEED))
        self.port = port
        self.verbose = verbose
        self.config = json.loads(json.dumps(DEFAULT_CONFIG))
        if config:
            self.update_config(config)
        self.base_config = json.loads(json.dumps(self.config))
        self._req_token = ""
        self.runner = None
        self._conn_serial = 0
        self._ticker = None
        self._last_ts = 0
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
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, shutdown_timeout=0.5)
        await site.start()
        self.port = self.runner.addresses[0][1]
        self._ticker = asyncio.ensure_future(self._tick())
        return self.port

    async def stop(self):
        if self._ticker:
            self._ticker.cancel()
            self._ticker = None
        self._close_all()
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    def _log(self, *args):
        if self.verbose:
            print("fake-slack:", *args, file=sys.stderr, flush=True)

    def _close_all(self):
        for app in getattr(self, "apps", {}).values():
            for conn in list(app.conns.values()):
                conn.close_tcp(abrupt=True)
                self._detach(conn)

    # ---- state

    def _reset_state(self):
        self._close_all()
        self.team = {}
        self.users = OrderedDict()       # user id -> user (bots' users too)
        self.apps = OrderedDict()        # app_id -> App
        self.tokens = OrderedDict()      # token -> (app_id, "bot" | "app")
        self.revoked = OrderedDict()     # token -> error code
        self.channels = OrderedDict()    # channel id -> channel
        self.messages = {}               # channel id -> OrderedDict(ts -> message)
        self.tickets = OrderedDict()     # ticket -> {"app_id", "token", "expires", "used"}
        self.ratelimit = {"count": 0, "retry_after": 1, "method": None, "status": 429}
        self.ignore_acks = 0             # >0: ignore the next N acks; -1: all
        self.requests_log = deque(maxlen=LOG_MAX)
        self.deliveries = OrderedDict()  # envelope_id -> delivery record (bounded)
        self.acks_log = deque(maxlen=LOG_MAX)
        self.frames_log = deque(maxlen=LOG_MAX)  # disconnect/other control frames sent
        self.files = OrderedDict()       # file id -> {"info", "data", "owner", "channels"}
        self.files_bytes = 0
        self.uploads = OrderedDict()     # upload token -> {"file_id", "app_id", "filename", ...}
        self.downloads_log = deque(maxlen=LOG_MAX)  # url_private GETs: {file, status, auth}
        self._apply_seed(self.seed)

    def _check_capacity(self, table):
        if len(table) >= OBJECTS_MAX:
            raise ControlError(507, "too many objects")

    def _apply_seed(self, seed):
        if not isinstance(seed, dict):
            raise ControlError(400, "seed must be an object")
        team = seed.get("team") or DEFAULT_SEED["team"]
        self.team = {"id": team.get("id") or derived_id("T", team.get("name", "team")),
                     "name": team.get("name", "Fake Workspace"),
                     "domain": team.get("domain", "fake-workspace")}
        users = seed.get("users", DEFAULT_SEED["users"] if "bots" not in seed else [])
        bots = seed.get("bots", DEFAULT_SEED["bots"] if "users" not in seed else [])
        for spec in users:
            self._create_user(spec)
        for spec in bots:
            self._create_bot(spec)
        if "channels" in seed:
            chans = seed["channels"]
        elif "users" not in seed and "bots" not in seed:
            chans = DEFAULT_SEED["channels"]
        else:
            chans = [{"name": "general", "type": "channel", "members": "*"}]
        for spec in chans:
            self._create_channel(spec)

    def _create_user(self, spec):
        self._check_capacity(self.users)
        name = spec["name"]
        if not isinstance(name, str) or not name:
            raise ControlError(400, "user name required")
        if self._user_ref(name):
            raise ControlError(400, f"duplicate user {name!r}")
        uid = spec.get("id") or derived_id("U", name)
        if not re.fullmatch(r"[UW][A-Z0-9]+", uid) or uid in self.users:
            raise ControlError(400, f"bad or duplicate user id {uid!r}")
        user = OrderedDict([
            ("id", uid), ("team_id", self.team["id"]), ("name", name),
            ("deleted", bool(spec.get("deleted", False))),
            ("real_name", spec.get("real_name", name)),
            ("is_admin", bool(spec.get("admin", False))), ("is_bot", False),
            ("is_app_user", False),
            ("profile", OrderedDict([("real_name", spec.get("real_name", name)),
                                     ("display_name", spec.get("display_name", name)),
                                     ("team", self.team["id"])])),
        ])
        self.users[uid] = user
        return user

    def _create_bot(self, spec):
        self._check_capacity(self.apps)
        name = spec["name"]
        if not isinstance(name, str) or not name or self._user_ref(name):
            raise ControlError(400, f"bad or duplicate bot name {name!r}")
        spec = dict(spec)
        spec.setdefault("user_id", derived_id("U", "bot:" + name))
        spec.setdefault("bot_id", derived_id("B", name))
        spec.setdefault("app_id", derived_id("A", name))
        if spec["user_id"] in self.users or spec["app_id"] in self.apps:
            raise ControlError(400, f"duplicate ids for bot {name!r}")
        bad = set(spec.get("events", ())) - set(BOT_EVENTS)
        if bad:
            raise ControlError(400, f"unknown events {sorted(bad)}")
        app = App(spec)
        self.apps[app.app_id] = app
        self.users[app.user_id] = OrderedDict([
            ("id", app.user_id), ("team_id", self.team["id"]), ("name", name),
            ("deleted", False), ("real_name", spec.get("real_name", name)),
            ("is_admin", False), ("is_bot", True), ("is_app_user", False),
            ("profile", OrderedDict([("real_name", spec.get("real_name", name)),
                                     ("display_name", ""), ("bot_id", app.bot_id),
                                     ("api_app_id", app.app_id),
                                     ("team", self.team["id"])])),
        ])
        bt = spec.get("bot_tokens") or ([spec["bot_token"]] if spec.get("bot_token") else
                                        [f"xoxb-fake-{name}-{secrets.token_hex(6)}"])
        at = spec.get("app_tokens") or ([spec["app_token"]] if spec.get("app_token") else
                                        [f"xapp-1-{app.app_id}-{secrets.token_hex(6)}"])
        for t in bt:
            self._add_token(app, "bot", t)
        for t in at:
            self._add_token(app, "app", t)
        return app

    def _add_token(self, app, kind, token=None):
        self._check_capacity(self.tokens)
        if token is None:
            token = (f"xoxb-fake-{app.name}-{secrets.token_hex(8)}" if kind == "bot"
                     else f"xapp-1-{app.app_id}-{secrets.token_hex(8)}")
        prefix = "xoxb-" if kind == "bot" else "xapp-"
        if not isinstance(token, str) or not token.startswith(prefix):
            raise ControlError(400, f"a {kind} token must start with {prefix}")
        if token in self.tokens:
            raise ControlError(400, "duplicate token")
        self.revoked.pop(token, None)
        self.tokens[token] = (app.app_id, kind)
        return token

    def _create_channel(self, spec):
        self._check_capacity(self.channels)
        ctype = spec.get("type", "channel")
        if ctype not in CHANNEL_TYPES:
            raise ControlError(400, f"bad channel type {ctype!r}")
        members = spec.get("members", [])
        if members == "*":
            uids = [u["id"] for u in self.users.values()]
        else:
            uids = []
            for ref in members:
                u = self._user_ref(ref)
                if u is None:
                    raise ControlError(400, f"unknown member {ref!r}")
                uids.append(u["id"])
        if ctype == "im" and len(uids) != 2:
            raise ControlError(400, "an im has exactly two members")
        name = spec.get("name") or ""
        if ctype not in ("im",) and not name:
            raise ControlError(400, "channel name required")
        if name and self._channel_ref(name):
            raise ControlError(400, f"duplicate channel {name!r}")
        prefix = CHANNEL_TYPES[ctype][2]
        cid = spec.get("id") or derived_id(prefix, name or "+".join(sorted(uids)))
        if cid in self.channels:
            raise ControlError(400, f"duplicate channel id {cid!r}")
        ch = {"id": cid, "name": name, "type": ctype, "members": uids,
              "created": int(time.time()), "creator": uids[0] if uids else "",
              "is_archived": bool(spec.get("archived", False)),
              "topic": spec.get("topic", ""), "purpose": spec.get("purpose", "")}
        self.channels[cid] = ch
        self.messages[cid] = OrderedDict()
        return ch

    def _user_ref(self, ref):
        if not isinstance(ref, str):
            return None
        if ref in self.users:
            return self.users[ref]
        ref = ref.lstrip("@")
        for u in self.users.values():
            if u["name"] == ref:
                return u
        return None

    def _channel_ref(self, ref):
        if not isinstance(ref, str) or not ref:
            return None
        if ref in self.channels:
            return self.channels[ref]
        name = ref[1:] if ref.startswith("#") else ref
        for ch in self.channels.values():
            if ch["name"] and ch["name"] == name:
                return ch
        return None

    def _app_ref(self, ref):
        if isinstance(ref, str):
            if ref in self.apps:
                return self.apps[ref]
            for app in self.apps.values():
                if ref in (app.name, app.user_id, app.bot_id):
                    return app
        return None

    def _next_ts(self):
        now = int(time.time() * 1_000_000)
        self._last_ts = max(now, self._last_ts + 1)
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    # ---- HTTP

    def _json(self, obj, status=200, headers=None):
        h = {"Content-Type": "application/json; charset=utf-8"}
        if headers:
            h.update(headers)
        return web.Response(body=json.dumps(obj, ensure_ascii=False).encode(),
                            status=status, headers=h)

    async def _dispatch(self, request):
        path = request.path
        if path == "/_fake" or path.startswith("/_fake/"):
            return await self._control(request)
        if path in ("/link", "/link/"):
            return await self._websocket(request)
        if path.startswith("/files-pri/"):
            return self._file_download(request)
        if path.startswith("/upload/v1/"):
            return await self._file_upload(request)
        if path.startswith("/api/"):
            return await self._web_api(request, path[len("/api/"):])
        return self._json({"ok": False, "error": "not_found"}, 404)

    async def _read_args(self, request):
        """Query string + form-urlencoded or JSON body -> (args, warnings)."""
        args = dict(request.query)
        warnings = []
        if request.can_read_body:
            raw = await request.read()
            ctype = request.content_type
            if ctype == "application/json":
                if raw.strip():
                    try:
                        body = json.loads(raw.decode("utf-8"))
                    except (ValueError, UnicodeDecodeError):
                        raise SlackError("invalid_json")
                    if not isinstance(body, dict):
                        raise SlackError("invalid_json")
                    args.update(body)
                if not request.charset:
                    warnings.append("missing_charset")
            elif ctype in ("application/x-www-form-urlencoded", "", "application/octet-stream"):
                try:
                    args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
                except UnicodeDecodeError:
                    raise SlackError("invalid_form_data")
            else:
                raise SlackError("invalid_form_data")
        return args, warnings

    def _token(self, request, args, header_only=False):
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer " and auth[7:].strip():
            return auth[7:].strip()
        if not header_only and isinstance(args.get("token"), str) and args["token"]:
            return args["token"]
        return ""

    def _auth(self, token, kind):
        """-> App, or raise not_authed / invalid_auth / not_allowed_token_type / revoked."""
        if not token:
            raise SlackError("not_authed")
        if token in self.revoked:
            raise SlackError(self.revoked[token])
        entry = self.tokens.get(token)
        if entry is None:
            raise SlackError("invalid_auth")
        if entry[1] != kind:
            raise SlackError("not_allowed_token_type")
        return self.apps[entry[0]]

    def _log_request(self, method, args, app, status, result):
        text = json.dumps({k: v for k, v in args.items() if k != "token"}, ensure_ascii=False)
        self.requests_log.append(OrderedDict([
            ("time", time.time()), ("method", method), ("status", status),
            ("bot", app.name if app else ""), ("args", text[:LOG_ARGS_MAX]),
            ("ok", bool(result.get("ok"))), ("error", result.get("error", ""))]))

    async def _web_api(self, request, method):
        rl = self.ratelimit
        if rl["count"] > 0 and (rl["method"] in (None, method)):
            rl["count"] -= 1
            if rl["status"] == 429:
                body = {"ok": False, "error": "ratelimited"}
                self._log_request(method, {}, None, 429, body)
                return self._json(body, 429, {"Retry-After": str(rl["retry_after"])})
            body = {"ok": False, "error": "fatal_error"}
            self._log_request(method, {}, None, rl["status"], body)
            return self._json(body, rl["status"])
        if self.config["method_delays"].get(method):
            await asyncio.sleep(self.config["method_delays"][method])
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        app = None
        args = {}
        try:
            args, warnings = await self._read_args(request)
            if handler is None or not re.fullmatch(r"[a-z]+(\.[a-zA-Z]+)+", method):
                raise SlackError("unknown_method", 404, {"req_method": method})
            token = self._token(request, args, header_only=(method == "apps.connections.open"))
            app = self._auth(token, "app" if method == "apps.connections.open" else "bot")
            self._req_token = token
            result = OrderedDict([("ok", True)])
            result.update(handler(app, args))
            if warnings:
                result["warning"] = ",".join(warnings)
                result["response_metadata"] = {"warnings": warnings}
            status = 200
        except SlackError as err:
            status = err.status
            result = OrderedDict([("ok", False), ("error", err.code)])
            result.update(err.extra)
        except (TypeError, ValueError, KeyError, AttributeError):
            status = 200
            result = {"ok": False, "error": "invalid_arguments"}
        self._log_request(method, args, app, status, result)
        return self._json(result, status)

    # ---- Web API methods (each returns the fields after "ok": true)

    def m_auth_test(self, app, args):
        return OrderedDict([
            ("url", f"https://{self.team['domain']}.slack.com/"), ("team", self.team["name"]),
            ("user", app.name), ("team_id", self.team["id"]), ("user_id", app.user_id),
            ("bot_id", app.bot_id), ("is_enterprise_install", False)])

    def m_apps_connections_open(self, app, args):
        now = time.monotonic()
        for t in [t for t, v in self.tickets.items() if v["used"] or v["expires"] < now]:
            del self.tickets[t]
        while len(self.tickets) >= TICKETS_MAX:
            self.tickets.popitem(last=False)
        ticket = str(uuid.uuid4())
        self.tickets[ticket] = {"app_id": app.app_id, "expires": now + self.config["ticket_ttl"],
                                "used": False, "token": self._req_token}
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={app.app_id}"}

    def _channel_arg(self, app, ref, need_member=True):
        ch = self._channel_ref(ref) if isinstance(ref, str) else None
        if ch is None and isinstance(ref, str) and ref in self.users:
            # Posting to a user id goes to the app's DM with that user.
            ch = next((c for c in self.channels.values() if c["type"] == "im"
                       and sorted(c["members"]) == sorted([ref, app.user_id])), None)
            if ch is None:
                ch = self._create_channel({"type": "im", "members": [ref, app.user_id]})
        if ch is None or (ch["type"] != "channel" and app.user_id not in ch["members"]):
            raise SlackError("channel_not_found")
        if need_member and app.user_id not in ch["members"]:
            raise SlackError("not_in_channel")
        return ch

    def _message_arg(self, ch, ts):
        msg = self.messages[ch["id"]].get(ts) if isinstance(ts, str) else None
        if msg is None or msg.get("_deleted"):
            raise SlackError("message_not_found")
        return msg

    @staticmethod
    def _json_arg(value):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise SlackError("invalid_blocks")
        return value

    def m_chat_postMessage(self, app, args):
        ch = self._channel_arg(app, args.get("channel"))
        if ch["is_archived"]:
            raise SlackError("is_archived")
        text = args.get("text")
        blocks = self._json_arg(args.get("blocks")) if args.get("blocks") else None
        attachments = self._json_arg(args.get("attachments")) if args.get("attachments") else None
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        text = "" if text is None else str(text)
        if len(text) > MSG_TEXT_MAX:
            raise SlackError("msg_too_long")
        broadcast = str(args.get("reply_broadcast", "")).lower() in ("1", "true")
        msg = self._create_message(ch, text, bot=app, thread_ts=args.get("thread_ts") or None,
                                   blocks=blocks, attachments=attachments,
                                   subtype="thread_broadcast" if broadcast and args.get("thread_ts")
                                   else None)
        return OrderedDict([("channel", ch["id"]), ("ts", msg["ts"]),
                            ("message", self._public(msg))])

    def m_chat_update(self, app, args):
        ch = self._channel_arg(app, args.get("channel"), need_member=False)
        msg = self._message_arg(ch, args.get("ts"))
        if msg.get("bot_id") != app.bot_id:
            raise SlackError("cant_update_message")
        text = args.get("text")
        blocks = self._json_arg(args.get("blocks")) if args.get("blocks") else None
        if text is None and blocks is None:
            raise SlackError("no_text")
        if text is not None and len(str(text)) > MSG_TEXT_MAX:
            raise SlackError("msg_too_long")
        self._edit_message(ch, msg, "" if text is None else str(text), app.user_id, blocks)
        return OrderedDict([("channel", ch["id"]), ("ts", msg["ts"]), ("text", msg["text"]),
                            ("message", self._public(msg))])

    def m_chat_delete(self, app, args):
        ch = self._channel_arg(app, args.get("channel"), need_member=False)
        msg = self._message_arg(ch, args.get("ts"))
        if msg.get("bot_id") != app.bot_id:
            raise SlackError("cant_delete_message")
        self._delete_message(ch, msg)
        return OrderedDict([("channel", ch["id"]), ("ts", msg["ts"])])

    def m_reactions_add(self, app, args):
        ch = self._channel_arg(app, args.get("channel"), need_member=False)
        name = args.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_+'\-]+(::skin-tone-[2-6])?", name):
            raise SlackError("invalid_name")
        msg = self._message_arg(ch, args.get("timestamp"))
        self._add_reaction(ch, msg, app.user_id, name)
        return {}

    # ---- files (platforms.md: files.getUploadURLExternal, the upload,
    # files.completeUploadExternal; url_private with the bot token)

    def _file_urls(self, fid, name):
        base = f"{self.url}/files-pri/{self.team['id']}-{fid}"
        name = quote(name, safe="")
        return f"{base}/{name}", f"{base}/download/{name}"

    def _store_file(self, owner_id, name, data, mimetype=None, title=None):
        if self.files_bytes + len(data) > FILES_BYTES_MAX:
            raise SlackError("file_too_large")
        while len(self.files) >= OBJECTS_MAX:
            _, old = self.files.popitem(last=False)
            self.files_bytes -= len(old["data"])
        fid = "F" + base64.b32encode(secrets.token_bytes(10)).decode()[:10]
        now = int(time.time())
        mime = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        url, dl = self._file_urls(fid, name)
        info = OrderedDict([
            ("id", fid), ("created", now), ("timestamp", now), ("name", name),
            ("title", title or name), ("mimetype", mime),
            ("filetype", name.rsplit(".", 1)[1].lower() if "." in name else "binary"),
            ("pretty_type", mime), ("user", owner_id), ("user_team", self.team["id"]),
            ("editable", False), ("size", len(data)), ("mode", "hosted"),
            ("is_external", False), ("external_type", ""), ("is_public", False),
            ("public_url_shared", False), ("display_as_bot", False), ("username", ""),
            ("url_private", url), ("url_private_download", dl),
            ("permalink", f"https://{self.team['domain']}.slack.com/files/{owner_id}/{fid}/{name}")])
        self.files[fid] = {"info": info, "data": bytes(data), "owner": owner_id,
                           "channels": [], "shares": {}}
        self.files_bytes += len(data)
        return self.files[fid]

    def _share_file(self, f, ch, ts):
        if ch["id"] not in f["channels"]:
            f["channels"].append(ch["id"])
        kind = "public" if ch["type"] == "channel" else "private"
        f["shares"].setdefault(kind, {}).setdefault(ch["id"], []).append(
            {"ts": ts, "channel_name": ch["name"] or ch["id"]})

    def _file_json(self, f):
        out = OrderedDict(f["info"])
        out["channels"] = [c for c in f["channels"] if self.channels[c]["type"] == "channel"]
        out["groups"] = [c for c in f["channels"] if self.channels[c]["type"] != "channel"]
        if f["shares"]:
            out["shares"] = f["shares"]
        return out

    def _file_visible(self, app, f):
        return f["owner"] == app.user_id or any(
            app.user_id in self.channels[c]["members"] for c in f["channels"])

    def m_files_info(self, app, args):
        f = self.files.get(args.get("file"))
        if f is None or not self._file_visible(app, f):
            raise SlackError("file_not_found")
        return {"file": self._file_json(f)}

    def m_files_getUploadURLExternal(self, app, args):
        name = args.get("filename")
        try:
            length = int(args.get("length"))
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments")
        if not isinstance(name, str) or not name or length < 1:
            raise SlackError("invalid_arguments")
        if length > UPLOAD_MAX:
            raise SlackError("file_too_large")
        while len(self.uploads) >= UPLOADS_MAX:
            self.uploads.popitem(last=False)
        token = secrets.token_urlsafe(16)
        fid = "F" + base64.b32encode(secrets.token_bytes(10)).decode()[:10]
        self.uploads[token] = {"file_id": fid, "app_id": app.app_id, "filename": name,
                               "length": length, "data": None,
                               "alt_text": args.get("alt_txt"), "requests": 0}
        return OrderedDict([("upload_url", f"{self.url}/upload/v1/{token}"),
                            ("file_id", fid)])

    async def _file_upload(self, request):
        """The upload URL: raw bytes or a multipart form (any part with a
        filename, or the only part), like files.slack.com's."""
        token = request.path[len("/upload/v1/"):]
        up = self.uploads.get(token)
        if up is None or request.method != "POST":
            return web.Response(status=404, text="not found")
        up["requests"] += 1
        data = None
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                raw = bytearray()
                while True:
                    chunk = await part.read_chunk(65536)
                    if not chunk:
                        break
                    raw += chunk
                    if len(raw) > UPLOAD_MAX:
                        return web.Response(status=413, text="too large")
                if part.filename is not None or data is None:
                    data = bytes(raw)
        else:
            raw = bytearray()
            async for chunk in request.content.iter_chunked(65536):
                raw += chunk
                if len(raw) > UPLOAD_MAX:
                    return web.Response(status=413, text="too large")
            data = bytes(raw)
        up["data"] = data or b""
        up["content_type"] = request.content_type
        return web.Response(status=200, text=f"OK - {len(up['data'])}")

    def m_files_completeUploadExternal(self, app, args):
        files = self._json_arg(args.get("files"))
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments")
        ch = None
        if args.get("channel_id") or args.get("channels"):
            ch = self._channel_arg(app, args.get("channel_id") or args.get("channels"))
        picked = []
        for spec in files:
            if not isinstance(spec, dict):
                raise SlackError("invalid_arguments")
            token = next((t for t, u in self.uploads.items() if u["file_id"] == spec.get("id")
                          and u["app_id"] == app.app_id), None)
            if token is None or self.uploads[token]["data"] is None:
                raise SlackError("file_not_found")
            picked.append((token, spec))
        out = []
        stored = []
        for token, spec in picked:
            up = self.uploads.pop(token)
            f = self._store_file(app.user_id, up["filename"], up["data"],
                                 title=spec.get("title") or up["filename"])
            # The id Slack handed out with the upload URL is the file's.
            del self.files[f["info"]["id"]]
            f["info"]["id"] = up["file_id"]
            url, dl = self._file_urls(up["file_id"], up["filename"])
            f["info"]["url_private"], f["info"]["url_private_download"] = url, dl
            f["thread_ts"] = args.get("thread_ts") or None
            f["initial_comment"] = args.get("initial_comment") or ""
            f["uploaded_bytes"] = len(up["data"])
            f["declared_length"] = up["length"]
            self.files[up["file_id"]] = f
            stored.append(f)
        if ch is not None:
            msg = self._create_message(ch, str(args.get("initial_comment") or ""), bot=app,
                                       thread_ts=args.get("thread_ts") or None,
                                       files=[self._file_json(f) for f in stored],
                                       subtype="file_share")
            for f in stored:
                self._share_file(f, ch, msg["ts"])
                f["message_ts"] = msg["ts"]
            msg["files"] = [self._file_json(f) for f in stored]
        for f in stored:
            out.append(OrderedDict([("id", f["info"]["id"]), ("title", f["info"]["title"])]
                                   + [(k, v) for k, v in self._file_json(f).items()
                                      if k == "shares"]))
        return {"files": out}

    def _file_download(self, request):
        """url_private(_download): the bytes for a bot token that may see
        the file; anything else is sent to the login page, as Slack does."""
        # The name is percent-encoded in the URL: match before decoding.
        m = re.fullmatch(r"/files-pri/([A-Z0-9]+)-(F[A-Z0-9]+)/(?:download/)?[^/]+",
                         request.rel_url.raw_path)
        f = self.files.get(m.group(2)) if m else None
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        entry = self.tokens.get(token)
        app = self.apps[entry[0]] if entry is not None and entry[1] == "bot" else None
        ok = f is not None and app is not None and self._file_visible(app, f)
        self.downloads_log.append(OrderedDict([
            ("time", time.time()), ("path", request.path), ("file", m.group(2) if m else ""),
            ("bot", app.name if app else ""), ("status", 200 if ok else 302)]))
        if request.method != "GET":
            return web.Response(status=405)
        if not ok:
            return web.Response(status=302, headers={
                "Location": f"https://{self.team['domain']}.slack.com/?redir={request.path}"})
        return web.Response(body=f["data"], headers={
            "Content-Type": f["info"]["mimetype"],
            "Content-Disposition": f'attachment; filename="{f["info"]["name"]}"'})

    def _user_json(self, u):
        return dict(u)

    def m_users_list(self, app, args):
        members = [self._user_json(u) for u in self.users.values()]
        chunk, nxt = _page(members, args)
        return OrderedDict([("members", chunk), ("cache_ts", int(time.time())),
                            ("response_metadata", {"next_cursor": nxt})])

    def m_users_info(self, app, args):
        u = self.users.get(args.get("user"))
        if u is None:
            raise SlackError("user_not_found")
        return {"user": self._user_json(u)}

    def _conv_json(self, ch, viewer):
        t = ch["type"]
        if t == "im":
            other = next((m for m in ch["members"] if m != viewer), viewer)
            return OrderedDict([("id", ch["id"]), ("created", ch["created"]), ("is_im", True),
                                ("is_org_shared", False), ("user", other),
                                ("is_user_deleted", False), ("priority", 0)])
        return OrderedDict([
            ("id", ch["id"]), ("name", ch["name"]), ("is_channel", t == "channel"),
            ("is_group", t == "group"), ("is_im", False), ("is_mpim", t == "mpim"),
            ("is_private", t != "channel"), ("created", ch["created"]),
            ("is_archived", ch["is_archived"]), ("is_general", ch["name"] == "general"),
            ("name_normalized", ch["name"]), ("is_shared", False), ("is_org_shared", False),
            ("is_member", viewer in ch["members"]), ("creator", ch["creator"]),
            ("topic", {"value": ch["topic"], "creator": "", "last_set": 0}),
            ("purpose", {"value": ch["purpose"], "creator": "", "last_set": 0}),
            ("num_members", len(ch["members"]))])

    def m_conversations_list(self, app, args):
        types = [t.strip() for t in str(args.get("types") or "public_channel").split(",") if t.strip()]
        known = {v[0] for v in CHANNEL_TYPES.values()}
        if any(t not in known for t in types):
            raise SlackError("invalid_types")
        excl = str(args.get("exclude_archived", "")).lower() in ("1", "true")
        out = []
        for ch in self.channels.values():
            if CHANNEL_TYPES[ch["type"]][0] not in types:
                continue
            if ch["type"] != "channel" and app.user_id not in ch["members"]:
                continue
            if excl and ch["is_archived"]:
                continue
            out.append(self._conv_json(ch, app.user_id))
        chunk, nxt = _page(out, args)
        return OrderedDict([("channels", chunk), ("response_metadata", {"next_cursor": nxt})])

    def m_conversations_info(self, app, args):
        ch = self._channel_arg(app, args.get("channel"), need_member=False)
        return {"channel": self._conv_json(ch, app.user_id)}

    # ---- messages and events

    def _public(self, msg):
        return OrderedDict((k, v) for k, v in msg.items() if not k.startswith("_"))

    def _create_message(self, ch, text, user=None, bot=None, thread_ts=None, blocks=None,
                        attachments=None, subtype=None, username=None, legacy_bot_id=None,
                        files=None):
        ts = self._next_ts()
        msg = OrderedDict([("type", "message")])
        if subtype:
            msg["subtype"] = subtype
        if bot is not None:
            msg["user"] = bot.user_id
            msg["bot_id"] = bot.bot_id
            msg["app_id"] = bot.app_id
            msg["bot_profile"] = OrderedDict([
                ("id", bot.bot_id), ("app_id", bot.app_id), ("name", bot.name),
                ("deleted", False), ("team_id", self.team["id"]),
                ("icons", {"image_36": "https://a.slack-edge.com/fake/36.png"})])
        elif legacy_bot_id:
            msg["bot_id"] = legacy_bot_id
            msg["username"] = username or "integration"
        else:
            msg["user"] = user["id"]
            msg["client_msg_id"] = str(uuid.uuid4())
        msg["text"] = text
        msg["ts"] = ts
        msg["team"] = self.team["id"]
        if blocks is not None:
            msg["blocks"] = blocks
        if attachments is not None:
            msg["attachments"] = attachments
        if files is not None:
            msg["files"] = files
            msg["upload"] = True
        if thread_ts:
            root = self.messages[ch["id"]].get(thread_ts)
            if root is not None and root.get("thread_ts"):
                thread_ts = root["thread_ts"]   # a reply to a reply joins the root's thread
                root = self.messages[ch["id"]].get(thread_ts)
            msg["thread_ts"] = thread_ts
            if root is not None:
                msg["parent_user_id"] = root.get("user", "")
                root.setdefault("thread_ts", root["ts"])
                root["reply_count"] = root.get("reply_count", 0) + 1
                root["latest_reply"] = ts
        msg["_history"] = []
        msg["_reactions"] = OrderedDict()
        store = self.messages[ch["id"]]
        store[ts] = msg
        while len(store) > MESSAGES_PER_CHANNEL_MAX:
            store.popitem(last=False)
        self._emit_message(ch, msg)
        return msg

    def _event_base(self, msg, ch):
        ev = OrderedDict((k, v) for k, v in msg.items()
                         if not k.startswith("_") and k not in ("reply_count", "latest_reply"))
        ev["channel"] = ch["id"]
        ev["event_ts"] = msg["ts"]
        ev["channel_type"] = CHANNEL_TYPES[ch["type"]][1]
        return ev

    def _emit_message(self, ch, msg):
        author = msg.get("user")
        mentioned = set(MENTION_RE.findall(msg["text"]))
        for app in self.apps.values():
            if app.user_id not in ch["members"]:
                continue
            if "message" in app.events:
                self._enqueue_event(app, self._event_base(msg, ch))
            if ("app_mention" in app.events and app.user_id in mentioned
                    and ch["type"] != "im" and author != app.user_id
                    and msg.get("subtype") in (None, "thread_broadcast", "file_share")):
                ev = OrderedDict([("type", "app_mention")])
                for k in ("user", "bot_id", "text", "ts", "thread_ts", "parent_user_id",
                          "client_msg_id", "team", "blocks", "files", "upload"):
                    if k in msg:
                        ev[k] = msg[k]
                ev["channel"] = ch["id"]
                ev["event_ts"] = msg["ts"]
                self._enqueue_event(app, ev)

    def _edit_message(self, ch, msg, text, editor, blocks=None):
        prev = self._public(msg)
        msg["_history"].append({"text": msg["text"], "edited_ts": msg.get("edited", {}).get("ts")})
        del msg["_history"][:-HISTORY_MAX]
        msg["text"] = text
        if blocks is not None:
            msg["blocks"] = blocks
        ev_ts = self._next_ts()
        msg["edited"] = {"user": editor, "ts": ev_ts}
        for app in self.apps.values():
            if app.user_id in ch["members"] and "message" in app.events:
                self._enqueue_event(app, OrderedDict([
                    ("type", "message"), ("subtype", "message_changed"), ("hidden", True),
                    ("message", self._public(msg)), ("channel", ch["id"]),
                    ("previous_message", prev), ("event_ts", ev_ts), ("ts", ev_ts),
                    ("channel_type", CHANNEL_TYPES[ch["type"]][1])]))

    def _delete_message(self, ch, msg):
        prev = self._public(msg)
        msg["_deleted"] = True
        ev_ts = self._next_ts()
        for app in self.apps.values():
            if app.user_id in ch["members"] and "message" in app.events:
                self._enqueue_event(app, OrderedDict([
                    ("type", "message"), ("subtype", "message_deleted"), ("hidden", True),
                    ("channel", ch["id"]), ("ts", ev_ts), ("deleted_ts", msg["ts"]),
                    ("event_ts", ev_ts), ("previous_message", prev),
                    ("channel_type", CHANNEL_TYPES[ch["type"]][1])]))

    def _add_reaction(self, ch, msg, uid, name):
        r = msg["_reactions"]
        if uid in r.get(name, []):
            raise SlackError("already_reacted")
        if name not in r and len(r) >= REACTIONS_MAX:
            raise SlackError("too_many_reactions")
        r.setdefault(name, []).append(uid)
        msg["reactions"] = [{"name": n, "users": list(us), "count": len(us)} for n, us in r.items()]
        ev_ts = self._next_ts()
        for app in self.apps.values():
            if app.user_id in ch["members"] and "reaction_added" in app.events:
                self._enqueue_event(app, OrderedDict([
                    ("type", "reaction_added"), ("user", uid), ("reaction", name),
                    ("item_user", msg.get("user", "")),
                    ("item", {"type": "message", "channel": ch["id"], "ts": msg["ts"]}),
                    ("event_ts", ev_ts)]))

    # ---- Socket Mode delivery

    def _enqueue_event(self, app, event):
        env = OrderedDict([
            ("envelope_id", str(uuid.uuid4())), ("type", "events_api"),
            ("accepts_response_payload", False), ("retry_attempt", 0), ("retry_reason", ""),
            ("payload", OrderedDict([
                ("token", "fakeverificationtoken"), ("team_id", self.team["id"]),
                ("context_team_id", self.team["id"]), ("api_app_id", app.app_id),
                ("event", event), ("type", "event_callback"),
                ("event_id", "Ev" + secrets.token_hex(5).upper()),
                ("event_time", int(time.time())),
                ("authorizations", [OrderedDict([
                    ("enterprise_id", None), ("team_id", self.team["id"]),
                    ("user_id", app.user_id), ("is_bot", True),
                    ("is_enterprise_install", False)])]),
                ("is_ext_shared_channel", False),
                ("event_context", "4-" + secrets.token_hex(16))])),
        ])
        self._deliver(app, env)

    def _live_conns(self, app):
        return [c for c in app.conns.values() if c.ready and not c.detached]

    def _deliver(self, app, env):
        conns = self._live_conns(app)
        if not conns:
            if len(app.pending) >= PENDING_MAX:
                app.pending.popleft()
                app.dropped += 1
            app.pending.append(env)
            return
        if self.config["balance"] == "round_robin":
            conn = conns[app.rr % len(conns)]
            app.rr += 1
        else:
            conn = random.choice(conns)
        if not conn.send(env):
            app.pending.append(env)
            return
        conn.delivered += 1
        now = time.monotonic()
        eid = env["envelope_id"]
        if len(app.unacked) >= UNACKED_MAX:
            _, old = app.unacked.popitem(last=False)
            app.gave_up.append({"envelope_id": old["env"]["envelope_id"], "why": "unacked_overflow",
                                "event_id": old["env"]["payload"]["event_id"]})
        app.unacked[eid] = {"env": env, "conn": conn.id, "deadline": now + self.config["ack_timeout"],
                            "sent_at": time.time()}
        self.deliveries[eid] = OrderedDict([
            ("envelope_id", eid), ("event_id", env["payload"]["event_id"]),
            ("event_type", env["payload"]["event"]["type"]),
            ("subtype", env["payload"]["event"].get("subtype", "")),
            ("bot", app.name), ("connection", conn.id), ("retry_attempt", env["retry_attempt"]),
            ("retry_reason", env["retry_reason"]), ("time", time.time()), ("acked", False)])
        while len(self.deliveries) > LOG_MAX:
            self.deliveries.popitem(last=False)

    def _flush_pending(self, app):
        while app.pending and self._live_conns(app):
            self._deliver(app, app.pending.popleft())

    def _on_ack(self, conn, frame):
        eid = frame.get("envelope_id")
        rec = OrderedDict([("time", time.time()), ("connection", conn.id),
                           ("envelope_id", eid), ("has_payload", "payload" in frame)])
        app = self.apps.get(conn.app_id)
        if self.ignore_acks:
            if self.ignore_acks > 0:
                self.ignore_acks -= 1
            rec["result"] = "ignored"
        elif app is None or not isinstance(eid, str) or eid not in app.unacked:
            rec["result"] = "late" if eid in self.deliveries else "unknown"
        elif app.unacked[eid]["conn"] != conn.id and not self.config["ack_any_socket"]:
            rec["result"] = "wrong_socket"
        else:
            app.unacked.pop(eid)
            conn.acked += 1
            rec["result"] = "acked"
            if eid in self.deliveries:
                self.deliveries[eid]["acked"] = True
        self.acks_log.append(rec)

    async def _tick(self):
        while True:
            await asyncio.sleep(0.05)
            try:
                self._tick_once()
            except Exception as exc:  # keep the fake alive; show the bug
                print("fake-slack: tick failed:", repr(exc), file=sys.stderr, flush=True)

    def _tick_once(self):
        now = time.monotonic()
        for app in self.apps.values():
            if self.config["redelivery"]:
                for eid, u in list(app.unacked.items()):
                    if u["deadline"] > now:
                        continue
                    del app.unacked[eid]
                    env = u["env"]
                    attempt = env["retry_attempt"] + 1
                    if attempt > self.config["max_retries"]:
                        app.gave_up.append({"envelope_id": eid, "why": "retries_exhausted",
                                            "event_id": env["payload"]["event_id"]})
                        continue
                    delays = self.config["retry_delays"]
                    delay = delays[attempt - 1] if attempt - 1 < len(delays) else 0.0
                    app.retry_wait.append((now + delay, env, attempt))
            due = [w for w in app.retry_wait if w[0] <= now]
            app.retry_wait = [w for w in app.retry_wait if w[0] > now]
            for _, env, attempt in due:
                new = OrderedDict(env)
                if self.config["retry_envelope_id"] == "new":
                    new["envelope_id"] = str(uuid.uuid4())
                new["retry_attempt"] = attempt
                new["retry_reason"] = "timeout"
                self._deliver(app, new)
            for conn in list(app.conns.values()):
                if (not conn.ready or conn.detached
                        or conn.closing in ("refresh_requested", "link_disabled")):
                    continue
                # Connection lifetime: "warning" ~10 s before, then "refresh_requested".
                life = self.config["connection_time"] if not conn.debug_reconnects else 360.0
                age = time.time() - conn.opened_at
                if age >= life:
                    self._send_disconnect(conn, "refresh_requested")
                elif life > 10 and age >= life - 10 and not conn.warned:
                    conn.warned = True
                    self._send_disconnect(conn, "warning",
                                          life - age + self.config["disconnect_close_after"])

    def _send_disconnect(self, conn, reason, close_after=None):
        if close_after is None:
            close_after = (self.config["warning_close_after"] if reason == "warning"
                           else self.config["disconnect_close_after"])
        conn.closing = reason
        conn.send(OrderedDict([("type", "disconnect"), ("reason", reason),
                               ("debug_info", {"host": f"applink-fake-{conn.id}"})]))
        self.frames_log.append({"time": time.time(), "connection": conn.id,
                                "type": "disconnect", "reason": reason})

        async def later():
            await asyncio.sleep(max(0.0, close_after))
            if not conn.detached:
                try:
                    await asyncio.wait_for(conn.ws.close(code=1000), 2.0)
                except Exception:
                    pass
                conn.close_tcp()
        conn.tasks.append(asyncio.ensure_future(later()))

    # ---- WebSocket (/link/?ticket=...)

    async def _websocket(self, request):
        ticket = request.query.get("ticket", "")
        t = self.tickets.get(ticket)
        if t is None or t["used"] or t["expires"] < time.monotonic():
            # [unverified] what Slack answers to a bad or reused ticket.
            return self._json({"ok": False, "error": "invalid_ticket"}, 401)
        app = self.apps.get(t["app_id"])
        total = sum(len(a.conns) for a in self.apps.values())
        ws = web.WebSocketResponse(autoping=True, heartbeat=self.config["ping_interval"],
                                   max_msg_size=WS_MESSAGE_MAX, compress=False)
        if app is None or not ws.can_prepare(request).ok:
            return self._json({"ok": False, "error": "invalid_ticket"}, 400)
        if total >= SOCKETS_MAX:
            return self._json({"ok": False, "error": "too_many_websockets"}, 503)
        t["used"] = True
        await ws.prepare(request)
        self._conn_serial += 1
        conn = Conn(f"conn-{self._conn_serial}", app.app_id, t["token"], ws, request.transport,
                    request.query.get("debug_reconnects") == "true")
        if len(app.conns) >= CONNECTIONS_PER_APP:
            self.frames_log.append({"time": time.time(), "connection": conn.id,
                                    "type": "disconnect", "reason": "too_many_websockets"})
            await ws.send_str(json.dumps({"type": "disconnect", "reason": "too_many_websockets",
                                          "debug_info": {"host": "applink-fake"}}))
            await ws.close(code=1000)
            return ws
        app.conns[conn.id] = conn
        app.conn_events.append((time.time(), "open", conn.id, len(app.conns)))
        life = 360 if conn.debug_reconnects else int(self.config["connection_time"])
        conn.send(OrderedDict([
            ("type", "hello"), ("num_connections", len(app.conns)),
            ("connection_info", {"app_id": app.app_id}),
            ("debug_info", OrderedDict([("host", f"applink-fake-{conn.id}"), ("build_number", 1),
                                        ("approximate_connection_time", life)]))]))
        conn.ready = True
        self._flush_pending(app)
        conn.tasks.append(asyncio.ensure_future(self._writer(conn)))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    frame = None
                if isinstance(frame, dict) and "envelope_id" in frame:
                    self._on_ack(conn, frame)
                else:
                    self.acks_log.append({"time": time.time(), "connection": conn.id,
                                          "envelope_id": None, "result": "not_an_ack",
                                          "frame": str(msg.data)[:256]})
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._detach(conn)
        return ws

    async def _writer(self, conn):
        try:
            while True:
                while not conn.out:
                    conn.wake.clear()
                    await conn.wake.wait()
                await conn.ws.send_str(conn.out.popleft())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log("writer ended:", repr(exc))
            conn.close_tcp()

    def _detach(self, conn):
        if conn.detached:
            return
        conn.detached = True
        conn.out.clear()
        app = self.apps.get(conn.app_id)
        if app is not None and app.conns.get(conn.id) is conn:
            del app.conns[conn.id]
            app.conn_events.append((time.time(), "close", conn.id, len(app.conns)))
        me = asyncio.current_task() if asyncio.get_event_loop().is_running() else None
        for task in conn.tasks:
            if task is not me:
                task.cancel()
        conn.close_tcp()
        # Unacked envelopes of this connection stay in app.unacked and are
        # redelivered to another connection after the ack timeout (§D.2).

    # ---- control API (/_fake/...)

    def update_config(self, cfg):
        for k, v in cfg.items():
            if k not in DEFAULT_CONFIG:
                raise ControlError(400, f"unknown config key {k!r}")
            d = DEFAULT_CONFIG[k]
            if isinstance(d, bool):
                if not isinstance(v, bool):
                    raise ControlError(400, f"{k} must be a boolean")
            elif isinstance(d, float):
                if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                    raise ControlError(400, f"{k} must be a positive number")
                v = float(v)
            elif isinstance(d, int):
                if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_RETRIES:
                    raise ControlError(400, f"{k} must be an integer 0..{MAX_RETRIES}")
            elif isinstance(d, dict):
                if (not isinstance(v, dict) or
                        any(not isinstance(x, (int, float)) or isinstance(x, bool) or x < 0
                            for x in v.values())):
                    raise ControlError(400, f"{k} must map methods to non-negative seconds")
                v = {m: float(x) for m, x in v.items()}
            elif isinstance(d, list):
                if (not isinstance(v, list) or len(v) > MAX_RETRIES or
                        any(not isinstance(x, (int, float)) or isinstance(x, bool) or x < 0
                            for x in v)):
                    raise ControlError(400, f"{k} must be a list of <= 3 non-negative numbers")
                v = [float(x) for x in v]
            elif k == "retry_envelope_id" and v not in ("new", "same"):
                raise ControlError(400, "retry_envelope_id must be new or same")
            elif k == "balance" and v not in ("random", "round_robin"):
                raise ControlError(400, "balance must be random or round_robin")
            self.config[k] = v

    def _bot_json(self, app):
        return OrderedDict([
            ("name", app.name), ("user_id", app.user_id), ("bot_id", app.bot_id),
            ("app_id", app.app_id), ("events", sorted(app.events)),
            ("bot_tokens", [t for t, v in self.tokens.items() if v == (app.app_id, "bot")]),
            ("app_tokens", [t for t, v in self.tokens.items() if v == (app.app_id, "app")])])

    def _channel_json(self, ch):
        return OrderedDict([("id", ch["id"]), ("name", ch["name"]), ("type", ch["type"]),
                            ("is_archived", ch["is_archived"]),
                            ("members", [self.users[m]["name"] for m in ch["members"]]),
                            ("member_ids", list(ch["members"]))])

    def _state(self):
        return OrderedDict([
            ("url", self.url), ("api_url", self.url + "/api/"), ("team", self.team),
            ("users", [OrderedDict([("id", u["id"]), ("name", u["name"]), ("is_bot", u["is_bot"])])
                       for u in self.users.values() if not u["is_bot"]]),
            ("bots", [self._bot_json(a) for a in self.apps.values()]),
            ("channels", [self._channel_json(c) for c in self.channels.values()]),
            ("config", self.config), ("ratelimit", self.ratelimit),
            ("ignore_acks", self.ignore_acks)])

    def _conn_json(self, conn):
        app = self.apps[conn.app_id]
        return OrderedDict([
            ("id", conn.id), ("bot", app.name), ("app_id", app.app_id), ("token", conn.token),
            ("opened_at", conn.opened_at), ("closing", conn.closing),
            ("debug_reconnects", conn.debug_reconnects), ("delivered", conn.delivered),
            ("acked", conn.acked),
            ("unacked", sum(1 for u in app.unacked.values() if u["conn"] == conn.id))])

    def _match_conns(self, body):
        out = []
        app_f = self._app_ref(body["bot"]) if "bot" in body else None
        if "bot" in body and app_f is None:
            raise ControlError(404, f"unknown bot {body['bot']!r}")
        for app in self.apps.values():
            for conn in app.conns.values():
                if "connection" in body and conn.id != body["connection"]:
                    continue
                if app_f is not None and app is not app_f:
                    continue
                if "token" in body and conn.token != body["token"]:
                    continue
                out.append(conn)
        return out

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
            return self._json(result)
        except ControlError as err:
            return self._json({"error": err.message}, err.status)
        except SlackError as err:
            return self._json({"error": err.code}, 400)
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            return self._json({"error": f"bad request: {err!r}"}, 400)

    def _control_files(self, user, specs):
        """files: [{name, content | content_b64, mimetype?, file_access?}]
        stored as the user's, for a file_share message."""
        if specs is None:
            return []
        if not isinstance(specs, list):
            raise ControlError(400, "files must be a list")
        out = []
        for spec in specs:
            if not isinstance(spec, dict):
                raise ControlError(400, "a file must be an object")
            content = spec.get("content_b64")
            data = (base64.b64decode(content) if content
                    else str(spec.get("content", "")).encode())
            f = self._store_file(user["id"], str(spec.get("name", "file.txt")), data,
                                 spec.get("mimetype"))
            out.append((f, spec))
        return out

    def _event_file(self, f, spec):
        """A file as a message event carries it; with file_access
        "check_file_info" only its id, as for Slack Connect files."""
        if spec.get("file_access") == "check_file_info":
            return OrderedDict([("id", f["info"]["id"]), ("mode", "file_access"),
                                ("file_access", "check_file_info"), ("created", 0),
                                ("timestamp", 0), ("user", "")])
        return self._file_json(f)

    def _ch_arg(self, ref):
        ch = self._channel_ref(ref)
        if ch is None:
            raise ControlError(404, f"unknown channel {ref!r}")
        return ch

    def _msg_arg(self, ch, ts):
        msg = self.messages[ch["id"]].get(ts) if isinstance(ts, str) else None
        if msg is None or msg.get("_deleted"):
            raise ControlError(404, f"unknown message {ts!r}")
        return msg

    def _control_route(self, method, path, body, query):
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
                raise ControlError(400, f"bad seed: {getattr(err, 'message', err)}")
            if body.get("config", True) is not False:
                self.config = json.loads(json.dumps(self.base_config))
            return self._state()
        if method == "POST" and path == "/config":
            self.update_config(body)
            return self.config
        if method == "POST" and path == "/users":
            return self._create_user(body)
        if method == "POST" and path == "/bots":
            return self._bot_json(self._create_bot(body))
        if method == "POST" and path == "/channels":
            return self._channel_json(self._create_channel(body))
        m = re.fullmatch(r"/channels/([^/]+)/(messages|members)", path)
        if m and method == "GET" and m.group(2) == "messages":
            ch = self._ch_arg(m.group(1))
            out = []
            for msg in self.messages[ch["id"]].values():
                j = self._public(msg)
                j["deleted"] = bool(msg.get("_deleted"))
                j["history"] = list(msg["_history"])
                out.append(j)
            return {"channel": ch["id"], "messages": out}
        if m and method == "POST" and m.group(2) == "members":
            ch = self._ch_arg(m.group(1))
            u = self._user_ref(body.get("user"))
            if u is None:
                raise ControlError(404, f"unknown user {body.get('user')!r}")
            if ch["type"] == "im":
                raise ControlError(400, "cannot add members to an im")
            if u["id"] not in ch["members"]:
                ch["members"].append(u["id"])
            return self._channel_json(ch)
        if method == "POST" and path == "/post":
            ch = self._ch_arg(body.get("channel"))
            text = body.get("text", "")
            if not isinstance(text, str):
                raise ControlError(400, "text must be a string")
            kw = {"thread_ts": body.get("thread_ts"), "blocks": body.get("blocks"),
                  "subtype": body.get("subtype")}
            if "files" in body and ("bot" in body or "legacy_bot_id" in body):
                raise ControlError(400, "files are posted by users")
            if "bot" in body:
                app = self._app_ref(body["bot"])
                if app is None:
                    raise ControlError(404, f"unknown bot {body['bot']!r}")
                msg = self._create_message(ch, text, bot=app, **kw)
            elif "legacy_bot_id" in body:
                kw["subtype"] = kw["subtype"] or "bot_message"
                msg = self._create_message(ch, text, legacy_bot_id=body["legacy_bot_id"],
                                           username=body.get("username"), **kw)
            else:
                u = self._user_ref(body.get("user"))
                if u is None:
                    raise ControlError(404, f"unknown user {body.get('user')!r}")
                if u["id"] not in ch["members"] and not body.get("force"):
                    raise ControlError(403, f"{u['name']} is not a member of {ch['id']}")
                stored = self._control_files(u, body.get("files"))
                if stored:
                    kw["subtype"] = kw["subtype"] or "file_share"
                    kw["files"] = [self._event_file(f, spec) for f, spec in stored]
                msg = self._create_message(ch, text, user=u, **kw)
                for f, _ in stored:
                    self._share_file(f, ch, msg["ts"])
            return dict(self._public(msg), channel=ch["id"])
        if method == "GET" and path == "/files":
            return {"files": [OrderedDict([
                ("id", fid), ("name", f["info"]["name"]), ("title", f["info"]["title"]),
                ("size", len(f["data"])), ("sha256", hashlib.sha256(f["data"]).hexdigest()),
                ("owner", f["owner"]), ("channels", list(f["channels"])),
                ("thread_ts", f.get("thread_ts")), ("message_ts", f.get("message_ts")),
                ("initial_comment", f.get("initial_comment", "")),
                ("declared_length", f.get("declared_length"))])
                for fid, f in self.files.items()]}
        if method == "GET" and path == "/downloads":
            return {"downloads": list(self.downloads_log)}
        if method == "POST" and path in ("/edit", "/delete", "/react"):
            ch = self._ch_arg(body.get("channel"))
            msg = self._msg_arg(ch, body.get("ts"))
            if path == "/edit":
                editor = self._user_ref(body.get("user", msg.get("user", "")))
                self._edit_message(ch, msg, str(body.get("text", "")),
                                   editor["id"] if editor else msg.get("user", ""))
            elif path == "/delete":
                self._delete_message(ch, msg)
            else:
                u = self._user_ref(body.get("user"))
                if u is None:
                    raise ControlError(404, f"unknown user {body.get('user')!r}")
                self._add_reaction(ch, msg, u["id"], body.get("name", ""))
            return dict(self._public(msg), channel=ch["id"])
        if method == "GET" and path == "/connections":
            return {"connections": [self._conn_json(c) for a in self.apps.values()
                                    for c in a.conns.values()]}
        if method == "POST" and path in ("/connections/disconnect", "/connections/drop"):
            conns = self._match_conns(body)
            if path.endswith("drop"):
                for conn in conns:
                    conn.close_tcp(abrupt=True)
                    self._detach(conn)
            else:
                reason = body.get("reason", "refresh_requested")
                if reason not in DISCONNECT_REASONS:
                    raise ControlError(400, f"reason must be one of {DISCONNECT_REASONS}")
                ca = body.get("close_after")
                if ca is not None and (not isinstance(ca, (int, float)) or ca < 0):
                    raise ControlError(400, "close_after must be a non-negative number")
                for conn in conns:
                    self._send_disconnect(conn, reason, ca)
            return {"count": len(conns), "connections": [c.id for c in conns]}
        if method == "GET" and path == "/envelopes":
            out = {}
            for app in self.apps.values():
                if "bot" in query and self._app_ref(query["bot"]) is not app:
                    continue
                out[app.name] = OrderedDict([
                    ("unacked", [dict(u["env"], _connection=u["conn"], _sent_at=u["sent_at"])
                                 for u in app.unacked.values()]),
                    ("retry_wait", [dict(e, retry_attempt=a, retry_reason="timeout")
                                    for _, e, a in app.retry_wait]),
                    ("pending", list(app.pending)), ("dropped", app.dropped),
                    ("gave_up", list(app.gave_up))])
            return out
        if method == "GET" and path == "/deliveries":
            return {"deliveries": list(self.deliveries.values()), "acks": list(self.acks_log),
                    "frames": list(self.frames_log)}
        if method == "POST" and path == "/acks/ignore":
            n = body.get("count", -1)
            if not isinstance(n, int) or isinstance(n, bool) or n < -1:
                raise ControlError(400, "count must be an integer >= -1")
            self.ignore_acks = n
            return {"ignore_acks": n}
        if method == "POST" and path == "/redelivery":
            self.update_config({"redelivery": bool(body.get("enabled", True))})
            return {"redelivery": self.config["redelivery"]}
        if method == "POST" and path == "/tokens":
            app = self._app_ref(body.get("bot"))
            if app is None:
                raise ControlError(404, f"unknown bot {body.get('bot')!r}")
            kind = body.get("kind", "app")
            if kind not in ("bot", "app"):
                raise ControlError(400, "kind must be bot or app")
            return {"token": self._add_token(app, kind, body.get("token")), "kind": kind,
                    "bot": app.name}
        if method == "POST" and path in ("/tokens/rotate", "/tokens/revoke"):
            token = body.get("token")
            entry = self.tokens.get(token) if isinstance(token, str) else None
            if entry is None:
                raise ControlError(404, "unknown token")
            error = body.get("error", "invalid_auth")
            if error not in ("invalid_auth", "token_revoked", "token_expired", "account_inactive"):
                raise ControlError(400, "bad error code")
            sockets = body.get("sockets", "keep")
            if sockets not in ("keep", "disconnect", "drop"):
                raise ControlError(400, "sockets must be keep, disconnect or drop")
            app = self.apps[entry[0]]
            new = None
            if path.endswith("rotate"):
                new = self._add_token(app, entry[1], body.get("new_token"))
            del self.tokens[token]
            self.revoked[token] = error
            while len(self.revoked) > REVOKED_MAX:
                self.revoked.popitem(last=False)
            for t in [t for t, v in self.tickets.items() if v["token"] == token]:
                del self.tickets[t]
            affected = [c for c in app.conns.values() if c.token == token]
            for conn in list(affected):
                if sockets == "disconnect":
                    self._send_disconnect(conn, body.get("reason", "refresh_requested"),
                                          body.get("close_after"))
                elif sockets == "drop":
                    conn.close_tcp(abrupt=True)
                    self._detach(conn)
            return {"old_token": token, "token": new, "kind": entry[1], "bot": app.name,
                    "connections": [c.id for c in affected]}
        if method == "POST" and path == "/ratelimit":
            count, ra = body.get("count", 0), body.get("retry_after", 1)
            status = body.get("status", 429)
            if (not isinstance(count, int) or count < 0 or not isinstance(ra, int) or ra < 0
                    or status not in (429, 500, 502, 503)):
                raise ControlError(400, "count, retry_after >= 0; status 429|500|502|503")
            self.ratelimit = {"count": count, "retry_after": ra,
                              "method": body.get("method"), "status": status}
            return self.ratelimit
        if method == "GET" and path == "/log":
            return {"requests": list(self.requests_log)}
        if method == "POST" and path == "/log/clear":
            self.requests_log.clear()
            self.deliveries.clear()
            self.acks_log.clear()
            self.frames_log.clear()
            return {"status": "OK"}
        raise ControlError(404, f"no control endpoint {method} {path}")


# --- Running it in a thread (for synchronous tests) -------------------------------


class ThreadedFake:
    """Runs a FakeSlack on its own event loop in a daemon thread."""

    def __init__(self, **kwargs):
        self.fake = FakeSlack(**kwargs)
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
    ap = argparse.ArgumentParser(description="Fake Slack (Web API + Socket Mode), 127.0.0.1 only.")
    ap.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    ap.add_argument("--port-file", help="write the bound port to this file")
    ap.add_argument("--seed", help="JSON seed file (team, users, bots, channels)")
    ap.add_argument("--ack-timeout", type=float)
    ap.add_argument("--ping-interval", type=float)
    ap.add_argument("--balance", choices=("random", "round_robin"))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    config = {k: v for k, v in (("ack_timeout", args.ack_timeout),
                                ("ping_interval", args.ping_interval),
                                ("balance", args.balance)) if v is not None}

    async def run():
        try:
            seed = None
            if args.seed:
                with open(args.seed, encoding="utf-8") as fh:
                    seed = json.load(fh)
            fake = FakeSlack(seed=seed, port=args.port, config=config, verbose=args.verbose)
        except (OSError, ControlError, ValueError, TypeError, KeyError, AttributeError) as err:
            print(f"fake-slack: bad seed or config: {getattr(err, 'message', err)}",
                  file=sys.stderr)
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
