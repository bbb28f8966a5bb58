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
    def start(self, wait_ready=True):
        self.stderr = open(self.tmp / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [os.path.join(self.bindir, "copilot-bridge"), "run", "-c",
             str(self.cfgpath)], stdout=self.stderr, stderr=self.stderr,
            stdin=subprocess.DEVNULL)
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

    def children(self):
        return children_of(self.proc.pid)

    def workers(self):
        """bot key -> pid of its worker processes (argv: -g N -b KEY)."""
        out = {}
        for pid, argv in self.children().items():
            if argv and argv[0].endswith(b"copilot-bridge-worker"):
                out[argv[argv.index(b"-b") + 1].decode()] = pid
        return out

    def sessiond(self):
        for pid, argv in self.children().items():
            if argv and argv[0].endswith(b"copilot-bridge-sessiond"):
                return pid
        return None

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
        for line in r.stdout.splitlines()[2:]:
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
