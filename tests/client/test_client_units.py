"""Pieces of the client that need no server: names, output lines, load statistics."""

from __future__ import annotations

import pytest

from client.cli import build_parser, format_event, format_state
from client.connection import user_from_name
from client.load import EXPECTED_ERRORS, Stats, check_loopback, percentile
from protocol.validate import is_user_id


@pytest.mark.parametrize(
    ("name", "user"),
    [("Ada", "ada"), ("Ada L.", "ada-l."), ("  Bob  Smith ", "bob-smith"), ("Élise", "lise"),
     ("🎤🎤", "user"), ("x" * 100, "x" * 64)],
)
def test_user_from_name_is_a_valid_user_id(name: str, user: str) -> None:
    assert user_from_name(name) == user
    assert is_user_id(user_from_name(name))


def test_format_event_lines() -> None:
    seat = {"index": 2, "user": "bob", "name": "Bob", "muted": True, "self_muted": False,
            "locked": False, "away": True}
    assert format_event({"type": "seat_changed", "room": "r1", "seat": seat}) == (
        "[r1] seat 2: Bob (bob) [muted, away]"
    )
    assert format_event({"type": "chat_message", "room": "r1", "user": "ann", "name": "ann",
                         "text": "hi"}) == "[r1] <ann> hi"
    assert format_event({"type": "mic_requested", "room": "r", "user": "u", "name": "U",
                         "position": 3}) == "[r] mic request from U (u) (position 3)"
    # Unknown events and malformed known ones still print, never raise.
    assert format_event({"type": "brand_new", "room": "r", "x": 1}) == '[r] brand_new {"x": 1}'
    assert "speaking" in format_event({"type": "speaking", "room": "r", "levels": {"a": "loud"}})


def test_format_state_shows_seats_and_queue() -> None:
    state = {"id": "r1", "title": "T", "host": {"user": "h", "name": "H"}, "mode": "chatroom",
             "seat_mode": "apply", "audience_count": 3,
             "seats": [{"index": 0, "user": None, "name": None}],
             "admins": ["a"], "queue": [{"user": "q", "name": "Q", "at": 1}]}
    lines = format_state(state)
    assert lines[0].startswith('room r1 "T" host H (h) mode chatroom')
    assert "  seat 0: (empty)" in lines
    assert "  admins: a" in lines and "  queue: Q (q)" in lines


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) == 0.0
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_stats_split_expected_and_unexpected_errors() -> None:
    stats = Stats()
    stats.on_reply("accept_mic", 0.001, "seats_full")
    stats.on_reply("chat", 0.002, None)
    stats.on_reply("join_room", 0.003, "internal")
    assert "seats_full" in EXPECTED_ERRORS
    assert stats.unexpected == {"internal": 1}
    report = stats.report(1.0, 2, 1)
    assert report["requests"] == 3
    assert report["errors_by_type"] == {"accept_mic:seats_full": 1, "join_room:internal": 1}
    stats.recording = False
    stats.on_reply("leave_room", 0.001, "no_such_room")
    assert "no_such_room" not in stats.errors


@pytest.mark.parametrize("url", ["ws://127.0.0.1:1/ws", "ws://localhost:1/ws", "ws://[::1]:1/ws",
                                 "ws://127.5.0.1:9/ws"])
def test_loopback_urls_pass(url: str) -> None:
    check_loopback(url)


@pytest.mark.parametrize("url", ["ws://10.0.0.1/ws", "ws://example.com/ws", "ws:///ws"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(SystemExit):
        check_loopback(url)


def test_parser_has_every_subcommand() -> None:
    parser = build_parser()
    for argv in (["rooms"], ["host", "--title", "T", "--auto-accept"],
                 ["join", "ROOM", "--request-mic"], ["load", "--clients", "3", "--rooms", "1"]):
        args = parser.parse_args(["--name", "N", *argv])
        assert callable(args.run)


def test_connection_flags_work_on_either_side_of_the_subcommand() -> None:
    parser = build_parser()
    before = parser.parse_args(["--name", "Ann", "--url", "ws://127.0.0.1:1/ws", "rooms"])
    after = parser.parse_args(["rooms", "--name", "Ann", "--url", "ws://127.0.0.1:1/ws"])
    for args in (before, after):
        assert (args.name, args.url, args.json) == ("Ann", "ws://127.0.0.1:1/ws", False)
    assert parser.parse_args(["--json", "rooms"]).json is True
    assert parser.parse_args(["rooms", "--json"]).json is True
    assert parser.parse_args(["--name", "A", "rooms"]).name == "A"
