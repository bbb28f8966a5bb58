"""The command line: --help, --version, bad usage, and the warning of
`run --check` when a copilot backend has no runtime to run."""

import json
import os
import re
import shutil
import subprocess

from bridge import BIN, base_config, copy_bin

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKG_BIN = ("node_modules/@github/copilot-sdk-linux-x64/prebuilds/linux-x64/"
           "copilot-runtime")


def run(*args, bindir=BIN, env=None):
    return subprocess.run([os.path.join(bindir, "copilot-bridge"), *args],
                          capture_output=True, text=True, timeout=30, env=env)


def server_verbs():
    """The commands the control socket answers, read from its dispatcher."""
    with open(os.path.join(TOP, "supervisor", "control.c")) as f:
        src = f.read()
    body = src[src.index("ctl_dispatch("):]
    body = body[:body.index("\n}\n")]
    verbs = re.findall(r'strcmp\(cmd, "([a-z-]+)"\)', body)
    assert "reload-hooks" in verbs, verbs
    return verbs


def test_help_on_stdout_exit_0():
    for args in (["--help"], ["-h"], ["help"]):
        r = run(*args)
        assert r.returncode == 0, (args, r)
        assert r.stderr == ""
        assert r.stdout.startswith("usage: copilot-bridge [run]"), r.stdout
        assert "--check" in r.stdout and "--version" in r.stdout
        for verb in server_verbs():
            assert re.search(rf"\b{verb}\b", r.stdout), (verb, r.stdout)


def test_ctl_usage_names_every_verb():
    r = run("ctl")
    assert r.returncode == 2 and r.stdout == ""
    for verb in server_verbs():
        assert re.search(rf"\b{verb}\b", r.stderr), (verb, r.stderr)


def test_bad_usage_exit_2():
    for args in (["--bogus"], ["run", "extra"], ["frobnicate"], ["-c"],
                 ["help", "me"]):
        r = run(*args)
        assert r.returncode == 2, (args, r)
        assert r.stdout == ""
        assert "usage: copilot-bridge" in r.stderr, (args, r.stderr)


def pkg_version(name):
    return subprocess.run(["pkg-config", "--modversion", name],
                          capture_output=True, text=True,
                          check=True).stdout.strip()


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    with open(os.path.join(TOP, "VERSION")) as f:
        version = f.read().strip()
    m = re.fullmatch(r"copilot-bridge (\S+) \(revision (\S+)\)", lines[0])
    assert m, lines[0]
    assert m.group(1) == version
    rev = m.group(2)
    if os.path.exists(os.path.join(TOP, ".git")):
        head = subprocess.run(["git", "-C", TOP, "rev-parse", "--short=12",
                               "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        assert rev in (head, head + "-dirty"), (rev, head)
    else:
        assert rev == "unknown"
    # The libraries' own version calls; Debian's builds report what
    # pkg-config knows, the loaded library being the one built against.
    libs = {"libevent": "libevent", "libcurl": "libcurl",
            "jansson": "jansson", "libwebsockets": "libwebsockets",
            "OpenSSL": "openssl"}
    got = {ln.split()[0]: ln for ln in lines[1:]}
    assert set(got) == set(libs), lines
    for name, pc in libs.items():
        assert pkg_version(pc) in got[name], (name, got[name])


def check(tmp_path, cfg, bindir, path="/usr/bin:/bin"):
    cfgpath = tmp_path / "check.json"
    cfgpath.write_text(json.dumps(cfg))
    env = dict(os.environ, PATH=path)
    return run("run", "--check", "-c", str(cfgpath), bindir=bindir, env=env)


def test_check_warns_without_runtime(tmp_path):
    assert shutil.which("copilot-runtime", path="/usr/bin:/bin") is None
    bindir = copy_bin(tmp_path)
    cfg = base_config(tmp_path)
    cfg["session"] = {"backend": "copilot"}
    r = check(tmp_path, cfg, bindir)
    assert r.returncode == 0, r
    assert "test is successful" in r.stdout
    assert "warning: no Copilot runtime found" in r.stderr, r.stderr
    # Every place it looked, in the order of the lookup.
    places = [f"{tmp_path}/lib/copilot-bridge/runtime/{PKG_BIN}",
              "copilot-runtime on PATH (/usr/bin:/bin)",
              f"{os.path.dirname(tmp_path)}/tests/{PKG_BIN}"]
    at = [r.stderr.find(p) for p in places]
    assert -1 not in at and at == sorted(at), (places, r.stderr)

    # The default backend is copilot too.
    del cfg["session"]
    assert "warning" in check(tmp_path, cfg, bindir).stderr
    # A configured runtimePath that is not there: named alone.
    cfg["session"] = {"runtimePath": "/nonexistent/rt"}
    r = check(tmp_path, cfg, bindir)
    assert r.returncode == 0
    assert "looked at session.runtimePath (/nonexistent/rt)." in r.stderr


def test_check_quiet_with_a_runtime(tmp_path):
    bindir = copy_bin(tmp_path)
    cfg = base_config(tmp_path)
    cfg["session"] = {"backend": "echo"}
    r = check(tmp_path, cfg, bindir)
    assert r.returncode == 0 and r.stderr == "", r
    stub = tmp_path / "stub-runtime"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    cfg["session"] = {"backend": "copilot", "runtimePath": str(stub)}
    r = check(tmp_path, cfg, bindir)
    assert r.returncode == 0 and r.stderr == "", r
    # The install location next to bin/.
    del cfg["session"]["runtimePath"]
    inst = tmp_path / "lib" / "copilot-bridge" / "runtime" / PKG_BIN
    inst.parent.mkdir(parents=True)
    shutil.copy(stub, inst)
    r = check(tmp_path, cfg, bindir)
    assert r.returncode == 0 and r.stderr == "", r
    # An invalid file is still an error, exit 1, whatever the runtime.
    (tmp_path / "check.json").write_text("{")
    r = run("run", "--check", "-c", str(tmp_path / "check.json"),
            bindir=bindir)
    assert r.returncode == 1 and "test failed" in r.stderr
