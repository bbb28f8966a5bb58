"""Start the real copilot-bridge binaries in a scratch directory and look at
them from outside: processes, ctl, log files.  Every wait is bounded."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

BIN = os.environ.get("BRIDGE_BIN") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))


def wait_for(pred, timeout=5.0, step=0.02, what="condition"):
    """Poll pred() until it returns something truthy, at most timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def children_of(pid):
    """pid -> argv of the live, non-zombie children of pid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                out[int(d)] = f.read().split(b"\0")[:-1]
        except (OSError, ValueError):
            continue
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def base_config(tmp, bots=("a", "b", "c")):
    return {
        "platforms": {
            "mattermost": {
                "url": "http://127.0.0.1:9",
                "bots": {b: {"token": f"tok-{b}-0123456789"} for b in bots},
            }
        },
        "channels": [
            {"id": "ch1", "platform": "mattermost", "bot": bots[0],
             "workingDirectory": str(tmp), "triggerMode": "mention"}
        ],
        "stateDir": str(tmp / "state"),
        "logDir": str(tmp / "logs"),
        "logLevel": "debug",
        "session": {"backend": "echo"},
    }


class Bridge:
    def __init__(self, tmp, config, bindir=BIN):
        self.tmp = tmp
        self.cfgpath = tmp / "config.json"
        self.bindir = bindir
        self.logdir = tmp / "logs"
        self.proc = None
        self.write_config(config)

    # config -------------------------------------------------------------
    def write_config(self, config, raw=None):
        """Write the config as editors do: a new file renamed over the old."""
        self.config = config
        tmp = self.cfgpath.with_name(".config.json.tmp")
        tmp.write_text(raw if raw is not None else json.dumps(config, indent=2))
        os.rename(tmp, self.cfgpath)

    # process ------------------------------------------------------------
    def start(self, wait_ready=True, preexec_fn=None):
        """preexec_fn runs in the supervisor's process before exec (e.g.
        to lower a resource limit)."""
        self.stderr = open(self.tmp / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [os.path.join(self.bindir, "copilot-bridge"), "run", "-c",
             str(self.cfgpath)], stdout=self.stderr, stderr=self.stderr,
            stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
        if wait_ready:
            nbots = sum(len(p.get("bots", {})) for p in
                        self.config["platforms"].values())
            wait_for(lambda: self.count_state("active") == nbots + 1,
                     timeout=10, what="all children active")
        return self

    def stop(self, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = list(children_of(self.proc.pid))
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            for k in kids:
                if alive(k):
                    os.kill(k, signal.SIGKILL)
            self.stderr.close()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def children(self, spare=False):
        """pid -> argv of sessiond and the workers; with spare=True also
        the spare worker (argv: -g 0 -s ROOM), which comes and goes.  Never
        the fork server (-z ROOM): see forksrv()."""
        return {pid: argv for pid, argv in children_of(self.root_pid()).items()
                if b"-z" not in argv and (spare or b"-s" not in argv)}

    def forksrv(self):
        """The fork server's pid (argv: -g 0 -z ROOM), or None."""
        return next((pid for pid, argv in children_of(self.root_pid()).items()
                     if b"-z" in argv), None)

    def root_pid(self):
        """The supervisor's pid (a subclass may start it differently)."""
        return self.proc.pid

    def workers(self):
        """bot key -> pid of its worker processes (argv: -g N -b KEY)."""
        out = {}
        for pid, argv in self.children().items():
            if argv and argv[0].endswith(b"copilot-bridge-worker"):
                out[argv[argv.index(b"-b") + 1].decode()] = pid
        return out

    def spare(self):
        """The spare worker's pid, or None."""
        kids = self.children(spare=True)
        return next((pid for pid, argv in kids.items() if b"-s" in argv), None)

    def sessiond(self):
        for pid, argv in self.children().items():
            if argv and argv[0].endswith(b"copilot-bridge-sessiond"):
                return pid
        return None

    def kill_sessiond(self, timeout=15):
        """kill -9 sessiond and wait for the next one to be active; the old
        pid, gone."""
        old = self.sessiond()
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: self.sessiond() not in (None, old)
                 and self.status().get("sessiond", {}).get("state") == "active",
                 timeout=timeout, what="a new sessiond")
        assert not alive(old)
        return old

    # ctl ------------------------------------------------------------------
    def ctl(self, *args, timeout=30):
        r = subprocess.run(
            [os.path.join(self.bindir, "copilot-bridge"), "ctl", "-c",
             str(self.cfgpath), *args], capture_output=True, text=True,
            timeout=timeout)
        return r

    def status(self):
        """ctl status as {name: {state, gen, pid, restarts}}."""
        r = self.ctl("status")
        if r.returncode != 0:
            return {}
        rows = {}
        lines = r.stdout.splitlines()
        head = next((i for i, l in enumerate(lines) if l.startswith("BOT ")), 0)
        for line in lines[head + 1:]:
            f = line.split()
            if len(f) >= 6:
                rows[f[0]] = {"state": f[1], "gen": f[2], "pid": f[3],
                              "restarts": f[5]}
        return rows

    def count_state(self, state):
        return sum(1 for r in self.status().values() if r["state"] == state)

    # logs -----------------------------------------------------------------
    def log(self, name="supervisor.log"):
        try:
            return (self.logdir / name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def all_logs(self):
        text = ""
        if self.logdir.exists():
            for p in sorted(self.logdir.iterdir()):
                text += p.read_text(errors="replace")
        return text + (self.tmp / "stderr.log").read_text(errors="replace")

    def wait_log(self, pattern, name="supervisor.log", timeout=5, after=0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log(name), after),
                        timeout=timeout, what=f"/{pattern}/ in {name}")


def copy_bin(tmp):
    """A private copy of the binaries, to replace one (a worker upgrade)."""
    dst = tmp / "bin"
    shutil.copytree(BIN, dst)
    return dst


def slow_handshakes(mm, seconds=2):
    """Every worker that connects from now on waits seconds for the fake's
    GET /users/me: a swap or a start that certainly lasts (the running
    workers do not ask it again)."""
    mm.control("POST", "/config", {"me_delay": seconds})


def sanitized(pid):
    """Whether pid runs under ASan (its memory figures mean nothing)."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def mem_kb(pid):
    """RSS, PSS and private (USS) KiB: most of a process's RSS is shared
    library text (libcrypto alone is ~4 MB), counted again in every process;
    private memory is what one more worker really costs."""
    out = {"rss": 0, "pss": 0, "private": 0}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, v = line.split()[:2]
            if k == "Rss:":
                out["rss"] = int(v)
            elif k == "Pss:":
                out["pss"] = int(v)
            elif k in ("Private_Clean:", "Private_Dirty:"):
                out["private"] += int(v)
    return out


def pidfd_getfd(pid, fd):
    """Duplicate another process's descriptor (Linux >= 5.6, needs ptrace
    rights: we run as the same user or root)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        nfd = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd
        if nfd < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return nfd
    finally:
        os.close(pidfd)


def seqpacket_fds(pid, skip=(3,)):
    """Descriptors of pid that are SOCK_SEQPACKET sockets (IPC channels)."""
    out = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        fd = int(name)
        if fd in skip:
            continue
        try:
            if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                continue
            mine = pidfd_getfd(pid, fd)
        except OSError:
            continue
        s = socket.socket(fileno=mine)
        try:
            if s.type == socket.SOCK_SEQPACKET:
                out.append(fd)
        finally:
            s.close()
    return out


# --- fake Mattermost (tests/fakes/mattermost.py) ------------------------------

FAKE_MM = os.path.abspath(os.path.join(os.path.dirname(__file__), "..",
                                       "fakes", "mattermost.py"))
PYTHON = "/usr/bin/python3"


def mm_token(name):
    """The token base_config gives bot `name` (and fake_mm_seed gives any
    user), so a fake seeded from it accepts the bridge's tokens."""
    return f"tok-{name}-0123456789"


def fake_mm_seed(bots=("a", "b", "c"), humans=("alice", "bob")):
    """A seed with a bot user per bridge bot (username = bot name) and some
    humans, all in town-square, and a DM between the first bot and each
    human."""
    users = [{"username": b, "is_bot": True, "tokens": [mm_token(b)]}
             for b in bots]
    users += [{"username": h, "tokens": [mm_token(h)]} for h in humans]
    chans = [{"name": "town-square", "display_name": "Town Square",
              "type": "O", "members": "*"}]
    chans += [{"type": "D", "members": [bots[0], h]} for h in humans]
    return {"team": {"name": "test-team", "display_name": "Test Team"},
            "users": users, "channels": chans}


class FakeMM:
    """The fake Mattermost as a child process (its CLI), bound to a free
    loopback port.  control() speaks its /_fake API, api() its REST API."""

    def __init__(self, tmp, seed=None, args=(), name="fake-mm"):
        import select
        self.seedpath = tmp / f"{name}-seed.json"
        self.seedpath.write_text(json.dumps(seed or fake_mm_seed()))
        self.errlog = open(tmp / f"{name}.log", "wb")
        self.proc = subprocess.Popen(
            [PYTHON, FAKE_MM, "--port", "0", "--seed", str(self.seedpath),
             *args], stdout=subprocess.PIPE, stderr=self.errlog,
            stdin=subprocess.DEVNULL)
        r, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("LISTENING "):
            self.stop()
            raise AssertionError(f"fake Mattermost did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def _req(self, method, path, body=None, headers=None, timeout=10):
        import urllib.error
        import urllib.request
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def control(self, method, path, body=None):
        status, out = self._req(method, "/_fake" + path, body)
        if status >= 400:
            raise AssertionError(f"/_fake{path}: {status} {out}")
        return out

    def api(self, method, path, token, body=None):
        return self._req(method, "/api/v4" + path, body,
                         {"Authorization": f"Bearer {token}"})

    def state(self):
        return self.control("GET", "/state")

    def user(self, name):
        return next(u for u in self.state()["users"] if u["username"] == name)

    def channel(self, name=None, members=None):
        """A channel by name, or the DM/GM with exactly these members."""
        for c in self.state()["channels"]:
            if name is not None and c["name"] == name:
                return c
            if members is not None and sorted(c["members"]) == sorted(members):
                return c
        raise KeyError(name or members)

    def post(self, user, channel, message, **kw):
        return self.control("POST", "/post", dict(user=user, channel=channel,
                                                  message=message, **kw))

    def sockets(self, user=None):
        socks = self.control("GET", "/sockets")["sockets"]
        return [s for s in socks if user is None or s["username"] == user]

    def requests(self, method=None, path_prefix=""):
        return [r for r in self.control("GET", "/log")["requests"]
                if (method is None or r["method"] == method)
                and r["path"].startswith(path_prefix)]

    def stop(self):
        stop_proc(self.proc)
        self.proc.stdout.close()
        self.errlog.close()


def stop_proc(proc, timeout=5):
    """SIGTERM, then SIGKILL if it is still there after timeout s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def mm_config(tmp, fake, bots=("a", "b", "c"), access=None):
    """base_config pointed at a FakeMM seeded with fake_mm_seed(bots).
    Access is open unless given: with none at all the bridge, like
    upstream, lets nobody in."""
    cfg = base_config(tmp, bots=bots)
    cfg["platforms"]["mattermost"]["url"] = fake.url
    cfg["platforms"]["mattermost"]["access"] = access or {"mode": "open"}
    return cfg
