"""The CLI's room picture and what it makes of events (client/cli/roomview.py, narrate.py)."""

from __future__ import annotations

import pytest

from client.cli.narrate import narrate
from client.cli.roomview import RoomView, UnknownUser

STATE = {
    "id": "r1", "title": "t", "host": {"user": "ada", "name": "Ada"}, "mode": "chatroom",
    "seats": [{"index": 0, "user": None, "name": None}, {"index": 1, "user": "al", "name": "Al"}],
    "queue": [{"user": "bob", "name": "Bob"}, {"user": "bobby", "name": "Bob"},
              {"user": "sam1", "name": "Sam"}, {"user": "sam2", "name": "Sam"}],
}


def view() -> RoomView:
    v = RoomView("ada")
    v.load(STATE)
    v.load_members([{"user": "zoe.k", "name": "Zoë K"}])
    return v


def test_users_are_found_by_id_then_by_name_in_any_case() -> None:
    v = view()
    assert v.resolve("bob") == "bob"
    assert v.resolve("BOBBY") == "bobby"
    assert v.resolve("zoë k") == "zoe.k"
    assert v.resolve("AL") == "al"
    assert v.resolve("Bob") == "bob"  # an id in any case before a name
    with pytest.raises(UnknownUser, match=r"'SAM' could be Sam \(sam1\), Sam \(sam2\)"):
        v.resolve("SAM")
    with pytest.raises(UnknownUser, match=r"nobody called 'zoey'.*close: Zoë K \(zoe\.k\)"):
        v.resolve("zoey")
    with pytest.raises(UnknownUser, match="`members` lists who is here"):
        v.resolve("quentin")


def test_a_request_that_ends_in_a_seat_is_not_a_cancellation() -> None:
    v = view()
    seat = {"index": 0, "user": "bob", "name": "Bob"}
    text = narrate(v, {"type": "seat_changed", "room": "r1", "seat": seat})
    assert text == "[r1] seat 0: Bob (bob)"
    text = narrate(v, {"type": "mic_request_cancelled", "room": "r1", "user": "bob"})
    assert text == "[r1] mic queue: Bob (bob) is on seat 0 now"
    v.handled["bobby"] = "rejected"
    text = narrate(v, {"type": "mic_request_cancelled", "room": "r1", "user": "bobby"})
    assert text == "[r1] mic queue: Bob (bobby)'s request was rejected"
    assert v.queue == ["sam1", "sam2"]


def test_speaking_is_told_on_changes_of_who_speaks() -> None:
    v = view()
    said = [narrate(v, {"type": "speaking", "room": "r1", "levels": levels}) for levels in (
        {"al": 0.5}, {"al": 0.6}, {"ada": 0.4}, {"al": 0.7}, {"al": 0.0}, {"ada": 0.0})]
    assert said == ["[r1] speaking: Al (al)", None, "[r1] speaking: Ada (ada), Al (al)", None,
                    "[r1] speaking: Ada (ada)", "[r1] speaking: nobody"]
    raw = narrate(v, {"type": "speaking", "room": "r1", "levels": {"al": 0.25}}, levels=True)
    assert raw == "[r1] speaking: al 0.25"


def test_an_invitation_says_how_to_answer() -> None:
    v = view()
    text = narrate(v, {"type": "seat_invited", "room": "r1", "seat": None, "by": "ada"})
    assert text == ("[r1] Ada (ada) invites you to a free seat:"
                    " type `yes` to take it or `no` to decline")
    text = narrate(v, {"type": "seat_invited", "room": "r1", "seat": 3, "by": "ada"})
    assert text is not None and "to seat 3:" in text
