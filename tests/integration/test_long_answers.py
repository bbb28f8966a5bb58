"""Long answers arrive whole: the real Copilot runtime streams an answer of
mixed-script text (accented Latin, Cyrillic, CJK, 4-byte emoji, ZWJ
sequences, flags, combining marks) from the fake LLM, in 4 large deltas or
in 1,000 small ones, and the chat must hold every character exactly once
and in order, in posts no longer than the platform carries, with no
placeholder left.  Only the white space at the cut points may differ.
sessiond's memory must not grow with the length of the answer."""

import os
import random
import threading

import pytest

from bridge import FakeMM, fake_mm_seed, mm_config, sanitized, wait_for
from llm import RUNTIME, FakeLLM, runtime_env
from test_worker_slack import BOT_UID, CHAN, Fake, slack_config  # noqa: F401

pytestmark = pytest.mark.skipif(not os.path.exists(RUNTIME),
                                reason="the Copilot runtime is not installed (make deps)")

MM_LIMIT = 16383        # characters in a Mattermost post
SLACK_LIMIT = 3900      # characters in a Slack message (upstream's chunk)
PLACEHOLDER = "⏳ Working..."

WORDS = [
    "café", "naïve", "élève", "Ångström", "façade", "über", "niño",
    "привет", "мир", "Москва", "ёлка", "Київ",
    "漢字", "日本語", "中文", "한국어", "東京",
    "😀", "🎉", "🚀", "👩\u200d💻", "👨\u200d👩\u200d👧", "🏳️\u200d🌈",
    "🇫🇷", "🇯🇵", "👍🏽", "❤️", "e\u0301", "a\u0308o\u0308",
    "plain", "words", "between", "them", "42", "x", "ok.", "yes,", "(fine)",
]


def mixed_text(nchars, seed):
    """About nchars characters (code points) of words, spaces and lines."""
    rng = random.Random(seed)
    out, n = [], 0
    while n < nchars:
        w = rng.choice(WORDS)
        sep = "\n\n" if rng.random() < 0.02 else ("\n" if rng.random() < 0.05
                                                 else " ")
        out.append(w + sep)
        n += len(w) + len(sep)
    return "".join(out)[:nchars].rstrip() + " end."


def check_whole(text, pieces, limit):
    """pieces, in order, are text cut at some points; only white space at
    the cuts may be missing.  Returns None or what is wrong."""
    pos = 0
    for i, p in enumerate(pieces):
        if len(p) > limit:
            return f"piece {i} has {len(p)} characters (limit {limit})"
        if p == PLACEHOLDER:
            return f"piece {i} is a placeholder"
        while pos < len(text) and text[pos] in " \n\t" and not \
                text.startswith(p, pos):
            pos += 1
        if not text.startswith(p, pos):
            return (f"piece {i} does not continue the text at {pos}: "
                    f"{p[:40]!r} vs {text[pos:pos + 40]!r}")
        pos += len(p)
    if text[pos:].strip() != "":
        return f"the text stops at {pos} of {len(text)}"
    return None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, rss_kib(self.pid))


@pytest.fixture
def mm_chat(bridge_factory, tmp_path, monkeypatch):
    runtime_env(monkeypatch, tmp_path)
    mm = FakeMM(tmp_path, seed=fake_mm_seed(bots=("a",), humans=("alice",)))
    llm = FakeLLM(tmp_path)
    chan, bot_id = mm.channel("town-square")["id"], mm.user("a")["id"]
    cfg = mm_config(tmp_path, mm, bots=("a",),
                    access={"mode": "allowlist", "users": ["alice"]})
    cfg["channels"][0].update(id=chan, triggerMode="all", threadedReplies=False)
    cfg["providers"] = {"fake": llm.provider()}
    cfg["defaults"] = {"model": "fake:fake-model"}
    cfg["session"] = {"backend": "copilot"}
    b = bridge_factory(config=cfg)

    def pieces():
        posts = mm.control("GET", f"/channels/{chan}/posts")["posts"]
        mine = [p for p in posts if p["user_id"] == bot_id and
                not p.get("delete_at")]
        return [p["message"] for p in sorted(mine, key=lambda p: p["create_at"])]

    yield b, llm, (lambda text: mm.post("alice", chan, text)), pieces
    llm.stop()
    mm.stop()


@pytest.fixture
def slack_chat(bridge_factory, tmp_path, monkeypatch):
    runtime_env(monkeypatch, tmp_path)
    fake = Fake()
    llm = FakeLLM(tmp_path)
    cfg = slack_config(tmp_path, fake)
    cfg["providers"] = {"fake": llm.provider()}
    cfg["defaults"] = {"model": "fake:fake-model"}
    cfg["session"] = {"backend": "copilot"}
    b = bridge_factory(config=cfg)

    def pieces():
        msgs = sorted(fake.bot_messages(), key=lambda m: float(m["ts"]))
        return [m["text"] for m in msgs]

    yield b, llm, fake.post, pieces
    llm.stop()
    fake.stop()


def long_answer(chat, limit, nchars, chunks, seed):
    bridge, llm, say, pieces = chat
    llm.script([{"match": "warm", "reply": "warm."},
                {"match": "long", "reply": mixed_text(nchars, seed),
                 "chunks": chunks}])
    say("warm up")
    wait_for(lambda: pieces() == ["warm."], timeout=60, what="the warm-up answer")
    text = mixed_text(nchars, seed)
    sd = bridge.sessiond()
    base = rss_kib(sd)
    sampler = RssSampler(sd)
    sampler.start()
    say("a long one please")
    try:
        last = {}

        def whole():
            got = pieces()[1:]
            last["why"] = check_whole(text, got, limit)
            return last["why"] is None and got
        wait_for(whole, timeout=120, step=0.25, what="the whole answer")
    except AssertionError:
        raise AssertionError(f"not whole: {last.get('why')}")
    finally:
        sampler.stop.set()
        sampler.join()
    return base, sampler.peak, sd


LENGTHS = [20000, 100000, 250000]


@pytest.mark.parametrize("nchars", LENGTHS)
@pytest.mark.parametrize("chunks", [4, 1000])
def test_mattermost_long_answer(mm_chat, nchars, chunks):
    base, peak, sd = long_answer(mm_chat, MM_LIMIT, nchars, chunks, nchars + chunks)
    if nchars == 250000 and not sanitized(sd):
        assert peak - base < 4096, f"sessiond grew by {peak - base} KiB"


@pytest.mark.parametrize("nchars", LENGTHS)
@pytest.mark.parametrize("chunks", [4, 1000])
def test_slack_long_answer(slack_chat, nchars, chunks):
    base, peak, sd = long_answer(slack_chat, SLACK_LIMIT, nchars, chunks,
                                 nchars * 3 + chunks)
    if nchars == 250000 and not sanitized(sd):
        assert peak - base < 4096, f"sessiond grew by {peak - base} KiB"


def test_check_whole_can_fail():
    """The comparison itself: a lost, doubled or reordered piece is found."""
    text = mixed_text(5000, 1)
    a, b, c = text[:1500], text[1500:3000], text[3000:]
    assert check_whole(text, [a, b, c], 2100) is None
    assert check_whole(text, [a, c], 2100) is not None
    assert check_whole(text, [a, b, b, c], 2100) is not None
    assert check_whole(text, [b, a, c], 2100) is not None
    assert check_whole(text, [a + b, c], 2100) is not None
    assert check_whole(text, [a, b, c[:-5]], 2100) is not None
