"""Random matching (連線): which waiting users to pair, as a pure function.

PROTOCOL.md: two waiting users can be paired when neither blocks the other, they were not
paired with each other in the last 10 minutes, and each one's `city: "same"` (if asked)
holds. Among those, prefer the same city, then more shared tags, then whoever has waited
longest.

`pick_pairs` is greedy in order of waiting: the user who has waited longest is paired first,
with their best partner by (same city, shared tags, longest wait); then the next unpaired
user, and so on. Deterministic: ties fall to the earlier `joined_at`, then the smaller user
id. Nobody is in two pairs.

Cost: users are numbered in waiting order and every set of users is a Python int used as a
bitset (bit i = the i-th longest waiting): one per city, one per tag, one for the users open
to any city. A user's best partner is found with O(t²) bitset operations (t ≤ 10 tags: a
bit-sliced count of shared tags), each O(n/64) machine words, plus one more step per
candidate refused for a block or a recent pair. For n waiting users the whole pass is
O(n · (t² + r) · n/64) word operations, r the refusals per user: for 10,000 users, about
10⁴ · 100 · 160 ≈ 2·10⁸ word operations done inside CPython's big-integer code, well under
a second (tests/calls/test_matching.py times it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

REMATCH_WINDOW = 600.0
"""Seconds during which the same two users are not paired again (10 minutes)."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """A user in the match queue. `city` None: unknown (a `same` filter never holds for it,
    and it is never "the same city" as anyone's)."""

    user: str
    city: str | None
    tags: tuple[str, ...]
    wants_same_city: bool
    joined_at: float


def pair_key(x: str, y: str) -> frozenset[str]:
    """How a pair is named in `recent`."""
    return frozenset((x, y))


def pick_pairs(
    waiting: Iterable[Waiting],
    *,
    recent: Mapping[frozenset[str], float],
    blocks: Iterable[tuple[str, str]],
    now: float,
    window: float = REMATCH_WINDOW,
) -> list[tuple[str, str]]:
    """Pairs to make now, each `(longer waiting, partner)`, in the order they were chosen.

    `recent` maps a pair (`pair_key`) to when it was last paired (older entries are ignored,
    so the caller may pass more); `blocks` holds `(blocker, blocked)`, either direction
    refuses a pair. A user listed twice counts once (the first entry in waiting order).
    """
    users = _dedupe(sorted(waiting, key=lambda w: (w.joined_at, w.user)))
    n = len(users)
    if n < 2:
        return []
    refused = {pair_key(x, y) for x, y in blocks if x != y}
    refused |= {pair for pair, at in recent.items() if now - at < window and len(pair) == 2}
    # Case-insensitive tags: "Music" and "music" are one interest.
    tags = [tuple(dict.fromkeys(t.casefold() for t in w.tags)) for w in users]

    city_bits: dict[str, int] = {}
    tag_bits: dict[str, int] = {}
    any_bits = 0  # open to any city
    for i, w in enumerate(users):
        bit = 1 << i
        if w.city is not None:
            city_bits[w.city] = city_bits.get(w.city, 0) | bit
        for t in tags[i]:
            tag_bits[t] = tag_bits.get(t, 0) | bit
        if not w.wants_same_city:
            any_bits |= bit

    unpaired = (1 << n) - 1
    pairs: list[tuple[str, str]] = []
    for i, w in enumerate(users):
        bit = 1 << i
        if not unpaired & bit:
            continue
        others = unpaired & ~bit
        same = city_bits.get(w.city, 0) & others if w.city is not None else 0
        elsewhere = 0
        if not w.wants_same_city:
            elsewhere = any_bits & others & ~same
        j = -1
        for pool in (same, elsewhere):
            if pool:
                j = _best(w.user, pool, [tag_bits[t] for t in tags[i]], users, refused)
                if j >= 0:
                    break
        if j < 0:
            continue
        unpaired &= ~(bit | (1 << j))
        pairs.append((w.user, users[j].user))
    return pairs


def _dedupe(users: Sequence[Waiting]) -> list[Waiting]:
    seen: set[str] = set()
    out = []
    for w in users:
        if w.user not in seen:
            seen.add(w.user)
            out.append(w)
    return out


def _best(user: str, pool: int, masks: list[int], users: Sequence[Waiting],
          refused: set[frozenset[str]]) -> int:
    """The index of the best partner in `pool` (most shared tags, then lowest index = the
    longest wait) that is not refused, or -1."""
    # at_least[k]: the pool's users sharing at least k+1 of the user's tags (bit-sliced).
    at_least: list[int] = []
    for mask in masks:
        m = mask & pool
        if not m:
            continue
        at_least.append(0)
        for k in range(len(at_least) - 1, 0, -1):
            at_least[k] |= at_least[k - 1] & m
        at_least[0] |= m
    levels = [*reversed(at_least), pool]
    tried = 0
    for level in levels:
        candidates = level & ~tried
        while candidates:
            low = candidates & -candidates
            j = low.bit_length() - 1
            if pair_key(user, users[j].user) not in refused:
                return j
            tried |= low
            candidates &= ~low
    return -1
