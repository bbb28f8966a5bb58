import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from bridge import Bridge, base_config  # noqa: E402

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


@pytest.fixture
def bridge_factory(tmp_path):
    made = []

    def make(config=None, bindir=None, start=True, **kw):
        b = Bridge(tmp_path, config or base_config(tmp_path, **kw),
                   **({"bindir": bindir} if bindir else {}))
        made.append(b)
        if start:
            b.start()
        return b

    yield make
    for b in made:
        b.stop()
        logs = b.all_logs()
        for mark in SANITIZER_MARKS:
            assert mark not in logs, f"sanitizer report in logs:\n{logs[-4000:]}"


@pytest.fixture
def bridge(bridge_factory):
    return bridge_factory()
