"""`python -m bench.abuse` at toy scale: it starts its server, runs floods, and what it
reports shows the bounds of docs/security.md at work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_abuse_bench_small_run() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.abuse", "--only", "idle,bad_frames,candidates",
         "--seconds", "2", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=110, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["flood"]: row for row in json.loads(done.stdout)["floods"]}
    assert set(rows) == {"idle", "bad_frames", "candidates"}
    for row in rows.values():
        assert row["probe_replies"] > 0 and row["probe_errors"] == 0
        assert row["p99_ms"] >= row["p50_ms"] > 0
        assert row["media_ticks_per_s"] == 0  # nobody connected media
    # Garbage gets its sockets closed (1008), again and again.
    closed = rows["bad_frames"]["got"].get("closed by the server (1008)", 0)
    assert closed >= 6, rows["bad_frames"]
    # 500 candidates in the offer, checks to ten addresses at most.
    assert 0 < rows["candidates"]["got"]["to addresses"] <= 10, rows["candidates"]
