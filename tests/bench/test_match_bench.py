"""bench/match.py: its two checks (paired twice, lost) on made-up outcomes, and a small run
against three real nodes on a real Redis whose figures hold those checks at 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.match import Matcher, lost, paired_twice
from tests.support.redis import require_redis

REPO_ROOT = Path(__file__).resolve().parents[2]


def matcher(user: str, *, city: str = "c", same: bool = False, joined: float = 0.0) -> Matcher:
    m = Matcher(user, 0, city, same, [])
    m.joined, m.join_ok = joined, True
    return m


def found(m: Matcher, call: str, peer: str) -> None:
    m.found.append((1.0, {"call": {"id": call}, "peer": {"user": peer}}))


def test_paired_twice_sees_a_second_match_a_crowded_call_and_a_one_sided_pair() -> None:
    a, b, c, d = (matcher(u) for u in "abcd")
    found(a, "k1", "b")
    found(b, "k1", "a")
    assert paired_twice([a, b, c, d]) == []
    found(a, "k2", "c")
    found(c, "k2", "a")
    assert paired_twice([a, b, c, d]) == ["a", "b"]  # a twice; b is named by nobody now
    e, f, g = matcher("e"), matcher("f"), matcher("g")
    for m in (e, f, g):
        found(m, "k3", "e" if m is not e else "f")
    assert set(paired_twice([e, f, g])) == {"e", "f", "g"}  # three in one call


def test_lost_counts_the_dropped_and_those_who_could_have_been_paired() -> None:
    a, b = matcher("a", joined=1.0), matcher("b", joined=2.0)
    x = matcher("x", city="north", same=True)
    y = matcher("y", city="south", same=True)
    assert lost([x, y], queued={"x", "y"}, now=10.0) == []  # each asks for their own city
    assert lost([a, b], queued={"a", "b"}, now=10.0) == ["a", "b"]  # could have met
    assert lost([a, x], queued={"x"}, now=10.0) == ["a"]  # a left the queue unmatched
    found(a, "k", "b")
    found(b, "k", "a")
    assert lost([a, b, x], queued={"x"}, now=10.0) == []


def test_a_small_run_pairs_everyone_once() -> None:
    require_redis()  # the bench starts its own redis-server; this says whether there is one
    done = subprocess.run(
        [sys.executable, "-m", "bench.match", "--users", "60", "--rate", "120", "--talk",
         "0.2", "--same", "0", "--json"],  # nobody limits themself to a city: all can meet
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout[done.stdout.index("{"):])
    assert figures["pairs"] == 30 and figures["unmatched_waiting"] == 0
    assert (figures["paired_twice"], figures["lost"], figures["client_errors"]) == (0, 0, {})
    assert 0 < figures["time_to_pair_ms"]["p50"] <= figures["time_to_pair_ms"]["max"]
