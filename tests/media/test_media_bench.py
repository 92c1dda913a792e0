"""The media benchmarks run end to end (tiny sizes) and report figures from real traffic."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


async def run(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


async def test_fanout_bench_measures_delivered_packets() -> None:
    text = await run("bench.fanout", "--listeners", "0,3", "--seconds", "1.5", "--warmup",
                     "0.5", "--modes", "direct")
    row = re.search(r"mode=direct listeners=3 .*us_per_listener_packet=(\S+) .*"
                    r"encodes_per_tick=(\S+) .*delivered=(\S+)", text)
    assert row, text
    float(row.group(1))  # a figure (with 3 listeners it is mostly noise, even below 0)
    assert float(row.group(2)) == 2  # the talking host's mix-minus + the shared full mix
    assert float(row.group(3)) > 0.5  # the listeners really received the room


async def test_latency_bench_reports_percentiles() -> None:
    text = await run("bench.latency", "--listeners", "2", "--seconds", "1.5", "--warmup", "1")
    m = re.search(r"p50 ([\d.]+) ms, p90 [\d.]+ ms, p99 ([\d.]+) ms", text)
    assert m, text
    assert 0 < float(m.group(1)) <= float(m.group(2))
