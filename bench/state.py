"""sessiond's event loop while its state is written: a burst of prompts
into 10 DMs (every message moves a catch-up cursor, each DM's first opens
and saves a session), with the loop probe (COPILOT_BRIDGE_TEST_LOOP_PROBE,
common/lag.c) on.  Figures: the longest stall of the loop during the burst,
and the part of it not spent waiting for a CPU (the machine's share taken
off; the goal, under 5 ms, is about that part); how many ticks stalled
over 5 ms; the store's writes and transactions."""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from test_state import burst  # noqa: E402


def bench_state(n=500, runs=3):
    os.environ["COPILOT_BRIDGE_TEST_LOOP_PROBE"] = "1"
    try:
        out = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as d:
                r = burst(Path(d), n=n, humans=10)
                del r["logs"]
                out.append(r)
    finally:
        del os.environ["COPILOT_BRIDGE_TEST_LOOP_PROBE"]
    stalls = [s for r in out for s in r["stalls"]]
    idle = [s for r in out for s in r["idle_stalls"][1:]]   # after start-up
    return {
        "prompts": n, "runs": runs,
        "answered": min(r["answered"] for r in out),
        "burst_seconds": [r["seconds"] for r in out],
        "loop_stall_ms": {"max": max(s[0] for s in stalls),
                          "max_not_waiting_for_cpu": max(s[1] for s in stalls),
                          "ticks_over_5ms": sum(s[2] for s in stalls)},
        "idle_loop_stall_ms": {"max": max((s[0] for s in idle), default=None),
                               "max_not_waiting_for_cpu":
                               max((s[1] for s in idle), default=None)},
        "store": {"writes": [r["writes"] for r in out],
                  "transactions": [r["transactions"] for r in out]},
        "goal_max_not_waiting_for_cpu_ms": 5,
    }


if __name__ == "__main__":
    import json
    print(json.dumps(bench_state(), indent=2))
