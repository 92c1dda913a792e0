"""Profiles and follow-list paging."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ErrorCode
from protocol.schema import SetProfile
from protocol.validate import USER_ID_RE
from social.errors import SocialError
from social.paging import decode_cursor, encode_cursor, next_cursor, page, page_start
from social.profile import Profile, edited, signed_in


def test_wire_round_trip_and_online_only_when_given() -> None:
    p = Profile("ann", "Ann", "Chengdu", ("music",), True, "hi")
    wire = p.wire()
    assert wire == {"user": "ann", "name": "Ann", "city": "Chengdu", "tags": ["music"],
                    "verified": True, "bio": "hi"}
    assert Profile.from_wire(wire) == p
    assert p.wire(online=False)["online"] is False
    assert p.card() == {"user": "ann", "name": "Ann", "city": "Chengdu", "tags": ["music"]}


def test_signed_in_keeps_edits_and_takes_the_session() -> None:
    first = signed_in(None, user="ann", name="Ann", verified=False, city=None)
    assert first == Profile("ann", "Ann")
    mine = edited(first, SetProfile(city="Xi'an", tags=("cats",)), session_city=None)
    again = signed_in(mine, user="ann", name="Annie", verified=True, city=None)
    assert again == Profile("ann", "Annie", "Xi'an", ("cats",), True)
    assert signed_in(mine, user="ann", name="A", verified=False, city="Chengdu").city == "Chengdu"


EDIT_CASES = [
    (SetProfile(), None, Profile("u", "U", "Lhasa", ("a",), False, "bio")),
    (SetProfile(city=""), None, Profile("u", "U", None, ("a",), False, "bio")),
    (SetProfile(city="Harbin"), None, Profile("u", "U", "Harbin", ("a",), False, "bio")),
    (SetProfile(city="Harbin"), "Lhasa", Profile("u", "U", "Lhasa", ("a",), False, "bio")),
    (SetProfile(city=""), "Lhasa", Profile("u", "U", "Lhasa", ("a",), False, "bio")),
    (SetProfile(tags=()), None, Profile("u", "U", "Lhasa", (), False, "bio")),
    (SetProfile(tags=("x", "y"), bio=""), None, Profile("u", "U", "Lhasa", ("x", "y"))),
]


@pytest.mark.parametrize(("command", "session_city", "expected"), EDIT_CASES)
def test_edited(command: SetProfile, session_city: str | None, expected: Profile) -> None:
    start = Profile("u", "U", "Lhasa", ("a",), False, "bio")
    assert edited(start, command, session_city=session_city) == expected


@given(st.from_regex(USER_ID_RE, fullmatch=True))
def test_cursor_round_trip(user: str) -> None:
    assert decode_cursor(encode_cursor(user)) == user


@pytest.mark.parametrize("forged", ["", "!!!", "dTo", "eDpib2I", encode_cursor("a") + "x@"])
def test_forged_cursor_is_bad_request(forged: str) -> None:
    with pytest.raises(SocialError) as info:
        decode_cursor(forged)
    assert info.value.code is ErrorCode.BAD_REQUEST and info.value.field == "cursor"


def test_page_walk() -> None:
    users = [f"u{i:02d}" for i in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        chunk, cursor = page(users, 3, cursor, key=str)
        seen += chunk
        if cursor is None:
            break
    assert seen == users
    assert page(users, 7, None, key=str) == (users, None)
    assert page([], 5, None, key=str) == ([], None)
    with pytest.raises(SocialError):
        page(users, 0, None, key=str)


@given(st.sets(st.from_regex(r"[a-z]{1,4}", fullmatch=True), max_size=30),
       st.sets(st.from_regex(r"[a-z]{1,4}", fullmatch=True), max_size=10),
       st.integers(1, 5))
def test_paging_is_stable_while_the_list_changes(before: set[str], added: set[str],
                                                 limit: int) -> None:
    # The list changes after the first page: no one shown twice, no one who stayed skipped.
    items = sorted(before)
    first, cursor = page(items, limit, None, key=str)
    removed = set(items[: len(items) // 3])
    items = sorted((before - removed) | added)
    rest: list[str] = []
    while cursor is not None:
        chunk, cursor = page(items, limit, cursor, key=str)
        rest += chunk
    shown = first + rest
    assert len(shown) == len(set(shown))
    assert (before - removed) <= set(shown) | set(first)


def test_page_start_checks_the_request_and_next_cursor_follows_the_last_id() -> None:
    assert page_start(1, None) is None
    assert page_start(5, encode_cursor("bob")) == "bob"
    for limit, cursor in ((0, None), (3, "forged")):
        with pytest.raises(SocialError) as caught:
            page_start(limit, cursor)
        assert caught.value.code == ErrorCode.BAD_REQUEST
    assert next_cursor(["amy", "bob"], True) == encode_cursor("bob")
    assert next_cursor(["amy", "bob"], False) is None
    assert next_cursor([], True) is None
