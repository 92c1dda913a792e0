"""`python -m bench.calls_setup` runs end to end on a small scale and prints its figures
(one node; the two-node setup needs Redis, which tests/support/redis.py provides)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.redis import require_redis

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.calls_setup", *flags], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=240, env=dict(os.environ))


def test_both_setups_ring_every_call_and_print_the_figures() -> None:
    require_redis()  # the two-node setup starts a redis-server of its own
    result = run("--calls", "20", "--rate", "100")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "one node: 20 calls" in out and "two nodes on Redis: 20 calls" in out
    assert out.count("20 rang, errors none") == 2
    assert out.count("call -> call_incoming: p50") == 2


def test_bad_arguments_are_refused() -> None:
    result = run("--calls", "0")
    assert result.returncode == 2 and "--calls" in result.stderr
