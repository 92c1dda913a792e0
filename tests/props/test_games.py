"""props.games: dice and decks, drawn with `secrets` by default, injectable for tests."""

from __future__ import annotations

import collections
import inspect
import secrets
from typing import Any

import pytest

from props.games import DECKS, DICE_MAX, Card, draw_card, roll_dice


class Scripted:
    """A random source that returns the given values in turn and records each bound."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)
        self.bounds: list[int] = []

    def __call__(self, n: int) -> int:
        self.bounds.append(n)
        return self.values.pop(0)


def test_three_decks_of_at_least_30_distinct_cards() -> None:
    assert set(DECKS) == {"truth", "dare", "icebreaker"}
    seen: set[str] = set()
    for name, cards in DECKS.items():
        assert len(cards) >= 30, name
        normalised = {" ".join(card.lower().split()) for card in cards}
        assert len(normalised) == len(cards), f"{name} has duplicates"
        assert not normalised & seen, f"{name} repeats a card of another deck"
        seen |= normalised
        for card in cards:
            assert card == card.strip() and 10 <= len(card) <= 140, card
            assert card[0].isupper() and card[-1] in ".?!", card


def test_truth_and_icebreaker_cards_are_questions() -> None:
    for name in ("truth", "icebreaker"):
        assert all(card.endswith("?") for card in DECKS[name]), name


def test_dice_use_the_source_and_map_to_faces() -> None:
    source = Scripted(0, 5, 2, 3, 1)
    assert roll_dice(5, randbelow=source) == [1, 6, 3, 4, 2]
    assert source.bounds == [6] * 5
    assert roll_dice(randbelow=Scripted(4)) == [5]


@pytest.mark.parametrize("count", [0, -1, DICE_MAX + 1, 100, True, 2.5, "3", None])
def test_dice_count_out_of_range(count: Any) -> None:
    with pytest.raises(ValueError, match="count"):
        roll_dice(count)


def test_draw_card_uses_the_source() -> None:
    for name, cards in DECKS.items():
        source = Scripted(len(cards) - 1)
        assert draw_card(name, randbelow=source) == Card(name, cards[-1])
        assert source.bounds == [len(cards)]
    card = draw_card("dare", randbelow=Scripted(0))
    assert card.to_wire() == {"deck": "dare", "text": DECKS["dare"][0]}


@pytest.mark.parametrize("deck", ["Truth", "truths", "", "dares", None, 1, ["truth"]])
def test_unknown_deck(deck: Any) -> None:
    with pytest.raises(ValueError, match="deck"):
        draw_card(deck)


@pytest.mark.parametrize("bad", [-1, 6, 1000])
def test_a_source_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="random source"):
        roll_dice(1, randbelow=Scripted(bad))
    with pytest.raises(ValueError, match="random source"):
        draw_card("truth", randbelow=Scripted(bad + len(DECKS["truth"]) * (bad > 0)))


def test_default_source_is_secrets() -> None:
    for fn in (roll_dice, draw_card):
        assert inspect.signature(fn).parameters["randbelow"].default is secrets.randbelow


def test_default_source_is_roughly_uniform() -> None:
    # 6,000 dice: each face's count has a standard deviation of about 29; ±200 is 7 of them.
    counts = collections.Counter(v for _ in range(1200) for v in roll_dice(5))
    assert set(counts) == {1, 2, 3, 4, 5, 6}
    assert all(800 <= n <= 1200 for n in counts.values()), counts
    drawn = {draw_card("icebreaker").text for _ in range(2000)}
    assert len(drawn) == len(DECKS["icebreaker"])  # 2,000 draws reach every card
