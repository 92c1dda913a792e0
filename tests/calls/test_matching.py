"""Match pairing: the rules as examples, the invariants with hypothesis, the cost at 10,000."""

from __future__ import annotations

import random
import time
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calls.matching import REMATCH_WINDOW, Waiting, pair_key, pick_pairs

NOW = 10_000.0


def w(user: str, city: str | None = "Lhasa", tags: tuple[str, ...] = (), same: bool = False,
      at: float = 0.0) -> Waiting:
    return Waiting(user, city, tags, same, at)


def pick(*users: Waiting, recent: dict[frozenset[str], float] | None = None,
         blocks: tuple[tuple[str, str], ...] = ()) -> list[tuple[str, str]]:
    return pick_pairs(users, recent=recent or {}, blocks=blocks, now=NOW)


EXAMPLES = [
    # same city first, even over an older user elsewhere
    ((w("a", at=0), w("b", "Xi'an", at=1), w("c", at=2)), [("a", "c")]),
    # then more shared tags (case-insensitive)
    ((w("a", tags=("music", "cats"), at=0), w("b", tags=("music",), at=1),
      w("c", tags=("Cats", "MUSIC"), at=2)), [("a", "c")]),
    # then the longest wait
    ((w("a", at=5), w("b", at=3), w("c", at=4)), [("b", "c")]),
    # "same" is a filter, for either side
    ((w("a", same=True, at=0), w("b", "Xi'an", at=1)), []),
    ((w("a", at=0), w("b", "Xi'an", same=True, at=1)), []),
    # an unknown city is never the same as anyone's
    ((w("a", None, same=True), w("b", None, at=1)), []),
    ((w("a", None), w("b", None, at=1)), [("a", "b")]),
    # nobody twice; the longest waiting picks first
    ((w("a", at=0), w("b", at=1), w("c", at=2)), [("a", "b")]),
    ((w("a", at=0),), []),
]


@pytest.mark.parametrize(("users", "expected"), EXAMPLES)
def test_examples(users: tuple[Waiting, ...], expected: list[tuple[str, str]]) -> None:
    assert pick(*users) == expected


def test_blocks_either_way_and_recent_pairs_are_refused() -> None:
    users = (w("a", at=0), w("b", at=1), w("c", at=2))
    assert pick(*users, blocks=(("b", "a"),)) == [("a", "c")]
    assert pick(*users, recent={pair_key("a", "b"): NOW - 60}) == [("a", "c")]
    # older than the window: forgotten
    assert pick(*users, recent={pair_key("a", "b"): NOW - REMATCH_WINDOW}) == [("a", "b")]
    assert pick(w("a"), w("b", at=1), blocks=(("a", "b"),)) == []


def test_same_user_listed_twice_counts_once() -> None:
    assert pick(w("a", at=0), w("a", at=1)) == []


USERS = [f"u{i}" for i in range(12)]
WAITING = st.lists(
    st.builds(Waiting, st.sampled_from(USERS), st.sampled_from(["x", "y", None]),
              st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=3).map(tuple),
              st.booleans(), st.floats(0, 100)),
    max_size=12, unique_by=lambda x: x.user)
PAIRS = st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(USERS)), max_size=15)


def allowed(a: Waiting, b: Waiting, refused: set[frozenset[str]]) -> bool:
    same = a.city is not None and a.city == b.city
    return (pair_key(a.user, b.user) not in refused and a.user != b.user
            and (same or not (a.wants_same_city or b.wants_same_city)))


def score(a: Waiting, b: Waiting, rank: int) -> tuple[bool, int, int]:
    """Same city, then shared tags, then the longest wait (lowest rank in waiting order)."""
    shared = len({t.casefold() for t in a.tags} & {t.casefold() for t in b.tags})
    return (a.city is not None and a.city == b.city, shared, -rank)


@given(WAITING, PAIRS, PAIRS)
@settings(max_examples=300)
def test_pairing_invariants(waiting: list[Waiting], blocks: list[tuple[str, str]],
                            recent_pairs: list[tuple[str, str]]) -> None:
    recent = {pair_key(x, y): NOW - 1 for x, y in recent_pairs if x != y}
    pairs = pick_pairs(waiting, recent=recent, blocks=blocks, now=NOW)
    refused = {pair_key(x, y) for x, y in blocks} | set(recent)
    by_user = {x.user: x for x in waiting}
    paired = [u for p in pairs for u in p]
    assert len(paired) == len(set(paired))  # no one twice
    for a, b in pairs:
        assert allowed(by_user[a], by_user[b], refused)  # no block, no recent, cities hold
    # Greedy by wait: each pair's first user took their best partner among those left.
    order = sorted(waiting, key=lambda x: (x.joined_at, x.user))
    left = {x.user for x in waiting}
    chosen = dict(pairs)
    for x in order:
        if x.user not in left:
            continue
        options = [y for y in order if y.user in left and allowed(x, y, refused)]
        if not options:
            assert x.user not in chosen
            left.discard(x.user)
            continue
        best = max(options, key=lambda y: score(x, y, order.index(y)))
        assert chosen.get(x.user) == best.user
        left -= {x.user, best.user}
    # Maximal: no two unpaired users could still have been paired.
    rest = [x for x in waiting if x.user not in set(paired)]
    assert not any(allowed(x, y, refused) for x, y in combinations(rest, 2))


def test_ten_thousand_waiting_in_well_under_a_second() -> None:
    rng = random.Random(7)
    cities = [f"city{i}" for i in range(40)] + [None]
    tags = [f"tag{i}" for i in range(50)]
    waiting = [Waiting(f"u{i}", rng.choice(cities), tuple(rng.sample(tags, rng.randint(0, 10))),
                       rng.random() < 0.3, rng.random() * 300) for i in range(10_000)]
    blocks = [(f"u{rng.randrange(10_000)}", f"u{rng.randrange(10_000)}") for _ in range(20_000)]
    recent = {pair_key(f"u{rng.randrange(10_000)}", f"u{rng.randrange(10_000)}"): NOW - 5
              for _ in range(20_000)}
    start = time.perf_counter()
    pairs = pick_pairs(waiting, recent=recent, blocks=blocks, now=NOW)
    elapsed = time.perf_counter() - start
    assert len(pairs) > 4_800
    assert elapsed < 1.0, elapsed
