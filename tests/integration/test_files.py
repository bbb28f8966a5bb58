"""Files both ways, on Mattermost and on Slack, with the real Copilot
runtime and the fake LLM: a PNG and a text file posted with a question
reach the model's request (the image as an image, the text file tagged); a
message with only a file is answered; a file over the cap is not fetched
and the channel is told; the agent's send_file of a file it wrote lands in
the turn's thread; send_file of ../../etc/passwd and of a symlink out of
the workspace is refused; a file sent while a turn runs waits for the
turn's end with its text; show_file_in_chat shows lines, and a diff without
running what the repository configures; old temporary files go."""

import base64
import hashlib
import json
import os
import subprocess
import time
import urllib.request

import pytest

from bridge import FakeMM, fake_mm_seed, mm_config, wait_for
from llm import RUNTIME, FakeLLM, runtime_env
from test_worker_slack import BOT_UID as SLACK_BOT, CHAN as SLACK_CHAN, Fake

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg==")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def file_spec(name, data, mime=None):
    return {"name": name, "content_b64": base64.b64encode(data).decode(),
            **({"mime_type": mime, "mimetype": mime} if mime else {})}


class MMSide:
    """Bot "a" in town-square of a fake Mattermost; alice talks."""
    platform = "mattermost"
    worker_log = "worker-mattermost-a.log"

    def __init__(self, tmp):
        self.mm = FakeMM(tmp, seed=fake_mm_seed(bots=("a",),
                                                humans=("alice", "bob")))
        self.chan = self.mm.channel("town-square")["id"]
        self.bot_id = self.mm.user("a")["id"]

    def config(self, tmp):
        cfg = mm_config(tmp, self.mm, bots=("a",),
                        access={"mode": "allowlist", "users": ["alice"]})
        cfg["channels"][0].update(id=self.chan, triggerMode="all",
                                  threadedReplies=False)
        return cfg

    def post(self, text, files=(), root=""):
        return self.mm.post("alice", self.chan, text, files=list(files),
                            root_id=root)["id"]

    def bot_posts(self):
        posts = self.mm.control("GET", f"/channels/{self.chan}/posts")["posts"]
        out = []
        for p in posts:
            if p["user_id"] != self.bot_id or p.get("delete_at"):
                continue
            files = [{"id": f["id"], "name": f["name"], "size": f["size"]}
                     for f in (p.get("metadata") or {}).get("files", [])]
            out.append({"text": p["message"], "root": p["root_id"],
                        "files": files})
        return out

    def file_bytes(self, fid):
        req = urllib.request.Request(
            f"{self.mm.url}/api/v4/files/{fid}",
            headers={"Authorization": "Bearer tok-alice-0123456789"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def downloads(self):
        return [r for r in self.mm.requests("GET", "/api/v4/files/")]

    def stop(self):
        self.mm.stop()


class SlackSide:
    """Bot "a" in #general of a fake Slack; alice talks."""
    platform = "slack"
    worker_log = "worker-slack-a.log"

    def __init__(self, tmp):
        self.fake = Fake()
        self.url = self.fake.url
        self.control = self.fake.control
        self.chan = SLACK_CHAN

    def config(self, tmp):
        return {
            "platforms": {"slack": {
                "apiUrl": self.url + "/api/",
                "access": {"mode": "open"},
                "bots": {"a": {"token": "xoxb-1-fake-bridge-a",
                               "appToken": "xapp-1-A01BRIDGEA-1-fake"}}}},
            "channels": [{"id": SLACK_CHAN, "platform": "slack", "bot": "a",
                          "workingDirectory": str(tmp), "triggerMode": "all",
                          "threadedReplies": False}],
            "stateDir": str(tmp / "state"), "logDir": str(tmp / "logs"),
            "logLevel": "debug"}

    def post(self, text, files=(), root=""):
        body = {"channel": SLACK_CHAN, "user": "alice", "text": text}
        if files:
            body["files"] = [dict(f, content_b64=f["content_b64"])
                             for f in files]
        if root:
            body["thread_ts"] = root
        return self.control("POST", "/post", body)["ts"]

    def bot_posts(self):
        msgs = self.control("GET", f"/channels/{SLACK_CHAN}/messages")["messages"]
        files = {f["id"]: f for f in self.control("GET", "/files")["files"]}
        out = []
        for m in msgs:
            if m.get("user") != SLACK_BOT or m.get("deleted"):
                continue
            out.append({"text": m.get("text", ""), "root": m.get("thread_ts", "")
                        if m.get("thread_ts") != m["ts"] else "",
                        "files": [{"id": f["id"], "name": f["name"],
                                   "size": files[f["id"]]["size"]}
                                  for f in m.get("files", [])]})
        return out

    def file_bytes(self, fid):
        for f in self.control("GET", "/files")["files"]:
            if f["id"] == fid:
                return f["sha256"]
        return None

    def downloads(self):
        return self.control("GET", "/downloads")["downloads"]

    def stop(self):
        self.fake.stop()


class Files:
    """A bridge on one platform with the real runtime and the fake LLM."""

    def __init__(self, side, llm, bridge, tmp):
        self.side, self.llm, self.bridge, self.tmp = side, llm, bridge, tmp

    def temp_dir(self):
        return self.tmp / ".temp" / self.side.chan

    def wait_text(self, pred, timeout=60, what="a bot post"):
        return wait_for(lambda: next((p for p in self.side.bot_posts()
                                      if pred(p["text"])), None),
                        timeout=timeout, step=0.1, what=what)

    def tool_results(self):
        """The texts of every tool result the model was sent."""
        return [m.get("content") for r in self.llm.requests()
                for m in r["messages"] if m.get("role") == "tool"]


@pytest.fixture(params=["mattermost", "slack"])
def files_chat(request, bridge_factory, tmp_path, monkeypatch):
    """make(files=None, threaded=False): the bridge, started."""
    runtime_env(monkeypatch, tmp_path)
    side = MMSide(tmp_path) if request.param == "mattermost" else \
        SlackSide(tmp_path)
    llm = FakeLLM(tmp_path)
    made = []

    def make(files=None, threaded=False):
        cfg = side.config(tmp_path)
        cfg["channels"][0]["threadedReplies"] = threaded
        cfg["providers"] = {"fake": llm.provider()}
        cfg["defaults"] = {"model": "fake:fake-model"}
        cfg["session"] = {"backend": "copilot"}
        if files is not None:
            cfg["files"] = files
        f = Files(side, llm, bridge_factory(config=cfg), tmp_path)
        made.append(f)
        return f

    yield make
    for f in made:
        f.bridge.stop()
    llm.stop()
    side.stop()


def test_a_png_and_a_text_file_reach_the_model(files_chat):
    c = files_chat()
    c.side.post("what is in these?", [
        file_spec("dot.png", PNG, "image/png"),
        file_spec("notes.txt", b"hello from notes\n", "text/plain")])
    c.wait_text(lambda t: t == "echo: what is in these?")
    att = next(a for a in c.llm.attachments() if a["images"] or a["files"])
    assert att["images"] == [{"mime": "image/png", "bytes": len(PNG),
                              "sha256": sha(PNG)}]
    tmp = c.temp_dir()
    assert att["files"] == [str(tmp / "notes.txt")]
    # The files are in the working directory's .temp/<channel>/, whole.
    assert (tmp / "dot.png").read_bytes() == PNG
    assert (tmp / "notes.txt").read_bytes() == b"hello from notes\n"
    # The token stayed in the worker: nothing of it in sessiond's log.
    assert "fakebot" not in c.bridge.log("sessiond.log")
    assert "xoxb-" not in c.bridge.log("sessiond.log")


def test_a_message_with_only_a_file_is_answered(files_chat):
    c = files_chat()
    c.side.post("", [file_spec("report.csv", b"a,b\n1,2\n", "text/csv")])
    c.wait_text(lambda t: t == "echo: See attached file(s).")
    att = [a for a in c.llm.attachments() if a["files"]]
    assert att and att[0]["files"] == [str(c.temp_dir() / "report.csv")]


def test_a_file_name_cannot_lead_out_of_the_temp_dir(files_chat):
    c = files_chat()
    c.side.post("names", [file_spec("../../escape.txt", b"e\n"),
                          file_spec(".hidden", b"h\n"),
                          file_spec(".hidden", b"h2\n")])
    c.wait_text(lambda t: t == "echo: names")
    got = sorted(p.name for p in c.temp_dir().iterdir())
    assert got == ["___.._escape.txt", "_hidden", "_hidden-2"]
    assert (c.temp_dir() / "_hidden-2").read_bytes() == b"h2\n"
    assert not (c.tmp.parent / "escape.txt").exists()
    # The model sees the names as the chat gave them.
    assert sorted(c.llm.attachments()[-1]["files"]) == sorted(
        str(c.temp_dir() / n) for n in got)


def test_a_file_over_the_cap_is_not_downloaded(files_chat):
    c = files_chat(files={"maxFileMiB": 0.01})       # 10 KiB
    big = os.urandom(20 * 1024)
    c.side.post("look at this", [file_spec("big.bin", big),
                                 file_spec("small.txt", b"small\n")])
    c.wait_text(lambda t: t == "⚠️ `big.bin` (20 KiB) was not downloaded: "
                "a file may be at most 10 KiB.", what="the over-the-cap reply")
    c.wait_text(lambda t: t == "echo: look at this")
    assert not (c.temp_dir() / "big.bin").exists()
    assert (c.temp_dir() / "small.txt").read_bytes() == b"small\n"
    # Only the small file was fetched from the platform.
    got = c.side.downloads()
    assert len(got) == 1 and "big.bin" not in json.dumps(got), got


def test_files_of_one_message_over_the_message_cap(files_chat):
    c = files_chat(files={"maxFileMiB": 1, "maxMessageMiB": 0.02})
    a, b = os.urandom(15 * 1024), os.urandom(15 * 1024)
    c.side.post("two files", [file_spec("a.bin", a), file_spec("b.bin", b)])
    c.wait_text(lambda t: "`b.bin` (15 KiB) was not downloaded: the files "
                "of one message may be at most 20 KiB together." in t)
    c.wait_text(lambda t: t == "echo: two files")
    assert (c.temp_dir() / "a.bin").read_bytes() == a
    assert not (c.temp_dir() / "b.bin").exists()


def test_send_file_lands_in_the_thread(files_chat):
    c = files_chat(threaded=True)
    out = c.tmp / "out.txt"
    body = "the report, written by the agent\n"
    c.llm.script([
        {"match": "write a report", "tool_call": {"name": "create", "arguments": {
            "path": str(out), "file_text": body}}},
        {"when": "tool", "times": 1, "tool_call": {"name": "send_file", "arguments": {
            "path": "out.txt", "message": "Here is **the report**"}}},
        {"when": "tool", "reply": "done: {tool_result}"}])
    root = c.side.post("please write a report")
    post = c.wait_text(lambda t: t.startswith("done:"), what="the turn's end")
    assert post["text"] == "done: File sent: out.txt"
    up = wait_for(lambda: next((p for p in c.side.bot_posts() if p["files"]),
                               None), what="the upload")
    assert up["root"] == root, "not in the turn's thread"
    assert [f["name"] for f in up["files"]] == ["out.txt"]
    got = c.side.file_bytes(up["files"][0]["id"])
    assert got in (body.encode(), sha(body.encode()))
    if c.side.platform == "mattermost":
        assert up["text"] == "Here is **the report**"
    else:
        assert up["text"] == "Here is *the report*"


@pytest.mark.parametrize("how", ["dotdot", "symlink"])
def test_send_file_out_of_the_workspace_is_refused(files_chat, how):
    c = files_chat()
    if how == "dotdot":
        path = "../../etc/passwd"
    else:
        os.symlink("/etc/passwd", c.tmp / "innocent.txt")
        path = "innocent.txt"
    c.llm.script([
        {"match": "send it", "tool_call": {"name": "send_file", "arguments": {
            "path": path}}},
        {"when": "tool", "reply": "result: {tool_result}"}])
    c.side.post("send it")
    c.wait_text(lambda t: t.startswith("result:"))
    assert c.tool_results() == [
        "File path is outside the allowed workspace. Only files within "
        "your workspace can be sent."]
    time.sleep(0.5)
    assert not any(p["files"] for p in c.side.bot_posts())
    assert "send_file" in c.bridge.log("sessiond.log")


def test_a_file_sent_during_a_turn_waits_with_its_text(files_chat):
    c = files_chat()
    c.llm.script([{"match": "slow", "reply": "slow answer", "chunks": 4,
                   "delay": 1.0}])
    c.side.post("slow one")
    wait_for(lambda: c.llm.requests(), timeout=60, what="the first turn")
    c.side.post("and this file", [file_spec("late.txt", b"late\n")])
    c.wait_text(lambda t: t == "echo: and this file", timeout=90)
    c.wait_text(lambda t: t == "slow answer")
    reqs = c.llm.requests()
    # Its own turn, with its file: it never steered the slow one.
    last = [m for m in reqs[-1]["messages"] if m.get("role") == "user"][-1]
    assert "and this file" in json.dumps(last["content"])
    assert c.llm.attachments()[-1]["files"] == [str(c.temp_dir() / "late.txt")]
    assert not any("and this file" in json.dumps(r["messages"]) for r in reqs[:-1])


def test_show_file_in_chat(files_chat):
    c = files_chat()
    (c.tmp / "code.py").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    c.llm.script([
        {"match": "show me", "tool_call": {"name": "show_file_in_chat",
                                           "arguments": {"path": str(c.tmp / "code.py"),
                                                         "view_range": [3, 5]}}},
        {"when": "tool", "reply": "result: {tool_result}"}])
    c.side.post("show me the code")
    c.wait_text(lambda t: t == "result: Showed code.py to user in chat.")
    block = c.wait_text(lambda t: t.startswith(("**code.py**", "*code.py*")))
    want = "**code.py** (lines 3–5)\n````py\nline 3\nline 4\nline 5\n````"
    if c.side.platform == "slack":
        want = want.replace("**code.py**", "*code.py*")
    assert block["text"] == want


def test_old_temporary_files_are_removed(files_chat):
    c = files_chat(files={"tempMaxAgeHours": 0.001})     # 3.6 s
    c.side.post("keep this briefly", [file_spec("brief.txt", b"brief\n")])
    c.wait_text(lambda t: t == "echo: keep this briefly")
    f = c.temp_dir() / "brief.txt"
    assert f.exists()
    wait_for(lambda: not f.exists(), timeout=20, step=0.2,
             what="the old file removed")
    c.bridge.wait_log(r"old temporary file\(s\) removed", name="sessiond.log",
                      timeout=5)


def git(cwd, *args):
    subprocess.run(["git", "-C", str(cwd), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, GIT_CONFIG_NOSYSTEM="1"), timeout=30)


@pytest.mark.parametrize("files_chat", ["mattermost"], indirect=True)
def test_show_file_in_chat_diff_runs_nothing_the_repository_configures(
        files_chat, tmp_path):
    c = files_chat()
    repo = c.tmp / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "f.txt").write_text("old line\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-qm", "one")
    (repo / "f.txt").write_text("new line\n")
    # What the agent could plant to run commands through git diff.
    marker = tmp_path / "ran"
    hook = repo / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    hook.chmod(0o755)
    (repo / ".gitattributes").write_text("*.txt filter=evil diff=evil\n")
    git(repo, "config", "filter.evil.clean", str(hook))
    git(repo, "config", "diff.evil.textconv", str(hook))
    git(repo, "config", "diff.external", str(hook))
    # The trap works: a plain git diff runs it.
    subprocess.run(["git", "-C", str(repo), "diff"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)
    assert marker.exists()
    marker.unlink()
    c.llm.script([
        {"match": "diff", "tool_call": {"name": "show_file_in_chat", "arguments": {
            "path": str(repo / "f.txt"), "diff": True}}},
        {"when": "tool", "reply": "result: {tool_result}"}])
    c.side.post("show me the diff")
    c.wait_text(lambda t: t == "result: Showed f.txt to user in chat.")
    block = c.wait_text(lambda t: t.startswith("**f.txt** (diff)"))["text"]
    assert block.startswith("**f.txt** (diff)\n````diff\ndiff --git a/f.txt b/f.txt")
    assert "-old line\n+new line\n" in block
    assert not marker.exists(), "git ran a command the repository configured"


@pytest.mark.parametrize("files_chat", ["slack"], indirect=True)
def test_slack_file_without_its_url_is_fetched_through_files_info(files_chat):
    c = files_chat()
    c.side.post("shared from elsewhere", [dict(
        file_spec("connect.txt", b"from a connected workspace\n"),
        file_access="check_file_info")])
    c.wait_text(lambda t: t == "echo: shared from elsewhere")
    # The event does not name it either: upstream's "file-<id>".
    fid = c.side.control("GET", "/files")["files"][0]["id"]
    assert (c.temp_dir() / f"file-{fid}").read_bytes() == \
        b"from a connected workspace\n"
    infos = [r for r in c.side.control("GET", "/log")["requests"]
             if r["method"] == "files.info"]
    assert len(infos) == 1 and infos[0]["ok"], infos
    # Every fetch carried the bot's token.
    assert [d["bot"] for d in c.side.downloads()] == ["bridge-a"]


@pytest.mark.parametrize("files_chat", ["slack"], indirect=True)
def test_a_file_of_unsaid_size_stops_at_the_cap(files_chat):
    c = files_chat(files={"maxFileMiB": 0.01})       # 10 KiB
    c.side.post("what about this", [dict(file_spec("big.bin", os.urandom(20 * 1024)),
                                         file_access="check_file_info")])
    fid = c.side.control("GET", "/files")["files"][0]["id"]
    c.wait_text(lambda t: t == f"⚠️ `file-{fid}` could not be downloaded: "
                "download: the file is over 10485 bytes",
                what="the download stopped at the cap")
    c.wait_text(lambda t: t == "echo: what about this")
    # The worker stopped writing at the bound; sessiond removed the rest.
    assert list(c.temp_dir().iterdir()) == []
