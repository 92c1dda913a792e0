"""`python -m bench.signaling` at toy scale: it runs, and its figures hang together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_signaling_bench_small_run() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.signaling", "--clients", "30", "--rooms", "3",
         "--duration", "2", "--ops", "4", "--no-pin", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=110, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["clients"] == 30 and report["rooms"] == 3
    # Every driven request is a chat or a seat change, each broadcast to its room's members.
    assert report["requests"] > 0
    assert set(report["latency_ms_by_type"]) <= {"chat", "take_seat", "leave_seat"}
    assert report["events_by_type"].get("chat_message", 0) > 0
    assert report["events_delivered"] >= report["latency_ms_by_type"]["chat"]["count"]
    assert report["server_cpu_s"] >= 0
    assert report["server_us_per_event"] is not None and report["server_us_per_event"] >= 0
    assert report["p99_ms"] >= report["p50_ms"] > 0
    assert report["probe_ms"]["count"] > 0
    assert isinstance(report["kib_per_idle_connection"], float | int)
    assert set(report["errors"]) <= {"seat_taken", "not_seated", "already_seated"}
