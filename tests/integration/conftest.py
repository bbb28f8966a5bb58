import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from bridge import Bridge, FakeMM, fake_mm_seed, mm_config  # noqa: E402

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


@pytest.fixture
def bridge_factory(tmp_path):
    """make(config=None, bindir=None, start=True, bots=...): a bridge.  With
    no config, a fake Mattermost seeded with the bots is started too, and
    the bridge is pointed at it (make.fake)."""
    made, fakes = [], []

    def make(config=None, bindir=None, start=True, **kw):
        if config is None:
            fake = FakeMM(tmp_path, seed=fake_mm_seed(**kw))
            fakes.append(fake)
            make.fake = fake
            config = mm_config(tmp_path, fake, **kw)
        b = Bridge(tmp_path, config, **({"bindir": bindir} if bindir else {}))
        made.append(b)
        if start:
            b.start()
        return b

    yield make
    for b in made:
        b.stop()
    for f in fakes:
        f.stop()
    for b in made:
        logs = b.all_logs()
        for mark in SANITIZER_MARKS:
            assert mark not in logs, f"sanitizer report in logs:\n{logs[-4000:]}"


@pytest.fixture
def bridge(bridge_factory):
    return bridge_factory()
