"""`python -m bench` knows every bench module and refuses unknown names."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from bench.__main__ import BENCHES

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_listed_bench_is_a_module_with_a_main() -> None:
    bench_files = {p.stem for p in (REPO_ROOT / "bench").glob("*.py")}
    for name in BENCHES:
        assert name in bench_files
        assert callable(importlib.import_module(f"bench.{name}").main)


def test_an_unknown_bench_is_refused_with_the_known_names() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "nope"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown bench: nope" in result.stderr and "signaling" in result.stderr


def bench_rows(name: str, *args: str) -> list[list[str]]:
    """A small run of `python -m bench.NAME`: the words of each line after its heading."""
    result = subprocess.run([sys.executable, "-m", f"bench.{name}", *args], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [line.split() for line in result.stdout.splitlines()[1:]]


def test_room_changes_prints_a_row_per_room_size() -> None:
    rows = bench_rows("room_changes", "--members", "8,50", "--repeat", "2")
    assert [row[0] for row in rows] == ["8", "50"]
    assert all(int(row[2]) < int(row[1]) for row in rows)  # the delta is the smaller


def test_follow_pages_prints_a_row_per_store_and_size() -> None:
    rows = bench_rows("follow_pages", "--sizes", "20,300", "--pages", "5")
    assert [(row[0], row[1]) for row in rows] == [
        ("memory", "20"), ("redis", "20"), ("memory", "300"), ("redis", "300")]
