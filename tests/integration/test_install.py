"""`make install`: the files an operator gets (tests/install.manifest), an
operator's /etc files never overwritten, the man pages, the runtime
installer, and the real Copilot runtime found at the install location."""

import json
import os
import re
import subprocess

import pytest

from bridge import BIN
from llm import RUNTIME, copilot_chat
from test_cli import PKG_BIN, server_verbs

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROGS = ("copilot-bridge", "copilot-bridge-sessiond", "copilot-bridge-worker")


def make_install(tmp, prefix="/usr", root="root"):
    """make install of the binaries under test into tmp/root (not the
    variables of a make this test may run under, as `make check`)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(
        ["make", "--no-print-directory", "-C", TOP, "install",
         f"B={tmp}/b", f"DESTDIR={tmp}/{root}", f"PREFIX={prefix}",
         "BINS=" + " ".join(os.path.join(BIN, p) for p in PROGS)],
        capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return tmp / root, r.stdout


def tree(root):
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out.add((f"{os.stat(p).st_mode & 0o7777:04o}",
                     os.path.relpath(p, root)))
    return out


def test_manifest(tmp_path):
    root, _ = make_install(tmp_path)
    with open(os.path.join(TOP, "tests", "install.manifest")) as f:
        want = {tuple(ln.split()) for ln in f
                if ln.strip() and not ln.startswith("#")}
    got = tree(root)
    assert got == want, (f"installed, not in the manifest: {sorted(got - want)}; "
                         f"in the manifest, not installed: {sorted(want - got)}")
    unit = (root / "usr/lib/systemd/system/copilot-bridge.service").read_text()
    assert "@" not in unit.replace("@github", "")
    assert "ExecStart=/usr/bin/copilot-bridge run -c /etc/copilot-bridge/" \
           "config.json" in unit
    assert "file:///usr/share/doc/copilot-bridge/operator-guide.md" in unit
    # The lock operators install from is the tests' pin, nothing else.
    lock = json.loads((root / "usr/share/copilot-bridge/runtime/"
                       "package-lock.json").read_text())
    with open(os.path.join(TOP, "tests", "package-lock.json")) as f:
        tests_lock = json.load(f)
    key = "node_modules/@github/copilot-sdk-linux-x64"
    assert lock["packages"][key] == tests_lock["packages"][key]
    assert set(lock["packages"]) == {"", key}


def test_other_prefix(tmp_path):
    """/usr/local: paths follow PREFIX; sysusers.d and tmpfiles.d go to
    /etc, the only other place Debian 12's systemd reads them from."""
    root, _ = make_install(tmp_path, prefix="/usr/local")
    files = {p for _, p in tree(root)}
    for p in ("usr/local/bin/copilot-bridge",
              "usr/local/lib/systemd/system/copilot-bridge.service",
              "etc/sysusers.d/copilot-bridge.conf",
              "etc/tmpfiles.d/copilot-bridge.conf",
              "usr/local/share/man/man8/copilot-bridge.8",
              "etc/copilot-bridge/config.json"):
        assert p in files, (p, sorted(files))
    assert not any(p.startswith("usr/lib/") for p in files), files
    unit = (root / "usr/local/lib/systemd/system/"
            "copilot-bridge.service").read_text()
    assert "ExecStart=/usr/local/bin/copilot-bridge run" in unit
    assert "ExecReload=/usr/local/bin/copilot-bridge ctl" in unit
    assert "file:///usr/local/share/doc/copilot-bridge/" in unit


def test_etc_never_overwritten(tmp_path):
    root, _ = make_install(tmp_path)
    cfg = root / "etc/copilot-bridge/config.json"
    rot = root / "etc/logrotate.d/copilot-bridge"
    cfg.write_text('{"platforms": {}, "edited": "by the operator"}\n')
    rot.write_text("# mine\n")
    doc = root / "usr/share/doc/copilot-bridge/README.md"
    doc.write_text("stale")
    _, out = make_install(tmp_path)
    assert cfg.read_text() == '{"platforms": {}, "edited": "by the operator"}\n'
    assert rot.read_text() == "# mine\n"
    assert "config.json exists, left as it is" in out
    # Everything else is the new version's.
    with open(os.path.join(TOP, "README.md")) as f:
        assert doc.read_text() == f.read()


def test_installed_config_passes_check(tmp_path):
    """The shipped config is the sample with stateDir where the service
    keeps its state (the unit's ExecReload socket)."""
    root, _ = make_install(tmp_path)
    cfg = root / "etc/copilot-bridge/config.json"
    with open(os.path.join(TOP, "etc", "config.sample.json")) as f:
        sample = json.load(f)
    installed = json.loads(cfg.read_text())
    assert installed["stateDir"] == "/var/lib/copilot-bridge"
    installed["stateDir"] = sample["stateDir"]
    assert installed == sample
    unit = (root / "usr/lib/systemd/system/copilot-bridge.service").read_text()
    assert "-s /var/lib/copilot-bridge/control.sock reload" in unit
    r = subprocess.run([str(root / "usr/bin/copilot-bridge"), "run", "--check",
                        "-c", str(cfg)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r
    assert "test is successful" in r.stdout


def test_man_pages_lint_clean():
    pages = sorted(os.path.join(TOP, "man", p)
                   for p in os.listdir(os.path.join(TOP, "man")))
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", *pages],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", \
        r.stdout + r.stderr
    # groff too, as lintian runs it: lines that cannot be broken and the like.
    for page in pages:
        r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8",
                            "-Z", page], capture_output=True, text=True,
                           env=dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80",
                                    MANROFFSEQ=""))
        assert r.returncode == 0 and r.stderr == "", (page, r.stderr)
    # Every installed program has a page.
    names = {os.path.basename(p) for p in pages}
    for prog in PROGS + ("copilot-bridge-install-runtime",):
        assert prog + ".8" in names


def man_text(page):
    r = subprocess.run(["mandoc", "-T", "ascii", os.path.join(TOP, "man", page)],
                       capture_output=True, text=True, check=True)
    return re.sub(r".\x08", "", r.stdout)


def test_man_pages_complete():
    """copilot-bridge(8) has every ctl verb, copilot-bridge.json(5) every
    top-level key of docs/configuration.md and each reload class."""
    text = man_text("copilot-bridge.8")
    for verb in server_verbs():
        assert re.search(rf"\b{verb}\b", text), verb
    for word in ("SIGHUP", "SIGUSR1", "SIGTERM", "EXIT STATUS", "ENVIRONMENT",
                 "FILES", "--version", "--check", "COPILOT_BRIDGE_CONFIG"):
        assert word in text, word
    with open(os.path.join(TOP, "docs", "configuration.md")) as f:
        doc = f.read()
    section = doc[doc.index("## Top-level keys"):]
    section = section[:section.index("\n## ", 5)]
    keys = re.findall(r"^\| `([A-Za-z]+)`", section, re.M)
    assert len(keys) > 15, keys
    text = man_text("copilot-bridge.json.5")
    for key in keys:
        assert re.search(rf"^ {{5}}{key} \(", text, re.M), key
    for cls in ("live", "botReloadNeeded", "telemetryReloadNeeded",
                "restartNeeded"):
        assert cls in text


def test_version_matches_debian_changelog():
    with open(os.path.join(TOP, "VERSION")) as f:
        version = f.read().strip()
    with open(os.path.join(TOP, "debian", "changelog")) as f:
        first = f.readline()
    m = re.match(r"copilot-bridge \(([^)]+)\) ", first)
    assert m and m.group(1) == version, (first, version)


FAKE_NPM = """#!/bin/sh
# npm ci, offline: checks it got the lock and installs a stub runtime.
[ "$1" = ci ] || exit 64
grep -q '"@github/copilot-sdk-linux-x64"' package-lock.json || exit 65
[ -n "${FAIL_NPM:-}" ] && exit 1
mkdir -p node_modules/@github/copilot-sdk-linux-x64/prebuilds/linux-x64
printf '#!/bin/sh\\necho %s\\n' "$MARK" \\
    >node_modules/@github/copilot-sdk-linux-x64/prebuilds/linux-x64/copilot-runtime
chmod 755 node_modules/@github/copilot-sdk-linux-x64/prebuilds/linux-x64/copilot-runtime
"""


def test_install_runtime_script(tmp_path):
    """copilot-bridge-install-runtime puts the runtime where the installed
    copilot-bridge finds it; a failed npm leaves the old one in place."""
    root, _ = make_install(tmp_path)
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    (fakebin / "npm").write_text(FAKE_NPM)
    (fakebin / "npm").chmod(0o755)
    env = dict(os.environ, PATH=f"{fakebin}:/usr/bin:/bin", MARK="first")
    script = str(root / "usr/bin/copilot-bridge-install-runtime")
    cfg = str(root / "etc/copilot-bridge/config.json")
    check = [str(root / "usr/bin/copilot-bridge"), "run", "--check", "-c", cfg]

    r = subprocess.run(check, capture_output=True, text=True, env=env)
    assert "warning: no Copilot runtime found" in r.stderr
    r = subprocess.run([script], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r
    rt = root / "usr/lib/copilot-bridge/runtime" / PKG_BIN
    assert subprocess.run([str(rt)], capture_output=True,
                          text=True).stdout == "first\n"
    r = subprocess.run(check, capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stderr == "", r

    env.update(MARK="second", FAIL_NPM="1")
    r = subprocess.run([script], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 1 and "npm ci failed" in r.stderr
    assert subprocess.run([str(rt)], capture_output=True,
                          text=True).stdout == "first\n"
    del env["FAIL_NPM"]
    assert subprocess.run([script], env=env, capture_output=True,
                          timeout=60).returncode == 0
    assert subprocess.run([str(rt)], capture_output=True,
                          text=True).stdout == "second\n"
    leftovers = [p for p in os.listdir(root / "usr/lib/copilot-bridge")
                 if p != "runtime"]
    assert leftovers == []
    # Usage.
    r = subprocess.run([script, "-x"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "usage:" in r.stderr
    r = subprocess.run([script, "-h"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "usage:" in r.stdout
    r = subprocess.run([script], capture_output=True, text=True,
                       env=dict(env, PATH="/nonexistent"))
    assert r.returncode != 0


@pytest.mark.skipif(not os.path.exists(RUNTIME),
                    reason="the Copilot runtime is not installed (make deps)")
def test_real_runtime_at_install_location(tmp_path, bridge_factory, monkeypatch):
    """The installed tree, with the real runtime package where
    copilot-bridge-install-runtime puts it, answers through it: no
    runtimePath, nothing on PATH, no source tree above it."""
    root, _ = make_install(tmp_path)
    pkg = root / "usr/lib/copilot-bridge/runtime/node_modules/@github"
    pkg.mkdir(parents=True)
    real = os.path.realpath(os.path.join(os.path.dirname(RUNTIME), "..", ".."))
    os.symlink(real, pkg / "copilot-sdk-linux-x64")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    bindir = str(root / "usr/bin")

    def installed_bridge(config=None, **kw):
        return bridge_factory(config=config, bindir=bindir, **kw)

    chat = copilot_chat(installed_bridge, tmp_path, monkeypatch)
    try:
        assert "runtimePath" not in chat.cfg["session"]
        chat.llm.script([{"match": "where", "reply": "Found at the install "
                          "location."}])
        chat.say("where is the runtime?")
        chat.wait_text(lambda t: t == "Found at the install location.",
                       timeout=60, what="the answer through the runtime")
        want = f"started {root}/usr/lib/copilot-bridge/runtime/{PKG_BIN}"
        assert want in chat.bridge.log("sessiond.log")
    finally:
        chat.close()
